//! A plugin's configuration: the operator's `config.yaml` over the defaults
//! of the manifest's `config_schema`.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use crate::package::Manifest;

/// The largest `config.yaml` read.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// The effective configuration of a plugin: defaults from the manifest's
/// `config_schema` (`properties.<key>.default`), overridden by `config.yaml`
/// at `path` if it exists.
pub fn load(manifest: &Manifest, path: &Path) -> Result<Map<String, Value>> {
    let mut config = defaults(manifest);
    if path.is_file() {
        let size = fs::metadata(path)?.len();
        if size > MAX_CONFIG_BYTES {
            bail!(
                "{} is larger than {} KiB",
                path.display(),
                MAX_CONFIG_BYTES >> 10
            );
        }
        let text = fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        if !text.trim().is_empty() {
            let value: Value = yaml_serde::from_str(&text)
                .with_context(|| format!("{} is not valid YAML", path.display()))?;
            match value {
                Value::Object(map) => config.extend(map),
                Value::Null => {}
                _ => bail!("{} must be a mapping of keys to values", path.display()),
            }
        }
    }
    Ok(config)
}

fn defaults(manifest: &Manifest) -> Map<String, Value> {
    let mut out = Map::new();
    let properties = manifest
        .config_schema
        .as_ref()
        .and_then(|schema| schema.get("properties"))
        .and_then(Value::as_object);
    if let Some(properties) = properties {
        for (key, schema) in properties {
            if let Some(default) = schema.get("default") {
                out.insert(key.clone(), default.clone());
            }
        }
    }
    out
}
