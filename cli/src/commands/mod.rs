//! The `rosey` command tree: one file per command group.

mod chat;
mod clean;
mod db;
mod db_shell;
mod dev;
mod doctor;
mod logs;
mod plugin;
mod plugin_config;
mod service;
mod version;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use rosey_host::home::{DEFAULT_HOME, RoseyHome};

use crate::output::OutputFormat;

/// Printed after `rosey --help`, as written.
const FIRST_RUN: &str = "\
A first run:
  rosey plugin build example-plugins/quote-bot -o quote-bot.roseyplug
  rosey plugin install quote-bot.roseyplug   # shows what it asks for, asks you
  rosey start                                # also starts a local nats-server
  rosey chat                                 # talk to your plugins: !quote add hello

Docs: docs/operator-guide.md (running Rosey), docs/author-guide.md (writing plugins)";

/// Rosey runs third-party chat-bot plugins (WebAssembly components) in a
/// hard sandbox, and connects them to your bot over NATS.
#[derive(Debug, Parser)]
#[command(
    name = "rosey",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = FIRST_RUN
)]
pub struct Cli {
    /// Rosey's data directory (plugins, databases, logs).
    #[arg(long, global = true, env = "ROSEY_HOME", default_value = DEFAULT_HOME)]
    home: PathBuf,

    /// An external NATS server (e.g. nats://127.0.0.1:4222). Without it,
    /// `rosey start` runs and supervises a local nats-server.
    #[arg(long, global = true, env = "ROSEY_NATS_URL")]
    nats_url: Option<String>,

    /// Output format for commands that report.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build, install, inspect and remove plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Start the host (in the background unless --foreground).
    Start(service::Start),
    /// Stop the background host; plugins get `shutdown` first.
    Stop(service::Stop),
    /// Stop the host if it runs, then start it.
    Restart(service::Start),
    /// Show the host, NATS, and every plugin's state and counters.
    Status,
    /// Plugin databases: migrations, backup and restore, a SQL shell.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Show a log: the host's, the managed NATS server's, or one plugin's.
    Logs(logs::Logs),
    /// Play the bot core: what you type is a chat message; replies are printed.
    Chat(chat::Chat),
    /// Develop a plugin: build it, run it on a host of its own with a chat
    /// console, and rebuild and hot-reload it on every change.
    Dev(dev::Dev),
    /// Show versions: Rosey, the plugin API it serves, wasmtime.
    Version,
    /// Check that this machine and this home are ready, and say how to fix
    /// what is not (exit 1 on a problem that stops Rosey).
    Doctor,
    /// Delete logs, compiled code and install leftovers (and, with --all,
    /// every plugin's data).
    Clean(clean::Clean),
}

/// What every command gets: the parsed global options.
pub struct Context {
    pub home: RoseyHome,
    pub nats_url: Option<String>,
    pub output: OutputFormat,
}

impl Cli {
    /// The default log filter: the foreground host logs at info, the rest
    /// only warn.
    pub fn log_default(&self) -> &'static str {
        match &self.command {
            Command::Start(start) | Command::Restart(start) if start.foreground => {
                "info,async_nats=warn"
            }
            Command::Dev(_) => "info,async_nats=warn",
            _ => "warn",
        }
    }

    /// Whether the command only prints and exits (no host, no console).
    pub fn only_prints(&self) -> bool {
        !matches!(
            self.command,
            Command::Start(_) | Command::Restart(_) | Command::Dev(_) | Command::Chat(_)
        )
    }

    pub fn run(self) -> anyhow::Result<()> {
        let ctx = Context {
            home: RoseyHome::new(self.home),
            nats_url: self.nats_url,
            output: self.output,
        };
        match self.command {
            Command::Plugin(command) => command.run(&ctx),
            Command::Start(start) => start.run(&ctx),
            Command::Stop(stop) => stop.run(&ctx),
            Command::Restart(start) => service::restart(&ctx, start),
            Command::Status => service::status(&ctx),
            Command::Db(command) => command.run(&ctx),
            Command::Logs(logs) => logs.run(&ctx),
            Command::Chat(chat) => chat.run(&ctx),
            Command::Dev(dev) => dev.run(&ctx),
            Command::Version => version::run(&ctx),
            Command::Doctor => doctor::run(&ctx),
            Command::Clean(clean) => clean.run(&ctx),
        }
    }
}
