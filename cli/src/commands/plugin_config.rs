//! `rosey plugin config NAME [show | get KEY | set KEY=VALUE... | unset KEY... | edit]`.

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use rosey_host::control::Request;
use rosey_host::package::Manifest;
use rosey_host::plugin_config::{self as config, REDACTED};
use rosey_host::registry::Registry;
use serde_json::{Map, Value};

use super::Context;
use super::plugin::running_host;
use crate::output::{OutputFormat, Table, print_json};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey plugin config quote-bot                    every key, its value and where it comes from
  rosey plugin config weather get city
  rosey plugin config weather set city=Oslo interval_minutes=15
  rosey plugin config weather unset city           back to its default
  rosey plugin config weather edit                 in $EDITOR; saved only if it fits the schema

Values are read as YAML: 15 is a number, true a boolean, [a, b] a list;
quote them (city='\"15\"') to force a string. A change is checked against the
plugin's config_schema before anything is written, and a running plugin gets
it at once through on-config-changed; if the plugin refuses it, config.yaml is
put back. Keys marked `secret: true` in the schema are shown as <secret>.
`set` and `unset` rewrite config.yaml without its comments; `edit` keeps them.")]
pub struct PluginConfig {
    /// The plugin.
    name: String,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Every key: its value (secrets hidden) and where it comes from.
    Show,
    /// One key's effective value, as JSON (a secret's too: you asked).
    Get {
        /// The key.
        key: String,
    },
    /// Set keys in config.yaml.
    Set {
        /// KEY=VALUE, VALUE read as YAML.
        #[arg(required = true, value_name = "KEY=VALUE")]
        assignments: Vec<String>,
    },
    /// Remove keys from config.yaml, so they fall back to their defaults.
    Unset {
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Edit config.yaml in $VISUAL or $EDITOR (else vi); it is saved only if
    /// it fits the schema.
    Edit,
}

impl PluginConfig {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let name = super::plugin::parse_name(&self.name)?;
        let installed = Registry::open(&ctx.home.host_db())?
            .get(&name)?
            .with_context(|| {
                format!("no plugin named \"{name}\" is installed (see `rosey plugin list`)")
            })?;
        let manifest = installed.manifest()?;
        let path = ctx.home.plugin(&name).config;
        match self.action.unwrap_or(Action::Show) {
            Action::Show => show(ctx, &manifest, &config::read_file(&path)?),
            Action::Get { key } => {
                let file = config::read_file(&path)?;
                let value = config::effective(&manifest, &file)
                    .remove(&key)
                    .with_context(|| {
                        format!(
                            "{name} has no value for \"{key}\" (see `rosey plugin config {name}`)"
                        )
                    })?;
                println!("{value}");
                Ok(())
            }
            Action::Set { assignments } => {
                let mut file = config::read_file(&path)?;
                for assignment in &assignments {
                    let Some((key, value)) = assignment.split_once('=') else {
                        bail!("\"{assignment}\" is not KEY=VALUE");
                    };
                    let key = key.trim();
                    if key.is_empty() {
                        bail!("\"{assignment}\" has no key before '='");
                    }
                    file.insert(key.to_owned(), config::parse_value(value));
                }
                apply(ctx, &manifest, config::to_yaml(&file)?)
            }
            Action::Unset { keys } => {
                let mut file = config::read_file(&path)?;
                for key in &keys {
                    if file.remove(key).is_none() {
                        bail!("config.yaml does not set \"{key}\"; nothing was changed");
                    }
                }
                apply(ctx, &manifest, config::to_yaml(&file)?)
            }
            Action::Edit => {
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => template(&manifest),
                    Err(e) => return Err(e).context("could not read config.yaml"),
                };
                let check = |text: &str| {
                    config::parse(text)
                        .and_then(|file| {
                            config::check(&manifest, &config::effective(&manifest, &file))
                        })
                        .map_err(|e| crate::editor::Invalid::from(format!("{e:#}")))
                };
                match crate::editor::edit_until_valid(&path, &text, "config.yaml", check)? {
                    None => {
                        println!("No changes; {name}'s config.yaml was not changed");
                        Ok(())
                    }
                    Some(text) => apply(ctx, &manifest, text),
                }
            }
        }
    }
}

/// Save a new config.yaml: through the running host (which hands it to the
/// plugin) or, without one, to the file.
fn apply(ctx: &Context, manifest: &Manifest, text: String) -> Result<()> {
    let name = &manifest.name;
    let message = match running_host(ctx)? {
        Some(host) => {
            host.call(&Request::Configure {
                name: name.to_string(),
                text,
            })?
            .message
        }
        None => {
            let change = config::prepare(&ctx.home, manifest, &text)?;
            change.save()?;
            format!(
                "Saved {name}'s configuration (changed: {}); the host reads it when it starts",
                if change.keys.is_empty() {
                    "nothing".into()
                } else {
                    change.keys.join(", ")
                }
            )
        }
    };
    match ctx.output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({ "plugin": name.to_string(), "message": message }))
        }
        OutputFormat::Text => {
            println!("{message}");
            Ok(())
        }
    }
}

fn show(ctx: &Context, manifest: &Manifest, file: &Map<String, Value>) -> Result<()> {
    let effective = config::effective(manifest, file);
    let shown = config::redacted(manifest, &effective);
    let secrets = config::secret_keys(manifest);
    let required: Vec<&str> = manifest
        .config_schema
        .as_ref()
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut keys: Vec<String> = shown.keys().cloned().collect();
    if let Some(properties) = manifest
        .config_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        keys.extend(
            properties
                .keys()
                .filter(|k| !shown.contains_key(*k))
                .cloned(),
        );
    }
    keys.sort();
    keys.dedup();
    let source = |key: &str| -> &'static str {
        if file.contains_key(key) {
            "config.yaml"
        } else if shown.contains_key(key) {
            "default"
        } else if required.contains(&key) {
            "unset (required)"
        } else {
            "unset"
        }
    };
    if ctx.output == OutputFormat::Json {
        let out: Map<String, Value> = keys
            .iter()
            .map(|k| {
                (
                    k.clone(),
                    serde_json::json!({
                        "value": shown.get(k),
                        "source": source(k),
                        "secret": secrets.contains(k),
                    }),
                )
            })
            .collect();
        return print_json(&out);
    }
    if keys.is_empty() {
        println!("{} has no configuration keys.", manifest.name);
        return Ok(());
    }
    let mut table = Table::new(vec!["KEY", "VALUE", "SOURCE"]);
    for key in &keys {
        let value = match shown.get(key) {
            Some(Value::String(s)) if s == REDACTED && secrets.contains(key) => REDACTED.into(),
            Some(value) => value.to_string(),
            None => "-".into(),
        };
        table.row(vec![key.clone(), value, source(key).into()]);
    }
    table.print();
    if let Err(e) = config::check(manifest, &effective) {
        eprintln!(
            "warning: this configuration does not fit the schema, so the plugin will not start:\n{e}"
        );
    }
    Ok(())
}

/// A first config.yaml: every key commented out, with its default.
fn template(manifest: &Manifest) -> String {
    let mut out = format!(
        "# {}'s configuration. Uncomment and change what you need; keys left\n# out take their defaults.\n",
        manifest.name
    );
    let properties = manifest
        .config_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    for (key, schema) in properties.into_iter().flatten() {
        if let Some(description) = schema.get("description").and_then(Value::as_str) {
            out.push_str(&format!("\n# {description}\n"));
        } else {
            out.push('\n');
        }
        let default = schema
            .get("default")
            .map_or_else(|| "".to_owned(), |d| format!(" {d}"));
        out.push_str(&format!("# {key}:{default}\n"));
    }
    out
}
