//! Installing and removing: refusals leave nothing behind, and removal never
//! follows what a plugin planted in its directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rosey_host::home::RoseyHome;
use rosey_host::package::{Manifest, Migration, Package, embed_manifest};
use rosey_host::registry::Registry;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_tests::{guest_wasm, workspace_path};

fn setup() -> (tempfile::TempDir, RoseyHome, Runtime) {
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    (work, home, runtime)
}

fn echo() -> Package {
    let wasm = std::fs::read(guest_wasm("echo")).unwrap();
    Package::from_project_dir(&workspace_path("example-plugins/echo"), wasm).unwrap()
}

/// Nothing of `name` on disk or in host.db, and no staging leftovers.
fn assert_no_trace(home: &RoseyHome, name: &str) {
    assert!(
        !home.plugins_dir().join(name).exists(),
        "plugins/{name} exists"
    );
    let leftovers: Vec<_> = std::fs::read_dir(home.staging_dir())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "staging leftovers: {leftovers:?}");
    if home.host_db().exists() {
        let registry = Registry::open(&home.host_db()).unwrap();
        assert!(registry.get(&name.parse().unwrap()).unwrap().is_none());
    }
}

#[test]
fn removal_deletes_a_planted_symlink_not_its_target() {
    let (work, home, runtime) = setup();
    rosey_host::install::install(&home, &runtime, &echo(), None).unwrap();
    let outside = work.path().join("operator-data");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious.txt"), "keep me").unwrap();
    let files = home.plugin(&"echo".parse().unwrap()).files;
    std::os::unix::fs::symlink(&outside, files.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("precious.txt"), files.join("file-link")).unwrap();

    rosey_host::install::remove(&home, &"echo".parse().unwrap(), false).unwrap();
    assert_no_trace(&home, "echo");
    assert_eq!(
        std::fs::read_to_string(outside.join("precious.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn a_component_importing_an_ungranted_capability_is_refused() {
    let (_work, home, runtime) = setup();
    // quote-bot's component (it imports sql) under a manifest without
    // database_access.
    let mut package = echo();
    package.wasm = embed_manifest(
        &std::fs::read(guest_wasm("quote-bot")).unwrap(),
        &package.manifest_yaml,
    )
    .unwrap();
    let err = rosey_host::install::install(&home, &runtime, &package, None).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("rosey:plugin/sql") && text.contains("database_access"),
        "the refusal names the import and the permission: {text}"
    );
    assert_no_trace(&home, "echo");
}

#[test]
fn a_failing_migration_leaves_nothing_behind() {
    let (_work, home, runtime) = setup();
    let mut package = echo();
    let yaml = package
        .manifest_yaml
        .replace("permissions: []", "permissions: [database_access]");
    package.manifest = Manifest::from_yaml(&yaml).unwrap();
    package.manifest_yaml = yaml;
    package.migrations = vec![Migration {
        version: 1,
        name: "broken".into(),
        up: "CREATE TABLE fine (x); THIS IS NOT SQL;".into(),
        down: None,
    }];
    let err = rosey_host::install::install(&home, &runtime, &package, None).unwrap_err();
    assert!(
        format!("{err:#}").contains("migration 001_broken failed"),
        "{err:#}"
    );
    assert_no_trace(&home, "echo");
}

#[test]
fn installing_twice_is_refused_and_keeps_the_first() {
    let (_work, home, runtime) = setup();
    rosey_host::install::install(&home, &runtime, &echo(), None).unwrap();
    let err = rosey_host::install::install(&home, &runtime, &echo(), None).unwrap_err();
    assert!(format!("{err:#}").contains("already installed"), "{err:#}");
    assert!(home.plugin(&"echo".parse().unwrap()).wasm.is_file());
}
