//! The steps of a conda environment: built in its claimed folder (conda
//! packages linked from the package cache by [`crate::conda`]), changed in
//! place after a restore point, its `pypi-packages` installed on top with
//! its own python.
//!
//! A conda prefix cannot move after linking (files embed its path), so it
//! is built at its final path, like a venv: the folder is claimed first
//! ([`Journal::claim_dir`](super::Journal::claim_dir)), so that a rollback,
//! or the recovery after a crash (SIGKILL half-way through linking
//! included), removes exactly what this run made; the marker is written
//! last. An update runs after [`super::Run::snapshot`]: rattler replaces a
//! file it changes (a new inode), never writes into one in place, so the
//! hard-linked restore point keeps every old file as it was.

use std::collections::BTreeSet;

use super::{Run, claim_error};
use crate::conda::{self, InstallOptions, LockedCondaPackage};
use crate::desired::CondaSpec;
use crate::desired::conda::{SolveSettings, solve};
use crate::exec::{Event, StepError};
use crate::plan::{EnvSpec, PackageChanges};
use crate::venv;
use crate::{fetch, installer, wheel};

impl Run<'_> {
    pub(super) fn create_conda(&self, spec: &EnvSpec) -> Result<(), StepError> {
        let conda = conda_of(spec)?;
        self.journal.claim_dir(&spec.path).map_err(claim_error)?;
        let packages = self.conda_packages(conda, None)?;
        crate::failpoint::pause("install-packages", self.settings.cancel);
        self.link_conda(spec, conda, &packages, &[])?;
        self.write_marker(spec, jiff::Timestamp::now())?;
        crate::failpoint::crash_point("created-conda");
        Ok(())
    }

    /// In place: the conda packages to the settled set (damaged ones
    /// linked again), then the PyPI distributions no longer required out.
    pub(super) fn update_conda(
        &self,
        spec: &EnvSpec,
        changes: &PackageChanges,
    ) -> Result<(), StepError> {
        let conda = conda_of(spec)?;
        crate::failpoint::pause("install-packages", self.settings.cancel);
        if self.cancelled() {
            return Err(StepError::Interrupted);
        }
        let installed = conda::state(&spec.path)
            .map(|s| s.packages)
            .unwrap_or_default();
        let packages = self.conda_packages(conda, Some(&installed))?;
        let reinstall: Vec<String> = changes
            .reinstall
            .iter()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| packages.iter().any(|p| p.name == *name))
            .map(str::to_string)
            .collect();
        self.link_conda(spec, conda, &packages, &reinstall)?;
        let layout = venv::layout(&spec.path, &spec_python_version(spec, &packages));
        for line in &changes.remove {
            let name = venv::normalize_name(line.split_whitespace().next().unwrap_or_default());
            wheel::uninstall(&layout, &name).map_err(StepError::Wheel)?;
        }
        let created_at =
            venv::read_marker(&spec.path).map_or_else(jiff::Timestamp::now, |m| m.created_at);
        self.write_marker(spec, created_at)?;
        crate::failpoint::crash_point("updated-conda");
        Ok(())
    }

    /// `pypi-packages`: the lock's pins by the native installer (added to
    /// what is there, never an exact sync: the conda packages' own
    /// distributions share the `site-packages`), else pip or uv with the
    /// environment's python.
    pub(super) fn install_pypi(&self, spec: &EnvSpec) -> Result<(), StepError> {
        if spec.packages.is_empty() {
            return Ok(());
        }
        if self.cancelled() {
            return Err(StepError::Interrupted);
        }
        if spec.locked.is_some() {
            return self.install_native(spec, BTreeSet::new(), false);
        }
        let settings = self.settings;
        installer::install_cancellable(
            settings.selected,
            settings.installer,
            &installer::Request {
                python: &spec.interpreter,
                requirements: &spec.packages,
                environment: &spec.name,
                constraints: None,
            },
            settings.cancel,
        )
        .map_err(|e| self.interrupted_or(StepError::Install(e)))?;
        crate::failpoint::crash_point("installed-pypi-packages");
        Ok(())
    }

    /// The settled (or locked) package set; solved here only when the
    /// plan did not settle it (a plan made without solving).
    fn conda_packages(
        &self,
        conda: &CondaSpec,
        installed: Option<&[LockedCondaPackage]>,
    ) -> Result<Vec<LockedCondaPackage>, StepError> {
        if let Some(packages) = &conda.packages {
            return Ok(packages.clone());
        }
        let cache = conda::CondaCache::in_cache_root(&self.settings.home.cache_dir());
        solve(
            conda,
            installed,
            &cache,
            SolveSettings {
                offline: self.settings.fetch.offline,
                cancel: self.settings.cancel,
            },
        )
        .map_err(|e| self.conda_error(e))
    }

    fn link_conda(
        &self,
        spec: &EnvSpec,
        conda: &CondaSpec,
        packages: &[LockedCondaPackage],
        reinstall: &[String],
    ) -> Result<(), StepError> {
        let channels = conda.resolved_channels().map_err(|e| self.conda_error(e))?;
        let platform = conda.platform().map_err(|e| self.conda_error(e))?;
        let cache = conda::CondaCache::in_cache_root(&self.settings.home.cache_dir());
        let address = format!("env.{}", spec.name);
        // conda's packages download one after the other through one
        // transfer: the figure is the current package's.
        let report = self.downloading(&address);
        let downloads = fetch::Aggregate::new(&report);
        let progress = downloads.transfer();
        let report = conda::install(
            &spec.path,
            packages,
            &InstallOptions {
                platform,
                mirrors: channels.mirrors(),
                fetch: self.settings.fetch.clone(),
                requested_specs: &conda.specs,
                reinstall,
                command: self.settings.command,
            },
            &cache,
            &progress,
            self.settings.cancel,
        )
        .map_err(|e| self.conda_error(e))?;
        let line = |p: &LockedCondaPackage| format!("{} {} ({})", p.name, p.version, p.build);
        let mut installed = Vec::new();
        let mut removed = Vec::new();
        for change in &report.changes {
            match change {
                conda::PackageChange::Add { package } => installed.push(line(package)),
                conda::PackageChange::Remove { package } => removed.push(line(package)),
                conda::PackageChange::Change { from, to } => {
                    removed.push(line(from));
                    installed.push(line(to));
                }
            }
        }
        installed.extend(report.reinstalled.iter().cloned());
        self.settings.progress.event(&Event::Installed {
            address,
            installer: "conda",
            link_mode: None,
            installed,
            removed,
        });
        crate::failpoint::crash_point("linked-conda");
        Ok(())
    }

    fn conda_error(&self, error: conda::CondaError) -> StepError {
        match error {
            conda::CondaError::Cancelled => StepError::Interrupted,
            other => self.interrupted_or(StepError::Conda(other)),
        }
    }
}

fn conda_of(spec: &EnvSpec) -> Result<&CondaSpec, StepError> {
    spec.conda.as_deref().ok_or_else(|| StepError::NotConda {
        name: spec.name.clone(),
    })
}

/// The python version of `packages` (the spec's, if it knows it).
fn spec_python_version(spec: &EnvSpec, packages: &[LockedCondaPackage]) -> String {
    packages
        .iter()
        .find(|p| p.name == "python")
        .map(|p| p.version.clone())
        .unwrap_or_else(|| spec.python_version.clone())
}

/// After building, a conda environment holds exactly its settled packages
/// (or, unsettled, satisfies every spec) and its PyPI requirements.
pub(super) fn verify(spec: &EnvSpec, conda: &CondaSpec) -> Result<(), StepError> {
    let installed = conda::state(&spec.path)
        .map(|s| s.packages)
        .unwrap_or_default();
    let mut unsatisfied: Vec<String> = match &conda.packages {
        Some(target) => conda::diff(&installed, target)
            .iter()
            .map(|c| match c {
                conda::PackageChange::Add { package } => package.dist_name(),
                conda::PackageChange::Remove { package } => format!("not {}", package.dist_name()),
                conda::PackageChange::Change { from, to } => {
                    format!("{} (found {})", to.dist_name(), from.dist_name())
                }
            })
            .collect(),
        None => conda::unsatisfied(&conda.specs, &installed),
    };
    let observed = venv::observe(&spec.path);
    let requirements: Vec<String> = match &spec.locked {
        Some(locked) => locked
            .iter()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect(),
        None => spec.packages.clone(),
    };
    let pypi = crate::plan::package_changes(&requirements, &observed.packages);
    unsatisfied.extend(pypi.add);
    unsatisfied.extend(pypi.change.into_iter().map(|c| c.required));
    if unsatisfied.is_empty() {
        Ok(())
    } else {
        Err(StepError::Verify { unsatisfied })
    }
}
