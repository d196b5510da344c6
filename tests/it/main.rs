//! The one integration-test binary (as in uv and just): every test module
//! shares one build and one link.

mod applied;
mod apply;
mod archive;
mod bundle;
mod children;
mod cli;
mod common;
mod completions;
mod crash;
mod discover;
mod env;
mod export;
mod fetch;
mod installer;
mod interface;
mod json_shapes;
mod lock;
mod lockfile;
mod pbs;
mod plan;
mod project;
mod provision;
mod registry;
mod resolve;
mod run;
mod runtimes;
mod safety;
mod schema;
mod server;
mod shell;
mod truth;
mod validate;
mod venv;
mod vscode;
mod wheels;
