//! Plugin projects in Rust, Python and JavaScript: `rosey plugin create`
//! writes one from a template, and `rosey plugin build` recognises the
//! language and runs its toolchain.
//!
//! Everything a project needs from Rosey travels inside the `rosey` binary
//! (see `cli/build.rs`) and is written into the project's `.rosey/`
//! directory, stamped with `.rosey/VERSION`:
//!
//! ```text
//! .rosey/VERSION           which rosey wrote it (and a digest of what it wrote)
//! .rosey/wit/              the WIT contract, rosey:plugin@0.1.0
//! .rosey/rosey-sdk/        the Rust SDK (its `path: "../wit"` finds .rosey/wit)
//! .rosey/python/rosey.py   the Python helper module
//! .rosey/js/rosey.js       the JavaScript helper module
//! .rosey/build/            scratch space of `rosey plugin build` (Python, JS)
//! ```
//!
//! `.rosey/` is in the project's `.gitignore` and is rewritten whenever it is
//! missing or was written by a different rosey, so a project always builds
//! against the contract of the rosey that builds it.

mod toolchain;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use rosey_host::package::PluginName;
use sha2::{Digest, Sha256};

pub use toolchain::{build_js, build_python, check_toolchain};

/// The files embedded by `cli/build.rs`.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The componentize-py release Python projects are built and tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The componentize-js release JavaScript projects pin in package.json.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The project's support directory, written by rosey.
pub const SUPPORT_DIR: &str = ".rosey";

/// A language `rosey plugin create` has a template for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust, with the rosey-sdk crate.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

impl Language {
    /// The directory of its template under `cli/templates/`.
    fn template(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Python => "python",
            Self::Js => "js",
        }
    }

    /// The language of the project in `dir`, if it is one rosey builds:
    /// a `Cargo.toml` is Rust, a `package.json` JavaScript, an `app.py` or
    /// a `pyproject.toml` Python. Anything else brings its own `plugin.wasm`.
    pub fn detect(dir: &Path) -> Option<Self> {
        if dir.join("Cargo.toml").is_file() {
            Some(Self::Rust)
        } else if dir.join("package.json").is_file() {
            Some(Self::Js)
        } else if dir.join("app.py").is_file() || dir.join("pyproject.toml").is_file() {
            Some(Self::Python)
        } else {
            None
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rust => "Rust",
            Self::Python => "Python",
            Self::Js => "JavaScript",
        })
    }
}

/// What `.rosey/VERSION` says when this rosey wrote `.rosey/`: its version
/// and a digest of every file it writes there, so a rebuilt rosey with a
/// changed contract rewrites it even without a version bump.
pub fn support_stamp() -> String {
    let mut digest = Sha256::new();
    for (path, text) in support_files() {
        digest.update(path.as_bytes());
        digest.update([0]);
        digest.update(text.as_bytes());
        digest.update([0]);
    }
    let digest = hex::encode(digest.finalize());
    format!(
        "rosey {} {}\n",
        env!("CARGO_PKG_VERSION"),
        digest.get(..16).unwrap_or(&digest)
    )
}

/// Every file of `.rosey/` (but `VERSION`), as (relative path, contents).
fn support_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    files.push((
        "README.md".to_owned(),
        "Written by `rosey` for this plugin project: the WIT contract, the Rust SDK and\n\
         the helper modules of the rosey that builds it. Do not edit; it is rewritten\n\
         when missing or written by another rosey. Keep it out of version control.\n"
            .to_owned(),
    ));
    for (path, text) in embedded::WIT {
        files.push((format!("wit/{path}"), (*text).to_owned()));
    }
    for (path, text) in embedded::SDK_SOURCES {
        files.push((format!("rosey-sdk/{path}"), (*text).to_owned()));
    }
    for (path, text) in embedded::TEMPLATES {
        let Some(support) = path.strip_prefix("support/") else {
            continue;
        };
        let target = match support {
            "rosey-sdk-Cargo.toml" => "rosey-sdk/Cargo.toml".to_owned(),
            other => other.to_owned(),
        };
        files.push((target, fill(text, None)));
    }
    files
}

/// The directories of `.rosey/` that rosey owns (removed before a rewrite).
const SUPPORT_ENTRIES: &[&str] = &[
    "VERSION",
    "README.md",
    "wit",
    "rosey-sdk",
    "python",
    "js",
    "build",
];

/// Make sure `dir/.rosey/` is this rosey's: write it if it is missing or was
/// written by another rosey. Returns true if it was (re)written.
pub fn ensure_support(dir: &Path) -> Result<bool> {
    let support = dir.join(SUPPORT_DIR);
    let stamp = support_stamp();
    if std::fs::read_to_string(support.join("VERSION"))
        .ok()
        .as_deref()
        == Some(stamp.as_str())
    {
        return Ok(false);
    }
    for entry in SUPPORT_ENTRIES {
        let path = support.join(entry);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.exists() {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        removed.with_context(|| format!("could not remove the outdated {}", path.display()))?;
    }
    for (relative, text) in support_files() {
        write_file(&support.join(relative), &text)?;
    }
    // Last, so an interrupted write is redone next time.
    write_file(&support.join("VERSION"), &stamp)?;
    Ok(true)
}

/// Whether a Rust project uses the SDK from `.rosey/` (the workspace's
/// own examples use the checkout's `sdk/` instead, and get no `.rosey/`).
pub fn uses_vendored_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|text| text.contains(".rosey/rosey-sdk"))
}

/// Replace the template placeholders.
fn fill(text: &str, name: Option<&PluginName>) -> String {
    let mut text = text
        .replace("{{rosey_version}}", env!("CARGO_PKG_VERSION"))
        .replace("{{componentize_py_version}}", COMPONENTIZE_PY_VERSION)
        .replace("{{componentize_js_version}}", COMPONENTIZE_JS_VERSION);
    if let Some(name) = name {
        text = text.replace("{{name}}", name.as_str());
    }
    text
}

/// Where a template file goes in the project: `gitignore` is `.gitignore`
/// (a dotfile in `cli/templates/` would apply to the Rosey checkout), and a
/// `.tmpl` suffix keeps Cargo from seeing the template's Cargo.toml.
fn project_path(relative: &str) -> String {
    let relative = relative.strip_suffix(".tmpl").unwrap_or(relative);
    match relative.rsplit_once('/') {
        Some((parent, "gitignore")) => format!("{parent}/.gitignore"),
        None if relative == "gitignore" => ".gitignore".to_owned(),
        _ => relative.to_owned(),
    }
}

/// The template files of `language`, as (project path, contents for `name`).
pub fn template_files(language: Language, name: &PluginName) -> Vec<(String, String)> {
    let prefix = format!("{}/", language.template());
    embedded::TEMPLATES
        .iter()
        .filter_map(|(path, text)| {
            let relative = path.strip_prefix(&prefix)?;
            Some((project_path(relative), fill(text, Some(name))))
        })
        .collect()
}

/// Write the project of `language` for plugin `name` into `dir`, which must
/// not exist or be empty. Returns the files written, relative to `dir`.
pub fn create(dir: &Path, name: &PluginName, language: Language) -> Result<Vec<String>> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} exists and is not a directory", dir.display());
        }
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("could not read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} already exists and is not empty; choose another directory with --dir, or \
                 remove it first",
                dir.display()
            );
        }
    }
    let files = template_files(language, name);
    for (relative, text) in &files {
        write_file(&dir.join(relative), text)?;
    }
    ensure_support(dir)?;
    Ok(files.into_iter().map(|(relative, _)| relative).collect())
}

/// Write `text` to `path`, making its parent directories.
fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("could not write {}", path.display()))
}

/// `dir/.rosey/build`, emptied, with the WIT to build against: the contract
/// plus a world `rosey-build` that imports only what `permissions` grant.
///
/// Python and JavaScript toolchains import every interface of the world
/// they are given, used or not, and the host refuses a component that
/// imports `kv`, `sql` or `chat` without the permission they need. Building
/// against the granted interfaces only makes the component import exactly
/// those, and makes using an interface the manifest does not grant a build
/// error instead of a refused install.
fn build_dir(dir: &Path, permissions: &[rosey_host::package::Permission]) -> Result<PathBuf> {
    use rosey_host::package::Permission;

    let build = dir.join(SUPPORT_DIR).join("build");
    if build.exists() {
        std::fs::remove_dir_all(&build)
            .with_context(|| format!("could not empty {}", build.display()))?;
    }
    for (path, text) in embedded::WIT {
        write_file(&build.join("wit").join(path), text)?;
    }
    let mut imports = vec!["bus", "config", "log"];
    if permissions.contains(&Permission::SendMessages) {
        imports.push("chat");
    }
    if permissions.contains(&Permission::DatabaseAccess) {
        imports.extend(["kv", "sql"]);
    }
    let mut world = String::from(
        "package rosey:plugin@0.1.0;\n\n\
         /// Written by `rosey plugin build`: the plugin world, with only the\n\
         /// imports manifest.yaml's permissions grant.\n\
         world rosey-build {\n",
    );
    for import in imports {
        world.push_str(&format!("    import {import};\n"));
    }
    world.push_str("\n    export guest;\n}\n");
    write_file(&build.join("wit").join("rosey-build.wit"), &world)?;
    Ok(build)
}

/// Which interface needs which permission, for build errors.
fn permission_for(interface: &str) -> Option<&'static str> {
    match interface {
        "kv" | "sql" => Some("database_access"),
        "chat" => Some("send_messages"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn name(text: &str) -> PluginName {
        text.parse().unwrap()
    }

    #[test]
    fn every_language_has_the_project_files() {
        for (language, source) in [
            (Language::Rust, "src/lib.rs"),
            (Language::Python, "app.py"),
            (Language::Js, "app.js"),
        ] {
            let files: Vec<String> = template_files(language, &name("greeter"))
                .into_iter()
                .map(|(path, text)| {
                    assert!(
                        !text.contains("{{"),
                        "{path} has a placeholder left: {text}"
                    );
                    path
                })
                .collect();
            for expected in [
                "manifest.yaml",
                "README.md",
                ".gitignore",
                "tests/hello.yaml",
                source,
            ] {
                assert!(
                    files.iter().any(|f| f == expected),
                    "{language} lacks {expected}: {files:?}"
                );
            }
        }
    }

    #[test]
    fn templates_carry_valid_manifests_named_after_the_plugin() {
        for language in [Language::Rust, Language::Python, Language::Js] {
            let (_, text) = template_files(language, &name("greeter"))
                .into_iter()
                .find(|(path, _)| path == "manifest.yaml")
                .unwrap();
            let manifest = rosey_host::package::Manifest::from_yaml(&text).unwrap();
            assert_eq!(manifest.name.as_str(), "greeter");
            assert!(
                manifest.config_schema.is_some(),
                "{language}: no config_schema"
            );
        }
    }

    #[test]
    fn the_vendored_sdk_pins_the_workspace_versions() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
        let files = support_files();
        let (_, cargo_toml) = files
            .iter()
            .find(|(path, _)| path == "rosey-sdk/Cargo.toml")
            .unwrap();
        assert!(!cargo_toml.contains("workspace"), "{cargo_toml}");
        let pinned = |krate: &str| {
            cargo_toml
                .lines()
                .find(|l| l.starts_with(&format!("{krate} =")))
                .and_then(|l| l.split('"').nth(1))
                .unwrap_or_else(|| panic!("{krate} is not pinned in {cargo_toml}"))
                .to_owned()
        };
        assert!(
            workspace.contains(&format!("wit-bindgen = \"{}\"", pinned("wit-bindgen"))),
            "wit-bindgen differs from the workspace's"
        );
        for krate in ["serde", "serde_json"] {
            let version = pinned(krate);
            assert!(
                lock.contains(&format!("name = \"{krate}\"\nversion = \"{version}\"")),
                "{krate} {version} is not the version in Cargo.lock"
            );
        }
        // The SDK's sources find the contract where .rosey/ puts it.
        let (_, lib) = files
            .iter()
            .find(|(path, _)| path == "rosey-sdk/src/lib.rs")
            .unwrap();
        assert!(lib.contains("path: \"../wit\""));
        assert!(files.iter().any(|(path, _)| path == "wit/world.wit"));
    }

    #[test]
    fn support_is_written_once_and_rewritten_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_support(dir.path()).unwrap());
        assert!(!ensure_support(dir.path()).unwrap(), "rewritten needlessly");
        let version = dir.path().join(".rosey/VERSION");
        assert_eq!(std::fs::read_to_string(&version).unwrap(), support_stamp());
        // Another rosey's copy, with a file it no longer writes.
        std::fs::write(&version, "rosey 0.0.1 0000\n").unwrap();
        std::fs::write(dir.path().join(".rosey/wit/old.wit"), "stale").unwrap();
        assert!(ensure_support(dir.path()).unwrap());
        assert!(!dir.path().join(".rosey/wit/old.wit").exists());
        assert!(dir.path().join(".rosey/rosey-sdk/src/lib.rs").is_file());
        assert!(dir.path().join(".rosey/python/rosey.py").is_file());
    }

    #[test]
    fn create_refuses_a_directory_that_is_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = create(dir.path(), &name("greeter"), Language::Python).unwrap_err();
        assert!(format!("{err}").contains("not empty"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_build_world_imports_only_what_is_granted() {
        use rosey_host::package::Permission;
        let dir = tempfile::tempdir().unwrap();
        let build = build_dir(dir.path(), &[]).unwrap();
        let world = std::fs::read_to_string(build.join("wit/rosey-build.wit")).unwrap();
        assert!(world.contains("import bus;") && world.contains("export guest;"));
        assert!(!world.contains("import kv;") && !world.contains("import chat;"));
        let build = build_dir(
            dir.path(),
            &[Permission::DatabaseAccess, Permission::SendMessages],
        )
        .unwrap();
        let world = std::fs::read_to_string(build.join("wit/rosey-build.wit")).unwrap();
        for import in ["kv", "sql", "chat"] {
            assert!(world.contains(&format!("import {import};")), "{world}");
        }
    }

    #[test]
    fn template_paths() {
        assert_eq!(project_path("gitignore"), ".gitignore");
        assert_eq!(project_path("Cargo.toml.tmpl"), "Cargo.toml");
        assert_eq!(project_path("src/lib.rs"), "src/lib.rs");
    }
}
