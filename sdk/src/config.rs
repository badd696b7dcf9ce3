//! The operator's configuration for this plugin (`config.yaml`), with the
//! defaults of the manifest's `config_schema` filled in. Always available.
//!
//! [`Plugin::on_config_changed`](crate::Plugin::on_config_changed) says when
//! it changes; reading it again is cheap.

use serde::de::DeserializeOwned;

use crate::wit::rosey::plugin::config;
use crate::{Context, Result};

/// The value of top-level key `key`, if set, converted from JSON.
///
/// An error means the value is set but does not fit `T`.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    get_raw(key)
        .map(|json| serde_json::from_str(&json))
        .transpose()
        .with_context(|| format!("config key `{key}`"))
}

/// The value of top-level key `key` as JSON text, if set.
pub fn get_raw(key: &str) -> Option<String> {
    config::get(key)
}

/// The whole configuration as one JSON object (empty if the host sent
/// something that is not one).
pub fn all() -> serde_json::Value {
    match serde_json::from_str(&config::get_all()) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ => serde_json::Value::Object(serde_json::Map::new()),
    }
}
