//! `rosey db shell [PLUGIN] [--write]`: an SQL shell on a plugin's (or the
//! host's) SQLite database, as a user of the `sqlite3` command expects it.
//!
//! Read-only unless `--write`. Statements may span lines and run once the
//! text typed so far is complete (the rules of `sqlite3_complete`); lines
//! starting with `.` are shell commands (`.help`). On a terminal it edits
//! lines and keeps a history; otherwise it reads statements from stdin with
//! no prompt, and fails (exit 1) if any statement failed.

use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use rusqlite::config::DbConfig;
use rusqlite::fallible_iterator::FallibleIterator as _;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Connection, ErrorCode, OpenFlags, Statement};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

/// How long a statement waits for a lock the host holds before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Blobs longer than this are shown truncated in table mode.
const BLOB_SHOWN_BYTES: usize = 32;

/// The prompt while a statement is still incomplete.
const CONTINUATION_PROMPT: &str = "   ...> ";

/// Lines kept in the history file.
const HISTORY_LINES: usize = 1000;

/// What `.help` prints.
const HELP: &str = "\
.help                   show this text
.tables                 list the tables and views
.schema [TABLE]         show the CREATE statements (of one table, its indexes and triggers)
.mode [table|csv|json]  show or set how query results print:
                          table  aligned columns, NULL as NULL, blobs as x'..' (the default)
                          csv    a header row, then RFC 4180 rows; NULL as an empty field
                          json   one JSON object per row (JSON lines)
.quit, .exit            leave the shell (so does Ctrl-D)
SQL statements end with `;` and may span lines; Ctrl-C drops the statement being typed.";

/// The dot commands known, for the unknown-command error.
const KNOWN_COMMANDS: &str = ".help, .tables, .schema, .mode, .quit, .exit";

/// How `rosey db shell` runs.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    /// Allow statements that change the database (`--write`).
    pub write: bool,
    /// Where the interactive line history is kept; `None` keeps none.
    pub history: Option<PathBuf>,
    /// What the database belongs to ("quote-bot", "host"): the prompt, and
    /// the command suggested when a write is refused.
    pub title: String,
}

impl ShellOptions {
    /// The command that reopens this database for writing.
    fn write_command(&self) -> String {
        if self.title == "host" {
            "rosey db shell --write".to_owned()
        } else {
            format!("rosey db shell {} --write", self.title)
        }
    }
}

/// Open the database at `db_path` for the shell: read-only (twice guarded:
/// the open flags and `PRAGMA query_only`) unless `write`; with `write`,
/// read-write but never creating a missing file. Waits for the host's
/// locks up to [`BUSY_TIMEOUT`].
pub fn open(db_path: &Path, write: bool) -> Result<Connection> {
    if !db_path.is_file() {
        bail!(
            "there is no database at {} (the shell does not create one)",
            db_path.display()
        );
    }
    // No SQLITE_OPEN_CREATE in either mode: a file deleted since the check
    // above still fails to open rather than coming back empty.
    let access = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let conn = Connection::open_with_flags(db_path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("could not open database {}", db_path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .context("could not set the busy timeout")?;
    // The file's schema was written by a plugin: do not let its views and
    // triggers call functions with side effects, nor let a stray
    // `PRAGMA writable_schema` corrupt it.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
        .context("could not distrust the schema")?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .context("could not turn on defensive mode")?;
    if write {
        // As the host opens plugin databases.
        conn.pragma_update(None, "foreign_keys", "ON")
            .context("could not turn on foreign keys")?;
    } else {
        conn.pragma_update(None, "query_only", "ON")
            .context("could not make the connection query-only")?;
    }
    // Read something now, so that a file that is not a database fails here,
    // not at the first statement.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .with_context(|| format!("{} is not a readable SQLite database", db_path.display()))?;
    Ok(conn)
}

/// Run the shell on the database at `db_path`. Interactive when stdin is a
/// terminal (line editing, and the history in `options.history`);
/// otherwise reads statements from stdin with no prompt, and returns an
/// error at the end if any of them failed.
pub fn run(db_path: &Path, options: &ShellOptions) -> Result<()> {
    let conn = open(db_path, options.write)?;
    if io::stdin().is_terminal() {
        return interactive(&conn, db_path, options);
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut err = io::stderr().lock();
    let failures = run_with(&conn, io::stdin().lock(), &mut out, &mut err, options)?;
    out.flush().context("could not write to stdout")?;
    if failures > 0 {
        bail!(
            "{failures} statement{} failed",
            if failures == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// The shell without a terminal: reads lines from `input` (no prompt),
/// writes results to `out` and errors to `err`, and returns how many
/// statements and commands failed. An error is returned only when reading
/// or writing fails.
pub fn run_with(
    conn: &Connection,
    mut input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
    options: &ShellOptions,
) -> Result<u32> {
    let mut shell = Shell::new(conn, options);
    let mut raw = Vec::new();
    let mut number = 0u64;
    loop {
        raw.clear();
        number += 1;
        let read = input
            .read_until(b'\n', &mut raw)
            .context("could not read the input")?;
        if read == 0 {
            break;
        }
        let line = std::str::from_utf8(&raw)
            .with_context(|| format!("line {number} of the input is not UTF-8"))?;
        let line = line.trim_end_matches(['\n', '\r']);
        if shell.feed(line, out, err)? == Flow::Quit {
            return Ok(shell.failures);
        }
    }
    shell.finish(out, err)?;
    Ok(shell.failures)
}

/// The shell on a terminal, with rustyline.
fn interactive(conn: &Connection, db_path: &Path, options: &ShellOptions) -> Result<()> {
    let config = rustyline::Config::builder()
        .max_history_size(HISTORY_LINES)
        .context("could not configure the line editor")?
        .auto_add_history(false)
        .build();
    let mut editor =
        DefaultEditor::with_config(config).context("could not set up the line editor")?;
    let mut out = io::stdout().lock();
    let mut err = io::stderr().lock();
    if let Some(history) = &options.history
        && history.exists()
        && let Err(error) = editor.load_history(history)
    {
        writeln!(
            err,
            "warning: could not read the history {}: {error}",
            history.display()
        )?;
    }
    writeln!(
        out,
        "{} ({}, {}). End statements with `;`; `.help` for commands, Ctrl-D to leave.",
        options.title,
        db_path.display(),
        if options.write {
            "read-write"
        } else {
            "read-only"
        }
    )?;
    let prompt = format!("{}> ", options.title);
    let mut shell = Shell::new(conn, options);
    loop {
        let shown = if shell.pending() {
            CONTINUATION_PROMPT
        } else {
            prompt.as_str()
        };
        match editor.readline(shown) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    // A history that cannot grow is no reason to stop.
                    let _ = editor.add_history_entry(line.as_str());
                }
                if shell.feed(&line, &mut out, &mut err)? == Flow::Quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => shell.interrupt(),
            Err(ReadlineError::Eof) => {
                if shell.pending() {
                    writeln!(err, "(dropped the unfinished statement)")?;
                }
                break;
            }
            Err(error) => return Err(error).context("could not read a line"),
        }
    }
    if let Some(history) = &options.history
        && let Err(error) = save_history(&mut editor, history)
    {
        writeln!(
            err,
            "warning: could not save the history to {}: {error:#}",
            history.display()
        )?;
    }
    Ok(())
}

/// Save the line history to `path`, making its folder if need be
/// (rustyline keeps the file private to its owner).
fn save_history(editor: &mut DefaultEditor, path: &Path) -> Result<()> {
    if let Some(folder) = path.parent()
        && !folder.as_os_str().is_empty()
    {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("could not create {}", folder.display()))?;
    }
    editor.save_history(path)?;
    Ok(())
}

/// Whether the shell goes on after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// How query results print (`.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Table,
    Csv,
    Json,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Table => "table",
            Mode::Csv => "csv",
            Mode::Json => "json",
        }
    }
}

/// What one statement gave.
enum Outcome {
    /// A statement with result columns (a query, `RETURNING`, most pragmas).
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Value>>,
    },
    /// A statement without: how many rows it inserted, updated or deleted.
    Changed(u64),
}

/// One result cell, owned.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<ValueRef<'_>> for Value {
    fn from(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

/// A statement that failed.
enum Failure {
    /// A write while the shell is read-only.
    ReadOnly,
    /// SQLite said no.
    Sql(rusqlite::Error),
}

/// The shell's state between lines.
struct Shell<'a> {
    conn: &'a Connection,
    options: &'a ShellOptions,
    mode: Mode,
    /// The statement text typed so far.
    buffer: String,
    failures: u32,
}

impl<'a> Shell<'a> {
    fn new(conn: &'a Connection, options: &'a ShellOptions) -> Self {
        Self {
            conn,
            options,
            mode: Mode::Table,
            buffer: String::new(),
            failures: 0,
        }
    }

    /// Whether an unfinished statement waits for more lines.
    fn pending(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Ctrl-C: drop what was typed.
    fn interrupt(&mut self) {
        self.buffer.clear();
    }

    /// Take one line: a dot command, or more of a statement (run once
    /// complete).
    fn feed(&mut self, line: &str, out: &mut impl Write, err: &mut impl Write) -> Result<Flow> {
        if self.buffer.is_empty() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                return Ok(Flow::Continue);
            }
            if trimmed.starts_with('.') {
                return self.command(trimmed, out, err);
            }
        }
        self.buffer.push_str(line);
        self.buffer.push('\n');
        if is_complete(&self.buffer) {
            let sql = std::mem::take(&mut self.buffer);
            self.execute(&sql, out, err)?;
        }
        Ok(Flow::Continue)
    }

    /// End of input: run what is left (`select 1` without `;` is fine at
    /// the end of a script; text SQLite finds incomplete fails).
    fn finish(&mut self, out: &mut impl Write, err: &mut impl Write) -> Result<()> {
        let sql = std::mem::take(&mut self.buffer);
        if !sql.trim().is_empty() {
            self.execute(&sql, out, err)?;
        }
        Ok(())
    }

    /// Run every statement in `sql`, stopping at the first that fails (as
    /// `sqlite3` does with one input chunk).
    fn execute(&mut self, sql: &str, out: &mut impl Write, err: &mut impl Write) -> Result<()> {
        let mut batch = Batch::new(self.conn, sql);
        loop {
            let outcome = match batch.next() {
                Ok(None) => break,
                Ok(Some(mut statement)) => self.step(&mut statement),
                Err(error) => Err(Failure::Sql(error)),
            };
            match outcome {
                Ok(outcome) => {
                    self.print(&outcome, out)?;
                    out.flush().context("could not write the results")?;
                }
                Err(failure) => {
                    self.failures += 1;
                    self.report(&failure, err)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Run one prepared statement to the end, collecting its rows.
    fn step(&self, statement: &mut Statement<'_>) -> Result<Outcome, Failure> {
        if !self.options.write && !statement.readonly() {
            return Err(Failure::ReadOnly);
        }
        let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let before = self.conn.total_changes();
        // Unbound parameters (`select ?`) are NULL, as in sqlite3.
        let mut rows = statement.raw_query();
        let mut collected = Vec::new();
        while let Some(row) = rows.next().map_err(Failure::Sql)? {
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                values.push(Value::from(row.get_ref(i).map_err(Failure::Sql)?));
            }
            collected.push(values);
        }
        if columns.is_empty() {
            Ok(Outcome::Changed(
                self.conn.total_changes().saturating_sub(before),
            ))
        } else {
            Ok(Outcome::Rows {
                columns,
                rows: collected,
            })
        }
    }

    /// Print an error as `error: ...` (and where in the statement for a
    /// syntax error).
    fn report(&self, failure: &Failure, err: &mut impl Write) -> Result<()> {
        let read_only = match failure {
            Failure::ReadOnly => true,
            Failure::Sql(error) => {
                !self.options.write && error.sqlite_error_code() == Some(ErrorCode::ReadOnly)
            }
        };
        if read_only {
            writeln!(
                err,
                "error: the database is open read-only; run `{}` to change it",
                self.options.write_command()
            )?;
            return Ok(());
        }
        let Failure::Sql(error) = failure else {
            return Ok(());
        };
        match error {
            rusqlite::Error::SqlInputError {
                msg, sql, offset, ..
            } => {
                writeln!(err, "error: {msg}")?;
                if let Some(pointer) = point_at(sql, *offset) {
                    writeln!(err, "{pointer}")?;
                }
            }
            other => writeln!(err, "error: {other}")?,
        }
        Ok(())
    }

    /// Print what a statement gave, in the current mode.
    fn print(&self, outcome: &Outcome, out: &mut impl Write) -> Result<()> {
        match (outcome, self.mode) {
            (Outcome::Changed(n), Mode::Table) => writeln!(out, "OK ({n} changed)")?,
            // csv and json stay parseable: nothing for statements without rows.
            (Outcome::Changed(_), _) => {}
            (Outcome::Rows { columns, rows }, Mode::Table) => {
                out.write_all(render_table(columns, rows).as_bytes())?;
            }
            (Outcome::Rows { columns, rows }, Mode::Csv) => {
                out.write_all(render_csv(columns, rows).as_bytes())?;
            }
            (Outcome::Rows { columns, rows }, Mode::Json) => {
                out.write_all(render_json(columns, rows)?.as_bytes())?;
            }
        }
        Ok(())
    }

    /// A line starting with `.`.
    fn command(&mut self, line: &str, out: &mut impl Write, err: &mut impl Write) -> Result<Flow> {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        let result = match (name, args.as_slice()) {
            (".quit" | ".exit", []) => return Ok(Flow::Quit),
            (".help", []) => writeln!(out, "{HELP}").map_err(anyhow::Error::from),
            (".tables", []) => self.tables(out),
            (".schema", []) => self.schema(None, out),
            (".schema", [table]) => self.schema(Some(*table), out),
            (".mode", []) => writeln!(out, "{}", self.mode.name()).map_err(anyhow::Error::from),
            (".mode", [mode]) => match *mode {
                "table" => self.set_mode(Mode::Table),
                "csv" => self.set_mode(Mode::Csv),
                "json" => self.set_mode(Mode::Json),
                other => Err(anyhow::anyhow!(
                    "unknown mode {other:?}; the modes are table, csv and json"
                )),
            },
            (".quit" | ".exit" | ".help" | ".tables" | ".schema" | ".mode", _) => Err(
                anyhow::anyhow!("wrong arguments to {name}; see .help for its usage"),
            ),
            _ => Err(anyhow::anyhow!(
                "unknown command {name:?}; the commands are {KNOWN_COMMANDS}"
            )),
        };
        if let Err(error) = result {
            self.failures += 1;
            writeln!(err, "error: {error:#}")?;
        }
        out.flush().context("could not write the results")?;
        Ok(Flow::Continue)
    }

    fn set_mode(&mut self, mode: Mode) -> Result<()> {
        self.mode = mode;
        Ok(())
    }

    /// `.tables`: user tables and views, sorted, one a line.
    fn tables(&self, out: &mut impl Write) -> Result<()> {
        let mut statement = self.conn.prepare(
            "SELECT name FROM sqlite_schema
             WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
             ORDER BY name",
        )?;
        let names = statement.query_map([], |row| row.get::<_, String>(0))?;
        for name in names {
            writeln!(out, "{}", escape_controls(&name?))?;
        }
        Ok(())
    }

    /// `.schema [TABLE]`: the CREATE statements, of everything or of one
    /// table or view with its indexes and triggers, in creation order.
    fn schema(&self, table: Option<&str>, out: &mut impl Write) -> Result<()> {
        let mut statement = self.conn.prepare(
            "SELECT sql FROM sqlite_schema
             WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND (?1 IS NULL OR tbl_name = ?1 COLLATE NOCASE)
             ORDER BY rowid",
        )?;
        let sqls: Vec<String> = statement
            .query_map([table], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        if sqls.is_empty()
            && let Some(table) = table
        {
            bail!("no table or view named {table:?}");
        }
        for sql in sqls {
            writeln!(out, "{};", escape_controls_keep_newlines(&sql))?;
        }
        Ok(())
    }
}

/// The line of `sql` holding byte `offset`, and a caret under it.
fn point_at(sql: &str, offset: i32) -> Option<String> {
    let offset = usize::try_from(offset).ok()?;
    if offset > sql.len() || !sql.is_char_boundary(offset) {
        return None;
    }
    let start = sql[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = sql[offset..].find('\n').map_or(sql.len(), |i| offset + i);
    let line = escape_controls(&sql[start..end]);
    let column = escape_controls(&sql[start..offset]).chars().count();
    Some(format!("  {line}\n  {}^--- here", " ".repeat(column)))
}

/// Whether `sql` ends a statement: the rules of SQLite's `sqlite3_complete`
/// (a `;` outside strings, quoted names and comments, and for
/// `CREATE TRIGGER` only the `;` after its `END`).
fn is_complete(sql: &str) -> bool {
    #[derive(Clone, Copy)]
    enum Token {
        Semi = 0,
        Space = 1,
        Other = 2,
        Explain = 3,
        Create = 4,
        Temp = 5,
        Trigger = 6,
        End = 7,
    }
    // States: 0 invalid, 1 start, 2 normal, 3 explain, 4 create, 5 trigger,
    // 6 semi (inside a trigger), 7 end (inside a trigger). From complete.c.
    const NEXT: [[u8; 8]; 8] = [
        // SEMI WS OTHER EXPLAIN CREATE TEMP TRIGGER END
        [1, 0, 2, 3, 4, 2, 2, 2], // 0 invalid
        [1, 1, 2, 3, 4, 2, 2, 2], // 1 start
        [1, 2, 2, 2, 2, 2, 2, 2], // 2 normal
        [1, 3, 3, 2, 4, 2, 2, 2], // 3 explain
        [1, 4, 2, 2, 2, 4, 5, 2], // 4 create
        [6, 5, 5, 5, 5, 5, 5, 5], // 5 trigger
        [6, 6, 5, 5, 5, 5, 5, 7], // 6 semi
        [1, 7, 5, 5, 5, 5, 5, 5], // 7 end
    ];
    fn is_id(byte: u8) -> bool {
        byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
    }

    let bytes = sql.as_bytes();
    let mut state = 0u8;
    let mut i = 0;
    while i < bytes.len() {
        let token = match bytes[i] {
            b';' => {
                i += 1;
                Token::Semi
            }
            b' ' | b'\r' | b'\t' | b'\n' | b'\x0c' => {
                i += 1;
                Token::Space
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                match find(bytes, i + 2, b"*/") {
                    Some(end) => i = end + 2,
                    None => return false,
                }
                Token::Space
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                match find(bytes, i + 2, b"\n") {
                    Some(end) => i = end + 1,
                    None => return state == 1,
                }
                Token::Space
            }
            b'[' => {
                match find(bytes, i + 1, b"]") {
                    Some(end) => i = end + 1,
                    None => return false,
                }
                Token::Other
            }
            quote @ (b'`' | b'"' | b'\'') => {
                match find(bytes, i + 1, &[quote]) {
                    Some(end) => i = end + 1,
                    None => return false,
                }
                Token::Other
            }
            byte if is_id(byte) => {
                let start = i;
                while i < bytes.len() && is_id(bytes[i]) {
                    i += 1;
                }
                let word = &bytes[start..i];
                let is = |keyword: &str| word.eq_ignore_ascii_case(keyword.as_bytes());
                if is("create") {
                    Token::Create
                } else if is("trigger") {
                    Token::Trigger
                } else if is("temp") || is("temporary") {
                    Token::Temp
                } else if is("end") {
                    Token::End
                } else if is("explain") {
                    Token::Explain
                } else {
                    Token::Other
                }
            }
            _ => {
                i += 1;
                Token::Other
            }
        };
        state = NEXT[usize::from(state)][token as usize];
    }
    state == 1
}

/// Where `needle` next occurs in `haystack` at or after `from`.
fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| from + at)
}

/// A cell as table mode shows it: one line, no terminal control codes.
fn display(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => format!("{r:?}"),
        Value::Text(t) => escape_controls(t),
        Value::Blob(b) if b.len() > BLOB_SHOWN_BYTES => format!(
            "x'{}'... ({} bytes)",
            hex::encode(&b[..BLOB_SHOWN_BYTES]),
            b.len()
        ),
        Value::Blob(b) => format!("x'{}'", hex::encode(b)),
    }
}

/// `text` with every control character written out (`\n`, `\t`, `\x1b`):
/// what a plugin stored must not move the cursor or recolour the terminal,
/// nor break a table's alignment.
fn escape_controls(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(escaped, "\\x{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// [`escape_controls`], but keeping line breaks (for `CREATE` statements).
fn escape_controls_keep_newlines(text: &str) -> String {
    text.split('\n')
        .map(escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}

/// An aligned table: a header row, a rule, the rows (numbers right-aligned)
/// and a `(N rows)` line.
fn render_table(columns: &[String], rows: &[Vec<Value>]) -> String {
    let header: Vec<String> = columns.iter().map(|c| escape_controls(c)).collect();
    let cells: Vec<Vec<(String, bool)>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|value| {
                    let numeric = matches!(value, Value::Integer(_) | Value::Real(_));
                    (display(value), numeric)
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (width, (cell, _)) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = (&str, bool)>| {
        let mut row = String::new();
        for (i, ((cell, right), width)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                row.push_str("  ");
            }
            let pad = width.saturating_sub(cell.chars().count());
            if right {
                row.push_str(&" ".repeat(pad));
                row.push_str(cell);
            } else {
                row.push_str(cell);
                row.push_str(&" ".repeat(pad));
            }
        }
        text.push_str(row.trim_end());
        text.push('\n');
    };
    line(&mut header.iter().map(|h| (h.as_str(), false)));
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut rules.iter().map(|r| (r.as_str(), false)));
    for row in &cells {
        line(&mut row.iter().map(|(cell, right)| (cell.as_str(), *right)));
    }
    let count = rows.len();
    let _ = writeln!(text, "({count} row{})", if count == 1 { "" } else { "s" });
    text
}

/// A header row and the rows, RFC 4180: fields with `,`, `"` or line
/// breaks quoted; NULL empty; blobs as `x'..'` in full.
fn render_csv(columns: &[String], rows: &[Vec<Value>]) -> String {
    fn field(text: &str) -> String {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    }
    let mut text = String::new();
    let header: Vec<String> = columns.iter().map(|c| field(c)).collect();
    text.push_str(&header.join(","));
    text.push_str("\r\n");
    for row in rows {
        let fields: Vec<String> = row
            .iter()
            .map(|value| match value {
                Value::Null => String::new(),
                Value::Integer(i) => i.to_string(),
                Value::Real(r) => format!("{r:?}"),
                Value::Text(t) => field(t),
                Value::Blob(b) => format!("x'{}'", hex::encode(b)),
            })
            .collect();
        text.push_str(&fields.join(","));
        text.push_str("\r\n");
    }
    text
}

/// One JSON object per row, keys in column order (a repeated column name
/// repeats its key); blobs as hex strings.
fn render_json(columns: &[String], rows: &[Vec<Value>]) -> Result<String> {
    let keys = columns
        .iter()
        .map(serde_json::to_string)
        .collect::<serde_json::Result<Vec<_>>>()
        .context("could not write a column name as JSON")?;
    let mut text = String::new();
    for row in rows {
        text.push('{');
        for (i, (key, value)) in keys.iter().zip(row).enumerate() {
            let value = match value {
                Value::Null => serde_json::Value::Null,
                Value::Integer(i) => serde_json::Value::from(*i),
                // Infinities become null: JSON has no number for them.
                Value::Real(r) => serde_json::Value::from(*r),
                Value::Text(t) => serde_json::Value::from(t.as_str()),
                Value::Blob(b) => serde_json::Value::from(hex::encode(b)),
            };
            if i > 0 {
                text.push(',');
            }
            text.push_str(key);
            text.push(':');
            text.push_str(&value.to_string());
        }
        text.push_str("}\n");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(write: bool) -> ShellOptions {
        ShellOptions {
            write,
            history: None,
            title: "quote-bot".to_owned(),
        }
    }

    /// A plugin-like database in WAL mode, as the host leaves it; the
    /// writer connection stays open, as a running host's would.
    fn fixture() -> (tempfile::TempDir, PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE quotes (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     text TEXT NOT NULL,
                     added_by TEXT,
                     picture BLOB
                 );
                 CREATE INDEX quotes_by ON quotes (added_by);
                 CREATE TABLE authors (name TEXT PRIMARY KEY);
                 CREATE VIEW recent AS SELECT text FROM quotes ORDER BY id DESC;
                 INSERT INTO quotes (text, added_by, picture) VALUES
                     ('hello', 'ann', x'00ff10'),
                     ('world', NULL, NULL);",
            )
            .unwrap();
        (dir, path, writer)
    }

    /// Run `script` on `conn`; what went to stdout, to stderr, and the
    /// failure count.
    fn shell(conn: &Connection, script: &str, write: bool) -> (String, String, u32) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let failures =
            run_with(conn, script.as_bytes(), &mut out, &mut err, &options(write)).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            failures,
        )
    }

    fn quote_count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM quotes", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn read_only_refuses_a_write_says_how_and_goes_on() {
        let (_dir, path, writer) = fixture();
        let conn = open(&path, false).unwrap();
        let (out, err, failures) = shell(
            &conn,
            "INSERT INTO quotes (text) VALUES ('sneaky');\n\
             DELETE FROM quotes;\n\
             SELECT count(*) AS n FROM quotes;\n",
            false,
        );
        assert_eq!(failures, 2, "{err}");
        assert_eq!(
            err.lines().next().unwrap(),
            "error: the database is open read-only; \
             run `rosey db shell quote-bot --write` to change it"
        );
        assert!(out.contains("n\n-\n2\n(1 row)\n"), "{out}");
        assert_eq!(quote_count(&writer), 2);
    }

    #[test]
    fn read_only_holds_without_the_shell_guard() {
        // The open flags and query_only stop writes even for SQL that never
        // goes through the shell's own check, and dropping query_only does
        // not help.
        let (_dir, path, writer) = fixture();
        let conn = open(&path, false).unwrap();
        let error = conn
            .execute("INSERT INTO quotes (text) VALUES ('x')", [])
            .unwrap_err();
        assert_eq!(error.sqlite_error_code(), Some(ErrorCode::ReadOnly));
        conn.pragma_update(None, "query_only", "OFF").unwrap();
        let error = conn
            .execute("INSERT INTO quotes (text) VALUES ('x')", [])
            .unwrap_err();
        assert_eq!(error.sqlite_error_code(), Some(ErrorCode::ReadOnly));
        assert_eq!(quote_count(&writer), 2);

        // Nor do statements that change the file without changing rows.
        for sql in ["VACUUM;", "PRAGMA user_version = 7;", "CREATE TABLE t (x);"] {
            let (_, err, failures) = shell(&conn, sql, false);
            assert_eq!(failures, 1, "{sql}");
            assert!(err.contains("open read-only"), "{sql}: {err}");
        }
        let version: i64 = writer
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, 0);
    }

    #[test]
    fn a_readonly_error_from_sqlite_gets_the_same_advice() {
        let conn = Connection::open_in_memory().unwrap();
        let options = options(false);
        let shell = Shell::new(&conn, &options);
        let failure = Failure::Sql(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            Some("attempt to write a readonly database".to_owned()),
        ));
        let mut err = Vec::new();
        shell.report(&failure, &mut err).unwrap();
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: the database is open read-only; \
             run `rosey db shell quote-bot --write` to change it\n"
        );
    }

    #[test]
    fn read_only_allows_what_only_reads() {
        let (_dir, path, _writer) = fixture();
        let conn = open(&path, false).unwrap();
        let (out, err, failures) = shell(
            &conn,
            "SELECT * FROM recent;\n\
             PRAGMA table_info(quotes);\n\
             PRAGMA user_version;\n\
             EXPLAIN QUERY PLAN SELECT * FROM quotes WHERE added_by = 'ann';\n\
             WITH t(x) AS (SELECT 1) SELECT x FROM t;\n\
             BEGIN; SELECT count(*) FROM quotes; COMMIT;\n",
            false,
        );
        assert_eq!(failures, 0, "{err}");
        assert!(err.is_empty(), "{err}");
        assert!(out.contains("world\nhello\n(2 rows)"), "{out}");
        assert!(out.contains("added_by"), "{out}");
    }

    #[test]
    fn write_mode_changes_and_counts() {
        let (_dir, path, writer) = fixture();
        let conn = open(&path, true).unwrap();
        let (out, err, failures) = shell(
            &conn,
            "INSERT INTO quotes (text) VALUES ('new');\n\
             UPDATE quotes SET added_by = 'bob';\n\
             CREATE TABLE extra (x);\n\
             INSERT INTO quotes (text) VALUES ('two') RETURNING id;\n",
            true,
        );
        assert_eq!(failures, 0, "{err}");
        assert_eq!(
            out,
            "OK (1 changed)\nOK (3 changed)\nOK (0 changed)\nid\n--\n 4\n(1 row)\n"
        );
        assert_eq!(quote_count(&writer), 4);
    }

    #[test]
    fn write_mode_keeps_foreign_keys() {
        let (_dir, path, writer) = fixture();
        writer
            .execute_batch("CREATE TABLE likes (quote INTEGER NOT NULL REFERENCES quotes (id));")
            .unwrap();
        let conn = open(&path, true).unwrap();
        let (_, err, failures) = shell(&conn, "INSERT INTO likes VALUES (99);\n", true);
        assert_eq!(failures, 1);
        assert!(err.contains("FOREIGN KEY constraint failed"), "{err}");
    }

    #[test]
    fn a_missing_database_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nothing.db");
        for write in [true, false] {
            let error = open(&path, write).unwrap_err().to_string();
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert!(error.contains("no database"), "{error}");
            assert!(!path.exists());
        }
    }

    #[test]
    fn a_file_that_is_not_a_database_fails_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "this is not SQLite, it is a long enough text file").unwrap();
        let error = format!("{:#}", open(&path, false).unwrap_err());
        assert!(error.contains("not a readable SQLite database"), "{error}");
    }

    #[test]
    fn statements_span_lines_and_share_lines() {
        let conn = Connection::open_in_memory().unwrap();
        let (out, err, failures) = shell(
            &conn,
            "SELECT\n  1 + 1\n  AS two;\n\
             SELECT 'a;\nb' AS s; -- a comment; with a semicolon\n\
             SELECT 3 AS three; SELECT 4 AS four;\n",
            false,
        );
        assert_eq!(failures, 0, "{err}");
        assert_eq!(
            out,
            "two\n---\n  2\n(1 row)\n\
             s\n-----\na;\\nb\n(1 row)\n\
             three\n-----\n    3\n(1 row)\n\
             four\n----\n   4\n(1 row)\n"
        );
    }

    #[test]
    fn the_end_of_input_runs_an_unterminated_statement() {
        let conn = Connection::open_in_memory().unwrap();
        let (out, _, failures) = shell(&conn, "SELECT 42 AS answer", false);
        assert_eq!(failures, 0);
        assert!(out.contains("    42\n(1 row)"), "{out}");
        let (_, err, failures) = shell(&conn, "SELECT (1 +", false);
        assert_eq!(failures, 1);
        assert!(err.starts_with("error: "), "{err}");
    }

    #[test]
    fn nulls_blobs_reals_and_control_codes_render_safely() {
        let conn = Connection::open_in_memory().unwrap();
        let (out, err, failures) = shell(
            &conn,
            "SELECT NULL AS n, x'00ff' AS b, zeroblob(100) AS big, 1.0 AS r, \
             char(27) || '[31mred' AS evil, ? AS unbound;\n",
            false,
        );
        assert_eq!(failures, 0, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["n", "b", "big", "r", "evil", "unbound"]
        );
        let row = lines[2];
        assert!(row.starts_with("NULL  x'00ff'  x'"), "{row}");
        assert!(
            row.contains(&format!(
                "x'{}'... (100 bytes)",
                "00".repeat(BLOB_SHOWN_BYTES)
            )),
            "{row}"
        );
        assert!(row.contains("1.0"), "{row}");
        assert!(row.contains("\\x{1b}[31mred"), "{row}");
        assert!(row.ends_with("NULL"), "{row}");
        assert!(!out.contains('\x1b'));
        assert_eq!(lines[3], "(1 row)");
    }

    #[test]
    fn tables_lists_tables_and_views_sorted_without_internals() {
        let (_dir, path, _writer) = fixture();
        let conn = open(&path, false).unwrap();
        let (out, err, failures) = shell(&conn, ".tables\n", false);
        assert_eq!(failures, 0, "{err}");
        // AUTOINCREMENT made sqlite_sequence; it stays hidden.
        assert_eq!(out, "authors\nquotes\nrecent\n");
    }

    #[test]
    fn schema_shows_create_statements() {
        let (_dir, path, _writer) = fixture();
        let conn = open(&path, false).unwrap();
        let (out, err, failures) = shell(&conn, ".schema QUOTES\n", false);
        assert_eq!(failures, 0, "{err}");
        assert!(out.starts_with("CREATE TABLE quotes (\n"), "{out}");
        assert!(
            out.contains(");\nCREATE INDEX quotes_by ON quotes (added_by);\n"),
            "{out}"
        );
        assert!(!out.contains("authors"), "{out}");

        let (out, _, _) = shell(&conn, ".schema\n", false);
        for name in [
            "TABLE quotes",
            "INDEX quotes_by",
            "TABLE authors",
            "VIEW recent",
        ] {
            assert!(out.contains(&format!("CREATE {name}")), "{name}: {out}");
        }
        assert!(!out.contains("sqlite_sequence"), "{out}");

        let (_, err, failures) = shell(&conn, ".schema nosuch\n", false);
        assert_eq!(failures, 1);
        assert_eq!(err, "error: no table or view named \"nosuch\"\n");
    }

    #[test]
    fn failures_are_counted_and_the_shell_goes_on() {
        let conn = Connection::open_in_memory().unwrap();
        let (out, err, failures) = shell(
            &conn,
            "selec 1;\n\
             SELECT * FROM nosuch;\n\
             .bogus\n\
             .mode yaml\n\
             SELECT 1 AS one; selec 2; SELECT 3 AS three;\n\
             SELECT 'still here' AS s;\n",
            false,
        );
        assert_eq!(failures, 5, "{err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 5, "{err}");
        assert!(errors[0].contains("syntax error"), "{err}");
        assert!(err.contains("  selec 1;\n  ^--- here"), "{err}");
        assert!(errors[1].contains("no such table: nosuch"), "{err}");
        assert!(errors[2].contains("unknown command \".bogus\""), "{err}");
        assert!(errors[2].contains(".tables, .schema, .mode"), "{err}");
        assert!(errors[3].contains("unknown mode"), "{err}");
        // The rest of a line stops at its first failure, as in sqlite3.
        assert!(out.contains("one"), "{out}");
        assert!(!out.contains("three"), "{out}");
        assert!(out.contains("still here"), "{out}");
    }

    #[test]
    fn quit_stops_reading() {
        let conn = Connection::open_in_memory().unwrap();
        for quit in [".quit", ".exit"] {
            let (out, _, failures) = shell(
                &conn,
                &format!("SELECT 1 AS a;\n{quit}\nSELECT 2 AS b;\n"),
                false,
            );
            assert_eq!(failures, 0);
            assert!(out.contains('a') && !out.contains('b'), "{out}");
        }
    }

    #[test]
    fn a_dot_inside_a_statement_is_sql() {
        let conn = Connection::open_in_memory().unwrap();
        let (out, err, failures) = shell(&conn, "SELECT\n.5 AS half;\n", false);
        assert_eq!(failures, 0, "{err}");
        assert!(out.contains("0.5"), "{out}");
    }

    #[test]
    fn csv_and_json_modes() {
        let conn = Connection::open_in_memory().unwrap();
        let query =
            "SELECT 1 AS id, 'a, \"b\"' AS text, NULL AS none, x'0aff' AS data, 2.5 AS r;\n";
        let (out, err, failures) = shell(
            &conn,
            &format!(".mode csv\n{query}CREATE TABLE t (x);\n.mode json\n{query}.mode\n"),
            false,
        );
        assert_eq!(failures, 1, "CREATE is refused read-only: {err}");
        assert_eq!(
            out,
            "id,text,none,data,r\r\n1,\"a, \"\"b\"\"\",,x'0aff',2.5\r\n\
             {\"id\":1,\"text\":\"a, \\\"b\\\"\",\"none\":null,\"data\":\"0aff\",\"r\":2.5}\n\
             json\n"
        );
    }

    #[test]
    fn help_lists_the_commands() {
        let conn = Connection::open_in_memory().unwrap();
        let (out, _, failures) = shell(&conn, ".help\n", false);
        assert_eq!(failures, 0);
        for command in [".tables", ".schema", ".mode", ".quit", ".exit", ".help"] {
            assert!(out.contains(command), "{command}");
        }
    }

    #[test]
    fn input_that_is_not_utf8_is_an_error() {
        let conn = Connection::open_in_memory().unwrap();
        let error = run_with(
            &conn,
            &b"SELECT 1;\nSELECT '\xff';\n"[..],
            &mut Vec::new(),
            &mut Vec::new(),
            &options(false),
        )
        .unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }

    #[test]
    fn the_host_is_named_without_a_plugin() {
        let mut host = options(false);
        host.title = "host".to_owned();
        assert_eq!(host.write_command(), "rosey db shell --write");
        assert_eq!(
            options(false).write_command(),
            "rosey db shell quote-bot --write"
        );
    }

    #[test]
    fn completeness_follows_sqlite3_complete() {
        let complete = [
            "SELECT 1;",
            "SELECT 1;\n",
            "SELECT 1; -- trailing comment",
            "SELECT 1; /* done */",
            "SELECT ';';",
            "SELECT \"a;b\", [c;d], `e;f`;",
            "SELECT 'it''s';",
            ";",
            "CREATE TABLE t (x);",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;",
            "create temp trigger tr after insert on t begin\n select 1;\n select 2;\nend;",
            "EXPLAIN SELECT 1;",
            "CREATE TABLE trigger_log (x);",
        ];
        for sql in complete {
            assert!(is_complete(sql), "should be complete: {sql:?}");
        }
        let incomplete = [
            "",
            "SELECT 1",
            "SELECT 1 -- ;",
            "SELECT ';",
            "SELECT 'a;' ",
            "SELECT /* ; */ 1",
            "SELECT 1 /* unterminated; ",
            "SELECT [a;",
            "SELECT \"a;",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1;",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
            "   \n  ",
        ];
        for sql in incomplete {
            assert!(!is_complete(sql), "should be incomplete: {sql:?}");
        }
    }

    #[test]
    fn a_syntax_error_points_at_its_place() {
        assert_eq!(
            point_at("SELECT 1;\nSELECT frm t;", 17).unwrap(),
            "  SELECT frm t;\n         ^--- here"
        );
        assert_eq!(point_at("x", 5), None);
        assert_eq!(point_at("x", -1), None);
    }
}
