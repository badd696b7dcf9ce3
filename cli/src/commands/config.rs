//! `rosey config path | show | validate | edit`: the host's settings file,
//! `<home>/rosey.yaml`.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use rosey_host::home::create_private_dir;
use rosey_host::host_config::{self, ConfigError, LoadedFile};
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

/// Lines `rosey config edit` puts at the top of a file that did not pass,
/// and removes again.
const ERROR_MARK: &str = "#| ";

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
    let draft = Draft::new(&real);
    let mut text = start.clone();
    loop {
        draft.write(&text)?;
        run_editor(&draft.path)?;
        let edited = fs::read_to_string(&draft.path)
            .with_context(|| format!("could not read {}", draft.path.display()))?;
        let body = without_error_block(&edited);
        let error = LoadedFile::parse(&real, &body).err();
        let Some(error) = error else {
            if body == start {
                match original {
                    Some(_) => println!("No changes; {} was not changed", real.display()),
                    None => println!("No changes; {} was not created", real.display()),
                }
                return Ok(());
            }
            write_private_atomic(&real, body.as_bytes())?;
            println!("Saved {}", real.display());
            match process::running_pid(&ctx.home) {
                Some(pid) => println!(
                    "The running host (pid {pid}) still uses the old settings: \
                     `rosey restart host` applies them"
                ),
                None => println!("The next `rosey start` uses them (`rosey config show`)"),
            }
            return Ok(());
        };
        match error.location {
            Some(at) => eprintln!(
                "The edited rosey.yaml is not valid: line {}, column {}: {}",
                at.line, at.column, error.message
            ),
            None => eprintln!("The edited rosey.yaml is not valid: {}", error.message),
        }
        if !std::io::stdin().is_terminal() {
            bail!(
                "{} was not changed (there is no terminal to ask whether to edit again)",
                real.display()
            );
        }
        if !edit_again()? {
            bail!(
                "your changes were discarded; {} was not changed",
                real.display()
            );
        }
        text = with_error_block(&body, &error);
    }
}

fn edit_again() -> Result<bool> {
    eprint!("edit again? [Y/n] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(!matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "n" | "no"
    ))
}

/// Runs `$VISUAL`, `$EDITOR` or `vi` on `path` through the shell, as git
/// does (so `EDITOR="code --wait"` works).
fn run_editor(path: &Path) -> Result<()> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("could not run the editor ({editor})"))?;
    if !status.success() {
        bail!("the editor ({editor}) exited with {status}; rosey.yaml was not changed");
    }
    Ok(())
}

/// The error, as comments at the top of the draft, with its line counted in
/// the draft as shown.
fn with_error_block(body: &str, error: &ConfigError) -> String {
    let mut block = [
        "rosey config edit: this file is not valid, so it was not saved:".to_owned(),
        String::new(),
        "Fix it, then save and quit. These lines are removed when it is saved.".to_owned(),
    ];
    let shift = block.len();
    block[1] = match error.location {
        Some(at) => format!(
            "  line {}, column {}: {}",
            at.line + shift,
            at.column,
            error.message
        ),
        None => format!("  {}", error.message),
    };
    let mut out: String = block
        .iter()
        .map(|line| format!("{ERROR_MARK}{line}\n"))
        .collect();
    out.push_str(body);
    out
}

/// `text` without the error lines [`with_error_block`] put on top.
fn without_error_block(text: &str) -> String {
    let mut rest = text;
    while rest.starts_with(ERROR_MARK.trim_end()) {
        rest = rest.split_once('\n').map_or("", |(_, after)| after);
    }
    rest.to_owned()
}

/// The copy the editor works on: beside rosey.yaml (in the owner-only
/// home), owner-only, and removed when the command ends.
struct Draft {
    path: PathBuf,
}

impl Draft {
    fn new(real: &Path) -> Self {
        let name = format!(".rosey.yaml.edit-{}.yaml", std::process::id());
        Self {
            path: real.with_file_name(name),
        }
    }

    fn write(&self, text: &str) -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.path)
            .with_context(|| format!("could not write {}", self.path.display()))?;
        file.write_all(text.as_bytes())
            .with_context(|| format!("could not write {}", self.path.display()))
    }
}

impl Drop for Draft {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Replaces `path` with `bytes` in one step: an owner-only temporary file
/// in the same directory, flushed to disk, then renamed over it.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_file_name(format!(".rosey.yaml.tmp-{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("could not write {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosey_host::host_config::Location;

    #[test]
    fn the_error_block_points_at_the_line_as_shown_and_goes_away() {
        let body = "log: info\nsupervision:\n  nope: 1\n";
        let error = LoadedFile::parse(Path::new("/h/rosey.yaml"), body).unwrap_err();
        assert_eq!(error.location, Some(Location { line: 3, column: 3 }));
        let shown = with_error_block(body, &error);
        let line = shown.lines().nth(1).unwrap();
        assert!(
            line.starts_with("#|   line 6, column 3: unknown key"),
            "{line}"
        );
        assert_eq!(shown.lines().nth(5), Some("  nope: 1"));
        assert_eq!(without_error_block(&shown), body);
        assert_eq!(without_error_block(body), body);
    }
}
