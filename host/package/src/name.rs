//! Validated names: [`PluginName`] and [`CommandName`].
//!
//! A name reaches file paths, NATS subjects and log lines, so it is checked
//! once, when it is parsed, and is never a raw `String` afterwards.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most characters of a rejected value an error message repeats.
const SHOWN_CHARS: usize = 80;

/// A name that breaks the rules for its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {shown}: {problem}; {rule}")]
pub struct InvalidName {
    kind: &'static str,
    shown: String,
    problem: &'static str,
    rule: &'static str,
}

impl InvalidName {
    /// Which kind of name was rejected (`plugin name`, `command name`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// What is wrong with the value, e.g. `it ends with "-"`.
    pub fn problem(&self) -> &'static str {
        self.problem
    }
}

/// The rules for one kind of name.
struct Rule {
    kind: &'static str,
    max_len: usize,
    allow_underscore: bool,
    strict_hyphens: bool,
    /// Names the host uses itself.
    reserved: &'static [&'static str],
    text: &'static str,
}

const PLUGIN_RULE: Rule = Rule {
    kind: "plugin name",
    max_len: 64,
    allow_underscore: false,
    strict_hyphens: true,
    // The host speaks as "rosey" (the built-in !help).
    reserved: &["rosey"],
    text: "a plugin name is 1 to 64 characters of a-z, 0-9 and \"-\", starts with a letter, \
           does not end with \"-\" and has no \"--\"",
};

const COMMAND_RULE: Rule = Rule {
    kind: "command name",
    max_len: 32,
    allow_underscore: true,
    strict_hyphens: false,
    reserved: &[],
    text: "a command name is 1 to 32 characters of a-z, 0-9, \"_\" and \"-\" and starts with a letter",
};

/// Quotes `value` for an error message, escaping control characters and
/// shortening it so a hostile 10 000-character name cannot flood a log.
pub(crate) fn quote_for_error(value: &str) -> String {
    if value.chars().count() <= SHOWN_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(SHOWN_CHARS).collect();
        format!("{head:?}... ({} characters)", value.chars().count())
    }
}

fn check(value: &str, rule: &Rule) -> Result<(), InvalidName> {
    let fail = |problem| InvalidName {
        kind: rule.kind,
        shown: quote_for_error(value),
        problem,
        rule: rule.text,
    };
    let Some(first) = value.chars().next() else {
        return Err(fail("it is empty"));
    };
    if value.len() > rule.max_len {
        return Err(fail("it is too long"));
    }
    if !first.is_ascii_lowercase() {
        return Err(fail("it does not start with a letter a-z"));
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || (rule.allow_underscore && c == '_')
    };
    if !value.chars().all(allowed) {
        return Err(fail("it contains a character that is not allowed"));
    }
    if rule.strict_hyphens {
        if value.ends_with('-') {
            return Err(fail("it ends with \"-\""));
        }
        if value.contains("--") {
            return Err(fail("it contains \"--\""));
        }
    }
    if rule.reserved.contains(&value) {
        return Err(fail("it is reserved for the host"));
    }
    Ok(())
}

/// Deserializes any `FromStr` type from a string, inside the visitor so
/// the YAML error points at the value itself.
pub(crate) struct ParseVisitor<T> {
    expecting: &'static str,
    target: PhantomData<T>,
}

impl<T> ParseVisitor<T> {
    pub(crate) fn new(expecting: &'static str) -> Self {
        ParseVisitor {
            expecting,
            target: PhantomData,
        }
    }
}

impl<T> Visitor<'_> for ParseVisitor<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} string", self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $rule:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                check(value, &$rule)?;
                Ok(Self(value.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(ParseVisitor::<$name>::new($rule.kind))
            }
        }
    };
}

validated_name!(
    /// A plugin's name: `^[a-z][a-z0-9-]{0,63}$`, not ending in `-`, no `--`.
    ///
    /// It names the plugin's directory (`plugins/<name>/`) and its subjects
    /// (`rosey.plugins.<name>.*`), so nothing else is accepted.
    PluginName,
    PLUGIN_RULE
);

validated_name!(
    /// A chat command's name (the word after the prefix, `!quote`):
    /// `^[a-z][a-z0-9_-]{0,31}$`.
    CommandName,
    COMMAND_RULE
);

impl schemars::JsonSchema for PluginName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PluginName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z]([a-z0-9-]{0,62}[a-z0-9])?$",
            "not": {"pattern": "--"},
            "description": "1 to 64 characters of a-z, 0-9 and \"-\"; starts with a letter, does not end with \"-\", no \"--\"",
        })
    }
}

impl schemars::JsonSchema for CommandName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommandName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]{0,31}$",
            "description": "1 to 32 characters of a-z, 0-9, \"_\" and \"-\"; starts with a letter",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_that_pass() {
        for ok in ["a", "quote-bot", "x1", "a-b-c", &"a".repeat(64)] {
            let name: PluginName = ok.parse().unwrap();
            assert_eq!(name.as_str(), ok);
            assert_eq!(name.to_string(), ok);
            assert_eq!(name.as_ref(), ok);
        }
    }

    #[test]
    fn plugin_names_that_fail() {
        for bad in [
            "",
            "-a",
            "1a",
            "Quote",
            "a_b",
            "a.b",
            "../x",
            "*",
            ">",
            "a-",
            "a--b",
            "a b",
            "é",
            &"a".repeat(65),
            &"a".repeat(300),
        ] {
            assert!(bad.parse::<PluginName>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn plugin_name_error_shows_the_rule() {
        let err = "quote--bot".parse::<PluginName>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid plugin name \"quote--bot\": it contains \"--\"; a plugin name is 1 to 64 \
             characters of a-z, 0-9 and \"-\", starts with a letter, does not end with \"-\" \
             and has no \"--\""
        );
        assert_eq!(err.kind(), "plugin name");
    }

    #[test]
    fn long_names_are_shortened_in_errors() {
        let err = "A"
            .repeat(300)
            .parse::<PluginName>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("... (300 characters)"), "{err}");
        assert!(err.len() < 400, "{err}");
    }

    #[test]
    fn control_characters_are_escaped_in_errors() {
        let err = "a\u{1b}[31m".parse::<PluginName>().unwrap_err().to_string();
        assert!(!err.contains('\u{1b}'), "{err}");
    }

    #[test]
    fn command_names() {
        for ok in ["quote", "q", "add_quote", "a-b", "z9", &"a".repeat(32)] {
            assert_eq!(ok.parse::<CommandName>().unwrap().as_str(), ok);
        }
        for bad in ["", "_a", "Quote", "!quote", "a b", "a.b", &"a".repeat(33)] {
            assert!(bad.parse::<CommandName>().is_err(), "{bad:?} was accepted");
        }
        let err = "Quote".parse::<CommandName>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid command name \"Quote\": it does not start with a letter a-z; a command name \
             is 1 to 32 characters of a-z, 0-9, \"_\" and \"-\" and starts with a letter"
        );
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let name: PluginName = serde_json::from_str("\"quote-bot\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"quote-bot\"");
        assert!(serde_json::from_str::<PluginName>("\"../x\"").is_err());
        assert!(serde_json::from_str::<CommandName>("\"Bad\"").is_err());
    }

    #[test]
    fn ordering_and_hashing_follow_the_text() {
        let a: PluginName = "a".parse().unwrap();
        let b: PluginName = "b".parse().unwrap();
        assert!(a < b);
        let set: std::collections::HashSet<_> = [a.clone(), a].into_iter().collect();
        assert_eq!(set.len(), 1);
    }
}

#[cfg(test)]
mod reserved_tests {
    use super::*;

    #[test]
    fn the_hosts_own_name_is_reserved() {
        let err = "rosey".parse::<PluginName>().unwrap_err();
        assert_eq!(err.problem(), "it is reserved for the host");
        assert!("rosey-quotes".parse::<PluginName>().is_ok());
    }
}
