//! [`PackageError`]: every reason a package, an archive entry or a
//! `plugin.wasm` is refused, each naming what it refers to.

use std::io;
use std::path::PathBuf;

use super::manifest_error::ManifestError;
use super::name::quote_for_error;

/// Why a package was refused.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// `manifest.yaml` (or the embedded manifest) does not parse or validate.
    #[error(transparent)]
    Manifest(#[from] ManifestError),

    // ------------------------------------------------------------ plugin.wasm
    /// `plugin.wasm` is over [`MAX_WASM_BYTES`](super::embed::MAX_WASM_BYTES).
    #[error("plugin.wasm is {size} bytes, more than the {max} allowed")]
    WasmTooLarge {
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// `plugin.wasm` is a core module.
    #[error(
        "plugin.wasm is a core wasm module, not a component: build it for the wasm32-wasip2 target \
         (or wrap it with \"wasm-tools component new\")"
    )]
    CoreModule,
    /// `plugin.wasm` is ELF, Mach-O or PE (wasmtime's precompiled `.cwasm` is ELF).
    #[error("plugin.wasm is native or precompiled code, not a wasm component")]
    NativeCode,
    /// `plugin.wasm` is something else, or its section framing is broken.
    #[error("plugin.wasm is not a wasm component: {detail}")]
    NotComponent {
        /// What was found instead.
        detail: String,
    },
    /// The embedded `rosey-manifest` section cannot be used.
    #[error("plugin.wasm: the embedded \"rosey-manifest\" section is unusable: {detail}")]
    EmbeddedManifest {
        /// Why.
        detail: String,
    },
    /// A bare component without an embedded manifest.
    #[error(
        "this component carries no Rosey manifest: package it with \"rosey plugin build\" (which \
         embeds manifest.yaml), or install the .roseyplug archive instead"
    )]
    NoEmbeddedManifest,
    /// `manifest.yaml` and the manifest embedded in `plugin.wasm` differ.
    #[error(
        "the archive's manifest and the component's embedded manifest differ: rebuild the package \
         with \"rosey plugin build\""
    )]
    ManifestMismatch,

    // -------------------------------------------------------- whole archive
    /// The archive file is over [`MAX_ARCHIVE_BYTES`](super::extract::MAX_ARCHIVE_BYTES).
    #[error("the archive is {size} bytes, more than the {max} allowed")]
    ArchiveTooLarge {
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// Not a ZIP file, or a broken one.
    #[error("the archive is not a readable ZIP file: {detail}")]
    NotZip {
        /// What the ZIP reader said.
        detail: String,
    },
    /// More entries than [`MAX_ENTRIES`](super::extract::MAX_ENTRIES).
    #[error("the archive has {count} entries, more than the {max} allowed")]
    TooManyEntries {
        /// How many entries the archive declares.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// Entries share bytes (a zip bomb trick).
    #[error("the archive's entries overlap each other, which only a zip bomb does")]
    OverlappingEntries,
    /// All entries together unpack to more than
    /// [`MAX_TOTAL_BYTES`](super::extract::MAX_TOTAL_BYTES).
    #[error("the archive unpacks to more than {max} bytes")]
    TotalTooLarge {
        /// The limit in bytes.
        max: u64,
    },
    /// No `manifest.yaml`.
    #[error("the archive has no manifest.yaml at its top level")]
    MissingManifest,
    /// No `plugin.wasm`.
    #[error("the archive has no plugin.wasm at its top level")]
    MissingWasm,

    // --------------------------------------------------------- entry paths
    /// A `..` component.
    #[error("archive entry {}: path escapes the package", quote_for_error(.entry))]
    PathEscapes {
        /// The entry's name.
        entry: String,
    },
    /// A leading `/`.
    #[error("archive entry {}: absolute paths are not allowed", quote_for_error(.entry))]
    AbsolutePath {
        /// The entry's name.
        entry: String,
    },
    /// A leading `C:`.
    #[error("archive entry {}: drive letters are not allowed", quote_for_error(.entry))]
    DriveLetter {
        /// The entry's name.
        entry: String,
    },
    /// A `\` anywhere.
    #[error("archive entry {}: backslashes are not allowed in paths (use \"/\")", quote_for_error(.entry))]
    Backslash {
        /// The entry's name.
        entry: String,
    },
    /// A NUL byte anywhere.
    #[error("archive entry {}: the path contains a NUL byte", quote_for_error(.entry))]
    NulInPath {
        /// The entry's name.
        entry: String,
    },
    /// Bytes outside ASCII (so no Unicode-normalisation twins).
    #[error("archive entry {}: paths must be ASCII", quote_for_error(.entry))]
    NonAsciiPath {
        /// The entry's name (lossily decoded).
        entry: String,
    },
    /// A control character or one of `:*?"<>|`.
    #[error(
        "archive entry {}: the path contains a control character or one of : * ? \" < > |",
        quote_for_error(.entry)
    )]
    UnportablePath {
        /// The entry's name.
        entry: String,
    },
    /// An empty (`a//b`) or `.` component.
    #[error("archive entry {}: the path has an empty or \".\" component", quote_for_error(.entry))]
    EmptyPathComponent {
        /// The entry's name.
        entry: String,
    },
    /// Over the path length limits.
    #[error(
        "archive entry {}: the path is longer than {max} bytes or has a component longer than 255",
        quote_for_error(.entry)
    )]
    PathTooLong {
        /// The entry's name.
        entry: String,
        /// The limit for the whole path, in bytes.
        max: usize,
    },
    /// Not one of the allowed files or directories.
    #[error(
        "archive entry {}: not part of the package layout (manifest.yaml, plugin.wasm, \
         migrations/NNN_name.up.sql and .down.sql, assets/**, README.md, LICENSE)",
        quote_for_error(.entry)
    )]
    NotInLayout {
        /// The entry's name.
        entry: String,
    },
    /// The same name twice.
    #[error("archive entry {}: appears more than once", quote_for_error(.entry))]
    DuplicateEntry {
        /// The entry's name.
        entry: String,
    },
    /// Two names that differ only in letter case.
    #[error(
        "archive entry {}: differs only in letter case from {}",
        quote_for_error(.entry),
        quote_for_error(.other)
    )]
    CaseTwin {
        /// The later entry's name.
        entry: String,
        /// The name it collides with.
        other: String,
    },
    /// A name used both as a file and as a directory.
    #[error(
        "archive entry {}: {} is used both as a file and as a directory",
        quote_for_error(.entry),
        quote_for_error(.other)
    )]
    PathConflict {
        /// The entry's name.
        entry: String,
        /// The path used both ways.
        other: String,
    },
    /// A symbolic link.
    #[error("archive entry {}: symbolic links are not allowed", quote_for_error(.entry))]
    Symlink {
        /// The entry's name.
        entry: String,
    },
    /// A device, FIFO, socket, or a type that does not match the name.
    #[error(
        "archive entry {}: only regular files and directories are allowed (unix mode {mode:o})",
        quote_for_error(.entry)
    )]
    NotRegularFile {
        /// The entry's name.
        entry: String,
        /// Its unix mode.
        mode: u32,
    },
    /// An encrypted entry.
    #[error("archive entry {}: encrypted entries are not allowed", quote_for_error(.entry))]
    Encrypted {
        /// The entry's name.
        entry: String,
    },
    /// Neither stored nor deflated.
    #[error(
        "archive entry {}: compression method {method} is not supported (use deflate)",
        quote_for_error(.entry)
    )]
    UnsupportedCompression {
        /// The entry's name.
        entry: String,
        /// The method the entry uses.
        method: String,
    },
    /// Over [`MAX_ENTRY_BYTES`](super::extract::MAX_ENTRY_BYTES) unpacked.
    #[error("archive entry {}: unpacks to more than {max} bytes", quote_for_error(.entry))]
    EntryTooLarge {
        /// The entry's name.
        entry: String,
        /// The limit in bytes.
        max: u64,
    },
    /// Compressed more than [`MAX_COMPRESSION_RATIO`](super::extract::MAX_COMPRESSION_RATIO):1.
    #[error(
        "archive entry {}: compresses more than {max}:1, which only a zip bomb does",
        quote_for_error(.entry)
    )]
    CompressionRatio {
        /// The entry's name.
        entry: String,
        /// The largest ratio allowed.
        max: u64,
    },
    /// The unpacked size differs from the size in the entry's header.
    #[error(
        "archive entry {}: its content does not match the size in its header",
        quote_for_error(.entry)
    )]
    SizeMismatch {
        /// The entry's name.
        entry: String,
    },
    /// Decompression failed (corrupt data, bad checksum).
    #[error("archive entry {}: cannot be read: {detail}", quote_for_error(.entry))]
    EntryRead {
        /// The entry's name.
        entry: String,
        /// What went wrong.
        detail: String,
    },
    /// A text file that is not UTF-8.
    #[error("archive entry {}: must be UTF-8 text", quote_for_error(.entry))]
    NotUtf8 {
        /// The entry's name.
        entry: String,
    },

    // ---------------------------------------------------------- migrations
    /// A file in `migrations/` that is not `NNN_name.up.sql` / `.down.sql`.
    #[error(
        "archive entry {}: migrations are named NNN_name.up.sql or NNN_name.down.sql (NNN: digits, \
         from 1; name: a-z, 0-9, \"_\" and \"-\")",
        quote_for_error(.entry)
    )]
    BadMigrationName {
        /// The entry's name.
        entry: String,
    },
    /// A `.down.sql` without the matching `.up.sql`.
    #[error("archive entry {}: a down migration needs its up migration {}", quote_for_error(.entry), quote_for_error(.up))]
    MigrationDownWithoutUp {
        /// The entry's name.
        entry: String,
        /// The missing up migration.
        up: String,
    },
    /// Two migrations with one version.
    #[error(
        "archive entry {}: migration version {version} is also used by {}",
        quote_for_error(.entry),
        quote_for_error(.other)
    )]
    DuplicateMigration {
        /// The entry's name.
        entry: String,
        /// The shared version.
        version: u32,
        /// The other entry with that version.
        other: String,
    },

    // -------------------------------------------------------- files on disk
    /// A file too large to read.
    #[error("{}: {size} bytes is more than the {max} allowed", .path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// Neither a ZIP archive nor a wasm component.
    #[error("{}: neither a .roseyplug archive nor a wasm component", .path.display())]
    UnknownFileType {
        /// The file.
        path: PathBuf,
    },
    /// A symbolic link in a plugin project.
    #[error("{}: symbolic links are not allowed in a plugin project: copy the file instead", .path.display())]
    ProjectSymlink {
        /// The link.
        path: PathBuf,
    },
    /// A device, FIFO or socket in a plugin project, or a file where a directory belongs.
    #[error("{}: not a regular file or directory", .path.display())]
    ProjectNotRegular {
        /// The path.
        path: PathBuf,
    },
    /// A required project file is missing.
    #[error("{}: not found: a plugin project needs it", .path.display())]
    ProjectFileMissing {
        /// The missing file.
        path: PathBuf,
    },
    /// Reading a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing the archive failed.
    #[error("cannot write the archive: {detail}")]
    ZipWrite {
        /// What the ZIP writer said.
        detail: String,
    },
}
