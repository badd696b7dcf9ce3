//! The example plugins `markov-chat` and `weather-alerts`, end to end: built
//! from source by the test build, installed into a temporary home, run by a
//! host on a real nats-server, and talked to over NATS as the bot core does.
//! weather-alerts fetches from a local HTTP server playing Open-Meteo (its
//! manifest's `allowed_hosts` rewritten to that server, and the host
//! allowing private addresses, as a lab would).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rosey_host::home::{PluginPaths, RoseyHome};
use rosey_host::package::Package;
use rosey_host::protocol::{self, ChatMessage, SendMessage};
use rosey_host::runtime::stats::StatsSnapshot;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::supervisor::{Host, HostConfig};
use rosey_tests::{BotCore, ManagedNats, package_with, rosey, workspace_path};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Rig {
    _work: tempfile::TempDir,
    _nats: ManagedNats,
    host: Host,
    bot: BotCore,
    home: RoseyHome,
    paths: PluginPaths,
    name: String,
}

/// Installs `package` into a fresh home with `config` as its config.yaml,
/// and starts a host on a fresh nats-server.
async fn start(package: Package, config: &str, allow_private_http: bool) -> Rig {
    start_with_files(package, config, allow_private_http, &[]).await
}

/// [`start`], with `files` (name, contents) in the plugin's `/data` first.
async fn start_with_files(
    package: Package,
    config: &str,
    allow_private_http: bool,
    files: &[(&str, &str)],
) -> Rig {
    let nats = ManagedNats::start(None).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    rosey_host::install::install(&home, &runtime, &package, None).unwrap();
    let paths = home.plugin(&package.manifest.name);
    if !config.is_empty() {
        std::fs::write(&paths.config, config).unwrap();
    }
    for (name, contents) in files {
        std::fs::write(paths.files.join(name), contents).unwrap();
    }
    let mut host_config = HostConfig::new(home.clone(), nats.url());
    host_config.allow_private_http = allow_private_http;
    let host = Host::start(host_config).await.unwrap();
    let bot = BotCore::connect(&nats.url()).await;
    Rig {
        _work: work,
        _nats: nats,
        host,
        bot,
        home,
        paths,
        name: package.manifest.name.to_string(),
    }
}

impl Rig {
    fn stats(&self) -> StatsSnapshot {
        self.host
            .status()
            .plugins
            .into_iter()
            .find(|p| p.name == self.name)
            .unwrap()
            .stats
    }

    /// Waits until `on_message` has been called `count` times in all.
    async fn messages_delivered(&self, count: u64) {
        for _ in 0..200 {
            if self.stats().messages >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "only {} messages delivered, waited for {count}",
            self.stats().messages
        );
    }

    /// Waits until markov-chat has finished with everything said so far: a
    /// message is counted as delivered when its call starts, and the plugin
    /// handles events in order, so the reply to one more command means the
    /// calls before it are done. (It adds one message to the count.)
    async fn sync(&mut self) {
        let usage = self.bot.ask("!markov help").await.text;
        assert!(usage.starts_with("Usage: !markov"), "{usage}");
    }

    /// Says `text` as `user` in `lobby` and returns the reply to it.
    async fn ask_as(&mut self, user: &str, text: &str) -> String {
        let id = format!("{user}-{}", text.len());
        publish_chat(&self.bot, &id, user, text).await;
        loop {
            let reply = self
                .bot
                .reply(Duration::from_secs(20))
                .await
                .unwrap_or_else(|| panic!("no reply to {text:?} within 20 s"));
            if reply.reply_to.as_deref() == Some(id.as_str()) {
                return reply.text;
            }
        }
    }

    /// A read-only query on the plugin's database, one integer.
    fn count(&self, sql: &str) -> i64 {
        let db = rusqlite::Connection::open_with_flags(
            &self.paths.database,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row(sql, [], |row| row.get(0)).unwrap()
    }
}

async fn publish_chat(bot: &BotCore, id: &str, user: &str, text: &str) {
    let message = ChatMessage {
        id: Some(id.into()),
        channel: "lobby".into(),
        user: user.into(),
        text: text.into(),
        timestamp: Some(1_732_240_000_000),
    };
    bot.client()
        .publish(
            protocol::CHAT_MESSAGE,
            serde_json::to_vec(&message).unwrap().into(),
        )
        .await
        .unwrap();
    bot.client().flush().await.unwrap();
}

fn markov() -> Package {
    package_with("example-plugins/markov-chat", "markov-chat", |yaml| yaml)
}

const LINES: [&str; 3] = [
    "the quick brown fox jumps over the lazy dog",
    "the lazy cat sleeps all day",
    "a quick brown bird sings",
];

fn vocabulary() -> Vec<&'static str> {
    let mut words: Vec<&str> = LINES.iter().flat_map(|l| l.split(' ')).collect();
    words.sort_unstable();
    words.dedup();
    words
}

#[tokio::test(flavor = "multi_thread")]
async fn markov_chat_learns_from_chat_and_babbles_it_back() {
    let config = "learn: true\nadmins: [Alice]\nignore_users: [otherbot]\n";
    let mut rig = start(markov(), config, false).await;
    assert_eq!(
        rig.bot.ask("!markov").await.text,
        "I haven't learned anything yet."
    );

    for line in LINES {
        rig.bot.say(line).await;
    }
    // Not learned: a bot the operator listed, and command lines.
    publish_chat(&rig.bot, "x-1", "OtherBot", "zebra zebra zebra").await;
    rig.bot.say("!unknowncommand unlearned words").await;
    rig.messages_delivered(6).await;

    let stats = rig.bot.ask("!markov stats").await.text;
    let vocabulary = vocabulary();
    assert!(
        stats.starts_with(&format!("I know {} words and ", vocabulary.len()))
            && stats.contains("learned from 3 messages, the last just now.")
            && stats.ends_with("Learning is on in every channel."),
        "{stats}"
    );
    assert_eq!(
        rig.count("SELECT count FROM chain WHERE ord = 1 AND prefix = '' AND next = 'the'"),
        2,
        "two messages started with \"the\""
    );
    assert_eq!(
        rig.count("SELECT count(*) FROM chain WHERE prefix LIKE '%zebra%' OR prefix LIKE '%unlearned%' OR next IN ('zebra', 'unlearned')"),
        0
    );

    for _ in 0..8 {
        let text = rig.bot.ask("!markov").await.text;
        let words: Vec<&str> = text.split(' ').collect();
        assert!(!words.is_empty() && words.len() <= 30, "{text}");
        assert!(
            words.iter().all(|w| vocabulary.contains(w)),
            "{text:?} has a word nobody said"
        );
    }
    // "quick" was only ever followed by "brown"; "quick brown" by "fox" or
    // "bird". The seed is matched ignoring case.
    for ask in ["!markov quick", "!markov QUICK"] {
        let text = rig.bot.ask(ask).await.text;
        assert!(
            text.starts_with("quick brown fox") || text.starts_with("quick brown bird"),
            "{ask}: {text}"
        );
    }
    assert_eq!(
        rig.bot.ask("!markov zebra").await.text,
        "I don't know \"zebra\" yet."
    );

    // Hostile lines: a huge token, invisible characters, 500 words. None
    // traps; at most 40 words (learn_words) of a line are learned.
    let many: Vec<String> = (0..500).map(|i| format!("n{i}")).collect();
    let before = rig.stats().messages;
    for text in [
        "x".repeat(200_000),
        "\u{202E}\u{200B} \u{7}\u{1b} \u{FEFF}".to_owned(),
        many.join(" "),
    ] {
        rig.bot.say(&text).await;
    }
    rig.messages_delivered(before + 3).await;
    rig.sync().await;
    assert_eq!(
        rig.count(
            "SELECT count(DISTINCT prefix) FROM chain WHERE ord = 1 AND prefix GLOB 'n[0-9]*'"
        ),
        40
    );
    assert_eq!(
        rig.count("SELECT count(*) FROM chain WHERE length(prefix) > 200 OR length(next) > 40"),
        0
    );
    // Three lines and the long one: the others had nothing to learn.
    assert_eq!(rig.count("SELECT messages FROM stats"), 4);
    assert_eq!(rig.stats().traps, 0);

    // Saving and forgetting are for admins (matched ignoring case).
    let admins_only = "Only the plugin's admins may do that (the operator lists them in `admins`).";
    assert_eq!(
        rig.ask_as("bob", "!markov forget confirm").await,
        admins_only
    );
    assert_eq!(rig.ask_as("bob", "!markov save").await, admins_only);
    let transitions = rig.count("SELECT count(*) FROM chain");
    assert!(transitions > 0);

    let saved = rig.bot.ask("!markov save").await.text;
    assert!(
        saved.starts_with(&format!(
            "Saved {transitions} transitions to /data/model.json ("
        )),
        "{saved}"
    );
    let snapshot_path = rig.paths.files.join("model.json");
    let snapshot = std::fs::read(&snapshot_path).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&snapshot).unwrap();
    assert_eq!(json["format"], "rosey-markov-chat");
    assert_eq!(json["messages"], 4);
    assert_eq!(
        json["transitions"].as_array().unwrap().len() as i64,
        transitions
    );

    let warning = rig.bot.ask("!markov forget").await.text;
    assert!(
        warning.ends_with("Say `!markov forget confirm` to do it."),
        "{warning}"
    );
    assert_eq!(rig.count("SELECT count(*) FROM chain"), transitions);
    let forgot = rig.bot.ask("!markov forget confirm").await.text;
    assert!(
        forgot.starts_with(&format!("Forgot {transitions} transitions")),
        "{forgot}"
    );
    assert!(!snapshot_path.exists());
    assert_eq!(rig.count("SELECT count(*) FROM chain"), 0);
    assert_eq!(
        rig.bot.ask("!markov").await.text,
        "I haven't learned anything yet."
    );

    // A snapshot put back in /data is imported at the next start, since the
    // database is empty.
    std::fs::write(&snapshot_path, &snapshot).unwrap();
    let control = rig.host.control();
    control.disable("markov-chat").await.unwrap();
    control.enable("markov-chat").await.unwrap();
    let text = rig.bot.ask("!markov quick").await.text;
    assert!(text.starts_with("quick brown"), "{text}");
    assert_eq!(rig.count("SELECT count(*) FROM chain"), transitions);
    assert_eq!(rig.count("SELECT messages FROM stats"), 4);

    // Shutdown rewrites the snapshot when the model changed since.
    let before = rig.stats().messages;
    rig.bot.say("penguins waddle").await;
    rig.messages_delivered(before + 1).await;
    rig.sync().await;
    control.disable("markov-chat").await.unwrap();
    let rewritten = std::fs::read_to_string(&snapshot_path).unwrap();
    assert!(rewritten.contains("\"penguins\""), "{rewritten}");
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn markov_chat_learns_nothing_until_the_operator_opts_in() {
    // No config.yaml: the schema's defaults, learn: false.
    let mut rig = start(markov(), "", false).await;
    for line in LINES {
        rig.bot.say(line).await;
    }
    rig.messages_delivered(3).await;
    let stats = rig.bot.ask("!markov stats").await.text;
    assert!(
        stats.contains("learned from 0 messages") && stats.ends_with("Learning is off."),
        "{stats}"
    );
    assert_eq!(
        rig.bot.ask("!markov").await.text,
        "I haven't learned anything yet. Learning is off: the operator can turn it on with \
         `rosey plugin config markov-chat set learn=true`."
    );
    assert_eq!(rig.count("SELECT count(*) FROM chain"), 0);

    // Opting in applies at once, to what is said from then on.
    let control = rig.host.control();
    control
        .configure("markov-chat", "learn: true\n")
        .await
        .unwrap();
    let before = rig.stats().messages;
    rig.bot.say("hello again world").await;
    rig.messages_delivered(before + 1).await;
    assert_eq!(rig.bot.ask("!markov").await.text, "hello again world");

    // And opting out again stops it.
    control
        .configure("markov-chat", "learn: false\n")
        .await
        .unwrap();
    let before = rig.stats().messages;
    rig.bot.say("more words here").await;
    rig.messages_delivered(before + 1).await;
    rig.sync().await;
    assert_eq!(rig.count("SELECT messages FROM stats"), 1);
    assert_eq!(
        rig.count("SELECT count(*) FROM chain WHERE next = 'more'"),
        0
    );
    // A config the schema refuses never reaches the plugin.
    assert!(
        control
            .configure("markov-chat", "order: 7\n")
            .await
            .is_err()
    );
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn markov_chat_stops_adding_transitions_at_max_transitions() {
    let mut rig = start(markov(), "learn: true\nmax_transitions: 100\n", false).await;
    let line = |letter: char| -> String {
        (0..40)
            .map(|i| format!("{letter}{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // 40 words at order 2: 41 positions, 2 transitions each.
    rig.bot.say(&line('a')).await;
    rig.messages_delivered(1).await;
    rig.sync().await;
    assert_eq!(rig.count("SELECT count(*) FROM chain"), 82);
    rig.bot.say(&line('b')).await;
    rig.bot.say(&line('a')).await;
    rig.messages_delivered(4).await;
    rig.sync().await;
    assert_eq!(
        rig.count("SELECT count(*) FROM chain"),
        100,
        "filled exactly"
    );
    assert_eq!(
        rig.count("SELECT count FROM chain WHERE ord = 1 AND prefix = '' AND next = 'a0'"),
        2,
        "known transitions are still counted"
    );
    let stats = rig.bot.ask("!markov stats").await.text;
    assert!(
        stats.starts_with("I know 48 words and 100 of at most 100 transitions (order 2)")
            && stats.ends_with("The model is full: only word pairs I already know are counted."),
        "{stats}"
    );
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn markov_chat_imports_a_huge_snapshot_only_up_to_max_transitions() {
    // Nearly 8 MiB (the most it reads): far more transitions than
    // max_transitions allows. The first 100,000 are imported at init, the
    // rest only counted; nothing traps or runs out of memory.
    let mut text = String::from(r#"{"format":"rosey-markov-chat","version":1,"transitions":["#);
    let mut i = 0;
    while text.len() < (8 << 20) - 64 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(r#"[1,["w{i}"],"x",1]"#));
        i += 1;
    }
    text.push_str("]}");
    let mut rig = start_with_files(
        markov(),
        "max_transitions: 100000\n",
        false,
        &[("model.json", &text)],
    )
    .await;
    let stats = rig.bot.ask("!markov stats").await.text;
    assert!(
        stats.starts_with("I know 100000 words and 100000 of at most 100000 transitions"),
        "{stats}"
    );
    let status = rig.stats();
    assert_eq!((status.traps, status.errors), (0, 0), "{status:?}");
    let name = "markov-chat".parse().unwrap();
    let log = std::fs::read_to_string(rig.home.plugin_log(&name)).unwrap();
    assert!(
        log.contains(&format!(
            "{} more transitions in /data/model.json were over max_transitions",
            i - 100_000
        )),
        "{log}"
    );
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn markov_chat_refuses_a_hostile_snapshot_without_running_out_of_memory() {
    // Nearly 8 MiB of one transition whose prefix has millions of words:
    // read naively, tens of MiB of empty strings. It is refused at the
    // fourth word; the plugin starts with an empty model.
    let words = ((8 << 20) - 128) / 3;
    let text = format!(
        r#"{{"format":"rosey-markov-chat","version":1,"transitions":[[1,[{}""],"x",1]]}}"#,
        "\"\",".repeat(words)
    );
    let mut rig = start_with_files(markov(), "", false, &[("model.json", &text)]).await;
    let stats = rig.bot.ask("!markov stats").await.text;
    assert!(stats.starts_with("I know 0 words and 0 of"), "{stats}");
    let status = rig.stats();
    assert_eq!((status.traps, status.errors), (0, 0), "{status:?}");
    let name = "markov-chat".parse().unwrap();
    let log = std::fs::read_to_string(rig.home.plugin_log(&name)).unwrap();
    assert!(
        log.contains("not importing the snapshot: /data/model.json: a prefix has at most 3 words"),
        "{log}"
    );
    rig.host.shutdown().await;
}

/// What the fake Open-Meteo answers.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: String,
}

/// A local HTTP server playing Open-Meteo: answers every request with the
/// current [`Answer`] and records the request targets.
struct FakeMeteo {
    port: u16,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeMeteo {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = Arc::new(Mutex::new(current(5.0, 10.0)));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (shared_answer, seen) = (Arc::clone(&answer), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let answer = Arc::clone(&shared_answer);
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    seen.lock().unwrap().push(target);
                    let Answer { status, body } = answer.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        FakeMeteo {
            port,
            answer,
            requests,
        }
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `more` requests have arrived after this call.
    async fn wait_requests(&self, more: usize) {
        let target = self.requests().len() + more;
        for _ in 0..300 {
            if self.requests().len() >= target {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the plugin did not fetch {more} more times within 30 s");
    }
}

/// An Open-Meteo answer with these current conditions (overcast).
fn current(temperature: f64, wind: f64) -> Answer {
    Answer {
        status: 200,
        body: serde_json::json!({
            "latitude": 52.52,
            "longitude": 13.419998,
            "timezone": "GMT",
            "current_units": {"time": "iso8601", "interval": "seconds",
                "temperature_2m": "°C", "wind_speed_10m": "km/h", "weather_code": "wmo code"},
            "current": {"time": "2026-03-01T08:00", "interval": 900,
                "temperature_2m": temperature, "wind_speed_10m": wind, "weather_code": 3},
        })
        .to_string(),
    }
}

/// Chat messages that arrived on `rosey.chat.send_message` so far.
fn drain(sent: &mut async_nats::Subscriber) -> Vec<SendMessage> {
    let mut out = Vec::new();
    while let Some(Some(message)) = sent.next().now_or_never() {
        out.push(serde_json::from_slice(&message.payload).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn weather_alerts_fetch_on_schedule_alert_once_per_crossing_and_answer_from_cache() {
    let meteo = FakeMeteo::start().await;
    let port = meteo.port;
    let package = package_with("example-plugins/weather-alerts", "weather-alerts", |yaml| {
        let edited = yaml
            .replace(
                "allowed_hosts: [\"api.open-meteo.com:443\"]",
                &format!("allowed_hosts: [\"127.0.0.1:{port}\"]"),
            )
            .replace("every: 10m", "every: 1s");
        assert_ne!(edited, yaml, "the manifest changed: update this test");
        edited
    });
    let config = format!(
        "api_base: http://127.0.0.1:{port}\n\
         locations:\n  - {{name: Berlin, latitude: 52.52, longitude: 13.41}}\n\
         alert_channel: alerts\n\
         wind_above_kmh: 50\n"
    );
    let mut rig = start(package, &config, true).await;
    let mut sent = rig
        .bot
        .client()
        .subscribe(protocol::SEND_MESSAGE)
        .await
        .unwrap();
    rig.bot.client().flush().await.unwrap();

    // Calm: the schedule fetches, nothing is said.
    meteo.wait_requests(2).await;
    assert_eq!(
        meteo.requests()[0],
        "/v1/forecast?latitude=52.52&longitude=13.41\
         &current=temperature_2m,wind_speed_10m,weather_code"
    );
    assert_eq!(
        rig.bot.ask("!weather berlin").await.text,
        "Berlin: 5.0 °C, wind 10.0 km/h, overcast (just now)"
    );
    assert_eq!(
        rig.bot.ask("!weather Paris").await.text,
        "Unknown location \"Paris\". Known: Berlin."
    );
    let alerts = |sent: &mut async_nats::Subscriber| -> Vec<SendMessage> {
        drain(sent)
            .into_iter()
            .filter(|m| m.channel == "alerts")
            .collect()
    };
    assert!(alerts(&mut sent).is_empty());

    // Windy: one alert, however many readings stay windy.
    meteo.answer(current(5.0, 72.5));
    meteo.wait_requests(4).await;
    let first = alerts(&mut sent);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        first[0].text,
        "Weather alert for Berlin: wind 72.5 km/h, above 50 km/h."
    );
    assert_eq!(first[0].plugin, "weather-alerts");
    assert_eq!(first[0].reply_to, None);

    // Back to calm (past the 5 km/h margin), then windy again: one more.
    meteo.answer(current(5.0, 20.0));
    meteo.wait_requests(3).await;
    assert!(alerts(&mut sent).is_empty());
    meteo.answer(current(5.0, 66.0));
    meteo.wait_requests(4).await;
    let second = alerts(&mut sent);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(
        second[0].text,
        "Weather alert for Berlin: wind 66.0 km/h, above 50 km/h."
    );

    // The API fails: ticks report the error, and !weather answers from the
    // cache (a fetch would have failed and said so).
    meteo.answer(Answer {
        status: 503,
        body: r#"{"error": true, "reason": "down for a test"}"#.into(),
    });
    let errors = rig.stats().errors;
    meteo.wait_requests(2).await;
    assert_eq!(
        rig.bot.ask("!weather").await.text,
        "Berlin: 5.0 °C, wind 66.0 km/h, overcast (just now)"
    );
    let stats = rig.stats();
    assert!(stats.errors > errors, "{stats:?}");
    assert!(
        stats
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("Berlin: HTTP 503: down for a test")),
        "{stats:?}"
    );

    // Malformed and oversized answers are errors too, never a crash, never
    // an alert.
    let huge = format!("{{\"padding\": \"{}\"}}", "x".repeat(300 << 10));
    for (body, expected) in [
        ("not json", "Berlin: malformed response: not JSON"),
        (
            r#"{"current": {"temperature_2m": "warm"}}"#,
            "Berlin: malformed response: `current.temperature_2m` is not a number",
        ),
        ("[]", "Berlin: malformed response: no `current` object"),
        (huge.as_str(), "Berlin: the response is larger than 256 KiB"),
    ] {
        meteo.answer(Answer {
            status: 200,
            body: body.into(),
        });
        meteo.wait_requests(2).await;
        let stats = rig.stats();
        assert!(
            stats
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(expected)),
            "{expected}: {:?}",
            stats.last_error
        );
    }
    let stats = rig.stats();
    assert_eq!(stats.traps, 0);
    assert!(alerts(&mut sent).is_empty());
    rig.host.shutdown().await;
}

/// The examples as shipped pass `rosey plugin validate` with no finding.
#[test]
fn the_examples_validate_cleanly() {
    let work = tempfile::tempdir().unwrap();
    for plugin in ["markov-chat", "weather-alerts"] {
        let dir = workspace_path(&format!("example-plugins/{plugin}"));
        let output = rosey(
            work.path(),
            None,
            &["plugin", "validate", dir.to_str().unwrap()],
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success()
                && stdout.contains(&format!(
                    "{plugin} 0.1.0: passed (0 error(s), 0 warning(s))"
                )),
            "{plugin}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
