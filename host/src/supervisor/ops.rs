//! Changing what a running host runs: install, update, approve, remove,
//! enable, disable. One operation at a time; each either completes or
//! leaves the plugins as they were, and says why.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::runner::{Event, Reconfigure, Upgrade};
use super::status::{Lifecycle, LiveState};
use super::{PluginHandle, Shared, halt, launch, reschedule, subscribe};
use crate::backup;
use crate::capabilities::Grants;
use crate::capabilities::http::HttpPolicy;
use crate::host_config::{Flags, Settings, process_env};
use crate::install;
use crate::migrations;
use crate::package::{Package, PluginName};
use crate::plugin_config;
use crate::provenance::{Origin, Provenance};
use crate::registry::Registry;
use crate::source::{Admitted, Fetched};
use crate::update::{self, Changes};

/// What an operation did, for the operator.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// One sentence saying what happened.
    pub message: String,
    /// The plugin concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// Its version after the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its state after the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Migrations applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations_applied: Option<usize>,
    /// For an update: what it changes in the plugin's powers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// For an update: true if it waits for `rosey plugin approve`.
    #[serde(default)]
    pub pending: bool,
}

/// Operations on a running host (served by the control channel).
#[derive(Clone)]
pub struct Control {
    pub(super) shared: Arc<Shared>,
}

/// A package file the CLI hands the host, and what it says of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// sha256 of the file as the operator was shown it.
    pub sha256: Option<String>,
    /// Its detached signature, if it has one.
    pub signature: Option<String>,
    /// Where it came from (`None`: the file itself).
    pub origin: Option<Origin>,
}

/// Read a package file the operator named, checking that it is the one they
/// were shown, then let it in through the signature check and the trust
/// policy of this home's `rosey.yaml` (read now, so a change applies at
/// once).
fn admit_file(home: &crate::home::RoseyHome, path: &Path, delivery: Delivery) -> Result<Admitted> {
    let bytes = Package::read_capped(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(expected) = &delivery.sha256 {
        let actual = hex::encode(Sha256::digest(&bytes));
        if &actual != expected {
            bail!(
                "{} changed after it was shown to you (sha256 {actual}, expected {expected}); \
                 nothing was changed, run the command again",
                path.display()
            );
        }
    }
    let trust = Settings::load(&home.config_file(), &process_env, &Flags::default())
        .map_err(|e| anyhow::anyhow!("{e}; {}", e.fix()))?
        .trust();
    let origin = delivery.origin.unwrap_or_else(|| Origin::File {
        path: path.to_string_lossy().into_owned(),
    });
    Fetched {
        bytes,
        signature: delivery.signature,
        origin,
        expected: None,
    }
    .admit(&trust)
}

/// `message`, with the trust warning after it.
fn with_warning(message: String, warning: Option<&String>) -> String {
    match warning {
        Some(warning) => format!("{message}\nwarning: {warning}"),
        None => message,
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("the operation's task failed")?
}

impl Control {
    /// Rewrite `run/status.json` now (after an operation, so `rosey status`
    /// shows its effect at once rather than within a second).
    pub fn refresh_status(&self) {
        super::write_status(&self.shared);
    }

    fn handle(&self, name: &str) -> Result<(PluginName, Arc<PluginHandle>)> {
        let name: PluginName = name.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let handle = self.shared.plugin(&name).with_context(|| {
            format!("no plugin named \"{name}\" is installed (see `rosey plugin list`)")
        })?;
        Ok((name, handle))
    }

    /// Wait until `name` has handled what is in its mailbox (at first, its
    /// start) and report its state.
    async fn settled(&self, name: &PluginName) -> (String, Option<String>) {
        let Some(handle) = self.shared.plugin(name) else {
            return ("removed".into(), None);
        };
        if let Some(mailbox) = &handle.mailbox {
            let (tx, rx) = oneshot::channel();
            if mailbox.send(Event::Barrier(tx)).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(30), rx).await;
            }
        }
        let (state, error) = handle.live.state_and_error();
        // The last error stays on record; it explains only a plugin that
        // is not running.
        let error = error.filter(|_| state != Lifecycle::Running);
        (state.to_string(), error)
    }

    /// Install the package at `path` and start it.
    pub async fn install(&self, path: &Path, delivery: Delivery) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let home = self.shared.config.home.clone();
        let admitted = admit_file(&home, path, delivery)?;
        self.install_now(admitted).await
    }

    /// Install a package that came in through [`Fetched::admit`] (such as an
    /// upload to the admin API) and start it.
    pub async fn install_admitted(&self, admitted: Admitted) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        self.install_now(admitted).await
    }

    /// Install `admitted`; the caller holds the operations lock.
    async fn install_now(&self, admitted: Admitted) -> Result<Outcome> {
        let home = self.shared.config.home.clone();
        let runtime = self.shared.runtime.clone();
        let warning = admitted.warning.clone();
        let report = blocking(move || {
            install::install(
                &home,
                &runtime,
                &admitted.package,
                Some(&admitted.provenance),
            )
        })
        .await?;
        let name = report.plugin.name.clone();
        let version = report.plugin.version.to_string();
        let signed = match report
            .plugin
            .provenance
            .as_ref()
            .and_then(|p| p.signer.as_ref())
        {
            Some(signer) => format!(", signed by {signer}"),
            None => String::new(),
        };
        launch(&self.shared, report.plugin, Arc::new(LiveState::new())).await;
        let (state, error) = self.settled(&name).await;
        let message = match &error {
            None => format!("Installed {name} {version}{signed}; it is {state}"),
            Some(why) => format!("Installed {name} {version}{signed}, but it is {state}: {why}"),
        };
        let message = with_warning(message, warning.as_ref());
        Ok(Outcome {
            message,
            plugin: Some(name.to_string()),
            version: Some(version),
            state: Some(state),
            migrations_applied: Some(report.migrations_applied),
            ..Outcome::default()
        })
    }

    /// Update a plugin from the package at `path`. An update that widens the
    /// plugin's powers is kept pending for `approve` instead.
    pub async fn update(&self, path: &Path, delivery: Delivery, force: bool) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let admitted = admit_file(&self.shared.config.home, path, delivery)?;
        self.update_now(admitted, force).await
    }

    /// Update a plugin from a package that came in through
    /// [`Fetched::admit`] (such as an upload to the admin API); as
    /// [`Control::update`].
    pub async fn update_admitted(&self, admitted: Admitted, force: bool) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        self.update_now(admitted, force).await
    }

    /// Update from `admitted`; the caller holds the operations lock.
    async fn update_now(&self, admitted: Admitted, force: bool) -> Result<Outcome> {
        let warning = admitted.warning.clone();
        let mut outcome = self
            .apply_update(admitted.package, Some(admitted.provenance), false, force)
            .await?;
        outcome.message = with_warning(outcome.message, warning.as_ref());
        Ok(outcome)
    }

    /// Update a plugin from a package this process built itself (`rosey
    /// dev`): no signature to check and no provenance to record. Not
    /// reachable through the control channel.
    pub async fn update_own_build(&self, path: &Path) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let package = Package::read_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.apply_update(package, None, false, false).await
    }

    /// Apply the update of `name` that waits for approval. `digest`, if
    /// given, must be the component the operator was shown.
    pub async fn approve(&self, name: &str, digest: Option<&str>, force: bool) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let (name, _) = self.handle(name)?;
        let (package, provenance) = update::load_pending(&self.shared.config.home, &name)?
            .with_context(|| format!("no update of \"{name}\" waits for approval"))?;
        if let Some(expected) = digest
            && package.digest() != expected
        {
            bail!(
                "the pending update of \"{name}\" changed after it was shown to you; \
                 nothing was changed, run `rosey plugin approve {name}` again"
            );
        }
        self.apply_update(package, provenance, true, force).await
    }

    async fn apply_update(
        &self,
        package: Package,
        provenance: Option<Provenance>,
        approved: bool,
        force: bool,
    ) -> Result<Outcome> {
        let shared = &self.shared;
        let home = shared.config.home.clone();
        let name = package.manifest.name.clone();
        let staged = {
            let home = home.clone();
            let runtime = shared.runtime.clone();
            blocking(move || update::stage(&home, &runtime, &package, provenance.as_ref(), force))
                .await?
        };
        let from = staged.old.version.to_string();
        let to = staged.package.manifest.version.to_string();
        let changes = staged.changes.clone();
        if changes.widens() && !approved {
            let running = shared.plugin(&name).is_some_and(|h| h.serving());
            return update::hold(&home, &staged, running);
        }
        update::drop_pending(&home, &name);
        let handle = shared
            .plugin(&name)
            .with_context(|| format!("plugin \"{name}\" is not known to the running host"))?;
        let was_quarantined = handle.live.state() == Lifecycle::Quarantined;
        let (Some(mailbox), Some(old_ctx)) = (handle.mailbox.clone(), handle.ctx.clone()) else {
            // Not running: nothing to start beside, so swap the files now.
            let staged = Arc::new(staged);
            let (plugin, migrations) = {
                let (home, runtime, staged) = (home.clone(), shared.runtime.clone(), staged);
                blocking(move || update::update_offline(&home, &runtime, &staged)).await?
            };
            let enabled = plugin.enabled;
            let live = Arc::clone(&handle.live);
            if enabled {
                // It was enabled but failed to load: the new version may.
                launch(shared, plugin, live).await;
            } else {
                shared.set_handle(PluginHandle::idle(plugin, live));
            }
            let (state, _) = self.settled(&name).await;
            let message = format!("Updated {name} {from} → {to} (it is {state})");
            return Ok(updated(message, &name, to, state, migrations, changes));
        };

        let manifest = staged.package.manifest.clone();
        let grants = Grants::from_manifest(&manifest);
        let prepared = (|| -> Result<_> {
            let config = crate::plugin_config::load(&manifest, &old_ctx.paths.config)?;
            let http = HttpPolicy::new(
                &manifest.network.allowed_hosts,
                shared.config.allow_private_http,
            );
            let ctx = Arc::new(old_ctx.successor(grants.clone(), manifest.limits(), config, http));
            let pre = shared.runtime.prepare(&staged.component, &grants)?;
            Ok((ctx, pre))
        })();
        let (ctx, pre) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                staged.discard();
                return Err(e);
            }
        };
        let (tx, rx) = oneshot::channel();
        let upgrade = Upgrade {
            staged: Arc::new(staged),
            pre,
            ctx: Arc::clone(&ctx),
            home: home.clone(),
        };
        if mailbox
            .send(Event::Update(Box::new(upgrade), tx))
            .await
            .is_err()
        {
            bail!("plugin \"{name}\" stopped before the update could be applied");
        }
        let migrations = match rx.await {
            Ok(Ok(migrations)) => migrations,
            Ok(Err(reason)) => {
                let _ = Registry::open(&home.host_db())
                    .and_then(|r| r.record(&name, "update failed", Some(&reason)));
                bail!("the update to {to} was rolled back: {reason}; {name} {from} keeps serving");
            }
            Err(_) => bail!("plugin \"{name}\" stopped during the update"),
        };
        let registry = Registry::open(&home.host_db())?;
        if was_quarantined {
            // A new version is a new chance.
            registry.set_enabled(&name, true)?;
        }
        let installed = registry
            .get(&name)?
            .with_context(|| format!("plugin \"{name}\" vanished from host.db"))?;
        shared.set_handle(PluginHandle {
            installed,
            mailbox: Some(mailbox),
            ctx: Some(Arc::clone(&ctx)),
            live: Arc::clone(&handle.live),
        });
        if let Ok(mut commands) = shared.commands.write() {
            commands.remove(&name);
            commands.add(&manifest);
        }
        subscribe(shared, &name, &grants).await?;
        reschedule(shared, &name, &manifest);
        let (state, _) = self.settled(&name).await;
        let message = format!("Updated {name} {from} → {to} without a restart; it is {state}");
        Ok(updated(message, &name, to, state, migrations, changes))
    }

    /// Stop `name` and delete it with all its data; unless `force`,
    /// refused (with the plugin left running) while others depend on it.
    pub async fn remove(&self, name: &str, force: bool) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let (name, handle) = self.handle(name)?;
        if !force {
            install::check_removal(&self.shared.config.home, &name)?;
        }
        handle.live.set(Lifecycle::Removing, None);
        halt(&self.shared, &name, Lifecycle::Removing).await;
        let home = self.shared.config.home.clone();
        let doomed = name.clone();
        let removed = blocking(move || install::remove(&home, &doomed, true)).await;
        update::drop_pending(&self.shared.config.home, &name);
        if let Err(e) = removed {
            handle.live.set(
                Lifecycle::Failed,
                Some(format!("remove failed half-way: {e:#}")),
            );
            return Err(e);
        }
        self.shared.forget(&name);
        Ok(Outcome {
            message: format!("Removed {name} and all its data"),
            plugin: Some(name.to_string()),
            ..Outcome::default()
        })
    }

    /// Enable `name` and start it (a quarantined plugin starts afresh).
    pub async fn enable(&self, name: &str) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let (name, handle) = self.handle(name)?;
        let registry = Registry::open(&self.shared.config.home.host_db())?;
        if handle.serving() {
            return Ok(Outcome {
                message: format!("{name} is already enabled and running"),
                plugin: Some(name.to_string()),
                state: Some(handle.live.state().to_string()),
                ..Outcome::default()
            });
        }
        registry.set_enabled(&name, true)?;
        halt(&self.shared, &name, Lifecycle::Stopped).await;
        let installed = registry
            .get(&name)?
            .with_context(|| format!("plugin \"{name}\" vanished from host.db"))?;
        launch(&self.shared, installed, Arc::clone(&handle.live)).await;
        let (state, error) = self.settled(&name).await;
        Ok(Outcome {
            message: match error {
                None => format!("Enabled {name}; it is {state}"),
                Some(why) => format!("Enabled {name}, but it is {state}: {why}"),
            },
            plugin: Some(name.to_string()),
            state: Some(state),
            ..Outcome::default()
        })
    }

    /// Stop `name` and keep it off (its data stays).
    pub async fn disable(&self, name: &str) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let (name, _) = self.handle(name)?;
        Registry::open(&self.shared.config.home.host_db())?.set_enabled(&name, false)?;
        halt(&self.shared, &name, Lifecycle::Disabled).await;
        Ok(Outcome {
            message: format!("Disabled {name}; its data is kept"),
            plugin: Some(name.to_string()),
            state: Some(Lifecycle::Disabled.to_string()),
            ..Outcome::default()
        })
    }
}

impl Control {
    /// Apply `name`'s pending migrations. A running plugin is stopped for
    /// it and started again afterwards.
    pub async fn migrate(&self, name: &str) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let (name, handle) = self.handle(name)?;
        let pending = {
            let (home, installed) = (self.shared.config.home.clone(), handle.installed.clone());
            blocking(move || migrations::status(&home, &installed)).await?
        };
        if pending.pending().next().is_none() {
            return Ok(Outcome {
                message: format!("{name} has no pending migrations"),
                plugin: Some(name.to_string()),
                migrations_applied: Some(0),
                ..Outcome::default()
            });
        }
        let was_serving = handle.serving();
        halt(&self.shared, &name, Lifecycle::Updating).await;
        let (home, target) = (self.shared.config.home.clone(), name.clone());
        let applied = blocking(move || migrations::migrate(&home, &target)).await;
        let resumed = self.resume(&name, &handle, was_serving).await;
        let applied = applied?;
        Ok(Outcome {
            message: format!(
                "Applied {} migration(s) to {name}: {}{resumed}",
                applied.len(),
                applied.join(", ")
            ),
            plugin: Some(name.to_string()),
            migrations_applied: Some(applied.len()),
            state: Some(handle_state(&self.shared, &name)),
            ..Outcome::default()
        })
    }

    /// Revert `name`'s last `steps` migrations. The plugin is stopped for
    /// it and then stays disabled: the package it runs expects the schema
    /// that was just reverted.
    pub async fn rollback(&self, name: &str, steps: usize) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let (name, handle) = self.handle(name)?;
        let was_serving = handle.serving();
        halt(&self.shared, &name, Lifecycle::Updating).await;
        let (home, target) = (self.shared.config.home.clone(), name.clone());
        let reverted = blocking(move || migrations::rollback(&home, &target, steps)).await;
        let reverted = match reverted {
            Ok(reverted) => reverted,
            Err(e) => {
                self.resume(&name, &handle, was_serving).await;
                return Err(e.context("nothing was rolled back"));
            }
        };
        handle.live.set(Lifecycle::Disabled, None);
        Ok(Outcome {
            message: migrations::rolled_back_message(&name, &reverted),
            plugin: Some(name.to_string()),
            state: Some(Lifecycle::Disabled.to_string()),
            ..Outcome::default()
        })
    }

    /// Replace `name`'s `config.yaml` with `text`, checked against its
    /// schema first. A running plugin gets the new configuration through
    /// `on-config-changed`; if it refuses, the file is put back.
    pub async fn configure(&self, name: &str, text: &str) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let (name, handle) = self.handle(name)?;
        let home = self.shared.config.home.clone();
        let manifest = handle.installed.manifest()?;
        let change = plugin_config::prepare(&home, &manifest, text)?;
        let keys = change.keys.clone();
        if keys.is_empty() && !change.text_differs {
            return Ok(Outcome {
                message: format!("{name}'s configuration is unchanged"),
                plugin: Some(name.to_string()),
                ..Outcome::default()
            });
        }
        change.save()?;
        let mailbox = handle.mailbox.clone().filter(|_| handle.serving());
        let Some(mailbox) = mailbox.filter(|_| !keys.is_empty()) else {
            return Ok(Outcome {
                message: format!(
                    "Saved {name}'s configuration (changed: {}); it is {}, and reads it \
                     when it starts",
                    list_or_none(&keys),
                    handle.live.state()
                ),
                plugin: Some(name.to_string()),
                ..Outcome::default()
            });
        };
        let (tx, rx) = oneshot::channel();
        let event = Event::Configure(
            Box::new(Reconfigure {
                config: Arc::new(change.config.clone()),
                keys: keys.clone(),
            }),
            tx,
        );
        let answer = match mailbox.send(event).await {
            Ok(()) => tokio::time::timeout(Duration::from_secs(60), rx)
                .await
                .map_err(|_| "the plugin did not answer within 60 s".to_owned())
                .and_then(|r| r.map_err(|_| "the plugin stopped".to_owned()))
                .and_then(|r| r),
            Err(_) => Err("the plugin stopped".to_owned()),
        };
        if let Err(why) = answer {
            change.undo()?;
            bail!("{why}; {name}'s config.yaml is as it was");
        }
        Ok(Outcome {
            message: format!(
                "{name} applied the new configuration (changed: {})",
                keys.join(", ")
            ),
            plugin: Some(name.to_string()),
            state: Some(handle.live.state().to_string()),
            ..Outcome::default()
        })
    }

    /// Swap in the restore staged in `run/restore/` (see
    /// [`crate::backup`]): its plugins are stopped, replaced, and started
    /// again as the backup's host.db says (enabled or not).
    pub async fn restore(&self) -> Result<Outcome> {
        let _op = self.shared.ops.lock().await;
        let home = self.shared.config.home.clone();
        let plugins = backup::staged_plugins(&home)?;
        for name in &plugins {
            if let Some(handle) = self.shared.plugin(name) {
                handle.live.set(Lifecycle::Updating, None);
                halt(&self.shared, name, Lifecycle::Stopped).await;
            }
        }
        let applied = {
            let home = home.clone();
            blocking(move || backup::apply(&home, &mut |_| true)).await
        };
        // Whatever happened, run what host.db now says.
        let registry = Registry::open(&home.host_db())?;
        let mut states = Vec::new();
        for name in &plugins {
            let Some(installed) = registry.get(name)? else {
                continue;
            };
            let live = self
                .shared
                .plugin(name)
                .map_or_else(|| Arc::new(LiveState::new()), |h| Arc::clone(&h.live));
            launch(&self.shared, installed, live).await;
            let (state, error) = self.settled(name).await;
            states.push(match error {
                None => format!("{name} {state}"),
                Some(why) => format!("{name} {state} ({why})"),
            });
        }
        applied?;
        Ok(Outcome {
            message: format!(
                "Restored {} plugin(s): {}",
                plugins.len(),
                states.join(", ")
            ),
            ..Outcome::default()
        })
    }

    /// Start `name` again after a database operation if it was serving
    /// before; says how it went, as the end of a sentence.
    async fn resume(&self, name: &PluginName, handle: &PluginHandle, was_serving: bool) -> String {
        if !was_serving {
            handle.live.set(Lifecycle::Stopped, None);
            return String::new();
        }
        launch(
            &self.shared,
            handle.installed.clone(),
            Arc::clone(&handle.live),
        )
        .await;
        match self.settled(name).await {
            (state, None) => format!("; {name} is {state}"),
            (state, Some(why)) => format!("; {name} is {state}: {why}"),
        }
    }
}

fn list_or_none(keys: &[String]) -> String {
    if keys.is_empty() {
        "nothing".into()
    } else {
        keys.join(", ")
    }
}

fn handle_state(shared: &Shared, name: &PluginName) -> String {
    shared
        .plugin(name)
        .map_or_else(|| "removed".into(), |h| h.live.state().to_string())
}

/// The outcome of an update that was applied.
fn updated(
    message: String,
    name: &PluginName,
    version: String,
    state: String,
    migrations: usize,
    changes: Changes,
) -> Outcome {
    Outcome {
        message,
        plugin: Some(name.to_string()),
        version: Some(version),
        state: Some(state),
        migrations_applied: Some(migrations),
        changes: Some(changes),
        ..Outcome::default()
    }
}
