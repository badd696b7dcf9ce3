//! The dashboard in a real browser: headless Chromium, driven over
//! WebDriver (chromedriver, fantoccini), against a background host on a
//! real nats-server. It logs in, uploads a plugin, approves what it asks
//! for, sees it running, gets its reply to a chat message through NATS,
//! disables it and sees the state change; and saves screenshots on the way
//! (in `$CARGO_TARGET_TMPDIR/dashboard-screenshots/`, or
//! `ROSEY_SCREENSHOTS`).
//!
//! `scripts/setup.sh` installs Debian's `chromium` and `chromium-driver`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use rosey_tests::{BotCore, ManagedNats, StopOnDrop, home_with_echo, rosey_ok, start_with_admin};

/// chromedriver, ended with the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(program: &str, fallbacks: &[&str]) -> PathBuf {
    std::iter::once(program)
        .chain(fallbacks.iter().copied())
        .flat_map(|name| {
            std::env::var_os("PATH")
                .map(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{program} is not installed: run scripts/setup.sh (Debian: apt-get install chromium chromium-driver)")
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser(profile: &Path) -> (Driver, Client) {
    let chromium = find("chromium", &["chromium-browser", "google-chrome"]);
    let chromedriver = find("chromedriver", &[]);
    let port = free_port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("could not start chromedriver"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
                "--window-size=1280,1000",
            ],
        }),
    );
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("could not start a browser session: {e}"),
        }
    }
}

/// Wait until `css` finds an element whose text contains `text`.
async fn wait_text(client: &Client, css: &str, text: &str) -> String {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(elements) = client.find_all(Locator::Css(css)).await {
            for element in elements {
                if let Ok(t) = element.text().await {
                    if t.contains(text) {
                        return t;
                    }
                    last = t;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {css} showed {text:?} within 30 s (last: {last:?})");
}

async fn screenshot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(dir.join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_installs_runs_and_disables_a_plugin_from_the_dashboard() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let (home, quotes, _) = home_with_echo(work.path());
    let shots = std::env::var_os("ROSEY_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let (base, token) = start_with_admin(&home, &url);
    let _stop = StopOnDrop(&home);
    let mut bot = BotCore::connect(&url).await;
    bot.ask("!echo warming up the chart").await;

    let (_driver, client) = browser(&work.path().join("profile")).await;
    client.goto(&format!("{base}/")).await.unwrap();

    // Log in with the token.
    let field = client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    field.send_keys(&token).await.unwrap();
    screenshot(&client, &shots, "dashboard-login.png").await;
    client
        .find(Locator::Css("#login-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&client, "tr[data-plugin=echo]", "running").await;
    screenshot(&client, &shots, "dashboard-plugins.png").await;

    // Upload quote-bot: what it asks for is shown before anything installs.
    client.goto(&format!("{base}/#/install")).await.unwrap();
    let input = client
        .wait()
        .for_element(Locator::Id("package"))
        .await
        .unwrap();
    input.send_keys(quotes.to_str().unwrap()).await.unwrap();
    client
        .find(Locator::Id("inspect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let shown = wait_text(&client, "#inspection", "database_access").await;
    assert!(
        shown.contains("keep data in its own private database"),
        "{shown}"
    );
    assert!(
        !home.join("plugins/quote-bot").exists(),
        "installed before approval"
    );
    screenshot(&client, &shots, "dashboard-install.png").await;
    client
        .find(Locator::Id("approve-install"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Its page shows it running, with its permissions and limits.
    wait_text(&client, "h2 .state", "running").await;
    let page = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("quote-bot 0.1.0") && page.contains("Memory"),
        "{page}"
    );

    // A chat message through NATS gets its reply, and the live log shows it.
    let reply = bot.ask("!quote add Typed in a browser test").await;
    assert_eq!(reply.text, "Added quote #1.");
    assert_eq!(reply.plugin, "quote-bot");
    wait_text(&client, "#log", "added quote #1").await;
    screenshot(&client, &shots, "dashboard-plugin.png").await;

    // The configuration form, generated from its config_schema, checks
    // as you type; a valid value is applied to the running plugin.
    let field = client
        .wait()
        .for_element(Locator::Id("cfg-search_results"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys("0").await.unwrap();
    wait_text(&client, "#cfg-search_results-error", "At least 1").await;
    client
        .execute("document.getElementById('cfg').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(&client, &shots, "dashboard-config.png").await;
    field.clear().await.unwrap();
    field.send_keys("7").await.unwrap();
    client
        .find(Locator::Css("#cfg ~ form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&client, "#notice", "applied the new configuration").await;
    let config = std::fs::read_to_string(home.join("plugins/quote-bot/config.yaml")).unwrap();
    assert!(config.contains("search_results: 7"), "{config}");
    client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();

    // Disable it, confirming in the dialog: the state changes on the page
    // and on the host.
    client
        .find(Locator::Id("disable"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let ok = client
        .wait()
        .for_element(Locator::Id("confirm-ok"))
        .await
        .unwrap();
    ok.click().await.unwrap();
    wait_text(&client, "h2 .state", "disabled").await;
    let status: serde_json::Value =
        serde_json::from_str(&rosey_ok(&home, None, &["status", "--output", "json"])).unwrap();
    let state = status["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "quote-bot")
        .unwrap()["state"]
        .clone();
    assert_eq!(state, "disabled");
    screenshot(&client, &shots, "dashboard-disabled.png").await;

    // The host page: NATS, uptime, the message-rate chart (with some
    // traffic to draw).
    for i in 0..40 {
        bot.ask(&format!("!echo {i}")).await;
    }
    client.goto(&format!("{base}/#/host")).await.unwrap();
    wait_text(&client, "#nats-state", "connected").await;
    wait_text(&client, "#rate-summary", "Now:").await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await; // one more sample drawn
    screenshot(&client, &shots, "dashboard-host.png").await;

    // Readable on a phone.
    client.set_window_size(400, 860).await.unwrap();
    client.goto(&format!("{base}/#/")).await.unwrap();
    wait_text(&client, "tr[data-plugin=quote-bot]", "disabled").await;
    screenshot(&client, &shots, "dashboard-narrow.png").await;

    client.close().await.unwrap();
    eprintln!("screenshots in {}", shots.display());
}
