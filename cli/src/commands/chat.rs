//! `rosey chat`: a console that plays the bot core. Each line typed (or
//! piped in) is published as a chat message; replies are printed.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use futures::StreamExt;
use rosey_host::capabilities::log::sanitize;
use rosey_host::package::HumanDuration;
use rosey_host::protocol::{self, ChatMessage, SendMessage, now_ms};

use super::Context;
use crate::process;

#[derive(Debug, Args)]
pub struct Chat {
    /// The channel your messages are said in.
    #[arg(long, default_value = "lobby")]
    channel: String,
    /// The user name your messages come from.
    #[arg(long, default_value = "operator")]
    user: String,
    /// With piped input: how long to keep listening for replies after the
    /// last line (replies reset the timer).
    #[arg(long, default_value = "2s")]
    wait: HumanDuration,
}

impl Chat {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let url = match &ctx.nats_url {
            Some(url) => url.clone(),
            None => match process::read_status(&ctx.home) {
                Some(status) => status.nats_url,
                None => bail!(
                    "Rosey is not running and no NATS server was given: start it with `rosey start` \
                     or pass --nats-url"
                ),
            },
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.chat(url))
    }

    /// A console in `channel` as `user`.
    pub fn console(channel: &str, user: &str) -> Self {
        Self {
            channel: channel.to_owned(),
            user: user.to_owned(),
            wait: HumanDuration(Duration::from_secs(2)),
        }
    }

    /// Chat on the NATS server at `url` until stdin ends.
    pub async fn chat(self, url: String) -> Result<()> {
        let client = async_nats::connect(&url)
            .await
            .with_context(|| format!("could not connect to NATS at {url}"))?;
        let mut replies = client.subscribe(protocol::SEND_MESSAGE).await?;
        client.flush().await?;
        let interactive = std::io::stdin().is_terminal();
        if interactive {
            eprintln!(
                "Chatting in #{} as {} (NATS {url}). Type a message or a command such as `!echo hi`; Ctrl-D quits.",
                self.channel, self.user
            );
        }

        // Read stdin on a thread; lines arrive on a channel, None at EOF.
        let (tx, mut lines) = tokio::sync::mpsc::channel::<Option<String>>(64);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                match line {
                    Ok(line) => {
                        if tx.blocking_send(Some(line)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.blocking_send(None);
        });

        let wait = self.wait.0;
        let mut counter = 0u64;
        let mut eof_at: Option<Instant> = None;
        let mut last_activity = Instant::now();
        if interactive {
            prompt();
        }
        loop {
            let linger = eof_at.map(|_| wait.saturating_sub(last_activity.elapsed()));
            if linger == Some(Duration::ZERO) {
                return Ok(());
            }
            tokio::select! {
                line = lines.recv(), if eof_at.is_none() => match line.flatten() {
                    Some(text) => {
                        if text.trim().is_empty() {
                            if interactive { prompt(); }
                            continue;
                        }
                        counter += 1;
                        let message = ChatMessage {
                            id: Some(format!("console-{}-{counter}", std::process::id())),
                            channel: self.channel.clone(),
                            user: self.user.clone(),
                            text,
                            timestamp: Some(now_ms()),
                        };
                        client.publish(protocol::CHAT_MESSAGE, serde_json::to_vec(&message)?.into()).await?;
                        client.flush().await?;
                        last_activity = Instant::now();
                    }
                    None => {
                        eof_at = Some(Instant::now());
                        last_activity = Instant::now();
                    }
                },
                reply = replies.next() => {
                    let Some(reply) = reply else { bail!("the NATS connection closed") };
                    if let Ok(message) = serde_json::from_slice::<SendMessage>(&reply.payload) {
                        print_reply(&message, &self.channel, interactive);
                        last_activity = Instant::now();
                    }
                },
                _ = tokio::time::sleep(linger.unwrap_or(Duration::from_secs(3600))) => {}
            }
        }
    }
}

fn print_reply(message: &SendMessage, channel: &str, interactive: bool) {
    let place = if message.channel == channel {
        String::new()
    } else {
        format!(" #{}", sanitize(&message.channel))
    };
    let mut out = std::io::stdout().lock();
    if interactive {
        let _ = write!(out, "\r");
    }
    for line in message.text.lines() {
        let _ = writeln!(
            out,
            "[{}{place}] {}",
            sanitize(&message.plugin),
            sanitize(line)
        );
    }
    let _ = out.flush();
    if interactive {
        prompt();
    }
}

fn prompt() {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "> ");
    let _ = err.flush();
}
