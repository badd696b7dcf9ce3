//! A key-value store kept in the plugin's private database. Needs
//! `database_access`.
//!
//! Values are bytes; the `_string` and `_json` variants convert for you.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wit::rosey::plugin::kv;
use crate::{Context, Result};

/// The value stored under `key`, unless absent or expired.
pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
    Ok(kv::get(key)?)
}

/// The value stored under `key` as UTF-8 text.
pub fn get_string(key: &str) -> Result<Option<String>> {
    get(key)?
        .map(String::from_utf8)
        .transpose()
        .with_context(|| format!("kv key `{key}`"))
}

/// The value stored under `key`, parsed from JSON.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    get(key)?
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .with_context(|| format!("kv key `{key}`"))
}

/// Stores `value` under `key`, replacing any previous value.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<()> {
    Ok(kv::set(key, value.as_ref(), None)?)
}

/// Stores `value` under `key` as UTF-8 text.
pub fn set_string(key: &str, value: &str) -> Result<()> {
    set(key, value)
}

/// Stores `value` under `key` as JSON.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
    set(key, serde_json::to_vec(value)?)
}

/// Stores `value` under `key`; it expires `ttl` from now.
pub fn set_with_ttl(key: &str, value: impl AsRef<[u8]>, ttl: Duration) -> Result<()> {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    Ok(kv::set(key, value.as_ref(), Some(ttl_ms))?)
}

/// Removes `key`; `true` if it was present.
pub fn delete(key: &str) -> Result<bool> {
    Ok(kv::delete(key)?)
}

/// The keys that start with `prefix` (all keys for `""`), sorted.
pub fn list_keys(prefix: &str) -> Result<Vec<String>> {
    Ok(kv::list_keys(prefix)?)
}
