//! Packages uploaded to the admin API. Every upload, for inspection, an
//! install or an update, goes through [`admit`]: the one place that reads
//! the bytes, lets them in through the signature check and trust policy of
//! this home's `rosey.yaml` ([`Fetched::admit`], as a file or a git or index
//! install is), checks the package as `rosey plugin validate` does, and works
//! out what the plugin asks for and the approval digest that binds to it.

use serde::Serialize;

use crate::approval::Asked;
use crate::home::RoseyHome;
use crate::host_config::{Flags, Settings, process_env};
use crate::package::{MAX_ARCHIVE_BYTES, MAX_WASM_BYTES};
use crate::provenance::Origin;
use crate::runtime::Runtime;
use crate::source::{Admitted, Fetched};
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

/// An uploaded package, let in and checked.
#[derive(Debug)]
pub struct Upload {
    /// The package with its provenance (origin `upload`, sha256, signer).
    pub admitted: Admitted,
    /// sha256 of the uploaded file.
    pub sha256: String,
    /// What it asks for.
    pub asked: Asked,
    /// The digest an approval of it must carry.
    pub approval: String,
    /// Everything `rosey plugin validate` finds in it.
    pub report: Report,
    /// Whether a signature came with it.
    pub signed: bool,
}

/// Why an upload was refused before anything else could be said about it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Read and check an uploaded package file (`.roseyplug` or `.wasm`) and
/// its optional detached signature (the text of a `.minisig` file), under
/// the trust policy in `home`'s `rosey.yaml`.
///
/// This is the one function an uploaded package goes through before the
/// host acts on it; checks that apply to every upload belong here.
pub fn admit(
    runtime: &Runtime,
    home: &RoseyHome,
    file_name: &str,
    bytes: Vec<u8>,
    signature: Option<String>,
) -> Result<Upload, Refused> {
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
    let trust = Settings::load(&home.config_file(), &process_env, &Flags::default())
        .map_err(|e| Refused(format!("{e}; {}", e.fix())))?
        .trust();
    let signed = signature.is_some();
    let fetched = Fetched {
        bytes,
        signature,
        origin: Origin::Upload {
            filename: Some(file_name.to_owned()).filter(|n| !n.is_empty()),
        },
        expected: None,
    };
    let sha256 = fetched.sha256();
    let admitted = fetched
        .admit(&trust)
        .map_err(|e| Refused(format!("{e:#}")))?;
    let report = validate::validate_package(runtime, &admitted.package, file_name.to_owned());
    let asked = Asked::of(&admitted.package.manifest);
    let approval = asked.approval(&sha256);
    Ok(Upload {
        admitted,
        sha256,
        asked,
        approval,
        report,
        signed,
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
    /// Whether it was verified against a key trusted in `rosey.yaml`.
    pub verified: bool,
    /// In words.
    pub note: String,
}

impl Upload {
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
                changes: permission_changes(&old, &self.admitted.package.manifest),
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
            signature: match (&self.admitted.provenance.signer, &self.admitted.warning) {
                (Some(signer), _) => SignatureState {
                    provided: true,
                    verified: true,
                    note: format!("signed by {signer}"),
                },
                (None, Some(warning)) => SignatureState {
                    provided: self.signed,
                    verified: false,
                    note: warning.clone(),
                },
                (None, None) => SignatureState {
                    provided: self.signed,
                    verified: false,
                    note: if self.signed {
                        "not verified".into()
                    } else {
                        "none sent".into()
                    },
                },
            },
        }
    }
}
