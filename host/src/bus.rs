//! Where plugins' outgoing messages go: NATS when the host runs, memory when
//! `rosey plugin test` runs a plugin's scenarios (no server needed, and every
//! message is kept for the scenario to check).
//!
//! Grants, payload sizes and rates are checked by the capabilities before a
//! message gets here; this only carries it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;

use crate::package::subject_matches;
use crate::runtime::bindings::rosey::plugin::types::Message;

/// A message bus a plugin's context can publish and request on.
#[derive(Clone)]
pub enum Bus {
    /// A NATS connection (the host).
    Nats(async_nats::Client),
    /// Memory (scenario tests).
    Memory(Arc<MemoryBus>),
}

/// Why a request got no usable answer.
#[derive(Debug)]
pub enum RequestError {
    /// Nothing listens on the subject.
    NoResponders,
    /// Nothing answered in time.
    TimedOut,
    /// The bus failed.
    Failed(String),
}

impl Bus {
    /// Publish `payload` on `subject`, with `reply` as its reply subject.
    pub async fn publish(
        &self,
        subject: String,
        reply: Option<String>,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        match self {
            Self::Nats(client) => match reply {
                Some(reply) => client
                    .publish_with_reply(subject, reply, payload.into())
                    .await
                    .map_err(|e| e.to_string()),
                None => client
                    .publish(subject, payload.into())
                    .await
                    .map_err(|e| e.to_string()),
            },
            Self::Memory(memory) => {
                memory.record(subject, reply, payload);
                Ok(())
            }
        }
    }

    /// A fresh, unique inbox subject (`_INBOX.<unique>`).
    pub fn new_inbox(&self) -> String {
        match self {
            Self::Nats(client) => client.new_inbox(),
            Self::Memory(memory) => {
                let n = memory
                    .inboxes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("_INBOX.memory{n}")
            }
        }
    }

    /// Send a request on `subject` and wait up to `wait` for one reply,
    /// which arrives on `inbox` (a subject private to the requester).
    pub async fn request(
        &self,
        subject: String,
        inbox: String,
        payload: Vec<u8>,
        wait: Duration,
    ) -> Result<Message, RequestError> {
        match self {
            Self::Nats(client) => {
                let mut replies = client
                    .subscribe(inbox.clone())
                    .await
                    .map_err(|e| RequestError::Failed(e.to_string()))?;
                client
                    .publish_with_reply(subject, inbox, payload.into())
                    .await
                    .map_err(|e| RequestError::Failed(e.to_string()))?;
                let reply = tokio::time::timeout(wait, replies.next()).await;
                let _ = replies.unsubscribe().await;
                match reply {
                    Ok(Some(msg)) if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) => {
                        Err(RequestError::NoResponders)
                    }
                    Ok(Some(msg)) => Ok(from_nats(msg)),
                    Ok(None) => Err(RequestError::Failed("the connection closed".into())),
                    Err(_) => Err(RequestError::TimedOut),
                }
            }
            Self::Memory(memory) => {
                memory.record(subject.clone(), Some(inbox.clone()), payload);
                match memory.answer(&subject) {
                    Some(payload) => Ok(Message {
                        subject: inbox,
                        payload,
                        headers: Vec::new(),
                        reply_to: None,
                    }),
                    None => Err(RequestError::NoResponders),
                }
            }
        }
    }
}

/// Convert a NATS message for the guest.
pub fn from_nats(msg: async_nats::Message) -> Message {
    let headers = msg
        .headers
        .map(|headers| {
            headers
                .iter()
                .flat_map(|(name, values)| {
                    values
                        .iter()
                        .map(move |v| (name.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Message {
        subject: msg.subject.to_string(),
        payload: msg.payload.to_vec(),
        headers,
        reply_to: msg.reply.map(|r| r.to_string()),
    }
}

/// One message published on a [`MemoryBus`].
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Its subject.
    pub subject: String,
    /// Its reply subject (set for requests).
    pub reply: Option<String>,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// A bus in memory: keeps everything published, in order, and answers
/// requests from a fixed table of responders (subject pattern → payload).
#[derive(Debug, Default)]
pub struct MemoryBus {
    published: Mutex<Vec<Published>>,
    responders: Vec<(String, Vec<u8>)>,
    inboxes: std::sync::atomic::AtomicU64,
}

impl MemoryBus {
    /// A bus whose requests on a subject matching a pattern (NATS
    /// wildcards) are answered with its payload; the first match wins.
    pub fn new(responders: Vec<(String, Vec<u8>)>) -> Self {
        Self {
            published: Mutex::default(),
            responders,
            inboxes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn record(&self, subject: String, reply: Option<String>, payload: Vec<u8>) {
        let mut published = match self.published.lock() {
            Ok(published) => published,
            Err(poisoned) => poisoned.into_inner(),
        };
        published.push(Published {
            subject,
            reply,
            payload,
        });
    }

    fn answer(&self, subject: &str) -> Option<Vec<u8>> {
        self.responders
            .iter()
            .find(|(pattern, _)| subject_matches(pattern, subject))
            .map(|(_, payload)| payload.clone())
    }

    /// Everything published since the last call, oldest first.
    pub fn take(&self) -> Vec<Published> {
        let mut published = match self.published.lock() {
            Ok(published) => published,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_bus_keeps_messages_and_answers_requests_by_pattern() {
        let memory = Arc::new(MemoryBus::new(vec![(
            "svc.*.time".into(),
            b"noon".to_vec(),
        )]));
        let bus = Bus::Memory(Arc::clone(&memory));
        bus.publish("a.b".into(), None, b"1".to_vec())
            .await
            .unwrap();
        let reply = bus
            .request(
                "svc.clock.time".into(),
                "_INBOX.x".into(),
                b"?".to_vec(),
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        assert_eq!(reply.payload, b"noon");
        assert_eq!(reply.subject, "_INBOX.x");
        let nobody = bus
            .request(
                "svc.other".into(),
                "_INBOX.y".into(),
                Vec::new(),
                Duration::from_secs(1),
            )
            .await;
        assert!(matches!(nobody, Err(RequestError::NoResponders)));
        let seen = memory.take();
        assert_eq!(
            seen.iter().map(|p| p.subject.as_str()).collect::<Vec<_>>(),
            ["a.b", "svc.clock.time", "svc.other"]
        );
        assert_eq!(seen[1].reply.as_deref(), Some("_INBOX.x"));
        assert!(memory.take().is_empty(), "take drains");
    }
}
