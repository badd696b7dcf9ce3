//! Rosey's own ZIP extractor: entry by entry into memory, through the
//! layout checks and under hard caps, never with `ZipArchive::extract`.
//!
//! Every size in a ZIP header can lie, so each entry is read through
//! `take(cap + 1)` and its real size is what counts.

use std::collections::HashSet;
use std::io::{self, Cursor, Read};

use zip::{CompressionMethod, ZipArchive};

use super::error::PackageError;
use super::layout::{EntryKind, Layout};

/// The largest archive file accepted (compressed).
pub const MAX_ARCHIVE_BYTES: u64 = 128 * 1024 * 1024;
/// The most entries (files and directories) an archive may have.
pub const MAX_ENTRIES: usize = 1000;
/// The largest any one entry may unpack to.
pub const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;
/// The most all entries together may unpack to.
pub const MAX_TOTAL_BYTES: u64 = 128 * 1024 * 1024;
/// The highest compression ratio allowed for an entry over
/// [`RATIO_CHECK_THRESHOLD`].
pub const MAX_COMPRESSION_RATIO: u64 = 200;
/// Entries up to this size may compress as well as they like.
pub const RATIO_CHECK_THRESHOLD: u64 = 1024 * 1024;

/// One file taken from an archive.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) path: String,
    pub(crate) kind: EntryKind,
    pub(crate) data: Vec<u8>,
}

/// Which cap bounds an entry's read.
#[derive(Clone, Copy)]
enum Cap {
    Entry,
    Ratio,
    Total,
}

impl Cap {
    fn error(self, entry: &str) -> PackageError {
        match self {
            Cap::Entry => PackageError::EntryTooLarge {
                entry: entry.to_owned(),
                max: MAX_ENTRY_BYTES,
            },
            Cap::Ratio => PackageError::CompressionRatio {
                entry: entry.to_owned(),
                max: MAX_COMPRESSION_RATIO,
            },
            Cap::Total => PackageError::TotalTooLarge {
                max: MAX_TOTAL_BYTES,
            },
        }
    }
}

/// Reads every file of the archive in `bytes`, refusing anything outside
/// the layout or over a cap. Directory entries are checked and dropped.
pub(crate) fn read_entries(bytes: &[u8]) -> Result<Vec<Entry>, PackageError> {
    let size = bytes.len() as u64;
    if size > MAX_ARCHIVE_BYTES {
        return Err(PackageError::ArchiveTooLarge {
            size,
            max: MAX_ARCHIVE_BYTES,
        });
    }
    // The ZIP reader allocates per declared entry: check the count first.
    if let Some(count) = declared_entry_count(bytes)
        && count > MAX_ENTRIES as u64
    {
        return Err(PackageError::TooManyEntries {
            count,
            max: MAX_ENTRIES,
        });
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|err| PackageError::NotZip {
        detail: err.to_string(),
    })?;
    if archive.len() > MAX_ENTRIES {
        return Err(PackageError::TooManyEntries {
            count: archive.len() as u64,
            max: MAX_ENTRIES,
        });
    }
    if archive.has_duplicate_names() {
        let entry = duplicate_name(bytes, archive.central_directory_start())
            .unwrap_or_else(|| "(unknown)".to_owned());
        return Err(PackageError::DuplicateEntry { entry });
    }
    if archive
        .has_overlapping_entries()
        .map_err(|err| PackageError::NotZip {
            detail: err.to_string(),
        })?
    {
        return Err(PackageError::OverlappingEntries);
    }

    let mut layout = Layout::default();
    let mut entries = Vec::new();
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let meta = archive
            .by_index_data(index)
            .map_err(|err| PackageError::NotZip {
                detail: err.to_string(),
            })?;
        let (path, kind) = layout.admit(meta.name_raw())?;
        check_file_type(&path, meta.unix_mode(), meta.is_symlink())?;
        if meta.encrypted() {
            return Err(PackageError::Encrypted { entry: path });
        }
        if kind == EntryKind::Directory {
            continue;
        }
        let method = meta.compression();
        if method != CompressionMethod::Stored && method != CompressionMethod::Deflated {
            return Err(PackageError::UnsupportedCompression {
                entry: path,
                method: method.to_string(),
            });
        }
        let declared = meta.size();
        let ratio_cap = meta
            .compressed_size()
            .saturating_mul(MAX_COMPRESSION_RATIO)
            .max(RATIO_CHECK_THRESHOLD);
        // Caps in the order a refusal should name them.
        let caps = [
            (MAX_ENTRY_BYTES, Cap::Entry),
            (MAX_TOTAL_BYTES.saturating_sub(total), Cap::Total),
            (ratio_cap, Cap::Ratio),
        ];
        if let Some((_, which)) = caps.iter().find(|(cap, _)| declared > *cap) {
            return Err(which.error(&path));
        }
        // The header may lie: read no more than the tightest cap allows.
        let (cap, which) = caps
            .iter()
            .copied()
            .min_by_key(|(cap, _)| *cap)
            .unwrap_or((0, Cap::Total));
        let file = archive
            .by_index(index)
            .map_err(|err| PackageError::EntryRead {
                entry: path.clone(),
                detail: err.to_string(),
            })?;
        let data = match read_capped(file, cap, declared) {
            Ok(Some(data)) => data,
            Ok(None) => return Err(which.error(&path)),
            Err(err)
                if err.kind() == io::ErrorKind::InvalidData
                    && err.to_string().contains("declared") =>
            {
                return Err(PackageError::SizeMismatch { entry: path });
            }
            Err(err) => {
                return Err(PackageError::EntryRead {
                    entry: path,
                    detail: err.to_string(),
                });
            }
        };
        if data.len() as u64 != declared {
            return Err(PackageError::SizeMismatch { entry: path });
        }
        total += declared;
        entries.push(Entry { path, kind, data });
    }
    Ok(entries)
}

/// Reads at most `cap` bytes; `Ok(None)` if there are more.
fn read_capped(reader: impl Read, cap: u64, expected: u64) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::with_capacity(expected.min(cap) as usize);
    reader.take(cap.saturating_add(1)).read_to_end(&mut data)?;
    Ok((data.len() as u64 <= cap).then_some(data))
}

/// Only regular files, and directories whose names end in `/`.
fn check_file_type(path: &str, mode: Option<u32>, is_symlink: bool) -> Result<(), PackageError> {
    const TYPE_MASK: u32 = 0o170_000;
    const REGULAR: u32 = 0o100_000;
    const DIRECTORY: u32 = 0o040_000;
    const SYMLINK: u32 = 0o120_000;
    let file_type = mode.map_or(0, |mode| mode & TYPE_MASK);
    if is_symlink || file_type == SYMLINK {
        return Err(PackageError::Symlink {
            entry: path.to_owned(),
        });
    }
    let expected = if path.ends_with('/') {
        DIRECTORY
    } else {
        REGULAR
    };
    if file_type != 0 && file_type != expected {
        return Err(PackageError::NotRegularFile {
            entry: path.to_owned(),
            mode: mode.unwrap_or(0),
        });
    }
    Ok(())
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The entry count in the end-of-central-directory record (or its ZIP64
/// twin), read without trusting anything else.
fn declared_entry_count(bytes: &[u8]) -> Option<u64> {
    const EOCD: u32 = 0x0605_4b50;
    const EOCD_LEN: usize = 22;
    const ZIP64_LOCATOR: u32 = 0x0706_4b50;
    const ZIP64_EOCD: u32 = 0x0606_4b50;
    let last = bytes.len().checked_sub(EOCD_LEN)?;
    let first = last.saturating_sub(usize::from(u16::MAX));
    let at = (first..=last).rev().find(|&at| {
        u32_at(bytes, at) == Some(EOCD)
            && u16_at(bytes, at + 20)
                .is_some_and(|comment| at + EOCD_LEN + usize::from(comment) == bytes.len())
    })?;
    let count = u16_at(bytes, at + 10)?;
    if count != u16::MAX {
        return Some(u64::from(count));
    }
    let locator = at.checked_sub(20)?;
    if u32_at(bytes, locator)? != ZIP64_LOCATOR {
        return Some(u64::from(count));
    }
    let record = usize::try_from(u64_at(bytes, locator + 8)?).ok()?;
    if u32_at(bytes, record)? != ZIP64_EOCD {
        return None;
    }
    u64_at(bytes, record + 32)
}

/// The first name that appears twice in the central directory.
fn duplicate_name(bytes: &[u8], directory_start: u64) -> Option<String> {
    const CENTRAL_HEADER: u32 = 0x0201_4b50;
    let mut at = usize::try_from(directory_start).ok()?;
    let mut seen = HashSet::new();
    while u32_at(bytes, at) == Some(CENTRAL_HEADER) {
        let name_len = usize::from(u16_at(bytes, at + 28)?);
        let extra_len = usize::from(u16_at(bytes, at + 30)?);
        let comment_len = usize::from(u16_at(bytes, at + 32)?);
        let name = bytes.get(at + 46..at + 46 + name_len)?;
        if !seen.insert(name) {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_stops_one_byte_past_the_cap() {
        // An endless reader: only the cap keeps this from running forever.
        let endless = io::repeat(0);
        assert_eq!(read_capped(endless, 1000, 10).unwrap(), None);
        let data = read_capped(&b"hello"[..], 5, 5).unwrap().unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(read_capped(&b"hello!"[..], 5, 5).unwrap(), None);
    }

    #[test]
    fn file_types() {
        assert!(check_file_type("assets/a", Some(0o100_644), false).is_ok());
        assert!(check_file_type("assets/a", None, false).is_ok());
        assert!(check_file_type("assets/a", Some(0o644), false).is_ok());
        assert!(check_file_type("assets/", Some(0o040_755), false).is_ok());
        assert!(matches!(
            check_file_type("assets/a", Some(0o120_777), false),
            Err(PackageError::Symlink { .. })
        ));
        assert!(matches!(
            check_file_type("assets/a", None, true),
            Err(PackageError::Symlink { .. })
        ));
        for mode in [0o010_644, 0o020_644, 0o060_644, 0o140_644, 0o040_755] {
            let err = check_file_type("assets/a", Some(mode), false).unwrap_err();
            assert!(
                matches!(err, PackageError::NotRegularFile { .. }),
                "{mode:o}: {err}"
            );
        }
    }

    #[test]
    fn entry_counts_from_the_end_record() {
        let mut eocd = vec![0u8; 22];
        eocd[..4].copy_from_slice(&0x0605_4b50u32.to_le_bytes());
        eocd[10..12].copy_from_slice(&5000u16.to_le_bytes());
        assert_eq!(declared_entry_count(&eocd), Some(5000));
        let mut with_comment = eocd.clone();
        with_comment[20..22].copy_from_slice(&3u16.to_le_bytes());
        with_comment.extend(b"abc");
        assert_eq!(declared_entry_count(&with_comment), Some(5000));
        assert_eq!(declared_entry_count(b"PK"), None);
    }
}
