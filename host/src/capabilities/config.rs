//! The `config` import: the operator's configuration for this plugin.

use crate::runtime::bindings::rosey::plugin::config::Host;
use crate::runtime::state::PluginState;

impl Host for PluginState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.ctx.config_value(&key))
    }

    async fn get_all(&mut self) -> wasmtime::Result<String> {
        Ok(serde_json::Value::Object((*self.ctx.config()).clone()).to_string())
    }
}
