//! The local nats-server as a service of its own (`rosey start nats`): a
//! background process with `run/nats.pid` and `run/nats.url`, so the host
//! can restart without the bot core losing its bus. A restarted server
//! takes its old port again when it is free, so clients (the host, the bot
//! core) reconnect on their own.

use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rosey_host::home::RoseyHome;
use rosey_host::nats::{NATS_SERVER_ENV, free_port};

use crate::commands::Context;
use crate::process;

/// The running NATS service's pid and URL, if it runs.
pub fn running(home: &RoseyHome) -> Option<(u32, String)> {
    let pid: u32 = fs::read_to_string(home.nats_pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let url = fs::read_to_string(home.nats_url_file()).ok()?;
    process::is_alive(pid).then(|| (pid, url.trim().to_owned()))
}

/// Start the NATS service unless it runs; returns its pid, its URL and
/// whether it was started now.
pub fn ensure(ctx: &Context) -> Result<(u32, String, bool)> {
    if let Some(url) = &ctx.nats_url {
        let from = match &ctx.settings {
            Ok(settings) => settings.nats_url.source.to_string(),
            Err(_) => "--nats-url or ROSEY_NATS_URL".into(),
        };
        bail!("NATS is external here ({url}, from {from}); there is nothing to start");
    }
    if let Some((pid, url)) = running(&ctx.home) {
        return Ok((pid, url, false));
    }
    let home = &ctx.home;
    home.ensure()?;
    let binary = std::env::var_os(NATS_SERVER_ENV).unwrap_or_else(|| "nats-server".into());
    // The port it had before, if free: a host still running reconnects to
    // the same URL by itself after `rosey restart nats`.
    let previous = fs::read_to_string(home.nats_url_file())
        .ok()
        .and_then(|url| url.trim().rsplit(':').next()?.parse::<u16>().ok())
        .filter(|port| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_ok());
    let port = match previous {
        Some(port) => port,
        None => free_port()?,
    };
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.nats_log())
        .with_context(|| format!("could not open {}", home.nats_log().display()))?;
    let mut command = Command::new(&binary);
    command
        .args(["--addr", "127.0.0.1", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: closing the terminal does not stop it.
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "nats-server was not found on PATH: install it (Debian/Ubuntu: `apt-get install \
                 nats-server`), set {NATS_SERVER_ENV} to its path, or use an existing server with \
                 --nats-url"
            )
        } else {
            anyhow::Error::new(e).context("could not start nats-server")
        }
    })?;
    let pid = child.id();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!(
                "nats-server exited at start-up ({status}); see {}",
                home.nats_log().display()
            );
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            bail!("nats-server did not accept connections within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("nats://127.0.0.1:{port}");
    fs::write(home.nats_url_file(), &url)?;
    fs::write(home.nats_pid_file(), pid.to_string())?;
    Ok((pid, url, true))
}

/// Stop the NATS service if it runs; returns the pid stopped.
pub fn stop(home: &RoseyHome, within: Duration) -> Result<Option<u32>> {
    // run/nats.url stays, so the next start can take the same port.
    let Some((pid, _)) = running(home) else {
        let _ = fs::remove_file(home.nats_pid_file());
        return Ok(None);
    };
    process::terminate(pid)?;
    if !process::wait_exit(pid, within) {
        bail!("nats-server (pid {pid}) did not stop within {within:?}");
    }
    let _ = fs::remove_file(home.nats_pid_file());
    Ok(Some(pid))
}
