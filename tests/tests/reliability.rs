//! Under load, a plugin that keeps crashing costs the healthy ones nothing,
//! and is quarantined exactly as configured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rosey_host::home::RoseyHome;
use rosey_host::protocol::{self, ChatMessage, SendMessage};
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::supervisor::status::Lifecycle;
use rosey_host::supervisor::{Host, HostConfig};
use rosey_tests::{ManagedNats, package_with};
use tokio::sync::Semaphore;

const MESSAGES: usize = 20_000;
const IN_FLIGHT: usize = 200;

#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_plugin_costs_the_healthy_ones_nothing() {
    let nats = ManagedNats::start(None).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    // hostile traps on every 50th chat message it sees.
    let crashing = package_with("tests/guests/hostile", "hostile", |y| {
        y.replace(
            "permissions: [file_read, file_write, database_access]",
            "permissions: [file_read, file_write, database_access, read_messages]",
        ) + "subjects: { subscribe: [rosey.chat.message.chat] }\n"
    });
    let echo = package_with("example-plugins/echo", "echo", |y| y);
    for package in [&crashing, &echo] {
        rosey_host::install::install(&home, &runtime, package, None).unwrap();
    }
    let mut config = HostConfig::new(home, nats.url());
    config.supervision.quarantine_after = 5;
    config.supervision.window = Duration::from_secs(600);
    config.supervision.backoff_initial = Duration::from_millis(1);
    let host = Host::start(config).await.unwrap();

    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut replies = client.subscribe(protocol::SEND_MESSAGE).await.unwrap();
    client.flush().await.unwrap();

    // Closed loop: at most IN_FLIGHT messages without a reply.
    let window = Arc::new(Semaphore::new(IN_FLIGHT));
    let sender = {
        let client = client.clone();
        let window = Arc::clone(&window);
        tokio::spawn(async move {
            for i in 0..MESSAGES {
                window.acquire().await.unwrap().forget();
                let message = ChatMessage {
                    id: Some(format!("m-{i}")),
                    channel: "load".into(),
                    user: "bench".into(),
                    text: format!("!echo {i}"),
                    timestamp: None,
                };
                client
                    .publish(
                        protocol::CHAT_MESSAGE,
                        serde_json::to_vec(&message).unwrap().into(),
                    )
                    .await
                    .unwrap();
            }
            client.flush().await.unwrap();
        })
    };

    let started = Instant::now();
    let mut answered = HashSet::new();
    while answered.len() < MESSAGES {
        let reply = tokio::time::timeout(Duration::from_secs(20), replies.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} replies", answered.len()))
            .unwrap();
        let reply: SendMessage = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(reply.plugin, "echo");
        let id = reply.reply_to.unwrap();
        assert_eq!(Some(reply.text.as_str()), id.strip_prefix("m-"));
        assert!(answered.insert(id), "a duplicate reply");
        window.add_permits(1);
    }
    sender.await.unwrap();
    let elapsed = started.elapsed();
    eprintln!("{MESSAGES} messages answered in {elapsed:?}");

    // The crashing plugin works through its own mailbox at its own pace.
    let mut status = host.status();
    for _ in 0..200 {
        if status
            .plugins
            .iter()
            .any(|p| p.name == "hostile" && p.state == Lifecycle::Quarantined)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = host.status();
    }
    let echo = status.plugins.iter().find(|p| p.name == "echo").unwrap();
    let hostile = status.plugins.iter().find(|p| p.name == "hostile").unwrap();
    eprintln!("hostile: {:?}", hostile.stats);
    assert_eq!(echo.stats.commands, MESSAGES as u64);
    assert_eq!(
        (echo.stats.errors, echo.stats.traps, echo.stats.dropped),
        (0, 0, 0)
    );
    assert_eq!(hostile.state, Lifecycle::Quarantined);
    assert_eq!(
        hostile.stats.traps, 5,
        "quarantined at the 5th crash, not before or after"
    );
    assert_eq!(hostile.stats.restarts, 4);
    // It saw 5 x 50 messages before quarantine; the rest were dropped
    // (counted), not handled.
    assert_eq!(hostile.stats.messages, 250);
    host.shutdown().await;
}

/// How long a plugin is away after a trap: from the crash report to the
/// first answer of the fresh instance, against a plain round trip. Printed
/// for the benchmarks and the closing note; asserted only in that every
/// ping after a trap is answered by a fresh instance.
#[tokio::test(flavor = "multi_thread")]
async fn restart_latency_after_a_trap() {
    const ROUNDS: usize = 30;
    let nats = ManagedNats::start(None).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    let hostile = package_with("tests/guests/hostile", "hostile", |y| y);
    rosey_host::install::install(&home, &runtime, &hostile, None).unwrap();
    let mut config = HostConfig::new(home, nats.url());
    config.control = false;
    // Never quarantine, and restart at once: this measures the restart.
    config.supervision.quarantine_after = u32::MAX;
    config.supervision.backoff_initial = Duration::ZERO;
    let host = Host::start(config).await.unwrap();
    let mut bot = rosey_tests::BotCore::connect(&nats.url()).await;

    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut plain = Vec::new();
    let mut after_trap = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        assert_eq!(bot.ask("!hostile ping").await.text, "pong");
        plain.push(started.elapsed());
        let crash = bot.ask("!hostile trap").await;
        assert!(crash.text.contains("crashed"), "{}", crash.text);
        let started = Instant::now();
        assert_eq!(bot.ask("!hostile ping").await.text, "pong");
        after_trap.push(started.elapsed());
    }
    let status = host.status();
    let stats = &status.plugins[0].stats;
    assert_eq!(stats.traps, ROUNDS as u64);
    assert_eq!(stats.restarts, ROUNDS as u64);
    eprintln!(
        "restart after a trap: first answer in {:?} (median of {ROUNDS}), a plain round trip {:?}",
        median(after_trap),
        median(plain)
    );
    host.shutdown().await;
}
