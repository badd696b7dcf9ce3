//! Reading an index or a package from where an index says it is: a local
//! path, or an `http(s)://` URL, always with a size cap and a timeout.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long one download may take, connection to last byte.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The most redirects followed.
const MAX_REDIRECTS: u32 = 5;

/// Where an index or a package is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An `http://` or `https://` URL.
    Url(String),
    /// A file on this machine.
    Path(PathBuf),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Url(url) => f.write_str(url),
            Location::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Location {
    /// An index location as the operator writes it: a URL, or a path
    /// (made absolute, so that relative entries resolve against it).
    pub fn parse(text: &str) -> Result<Location> {
        let text = text.trim();
        if text.is_empty() {
            bail!("an empty index location: give a URL (https://...) or a file path");
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return match scheme.to_ascii_lowercase().as_str() {
                "https" | "http" => {
                    check_url(text)?;
                    Ok(Location::Url(text.to_owned()))
                }
                "file" => bail!(
                    "{text}: file:// URLs are not accepted; give the index's path instead \
                     (such as /srv/rosey/index.json)"
                ),
                other => bail!("{text}: unsupported scheme {other:?}; use https:// or a file path"),
            };
        }
        Ok(Location::Path(
            std::path::absolute(text).with_context(|| format!("{text}: not a usable path"))?,
        ))
    }

    /// Whether this is a plain-HTTP URL (anyone on the path can change
    /// what it serves).
    pub fn is_plain_http(&self) -> bool {
        matches!(self, Location::Url(url) if url[..url.find("://").unwrap_or(0)].eq_ignore_ascii_case("http"))
    }

    /// Resolves `reference` (an entry's `url`) against this location, the
    /// way a browser resolves a link: a relative reference is beside the
    /// index; an absolute `http(s)://` URL stands alone. An index on the web
    /// cannot point at files on this machine.
    pub fn join(&self, reference: &str) -> Result<Location> {
        let reference = reference.trim();
        if reference.contains("://") {
            // With a scheme, parse gives a URL or an error, never a path.
            return Location::parse(reference);
        }
        if reference.starts_with('/') || reference.starts_with('\\') {
            bail!(
                "{reference:?}: an index entry's url must be relative to the index or an \
                 https:// URL, not an absolute path"
            );
        }
        if reference.split(['/', '\\']).any(|part| part == "..") {
            bail!("{reference:?}: an index entry's url may not climb out of the index's directory");
        }
        match self {
            Location::Path(index) => {
                let dir = index.parent().unwrap_or(Path::new("/"));
                Ok(Location::Path(dir.join(reference)))
            }
            Location::Url(index) => {
                let base = index.split(['?', '#']).next().unwrap_or(index);
                let dir = match base.rfind('/') {
                    Some(at) if at > base.find("://").map_or(0, |s| s + 2) => &base[..=at],
                    _ => return Ok(Location::Url(format!("{base}/{reference}"))),
                };
                Ok(Location::Url(format!("{dir}{reference}")))
            }
        }
    }

    /// Reads the whole of it, refusing more than `max` bytes.
    pub fn read(&self, max: u64) -> Result<Vec<u8>> {
        match self {
            Location::Path(path) => read_file(path, max),
            Location::Url(url) => get(url, max),
        }
    }
}

fn check_url(url: &str) -> Result<()> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("{url:?}: a URL may not contain spaces or control characters");
    }
    let rest = &url[url.find("://").map_or(0, |at| at + 3)..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.ends_with('@') {
        bail!("{url}: the URL has no host");
    }
    Ok(())
}

fn read_file(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("could not read {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{} is larger than the {max} bytes allowed", path.display());
    }
    Ok(bytes)
}

fn get(url: &str, max: u64) -> Result<Vec<u8>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .max_redirects(MAX_REDIRECTS)
        .http_status_as_error(false)
        .user_agent(concat!("rosey/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| anyhow::anyhow!("could not download {url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "could not download {url}: the server answered {status}{}",
            if status.as_u16() == 404 {
                " (is the index's url for it right?)"
            } else {
                ""
            }
        );
    }
    response
        .body_mut()
        .with_config()
        .limit(max)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => {
                anyhow::anyhow!("{url} is larger than the {max} bytes allowed")
            }
            other => anyhow::anyhow!("could not download {url}: {other}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_resolve_beside_the_index() {
        let web = Location::parse("https://plugins.example.org/rosey/index.json").unwrap();
        assert_eq!(
            web.join("echo-1.0.0.roseyplug").unwrap(),
            Location::Url("https://plugins.example.org/rosey/echo-1.0.0.roseyplug".into())
        );
        assert_eq!(
            web.join("files/echo.roseyplug").unwrap().to_string(),
            "https://plugins.example.org/rosey/files/echo.roseyplug"
        );
        assert_eq!(
            web.join("https://cdn.example.org/echo.roseyplug")
                .unwrap()
                .to_string(),
            "https://cdn.example.org/echo.roseyplug"
        );
        let bare = Location::parse("http://127.0.0.1:8000").unwrap();
        assert!(bare.is_plain_http());
        assert_eq!(
            bare.join("a.roseyplug").unwrap().to_string(),
            "http://127.0.0.1:8000/a.roseyplug"
        );
        let local = Location::Path(PathBuf::from("/srv/index/index.json"));
        assert_eq!(
            local.join("echo.roseyplug").unwrap(),
            Location::Path(PathBuf::from("/srv/index/echo.roseyplug"))
        );
    }

    #[test]
    fn an_index_cannot_point_elsewhere_on_this_machine() {
        let web = Location::parse("https://plugins.example.org/index.json").unwrap();
        for bad in [
            "/etc/passwd",
            "../../etc/passwd",
            "a/../../b",
            "file:///etc/passwd",
            "ftp://x/y",
            "\\\\server\\share",
        ] {
            assert!(web.join(bad).is_err(), "accepted {bad}");
        }
        for bad in [
            "file:///srv/index.json",
            "gopher://x",
            "https://",
            "https://a b/c",
            "",
        ] {
            assert!(Location::parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
