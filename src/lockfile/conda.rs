//! Locking conda environments: their conda packages solved in-process
//! ([`crate::conda::solve`]), and their `pypi-packages` resolved by pip or
//! uv with the python those packages bring.
//!
//! - A conda environment whose lock entry still matches the manifest keeps
//!   its pins (no repodata is fetched); one whose inputs changed is solved
//!   again preferring its old pins (minimal churn); `--upgrade` solves with
//!   no preference, `--upgrade-package NAME` without NAME's pin.
//! - PyPI resolution needs an interpreter of the environment's python, and
//!   the environment itself may not exist yet. So the solved packages are
//!   installed once into `<home>/cache/conda-bases/<key>/` (hard links from
//!   the package cache), keyed by the digests of what it holds, and its
//!   python is the base pip or uv resolve with (through
//!   [`super::resolvers`], which key on that stable path). A base is
//!   complete when it carries [`COMPLETE`], written last; an incomplete one
//!   (a killed `lock`) is removed and built again. Bases are built while
//!   `lock` holds the home lock, so two runs never build one at once.
//!
//! TODO: a PyPI requirement that a conda package already provides (numpy
//! from conda, a PyPI package needing numpy) is resolved from the index as
//! well: conda and PyPI names are not mapped onto each other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use sha2::{Digest, Sha256};

use super::{Inputs, Lock, LockedConda, Upgrade};
use crate::conda::{self, CondaCache, LockedCondaPackage};
use crate::desired::conda::{SolveSettings, python_in, solve};
use crate::desired::{Desired, DesiredError};
use crate::fetch;

/// The cache folder of conda bases, under `<home>/cache`.
pub const CONDA_BASES: &str = "conda-bases";

/// Written last into a complete base.
pub const COMPLETE: &str = ".beep-python-base";

/// How the conda part of a lock is prepared.
pub struct CondaLockOptions<'a> {
    pub existing: Option<&'a Lock>,
    pub upgrade: &'a Upgrade,
    /// `<home>/cache`.
    pub cache_dir: &'a Path,
    pub fetch: fetch::Options,
    pub cancel: &'a AtomicBool,
}

/// Solves every conda environment of `desired` into `inputs` (see the
/// module docs) and prepares the base its PyPI packages resolve against.
/// Every failure is returned.
pub fn prepare(
    inputs: &mut Inputs,
    desired: &Desired,
    options: &CondaLockOptions<'_>,
) -> Result<(), Vec<DesiredError>> {
    let cache = CondaCache::in_cache_root(options.cache_dir);
    let settings = SolveSettings {
        offline: options.fetch.offline,
        cancel: options.cancel,
    };
    let mut errors = Vec::new();
    for spec in &desired.environments {
        let Some(conda) = spec.conda.as_deref() else {
            continue;
        };
        let Some(target) = inputs.environments.iter_mut().find(|t| t.name == spec.name) else {
            continue;
        };
        let failed = |source: conda::CondaError| DesiredError::Conda {
            name: spec.name.clone(),
            source,
        };
        let old: Option<&[LockedCondaPackage]> = options
            .existing
            .and_then(|l| l.environments.get(&spec.name))
            .and_then(|e| e.conda.as_ref())
            .filter(|c| c.platform == conda.platform)
            .map(|c| c.packages.as_slice());
        let packages = match (options.upgrade, &conda.packages) {
            (Upgrade::None, Some(locked)) if conda.locked => Ok(locked.clone()),
            (Upgrade::All, _) => solve(conda, None, &cache, settings),
            (Upgrade::Packages(names), _) => {
                let names: BTreeSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
                let kept: Option<Vec<LockedCondaPackage>> = old.map(|old| {
                    old.iter()
                        .filter(|p| !names.contains(&p.name))
                        .cloned()
                        .collect()
                });
                solve(conda, kept.as_deref(), &cache, settings)
            }
            (Upgrade::None, _) => solve(conda, old, &cache, settings),
        };
        let packages = match packages {
            Ok(packages) => packages,
            Err(e) => {
                errors.push(failed(e));
                continue;
            }
        };
        let python = packages.iter().find(|p| p.name == "python");
        target.base.version = python.map(|p| p.version.clone()).unwrap_or_default();
        if !target.requirements.is_empty() {
            if python.is_none() {
                errors.push(failed(conda::CondaError::InvalidSpec {
                    spec: "pypi-packages".to_string(),
                    reason: "the environment's conda packages bring no python to install PyPI packages with; add `python` to its packages".to_string(),
                }));
                continue;
            }
            match base(&packages, conda, &cache, options) {
                Ok(prefix) => target.base.executable = python_in(&prefix),
                Err(e) => {
                    errors.push(failed(e));
                    continue;
                }
            }
        }
        target.conda = Some(LockedConda {
            platform: conda.platform.clone(),
            packages,
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The prefix in the cache that holds exactly `packages`, built if it is
/// not complete.
fn base(
    packages: &[LockedCondaPackage],
    conda: &crate::desired::CondaSpec,
    cache: &CondaCache,
    options: &CondaLockOptions<'_>,
) -> Result<PathBuf, conda::CondaError> {
    let mut digest = Sha256::new();
    for p in packages {
        digest.update(p.sha256.as_bytes());
        digest.update(b"\n");
    }
    let key: String = digest
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = options.cache_dir.join(CONDA_BASES);
    let prefix = root.join(key);
    if prefix.join(COMPLETE).is_file() {
        return Ok(prefix);
    }
    if prefix.exists() {
        crate::files::remove_tree(&prefix).map_err(conda::CondaError::Io)?;
    }
    fs_err::create_dir_all(&root).map_err(conda::CondaError::Io)?;
    let channels = conda.resolved_channels()?;
    conda::install(
        &prefix,
        packages,
        &conda::InstallOptions {
            platform: conda.platform()?,
            mirrors: channels.mirrors(),
            fetch: options.fetch.clone(),
            requested_specs: &conda.specs,
            reinstall: &[],
            command: "beep-python lock",
        },
        cache,
        &fetch::NoProgress,
        options.cancel,
    )?;
    crate::files::write_atomic(
        &prefix.join(COMPLETE),
        b"a conda environment `beep-python lock` resolves PyPI packages against\n",
        crate::files::Durability::Durable,
        None,
    )
    .map_err(conda::CondaError::Io)?;
    Ok(prefix)
}
