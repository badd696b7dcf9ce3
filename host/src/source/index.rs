//! Plugin indexes on the web or on disk: loading one, and downloading a
//! package it lists (always checked against the sha256 it lists).

use anyhow::{Context, Result, bail};

use super::Fetched;
use super::download::Location;
use crate::package::{Index, IndexedVersion, MAX_ARCHIVE_BYTES, MAX_INDEX_BYTES, PluginName};
use crate::provenance::Origin;

/// An index, read from where it lives.
#[derive(Debug, Clone)]
pub struct LoadedIndex {
    /// Where it was read from.
    pub location: Location,
    /// What it lists.
    pub index: Index,
}

/// Reads and checks the index at `location`.
pub fn load(location: &Location) -> Result<LoadedIndex> {
    let bytes = location
        .read(MAX_INDEX_BYTES as u64)
        .with_context(|| format!("could not read the index {location}"))?;
    let index = Index::from_json(&bytes).with_context(|| format!("index {location}"))?;
    Ok(LoadedIndex {
        location: location.clone(),
        index,
    })
}

impl LoadedIndex {
    /// Downloads `entry` of plugin `name`: its file, which must have the
    /// sha256 the index lists, with the index's signature for it.
    pub fn download(&self, name: &PluginName, entry: &IndexedVersion) -> Result<Fetched> {
        let at = self
            .location
            .join(&entry.url)
            .with_context(|| format!("the index's entry for {name} {}", entry.version))?;
        let bytes = at
            .read(MAX_ARCHIVE_BYTES)
            .with_context(|| format!("could not download {name} {}", entry.version))?;
        let fetched = Fetched {
            bytes,
            signature: entry.signature.clone(),
            origin: Origin::Index {
                index: crate::provenance::redact_url(&self.location.to_string()),
                url: crate::provenance::redact_url(&at.to_string()),
            },
            expected: Some((name.clone(), entry.version.clone())),
        };
        let actual = fetched.sha256();
        if actual != entry.sha256 {
            bail!(
                "refused: {at} has sha256 {actual}, but the index lists {}; the file was changed \
                 after it was published (or the index is stale), so nothing was installed",
                entry.sha256
            );
        }
        Ok(fetched)
    }
}
