//! Which plugin answers which chat command.

use std::collections::BTreeMap;

use crate::package::{Manifest, PluginName};

/// The command table: command name to the plugins that declare it, highest
/// priority first (ties broken by plugin name, so routing is deterministic).
#[derive(Debug, Default, Clone)]
pub struct CommandTable {
    commands: BTreeMap<String, Vec<(i32, PluginName)>>,
}

impl CommandTable {
    /// Add the commands `manifest` declares.
    pub fn add(&mut self, manifest: &Manifest) {
        for command in &manifest.commands {
            let claims = self.commands.entry(command.name.to_string()).or_default();
            claims.push((command.priority, manifest.name.clone()));
            claims.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        }
    }

    /// Remove every command of `plugin`.
    pub fn remove(&mut self, plugin: &PluginName) {
        for claims in self.commands.values_mut() {
            claims.retain(|(_, p)| p != plugin);
        }
        self.commands.retain(|_, claims| !claims.is_empty());
    }

    /// The plugin that answers `command`, if any.
    pub fn route(&self, command: &str) -> Option<&PluginName> {
        self.commands
            .get(command)
            .and_then(|claims| claims.first())
            .map(|(_, p)| p)
    }

    /// Whether `plugin` declares `command`.
    pub fn declares(&self, plugin: &PluginName, command: &str) -> bool {
        self.commands
            .get(command)
            .is_some_and(|claims| claims.iter().any(|(_, p)| p == plugin))
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
        assert_eq!(table.route("quote").unwrap().as_str(), "alpha");
        table.remove(&"alpha".parse().unwrap());
        assert_eq!(table.route("quote").unwrap().as_str(), "zeta");
        assert!(table.declares(&"low".parse().unwrap(), "quote"));
        assert!(table.route("nope").is_none());
    }
}
