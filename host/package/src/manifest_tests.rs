//! Golden tests: good and bad manifests with their exact error text.

use std::time::Duration;

use super::*;

const FULL: &str = r#"manifest_version: 1
name: quote-bot
version: 1.2.0
display_name: Quote Bot
description: Random quotes; add and search them
author: someone
license: MIT
homepage: https://example.org/quote-bot
tags: [chat, quotes]
rosey_api: "^0.1"
permissions: [read_messages, send_messages, database_access, file_read, file_write, http_requests]
network: { allowed_hosts: ["api.weather.gov:443"] }
subjects: { subscribe: ["rosey.chat.message.chat"], publish: [] }
commands: [{ name: quote, help: "!quote [add <text> | search <term>]", priority: 100 }]
schedules: [{ name: refresh, every: 15m }, { name: morning, cron: "0 9 * * *" }]
resources: { memory: 32MiB, fuel_per_call: 50000000, timeout: 2s, storage: 100MiB, publish_rate: 20/s }
config_schema: { type: object, properties: { greeting: { type: string } }, required: [greeting] }
dependencies: { plugins: [{ name: weather, version: ">=1.0" }] }
"#;

const MINIMAL: &str = "manifest_version: 1\nname: echo\nversion: 0.1.0\nrosey_api: \"^0.1\"\n";

/// MINIMAL plus `extra` lines.
fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

fn error_text(yaml: &str) -> String {
    Manifest::from_yaml(yaml).unwrap_err().to_string()
}

#[test]
fn the_architecture_example_parses() {
    let m = Manifest::from_yaml(FULL).unwrap();
    assert_eq!(m.name.as_str(), "quote-bot");
    assert_eq!(m.version, semver::Version::new(1, 2, 0));
    assert_eq!(m.display_name.as_deref(), Some("Quote Bot"));
    assert_eq!(m.tags, ["chat", "quotes"]);
    assert_eq!(m.permissions, Permission::ALL);
    assert!(m.requests(Permission::HttpRequests));
    assert_eq!(m.network.allowed_hosts, ["api.weather.gov:443"]);
    assert_eq!(m.subjects.subscribe, ["rosey.chat.message.chat"]);
    assert_eq!(m.commands[0].name.as_str(), "quote");
    assert_eq!(m.commands[0].priority, 100);
    assert_eq!(
        m.schedules[0].every,
        Some(HumanDuration(Duration::from_secs(900)))
    );
    assert_eq!(m.schedules[1].cron.as_deref(), Some("0 9 * * *"));
    assert_eq!(m.dependencies.plugins[0].name.as_str(), "weather");
    assert!(m.config_schema.as_ref().unwrap().is_object());
    let limits = m.limits();
    assert_eq!(
        limits,
        Limits {
            memory: 32 * 1024 * 1024,
            fuel_per_call: 50_000_000,
            timeout: Duration::from_secs(2),
            storage: 100 * 1024 * 1024,
            publish_rate: Rate {
                count: 20,
                per: Duration::from_secs(1)
            },
        }
    );
}

#[test]
fn a_minimal_manifest_gets_defaults() {
    let m = Manifest::from_yaml(MINIMAL).unwrap();
    assert!(m.permissions.is_empty() && m.commands.is_empty() && m.tags.is_empty());
    assert_eq!(m.limits(), Limits::default());
    assert_eq!(m.limits().memory, DEFAULT_MEMORY);
    assert_eq!(DEFAULT_MEMORY, 64 * 1024 * 1024);
    assert_eq!(DEFAULT_FUEL_PER_CALL, 2_000_000_000);
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(2));
    assert_eq!(DEFAULT_STORAGE, 100 * 1024 * 1024);
    assert_eq!(DEFAULT_PUBLISH_RATE.to_string(), "20/s");
}

#[test]
fn the_manifest_serializes_to_json() {
    let m = Manifest::from_yaml(FULL).unwrap();
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["resources"]["memory"], "32MiB");
    assert_eq!(json["resources"]["publish_rate"], "20/s");
    assert_eq!(json["permissions"][0], "read_messages");
    assert_eq!(json["version"], "1.2.0");
}

#[test]
fn unknown_top_level_field_with_hint() {
    let yaml = "manifest_version: 1\nname: echo\npermisions: [read_messages]\nversion: 0.1.0\nrosey_api: \"^0.1\"\n";
    assert_eq!(
        error_text(yaml),
        "manifest.yaml:3:1: unknown field \"permisions\" (did you mean \"permissions\"?)"
    );
}

#[test]
fn unknown_nested_field_with_hint() {
    let err = error_text(&with("resources:\n  memry: 32MiB\n"));
    assert_eq!(
        err,
        "manifest.yaml:6:3: unknown field \"memry\" in resources (did you mean \"memory\"?)"
    );
    let err = error_text(&with("commands:\n  - name: quote\n    priorty: 3\n"));
    assert_eq!(
        err,
        "manifest.yaml:7:5: unknown field \"priorty\" in commands[0] (did you mean \"priority\"?)"
    );
}

#[test]
fn unknown_field_without_a_near_match_lists_the_fields() {
    let err = error_text(&with("network:\n  proxy: x\n"));
    assert_eq!(
        err,
        "manifest.yaml:6:3: unknown field \"proxy\" in network (expected one of: allowed_hosts)"
    );
}

#[test]
fn unknown_permission_with_hint() {
    let err = error_text(&with("permissions: [read_messages, send_mesages]\n"));
    assert_eq!(
        err,
        "manifest.yaml:5:30: unknown permission \"send_mesages\" in permissions[1] (did you mean \"send_messages\"?)"
    );
}

#[test]
fn bad_plugin_name() {
    let yaml = "manifest_version: 1\nname: Quote_Bot\nversion: 0.1.0\nrosey_api: \"^0.1\"\n";
    assert_eq!(
        error_text(yaml),
        "manifest.yaml:2:7: name: invalid plugin name \"Quote_Bot\": it does not start with a letter a-z; \
         a plugin name is 1 to 64 characters of a-z, 0-9 and \"-\", starts with a letter, does not \
         end with \"-\" and has no \"--\""
    );
}

#[test]
fn bad_semver() {
    let yaml = "manifest_version: 1\nname: echo\nversion: 1.2\nrosey_api: \"^0.1\"\n";
    assert_eq!(
        error_text(yaml),
        "manifest.yaml:3:10: version: invalid version 1.2: a version has three parts, such as 1.2.0"
    );
    let yaml = "manifest_version: 1\nname: echo\nversion: one\nrosey_api: \"^0.1\"\n";
    assert_eq!(
        error_text(yaml),
        "manifest.yaml:3:10: version: invalid version \"one\": expected a semantic version such as \
         1.2.0 (unexpected character 'o' while parsing major version number)"
    );
}

#[test]
fn missing_field() {
    let yaml = "manifest_version: 1\nname: echo\nrosey_api: \"^0.1\"\n";
    assert_eq!(
        error_text(yaml),
        "manifest.yaml:1:1: missing field \"version\""
    );
}

#[test]
fn wrong_api_version() {
    let err = error_text("manifest_version: 1\nname: echo\nversion: 0.1.0\nrosey_api: \"^0.2\"\n");
    assert_eq!(
        err,
        "manifest: rosey_api \"^0.2\" does not accept 0.1.0, the only plugin API version this host \
         serves: build the plugin against API 0.1.0 (rosey_api: \"^0.1\")"
    );
    let err = error_text("manifest_version: 1\nname: echo\nversion: 0.1.0\nrosey_api: 0.1\n");
    assert_eq!(
        err,
        "manifest.yaml:4:12: rosey_api: invalid version requirement 0.1: quote it, such as \"^0.1\""
    );
}

#[test]
fn wrong_manifest_version() {
    let err = error_text("manifest_version: 2\nname: echo\nversion: 0.1.0\nrosey_api: \"^0.1\"\n");
    assert_eq!(
        err,
        "manifest: manifest_version 2 is not supported: this host reads manifest_version 1"
    );
}

#[test]
fn duplicate_permission() {
    let err = error_text(&with(
        "permissions: [read_messages, send_messages, read_messages]\n",
    ));
    assert_eq!(
        err,
        "manifest: permissions[2] \"read_messages\" is listed twice"
    );
}

#[test]
fn subscribe_to_everything() {
    let err = error_text(&with("subjects: { subscribe: [\">\"] }\n"));
    assert_eq!(
        err,
        "manifest: subjects.subscribe[0] \">\" matches every subject: declare the subjects the plugin needs"
    );
}

#[test]
fn reserved_subjects() {
    let err = error_text(&with("subjects: { subscribe: [\"$SYS.>\"] }\n"));
    assert_eq!(
        err,
        "manifest: subjects.subscribe[0] \"$SYS.>\" can match subjects under \"$SYS.\", which are reserved for the host"
    );
    let err = error_text(&with(
        "subjects: { publish: [\"rosey.commands.other.result\"] }\n",
    ));
    assert!(err.contains("reserved for the host"), "{err}");
}

#[test]
fn publish_into_the_bot_core() {
    let err = error_text(&with("subjects: { publish: [rosey.chat.message.chat] }\n"));
    assert_eq!(
        err,
        "manifest: subjects.publish[0] \"rosey.chat.message.chat\" can match subjects under \
         \"rosey.chat.message.\": only the bot core publishes chat messages (use chat.send to reply)"
    );
}

#[test]
fn publish_as_another_plugin() {
    assert_eq!(
        error_text(&with("subjects: { publish: [\"rosey.plugins.*.said\"] }\n")),
        "manifest: subjects.publish[0] \"rosey.plugins.*.said\" can match other plugins' events \
         under \"rosey.plugins.\"; a plugin publishes only under \"rosey.plugins.echo.\" (always \
         allowed, no need to declare it)"
    );
    // Its own namespace is fine (if redundant).
    assert!(
        Manifest::from_yaml(&with(
            "subjects: { publish: [\"rosey.plugins.echo.said\"] }\n"
        ))
        .is_ok()
    );
}

#[test]
fn limits_over_the_maximum() {
    let err = error_text(&with("resources: { timeout: 2m }\n"));
    assert_eq!(
        err,
        "manifest: resources.timeout 2m is more than the maximum 1m"
    );
    let err = error_text(&with("resources: { memory: 2GiB }\n"));
    assert_eq!(
        err,
        "manifest: resources.memory 2GiB is more than the maximum 1GiB"
    );
    let err = error_text(&with("resources: { storage: 11GiB }\n"));
    assert_eq!(
        err,
        "manifest: resources.storage 11GiB is more than the maximum 10GiB"
    );
    let err = error_text(&with("resources: { fuel_per_call: 100000000001 }\n"));
    assert_eq!(
        err,
        "manifest: resources.fuel_per_call 100000000001 is more than the maximum 100000000000"
    );
    let err = error_text(&with("resources: { memory: 4KiB }\n"));
    assert_eq!(
        err,
        "manifest: resources.memory 4KiB is less than the minimum 1MiB"
    );
    let err = error_text(&with("resources: { timeout: 0s }\n"));
    assert_eq!(
        err,
        "manifest: resources.timeout 0s is less than the minimum 10ms"
    );
}

#[test]
fn limits_at_the_maximum_pass() {
    let m = Manifest::from_yaml(&with(
        "resources: { memory: 1GiB, timeout: 60s, storage: 10GiB, fuel_per_call: 100000000000, publish_rate: 5/h }\n",
    ))
    .unwrap();
    let limits = m.limits();
    assert_eq!(limits.memory, MAX_MEMORY);
    assert_eq!(limits.timeout, MAX_TIMEOUT);
    assert_eq!(limits.storage, MAX_STORAGE);
    assert_eq!(limits.fuel_per_call, MAX_FUEL_PER_CALL);
    assert_eq!(
        limits.publish_rate,
        Rate {
            count: 5,
            per: Duration::from_secs(3600)
        }
    );
}

#[test]
fn bad_units() {
    let err = error_text(&with("resources: { memory: 32 Mebibytes }\n"));
    assert_eq!(
        err,
        "manifest.yaml:5:22: resources.memory: invalid size \"32 Mebibytes\": expected a number and a unit such as 32MiB"
    );
    let err = error_text(&with("resources: { timeout: 2 }\n"));
    assert_eq!(
        err,
        "manifest.yaml:5:23: resources.timeout: invalid duration 2: add a unit, such as 2s or 2ms"
    );
}

#[test]
fn schedules() {
    let err = error_text(&with(
        "schedules: [{ name: refresh, every: 15m, cron: \"0 9 * * *\" }]\n",
    ));
    assert_eq!(
        err,
        "manifest: schedules[0] \"refresh\" sets both every and cron: keep one of them"
    );
    let err = error_text(&with("schedules: [{ name: refresh }]\n"));
    assert_eq!(
        err,
        "manifest: schedules[0] \"refresh\" needs every (e.g. every: 15m) or cron (e.g. cron: \"0 9 * * *\")"
    );
    let err = error_text(&with("schedules: [{ name: fast, every: 500ms }]\n"));
    assert_eq!(
        err,
        "manifest: schedules[0].every 500ms is shorter than the minimum 1s"
    );
    let err = error_text(&with("schedules: [{ name: daily, cron: \"0 9 * *\" }]\n"));
    assert!(
        err.starts_with("manifest: schedules[0].cron \"0 9 * *\" is not a cron expression"),
        "{err}"
    );
    let err = error_text(&with(
        "schedules: [{ name: a, every: 1s }, { name: a, every: 2s }]\n",
    ));
    assert_eq!(err, "manifest: schedules[1].name \"a\" is declared twice");
}

#[test]
fn duplicate_command() {
    let err = error_text(&with(
        "commands: [{ name: quote }, { name: quote, priority: 2 }]\n",
    ));
    assert_eq!(
        err,
        "manifest: commands[1].name \"quote\" is declared twice"
    );
}

#[test]
fn bad_allowed_host() {
    let err = error_text(&with("network: { allowed_hosts: [api.weather.gov] }\n"));
    assert_eq!(
        err,
        "manifest: network.allowed_hosts[0] \"api.weather.gov\" needs a port: write host:port, such as \"api.example.org:443\""
    );
}

#[test]
fn config_schema_must_be_an_object() {
    let err = error_text(&with("config_schema: [1, 2]\n"));
    assert_eq!(
        err,
        "manifest: config_schema must be a JSON Schema object (a mapping such as {type: object, properties: {...}})"
    );
}

#[test]
fn dependencies() {
    let err = error_text(&with(
        "dependencies: { plugins: [{ name: echo, version: \"1\" }] }\n",
    ));
    assert_eq!(
        err,
        "manifest: dependencies.plugins[0].name \"echo\" is this plugin itself"
    );
    let err = error_text(&with(
        "dependencies: { plugins: [{ name: \"../x\", version: \"1\" }] }\n",
    ));
    assert!(err.contains("invalid plugin name \"../x\""), "{err}");
}

#[test]
fn oversized_and_empty_manifests() {
    let big = with(&format!(
        "description: \"{}\"\n",
        "x".repeat(MAX_MANIFEST_BYTES)
    ));
    assert_eq!(
        error_text(&big),
        format!(
            "manifest.yaml is {} bytes, more than the 65536 allowed: keep it short and put data in assets/",
            big.len()
        )
    );
    assert_eq!(
        error_text("  \n"),
        "manifest.yaml is empty: it needs at least manifest_version, name, version and rosey_api"
    );
}

#[test]
fn yaml_bombs_are_refused() {
    // A billion laughs: 10^10 nodes once the aliases are expanded.
    let mut yaml = String::from("config_schema:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..9 {
        let prev = if i == 0 {
            "a".to_owned()
        } else {
            format!("a{}", i - 1)
        };
        let refs = vec![format!("*{prev}"); 10].join(", ");
        yaml.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    let err = error_text(&with(&yaml));
    assert!(err.contains("repetition limit exceeded"), "{err}");
    let deep = with(&format!(
        "config_schema: {}{}\n",
        "{a: ".repeat(200),
        "}".repeat(200)
    ));
    let err = error_text(&deep);
    assert!(err.contains("recursion limit exceeded"), "{err}");
}

#[test]
fn syntax_errors_keep_their_location() {
    let err = error_text("manifest_version: 1\nname: [echo\n");
    assert!(err.starts_with("manifest.yaml:"), "{err}");
    let err = Manifest::from_yaml("manifest_version: 1\nname: [echo\n").unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::Yaml {
                location: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn control_characters_in_text_fields() {
    let err = error_text(&with("display_name: \"\\e[2Jhi\"\n"));
    assert_eq!(
        err,
        "manifest: display_name \"\\u{1b}[2Jhi\" contains control characters: remove them"
    );
}
