//! Samples, ratios against peers, the table and `bench-results.json`.

use serde::Serialize;

/// The median and spread of repeated runs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Sample {
    /// The median.
    pub median: f64,
    /// The smallest run.
    pub min: f64,
    /// The largest run.
    pub max: f64,
    /// How many runs.
    pub runs: usize,
}

impl Sample {
    /// The sample of `values` (at least one).
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Self {
            median,
            min: values[0],
            max: values[n - 1],
            runs: n,
        }
    }

    /// The spread as ± percent of the median.
    pub fn spread_pct(&self) -> f64 {
        if self.median == 0.0 {
            return 0.0;
        }
        (self.max - self.min) / 2.0 / self.median * 100.0
    }
}

/// Which way is better for a figure.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Times, bytes.
    Lower,
    /// Throughput.
    Higher,
}

/// What Rosey must achieve against the peer.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Target {
    /// At most this many times worse than the peer.
    AtMost(f64),
    /// At least this many times better than the peer.
    AtLeastBetter(f64),
    /// At most this much above the peer, in the figure's unit.
    PlusAtMost(f64),
    /// No target: shown for context.
    Report,
}

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// S1..S9.
    pub scenario: &'static str,
    /// What was measured.
    pub what: String,
    /// The unit of both figures.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// Rosey's figure.
    pub rosey: Sample,
    /// The peer's name.
    pub peer: String,
    /// The peer's figure.
    pub peer_value: Sample,
    /// The target.
    pub target: Target,
    /// How many times better Rosey is than the peer (above 1: better;
    /// below 1: worse), medians against medians.
    pub advantage: f64,
    /// Whether the target is met (None without a target).
    pub pass: Option<bool>,
}

impl Row {
    /// A row, with its ratio and verdict worked out.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: &'static str,
        what: impl Into<String>,
        unit: &'static str,
        better: Better,
        rosey: Sample,
        peer: impl Into<String>,
        peer_value: Sample,
        target: Target,
    ) -> Self {
        let (r, p) = (
            rosey.median.max(f64::MIN_POSITIVE),
            peer_value.median.max(f64::MIN_POSITIVE),
        );
        let advantage = match better {
            Better::Lower => p / r,
            Better::Higher => r / p,
        };
        let pass = match target {
            Target::AtMost(x) => Some(advantage >= 1.0 / x),
            Target::AtLeastBetter(x) => Some(advantage >= x),
            Target::PlusAtMost(d) => Some(rosey.median - peer_value.median <= d),
            Target::Report => None,
        };
        Self {
            scenario,
            what: what.into(),
            unit,
            better,
            rosey,
            peer: peer.into(),
            peer_value,
            target,
            advantage,
            pass,
        }
    }
}

fn figure(value: f64) -> String {
    if value >= 100.0 {
        format!("{:.0}", value)
    } else if value >= 10.0 {
        format!("{:.1}", value)
    } else {
        format!("{:.2}", value)
    }
}

fn ratio(row: &Row) -> String {
    if row.advantage >= 1.0 {
        format!("{:.2}× better", row.advantage)
    } else {
        format!("{:.2}× worse", 1.0 / row.advantage)
    }
}

fn target(row: &Row) -> String {
    match row.target {
        Target::AtMost(x) => format!("≤ {x}× the peer"),
        Target::AtLeastBetter(x) => format!("≥ {x}× better"),
        Target::PlusAtMost(d) => format!("≤ peer + {} {}", figure(d), row.unit),
        Target::Report => "—".into(),
    }
}

/// The table, as Markdown (what docs/benchmarks.md shows).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| # | scenario | unit | Rosey (± spread) | peer | peer (± spread) | Rosey vs peer | target | result |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let verdict = match row.pass {
            Some(true) => "pass",
            Some(false) => "**miss**",
            None => "—",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} (±{:.0}%) | {} | {} (±{:.0}%) | {} | {} | {} |\n",
            row.scenario,
            row.what,
            row.unit,
            figure(row.rosey.median),
            row.rosey.spread_pct(),
            row.peer,
            figure(row.peer_value.median),
            row.peer_value.spread_pct(),
            ratio(row),
            target(row),
            verdict,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Sample::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max, s.runs), (2.0, 1.0, 3.0, 3));
        assert_eq!(s.spread_pct(), 50.0);
        assert_eq!(Sample::of(vec![1.0, 3.0]).median, 2.0);
    }

    #[test]
    fn verdicts_follow_the_target() {
        use Better::{Higher, Lower};
        use Target::{AtLeastBetter, AtMost, PlusAtMost, Report};
        // (better, Rosey, peer, target, verdict)
        let cases = [
            // 1.4× slower than the peer: meets ≤ 1.5×, misses ≤ 1.3×.
            (Lower, 140.0, 100.0, AtMost(1.5), Some(true)),
            (Lower, 140.0, 100.0, AtMost(1.3), Some(false)),
            // Throughput: 0.9× the floor meets "within 1.25×", 0.7× does not.
            (Higher, 90.0, 100.0, AtMost(1.25), Some(true)),
            (Higher, 70.0, 100.0, AtMost(1.25), Some(false)),
            // 5× faster misses "≥ 10× better", 12× meets it.
            (Lower, 10.0, 50.0, AtLeastBetter(10.0), Some(false)),
            (Lower, 10.0, 120.0, AtLeastBetter(10.0), Some(true)),
            (Higher, 300.0, 100.0, AtLeastBetter(3.0), Some(true)),
            // Latency over the floor: +5 µs meets "+10 µs", +11 does not.
            (Lower, 25.0, 20.0, PlusAtMost(10.0), Some(true)),
            (Lower, 31.0, 20.0, PlusAtMost(10.0), Some(false)),
            (Lower, 1.0, 2.0, Report, None),
        ];
        for (better, rosey, peer, target, verdict) in cases {
            let row = Row::new(
                "S0",
                "x",
                "ns",
                better,
                Sample::of(vec![rosey]),
                "peer",
                Sample::of(vec![peer]),
                target,
            );
            assert_eq!(row.pass, verdict, "{rosey} vs {peer}, {target:?}");
        }
    }
}
