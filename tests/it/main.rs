//! The one integration-test binary (as in uv and just): every test module
//! shares one build and one link.

mod common;
mod schema;
mod validate;
