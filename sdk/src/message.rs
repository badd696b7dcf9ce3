//! Messages from the bus, and the chat events they usually carry.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::wit::rosey::plugin::types::Message as WitMessage;

/// A message delivered from, or received over, the message bus (NATS).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The subject it was published on, e.g. `rosey.chat.message.chat`.
    pub subject: String,
    /// The raw payload; chat events are JSON (see [`Message::chat`]).
    pub payload: Vec<u8>,
    /// Message headers, in the order they were received.
    pub headers: Vec<(String, String)>,
    /// The subject a reply should go to, if the sender expects one.
    pub reply_to: Option<String>,
}

impl Message {
    /// The payload parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.payload)?)
    }

    /// The payload as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        Ok(std::str::from_utf8(&self.payload)?)
    }

    /// The value of the first header named `name` (compared ignoring ASCII case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The payload as a chat event (`rosey.chat.message.chat`), or `None` if
    /// it is not one.
    pub fn chat(&self) -> Option<ChatMessage> {
        serde_json::from_slice(&self.payload).ok()
    }
}

impl From<WitMessage> for Message {
    fn from(msg: WitMessage) -> Self {
        Message {
            subject: msg.subject,
            payload: msg.payload,
            headers: msg.headers,
            reply_to: msg.reply_to,
        }
    }
}

/// A chat message as the bot core publishes it on `rosey.chat.message.chat`:
///
/// ```json
/// {"id": "m-81", "channel": "lobby", "user": "alice", "text": "hi", "timestamp": 1732240000000}
/// ```
///
/// Fields this type does not know are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The chat platform's id for the message, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The channel (room) it was said in.
    pub channel: String,
    /// Who said it.
    pub user: String,
    /// What was said.
    pub text: String,
    /// When, in milliseconds since the Unix epoch, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &str) -> Message {
        Message {
            subject: "rosey.chat.message.chat".into(),
            payload: payload.as_bytes().to_vec(),
            ..Message::default()
        }
    }

    #[test]
    fn chat_parses_the_documented_shape_and_ignores_extra_fields() {
        let msg = message(
            r#"{"id": "m-81", "channel": "lobby", "user": "alice", "text": "hi", "timestamp": 1732240000000, "extra": [1]}"#,
        );
        let chat = msg.chat().unwrap();
        assert_eq!(chat.id.as_deref(), Some("m-81"));
        assert_eq!(chat.channel, "lobby");
        assert_eq!(chat.user, "alice");
        assert_eq!(chat.text, "hi");
        assert_eq!(chat.timestamp, Some(1_732_240_000_000));
    }

    #[test]
    fn chat_id_and_timestamp_are_optional() {
        let chat = message(r#"{"channel": "c", "user": "u", "text": "t"}"#)
            .chat()
            .unwrap();
        assert_eq!((chat.id, chat.timestamp), (None, None));
        assert!(message(r#"{"channel": "c"}"#).chat().is_none());
        assert!(message("not json").chat().is_none());
    }

    #[test]
    fn json_and_headers() {
        let mut msg = message(r#"{"n": 3}"#);
        msg.headers.push(("Correlation-Id".into(), "c-7".into()));
        let value: serde_json::Value = msg.json().unwrap();
        assert_eq!(value["n"], 3);
        assert_eq!(msg.header("correlation-id"), Some("c-7"));
        assert!(msg.json::<Vec<u8>>().is_err());
    }
}
