//! Write [Rosey](https://example.org/rosey) chat-bot plugins in Rust.
//!
//! A Rosey plugin is a WebAssembly component (WASI Preview 2) that exports the
//! `rosey:plugin/guest` interface. This crate hides the generated bindings
//! behind an idiomatic API: implement [`Plugin`] on a unit struct, export it
//! with [`export_plugin!`], and call the host through the [`bus`], [`chat`],
//! [`sql`], [`kv`], [`config`] and [`log`] modules.
//!
//! Every method of [`Plugin`] is an associated function (there is no `self`):
//! the host may discard an instance after a trap and make a fresh one, so any
//! state a plugin keeps in memory lives in its own `static`s or
//! `thread_local!`s, and anything that must survive goes to [`sql`] or [`kv`].
//!
//! # Example
//!
//! A complete plugin: `!greet` replies, `!greet count` counts greetings in the
//! plugin's key-value store (its manifest asks for `database_access`).
//!
//! ```no_run
//! use rosey_sdk::prelude::*;
//!
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn init() -> Result<()> {
//!         rosey_sdk::info!("greeter ready");
//!         Ok(())
//!     }
//!
//!     fn on_command(cmd: Command) -> Result<Option<String>> {
//!         let count: u64 = kv::get_json("greetings")?.unwrap_or(0);
//!         if cmd.arg(0) == Some("count") {
//!             return Ok(Some(format!("I have greeted {count} times.")));
//!         }
//!         kv::set_json("greetings", &(count + 1))?;
//!         let greeting: String = config::get("greeting")?.unwrap_or_else(|| "Hello".into());
//!         Ok(Some(format!("{greeting}, {}!", cmd.user)))
//!     }
//! }
//!
//! export_plugin!(Greeter);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (crate type
//! `cdylib`); the `.wasm` file is the component the host loads.
#![deny(missing_docs)]

pub mod bus;
pub mod chat;
mod command;
pub mod config;
mod error;
pub mod kv;
pub mod log;
mod message;
mod plugin;
pub mod prelude;
pub mod sql;

pub use command::Command;
pub use error::{Context, Error, Result};
pub use message::{ChatMessage, Message};
pub use plugin::Plugin;

/// The bindings generated from the `rosey:plugin` WIT package. Not a stable
/// API: use the rest of this crate instead.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, unreachable_pub)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "rosey:plugin/plugin",
        pub_export_macro: true,
        default_bindings_module: "rosey_sdk::wit",
    });
}

/// What [`export_plugin!`] expands to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::plugin::Adapter;
}
