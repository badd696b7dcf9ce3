//! What a plugin may do, derived once from its manifest and consulted by
//! every capability on every call.

use std::collections::BTreeSet;

use crate::package::{Manifest, Permission, PluginName, subject_matches};

use super::HostError;

/// Where chat events arrive; subscribing under it needs `read_messages`.
pub const CHAT_EVENTS_PREFIX: &str = "rosey.chat.message.";
/// Where plugins send chat messages; publishing there needs `send_messages`.
pub const SEND_MESSAGE_SUBJECT: &str = "rosey.chat.send_message";
/// Plugins' own events live under `rosey.plugins.<name>.`; a plugin may
/// publish only under its own name.
pub const PLUGIN_EVENTS_PREFIX: &str = "rosey.plugins.";
/// The longest subject a plugin may use.
pub const MAX_SUBJECT_LEN: usize = 256;

/// Prefixes no plugin may ever publish or subscribe under, whatever its
/// manifest says (the manifest validator refuses them too).
const RESERVED_PREFIXES: &[&str] = &["$SYS.", "$JS.", "_INBOX.", "rosey.host.", "rosey.commands."];

/// A plugin's grants: its permissions and messaging patterns.
#[derive(Debug, Clone)]
pub struct Grants {
    plugin: PluginName,
    permissions: BTreeSet<Permission>,
    subscribe: Vec<String>,
    publish: Vec<String>,
}

impl Grants {
    /// The grants a manifest asks for (and the operator approved at install).
    pub fn from_manifest(manifest: &Manifest) -> Self {
        Self {
            plugin: manifest.name.clone(),
            permissions: manifest.permissions.iter().copied().collect(),
            subscribe: manifest.subjects.subscribe.clone(),
            publish: manifest.subjects.publish.clone(),
        }
    }

    /// The plugin these grants belong to.
    pub fn plugin(&self) -> &PluginName {
        &self.plugin
    }

    /// Whether `permission` was granted.
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// `Ok` if `permission` was granted, else a `denied` error naming `what`.
    pub fn require(&self, permission: Permission, what: &str) -> Result<(), HostError> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(HostError::denied(permission, what))
        }
    }

    /// The subject patterns the host subscribes to on the plugin's behalf.
    ///
    /// Errors if a pattern needs a permission the plugin lacks: installing
    /// such a plugin is refused, so this only fails for a hand-edited home.
    pub fn subscriptions(&self) -> Result<&[String], String> {
        for pattern in &self.subscribe {
            if could_match_prefix(pattern, CHAT_EVENTS_PREFIX)
                && !self.has(Permission::ReadMessages)
            {
                return Err(format!(
                    "subjects.subscribe \"{pattern}\" receives chat events and needs the `read_messages` permission"
                ));
            }
        }
        Ok(&self.subscribe)
    }

    /// Check that the plugin may publish on `subject` (a concrete subject, no
    /// wildcards).
    pub fn check_publish(&self, subject: &str) -> Result<(), HostError> {
        validate_concrete_subject(subject)?;
        if RESERVED_PREFIXES.iter().any(|p| subject.starts_with(p)) {
            return Err(HostError::Denied(format!(
                "subject \"{subject}\" is reserved for the host"
            )));
        }
        // rosey.plugins.<own name>.<event>, matched without building the prefix.
        let own_event = subject
            .strip_prefix("rosey.plugins.")
            .and_then(|rest| rest.strip_prefix(self.plugin.as_str()))
            .is_some_and(|rest| rest.starts_with('.'));
        if own_event {
            return Ok(());
        }
        if subject == SEND_MESSAGE_SUBJECT {
            return self.require(Permission::SendMessages, "publishing chat messages");
        }
        if !subject.starts_with(CHAT_EVENTS_PREFIX)
            && !subject.starts_with(PLUGIN_EVENTS_PREFIX)
            && self.publish.iter().any(|p| subject_matches(p, subject))
        {
            return Ok(());
        }
        Err(HostError::Denied(format!(
            "publishing on \"{subject}\" is not granted: declare it in the manifest's subjects.publish \
             (a plugin may always publish on \"rosey.plugins.{}.<event>\")",
            self.plugin
        )))
    }
}

/// A subject a plugin publishes on must be concrete: non-empty tokens, no
/// wildcards, no whitespace, bounded length.
fn validate_concrete_subject(subject: &str) -> Result<(), HostError> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
        return Err(HostError::Invalid(format!(
            "a subject must be 1 to {MAX_SUBJECT_LEN} characters long"
        )));
    }
    for token in subject.split('.') {
        if token.is_empty() {
            return Err(HostError::Invalid(format!(
                "subject \"{subject}\" has an empty token"
            )));
        }
        if token == "*" || token == ">" {
            return Err(HostError::Invalid(format!(
                "subject \"{subject}\" contains a wildcard; publish on a concrete subject"
            )));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(HostError::Invalid(format!(
                "subject \"{subject}\" contains whitespace or control characters"
            )));
        }
    }
    Ok(())
}

/// Whether some subject under `prefix` (which ends with `.`) could match `pattern`.
fn could_match_prefix(pattern: &str, prefix: &str) -> bool {
    let mut pattern_tokens = pattern.split('.');
    for want in prefix.trim_end_matches('.').split('.') {
        match pattern_tokens.next() {
            Some(">") => return true,
            Some("*") => {}
            Some(token) if token == want => {}
            _ => return false,
        }
    }
    pattern_tokens.next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(permissions: &[Permission], subscribe: &[&str], publish: &[&str]) -> Grants {
        Grants {
            plugin: "quote-bot".parse().unwrap(),
            permissions: permissions.iter().copied().collect(),
            subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
            publish: publish.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn own_plugin_subjects_are_always_allowed() {
        let g = grants(&[], &[], &[]);
        assert!(g.check_publish("rosey.plugins.quote-bot.added").is_ok());
        assert!(matches!(
            g.check_publish("rosey.plugins.other.added"),
            Err(HostError::Denied(_))
        ));
    }

    #[test]
    fn chat_needs_send_messages() {
        assert!(matches!(
            grants(&[], &[], &[]).check_publish(SEND_MESSAGE_SUBJECT),
            Err(HostError::Denied(m)) if m.contains("send_messages")
        ));
        assert!(
            grants(&[Permission::SendMessages], &[], &[])
                .check_publish(SEND_MESSAGE_SUBJECT)
                .is_ok()
        );
    }

    #[test]
    fn wildcards_and_reserved_subjects_are_refused() {
        let g = grants(&[Permission::SendMessages], &[], &["weather.>"]);
        assert!(g.check_publish("weather.alerts").is_ok());
        assert!(matches!(
            g.check_publish("weather.*"),
            Err(HostError::Invalid(_))
        ));
        assert!(matches!(g.check_publish(">"), Err(HostError::Invalid(_))));
        assert!(matches!(
            g.check_publish("a..b"),
            Err(HostError::Invalid(_))
        ));
        assert!(matches!(g.check_publish("a b"), Err(HostError::Invalid(_))));
        for reserved in [
            "$SYS.x",
            "_INBOX.abc",
            "rosey.host.h1.stop",
            "rosey.commands.echo.execute",
        ] {
            assert!(
                matches!(g.check_publish(reserved), Err(HostError::Denied(_))),
                "{reserved}"
            );
        }
    }

    #[test]
    fn publish_patterns_never_cover_chat_events() {
        let g = grants(&[], &[], &["rosey.>"]);
        assert!(matches!(
            g.check_publish("rosey.chat.message.chat"),
            Err(HostError::Denied(_))
        ));
    }

    #[test]
    fn a_plugin_cannot_publish_as_another_plugin() {
        // Even if a (hand-edited) grant declared it.
        let g = grants(&[], &[], &["rosey.plugins.*.said"]);
        assert!(matches!(
            g.check_publish("rosey.plugins.echo.said"),
            Err(HostError::Denied(_))
        ));
        assert!(g.check_publish("rosey.plugins.quote-bot.said").is_ok());
    }

    #[test]
    fn chat_subscriptions_need_read_messages() {
        assert!(
            grants(&[], &["rosey.chat.message.chat"], &[])
                .subscriptions()
                .is_err()
        );
        assert!(grants(&[], &["rosey.chat.>"], &[]).subscriptions().is_err());
        assert!(
            grants(&[], &["rosey.*.message.chat"], &[])
                .subscriptions()
                .is_err()
        );
        assert!(
            grants(&[], &["rosey.plugins.weather.alert"], &[])
                .subscriptions()
                .is_ok()
        );
        assert!(
            grants(&[Permission::ReadMessages], &["rosey.chat.message.*"], &[])
                .subscriptions()
                .is_ok()
        );
    }
}
