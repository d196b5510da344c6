//! The inputs hash that ties a lock entry to the manifest (compared by
//! `desired::build`), and the comparison of a lock with what is
//! installed (`plan`). Pure functions: the caller observes, these compare.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::LockedPackage;
use crate::venv::normalize_name;

/// The hash of an environment's manifest inputs, as `sha256:<hex>`, for
/// [`super::LockedEnvironment::inputs_hash`]: its requirements (order and
/// duplicates do not matter, surrounding blanks neither) and any other
/// settings that change what resolves, as `(key, value)` pairs (order does
/// not matter; a later duplicate key wins).
///
/// Only pass what is the same on every machine: the lock is committed, and
/// a machine-specific input (an absolute `find-links` path, a discovered
/// interpreter's patch version) would make `--locked` fail on every other
/// machine.
pub fn inputs_hash(requirements: &[String], settings: &[(&str, &str)]) -> String {
    #[derive(Serialize)]
    struct Inputs<'a> {
        requirements: BTreeSet<&'a str>,
        settings: BTreeMap<&'a str, &'a str>,
    }
    let inputs = Inputs {
        requirements: requirements.iter().map(|r| r.trim()).collect(),
        settings: settings.iter().copied().collect(),
    };
    // A struct of strings always serializes.
    let json = serde_json::to_vec(&inputs).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let mut out = String::from("sha256:");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Package-level differences between an environment and its lock, for
/// `plan`: what installing the lock would add, change and remove. Each list
/// is sorted by name; names are PEP 503 normalized.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PackageDiff {
    /// `(name, locked version)`: locked, not installed.
    pub add: Vec<(String, String)>,
    /// `(name, installed version, locked version)`.
    pub change: Vec<(String, String, String)>,
    /// `(name, installed version)`: installed, not locked.
    pub remove: Vec<(String, String)>,
}

impl PackageDiff {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.change.is_empty() && self.remove.is_empty()
    }

    /// One line per difference, in name order: `~ pandas 2.1.4 -> 2.2.2`,
    /// `+ rich 13.7.1`, `- requests 2.31.0`.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<(&str, String)> = Vec::new();
        for (name, version) in &self.add {
            lines.push((name, format!("+ {name} {version}")));
        }
        for (name, from, to) in &self.change {
            lines.push((name, format!("~ {name} {from} -> {to}")));
        }
        for (name, version) in &self.remove {
            lines.push((name, format!("- {name} {version}")));
        }
        lines.sort();
        lines.into_iter().map(|(_, line)| line).collect()
    }
}

/// Compares the installed `(name, version)` pairs (names in any spelling)
/// with the locked packages. Versions are equal when they are the same
/// PEP 440 version (`1.0` is `1.0.0`), or the same text when they do not
/// parse.
///
/// With pip as the installer, [`crate::installer::sync`] keeps pip even
/// when the lock does not list it; leave it out of `installed` then, or
/// the plan shows a removal that never happens.
pub fn package_diff(installed: &[(String, String)], locked: &[LockedPackage]) -> PackageDiff {
    let installed: BTreeMap<String, &str> = installed
        .iter()
        .map(|(name, version)| (normalize_name(name), version.as_str()))
        .collect();
    let locked: BTreeMap<String, &str> = locked
        .iter()
        .map(|p| (normalize_name(&p.name), p.version.as_str()))
        .collect();
    let mut diff = PackageDiff::default();
    for (name, want) in &locked {
        match installed.get(name) {
            None => diff.add.push((name.clone(), want.to_string())),
            Some(have) if !same_version(have, want) => {
                diff.change
                    .push((name.clone(), have.to_string(), want.to_string()))
            }
            Some(_) => {}
        }
    }
    for (name, have) in &installed {
        if !locked.contains_key(name) {
            diff.remove.push((name.clone(), have.to_string()));
        }
    }
    diff
}

fn same_version(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        pep440_rs::Version::from_str(a),
        pep440_rs::Version::from_str(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            url: None,
            hashes: vec![],
            files: Vec::new(),
        }
    }

    #[test]
    fn package_diff_lists_adds_changes_and_removals() {
        let installed = vec![
            ("Pandas".to_string(), "2.1.4".to_string()),
            ("requests".to_string(), "2.31.0".to_string()),
            ("numpy".to_string(), "1.26.0".to_string()),
        ];
        let locked = vec![
            package("numpy", "1.26"),
            package("pandas", "2.2.2"),
            package("rich", "13.7.1"),
        ];
        let diff = package_diff(&installed, &locked);
        assert_eq!(
            diff,
            PackageDiff {
                add: vec![("rich".into(), "13.7.1".into())],
                change: vec![("pandas".into(), "2.1.4".into(), "2.2.2".into())],
                remove: vec![("requests".into(), "2.31.0".into())],
            }
        );
        assert_eq!(
            diff.lines(),
            vec![
                "~ pandas 2.1.4 -> 2.2.2",
                "- requests 2.31.0",
                "+ rich 13.7.1"
            ]
        );
        assert!(package_diff(&installed[2..], &locked[..1]).is_empty());
    }

    #[test]
    fn inputs_hash_ignores_order_and_blanks() {
        let a = inputs_hash(
            &["rich>=13".into(), " pandas ".into()],
            &[("python", "3.12"), ("index", "x")],
        );
        let b = inputs_hash(
            &["pandas".into(), "rich>=13".into(), "rich>=13".into()],
            &[("index", "x"), ("python", "3.12")],
        );
        assert_eq!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64, "{a}");
        assert_ne!(a, inputs_hash(&["pandas".into()], &[]));
        assert_ne!(
            inputs_hash(&["a".into()], &[("k", "v")]),
            inputs_hash(&["a".into()], &[("k", "w")])
        );
    }
}
