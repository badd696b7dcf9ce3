//! The CLI contract scripts rely on: exit codes, `--output json`, clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn rosey(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(args)
        .env("ROSEY_HOME", home)
        .env_remove("ROSEY_NATS_URL")
        .output()
        .unwrap()
}

#[test]
fn a_usage_error_exits_with_2() {
    let home = tempfile::tempdir().unwrap();
    let out = rosey(home.path(), &["plugin", "instal", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("install"),
        "clap suggests the fix"
    );
}

#[test]
fn a_failed_operation_exits_with_1_and_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let out = rosey(home.path(), &["plugin", "info", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rosey plugin list"), "{stderr}");
    let out = rosey(home.path(), &["plugin", "info", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn version_reports_json() {
    let home = tempfile::tempdir().unwrap();
    let out = rosey(home.path(), &["version", "--output", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plugin_api"][0], "0.1.0");
    assert_eq!(v["wasmtime"], rosey_host::runtime::WASMTIME_VERSION);
}

#[test]
fn status_and_list_work_on_an_empty_home() {
    let home = tempfile::tempdir().unwrap();
    let out = rosey(home.path(), &["status", "--output", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["running"], false);
    let out = rosey(home.path(), &["plugin", "list", "--output", "json"]);
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
}
