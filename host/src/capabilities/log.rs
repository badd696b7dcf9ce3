//! The `log` import, and the plugin log every other part writes to.
//!
//! Lines are sanitised (control characters and terminal escapes are shown
//! escaped, never interpreted), capped in length, and capped in rate: a
//! plugin cannot flood the operator's terminal or disk.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::Level;

use crate::runtime::bindings::rosey::plugin::log::{Host, Level as WitLevel};
use crate::runtime::state::PluginState;
use crate::runtime::stats::PluginStats;

/// The longest line kept; longer lines are truncated.
pub const MAX_LINE_CHARS: usize = 2048;
/// Lines per second a plugin may log; the rest are counted and dropped.
pub const MAX_LINES_PER_SECOND: u32 = 200;

/// A plugin's log: a sanitising, rate-capped front for `tracing`.
#[derive(Debug)]
pub struct PluginLog {
    plugin: String,
    stats: Arc<PluginStats>,
    budget: Mutex<Budget>,
    /// The plugin's own log file, once the host has attached one.
    file: Mutex<Option<crate::logfile::LogFile>>,
    /// Lines kept in memory as `LEVEL message`, once [`capture`](Self::capture)
    /// was called (`rosey plugin test` checks them).
    captured: Mutex<Option<Vec<String>>>,
}

#[derive(Debug)]
struct Budget {
    window: Instant,
    lines: u32,
    dropped: u64,
}

impl PluginLog {
    /// The log of plugin `plugin`, counting lines in `stats`.
    pub fn new(plugin: &str, stats: Arc<PluginStats>) -> Self {
        Self {
            plugin: plugin.to_owned(),
            stats,
            budget: Mutex::new(Budget {
                window: Instant::now(),
                lines: 0,
                dropped: 0,
            }),
            file: Mutex::new(None),
            captured: Mutex::new(None),
        }
    }

    /// Keep every line from now on, for [`take_captured`](Self::take_captured).
    pub fn capture(&self) {
        if let Ok(mut captured) = self.captured.lock() {
            captured.get_or_insert_with(Vec::new);
        }
    }

    /// The lines kept since the last call, oldest first.
    pub fn take_captured(&self) -> Vec<String> {
        self.captured
            .lock()
            .ok()
            .and_then(|mut captured| captured.as_mut().map(std::mem::take))
            .unwrap_or_default()
    }

    /// Also write every line to `file` (the host attaches
    /// `logs/plugins/<name>.log`).
    pub fn attach_file(&self, file: crate::logfile::LogFile) {
        if let Ok(mut slot) = self.file.lock() {
            *slot = Some(file);
        }
    }

    /// Write `message` at `level`, if the plugin's budget allows.
    pub fn log(&self, level: Level, message: &str) {
        let Ok(mut budget) = self.budget.lock() else {
            return;
        };
        if budget.window.elapsed() >= Duration::from_secs(1) {
            if budget.dropped > 0 {
                let dropped = budget.dropped;
                self.emit(
                    Level::WARN,
                    &format!("{dropped} log lines dropped (over {MAX_LINES_PER_SECOND} lines/s)"),
                );
            }
            *budget = Budget {
                window: Instant::now(),
                lines: 0,
                dropped: 0,
            };
        }
        if budget.lines >= MAX_LINES_PER_SECOND {
            budget.dropped += 1;
            self.stats.bump_log_dropped();
            return;
        }
        budget.lines += 1;
        self.stats.bump_log_line();
        drop(budget);
        self.emit(level, &sanitize(message));
    }

    /// Log at info.
    pub fn info(&self, message: &str) {
        self.log(Level::INFO, message);
    }

    /// Log at warn.
    pub fn warn(&self, message: &str) {
        self.log(Level::WARN, message);
    }

    /// Log at error.
    pub fn error(&self, message: &str) {
        self.log(Level::ERROR, message);
    }

    fn emit(&self, level: Level, line: &str) {
        // Displayed (not debug-quoted) so every log line reads `plugin=<name>`,
        // which is what `rosey logs --plugin` looks for.
        let plugin = &self.plugin;
        if let Ok(mut file) = self.file.lock()
            && let Some(file) = file.as_mut()
        {
            let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
            file.write_line(&format!("{at} {level:>5} {line}"));
        }
        if let Ok(mut captured) = self.captured.lock()
            && let Some(captured) = captured.as_mut()
        {
            captured.push(format!("{level} {line}"));
        }
        match level {
            Level::TRACE => tracing::trace!(target: "rosey::plugin", plugin = %plugin, "{line}"),
            Level::DEBUG => tracing::debug!(target: "rosey::plugin", plugin = %plugin, "{line}"),
            Level::INFO => tracing::info!(target: "rosey::plugin", plugin = %plugin, "{line}"),
            Level::WARN => tracing::warn!(target: "rosey::plugin", plugin = %plugin, "{line}"),
            Level::ERROR => tracing::error!(target: "rosey::plugin", plugin = %plugin, "{line}"),
        }
    }
}

/// Make `message` safe to print on one line of a terminal: control
/// characters (including ESC, so no terminal escapes) become visible escapes,
/// and the result is at most [`MAX_LINE_CHARS`] characters.
pub fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_LINE_CHARS));
    for (count, c) in message.chars().enumerate() {
        if count >= MAX_LINE_CHARS {
            out.push_str("…[truncated]");
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202E}') => {
                out.push_str(&c.escape_unicode().to_string())
            }
            c => out.push(c),
        }
    }
    out
}

impl Host for PluginState {
    async fn log(&mut self, level: WitLevel, message: String) -> wasmtime::Result<()> {
        let level = match level {
            WitLevel::Trace => Level::TRACE,
            WitLevel::Debug => Level::DEBUG,
            WitLevel::Info => Level::INFO,
            WitLevel::Warn => Level::WARN,
            WitLevel::Error => Level::ERROR,
        };
        self.ctx.log.log(level, &message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_neutralised() {
        let line = sanitize("red \x1b[31mALERT\x1b[0m\nforged line\u{202E}");
        assert!(!line.contains('\x1b'));
        assert!(!line.contains('\n'));
        assert!(line.contains("\\u{1b}[31m"));
        assert!(line.contains("\\nforged line"));
    }

    #[test]
    fn long_lines_are_truncated() {
        let line = sanitize(&"x".repeat(10_000));
        assert!(line.chars().count() <= MAX_LINE_CHARS + 20);
        assert!(line.ends_with("[truncated]"));
    }

    #[test]
    fn the_rate_is_capped() {
        let stats = Arc::new(PluginStats::default());
        let log = PluginLog::new("flood", Arc::clone(&stats));
        for _ in 0..(MAX_LINES_PER_SECOND + 50) {
            log.info("spam");
        }
        let budget = log.budget.lock().unwrap();
        assert_eq!(budget.lines, MAX_LINES_PER_SECOND);
        assert_eq!(budget.dropped, 50);
        let counted = stats.snapshot();
        assert_eq!(
            (counted.log_lines, counted.log_dropped),
            (u64::from(MAX_LINES_PER_SECOND), 50)
        );
    }
}
