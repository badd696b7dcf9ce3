//! A plugin's stdout and stderr: captured line by line into its log.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tracing::Level;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::log::{MAX_LINE_CHARS, PluginLog};

/// A WASI output stream that turns each written line into a log line.
pub struct PluginOutput {
    log: Arc<PluginLog>,
    level: Level,
}

impl PluginOutput {
    /// stdout, logged at info.
    pub fn stdout(log: Arc<PluginLog>) -> Self {
        Self {
            log,
            level: Level::INFO,
        }
    }

    /// stderr, logged at warn.
    pub fn stderr(log: Arc<PluginLog>) -> Self {
        Self {
            log,
            level: Level::WARN,
        }
    }
}

impl IsTerminal for PluginOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PluginOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            log: Arc::clone(&self.log),
            level: self.level,
            pending: Vec::new(),
        })
    }
}

struct LineWriter {
    log: Arc<PluginLog>,
    level: Level,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        self.log.log(self.level, text.trim_end_matches('\r'));
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        for chunk in data.split_inclusive(|b| *b == b'\n') {
            if let Some(line) = chunk.strip_suffix(b"\n") {
                let mut full = std::mem::take(&mut self.pending);
                full.extend_from_slice(line);
                self.emit(&full);
            } else {
                self.pending.extend_from_slice(chunk);
                // A writer that never sends a newline still cannot make the
                // host buffer without bound.
                if self.pending.len() > MAX_LINE_CHARS * 4 {
                    let full = std::mem::take(&mut self.pending);
                    self.emit(&full);
                }
            }
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
        }
        Poll::Ready(Ok(()))
    }
}
