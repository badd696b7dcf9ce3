//! The host's end of the control channel.

use std::path::Path;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::{MAX_REQUEST_BYTES, Reply, Request};
use crate::supervisor::{Control, Delivery};

/// How long a client has to send its request line.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The uid allowed to use the control channel: the host's own.
pub fn owner() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Listen on `socket` (replacing a stale socket file left by a host that
/// died), private to the owner.
pub fn bind(socket: &Path) -> Result<UnixListener> {
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            bail!(
                "another host is serving {}; stop it first with `rosey stop`",
                socket.display()
            );
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("could not remove the stale {}", socket.display()))?;
    }
    let listener = UnixListener::bind(socket).with_context(|| {
        format!(
            "could not open the control channel at {} (a Unix socket path must be \
             shorter than 108 bytes: use a shorter ROSEY_HOME)",
            socket.display()
        )
    })?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("could not restrict {}", socket.display()))?;
    Ok(listener)
}

/// Serve connections until the task is aborted: each from `owner` only,
/// one request each, operations one at a time (the [`Control`] serialises
/// them).
pub async fn serve(listener: UnixListener, control: Control, owner: u32) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let control = control.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &control, owner).await {
                tracing::debug!("control connection: {e:#}");
            }
        });
    }
}

async fn answer(stream: UnixStream, control: &Control, owner: u32) -> Result<()> {
    let peer = stream.peer_cred().context("no peer credentials")?.uid();
    let (read, mut write) = stream.into_split();
    // The request is read (bounded in size and time) before anyone is refused:
    // a client writes first and reads second, so closing on it unread would
    // show it "broken pipe" instead of the reason. A client that connects and
    // says nothing does not hold a task forever.
    let mut line = String::new();
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        BufReader::new(read.take(MAX_REQUEST_BYTES)).read_line(&mut line),
    )
    .await
    .context("no request within 10 s")??;
    if peer != owner {
        tracing::warn!(uid = peer, "refused a control connection from another user");
        let reply = Reply::Failed(format!(
            "permission denied: only the host's owner (uid {owner}) may control it"
        ));
        return send(&mut write, &reply).await;
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply::Failed(format!("malformed control request: {e}")),
        Ok(request) => {
            tracing::info!(request = %request.summary(), "control request");
            let result = dispatch(control, request).await;
            control.refresh_status();
            match result {
                Ok(outcome) => Reply::Done(outcome),
                Err(e) => Reply::Failed(format!("{e:#}")),
            }
        }
    };
    send(&mut write, &reply).await
}

async fn dispatch(control: &Control, request: Request) -> Result<super::Outcome> {
    match request {
        Request::Ping => Ok(super::Outcome {
            message: "pong".into(),
            ..Default::default()
        }),
        Request::Install {
            path,
            sha256,
            signature,
            origin,
        } => {
            let delivery = Delivery {
                sha256,
                signature,
                origin,
            };
            control.install(&path, delivery).await
        }
        Request::Update {
            path,
            sha256,
            signature,
            origin,
            force,
        } => {
            let delivery = Delivery {
                sha256,
                signature,
                origin,
            };
            control.update(&path, delivery, force).await
        }
        Request::Approve {
            name,
            digest,
            force,
        } => control.approve(&name, digest.as_deref(), force).await,
        Request::Remove { name, force } => control.remove(&name, force).await,
        Request::Enable { name } => control.enable(&name).await,
        Request::Disable { name } => control.disable(&name).await,
        Request::Migrate { name } => control.migrate(&name).await,
        Request::Restore => control.restore().await,
        Request::Configure { name, text } => control.configure(&name, &text).await,
        Request::Rollback { name, steps } => control.rollback(&name, steps).await,
    }
}

async fn send(write: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> Result<()> {
    let mut bytes = serde_json::to_vec(reply)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await?;
    Ok(())
}
