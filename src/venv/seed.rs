//! Putting pip into a new environment, natively.
//!
//! Every CPython that supports `ensurepip` carries a pip wheel
//! (`lib/python3.X/ensurepip/_bundled/pip-*.whl`; Debian keeps it in
//! `/usr/share/python-wheels`). Installing it is what [`crate::wheel`] does
//! for any wheel, so this module only finds the wheel and hands it over;
//! only when the base has no wheel but has `ensurepip` do we start Python
//! (`python -m ensurepip`).
//!
//! With a cache folder ([`seed_pip_cached`]), the wheel is unpacked there
//! once (keyed by the wheel file's name, size and modification time) and
//! hard-linked into each environment, and pip's bytecode is compiled into
//! the cache once per interpreter version, so the links carry it: without
//! it, where `PYTHONDONTWRITEBYTECODE` is set, every `pip` command would
//! compile pip again (1.3 s instead of 0.5 s for `pip --version`). Without
//! a cache ([`seed_pip`]) the wheel is unpacked beside the environment and
//! no bytecode is compiled (there is nowhere to keep it).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use pep440_rs::Version;

use super::layout::{Layout, base_layout, bundled_wheel_dirs, major_minor};
use super::{BaseInterpreter, VenvError, real_base};
use crate::process::Prepared as _;
use crate::wheel;

/// What [`seed_pip`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// pip was installed from the wheel the base interpreter bundles (or was
    /// already installed): `pip_version` is the version now installed.
    Wheel { pip_version: String },
    /// The base bundles no wheel; `python -m ensurepip` installed pip.
    Ensurepip,
    /// Neither a wheel nor `ensurepip` (Debian's Python without
    /// `python3-venv`): pip must come from elsewhere.
    Unavailable { reason: String },
}

/// Puts pip into the environment at `layout`, made from `base`. Does
/// nothing if pip is already installed there.
pub fn seed_pip(layout: &Layout, base: &BaseInterpreter) -> Result<Seeded, VenvError> {
    seed_pip_cached(layout, base, None)
}

/// [`seed_pip`], unpacking the wheel once into `cache` (an unpacked-wheel
/// cache such as `<home>/cache/unpacked`) with its bytecode for `base`'s
/// version, and linking its files into each environment, as uv does: on
/// disks where creating a file is slow this is several times faster.
/// Reflinks, hard links or copies, whichever the file systems allow.
pub fn seed_pip_cached(
    layout: &Layout,
    base: &BaseInterpreter,
    cache: Option<&Path>,
) -> Result<Seeded, VenvError> {
    if let Some(version) = installed_pip(&layout.site_packages) {
        return Ok(Seeded::Wheel {
            pip_version: version,
        });
    }
    let executable = real_base(&base.executable)?;
    let (major, minor) = major_minor(&base.version).ok_or_else(|| VenvError::BadVersion {
        version: base.version.clone(),
    })?;
    let base_dirs = base_layout(layout.platform, &executable, &format!("{major}.{minor}"));
    if let Some((wheel, version)) = best_pip_wheel(&bundled_wheel_dirs(&base_dirs)) {
        let target = wheel::Target::with_layout(layout.clone(), base);
        match cache {
            Some(cache) => {
                wheel::install_local(&target, &wheel, cache, &cache_key(&wheel)?, true)
                    .map_err(|e| wheel_error(&wheel, e))?;
            }
            None => {
                // Beside the environment's files (one file system, so hard
                // links), and gone afterwards.
                let temp = tempfile::Builder::new()
                    .prefix(".beep-seed-")
                    .tempdir_in(&layout.root)
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "failed to create a folder in `{}`: {e}",
                                layout.root.display()
                            ),
                        )
                    })?;
                wheel::install_local(&target, &wheel, temp.path(), "pip", false)
                    .map_err(|e| wheel_error(&wheel, e))?;
            }
        }
        return Ok(Seeded::Wheel {
            pip_version: version.to_string(),
        });
    }
    let ensurepip = base_dirs.stdlib.join("ensurepip");
    if ensurepip.join("__init__.py").is_file() || ensurepip.join("__init__.pyc").is_file() {
        run_ensurepip(layout)?;
        return Ok(Seeded::Ensurepip);
    }
    Ok(Seeded::Unavailable {
        reason: format!(
            "`{}` bundles no pip wheel and has no `ensurepip` module",
            executable.display()
        ),
    })
}

/// The version of pip installed in `site_packages`, if a complete install
/// (one with a `RECORD`) is there.
fn installed_pip(site_packages: &Path) -> Option<String> {
    let entries = fs_err::read_dir(site_packages).ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let name = entry.file_name();
        let version = name
            .to_str()?
            .strip_prefix("pip-")?
            .strip_suffix(".dist-info")?;
        entry
            .path()
            .join("RECORD")
            .is_file()
            .then(|| version.to_string())
    })
}

/// The highest-versioned `pip-*.whl` in the first of `dirs` that has one.
fn best_pip_wheel(dirs: &[PathBuf]) -> Option<(PathBuf, Version)> {
    for dir in dirs {
        let Ok(entries) = fs_err::read_dir(dir) else {
            continue;
        };
        let best = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                let rest = name.to_str()?.strip_prefix("pip-")?.strip_suffix(".whl")?;
                let version: Version = rest.split('-').next()?.parse().ok()?;
                Some((entry.path(), version))
            })
            .max_by(|a, b| a.1.cmp(&b.1));
        if best.is_some() {
            return best;
        }
    }
    None
}

fn run_ensurepip(layout: &Layout) -> Result<(), VenvError> {
    let output = Command::new(&layout.python)
        .args(["-m", "ensurepip", "--default-pip"])
        // The environment's own interpreter must not be redirected elsewhere.
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .prepared()
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to run `{}`: {e}", layout.python.display()),
            )
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(VenvError::Ensurepip {
            python: layout.python.clone(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// The cache key of a local wheel that no lock names: its file name, size
/// and modification time (hashing the wheel on every seed would cost more
/// than the seed).
fn cache_key(wheel: &Path) -> Result<String, VenvError> {
    let meta = fs_err::metadata(wheel)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let stem = wheel.file_stem().unwrap_or_default().to_string_lossy();
    Ok(format!("local-{stem}-{:x}-{mtime:x}", meta.len()))
}

/// A failure to install the bundled wheel, as a [`VenvError`] (kept small:
/// resolution errors carry it).
fn wheel_error(wheel: &Path, e: wheel::WheelError) -> VenvError {
    match e {
        wheel::WheelError::Io(e) => VenvError::Io(e),
        other => VenvError::BadWheel {
            wheel: wheel.to_path_buf(),
            reason: other.to_string(),
        },
    }
}
