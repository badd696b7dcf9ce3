//! The plugin index, from the operator's side: `rosey plugin search`,
//! `rosey plugin outdated`, and `rosey plugin update NAME | --all`.

use anyhow::{Result, bail};
use clap::Args;
use rosey_host::package::{PluginName, SERVED_API};
use rosey_host::registry::{InstalledPlugin, Registry};
use serde::Serialize;

use super::Context;
use super::plugin::apply_update;
use super::plugin_source::load_index;
use crate::output::{OutputFormat, Table, print_json};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey plugin search quote
  rosey plugin search weather --index https://plugins.example.org/rosey/index.json")]
pub struct Search {
    /// What to look for in names, descriptions and tags (empty: everything).
    #[arg(default_value = "")]
    term: String,
    /// The plugin index to use [default: `index` in rosey.yaml, or
    /// ROSEY_INDEX].
    #[arg(long, value_name = "URL|PATH")]
    index: Option<String>,
}

#[derive(Serialize)]
struct Found {
    name: String,
    latest: Option<String>,
    installed: Option<String>,
    description: Option<String>,
    permissions: Vec<String>,
    signed: bool,
}

fn installed(ctx: &Context) -> Result<Vec<InstalledPlugin>> {
    if ctx.home.host_db().exists() {
        Registry::open(&ctx.home.host_db())?.list()
    } else {
        Ok(Vec::new())
    }
}

impl Search {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let index = load_index(ctx, self.index.as_deref())?;
        let installed = installed(ctx)?;
        let found: Vec<Found> = index
            .index
            .search(&self.term)
            .into_iter()
            .map(|(name, plugin)| {
                let latest = index.index.newest(name.as_str(), &SERVED_API);
                Found {
                    name: name.to_string(),
                    latest: latest.map(|v| v.version.to_string()),
                    installed: installed
                        .iter()
                        .find(|p| &p.name == name)
                        .map(|p| p.version.to_string()),
                    description: plugin.description.clone(),
                    permissions: latest
                        .map(|v| v.permissions.iter().map(ToString::to_string).collect())
                        .unwrap_or_default(),
                    signed: latest.is_some_and(|v| v.signature.is_some()),
                }
            })
            .collect();
        match ctx.output {
            OutputFormat::Json => print_json(&found),
            OutputFormat::Text => {
                if found.is_empty() {
                    println!("Nothing in {} matches {:?}.", index.location, self.term);
                    return Ok(());
                }
                let mut table = Table::new(vec![
                    "NAME",
                    "LATEST",
                    "INSTALLED",
                    "SIGNED",
                    "PERMISSIONS",
                    "DESCRIPTION",
                ]);
                for f in found {
                    table.row(vec![
                        f.name,
                        f.latest.unwrap_or_else(|| "(none runs here)".into()),
                        f.installed.unwrap_or_else(|| "-".into()),
                        if f.signed { "yes" } else { "no" }.into(),
                        if f.permissions.is_empty() {
                            "-".into()
                        } else {
                            f.permissions.join(",")
                        },
                        f.description.unwrap_or_default(),
                    ]);
                }
                table.print();
                Ok(())
            }
        }
    }
}

#[derive(Debug, Args)]
pub struct Outdated {
    /// The plugin index to use [default: `index` in rosey.yaml, or
    /// ROSEY_INDEX].
    #[arg(long, value_name = "URL|PATH")]
    index: Option<String>,
}

#[derive(Serialize)]
struct Behind {
    name: String,
    installed: String,
    latest: String,
    source: Option<String>,
}

impl Outdated {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let index = load_index(ctx, self.index.as_deref())?;
        let behind: Vec<Behind> = installed(ctx)?
            .into_iter()
            .filter_map(|p| {
                let latest = index.index.newest(p.name.as_str(), &SERVED_API)?;
                (latest.version > p.version).then(|| Behind {
                    name: p.name.to_string(),
                    installed: p.version.to_string(),
                    latest: latest.version.to_string(),
                    source: p.provenance.map(|pr| pr.origin.to_string()),
                })
            })
            .collect();
        match ctx.output {
            OutputFormat::Json => print_json(&behind),
            OutputFormat::Text => {
                if behind.is_empty() {
                    println!(
                        "Every installed plugin is up to date with {}.",
                        index.location
                    );
                    return Ok(());
                }
                let mut table = Table::new(vec!["NAME", "INSTALLED", "LATEST", "INSTALLED FROM"]);
                for b in behind {
                    table.row(vec![
                        b.name,
                        b.installed,
                        b.latest,
                        b.source.unwrap_or_else(|| "unknown".into()),
                    ]);
                }
                table.print();
                println!("Update with `rosey plugin update NAME`, or all with `--all`.");
                Ok(())
            }
        }
    }
}

/// Updates `names` (none: every installed plugin the index has a newer
/// version of) to the newest version in the index.
pub fn update_from_index(
    ctx: &Context,
    index: Option<&str>,
    names: &[PluginName],
    force: bool,
) -> Result<()> {
    let index = load_index(ctx, index)?;
    let installed = installed(ctx)?;
    let targets: Vec<&InstalledPlugin> = if names.is_empty() {
        installed.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                installed.iter().find(|p| &p.name == name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "no plugin named \"{name}\" is installed; install it with `rosey plugin \
                         install {name}`"
                    )
                })
            })
            .collect::<Result<_>>()?
    };
    let mut updated = 0;
    let mut failed = Vec::new();
    for plugin in targets {
        let name = &plugin.name;
        let newest = match index.index.newest(name.as_str(), &SERVED_API) {
            Some(newest) => newest,
            None if names.is_empty() => continue, // not from this index
            None => {
                // Say why: not listed, or nothing that runs here.
                index
                    .index
                    .resolve(name.as_str(), &semver::VersionReq::STAR, &SERVED_API)?;
                continue;
            }
        };
        if newest.version <= plugin.version {
            if !names.is_empty() && ctx.output == OutputFormat::Text {
                println!(
                    "{name} {} is up to date (the index's newest is {})",
                    plugin.version, newest.version
                );
            }
            continue;
        }
        let result = index
            .download(name, newest)
            .and_then(|fetched| apply_update(ctx, fetched, force));
        match result {
            Ok(()) => updated += 1,
            Err(e) if names.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                failed.push(name.to_string());
            }
        }
    }
    if names.is_empty() && updated == 0 && failed.is_empty() && ctx.output == OutputFormat::Text {
        println!(
            "Every installed plugin is up to date with {}.",
            index.location
        );
    }
    if !failed.is_empty() {
        bail!("{} update(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}
