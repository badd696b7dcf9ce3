//! `rosey index build DIR`: the index file of a directory of packages, for
//! whoever publishes plugins (docs/publishing.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use rosey_host::package::{
    INDEX_FORMAT, Index, IndexedPlugin, IndexedVersion, Package, SIGNATURE_SUFFIX, Signature,
};
use sha2::{Digest, Sha256};

use super::Context;
use crate::output::{OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Write the index of a directory of .roseyplug files (with their
    /// .minisig signatures), to serve as a static file.
    Build(Build),
}

impl IndexCommand {
    pub fn run(self, ctx: &Context) -> Result<()> {
        match self {
            Self::Build(build) => build.run(ctx),
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey index build public/                      # writes public/index.json
  rosey index build dist/ --base-url https://cdn.example.org/rosey/

Serve the directory as static files; operators set `index: https://.../index.json`.
Versions marked \"yanked\": true in an existing index stay yanked.")]
pub struct Build {
    /// The directory holding the `.roseyplug` files.
    dir: PathBuf,
    /// Where to write the index [default: DIR/index.json].
    #[arg(short, long)]
    output_file: Option<PathBuf>,
    /// Where the packages will be downloaded from, if not beside the index.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// A name for the index, shown to people.
    #[arg(long)]
    name: Option<String>,
}

impl Build {
    fn run(self, ctx: &Context) -> Result<()> {
        let out = self
            .output_file
            .clone()
            .unwrap_or_else(|| self.dir.join("index.json"));
        let yanked = previously_yanked(&out)?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .with_context(|| format!("could not read {}", self.dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "roseyplug") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            bail!(
                "{} has no .roseyplug files; build some with `rosey plugin build`",
                self.dir.display()
            );
        }
        let mut plugins: BTreeMap<_, IndexedPlugin> = BTreeMap::new();
        for file in &files {
            let bytes = Package::read_capped(file).map_err(|e| anyhow::anyhow!("{e}"))?;
            let package = Package::from_bytes(&bytes, file).map_err(|e| anyhow::anyhow!("{e}"))?;
            let m = &package.manifest;
            let file_name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let signature = signature_of(file)?;
            let url = match &self.base_url {
                Some(base) => format!("{}/{file_name}", base.trim_end_matches('/')),
                None => file_name.clone(),
            };
            let entry = IndexedVersion {
                version: m.version.clone(),
                url,
                sha256: hex::encode(Sha256::digest(&bytes)),
                signature,
                rosey_api: m.rosey_api.clone(),
                permissions: m.permissions.clone(),
                dependencies: m.dependencies.plugins.clone(),
                size: Some(bytes.len() as u64),
                yanked: yanked.contains(&(m.name.to_string(), m.version.to_string())),
            };
            let plugin = plugins.entry(m.name.clone()).or_default();
            if plugin.versions.iter().any(|v| v.version == m.version) {
                bail!(
                    "{} {} is in {} twice; keep one file per version",
                    m.name,
                    m.version,
                    self.dir.display()
                );
            }
            let newest = plugin.versions.iter().all(|v| v.version < m.version);
            if newest {
                plugin.description = m.description.clone();
                plugin.author = m.author.clone();
                plugin.homepage = m.homepage.clone();
                plugin.tags = m.tags.clone();
            }
            plugin.versions.push(entry);
        }
        for plugin in plugins.values_mut() {
            plugin.versions.sort_by(|a, b| b.version.cmp(&a.version));
        }
        let index = Index {
            rosey_index: INDEX_FORMAT,
            name: self.name.clone(),
            plugins,
        };
        let mut json = serde_json::to_vec_pretty(&index)?;
        json.push(b'\n');
        // What is written must read back.
        Index::from_json(&json).context("the index written would not read back")?;
        rosey_host::home::write_atomic(&out, &json)?;
        let versions: usize = index.plugins.values().map(|p| p.versions.len()).sum();
        let unsigned: usize = index
            .plugins
            .values()
            .flat_map(|p| &p.versions)
            .filter(|v| v.signature.is_none())
            .count();
        match ctx.output {
            OutputFormat::Json => print_json(&serde_json::json!({
                "index": out, "plugins": index.plugins.len(), "versions": versions,
                "unsigned": unsigned,
            })),
            OutputFormat::Text => {
                println!(
                    "Wrote {} ({} plugin(s), {} version(s){})",
                    out.display(),
                    index.plugins.len(),
                    versions,
                    if unsigned == 0 {
                        ", all signed".to_owned()
                    } else {
                        format!(", {unsigned} unsigned: sign them with `rosey plugin sign`")
                    }
                );
                Ok(())
            }
        }
    }
}

/// FILE.minisig's text, if it exists (it must at least be a signature).
fn signature_of(file: &Path) -> Result<Option<String>> {
    let path = PathBuf::from(format!("{}{SIGNATURE_SUFFIX}", file.display()));
    if !path.is_file() {
        return Ok(None);
    }
    let text = rosey_host::source::read_signature(&path)?;
    Signature::parse(&text).with_context(|| format!("{}", path.display()))?;
    Ok(Some(text))
}

/// (name, version) of the versions an existing index at `path` yanked.
fn previously_yanked(path: &Path) -> Result<Vec<(String, String)>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let index = Index::from_json(&bytes).with_context(|| {
        format!(
            "{} exists but is not an index; move it away or choose another -o",
            path.display()
        )
    })?;
    Ok(index
        .plugins
        .iter()
        .flat_map(|(name, p)| {
            p.versions
                .iter()
                .filter(|v| v.yanked)
                .map(move |v| (name.to_string(), v.version.to_string()))
        })
        .collect())
}
