//! The one integration-test binary (as in uv and just): every test module
//! shares one build and one link.

// Tests panic with the path in their own messages; std::fs is fine here.
#![allow(clippy::disallowed_methods)]

mod ansible;
mod applied;
mod apply;
mod archive;
mod bundle;
mod children;
mod cli;
mod common;
mod completions;
mod conda;
mod conda_channel;
mod conda_env;
mod constrained;
mod conventions;
mod crash;
mod discover;
mod doctor;
mod env;
mod export;
mod fetch;
mod fresh_root;
mod in_place;
mod installer;
mod interface;
mod inventory;
mod json_shapes;
mod lock;
mod lock_speed;
mod lockfile;
mod native;
mod pbs;
mod plan;
mod progress;
mod project;
mod provision;
mod registry;
mod registry_safety;
mod resolve;
mod run;
mod runtimes;
mod safety;
mod schema;
mod server;
mod shell;
mod truth;
mod update;
mod validate;
mod venv;
mod vscode;
mod wheels;
