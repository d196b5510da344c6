//! Conda environments in the desired state (`kind = "conda"`).
//!
//! A conda environment's [`EnvSpec`] carries a [`CondaSpec`]: its match
//! specs, its channels resolved to URLs (so a saved plan needs no
//! manifest), the mirrors, the platform, and the exact package set it
//! will hold. `packages`, `locked` and `interpreter` of the [`EnvSpec`]
//! then describe its PyPI part (`pypi-packages`), installed after the conda
//! packages with the environment's own python.
//!
//! The exact package set comes from the lock when the environment is
//! locked. Otherwise [`settle`] decides it, after observation and before
//! the (pure) diff:
//!
//! - an environment of ours whose specs and channels are the ones it was
//!   built from, and whose `conda-meta/` still satisfies every spec, keeps
//!   what it has: no repodata is fetched, a no-op `plan` reads files only
//!   (as a venv's requirements are checked against what is installed);
//! - anything else is solved (rattler, in-process), preferring what is
//!   installed, so that an update changes only what it must. The plan then
//!   shows package-level changes, and a saved plan applies exactly them.
//!
//! A conda environment brings its own python: its `runtime` is only a
//! version pin (`python X.Y.*` is added to its specs when they name no
//! python), never a base interpreter.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::{Desired, DesiredError, EnvSpec};
use crate::conda::{self, Channels, CondaCache, LockedCondaPackage};
use crate::lockfile::LockedPackage;
use crate::manifest::resolve::{self, ResolvedEnvironment};
use crate::manifest::{Manifest, Runtime};
use crate::observe::Observation;
use crate::registry::Home;
use crate::registry::model::CondaBuilt;

/// What makes a conda environment, besides its PyPI packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CondaSpec {
    /// Match specs, in manifest order (with `python X.Y.*` from a runtime).
    pub specs: Vec<String>,
    /// The channels' own URLs, in priority order.
    pub channels: Vec<String>,
    /// Channel URL prefix -> the prefix packages are fetched from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<(String, String)>,
    /// The conda platform (`linux-64`, ...): this machine's.
    pub platform: String,
    /// Exactly what the environment holds after apply: the lock's, or what
    /// [`settle`] decided; `None` until then (a solve at apply time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<LockedCondaPackage>>,
    /// `packages` come from `beep-python.lock`.
    #[serde(default)]
    pub locked: bool,
}

impl CondaSpec {
    /// The channels, ready to solve against (mirrors applied).
    pub fn resolved_channels(&self) -> Result<Channels, conda::CondaError> {
        let settings = conda::ChannelSettings {
            mirrors: self
                .mirrors
                .iter()
                .filter_map(|(original, mirror)| {
                    Some(conda::Mirror {
                        original: url::Url::parse(original).ok()?,
                        mirror: url::Url::parse(mirror).ok()?,
                    })
                })
                .collect(),
            ..conda::ChannelSettings::default()
        };
        Channels::resolve(&self.channels, &settings)
    }

    pub fn platform(&self) -> Result<conda::Platform, conda::CondaError> {
        self.platform.parse()
    }

    /// What it is built from, as its marker keeps it.
    pub fn built(&self) -> CondaBuilt {
        CondaBuilt {
            specs: self.specs.clone(),
            channels: self.channels.clone(),
        }
    }

    /// The `python` package it will hold, if known.
    pub fn python(&self) -> Option<&LockedCondaPackage> {
        self.packages
            .as_deref()?
            .iter()
            .find(|p| p.name == "python")
    }
}

/// The interpreter inside a conda environment at `prefix`.
pub fn python_in(prefix: &std::path::Path) -> PathBuf {
    if cfg!(windows) {
        prefix.join("python.exe")
    } else {
        prefix.join("bin").join("python")
    }
}

/// The conda part of the lock entry of one environment, when it applies.
pub(super) struct LockedConda {
    pub packages: Vec<LockedCondaPackage>,
    pub pypi: Vec<LockedPackage>,
}

/// One conda environment's spec. Its exact package set is the lock's
/// (`locked`), else left for [`settle`].
pub(super) fn env_spec(
    manifest: &Manifest,
    env: &ResolvedEnvironment,
    runtime: Option<&Runtime>,
    locked: Option<LockedConda>,
) -> Result<EnvSpec, DesiredError> {
    let failed = |source: conda::CondaError| DesiredError::Conda {
        name: env.name.clone(),
        source,
    };
    let settings = resolve::conda_channel_settings(manifest);
    let channels = Channels::resolve(&env.channels, &settings).map_err(failed)?;
    let platform = conda::Platform::current().ok_or_else(|| {
        failed(conda::CondaError::InvalidPlatform {
            platform: std::env::consts::OS.to_string(),
            reason: "conda has no platform for this machine".to_string(),
        })
    })?;
    let mut specs = env.packages.clone();
    if let Some(version) = runtime.and_then(|r| r.version.as_ref())
        && !specs
            .iter()
            .any(|s| conda::spec_name(s).as_deref() == Some("python"))
    {
        specs.push(format!("python {}.*", version.value.trim()));
    }
    let (packages, pypi_locked, is_locked) = match locked {
        Some(l) => (Some(l.packages), Some(l.pypi), true),
        None => (None, None, false),
    };
    let conda = CondaSpec {
        specs,
        channels: channels.iter().map(|c| c.url.to_string()).collect(),
        mirrors: channels
            .mirrors()
            .iter()
            .map(|m| (m.original.to_string(), m.mirror.to_string()))
            .collect(),
        platform: platform.to_string(),
        packages,
        locked: is_locked,
    };
    let mut spec = EnvSpec {
        name: env.name.clone(),
        path: env.path.clone(),
        kind: env.kind,
        runtime: env.runtime.clone(),
        interpreter: python_in(&env.path),
        python_version: String::new(),
        implementation: "cpython".to_string(),
        template: None,
        packages: env.pypi_packages.clone(),
        env: env.env.clone(),
        system_site_packages: false,
        pip: false,
        // A conda environment without PyPI packages has nothing for pip
        // or the native installer to sync: an empty lock would remove the
        // conda packages' own distributions.
        locked: pypi_locked.filter(|_| !env.pypi_packages.is_empty()),
        conda: Some(Box::new(conda)),
    };
    spec.python_version = spec
        .conda
        .as_deref()
        .and_then(CondaSpec::python)
        .map(|p| p.version.clone())
        .unwrap_or_default();
    Ok(spec)
}

/// Where solves keep repodata and packages: the home's cache, or (a plan
/// on a machine without a home, which never creates one) a scratch folder
/// dropped afterwards.
pub enum SolveCache {
    Home(CondaCache),
    Scratch(tempfile::TempDir, CondaCache),
}

impl SolveCache {
    pub fn for_home(home: &Home) -> std::io::Result<SolveCache> {
        if home.root().is_dir() {
            Ok(SolveCache::Home(CondaCache::in_cache_root(
                &home.cache_dir(),
            )))
        } else {
            let dir = tempfile::tempdir()?;
            let cache = CondaCache::in_cache_root(dir.path());
            Ok(SolveCache::Scratch(dir, cache))
        }
    }

    pub fn cache(&self) -> &CondaCache {
        match self {
            SolveCache::Home(cache) | SolveCache::Scratch(_, cache) => cache,
        }
    }
}

/// How [`settle`] and the apply's solve reach the channels.
#[derive(Debug, Clone, Copy)]
pub struct SolveSettings<'a> {
    pub offline: bool,
    pub cancel: &'a AtomicBool,
}

/// Solves one conda environment, preferring `installed` (what it holds
/// now, so that an update changes only what it must).
pub fn solve(
    conda: &CondaSpec,
    installed: Option<&[LockedCondaPackage]>,
    cache: &CondaCache,
    settings: SolveSettings<'_>,
) -> Result<Vec<LockedCondaPackage>, conda::CondaError> {
    let channels = conda.resolved_channels()?;
    let platform = conda.platform()?;
    conda::solve(
        &conda::SolveRequest {
            channels: &channels,
            specs: &conda.specs,
            platform,
            virtual_packages: &conda::VirtualPackages::Detect,
            locked: installed,
            offline: settings.offline,
        },
        cache,
        settings.cancel,
    )
}

/// Decides the exact package set of every conda environment the lock does
/// not pin (see the module docs). Every failure is returned.
pub fn settle(
    desired: &mut Desired,
    observed: &Observation,
    cache: &CondaCache,
    settings: SolveSettings<'_>,
) -> Result<(), Vec<DesiredError>> {
    let mut errors = Vec::new();
    for spec in &mut desired.environments {
        let Some(conda) = spec.conda.as_mut() else {
            continue;
        };
        if conda.locked || conda.packages.is_some() {
            continue;
        }
        let here = observed.environment(&spec.path);
        let state = here.conda.as_ref().filter(|s| s.unreadable.is_none());
        let built = here
            .marker
            .as_ref()
            .and_then(|m| m.built.as_ref())
            .and_then(|b| b.conda.as_ref());
        let keeps = |state: &conda::CondaState| {
            built.is_some_and(|b| same_set(&b.specs, &conda.specs) && b.channels == conda.channels)
                && conda::unsatisfied(&conda.specs, &state.packages).is_empty()
        };
        match state {
            Some(state) if keeps(state) => conda.packages = Some(state.packages.clone()),
            _ => {
                let installed = state.map(|s| s.packages.as_slice());
                match solve(conda, installed, cache, settings) {
                    Ok(packages) => conda.packages = Some(packages),
                    Err(source) => {
                        errors.push(DesiredError::Conda {
                            name: spec.name.clone(),
                            source,
                        });
                        continue;
                    }
                }
            }
        }
        spec.python_version = conda
            .python()
            .map(|p| p.version.clone())
            .unwrap_or_default();
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let set = |v: &[String]| -> std::collections::BTreeSet<String> {
        v.iter().map(|s| s.trim().to_string()).collect()
    };
    set(a) == set(b)
}
