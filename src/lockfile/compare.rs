//! Comparing a lock with the manifest (`apply --locked`) and with what is
//! installed (`plan`). Pure functions: the caller observes, these compare.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Lock, LockedPackage, LockedRuntime};
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

/// Which locked environments no longer match the manifest, for `apply
/// --locked`. `desired` maps each environment of the manifest to its
/// `(runtime, inputs_hash)`. Lists, in name order, one sentence per
/// environment that differs: missing from the lock, in the lock but no
/// longer in the manifest, runtime changed, or inputs changed (only said
/// when the runtime is the same, since a runtime change usually changes
/// the inputs too). Empty when the lock is up to date.
pub fn staleness(lock: &Lock, desired: &BTreeMap<String, (String, String)>) -> Vec<String> {
    let names: BTreeSet<&String> = desired.keys().chain(lock.environments.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        match (desired.get(name), lock.environments.get(name)) {
            (Some(_), None) => out.push(format!("environment `{name}`: not in the lock")),
            (None, Some(_)) => out.push(format!(
                "environment `{name}`: in the lock, but no longer in the manifest"
            )),
            (Some((runtime, hash)), Some(locked)) => {
                if *runtime != locked.runtime {
                    out.push(format!(
                        "environment `{name}`: its runtime changed from `{}` to `{runtime}` since the lock was written",
                        locked.runtime
                    ));
                } else if *hash != locked.inputs_hash {
                    out.push(format!(
                        "environment `{name}`: its packages or settings changed since the lock was written"
                    ));
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Which locked runtimes no longer match the manifest, as [`staleness`]
/// does for environments. `desired` is what locking now would record.
///
/// A `system` runtime is whichever interpreter matches the manifest on each
/// machine: only its source is compared (its recorded path and version are
/// information, and differ between machines). Other sources are compared on
/// source, version, url and sha256.
pub fn runtime_staleness(lock: &Lock, desired: &BTreeMap<String, LockedRuntime>) -> Vec<String> {
    let names: BTreeSet<&String> = desired.keys().chain(lock.runtimes.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        match (desired.get(name), lock.runtimes.get(name)) {
            (Some(_), None) => out.push(format!("runtime `{name}`: not in the lock")),
            (None, Some(_)) => out.push(format!(
                "runtime `{name}`: in the lock, but no longer in the manifest"
            )),
            (Some(want), Some(have)) => {
                let same_download = want.version == have.version
                    && want.url == have.url
                    && want.sha256 == have.sha256;
                if want.source != have.source {
                    out.push(format!(
                        "runtime `{name}`: its source changed from `{}` to `{}` since the lock was written",
                        have.source, want.source
                    ));
                } else if want.source != "system" && want.version != have.version {
                    out.push(format!(
                        "runtime `{name}`: its version changed from {} to {} since the lock was written",
                        have.version, want.version
                    ));
                } else if want.source != "system" && !same_download {
                    out.push(format!(
                        "runtime `{name}`: its download changed since the lock was written"
                    ));
                }
            }
            (None, None) => {}
        }
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
    use crate::lockfile::LockedEnvironment;

    fn env(runtime: &str, hash: &str) -> LockedEnvironment {
        LockedEnvironment {
            runtime: runtime.into(),
            python_version: "3.12.1".into(),
            inputs_hash: hash.into(),
            packages: vec![],
        }
    }

    fn package(name: &str, version: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            url: None,
            hashes: vec![],
        }
    }

    #[test]
    fn staleness_names_each_environment_that_differs() {
        let mut lock = Lock::default();
        lock.environments.insert("same".into(), env("py312", "h1"));
        lock.environments
            .insert("edited".into(), env("py312", "h2"));
        lock.environments.insert("moved".into(), env("py311", "h3"));
        lock.environments.insert("gone".into(), env("py312", "h4"));
        let desired: BTreeMap<String, (String, String)> = [
            ("same", "py312", "h1"),
            ("edited", "py312", "h2-new"),
            ("moved", "py312", "h3-new"),
            ("added", "py312", "h5"),
        ]
        .into_iter()
        .map(|(n, r, h)| (n.to_string(), (r.to_string(), h.to_string())))
        .collect();
        assert_eq!(
            staleness(&lock, &desired),
            vec![
                "environment `added`: not in the lock",
                "environment `edited`: its packages or settings changed since the lock was written",
                "environment `gone`: in the lock, but no longer in the manifest",
                "environment `moved`: its runtime changed from `py311` to `py312` since the lock was written",
            ]
        );
        let up_to_date: BTreeMap<String, (String, String)> =
            [("same".to_string(), ("py312".to_string(), "h1".to_string()))].into();
        let mut small = Lock::default();
        small.environments.insert("same".into(), env("py312", "h1"));
        assert!(staleness(&small, &up_to_date).is_empty());
    }

    #[test]
    fn runtime_staleness_ignores_where_a_system_interpreter_is() {
        let runtime =
            |source: &str, version: &str, sha: Option<&str>, path: Option<&str>| LockedRuntime {
                source: source.into(),
                version: version.into(),
                url: sha.map(|_| "https://example.test/a.tar.gz".to_string()),
                sha256: sha.map(str::to_string),
                path: path.map(Into::into),
                platform: None,
            };
        let mut lock = Lock::default();
        lock.runtimes.insert(
            "host".into(),
            runtime("system", "3.11.2", None, Some("/usr/bin/python3.11")),
        );
        lock.runtimes.insert(
            "py".into(),
            runtime("standalone", "3.12.4", Some("aa"), None),
        );
        lock.runtimes.insert(
            "old".into(),
            runtime("standalone", "3.10.1", Some("cc"), None),
        );
        let desired: BTreeMap<String, LockedRuntime> = [
            (
                "host".to_string(),
                runtime("system", "3.11.7", None, Some("/opt/python3.11")),
            ),
            (
                "py".to_string(),
                runtime("standalone", "3.12.4", Some("bb"), None),
            ),
        ]
        .into();
        assert_eq!(
            runtime_staleness(&lock, &desired),
            vec![
                "runtime `old`: in the lock, but no longer in the manifest",
                "runtime `py`: its download changed since the lock was written",
            ]
        );
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
