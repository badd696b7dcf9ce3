//! The `kv` import: a key-value store with TTLs, kept in a host-owned table
//! of the plugin's database.

use rusqlite::{OptionalExtension, params};

use super::HostError;
use super::sql::sql_error;
use crate::package::Permission;
use crate::runtime::bindings::rosey::plugin::kv::Host;
use crate::runtime::state::PluginState;

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// The most keys `list-keys` returns.
pub const MAX_LISTED_KEYS: usize = 10_000;

fn check_key(key: &str) -> Result<(), HostError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(HostError::Invalid(format!(
            "a key must be 1 to {MAX_KEY_BYTES} bytes long"
        )));
    }
    Ok(())
}

impl Host for PluginState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        self.ctx
            .grants
            .require(Permission::DatabaseAccess, "kv.get")?;
        check_key(&key)?;
        let quota = self.ctx.limits.storage;
        let mut db = self.ctx.database()?;
        db.as_host(|conn| {
            conn.prepare_cached(
                "SELECT value FROM _rosey_kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            )?
            .query_row(params![key, self.ctx.now_ms()], |r| r.get::<_, Vec<u8>>(0))
            .optional()
        })
        .map_err(|e| sql_error(e, quota))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), HostError> {
        self.ctx
            .grants
            .require(Permission::DatabaseAccess, "kv.set")?;
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(HostError::Limit(format!(
                "a kv value may be at most {} KiB",
                MAX_VALUE_BYTES >> 10
            )));
        }
        let now = self.ctx.now_ms();
        let expires = ttl_ms.map(|ttl| now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)));
        let quota = self.ctx.limits.storage;
        let mut db = self.ctx.database()?;
        db.as_host(|conn| {
            conn.prepare_cached("DELETE FROM _rosey_kv WHERE expires_at <= ?1")?
                .execute(params![now])?;
            conn.prepare_cached(
                "INSERT INTO _rosey_kv (key, value, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            )?
            .execute(params![key, value, expires])
        })
        .map_err(|e| sql_error(e, quota))?;
        Ok(())
    }

    async fn delete(&mut self, key: String) -> Result<bool, HostError> {
        self.ctx
            .grants
            .require(Permission::DatabaseAccess, "kv.delete")?;
        check_key(&key)?;
        let quota = self.ctx.limits.storage;
        let mut db = self.ctx.database()?;
        let now = self.ctx.now_ms();
        db.as_host(|conn| {
            conn.prepare_cached(
                "DELETE FROM _rosey_kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            )?
            .execute(params![key, now])
        })
        .map(|n| n > 0)
        .map_err(|e| sql_error(e, quota))
    }

    async fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, HostError> {
        self.ctx
            .grants
            .require(Permission::DatabaseAccess, "kv.list-keys")?;
        let quota = self.ctx.limits.storage;
        let mut db = self.ctx.database()?;
        let now = self.ctx.now_ms();
        let keys = db
            .as_host(|conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT key FROM _rosey_kv
                     WHERE substr(key, 1, length(?1)) = ?1 AND (expires_at IS NULL OR expires_at > ?2)
                     ORDER BY key LIMIT ?3",
                )?;
                stmt.query_map(params![prefix, now, MAX_LISTED_KEYS as i64 + 1], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(|e| sql_error(e, quota))?;
        if keys.len() > MAX_LISTED_KEYS {
            return Err(HostError::Limit(format!(
                "more than {MAX_LISTED_KEYS} keys match; use a longer prefix"
            )));
        }
        Ok(keys)
    }
}
