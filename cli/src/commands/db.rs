//! `rosey db`: plugin schemas (status, migrate, rollback), backups and
//! restores, and a SQL shell.

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use rosey_host::control::Request;
use rosey_host::migrations::{self, SchemaStatus};
use rosey_host::package::PluginName;
use rosey_host::registry::{InstalledPlugin, Registry};

use super::Context;
use super::plugin::{confirm, running_host};
use crate::output::{OutputFormat, print_json};

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
