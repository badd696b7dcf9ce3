//! `rosey plugin test`: scenario files run against real components (the
//! hostile and fetcher fixtures, the example plugins) by the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use rosey_tests::{guest_wasm, rosey, workspace_path};

/// A project directory holding a prebuilt component (as a project in any
/// language does once built): `manifest.yaml` (edited by `edit`), its
/// assets, `plugin.wasm`, and `tests/<name>.yaml` for each scenario.
fn project(
    root: &Path,
    fixture: &str,
    edit: impl Fn(String) -> String,
    scenarios: &[(&str, &str)],
) -> PathBuf {
    let source = workspace_path(&format!("tests/guests/{fixture}"));
    let dir = root.join(fixture);
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    let manifest = std::fs::read_to_string(source.join("manifest.yaml")).unwrap();
    std::fs::write(dir.join("manifest.yaml"), edit(manifest)).unwrap();
    std::fs::copy(guest_wasm(fixture), dir.join("plugin.wasm")).unwrap();
    if source.join("assets").is_dir() {
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        for entry in std::fs::read_dir(source.join("assets")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join("assets").join(entry.file_name())).unwrap();
        }
    }
    for (name, text) in scenarios {
        std::fs::write(dir.join("tests").join(format!("{name}.yaml")), text).unwrap();
    }
    dir
}

fn run_test(dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let home = dir.join("unused-home");
    let mut args = vec!["plugin", "test", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = rosey(&home, None, &args);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const PASSING: &str = r#"
description: the runner sees replies, files, kv, bus traffic, errors and crashes
given:
  files: {note.txt: given}
  kv: {config-changed: before}
  replies:
    - subject: rosey.plugins.hostile.time
      body: noon
when:
  - chat: "!hostile ping"
    then: {replies: [pong]}
  - chat: "!hostile write"
    then:
      replies: [wrote]
      files: {hostile.txt: "hostile was here\n", note.txt: given, missing.txt: null}
  - chat: "!hostile config-changed"
    then: {replies: [before]}
  - chat: "!hostile trap"
    then:
      error: {contains: panicked}
      replies: [{matches: "^Error: plugin \"hostile\" crashed"}]
  - chat: "!hostile ping"
    then: {replies: [pong]}
  - chat: "!hostile publish rosey.plugins.hostile.news"
    then:
      replies: [published]
      published: [{subject: rosey.plugins.hostile.news, body: hostile}]
  - chat: "!hostile request rosey.plugins.hostile.time"
    then: {replies: ["reply: 4 bytes"]}
  - chat: "!hostile request rosey.plugins.hostile.nobody"
    then: {replies: [{contains: nothing is listening}]}
  - command: hostile
    args: [ping]
    then: {result: pong, replies: []}
then:
  kv: {config-changed: before, absent: null}
  sql: [{query: "SELECT count(*) FROM _rosey_kv", rows: [[1]]}]
"#;

const FAILING: &str = r#"
description: every kind of mismatch is reported
when:
  - chat: "!hostile ping"
    then: {replies: [nope]}
  - chat: "!hostile trap"
  - chat: "!hostile ping"
    then:
      files: {hostile.txt: "x"}
      kv: {k: v}
      logs: [{contains: "never logged"}]
  - tick: nightly
then:
  sql: [{query: "SELECT count(*) FROM _rosey_kv", rows: [[5]]}]
"#;

#[test]
fn failures_are_reported_one_by_one_and_fail_the_run() {
    let work = tempfile::tempdir().unwrap();
    let dir = project(
        work.path(),
        "hostile",
        |m| m,
        &[
            ("pass", PASSING),
            ("fail", FAILING),
            ("broken", "when:\n  - chat: [not, text]\n"),
        ],
    );
    let (ok, stdout, stderr) = run_test(&dir, &[]);
    assert!(
        !ok,
        "a failing scenario must fail the run:\n{stdout}\n{stderr}"
    );
    for expected in [
        "scenario pass ... ok",
        "scenario fail ... FAILED",
        "scenario broken ... FAILED",
        "step 1 (chat \"!hostile ping\"): replies: expected [\"nope\"], got [\"pong\"]",
        "step 2 (chat \"!hostile trap\"): the plugin failed: command `hostile`: trapped: the guest panicked",
        "step 3 (chat \"!hostile ping\"): files: hostile.txt does not exist",
        "step 3 (chat \"!hostile ping\"): kv: \"k\" is not set",
        "step 3 (chat \"!hostile ping\"): logs: no line (contains \"never logged\")",
        "step 4 (tick nightly): the manifest declares no schedule \"nightly\"",
        "at the end: sql \"SELECT count(*) FROM _rosey_kv\": expected [[5]], got [[0]]",
        "broken.yaml is not a valid scenario",
        "test result: FAILED. 1 passed, 2 failed",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(stderr.contains("2 scenario(s) failed"), "{stderr}");

    // The same as JSON, for CI.
    let (ok, stdout, _) = run_test(&dir, &["--output", "json"]);
    assert!(!ok);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["plugin"], "hostile");
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 2);
    let fail = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "fail")
        .unwrap();
    assert_eq!(fail["passed"], false);
    assert_eq!(fail["failures"].as_array().unwrap().len(), 7, "{fail}");

    // --filter runs only what it names.
    let (ok, stdout, _) = run_test(&dir, &["--filter", "pass"]);
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("test result: ok. 1 passed, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn http_answers_come_from_the_scenario_after_the_allowed_hosts_check() {
    let work = tempfile::tempdir().unwrap();
    let scenario = r#"
given:
  http:
    - url: "https://api.example.com/v1/*"
      json: {temperature: 21}
when:
  - chat: "!fetch https://api.example.com/v1/now?city=x"
    then: {replies: ['status 200: {"temperature":21}']}
  - chat: "!fetch https://api.example.com/other"
    then:
      replies: [{contains: "error"}]
      logs: [{contains: "no answer for GET https://api.example.com/other"}]
  - chat: "!fetch https://evil.example.com/v1/now"
    then:
      replies: [{contains: "HttpRequestDenied"}]
      logs: [{contains: "evil.example.com:443 is not in the manifest's network.allowed_hosts"}]
"#;
    let dir = project(
        work.path(),
        "fetcher",
        |m| m.replace("127.0.0.1:1", "api.example.com:443"),
        &[("http", scenario)],
    );
    let (ok, stdout, stderr) = run_test(&dir, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("test result: ok. 1 passed, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn a_project_without_scenarios_is_told_where_they_go() {
    let work = tempfile::tempdir().unwrap();
    let dir = project(work.path(), "hostile", |m| m, &[]);
    let (ok, _, stderr) = run_test(&dir, &[]);
    assert!(!ok);
    assert!(stderr.contains("no scenarios in"), "{stderr}");
    assert!(stderr.contains("docs/testing.md"), "{stderr}");
}

#[test]
fn the_example_plugins_pass_their_own_scenarios() {
    for example in ["echo", "quote-bot", "markov-chat", "weather-alerts"] {
        let dir = workspace_path(&format!("example-plugins/{example}"));
        let (ok, stdout, stderr) = run_test(&dir, &[]);
        assert!(ok, "{example}:\n{stdout}\n{stderr}");
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    }
}
