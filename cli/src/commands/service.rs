//! `rosey start | stop | restart | status`.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use rosey_host::home::RoseyHome;
use rosey_host::host_config::{Flags, Settings, Source};
use rosey_host::nats::ManagedNats;
use rosey_host::package::HumanDuration;
use rosey_host::supervisor::{Host, HostConfig};
use serde::Serialize;

use super::Context;
use crate::output::{OutputFormat, Table, ago, human_bytes, print_json};
use crate::{nats_service, process};

/// How long `rosey start` waits for the background host to be ready (the
/// first start compiles every plugin).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// What `start`, `stop` and `restart` act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// The host and, unless --nats-url names an external server, a local
    /// nats-server.
    All,
    /// The host only (NATS must be running: `rosey start nats`, or
    /// --nats-url).
    Host,
    /// The local nats-server only (the bot core's end of the bus): it stays
    /// up while the host restarts.
    Nats,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey start                 NATS and the host, in the background
  rosey restart host          a new host process; NATS (and the bot core's connection) stays up
  rosey start --foreground    for systemd or a container: the host supervises its own nats-server

Settings come from rosey.yaml in the home (`rosey config edit`), under the
ROSEY_* variables, under these flags; `rosey config show` lists them with
their sources. A running host reads them when it starts.")]
pub struct Start {
    /// What to start.
    #[arg(value_enum, default_value_t = Service::All)]
    pub service: Service,
    /// Run in the foreground (for systemd, containers and debugging); logs go
    /// to stderr and Ctrl-C stops the host.
    #[arg(long)]
    pub foreground: bool,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9464) at /metrics.
    /// Keep it on loopback unless you mean to expose it [rosey.yaml:
    /// metrics; default: off].
    #[arg(long, env = "ROSEY_METRICS_ADDR", value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Serve the admin API and web dashboard on ADDR (IP:PORT), or `off`.
    /// Beyond loopback the host warns: it is plain HTTP [rosey.yaml:
    /// admin.listen; default: 127.0.0.1:7780].
    #[arg(long, env = "ROSEY_ADMIN_LISTEN", value_name = "ADDR|off")]
    pub admin_listen: Option<rosey_host::host_config::AdminListen>,
    #[command(flatten)]
    pub supervision: Supervision,
}

/// How crashing plugins are restarted and quarantined. No clap defaults:
/// a flag not typed leaves the setting to the environment, rosey.yaml or
/// the built-in default (`rosey_host::host_config`), in that order.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Supervision")]
pub struct Supervision {
    /// The pause before a plugin's second restart in a row (the first is
    /// immediate); it doubles with each further crash [rosey.yaml:
    /// supervision.restart_backoff; default: 100ms].
    #[arg(long, env = "ROSEY_RESTART_BACKOFF", value_name = "DURATION")]
    restart_backoff: Option<HumanDuration>,
    /// The longest pause between restarts [rosey.yaml:
    /// supervision.restart_backoff_max; default: 10s].
    #[arg(long, env = "ROSEY_RESTART_BACKOFF_MAX", value_name = "DURATION")]
    restart_backoff_max: Option<HumanDuration>,
    /// Crashes within --crash-window that quarantine a plugin (until
    /// `rosey plugin enable`) [rosey.yaml: supervision.quarantine_after;
    /// default: 5].
    #[arg(long, env = "ROSEY_QUARANTINE_AFTER", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    quarantine_after: Option<u32>,
    /// The window in which crashes are counted [rosey.yaml:
    /// supervision.crash_window; default: 60s].
    #[arg(long, env = "ROSEY_CRASH_WINDOW", value_name = "DURATION")]
    crash_window: Option<HumanDuration>,
}

#[derive(Debug, Args)]
pub struct Stop {
    /// What to stop.
    #[arg(value_enum, default_value_t = Service::All)]
    service: Service,
    /// How long to wait for plugins to shut down before giving up.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
}

impl Start {
    /// Adds the settings typed on the command line (not those clap read
    /// from the environment) to `flags`.
    pub fn typed_flags(&self, matches: &clap::ArgMatches, flags: &mut Flags) {
        let typed = |id: &str| super::typed(matches, id);
        let s = &self.supervision;
        flags.metrics = self.metrics.filter(|_| typed("metrics"));
        flags.admin_listen = self.admin_listen.filter(|_| typed("admin_listen"));
        flags.restart_backoff = s.restart_backoff.filter(|_| typed("restart_backoff"));
        flags.restart_backoff_max = s
            .restart_backoff_max
            .filter(|_| typed("restart_backoff_max"));
        flags.quarantine_after = s.quarantine_after.filter(|_| typed("quarantine_after"));
        flags.crash_window = s.crash_window.filter(|_| typed("crash_window"));
    }

    pub fn run(self, ctx: &Context) -> Result<()> {
        // A broken rosey.yaml stops the start, with its line and the fix.
        let settings = ctx.settings()?;
        ctx.home.ensure()?;
        if self.service == Service::Nats {
            if self.foreground {
                bail!(
                    "`rosey start nats` runs in the background only; under a supervisor, run \
                     `rosey start --foreground` (the host supervises its own nats-server) or \
                     nats-server itself"
                );
            }
            let (pid, url, started) = nats_service::ensure(ctx)?;
            return report_nats(ctx, pid, &url, started);
        }
        if let Some(pid) = process::running_pid(&ctx.home) {
            bail!(
                "Rosey is already running (pid {pid}); stop it with `rosey stop` or use `rosey restart`"
            );
        }
        if self.foreground {
            return run_foreground(ctx, settings);
        }
        // The host finds the NATS service through run/nats.url itself.
        match (self.service, &settings.nats_url.value) {
            (_, Some(_)) => {}
            (Service::All, None) => {
                nats_service::ensure(ctx)?;
            }
            (_, None) => {
                nats_service::running(&ctx.home).context(
                    "no NATS to connect to: start one with `rosey start nats`, start both with \
                     `rosey start`, or name an external server with --nats-url",
                )?;
            }
        }
        start_background(ctx)
    }
}

fn report_nats(ctx: &Context, pid: u32, url: &str, started: bool) -> Result<()> {
    if ctx.output == OutputFormat::Json {
        return print_json(
            &serde_json::json!({ "nats": { "pid": pid, "url": url, "started": started } }),
        );
    }
    if started {
        println!("NATS is running (pid {pid}) on {url}");
    } else {
        println!("NATS was already running (pid {pid}) on {url}");
    }
    Ok(())
}

fn run_foreground(ctx: &Context, settings: &Settings) -> Result<()> {
    fs::write(ctx.home.pid_file(), std::process::id().to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rosey")
        .build()?;
    let result = runtime.block_on(serve(ctx, settings));
    let _ = fs::remove_file(ctx.home.pid_file());
    result
}

async fn serve(ctx: &Context, settings: &Settings) -> Result<()> {
    log_settings(settings);
    let mut managed = None;
    let service = nats_service::running(&ctx.home);
    let url = match (&settings.nats_url.value, &service) {
        (Some(url), _) => url.clone(),
        (None, Some((pid, url))) => {
            tracing::info!(%url, pid, "using the nats-server started by `rosey start nats`");
            url.clone()
        }
        (None, None) => {
            let server = ManagedNats::start(Some(&ctx.home.nats_log())).await?;
            tracing::info!(url = %server.url(), pid = server.pid(), "started a managed nats-server");
            let url = server.url();
            managed = Some(server);
            url
        }
    };
    let mut config = HostConfig::new(ctx.home.clone(), url);
    let service_pid = service
        .filter(|_| settings.nats_url.value.is_none())
        .map(|(pid, _)| pid);
    config.managed_nats = managed.is_some() || service_pid.is_some();
    config.nats_pid = managed.as_ref().and_then(|m| m.pid()).or(service_pid);
    settings.apply(&mut config);
    if config.allow_private_http {
        tracing::warn!(
            "http.allow_private is on ({}): plugins' HTTP requests may reach loopback and \
             private addresses (for tests and labs only)",
            settings.http_allow_private.source
        );
    }
    let host = Host::start(config).await?;

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = watch.tick() => {
                if let Some(server) = managed.as_mut() {
                    match server.restart_if_exited().await {
                        Ok(true) => tracing::warn!("the managed nats-server exited; restarted it"),
                        Ok(false) => {}
                        Err(e) => tracing::error!("the managed nats-server exited and could not be restarted: {e:#}"),
                    }
                }
            }
        }
    }
    tracing::info!("stopping");
    host.shutdown().await;
    if let Some(server) = managed {
        server.stop().await;
    }
    Ok(())
}

/// The settings that are not defaults, in the host's log, with their
/// sources.
fn log_settings(settings: &Settings) {
    for entry in settings.entries() {
        if entry.source != Source::Default {
            tracing::info!(
                "setting {} = {}, from {}",
                entry.key.name,
                entry.text,
                entry.source
            );
        }
    }
}

/// Starts `rosey start --foreground` as a background process. It reads
/// rosey.yaml and inherits the environment itself; only the flags typed
/// here are handed on.
fn start_background(ctx: &Context) -> Result<()> {
    let home = absolute(ctx.home.root())?;
    let _ = fs::remove_file(ctx.home.status_file());
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(ctx.home.host_log())
        .with_context(|| format!("could not open {}", ctx.home.host_log().display()))?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("start")
        .arg("--foreground")
        .arg("--home")
        .arg(&home);
    command.args(ctx.flags.to_args());
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: closing the terminal does not stop the host.
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .context("could not start the host process")?;
    let pid = child.id();
    let started = Instant::now();
    loop {
        if let Some(status) = process::read_status(&RoseyHome::new(&home)).filter(|s| s.pid == pid)
        {
            report_started(ctx, &status, started.elapsed())?;
            return Ok(());
        }
        if let Some(exit) = child.try_wait()? {
            bail!(
                "the host exited during start-up ({exit}); the end of {}:\n{}",
                ctx.home.host_log().display(),
                tail(&ctx.home.host_log(), 15)
            );
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "the host (pid {pid}) was not ready after {READY_TIMEOUT:?}; see {}",
                ctx.home.host_log().display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report_started(
    ctx: &Context,
    status: &rosey_host::supervisor::status::HostStatus,
    took: Duration,
) -> Result<()> {
    if ctx.output == OutputFormat::Json {
        return print_json(status);
    }
    println!(
        "Rosey is running (pid {}), ready in {} ms",
        status.pid,
        took.as_millis()
    );
    println!(
        "  NATS: {}{}",
        status.nats_url,
        if status.managed_nats {
            " (managed by Rosey)"
        } else {
            ""
        }
    );
    let running: Vec<String> = status
        .plugins
        .iter()
        .map(|p| format!("{} ({})", p.name, p.state))
        .collect();
    println!(
        "  plugins: {}",
        if running.is_empty() {
            "none installed".into()
        } else {
            running.join(", ")
        }
    );
    if let Some(admin) = &status.admin {
        println!("  dashboard: {admin} (log in with the token `rosey admin token` prints)");
    }
    println!("  logs: rosey logs -f    chat: rosey chat    stop: rosey stop");
    Ok(())
}

impl Stop {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let within = Duration::from_secs(self.timeout_secs);
        if self.service == Service::Nats {
            if let Some(pid) = process::running_pid(&ctx.home)
                && ctx.output == OutputFormat::Text
            {
                eprintln!(
                    "note: the host (pid {pid}) is running; it loses the bus until NATS is back \
                     (`rosey start nats`)"
                );
            }
            let stopped = nats_service::stop(&ctx.home, within)?;
            return report_stopped(ctx, "NATS", stopped);
        }
        let stopped = stop_host(ctx, within)?;
        if self.service == Service::All {
            nats_service::stop(&ctx.home, within)?;
        }
        report_stopped(ctx, "Rosey", stopped)
    }
}

fn report_stopped(ctx: &Context, what: &str, stopped: Option<u32>) -> Result<()> {
    match (ctx.output, stopped) {
        (OutputFormat::Json, Some(pid)) => {
            print_json(&serde_json::json!({ "stopped": true, "pid": pid }))
        }
        (OutputFormat::Json, None) => {
            print_json(&serde_json::json!({ "stopped": false, "running": false }))
        }
        (OutputFormat::Text, Some(pid)) => {
            println!("Stopped {what} (pid {pid})");
            Ok(())
        }
        (OutputFormat::Text, None) => {
            println!("{what} is not running");
            Ok(())
        }
    }
}

/// Stop the running host, if any; returns the pid that was stopped.
fn stop_host(ctx: &Context, within: Duration) -> Result<Option<u32>> {
    let Some(pid) = process::running_pid(&ctx.home) else {
        let _ = fs::remove_file(ctx.home.pid_file());
        return Ok(None);
    };
    process::terminate(pid)?;
    if !process::wait_exit(pid, within) {
        bail!("the host (pid {pid}) did not stop within {within:?}; see `rosey logs`");
    }
    Ok(Some(pid))
}

/// `rosey restart [SERVICE]`: stop it quietly, then start it (which
/// reports, once). `restart host` leaves NATS up.
pub fn restart(ctx: &Context, start: Start) -> Result<()> {
    // Nothing is stopped if what would start cannot.
    ctx.settings()?;
    let within = Duration::from_secs(30);
    match start.service {
        Service::Host => {
            stop_host(ctx, within)?;
        }
        Service::Nats => {
            nats_service::stop(&ctx.home, within)?;
        }
        Service::All => {
            stop_host(ctx, within)?;
            nats_service::stop(&ctx.home, within)?;
        }
    }
    start.run(ctx)
}

#[derive(Serialize)]
struct NotRunning {
    running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_error: Option<String>,
}

/// What `rosey status` says about the settings: why rosey.yaml will stop
/// the next start, or that it changed after the running host read it.
fn config_notes(ctx: &Context, started_at: Option<i64>) -> (Option<String>, bool) {
    let error = ctx.settings.as_ref().err().map(|e| e.to_string());
    let changed = started_at.is_some_and(|started| {
        fs::metadata(ctx.home.config_file())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .is_some_and(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX) > started)
    });
    (error, changed)
}

fn print_config_notes(ctx: &Context, error: Option<&str>, changed: bool) {
    if let Some(error) = error {
        eprintln!(
            "note: the next `rosey start` will fail: {error}; fix it with `rosey config edit`"
        );
    } else if changed {
        eprintln!(
            "note: {} changed after the host started; `rosey restart host` applies it",
            ctx.home.config_file().display()
        );
    }
}

pub fn status(ctx: &Context) -> Result<()> {
    let Some(status) = process::read_status(&ctx.home) else {
        let (config_error, _) = config_notes(ctx, None);
        if ctx.output == OutputFormat::Json {
            return print_json(&NotRunning {
                running: false,
                config_error,
            });
        }
        println!("Rosey is not running (start it with `rosey start`)");
        print_config_notes(ctx, config_error.as_deref(), false);
        return Ok(());
    };
    let (config_error, config_changed) = config_notes(ctx, Some(status.started_at));
    if ctx.output == OutputFormat::Json {
        let mut value = serde_json::to_value(&status)?;
        value["running"] = serde_json::Value::Bool(true);
        if let Some(error) = config_error {
            value["config_error"] = serde_json::Value::String(error);
        }
        if config_changed {
            value["config_changed_since_start"] = serde_json::Value::Bool(true);
        }
        return print_json(&value);
    }
    print_config_notes(ctx, config_error.as_deref(), config_changed);
    println!(
        "Rosey {} running (pid {}), up {}",
        status.version,
        status.pid,
        ago(status.started_at)
    );
    println!(
        "  NATS: {} {}{}",
        status.nats_url,
        if status.nats_connected {
            "connected"
        } else {
            "DISCONNECTED"
        },
        if status.managed_nats {
            ", managed by Rosey"
        } else {
            ""
        }
    );
    if let Some(admin) = &status.admin {
        println!("  dashboard: {admin}");
    }
    if status.plugins.is_empty() {
        println!("  no plugins installed");
        return Ok(());
    }
    let mut table = Table::new(vec![
        "PLUGIN",
        "VERSION",
        "STATE",
        "SINCE",
        "MEMORY",
        "MSGS",
        "CMDS",
        "ERRORS",
        "TRAPS",
        "RESTARTS",
        "P50/P99",
        "FUEL",
        "LIMITS",
        "DENIED",
        "LAST ERROR",
    ]);
    for p in &status.plugins {
        table.row(vec![
            p.name.clone(),
            p.version.clone(),
            p.state.to_string(),
            ago(p.since),
            format!("{}/{}", human_bytes(p.memory), human_bytes(p.memory_limit)),
            p.stats.messages.to_string(),
            p.stats.commands.to_string(),
            p.stats.errors.to_string(),
            p.stats.traps.to_string(),
            p.stats.restarts.to_string(),
            match (p.stats.p50_micros, p.stats.p99_micros) {
                (Some(p50), Some(p99)) => format!("{}/{}", micros(p50), micros(p99)),
                _ => "-".into(),
            },
            count(p.stats.fuel_used),
            p.stats.limit_hits.to_string(),
            p.stats.denied.to_string(),
            p.error
                .clone()
                .or(p.stats.last_error.clone())
                .unwrap_or_default(),
        ]);
    }
    table.print();
    Ok(())
}

/// A large count, short: 950, 12.3k, 4.5M, 6.7G.
fn count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

fn absolute(path: &Path) -> Result<std::path::PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `800` → `800µs`, `2000` → `2ms`, `5000000` → `5s`.
fn micros(value: u64) -> String {
    match value {
        u64::MAX => ">60s".into(),
        v if v >= 1_000_000 => format!("{}s", v / 1_000_000),
        v if v >= 1_000 => format!("{}ms", v / 1_000),
        v => format!("{v}µs"),
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_are_short() {
        assert_eq!(count(950), "950");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(count(4_500_000), "4.5M");
        assert_eq!(count(6_700_000_000), "6.7G");
    }
}
