//! beep-python: declare Python interpreters and virtual environments in a
//! manifest, then plan and apply them like infrastructure.
//!
//! # Architecture
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! manifest (TOML) --parse/validate--> Manifest --desired::build--> Desired (EnvSpec, RuntimeSpec)
//! registry.json   --store::load-->    Registry                     (recorded state)
//! disk            --observe-->        Observation                  (observed state)
//! (Desired, Registry, Observation) --plan::diff--> Vec<Change>     (pure, no I/O)
//! Vec<Change> --exec::apply (graph, schedule, steps, journal)--> new Registry
//! ```
//!
//! | module        | owns                                                        |
//! |---------------|-------------------------------------------------------------|
//! | [`manifest`]  | `beep-python.toml`: types, checks, resolution, JSON schema  |
//! | [`desired`]   | the desired state: environments with their interpreters, managed runtimes with their builds, how the lock applies |
//! | [`observe`]   | the observed state: every folder the plan looks at, read once |
//! | [`plan`]      | the typed plan, the pure diff, the health classifier, rendering, saved plans |
//! | [`exec`]      | the step graph, the scheduler, the steps, the commit, `<home>/journal.json`, `<home>/stuck/` |
//! | [`registry`]  | `<home>/registry.json`, `<home>/backups/`, `<home>/.lock`   |
//! | [`discover`]  | finding interpreters; `<home>/cache/interpreters.json`      |
//! | [`runtimes`]  | recording discovered interpreters, the default, system runtimes |
//! | [`venv`]      | native venvs, pip seeding, observation without Python; the marker `<env>/.beep-python.json` |
//! | [`conda`]     | conda environments (rattler): solve, install, observe; `<home>/cache/conda-*` |
//! | [`installer`] | pip and uv                                                  |
//! | [`wheel`]     | the native installer: `<home>/cache/unpacked/`, wheels linked into environments, uninstall by `RECORD` |
//! | [`inventory`] | `<env>/.beep-python-inventory.json`: every installed file, its owner, damage checks |
//! | [`provision`] | managed runtimes: catalog, mirrors, platform, runtime steps, `<home>/runtimes/` |
//! | [`fetch`]     | verified downloads into `<home>/cache/downloads/`           |
//! | [`archive`]   | safe extraction of tar.gz, tar.zst and zip                  |
//! | [`lockfile`]  | `beep-python.lock`: format, resolution through the installer |
//! | [`pins`]      | what a lock pins (packages, artifacts) as plain data: `installer` and `wheel` read it without depending on `lockfile` |
//! | [`export`]    | from the machine's environments to a manifest and a lock (`export`) |
//! | [`bundle`]    | bundles: one `.tar.zst` with the manifest, the lock and every artifact they name; made, checked, restored offline |
//! | [`files`]     | the file-system rules: the one atomic writer, no-replace renames, mount points, claims |
//! | [`process`]   | child processes: own process group, stopped as a whole      |
//! | [`failpoint`] | failure injection and crash points, compiled in only for tests |
//! | [`diagnostic`]| problems in a source file, with spans                       |
//! | [`usage`]     | using an environment: activation variables, the check before use, `run`, `shell`, `.vscode/settings.json` |
//! | [`doctor`]    | health checks with severities and actions, repair through the plan, ELF and dependency reading, `<home>/health-reports/` |
//! | [`report`]    | the terminal: the only module that prints; apply's progress |
//! | [`cli`]       | clap structs and one thin function per command              |

// Errors carry what the user needs to act (the installer's last lines, the
// failing requirement), so some are large. They are built once per failed
// command, where their size costs nothing measurable, and boxing them would
// lose miette's derived diagnostic sources (it has no `Diagnostic` for `Box`).
#![allow(clippy::result_large_err)]

pub mod archive;
pub mod bundle;
pub mod cli;
pub mod conda;
pub mod desired;
pub mod diagnostic;
pub mod discover;
pub mod doctor;
pub mod exec;
pub mod export;
pub mod failpoint;
pub mod fetch;
pub mod files;
pub mod installer;
pub mod inventory;
pub mod lockfile;
pub mod manifest;
pub mod observe;
pub mod pins;
pub mod plan;
pub mod process;
pub mod provision;
pub mod registry;
pub mod report;
pub mod runtimes;
pub mod usage;
pub mod venv;
pub mod wheel;
