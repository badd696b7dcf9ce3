//! The running host: loads every enabled plugin, subscribes on NATS on
//! their behalf, routes chat commands and direct command requests, and runs
//! one [`Runner`] task per plugin.

mod metrics;
mod ops;
pub mod policy;
pub mod router;
mod routing;
pub mod runner;
mod schedule;
pub mod status;
mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::bus::Bus;
use crate::capabilities::Grants;
use crate::capabilities::http::HttpPolicy;
use crate::home::{RoseyHome, write_atomic};
use crate::package::PluginName;
use crate::protocol;
use crate::registry::{InstalledPlugin, Registry};
use crate::runtime::engine::EpochTicker;
use crate::runtime::state::PluginContext;
use crate::runtime::{RoseyEngine, Runtime};
pub use ops::{Control, Delivery, Outcome};
use policy::SupervisionPolicy;
use router::CommandTable;
use runner::{Event, MAILBOX_CAPACITY, Runner};
use status::{HostStatus, Lifecycle, LiveState, PluginStatus};
pub use view::PluginView;

/// How a host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The data directory.
    pub home: RoseyHome,
    /// The NATS server to use.
    pub nats_url: String,
    /// Whether that server is one Rosey manages (for status reports).
    pub managed_nats: bool,
    /// The managed server's pid, if any.
    pub nats_pid: Option<u32>,
    /// What starts a chat command (default `!`).
    pub command_prefix: String,
    /// This host's id on the bus.
    pub host_id: String,
    /// Let plugins' HTTP requests reach loopback and private addresses (for
    /// tests and labs only; `ROSEY_HTTP_ALLOW_PRIVATE=1` in the CLI).
    pub allow_private_http: bool,
    /// Restart back-off and quarantine.
    pub supervision: SupervisionPolicy,
    /// Where to serve Prometheus `/metrics`, if anywhere (loopback unless
    /// the operator asks for more).
    pub metrics: Option<std::net::SocketAddr>,
    /// Whether to open the control channel (`run/control.sock`) the CLI
    /// uses to install, update and remove plugins on the running host.
    pub control: bool,
    /// Where to serve the admin API and dashboard, if anywhere.
    pub admin: Option<crate::admin::AdminListener>,
}

impl HostConfig {
    /// Defaults for `home` and `nats_url`.
    pub fn new(home: RoseyHome, nats_url: impl Into<String>) -> Self {
        Self {
            home,
            nats_url: nats_url.into(),
            managed_nats: false,
            nats_pid: None,
            command_prefix: "!".into(),
            host_id: format!("host-{}", std::process::id()),
            allow_private_http: false,
            supervision: SupervisionPolicy::default(),
            metrics: None,
            control: true,
            admin: None,
        }
    }
}

/// A plugin as the host sees it at one moment. Replaced as a whole (never
/// edited) when the plugin starts, stops or is updated; readers take a cheap
/// `Arc` clone and never hold a lock across an await.
#[derive(Clone)]
struct PluginHandle {
    installed: InstalledPlugin,
    mailbox: Option<mpsc::Sender<Event>>,
    ctx: Option<Arc<PluginContext>>,
    live: Arc<LiveState>,
}

impl PluginHandle {
    /// A plugin the host knows about but does not run (disabled, or failed
    /// to load).
    fn idle(installed: InstalledPlugin, live: Arc<LiveState>) -> Self {
        Self {
            installed,
            mailbox: None,
            ctx: None,
            live,
        }
    }

    /// Put `event` in the mailbox without waiting; false (and counted) if
    /// the plugin is not running or its mailbox is full.
    fn deliver(&self, event: Event) -> bool {
        let Some(mailbox) = &self.mailbox else {
            return false;
        };
        match mailbox.try_send(event) {
            Ok(()) => true,
            Err(_) => {
                if let Some(ctx) = &self.ctx {
                    ctx.stats.bump_dropped();
                }
                false
            }
        }
    }

    /// Whether it takes events: it runs and is not quarantined.
    fn serving(&self) -> bool {
        self.mailbox.is_some() && self.live.state() != Lifecycle::Quarantined
    }
}

/// A task aborted when this is dropped: a plugin's subscriptions and
/// schedules end with the plugin, and a dropped NATS subscriber unsubscribes.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The tasks that run for one plugin.
#[derive(Default)]
struct PluginTasks {
    runner: Option<JoinHandle<()>>,
    /// One forwarding task per subscribed pattern.
    subscriptions: BTreeMap<String, AbortOnDrop>,
    schedules: Vec<AbortOnDrop>,
}

struct Shared {
    config: HostConfig,
    bus: async_nats::Client,
    runtime: Runtime,
    plugins: RwLock<BTreeMap<PluginName, Arc<PluginHandle>>>,
    commands: RwLock<CommandTable>,
    tasks: Mutex<BTreeMap<PluginName, PluginTasks>>,
    /// Serialises install, update, remove, enable and disable.
    ops: tokio::sync::Mutex<()>,
    started_at: i64,
    /// Where `/metrics` ended up listening (set once, at start).
    metrics_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// Where the admin API ended up listening (set once, at start).
    admin_addr: std::sync::OnceLock<std::net::SocketAddr>,
}

impl Shared {
    fn plugin(&self, name: &PluginName) -> Option<Arc<PluginHandle>> {
        self.plugins.read().ok()?.get(name).cloned()
    }

    fn handles(&self) -> Vec<Arc<PluginHandle>> {
        self.plugins
            .read()
            .map(|plugins| plugins.values().cloned().collect())
            .unwrap_or_default()
    }

    fn set_handle(&self, handle: PluginHandle) {
        if let Ok(mut plugins) = self.plugins.write() {
            plugins.insert(handle.installed.name.clone(), Arc::new(handle));
        }
    }

    fn forget(&self, name: &PluginName) {
        if let Ok(mut plugins) = self.plugins.write() {
            plugins.remove(name);
        }
        if let Ok(mut commands) = self.commands.write() {
            commands.remove(name);
        }
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.remove(name);
        }
    }

    /// Whether `plugin` takes commands.
    fn serving(&self, plugin: &PluginName) -> bool {
        self.plugin(plugin).is_some_and(|h| h.serving())
    }
}

/// A running Rosey host.
pub struct Host {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    _ticker: EpochTicker,
}

impl Host {
    /// Start: connect to NATS, load and start every enabled plugin, subscribe,
    /// and open the control channel.
    ///
    /// A plugin that cannot be loaded is reported (state `failed`) and the
    /// others start anyway.
    pub async fn start(config: HostConfig) -> Result<Self> {
        config.home.ensure()?;
        let engine = RoseyEngine::new()?;
        let ticker = engine.start_epoch_ticker()?;
        let runtime = Runtime::new(engine)?;
        let bus = async_nats::ConnectOptions::new()
            .name(format!("rosey {}", config.host_id))
            .connection_timeout(Duration::from_secs(5))
            .connect(&config.nats_url)
            .await
            .with_context(|| format!("could not connect to NATS at {}", config.nats_url))?;
        if let Some(_lock) = crate::backup::RestoreLock::try_acquire(&config.home)
            && let Some(done) = crate::backup::recover(&config.home)?
        {
            tracing::warn!("{done}");
        }
        let installed = Registry::open(&config.home.host_db())?.list()?;
        let shared = Arc::new(Shared {
            config,
            bus: bus.clone(),
            runtime,
            plugins: RwLock::default(),
            commands: RwLock::default(),
            tasks: Mutex::default(),
            ops: tokio::sync::Mutex::new(()),
            started_at: crate::protocol::now_ms(),
            metrics_addr: std::sync::OnceLock::new(),
            admin_addr: std::sync::OnceLock::new(),
        });
        for plugin in installed {
            launch(&shared, plugin, Arc::new(LiveState::new())).await;
        }
        // Ready means every plugin has run its `init` (or failed to).
        let starts = shared.handles().into_iter().filter_map(|handle| {
            let mailbox = handle.mailbox.clone()?;
            Some(async move {
                let (tx, rx) = oneshot::channel();
                if mailbox.send(Event::Barrier(tx)).await.is_ok() {
                    let _ = tokio::time::timeout(Duration::from_secs(30), rx).await;
                }
            })
        });
        futures::future::join_all(starts).await;

        let mut tasks = Vec::new();
        // Chat commands.
        let chat = bus.subscribe(protocol::CHAT_MESSAGE).await?;
        tasks.push(tokio::spawn(routing::route_chat(Arc::clone(&shared), chat)));
        // Direct command requests.
        let execute = bus.subscribe(protocol::COMMAND_EXECUTE).await?;
        tasks.push(tokio::spawn(routing::route_execute(
            Arc::clone(&shared),
            execute,
        )));
        bus.flush()
            .await
            .context("NATS did not confirm the subscriptions")?;
        // Before the status writer starts, so the first status names it.
        if let Some(listener) = shared.config.admin {
            let control = Control {
                shared: Arc::clone(&shared),
            };
            if let Some((bound, task)) = crate::admin::start(control, listener).await? {
                let _ = shared.admin_addr.set(bound);
                tasks.push(task);
            }
        }
        tasks.push(tokio::spawn(write_status_forever(Arc::clone(&shared))));
        if let Some(addr) = shared.config.metrics {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "serving /metrics beyond loopback, as configured");
            }
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("could not listen for /metrics on {addr}"))?;
            let bound = listener.local_addr()?;
            tracing::info!(addr = %bound, "serving Prometheus metrics on /metrics");
            let _ = shared.metrics_addr.set(bound);
            tasks.push(tokio::spawn(metrics::serve(Arc::clone(&shared), listener)));
        }
        if shared.config.control {
            let socket = shared.config.home.control_socket();
            let listener = crate::control::server::bind(&socket)?;
            tracing::info!(socket = %socket.display(), "control channel open");
            tasks.push(tokio::spawn(crate::control::server::serve(
                listener,
                Control {
                    shared: Arc::clone(&shared),
                },
                crate::control::server::owner(),
            )));
        }
        write_status(&shared);
        tracing::info!(
            plugins = shared.handles().len(),
            nats = %shared.config.nats_url,
            "host ready"
        );
        Ok(Self {
            shared,
            tasks,
            _ticker: ticker,
        })
    }

    /// Where the admin API and dashboard are served, if they are.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.admin_addr.get().copied()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.metrics_addr.get().copied()
    }

    /// The current status (also written to `run/status.json`).
    pub fn status(&self) -> HostStatus {
        build_status(&self.shared)
    }

    /// Install, update, remove, enable and disable plugins on this host
    /// while it runs (what the control channel serves).
    pub fn control(&self) -> Control {
        Control {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stop: no new events, every plugin gets `shutdown`, status file and
    /// control socket removed.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        if self.shared.config.control {
            let _ = std::fs::remove_file(self.shared.config.home.control_socket());
        }
        let names: Vec<PluginName> = self
            .shared
            .handles()
            .iter()
            .map(|h| h.installed.name.clone())
            .collect();
        let stops = names
            .iter()
            .map(|name| halt(&self.shared, name, Lifecycle::Stopped));
        futures::future::join_all(stops).await;
        // NATS may be gone: do not wait for it forever.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.shared.bus.flush()).await;
        let _ = std::fs::remove_file(self.shared.config.home.status_file());
        tracing::info!("host stopped");
    }
}

/// Load and start `installed` (if enabled): its runner, its subscriptions,
/// its schedules, its commands. A plugin that cannot be loaded is kept as
/// `failed`, with the reason, and the host goes on.
async fn launch(shared: &Arc<Shared>, installed: InstalledPlugin, live: Arc<LiveState>) {
    let name = installed.name.clone();
    if !installed.enabled {
        live.set(Lifecycle::Disabled, None);
        shared.set_handle(PluginHandle::idle(installed, live));
        return;
    }
    live.clear_error();
    live.set(Lifecycle::Loading, None);
    let manifest = match installed.manifest() {
        Ok(manifest) => manifest,
        Err(e) => return fail(shared, installed, live, &e),
    };
    let (ctx, pre) = match load_plugin(
        &shared.config,
        &shared.runtime,
        &installed,
        Some(Bus::Nats(shared.bus.clone())),
    )
    .await
    {
        Ok(loaded) => loaded,
        Err(e) => return fail(shared, installed, live, &e),
    };
    match crate::logfile::LogFile::open(&shared.config.home.plugin_log(&name)) {
        Ok(file) => ctx.log.attach_file(file),
        Err(e) => tracing::warn!(plugin = %name, "no log file for the plugin: {e:#}"),
    }
    let (tx, rx) = mpsc::channel(MAILBOX_CAPACITY);
    let runner = Runner::new(
        shared.runtime.clone(),
        pre,
        Arc::clone(&ctx),
        Arc::clone(&live),
        Some(Bus::Nats(shared.bus.clone())),
        shared.config.supervision.clone(),
        Some(shared.config.home.host_db()),
    );
    let task = tokio::spawn(runner.run(rx));
    shared.set_handle(PluginHandle {
        installed: installed.clone(),
        mailbox: Some(tx),
        ctx: Some(Arc::clone(&ctx)),
        live,
    });
    if let Ok(mut tasks) = shared.tasks.lock() {
        tasks.entry(name.clone()).or_default().runner = Some(task);
    }
    if let Ok(mut commands) = shared.commands.write() {
        commands.remove(&name);
        commands.add(&manifest);
    }
    if let Err(e) = subscribe(shared, &name, &ctx.grants).await {
        tracing::error!(plugin = %name, "{e:#}");
        ctx.log.error(&format!("{e:#}"));
    }
    reschedule(shared, &name, &manifest);
    tracing::info!(plugin = %name, version = %installed.version, "plugin started");
}

fn fail(shared: &Shared, installed: InstalledPlugin, live: Arc<LiveState>, error: &anyhow::Error) {
    let reason = format!("{error:#}");
    tracing::error!(plugin = %installed.name, "could not load plugin: {reason}");
    live.set(Lifecycle::Failed, Some(reason));
    shared.set_handle(PluginHandle::idle(installed, live));
}

/// Make `name`'s NATS subscriptions match its grants: patterns it no longer
/// has are unsubscribed, new ones subscribed, unchanged ones left alone (so
/// an update loses no message on them).
async fn subscribe(shared: &Arc<Shared>, name: &PluginName, grants: &Grants) -> Result<()> {
    let wanted = grants.subscriptions().map_err(anyhow::Error::msg)?.to_vec();
    let have: Vec<String> = shared
        .tasks
        .lock()
        .map(|tasks| {
            tasks
                .get(name)
                .map(|t| t.subscriptions.keys().cloned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let mut added = Vec::new();
    for pattern in wanted.iter().filter(|p| !have.contains(p)) {
        let subscriber = shared
            .bus
            .subscribe(pattern.clone())
            .await
            .with_context(|| format!("could not subscribe to {pattern}"))?;
        let task = tokio::spawn(routing::forward_subscription(
            Arc::clone(shared),
            name.clone(),
            subscriber,
        ));
        added.push((pattern.clone(), AbortOnDrop(task)));
    }
    if let Ok(mut tasks) = shared.tasks.lock() {
        let entry = tasks.entry(name.clone()).or_default();
        entry
            .subscriptions
            .retain(|pattern, _| wanted.contains(pattern));
        entry.subscriptions.extend(added);
    }
    shared
        .bus
        .flush()
        .await
        .context("NATS did not confirm the subscriptions")
}

/// (Re)start `name`'s schedules from `manifest`.
fn reschedule(shared: &Arc<Shared>, name: &PluginName, manifest: &crate::package::Manifest) {
    let schedules = schedule::spawn(shared, name, &manifest.schedules)
        .into_iter()
        .map(AbortOnDrop)
        .collect();
    if let Ok(mut tasks) = shared.tasks.lock() {
        tasks.entry(name.clone()).or_default().schedules = schedules;
    }
}

/// Stop `name` if it runs: its commands, subscriptions and schedules end,
/// it gets `shutdown` (after the events already in its mailbox), and its
/// runner is awaited. The plugin stays known to the host as idle, in
/// `state`.
async fn halt(shared: &Arc<Shared>, name: &PluginName, state: Lifecycle) {
    if let Ok(mut commands) = shared.commands.write() {
        commands.remove(name);
    }
    let tasks = shared
        .tasks
        .lock()
        .ok()
        .and_then(|mut tasks| tasks.remove(name))
        .unwrap_or_default();
    let PluginTasks {
        runner,
        subscriptions,
        schedules,
    } = tasks;
    drop(subscriptions);
    drop(schedules);
    let Some(handle) = shared.plugin(name) else {
        return;
    };
    if let Some(mailbox) = &handle.mailbox {
        let (tx, rx) = oneshot::channel();
        if mailbox.send(Event::Shutdown(tx)).await.is_ok() {
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, rx).await;
        }
    }
    if let Some(mut runner) = runner
        && tokio::time::timeout(Duration::from_secs(1), &mut runner)
            .await
            .is_err()
    {
        runner.abort();
    }
    handle.live.set(state, None);
    shared.set_handle(PluginHandle::idle(
        handle.installed.clone(),
        Arc::clone(&handle.live),
    ));
}

/// How long a plugin has to finish its queued events and `shutdown`.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Load an installed plugin: compile (or load from cache), check its imports
/// against its grants, and assemble its context. Compilation runs off the
/// async threads.
async fn load_plugin(
    config: &HostConfig,
    runtime: &Runtime,
    installed: &InstalledPlugin,
    bus: Option<Bus>,
) -> Result<(
    Arc<PluginContext>,
    crate::runtime::bindings::PluginPre<crate::runtime::state::PluginState>,
)> {
    let manifest = installed.manifest()?;
    let paths = config.home.plugin(&installed.name);
    crate::update::recover(&config.home, installed)?;
    let http = HttpPolicy::new(&manifest.network.allowed_hosts, config.allow_private_http);
    let grants = Grants::from_manifest(&manifest);
    let plugin_config = crate::plugin_config::load(&manifest, &paths.config)?;
    let pre = {
        let runtime = runtime.clone();
        let paths = paths.clone();
        let grants = grants.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let (component, _cached) = runtime.load(&paths)?;
            runtime.prepare(&component, &grants)
        })
        .await
        .context("the compile task failed")??
    };
    let ctx = Arc::new(PluginContext::new(
        installed.name.clone(),
        grants,
        manifest.limits(),
        paths,
        bus,
        plugin_config,
        http,
    ));
    // A plugin that went over its quota before a restart starts with /data
    // read-only, not with one more writable call.
    ctx.check_storage();
    Ok((ctx, pre))
}

/// One plugin's entry in the status: its live state and counters.
fn plugin_status(handle: &PluginHandle) -> PluginStatus {
    let stats = handle
        .ctx
        .as_ref()
        .map(|c| c.stats.snapshot())
        .unwrap_or_default();
    let memory_limit = handle.ctx.as_ref().map(|c| c.limits.memory).unwrap_or(0);
    PluginStatus::new(
        handle.installed.name.to_string(),
        handle.installed.version.to_string(),
        memory_limit,
        &handle.live,
        stats,
    )
}

fn build_status(shared: &Shared) -> HostStatus {
    let plugins = shared
        .handles()
        .iter()
        .map(|handle| plugin_status(handle))
        .collect();
    HostStatus {
        pid: std::process::id(),
        host_id: shared.config.host_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: shared.started_at,
        updated_at: crate::protocol::now_ms(),
        nats_url: shared.config.nats_url.clone(),
        managed_nats: shared.config.managed_nats,
        nats_pid: shared.config.nats_pid,
        nats_connected: shared.bus.connection_state() == async_nats::connection::State::Connected,
        metrics: shared.metrics_addr.get().map(|a| a.to_string()),
        admin: shared.admin_addr.get().map(|a| format!("http://{a}/")),
        plugins,
    }
}

fn write_status(shared: &Shared) {
    let status = build_status(shared);
    match serde_json::to_vec_pretty(&status) {
        Ok(bytes) => {
            if let Err(e) = write_atomic(&shared.config.home.status_file(), &bytes) {
                tracing::warn!("could not write the status file: {e:#}");
            }
        }
        Err(e) => tracing::warn!("could not encode the status: {e}"),
    }
}

async fn write_status_forever(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        write_status(&shared);
    }
}
