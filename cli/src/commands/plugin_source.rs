//! Getting the package file(s) an install or an update names: from a file,
//! a git repository (a prebuilt archive or component, or sources built
//! here), or an index (with the missing dependencies, in install order).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use rosey_host::package::{Package, SERVED_API, plan_installs};
use rosey_host::provenance::Origin;
use rosey_host::registry::Registry;
use rosey_host::source::download::Location;
use rosey_host::source::git::{self, Layout};
use rosey_host::source::index::{self, LoadedIndex};
use rosey_host::source::{Fetched, GitSource, Source};

use super::Context;
use super::plugin::build_component;

/// What an install or update may do to get its files.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// The signature file named with --signature.
    pub signature: Option<PathBuf>,
    /// The index named with --index (above rosey.yaml's `index`).
    pub index: Option<String>,
    /// --build: building a repository's sources was approved up front.
    pub build: bool,
}

/// One file to install, and why it is in the list.
#[derive(Debug)]
pub struct ToInstall {
    /// The file.
    pub fetched: Fetched,
    /// The plugin that needs it, for a dependency pulled from the index.
    pub needed_by: Option<String>,
}

/// The files `source` names, dependencies first.
pub fn fetch(ctx: &Context, source: &Source, options: &FetchOptions) -> Result<Vec<ToInstall>> {
    let single = |fetched| {
        Ok(vec![ToInstall {
            fetched,
            needed_by: None,
        }])
    };
    match source {
        Source::File(path) => single(Fetched::read_file(path, options.signature.as_deref())?),
        Source::Git(repo) => {
            if options.signature.is_some() {
                bail!(
                    "--signature is for files; a repository carries its signature beside its \
                     .roseyplug (NAME.roseyplug.minisig)"
                );
            }
            single(from_git(ctx, repo, options.build)?)
        }
        Source::Index { name, req } => {
            if options.signature.is_some() {
                bail!("--signature is for files; an index lists each file's signature itself");
            }
            let index = load_index(ctx, options.index.as_deref())?;
            let installed = if ctx.home.host_db().exists() {
                Registry::open(&ctx.home.host_db())?.present()?
            } else {
                Vec::new()
            };
            if let Some(present) = installed.iter().find(|p| &p.name == name) {
                bail!(
                    "{name} {} is already installed; `rosey plugin update {name}` updates it \
                     from the index",
                    present.version
                );
            }
            let plan = plan_installs(&index.index, name.as_str(), req, &SERVED_API, &installed)?;
            plan.iter()
                .map(|step| {
                    Ok(ToInstall {
                        fetched: index.download(&step.name, &step.entry)?,
                        needed_by: step.needed_by.as_ref().map(ToString::to_string),
                    })
                })
                .collect()
        }
    }
}

/// The index: --index, else rosey.yaml's `index` (or ROSEY_INDEX).
pub fn load_index(ctx: &Context, flag: Option<&str>) -> Result<LoadedIndex> {
    let text = match flag {
        Some(text) => text.to_owned(),
        None => ctx.settings()?.index.value.clone().context(
            "no plugin index is configured: pass --index URL, set ROSEY_INDEX, or add \
             `index: URL` to rosey.yaml (rosey config edit)",
        )?,
    };
    let location = Location::parse(&text)?;
    if location.is_plain_http() && ctx.output == crate::output::OutputFormat::Text {
        eprintln!(
            "warning: the index {location} is fetched over plain HTTP: anyone on the way can \
             change what it lists; prefer https://, and trust.policy: require"
        );
    }
    index::load(&location)
}

/// A package from a git repository.
fn from_git(ctx: &Context, repo: &GitSource, build_approved: bool) -> Result<Fetched> {
    let settings = ctx.settings()?;
    ctx.home.ensure()?;
    let url = repo.display_url();
    if ctx.output == crate::output::OutputFormat::Text {
        eprintln!(
            "Fetching {url}{} ...",
            repo.reference
                .as_deref()
                .map(|r| format!("#{r}"))
                .unwrap_or_default()
        );
    }
    let fetched = git::fetch(repo, &ctx.home.staging_dir(), settings.git_limits())
        .with_context(|| format!("could not install from {url}"))?;
    let origin = |path: &str, built: bool| Origin::Git {
        url: url.clone(),
        reference: repo.reference.clone(),
        commit: fetched.commit.clone(),
        path: path.to_owned(),
        built,
    };
    match fetched.layout()? {
        Layout::Archive { path, signature } => {
            let bytes = fetched.read(&path)?;
            let signature = match signature {
                Some(sig) => Some(
                    String::from_utf8(fetched.read(&sig)?)
                        .with_context(|| format!("{sig} in the repository is not a signature"))?,
                ),
                None => None,
            };
            Ok(Fetched {
                bytes,
                signature,
                origin: origin(&path, false),
                expected: None,
            })
        }
        layout => {
            let tree = ctx.home.staging_dir().join(format!(
                "tree-{}-{}",
                std::process::id(),
                rosey_host::protocol::now_ms()
            ));
            let _cleanup = RemoveOnDrop(tree.clone());
            fetched.write_tree(&tree)?;
            let (bytes, built) = match layout {
                Layout::Sources { marker } => {
                    approve_build(&url, &marker, build_approved)?;
                    let (_, wasm) = build_component(&tree)
                        .with_context(|| format!("could not build the sources of {url}"))?;
                    (archive_of(&tree, wasm)?, true)
                }
                _ => {
                    let wasm = std::fs::read(tree.join("plugin.wasm"))?;
                    (archive_of(&tree, wasm)?, false)
                }
            };
            Ok(Fetched {
                bytes,
                signature: None,
                origin: origin(if built { "." } else { "plugin.wasm" }, built),
                expected: None,
            })
        }
    }
}

/// The `.roseyplug` of the project in `dir` with component `wasm`.
fn archive_of(dir: &Path, wasm: Vec<u8>) -> Result<Vec<u8>> {
    let package = Package::from_project_dir(dir, wasm).map_err(|e| anyhow::anyhow!("{e}"))?;
    package.write_archive().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Building runs the repository's build scripts as the operator: ask.
fn approve_build(url: &str, marker: &str, approved: bool) -> Result<()> {
    if approved {
        return Ok(());
    }
    let question = format!(
        "{url} holds sources ({marker}), not a prebuilt plugin. Building them runs their build \
         scripts (build.rs, npm install, ...) on this machine as you; the plugin they build will \
         be unsigned. Build it?"
    );
    if !std::io::stdin().is_terminal() {
        bail!(
            "{url} holds sources ({marker}); building them runs their build scripts on this \
             machine as you: re-run with --build to allow that, or install a prebuilt .roseyplug"
        );
    }
    if !super::plugin::confirm(&question, "re-run with --build")? {
        bail!("not built; nothing was installed");
    }
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
