//! Fetching a plugin from a git repository, hardened (security.md, "Git
//! installs").
//!
//! A repository is untrusted input, so Rosey never clones it into a working
//! tree. It runs the system `git` to fetch one commit into a fresh bare
//! repository, with:
//!
//! - no configuration but its own (`GIT_CONFIG_NOSYSTEM`, an empty global
//!   config, an empty `HOME`), no hooks (`--template=`, `core.hooksPath`),
//!   no credential helpers and no terminal prompts;
//! - only the one protocol the URL uses (`protocol.allow=never` otherwise),
//!   SSH in batch mode with host-key checking;
//! - object checking on (`transfer.fsckObjects`: malformed trees, `..` and
//!   `.git` entries are refused by git itself), no submodules, a shallow
//!   fetch, a timeout and a cap on the bytes downloaded.
//!
//! Then it lists the commit's tree itself: symlinks, submodules and odd
//! paths are refused, sizes are capped, and only regular files are written
//! out, by Rosey, into a staging directory. Nothing of the repository ever
//! runs: its hooks, filters and config never reach a git command.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::home::{create_private_dir, disk_usage};
use crate::provenance::redact_url;

/// The most files a repository's commit may have.
pub const MAX_FILES: usize = 10_000;
/// The longest path in a repository.
const MAX_PATH_BYTES: usize = 1024;
/// How much of git's error output is kept for the message.
const MAX_STDERR_BYTES: u64 = 16 * 1024;

/// A repository and what to fetch from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// The URL (`https://`, `ssh://`, `user@host:path`) or the absolute
    /// path of a local repository.
    pub url: String,
    /// The branch, tag or commit; `None`: the remote's default branch.
    pub reference: Option<String>,
    /// Whether `url` is a local path.
    pub local: bool,
}

impl GitSource {
    /// The URL as it may be shown and recorded (no credentials).
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The only protocol git may use for this source.
    fn protocol(&self) -> &'static str {
        if self.local {
            "file"
        } else if self.url.starts_with("https://") {
            "https"
        } else {
            "ssh"
        }
    }
}

/// Limits on one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitLimits {
    /// The longest the fetch may take.
    pub timeout: Duration,
    /// The most bytes the fetched objects (and then the files written out)
    /// may take.
    pub max_bytes: u64,
}

impl Default for GitLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            max_bytes: 256 << 20,
        }
    }
}

/// A regular file of the fetched commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Its path, `/`-separated, relative to the repository's root.
    pub path: String,
    /// Its blob id.
    oid: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether git records it as executable.
    pub executable: bool,
}

/// What a repository holds, judged from its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One prebuilt `.roseyplug` at the root (and its `.minisig`, if any).
    Archive {
        /// The archive's path.
        path: String,
        /// The signature's path, if the repository has one.
        signature: Option<String>,
    },
    /// `manifest.yaml` and a prebuilt `plugin.wasm`, nothing to build.
    Component,
    /// `manifest.yaml` and sources that `rosey plugin build` builds.
    Sources {
        /// The build file that says so (`Cargo.toml`, `package.json`, ...).
        marker: String,
    },
}

/// One fetched commit of a repository.
pub struct Fetched {
    work: PathBuf,
    repo: PathBuf,
    /// The only protocol git may use.
    protocol: &'static str,
    /// The commit (40 hex digits).
    pub commit: String,
    /// Its regular files.
    pub files: Vec<RepoFile>,
}

impl Drop for Fetched {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("commit", &self.commit)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

/// Whether a `git` that Rosey can use is on the PATH (its version, if so).
pub fn git_version() -> Option<String> {
    let output = Command::new("git")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Fetches `source` into a new directory under `staging` (removed when the
/// result is dropped) and lists its commit's files.
pub fn fetch(source: &GitSource, staging: &Path, limits: GitLimits) -> Result<Fetched> {
    if git_version().is_none() {
        bail!(
            "git is not installed, and installing from a repository needs it: install git \
             (apt-get install git), or install the plugin's .roseyplug file instead"
        );
    }
    create_private_dir(staging)?;
    let work = staging.join(format!(
        "git-{}-{}",
        std::process::id(),
        crate::protocol::now_ms()
    ));
    create_private_dir(&work.join("home"))?;
    let repo = work.join("repo.git");
    let mut fetched = Fetched {
        work,
        repo,
        protocol: source.protocol(),
        commit: String::new(),
        files: Vec::new(),
    };
    let url = source.display_url();
    let deadline = Instant::now() + limits.timeout;
    fetched
        .git(&["init", "--bare", "--quiet", "--template="], None)
        .run(deadline, None)
        .context("could not prepare a repository to fetch into")?;
    let wanted = source.reference.as_deref().unwrap_or("HEAD");
    let shallow = fetched
        .git(
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-recurse-submodules",
                "--depth=1",
                "--end-of-options",
                &source.url,
                wanted,
            ],
            Some(&fetched.repo),
        )
        .run(deadline, Some(limits.max_bytes));
    if let Err(shallow_error) = shallow {
        // A server may refuse a commit id in a shallow fetch; fetch its
        // branches and tags and look the commit up among them.
        let Some(commit) = source.reference.as_deref().filter(|r| is_hex(r)) else {
            return Err(shallow_error.context(format!("could not fetch {wanted} from {url}")));
        };
        fetched
            .git(
                &[
                    "fetch",
                    "--quiet",
                    "--no-recurse-submodules",
                    "--end-of-options",
                    &source.url,
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                Some(&fetched.repo),
            )
            .run(deadline, Some(limits.max_bytes))
            .with_context(|| format!("could not fetch {url}"))?;
        fetched.commit = fetched
            .rev_parse(&format!("{commit}^{{commit}}"), deadline)
            .with_context(|| format!("{url} has no commit {commit}"))?;
    } else {
        fetched.commit = fetched.rev_parse("FETCH_HEAD^{commit}", deadline)?;
    }
    fetched.files = fetched.list(deadline, limits.max_bytes)?;
    Ok(fetched)
}

fn is_hex(text: &str) -> bool {
    (7..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A git command, set up so that nothing outside Rosey's control configures it.
struct Git {
    command: Command,
    stderr_file: PathBuf,
    watch: Option<PathBuf>,
}

impl Fetched {
    fn git(&self, args: &[&str], dir: Option<&Path>) -> Git {
        let protocol = self.protocol;
        let mut command = Command::new("git");
        command.env_clear();
        for keep in ["PATH", "SSH_AUTH_SOCK", "LANG", "TZ"] {
            if let Some(value) = std::env::var_os(keep) {
                command.env(keep, value);
            }
        }
        command
            .env("HOME", self.work.join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("SSH_ASKPASS", "/bin/false")
            .env(
                "GIT_SSH_COMMAND",
                "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=30",
            )
            .env("GIT_PROTOCOL_FROM_USER", "0");
        for config in [
            "protocol.allow=never".to_owned(),
            format!("protocol.{protocol}.allow=always"),
            "core.hooksPath=/dev/null".to_owned(),
            "core.symlinks=false".to_owned(),
            "core.fsmonitor=false".to_owned(),
            "credential.helper=".to_owned(),
            "transfer.fsckObjects=true".to_owned(),
            "fetch.fsckObjects=true".to_owned(),
            "submodule.recurse=false".to_owned(),
            "http.followRedirects=initial".to_owned(),
            "advice.detachedHead=false".to_owned(),
        ] {
            command.arg("-c").arg(config);
        }
        match dir {
            Some(dir) => {
                command.arg("--git-dir").arg(dir).args(args);
            }
            // `init` takes its directory as its last argument.
            None => {
                command.args(args).arg(&self.repo);
            }
        }
        command.current_dir(&self.work).stdin(Stdio::null());
        Git {
            command,
            stderr_file: self.work.join("git.stderr"),
            watch: Some(self.work.clone()),
        }
    }

    fn rev_parse(&self, what: &str, deadline: Instant) -> Result<String> {
        let out = self
            .git(
                &["rev-parse", "--verify", "--quiet", "--end-of-options", what],
                Some(&self.repo),
            )
            .output(deadline)?;
        let commit = String::from_utf8_lossy(&out).trim().to_owned();
        if !is_hex(&commit) {
            bail!("git named no commit for {what}");
        }
        Ok(commit)
    }

    /// The commit's regular files; anything else in its tree is refused.
    fn list(&self, deadline: Instant, max_bytes: u64) -> Result<Vec<RepoFile>> {
        let out = self
            .git(
                &["ls-tree", "-r", "-z", "--long", "--full-tree", &self.commit],
                Some(&self.repo),
            )
            .output(deadline)?;
        let mut files = Vec::new();
        let mut total = 0u64;
        for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let record = String::from_utf8(record.to_vec())
                .map_err(|_| anyhow::anyhow!("the repository has a file name that is not UTF-8"))?;
            let (meta, path) = record
                .split_once('\t')
                .with_context(|| format!("unexpected ls-tree output {record:?}"))?;
            let fields: Vec<&str> = meta.split_whitespace().collect();
            let [mode, kind, oid, size] = fields[..] else {
                bail!("unexpected ls-tree output {record:?}");
            };
            check_path(path)?;
            match (mode, kind) {
                ("120000", _) => bail!(
                    "the repository has a symbolic link, {path}; Rosey installs no links from a \
                     repository (replace it with the file itself)"
                ),
                ("160000", _) | (_, "commit") => bail!(
                    "the repository has a submodule, {path}; Rosey does not fetch submodules \
                     (vendor its files, or publish a .roseyplug)"
                ),
                ("100644" | "100755", "blob") => {}
                _ => bail!("the repository has {path} of an unsupported kind (mode {mode})"),
            }
            let size: u64 = size
                .parse()
                .with_context(|| format!("unexpected size {size:?} for {path}"))?;
            total = total.saturating_add(size);
            if total > max_bytes {
                bail!(
                    "the repository's files are larger than the {} MiB allowed (git.max_size \
                     in rosey.yaml)",
                    max_bytes >> 20
                );
            }
            files.push(RepoFile {
                path: path.to_owned(),
                oid: oid.to_owned(),
                size,
                executable: mode == "100755",
            });
            if files.len() > MAX_FILES {
                bail!("the repository has more than {MAX_FILES} files");
            }
        }
        Ok(files)
    }

    /// What the repository holds, judged from its root.
    pub fn layout(&self) -> Result<Layout> {
        let root: Vec<&str> = self
            .files
            .iter()
            .map(|f| f.path.as_str())
            .filter(|p| !p.contains('/'))
            .collect();
        let archives: Vec<&str> = root
            .iter()
            .copied()
            .filter(|p| p.ends_with(".roseyplug"))
            .collect();
        match archives[..] {
            [one] => {
                let signature = format!("{one}{}", crate::package::SIGNATURE_SUFFIX);
                return Ok(Layout::Archive {
                    path: one.to_owned(),
                    signature: root.contains(&signature.as_str()).then_some(signature),
                });
            }
            [] => {}
            _ => bail!(
                "the repository has {} .roseyplug files at its root ({}); keep one per commit \
                 (or tag), or install the one you want as a file",
                archives.len(),
                archives.join(", ")
            ),
        }
        if !root.contains(&"manifest.yaml") {
            bail!(
                "the repository holds no plugin: its root has neither a .roseyplug nor a \
                 manifest.yaml (see docs/publishing.md for the layouts Rosey installs)"
            );
        }
        for marker in ["Cargo.toml", "package.json", "app.py", "pyproject.toml"] {
            if root.contains(&marker) {
                return Ok(Layout::Sources {
                    marker: marker.to_owned(),
                });
            }
        }
        if root.contains(&"plugin.wasm") {
            return Ok(Layout::Component);
        }
        bail!(
            "the repository has a manifest.yaml but no plugin.wasm and no sources Rosey can \
             build (Cargo.toml, package.json, app.py or pyproject.toml)"
        )
    }

    /// The contents of the file at `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let file = self
            .files
            .iter()
            .find(|f| f.path == path)
            .with_context(|| format!("the repository has no file {path}"))?;
        let mut blobs = self.blobs(std::slice::from_ref(file))?;
        blobs
            .pop()
            .map(|(_, bytes)| bytes)
            .context("git returned no contents")
    }

    /// Writes every file of the commit into the new directory `into`
    /// (regular files and directories only, made by Rosey).
    pub fn write_tree(&self, into: &Path) -> Result<()> {
        create_private_dir(into)?;
        let dir = Dir::open_ambient_dir(into, ambient_authority())
            .with_context(|| format!("could not open {}", into.display()))?;
        for (file, bytes) in self.blobs(&self.files)? {
            if let Some((parent, _)) = file.path.rsplit_once('/') {
                dir.create_dir_all(parent)
                    .with_context(|| format!("could not create {parent}"))?;
            }
            let mut options = cap_std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            let mut out = dir
                .open_with(&file.path, &options)
                .with_context(|| format!("could not write {}", file.path))?;
            out.write_all(&bytes)?;
            #[cfg(unix)]
            {
                use cap_std::fs::PermissionsExt;
                let mode = if file.executable { 0o755 } else { 0o644 };
                out.set_permissions(cap_std::fs::Permissions::from_mode(mode))?;
            }
        }
        Ok(())
    }

    /// The contents of `files`, read with one `git cat-file --batch`.
    fn blobs<'a>(&self, files: &'a [RepoFile]) -> Result<Vec<(&'a RepoFile, Vec<u8>)>> {
        let mut git = self.git(&["cat-file", "--batch"], Some(&self.repo));
        let mut child = git
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("could not run git")?;
        let mut stdin = child.stdin.take().context("git has no stdin")?;
        let oids: String = files.iter().map(|f| format!("{}\n", f.oid)).collect();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(oids.as_bytes());
        });
        let read = child
            .stdout
            .take()
            .context("git has no stdout")
            .and_then(|stdout| read_batch(BufReader::new(stdout), files));
        if read.is_err() {
            // It may be blocked writing what is no longer read.
            let _ = child.kill();
        }
        let _ = child.wait();
        let _ = writer.join();
        read
    }
}

/// Reads `git cat-file --batch` output for `files`, in order.
fn read_batch(mut reader: impl BufRead, files: &[RepoFile]) -> Result<Vec<(&RepoFile, Vec<u8>)>> {
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let fields: Vec<&str> = header.split_whitespace().collect();
        let ["blob", size] = fields.get(1..).unwrap_or_default() else {
            bail!("git could not read {} ({})", file.path, header.trim());
        };
        let size: u64 = size.parse().context("unexpected cat-file header")?;
        if size != file.size {
            bail!("{} changed size while it was read", file.path);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut reader).take(size).read_to_end(&mut bytes)?;
        let mut newline = [0u8; 1];
        reader.read_exact(&mut newline)?;
        out.push((file, bytes));
    }
    Ok(out)
}

/// Refuses a path a hostile repository could use to escape or confuse.
fn check_path(path: &str) -> Result<()> {
    let bad =
        |why: &str| anyhow::anyhow!("the repository has a file with a bad path {path:?}: {why}");
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return Err(bad("empty or too long"));
    }
    if path.starts_with('/') || path.contains('\\') || path.chars().any(char::is_control) {
        return Err(bad("absolute, or with a backslash or a control character"));
    }
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad("an empty, . or .. component"));
        }
        if part.eq_ignore_ascii_case(".git") {
            return Err(bad("a .git component"));
        }
    }
    Ok(())
}

impl Git {
    /// Runs the command to completion, killing it at `deadline` or when
    /// the work directory grows past `max_bytes`.
    fn run(mut self, deadline: Instant, max_bytes: Option<u64>) -> Result<()> {
        self.spawn_and_wait(deadline, max_bytes, false).map(|_| ())
    }

    /// Runs the command and returns its standard output.
    fn output(mut self, deadline: Instant) -> Result<Vec<u8>> {
        self.watch = None;
        self.spawn_and_wait(deadline, None, true)
    }

    fn spawn_and_wait(
        &mut self,
        deadline: Instant,
        max_bytes: Option<u64>,
        capture: bool,
    ) -> Result<Vec<u8>> {
        let stderr = std::fs::File::create(&self.stderr_file)
            .context("could not create a file for git's messages")?;
        let stdout_file = self.stderr_file.with_extension("stdout");
        let stdout = if capture {
            Stdio::from(
                std::fs::File::create(&stdout_file)
                    .context("could not create a file for git's output")?,
            )
        } else {
            Stdio::null()
        };
        let mut child = self
            .command
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .context("could not run git")?;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                kill(&mut child);
                bail!("git took longer than allowed (git.timeout in rosey.yaml) and was stopped");
            }
            if let (Some(max), Some(dir)) = (max_bytes, &self.watch)
                && disk_usage(dir) > max
            {
                kill(&mut child);
                bail!(
                    "the repository is larger than the {} MiB allowed (git.max_size in \
                     rosey.yaml); the fetch was stopped",
                    max >> 20
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            let mut message = String::new();
            if let Ok(file) = std::fs::File::open(&self.stderr_file) {
                let _ = file.take(MAX_STDERR_BYTES).read_to_string(&mut message);
            }
            let message: String = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            bail!(
                "git failed{}",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", crate::capabilities::log::sanitize(&message))
                }
            );
        }
        if capture {
            return std::fs::read(&stdout_file).context("could not read git's output");
        }
        Ok(Vec::new())
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "./a",
            "a\\b",
            ".git/config",
            "sub/.GIT/hooks",
            "a\u{7}b",
        ] {
            assert!(check_path(bad).is_err(), "accepted {bad:?}");
        }
        for good in [
            "manifest.yaml",
            "src/lib.rs",
            ".gitignore",
            "a.git/b",
            "dir/.github/x",
        ] {
            check_path(good).unwrap();
        }
    }
}
