//! The [`Plugin`] trait a plugin implements, and [`export_plugin!`] that
//! connects it to the host.

use std::marker::PhantomData;

use crate::wit::exports::rosey::plugin::guest::{self, Guest};
use crate::{Command, Error, Message, Result};

/// What a plugin does when the host calls it.
///
/// Every function has a default, so a plugin implements only what it uses.
/// The host calls them one at a time, each under the plugin's fuel, memory and
/// time limits. An `Err` is logged by the host (with its whole
/// [context chain](crate::Context)) and counted towards the plugin's health;
/// a panic traps, and the host makes a fresh instance (calling
/// [`init`](Plugin::init) again).
///
/// There is no `self`: keep in-memory state in `static`s or `thread_local!`s,
/// and durable state in [`sql`](crate::sql) or [`kv`](crate::kv).
pub trait Plugin {
    /// Called once after the instance is created, before any event.
    fn init() -> Result<()> {
        Ok(())
    }

    /// A message on a subject the manifest subscribes to. Ignored by default.
    fn on_message(msg: Message) -> Result<()> {
        let _ = msg;
        Ok(())
    }

    /// A command the manifest declares. Return the reply text, if any; the
    /// host sends it to the channel the command came from.
    ///
    /// The default is an error: a plugin that declares commands must handle them.
    fn on_command(cmd: Command) -> Result<Option<String>> {
        Err(Error::msg(format!(
            "command `{}` is declared but the plugin does not implement on_command",
            cmd.name
        )))
    }

    /// A schedule the manifest declares has fired.
    ///
    /// The default is an error: a plugin that declares schedules must handle them.
    fn on_schedule(name: &str) -> Result<()> {
        Err(Error::msg(format!(
            "schedule `{name}` is declared but the plugin does not implement on_schedule"
        )))
    }

    /// The operator changed these top-level configuration keys; read the new
    /// values with [`config::get`](crate::config::get). Ignored by default.
    fn on_config_changed(keys: Vec<String>) -> Result<()> {
        let _ = keys;
        Ok(())
    }

    /// The plugin is being stopped; flush what needs flushing.
    fn shutdown() {}
}

/// Exports a [`Plugin`] as the component's `rosey:plugin/guest` interface.
///
/// Use it once per plugin crate, at the top level:
///
/// ```no_run
/// use rosey_sdk::prelude::*;
///
/// struct Echo;
///
/// impl Plugin for Echo {
///     fn on_command(cmd: Command) -> Result<Option<String>> {
///         Ok(Some(cmd.arg_text))
///     }
/// }
///
/// export_plugin!(Echo);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            type RoseyGuest = $crate::__private::Adapter<$plugin>;
    $crate::wit::export!(RoseyGuest with_types_in $crate::wit);
        };
    };
}

/// Implements the generated `Guest` trait for a [`Plugin`]: converts the
/// generated types into the SDK's and errors into their context chain.
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

/// The text the host receives for a failed call: the whole context chain.
fn chain(error: Error) -> String {
    format!("{error:#}")
}

impl<P: Plugin> Guest for Adapter<P> {
    fn init() -> std::result::Result<(), String> {
        P::init().map_err(chain)
    }

    fn on_message(msg: guest::Message) -> std::result::Result<(), String> {
        P::on_message(msg.into()).map_err(chain)
    }

    fn on_command(cmd: guest::Command) -> std::result::Result<Option<String>, String> {
        P::on_command(cmd.into()).map_err(chain)
    }

    fn on_schedule(name: String) -> std::result::Result<(), String> {
        P::on_schedule(&name).map_err(chain)
    }

    fn on_config_changed(keys: Vec<String>) -> std::result::Result<(), String> {
        P::on_config_changed(keys).map_err(chain)
    }

    fn shutdown() {
        P::shutdown();
    }
}
