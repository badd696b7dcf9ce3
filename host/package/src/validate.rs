//! [`Manifest::validate`]: the rules serde cannot express.

use std::collections::BTreeSet;
use std::time::Duration;

use super::limits::{
    MAX_FUEL_PER_CALL, MAX_MEMORY, MAX_STORAGE, MAX_TIMEOUT, MIN_MEMORY, MIN_TIMEOUT,
};
use super::manifest::{MANIFEST_VERSION, Manifest, SUPPORTED_API};
use super::manifest_error::ManifestError;
use super::name::quote_for_error;
use super::subject::{SubjectDirection, check_declared_pattern, patterns_overlap};
use super::units::{ByteSize, HumanDuration};

/// The shortest `every:` a schedule may have.
pub const MIN_SCHEDULE_INTERVAL: Duration = Duration::from_secs(1);

type Checked = Result<(), ManifestError>;

impl Manifest {
    /// Checks everything the types do not: the format and API versions,
    /// duplicates, subject patterns, schedules, limits and the config schema.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.manifest_version != MANIFEST_VERSION {
            return Err(ManifestError::invalid(
                "manifest_version",
                format!(
                    "{} is not supported: this host reads manifest_version {MANIFEST_VERSION}",
                    self.manifest_version
                ),
            ));
        }
        self.check_api()?;
        self.check_texts()?;
        self.check_permissions()?;
        self.check_network()?;
        self.check_subjects()?;
        self.check_commands()?;
        self.check_schedules()?;
        self.check_resources()?;
        self.check_config_schema()?;
        self.check_dependencies()
    }

    fn check_api(&self) -> Checked {
        let served = semver::Version::parse(SUPPORTED_API).map_err(|err| {
            ManifestError::invalid("rosey_api", format!("cannot be checked: {err}"))
        })?;
        if self.rosey_api.matches(&served) {
            return Ok(());
        }
        Err(ManifestError::invalid(
            "rosey_api",
            format!(
                "{} does not accept {SUPPORTED_API}, the only plugin API version this host serves: \
                 build the plugin against API {SUPPORTED_API} (rosey_api: \"^0.1\")",
                quote_for_error(&self.rosey_api.to_string())
            ),
        ))
    }

    fn check_texts(&self) -> Checked {
        let single_line = [
            ("display_name", &self.display_name),
            ("author", &self.author),
            ("license", &self.license),
            ("homepage", &self.homepage),
        ];
        for (field, value) in single_line {
            if let Some(value) = value {
                check_text(field, value, false)?;
            }
        }
        if let Some(description) = &self.description {
            check_text("description", description, true)?;
        }
        for (i, tag) in self.tags.iter().enumerate() {
            check_text(&format!("tags[{i}]"), tag, false)?;
        }
        for (i, command) in self.commands.iter().enumerate() {
            if let Some(help) = &command.help {
                check_text(&format!("commands[{i}].help"), help, true)?;
            }
        }
        Ok(())
    }

    fn check_permissions(&self) -> Checked {
        let mut seen = BTreeSet::new();
        for (i, permission) in self.permissions.iter().enumerate() {
            if !seen.insert(permission) {
                return Err(ManifestError::invalid(
                    format!("permissions[{i}]"),
                    format!("\"{permission}\" is listed twice"),
                ));
            }
        }
        Ok(())
    }

    fn check_network(&self) -> Checked {
        for (i, entry) in self.network.allowed_hosts.iter().enumerate() {
            if let Err(problem) = check_host_port(entry) {
                return Err(ManifestError::invalid(
                    format!("network.allowed_hosts[{i}]"),
                    format!("{} {problem}", quote_for_error(entry)),
                ));
            }
        }
        Ok(())
    }

    fn check_subjects(&self) -> Checked {
        let lists = [
            (
                "subscribe",
                &self.subjects.subscribe,
                SubjectDirection::Subscribe,
            ),
            ("publish", &self.subjects.publish, SubjectDirection::Publish),
        ];
        for (field, patterns, direction) in lists {
            for (i, pattern) in patterns.iter().enumerate() {
                check_declared_pattern(pattern, direction).map_err(|err| {
                    ManifestError::invalid(format!("subjects.{field}[{i}]"), err.to_string())
                })?;
            }
        }
        // rosey.plugins.<name>.* carries a plugin's own events: publishing
        // under another plugin's name would impersonate it.
        let own = format!("rosey.plugins.{}.", self.name);
        for (i, pattern) in self.subjects.publish.iter().enumerate() {
            if patterns_overlap(pattern, "rosey.plugins.>") && !pattern.starts_with(&own) {
                return Err(ManifestError::invalid(
                    format!("subjects.publish[{i}]"),
                    format!(
                        "\"{pattern}\" can match other plugins' events under \"rosey.plugins.\"; \
                         a plugin publishes only under \"{own}\" (always allowed, no need to declare it)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_commands(&self) -> Checked {
        let mut seen = BTreeSet::new();
        for (i, command) in self.commands.iter().enumerate() {
            if !seen.insert(&command.name) {
                return Err(ManifestError::invalid(
                    format!("commands[{i}].name"),
                    format!("\"{}\" is declared twice", command.name),
                ));
            }
        }
        Ok(())
    }

    fn check_schedules(&self) -> Checked {
        let mut seen = BTreeSet::new();
        for (i, schedule) in self.schedules.iter().enumerate() {
            let name = &schedule.name;
            let shown = quote_for_error(name);
            if !is_schedule_name(name) {
                return Err(ManifestError::invalid(
                    format!("schedules[{i}].name"),
                    format!(
                        "{shown} is not a schedule name: use 1 to 64 characters of a-z, A-Z, 0-9, \
                         \"_\", \"-\" and \".\""
                    ),
                ));
            }
            if !seen.insert(name) {
                return Err(ManifestError::invalid(
                    format!("schedules[{i}].name"),
                    format!("{shown} is declared twice"),
                ));
            }
            match (&schedule.every, &schedule.cron) {
                (Some(_), Some(_)) => {
                    return Err(ManifestError::invalid(
                        format!("schedules[{i}]"),
                        format!("{shown} sets both every and cron: keep one of them"),
                    ));
                }
                (None, None) => {
                    return Err(ManifestError::invalid(
                        format!("schedules[{i}]"),
                        format!(
                            "{shown} needs every (e.g. every: 15m) or cron (e.g. cron: \"0 9 * * *\")"
                        ),
                    ));
                }
                (Some(every), None) if every.0 < MIN_SCHEDULE_INTERVAL => {
                    return Err(ManifestError::invalid(
                        format!("schedules[{i}].every"),
                        format!(
                            "{every} is shorter than the minimum {}",
                            HumanDuration(MIN_SCHEDULE_INTERVAL)
                        ),
                    ));
                }
                (None, Some(cron)) if !is_cron(cron) => {
                    return Err(ManifestError::invalid(
                        format!("schedules[{i}].cron"),
                        format!(
                            "{} is not a cron expression: expected 5 fields (minute hour \
                             day-of-month month day-of-week) made of digits, \"*\", \"/\", \",\" \
                             and \"-\", such as \"0 9 * * *\"",
                            quote_for_error(cron)
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_resources(&self) -> Checked {
        let r = &self.resources;
        if let Some(memory) = r.memory {
            bounded(
                "resources.memory",
                memory,
                ByteSize(MIN_MEMORY),
                ByteSize(MAX_MEMORY),
            )?;
        }
        if let Some(timeout) = r.timeout {
            bounded(
                "resources.timeout",
                timeout,
                HumanDuration(MIN_TIMEOUT),
                HumanDuration(MAX_TIMEOUT),
            )?;
        }
        if let Some(storage) = r.storage {
            bounded(
                "resources.storage",
                storage,
                ByteSize(0),
                ByteSize(MAX_STORAGE),
            )?;
        }
        if let Some(fuel) = r.fuel_per_call {
            bounded("resources.fuel_per_call", fuel, 1, MAX_FUEL_PER_CALL)?;
        }
        Ok(())
    }

    fn check_config_schema(&self) -> Checked {
        match &self.config_schema {
            Some(schema) if !schema.is_object() => Err(ManifestError::invalid(
                "config_schema",
                "must be a JSON Schema object (a mapping such as {type: object, properties: {...}})",
            )),
            _ => Ok(()),
        }
    }

    fn check_dependencies(&self) -> Checked {
        let mut seen = BTreeSet::new();
        for (i, dependency) in self.dependencies.plugins.iter().enumerate() {
            let path = format!("dependencies.plugins[{i}].name");
            if dependency.name == self.name {
                return Err(ManifestError::invalid(
                    path,
                    format!("\"{}\" is this plugin itself", dependency.name),
                ));
            }
            if !seen.insert(&dependency.name) {
                return Err(ManifestError::invalid(
                    path,
                    format!("\"{}\" is declared twice", dependency.name),
                ));
            }
        }
        Ok(())
    }
}

/// `value` must lie in `min..=max`; the error names the field and the bound.
fn bounded<T: PartialOrd + std::fmt::Display>(field: &str, value: T, min: T, max: T) -> Checked {
    if value > max {
        return Err(ManifestError::invalid(
            field,
            format!("{value} is more than the maximum {max}"),
        ));
    }
    if value < min {
        return Err(ManifestError::invalid(
            field,
            format!("{value} is less than the minimum {min}"),
        ));
    }
    Ok(())
}

/// Free text must not carry control characters (terminal escapes), except
/// newlines and tabs where several lines make sense.
fn check_text(field: &str, value: &str, multi_line: bool) -> Checked {
    let allowed = |c: char| !c.is_control() || (multi_line && (c == '\n' || c == '\t'));
    if value.chars().all(allowed) {
        return Ok(());
    }
    Err(ManifestError::invalid(
        field,
        format!(
            "{} contains control characters: remove them",
            quote_for_error(value)
        ),
    ))
}

/// `host:port`, where host is a DNS name or IPv4 address or `[IPv6]`.
fn check_host_port(entry: &str) -> Result<(), &'static str> {
    let Some((host, port)) = entry.rsplit_once(':') else {
        return Err("needs a port: write host:port, such as \"api.example.org:443\"");
    };
    let port_ok = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0);
    if !port_ok {
        return Err(
            "has no valid port (1 to 65535): write host:port, such as \"api.example.org:443\"",
        );
    }
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if !host_ok {
        return Err("has no valid host name: write host:port, such as \"api.example.org:443\"");
    }
    Ok(())
}

fn is_schedule_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Five whitespace-separated fields of digits, `*`, `/`, `,` and `-`, with
/// values in range (checked by the same parser the host schedules with).
fn is_cron(expression: &str) -> bool {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    fields.len() == 5
        && fields.iter().all(|field| {
            field
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'/' | b',' | b'-'))
        })
        && fields.join(" ").parse::<croner::Cron>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_entries() {
        for ok in [
            "api.weather.gov:443",
            "localhost:8080",
            "10.0.0.1:80",
            "[::1]:443",
            "a-b.c:1",
        ] {
            assert_eq!(check_host_port(ok), Ok(()), "{ok}");
        }
        for bad in [
            "api.weather.gov",
            "api.weather.gov:",
            ":443",
            "host:0",
            "host:65536",
            "host:+1",
            "https://host:443",
            "a..b:443",
            "-a:443",
            "*.example.org:443",
            "[::1:443",
            "host name:443",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn cron_expressions() {
        for ok in [
            "0 9 * * *",
            "*/15 * * * *",
            "0 0 1,15 * 1-5",
            " 0  9 * * * ",
        ] {
            assert!(is_cron(ok), "{ok}");
        }
        for bad in [
            "",
            "0 9 * *",
            "0 9 * * * *",
            "@daily",
            "0 9 * * MON",
            "0 9 ? * *",
            "99 9 * * *",
            "0 25 * * *",
        ] {
            assert!(!is_cron(bad), "{bad}");
        }
    }

    #[test]
    fn schedule_names() {
        assert!(is_schedule_name("refresh"));
        assert!(is_schedule_name("Daily.Report_2"));
        assert!(!is_schedule_name(""));
        assert!(!is_schedule_name("a b"));
        assert!(!is_schedule_name(&"a".repeat(65)));
    }

    #[test]
    fn text_fields_refuse_escapes() {
        assert!(check_text("author", "Ann", false).is_ok());
        assert!(check_text("description", "line one\nline two", true).is_ok());
        assert!(check_text("author", "a\nb", false).is_err());
        let err = check_text("author", "\u{1b}[2J", false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "manifest: author \"\\u{1b}[2J\" contains control characters: remove them"
        );
    }
}
