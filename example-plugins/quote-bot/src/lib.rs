//! `!quote`: add, show, search and pick random quotes, kept in SQLite.

use std::time::{SystemTime, UNIX_EPOCH};

use rosey_sdk::prelude::*;

const USAGE: &str = "Usage: !quote [<N> | add <text> | search <term>]";
const MAX_QUOTE_CHARS: usize = 500;

struct QuoteBot;

impl Plugin for QuoteBot {
    fn on_command(cmd: Command) -> Result<Option<String>> {
        let reply = match cmd.args.as_slice() {
            [] => random()?,
            [sub, ..] if sub == "add" => add(cmd.rest(1), &cmd.user)?,
            [sub, ..] if sub == "search" => search(cmd.rest(1))?,
            [number] => match number.trim_start_matches('#').parse::<i64>() {
                Ok(id) => show(id)?,
                Err(_) => USAGE.to_owned(),
            },
            _ => USAGE.to_owned(),
        };
        Ok(Some(reply))
    }
}

/// `#N: text (added by USER)`.
fn format_quote(row: &Row) -> Result<String> {
    let id: i64 = row.get("id")?;
    let text: String = row.get("text")?;
    let added_by: String = row.get("added_by")?;
    Ok(format!("#{id}: {text} (added by {added_by})"))
}

fn add(text: &str, user: &str) -> Result<String> {
    if text.is_empty() {
        return Ok("Usage: !quote add <text>".into());
    }
    if text.chars().count() > MAX_QUOTE_CHARS {
        return Ok(format!(
            "That quote is too long (max {MAX_QUOTE_CHARS} characters)."
        ));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let added_at = i64::try_from(now).context("clock out of range")?;
    let id: i64 = sql::query_row(
        "INSERT INTO quotes (text, added_by, added_at) VALUES (?, ?, ?) RETURNING id",
        params![text, user, added_at],
    )
    .context("adding quote")?
    .get(0)?;
    rosey_sdk::info!("{user} added quote #{id}");
    Ok(format!("Added quote #{id}."))
}

fn random() -> Result<String> {
    let sql = "SELECT id, text, added_by FROM quotes ORDER BY random() LIMIT 1";
    match sql::query_opt(sql, params![])? {
        Some(row) => format_quote(&row),
        None => Ok("No quotes yet. Add one with !quote add <text>".into()),
    }
}

fn show(id: i64) -> Result<String> {
    let sql = "SELECT id, text, added_by FROM quotes WHERE id = ?";
    match sql::query_opt(sql, params![id])? {
        Some(row) => format_quote(&row),
        None => Ok(format!("No quote #{id}.")),
    }
}

fn search(term: &str) -> Result<String> {
    if term.is_empty() {
        return Ok("Usage: !quote search <term>".into());
    }
    let pattern = format!("%{}%", escape_like(term));
    let rows = sql::query(
        "SELECT id, text, added_by FROM quotes WHERE text LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?",
        // The operator's `search_results` (manifest: config_schema), read
        // at each search so a change applies at once.
        params![pattern, config::get::<i64>("search_results")?.unwrap_or(3)],
    )?;
    if rows.is_empty() {
        return Ok(format!("No quote matches \"{term}\"."));
    }
    let lines: Vec<String> = rows.iter().map(format_quote).collect::<Result<_>>()?;
    Ok(lines.join("\n"))
}

/// Escapes LIKE's wildcards so the term matches literally (with `ESCAPE '\'`).
fn escape_like(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

export_plugin!(QuoteBot);
