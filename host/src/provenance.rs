//! Where an installed plugin came from: its source (a file, a git
//! repository at a commit, an index), the sha256 of what was installed and
//! who signed it. Recorded in `host.db` at install and update, shown by
//! `rosey plugin info`, and kept in backups with `host.db`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::protocol::now_ms;
use crate::trust::Signer;

/// Where a package came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A `.roseyplug` or `.wasm` file.
    File {
        /// The file, as an absolute path.
        path: String,
    },
    /// A git repository.
    Git {
        /// The repository (credentials removed).
        url: String,
        /// The branch, tag or commit asked for, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The commit that was installed.
        commit: String,
        /// The file in the repository that was installed, or `.` for a
        /// plugin built from the repository's sources.
        path: String,
        /// Whether it was built from sources on this machine.
        built: bool,
    },
    /// A plugin index.
    Index {
        /// The index (a URL or a file path).
        index: String,
        /// Where the package was downloaded from.
        url: String,
    },
    /// Uploaded through the admin API.
    Upload {
        /// The file name the browser gave, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path } => write!(f, "file {path}"),
            Origin::Git {
                url,
                reference,
                commit,
                path,
                built,
            } => {
                write!(f, "git {url}")?;
                if let Some(reference) = reference {
                    write!(f, "#{reference}")?;
                }
                write!(f, " at {commit}")?;
                if *built {
                    write!(f, " (built from source here)")
                } else {
                    write!(f, " ({path})")
                }
            }
            Origin::Index { index, url } => write!(f, "index {index} ({url})"),
            Origin::Upload {
                filename: Some(name),
            } => write!(f, "upload {name}"),
            Origin::Upload { filename: None } => write!(f, "upload"),
        }
    }
}

/// The provenance of an installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Where it came from.
    pub origin: Origin,
    /// The sha256 of the file that was installed (the archive or the
    /// component, as fetched or built).
    pub sha256: String,
    /// Who signed it, if a trusted key did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// When it was recorded (ms since the Unix epoch).
    pub recorded_at: i64,
}

impl Provenance {
    /// Provenance recorded now.
    pub fn new(origin: Origin, sha256: String, signer: Option<Signer>) -> Self {
        Self {
            origin,
            sha256,
            signer,
            recorded_at: now_ms(),
        }
    }
}

/// `url` without a user name or password (`https://token@host/x.git` →
/// `https://host/x.git`), so no credential is ever recorded or shown.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_record() {
        assert_eq!(
            redact_url("https://user:hunter2@git.example.org/x.git"),
            "https://git.example.org/x.git"
        );
        assert_eq!(
            redact_url("https://tok@git.example.org/a@b.git"),
            "https://git.example.org/a@b.git"
        );
        assert_eq!(redact_url("git@host:user/x.git"), "git@host:user/x.git");
        assert_eq!(redact_url("/srv/repo"), "/srv/repo");
    }

    #[test]
    fn origins_read_well() {
        let git = Origin::Git {
            url: "https://example.org/x.git".into(),
            reference: Some("v1.2.0".into()),
            commit: "3f2a".into(),
            path: ".".into(),
            built: true,
        };
        assert_eq!(
            git.to_string(),
            "git https://example.org/x.git#v1.2.0 at 3f2a (built from source here)"
        );
        let json = serde_json::to_string(&git).unwrap();
        assert!(json.starts_with(r#"{"kind":"git""#), "{json}");
        assert_eq!(serde_json::from_str::<Origin>(&json).unwrap(), git);
    }
}
