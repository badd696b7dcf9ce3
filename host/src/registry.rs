//! `host.db`: which plugins are installed, enabled, and what happened to them.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::package::{Manifest, PluginName, Present};
use crate::protocol::now_ms;
use crate::provenance::Provenance;

/// One installed plugin, as recorded.
#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    /// Its name.
    pub name: PluginName,
    /// Its version.
    pub version: semver::Version,
    /// Whether the host runs it.
    pub enabled: bool,
    /// sha256 of its `plugin.wasm`.
    pub digest: String,
    /// When it was installed (ms since the Unix epoch).
    pub installed_at: i64,
    /// The manifest text it was installed with.
    pub manifest_yaml: String,
    /// Where it came from and who signed it (`None` for plugins installed
    /// before Rosey recorded provenance).
    pub provenance: Option<Provenance>,
}

impl InstalledPlugin {
    /// The parsed manifest.
    pub fn manifest(&self) -> Result<Manifest> {
        Manifest::from_yaml(&self.manifest_yaml)
            .with_context(|| format!("plugin \"{}\": stored manifest", self.name))
    }
}

/// The host's database of installed plugins.
pub struct Registry {
    conn: Connection,
}

impl Registry {
    /// Open (creating if needed) `host.db` at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(home) = path.parent()
            && !home.as_os_str().is_empty()
            && !home.is_dir()
        {
            anyhow::bail!(
                "there is no Rosey home at {} (nothing is installed there yet); check \
                 --home or ROSEY_HOME",
                home.display()
            );
        }
        let conn =
            Connection::open(path).with_context(|| format!("could not open {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS plugins (
                 name TEXT PRIMARY KEY NOT NULL,
                 version TEXT NOT NULL,
                 enabled INTEGER NOT NULL,
                 digest TEXT NOT NULL,
                 installed_at INTEGER NOT NULL,
                 manifest TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS history (
                 at INTEGER NOT NULL,
                 plugin TEXT NOT NULL,
                 event TEXT NOT NULL,
                 detail TEXT
             );
             CREATE INDEX IF NOT EXISTS history_plugin ON history (plugin, at);",
        )
        .context("could not initialise host.db")?;
        add_provenance_column(&conn).context("could not add provenance to host.db")?;
        Ok(Self { conn })
    }

    /// Every installed plugin, by name.
    pub fn list(&self) -> Result<Vec<InstalledPlugin>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, version, enabled, digest, installed_at, manifest, provenance FROM plugins ORDER BY name",
        )?;
        let rows = stmt.query_map([], row_to_plugin)?;
        rows.map(|r| r?.map_err(anyhow::Error::msg)).collect()
    }

    /// Every installed plugin's name, version and dependencies (a plugin
    /// whose stored manifest does not parse counts as needing nothing).
    pub fn present(&self) -> Result<Vec<Present>> {
        Ok(self
            .list()?
            .into_iter()
            .map(|p| Present {
                dependencies: p
                    .manifest()
                    .map(|m| m.dependencies.plugins)
                    .unwrap_or_default(),
                name: p.name,
                version: p.version,
            })
            .collect())
    }

    /// One plugin, if installed.
    pub fn get(&self, name: &PluginName) -> Result<Option<InstalledPlugin>> {
        let row = self
            .conn
            .query_row(
                "SELECT name, version, enabled, digest, installed_at, manifest, provenance FROM plugins WHERE name = ?1",
                [name.as_str()],
                row_to_plugin,
            )
            .optional()?;
        row.transpose().map_err(anyhow::Error::msg)
    }

    /// Record a newly installed plugin.
    pub fn insert(&self, plugin: &InstalledPlugin) -> Result<()> {
        self.conn.execute(
            "INSERT INTO plugins (name, version, enabled, digest, installed_at, manifest, provenance)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                plugin.name.as_str(),
                plugin.version.to_string(),
                plugin.enabled,
                plugin.digest,
                plugin.installed_at,
                plugin.manifest_yaml,
                provenance_json(plugin)?
            ],
        )?;
        self.record(&plugin.name, "installed", Some(&plugin.version.to_string()))
    }

    /// Record that `plugin` was updated from version `from`: its version,
    /// digest, manifest and provenance change; when it was installed and
    /// whether it is enabled do not.
    pub fn update(&self, plugin: &InstalledPlugin, from: &semver::Version) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE plugins SET version = ?2, digest = ?3, manifest = ?4, provenance = ?5
             WHERE name = ?1",
            params![
                plugin.name.as_str(),
                plugin.version.to_string(),
                plugin.digest,
                plugin.manifest_yaml,
                provenance_json(plugin)?
            ],
        )?;
        anyhow::ensure!(n == 1, "plugin \"{}\" is not in host.db", plugin.name);
        self.record(
            &plugin.name,
            "updated",
            Some(&format!("{from} → {}", plugin.version)),
        )
    }

    /// Enable or disable a plugin; false if it is not installed.
    pub fn set_enabled(&self, name: &PluginName, enabled: bool) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE plugins SET enabled = ?2 WHERE name = ?1",
            params![name.as_str(), enabled],
        )?;
        if n > 0 {
            self.record(name, if enabled { "enabled" } else { "disabled" }, None)?;
        }
        Ok(n > 0)
    }

    /// Forget a plugin and its history; false if it was not installed.
    pub fn remove(&self, name: &PluginName) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM plugins WHERE name = ?1", [name.as_str()])?;
        self.conn
            .execute("DELETE FROM history WHERE plugin = ?1", [name.as_str()])?;
        Ok(n > 0)
    }

    /// Append to a plugin's history.
    pub fn record(&self, name: &PluginName, event: &str, detail: Option<&str>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO history (at, plugin, event, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now_ms(), name.as_str(), event, detail],
        )?;
        Ok(())
    }

    /// The rows of `plugin` in `history`, oldest first.
    pub fn history(&self, name: &PluginName) -> Result<Vec<(i64, String, Option<String>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, event, detail FROM history WHERE plugin = ?1 ORDER BY at, rowid",
        )?;
        let rows = stmt.query_map([name.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// host.db files written before provenance was recorded lack its column.
fn add_provenance_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('plugins') WHERE name = 'provenance'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has {
        conn.execute("ALTER TABLE plugins ADD COLUMN provenance TEXT", [])?;
    }
    Ok(())
}

fn provenance_json(plugin: &InstalledPlugin) -> Result<Option<String>> {
    plugin
        .provenance
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .context("could not record the plugin's provenance")
}

fn row_to_plugin(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<InstalledPlugin, String>> {
    let name: String = row.get(0)?;
    let version: String = row.get(1)?;
    let parsed = name
        .parse::<PluginName>()
        .map_err(|e| format!("host.db holds an invalid plugin name {name:?}: {e}"))
        .and_then(|name| {
            let version = version
                .parse()
                .map_err(|e| format!("host.db: plugin \"{name}\" has an invalid version: {e}"))?;
            Ok((name, version))
        });
    let enabled: bool = row.get(2)?;
    let digest: String = row.get(3)?;
    let installed_at: i64 = row.get(4)?;
    let manifest_yaml: String = row.get(5)?;
    // Provenance that does not parse (written by a newer Rosey, say) is
    // shown as unknown rather than making the plugin unreadable.
    let provenance = row
        .get::<_, Option<String>>(6)?
        .and_then(|json| serde_json::from_str(&json).ok());
    Ok(parsed.map(|(name, version)| InstalledPlugin {
        name,
        version,
        enabled,
        digest,
        installed_at,
        manifest_yaml,
        provenance,
    }))
}
