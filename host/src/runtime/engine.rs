//! The one `wasmtime::Engine` of a Rosey host, and its epoch ticker.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch ticker advances the engine's epoch. Per-call wall-clock
/// deadlines are expressed in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest wasm stack a plugin may use. Well below the async stack size,
/// so a runaway recursion traps in wasm instead of overflowing the host.
pub const MAX_WASM_STACK: usize = 512 * 1024;

/// The largest single linear memory any plugin may have; per-plugin limits
/// (summed over all of a plugin's memories) are enforced by
/// [`MemoryLimiter`](super::limits::MemoryLimiter) and are usually far lower.
pub const MAX_MEMORY_PER_PLUGIN: u64 = 1 << 30;

/// How many plugin instances the pooling allocator has room for.
pub const MAX_INSTANCES: u32 = 256;

/// The shared compilation and execution engine.
///
/// Cloning is cheap (an `Arc` inside). The epoch ticker thread runs as long as
/// any clone of the returned [`EpochTicker`] is alive.
#[derive(Clone)]
pub struct RoseyEngine {
    engine: Engine,
    pooling: bool,
}

impl RoseyEngine {
    /// Build the engine: fuel, epoch interruption, a bounded wasm stack, and
    /// the pooling allocator (falling back to on-demand allocation if this
    /// machine cannot reserve the pool's address space).
    pub fn new() -> Result<Self> {
        Self::with_capacity(MAX_INSTANCES)
    }

    /// [`new`](Self::new) with room in the pool for `instances` live plugin
    /// instances instead of [`MAX_INSTANCES`] (the benchmarks keep 1,000
    /// idle plugins; each slot reserves address space, not memory).
    pub fn with_capacity(instances: u32) -> Result<Self> {
        match Engine::new(&Self::config(Some(instances.max(1)))) {
            Ok(engine) => Ok(Self {
                engine,
                pooling: true,
            }),
            Err(err) => {
                tracing::warn!(
                    "pooling allocator unavailable ({err:#}); using on-demand allocation"
                );
                let engine = Engine::new(&Self::config(None))
                    .map_err(anyhow::Error::from)
                    .context("could not create the wasmtime engine")?;
                Ok(Self {
                    engine,
                    pooling: false,
                })
            }
        }
    }

    fn config(pool_instances: Option<u32>) -> Config {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(MAX_WASM_STACK);
        // Compiled code lives in the host's own cache; nothing shared with
        // other processes, no debug info needed at run time.
        config.parallel_compilation(true);
        if let Some(instances) = pool_instances {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(instances);
            // componentize-py components have ~14 core instances.
            pool.max_core_instances_per_component(32);
            pool.total_core_instances(instances.saturating_mul(8));
            pool.max_memories_per_component(8);
            pool.total_memories(instances.saturating_mul(2));
            pool.max_tables_per_component(8);
            pool.total_tables(instances.saturating_mul(4));
            pool.total_stacks(instances);
            pool.max_memory_size(MAX_MEMORY_PER_PLUGIN as usize);
            pool.table_elements(100_000);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        config
    }

    /// The underlying wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether the pooling allocator is in use.
    pub fn is_pooling(&self) -> bool {
        self.pooling
    }

    /// A stable fingerprint of everything that makes compiled code compatible
    /// with this engine (wasmtime version, target, settings). Part of the key
    /// of every cached compiled component.
    pub fn fingerprint(&self) -> String {
        let mut hasher = std::hash::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        self.pooling.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Start the thread that advances the epoch every [`EPOCH_TICK`].
    pub fn start_epoch_ticker(&self) -> Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = self.engine.clone();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rosey-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .context("could not start the epoch ticker thread")?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

/// Keeps the epoch ticker running; stops it when dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The number of epoch ticks that covers `timeout` (at least one).
pub fn ticks_for(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_millis().max(1);
    (timeout.as_millis().div_ceil(tick) as u64).max(1)
}
