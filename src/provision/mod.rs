//! Provisioning managed runtimes: standalone CPython builds, `url`
//! archives and Windows embeddable zips, downloaded, verified, unpacked and
//! checked, or nothing at all.
//!
//! A managed runtime lives in `<home>/runtimes/<id>/`, where `<id>` names
//! what it holds: `cpython-3.11.9-linux-x86_64-gnu` for a standalone build,
//! `cpython-3.11.9-url-<12 hex of its sha256>` for a `url` archive,
//! `cpython-3.12.4-embed-windows-x86_64` for an embeddable zip. The folder
//! is immutable once in place and carries [`RUNTIME_MARKER`], written last,
//! before the rename: a folder with the marker is complete and ours; one
//! without it is never touched.
//!
//! The steps of the apply graph, each check-then-act (a runtime already in
//! place with the same sha256 skips straight to its check):
//!
//! | step                 | does                                                        |
//! |----------------------|-------------------------------------------------------------|
//! | `download`           | [`crate::fetch`] into `<home>/cache/downloads/<sha256>`: hashed while streaming and verified *before* the rename into the cache, so nothing unverified is ever extracted; the cache makes later provisioning work offline |
//! | `extract`            | [`crate::archive`] into `<home>/runtimes/.staging-<id>-<txn>`, stripping `python/` |
//! | `configure`          | `bin/python` and `bin/python3` links; the embeddable `._pth` ([`embeddable`]) |
//! | `verify-interpreter` | runs it once, in staging: the version matches and `ssl`, `sqlite3`, `zlib`, `ctypes` and `venv` import (the check for missing shared libraries); then the marker is written and staging is renamed into place |
//!
//! Staging and the final folder are journaled as `creating` before they
//! exist, so a failure, Ctrl-C or SIGKILL at any point leaves nothing
//! registered and nothing half-unpacked once the journal is rolled back.
//! Verifying in staging rather than in place works because the builds are
//! relocatable (they find their standard library next to the executable).

pub mod catalog;
pub mod embeddable;
pub mod platform;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::archive;
use crate::fetch;
use crate::manifest::RuntimeSource;

/// The marker in every complete managed runtime folder.
pub const RUNTIME_MARKER: &str = ".beep-python-runtime.json";

/// The format of [`RUNTIME_MARKER`].
pub const RUNTIME_MARKER_VERSION: u32 = 1;

/// The modules whose import proves that the interpreter's shared libraries
/// are there.
pub const REQUIRED_MODULES: &[&str] = &["ssl", "sqlite3", "zlib", "ctypes", "venv"];

/// How long the interpreter check may take (a cold start on a loaded
/// machine, importing a handful of modules).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// A managed runtime as it should be: everything `apply` needs to build it.
/// Saved plans carry these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeSpec {
    /// The manifest's name for it.
    pub name: String,
    pub source: RuntimeSource,
    /// The exact version it holds (`3.11.9`).
    pub python_version: String,
    /// Where it is downloaded from (after the mirror is applied).
    pub url: String,
    /// Where the catalog, the manifest or the lock says it is (before the
    /// mirror): what the lock records, the same on every machine.
    #[serde(default)]
    pub upstream_url: String,
    pub sha256: String,
    /// `os-arch-libc` it was chosen for.
    pub platform: String,
    /// `<home>/runtimes/<id>`.
    pub root: PathBuf,
    /// The executable inside `root`.
    pub interpreter: PathBuf,
    /// Allow plain `http://` to other machines.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl RuntimeSpec {
    /// The folder name under `<home>/runtimes/`.
    pub fn id(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The id of a runtime folder (see the module docs).
pub fn runtime_id(source: RuntimeSource, version: &str, platform: &str, sha256: &str) -> String {
    match source {
        RuntimeSource::Url => format!("cpython-{version}-url-{}", &sha256[..12.min(sha256.len())]),
        RuntimeSource::Embeddable => format!("cpython-{version}-embed-{platform}"),
        _ => format!("cpython-{version}-{platform}"),
    }
}

/// The interpreter inside a runtime folder.
pub fn interpreter_in(root: &Path, source: RuntimeSource, platform: &str) -> PathBuf {
    if source == RuntimeSource::Embeddable || platform.starts_with("windows") {
        root.join("python.exe")
    } else {
        root.join("bin").join("python3")
    }
}

/// [`RUNTIME_MARKER`]: what the folder holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeMarker {
    pub version: u32,
    pub source: RuntimeSource,
    pub python_version: String,
    pub url: String,
    pub sha256: String,
    pub platform: String,
    pub created_at: jiff::Timestamp,
}

/// The marker of a runtime folder, if it has a readable one.
pub fn read_marker(root: &Path) -> Option<RuntimeMarker> {
    let text = fs_err::read_to_string(root.join(RUNTIME_MARKER)).ok()?;
    serde_json::from_str(&text).ok()
}

/// A runtime folder as found on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedRuntime {
    /// Something is at the path.
    pub exists: bool,
    pub marker: Option<RuntimeMarker>,
    pub interpreter_exists: bool,
}

/// Reads a runtime folder without starting anything.
pub fn observe(spec_root: &Path, interpreter: &Path) -> ObservedRuntime {
    ObservedRuntime {
        exists: fs_err::symlink_metadata(spec_root).is_ok(),
        marker: read_marker(spec_root),
        interpreter_exists: interpreter.is_file(),
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProvisionError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] fetch::FetchError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Archive(#[from] archive::ArchiveError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Embeddable(#[from] embeddable::EmbeddableError),

    #[error("`{}` is not an archive beep-python can unpack (tar.gz, tar.zst or zip)", path.display())]
    #[diagnostic(
        code("provision::unknown-format"),
        help("check that the `url` points at the archive itself, not at a web page")
    )]
    UnknownFormat { path: PathBuf },

    #[error("the archive from `{url}` has no `{}` after unpacking", missing.display())]
    #[diagnostic(
        code("provision::layout"),
        help(
            "a runtime archive must hold a CPython installation: `bin/python3` (or `python.exe`), in the python-build-standalone layout"
        )
    )]
    Layout { url: String, missing: PathBuf },

    #[error("the interpreter from `{url}` does not run: {reason}")]
    #[diagnostic(
        code("provision::broken-interpreter"),
        help(
            "the build may not fit this machine (another libc or CPU), or shared libraries it needs are missing; nothing was installed"
        )
    )]
    Broken { url: String, reason: String },

    #[error("the interpreter from `{url}` reports Python {actual}, not {expected}")]
    #[diagnostic(
        code("provision::version-mismatch"),
        help("correct the runtime's `version`, or its `url` and `sha256`; nothing was installed")
    )]
    VersionMismatch {
        url: String,
        expected: String,
        actual: String,
    },

    #[error("the interpreter from `{url}` cannot import {}", failed.join(", "))]
    #[diagnostic(
        code("provision::missing-modules"),
        help(
            "its shared libraries are missing or do not fit this machine (for example OpenSSL or libffi); nothing was installed"
        )
    )]
    MissingModules { url: String, failed: Vec<String> },

    #[error("could not {action} `{}`", path.display())]
    #[diagnostic(code("provision::io"))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` appeared while the runtime was being installed", path.display())]
    #[diagnostic(
        code("provision::occupied"),
        help(
            "another program wrote there; nothing of it was touched. Run `beep-python plan` again"
        )
    )]
    Occupied { path: PathBuf },

    #[error("internal error: the {step} step found no {what}")]
    #[diagnostic(
        code("provision::sequence"),
        help("this is a bug in beep-python; nothing was installed. Please report it")
    )]
    Sequence {
        step: &'static str,
        what: &'static str,
    },

    #[error("interrupted")]
    #[diagnostic(code("provision::interrupted"))]
    Interrupted,
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ProvisionError {
    let path = path.to_path_buf();
    move |source| ProvisionError::Io {
        action,
        path,
        source,
    }
}

/// Whether the runtime is already in place, complete, with these bytes.
pub fn is_installed(spec: &RuntimeSpec) -> bool {
    read_marker(&spec.root).is_some_and(|m| m.sha256.eq_ignore_ascii_case(&spec.sha256))
        && spec.interpreter.is_file()
}

/// The `download` step: the verified archive in the cache.
pub fn download(
    spec: &RuntimeSpec,
    cache: &fetch::Cache,
    offline: bool,
    progress: &dyn fetch::Progress,
    cancel: &AtomicBool,
) -> Result<PathBuf, ProvisionError> {
    let options = fetch::Options {
        allow_insecure_http: spec.allow_insecure_http,
        offline,
        ..fetch::Options::default()
    };
    Ok(fetch::fetch(
        &spec.url,
        &spec.sha256,
        cache,
        &options,
        progress,
        cancel,
    )?)
}

/// The `extract` step: unpacks `archive` into the empty folder `staging`
/// and returns the runtime's root inside it.
pub fn extract(
    spec: &RuntimeSpec,
    archive_path: &Path,
    staging: &Path,
) -> Result<PathBuf, ProvisionError> {
    let format = archive::detect(archive_path).ok_or_else(|| ProvisionError::UnknownFormat {
        path: archive_path.to_path_buf(),
    })?;
    fs_err::create_dir_all(staging).map_err(io_error("create", staging))?;
    let limits = archive::Limits::default();
    match spec.source {
        // python-build-standalone puts everything under `python/`.
        RuntimeSource::Standalone => {
            archive::extract(archive_path, format, staging, Some("python"), &limits)?;
            Ok(staging.to_path_buf())
        }
        RuntimeSource::Embeddable => {
            archive::extract(archive_path, format, staging, None, &limits)?;
            Ok(staging.to_path_buf())
        }
        // Any archive: one top folder (as `tar czf x.tgz python` makes) is
        // the root; otherwise the archive's top level is.
        _ => {
            archive::extract(archive_path, format, staging, None, &limits)?;
            Ok(single_top_folder(staging)?.unwrap_or_else(|| staging.to_path_buf()))
        }
    }
}

fn single_top_folder(dir: &Path) -> Result<Option<PathBuf>, ProvisionError> {
    // The staging folder also holds the transaction's claim file.
    let mut entries = fs_err::read_dir(dir)
        .map_err(io_error("read", dir))?
        .filter_map(Result::ok)
        .filter(|e| !crate::files::is_reserved_name(&e.file_name()));
    let (Some(first), None) = (entries.next(), entries.next()) else {
        return Ok(None);
    };
    let is_dir = first.file_type().is_ok_and(|t| t.is_dir());
    Ok(is_dir.then(|| first.path()))
}

/// The `configure` step, in the unpacked root: `bin/python` and
/// `bin/python3` exist (as links to `python3.X` when the archive has only
/// that), or the embeddable `._pth` is patched.
pub fn configure(spec: &RuntimeSpec, root: &Path) -> Result<PathBuf, ProvisionError> {
    let interpreter = interpreter_in(root, spec.source, &spec.platform);
    if spec.source == RuntimeSource::Embeddable {
        embeddable::configure(root, &spec.python_version)?;
        return Ok(interpreter);
    }
    if spec.platform.starts_with("windows") {
        if !interpreter.is_file() {
            return Err(ProvisionError::Layout {
                url: spec.url.clone(),
                missing: PathBuf::from("python.exe"),
            });
        }
        return Ok(interpreter);
    }
    let bin = root.join("bin");
    let minor: Vec<&str> = spec.python_version.split('.').take(2).collect();
    let candidates = [
        format!("python{}", minor.join(".")),
        "python3".into(),
        "python".into(),
    ];
    let Some(found) = candidates.iter().find(|c| bin.join(c).is_file()) else {
        return Err(ProvisionError::Layout {
            url: spec.url.clone(),
            missing: PathBuf::from("bin/python3"),
        });
    };
    for link in ["python3", "python"] {
        let path = bin.join(link);
        if fs_err::symlink_metadata(&path).is_err() {
            link_to(found, &path).map_err(io_error("create", &path))?;
        }
    }
    Ok(interpreter)
}

#[cfg(unix)]
fn link_to(target: &str, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn link_to(target: &str, link: &Path) -> std::io::Result<()> {
    let dir = link.parent().unwrap_or(Path::new("."));
    fs_err::copy(dir.join(target), link).map(|_| ())
}

/// What the check script prints.
#[derive(Debug, Deserialize)]
struct Report {
    version: String,
    failed: Vec<String>,
}

const CHECK_SCRIPT: &str = r#"
import importlib, json, sys
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append("%s (%s)" % (name, e))
print(json.dumps({"version": "%d.%d.%d" % sys.version_info[:3], "failed": failed}))
"#;

/// The `verify-interpreter` check: runs `interpreter` once, isolated and
/// without writing bytecode; the version must match and
/// [`REQUIRED_MODULES`] must import.
pub fn verify_interpreter(
    spec: &RuntimeSpec,
    interpreter: &Path,
    cancel: &AtomicBool,
) -> Result<(), ProvisionError> {
    let broken = |reason: String| ProvisionError::Broken {
        url: spec.url.clone(),
        reason,
    };
    let mut command = Command::new(interpreter);
    command
        .args(["-I", "-B", "-c", CHECK_SCRIPT])
        .args(REQUIRED_MODULES)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::process::prepare(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| broken(format!("it could not be started ({e})")))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let deadline = Instant::now() + VERIFY_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(broken(e.to_string())),
        }
        if cancel.load(Ordering::SeqCst) {
            crate::process::kill_group(&mut child);
            return Err(ProvisionError::Interrupted);
        }
        if Instant::now() > deadline {
            crate::process::kill_group(&mut child);
            return Err(broken(format!(
                "it did not answer within {}s",
                VERIFY_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(broken(format!(
            "{}{}{}",
            crate::process::describe(status),
            if last.is_empty() { "" } else { ": " },
            last.trim()
        )));
    }
    let report: Report = serde_json::from_str(out.trim())
        .map_err(|_| broken(format!("it printed something unexpected: {}", out.trim())))?;
    if !same_release(&report.version, &spec.python_version) {
        return Err(ProvisionError::VersionMismatch {
            url: spec.url.clone(),
            expected: spec.python_version.clone(),
            actual: report.version,
        });
    }
    if !report.failed.is_empty() {
        return Err(ProvisionError::MissingModules {
            url: spec.url.clone(),
            failed: report.failed,
        });
    }
    Ok(())
}

/// `3.13.0` (what `sys.version_info` gives) matches `3.13.0rc2`.
fn same_release(reported: &str, wanted: &str) -> bool {
    let release = |v: &str| -> Vec<u64> {
        v.split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()
            .unwrap_or("")
            .split('.')
            .filter_map(|p| p.parse().ok())
            .take(3)
            .collect()
    };
    release(reported) == release(wanted)
}

/// Writes the marker into the verified root: the last thing before the
/// rename, so only a complete runtime ever has one.
pub fn write_marker(spec: &RuntimeSpec, root: &Path) -> Result<(), ProvisionError> {
    let marker = RuntimeMarker {
        version: RUNTIME_MARKER_VERSION,
        source: spec.source,
        python_version: spec.python_version.clone(),
        url: spec.url.clone(),
        sha256: spec.sha256.to_ascii_lowercase(),
        platform: spec.platform.clone(),
        created_at: jiff::Timestamp::now(),
    };
    let path = root.join(RUNTIME_MARKER);
    let text = serde_json::to_string_pretty(&marker).unwrap_or_default();
    fs_err::write(&path, text + "\n").map_err(io_error("write", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_what_the_folder_holds() {
        let sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            runtime_id(RuntimeSource::Standalone, "3.11.9", "linux-x86_64-gnu", sha),
            "cpython-3.11.9-linux-x86_64-gnu"
        );
        assert_eq!(
            runtime_id(RuntimeSource::Url, "3.11.9", "linux-x86_64-gnu", sha),
            "cpython-3.11.9-url-0123456789ab"
        );
    }

    #[test]
    fn releases_compare_without_pre_release_tags() {
        assert!(same_release("3.13.0", "3.13.0rc2"));
        assert!(same_release("3.11.2", "3.11.2"));
        assert!(!same_release("3.11.2", "3.11.9"));
        assert!(!same_release("3.11", "3.11.0"));
    }
}
