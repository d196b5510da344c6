//! The one integration-test binary (as in uv and just): every test module
//! shares one build and one link.

mod cli;
mod common;
mod discover;
mod registry;
mod resolve;
mod runtimes;
mod schema;
mod validate;
