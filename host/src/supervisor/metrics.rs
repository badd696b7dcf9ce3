//! Prometheus metrics (text exposition format 0.0.4) on an optional
//! listener: `GET /metrics`. Loopback by default; anything wider is the
//! operator's explicit choice and is logged as a warning.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Shared, build_status};

/// The most bytes of a request head read before giving up.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Serve `GET /metrics` on `listener` until the task is aborted.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(&shared, socket)).await;
        });
    }
}

async fn answer(shared: &Shared, mut socket: TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, body) = if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?")
    {
        ("200 OK", render(shared))
    } else {
        (
            "404 Not Found",
            "only GET /metrics is served here\n".to_owned(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// The metrics text. Plugin names are validated (`a-z`, `0-9`, `-`), so
/// they need no escaping as label values.
pub(crate) fn render(shared: &Shared) -> String {
    let status = build_status(shared);
    let mut out = String::new();
    header(&mut out, "rosey_up", "gauge", "1 while the host runs.");
    let _ = writeln!(out, "rosey_up 1");
    header(
        &mut out,
        "rosey_nats_connected",
        "gauge",
        "1 while the host is connected to NATS.",
    );
    let _ = writeln!(
        out,
        "rosey_nats_connected {}",
        u8::from(status.nats_connected)
    );
    header(
        &mut out,
        "rosey_uptime_seconds",
        "gauge",
        "Seconds since the host started.",
    );
    let _ = writeln!(
        out,
        "rosey_uptime_seconds {}",
        (status.updated_at - status.started_at).max(0) / 1000
    );

    type Counter = fn(&crate::runtime::stats::StatsSnapshot) -> u64;
    let counters: [(&str, &str, Counter); 13] = [
        ("messages", "Messages delivered to on-message.", |s| {
            s.messages
        }),
        ("commands", "Commands delivered to on-command.", |s| {
            s.commands
        }),
        (
            "schedules",
            "Schedule ticks delivered to on-schedule.",
            |s| s.schedules,
        ),
        ("errors", "Calls that returned an error.", |s| s.errors),
        ("traps", "Calls that trapped or overran a limit.", |s| {
            s.traps
        }),
        ("restarts", "Fresh instances made after a crash.", |s| {
            s.restarts
        }),
        ("limit_hits", "Limits hit.", |s| s.limit_hits),
        (
            "denied",
            "Calls refused for a missing permission or grant.",
            |s| s.denied,
        ),
        ("published", "Messages the plugin published.", |s| {
            s.published
        }),
        (
            "dropped",
            "Events dropped (full mailbox, quarantine).",
            |s| s.dropped,
        ),
        ("fuel_used", "Fuel consumed.", |s| s.fuel_used),
        ("log_lines", "Log lines written.", |s| s.log_lines),
        ("log_dropped", "Log lines dropped by the rate cap.", |s| {
            s.log_dropped
        }),
    ];
    for (name, help, get) in counters {
        let full = format!("rosey_plugin_{name}_total");
        header(&mut out, &full, "counter", help);
        for p in &status.plugins {
            let _ = writeln!(out, "{full}{{plugin=\"{}\"}} {}", p.name, get(&p.stats));
        }
    }
    header(
        &mut out,
        "rosey_plugin_memory_bytes",
        "gauge",
        "Linear memory in use.",
    );
    for p in &status.plugins {
        let _ = writeln!(
            out,
            "rosey_plugin_memory_bytes{{plugin=\"{}\"}} {}",
            p.name, p.memory
        );
    }
    header(
        &mut out,
        "rosey_plugin_running",
        "gauge",
        "1 if the plugin is running.",
    );
    for p in &status.plugins {
        let running = p.state == super::status::Lifecycle::Running;
        let _ = writeln!(
            out,
            "rosey_plugin_running{{plugin=\"{}\"}} {}",
            p.name,
            u8::from(running)
        );
    }

    header(
        &mut out,
        "rosey_plugin_call_duration_seconds",
        "histogram",
        "Guest call durations.",
    );
    for handle in shared.handles() {
        let name = &handle.installed.name;
        let Some(ctx) = &handle.ctx else { continue };
        let buckets = ctx.stats.latency_buckets();
        for (bound, count) in &buckets {
            let le = if *bound == u64::MAX {
                "+Inf".to_owned()
            } else {
                format!("{}", *bound as f64 / 1e6)
            };
            let _ = writeln!(
                out,
                "rosey_plugin_call_duration_seconds_bucket{{plugin=\"{name}\",le=\"{le}\"}} {count}"
            );
        }
        let snapshot = ctx.stats.snapshot();
        let total = buckets.last().map_or(0, |(_, c)| *c);
        let _ = writeln!(
            out,
            "rosey_plugin_call_duration_seconds_sum{{plugin=\"{name}\"}} {}",
            snapshot.busy_micros as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "rosey_plugin_call_duration_seconds_count{{plugin=\"{name}\"}} {total}"
        );
    }
    out
}

/// The `# HELP` and `# TYPE` lines of one metric.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}
