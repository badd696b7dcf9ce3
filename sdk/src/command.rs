//! Chat commands routed to the plugin.

use crate::wit::rosey::plugin::types::Command as WitCommand;

/// A chat command routed to the plugin that declared it in its manifest:
/// `!quote add hi` arrives as `name: "quote"`, `args: ["add", "hi"]`,
/// `arg_text: "add hi"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// The command's name without the prefix: `quote` for `!quote add hi`.
    pub name: String,
    /// The arguments, split on whitespace: `["add", "hi"]`.
    pub args: Vec<String>,
    /// The arguments exactly as typed, after the command name: `add hi`.
    pub arg_text: String,
    /// Who issued the command.
    pub user: String,
    /// The channel it was issued in; a reply goes back there.
    pub channel: String,
}

impl Command {
    /// The argument at `index`, if there is one.
    pub fn arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).map(String::as_str)
    }

    /// The text as typed after the first `skip` arguments, trimmed: for
    /// `!quote add  two  words`, `rest(1)` is `"two  words"`.
    pub fn rest(&self, skip: usize) -> &str {
        let mut text = self.arg_text.trim();
        for _ in 0..skip {
            match text.find(char::is_whitespace) {
                Some(end) => text = text[end..].trim_start(),
                None => return "",
            }
        }
        text
    }
}

impl From<WitCommand> for Command {
    fn from(cmd: WitCommand) -> Self {
        Command {
            name: cmd.name,
            args: cmd.args,
            arg_text: cmd.arg_text,
            user: cmd.user,
            channel: cmd.channel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_keeps_inner_spacing() {
        let cmd = Command {
            arg_text: " add  two  words ".into(),
            args: vec!["add".into(), "two".into(), "words".into()],
            ..Command::default()
        };
        assert_eq!(cmd.rest(0), "add  two  words");
        assert_eq!(cmd.rest(1), "two  words");
        assert_eq!(cmd.rest(3), "");
        assert_eq!(cmd.rest(9), "");
        assert_eq!(cmd.arg(0), Some("add"));
        assert_eq!(cmd.arg(3), None);
    }
}
