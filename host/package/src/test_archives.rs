//! Test fixtures: minimal components and a ZIP builder for well-formed and
//! hostile archives.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// The smallest valid component (no sections).
pub(super) const COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
/// The smallest valid core module.
pub(super) const CORE_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";
/// The smallest valid manifest.
pub(super) const MANIFEST: &str =
    "manifest_version: 1\nname: echo\nversion: 0.1.0\nrosey_api: \"^0.1\"\n";

/// Builds a ZIP archive entry by entry.
pub(super) struct ZipBuilder {
    writer: ZipWriter<Cursor<Vec<u8>>>,
}

pub(super) fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

impl ZipBuilder {
    pub(super) fn new() -> Self {
        ZipBuilder {
            writer: ZipWriter::new(Cursor::new(Vec::new())),
        }
    }

    /// An archive holding a valid manifest and component.
    pub(super) fn valid() -> Self {
        ZipBuilder::new()
            .file("manifest.yaml", MANIFEST.as_bytes())
            .file("plugin.wasm", COMPONENT)
    }

    pub(super) fn file(self, name: &str, data: &[u8]) -> Self {
        self.file_with(name, data, deflated())
    }

    pub(super) fn file_with(mut self, name: &str, data: &[u8], options: SimpleFileOptions) -> Self {
        self.writer.start_file(name, options).unwrap();
        self.writer.write_all(data).unwrap();
        self
    }

    /// An entry of `size` zero bytes, written in chunks (never held whole).
    pub(super) fn zeros(self, name: &str, size: u64) -> Self {
        self.repeat_with(name, size, &[0u8; 1 << 16], deflated())
    }

    /// An entry of `size` bytes: `chunk` over and over, deflated quickly.
    pub(super) fn repeat(self, name: &str, size: u64, chunk: &[u8]) -> Self {
        self.repeat_with(name, size, chunk, deflated().compression_level(Some(1)))
    }

    fn repeat_with(
        mut self,
        name: &str,
        size: u64,
        chunk: &[u8],
        options: SimpleFileOptions,
    ) -> Self {
        self.writer.start_file(name, options).unwrap();
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            self.writer.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        self
    }

    pub(super) fn symlink(mut self, name: &str, target: &str) -> Self {
        self.writer
            .add_symlink(name, target, SimpleFileOptions::default())
            .unwrap();
        self
    }

    pub(super) fn dir(mut self, name: &str) -> Self {
        self.writer
            .add_directory(name, SimpleFileOptions::default())
            .unwrap();
        self
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.writer.finish().unwrap().into_inner()
    }
}

/// Replaces every occurrence of `from` with `to` (same length) in `bytes`:
/// how the tests forge names and sizes the ZIP writer would not produce.
pub(super) fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut count = 0;
    let mut at = 0;
    while at + from.len() <= bytes.len() {
        if &bytes[at..at + from.len()] == from {
            bytes[at..at + from.len()].copy_from_slice(to);
            count += 1;
            at += from.len();
        } else {
            at += 1;
        }
    }
    count
}

/// Sets the uncompressed size of the entry named `name` to `size`, in both
/// its local header and its central-directory header.
pub(super) fn forge_size(bytes: &mut [u8], name: &str, size: u32) {
    let name = name.as_bytes();
    let mut forged = 0;
    for at in 0..bytes.len().saturating_sub(46) {
        let signature = &bytes[at..at + 4];
        let (name_at, size_at) = match signature {
            b"PK\x03\x04" => (at + 30, at + 22),
            b"PK\x01\x02" => (at + 46, at + 24),
            _ => continue,
        };
        if bytes.get(name_at..name_at + name.len()) == Some(name) {
            bytes[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            forged += 1;
        }
    }
    assert_eq!(
        forged, 2,
        "expected a local and a central header for the entry"
    );
}
