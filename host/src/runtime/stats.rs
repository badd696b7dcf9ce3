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
    schedules: AtomicU64,
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
    latency: LatencyHistogram,
    last_error: Mutex<Option<String>>,
}

/// Upper bounds (microseconds) of the latency buckets: 1-2-5 steps from
/// 1 µs to 60 s. A percentile is reported as the bound of its bucket.
const BUCKETS: [u64; 24] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000,
    200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000, 60_000_000,
];

/// A lock-free histogram of guest call durations.
#[derive(Debug, Default)]
struct LatencyHistogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
}

impl LatencyHistogram {
    fn record(&self, micros: u64) {
        let bucket = BUCKETS
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(BUCKETS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// `(upper bound in µs, cumulative count)` per bucket, ending with the
    /// overflow bucket (`u64::MAX`): the Prometheus histogram shape.
    fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut total = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, count)| {
                total += count.load(Ordering::Relaxed);
                (BUCKETS.get(i).copied().unwrap_or(u64::MAX), total)
            })
            .collect()
    }

    /// The bucket bound below which `quantile` of the calls fell (None
    /// before any call; `u64::MAX` if in the overflow bucket).
    fn quantile(&self, quantile: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = ((total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return Some(BUCKETS.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        None
    }
}

/// A point-in-time copy of [`PluginStats`], for status reports.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Messages delivered to `on-message`.
    pub messages: u64,
    /// Commands delivered to `on-command`.
    pub commands: u64,
    /// Schedule ticks delivered to `on-schedule`.
    #[serde(default)]
    pub schedules: u64,
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
    /// Median guest call time, in microseconds (bucket bound).
    #[serde(default)]
    pub p50_micros: Option<u64>,
    /// 99th-percentile guest call time, in microseconds (bucket bound).
    #[serde(default)]
    pub p99_micros: Option<u64>,
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
        bump_schedule => schedules,
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
        self.latency.record(micros);
    }

    fn set_last_error(&self, error: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.chars().take(500).collect());
        }
    }

    /// The call-duration histogram: `(upper bound in µs, cumulative count)`
    /// per bucket, the last bound being `u64::MAX` (+Inf).
    pub fn latency_buckets(&self) -> Vec<(u64, u64)> {
        self.latency.cumulative()
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            messages: get(&self.messages),
            commands: get(&self.commands),
            schedules: get(&self.schedules),
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
            p50_micros: self.latency.quantile(0.50),
            p99_micros: self.latency.quantile(0.99),
            last_error: self.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_buckets() {
        let stats = PluginStats::default();
        assert_eq!(stats.snapshot().p50_micros, None);
        for _ in 0..98 {
            stats.record_call(0, 30); // the 50 µs bucket
        }
        stats.record_call(0, 1_500); // the 2 ms bucket
        stats.record_call(0, 90_000_000); // past the last bucket
        let snap = stats.snapshot();
        assert_eq!(snap.p50_micros, Some(50));
        assert_eq!(snap.p99_micros, Some(2_000));
    }
}
