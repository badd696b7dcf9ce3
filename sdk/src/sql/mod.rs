//! The plugin's private SQLite database. Needs `database_access`.
//!
//! The database is the plugin's alone: it cannot attach others, load
//! extensions, or change settings outside a small PRAGMA allow-list.
//! Statements run under the plugin's per-call deadline and storage quota.
//! Create tables with migrations in the package (`migrations/NNN_name.up.sql`).
//!
//! Bind values with `?` placeholders and [`params!`](crate::params):
//!
//! ```no_run
//! # use rosey_sdk::prelude::*;
//! # fn f(user: &str) -> Result<()> {
//! sql::execute("INSERT INTO seen (user, at) VALUES (?, ?)", params![user, 1_732_240_000_i64])?;
//! for row in &sql::query("SELECT user, at FROM seen ORDER BY at DESC LIMIT ?", params![10])? {
//!     let user: String = row.get("user")?;
//!     let at: i64 = row.get(1)?;
//!     rosey_sdk::info!("{user} last seen at {at}");
//! }
//! let count: i64 = sql::query_row("SELECT count(*) FROM seen", params![])?.get(0)?;
//! # Ok(()) }
//! ```

mod rows;
mod value;

pub use rows::{ColumnIndex, Row, Rows};
pub use value::{FromValue, Value};

use crate::wit::rosey::plugin::sql;
use crate::{Error, Result};

/// One statement of a [`transaction`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL text, with `?` or `?NNN` placeholders.
    pub sql: String,
    /// The values bound to the placeholders, in order.
    pub params: Vec<Value>,
}

impl Statement {
    /// A statement with its parameters.
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Self {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

fn to_wit(params: Vec<Value>) -> Vec<sql::Value> {
    params.into_iter().map(sql::Value::from).collect()
}

/// Runs one statement that returns no rows; returns the number of rows changed.
pub fn execute(sql: &str, params: Vec<Value>) -> Result<u64> {
    Ok(sql::execute(sql, &to_wit(params))?)
}

/// Runs one query and returns all its rows (capped by the host's result limit).
pub fn query(sql: &str, params: Vec<Value>) -> Result<Rows> {
    Ok(Rows::from(sql::query(sql, &to_wit(params))?))
}

/// Runs a query that must return at least one row, and returns the first.
pub fn query_row(sql: &str, params: Vec<Value>) -> Result<Row> {
    query_opt(sql, params)?.ok_or_else(|| Error::msg("query returned no rows"))
}

/// Runs a query and returns its first row, if any.
pub fn query_opt(sql: &str, params: Vec<Value>) -> Result<Option<Row>> {
    Ok(query(sql, params)?.into_iter().next())
}

/// Runs several statements atomically; returns the rows changed by each. If
/// any statement fails, none of them take effect.
pub fn transaction(statements: Vec<Statement>) -> Result<Vec<u64>> {
    let statements: Vec<sql::Statement> = statements
        .into_iter()
        .map(|s| sql::Statement {
            sql: s.sql,
            params: to_wit(s.params),
        })
        .collect();
    Ok(sql::transaction(&statements)?)
}

/// Builds the parameter list of a statement: `params![user, 3, None::<i64>]`
/// is a `Vec<`[`Value`]`>`; anything with `Into<Value>` fits.
#[macro_export]
macro_rules! params {
    () => { ::std::vec::Vec::<$crate::sql::Value>::new() };
    ($($value:expr),+ $(,)?) => { ::std::vec![$($crate::sql::Value::from($value)),+] };
}
