//! `!echo <text>` replies with the text.

use rosey_sdk::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn on_command(cmd: Command) -> Result<Option<String>> {
        let text = cmd.arg_text.trim();
        if text.is_empty() {
            return Ok(Some("Usage: !echo <text>".into()));
        }
        Ok(Some(text.to_owned()))
    }
}

export_plugin!(Echo);
