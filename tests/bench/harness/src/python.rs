//! The Python peer's processes (python/plugin.py on asyncio and nats-py).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How to run the Python peer.
#[derive(Clone)]
pub struct Python {
    /// The interpreter (with nats-py installed).
    pub interpreter: PathBuf,
    /// python/plugin.py.
    pub script: PathBuf,
}

/// A running Python plugin process; killed when dropped.
pub struct PythonPlugin {
    /// The process.
    pub child: Child,
}

impl Python {
    /// Start `plugin.py <args>` and wait for its "ready".
    pub async fn start(&self, args: &[&str]) -> Result<PythonPlugin> {
        let mut child = Command::new(&self.interpreter)
            .arg(&self.script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("could not run {}", self.interpreter.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await?;
        if line.trim() != "ready" {
            bail!("the Python peer did not start (said {line:?}); is nats-py installed?");
        }
        Ok(PythonPlugin { child })
    }
}

impl PythonPlugin {
    /// Proportional set size (shared pages split among their users), in bytes.
    pub fn pss(&self) -> Result<u64> {
        let pid = self.child.id().context("the process has exited")?;
        pss(&PathBuf::from(format!("/proc/{pid}/smaps_rollup")))
    }
}

fn pss(path: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(path)?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Pss:") {
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse()?;
            return Ok(kib * 1024);
        }
    }
    bail!("no Pss in {}", path.display())
}

/// This process's resident set, in bytes.
pub fn own_rss() -> Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("bad /proc/self/statm")?
        .parse()?;
    Ok(pages * 4096)
}
