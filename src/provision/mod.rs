//! Provisioning managed runtimes (standalone builds, `url` archives,
//! Windows embeddable zips).

pub mod catalog;
pub mod embeddable;
pub mod platform;
