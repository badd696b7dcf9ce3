//! Shared pieces of Rosey's end-to-end tests: where the guest components and
//! the `rosey` binary are, a real `nats-server` on a free port, a NATS client
//! that plays the bot core, and temporary homes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use futures::StreamExt;
use rosey_host::package::{Manifest, Package, embed_manifest};
use rosey_host::protocol::{self, ChatMessage, SendMessage};

pub use rosey_host::nats::ManagedNats;

pub mod http_client;

/// Where the guest components were built (`<name>.wasm`, `-` as `_`).
pub const GUEST_DIR: &str = env!("ROSEY_GUEST_DIR");
/// The target dir the guests were built in; pass it to `rosey plugin build`
/// as CARGO_TARGET_DIR so it finds them already built.
pub const GUEST_TARGET_DIR: &str = env!("ROSEY_GUEST_TARGET_DIR");
/// The workspace root.
pub const WORKSPACE_ROOT: &str = env!("ROSEY_WORKSPACE_ROOT");

/// The built component of guest crate `name`.
pub fn guest_wasm(name: &str) -> PathBuf {
    Path::new(GUEST_DIR).join(format!("{}.wasm", name.replace('-', "_")))
}

/// A directory of the workspace, e.g. `example-plugins/echo`.
pub fn workspace_path(relative: &str) -> PathBuf {
    Path::new(WORKSPACE_ROOT).join(relative)
}

/// A package built from a project directory (`example-plugins/echo`) and
/// its guest component (`echo`), with its manifest text rewritten by `edit`
/// (the manifest is re-embedded in the component, as `rosey plugin build`
/// does).
pub fn package_with(project: &str, guest: &str, edit: impl Fn(String) -> String) -> Package {
    let raw = std::fs::read(guest_wasm(guest)).unwrap();
    let mut package = Package::from_project_dir(&workspace_path(project), raw.clone()).unwrap();
    let yaml = edit(package.manifest_yaml.clone());
    package.manifest = Manifest::from_yaml(&yaml).unwrap();
    package.wasm = embed_manifest(&raw, &yaml).unwrap();
    package.manifest_yaml = yaml;
    package
}

/// The `rosey` binary. Cargo builds it for `cargo test` because the CLI
/// crate has integration tests; `ROSEY_BIN` overrides.
pub fn rosey_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ROSEY_BIN") {
        return bin.into();
    }
    // target/<profile>/deps/<test-binary> → target/<profile>/rosey
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("rosey");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (which builds it), \
         or `cargo build -p rosey-cli` first",
        bin.display()
    );
    bin
}

/// Run `rosey` with `args` against `home` (and `nats_url`, if any).
pub fn rosey(home: &Path, nats_url: Option<&str>, args: &[&str]) -> Output {
    match nats_url {
        Some(url) => rosey_env(home, &[("ROSEY_NATS_URL", url)], args),
        None => rosey_env(home, &[], args),
    }
}

/// Run `rosey` with `args` against `home`, with the settings variables of
/// the environment the tests run in removed and `env` set. Hosts the tests
/// start serve no admin API (the tests run many hosts at once, and the
/// default address fits one), unless `env` sets ROSEY_ADMIN_LISTEN.
pub fn rosey_env(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(rosey_bin());
    command
        .args(args)
        .env("ROSEY_HOME", home)
        .env("CARGO_TARGET_DIR", GUEST_TARGET_DIR)
        .env("ROSEY_ADMIN_LISTEN", "off")
        .stdin(std::process::Stdio::null());
    for var in ["ROSEY_NATS_URL", "ROSEY_INDEX", "ROSEY_TRUST_POLICY"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().expect("could not run rosey")
}

/// Run `rosey` and insist that it succeeds; returns stdout.
pub fn rosey_ok(home: &Path, nats_url: Option<&str>, args: &[&str]) -> String {
    let output = rosey(home, nats_url, args);
    assert!(
        output.status.success(),
        "rosey {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A NATS client that plays the bot core: sends chat lines, reads replies.
pub struct BotCore {
    client: async_nats::Client,
    replies: async_nats::Subscriber,
    counter: u64,
}

impl BotCore {
    /// Connect to `url` and listen on `rosey.chat.send_message`.
    pub async fn connect(url: &str) -> Self {
        let client = async_nats::connect(url).await.unwrap();
        let replies = client.subscribe(protocol::SEND_MESSAGE).await.unwrap();
        client.flush().await.unwrap();
        Self {
            client,
            replies,
            counter: 0,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Say `text` in `lobby` as `alice`; returns the message id.
    pub async fn say(&mut self, text: &str) -> String {
        self.counter += 1;
        let id = format!("m-{}", self.counter);
        let message = ChatMessage {
            id: Some(id.clone()),
            channel: "lobby".into(),
            user: "alice".into(),
            text: text.into(),
            timestamp: Some(1_732_240_000_000),
        };
        self.client
            .publish(
                protocol::CHAT_MESSAGE,
                serde_json::to_vec(&message).unwrap().into(),
            )
            .await
            .unwrap();
        self.client.flush().await.unwrap();
        id
    }

    /// The next chat reply, within `within`.
    pub async fn reply(&mut self, within: Duration) -> Option<SendMessage> {
        let message = tokio::time::timeout(within, self.replies.next())
            .await
            .ok()??;
        Some(serde_json::from_slice(&message.payload).expect("a reply that is not a SendMessage"))
    }

    /// Say `text` and return the reply to it (ignoring replies to others).
    pub async fn ask(&mut self, text: &str) -> SendMessage {
        let id = self.say(text).await;
        loop {
            let reply = self
                .reply(Duration::from_secs(20))
                .await
                .unwrap_or_else(|| panic!("no reply to {text:?} within 20 s"));
            if reply.reply_to.as_deref() == Some(id.as_str()) {
                return reply;
            }
        }
    }
}

/// Stops the background host of a home when dropped, so a failing
/// assertion does not leave it running.
pub struct StopOnDrop<'a>(pub &'a Path);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = rosey(self.0, None, &["stop"]);
    }
}

/// A host started in the background on `home` (with NATS at `nats_url`)
/// serving the admin API on a free loopback port; its base URL and token.
pub fn start_with_admin(home: &Path, nats_url: &str) -> (String, String) {
    let out = rosey_env(
        home,
        &[
            ("ROSEY_NATS_URL", nats_url),
            ("ROSEY_ADMIN_LISTEN", "127.0.0.1:0"),
        ],
        &["start", "--output", "json"],
    );
    assert!(
        out.status.success(),
        "rosey start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = status["admin"]
        .as_str()
        .unwrap_or_else(|| panic!("no admin address in the status: {status}"))
        .trim_end_matches('/')
        .to_owned();
    let token = std::fs::read_to_string(home.join("admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    (url, token)
}

/// A package archive of an example plugin (its guest built by the build
/// script), with its manifest rewritten by `edit`, written to `path`.
pub fn write_example(
    project: &str,
    guest: &str,
    path: &Path,
    edit: impl Fn(String) -> String,
) -> Vec<u8> {
    let bytes = package_with(project, guest, edit).write_archive().unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// A home in `work` with echo installed (offline), and the quote-bot
/// archive written beside it: (home, quote-bot archive, its bytes).
pub fn home_with_echo(work: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let home = work.join("home");
    let echo = work.join("echo.roseyplug");
    write_example("example-plugins/echo", "echo", &echo, |m| m);
    let quotes = work.join("quote-bot.roseyplug");
    let bytes = write_example("example-plugins/quote-bot", "quote-bot", &quotes, |m| m);
    rosey_ok(
        &home,
        None,
        &["plugin", "install", echo.to_str().unwrap(), "--yes"],
    );
    (home, quotes, bytes)
}
