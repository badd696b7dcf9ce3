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
use std::io::{BufReader, Read, Write};

use std::fmt;

use rosey_sdk::prelude::*;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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

/// Reading a snapshot into the database as it is parsed: each transition is
/// checked and joined as it is read, batches go to the database as they
/// fill, and entries past the limit are only counted, so memory stays small
/// whatever the file holds.
#[derive(Debug, Default)]
struct Importer {
    /// How many transitions to import at most.
    limit: usize,
    /// Rows read and not yet written.
    pending: Vec<Row>,
    /// Their parameter bytes, roughly.
    pending_bytes: usize,
    /// Rows read (written or pending).
    read: usize,
    /// Entries in the file.
    total: usize,
    /// `format`, `version` and `messages` as read.
    format: Option<String>,
    version: Option<u32>,
    messages: i64,
    has_transitions: bool,
    /// A database error met while parsing (the parse stops with it).
    failure: Option<Error>,
}

impl Importer {
    fn new(limit: usize) -> Self {
        Importer {
            limit,
            ..Importer::default()
        }
    }

    fn push(&mut self, row: Row) -> Result<()> {
        self.pending_bytes += row.1.len() + row.2.len() + 32;
        self.pending.push(row);
        self.read += 1;
        if self.pending_bytes >= BYTES_PER_TRANSACTION {
            self.flush(Vec::new())?;
        }
        Ok(())
    }

    /// Writes the pending rows, and `then`, in one transaction.
    fn flush(&mut self, then: Vec<Statement>) -> Result<()> {
        let mut batch: Vec<Statement> = Vec::new();
        for chunk in self.pending.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from("INSERT INTO chain (ord, prefix, next, count) VALUES ");
            let mut values = Vec::with_capacity(chunk.len() * 4);
            for (i, (ord, prefix, next, count)) in chunk.iter().enumerate() {
                sql.push_str(if i == 0 {
                    "(?, ?, ?, ?)"
                } else {
                    ", (?, ?, ?, ?)"
                });
                values.extend(params![*ord, prefix.as_str(), next.as_str(), *count]);
            }
            sql.push_str(
                " ON CONFLICT (ord, prefix, next) DO UPDATE SET count = count + excluded.count",
            );
            batch.push(Statement::new(sql, values));
        }
        batch.extend(then);
        self.pending.clear();
        self.pending_bytes = 0;
        if !batch.is_empty() {
            sql::transaction(batch)?;
        }
        Ok(())
    }
}

/// One `[order, prefix, next, count]` entry, read without letting a hostile
/// one allocate more than its own text: the prefix stops at
/// [`MAX_ORDER`] words, and extra items are skipped, not stored.
struct Entry((i64, Vec<String>, String, i64));

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_seq(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a transition [order, prefix words, next word, count]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Entry, A::Error> {
        let missing = |i| de::Error::invalid_length(i, &"4 items");
        let ord: i64 = seq.next_element()?.ok_or_else(|| missing(0))?;
        let Words(prefix) = seq.next_element()?.ok_or_else(|| missing(1))?;
        let next: String = seq.next_element()?.ok_or_else(|| missing(2))?;
        let count: i64 = seq.next_element()?.ok_or_else(|| missing(3))?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a transition has 4 items"));
        }
        Ok(Entry((ord, prefix, next, count)))
    }
}

/// A prefix: at most [`MAX_ORDER`] words.
struct Words(Vec<String>);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_seq(WordsVisitor)
    }
}

struct WordsVisitor;

impl<'de> Visitor<'de> for WordsVisitor {
    type Value = Words;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {MAX_ORDER} words")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Words, A::Error> {
        let mut words = Vec::with_capacity(MAX_ORDER);
        while let Some(word) = seq.next_element::<String>()? {
            if words.len() == MAX_ORDER {
                return Err(de::Error::custom(format!(
                    "a prefix has at most {MAX_ORDER} words"
                )));
            }
            words.push(word);
        }
        Ok(Words(words))
    }
}

/// The snapshot object.
struct SnapshotSeed<'a>(&'a mut Importer);

impl<'de> DeserializeSeed<'de> for SnapshotSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SnapshotSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a markov-chat snapshot object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => self.0.format = Some(map.next_value()?),
                "version" => self.0.version = Some(map.next_value()?),
                "messages" => self.0.messages = map.next_value()?,
                "transitions" => {
                    map.next_value_seed(TransitionsSeed(&mut *self.0))?;
                    self.0.has_transitions = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The `transitions` array.
struct TransitionsSeed<'a>(&'a mut Importer);

impl<'de> DeserializeSeed<'de> for TransitionsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TransitionsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of [order, prefix, next, count] transitions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let importer = self.0;
        loop {
            if importer.read < importer.limit {
                let Some(Entry(entry)) = seq.next_element::<Entry>()? else {
                    break;
                };
                let at = importer.total;
                let row = check(entry)
                    .map_err(|why| de::Error::custom(format!("transition {at}: {why}")))?;
                if let Err(e) = importer.push(row) {
                    importer.failure = Some(e);
                    return Err(de::Error::custom("the database refused the import"));
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            importer.total += 1;
        }
        Ok(())
    }
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
    let file = match fs::File::open(PATH) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(Error::from(e).context(format!("reading {PATH}"))),
    };
    let size = file
        .metadata()
        .with_context(|| format!("reading {PATH}"))?
        .len();
    ensure!(
        size <= MAX_BYTES,
        "{PATH} is {size} bytes, more than the {MAX_BYTES} this plugin reads"
    );
    let mut importer = Importer::new(max_transitions);
    let result = import(&mut importer, BufReader::new(file.take(MAX_BYTES)));
    if let Err(e) = result {
        // Never leave part of a refused snapshot behind: the chain was
        // empty before.
        let _ = sql::execute("DELETE FROM chain", params![]);
        return Err(e);
    }
    Ok(Loaded::Imported {
        transitions: importer.read,
        skipped: importer.total - importer.read,
    })
}

/// Parses `reader` into `importer`, checks the header, writes the rest and
/// records the snapshot as saved (it matches the database now).
fn import(importer: &mut Importer, reader: impl Read) -> Result<()> {
    let mut json = serde_json::Deserializer::from_reader(reader);
    let parsed = SnapshotSeed(&mut *importer)
        .deserialize(&mut json)
        .and_then(|()| json.end());
    if let Some(failure) = importer.failure.take() {
        return Err(failure.context(format!("importing {PATH}")));
    }
    parsed.context(PATH)?;
    ensure!(
        importer.format.as_deref() == Some(FORMAT) && importer.version == Some(VERSION),
        "{PATH} is format {:?} version {:?}, not {FORMAT:?} version {VERSION}",
        importer.format.clone().unwrap_or_default(),
        importer.version
    );
    ensure!(importer.has_transitions, "{PATH} has no transitions");
    let messages = importer.messages.max(0);
    importer
        .flush(vec![Statement::new(
            "UPDATE stats SET messages = ?, changes = changes + 1, saved_changes = changes + 1 \
             WHERE id = 1",
            params![messages],
        )])
        .with_context(|| format!("importing {PATH}"))
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

    /// Parses `text` as `load` does, without a database (nothing is flushed
    /// below `BYTES_PER_TRANSACTION`).
    fn read(text: &str, limit: usize) -> std::result::Result<Importer, String> {
        let mut importer = Importer::new(limit);
        let mut json = serde_json::Deserializer::from_str(text);
        SnapshotSeed(&mut importer)
            .deserialize(&mut json)
            .and_then(|()| json.end())
            .map_err(|e| e.to_string())?;
        Ok(importer)
    }

    #[test]
    fn reading_keeps_at_most_the_limit_and_counts_the_rest() {
        let text = r#"{"format": "rosey-markov-chat", "version": 1, "extra": {"ignored": [1]},
            "transitions": [[1, [""], "a", 1], [1, ["a"], "", 1], [1, ["a"], "b", 2], [9, 9]],
            "messages": 4}"#;
        let read = read(text, 2).unwrap();
        assert_eq!(read.format.as_deref(), Some(FORMAT));
        assert_eq!(read.version, Some(1));
        assert_eq!(read.messages, 4);
        assert_eq!(
            read.pending,
            [
                (1, String::new(), "a".into(), 1),
                (1, "a".into(), String::new(), 1)
            ]
        );
        assert_eq!(
            (read.read, read.total),
            (2, 4),
            "entries past the limit are counted, not read"
        );
    }

    #[test]
    fn reading_stops_at_the_first_bad_transition_or_bad_json() {
        let bad = r#"{"transitions": [[1, [""], "a", 1], [1, ["a b"], "c", 1]]}"#;
        let error = read(bad, 10).err().unwrap();
        assert!(
            error.starts_with("transition 1: \"a b\" in a prefix"),
            "{error}"
        );
        assert!(read(r#"{"transitions": [[1, "x", "a", 1]]}"#, 10).is_err());
        assert!(read(r#"{"transitions": [[1, ["a"], "b"]]}"#, 10).is_err());
        assert!(read(r#"{"transitions": [[1, ["a"], "b", 1, 5]]}"#, 10).is_err());
        let long_prefix = format!(
            r#"{{"transitions": [[1, [{}""], "b", 1]]}}"#,
            "\"\", ".repeat(100_000)
        );
        let error = read(&long_prefix, 10).err().unwrap();
        assert!(error.starts_with("a prefix has at most 3 words"), "{error}");
        assert!(read("[]", 10).is_err());
        assert!(read(r#"{"transitions": []} trailing"#, 10).is_err());
        let empty = read("{}", 10).unwrap();
        assert!(!empty.has_transitions && empty.format.is_none());
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
