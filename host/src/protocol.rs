//! The NATS subjects and JSON payloads Rosey shares with the bot core.
//!
//! The bot core is someone else's program: these shapes are a public
//! contract, documented in `docs/subjects.md`. Unknown fields are ignored on
//! input; optional fields may be absent.

use serde::{Deserialize, Serialize};

/// Chat events from the bot core arrive under this prefix, e.g.
/// `rosey.chat.message.chat` or `rosey.chat.message.user_joined`.
pub const CHAT_EVENTS: &str = "rosey.chat.message.>";
/// A plain chat message.
pub const CHAT_MESSAGE: &str = "rosey.chat.message.chat";
/// Where plugins (and command replies) send chat messages.
pub const SEND_MESSAGE: &str = "rosey.chat.send_message";
/// Direct command execution: `rosey.commands.<plugin>.execute`.
pub const COMMAND_EXECUTE: &str = "rosey.commands.*.execute";

/// Milliseconds since the Unix epoch: the unit of every timestamp Rosey
/// writes (payloads, host.db, status).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `rosey.commands.<plugin>.result`.
pub fn command_result_subject(plugin: &str) -> String {
    format!("rosey.commands.{plugin}.result")
}

/// `rosey.commands.<plugin>.error`.
pub fn command_error_subject(plugin: &str) -> String {
    format!("rosey.commands.{plugin}.error")
}

/// `rosey.chat.message.chat`: someone said something.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatMessage {
    /// The bot core's id for the message, echoed as `reply_to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The channel (room) it was said in.
    pub channel: String,
    /// Who said it.
    pub user: String,
    /// What they said.
    pub text: String,
    /// Milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// `rosey.chat.send_message`: say something in a channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendMessage {
    /// The channel to say it in.
    pub channel: String,
    /// What to say.
    pub text: String,
    /// The plugin that is speaking (set by the host, whatever a plugin sent).
    #[serde(default)]
    pub plugin: String,
    /// The id of the chat message this answers, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// `rosey.commands.<plugin>.execute`: run a plugin's command directly.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandExecute {
    /// Echoed in the result or error.
    pub correlation_id: String,
    /// The command's name, without prefix.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// On whose behalf.
    #[serde(default)]
    pub user: String,
    /// In which channel.
    #[serde(default)]
    pub channel: String,
}

/// `rosey.commands.<plugin>.result`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandResult {
    /// From the request.
    pub correlation_id: String,
    /// The plugin that ran the command.
    pub plugin: String,
    /// The reply text (absent if the command had nothing to say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `rosey.commands.<plugin>.error`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandError {
    /// From the request.
    pub correlation_id: String,
    /// The plugin addressed.
    pub plugin: String,
    /// What went wrong.
    pub error: String,
}

/// A chat line parsed as a command: `!quote add hello` with prefix `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand {
    /// `quote`
    pub name: String,
    /// `["add", "hello"]`
    pub args: Vec<String>,
    /// `add hello`
    pub arg_text: String,
}

/// Parse `text` as a command if it starts with `prefix` followed by a name.
pub fn parse_command(text: &str, prefix: &str) -> Option<ParsedCommand> {
    let rest = text.trim_start().strip_prefix(prefix)?;
    let rest = rest.trim_start_matches(' ');
    let (name, arg_text) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    if name.is_empty() || name.len() > 32 {
        return None;
    }
    Some(ParsedCommand {
        name: name.to_ascii_lowercase(),
        args: arg_text.split_whitespace().map(str::to_owned).collect(),
        arg_text: arg_text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        let c = parse_command("!quote add  hello  world ", "!").unwrap();
        assert_eq!(c.name, "quote");
        assert_eq!(c.args, ["add", "hello", "world"]);
        assert_eq!(c.arg_text, "add  hello  world");
        let c = parse_command("!Echo", "!").unwrap();
        assert_eq!(c.name, "echo");
        assert!(c.args.is_empty());
        assert_eq!(parse_command("hello !quote", "!"), None);
        assert_eq!(parse_command("!", "!"), None);
        assert_eq!(parse_command("! quote", "!").unwrap().name, "quote");
    }

    #[test]
    fn chat_payloads_ignore_unknown_fields() {
        let m: ChatMessage = serde_json::from_str(
            r#"{"id":"m-81","channel":"lobby","user":"alice","text":"!quote","timestamp":1,"extra":true}"#,
        )
        .unwrap();
        assert_eq!(m.id.as_deref(), Some("m-81"));
        let m: ChatMessage =
            serde_json::from_str(r#"{"channel":"lobby","user":"a","text":"hi"}"#).unwrap();
        assert_eq!(m.id, None);
    }
}
