//! `rosey plugin validate`: a table of bad inputs, one per class of
//! mistake, each with the finding it must produce (code and location), and
//! the CLI contract (exit codes, JSON) that CI relies on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use rosey_host::package::{Migration, Package};
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::validate::{Severity, validate_file};
use rosey_tests::{guest_wasm, package_with, rosey, workspace_path};

/// What a case must produce: its codes, each with a location fragment.
struct Case {
    name: &'static str,
    file: PathBuf,
    expect: Vec<(&'static str, &'static str)>,
    passes: bool,
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn archive(dir: &Path, name: &str, package: &Package) -> PathBuf {
    write(dir, name, &package.write_archive().unwrap())
}

fn quote(edit: impl Fn(String) -> String) -> Package {
    package_with("example-plugins/quote-bot", "quote-bot", edit)
}

/// quote-bot's manifest with its `config_schema` replaced by `schema` (the
/// YAML of the whole `config_schema:` entry).
fn with_schema(manifest: String, schema: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in manifest.lines() {
        if line.starts_with("config_schema:") {
            inside = true;
            continue;
        }
        if inside && (line.starts_with(' ') || line.is_empty()) {
            continue;
        }
        inside = false;
        out.push_str(line);
        out.push('\n');
    }
    out + schema
}

/// A component (in the WAT text format) importing `imports`, exporting
/// nothing.
fn component(imports: &[&str]) -> Vec<u8> {
    let body: String = imports
        .iter()
        .map(|name| format!("(import \"{name}\" (instance))\n"))
        .collect();
    wat::parse_str(format!("(component {body})")).unwrap()
}

fn cases(dir: &Path) -> Vec<Case> {
    let with_component = |name: &str, wasm: Vec<u8>| {
        // A bare component carries its manifest in a custom section.
        let yaml =
            std::fs::read_to_string(workspace_path("example-plugins/echo/manifest.yaml")).unwrap();
        let wasm = rosey_host::package::embed_manifest(&wasm, &yaml).unwrap();
        write(dir, name, &wasm)
    };
    vec![
        Case {
            name: "a good plugin",
            file: archive(dir, "good.roseyplug", &quote(|y| y)),
            expect: vec![],
            passes: true,
        },
        Case {
            name: "not a package at all",
            file: write(dir, "garbage.roseyplug", b"PK\x03\x04 this is no zip"),
            expect: vec![("R002", "garbage.roseyplug")],
            passes: false,
        },
        Case {
            name: "a core module instead of a component",
            file: write(dir, "core.wasm", &wat::parse_str("(module)").unwrap()),
            expect: vec![("R010", "plugin.wasm")],
            passes: false,
        },
        Case {
            name: "an import without its permission",
            file: archive(
                dir,
                "no-permission.roseyplug",
                &quote(|y| y.replace("permissions: [database_access]", "permissions: []")),
            ),
            expect: vec![("R022", "plugin.wasm")],
            passes: false,
        },
        Case {
            name: "an import from another plugin API version",
            file: with_component("api.wasm", component(&["rosey:plugin/log@0.2.0"])),
            expect: vec![("R020", "plugin.wasm"), ("R023", "plugin.wasm")],
            passes: false,
        },
        Case {
            name: "an import Rosey never provides (wasi:keyvalue)",
            file: with_component("keyvalue.wasm", component(&["wasi:keyvalue/store@0.2.0"])),
            expect: vec![("R021", "plugin.wasm"), ("R023", "plugin.wasm")],
            passes: false,
        },
        Case {
            name: "a migration that does not apply",
            file: {
                let mut package = quote(|y| y);
                let next = package.migrations.iter().map(|m| m.version).max().unwrap() + 1;
                package.migrations.push(Migration {
                    version: next,
                    name: "again".into(),
                    up: "CREATE TABLE quotes (x)".into(),
                    down: None,
                });
                archive(dir, "migration.roseyplug", &package)
            },
            expect: vec![("R030", "_again.up.sql")],
            passes: false,
        },
        Case {
            name: "a config_schema default of the wrong type",
            file: archive(
                dir,
                "schema.roseyplug",
                &quote(|y| {
                    with_schema(
                        y,
                        "config_schema:\n  type: object\n  properties:\n    max: { type: integer, default: lots }\n",
                    )
                }),
            ),
            expect: vec![("R041", "config_schema.properties.max.default")],
            passes: false,
        },
        Case {
            name: "a config_schema that is not an object",
            file: archive(
                dir,
                "schema-type.roseyplug",
                &quote(|y| with_schema(y, "config_schema:\n  type: array\n")),
            ),
            expect: vec![("R040", "config_schema.type")],
            passes: false,
        },
        Case {
            name: "a config_schema that is not a JSON Schema",
            file: archive(
                dir,
                "schema-invalid.roseyplug",
                &quote(|y| {
                    with_schema(
                        y,
                        "config_schema:\n  type: object\n  properties:\n    max: { type: integr }\n",
                    )
                }),
            ),
            expect: vec![("R040", "config_schema")],
            passes: false,
        },
        Case {
            name: "a permission the component never uses (warning only)",
            file: archive(
                dir,
                "unused.roseyplug",
                &package_with("example-plugins/echo", "echo", |y| {
                    y.replace("permissions: []", "permissions: [http_requests]")
                        + "network: { allowed_hosts: [\"api.example.com:443\"] }\n"
                }),
            ),
            expect: vec![("W101", "permissions")],
            passes: true,
        },
        Case {
            name: "a plugin nothing can call (warning only)",
            file: archive(
                dir,
                "unreachable.roseyplug",
                &package_with("example-plugins/echo", "echo", |y| {
                    let cut = y.find("commands:").unwrap();
                    y[..cut].to_owned()
                }),
            ),
            expect: vec![("W103", "manifest.yaml")],
            passes: true,
        },
    ]
}

#[test]
fn every_class_of_mistake_has_its_finding() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    for case in cases(dir.path()) {
        let report = validate_file(&runtime, &case.file);
        let got: Vec<(&str, &str)> = report
            .findings
            .iter()
            .map(|f| (f.code, f.location.as_str()))
            .collect();
        assert_eq!(
            report.findings.len(),
            case.expect.len(),
            "{}: {:#?}",
            case.name,
            report.findings
        );
        for ((code, at), finding) in case.expect.iter().zip(&report.findings) {
            assert!(
                finding.code == *code && finding.location.contains(at),
                "{}: expected {code} at {at}, got {got:?}",
                case.name
            );
            assert!(!finding.hint.is_empty() && !finding.message.is_empty());
        }
        assert_eq!(report.passed(), case.passes, "{}: {got:?}", case.name);
        let errors = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        assert_eq!(report.errors, errors);
    }
}

#[test]
fn ci_gets_json_and_an_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let cases = cases(dir.path());
    let good = &cases[0].file;
    let bad = &cases[3].file;

    let out = rosey(
        &home,
        None,
        &[
            "plugin",
            "validate",
            good.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plugin"], "quote-bot");
    assert_eq!(report["errors"], 0);

    let out = rosey(
        &home,
        None,
        &[
            "plugin",
            "validate",
            bad.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], 1);
    let finding = &report["findings"][0];
    assert_eq!(finding["code"], "R022");
    assert_eq!(finding["severity"], "error");
    assert!(
        finding["hint"]
            .as_str()
            .unwrap()
            .contains("database_access")
    );

    // A project directory with a broken manifest: the line and column.
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("manifest.yaml"),
        "manifest_version: 1\nname: [oops\n",
    )
    .unwrap();
    std::fs::copy(guest_wasm("echo"), project.join("plugin.wasm")).unwrap();
    let out = rosey(
        &home,
        None,
        &["plugin", "validate", project.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("error[R001] manifest.yaml:"), "{text}");
    assert!(text.contains("FAILED (1 error(s), 0 warning(s))"), "{text}");
    // Validation installs nothing.
    assert!(!home.join("host.db").exists());
}
