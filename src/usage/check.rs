//! The check before using an environment: the plan's verdict for that one
//! resource, `env.NAME`.
//!
//! [`check`] is the only way `run`, `shell` and `env` ask whether an
//! environment matches the manifest and the lock, so that a change to how
//! plans are made is adapted here once. It is the planning pipeline itself
//! for that one environment ([`desired::build_one`], [`observe::observe`],
//! [`plan::diff`] with `--target env.NAME`): it reads the registry, the
//! lock and the environment's folder, and asks discovery for system
//! runtimes, whose cache answers without starting any interpreter. Another
//! environment's problems are not this one's. It takes no lock and changes
//! nothing.

use std::fmt;

use crate::desired::{self, Interpreters, LockUse};
use crate::lockfile::{self, LockError};
use crate::manifest::Manifest;
use crate::observe;
use crate::plan::{self, Action, Mode};
use crate::registry::{Home, RegistryError, store};

/// The verdict for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Built and matching the manifest (and the lock, where it applies).
    Ready,
    /// `apply` would change it.
    OutOfDate(Stale),
}

/// What `apply` would do to an environment, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub action: Action,
    /// The plan's reasons, one line (`2 packages drifted`).
    pub reason: String,
}

impl Stale {
    /// One sentence about environment `name`.
    pub fn sentence(&self, name: &str) -> String {
        match self.action {
            Action::Create => {
                format!(
                    "environment `{name}` has not been built yet ({})",
                    self.reason
                )
            }
            Action::Update | Action::Rename => {
                format!("environment `{name}` is out of date ({})", self.reason)
            }
            Action::Move => format!(
                "environment `{name}` moves to another folder and must be rebuilt there ({})",
                self.reason
            ),
            Action::Replace => format!(
                "environment `{name}` is out of date and must be rebuilt ({})",
                self.reason
            ),
            Action::Delete => format!(
                "environment `{name}` is about to be removed ({})",
                self.reason
            ),
        }
    }
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.action.as_str(), self.reason)
    }
}

/// Why the check could not give a verdict.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CheckError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] RegistryError),

    /// The plan cannot be made (a runtime cannot be found, the folder is
    /// another manifest's, ...): every problem, as `plan` reports them.
    #[error("{} problems", .0.len())]
    Planning(Vec<Box<dyn miette::Diagnostic + Send + Sync>>),
}

/// The verdict for environment `env_name` of `manifest` (which must have
/// passed validation), against the registry of `home`.
pub fn check(manifest: &Manifest, home: &Home, env_name: &str) -> Result<Verdict, CheckError> {
    // As `plan` without flags: the lock's entries pin what they still match.
    let lock = match lockfile::read(&lockfile::path_for(&manifest.path))? {
        Some(lock) => LockUse::Prefer(lock),
        None => LockUse::None,
    };
    let desired = desired::build_one(manifest, home, &lock, Interpreters::Discover, env_name)
        .map_err(|errors| {
            CheckError::Planning(errors.into_iter().map(|e| Box::new(e) as _).collect())
        })?;
    let registry = store::load(home)?.registry;
    let address = format!("env.{env_name}");
    let owner = desired::owner_of(&manifest.path);
    let observed = observe::observe(&desired, &registry, &owner);
    let changes = plan::diff(&plan::Inputs {
        owner: &owner,
        desired: &desired,
        registry: &registry,
        observed: &observed,
        targets: std::slice::from_ref(&address),
        replace: &[],
        mode: Mode::Apply,
    })
    .map_err(|problems| {
        CheckError::Planning(problems.into_iter().map(|e| Box::new(e) as _).collect())
    })?;
    // A runtime the environment needs may be listed too (a record to
    // write, say); the environment's own line is the verdict.
    Ok(match changes.iter().find(|c| c.address() == address) {
        Some(change) => Verdict::OutOfDate(Stale {
            action: change.action(),
            reason: change.reason_text(),
        }),
        None => Verdict::Ready,
    })
}
