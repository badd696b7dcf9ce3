//! `rosey dev`: build, run, chat, and hot-reload on every change, with
//! build errors shown and the running version kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rosey_tests::{ManagedNats, guest_wasm, rosey_bin, workspace_path};

/// Lines from one of the child's streams.
struct Lines(mpsc::Receiver<String>, Vec<String>);

impl Lines {
    fn of(stream: impl std::io::Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self(rx, Vec::new())
    }

    /// Wait for a line containing `text`.
    fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    self.1.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {text:?}; got:\n{}", self.1.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_rebuilds_and_reloads_on_every_change() {
    let nats = ManagedNats::start(None).await.unwrap();
    let project = tempfile::tempdir().unwrap();
    // A project in "another language": its component is plugin.wasm.
    let manifest =
        std::fs::read_to_string(workspace_path("example-plugins/echo/manifest.yaml")).unwrap();
    std::fs::write(project.path().join("manifest.yaml"), &manifest).unwrap();
    std::fs::copy(guest_wasm("echo"), project.path().join("plugin.wasm")).unwrap();

    let mut child = Command::new(rosey_bin())
        .arg("dev")
        .arg(project.path())
        .env("ROSEY_NATS_URL", nats.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = Lines::of(child.stdout.take().unwrap());
    let mut err = Lines::of(child.stderr.take().unwrap());
    err.expect("rosey dev: watching");

    writeln!(stdin, "!echo first").unwrap();
    out.expect("[echo] first");

    // A change is rebuilt and swapped in.
    std::fs::write(
        project.path().join("manifest.yaml"),
        manifest.replace("version: 0.1.0", "version: 0.2.0"),
    )
    .unwrap();
    err.expect("Updated echo 0.1.0 → 0.2.0 without a restart");
    writeln!(stdin, "!echo second").unwrap();
    out.expect("[echo] second");

    // A change that asks for more is approved here (the author's own).
    std::fs::write(
        project.path().join("manifest.yaml"),
        manifest
            .replace("version: 0.1.0", "version: 0.3.0")
            .replace("permissions: []", "permissions: [database_access]"),
    )
    .unwrap();
    err.expect("+ permission database_access");
    err.expect("Updated echo 0.2.0 → 0.3.0");

    // A broken change is reported; the running version keeps serving.
    std::fs::write(project.path().join("manifest.yaml"), "name: [").unwrap();
    err.expect("build failed, the running version keeps serving");
    writeln!(stdin, "!echo third").unwrap();
    out.expect("[echo] third");

    // Ctrl-D ends it cleanly.
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "rosey dev did not exit at EOF");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let dev_home = project.path().join(".rosey-dev");
    // The dev home keeps the last good version for the next run.
    let registry = rosey_host::registry::Registry::open(&dev_home.join("host.db")).unwrap();
    let echo = registry.get(&"echo".parse().unwrap()).unwrap().unwrap();
    assert_eq!(echo.version.to_string(), "0.3.0");
    assert!(!dev_home.join("run/status.json").exists());
}
