//! `ROSEY_HOME`: where everything Rosey keeps lives, and nothing else.
//!
//! ```text
//! rosey.yaml                      host config
//! host.db                         installed plugins, enabled flags, history
//! plugins/<name>/package/         the extracted, validated archive
//! plugins/<name>/compiled.cwasm   compiled code, written only by the host
//! plugins/<name>/compiled.key     engine fingerprint + wasm digest it was built for
//! plugins/<name>/database.db      private SQLite (outside files/: WASI never sees it)
//! plugins/<name>/files/           preopened as /data
//! plugins/<name>/config.yaml      the operator's config for the plugin
//! logs/host.log  logs/nats.log  logs/plugins/<name>.log
//! run/host.pid  run/status.json  run/control.sock
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::package::PluginName;

/// The environment variable naming the home directory.
pub const HOME_ENV: &str = "ROSEY_HOME";
/// The home used when neither `--home` nor `ROSEY_HOME` is given.
pub const DEFAULT_HOME: &str = "./rosey-data";

/// The component's file name inside a plugin's `package/`.
pub const PACKAGE_WASM: &str = "plugin.wasm";
/// The assets directory inside a plugin's `package/`.
pub const PACKAGE_ASSETS: &str = "assets";

/// A Rosey data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoseyHome {
    root: PathBuf,
}

/// Where one plugin's things live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPaths {
    /// `plugins/<name>/`: removing the plugin deletes exactly this.
    pub root: PathBuf,
    /// The extracted package (manifest, wasm, migrations, assets).
    pub package: PathBuf,
    /// `package/plugin.wasm`.
    pub wasm: PathBuf,
    /// `package/assets/`, preopened read-only as `/assets`.
    pub assets: PathBuf,
    /// The host's compiled-code cache.
    pub compiled: PathBuf,
    /// What the cache was compiled for.
    pub compiled_key: PathBuf,
    /// The private database.
    pub database: PathBuf,
    /// The directory preopened as `/data`.
    pub files: PathBuf,
    /// The operator's config for the plugin.
    pub config: PathBuf,
    /// During an update: the new version's package, before it is swapped in.
    pub package_next: PathBuf,
    /// During an update: the old version's package, until the update commits.
    pub package_prev: PathBuf,
    /// During an update: the database as it was before the new migrations.
    pub update_snapshot: PathBuf,
}

impl PluginPaths {
    /// Bytes used by the plugin's data: its files and its database (with
    /// the WAL and shared-memory files beside it).
    pub fn storage_used(&self) -> u64 {
        let database = sqlite_files(&self.database)
            .iter()
            .filter_map(|path| fs::metadata(path).ok())
            .map(|m| m.len())
            .sum::<u64>();
        database + disk_usage(&self.files)
    }

    /// The paths of a plugin whose directory is `root`.
    pub fn at(root: PathBuf) -> Self {
        let package = root.join("package");
        Self {
            wasm: package.join(PACKAGE_WASM),
            assets: package.join(PACKAGE_ASSETS),
            package,
            compiled: root.join("compiled.cwasm"),
            compiled_key: root.join("compiled.key"),
            database: root.join("database.db"),
            files: root.join("files"),
            config: root.join("config.yaml"),
            package_next: root.join("package.next"),
            package_prev: root.join("package.prev"),
            update_snapshot: root.join("database.pre-update.db"),
            root,
        }
    }
}

impl RoseyHome {
    /// The home at `root` (not created until [`ensure`](Self::ensure)).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The home directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create the home and its directories if missing, private to the owner.
    pub fn ensure(&self) -> Result<()> {
        for dir in [
            self.root.clone(),
            self.plugins_dir(),
            self.logs_dir(),
            self.run_dir(),
        ] {
            create_private_dir(&dir)?;
        }
        Ok(())
    }

    /// `host.db`.
    pub fn host_db(&self) -> PathBuf {
        self.root.join("host.db")
    }

    /// `rosey.yaml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("rosey.yaml")
    }

    /// `plugins/`.
    pub fn plugins_dir(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// `plugins/.staging/`: installs are assembled here, then renamed into place.
    pub fn staging_dir(&self) -> PathBuf {
        self.plugins_dir().join(".staging")
    }

    /// `plugins/.pending/`: updates that wait for `rosey plugin approve`.
    pub fn pending_dir(&self) -> PathBuf {
        self.plugins_dir().join(".pending")
    }

    /// The update of `name` waiting for approval, if any.
    pub fn pending_update(&self, name: &PluginName) -> PathBuf {
        self.pending_dir().join(format!("{name}.roseyplug"))
    }

    /// Where the update of `name` waiting for approval came from.
    pub fn pending_provenance(&self, name: &PluginName) -> PathBuf {
        self.pending_dir().join(format!("{name}.provenance.json"))
    }

    /// `run/control.sock`: the running host's control channel.
    pub fn control_socket(&self) -> PathBuf {
        self.run_dir().join("control.sock")
    }

    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `logs/plugins/<name>.log`: one plugin's log (rotated beside it).
    pub fn plugin_log(&self, name: &PluginName) -> PathBuf {
        self.logs_dir().join("plugins").join(format!("{name}.log"))
    }

    /// `logs/nats.log`: the managed nats-server's log.
    pub fn nats_log(&self) -> PathBuf {
        self.logs_dir().join("nats.log")
    }

    /// `logs/host.log`: the background host's log.
    pub fn host_log(&self) -> PathBuf {
        self.logs_dir().join("host.log")
    }

    /// `run/`: pid and state files of a running host.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// `run/host.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir().join("host.pid")
    }

    /// `run/nats.pid`: the nats-server started by `rosey start nats`.
    pub fn nats_pid_file(&self) -> PathBuf {
        self.run_dir().join("nats.pid")
    }

    /// `run/nats.url`: where that server listens.
    pub fn nats_url_file(&self) -> PathBuf {
        self.run_dir().join("nats.url")
    }

    /// `run/status.json`: the running host's status, rewritten as it changes.
    pub fn status_file(&self) -> PathBuf {
        self.run_dir().join("status.json")
    }

    /// `admin.token`: the admin API's bearer token (0600; made by the first
    /// host that serves the API, or by `rosey admin token`).
    pub fn admin_token(&self) -> PathBuf {
        self.root.join("admin.token")
    }

    /// One plugin's paths.
    pub fn plugin(&self, name: &PluginName) -> PluginPaths {
        PluginPaths::at(self.plugins_dir().join(name.as_str()))
    }
}

/// A SQLite database and the WAL and shared-memory files beside it.
pub fn sqlite_files(database: &Path) -> [PathBuf; 3] {
    ["", "-wal", "-shm"].map(|suffix| {
        let mut path = database.as_os_str().to_owned();
        path.push(suffix);
        PathBuf::from(path)
    })
}

/// Create `dir` (and parents) with mode 0700 on Unix.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("could not create {}", dir.display()))
}

/// Write `bytes` to `path` atomically: a temporary file beside it, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    fs::write(&tmp, bytes).with_context(|| format!("could not write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("could not write {}", path.display()))
}

/// Write `bytes` to `path` atomically, readable by the owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("could not write {}", tmp.display()));
    }
    fs::rename(&tmp, path).with_context(|| format!("could not write {}", path.display()))
}

/// Bytes free for an unprivileged user on the filesystem holding `path`.
pub fn free_space(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Total size in bytes of the regular files under `dir` (symlinks are not
/// followed). Missing directories count as empty.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => disk_usage(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
