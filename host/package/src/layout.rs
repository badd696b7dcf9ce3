//! The package layout: which paths may appear in a package, what each one
//! is, and the checks that keep a path from escaping or colliding once it is
//! written to disk (on any operating system and any file system).

use std::collections::HashMap;

use super::error::PackageError;
use super::migrations::{MigrationFile, parse_file_name};

/// The longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 512;
/// The longest single path component accepted, in bytes.
const MAX_COMPONENT_BYTES: usize = 255;

/// What a path in a package is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Manifest,
    Wasm,
    Readme,
    License,
    /// A file under `assets/`; the path relative to `assets/`.
    Asset(String),
    Migration(MigrationFile),
    /// A directory under `assets/` or `migrations/`: nothing to extract.
    Directory,
}

/// Checks the raw bytes of an entry name and returns it as text, or the
/// reason it cannot be a safe, portable relative path.
pub(crate) fn check_path(raw: &[u8]) -> Result<&str, PackageError> {
    let lossy = || String::from_utf8_lossy(raw).into_owned();
    if raw.is_empty() {
        return Err(PackageError::EmptyPathComponent {
            entry: String::new(),
        });
    }
    if raw.contains(&0) {
        return Err(PackageError::NulInPath { entry: lossy() });
    }
    let Ok(path) = std::str::from_utf8(raw) else {
        return Err(PackageError::NonAsciiPath { entry: lossy() });
    };
    if !path.is_ascii() {
        return Err(PackageError::NonAsciiPath { entry: lossy() });
    }
    let entry = || path.to_owned();
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(PackageError::DriveLetter { entry: entry() });
    }
    if path.starts_with('/') {
        return Err(PackageError::AbsolutePath { entry: entry() });
    }
    if path.contains('\\') {
        return Err(PackageError::Backslash { entry: entry() });
    }
    if path
        .chars()
        .any(|c| c.is_ascii_control() || ":*?\"<>|".contains(c))
    {
        return Err(PackageError::UnportablePath { entry: entry() });
    }
    let body = path.strip_suffix('/').unwrap_or(path);
    let components: Vec<&str> = body.split('/').collect();
    if components.contains(&"..") {
        return Err(PackageError::PathEscapes { entry: entry() });
    }
    if components.iter().any(|c| c.is_empty() || *c == ".") {
        return Err(PackageError::EmptyPathComponent { entry: entry() });
    }
    if path.len() > MAX_PATH_BYTES || components.iter().any(|c| c.len() > MAX_COMPONENT_BYTES) {
        return Err(PackageError::PathTooLong {
            entry: entry(),
            max: MAX_PATH_BYTES,
        });
    }
    Ok(path)
}

/// What `path` (already through [`check_path`]) is in the layout.
fn classify(path: &str) -> Result<EntryKind, PackageError> {
    let not_in_layout = || PackageError::NotInLayout {
        entry: path.to_owned(),
    };
    if let Some(dir) = path.strip_suffix('/') {
        let allowed = dir == "assets" || dir == "migrations" || dir.starts_with("assets/");
        return if allowed {
            Ok(EntryKind::Directory)
        } else {
            Err(not_in_layout())
        };
    }
    match path {
        "manifest.yaml" => return Ok(EntryKind::Manifest),
        "plugin.wasm" => return Ok(EntryKind::Wasm),
        "README.md" => return Ok(EntryKind::Readme),
        "LICENSE" => return Ok(EntryKind::License),
        _ => {}
    }
    if let Some(asset) = path.strip_prefix("assets/") {
        return Ok(EntryKind::Asset(asset.to_owned()));
    }
    if let Some(file) = path.strip_prefix("migrations/") {
        if file.contains('/') {
            return Err(not_in_layout());
        }
        return parse_file_name(file)
            .map(EntryKind::Migration)
            .ok_or_else(|| PackageError::BadMigrationName {
                entry: path.to_owned(),
            });
    }
    Err(not_in_layout())
}

/// Admits the paths of one package, refusing duplicates, case twins and
/// paths used both as a file and as a directory.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Lower-cased path -> (path as written, is a directory).
    seen: HashMap<String, (String, bool)>,
}

impl Layout {
    /// Checks `raw` (an entry name; directories end in `/`) and says what
    /// it is.
    pub(crate) fn admit(&mut self, raw: &[u8]) -> Result<(String, EntryKind), PackageError> {
        let path = check_path(raw)?;
        let kind = classify(path)?;
        let body = path.strip_suffix('/').unwrap_or(path);
        let mut end = 0;
        while let Some(slash) = body[end..].find('/') {
            end += slash;
            self.record(path, &body[..end], true)?;
            end += 1;
        }
        self.record(path, body, kind == EntryKind::Directory)?;
        Ok((path.to_owned(), kind))
    }

    fn record(&mut self, entry: &str, path: &str, is_dir: bool) -> Result<(), PackageError> {
        let key = path.to_ascii_lowercase();
        match self.seen.get(&key) {
            None => {
                self.seen.insert(key, (path.to_owned(), is_dir));
                Ok(())
            }
            Some((other, _)) if other != path => Err(PackageError::CaseTwin {
                entry: entry.to_owned(),
                other: other.clone(),
            }),
            Some((_, other_is_dir)) if *other_is_dir != is_dir => Err(PackageError::PathConflict {
                entry: entry.to_owned(),
                other: path.to_owned(),
            }),
            Some((_, true)) => Ok(()),
            Some(_) => Err(PackageError::DuplicateEntry {
                entry: entry.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admit_all(paths: &[&str]) -> Result<Vec<EntryKind>, PackageError> {
        let mut layout = Layout::default();
        paths
            .iter()
            .map(|p| layout.admit(p.as_bytes()).map(|(_, kind)| kind))
            .collect()
    }

    #[test]
    fn the_allowed_layout() {
        let kinds = admit_all(&[
            "manifest.yaml",
            "plugin.wasm",
            "README.md",
            "LICENSE",
            "assets/",
            "assets/img/",
            "assets/img/logo.png",
            "assets/quotes.txt",
            "migrations/",
            "migrations/001_init.up.sql",
        ])
        .unwrap();
        assert_eq!(kinds[6], EntryKind::Asset("img/logo.png".into()));
        assert_eq!(kinds[4], EntryKind::Directory);
        assert!(matches!(kinds[9], EntryKind::Migration(_)));
    }

    #[test]
    fn hostile_paths() {
        let cases: [(&[u8], &str); 14] = [
            (b"../x", "PathEscapes"),
            (b"assets/../../x", "PathEscapes"),
            (b"/abs", "AbsolutePath"),
            (b"C:\\x", "DriveLetter"),
            (b"c:/x", "DriveLetter"),
            (b"a\\..\\x", "Backslash"),
            (b"assets/a\0b", "NulInPath"),
            ("assets/caf\u{e9}".as_bytes(), "NonAsciiPath"),
            (b"assets/\xff", "NonAsciiPath"),
            (b"assets/a:b", "UnportablePath"),
            (b"assets/a\x1bb", "UnportablePath"),
            (b"assets//x", "EmptyPathComponent"),
            (b"assets/./x", "EmptyPathComponent"),
            (b"", "EmptyPathComponent"),
        ];
        for (raw, expected) in cases {
            let err = Layout::default().admit(raw).unwrap_err();
            let debug = format!("{err:?}");
            assert!(debug.starts_with(expected), "{raw:?}: {debug}");
        }
        let long = format!("assets/{}", "a/".repeat(300));
        assert!(matches!(
            Layout::default().admit(long.trim_end_matches('/').as_bytes()),
            Err(PackageError::PathTooLong { .. })
        ));
        let wide = format!("assets/{}", "a".repeat(256));
        assert!(matches!(
            Layout::default().admit(wide.as_bytes()),
            Err(PackageError::PathTooLong { .. })
        ));
    }

    #[test]
    fn paths_outside_the_layout() {
        for path in [
            "evil.sh",
            "Manifest.yaml",
            "src/lib.rs",
            "migrations/sub/001_a.up.sql",
            "lib/",
            "assets",
            "migrations/x/",
        ] {
            let err = Layout::default().admit(path.as_bytes()).unwrap_err();
            assert!(
                matches!(err, PackageError::NotInLayout { .. }),
                "{path}: {err}"
            );
        }
        let err = Layout::default().admit(b"migrations/init.sql").unwrap_err();
        assert!(
            matches!(err, PackageError::BadMigrationName { .. }),
            "{err}"
        );
    }

    #[test]
    fn messages_name_the_entry() {
        let err = Layout::default().admit(b"../evil").unwrap_err();
        assert_eq!(
            err.to_string(),
            "archive entry \"../evil\": path escapes the package"
        );
        let err = Layout::default().admit(b"assets/a\0b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "archive entry \"assets/a\\0b\": the path contains a NUL byte"
        );
    }

    #[test]
    fn twins_duplicates_and_conflicts() {
        let err = admit_all(&["assets/A.txt", "assets/a.txt"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "archive entry \"assets/a.txt\": differs only in letter case from \"assets/A.txt\""
        );
        let err = admit_all(&["assets/Img/a.png", "assets/img/b.png"]).unwrap_err();
        assert!(matches!(err, PackageError::CaseTwin { .. }), "{err}");
        let err = admit_all(&["assets/x", "assets/x/y"]).unwrap_err();
        assert!(matches!(err, PackageError::PathConflict { .. }), "{err}");
        let err = admit_all(&["assets/x/y", "assets/x"]).unwrap_err();
        assert!(matches!(err, PackageError::PathConflict { .. }), "{err}");
        let err = admit_all(&["LICENSE", "LICENSE"]).unwrap_err();
        assert!(matches!(err, PackageError::DuplicateEntry { .. }), "{err}");
        admit_all(&["assets/", "assets/x/", "assets/x/y", "assets/x/"]).unwrap();
    }
}
