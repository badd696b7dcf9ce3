//! The `chat` import: say something in a channel.

use super::HostError;
use super::grants::SEND_MESSAGE_SUBJECT;
use crate::package::Permission;
use crate::protocol::SendMessage;
use crate::runtime::bindings::rosey::plugin::chat::Host;
use crate::runtime::state::PluginState;

/// The longest chat message a plugin may send, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// The longest channel name.
pub const MAX_CHANNEL_CHARS: usize = 128;

impl Host for PluginState {
    async fn send(&mut self, channel: String, text: String) -> Result<(), HostError> {
        self.ctx
            .grants
            .require(Permission::SendMessages, "chat.send")?;
        check_message(&channel, &text)?;
        let payload = serde_json::to_vec(&SendMessage {
            channel,
            text,
            plugin: self.ctx.name.to_string(),
            reply_to: None,
        })
        .map_err(|e| HostError::Other(e.to_string()))?;
        self.publish_checked(SEND_MESSAGE_SUBJECT.to_owned(), payload)
            .await
    }
}

/// The rules every chat message from a plugin follows, however it is sent.
pub(crate) fn check_message(channel: &str, text: &str) -> Result<(), HostError> {
    if channel.is_empty()
        || channel.chars().count() > MAX_CHANNEL_CHARS
        || channel.chars().any(char::is_control)
    {
        return Err(HostError::Invalid(format!(
            "a channel name must be 1 to {MAX_CHANNEL_CHARS} printable characters"
        )));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(HostError::Limit(format!(
            "a chat message may be at most {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(())
}
