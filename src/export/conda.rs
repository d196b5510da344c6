//! Exporting a conda environment (see "Conda environments" in the module
//! docs of [`super`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::dist::{self, Dist};
use super::{EnvOut, ExportError, Gathered};
use crate::conda::{self, LockedCondaPackage};
use crate::lockfile::{self, LockedConda, LockedPackage};
use crate::registry::model::{BuiltFrom, EnvironmentRecord};

/// A conda environment's own part of the export.
#[derive(Debug, Clone)]
pub(super) struct CondaOut {
    /// Channel URLs, in priority order.
    pub channels: Vec<String>,
    /// Its `pypi-packages`.
    pub pypi_packages: Vec<String>,
    /// Every conda package pinned, or the packages (`name-version-build`)
    /// no sha256 was found for.
    pub locked: Result<LockedConda, Vec<String>>,
}

/// Whether the folder is a conda environment: it has `conda-meta/`, or the
/// registry recorded it as one (its folder may be gone).
pub(super) fn is_conda(folder: &Path, record: Option<&EnvironmentRecord>) -> bool {
    folder.join("conda-meta").is_dir() || record.is_some_and(|r| r.kind == "conda")
}

impl Gathered<'_> {
    pub(super) fn conda_environment(
        &mut self,
        folder: &Path,
        record: Option<&EnvironmentRecord>,
    ) -> Result<(), ExportError> {
        let unreadable = |e: conda::CondaError| ExportError::Conda {
            path: folder.to_path_buf(),
            source: e,
        };
        let Some(observed) = conda::observe(folder).map_err(unreadable)? else {
            // Recorded as a conda environment, but its `conda-meta/` is
            // gone: nothing says what it held.
            self.notes.push(format!(
                "the conda environment at `{}` has no `conda-meta/` any more; not exported",
                folder.display()
            ));
            return Ok(());
        };
        let marker = crate::venv::read_marker(folder);
        let built: Option<BuiltFrom> = marker
            .as_ref()
            .and_then(|m| m.built.clone())
            .or_else(|| record.and_then(|r| r.built.clone()))
            .filter(|b| b.conda.is_some());
        let wanted_name = marker
            .as_ref()
            .map(|m| m.name.clone())
            .or_else(|| record.map(|r| r.name.clone()))
            .unwrap_or_else(|| super::name_from_folder(folder));
        let name = self.unique_env_name(&wanted_name);

        let packages: Vec<LockedCondaPackage> = observed
            .locked()
            .into_iter()
            .map(|mut p| {
                p.channel = conda::channel_of(&p);
                p
            })
            .collect();
        // What was asked for, from where: as built (ours), else as conda
        // recorded it.
        let (specs, channels) = match built.as_ref().and_then(|b| b.conda.clone()) {
            Some(c) => (c.specs, c.channels),
            None => (
                conda::requested_specs(folder).map_err(unreadable)?,
                channels_by_use(&packages),
            ),
        };
        let locked = self.conda_pins(folder, &name, packages);

        // PyPI packages installed on top: distributions that no conda
        // package's files hold.
        let python_version = observed
            .python
            .as_ref()
            .map(|p| p.version.clone())
            .unwrap_or_default();
        let conda_owned: BTreeSet<String> = observed
            .packages
            .iter()
            .flat_map(|p| p.files.iter())
            .filter_map(|f| dist_info_name(&f.path))
            .collect();
        let dists: Vec<Dist> = dist::site_packages(
            folder,
            Some(python_version.as_str()).filter(|v| !v.is_empty()),
        )
        .iter()
        .flat_map(|s| dist::read(s))
        .filter(|d| !conda_owned.contains(&d.name))
        .collect();
        let pypi_built = built.as_ref().map(|b| BuiltFrom {
            conda: None,
            ..b.clone()
        });
        let (pypi_packages, roots) = self.requirements(&name, pypi_built.as_ref(), &dists);
        let owner_path = marker
            .as_ref()
            .map(|m| m.owner.clone())
            .or_else(|| record.and_then(|r| r.owner.clone()));
        let locked_before: Vec<LockedPackage> = owner_path
            .as_deref()
            .and_then(|p| lockfile::read(&lockfile::path_for(p)).ok().flatten())
            .and_then(|l| l.environments.get(&wanted_name).map(|e| e.packages.clone()))
            .unwrap_or_default();
        // The owning manifest's settings (mirrors, find-links) go into the
        // export, as a venv's do.
        let owner = owner_path.as_deref().and_then(|p| self.owner(p)).cloned();
        let sources = self.artifact_sources(owner.as_ref());
        let pins = self.pins(&roots, &dists, &locked_before, &sources);

        let path = self.exported_path(folder, &name);
        self.envs.push(EnvOut {
            name,
            path,
            runtime: String::new(),
            packages: specs,
            env: built.as_ref().map(|b| b.env.clone()).unwrap_or_default(),
            system_site_packages: false,
            pip: true,
            python_version,
            pins,
            conda: Some(CondaOut {
                channels,
                pypi_packages,
                locked,
            }),
        });
        Ok(())
    }

    /// Every conda package of the environment pinned as `lock` pins it
    /// (url, sha256, md5), or the ones with no sha256 to be found.
    fn conda_pins(
        &mut self,
        folder: &Path,
        env: &str,
        packages: Vec<LockedCondaPackage>,
    ) -> Result<LockedConda, Vec<String>> {
        let mut pinned = Vec::with_capacity(packages.len());
        let mut unpinned = Vec::new();
        for mut package in packages {
            if package.sha256.is_empty()
                && let Some(sha256) = archive_sha256(folder, &package)
            {
                package.sha256 = sha256;
            }
            match package.validate() {
                Ok(()) => pinned.push(package),
                Err(e) => {
                    self.notes.push(format!(
                        "env.{env}: the conda package `{}` cannot be pinned: {e}",
                        package.dist_name()
                    ));
                    unpinned.push(package.dist_name());
                }
            }
        }
        if !unpinned.is_empty() {
            return Err(unpinned);
        }
        pinned.sort_by(|a, b| a.name.cmp(&b.name));
        let platform = pinned
            .iter()
            .map(|p| p.subdir.as_str())
            .find(|s| *s != "noarch")
            .map(str::to_owned)
            .or_else(|| conda::Platform::current().map(|p| p.to_string()))
            .unwrap_or_default();
        Ok(LockedConda {
            platform,
            packages: pinned,
        })
    }
}

/// The sha256 of a package whose record has none (older conda records
/// only an md5): its archive where conda keeps it (`<root>/pkgs/`, for a
/// prefix `<root>` or `<root>/envs/<name>`) or at its `file://` url,
/// checked against the record's md5.
fn archive_sha256(folder: &Path, package: &LockedCondaPackage) -> Option<String> {
    let mut candidates: Vec<PathBuf> = vec![folder.join("pkgs").join(&package.file_name)];
    if let Some(root) = folder.parent().and_then(Path::parent) {
        candidates.push(root.join("pkgs").join(&package.file_name));
    }
    if let Ok(url) = url::Url::parse(&package.url)
        && url.scheme() == "file"
        && let Ok(path) = url.to_file_path()
    {
        candidates.push(path);
    }
    candidates
        .into_iter()
        .filter(|c| c.is_file())
        .find_map(|c| {
            let (sha256, md5) = conda::digests_of(&c).ok()?;
            match &package.md5 {
                Some(expected) if !expected.eq_ignore_ascii_case(&md5) => None,
                Some(_) | None => Some(sha256),
            }
        })
}

/// The channels packages came from, the one most came from first.
fn channels_by_use(packages: &[LockedCondaPackage]) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for package in packages {
        *count.entry(package.channel.as_str()).or_default() += 1;
    }
    let mut channels: Vec<(&str, usize)> = count.into_iter().collect();
    channels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    channels.into_iter().map(|(c, _)| c.to_owned()).collect()
}

/// The normalized distribution name of a `*.dist-info/METADATA` path.
fn dist_info_name(path: &Path) -> Option<String> {
    let mut components = path.components().rev();
    let file = components.next()?.as_os_str().to_str()?;
    let folder = components.next()?.as_os_str().to_str()?;
    let stem = folder.strip_suffix(".dist-info")?;
    let name = stem.split('-').next()?;
    (file == "METADATA").then(|| crate::venv::normalize_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dist_info_path_names_its_distribution() {
        assert_eq!(
            dist_info_name(Path::new(
                "lib/python3.11/site-packages/Beep_A-1.0.dist-info/METADATA"
            )),
            Some("beep-a".to_owned())
        );
        assert_eq!(
            dist_info_name(Path::new("lib/python3.11/site-packages/a/METADATA")),
            None
        );
    }
}
