//! A plugin's configuration: the operator's `config.yaml` over the defaults
//! of the manifest's `config_schema`, checked against that schema (JSON
//! Schema) before a plugin ever sees it.
//!
//! A property marked `secret: true` in the schema is a secret: its value is
//! never shown by `rosey plugin config`, never put into an error message or
//! a log line (errors about it say which key, not what value).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use crate::package::Manifest;

/// The largest `config.yaml` read.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// What is shown instead of a secret's value.
pub const REDACTED: &str = "<secret>";

/// The effective configuration of a plugin: defaults from the manifest's
/// `config_schema` (`properties.<key>.default`), overridden by `config.yaml`
/// at `path` if it exists, and checked against the schema.
pub fn load(manifest: &Manifest, path: &Path) -> Result<Map<String, Value>> {
    let file = read_file(path)?;
    let config = effective(manifest, &file);
    check(manifest, &config).with_context(|| {
        format!(
            "{} does not fit {}'s config_schema (fix it with `rosey plugin config {} edit`)",
            path.display(),
            manifest.name,
            manifest.name
        )
    })?;
    Ok(config)
}

/// The keys and values set in `config.yaml` (empty if there is none).
pub fn read_file(path: &Path) -> Result<Map<String, Value>> {
    if !path.is_file() {
        return Ok(Map::new());
    }
    let size = fs::metadata(path)?.len();
    if size > MAX_CONFIG_BYTES {
        bail!(
            "{} is larger than {} KiB",
            path.display(),
            MAX_CONFIG_BYTES >> 10
        );
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    parse(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// Parse the text of a `config.yaml`: a mapping of keys to values (or
/// nothing at all).
pub fn parse(text: &str) -> Result<Map<String, Value>> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let value: Value = yaml_serde::from_str(text).context("it is not valid YAML")?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => bail!("it must be a mapping of keys to values"),
    }
}

/// Defaults overridden by `file`.
pub fn effective(manifest: &Manifest, file: &Map<String, Value>) -> Map<String, Value> {
    let mut config = defaults(manifest);
    config.extend(file.clone());
    config
}

/// The schema's defaults.
pub fn defaults(manifest: &Manifest) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, schema) in properties(manifest) {
        if let Some(default) = schema.get("default") {
            out.insert(key.clone(), default.clone());
        }
    }
    out
}

fn properties(manifest: &Manifest) -> impl Iterator<Item = (&String, &Value)> {
    manifest
        .config_schema
        .as_ref()
        .and_then(|schema| schema.get("properties"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// The keys the schema marks `secret: true`.
pub fn secret_keys(manifest: &Manifest) -> Vec<String> {
    properties(manifest)
        .filter(|(_, schema)| schema.get("secret") == Some(&Value::Bool(true)))
        .map(|(key, _)| key.clone())
        .collect()
}

/// `config` with every secret's value replaced by [`REDACTED`].
pub fn redacted(manifest: &Manifest, config: &Map<String, Value>) -> Map<String, Value> {
    let secrets = secret_keys(manifest);
    config
        .iter()
        .map(|(key, value)| {
            if secrets.contains(key) {
                (key.clone(), Value::String(REDACTED.into()))
            } else {
                (key.clone(), value.clone())
            }
        })
        .collect()
}

/// Whether `schema` is a JSON Schema this host can check configurations
/// against; why not, if it is not.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    jsonschema::meta::validate(schema).map_err(|e| e.to_string())?;
    jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    Ok(())
}

/// Check an effective configuration against the manifest's schema. The
/// error lists every problem, one per line, each naming its key; a secret's
/// value is never quoted.
pub fn check(manifest: &Manifest, config: &Map<String, Value>) -> Result<()> {
    let Some(schema) = &manifest.config_schema else {
        return Ok(());
    };
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| anyhow::anyhow!("the manifest's config_schema is not valid: {e}"))?;
    let secrets = secret_keys(manifest);
    let instance = Value::Object(config.clone());
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .map(|error| {
            let path = error.instance_path().as_str().to_owned();
            let key = path.trim_start_matches('/').split('/').next().unwrap_or("");
            let place = if path.is_empty() {
                "the configuration".to_owned()
            } else {
                path.trim_start_matches('/').replace('/', ".")
            };
            if secrets.iter().any(|s| s == key) {
                format!("{place}: {}", error.masked())
            } else {
                format!("{place}: {error}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

/// The top-level keys whose values differ between `old` and `new` (set,
/// changed or removed), sorted.
pub fn changed_keys(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|key| old.get(*key) != new.get(*key))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A value typed on the command line (`KEY=VALUE`): YAML's reading of it, so
/// `5` is a number, `true` a boolean, `[a, b]` a list, and anything else
/// (or anything in quotes) a string.
pub fn parse_value(text: &str) -> Value {
    yaml_serde::from_str::<Value>(text)
        .ok()
        .filter(|v| !v.is_null() || text.trim() == "null" || text.trim() == "~")
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

/// `config.yaml`'s text for `file`.
pub fn to_yaml(file: &Map<String, Value>) -> Result<String> {
    if file.is_empty() {
        return Ok(String::new());
    }
    yaml_serde::to_string(&Value::Object(file.clone())).context("could not write the config")
}

/// A new `config.yaml`, checked and not yet saved.
#[derive(Debug)]
pub struct Change {
    path: std::path::PathBuf,
    text: String,
    before: Option<String>,
    /// The new effective configuration.
    pub config: Map<String, Value>,
    /// The top-level keys whose effective values change.
    pub keys: Vec<String>,
    /// Whether the file's text changes at all (comments count).
    pub text_differs: bool,
}

/// Check `text` as `manifest`'s plugin's new `config.yaml` in `home`: it
/// must parse and, with the defaults, fit the schema. Nothing is written.
pub fn prepare(home: &crate::home::RoseyHome, manifest: &Manifest, text: &str) -> Result<Change> {
    let path = home.plugin(&manifest.name).config;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        bail!(
            "the configuration is larger than {} KiB",
            MAX_CONFIG_BYTES >> 10
        );
    }
    let file = parse(text).context("refused, nothing was changed")?;
    let config = effective(manifest, &file);
    check(manifest, &config).context("refused, nothing was changed")?;
    let before = match fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    // The running plugin's view: what the old file meant (or the defaults,
    // if the old file is broken and the plugin could not have started).
    let old = before
        .as_deref()
        .and_then(|t| parse(t).ok())
        .map_or_else(|| defaults(manifest), |f| effective(manifest, &f));
    Ok(Change {
        keys: changed_keys(&old, &config),
        text_differs: before.as_deref() != Some(text),
        path,
        text: text.to_owned(),
        before,
        config,
    })
}

impl Change {
    /// Write the new file (atomically, owner-only).
    pub fn save(&self) -> Result<()> {
        crate::home::write_private(&self.path, self.text.as_bytes())
    }

    /// Put the old file back (or remove the new one if there was none).
    pub fn undo(&self) -> Result<()> {
        match &self.before {
            Some(text) => crate::home::write_private(&self.path, text.as_bytes()),
            None => fs::remove_file(&self.path)
                .with_context(|| format!("could not remove {}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::from_yaml(
            "manifest_version: 1
name: greeter
version: 0.1.0
rosey_api: \"^0.1\"
config_schema:
  type: object
  additionalProperties: false
  properties:
    greeting: { type: string, default: hello, maxLength: 20 }
    times: { type: integer, minimum: 1, default: 1 }
    api_key: { type: string, secret: true, minLength: 8 }
  required: [api_key]
",
        )
        .unwrap()
    }

    #[test]
    fn defaults_merge_under_the_file_and_the_schema_is_enforced() {
        let m = manifest();
        let file = parse("api_key: abcdefgh\ntimes: 3\n").unwrap();
        let config = effective(&m, &file);
        assert_eq!(config["greeting"], "hello");
        assert_eq!(config["times"], 3);
        check(&m, &config).unwrap();

        let err = check(&m, &effective(&m, &parse("times: 0").unwrap()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("times:"), "{err}");
        assert!(err.contains("api_key"), "missing required key: {err}");
        let err = check(
            &m,
            &effective(&m, &parse("api_key: abcdefgh\nnope: 1").unwrap()),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn a_secret_never_appears_in_errors_or_shown_config() {
        let m = manifest();
        let config = effective(&m, &parse("api_key: hunter2").unwrap());
        let err = check(&m, &config).unwrap_err().to_string();
        assert!(err.contains("api_key"), "{err}");
        assert!(!err.contains("hunter2"), "the secret leaked: {err}");
        let shown = redacted(&m, &config);
        assert_eq!(shown["api_key"], REDACTED);
        assert_eq!(shown["greeting"], "hello");
    }

    #[test]
    fn command_line_values_are_typed_as_yaml_reads_them() {
        assert_eq!(parse_value("5"), Value::from(5));
        assert_eq!(parse_value("true"), Value::Bool(true));
        assert_eq!(parse_value("hello world"), Value::from("hello world"));
        assert_eq!(parse_value("\"5\""), Value::from("5"));
        assert_eq!(parse_value("[a, b]"), serde_json::json!(["a", "b"]));
        assert_eq!(parse_value(""), Value::from(""));
        assert_eq!(parse_value("null"), Value::Null);
    }

    #[test]
    fn changed_keys_cover_set_changed_and_removed() {
        let old = parse("a: 1\nb: 2\nc: 3").unwrap();
        let new = parse("a: 1\nb: 5\nd: 4").unwrap();
        assert_eq!(changed_keys(&old, &new), ["b", "c", "d"]);
    }

    #[test]
    fn broken_schemas_are_named() {
        assert!(check_schema(&serde_json::json!({"type": "object"})).is_ok());
        let err = check_schema(&serde_json::json!({"type": "objekt"})).unwrap_err();
        assert!(err.contains("objekt"), "{err}");
    }
}
