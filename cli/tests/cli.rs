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

/// The `check` row of `rosey doctor --output json` on `home`.
fn doctor_check(home: &std::path::Path, check: &str) -> serde_json::Value {
    let out = rosey(home, &["doctor", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("doctor has no {check} check: {report}"))
        .clone()
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
    let check = doctor_check(home.path(), "home");
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

/// `rosey` with extra environment variables.
fn rosey_env(home: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rosey"));
    command
        .args(args)
        .env("ROSEY_HOME", home)
        .env_remove("ROSEY_NATS_URL")
        .env_remove("ROSEY_QUARANTINE_AFTER")
        .env_remove("ROSEY_CRASH_WINDOW")
        .env_remove("ROSEY_LOG")
        .env_remove("VISUAL")
        .stdin(std::process::Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

#[test]
fn config_show_layers_file_env_and_flag_and_says_where_each_came_from() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("rosey.yaml"),
        "nats_url: nats://127.0.0.1:4001\n\
         command_prefix: \"?\"\n\
         supervision:\n  quarantine_after: 3\n  crash_window: 5m\n",
    )
    .unwrap();
    let file = home.path().join("rosey.yaml");
    let out = rosey_env(
        home.path(),
        &[
            ("ROSEY_QUARANTINE_AFTER", "4"),
            ("ROSEY_NATS_URL", "nats://127.0.0.1:4002"),
        ],
        &[
            "config",
            "show",
            "--nats-url",
            "nats://127.0.0.1:4003",
            "--output",
            "json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let setting = |key: &str| {
        report["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap()
            .clone()
    };
    // flag > env > file
    assert_eq!(setting("nats_url")["value"], "nats://127.0.0.1:4003");
    assert_eq!(setting("nats_url")["source"], "flag");
    assert_eq!(setting("nats_url")["origin"], "--nats-url");
    // env > file
    assert_eq!(setting("supervision.quarantine_after")["value"], 4);
    assert_eq!(setting("supervision.quarantine_after")["source"], "env");
    assert_eq!(
        setting("supervision.quarantine_after")["origin"],
        "ROSEY_QUARANTINE_AFTER"
    );
    // file > default, with the line
    assert_eq!(setting("supervision.crash_window")["value"], "5m");
    assert_eq!(setting("supervision.crash_window")["source"], "file");
    assert_eq!(
        setting("supervision.crash_window")["origin"],
        format!("{}:5", file.display())
    );
    assert_eq!(setting("command_prefix")["value"], "?");
    // default
    assert_eq!(setting("supervision.restart_backoff")["value"], "100ms");
    assert_eq!(setting("supervision.restart_backoff")["source"], "default");

    // The table says the same.
    let out = rosey_env(
        home.path(),
        &[("ROSEY_QUARANTINE_AFTER", "4")],
        &["config", "show"],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap()
            .to_owned()
    };
    assert!(
        line("nats_url").contains(&format!("file ({}:1)", file.display())),
        "{text}"
    );
    assert!(
        line("supervision.quarantine_after").ends_with("env (ROSEY_QUARANTINE_AFTER)"),
        "{text}"
    );
    assert!(line("log").ends_with("default"), "{text}");
}

#[test]
fn config_validate_gives_line_and_column_and_exits_1() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("rosey.yaml");
    // No file: the defaults, which are valid.
    let out = rosey(home.path(), &["config", "validate"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");

    std::fs::write(&file, "log: info\nsupervision:\n  quarantine_after: 0\n").unwrap();
    let out = rosey(home.path(), &["config", "validate"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}:3:21: ", file.display())) && stdout.contains("at least 1"),
        "{stdout}"
    );
    let out = rosey(home.path(), &["config", "validate", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][0]["column"], 21);

    // Another file, with an unknown key: named, with the valid ones.
    let other = home.path().join("other.yaml");
    std::fs::write(&other, "supervision:\n  crash_windw: 5m\n").unwrap();
    let out = rosey(
        home.path(),
        &["config", "validate", other.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            ":2:3: unknown key \"crash_windw\" in supervision (did you mean \"crash_window\"?); \
             valid keys: "
        ),
        "{stdout}"
    );
    std::fs::write(&other, "supervision:\n  crash_window: 5m\n").unwrap();
    let out = rosey(
        home.path(),
        &["config", "validate", other.to_str().unwrap()],
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
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
    let check = doctor_check(home.path(), "config");
    assert_eq!(check["verdict"], "error", "{check}");
    assert!(
        check["fix"].as_str().unwrap().contains("rosey config edit"),
        "{check}"
    );
}

#[test]
fn config_path_names_the_file_in_the_home() {
    let home = tempfile::tempdir().unwrap();
    let out = rosey(home.path(), &["config", "path"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim_end(),
        home.path().join("rosey.yaml").to_str().unwrap()
    );
}

/// An "editor": a shell script that writes `content` over the file it is
/// given.
fn editor(dir: &std::path::Path, content: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("editor-{}.sh", content.len()));
    std::fs::write(
        &path,
        format!("#!/bin/sh\ncat > \"$1\" <<'EOF'\n{content}EOF\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn config_edit_saves_a_valid_file_and_never_an_invalid_one() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let file = home.join("rosey.yaml");

    // Invalid, no terminal: exit 1, nothing written, no draft left.
    let bad = editor(work.path(), "supervision:\n  quarantine_after: 0\n");
    let out = rosey_env(
        &home,
        &[("EDITOR", bad.to_str().unwrap())],
        &["config", "edit"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2, column 21"), "{stderr}");
    assert!(stderr.contains("was not changed"), "{stderr}");
    assert!(!file.exists());

    // Valid: saved, owner-only.
    let good = editor(work.path(), "metrics: 127.0.0.1:9464\n");
    let out = rosey_env(
        &home,
        &[("EDITOR", good.to_str().unwrap())],
        &["config", "edit"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Saved"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "metrics: 127.0.0.1:9464\n"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Invalid over an existing file: the file is unchanged.
    let out = rosey_env(
        &home,
        &[("EDITOR", bad.to_str().unwrap())],
        &["config", "edit"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "metrics: 127.0.0.1:9464\n"
    );

    // Valid again: replaced; the draft is gone.
    let other = editor(work.path(), "supervision:\n  crash_window: 5m\n");
    let out = rosey_env(
        &home,
        &[("EDITOR", other.to_str().unwrap())],
        &["config", "edit"],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "supervision:\n  crash_window: 5m\n"
    );
    let names: Vec<String> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".rosey.yaml")),
        "{names:?}"
    );
}

#[test]
fn config_edit_starts_new_files_from_the_template() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    // An editor that keeps a copy of what it was shown.
    let seen = work.path().join("seen.yaml");
    let script = work.path().join("look.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncp \"$1\" {}\n", seen.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = rosey_env(
        &home,
        &[("EDITOR", script.to_str().unwrap())],
        &["config", "edit"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes"));
    assert!(!home.join("rosey.yaml").exists());
    let template = std::fs::read_to_string(&seen).unwrap();
    for key in [
        "#nats_url:",
        "#command_prefix:",
        "#quarantine_after: 5",
        "#crash_window: 60s",
    ] {
        assert!(template.contains(key), "{key}: {template}");
    }
}
