//! `manifest.yaml`: what a plugin is, what it asks for and what it declares
//! (architecture.md §6).
//!
//! Parsing is strict: unknown fields are errors at every level, names are
//! validated newtypes, and [`Manifest::validate`] checks everything serde
//! cannot (duplicates, reserved subjects, limits).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::manifest_error::ManifestError;
use super::name::{CommandName, PluginName, quote_for_error};
use super::units::{ByteSize, HumanDuration, Rate};
use super::version_fields;

/// The only `manifest_version` this host reads.
pub const MANIFEST_VERSION: u32 = 1;

/// The plugin API (WIT package `rosey:plugin`) version this host serves; a
/// manifest's `rosey_api` requirement must accept it.
pub const SUPPORTED_API: &str = "0.1.0";

/// [`SUPPORTED_API`] as a version (a test keeps them, and the version of
/// the WIT package in `wit/`, the same).
pub const SERVED_API: semver::Version = semver::Version::new(0, 1, 0);

/// The largest `manifest.yaml` accepted, checked before parsing.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// A parsed and validated `manifest.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format version; must be [`MANIFEST_VERSION`].
    #[schemars(range(min = 1, max = 1))]
    pub manifest_version: u32,
    /// The plugin's unique name.
    pub name: PluginName,
    /// The plugin's own version.
    #[serde(deserialize_with = "version_fields::version")]
    pub version: semver::Version,
    /// A human-friendly name for listings.
    #[serde(default)]
    pub display_name: Option<String>,
    /// What the plugin does.
    #[serde(default)]
    pub description: Option<String>,
    /// Who wrote it.
    #[serde(default)]
    pub author: Option<String>,
    /// Its license (an SPDX expression, by convention).
    #[serde(default)]
    pub license: Option<String>,
    /// Where to read more about it.
    #[serde(default)]
    pub homepage: Option<String>,
    /// Free-form keywords for search.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The plugin API versions the plugin was built for (e.g. `^0.1`).
    #[serde(deserialize_with = "version_fields::version_req")]
    #[schemars(with = "String")]
    pub rosey_api: semver::VersionReq,
    /// The capabilities the plugin asks the operator to grant.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Outgoing HTTP destinations (used with [`Permission::HttpRequests`]).
    #[serde(default)]
    pub network: Network,
    /// Extra NATS subjects the plugin subscribes to or publishes on.
    #[serde(default)]
    pub subjects: Subjects,
    /// Chat commands the plugin implements.
    #[serde(default)]
    pub commands: Vec<CommandSpec>,
    /// Timers that call the plugin's `on-schedule` export.
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// Resource limits the plugin asks for (see [`Manifest::limits`]).
    #[serde(default)]
    pub resources: Resources,
    /// A JSON Schema for the operator's `config.yaml` for this plugin.
    #[serde(default)]
    pub config_schema: Option<serde_json::Value>,
    /// Other plugins this one needs.
    #[serde(default)]
    pub dependencies: Dependencies,
}

/// A capability a plugin can be granted.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Receive chat messages (`rosey.chat.message.*`).
    ReadMessages,
    /// Send chat messages (`chat.send`, `rosey.chat.send_message`).
    SendMessages,
    /// Use the plugin's private SQLite database.
    DatabaseAccess,
    /// Read files under `/data`.
    FileRead,
    /// Write files under `/data`.
    FileWrite,
    /// Make outgoing HTTP requests to `network.allowed_hosts`.
    HttpRequests,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Permission; 6] = [
        Permission::ReadMessages,
        Permission::SendMessages,
        Permission::DatabaseAccess,
        Permission::FileRead,
        Permission::FileWrite,
        Permission::HttpRequests,
    ];

    /// The manifest spelling, e.g. `read_messages`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadMessages => "read_messages",
            Permission::SendMessages => "send_messages",
            Permission::DatabaseAccess => "database_access",
            Permission::FileRead => "file_read",
            Permission::FileWrite => "file_write",
            Permission::HttpRequests => "http_requests",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown permission {0}: expected one of read_messages, send_messages, database_access, file_read, file_write, http_requests"
)]
pub struct UnknownPermission(String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| UnknownPermission(quote_for_error(text)))
    }
}

/// `network:` outgoing HTTP destinations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// `host:port` pairs the plugin may connect to.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// `subjects:` extra NATS subject patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subjects {
    /// Patterns whose messages the plugin receives.
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// Patterns the plugin may publish on.
    #[serde(default)]
    pub publish: Vec<String>,
}

/// One `commands:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The command word (`quote` for `!quote`).
    pub name: CommandName,
    /// A one-line usage hint.
    #[serde(default)]
    pub help: Option<String>,
    /// When two plugins declare the same command, the higher priority wins.
    #[serde(default)]
    pub priority: i32,
}

/// One `schedules:` entry: exactly one of `every` and `cron`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Passed to the plugin's `on-schedule` export.
    pub name: String,
    /// A fixed interval (at least one second).
    #[serde(default)]
    pub every: Option<HumanDuration>,
    /// A five-field cron expression (`minute hour day-of-month month day-of-week`).
    #[serde(default)]
    pub cron: Option<String>,
}

/// `resources:` limits the plugin asks for; absent ones get the host's
/// defaults (see [`Manifest::limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Linear memory, summed over all memories of the component.
    #[serde(default)]
    pub memory: Option<ByteSize>,
    /// Wasm fuel for each call into the plugin.
    #[serde(default)]
    pub fuel_per_call: Option<u64>,
    /// Wall-clock time for each call into the plugin.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// Disk quota: files plus database.
    #[serde(default)]
    pub storage: Option<ByteSize>,
    /// How fast the plugin may publish.
    #[serde(default)]
    pub publish_rate: Option<Rate>,
}

/// `dependencies:` other plugins this one needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dependencies {
    /// Plugins that must be installed (and enabled) alongside.
    #[serde(default)]
    pub plugins: Vec<PluginDependency>,
}

/// One required plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginDependency {
    /// The plugin's name.
    pub name: PluginName,
    /// The versions that will do.
    #[serde(deserialize_with = "version_fields::version_req")]
    #[schemars(with = "String")]
    pub version: semver::VersionReq,
}

impl Manifest {
    /// The JSON Schema of `manifest.yaml` (draft 2020-12), derived from
    /// these types and their documentation; `docs/manifest.schema.json` is
    /// this, checked by a test. The rules serde cannot express (duplicates,
    /// reserved subjects, bounds between fields) are [`Manifest::validate`]'s.
    pub fn json_schema() -> serde_json::Value {
        let mut schema = schemars::schema_for!(Manifest).to_value();
        if let Some(object) = schema.as_object_mut() {
            object.insert(
                "title".into(),
                serde_json::Value::from("Rosey plugin manifest (manifest.yaml)"),
            );
        }
        schema
    }

    /// Parses and validates a manifest.
    ///
    /// Refuses text over [`MAX_MANIFEST_BYTES`] before parsing; unknown
    /// fields get a "did you mean" hint and keep their line and column.
    pub fn from_yaml(text: &str) -> Result<Manifest, ManifestError> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                size: text.len(),
                max: MAX_MANIFEST_BYTES,
            });
        }
        if text.trim().is_empty() {
            return Err(ManifestError::Empty);
        }
        let manifest: Manifest = yaml_serde::from_str(text).map_err(ManifestError::from_yaml)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Whether the plugin asks for `permission`.
    pub fn requests(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/manifest.schema.json` is what [`Manifest::json_schema`] gives
    /// (for editors and CI that validate manifests without Rosey). After a
    /// change to the manifest types, regenerate it with
    /// `ROSEY_BLESS=1 cargo test -p rosey-package manifest_schema`.
    #[test]
    fn manifest_schema_file_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/manifest.schema.json"
        );
        let generated = serde_json::to_string_pretty(&Manifest::json_schema()).unwrap() + "\n";
        if std::env::var_os("ROSEY_BLESS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/manifest.schema.json is out of date: run \
             `ROSEY_BLESS=1 cargo test -p rosey-package manifest_schema`"
        );
    }

    /// The plugin API a manifest's `rosey_api` is checked against is the
    /// version of the WIT package the host is built from.
    #[test]
    fn the_served_api_is_the_wit_package_version() {
        assert_eq!(SERVED_API.to_string(), SUPPORTED_API);
        let wit = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(wit).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            for line in text.lines() {
                if let Some(version) = line
                    .trim()
                    .strip_prefix("package rosey:plugin@")
                    .and_then(|rest| rest.strip_suffix(';'))
                {
                    found.push(version.to_owned());
                }
            }
        }
        assert!(!found.is_empty(), "no `package rosey:plugin@...;` in wit/");
        for version in found {
            assert_eq!(
                version, SUPPORTED_API,
                "wit/ declares rosey:plugin@{version}"
            );
        }
    }

    #[test]
    fn permissions_spell_like_the_manifest() {
        for permission in Permission::ALL {
            let text = permission.to_string();
            assert_eq!(text, permission.as_str());
            assert_eq!(text.parse::<Permission>().unwrap(), permission);
            let json = serde_json::to_string(&permission).unwrap();
            assert_eq!(json, format!("\"{text}\""));
        }
        let err = "root".parse::<Permission>().unwrap_err().to_string();
        assert!(
            err.starts_with("unknown permission \"root\": expected one of"),
            "{err}"
        );
    }
}
