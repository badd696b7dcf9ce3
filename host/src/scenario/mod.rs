//! `rosey plugin test`: a plugin's scenario files (`tests/*.yaml`), run
//! against its real compiled component in an in-process host with an
//! in-memory bus, a clock that moves only when told, seeded random numbers
//! and canned HTTP answers. Language-agnostic: a scenario talks to the
//! component through the same events the host sends it in production.
//!
//! The file format is documented in `docs/testing.md`; [`Scenario`] is its
//! schema.

mod check;
mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use check::Text;
pub use run::Suite;

/// One scenario file: what the world holds, what happens, what must follow.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What it checks, in a sentence.
    #[serde(default)]
    pub description: Option<String>,
    /// The world before the plugin starts.
    #[serde(default)]
    pub given: Given,
    /// What happens, in order; each step may say what must follow it.
    #[serde(default)]
    pub when: Vec<Step>,
    /// What must hold after the last step.
    #[serde(default)]
    pub then: Option<Expect>,
}

/// The world before the plugin starts (after its migrations, before `init`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Given {
    /// Configuration over the schema's defaults, checked against `config_schema`.
    #[serde(default)]
    pub config: serde_json::Map<String, Value>,
    /// The wall clock at the start, RFC 3339 (default 2026-01-01T00:00:00Z).
    #[serde(default)]
    pub clock: Option<String>,
    /// The seed of the plugin's random numbers (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Files in `/data`: relative path → contents.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// SQL run on the plugin's database.
    #[serde(default)]
    pub sql: Option<String>,
    /// kv entries: key → value.
    #[serde(default)]
    pub kv: BTreeMap<String, String>,
    /// Canned answers to the plugin's HTTP requests.
    #[serde(default)]
    pub http: Vec<HttpAnswer>,
    /// Answers to the plugin's `bus.request`s.
    #[serde(default)]
    pub replies: Vec<BusAnswer>,
}

/// A canned HTTP answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAnswer {
    /// The URL it answers: exact, or a prefix when it ends in `*`.
    pub url: String,
    /// The method it answers (default: any).
    #[serde(default)]
    pub method: Option<String>,
    /// The status (default 200).
    #[serde(default = "ok_status")]
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    #[serde(default)]
    pub body: Option<String>,
    /// The body as JSON (sent with `content-type: application/json`).
    #[serde(default)]
    pub json: Option<Value>,
}

fn ok_status() -> u16 {
    200
}

/// The answer to requests on a subject.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusAnswer {
    /// The subject (NATS wildcards allowed).
    pub subject: String,
    /// The payload as text.
    #[serde(default)]
    pub body: Option<String>,
    /// The payload as JSON.
    #[serde(default)]
    pub json: Option<Value>,
}

/// A message on the bus, as a scenario writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusMessage {
    /// Its subject.
    pub subject: String,
    /// The payload as text.
    #[serde(default)]
    pub body: Option<String>,
    /// The payload as JSON.
    #[serde(default)]
    pub json: Option<Value>,
}

/// One thing that happens. Exactly one of `chat`, `command`, `message`,
/// `tick`, `advance` and `configure` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Someone says this in chat (a command if it starts with `!`).
    #[serde(default)]
    pub chat: Option<String>,
    /// Who says it (default `alice`); also the user of a `command`.
    #[serde(default)]
    pub user: Option<String>,
    /// Where (default `general`); also the channel of a `command`.
    #[serde(default)]
    pub channel: Option<String>,
    /// A direct command request (`rosey.commands.<plugin>.execute`).
    #[serde(default)]
    pub command: Option<String>,
    /// The command's arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// A message on a subject the plugin subscribes to.
    #[serde(default)]
    pub message: Option<BusMessage>,
    /// A schedule of the manifest fires.
    #[serde(default)]
    pub tick: Option<String>,
    /// The clock moves on (`30s`, `5m`, `1h30m`, `2d`).
    #[serde(default)]
    pub advance: Option<String>,
    /// The operator changes these configuration keys.
    #[serde(default)]
    pub configure: Option<serde_json::Map<String, Value>>,
    /// What must follow this step.
    #[serde(default)]
    pub then: Option<Expect>,
}

/// The action of a [`Step`], once checked.
#[derive(Debug, Clone)]
pub enum Action {
    /// Someone says something.
    Chat {
        /// What.
        text: String,
        /// Who.
        user: String,
        /// Where.
        channel: String,
    },
    /// A direct command request.
    Command {
        /// The command.
        name: String,
        /// Its arguments.
        args: Vec<String>,
        /// Who.
        user: String,
        /// Where.
        channel: String,
    },
    /// A message on a subscribed subject.
    Message {
        /// Its subject.
        subject: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// A schedule fires.
    Tick(String),
    /// The clock moves on.
    Advance(std::time::Duration),
    /// The operator changes configuration.
    Configure(serde_json::Map<String, Value>),
}

impl Step {
    /// The step's one action, or why it has none or several.
    pub fn action(&self) -> Result<Action, String> {
        let set = [
            ("chat", self.chat.is_some()),
            ("command", self.command.is_some()),
            ("message", self.message.is_some()),
            ("tick", self.tick.is_some()),
            ("advance", self.advance.is_some()),
            ("configure", self.configure.is_some()),
        ];
        let present: Vec<&str> = set.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect();
        match present.as_slice() {
            [_] => {}
            [] => {
                return Err(
                    "has nothing happening: give it one of chat, command, message, tick, \
                     advance or configure"
                        .into(),
                );
            }
            several => {
                return Err(format!(
                    "has {} actions ({}); give each its own step",
                    several.len(),
                    several.join(", ")
                ));
            }
        }
        let user = self.user.clone().unwrap_or_else(|| "alice".into());
        let channel = self.channel.clone().unwrap_or_else(|| "general".into());
        if !self.args.is_empty() && self.command.is_none() {
            return Err("has `args`, which only a `command` step takes".into());
        }
        if (self.user.is_some() || self.channel.is_some())
            && self.chat.is_none()
            && self.command.is_none()
        {
            return Err("has `user` or `channel`, which only chat and command steps take".into());
        }
        if let Some(text) = &self.chat {
            return Ok(Action::Chat {
                text: text.clone(),
                user,
                channel,
            });
        }
        if let Some(name) = &self.command {
            return Ok(Action::Command {
                name: name.clone(),
                args: self.args.clone(),
                user,
                channel,
            });
        }
        if let Some(message) = &self.message {
            return Ok(Action::Message {
                subject: message.subject.clone(),
                payload: payload(message.body.as_deref(), message.json.as_ref())
                    .map_err(|e| format!("message: {e}"))?,
            });
        }
        if let Some(name) = &self.tick {
            return Ok(Action::Tick(name.clone()));
        }
        if let Some(by) = &self.advance {
            let by: crate::package::HumanDuration =
                by.parse().map_err(|e| format!("advance: {e}"))?;
            return Ok(Action::Advance(by.duration()));
        }
        match &self.configure {
            Some(keys) => Ok(Action::Configure(keys.clone())),
            None => Err("has no action".into()),
        }
    }

    /// A short description for reports: `chat "!quote 1"`.
    pub fn label(&self) -> String {
        let shorten = |text: &str| {
            let mut short: String = text.chars().take(40).collect();
            if short.len() < text.len() {
                short.push('…');
            }
            short
        };
        match self.action() {
            Ok(Action::Chat { text, .. }) => format!("chat {:?}", shorten(&text)),
            Ok(Action::Command { name, args, .. }) => {
                format!("command {:?}", shorten(&[name, args.join(" ")].join(" ")))
            }
            Ok(Action::Message { subject, .. }) => format!("message on {subject}"),
            Ok(Action::Tick(name)) => format!("tick {name}"),
            Ok(Action::Advance(by)) => format!("advance {by:?}"),
            Ok(Action::Configure(keys)) => format!(
                "configure {}",
                keys.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Err(_) => "invalid step".into(),
        }
    }
}

/// The bytes of a payload written as `body` (text) or `json`.
fn payload(body: Option<&str>, json: Option<&Value>) -> Result<Vec<u8>, String> {
    match (body, json) {
        (Some(_), Some(_)) => Err("give `body` or `json`, not both".into()),
        (Some(text), None) => Ok(text.as_bytes().to_vec()),
        (None, Some(value)) => serde_json::to_vec(value).map_err(|e| e.to_string()),
        (None, None) => Ok(Vec::new()),
    }
}

/// What must hold after a step (or, under the top-level `then`, after the
/// whole scenario). Everything is optional; what is absent is not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Every chat message the plugin sent, in order (`[]`: none).
    #[serde(default)]
    pub replies: Option<Vec<Text>>,
    /// A `command` step's result.
    #[serde(default)]
    pub result: Option<Text>,
    /// Messages that must have been published, in this order (others may
    /// come between).
    #[serde(default)]
    pub published: Option<Vec<ExpectedMessage>>,
    /// Queries on the plugin's database and the rows they must return.
    #[serde(default)]
    pub sql: Vec<ExpectedRows>,
    /// kv entries (`null`: absent).
    #[serde(default)]
    pub kv: BTreeMap<String, Option<Text>>,
    /// Files in `/data` (`null`: absent).
    #[serde(default)]
    pub files: BTreeMap<String, Option<Text>>,
    /// Log lines that must have been written (each matches one line,
    /// `LEVEL message`).
    #[serde(default)]
    pub logs: Vec<Text>,
    /// The step's call failed, with this error.
    #[serde(default)]
    pub error: Option<Text>,
}

/// A message that must have been published.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedMessage {
    /// Its subject.
    pub subject: String,
    /// Its payload as text.
    #[serde(default)]
    pub body: Option<Text>,
    /// Its payload as JSON: these fields at least, with these values.
    #[serde(default)]
    pub json: Option<Value>,
}

/// A query and the rows it must return.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRows {
    /// The query.
    pub query: String,
    /// The rows, each a list of values.
    pub rows: Vec<Vec<Value>>,
}

/// A scenario file and what was read from it.
#[derive(Debug)]
pub struct ScenarioFile {
    /// Its path.
    pub path: PathBuf,
    /// Its name (the file name without `.yaml`).
    pub name: String,
    /// The scenario, or why the file could not be read.
    pub scenario: Result<Scenario, String>,
}

/// Read every `*.yaml`/`*.yml` file in `dir`, sorted by name. A file that
/// does not parse is returned with its error (it counts as a failure).
pub fn load_dir(dir: &Path) -> Result<Vec<ScenarioFile>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("could not read the scenarios in {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!(
            "no scenarios in {}: add a tests/NAME.yaml (see docs/testing.md)",
            dir.display()
        );
    }
    Ok(files.into_iter().map(|path| load_file(&path)).collect())
}

/// Read one scenario file.
pub fn load_file(path: &Path) -> ScenarioFile {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let scenario = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read it: {e}"))
        .and_then(|text| parse(&text));
    ScenarioFile {
        path: path.to_path_buf(),
        name,
        scenario,
    }
}

/// The largest scenario file read.
pub const MAX_SCENARIO_BYTES: usize = 1 << 20;

/// Parse a scenario and check what serde cannot: one action per step, and
/// no `error`/`result` under the top-level `then`.
pub fn parse(text: &str) -> Result<Scenario, String> {
    if text.len() > MAX_SCENARIO_BYTES {
        return Err(format!(
            "it is larger than {} KiB",
            MAX_SCENARIO_BYTES >> 10
        ));
    }
    let scenario: Scenario = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
    for (i, step) in scenario.when.iter().enumerate() {
        step.action().map_err(|e| format!("step {} {e}", i + 1))?;
    }
    if let Some(then) = &scenario.then
        && (then.error.is_some() || then.result.is_some())
    {
        return Err(
            "the top-level `then` cannot hold `error` or `result`: put them under the `then` \
             of the step they belong to"
                .into(),
        );
    }
    for answer in &scenario.given.http {
        payload(answer.body.as_deref(), answer.json.as_ref())
            .map_err(|e| format!("given.http {}: {e}", answer.url))?;
    }
    for answer in &scenario.given.replies {
        payload(answer.body.as_deref(), answer.json.as_ref())
            .map_err(|e| format!("given.replies {}: {e}", answer.subject))?;
    }
    if let Some(clock) = &scenario.given.clock {
        run::parse_clock(clock)?;
    }
    Ok(scenario)
}

/// The result of one scenario, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether every expectation held.
    pub passed: bool,
    /// What did not hold, one line each.
    pub failures: Vec<String>,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_reads_with_every_kind_of_step() {
        let scenario = parse(
            r#"
description: all of it
given:
  config: {greeting: Hi}
  clock: 2026-03-01T08:00:00Z
  seed: 7
  files: {a.txt: hello}
  sql: "INSERT INTO t VALUES (1);"
  kv: {k: v}
  http:
    - url: https://api.example.com/*
      json: {ok: true}
  replies:
    - subject: svc.time
      body: noon
when:
  - chat: "!hello"
    user: bob
    then:
      replies: ["Hi, bob!", {contains: bob}, {matches: "^Hi"}]
  - command: hello
    args: [x]
    then: {result: {contains: x}}
  - message: {subject: a.b, json: {n: 1}}
  - tick: refresh
  - advance: 1h30m
  - configure: {greeting: Yo}
then:
  sql: [{query: "SELECT 1", rows: [[1]]}]
  kv: {k: v, gone: null}
  files: {a.txt: {contains: hell}}
  logs: [{contains: started}]
  published: [{subject: rosey.chat.send_message, json: {channel: general}}]
"#,
        )
        .unwrap();
        assert_eq!(scenario.when.len(), 6);
        assert!(matches!(
            scenario.when[4].action().unwrap(),
            Action::Advance(d) if d.as_secs() == 5400
        ));
        assert_eq!(scenario.when[0].label(), "chat \"!hello\"");
    }

    #[test]
    fn mistakes_are_named() {
        for (text, expected) in [
            ("when:\n  - {}\n", "step 1 has nothing happening"),
            (
                "when:\n  - {chat: hi, tick: x}\n",
                "step 1 has 2 actions (chat, tick)",
            ),
            (
                "when:\n  - {tick: x, user: bob}\n",
                "only chat and command steps",
            ),
            (
                "when:\n  - {chat: hi, args: [a]}\n",
                "only a `command` step",
            ),
            ("when:\n  - {advance: soon}\n", "step 1 advance:"),
            ("whenn: []\n", "unknown field `whenn`"),
            (
                "then: {error: boom}\n",
                "top-level `then` cannot hold `error`",
            ),
            ("given: {clock: yesterday}\n", "clock"),
            ("given:\n  http: [{url: x, body: a, json: 1}]\n", "not both"),
            (
                "when:\n  - chat: hi\n    then: {replies: [{about: x}]}\n",
                "contains",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
