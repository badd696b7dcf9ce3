//! The message-rate history the dashboard charts: every few seconds the
//! host's totals of messages and commands delivered to plugins are sampled,
//! and the last few minutes kept.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// How often the totals are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// How many samples are kept (five minutes).
const KEEP: usize = 150;

/// One point of the chart: events per second over the interval ending at
/// `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatePoint {
    /// The end of the interval (ms since the Unix epoch).
    pub at: i64,
    /// Messages delivered to `on-message` per second.
    pub messages: f64,
    /// Commands delivered to `on-command` per second.
    pub commands: f64,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: i64,
    messages: u64,
    commands: u64,
}

/// The last samples.
#[derive(Debug, Default)]
pub struct RateHistory {
    samples: Mutex<VecDeque<Sample>>,
}

impl RateHistory {
    /// Record the totals at `at` (ms).
    pub fn record(&self, at: i64, messages: u64, commands: u64) {
        if let Ok(mut samples) = self.samples.lock() {
            if samples.len() == KEEP {
                samples.pop_front();
            }
            samples.push_back(Sample {
                at,
                messages,
                commands,
            });
        }
    }

    /// The rate between each pair of samples. Totals that went down (a
    /// plugin restarted or was removed, and its counters with it) count as
    /// no events, not as negative ones.
    pub fn points(&self) -> Vec<RatePoint> {
        let Ok(samples) = self.samples.lock() else {
            return Vec::new();
        };
        samples
            .iter()
            .zip(samples.iter().skip(1))
            .filter(|(a, b)| b.at > a.at)
            .map(|(a, b)| {
                let seconds = (b.at - a.at) as f64 / 1000.0;
                RatePoint {
                    at: b.at,
                    messages: b.messages.saturating_sub(a.messages) as f64 / seconds,
                    commands: b.commands.saturating_sub(a.commands) as f64 / seconds,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_differences_and_never_go_negative() {
        let history = RateHistory::default();
        history.record(0, 0, 0);
        history.record(2000, 10, 4);
        history.record(4000, 3, 8);
        let points = history.points();
        assert_eq!(points.len(), 2);
        assert_eq!((points[0].messages, points[0].commands), (5.0, 2.0));
        assert_eq!((points[1].messages, points[1].commands), (0.0, 2.0));
        for i in 0..200 {
            history.record(6000 + i * 2000, 0, 0);
        }
        assert_eq!(history.points().len(), KEEP - 1, "bounded");
    }
}
