//! `rosey-host`: everything that runs Rosey plugins.
//!
//! A plugin is a WASI Preview 2 component packaged as a `.roseyplug` archive.
//! Where to look:
//!
//! - [`package`]: the archive format, its safe reader and the strict manifest;
//! - [`runtime`]: the wasmtime engine, per-plugin stores, limits, compile cache;
//! - [`capabilities`]: the imports a plugin can call, each checking its grants;
//! - [`supervisor`]: the running host: routing, one task per plugin, restarts;
//! - [`install`]: installing and removing plugins in a [`home::RoseyHome`];
//! - [`source`]: where packages come from (a file, a git repository, an
//!   index) and the one door they come in by, signature checked first;
//! - [`trust`]: signatures, trusted keys and the policy for unsigned plugins;
//! - [`provenance`]: where each installed plugin came from, and who signed it;
//! - [`update`]: updating an installed plugin in place, with rollback;
//! - [`validate`]: `rosey plugin validate`, for authors and CI;
//! - [`control`]: the local control channel the CLI uses on a running host;
//! - [`admin`]: the HTTP admin API and the web dashboard;
//! - [`registry`]: `host.db`, what is installed and enabled;
//! - [`host_config`]: the host's settings, `rosey.yaml` under the environment and flags;
//! - [`protocol`]: the NATS subjects and payloads shared with the bot core;
//! - [`nats`]: the managed local `nats-server`.
#![warn(missing_docs)]

pub mod admin;
pub mod approval;
pub mod backup;
pub mod bus;
pub mod capabilities;
pub mod control;
pub mod home;
pub mod host_config;
pub mod install;
pub mod logfile;
pub mod migrations;
pub mod nats;
pub use rosey_package as package;
pub mod plugin_config;
pub mod protocol;
pub mod provenance;
pub mod registry;
pub mod runtime;
pub mod scenario;
pub mod simulation;
pub mod source;
pub mod supervisor;
pub mod trust;
pub mod update;
pub mod validate;
