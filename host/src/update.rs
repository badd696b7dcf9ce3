//! Updating an installed plugin in place.
//!
//! An update is staged beside the running version (`package.next/`, compiled
//! and checked against its grants), then activated: the package directories
//! are swapped (`package/` → `package.prev/`, `package.next/` → `package/`),
//! the database is snapshotted with SQLite's online backup, and the new
//! migrations are applied. The running host then instantiates and `init`s
//! the new version; only when that succeeds is the update committed (host.db
//! row, compiled cache, old package deleted). Any failure rolls the files
//! and the database back, and the old version keeps serving.
//!
//! If the host dies half-way, [`recover`] (run before a plugin loads) puts
//! things back as host.db says they should be.

use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::capabilities::database::PluginDb;
use crate::home::{PluginPaths, RoseyHome, create_private_dir, sqlite_files, write_atomic};
use crate::install::{check, write_package};
use crate::package::{DependencyError, Manifest, Package, PluginName, dependents_broken_by, unmet};
use crate::provenance::Provenance;
use crate::registry::{InstalledPlugin, Registry};
use crate::runtime::Runtime;
use crate::runtime::state::Deadline;

/// What an update changes in what the plugin may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Changes {
    /// Powers the new version has that the old one did not (permissions,
    /// subjects, hosts, higher limits). Any of these needs approval.
    pub added: Vec<String>,
    /// Powers the new version gives up (never needs approval).
    pub removed: Vec<String>,
}

impl Changes {
    /// Whether the update asks for more than the operator approved before.
    pub fn widens(&self) -> bool {
        !self.added.is_empty()
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.added.is_empty() && self.removed.is_empty() {
            return write!(f, "  (no change in permissions or limits)");
        }
        for line in &self.added {
            writeln!(f, "  + {line}")?;
        }
        for line in &self.removed {
            writeln!(f, "  - {line}")?;
        }
        Ok(())
    }
}

/// The difference in powers between two manifests of one plugin.
pub fn permission_changes(old: &Manifest, new: &Manifest) -> Changes {
    fn powers(m: &Manifest) -> Vec<String> {
        let mut out: Vec<String> = m
            .permissions
            .iter()
            .map(|p| format!("permission {}", p.as_str()))
            .collect();
        out.extend(
            m.subjects
                .subscribe
                .iter()
                .map(|s| format!("subscribe {s}")),
        );
        out.extend(m.subjects.publish.iter().map(|s| format!("publish {s}")));
        out.extend(
            m.network
                .allowed_hosts
                .iter()
                .map(|h| format!("http to {h}")),
        );
        out
    }
    let (before, after) = (powers(old), powers(new));
    let mut changes = Changes {
        added: after
            .iter()
            .filter(|p| !before.contains(p))
            .cloned()
            .collect(),
        removed: before
            .iter()
            .filter(|p| !after.contains(p))
            .cloned()
            .collect(),
    };
    let (a, b) = (old.limits(), new.limits());
    let per_second = |r: &crate::package::Rate| f64::from(r.count) / r.per.as_secs_f64();
    let limits = [
        (
            "memory",
            a.memory as f64,
            b.memory as f64,
            format!("{} → {}", a.memory, b.memory),
        ),
        (
            "fuel per call",
            a.fuel_per_call as f64,
            b.fuel_per_call as f64,
            format!("{} → {}", a.fuel_per_call, b.fuel_per_call),
        ),
        (
            "time per call",
            a.timeout.as_secs_f64(),
            b.timeout.as_secs_f64(),
            format!("{:?} → {:?}", a.timeout, b.timeout),
        ),
        (
            "storage",
            a.storage as f64,
            b.storage as f64,
            format!("{} → {}", a.storage, b.storage),
        ),
        (
            "publish rate",
            per_second(&a.publish_rate),
            per_second(&b.publish_rate),
            format!("{} → {}", a.publish_rate, b.publish_rate),
        ),
    ];
    for (what, before, after, text) in limits {
        if after > before {
            changes.added.push(format!("limit {what} {text}"));
        } else if after < before {
            changes.removed.push(format!("limit {what} {text}"));
        }
    }
    changes
}

/// An update, checked and written beside the running version, not active.
pub struct StagedUpdate {
    /// The version being replaced, as host.db records it.
    pub old: InstalledPlugin,
    /// The new version.
    pub package: Package,
    /// Its compiled component.
    pub component: Component,
    /// What it changes in the plugin's powers.
    pub changes: Changes,
    /// Where the new version came from (`None`: built in process).
    pub provenance: Option<Provenance>,
    paths: PluginPaths,
    /// Whether a database existed before the update (else a rollback
    /// deletes the one the migrations created).
    had_database: bool,
}

impl fmt::Debug for StagedUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedUpdate")
            .field("plugin", &self.old.name)
            .field("from", &self.old.version)
            .field("to", &self.package.manifest.version)
            .finish_non_exhaustive()
    }
}

/// Check `package` as an update of the installed plugin of the same name and
/// write it to `package.next/`. Nothing the running version uses changes.
///
/// Refused if the new version needs a plugin that is missing or in a
/// version it does not accept, or (unless `force`) if an installed plugin
/// that depends on this one would not accept the new version.
pub fn stage(
    home: &RoseyHome,
    runtime: &Runtime,
    package: &Package,
    provenance: Option<&Provenance>,
    force: bool,
) -> Result<StagedUpdate> {
    let name = &package.manifest.name;
    let registry = Registry::open(&home.host_db())?;
    let Some(old) = registry.get(name)? else {
        bail!("no plugin named \"{name}\" is installed; install it with `rosey plugin install`");
    };
    check_dependencies(&registry, package, force)?;
    let paths = home.plugin(name);
    // The whole package counts (migrations, assets, readme), not only the
    // component and the manifest.
    let installed = fs::read(&paths.wasm)
        .ok()
        .and_then(|wasm| Package::from_project_dir(&paths.package, wasm).ok());
    if installed.as_ref() == Some(package) {
        bail!(
            "{name} {} is already installed from exactly this package; nothing to update",
            old.version
        );
    }
    let changes = update_changes(&old, &package.manifest, provenance)?;
    let component = check(runtime, package)?;
    remove_dir_if_present(&paths.package_next)?;
    if let Err(e) = write_package(package, &paths.package_next) {
        let _ = fs::remove_dir_all(&paths.package_next);
        return Err(e).context("could not stage the update");
    }
    Ok(StagedUpdate {
        had_database: paths.database.exists(),
        old,
        package: package.clone(),
        component,
        changes,
        provenance: provenance.cloned(),
        paths,
    })
}

/// The new version's own dependencies must be met; the plugins that depend
/// on this one must accept the new version (unless `force`).
fn check_dependencies(registry: &Registry, package: &Package, force: bool) -> Result<()> {
    let name = &package.manifest.name;
    let version = &package.manifest.version;
    let present = registry.present()?;
    let others: Vec<_> = present
        .iter()
        .filter(|p| &p.name != name)
        .cloned()
        .collect();
    let problems = unmet(name, &package.manifest.dependencies.plugins, &others);
    if !problems.is_empty() {
        return Err(DependencyError::Unmet(problems).into());
    }
    let broken = dependents_broken_by(name, Some(version), &present);
    if !broken.is_empty() && !force {
        let names: Vec<String> = broken.iter().map(|(n, _)| n.to_string()).collect();
        return Err(DependencyError::Dependents {
            plugin: name.clone(),
            version: Some(version.clone()),
            fix: format!(
                "update {} to a version that accepts {name} {version} first",
                names.join(" and ")
            ),
            dependents: broken,
        }
        .into());
    }
    Ok(())
}

/// What updating `old` to a package with `manifest` (from `provenance`)
/// changes: its powers, and its signer if it loses the trusted one.
pub fn update_changes(
    old: &InstalledPlugin,
    manifest: &Manifest,
    provenance: Option<&Provenance>,
) -> Result<Changes> {
    let mut changes = permission_changes(&old.manifest()?, manifest);
    if let Some(lost) = signer_lost(old.provenance.as_ref(), provenance) {
        changes.added.push(lost);
    }
    Ok(changes)
}

/// If the installed version was signed by a trusted key and the update is
/// not signed by that same key, the line that says so (an update that
/// loses its signer needs approval like one that widens permissions).
fn signer_lost(old: Option<&Provenance>, new: Option<&Provenance>) -> Option<String> {
    let before = old?.signer.as_ref()?;
    let after = new?.signer.as_ref();
    match after {
        Some(after) if after.key_id == before.key_id => None,
        Some(after) => Some(format!("signer {before} → {after}")),
        None => Some(format!("signer {before} → unsigned")),
    }
}

impl StagedUpdate {
    /// The plugin's name.
    pub fn name(&self) -> &PluginName {
        &self.old.name
    }

    /// Swap the new package in, snapshot the database and apply the new
    /// migrations. Returns how many migrations were applied. On failure
    /// everything is rolled back before the error is returned.
    ///
    /// The running version must not be using its database meanwhile (its
    /// runner calls this between events, with its connection closed).
    pub fn activate(&self) -> Result<usize> {
        let paths = &self.paths;
        remove_dir_if_present(&paths.package_prev)?;
        fs::rename(&paths.package, &paths.package_prev)
            .with_context(|| format!("could not move {} aside", paths.package.display()))?;
        if let Err(e) = fs::rename(&paths.package_next, &paths.package) {
            let _ = fs::rename(&paths.package_prev, &paths.package);
            return Err(e).context("could not swap in the new package");
        }
        let migrated = (|| -> Result<usize> {
            if self.had_database {
                take_snapshot(&paths.database, &paths.update_snapshot)?;
            }
            let deadline = Arc::new(Deadline::new());
            deadline.set(Duration::from_secs(60));
            let limits = self.package.manifest.limits();
            let mut db = PluginDb::open(&paths.database, limits.storage, deadline)?;
            db.apply_migrations(&self.package.migrations)
        })();
        match migrated {
            Ok(n) => Ok(n),
            Err(e) => {
                if let Err(undo) = self.rollback() {
                    tracing::error!(plugin = %self.name(), "rolling back the update failed: {undo:#}");
                }
                Err(e.context("the update's migrations failed; the old version is kept"))
            }
        }
    }

    /// Undo [`activate`](Self::activate): the database as it was, the old
    /// package back in place, the new one deleted.
    pub fn rollback(&self) -> Result<()> {
        rollback_files(&self.paths, self.had_database)
    }

    /// Make the update permanent: host.db records the new version, the
    /// compiled cache is refreshed, the old package and the snapshot go.
    pub fn commit(&self, home: &RoseyHome, runtime: &Runtime) -> Result<InstalledPlugin> {
        let plugin = InstalledPlugin {
            version: self.package.manifest.version.clone(),
            digest: self.package.digest(),
            manifest_yaml: self.package.manifest_yaml.clone(),
            provenance: self
                .provenance
                .clone()
                .or_else(|| self.old.provenance.clone()),
            ..self.old.clone()
        };
        Registry::open(&home.host_db())?.update(&plugin, &self.old.version)?;
        if let Err(e) = runtime.write_cache(&self.paths, &self.component, &self.package.wasm) {
            tracing::warn!(plugin = %self.name(), "could not refresh the compiled cache: {e:#}");
        }
        cleanup(&self.paths);
        Ok(plugin)
    }

    /// Give up on a staged update that was never activated.
    pub fn discard(&self) {
        let _ = fs::remove_dir_all(&self.paths.package_next);
    }
}

/// Update a plugin that is not running: activate and commit at once (there
/// is no instance to `init` beside the old one).
pub fn update_offline(
    home: &RoseyHome,
    runtime: &Runtime,
    staged: &StagedUpdate,
) -> Result<(InstalledPlugin, usize)> {
    let migrations = staged.activate()?;
    match staged.commit(home, runtime) {
        Ok(plugin) => Ok((plugin, migrations)),
        Err(e) => {
            let _ = staged.rollback();
            Err(e)
        }
    }
}

/// Keep `package` as the update of its plugin waiting for approval
/// (replacing any earlier one), with where it came from.
pub fn save_pending(
    home: &RoseyHome,
    package: &Package,
    provenance: Option<&Provenance>,
) -> Result<()> {
    create_private_dir(&home.pending_dir())?;
    let name = &package.manifest.name;
    let record = home.pending_provenance(name);
    match provenance {
        Some(provenance) => write_atomic(&record, &serde_json::to_vec(provenance)?)?,
        None => {
            let _ = fs::remove_file(&record);
        }
    }
    let bytes = package
        .write_archive()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    write_atomic(&home.pending_update(name), &bytes)
}

/// The update of `name` waiting for approval, if any, with where it came
/// from.
pub fn load_pending(
    home: &RoseyHome,
    name: &PluginName,
) -> Result<Option<(Package, Option<Provenance>)>> {
    let path = home.pending_update(name);
    if !path.exists() {
        return Ok(None);
    }
    let package = Package::read_file(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let provenance = fs::read(home.pending_provenance(name))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    Ok(Some((package, provenance)))
}

/// Forget the update of `name` waiting for approval.
pub fn drop_pending(home: &RoseyHome, name: &PluginName) {
    let _ = fs::remove_file(home.pending_update(name));
    let _ = fs::remove_file(home.pending_provenance(name));
}

/// Put a plugin's files back in order after the host died during an update:
/// if host.db records the component in `package/`, the update committed and
/// only leftovers go; otherwise the update is rolled back.
pub fn recover(home: &RoseyHome, plugin: &InstalledPlugin) -> Result<()> {
    let paths = home.plugin(&plugin.name);
    if paths.package_next.exists() && !paths.package_prev.exists() {
        // Staged, never activated.
        remove_dir_if_present(&paths.package_next)?;
    }
    if !paths.package_prev.exists() {
        return Ok(());
    }
    let current = fs::read(&paths.wasm)
        .ok()
        .map(|w| hex::encode(Sha256::digest(w)));
    if current.as_deref() == Some(plugin.digest.as_str()) {
        cleanup(&paths);
        return Ok(());
    }
    tracing::warn!(plugin = %plugin.name, "an update was interrupted; rolling it back");
    rollback_files(&paths, paths.update_snapshot.exists())
}

fn rollback_files(paths: &PluginPaths, had_database: bool) -> Result<()> {
    if had_database && paths.update_snapshot.exists() {
        restore_snapshot(&paths.update_snapshot, &paths.database)?;
    } else if !had_database {
        for path in sqlite_files(&paths.database) {
            let _ = fs::remove_file(path);
        }
    }
    if paths.package_prev.exists() {
        remove_dir_if_present(&paths.package_next)?;
        if paths.package.exists() {
            fs::rename(&paths.package, &paths.package_next)
                .context("could not move the new package aside")?;
        }
        fs::rename(&paths.package_prev, &paths.package)
            .context("could not put the old package back")?;
    }
    cleanup(paths);
    Ok(())
}

/// Remove what an update leaves behind once it has committed or rolled back.
fn cleanup(paths: &PluginPaths) {
    let _ = fs::remove_dir_all(&paths.package_next);
    let _ = fs::remove_dir_all(&paths.package_prev);
    let _ = fs::remove_file(&paths.update_snapshot);
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("could not remove {}", dir.display())),
    }
}

/// Copy the database at `live` to `to` with SQLite's online backup (correct
/// with WAL, consistent even if another connection writes).
pub(crate) fn take_snapshot(live: &Path, to: &Path) -> Result<()> {
    let _ = fs::remove_file(to);
    let source = Connection::open(live)
        .with_context(|| format!("could not open {} to snapshot it", live.display()))?;
    source
        .backup(
            rusqlite::MAIN_DB,
            to,
            None::<fn(rusqlite::backup::Progress)>,
        )
        .with_context(|| format!("could not snapshot {}", live.display()))
}

/// Copy the snapshot at `from` back over the database at `live`.
pub(crate) fn restore_snapshot(from: &Path, live: &Path) -> Result<()> {
    let mut target = Connection::open(live)
        .with_context(|| format!("could not open {} to restore it", live.display()))?;
    target
        .restore(
            rusqlite::MAIN_DB,
            from,
            None::<fn(rusqlite::backup::Progress)>,
        )
        .with_context(|| format!("could not restore {} from its snapshot", live.display()))
}

/// Keep a staged update that widens the plugin's powers for `rosey plugin
/// approve` instead of applying it (`running`: the old version still
/// serves, which the message says).
pub fn hold(
    home: &RoseyHome,
    staged: &StagedUpdate,
    running: bool,
) -> Result<crate::supervisor::Outcome> {
    let name = staged.name();
    let from = &staged.old.version;
    let to = &staged.package.manifest.version;
    staged.discard();
    save_pending(home, &staged.package, staged.provenance.as_ref())?;
    Registry::open(&home.host_db())?.record(
        name,
        "update pending",
        Some(&format!("{from} → {to}")),
    )?;
    let keeps = if running {
        format!(" ({from} keeps running)")
    } else {
        String::new()
    };
    Ok(crate::supervisor::Outcome {
        message: format!(
            "{name} {to} asks for more than {from} was granted; it waits for \
             `rosey plugin approve {name}`{keeps}"
        ),
        plugin: Some(name.to_string()),
        version: Some(from.to_string()),
        changes: Some(staged.changes.clone()),
        pending: true,
        ..Default::default()
    })
}

/// How an update is to be applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateMode {
    /// The operator approved what it widens (an approval, or `rosey dev`).
    pub approved: bool,
    /// Apply it even if plugins that depend on this one will not accept it.
    pub force: bool,
}

/// Update (or, if it widens the plugin's powers and is not approved, hold
/// for approval) a plugin while no host runs.
pub fn offline(
    home: &RoseyHome,
    runtime: &Runtime,
    package: &Package,
    provenance: Option<&Provenance>,
    mode: UpdateMode,
) -> Result<crate::supervisor::Outcome> {
    let approved = mode.approved;
    let staged = stage(home, runtime, package, provenance, mode.force)?;
    let name = staged.name().clone();
    let from = staged.old.version.to_string();
    let to = package.manifest.version.to_string();
    let changes = staged.changes.clone();
    if changes.widens() && !approved {
        return hold(home, &staged, false);
    }
    drop_pending(home, &name);
    let (plugin, migrations) = update_offline(home, runtime, &staged)?;
    Ok(crate::supervisor::Outcome {
        message: format!("Updated {name} {from} → {to}"),
        plugin: Some(name.to_string()),
        version: Some(plugin.version.to_string()),
        migrations_applied: Some(migrations),
        changes: Some(changes),
        ..Default::default()
    })
}
