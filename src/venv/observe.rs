//! Looking at an environment on disk without starting Python.
//!
//! Invariants:
//!
//! - No process is started and nothing is written.
//! - Nothing fails: a folder that cannot be read is reported as missing
//!   information (`is_venv = false`, no packages), never as an error,
//!   because the planner must be able to plan over a broken machine.
//! - It is cheap: of each `METADATA` file only the header (up to the first
//!   empty line) is read, because a description can be megabytes long and a
//!   no-op plan over many environments must stay in milliseconds.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::{Platform, layout};
use super::{Marker, read_marker};
use crate::discover::PyvenvCfg;

/// What is on disk at an environment's path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Something (anything) is at the path.
    pub exists: bool,
    /// It is a folder with a `pyvenv.cfg` that names a `home`.
    pub is_venv: bool,
    /// `home` from `pyvenv.cfg`: the base interpreter's folder.
    pub home: Option<PathBuf>,
    /// `executable` from `pyvenv.cfg` (written by Python 3.11+, uv and us).
    pub base_executable: Option<PathBuf>,
    /// `version` (or uv's `version_info`) from `pyvenv.cfg`.
    pub version: Option<String>,
    /// The base interpreter still exists: `executable` if recorded, else
    /// `home/python3` (`home\python.exe` on Windows).
    pub base_exists: bool,
    /// `bin/python` resolves to a file (a dangling link is `false`).
    pub python_exists: bool,
    /// Our marker file, if present and readable.
    pub marker: Option<Marker>,
    /// Installed distributions, sorted by normalized name.
    pub packages: Vec<Distribution>,
    /// A conda environment (it has `conda-meta/` and no `pyvenv.cfg`):
    /// what its records say, read natively by [`crate::conda::state`].
    /// `version` and `python_exists` are then its python package's, and
    /// `packages` the distributions in its `site-packages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conda: Option<crate::conda::CondaState>,
}

/// One installed distribution (a `*.dist-info` folder).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Distribution {
    /// The name normalized as PEP 503 says: lowercase, each run of `-`, `_`
    /// and `.` replaced by one `-`.
    pub name: String,
    /// The name as the distribution spells it.
    pub display_name: String,
    /// The version as the distribution spells it.
    pub version: String,
}

/// Observes the environment at `path`. Never starts a process; never fails.
pub fn observe(path: &Path) -> Observed {
    let mut observed = Observed::default();
    if fs_err::symlink_metadata(path).is_err() {
        return observed;
    }
    observed.exists = true;
    if !path.is_dir() {
        return observed;
    }
    observed.marker = read_marker(path);
    let Ok(text) = fs_err::read_to_string(path.join("pyvenv.cfg")) else {
        if let Some(conda) = crate::conda::state(path) {
            observed.python_exists = conda.python.as_deref().is_some_and(Path::is_file);
            observed.version = conda.python_version.clone();
            observed.packages = read_all_distributions(path, conda.python_version.as_deref());
            observed.conda = Some(conda);
        }
        return observed;
    };
    let cfg = PyvenvCfg::parse(&text);
    let Some(home) = cfg.home.clone() else {
        return observed;
    };
    observed.is_venv = true;
    let platform = Platform::CURRENT;
    observed.base_exists = match &cfg.executable {
        Some(exe) => exe.is_file(),
        None => match platform {
            Platform::Unix => ["python3", "python"].iter().any(|n| home.join(n).is_file()),
            Platform::Windows => home.join("python.exe").is_file(),
        },
    };
    observed.home = Some(home);
    observed.base_executable = cfg.executable;

    // `is_file` follows links, so a dangling `bin/python` is `false`.
    let version = cfg.version.clone().unwrap_or_default();
    let env = layout(path, &version);
    observed.python_exists = env.python.is_file();
    observed.packages = read_all_distributions(path, Some(&version));
    observed.version = cfg.version;
    observed
}

/// The distributions of the environment at `root`: in the `site-packages`
/// of Python `version`, else (no or an odd version) in the one
/// `lib/python*/site-packages` there is.
fn read_all_distributions(root: &Path, version: Option<&str>) -> Vec<Distribution> {
    let env = layout(root, version.unwrap_or_default());
    if env.site_packages.is_dir() {
        return read_distributions(&env.site_packages);
    }
    let mut all = Vec::new();
    for site in find_site_packages(root) {
        all.extend(read_distributions(&site));
    }
    all.sort();
    all
}

fn find_site_packages(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs_err::read_dir(root.join("lib")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect()
}

/// The distributions installed in `site_packages`: each `*.dist-info`
/// folder, with `Name` and `Version` from its `METADATA` header (or, if that
/// cannot be read, from the folder name), sorted by normalized name.
pub fn read_distributions(site_packages: &Path) -> Vec<Distribution> {
    let Ok(entries) = fs_err::read_dir(site_packages) else {
        return Vec::new();
    };
    let mut out: Vec<Distribution> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let stem = file_name.to_str()?.strip_suffix(".dist-info")?.to_string();
            let (mut name, mut version) = match stem.split_once('-') {
                Some((n, v)) => (Some(n.to_string()), Some(v.to_string())),
                None => (Some(stem.clone()), None),
            };
            if let Some((n, v)) = read_header(&entry.path().join("METADATA")) {
                name = n.or(name);
                version = v.or(version);
            }
            let display_name = name?;
            Some(Distribution {
                name: normalize_name(&display_name),
                display_name,
                version: version.unwrap_or_default(),
            })
        })
        .collect();
    out.sort();
    out
}

/// `Name` and `Version` from the header of a `METADATA` file: reads lines
/// up to the first empty one only.
fn read_header(path: &Path) -> Option<(Option<String>, Option<String>)> {
    let file = fs_err::File::open(path).ok()?;
    let mut reader = BufReader::with_capacity(4096, file);
    let (mut name, mut version) = (None, None);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        if let Some((key, value)) = text.split_once(':') {
            let key = key.trim();
            if name.is_none() && key.eq_ignore_ascii_case("name") {
                name = Some(value.trim().to_string());
            } else if version.is_none() && key.eq_ignore_ascii_case("version") {
                version = Some(value.trim().to_string());
            }
        }
        if name.is_some() && version.is_some() {
            break;
        }
    }
    Some((name, version))
}

/// A distribution name normalized as PEP 503 says: lowercase, each run of
/// `-`, `_` and `.` replaced by one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("Foo.Bar__baz-_-Qux"), "foo-bar-baz-qux");
        assert_eq!(normalize_name("pip"), "pip");
        assert_eq!(normalize_name("typing_extensions"), "typing-extensions");
    }

    #[test]
    fn reads_headers_and_falls_back_to_folder_names() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path();
        let a = site.join("Typing_Extensions-4.0.dist-info");
        fs_err::create_dir(&a).unwrap();
        // The body is never read: a "Name:" in it must not win.
        fs_err::write(
            a.join("METADATA"),
            "Metadata-Version: 2.1\nName: typing_extensions\nVersion: 4.12.2\n\nName: wrong\n",
        )
        .unwrap();
        fs_err::create_dir(site.join("zope.interface-6.0.dist-info")).unwrap();
        fs_err::create_dir(site.join("not-a-dist")).unwrap();
        let dists = read_distributions(site);
        assert_eq!(
            dists,
            vec![
                Distribution {
                    name: "typing-extensions".into(),
                    display_name: "typing_extensions".into(),
                    version: "4.12.2".into()
                },
                Distribution {
                    name: "zope-interface".into(),
                    display_name: "zope.interface".into(),
                    version: "6.0".into()
                },
            ]
        );
    }
}
