//! The observed state: what is on disk at every folder the planner looks
//! at, read once, before the diff (which does no I/O). The second stage of
//! the pipeline (`manifest -> desired -> observe -> plan -> exec`).
//!
//! Nothing here starts a process or writes: environments are read natively
//! ([`venv::observe`]; a conda environment's `conda-meta/` through
//! [`crate::conda`], its files checked against its records), runtimes by
//! their marker. `plan`, `status`, `doctor`
//! and `run` all observe through here and classify through
//! [`crate::plan::health`].
//!
//! An environment's stored inventory is read once per observation: the
//! plan needs only the verdict ([`Observation::damage`], by package), and
//! drops the inventory; `doctor`, which names the damaged files and reads
//! the inventory for its other checks, asks for [`Keep::Inventories`] and
//! gets the inventory and the damaged files in
//! [`Observation::inspections`] (kept only then: a plan over thousands of
//! environments would otherwise hold every installed file's line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::desired::Desired;
use crate::files;
use crate::inventory::{self, Damage, Inventory, PackageDamage};
use crate::provision::{self, ObservedRuntime};
use crate::registry::Registry;
use crate::venv::{self, Observed};

/// Every folder the plan looks at, observed.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub environments: BTreeMap<PathBuf, Observed>,
    /// Per environment with an inventory: its packages whose installed
    /// files are missing or changed (none listed: all intact).
    pub damage: BTreeMap<PathBuf, Vec<PackageDamage>>,
    pub runtimes: BTreeMap<PathBuf, ObservedRuntime>,
    /// With [`Keep::Inventories`]: per environment whose files were
    /// compared with its stored inventory, that inventory and the damaged
    /// files one by one (what [`Observation::damage`] sums up).
    pub inspections: BTreeMap<PathBuf, Inspection>,
}

/// What an observation keeps besides its verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Keep {
    /// The verdicts only (`plan`, `apply`, `status`).
    #[default]
    Verdicts,
    /// The inventories read and the damaged files too (`doctor`).
    Inventories,
}

/// An environment's files compared with its stored inventory.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The inventory as read.
    pub inventory: Arc<Inventory>,
    /// The files that differ from it (none: intact).
    pub files: Vec<Damage>,
}

/// How installed files are checked against each environment's inventory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Depth {
    /// Existence, size and modification time: no hashing, no process.
    #[default]
    Cheap,
    /// Every file hashed (`plan --refresh=full`, `doctor --deep`).
    Full,
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

    /// The damaged packages of the environment at `path`.
    pub fn damage(&self, path: &Path) -> &[PackageDamage] {
        self.damage.get(path).map_or(&[], Vec::as_slice)
    }
}

/// Observes each desired environment's folder, each folder the registry
/// records for `owner`, and each desired managed runtime's folder. Folders
/// are read in parallel (a no-op plan over thousands of environments waits
/// on file-system calls, not on the CPU).
pub fn observe(desired: &Desired, registry: &Registry, owner: &Path) -> Observation {
    observe_to(desired, registry, owner, Depth::Cheap)
}

/// [`observe`], checking installed files to `depth`.
pub fn observe_to(
    desired: &Desired,
    registry: &Registry,
    owner: &Path,
    depth: Depth,
) -> Observation {
    observe_keeping(desired, registry, owner, depth, Keep::Verdicts)
}

/// [`observe_to`], keeping what `keep` asks for.
pub fn observe_keeping(
    desired: &Desired,
    registry: &Registry,
    owner: &Path,
    depth: Depth,
    keep: Keep,
) -> Observation {
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
    type Seen = (
        PathBuf,
        (Observed, Option<Vec<PackageDamage>>, Option<Inspection>),
    );
    let seen: Vec<Seen> = std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| {
                            let observed = environment(p);
                            let (damage, inspection) = judge(p, &observed, depth);
                            let inspection = match keep {
                                Keep::Verdicts => None,
                                Keep::Inventories => inspection,
                            };
                            (p.to_path_buf(), (observed, damage, inspection))
                        })
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
    let mut environments = BTreeMap::new();
    let mut damaged = BTreeMap::new();
    let mut inspections = BTreeMap::new();
    for (path, (observed, damage, inspection)) in seen {
        if let Some(damage) = damage {
            damaged.insert(path.clone(), damage);
        }
        if let Some(inspection) = inspection {
            inspections.insert(path.clone(), inspection);
        }
        environments.insert(path, observed);
    }
    let runtimes = desired
        .runtimes
        .iter()
        .map(|r| (r.root.clone(), provision::observe(&r.root, &r.interpreter)))
        .collect();
    Observation {
        environments,
        damage: damaged,
        runtimes,
        inspections,
    }
}

/// The packages of a healthy environment of ours whose files differ from
/// its inventory; `None` when it has no inventory (built before there
/// were inventories, or not ours). `__pycache__` is never damage.
pub fn damage(path: &Path, observed: &Observed, depth: Depth) -> Option<Vec<PackageDamage>> {
    judge(path, observed, depth).0
}

/// [`damage`], with the inspection it was summed up from (a venv's).
fn judge(
    path: &Path,
    observed: &Observed,
    depth: Depth,
) -> (Option<Vec<PackageDamage>>, Option<Inspection>) {
    if observed.marker.is_some() && observed.conda.is_some() {
        return (conda_damage(path, depth), None);
    }
    if !compares_inventory(observed) {
        return (None, None);
    }
    let Some(recorded) = inventory::read(path).ok().flatten() else {
        return (None, None);
    };
    let files = compare(path, &recorded, depth);
    let damage = inventory::by_package(&files);
    (
        Some(damage),
        Some(Inspection {
            inventory: Arc::new(recorded),
            files,
        }),
    )
}

/// Whether [`damage`] compares the folder with a stored inventory (a
/// venv of ours; a conda environment is compared with its `conda-meta/`).
pub fn compares_inventory(observed: &Observed) -> bool {
    observed.marker.is_some() && observed.conda.is_none() && observed.is_venv
}

/// The installed files of the environment at `path` that differ from
/// `recorded`, checked to `depth`.
pub fn compare(path: &Path, recorded: &Inventory, depth: Depth) -> Vec<Damage> {
    match depth {
        Depth::Cheap => inventory::check_cheap(path, recorded),
        Depth::Full => inventory::check_full(path, recorded),
    }
}

/// A conda environment's damaged packages: its files against the `paths`
/// of each `conda-meta/` record (kind and size; every byte with
/// [`Depth::Full`]).
fn conda_damage(path: &Path, depth: Depth) -> Option<Vec<PackageDamage>> {
    let observed = crate::conda::observe(path).ok()??;
    let depth = match depth {
        Depth::Cheap => crate::conda::CheckDepth::Quick,
        Depth::Full => crate::conda::CheckDepth::Deep,
    };
    let mut by_package: BTreeMap<String, PackageDamage> = BTreeMap::new();
    for found in crate::conda::check(&observed, depth) {
        let entry = by_package
            .entry(found.package.clone())
            .or_insert_with(|| PackageDamage {
                package: found.package.clone(),
                missing: 0,
                changed: 0,
            });
        match found.problem {
            crate::conda::Problem::Missing => entry.missing += 1,
            crate::conda::Problem::WrongKind { .. }
            | crate::conda::Problem::SizeChanged { .. }
            | crate::conda::Problem::ContentChanged { .. }
            | crate::conda::Problem::Unreadable { .. } => entry.changed += 1,
        }
    }
    Some(by_package.into_values().collect())
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
