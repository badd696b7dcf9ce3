//! Installing and removing plugins in a [`RoseyHome`].
//!
//! An install is assembled in `plugins/.staging/`, checked end to end
//! (component compiles, imports match grants, migrations apply) and only then
//! renamed into `plugins/<name>/` and recorded in `host.db`. Nothing is
//! written outside the staging directory until every check has passed, and a
//! failure removes the staging directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::capabilities::Grants;
use crate::capabilities::database::PluginDb;
use crate::home::{PACKAGE_ASSETS, PACKAGE_WASM, PluginPaths, RoseyHome, create_private_dir};
use crate::package::{DependencyError, Package, PluginName, dependents_broken_by, unmet};
use crate::protocol::now_ms;
use crate::provenance::Provenance;
use crate::registry::{InstalledPlugin, Registry};
use crate::runtime::Runtime;
use crate::runtime::state::Deadline;

/// What an install did, for the operator.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The installed plugin.
    pub plugin: InstalledPlugin,
    /// Where its data lives.
    pub path: PathBuf,
    /// Migrations applied.
    pub migrations_applied: usize,
    /// Time spent compiling the component.
    pub compile_time: Duration,
}

/// Check that `package` can run on this host, without installing it:
/// its messaging grants are consistent, its component compiles, and its
/// imports match its permissions.
pub fn check(runtime: &Runtime, package: &Package) -> Result<wasmtime::component::Component> {
    let grants = Grants::from_manifest(&package.manifest);
    grants.subscriptions().map_err(anyhow::Error::msg)?;
    let component = runtime.compile(&package.wasm)?;
    runtime.prepare(&component, &grants)?;
    Ok(component)
}

/// Install `package` into `home`, enabled, recording `provenance` (`None`
/// for packages built in process: `rosey dev`, scenarios, tests).
///
/// Refused if a plugin it depends on is missing or in a version it does
/// not accept.
pub fn install(
    home: &RoseyHome,
    runtime: &Runtime,
    package: &Package,
    provenance: Option<&Provenance>,
) -> Result<InstallReport> {
    home.ensure()?;
    let name = &package.manifest.name;
    let registry = Registry::open(&home.host_db())?;
    if let Some(existing) = registry.get(name)? {
        bail!(
            "plugin \"{name}\" {} is already installed; to install a new version keeping its data, use `rosey plugin update FILE`",
            existing.version
        );
    }
    let target = home.plugin(name);
    if target.root.exists() {
        bail!(
            "{} exists but no plugin \"{name}\" is registered in host.db; \
             move it away (it may hold data) and install again",
            target.root.display()
        );
    }

    let problems = unmet(
        name,
        &package.manifest.dependencies.plugins,
        &registry.present()?,
    );
    if !problems.is_empty() {
        return Err(DependencyError::Unmet(problems).into());
    }

    let started = Instant::now();
    let component = check(runtime, package)?;
    let compile_time = started.elapsed();

    create_private_dir(&home.staging_dir())?;
    let staging = home
        .staging_dir()
        .join(format!("{name}-{}-{}", std::process::id(), now_ms()));
    let result = stage(runtime, package, &component, &staging);
    let migrations_applied = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&staging, &target.root) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e)
            .with_context(|| format!("could not move the plugin into {}", target.root.display()));
    }
    let plugin = InstalledPlugin {
        name: name.clone(),
        version: package.manifest.version.clone(),
        enabled: true,
        digest: package.digest(),
        installed_at: now_ms(),
        manifest_yaml: package.manifest_yaml.clone(),
        provenance: provenance.cloned(),
    };
    if let Err(e) = registry.insert(&plugin) {
        let _ = fs::remove_dir_all(&target.root);
        return Err(e).context("could not record the plugin in host.db");
    }
    Ok(InstallReport {
        plugin,
        path: target.root,
        migrations_applied,
        compile_time,
    })
}

/// Write the package, the compiled cache and the migrated database into `dir`.
fn stage(
    runtime: &Runtime,
    package: &Package,
    component: &wasmtime::component::Component,
    dir: &Path,
) -> Result<usize> {
    let paths = PluginPaths::at(dir.to_path_buf());
    create_private_dir(&paths.files)?;
    write_package(package, &paths.package)?;
    runtime.write_cache(&paths, component, &package.wasm)?;

    let deadline = Arc::new(Deadline::new());
    deadline.set(Duration::from_secs(60));
    let limits = package.manifest.limits();
    let mut db = PluginDb::open(&paths.database, limits.storage, deadline)?;
    db.apply_migrations(&package.migrations)
}

/// Write the extracted package (manifest, component, migrations, assets,
/// readme, license) into the new directory `dir`.
pub(crate) fn write_package(package: &Package, dir: &Path) -> Result<()> {
    let assets_dir = dir.join(PACKAGE_ASSETS);
    let wasm_path = dir.join(PACKAGE_WASM);
    create_private_dir(dir)?;
    fs::write(dir.join("manifest.yaml"), &package.manifest_yaml)?;
    fs::write(&wasm_path, &package.wasm)?;
    if !package.migrations.is_empty() {
        let migrations = dir.join("migrations");
        create_private_dir(&migrations)?;
        for m in &package.migrations {
            fs::write(
                migrations.join(format!("{:03}_{}.up.sql", m.version, m.name)),
                &m.up,
            )?;
            if let Some(down) = &m.down {
                fs::write(
                    migrations.join(format!("{:03}_{}.down.sql", m.version, m.name)),
                    down,
                )?;
            }
        }
    }
    for (relative, bytes) in &package.assets {
        // The archive reader only admits plain relative '/'-separated paths.
        let mut path = assets_dir.clone();
        path.extend(relative.split('/'));
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        fs::write(&path, bytes)?;
    }
    if let Some(readme) = &package.readme {
        fs::write(dir.join("README.md"), readme)?;
    }
    if let Some(license) = &package.license {
        fs::write(dir.join("LICENSE"), license)?;
    }
    Ok(())
}

/// Refuses to remove `name` while other plugins depend on it.
pub fn check_removal(home: &RoseyHome, name: &PluginName) -> Result<()> {
    let registry = Registry::open(&home.host_db())?;
    if registry.get(name)?.is_none() {
        bail!("no plugin named \"{name}\" is installed (see `rosey plugin list`)");
    }
    let dependents = dependents_broken_by(name, None, &registry.present()?);
    if !dependents.is_empty() {
        let names: Vec<String> = dependents.iter().map(|(n, _)| n.to_string()).collect();
        return Err(DependencyError::Dependents {
            plugin: name.clone(),
            version: None,
            fix: format!("remove {} first", names.join(" and ")),
            dependents,
        }
        .into());
    }
    Ok(())
}

/// Remove plugin `name`: exactly `plugins/<name>/` and its rows in `host.db`.
/// Unless `force`, refused while other plugins depend on it.
///
/// The directory is first renamed into the staging area (atomic), then the
/// registry rows are deleted, then the files. Deletion goes through a
/// `cap-std` directory handle, so a symlink the plugin planted is removed,
/// never followed.
pub fn remove(home: &RoseyHome, name: &PluginName, force: bool) -> Result<()> {
    if !force {
        check_removal(home, name)?;
    }
    let registry = Registry::open(&home.host_db())?;
    let target = home.plugin(name);
    if registry.get(name)?.is_none() {
        bail!("no plugin named \"{name}\" is installed (see `rosey plugin list`)");
    }
    create_private_dir(&home.staging_dir())?;
    let doomed_name = format!("{name}-removing-{}", now_ms());
    let doomed = home.staging_dir().join(&doomed_name);
    if target.root.exists() {
        fs::rename(&target.root, &doomed)
            .with_context(|| format!("could not move {} aside", target.root.display()))?;
    }
    registry.remove(name)?;
    crate::logfile::remove_all(&home.plugin_log(name));
    if doomed.exists() {
        let staging = Dir::open_ambient_dir(home.staging_dir(), ambient_authority())
            .context("could not open the staging directory")?;
        staging
            .remove_dir_all(&doomed_name)
            .with_context(|| format!("could not delete {}", doomed.display()))?;
    }
    Ok(())
}
