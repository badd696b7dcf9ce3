//! Open-Meteo's forecast API: the request path, and reading its answer.
//!
//! `GET /v1/forecast?latitude=52.52&longitude=13.41&current=temperature_2m,wind_speed_10m,weather_code`
//! answers (among other fields):
//!
//! ```json
//! {"current_units": {"temperature_2m": "°C", "wind_speed_10m": "km/h"},
//!  "current": {"time": "2026-03-01T08:00", "temperature_2m": 3.2,
//!              "wind_speed_10m": 12.0, "weather_code": 61}}
//! ```

use serde_json::Value;

/// The path and query of the request for one place, under `prefix`.
pub fn forecast_path(prefix: &str, latitude: f64, longitude: f64) -> String {
    format!(
        "{prefix}/v1/forecast?latitude={latitude}&longitude={longitude}\
         &current=temperature_2m,wind_speed_10m,weather_code"
    )
}

/// Current conditions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Current {
    /// Air temperature 2 m above ground, °C.
    pub temperature_c: f64,
    /// Wind speed 10 m above ground, km/h.
    pub wind_kmh: f64,
    /// WMO weather code, if given and valid.
    pub weather_code: Option<u8>,
}

/// Reads a successful response's body.
pub fn parse(body: &[u8]) -> Result<Current, String> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| format!("malformed response: not JSON ({e})"))?;
    let current = json
        .get("current")
        .filter(|c| c.is_object())
        .ok_or("malformed response: no `current` object")?;
    let units = json.get("current_units");
    let number = |field: &str, unit: &str, range: std::ops::RangeInclusive<f64>| {
        if let Some(given) = units.and_then(|u| u.get(field)).and_then(Value::as_str)
            && given != unit
        {
            return Err(format!(
                "malformed response: `{field}` is in {given:?}, not {unit}"
            ));
        }
        let value = current
            .get(field)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("malformed response: `current.{field}` is not a number"))?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "malformed response: `current.{field}` {value} is out of range"
            ))
        }
    };
    let temperature_c = number("temperature_2m", "°C", -100.0..=70.0)?;
    let wind_kmh = number("wind_speed_10m", "km/h", 0.0..=500.0)?;
    let weather_code = current
        .get("weather_code")
        .and_then(Value::as_f64)
        .filter(|code| code.fract() == 0.0 && (0.0..=99.0).contains(code))
        .map(|code| code as u8);
    Ok(Current {
        temperature_c,
        wind_kmh,
        weather_code,
    })
}

/// The `reason` of an error response (`{"error": true, "reason": "..."}`),
/// cut to 200 characters, controls removed.
pub fn error_reason(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let reason = json.get("reason")?.as_str()?;
    let clean: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    (!clean.trim().is_empty()).then_some(clean)
}

/// WMO weather code in words (the codes Open-Meteo documents).
pub fn describe(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "clear sky",
        1 => "mainly clear",
        2 => "partly cloudy",
        3 => "overcast",
        45 => "fog",
        48 => "rime fog",
        51 => "light drizzle",
        53 => "drizzle",
        55 => "dense drizzle",
        56 => "light freezing drizzle",
        57 => "dense freezing drizzle",
        61 => "slight rain",
        63 => "rain",
        65 => "heavy rain",
        66 => "light freezing rain",
        67 => "heavy freezing rain",
        71 => "slight snow",
        73 => "snow",
        75 => "heavy snow",
        77 => "snow grains",
        80 => "slight rain showers",
        81 => "rain showers",
        82 => "violent rain showers",
        85 => "slight snow showers",
        86 => "heavy snow showers",
        95 => "thunderstorm",
        96 => "thunderstorm with slight hail",
        99 => "thunderstorm with heavy hail",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_carries_the_coordinates() {
        assert_eq!(
            forecast_path("", 52.52, -0.5),
            "/v1/forecast?latitude=52.52&longitude=-0.5\
             &current=temperature_2m,wind_speed_10m,weather_code"
        );
        assert!(forecast_path("/meteo", 1.0, 2.0).starts_with("/meteo/v1/forecast?latitude=1&"));
    }

    #[test]
    fn a_real_answer_parses() {
        let body = r#"{"latitude":52.52,"longitude":13.419998,"generationtime_ms":0.05,
            "utc_offset_seconds":0,"timezone":"GMT","elevation":38.0,
            "current_units":{"time":"iso8601","interval":"seconds","temperature_2m":"°C",
                "wind_speed_10m":"km/h","weather_code":"wmo code"},
            "current":{"time":"2026-03-01T08:00","interval":900,"temperature_2m":3.2,
                "wind_speed_10m":12,"weather_code":61}}"#;
        assert_eq!(
            parse(body.as_bytes()),
            Ok(Current {
                temperature_c: 3.2,
                wind_kmh: 12.0,
                weather_code: Some(61),
            })
        );
    }

    #[test]
    fn malformed_answers_say_what_is_wrong() {
        let cases: [(&str, &str); 7] = [
            ("<html>rate limited</html>", "not JSON"),
            ("[]", "no `current`"),
            (r#"{"current": 5}"#, "no `current`"),
            (
                r#"{"current": {"temperature_2m": null, "wind_speed_10m": 1}}"#,
                "temperature_2m` is not a number",
            ),
            (
                r#"{"current": {"temperature_2m": 1}}"#,
                "wind_speed_10m` is not a number",
            ),
            (
                r#"{"current": {"temperature_2m": 1e300, "wind_speed_10m": 1}}"#,
                "out of range",
            ),
            (
                r#"{"current_units": {"temperature_2m": "°F"}, "current": {"temperature_2m": 50, "wind_speed_10m": 1}}"#,
                "not °C",
            ),
        ];
        for (body, why) in cases {
            let error = parse(body.as_bytes()).unwrap_err();
            assert!(error.contains(why), "{error} should say {why}");
        }
    }

    #[test]
    fn odd_weather_codes_are_dropped() {
        for code in ["-1", "100", "2.5", "\"rain\""] {
            let body = format!(
                r#"{{"current": {{"temperature_2m": 1, "wind_speed_10m": 2, "weather_code": {code}}}}}"#
            );
            assert_eq!(parse(body.as_bytes()).unwrap().weather_code, None, "{code}");
        }
    }

    #[test]
    fn error_reasons() {
        assert_eq!(
            error_reason(br#"{"error": true, "reason": "Latitude must be in range\n"}"#),
            Some("Latitude must be in range".into())
        );
        assert_eq!(error_reason(b"Bad Gateway"), None);
        assert_eq!(error_reason(br#"{"reason": 5}"#), None);
    }

    #[test]
    fn codes_in_words() {
        assert_eq!(describe(61), Some("slight rain"));
        assert_eq!(describe(4), None);
    }
}
