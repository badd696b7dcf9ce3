//! [`Package`]: a plugin ready to install, read from a `.roseyplug` archive
//! or a bare component, and written back as a deterministic archive.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{Cursor, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

use super::embed::{MAX_WASM_BYTES, check_component, embed_manifest, extract_manifest};
use super::error::PackageError;
use super::extract::{Entry, MAX_ARCHIVE_BYTES, read_entries};
use super::layout::{EntryKind, Layout};
use super::manifest::Manifest;
use super::migrations::{Migration, MigrationSet};

/// A validated plugin package, held in memory.
#[derive(Clone, PartialEq)]
pub struct Package {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The manifest exactly as written (what `manifest.yaml` holds).
    pub manifest_yaml: String,
    /// The component, as found (from an archive it carries the embedded manifest).
    pub wasm: Vec<u8>,
    /// Database migrations, sorted by version.
    pub migrations: Vec<Migration>,
    /// Files under `assets/`, keyed by their `/`-separated path relative to `assets/`.
    pub assets: BTreeMap<String, Vec<u8>>,
    /// `README.md`, if present.
    pub readme: Option<String>,
    /// `LICENSE`, if present.
    pub license: Option<String>,
}

impl fmt::Debug for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Package")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("wasm_bytes", &self.wasm.len())
            .field("migrations", &self.migrations.len())
            .field("assets", &self.assets.keys().collect::<Vec<_>>())
            .field("readme", &self.readme.is_some())
            .field("license", &self.license.is_some())
            .finish()
    }
}

/// The two kinds of file [`Package::read_file`] accepts.
const ZIP_MAGICS: [&[u8; 4]; 2] = [b"PK\x03\x04", b"PK\x05\x06"];
const WASM_MAGIC: &[u8; 4] = b"\0asm";

fn utf8(entry: &str, data: Vec<u8>) -> Result<String, PackageError> {
    String::from_utf8(data).map_err(|_| PackageError::NotUtf8 {
        entry: entry.to_owned(),
    })
}

impl Package {
    /// Reads and validates a `.roseyplug` archive held in memory.
    pub fn read_archive(bytes: &[u8]) -> Result<Package, PackageError> {
        let mut manifest_yaml = None;
        let mut wasm = None;
        let mut readme = None;
        let mut license = None;
        let mut assets = BTreeMap::new();
        let mut migrations = MigrationSet::default();
        for Entry { path, kind, data } in read_entries(bytes)? {
            match kind {
                EntryKind::Manifest => manifest_yaml = Some(utf8(&path, data)?),
                EntryKind::Wasm => wasm = Some(data),
                EntryKind::Readme => readme = Some(utf8(&path, data)?),
                EntryKind::License => license = Some(utf8(&path, data)?),
                EntryKind::Asset(relative) => {
                    assets.insert(relative, data);
                }
                EntryKind::Migration(file) => {
                    let sql = utf8(&path, data)?;
                    migrations.add(&path, file, sql)?;
                }
                EntryKind::Directory => {}
            }
        }
        let manifest_yaml = manifest_yaml.ok_or(PackageError::MissingManifest)?;
        let wasm = wasm.ok_or(PackageError::MissingWasm)?;
        let manifest = Manifest::from_yaml(&manifest_yaml)?;
        check_component(&wasm)?;
        if let Some(embedded) = extract_manifest(&wasm)?
            && embedded != manifest_yaml
        {
            return Err(PackageError::ManifestMismatch);
        }
        Ok(Package {
            manifest,
            manifest_yaml,
            wasm,
            migrations: migrations.finish()?,
            assets,
            readme,
            license,
        })
    }

    /// Reads a bare component that carries its manifest in a
    /// `rosey-manifest` custom section (no migrations, assets or README).
    pub fn from_wasm(bytes: &[u8]) -> Result<Package, PackageError> {
        check_component(bytes)?;
        let manifest_yaml = extract_manifest(bytes)?.ok_or(PackageError::NoEmbeddedManifest)?;
        let manifest = Manifest::from_yaml(&manifest_yaml)?;
        Ok(Package {
            manifest,
            manifest_yaml,
            wasm: bytes.to_vec(),
            migrations: Vec::new(),
            assets: BTreeMap::new(),
            readme: None,
            license: None,
        })
    }

    /// Reads a `.roseyplug` archive or a bare `.wasm` component from disk,
    /// telling them apart by their first bytes.
    pub fn read_file(path: &Path) -> Result<Package, PackageError> {
        Package::from_bytes(&Package::read_capped(path)?, path)
    }

    /// Reads a file that may be a package, refusing one larger than any
    /// package may be before reading it whole.
    pub fn read_capped(path: &Path) -> Result<Vec<u8>, PackageError> {
        let io_error = |source| PackageError::Io {
            path: path.to_owned(),
            source,
        };
        let cap = MAX_ARCHIVE_BYTES.max(MAX_WASM_BYTES);
        let size = std::fs::metadata(path).map_err(io_error)?.len();
        if size > cap {
            return Err(PackageError::FileTooLarge {
                path: path.to_owned(),
                size,
                max: cap,
            });
        }
        let file = File::open(path).map_err(io_error)?;
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error)?;
        if bytes.len() as u64 > cap {
            return Err(PackageError::FileTooLarge {
                path: path.to_owned(),
                size: bytes.len() as u64,
                max: cap,
            });
        }
        Ok(bytes)
    }

    /// Reads a `.roseyplug` archive or a bare `.wasm` component already in
    /// memory, telling them apart by their first bytes; `path` names the
    /// source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Package, PackageError> {
        let magic = bytes.get(..4);
        if magic.is_some_and(|m| ZIP_MAGICS.iter().any(|z| m == z.as_slice())) {
            Package::read_archive(bytes)
        } else if magic == Some(WASM_MAGIC.as_slice()) {
            Package::from_wasm(bytes)
        } else {
            Err(PackageError::UnknownFileType {
                path: path.to_owned(),
            })
        }
    }

    /// The sha256 of the component, in lowercase hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(&self.wasm))
    }

    /// Every file of the package as (archive path, contents), with the
    /// manifest embedded in `plugin.wasm`, sorted by path.
    fn archive_entries(&self) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
        let mut files = BTreeMap::new();
        files.insert(
            "manifest.yaml".to_owned(),
            self.manifest_yaml.clone().into_bytes(),
        );
        files.insert(
            "plugin.wasm".to_owned(),
            embed_manifest(&self.wasm, &self.manifest_yaml)?,
        );
        for migration in &self.migrations {
            files.insert(migration.up_path(), migration.up.clone().into_bytes());
            if let Some(down) = &migration.down {
                files.insert(migration.down_path(), down.clone().into_bytes());
            }
        }
        for (relative, data) in &self.assets {
            files.insert(format!("assets/{relative}"), data.clone());
        }
        if let Some(readme) = &self.readme {
            files.insert("README.md".to_owned(), readme.clone().into_bytes());
        }
        if let Some(license) = &self.license {
            files.insert("LICENSE".to_owned(), license.clone().into_bytes());
        }
        // Refuse now what `read_archive` would refuse later.
        let mut layout = Layout::default();
        for path in files.keys() {
            layout.admit(path.as_bytes())?;
        }
        Ok(files)
    }

    /// Writes a deterministic `.roseyplug` archive: entries sorted, fixed
    /// timestamps (1980-01-01), deflate, mode 0644, and the manifest embedded
    /// in `plugin.wasm`.
    pub fn write_archive(&self) -> Result<Vec<u8>, PackageError> {
        let zip_error = |err: zip::result::ZipError| PackageError::ZipWrite {
            detail: err.to_string(),
        };
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(DateTime::default())
            .system(System::Unix)
            .unix_permissions(0o644);
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (path, data) in self.archive_entries()? {
            writer.start_file(path, options).map_err(zip_error)?;
            writer
                .write_all(&data)
                .map_err(|err| PackageError::ZipWrite {
                    detail: err.to_string(),
                })?;
        }
        Ok(writer.finish().map_err(zip_error)?.into_inner())
    }
}
