//! `markov-chat`: learns word chains from chat, when the operator opts in
//! (`learn: true`), and babbles back with `!markov`.
//!
//! - The model is a Markov chain in the plugin's SQLite database
//!   ([`model`]); `/data/model.json` is a compact copy ([`snapshot`]),
//!   written by `!markov save` and at shutdown, read at `init` when the
//!   database is empty.
//! - Every chat line arrives in `on_message`; commands, ignored users and
//!   channels not listed are skipped, and at most `learn_words` words of a
//!   line are learned ([`text`]).
//! - Randomness comes from `wasi:random` ([`rng`]).

mod model;
mod rng;
mod snapshot;
mod text;

use rosey_sdk::prelude::*;

use crate::rng::Rng;
use crate::text::Token;

const USAGE: &str = "Usage: !markov [<word>...] | !markov stats | !markov save | !markov forget";

/// The operator's settings (manifest `config_schema`), read at every event
/// so a change applies at once.
#[derive(Debug, Clone)]
struct Settings {
    learn: bool,
    channels: Vec<String>,
    ignore_users: Vec<String>,
    order: usize,
    max_words: usize,
    learn_words: usize,
    max_transitions: i64,
    admins: Vec<String>,
}

impl Settings {
    fn load() -> Result<Self> {
        let count = |key: &str, default: u32, max: u32| -> Result<u32> {
            Ok(config::get::<u32>(key)?.unwrap_or(default).clamp(1, max))
        };
        Ok(Settings {
            learn: config::get("learn")?.unwrap_or(false),
            channels: config::get("channels")?.unwrap_or_default(),
            ignore_users: config::get("ignore_users")?.unwrap_or_default(),
            order: count("order", 2, model::MAX_ORDER as u32)? as usize,
            max_words: count("max_words", 30, 100)? as usize,
            learn_words: count("learn_words", 40, 100)? as usize,
            max_transitions: i64::from(count("max_transitions", 20_000, 100_000)?),
            admins: config::get("admins")?.unwrap_or_default(),
        })
    }

    fn is_admin(&self, user: &str) -> bool {
        contains_name(&self.admins, user)
    }

    /// Where learning happens, for `!markov stats`.
    fn learning(&self) -> String {
        if !self.learn {
            "Learning is off.".into()
        } else if self.channels.is_empty() {
            "Learning is on in every channel.".into()
        } else {
            let channels: Vec<String> = self.channels.iter().map(|c| format!("#{c}")).collect();
            format!("Learning is on in {}.", channels.join(", "))
        }
    }
}

/// Whether `names` holds `name`, ignoring case (chat platforms mostly do).
fn contains_name(names: &[String], name: &str) -> bool {
    let name = name.to_lowercase();
    names.iter().any(|n| n.to_lowercase() == name)
}

struct MarkovChat;

impl Plugin for MarkovChat {
    fn init() -> Result<()> {
        let settings = Settings::load()?;
        if model::transition_count()? > 0 {
            return Ok(());
        }
        let limit = usize::try_from(settings.max_transitions).unwrap_or(0);
        match snapshot::load(limit) {
            Ok(snapshot::Loaded::Missing) => {}
            Ok(snapshot::Loaded::Imported {
                transitions,
                skipped,
            }) => {
                rosey_sdk::info!(
                    "the database was empty: imported {transitions} transitions from {}",
                    snapshot::PATH
                );
                if skipped > 0 {
                    rosey_sdk::warn!(
                        "{skipped} more transitions in {} were over max_transitions ({}) and \
                         were not imported",
                        snapshot::PATH,
                        settings.max_transitions
                    );
                }
            }
            // A bad snapshot must not keep the plugin from starting: say why
            // and start with an empty model.
            Err(e) => rosey_sdk::warn!("not importing the snapshot: {e:#}"),
        }
        Ok(())
    }

    fn on_message(msg: Message) -> Result<()> {
        let Some(said) = msg.chat() else {
            return Ok(());
        };
        let settings = Settings::load()?;
        if !settings.learn
            || text::is_command(&said.text)
            || contains_name(&settings.ignore_users, &said.user)
            || (!settings.channels.is_empty() && !settings.channels.contains(&said.channel))
        {
            return Ok(());
        }
        let runs = text::runs(&said.text, settings.learn_words);
        if runs.is_empty() {
            return Ok(());
        }
        let learned = model::learn(&runs, settings.order, settings.max_transitions)?;
        rosey_sdk::debug!(
            "learned {} words from {} in #{}",
            learned.words,
            said.user,
            said.channel
        );
        if learned.left_out > 0 {
            rosey_sdk::debug!(
                "the model is full (max_transitions {}): left out {} new transitions",
                settings.max_transitions,
                learned.left_out
            );
        }
        Ok(())
    }

    fn on_command(cmd: Command) -> Result<Option<String>> {
        let settings = Settings::load()?;
        let sub = cmd.arg(0).map(str::to_ascii_lowercase);
        let reply = match (sub.as_deref(), cmd.args.len()) {
            (Some("stats"), 1) => stats(&settings)?,
            (Some("save"), 1) => save(&settings, &cmd.user)?,
            (Some("forget"), 1) => forget(&settings, &cmd.user, false)?,
            (Some("forget"), 2) if cmd.arg(1) == Some("confirm") => {
                forget(&settings, &cmd.user, true)?
            }
            (Some("help"), 1) => USAGE.to_owned(),
            _ => babble(&settings, &cmd.args)?,
        };
        Ok(Some(reply))
    }

    fn on_config_changed(keys: Vec<String>) -> Result<()> {
        let settings = Settings::load()?;
        if keys.iter().any(|k| k == "learn" || k == "channels") {
            rosey_sdk::info!("{}", settings.learning());
        }
        if keys.iter().any(|k| k == "max_transitions") {
            let stored = model::transition_count()?;
            if stored >= settings.max_transitions {
                rosey_sdk::info!(
                    "the model holds {stored} transitions, at or over the new max_transitions \
                     {}: they are kept, and no new word pairs are learned",
                    settings.max_transitions
                );
            }
        }
        Ok(())
    }

    fn shutdown() {
        // The database is the model; the snapshot is refreshed only when it
        // changed since it was last written.
        let result = model::stats().and_then(|stats| {
            if stats.changes == stats.saved_changes {
                return Ok(None);
            }
            snapshot::save(&stats).map(Some)
        });
        match result {
            Ok(Some((transitions, bytes))) => rosey_sdk::info!(
                "saved {transitions} transitions to {} ({bytes} bytes)",
                snapshot::PATH
            ),
            Ok(None) => {}
            Err(e) => rosey_sdk::warn!("could not save the snapshot at shutdown: {e:#}"),
        }
    }
}

/// `!markov [<word>...]`.
fn babble(settings: &Settings, args: &[String]) -> Result<String> {
    let mut seed = Vec::new();
    for arg in args.iter().take(settings.max_words) {
        match text::clean(arg) {
            Token::Word(word) => seed.push(word),
            Token::Empty => {}
            Token::TooLong => {
                return Ok(format!(
                    "That word is too long (at most {} characters).",
                    text::MAX_WORD_CHARS
                ));
            }
        }
    }
    // The last word must be known to go on from it; earlier ones take the
    // chain's spelling when it knows them.
    let count = seed.len();
    for (i, word) in seed.iter_mut().enumerate() {
        match model::known_word(word)? {
            Some(known) => *word = known,
            None if i + 1 == count => return Ok(format!("I don't know \"{word}\" yet.")),
            None => {}
        }
    }
    let mut rng = Rng::from_host();
    let words = model::generate(&seed, settings.order, settings.max_words, &mut rng)?;
    if words.is_empty() {
        let mut reply = String::from("I haven't learned anything yet.");
        if !settings.learn {
            reply.push_str(
                " Learning is off: the operator can turn it on with \
                 `rosey plugin config markov-chat set learn=true`.",
            );
        }
        return Ok(reply);
    }
    Ok(words.join(" "))
}

/// `!markov stats`.
fn stats(settings: &Settings) -> Result<String> {
    let stats = model::stats()?;
    let mut reply = format!(
        "I know {} and {} of at most {} transitions (order {}), learned from {}",
        plural(stats.words, "word"),
        stats.transitions,
        settings.max_transitions,
        settings.order,
        plural(stats.messages, "message")
    );
    if let Some(at) = stats.last_learned {
        reply.push_str(&format!(", the last {}", ago(model::now_secs() - at)));
    }
    reply.push_str(". ");
    reply.push_str(&settings.learning());
    if settings.learn && stats.transitions >= settings.max_transitions {
        reply.push_str(" The model is full: only word pairs I already know are counted.");
    }
    Ok(reply)
}

/// "1 word", "2 words".
fn plural(n: impl TryInto<i128>, noun: &str) -> String {
    let n = n.try_into().unwrap_or(i128::MAX);
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
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

const ADMINS_ONLY: &str =
    "Only the plugin's admins may do that (the operator lists them in `admins`).";

/// `!markov save`.
fn save(settings: &Settings, user: &str) -> Result<String> {
    if !settings.is_admin(user) {
        return Ok(ADMINS_ONLY.into());
    }
    let (transitions, bytes) = snapshot::save(&model::stats()?)?;
    rosey_sdk::info!(
        "{user} saved {transitions} transitions to {}",
        snapshot::PATH
    );
    Ok(format!(
        "Saved {} to {} ({bytes} bytes).",
        plural(transitions, "transition"),
        snapshot::PATH
    ))
}

/// `!markov forget [confirm]`.
fn forget(settings: &Settings, user: &str, confirmed: bool) -> Result<String> {
    if !settings.is_admin(user) {
        return Ok(ADMINS_ONLY.into());
    }
    if !confirmed {
        let stats = model::stats()?;
        return Ok(format!(
            "This deletes all {} learned from {}, and {}. \
             Say `!markov forget confirm` to do it.",
            plural(stats.transitions, "transition"),
            plural(stats.messages, "message"),
            snapshot::PATH
        ));
    }
    let removed = model::forget()?;
    snapshot::delete()?;
    rosey_sdk::info!("{user} made the plugin forget {removed} transitions");
    Ok(format!(
        "Forgot {} and deleted {}. {}",
        plural(removed, "transition"),
        snapshot::PATH,
        settings.learning()
    ))
}

export_plugin!(MarkovChat);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_reads_naturally() {
        assert_eq!(ago(-5), "just now");
        assert_eq!(ago(59), "just now");
        assert_eq!(ago(60), "1 min ago");
        assert_eq!(ago(7200), "2 h ago");
        assert_eq!(ago(3 * 86_400 + 5), "3 d ago");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1_i64, "word"), "1 word");
        assert_eq!(plural(0_u64, "word"), "0 words");
        assert_eq!(plural(2_usize, "message"), "2 messages");
    }

    #[test]
    fn names_compare_ignoring_case() {
        let names = vec!["Alice".to_owned(), "ÉMILE".to_owned()];
        assert!(contains_name(&names, "alice"));
        assert!(contains_name(&names, "émile"));
        assert!(!contains_name(&names, "bob"));
        assert!(!contains_name(&[], "alice"));
    }
}
