//! Per-plugin counters, shared between the runner, the capabilities and the
//! status report.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counters of one plugin since the host started.
#[derive(Debug, Default)]
pub struct PluginStats {
    messages: AtomicU64,
    commands: AtomicU64,
    errors: AtomicU64,
    traps: AtomicU64,
    restarts: AtomicU64,
    limit_hits: AtomicU64,
    denied: AtomicU64,
    published: AtomicU64,
    dropped: AtomicU64,
    fuel_used: AtomicU64,
    busy_micros: AtomicU64,
    log_lines: AtomicU64,
    log_dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A point-in-time copy of [`PluginStats`], for status reports.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Messages delivered to `on-message`.
    pub messages: u64,
    /// Commands delivered to `on-command`.
    pub commands: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Calls that trapped (or ran out of time, fuel or memory).
    pub traps: u64,
    /// Times a fresh instance replaced a crashed one.
    pub restarts: u64,
    /// Limits hit (rate, size, quota, deadline...).
    pub limit_hits: u64,
    /// Calls refused for a missing permission.
    pub denied: u64,
    /// Messages the plugin published.
    pub published: u64,
    /// Events dropped because the plugin's queue was full.
    pub dropped: u64,
    /// Fuel consumed by all calls.
    pub fuel_used: u64,
    /// Total time spent in guest calls, in microseconds.
    pub busy_micros: u64,
    /// Lines the plugin logged (including its stdout and stderr).
    #[serde(default)]
    pub log_lines: u64,
    /// Log lines dropped by the rate cap.
    #[serde(default)]
    pub log_dropped: u64,
    /// The last error or trap, if any.
    pub last_error: Option<String>,
}

macro_rules! bump {
    ($($name:ident => $field:ident),* $(,)?) => {
        $(
            #[doc = concat!("Count one more `", stringify!($field), "`.")]
            pub fn $name(&self) {
                self.$field.fetch_add(1, Ordering::Relaxed);
            }
        )*
    };
}

impl PluginStats {
    bump! {
        bump_message => messages,
        bump_command => commands,
        bump_restart => restarts,
        bump_limit_hit => limit_hits,
        bump_denied => denied,
        bump_published => published,
        bump_dropped => dropped,
        bump_log_line => log_lines,
        bump_log_dropped => log_dropped,
    }

    /// Record a call that returned an error.
    pub fn record_error(&self, error: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.set_last_error(error);
    }

    /// Record a trap.
    pub fn record_trap(&self, reason: &str) {
        self.traps.fetch_add(1, Ordering::Relaxed);
        self.set_last_error(reason);
    }

    /// Record the cost of one guest call.
    pub fn record_call(&self, fuel: u64, micros: u64) {
        self.fuel_used.fetch_add(fuel, Ordering::Relaxed);
        self.busy_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn set_last_error(&self, error: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.chars().take(500).collect());
        }
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            messages: get(&self.messages),
            commands: get(&self.commands),
            errors: get(&self.errors),
            traps: get(&self.traps),
            restarts: get(&self.restarts),
            limit_hits: get(&self.limit_hits),
            denied: get(&self.denied),
            published: get(&self.published),
            dropped: get(&self.dropped),
            fuel_used: get(&self.fuel_used),
            busy_micros: get(&self.busy_micros),
            log_lines: get(&self.log_lines),
            log_dropped: get(&self.log_dropped),
            last_error: self.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }
}
