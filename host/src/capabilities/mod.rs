//! The host imports a plugin can call, one file per WIT interface.
//!
//! Every capability checks the plugin's [`Grants`] itself: a call that needs a
//! permission the manifest did not ask for returns `error::denied`, whatever
//! else happens.

mod bus;
pub mod chat;
mod config;
pub mod database;
pub mod grants;
pub mod http;
mod kv;
pub mod log;
mod sql;
pub mod stdio;

pub use bus::MAX_PAYLOAD_BYTES as MAX_INBOUND_PAYLOAD;
pub use grants::Grants;

use crate::runtime::bindings::WitError;
use crate::runtime::state::PluginState;

/// The error side of every fallible import, before it is handed to the guest.
///
/// The first five map one-to-one onto the WIT `error` variant; [`HostError::Trap`]
/// aborts the guest instead (used when continuing would be unsafe).
#[derive(Debug)]
pub enum HostError {
    /// A permission is missing.
    Denied(String),
    /// An argument is malformed.
    Invalid(String),
    /// A limit was hit.
    Limit(String),
    /// A backing service is unavailable.
    Unavailable(String),
    /// Anything else.
    Other(String),
    /// Abort the guest call with this error.
    Trap(wasmtime::Error),
}

impl HostError {
    /// A call that needs `permission`, which the plugin was not granted.
    pub fn denied(permission: crate::package::Permission, what: &str) -> Self {
        Self::Denied(format!(
            "{what} needs the `{permission}` permission, which this plugin's manifest does not ask for"
        ))
    }
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Denied(m) => write!(f, "denied: {m}"),
            Self::Invalid(m) => write!(f, "invalid: {m}"),
            Self::Limit(m) => write!(f, "limit: {m}"),
            Self::Unavailable(m) => write!(f, "unavailable: {m}"),
            Self::Other(m) => write!(f, "{m}"),
            Self::Trap(e) => write!(f, "trap: {e:#}"),
        }
    }
}

impl crate::runtime::bindings::rosey::plugin::types::Host for PluginState {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<WitError> {
        let stats = &self.ctx.stats;
        Ok(match err {
            HostError::Denied(m) => {
                stats.bump_denied();
                self.ctx.log.warn(&format!("denied: {m}"));
                WitError::Denied(m)
            }
            HostError::Limit(m) => {
                stats.bump_limit_hit();
                self.ctx.log.warn(&format!("limit: {m}"));
                WitError::Limit(m)
            }
            HostError::Invalid(m) => WitError::Invalid(m),
            HostError::Unavailable(m) => WitError::Unavailable(m),
            HostError::Other(m) => WitError::Other(m),
            HostError::Trap(e) => return Err(e),
        })
    }
}
