//! The operator's data: `rosey db` migrations, backups and restores, with
//! real SQLite files, a real nats-server and the example plugins' real
//! components.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rosey_host::backup::{self, Step};
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_tests::{BotCore, ManagedNats, StopOnDrop, package_with, rosey, rosey_ok};
use sha2::{Digest, Sha256};

/// Write the example plugin `name` (built from source by the test build) as
/// a `.roseyplug` in `dir`.
fn archive(dir: &Path, name: &str) -> PathBuf {
    let package = package_with(&format!("example-plugins/{name}"), name, |m| m);
    let path = dir.join(format!("{name}.roseyplug"));
    std::fs::write(&path, package.write_archive().unwrap()).unwrap();
    path
}

fn install(home: &Path, url: Option<&str>, file: &Path) {
    rosey_ok(
        home,
        url,
        &["plugin", "install", file.to_str().unwrap(), "--yes"],
    );
}

/// Every quote, in order, read from the plugin's database file.
fn quotes(home: &Path) -> Vec<(i64, String, String, i64)> {
    let db = home.join("plugins/quote-bot/database.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT id, text, added_by, added_at FROM quotes ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Add quotes straight into the database of a plugin that is not running.
fn add_quotes_offline(home: &Path, texts: impl IntoIterator<Item = String>) {
    let conn = rusqlite::Connection::open(home.join("plugins/quote-bot/database.db")).unwrap();
    for text in texts {
        conn.execute(
            "INSERT INTO quotes (text, added_by, added_at) VALUES (?1, 'test', 1)",
            [text],
        )
        .unwrap();
    }
}

/// sha256 of every file under `dir` that holds data (not caches, locks or
/// logs), by relative path: what a refused restore must leave unchanged.
fn fingerprint(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("run") || rel.starts_with("logs") || rel.ends_with("-shm") {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(rel, hex_digest(&bytes));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The entries of a ZIP, by name.
fn unzip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().to_string(), data)
        })
        .collect()
}

/// Write `entries` as a ZIP at `path`.
fn rezip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in entries {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_remove_everything_restore_gives_identical_data_on_a_running_host() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    for name in ["echo", "quote-bot"] {
        install(&home, None, &archive(work.path(), name));
    }
    rosey_ok(&home, Some(&url), &["start"]);
    let _stop = StopOnDrop(&home);
    let mut bot = BotCore::connect(&url).await;
    for i in 0..25 {
        let reply = bot.ask(&format!("!quote add wisdom number {i}")).await;
        assert!(reply.text.starts_with("Added quote #"), "{}", reply.text);
    }
    // A file in a plugin's private directory is its data too.
    std::fs::write(home.join("plugins/echo/files/notes.txt"), "kept").unwrap();
    let before = quotes(&home);
    assert_eq!(before.len(), 25);
    // The example's own setting, applied live, comes back with the backup.
    rosey_ok(
        &home,
        Some(&url),
        &["plugin", "config", "quote-bot", "set", "search_results=2"],
    );
    let found = bot.ask("!quote search wisdom").await.text;
    assert_eq!(found.lines().count(), 2, "{found}");

    let file = work.path().join("home-backup.zip");
    let report: serde_json::Value = serde_json::from_str(&rosey_ok(
        &home,
        Some(&url),
        &["db", "backup", file.to_str().unwrap(), "--output", "json"],
    ))
    .unwrap();
    assert_eq!(
        report["plugins"],
        serde_json::json!(["echo 0.1.0", "quote-bot 0.1.0"])
    );
    // A backup never overwrites a file.
    let again = rosey(&home, None, &["db", "backup", file.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));

    for name in ["echo", "quote-bot"] {
        rosey_ok(&home, Some(&url), &["plugin", "remove", name, "--yes"]);
    }
    assert!(!home.join("plugins/quote-bot").exists());

    let restored = rosey_ok(
        &home,
        Some(&url),
        &["db", "restore", file.to_str().unwrap(), "--yes"],
    );
    assert!(restored.contains("Restored 2 plugin(s)"), "{restored}");
    assert!(restored.contains("quote-bot running"), "{restored}");
    assert_eq!(quotes(&home), before, "the restored rows differ");
    assert_eq!(
        std::fs::read_to_string(home.join("plugins/echo/files/notes.txt")).unwrap(),
        "kept"
    );
    // The running host serves the restored data through NATS.
    let reply = bot.ask("!quote 7").await;
    assert!(reply.text.contains("wisdom number 6"), "{}", reply.text);
    assert_eq!(bot.ask("!echo back again").await.text, "back again");
    let found = bot.ask("!quote search wisdom").await.text;
    assert_eq!(
        found.lines().count(),
        2,
        "the restored config.yaml: {found}"
    );
    let status: serde_json::Value = serde_json::from_str(&rosey_ok(
        &home,
        None,
        &["db", "status", "--output", "json"],
    ))
    .unwrap();
    assert_eq!(status[1]["migrations"][0]["label"], "001_create_quotes");
    assert!(status[1]["migrations"][0]["applied_at"].is_i64());
    assert!(!backup::staging_dir(&rosey_host::home::RoseyHome::new(&home)).exists());
}

#[test]
fn damaged_truncated_tampered_and_foreign_backups_change_nothing() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let quote_bot = archive(work.path(), "quote-bot");
    install(&home, None, &quote_bot);
    add_quotes_offline(
        &home,
        (0..200).map(|i| format!("quote {i} {}", "x".repeat(200))),
    );
    let good = work.path().join("good.zip");
    rosey_ok(&home, None, &["db", "backup", good.to_str().unwrap()]);
    // The home moves on after the backup: a refused restore must keep this.
    add_quotes_offline(&home, ["newer than the backup".to_string()]);
    let unchanged = fingerprint(&home);
    let bytes = std::fs::read(&good).unwrap();
    let entries = unzip(&good);

    let mut cases: Vec<(&str, PathBuf, &str)> = Vec::new();
    let mut case = |name: &'static str, expect: &'static str, write: &dyn Fn(&Path)| {
        let path = work.path().join(format!("{name}.zip"));
        write(&path);
        cases.push((name, path, expect));
    };
    case("truncated", "not a complete ZIP", &|p| {
        std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap()
    });
    case("empty", "not a complete ZIP", &|p| {
        std::fs::write(p, b"").unwrap()
    });
    case("foreign", "not a Rosey backup", &|p| {
        std::fs::copy(&quote_bot, p).unwrap();
    });
    case("corrupted", "damaged", &|p| {
        // Flip bytes inside the database's compressed data.
        let mut damaged = bytes.clone();
        let at = find(&damaged, b"plugins/quote-bot/database.db").unwrap() + 200;
        for b in &mut damaged[at..at + 16] {
            *b ^= 0x5a;
        }
        std::fs::write(p, damaged).unwrap();
    });
    case("tampered", "does not match its checksum", &|p| {
        // A well-formed ZIP whose database is not the one backup.json lists.
        let mut edited = entries.clone();
        let db = edited
            .iter_mut()
            .find(|(n, _)| n == "plugins/quote-bot/database.db")
            .unwrap();
        let at = find(&db.1, b"quote 17").unwrap();
        db.1[at + 6] = b'9';
        rezip(p, &edited);
    });
    case("smuggled", "unexpected entry", &|p| {
        let mut edited = entries.clone();
        let index = edited.iter_mut().find(|(n, _)| n == "backup.json").unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&index.1).unwrap();
        json["files"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "path": "plugins/quote-bot/../../host.db", "size": 1, "sha256": "00"
            }));
        index.1 = serde_json::to_vec(&json).unwrap();
        edited.push(("plugins/quote-bot/../../host.db".into(), vec![0]));
        rezip(p, &edited);
    });
    case("unlisted", "does not list", &|p| {
        let mut edited = entries.clone();
        edited.push(("plugins/quote-bot/files/extra".into(), b"surprise".to_vec()));
        rezip(p, &edited);
    });
    case("newer", "newer Rosey", &|p| {
        let mut edited = entries.clone();
        let index = edited.iter_mut().find(|(n, _)| n == "backup.json").unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&index.1).unwrap();
        json["format_version"] = 99.into();
        index.1 = serde_json::to_vec(&json).unwrap();
        rezip(p, &edited);
    });

    for (name, path, expect) in &cases {
        for args in [vec!["--check"], vec!["--yes"]] {
            let mut argv = vec!["db", "restore", path.to_str().unwrap()];
            argv.extend(args);
            let out = rosey(&home, None, &argv);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
            assert!(
                stderr.contains(expect),
                "{name}: expected {expect:?} in: {stderr}"
            );
            assert!(
                stderr.contains("nothing was changed") || stderr.contains("newer Rosey"),
                "{name}: the refusal must say nothing changed: {stderr}"
            );
            assert_eq!(fingerprint(&home), unchanged, "{name} changed the home");
            assert!(
                !home.join("run/restore").exists(),
                "{name} left staging behind"
            );
        }
    }
    // The good one still restores, and brings back exactly its rows.
    rosey_ok(
        &home,
        None,
        &["db", "restore", good.to_str().unwrap(), "--yes"],
    );
    let rows = quotes(&home);
    assert_eq!(rows.len(), 200);
    assert!(rows.iter().all(|r| r.1 != "newer than the backup"));
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_interrupted_halfway_is_finished_by_the_next_start() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home_dir = work.path().join("home");
    for name in ["echo", "quote-bot"] {
        install(&home_dir, None, &archive(work.path(), name));
    }
    add_quotes_offline(&home_dir, (1..=5).map(|i| format!("from the backup {i}")));
    std::fs::write(home_dir.join("plugins/echo/files/mark"), "backup").unwrap();
    let file = work.path().join("b.zip");
    rosey_ok(&home_dir, None, &["db", "backup", file.to_str().unwrap()]);
    add_quotes_offline(&home_dir, ["after the backup".to_string()]);
    std::fs::write(home_dir.join("plugins/echo/files/mark"), "after").unwrap();

    // A restore that stops as a crash would, right after swapping in its
    // first plugin (echo): the home is half old, half new.
    let home = rosey_host::home::RoseyHome::new(&home_dir);
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    backup::stage(&home, &runtime, &file, &mut |_, _, _| {}).unwrap();
    let finished = backup::apply(&home, &mut |step| !matches!(step, Step::Plugin(_))).unwrap();
    assert!(!finished);
    assert_eq!(
        std::fs::read_to_string(home_dir.join("plugins/echo/files/mark")).unwrap(),
        "backup"
    );
    assert_eq!(quotes(&home_dir).len(), 6, "quote-bot is not swapped yet");
    // doctor sees it and says what to run.
    let doctor = rosey(&home_dir, None, &["doctor", "--output", "json"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    assert!(report.contains("rosey db restore --recover"), "{report}");
    // The next restore finishes the unfinished one before anything else.
    let refused = rosey(
        &home_dir,
        None,
        &["db", "restore", file.to_str().unwrap(), "--check"],
    );
    assert!(
        String::from_utf8_lossy(&refused.stdout)
            .contains("finished a restore that was interrupted"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // That finished it (restore recovers first). Interrupt again to prove
    // the host does the same on start.
    assert_eq!(quotes(&home_dir).len(), 5);
    add_quotes_offline(&home_dir, ["after the backup".to_string()]);
    backup::stage(&home, &runtime, &file, &mut |_, _, _| {}).unwrap();
    assert!(!backup::apply(&home, &mut |step| *step != Step::Committed).unwrap());
    assert_eq!(quotes(&home_dir).len(), 6, "nothing is swapped yet");

    rosey_ok(&home_dir, Some(&url), &["start"]);
    let _stop = StopOnDrop(&home_dir);
    let mut bot = BotCore::connect(&url).await;
    let reply = bot.ask("!quote search after the backup").await;
    assert!(reply.text.contains("No quote matches"), "{}", reply.text);
    let reply = bot.ask("!quote 5").await;
    assert!(reply.text.contains("from the backup 5"), "{}", reply.text);
    assert!(!home_dir.join("run/restore").exists());
    let log = std::fs::read_to_string(home_dir.join("logs/host.log")).unwrap_or_default();
    assert!(
        log.contains("finished a restore that was interrupted"),
        "{log}"
    );

    // Interrupted before the commit point (while checking): nothing had
    // changed, and --recover clears it away.
    backup::stage(&home, &runtime, &file, &mut |_, _, _| {}).unwrap();
    rosey_ok(&home_dir, None, &["stop"]);
    let out = rosey_ok(&home_dir, None, &["db", "restore", "--recover"]);
    assert!(
        out.contains("interrupted while it was being checked"),
        "{out}"
    );
    assert!(!home_dir.join("run/restore").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_a_plugin_writes_is_consistent() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    install(&home, None, &archive(work.path(), "quote-bot"));
    rosey_ok(&home, Some(&url), &["start"]);
    let _stop = StopOnDrop(&home);

    // A writer adds quotes as fast as the plugin answers.
    let writer_url = url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_writer = std::sync::Arc::clone(&stop);
    let writer = tokio::spawn(async move {
        let mut bot = BotCore::connect(&writer_url).await;
        let mut n = 0;
        while !stop_writer.load(std::sync::atomic::Ordering::Relaxed) {
            n += 1;
            let reply = bot.ask(&format!("!quote add written {n}")).await;
            assert!(reply.text.starts_with("Added quote #"), "{}", reply.text);
        }
        n
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut counts = Vec::new();
    let mut files = Vec::new();
    for i in 0..3 {
        let file = work.path().join(format!("during-{i}.zip"));
        let home = home.clone();
        let path = file.clone();
        tokio::task::spawn_blocking(move || {
            rosey_ok(&home, None, &["db", "backup", path.to_str().unwrap()])
        })
        .await
        .unwrap();
        // Each backup's database is whole and holds a gap-free prefix.
        let db = unzip(&file)
            .into_iter()
            .find(|(n, _)| n == "plugins/quote-bot/database.db")
            .unwrap()
            .1;
        let copy = work.path().join(format!("during-{i}.db"));
        std::fs::write(&copy, db).unwrap();
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let (count, max, texts_match): (i64, i64, i64) = conn
            .query_row(
                "SELECT count(*), coalesce(max(id), 0),
                        sum(text = 'written ' || id) FROM quotes",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                    ))
                },
            )
            .unwrap();
        assert_eq!(count, max, "backup {i} has a gap");
        assert_eq!(texts_match, count, "backup {i} has a torn row");
        counts.push(count);
        files.push(file);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(
        counts[2] > 0 && (counts[2] as usize) <= written,
        "{counts:?} of {written}"
    );

    // Restoring the middle one on the running host brings back exactly it.
    rosey_ok(
        &home,
        Some(&url),
        &["db", "restore", files[1].to_str().unwrap(), "--yes"],
    );
    let rows = quotes(&home);
    assert_eq!(rows.len() as i64, counts[1]);
    let mut bot = BotCore::connect(&url).await;
    let reply = bot.ask("!quote add after the restore").await;
    assert_eq!(reply.text, format!("Added quote #{}.", counts[1] + 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_and_migrate_on_a_running_host() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    install(&home, None, &archive(work.path(), "quote-bot"));
    install(&home, None, &archive(work.path(), "echo"));
    rosey_ok(&home, Some(&url), &["start"]);
    let _stop = StopOnDrop(&home);
    let mut bot = BotCore::connect(&url).await;
    bot.ask("!quote add before the rollback").await;

    // Without a terminal or --yes, nothing is rolled back.
    let refused = rosey(&home, Some(&url), &["db", "rollback", "quote-bot"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(quotes(&home).len(), 1);

    let out = rosey_ok(&home, Some(&url), &["db", "rollback", "quote-bot", "--yes"]);
    assert!(
        out.contains("001_create_quotes") && out.contains("disabled"),
        "{out}"
    );
    let conn = rusqlite::Connection::open(home.join("plugins/quote-bot/database.db")).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'quotes'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the down migration ran");
    let status: serde_json::Value =
        serde_json::from_str(&rosey_ok(&home, None, &["status", "--output", "json"])).unwrap();
    let plugin = status["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "quote-bot")
        .unwrap();
    assert_eq!(plugin["state"], "disabled");
    let pending: serde_json::Value = serde_json::from_str(&rosey_ok(
        &home,
        None,
        &["db", "status", "quote-bot", "--output", "json"],
    ))
    .unwrap();
    assert!(pending[0]["migrations"][0]["applied_at"].is_null());

    // echo has no migrations to roll back.
    let none = rosey(&home, Some(&url), &["db", "rollback", "echo", "--yes"]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("0 applied"));

    let out = rosey_ok(&home, Some(&url), &["db", "migrate"]);
    assert!(out.contains("Applied 1 migration(s) to quote-bot"), "{out}");
    assert!(out.contains("echo has no pending migrations"), "{out}");
    rosey_ok(&home, Some(&url), &["plugin", "enable", "quote-bot"]);
    let reply = bot.ask("!quote add after").await;
    assert_eq!(reply.text, "Added quote #1.");
    assert_eq!(bot.ask("!echo still here").await.text, "still here");
}

/// The hostile fixture with a config schema: a secret, a bounded number and
/// no unknown keys.
fn configurable(dir: &Path) -> PathBuf {
    let package = package_with("tests/guests/hostile", "hostile", |m| {
        m + "config_schema:
  type: object
  additionalProperties: false
  properties:
    greeting: { type: string, default: hello, maxLength: 30 }
    times: { type: integer, minimum: 1, default: 1 }
    api_key: { type: string, secret: true, minLength: 8 }
    trap_in_init: { type: boolean, default: false }
"
    });
    let path = dir.join("hostile.roseyplug");
    std::fs::write(&path, package.write_archive().unwrap()).unwrap();
    path
}

fn rosey_with_editor(home: &Path, script: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(rosey_tests::rosey_bin())
        .args(args)
        .env("ROSEY_HOME", home)
        .env_remove("VISUAL")
        .env("EDITOR", script)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn editor_script(dir: &Path, name: &str, content: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\ncat > \"$1\" <<'YAML'\n{content}YAML\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn config_changes_reach_a_running_plugin_and_bad_ones_never_do() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let config_file = home.join("plugins/hostile/config.yaml");
    install(&home, None, &configurable(work.path()));
    // Offline: saved to the file, read at start.
    rosey_ok(
        &home,
        None,
        &["plugin", "config", "hostile", "set", "greeting=offline"],
    );
    rosey_ok(&home, Some(&url), &["start"]);
    let _stop = StopOnDrop(&home);
    let mut bot = BotCore::connect(&url).await;
    assert_eq!(
        bot.ask("!hostile config greeting").await.text,
        "\"offline\""
    );
    assert_eq!(
        bot.ask("!hostile config times").await.text,
        "1",
        "the default"
    );

    let out = rosey_ok(
        &home,
        Some(&url),
        &[
            "plugin",
            "config",
            "hostile",
            "set",
            "greeting=hi",
            "times=3",
        ],
    );
    assert!(out.contains("changed: greeting, times"), "{out}");
    assert_eq!(bot.ask("!hostile config greeting").await.text, "\"hi\"");
    assert_eq!(
        bot.ask("!hostile config times").await.text,
        "3",
        "typed as a number"
    );
    assert_eq!(
        bot.ask("!hostile config-changed").await.text,
        "greeting,times"
    );

    // Invalid values never reach the file or the plugin.
    let before = std::fs::read_to_string(&config_file).unwrap();
    for (args, expect) in [
        (vec!["set", "times=0"], "times"),
        (vec!["set", "times=many"], "times"),
        (vec!["set", "nope=1"], "nope"),
        (vec!["set", "greeting"], "KEY=VALUE"),
    ] {
        let mut argv = vec!["plugin", "config", "hostile"];
        argv.extend(args.iter().copied());
        let out = rosey(&home, Some(&url), &argv);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert_eq!(std::fs::read_to_string(&config_file).unwrap(), before);
    }
    assert_eq!(bot.ask("!hostile config times").await.text, "3");

    // The plugin may refuse a valid value: the file is put back.
    let refused = rosey(
        &home,
        Some(&url),
        &["plugin", "config", "hostile", "set", "greeting=refuse me"],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the plugin refused it"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&config_file).unwrap(), before);
    assert_eq!(bot.ask("!hostile config greeting").await.text, "\"hi\"");

    // Secrets: never in errors, `show`, or the logs; `get` gives them.
    let short = rosey(
        &home,
        Some(&url),
        &["plugin", "config", "hostile", "set", "api_key=short"],
    );
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert_eq!(short.status.code(), Some(1));
    assert!(
        stderr.contains("api_key") && !stderr.contains("short\""),
        "{stderr}"
    );
    rosey_ok(
        &home,
        Some(&url),
        &["plugin", "config", "hostile", "set", "api_key=s3cret-value"],
    );
    let shown = rosey_ok(&home, None, &["plugin", "config", "hostile"]);
    assert!(
        shown.contains("<secret>") && !shown.contains("s3cret-value"),
        "{shown}"
    );
    let json = rosey_ok(
        &home,
        None,
        &["plugin", "config", "hostile", "--output", "json"],
    );
    assert!(!json.contains("s3cret-value"), "{json}");
    let got = rosey_ok(
        &home,
        None,
        &["plugin", "config", "hostile", "get", "api_key"],
    );
    assert_eq!(got.trim(), "\"s3cret-value\"");
    assert_eq!(
        bot.ask("!hostile config api_key").await.text,
        "\"s3cret-value\""
    );

    // edit: an invalid draft is discarded (no terminal to ask again), a
    // valid one is applied.
    let before = std::fs::read_to_string(&config_file).unwrap();
    let bad = editor_script(work.path(), "bad-editor", "greeting: [not, a, string]\n");
    let out = rosey_with_editor(&home, &bad, &["plugin", "config", "hostile", "edit"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("greeting") && stderr.contains("not changed"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&config_file).unwrap(), before);
    let good = editor_script(
        work.path(),
        "good-editor",
        "# edited by hand\ngreeting: edited\napi_key: s3cret-value\n",
    );
    let out = rosey_with_editor(&home, &good, &["plugin", "config", "hostile", "edit"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bot.ask("!hostile config greeting").await.text, "\"edited\"");
    assert_eq!(
        bot.ask("!hostile config times").await.text,
        "1",
        "back to the default"
    );
    assert!(
        std::fs::read_to_string(&config_file)
            .unwrap()
            .starts_with("# edited by hand")
    );

    rosey_ok(&home, None, &["stop"]);
    for log in ["logs/host.log", "logs/plugins/hostile.log"] {
        let text = std::fs::read_to_string(home.join(log)).unwrap_or_default();
        let leaks: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("s3cret-value"))
            .collect();
        assert!(leaks.is_empty(), "{log} has the secret: {leaks:?}");
    }
}
