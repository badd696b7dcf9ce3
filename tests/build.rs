//! Builds every guest component the tests need (the example plugins and the
//! hostile fixtures) from source, for wasm32-wasip2, and tells the tests
//! where they are. Guests are never committed as binaries.
//!
//! The guests get their own target directory: this script runs while the
//! outer cargo holds the lock on the main one.

// A build script reports failure by panicking; that is its interface.
#![allow(clippy::expect_used, clippy::panic)]

use std::env;
use std::path::PathBuf;
use std::process::Command;

const GUESTS: &[&str] = &[
    "echo",
    "quote-bot",
    "markov-chat",
    "weather-alerts",
    "hostile",
    "fetcher",
];

fn main() {
    let here =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = here
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = env::var_os("ROSEY_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| out.join("guests"));

    for watched in [
        "wit",
        "sdk",
        "example-plugins",
        "tests/guests",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=ROSEY_GUEST_TARGET_DIR");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir);
    for guest in GUESTS {
        command.args(["-p", guest]);
    }
    // Components as `rosey plugin build` makes them: no DWARF (97% of an
    // unstripped component), same settings so its rebuild is a no-op.
    for (var, value) in rosey_build_profile() {
        command.env(var, value);
    }
    // Flags meant for the host build must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .expect("could not run cargo to build the guest components");
    if !status.success() {
        panic!(
            "building the guest components failed (see above). If the target is missing, run \
             `rustup target add wasm32-wasip2`."
        );
    }
    let release = target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=ROSEY_GUEST_DIR={}", release.display());
    println!(
        "cargo:rustc-env=ROSEY_GUEST_TARGET_DIR={}",
        target_dir.display()
    );
    println!("cargo:rustc-env=ROSEY_WORKSPACE_ROOT={}", root.display());
}

/// The profile overrides `rosey plugin build` uses (keep in step with
/// `cli/src/commands/plugin.rs`).
fn rosey_build_profile() -> [(&'static str, &'static str); 2] {
    [
        ("CARGO_PROFILE_RELEASE_DEBUG", "false"),
        ("CARGO_PROFILE_RELEASE_STRIP", "debuginfo"),
    ]
}
