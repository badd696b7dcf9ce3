//! A `nats-server` that Rosey starts and supervises itself, on a free
//! loopback port, when no external NATS URL is configured.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

/// The environment variable that names the `nats-server` binary to run.
pub const NATS_SERVER_ENV: &str = "ROSEY_NATS_SERVER";

/// A running `nats-server` child process; killed when dropped.
pub struct ManagedNats {
    child: Child,
    port: u16,
    log: Option<PathBuf>,
}

impl ManagedNats {
    /// Start `nats-server` on a free loopback port and wait until it accepts
    /// connections. With `log`, the server writes its log there.
    pub async fn start(log: Option<&Path>) -> Result<Self> {
        let binary = std::env::var_os(NATS_SERVER_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("nats-server"));
        let mut last_error = None;
        // Another process can take the port between our probe and the
        // server's bind; try a few ports.
        for _ in 0..3 {
            let port = free_port()?;
            match Self::spawn(&binary, port, log).await {
                Ok(server) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("could not start nats-server")))
    }

    async fn spawn(binary: &Path, port: u16, log: Option<&Path>) -> Result<Self> {
        let mut command = Command::new(binary);
        command
            .args(["--addr", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(log) = log {
            command.arg("--log").arg(log);
        }
        let child = command.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "nats-server was not found on PATH: install it (Debian/Ubuntu: \
                     `apt-get install nats-server`), set {NATS_SERVER_ENV} to its path, \
                     or use an existing server with --nats-url / ROSEY_NATS_URL"
                )
            } else {
                anyhow::Error::new(e).context(format!("could not run {}", binary.display()))
            }
        })?;
        let mut server = Self {
            child,
            port,
            log: log.map(Path::to_path_buf),
        };
        server.wait_ready(Duration::from_secs(10)).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, within: Duration) -> Result<()> {
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "nats-server exited at start-up ({status}){}",
                    self.log
                        .as_ref()
                        .map(|l| format!("; see {}", l.display()))
                        .unwrap_or_default()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > within {
                bail!(
                    "nats-server did not accept connections on port {} within {within:?}",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// If the server has exited, start it again on the same port.
    pub async fn restart_if_exited(&mut self) -> Result<bool> {
        if self.child.try_wait()?.is_none() {
            return Ok(false);
        }
        let binary = std::env::var_os(NATS_SERVER_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("nats-server"));
        let restarted = Self::spawn(&binary, self.port, self.log.as_deref()).await?;
        *self = restarted;
        Ok(true)
    }

    /// Stop the server and wait for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}
