//! When to alert: once when a reading crosses a threshold, not again until
//! it has come back by a margin (so a wind hovering around the threshold
//! does not alert at every refresh).

use serde::{Deserialize, Serialize};

/// How far back a reading must come before an alert can fire again.
pub const WIND_MARGIN_KMH: f64 = 5.0;
/// The same for temperatures.
pub const TEMPERATURE_MARGIN_C: f64 = 1.0;

/// The operator's thresholds; `None` turns one off.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    /// Alert when the wind is stronger than this.
    pub wind_above_kmh: Option<f64>,
    /// Alert when it is colder than this.
    pub temperature_below_c: Option<f64>,
    /// Alert when it is hotter than this.
    pub temperature_above_c: Option<f64>,
}

/// Which alerts are in force for one location (stored in kv).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    /// Wind above the threshold.
    #[serde(default)]
    pub wind: bool,
    /// Temperature below the threshold.
    #[serde(default)]
    pub cold: bool,
    /// Temperature above the threshold.
    #[serde(default)]
    pub heat: bool,
}

/// The kinds of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Wind above.
    Wind,
    /// Temperature below.
    Cold,
    /// Temperature above.
    Heat,
}

impl Active {
    /// Whether `kind` is in force.
    pub fn get(&self, kind: Kind) -> bool {
        match kind {
            Kind::Wind => self.wind,
            Kind::Cold => self.cold,
            Kind::Heat => self.heat,
        }
    }

    /// Sets whether `kind` is in force.
    pub fn set(&mut self, kind: Kind, on: bool) {
        match kind {
            Kind::Wind => self.wind = on,
            Kind::Cold => self.cold = on,
            Kind::Heat => self.heat = on,
        }
    }
}

/// A threshold crossed, one way or the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    /// Which threshold.
    pub kind: Kind,
    /// True: now beyond it (alert); false: back within it.
    pub raised: bool,
    /// What happened, e.g. `wind 62.3 km/h, above 50 km/h`.
    pub what: String,
}

/// The alerts in force after a reading of `temperature_c` and `wind_kmh`,
/// given those in force before, and the crossings on the way.
pub fn evaluate(
    thresholds: &Thresholds,
    before: Active,
    temperature_c: f64,
    wind_kmh: f64,
) -> (Active, Vec<Crossing>) {
    let mut after = Active::default();
    let mut crossings = Vec::new();
    let checks = [
        (
            Kind::Wind,
            thresholds.wind_above_kmh,
            wind_kmh,
            1.0,
            WIND_MARGIN_KMH,
            "wind",
            "km/h",
        ),
        (
            Kind::Cold,
            thresholds.temperature_below_c,
            temperature_c,
            -1.0,
            TEMPERATURE_MARGIN_C,
            "temperature",
            "°C",
        ),
        (
            Kind::Heat,
            thresholds.temperature_above_c,
            temperature_c,
            1.0,
            TEMPERATURE_MARGIN_C,
            "temperature",
            "°C",
        ),
    ];
    for (kind, threshold, value, sign, margin, label, unit) in checks {
        let Some(threshold) = threshold else {
            continue;
        };
        // `sign` turns "below" into "above" on negated values.
        let beyond = sign * value > sign * threshold;
        let back = sign * value <= sign * threshold - margin;
        let was = before.get(kind);
        let now = if was { !back } else { beyond };
        after.set(kind, now);
        if now != was {
            let side = if sign > 0.0 { "above" } else { "below" };
            let what = if now {
                format!("{label} {value:.1} {unit}, {side} {threshold} {unit}")
            } else {
                format!("{label} {value:.1} {unit}, back from {side} {threshold} {unit}")
            };
            crossings.push(Crossing {
                kind,
                raised: now,
                what,
            });
        }
    }
    (after, crossings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDY: Thresholds = Thresholds {
        wind_above_kmh: Some(50.0),
        temperature_below_c: Some(-10.0),
        temperature_above_c: Some(35.0),
    };

    /// Runs readings of (temperature, wind) through `evaluate`; returns the
    /// crossings' texts, `+` raised and `-` cleared.
    fn run(readings: &[(f64, f64)]) -> Vec<String> {
        let mut active = Active::default();
        let mut out = Vec::new();
        for &(temperature, wind) in readings {
            let (after, crossings) = evaluate(&WINDY, active, temperature, wind);
            active = after;
            for c in crossings {
                out.push(format!("{}{}", if c.raised { '+' } else { '-' }, c.what));
            }
        }
        out
    }

    #[test]
    fn once_per_crossing() {
        assert_eq!(
            run(&[(10.0, 20.0), (10.0, 62.34), (10.0, 70.0), (10.0, 55.0)]),
            ["+wind 62.3 km/h, above 50 km/h"]
        );
    }

    #[test]
    fn clears_only_past_the_margin_then_can_fire_again() {
        assert_eq!(
            run(&[
                (10.0, 51.0),
                (10.0, 46.0),
                (10.0, 52.0),
                (10.0, 45.0),
                (10.0, 51.0)
            ]),
            [
                "+wind 51.0 km/h, above 50 km/h",
                "-wind 45.0 km/h, back from above 50 km/h",
                "+wind 51.0 km/h, above 50 km/h",
            ]
        );
    }

    #[test]
    fn cold_and_heat() {
        assert_eq!(
            run(&[(-12.5, 0.0), (-9.5, 0.0), (-8.9, 0.0), (36.0, 0.0)]),
            [
                "+temperature -12.5 °C, below -10 °C",
                "-temperature -8.9 °C, back from below -10 °C",
                "+temperature 36.0 °C, above 35 °C",
            ]
        );
    }

    #[test]
    fn exactly_at_the_threshold_is_not_beyond_it() {
        assert!(run(&[(35.0, 50.0), (-10.0, 50.0)]).is_empty());
    }

    #[test]
    fn a_threshold_turned_off_clears_its_state_silently() {
        let before = Active {
            wind: true,
            ..Active::default()
        };
        let off = Thresholds::default();
        assert_eq!(
            evaluate(&off, before, 10.0, 90.0),
            (Active::default(), vec![])
        );
    }
}
