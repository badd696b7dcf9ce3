//! A plugin's private SQLite database, hardened against the plugin.
//!
//! The file lives at `plugins/<name>/database.db`, outside the directory the
//! plugin can see through WASI. Every statement a plugin sends is checked by
//! an authorizer (no ATTACH/DETACH, no `load_extension`, a PRAGMA allow-list,
//! no access to the host's own `_rosey_*` tables), runs with
//! `SQLITE_LIMIT_ATTACHED = 0`, DEFENSIVE on and TRUSTED_SCHEMA off, is
//! interrupted by a progress handler when the plugin's call deadline passes,
//! and cannot grow the file past the plugin's storage quota.
//!
//! Statements are prepared once and kept in the connection's cache. The
//! plugin's statements are cached under a tagged key ([`plugin_statement`]),
//! so text the plugin sends never finds a statement the host prepared with
//! its own privileges, and the host never finds one the plugin prepared.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{CachedStatement, Connection, OpenFlags, config::DbConfig};
use sha2::{Digest, Sha256};

use crate::package::Migration;
use crate::protocol::now_ms;
use crate::runtime::state::Deadline;

/// Tables whose names start with this belong to the host (kv, migrations).
pub const HOST_TABLE_PREFIX: &str = "_rosey_";

/// PRAGMAs a plugin may run. Everything else (journal_mode, max_page_count,
/// writable_schema, mmap_size, temp_store_directory, ...) is denied.
const ALLOWED_PRAGMAS: &[&str] = &[
    "application_id",
    "collation_list",
    "data_version",
    "foreign_key_check",
    "foreign_key_list",
    "foreign_keys",
    "freelist_count",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "optimize",
    "page_count",
    "page_size",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
    "user_version",
];

/// Virtual table modules a plugin may create (full-text search and r-trees).
const ALLOWED_VTABLE_MODULES: &[&str] = &["fts4", "fts5", "rtree"];

/// How often (in SQLite VM steps) the progress handler checks the deadline.
const PROGRESS_STEPS: i32 = 1000;

/// How many prepared statements (the host's and the plugin's together) the
/// connection keeps. rusqlite's default of 16 is evicted by a plugin with a
/// handful of queries of its own.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// The prefix of a plugin statement's cache key. An SQL comment, so SQLite
/// compiles the statement unchanged; the host's own SQL never starts with it,
/// so no text a plugin sends can name a host statement in the cache.
const PLUGIN_STATEMENT_TAG: &str = "/* plugin */ ";

/// Prepare (or take from the cache) a statement the plugin sent, on a
/// connection from [`PluginDb::plugin`] (or a transaction on it), so the
/// authorizer holds the plugin to its rules when SQLite compiles, or
/// recompiles after a schema change, the statement.
pub(crate) fn plugin_statement<'conn>(
    conn: &'conn Connection,
    sql: &str,
) -> rusqlite::Result<CachedStatement<'conn>> {
    let mut key = String::with_capacity(PLUGIN_STATEMENT_TAG.len() + sql.len());
    key.push_str(PLUGIN_STATEMENT_TAG);
    key.push_str(sql);
    conn.prepare_cached(&key)
}

/// Take the cache tag back out of an error about a plugin statement, so the
/// plugin sees its own SQL and offsets into it.
pub(crate) fn untag_error(err: rusqlite::Error) -> rusqlite::Error {
    match err {
        rusqlite::Error::SqlInputError {
            error,
            msg,
            sql,
            offset,
        } if sql.starts_with(PLUGIN_STATEMENT_TAG) => rusqlite::Error::SqlInputError {
            error,
            msg,
            sql: sql[PLUGIN_STATEMENT_TAG.len()..].to_string(),
            offset: (offset - PLUGIN_STATEMENT_TAG.len() as i32).max(0),
        },
        other => other,
    }
}

/// A plugin's hardened database connection.
pub struct PluginDb {
    conn: Connection,
    host_mode: Arc<AtomicBool>,
    quota: u64,
}

impl PluginDb {
    /// Open (creating if needed) the database at `path`, harden it, and make
    /// sure the host's own tables exist. `quota` caps the file size in bytes;
    /// statements are interrupted once `deadline` passes.
    pub fn open(path: &Path, quota: u64, deadline: Arc<Deadline>) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("could not open database {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(2))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let max_pages = (quota / page_size.max(512) as u64).max(16);
        conn.pragma_update(None, "max_page_count", max_pages as i64)?;

        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, 8 << 20)?;
        conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, 1 << 20)?;
        conn.set_limit(Limit::SQLITE_LIMIT_EXPR_DEPTH, 200)?;
        conn.set_limit(Limit::SQLITE_LIMIT_COMPOUND_SELECT, 100)?;
        conn.set_limit(Limit::SQLITE_LIMIT_VARIABLE_NUMBER, 999)?;
        conn.set_limit(Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 20)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;

        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS _rosey_kv (
                 key TEXT PRIMARY KEY NOT NULL,
                 value BLOB NOT NULL,
                 expires_at INTEGER
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS _rosey_migrations (
                 version INTEGER PRIMARY KEY NOT NULL,
                 name TEXT NOT NULL,
                 checksum TEXT NOT NULL,
                 applied_at INTEGER NOT NULL
             );",
        )?;

        let host_mode = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&host_mode);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if flag.load(Ordering::Relaxed) {
                Authorization::Allow
            } else {
                authorize_plugin(&ctx.action)
            }
        }))?;
        conn.progress_handler(PROGRESS_STEPS, Some(move || deadline.expired()))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(Self {
            conn,
            host_mode,
            quota,
        })
    }

    /// The connection, for statements sent by the plugin (authorizer active).
    pub fn plugin(&mut self) -> &mut Connection {
        self.host_mode.store(false, Ordering::Relaxed);
        &mut self.conn
    }

    /// Run `f` with the host's privileges (the authorizer lets everything
    /// through). Only ever pass SQL written by the host.
    pub fn as_host<R>(&mut self, f: impl FnOnce(&mut Connection) -> R) -> R {
        self.host_mode.store(true, Ordering::Relaxed);
        let result = f(&mut self.conn);
        self.host_mode.store(false, Ordering::Relaxed);
        result
    }

    /// The storage quota in bytes.
    pub fn quota(&self) -> u64 {
        self.quota
    }

    /// The versions of the migrations applied so far, in order.
    pub fn applied_migrations(&mut self) -> Result<Vec<(u32, String)>> {
        self.as_host(|conn| {
            let mut stmt =
                conn.prepare("SELECT version, checksum FROM _rosey_migrations ORDER BY version")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Apply every migration not applied yet, in order, each in its own
    /// transaction with the plugin's restrictions. A migration that was
    /// changed after it was applied is refused. Returns how many were applied.
    pub fn apply_migrations(&mut self, migrations: &[Migration]) -> Result<usize> {
        let applied = self.applied_migrations()?;
        let mut count = 0;
        for migration in migrations {
            let checksum = hex::encode(Sha256::digest(migration.up.as_bytes()));
            if let Some((_, recorded)) = applied.iter().find(|(v, _)| *v == migration.version) {
                if *recorded != checksum {
                    bail!(
                        "migration {:03}_{} was changed after it was applied; \
                         add a new migration instead of editing an applied one",
                        migration.version,
                        migration.name
                    );
                }
                continue;
            }
            let label = format!("{:03}_{}", migration.version, migration.name);
            let tx = self.conn.transaction()?;
            tx.execute_batch(&migration.up)
                .with_context(|| format!("migration {label} failed"))?;
            self.host_mode.store(true, Ordering::Relaxed);
            let recorded = tx.execute(
                "INSERT INTO _rosey_migrations (version, name, checksum, applied_at)
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![migration.version, migration.name, checksum, now_ms()],
            );
            self.host_mode.store(false, Ordering::Relaxed);
            recorded?;
            tx.commit()
                .with_context(|| format!("migration {label} failed"))?;
            count += 1;
        }
        Ok(count)
    }

    /// Revert the last `steps` applied migrations, newest first, with the
    /// down SQL of `migrations` (the installed package's), all in one
    /// transaction with the plugin's restrictions. Refuses, changing
    /// nothing, if one of them has no down migration, is not in the package,
    /// or was changed since it was applied. Returns the labels reverted.
    pub fn rollback_migrations(
        &mut self,
        migrations: &[Migration],
        steps: usize,
    ) -> Result<Vec<String>> {
        let applied = self.applied_migrations()?;
        if steps > applied.len() {
            bail!(
                "only {} migration(s) are applied; cannot roll back {steps}",
                applied.len()
            );
        }
        let mut plan = Vec::with_capacity(steps);
        for (version, recorded) in applied.iter().rev().take(steps) {
            let Some(migration) = migrations.iter().find(|m| m.version == *version) else {
                bail!(
                    "migration {version:03} is applied but not in the installed package, \
                     so its down SQL is unknown; install the version that has it first"
                );
            };
            let label = format!("{:03}_{}", migration.version, migration.name);
            if hex::encode(Sha256::digest(migration.up.as_bytes())) != *recorded {
                bail!(
                    "migration {label} was changed after it was applied; its down SQL may \
                     not match what the database holds, so it is not rolled back"
                );
            }
            let Some(down) = migration.down.as_deref().filter(|d| !d.trim().is_empty()) else {
                bail!(
                    "migration {label} has no down migration ({}), so it cannot be rolled \
                     back; restore a backup instead (`rosey db restore`)",
                    migration.down_path()
                );
            };
            plan.push((migration.version, label, down));
        }
        let tx = self.conn.transaction()?;
        for (version, label, down) in &plan {
            tx.execute_batch(down)
                .with_context(|| format!("the down migration of {label} failed"))?;
            self.host_mode.store(true, Ordering::Relaxed);
            let forgotten = tx.execute(
                "DELETE FROM _rosey_migrations WHERE version = ?1",
                [version],
            );
            self.host_mode.store(false, Ordering::Relaxed);
            forgotten?;
        }
        tx.commit().context("the rollback failed")?;
        Ok(plan.into_iter().map(|(_, label, _)| label).collect())
    }
}

/// The authorizer's decision for a statement the plugin sent.
fn authorize_plugin(action: &AuthAction<'_>) -> Authorization {
    let host_table = |name: &str| name.to_ascii_lowercase().starts_with(HOST_TABLE_PREFIX);
    match *action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        AuthAction::Pragma { pragma_name, .. } => {
            if ALLOWED_PRAGMAS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(pragma_name))
            {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        AuthAction::Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        AuthAction::CreateVtable {
            module_name,
            table_name,
        } => {
            if ALLOWED_VTABLE_MODULES
                .iter()
                .any(|m| m.eq_ignore_ascii_case(module_name))
                && !host_table(table_name)
            {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        AuthAction::Read { table_name, .. }
        | AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
        | AuthAction::CreateTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::CreateIndex { table_name, .. }
        | AuthAction::DropIndex { table_name, .. }
        | AuthAction::CreateTrigger { table_name, .. }
        | AuthAction::DropTrigger { table_name, .. }
        | AuthAction::AlterTable { table_name, .. }
            if host_table(table_name) =>
        {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir) -> PluginDb {
        let deadline = Arc::new(Deadline::new());
        deadline.set(Duration::from_secs(5));
        PluginDb::open(&dir.path().join("database.db"), 1 << 20, deadline).unwrap()
    }

    fn plugin_error(db: &mut PluginDb, sql: &str) -> String {
        db.plugin().execute_batch(sql).unwrap_err().to_string()
    }

    #[test]
    fn attach_and_vacuum_into_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        let outside = dir.path().join("stolen.db");
        let err = plugin_error(
            &mut db,
            &format!("ATTACH DATABASE '{}' AS x", outside.display()),
        );
        assert!(
            err.contains("not authorized") || err.contains("too many attached"),
            "{err}"
        );
        let err = plugin_error(&mut db, &format!("VACUUM INTO '{}'", outside.display()));
        assert!(
            err.contains("authorization denied") || err.contains("not authorized"),
            "{err}"
        );
        assert!(!outside.exists(), "VACUUM INTO wrote a file");
    }

    #[test]
    fn load_extension_and_dangerous_pragmas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        let err = db
            .plugin()
            .query_row("SELECT load_extension('/tmp/evil')", [], |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not authorized"), "{err}");
        for pragma in [
            "PRAGMA writable_schema = ON",
            "PRAGMA max_page_count = 1000000000",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA trusted_schema = ON",
        ] {
            let err = plugin_error(&mut db, pragma);
            assert!(err.contains("not authorized"), "{pragma}: {err}");
        }
        // The allow-list still works.
        db.plugin()
            .execute_batch("CREATE TABLE t (x); PRAGMA table_info(t);")
            .unwrap();
    }

    #[test]
    fn host_tables_are_invisible_to_the_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        for sql in [
            "SELECT * FROM _rosey_kv",
            "DELETE FROM _rosey_migrations",
            "DROP TABLE _rosey_kv",
        ] {
            let err = plugin_error(&mut db, sql);
            assert!(
                err.contains("not authorized") || err.contains("prohibited"),
                "{sql}: {err}"
            );
        }
    }

    #[test]
    fn host_statements_in_the_cache_do_not_leak_to_the_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        let host_sql = "SELECT count(*) FROM _rosey_kv";
        let n: i64 = db
            .as_host(|c| c.prepare_cached(host_sql)?.query_row([], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 0);
        // The plugin's statements are cached under keys of their own, so the
        // same text is compiled afresh, and the authorizer sees it.
        let conn = db.plugin();
        let err = plugin_statement(conn, host_sql)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not authorized"), "{err}");
    }

    #[test]
    fn plugin_statements_are_cached_and_errors_name_their_own_sql() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        let conn = db.plugin();
        conn.execute_batch("CREATE TABLE notes (body TEXT)")
            .unwrap();
        let insert = "INSERT INTO notes (body) VALUES (?1)";
        for body in ["one", "two"] {
            plugin_statement(conn, insert)
                .unwrap()
                .execute([body])
                .unwrap();
        }
        let count = "SELECT count(*) FROM notes";
        let n: i64 = plugin_statement(conn, count)
            .unwrap()
            .query_row([], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        // A schema change under a cached statement: SQLite recompiles it.
        conn.execute_batch("DROP TABLE notes; CREATE TABLE notes (body TEXT)")
            .unwrap();
        let n: i64 = plugin_statement(conn, count)
            .unwrap()
            .query_row([], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        // Errors name the plugin's own SQL, not the cache key.
        let err = untag_error(plugin_statement(conn, "SELEC 1").map(|_| ()).unwrap_err());
        let text = err.to_string();
        assert!(!text.contains("/* plugin */"), "{text}");
        match &err {
            rusqlite::Error::SqlInputError { sql, offset, .. } => {
                assert_eq!((sql.as_str(), *offset), ("SELEC 1", 0));
            }
            other => panic!("expected an SQL input error, got {other:?}"),
        }
    }

    #[test]
    fn a_runaway_query_is_interrupted_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let deadline = Arc::new(Deadline::new());
        let mut db =
            PluginDb::open(&dir.path().join("d.db"), 1 << 20, Arc::clone(&deadline)).unwrap();
        deadline.set(Duration::from_millis(100));
        let started = std::time::Instant::now();
        let err = db
            .plugin()
            .query_row(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("interrupted"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_storage_quota_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        db.plugin()
            .execute_batch("CREATE TABLE blobs (b BLOB)")
            .unwrap();
        let mut full = None;
        for _ in 0..64 {
            if let Err(e) = db
                .plugin()
                .execute("INSERT INTO blobs VALUES (zeroblob(65536))", [])
            {
                full = Some(e.to_string());
                break;
            }
        }
        let err = full.expect("a 1 MiB quota must stop 4 MiB of inserts");
        assert!(err.contains("full"), "{err}");
    }

    #[test]
    fn rollback_reverts_newest_first_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        let m = |version: u32, name: &str, up: &str, down: Option<&str>| Migration {
            version,
            name: name.into(),
            up: up.into(),
            down: down.map(Into::into),
        };
        let mut migrations = vec![
            m(1, "q", "CREATE TABLE q (id INTEGER)", None),
            m(
                2,
                "tags",
                "CREATE TABLE tags (t TEXT)",
                Some("DROP TABLE tags"),
            ),
            m(3, "idx", "CREATE INDEX qi ON q(id)", Some("DROP INDEX qi")),
        ];
        db.apply_migrations(&migrations).unwrap();
        let tables = |db: &mut PluginDb| -> i64 {
            db.plugin()
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name IN ('q','tags','qi')",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        // 001 has no down: rolling back 3 refuses and changes nothing.
        let err = db
            .rollback_migrations(&migrations, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("001_q has no down migration"), "{err}");
        assert_eq!(tables(&mut db), 3);
        assert_eq!(db.applied_migrations().unwrap().len(), 3);
        // A down that fails half-way undoes the steps before it too.
        migrations[1].down = Some("DROP TABLE no_such_table".into());
        let err = db.rollback_migrations(&migrations, 2).unwrap_err();
        assert!(
            format!("{err:#}").contains("down migration of 002_tags"),
            "{err:#}"
        );
        assert_eq!(
            tables(&mut db),
            3,
            "003's down was undone with the transaction"
        );
        migrations[1].down = Some("DROP TABLE tags".into());
        let reverted = db.rollback_migrations(&migrations, 2).unwrap();
        assert_eq!(reverted, ["003_idx", "002_tags"]);
        assert_eq!(tables(&mut db), 1);
        assert_eq!(db.applied_migrations().unwrap().len(), 1);
        // And forward again.
        assert_eq!(db.apply_migrations(&migrations).unwrap(), 2);
        assert_eq!(tables(&mut db), 3);
        let err = db
            .rollback_migrations(&migrations, 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only 3"), "{err}");
    }

    #[test]
    fn migrations_apply_once_and_edits_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        let mut migrations = vec![Migration {
            version: 1,
            name: "create".into(),
            up: "CREATE TABLE q (id INTEGER PRIMARY KEY, text TEXT)".into(),
            down: None,
        }];
        assert_eq!(db.apply_migrations(&migrations).unwrap(), 1);
        assert_eq!(db.apply_migrations(&migrations).unwrap(), 0);
        migrations[0].up.push_str(" -- edited");
        let err = db.apply_migrations(&migrations).unwrap_err().to_string();
        assert!(err.contains("changed after it was applied"), "{err}");
    }

    #[test]
    fn a_failing_migration_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir);
        let migrations = vec![Migration {
            version: 1,
            name: "bad".into(),
            up: "CREATE TABLE ok (x); ATTACH DATABASE 'x.db' AS x;".into(),
            down: None,
        }];
        assert!(db.apply_migrations(&migrations).is_err());
        assert!(db.applied_migrations().unwrap().is_empty());
        let tables: i64 = db
            .plugin()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'ok'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
}
