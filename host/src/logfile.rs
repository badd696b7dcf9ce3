//! Per-plugin log files with size-based rotation: `logs/plugins/<name>.log`,
//! rotated to `.log.1` … `.log.3` when it passes [`MAX_LOG_BYTES`], so a
//! plugin's logs never take more than four times that on disk.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The size at which a plugin's log file is rotated.
pub const MAX_LOG_BYTES: u64 = 10 << 20;
/// How many rotated files are kept.
pub const KEEP_ROTATED: usize = 3;

/// An append-only log file that rotates itself.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
}

impl LogFile {
    /// Open (creating) the log at `path`, rotating at [`MAX_LOG_BYTES`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::with_limit(path, MAX_LOG_BYTES)
    }

    /// Open the log at `path`, rotating at `max` bytes.
    pub fn with_limit(path: &Path, max: u64) -> Result<Self> {
        if let Some(dir) = path.parent() {
            crate::home::create_private_dir(dir)?;
        }
        let file = open_append(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            path: path.to_owned(),
            file,
            size,
            max,
        })
    }

    /// Append one line (a newline is added), rotating first if it would
    /// pass the limit. Errors are swallowed: logging never fails a plugin.
    pub fn write_line(&mut self, line: &str) {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max && self.rotate().is_err() {
            return;
        }
        if writeln!(self.file, "{line}").is_ok() {
            self.size += len;
        }
    }

    fn rotate(&mut self) -> Result<()> {
        for n in (1..KEEP_ROTATED).rev() {
            let _ = fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
        }
        fs::rename(&self.path, rotated(&self.path, 1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// `<path>.<n>`: the n-th newest rotated file.
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The log at `path` and its rotated files, oldest first.
pub fn all_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=KEEP_ROTATED)
        .rev()
        .map(|n| rotated(path, n))
        .filter(|p| p.is_file())
        .collect();
    if path.is_file() {
        files.push(path.to_owned());
    }
    files
}

/// Delete the log at `path` and its rotated files.
pub fn remove_all(path: &Path) {
    for file in all_files(path) {
        let _ = fs::remove_file(file);
    }
}

fn open_append(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("could not open {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_rotate_and_keep_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/echo.log");
        let mut log = LogFile::with_limit(&path, 100).unwrap();
        for i in 0..100 {
            log.write_line(&format!("line {i:03} padding padding"));
        }
        let files = all_files(&path);
        assert_eq!(files.len(), KEEP_ROTATED + 1, "{files:?}");
        for file in &files {
            assert!(
                fs::metadata(file).unwrap().len() <= 100,
                "{}",
                file.display()
            );
        }
        // The newest line is in the live file, older ones in .1.
        let live = fs::read_to_string(&path).unwrap();
        assert!(live.ends_with("line 099 padding padding\n"), "{live}");
        let previous = fs::read_to_string(rotated(&path, 1)).unwrap();
        assert!(previous.contains("line 09"), "{previous}");
        assert!(!rotated(&path, KEEP_ROTATED + 1).exists());
        remove_all(&path);
        assert!(all_files(&path).is_empty());
    }
}
