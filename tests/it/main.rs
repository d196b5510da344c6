//! The one integration-test binary (as in uv and just): every test module
//! shares one build and one link.

mod cli;
mod common;
mod registry;
mod resolve;
mod schema;
mod validate;
