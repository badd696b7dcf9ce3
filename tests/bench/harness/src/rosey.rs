//! Rosey's side: the host's own runtime, contexts and per-plugin runner
//! (`rosey_host::supervisor::runner::Runner`), exactly as `rosey start`
//! uses them, with the bus kept in memory so only the host's dispatch path
//! is measured (S9 adds NATS).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use rosey_host::bus::{Bus, MemoryBus};
use rosey_host::capabilities::Grants;
use rosey_host::capabilities::http::HttpPolicy;
use rosey_host::home::PluginPaths;
use rosey_host::package::Manifest;
use rosey_host::runtime::bindings::{Message, PluginPre};
use rosey_host::runtime::loader::Instance;
use rosey_host::runtime::state::{PluginContext, PluginState};
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::supervisor::policy::SupervisionPolicy;
use rosey_host::supervisor::runner::{Event, Runner};
use rosey_host::supervisor::status::LiveState;
use tokio::sync::{mpsc, oneshot};

/// The benchmark guest's manifest as the suite installs it.
pub const MANIFEST: &str = include_str!("../../guests/rosey-bench/manifest.yaml");

/// The Rosey host pieces for one plugin.
pub struct RoseyBench {
    /// The runtime (engine, linker, compile cache).
    pub runtime: Runtime,
    /// The plugin, checked against its grants and linked.
    pub pre: PluginPre<PluginState>,
    /// Its lasting context.
    pub ctx: Arc<PluginContext>,
    /// Where its publishes go.
    pub memory: Arc<MemoryBus>,
    manifest: Manifest,
    paths: PluginPaths,
    _dir: tempfile::TempDir,
}

impl RoseyBench {
    /// Compile and link `wasm` on a fresh engine with room for `instances`.
    pub fn new(wasm: &[u8], instances: u32) -> Result<Self> {
        let engine = RoseyEngine::with_capacity(instances)?;
        let runtime = Runtime::new(engine)?;
        let manifest = Manifest::from_yaml(MANIFEST).map_err(|e| anyhow!("{e}"))?;
        let grants = Grants::from_manifest(&manifest);
        let component = runtime.compile(wasm)?;
        let pre = runtime.prepare(&component, &grants)?;
        let dir = tempfile::tempdir()?;
        let paths = PluginPaths::at(dir.path().join("rosey-bench"));
        std::fs::create_dir_all(&paths.files)?;
        let memory = Arc::new(MemoryBus::new(Vec::new()));
        let mut bench = Self {
            runtime,
            pre,
            ctx: Arc::new(context(&manifest, &paths, None)),
            memory,
            manifest,
            paths,
            _dir: dir,
        };
        bench.ctx = Arc::new(bench.context());
        Ok(bench)
    }

    /// A fresh context for this plugin (as the supervisor makes at start).
    pub fn context(&self) -> PluginContext {
        context(
            &self.manifest,
            &self.paths,
            Some(Bus::Memory(Arc::clone(&self.memory))),
        )
    }

    /// The plugin's runner (the actor that owns its Store), not started.
    pub fn runner(&self) -> Runner {
        Runner::new(
            self.runtime.clone(),
            self.pre.clone(),
            Arc::clone(&self.ctx),
            Arc::new(LiveState::new()),
            Some(Bus::Memory(Arc::clone(&self.memory))),
            SupervisionPolicy::default(),
            None,
        )
    }

    /// Start the plugin's runner on its own task, as the supervisor does;
    /// events go in through the returned mailbox.
    pub fn start(&self) -> Plugin {
        let (tx, rx) = mpsc::channel(rosey_host::supervisor::runner::MAILBOX_CAPACITY);
        let task = tokio::spawn(self.runner().run(rx));
        Plugin {
            mailbox: tx,
            task,
            ctx: Arc::clone(&self.ctx),
        }
    }

    /// A fresh instance: new Store, WASI context and limits (S5).
    pub async fn instantiate(&self, ctx: Arc<PluginContext>) -> Result<Instance> {
        self.runtime
            .instantiate(&self.pre, ctx)
            .await
            .map_err(|e| anyhow!("{e:#}"))
    }
}

fn context(manifest: &Manifest, paths: &PluginPaths, bus: Option<Bus>) -> PluginContext {
    PluginContext::new(
        manifest.name.clone(),
        Grants::from_manifest(manifest),
        manifest.limits(),
        paths.clone(),
        bus,
        serde_json::Map::new(),
        HttpPolicy::new(&[], false),
    )
}

/// A running plugin: its mailbox.
pub struct Plugin {
    mailbox: mpsc::Sender<Event>,
    task: tokio::task::JoinHandle<()>,
    ctx: Arc<PluginContext>,
}

/// A message as the NATS bridge hands it to a runner.
pub fn message(subject: &str, payload: &[u8]) -> Message {
    Message {
        subject: subject.to_owned(),
        payload: payload.to_vec(),
        headers: Vec::new(),
        reply_to: None,
    }
}

impl Plugin {
    /// Deliver `n` messages and wait until all are handled; the time taken.
    pub async fn deliver(&self, subject: &str, payload: &[u8], n: u64) -> Result<Duration> {
        let errors = self.failures();
        let started = Instant::now();
        for _ in 0..n {
            self.mailbox
                .send(Event::Message(message(subject, payload)))
                .await
                .map_err(|_| anyhow!("the runner stopped"))?;
        }
        self.barrier().await?;
        let elapsed = started.elapsed();
        ensure!(
            self.failures() == errors,
            "the guest failed on {subject} (see the plugin log above)"
        );
        Ok(elapsed)
    }

    /// Wait until every event sent so far is handled.
    pub async fn barrier(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.mailbox
            .send(Event::Barrier(tx))
            .await
            .map_err(|_| anyhow!("the runner stopped"))?;
        rx.await.context("the runner stopped")
    }

    fn failures(&self) -> u64 {
        failures(&self.ctx)
    }

    /// Stop the runner (shutdown called).
    pub async fn stop(self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.mailbox
            .send(Event::Shutdown(tx))
            .await
            .map_err(|_| anyhow!("the runner stopped"))?;
        rx.await.context("the runner stopped")?;
        self.task.await?;
        Ok(())
    }
}

/// Failed calls so far (guest errors and traps).
pub fn failures(ctx: &PluginContext) -> u64 {
    let stats = ctx.stats.snapshot();
    stats.errors + stats.traps
}
