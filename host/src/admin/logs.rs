//! Logs for the admin API: the end of the host's, NATS's or a plugin's log
//! (as `rosey logs` reads them) and a live follow as server-sent events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event;
use futures::Stream;

use super::error::ApiError;
use super::{Admin, auth::Caller};
use crate::home::RoseyHome;
use crate::package::PluginName;

/// The most lines one request returns.
pub const MAX_LINES: usize = 2000;
/// How much of a log's end is read to find its last lines.
const TAIL_BYTES: u64 = 1 << 20;
/// How often a followed log is looked at.
const POLL: Duration = Duration::from_millis(250);
/// How long one line sent may be (longer ones are cut).
const MAX_LINE_CHARS: usize = 4096;

/// The log file of `target`: `host`, `nats` or a plugin's name.
pub fn path(home: &RoseyHome, target: &str) -> Result<PathBuf, ApiError> {
    let path = match target {
        "host" => home.host_log(),
        "nats" => home.nats_log(),
        plugin => {
            let name: PluginName = plugin.parse().map_err(|e| {
                ApiError::not_found(format!(
                    "{e} (a log is `host`, `nats` or an installed plugin's name)"
                ))
            })?;
            home.plugin_log(&name)
        }
    };
    if !path.is_file() {
        let why = match target {
            "host" => "the host writes it when started in the background with `rosey start`",
            "nats" => "a managed nats-server writes it; an external server has none here",
            _ => "a plugin's log is written once it has run on this host",
        };
        return Err(ApiError::not_found(format!(
            "there is no {target} log yet ({why})"
        )));
    }
    Ok(path)
}

/// The last `lines` lines of the log at `path`, and the offset its end was at.
pub fn tail(path: &Path, lines: usize) -> std::io::Result<(Vec<String>, u64)> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(len - start).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().collect();
    if start > 0 && !all.is_empty() {
        all.remove(0); // it started mid-line
    }
    let keep = all.len().saturating_sub(lines);
    Ok((all[keep..].iter().map(|l| clip(l)).collect(), len))
}

fn clip(line: &str) -> String {
    line.chars().take(MAX_LINE_CHARS).collect()
}

struct Follow {
    admin: Arc<Admin>,
    caller: Caller,
    path: PathBuf,
    position: u64,
    queued: VecDeque<String>,
    polls: u32,
}

impl Follow {
    /// New complete lines since the last look (from the start, if the file
    /// was rotated or truncated).
    fn read_new(&mut self) -> std::io::Result<()> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.position {
            self.position = 0;
        }
        if len == self.position {
            return Ok(());
        }
        file.seek(SeekFrom::Start(self.position))?;
        let mut reader = BufReader::new(file.take(TAIL_BYTES));
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 || !line.ends_with('\n') {
                break; // a line still being written waits for its end
            }
            self.position += n as u64;
            self.queued
                .push_back(clip(line.trim_end_matches(['\n', '\r'])));
        }
        Ok(())
    }
}

/// The lines appended to the log at `path` after `from`, as server-sent
/// events (`event: line`), until the caller's session ends.
pub fn follow(
    admin: Arc<Admin>,
    caller: Caller,
    path: PathBuf,
    from: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = Follow {
        admin,
        caller,
        path,
        position: from,
        queued: VecDeque::new(),
        polls: 0,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(line) = state.queued.pop_front() {
                let event = Event::default().event("line").data(line);
                return Some((Ok(event), state));
            }
            tokio::time::sleep(POLL).await;
            state.polls = state.polls.wrapping_add(1);
            // A logged-out or rotated-away session stops receiving.
            if state.polls % 20 == 0 && !state.admin.auth.still_valid(&state.caller) {
                return None;
            }
            if let Err(e) = state.read_new() {
                let event = Event::default()
                    .event("error")
                    .data(format!("could not read the log: {e}"));
                return Some((Ok(event), state));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let (lines, end) = tail(&path, 3).unwrap();
        assert_eq!(lines, ["line 97", "line 98", "line 99"]);
        assert_eq!(end, text.len() as u64);
        assert_eq!(tail(&path, 1000).unwrap().0.len(), 100);
    }
}
