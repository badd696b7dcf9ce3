//! `rosey logs [host|nats|PLUGIN]`: the host's log, the managed
//! nats-server's, or one plugin's own (rotated) log file.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use rosey_host::logfile;
use rosey_host::package::{HumanDuration, PluginName};

use super::Context;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey logs                     the host's log (every plugin's lines too, tagged plugin=NAME)
  rosey logs quote-bot -f        one plugin's log, then follow it
  rosey logs nats --since 10m    the managed nats-server's last ten minutes")]
pub struct Logs {
    /// Whose log: `host`, `nats`, or a plugin's name.
    #[arg(default_value = "host")]
    target: String,
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    follow: bool,
    /// Only lines from the last DURATION (e.g. 30s, 10m, 2h, 1d), rotated
    /// files included.
    #[arg(long, value_name = "DURATION")]
    since: Option<HumanDuration>,
    /// How many lines of the end to show first.
    #[arg(short = 'n', long, default_value_t = 50)]
    lines: usize,
}

impl Logs {
    fn path(&self, ctx: &Context) -> anyhow::Result<PathBuf> {
        let path = match self.target.as_str() {
            "host" => ctx.home.host_log(),
            "nats" => ctx.home.nats_log(),
            plugin => {
                let name: PluginName = plugin.parse().map_err(|e| {
                    anyhow::anyhow!("{e}\n(`rosey logs` takes `host`, `nats` or a plugin's name)")
                })?;
                ctx.home.plugin_log(&name)
            }
        };
        if !path.is_file() {
            let why = match self.target.as_str() {
                "host" => "the host writes it when started in the background",
                "nats" => "a managed nats-server writes it; with --nats-url there is none",
                _ => "a plugin's log is written once it has run on a host",
            };
            bail!("no log at {} ({why})", path.display());
        }
        Ok(path)
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let path = self.path(ctx)?;
        let cutoff = self
            .since
            .map(|d| chrono::Utc::now() - chrono::Duration::from_std(d.0).unwrap_or_default());
        // With --since, the rotated files may hold wanted lines too.
        let files = if cutoff.is_some() {
            logfile::all_files(&path)
        } else {
            vec![path.clone()]
        };
        let mut tail = std::collections::VecDeque::with_capacity(self.lines);
        // A line without a timestamp (a continuation) goes with the last one.
        let mut keeping = cutoff.is_none();
        let mut position = 0;
        for file in &files {
            let file =
                File::open(file).with_context(|| format!("could not read {}", file.display()))?;
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            while reader.read_line(&mut line)? > 0 {
                if let Some(cutoff) = cutoff
                    && let Some(at) = timestamp(&line)
                {
                    keeping = at >= cutoff;
                }
                if keeping {
                    if tail.len() == self.lines {
                        tail.pop_front();
                    }
                    tail.push_back(std::mem::take(&mut line));
                }
                line.clear();
            }
            position = reader.stream_position()?;
        }
        for l in tail {
            print!("{l}");
        }
        if !self.follow {
            return Ok(());
        }
        let mut line = String::new();
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
                print!("{line}");
            }
            position = reader.stream_position()?;
        }
    }
}

/// The time a log line starts with, if any: Rosey's
/// `2026-11-22T05:20:23.123Z ...`, or nats-server's
/// `[pid] 2026/11/22 05:20:23.123456 [INF] ...` (in local time).
fn timestamp(line: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if first.starts_with('[') {
        let when = format!("{} {}", words.next()?, words.next()?);
        let naive = chrono::NaiveDateTime::parse_from_str(&when, "%Y/%m/%d %H:%M:%S%.f").ok()?;
        return naive
            .and_local_timezone(chrono::Local)
            .earliest()
            .map(|t| t.with_timezone(&chrono::Utc));
    }
    chrono::DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::timestamp;

    #[test]
    fn log_lines_are_dated_by_their_first_word() {
        let host = "2026-11-22T03:22:10.123456Z  INFO added quote #1 plugin=quote-bot";
        let plugin = "2026-11-22T03:22:10.123Z  INFO added quote #1";
        let expected = chrono::DateTime::parse_from_rfc3339("2026-11-22T03:22:10Z").unwrap();
        for line in [host, plugin] {
            assert_eq!(timestamp(line).unwrap().timestamp(), expected.timestamp());
        }
        let nats = "[18208] 2026/11/22 03:22:10.414052 [INF] Server is ready";
        let local = chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(3, 22, 10)
            .unwrap()
            .and_local_timezone(chrono::Local)
            .unwrap();
        assert_eq!(timestamp(nats).unwrap().timestamp(), local.timestamp());
        assert!(timestamp("  caused by: x").is_none());
        assert!(timestamp("").is_none());
    }
}
