//! `rosey version`.

use serde::Serialize;

use super::Context;
use crate::output::{OutputFormat, print_json};

#[derive(Serialize)]
struct Versions {
    rosey: &'static str,
    plugin_api: Vec<&'static str>,
    wasmtime: &'static str,
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let versions = Versions {
        rosey: env!("CARGO_PKG_VERSION"),
        plugin_api: vec![rosey_host::package::SUPPORTED_API],
        wasmtime: rosey_host::runtime::WASMTIME_VERSION,
    };
    match ctx.output {
        OutputFormat::Json => print_json(&versions),
        OutputFormat::Text => {
            println!("rosey {}", versions.rosey);
            println!(
                "plugin API: rosey:plugin@{}",
                versions.plugin_api.join(", ")
            );
            println!("wasmtime {}", versions.wasmtime);
            Ok(())
        }
    }
}
