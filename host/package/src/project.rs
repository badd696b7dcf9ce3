//! [`Package::from_project_dir`]: assemble a package from a plugin author's
//! project directory and a freshly built component.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::archive::Package;
use super::embed::{check_component, embed_manifest};
use super::error::PackageError;
use super::extract::{MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES};
use super::layout::{EntryKind, Layout};
use super::manifest::{MAX_MANIFEST_BYTES, Manifest};
use super::migrations::MigrationSet;

/// Reads a project's files under the same rules and caps as an archive.
struct ProjectReader {
    layout: Layout,
    entries: usize,
    total: u64,
}

impl ProjectReader {
    /// Reads the regular file at `path` (no symlinks), at most `cap` bytes.
    fn read(&mut self, path: &Path, cap: u64) -> Result<Vec<u8>, PackageError> {
        let io_error = |source| PackageError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = fs::symlink_metadata(path).map_err(io_error)?;
        if meta.file_type().is_symlink() {
            return Err(PackageError::ProjectSymlink {
                path: path.to_owned(),
            });
        }
        if !meta.is_file() {
            return Err(PackageError::ProjectNotRegular {
                path: path.to_owned(),
            });
        }
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(PackageError::TooManyEntries {
                count: self.entries as u64,
                max: MAX_ENTRIES,
            });
        }
        let too_large = |size| PackageError::FileTooLarge {
            path: path.to_owned(),
            size,
            max: cap,
        };
        if meta.len() > cap {
            return Err(too_large(meta.len()));
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        File::open(path)
            .map_err(io_error)?
            .take(cap + 1)
            .read_to_end(&mut data)
            .map_err(io_error)?;
        let size = data.len() as u64;
        if size > cap {
            return Err(too_large(size));
        }
        self.total += size;
        if self.total > MAX_TOTAL_BYTES {
            return Err(PackageError::TotalTooLarge {
                max: MAX_TOTAL_BYTES,
            });
        }
        Ok(data)
    }

    fn read_text(&mut self, path: &Path, entry: &str, cap: u64) -> Result<String, PackageError> {
        let data = self.read(path, cap)?;
        String::from_utf8(data).map_err(|_| PackageError::NotUtf8 {
            entry: entry.to_owned(),
        })
    }

    /// Reads an optional text file at the top of the project.
    fn optional_text(&mut self, dir: &Path, name: &str) -> Result<Option<String>, PackageError> {
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        self.layout.admit(name.as_bytes())?;
        self.read_text(&path, name, MAX_ENTRY_BYTES).map(Some)
    }

    /// The entries of a directory, sorted, as (file name, path); a missing
    /// directory is empty. Names must be UTF-8 to be admitted later.
    fn list(&self, dir: &Path) -> Result<Vec<(String, PathBuf)>, PackageError> {
        let io_error = |source| PackageError::Io {
            path: dir.to_owned(),
            source,
        };
        let meta = match fs::symlink_metadata(dir) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io_error(err)),
        };
        if meta.file_type().is_symlink() {
            return Err(PackageError::ProjectSymlink {
                path: dir.to_owned(),
            });
        }
        if !meta.is_dir() {
            return Err(PackageError::ProjectNotRegular {
                path: dir.to_owned(),
            });
        }
        let mut names = Vec::new();
        for item in fs::read_dir(dir).map_err(io_error)? {
            let item = item.map_err(io_error)?;
            let name = item.file_name().to_string_lossy().into_owned();
            names.push((name, item.path()));
        }
        names.sort();
        Ok(names)
    }

    fn migrations(&mut self, dir: &Path) -> Result<MigrationSet, PackageError> {
        let mut set = MigrationSet::default();
        for (name, path) in self.list(&dir.join("migrations"))? {
            let entry = format!("migrations/{name}");
            let (entry, kind) = self.layout.admit(entry.as_bytes())?;
            if let EntryKind::Migration(file) = kind {
                let sql = self.read_text(&path, &entry, MAX_ENTRY_BYTES)?;
                set.add(&entry, file, sql)?;
            }
        }
        Ok(set)
    }

    fn assets(&mut self, dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
        let mut assets = BTreeMap::new();
        let mut pending = vec![(String::new(), dir.join("assets"))];
        while let Some((prefix, directory)) = pending.pop() {
            for (name, path) in self.list(&directory)? {
                let relative = format!("{prefix}{name}");
                let meta = fs::symlink_metadata(&path).map_err(|source| PackageError::Io {
                    path: path.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    self.layout
                        .admit(format!("assets/{relative}/").as_bytes())?;
                    pending.push((format!("{relative}/"), path));
                } else {
                    self.layout.admit(format!("assets/{relative}").as_bytes())?;
                    let data = self.read(&path, MAX_ENTRY_BYTES)?;
                    assets.insert(relative, data);
                }
            }
        }
        Ok(assets)
    }
}

impl Package {
    /// Assembles a package from an author's project directory
    /// (`manifest.yaml`, `migrations/`, `assets/`, `README.md`, `LICENSE`)
    /// and the component built from it, embedding the manifest into the
    /// component. Symbolic links are refused, not followed.
    pub fn from_project_dir(dir: &Path, wasm: Vec<u8>) -> Result<Package, PackageError> {
        let mut reader = ProjectReader {
            layout: Layout::default(),
            entries: 0,
            total: 0,
        };
        let manifest_path = dir.join("manifest.yaml");
        if fs::symlink_metadata(&manifest_path).is_err() {
            return Err(PackageError::ProjectFileMissing {
                path: manifest_path,
            });
        }
        reader.layout.admit(b"manifest.yaml")?;
        let manifest_yaml =
            reader.read_text(&manifest_path, "manifest.yaml", MAX_MANIFEST_BYTES as u64)?;
        let manifest = Manifest::from_yaml(&manifest_yaml)?;

        check_component(&wasm)?;
        let wasm = embed_manifest(&wasm, &manifest_yaml)?;
        reader.layout.admit(b"plugin.wasm")?;
        reader.entries += 1;
        reader.total += wasm.len() as u64;

        let migrations = reader.migrations(dir)?.finish()?;
        let assets = reader.assets(dir)?;
        let readme = reader.optional_text(dir, "README.md")?;
        let license = reader.optional_text(dir, "LICENSE")?;
        Ok(Package {
            manifest,
            manifest_yaml,
            wasm,
            migrations,
            assets,
            readme,
            license,
        })
    }
}
