//! `weather-alerts`: watches the weather at configured places through
//! Open-Meteo's API and posts an alert when a threshold is crossed.
//!
//! - The `refresh` schedule fetches every location ([`http`],
//!   [`openmeteo`]), caches the reading in kv (`weather:<name>`) with its
//!   fetch time, and checks the thresholds ([`alerts`]); the alerts in
//!   force are kept in kv (`alerts:<name>`), so each crossing is announced
//!   once, surviving restarts.
//! - `!weather [location]` answers from the cache, fetching first when the
//!   reading is older than `stale_after_minutes`.

mod alerts;
mod http;
mod openmeteo;
mod settings;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rosey_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::alerts::Active;
use crate::settings::{Location, Settings};

/// The time one call may spend on requests (the manifest's timeout is 30 s).
const CALL_BUDGET: Duration = Duration::from_secs(20);

/// A cached reading (kv `weather:<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cached {
    /// The location's name when it was fetched.
    name: String,
    /// When it was fetched, in seconds since the Unix epoch.
    fetched_at: i64,
    /// °C.
    temperature_c: f64,
    /// km/h.
    wind_kmh: f64,
    /// WMO weather code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weather_code: Option<u8>,
}

fn cache_key(location: &Location) -> String {
    format!("weather:{}", location.key())
}

fn alerts_key(location: &Location) -> String {
    format!("alerts:{}", location.key())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

struct WeatherAlerts;

impl Plugin for WeatherAlerts {
    fn init() -> Result<()> {
        // A configuration this plugin cannot use is reported at start.
        Settings::load()?;
        Ok(())
    }

    fn on_schedule(name: &str) -> Result<()> {
        if name != "refresh" {
            bail!("unknown schedule `{name}`");
        }
        let settings = Settings::load()?;
        prune(&settings)?;
        let deadline = Instant::now() + CALL_BUDGET;
        let mut failed = Vec::new();
        for location in &settings.locations {
            let result = fetch(&settings, location, deadline)
                .and_then(|cached| check_alerts(&settings, location, &cached));
            if let Err(e) = result {
                failed.push(format!("{}: {e:#}", location.name));
            }
        }
        if !failed.is_empty() {
            bail!("refreshing failed for {}", failed.join("; "));
        }
        Ok(())
    }

    fn on_command(cmd: Command) -> Result<Option<String>> {
        let settings = Settings::load()?;
        if settings.locations.is_empty() {
            return Ok(Some(
                "No locations are configured (the operator lists them in `locations`).".into(),
            ));
        }
        let asked = cmd.arg_text.trim();
        let targets: Vec<&Location> = if asked.is_empty() {
            settings.locations.iter().collect()
        } else {
            match settings.find(asked) {
                Some(location) => vec![location],
                None => {
                    let shown: String =
                        asked.chars().filter(|c| !c.is_control()).take(40).collect();
                    let known: Vec<&str> =
                        settings.locations.iter().map(|l| l.name.as_str()).collect();
                    return Ok(Some(format!(
                        "Unknown location \"{shown}\". Known: {}.",
                        known.join(", ")
                    )));
                }
            }
        };
        let deadline = Instant::now() + CALL_BUDGET;
        let lines = targets
            .into_iter()
            .map(|location| report(&settings, location, deadline))
            .collect::<Result<Vec<String>>>()?;
        Ok(Some(lines.join("\n")))
    }

    fn on_config_changed(keys: Vec<String>) -> Result<()> {
        // An error refuses the change: the operator's old file comes back.
        // (The host logs which keys changed.)
        let settings = Settings::load()?;
        if keys.iter().any(|k| k == "locations") {
            prune(&settings)?;
        }
        Ok(())
    }
}

/// Fetches `location` and caches the reading.
fn fetch(settings: &Settings, location: &Location, deadline: Instant) -> Result<Cached> {
    let path = openmeteo::forecast_path(
        &settings.api_base.path,
        location.latitude,
        location.longitude,
    );
    let response = http::get(&settings.api_base, &path, deadline).map_err(Error::msg)?;
    if response.status != 200 {
        match openmeteo::error_reason(&response.body) {
            Some(reason) => bail!("HTTP {}: {reason}", response.status),
            None => bail!("HTTP {}", response.status),
        }
    }
    let current = openmeteo::parse(&response.body).map_err(Error::msg)?;
    let cached = Cached {
        name: location.name.clone(),
        fetched_at: now_secs(),
        temperature_c: current.temperature_c,
        wind_kmh: current.wind_kmh,
        weather_code: current.weather_code,
    };
    kv::set_json(&cache_key(location), &cached).context("caching the reading")?;
    rosey_sdk::debug!("{}", describe(&cached, cached.fetched_at));
    Ok(cached)
}

/// Compares a fresh reading with the thresholds and announces each new
/// crossing once. An alert that could not be sent stays unannounced, so
/// the next reading tries again.
fn check_alerts(settings: &Settings, location: &Location, cached: &Cached) -> Result<()> {
    let key = alerts_key(location);
    let before: Active = match kv::get_json(&key) {
        Ok(found) => found.unwrap_or_default(),
        Err(e) => {
            rosey_sdk::warn!("{key} is unreadable, starting over: {e:#}");
            Active::default()
        }
    };
    let (mut after, crossings) = alerts::evaluate(
        &settings.thresholds,
        before,
        cached.temperature_c,
        cached.wind_kmh,
    );
    let mut failure = None;
    for crossing in crossings {
        if !crossing.raised {
            rosey_sdk::info!("{}: {}", location.name, crossing.what);
            continue;
        }
        let text = format!("Weather alert for {}: {}.", location.name, crossing.what);
        rosey_sdk::info!("{text}");
        let Some(channel) = &settings.alert_channel else {
            continue;
        };
        if let Err(e) = chat::send(channel, &text) {
            after.set(crossing.kind, false);
            failure = Some(e.context(format!("sending the alert to #{channel}")));
        }
    }
    if after != before {
        kv::set_json(&key, &after).context("storing the alerts in force")?;
    }
    failure.map_or(Ok(()), Err)
}

/// One line for `!weather`: from the cache, fetching first if it is stale.
fn report(settings: &Settings, location: &Location, deadline: Instant) -> Result<String> {
    let key = cache_key(location);
    let cached: Option<Cached> = match kv::get_json(&key) {
        Ok(found) => found,
        Err(e) => {
            rosey_sdk::warn!("{key} is unreadable, fetching again: {e:#}");
            None
        }
    };
    let now = now_secs();
    if let Some(cached) = &cached
        && now.saturating_sub(cached.fetched_at) < settings.stale_after_secs
    {
        return Ok(describe(cached, now));
    }
    match fetch(settings, location, deadline) {
        Ok(fresh) => {
            // A fresh reading is checked like a scheduled one; an alert
            // that cannot be sent now is tried again at the next reading.
            if let Err(e) = check_alerts(settings, location, &fresh) {
                rosey_sdk::warn!("{}: {e:#}", location.name);
            }
            Ok(describe(&fresh, now_secs()))
        }
        Err(e) => {
            rosey_sdk::warn!("{}: {e:#}", location.name);
            Ok(match cached {
                Some(old) => format!("{} (refreshing failed: {e})", describe(&old, now)),
                None => format!("{}: no reading yet (fetching failed: {e})", location.name),
            })
        }
    }
}

/// `Berlin: 3.2 °C, wind 12.0 km/h, slight rain (5 min ago)`.
fn describe(cached: &Cached, now: i64) -> String {
    let mut line = format!(
        "{}: {:.1} °C, wind {:.1} km/h",
        cached.name, cached.temperature_c, cached.wind_kmh
    );
    if let Some(words) = cached.weather_code.and_then(openmeteo::describe) {
        line.push_str(", ");
        line.push_str(words);
    }
    line.push_str(&format!(
        " ({})",
        ago(now.saturating_sub(cached.fetched_at))
    ));
    line
}

/// "just now", "5 min ago", "3 h ago", "2 d ago".
fn ago(secs: i64) -> String {
    match secs.max(0) {
        0..60 => "just now".into(),
        s @ 60..3600 => format!("{} min ago", s / 60),
        s @ 3600..86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// Deletes the cache and alert state of locations no longer configured.
fn prune(settings: &Settings) -> Result<()> {
    let keep: Vec<String> = settings.locations.iter().map(Location::key).collect();
    for prefix in ["weather:", "alerts:"] {
        for key in kv::list_keys(prefix)? {
            let name = key.strip_prefix(prefix).unwrap_or(&key);
            if !keep.iter().any(|k| k == name) {
                kv::delete(&key)?;
                rosey_sdk::info!("forgot {key}: the location is no longer configured");
            }
        }
    }
    Ok(())
}

export_plugin!(WeatherAlerts);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_in_one_line() {
        let cached = Cached {
            name: "Berlin".into(),
            fetched_at: 1000,
            temperature_c: 3.24,
            wind_kmh: 12.0,
            weather_code: Some(61),
        };
        assert_eq!(
            describe(&cached, 1000 + 300),
            "Berlin: 3.2 °C, wind 12.0 km/h, slight rain (5 min ago)"
        );
        let unknown = Cached {
            weather_code: None,
            ..cached
        };
        assert_eq!(
            describe(&unknown, 900),
            "Berlin: 3.2 °C, wind 12.0 km/h (just now)"
        );
    }

    #[test]
    fn the_cache_is_json_with_its_fetch_time() {
        let cached = Cached {
            name: "Berlin".into(),
            fetched_at: 1_772_352_000,
            temperature_c: -1.5,
            wind_kmh: 0.0,
            weather_code: None,
        };
        let json = serde_json::to_string(&cached).unwrap();
        assert_eq!(
            json,
            r#"{"name":"Berlin","fetched_at":1772352000,"temperature_c":-1.5,"wind_kmh":0.0}"#
        );
        assert_eq!(serde_json::from_str::<Cached>(&json).unwrap(), cached);
    }
}
