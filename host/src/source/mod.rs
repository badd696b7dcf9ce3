//! Where packages come from, and how they are let in.
//!
//! `rosey plugin install SOURCE` takes a file, a git repository or a name
//! in an index ([`Source::parse`]). Whatever the source, what it yields is a
//! [`Fetched`] file: its bytes, its detached signature if it has one, and
//! where it came from. [`Fetched::admit`] is the one door in: it checks the
//! signature against the trusted keys and the policy *before* the package
//! is parsed, then parses it, and returns the package with the provenance
//! to record.
//!
//! - [`git`]: the hardened fetch of one commit of a repository;
//! - [`index`]: plugin indexes (a static JSON file on the web or on disk);
//! - [`download`]: capped reads of URLs and files.

pub mod download;
pub mod git;
pub mod index;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::package::{MAX_SIGNATURE_BYTES, Package, PluginName, SIGNATURE_SUFFIX};
use crate::provenance::{Origin, Provenance};
use crate::trust::Trust;

pub use git::GitSource;

/// What the operator asked to install from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A `.roseyplug` archive or a `.wasm` component.
    File(PathBuf),
    /// A git repository.
    Git(GitSource),
    /// A plugin in the configured index.
    Index {
        /// The plugin's name.
        name: PluginName,
        /// The versions that will do.
        req: semver::VersionReq,
    },
}

impl Source {
    /// Reads what the operator typed:
    ///
    /// - an existing file: that file;
    /// - an existing directory that is a git repository, or `https://...`,
    ///   `ssh://...` or `user@host:path` URLs, each with an optional
    ///   `#REF` (branch, tag or commit): that repository;
    /// - `NAME` or `NAME@REQ` (`quote-bot@^1.2`, `quote-bot@1.2.0`): that
    ///   plugin in the index.
    ///
    /// Refused, with the reason: anything starting with `-`, git's
    /// `transport::address` form (`ext::...`), `file://`, `git://` and
    /// plain `http://` repositories.
    pub fn parse(text: &str) -> Result<Source> {
        if text.starts_with('-') {
            bail!("{text:?}: a source cannot start with \"-\"");
        }
        if text.trim().is_empty() || text.chars().any(char::is_control) {
            bail!("{text:?}: not a file, a repository or a plugin name");
        }
        if let Some(at) = text.find("::")
            && !text[..at].contains(['/', ':'])
        {
            bail!(
                "{text:?}: git's transport::address form ({}::) is refused; give an https:// or \
                 ssh:// URL, or a local path",
                &text[..at]
            );
        }
        if Path::new(text).is_file() {
            return Ok(Source::File(PathBuf::from(text)));
        }
        let (base, reference) = split_reference(text)?;
        if let Some((scheme, _)) = base.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            return match scheme.as_str() {
                "https" | "ssh" => Ok(Source::Git(GitSource {
                    url: check_remote(base)?,
                    reference,
                    local: false,
                })),
                "file" => bail!(
                    "{text:?}: file:// URLs are refused; give the repository's path instead \
                     (such as ./my-plugin or /srv/git/my-plugin.git)"
                ),
                "http" => bail!(
                    "{text:?}: plain http:// is refused for repositories (anyone on the way could \
                     change the code); use https://"
                ),
                "git" => {
                    bail!("{text:?}: git:// is unauthenticated and refused; use https:// or ssh://")
                }
                other => bail!("{text:?}: unsupported scheme {other:?}; use https:// or ssh://"),
            };
        }
        let path = Path::new(base);
        if path.is_dir() {
            if !is_git_repository(path) {
                bail!(
                    "{} is a directory but not a git repository; to install a plugin project, \
                     build it first (`rosey plugin build {}`) and install the .roseyplug",
                    path.display(),
                    path.display()
                );
            }
            let absolute = std::path::absolute(path)
                .with_context(|| format!("{}: not a usable path", path.display()))?;
            return Ok(Source::Git(GitSource {
                url: absolute.to_string_lossy().into_owned(),
                reference,
                local: true,
            }));
        }
        if is_scp_like(base) {
            return Ok(Source::Git(GitSource {
                url: check_remote(base)?,
                reference,
                local: false,
            }));
        }
        let (name, req) = match text.split_once('@') {
            Some((name, req)) => (name, Some(req)),
            None => (text, None),
        };
        if let Ok(name) = name.parse::<PluginName>()
            && !text.contains(['/', '#'])
        {
            let req = match req {
                Some(req) => crate::package::parse_requirement(req).map_err(anyhow::Error::msg)?,
                None => semver::VersionReq::STAR,
            };
            return Ok(Source::Index { name, req });
        }
        bail!(
            "{text}: no such file or repository, and not a plugin name (NAME or NAME@VERSION) \
             to look up in the index"
        )
    }
}

/// `text` and its `#REF`, if any (the reference is checked).
fn split_reference(text: &str) -> Result<(&str, Option<String>)> {
    let Some((base, reference)) = text.rsplit_once('#') else {
        return Ok((text, None));
    };
    let valid = !reference.is_empty()
        && reference.len() <= 200
        && !reference.starts_with(['-', '/', '.'])
        && !reference.contains("..")
        && !reference.ends_with(['/', '.'])
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    if !valid {
        bail!(
            "{text:?}: {reference:?} is not a branch, tag or commit name Rosey accepts (letters, \
             digits, '.', '_', '-' and '/'; not starting with '-')"
        );
    }
    Ok((base, Some(reference.to_owned())))
}

/// `user@host:path`, the scp-like form of an SSH URL.
fn is_scp_like(text: &str) -> bool {
    let Some((user_host, path)) = text.split_once(':') else {
        return false;
    };
    let Some((user, host)) = user_host.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && !host.is_empty()
        && !path.is_empty()
        && !user_host.contains('/')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
}

/// Refuses a remote URL that git could misread.
fn check_remote(url: &str) -> Result<String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("{url:?}: a repository URL may not contain spaces or control characters");
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    if rest.starts_with('-') || rest.contains("@-") {
        bail!("{url:?}: a host name cannot start with \"-\"");
    }
    Ok(url.to_owned())
}

/// A work tree with `.git`, or a bare repository.
fn is_git_repository(dir: &Path) -> bool {
    dir.join(".git").exists() || (dir.join("HEAD").is_file() && dir.join("objects").is_dir())
}

/// A package file as it arrived, not yet trusted.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its bytes (a `.roseyplug` archive or a `.wasm` component).
    pub bytes: Vec<u8>,
    /// Its detached signature (the text of a `.minisig`), if it has one.
    pub signature: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// The plugin and version it must be (an index entry says which).
    pub expected: Option<(PluginName, semver::Version)>,
}

/// A package let in: parsed, with the provenance to record.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The package.
    pub package: Package,
    /// Where it came from, its sha256 and its signer.
    pub provenance: Provenance,
    /// Why it was let in without a trusted signature, if it was.
    pub warning: Option<String>,
}

impl Fetched {
    /// A package file on disk, with the signature at `signature` or, if
    /// none is named, at `FILE.minisig` when that exists.
    pub fn read_file(path: &Path, signature: Option<&Path>) -> Result<Fetched> {
        let bytes = Package::read_capped(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let beside = PathBuf::from(format!("{}{SIGNATURE_SUFFIX}", path.display()));
        let signature = match signature {
            Some(named) => Some(read_signature(named)?),
            None if beside.is_file() => Some(read_signature(&beside)?),
            None => None,
        };
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Fetched {
            bytes,
            signature,
            origin: Origin::File {
                path: absolute.to_string_lossy().into_owned(),
            },
            expected: None,
        })
    }

    /// The sha256 of the bytes, hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }

    /// Checks the signature and the policy, then parses the package. The
    /// package is not parsed at all if its signature is bad or the policy
    /// refuses it.
    pub fn admit(self, trust: &Trust) -> Result<Admitted> {
        let admitted = trust.check(&self.bytes, self.signature.as_deref())?;
        let label = PathBuf::from(self.origin.to_string());
        let package =
            Package::from_bytes(&self.bytes, &label).map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some((name, version)) = &self.expected {
            let m = &package.manifest;
            if &m.name != name || &m.version != version {
                bail!(
                    "refused: the index lists {name} {version}, but the file is {} {}; the \
                     index is wrong or the file was replaced",
                    m.name,
                    m.version
                );
            }
        }
        let sha256 = self.sha256();
        Ok(Admitted {
            provenance: Provenance::new(self.origin, sha256, admitted.signer),
            warning: admitted.warning,
            package,
        })
    }
}

/// Reads a `.minisig` file (at most [`MAX_SIGNATURE_BYTES`]).
pub fn read_signature(path: &Path) -> Result<String> {
    let bytes = download::Location::Path(path.to_path_buf())
        .read(MAX_SIGNATURE_BYTES as u64)
        .with_context(|| format!("could not read the signature {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{} is not a signature", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Source {
        Source::parse(text).unwrap()
    }

    fn refused(text: &str) -> String {
        Source::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn sources_read_as_an_operator_means_them() {
        assert_eq!(
            parse("https://example.org/u/x.git#v1.2.0"),
            Source::Git(GitSource {
                url: "https://example.org/u/x.git".into(),
                reference: Some("v1.2.0".into()),
                local: false,
            })
        );
        assert!(matches!(parse("git@example.org:u/x.git"), Source::Git(g) if !g.local));
        assert!(matches!(
            parse("ssh://git@example.org/u/x.git"),
            Source::Git(_)
        ));
        match parse("quote-bot@1.2.0") {
            Source::Index { name, req } => {
                assert_eq!(name.as_str(), "quote-bot");
                assert_eq!(req.to_string(), "=1.2.0");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(parse("quote-bot"), Source::Index { req, .. } if req == semver::VersionReq::STAR)
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        let text = format!("{}#main", dir.path().display());
        assert!(
            matches!(parse(&text), Source::Git(g) if g.local && g.reference.as_deref() == Some("main"))
        );
        let file = dir.path().join("x.roseyplug");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(parse(file.to_str().unwrap()), Source::File(file));
    }

    #[test]
    fn dangerous_sources_are_refused_with_the_reason() {
        assert!(refused("--upload-pack=touch /tmp/x").contains("cannot start with \"-\""));
        assert!(refused("ext::sh -c touch% /tmp/pwned").contains("transport::address"));
        assert!(refused("fd::17").contains("transport::address"));
        assert!(refused("file:///srv/repo").contains("file:// URLs are refused"));
        assert!(refused("http://example.org/x.git").contains("use https://"));
        assert!(refused("git://example.org/x.git").contains("unauthenticated"));
        assert!(refused("ssh://-oProxyCommand=touch/x").contains("cannot start with \"-\""));
        assert!(refused("https://example.org/x.git#--exec=x").contains("not a branch"));
        assert!(refused("https://example.org/x.git#a..b").contains("not a branch"));
        assert!(refused("https://exa mple.org/x.git").contains("spaces"));
        assert!(refused("quote-bot@banana").contains("invalid version requirement"));
        assert!(refused("./missing.roseyplug").contains("no such file"));
        let dir = tempfile::tempdir().unwrap();
        assert!(refused(dir.path().to_str().unwrap()).contains("not a git repository"));
    }
}
