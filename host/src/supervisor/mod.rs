//! The running host: loads every enabled plugin, subscribes on NATS on
//! their behalf, routes chat commands and direct command requests, and runs
//! one [`Runner`] task per plugin.

mod metrics;
pub mod policy;
pub mod router;
pub mod runner;
mod schedule;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::capabilities::Grants;
use crate::capabilities::http::HttpPolicy;
use crate::home::{RoseyHome, write_atomic};
use crate::package::PluginName;
use crate::protocol::{
    self, ChatMessage, CommandError, CommandExecute, SendMessage, parse_command,
};
use crate::registry::{InstalledPlugin, Registry};
use crate::runtime::bindings::{Command, Message};
use crate::runtime::engine::EpochTicker;
use crate::runtime::state::PluginContext;
use crate::runtime::{RoseyEngine, Runtime};
use policy::SupervisionPolicy;
use router::CommandTable;
use runner::{Event, MAILBOX_CAPACITY, ReplyTo, Runner};
use status::{HostStatus, Lifecycle, LiveState, PluginStatus};

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
        }
    }
}

/// A plugin the host runs.
struct PluginHandle {
    installed: InstalledPlugin,
    mailbox: Option<mpsc::Sender<Event>>,
    ctx: Option<Arc<PluginContext>>,
    live: Arc<LiveState>,
    task: Option<JoinHandle<()>>,
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
            task: None,
        }
    }

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
}

struct Shared {
    config: HostConfig,
    bus: async_nats::Client,
    plugins: BTreeMap<PluginName, PluginHandle>,
    commands: CommandTable,
    started_at: i64,
    /// Where `/metrics` ended up listening (set once, at start).
    metrics_addr: std::sync::OnceLock<std::net::SocketAddr>,
}

/// A running Rosey host.
pub struct Host {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    _ticker: EpochTicker,
}

impl Host {
    /// Start: connect to NATS, load and start every enabled plugin, subscribe.
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

        let registry = Registry::open(&config.home.host_db())?;
        let mut plugins = BTreeMap::new();
        let mut commands = CommandTable::default();
        for installed in registry.list()? {
            let name = installed.name.clone();
            let live = Arc::new(LiveState::new());
            if !installed.enabled {
                live.set(Lifecycle::Disabled, None);
                plugins.insert(name, PluginHandle::idle(installed, live));
                continue;
            }
            match load_plugin(&config, &runtime, &installed, Some(bus.clone())).await {
                Ok((ctx, pre)) => {
                    if let Ok(manifest) = installed.manifest() {
                        commands.add(&manifest);
                    }
                    let (tx, rx) = mpsc::channel(MAILBOX_CAPACITY);
                    let runner = Runner::new(
                        runtime.clone(),
                        pre,
                        Arc::clone(&ctx),
                        Arc::clone(&live),
                        Some(bus.clone()),
                        config.supervision.clone(),
                        Some(config.home.host_db()),
                    );
                    let task = tokio::spawn(runner.run(rx));
                    tracing::info!(plugin = %name, version = %installed.version, "plugin started");
                    plugins.insert(
                        name,
                        PluginHandle {
                            installed,
                            mailbox: Some(tx),
                            ctx: Some(ctx),
                            live,
                            task: Some(task),
                        },
                    );
                }
                Err(e) => {
                    let reason = format!("{e:#}");
                    tracing::error!(plugin = %name, "could not load plugin: {reason}");
                    live.set(Lifecycle::Failed, Some(reason));
                    plugins.insert(name, PluginHandle::idle(installed, live));
                }
            }
        }

        let shared = Arc::new(Shared {
            config,
            bus: bus.clone(),
            plugins,
            commands,
            started_at: crate::protocol::now_ms(),
            metrics_addr: std::sync::OnceLock::new(),
        });
        let mut tasks = Vec::new();

        // Chat commands.
        let chat = bus.subscribe(protocol::CHAT_MESSAGE).await?;
        tasks.push(tokio::spawn(route_chat(Arc::clone(&shared), chat)));
        // Direct command requests.
        let execute = bus.subscribe(protocol::COMMAND_EXECUTE).await?;
        tasks.push(tokio::spawn(route_execute(Arc::clone(&shared), execute)));
        // Each plugin's own subscriptions.
        for (name, handle) in &shared.plugins {
            let Some(ctx) = &handle.ctx else { continue };
            let patterns = match ctx.grants.subscriptions() {
                Ok(patterns) => patterns.to_vec(),
                Err(reason) => {
                    tracing::error!(plugin = %name, "{reason}");
                    continue;
                }
            };
            for pattern in patterns {
                let subscriber = bus
                    .subscribe(pattern.clone())
                    .await
                    .with_context(|| format!("could not subscribe to {pattern}"))?;
                tasks.push(tokio::spawn(forward_subscription(
                    Arc::clone(&shared),
                    name.clone(),
                    subscriber,
                )));
            }
        }
        for (name, handle) in &shared.plugins {
            if handle.mailbox.is_none() {
                continue;
            }
            if let Ok(manifest) = handle.installed.manifest() {
                tasks.extend(schedule::spawn(&shared, name, &manifest.schedules));
            }
        }
        bus.flush()
            .await
            .context("NATS did not confirm the subscriptions")?;
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
        write_status(&shared);
        tracing::info!(
            plugins = shared.plugins.len(),
            nats = %shared.config.nats_url,
            "host ready"
        );
        Ok(Self {
            shared,
            tasks,
            _ticker: ticker,
        })
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.metrics_addr.get().copied()
    }

    /// The current status (also written to `run/status.json`).
    pub fn status(&self) -> HostStatus {
        build_status(&self.shared)
    }

    /// Stop: no new events, every plugin gets `shutdown`, status file removed.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        let mut waits = Vec::new();
        for handle in self.shared.plugins.values() {
            if let Some(mailbox) = &handle.mailbox {
                let (tx, rx) = oneshot::channel();
                if mailbox.send(Event::Shutdown(tx)).await.is_ok() {
                    waits.push(rx);
                }
            }
        }
        for wait in waits {
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        }
        for handle in self.shared.plugins.values() {
            if let Some(task) = &handle.task {
                task.abort();
            }
        }
        let _ = self.shared.bus.flush().await;
        let _ = std::fs::remove_file(self.shared.config.home.status_file());
        tracing::info!("host stopped");
    }
}

/// Load an installed plugin: compile (or load from cache), check its imports
/// against its grants, and assemble its context. Compilation runs off the
/// async threads.
async fn load_plugin(
    config: &HostConfig,
    runtime: &Runtime,
    installed: &InstalledPlugin,
    bus: Option<async_nats::Client>,
) -> Result<(
    Arc<PluginContext>,
    crate::runtime::bindings::PluginPre<crate::runtime::state::PluginState>,
)> {
    let manifest = installed.manifest()?;
    let paths = config.home.plugin(&installed.name);
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

async fn route_chat(shared: Arc<Shared>, mut messages: async_nats::Subscriber) {
    while let Some(message) = messages.next().await {
        let chat: ChatMessage = match serde_json::from_slice(&message.payload) {
            Ok(chat) => chat,
            Err(e) => {
                tracing::debug!("ignoring a malformed chat message: {e}");
                continue;
            }
        };
        let Some(parsed) = parse_command(&chat.text, &shared.config.command_prefix) else {
            continue;
        };
        // The first claimant that serves; if none does, the top one, which
        // answers why it cannot (e.g. quarantined) instead of silence.
        let Some(plugin) = shared
            .commands
            .route(&parsed.name, |p| serving(&shared, p))
            .or_else(|| shared.commands.route(&parsed.name, |_| true))
        else {
            if parsed.name == router::HELP {
                answer_help(&shared, &chat, parsed.args.first().map(String::as_str)).await;
            }
            continue;
        };
        let Some(handle) = shared.plugins.get(plugin) else {
            continue;
        };
        let command = Command {
            name: parsed.name,
            args: parsed.args,
            arg_text: parsed.arg_text,
            user: chat.user,
            channel: chat.channel.clone(),
        };
        let reply = ReplyTo::Chat {
            channel: chat.channel,
            reply_to: chat.id,
        };
        if !handle.deliver(Event::Command(command, reply)) {
            tracing::warn!(plugin = %plugin, "plugin is busy or stopped; a chat command was dropped");
        }
    }
}

/// Whether `plugin` takes commands: it runs and is not quarantined.
fn serving(shared: &Shared, plugin: &PluginName) -> bool {
    shared
        .plugins
        .get(plugin)
        .is_some_and(|h| h.mailbox.is_some() && h.live.state() != Lifecycle::Quarantined)
}

/// The built-in `!help`: the commands of the running plugins.
async fn answer_help(shared: &Shared, chat: &ChatMessage, topic: Option<&str>) {
    let text: String = shared
        .commands
        .help(&shared.config.command_prefix, topic, |plugin| {
            serving(shared, plugin)
        })
        .chars()
        .take(crate::capabilities::chat::MAX_TEXT_CHARS)
        .collect();
    let reply = SendMessage {
        channel: chat.channel.clone(),
        text,
        plugin: "rosey".into(),
        reply_to: chat.id.clone(),
    };
    if let Ok(payload) = serde_json::to_vec(&reply) {
        let _ = shared
            .bus
            .publish(protocol::SEND_MESSAGE, payload.into())
            .await;
    }
}

async fn route_execute(shared: Arc<Shared>, mut messages: async_nats::Subscriber) {
    while let Some(message) = messages.next().await {
        // rosey.commands.<plugin>.execute
        let plugin_token = message
            .subject
            .split('.')
            .nth(2)
            .unwrap_or_default()
            .to_owned();
        let request: CommandExecute = match serde_json::from_slice(&message.payload) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!("ignoring a malformed command request: {e}");
                continue;
            }
        };
        let reply = message.reply.as_ref().map(|r| r.to_string());
        let refuse = |error: String| {
            let shared = Arc::clone(&shared);
            let reply = reply.clone();
            let payload = CommandError {
                correlation_id: request.correlation_id.clone(),
                plugin: plugin_token.clone(),
                error,
            };
            async move {
                let Ok(bytes) = serde_json::to_vec(&payload) else {
                    return;
                };
                if let Some(reply) = reply {
                    let _ = shared.bus.publish(reply, bytes.clone().into()).await;
                }
                let _ = shared
                    .bus
                    .publish(
                        protocol::command_error_subject(&payload.plugin),
                        bytes.into(),
                    )
                    .await;
            }
        };
        let Ok(name) = plugin_token.parse::<PluginName>() else {
            refuse(format!("\"{plugin_token}\" is not a valid plugin name")).await;
            continue;
        };
        let Some(handle) = shared.plugins.get(&name) else {
            refuse(format!("no plugin named \"{name}\" is installed")).await;
            continue;
        };
        if handle.mailbox.is_none() {
            let state = handle.live.state();
            refuse(format!(
                "plugin \"{name}\" is not running ({state}); see `rosey status`"
            ))
            .await;
            continue;
        }
        if !shared.commands.declares(&name, &request.command) {
            refuse(format!(
                "plugin \"{name}\" has no command \"{}\"",
                request.command
            ))
            .await;
            continue;
        }
        let command = Command {
            name: request.command.clone(),
            arg_text: request.args.join(" "),
            args: request.args.clone(),
            user: request.user.clone(),
            channel: request.channel.clone(),
        };
        let target = ReplyTo::Execute {
            correlation_id: request.correlation_id.clone(),
            reply: reply.clone(),
        };
        if !handle.deliver(Event::Command(command, target)) {
            refuse(format!("plugin \"{name}\" is busy or not running")).await;
        }
    }
}

async fn forward_subscription(
    shared: Arc<Shared>,
    plugin: PluginName,
    mut messages: async_nats::Subscriber,
) {
    while let Some(message) = messages.next().await {
        let Some(handle) = shared.plugins.get(&plugin) else {
            return;
        };
        if message.payload.len() > crate::capabilities::MAX_INBOUND_PAYLOAD {
            continue;
        }
        let message: Message = crate::capabilities::to_wit_message(message);
        if !handle.deliver(Event::Message(message)) {
            tracing::debug!(plugin = %plugin, "mailbox full; a message was dropped");
        }
    }
}

fn build_status(shared: &Shared) -> HostStatus {
    let plugins = shared
        .plugins
        .values()
        .map(|handle| {
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
        })
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
