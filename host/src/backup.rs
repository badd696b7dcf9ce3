//! Backups of a whole home, and restoring them without losing anything on
//! the way.
//!
//! A backup is a ZIP file an operator can open with any unzip tool:
//!
//! ```text
//! backup.json                         what it holds: format, versions, plugins, files + sha256
//! host.db                             the registry, copied with SQLite's online backup
//! rosey.yaml                          the host config, if there is one
//! plugins/<name>/package/...          the installed package (manifest, component, migrations, assets)
//! plugins/<name>/database.db          the plugin's database, copied with SQLite's online backup
//! plugins/<name>/config.yaml          the operator's config for the plugin
//! plugins/<name>/files/...            the plugin's private files (/data)
//! ```
//!
//! Databases are copied with the online backup API in one step, so each is a
//! consistent snapshot even while the host writes to it. Plugin files are
//! copied as they are at that moment.
//!
//! A restore happens in three phases, so that a damaged backup or a crash
//! part-way never leaves a home half old and half new:
//!
//! 1. **Verify and stage** ([`stage`]): every entry is checked against the
//!    path shapes above and against `backup.json` (size and sha256),
//!    extracted under caps into `run/restore/`, and each database passes
//!    `PRAGMA integrity_check`; each package is read back and must compile
//!    and link on this host. Nothing live has changed yet; any failure
//!    deletes the staging directory.
//! 2. **Commit point**: `run/restore/JOURNAL` is written atomically.
//! 3. **Swap** ([`apply`]): each plugin's directory is renamed aside and the
//!    staged one renamed into place, then host.db takes the backup's rows
//!    for those plugins. If the process dies during this phase, [`recover`]
//!    (run when a host starts and before any restore) finishes it from the
//!    journal: every step is a rename or an idempotent upsert.
//!
//! Plugins installed now but absent from the backup are left alone.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::home::{RoseyHome, create_private_dir, write_atomic};
use crate::package::{Package, PluginName};
use crate::registry::Registry;
use crate::runtime::Runtime;

/// `backup.json`'s `format`: a ZIP without it is not a Rosey backup.
pub const FORMAT: &str = "rosey-backup";
/// The newest backup format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The index inside every backup.
pub const INDEX: &str = "backup.json";
/// The largest `backup.json` read.
const MAX_INDEX_BYTES: u64 = 16 << 20;
/// The most entries a backup may have.
const MAX_ENTRIES: usize = 1_000_000;
/// Room kept free beyond what a restore stages.
const DISK_MARGIN: u64 = 64 << 20;

/// What a backup holds (`backup.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupIndex {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The Rosey version that wrote it.
    pub rosey_version: String,
    /// When it was taken (ms since the Unix epoch).
    pub created_at: i64,
    /// The plugins in it.
    pub plugins: Vec<BackedUpPlugin>,
    /// Every file in it but `backup.json`, with its size and sha256.
    pub files: Vec<BackedUpFile>,
}

/// One plugin in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackedUpPlugin {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Whether it was enabled.
    pub enabled: bool,
}

/// One file in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackedUpFile {
    /// Its path in the backup (and under the home).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256, hex.
    pub sha256: String,
}

impl BackupIndex {
    /// Total bytes of the files in the backup.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Reports progress: bytes done so far, of a total, and what is being done.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64, &str);

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Copy a live SQLite database to `to` as one consistent snapshot (the
/// online backup API in a single step: a read transaction, so writers in
/// WAL mode are not blocked and cannot make it start over).
pub fn copy_database(live: &Path, to: &Path) -> Result<()> {
    let source = Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("could not open {}", live.display()))?;
    source.busy_timeout(Duration::from_secs(10))?;
    let mut target =
        Connection::open(to).with_context(|| format!("could not create {}", to.display()))?;
    let backup = rusqlite::backup::Backup::new(&source, &mut target)
        .with_context(|| format!("could not start copying {}", live.display()))?;
    // All pages in one step (-1): one read transaction, one snapshot.
    let mut tries = 0;
    loop {
        use rusqlite::backup::StepResult;
        match backup
            .step(-1)
            .with_context(|| format!("could not copy {}", live.display()))?
        {
            StepResult::Done => break,
            StepResult::More => {}
            _ if tries < 200 => std::thread::sleep(Duration::from_millis(50)),
            _ => bail!("{} stayed locked for 10 s; try again", live.display()),
        }
        tries += 1;
    }
    drop(backup);
    // A self-contained file: no WAL beside it.
    target.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// A file to put into a backup: its path in the backup and where to read it.
struct Source {
    path: String,
    file: PathBuf,
}

/// Regular files under `dir`, as backup paths under `prefix`, sorted.
/// Symbolic links and special files are skipped (a plugin cannot make them
/// through WASI; anything else put there by hand is not the plugin's data).
fn walk(dir: &Path, prefix: &str, out: &mut Vec<Source>) -> Result<()> {
    let mut entries = match fs::read_dir(dir) {
        Ok(entries) => entries.collect::<io::Result<Vec<_>>>()?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", dir.display())),
    };
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(path = %entry.path().display(), "not backed up: the name is not UTF-8");
            continue;
        };
        let kind = entry.file_type()?;
        let path = format!("{prefix}/{name}");
        if kind.is_dir() {
            walk(&entry.path(), &path, out)?;
        } else if kind.is_file() {
            out.push(Source {
                path,
                file: entry.path(),
            });
        } else {
            tracing::warn!(path = %entry.path().display(), "not backed up: not a regular file");
        }
    }
    Ok(())
}

/// Write a backup of `home` to `output` (replacing it only once complete).
pub fn create(home: &RoseyHome, output: &Path, progress: Progress<'_>) -> Result<BackupIndex> {
    let host_db = home.host_db();
    if !host_db.exists() {
        bail!(
            "{} has no host.db: nothing is installed there to back up",
            home.root().display()
        );
    }
    let scratch = TempDir(
        home.run_dir()
            .join(format!("backup-{}", std::process::id())),
    );
    let _ = fs::remove_dir_all(&scratch.0);
    create_private_dir(&scratch.0)?;

    // Databases first, each a consistent snapshot.
    let registry = Registry::open(&host_db)?;
    let plugins = registry.list()?;
    drop(registry);
    let mut sources = Vec::new();
    let host_copy = scratch.0.join("host.db");
    copy_database(&host_db, &host_copy)?;
    sources.push(Source {
        path: "host.db".into(),
        file: host_copy,
    });
    if home.config_file().is_file() {
        sources.push(Source {
            path: "rosey.yaml".into(),
            file: home.config_file(),
        });
    }
    let mut index = BackupIndex {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        rosey_version: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::protocol::now_ms(),
        plugins: Vec::new(),
        files: Vec::new(),
    };
    for plugin in &plugins {
        let paths = home.plugin(&plugin.name);
        let prefix = format!("plugins/{}", plugin.name);
        progress(0, 0, &format!("copying {}'s database", plugin.name));
        if paths.database.exists() {
            let copy = scratch.0.join(format!("{}.db", plugin.name));
            copy_database(&paths.database, &copy)?;
            sources.push(Source {
                path: format!("{prefix}/database.db"),
                file: copy,
            });
        }
        if paths.config.is_file() {
            sources.push(Source {
                path: format!("{prefix}/config.yaml"),
                file: paths.config.clone(),
            });
        }
        walk(&paths.package, &format!("{prefix}/package"), &mut sources)?;
        walk(&paths.files, &format!("{prefix}/files"), &mut sources)?;
        index.plugins.push(BackedUpPlugin {
            name: plugin.name.to_string(),
            version: plugin.version.to_string(),
            enabled: plugin.enabled,
        });
    }

    let total: u64 = sources
        .iter()
        .filter_map(|s| fs::metadata(&s.file).ok())
        .map(|m| m.len())
        .sum();
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let partial = dir.join(format!(
        ".{}.partial-{}",
        output
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("backup"),
        std::process::id()
    ));
    let written = (|| -> Result<()> {
        let file = private_file(&partial)?;
        let mut zip = ZipWriter::new(io::BufWriter::new(file));
        let mut done = 0;
        let mut buf = vec![0u8; 256 << 10];
        for source in &sources {
            progress(done, total, &source.path);
            let mut input = match File::open(&source.file) {
                Ok(input) => input,
                // A plugin deleted one of its files meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("could not read {}", source.file.display()));
                }
            };
            let size = input.metadata()?.len();
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .compression_level(Some(1))
                .large_file(size >= u32::MAX as u64)
                .unix_permissions(0o600);
            zip.start_file(source.path.as_str(), options)?;
            let mut hash = Sha256::new();
            let mut copied = 0u64;
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or_default();
                hash.update(chunk);
                zip.write_all(chunk)?;
                copied += n as u64;
                progress(done + copied, total, &source.path);
            }
            done += copied;
            index.files.push(BackedUpFile {
                path: source.path.clone(),
                size: copied,
                sha256: hex::encode(hash.finalize()),
            });
        }
        zip.start_file(
            INDEX,
            SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .unix_permissions(0o600),
        )?;
        zip.write_all(&serde_json::to_vec_pretty(&index)?)?;
        let mut out = zip.finish()?;
        out.flush()?;
        out.get_ref().sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&partial);
        return Err(e.context(format!("could not write {}", output.display())));
    }
    fs::rename(&partial, output)
        .with_context(|| format!("could not write {}", output.display()))?;
    progress(total, total, "done");
    Ok(index)
}

fn private_file(path: &Path) -> Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))
}

// ------------------------------------------------------------------ restore

/// `run/restore/`: where a restore is staged and journaled.
pub fn staging_dir(home: &RoseyHome) -> PathBuf {
    home.run_dir().join("restore")
}

fn journal(home: &RoseyHome) -> PathBuf {
    staging_dir(home).join("JOURNAL")
}

/// Where a backup path goes: `Some(plugin)` for a plugin's file, `None` for
/// the home's own (`host.db`, `rosey.yaml`). Anything else is refused.
fn admit(path: &str, plugins: &BTreeSet<String>) -> Result<Option<String>> {
    let refuse = || {
        anyhow::anyhow!(
            "the backup holds an unexpected entry \"{path}\"; it is not a Rosey backup or was tampered with, and nothing was changed"
        )
    };
    if path == "host.db" || path == "rosey.yaml" {
        return Ok(None);
    }
    let relative = Path::new(path);
    if path.contains('\\')
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(refuse());
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["plugins", name, rest @ ..] if plugins.contains(*name) => match rest {
            ["database.db"] | ["config.yaml"] => Ok(Some((*name).to_owned())),
            ["package" | "files", tail @ ..] if !tail.is_empty() && !tail.contains(&"") => {
                Ok(Some((*name).to_owned()))
            }
            _ => Err(refuse()),
        },
        _ => Err(refuse()),
    }
}

/// Read and check a backup's index without extracting anything.
pub fn inspect(file: &Path) -> Result<BackupIndex> {
    let (index, _) = open(file)?;
    Ok(index)
}

fn open(file: &Path) -> Result<(BackupIndex, ZipArchive<File>)> {
    let input = File::open(file).with_context(|| format!("could not open {}", file.display()))?;
    let mut archive = ZipArchive::new(input).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a complete ZIP file ({e}); it may be truncated or damaged, and \
             nothing was changed",
            file.display()
        )
    })?;
    if archive.len() > MAX_ENTRIES {
        bail!(
            "{} has too many entries to be a Rosey backup",
            file.display()
        );
    }
    let index: BackupIndex = {
        let entry = archive.by_name(INDEX).map_err(|_| {
            anyhow::anyhow!(
                "{} is not a Rosey backup (it has no {INDEX}); nothing was changed",
                file.display()
            )
        })?;
        let mut text = Vec::new();
        entry
            .take(MAX_INDEX_BYTES + 1)
            .read_to_end(&mut text)
            .with_context(|| format!("{INDEX} in {} is damaged", file.display()))?;
        if text.len() as u64 > MAX_INDEX_BYTES {
            bail!("{INDEX} in {} is too large", file.display());
        }
        let value: serde_json::Value = serde_json::from_slice(&text).with_context(|| {
            format!(
                "{} is not a Rosey backup ({INDEX} is not JSON)",
                file.display()
            )
        })?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            bail!(
                "{} is not a Rosey backup ({INDEX} does not say format: {FORMAT}); nothing \
                 was changed",
                file.display()
            );
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version.is_none_or(|v| v > u64::from(FORMAT_VERSION)) {
            bail!(
                "{} was written by a newer Rosey (backup format {}; this one reads up to \
                 {FORMAT_VERSION}); restore it with that version",
                file.display(),
                version.map_or_else(|| "unknown".into(), |v| v.to_string())
            );
        }
        serde_json::from_value(value)
            .with_context(|| format!("{INDEX} in {} is malformed", file.display()))?
    };
    let mut seen = BTreeSet::new();
    for plugin in &index.plugins {
        plugin
            .name
            .parse::<PluginName>()
            .map_err(|e| anyhow::anyhow!("{INDEX} names an invalid plugin: {e}"))?;
        if !seen.insert(plugin.name.clone()) {
            bail!("{INDEX} lists plugin {} twice", plugin.name);
        }
    }
    let mut listed = BTreeSet::new();
    for f in &index.files {
        admit(&f.path, &seen)?;
        if !listed.insert(f.path.as_str()) {
            bail!("{INDEX} lists {} twice", f.path);
        }
    }
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i)?;
        let name = entry.name().map_err(|e| {
            anyhow::anyhow!("an entry's name in {} is unreadable: {e}", file.display())
        })?;
        let name = name.as_ref();
        if name != INDEX && !entry.is_dir() && !listed.contains(name) {
            bail!(
                "{} holds {name}, which {INDEX} does not list; it was tampered with, and \
                 nothing was changed",
                file.display()
            );
        }
    }
    Ok((index, archive))
}

/// A restore, verified and staged in `run/restore/`, not applied yet.
#[derive(Debug)]
pub struct StagedRestore {
    /// What the backup holds.
    pub index: BackupIndex,
    /// Plugins installed now that the backup does not have (left alone).
    pub untouched: Vec<String>,
    /// Plugins installed now that the backup replaces.
    pub replaced: Vec<String>,
}

/// Verify `file` and extract it into `run/restore/`. Nothing live changes;
/// on any failure the staging directory is deleted.
pub fn stage(
    home: &RoseyHome,
    runtime: &Runtime,
    file: &Path,
    progress: Progress<'_>,
) -> Result<StagedRestore> {
    home.ensure()?;
    let staging = staging_dir(home);
    if journal(home).exists() {
        bail!(
            "a restore was interrupted and is not finished; run `rosey db restore --recover` \
             (or start the host) first"
        );
    }
    let _ = fs::remove_dir_all(&staging);
    let (index, archive) = open(file)?;
    let needed = index.total_bytes();
    if let Some(free) = crate::home::free_space(home.root())
        && free < needed.saturating_add(DISK_MARGIN)
    {
        bail!(
            "restoring needs {} MiB free beside the home for staging, and {} has {} MiB; \
             free some space (`rosey clean`)",
            needed >> 20,
            home.root().display(),
            free >> 20
        );
    }
    create_private_dir(&staging)?;
    let staged = extract(home, runtime, &index, archive, &staging, progress);
    match staged {
        Ok(staged) => Ok(staged),
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e.context("nothing was changed"))
        }
    }
}

fn extract(
    home: &RoseyHome,
    runtime: &Runtime,
    index: &BackupIndex,
    mut archive: ZipArchive<File>,
    staging: &Path,
    progress: Progress<'_>,
) -> Result<StagedRestore> {
    let total = index.total_bytes();
    let mut done = 0;
    let mut buf = vec![0u8; 256 << 10];
    for f in &index.files {
        progress(done, total, &f.path);
        let mut entry = archive
            .by_name(&f.path)
            .map_err(|_| anyhow::anyhow!("the backup lists {} but does not hold it", f.path))?;
        if entry.is_symlink() || entry.encrypted() {
            bail!("{} in the backup is not a plain file", f.path);
        }
        if entry.size() != f.size {
            bail!(
                "{} in the backup has the wrong size; the backup is damaged",
                f.path
            );
        }
        let target = staging.join(&f.path);
        if let Some(parent) = target.parent() {
            create_private_dir(parent)?;
        }
        let mut out = io::BufWriter::new(private_file(&target)?);
        let mut hash = Sha256::new();
        let mut copied = 0u64;
        loop {
            let n = entry
                .read(&mut buf)
                .with_context(|| format!("{} in the backup is damaged", f.path))?;
            if n == 0 {
                break;
            }
            copied += n as u64;
            if copied > f.size {
                bail!("{} in the backup is larger than listed", f.path);
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hash.update(chunk);
            out.write_all(chunk)?;
            progress(done + copied, total, &f.path);
        }
        out.flush()?;
        if copied != f.size || hex::encode(hash.finalize()) != f.sha256 {
            bail!(
                "{} in the backup does not match its checksum; the backup is damaged",
                f.path
            );
        }
        done += copied;
    }
    progress(total, total, "checking databases and packages");
    let mut databases = vec![staging.join("host.db")];
    for plugin in &index.plugins {
        let root = staging.join("plugins").join(&plugin.name);
        let package_dir = root.join("package");
        let wasm = fs::read(package_dir.join(crate::home::PACKAGE_WASM))
            .with_context(|| format!("the backup has no component for {}", plugin.name))?;
        let package = Package::from_project_dir(&package_dir, wasm)
            .map_err(|e| anyhow::anyhow!("{}'s package in the backup: {e}", plugin.name))?;
        if package.manifest.name.as_str() != plugin.name
            || package.manifest.version.to_string() != plugin.version
        {
            bail!(
                "the backup's package for {} is {} {}, not what {INDEX} says",
                plugin.name,
                package.manifest.name,
                package.manifest.version
            );
        }
        crate::install::check(runtime, &package).with_context(|| {
            format!(
                "{} {} from the backup cannot run on this host",
                plugin.name, plugin.version
            )
        })?;
        create_private_dir(&root.join("files"))?;
        databases.push(root.join("database.db"));
    }
    for db in databases.iter().filter(|db| db.exists()) {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let verdict: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .with_context(|| format!("{} in the backup is not a database", db.display()))?;
        if verdict != "ok" {
            bail!(
                "{} in the backup fails SQLite's integrity check: {verdict}",
                db.display()
            );
        }
    }
    if !staging.join("host.db").exists() {
        bail!("the backup has no host.db");
    }
    write_atomic(&staging.join(INDEX), &serde_json::to_vec_pretty(index)?)?;
    let installed: Vec<String> = Registry::open(&home.host_db())?
        .list()?
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    let in_backup: BTreeSet<&str> = index.plugins.iter().map(|p| p.name.as_str()).collect();
    let (replaced, untouched) = installed
        .into_iter()
        .partition(|name| in_backup.contains(name.as_str()));
    Ok(StagedRestore {
        index: index.clone(),
        untouched,
        replaced,
    })
}

/// The staged restore's plugins, read back from `run/restore/backup.json`.
pub fn staged_plugins(home: &RoseyHome) -> Result<Vec<PluginName>> {
    let text = fs::read(staging_dir(home).join(INDEX)).context("no restore is staged")?;
    let index: BackupIndex =
        serde_json::from_slice(&text).context("the staged index is damaged")?;
    index
        .plugins
        .iter()
        .map(|p| p.name.parse().map_err(|e| anyhow::anyhow!("{e}")))
        .collect()
}

/// One step of [`apply`], for progress and for tests that stop part-way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The journal is written: from here on the restore finishes.
    Committed,
    /// A plugin's directory was swapped in.
    Plugin(String),
    /// host.db has the backup's rows.
    Registry,
}

/// Swap the staged restore into the home. Its plugins must not be running.
/// `on_step` may return `false` to stop right there, as a crash would
/// (only tests do that); [`recover`] then finishes the job.
pub fn apply(home: &RoseyHome, on_step: &mut dyn FnMut(&Step) -> bool) -> Result<bool> {
    let plugins = staged_plugins(home)?;
    if !journal(home).exists() {
        let names: Vec<String> = plugins.iter().map(ToString::to_string).collect();
        write_atomic(&journal(home), &serde_json::to_vec(&names)?)?;
    }
    if !on_step(&Step::Committed) {
        return Ok(false);
    }
    finish(home, &plugins, on_step)
}

fn finish(
    home: &RoseyHome,
    plugins: &[PluginName],
    on_step: &mut dyn FnMut(&Step) -> bool,
) -> Result<bool> {
    let staging = staging_dir(home);
    let aside = staging.join("replaced");
    create_private_dir(&aside)?;
    create_private_dir(&home.plugins_dir())?;
    for name in plugins {
        let staged = staging.join("plugins").join(name.as_str());
        if !staged.exists() {
            continue; // swapped in before an interruption
        }
        let live = home.plugin(name).root;
        if live.exists() {
            let old = aside.join(name.as_str());
            let _ = fs::remove_dir_all(&old);
            fs::rename(&live, &old)
                .with_context(|| format!("could not move {} aside", live.display()))?;
        }
        fs::rename(&staged, &live)
            .with_context(|| format!("could not move the restored {name} into place"))?;
        if !on_step(&Step::Plugin(name.to_string())) {
            return Ok(false);
        }
    }
    let staged_config = staging.join("rosey.yaml");
    if staged_config.exists() {
        fs::rename(&staged_config, home.config_file()).context("could not restore rosey.yaml")?;
    }
    restore_registry(home, &staging.join("host.db"), plugins)?;
    if !on_step(&Step::Registry) {
        return Ok(false);
    }
    // The journal goes last: until then a crash means "finish this".
    let _ = fs::remove_file(journal(home));
    let _ = fs::remove_dir_all(&staging);
    Ok(true)
}

/// Give host.db the backup's rows for `plugins` (the rest stay as they are).
fn restore_registry(home: &RoseyHome, staged: &Path, plugins: &[PluginName]) -> Result<()> {
    let live = Registry::open(&home.host_db())?;
    drop(live); // creates the tables if the home is new
    let conn = Connection::open(home.host_db())?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute("ATTACH DATABASE ?1 AS backup", [staged.to_string_lossy()])?;
    // Backups from before provenance was recorded have no such column.
    let has_provenance: bool = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('plugins', 'backup') WHERE name = 'provenance'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    let provenance = if has_provenance { "provenance" } else { "NULL" };
    let tx = conn.unchecked_transaction()?;
    for name in plugins {
        tx.execute("DELETE FROM main.plugins WHERE name = ?1", [name.as_str()])?;
        tx.execute(
            &format!(
                "INSERT INTO main.plugins
                     (name, version, enabled, digest, installed_at, manifest, provenance)
                 SELECT name, version, enabled, digest, installed_at, manifest, {provenance}
                 FROM backup.plugins WHERE name = ?1"
            ),
            [name.as_str()],
        )?;
        let found: i64 = tx.query_row(
            "SELECT count(*) FROM main.plugins WHERE name = ?1",
            [name.as_str()],
            |r| r.get(0),
        )?;
        if found != 1 {
            bail!("the backup's host.db has no row for {name}");
        }
        tx.execute(
            "INSERT INTO main.history (at, plugin, event, detail) VALUES (?1, ?2, 'restored', NULL)",
            rusqlite::params![crate::protocol::now_ms(), name.as_str()],
        )?;
    }
    tx.commit()?;
    conn.execute("DETACH DATABASE backup", [])?;
    Ok(())
}

/// Finish a restore that was interrupted after its commit point, or clear
/// away one interrupted before it. Returns what was done, if anything.
/// Must not run while another process restores (the CLI holds
/// [`RestoreLock`]).
pub fn recover(home: &RoseyHome) -> Result<Option<String>> {
    let staging = staging_dir(home);
    if !staging.exists() {
        return Ok(None);
    }
    if !journal(home).exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("could not remove {}", staging.display()))?;
        return Ok(Some(
            "removed a restore that was interrupted while it was being checked (nothing had \
             changed)"
                .into(),
        ));
    }
    let names: Vec<String> = serde_json::from_slice(&fs::read(journal(home))?)
        .context("the restore journal is damaged")?;
    let plugins = names
        .iter()
        .map(|n| n.parse().map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<Result<Vec<PluginName>>>()?;
    finish(home, &plugins, &mut |_| true)?;
    Ok(Some(format!(
        "finished a restore that was interrupted: {}",
        names.join(", ")
    )))
}

/// Held while a process restores, so a host starting meanwhile does not
/// "recover" a restore that is merely in progress.
pub struct RestoreLock {
    _file: File,
}

impl RestoreLock {
    /// Take the lock, or say who has it.
    pub fn acquire(home: &RoseyHome) -> Result<Self> {
        home.ensure()?;
        let path = home.run_dir().join("restore.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("could not open {}", path.display()))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| anyhow::anyhow!("another restore is running on this home"))?;
        Ok(Self { _file: file })
    }

    /// Take the lock if free (`None` if a restore is running).
    pub fn try_acquire(home: &RoseyHome) -> Option<Self> {
        Self::acquire(home).ok()
    }
}
