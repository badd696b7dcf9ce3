//! The status a running host publishes in `run/status.json` for `rosey status`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::runtime::stats::StatsSnapshot;

/// Where a plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Loading its compiled code (compiling it if the cache is stale).
    Loading,
    /// Instantiating, or running `init`.
    Starting,
    /// Serving events.
    Running,
    /// Its instance trapped; a fresh one is made on the next event.
    Crashed,
    /// Waiting out the back-off before a fresh instance after a crash.
    Restarting,
    /// It could not be loaded at all (see the error).
    Failed,
    /// It crashed too often; it stays stopped until an operator re-enables it.
    Quarantined,
    /// The operator disabled it.
    Disabled,
    /// A new version is being migrated and started beside the old one
    /// (which takes events again as soon as the swap is done or refused).
    Updating,
    /// Being removed.
    Removing,
    /// Shutting down.
    Stopping,
    /// Not running.
    Stopped,
}

impl std::fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Self::Loading => "loading",
            Self::Starting => "starting",
            Self::Restarting => "restarting",
            Self::Running => "running",
            Self::Crashed => "crashed",
            Self::Failed => "failed",
            Self::Quarantined => "quarantined",
            Self::Disabled => "disabled",
            Self::Updating => "updating",
            Self::Removing => "removing",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// A plugin's live state, shared between its runner and the status writer.
#[derive(Debug)]
pub struct LiveState {
    inner: Mutex<LiveInner>,
    /// Linear memory in use, in bytes: written after every call, so kept
    /// out of the lock.
    memory: AtomicU64,
}

#[derive(Debug, Clone)]
struct LiveInner {
    state: Lifecycle,
    since: i64,
    error: Option<String>,
}

impl LiveState {
    /// A plugin that is starting.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(LiveInner {
                state: Lifecycle::Starting,
                since: crate::protocol::now_ms(),
                error: None,
            }),
            memory: AtomicU64::new(0),
        }
    }

    /// Move to `state` (with an error, for `failed`/`crashed`).
    pub fn set(&self, state: Lifecycle, error: Option<String>) {
        if let Ok(mut inner) = self.inner.lock() {
            if inner.state != state {
                inner.since = crate::protocol::now_ms();
            }
            inner.state = state;
            if error.is_some() {
                inner.error = error;
            }
        }
    }

    /// Forget the last error (the plugin starts afresh).
    pub fn clear_error(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.error = None;
        }
    }

    /// Record the instance's linear memory in use.
    pub fn set_memory(&self, bytes: u64) {
        self.memory.store(bytes, Ordering::Relaxed);
    }

    /// The current state and why it is not running, if it is not.
    pub fn state_and_error(&self) -> (Lifecycle, Option<String>) {
        self.inner
            .lock()
            .map(|inner| (inner.state, inner.error.clone()))
            .unwrap_or((Lifecycle::Failed, None))
    }

    /// The current state.
    pub fn state(&self) -> Lifecycle {
        self.inner
            .lock()
            .map(|i| i.state)
            .unwrap_or(Lifecycle::Failed)
    }

    fn snapshot(&self) -> Option<LiveInner> {
        self.inner.lock().ok().map(|i| i.clone())
    }
}

impl Default for LiveState {
    fn default() -> Self {
        Self::new()
    }
}

/// One plugin in `status.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginStatus {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its state.
    pub state: Lifecycle,
    /// Since when (ms since the Unix epoch).
    pub since: i64,
    /// Linear memory in use, in bytes.
    pub memory: u64,
    /// Its memory limit, in bytes.
    pub memory_limit: u64,
    /// Why it failed or last crashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its counters.
    pub stats: StatsSnapshot,
}

impl PluginStatus {
    /// Assemble from a plugin's live state and counters.
    pub fn new(
        name: String,
        version: String,
        memory_limit: u64,
        live: &LiveState,
        stats: StatsSnapshot,
    ) -> Self {
        let snap = live.snapshot();
        Self {
            name,
            version,
            state: snap.as_ref().map(|s| s.state).unwrap_or(Lifecycle::Failed),
            since: snap.as_ref().map(|s| s.since).unwrap_or(0),
            memory: live.memory.load(Ordering::Relaxed),
            memory_limit,
            error: snap.and_then(|s| s.error),
            stats,
        }
    }
}

/// The whole of `status.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostStatus {
    /// The host's process id.
    pub pid: u32,
    /// This host's id on the bus.
    pub host_id: String,
    /// Rosey's version.
    pub version: String,
    /// When the host started (ms since the Unix epoch).
    pub started_at: i64,
    /// When this status was written.
    pub updated_at: i64,
    /// The NATS server in use.
    pub nats_url: String,
    /// Whether Rosey runs that server itself.
    pub managed_nats: bool,
    /// The managed server's process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_pid: Option<u32>,
    /// Whether the host is connected to NATS right now.
    pub nats_connected: bool,
    /// Where Prometheus `/metrics` is served, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// Where the admin API and dashboard are served (`http://IP:PORT/`),
    /// if they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
    /// Every plugin the host knows about.
    pub plugins: Vec<PluginStatus>,
}
