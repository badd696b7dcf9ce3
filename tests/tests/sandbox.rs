//! The sandbox, attacked by a hostile plugin built from source
//! (`tests/guests/hostile`), through the real host and a real nats-server.
//! Each test names the defence it proves; removing that defence makes the
//! test fail (a hang becomes a missing reply, an escape becomes `ESCAPED`).
//! Every test also checks that another plugin (echo) kept answering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use rosey_host::home::RoseyHome;
use rosey_host::package::Package;
use rosey_host::protocol::{CommandExecute, CommandResult};
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::supervisor::{Host, HostConfig};
use rosey_tests::{BotCore, ManagedNats, package_with};

/// The next chat message on `chat` whose text is `text`.
async fn next_with_text(
    chat: &mut async_nats::Subscriber,
    text: &str,
) -> rosey_host::protocol::SendMessage {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), chat.next())
            .await
            .expect("a chat message within 10 s")
            .unwrap();
        let m: rosey_host::protocol::SendMessage = serde_json::from_slice(&m.payload).unwrap();
        if m.text == text {
            return m;
        }
    }
}

fn hostile(edit: impl Fn(String) -> String) -> Package {
    package_with("tests/guests/hostile", "hostile", edit)
}

fn echo() -> Package {
    package_with("example-plugins/echo", "echo", |y| y)
}

struct Rig {
    _work: tempfile::TempDir,
    home: RoseyHome,
    _nats: ManagedNats,
    host: Option<Host>,
    bot: BotCore,
}

impl Rig {
    /// Install `packages` (plus echo) into a fresh home and start a host.
    async fn start(packages: Vec<Package>, before_start: impl FnOnce(&RoseyHome)) -> Self {
        Self::start_with(packages, before_start, |_| {}).await
    }

    /// Like `start`, with the host's config adjusted by `configure`.
    async fn start_with(
        packages: Vec<Package>,
        before_start: impl FnOnce(&RoseyHome),
        configure: impl FnOnce(&mut HostConfig),
    ) -> Self {
        let nats = ManagedNats::start(None).await.unwrap();
        let work = tempfile::tempdir().unwrap();
        let home = RoseyHome::new(work.path().join("home"));
        let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
        for package in packages.iter().chain([echo()].iter()) {
            rosey_host::install::install(&home, &runtime, package, None).unwrap();
        }
        before_start(&home);
        let mut config = HostConfig::new(home.clone(), nats.url());
        configure(&mut config);
        let host = Host::start(config).await.unwrap();
        let bot = BotCore::connect(&nats.url()).await;
        Self {
            _work: work,
            home,
            _nats: nats,
            host: Some(host),
            bot,
        }
    }

    async fn ask(&mut self, text: &str) -> String {
        self.bot.ask(text).await.text
    }

    /// Run `!hostile <args>` on plugin `plugin` through rosey.commands.<plugin>.execute.
    async fn execute(&mut self, plugin: &str, args: &[&str]) -> String {
        let client = self.bot.client().clone();
        let mut results = client
            .subscribe(format!("rosey.commands.{plugin}.result"))
            .await
            .unwrap();
        let mut errors = client
            .subscribe(format!("rosey.commands.{plugin}.error"))
            .await
            .unwrap();
        client.flush().await.unwrap();
        let request = CommandExecute {
            correlation_id: format!("c-{}", args.join("-")),
            command: "hostile".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            user: "alice".into(),
            channel: "lobby".into(),
        };
        client
            .publish(
                format!("rosey.commands.{plugin}.execute"),
                serde_json::to_vec(&request).unwrap().into(),
            )
            .await
            .unwrap();
        let within = Duration::from_secs(20);
        tokio::select! {
            Some(m) = results.next() => {
                let r: CommandResult = serde_json::from_slice(&m.payload).unwrap();
                r.message.unwrap_or_default()
            }
            Some(m) = errors.next() => {
                let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                format!("Error: {}", v["error"].as_str().unwrap())
            }
            _ = tokio::time::sleep(within) => panic!("no answer from {plugin} to {args:?}"),
        }
    }

    /// The other plugin still answers, and the hostile one got a fresh instance.
    async fn assert_host_healthy(&mut self) {
        assert_eq!(self.ask("!echo still here").await, "still here");
        assert_eq!(self.ask("!hostile ping").await, "pong");
    }

    fn status_of(&self, plugin: &str) -> rosey_host::supervisor::status::PluginStatus {
        self.host
            .as_ref()
            .unwrap()
            .status()
            .plugins
            .into_iter()
            .find(|p| p.name == plugin)
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(host) = self.host.take() {
            host.shutdown().await;
        }
    }
}

fn with_resources(resources: &'static str) -> impl Fn(String) -> String {
    move |yaml: String| {
        let start = yaml
            .find("resources:")
            .expect("the hostile manifest has resources");
        format!("{}resources: {resources}\n", &yaml[..start])
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn epoch_deadline_stops_an_infinite_loop() {
    // Fuel so large it never runs out: only the epoch deadline can stop it.
    let mut rig = Rig::start(
        vec![hostile(with_resources(
            "{ timeout: 500ms, fuel_per_call: 100000000000 }",
        ))],
        |_| {},
    )
    .await;
    let reply = rig.ask("!hostile spin").await;
    assert!(
        reply.contains("crashed") && reply.contains("deadline"),
        "{reply}"
    );
    let reply = rig.ask("!hostile sleep 5000").await;
    assert!(
        reply.contains("deadline"),
        "a slow handler is stopped: {reply}"
    );
    let reply = rig.ask("!hostile spin-import").await;
    assert!(
        reply.contains("deadline"),
        "a loop over a host import is stopped too: {reply}"
    );
    let reply = rig.ask("!hostile block 5000").await;
    assert!(
        reply.contains("deadline inside a host call"),
        "a wait inside a host call is cut off at the wall-clock limit: {reply}"
    );
    rig.assert_host_healthy().await;

    // While the attack runs, echo answers: its reply comes before the
    // hostile plugin's crash report.
    let attack = rig.bot.say("!hostile spin").await;
    let during = rig.bot.say("!echo during the attack").await;
    let first = rig.bot.reply(Duration::from_secs(20)).await.unwrap();
    assert_eq!(
        first.reply_to.as_deref(),
        Some(during.as_str()),
        "{first:?}"
    );
    assert_eq!(first.text, "during the attack");
    let second = rig.bot.reply(Duration::from_secs(20)).await.unwrap();
    assert_eq!(second.reply_to.as_deref(), Some(attack.as_str()));
    assert!(second.text.contains("deadline"), "{second:?}");

    let status = rig.status_of("hostile");
    assert_eq!(status.stats.traps, 5);
    assert!(status.stats.restarts >= 2);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fuel_stops_an_infinite_loop() {
    // A generous deadline: only fuel can stop it in time.
    let mut rig = Rig::start(
        vec![hostile(with_resources(
            "{ timeout: 30s, fuel_per_call: 20000000 }",
        ))],
        |_| {},
    )
    .await;
    let reply = rig.ask("!hostile spin").await;
    assert!(reply.contains("ran out of fuel"), "{reply}");
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bombs_and_runaway_recursion_trap_alone() {
    let mut rig = Rig::start(vec![hostile(|y| y)], |_| {}).await;
    let reply = rig.ask("!hostile bomb").await;
    assert!(reply.contains("memory limit reached"), "{reply}");
    let reply = rig.ask("!hostile recurse").await;
    assert!(reply.contains("crashed"), "{reply}");
    let reply = rig.ask("!hostile trap").await;
    assert!(reply.contains("panicked"), "{reply}");
    rig.assert_host_healthy().await;
    let status = rig.status_of("hostile");
    assert_eq!(status.stats.traps, 3);
    assert!(status.stats.limit_hits >= 1);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_stay_inside_data_and_read_only_means_read_only() {
    let read_only = hostile(|y| {
        y.replace("\nname: hostile\n", "\nname: hostile-ro\n")
            .replace(
                "permissions: [file_read, file_write, database_access]",
                "permissions: [file_read, database_access]",
            )
    });
    let mut rig = Rig::start(vec![hostile(|y| y), read_only], |_| {}).await;

    let report = rig.ask("!hostile escape").await;
    assert!(
        !report.contains("ESCAPED"),
        "a path escaped /data:\n{report}"
    );
    assert!(
        report.lines().count() >= 6,
        "every attempt reports:\n{report}"
    );
    for line in report.lines() {
        assert!(
            line.contains("denied") || line.contains("created"),
            "{line}"
        );
    }

    assert_eq!(rig.ask("!hostile write").await, "wrote");
    let written = rig
        .home
        .plugin(&"hostile".parse().unwrap())
        .files
        .join("hostile.txt");
    assert!(
        written.is_file(),
        "the write went to the plugin's own files/"
    );
    assert_eq!(rig.ask("!hostile read-asset").await, "hello from assets");

    let reply = rig.execute("hostile-ro", &["write"]).await;
    assert!(reply.starts_with("write denied"), "{reply}");
    let ro_file = rig
        .home
        .plugin(&"hostile-ro".parse().unwrap())
        .files
        .join("hostile.txt");
    assert!(!ro_file.exists());
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_cannot_leave_the_plugin_database() {
    let mut rig = Rig::start(vec![hostile(|y| y)], |_| {}).await;
    // The guest aims at these fixed paths; clear them so a write shows.
    let _ = std::fs::remove_file("/tmp/x.db");
    let _ = std::fs::remove_file("/tmp/out.db");
    for attack in ["sql-attach", "sql-loadext", "sql-pragma", "sql-vacuum"] {
        let reply = rig.ask(&format!("!hostile {attack}")).await;
        assert!(
            reply.starts_with("error:") && reply.contains("denied"),
            "{attack}: {reply}"
        );
    }
    assert!(
        !std::path::Path::new("/tmp/x.db").exists(),
        "ATTACH created a file outside"
    );
    assert!(
        !std::path::Path::new("/tmp/out.db").exists(),
        "VACUUM INTO wrote outside"
    );
    let reply = rig.ask("!hostile sql-cte").await;
    assert!(
        reply.contains("deadline"),
        "an endless query is interrupted: {reply}"
    );
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_is_limited_to_granted_subjects() {
    let mut rig = Rig::start(vec![hostile(|y| y)], |_| {}).await;
    let mut spoofed = rig.bot.client().subscribe("rosey.chat.>").await.unwrap();
    rig.bot.client().flush().await.unwrap();
    for subject in [
        "rosey.chat.message.chat",
        "rosey.chat.send_message",
        "rosey.plugins.echo.said",
        "$SYS.REQ.SERVER.PING",
    ] {
        let reply = rig.ask(&format!("!hostile publish {subject}")).await;
        assert!(reply.contains("denied"), "{subject}: {reply}");
    }
    let reply = rig.ask("!hostile publish >").await;
    assert!(reply.contains("invalid"), "{reply}");
    assert_eq!(
        rig.ask("!hostile publish rosey.plugins.hostile.news").await,
        "published"
    );
    // Nothing the plugin sent reached the chat subjects (only the bot core's
    // own messages and the host's replies did).
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), spoofed.next()).await {
        assert_ne!(
            m.payload.as_ref(),
            b"hostile",
            "a spoofed message reached {}",
            m.subject
        );
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_flood_is_rate_limited_even_across_crashes() {
    let mut rig = Rig::start(vec![hostile(|y| y)], |_| {}).await;
    let mut flood = rig
        .bot
        .client()
        .subscribe("rosey.plugins.hostile.flood")
        .await
        .unwrap();
    rig.bot.client().flush().await.unwrap();
    // The default rate is 20/s with a burst of 20.
    let reply = rig.ask("!hostile flood").await;
    let published: u64 = reply
        .strip_prefix("flood: ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{reply}"));
    assert!((20..=22).contains(&published), "{reply}");
    assert!(
        reply.contains("publish rate limit of 20/s reached"),
        "{reply}"
    );
    // Crashing on purpose does not refill the bucket.
    assert!(rig.ask("!hostile trap").await.contains("crashed"));
    let reply = rig.ask("!hostile flood").await;
    assert!(
        reply.starts_with("flood: 0 published")
            || reply.starts_with("flood: 1 published")
            || reply.starts_with("flood: 2 published"),
        "{reply}"
    );
    let mut delivered = 0;
    while tokio::time::timeout(Duration::from_millis(300), flood.next())
        .await
        .is_ok()
    {
        delivered += 1;
    }
    assert!(delivered <= 25, "{delivered} flood messages reached NATS");
    assert!(rig.status_of("hostile").stats.limit_hits >= 150);
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_payloads_values_and_results_are_refused() {
    let mut rig = Rig::start(vec![hostile(|y| y)], |_| {}).await;
    let reply = rig.ask("!hostile big-payload 1100000").await;
    assert!(
        reply.contains("limit reached: a payload may be at most 1024 KiB"),
        "{reply}"
    );
    let reply = rig.ask("!hostile kv-big").await;
    assert!(
        reply.contains("limit reached: a kv value may be at most 1024 KiB"),
        "{reply}"
    );
    let reply = rig.ask("!hostile big-query").await;
    assert!(reply.contains("more than 10000 rows"), "{reply}");
    // Past the hostcall budget the guest traps before the host allocates.
    let reply = rig.ask("!hostile big-payload 8000000").await;
    assert!(reply.contains("crashed"), "{reply}");
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_storage_quota_makes_data_read_only() {
    // The hostile manifest's quota is 2 MiB (files plus database).
    let mut rig = Rig::start(vec![hostile(|y| y)], |_| {}).await;
    assert_eq!(rig.ask("!hostile write").await, "wrote");
    assert_eq!(
        rig.ask("!hostile fill-disk 3").await,
        "fill-disk: wrote 3 MiB"
    );
    let reply = rig.ask("!hostile write").await;
    assert!(
        reply.starts_with("write denied"),
        "over quota, /data is read-only: {reply}"
    );
    assert!(rig.status_of("hostile").stats.limit_hits >= 1);
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_speaks_only_as_itself_and_requests_fail_cleanly() {
    let chatty = hostile(|y| {
        y.replace("\nname: hostile\n", "\nname: chatty\n").replace(
            "permissions: [file_read, file_write, database_access]",
            "permissions: [file_read, file_write, database_access, send_messages]",
        )
    });
    let mut rig = Rig::start(vec![hostile(|y| y), chatty], |_| {}).await;
    let mut chat = rig
        .bot
        .client()
        .subscribe("rosey.chat.send_message")
        .await
        .unwrap();
    rig.bot.client().flush().await.unwrap();
    assert_eq!(rig.execute("chatty", &["impersonate"]).await, "published");
    let forged = next_with_text(&mut chat, "I am echo").await;
    assert_eq!(forged.plugin, "chatty", "the host names the real sender");
    // The same through bus.request (nobody replies; the message still goes out).
    let reply = rig.execute("chatty", &["impersonate", "request"]).await;
    assert!(reply.contains("unavailable"), "nobody replies: {reply}");
    let forged = next_with_text(&mut chat, "I am echo").await;
    assert_eq!(forged.plugin, "chatty", "bus.request gets the same rewrite");
    // Without send_messages the same publish is denied.
    // (Both declare !hostile; `execute` picks the plugin explicitly.)
    let reply = rig.execute("hostile", &["impersonate"]).await;
    assert!(reply.contains("denied"), "{reply}");
    let reply = rig
        .execute("hostile", &["request", "rosey.plugins.hostile.nobody"])
        .await;
    assert!(reply.contains("nothing is listening"), "{reply}");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_keeps_crashing_is_quarantined() {
    let mut rig = Rig::start_with(
        vec![hostile(|y| y)],
        |_| {},
        |config| {
            config.supervision.quarantine_after = 3;
            config.supervision.backoff_initial = Duration::from_millis(10);
        },
    )
    .await;
    for _ in 0..3 {
        let reply = rig.ask("!hostile trap").await;
        assert!(reply.contains("crashed"), "{reply}");
    }
    let status = rig.status_of("hostile");
    assert_eq!(
        status.state,
        rosey_host::supervisor::status::Lifecycle::Quarantined
    );
    let reply = rig.ask("!hostile ping").await;
    assert!(
        reply.contains("quarantined after 3 crashes")
            && reply.contains("rosey plugin enable hostile"),
        "{reply}"
    );
    assert_eq!(rig.ask("!echo unaffected").await, "unaffected");
    let help = rig.ask("!help").await;
    assert!(
        help.contains("(echo)") && !help.contains("(hostile)"),
        "{help}"
    );
    // Recorded for the operator, and it stays off after a restart.
    let registry = rosey_host::registry::Registry::open(&rig.home.host_db()).unwrap();
    let name = "hostile".parse().unwrap();
    assert!(!registry.get(&name).unwrap().unwrap().enabled);
    let events: Vec<String> = registry
        .history(&name)
        .unwrap()
        .into_iter()
        .map(|(_, e, _)| e)
        .collect();
    assert_eq!(
        events.iter().filter(|e| *e == "crashed").count(),
        3,
        "{events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("disabled"),
        "{events:?}"
    );
    assert!(events.contains(&"quarantined".to_owned()), "{events:?}");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_call_on_schedule() {
    let ticking = hostile(|y| format!("{y}schedules: [{{ name: tick, every: 1s }}]\n"));
    let mut rig = Rig::start(vec![ticking], |_| {}).await;
    let mut ticks = rig
        .bot
        .client()
        .subscribe("rosey.plugins.hostile.tick")
        .await
        .unwrap();
    rig.bot.client().flush().await.unwrap();
    for _ in 0..2 {
        let tick = tokio::time::timeout(Duration::from_secs(5), ticks.next())
            .await
            .expect("a tick within 5 s")
            .unwrap();
        assert_eq!(tick.payload.as_ref(), b"tick");
    }
    assert!(rig.status_of("hostile").stats.schedules >= 2);
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_have_no_sockets() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut rig = Rig::start(vec![hostile(|y| y)], |_| {}).await;
    let reply = rig.ask(&format!("!hostile connect {address}")).await;
    assert!(reply.starts_with("connect denied"), "{reply}");
    let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(accepted.is_err(), "a plugin opened a TCP connection");
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_and_stderr_are_captured_and_a_log_flood_is_capped() {
    let mut rig = Rig::start(vec![hostile(|y| y)], |_| {}).await;
    assert_eq!(rig.ask("!hostile print").await, "printed");
    // Output is captured line by line as it is written; give the stream a moment.
    let mut lines = 0;
    for _ in 0..50 {
        lines = rig.status_of("hostile").stats.log_lines;
        if lines >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        lines, 3,
        "two stdout lines and one stderr line reach the log"
    );
    assert_eq!(rig.ask("!hostile log-flood").await, "flooded");
    let stats = rig.status_of("hostile").stats;
    assert!(
        stats.log_dropped > 4_000,
        "the rate cap dropped the flood: {stats:?}"
    );
    assert!(
        stats.log_lines <= 3 + 2 * u64::from(rosey_host::capabilities::log::MAX_LINES_PER_SECOND)
    );
    rig.assert_host_healthy().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_traps_in_init_does_not_stop_the_others() {
    let mut rig = Rig::start(vec![hostile(|y| y)], |home| {
        let config = home.plugin(&"hostile".parse().unwrap()).config;
        std::fs::write(config, "trap_in_init: true\n").unwrap();
    })
    .await;
    assert_eq!(rig.ask("!echo hi").await, "hi");
    let reply = rig.ask("!hostile ping").await;
    assert!(
        reply.starts_with("Error:") && reply.contains("init"),
        "{reply}"
    );
    let status = rig.status_of("hostile");
    assert_eq!(
        status.state,
        rosey_host::supervisor::status::Lifecycle::Crashed
    );
    rig.stop().await;
}
