//! Outgoing HTTP: linked only with `http_requests`, only to listed host:port
//! pairs, never to loopback or private addresses (unless the host allows it
//! for a lab). A local HTTP server counts what reaches it, so a removed
//! defence shows up as a request that arrived. Only loopback addresses are
//! used: nothing here ever leaves the machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rosey_host::home::RoseyHome;
use rosey_host::package::Package;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::supervisor::{Host, HostConfig};
use rosey_tests::{BotCore, ManagedNats, package_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-response HTTP server on 127.0.0.1; returns its port and a counter
/// of the requests it received.
async fn http_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                    )
                    .await;
            });
        }
    });
    (port, hits)
}

fn fetcher(allowed_hosts: &[String], permissions: &str) -> Package {
    let hosts = allowed_hosts
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(", ");
    package_with("tests/guests/fetcher", "fetcher", |yaml| {
        yaml.replace(
            "allowed_hosts: [\"127.0.0.1:1\"]",
            &format!("allowed_hosts: [{hosts}]"),
        )
        .replace("permissions: [http_requests]", permissions)
    })
}

struct Rig {
    _work: tempfile::TempDir,
    _nats: ManagedNats,
    host: Host,
    bot: BotCore,
}

async fn start(package: Package, allow_private: bool) -> Rig {
    let nats = ManagedNats::start(None).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    rosey_host::install::install(&home, &runtime, &package, None).unwrap();
    let mut config = HostConfig::new(home, nats.url());
    config.allow_private_http = allow_private;
    let host = Host::start(config).await.unwrap();
    let bot = BotCore::connect(&nats.url()).await;
    Rig {
        _work: work,
        _nats: nats,
        host,
        bot,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_host_is_reached_and_nothing_else() {
    let (port, hits) = http_server().await;
    let (other_port, other_hits) = http_server().await;
    let allowed = vec![format!("127.0.0.1:{port}")];
    // A lab host: private addresses allowed, so only the allow-list decides.
    let mut rig = start(fetcher(&allowed, "permissions: [http_requests]"), true).await;

    let reply = rig
        .bot
        .ask(&format!("!fetch http://127.0.0.1:{port}/weather"))
        .await
        .text;
    assert_eq!(reply, "status 200: hello");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let reply = rig
        .bot
        .ask(&format!("!fetch http://127.0.0.1:{other_port}/"))
        .await
        .text;
    assert_eq!(
        reply, "error: ErrorCode::HttpRequestDenied",
        "a port not listed"
    );
    let reply = rig
        .bot
        .ask(&format!("!fetch http://localhost:{port}/"))
        .await
        .text;
    assert_eq!(
        reply, "error: ErrorCode::HttpRequestDenied",
        "a host name not listed"
    );
    assert_eq!(other_hits.load(Ordering::SeqCst), 0);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "refused requests never connect"
    );
    assert!(rig.host.status().plugins[0].stats.denied >= 2);
    rig.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_and_mapped_addresses_are_refused_even_when_listed() {
    let (port, hits) = http_server().await;
    let allowed = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
    ];
    // A production host: listing an internal address is not enough.
    let mut rig = start(fetcher(&allowed, "permissions: [http_requests]"), false).await;
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        let reply = rig.bot.ask(&format!("!fetch {url}")).await.text;
        assert_eq!(reply, "error: ErrorCode::DestinationIpProhibited", "{url}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");
    rig.host.shutdown().await;
}

#[test]
fn without_http_requests_wasi_http_is_not_linked() {
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    let package = fetcher(&["127.0.0.1:8080".into()], "permissions: []");
    let err = rosey_host::install::install(&home, &runtime, &package, None).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("wasi:http/") && text.contains("http_requests"),
        "{text}"
    );
}
