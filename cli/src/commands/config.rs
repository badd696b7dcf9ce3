//! `rosey config path | show | validate | edit`: the host's settings file,
//! `<home>/rosey.yaml`.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use rosey_host::home::{create_private_dir, write_private};

use crate::editor::{Invalid, edit_until_valid};
use rosey_host::host_config::{self, LoadedFile};
use serde_json::json;

use super::Context;
use crate::output::{OutputFormat, Table, print_json};
use crate::process;

/// Printed after `rosey config --help`.
pub const EXAMPLES: &str = "\
Examples:
  rosey config show                      every setting, its value and where it comes from
  rosey config edit                      edit rosey.yaml; it is checked before it is saved
  rosey config validate                  check the home's rosey.yaml (exit 1 on an error)
  rosey config validate staging.yaml     check another file, e.g. before copying it in
  $EDITOR \"$(rosey config path)\"         edit it by hand

Precedence: built-in defaults < rosey.yaml < ROSEY_* environment < command-line flags.
A running host reads rosey.yaml when it starts: `rosey restart host` applies a change.
Every key: docs/operator-guide.md#configuration, or `rosey config edit` on a new home.";

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the path of the host's settings file, `<home>/rosey.yaml`.
    Path,
    /// Show every setting: its effective value and where it came from
    /// (`default`, `file (PATH:LINE)`, `env (ROSEY_X)` or `flag (--x)`).
    ///
    /// Flags of `rosey start` are not taken here; the global --nats-url is.
    /// Exits 1 if rosey.yaml or a ROSEY_* variable is not valid.
    Show,
    /// Check a settings file: prints `ok`, or the error with its line and
    /// column and exits 1.
    Validate(Validate),
    /// Edit rosey.yaml in $VISUAL or $EDITOR (else vi), and save it only if
    /// it is valid.
    ///
    /// Without a rosey.yaml, you start from a template listing every key
    /// with its default. If what you saved is not valid, the error is shown
    /// and you are asked whether to edit again (the error is then at the
    /// top of the file); otherwise rosey.yaml is left as it was and the
    /// command exits 1, as it does at once without a terminal. A valid file
    /// replaces rosey.yaml in one step (mode 0600).
    Edit,
}

#[derive(Debug, Args)]
pub struct Validate {
    /// The file to check [default: the home's rosey.yaml].
    file: Option<PathBuf>,
}

impl ConfigCommand {
    pub fn run(self, ctx: &Context) -> Result<()> {
        match self {
            ConfigCommand::Path => path(ctx),
            ConfigCommand::Show => show(ctx),
            ConfigCommand::Validate(validate) => validate.run(ctx),
            ConfigCommand::Edit => edit(ctx),
        }
    }
}

fn path(ctx: &Context) -> Result<()> {
    let path = std::path::absolute(ctx.home.config_file())?;
    match ctx.output {
        OutputFormat::Json => print_json(&json!({
            "path": path,
            "exists": path.is_file(),
        })),
        OutputFormat::Text => {
            println!("{}", path.display());
            Ok(())
        }
    }
}

fn show(ctx: &Context) -> Result<()> {
    let settings = ctx.settings()?;
    let entries = settings.entries();
    if ctx.output == OutputFormat::Json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                json!({
                    "key": e.key.name,
                    "value": e.value,
                    "source": e.source.kind(),
                    "origin": e.source.origin(),
                    "default": e.key.default.map(|d| d.trim_matches('"')),
                    "env": e.key.env,
                    "flag": e.key.flag,
                })
            })
            .collect();
        return print_json(&json!({
            "file": settings.file,
            "file_exists": settings.file_exists,
            "settings": list,
        }));
    }
    let mut table = Table::new(vec!["KEY", "VALUE", "SOURCE"]);
    for e in &entries {
        table.row(vec![
            e.key.name.into(),
            e.text.clone(),
            e.source.to_string(),
        ]);
    }
    table.print();
    if !settings.file_exists {
        println!(
            "(no {} yet: `rosey config edit` creates it)",
            settings.file.display()
        );
    }
    Ok(())
}

impl Validate {
    fn run(self, ctx: &Context) -> Result<()> {
        let (path, given) = match self.file {
            Some(file) => (file, true),
            None => (ctx.home.config_file(), false),
        };
        let result = LoadedFile::read(&path);
        if given && matches!(result, Ok(None)) {
            bail!("{} does not exist", path.display());
        }
        match (ctx.output, &result) {
            (OutputFormat::Json, Ok(_)) => {
                print_json(&json!({ "file": path, "ok": true, "errors": [] }))?
            }
            (OutputFormat::Json, Err(e)) => print_json(&json!({
                "file": path,
                "ok": false,
                "errors": [{
                    "line": e.location.map(|l| l.line),
                    "column": e.location.map(|l| l.column),
                    "message": e.message,
                }],
            }))?,
            (OutputFormat::Text, Ok(loaded)) => {
                println!("ok");
                if loaded.is_none() {
                    eprintln!(
                        "(there is no {}: every setting has its default)",
                        path.display()
                    );
                }
            }
            (OutputFormat::Text, Err(e)) => println!("{e}"),
        }
        if result.is_err() {
            bail!("{} is not valid", path.display());
        }
        Ok(())
    }
}

/// `rosey config edit`: a draft beside rosey.yaml, the editor, a check,
/// and an atomic replace only if the draft is valid.
fn edit(ctx: &Context) -> Result<()> {
    let real = ctx.home.config_file();
    create_private_dir(ctx.home.root())?;
    let original = match fs::read_to_string(&real) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("could not read {}", real.display())),
    };
    let start = original.clone().unwrap_or_else(host_config::template);
    let check = |text: &str| {
        LoadedFile::parse(&real, text)
            .map(|_| ())
            .map_err(|error| Invalid {
                message: error.message,
                at: error.location.map(|at| (at.line, at.column)),
            })
    };
    let Some(body) = edit_until_valid(&real, &start, "rosey.yaml", check)? else {
        match original {
            Some(_) => println!("No changes; {} was not changed", real.display()),
            None => println!("No changes; {} was not created", real.display()),
        }
        return Ok(());
    };
    write_private(&real, body.as_bytes())?;
    println!("Saved {}", real.display());
    match process::running_pid(&ctx.home) {
        Some(pid) => println!(
            "The running host (pid {pid}) still uses the old settings: \
             `rosey restart host` applies them"
        ),
        None => println!("The next `rosey start` uses them (`rosey config show`)"),
    }
    Ok(())
}
