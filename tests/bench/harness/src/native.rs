//! The native peer: rusqlite on a database opened as Rosey opens a
//! plugin's (same pragmas, same statements), with no wasm in between.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use rusqlite::{Connection, params};

/// The statement Rosey's `kv.get` runs.
pub const KV_GET: &str =
    "SELECT value FROM _rosey_kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
/// A `kv.set` without TTL.
pub const KV_SET: &str = "INSERT INTO _rosey_kv (key, value, expires_at) VALUES (?1, ?2, NULL)
     ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = NULL";
/// The benchmark's table, as the guest creates it.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, user TEXT NOT NULL, n INTEGER NOT NULL)";
/// The insert of S4, as the guest sends it.
pub const INSERT: &str = "INSERT INTO events (user, n) VALUES (?1, ?2)";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Open `path` with the pragmas of Rosey's plugin databases and its tables.
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _rosey_kv (
             key TEXT PRIMARY KEY NOT NULL,
             value BLOB NOT NULL,
             expires_at INTEGER
         ) WITHOUT ROWID;",
    )?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch("DELETE FROM events")?;
    Ok(conn)
}

/// `n` inserts, autocommit or in one transaction; the time per insert.
pub fn inserts(path: &Path, n: u64, in_transaction: bool) -> Result<Duration> {
    let conn = open(path)?;
    let started = Instant::now();
    if in_transaction {
        conn.execute_batch("BEGIN")?;
    }
    for i in 0..n {
        conn.prepare_cached(INSERT)?
            .execute(params!["bench-user", i as i64])?;
    }
    if in_transaction {
        conn.execute_batch("COMMIT")?;
    }
    let elapsed = started.elapsed();
    let rows: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    anyhow::ensure!(rows as u64 == n, "{rows} rows after {n} inserts");
    Ok(elapsed / n.max(1) as u32)
}
