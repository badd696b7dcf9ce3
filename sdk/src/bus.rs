//! Publish and request over the message bus (NATS).
//!
//! Every subject is checked by the host on every call:
//! `rosey.plugins.<own-name>.*` is always allowed, `rosey.chat.send_message`
//! needs `send_messages` (prefer [`chat::send`](crate::chat::send)), anything
//! else must match the manifest's `subjects.publish`. Wildcards are never
//! allowed in a published subject.

use std::time::Duration;

use serde::Serialize;

use crate::wit::rosey::plugin::bus;
use crate::{Message, Result};

/// Publishes `payload` on `subject`.
pub fn publish(subject: &str, payload: impl AsRef<[u8]>) -> Result<()> {
    Ok(bus::publish(subject, payload.as_ref())?)
}

/// Publishes `value` as JSON on `subject`.
pub fn publish_json<T: Serialize + ?Sized>(subject: &str, value: &T) -> Result<()> {
    publish(subject, serde_json::to_vec(value)?)
}

/// Publishes `payload` on `subject` and waits up to `timeout` for one reply.
///
/// The wait is also bounded by the plugin's per-call deadline; a timeout is
/// [`Error::Unavailable`](crate::Error::Unavailable).
pub fn request(subject: &str, payload: impl AsRef<[u8]>, timeout: Duration) -> Result<Message> {
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    Ok(bus::request(subject, payload.as_ref(), timeout_ms)?.into())
}
