//! `rosey plugin install SOURCE`: from a file, a git repository or an
//! index; shows what each plugin asks for, where it comes from and who
//! signed it, asks, then installs (dependencies first).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use rosey_host::approval::explain;
use rosey_host::control::Request;
use rosey_host::install;
use rosey_host::package::Manifest;
use rosey_host::provenance::Origin;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::source::{Admitted, Fetched, Source};
use serde::Serialize;

use super::Context;
use super::plugin::{confirm, report, running_host};
use super::plugin_source::{self, FetchOptions};
use crate::output::{OutputFormat, human_bytes, print_json};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey plugin install quote-bot-1.2.0.roseyplug         # a file (and quote-bot-1.2.0.roseyplug.minisig)
  rosey plugin install ./quote-bot                        # a local git repository
  rosey plugin install https://git.example.org/quote-bot.git#v1.2.0
  rosey plugin install git@git.example.org:me/quote-bot.git --build   # sources, built here
  rosey plugin install quote-bot@^1.2                     # from the index in rosey.yaml

A repository holds one prebuilt .roseyplug at its root (with its .minisig), or a
manifest.yaml with plugin.wasm, or a plugin project's sources. See docs/publishing.md.")]
pub struct Install {
    /// What to install: a `.roseyplug` or `.wasm` file; a git repository
    /// (a local path, `https://...`, `ssh://...` or `user@host:path`, with
    /// an optional `#BRANCH`, `#TAG` or `#COMMIT`); or `NAME` or
    /// `NAME@VERSION` (`NAME@1.2.0` exactly, `NAME@^1.2` a range) from the
    /// plugin index.
    source: String,
    /// Approve the permissions shown without asking.
    #[arg(short, long)]
    yes: bool,
    /// The file's detached signature [default: FILE.minisig, if it exists].
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// Build a repository's sources without asking (this runs their build
    /// scripts on this machine as you).
    #[arg(long)]
    build: bool,
    /// The plugin index to use [default: `index` in rosey.yaml, or
    /// ROSEY_INDEX].
    #[arg(long, value_name = "URL|PATH")]
    index: Option<String>,
}

#[derive(Serialize)]
struct InstallReport {
    name: String,
    version: String,
    path: PathBuf,
    digest: String,
    source: String,
    sha256: String,
    signer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
    migrations_applied: usize,
    compile_ms: u128,
    total_ms: u128,
}

impl Install {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let started = Instant::now();
        let source = Source::parse(&self.source)?;
        let options = FetchOptions {
            signature: self.signature.clone(),
            index: self.index.clone(),
            build: self.build,
        };
        let trust = ctx.settings()?.trust();
        let mut plan: Vec<(Fetched, Admitted)> = Vec::new();
        for item in plugin_source::fetch(ctx, &source, &options)? {
            // Checked here to show the operator who signed it; the host
            // checks again before it installs.
            let admitted = item.fetched.clone().admit(&trust)?;
            if ctx.output == OutputFormat::Text {
                describe(&admitted.package.manifest);
                describe_provenance(&admitted, item.needed_by.as_deref());
            }
            plan.push((item.fetched, admitted));
        }
        if !self.yes {
            let question = match &plan[..] {
                [(_, one)] => format!(
                    "Install {} {} with these permissions?",
                    one.package.manifest.name, one.package.manifest.version
                ),
                many => format!(
                    "Install these {} plugins, in this order, with these permissions?",
                    many.len()
                ),
            };
            if !confirm(
                &question,
                "re-run with --yes to approve the permissions shown",
            )? {
                bail!("installation cancelled; nothing was changed");
            }
        }
        let installer = match running_host(ctx)? {
            Some(_) => Installer::Host,
            None => Installer::Offline(Runtime::new(RoseyEngine::new()?)?),
        };
        let mut reports = Vec::new();
        for (installed, (fetched, admitted)) in plan.into_iter().enumerate() {
            let name = admitted.package.manifest.name.clone();
            let done = match &installer {
                Installer::Host => {
                    let incoming = Incoming::new(ctx, &fetched)?;
                    // One request per connection.
                    let host = running_host(ctx)?
                        .context("the host stopped while plugins were being installed")?;
                    host.call(&Request::Install {
                        path: incoming.path.clone(),
                        sha256: Some(fetched.sha256()),
                        signature: fetched.signature.clone(),
                        origin: Some(fetched.origin.clone()),
                    })
                    .and_then(|outcome| report(ctx, &outcome))
                    .map(|()| None)
                }
                Installer::Offline(runtime) => install::install(
                    &ctx.home,
                    runtime,
                    &admitted.package,
                    Some(&admitted.provenance),
                )
                .map(Some),
            };
            let done = done.map_err(|e| {
                if installed == 0 {
                    e
                } else {
                    e.context(format!(
                        "{name} was not installed; the {installed} plugin(s) before it in the \
                         list were"
                    ))
                }
            })?;
            let Some(done) = done else {
                continue; // the host's outcome was reported
            };
            let out = InstallReport {
                name: done.plugin.name.to_string(),
                version: done.plugin.version.to_string(),
                path: done.path.clone(),
                digest: done.plugin.digest.clone(),
                source: admitted.provenance.origin.to_string(),
                sha256: admitted.provenance.sha256.clone(),
                signer: admitted.provenance.signer.as_ref().map(ToString::to_string),
                warning: admitted.warning.clone(),
                migrations_applied: done.migrations_applied,
                compile_ms: done.compile_time.as_millis(),
                total_ms: started.elapsed().as_millis(),
            };
            if ctx.output == OutputFormat::Text {
                println!(
                    "Installed {} {} into {} (compiled in {} ms, {} migration(s) applied)",
                    out.name,
                    out.version,
                    out.path.display(),
                    out.compile_ms,
                    out.migrations_applied
                );
            }
            reports.push(out);
        }
        if ctx.output == OutputFormat::Json {
            match &reports[..] {
                [] => {}
                [one] => print_json(one)?,
                many => print_json(&many)?,
            }
        }
        Ok(())
    }
}

/// Who installs: the running host, or this process on the files.
enum Installer {
    Host,
    Offline(Runtime),
}

/// A fetched file handed to the running host: the file itself, or (for a
/// download or a repository) a private copy in the home's staging
/// directory, removed when the install is done.
pub(super) struct Incoming {
    /// The file the host reads.
    pub(super) path: PathBuf,
    temporary: bool,
}

impl Incoming {
    pub(super) fn new(ctx: &Context, fetched: &Fetched) -> Result<Self> {
        if let Origin::File { path } = &fetched.origin {
            return Ok(Self {
                path: PathBuf::from(path),
                temporary: false,
            });
        }
        ctx.home.ensure()?;
        rosey_host::home::create_private_dir(&ctx.home.staging_dir())?;
        let path = ctx.home.staging_dir().join(format!(
            "incoming-{}-{}.roseyplug",
            std::process::id(),
            rosey_host::protocol::now_ms()
        ));
        rosey_host::home::write_private(&path, &fetched.bytes)?;
        Ok(Self {
            path,
            temporary: true,
        })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a package comes from and who signed it (on stderr).
pub(super) fn describe_provenance(admitted: &Admitted, needed_by: Option<&str>) {
    let mut e = std::io::stderr().lock();
    let p = &admitted.provenance;
    if let Some(needed_by) = needed_by {
        let _ = writeln!(e, "  needed by: {needed_by}");
    }
    let _ = writeln!(e, "  source: {}", p.origin);
    let _ = writeln!(e, "  sha256: {}", p.sha256);
    match (&p.signer, &admitted.warning) {
        (Some(signer), _) => {
            let _ = writeln!(e, "  signed by: {signer}");
        }
        (None, Some(warning)) => {
            let _ = writeln!(e, "  warning: {warning}");
        }
        (None, None) => {}
    }
}

/// Print what the plugin asks for (on stderr, so stdout stays for data).
pub(super) fn describe(m: &Manifest) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(
        e,
        "{} {}{}",
        m.name,
        m.version,
        m.description
            .as_ref()
            .map(|d| format!(" — {d}"))
            .unwrap_or_default()
    );
    if let Some(author) = &m.author {
        let _ = writeln!(e, "  author: {author}");
    }
    if m.permissions.is_empty() {
        let _ = writeln!(e, "  permissions: none");
    } else {
        let _ = writeln!(e, "  permissions:");
        for p in &m.permissions {
            let _ = writeln!(e, "    {:<16} {}", p.as_str(), explain(*p));
        }
    }
    if !m.network.allowed_hosts.is_empty() {
        let _ = writeln!(e, "  network: {}", m.network.allowed_hosts.join(", "));
    }
    if !m.subjects.subscribe.is_empty() {
        let _ = writeln!(e, "  subscribes to: {}", m.subjects.subscribe.join(", "));
    }
    if !m.subjects.publish.is_empty() {
        let _ = writeln!(e, "  publishes on: {}", m.subjects.publish.join(", "));
    }
    if !m.commands.is_empty() {
        let names: Vec<String> = m.commands.iter().map(|c| format!("!{}", c.name)).collect();
        let _ = writeln!(e, "  commands: {}", names.join(", "));
    }
    if !m.dependencies.plugins.is_empty() {
        let deps: Vec<String> = m
            .dependencies
            .plugins
            .iter()
            .map(|d| format!("{} {}", d.name, d.version))
            .collect();
        let _ = writeln!(e, "  needs: {}", deps.join(", "));
    }
    let l = m.limits();
    let _ = writeln!(
        e,
        "  limits: memory {}, {:?} per call, fuel {} per call, storage {}, publish {}",
        human_bytes(l.memory),
        l.timeout,
        l.fuel_per_call,
        human_bytes(l.storage),
        l.publish_rate
    );
}
