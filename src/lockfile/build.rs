//! Building a whole lock: what `beep-python lock` writes.
//!
//! [`Inputs::from_desired`] reads the manifest's desired state (its
//! runtimes, already provisioned by the caller, and its environments with
//! their base interpreters); [`build()`] pins the runtimes and resolves
//! every environment through the installer ([`super::resolve()`]).
//!
//! Invariants:
//!
//! - Environments resolve in parallel, up to [`Options::jobs`] at once,
//!   each installer run blocking its own worker thread (which outlives the
//!   child, as [`crate::process`] requires). The lock does not depend on the
//!   order they finish in: it is keyed by name, and each environment's
//!   preferences come from the existing lock only.
//! - After a failure no further environment is started; those already
//!   running finish, and every failure is returned, in manifest order.
//!   Cancellation (the Ctrl-C flag) stops the installers that run.
//! - pip resolves from one cached environment per base interpreter, shared
//!   by all workers and runs ([`super::resolvers`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::resolve::{ResolveError, ResolveRequest, Upgrade, resolve};
use super::{Lock, LockedEnvironment, LockedPackage, LockedRuntime};
use crate::desired::{self, Desired};
use crate::installer::{Config, Selected};
use crate::manifest::{Manifest, RuntimeSource, resolve as manifest_resolve};
use crate::venv::BaseInterpreter;

/// One environment to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    /// The manifest runtime's name.
    pub runtime: String,
    pub base: BaseInterpreter,
    /// PEP 508 requirement strings, as the manifest resolves them.
    pub requirements: Vec<String>,
    /// [`super::inputs_hash`] of the environment's manifest inputs.
    pub inputs_hash: String,
    /// A conda environment's conda packages, solved before (its
    /// `requirements` are then its `pypi-packages`, resolved with its own
    /// python).
    pub conda: Option<super::LockedConda>,
    /// `pylock = "FILE"`: the pins are this file's, not a resolution's.
    pub pylock: Option<std::path::PathBuf>,
}

/// Everything a lock is made of, before resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The pinned runtimes, as they go into the lock.
    pub runtimes: BTreeMap<String, LockedRuntime>,
    /// In manifest order.
    pub environments: Vec<Target>,
}

impl Inputs {
    /// The lock's inputs for `manifest`, from its desired state: every
    /// managed runtime with its archive (a standalone build is one
    /// platform's; the others take the same version from their catalog),
    /// every system runtime an environment uses with its interpreter's
    /// path, and every environment with its base interpreter.
    pub fn from_desired(manifest: &Manifest, desired: &Desired, home_root: &Path) -> Inputs {
        let mut runtimes = BTreeMap::new();
        for spec in &desired.runtimes {
            runtimes.insert(
                spec.name.clone(),
                LockedRuntime {
                    source: spec.source.as_str().to_string(),
                    version: spec.python_version.clone(),
                    url: Some(spec.upstream_url.clone()),
                    sha256: Some(spec.sha256.clone()),
                    path: None,
                    platform: (spec.source == RuntimeSource::Standalone)
                        .then(|| spec.platform.clone()),
                },
            );
        }
        let resolved = manifest_resolve::resolve(manifest, home_root);
        let mut environments = Vec::new();
        for spec in &desired.environments {
            let Some(env) = resolved.iter().find(|e| e.name == spec.name) else {
                continue;
            };
            let runtime = manifest.runtimes.get(&spec.runtime);
            // A conda environment brings its own python: its runtime (a
            // version pin at most) is not what it is resolved against.
            if spec.conda.is_none() && runtime.is_some_and(|r| r.source == RuntimeSource::System) {
                runtimes
                    .entry(spec.runtime.clone())
                    .or_insert_with(|| LockedRuntime {
                        source: "system".into(),
                        version: spec.python_version.clone(),
                        url: None,
                        sha256: None,
                        path: Some(spec.interpreter.clone()),
                        platform: None,
                    });
            }
            environments.push(Target {
                name: spec.name.clone(),
                runtime: spec.runtime.clone(),
                base: BaseInterpreter {
                    executable: spec.interpreter.clone(),
                    version: spec.python_version.clone(),
                    implementation: spec.implementation.clone(),
                },
                requirements: spec.packages.clone(),
                inputs_hash: desired::env_inputs_hash(env, runtime),
                // Filled by `super::conda::prepare`, with the base its
                // PyPI packages resolve against.
                conda: None,
                pylock: env.pylock.clone(),
            });
        }
        Inputs {
            runtimes,
            environments,
        }
    }
}

/// What `lock` reports while it works.
pub trait Progress: Sync {
    /// `environment` starts resolving (from a worker thread).
    fn resolving(&self, environment: &str, requirements: usize);
}

/// How to build.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// The lock on disk: its pins are kept where they may stay.
    pub existing: Option<&'a Lock>,
    pub upgrade: &'a Upgrade,
    pub selected: &'a Selected,
    pub config: &'a Config,
    /// `<home>/cache`: resolver environments, the pip wheel cache, scratch.
    pub cache_dir: &'a Path,
    /// How many environments resolve at once (at least 1).
    pub jobs: usize,
    /// Set by the Ctrl-C handler.
    pub cancel: &'a AtomicBool,
    pub progress: &'a dyn Progress,
}

type Resolved = Result<Vec<LockedPackage>, ResolveError>;

/// Builds the lock: the runtimes as given, every environment resolved.
/// On failure, every environment that failed, in `inputs` order.
pub fn build(inputs: &Inputs, options: &Options<'_>) -> Result<Lock, Vec<ResolveError>> {
    let targets = &inputs.environments;
    // One slot per environment, filled by whichever worker resolves it.
    let results: Vec<Mutex<Option<Resolved>>> = targets.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        loop {
            if failed.load(Ordering::SeqCst) || options.cancel.load(Ordering::SeqCst) {
                return;
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(target) = targets.get(i) else {
                return;
            };
            let result = resolve_one(target, options);
            if result.is_err() {
                failed.store(true, Ordering::SeqCst);
            }
            *results[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        }
    };
    let workers = options.jobs.max(1).min(targets.len());
    std::thread::scope(|scope| {
        // This thread is one of the workers.
        for _ in 1..workers {
            scope.spawn(work);
        }
        work();
    });

    let mut lock = Lock {
        runtimes: inputs.runtimes.clone(),
        ..Lock::default()
    };
    let mut errors = Vec::new();
    for (target, result) in targets.iter().zip(results) {
        match result.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(Ok(packages)) => {
                lock.environments.insert(
                    target.name.clone(),
                    LockedEnvironment {
                        runtime: target.runtime.clone(),
                        python_version: target.base.version.clone(),
                        inputs_hash: target.inputs_hash.clone(),
                        packages,
                        conda: target.conda.clone(),
                    },
                );
            }
            Some(Err(error)) => errors.push(error),
            // Not started: after a failure, or cancelled before its turn.
            None if options.cancel.load(Ordering::SeqCst) && errors.is_empty() => {
                errors.push(ResolveError::Cancelled {
                    environment: target.name.clone(),
                });
            }
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(lock)
    } else {
        Err(errors)
    }
}

fn resolve_one(target: &Target, options: &Options<'_>) -> Result<Vec<LockedPackage>, ResolveError> {
    if let Some(pylock) = &target.pylock {
        return Ok(super::pylock::read_pins(pylock, &target.base.version)?);
    }
    if target.conda.is_some() && target.requirements.is_empty() {
        // A conda environment without `pypi-packages`: nothing for pip.
        return Ok(Vec::new());
    }
    let preferences: &[LockedPackage] = options
        .existing
        .and_then(|l| l.environments.get(&target.name))
        .filter(|l| l.runtime == target.runtime)
        .map_or(&[], |l| l.packages.as_slice());
    options
        .progress
        .resolving(&target.name, target.requirements.len());
    resolve(&ResolveRequest {
        base: &target.base,
        requirements: &target.requirements,
        preferences,
        upgrade: options.upgrade,
        selected: options.selected,
        config: options.config,
        cache_dir: options.cache_dir,
        environment: &target.name,
        cancel: options.cancel,
    })
}
