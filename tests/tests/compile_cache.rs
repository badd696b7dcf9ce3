//! The compile cache: written by the host at install, used at load only when
//! its key matches this engine and the exact wasm, otherwise rebuilt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rosey_host::home::RoseyHome;
use rosey_host::package::Package;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_tests::{guest_wasm, workspace_path};

fn installed() -> (tempfile::TempDir, RoseyHome, Runtime) {
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    let wasm = std::fs::read(guest_wasm("echo")).unwrap();
    let package = Package::from_project_dir(&workspace_path("example-plugins/echo"), wasm).unwrap();
    rosey_host::install::install(&home, &runtime, &package, None).unwrap();
    (work, home, runtime)
}

#[test]
fn install_writes_the_cache_and_load_uses_it() {
    let (_work, home, runtime) = installed();
    let paths = home.plugin(&"echo".parse().unwrap());
    assert!(paths.compiled.is_file() && paths.compiled_key.is_file());
    let (_, from_cache) = runtime.load(&paths).unwrap();
    assert!(from_cache, "a fresh install must load from the cache");
}

#[test]
fn a_cache_with_a_foreign_key_is_rebuilt_not_trusted() {
    let (_work, home, runtime) = installed();
    let paths = home.plugin(&"echo".parse().unwrap());
    // Garbage where the compiled code should be, under a key that does not
    // match: it must never be deserialized.
    std::fs::write(&paths.compiled, b"not compiled code").unwrap();
    std::fs::write(&paths.compiled_key, b"some-other-engine").unwrap();
    let (_, from_cache) = runtime.load(&paths).unwrap();
    assert!(!from_cache);
    // ...and the cache was rewritten for next time.
    let (_, from_cache) = runtime.load(&paths).unwrap();
    assert!(from_cache);
}

#[test]
fn a_changed_wasm_invalidates_the_cache() {
    let (_work, home, runtime) = installed();
    let paths = home.plugin(&"echo".parse().unwrap());
    let other = std::fs::read(guest_wasm("quote-bot")).unwrap();
    std::fs::write(&paths.wasm, other).unwrap();
    let (component, from_cache) = runtime.load(&paths).unwrap();
    assert!(!from_cache, "the cache was compiled from different wasm");
    // It really is the new component (quote-bot imports sql).
    let imports: Vec<String> = component
        .component_type()
        .imports(runtime.engine().engine())
        .map(|(name, _)| name.to_owned())
        .collect();
    assert!(
        imports.iter().any(|i| i.starts_with("rosey:plugin/sql")),
        "{imports:?}"
    );
}
