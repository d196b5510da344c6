//! The one integration-test binary (as in uv and just): every test module
//! shares one build and one link.

mod apply;
mod archive;
mod cli;
mod common;
mod discover;
mod fetch;
mod installer;
mod inventory;
mod lock;
mod lockfile;
mod native;
mod pbs;
mod plan;
mod provision;
mod registry;
mod resolve;
mod runtimes;
mod schema;
mod server;
mod validate;
mod venv;
mod wheels;
