//! Editing a file in the operator's editor, saved only if it is valid.

use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Lines starting with this are the error notes `edit` puts at the top of a
/// draft; they are removed before the draft is checked.
pub const NOTE_MARK: &str = "#! ";

/// A draft beside the real file, removed when dropped.
struct Draft(std::path::PathBuf);

impl Drop for Draft {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Why an edited file is not valid, and where, if known (1-based line and
/// column of the text as checked, without the notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// What is wrong.
    pub message: String,
    /// Line and column.
    pub at: Option<(usize, usize)>,
}

impl From<String> for Invalid {
    fn from(message: String) -> Self {
        Self { message, at: None }
    }
}

impl Invalid {
    /// The message with its position, lines shifted by `shift`.
    fn describe(&self, shift: usize) -> String {
        match self.at {
            Some((line, column)) => {
                format!("line {}, column {column}: {}", line + shift, self.message)
            }
            None => self.message.clone(),
        }
    }
}

/// Open a draft of `real` (a private file beside it holding `text`) in `$VISUAL`,
/// `$EDITOR` or `vi`, and check the result with `check` (which returns why
/// it is invalid). While it is invalid, the error is shown and, on a
/// terminal, the operator may edit again (the error as notes at the top);
/// otherwise nothing is kept. Returns the valid text, or `None` if it did
/// not change. `what` names the file in messages.
pub fn edit_until_valid(
    real: &Path,
    text: &str,
    what: &str,
    check: impl Fn(&str) -> Result<(), Invalid>,
) -> Result<Option<String>> {
    let name = real.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let guard = Draft(real.with_file_name(format!(".edit-{}-{name}", std::process::id())));
    let draft = guard.0.as_path();
    let mut current = text.to_owned();
    loop {
        rosey_host::home::write_private(draft, current.as_bytes())?;
        run_editor(draft, what)?;
        let edited = fs::read_to_string(draft)
            .with_context(|| format!("could not read {}", draft.display()))?;
        let body = without_notes(&edited);
        match check(&body) {
            Ok(()) if body == text => return Ok(None),
            Ok(()) => return Ok(Some(body)),
            Err(why) => {
                eprintln!("The edited {what} is not valid: {}", why.describe(0));
                if !std::io::stdin().is_terminal() {
                    bail!(
                        "{what} was not changed (there is no terminal to ask whether to edit again)"
                    );
                }
                if !edit_again()? {
                    bail!("your changes were discarded; {what} was not changed");
                }
                current = with_notes(&body, what, &why);
            }
        }
    }
}

fn edit_again() -> Result<bool> {
    eprint!("edit again? [Y/n] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(!matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "n" | "no"
    ))
}

/// Run `$VISUAL`, `$EDITOR` or `vi` on `path` through the shell, as git
/// does (so `EDITOR="code --wait"` works).
pub fn run_editor(path: &Path, what: &str) -> Result<()> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("could not run the editor ({editor})"))?;
    if !status.success() {
        bail!("the editor ({editor}) exited with {status}; {what} was not changed");
    }
    Ok(())
}

/// `body` with the error as notes at the top, its line counted in the
/// text as the operator sees it (notes included).
pub fn with_notes(body: &str, what: &str, why: &Invalid) -> String {
    let why_lines = why.describe(0).lines().count().max(1);
    // The heading, the error's lines and the closing note.
    let shift = 1 + why_lines + 1;
    let mut out = format!("{NOTE_MARK}{what} was not saved, because it is not valid:\n");
    for line in why.describe(shift).lines() {
        out.push_str(&format!("{NOTE_MARK}  {line}\n"));
    }
    out.push_str(&format!(
        "{NOTE_MARK}Fix it, then save and quit. Lines starting with \"{}\" are removed.\n",
        NOTE_MARK.trim_end()
    ));
    out.push_str(body);
    out
}

/// `text` without the notes `with_notes` added.
pub fn without_notes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split_inclusive('\n').peekable();
    while lines.next_if(|line| line.starts_with(NOTE_MARK)).is_some() {}
    for line in lines {
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_point_at_the_line_as_shown_and_come_off_again() {
        let body = "log: info\nsupervision:\n  nope: 1\n";
        let why = Invalid {
            message: "unknown key".into(),
            at: Some((3, 3)),
        };
        let shown = with_notes(body, "rosey.yaml", &why);
        let line = shown.lines().nth(1).unwrap();
        assert!(
            line.starts_with("#!   line 6, column 3: unknown key"),
            "{line}"
        );
        assert_eq!(shown.lines().nth(5), Some("  nope: 1"), "line 6 as shown");
        assert_eq!(without_notes(&shown), body);

        let body = "a: 1\n#! not a note here\n";
        let noted = with_notes(
            body,
            "config.yaml",
            &Invalid::from("a: must be\ntwo lines".to_owned()),
        );
        assert!(noted.starts_with(NOTE_MARK));
        assert_eq!(without_notes(&noted), body);
        assert_eq!(without_notes(body), body);
    }
}
