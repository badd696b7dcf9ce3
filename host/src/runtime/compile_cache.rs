//! The record beside a plugin's compiled code (`compiled.key`): which engine
//! and which exact wasm the code was compiled from, and optionally a stamp of
//! the wasm file as it was when its digest was last checked.
//!
//! Hashing a large component on every load costs more than deserializing its
//! compiled code (2.7 ms against 0.1 ms for a 5.4 MiB debug build), so a
//! load trusts the recorded digest while the file is provably unchanged: same
//! size, modification and change times, inode and device. This is the check
//! cargo, git and Python's bytecode cache make, with git's rule for "racily
//! clean" files: a file modified within [`RACY_WINDOW`] of being stamped is
//! never stamped, because a second write inside the same timestamp tick would
//! leave its times unchanged. The change time cannot be set back by a user, so
//! `touch -d` on an edited file does not fool it either.
//!
//! The record only decides freshness. Whatever it says, the code loaded is
//! the host's own output (`write_cache`), never bytes from an archive.

use std::fs::Metadata;
use std::time::{Duration, SystemTime};

/// A file modified this recently is not stamped (timestamps are coarse: a
/// jiffy on ext4, two seconds on FAT).
pub const RACY_WINDOW: Duration = Duration::from_secs(5);

/// What `compiled.key` says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheRecord {
    /// `<engine fingerprint>-<sha-256 of the wasm>`.
    pub key: String,
    /// The wasm file when `key`'s digest was last checked against it.
    pub stamp: Option<WasmStamp>,
}

/// The identity of the wasm file: anything that writes to it changes one of
/// these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmStamp {
    len: u64,
    modified_ns: u128,
    changed_ns: i128,
    inode: u64,
    device: u64,
}

impl WasmStamp {
    /// The stamp of a file with `meta`, whatever its age.
    pub fn of(meta: &Metadata) -> Option<Self> {
        let modified_ns = meta
            .modified()
            .ok()?
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        #[cfg(unix)]
        let (changed_ns, inode, device) = {
            use std::os::unix::fs::MetadataExt;
            (
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                meta.ino(),
                meta.dev(),
            )
        };
        #[cfg(not(unix))]
        let (changed_ns, inode, device) = (0, 0, 0);
        Some(Self {
            len: meta.len(),
            modified_ns,
            changed_ns,
            inode,
            device,
        })
    }

    /// The stamp of a file with `meta` if it is old enough to be trusted
    /// later: last modified more than [`RACY_WINDOW`] before `now`.
    pub fn settled(meta: &Metadata, now: SystemTime) -> Option<Self> {
        let age = now.duration_since(meta.modified().ok()?).ok()?;
        (age > RACY_WINDOW).then(|| Self::of(meta)).flatten()
    }
}

impl CacheRecord {
    /// Parse `compiled.key`. The first line is the key (all a record held
    /// before stamps); a malformed stamp line is ignored, which only costs a
    /// hash.
    pub fn parse(text: &str) -> Self {
        let mut lines = text.lines();
        let key = lines.next().unwrap_or_default().trim().to_owned();
        let stamp = lines.next().and_then(parse_stamp);
        Self { key, stamp }
    }

    /// The record's text.
    pub fn render(&self) -> String {
        match &self.stamp {
            None => format!("{}\n", self.key),
            Some(s) => format!(
                "{}\nstamp {} {} {} {} {}\n",
                self.key, s.len, s.modified_ns, s.changed_ns, s.inode, s.device
            ),
        }
    }

    /// Whether the record vouches, without reading the wasm, for code
    /// compiled by the engine with `fingerprint` from the file now at
    /// `current`.
    pub fn vouches_for(&self, fingerprint: &str, current: Option<WasmStamp>) -> bool {
        self.stamp.is_some()
            && self.stamp == current
            && self
                .key
                .strip_prefix(fingerprint)
                .is_some_and(|rest| rest.starts_with('-'))
    }
}

fn parse_stamp(line: &str) -> Option<WasmStamp> {
    let mut fields = line.strip_prefix("stamp ")?.split(' ');
    let stamp = WasmStamp {
        len: fields.next()?.parse().ok()?,
        modified_ns: fields.next()?.parse().ok()?,
        changed_ns: fields.next()?.parse().ok()?,
        inode: fields.next()?.parse().ok()?,
        device: fields.next()?.parse().ok()?,
    };
    fields.next().is_none().then_some(stamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(age: Duration) -> (tempfile::TempDir, Metadata) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugin.wasm");
        std::fs::write(&path, b"\0asm").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        (dir, meta)
    }

    #[test]
    fn a_record_round_trips_with_and_without_a_stamp() {
        let (_dir, meta) = file(Duration::from_secs(3600));
        for stamp in [None, WasmStamp::of(&meta)] {
            let record = CacheRecord {
                key: "00ff-abcd".into(),
                stamp,
            };
            assert_eq!(CacheRecord::parse(&record.render()), record);
        }
    }

    #[test]
    fn a_key_only_record_still_parses_and_a_bad_stamp_is_dropped() {
        let old = CacheRecord::parse("00ff-abcd");
        assert_eq!(old.key, "00ff-abcd");
        assert_eq!(old.stamp, None);
        for bad in [
            "00ff-abcd\nstamp 1 2 3",
            "00ff-abcd\nstamp 1 2 3 4 5 6",
            "00ff-abcd\nstamp a 2 3 4 5",
            "00ff-abcd\nstmp 1 2 3 4 5",
        ] {
            assert_eq!(CacheRecord::parse(bad).stamp, None, "{bad:?}");
        }
    }

    #[test]
    fn a_file_modified_within_the_racy_window_is_not_stamped() {
        let (_dir, fresh) = file(Duration::ZERO);
        assert_eq!(WasmStamp::settled(&fresh, SystemTime::now()), None);
        let (_dir, old) = file(RACY_WINDOW + Duration::from_secs(1));
        assert_eq!(
            WasmStamp::settled(&old, SystemTime::now()),
            WasmStamp::of(&old)
        );
        assert!(WasmStamp::of(&old).is_some());
    }

    #[test]
    fn a_record_vouches_only_for_its_engine_and_its_exact_file() {
        let (_dir, meta) = file(Duration::from_secs(3600));
        let stamp = WasmStamp::of(&meta);
        let record = CacheRecord {
            key: "00ff-abcd".into(),
            stamp,
        };
        assert!(record.vouches_for("00ff", stamp));
        assert!(
            !record.vouches_for("00f", stamp),
            "a prefix of a fingerprint"
        );
        assert!(!record.vouches_for("11ee", stamp), "another engine");
        assert!(
            !record.vouches_for("00ff", None),
            "a file that is not there"
        );
        let mut longer = stamp.unwrap();
        longer.len += 1;
        assert!(!record.vouches_for("00ff", Some(longer)), "another size");
        let mut touched = stamp.unwrap();
        touched.changed_ns += 1;
        assert!(!record.vouches_for("00ff", Some(touched)), "another ctime");
        let unstamped = CacheRecord {
            stamp: None,
            ..record
        };
        assert!(!unstamped.vouches_for("00ff", None));
    }
}
