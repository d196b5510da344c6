//! Asking one interpreter about itself.
//!
//! The script ([`SCRIPT`], `probe.py`) runs with `-E -s -S`: no `PYTHON*`
//! variables, no user site, no `site` import, so no `.pth` file runs and
//! startup costs ~10 ms instead of ~40 ms with `sysconfig`, `platform` and
//! `json`. All three flags exist in Python 2, so a Python 2 interpreter runs
//! the first half of the script, answers with its version and is rejected for
//! it. Without `site`, the script finds what it needs itself:
//!
//! - site-packages folders from `site.getsitepackages()` (importing `site`
//!   does not run it), for the venv's prefix when a `pyvenv.cfg` sits beside
//!   or above the executable (Python < 3.11 only moves `sys.prefix` into a
//!   venv when `site` runs);
//! - `pip` through `PathFinder.find_spec` over those folders, `ensurepip` and
//!   `venv` over `sys.path` (the stdlib, zipped or not), importing nothing;
//! - the stdlib folder for PEP 668's `EXTERNALLY-MANAGED` marker from
//!   `sys._stdlib_dir` or `os.__file__`, which is `sysconfig`'s `stdlib` path
//!   without importing `sysconfig`.
//!
//! The answer is NUL-separated fields written as bytes (`os.fsencode`), so
//! that any path survives, behind a marker that tells a real answer from a
//! script that happens to print something.
//!
//! Invariant: a probe never outlives its timeout. Past it the child and its
//! process group are killed ([`crate::process::output`]), and so is whatever
//! the child leaves behind when it exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::RejectKind;
use crate::process::{self, Ran};

/// The probe, as given to `python -c`.
pub(crate) const SCRIPT: &str = include_str!("probe.py");

/// First field of every answer; bump with the field list.
const MARKER: &[u8] = b"beep-probe-1";

/// Everything the script reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProbeInfo {
    pub implementation: String,
    pub version: String,
    pub arch: String,
    pub prefix: PathBuf,
    pub base_prefix: PathBuf,
    pub is_venv: bool,
    pub has_pip: bool,
    pub has_ensurepip: bool,
    pub has_venv: bool,
    /// The PEP 668 file exists (it does not apply inside a venv).
    pub externally_managed_marker: bool,
    pub stdlib: PathBuf,
    pub site_packages: Vec<PathBuf>,
}

impl ProbeInfo {
    /// The folders whose contents the answer depends on: when one of them
    /// changes (pip installed or removed, the marker added), the cached
    /// answer is stale even though the executable is not.
    pub fn watched(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.stdlib.as_path())
            .chain(self.site_packages.iter().map(PathBuf::as_path))
    }
}

/// Why a candidate is not a usable interpreter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Problem {
    #[error("dangling symlink to `{}`", target.display())]
    Dangling { target: PathBuf },
    #[error("cannot be resolved: {message}")]
    Unresolvable { message: String },
    #[error("not a file")]
    NotAFile,
    #[error("not executable (mode {mode:o})")]
    NotExecutable { mode: u32 },
    #[error(
        "{manager} shim, not an interpreter (the {manager} locator reads its installs directly)"
    )]
    Shim { manager: &'static str },
    #[error("shim folder of a version manager, skipped (install folders are read directly)")]
    ShimDir,
    #[error(
        "Microsoft Store app execution alias, not an interpreter (it opens the Store when Python is not installed)"
    )]
    StoreAlias,
    #[error("could not be started: {message}")]
    Spawn { message: String, transient: bool },
    #[error("timed out after {}", human_duration(*timeout))]
    TimedOut { timeout: Duration },
    #[error("the probe failed ({status}){}", stderr_suffix(stderr))]
    Exited { status: String, stderr: String },
    #[error("did not answer the probe like a Python interpreter (output starts with {start:?})")]
    BadOutput { start: String },
    #[error("Python {version} is not supported")]
    Python2 { version: String },
    #[error("the probe was lost (a worker thread stopped)")]
    Lost,
}

impl Problem {
    /// Whether asking again later may succeed: a timeout may be a loaded
    /// machine and a failed spawn a full process table, so neither is
    /// cached, unlike an answer about the file itself.
    pub fn is_transient(&self) -> bool {
        match self {
            Problem::TimedOut { .. } | Problem::Lost => true,
            Problem::Spawn { transient, .. } => *transient,
            Problem::Dangling { .. }
            | Problem::Unresolvable { .. }
            | Problem::NotAFile
            | Problem::NotExecutable { .. }
            | Problem::Shim { .. }
            | Problem::ShimDir
            | Problem::StoreAlias
            | Problem::Exited { .. }
            | Problem::BadOutput { .. }
            | Problem::Python2 { .. } => false,
        }
    }

    pub fn kind(&self) -> RejectKind {
        match self {
            Problem::Dangling { .. } => RejectKind::DanglingSymlink,
            Problem::Unresolvable { .. } | Problem::Lost => RejectKind::Unresolvable,
            Problem::NotAFile => RejectKind::NotAFile,
            Problem::NotExecutable { .. } => RejectKind::NotExecutable,
            Problem::Shim { .. } | Problem::ShimDir => RejectKind::Shim,
            Problem::StoreAlias => RejectKind::StoreAlias,
            Problem::Spawn { .. } => RejectKind::SpawnFailed,
            Problem::TimedOut { .. } => RejectKind::TimedOut,
            Problem::Exited { .. } => RejectKind::Failed,
            Problem::BadOutput { .. } => RejectKind::BadOutput,
            Problem::Python2 { .. } => RejectKind::Python2,
        }
    }
}

/// Spawn errors that are about the machine's state, not the file (EAGAIN,
/// ENOMEM, EMFILE, ENFILE, ETXTBSY on Linux and macOS).
fn is_transient(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::WouldBlock
            | ErrorKind::OutOfMemory
            | ErrorKind::Interrupted
            | ErrorKind::ResourceBusy
            | ErrorKind::ExecutableFileBusy
    ) || matches!(err.raw_os_error(), Some(11 | 12 | 23 | 24 | 26 | 35))
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Runs the probe under `python`, within `timeout`.
pub(crate) fn run(python: &Path, timeout: Duration) -> Result<ProbeInfo, Problem> {
    let deadline = Instant::now() + timeout;
    let mut command = Command::new(python);
    command
        .args(["-E", "-s", "-S", "-c", SCRIPT])
        // macOS framework builds take `sys.executable` from it (it is not a
        // `PYTHON*` variable, so `-E` keeps it): run from inside a venv, we
        // would report the venv's path for every interpreter.
        .env_remove("__PYVENV_LAUNCHER__");
    // In a process group of its own (see `crate::process`), so that a
    // timeout kills whatever a wrapper script started too.
    let ran =
        process::output(&mut command, None, Some(deadline)).map_err(|err| Problem::Spawn {
            transient: is_transient(&err),
            message: err.to_string(),
        })?;
    let output = match ran {
        Ran::Exited(output) => output,
        Ran::TimedOut | Ran::Cancelled => return Err(Problem::TimedOut { timeout }),
    };
    if !output.status.success() {
        return Err(Problem::Exited {
            status: process::describe(output.status),
            stderr: last_line(&output.stderr),
        });
    }
    parse(&output.stdout)
}

/// The last non-empty line of stderr, which for a Python failure is the
/// exception, trimmed to a readable length.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    truncate(line, 200)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

pub(crate) fn parse(stdout: &[u8]) -> Result<ProbeInfo, Problem> {
    let bad = || Problem::BadOutput {
        start: truncate(
            &String::from_utf8_lossy(&stdout[..stdout.len().min(80)]),
            80,
        ),
    };
    let mut fields = stdout.split(|&b| b == 0);
    if fields.next() != Some(MARKER) {
        return Err(bad());
    }
    let mut text = || {
        fields
            .next()
            .map(|f| String::from_utf8_lossy(f).into_owned())
    };
    let (Some(implementation), Some(version), Some(arch)) = (text(), text(), text()) else {
        return Err(bad());
    };
    if version.starts_with("2.") || version.starts_with("1.") {
        return Err(Problem::Python2 { version });
    }
    let rest: Vec<&[u8]> = fields.collect();
    let [
        prefix,
        base_prefix,
        is_venv,
        pip,
        ensurepip,
        venv,
        marker,
        stdlib,
        site @ ..,
    ] = rest.as_slice()
    else {
        return Err(bad());
    };
    let flag = |f: &[u8]| match f {
        b"1" => Ok(true),
        b"0" => Ok(false),
        _ => Err(bad()),
    };
    Ok(ProbeInfo {
        implementation,
        version,
        arch,
        prefix: bytes_to_path(prefix),
        base_prefix: bytes_to_path(base_prefix),
        is_venv: flag(is_venv)?,
        has_pip: flag(pip)?,
        has_ensurepip: flag(ensurepip)?,
        has_venv: flag(venv)?,
        externally_managed_marker: flag(marker)?,
        stdlib: bytes_to_path(stdlib),
        site_packages: site.iter().map(|s| bytes_to_path(s)).collect(),
    })
}

#[cfg(unix)]
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Python encodes paths as UTF-8 on Windows (PEP 529).
#[cfg(not(unix))]
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_python3_answer() {
        let out = b"beep-probe-1\0cpython\x003.11.2\0x86_64\0/usr\0/usr\x000\x001\x001\x001\x001\0/usr/lib/python3.11\0/usr/local/lib/python3.11/dist-packages\0/usr/lib/python3/dist-packages";
        let info = parse(out).unwrap();
        assert_eq!(info.version, "3.11.2");
        assert!(info.has_pip && info.externally_managed_marker && !info.is_venv);
        assert_eq!(info.site_packages.len(), 2);
    }

    #[test]
    fn python2_answers_only_its_version() {
        let problem = parse(b"beep-probe-1\0cpython\x002.7.18\0x86_64").unwrap_err();
        assert_eq!(problem.to_string(), "Python 2.7.18 is not supported");
    }

    #[test]
    fn anything_else_is_bad_output() {
        for out in [
            &b""[..],
            b"hello\n",
            b"beep-probe-1\0cpython\x003.12.0\0x86_64\0/p",
        ] {
            assert_eq!(
                parse(out).unwrap_err().kind(),
                RejectKind::BadOutput,
                "{out:?}"
            );
        }
    }

    #[test]
    fn timeouts_read_well() {
        let p = Problem::TimedOut {
            timeout: Duration::from_secs(5),
        };
        assert_eq!(p.to_string(), "timed out after 5s");
        let p = Problem::TimedOut {
            timeout: Duration::from_millis(1500),
        };
        assert_eq!(p.to_string(), "timed out after 1500ms");
    }
}
