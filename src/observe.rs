//! The observed state: what is on disk at every folder the planner looks
//! at, read once, before the diff (which does no I/O). The second stage of
//! the pipeline (`manifest -> desired -> observe -> plan -> exec`).
//!
//! Nothing here starts a process or writes: environments are read natively
//! ([`venv::observe`]), runtimes by their marker. `plan`, `status`, `doctor`
//! and `run` all observe through here and classify through
//! [`crate::plan::health`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::desired::Desired;
use crate::files;
use crate::provision::{self, ObservedRuntime};
use crate::registry::Registry;
use crate::venv::{self, Observed};

/// Every folder the plan looks at, observed.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub environments: BTreeMap<PathBuf, Observed>,
    pub runtimes: BTreeMap<PathBuf, ObservedRuntime>,
}

impl Observation {
    /// The environment folder at `path` (absent when it was not observed).
    pub fn environment(&self, path: &Path) -> &Observed {
        static ABSENT: std::sync::OnceLock<Observed> = std::sync::OnceLock::new();
        self.environments
            .get(path)
            .unwrap_or_else(|| ABSENT.get_or_init(Observed::default))
    }

    /// The runtime folder at `root` (absent when it was not observed).
    pub fn runtime(&self, root: &Path) -> ObservedRuntime {
        self.runtimes.get(root).cloned().unwrap_or_default()
    }
}

/// Observes each desired environment's folder, each folder the registry
/// records for `owner`, and each desired managed runtime's folder. Folders
/// are read in parallel (a no-op plan over thousands of environments waits
/// on file-system calls, not on the CPU).
pub fn observe(desired: &Desired, registry: &Registry, owner: &Path) -> Observation {
    let mut paths: Vec<&Path> = desired
        .environments
        .iter()
        .map(|d| d.path.as_path())
        .chain(
            registry
                .environments
                .iter()
                .filter(|e| e.owner.as_deref() == Some(owner))
                .map(|e| e.path.as_path()),
        )
        .collect();
    paths.sort();
    paths.dedup();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
        .min(paths.len().div_ceil(64).max(1));
    let chunk = paths.len().div_ceil(workers).max(1);
    let environments: BTreeMap<PathBuf, Observed> = std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| (p.to_path_buf(), environment(p)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            // Observation never panics; if it did, so does the plan,
            // rather than see a folder as absent.
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let runtimes = desired
        .runtimes
        .iter()
        .map(|r| (r.root.clone(), provision::observe(&r.root, &r.interpreter)))
        .collect();
    Observation {
        environments,
        runtimes,
    }
}

/// One environment folder, as the last committed state sees it. An empty
/// folder (or one holding only what a crashed apply reserved) counts as
/// absent: taking it over loses nothing. So does a folder an apply is
/// building right now (it carries that run's claim and not yet our
/// marker): it exists only if that apply commits, and recovery removes it
/// if it does not.
pub fn environment(path: &Path) -> Observed {
    let observed = venv::observe(path);
    // Only a folder that is not (yet) ours can be "empty" or in the
    // making: most folders are environments, and are read once.
    if observed.exists
        && observed.marker.is_none()
        && (path.join(files::CLAIM_FILE).is_file()
            || (!observed.is_venv && files::holds_only_reserved(path).unwrap_or(false)))
    {
        return Observed::default();
    }
    observed
}
