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

#[test]
fn logs_since_reads_rotated_files_and_skips_old_lines() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("logs/plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let stamp = |secs_ago: i64| {
        (chrono::Utc::now() - chrono::Duration::seconds(secs_ago))
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    std::fs::write(
        dir.join("echo.log.1"),
        format!(
            "{}  INFO two hours ago\n{}  INFO five minutes ago\n",
            stamp(7200),
            stamp(300)
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("echo.log"),
        format!("{}  WARN just now\n", stamp(1)),
    )
    .unwrap();

    let out = rosey(home.path(), &["logs", "echo", "--since", "10m"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("two hours ago"), "{text}");
    assert!(
        text.contains("five minutes ago") && text.contains("just now"),
        "{text}"
    );
    // Without --since: the live file's tail only.
    let out = rosey(home.path(), &["logs", "echo"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    // A plugin that never ran has no log, and the error says so.
    let out = rosey(home.path(), &["logs", "quote-bot"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("once it has run"));
}

#[test]
fn supervision_settings_are_checked_before_anything_starts() {
    let home = tempfile::tempdir().unwrap();
    let out = rosey(home.path(), &["start", "--quarantine-after", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = rosey(home.path(), &["start", "--crash-window", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!home.path().join("run/host.pid").exists());
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("logs/plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let line = "2026-11-22T05:00:00.000Z  INFO a line long enough to fill a pipe quickly\n";
    std::fs::write(dir.join("echo.log"), line.repeat(100_000)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["logs", "echo", "-n", "100000"])
        .env("ROSEY_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then hang up, as `| head -1` does.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(first, line);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn doctor_says_what_is_wrong_and_how_to_fix_it() {
    let home = tempfile::tempdir().unwrap();
    // An external NATS that is not there is an error, with its fix.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["doctor", "--output", "json"])
        .env("ROSEY_HOME", home.path())
        .env("ROSEY_NATS_URL", format!("nats://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nats = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "nats")
        .unwrap();
    assert_eq!(nats["verdict"], "error");
    assert!(
        nats["fix"].as_str().unwrap().contains("ROSEY_NATS_URL"),
        "{nats}"
    );

    // A home other users can read is a warning, with the chmod that fixes it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = rosey(home.path(), &["doctor", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "home")
        .unwrap();
    assert_eq!(check["verdict"], "warning", "{check}");
    assert!(
        check["fix"].as_str().unwrap().starts_with("chmod 700 "),
        "{check}"
    );
}

#[test]
fn clean_keeps_data_unless_told_and_all_asks_first() {
    let home = tempfile::tempdir().unwrap();
    let root = home.path();
    let plugin = root.join("plugins/echo");
    std::fs::create_dir_all(plugin.join("files")).unwrap();
    std::fs::create_dir_all(root.join("plugins/.staging/echo-1-2")).unwrap();
    std::fs::create_dir_all(root.join("logs/plugins")).unwrap();
    for (path, bytes) in [
        ("plugins/echo/compiled.cwasm", 1000),
        ("plugins/echo/compiled.key", 10),
        ("plugins/echo/database.db", 500),
        ("plugins/echo/files/notes.txt", 50),
        ("plugins/.staging/echo-1-2/x", 5),
        ("logs/host.log", 300),
        ("logs/plugins/echo.log", 200),
        ("logs/plugins/echo.log.1", 200),
    ] {
        std::fs::write(root.join(path), vec![b'x'; bytes]).unwrap();
    }
    let out = rosey(root, &["clean", "--output", "json"]);
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["freed_bytes"], 1000 + 10 + 5 + 300 + 200 + 200);
    assert!(!plugin.join("compiled.cwasm").exists());
    assert!(!root.join("plugins/.staging").exists());
    assert!(!root.join("logs/plugins/echo.log.1").exists());
    assert_eq!(
        std::fs::metadata(root.join("logs/host.log")).unwrap().len(),
        0
    );
    // The plugin's data is untouched.
    assert!(plugin.join("database.db").exists() && plugin.join("files/notes.txt").exists());

    // --all asks; without a terminal it needs --yes, and deletes nothing.
    let out = rosey(root, &["clean", "--all"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(plugin.join("database.db").exists());
    let out = rosey(root, &["clean", "--all", "--yes"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!plugin.exists());
}

#[test]
fn a_broken_config_stops_start_and_restart_with_its_line() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("rosey.yaml"), "metrics: [1\n").unwrap();
    for args in [
        &["start"][..],
        &["restart", "host"],
        &["start", "--foreground"],
    ] {
        let out = rosey(home.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("rosey.yaml:1:10: ") && stderr.contains("rosey config edit"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!home.path().join("run/host.pid").exists());
    assert!(!home.path().join("run/nats.pid").exists());
    // doctor reports it as an error, with the fix.
    let out = rosey(home.path(), &["doctor", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "config")
        .unwrap()
        .clone();
    assert_eq!(check["verdict"], "error", "{check}");
    assert!(
        check["fix"].as_str().unwrap().contains("rosey config edit"),
        "{check}"
    );
}
