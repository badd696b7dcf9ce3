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

/// Set `path`'s modification time an hour back, as if installed long ago.
fn age(path: &std::path::Path) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
}

fn record(paths: &rosey_host::home::PluginPaths) -> String {
    std::fs::read_to_string(&paths.compiled_key).unwrap()
}

#[test]
fn a_freshly_written_wasm_is_checked_by_digest_and_not_stamped() {
    let (_work, home, runtime) = installed();
    let paths = home.plugin(&"echo".parse().unwrap());
    let (_, from_cache) = runtime.load(&paths).unwrap();
    assert!(from_cache);
    // Modified seconds ago: a second write in the same timestamp tick would
    // not show, so the record must not vouch for it by its metadata.
    assert_eq!(record(&paths).lines().count(), 1, "{}", record(&paths));
}

#[test]
fn a_settled_wasm_is_stamped_and_then_trusted_without_rehashing() {
    let (_work, home, runtime) = installed();
    let paths = home.plugin(&"echo".parse().unwrap());
    age(&paths.wasm);
    runtime.load(&paths).unwrap();
    let stamped = record(&paths);
    assert!(
        stamped
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("stamp ")),
        "{stamped}"
    );
    // Spoil the digest in the record: a load that still uses the cache proves
    // the stamp spared it reading and hashing the wasm.
    let (key, stamp) = stamped.split_once('\n').unwrap();
    let (fingerprint, _) = key.split_once('-').unwrap();
    std::fs::write(&paths.compiled_key, format!("{fingerprint}-0000\n{stamp}")).unwrap();
    let (_, from_cache) = runtime.load(&paths).unwrap();
    assert!(from_cache, "the stamp was not used");
}

#[test]
fn an_edit_that_keeps_the_size_and_the_mtime_is_still_caught() {
    let (_work, home, runtime) = installed();
    let paths = home.plugin(&"echo".parse().unwrap());
    age(&paths.wasm);
    runtime.load(&paths).unwrap();
    assert_eq!(record(&paths).lines().count(), 2, "not stamped");
    // Rewrite the file in place (same inode, same size) and put its mtime
    // back: only the change time shows it was written.
    let mtime = std::fs::metadata(&paths.wasm).unwrap().modified().unwrap();
    let len = std::fs::metadata(&paths.wasm).unwrap().len();
    std::fs::write(&paths.wasm, vec![0u8; len as usize]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&paths.wasm)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let Err(err) = runtime.load(&paths) else {
        panic!("the stale cache was used");
    };
    assert!(format!("{err:#}").contains("does not compile"), "{err:#}");
}

#[test]
fn a_record_from_before_stamps_is_still_used() {
    let (_work, home, runtime) = installed();
    let paths = home.plugin(&"echo".parse().unwrap());
    // Older hosts wrote the key alone, without a newline.
    let key = record(&paths).trim().to_owned();
    std::fs::write(&paths.compiled_key, &key).unwrap();
    let (_, from_cache) = runtime.load(&paths).unwrap();
    assert!(from_cache);
}
