//! Virtual environments: creating them natively, seeding pip natively, and
//! observing them on disk without starting Python.
//!
//! Owns, inside each environment folder: `pyvenv.cfg`, the interpreter
//! links in `bin/`, the activation scripts, `.gitignore`, and our marker
//! file [`MARKER_FILE`] (written by the caller through [`write_marker`]).
//!
//! - [`create`] makes what `python -m venv --without-pip` makes (PEP 405:
//!   `pyvenv.cfg`, `bin/python*` links to the base interpreter,
//!   `lib/python3.X/site-packages`, `lib64 -> lib`, `include/`), plus
//!   activation scripts that also export the environment's variables. No
//!   Python process is started.
//! - [`seed_pip`] installs the pip wheel that the base interpreter bundles
//!   for `ensurepip` through [`crate::wheel`] (with its bytecode, compiled
//!   once into the cache); only when there is no such wheel does it run
//!   `python -m ensurepip`.
//! - [`observe`] reports what is on disk; it never starts a process and
//!   never fails.
//!
//! Invariants:
//!
//! - Never clobber user data: [`create`] refuses a folder that is neither
//!   empty nor a virtual environment, and an environment of another base
//!   interpreter; it only ever writes inside the environment.
//! - Check, then act: every piece is compared with what it should be and
//!   written only if it differs, so creating an environment that is already
//!   right changes nothing on disk, and a run interrupted half-way is
//!   completed by the next one (`pyvenv.cfg` is written first, so a partial
//!   environment is still recognised as one).
//! - Files are replaced by writing a temporary file beside them and renaming
//!   it over, never truncated in place.
//! - The layout logic is pure ([`layout_for`], [`plan`]), so the Windows
//!   variant is tested on Linux.

mod activate;
mod layout;
mod observe;
mod seed;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::discover::PyvenvCfg;

pub use activate::{
    check_var_name, cmd_value, csh_quote, fish_quote, powershell_quote, scripts, sh_quote,
};
pub use layout::{
    BaseLayout, Entry, Layout, PlanInput, Platform, base_layout, bundled_wheel_dirs, layout,
    layout_for, major_minor, plan, short_version, windows_executables,
};
pub use observe::{Distribution, Observed, normalize_name, observe, read_distributions};
pub use seed::{Seeded, seed_pip, seed_pip_cached};

/// Our marker file, in the environment folder. Its presence (with our
/// owner) is what allows us to replace or delete a folder.
pub const MARKER_FILE: &str = ".beep-python.json";

/// The marker format this program writes.
pub const MARKER_VERSION: u32 = 1;

/// The key under which `pyvenv.cfg` records the version of beep-python that
/// wrote it (uv writes `uv = ...`; CPython ignores unknown keys).
const CFG_KEY: &str = "beep-python";

/// What the marker file says: who made this environment, and from what.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The marker format, [`MARKER_VERSION`].
    pub version: u32,
    /// The environment's name in the manifest.
    pub name: String,
    /// The canonical path of the manifest that owns the environment.
    pub owner: PathBuf,
    /// The hash of the environment's resolved specification.
    pub spec_hash: String,
    /// When the environment was created.
    pub created_at: jiff::Timestamp,
    /// What it was built from (absent in markers older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<crate::registry::model::BuiltFrom>,
}

/// Errors from creating or seeding an environment.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VenvError {
    #[error(transparent)]
    #[diagnostic(code("venv::io"))]
    Io(#[from] io::Error),

    #[error("the base interpreter `{}` does not exist", path.display())]
    #[diagnostic(
        code("venv::base-missing"),
        help("run `beep-python runtimes discover` and check the environment's runtime")
    )]
    BaseMissing { path: PathBuf },

    #[error("`{version}` is not a Python version (expected `3.X.Y`)")]
    #[diagnostic(code("venv::bad-version"))]
    BadVersion { version: String },

    #[error("`{}` is not a folder", path.display())]
    #[diagnostic(
        code("venv::not-a-directory"),
        help("move the file away or give the environment another path")
    )]
    NotADirectory { path: PathBuf },

    #[error("`{}` is not empty and is not a virtual environment", path.display())]
    #[diagnostic(
        code("venv::not-empty"),
        help(
            "beep-python never overwrites a folder it did not create: empty it, or give the environment another path"
        )
    )]
    NotEmpty { path: PathBuf },

    #[error("`{}` is a virtual environment of another interpreter ({found}, not {wanted})", path.display())]
    #[diagnostic(
        code("venv::other-interpreter"),
        help(
            "the environment must be rebuilt: `beep-python apply` replaces environments it manages"
        )
    )]
    OtherInterpreter {
        path: PathBuf,
        found: String,
        wanted: String,
    },

    #[error("environment variable `{name}` cannot be set by an environment: {reason}")]
    #[diagnostic(code("venv::bad-env-var"), help("rename the variable in the manifest"))]
    BadEnvVar { name: String, reason: &'static str },

    #[error("cannot install the wheel `{}`: {reason}", wheel.display())]
    #[diagnostic(code("venv::bad-wheel"))]
    BadWheel { wheel: PathBuf, reason: String },

    #[error("`{} -m ensurepip` failed ({status}): {stderr}", python.display())]
    #[diagnostic(
        code("venv::ensurepip"),
        help("install pip into the environment by hand, or use the `uv` installer")
    )]
    Ensurepip {
        python: PathBuf,
        status: String,
        stderr: String,
    },

    #[error("cannot write the marker file `{}`", path.display())]
    #[diagnostic(code("venv::marker"))]
    Marker {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The interpreter an environment is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseInterpreter {
    /// The base executable, e.g.
    /// `/root/.pyenv/versions/3.12.1/bin/python3.12`; links are resolved.
    pub executable: PathBuf,
    /// The full version, `3.12.1`.
    pub version: String,
    /// `sys.implementation.name`: `cpython`, `pypy`, ...
    pub implementation: String,
}

/// How to create an environment.
#[derive(Debug, Clone)]
pub struct CreateOptions<'a> {
    /// The prompt shown while the environment is active (its name).
    pub name: &'a str,
    /// `include-system-site-packages`: whether the base interpreter's
    /// packages are visible.
    pub system_site_packages: bool,
    /// Variables the activation scripts export (and restore on
    /// `deactivate`).
    pub env_vars: &'a BTreeMap<String, String>,
}

/// Creates (or completes) the virtual environment at `path` for `base`,
/// equal in effect to `python -m venv --without-pip`, without starting
/// Python.
///
/// An empty or missing folder is filled; an environment of the same base
/// interpreter is brought up to date (unchanged if it already matches); any
/// other non-empty folder is an error.
pub fn create(
    path: &Path,
    base: &BaseInterpreter,
    opts: &CreateOptions<'_>,
) -> Result<Layout, VenvError> {
    for name in opts.env_vars.keys() {
        check_var_name(name).map_err(|reason| VenvError::BadEnvVar {
            name: name.clone(),
            reason,
        })?;
    }
    let executable = real_base(&base.executable)?;
    let (major, minor) = major_minor(&base.version).ok_or_else(|| VenvError::BadVersion {
        version: base.version.clone(),
    })?;
    let layout = layout(path, &base.version);
    let home = executable.parent().unwrap_or(Path::new("")).to_path_buf();

    let cfg_path = path.join("pyvenv.cfg");
    let wanted_cfg = pyvenv_cfg(&home, &executable, base, opts);
    match fs_err::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs_err::create_dir_all(path)?,
        Err(e) => return Err(e.into()),
        Ok(meta)
            if !fs_err::metadata(path)
                .map(|m| m.is_dir())
                .unwrap_or(meta.is_dir()) =>
        {
            return Err(VenvError::NotADirectory {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => match fs_err::read_to_string(&cfg_path) {
            Ok(text) => check_existing(path, &text, &home, (major, minor))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !crate::files::holds_only_reserved(path)? {
                    return Err(VenvError::NotEmpty {
                        path: path.to_path_buf(),
                    });
                }
            }
            Err(e) => return Err(e.into()),
        },
    }

    // First, so that an interrupted run leaves something recognisable.
    let current = fs_err::read_to_string(&cfg_path).ok();
    if current
        .as_deref()
        .is_none_or(|text| !same_cfg(text, &wanted_cfg))
    {
        write_if_changed(&cfg_path, wanted_cfg.as_bytes(), false)?;
    }

    let lib64 = cfg!(all(
        unix,
        not(target_os = "macos"),
        target_pointer_width = "64"
    ));
    let entries = plan(
        &layout,
        &PlanInput {
            executable: &executable,
            major_minor: (major, minor),
            lib64,
        },
        |p| p.exists(),
    );
    for entry in &entries {
        ensure(entry)?;
    }
    for (name, contents) in scripts(&layout, opts.name, opts.env_vars) {
        write_if_changed(&layout.bin.join(name), contents.as_bytes(), false)?;
    }
    // Keeps the environment out of version control, as uv and Python 3.13
    // do; a `.gitignore` the user wrote is left alone.
    let gitignore = path.join(".gitignore");
    if !gitignore.exists() {
        write_if_changed(&gitignore, b"# Created by beep-python\n*\n", false)?;
    }
    Ok(layout)
}

/// The real path of the base executable, or [`VenvError::BaseMissing`].
fn real_base(executable: &Path) -> Result<PathBuf, VenvError> {
    match fs_err::canonicalize(executable) {
        Ok(path) if path.is_file() => Ok(without_verbatim_prefix(path)),
        Ok(_) => Err(VenvError::BaseMissing {
            path: executable.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(VenvError::BaseMissing {
            path: executable.to_path_buf(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Windows' canonical paths start with `\\?\`, which CPython does not
/// expect in `home`; a plain drive path is the same file.
#[cfg(windows)]
fn without_verbatim_prefix(path: PathBuf) -> PathBuf {
    let plain = match path.to_string_lossy().strip_prefix(r"\\?\") {
        Some(rest) if !rest.starts_with("UNC\\") => Some(PathBuf::from(rest)),
        _ => None,
    };
    plain.unwrap_or(path)
}

#[cfg(not(windows))]
fn without_verbatim_prefix(path: PathBuf) -> PathBuf {
    path
}

/// The `pyvenv.cfg` we write: CPython's keys, in CPython's order, plus
/// ours.
fn pyvenv_cfg(
    home: &Path,
    executable: &Path,
    base: &BaseInterpreter,
    opts: &CreateOptions<'_>,
) -> String {
    let implementation = match base.implementation.to_ascii_lowercase().as_str() {
        "cpython" | "" => "CPython".to_string(),
        "pypy" => "PyPy".to_string(),
        other => other.to_string(),
    };
    format!(
        "home = {home}\n\
         implementation = {implementation}\n\
         include-system-site-packages = {ssp}\n\
         version = {version}\n\
         executable = {executable}\n\
         prompt = {prompt}\n\
         {CFG_KEY} = {ours}\n",
        home = home.display(),
        ssp = opts.system_site_packages,
        version = base.version.trim(),
        executable = executable.display(),
        prompt = opts.name,
        ours = env!("CARGO_PKG_VERSION"),
    )
}

/// Whether an existing `pyvenv.cfg` means the same as the one we would
/// write, so that it is left alone (an environment made by `python -m venv`
/// is accepted as is).
fn same_cfg(existing: &str, wanted: &str) -> bool {
    let (a, b) = (PyvenvCfg::parse(existing), PyvenvCfg::parse(wanted));
    a.home == b.home
        && a.version == b.version
        && a.include_system_site_packages == b.include_system_site_packages
}

/// Refuses an existing environment of another interpreter (another `home`,
/// or another minor version: its `site-packages` would be for another
/// Python). A patch upgrade of the same installation is fine.
fn check_existing(
    path: &Path,
    text: &str,
    home: &Path,
    (major, minor): (u64, u64),
) -> Result<(), VenvError> {
    let cfg = PyvenvCfg::parse(text);
    let found_home = cfg.home.clone().unwrap_or_default();
    let found_version = cfg.version.clone().unwrap_or_default();
    let same_home =
        found_home == home || fs_err::canonicalize(&found_home).is_ok_and(|h| h == home);
    if same_home && major_minor(&found_version) == Some((major, minor)) {
        return Ok(());
    }
    Err(VenvError::OtherInterpreter {
        path: path.to_path_buf(),
        found: format!("{} in `{}`", found_version, found_home.display()),
        wanted: format!("{major}.{minor} in `{}`", home.display()),
    })
}

/// Makes one planned entry, if it is not already there.
fn ensure(entry: &Entry) -> Result<(), VenvError> {
    match entry {
        Entry::Dir(dir) => {
            fs_err::create_dir_all(dir)?;
        }
        Entry::Symlink { path, target } => {
            if let Ok(existing) = fs_err::read_link(path) {
                if &existing == target {
                    return Ok(());
                }
                // Another link to the same file (CPython's venv links
                // `python -> python3.12 -> base`): keep it.
                let resolved = path.parent().unwrap_or(Path::new("")).join(target);
                if let (Ok(a), Ok(b)) =
                    (fs_err::canonicalize(path), fs_err::canonicalize(&resolved))
                    && a == b
                {
                    return Ok(());
                }
            }
            replace_with_symlink(path, target)?;
        }
        Entry::Copy { path, from } => {
            let wanted = fs_err::read(from)?;
            write_if_changed(path, &wanted, true)?;
        }
        Entry::File {
            path,
            contents,
            executable,
        } => write_if_changed(path, contents.as_bytes(), *executable)?,
    }
    Ok(())
}

#[cfg(unix)]
fn replace_with_symlink(path: &Path, target: &Path) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.beep-tmp-{}", std::process::id()));
    let _ = fs_err::remove_file(&temp);
    fs_err::os::unix::fs::symlink(target, &temp)?;
    // A rename replaces a file or link atomically; a real folder in the way
    // is refused by the rename, which is what we want.
    fs_err::rename(&temp, path).inspect_err(|_| {
        let _ = fs_err::remove_file(&temp);
    })
}

#[cfg(not(unix))]
fn replace_with_symlink(path: &Path, target: &Path) -> io::Result<()> {
    // Only the Unix plan has links; on Windows the plan copies.
    let from = path.parent().unwrap_or(Path::new(".")).join(target);
    fs_err::copy(from, path).map(|_| ())
}

/// Writes `contents` to `path` unless it already holds exactly that,
/// through a temporary file renamed over it. `executable` sets mode 0755
/// (0644 otherwise) on Unix.
pub(crate) fn write_if_changed(path: &Path, contents: &[u8], executable: bool) -> io::Result<()> {
    if let Ok(meta) = fs_err::metadata(path)
        && meta.len() == contents.len() as u64
        && fs_err::read(path).is_ok_and(|existing| existing == contents)
        && mode_matches(&meta, executable)
    {
        return Ok(());
    }
    write_atomic(path, contents, executable, false)
}

#[cfg(unix)]
fn mode_matches(meta: &std::fs::Metadata, executable: bool) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let exec_bits = meta.permissions().mode() & 0o111 != 0;
    exec_bits == executable
}

#[cfg(not(unix))]
fn mode_matches(_meta: &std::fs::Metadata, _executable: bool) -> bool {
    true
}

/// Temp file beside `path`, optional fsync, rename over `path`: the one
/// atomic writer ([`crate::files::write_atomic`]) with venv's modes.
pub(crate) fn write_atomic(
    path: &Path,
    contents: &[u8],
    executable: bool,
    durable: bool,
) -> io::Result<()> {
    crate::files::write_atomic(
        path,
        contents,
        if durable {
            crate::files::Durability::Durable
        } else {
            crate::files::Durability::Atomic
        },
        Some(if executable { 0o755 } else { 0o644 }),
    )
}

/// The marker in the environment at `env`; `None` if there is none or it
/// cannot be read or parsed.
pub fn read_marker(env: &Path) -> Option<Marker> {
    let bytes = fs_err::read(env.join(MARKER_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes the marker into the environment at `env`, atomically and durably
/// (temporary file, fsync, rename, fsync of the folder).
pub fn write_marker(env: &Path, marker: &Marker) -> Result<(), VenvError> {
    let path = env.join(MARKER_FILE);
    let mut json = serde_json::to_vec_pretty(marker).map_err(|e| VenvError::Marker {
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    json.push(b'\n');
    write_atomic(&path, &json, false, true).map_err(|source| VenvError::Marker { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_comparison_ignores_extra_keys() {
        let ours = "home = /p/bin\nimplementation = CPython\ninclude-system-site-packages = false\nversion = 3.12.1\nexecutable = /p/bin/python3.12\nprompt = x\nbeep-python = 0.1.0\n";
        let cpython = "home = /p/bin\ninclude-system-site-packages = false\nversion = 3.12.1\nexecutable = /p/bin/python3.12\ncommand = /p/bin/python3.12 -m venv /e\n";
        assert!(same_cfg(cpython, ours));
        assert!(!same_cfg(&cpython.replace("false", "true"), ours));
    }

    #[test]
    fn marker_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_marker(dir.path()), None);
        let marker = Marker {
            version: MARKER_VERSION,
            name: "demo".into(),
            owner: "/p/beep-python.toml".into(),
            spec_hash: "abc".into(),
            created_at: "2024-01-02T03:04:05Z".parse().unwrap(),
            built: None,
        };
        write_marker(dir.path(), &marker).unwrap();
        assert_eq!(read_marker(dir.path()), Some(marker));
        fs_err::write(dir.path().join(MARKER_FILE), "{not json").unwrap();
        assert_eq!(read_marker(dir.path()), None);
    }
}
