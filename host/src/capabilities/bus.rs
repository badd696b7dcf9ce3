//! The `bus` import: publish and request over NATS, inside the plugin's grants.

use std::time::Duration;

use super::HostError;
use super::grants::SEND_MESSAGE_SUBJECT;
use crate::bus::{Bus, RequestError};
use crate::protocol::SendMessage;
use crate::runtime::bindings::rosey::plugin::bus::Host;
use crate::runtime::bindings::rosey::plugin::types::Message;
use crate::runtime::state::PluginState;

/// The largest payload a plugin may publish (NATS's default `max_payload`).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// The longest a request may wait for its reply.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl PluginState {
    /// The checks every outgoing message passes (publish, request and
    /// chat.send alike): grants first, then, on the chat subject, a valid
    /// message that speaks as this plugin, then size and rate. Returns the
    /// payload to send.
    pub(crate) fn check_outgoing(
        &mut self,
        subject: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, HostError> {
        self.ctx.grants.check_publish(subject)?;
        let payload = if subject == SEND_MESSAGE_SUBJECT {
            self.own_chat_message(&payload)?
        } else {
            payload
        };
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(HostError::Limit(format!(
                "a payload may be at most {} KiB",
                MAX_PAYLOAD_BYTES >> 10
            )));
        }
        if !self.ctx.try_publish() {
            return Err(HostError::Limit(format!(
                "publish rate limit of {} reached",
                self.ctx.limits.publish_rate
            )));
        }
        Ok(payload)
    }

    fn bus(&self) -> Result<Bus, HostError> {
        self.ctx
            .bus
            .clone()
            .ok_or_else(|| HostError::Unavailable("the host is not connected to NATS".into()))
    }

    /// Publish after [`check_outgoing`](Self::check_outgoing).
    pub(crate) async fn publish_checked(
        &mut self,
        subject: String,
        payload: Vec<u8>,
    ) -> Result<(), HostError> {
        let payload = self.check_outgoing(&subject, payload)?;
        self.bus()?
            .publish(subject, None, payload)
            .await
            .map_err(|e| HostError::Unavailable(format!("publish failed: {e}")))?;
        self.ctx.stats.bump_published();
        Ok(())
    }
}

impl Host for PluginState {
    async fn publish(&mut self, subject: String, payload: Vec<u8>) -> Result<(), HostError> {
        self.publish_checked(subject, payload).await
    }

    async fn request(
        &mut self,
        subject: String,
        payload: Vec<u8>,
        timeout_ms: u32,
    ) -> Result<Message, HostError> {
        let payload = self.check_outgoing(&subject, payload)?;
        let bus = self.bus()?;
        let wait = Duration::from_millis(u64::from(timeout_ms))
            .min(MAX_REQUEST_TIMEOUT)
            .min(self.ctx.deadline.remaining());
        // A private inbox per plugin: replies to one plugin's requests are
        // never delivered under another plugin's prefix.
        let unique = bus.new_inbox();
        let inbox = format!(
            "_INBOX.rosey.{}.{}",
            self.ctx.name,
            unique.trim_start_matches("_INBOX.")
        );
        let reply = bus.request(subject.clone(), inbox, payload, wait).await;
        if !matches!(reply, Err(RequestError::Failed(_))) {
            self.ctx.stats.bump_published();
        }
        match reply {
            Ok(msg) if msg.payload.len() > MAX_PAYLOAD_BYTES => {
                Err(HostError::Limit("the reply is too large".into()))
            }
            Ok(msg) => Ok(msg),
            Err(RequestError::NoResponders) => Err(HostError::Unavailable(format!(
                "nothing is listening on \"{subject}\""
            ))),
            Err(RequestError::TimedOut) => Err(HostError::Unavailable(format!(
                "no reply on \"{subject}\" within {} ms",
                wait.as_millis()
            ))),
            Err(RequestError::Failed(e)) => {
                Err(HostError::Unavailable(format!("request failed: {e}")))
            }
        }
    }
}

impl PluginState {
    /// A chat message published directly on `rosey.chat.send_message` must
    /// be a valid message and speaks as this plugin, whatever its `plugin`
    /// field said.
    fn own_chat_message(&self, payload: &[u8]) -> Result<Vec<u8>, HostError> {
        let mut message: SendMessage = serde_json::from_slice(payload).map_err(|e| {
            HostError::Invalid(format!(
                "a message on {SEND_MESSAGE_SUBJECT} must be {{\"channel\", \"text\"}} JSON: {e}"
            ))
        })?;
        super::chat::check_message(&message.channel, &message.text)?;
        message.plugin = self.ctx.name.to_string();
        serde_json::to_vec(&message).map_err(|e| HostError::Other(e.to_string()))
    }
}
