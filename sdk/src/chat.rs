//! Talk in chat. Needs the `send_messages` permission.
//!
//! A command's reply needs no permission: return it from
//! [`Plugin::on_command`](crate::Plugin::on_command) and the host sends it.

use crate::Result;
use crate::wit::rosey::plugin::chat;

/// Sends `text` to `channel`.
pub fn send(channel: &str, text: &str) -> Result<()> {
    Ok(chat::send(channel, text)?)
}
