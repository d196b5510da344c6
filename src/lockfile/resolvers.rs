//! The environments pip resolves from: one per base interpreter, kept in
//! `<home>/cache/resolvers/<key>/` and reused by every `lock` and every
//! environment with that base.
//!
//! pip cannot simply run from the base interpreter: its pip may be missing,
//! old or externally managed, and the environment being locked may not
//! exist yet. So pip runs from a virtual environment of our own, made from
//! the base ([`crate::venv::create`]), seeded with the pip wheel the base
//! bundles ([`crate::venv::seed_pip_cached`]), and with pip's bytecode
//! compiled (`python -E -m compileall -q <site-packages>/pip`): most of a
//! pip resolution is pip importing itself, and without bytecode every run
//! recompiles it (always so where `PYTHONDONTWRITEBYTECODE` is set).
//!
//! Invariants:
//!
//! - An entry is complete or absent. It is built in a staging folder
//!   (`.staging-*`, beside the entries), [`STAMP`] is written last, and the
//!   folder is renamed into place. An entry without its stamp is never used.
//! - Two `lock` runs that build the same entry at once both succeed: the
//!   first rename wins, the other finds the entry in place and uses it, its
//!   own staging folder removed. Using an entry only reads it (pip runs with
//!   `--dry-run --ignore-installed`; a `.pyc` that Python writes meanwhile is
//!   written atomically), so any number of runs share one.
//! - The key names the base exactly: its real path, version,
//!   implementation, size and modification time. An interpreter upgraded in
//!   place gets a new entry; the old one is no longer used.
//! - Moved by the rename, an entry's console scripts and activation scripts
//!   name the staging folder: they are never used (pip runs as
//!   `<entry>/bin/python -m pip`, and the interpreter finds its environment
//!   from its own location).
//!
//! TODO: entries of interpreters that were removed or upgraded stay until
//! the cache is cleared by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::resolve::{MIN_PIP, ResolveError, ResolveRequest};
use crate::process::{self, Ran};
use crate::venv::{self, BaseInterpreter, CreateOptions, Seeded, VenvError};

/// The cache folder, under `<home>/cache`.
pub const RESOLVERS: &str = "resolvers";

/// Written last into a complete entry.
pub const STAMP: &str = "beep-resolver.json";

/// The entry format; a change starts new entries.
const FORMAT: u32 = 1;

/// Staging folders older than this were left by a killed run.
const STALE_STAGING: Duration = Duration::from_secs(24 * 60 * 60);

/// What [`STAMP`] records.
#[derive(Debug, Serialize, Deserialize)]
struct Stamp {
    version: u32,
    /// The base interpreter's real path.
    base: PathBuf,
    python_version: String,
    /// The pip seeded from the base's wheel; `None` when `ensurepip`
    /// installed it.
    pip_version: Option<String>,
}

/// The interpreter of the resolver environment for `req.base`, built if
/// it is not in the cache yet.
pub(super) fn python(req: &ResolveRequest) -> Result<PathBuf, ResolveError> {
    let venv_error = |source| ResolveError::Venv {
        environment: req.environment.to_string(),
        source,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ResolveError::Io {
            environment: req.environment.to_string(),
            path,
            source,
        }
    };
    let real = fs_err::canonicalize(&req.base.executable).map_err(|_| {
        venv_error(VenvError::BaseMissing {
            path: req.base.executable.clone(),
        })
    })?;
    let dir = req.cache_dir.join(RESOLVERS);
    let entry = dir.join(key(req.base, &real).map_err(io(&real))?);
    let layout = venv::layout(&entry, &req.base.version);
    if !ready(&entry, &layout.python, req)? {
        build(req, &dir, &entry, &real)?;
        if !ready(&entry, &layout.python, req)? {
            return Err(ResolveError::Io {
                environment: req.environment.to_string(),
                path: entry.join(STAMP),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the resolver environment is incomplete after it was built",
                ),
            });
        }
    }
    Ok(layout.python)
}

/// `<implementation>-<version>-<hash>`: readable, and exact.
fn key(base: &BaseInterpreter, real: &Path) -> std::io::Result<String> {
    let meta = fs_err::metadata(real)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut hasher = Sha256::new();
    for part in [
        FORMAT.to_string().as_bytes(),
        real.as_os_str().as_encoded_bytes(),
        base.version.as_bytes(),
        base.implementation.as_bytes(),
        meta.len().to_string().as_bytes(),
        mtime.to_string().as_bytes(),
    ] {
        hasher.update(part);
        hasher.update([0]);
    }
    let hash: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    let implementation = if base.implementation.is_empty() {
        "python".to_string()
    } else {
        safe(&base.implementation)
    };
    Ok(format!(
        "{implementation}-{}-{hash}",
        safe(base.version.trim())
    ))
}

/// Whether the entry is complete and usable; an unusable pip is an error.
/// A broken entry (no stamp: it was tampered with, as we never rename an
/// unstamped one into place; or its interpreter gone) is moved out of the
/// way, so that it is built again.
fn ready(entry: &Path, python: &Path, req: &ResolveRequest) -> Result<bool, ResolveError> {
    if fs_err::symlink_metadata(entry).is_err() {
        return Ok(false);
    }
    let stamp = fs_err::read_to_string(entry.join(STAMP))
        .ok()
        .and_then(|text| serde_json::from_str::<Stamp>(&text).ok())
        .filter(|s| s.version == FORMAT && python.exists());
    let Some(stamp) = stamp else {
        discard(entry);
        return Ok(false);
    };
    if let Some(pip_version) = &stamp.pip_version {
        let old = match (
            pep440_rs::Version::from_str(pip_version),
            pep440_rs::Version::from_str(MIN_PIP),
        ) {
            (Ok(have), Ok(min)) => have < min,
            _ => false,
        };
        if old {
            return Err(ResolveError::OldPip {
                environment: req.environment.to_string(),
                version: pip_version.clone(),
            });
        }
    }
    Ok(true)
}

/// Renames a broken entry aside and removes it. Another run may be using
/// it: a rename does not disturb processes already running from it.
fn discard(entry: &Path) {
    let Some(parent) = entry.parent() else {
        return;
    };
    // Dropping the temporary folder removes it, and the entry moved into it.
    if let Ok(trash) = tempfile::Builder::new()
        .prefix(".staging-broken-")
        .tempdir_in(parent)
    {
        let _ = fs_err::rename(entry, trash.path().join("entry"));
    }
}

/// Builds the entry for `req.base` in a staging folder and renames it
/// into place (or leaves the one another run put there first).
fn build(req: &ResolveRequest, dir: &Path, entry: &Path, real: &Path) -> Result<(), ResolveError> {
    let venv_error = |source| ResolveError::Venv {
        environment: req.environment.to_string(),
        source,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ResolveError::Io {
            environment: req.environment.to_string(),
            path,
            source,
        }
    };
    fs_err::create_dir_all(dir).map_err(io(dir))?;
    remove_stale_staging(dir);
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(dir)
        .map_err(io(dir))?;
    let path = staging.path().join("env");
    let layout = venv::create(
        &path,
        req.base,
        &CreateOptions {
            name: "beep-python-resolve",
            system_site_packages: false,
            env_vars: &BTreeMap::new(),
        },
    )
    .map_err(venv_error)?;
    let wheels = req.cache_dir.join("wheels");
    let pip_version =
        match venv::seed_pip_cached(&layout, req.base, Some(&wheels)).map_err(venv_error)? {
            Seeded::Wheel { pip_version } => Some(pip_version),
            // `ensurepip` compiles what it installs; too old a pip fails on
            // `--report` and its last lines say so.
            Seeded::Ensurepip => None,
            Seeded::Unavailable { reason } => {
                return Err(ResolveError::NoPip {
                    environment: req.environment.to_string(),
                    reason,
                });
            }
        };
    if pip_version.is_some() {
        compile_pip(req, &layout.python, &layout.site_packages.join("pip"))?;
    }
    let stamp = Stamp {
        version: FORMAT,
        base: real.to_path_buf(),
        python_version: req.base.version.clone(),
        pip_version,
    };
    let stamp_path = path.join(STAMP);
    let text = serde_json::to_string_pretty(&stamp).unwrap_or_default();
    fs_err::write(&stamp_path, text).map_err(io(&stamp_path))?;
    match fs_err::rename(&path, entry) {
        Ok(()) => Ok(()),
        // Another run put a complete entry there first: use it.
        Err(_) if entry.join(STAMP).is_file() => Ok(()),
        Err(source) => Err(ResolveError::Io {
            environment: req.environment.to_string(),
            path: entry.to_path_buf(),
            source,
        }),
    }
}

/// Compiles pip's bytecode. A file that does not compile is not an error
/// (it is compiled, or fails, when imported); cancellation is.
fn compile_pip(req: &ResolveRequest, python: &Path, pip: &Path) -> Result<(), ResolveError> {
    let mut command = Command::new(python);
    command.args(["-E", "-m", "compileall", "-q"]).arg(pip);
    match process::output(&mut command, Some(req.cancel), None) {
        Ok(Ran::Cancelled) => Err(ResolveError::Cancelled {
            environment: req.environment.to_string(),
        }),
        Ok(Ran::Exited(_) | Ran::TimedOut) | Err(_) => Ok(()),
    }
}

/// Removes staging folders that a killed run left (older than a day, so
/// that a build in progress elsewhere is never touched).
fn remove_stale_staging(dir: &Path) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(".staging-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_STAGING));
        if stale {
            let _ = fs_err::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_the_interpreter_and_reads_well() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("python3");
        fs_err::write(&exe, b"one").unwrap();
        let base = |version: &str| BaseInterpreter {
            executable: exe.clone(),
            version: version.into(),
            implementation: "CPython".into(),
        };
        let first = key(&base("3.12.1"), &exe).unwrap();
        assert!(first.starts_with("cpython-3.12.1-"), "{first}");
        assert_eq!(first, key(&base("3.12.1"), &exe).unwrap());
        assert_ne!(first, key(&base("3.12.2"), &exe).unwrap());
        // Reinstalled in place: another size.
        fs_err::write(&exe, b"one, rebuilt").unwrap();
        assert_ne!(first, key(&base("3.12.1"), &exe).unwrap());
    }
}
