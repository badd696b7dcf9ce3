//! `rosey plugin test`: run a plugin project's scenario files against its
//! real component, in process, with an in-memory bus.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use rosey_host::package::Package;
use rosey_host::runtime::{RoseyEngine, Runtime};
use rosey_host::scenario::{self, Report, Suite};
use serde::Serialize;

use super::Context;
use super::plugin::build_component;
use crate::output::{OutputFormat, print_json};

#[derive(Debug, Args)]
#[command(
    after_help = "Each tests/*.yaml file is one scenario: what the plugin starts with (config,
files, database rows, kv, canned HTTP and request answers, the clock), what
happens (chat messages, commands, NATS messages, schedule ticks, clock moves,
config changes), and what must follow (chat replies, published messages,
database rows, kv entries, files, log lines, errors). See docs/testing.md.

Examples:
  rosey plugin test                       # build the project here, run tests/*.yaml
  rosey plugin test example-plugins/quote-bot --filter search
  rosey plugin test . --output json       # in CI: one JSON report, exit 1 on a failure"
)]
pub struct Test {
    /// The plugin project (the directory holding manifest.yaml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where the scenarios are [default: DIR/tests].
    #[arg(long, value_name = "DIR")]
    scenarios: Option<PathBuf>,
    /// Run only the scenarios whose name contains this.
    #[arg(short, long, value_name = "TEXT")]
    filter: Option<String>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    plugin: String,
    version: String,
    passed: usize,
    failed: usize,
    scenarios: &'a [Report],
}

impl Test {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let scenarios_dir = self
            .scenarios
            .clone()
            .unwrap_or_else(|| self.dir.join("tests"));
        // Read the scenarios first: a project without any learns that
        // before waiting for a build.
        let mut files = scenario::load_dir(&scenarios_dir)?;
        if let Some(filter) = &self.filter {
            files.retain(|f| f.name.contains(filter.as_str()));
            if files.is_empty() {
                bail!(
                    "no scenario in {} has {filter:?} in its name",
                    scenarios_dir.display()
                );
            }
        }
        let (_, wasm) = build_component(&self.dir)?;
        let package = Package::from_project_dir(&self.dir, wasm)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{} is not a valid plugin", self.dir.display()))?;
        let name = package.manifest.name.to_string();
        let version = package.manifest.version.to_string();
        let text = ctx.output == OutputFormat::Text;
        if text {
            eprintln!("   Compiling {name} {version} for the host");
        }
        let runtime = Runtime::new(RoseyEngine::new()?)?;
        let suite = Suite::new(runtime, package).context("the plugin cannot run on this host")?;
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        if text {
            println!("\nrunning {} scenario(s) for {name} {version}", files.len());
        }
        let mut reports = Vec::new();
        for file in &files {
            let report = tokio.block_on(suite.run(file));
            if text {
                println!(
                    "scenario {} ... {} ({} ms)",
                    report.name,
                    if report.passed { "ok" } else { "FAILED" },
                    report.elapsed_ms
                );
            }
            reports.push(report);
        }
        let failed = reports.iter().filter(|r| !r.passed).count();
        let passed = reports.len() - failed;
        match ctx.output {
            OutputFormat::Json => print_json(&JsonReport {
                plugin: name,
                version,
                passed,
                failed,
                scenarios: &reports,
            })?,
            OutputFormat::Text => {
                if failed > 0 {
                    println!("\nfailures:");
                    for report in reports.iter().filter(|r| !r.passed) {
                        println!("\n---- {} ({}) ----", report.name, report.file.display());
                        if let Some(description) = &report.description {
                            println!("{description}");
                        }
                        for failure in &report.failures {
                            println!("  {failure}");
                        }
                    }
                }
                println!(
                    "\ntest result: {}. {passed} passed, {failed} failed",
                    if failed == 0 { "ok" } else { "FAILED" }
                );
            }
        }
        if failed > 0 {
            bail!("{failed} scenario(s) failed");
        }
        Ok(())
    }
}
