//! What a solve produces and an install consumes: one exact package per
//! name, enough to fetch and verify it without solving again.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rattler_conda_types::Subdir;
use rattler_digest::{Md5, Sha256};
use serde::{Deserialize, Serialize};
use url::Url;

use super::CondaError;

/// One conda package, pinned: where it comes from and its digest. This is
/// what `beep-python.lock` records per conda package.
///
/// Everything else about the package (dependencies, `noarch` kind, ...) is
/// read from its own `info/index.json` when it is installed, so a lock entry
/// cannot disagree with the package it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedCondaPackage {
    /// Normalized (lowercase) conda package name.
    pub name: String,
    pub version: String,
    /// The build string (`py311h1234_0`).
    pub build: String,
    /// `noarch`, `linux-64`, ...
    pub subdir: String,
    /// The channel's own URL (never a mirror's).
    pub channel: String,
    /// The archive file name (`name-version-build.conda` or `.tar.bz2`).
    pub file_name: String,
    /// The archive's URL under its channel (never a mirror's).
    pub url: String,
    /// Lowercase hex; verified before anything is extracted.
    pub sha256: String,
    /// Lowercase hex, when the channel gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Archive size in bytes, when the channel gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl LockedCondaPackage {
    /// `name-version-build`, as conda names a package in messages.
    pub fn dist_name(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.build)
    }

    /// Checks what a lock file (or any other caller) handed in: digests in
    /// hex, a URL, a file name that is a conda archive of this name. Nothing
    /// from here reaches the disk before this has passed.
    pub fn validate(&self) -> Result<(), CondaError> {
        let bad = |field: &'static str, reason: String| CondaError::InvalidLockedPackage {
            package: self.dist_name(),
            field,
            reason,
        };
        if rattler_digest::parse_digest_from_hex::<Sha256>(&self.sha256).is_none() {
            return Err(bad("sha256", "not 64 hexadecimal characters".to_owned()));
        }
        if let Some(md5) = &self.md5
            && rattler_digest::parse_digest_from_hex::<Md5>(md5).is_none()
        {
            return Err(bad("md5", "not 32 hexadecimal characters".to_owned()));
        }
        Url::parse(&self.url).map_err(|e| bad("url", e.to_string()))?;
        Url::parse(&self.channel).map_err(|e| bad("channel", e.to_string()))?;
        Subdir::from_str(&self.subdir).map_err(|e| bad("subdir", e.to_string()))?;
        let identifier = rattler_conda_types::package::CondaArchiveIdentifier::try_from_filename(
            &self.file_name,
        )
        .ok_or_else(|| {
            bad(
                "file-name",
                "not a conda archive name (`name-version-build.conda` or `.tar.bz2`)".to_owned(),
            )
        })?;
        let id = &identifier.identifier;
        if (
            id.name.as_str(),
            id.version.as_str(),
            id.build_string.as_str(),
        ) != (
            self.name.as_str(),
            self.version.as_str(),
            self.build.as_str(),
        ) {
            return Err(bad(
                "file-name",
                format!("`{}` names another package", self.file_name),
            ));
        }
        Ok(())
    }
}

/// The platform (conda `subdir`) an environment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Platform(pub(super) Subdir);

impl Platform {
    /// This machine's, if conda knows it.
    pub fn current() -> Option<Platform> {
        Subdir::current().map(Platform)
    }
}

impl FromStr for Platform {
    type Err = CondaError;
    fn from_str(text: &str) -> Result<Platform, CondaError> {
        match Subdir::from_str(text) {
            Ok(Subdir::NoArch) => Err(CondaError::InvalidPlatform {
                platform: text.to_owned(),
                reason: "an environment is for one machine's platform, not `noarch`".to_owned(),
            }),
            Ok(subdir) => Ok(Platform(subdir)),
            Err(e) => Err(CondaError::InvalidPlatform {
                platform: text.to_owned(),
                reason: e.to_string(),
            }),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A change to one package, from one package set to another.
// A plan holds a handful of these; boxing `Change` would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PackageChange {
    Add {
        package: LockedCondaPackage,
    },
    Remove {
        package: LockedCondaPackage,
    },
    /// Same name, other content (version, build or digest).
    Change {
        from: LockedCondaPackage,
        to: LockedCondaPackage,
    },
}

impl PackageChange {
    pub fn name(&self) -> &str {
        match self {
            PackageChange::Add { package } | PackageChange::Remove { package } => &package.name,
            PackageChange::Change { to, .. } => &to.name,
        }
    }
}

/// The package-level changes that turn `from` into `to`, by name: what a
/// plan shows for an update. Packages are the same when their sha256 is
/// (as rattler's transaction decides). Pure; sorted by name.
pub fn diff(from: &[LockedCondaPackage], to: &[LockedCondaPackage]) -> Vec<PackageChange> {
    let from: BTreeMap<&str, &LockedCondaPackage> =
        from.iter().map(|p| (p.name.as_str(), p)).collect();
    let to: BTreeMap<&str, &LockedCondaPackage> = to.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut changes = Vec::new();
    for (name, old) in &from {
        match to.get(name) {
            None => changes.push(PackageChange::Remove {
                package: (*old).clone(),
            }),
            Some(new) if !new.sha256.eq_ignore_ascii_case(&old.sha256) => {
                changes.push(PackageChange::Change {
                    from: (*old).clone(),
                    to: (*new).clone(),
                });
            }
            Some(_) => {}
        }
    }
    for (name, new) in &to {
        if !from.contains_key(name) {
            changes.push(PackageChange::Add {
                package: (*new).clone(),
            });
        }
    }
    changes.sort_by(|a, b| a.name().cmp(b.name()));
    changes
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn package(name: &str, version: &str, sha: char) -> LockedCondaPackage {
        LockedCondaPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            build: "0".to_owned(),
            subdir: "noarch".to_owned(),
            channel: "file:///ch/".to_owned(),
            file_name: format!("{name}-{version}-0.tar.bz2"),
            url: format!("file:///ch/noarch/{name}-{version}-0.tar.bz2"),
            sha256: sha.to_string().repeat(64),
            md5: None,
            size: None,
        }
    }

    #[test]
    fn diff_names_each_added_removed_and_changed_package() {
        let from = [
            package("a", "1", 'a'),
            package("b", "1", 'b'),
            package("c", "1", 'c'),
        ];
        let to = [
            package("a", "1", 'a'),
            package("b", "2", 'd'),
            package("d", "1", 'e'),
        ];
        let changes = diff(&from, &to);
        let summary: Vec<String> = changes
            .iter()
            .map(|c| match c {
                PackageChange::Add { package } => format!("+{}", package.dist_name()),
                PackageChange::Remove { package } => format!("-{}", package.dist_name()),
                PackageChange::Change { from, to } => {
                    format!("~{} -> {}", from.dist_name(), to.dist_name())
                }
            })
            .collect();
        assert_eq!(summary, ["~b-1-0 -> b-2-0", "-c-1-0", "+d-1-0"]);
        assert!(diff(&to, &to).is_empty());
    }

    #[test]
    fn a_lock_entry_that_names_another_file_is_refused() {
        assert!(package("a", "1", 'a').validate().is_ok());
        let mut bad = package("a", "1", 'a');
        bad.file_name = "b-1-0.tar.bz2".to_owned();
        let err = bad.validate().unwrap_err();
        assert!(
            matches!(
                &err,
                CondaError::InvalidLockedPackage {
                    field: "file-name",
                    ..
                }
            ),
            "{err:?}"
        );
        let mut bad = package("a", "1", 'a');
        bad.sha256 = "xyz".to_owned();
        assert!(matches!(
            bad.validate().unwrap_err(),
            CondaError::InvalidLockedPackage {
                field: "sha256",
                ..
            }
        ));
    }

    #[test]
    fn noarch_is_not_an_environment_platform() {
        assert_eq!(
            "linux-64".parse::<Platform>().unwrap().to_string(),
            "linux-64"
        );
        assert!("noarch".parse::<Platform>().is_err());
        assert!("plan9-64".parse::<Platform>().is_err());
    }
}
