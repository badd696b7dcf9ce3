//! Plugins in Rust, Python and JavaScript, with the real `rosey` binary and
//! the real toolchains: `rosey plugin create` for each language, `rosey
//! plugin build` and `rosey plugin validate` of what it made; and the
//! Python example (example-plugins/roll) built from source, installed on a
//! background host against a real nats-server and talked to over NATS.
//!
//! The toolchains must be installed (scripts/setup.sh does it, and
//! scripts/env.sh puts componentize-py on PATH): a missing one fails the
//! test with rosey's own message saying what to install.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use rosey_tests::{BotCore, ManagedNats, StopOnDrop, rosey, rosey_ok, workspace_path};

fn text(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `rosey plugin create NAME --lang LANG`, `rosey plugin build`, `rosey
/// plugin validate` of the archive; returns the archive's path.
fn create_build_validate(work: &Path, lang: &str) -> std::path::PathBuf {
    let home = work.join("home");
    let name = format!("hello-{lang}");
    let project = work.join(&name);
    let started = Instant::now();
    let create = [
        "plugin",
        "create",
        &name,
        "--lang",
        lang,
        "--dir",
        project.to_str().unwrap(),
    ];
    let created = rosey_ok(&home, None, &create);
    assert!(created.contains("Next steps:"), "{created}");
    assert!(created.contains("rosey plugin build"), "{created}");
    for file in [
        "manifest.yaml",
        "README.md",
        "tests/hello.yaml",
        ".rosey/VERSION",
    ] {
        assert!(project.join(file).is_file(), "{lang}: no {file}");
    }
    let ignored = std::fs::read_to_string(project.join(".gitignore")).unwrap();
    assert!(ignored.contains("/.rosey/"), "{ignored}");
    let scenario = std::fs::read_to_string(project.join("tests/hello.yaml")).unwrap();
    assert!(scenario.contains("replies: [\"Hi, alice!\"]"), "{scenario}");

    // A second create into the same directory is refused and changes nothing.
    let again = rosey(&home, None, &create);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        text(&again)
    );

    let archive = work.join(format!("{name}.roseyplug"));
    let built = rosey_ok(
        &home,
        None,
        &[
            "plugin",
            "build",
            project.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&built).unwrap();
    eprintln!(
        "{lang}: create to built archive in {:.1} s, component {} bytes",
        started.elapsed().as_secs_f64(),
        report["wasm_bytes"]
    );
    assert_eq!(report["name"], name.as_str());
    assert!(archive.is_file());

    let validated = rosey(
        &home,
        None,
        &["plugin", "validate", archive.to_str().unwrap()],
    );
    // The template's own scenario (tests/hello.yaml) passes.
    let tested = rosey_ok(&home, None, &["plugin", "test", project.to_str().unwrap()]);
    assert!(tested.contains("1 passed, 0 failed"), "{lang}: {tested}");

    assert!(
        validated.status.success(),
        "{lang}: the host would refuse the template's plugin: {}",
        text(&validated)
    );
    archive
}

#[test]
fn a_rust_project_is_created_built_and_validated() {
    let work = tempfile::tempdir().unwrap();
    create_build_validate(work.path(), "rust");
    // The project builds against the SDK rosey wrote, not the checkout's.
    let cargo = std::fs::read_to_string(work.path().join("hello-rust/Cargo.toml")).unwrap();
    assert!(cargo.contains("path = \".rosey/rosey-sdk\""), "{cargo}");
    assert!(
        work.path()
            .join("hello-rust/.rosey/rosey-sdk/src/lib.rs")
            .is_file()
    );
}

#[test]
fn a_python_project_is_created_built_and_validated() {
    let work = tempfile::tempdir().unwrap();
    create_build_validate(work.path(), "python");
    // The build writes nothing beside the sources (`rosey dev` would take
    // bytecode caches for an edit).
    assert!(!work.path().join("hello-python/__pycache__").exists());
}

#[test]
fn a_javascript_project_is_created_built_and_validated() {
    let work = tempfile::tempdir().unwrap();
    create_build_validate(work.path(), "js");
    assert!(work.path().join("hello-js/node_modules").is_dir());
}

#[test]
fn bad_names_and_missing_toolchains_are_explained() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let bad = rosey(&home, None, &["plugin", "create", "Hello_World"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid plugin name"),
        "{}",
        text(&bad)
    );

    // No toolchain at all on PATH: create still writes the project, then
    // says exactly what to install; build says the same.
    for (lang, install) in [
        ("python", "pip install componentize-py==0.25.1"),
        ("js", "Node.js 18 or newer with npm"),
    ] {
        let project = work.path().join(lang);
        let run = |args: &[&str]| {
            std::process::Command::new(rosey_tests::rosey_bin())
                .args(args)
                .env("ROSEY_HOME", &home)
                .env("PATH", work.path().join("no-tools"))
                .output()
                .unwrap()
        };
        let created = run(&[
            "plugin",
            "create",
            "greeter",
            "--lang",
            lang,
            "--dir",
            project.to_str().unwrap(),
        ]);
        assert_eq!(created.status.code(), Some(1), "{}", text(&created));
        assert!(
            String::from_utf8_lossy(&created.stderr).contains(install),
            "{}",
            text(&created)
        );
        assert!(project.join("manifest.yaml").is_file());
        let built = run(&["plugin", "build", project.to_str().unwrap()]);
        assert_eq!(built.status.code(), Some(1), "{}", text(&built));
        assert!(
            String::from_utf8_lossy(&built.stderr).contains(install),
            "{}",
            text(&built)
        );
    }
}

/// Copy a project's files (not its hidden directories, such as `.rosey/`).
fn copy_project(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_project(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_example_rolls_dice_over_nats() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let archive = work.path().join("roll.roseyplug");
    // Built from a copy: a build writes .rosey/ into the project, and a
    // change under example-plugins/ reruns the tests' build script.
    let dir = work.path().join("roll");
    copy_project(&workspace_path("example-plugins/roll"), &dir);
    rosey_ok(
        &home,
        None,
        &[
            "plugin",
            "build",
            dir.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ],
    );
    let installed = rosey_ok(
        &home,
        None,
        &[
            "plugin",
            "install",
            archive.to_str().unwrap(),
            "--yes",
            "--output",
            "json",
        ],
    );
    let installed: serde_json::Value = serde_json::from_str(&installed).unwrap();
    eprintln!(
        "roll: installed (compiled) in {} ms, {} ms in all",
        installed["compile_ms"], installed["total_ms"]
    );

    // Its scenarios (tests/*.yaml) pass on the in-memory host.
    let tested = rosey_ok(&home, None, &["plugin", "test", dir.to_str().unwrap()]);
    assert!(tested.contains("2 passed, 0 failed"), "{tested}");

    rosey_ok(&home, Some(&url), &["start"]);
    let _stop = StopOnDrop(&home);
    let mut bot = BotCore::connect(&url).await;

    let reply = bot.ask("!roll stats").await;
    assert_eq!(reply.plugin, "roll");
    assert_eq!(reply.text, "alice has not rolled yet.");
    // One-sided dice: the reply is known.
    assert_eq!(
        bot.ask("!roll 3d1+2").await.text,
        "alice rolled 3d1+2: 1 + 1 + 1 + 2 = 5"
    );
    // Real dice: the parts add up and stay in range.
    let rolled = bot.ask("!roll 2d6+1").await.text;
    let sum = rolled
        .strip_prefix("alice rolled 2d6+1: ")
        .unwrap_or_else(|| panic!("{rolled}"));
    let (parts, total) = sum.split_once(" = ").unwrap();
    let parts: Vec<i64> = parts.split(" + ").map(|p| p.parse().unwrap()).collect();
    let total: i64 = total.parse().unwrap();
    assert_eq!(parts.len(), 3, "{rolled}");
    assert!(parts[..2].iter().all(|d| (1..=6).contains(d)), "{rolled}");
    assert_eq!(parts[2], 1);
    assert_eq!(parts.iter().sum::<i64>(), total);
    // The tally was kept in kv between calls.
    assert_eq!(
        bot.ask("!roll stats").await.text,
        format!("alice has rolled 2 times, {} in total.", 5 + total)
    );
    assert_eq!(
        bot.ask("!roll banana").await.text,
        "Usage: !roll [NdS[+M]] (e.g. !roll 2d6+1), or !roll stats"
    );
    assert_eq!(
        bot.ask("!roll 21d6").await.text,
        "You can roll 1 to 20 dice at once."
    );

    // The operator's configuration reaches the Python code on a live host.
    rosey_ok(
        &home,
        None,
        &["plugin", "config", "roll", "set", "max_dice=2"],
    );
    assert_eq!(
        bot.ask("!roll 3d6").await.text,
        "You can roll 1 to 2 dice at once."
    );

    let status: serde_json::Value =
        serde_json::from_str(&rosey_ok(&home, None, &["status", "--output", "json"])).unwrap();
    let roll = status["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "roll")
        .unwrap();
    assert_eq!(roll["state"], "running", "{roll}");
    assert_eq!(roll["stats"]["traps"], 0, "{roll}");
    drop(_stop);
    nats.stop().await;
}
