//! What a plugin's `Store` owns, and what survives when the Store is replaced.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bus::Bus;
use crate::capabilities::database::PluginDb;
use crate::capabilities::http::{HttpHooks, HttpPolicy};
use crate::capabilities::log::PluginLog;
use crate::capabilities::{Grants, HostError};
use crate::home::PluginPaths;
use crate::package::{Limits, Permission, PluginName, Rate};
use crate::runtime::limits::MemoryLimiter;
use crate::runtime::stats::PluginStats;
use crate::simulation::Simulation;

/// Everything about a plugin that outlives any one of its instances: who it
/// is, what it may do, its limits, its database, its counters.
pub struct PluginContext {
    /// The plugin's name.
    pub name: PluginName,
    /// What it may do.
    pub grants: Grants,
    /// Its resource limits.
    pub limits: Limits,
    /// Where its data lives.
    pub paths: PluginPaths,
    /// The message bus, if connected.
    pub bus: Option<Bus>,
    /// Its counters.
    pub stats: Arc<PluginStats>,
    /// Its log.
    pub log: Arc<PluginLog>,
    /// Its configuration, as a JSON object (replaced whole when the
    /// operator changes it; see [`PluginContext::config`]).
    config: std::sync::RwLock<Arc<serde_json::Map<String, serde_json::Value>>>,
    /// Which hosts it may reach over HTTP (only used with `http_requests`).
    pub http: HttpPolicy,
    /// The deadline of the call in progress (read by the SQL progress handler).
    pub deadline: Arc<Deadline>,
    /// The publish rate limit. Kept here, not in the instance, so a plugin
    /// cannot refill its burst by crashing on purpose.
    pub publish_bucket: Mutex<TokenBucket>,
    /// Set once files plus database exceed the storage quota: new instances
    /// then get `/data` read-only.
    pub over_quota: AtomicBool,
    /// The database, opened on first use.
    db: Mutex<Option<PluginDb>>,
    /// Under `rosey plugin test`: the simulated clock, random numbers and
    /// HTTP answers its instances get instead of the real ones.
    pub simulation: Option<Arc<Simulation>>,
}

impl PluginContext {
    /// Assemble a context with fresh counters and log. The database is
    /// opened lazily.
    pub fn new(
        name: PluginName,
        grants: Grants,
        limits: Limits,
        paths: PluginPaths,
        bus: Option<Bus>,
        config: serde_json::Map<String, serde_json::Value>,
        http: HttpPolicy,
    ) -> Self {
        let stats = Arc::new(PluginStats::default());
        let log = Arc::new(PluginLog::new(name.as_str(), Arc::clone(&stats)));
        let limits_rate = limits.publish_rate.clone();
        Self {
            name,
            grants,
            limits,
            paths,
            bus,
            stats,
            log,
            config: std::sync::RwLock::new(Arc::new(config)),
            http,
            deadline: Arc::new(Deadline::new()),
            publish_bucket: Mutex::new(TokenBucket::new(limits_rate)),
            over_quota: AtomicBool::new(false),
            db: Mutex::new(None),
            simulation: None,
        }
    }

    /// Milliseconds since the Unix epoch by the plugin's clock (the
    /// simulated one under `rosey plugin test`), for what the host does on
    /// its behalf, such as kv expiry.
    pub fn now_ms(&self) -> i64 {
        match &self.simulation {
            Some(simulation) => i64::try_from(simulation.now().as_millis()).unwrap_or(i64::MAX),
            None => crate::protocol::now_ms(),
        }
    }

    /// The same context in a simulated world (see [`Simulation`]).
    pub fn with_simulation(mut self, simulation: Arc<Simulation>) -> Self {
        self.simulation = Some(simulation);
        self
    }

    /// Its configuration as of now.
    pub fn config(&self) -> Arc<serde_json::Map<String, serde_json::Value>> {
        Arc::clone(&self.read_config())
    }

    /// One value of its configuration as of now, looked up under the read
    /// lock (no reference count taken: `config.get` is a hot import).
    pub fn config_value(&self, key: &str) -> Option<String> {
        self.read_config().get(key).map(|v| v.to_string())
    }

    fn read_config(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, Arc<serde_json::Map<String, serde_json::Value>>> {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replace its configuration; returns the one it had.
    pub fn replace_config(
        &self,
        config: Arc<serde_json::Map<String, serde_json::Value>>,
    ) -> Arc<serde_json::Map<String, serde_json::Value>> {
        let mut slot = match self.config.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::replace(&mut *slot, config)
    }

    /// The context of the next version of this plugin (an update): new
    /// grants, limits, config and HTTP policy; the same name, paths and bus;
    /// the counters and log carried over, so `status` shows the plugin's
    /// whole life, not one version's.
    pub fn successor(
        &self,
        grants: Grants,
        limits: Limits,
        config: serde_json::Map<String, serde_json::Value>,
        http: HttpPolicy,
    ) -> Self {
        let limits_rate = limits.publish_rate.clone();
        Self {
            name: self.name.clone(),
            grants,
            limits,
            paths: self.paths.clone(),
            bus: self.bus.clone(),
            stats: Arc::clone(&self.stats),
            log: Arc::clone(&self.log),
            config: std::sync::RwLock::new(Arc::new(config)),
            http,
            deadline: Arc::new(Deadline::new()),
            publish_bucket: Mutex::new(TokenBucket::new(limits_rate)),
            over_quota: AtomicBool::new(self.over_quota.load(Ordering::Relaxed)),
            db: Mutex::new(None),
            simulation: self.simulation.clone(),
        }
    }

    /// The plugin's database, opening it on first use.
    pub fn database(&self) -> Result<DbGuard<'_>, HostError> {
        let mut guard = self
            .db
            .lock()
            .map_err(|_| HostError::Other("the database is unavailable after a crash".into()))?;
        if guard.is_none() {
            let db = PluginDb::open(
                &self.paths.database,
                self.limits.storage,
                Arc::clone(&self.deadline),
            )
            .map_err(|e| HostError::Unavailable(format!("could not open the database: {e:#}")))?;
            *guard = Some(db);
        }
        Ok(DbGuard(guard))
    }

    /// Roll back a transaction a crashed instance left open.
    pub fn reset_database(&self) {
        if let Ok(mut guard) = self.db.lock()
            && let Some(db) = guard.as_mut()
        {
            db.as_host(|conn| {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
            });
        }
    }

    /// Take one token from the publish bucket.
    pub fn try_publish(&self) -> bool {
        self.publish_bucket
            .lock()
            .map(|mut b| b.try_take())
            .unwrap_or(false)
    }

    /// Measure files plus database against the storage quota, after every
    /// call of a plugin that may write files (so one call is the most it can
    /// overshoot by). Returns true when the plugin has just gone over: the
    /// caller discards the instance so the next one gets `/data` read-only.
    /// (The database cannot overshoot: SQLite's page quota stops it.)
    pub fn check_storage(&self) -> bool {
        if !self.grants.has(Permission::FileWrite) || self.over_quota.load(Ordering::Relaxed) {
            return false;
        }
        let used = self.paths.storage_used();
        if used <= self.limits.storage {
            return false;
        }
        self.over_quota.store(true, Ordering::Relaxed);
        self.stats.bump_limit_hit();
        self.log.warn(&format!(
            "storage quota of {} MiB reached ({} MiB used by files and database): /data is \
             read-only from now on; free space in {}, then `rosey plugin disable {name}` and \
             `rosey plugin enable {name}`",
            self.limits.storage >> 20,
            used.div_ceil(1 << 20),
            self.paths.files.display(),
            name = self.name,
        ));
        true
    }

    /// Close the database (before its files are moved or deleted).
    pub fn close_database(&self) {
        if let Ok(mut guard) = self.db.lock() {
            guard.take();
        }
    }
}

/// A locked, open plugin database.
pub struct DbGuard<'a>(MutexGuard<'a, Option<PluginDb>>);

impl std::ops::Deref for DbGuard<'_> {
    type Target = PluginDb;
    fn deref(&self) -> &PluginDb {
        // Invariant: `PluginContext::database` only builds a guard over `Some`.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("database guard over None"))
    }
}

impl std::ops::DerefMut for DbGuard<'_> {
    fn deref_mut(&mut self) -> &mut PluginDb {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("database guard over None"))
    }
}

/// The data of one plugin instance's `Store`. Dropped (and rebuilt) after a trap.
pub struct PluginState {
    /// The plugin's lasting context.
    pub ctx: Arc<PluginContext>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    http_ctx: WasiHttpCtx,
    http_hooks: HttpHooks,
}

impl PluginState {
    /// A fresh state for a new instance.
    pub fn new(ctx: Arc<PluginContext>, wasi: WasiCtx) -> Self {
        let limiter = MemoryLimiter::new(ctx.limits.memory);
        let http_hooks = HttpHooks::new(Arc::clone(&ctx));
        Self {
            http_ctx: WasiHttpCtx::new(),
            http_hooks,
            ctx,
            wasi,
            table: ResourceTable::new(),
            limiter,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.http_hooks,
            table: &mut self.table,
            ctx: &mut self.http_ctx,
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The wall-clock deadline of the guest call in progress, shared with code
/// that runs inside host calls (where epochs do not fire), such as SQLite's
/// progress handler.
#[derive(Debug)]
pub struct Deadline {
    base: Instant,
    end_micros: AtomicU64,
}

impl Deadline {
    /// A deadline that never expires until [`set`](Self::set).
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            end_micros: AtomicU64::new(u64::MAX),
        }
    }

    /// Expire `budget` from now.
    pub fn set(&self, budget: Duration) {
        self.set_from(Instant::now(), budget);
    }

    /// Expire `budget` after `start` (a clock reading the caller already
    /// has).
    pub fn set_from(&self, start: Instant, budget: Duration) {
        let end = start
            .saturating_duration_since(self.base)
            .saturating_add(budget)
            .as_micros();
        self.end_micros
            .store(u64::try_from(end).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Never expire.
    pub fn clear(&self) {
        self.end_micros.store(u64::MAX, Ordering::Relaxed);
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        let end = self.end_micros.load(Ordering::Relaxed);
        if end == u64::MAX {
            return Duration::MAX;
        }
        let now = u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(end.saturating_sub(now))
    }
}

impl Default for Deadline {
    fn default() -> Self {
        Self::new()
    }
}

/// A token bucket enforcing a [`Rate`] (burst = the rate's count).
#[derive(Debug)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            tokens: f64::from(rate.count),
            rate,
            last: Instant::now(),
        }
    }

    /// Take one token if there is one.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let per = self.rate.per.as_secs_f64().max(1e-6);
        let refill = now.duration_since(self.last).as_secs_f64() * f64::from(self.rate.count) / per;
        self.tokens = (self.tokens + refill).min(f64::from(self.rate.count));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The configured rate.
    pub fn rate(&self) -> &Rate {
        &self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_expires() {
        let d = Deadline::new();
        assert!(!d.expired());
        d.set(Duration::ZERO);
        assert!(d.expired());
        d.set(Duration::from_secs(60));
        assert!(!d.expired());
        assert!(d.remaining() > Duration::from_secs(59));
        d.clear();
        assert_eq!(d.remaining(), Duration::MAX);
    }

    #[test]
    fn token_bucket_allows_a_burst_then_refuses() {
        let mut bucket = TokenBucket::new(Rate {
            count: 3,
            per: Duration::from_secs(3600),
        });
        assert!(bucket.try_take());
        assert!(bucket.try_take());
        assert!(bucket.try_take());
        assert!(!bucket.try_take());
    }
}
