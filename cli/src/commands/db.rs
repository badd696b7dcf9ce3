//! `rosey db`: plugin schemas (status, migrate, rollback), backups and
//! restores, and a SQL shell.

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rosey_host::backup;
use rosey_host::control::Request;
use rosey_host::migrations::{self, SchemaStatus};
use rosey_host::package::PluginName;
use rosey_host::registry::{InstalledPlugin, Registry};
use rosey_host::runtime::{RoseyEngine, Runtime};

use super::Context;
use super::plugin::{confirm, running_host};
use crate::output::{OutputFormat, human_bytes, print_json};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show each plugin's migrations: applied (and when), pending, and
    /// whether they can be rolled back.
    #[command(after_help = "Examples:
  rosey db status                 every plugin
  rosey db status quote-bot --output json")]
    Status(Target),
    /// Apply pending migrations (all plugins, or one). All or nothing per
    /// plugin: the database is snapshotted first. A running plugin is
    /// stopped for it and started again.
    #[command(
        after_help = "Migrations are applied by `rosey plugin install` and `update`; \
        this is for bringing a schema forward again after `rosey db rollback`."
    )]
    Migrate(Target),
    /// Revert a plugin's newest migrations with their down SQL, in one
    /// transaction, and disable the plugin (its package expects the newer
    /// schema).
    #[command(after_help = "Examples:
  rosey db rollback quote-bot           the newest migration
  rosey db rollback quote-bot 2 --yes   the two newest, without asking

A down migration can delete data (DROP TABLE ...): take a `rosey db backup` first.
Typical use: roll back, then `rosey plugin update` to the older version that
matches the schema, then `rosey plugin enable`.")]
    Rollback(Rollback),
    /// Back up host.db, every plugin (package, database, files, config) and
    /// rosey.yaml into one ZIP with checksums. Safe while the host runs:
    /// databases are copied with SQLite's online backup API.
    #[command(after_help = "Examples:
  rosey db backup                       into ROSEY_HOME/backups/rosey-backup-<time>.zip
  rosey db backup /srv/rosey-nightly.zip
  rosey db restore --check /srv/rosey-nightly.zip   verify a backup without restoring it")]
    Backup(Backup),
    /// Restore a backup: verify every checksum, database and package first
    /// (a damaged or foreign file is refused with nothing changed), then
    /// stop the plugins it holds, swap their data in, and start them again.
    #[command(
        after_help = "Plugins installed now but not in the backup are left as they are.
The current data of the plugins in the backup is replaced: take a backup first.
If a restore is interrupted after its checks, the next `rosey start` (or
`rosey db restore --recover`) finishes it; before that point nothing changed."
    )]
    Restore(Restore),
    /// An SQL shell on a plugin's database (or, without PLUGIN, host.db):
    /// read-only unless --write; `.tables`, `.schema`, `.mode`, `.help`.
    #[command(after_help = "Examples:
  rosey db shell quote-bot                       look around (read-only)
  echo 'SELECT count(*) FROM quotes;' | rosey db shell quote-bot
  rosey db shell quote-bot --write               change data (stop the plugin first if it writes)

On a terminal, lines are editable and the history is kept in ROSEY_HOME/.db_shell_history.
Piped statements run one after another; the exit code is 1 if any failed.")]
    Shell(Shell),
}

#[derive(Debug, Args)]
pub struct Shell {
    /// The plugin whose database to open (default: the host's host.db).
    plugin: Option<String>,
    /// Allow statements that change the database.
    #[arg(long)]
    write: bool,
}

impl Shell {
    fn run(self, ctx: &Context) -> Result<()> {
        let (path, title) = match &self.plugin {
            None => (ctx.home.host_db(), "host".to_owned()),
            Some(name) => {
                let plugin = targets(ctx, Some(name))?.pop().context("no such plugin")?;
                let path = ctx.home.plugin(&plugin.name).database;
                if !path.exists() {
                    bail!(
                        "{} has no database yet (it has not used SQL, or lacks the \
                         database_access permission)",
                        plugin.name
                    );
                }
                (path, plugin.name.to_string())
            }
        };
        if !path.exists() {
            bail!(
                "{} does not exist: nothing is installed in this home yet",
                path.display()
            );
        }
        super::db_shell::run(
            &path,
            &super::db_shell::ShellOptions {
                write: self.write,
                history: Some(ctx.home.root().join(".db_shell_history")),
                title,
            },
        )
    }
}

#[derive(Debug, Args)]
pub struct Backup {
    /// Where to write the backup (default: ROSEY_HOME/backups/rosey-backup-<time>.zip).
    #[arg(value_name = "OUTPUT")]
    file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct Restore {
    /// The backup file.
    #[arg(required_unless_present = "recover")]
    file: Option<std::path::PathBuf>,
    /// Only verify the backup and list what it holds; change nothing.
    #[arg(long)]
    check: bool,
    /// Finish (or clear away) a restore that was interrupted.
    #[arg(long, conflicts_with_all = ["file", "check"])]
    recover: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct Target {
    /// The plugin (default: every installed plugin).
    plugin: Option<String>,
}

#[derive(Debug, Args)]
pub struct Rollback {
    /// The plugin.
    plugin: String,
    /// How many migrations to revert, newest first.
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

impl DbCommand {
    pub fn run(self, ctx: &Context) -> Result<()> {
        match self {
            Self::Status(target) => status(ctx, target.plugin.as_deref()),
            Self::Migrate(target) => migrate(ctx, target.plugin.as_deref()),
            Self::Rollback(rollback) => rollback.run(ctx),
            Self::Backup(backup) => backup.run(ctx),
            Self::Restore(restore) => restore.run(ctx),
            Self::Shell(shell) => shell.run(ctx),
        }
    }
}

/// The installed plugins `plugin` names (all of them if `None`).
fn targets(ctx: &Context, plugin: Option<&str>) -> Result<Vec<InstalledPlugin>> {
    let registry = Registry::open(&ctx.home.host_db())?;
    match plugin {
        None => registry.list(),
        Some(name) => {
            let name: PluginName = name.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let plugin = registry.get(&name)?.with_context(|| {
                format!("no plugin named \"{name}\" is installed (see `rosey plugin list`)")
            })?;
            Ok(vec![plugin])
        }
    }
}

fn status(ctx: &Context, plugin: Option<&str>) -> Result<()> {
    let schemas = targets(ctx, plugin)?
        .iter()
        .map(|p| migrations::status(&ctx.home, p))
        .collect::<Result<Vec<SchemaStatus>>>()?;
    if ctx.output == OutputFormat::Json {
        return print_json(&schemas);
    }
    if schemas.is_empty() {
        println!("No plugins are installed.");
    }
    for schema in &schemas {
        let pending = schema.pending().count();
        println!(
            "{} {}: {} applied, {pending} pending",
            schema.plugin,
            schema.version,
            schema.applied().count()
        );
        for m in &schema.migrations {
            let state = match m.applied_at {
                Some(at) => format!("applied {} ago", crate::output::ago(at)),
                None => "pending".into(),
            };
            let mut notes = Vec::new();
            if m.reversible {
                notes.push("has down");
            }
            if m.changed {
                notes.push("CHANGED since applied: the package's up SQL differs");
            }
            if m.unknown {
                notes.push("not in the installed package");
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            };
            println!("  {:<28} {state}{notes}", m.label);
        }
    }
    Ok(())
}

fn migrate(ctx: &Context, plugin: Option<&str>) -> Result<()> {
    let plugins = targets(ctx, plugin)?;
    let on_host = running_host(ctx)?.is_some();
    let mut outcomes = Vec::new();
    let mut failed = 0;
    for plugin in &plugins {
        let name = plugin.name.to_string();
        let result = if on_host {
            running_host(ctx)?
                .context("the host stopped while migrating")?
                .call(&Request::Migrate { name: name.clone() })
                .map(|o| o.message)
        } else {
            migrations::migrate(&ctx.home, &plugin.name).map(|applied| {
                if applied.is_empty() {
                    format!("{name} has no pending migrations")
                } else {
                    format!(
                        "Applied {} migration(s) to {name}: {}",
                        applied.len(),
                        applied.join(", ")
                    )
                }
            })
        };
        match result {
            Ok(message) => {
                if ctx.output == OutputFormat::Text {
                    println!("{message}");
                }
                outcomes.push(serde_json::json!({"plugin": name, "ok": true, "message": message}));
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {name}: {e:#}");
                outcomes.push(
                    serde_json::json!({"plugin": name, "ok": false, "message": format!("{e:#}")}),
                );
            }
        }
    }
    if ctx.output == OutputFormat::Json {
        print_json(&outcomes)?;
    }
    if failed > 0 {
        bail!("{failed} plugin(s) could not be migrated; their databases are as they were");
    }
    Ok(())
}

impl Rollback {
    fn run(self, ctx: &Context) -> Result<()> {
        let plugin = targets(ctx, Some(&self.plugin))?
            .pop()
            .context("no such plugin")?;
        let schema = migrations::status(&ctx.home, &plugin)?;
        let steps = self.steps as usize;
        let doomed: Vec<&str> = schema
            .applied()
            .rev()
            .take(steps)
            .map(|m| m.label.as_str())
            .collect();
        if doomed.len() < steps {
            bail!(
                "{} has {} applied migration(s); cannot roll back {steps} (see `rosey db status {}`)",
                plugin.name,
                doomed.len(),
                plugin.name
            );
        }
        if !self.yes
            && !confirm(
                &format!(
                    "Run the down SQL of {} in {} (it may delete data) and disable {}?",
                    doomed.join(", "),
                    plugin.name,
                    plugin.name
                ),
                "re-run with --yes to roll back",
            )?
        {
            bail!("nothing was rolled back");
        }
        let message = match running_host(ctx)? {
            Some(host) => {
                host.call(&Request::Rollback {
                    name: plugin.name.to_string(),
                    steps,
                })?
                .message
            }
            None => {
                let reverted = migrations::rollback(&ctx.home, &plugin.name, steps)
                    .context("nothing was rolled back")?;
                migrations::rolled_back_message(&plugin.name, &reverted)
            }
        };
        match ctx.output {
            OutputFormat::Json => print_json(&serde_json::json!({
                "plugin": plugin.name.to_string(),
                "message": message,
            })),
            OutputFormat::Text => {
                println!("{message}");
                Ok(())
            }
        }
    }
}

/// A progress bar on a terminal (nothing otherwise) for byte counts.
fn progress_bar(ctx: &Context, verb: &'static str) -> ProgressBar {
    if ctx.output == OutputFormat::Json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}) {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(verb);
    bar
}

fn update_bar(bar: &ProgressBar) -> impl FnMut(u64, u64, &str) + '_ {
    move |done, total, what| {
        if total > 0 {
            bar.set_length(total);
        }
        bar.set_position(done);
        bar.set_message(what.to_owned());
    }
}

impl Backup {
    fn run(self, ctx: &Context) -> Result<()> {
        let output = match self.file {
            Some(path) => path,
            None => {
                let dir = ctx.home.root().join("backups");
                rosey_host::home::create_private_dir(&dir)?;
                dir.join(format!(
                    "rosey-backup-{}.zip",
                    chrono::Local::now().format("%Y%m%d-%H%M%S")
                ))
            }
        };
        if output.exists() {
            bail!(
                "{} exists; name another file (a backup never overwrites one)",
                output.display()
            );
        }
        let started = Instant::now();
        let bar = progress_bar(ctx, "backing up");
        let index = backup::create(&ctx.home, &output, &mut update_bar(&bar))?;
        bar.finish_and_clear();
        let size = std::fs::metadata(&output)?.len();
        let summary = serde_json::json!({
            "file": output,
            "plugins": index.plugins.iter().map(|p| format!("{} {}", p.name, p.version)).collect::<Vec<_>>(),
            "files": index.files.len(),
            "data_bytes": index.total_bytes(),
            "backup_bytes": size,
            "seconds": started.elapsed().as_secs_f64(),
        });
        match ctx.output {
            OutputFormat::Json => print_json(&summary),
            OutputFormat::Text => {
                println!(
                    "Backed up {} plugin(s), {} in {} file(s), to {} ({}, {:.1} s)",
                    index.plugins.len(),
                    human_bytes(index.total_bytes()),
                    index.files.len(),
                    output.display(),
                    human_bytes(size),
                    started.elapsed().as_secs_f64()
                );
                println!(
                    "Check it any time with `rosey db restore --check {}`",
                    output.display()
                );
                Ok(())
            }
        }
    }
}

impl Restore {
    fn run(self, ctx: &Context) -> Result<()> {
        let _lock = backup::RestoreLock::acquire(&ctx.home)?;
        if let Some(done) = backup::recover(&ctx.home)? {
            println!("Rosey {done}");
        } else if self.recover {
            println!("There was no interrupted restore.");
        }
        let Some(file) = self.file else {
            return Ok(());
        };
        let started = Instant::now();
        let runtime = Runtime::new(RoseyEngine::new()?)?;
        let bar = progress_bar(ctx, "verifying");
        let staged = backup::stage(&ctx.home, &runtime, &file, &mut update_bar(&bar));
        bar.finish_and_clear();
        let staged = staged?;
        let discard = || {
            let _ = std::fs::remove_dir_all(backup::staging_dir(&ctx.home));
        };
        let index = &staged.index;
        let when = chrono::DateTime::from_timestamp_millis(index.created_at)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|| "an unknown time".into());
        if ctx.output == OutputFormat::Text {
            println!(
                "{}: a Rosey {} backup from {when}, {} in {} file(s), every checksum, \
                 database and package verified",
                file.display(),
                index.rosey_version,
                human_bytes(index.total_bytes()),
                index.files.len()
            );
            for plugin in &index.plugins {
                let replaces = if staged.replaced.contains(&plugin.name) {
                    "  (replaces the installed one and its data)"
                } else {
                    ""
                };
                let enabled = if plugin.enabled { "" } else { ", disabled" };
                println!("  {} {}{enabled}{replaces}", plugin.name, plugin.version);
            }
            if !staged.untouched.is_empty() {
                println!(
                    "  not in the backup, left as they are: {}",
                    staged.untouched.join(", ")
                );
            }
        }
        if self.check {
            discard();
            if ctx.output == OutputFormat::Json {
                print_json(index)?;
            }
            return Ok(());
        }
        if !self.yes
            && !staged.replaced.is_empty()
            && !confirm(
                &format!(
                    "Replace the data of {} with the backup's?",
                    staged.replaced.join(", ")
                ),
                "re-run with --yes to restore",
            )
            .inspect_err(|_| discard())?
        {
            discard();
            bail!("nothing was restored");
        }
        let message = match running_host(ctx).inspect_err(|_| discard())? {
            Some(host) => host.call(&Request::Restore)?.message,
            None => {
                backup::apply(&ctx.home, &mut |_| true)?;
                format!(
                    "Restored {} plugin(s); `rosey start` runs them",
                    index.plugins.len()
                )
            }
        };
        match ctx.output {
            OutputFormat::Json => print_json(&serde_json::json!({
                "message": message,
                "plugins": index.plugins,
                "untouched": staged.untouched,
                "seconds": started.elapsed().as_secs_f64(),
            })),
            OutputFormat::Text => {
                println!("{message} ({:.1} s)", started.elapsed().as_secs_f64());
                Ok(())
            }
        }
    }
}
