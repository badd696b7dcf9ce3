//! 1,000 cycles of install → update → remove on one running host, with
//! failed installs and failed updates among them, leak nothing: open file
//! descriptors, threads and NATS subscriptions come back exactly to their
//! baseline, and resident memory stays within a small drift.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rosey_host::home::RoseyHome;
use rosey_host::package::Package;
use rosey_host::supervisor::{Host, HostConfig};
use rosey_tests::{BotCore, package_with};

/// Cycles measured (after the warm-up).
const CYCLES: usize = 1_000;
/// Cycles run before the baseline is taken: caches, pools and lazily
/// started threads fill up here.
const WARM_UP: usize = 50;
/// How far resident memory may drift over the measured cycles.
const RSS_DRIFT: i64 = 16 << 20;

/// A nats-server with its monitoring port, to count subscriptions from the
/// server's side (the product's `ManagedNats` has no monitoring port).
struct MonitoredNats {
    child: Child,
    port: u16,
    monitor: u16,
}

impl MonitoredNats {
    fn start() -> Self {
        let port = rosey_host::nats::free_port().unwrap();
        let monitor = rosey_host::nats::free_port().unwrap();
        let child = Command::new("nats-server")
            .args(["--addr", "127.0.0.1", "--port", &port.to_string()])
            .args(["--http_port", &monitor.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (scripts/setup.sh)");
        let server = Self {
            child,
            port,
            monitor,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.subscriptions().is_none() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's count of subscriptions, from `/varz`.
    fn subscriptions(&self) -> Option<u64> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.monitor)).ok()?;
        stream
            .write_all(b"GET /varz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let body = response.split("\r\n\r\n").nth(1)?;
        let varz: serde_json::Value = serde_json::from_str(body).ok()?;
        varz["subscriptions"].as_u64()
    }
}

impl Drop for MonitoredNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Usage {
    fds: usize,
    threads: usize,
    subscriptions: u64,
    rss: i64,
}

fn usage(nats: &MonitoredNats) -> Usage {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> i64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    Usage {
        fds: std::fs::read_dir("/proc/self/fd").unwrap().count(),
        threads: field("Threads:") as usize,
        subscriptions: nats.subscriptions().unwrap(),
        rss: field("VmRSS:") * 1024,
    }
}

/// Wait until the usage has not changed for a second (idle pool threads
/// end, the server's counters catch up), then report it.
async fn settled(nats: &MonitoredNats) -> Usage {
    let key = |u: &Usage| (u.fds, u.threads, u.subscriptions);
    let mut last = usage(nats);
    let mut stable = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = usage(nats);
        stable = if key(&now) == key(&last) {
            stable + 1
        } else {
            0
        };
        last = now;
        if stable == 4 {
            break;
        }
    }
    last
}

fn archive(dir: &Path, name: &str, package: &Package) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, package.write_archive().unwrap()).unwrap();
    path
}

#[test]
fn a_thousand_install_update_remove_cycles_leak_nothing() {
    // Idle blocking-pool threads end after 200 ms, so a settled process
    // has only the threads something still holds: the pool's size (which
    // grows on races between one blocking task ending and the next
    // starting) is not mistaken for a leak, and a leaked thread is.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(Duration::from_millis(200))
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(cycles());
}

async fn cycles() {
    let nats = MonitoredNats::start();
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    // Version 1 subscribes to two subjects, version 2 (which gives one up,
    // so needs no approval) to one: the update unsubscribes.
    let quote = |version: &str, subscribe: &str| {
        let (version, subscribe) = (version.to_owned(), subscribe.to_owned());
        package_with("example-plugins/quote-bot", "quote-bot", move |y| {
            y.replace("version: 0.1.0", &format!("version: {version}"))
                .replace(
                    "permissions: [database_access]",
                    "permissions: [database_access, read_messages]",
                )
                + &format!("subjects: {{ subscribe: [{subscribe}] }}\n")
        })
    };
    let v1 = archive(
        work.path(),
        "v1.roseyplug",
        &quote(
            "0.1.0",
            "rosey.chat.message.user_joined, rosey.chat.message.user_left",
        ),
    );
    let v2 = archive(
        work.path(),
        "v2.roseyplug",
        &quote("0.2.0", "rosey.chat.message.user_joined"),
    );
    // An update whose init fails (it must roll back) ...
    let broken_update = archive(
        work.path(),
        "broken.roseyplug",
        &package_with("tests/guests/hostile", "hostile", |y| {
            y.replacen("name: hostile", "name: quote-bot", 1)
                .replace("version: 0.1.0", "version: 0.3.0")
                .replace(
                    "permissions: [file_read, file_write, database_access]",
                    "permissions: [database_access, read_messages]",
                )
                .replace(
                    "  storage: 2MiB",
                    "  storage: 2MiB\nsubjects: { subscribe: [rosey.chat.message.user_joined] }",
                )
                + "config_schema:\n  properties:\n    trap_in_init: { type: boolean, default: true }\n"
        }),
    );
    // ... and an install of a file that is not a package.
    let garbage = work.path().join("garbage.roseyplug");
    std::fs::write(&garbage, b"PK\x03\x04 not really a zip").unwrap();

    let mut config = HostConfig::new(home.clone(), nats.url());
    config.control = false;
    let host = Host::start(config).await.unwrap();
    let control = host.control();
    let mut bot = BotCore::connect(&nats.url()).await;

    let mut baseline = None;
    let started = Instant::now();
    let mut measured_from = started;
    for cycle in 0..WARM_UP + CYCLES {
        if cycle == WARM_UP {
            baseline = Some(settled(&nats).await);
            measured_from = Instant::now();
        }
        assert!(control.install(&garbage, Default::default()).await.is_err());
        let installed = control.install(&v1, Default::default()).await.unwrap();
        assert_eq!(installed.state.as_deref(), Some("running"), "{installed:?}");
        if cycle % 10 == 0 {
            let error = control
                .update(&broken_update, Default::default(), false)
                .await
                .unwrap_err();
            assert!(format!("{error:#}").contains("rolled back"), "{error:#}");
        }
        let updated = control
            .update(&v2, Default::default(), false)
            .await
            .unwrap();
        assert_eq!(updated.version.as_deref(), Some("0.2.0"));
        if cycle % 100 == 0 {
            // The plugin really serves, from its migrated database.
            let reply = bot.ask("!quote add leak check").await;
            assert!(reply.text.contains("#1"), "{}", reply.text);
        }
        control.remove("quote-bot", false).await.unwrap();
    }
    let elapsed = measured_from.elapsed();
    let baseline = baseline.unwrap();
    let after = settled(&nats).await;
    eprintln!(
        "{CYCLES} cycles in {:.1} s ({:.1} ms each): fds {} → {}, threads {} → {}, \
         NATS subscriptions {} → {}, RSS {:.1} → {:.1} MiB",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / CYCLES as f64,
        baseline.fds,
        after.fds,
        baseline.threads,
        after.threads,
        baseline.subscriptions,
        after.subscriptions,
        baseline.rss as f64 / (1 << 20) as f64,
        after.rss as f64 / (1 << 20) as f64,
    );
    assert_eq!(after.fds, baseline.fds, "file descriptors leaked");
    assert_eq!(after.threads, baseline.threads, "threads leaked");
    assert_eq!(
        after.subscriptions, baseline.subscriptions,
        "NATS subscriptions leaked"
    );
    assert!(
        after.rss - baseline.rss < RSS_DRIFT,
        "resident memory grew by {} MiB",
        (after.rss - baseline.rss) >> 20
    );
    assert!(!home.plugin(&"quote-bot".parse().unwrap()).root.exists());
    host.shutdown().await;
}
