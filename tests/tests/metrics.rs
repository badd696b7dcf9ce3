//! Prometheus `/metrics`, scraped over real HTTP from a running host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rosey_host::home::RoseyHome;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::supervisor::{Host, HostConfig};
use rosey_tests::{BotCore, ManagedNats, package_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_what_plugins_do() {
    let nats = ManagedNats::start(None).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let home = RoseyHome::new(work.path().join("home"));
    let runtime = Runtime::new(RoseyEngine::new().unwrap()).unwrap();
    let echo = package_with("example-plugins/echo", "echo", |y| y);
    rosey_host::install::install(&home, &runtime, &echo, None).unwrap();
    let mut config = HostConfig::new(home, nats.url());
    config.metrics = Some("127.0.0.1:0".parse().unwrap());
    let host = Host::start(config).await.unwrap();
    let addr = host.metrics_addr().expect("metrics are served");
    assert_eq!(host.status().metrics, Some(addr.to_string()));

    let mut bot = BotCore::connect(&nats.url()).await;
    for i in 0..3 {
        assert_eq!(bot.ask(&format!("!echo {i}")).await.text, i.to_string());
    }
    let response = get(addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    for line in [
        "rosey_up 1",
        "rosey_nats_connected 1",
        "rosey_plugin_commands_total{plugin=\"echo\"} 3",
        "rosey_plugin_running{plugin=\"echo\"} 1",
        "# TYPE rosey_plugin_call_duration_seconds histogram",
        // init plus three commands.
        "rosey_plugin_call_duration_seconds_bucket{plugin=\"echo\",le=\"+Inf\"} 4",
        "rosey_plugin_call_duration_seconds_count{plugin=\"echo\"} 4",
    ] {
        assert!(
            response.lines().any(|l| l == line),
            "missing {line:?} in:\n{response}"
        );
    }
    assert!(get(addr, "/other").await.starts_with("HTTP/1.1 404"));
    host.shutdown().await;
}
