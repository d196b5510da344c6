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

// Errors carry what the user needs to act (the installer's last lines, the
// failing requirement), so some are large. They are built once per failed
// command, where their size costs nothing measurable, and boxing them would
// lose miette's derived diagnostic sources (it has no `Diagnostic` for `Box`).
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod diagnostic;
pub mod discover;
pub mod exec;
pub mod failpoint;
pub mod installer;
pub mod manifest;
pub mod plan;
pub mod reconcile;
pub mod registry;
pub mod report;
pub mod runtimes;
pub mod venv;
