//! `rosey plugin ...`: build, install, inspect, enable, disable, remove.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use rosey_host::control::client::ControlClient;
use rosey_host::control::{Outcome, Request};
use rosey_host::install;
use rosey_host::package::{Manifest, Package, PackageError, PluginName};
use rosey_host::provenance::Provenance;
use rosey_host::registry::Registry;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::source::Fetched;
use rosey_host::update;
use rosey_host::validate;
use serde::Serialize;

use super::Context;
use crate::output::{OutputFormat, Table, ago, human_bytes, print_json};
use crate::process;
use crate::scaffold::{self, Language};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Build a plugin project into a `.roseyplug` archive.
    ///
    /// A Rust project (Cargo.toml beside manifest.yaml) is compiled with
    /// `cargo build --release --target wasm32-wasip2`; a project in another
    /// language provides its component as `plugin.wasm` beside the manifest.
    /// The manifest is also embedded in the component, so the bare `.wasm`
    /// can be installed too.
    Build(Build),
    /// Create a plugin project in Rust, Python or JavaScript.
    ///
    /// Writes a `hello` plugin (a command, a configuration value, a test
    /// scenario, a README) into DIR (default: ./NAME), which must not exist
    /// or be empty, and checks that the language's toolchain is installed.
    Create(Create),
    /// Install a plugin from a file, a git repository or the plugin index.
    ///
    /// Shows what the plugin asks for (permissions, subjects, commands,
    /// limits), where it comes from and who signed it, and asks for
    /// approval; without a terminal, pass --yes. A plugin from the index
    /// brings the plugins it depends on, installed first.
    ///
    /// On a running host the plugin starts at once, without a restart.
    Install(super::plugin_install::Install),
    /// Update an installed plugin from a newer (or older) package file, or
    /// to the newest version in the plugin index.
    ///
    /// On a running host the new version is migrated and started beside the
    /// old one and swapped in between two events; if anything fails, the
    /// old version keeps serving and you are told why. An update that asks
    /// for more (permissions, subjects, hosts, higher limits) or loses its
    /// trusted signer waits for `rosey plugin approve NAME`.
    Update(Update),
    /// Sign a package file with your minisign key (writes FILE.minisig).
    Sign(super::signing::Sign),
    /// Check a package file's signature against the trusted keys (or --key).
    Verify(super::signing::Verify),
    /// Search the plugin index by name, description and tags.
    Search(super::plugin_index::Search),
    /// List installed plugins that have a newer version in the plugin index.
    Outdated(super::plugin_index::Outdated),
    /// Show and approve an update that asks for more than its plugin has.
    Approve(Approve),
    /// Run the project's scenario tests (tests/*.yaml) against its real
    /// component, in process, with an in-memory bus and a controllable clock.
    Test(super::plugin_test::Test),
    /// Check a package as the host would, without installing it (for CI).
    ///
    /// Reports every finding with a stable code, a location and a fix
    /// (docs/validate.md); exits 1 if the host would refuse the package.
    /// A project directory is built first.
    Validate(Validate),
    /// List installed plugins.
    List,
    /// Show one plugin: permissions, limits, storage used, history.
    Info(Name),
    /// Enable a plugin (and start it, on a running host).
    Enable(Name),
    /// Disable a plugin (and stop it, on a running host); its data is kept.
    Disable(Name),
    /// Remove a plugin and ALL its data (database, files, config).
    Remove(Remove),
    /// Show or change a plugin's configuration (config.yaml, checked against
    /// its config_schema; a running plugin gets changes at once).
    Config(super::plugin_config::PluginConfig),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey plugin update quote-bot-1.3.0.roseyplug   # from a file (and its .minisig)
  rosey plugin update quote-bot                   # to the newest version in the index
  rosey plugin update --all                       # every plugin the index has a newer version of")]
pub struct Update {
    /// A `.roseyplug` archive or a `.wasm` component of an installed
    /// plugin, or the name of an installed plugin to update from the index.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    source: Option<String>,
    /// Update every installed plugin the index has a newer version of.
    #[arg(long)]
    all: bool,
    /// The file's detached signature [default: FILE.minisig, if it exists].
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// The plugin index to use [default: `index` in rosey.yaml, or
    /// ROSEY_INDEX].
    #[arg(long, value_name = "URL|PATH")]
    index: Option<String>,
    /// Update even if plugins that depend on this one do not accept the
    /// new version (they will fail to start).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey plugin validate quote-bot-0.1.0.roseyplug
  rosey plugin validate . --output json      # in CI: the findings as JSON, exit 1 on errors")]
pub struct Validate {
    /// A `.roseyplug` archive, a `.wasm` component, or a project directory.
    source: PathBuf,
}

#[derive(Debug, Args)]
pub struct Approve {
    /// The plugin whose pending update to apply.
    name: String,
    /// Approve the changes shown without asking.
    #[arg(short, long)]
    yes: bool,
    /// Apply it even if plugins that depend on this one do not accept the
    /// new version.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct Build {
    /// The plugin project (the directory holding manifest.yaml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the archive [default: DIR/<name>-<version>.roseyplug].
    #[arg(short, long)]
    output_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey plugin create greeter                    # Rust, in ./greeter
  rosey plugin create greeter --lang python      # Python (componentize-py)
  rosey plugin create greeter --lang js --dir plugins/greeter

Then: cd greeter && rosey plugin build (or rosey dev, to run it with a chat console)")]
pub struct Create {
    /// The plugin's name: 1 to 64 characters of a-z, 0-9 and "-", starting
    /// with a letter.
    name: String,
    /// The language of the project.
    #[arg(short, long, value_enum, default_value = "rust")]
    lang: Language,
    /// Where to write the project [default: ./NAME].
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Install {
    /// A `.roseyplug` archive or a `.wasm` component carrying its manifest.
    source: PathBuf,
    /// Approve the permissions shown without asking.
    #[arg(short, long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct Name {
    /// The plugin's name.
    name: String,
}

#[derive(Debug, Args)]
pub struct Remove {
    /// The plugin's name.
    name: String,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    yes: bool,
    /// Remove it even if other plugins depend on it (they will fail to
    /// start).
    #[arg(long)]
    force: bool,
}

impl PluginCommand {
    pub fn run(self, ctx: &Context) -> Result<()> {
        match self {
            Self::Build(build) => build.run(ctx),
            Self::Create(create) => create.run(ctx),
            Self::Install(install) => install.run(ctx),
            Self::Update(update) => update.run(ctx),
            Self::Sign(sign) => sign.run(ctx),
            Self::Verify(verify) => verify.run(ctx),
            Self::Search(search) => search.run(ctx),
            Self::Outdated(outdated) => outdated.run(ctx),
            Self::Approve(approve) => approve.run(ctx),
            Self::Validate(validate) => validate.run(ctx),
            Self::Test(test) => test.run(ctx),
            Self::List => list(ctx),
            Self::Info(name) => info(ctx, &name.name),
            Self::Enable(name) => set_enabled(ctx, &name.name, true),
            Self::Disable(name) => set_enabled(ctx, &name.name, false),
            Self::Remove(remove) => remove.run(ctx),
            Self::Config(config) => config.run(ctx),
        }
    }
}

pub(super) fn parse_name(name: &str) -> Result<PluginName> {
    name.parse::<PluginName>()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The control channel of the host running on this home, if one runs.
pub(super) fn running_host(ctx: &Context) -> Result<Option<ControlClient>> {
    if let Some(client) = ControlClient::connect(&ctx.home) {
        return Ok(Some(client));
    }
    if let Some(pid) = process::running_pid(&ctx.home) {
        bail!(
            "the host (pid {pid}) is running but does not answer on {}; if it is still \
             starting, try again in a moment, else see `rosey logs host`",
            ctx.home.control_socket().display()
        );
    }
    Ok(None)
}

/// Report what the host (or the offline operation) did.
pub(super) fn report(ctx: &Context, outcome: &Outcome) -> Result<()> {
    match ctx.output {
        OutputFormat::Json => print_json(outcome),
        OutputFormat::Text => {
            println!("{}", outcome.message);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------- build

#[derive(Serialize)]
struct BuildReport {
    name: String,
    version: String,
    archive: PathBuf,
    wasm_bytes: usize,
    archive_bytes: usize,
}

impl Build {
    fn run(self, ctx: &Context) -> Result<()> {
        let dir = &self.dir;
        let (manifest, wasm) = build_component(dir)?;
        let wasm_bytes = wasm.len();
        let package = Package::from_project_dir(dir, wasm).map_err(|e| anyhow::anyhow!("{e}"))?;
        let archive = package
            .write_archive()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let out = self.output_file.unwrap_or_else(|| {
            dir.join(format!("{}-{}.roseyplug", manifest.name, manifest.version))
        });
        std::fs::write(&out, &archive)
            .with_context(|| format!("could not write {}", out.display()))?;
        let report = BuildReport {
            name: manifest.name.to_string(),
            version: manifest.version.to_string(),
            archive: out,
            wasm_bytes,
            archive_bytes: archive.len(),
        };
        match ctx.output {
            OutputFormat::Json => print_json(&report),
            OutputFormat::Text => {
                println!(
                    "Built {} {} → {} (component {}, archive {})",
                    report.name,
                    report.version,
                    report.archive.display(),
                    human_bytes(report.wasm_bytes as u64),
                    human_bytes(report.archive_bytes as u64)
                );
                Ok(())
            }
        }
    }
}

// --------------------------------------------------------------- create

#[derive(Serialize)]
struct CreateReport {
    name: String,
    language: String,
    dir: PathBuf,
    files: Vec<String>,
    /// What is missing to build it, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    missing_toolchain: Option<String>,
}

impl Create {
    fn run(self, ctx: &Context) -> Result<()> {
        let name = parse_name(&self.name)?;
        let dir = self.dir.unwrap_or_else(|| PathBuf::from(name.as_str()));
        let files = scaffold::create(&dir, &name, self.lang)?;
        let missing = scaffold::check_toolchain(self.lang, &dir)
            .err()
            .map(|e| format!("{e:#}"));
        let report = CreateReport {
            name: name.to_string(),
            language: self.lang.to_string(),
            dir: dir.clone(),
            files,
            missing_toolchain: missing.clone(),
        };
        match ctx.output {
            OutputFormat::Json => print_json(&report)?,
            OutputFormat::Text => {
                println!(
                    "Created {} ({}) in {}",
                    report.name,
                    report.language,
                    dir.display()
                );
                println!("Next steps:");
                println!("  cd {}", dir.display());
                println!(
                    "  rosey plugin build     # -> {}-0.1.0.roseyplug",
                    report.name
                );
                println!("  rosey plugin test      # run the scenarios in tests/*.yaml");
                println!(
                    "  rosey dev              # run it with a chat console; rebuilds on every change"
                );
            }
        }
        if let Some(missing) = missing {
            bail!("the project was created, but it cannot be built here yet: {missing}");
        }
        Ok(())
    }
}

/// Build the plugin project in `dir`: its manifest and its component (a
/// Rust project is compiled; another language's provides `plugin.wasm`).
pub fn build_component(dir: &Path) -> Result<(Manifest, Vec<u8>)> {
    let manifest_path = dir.join("manifest.yaml");
    let text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "no manifest at {} (is {} a plugin project?)",
            manifest_path.display(),
            dir.display()
        )
    })?;
    let manifest = Manifest::from_yaml(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let wasm = match Language::detect(dir) {
        Some(Language::Rust) => {
            if scaffold::uses_vendored_sdk(dir) && scaffold::ensure_support(dir)? {
                eprintln!("rosey: wrote .rosey/ (the Rust SDK and the WIT contract)");
            }
            cargo_build(dir)?
        }
        Some(Language::Python) => scaffold::build_python(dir, &manifest)?,
        Some(Language::Js) => scaffold::build_js(dir, &manifest)?,
        None if dir.join("plugin.wasm").is_file() => std::fs::read(dir.join("plugin.wasm"))?,
        None => bail!(
            "{} has no Cargo.toml (Rust), app.py or pyproject.toml (Python), package.json \
             (JavaScript), nor a plugin.wasm (a component built by another toolchain) beside \
             its manifest.yaml; `rosey plugin create NAME --lang rust|python|js` makes a project",
            dir.display()
        ),
    };
    Ok((manifest, wasm))
}

/// Build the Rust plugin in `dir` for wasm32-wasip2 and return its component.
fn cargo_build(dir: &Path) -> Result<Vec<u8>> {
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        // Debug info is ~97% of an unstripped component and the host never
        // uses it; strip it unless the author's profile says otherwise.
        .env(
            "CARGO_PROFILE_RELEASE_DEBUG",
            std::env::var("CARGO_PROFILE_RELEASE_DEBUG").unwrap_or_else(|_| "false".into()),
        )
        .env(
            "CARGO_PROFILE_RELEASE_STRIP",
            std::env::var("CARGO_PROFILE_RELEASE_STRIP").unwrap_or_else(|_| "debuginfo".into()),
        )
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!("cargo was not found: install Rust from https://rustup.rs")
            } else {
                anyhow::Error::new(e).context("could not run cargo")
            }
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let missing_target = stdout.contains("can't find crate for `core`")
            || stdout.contains("can't find crate for `std`")
            || stdout.contains("wasm32-wasip2");
        if missing_target {
            bail!(
                "cargo build failed: is the target installed? run `rustup target add wasm32-wasip2`"
            );
        }
        bail!("cargo build failed (see the compiler output above)");
    }
    let mut wasm = None;
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let same_package =
            message["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path());
        let cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
        if !(same_package && cdylib) {
            continue;
        }
        if let Some(files) = message["filenames"].as_array() {
            wasm = files
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from);
        }
    }
    let wasm = wasm.with_context(|| {
        format!(
            "cargo built no .wasm for {}: the crate needs `[lib] crate-type = [\"cdylib\"]`",
            manifest.display()
        )
    })?;
    std::fs::read(&wasm).with_context(|| format!("could not read {}", wasm.display()))
}

/// Ask a yes/no question on the terminal; without one, refuse with `hint`.
pub(super) fn confirm(question: &str, hint: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("not approved: there is no terminal to ask on; {hint}");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

// ------------------------------------------------------- list and info

#[derive(Serialize)]
struct Listed {
    name: String,
    version: String,
    enabled: bool,
    state: Option<String>,
    description: Option<String>,
}

fn list(ctx: &Context) -> Result<()> {
    let plugins = if ctx.home.host_db().exists() {
        Registry::open(&ctx.home.host_db())?.list()?
    } else {
        Vec::new()
    };
    let status = process::read_status(&ctx.home);
    let rows: Vec<Listed> = plugins
        .iter()
        .map(|p| Listed {
            name: p.name.to_string(),
            version: p.version.to_string(),
            enabled: p.enabled,
            state: status.as_ref().and_then(|s| {
                s.plugins
                    .iter()
                    .find(|q| q.name == p.name.as_str())
                    .map(|q| q.state.to_string())
            }),
            description: p.manifest().ok().and_then(|m| m.description),
        })
        .collect();
    match ctx.output {
        OutputFormat::Json => print_json(&rows),
        OutputFormat::Text => {
            if rows.is_empty() {
                println!(
                    "No plugins installed. Install one with `rosey plugin install FILE.roseyplug`."
                );
                return Ok(());
            }
            let mut table = Table::new(vec!["NAME", "VERSION", "ENABLED", "STATE", "DESCRIPTION"]);
            for r in rows {
                table.row(vec![
                    r.name,
                    r.version,
                    if r.enabled { "yes".into() } else { "no".into() },
                    r.state.unwrap_or_else(|| "-".into()),
                    r.description.unwrap_or_default(),
                ]);
            }
            table.print();
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct Info {
    name: String,
    version: String,
    enabled: bool,
    description: Option<String>,
    author: Option<String>,
    path: PathBuf,
    digest: String,
    installed_at: i64,
    permissions: Vec<&'static str>,
    subscribe: Vec<String>,
    publish: Vec<String>,
    commands: Vec<String>,
    limits: serde_json::Value,
    storage_used: u64,
    /// Where it came from and who signed it (absent for plugins installed
    /// before Rosey recorded it).
    provenance: Option<Provenance>,
    /// The plugins it needs, and which versions.
    dependencies: Vec<String>,
    /// The installed plugins that need it.
    needed_by: Vec<String>,
    history: Vec<serde_json::Value>,
    /// The running host's view of the plugin, if a host runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<rosey_host::supervisor::status::PluginStatus>,
}

fn info(ctx: &Context, name: &str) -> Result<()> {
    let name = parse_name(name)?;
    let registry = Registry::open(&ctx.home.host_db())?;
    let plugin = registry.get(&name)?.with_context(|| {
        format!("no plugin named \"{name}\" is installed (see `rosey plugin list`)")
    })?;
    let manifest = plugin.manifest()?;
    let paths = ctx.home.plugin(&name);
    let limits = manifest.limits();
    let info = Info {
        name: name.to_string(),
        version: plugin.version.to_string(),
        enabled: plugin.enabled,
        description: manifest.description.clone(),
        author: manifest.author.clone(),
        path: paths.root.clone(),
        digest: plugin.digest.clone(),
        installed_at: plugin.installed_at,
        permissions: manifest.permissions.iter().map(|p| p.as_str()).collect(),
        subscribe: manifest.subjects.subscribe.clone(),
        publish: manifest.subjects.publish.clone(),
        commands: manifest.commands.iter().map(|c| c.name.to_string()).collect(),
        limits: serde_json::json!({
            "memory": limits.memory,
            "fuel_per_call": limits.fuel_per_call,
            "timeout_ms": limits.timeout.as_millis() as u64,
            "storage": limits.storage,
            "publish_rate": limits.publish_rate.to_string(),
        }),
        storage_used: paths.storage_used(),
        provenance: plugin.provenance.clone(),
        dependencies: manifest
            .dependencies
            .plugins
            .iter()
            .map(|d| format!("{} {}", d.name, d.version))
            .collect(),
        needed_by: rosey_host::package::dependents_broken_by(&name, None, &registry.present()?)
            .into_iter()
            .map(|(n, req)| format!("{n} ({req})"))
            .collect(),
        history: registry
            .history(&name)?
            .into_iter()
            .map(|(at, event, detail)| serde_json::json!({"at": at, "event": event, "detail": detail}))
            .collect(),
        live: process::read_status(&ctx.home)
            .and_then(|s| s.plugins.into_iter().find(|p| p.name == name.as_str())),
    };
    match ctx.output {
        OutputFormat::Json => print_json(&info),
        OutputFormat::Text => {
            println!(
                "{} {}{}",
                info.name,
                info.version,
                if info.enabled { "" } else { " (disabled)" }
            );
            if let Some(d) = &info.description {
                println!("  {d}");
            }
            println!("  path:        {}", info.path.display());
            println!("  installed:   {} ago", ago(info.installed_at));
            println!("  digest:      sha256:{}", info.digest);
            match &info.provenance {
                Some(p) => {
                    println!("  source:      {}", p.origin);
                    println!("  sha256:      {} (the file installed)", p.sha256);
                    match &p.signer {
                        Some(signer) => println!("  signed by:   {signer}"),
                        None => println!("  signed by:   nobody you trust (unsigned)"),
                    }
                }
                None => println!("  source:      unknown (installed before Rosey recorded it)"),
            }
            if !info.dependencies.is_empty() {
                println!("  needs:       {}", info.dependencies.join(", "));
            }
            if !info.needed_by.is_empty() {
                println!("  needed by:   {}", info.needed_by.join(", "));
            }
            println!(
                "  permissions: {}",
                if info.permissions.is_empty() {
                    "none".into()
                } else {
                    info.permissions.join(", ")
                }
            );
            if !info.commands.is_empty() {
                println!(
                    "  commands:    {}",
                    info.commands
                        .iter()
                        .map(|c| format!("!{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !info.subscribe.is_empty() {
                println!("  subscribes:  {}", info.subscribe.join(", "));
            }
            if !info.publish.is_empty() {
                println!("  publishes:   {}", info.publish.join(", "));
            }
            println!(
                "  limits:      memory {}, {:?} and {} fuel per call, publish {}",
                human_bytes(limits.memory),
                limits.timeout,
                limits.fuel_per_call,
                limits.publish_rate
            );
            println!(
                "  storage:     {} of {}",
                human_bytes(info.storage_used),
                human_bytes(limits.storage)
            );
            if let Some(live) = &info.live {
                println!(
                    "  running:     {} for {}, {} commands, {} messages, {} errors, {} traps, \
                     {} limit hits, {} denied",
                    live.state,
                    ago(live.since),
                    live.stats.commands,
                    live.stats.messages,
                    live.stats.errors,
                    live.stats.traps,
                    live.stats.limit_hits,
                    live.stats.denied
                );
                if let Some(error) = live.error.as_ref().or(live.stats.last_error.as_ref()) {
                    println!("  last error:  {error}");
                }
            }
            if !info.history.is_empty() {
                println!("  history:");
                for event in info.history.iter().rev().take(5) {
                    println!(
                        "    {:>6} ago  {} {}",
                        ago(event["at"].as_i64().unwrap_or(0)),
                        event["event"].as_str().unwrap_or(""),
                        event["detail"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
    }
}

fn set_enabled(ctx: &Context, name: &str, enabled: bool) -> Result<()> {
    let name = parse_name(name)?;
    if let Some(host) = running_host(ctx)? {
        let name = name.to_string();
        let request = if enabled {
            Request::Enable { name }
        } else {
            Request::Disable { name }
        };
        return report(ctx, &host.call(&request)?);
    }
    let registry = Registry::open(&ctx.home.host_db())?;
    if !registry.set_enabled(&name, enabled)? {
        bail!("no plugin named \"{name}\" is installed (see `rosey plugin list`)");
    }
    if ctx.output == OutputFormat::Json {
        print_json(&serde_json::json!({ "name": name.as_str(), "enabled": enabled }))?;
    } else {
        println!(
            "{} {name}; it {} when the host starts",
            if enabled { "Enabled" } else { "Disabled" },
            if enabled { "runs" } else { "stays off" }
        );
    }
    Ok(())
}

impl Remove {
    fn run(self, ctx: &Context) -> Result<()> {
        let name = parse_name(&self.name)?;
        let host = running_host(ctx)?;
        if !self.force {
            // Before asking: a removal that would be refused is not worth a question.
            install::check_removal(&ctx.home, &name)?;
        }
        if !self.yes
            && !confirm(
                &format!("Remove {name} and delete all its data (database, files, config)?"),
                "re-run with --yes to confirm",
            )?
        {
            bail!("removal cancelled; nothing was changed");
        }
        if let Some(host) = host {
            let outcome = host.call(&Request::Remove {
                name: name.to_string(),
                force: self.force,
            })?;
            return report(ctx, &outcome);
        }
        install::remove(&ctx.home, &name, self.force)?;
        update::drop_pending(&ctx.home, &name);
        if ctx.output == OutputFormat::Json {
            print_json(&serde_json::json!({ "name": name.as_str(), "removed": true }))
        } else {
            println!("Removed {name} and all its data");
            Ok(())
        }
    }
}

// --------------------------------------------------- update and approve

/// Print how `new` differs from the installed version (on stderr).
fn describe_update(
    ctx: &Context,
    package: &Package,
    provenance: Option<&Provenance>,
) -> Result<()> {
    let name = &package.manifest.name;
    let registry = Registry::open(&ctx.home.host_db())?;
    let installed = registry.get(name)?.with_context(|| {
        format!("no plugin named \"{name}\" is installed; install it with `rosey plugin install`")
    })?;
    let changes = update::update_changes(&installed, &package.manifest, provenance)?;
    if ctx.output == OutputFormat::Text {
        eprintln!(
            "{name} {} → {}\n{}",
            installed.version,
            package.manifest.version,
            changes.to_string().trim_end()
        );
    }
    Ok(())
}

impl Update {
    fn run(self, ctx: &Context) -> Result<()> {
        let file = self
            .source
            .as_deref()
            .map(Path::new)
            .filter(|p| p.is_file());
        if let Some(file) = file {
            let fetched = Fetched::read_file(file, self.signature.as_deref())?;
            return apply_update(ctx, fetched, self.force);
        }
        if self.signature.is_some() {
            bail!("--signature is for updates from a file; an index lists each file's signature");
        }
        let names = match &self.source {
            None => Vec::new(),
            Some(text) => vec![parse_name(text).map_err(|e| {
                e.context(format!(
                    "{text} is neither a package file nor the name of an installed plugin"
                ))
            })?],
        };
        super::plugin_index::update_from_index(ctx, self.index.as_deref(), &names, self.force)
    }
}

/// Update from `fetched`: its signature checked (and shown), its changes
/// shown, then applied, or held for `rosey plugin approve` if it widens.
pub(super) fn apply_update(ctx: &Context, fetched: Fetched, force: bool) -> Result<()> {
    let trust = ctx.settings()?.trust();
    let admitted = fetched.clone().admit(&trust)?;
    describe_update(ctx, &admitted.package, Some(&admitted.provenance))?;
    if ctx.output == OutputFormat::Text {
        super::plugin_install::describe_provenance(&admitted, None);
    }
    let outcome = if let Some(host) = running_host(ctx)? {
        let incoming = super::plugin_install::Incoming::new(ctx, &fetched)?;
        host.call(&Request::Update {
            path: incoming.path.clone(),
            sha256: Some(fetched.sha256()),
            signature: fetched.signature.clone(),
            origin: Some(fetched.origin.clone()),
            force,
        })?
    } else {
        let runtime = Runtime::new(RoseyEngine::new()?)?;
        let mode = update::UpdateMode {
            approved: false,
            force,
        };
        update::offline(
            &ctx.home,
            &runtime,
            &admitted.package,
            Some(&admitted.provenance),
            mode,
        )?
    };
    report(ctx, &outcome)
}

impl Approve {
    fn run(self, ctx: &Context) -> Result<()> {
        let name = parse_name(&self.name)?;
        let (package, provenance) = update::load_pending(&ctx.home, &name)?.with_context(|| {
            format!("no update of \"{name}\" waits for approval (see `rosey plugin info {name}`)")
        })?;
        describe_update(ctx, &package, provenance.as_ref())?;
        if !self.yes {
            let question = format!(
                "Update {name} to {} with these changes?",
                package.manifest.version
            );
            if !confirm(&question, "re-run with --yes to approve the changes shown")? {
                bail!("not approved; the update still waits");
            }
        }
        let outcome = if let Some(host) = running_host(ctx)? {
            host.call(&Request::Approve {
                name: name.to_string(),
                digest: Some(package.digest()),
                force: self.force,
            })?
        } else {
            let runtime = Runtime::new(RoseyEngine::new()?)?;
            let mode = update::UpdateMode {
                approved: true,
                force: self.force,
            };
            let outcome =
                update::offline(&ctx.home, &runtime, &package, provenance.as_ref(), mode)?;
            update::drop_pending(&ctx.home, &name);
            outcome
        };
        report(ctx, &outcome)
    }
}

// ------------------------------------------------------------- validate

impl Validate {
    fn run(self, ctx: &Context) -> Result<()> {
        let runtime = Runtime::new(RoseyEngine::new()?)?;
        let source = self.source.display().to_string();
        let report = if self.source.is_dir() {
            let text =
                std::fs::read_to_string(self.source.join("manifest.yaml")).with_context(|| {
                    format!("no manifest.yaml in {source} (is it a plugin project?)")
                })?;
            match Manifest::from_yaml(&text) {
                Err(e) => validate::refused(source, &PackageError::Manifest(e)),
                Ok(_) => {
                    let (_, wasm) = build_component(&self.source)?;
                    match Package::from_project_dir(&self.source, wasm) {
                        Ok(package) => validate::validate_package(&runtime, &package, source),
                        Err(e) => validate::refused(source, &e),
                    }
                }
            }
        } else {
            validate::validate_file(&runtime, &self.source)
        };
        match ctx.output {
            OutputFormat::Json => print_json(&report)?,
            OutputFormat::Text => {
                for finding in &report.findings {
                    println!("{finding}");
                }
                let what = match (&report.plugin, &report.version) {
                    (Some(name), Some(version)) => format!("{name} {version}"),
                    _ => report.source.clone(),
                };
                println!(
                    "{what}: {} ({} error(s), {} warning(s))",
                    if report.passed() { "passed" } else { "FAILED" },
                    report.errors,
                    report.warnings
                );
            }
        }
        if !report.passed() {
            bail!("the host would refuse {}", report.source);
        }
        Ok(())
    }
}
