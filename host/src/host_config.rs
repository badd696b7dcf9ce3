//! The host's own settings: the file `<home>/rosey.yaml`, and for each
//! setting its effective value and where that value came from.
//!
//! Precedence, lowest first: the built-in defaults, `rosey.yaml`, the
//! `ROSEY_*` environment, the command line. The home itself (`--home`,
//! `ROSEY_HOME`) cannot be set in the file, since the file lives in it.
//!
//! ```yaml
//! nats_url: nats://127.0.0.1:4222
//! metrics: 127.0.0.1:9464
//! admin:
//!   listen: 127.0.0.1:7780
//! supervision:
//!   quarantine_after: 3
//!   crash_window: 5m
//! index: https://plugins.example.org/rosey/index.json
//! trust:
//!   policy: require
//!   keys:
//!     - name: alice
//!       key: RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3
//! git:
//!   timeout: 2m
//! ```
//!
//! Every key is optional. The file is read when a host starts; a file that
//! does not parse stops the start, with its line and column.

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::package::{ByteSize, HumanDuration, PublicKey};
use crate::source::git::GitLimits;
use crate::supervisor::HostConfig;
use crate::supervisor::policy::SupervisionPolicy;
use crate::trust::{Policy, Trust, TrustedKey};

/// The largest `rosey.yaml` read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// The host's log filter when neither `rosey.yaml` nor `ROSEY_LOG` sets one.
pub const DEFAULT_LOG: &str = "info,async_nats=warn";
/// Where the admin API and dashboard listen unless `rosey.yaml`, the
/// environment or a flag says otherwise.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:7780";
/// What starts a chat command unless `rosey.yaml` says otherwise.
pub const DEFAULT_COMMAND_PREFIX: &str = "!";
/// The longest command prefix.
const MAX_PREFIX_CHARS: usize = 8;

/// One setting, as documented: `rosey config show`, the template that
/// `rosey config edit` starts from, and the operator guide list these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key in `rosey.yaml`; a dot separates a section from its key
    /// (`supervision.crash_window`).
    pub name: &'static str,
    /// What kind of value it takes.
    pub kind: &'static str,
    /// The default, as it would be written in the file (`None`: unset).
    pub default: Option<&'static str>,
    /// What being unset means, for keys without a default.
    pub unset: &'static str,
    /// An example value (the default, where there is one).
    pub example: &'static str,
    /// The environment variable that overrides the file, if any.
    pub env: Option<&'static str>,
    /// The `rosey` flag that overrides the environment, if any.
    pub flag: Option<&'static str>,
    /// One line on what it does.
    pub help: &'static str,
}

impl Key {
    /// The default as shown to people: the value, or what unset means.
    pub fn default_text(&self) -> &'static str {
        self.default.unwrap_or(self.unset)
    }
}

/// Every setting, in the order `rosey config show` lists them.
pub static KEYS: [Key; 15] = [
    Key {
        name: "nats_url",
        kind: "NATS URL",
        default: None,
        unset: "a managed local nats-server",
        example: "nats://127.0.0.1:4222",
        env: Some("ROSEY_NATS_URL"),
        flag: Some("--nats-url"),
        help: "An external NATS server; without it `rosey start` runs and supervises a local nats-server.",
    },
    Key {
        name: "command_prefix",
        kind: "string, 1 to 8 characters",
        default: Some("\"!\""),
        unset: "",
        example: "\"!\"",
        env: None,
        flag: None,
        help: "What starts a chat command (quote it: a bare ! means something else in YAML).",
    },
    Key {
        name: "metrics",
        kind: "IP:PORT",
        default: None,
        unset: "off",
        example: "127.0.0.1:9464",
        env: Some("ROSEY_METRICS_ADDR"),
        flag: Some("--metrics"),
        help: "Serve Prometheus metrics on this address at /metrics; keep it on loopback.",
    },
    Key {
        name: "admin.listen",
        kind: "IP:PORT or off",
        default: Some(DEFAULT_ADMIN_LISTEN),
        unset: "off",
        example: DEFAULT_ADMIN_LISTEN,
        env: Some("ROSEY_ADMIN_LISTEN"),
        flag: Some("--admin-listen"),
        help: "Serve the admin API and the web dashboard on this address (off: not at all); beyond loopback the host warns, since the API is plain HTTP.",
    },
    Key {
        name: "log",
        kind: "log filter (EnvFilter directive)",
        default: Some(DEFAULT_LOG),
        unset: "",
        example: DEFAULT_LOG,
        env: Some("ROSEY_LOG"),
        flag: None,
        help: "The host's log filter, such as info or info,rosey_host=debug (other commands log warnings only).",
    },
    Key {
        name: "http.allow_private",
        kind: "true or false",
        default: Some("false"),
        unset: "",
        example: "false",
        env: Some("ROSEY_HTTP_ALLOW_PRIVATE"),
        flag: None,
        help: "Let plugins' HTTP requests reach loopback and private addresses (labs and tests only).",
    },
    Key {
        name: "supervision.restart_backoff",
        kind: "duration",
        default: Some("100ms"),
        unset: "",
        example: "100ms",
        env: Some("ROSEY_RESTART_BACKOFF"),
        flag: Some("--restart-backoff"),
        help: "The pause before a crashed plugin's second restart in a row (the first is immediate); it doubles with each further crash.",
    },
    Key {
        name: "supervision.restart_backoff_max",
        kind: "duration",
        default: Some("10s"),
        unset: "",
        example: "10s",
        env: Some("ROSEY_RESTART_BACKOFF_MAX"),
        flag: Some("--restart-backoff-max"),
        help: "The longest pause between restarts.",
    },
    Key {
        name: "supervision.quarantine_after",
        kind: "integer, at least 1",
        default: Some("5"),
        unset: "",
        example: "5",
        env: Some("ROSEY_QUARANTINE_AFTER"),
        flag: Some("--quarantine-after"),
        help: "Crashes within crash_window that quarantine a plugin (until `rosey plugin enable`).",
    },
    Key {
        name: "supervision.crash_window",
        kind: "duration",
        default: Some("60s"),
        unset: "",
        example: "60s",
        env: Some("ROSEY_CRASH_WINDOW"),
        flag: Some("--crash-window"),
        help: "The window in which crashes are counted.",
    },
    Key {
        name: "index",
        kind: "URL or file path",
        default: None,
        unset: "none",
        example: "https://plugins.example.org/rosey/index.json",
        env: Some("ROSEY_INDEX"),
        flag: Some("--index"),
        help: "The plugin index that `rosey plugin install NAME`, `search`, `outdated` and `update NAME` use.",
    },
    Key {
        name: "trust.policy",
        kind: "warn or require",
        default: Some("warn"),
        unset: "",
        example: "warn",
        env: Some("ROSEY_TRUST_POLICY"),
        flag: None,
        help: "What to do with a plugin no trusted key signed: warn installs it with a warning, require refuses it. A bad signature is always refused.",
    },
    Key {
        name: "trust.keys",
        kind: "list of {name, key} (minisign public keys)",
        default: None,
        unset: "none",
        example: "[{name: alice, key: RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3}]",
        env: None,
        flag: None,
        help: "The keys whose signatures you trust, each with the name shown for what it signed (`rosey key generate` makes one).",
    },
    Key {
        name: "git.timeout",
        kind: "duration",
        default: Some("5m"),
        unset: "",
        example: "5m",
        env: Some("ROSEY_GIT_TIMEOUT"),
        flag: None,
        help: "The longest a fetch from a git repository may take.",
    },
    Key {
        name: "git.max_size",
        kind: "size",
        default: Some("256MiB"),
        unset: "",
        example: "256MiB",
        env: Some("ROSEY_GIT_MAX_SIZE"),
        flag: None,
        help: "The most a git repository's fetched objects, and then its files, may take.",
    },
];

/// The keys of the top level and of each section, for error messages.
const TOP_KEYS: [&str; 10] = [
    "nats_url",
    "command_prefix",
    "metrics",
    "admin",
    "log",
    "http",
    "supervision",
    "index",
    "trust",
    "git",
];

fn key(name: &str) -> &'static Key {
    KEYS.iter().find(|k| k.name == name).unwrap_or(&KEYS[0])
}

// ------------------------------------------------------------ the file

/// `rosey.yaml` as written: every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of settings, such as `command_prefix: \"!\"`"
)]
pub struct ConfigFile {
    /// An external NATS server; absent: a managed local nats-server.
    pub nats_url: Option<NatsUrl>,
    /// What starts a chat command.
    pub command_prefix: Option<CommandPrefix>,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<MetricsAddr>,
    /// The admin API and dashboard.
    #[serde(default, deserialize_with = "section")]
    pub admin: AdminSection,
    /// The host's log filter.
    pub log: Option<LogFilter>,
    /// Plugins' outgoing HTTP.
    #[serde(default, deserialize_with = "section")]
    pub http: HttpSection,
    /// Restarts and quarantine of crashing plugins.
    #[serde(default, deserialize_with = "section")]
    pub supervision: SupervisionSection,
    /// The plugin index.
    pub index: Option<IndexLocation>,
    /// Signatures: the policy and the trusted keys.
    #[serde(default, deserialize_with = "section")]
    pub trust: TrustSection,
    /// Fetches from git repositories.
    #[serde(default, deserialize_with = "section")]
    pub git: GitSection,
}

/// `trust:` in `rosey.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping such as `policy: require`")]
pub struct TrustSection {
    /// What to do with unsigned plugins.
    pub policy: Option<PolicySetting>,
    /// The trusted keys.
    pub keys: Option<TrustedKeys>,
}

/// `git:` in `rosey.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping such as `timeout: 5m`")]
pub struct GitSection {
    /// The longest a fetch may take.
    pub timeout: Option<HumanDuration>,
    /// The most a repository may take.
    pub max_size: Option<ByteSize>,
}

/// The plugin index: a URL or a path, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLocation(pub String);

impl FromStr for IndexLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        crate::source::download::Location::parse(text)
            .map(|_| IndexLocation(text.trim().to_owned()))
            .map_err(|e| format!("{e:#}"))
    }
}

impl<'de> Deserialize<'de> for IndexLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new(
            "an index URL or path, such as https://plugins.example.org/rosey/index.json",
        ))
    }
}

/// `trust.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicySetting(pub Policy);

impl FromStr for PolicySetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.parse().map(PolicySetting)
    }
}

impl<'de> Deserialize<'de> for PolicySetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new("warn or require"))
    }
}

/// `trust.keys`: names and keys, each name and key listed once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys(pub Vec<TrustedKey>);

impl<'de> Deserialize<'de> for TrustedKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            deny_unknown_fields,
            expecting = "a key such as `{name: alice, key: RWQ...}`"
        )]
        struct Entry {
            name: String,
            key: String,
        }
        let entries = Vec::<Entry>::deserialize(deserializer)?;
        let mut keys: Vec<TrustedKey> = Vec::with_capacity(entries.len());
        for entry in entries {
            let name = entry.name.trim();
            if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
                return Err(de::Error::custom(format!(
                    "invalid key name {:?}: 1 to 64 printable characters, such as alice",
                    entry.name
                )));
            }
            let key = PublicKey::parse(&entry.key)
                .map_err(|e| de::Error::custom(format!("key {name:?}: {e}")))?;
            if let Some(twin) = keys.iter().find(|k| k.name == name || k.key == key) {
                return Err(de::Error::custom(format!(
                    "key {name:?} ({}) repeats the name or the key of {:?}; list each once",
                    key.id(),
                    twin.name
                )));
            }
            keys.push(TrustedKey {
                name: name.to_owned(),
                key,
            });
        }
        Ok(TrustedKeys(keys))
    }
}

/// `http:` in `rosey.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as `allow_private: false`"
)]
pub struct HttpSection {
    /// Let plugins reach loopback and private addresses.
    pub allow_private: Option<bool>,
}

/// `admin:` in `rosey.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as `listen: 127.0.0.1:7780`"
)]
pub struct AdminSection {
    /// Where to listen, or off.
    pub listen: Option<AdminListen>,
}

/// `supervision:` in `rosey.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as `quarantine_after: 5`"
)]
pub struct SupervisionSection {
    /// The first restart pause.
    pub restart_backoff: Option<HumanDuration>,
    /// The longest restart pause.
    pub restart_backoff_max: Option<HumanDuration>,
    /// Crashes within the window that quarantine a plugin.
    pub quarantine_after: Option<QuarantineAfter>,
    /// The window in which crashes are counted.
    pub crash_window: Option<HumanDuration>,
}

/// `http:` or `supervision:` with nothing under it is the same as absent.
fn section<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Deserializes a `FromStr` value from a YAML string, so that an invalid
/// value is reported at its own line and column.
struct StrVisitor<T> {
    expecting: &'static str,
    kind: PhantomData<T>,
}

impl<T> StrVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        Self {
            expecting,
            kind: PhantomData,
        }
    }
}

impl<T: FromStr<Err = String>> Visitor<'_> for StrVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

/// A NATS server URL (or several, separated by commas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsUrl(pub String);

impl FromStr for NatsUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "an empty NATS URL: leave the key out to let Rosey run its own nats-server".into(),
            );
        }
        for part in text.split(',') {
            async_nats::ServerAddr::from_str(part.trim()).map_err(|e| {
                format!("invalid NATS URL {part:?}: {e}; expected e.g. nats://127.0.0.1:4222")
            })?;
        }
        Ok(NatsUrl(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for NatsUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new("a NATS URL such as nats://127.0.0.1:4222"))
    }
}

/// What starts a chat command: 1 to 8 characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPrefix(pub String);

impl FromStr for CommandPrefix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let chars = text.chars().count();
        if chars == 0
            || chars > MAX_PREFIX_CHARS
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "invalid command prefix {text:?}: it must be 1 to {MAX_PREFIX_CHARS} characters \
                 without spaces, such as \"!\" or \"?\""
            ));
        }
        Ok(CommandPrefix(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for CommandPrefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new("a command prefix in quotes, such as \"!\""))
    }
}

/// Where to serve `/metrics`: an IP address and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub SocketAddr);

impl FromStr for MetricsAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.trim().parse().map(MetricsAddr).map_err(|_| {
            format!("invalid address {text:?}: expected IP:PORT, such as 127.0.0.1:9464")
        })
    }
}

impl<'de> Deserialize<'de> for MetricsAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new("an address such as 127.0.0.1:9464"))
    }
}

/// Where to serve the admin API and dashboard: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminListen(pub Option<SocketAddr>);

impl FromStr for AdminListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(AdminListen(None));
        }
        text.parse().map(|a| AdminListen(Some(a))).map_err(|_| {
            format!(
                "invalid address {text:?}: expected IP:PORT, such as {DEFAULT_ADMIN_LISTEN}, \
                 or off"
            )
        })
    }
}

impl fmt::Display for AdminListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("off"),
        }
    }
}

impl<'de> Deserialize<'de> for AdminListen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new("an address such as 127.0.0.1:7780, or off"))
    }
}

/// A tracing `EnvFilter` directive, such as `info,rosey_host=debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter(pub String);

impl FromStr for LogFilter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(format!(
                "an empty log filter: leave the key out for the default ({DEFAULT_LOG})"
            ));
        }
        tracing_subscriber::EnvFilter::builder()
            .parse(text)
            .map_err(|e| {
                format!(
                    "invalid log filter {text:?}: {e}; expected e.g. info, debug or \
                     info,rosey_host=debug"
                )
            })?;
        Ok(LogFilter(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for LogFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new("a log filter such as info"))
    }
}

/// How many crashes quarantine a plugin: at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineAfter(pub u32);

impl QuarantineAfter {
    fn check(n: u64) -> Result<Self, String> {
        match u32::try_from(n) {
            Ok(0) => Err(
                "0 is not allowed: it must be at least 1 (the number of crashes within \
                 crash_window that quarantines a plugin)"
                    .into(),
            ),
            Ok(n) => Ok(QuarantineAfter(n)),
            Err(_) => Err(format!("{n} is too large: at most {}", u32::MAX)),
        }
    }
}

impl FromStr for QuarantineAfter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let n: u64 = text.trim().parse().map_err(|_| {
            format!("invalid number {text:?}: expected a whole number of crashes, at least 1")
        })?;
        Self::check(n)
    }
}

impl<'de> Deserialize<'de> for QuarantineAfter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = QuarantineAfter;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of crashes, at least 1")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<QuarantineAfter, E> {
                QuarantineAfter::check(n).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<QuarantineAfter, E> {
                match u64::try_from(n) {
                    Ok(n) => QuarantineAfter::check(n).map_err(E::custom),
                    Err(_) => Err(E::custom(format!(
                        "{n} is not allowed: it must be at least 1"
                    ))),
                }
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<QuarantineAfter, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

/// A `true`/`false` from the environment: `1`, `true`, `0` or `false`.
fn parse_env_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(format!(
            "invalid value {text:?}: expected 1 (on) or 0 (off)"
        )),
    }
}

fn parse_env_duration(text: &str) -> Result<HumanDuration, String> {
    text.parse()
        .map_err(|e: crate::package::UnitError| e.to_string())
}

// -------------------------------------------------------------- errors

/// Where a bad setting was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// In a config file.
    File(PathBuf),
    /// In an environment variable.
    Env(&'static str),
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Why the settings could not be read: `rosey.yaml:3:19: ...` or
/// `ROSEY_QUARANTINE_AFTER: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file or the variable.
    pub origin: ErrorOrigin,
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// What is wrong, and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.origin, self.location) {
            (ErrorOrigin::File(path), Some(at)) => write!(
                f,
                "{}:{}:{}: {}",
                path.display(),
                at.line,
                at.column,
                self.message
            ),
            (ErrorOrigin::File(path), None) => write!(f, "{}: {}", path.display(), self.message),
            (ErrorOrigin::Env(var), _) => write!(f, "{var}: {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn file(path: &Path, location: Option<Location>, message: impl Into<String>) -> Self {
        Self {
            origin: ErrorOrigin::File(path.to_path_buf()),
            location,
            message: message.into(),
        }
    }

    /// How to fix it, as a command or a step.
    pub fn fix(&self) -> String {
        match &self.origin {
            ErrorOrigin::File(_) => "fix it with `rosey config edit` (it checks the file \
                                     before saving it), or see `rosey config validate`"
                .into(),
            ErrorOrigin::Env(var) => format!("fix or unset {var}"),
        }
    }

    /// Translates a YAML error into operator-facing text, keeping its line
    /// and column.
    fn from_yaml(path: &Path, err: &yaml_serde::Error) -> Self {
        let location = err.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        let mut message = err.to_string();
        if let Some(at) = location {
            message =
                message.replacen(&format!(" at line {} column {}", at.line, at.column), "", 1);
        }
        let message = unknown_key(&message).unwrap_or_else(|| crate::package::tidy(&message));
        Self::file(path, location, message)
    }

    /// serde reports a key set twice at the start of its mapping; point
    /// at the second one instead.
    fn at_duplicate(mut self, text: &str) -> Self {
        const MARKER: &str = "duplicate field \"";
        let Some(at) = self.message.find(MARKER) else {
            return self;
        };
        let rest = &self.message[at + MARKER.len()..];
        let Some(name) = rest.split('"').next() else {
            return self;
        };
        let key = match self.message[..at].strip_suffix(": ") {
            Some(section) => format!("{section}.{name}"),
            None => name.to_owned(),
        };
        let lines = key_lines(text, &key);
        if let [first, second, ..] = lines[..] {
            let column = text
                .lines()
                .nth(second - 1)
                .map_or(1, |l| l.len() - l.trim_start().len() + 1);
            self.location = Some(Location {
                line: second,
                column,
            });
            self.message = format!("{key} is set twice (lines {first} and {second}); keep one");
        }
        self
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`", optionally after
/// a section's path, as "unknown key "x" in SECTION; valid keys: a, b".
fn unknown_key(message: &str) -> Option<String> {
    const MARKER: &str = "unknown field `";
    let at = message.find(MARKER)?;
    let section = message[..at].strip_suffix(": ");
    if at != 0 && section.is_none() {
        return None;
    }
    let rest = &message[at + MARKER.len()..];
    let name = &rest[..rest.find('`')?];
    let valid: Vec<&str> = match section {
        None => TOP_KEYS.to_vec(),
        Some(section) => KEYS
            .iter()
            .filter_map(|k| k.name.strip_prefix(section)?.strip_prefix('.'))
            .collect(),
    };
    let mut text = format!("unknown key {name:?}");
    if let Some(section) = section {
        text.push_str(&format!(" in {section}"));
    }
    let normalized = name.replace('-', "_").to_ascii_lowercase();
    if normalized != name && valid.contains(&normalized.as_str()) {
        text.push_str(&format!(" (did you mean {normalized:?}?)"));
    } else if let Some(near) = crate::package::closest(&normalized, &valid) {
        text.push_str(&format!(" (did you mean {near:?}?)"));
    } else if let Some(home) = KEYS
        .iter()
        .find(|k| k.name.rsplit('.').next() == Some(normalized.as_str()) && k.name != normalized)
    {
        text.push_str(&format!(" (did you mean {}?)", home.name));
    }
    text.push_str(&format!("; valid keys: {}", valid.join(", ")));
    Some(text)
}

/// A parsed config file and its text (to tell on which line a key is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// What it says.
    pub config: ConfigFile,
    text: String,
}

impl LoadedFile {
    /// Parses `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(ConfigError::file(
                path,
                None,
                format!(
                    "{} bytes is more than the {} KiB allowed",
                    text.len(),
                    MAX_FILE_BYTES >> 10
                ),
            ));
        }
        let config = if has_content(text) {
            yaml_serde::from_str::<Option<ConfigFile>>(text)
                .map_err(|e| ConfigError::from_yaml(path, &e).at_duplicate(text))?
                .unwrap_or_default()
        } else {
            ConfigFile::default()
        };
        Ok(Self {
            path: path.to_path_buf(),
            config,
            text: text.to_owned(),
        })
    }

    /// Reads and parses the file at `path`; `None` if there is none.
    pub fn read(path: &Path) -> Result<Option<Self>, ConfigError> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ConfigError::file(
                    path,
                    None,
                    format!("cannot be read: {e}"),
                ));
            }
        };
        if !meta.is_file() {
            return Err(ConfigError::file(path, None, "is not a regular file"));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(ConfigError::file(
                path,
                None,
                format!(
                    "{} bytes is more than the {} KiB allowed",
                    meta.len(),
                    MAX_FILE_BYTES >> 10
                ),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::file(path, None, format!("cannot be read as UTF-8 text: {e}"))
        })?;
        Self::parse(path, &text).map(Some)
    }

    /// Where `key` is set, as a source with its line if it can be found.
    fn source(&self, key: &str) -> Source {
        Source::File {
            path: self.path.clone(),
            line: key_line(&self.text, key),
        }
    }
}

/// Whether `text` holds anything but comments, blank lines and document
/// markers (the template `rosey config edit` starts from holds nothing).
fn has_content(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        !(line.is_empty() || line.starts_with('#') || line == "---" || line == "...")
    })
}

/// The 1-based line on which `key` (`log`, `supervision.crash_window`) is
/// set, for block-style YAML; a section written in flow style
/// (`supervision: {crash_window: 5m}`) gives its own line.
fn key_line(text: &str, key: &str) -> Option<usize> {
    key_lines(text, key).first().copied()
}

/// Every line on which `key` is set (more than one: a duplicate).
fn key_lines(text: &str, key: &str) -> Vec<usize> {
    let (top, nested) = match key.split_once('.') {
        Some((section, name)) => (section, Some(name)),
        None => (key, None),
    };
    let mut found = Vec::new();
    let mut in_section = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let top_level = !line.starts_with([' ', '\t']);
        if top_level {
            in_section = key_of(line) == Some(top);
            match nested {
                None if in_section => found.push(index + 1),
                Some(nested) if in_section && line.contains('{') && line.contains(nested) => {
                    found.push(index + 1)
                }
                _ => {}
            }
        } else if let Some(nested) = nested
            && in_section
            && key_of(trimmed) == Some(nested)
        {
            found.push(index + 1);
        }
    }
    found
}

/// The key a `key: value` line sets, unquoted.
fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let colon = line.find(':')?;
    let after = &line[colon + 1..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    Some(line[..colon].trim().trim_matches(['"', '\'']))
}

// ------------------------------------------------------------ resolution

/// Where a setting's effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// `rosey.yaml` (with the line, when it could be found).
    File {
        /// The file.
        path: PathBuf,
        /// The 1-based line the key is on.
        line: Option<usize>,
    },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl Source {
    /// `default`, `file`, `env` or `flag`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File { .. } => "file",
            Source::Env(_) => "env",
            Source::Flag(_) => "flag",
        }
    }

    /// The file (with `:line`), the variable or the flag; `None` for the
    /// default.
    pub fn origin(&self) -> Option<String> {
        match self {
            Source::Default => None,
            Source::File {
                path,
                line: Some(line),
            } => Some(format!("{}:{line}", path.display())),
            Source::File { path, line: None } => Some(path.display().to_string()),
            Source::Env(var) => Some((*var).to_owned()),
            Source::Flag(flag) => Some((*flag).to_owned()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin() {
            Some(origin) => write!(f, "{} ({origin})", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}

/// A setting's effective value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value in effect.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

/// The settings given on the command line (and only there: values clap
/// read from the environment are left out, since [`Settings::resolve`]
/// reads the environment itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--nats-url`.
    pub nats_url: Option<String>,
    /// `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// `--admin-listen`.
    pub admin_listen: Option<AdminListen>,
    /// `--restart-backoff`.
    pub restart_backoff: Option<HumanDuration>,
    /// `--restart-backoff-max`.
    pub restart_backoff_max: Option<HumanDuration>,
    /// `--quarantine-after`.
    pub quarantine_after: Option<u32>,
    /// `--crash-window`.
    pub crash_window: Option<HumanDuration>,
}

impl Flags {
    /// The same flags as arguments, to hand on to another `rosey start`.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut add = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                args.push(format!("{flag}={value}"));
            }
        };
        add("--nats-url", self.nats_url.clone());
        add("--metrics", self.metrics.map(|a| a.to_string()));
        add("--admin-listen", self.admin_listen.map(|a| a.to_string()));
        add(
            "--restart-backoff",
            self.restart_backoff.map(|d| d.to_string()),
        );
        add(
            "--restart-backoff-max",
            self.restart_backoff_max.map(|d| d.to_string()),
        );
        add(
            "--quarantine-after",
            self.quarantine_after.map(|n| n.to_string()),
        );
        add("--crash-window", self.crash_window.map(|d| d.to_string()));
        args
    }
}

/// Every host setting, in effect, with its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The config file these were resolved with (which may not exist).
    pub file: PathBuf,
    /// Whether the file exists.
    pub file_exists: bool,
    /// An external NATS server; `None`: a managed local nats-server.
    pub nats_url: Setting<Option<String>>,
    /// What starts a chat command.
    pub command_prefix: Setting<String>,
    /// Where to serve `/metrics`; `None`: off.
    pub metrics: Setting<Option<SocketAddr>>,
    /// Where to serve the admin API and dashboard; `None`: off.
    pub admin_listen: Setting<Option<SocketAddr>>,
    /// The host's log filter.
    pub log: Setting<String>,
    /// Let plugins' HTTP requests reach private addresses.
    pub http_allow_private: Setting<bool>,
    /// The first restart pause.
    pub restart_backoff: Setting<HumanDuration>,
    /// The longest restart pause.
    pub restart_backoff_max: Setting<HumanDuration>,
    /// Crashes within the window that quarantine a plugin.
    pub quarantine_after: Setting<u32>,
    /// The window in which crashes are counted.
    pub crash_window: Setting<HumanDuration>,
    /// The plugin index; `None`: none configured.
    pub index: Setting<Option<String>>,
    /// What to do with unsigned plugins.
    pub trust_policy: Setting<Policy>,
    /// The trusted keys.
    pub trust_keys: Setting<Vec<TrustedKey>>,
    /// The longest a git fetch may take.
    pub git_timeout: Setting<HumanDuration>,
    /// The most a git repository may take.
    pub git_max_size: Setting<ByteSize>,
}

/// One line of `rosey config show`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The setting.
    pub key: &'static Key,
    /// Its effective value, as JSON (`null` when unset).
    pub value: Value,
    /// Its effective value, for people.
    pub text: String,
    /// Where it came from.
    pub source: Source,
}

/// The environment, as `std::env::var` would read it (empty means unset).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Settings {
    /// Reads `file` (if it exists) and resolves every setting over it:
    /// the environment (through `env`) and `flags` override it.
    pub fn load(
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Flags,
    ) -> Result<Settings, ConfigError> {
        let loaded = LoadedFile::read(file)?;
        Self::resolve(file, loaded.as_ref(), env, flags)
    }

    /// Resolves every setting: the default, then `loaded` (the file at
    /// `file`, if it exists), then the environment, then `flags`.
    pub fn resolve(
        file: &Path,
        loaded: Option<&LoadedFile>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Flags,
    ) -> Result<Settings, ConfigError> {
        let empty = ConfigFile::default();
        let config = loaded.map_or(&empty, |l| &l.config);
        let from_file = |name: &str| match loaded {
            Some(loaded) => loaded.source(name),
            None => Source::Default,
        };
        let env_value = |name: &str| -> Option<(&'static str, String)> {
            let var = key(name).env?;
            env(var).filter(|v| !v.is_empty()).map(|v| (var, v))
        };
        fn layer<T>(
            default: T,
            file: Option<(T, Source)>,
            env: Option<(T, &'static str)>,
            flag: Option<(T, &'static str)>,
        ) -> Setting<T> {
            if let Some((value, flag)) = flag {
                return Setting {
                    value,
                    source: Source::Flag(flag),
                };
            }
            if let Some((value, var)) = env {
                return Setting {
                    value,
                    source: Source::Env(var),
                };
            }
            match file {
                Some((value, source)) => Setting { value, source },
                None => Setting {
                    value: default,
                    source: Source::Default,
                },
            }
        }
        fn parsed<T>(
            value: Option<(&'static str, String)>,
            parse: impl Fn(&str) -> Result<T, String>,
        ) -> Result<Option<(T, &'static str)>, ConfigError> {
            value
                .map(|(var, text)| {
                    parse(&text)
                        .map(|v| (v, var))
                        .map_err(|message| ConfigError {
                            origin: ErrorOrigin::Env(var),
                            location: None,
                            message,
                        })
                })
                .transpose()
        }
        let flag = |name: &str| key(name).flag.unwrap_or_default();
        let defaults = SupervisionPolicy::default();
        let supervision = &config.supervision;

        Ok(Settings {
            file: file.to_path_buf(),
            file_exists: loaded.is_some(),
            nats_url: layer(
                None,
                config
                    .nats_url
                    .as_ref()
                    .map(|u| (Some(u.0.clone()), from_file("nats_url"))),
                parsed(env_value("nats_url"), |t| {
                    t.parse::<NatsUrl>().map(|u| Some(u.0))
                })?,
                flags.nats_url.clone().map(|u| (Some(u), flag("nats_url"))),
            ),
            command_prefix: layer(
                DEFAULT_COMMAND_PREFIX.to_owned(),
                config
                    .command_prefix
                    .as_ref()
                    .map(|p| (p.0.clone(), from_file("command_prefix"))),
                None,
                None,
            ),
            metrics: layer(
                None,
                config.metrics.map(|a| (Some(a.0), from_file("metrics"))),
                parsed(env_value("metrics"), |t| {
                    t.parse::<MetricsAddr>().map(|a| Some(a.0))
                })?,
                flags.metrics.map(|a| (Some(a), flag("metrics"))),
            ),
            admin_listen: layer(
                DEFAULT_ADMIN_LISTEN.parse().ok(),
                config
                    .admin
                    .listen
                    .map(|a| (a.0, from_file("admin.listen"))),
                parsed(env_value("admin.listen"), |t| {
                    t.parse::<AdminListen>().map(|a| a.0)
                })?,
                flags.admin_listen.map(|a| (a.0, flag("admin.listen"))),
            ),
            log: layer(
                DEFAULT_LOG.to_owned(),
                config.log.as_ref().map(|l| (l.0.clone(), from_file("log"))),
                parsed(env_value("log"), |t| t.parse::<LogFilter>().map(|l| l.0))?,
                None,
            ),
            http_allow_private: layer(
                false,
                config
                    .http
                    .allow_private
                    .map(|b| (b, from_file("http.allow_private"))),
                parsed(env_value("http.allow_private"), parse_env_bool)?,
                None,
            ),
            restart_backoff: layer(
                HumanDuration(defaults.backoff_initial),
                supervision
                    .restart_backoff
                    .map(|d| (d, from_file("supervision.restart_backoff"))),
                parsed(env_value("supervision.restart_backoff"), parse_env_duration)?,
                flags
                    .restart_backoff
                    .map(|d| (d, flag("supervision.restart_backoff"))),
            ),
            restart_backoff_max: layer(
                HumanDuration(defaults.backoff_max),
                supervision
                    .restart_backoff_max
                    .map(|d| (d, from_file("supervision.restart_backoff_max"))),
                parsed(
                    env_value("supervision.restart_backoff_max"),
                    parse_env_duration,
                )?,
                flags
                    .restart_backoff_max
                    .map(|d| (d, flag("supervision.restart_backoff_max"))),
            ),
            quarantine_after: layer(
                defaults.quarantine_after,
                supervision
                    .quarantine_after
                    .map(|n| (n.0, from_file("supervision.quarantine_after"))),
                parsed(env_value("supervision.quarantine_after"), |t| {
                    t.parse::<QuarantineAfter>().map(|n| n.0)
                })?,
                flags
                    .quarantine_after
                    .map(|n| (n, flag("supervision.quarantine_after"))),
            ),
            crash_window: layer(
                HumanDuration(defaults.window),
                supervision
                    .crash_window
                    .map(|d| (d, from_file("supervision.crash_window"))),
                parsed(env_value("supervision.crash_window"), parse_env_duration)?,
                flags
                    .crash_window
                    .map(|d| (d, flag("supervision.crash_window"))),
            ),
            index: layer(
                None,
                config
                    .index
                    .as_ref()
                    .map(|i| (Some(i.0.clone()), from_file("index"))),
                parsed(env_value("index"), |t| {
                    t.parse::<IndexLocation>().map(|i| Some(i.0))
                })?,
                // `--index` belongs to the commands that use an index,
                // which put it above this.
                None,
            ),
            trust_policy: layer(
                Policy::default(),
                config
                    .trust
                    .policy
                    .map(|p| (p.0, from_file("trust.policy"))),
                parsed(env_value("trust.policy"), |t| t.parse::<Policy>())?,
                None,
            ),
            trust_keys: layer(
                Vec::new(),
                config
                    .trust
                    .keys
                    .as_ref()
                    .map(|k| (k.0.clone(), from_file("trust.keys"))),
                None,
                None,
            ),
            git_timeout: layer(
                HumanDuration(GitLimits::default().timeout),
                config.git.timeout.map(|d| (d, from_file("git.timeout"))),
                parsed(env_value("git.timeout"), parse_env_duration)?,
                None,
            ),
            git_max_size: layer(
                ByteSize(GitLimits::default().max_bytes),
                config.git.max_size.map(|b| (b, from_file("git.max_size"))),
                parsed(env_value("git.max_size"), |t| {
                    t.parse::<ByteSize>().map_err(|e| e.to_string())
                })?,
                None,
            ),
        })
    }

    /// The trust policy and keys these settings describe.
    pub fn trust(&self) -> Trust {
        Trust {
            policy: self.trust_policy.value,
            keys: self.trust_keys.value.clone(),
        }
    }

    /// The limits on git fetches these settings describe.
    pub fn git_limits(&self) -> GitLimits {
        GitLimits {
            timeout: self.git_timeout.value.0,
            max_bytes: self.git_max_size.value.0,
        }
    }

    /// The restart and quarantine policy these settings describe.
    pub fn supervision(&self) -> SupervisionPolicy {
        SupervisionPolicy {
            backoff_initial: self.restart_backoff.value.0,
            backoff_max: self
                .restart_backoff_max
                .value
                .0
                .max(self.restart_backoff.value.0),
            quarantine_after: self.quarantine_after.value,
            window: self.crash_window.value.0,
        }
    }

    /// Sets what these settings decide in a host's config (everything but
    /// the NATS server, which the caller connects to or starts).
    pub fn apply(&self, config: &mut HostConfig) {
        config.command_prefix = self.command_prefix.value.clone();
        config.metrics = self.metrics.value;
        config.admin = self
            .admin_listen
            .value
            .map(|addr| crate::admin::AdminListener {
                addr,
                explicit: self.admin_listen.source != Source::Default,
            });
        config.allow_private_http = self.http_allow_private.value;
        config.supervision = self.supervision();
    }

    /// Every setting with its value and source, in [`KEYS`] order.
    pub fn entries(&self) -> Vec<Entry> {
        fn entry(name: &str, value: Value, text: String, source: &Source) -> Entry {
            Entry {
                key: key(name),
                value,
                text,
                source: source.clone(),
            }
        }
        let duration = |name: &str, s: &Setting<HumanDuration>| {
            entry(
                name,
                Value::String(s.value.to_string()),
                s.value.to_string(),
                &s.source,
            )
        };
        vec![
            entry(
                "nats_url",
                self.nats_url
                    .value
                    .clone()
                    .map_or(Value::Null, Value::String),
                self.nats_url
                    .value
                    .clone()
                    .unwrap_or_else(|| key("nats_url").unset.to_owned()),
                &self.nats_url.source,
            ),
            entry(
                "command_prefix",
                Value::String(self.command_prefix.value.clone()),
                format!("{:?}", self.command_prefix.value),
                &self.command_prefix.source,
            ),
            entry(
                "metrics",
                self.metrics
                    .value
                    .map_or(Value::Null, |a| Value::String(a.to_string())),
                self.metrics
                    .value
                    .map_or_else(|| key("metrics").unset.to_owned(), |a| a.to_string()),
                &self.metrics.source,
            ),
            entry(
                "admin.listen",
                self.admin_listen
                    .value
                    .map_or(Value::Null, |a| Value::String(a.to_string())),
                AdminListen(self.admin_listen.value).to_string(),
                &self.admin_listen.source,
            ),
            entry(
                "log",
                Value::String(self.log.value.clone()),
                self.log.value.clone(),
                &self.log.source,
            ),
            entry(
                "http.allow_private",
                Value::Bool(self.http_allow_private.value),
                self.http_allow_private.value.to_string(),
                &self.http_allow_private.source,
            ),
            duration("supervision.restart_backoff", &self.restart_backoff),
            duration("supervision.restart_backoff_max", &self.restart_backoff_max),
            entry(
                "supervision.quarantine_after",
                Value::from(self.quarantine_after.value),
                self.quarantine_after.value.to_string(),
                &self.quarantine_after.source,
            ),
            duration("supervision.crash_window", &self.crash_window),
            entry(
                "index",
                self.index.value.clone().map_or(Value::Null, Value::String),
                self.index
                    .value
                    .clone()
                    .unwrap_or_else(|| key("index").unset.to_owned()),
                &self.index.source,
            ),
            entry(
                "trust.policy",
                Value::String(self.trust_policy.value.to_string()),
                self.trust_policy.value.to_string(),
                &self.trust_policy.source,
            ),
            entry(
                "trust.keys",
                Value::Array(
                    self.trust_keys
                        .value
                        .iter()
                        .map(|k| {
                            serde_json::json!({
                                "name": k.name,
                                "key_id": k.key.id().to_string(),
                                "key": k.key.to_base64(),
                            })
                        })
                        .collect(),
                ),
                if self.trust_keys.value.is_empty() {
                    key("trust.keys").unset.to_owned()
                } else {
                    self.trust_keys
                        .value
                        .iter()
                        .map(|k| format!("{} ({})", k.name, k.key.id()))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                &self.trust_keys.source,
            ),
            duration("git.timeout", &self.git_timeout),
            entry(
                "git.max_size",
                Value::String(self.git_max_size.value.to_string()),
                self.git_max_size.value.to_string(),
                &self.git_max_size.source,
            ),
        ]
    }
}

/// What `rosey config edit` starts from when there is no `rosey.yaml`:
/// every key, commented out, with its default (or an example).
pub fn template() -> String {
    let mut out = String::from(
        "# Rosey host settings. Every key is optional: a commented-out line shows\n\
         # the default (or, where there is none, an example). Remove the \"#\" to\n\
         # set it, and for a key in a section (such as supervision:), the section's too.\n\
         # Precedence: defaults < this file < ROSEY_* environment < command-line flags.\n\
         # See them in effect with `rosey config show`. A running host reads this\n\
         # file when it starts: `rosey restart host` applies a change.\n",
    );
    let mut section = None;
    for k in &KEYS {
        let (head, name) = match k.name.split_once('.') {
            Some((head, name)) => (Some(head), name),
            None => (None, k.name),
        };
        if head != section {
            match head {
                Some(head) => out.push_str(&format!("\n#{head}:\n")),
                None => out.push('\n'),
            }
            section = head;
        } else {
            out.push('\n');
        }
        let indent = if head.is_some() { "  " } else { "" };
        let mut detail = vec![match k.default {
            Some(default) => format!("default {default}"),
            None => format!("default: {}", k.unset),
        }];
        detail.extend(k.env.map(|env| format!("env {env}")));
        detail.extend(k.flag.map(|flag| format!("flag {flag}")));
        for line in wrap(k.help, 76 - indent.len()) {
            out.push_str(&format!("{indent}# {line}\n"));
        }
        out.push_str(&format!("{indent}# ({})\n", detail.join("; ")));
        out.push_str(&format!("{indent}#{name}: {}\n", k.example));
    }
    out
}

/// `text` in lines of at most `width` characters (longer words stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn parse(text: &str) -> Result<LoadedFile, ConfigError> {
        LoadedFile::parse(Path::new("/h/rosey.yaml"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn resolve(text: &str, env: &[(&str, &str)], flags: &Flags) -> Settings {
        let loaded = parse(text).unwrap();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::resolve(
            Path::new("/h/rosey.yaml"),
            Some(&loaded),
            &|name| env.get(name).cloned(),
            flags,
        )
        .unwrap()
    }

    const FULL: &str = "\
# a comment
nats_url: nats://127.0.0.1:4222
command_prefix: \"?\"
metrics: 127.0.0.1:9464
log: debug
http:
  allow_private: true
supervision:
  restart_backoff: 1s
  restart_backoff_max: 1m
  quarantine_after: 3
  crash_window: 5m
";

    #[test]
    fn the_admin_listener_is_on_loopback_by_default_and_can_be_moved_or_switched_off() {
        let default = resolve("", &[], &Flags::default());
        assert_eq!(
            default.admin_listen.value,
            Some(DEFAULT_ADMIN_LISTEN.parse().unwrap())
        );
        assert_eq!(default.admin_listen.source, Source::Default);
        let mut config = HostConfig::new(crate::home::RoseyHome::new("/h"), "nats://x:1");
        default.apply(&mut config);
        assert_eq!(config.admin.map(|a| a.explicit), Some(false));

        let file = "admin:\n  listen: 0.0.0.0:8080\n";
        let from_file = resolve(file, &[], &Flags::default());
        assert_eq!(
            from_file.admin_listen.value,
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert!(matches!(
            from_file.admin_listen.source,
            Source::File { line: Some(2), .. }
        ));
        let off = resolve(file, &[("ROSEY_ADMIN_LISTEN", "off")], &Flags::default());
        assert_eq!(off.admin_listen.value, None, "the variable switches it off");
        assert_eq!(off.admin_listen.source, Source::Env("ROSEY_ADMIN_LISTEN"));
        let flags = Flags {
            admin_listen: Some(AdminListen(Some("127.0.0.1:0".parse().unwrap()))),
            ..Flags::default()
        };
        let flagged = resolve(file, &[("ROSEY_ADMIN_LISTEN", "off")], &flags);
        assert_eq!(flagged.admin_listen.source, Source::Flag("--admin-listen"));
        assert!(
            flags
                .to_args()
                .contains(&"--admin-listen=127.0.0.1:0".to_owned())
        );
        let mut config = HostConfig::new(crate::home::RoseyHome::new("/h"), "nats://x:1");
        off.apply(&mut config);
        assert_eq!(config.admin, None);

        assert!(
            error("admin:\n  listen: localhost\n").contains("expected IP:PORT"),
            "{}",
            error("admin:\n  listen: localhost\n")
        );
        assert!(error("admin:\n  port: 1\n").contains("valid keys: listen"));
    }

    #[test]
    fn a_full_file_parses() {
        let file = parse(FULL).unwrap().config;
        assert_eq!(file.nats_url.unwrap().0, "nats://127.0.0.1:4222");
        assert_eq!(file.command_prefix.unwrap().0, "?");
        assert_eq!(file.metrics.unwrap().0.port(), 9464);
        assert_eq!(file.log.unwrap().0, "debug");
        assert_eq!(file.http.allow_private, Some(true));
        assert_eq!(
            file.supervision.restart_backoff,
            Some(HumanDuration(Duration::from_secs(1)))
        );
        assert_eq!(file.supervision.quarantine_after, Some(QuarantineAfter(3)));
        assert_eq!(
            file.supervision.crash_window,
            Some(HumanDuration(Duration::from_secs(300)))
        );
    }

    #[test]
    fn empty_files_and_empty_sections_are_the_defaults() {
        for text in [
            "",
            "\n# only comments\n",
            "---\n",
            "~\n",
            "http:\nsupervision:\n",
        ] {
            assert_eq!(
                parse(text).unwrap().config,
                ConfigFile::default(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn without_a_file_every_setting_is_its_default() {
        let settings =
            Settings::resolve(Path::new("/h/rosey.yaml"), None, &no_env, &Flags::default())
                .unwrap();
        assert!(!settings.file_exists);
        for entry in settings.entries() {
            assert_eq!(entry.source, Source::Default, "{}", entry.key.name);
        }
        assert_eq!(settings.supervision(), SupervisionPolicy::default());
        assert_eq!(settings.command_prefix.value, "!");
        assert_eq!(settings.log.value, DEFAULT_LOG);
        assert_eq!(settings.nats_url.value, None);
        assert_eq!(settings.metrics.value, None);
        assert!(!settings.http_allow_private.value);
    }

    #[test]
    fn the_documented_defaults_are_the_real_ones() {
        let settings =
            Settings::resolve(Path::new("/h/rosey.yaml"), None, &no_env, &Flags::default())
                .unwrap();
        for entry in settings.entries() {
            let documented = entry.key.default_text().trim_matches('"');
            let shown = entry.text.trim_matches('"');
            let same_duration = documented.parse::<HumanDuration>().ok().is_some()
                && documented.parse::<HumanDuration>() == shown.parse::<HumanDuration>();
            assert!(
                shown == documented || same_duration,
                "{}: {shown} but documented {documented}",
                entry.key.name
            );
        }
    }

    #[test]
    fn file_then_env_then_flag() {
        let text =
            "nats_url: nats://file:4222\nsupervision:\n  quarantine_after: 3\n  crash_window: 5m\n";
        // The file over the defaults, with the line each key is on.
        let s = resolve(text, &[], &Flags::default());
        assert_eq!(s.quarantine_after.value, 3);
        assert_eq!(
            s.quarantine_after.source,
            Source::File {
                path: "/h/rosey.yaml".into(),
                line: Some(3)
            }
        );
        assert_eq!(
            s.quarantine_after.source.to_string(),
            "file (/h/rosey.yaml:3)"
        );
        assert_eq!(s.crash_window.value.0, Duration::from_secs(300));
        assert_eq!(s.restart_backoff.source, Source::Default);
        // The environment over the file.
        let env = [
            ("ROSEY_QUARANTINE_AFTER", "4"),
            ("ROSEY_NATS_URL", "nats://env:4222"),
            ("ROSEY_CRASH_WINDOW", ""),
        ];
        let s = resolve(text, &env, &Flags::default());
        assert_eq!(s.quarantine_after.value, 4);
        assert_eq!(
            s.quarantine_after.source.to_string(),
            "env (ROSEY_QUARANTINE_AFTER)"
        );
        assert_eq!(s.nats_url.value.as_deref(), Some("nats://env:4222"));
        // An empty variable is unset.
        assert_eq!(s.crash_window.source.kind(), "file");
        // A flag over the environment.
        let flags = Flags {
            quarantine_after: Some(7),
            nats_url: Some("nats://flag:4222".into()),
            ..Flags::default()
        };
        let s = resolve(text, &env, &flags);
        assert_eq!(s.quarantine_after.value, 7);
        assert_eq!(
            s.quarantine_after.source.to_string(),
            "flag (--quarantine-after)"
        );
        assert_eq!(s.nats_url.value.as_deref(), Some("nats://flag:4222"));
        assert_eq!(s.supervision().quarantine_after, 7);
    }

    #[test]
    fn env_only_settings_override_the_file() {
        let text = "log: debug\nhttp:\n  allow_private: true\n";
        let s = resolve(text, &[], &Flags::default());
        assert!(s.http_allow_private.value);
        assert_eq!(
            s.http_allow_private.source.origin().unwrap(),
            "/h/rosey.yaml:3"
        );
        assert_eq!(s.log.value, "debug");
        let s = resolve(
            text,
            &[("ROSEY_HTTP_ALLOW_PRIVATE", "0"), ("ROSEY_LOG", "warn")],
            &Flags::default(),
        );
        assert!(!s.http_allow_private.value);
        assert_eq!(
            s.http_allow_private.source,
            Source::Env("ROSEY_HTTP_ALLOW_PRIVATE")
        );
        assert_eq!(s.log.value, "warn");
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let loaded = parse("").unwrap();
        for (var, value, says) in [
            ("ROSEY_QUARANTINE_AFTER", "0", "at least 1"),
            ("ROSEY_CRASH_WINDOW", "soon", "such as 2s"),
            (
                "ROSEY_HTTP_ALLOW_PRIVATE",
                "yes",
                "expected 1 (on) or 0 (off)",
            ),
            ("ROSEY_METRICS_ADDR", "localhost", "IP:PORT"),
        ] {
            let err = Settings::resolve(
                Path::new("/h/rosey.yaml"),
                Some(&loaded),
                &|name| (name == var).then(|| value.to_owned()),
                &Flags::default(),
            )
            .unwrap_err();
            assert_eq!(err.origin, ErrorOrigin::Env(var));
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("{var}: ")) && text.contains(says),
                "{text}"
            );
            assert!(err.fix().contains(var));
        }
    }

    #[test]
    fn trust_index_and_git_settings_parse_and_explain_mistakes() {
        let (public, _) = crate::package::generate_key(None).unwrap();
        let key = public.to_base64();
        let text = format!(
            "index: https://plugins.example.org/index.json\ntrust:\n  policy: require\n  \
             keys:\n    - name: alice\n      key: {key}\ngit:\n  timeout: 30s\n  max_size: 1MiB\n"
        );
        let settings = resolve(&text, &[], &Flags::default());
        let trust = settings.trust();
        assert_eq!(trust.policy, Policy::Require);
        assert_eq!(trust.keys.len(), 1);
        assert_eq!(trust.keys[0].name, "alice");
        assert_eq!(trust.keys[0].key, public);
        assert_eq!(settings.git_limits().max_bytes, 1 << 20);
        assert_eq!(settings.git_limits().timeout, Duration::from_secs(30));
        assert_eq!(
            settings.index.value.as_deref(),
            Some("https://plugins.example.org/index.json")
        );
        let shown = settings
            .entries()
            .into_iter()
            .find(|e| e.key.name == "trust.keys")
            .unwrap();
        assert!(
            shown.text.starts_with(&format!("alice ({})", public.id())),
            "{}",
            shown.text
        );
        // The environment overrides the file.
        let env = resolve(&text, &[("ROSEY_TRUST_POLICY", "warn")], &Flags::default());
        assert_eq!(env.trust().policy, Policy::Warn);

        let twice = format!(
            "trust:\n  keys:\n    - {{name: a, key: {key}}}\n    - {{name: b, key: {key}}}\n"
        );
        assert!(
            error(&twice).contains("repeats the name or the key of \"a\""),
            "{}",
            error(&twice)
        );
        assert!(error("trust:\n  policy: strict\n").contains("expected warn"));
        assert!(
            error("trust:\n  keys:\n    - {name: a, key: nope}\n").contains("minisign public key")
        );
        assert!(error("trust:\n  keys:\n    - {name: a, key: x, extra: 1}\n").contains("extra"));
        assert!(error("index: file:///srv/index.json\n").contains("file:// URLs"));
        assert!(error("trust:\n  polcy: warn\n").contains("did you mean \"policy\""));
        let defaults = resolve("", &[], &Flags::default());
        assert_eq!(defaults.trust(), Trust::default());
        assert_eq!(defaults.index.value, None);
    }

    #[test]
    fn unknown_keys_are_named_with_the_valid_ones() {
        assert_eq!(
            error("log: info\nsupervison:\n  crash_window: 5m\n"),
            "/h/rosey.yaml:2:1: unknown key \"supervison\" (did you mean \"supervision\"?); \
             valid keys: nats_url, command_prefix, metrics, admin, log, http, supervision, \
             index, trust, git"
        );
        assert_eq!(
            error("supervision:\n  crash_windows: 5m\n"),
            "/h/rosey.yaml:2:3: unknown key \"crash_windows\" in supervision (did you mean \
             \"crash_window\"?); valid keys: restart_backoff, restart_backoff_max, \
             quarantine_after, crash_window"
        );
        assert_eq!(
            error("bananas: 1\n"),
            "/h/rosey.yaml:1:1: unknown key \"bananas\"; valid keys: nats_url, \
             command_prefix, metrics, admin, log, http, supervision, index, trust, git"
        );
        let moved = error("quarantine_after: 3\n");
        assert!(
            moved.contains("(did you mean supervision.quarantine_after?)"),
            "{moved}"
        );
        let kebab = error("command-prefix: \"?\"\n");
        assert!(
            kebab.contains("(did you mean \"command_prefix\"?)"),
            "{kebab}"
        );
    }

    #[test]
    fn bad_values_say_where_and_what_is_allowed() {
        for (text, want) in [
            (
                "supervision:\n  quarantine_after: 0\n",
                "/h/rosey.yaml:2:21: supervision.quarantine_after: 0 is not allowed: it must be at least 1",
            ),
            (
                "supervision:\n  crash_window: 5\n",
                "/h/rosey.yaml:2:17: supervision.crash_window: invalid duration 5: add a unit, such as 5s or 5ms",
            ),
            (
                "metrics: localhost:9464\n",
                "/h/rosey.yaml:1:10: metrics: invalid address \"localhost:9464\": expected IP:PORT",
            ),
            (
                "command_prefix: \"\"\n",
                "/h/rosey.yaml:1:17: command_prefix: invalid command prefix \"\": it must be 1 to 8",
            ),
            (
                "http:\n  allow_private: yes\n",
                "/h/rosey.yaml:2:18: http.allow_private: invalid type: string \"yes\", expected a boolean",
            ),
            (
                "nats_url: http://127.0.0.1:4222\n",
                "/h/rosey.yaml:1:11: nats_url: invalid NATS URL \"http://127.0.0.1:4222\": invalid scheme",
            ),
            (
                "log: \"info,[\"\n",
                "/h/rosey.yaml:1:6: log: invalid log filter",
            ),
            (
                "- a list\n",
                "/h/rosey.yaml:1:1: invalid type: sequence, expected a mapping of settings",
            ),
            (
                "supervision: 5\n",
                "/h/rosey.yaml:1:14: supervision: invalid type: integer \"5\", expected a mapping",
            ),
        ] {
            let got = error(text);
            assert!(
                got.starts_with(want),
                "{text:?}:\n got  {got}\n want {want}"
            );
        }
    }

    #[test]
    fn a_key_set_twice_points_at_the_second() {
        assert_eq!(
            error("log: info\nmetrics: 127.0.0.1:1\nlog: debug\n"),
            "/h/rosey.yaml:3:1: log is set twice (lines 1 and 3); keep one"
        );
        assert_eq!(
            error("supervision:\n  crash_window: 1m\n  crash_window: 2m\n"),
            "/h/rosey.yaml:3:3: supervision.crash_window is set twice (lines 2 and 3); keep one"
        );
    }

    #[test]
    fn broken_yaml_keeps_its_location() {
        let err = parse("log: info\nsupervision:\n  crash_window: 5m\n bad\n").unwrap_err();
        let at = err.location.unwrap();
        assert_eq!(at.line, 4, "{err}");
        assert!(!err.message.contains(" at line 4"), "{err}");
    }

    #[test]
    fn large_files_are_refused() {
        let text = format!("# {}\n", "x".repeat(MAX_FILE_BYTES as usize));
        assert!(error(&text).contains("KiB allowed"));
    }

    #[test]
    fn the_template_lists_every_key_and_uncommented_gives_the_defaults() {
        let template = template();
        assert_eq!(parse(&template).unwrap().config, ConfigFile::default());
        for k in &KEYS {
            let name = k.name.rsplit('.').next().unwrap();
            assert!(template.contains(&format!("#{name}: ")), "{}", k.name);
        }
        // Uncomment every setting (not the explanations): the values are
        // the defaults, and the two without a default get the example.
        let uncommented: String = template
            .lines()
            .map(|line| {
                let body = line.trim_start().trim_start_matches('#');
                if line.trim_start().starts_with("# ") || !line.trim_start().starts_with('#') {
                    format!("{line}\n")
                } else {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    format!("{indent}{body}\n")
                }
            })
            .collect();
        let s = resolve(&uncommented, &[], &Flags::default());
        let defaults =
            Settings::resolve(Path::new("/h/rosey.yaml"), None, &no_env, &Flags::default())
                .unwrap();
        assert_eq!(s.supervision(), defaults.supervision());
        assert_eq!(s.command_prefix.value, defaults.command_prefix.value);
        assert_eq!(s.log.value, defaults.log.value);
        assert_eq!(
            s.http_allow_private.value,
            defaults.http_allow_private.value
        );
        assert_eq!(s.nats_url.value.as_deref(), Some("nats://127.0.0.1:4222"));
        assert!(s.metrics.value.is_some());
        assert!(s.entries().iter().all(|e| e.source.kind() == "file"));
    }

    #[test]
    fn key_lines_are_found_in_block_and_flow_style() {
        let text = "# c\nlog: info\nsupervision:\n  # c\n\n  crash_window: 5m\nhttp: {allow_private: true}\n\"command_prefix\": \"?\"\n";
        assert_eq!(key_line(text, "log"), Some(2));
        assert_eq!(key_line(text, "supervision.crash_window"), Some(6));
        assert_eq!(key_line(text, "supervision.quarantine_after"), None);
        assert_eq!(key_line(text, "http.allow_private"), Some(7));
        assert_eq!(key_line(text, "command_prefix"), Some(8));
        assert_eq!(key_line(text, "metrics"), None);
    }

    #[test]
    fn settings_reach_the_host_config() {
        let s = resolve(FULL, &[], &Flags::default());
        let mut config = HostConfig::new(crate::home::RoseyHome::new("/h"), "nats://x:4222");
        s.apply(&mut config);
        assert_eq!(config.command_prefix, "?");
        assert!(config.allow_private_http);
        assert_eq!(config.metrics, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(config.supervision.quarantine_after, 3);
        assert_eq!(config.supervision.backoff_max, Duration::from_secs(60));
    }

    #[test]
    fn flags_become_arguments_again() {
        let flags = Flags {
            nats_url: Some("nats://a:1".into()),
            quarantine_after: Some(2),
            crash_window: Some(HumanDuration(Duration::from_secs(600))),
            ..Flags::default()
        };
        assert_eq!(
            flags.to_args(),
            [
                "--nats-url=nats://a:1",
                "--quarantine-after=2",
                "--crash-window=10m"
            ]
        );
    }
}
