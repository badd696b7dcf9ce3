//! Running a scenario: a private home, the plugin installed into it as an
//! operator would (migrations included), a real runner on a memory bus, and
//! each step followed by its checks.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::check::{all_accept, json_subset, list, quoted};
use super::{Action, Expect, Given, Report, Scenario, ScenarioFile, Step, payload};
use crate::bus::{Bus, MemoryBus, Published};
use crate::capabilities::Grants;
use crate::capabilities::database::PluginDb;
use crate::capabilities::http::HttpPolicy;
use crate::home::RoseyHome;
use crate::package::{Package, subject_matches};
use crate::protocol::{self, ChatMessage, CommandError, CommandResult, SendMessage};
use crate::runtime::Runtime;
use crate::runtime::bindings::{Command, Message, PluginPre};
use crate::runtime::state::{Deadline, PluginContext, PluginState};
use crate::simulation::{CannedResponse, Simulation};
use crate::supervisor::policy::SupervisionPolicy;
use crate::supervisor::router::CommandTable;
use crate::supervisor::runner::{Event, Reconfigure, ReplyTo, Runner};
use crate::supervisor::status::LiveState;

/// The clock a scenario starts at unless it says otherwise.
pub const DEFAULT_CLOCK: &str = "2026-01-01T00:00:00Z";
/// The command prefix chat commands use in scenarios (the host's default).
pub const COMMAND_PREFIX: &str = "!";
/// Longest a step may take, beyond the plugin's own call deadline (a
/// `configure` or a chat message may make two calls).
const STEP_GRACE: Duration = Duration::from_secs(10);

/// One plugin's package, compiled once, and the scenarios to run against it.
pub struct Suite {
    runtime: Runtime,
    package: Arc<Package>,
    pre: PluginPre<PluginState>,
    grants: Grants,
}

impl Suite {
    /// Compile `package` (once for every scenario) and check it links with
    /// its grants, as an install would.
    pub fn new(runtime: Runtime, package: Package) -> Result<Self> {
        let component = crate::install::check(&runtime, &package)?;
        let grants = Grants::from_manifest(&package.manifest);
        let pre = runtime.prepare(&component, &grants)?;
        Ok(Self {
            runtime,
            package: Arc::new(package),
            pre,
            grants,
        })
    }

    /// Run one scenario file.
    pub async fn run(&self, file: &ScenarioFile) -> Report {
        let started = Instant::now();
        let (description, failures) = match &file.scenario {
            Err(e) => (
                None,
                vec![format!(
                    "{} is not a valid scenario: {e}",
                    file.path.display()
                )],
            ),
            Ok(scenario) => {
                let failures = match self.run_scenario(scenario).await {
                    Ok(failures) => failures,
                    Err(e) => vec![format!("{e:#}")],
                };
                (scenario.description.clone(), failures)
            }
        };
        Report {
            name: file.name.clone(),
            file: file.path.clone(),
            description,
            passed: failures.is_empty(),
            failures,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Run `scenario`; returns what did not hold, one line each.
    async fn run_scenario(&self, scenario: &Scenario) -> Result<Vec<String>> {
        let work = tempfile::tempdir().context("could not make a scratch directory")?;
        let home = RoseyHome::new(work.path().join("home"));
        {
            let runtime = self.runtime.clone();
            let package = Arc::clone(&self.package);
            let home = home.clone();
            tokio::task::spawn_blocking(move || {
                crate::install::install(&home, &runtime, &package, None).map(|_| ())
            })
            .await
            .context("the install task failed")?
            .context("installing the plugin for this scenario failed")?;
        }
        let mut world = World::start(self, &home, &scenario.given).await?;
        let mut failures = Vec::new();
        if let Some(why) = world.take_failures().into_iter().next() {
            failures.push(format!("the plugin did not start: {why}"));
            world.stop().await;
            return Ok(failures);
        }
        // What `init` logged and published is part of the first step.
        let mut whole = Observed::default();
        for (i, step) in scenario.when.iter().enumerate() {
            let label = format!("step {} ({})", i + 1, step.label());
            let observed = match world.step(step).await {
                Ok(observed) => observed,
                Err(e) => {
                    failures.push(format!("{label}: {e:#}"));
                    break;
                }
            };
            let expect = step.then.clone().unwrap_or_default();
            let mut problems = world.check(&expect, &observed);
            if expect.error.is_none() && !observed.errors.is_empty() {
                problems.push(format!(
                    "the plugin failed: {} (if that is expected, say so with `then: error:`)",
                    observed.errors.join("; ")
                ));
            }
            failures.extend(problems.into_iter().map(|p| format!("{label}: {p}")));
            whole.extend(observed);
        }
        if let Some(expect) = &scenario.then {
            let problems = world.check(expect, &whole);
            failures.extend(problems.into_iter().map(|p| format!("at the end: {p}")));
        }
        world.stop().await;
        Ok(failures)
    }
}

/// What a step (or the whole scenario) made the plugin do.
#[derive(Debug, Default)]
struct Observed {
    published: Vec<Published>,
    logs: Vec<String>,
    errors: Vec<String>,
}

impl Observed {
    fn extend(&mut self, other: Observed) {
        self.published.extend(other.published);
        self.logs.extend(other.logs);
        self.errors.extend(other.errors);
    }

    /// The text of every chat message sent.
    fn replies(&self) -> Vec<String> {
        self.published
            .iter()
            .filter(|p| p.subject == protocol::SEND_MESSAGE)
            .filter_map(|p| serde_json::from_slice::<SendMessage>(&p.payload).ok())
            .map(|m| m.text)
            .collect()
    }
}

/// A running plugin in its simulated world.
struct World {
    ctx: Arc<PluginContext>,
    bus: Arc<MemoryBus>,
    simulation: Arc<Simulation>,
    mailbox: mpsc::Sender<Event>,
    runner: tokio::task::JoinHandle<()>,
    failures: Arc<Mutex<Vec<String>>>,
    commands: CommandTable,
    package: Arc<Package>,
    messages: u64,
}

impl World {
    async fn start(suite: &Suite, home: &RoseyHome, given: &Given) -> Result<Self> {
        let manifest = &suite.package.manifest;
        let paths = home.plugin(&manifest.name);
        let config = crate::plugin_config::effective(manifest, &given.config);
        crate::plugin_config::check(manifest, &config)
            .context("given.config does not fit the manifest's config_schema")?;
        std::fs::write(&paths.config, crate::plugin_config::to_yaml(&given.config)?)?;
        for (path, contents) in &given.files {
            let target =
                inside(&paths.files, path).with_context(|| format!("given.files {path:?}"))?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&target, contents)?;
        }
        let start = parse_clock(given.clock.as_deref().unwrap_or(DEFAULT_CLOCK))
            .map_err(anyhow::Error::msg)?;
        prepare_database(&paths.database, given, manifest.limits().storage)?;

        let http = given
            .http
            .iter()
            .map(|answer| {
                let mut headers: Vec<(String, String)> = answer
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if answer.json.is_some()
                    && !headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                Ok(CannedResponse {
                    method: answer.method.clone(),
                    url: answer.url.clone(),
                    status: answer.status,
                    headers,
                    body: payload(answer.body.as_deref(), answer.json.as_ref())
                        .map_err(anyhow::Error::msg)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let simulation = Arc::new(Simulation::new(start, given.seed, http));
        let responders = given
            .replies
            .iter()
            .map(|answer| {
                Ok((
                    answer.subject.clone(),
                    payload(answer.body.as_deref(), answer.json.as_ref())
                        .map_err(anyhow::Error::msg)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let bus = Arc::new(MemoryBus::new(responders));
        let ctx = Arc::new(
            PluginContext::new(
                manifest.name.clone(),
                suite.grants.clone(),
                manifest.limits(),
                paths,
                Some(Bus::Memory(Arc::clone(&bus))),
                config,
                HttpPolicy::new(&manifest.network.allowed_hosts, false),
            )
            .with_simulation(Arc::clone(&simulation)),
        );
        ctx.log.capture();
        let failures = Arc::new(Mutex::new(Vec::new()));
        // No pause between a crash and the next instance: a scenario that
        // crashes the plugin on purpose should not wait.
        let policy = SupervisionPolicy {
            backoff_initial: Duration::ZERO,
            backoff_max: Duration::ZERO,
            ..SupervisionPolicy::default()
        };
        let runner = Runner::new(
            suite.runtime.clone(),
            suite.pre.clone(),
            Arc::clone(&ctx),
            Arc::new(LiveState::new()),
            Some(Bus::Memory(Arc::clone(&bus))),
            policy,
            None,
        )
        .report_failures_to(Arc::clone(&failures));
        let (mailbox, rx) = mpsc::channel(crate::supervisor::runner::MAILBOX_CAPACITY);
        let runner = tokio::spawn(runner.run(rx));
        let mut commands = CommandTable::default();
        commands.add(manifest);
        let world = Self {
            ctx,
            bus,
            simulation,
            mailbox,
            runner,
            failures,
            commands,
            package: Arc::clone(&suite.package),
            messages: 0,
        };
        world.settle(manifest.limits().timeout).await?;
        Ok(world)
    }

    fn take_failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    /// Wait until every event sent so far has been handled.
    async fn settle(&self, call_timeout: Duration) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Event::Barrier(tx)).await?;
        match tokio::time::timeout(call_timeout * 2 + STEP_GRACE, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("the plugin's runner stopped"),
            Err(_) => bail!(
                "the plugin did not finish within {:?}",
                call_timeout * 2 + STEP_GRACE
            ),
        }
    }

    async fn send(&self, event: Event) -> Result<()> {
        self.mailbox
            .send(event)
            .await
            .map_err(|_| anyhow::anyhow!("the plugin's runner stopped"))
    }

    /// Do one step and collect what the plugin did.
    async fn step(&mut self, step: &Step) -> Result<Observed> {
        let manifest = &self.package.manifest;
        let timeout = manifest.limits().timeout;
        let action = step.action().map_err(anyhow::Error::msg)?;
        let mut refused = None;
        match action {
            Action::Chat {
                text,
                user,
                channel,
            } => {
                self.messages += 1;
                let id = format!("msg-{}", self.messages);
                let chat = ChatMessage {
                    id: Some(id.clone()),
                    channel: channel.clone(),
                    user: user.clone(),
                    text: text.clone(),
                    timestamp: Some(self.ctx.now_ms()),
                };
                let hears = self.subscribed(protocol::CHAT_MESSAGE);
                if hears {
                    self.send(Event::Message(Message {
                        subject: protocol::CHAT_MESSAGE.into(),
                        payload: serde_json::to_vec(&chat)?,
                        headers: Vec::new(),
                        reply_to: None,
                    }))
                    .await?;
                }
                let command = protocol::parse_command(&text, COMMAND_PREFIX)
                    .filter(|parsed| self.commands.declares(&manifest.name, &parsed.name));
                match command {
                    Some(parsed) => {
                        let command = Command {
                            name: parsed.name,
                            args: parsed.args,
                            arg_text: parsed.arg_text,
                            user,
                            channel: channel.clone(),
                        };
                        let reply = ReplyTo::Chat {
                            channel,
                            reply_to: Some(id),
                        };
                        self.send(Event::Command(command, reply)).await?;
                    }
                    None if !hears => bail!(
                        "nothing in this plugin hears it: it is not a command the manifest \
                         declares, and the plugin does not subscribe to {}",
                        protocol::CHAT_MESSAGE
                    ),
                    None => {}
                }
            }
            Action::Command {
                name,
                args,
                user,
                channel,
            } => {
                if !self.commands.declares(&manifest.name, &name) {
                    bail!("the manifest declares no command {name:?}");
                }
                self.messages += 1;
                let command = Command {
                    name,
                    arg_text: args.join(" "),
                    args,
                    user,
                    channel,
                };
                let reply = ReplyTo::Execute {
                    correlation_id: format!("scenario-{}", self.messages),
                    reply: None,
                };
                self.send(Event::Command(command, reply)).await?;
            }
            Action::Message { subject, payload } => {
                if !self.subscribed(&subject) {
                    bail!(
                        "the plugin does not subscribe to {subject} (its manifest's \
                         subjects.subscribe: {:?})",
                        manifest.subjects.subscribe
                    );
                }
                self.send(Event::Message(Message {
                    subject,
                    payload,
                    headers: Vec::new(),
                    reply_to: None,
                }))
                .await?;
            }
            Action::Tick(name) => {
                if !manifest.schedules.iter().any(|s| s.name == name) {
                    let declared: Vec<&str> =
                        manifest.schedules.iter().map(|s| s.name.as_str()).collect();
                    bail!("the manifest declares no schedule {name:?} (it has {declared:?})");
                }
                self.send(Event::Schedule(name)).await?;
            }
            Action::Advance(by) => self.simulation.advance(by),
            Action::Configure(keys) => {
                let old = self.ctx.config();
                let mut config = (*old).clone();
                config.extend(keys);
                // Refused before it reaches the plugin, as `rosey plugin
                // config set` refuses it: the step's error.
                if let Err(e) = crate::plugin_config::check(manifest, &config) {
                    return Ok(Observed {
                        errors: vec![format!(
                            "the new configuration does not fit config_schema: {e:#}"
                        )],
                        ..Observed::default()
                    });
                }
                let changed = crate::plugin_config::changed_keys(&old, &config);
                let (tx, rx) = oneshot::channel();
                self.send(Event::Configure(
                    Box::new(Reconfigure {
                        config: Arc::new(config),
                        keys: changed,
                    }),
                    tx,
                ))
                .await?;
                refused = Some(rx);
            }
        }
        self.settle(timeout).await?;
        let mut errors = self.take_failures();
        if let Some(rx) = refused
            && let Ok(Err(why)) = rx.await
            && errors.is_empty()
        {
            errors.push(why);
        }
        Ok(Observed {
            published: self.bus.take(),
            logs: self.ctx.log.take_captured(),
            errors,
        })
    }

    fn subscribed(&self, subject: &str) -> bool {
        self.package
            .manifest
            .subjects
            .subscribe
            .iter()
            .any(|pattern| subject_matches(pattern, subject))
    }

    /// Everything in `expect` that `observed` and the plugin's storage do
    /// not bear out, one line each.
    fn check(&self, expect: &Expect, observed: &Observed) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(want) = &expect.replies {
            let have = observed.replies();
            if !all_accept(want, &have) {
                problems.push(format!(
                    "replies: expected {}, got {}",
                    list(want),
                    quoted(&have)
                ));
            }
        }
        if let Some(want) = &expect.result {
            let plugin = self.package.manifest.name.as_str();
            let results: Vec<String> = observed
                .published
                .iter()
                .filter_map(|p| {
                    if p.subject == protocol::command_result_subject(plugin) {
                        serde_json::from_slice::<CommandResult>(&p.payload)
                            .ok()
                            .map(|r| r.message.unwrap_or_default())
                    } else if p.subject == protocol::command_error_subject(plugin) {
                        serde_json::from_slice::<CommandError>(&p.payload)
                            .ok()
                            .map(|e| format!("error: {}", e.error))
                    } else {
                        None
                    }
                })
                .collect();
            match results.as_slice() {
                [one] if want.accepts(one) => {}
                _ => problems.push(format!("result: expected {want}, got {}", quoted(&results))),
            }
        }
        if let Some(want) = &expect.published {
            let mut rest = observed.published.iter();
            for expected in want {
                let found = rest.any(|p| {
                    p.subject == expected.subject
                        && expected
                            .body
                            .as_ref()
                            .is_none_or(|b| b.accepts(&String::from_utf8_lossy(&p.payload)))
                        && expected.json.as_ref().is_none_or(|j| {
                            serde_json::from_slice::<Value>(&p.payload)
                                .is_ok_and(|v| json_subset(j, &v))
                        })
                });
                if !found {
                    let seen: Vec<String> = observed
                        .published
                        .iter()
                        .map(|p| format!("{} {}", p.subject, String::from_utf8_lossy(&p.payload)))
                        .collect();
                    problems.push(format!(
                        "published: no message on {} like {} (in order); published: {}",
                        expected.subject,
                        expected
                            .json
                            .as_ref()
                            .map(Value::to_string)
                            .or_else(|| expected.body.as_ref().map(ToString::to_string))
                            .unwrap_or_else(|| "any".into()),
                        quoted(&seen)
                    ));
                    break;
                }
            }
        }
        if let Some(want) = &expect.error
            && !observed.errors.iter().any(|e| want.accepts(e))
        {
            problems.push(format!(
                "error: expected {want}, got {}",
                if observed.errors.is_empty() {
                    "none".to_owned()
                } else {
                    quoted(&observed.errors)
                }
            ));
        }
        for want in &expect.logs {
            if !observed.logs.iter().any(|line| want.accepts(line)) {
                problems.push(format!(
                    "logs: no line {want}; the log had {}",
                    quoted(&observed.logs)
                ));
            }
        }
        problems.extend(self.check_storage(expect));
        problems
    }

    fn check_storage(&self, expect: &Expect) -> Vec<String> {
        let mut problems = Vec::new();
        let paths = &self.ctx.paths;
        for (path, want) in &expect.files {
            let have = inside(&paths.files, path)
                .ok()
                .and_then(|p| std::fs::read(p).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            match (want, have) {
                (None, None) => {}
                (None, Some(_)) => problems.push(format!("files: {path} exists")),
                (Some(want), None) => {
                    problems.push(format!("files: {path} does not exist (expected {want})"));
                }
                (Some(want), Some(have)) if !want.accepts(&have) => problems.push(format!(
                    "files: {path}: expected {want}, got {:?}",
                    shorten(&have)
                )),
                _ => {}
            }
        }
        if expect.sql.is_empty() && expect.kv.is_empty() {
            return problems;
        }
        let conn = match open_read_only(&paths.database) {
            Ok(conn) => conn,
            Err(e) => {
                problems.push(format!("could not open the plugin's database: {e:#}"));
                return problems;
            }
        };
        for want in &expect.sql {
            match query_rows(&conn, &want.query) {
                Err(e) => problems.push(format!("sql {:?}: {e}", want.query)),
                Ok(have) => {
                    let same = want.rows.len() == have.len()
                        && want.rows.iter().zip(&have).all(|(w, h)| {
                            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| json_subset(a, b))
                        });
                    if !same {
                        problems.push(format!(
                            "sql {:?}: expected {}, got {}",
                            want.query,
                            Value::from(want.rows.clone()),
                            Value::from(have)
                        ));
                    }
                }
            }
        }
        let now = self.ctx.now_ms();
        for (key, want) in &expect.kv {
            let have: Option<String> = conn
                .query_row(
                    "SELECT value FROM _rosey_kv WHERE key = ?1 \
                     AND (expires_at IS NULL OR expires_at > ?2)",
                    rusqlite::params![key, now],
                    |row| row.get::<_, Vec<u8>>(0),
                )
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            match (want, have) {
                (None, None) => {}
                (None, Some(have)) => {
                    problems.push(format!("kv: {key:?} is set (to {:?})", shorten(&have)));
                }
                (Some(want), None) => {
                    problems.push(format!("kv: {key:?} is not set (expected {want})"));
                }
                (Some(want), Some(have)) if !want.accepts(&have) => problems.push(format!(
                    "kv: {key:?}: expected {want}, got {:?}",
                    shorten(&have)
                )),
                _ => {}
            }
        }
        problems
    }

    async fn stop(self) {
        let (tx, rx) = oneshot::channel();
        if self.mailbox.send(Event::Shutdown(tx)).await.is_ok() {
            let _ = tokio::time::timeout(STEP_GRACE, rx).await;
        }
        self.runner.abort();
        self.ctx.close_database();
    }
}

/// `rfc3339` as a time since the Unix epoch.
pub(super) fn parse_clock(text: &str) -> Result<Duration, String> {
    let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
        format!("clock {text:?} is not an RFC 3339 time like 2026-03-01T08:00:00Z: {e}")
    })?;
    let millis = u64::try_from(at.timestamp_millis())
        .map_err(|_| format!("clock {text:?} is before 1970"))?;
    Ok(Duration::from_millis(millis))
}

/// `relative` under `root`, refusing absolute paths and `..`.
fn inside(root: &Path, relative: &str) -> Result<std::path::PathBuf> {
    let path = Path::new(relative);
    let plain = path
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if relative.is_empty() || !plain {
        bail!("a path in /data must be relative, without `..`");
    }
    Ok(root.join(path))
}

/// Run `given.sql` and write `given.kv` into the (migrated) database,
/// opened as the host opens it.
fn prepare_database(path: &Path, given: &Given, quota: u64) -> Result<()> {
    if given.sql.is_none() && given.kv.is_empty() {
        return Ok(());
    }
    let mut db = PluginDb::open(path, quota, Arc::new(Deadline::new()))?;
    db.as_host(|conn| -> Result<()> {
        if let Some(sql) = &given.sql {
            conn.execute_batch(sql).context("given.sql failed")?;
        }
        for (key, value) in &given.kv {
            conn.execute(
                "INSERT OR REPLACE INTO _rosey_kv (key, value, expires_at) VALUES (?1, ?2, NULL)",
                rusqlite::params![key, value.as_bytes()],
            )
            .with_context(|| format!("given.kv {key:?}"))?;
        }
        Ok(())
    })
}

fn open_read_only(path: &Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn query_rows(conn: &rusqlite::Connection, sql: &str) -> Result<Vec<Vec<Value>>, String> {
    let mut statement = conn.prepare(sql).map_err(|e| e.to_string())?;
    let columns = statement.column_count();
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            use rusqlite::types::ValueRef;
            let value = match row.get_ref(i).map_err(|e| e.to_string())? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::from(n),
                ValueRef::Real(x) => Value::from(x),
                ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::from(hex::encode(b)),
            };
            values.push(value);
        }
        out.push(values);
        if out.len() > 1000 {
            return Err("it returned more than 1000 rows; narrow it".into());
        }
    }
    Ok(out)
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}
