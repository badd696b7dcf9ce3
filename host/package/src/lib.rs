//! `.roseyplug` packages: the archive format and the manifest
//! (architecture.md §6, security.md "Archives and manifests").
//!
//! This crate has no runtime (no wasmtime, no I/O beyond reading files), so
//! validators, tooling and the fuzz targets in `fuzz/` can use it cheaply;
//! `rosey-host` re-exports it as `rosey_host::package`.
//!
//! It owns everything between untrusted bytes and a validated
//! [`Package`]:
//!
//! - [`Manifest`]: `manifest.yaml`, parsed strictly (unknown fields are
//!   errors with a "did you mean" hint) and validated ([`Manifest::validate`]),
//!   with [`Limits`] filled from safe defaults;
//! - [`Package::read_archive`]: Rosey's own ZIP extractor (allow-listed
//!   layout, no path tricks, no links, hard caps on entries and sizes, each
//!   entry read through `take(cap + 1)`);
//! - [`Package::from_wasm`] and [`embed_manifest`]: a bare component carrying
//!   its manifest in a `rosey-manifest` custom section;
//! - [`subject_matches`]: the NATS subject check the runtime runs on every
//!   publish and delivery.
//!
//! Nothing here writes to disk; installing (staging directory, atomic
//! rename) is the caller's job.

#![warn(missing_docs)]

mod archive;
mod dependencies;
mod embed;
mod error;
mod extract;
mod index;
mod layout;
mod limits;
mod manifest;
mod manifest_error;
mod migrations;
mod name;
mod project;
mod signature;
mod subject;
mod units;
mod validate;
mod version_fields;

#[cfg(test)]
mod archive_tests;
#[cfg(test)]
mod manifest_tests;
#[cfg(test)]
mod test_archives;

pub use archive::Package;
pub use dependencies::{
    DependencyError, Planned, Present, Unmet, dependents_broken_by, plan as plan_installs, unmet,
};
pub use embed::{
    MANIFEST_SECTION, MAX_WASM_BYTES, check_component, embed_manifest, extract_manifest,
};
pub use error::PackageError;
pub use extract::{
    MAX_ARCHIVE_BYTES, MAX_COMPRESSION_RATIO, MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES,
    RATIO_CHECK_THRESHOLD,
};
pub use index::{
    INDEX_FORMAT, Index, IndexError, IndexedPlugin, IndexedVersion, MAX_INDEX_BYTES, is_exact,
    is_sha256_hex, parse_requirement,
};
pub use layout::MAX_PATH_BYTES;
pub use limits::{
    DEFAULT_FUEL_PER_CALL, DEFAULT_MEMORY, DEFAULT_PUBLISH_RATE, DEFAULT_STORAGE, DEFAULT_TIMEOUT,
    Limits, MAX_FUEL_PER_CALL, MAX_MEMORY, MAX_STORAGE, MAX_TIMEOUT, MIN_MEMORY, MIN_TIMEOUT,
};
pub use manifest::{
    CommandSpec, Dependencies, MANIFEST_VERSION, MAX_MANIFEST_BYTES, Manifest, Network, Permission,
    PluginDependency, Resources, SERVED_API, SUPPORTED_API, Schedule, Subjects, UnknownPermission,
};
pub use manifest_error::{
    Location, ManifestError, UnknownKind, UnknownName, closest, edit_distance, tidy,
};
pub use migrations::Migration;
pub use name::{CommandName, InvalidName, PluginName};
pub use signature::{
    KeyId, MAX_SIGNATURE_BYTES, PublicKey, SIGNATURE_SUFFIX, SecretKey, Signature, SignatureError,
    generate_key,
};
pub use subject::{
    BOT_CORE_SUBJECTS, MAX_SUBJECT_LEN, RESERVED_SUBJECTS, SubjectDirection, SubjectError,
    check_declared_pattern, is_valid_pattern, is_valid_subject, patterns_overlap, subject_matches,
};
pub use units::{ByteSize, HumanDuration, Rate, UnitError};
pub use validate::MIN_SCHEDULE_INTERVAL;
