//! The CLI's end of the control channel.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Outcome, Reply, Request};
use crate::home::RoseyHome;

/// How long the CLI waits for an answer: longer than the longest compile
/// (`COMPILE_TIMEOUT`) plus a plugin's start.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(300);

/// A connection to a running host's control channel.
pub struct ControlClient {
    stream: UnixStream,
}

impl ControlClient {
    /// Connect to the host running on `home`, if one is listening.
    pub fn connect(home: &RoseyHome) -> Option<Self> {
        let stream = UnixStream::connect(home.control_socket()).ok()?;
        Some(Self { stream })
    }

    /// Send `request` and wait for the host's answer.
    pub fn call(mut self, request: &Request) -> Result<Outcome> {
        self.stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        self.stream
            .write_all(&line)
            .context("could not send the request to the host")?;
        let mut answer = String::new();
        BufReader::new(&self.stream)
            .read_line(&mut answer)
            .context("the host did not answer")?;
        if answer.is_empty() {
            bail!("the host closed the control channel without answering (see `rosey logs host`)");
        }
        match serde_json::from_str::<Reply>(&answer).context("the host's answer is malformed")? {
            Reply::Done(outcome) => Ok(outcome),
            Reply::Failed(message) => Err(anyhow::anyhow!(message)),
        }
    }
}
