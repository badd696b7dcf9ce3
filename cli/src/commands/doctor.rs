//! `rosey doctor`: is this machine and this home ready to run Rosey (and to
//! build plugins)? Each problem comes with the command that fixes it.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};
use rosey_host::control::Request;
use rosey_host::control::client::ControlClient;
use rosey_host::host_config::Source;
use rosey_host::nats::NATS_SERVER_ENV;
use rosey_host::registry::Registry;
use rosey_host::supervisor::status::Lifecycle;
use serde::Serialize;

use super::Context;
use crate::output::{OutputFormat, Table, human_bytes, print_json};
use crate::{nats_service, process};

/// Free space below which doctor warns, and below which it fails.
const LOW_DISK: u64 = 1 << 30;
const NO_DISK: u64 = 100 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    verdict: Verdict,
    detail: String,
    /// The command (or step) that fixes it, when it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn ok(&mut self, check: &'static str, detail: impl Into<String>) {
        self.add(check, Verdict::Ok, detail, None::<String>);
    }

    fn add(
        &mut self,
        check: &'static str,
        verdict: Verdict,
        detail: impl Into<String>,
        fix: Option<impl Into<String>>,
    ) {
        self.0.push(Check {
            check,
            verdict,
            detail: detail.into(),
            fix: fix.map(Into::into),
        });
    }
}

pub fn run(ctx: &Context) -> Result<()> {
    let mut checks = Checks::default();
    home(ctx, &mut checks);
    config(ctx, &mut checks);
    nats(ctx, &mut checks);
    host(ctx, &mut checks);
    plugins(ctx, &mut checks);
    trust(ctx, &mut checks);
    toolchain(&mut checks);

    let errors = checks
        .0
        .iter()
        .filter(|c| c.verdict == Verdict::Error)
        .count();
    let warnings = checks
        .0
        .iter()
        .filter(|c| c.verdict == Verdict::Warning)
        .count();
    match ctx.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "checks": checks.0,
            "errors": errors,
            "warnings": warnings,
        }))?,
        OutputFormat::Text => {
            let mut table = Table::new(vec!["", "CHECK", "DETAIL", "FIX"]);
            for c in &checks.0 {
                let mark = match c.verdict {
                    Verdict::Ok => "ok",
                    Verdict::Warning => "warn",
                    Verdict::Error => "ERROR",
                };
                table.row(vec![
                    mark.into(),
                    c.check.into(),
                    c.detail.clone(),
                    c.fix.clone().unwrap_or_default(),
                ]);
            }
            table.print();
            println!("{errors} error(s), {warnings} warning(s)");
        }
    }
    if errors > 0 {
        bail!("rosey doctor found {errors} problem(s) that stop Rosey from working; see FIX");
    }
    Ok(())
}

fn home(ctx: &Context, checks: &mut Checks) {
    let root = ctx.home.root();
    let Ok(meta) = std::fs::metadata(root) else {
        checks.add(
            "home",
            Verdict::Warning,
            format!("{} does not exist yet", root.display()),
            Some("it is created by the first `rosey plugin install` or `rosey start`"),
        );
        return;
    };
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = meta.permissions().mode() & 0o777;
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        checks.add(
            "home",
            Verdict::Error,
            format!(
                "{} belongs to uid {}, not to you (uid {me})",
                root.display(),
                meta.uid()
            ),
            Some(format!(
                "run Rosey as its owner, or `chown -R {me} {}`",
                root.display()
            )),
        );
    } else if mode & 0o077 != 0 {
        checks.add(
            "home",
            Verdict::Warning,
            format!(
                "{} is mode {mode:o}: other users can read plugin data",
                root.display()
            ),
            Some(format!("chmod 700 {}", root.display())),
        );
    } else {
        checks.ok("home", format!("{} (mode {mode:o}, yours)", root.display()));
    }
    match rosey_host::home::free_space(root) {
        Some(free) if free < NO_DISK => checks.add(
            "disk",
            Verdict::Error,
            format!("{} free", human_bytes(free)),
            Some("free space on that filesystem (`rosey clean` removes logs and caches)"),
        ),
        Some(free) if free < LOW_DISK => checks.add(
            "disk",
            Verdict::Warning,
            format!("{} free", human_bytes(free)),
            Some("free space on that filesystem (`rosey clean` removes logs and caches)"),
        ),
        Some(free) => checks.ok("disk", format!("{} free", human_bytes(free))),
        None => {}
    }
    let restore = rosey_host::backup::staging_dir(&ctx.home);
    if restore.join("JOURNAL").exists() {
        checks.add(
            "restore",
            Verdict::Error,
            "a restore was interrupted half-way; plugins may be a mix of old and restored",
            Some("`rosey db restore --recover` finishes it (so does `rosey start`)"),
        );
    } else if restore.exists() && rosey_host::backup::RestoreLock::try_acquire(&ctx.home).is_some()
    {
        checks.add(
            "restore",
            Verdict::Warning,
            format!(
                "{} is left from a restore interrupted while checking (nothing changed)",
                restore.display()
            ),
            Some("`rosey db restore --recover` removes it"),
        );
    }
}

/// rosey.yaml and the ROSEY_* variables: a host can start with them.
fn config(ctx: &Context, checks: &mut Checks) {
    match &ctx.settings {
        Ok(settings) if settings.file_exists => {
            let set = settings
                .entries()
                .iter()
                .filter(|e| e.source.kind() == "file")
                .count();
            checks.ok(
                "config",
                format!(
                    "{} is valid ({set} setting(s) from it; `rosey config show`)",
                    settings.file.display()
                ),
            );
        }
        Ok(_) => checks.ok(
            "config",
            "no rosey.yaml: defaults, environment and flags (`rosey config show`)",
        ),
        Err(e) => checks.add("config", Verdict::Error, e.to_string(), Some(e.fix())),
    }
}

fn nats(ctx: &Context, checks: &mut Checks) {
    if let Some(url) = &ctx.nats_url {
        let reachable = url
            .trim_start_matches("nats://")
            .split(',')
            .next()
            .and_then(|addr| addr.to_socket_addrs().ok())
            .and_then(|mut addrs| addrs.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
        if reachable {
            checks.ok("nats", format!("external server {url} accepts connections"));
        } else {
            let instead = match ctx.settings.as_ref().map(|s| &s.nats_url.source) {
                Ok(Source::File { .. }) => {
                    "remove nats_url from rosey.yaml (`rosey config edit`)".to_owned()
                }
                Ok(Source::Flag(flag)) => format!("leave out {flag}"),
                Ok(Source::Env(var)) => format!("unset {var}"),
                _ => "unset ROSEY_NATS_URL".to_owned(),
            };
            checks.add(
                "nats",
                Verdict::Error,
                format!("external server {url} does not accept connections"),
                Some(format!(
                    "start that server, or {instead} to let Rosey run its own"
                )),
            );
        }
        return;
    }
    let binary = std::env::var(NATS_SERVER_ENV).unwrap_or_else(|_| "nats-server".into());
    match probe(&binary, &["--version"]) {
        Some(version) => checks.ok("nats-server", version),
        None => checks.add(
            "nats-server",
            Verdict::Error,
            format!("`{binary}` was not found or does not run"),
            Some(format!(
                "apt-get install nats-server (or set {NATS_SERVER_ENV}, or use --nats-url)"
            )),
        ),
    }
    if let Some((pid, url)) = nats_service::running(&ctx.home) {
        checks.ok("nats service", format!("running (pid {pid}) on {url}"));
    }
}

fn host(ctx: &Context, checks: &mut Checks) {
    let Some(pid) = process::running_pid(&ctx.home) else {
        checks.ok("host", "not running (start it with `rosey start`)");
        return;
    };
    let answers = ControlClient::connect(&ctx.home)
        .and_then(|client| client.call(&Request::Ping).ok())
        .is_some();
    if !answers {
        checks.add(
            "host",
            Verdict::Error,
            format!("running (pid {pid}) but its control channel does not answer"),
            Some("rosey logs host; then `rosey restart host`"),
        );
        return;
    }
    match process::read_status(&ctx.home) {
        Some(status) if !status.nats_connected => checks.add(
            "host",
            Verdict::Error,
            format!(
                "running (pid {pid}) but disconnected from NATS at {}",
                status.nats_url
            ),
            Some("start NATS again (`rosey start nats`) or fix the external server"),
        ),
        _ => checks.ok(
            "host",
            format!("running (pid {pid}), control channel answers"),
        ),
    }
}

fn plugins(ctx: &Context, checks: &mut Checks) {
    if !ctx.home.host_db().exists() {
        return;
    }
    let installed = match Registry::open(&ctx.home.host_db()).and_then(|r| r.list()) {
        Ok(installed) => installed,
        Err(e) => {
            checks.add(
                "host.db",
                Verdict::Error,
                format!("cannot be read: {e:#}"),
                Some("restore it from a backup"),
            );
            return;
        }
    };
    let status = process::read_status(&ctx.home);
    let mut healthy = 0;
    for plugin in &installed {
        let name = plugin.name.as_str();
        let paths = ctx.home.plugin(&plugin.name);
        if !paths.wasm.is_file() {
            checks.add(
                "plugin",
                Verdict::Error,
                format!(
                    "{name}: its files are missing from {}",
                    paths.root.display()
                ),
                Some(format!(
                    "rosey plugin remove {name} --yes, then install it again"
                )),
            );
            continue;
        }
        if ctx.home.pending_update(&plugin.name).exists() {
            checks.add(
                "plugin",
                Verdict::Warning,
                format!("{name}: an update waits for approval"),
                Some(format!("rosey plugin approve {name}")),
            );
        }
        let live = status
            .as_ref()
            .and_then(|s| s.plugins.iter().find(|p| p.name == name));
        match live.map(|p| (p.state, p.error.clone())) {
            Some((Lifecycle::Quarantined, why)) => checks.add(
                "plugin",
                Verdict::Warning,
                format!("{name}: quarantined ({})", why.unwrap_or_default()),
                Some(format!(
                    "rosey logs {name}; then `rosey plugin enable {name}`"
                )),
            ),
            Some((Lifecycle::Failed, why)) => checks.add(
                "plugin",
                Verdict::Warning,
                format!("{name}: failed to load ({})", why.unwrap_or_default()),
                Some(format!("rosey logs {name}")),
            ),
            _ if !plugin.enabled => checks.add(
                "plugin",
                Verdict::Warning,
                format!("{name}: disabled"),
                Some(format!("rosey plugin enable {name} (if you want it)")),
            ),
            _ => healthy += 1,
        }
    }
    checks.ok(
        "plugins",
        format!("{healthy} of {} installed are healthy", installed.len()),
    );
}

/// What plugin authors need (warnings only: running plugins needs none).
/// The signature policy, and whether it can ever admit a signed plugin.
fn trust(ctx: &Context, checks: &mut Checks) {
    let Ok(settings) = &ctx.settings else {
        return; // reported by the config check
    };
    let trust = settings.trust();
    let keys = trust
        .keys
        .iter()
        .map(|k| format!("{} ({})", k.name, k.key.id()))
        .collect::<Vec<_>>();
    match (trust.policy, keys.is_empty()) {
        (rosey_host::trust::Policy::Require, true) => checks.add(
            "signatures",
            Verdict::Warning,
            "trust.policy is require but trust.keys is empty: every install will be refused",
            Some("add your publishers' keys to trust.keys (rosey config edit)"),
        ),
        (rosey_host::trust::Policy::Warn, _) => checks.ok(
            "signatures",
            format!(
                "trust.policy is warn: unsigned plugins install with a warning (trusted keys: \
                 {}); require refuses them",
                if keys.is_empty() {
                    "none".into()
                } else {
                    keys.join(", ")
                }
            ),
        ),
        (rosey_host::trust::Policy::Require, false) => checks.ok(
            "signatures",
            format!("only plugins signed by {} install", keys.join(", ")),
        ),
    }
}

fn toolchain(checks: &mut Checks) {
    match rosey_host::source::git::git_version() {
        Some(version) => checks.ok("git", format!("{version} (for installs from repositories)")),
        None => checks.add(
            "git",
            Verdict::Warning,
            "git not found: `rosey plugin install` cannot fetch from repositories",
            Some("apt-get install git"),
        ),
    }
    let Some(cargo) = probe("cargo", &["--version"]) else {
        checks.add(
            "rust",
            Verdict::Warning,
            "cargo not found (only needed to build Rust plugins, or to install one from its \
             sources)",
            Some("install Rust from https://rustup.rs"),
        );
        return;
    };
    checks.ok("rust", cargo);
    match probe("rustup", &["target", "list", "--installed"]) {
        Some(list) if list.lines().any(|t| t.trim() == "wasm32-wasip2") => {
            checks.ok("wasm target", "wasm32-wasip2 installed")
        }
        Some(_) => checks.add(
            "wasm target",
            Verdict::Warning,
            "wasm32-wasip2 is not installed (needed to build Rust plugins)",
            Some("rustup target add wasm32-wasip2"),
        ),
        None => checks.add(
            "wasm target",
            Verdict::Warning,
            "rustup not found: cannot tell whether wasm32-wasip2 is installed",
            Some("install Rust with rustup (https://rustup.rs)"),
        ),
    }
}

/// What `program args` prints on stdout, trimmed, if it runs and succeeds.
fn probe(program: &str, args: &[&str]) -> Option<String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
