//! Bytecode, compiled once per (wheel, interpreter version) into the
//! unpacked cache, then linked with the sources.
//!
//! `python -m compileall` runs on the cached tree (a few worker processes,
//! each given its share of the files on stdin) and writes
//! `<dir>/__pycache__/<name>.<cache tag>.pyc` beside each source, with
//! timestamp invalidation: the `.pyc` holds its source's modification time
//! and size. An installed source is the cache's own inode (hard link) or
//! carries the cache file's modification time (reflinks and copies keep
//! it, see [`super::link`]), so the linked `.pyc` is valid in every
//! environment; a source edited later is simply recompiled by Python.
//!
//! Per entry and cache tag, `bytecode-<tag>.json` records the interpreter
//! version compiled for and every `.pyc` (hash, size, modification time). It
//! is written after the compilation, atomically; when the interpreter's
//! version changes (a new patch release may change the magic number),
//! `compileall` runs again and rewrites what is stale. Compilations of one
//! entry are serialized across processes by an OS file lock on
//! `.bytecode.lock` in the entry; `py_compile` itself writes each `.pyc`
//! through a temporary file and a rename, so a reader never sees half of
//! one.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::WheelError;
use super::unpack::{self, Manifest, mtime_ns};
use crate::process::{Group, Waited};

/// The stamp format this program writes.
const STAMP_VERSION: u32 = 1;

/// The interpreter to compile for.
#[derive(Debug, Clone, Copy)]
pub struct Python<'a> {
    /// The environment's interpreter (`<env>/bin/python`).
    pub executable: &'a Path,
    /// Its full version, `3.12.1`.
    pub version: &'a str,
    /// `cpython`, `pypy`, ...
    pub implementation: &'a str,
}

impl Python<'_> {
    /// `sys.implementation.cache_tag`, for the implementations whose tag is
    /// known without asking: `cpython-312`.
    pub fn cache_tag(&self) -> Option<String> {
        let (major, minor) = crate::venv::major_minor(self.version)?;
        matches!(
            self.implementation.to_ascii_lowercase().as_str(),
            "cpython" | ""
        )
        .then(|| format!("cpython-{major}{minor}"))
    }
}

/// What was compiled for one entry and interpreter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stamp {
    pub version: u32,
    /// The interpreter version compiled for.
    pub python: String,
    pub files: Vec<Compiled>,
}

/// One `.pyc` in an entry's tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Compiled {
    /// The source, as a path in the wheel (`pip/__init__.py`).
    pub source: String,
    /// The `.pyc`, as a path in the tree
    /// (`pip/__pycache__/__init__.cpython-312.pyc`).
    pub pyc: String,
    pub hash: String,
    pub size: u64,
    pub mtime_ns: i64,
}

/// The `.py` files of an entry that go into `site-packages` (the root, and
/// `.data/purelib` and `.data/platlib`): scripts and data are not imported.
pub fn sources(manifest: &Manifest) -> Vec<&str> {
    let data = format!(
        "{}.data/",
        manifest.dist_info.trim_end_matches(".dist-info")
    );
    manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| p.ends_with(".py"))
        .filter(|p| match p.strip_prefix(&data) {
            None => true,
            Some(rest) => rest.starts_with("purelib/") || rest.starts_with("platlib/"),
        })
        .collect()
}

/// `a/b.py` -> `a/__pycache__/b.<tag>.pyc`.
fn pyc_of(source: &str, tag: &str) -> String {
    let (dir, file) = match source.rsplit_once('/') {
        Some((dir, file)) => (format!("{dir}/"), file),
        None => (String::new(), source),
    };
    let stem = file.strip_suffix(".py").unwrap_or(file);
    format!("{dir}__pycache__/{stem}.{tag}.pyc")
}

fn stamp_path(entry: &Path, tag: &str) -> PathBuf {
    entry.join(format!("bytecode-{tag}.json"))
}

/// The entry's stamp for `python`, if it is for this very version and its
/// files are as recorded.
fn valid_stamp(entry: &Path, tag: &str, python: &Python<'_>) -> Option<Stamp> {
    let bytes = fs_err::read(stamp_path(entry, tag)).ok()?;
    let stamp: Stamp = serde_json::from_slice(&bytes).ok()?;
    if stamp.version != STAMP_VERSION || stamp.python != python.version {
        return None;
    }
    let tree = unpack::tree(entry);
    stamp
        .files
        .iter()
        .all(|f| {
            fs_err::symlink_metadata(tree.join(&f.pyc))
                .is_ok_and(|m| m.len() == f.size && mtime_ns(&m) == f.mtime_ns)
        })
        .then_some(stamp)
}

/// Makes sure every entry has bytecode for `python`, compiling what lacks
/// it in one batch; returns the stamps in the order of `entries`. `None`
/// for an implementation whose cache tag is not known.
pub fn ensure(
    entries: &[(&Path, &Manifest)],
    python: &Python<'_>,
    workers: usize,
    cancel: &AtomicBool,
) -> Result<Option<Vec<Stamp>>, WheelError> {
    let Some(tag) = python.cache_tag() else {
        return Ok(None);
    };
    let mut stamps: Vec<Option<Stamp>> = entries
        .iter()
        .map(|(entry, _)| valid_stamp(entry, &tag, python))
        .collect();
    let missing: Vec<usize> = (0..entries.len())
        .filter(|&i| stamps[i].is_none())
        .collect();
    if missing.is_empty() {
        return Ok(Some(stamps.into_iter().flatten().collect()));
    }
    // Locks taken in a fixed order (the entries' paths), so that two
    // processes compiling overlapping sets cannot deadlock.
    let mut order: Vec<usize> = missing.clone();
    order.sort_by_key(|&i| entries[i].0.to_path_buf());
    let mut locks = Vec::with_capacity(order.len());
    for &i in &order {
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(entries[i].0.join(".bytecode.lock"))?;
        file.file().lock()?;
        locks.push(file);
    }
    let mut sources: Vec<PathBuf> = Vec::new();
    let mut todo = Vec::new();
    for &i in &missing {
        // Another process may have compiled it while we waited.
        match valid_stamp(entries[i].0, &tag, python) {
            Some(stamp) => stamps[i] = Some(stamp),
            None => {
                let tree = unpack::tree(entries[i].0);
                sources.extend(sources_of(entries[i].1).map(|s| tree.join(s)));
                todo.push(i);
            }
        }
    }
    if !sources.is_empty() {
        compile(python, &sources, workers, cancel)?;
    }
    for i in todo {
        let (entry, manifest) = entries[i];
        let tree = unpack::tree(entry);
        let mut files = Vec::new();
        for source in sources_of(manifest) {
            let pyc = pyc_of(source, &tag);
            // A source that does not compile (Python 2 syntax in a test
            // folder, say) has no `.pyc`, as with pip and uv.
            let Ok(bytes) = fs_err::read(tree.join(&pyc)) else {
                continue;
            };
            let meta = fs_err::metadata(tree.join(&pyc))?;
            files.push(Compiled {
                source: source.to_string(),
                pyc,
                hash: super::record::hash_of(&bytes),
                size: bytes.len() as u64,
                mtime_ns: mtime_ns(&meta),
            });
        }
        let stamp = Stamp {
            version: STAMP_VERSION,
            python: python.version.to_string(),
            files,
        };
        let json = serde_json::to_vec(&stamp).map_err(io::Error::other)?;
        crate::venv::write_atomic(&stamp_path(entry, &tag), &json, false, false)?;
        stamps[i] = Some(stamp);
    }
    drop(locks);
    Ok(Some(stamps.into_iter().flatten().collect()))
}

fn sources_of(manifest: &Manifest) -> impl Iterator<Item = &str> {
    sources(manifest).into_iter()
}

/// Runs `compileall` over `files`, spread over up to `workers` processes,
/// each started, waited for and reaped on this thread through
/// [`crate::process::Group`] (its own process group, killed with us).
fn compile(
    python: &Python<'_>,
    files: &[PathBuf],
    workers: usize,
    cancel: &AtomicBool,
) -> Result<(), WheelError> {
    let failed = |reason: String| WheelError::Compile {
        python: python.executable.to_path_buf(),
        reason,
    };
    let minor = crate::venv::major_minor(python.version).map_or(0, |(_, m)| m);
    // Each process costs its start-up (~20 ms); below ~200 files per worker
    // more processes do not pay.
    let workers = workers.clamp(1, 8).min(files.len().div_ceil(200)).max(1);
    // Dropping a group kills it: an early return leaves no worker behind.
    let mut groups: Vec<Group> = Vec::with_capacity(workers);
    for w in 0..workers {
        let mut command = Command::new(python.executable);
        // Isolated: no user site, no PYTHON* variables (a
        // PYTHONPYCACHEPREFIX would put the files elsewhere).
        command.args(["-I", "-m", "compileall", "-q"]);
        if minor >= 7 {
            // `SOURCE_DATE_EPOCH` would otherwise switch to hash-based
            // files, which are checked against the source on every import.
            command.args(["--invalidation-mode", "timestamp"]);
        }
        command
            .args(["-i", "-"])
            .env_remove("SOURCE_DATE_EPOCH")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut group =
            Group::spawn(&mut command).map_err(|e| failed(format!("cannot start it: {e}")))?;
        let mut list = Vec::new();
        for file in files.iter().skip(w).step_by(workers) {
            list.extend_from_slice(file.to_string_lossy().as_bytes());
            list.push(b'\n');
        }
        let mut stdin = group
            .child()
            .stdin
            .take()
            .ok_or_else(|| failed("no stdin".into()))?;
        groups.push(group);
        stdin
            .write_all(&list)
            .map_err(|e| failed(format!("cannot give it the files: {e}")))?;
    }
    // Exit statuses are not checked: `compileall` fails when one file does
    // not compile, which is not an installation error.
    for mut group in groups {
        match group
            .wait(Some(cancel), None)
            .map_err(|e| failed(e.to_string()))?
        {
            Waited::Exited => {
                group.finish().map_err(|e| failed(e.to_string()))?;
            }
            Waited::Cancelled | Waited::TimedOut => return Err(WheelError::Cancelled),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyc_names() {
        assert_eq!(
            pyc_of("pip/_internal/main.py", "cpython-312"),
            "pip/_internal/__pycache__/main.cpython-312.pyc"
        );
        assert_eq!(
            pyc_of("six.py", "cpython-311"),
            "__pycache__/six.cpython-311.pyc"
        );
        let python = Python {
            executable: Path::new("/e/bin/python"),
            version: "3.12.1",
            implementation: "cpython",
        };
        assert_eq!(python.cache_tag().as_deref(), Some("cpython-312"));
        let pypy = Python {
            implementation: "pypy",
            ..python
        };
        assert_eq!(pypy.cache_tag(), None);
    }
}
