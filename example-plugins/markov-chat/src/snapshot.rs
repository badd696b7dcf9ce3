//! `/data/model.json`: a compact, portable copy of the chain.
//!
//! ```json
//! {"format": "rosey-markov-chat", "version": 1, "messages": 2,
//!  "transitions": [[1, [""], "hello", 2], [2, ["", "hello"], "world", 1]]}
//! ```
//!
//! Each transition is `[order, prefix words, next word, count]`; `""` in the
//! prefix is a message's start (only before the words), `""` as the next
//! word a message's end. The database is the live model; the snapshot is
//! written by `!markov save` and at shutdown (when the model changed), and
//! read by `init` only when the database is empty: a fresh install, a
//! restored `/data`, or a model copied from another host.

use std::fs;
use std::io::Write;

use rosey_sdk::prelude::*;
use serde::Deserialize;

use crate::model::{self, END, MAX_ORDER, START, Stats};
use crate::text::{self, Token};

/// The snapshot's path.
pub const PATH: &str = "/data/model.json";
/// Where it is written first, then renamed over [`PATH`].
const TEMP_PATH: &str = "/data/model.json.tmp";
/// `format` in the file.
const FORMAT: &str = "rosey-markov-chat";
/// `version` in the file.
const VERSION: u32 = 1;
/// A larger file is not read.
pub const MAX_BYTES: u64 = 8 << 20;
/// Rows read from the database per query when writing.
const PAGE: i64 = 2000;
/// Rows per INSERT when reading (4 parameters each, SQLite allows 999).
const ROWS_PER_INSERT: usize = 200;
/// Parameter bytes per transaction when reading (a host call takes 2 MiB).
const BYTES_PER_TRANSACTION: usize = 512 << 10;
/// The largest count read, so that no sum of counts can overflow.
const MAX_COUNT: i64 = 1_000_000_000_000;

/// The file's shape, for reading.
#[derive(Debug, Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    #[serde(default)]
    messages: i64,
    transitions: Vec<(i64, Vec<String>, String, i64)>,
}

/// Writes the whole chain to [`PATH`] (through a temporary file, so a
/// failed write leaves the previous snapshot whole); returns the number of
/// transitions and the file's size.
pub fn save(stats: &Stats) -> Result<(usize, usize)> {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(&format!(
        "{{\"format\":\"{FORMAT}\",\"version\":{VERSION},\"messages\":{},\"transitions\":[",
        stats.messages
    ));
    let mut count = 0usize;
    let mut after: Option<(i64, String, String)> = None;
    loop {
        let rows = match &after {
            None => sql::query(
                "SELECT ord, prefix, next, count FROM chain ORDER BY ord, prefix, next LIMIT ?",
                params![PAGE],
            )?,
            Some((ord, prefix, next)) => sql::query(
                "SELECT ord, prefix, next, count FROM chain WHERE (ord, prefix, next) > (?, ?, ?) \
                 ORDER BY ord, prefix, next LIMIT ?",
                params![*ord, prefix.as_str(), next.as_str(), PAGE],
            )?,
        };
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let ord: i64 = row.get(0)?;
            let prefix: String = row.get(1)?;
            let next: String = row.get(2)?;
            let n: i64 = row.get(3)?;
            let words: Vec<&str> = prefix.split(' ').collect();
            if count > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(&(ord, &words, &next, n))?);
            count += 1;
            after = Some((ord, prefix, next));
        }
    }
    out.push_str("]}\n");
    let mut file = fs::File::create(TEMP_PATH).with_context(|| format!("creating {TEMP_PATH}"))?;
    file.write_all(out.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {TEMP_PATH}"))?;
    drop(file);
    fs::rename(TEMP_PATH, PATH).with_context(|| format!("renaming {TEMP_PATH} to {PATH}"))?;
    model::mark_saved(stats.changes)?;
    Ok((count, out.len()))
}

/// Deletes the snapshot; true if there was one.
pub fn delete() -> Result<bool> {
    let _ = fs::remove_file(TEMP_PATH);
    match fs::remove_file(PATH) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::from(e).context(format!("deleting {PATH}"))),
    }
}

/// A transition checked for the database: `(ord, prefix, next, count)`.
type Row = (i64, String, String, i64);

/// Checks one transition of a snapshot.
fn check(entry: (i64, Vec<String>, String, i64)) -> std::result::Result<Row, String> {
    let (ord, prefix, next, count) = entry;
    let order = usize::try_from(ord).unwrap_or(0);
    if !(1..=MAX_ORDER).contains(&order) {
        return Err(format!("order {ord} is not 1 to {MAX_ORDER}"));
    }
    if prefix.len() != order {
        return Err(format!(
            "order {ord} with a prefix of {} words",
            prefix.len()
        ));
    }
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(format!("count {count} is not 1 to {MAX_COUNT}"));
    }
    let starts = prefix.iter().take_while(|w| w.as_str() == START).count();
    for word in &prefix[starts..] {
        if !is_word(word) {
            return Err(format!("{word:?} in a prefix is not a word"));
        }
    }
    if next != END && !is_word(&next) {
        return Err(format!("{next:?} is not a word"));
    }
    Ok((ord, model::join_prefix(&prefix), next, count))
}

/// Whether `word` is what learning would have stored.
fn is_word(word: &str) -> bool {
    !word.chars().any(char::is_whitespace) && text::clean(word) == Token::Word(word.to_owned())
}

/// What [`load`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// There is no snapshot.
    Missing,
    /// This many transitions were read; `skipped` more were over the limit.
    Imported { transitions: usize, skipped: usize },
}

/// Reads [`PATH`] into the (empty) database, at most `max_transitions`
/// transitions. A snapshot that is too large, not JSON of the right shape,
/// or holds an invalid transition is refused as a whole, with the reason.
pub fn load(max_transitions: usize) -> Result<Loaded> {
    let size = match fs::metadata(PATH) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(Error::from(e).context(format!("reading {PATH}"))),
    };
    ensure!(
        size <= MAX_BYTES,
        "{PATH} is {size} bytes, more than the {MAX_BYTES} this plugin reads"
    );
    let bytes = fs::read(PATH).with_context(|| format!("reading {PATH}"))?;
    let snapshot: Snapshot =
        serde_json::from_slice(&bytes).with_context(|| format!("{PATH} is not a snapshot"))?;
    drop(bytes);
    ensure!(
        snapshot.format == FORMAT && snapshot.version == VERSION,
        "{PATH} is format {:?} version {}, not {FORMAT:?} version {VERSION}",
        snapshot.format,
        snapshot.version
    );
    let total = snapshot.transitions.len();
    let rows: Vec<Row> = snapshot
        .transitions
        .into_iter()
        .take(max_transitions)
        .enumerate()
        .map(|(i, entry)| {
            check(entry).map_err(|why| Error::msg(format!("{PATH}: transition {i}: {why}")))
        })
        .collect::<Result<_>>()?;
    let imported = rows.len();
    if let Err(e) = insert(&rows, snapshot.messages.max(0)) {
        // Never leave half a model behind.
        let _ = sql::execute("DELETE FROM chain", params![]);
        return Err(e.context(format!("importing {PATH}")));
    }
    Ok(Loaded::Imported {
        transitions: imported,
        skipped: total - imported,
    })
}

/// Inserts `rows` in as few transactions as the host's limits allow, then
/// records the snapshot as saved (it matches the database).
fn insert(rows: &[Row], messages: i64) -> Result<()> {
    let mut batch: Vec<Statement> = Vec::new();
    let mut bytes = 0usize;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from("INSERT INTO chain (ord, prefix, next, count) VALUES ");
        let mut values = Vec::with_capacity(chunk.len() * 4);
        for (i, (ord, prefix, next, count)) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?)"
            });
            bytes += prefix.len() + next.len() + 32;
            values.extend(params![*ord, prefix.as_str(), next.as_str(), *count]);
        }
        sql.push_str(
            " ON CONFLICT (ord, prefix, next) DO UPDATE SET count = count + excluded.count",
        );
        batch.push(Statement::new(sql, values));
        if bytes >= BYTES_PER_TRANSACTION {
            sql::transaction(std::mem::take(&mut batch))?;
            bytes = 0;
        }
    }
    batch.push(Statement::new(
        "UPDATE stats SET messages = ?, changes = changes + 1, saved_changes = changes + 1 \
         WHERE id = 1",
        params![messages],
    ));
    sql::transaction(batch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ord: i64, prefix: &[&str], next: &str, count: i64) -> (i64, Vec<String>, String, i64) {
        (
            ord,
            prefix.iter().map(|w| (*w).to_owned()).collect(),
            next.to_owned(),
            count,
        )
    }

    #[test]
    fn valid_transitions_become_rows() {
        assert_eq!(
            check(entry(2, &["", "hello"], "world", 3)),
            Ok((2, " hello".into(), "world".into(), 3))
        );
        assert_eq!(
            check(entry(3, &["", "", ""], "", 1)),
            Ok((3, "  ".into(), "".into(), 1))
        );
    }

    #[test]
    fn invalid_transitions_say_why() {
        let cases = [
            (entry(0, &[], "x", 1), "order 0"),
            (entry(4, &["a", "b", "c", "d"], "x", 1), "order 4"),
            (entry(2, &["a"], "x", 1), "prefix of 1 words"),
            (entry(1, &["a"], "x", 0), "count 0"),
            (entry(1, &["a"], "x", i64::MAX), "is not 1 to"),
            (entry(2, &["a", ""], "x", 1), "\"\" in a prefix"),
            (entry(1, &["a b"], "x", 1), "\"a b\" in a prefix"),
            (entry(1, &["a"], "x\u{202E}", 1), "is not a word"),
            (entry(1, &["a"], &"y".repeat(41), 1), "is not a word"),
        ];
        for (case, why) in cases {
            let error = check(case).unwrap_err();
            assert!(error.contains(why), "{error} should mention {why}");
        }
    }
}
