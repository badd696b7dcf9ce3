//! The Python and JavaScript toolchains behind `rosey plugin build`, and the
//! check `rosey plugin create` makes that a project's toolchain is there.
//!
//! Progress goes to stderr (stdout stays for the build report). When a tool
//! is missing, the error says exactly what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use rosey_host::package::Manifest;

use super::{
    COMPONENTIZE_JS_VERSION, COMPONENTIZE_PY_VERSION, Language, build_dir, ensure_support,
    permission_for,
};

/// What to do when componentize-py is missing.
fn install_componentize_py() -> String {
    format!(
        "install it with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (Python 3.10 \
         or newer), e.g. in a virtual environment in the project: `python3 -m venv .venv && \
         .venv/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (rosey looks in \
         .venv/bin, then on PATH)"
    )
}

const INSTALL_NODE: &str = "install Node.js 18 or newer with npm (Debian/Ubuntu: `apt-get install \
                            nodejs npm`; elsewhere see https://nodejs.org)";

/// Check that the toolchain of `language` is installed; the error says what
/// to install. (For JavaScript, `npm install` in the project brings the
/// rest; Node.js and npm must be there.)
pub fn check_toolchain(language: Language, dir: &Path) -> Result<()> {
    match language {
        Language::Rust => check_rust(),
        Language::Python => componentize_py(dir).map(|_| ()),
        Language::Js => check_node().and_then(|()| {
            run_quietly(Command::new("npm").arg("--version"))
                .map(|_| ())
                .map_err(|_| anyhow::anyhow!("npm was not found: {INSTALL_NODE}"))
        }),
    }
}

/// Run `command` for its output; Err if it cannot be started or fails.
fn run_quietly(command: &mut Command) -> Result<Output> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!("{:?} failed ({})", command.get_program(), output.status);
    }
    Ok(output)
}

fn check_rust() -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    if run_quietly(Command::new(cargo).arg("--version")).is_err() {
        bail!("cargo was not found: install Rust from https://rustup.rs");
    }
    // Without rustup the toolchain may still have the target; cargo says so
    // at build time if it has not.
    if let Ok(output) = run_quietly(Command::new("rustup").args(["target", "list", "--installed"]))
        && !String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|l| l.trim() == "wasm32-wasip2")
    {
        bail!("the wasm32-wasip2 target is not installed: run `rustup target add wasm32-wasip2`");
    }
    Ok(())
}

/// The componentize-py to run: the project's `.venv/bin/componentize-py`,
/// else the one on PATH. Warns if its version is not the tested one.
fn componentize_py(dir: &Path) -> Result<PathBuf> {
    let local = dir.join(".venv").join("bin").join("componentize-py");
    let program = if local.is_file() {
        // Absolute: the build runs it from another directory.
        std::path::absolute(&local).unwrap_or(local)
    } else {
        PathBuf::from("componentize-py")
    };
    let output = run_quietly(Command::new(&program).arg("--version")).map_err(|_| {
        anyhow::anyhow!(
            "componentize-py was not found: {}",
            install_componentize_py()
        )
    })?;
    let version = String::from_utf8_lossy(&output.stdout);
    let version = version.trim().trim_start_matches("componentize-py").trim();
    if version != COMPONENTIZE_PY_VERSION {
        eprintln!(
            "rosey: warning: componentize-py {version} found; this rosey is tested with \
             {COMPONENTIZE_PY_VERSION} (`pip install componentize-py=={COMPONENTIZE_PY_VERSION}`)"
        );
    }
    Ok(program)
}

/// Node.js 18 or newer.
fn check_node() -> Result<()> {
    let output = run_quietly(Command::new("node").arg("--version"))
        .map_err(|_| anyhow::anyhow!("Node.js was not found: {INSTALL_NODE}"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(major) if major >= 18 => Ok(()),
        _ => bail!("Node.js {version} is too old: {INSTALL_NODE}"),
    }
}

/// Print what a tool wrote (its stdout too: ours is for the report).
fn relay(output: &Output) {
    eprint!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
}

/// If a build failed because the code imports an interface the manifest
/// does not grant, say which permission it needs.
fn missing_interface_hint(text: &str) -> Option<String> {
    for interface in ["kv", "sql", "chat"] {
        let python = text.contains(&format!("cannot import name '{interface}'"))
            || text.contains(&format!("No module named 'wit_world.imports.{interface}'"));
        let js = text.contains(&format!("Error loading module \"rosey:plugin/{interface}@"));
        if python || js {
            let permission = permission_for(interface)?;
            return Some(format!(
                "the plugin uses the `{interface}` interface, which needs the `{permission}` \
                 permission: add it to manifest.yaml's permissions (rosey builds against the \
                 interfaces the manifest grants, and nothing else)"
            ));
        }
    }
    None
}

/// Build the Python project in `dir` with componentize-py: module `app`
/// (app.py) defines the `Guest` class. Returns the component.
pub fn build_python(dir: &Path, manifest: &Manifest) -> Result<Vec<u8>> {
    if !dir.join("app.py").is_file() {
        bail!(
            "{} has no app.py: a Python plugin's code starts in app.py, which defines `class \
             Guest(rosey.Plugin)` (see `rosey plugin create NAME --lang python`)",
            dir.display()
        );
    }
    let program = componentize_py(dir)?;
    if ensure_support(dir)? {
        eprintln!("rosey: wrote .rosey/ (the WIT contract and the rosey helper module)");
    }
    let build = build_dir(dir, &manifest.permissions)?;
    let wasm = build.join("plugin.wasm");
    // componentize-py reads the code from a copy: the Python inside it writes
    // bytecode (__pycache__) beside the sources, and `rosey dev` would take
    // that for an edit and rebuild for ever.
    copy_sources(dir, &build.join("app"))?;
    eprintln!("rosey: building {} with componentize-py…", manifest.name);
    let started = Instant::now();
    // From inside .rosey/build: componentize-py also puts its working
    // directory on the Python path.
    let output = Command::new(&program)
        .current_dir(&build)
        .args(["-d", "wit", "-w", "rosey-build", "componentize", "app"])
        .args(["-p", "app", "-p", "../python", "-o", "plugin.wasm"])
        // Its errors are Python tracebacks; a Rust backtrace only buries them.
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {}", program.display()))?;
    if !output.status.success() {
        relay(&output);
        let text = String::from_utf8_lossy(&output.stderr);
        if let Some(hint) = missing_interface_hint(&text) {
            bail!("componentize-py failed: {hint}");
        }
        bail!("componentize-py failed (see its output above)");
    }
    eprintln!(
        "rosey: componentize-py built {} in {:.1} s",
        manifest.name,
        started.elapsed().as_secs_f64()
    );
    std::fs::read(&wasm).with_context(|| format!("could not read {}", wasm.display()))
}

/// Copy the project's files from `from` into `to`, but hidden entries
/// (`.rosey/`, `.venv/`, `.git/`...), bytecode caches, build output and
/// archives.
fn copy_sources(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("could not create {}", to.display()))?;
    let entries =
        std::fs::read_dir(from).with_context(|| format!("could not read {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("could not read {}", from.display()))?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.starts_with('.')
            || matches!(text.as_ref(), "__pycache__" | "node_modules" | "target")
            || text.ends_with(".roseyplug")
        {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry
            .file_type()
            .with_context(|| format!("could not read {}", source.display()))?;
        if kind.is_dir() {
            copy_sources(&source, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target).with_context(|| {
                format!(
                    "could not copy {} to {}",
                    source.display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}

/// Build the JavaScript project in `dir` with componentize-js (run from the
/// project's node_modules; `npm install` first if it is missing). The entry
/// module is package.json's `main`, else `app.js`. Returns the component.
pub fn build_js(dir: &Path, manifest: &Manifest) -> Result<Vec<u8>> {
    check_node()?;
    let package_json = dir.join("package.json");
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&package_json)
            .with_context(|| format!("could not read {}", package_json.display()))?,
    )
    .with_context(|| format!("{} is not valid JSON", package_json.display()))?;
    let entry = package["main"].as_str().unwrap_or("app.js").to_owned();
    if !dir.join(&entry).is_file() {
        bail!(
            "{} has no {entry} (package.json's \"main\", or app.js): that module exports the \
             plugin as `guest`",
            dir.display()
        );
    }
    let componentize = dir
        .join("node_modules")
        .join(".bin")
        .join("componentize-js");
    if !componentize.is_file() {
        eprintln!("rosey: running `npm install` in {}…", dir.display());
        let status = Command::new("npm")
            .current_dir(dir)
            .args(["install", "--no-audit", "--no-fund"])
            .stdin(Stdio::null())
            .stdout(std::io::stderr())
            .status()
            .map_err(|_| anyhow::anyhow!("npm was not found: {INSTALL_NODE}"))?;
        if !status.success() {
            bail!(
                "`npm install` failed in {} (see its output above)",
                dir.display()
            );
        }
        if !componentize.is_file() {
            bail!(
                "package.json does not bring componentize-js: run `npm install --save-dev \
                 @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}`"
            );
        }
    }
    if ensure_support(dir)? {
        eprintln!("rosey: wrote .rosey/ (the WIT contract and the rosey.js helper)");
    }
    let build = build_dir(dir, &manifest.permissions)?;
    let wasm = build.join("plugin.wasm");
    eprintln!("rosey: building {} with componentize-js…", manifest.name);
    let started = Instant::now();
    let output = Command::new(&componentize)
        .current_dir(dir)
        .arg(&entry)
        .args(["-w", ".rosey/build/wit", "-n", "rosey-build"])
        // Without these the component imports wasi:http, which needs the
        // http_requests permission even if the plugin never fetches.
        .args(["-d", "http", "-d", "fetch-event"])
        .args(["-o", ".rosey/build/plugin.wasm"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {}", componentize.display()))?;
    if !output.status.success() || !wasm.is_file() {
        relay(&output);
        let text = String::from_utf8_lossy(&output.stderr);
        if let Some(hint) = missing_interface_hint(&text) {
            bail!("componentize-js failed: {hint}");
        }
        bail!("componentize-js failed (see its output above)");
    }
    eprintln!(
        "rosey: componentize-js built {} in {:.1} s",
        manifest.name,
        started.elapsed().as_secs_f64()
    );
    std::fs::read(&wasm).with_context(|| format!("could not read {}", wasm.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_missing_interface_names_its_permission() {
        let python = "ImportError: cannot import name 'kv' from 'wit_world.imports'";
        assert!(
            missing_interface_hint(python)
                .unwrap()
                .contains("`database_access`")
        );
        let js = "ReferenceError: Error loading module \"rosey:plugin/chat@0.1.0\" (resolved path \
                  \"rosey:plugin/chat@0.1.0\"): No such file or directory";
        assert!(
            missing_interface_hint(js)
                .unwrap()
                .contains("`send_messages`")
        );
        assert_eq!(missing_interface_hint("SyntaxError: invalid syntax"), None);
    }

    #[test]
    fn missing_tools_say_what_to_install() {
        assert!(install_componentize_py().contains("pip install componentize-py==0.25.1"));
        assert!(INSTALL_NODE.contains("Node.js 18"));
    }
}
