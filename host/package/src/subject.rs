//! NATS subject patterns: which ones a manifest may declare, and whether a
//! subject matches a pattern.
//!
//! A subject is tokens separated by `.`; in a pattern `*` matches exactly one
//! token and `>` (only as the last token) matches one or more. The host runs
//! [`subject_matches`] on every publish and every delivery, so it is strict:
//! anything malformed matches nothing.

use super::name::quote_for_error;

/// The longest subject or pattern accepted, in bytes.
pub const MAX_SUBJECT_LEN: usize = 256;

/// Subjects no plugin may touch, in either direction: NATS system and
/// JetStream APIs, reply inboxes, the host's control plane and command
/// routing (the host routes commands; a plugin only implements them).
pub const RESERVED_SUBJECTS: [&str; 5] = [
    "$SYS.>",
    "$JS.>",
    "_INBOX.>",
    "rosey.host.>",
    "rosey.commands.>",
];

/// Subjects only the bot core publishes; a plugin publishing there could
/// impersonate chat users.
pub const BOT_CORE_SUBJECTS: &str = "rosey.chat.message.>";

/// Which way a declared pattern is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectDirection {
    /// `subjects.subscribe`: messages the plugin receives.
    Subscribe,
    /// `subjects.publish`: messages the plugin sends.
    Publish,
}

/// Why a declared pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// Empty, too long, an empty token, whitespace or a control character.
    #[error("{pattern} is not a valid subject pattern: {problem}")]
    Malformed {
        /// The pattern, quoted for display.
        pattern: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// `>` alone would receive or send everything.
    #[error("{pattern} matches every subject: declare the subjects the plugin needs")]
    Everything {
        /// The pattern, quoted for display.
        pattern: String,
    },
    /// The pattern can match a subject in a reserved namespace.
    #[error("{pattern} can match subjects under \"{prefix}\", which are reserved for the host")]
    Reserved {
        /// The pattern, quoted for display.
        pattern: String,
        /// The reserved prefix it overlaps, e.g. `$SYS.`.
        prefix: String,
    },
    /// A publish pattern that can match the bot core's chat messages.
    #[error(
        "{pattern} can match subjects under \"rosey.chat.message.\": only the bot core publishes \
         chat messages (use chat.send to reply)"
    )]
    BotCore {
        /// The pattern, quoted for display.
        pattern: String,
    },
}

/// One token of a parsed pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Literal(&'a str),
    /// `*`
    One,
    /// `>`
    Rest,
}

/// Splits a pattern into tokens, or says why it is malformed.
fn tokens(pattern: &str) -> Result<Vec<Token<'_>>, &'static str> {
    if pattern.is_empty() {
        return Err("it is empty");
    }
    if pattern.len() > MAX_SUBJECT_LEN {
        return Err("it is longer than 256 bytes");
    }
    if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or a control character");
    }
    let parts: Vec<&str> = pattern.split('.').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(index, part)| match *part {
            "" => Err("it has an empty token (\"..\" or a leading or trailing \".\")"),
            "*" => Ok(Token::One),
            ">" if index == last => Ok(Token::Rest),
            ">" => Err("\">\" may only be the last token"),
            text if text.contains(['*', '>']) => {
                Err("wildcards \"*\" and \">\" must be whole tokens")
            }
            text => Ok(Token::Literal(text)),
        })
        .collect()
}

/// Whether `pattern` is a well-formed subject pattern (wildcards allowed).
pub fn is_valid_pattern(pattern: &str) -> bool {
    tokens(pattern).is_ok()
}

/// Whether `subject` is a well-formed concrete subject (no wildcards), the
/// kind a message can be published to.
pub fn is_valid_subject(subject: &str) -> bool {
    tokens(subject).is_ok_and(|t| t.iter().all(|token| matches!(token, Token::Literal(_))))
}

/// Whether the concrete `subject` matches `pattern`.
///
/// False when either is malformed or when `subject` contains a wildcard, so a
/// plugin cannot publish to `*` to reach everything a pattern covers.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let (Ok(pattern), Ok(subject)) = (tokens(pattern), tokens(subject)) else {
        return false;
    };
    let mut subject_tokens = subject.iter();
    for (index, token) in pattern.iter().enumerate() {
        match token {
            Token::Rest => {
                return subject.len() > index
                    && subject[index..]
                        .iter()
                        .all(|t| matches!(t, Token::Literal(_)));
            }
            Token::One => {
                if !matches!(subject_tokens.next(), Some(Token::Literal(_))) {
                    return false;
                }
            }
            Token::Literal(text) => {
                if subject_tokens.next() != Some(&Token::Literal(text)) {
                    return false;
                }
            }
        }
    }
    subject_tokens.next().is_none()
}

/// Whether some concrete subject matches both patterns. False when either is
/// malformed.
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    match (tokens(a), tokens(b)) {
        (Ok(a), Ok(b)) => overlap(&a, &b),
        _ => false,
    }
}

fn overlap(a: &[Token<'_>], b: &[Token<'_>]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        // `>` needs at least one token, and whatever is left of the other
        // pattern is at least one token that `>` can absorb.
        (Some((Token::Rest, _)), Some(_)) | (Some(_), Some((Token::Rest, _))) => true,
        (Some((x, a_rest)), Some((y, b_rest))) => {
            let token_fits = match (x, y) {
                (Token::Literal(x), Token::Literal(y)) => x == y,
                _ => true,
            };
            token_fits && overlap(a_rest, b_rest)
        }
        _ => false,
    }
}

/// Checks a pattern declared in a manifest's `subjects.subscribe` or
/// `subjects.publish`.
pub fn check_declared_pattern(
    pattern: &str,
    direction: SubjectDirection,
) -> Result<(), SubjectError> {
    let shown = quote_for_error(pattern);
    let parsed = tokens(pattern).map_err(|problem| SubjectError::Malformed {
        pattern: shown.clone(),
        problem,
    })?;
    if parsed == [Token::Rest] {
        return Err(SubjectError::Everything { pattern: shown });
    }
    for reserved in RESERVED_SUBJECTS {
        if patterns_overlap(pattern, reserved) {
            let prefix = reserved.trim_end_matches('>').to_owned();
            return Err(SubjectError::Reserved {
                pattern: shown,
                prefix,
            });
        }
    }
    if direction == SubjectDirection::Publish && patterns_overlap(pattern, BOT_CORE_SUBJECTS) {
        return Err(SubjectError::BotCore { pattern: shown });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_match_exactly() {
        assert!(subject_matches(
            "rosey.chat.message.chat",
            "rosey.chat.message.chat"
        ));
        assert!(!subject_matches(
            "rosey.chat.message.chat",
            "rosey.chat.message"
        ));
        assert!(!subject_matches(
            "rosey.chat.message",
            "rosey.chat.message.chat"
        ));
        assert!(!subject_matches("a.b", "a.c"));
        assert!(
            !subject_matches("a.b", "A.b"),
            "subjects are case-sensitive"
        );
    }

    #[test]
    fn star_matches_exactly_one_token() {
        assert!(subject_matches(
            "rosey.chat.message.*",
            "rosey.chat.message.chat"
        ));
        assert!(subject_matches("a.*.c", "a.b.c"));
        assert!(!subject_matches("a.*.c", "a.c"));
        assert!(!subject_matches("a.*", "a"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(subject_matches("*", "a"));
        assert!(!subject_matches("*", "a.b"));
    }

    #[test]
    fn greater_than_matches_one_or_more_tokens() {
        assert!(subject_matches("a.>", "a.b"));
        assert!(subject_matches("a.>", "a.b.c.d"));
        assert!(!subject_matches("a.>", "a"));
        assert!(!subject_matches("a.>", "b.c"));
        assert!(subject_matches(">", "anything.at.all"));
        assert!(subject_matches("*.>", "a.b"));
        assert!(!subject_matches("*.>", "a"));
    }

    #[test]
    fn malformed_input_matches_nothing() {
        for (pattern, subject) in [
            ("", ""),
            ("a..b", "a..b"),
            ("a.", "a."),
            (".a", ".a"),
            ("a.>.b", "a.x.b"),
            ("a b", "a b"),
            ("a\tb", "a\tb"),
            ("a*", "a*"),
            ("a.b>", "a.b>"),
        ] {
            assert!(
                !subject_matches(pattern, subject),
                "{pattern:?} ~ {subject:?}"
            );
        }
        let long = "a.".repeat(200) + "a";
        assert!(!subject_matches(&long, &long));
    }

    #[test]
    fn wildcard_subjects_are_not_concrete() {
        assert!(!subject_matches("a.>", "a.*"));
        assert!(!subject_matches("a.>", "a.>"));
        assert!(!subject_matches("*", "*"));
        assert!(!subject_matches("a.*", "a.*"));
        assert!(!subject_matches("a.b", "a.*"));
        assert!(is_valid_subject("a.b"));
        assert!(!is_valid_subject("a.*"));
        assert!(is_valid_pattern("a.*"));
        assert!(!is_valid_pattern("a..*"));
    }

    #[test]
    fn overlap_between_patterns() {
        assert!(patterns_overlap("a.b", "a.b"));
        assert!(patterns_overlap("a.*", "*.b"));
        assert!(patterns_overlap("*.>", "$SYS.>"));
        assert!(patterns_overlap("$SYS.x", "$SYS.>"));
        assert!(patterns_overlap(">", "a"));
        assert!(!patterns_overlap("a.>", "a"));
        assert!(!patterns_overlap("a.*", "a.b.c"));
        assert!(patterns_overlap("a.*.>", "a.b.c"));
        assert!(!patterns_overlap("a.*.>", "a.b"));
        assert!(!patterns_overlap("$SYS", "$SYS.>"));
        assert!(!patterns_overlap("a.b", "a.c"));
        assert!(!patterns_overlap("a..b", "a..b"));
    }

    #[test]
    fn declared_patterns_that_are_fine() {
        for pattern in [
            "rosey.chat.message.chat",
            "rosey.chat.message.*",
            "weather.>",
            "*",
        ] {
            assert_eq!(
                check_declared_pattern(pattern, SubjectDirection::Subscribe),
                Ok(()),
                "{pattern}"
            );
        }
        for pattern in [
            "rosey.plugins.quote-bot.added",
            "weather.report.*",
            "rosey.chat.send_message",
        ] {
            assert_eq!(
                check_declared_pattern(pattern, SubjectDirection::Publish),
                Ok(()),
                "{pattern}"
            );
        }
    }

    #[test]
    fn everything_is_refused() {
        let err = check_declared_pattern(">", SubjectDirection::Subscribe).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\">\" matches every subject: declare the subjects the plugin needs"
        );
    }

    #[test]
    fn reserved_namespaces_are_refused() {
        for (pattern, prefix) in [
            ("$SYS.>", "$SYS."),
            ("$SYS.ACCOUNT.x", "$SYS."),
            ("$JS.API.>", "$JS."),
            ("_INBOX.abc", "_INBOX."),
            ("rosey.host.h1.status", "rosey.host."),
            ("rosey.*.h1.status", "rosey.host."),
            ("rosey.commands.quote-bot.execute", "rosey.commands."),
            ("*.>", "$SYS."),
            ("*.*", "$SYS."),
        ] {
            for direction in [SubjectDirection::Subscribe, SubjectDirection::Publish] {
                let err = check_declared_pattern(pattern, direction).unwrap_err();
                assert_eq!(
                    err,
                    SubjectError::Reserved {
                        pattern: format!("{pattern:?}"),
                        prefix: prefix.into()
                    },
                    "{pattern}"
                );
            }
        }
        let err = check_declared_pattern("_INBOX.>", SubjectDirection::Subscribe).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"_INBOX.>\" can match subjects under \"_INBOX.\", which are reserved for the host"
        );
    }

    #[test]
    fn publishing_as_the_bot_core_is_refused() {
        for pattern in [
            "rosey.chat.message.chat",
            "rosey.chat.message.>",
            "rosey.chat.*.chat",
        ] {
            assert!(
                check_declared_pattern(pattern, SubjectDirection::Subscribe).is_ok(),
                "{pattern}"
            );
            let err = check_declared_pattern(pattern, SubjectDirection::Publish).unwrap_err();
            assert!(
                matches!(err, SubjectError::BotCore { .. }),
                "{pattern}: {err}"
            );
        }
        assert_eq!(
            check_declared_pattern("rosey.chat.message.chat", SubjectDirection::Publish)
                .unwrap_err()
                .to_string(),
            "\"rosey.chat.message.chat\" can match subjects under \"rosey.chat.message.\": only the \
             bot core publishes chat messages (use chat.send to reply)"
        );
    }

    #[test]
    fn malformed_declarations_say_why() {
        let err = check_declared_pattern("a.>.b", SubjectDirection::Subscribe).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"a.>.b\" is not a valid subject pattern: \">\" may only be the last token"
        );
        let err = check_declared_pattern("a..b", SubjectDirection::Publish).unwrap_err();
        assert!(matches!(err, SubjectError::Malformed { .. }));
        let err = check_declared_pattern("", SubjectDirection::Publish).unwrap_err();
        assert!(err.to_string().ends_with("it is empty"), "{err}");
    }
}
