//! Getting events to plugins: chat commands, direct command requests, and
//! each plugin's own subscriptions.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use super::Shared;
use super::runner::{Event, ReplyTo};
use crate::package::PluginName;
use crate::protocol::{
    self, ChatMessage, CommandError, CommandExecute, SendMessage, parse_command,
};
use crate::runtime::bindings::{Command, Message};

/// How long a subscription's message may wait for room in a full mailbox.
const MAILBOX_WAIT: Duration = Duration::from_secs(2);

pub(super) async fn route_chat(shared: Arc<Shared>, mut messages: async_nats::Subscriber) {
    while let Some(message) = messages.next().await {
        let chat: ChatMessage = match serde_json::from_slice(&message.payload) {
            Ok(chat) => chat,
            Err(e) => {
                tracing::debug!("ignoring a malformed chat message: {e}");
                continue;
            }
        };
        let Some(parsed) = parse_command(&chat.text, &shared.config.command_prefix) else {
            continue;
        };
        // The first claimant that serves; if none does, the top one, which
        // answers why it cannot (e.g. quarantined) instead of silence.
        let routed = shared.commands.read().ok().and_then(|commands| {
            commands
                .route(&parsed.name, |p| shared.serving(p))
                .or_else(|| commands.route(&parsed.name, |_| true))
                .cloned()
        });
        let Some(plugin) = routed else {
            if parsed.name == super::router::HELP {
                answer_help(&shared, &chat, parsed.args.first().map(String::as_str)).await;
            }
            continue;
        };
        let Some(handle) = shared.plugin(&plugin) else {
            continue;
        };
        let command = Command {
            name: parsed.name,
            args: parsed.args,
            arg_text: parsed.arg_text,
            user: chat.user,
            channel: chat.channel.clone(),
        };
        let reply = ReplyTo::Chat {
            channel: chat.channel,
            reply_to: chat.id,
        };
        if !handle.deliver(Event::Command(command, reply)) {
            tracing::warn!(plugin = %plugin, "plugin is busy or stopped; a chat command was dropped");
        }
    }
}

/// The built-in `!help`: the commands of the running plugins.
async fn answer_help(shared: &Shared, chat: &ChatMessage, topic: Option<&str>) {
    let help = shared
        .commands
        .read()
        .map(|commands| {
            commands.help(&shared.config.command_prefix, topic, |plugin| {
                shared.serving(plugin)
            })
        })
        .unwrap_or_default();
    let text: String = help
        .chars()
        .take(crate::capabilities::chat::MAX_TEXT_CHARS)
        .collect();
    let reply = SendMessage {
        channel: chat.channel.clone(),
        text,
        plugin: "rosey".into(),
        reply_to: chat.id.clone(),
    };
    if let Ok(payload) = serde_json::to_vec(&reply) {
        let _ = shared
            .bus
            .publish(protocol::SEND_MESSAGE, payload.into())
            .await;
    }
}

pub(super) async fn route_execute(shared: Arc<Shared>, mut messages: async_nats::Subscriber) {
    while let Some(message) = messages.next().await {
        // rosey.commands.<plugin>.execute
        let plugin_token = message
            .subject
            .split('.')
            .nth(2)
            .unwrap_or_default()
            .to_owned();
        let request: CommandExecute = match serde_json::from_slice(&message.payload) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!("ignoring a malformed command request: {e}");
                continue;
            }
        };
        let reply = message.reply.as_ref().map(|r| r.to_string());
        let refuse = |error: String| {
            let shared = Arc::clone(&shared);
            let reply = reply.clone();
            let payload = CommandError {
                correlation_id: request.correlation_id.clone(),
                plugin: plugin_token.clone(),
                error,
            };
            async move {
                let Ok(bytes) = serde_json::to_vec(&payload) else {
                    return;
                };
                if let Some(reply) = reply {
                    let _ = shared.bus.publish(reply, bytes.clone().into()).await;
                }
                let _ = shared
                    .bus
                    .publish(
                        protocol::command_error_subject(&payload.plugin),
                        bytes.into(),
                    )
                    .await;
            }
        };
        let Ok(name) = plugin_token.parse::<PluginName>() else {
            refuse(format!("\"{plugin_token}\" is not a valid plugin name")).await;
            continue;
        };
        let Some(handle) = shared.plugin(&name) else {
            refuse(format!("no plugin named \"{name}\" is installed")).await;
            continue;
        };
        if handle.mailbox.is_none() {
            let state = handle.live.state();
            refuse(format!(
                "plugin \"{name}\" is not running ({state}); see `rosey status`"
            ))
            .await;
            continue;
        }
        let declared = shared
            .commands
            .read()
            .is_ok_and(|commands| commands.declares(&name, &request.command));
        if !declared {
            refuse(format!(
                "plugin \"{name}\" has no command \"{}\"",
                request.command
            ))
            .await;
            continue;
        }
        let command = Command {
            name: request.command.clone(),
            arg_text: request.args.join(" "),
            args: request.args.clone(),
            user: request.user.clone(),
            channel: request.channel.clone(),
        };
        let target = ReplyTo::Execute {
            correlation_id: request.correlation_id.clone(),
            reply: reply.clone(),
        };
        if !handle.deliver(Event::Command(command, target)) {
            refuse(format!("plugin \"{name}\" is busy or not running")).await;
        }
    }
}

pub(super) async fn forward_subscription(
    shared: Arc<Shared>,
    plugin: PluginName,
    mut messages: async_nats::Subscriber,
) {
    while let Some(message) = messages.next().await {
        let Some(handle) = shared.plugin(&plugin) else {
            return;
        };
        if message.payload.len() > crate::capabilities::MAX_INBOUND_PAYLOAD {
            continue;
        }
        let Some(mailbox) = &handle.mailbox else {
            continue;
        };
        // Wait a little for room rather than drop at once: a plugin paused
        // for an update or a restart catches up, and only one that stays
        // stuck loses messages (counted). Chat commands, routed by one task
        // for every plugin, never wait.
        let message: Message = crate::bus::from_nats(message);
        // Room at once is the common case: no timer to arm.
        let event = match mailbox.try_send(Event::Message(message)) {
            Ok(()) => continue,
            Err(mpsc::error::TrySendError::Full(event)) => event,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                if let Some(ctx) = &handle.ctx {
                    ctx.stats.bump_dropped();
                }
                continue;
            }
        };
        let sent = tokio::time::timeout(MAILBOX_WAIT, mailbox.send(event)).await;
        if !matches!(sent, Ok(Ok(()))) {
            if let Some(ctx) = &handle.ctx {
                ctx.stats.bump_dropped();
            }
            tracing::debug!(plugin = %plugin, "mailbox full; a message was dropped");
        }
    }
}
