//! Human-friendly quantities in manifests: [`ByteSize`] (`32MiB`),
//! [`HumanDuration`] (`1h30m`) and [`Rate`] (`20/s`).
//!
//! Each parses from the text an author writes, prints back in the shortest
//! exact form, and (de)serializes as that text.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::name::{ParseVisitor, quote_for_error};

/// A quantity that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {shown}: {problem}")]
pub struct UnitError {
    what: &'static str,
    shown: String,
    problem: String,
}

impl UnitError {
    fn new(what: &'static str, value: &str, problem: impl Into<String>) -> Self {
        Self {
            what,
            shown: quote_for_error(value),
            problem: problem.into(),
        }
    }
}

const SIZE_HINT: &str = "expected a number and a unit such as 32MiB";
const DURATION_HINT: &str = "expected a number and a unit such as 2s, 500ms or 1h30m";
const RATE_HINT: &str = "expected a count per time unit such as 20/s, 100/m or 20/10s";

/// Splits `"32MiB"` / `"32 MiB"` into `(32, "MiB")`; `None` if there is no
/// leading run of digits.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].parse().ok()?;
    Some((number, text[digits..].trim_start_matches(' ')))
}

// ---------------------------------------------------------------- ByteSize

/// A number of bytes, written `4096`, `512KiB`, `32MiB`, `1GiB` or `10MB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

const KIB: u64 = 1024;
const BINARY_UNITS: [(&str, u64); 4] = [
    ("TiB", KIB * KIB * KIB * KIB),
    ("GiB", KIB * KIB * KIB),
    ("MiB", KIB * KIB),
    ("KiB", KIB),
];
const DECIMAL_UNITS: [(&str, u64); 5] = [
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("kB", 1_000),
    ("KB", 1_000),
];

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |problem: &str| UnitError::new("size", text, problem);
        let (number, unit) = split_number(text.trim()).ok_or_else(|| fail(SIZE_HINT))?;
        let multiplier = match unit {
            "" | "B" => 1,
            _ => BINARY_UNITS
                .iter()
                .chain(DECIMAL_UNITS.iter())
                .find(|(name, _)| *name == unit)
                .map(|(_, factor)| *factor)
                .ok_or_else(|| fail(SIZE_HINT))?,
        };
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| fail("it is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 != 0 {
            for (unit, factor) in BINARY_UNITS {
                if self.0.is_multiple_of(factor) {
                    return write!(f, "{}{unit}", self.0 / factor);
                }
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 32MiB or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(bytes))
            }
            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<ByteSize, E> {
                u64::try_from(bytes)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size {bytes}: it is negative")))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ByteSize, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

// ----------------------------------------------------------- HumanDuration

/// A span of time, written `500ms`, `2s`, `15m`, `1h`, `1d` or compound
/// (`1h30m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

const DURATION_UNITS: [(&str, Duration); 7] = [
    ("d", Duration::from_secs(86_400)),
    ("h", Duration::from_secs(3_600)),
    ("m", Duration::from_secs(60)),
    ("s", Duration::from_secs(1)),
    ("ms", Duration::from_millis(1)),
    ("us", Duration::from_micros(1)),
    ("ns", Duration::from_nanos(1)),
];

impl HumanDuration {
    /// The span as a [`Duration`].
    pub fn duration(self) -> Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |problem: &str| UnitError::new("duration", text, problem);
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(fail(DURATION_HINT));
        }
        let mut total = Duration::ZERO;
        while !rest.is_empty() {
            let (number, after) = split_number(rest).ok_or_else(|| fail(DURATION_HINT))?;
            let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &after[..unit_len];
            let (_, step) = DURATION_UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .ok_or_else(|| fail(DURATION_HINT))?;
            let part = u32::try_from(number)
                .ok()
                .and_then(|n| step.checked_mul(n))
                .ok_or_else(|| fail("it is too long"))?;
            total = total
                .checked_add(part)
                .ok_or_else(|| fail("it is too long"))?;
            rest = after[unit_len..].trim_start_matches(' ');
        }
        Ok(HumanDuration(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        let mut nanos = self.0.as_nanos();
        for (unit, step) in DURATION_UNITS {
            let step = step.as_nanos();
            let count = nanos / step;
            if count > 0 {
                write!(f, "{count}{unit}")?;
                nanos %= step;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 2s or 1h30m")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "invalid duration {n}: add a unit, such as {n}s or {n}ms"
                )))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!("invalid duration {n}: {DURATION_HINT}")))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

// -------------------------------------------------------------------- Rate

/// At most `count` events per `per`, written `20/s`, `100/m`, `5/h`, `1/d`
/// or `20/10s`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    /// How many events the window allows.
    pub count: u32,
    /// The length of the window (never zero).
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |problem: &str| UnitError::new("rate", text, problem);
        let (count, per) = text.trim().split_once('/').ok_or_else(|| fail(RATE_HINT))?;
        let count: u32 = count.trim().parse().map_err(|_| fail(RATE_HINT))?;
        let per = per.trim();
        // `20/s` means `20/1s`.
        let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
            per.parse::<HumanDuration>().map_err(|_| fail(RATE_HINT))?.0
        } else {
            format!("1{per}")
                .parse::<HumanDuration>()
                .map_err(|_| fail(RATE_HINT))?
                .0
        };
        if per.is_zero() {
            return Err(fail("the time window must not be zero"));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let window = HumanDuration(self.per).to_string();
        match window.strip_prefix('1') {
            Some(unit) if unit.chars().all(|c| c.is_ascii_alphabetic()) => {
                write!(f, "{}/{unit}", self.count)
            }
            _ => write!(f, "{}/{window}", self.count),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor::<Rate>::new("rate such as 20/s,"))
    }
}

// ------------------------------------------------------------ JSON Schema

impl schemars::JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number of bytes: 4096, \"512KiB\", \"32MiB\", \"1GiB\" or \"10MB\"",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^ *[0-9]+ ?(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)? *$"}
            ]
        })
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A span of time: \"500ms\", \"2s\", \"15m\", \"1h\", \"1d\" or compound (\"1h30m\")",
            "pattern": "^ *([0-9]+ ?(d|h|ms|m|s|us|ns) *)+$"
        })
    }
}

impl schemars::JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "At most N events per window: \"20/s\", \"100/m\", \"5/h\", \"1/d\" or \"20/10s\"",
            "pattern": "^ *[0-9]+ */ *([0-9]+ ?)?(d|h|ms|m|s|us|ns) *$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn sizes_parse() {
        let cases = [
            ("32MiB", 32 * MIB),
            ("32 MiB", 32 * MIB),
            ("512KiB", 512 * 1024),
            ("1GiB", 1024 * MIB),
            ("2TiB", 2 * 1024 * 1024 * MIB),
            ("10MB", 10_000_000),
            ("3kB", 3_000),
            ("4096", 4096),
            ("4096B", 4096),
            ("0", 0),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>().unwrap(), ByteSize(bytes), "{text}");
        }
    }

    #[test]
    fn sizes_that_fail() {
        assert_eq!(
            "32 Mebibytes".parse::<ByteSize>().unwrap_err().to_string(),
            "invalid size \"32 Mebibytes\": expected a number and a unit such as 32MiB"
        );
        for bad in [
            "",
            "MiB",
            "-1MiB",
            "1.5GiB",
            "32mib",
            "32  MiB x",
            "99999999999TiB",
        ] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            "99999999999TiB"
                .parse::<ByteSize>()
                .unwrap_err()
                .to_string(),
            "invalid size \"99999999999TiB\": it is too large"
        );
    }

    #[test]
    fn sizes_display_in_the_shortest_exact_binary_unit() {
        for (bytes, text) in [
            (32 * MIB, "32MiB"),
            (1024 * MIB, "1GiB"),
            (1536, "1536B"),
            (1024, "1KiB"),
            (0, "0B"),
            (10_000_000, "10000000B"),
        ] {
            assert_eq!(ByteSize(bytes).to_string(), text);
            assert_eq!(text.parse::<ByteSize>().unwrap(), ByteSize(bytes));
        }
    }

    #[test]
    fn sizes_deserialize_from_strings_and_integers() {
        let s: ByteSize = serde_json::from_str("\"32MiB\"").unwrap();
        assert_eq!(s, ByteSize(32 * MIB));
        let n: ByteSize = serde_json::from_str("4096").unwrap();
        assert_eq!(n, ByteSize(4096));
        assert!(serde_json::from_str::<ByteSize>("-1").is_err());
        assert_eq!(
            serde_json::to_string(&ByteSize(32 * MIB)).unwrap(),
            "\"32MiB\""
        );
    }

    #[test]
    fn durations_parse() {
        for (text, d) in [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("15m", Duration::from_secs(900)),
            ("1h", Duration::from_secs(3600)),
            ("1d", Duration::from_secs(86_400)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h 30m", Duration::from_secs(5400)),
            ("1s500ms", Duration::from_millis(1500)),
        ] {
            assert_eq!(
                text.parse::<HumanDuration>().unwrap(),
                HumanDuration(d),
                "{text}"
            );
        }
    }

    #[test]
    fn durations_that_fail() {
        for bad in [
            "",
            "2",
            "s",
            "2x",
            "2 seconds",
            "-1s",
            "1.5s",
            "99999999999d",
        ] {
            assert!(
                bad.parse::<HumanDuration>().is_err(),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(
            "2 seconds"
                .parse::<HumanDuration>()
                .unwrap_err()
                .to_string(),
            "invalid duration \"2 seconds\": expected a number and a unit such as 2s, 500ms or 1h30m"
        );
    }

    #[test]
    fn durations_display_and_round_trip() {
        for (d, text) in [
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::ZERO, "0s"),
            (Duration::from_secs(90_061), "1d1h1m1s"),
        ] {
            assert_eq!(HumanDuration(d).to_string(), text);
            assert_eq!(text.parse::<HumanDuration>().unwrap(), HumanDuration(d));
        }
    }

    #[test]
    fn durations_deserialize_only_with_a_unit() {
        let d: HumanDuration = serde_json::from_str("\"2s\"").unwrap();
        assert_eq!(d.0, Duration::from_secs(2));
        let err = serde_json::from_str::<HumanDuration>("2")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid duration 2: add a unit, such as 2s or 2ms"),
            "{err}"
        );
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2s\"");
    }

    #[test]
    fn rates_parse() {
        for (text, count, per) in [
            ("20/s", 20, Duration::from_secs(1)),
            ("100/m", 100, Duration::from_secs(60)),
            ("5/h", 5, Duration::from_secs(3600)),
            ("1/d", 1, Duration::from_secs(86_400)),
            ("20/10s", 20, Duration::from_secs(10)),
            ("20 / s", 20, Duration::from_secs(1)),
        ] {
            assert_eq!(text.parse::<Rate>().unwrap(), Rate { count, per }, "{text}");
        }
    }

    #[test]
    fn rates_that_fail() {
        for bad in [
            "", "20", "/s", "20/", "20/x", "x/s", "-1/s", "20/0s", "20/s/s",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            "20 per second".parse::<Rate>().unwrap_err().to_string(),
            "invalid rate \"20 per second\": expected a count per time unit such as 20/s, 100/m or 20/10s"
        );
    }

    #[test]
    fn rates_display_and_serialize() {
        for text in [
            "20/s", "100/m", "5/h", "1/d", "20/10s", "3/1h30m", "7/500ms",
        ] {
            let rate: Rate = text.parse().unwrap();
            assert_eq!(rate.to_string(), text);
            let json = serde_json::to_string(&rate).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Rate>(&json).unwrap(), rate);
        }
    }
}
