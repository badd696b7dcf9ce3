//! The `sql` import: statements on the plugin's private database.
//!
//! Statements run synchronously on the calling task. That is deliberate: the
//! plugin's own wasm runs the same way, and both are bounded by the same
//! per-call deadline (SQLite's progress handler stands in for the epoch,
//! which does not fire inside host calls).
//!
//! Statements are prepared once and kept in the connection's cache, under
//! keys of the plugin's own ([`plugin_statement`]): the host's kv statements
//! live in the same cache, authorized with the host's privileges, and a
//! plugin sending the same text must not get them back.

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{ErrorCode, params_from_iter};

use super::HostError;
use super::database::{plugin_statement, untag_error};
use crate::package::Permission;
use crate::runtime::bindings::rosey::plugin::sql::{Host, RowSet, Statement, Value};
use crate::runtime::state::PluginState;

/// The most rows one query may return.
pub const MAX_ROWS: usize = 10_000;
/// The most bytes (roughly) one query result may hold.
pub const MAX_RESULT_BYTES: usize = 4 << 20;
/// The most statements in one transaction.
pub const MAX_TRANSACTION_STATEMENTS: usize = 1_000;

impl Host for PluginState {
    async fn execute(&mut self, sql: String, params: Vec<Value>) -> Result<u64, HostError> {
        self.ctx
            .grants
            .require(Permission::DatabaseAccess, "sql.execute")?;
        let mut db = self.ctx.database()?;
        let conn = db.plugin();
        let mut stmt =
            plugin_statement(conn, &sql).map_err(|e| sql_error(e, self.ctx.limits.storage))?;
        let changed = stmt
            .execute(params_from_iter(params.into_iter().map(to_sql)))
            .map_err(|e| sql_error(e, self.ctx.limits.storage))?;
        Ok(changed as u64)
    }

    async fn query(&mut self, sql: String, params: Vec<Value>) -> Result<RowSet, HostError> {
        self.ctx
            .grants
            .require(Permission::DatabaseAccess, "sql.query")?;
        let quota = self.ctx.limits.storage;
        let mut db = self.ctx.database()?;
        let conn = db.plugin();
        let mut stmt = plugin_statement(conn, &sql).map_err(|e| sql_error(e, quota))?;
        let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
        let width = columns.len();
        let mut rows = stmt
            .query(params_from_iter(params.into_iter().map(to_sql)))
            .map_err(|e| sql_error(e, quota))?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = rows.next().map_err(|e| sql_error(e, quota))? {
            if out.len() >= MAX_ROWS {
                return Err(HostError::Limit(format!(
                    "the query returned more than {MAX_ROWS} rows; add a LIMIT"
                )));
            }
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                let value = from_sql(row.get_ref(i).map_err(|e| sql_error(e, quota))?);
                bytes += value_size(&value);
                values.push(value);
            }
            if bytes > MAX_RESULT_BYTES {
                return Err(HostError::Limit(format!(
                    "the query result is larger than {} MiB; add a LIMIT or select fewer columns",
                    MAX_RESULT_BYTES >> 20
                )));
            }
            out.push(values);
        }
        Ok(RowSet { columns, rows: out })
    }

    async fn transaction(&mut self, statements: Vec<Statement>) -> Result<Vec<u64>, HostError> {
        self.ctx
            .grants
            .require(Permission::DatabaseAccess, "sql.transaction")?;
        if statements.len() > MAX_TRANSACTION_STATEMENTS {
            return Err(HostError::Limit(format!(
                "a transaction may hold at most {MAX_TRANSACTION_STATEMENTS} statements"
            )));
        }
        let quota = self.ctx.limits.storage;
        let mut db = self.ctx.database()?;
        let tx = db.plugin().transaction().map_err(|e| sql_error(e, quota))?;
        let mut changed = Vec::with_capacity(statements.len());
        for statement in statements {
            let mut stmt =
                plugin_statement(&tx, &statement.sql).map_err(|e| sql_error(e, quota))?;
            let n = stmt
                .execute(params_from_iter(statement.params.into_iter().map(to_sql)))
                .map_err(|e| sql_error(e, quota))?;
            changed.push(n as u64);
        }
        tx.commit().map_err(|e| sql_error(e, quota))?;
        Ok(changed)
    }
}

/// Translate a SQLite error into what the plugin (and the operator) should see.
pub(crate) fn sql_error(err: rusqlite::Error, quota: u64) -> HostError {
    let err = untag_error(err);
    if let rusqlite::Error::SqliteFailure(failure, _) = &err {
        match failure.code {
            ErrorCode::OperationInterrupted => {
                return HostError::Limit(
                    "the statement ran past the plugin's per-call deadline".into(),
                );
            }
            ErrorCode::DiskFull => {
                return HostError::Limit(format!(
                    "the plugin's storage quota of {} MiB is full",
                    quota >> 20
                ));
            }
            ErrorCode::AuthorizationForStatementDenied => {
                return HostError::Denied(format!(
                    "{err} (ATTACH, load_extension, most PRAGMAs and the host's _rosey_* tables are off limits)"
                ));
            }
            _ => {}
        }
    }
    // An authorizer refusal at prepare time (e.g. of a function) surfaces as
    // a plain SQLITE_ERROR carrying SQLite's "not authorized" text.
    let text = err.to_string();
    if text.contains("not authorized") {
        return HostError::Denied(text);
    }
    HostError::Invalid(text)
}

fn to_sql(value: Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Text(s) => s.len() + 16,
        Value::Blob(b) => b.len() + 16,
        _ => 16,
    }
}
