//! Changing plugins on a running host: install, update (with rollback and
//! approval), remove, enable and disable, with no restart and no lost
//! message; the control channel that carries it; plugin-to-plugin events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rosey_host::control::client::ControlClient;
use rosey_host::control::{Reply, Request};
use rosey_host::home::RoseyHome;
use rosey_host::package::{Migration, Package};
use rosey_host::protocol::{self, ChatMessage, SendMessage};
use rosey_host::registry::Registry;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::supervisor::status::Lifecycle;
use rosey_host::supervisor::{Host, HostConfig};
use rosey_tests::{BotCore, ManagedNats, StopOnDrop, package_with, rosey, rosey_ok};
use tokio::sync::Semaphore;

/// Write `package` as a `.roseyplug` into `dir`.
fn archive(dir: &Path, package: &Package) -> PathBuf {
    let path = dir.join(format!(
        "{}-{}.roseyplug",
        package.manifest.name, package.manifest.version
    ));
    std::fs::write(&path, package.write_archive().unwrap()).unwrap();
    path
}

fn echo(version: &str) -> Package {
    package_with("example-plugins/echo", "echo", |y| {
        y.replace("version: 0.1.0", &format!("version: {version}"))
    })
}

fn hostile(version: &str, extra: &str) -> Package {
    package_with("tests/guests/hostile", "hostile", |y| {
        y.replace("version: 0.1.0", &format!("version: {version}")) + extra
    })
}

struct Setup {
    work: tempfile::TempDir,
    home: RoseyHome,
    nats: ManagedNats,
}

async fn setup(installed: &[&Package]) -> Setup {
    let nats = ManagedNats::start(None).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    for package in installed {
        rosey_host::install::install(&home, &runtime, package, None).unwrap();
    }
    Setup { work, home, nats }
}

async fn start(setup: &Setup) -> Host {
    let mut config = HostConfig::new(setup.home.clone(), setup.nats.url());
    config.control = false;
    Host::start(config).await.unwrap()
}

fn version_in_registry(home: &RoseyHome, name: &str) -> String {
    Registry::open(&home.host_db())
        .unwrap()
        .get(&name.parse().unwrap())
        .unwrap()
        .unwrap()
        .version
        .to_string()
}

/// Nothing an update leaves behind while it runs.
fn assert_no_update_leftovers(home: &RoseyHome, name: &str) {
    let paths = home.plugin(&name.parse().unwrap());
    for leftover in [
        &paths.package_next,
        &paths.package_prev,
        &paths.update_snapshot,
    ] {
        assert!(!leftover.exists(), "{} was left behind", leftover.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_during_a_message_stream_loses_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// Messages before the update starts, and after it has finished.
    const AROUND: usize = 1_000;
    let setup = setup(&[&echo("0.1.0")]).await;
    let host = start(&setup).await;
    let next = archive(setup.work.path(), &echo("0.2.0"));

    let client = async_nats::connect(setup.nats.url()).await.unwrap();
    let mut replies = client.subscribe(protocol::SEND_MESSAGE).await.unwrap();
    client.flush().await.unwrap();
    // The stream runs, 100 in flight, until AROUND messages after the
    // update has finished.
    let window = Arc::new(Semaphore::new(100));
    let sent = Arc::new(AtomicUsize::new(0));
    let stop_at = Arc::new(AtomicUsize::new(usize::MAX));
    let sender = {
        let (client, window) = (client.clone(), Arc::clone(&window));
        let (sent, stop_at) = (Arc::clone(&sent), Arc::clone(&stop_at));
        tokio::spawn(async move {
            let mut i = 0;
            while i < stop_at.load(Ordering::SeqCst) {
                window.acquire().await.unwrap().forget();
                let message = ChatMessage {
                    id: Some(format!("m-{i}")),
                    channel: "lobby".into(),
                    user: "alice".into(),
                    text: format!("!echo {i}"),
                    timestamp: None,
                };
                let payload = serde_json::to_vec(&message).unwrap();
                client
                    .publish(protocol::CHAT_MESSAGE, payload.into())
                    .await
                    .unwrap();
                i += 1;
                sent.store(i, Ordering::SeqCst);
            }
            client.flush().await.unwrap();
        })
    };

    let mut answered = HashSet::new();
    let mut update = None;
    let mut during_update = 0;
    loop {
        if sender.is_finished() && answered.len() == sent.load(Ordering::SeqCst) {
            break;
        }
        let reply = tokio::time::timeout(Duration::from_secs(20), replies.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} replies", answered.len()))
            .unwrap();
        let reply: SendMessage = serde_json::from_slice(&reply.payload).unwrap();
        assert!(
            answered.insert(reply.text.clone()),
            "answered twice: {}",
            reply.text
        );
        window.add_permits(1);
        if answered.len() == AROUND {
            // From another task: the stream goes on meanwhile.
            let control = host.control();
            let next = next.clone();
            let (sent, stop_at) = (Arc::clone(&sent), Arc::clone(&stop_at));
            update = Some(tokio::spawn(async move {
                let outcome = control.update(&next, Default::default(), false).await;
                stop_at.store(sent.load(Ordering::SeqCst) + AROUND, Ordering::SeqCst);
                outcome
            }));
        }
        if update.as_ref().is_some_and(|u| !u.is_finished()) {
            during_update += 1;
        }
    }
    let outcome = update.unwrap().await.unwrap().unwrap();
    assert_eq!(outcome.version.as_deref(), Some("0.2.0"), "{outcome:?}");
    assert!(!outcome.pending);
    let total = sent.load(Ordering::SeqCst);
    assert!(total >= 2 * AROUND, "only {total} messages were sent");
    assert!(during_update > 0, "no reply arrived while the update ran");
    for i in 0..total {
        assert!(answered.contains(&i.to_string()), "message {i} was lost");
    }
    eprintln!("{total} messages, {during_update} answered while the update ran, none lost");
    assert_eq!(version_in_registry(&setup.home, "echo"), "0.2.0");
    let status = host.status();
    let echo = status.plugins.iter().find(|p| p.name == "echo").unwrap();
    assert_eq!(echo.version, "0.2.0");
    assert_eq!(echo.state, Lifecycle::Running);
    assert_eq!(echo.stats.dropped, 0, "the mailbox dropped events");
    // The counters span both versions.
    assert_eq!(echo.stats.commands, total as u64);
    assert_no_update_leftovers(&setup.home, "echo");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_update_rolls_back_and_the_old_version_keeps_serving() {
    let setup = setup(&[&hostile("0.1.0", "")]).await;
    let host = start(&setup).await;
    let mut bot = BotCore::connect(&setup.nats.url()).await;
    assert_eq!(bot.ask("!hostile ping").await.text, "pong");
    let paths = setup.home.plugin(&"hostile".parse().unwrap());
    let manifest_before = std::fs::read_to_string(paths.package.join("manifest.yaml")).unwrap();

    // 1. The new version's migration applies, then its init fails: the
    //    migration is undone with the rest.
    let mut init_fails = hostile(
        "0.2.0",
        "config_schema:\n  properties:\n    trap_in_init: { type: boolean, default: true }\n",
    );
    init_fails.migrations.push(Migration {
        version: 1,
        name: "add_notes".into(),
        up: "CREATE TABLE notes (text TEXT)".into(),
        down: None,
    });
    let path = archive(setup.work.path(), &init_fails);
    let error = host
        .control()
        .update(&path, Default::default(), false)
        .await
        .unwrap_err();
    let error = format!("{error:#}");
    assert!(
        error.contains("rolled back") && error.contains("init crashed"),
        "{error}"
    );
    assert!(error.contains("hostile 0.1.0 keeps serving"), "{error}");

    // 2. The new version's second migration fails: the first is undone.
    let mut migration_fails = hostile("0.3.0", "");
    migration_fails.migrations.push(Migration {
        version: 1,
        name: "add_notes".into(),
        up: "CREATE TABLE notes (text TEXT)".into(),
        down: None,
    });
    migration_fails.migrations.push(Migration {
        version: 2,
        name: "broken".into(),
        up: "CREATE TABLE notes (text TEXT)".into(),
        down: None,
    });
    let path = archive(setup.work.path(), &migration_fails);
    let error = format!(
        "{:#}",
        host.control()
            .update(&path, Default::default(), false)
            .await
            .unwrap_err()
    );
    assert!(error.contains("migration 002_broken failed"), "{error}");

    // The old version answers, on the old files and the old schema.
    assert_eq!(bot.ask("!hostile ping").await.text, "pong");
    assert_eq!(version_in_registry(&setup.home, "hostile"), "0.1.0");
    assert_eq!(
        std::fs::read_to_string(paths.package.join("manifest.yaml")).unwrap(),
        manifest_before
    );
    let db = rusqlite::Connection::open(&paths.database).unwrap();
    let notes: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'notes'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(notes, 0, "a rolled-back migration left its table");
    let applied: i64 = db
        .query_row("SELECT count(*) FROM _rosey_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(applied, 0);
    assert_no_update_leftovers(&setup.home, "hostile");
    let status = host.status();
    let hostile = status.plugins.iter().find(|p| p.name == "hostile").unwrap();
    assert_eq!(
        (hostile.version.as_str(), hostile.state),
        ("0.1.0", Lifecycle::Running)
    );
    let history = Registry::open(&setup.home.host_db())
        .unwrap()
        .history(&"hostile".parse().unwrap())
        .unwrap();
    assert!(
        history
            .iter()
            .filter(|(_, e, _)| e == "update failed")
            .count()
            == 2,
        "{history:?}"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_that_asks_for_more_waits_for_approval() {
    let setup = setup(&[&echo("0.1.0")]).await;
    let host = start(&setup).await;
    let mut bot = BotCore::connect(&setup.nats.url()).await;
    let wider = package_with("example-plugins/echo", "echo", |y| {
        y.replace("version: 0.1.0", "version: 0.2.0")
            .replace("permissions: []", "permissions: [read_messages]")
            + "subjects: { subscribe: [rosey.chat.message.chat] }\n"
    });
    let path = archive(setup.work.path(), &wider);
    let outcome = host
        .control()
        .update(&path, Default::default(), false)
        .await
        .unwrap();
    assert!(outcome.pending, "{outcome:?}");
    let changes = outcome.changes.unwrap();
    assert!(
        changes
            .added
            .contains(&"permission read_messages".to_owned())
            && changes
                .added
                .contains(&"subscribe rosey.chat.message.chat".to_owned()),
        "{changes:?}"
    );
    // Nothing changed yet: the old version serves with its old grants.
    assert_eq!(version_in_registry(&setup.home, "echo"), "0.1.0");
    assert!(
        setup
            .home
            .pending_update(&"echo".parse().unwrap())
            .is_file()
    );
    assert_eq!(bot.ask("!echo before").await.text, "before");
    assert_no_update_leftovers(&setup.home, "echo");

    // Approving a different package than the one shown is refused.
    let error = host
        .control()
        .approve("echo", Some("0000"), false)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("changed after it was shown"),
        "{error:#}"
    );
    assert_eq!(version_in_registry(&setup.home, "echo"), "0.1.0");

    let outcome = host
        .control()
        .approve("echo", Some(&wider.digest()), false)
        .await
        .unwrap();
    assert_eq!(outcome.version.as_deref(), Some("0.2.0"), "{outcome:?}");
    assert_eq!(version_in_registry(&setup.home, "echo"), "0.2.0");
    assert!(!setup.home.pending_update(&"echo".parse().unwrap()).exists());
    assert_eq!(bot.ask("!echo after").await.text, "after");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_hear_each_others_events() {
    // `hostile` publishes rosey.plugins.hostile.tick on its schedule;
    // `listener` (the same component under another name) subscribes to
    // hostile's events and keeps each in kv; `deaf` subscribes to nothing.
    // (`read_messages` is granted only so the component's subscription to
    // other plugins is the one thing that differs; these are not chat
    // events and need no permission.)
    let speaker = hostile("0.1.0", "schedules:\n  - name: beat\n    every: 1s\n");
    let rename = |name: &'static str, extra: &'static str| {
        package_with("tests/guests/hostile", "hostile", move |y| {
            y.replacen("name: hostile", &format!("name: {name}"), 1)
                .replace(
                    "permissions: [file_read, file_write, database_access]",
                    "permissions: [file_read, file_write, database_access, read_messages]",
                )
                + extra
        })
    };
    let listener = rename(
        "listener",
        "subjects: { subscribe: [\"rosey.plugins.hostile.>\"] }\n",
    );
    let deaf = rename("deaf", "");
    let setup = setup(&[&speaker, &listener, &deaf]).await;
    let host = start(&setup).await;

    let kv = |name: &str| -> Vec<(String, String)> {
        let db = setup.home.plugin(&name.parse().unwrap()).database;
        let Ok(conn) = rusqlite::Connection::open(db) else {
            return Vec::new();
        };
        let Ok(mut stmt) = conn.prepare("SELECT key, value FROM _rosey_kv") else {
            return Vec::new();
        };
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                String::from_utf8_lossy(&r.get::<_, Vec<u8>>(1)?).into_owned(),
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let mut heard = Vec::new();
    for _ in 0..100 {
        heard = kv("listener");
        if !heard.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        heard,
        vec![(
            "event:rosey.plugins.hostile.tick".to_owned(),
            "beat".to_owned()
        )]
    );
    assert!(
        kv("deaf").is_empty(),
        "a plugin heard events it did not subscribe to"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_control_channel_serves_only_the_hosts_owner() {
    let setup = setup(&[]).await;
    let mut config = HostConfig::new(setup.home.clone(), setup.nats.url());
    config.control = true;
    let host = Host::start(config).await.unwrap();
    let socket = setup.home.control_socket();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "control socket mode {mode:o}");
    let pong = ControlClient::connect(&setup.home)
        .unwrap()
        .call(&Request::Ping)
        .unwrap();
    assert_eq!(pong.message, "pong");

    // A second listener whose owner is someone else: this process's uid is
    // refused by the peer-credential check, whatever the file modes say.
    let other = setup.work.path().join("other.sock");
    let listener = rosey_host::control::server::bind(&other).unwrap();
    let someone_else = rosey_host::control::server::owner() + 1;
    tokio::spawn(rosey_host::control::server::serve(
        listener,
        host.control(),
        someone_else,
    ));
    let reply = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(&other).unwrap();
        stream
            .write_all(b"{\"op\":\"remove\",\"name\":\"x\"}\n")
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stream)
            .read_line(&mut line)
            .unwrap();
        serde_json::from_str::<Reply>(&line).unwrap()
    })
    .await
    .unwrap();
    match reply {
        Reply::Failed(message) => assert!(message.contains("permission denied"), "{message}"),
        Reply::Done(outcome) => panic!("another user was served: {outcome:?}"),
    }

    // A file that is not the one the operator was shown is refused.
    let echo_file = archive(setup.work.path(), &echo("0.1.0"));
    let error = ControlClient::connect(&setup.home)
        .unwrap()
        .call(&Request::Install {
            path: echo_file,
            sha256: Some("0".repeat(64)),
            signature: None,
            origin: None,
        })
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("changed after it was shown"),
        "{error:#}"
    );
    assert!(!setup.home.plugin(&"echo".parse().unwrap()).root.exists());

    // Garbage gets an error, not a crash.
    let garbage = ControlClient::connect(&setup.home).unwrap();
    let error = garbage
        .call(&Request::Remove {
            name: "../../etc".into(),
            force: false,
        })
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("invalid plugin name"),
        "{error:#}"
    );
    host.shutdown().await;
    assert!(!socket.exists(), "the socket outlived the host");
}

/// What an operator does, through the CLI, against a background host.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_changes_plugins_without_restarting_the_host() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let v1 = archive(work.path(), &echo("0.1.0"));
    let v2 = archive(work.path(), &echo("0.2.0"));
    rosey_ok(&home, Some(&url), &["start"]);
    let _stop = StopOnDrop(&home);
    let pid = std::fs::read_to_string(home.join("run/host.pid")).unwrap();
    let mut bot = BotCore::connect(&url).await;

    let out = rosey_ok(
        &home,
        None,
        &["plugin", "install", v1.to_str().unwrap(), "--yes"],
    );
    assert!(out.contains("Installed echo 0.1.0; it is running"), "{out}");
    assert_eq!(bot.ask("!echo one").await.text, "one");

    let out = rosey_ok(&home, None, &["plugin", "update", v2.to_str().unwrap()]);
    assert!(
        out.contains("Updated echo 0.1.0 → 0.2.0 without a restart"),
        "{out}"
    );
    assert_eq!(bot.ask("!echo two").await.text, "two");

    let out = rosey_ok(&home, None, &["plugin", "disable", "echo"]);
    assert!(out.contains("Disabled echo"), "{out}");
    bot.say("!echo nobody").await;
    assert!(
        bot.reply(Duration::from_millis(500)).await.is_none(),
        "a disabled plugin answered"
    );
    let out = rosey_ok(&home, None, &["plugin", "enable", "echo"]);
    assert!(out.contains("Enabled echo; it is running"), "{out}");
    assert_eq!(bot.ask("!echo three").await.text, "three");

    let json = rosey_ok(
        &home,
        None,
        &["plugin", "remove", "echo", "--yes", "--output", "json"],
    );
    let outcome: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(outcome["plugin"], "echo");
    assert!(!home.join("plugins/echo").exists());
    let failed = rosey(&home, None, &["plugin", "enable", "echo"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no plugin named \"echo\""),
        "{failed:?}"
    );
    // The same host, all along.
    assert_eq!(
        std::fs::read_to_string(home.join("run/host.pid")).unwrap(),
        pid
    );
}

/// `rosey start --quarantine-after N ...` reaches the background host, and
/// `rosey plugin enable` brings a quarantined plugin back without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn supervision_settings_reach_the_background_host() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let file = archive(work.path(), &hostile("0.1.0", ""));
    rosey_ok(
        &home,
        Some(&url),
        &["plugin", "install", file.to_str().unwrap(), "--yes"],
    );
    rosey_ok(
        &home,
        Some(&url),
        &[
            "start",
            "--quarantine-after",
            "2",
            "--crash-window",
            "10m",
            "--restart-backoff",
            "1ms",
        ],
    );
    let _stop = StopOnDrop(&home);
    let mut bot = BotCore::connect(&url).await;
    for _ in 0..2 {
        let reply = bot.ask("!hostile trap").await;
        assert!(reply.text.contains("crashed"), "{}", reply.text);
    }
    let reply = bot.ask("!hostile ping").await;
    assert!(
        reply.text.contains("quarantined after 2 crashes"),
        "{}",
        reply.text
    );
    let out = rosey_ok(&home, None, &["plugin", "enable", "hostile"]);
    assert!(out.contains("Enabled hostile; it is running"), "{out}");
    assert_eq!(bot.ask("!hostile ping").await.text, "pong");
}

#[tokio::test(flavor = "multi_thread")]
async fn anything_new_in_the_package_is_an_update_and_nothing_new_is_not() {
    let quote = || package_with("example-plugins/quote-bot", "quote-bot", |y| y);
    let setup = setup(&[&quote()]).await;
    let host = start(&setup).await;
    let same = archive(setup.work.path(), &quote());
    let error = host
        .control()
        .update(&same, Default::default(), false)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("nothing to update"),
        "{error:#}"
    );

    // The same component and manifest with one more migration.
    let mut more = quote();
    let next = more.migrations.iter().map(|m| m.version).max().unwrap_or(0) + 1;
    more.migrations.push(Migration {
        version: next,
        name: "tags".into(),
        up: "CREATE TABLE tags (quote INTEGER, tag TEXT)".into(),
        down: None,
    });
    let more_path = setup.work.path().join("more.roseyplug");
    std::fs::write(&more_path, more.write_archive().unwrap()).unwrap();
    let outcome = host
        .control()
        .update(&more_path, Default::default(), false)
        .await
        .unwrap();
    assert_eq!(outcome.migrations_applied, Some(1), "{outcome:?}");
    let db = setup.home.plugin(&"quote-bot".parse().unwrap()).database;
    let tags: i64 = rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'tags'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tags, 1);
    host.shutdown().await;
}
