//! S9: NATS → plugin → NATS round trips of 128-byte chat events, against a
//! real nats-server: Rosey's whole host, a plain async-nats echo service
//! (the floor) and Python nats-py plugin processes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;

/// One 128-byte chat event.
pub fn event() -> bytes::Bytes {
    let mut text = String::from(
        r#"{"channel":"lobby","user":"alice","id":"m1","ts":1765000000000,"text":"hello rosey"#,
    );
    while text.len() < 126 {
        text.push('!');
    }
    text.push_str("\"}");
    debug_assert_eq!(text.len(), 128);
    bytes::Bytes::from(text)
}

const REPLY_WAIT: Duration = Duration::from_secs(10);

/// Closed loop: one event in flight at a time; each round trip's latency
/// in nanoseconds, sorted.
pub async fn closed_loop(
    client: &async_nats::Client,
    plugins: usize,
    n: usize,
) -> Result<Vec<f64>> {
    let mut replies = client.subscribe("bench.out.>").await?;
    client.flush().await?;
    warm_up(client, plugins, &mut replies).await?;
    let payload = event();
    let mut latencies = Vec::with_capacity(n);
    for k in 0..n {
        let subject = format!("bench.rt.{}", k % plugins);
        let started = Instant::now();
        client.publish(subject, payload.clone()).await?;
        let reply = tokio::time::timeout(REPLY_WAIT, replies.next())
            .await
            .map_err(|_| anyhow!("no reply within {REPLY_WAIT:?} (event {k})"))?
            .context("the subscription closed")?;
        latencies.push(started.elapsed().as_nanos() as f64);
        if reply.payload.len() != payload.len() {
            bail!(
                "a reply of {} bytes, not {}",
                reply.payload.len(),
                payload.len()
            );
        }
    }
    replies.unsubscribe().await?;
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Make sure every plugin answers before measuring: probe each subject
/// until a reply comes (a subscription made just before may not have
/// reached every server-side interest list yet), then let stragglers drain.
async fn warm_up(
    client: &async_nats::Client,
    plugins: usize,
    replies: &mut async_nats::Subscriber,
) -> Result<()> {
    let payload = event();
    for i in 0..plugins {
        let deadline = Instant::now() + REPLY_WAIT;
        loop {
            client
                .publish(format!("bench.rt.{i}"), payload.clone())
                .await?;
            client.flush().await?;
            let probe = tokio::time::timeout(Duration::from_millis(250), replies.next()).await;
            if let Ok(reply) = probe {
                reply.context("the subscription closed")?;
                break;
            }
            if Instant::now() > deadline {
                bail!("plugin {i} did not answer within {REPLY_WAIT:?}");
            }
        }
    }
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), replies.next()).await {}
    Ok(())
}

/// Pipelined: up to `window` events in flight; replies per second.
pub async fn pipelined(
    client: &async_nats::Client,
    plugins: usize,
    n: usize,
    window: usize,
) -> Result<f64> {
    let mut replies = client.subscribe("bench.out.>").await?;
    client.flush().await?;
    warm_up(client, plugins, &mut replies).await?;
    let payload = event();
    let subjects: Vec<String> = (0..plugins).map(|i| format!("bench.rt.{i}")).collect();
    let started = Instant::now();
    let (mut sent, mut got) = (0usize, 0usize);
    while got < n {
        while sent < n && sent - got < window {
            client
                .publish(subjects[sent % plugins].clone(), payload.clone())
                .await?;
            sent += 1;
        }
        client.flush().await?;
        // Take every reply that is already there before sending more.
        loop {
            tokio::time::timeout(REPLY_WAIT, replies.next())
                .await
                .map_err(|_| anyhow!("{got} of {n} replies, then none within {REPLY_WAIT:?}"))?
                .context("the subscription closed")?;
            got += 1;
            if got == n || sent - got < window / 2 {
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    replies.unsubscribe().await?;
    Ok(n as f64 / elapsed)
}

/// The floor: an echo service on async-nats, no wasm, one task per
/// "plugin" subject. Stops when dropped.
pub struct Floor {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Floor {
    /// Start `plugins` echo subscriptions on their own connection.
    pub async fn start(url: &str, plugins: usize) -> Result<Self> {
        let client = async_nats::connect(url).await?;
        let mut tasks = Vec::new();
        for i in 0..plugins {
            let mut sub = client.subscribe(format!("bench.rt.{i}")).await?;
            let client = client.clone();
            let out = format!("bench.out.{i}");
            tasks.push(tokio::spawn(async move {
                while let Some(msg) = sub.next().await {
                    if client.publish(out.clone(), msg.payload).await.is_err() {
                        return;
                    }
                }
            }));
        }
        client.flush().await?;
        Ok(Self { tasks })
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
