//! The reference pages must agree with the sources: `docs/manifest.schema.json`
//! (generated from the manifest types), the parser and `docs/manifest.md`
//! (every manifest the project ships passes the schema, shape errors are
//! refused by both, and the reference documents exactly the schema's
//! fields); `docs/wit.md` documents every function of every WIT interface.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::package::Manifest;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&Manifest::json_schema()).unwrap()
}

fn yaml_to_json(text: &str) -> Value {
    yaml_serde::from_str(text).unwrap()
}

/// Every manifest.yaml in the examples and the test fixtures.
fn shipped_manifests() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in ["example-plugins", "tests/guests"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let manifest = entry.unwrap().path().join("manifest.yaml");
            if manifest.is_file() {
                found.push(manifest);
            }
        }
    }
    assert!(found.len() >= 4, "found only {found:?}");
    found
}

#[test]
fn every_shipped_manifest_passes_the_schema_and_the_parser() {
    let validator = validator();
    for path in shipped_manifests() {
        let text = std::fs::read_to_string(&path).unwrap();
        Manifest::from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let errors: Vec<String> = validator
            .iter_errors(&yaml_to_json(&text))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}

#[test]
fn schema_and_parser_refuse_the_same_shape_errors() {
    let validator = validator();
    let base = "manifest_version: 1\nname: demo\nversion: 0.1.0\nrosey_api: \"^0.1\"\n";
    assert!(validator.is_valid(&yaml_to_json(base)));
    Manifest::from_yaml(base).unwrap();
    for bad in [
        "colour: red\n",
        "permissions: [root]\n",
        "network: {allowed_hosts: [x:1], proxy: y}\n",
        "commands: [{name: Quote}]\n",
        "commands: [{name: quote, alias: q}]\n",
        "schedules: [{name: tick, every: soon}]\n",
        "resources: {memory: lots}\n",
        "resources: {publish_rate: fast}\n",
        "resources: {fuel_per_call: -1}\n",
        "resources: {timeout: 5}\n",
        "dependencies: {plugins: [{name: Other, version: \"^1\"}]}\n",
        "tags: tag\n",
    ] {
        let text = format!("{base}{bad}");
        assert!(
            !validator.is_valid(&yaml_to_json(&text)),
            "the schema accepts {bad:?}"
        );
        assert!(
            Manifest::from_yaml(&text).is_err(),
            "the parser accepts {bad:?}"
        );
    }
    for name in ["quote-bot", "a", "x1-y2"] {
        let text = base.replace("name: demo", &format!("name: {name}"));
        assert!(validator.is_valid(&yaml_to_json(&text)), "{name}");
        Manifest::from_yaml(&text).unwrap();
    }
    for name in ["Quote", "1x", "x-", "a--b", "a_b"] {
        let text = base.replace("name: demo", &format!("name: {name}"));
        assert!(!validator.is_valid(&yaml_to_json(&text)), "schema: {name}");
        assert!(Manifest::from_yaml(&text).is_err(), "parser: {name}");
    }
}

/// The rows of the table under `heading` in manifest.md: the backticked
/// first cell of each row.
fn documented(reference: &str, heading: &str) -> Vec<String> {
    let start = reference
        .lines()
        .position(|l| l.trim() == heading)
        .unwrap_or_else(|| panic!("docs/manifest.md has no heading {heading:?}"));
    reference
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(k, _)| k.to_owned()))
        .collect()
}

fn properties(schema: &Value, def: Option<&str>) -> Vec<String> {
    let object = match def {
        None => schema,
        Some(name) => &schema["$defs"][name],
    };
    let mut keys: Vec<String> = object["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{def:?} has no properties"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[test]
fn the_manifest_reference_documents_exactly_the_schemas_fields() {
    let schema = Manifest::json_schema();
    let reference = std::fs::read_to_string(root().join("docs/manifest.md")).unwrap();
    for (def, heading) in [
        (None, "### Top level"),
        (Some("Network"), "### `network`"),
        (Some("Subjects"), "### `subjects`"),
        (Some("CommandSpec"), "### `commands[]`"),
        (Some("Schedule"), "### `schedules[]`"),
        (Some("Dependencies"), "### `dependencies`"),
        (Some("Resources"), "## Resources"),
    ] {
        let mut rows = documented(&reference, heading);
        rows.sort();
        assert_eq!(
            rows,
            properties(&schema, def),
            "docs/manifest.md {heading} and the schema ({def:?}) list different fields"
        );
    }
    let dependency = properties(&schema, Some("PluginDependency"));
    assert_eq!(dependency, ["name", "version"]);
    assert!(reference.contains("list of `{name, version}`"));
    let mut permissions: Vec<String> = schema["$defs"]["Permission"]["enum"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if permissions.is_empty() {
        // schemars writes a documented enum as oneOf of consts.
        permissions = schema["$defs"]["Permission"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["const"].as_str().map(str::to_owned))
            .collect();
    }
    permissions.sort();
    let mut rows = documented(&reference, "## Permissions");
    rows.sort();
    assert_eq!(rows, permissions, "## Permissions and the schema differ");
}

#[test]
fn the_wit_reference_documents_every_function() {
    let reference = std::fs::read_to_string(root().join("docs/wit.md")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("wit")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut interface = None;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("interface ") {
                interface = rest.split_whitespace().next().map(str::to_owned);
            }
            let Some((name, _)) = line.split_once(": func") else {
                continue;
            };
            let interface = interface.as_deref().unwrap_or("?");
            let section = format!("## `{interface}`");
            let start = reference
                .find(&section)
                .unwrap_or_else(|| panic!("docs/wit.md has no section {section:?}"));
            let end = reference[start + section.len()..]
                .find("\n## ")
                .map_or(reference.len(), |i| start + section.len() + i);
            assert!(
                reference[start..end].contains(&format!("`{name}: func")),
                "docs/wit.md {section} does not document {name} ({})",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} functions found");
}
