//! [`ManifestError`]: why a `manifest.yaml` was refused, phrased for the
//! plugin's author (with the line and column, and a "did you mean" hint for
//! misspelt fields and permissions).

use std::fmt;

use super::name::quote_for_error;

/// The longest YAML error message repeated verbatim.
const MAX_MESSAGE_CHARS: usize = 400;

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Over [`MAX_MANIFEST_BYTES`](super::manifest::MAX_MANIFEST_BYTES); not parsed.
    #[error(
        "manifest.yaml is {size} bytes, more than the {max} allowed: keep it short and put data in assets/"
    )]
    TooLarge {
        /// The manifest's size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The manifest has no content.
    #[error(
        "manifest.yaml is empty: it needs at least manifest_version, name, version and rosey_api"
    )]
    Empty,
    /// A field (or permission) name that does not exist.
    #[error("{0}")]
    Unknown(Box<UnknownName>),
    /// YAML syntax, a wrong type, a missing field or an invalid value.
    #[error("{}", self.yaml_text())]
    Yaml {
        /// Where it is, if known.
        location: Option<Location>,
        /// What is wrong.
        message: String,
    },
    /// Parsed, but breaks a rule: `manifest: {path} {message}`.
    #[error("manifest: {path} {message}")]
    Invalid {
        /// The offending field, e.g. `commands[1].name`.
        path: String,
        /// What is wrong with it, starting with its value.
        message: String,
    },
}

/// A 1-based line and column in `manifest.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What kind of name [`ManifestError::Unknown`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownKind {
    /// A mapping key.
    Field,
    /// An enum value, such as a permission.
    Value,
}

/// A misspelt field or value, with the closest valid name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// Where it is, if known.
    pub location: Option<Location>,
    /// What was unknown.
    pub kind: UnknownKind,
    /// The enclosing section (`resources`, `commands[0]`), `None` at the top level.
    pub section: Option<String>,
    /// The unknown name as written.
    pub name: String,
    /// The closest valid name, if one is close.
    pub suggestion: Option<String>,
    /// Every valid name.
    pub expected: Vec<String>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.kind, self.section.as_deref()) {
            (UnknownKind::Field, _) => "field",
            (UnknownKind::Value, Some(s)) if s.starts_with("permissions") => "permission",
            (UnknownKind::Value, _) => "value",
        };
        write!(
            f,
            "{}unknown {what} {}",
            prefix(self.location),
            quote_for_error(&self.name)
        )?;
        if let Some(section) = &self.section {
            write!(f, " in {section}")?;
        }
        if let Some(suggestion) = &self.suggestion {
            write!(f, " (did you mean \"{suggestion}\"?)")
        } else if !self.expected.is_empty() {
            write!(f, " (expected one of: {})", self.expected.join(", "))
        } else {
            Ok(())
        }
    }
}

fn prefix(location: Option<Location>) -> String {
    match location {
        Some(location) => format!("manifest.yaml:{location}: "),
        None => "manifest.yaml: ".to_owned(),
    }
}

impl ManifestError {
    /// An invalid value at `path`.
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ManifestError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    fn yaml_text(&self) -> String {
        match self {
            ManifestError::Yaml { location, message } => format!("{}{message}", prefix(*location)),
            _ => String::new(),
        }
    }

    /// Translates a YAML/serde error into author-facing text.
    pub(crate) fn from_yaml(err: yaml_serde::Error) -> Self {
        let location = err.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        let mut message = err.to_string();
        if let Some(l) = location {
            message = message.replacen(&format!(" at line {} column {}", l.line, l.column), "", 1);
        }
        if let Some(unknown) = parse_unknown(&message, location) {
            return unknown;
        }
        ManifestError::Yaml {
            location,
            message: tidy(&message),
        }
    }
}

/// A parser's message made fit for an operator: backticks become quotes,
/// control characters go, length is capped.
pub fn tidy(message: &str) -> String {
    let cleaned: String = message
        .chars()
        .map(|c| match c {
            '`' => '"',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if cleaned.chars().count() > MAX_MESSAGE_CHARS {
        let head: String = cleaned.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{head}...")
    } else {
        cleaned
    }
}

/// Recognises serde's "unknown field `x`, expected one of `a`, `b`" (and the
/// same for enum variants), optionally prefixed with yaml_serde's path.
fn parse_unknown(message: &str, location: Option<Location>) -> Option<ManifestError> {
    let (kind, marker) = [
        (UnknownKind::Field, "unknown field `"),
        (UnknownKind::Value, "unknown variant `"),
    ]
    .into_iter()
    .find_map(|(kind, marker)| message.find(marker).map(|at| (kind, (at, marker))))?;
    let (at, marker) = marker;
    let section = message[..at].strip_suffix(": ").map(str::to_owned);
    if at != 0 && section.is_none() {
        return None;
    }
    let rest = &message[at + marker.len()..];
    let (name, expected) = if let Some(end) = rest.rfind("`, expected ") {
        let list = &rest[end + "`, expected ".len()..];
        let expected: Vec<String> = list
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        (&rest[..end], expected)
    } else {
        let name = rest.strip_suffix("`, there are no fields")?;
        (name, Vec::new())
    };
    let suggestion = closest(name, &expected).map(str::to_owned);
    Some(ManifestError::Unknown(Box::new(UnknownName {
        location,
        kind,
        section,
        name: name.to_owned(),
        suggestion,
        expected,
    })))
}

/// The candidate nearest to `name`, if it is near enough to be a typo.
pub fn closest<'a, S: AsRef<str>>(name: &str, candidates: &'a [S]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(&name, &c.as_ref().to_ascii_lowercase()), c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c.as_ref())
}

/// Levenshtein distance, counting characters (for "did you mean" hints).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            let delete = previous[j + 1] + 1;
            let insert = current[j] + 1;
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("permisions", "permissions"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn closest_needs_a_near_match() {
        let fields: Vec<String> = ["memory", "timeout", "storage"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("memry", &fields), Some("memory"));
        assert_eq!(closest("Timeout", &fields), Some("timeout"));
        assert_eq!(closest("bananas", &fields), None);
    }

    #[test]
    fn parses_serde_unknown_field_messages() {
        let at = Some(Location { line: 3, column: 1 });
        let err = parse_unknown(
            "unknown field `permisions`, expected one of `name`, `permissions`",
            at,
        )
        .unwrap();
        assert_eq!(
            err.to_string(),
            "manifest.yaml:3:1: unknown field \"permisions\" (did you mean \"permissions\"?)"
        );
        let err = parse_unknown("resources: unknown field `zzz`, expected `memory`", None).unwrap();
        assert_eq!(
            err.to_string(),
            "manifest.yaml: unknown field \"zzz\" in resources (expected one of: memory)"
        );
        let err = parse_unknown("a: unknown field `x`, there are no fields", None).unwrap();
        assert_eq!(err.to_string(), "manifest.yaml: unknown field \"x\" in a");
        assert!(parse_unknown("invalid type: string", None).is_none());
    }

    #[test]
    fn tidy_removes_control_characters_and_backticks() {
        assert_eq!(tidy("missing field `name`"), "missing field \"name\"");
        assert_eq!(tidy("a\u{1b}[31mb"), "a [31mb");
        assert!(tidy(&"x".repeat(1000)).len() < 500);
    }
}
