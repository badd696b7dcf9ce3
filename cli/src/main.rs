//! `rosey`: install, run and operate Rosey chat-bot plugins.

mod commands;
mod editor;
mod nats_service;
mod output;
mod process;
mod scaffold;

use std::process::ExitCode;

use commands::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    if cli.only_prints() {
        die_quietly_on_a_closed_pipe();
    }
    let ctx = cli.context();
    init_logging(&cli.log_filter(&ctx), cli.log_default());
    match cli.run(ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

/// `rosey status | head`: end quietly when the reader goes away, as Unix
/// tools do, instead of panicking in `println!`. Only for commands that
/// just print: a host (which writes to sockets) keeps SIGPIPE ignored.
fn die_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default disposition of one signal, first thing
    // in main, before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr, through `filter` (an `EnvFilter` directive such as
/// `debug` or `rosey_host=trace`: ROSEY_LOG, or the host's `log` setting),
/// or the command's default if it does not parse.
fn init_logging(filter: &str, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No colour codes in logs/host.log (the background host's stderr).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
