//! Packages uploaded to the admin API. Every upload, for inspection, an
//! install or an update, goes through [`admit`]: the one place that reads
//! the bytes, checks them as `rosey plugin validate` does, and works out what
//! the plugin asks for and the approval digest that binds to it.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::approval::Asked;
use crate::package::{MAX_ARCHIVE_BYTES, MAX_WASM_BYTES, Package};
use crate::runtime::Runtime;
use crate::update::{Changes, permission_changes};
use crate::validate::{self, Report};

/// The largest package file accepted (the package reader's own cap).
pub const MAX_PACKAGE_BYTES: u64 = if MAX_ARCHIVE_BYTES > MAX_WASM_BYTES {
    MAX_ARCHIVE_BYTES
} else {
    MAX_WASM_BYTES
};
/// The largest detached signature accepted.
pub const MAX_SIGNATURE_BYTES: usize = 4096;

/// An uploaded package, read and checked.
#[derive(Debug)]
pub struct Admitted {
    /// The package (when it could be read at all).
    pub package: Package,
    /// sha256 of the uploaded file.
    pub sha256: String,
    /// What it asks for.
    pub asked: Asked,
    /// The digest an approval of it must carry.
    pub approval: String,
    /// Everything `rosey plugin validate` finds in it.
    pub report: Report,
    /// The detached signature sent with it, if any.
    pub signature: Option<String>,
}

/// Why an upload was refused before anything else could be said about it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Read and check an uploaded package file (`.roseyplug` or `.wasm`) and
/// its optional detached signature (the text of a `.minisig` file).
///
/// This is the one function an uploaded package goes through before the
/// host acts on it; checks that apply to every upload belong here.
/// Signatures are not verified yet: one sent is kept and reported as not
/// verified.
pub fn admit(
    runtime: &Runtime,
    file_name: &str,
    bytes: &[u8],
    signature: Option<String>,
) -> Result<Admitted, Refused> {
    if bytes.len() as u64 > MAX_PACKAGE_BYTES {
        return Err(Refused(format!(
            "{file_name} is {} bytes, more than the {} MiB a package may be",
            bytes.len(),
            MAX_PACKAGE_BYTES >> 20
        )));
    }
    if let Some(signature) = &signature
        && signature.len() > MAX_SIGNATURE_BYTES
    {
        return Err(Refused(format!(
            "the signature is {} bytes; a detached minisign signature is a few hundred",
            signature.len()
        )));
    }
    let sha256 = hex::encode(Sha256::digest(bytes));
    let package =
        Package::from_bytes(bytes, Path::new(file_name)).map_err(|e| Refused(e.to_string()))?;
    let report = validate::validate_package(runtime, &package, file_name.to_owned());
    let asked = Asked::of(&package.manifest);
    let approval = asked.approval(&sha256);
    Ok(Admitted {
        package,
        sha256,
        asked,
        approval,
        report,
        signature,
    })
}

/// What `POST /api/plugins/inspect` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// sha256 of the uploaded file.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// What the plugin asks for.
    pub asked: Asked,
    /// The digest the install (or update) request must carry.
    pub approval: String,
    /// Whether the host would accept it (no validation errors).
    pub installable: bool,
    /// What validation found (errors and warnings, with codes).
    pub findings: Vec<validate::Finding>,
    /// If a plugin of that name is installed: its version and what this
    /// package would change in its powers (an update).
    pub installed: Option<InstalledNow>,
    /// About the detached signature.
    pub signature: SignatureState,
}

/// The installed version an upload would update.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledNow {
    /// The version installed now.
    pub version: String,
    /// What the upload adds and removes; anything added needs approval.
    pub changes: Changes,
}

/// Whether a signature came with the upload, and what was made of it.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureState {
    /// Whether one was sent.
    pub provided: bool,
    /// Whether it was verified against a trusted key.
    pub verified: bool,
    /// In words.
    pub note: String,
}

impl Admitted {
    /// The answer to an inspection, given what is installed under its name.
    pub fn inspection(
        &self,
        size: u64,
        installed: Option<&crate::registry::InstalledPlugin>,
    ) -> Inspection {
        let installed = installed.and_then(|plugin| {
            let old = plugin.manifest().ok()?;
            Some(InstalledNow {
                version: plugin.version.to_string(),
                changes: permission_changes(&old, &self.package.manifest),
            })
        });
        Inspection {
            sha256: self.sha256.clone(),
            size,
            asked: self.asked.clone(),
            approval: self.approval.clone(),
            installable: self.report.passed(),
            findings: self.report.findings.clone(),
            installed,
            signature: SignatureState {
                provided: self.signature.is_some(),
                verified: false,
                note: if self.signature.is_some() {
                    "not verified: this host does not check signatures yet".into()
                } else {
                    "none sent".into()
                },
            },
        }
    }
}
