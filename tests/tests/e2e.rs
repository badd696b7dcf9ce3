//! The foundation, end to end, with real parts only: the example plugins are
//! built from source by `rosey plugin build`, installed with `rosey plugin
//! install` into a temporary home, run by a background `rosey start` on a
//! real `nats-server`, and talked to over NATS the way the bot core does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use rosey_host::protocol::{CommandExecute, CommandResult};
use rosey_tests::{BotCore, ManagedNats, StopOnDrop, rosey, rosey_ok, workspace_path};

fn build(home: &Path, plugin: &str, out: &Path) {
    let dir = workspace_path(&format!("example-plugins/{plugin}"));
    rosey_ok(
        home,
        None,
        &[
            "plugin",
            "build",
            dir.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(out.is_file(), "{} was not written", out.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_reaches_plugins_and_quotes_survive_a_restart() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");

    // Build both examples from source and package them.
    let echo = work.path().join("echo.roseyplug");
    let quotes = work.path().join("quote-bot.roseyplug");
    build(&home, "echo", &echo);
    build(&home, "quote-bot", &quotes);

    // Without a terminal and without --yes, nothing is installed.
    let refused = rosey(&home, None, &["plugin", "install", echo.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--yes"),
        "the refusal must say how to approve: {stderr}"
    );
    assert!(!home.join("plugins/echo").exists());

    for archive in [&echo, &quotes] {
        rosey_ok(
            &home,
            None,
            &["plugin", "install", archive.to_str().unwrap(), "--yes"],
        );
    }
    let list: serde_json::Value = serde_json::from_str(&rosey_ok(
        &home,
        None,
        &["plugin", "list", "--output", "json"],
    ))
    .unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "quote-bot"]);

    rosey_ok(&home, Some(&url), &["start"]);
    let _stop = StopOnDrop(&home);
    let mut bot = BotCore::connect(&url).await;

    let reply = bot.ask("!echo hello there").await;
    assert_eq!(reply.text, "hello there");
    assert_eq!(reply.plugin, "echo");
    assert_eq!(reply.channel, "lobby");

    // The built-in !help lists what the running plugins declare.
    let help = bot.ask("!help").await;
    assert_eq!(help.plugin, "rosey");
    assert!(
        help.text.contains("!echo (echo)") && help.text.contains("!quote (quote-bot)"),
        "{}",
        help.text
    );
    assert!(
        bot.ask("!help quote")
            .await
            .text
            .starts_with("!quote (quote-bot):")
    );

    assert_eq!(
        bot.ask("!quote").await.text,
        "No quotes yet. Add one with !quote add <text>"
    );
    assert_eq!(
        bot.ask("!quote add The cake is a lie").await.text,
        "Added quote #1."
    );
    assert_eq!(
        bot.ask("!quote add Stay a while and listen").await.text,
        "Added quote #2."
    );
    let found = bot.ask("!quote search cake").await.text;
    assert!(
        found.contains("The cake is a lie") && !found.contains("Stay a while"),
        "{found}"
    );
    assert!(
        bot.ask("!quote 2")
            .await
            .text
            .contains("Stay a while and listen")
    );

    // The plugin's own log line reached the host log, tagged and uncoloured,
    // and the plugin's own log file.
    let host_log = rosey_ok(&home, None, &["logs", "host", "-n", "500"]);
    assert!(
        host_log.contains("added quote #1") && host_log.contains("plugin=quote-bot"),
        "{host_log}"
    );
    let logs = rosey_ok(&home, None, &["logs", "quote-bot", "--since", "10m"]);
    assert!(logs.contains(" INFO alice added quote #1"), "{logs}");
    assert!(
        !logs.contains('\x1b') && !host_log.contains('\x1b'),
        "terminal escapes in a log file: {logs:?}"
    );

    // Direct command execution, correlated.
    let mut results = bot
        .client()
        .subscribe("rosey.commands.echo.result")
        .await
        .unwrap();
    bot.client().flush().await.unwrap();
    let request = CommandExecute {
        correlation_id: "c-7".into(),
        command: "echo".into(),
        args: vec!["via".into(), "execute".into()],
        user: "alice".into(),
        channel: "lobby".into(),
    };
    bot.client()
        .publish(
            "rosey.commands.echo.execute",
            serde_json::to_vec(&request).unwrap().into(),
        )
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), results.next())
        .await
        .unwrap()
        .unwrap();
    let result: CommandResult = serde_json::from_slice(&result.payload).unwrap();
    assert_eq!(result.correlation_id, "c-7");
    assert_eq!(result.message.as_deref(), Some("via execute"));

    // Status reports both plugins running and counts what they did.
    let status: serde_json::Value =
        serde_json::from_str(&rosey_ok(&home, None, &["status", "--output", "json"])).unwrap();
    assert_eq!(status["running"], true);
    let quote_status = status["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "quote-bot")
        .unwrap();
    assert_eq!(quote_status["state"], "running");
    assert!(
        quote_status["stats"]["p50_micros"].as_u64().is_some(),
        "{quote_status}"
    );

    // plugin info shows the running host's view too (the host rewrites its
    // status file every second, so the counters may lag a moment).
    let mut info = serde_json::Value::Null;
    for _ in 0..30 {
        info = serde_json::from_str(&rosey_ok(
            &home,
            None,
            &["plugin", "info", "quote-bot", "--output", "json"],
        ))
        .unwrap();
        if info["live"]["stats"]["commands"].as_u64() >= Some(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(info["live"]["state"], "running");
    assert_eq!(
        info["live"]["stats"]["commands"].as_u64(),
        Some(5),
        "{info}"
    );

    // Restart the host: the quotes are still there. (restart reports once.)
    let restarted = rosey_ok(&home, Some(&url), &["restart", "--output", "json"]);
    let restarted: serde_json::Value = serde_json::from_str(&restarted).unwrap_or_else(|e| {
        panic!("restart printed more than one JSON document ({e}): {restarted}")
    });
    assert_eq!(restarted["plugins"].as_array().unwrap().len(), 2);
    assert!(bot.ask("!quote 1").await.text.contains("The cake is a lie"));

    // Remove quote-bot while the host runs: it stops answering, echo goes
    // on, and nothing of quote-bot remains.
    let removed = rosey_ok(&home, None, &["plugin", "remove", "quote-bot", "--yes"]);
    assert!(removed.contains("Removed quote-bot"), "{removed}");
    assert_eq!(bot.ask("!echo still here").await.text, "still here");
    let status: serde_json::Value =
        serde_json::from_str(&rosey_ok(&home, None, &["status", "--output", "json"])).unwrap();
    assert!(
        !status["plugins"].to_string().contains("quote-bot"),
        "{status}"
    );
    rosey_ok(&home, None, &["stop"]);
    assert!(!home.join("plugins/quote-bot").exists());
    let staging = home.join("plugins/.staging");
    let leftovers: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "staging leftovers: {leftovers:?}");
    let db = rusqlite_count(&home.join("host.db"), "quote-bot");
    assert_eq!(db, 0, "host.db still mentions quote-bot");
    let list = rosey_ok(&home, None, &["plugin", "list"]);
    assert!(
        list.contains("echo") && !list.contains("quote-bot"),
        "{list}"
    );
}

/// Rows in host.db that mention `plugin`, read with the sqlite3-free
/// registry API.
fn rusqlite_count(db: &Path, plugin: &str) -> usize {
    let registry = rosey_host::registry::Registry::open(db).unwrap();
    let name = plugin.parse().unwrap();
    registry.get(&name).unwrap().map_or(0, |_| 1) + registry.history(&name).unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bare_component_installs_only_with_an_embedded_manifest() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    // The raw cargo output carries no manifest.
    let raw = rosey_tests::guest_wasm("echo");
    let refused = rosey(
        &home,
        None,
        &["plugin", "install", raw.to_str().unwrap(), "--yes"],
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("rosey plugin build"),
        "the error must say how to package it: {stderr}"
    );

    // With the manifest embedded (as `rosey plugin build` does), it installs.
    let manifest =
        std::fs::read_to_string(workspace_path("example-plugins/echo/manifest.yaml")).unwrap();
    let wasm =
        rosey_host::package::embed_manifest(&std::fs::read(&raw).unwrap(), &manifest).unwrap();
    let bare = work.path().join("echo.wasm");
    std::fs::write(&bare, wasm).unwrap();
    rosey_ok(
        &home,
        None,
        &["plugin", "install", bare.to_str().unwrap(), "--yes"],
    );
    let info: serde_json::Value = serde_json::from_str(&rosey_ok(
        &home,
        None,
        &["plugin", "info", "echo", "--output", "json"],
    ))
    .unwrap();
    assert_eq!(info["name"], "echo");
    assert_eq!(info["permissions"].as_array().unwrap().len(), 0);
}

/// `rosey start nats`, then the host on it; `restart host` keeps NATS (and
/// the bot core's connection) up; `stop` ends both.
#[tokio::test(flavor = "multi_thread")]
async fn nats_and_the_host_are_separate_services() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let _stop = StopOnDrop(&home);
    let echo = work.path().join("echo.roseyplug");
    build(&home, "echo", &echo);
    rosey_ok(
        &home,
        None,
        &["plugin", "install", echo.to_str().unwrap(), "--yes"],
    );

    let refused = rosey(&home, None, &["start", "host"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("rosey start nats"),
        "{refused:?}"
    );
    let nats: serde_json::Value = serde_json::from_str(&rosey_ok(
        &home,
        None,
        &["start", "nats", "--output", "json"],
    ))
    .unwrap();
    let url = nats["nats"]["url"].as_str().unwrap().to_owned();
    let nats_pid = nats["nats"]["pid"].as_u64().unwrap();
    rosey_ok(&home, None, &["start", "host"]);
    let mut bot = BotCore::connect(&url).await;
    assert_eq!(bot.ask("!echo first").await.text, "first");
    let status = |home: &Path| -> serde_json::Value {
        serde_json::from_str(&rosey_ok(home, None, &["status", "--output", "json"])).unwrap()
    };
    let before = status(&home);
    assert_eq!(before["managed_nats"], true, "{before}");
    assert_eq!(before["nats_pid"].as_u64(), Some(nats_pid));

    rosey_ok(&home, None, &["restart", "host"]);
    let after = status(&home);
    assert_ne!(after["pid"], before["pid"], "the host did not restart");
    assert_eq!(after["nats_pid"].as_u64(), Some(nats_pid), "NATS restarted");
    // The bot core's connection survived the host's restart.
    assert_eq!(bot.ask("!echo second").await.text, "second");

    // NATS restarts on the same port: the host and the bot core reconnect.
    let restarted: serde_json::Value = serde_json::from_str(&rosey_ok(
        &home,
        None,
        &["restart", "nats", "--output", "json"],
    ))
    .unwrap();
    assert_eq!(restarted["nats"]["url"].as_str(), Some(url.as_str()));
    let mut answered = false;
    for _ in 0..50 {
        bot.say("!echo third").await;
        if let Some(reply) = bot.reply(Duration::from_millis(200)).await {
            assert_eq!(reply.text, "third");
            answered = true;
            break;
        }
    }
    assert!(answered, "no answer after NATS restarted");

    // With NATS gone, the host still stops (it does not wait for the bus).
    rosey_ok(&home, None, &["stop", "nats"]);
    let stopped = rosey_ok(&home, None, &["stop", "host", "--timeout-secs", "20"]);
    assert!(stopped.contains("Stopped Rosey"), "{stopped}");
    assert!(!home.join("run/nats.pid").exists());
    let again = rosey_ok(&home, None, &["stop"]);
    assert!(again.contains("Rosey is not running"), "{again}");
    let again = rosey_ok(&home, None, &["stop", "nats"]);
    assert!(again.contains("NATS is not running"), "{again}");
}
