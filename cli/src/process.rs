//! Finding and signalling the background host process.

use std::fs;
use std::time::{Duration, Instant};

use rosey_host::home::RoseyHome;
use rosey_host::supervisor::status::HostStatus;

/// The pid of the running host, if its pid file names a live process.
pub fn running_pid(home: &RoseyHome) -> Option<u32> {
    let text = fs::read_to_string(home.pid_file()).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    is_alive(pid).then_some(pid)
}

/// Whether process `pid` exists.
pub fn is_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    rustix::process::test_kill_process(pid).is_ok()
}

/// Ask process `pid` to stop (SIGTERM).
pub fn terminate(pid: u32) -> anyhow::Result<()> {
    let raw = i32::try_from(pid)?;
    let pid =
        rustix::process::Pid::from_raw(raw).ok_or_else(|| anyhow::anyhow!("invalid pid {raw}"))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
    Ok(())
}

/// Wait up to `within` for `pid` to exit; true if it did.
pub fn wait_exit(pid: u32, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if !is_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !is_alive(pid)
}

/// The running host's status file, if the host is running.
pub fn read_status(home: &RoseyHome) -> Option<HostStatus> {
    running_pid(home)?;
    let bytes = fs::read(home.status_file()).ok()?;
    serde_json::from_slice(&bytes).ok()
}
