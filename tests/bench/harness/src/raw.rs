//! The raw wasmtime peer: the same component on a bare linker, with host
//! functions that do only the work itself (no grants, no limits, no
//! supervisor). What a hand-written wasmtime host would do at best.

use std::path::Path;

use anyhow::{Result, anyhow};
use rusqlite::{Connection, OptionalExtension, params};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../../../wit",
    world: "rosey:plugin/plugin",
    imports: { default: async },
    exports: { default: async },
});

use exports::rosey::plugin::guest::Message;
use rosey::plugin::types::Error as WitError;

/// How an engine interrupts guests (S8 compares these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// Neither fuel nor epochs.
    None,
    /// Epoch interruption only.
    Epoch,
    /// Fuel only.
    Fuel,
    /// Both, as Rosey runs.
    Both,
}

/// An engine with the pooling allocator, like Rosey's, minus its limits.
pub fn engine(interrupt: Interrupt) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(matches!(interrupt, Interrupt::Fuel | Interrupt::Both));
    config.epoch_interruption(matches!(interrupt, Interrupt::Epoch | Interrupt::Both));
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(64);
    pool.total_core_instances(256);
    pool.total_memories(128);
    pool.total_tables(256);
    pool.total_stacks(64);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| anyhow!("{e:#}"))
}

/// The store data of the raw peer.
pub struct RawState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Everything the guest published, until drained.
    pub published: Vec<(String, Vec<u8>)>,
    db: Option<Connection>,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl RawState {
    /// A state with a minimal WASI context and, with `db`, a database.
    pub fn new(db: Option<&Path>) -> Result<Self> {
        let db = db.map(crate::native::open).transpose()?;
        Ok(Self {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            published: Vec::new(),
            db,
        })
    }

    fn db(&mut self) -> Result<&mut Connection, WitError> {
        self.db
            .as_mut()
            .ok_or_else(|| WitError::Unavailable("no database".into()))
    }
}

fn sql_err(e: rusqlite::Error) -> WitError {
    WitError::Invalid(e.to_string())
}

fn to_sql(value: rosey::plugin::sql::Value) -> rusqlite::types::Value {
    use rosey::plugin::sql::Value;
    match value {
        Value::Null => rusqlite::types::Value::Null,
        Value::Integer(i) => rusqlite::types::Value::Integer(i),
        Value::Real(f) => rusqlite::types::Value::Real(f),
        Value::Text(s) => rusqlite::types::Value::Text(s),
        Value::Blob(b) => rusqlite::types::Value::Blob(b),
    }
}

impl rosey::plugin::types::Host for RawState {}

impl rosey::plugin::bus::Host for RawState {
    async fn publish(&mut self, subject: String, payload: Vec<u8>) -> Result<(), WitError> {
        self.published.push((subject, payload));
        Ok(())
    }
    async fn request(
        &mut self,
        _subject: String,
        _payload: Vec<u8>,
        _timeout_ms: u32,
    ) -> Result<rosey::plugin::types::Message, WitError> {
        Err(WitError::Unavailable("no bus".into()))
    }
}

impl rosey::plugin::chat::Host for RawState {
    async fn send(&mut self, _channel: String, _text: String) -> Result<(), WitError> {
        Ok(())
    }
}

impl rosey::plugin::config::Host for RawState {
    async fn get(&mut self, _key: String) -> Option<String> {
        None
    }
    async fn get_all(&mut self) -> String {
        "{}".into()
    }
}

impl rosey::plugin::log::Host for RawState {
    async fn log(&mut self, _level: rosey::plugin::log::Level, _message: String) {}
}

impl rosey::plugin::kv::Host for RawState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, WitError> {
        let now = crate::native::now_ms();
        self.db()?
            .prepare_cached(crate::native::KV_GET)
            .and_then(|mut s| s.query_row(params![key, now], |r| r.get(0)).optional())
            .map_err(sql_err)
    }
    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        _ttl_ms: Option<u64>,
    ) -> Result<(), WitError> {
        self.db()?
            .prepare_cached(crate::native::KV_SET)
            .and_then(|mut s| s.execute(params![key, value]))
            .map(drop)
            .map_err(sql_err)
    }
    async fn delete(&mut self, _key: String) -> Result<bool, WitError> {
        Err(WitError::Other("not in the benchmark".into()))
    }
    async fn list_keys(&mut self, _prefix: String) -> Result<Vec<String>, WitError> {
        Err(WitError::Other("not in the benchmark".into()))
    }
}

impl rosey::plugin::sql::Host for RawState {
    async fn execute(
        &mut self,
        sql: String,
        params: Vec<rosey::plugin::sql::Value>,
    ) -> Result<u64, WitError> {
        self.db()?
            .prepare_cached(&sql)
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(params.into_iter().map(to_sql))))
            .map(|n| n as u64)
            .map_err(sql_err)
    }
    async fn query(
        &mut self,
        _sql: String,
        _params: Vec<rosey::plugin::sql::Value>,
    ) -> Result<rosey::plugin::sql::RowSet, WitError> {
        Err(WitError::Other("not in the benchmark".into()))
    }
    async fn transaction(
        &mut self,
        _statements: Vec<rosey::plugin::sql::Statement>,
    ) -> Result<Vec<u64>, WitError> {
        Err(WitError::Other("not in the benchmark".into()))
    }
}

/// A linked, ready-to-instantiate raw peer.
pub struct RawHost {
    /// Its engine.
    pub engine: Engine,
    /// The component, linked.
    pub pre: PluginPre<RawState>,
    fuel: bool,
}

impl RawHost {
    /// Compile `wasm` and link it on `engine`.
    pub fn new(interrupt: Interrupt, wasm: &[u8]) -> Result<Self> {
        let engine = engine(interrupt)?;
        let fuel = matches!(interrupt, Interrupt::Fuel | Interrupt::Both);
        let component = Component::new(&engine, wasm).map_err(|e| anyhow!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!("{e:#}"))?;
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(|e| anyhow!("{e:#}"))?;
        let pre = PluginPre::new(
            linker
                .instantiate_pre(&component)
                .map_err(|e| anyhow!("{e:#}"))?,
        )
        .map_err(|e| anyhow!("{e:#}"))?;
        Ok(Self { engine, pre, fuel })
    }

    /// A fresh instance (`init` called).
    pub async fn instance(&self, db: Option<&Path>) -> Result<RawInstance> {
        let mut store = Store::new(&self.engine, RawState::new(db)?);
        if self.fuel {
            store.set_fuel(u64::MAX / 2).map_err(|e| anyhow!("{e:#}"))?;
        }
        store.set_epoch_deadline(u64::MAX / 2);
        let plugin = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("{e:#}"))?;
        plugin
            .rosey_plugin_guest()
            .call_init(&mut store)
            .await
            .map_err(|e| anyhow!("{e:#}"))?
            .map_err(|e| anyhow!(e))?;
        Ok(RawInstance { store, plugin })
    }
}

/// One live raw instance.
pub struct RawInstance {
    /// Its store.
    pub store: Store<RawState>,
    plugin: Plugin,
}

impl RawInstance {
    /// Call `on-message` with `subject` and `payload`.
    pub async fn on_message(&mut self, subject: &str, payload: &[u8]) -> Result<()> {
        let msg = Message {
            subject: subject.to_owned(),
            payload: payload.to_vec(),
            headers: Vec::new(),
            reply_to: None,
        };
        self.plugin
            .rosey_plugin_guest()
            .call_on_message(&mut self.store, &msg)
            .await
            .map_err(|e| anyhow!("{e:#}"))?
            .map_err(|e| anyhow!(e))
    }
}

impl RawHost {
    /// Only a fresh Store and instance, no `init` (S5).
    pub async fn instantiate_only(&self) -> Result<()> {
        let mut store = Store::new(&self.engine, RawState::new(None)?);
        if self.fuel {
            store.set_fuel(u64::MAX / 2).map_err(|e| anyhow!("{e:#}"))?;
        }
        store.set_epoch_deadline(u64::MAX / 2);
        self.pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("{e:#}"))?;
        Ok(())
    }
}
