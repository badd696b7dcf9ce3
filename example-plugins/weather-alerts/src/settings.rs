//! The operator's configuration (manifest `config_schema`), checked again
//! here for what a JSON Schema cannot say: `api_base` is a usable base URL,
//! location names are unique.

use rosey_sdk::prelude::*;
use serde::Deserialize;

use crate::alerts::Thresholds;

/// The longest location name, in characters.
pub const MAX_NAME_CHARS: usize = 40;
/// The most locations refreshed by one call (each is one HTTP request).
pub const MAX_LOCATIONS: usize = 5;

/// Where the forecast API lives: `https://api.open-meteo.com`, or a test
/// server's `http://127.0.0.1:8080/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase {
    /// `https` rather than `http`.
    pub https: bool,
    /// `host[:port]`.
    pub authority: String,
    /// A path prefix without a trailing `/` (often empty).
    pub path: String,
}

impl ApiBase {
    /// Parses `http(s)://host[:port][/path]`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("api_base {text:?} is not a URL such as https://host"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => {
                return Err(format!(
                    "api_base {text:?}: the scheme must be http or https"
                ));
            }
        };
        if rest.contains(['?', '#']) {
            return Err(format!("api_base {text:?}: no query or fragment, please"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let authority_ok = !authority.is_empty()
            && authority
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !authority_ok {
            return Err(format!(
                "api_base {text:?}: {authority:?} is not a host[:port]"
            ));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "api_base {text:?}: the path has spaces or controls"
            ));
        }
        Ok(ApiBase {
            https,
            authority: authority.to_ascii_lowercase(),
            path: path.trim_end_matches('/').to_owned(),
        })
    }
}

/// One place to watch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// As shown in chat, e.g. `Berlin`.
    pub name: String,
    /// Degrees north, -90 to 90.
    pub latitude: f64,
    /// Degrees east, -180 to 180.
    pub longitude: f64,
}

impl Location {
    /// The name as used in kv keys and `!weather <name>`: lower-cased.
    pub fn key(&self) -> String {
        self.name.to_lowercase()
    }

    fn check(&self) -> std::result::Result<(), String> {
        let chars = self.name.chars().count();
        if self.name.trim() != self.name || chars == 0 || chars > MAX_NAME_CHARS {
            return Err(format!(
                "location name {:?} must be 1 to {MAX_NAME_CHARS} characters without \
                 leading or trailing spaces",
                self.name
            ));
        }
        if self.name.chars().any(char::is_control) {
            return Err(format!(
                "location name {:?} has control characters",
                self.name
            ));
        }
        if !(-90.0..=90.0).contains(&self.latitude) || !(-180.0..=180.0).contains(&self.longitude) {
            return Err(format!(
                "location {:?}: latitude must be -90 to 90 and longitude -180 to 180",
                self.name
            ));
        }
        Ok(())
    }
}

/// Everything the plugin reads from its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The forecast API.
    pub api_base: ApiBase,
    /// The places watched, in the operator's order.
    pub locations: Vec<Location>,
    /// Where alerts go; none: alerts are only logged.
    pub alert_channel: Option<String>,
    /// When to alert.
    pub thresholds: Thresholds,
    /// A cached reading older than this is fetched again by `!weather`.
    pub stale_after_secs: i64,
}

impl Settings {
    /// Reads and checks the configuration.
    pub fn load() -> Result<Self> {
        let api_base: String =
            config::get("api_base")?.unwrap_or_else(|| "https://api.open-meteo.com".into());
        let locations: Vec<Location> = config::get("locations")?.unwrap_or_default();
        let alert_channel: Option<String> = config::get::<Option<String>>("alert_channel")?
            .flatten()
            .filter(|c| !c.trim().is_empty());
        let threshold = |key: &str, default: Option<f64>| -> Result<Option<f64>> {
            Ok(config::get::<Option<f64>>(key)?.unwrap_or(default))
        };
        let thresholds = Thresholds {
            wind_above_kmh: threshold("wind_above_kmh", Some(60.0))?,
            temperature_below_c: threshold("temperature_below_c", Some(-10.0))?,
            temperature_above_c: threshold("temperature_above_c", Some(35.0))?,
        };
        let stale_after_minutes: u32 = config::get("stale_after_minutes")?.unwrap_or(30);
        Settings::new(
            &api_base,
            locations,
            alert_channel,
            thresholds,
            stale_after_minutes,
        )
        .map_err(|why| Error::msg(format!("configuration: {why}")))
    }

    fn new(
        api_base: &str,
        locations: Vec<Location>,
        alert_channel: Option<String>,
        thresholds: Thresholds,
        stale_after_minutes: u32,
    ) -> std::result::Result<Self, String> {
        let api_base = ApiBase::parse(api_base)?;
        if locations.len() > MAX_LOCATIONS {
            return Err(format!("at most {MAX_LOCATIONS} locations, please"));
        }
        for (i, location) in locations.iter().enumerate() {
            location.check()?;
            if locations[..i].iter().any(|l| l.key() == location.key()) {
                return Err(format!("location {:?} is listed twice", location.name));
            }
        }
        Ok(Settings {
            api_base,
            locations,
            alert_channel,
            thresholds,
            stale_after_secs: i64::from(stale_after_minutes.max(1)) * 60,
        })
    }

    /// The location called `name` (ignoring case), if configured.
    pub fn find(&self, name: &str) -> Option<&Location> {
        let key = name.trim().to_lowercase();
        self.locations.iter().find(|l| l.key() == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Location {
        Location {
            name: "Berlin".into(),
            latitude: 52.52,
            longitude: 13.41,
        }
    }

    #[test]
    fn api_bases() {
        assert_eq!(
            ApiBase::parse("https://api.open-meteo.com"),
            Ok(ApiBase {
                https: true,
                authority: "api.open-meteo.com".into(),
                path: String::new(),
            })
        );
        assert_eq!(
            ApiBase::parse("HTTP://127.0.0.1:8080/meteo/"),
            Ok(ApiBase {
                https: false,
                authority: "127.0.0.1:8080".into(),
                path: "/meteo".into(),
            })
        );
        for bad in [
            "api.open-meteo.com",
            "ftp://x",
            "https://",
            "https://user@host",
            "https://host?x=1",
            "https://host/a b",
        ] {
            assert!(ApiBase::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locations_are_checked() {
        let ok = |locations| {
            Settings::new(
                "https://api.open-meteo.com",
                locations,
                None,
                Thresholds::default(),
                30,
            )
        };
        let settings = ok(vec![berlin()]).unwrap();
        assert_eq!(settings.find(" BERLIN "), Some(&berlin()));
        assert_eq!(settings.find("paris"), None);
        assert_eq!(settings.stale_after_secs, 1800);

        let twice = ok(vec![
            berlin(),
            Location {
                name: "berlin".into(),
                ..berlin()
            },
        ]);
        assert!(twice.unwrap_err().contains("listed twice"));
        let far = ok(vec![Location {
            latitude: 91.0,
            ..berlin()
        }]);
        assert!(far.unwrap_err().contains("latitude"));
        let nan = ok(vec![Location {
            longitude: f64::NAN,
            ..berlin()
        }]);
        assert!(nan.is_err());
        let blank = ok(vec![Location {
            name: " ".into(),
            ..berlin()
        }]);
        assert!(blank.is_err());
        let many = ok(vec![berlin(); MAX_LOCATIONS + 1]);
        assert!(many.unwrap_err().contains("at most"));
    }
}
