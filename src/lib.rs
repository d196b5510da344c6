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
//! | [`plan`]      | the pure diff, its rendering, saved plans                   |
//! | [`exec`]      | the step graph, the executor, `<home>/journal.json`         |
//! | [`venv`]      | native venvs, pip seeding, observation without Python       |
//! | [`installer`] | pip and uv                                                  |
//! | [`wheel`]     | the native installer: `<home>/cache/unpacked/`, wheels linked into environments, uninstall by `RECORD` |
//! | [`inventory`] | `<env>/.beep-python-inventory.json`: every installed file, its owner, damage checks |
//! | [`provision`] | managed runtimes: catalog, mirrors, platform, runtime steps, `<home>/runtimes/` |
//! | [`fetch`]     | verified downloads into `<home>/cache/downloads/`           |
//! | [`archive`]   | safe extraction of tar.gz, tar.zst and zip                  |
//! | [`lockfile`]  | `beep-python.lock`: format, resolution through the installer |
//! | [`diagnostic`]| problems in a source file, with spans                       |
//! | [`report`]    | the terminal: the only module that prints                   |
//! | [`cli`]       | clap structs and one thin function per command              |

// Errors carry what the user needs to act (the installer's last lines, the
// failing requirement), so some are large. They are built once per failed
// command, where their size costs nothing measurable, and boxing them would
// lose miette's derived diagnostic sources (it has no `Diagnostic` for `Box`).
#![allow(clippy::result_large_err)]

pub mod archive;
pub mod cli;
pub mod diagnostic;
pub mod discover;
pub mod exec;
pub mod failpoint;
pub mod fetch;
pub mod installer;
pub mod inventory;
pub mod lockfile;
pub mod manifest;
pub mod plan;
pub mod process;
pub mod provision;
pub mod reconcile;
pub mod registry;
pub mod report;
pub mod runtimes;
pub mod venv;
pub mod wheel;
