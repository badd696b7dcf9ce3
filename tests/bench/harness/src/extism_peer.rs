//! The Extism peer: the `extism` host crate running the extism-pdk guest
//! (guests/extism-bench), with host functions doing the same work as
//! Rosey's imports.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, ensure};
use extism::{CompiledPlugin, CurrentPlugin, Function, PTR, Plugin, PluginBuilder, UserData, Val};
use rusqlite::{Connection, OptionalExtension, params};

/// A configuration lookup of a key that is not set: read the key, answer
/// with nothing (what Rosey's `config.get` does for it).
fn config_get(
    plugin: &mut CurrentPlugin,
    inputs: &[Val],
    outputs: &mut [Val],
    config: UserData<std::collections::BTreeMap<String, String>>,
) -> Result<(), extism::Error> {
    let key: String = plugin.memory_get_val(&inputs[0])?;
    let config = config.get()?;
    let config = config
        .lock()
        .map_err(|_| anyhow!("the configuration lock is poisoned"))?;
    let value = config.get(&key).cloned().unwrap_or_default();
    let handle = plugin.memory_new(value)?;
    outputs[0] = plugin.memory_to_val(handle);
    Ok(())
}

fn kv_get(
    plugin: &mut CurrentPlugin,
    inputs: &[Val],
    outputs: &mut [Val],
    db: UserData<Connection>,
) -> Result<(), extism::Error> {
    let key: String = plugin.memory_get_val(&inputs[0])?;
    let db = db.get()?;
    let conn = db
        .lock()
        .map_err(|_| anyhow!("the database lock is poisoned"))?;
    let value: Option<Vec<u8>> = conn
        .prepare_cached(crate::native::KV_GET)?
        .query_row(params![key, crate::native::now_ms()], |r| r.get(0))
        .optional()?;
    let handle = plugin.memory_new(value.unwrap_or_default())?;
    outputs[0] = plugin.memory_to_val(handle);
    Ok(())
}

fn builder(wasm: &[u8], db: &Path) -> Result<PluginBuilder<'static>> {
    let conn = crate::native::open(db)?;
    conn.prepare_cached(crate::native::KV_SET)?
        .execute(params![
            "bench-key",
            b"0123456789abcdef0123456789abcdef".to_vec()
        ])?;
    let functions = [
        Function::new(
            "bench_config_get",
            [PTR],
            [PTR],
            UserData::new(std::collections::BTreeMap::new()),
            config_get,
        ),
        Function::new("bench_kv_get", [PTR], [PTR], UserData::new(conn), kv_get),
    ];
    Ok(
        PluginBuilder::new(extism::Manifest::new([extism::Wasm::data(wasm.to_vec())]))
            .with_cache_disabled()
            .with_functions(functions),
    )
}

/// A compiled Extism plugin, for fresh instances (S5).
pub struct ExtismFactory {
    compiled: CompiledPlugin,
    _db: PathBuf,
}

impl ExtismFactory {
    /// Compile the guest once.
    pub fn new(wasm: &[u8], db: &Path) -> Result<Self> {
        Ok(Self {
            compiled: builder(wasm, db)?.compile()?,
            _db: db.to_owned(),
        })
    }

    /// Extism's fastest way to a fresh instance: `Plugin::new_from_compiled`.
    pub fn instantiate(&self) -> Result<Plugin> {
        Plugin::new_from_compiled(&self.compiled)
    }
}

/// One live Extism plugin.
pub struct ExtismPeer {
    plugin: Plugin,
}

impl ExtismPeer {
    /// Load the guest.
    pub fn new(wasm: &[u8], db: &Path) -> Result<Self> {
        Ok(Self {
            plugin: builder(wasm, db)?.build()?,
        })
    }

    /// Call the export `name` with `input`; the output's length.
    pub fn call(&mut self, name: &str, input: &[u8]) -> Result<usize> {
        let out: &[u8] = self.plugin.call(name, input)?;
        Ok(out.len())
    }

    /// Echo `payload` and check it came back whole.
    pub fn echo(&mut self, payload: &[u8]) -> Result<()> {
        let out: &[u8] = self.plugin.call("echo", payload)?;
        ensure!(
            out == payload,
            "echo returned {} bytes for {}",
            out.len(),
            payload.len()
        );
        Ok(())
    }
}
