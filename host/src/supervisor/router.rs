//! Which plugin answers which chat command.

use std::collections::BTreeMap;

use crate::package::{Manifest, PluginName};

/// One plugin's claim on a command.
#[derive(Debug, Clone)]
struct Claim {
    priority: i32,
    plugin: PluginName,
    help: Option<String>,
}

/// The command table: command name to the plugins that declare it, highest
/// priority first (ties broken by plugin name, so routing is deterministic).
#[derive(Debug, Default, Clone)]
pub struct CommandTable {
    commands: BTreeMap<String, Vec<Claim>>,
}

/// The command the host answers itself, unless a plugin declares it.
pub const HELP: &str = "help";

impl CommandTable {
    /// Add the commands `manifest` declares.
    pub fn add(&mut self, manifest: &Manifest) {
        for command in &manifest.commands {
            let claims = self.commands.entry(command.name.to_string()).or_default();
            claims.push(Claim {
                priority: command.priority,
                plugin: manifest.name.clone(),
                help: command.help.clone(),
            });
            claims.sort_by(|a, b| {
                b.priority
                    .cmp(&a.priority)
                    .then_with(|| a.plugin.cmp(&b.plugin))
            });
        }
    }

    /// Remove every command of `plugin`.
    pub fn remove(&mut self, plugin: &PluginName) {
        for claims in self.commands.values_mut() {
            claims.retain(|c| c.plugin != *plugin);
        }
        self.commands.retain(|_, claims| !claims.is_empty());
    }

    /// The plugin that answers `command`, if any: the first claimant by
    /// priority that is `serving` (a quarantined or stopped plugin passes
    /// the command on, exactly as `!help` lists it).
    pub fn route(
        &self,
        command: &str,
        serving: impl Fn(&PluginName) -> bool,
    ) -> Option<&PluginName> {
        self.commands
            .get(command)
            .and_then(|claims| claims.iter().find(|c| serving(&c.plugin)))
            .map(|c| &c.plugin)
    }

    /// Whether `plugin` declares `command`.
    pub fn declares(&self, plugin: &PluginName, command: &str) -> bool {
        self.commands
            .get(command)
            .is_some_and(|claims| claims.iter().any(|c| c.plugin == *plugin))
    }

    /// The text of the built-in `!help` (all commands whose plugin is
    /// `running`) or `!help <command>`, with `prefix` in front of names.
    pub fn help(
        &self,
        prefix: &str,
        topic: Option<&str>,
        running: impl Fn(&PluginName) -> bool,
    ) -> String {
        let line = |name: &str, claim: &Claim| match &claim.help {
            Some(help) => format!("{prefix}{name} ({}): {help}", claim.plugin),
            None => format!("{prefix}{name} ({})", claim.plugin),
        };
        let routed = |name: &str| {
            self.commands
                .get(name)
                .and_then(|claims| claims.iter().find(|c| running(&c.plugin)))
        };
        if let Some(topic) = topic {
            let topic = topic.trim_start_matches(prefix).to_ascii_lowercase();
            return match routed(&topic) {
                Some(claim) => line(&topic, claim),
                None => format!("No command {prefix}{topic}. Try {prefix}{HELP} for the list."),
            };
        }
        let lines: Vec<String> = self
            .commands
            .keys()
            .filter_map(|name| routed(name).map(|claim| line(name, claim)))
            .collect();
        if lines.is_empty() {
            "No commands: no running plugin declares any.".to_owned()
        } else {
            format!("Commands:\n{}", lines.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, command: &str, priority: i32) -> Manifest {
        Manifest::from_yaml(&format!(
            "manifest_version: 1\nname: {name}\nversion: 1.0.0\nrosey_api: \"^0.1\"\n\
             commands: [{{ name: {command}, priority: {priority} }}]\n"
        ))
        .unwrap()
    }

    #[test]
    fn highest_priority_wins_then_name() {
        let mut table = CommandTable::default();
        table.add(&manifest("zeta", "quote", 10));
        table.add(&manifest("alpha", "quote", 10));
        table.add(&manifest("low", "quote", 1));
        assert_eq!(table.route("quote", |_| true).unwrap().as_str(), "alpha");
        table.remove(&"alpha".parse().unwrap());
        assert_eq!(table.route("quote", |_| true).unwrap().as_str(), "zeta");
        assert!(table.declares(&"low".parse().unwrap(), "quote"));
        assert!(table.route("nope", |_| true).is_none());
        // A plugin that is not serving passes the command on.
        assert_eq!(
            table
                .route("quote", |p| p.as_str() != "zeta")
                .unwrap()
                .as_str(),
            "low"
        );
    }

    #[test]
    fn help_lists_running_plugins_commands() {
        let mut table = CommandTable::default();
        table.add(&manifest("alpha", "quote", 1));
        table.add(&manifest("beta", "echo", 1));
        let all = table.help("!", None, |_| true);
        assert_eq!(all, "Commands:\n!echo (beta)\n!quote (alpha)");
        let some = table.help("!", None, |p| p.as_str() == "alpha");
        assert_eq!(some, "Commands:\n!quote (alpha)");
        assert_eq!(table.help("!", Some("!quote"), |_| true), "!quote (alpha)");
        assert_eq!(
            table.help("!", Some("nope"), |_| true),
            "No command !nope. Try !help for the list."
        );
    }
}
