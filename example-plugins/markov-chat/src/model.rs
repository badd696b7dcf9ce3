//! The Markov chain in the plugin's SQLite database (see
//! `migrations/001_create_model.up.sql`): learning, generating, counting,
//! forgetting.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use rosey_sdk::prelude::*;

use crate::rng::Rng;

/// The highest order (words of context) the chain supports.
pub const MAX_ORDER: usize = 3;

/// A message's start, inside a prefix.
pub const START: &str = "";
/// A message's end, as a `next` word.
pub const END: &str = "";

/// One observation: the `ord` words of `prefix` were followed by `next`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transition {
    /// How many words of context (1 to [`MAX_ORDER`]).
    pub ord: i64,
    /// The context, joined by single spaces, starts of message as "".
    pub prefix: String,
    /// The word that followed, or [`END`].
    pub next: String,
}

/// A prefix as stored: the words joined by single spaces.
pub fn join_prefix<S: AsRef<str>>(words: &[S]) -> String {
    let mut prefix = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            prefix.push(' ');
        }
        prefix.push_str(word.as_ref());
    }
    prefix
}

/// Every transition of one run of words, for each order from 1 to `order`.
pub fn transitions(run: &[String], order: usize) -> Vec<Transition> {
    let order = order.clamp(1, MAX_ORDER);
    let mut tokens: Vec<&str> = vec![START; order];
    tokens.extend(run.iter().map(String::as_str));
    let mut out = Vec::with_capacity((run.len() + 1) * order);
    for at in order..=tokens.len() {
        let next = tokens.get(at).copied().unwrap_or(END);
        for ord in 1..=order {
            out.push(Transition {
                ord: ord as i64,
                prefix: join_prefix(&tokens[at - ord..at]),
                next: next.to_owned(),
            });
        }
    }
    out
}

/// What [`learn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    /// Words learned.
    pub words: usize,
    /// New transitions left out because the model was full.
    pub left_out: usize,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The number of stored transitions, of every order.
pub fn transition_count() -> Result<i64> {
    sql::query_row("SELECT count(*) FROM chain", params![])?.get(0)
}

/// Transitions looked up per query (3 parameters each; SQLite allows 999).
const LOOKUP_CHUNK: usize = 300;

/// Which of `wanted` the chain already holds.
fn known(wanted: &[Transition]) -> Result<HashSet<Transition>> {
    let mut unique: Vec<&Transition> = Vec::with_capacity(wanted.len());
    let mut seen = HashSet::new();
    for t in wanted {
        if seen.insert(t) {
            unique.push(t);
        }
    }
    let mut found = HashSet::new();
    for chunk in unique.chunks(LOOKUP_CHUNK) {
        let mut sql = String::from(
            "SELECT ord, prefix, next FROM chain WHERE (ord, prefix, next) IN (VALUES ",
        );
        let mut values = Vec::with_capacity(chunk.len() * 3);
        for (i, t) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" });
            values.extend(params![t.ord, t.prefix.as_str(), t.next.as_str()]);
        }
        sql.push(')');
        for row in &sql::query(&sql, values)? {
            found.insert(Transition {
                ord: row.get(0)?,
                prefix: row.get(1)?,
                next: row.get(2)?,
            });
        }
    }
    Ok(found)
}

/// Learns `runs` (one message) at `order`, in one transaction. New
/// transitions are added while the chain holds fewer than
/// `max_transitions`; the rest are left out, while those already known are
/// always counted.
pub fn learn(runs: &[Vec<String>], order: usize, max_transitions: i64) -> Result<Learned> {
    let all: Vec<Transition> = runs
        .iter()
        .flat_map(|run| transitions(run, order))
        .collect();
    let words: usize = runs.iter().map(Vec::len).sum();
    if all.is_empty() {
        return Ok(Learned { words, left_out: 0 });
    }
    let known = known(&all)?;
    let mut room = max_transitions.saturating_sub(transition_count()?);
    let mut added = HashSet::new();
    let mut left_out = 0;
    let mut statements = Vec::with_capacity(all.len() + 1);
    for t in all {
        if !known.contains(&t) && !added.contains(&t) {
            if room <= 0 {
                left_out += 1;
                continue;
            }
            room -= 1;
            added.insert(t.clone());
        }
        statements.push(Statement::new(
            "INSERT INTO chain (ord, prefix, next, count) VALUES (?, ?, ?, 1) \
             ON CONFLICT (ord, prefix, next) DO UPDATE SET count = count + 1",
            params![t.ord, t.prefix, t.next],
        ));
    }
    statements.push(Statement::new(
        "UPDATE stats SET messages = messages + 1, words = words + ?, \
         changes = changes + 1, last_learned = ? WHERE id = 1",
        params![i64::try_from(words).unwrap_or(i64::MAX), now_secs()],
    ));
    sql::transaction(statements).context("learning a message")?;
    Ok(Learned { words, left_out })
}

/// A weighted random word that followed `prefix` (of `ord` words), if any.
fn pick(ord: usize, prefix: &str, rng: &mut Rng) -> Result<Option<String>> {
    let ord = ord as i64;
    let total: i64 = sql::query_row(
        "SELECT coalesce(sum(count), 0) FROM chain WHERE ord = ? AND prefix = ?",
        params![ord, prefix],
    )?
    .get(0)?;
    let Ok(total) = u64::try_from(total) else {
        return Ok(None);
    };
    if total == 0 {
        return Ok(None);
    }
    let target = i64::try_from(rng.below(total)).unwrap_or(i64::MAX);
    let row = sql::query_opt(
        "SELECT next FROM (\
             SELECT next, sum(count) OVER (ORDER BY next ROWS UNBOUNDED PRECEDING) AS upto \
             FROM chain WHERE ord = ?1 AND prefix = ?2\
         ) WHERE upto > ?3 ORDER BY upto LIMIT 1",
        params![ord, prefix, target],
    )?;
    row.map(|row| row.get(0)).transpose()
}

/// The stored spelling of `word` (exact, else ignoring ASCII case), if the
/// chain knows it.
pub fn known_word(word: &str) -> Result<Option<String>> {
    if let Some(row) = sql::query_opt(
        "SELECT prefix FROM chain WHERE ord = 1 AND prefix = ? LIMIT 1",
        params![word],
    )? {
        return Ok(Some(row.get(0)?));
    }
    sql::query_opt(
        "SELECT prefix FROM chain WHERE ord = 1 AND prefix = ? COLLATE NOCASE \
         ORDER BY prefix LIMIT 1",
        params![word],
    )?
    .map(|row| row.get(0))
    .transpose()
}

/// Up to `max_words` words: `seed` (already resolved with [`known_word`]),
/// then words drawn from the chain, each from the longest context of up to
/// `order` words that the chain knows, until a message's end or a dead end.
pub fn generate(
    seed: &[String],
    order: usize,
    max_words: usize,
    rng: &mut Rng,
) -> Result<Vec<String>> {
    let order = order.clamp(1, MAX_ORDER);
    let mut context: Vec<String> = vec![START.to_owned(); order];
    context.extend(seed.iter().cloned());
    let mut words: Vec<String> = seed.to_vec();
    while words.len() < max_words {
        let mut next = None;
        for ord in (1..=order).rev() {
            let prefix = join_prefix(&context[context.len() - ord..]);
            if let Some(word) = pick(ord, &prefix, rng)? {
                next = Some(word);
                break;
            }
        }
        match next {
            Some(word) if word != END => {
                context.push(word.clone());
                words.push(word);
            }
            _ => break,
        }
    }
    Ok(words)
}

/// What the model holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Distinct words.
    pub words: i64,
    /// Stored transitions, of every order.
    pub transitions: i64,
    /// Messages learned from.
    pub messages: i64,
    /// When the last message was learned (seconds since the Unix epoch).
    pub last_learned: Option<i64>,
    /// Changes to the model, ever.
    pub changes: i64,
    /// `changes` when the snapshot was last written.
    pub saved_changes: i64,
}

/// The model's counters.
pub fn stats() -> Result<Stats> {
    let words: i64 = sql::query_row(
        "SELECT count(DISTINCT prefix) FROM chain WHERE ord = 1 AND prefix <> ''",
        params![],
    )?
    .get(0)?;
    let row = sql::query_row(
        "SELECT messages, last_learned, changes, saved_changes FROM stats WHERE id = 1",
        params![],
    )
    .context("reading the stats row")?;
    Ok(Stats {
        words,
        transitions: transition_count()?,
        messages: row.get("messages")?,
        last_learned: row.get("last_learned")?,
        changes: row.get("changes")?,
        saved_changes: row.get("saved_changes")?,
    })
}

/// Records that the snapshot now matches `changes`.
pub fn mark_saved(changes: i64) -> Result<()> {
    sql::execute(
        "UPDATE stats SET saved_changes = ? WHERE id = 1",
        params![changes],
    )?;
    Ok(())
}

/// Deletes everything learned; returns how many transitions there were.
pub fn forget() -> Result<u64> {
    let changed = sql::transaction(vec![
        Statement::new("DELETE FROM chain", params![]),
        Statement::new(
            "UPDATE stats SET messages = 0, words = 0, last_learned = NULL, \
             changes = changes + 1, saved_changes = changes + 1 WHERE id = 1",
            params![],
        ),
    ])
    .context("forgetting the model")?;
    Ok(changed.first().copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    fn flat(ts: &[Transition]) -> Vec<(i64, &str, &str)> {
        ts.iter()
            .map(|t| (t.ord, t.prefix.as_str(), t.next.as_str()))
            .collect()
    }

    #[test]
    fn order_one_is_a_bigram_chain_with_start_and_end() {
        assert_eq!(
            flat(&transitions(&run("the cat sat"), 1)),
            [
                (1, "", "the"),
                (1, "the", "cat"),
                (1, "cat", "sat"),
                (1, "sat", ""),
            ]
        );
    }

    #[test]
    fn order_two_stores_both_orders() {
        assert_eq!(
            flat(&transitions(&run("hi there"), 2)),
            [
                (1, "", "hi"),
                (2, " ", "hi"),
                (1, "hi", "there"),
                (2, " hi", "there"),
                (1, "there", ""),
                (2, "hi there", ""),
            ]
        );
    }

    #[test]
    fn order_is_clamped() {
        assert_eq!(transitions(&run("a"), 0).len(), 2);
        assert_eq!(transitions(&run("a"), 9).len(), 2 * MAX_ORDER);
        assert!(transitions(&[], 2).iter().all(|t| t.next == END));
    }

    #[test]
    fn prefixes_join_with_single_spaces() {
        assert_eq!(join_prefix(&["", "", "x"]), "  x");
        assert_eq!(join_prefix::<&str>(&[]), "");
    }
}
