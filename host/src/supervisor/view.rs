//! What the admin API reads from a running host: its status, one plugin's
//! record and live state, its metrics. Read-only; like every reader of the
//! plugin table, it clones an `Arc` and holds no lock across an await.

use super::status::{HostStatus, PluginStatus};
use super::{Control, build_status, plugin_status};
use crate::home::RoseyHome;
use crate::package::PluginName;
use crate::registry::InstalledPlugin;
use crate::runtime::Runtime;

/// One plugin as the running host sees it.
#[derive(Debug, Clone)]
pub struct PluginView {
    /// Its record in `host.db`, as the host loaded it.
    pub installed: InstalledPlugin,
    /// Its live state and counters.
    pub status: PluginStatus,
    /// Whether it takes events (running and not quarantined).
    pub serving: bool,
}

impl Control {
    /// The home this host runs on.
    pub fn home(&self) -> &RoseyHome {
        &self.shared.config.home
    }

    /// The host's runtime (to check a package as an install would).
    pub fn runtime(&self) -> &Runtime {
        &self.shared.runtime
    }

    /// The host's status, as `run/status.json` has it.
    pub fn status(&self) -> HostStatus {
        build_status(&self.shared)
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics_text(&self) -> String {
        super::metrics::render(&self.shared)
    }

    /// Every plugin the host knows, by name.
    pub fn plugin_views(&self) -> Vec<PluginView> {
        self.shared.handles().iter().map(|h| view(h)).collect()
    }

    /// One plugin, if the host knows it.
    pub fn plugin_view(&self, name: &PluginName) -> Option<PluginView> {
        self.shared.plugin(name).map(|h| view(&h))
    }
}

fn view(handle: &super::PluginHandle) -> PluginView {
    PluginView {
        installed: handle.installed.clone(),
        status: plugin_status(handle),
        serving: handle.serving(),
    }
}
