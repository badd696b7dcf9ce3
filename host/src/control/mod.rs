//! The control channel: how the CLI asks a running host to install, update,
//! approve, remove, enable or disable a plugin without a restart.
//!
//! A Unix socket at `run/control.sock` (mode 0600 inside the owner-only
//! home) carries one JSON request line and one JSON reply line per
//! connection. Only the host's owner may use it: the host checks the peer's
//! uid (`SO_PEERCRED`) on every connection, so a permission mistake on the
//! home does not open it to other users.

pub mod client;
pub mod server;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::provenance::Origin;
pub use crate::supervisor::Outcome;

/// The longest request line the host reads.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// What the CLI asks of the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Is anyone there?
    Ping,
    /// Install the package at `path` (absolute), if it still has `sha256`.
    /// The host checks `signature` against its own trusted keys and policy.
    Install {
        /// The `.roseyplug` or `.wasm` file.
        path: PathBuf,
        /// sha256 of the file as the operator was shown it.
        sha256: Option<String>,
        /// The file's detached signature, if it has one.
        #[serde(default)]
        signature: Option<String>,
        /// Where the file came from (absent: the file itself).
        #[serde(default)]
        origin: Option<Origin>,
    },
    /// Update a plugin from the package at `path`.
    Update {
        /// The `.roseyplug` or `.wasm` file.
        path: PathBuf,
        /// sha256 of the file as the operator was shown it.
        sha256: Option<String>,
        /// The file's detached signature, if it has one.
        #[serde(default)]
        signature: Option<String>,
        /// Where the file came from (absent: the file itself).
        #[serde(default)]
        origin: Option<Origin>,
        /// Update even if plugins that depend on this one will not accept
        /// the new version.
        #[serde(default)]
        force: bool,
    },
    /// Apply the update of `name` that waits for approval.
    Approve {
        /// The plugin.
        name: String,
        /// sha256 of the pending component the operator was shown.
        digest: Option<String>,
        /// As for `update`.
        #[serde(default)]
        force: bool,
    },
    /// Stop a plugin and delete it with its data.
    Remove {
        /// The plugin.
        name: String,
        /// Remove it even if other plugins depend on it.
        #[serde(default)]
        force: bool,
    },
    /// Enable and start a plugin.
    Enable {
        /// The plugin.
        name: String,
    },
    /// Stop a plugin and keep it off.
    Disable {
        /// The plugin.
        name: String,
    },
    /// Apply a plugin's pending migrations.
    Migrate {
        /// The plugin.
        name: String,
    },
    /// Replace a plugin's config.yaml (checked against its schema) and
    /// give the running plugin the change.
    Configure {
        /// The plugin.
        name: String,
        /// The new config.yaml text.
        text: String,
    },
    /// Swap in the restore the CLI verified and staged in `run/restore/`.
    Restore,
    /// Revert a plugin's last `steps` migrations (it is left disabled).
    Rollback {
        /// The plugin.
        name: String,
        /// How many.
        steps: usize,
    },
}

impl Request {
    /// What to log about the request: the operation and its plugin or file,
    /// never the contents it carries (a config may hold secrets).
    pub fn summary(&self) -> String {
        match self {
            Self::Ping => "ping".into(),
            Self::Restore => "restore".into(),
            Self::Install { path, .. } => format!("install {}", path.display()),
            Self::Update { path, .. } => format!("update {}", path.display()),
            Self::Approve { name, .. } => format!("approve {name}"),
            Self::Remove { name, .. } => format!("remove {name}"),
            Self::Enable { name } => format!("enable {name}"),
            Self::Disable { name } => format!("disable {name}"),
            Self::Migrate { name } => format!("migrate {name}"),
            Self::Rollback { name, steps } => format!("rollback {name} {steps}"),
            Self::Configure { name, .. } => format!("configure {name}"),
        }
    }
}

/// The host's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// It was done (or, for an update needing approval, kept pending).
    Done(Outcome),
    /// It was refused or failed; nothing changed unless the message says so.
    Failed(String),
}
