//! `rosey logs`: the background host's log (plugins log into it, tagged
//! with `plugin=<name>`).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::Context;

#[derive(Debug, Args)]
pub struct Logs {
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    follow: bool,
    /// Only lines that mention this plugin.
    #[arg(long)]
    plugin: Option<String>,
    /// How many lines of the end to show first.
    #[arg(short = 'n', long, default_value_t = 50)]
    lines: usize,
}

impl Logs {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let path = ctx.home.host_log();
        let file = File::open(&path).with_context(|| {
            format!(
                "no log at {} (the host writes it when started in the background)",
                path.display()
            )
        })?;
        let wanted = self.plugin.map(|p| format!("plugin={p}"));
        let keep = |line: &str| wanted.as_ref().is_none_or(|w| mentions(line, w));
        let mut reader = BufReader::new(file);
        let mut tail = std::collections::VecDeque::with_capacity(self.lines);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            if keep(&line) {
                if tail.len() == self.lines {
                    tail.pop_front();
                }
                tail.push_back(std::mem::take(&mut line));
            }
            line.clear();
        }
        for l in tail {
            print!("{l}");
        }
        if !self.follow {
            return Ok(());
        }
        let mut position = reader.stream_position()?;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let mut file = File::open(&path)?;
            let len = file.metadata()?.len();
            if len < position {
                position = 0; // rotated or truncated
            }
            file.seek(SeekFrom::Start(position))?;
            let mut reader = BufReader::new(file);
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    break;
                }
                if keep(&line) {
                    print!("{line}");
                }
            }
            position = reader.stream_position()?;
        }
    }
}

/// Whether `line` has the field `field` (`plugin=echo`) as a whole word, so
/// `plugin=echo` does not match `plugin=echo-bot`.
fn mentions(line: &str, field: &str) -> bool {
    line.match_indices(field).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + field.len()..].chars().next();
        before.is_none_or(char::is_whitespace) && after.is_none_or(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn plugin_filter_matches_whole_names() {
        let line = "2026-11-22T03:22:10Z  INFO added quote #1 plugin=quote-bot";
        assert!(mentions(line, "plugin=quote-bot"));
        assert!(!mentions(line, "plugin=quote"));
        assert!(mentions("x plugin=echo version=1", "plugin=echo"));
        assert!(!mentions("x plugin=echo-bot", "plugin=echo"));
    }
}
