//! Running plugin code: the engine, limits, stores and the compile cache.

pub mod bindings;
pub mod compile_cache;
pub mod engine;
pub mod limits;
pub mod loader;
pub mod state;
pub mod stats;

pub use engine::RoseyEngine;
pub use loader::{Instance, Runtime};

/// The wasmtime version this host is built on (checked against Cargo.lock
/// by a test, so it cannot drift).
pub const WASMTIME_VERSION: &str = "48.0.8";

#[cfg(test)]
mod tests {
    #[test]
    fn wasmtime_version_matches_the_lock_file() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        let needle = format!(
            "name = \"wasmtime\"\nversion = \"{}\"",
            super::WASMTIME_VERSION
        );
        assert!(
            lock.contains(&needle),
            "update WASMTIME_VERSION to match Cargo.lock"
        );
    }
}
