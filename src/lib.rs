//! beep-python: declare Python interpreters and virtual environments in a
//! manifest, then plan and apply them like infrastructure.
//!
//! # Architecture
//!
//! ```text
//! manifest (TOML) --parse/validate--> Manifest --resolve--> ResolvedEnvironment
//! registry.json   --load-->           Registry              (recorded state)
//! disk            --discover-->       interpreters          (observed state)
//! ```
//!
//! | module        | owns                                                        |
//! |---------------|-------------------------------------------------------------|
//! | [`manifest`]  | `beep-python.toml`: types, checks, resolution, JSON schema  |
//! | [`registry`]  | `<home>/registry.json`, `<home>/backups/`, `<home>/.lock`   |
//! | [`discover`]  | finding interpreters; `<home>/cache/interpreters.json`      |
//! | [`runtimes`]  | recording discovered interpreters, the default, system runtimes |
//! | [`diagnostic`]| problems in a source file, with spans                       |
//! | [`report`]    | the terminal: the only module that prints                   |
//! | [`cli`]       | clap structs and one thin function per command              |

pub mod cli;
pub mod diagnostic;
pub mod discover;
pub mod failpoint;
pub mod manifest;
pub mod registry;
pub mod report;
pub mod runtimes;
