//! Plugin dependencies (`dependencies.plugins` in the manifest): what an
//! install still needs, what a removal or an update would break, and the
//! plan that installs what is missing from an index, dependencies first.

use std::fmt;

use super::index::{Index, IndexError, IndexedVersion};
use super::manifest::PluginDependency;
use super::name::PluginName;

/// A plugin that is installed, as far as dependencies are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// Its name.
    pub name: PluginName,
    /// Its version.
    pub version: semver::Version,
    /// What it needs.
    pub dependencies: Vec<PluginDependency>,
}

/// One unmet dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    /// The dependency is not installed.
    Missing {
        /// The plugin that needs it.
        plugin: PluginName,
        /// The dependency.
        dependency: PluginName,
        /// The versions that would do.
        req: semver::VersionReq,
    },
    /// The dependency is installed in a version the plugin does not accept.
    Conflict {
        /// The plugin that needs it.
        plugin: PluginName,
        /// The dependency.
        dependency: PluginName,
        /// The versions that would do.
        req: semver::VersionReq,
        /// The version that is there (or planned).
        found: semver::Version,
    },
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmet::Missing {
                plugin,
                dependency,
                req,
            } => write!(
                f,
                "{plugin} needs {dependency} {req}, which is not installed: install it first \
                 (`rosey plugin install {dependency}` from an index, or from its file)"
            ),
            Unmet::Conflict {
                plugin,
                dependency,
                req,
                found,
            } => write!(
                f,
                "{plugin} needs {dependency} {req}, but {dependency} {found} is installed: \
                 update {dependency} to a version matching {req}, or install a version of \
                 {plugin} that accepts {found}"
            ),
        }
    }
}

/// Why dependencies stop an install, an update or a removal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    /// Something the plugin needs is missing or in the wrong version.
    #[error("{}", join(.0))]
    Unmet(Vec<Unmet>),
    /// Other plugins need the one being removed or changed.
    #[error(
        "{} need{} {plugin}{}: {fix}, or pass --force to do it anyway (they will fail to start)",
        list_dependents(.dependents),
        if .dependents.len() == 1 { "s" } else { "" },
        match .version { Some(v) => format!(", and {v} does not fit"), None => String::new() },
    )]
    Dependents {
        /// The plugin being removed or changed.
        plugin: PluginName,
        /// The version it would become (`None`: removed).
        version: Option<semver::Version>,
        /// Who needs it, and which versions they accept.
        dependents: Vec<(PluginName, semver::VersionReq)>,
        /// What to do instead.
        fix: String,
    },
    /// The dependencies name each other in a circle.
    #[error("the dependencies form a cycle ({}), so no order installs them", .0.join(" → "))]
    Cycle(Vec<String>),
    /// A plugin could not be found in the index.
    #[error("{}{source}", match .needed_by {
        Some(p) => format!("{p} needs a plugin the index cannot provide: "),
        None => String::new(),
    })]
    Index {
        /// The plugin that needs it (`None`: the one asked for).
        needed_by: Option<PluginName>,
        /// What the index said.
        source: IndexError,
    },
}

fn join(unmet: &[Unmet]) -> String {
    unmet
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn list_dependents(dependents: &[(PluginName, semver::VersionReq)]) -> String {
    dependents
        .iter()
        .map(|(name, req)| format!("{name} (which needs {req})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `plugin` needs that `installed` does not provide.
pub fn unmet(
    plugin: &PluginName,
    dependencies: &[PluginDependency],
    installed: &[Present],
) -> Vec<Unmet> {
    dependencies
        .iter()
        .filter_map(|dep| match installed.iter().find(|p| p.name == dep.name) {
            None => Some(Unmet::Missing {
                plugin: plugin.clone(),
                dependency: dep.name.clone(),
                req: dep.version.clone(),
            }),
            Some(p) if !dep.version.matches(&p.version) => Some(Unmet::Conflict {
                plugin: plugin.clone(),
                dependency: dep.name.clone(),
                req: dep.version.clone(),
                found: p.version.clone(),
            }),
            Some(_) => None,
        })
        .collect()
}

/// The installed plugins that need `target` and would not accept it in
/// `version` (`None`: `target` is removed, so every one of them).
pub fn dependents_broken_by(
    target: &PluginName,
    version: Option<&semver::Version>,
    installed: &[Present],
) -> Vec<(PluginName, semver::VersionReq)> {
    installed
        .iter()
        .filter(|p| &p.name != target)
        .filter_map(|p| {
            let dep = p.dependencies.iter().find(|d| &d.name == target)?;
            let broken = version.is_none_or(|v| !dep.version.matches(v));
            broken.then(|| (p.name.clone(), dep.version.clone()))
        })
        .collect()
}

/// One install of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The plugin.
    pub name: PluginName,
    /// The version chosen from the index.
    pub entry: IndexedVersion,
    /// The plugin that needs it (`None`: the one the operator asked for).
    pub needed_by: Option<PluginName>,
}

/// What to install from `index` so that `name` (in a version `req`
/// accepts) can run: its missing dependencies first (each the newest
/// version that fits and runs on plugin API `api`), then `name` itself.
/// Dependencies already installed must fit; they are never changed.
pub fn plan(
    index: &Index,
    name: &str,
    req: &semver::VersionReq,
    api: &semver::Version,
    installed: &[Present],
) -> Result<Vec<Planned>, DependencyError> {
    let root = index
        .plugin(name)
        .map_err(|source| DependencyError::Index {
            needed_by: None,
            source,
        })?
        .0
        .clone();
    let mut planner = Planner {
        index,
        api,
        installed,
        planned: Vec::new(),
        path: Vec::new(),
    };
    planner.visit(&root, req, None)?;
    Ok(planner.planned)
}

struct Planner<'a> {
    index: &'a Index,
    api: &'a semver::Version,
    installed: &'a [Present],
    planned: Vec<Planned>,
    path: Vec<PluginName>,
}

impl Planner<'_> {
    fn visit(
        &mut self,
        name: &PluginName,
        req: &semver::VersionReq,
        needed_by: Option<&PluginName>,
    ) -> Result<(), DependencyError> {
        let conflict = |found: &semver::Version| {
            DependencyError::Unmet(vec![Unmet::Conflict {
                plugin: needed_by.unwrap_or(name).clone(),
                dependency: name.clone(),
                req: req.clone(),
                found: found.clone(),
            }])
        };
        if let Some(present) = self.installed.iter().find(|p| &p.name == name) {
            return match needed_by {
                Some(_) if !req.matches(&present.version) => Err(conflict(&present.version)),
                _ => Ok(()),
            };
        }
        if let Some(planned) = self.planned.iter().find(|p| &p.name == name) {
            return if req.matches(&planned.entry.version) {
                Ok(())
            } else {
                Err(conflict(&planned.entry.version))
            };
        }
        if let Some(at) = self.path.iter().position(|p| p == name) {
            let mut cycle: Vec<String> = self.path[at..].iter().map(ToString::to_string).collect();
            cycle.push(name.to_string());
            return Err(DependencyError::Cycle(cycle));
        }
        let entry = self
            .index
            .resolve(name.as_str(), req, self.api)
            .map_err(|source| DependencyError::Index {
                needed_by: needed_by.cloned(),
                source,
            })?
            .clone();
        self.path.push(name.clone());
        for dep in &entry.dependencies {
            self.visit(&dep.name, &dep.version, Some(name))?;
        }
        self.path.pop();
        self.planned.push(Planned {
            name: name.clone(),
            entry,
            needed_by: needed_by.cloned(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn name(n: &str) -> PluginName {
        n.parse().unwrap()
    }

    fn dep(n: &str, req: &str) -> PluginDependency {
        PluginDependency {
            name: name(n),
            version: req.parse().unwrap(),
        }
    }

    fn present(n: &str, v: &str, deps: Vec<PluginDependency>) -> Present {
        Present {
            name: name(n),
            version: v.parse().unwrap(),
            dependencies: deps,
        }
    }

    fn index(plugins: serde_json::Value) -> Index {
        let json = serde_json::json!({ "rosey_index": 1, "plugins": plugins });
        Index::from_json(json.to_string().as_bytes()).unwrap()
    }

    fn version(v: &str, deps: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"version": v, "url": "x.roseyplug", "sha256": SHA,
                           "rosey_api": "^0.1", "dependencies": deps})
    }

    fn api() -> semver::Version {
        semver::Version::new(0, 1, 0)
    }

    #[test]
    fn missing_and_conflicting_dependencies_are_named() {
        let installed = [present("weather", "1.4.0", vec![])];
        let needs = [dep("weather", "^2"), dep("geo", ">=1.0")];
        let unmet = unmet(&name("alerts"), &needs, &installed);
        let text = DependencyError::Unmet(unmet).to_string();
        assert!(
            text.contains("alerts needs weather ^2, but weather 1.4.0 is installed"),
            "{text}"
        );
        assert!(
            text.contains("alerts needs geo >=1.0, which is not installed"),
            "{text}"
        );
        assert!(super::unmet(&name("alerts"), &[dep("weather", "^1.2")], &installed).is_empty());
    }

    #[test]
    fn removal_and_updates_name_the_dependents_they_break() {
        let installed = [
            present("weather", "1.4.0", vec![]),
            present("alerts", "1.0.0", vec![dep("weather", "^1")]),
            present("forecast", "2.0.0", vec![dep("weather", ">=1.2")]),
            present("echo", "0.1.0", vec![]),
        ];
        let weather = name("weather");
        assert_eq!(dependents_broken_by(&weather, None, &installed).len(), 2);
        let two = semver::Version::new(2, 0, 0);
        let broken = dependents_broken_by(&weather, Some(&two), &installed);
        assert_eq!(broken, vec![(name("alerts"), "^1".parse().unwrap())]);
        let one = semver::Version::new(1, 5, 0);
        assert!(dependents_broken_by(&weather, Some(&one), &installed).is_empty());
        let err = DependencyError::Dependents {
            plugin: weather.clone(),
            version: Some(two),
            dependents: broken,
            fix: "update alerts first".into(),
        };
        assert_eq!(
            err.to_string(),
            "alerts (which needs ^1) needs weather, and 2.0.0 does not fit: update alerts first, \
             or pass --force to do it anyway (they will fail to start)"
        );
    }

    #[test]
    fn a_plan_installs_dependencies_first_and_keeps_what_is_installed() {
        let index = index(serde_json::json!({
            "alerts": {"versions": [version("1.0.0", serde_json::json!([
                {"name": "weather", "version": "^1"}, {"name": "geo", "version": "^0.3"}]))]},
            "weather": {"versions": [version("1.2.0", serde_json::json!([
                {"name": "geo", "version": ">=0.3.1"}])), version("2.0.0", serde_json::json!([]))]},
            "geo": {"versions": [version("0.3.0", serde_json::json!([])),
                                 version("0.3.4", serde_json::json!([]))]},
        }));
        let plan = plan(&index, "alerts", &semver::VersionReq::STAR, &api(), &[]).unwrap();
        let order: Vec<String> = plan
            .iter()
            .map(|p| format!("{}@{}", p.name, p.entry.version))
            .collect();
        assert_eq!(order, ["geo@0.3.4", "weather@1.2.0", "alerts@1.0.0"]);
        assert_eq!(plan[1].needed_by, Some(name("alerts")));

        let installed = [present("geo", "0.3.2", vec![])];
        let plan = super::plan(
            &index,
            "alerts",
            &semver::VersionReq::STAR,
            &api(),
            &installed,
        )
        .unwrap();
        assert_eq!(plan.len(), 2, "geo 0.3.2 fits and stays");

        let old = [present("geo", "0.3.0", vec![])];
        let err = super::plan(&index, "alerts", &semver::VersionReq::STAR, &api(), &old)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("weather needs geo >=0.3.1, but geo 0.3.0 is installed"),
            "{err}"
        );
    }

    #[test]
    fn cycles_and_missing_dependencies_are_refused() {
        let index = index(serde_json::json!({
            "a": {"versions": [version("1.0.0", serde_json::json!([{"name": "b", "version": "^1"}]))]},
            "b": {"versions": [version("1.0.0", serde_json::json!([{"name": "a", "version": "^1"}]))]},
            "c": {"versions": [version("1.0.0", serde_json::json!([{"name": "nowhere", "version": "^1"}]))]},
        }));
        let err = plan(&index, "a", &semver::VersionReq::STAR, &api(), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the dependencies form a cycle (a → b → a), so no order installs them"
        );
        let err = plan(&index, "c", &semver::VersionReq::STAR, &api(), &[]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "c needs a plugin the index cannot provide: there is no plugin named \"nowhere\""
            ),
            "{err}"
        );
    }
}
