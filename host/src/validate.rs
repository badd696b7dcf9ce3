//! `rosey plugin validate`: everything the host would refuse about a
//! package, found before an operator ever sees it, each finding with a
//! stable code, a location and a fix.
//!
//! The final word is the host's own: a package passes only if the same
//! compile-and-link check an install runs accepts it, so CI cannot show a
//! green check on a component the host will refuse.

use std::fmt;
use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;

use crate::package::{Manifest, ManifestError, Package, PackageError, Permission, SUPPORTED_API};
use crate::runtime::Runtime;
use crate::runtime::loader::GUARDED_IMPORTS;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The host refuses the package.
    Error,
    /// The host accepts it, but something is probably wrong.
    Warning,
}

/// One thing wrong with a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable code (see `docs/validate.md`), e.g. `R022`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Where: a file, `file:line:column`, or `file: field`.
    pub location: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{kind}[{}] {}: {}\n  hint: {}",
            self.code, self.location, self.message, self.hint
        )
    }
}

/// Everything found in one package.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was validated.
    pub source: String,
    /// The plugin's name, if the manifest could be read.
    pub plugin: Option<String>,
    /// Its version, likewise.
    pub version: Option<String>,
    /// What was found, errors first.
    pub findings: Vec<Finding>,
    /// Errors found.
    pub errors: usize,
    /// Warnings found.
    pub warnings: usize,
}

impl Report {
    /// Whether the host would accept the package.
    pub fn passed(&self) -> bool {
        self.errors == 0
    }
}

struct Findings(Vec<Finding>);

impl Findings {
    fn push(
        &mut self,
        code: &'static str,
        severity: Severity,
        location: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Finding {
            code,
            severity,
            location: location.into(),
            message: message.into(),
            hint: hint.into(),
        });
    }

    fn error(
        &mut self,
        code: &'static str,
        at: impl Into<String>,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(code, Severity::Error, at, what, fix);
    }

    fn warn(
        &mut self,
        code: &'static str,
        at: impl Into<String>,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(code, Severity::Warning, at, what, fix);
    }
}

/// The export every plugin must have.
fn guest_export() -> String {
    format!("rosey:plugin/guest@{SUPPORTED_API}")
}

/// A component larger than this gets a warning (the hard cap is the
/// package reader's).
const LARGE_COMPONENT: usize = 16 << 20;

/// Validate the package file (`.roseyplug` or `.wasm`) at `path`.
pub fn validate_file(runtime: &Runtime, path: &Path) -> Report {
    let source = path.display().to_string();
    match Package::read_capped(path).and_then(|bytes| Package::from_bytes(&bytes, path)) {
        Ok(package) => validate_package(runtime, &package, source),
        Err(error) => refused(source, &error),
    }
}

/// A report for a file the package reader refused.
pub fn refused(source: String, error: &PackageError) -> Report {
    let mut found = Findings(Vec::new());
    match error {
        PackageError::Manifest(manifest) => manifest_finding(&mut found, manifest),
        PackageError::WasmTooLarge { .. }
        | PackageError::CoreModule
        | PackageError::NativeCode
        | PackageError::NotComponent { .. }
        | PackageError::EmbeddedManifest { .. } => found.error(
            "R010",
            "plugin.wasm",
            error.to_string(),
            "build a WASI Preview 2 component (e.g. `cargo build --target wasm32-wasip2`, \
             componentize-py, jco) and package it with `rosey plugin build`",
        ),
        other => found.error(
            "R002",
            source.clone(),
            other.to_string(),
            "rebuild the archive with `rosey plugin build`; it writes exactly the layout the \
             host reads",
        ),
    }
    finish(source, None, found)
}

fn manifest_finding(found: &mut Findings, error: &ManifestError) {
    let location = match error {
        ManifestError::Yaml {
            location: Some(at), ..
        } => format!("manifest.yaml:{at}"),
        ManifestError::Invalid { path, .. } => format!("manifest.yaml: {path}"),
        _ => "manifest.yaml".to_owned(),
    };
    found.error(
        "R001",
        location,
        error.to_string(),
        "fix the manifest as the message says (reference: docs/manifest.md)",
    );
}

/// Validate a package read into memory.
pub fn validate_package(runtime: &Runtime, package: &Package, source: String) -> Report {
    let mut found = Findings(Vec::new());
    let manifest = &package.manifest;
    if package.wasm.len() > LARGE_COMPONENT {
        found.warn(
            "W102",
            "plugin.wasm",
            format!("the component is {} MiB", package.wasm.len() >> 20),
            "for a Rust plugin, build in release mode and strip debug info (`rosey plugin \
             build` does both); Python and JavaScript components carry their interpreter and \
             are this large by nature",
        );
    }
    check_component(runtime, package, &mut found);
    check_migrations(package, &mut found);
    check_config_schema(manifest, &mut found);
    if manifest.commands.is_empty()
        && manifest.subjects.subscribe.is_empty()
        && manifest.schedules.is_empty()
    {
        found.warn(
            "W103",
            "manifest.yaml",
            "the plugin declares no commands, subscriptions or schedules, so nothing but `init` \
             will ever call it",
            "declare a command under `commands`, a subject under `subjects.subscribe`, or a \
             schedule",
        );
    }
    finish(source, Some(manifest), found)
}

fn finish(source: String, manifest: Option<&Manifest>, found: Findings) -> Report {
    let mut findings = found.0;
    findings.sort_by_key(|f| (f.severity == Severity::Warning, f.code));
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    Report {
        source,
        plugin: manifest.map(|m| m.name.to_string()),
        version: manifest.map(|m| m.version.to_string()),
        warnings: findings.len() - errors,
        errors,
        findings,
    }
}

/// Imports against the API version and the permissions, the guest export,
/// then the host's own compile-and-link check.
fn check_component(runtime: &Runtime, package: &Package, found: &mut Findings) {
    let component = match runtime.compile(&package.wasm) {
        Ok(component) => component,
        Err(e) => {
            found.error(
                "R010",
                "plugin.wasm",
                format!("{e:#}"),
                "build a valid WASI Preview 2 component",
            );
            return;
        }
    };
    let engine = runtime.engine().engine();
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let manifest = &package.manifest;
    let before = found.0.len();
    for import in &imports {
        if let Some(rest) = import.strip_prefix("rosey:plugin/")
            && let Some((_, version)) = rest.split_once('@')
            && version != SUPPORTED_API
        {
            found.error(
                "R020",
                "plugin.wasm",
                format!("imports `{import}`, but this host serves rosey:plugin@{SUPPORTED_API}"),
                format!("build against rosey:plugin@{SUPPORTED_API} (the SDK's version) and set rosey_api to match"),
            );
        }
        let provided = [
            "rosey:plugin/",
            "wasi:cli/",
            "wasi:io/",
            "wasi:clocks/",
            "wasi:random/",
            "wasi:filesystem/",
            // Linked because standard libraries import it (CPython always
            // does); TCP, UDP and name lookup are denied by the WASI context.
            "wasi:sockets/",
            "wasi:http/",
        ]
        .iter()
        .any(|p| import.starts_with(p));
        if !provided {
            found.error(
                "R021",
                "plugin.wasm",
                format!("imports `{import}`, which Rosey does not provide"),
                "use only rosey:plugin, WASI 0.2 (cli, io, clocks, random, filesystem, and \
                 sockets, which are linked but deny every connection) and wasi:http; remove \
                 the dependency that pulls it in",
            );
        }
        for (prefix, permission) in GUARDED_IMPORTS {
            if import.starts_with(prefix) && !manifest.permissions.contains(permission) {
                found.error(
                    "R022",
                    "plugin.wasm",
                    format!("imports `{import}`, which needs the `{permission}` permission"),
                    format!("add `{permission}` to the manifest's permissions, or stop using that interface"),
                );
            }
        }
    }
    if !exports.iter().any(|e| *e == guest_export()) {
        found.error(
            "R023",
            "plugin.wasm",
            format!("does not export `{}`", guest_export()),
            "implement the guest interface (with the Rust SDK: `export_plugin!(YourPlugin)`)",
        );
    }
    let uses = |prefixes: &[&str]| {
        imports
            .iter()
            .any(|i| prefixes.iter().any(|p| i.starts_with(p)))
    };
    let unused = [
        (
            Permission::DatabaseAccess,
            uses(&["rosey:plugin/sql@", "rosey:plugin/kv@"]),
        ),
        (Permission::HttpRequests, uses(&["wasi:http/"])),
        (
            Permission::SendMessages,
            uses(&["rosey:plugin/chat@", "rosey:plugin/bus@"]),
        ),
    ];
    for (permission, used) in unused {
        if manifest.permissions.contains(&permission) && !used {
            found.warn(
                "W101",
                "manifest.yaml: permissions",
                format!("`{permission}` is granted but the component never uses it"),
                "remove it: operators are asked to approve every permission",
            );
        }
    }
    // The host's own word: what an install would say. Only reported if the
    // specific checks above did not already explain it.
    if let Err(e) = crate::install::check(runtime, package)
        && found.0.len() == before
    {
        found.error(
            "R021",
            "plugin.wasm",
            format!("{e:#}"),
            "use only the interfaces Rosey provides: rosey:plugin, WASI 0.2 without sockets, \
             and wasi:http with `http_requests`",
        );
    }
}

/// Every migration applies, in order, to an empty in-memory database.
fn check_migrations(package: &Package, found: &mut Findings) {
    if package.migrations.is_empty() {
        return;
    }
    let Ok(conn) = Connection::open_in_memory() else {
        return;
    };
    for migration in &package.migrations {
        let file = format!(
            "migrations/{:03}_{}.up.sql",
            migration.version, migration.name
        );
        if let Err(e) = conn.execute_batch(&migration.up) {
            found.error(
                "R030",
                file,
                format!("does not apply after the ones before it: {e}"),
                "run the migrations in order against an empty SQLite database and fix the first \
                 that fails",
            );
            return;
        }
    }
    for migration in &package.migrations {
        if let Some(down) = &migration.down
            && down.trim().is_empty()
        {
            found.warn(
                "W104",
                format!(
                    "migrations/{:03}_{}.down.sql",
                    migration.version, migration.name
                ),
                "is empty",
                "write the SQL that undoes the up migration, or delete the file",
            );
        }
    }
}

/// `config_schema`: a valid JSON Schema for an object, whose defaults fit
/// their own schemas (the host checks every `config.yaml` against it).
fn check_config_schema(manifest: &Manifest, found: &mut Findings) {
    let Some(schema) = &manifest.config_schema else {
        return;
    };
    let at = |field: &str| format!("manifest.yaml: config_schema{field}");
    if let Some(kind) = schema.get("type")
        && kind != "object"
    {
        found.error(
            "R040",
            at(".type"),
            format!("is {kind}; a plugin's configuration is an object"),
            "use `type: object` and list the keys under `properties`",
        );
        return;
    }
    if let Err(why) = crate::plugin_config::check_schema(schema) {
        found.error(
            "R040",
            at(""),
            format!("is not a valid JSON Schema: {why}"),
            "fix the schema (JSON Schema 2020-12; see docs/manifest.md)",
        );
        return;
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, property) in properties.into_iter().flatten() {
        let (Some(default), Ok(validator)) =
            (property.get("default"), jsonschema::validator_for(property))
        else {
            continue;
        };
        if let Some(error) = validator.iter_errors(default).next() {
            found.error(
                "R041",
                at(&format!(".properties.{key}.default")),
                format!("does not fit its own schema: {error}"),
                format!("give `{key}` a default its schema accepts"),
            );
        }
    }
}

#[cfg(test)]
mod reference_docs;
