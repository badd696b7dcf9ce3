//! `rosey dev [DIR]`: the author's loop. Build the plugin, run it on a host
//! of its own (dev home `DIR/.rosey-dev/`, a local nats-server), chat with
//! it, and on every change to the project rebuild it and hot-reload it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use clap::Args;
use rosey_host::home::RoseyHome;
use rosey_host::nats::ManagedNats;
use rosey_host::package::Package;
use rosey_host::registry::Registry;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::supervisor::{Control, Host, HostConfig};
use rosey_host::{install, update};

use super::Context;
use super::chat::Chat;
use super::plugin::build_component;

/// How often the project is checked for changes.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
#[command(
    after_help = "Everything lives in DIR/.rosey-dev/ (add it to .gitignore): the plugin's \
database, files, config.yaml and logs survive between runs. Permissions a rebuild adds are \
approved for you here, and only here."
)]
pub struct Dev {
    /// The plugin project (the directory holding manifest.yaml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The channel your chat messages are said in.
    #[arg(long, default_value = "lobby")]
    channel: String,
}

impl Dev {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let dir = std::path::absolute(&self.dir)?;
        let home = RoseyHome::new(dir.join(".rosey-dev"));
        home.ensure()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.serve(ctx, &dir, home))
    }

    async fn serve(self, ctx: &Context, dir: &Path, home: RoseyHome) -> Result<()> {
        let mut managed = None;
        let url = match &ctx.nats_url {
            Some(url) => url.clone(),
            None => {
                let server = ManagedNats::start(Some(&home.nats_log())).await?;
                let url = server.url();
                managed = Some(server);
                url
            }
        };
        // The first build must succeed: there is nothing to run otherwise.
        let mut seen = fingerprint(dir);
        let archive = build(dir, &home).await?;
        {
            let (home, archive) = (home.clone(), archive.clone());
            tokio::task::spawn_blocking(move || install_or_update(&home, &archive))
                .await
                .context("the install task failed")??;
        }
        let mut config = HostConfig::new(home.clone(), url.clone());
        config.managed_nats = managed.is_some();
        let host = Host::start(config).await?;
        let control = host.control();
        eprintln!(
            "rosey dev: watching {} (NATS {url}, home {}); edit the plugin to rebuild it, \
             chat below, Ctrl-D or Ctrl-C to quit",
            dir.display(),
            home.root().display()
        );

        let chat = Chat::console(&self.channel, "dev").chat(url);
        tokio::pin!(chat);
        let mut tick = tokio::time::interval(POLL);
        let result = loop {
            tokio::select! {
                ended = &mut chat => break ended,
                _ = tokio::signal::ctrl_c() => break Ok(()),
                _ = tick.tick() => {
                    let now = fingerprint(dir);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    reload(dir, &home, &control).await;
                }
            }
        };
        host.shutdown().await;
        if let Some(server) = managed {
            server.stop().await;
        }
        result
    }
}

/// Build the project into `.rosey-dev/build/<name>.roseyplug`.
async fn build(dir: &Path, home: &RoseyHome) -> Result<PathBuf> {
    let (dir, home) = (dir.to_owned(), home.clone());
    tokio::task::spawn_blocking(move || -> Result<PathBuf> {
        let (manifest, wasm) = build_component(&dir)?;
        let package = Package::from_project_dir(&dir, wasm).map_err(|e| anyhow::anyhow!("{e}"))?;
        let out_dir = home.root().join("build");
        rosey_host::home::create_private_dir(&out_dir)?;
        let out = out_dir.join(format!("{}.roseyplug", manifest.name));
        let bytes = package
            .write_archive()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        std::fs::write(&out, bytes)
            .with_context(|| format!("could not write {}", out.display()))?;
        Ok(out)
    })
    .await
    .context("the build task failed")?
}

/// Before the host starts: install the plugin, or update the copy a
/// previous run installed (approving what it asks for: it is the author's).
fn install_or_update(home: &RoseyHome, archive: &Path) -> Result<()> {
    let package = Package::read_file(archive).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = Runtime::new(RoseyEngine::new()?)?;
    let installed = Registry::open(&home.host_db())?.get(&package.manifest.name)?;
    match installed {
        None => {
            install::install(home, &runtime, &package, None)?;
        }
        Some(old)
            if old.digest == package.digest() && old.manifest_yaml == package.manifest_yaml => {}
        Some(_) => {
            let mode = update::UpdateMode {
                approved: true,
                force: false,
            };
            update::offline(home, &runtime, &package, None, mode)?;
        }
    }
    Ok(())
}

/// Rebuild and hot-reload after a change; errors are shown, and the running
/// version keeps serving.
async fn reload(dir: &Path, home: &RoseyHome, control: &Control) {
    eprintln!("rosey dev: change detected, rebuilding…");
    let archive = match build(dir, home).await {
        Ok(archive) => archive,
        Err(e) => {
            eprintln!("rosey dev: build failed, the running version keeps serving: {e:#}");
            return;
        }
    };
    let outcome = match control.update_own_build(&archive).await {
        Ok(outcome) if outcome.pending => {
            if let Some(changes) = &outcome.changes {
                eprintln!(
                    "rosey dev: approving for this dev home:\n{}",
                    changes.to_string().trim_end()
                );
            }
            let digest = Package::read_file(&archive).ok().map(|p| p.digest());
            let name = outcome.plugin.clone().unwrap_or_default();
            control.approve(&name, digest.as_deref(), false).await
        }
        other => other,
    };
    match outcome {
        Ok(outcome) => eprintln!("rosey dev: {}", outcome.message),
        Err(e) => eprintln!("rosey dev: not reloaded: {e:#}"),
    }
    control.refresh_status();
}

/// What the project's files look like now: paths, sizes and modification
/// times, skipping build output, installed dependencies, the dev home and
/// hidden directories.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Build output and installed dependencies (a JavaScript
            // project's node_modules holds thousands of files).
            let generated = matches!(&*name, "target" | "node_modules" | "__pycache__");
            if name.starts_with('.') || generated || name.ends_with(".roseyplug") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                walk(&entry.path(), out);
            } else {
                out.push((entry.path(), meta.len(), meta.modified().ok()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}
