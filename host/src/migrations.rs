//! The operator's view of a plugin's schema: which migrations are applied,
//! which are pending, and `rosey db migrate | rollback`.
//!
//! Migrations come from the installed package (`package/migrations/`) and
//! are recorded, with the checksum of their up SQL, in the plugin's own
//! database (`_rosey_migrations`). Install and update apply them; these
//! functions are for the operator afterwards. None of them may run while
//! the plugin's instance has its database open: on a running host the
//! control channel stops the plugin first.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::capabilities::database::PluginDb;
use crate::home::{PluginPaths, RoseyHome};
use crate::package::{Migration, Package, PluginName};
use crate::registry::{InstalledPlugin, Registry};
use crate::runtime::state::Deadline;
use crate::update::{restore_snapshot, take_snapshot};

/// How long one `migrate` or `rollback` may run its SQL.
const SQL_BUDGET: Duration = Duration::from_secs(300);

/// One migration as the plugin's database and package see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationState {
    /// `NNN`.
    pub version: u32,
    /// `NNN_name`.
    pub label: String,
    /// When it was applied (ms since the Unix epoch), if it is.
    pub applied_at: Option<i64>,
    /// Applied, but its up SQL in the package differs from what was applied.
    pub changed: bool,
    /// Applied, but not in the installed package (it came from another
    /// version).
    pub unknown: bool,
    /// Whether the package has a down migration for it.
    pub reversible: bool,
}

/// A plugin's schema: every migration it has or had, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaStatus {
    /// The plugin.
    pub plugin: String,
    /// Its installed version.
    pub version: String,
    /// Applied and pending migrations, by version.
    pub migrations: Vec<MigrationState>,
}

impl SchemaStatus {
    /// The migrations not applied yet.
    pub fn pending(&self) -> impl DoubleEndedIterator<Item = &MigrationState> {
        self.migrations.iter().filter(|m| m.applied_at.is_none())
    }

    /// The migrations applied.
    pub fn applied(&self) -> impl DoubleEndedIterator<Item = &MigrationState> {
        self.migrations.iter().filter(|m| m.applied_at.is_some())
    }
}

fn label(migration: &Migration) -> String {
    format!("{:03}_{}", migration.version, migration.name)
}

/// The installed package of a plugin (its migrations are what counts).
fn installed_package(paths: &PluginPaths, name: &PluginName) -> Result<Package> {
    let wasm = fs::read(&paths.wasm).with_context(|| {
        format!(
            "{name}'s package is missing ({}); reinstall it",
            paths.wasm.display()
        )
    })?;
    Package::from_project_dir(&paths.package, wasm)
        .map_err(|e| anyhow::anyhow!("{name}'s installed package is unreadable: {e}"))
}

/// Applied migrations as recorded: version → (name, checksum, applied_at).
fn recorded(database: &Path) -> Result<Vec<(u32, String, String, i64)>> {
    if !database.exists() {
        return Ok(Vec::new());
    }
    let conn = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("could not open {}", database.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE name = '_rosey_migrations'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT version, name, checksum, applied_at FROM _rosey_migrations ORDER BY version",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Applied and pending migrations of an installed plugin. Reads only.
pub fn status(home: &RoseyHome, plugin: &InstalledPlugin) -> Result<SchemaStatus> {
    let paths = home.plugin(&plugin.name);
    let package = installed_package(&paths, &plugin.name)?;
    let applied = recorded(&paths.database)?;
    let mut migrations: Vec<MigrationState> = package
        .migrations
        .iter()
        .map(|m| {
            let done = applied.iter().find(|(v, ..)| *v == m.version);
            MigrationState {
                version: m.version,
                label: label(m),
                applied_at: done.map(|(.., at)| *at),
                changed: done.is_some_and(|(_, _, checksum, _)| {
                    *checksum != hex::encode(Sha256::digest(m.up.as_bytes()))
                }),
                unknown: false,
                reversible: m.down.as_deref().is_some_and(|d| !d.trim().is_empty()),
            }
        })
        .collect();
    for (version, name, _, at) in &applied {
        if !migrations.iter().any(|m| m.version == *version) {
            migrations.push(MigrationState {
                version: *version,
                label: format!("{version:03}_{name}"),
                applied_at: Some(*at),
                changed: false,
                unknown: true,
                reversible: false,
            });
        }
    }
    migrations.sort_by_key(|m| m.version);
    Ok(SchemaStatus {
        plugin: plugin.name.to_string(),
        version: plugin.version.to_string(),
        migrations,
    })
}

fn open(paths: &PluginPaths, package: &Package) -> Result<PluginDb> {
    let deadline = Arc::new(Deadline::new());
    deadline.set(SQL_BUDGET);
    PluginDb::open(&paths.database, package.manifest.limits().storage, deadline)
}

/// Apply the installed package's pending migrations, all or none: the
/// database is snapshotted first and put back if one fails. Returns the
/// labels applied. The plugin must not be running.
pub fn migrate(home: &RoseyHome, name: &PluginName) -> Result<Vec<String>> {
    let paths = home.plugin(name);
    let package = installed_package(&paths, name)?;
    let applied: Vec<u32> = recorded(&paths.database)?
        .into_iter()
        .map(|(v, ..)| v)
        .collect();
    let pending: Vec<String> = package
        .migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(label)
        .collect();
    if pending.is_empty() {
        return Ok(pending);
    }
    let snapshot = paths.root.join("database.pre-migrate.db");
    let had_database = paths.database.exists();
    if had_database {
        take_snapshot(&paths.database, &snapshot)?;
    }
    let result = open(&paths, &package).and_then(|mut db| db.apply_migrations(&package.migrations));
    let outcome = match result {
        Ok(_) => Ok(pending),
        Err(e) if had_database => match restore_snapshot(&snapshot, &paths.database) {
            Ok(()) => Err(e.context("nothing was applied; the database is as it was")),
            Err(undo) => Err(e.context(format!(
                "and putting the database back failed too ({undo:#}); the copy from before \
                 is {}",
                snapshot.display()
            ))),
        },
        Err(e) => Err(e),
    };
    if outcome.is_ok() || !had_database {
        let _ = fs::remove_file(&snapshot);
    }
    if let Ok(applied) = &outcome {
        Registry::open(&home.host_db())?.record(name, "migrated", Some(&applied.join(", ")))?;
    }
    outcome
}

/// Revert the last `steps` migrations with their down SQL, in one
/// transaction, and disable the plugin (its package expects the newer
/// schema). Returns the labels reverted, newest first. The plugin must not
/// be running.
pub fn rollback(home: &RoseyHome, name: &PluginName, steps: usize) -> Result<Vec<String>> {
    let paths = home.plugin(name);
    let package = installed_package(&paths, name)?;
    if !paths.database.exists() {
        anyhow::bail!("{name} has no database yet, so there is nothing to roll back");
    }
    let reverted = open(&paths, &package)?.rollback_migrations(&package.migrations, steps)?;
    let registry = Registry::open(&home.host_db())?;
    registry.set_enabled(name, false)?;
    registry.record(name, "rolled back", Some(&reverted.join(", ")))?;
    Ok(reverted)
}

/// What `rosey db rollback` says it did.
pub fn rolled_back_message(name: &PluginName, reverted: &[String]) -> String {
    format!(
        "Rolled back {} migration(s) of {name}: {}. {name} is now disabled, because its \
         package expects the newer schema: install a version that matches (`rosey plugin \
         update FILE`) or re-apply with `rosey db migrate {name}`, then `rosey plugin enable \
         {name}`",
        reverted.len(),
        reverted.join(", ")
    )
}
