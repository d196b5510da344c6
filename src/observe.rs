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
/// records for `owner`, and each desired managed runtime's folder.
pub fn observe(desired: &Desired, registry: &Registry, owner: &Path) -> Observation {
    let mut out = Observation::default();
    let paths = desired.environments.iter().map(|d| d.path.as_path()).chain(
        registry
            .environments
            .iter()
            .filter(|e| e.owner.as_deref() == Some(owner))
            .map(|e| e.path.as_path()),
    );
    for path in paths {
        if !out.environments.contains_key(path) {
            out.environments
                .insert(path.to_path_buf(), environment(path));
        }
    }
    for runtime in &desired.runtimes {
        out.runtimes.insert(
            runtime.root.clone(),
            provision::observe(&runtime.root, &runtime.interpreter),
        );
    }
    out
}

/// One environment folder. An empty folder (or one holding only what a
/// crashed apply reserved) counts as absent: taking it over loses nothing.
pub fn environment(path: &Path) -> Observed {
    if files::holds_only_reserved(path).unwrap_or(false) {
        Observed::default()
    } else {
        venv::observe(path)
    }
}
