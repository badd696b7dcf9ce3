//! What a plugin asks for before it is installed, in words, and the digest
//! an approval binds to: the exact file and the exact set of powers the
//! operator was shown.
//!
//! `rosey plugin install` prints this description before it asks; the admin
//! API returns it from `POST /api/plugins/inspect`, and the install request
//! must carry the [`Asked::approval`] digest it was shown.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::package::{Manifest, Permission};

/// What a permission lets a plugin do, in words.
pub fn explain(permission: Permission) -> &'static str {
    match permission {
        Permission::ReadMessages => "read every chat message in the channels the bot is in",
        Permission::SendMessages => "send chat messages on its own",
        Permission::DatabaseAccess => "keep data in its own private database",
        Permission::FileRead => "read files in its own /data directory",
        Permission::FileWrite => "write files in its own /data directory",
        Permission::HttpRequests => "make HTTP requests to the hosts listed below",
    }
}

/// One permission and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionAsked {
    /// Its manifest name (`database_access`).
    pub name: &'static str,
    /// What it lets the plugin do.
    pub meaning: &'static str,
}

/// The limits a plugin runs under, in bytes and milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitsAsked {
    /// Linear memory, summed over all memories.
    pub memory: u64,
    /// Fuel per call.
    pub fuel_per_call: u64,
    /// Wall-clock time per call.
    pub timeout_ms: u64,
    /// Files plus database.
    pub storage: u64,
    /// How fast it may publish (`20/s`).
    pub publish_rate: String,
}

/// Everything a plugin asks for: what an operator approves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Asked {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One line on what it does.
    pub description: Option<String>,
    /// Who wrote it (as the manifest says; not verified).
    pub author: Option<String>,
    /// Its permissions, each explained.
    pub permissions: Vec<PermissionAsked>,
    /// Hosts it may reach over HTTP.
    pub allowed_hosts: Vec<String>,
    /// NATS subjects it subscribes to.
    pub subscribe: Vec<String>,
    /// NATS subjects it publishes on.
    pub publish: Vec<String>,
    /// Chat commands it answers (without the prefix).
    pub commands: Vec<String>,
    /// Its limits.
    pub limits: LimitsAsked,
}

impl Asked {
    /// What `manifest` asks for.
    pub fn of(manifest: &Manifest) -> Self {
        let limits = manifest.limits();
        Self {
            name: manifest.name.to_string(),
            version: manifest.version.to_string(),
            description: manifest.description.clone(),
            author: manifest.author.clone(),
            permissions: manifest
                .permissions
                .iter()
                .map(|p| PermissionAsked {
                    name: p.as_str(),
                    meaning: explain(*p),
                })
                .collect(),
            allowed_hosts: manifest.network.allowed_hosts.clone(),
            subscribe: manifest.subjects.subscribe.clone(),
            publish: manifest.subjects.publish.clone(),
            commands: manifest
                .commands
                .iter()
                .map(|c| c.name.to_string())
                .collect(),
            limits: LimitsAsked {
                memory: limits.memory,
                fuel_per_call: limits.fuel_per_call,
                timeout_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                storage: limits.storage,
                publish_rate: limits.publish_rate.to_string(),
            },
        }
    }

    /// The digest an approval of this request carries: sha256 over the
    /// package file's sha256 and every power asked for (permissions,
    /// subjects, hosts, limits), in a fixed order. A different file, or the
    /// same plugin asking for anything else, gives a different digest.
    pub fn approval(&self, file_sha256: &str) -> String {
        let mut permissions: Vec<&str> = self.permissions.iter().map(|p| p.name).collect();
        permissions.sort_unstable();
        let sorted = |items: &[String]| {
            let mut items = items.to_vec();
            items.sort();
            items
        };
        let canonical = serde_json::json!({
            "format": "rosey-approval-1",
            "file_sha256": file_sha256,
            "name": self.name,
            "version": self.version,
            "permissions": permissions,
            "allowed_hosts": sorted(&self.allowed_hosts),
            "subscribe": sorted(&self.subscribe),
            "publish": sorted(&self.publish),
            "limits": self.limits,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> Manifest {
        Manifest::from_yaml(&format!(
            "manifest_version: 1\nname: greeter\nversion: 0.1.0\nrosey_api: \"^0.1\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn the_approval_binds_the_file_and_every_power() {
        let base = Asked::of(&manifest("permissions: [database_access]\n"));
        let approval = base.approval("aa");
        assert_eq!(approval, base.approval("aa"), "the digest is stable");
        assert_ne!(approval, base.approval("ab"), "another file");
        for other in [
            "permissions: [database_access, send_messages]\n",
            "permissions: []\n",
            "permissions: [database_access]\nresources: { memory: 32MiB }\n",
            "permissions: [database_access]\nsubjects: { publish: [rosey.plugins.greeter.x] }\n",
        ] {
            assert_ne!(
                Asked::of(&manifest(other)).approval("aa"),
                approval,
                "{other}"
            );
        }
    }

    #[test]
    fn every_permission_is_explained() {
        let asked = Asked::of(&manifest(
            "permissions: [read_messages, send_messages, database_access, file_read, file_write, http_requests]\nnetwork: { allowed_hosts: [\"api.example.com:443\"] }\n",
        ));
        assert_eq!(asked.permissions.len(), 6);
        assert!(asked.permissions.iter().all(|p| !p.meaning.is_empty()));
        assert_eq!(asked.allowed_hosts, ["api.example.com:443"]);
    }
}
