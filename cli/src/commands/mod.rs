//! The `rosey` command tree: one file per command group.

mod admin;
mod chat;
mod clean;
mod config;
mod db;
mod db_shell;
mod dev;
mod doctor;
mod index;
mod logs;
mod plugin;
mod plugin_config;
mod plugin_index;
mod plugin_install;
mod plugin_source;
mod plugin_test;
mod service;
mod signing;
mod version;

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use rosey_host::home::{DEFAULT_HOME, RoseyHome};
use rosey_host::host_config::{ConfigError, DEFAULT_LOG, Flags, Settings};

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

    /// An external NATS server (e.g. nats://127.0.0.1:4222). Without it
    /// (or `nats_url` in rosey.yaml), `rosey start` runs and supervises a
    /// local nats-server.
    #[arg(long, global = true, env = "ROSEY_NATS_URL")]
    nats_url: Option<String>,

    /// Output format for commands that report.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,

    #[command(subcommand)]
    command: Command,

    /// The settings typed on the command line (see [`Cli::parse_args`]).
    #[arg(skip)]
    flags: Flags,
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
    /// Show, check and edit the host's settings file, rosey.yaml.
    #[command(subcommand, after_help = config::EXAMPLES)]
    Config(config::ConfigCommand),
    /// The admin API and web dashboard: the token that logs in to them.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Signing keys for plugin packages (minisign format).
    #[command(subcommand)]
    Key(signing::KeyCommand),
    /// Publish plugins: write the index file of a directory of packages.
    #[command(subcommand)]
    Index(index::IndexCommand),
}

/// What every command gets: the parsed global options and the host's
/// settings.
pub struct Context {
    pub home: RoseyHome,
    /// The NATS server to use (`None`: a managed one): --nats-url,
    /// ROSEY_NATS_URL or rosey.yaml's `nats_url`. If rosey.yaml is broken,
    /// only the first two; commands that must not ignore that call
    /// [`Context::settings`].
    pub nats_url: Option<String>,
    pub output: OutputFormat,
    /// Every host setting with its source, or why they cannot be read.
    pub settings: Result<Settings, ConfigError>,
    /// The settings typed on the command line, to hand on to a background
    /// host (which reads rosey.yaml and inherits the environment itself).
    pub flags: Flags,
}

impl Context {
    /// The host's settings; an error, with its fix, if rosey.yaml (or a
    /// ROSEY_* variable) is not valid.
    pub fn settings(&self) -> anyhow::Result<&Settings> {
        self.settings
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}\n  {}", e.fix()))
    }
}

impl Cli {
    /// Parses the command line. clap reads the flags that have a ROSEY_*
    /// variable from the environment too; only what was typed is kept as
    /// a flag, since [`Settings`] puts the environment below the flags and
    /// above rosey.yaml itself.
    pub fn parse_args() -> Self {
        let matches = Self::command().get_matches();
        let mut cli = Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        // A global option: clap copies it to every level.
        cli.flags.nats_url = cli.nats_url.clone().filter(|_| typed(&matches, "nats_url"));
        if let (Command::Start(start) | Command::Restart(start), Some((_, sub))) =
            (&cli.command, matches.subcommand())
        {
            start.typed_flags(sub, &mut cli.flags);
        }
        cli
    }

    /// The context every command runs in: the home, the output format and
    /// the settings resolved from rosey.yaml, the environment and flags.
    pub fn context(&self) -> Context {
        let home = RoseyHome::new(&self.home);
        let settings = Settings::load(
            &home.config_file(),
            &rosey_host::host_config::process_env,
            &self.flags,
        );
        let nats_url = match &settings {
            Ok(settings) => settings.nats_url.value.clone(),
            Err(_) => self.nats_url.clone(),
        };
        Context {
            home,
            nats_url,
            output: self.output,
            settings,
            flags: self.flags.clone(),
        }
    }

    /// The log filter: the host's from its settings (rosey.yaml's `log`,
    /// or ROSEY_LOG); other commands take ROSEY_LOG, or their default.
    pub fn log_filter(&self, ctx: &Context) -> String {
        if self.runs_the_host()
            && let Ok(settings) = &ctx.settings
        {
            return settings.log.value.clone();
        }
        std::env::var("ROSEY_LOG")
            .ok()
            .filter(|filter| !filter.is_empty())
            .unwrap_or_else(|| self.log_default().to_owned())
    }

    /// Whether this process becomes the host (`rosey start --foreground`,
    /// also what the background host runs).
    fn runs_the_host(&self) -> bool {
        matches!(&self.command, Command::Start(start) | Command::Restart(start) if start.foreground)
    }

    /// The default log filter: the foreground host logs at info, the rest
    /// only warn.
    pub fn log_default(&self) -> &'static str {
        match &self.command {
            Command::Start(start) | Command::Restart(start) if start.foreground => DEFAULT_LOG,
            Command::Dev(_) => DEFAULT_LOG,
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

    pub fn run(self, ctx: Context) -> anyhow::Result<()> {
        let ctx = &ctx;
        match self.command {
            Command::Plugin(command) => command.run(ctx),
            Command::Start(start) => start.run(ctx),
            Command::Stop(stop) => stop.run(ctx),
            Command::Restart(start) => service::restart(ctx, start),
            Command::Status => service::status(ctx),
            Command::Db(command) => command.run(ctx),
            Command::Logs(logs) => logs.run(ctx),
            Command::Chat(chat) => {
                ctx.settings()?;
                chat.run(ctx)
            }
            Command::Dev(dev) => {
                ctx.settings()?;
                dev.run(ctx)
            }
            Command::Version => version::run(ctx),
            Command::Doctor => doctor::run(ctx),
            Command::Clean(clean) => clean.run(ctx),
            Command::Config(command) => command.run(ctx),
            Command::Admin(command) => command.run(ctx),
            Command::Key(command) => command.run(ctx),
            Command::Index(command) => command.run(ctx),
        }
    }
}

/// Whether the option `id` was typed on the command line (rather than read
/// from the environment, or absent).
fn typed(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}
