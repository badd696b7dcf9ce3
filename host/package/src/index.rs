//! A plugin index: one static JSON file listing plugins, their versions,
//! where to download each and its sha256 and signature (docs/publishing.md).
//!
//! ```json
//! {
//!   "rosey_index": 1,
//!   "plugins": {
//!     "quote-bot": {
//!       "description": "Random quotes; add and search them",
//!       "versions": [
//!         { "version": "1.2.0", "url": "quote-bot-1.2.0.roseyplug",
//!           "sha256": "9f86d0...", "signature": "untrusted comment: ...\n...",
//!           "rosey_api": "^0.1", "dependencies": [] }
//!       ]
//!     }
//!   }
//! }
//! ```
//!
//! An index is untrusted input: it is size-capped before parsing, its
//! names and versions are validated, and what it says is only a promise.
//! The downloaded file must have the listed sha256, and its own manifest is
//! what the host installs (a manifest that disagrees with its entry is
//! refused by the caller).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::manifest::{Permission, PluginDependency};
use super::manifest_error::closest;
use super::name::PluginName;
use super::version_fields;

/// The only index format this host reads (`"rosey_index": 1`).
pub const INDEX_FORMAT: u32 = 1;

/// The largest index read, checked before parsing.
pub const MAX_INDEX_BYTES: usize = 8 << 20;

/// A parsed plugin index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Index {
    /// The index format; must be [`INDEX_FORMAT`].
    pub rosey_index: u32,
    /// What this index is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every plugin, by name.
    #[serde(default)]
    pub plugins: BTreeMap<PluginName, IndexedPlugin>,
}

/// One plugin in an index.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct IndexedPlugin {
    /// What it does (its newest manifest's `description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Where to read more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Keywords for `rosey plugin search`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Every published version, in any order.
    pub versions: Vec<IndexedVersion>,
}

/// One published version of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IndexedVersion {
    /// The version (its manifest's `version`).
    #[serde(deserialize_with = "version_fields::version")]
    #[schemars(with = "String")]
    pub version: semver::Version,
    /// Where the `.roseyplug` is: relative to the index, or an absolute
    /// `https://` (or `http://`) URL.
    pub url: String,
    /// The sha256 of the file, 64 lowercase hexadecimal digits; always
    /// checked.
    pub sha256: String,
    /// The file's detached minisign signature (the text of its `.minisig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Its manifest's `rosey_api`, so an incompatible version is skipped
    /// before it is downloaded.
    #[serde(deserialize_with = "version_fields::version_req")]
    #[schemars(with = "String")]
    pub rosey_api: semver::VersionReq,
    /// Its manifest's permissions, for `rosey plugin search` (the
    /// package's own manifest is what is shown for approval).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// Its manifest's `dependencies.plugins`, resolved before downloading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<PluginDependency>,
    /// The file's size in bytes, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Withdrawn: never chosen by a version range, only by an exact
    /// `NAME@=VERSION`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub yanked: bool,
}

/// Why an index was refused, or a plugin could not be found in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Over [`MAX_INDEX_BYTES`].
    #[error("the index is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, or not the shape of an index.
    #[error("the index is not a valid Rosey index: {detail}")]
    Invalid {
        /// What the parser said.
        detail: String,
    },
    /// A format this host does not read.
    #[error(
        "the index has format {found}; this host reads format {INDEX_FORMAT}: upgrade Rosey, or \
         ask the index's maintainer for a format-{INDEX_FORMAT} index"
    )]
    Format {
        /// The format found.
        found: u32,
    },
    /// An entry breaks the rules.
    #[error("the index's entry for {plugin} {version}: {problem}")]
    BadEntry {
        /// The plugin.
        plugin: String,
        /// The version.
        version: String,
        /// What is wrong.
        problem: String,
    },
    /// The plugin is not in the index.
    #[error("there is no plugin named \"{name}\" in the index{}", suggestion(.near))]
    NotFound {
        /// The name asked for.
        name: String,
        /// A similar name in the index, if any.
        near: Option<String>,
    },
    /// No version fits.
    #[error("{name}: {why}")]
    NoVersion {
        /// The plugin.
        name: String,
        /// Which versions exist and why none fits.
        why: String,
    },
}

fn suggestion(near: &Option<String>) -> String {
    match near {
        Some(near) => format!(" (did you mean \"{near}\"?)"),
        None => "; `rosey plugin search TERM` lists what it has".into(),
    }
}

impl Index {
    /// Parses and checks an index.
    pub fn from_json(bytes: &[u8]) -> Result<Index, IndexError> {
        if bytes.len() > MAX_INDEX_BYTES {
            return Err(IndexError::TooLarge {
                size: bytes.len(),
                max: MAX_INDEX_BYTES,
            });
        }
        // The format first, so a future format is reported as such rather
        // than as a shape error.
        #[derive(Deserialize)]
        struct Format {
            rosey_index: Option<serde_json::Value>,
        }
        let format: Format = serde_json::from_slice(bytes).map_err(|e| IndexError::Invalid {
            detail: e.to_string(),
        })?;
        match format.rosey_index {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(INDEX_FORMAT)) => {}
            Some(serde_json::Value::Number(n)) => {
                return Err(IndexError::Format {
                    found: n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
                });
            }
            _ => {
                return Err(IndexError::Invalid {
                    detail: "it has no \"rosey_index\": 1 (is it a Rosey plugin index?)".into(),
                });
            }
        }
        let index: Index = serde_json::from_slice(bytes).map_err(|e| IndexError::Invalid {
            detail: e.to_string(),
        })?;
        index.check()?;
        Ok(index)
    }

    fn check(&self) -> Result<(), IndexError> {
        for (name, plugin) in &self.plugins {
            let mut seen = std::collections::BTreeSet::new();
            for entry in &plugin.versions {
                let bad = |problem: String| IndexError::BadEntry {
                    plugin: name.to_string(),
                    version: entry.version.to_string(),
                    problem,
                };
                if !seen.insert(&entry.version) {
                    return Err(bad("the version is listed twice".into()));
                }
                if !is_sha256_hex(&entry.sha256) {
                    return Err(bad(format!(
                        "sha256 {:?} is not 64 lowercase hexadecimal digits",
                        entry.sha256
                    )));
                }
                if entry.url.trim().is_empty() || entry.url.contains(['\n', '\r', '\0']) {
                    return Err(bad("its url is empty or has control characters".into()));
                }
                if entry.dependencies.iter().any(|d| &d.name == name) {
                    return Err(bad("it depends on itself".into()));
                }
            }
        }
        Ok(())
    }

    /// The plugin called `name`, or the error to show.
    pub fn plugin(&self, name: &str) -> Result<(&PluginName, &IndexedPlugin), IndexError> {
        self.plugins
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.plugins.keys().map(PluginName::as_str).collect();
                IndexError::NotFound {
                    name: name.to_owned(),
                    near: closest(name, &names).map(str::to_owned),
                }
            })
    }

    /// The newest version of `name` that `req` accepts, that is not yanked
    /// (unless `req` pins it exactly) and whose `rosey_api` accepts `api`.
    pub fn resolve(
        &self,
        name: &str,
        req: &semver::VersionReq,
        api: &semver::Version,
    ) -> Result<&IndexedVersion, IndexError> {
        let (_, plugin) = self.plugin(name)?;
        let pinned = is_exact(req);
        let mut versions: Vec<&IndexedVersion> = plugin.versions.iter().collect();
        versions.sort_by(|a, b| b.version.cmp(&a.version));
        let wanted: Vec<&IndexedVersion> = versions
            .iter()
            .copied()
            .filter(|v| req.matches(&v.version) && (pinned || !v.yanked))
            .collect();
        if let Some(found) = wanted.iter().find(|v| v.rosey_api.matches(api)) {
            return Ok(found);
        }
        let listed = versions
            .iter()
            .map(|v| {
                let mut text = v.version.to_string();
                if v.yanked {
                    text.push_str(" (yanked)");
                }
                text
            })
            .collect::<Vec<_>>()
            .join(", ");
        let why = match wanted.first() {
            Some(newest) => format!(
                "the versions matching {req} ({}) need plugin API {}, and this host serves {api}; \
                 upgrade Rosey or ask for a version built for {api}",
                wanted
                    .iter()
                    .map(|v| v.version.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                newest.rosey_api
            ),
            None if versions.is_empty() => "the index lists no versions of it".into(),
            None => format!("no version matches {req}; the index has {listed}"),
        };
        Err(IndexError::NoVersion {
            name: name.to_owned(),
            why,
        })
    }

    /// The newest version of every plugin, by name (yanked versions and
    /// versions this host cannot run left out).
    pub fn newest(&self, name: &str, api: &semver::Version) -> Option<&IndexedVersion> {
        self.resolve(name, &semver::VersionReq::STAR, api).ok()
    }

    /// Plugins whose name, description or tags contain `term` (ignoring
    /// case), by name.
    pub fn search<'a>(&'a self, term: &str) -> Vec<(&'a PluginName, &'a IndexedPlugin)> {
        let term = term.to_lowercase();
        self.plugins
            .iter()
            .filter(|(name, plugin)| {
                name.as_str().contains(&term)
                    || plugin
                        .description
                        .as_deref()
                        .is_some_and(|d| d.to_lowercase().contains(&term))
                    || plugin.tags.iter().any(|t| t.to_lowercase().contains(&term))
            })
            .collect()
    }
}

/// Whether `req` names exactly one version (`=1.2.0`).
pub fn is_exact(req: &semver::VersionReq) -> bool {
    matches!(req.comparators.as_slice(), [c] if c.op == semver::Op::Exact
        && c.minor.is_some() && c.patch.is_some())
}

/// Parses what an operator types after `NAME@`: a bare version
/// (`1.2.0`) means exactly that version, anything else is a range
/// (`^1.2`, `>=1, <2`).
pub fn parse_requirement(text: &str) -> Result<semver::VersionReq, String> {
    let text = text.trim();
    if let Ok(version) = semver::Version::parse(text) {
        return semver::VersionReq::parse(&format!("={version}")).map_err(|e| e.to_string());
    }
    semver::VersionReq::parse(text).map_err(|e| {
        format!("invalid version requirement {text:?}: expected 1.2.0, ^1.2 or \">=1, <2\" ({e})")
    })
}

/// Whether `text` is a sha256 as the index writes it.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn entry(version: &str, api: &str, yanked: bool) -> serde_json::Value {
        serde_json::json!({
            "version": version, "url": format!("echo-{version}.roseyplug"), "sha256": SHA,
            "rosey_api": api, "yanked": yanked
        })
    }

    fn index(versions: Vec<serde_json::Value>) -> Index {
        let json = serde_json::json!({
            "rosey_index": 1,
            "plugins": { "echo": { "description": "Says it back", "tags": ["demo"], "versions": versions } }
        });
        Index::from_json(json.to_string().as_bytes()).unwrap()
    }

    fn api() -> semver::Version {
        semver::Version::new(0, 1, 0)
    }

    #[test]
    fn the_newest_matching_runnable_unyanked_version_is_chosen() {
        let index = index(vec![
            entry("1.0.0", "^0.1", false),
            entry("1.3.0", "^0.2", false),
            entry("1.2.0", "^0.1", true),
            entry("1.1.0", "^0.1", false),
            entry("2.0.0", "^0.1", false),
        ]);
        let req = parse_requirement("^1").unwrap();
        assert_eq!(
            index
                .resolve("echo", &req, &api())
                .unwrap()
                .version
                .to_string(),
            "1.1.0"
        );
        let pinned = parse_requirement("1.2.0").unwrap();
        assert_eq!(
            index
                .resolve("echo", &pinned, &api())
                .unwrap()
                .version
                .to_string(),
            "1.2.0"
        );
        assert_eq!(
            index.newest("echo", &api()).unwrap().version.to_string(),
            "2.0.0"
        );
        let too_new = parse_requirement("^1.3").unwrap();
        let err = index
            .resolve("echo", &too_new, &api())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("need plugin API ^0.2") && err.contains("serves 0.1.0"),
            "{err}"
        );
        let none = parse_requirement("^3").unwrap();
        let err = index
            .resolve("echo", &none, &api())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no version matches ^3") && err.contains("1.2.0 (yanked)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_names_get_a_suggestion() {
        let index = index(vec![entry("1.0.0", "^0.1", false)]);
        let err = index
            .resolve("ecko", &semver::VersionReq::STAR, &api())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "there is no plugin named \"ecko\" in the index (did you mean \"echo\"?)"
        );
    }

    #[test]
    fn search_matches_names_descriptions_and_tags() {
        let index = index(vec![entry("1.0.0", "^0.1", false)]);
        assert_eq!(index.search("ECH").len(), 1);
        assert_eq!(index.search("says").len(), 1);
        assert_eq!(index.search("demo").len(), 1);
        assert!(index.search("weather").is_empty());
    }

    #[test]
    fn hostile_indexes_are_refused() {
        let cases: Vec<(String, &str)> = vec![
            ("{}".into(), "no \"rosey_index\""),
            ("[1, 2]".into(), "not a valid Rosey index"),
            (r#"{"rosey_index": 2, "plugins": {}}"#.into(), "format 2"),
            (r#"{"rosey_index": "1"}"#.into(), "no \"rosey_index\""),
            (
                r#"{"rosey_index": 1, "plugins": {"../etc": {"versions": []}}}"#.into(),
                "invalid plugin name",
            ),
            (
                serde_json::json!({"rosey_index": 1, "plugins": {"echo": {"versions": [
                    {"version": "1.0.0", "url": "x", "sha256": "ABC", "rosey_api": "^0.1"}]}}})
                .to_string(),
                "not 64 lowercase hexadecimal digits",
            ),
            (
                serde_json::json!({"rosey_index": 1, "plugins": {"echo": {"versions": [
                    entry("1.0.0", "^0.1", false), entry("1.0.0", "^0.1", false)]}}})
                .to_string(),
                "listed twice",
            ),
            (
                serde_json::json!({"rosey_index": 1, "plugins": {"echo": {"versions": [
                    {"version": "1.0", "url": "x", "sha256": SHA, "rosey_api": "^0.1"}]}}})
                .to_string(),
                "invalid version",
            ),
            (
                serde_json::json!({"rosey_index": 1, "plugins": {"echo": {"versions": [
                    {"version": "1.0.0", "url": "x", "sha256": SHA, "rosey_api": "^0.1",
                     "dependencies": [{"name": "echo", "version": "^1"}]}]}}})
                .to_string(),
                "depends on itself",
            ),
            ("x".repeat(MAX_INDEX_BYTES + 1), "more than the"),
        ];
        for (text, expected) in cases {
            let err = Index::from_json(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:.80}: {err}");
        }
    }

    #[test]
    fn requirements_read_as_operators_mean_them() {
        assert!(is_exact(&parse_requirement("1.2.0").unwrap()));
        assert!(!is_exact(&parse_requirement("^1.2").unwrap()));
        assert!(!is_exact(&parse_requirement("=1.2").unwrap()));
        assert!(
            parse_requirement("one")
                .unwrap_err()
                .contains("expected 1.2.0")
        );
    }
}
