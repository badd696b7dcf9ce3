//! `!hello` greets whoever asked, with the greeting from the configuration.

use rosey_sdk::prelude::*;

struct Hello;

impl Plugin for Hello {
    fn init() -> Result<()> {
        rosey_sdk::info!("{{name}} is ready");
        Ok(())
    }

    fn on_command(cmd: Command) -> Result<Option<String>> {
        // `greeting` has a default in manifest.yaml's config_schema, so it is
        // always set; an operator changes it with
        // `rosey plugin config {{name}} set greeting=Hi`.
        let greeting: String = config::get("greeting")?.unwrap_or_else(|| "Hello".into());
        Ok(Some(format!("{greeting}, {}!", cmd.user)))
    }
}

export_plugin!(Hello);
