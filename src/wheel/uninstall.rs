//! Installed distributions, and removing one by its `RECORD`.
//!
//! Uninstalling removes exactly the files the distribution's `RECORD`
//! lists (and the `.pyc` files Python compiled from its sources), then the
//! folders that this left empty. It never removes:
//!
//! - a path outside the environment (`RECORD`s are data: `../../../../etc`
//!   is skipped), or one reached through a symlinked folder that leads out;
//! - a file another installed distribution's `RECORD` also lists (two
//!   distributions sharing a namespace `__init__.py`);
//! - the environment's own files: `pyvenv.cfg`, our marker and inventory,
//!   the interpreter links and activation scripts in `bin/`;
//! - a folder that still holds anything (user files stay, with their
//!   folders).
//!
//! `RECORD` is removed last, so an uninstall interrupted half-way is
//! finished by running it again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use super::WheelError;
use super::record;
use crate::venv::{Layout, normalize_name};

/// One `*.dist-info` folder in `site-packages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledDist {
    /// PEP 503 normalized.
    pub name: String,
    /// As the folder name spells it.
    pub version: String,
    pub dist_info: PathBuf,
    /// It has a `RECORD`: a finished install.
    pub complete: bool,
}

/// The distributions in `site_packages`, sorted by name, from the
/// `<name>-<version>.dist-info` folder names (the form every installer of
/// the last decade writes).
pub fn installed(site_packages: &Path) -> Vec<InstalledDist> {
    let Ok(entries) = fs_err::read_dir(site_packages) else {
        return Vec::new();
    };
    let mut out: Vec<InstalledDist> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let stem = file_name.to_str()?.strip_suffix(".dist-info")?;
            let (name, version) = stem.split_once('-')?;
            let dist_info = entry.path();
            Some(InstalledDist {
                name: normalize_name(name),
                version: version.to_string(),
                complete: dist_info.join("RECORD").is_file(),
                dist_info,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
    out
}

/// What [`uninstall`] removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Uninstalled {
    pub name: String,
    pub version: String,
    /// Files removed (`.pyc` files included).
    pub files: usize,
    /// Listed files that were kept: outside the environment, the
    /// environment's own, or owned by another distribution too.
    pub kept: Vec<PathBuf>,
}

/// Removes the distribution `name` (any spelling) from the environment at
/// `layout`; `None` if it is not installed.
pub fn uninstall(layout: &Layout, name: &str) -> Result<Option<Uninstalled>, WheelError> {
    let wanted = normalize_name(name);
    let dists = installed(&layout.site_packages);
    // A finished install first: a `.dist-info` without `RECORD` beside it
    // is an interrupted one, removed by the next call.
    let Some(dist) = dists
        .iter()
        .filter(|d| d.name == wanted)
        .max_by_key(|d| d.complete)
    else {
        return Ok(None);
    };
    remove(layout, dist, &dists).map(Some)
}

/// Every file of the environment that removing `dist` could remove: what
/// its `RECORD` lists, the bytecode compiled from its sources, and its
/// `.dist-info` folder's files (a restore point preserves them first).
pub fn files_of(layout: &Layout, dist: &InstalledDist) -> Vec<PathBuf> {
    let site = &layout.site_packages;
    let mut out = Vec::new();
    if let Ok(text) = fs_err::read_to_string(dist.dist_info.join("RECORD")) {
        let mut caches: BTreeSet<PathBuf> = BTreeSet::new();
        for path in record::parse(&text)
            .iter()
            .filter_map(|line| record::resolve(site, &line.path))
        {
            if path.extension().is_some_and(|e| e == "py")
                && let Some(parent) = path.parent()
            {
                caches.insert(parent.join("__pycache__"));
            }
            out.push(path);
        }
        // The compiled files of those folders: a few more than needed
        // (another distribution's in a shared folder) costs a link each.
        for cache in caches {
            if let Ok(entries) = fs_err::read_dir(&cache) {
                out.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            }
        }
    }
    let mut stack = vec![dist.dist_info.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out
}

/// Removes `dist`, one of `dists` (everything installed).
pub(super) fn remove(
    layout: &Layout,
    dist: &InstalledDist,
    dists: &[InstalledDist],
) -> Result<Uninstalled, WheelError> {
    let site = &layout.site_packages;
    let listed: Vec<PathBuf> = match fs_err::read_to_string(dist.dist_info.join("RECORD")) {
        Ok(text) => record::parse(&text)
            .iter()
            .filter_map(|line| record::resolve(site, &line.path))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut others: HashSet<PathBuf> = HashSet::new();
    for other in dists.iter().filter(|d| d.dist_info != dist.dist_info) {
        if let Ok(text) = fs_err::read_to_string(other.dist_info.join("RECORD")) {
            others.extend(
                record::parse(&text)
                    .iter()
                    .filter_map(|line| record::resolve(site, &line.path)),
            );
        }
    }
    let root = clean(&layout.root);
    let real_root = fs_err::canonicalize(&layout.root)?;
    let mut inside_cache: HashMap<PathBuf, bool> = HashMap::new();
    let mut inside = |dir: &Path| -> bool {
        *inside_cache
            .entry(dir.to_path_buf())
            .or_insert_with(|| fs_err::canonicalize(dir).is_ok_and(|d| d.starts_with(&real_root)))
    };
    let mut pycache_listings: HashMap<PathBuf, Vec<std::ffi::OsString>> = HashMap::new();
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut removed = 0;
    let mut kept = Vec::new();
    for path in &listed {
        if path.starts_with(&dist.dist_info) {
            continue; // below, with the folder
        }
        let Some(parent) = path.parent() else {
            continue;
        };
        if !path.starts_with(&root)
            || others.contains(path)
            || environment_owns(layout, path)
            || !inside(parent)
        {
            kept.push(path.clone());
            continue;
        }
        match fs_err::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                kept.push(path.clone());
                continue;
            }
            Ok(_) => {
                fs_err::remove_file(path)?;
                removed += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        dirs.insert(parent.to_path_buf());
        // The bytecode Python compiled from a source, for any interpreter.
        if let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".py"))
        {
            let cache = parent.join("__pycache__");
            let listing = pycache_listings.entry(cache.clone()).or_insert_with(|| {
                fs_err::read_dir(&cache)
                    .map(|it| it.filter_map(Result::ok).map(|e| e.file_name()).collect())
                    .unwrap_or_default()
            });
            let prefix = format!("{stem}.");
            for file in listing.iter() {
                let name = file.to_string_lossy();
                if name.starts_with(&prefix) && name.ends_with(".pyc") {
                    let pyc = cache.join(file);
                    if !others.contains(&pyc) && fs_err::remove_file(&pyc).is_ok() {
                        removed += 1;
                    }
                }
            }
            dirs.insert(cache);
        }
    }
    // The `.dist-info` folder is the distribution's own, whatever it holds;
    // `RECORD` goes last.
    removed += remove_dist_info(&dist.dist_info)?;
    prune(layout, &root, dirs);
    Ok(Uninstalled {
        name: dist.name.clone(),
        version: dist.version.clone(),
        files: removed,
        kept,
    })
}

/// `path` with `.` and `..` resolved lexically.
fn clean(path: &Path) -> PathBuf {
    record::resolve(path, ".").unwrap_or_else(|| path.to_path_buf())
}

/// Whether `path` is one of the files that make the folder an environment:
/// anything directly in its root (`pyvenv.cfg`, our marker and inventory),
/// and in `bin/` the interpreter links and activation scripts.
pub(super) fn environment_owns(layout: &Layout, path: &Path) -> bool {
    let root = clean(&layout.root);
    if path.parent() == Some(root.as_path()) {
        return true;
    }
    path.parent() == Some(clean(&layout.bin).as_path())
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_environment_script)
}

/// The file names `venv` (CPython's, uv's, ours) puts in `bin/`:
/// `python`, `python3`, `python3.12`, `pythonw`, `pypy3.10` (with `.exe`
/// on Windows), and the activation scripts. A console script merely
/// starting with `python` (`python-lsp`) is not one.
pub fn is_environment_script(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".exe").unwrap_or(&lower);
    let interpreter = ["python", "pythonw", "pypy", "pypyw"].iter().any(|base| {
        stem.strip_prefix(base).is_some_and(|rest| {
            rest.is_empty()
                || rest.strip_prefix('3').is_some_and(|v| {
                    v.is_empty()
                        || v.strip_prefix('.')
                            .is_some_and(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
                })
        })
    });
    interpreter || lower.starts_with("activate") || lower.starts_with("deactivate")
}

fn remove_dist_info(dir: &Path) -> Result<usize, WheelError> {
    let mut removed = 0;
    let record = dir.join("RECORD");
    match fs_err::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                let path = entry.path();
                if path == record {
                    continue;
                }
                if entry.file_type()?.is_dir() {
                    fs_err::remove_dir_all(&path)?;
                } else {
                    fs_err::remove_file(&path)?;
                }
                removed += 1;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    }
    match fs_err::remove_file(&record) {
        Ok(()) => removed += 1,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    fs_err::remove_dir(dir)?;
    Ok(removed)
}

/// Removes the folders in `dirs` that are now empty, and their parents that
/// become empty, up to (never including) the environment's own folders.
fn prune(layout: &Layout, root: &Path, dirs: BTreeSet<PathBuf>) {
    let keep: HashSet<PathBuf> = [
        root.to_path_buf(),
        clean(&layout.site_packages),
        clean(&layout.bin),
        clean(&layout.include),
    ]
    .into_iter()
    .chain(
        clean(&layout.site_packages)
            .ancestors()
            .map(Path::to_path_buf),
    )
    .collect();
    // Deepest first, so that a parent is tried after its children.
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in dirs {
        let mut dir = dir.as_path();
        while dir.starts_with(root) && !keep.contains(dir) {
            // Fails (and stops the climb) when the folder holds anything.
            if fs_err::remove_dir(dir).is_err() {
                break;
            }
            let Some(parent) = dir.parent() else { break };
            dir = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_scripts() {
        for ours in [
            "python",
            "python3",
            "python3.12",
            "pythonw.exe",
            "pypy3.10",
            "activate.fish",
            "Activate.ps1",
        ] {
            assert!(is_environment_script(ours), "{ours}");
        }
        for theirs in ["python-lsp", "pythonista", "pip", "python3x", "python3."] {
            assert!(!is_environment_script(theirs), "{theirs}");
        }
    }
}
