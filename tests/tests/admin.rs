//! The admin API over real HTTP against a background `rosey start` on a
//! real nats-server, with the example plugins' real components: every
//! operation of `rosey plugin ...` and `rosey status/logs`, and the
//! security rules (token, sessions, CSRF, back-off, no CORS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use http::{Method, StatusCode};
use rosey_tests::http_client::{Api, Part};
use rosey_tests::{
    BotCore, ManagedNats, StopOnDrop, home_with_echo, rosey_ok, start_with_admin, write_example,
};

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_does_what_the_cli_does_on_a_running_host() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let (home, _, quote_bytes) = home_with_echo(work.path());

    let (base, token) = start_with_admin(&home, &url);
    let _stop = StopOnDrop(&home);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let anonymous = Api::new(&base);
    let api = anonymous.bearer(&token);
    let mut bot = BotCore::connect(&url).await;

    // Status and the plugin list, as `rosey status` and `plugin list`.
    let status = api.get("/api/status").await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text());
    let status = status.json();
    assert_eq!(status["nats_connected"], true);
    assert_eq!(status["admin"].as_str(), Some(format!("{base}/").as_str()));
    assert!(status["message_rate"]["points"].is_array());
    let list = api.get("/api/plugins").await.json();
    assert_eq!(list[0]["name"], "echo");
    assert_eq!(list[0]["state"], "running");
    assert_eq!(list[0]["health"], "ok");

    // Inspect an upload: what it asks for, in the CLI's words, and the
    // digest to approve it with. Nothing is installed yet.
    let file = Part::File("package", "quote-bot.roseyplug", &quote_bytes);
    let inspection = api.multipart("/api/plugins/inspect", &[file]).await;
    assert_eq!(inspection.status, StatusCode::OK, "{}", inspection.text());
    let inspection = inspection.json();
    assert_eq!(inspection["asked"]["name"], "quote-bot");
    assert_eq!(
        inspection["asked"]["permissions"][0]["meaning"],
        rosey_host::approval::explain(rosey_host::package::Permission::DatabaseAccess)
    );
    assert_eq!(inspection["installable"], true);
    assert!(inspection["installed"].is_null());
    assert_eq!(inspection["signature"]["provided"], false);
    assert_eq!(inspection["signature"]["verified"], false);
    let approval = inspection["approval"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get("/api/plugins/quote-bot").await.status,
        StatusCode::NOT_FOUND
    );

    // An install must carry that digest, for that file.
    let file = || Part::File("package", "quote-bot.roseyplug", &quote_bytes);
    let refused = api.multipart("/api/plugins", &[file()]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inspect")
    );
    let wrong = api
        .multipart(
            "/api/plugins",
            &[file(), Part::Text("approval", &"0".repeat(64))],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::CONFLICT);
    assert_eq!(wrong.error_code(), "approval_mismatch");
    // The same plugin asking for one more permission is another approval.
    let greedy = write_example(
        "example-plugins/quote-bot",
        "quote-bot",
        &work.path().join("greedy.roseyplug"),
        |m| {
            m.replace(
                "permissions: [database_access]",
                "permissions: [database_access, send_messages]",
            )
        },
    );
    let swapped = api
        .multipart(
            "/api/plugins",
            &[
                Part::File("package", "quote-bot.roseyplug", &greedy),
                Part::Text("approval", &approval),
            ],
        )
        .await;
    assert_eq!(swapped.status, StatusCode::CONFLICT, "{}", swapped.text());
    assert_eq!(
        api.get("/api/plugins/quote-bot").await.status,
        StatusCode::NOT_FOUND,
        "a refused install installs nothing"
    );
    let installed = api
        .multipart("/api/plugins", &[file(), Part::Text("approval", &approval)])
        .await;
    assert_eq!(
        installed.status,
        StatusCode::CREATED,
        "{}",
        installed.text()
    );
    assert_eq!(installed.json()["state"], "running");
    assert_eq!(
        bot.ask("!quote add Hello from the API").await.text,
        "Added quote #1."
    );
    let again = api
        .multipart("/api/plugins", &[file(), Part::Text("approval", &approval)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "already_installed");

    // One plugin, as `plugin info`.
    let detail = api.get("/api/plugins/quote-bot").await.json();
    assert_eq!(detail["asked"]["permissions"][0]["name"], "database_access");
    assert!(detail["usage"]["storage"]["used"].as_u64().unwrap() > 0);
    assert_eq!(detail["usage"]["memory"]["limit"].as_u64(), Some(64 << 20));
    assert_eq!(detail["history"][0]["event"], "installed");
    assert_eq!(detail["provenance"]["digest"].as_str().unwrap().len(), 64);
    assert_eq!(detail["provenance"]["source"], "upload quote-bot.roseyplug");
    assert!(detail["provenance"]["signer"].is_null(), "{detail}");
    assert_eq!(detail["has_config"], true);

    // Configuration, checked against the schema, applied live.
    let config = api.get("/api/plugins/quote-bot/config").await.json();
    assert_eq!(
        config["schema"]["properties"]["search_results"]["maximum"],
        20
    );
    assert_eq!(config["sources"]["search_results"], "default");
    let config_file = home.join("plugins/quote-bot/config.yaml");
    let bad = api
        .json(
            Method::PUT,
            "/api/plugins/quote-bot/config",
            &serde_json::json!({"values": {"search_results": 0}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("search_results"), "{}", bad.text());
    assert!(!config_file.exists(), "a refused config is not written");
    let good = api
        .json(
            Method::PUT,
            "/api/plugins/quote-bot/config",
            &serde_json::json!({"values": {"search_results": 5}}),
        )
        .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text());
    assert!(good.json()["message"].as_str().unwrap().contains("applied"));
    let config = api.get("/api/plugins/quote-bot/config").await.json();
    assert_eq!(config["values"]["search_results"], 5);
    assert_eq!(config["sources"]["search_results"], "config.yaml");

    // Logs, as `rosey logs`, and followed live over server-sent events.
    let log = api.get("/api/logs/quote-bot?lines=50").await.json();
    assert!(log["lines"].to_string().contains("added quote #1"), "{log}");
    let mut follower = BotCore::connect(&url).await;
    let (status, seen) = api
        .stream_until(
            "/api/logs/quote-bot/stream?lines=0",
            "added quote #2",
            Duration::from_secs(20),
            async {
                follower.say("!quote add Streamed").await;
            },
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen, "the new log line did not arrive on the stream");
    assert_eq!(api.get("/api/logs/nope").await.error_code(), "not_found");

    // Disable and enable, as the CLI does.
    let disabled = api.call(Method::POST, "/api/plugins/echo/disable").await;
    assert_eq!(disabled.json()["state"], "disabled");
    let list = api.get("/api/plugins").await.json();
    assert_eq!(list[0]["state"], "disabled");
    assert_eq!(list[0]["health"], "off");
    let enabled = api.call(Method::POST, "/api/plugins/echo/enable").await;
    assert_eq!(enabled.json()["state"], "running");
    assert_eq!(bot.ask("!echo back").await.text, "back");

    // An update that asks for more waits; approving needs the digest shown.
    let update = write_example(
        "example-plugins/quote-bot",
        "quote-bot",
        &work.path().join("quote-bot-0.2.0.roseyplug"),
        |m| {
            m.replace("version: 0.1.0", "version: 0.2.0").replace(
                "permissions: [database_access]",
                "permissions: [database_access, send_messages]",
            )
        },
    );
    let upload = || Part::File("package", "quote-bot-0.2.0.roseyplug", &update);
    let inspected = api
        .multipart("/api/plugins/inspect", &[upload()])
        .await
        .json();
    assert_eq!(inspected["installed"]["version"], "0.1.0");
    assert_eq!(
        inspected["installed"]["changes"]["added"][0],
        "permission send_messages"
    );
    let approval = inspected["approval"].as_str().unwrap().to_owned();
    let held = api
        .multipart(
            "/api/plugins/quote-bot/update",
            &[upload(), Part::Text("approval", &approval)],
        )
        .await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.text());
    assert_eq!(held.json()["pending"], true);
    let detail = api.get("/api/plugins/quote-bot").await.json();
    assert_eq!(detail["version"], "0.1.0");
    let digest = detail["pending_update"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = api
        .json(
            Method::POST,
            "/api/plugins/quote-bot/approve",
            &serde_json::json!({"digest": "0".repeat(64)}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let approved = api
        .json(
            Method::POST,
            "/api/plugins/quote-bot/approve",
            &serde_json::json!({ "digest": digest }),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
    assert_eq!(approved.json()["version"], "0.2.0");
    assert!(
        bot.ask("!quote 1")
            .await
            .text
            .contains("Hello from the API")
    );

    // Metrics in Prometheus text.
    let metrics = api.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        metrics
            .text()
            .contains("rosey_plugin_commands_total{plugin=\"echo\"}")
    );

    // Remove, with all its data.
    let removed = api.call(Method::DELETE, "/api/plugins/echo").await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    assert_eq!(api.get("/api/plugins/echo").await.error_code(), "not_found");
    assert!(!home.join("plugins/echo").exists());

    // Errors keep their shape everywhere.
    assert_eq!(api.get("/api/nothing").await.error_code(), "not_found");
    let wrong_method = api.call(Method::PATCH, "/api/status").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.error_code(), "method_not_allowed");
    let garbage = api
        .multipart(
            "/api/plugins/inspect",
            &[Part::File("package", "x.roseyplug", b"not a zip")],
        )
        .await;
    assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        garbage.text().contains("nothing was changed"),
        "{}",
        garbage.text()
    );
    rosey_ok(&home, None, &["stop"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_token_holder_gets_in_and_the_dashboard_is_protected() {
    let nats = ManagedNats::start(None).await.unwrap();
    let url = nats.url();
    let work = tempfile::tempdir().unwrap();
    let (home, _, _) = home_with_echo(work.path());
    let (base, token) = start_with_admin(&home, &url);
    let _stop = StopOnDrop(&home);
    let anonymous = Api::new(&base);

    // The token file is the owner's only, and the CLI prints the same token.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.join("admin.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(rosey_ok(&home, None, &["admin", "token"]).trim(), token);

    // Without credentials: the dashboard's files and the API description
    // only; never the token in a URL.
    let page = anonymous.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("/assets/app.js"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        anonymous.get("/api/openapi.json").await.status,
        StatusCode::OK
    );
    for path in ["/api/status", "/api/plugins", "/metrics", "/api/logs/host"] {
        let answer = anonymous.get(path).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(answer.error_code(), "unauthorized");
    }
    let in_url = anonymous.get(&format!("/api/status?token={token}")).await;
    assert_eq!(
        in_url.status,
        StatusCode::UNAUTHORIZED,
        "a token in a URL is not accepted"
    );

    // No CORS: a preflight from another origin gets no allow headers, nor
    // does a simple request.
    let foreign = anonymous.with(&[
        ("origin", "http://evil.example"),
        ("access-control-request-method", "POST"),
    ]);
    for answer in [
        foreign.call(Method::OPTIONS, "/api/plugins").await,
        foreign.get("/api/openapi.json").await,
    ] {
        assert!(
            !answer
                .headers
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")),
            "{:?}",
            answer.headers
        );
    }

    // The dashboard's login: an HttpOnly, SameSite=Strict session cookie
    // (not Secure: this listener is plain HTTP) and a CSRF token.
    let login = anonymous
        .json(
            Method::POST,
            "/api/session",
            &serde_json::json!({ "token": token }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    let cookie = login.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let csrf = login.json()["csrf"].as_str().unwrap().to_owned();
    let browser = anonymous.with(&[("cookie", &session)]);
    assert_eq!(browser.get("/api/status").await.status, StatusCode::OK);
    assert_eq!(
        browser.get("/api/session").await.json()["csrf"],
        csrf.as_str()
    );

    // A change with the cookie alone is refused; so is one from another
    // site even with the token; the right one goes through.
    let forged = browser
        .call(Method::POST, "/api/plugins/echo/disable")
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.error_code(), "csrf");
    let cross = browser
        .with(&[("x-rosey-csrf", &csrf), ("sec-fetch-site", "cross-site")])
        .call(Method::POST, "/api/plugins/echo/disable")
        .await;
    assert_eq!(cross.error_code(), "csrf");
    let state = |api: Api| async move { api.get("/api/plugins").await.json()[0]["state"].clone() };
    assert_eq!(
        state(anonymous.bearer(&token)).await,
        "running",
        "nothing was disabled"
    );
    let real = browser
        .with(&[("x-rosey-csrf", &csrf)])
        .call(Method::POST, "/api/plugins/echo/disable")
        .await;
    assert_eq!(real.status, StatusCode::OK, "{}", real.text());

    // Logging out ends the session.
    let out = browser
        .with(&[("x-rosey-csrf", &csrf)])
        .call(Method::DELETE, "/api/session")
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        browser.get("/api/status").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Rotating the token ends the old token and every session at once.
    let login = anonymous
        .json(
            Method::POST,
            "/api/session",
            &serde_json::json!({ "token": token }),
        )
        .await;
    let session = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let browser = anonymous.with(&[("cookie", &session)]);
    assert_eq!(browser.get("/api/status").await.status, StatusCode::OK);
    let rotated = rosey_ok(&home, None, &["admin", "token", "--rotate"])
        .trim()
        .to_owned();
    assert_ne!(rotated, token);
    let ended = browser.get("/api/status").await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED);
    assert!(ended.text().contains("rotated"), "{}", ended.text());
    assert_eq!(
        anonymous.bearer(&rotated).get("/api/status").await.status,
        StatusCode::OK
    );

    // Wrong tokens: two are answered 401; from the third, every check is
    // paused (429 with Retry-After), even for the right token.
    let wrong = anonymous.bearer("rosey_0000");
    for _ in 0..3 {
        assert_eq!(wrong.get("/api/status").await.error_code(), "unauthorized");
    }
    let locked = anonymous.bearer(&rotated).get("/api/status").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.error_code(), "too_many_attempts");
    let wait: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    let login = anonymous
        .json(
            Method::POST,
            "/api/session",
            &serde_json::json!({ "token": rotated }),
        )
        .await;
    assert_eq!(
        login.status,
        StatusCode::TOO_MANY_REQUESTS,
        "logins wait too"
    );

    // Neither token ever reached the host's log.
    rosey_ok(&home, None, &["stop"]);
    let log = std::fs::read_to_string(home.join("logs/host.log")).unwrap();
    assert!(
        log.contains("admin API"),
        "the host logged nothing about the API: {log}"
    );
    assert!(
        !log.contains(&token) && !log.contains(&rotated),
        "a token leaked into host.log"
    );
}
