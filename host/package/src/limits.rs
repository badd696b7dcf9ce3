//! [`Limits`]: the resource limits a plugin runs under, from its manifest's
//! `resources:` with safe defaults, and the bounds a manifest may ask for.

use std::time::Duration;

use super::manifest::Manifest;
use super::units::Rate;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Linear memory when the manifest does not say.
pub const DEFAULT_MEMORY: u64 = 64 * MIB;
/// Fuel per call when the manifest does not say.
pub const DEFAULT_FUEL_PER_CALL: u64 = 2_000_000_000;
/// Wall-clock time per call when the manifest does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Disk quota when the manifest does not say.
pub const DEFAULT_STORAGE: u64 = 100 * MIB;
/// Publish rate when the manifest does not say: 20 per second.
pub const DEFAULT_PUBLISH_RATE: Rate = Rate {
    count: 20,
    per: Duration::from_secs(1),
};

/// The most linear memory a manifest may ask for.
pub const MAX_MEMORY: u64 = GIB;
/// The least linear memory a manifest may ask for.
pub const MIN_MEMORY: u64 = MIB;
/// The longest per-call timeout a manifest may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The shortest per-call timeout a manifest may ask for.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);
/// The largest disk quota a manifest may ask for.
pub const MAX_STORAGE: u64 = 10 * GIB;
/// The most fuel per call a manifest may ask for.
pub const MAX_FUEL_PER_CALL: u64 = 100_000_000_000;

/// The limits a plugin runs under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of linear memory, summed over all memories.
    pub memory: u64,
    /// Fuel for each call into the plugin.
    pub fuel_per_call: u64,
    /// Wall-clock time for each call into the plugin.
    pub timeout: Duration,
    /// Bytes of disk: files plus database.
    pub storage: u64,
    /// How fast the plugin may publish.
    pub publish_rate: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: DEFAULT_MEMORY,
            fuel_per_call: DEFAULT_FUEL_PER_CALL,
            timeout: DEFAULT_TIMEOUT,
            storage: DEFAULT_STORAGE,
            publish_rate: DEFAULT_PUBLISH_RATE,
        }
    }
}

impl Manifest {
    /// The manifest's `resources:` with defaults filled in. The bounds were
    /// checked by [`Manifest::validate`].
    pub fn limits(&self) -> Limits {
        let asked = &self.resources;
        let defaults = Limits::default();
        Limits {
            memory: asked.memory.map_or(defaults.memory, |m| m.0),
            fuel_per_call: asked.fuel_per_call.unwrap_or(defaults.fuel_per_call),
            timeout: asked.timeout.map_or(defaults.timeout, |t| t.0),
            storage: asked.storage.map_or(defaults.storage, |s| s.0),
            publish_rate: asked.publish_rate.clone().unwrap_or(defaults.publish_rate),
        }
    }
}
