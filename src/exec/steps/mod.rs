//! What each step does. Every step checks before it acts, and every change
//! to a resource's folder goes through the journal ([`Journal::claim_dir`],
//! [`Journal::place`], [`Journal::set_aside`]), which records it first and
//! proves ownership on undo.

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::Ordering;

use super::graph::{Owned, RuntimeJob, Step};
use super::journal::{ClaimError, Journal, NewFile};
use super::{Event, Settings, StepError};
use crate::fetch;
use crate::installer;
use crate::inventory;
use crate::plan::{EnvSpec, PackageChanges};
use crate::provision::{self, ProvisionError};
use crate::venv::{self, BaseInterpreter, CreateOptions, Marker, Seeded};
use crate::wheel;

mod conda;
mod environment;
mod packages;
mod runtime;

/// Shared state of one apply's steps.
pub struct Run<'a> {
    pub settings: &'a Settings<'a>,
    pub journal: &'a Journal,
}

impl<'a> Run<'a> {
    fn cancelled(&self) -> bool {
        self.settings.cancel.load(Ordering::SeqCst)
    }

    /// A step cancelled by Ctrl-C reports the interruption, not what the
    /// cancellation made fail.
    fn interrupted_or(&self, error: StepError) -> StepError {
        if self.cancelled() {
            StepError::Interrupted
        } else {
            error
        }
    }

    pub fn run(&self, step: &Step<'_, '_>) -> Result<(), StepError> {
        if self.cancelled() {
            return Err(StepError::Interrupted);
        }
        match step {
            Step::CheckRuntime { interpreter, .. } => {
                if !interpreter.is_file() {
                    return Err(StepError::RuntimeMissing {
                        path: interpreter.to_path_buf(),
                    });
                }
                Ok(())
            }
            Step::SetAside { path, owned, .. } => self.set_aside(path, *owned),
            Step::Download(job) => self.download(job),
            Step::Extract(job) => self.extract(job),
            Step::Configure(job) => self.configure(job),
            Step::VerifyInterpreter(job) => self.verify_interpreter(job),
            Step::CreateVenv(spec) => self.create_venv(spec),
            Step::SeedPip(spec) => self.seed_pip(spec),
            Step::InstallPackages(spec) => self.install_packages(spec),
            Step::Verify(spec) => match &spec.conda {
                Some(c) => conda::verify(spec, c),
                None => verify(spec),
            },
            Step::Repoint { spec, from } => self.repoint(spec, from),
            Step::Snapshot(spec) => self.snapshot(spec),
            Step::Reconfigure(spec) => self.reconfigure(spec),
            Step::UpdatePackages(spec, packages) => self.update_packages(spec, packages),
            Step::RecordInventory(spec) => {
                inventory::update(&spec.path)?;
                crate::failpoint::crash_point("recorded-inventory");
                Ok(())
            }
            Step::CreateConda(spec) => self.create_conda(spec),
            Step::UpdateConda(spec, changes) => self.update_conda(spec, changes),
            Step::InstallPypi(spec) => self.install_pypi(spec),
        }
    }

    /// Only what carries our marker (this manifest's, for an environment;
    /// inside `<home>/runtimes/`, for a runtime) is ever moved.
    fn set_aside(&self, path: &Path, owned: Owned) -> Result<(), StepError> {
        if fs_err::symlink_metadata(path).is_err() {
            // Already gone: nothing to keep.
            return Ok(());
        }
        let ours = match owned {
            Owned::Runtime => {
                provision::read_marker(path).is_some()
                    && path.starts_with(self.settings.home.runtimes_dir())
            }
            Owned::Environment => {
                venv::read_marker(path).is_some_and(|m| m.owner == self.settings.owner)
            }
            Owned::Debris => is_debris(path, self.settings.home),
        };
        if !ours {
            return match owned {
                // A deleted environment whose folder is no longer ours:
                // only its record goes (the plan said so).
                Owned::Environment => Ok(()),
                Owned::Runtime | Owned::Debris => Err(StepError::NotOurs {
                    path: path.to_path_buf(),
                }),
            };
        }
        self.journal
            .set_aside(path)
            .map(|_| ())
            .map_err(|source| StepError::MoveAside {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// Whether `path` is our debris, proven again as it is about to move.
fn is_debris(path: &Path, home: &crate::registry::Home) -> bool {
    let named = super::journal::inspect(home).named;
    super::sweep::classify(path, home, &named).is_some()
}

fn claim_error(error: ClaimError) -> StepError {
    StepError::Claim(error)
}

fn base_of(spec: &EnvSpec) -> BaseInterpreter {
    BaseInterpreter {
        executable: spec.interpreter.clone(),
        version: spec.python_version.clone(),
        implementation: spec.implementation.clone(),
    }
}

/// After installing, the environment holds what was asked for.
fn verify(spec: &EnvSpec) -> Result<(), StepError> {
    let observed = venv::observe(&spec.path);
    let missing = match &spec.locked {
        Some(locked) => {
            let diff = crate::plan::locked_changes(&observed.packages, locked, spec.pip);
            diff.add
                .into_iter()
                .chain(
                    diff.change
                        .into_iter()
                        .map(|c| format!("{}=={} (found {})", c.name, c.required, c.installed)),
                )
                .chain(diff.remove.into_iter().map(|r| format!("not {r}")))
                .collect::<Vec<_>>()
        }
        None => {
            let diff = crate::plan::package_changes(&spec.packages, &observed.packages);
            diff.add
                .into_iter()
                .chain(diff.change.into_iter().map(|c| c.required))
                .collect()
        }
    };
    let pip_ok = !spec.pip || observed.packages.iter().any(|d| d.name == "pip");
    if missing.is_empty() && pip_ok {
        return Ok(());
    }
    let mut unsatisfied = missing;
    if !pip_ok {
        unsatisfied.push("pip".into());
    }
    Err(StepError::Verify { unsatisfied })
}
