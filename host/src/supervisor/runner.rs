//! One task per plugin: it owns the plugin's `Store`, takes events from a
//! bounded mailbox one at a time, calls the guest under its limits, and
//! replaces the instance with a fresh one after a trap.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use wasmtime::Trap;

use super::policy::{CrashTracker, SupervisionPolicy, Verdict};
use super::status::{Lifecycle, LiveState};
use crate::bus::Bus;
use crate::capabilities::chat::MAX_TEXT_CHARS;
use crate::home::RoseyHome;
use crate::protocol::{self, CommandError, CommandResult, SendMessage};
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::runtime::bindings::{Command, Message, PluginPre};
use crate::runtime::engine::ticks_for;
use crate::runtime::loader::Instance;
use crate::runtime::state::{PluginContext, PluginState};
use crate::update::StagedUpdate;

/// How many events may wait for a plugin before new ones are dropped.
pub const MAILBOX_CAPACITY: usize = 256;
/// Extra time allowed past the deadline before the call is abandoned from
/// outside (the epoch normally stops it first; this catches host calls).
const DEADLINE_GRACE: Duration = Duration::from_millis(250);

/// Something for a plugin to handle.
pub enum Event {
    /// A message on a subscribed subject.
    Message(Message),
    /// A command, and where its reply goes.
    Command(Command, ReplyTo),
    /// A schedule the manifest declares has fired.
    Schedule(String),
    /// Stop: call `shutdown`, then signal.
    Shutdown(oneshot::Sender<()>),
    /// Replace the running version with a staged update (see
    /// [`Upgrade`]); answers with the number of migrations applied, or why
    /// the old version still serves.
    Update(Box<Upgrade>, oneshot::Sender<Result<usize, String>>),
    /// Answered once every event before it has been handled (and the first
    /// instance has been started).
    Barrier(oneshot::Sender<()>),
    /// The operator changed the configuration: the new one, checked
    /// against the schema, and the keys that changed. The plugin's
    /// `on-config-changed` runs; if it refuses (or crashes), the old
    /// configuration stays and the answer says why.
    Configure(Box<Reconfigure>, oneshot::Sender<Result<(), String>>),
}

/// A new configuration for a running plugin.
pub struct Reconfigure {
    /// The whole effective configuration.
    pub config: Arc<serde_json::Map<String, serde_json::Value>>,
    /// The top-level keys that changed.
    pub keys: Vec<String>,
}

/// A staged update for a runner to swap in between two events.
pub struct Upgrade {
    /// The new version's files, not yet active.
    pub staged: Arc<StagedUpdate>,
    /// The new version, linked.
    pub pre: PluginPre<PluginState>,
    /// Its context (grants, limits, config of the new version; counters
    /// and log carried over).
    pub ctx: Arc<PluginContext>,
    /// Where host.db is, to record the new version.
    pub home: RoseyHome,
}

/// Where a command's reply goes.
pub enum ReplyTo {
    /// A chat message in a channel, answering message `reply_to`.
    Chat {
        /// The channel.
        channel: String,
        /// The id of the chat message that held the command.
        reply_to: Option<String>,
    },
    /// `rosey.commands.<plugin>.result` / `.error`.
    Execute {
        /// From the request.
        correlation_id: String,
        /// The request's NATS reply subject, if it was sent as a request.
        reply: Option<String>,
    },
}

/// Why a guest call did not return normally.
enum Failure {
    /// The guest returned `err(...)`.
    Guest(String),
    /// The instance trapped or overran its deadline; it is gone.
    Crashed(String),
    /// No instance could be made.
    Unavailable(String),
}

/// Call one guest export on an instance under the plugin's limits: fuel
/// refilled, epoch and host-call deadlines set, and a wall-clock limit on
/// the whole call (epochs do not fire inside host calls). Evaluates to
/// `Result<(Instant, Result<wasmtime::Result<T>, TimedOut>), Failure>`.
macro_rules! guarded_call {
    ($instance:expr, $ctx:expr, $export:ident $(, $arg:expr)*) => {{
        let instance: &mut Instance = $instance;
        let ctx: &PluginContext = $ctx;
        match prepare_call(instance, ctx, &ctx.limits) {
            Err(failure) => Err(failure),
            Ok(started) => {
                let call = instance
                    .plugin
                    .rosey_plugin_guest()
                    .$export(&mut instance.store $(, $arg)*);
                let outcome = within(started + ctx.limits.timeout + DEADLINE_GRACE, call).await;
                Ok((started, outcome))
            }
        }
    }};
}

/// A call abandoned at its wall-clock deadline.
#[derive(Debug, PartialEq, Eq)]
struct TimedOut;

/// Run `call` until `deadline`. The timer is armed only if the call does
/// not finish on its first poll: most guest calls never suspend (the fiber
/// runs to completion inside that poll), so they pay for no timer entry and
/// no clock read. A call that suspends, in an async host call, gets the same
/// absolute deadline it would have had from the start.
async fn within<F: std::future::Future>(deadline: Instant, call: F) -> Result<F::Output, TimedOut> {
    let mut call = std::pin::pin!(call);
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(output) = call.as_mut().poll(cx) {
            return std::task::Poll::Ready(Ok(output));
        }
        timer
            .get_or_insert_with(|| {
                Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                    deadline,
                )))
            })
            .as_mut()
            .poll(cx)
            .map(|()| Err(TimedOut))
    })
    .await
}

/// The per-plugin actor.
pub struct Runner {
    runtime: Runtime,
    pre: PluginPre<PluginState>,
    ctx: Arc<PluginContext>,
    live: Arc<LiveState>,
    bus: Option<Bus>,
    instance: Option<Instance>,
    crashes: CrashTracker,
    /// Set once the plugin is quarantined: why.
    quarantined: Option<String>,
    /// `host.db`, for the plugin's history.
    registry: Option<PathBuf>,
    /// Where failed calls are also reported, as `<what>: <why>` (for
    /// `rosey plugin test`).
    failures: Option<Arc<std::sync::Mutex<Vec<String>>>>,
}

impl Runner {
    /// A runner for a prepared plugin, supervised by `policy`; crashes and
    /// quarantines are recorded in the registry at `registry` (`host.db`).
    pub fn new(
        runtime: Runtime,
        pre: PluginPre<PluginState>,
        ctx: Arc<PluginContext>,
        live: Arc<LiveState>,
        bus: Option<Bus>,
        policy: SupervisionPolicy,
        registry: Option<PathBuf>,
    ) -> Self {
        Self {
            runtime,
            pre,
            ctx,
            live,
            bus,
            instance: None,
            crashes: CrashTracker::new(policy),
            quarantined: None,
            registry,
            failures: None,
        }
    }

    /// Also report every failed call (a guest error, a crash, an instance
    /// that could not start) into `sink`.
    pub fn report_failures_to(mut self, sink: Arc<std::sync::Mutex<Vec<String>>>) -> Self {
        self.failures = Some(sink);
        self
    }

    fn note_failure(&self, what: &str, why: &str) {
        if let Some(sink) = &self.failures
            && let Ok(mut sink) = sink.lock()
        {
            sink.push(format!("{what}: {why}"));
        }
    }

    /// Append to the plugin's history in host.db (best effort: the history
    /// is for the operator; the host keeps serving if it cannot be written).
    fn record(&self, event: &str, detail: Option<&str>) {
        let Some(path) = &self.registry else { return };
        let written = Registry::open(path).and_then(|r| {
            r.record(&self.ctx.name, event, detail)?;
            if event == "quarantined" {
                // Off until an operator re-enables it (recorded as "disabled").
                r.set_enabled(&self.ctx.name, false)?;
            }
            Ok(())
        });
        if let Err(e) = written {
            tracing::warn!(plugin = %self.ctx.name, "could not record {event} in host.db: {e:#}");
        }
    }

    /// Serve events until the mailbox closes or a shutdown arrives.
    pub async fn run(mut self, mut mailbox: mpsc::Receiver<Event>) {
        self.start().await;
        while let Some(event) = mailbox.recv().await {
            if !self.handle(event).await {
                return;
            }
        }
        self.shutdown().await;
    }

    /// Make the first instance (and run `init`) now, so its failures show
    /// at start-up rather than with the first event.
    pub async fn start(&mut self) {
        if let Err(e) = self.ensure_instance().await {
            self.ctx.log.error(&format!("could not start: {e}"));
            self.note_failure("init", &e);
        }
    }

    /// Handle one event: the guest call under the plugin's limits (fuel
    /// refilled, epoch and wall-clock deadlines set), its accounting, and
    /// any reply. Returns false once the plugin has shut down.
    pub async fn handle(&mut self, event: Event) -> bool {
        match event {
            // A quarantined plugin's messages and ticks are dropped
            // (counted), not logged one by one.
            Event::Message(_) | Event::Schedule(_) if self.quarantined.is_some() => {
                self.ctx.stats.bump_dropped();
            }
            Event::Message(message) => {
                self.ctx.stats.bump_message();
                match self.on_message(message).await {
                    Ok(()) => self.crashes.succeeded(),
                    Err(failure) => self.report(&failure, "on-message"),
                }
            }
            Event::Command(command, reply) => {
                self.ctx.stats.bump_command();
                let name = command.name.clone();
                let result = self.on_command(command).await;
                match &result {
                    Ok(_) => self.crashes.succeeded(),
                    Err(failure) => self.report(failure, &format!("command `{name}`")),
                }
                if let Some(bus) = self.bus.clone() {
                    send_reply(bus, self.ctx.name.to_string(), reply, result).await;
                }
            }
            Event::Schedule(name) => {
                self.ctx.stats.bump_schedule();
                match self.on_schedule(&name).await {
                    Ok(()) => self.crashes.succeeded(),
                    Err(failure) => self.report(&failure, &format!("schedule `{name}`")),
                }
            }
            Event::Shutdown(done) => {
                self.shutdown().await;
                let _ = done.send(());
                return false;
            }
            Event::Update(upgrade, done) => {
                let before = self.live.state();
                self.live.set(Lifecycle::Updating, None);
                let result = self.upgrade(*upgrade).await;
                if let Err(reason) = &result {
                    self.ctx.log.error(&format!(
                        "update refused, this version keeps serving: {reason}"
                    ));
                    self.live.set(before, self.quarantined.clone());
                }
                let _ = done.send(result);
            }
            Event::Barrier(done) => {
                let _ = done.send(());
            }
            Event::Configure(change, done) => {
                let Reconfigure { config, keys } = *change;
                let old = self.ctx.replace_config(config);
                let result = self.on_config_changed(keys.clone()).await;
                let answer = match result {
                    Ok(()) => {
                        self.crashes.succeeded();
                        self.ctx
                            .log
                            .info(&format!("configuration changed: {}", keys.join(", ")));
                        Ok(())
                    }
                    Err(failure) => {
                        self.ctx.replace_config(old);
                        self.report(&failure, "on-config-changed");
                        Err(match failure {
                            Failure::Guest(why) => format!("the plugin refused it: {why}"),
                            Failure::Crashed(why) | Failure::Unavailable(why) => {
                                format!("the plugin failed on it: {why}")
                            }
                        })
                    }
                };
                let _ = done.send(answer);
            }
        }
        true
    }

    async fn on_message(&mut self, message: Message) -> Result<(), Failure> {
        let ctx = Arc::clone(&self.ctx);
        let instance = self.instance().await?;
        let (started, outcome) = guarded_call!(instance, &ctx, call_on_message, &message)?;
        self.finish_call(started, outcome)?.map_err(Failure::Guest)
    }

    async fn on_schedule(&mut self, name: &str) -> Result<(), Failure> {
        let ctx = Arc::clone(&self.ctx);
        let instance = self.instance().await?;
        let (started, outcome) = guarded_call!(instance, &ctx, call_on_schedule, name)?;
        self.finish_call(started, outcome)?.map_err(Failure::Guest)
    }

    async fn on_config_changed(&mut self, keys: Vec<String>) -> Result<(), Failure> {
        let ctx = Arc::clone(&self.ctx);
        let instance = self.instance().await?;
        let (started, outcome) = guarded_call!(instance, &ctx, call_on_config_changed, &keys)?;
        self.finish_call(started, outcome)?.map_err(Failure::Guest)
    }

    async fn on_command(&mut self, command: Command) -> Result<Option<String>, Failure> {
        let ctx = Arc::clone(&self.ctx);
        let instance = self.instance().await?;
        let (started, outcome) = guarded_call!(instance, &ctx, call_on_command, &command)?;
        self.finish_call(started, outcome)?.map_err(Failure::Guest)
    }

    /// Swap in a staged update: activate its files (package swap, database
    /// snapshot, migrations), start and `init` the new version, commit it,
    /// then `shutdown` the old instance and serve with the new one. Events
    /// wait in the mailbox meanwhile. On any failure the files and the
    /// database are rolled back and the old instance, never stopped, goes
    /// on serving.
    async fn upgrade(&mut self, upgrade: Upgrade) -> Result<usize, String> {
        let Upgrade {
            staged,
            pre,
            ctx,
            home,
        } = upgrade;
        // The old version's connection closes (it reopens on its next call)
        // so the snapshot and the migrations see a quiet database.
        self.ctx.close_database();
        let migrations = blocking({
            let staged = Arc::clone(&staged);
            move || staged.activate()
        })
        .await?;
        let rollback = |this: &Self, ctx: &PluginContext, staged: Arc<StagedUpdate>| {
            ctx.close_database();
            this.ctx.close_database();
            blocking(move || staged.rollback())
        };
        let instance = match self.start_successor(&pre, &ctx).await {
            Ok(instance) => instance,
            Err(reason) => {
                if let Err(e) = rollback(self, &ctx, staged).await {
                    tracing::error!(plugin = %ctx.name, "rolling back the update failed: {e}");
                }
                return Err(reason);
            }
        };
        let committed = blocking({
            let staged = Arc::clone(&staged);
            let runtime = self.runtime.clone();
            move || staged.commit(&home, &runtime)
        })
        .await;
        if let Err(reason) = committed {
            drop(instance);
            if let Err(e) = rollback(self, &ctx, staged).await {
                tracing::error!(plugin = %ctx.name, "rolling back the update failed: {e}");
            }
            return Err(reason);
        }
        // The old instance ends as in a stop; its data is the new one's now.
        let old_ctx = Arc::clone(&self.ctx);
        if let Some(old) = self.instance.as_mut()
            && let Ok((_, outcome)) = guarded_call!(old, &old_ctx, call_shutdown)
            && !matches!(outcome, Ok(Ok(())))
        {
            old_ctx
                .log
                .warn("the old version's shutdown did not finish");
        }
        old_ctx.deadline.clear();
        old_ctx.close_database();
        self.pre = pre;
        self.ctx = ctx;
        self.instance = Some(instance);
        self.crashes = CrashTracker::new(self.crashes.policy().clone());
        self.quarantined = None;
        self.live.clear_error();
        self.live.set(Lifecycle::Running, None);
        Ok(migrations)
    }

    /// Instantiate the new version of an update and run its `init`.
    async fn start_successor(
        &mut self,
        pre: &PluginPre<PluginState>,
        ctx: &Arc<PluginContext>,
    ) -> Result<Instance, String> {
        let mut instance = self
            .runtime
            .instantiate(pre, Arc::clone(ctx))
            .await
            .map_err(|e| {
                format!(
                    "the new version could not be instantiated: {}",
                    describe_trap(&e, ctx)
                )
            })?;
        let (_, outcome) =
            guarded_call!(&mut instance, ctx, call_init).map_err(|failure| match failure {
                Failure::Guest(m) | Failure::Crashed(m) | Failure::Unavailable(m) => m,
            })?;
        ctx.deadline.clear();
        match outcome {
            Ok(Ok(Ok(()))) => Ok(instance),
            Ok(Ok(Err(message))) => Err(format!("the new version's init failed: {message}")),
            Ok(Err(trap)) => Err(format!(
                "the new version's init crashed: {}",
                describe_trap(&trap, ctx)
            )),
            Err(_) => Err(format!(
                "the new version's init overran its {:?} deadline",
                ctx.limits.timeout
            )),
        }
    }

    async fn shutdown(&mut self) {
        self.live.set(Lifecycle::Stopping, None);
        let ctx = Arc::clone(&self.ctx);
        if let Some(instance) = self.instance.as_mut()
            && let Ok((started, outcome)) = guarded_call!(instance, &ctx, call_shutdown)
            && let Err(Failure::Crashed(reason)) = self.finish_call(started, outcome)
        {
            ctx.log.warn(&format!("shutdown did not finish: {reason}"));
        }
        self.instance = None;
        self.ctx.close_database();
        self.live.set(Lifecycle::Stopped, None);
    }

    /// Account for a finished call; on a trap or overrun, discard the instance.
    fn finish_call<T>(
        &mut self,
        started: Instant,
        outcome: Result<wasmtime::Result<T>, TimedOut>,
    ) -> Result<T, Failure> {
        self.ctx.deadline.clear();
        let micros = started.elapsed().as_micros() as u64;
        if let Some(instance) = self.instance.as_ref() {
            let left = instance.store.get_fuel().unwrap_or(0);
            self.ctx
                .stats
                .record_call(self.ctx.limits.fuel_per_call.saturating_sub(left), micros);
            self.live.set_memory(instance.store.data().limiter.used());
        }
        if self.ctx.check_storage() {
            // The next instance gets /data read-only.
            self.instance = None;
        }
        let reason = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => describe_trap(&error, &self.ctx),
            Err(_) => format!(
                "exceeded its {:?} deadline inside a host call",
                self.ctx.limits.timeout
            ),
        };
        self.crashed(&reason);
        Err(Failure::Crashed(reason))
    }

    fn crashed(&mut self, reason: &str) {
        self.instance = None;
        self.ctx.reset_database();
        self.ctx.stats.record_trap(reason);
        if is_limit(reason) {
            self.ctx.stats.bump_limit_hit();
        }
        self.record("crashed", Some(reason));
        match self.crashes.crashed(Instant::now()) {
            Verdict::Restart(_) => self.live.set(Lifecycle::Crashed, Some(reason.to_owned())),
            Verdict::Quarantine => {
                let policy = self.crashes.policy();
                let why = format!(
                    "quarantined after {} crashes within {:?} (last: {reason}); re-enable it with \
                     `rosey plugin enable {}` (or update it)",
                    policy.quarantine_after, policy.window, self.ctx.name
                );
                self.ctx.log.error(&why);
                self.live.set(Lifecycle::Quarantined, Some(why.clone()));
                self.record("quarantined", Some(reason));
                self.quarantined = Some(why);
            }
        }
    }

    /// The live instance, making (and `init`ing) a fresh one if needed.
    async fn instance(&mut self) -> Result<&mut Instance, Failure> {
        self.ensure_instance().await.map_err(Failure::Unavailable)?;
        self.instance
            .as_mut()
            .ok_or_else(|| Failure::Unavailable("no instance".into()))
    }

    async fn ensure_instance(&mut self) -> Result<(), String> {
        if self.instance.is_some() {
            return Ok(());
        }
        if let Some(why) = &self.quarantined {
            return Err(why.clone());
        }
        if self.crashes.recent() > 0 {
            // Immediate after a first crash, then doubling (policy).
            self.live.set(Lifecycle::Restarting, None);
            tokio::time::sleep(self.crashes.backoff()).await;
            self.ctx.stats.bump_restart();
        }
        self.live.set(Lifecycle::Starting, None);
        let mut instance = match self
            .runtime
            .instantiate(&self.pre, Arc::clone(&self.ctx))
            .await
        {
            Ok(instance) => instance,
            Err(e) => {
                let reason = format!("instantiation failed: {}", describe_trap(&e, &self.ctx));
                self.crashed(&reason);
                return Err(reason);
            }
        };
        let ctx = Arc::clone(&self.ctx);
        let (started, outcome) =
            guarded_call!(&mut instance, &ctx, call_init).map_err(|failure| match failure {
                Failure::Guest(m) | Failure::Crashed(m) | Failure::Unavailable(m) => m,
            })?;
        self.instance = Some(instance);
        match self.finish_call(started, outcome) {
            Ok(Ok(())) => {
                self.live.set(Lifecycle::Running, None);
                Ok(())
            }
            // `init` ran but refused: the instance is unusable until restarted.
            Ok(Err(message)) => {
                let reason = format!("init failed: {message}");
                self.crashed(&reason);
                Err(reason)
            }
            Err(Failure::Crashed(reason)) => Err(format!("init crashed: {reason}")),
            Err(Failure::Guest(m) | Failure::Unavailable(m)) => Err(m),
        }
    }

    fn report(&self, failure: &Failure, what: &str) {
        let (Failure::Guest(why) | Failure::Crashed(why) | Failure::Unavailable(why)) = failure;
        self.note_failure(what, why);
        match failure {
            Failure::Guest(message) => {
                self.ctx.stats.record_error(message);
                self.ctx
                    .log
                    .warn(&format!("{what} returned an error: {message}"));
            }
            Failure::Crashed(reason) => {
                self.ctx.log.error(&format!(
                    "{what} crashed: {reason}; a fresh instance will serve the next event"
                ));
            }
            Failure::Unavailable(reason) => {
                self.ctx
                    .log
                    .error(&format!("{what} could not run: {reason}"));
            }
        }
    }
}

/// Run blocking file and database work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(e) => Err(format!("the update task failed: {e}")),
    }
}

/// Send a command's reply where it belongs. A free function (not a method)
/// so no borrow of the runner, whose `Store` is not `Sync`, is held across
/// the awaits.
async fn send_reply(
    bus: Bus,
    plugin: String,
    reply: ReplyTo,
    result: Result<Option<String>, Failure>,
) {
    {
        let error_text = |failure: &Failure| match failure {
            Failure::Guest(message) => message.clone(),
            Failure::Crashed(reason) => {
                format!(
                    "plugin \"{plugin}\" crashed ({reason}); a fresh instance will take the next message"
                )
            }
            Failure::Unavailable(reason) => format!("plugin \"{plugin}\" is unavailable: {reason}"),
        };
        let (subject, payload, request_reply) = match reply {
            ReplyTo::Chat { channel, reply_to } => {
                let text = match &result {
                    Ok(Some(text)) => text.chars().take(MAX_TEXT_CHARS).collect(),
                    Ok(None) => return,
                    Err(failure) => format!("Error: {}", error_text(failure)),
                };
                let message = SendMessage {
                    channel,
                    text,
                    plugin: plugin.clone(),
                    reply_to,
                };
                (
                    protocol::SEND_MESSAGE.to_owned(),
                    serde_json::to_vec(&message),
                    None,
                )
            }
            ReplyTo::Execute {
                correlation_id,
                reply,
            } => match &result {
                Ok(message) => (
                    protocol::command_result_subject(&plugin),
                    serde_json::to_vec(&CommandResult {
                        correlation_id,
                        plugin: plugin.clone(),
                        message: message.clone(),
                    }),
                    reply,
                ),
                Err(failure) => (
                    protocol::command_error_subject(&plugin),
                    serde_json::to_vec(&CommandError {
                        correlation_id,
                        plugin: plugin.clone(),
                        error: error_text(failure),
                    }),
                    reply,
                ),
            },
        };
        let Ok(payload) = payload else { return };
        if let Some(reply) = request_reply {
            let _ = bus.publish(reply, None, payload.clone()).await;
        }
        if let Err(e) = bus.publish(subject, None, payload).await {
            tracing::warn!(plugin = %plugin, "could not publish a reply: {e}");
        }
    }
}

/// Refill the fuel and set the deadlines; returns when the call starts (one
/// clock read serves the deadline, the timeout and the call's duration).
fn prepare_call(
    instance: &mut Instance,
    ctx: &PluginContext,
    limits: &crate::package::Limits,
) -> Result<Instant, Failure> {
    instance
        .store
        .set_fuel(limits.fuel_per_call)
        .map_err(|e| Failure::Unavailable(e.to_string()))?;
    instance.store.set_epoch_deadline(ticks_for(limits.timeout));
    let started = Instant::now();
    ctx.deadline.set_from(started, limits.timeout);
    Ok(started)
}

/// One line saying why a call trapped, for the operator and the stats.
fn describe_trap(error: &wasmtime::Error, ctx: &PluginContext) -> String {
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => format!(
                "ran out of fuel ({} units per call)",
                ctx.limits.fuel_per_call
            ),
            Trap::Interrupt => format!("exceeded its {:?} deadline", ctx.limits.timeout),
            Trap::StackOverflow => "overflowed its stack".to_owned(),
            Trap::UnreachableCodeReached => {
                "trapped: the guest panicked or hit unreachable code".to_owned()
            }
            other => format!("trapped: {other}"),
        };
    }
    // Host-raised traps (the memory limiter) carry their own message as the
    // root cause, under wasmtime's "error while executing at wasm backtrace"
    // context; the backtrace goes to the debug log.
    tracing::debug!(plugin = %ctx.name, "trap details: {error:?}");
    let root = error.root_cause().to_string();
    root.lines().next().unwrap_or("trapped").to_owned()
}

fn is_limit(reason: &str) -> bool {
    reason.contains("fuel")
        || reason.contains("deadline")
        || reason.contains("memory limit")
        || reason.contains("stack")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(timers: bool) -> tokio::runtime::Runtime {
        let mut builder = tokio::runtime::Builder::new_current_thread();
        if timers {
            builder.enable_time();
        }
        builder.build().unwrap()
    }

    #[test]
    fn a_call_that_finishes_on_its_first_poll_arms_no_timer() {
        // Without timers in the runtime, arming one would panic.
        let answer = runtime(false).block_on(within(Instant::now(), async { 42 }));
        assert_eq!(answer, Ok(42));
    }

    #[test]
    fn a_call_that_suspends_finishes_before_its_deadline() {
        let deadline = Instant::now() + Duration::from_secs(30);
        let answer = runtime(true).block_on(within(deadline, async {
            tokio::task::yield_now().await;
            7
        }));
        assert_eq!(answer, Ok(7));
    }

    #[test]
    fn a_call_that_never_finishes_times_out_at_its_deadline() {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(50);
        let answer = runtime(true).block_on(within(deadline, std::future::pending::<()>()));
        assert_eq!(answer, Err(TimedOut));
        assert!(Instant::now() >= deadline, "gave up before the deadline");
    }
}
