//! `rosey clean`: free the space Rosey can rebuild (logs, compiled code,
//! leftovers of interrupted installs); plugin data only with `--all`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use rosey_host::home::{disk_usage, sqlite_files};
use rosey_host::logfile;
use serde::Serialize;

use super::Context;
use super::plugin::confirm;
use crate::output::{OutputFormat, human_bytes, print_json};
use crate::process;

#[derive(Debug, Args)]
#[command(after_help = "What goes:
  logs            logs/host.log, logs/nats.log and every plugin's log (emptied, rotated copies deleted)
  compiled code   plugins/*/compiled.cwasm (rebuilt when a plugin next loads)
  leftovers       plugins/.staging/ (interrupted installs and removals)
With --all, also every plugin with ALL its data (databases, files, config.yaml, pending updates)
and host.db: the home as new. --all refuses while a host runs.")]
pub struct Clean {
    /// Also delete every plugin and all its data, and host.db.
    #[arg(long)]
    all: bool,
    /// With --all: do not ask for confirmation.
    #[arg(short, long)]
    yes: bool,
}

#[derive(Debug, Serialize)]
struct Cleaned {
    what: &'static str,
    path: PathBuf,
    bytes: u64,
}

impl Clean {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let home = &ctx.home;
        if !home.root().is_dir() {
            bail!(
                "{} does not exist; there is nothing to clean",
                home.root().display()
            );
        }
        let running = process::running_pid(&ctx.home);
        if self.all {
            if let Some(pid) = running {
                bail!(
                    "the host is running (pid {pid}); stop it first with `rosey stop`, then clean --all"
                );
            }
            if !self.yes
                && !confirm(
                    &format!(
                        "Delete every plugin and ALL its data (databases, files, config) in {}?",
                        home.root().display()
                    ),
                    "re-run with --yes to confirm",
                )?
            {
                bail!("nothing was deleted");
            }
        }
        let mut cleaned = Vec::new();
        // Logs: emptied in place (a running host keeps appending to them),
        // rotated copies deleted.
        let mut logs = vec![home.host_log(), home.nats_log()];
        if let Ok(entries) = fs::read_dir(home.logs_dir().join("plugins")) {
            logs.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "log")),
            );
        }
        for log in logs {
            for file in logfile::all_files(&log) {
                let bytes = fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                let done = if file == log {
                    fs::OpenOptions::new()
                        .write(true)
                        .truncate(true)
                        .open(&file)
                        .map(drop)
                } else {
                    fs::remove_file(&file)
                };
                done.with_context(|| format!("could not clean {}", file.display()))?;
                cleaned.push(Cleaned {
                    what: "log",
                    path: file,
                    bytes,
                });
            }
        }
        let plugin_dirs: Vec<PathBuf> = fs::read_dir(home.plugins_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir() && !is_hidden(p))
                    .collect()
            })
            .unwrap_or_default();
        for dir in &plugin_dirs {
            let paths = rosey_host::home::PluginPaths::at(dir.clone());
            for file in [paths.compiled, paths.compiled_key] {
                if let Ok(meta) = fs::metadata(&file) {
                    fs::remove_file(&file)
                        .with_context(|| format!("could not delete {}", file.display()))?;
                    cleaned.push(Cleaned {
                        what: "compiled code",
                        path: file,
                        bytes: meta.len(),
                    });
                }
            }
        }
        remove_dir(&home.staging_dir(), "leftovers", &mut cleaned)?;
        if self.all {
            for dir in plugin_dirs {
                remove_dir(&dir, "plugin data", &mut cleaned)?;
            }
            remove_dir(&home.pending_dir(), "pending updates", &mut cleaned)?;
            for db in sqlite_files(&home.host_db()) {
                if let Ok(meta) = fs::metadata(&db) {
                    fs::remove_file(&db)
                        .with_context(|| format!("could not delete {}", db.display()))?;
                    cleaned.push(Cleaned {
                        what: "host.db",
                        path: db,
                        bytes: meta.len(),
                    });
                }
            }
        }
        let freed: u64 = cleaned.iter().map(|c| c.bytes).sum();
        match ctx.output {
            OutputFormat::Json => print_json(&serde_json::json!({
                "freed_bytes": freed,
                "cleaned": cleaned,
            })),
            OutputFormat::Text => {
                for what in [
                    "log",
                    "compiled code",
                    "leftovers",
                    "plugin data",
                    "pending updates",
                    "host.db",
                ] {
                    let items: Vec<&Cleaned> = cleaned.iter().filter(|c| c.what == what).collect();
                    if !items.is_empty() {
                        let bytes = items.iter().map(|c| c.bytes).sum::<u64>();
                        println!("  {what} ({}): {}", items.len(), human_bytes(bytes));
                    }
                }
                println!("Freed {} in {}", human_bytes(freed), home.root().display());
                Ok(())
            }
        }
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Delete `dir`, counting what it held (`remove_dir_all` removes a symlink
/// inside, never what it points to).
fn remove_dir(dir: &Path, what: &'static str, cleaned: &mut Vec<Cleaned>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let bytes = disk_usage(dir);
    fs::remove_dir_all(dir).with_context(|| format!("could not delete {}", dir.display()))?;
    cleaned.push(Cleaned {
        what,
        path: dir.to_owned(),
        bytes,
    });
    Ok(())
}
