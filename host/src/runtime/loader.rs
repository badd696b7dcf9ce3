//! Turning a plugin's component into running instances: the linker, the
//! compile cache, the check of imports against grants, and fresh stores.

use std::fs;
use std::io::Read;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::bindings::{Plugin, PluginPre};
use super::compile_cache::{CacheRecord, WasmStamp};
use super::engine::RoseyEngine;
use super::limits::{HOSTCALL_FUEL, MAX_COMPONENT_HANDLES};
use super::state::{PluginContext, PluginState};
use crate::capabilities::Grants;
use crate::capabilities::stdio::PluginOutput;
use crate::home::{PluginPaths, write_atomic};
use crate::package::Permission;

/// One live instance of a plugin: its store and its exports.
pub struct Instance {
    /// The instance's store (dropped after a trap).
    pub store: Store<PluginState>,
    /// The plugin's exports.
    pub plugin: Plugin,
}

/// Compiles, caches and instantiates plugins against the Rosey world.
#[derive(Clone)]
pub struct Runtime {
    engine: RoseyEngine,
    /// WASI (sockets linked, every connection denied) and the Rosey imports.
    linker: Arc<Linker<PluginState>>,
    /// The same plus `wasi:http`, for plugins granted `http_requests` only.
    http_linker: Arc<Linker<PluginState>>,
    /// Components compiled lately, newest last, by cache key: an install
    /// checks a component and then stages it, an update or `rosey dev`
    /// reload often brings bytes compiled moments before. A `Component` is
    /// a cheap handle, so a hit costs nothing.
    recent: Arc<std::sync::Mutex<std::collections::VecDeque<(String, Component)>>>,
}

/// How many compiled components [`Runtime`] keeps in memory.
const RECENT_COMPONENTS: usize = 8;

/// The longest a component may take to compile.
pub const COMPILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Imports that need a permission: (interface prefix, permission).
pub const GUARDED_IMPORTS: &[(&str, Permission)] = &[
    ("rosey:plugin/sql@", Permission::DatabaseAccess),
    ("rosey:plugin/kv@", Permission::DatabaseAccess),
    ("rosey:plugin/chat@", Permission::SendMessages),
    ("wasi:http/", Permission::HttpRequests),
];

impl Runtime {
    /// A runtime on `engine` with WASI Preview 2 and the Rosey imports linked.
    pub fn new(engine: RoseyEngine) -> Result<Self> {
        let mut linker = Linker::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        let mut http_linker = linker.clone();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut http_linker)?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            http_linker: Arc::new(http_linker),
            recent: Arc::default(),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &RoseyEngine {
        &self.engine
    }

    /// Compile a component from wasm bytes (validated as a component by the
    /// package reader; never precompiled bytes), on a thread of its own with
    /// a deadline: a component crafted to be slow to compile is refused
    /// after [`COMPILE_TIMEOUT`] instead of stalling an install or a start.
    /// (The compile itself cannot be cancelled; it ends in the background.)
    pub fn compile(&self, wasm: &[u8]) -> Result<Component> {
        let key = self.cache_key(wasm);
        if let Ok(recent) = self.recent.lock()
            && let Some((_, component)) = recent.iter().find(|(k, _)| *k == key)
        {
            return Ok(component.clone());
        }
        let component = self.compile_uncached(wasm)?;
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == RECENT_COMPONENTS {
                recent.pop_front();
            }
            recent.push_back((key, component.clone()));
        }
        Ok(component)
    }

    fn compile_uncached(&self, wasm: &[u8]) -> Result<Component> {
        let engine = self.engine.engine().clone();
        let wasm = wasm.to_vec();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("rosey-compile".into())
            .spawn(move || {
                let _ = tx.send(Component::new(&engine, &wasm));
            })
            .context("could not start a compile thread")?;
        match rx.recv_timeout(COMPILE_TIMEOUT) {
            Ok(compiled) => compiled
                .map_err(anyhow::Error::from)
                .context("plugin.wasm does not compile"),
            Err(_) => {
                bail!("plugin.wasm did not compile within {COMPILE_TIMEOUT:?}; it is refused")
            }
        }
    }

    /// The cache key for `wasm` on this engine.
    fn cache_key(&self, wasm: &[u8]) -> String {
        format!(
            "{}-{}",
            self.engine.fingerprint(),
            hex::encode(Sha256::digest(wasm))
        )
    }

    /// Store `component` (compiled from `wasm`) in the plugin's cache. The
    /// record gets no stamp: the next [`load`](Self::load) checks the digest
    /// against the file it finds and stamps it then.
    pub fn write_cache(
        &self,
        paths: &PluginPaths,
        component: &Component,
        wasm: &[u8],
    ) -> Result<()> {
        let record = CacheRecord {
            key: self.cache_key(wasm),
            stamp: None,
        };
        Self::store(paths, component, &record)
    }

    /// Write `component`'s compiled code and then its `record`.
    fn store(paths: &PluginPaths, component: &Component, record: &CacheRecord) -> Result<()> {
        let bytes = component
            .serialize()
            .map_err(anyhow::Error::from)
            .context("could not serialize compiled code")?;
        // The old record goes first: a crash between the two writes must not
        // leave it vouching for new code.
        match fs::remove_file(&paths.compiled_key) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e)
                    .with_context(|| format!("could not remove {}", paths.compiled_key.display()));
            }
            _ => {}
        }
        write_atomic(&paths.compiled, &bytes)?;
        write_atomic(&paths.compiled_key, record.render().as_bytes())
    }

    /// Load the plugin's component: from the host's own cache if it was
    /// compiled by a compatible engine from the same wasm, else compile it
    /// (and refresh the cache). Returns the component and whether the cache
    /// was used.
    ///
    /// "The same wasm" is proved by its digest, or, without reading it, by
    /// the stamp the record holds of the file as it was when the digest was
    /// last checked (see [`compile_cache`](super::compile_cache)).
    pub fn load(&self, paths: &PluginPaths) -> Result<(Component, bool)> {
        let record = fs::read_to_string(&paths.compiled_key)
            .map(|text| CacheRecord::parse(&text))
            .unwrap_or_default();
        let current = fs::metadata(&paths.wasm)
            .ok()
            .and_then(|meta| WasmStamp::of(&meta));
        if record.vouches_for(&self.engine.fingerprint(), current)
            && let Some(component) = self.deserialize_cached(paths)
        {
            return Ok((component, true));
        }

        // Read the bytes and their metadata through one handle, so a stamp
        // describes the file the digest was taken of (a write during the
        // read leaves the file too fresh to be stamped).
        let (wasm, meta) = fs::File::open(&paths.wasm)
            .and_then(|mut file| {
                let meta = file.metadata()?;
                let mut wasm = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
                file.read_to_end(&mut wasm)?;
                Ok((wasm, meta))
            })
            .with_context(|| format!("could not read {}", paths.wasm.display()))?;
        let key = self.cache_key(&wasm);
        let stamp = WasmStamp::settled(&meta, std::time::SystemTime::now());
        if record.key == key
            && let Some(component) = self.deserialize_cached(paths)
        {
            if stamp.is_some() && record.stamp != stamp {
                let record = CacheRecord { key, stamp };
                if let Err(e) = write_atomic(&paths.compiled_key, record.render().as_bytes()) {
                    tracing::debug!("could not stamp the compiled cache: {e:#}");
                }
            }
            return Ok((component, true));
        }
        let component = self.compile(&wasm)?;
        if let Err(e) = Self::store(paths, &component, &CacheRecord { key, stamp }) {
            tracing::warn!("could not write the compiled cache: {e:#}");
        }
        Ok((component, false))
    }

    /// The cached compiled code, if it is there and deserializes (a record
    /// has already vouched for it).
    fn deserialize_cached(&self, paths: &PluginPaths) -> Option<Component> {
        if !paths.compiled.is_file() {
            return None;
        }
        // SAFETY: `compiled.cwasm` is written only by the host
        // (`write_cache`), in the plugin's directory outside the part
        // (`files/`) a plugin can reach, and its record matches this engine
        // and this exact wasm. Bytes from an archive are never passed here.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(self.engine.engine(), &paths.compiled) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!("compiled cache unusable, recompiling: {e:#}");
                None
            }
        }
    }

    /// Check the component's imports against the plugin's grants and link it.
    ///
    /// A component that imports a capability it was not granted is refused,
    /// naming the import and the missing permission; one that imports
    /// something Rosey never provides is refused, naming it.
    pub fn prepare(
        &self,
        component: &Component,
        grants: &Grants,
    ) -> Result<PluginPre<PluginState>> {
        let ty = component.component_type();
        for (name, _) in ty.imports(self.engine.engine()) {
            for (prefix, permission) in GUARDED_IMPORTS {
                if name.starts_with(prefix) && !grants.has(*permission) {
                    bail!(
                        "the component imports `{name}`, which needs the `{permission}` permission; \
                         add it to the manifest's permissions or stop using that interface"
                    );
                }
            }
        }
        // Not granted means not linked: without http_requests a component
        // importing wasi:http was refused above, and this linker has none.
        let linker = if grants.has(Permission::HttpRequests) {
            &self.http_linker
        } else {
            &self.linker
        };
        let pre = linker.instantiate_pre(component).map_err(|e| {
            anyhow::anyhow!(
                "the component cannot be linked: {e:#} (Rosey provides rosey:plugin@0.1.0, \
                 WASI 0.2 without sockets, and wasi:http with http_requests)"
            )
        })?;
        PluginPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export rosey:plugin/guest@0.1.0")
    }

    /// A fresh store for `ctx`'s plugin: WASI with only its granted
    /// directories, captured stdio and no network; its memory limiter; fuel
    /// and epoch deadlines set per call by the caller.
    pub fn new_store(&self, ctx: Arc<PluginContext>) -> Result<Store<PluginState>> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(PluginOutput::stdout(Arc::clone(&ctx.log)))
            .stderr(PluginOutput::stderr(Arc::clone(&ctx.log)))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let over_quota = ctx.over_quota.load(std::sync::atomic::Ordering::Relaxed);
        let data_perms = if ctx.grants.has(Permission::FileWrite) && !over_quota {
            Some(FsPerms::ReadWrite)
        } else if ctx.grants.has(Permission::FileRead) || over_quota {
            Some(FsPerms::ReadOnly)
        } else {
            None
        };
        if let Some(perms) = data_perms {
            wasi.preopened_dir(&ctx.paths.files, "/data", perms)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("could not open {}", ctx.paths.files.display()))?;
        }
        if ctx.paths.assets.is_dir() {
            wasi.preopened_dir(&ctx.paths.assets, "/assets", FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("could not open {}", ctx.paths.assets.display()))?;
        }
        if let Some(simulation) = &ctx.simulation {
            simulation.configure(&mut wasi);
        }
        let state = PluginState::new(ctx, wasi.build());
        let mut store = Store::new(self.engine.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(HOSTCALL_FUEL);
        store.set_max_component_handles(MAX_COMPONENT_HANDLES);
        store.epoch_deadline_trap();
        store.set_fuel(0)?;
        Ok(store)
    }

    /// Instantiate a prepared plugin in a fresh store.
    pub async fn instantiate(
        &self,
        pre: &PluginPre<PluginState>,
        ctx: Arc<PluginContext>,
    ) -> wasmtime::Result<Instance> {
        let mut store = self.new_store(ctx).map_err(wasmtime::Error::from_anyhow)?;
        // Instantiation runs start functions and data initialisers: give it
        // the same budget as a call.
        let limits = store.data().ctx.limits.clone();
        store.set_fuel(limits.fuel_per_call)?;
        store.set_epoch_deadline(super::engine::ticks_for(limits.timeout));
        let plugin = pre.instantiate_async(&mut store).await?;
        Ok(Instance { store, plugin })
    }
}
