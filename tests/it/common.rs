//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use beep_python::diagnostic::SourceFile;
use beep_python::manifest::{self, ManifestError};
use beep_python::report;

/// The `beep-python` binary under test, with a clean environment: its home
/// in `home`, no colour, no user configuration leaking in.
#[track_caller]
pub fn beep(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_beep-python"));
    cmd.env("BEEP_PYTHON_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("BEEP_PYTHON_FAILPOINTS");
    cmd
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr with wrapped lines joined, so that assertions do not depend on
/// where the renderer broke a long message.
pub fn stderr(output: &Output) -> String {
    flat(&String::from_utf8_lossy(&output.stderr))
}

/// Joins lines, dropping the indentation and the `|` gutter that wrapped
/// diagnostic lines start with.
pub fn flat(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.trim();
            l.strip_prefix("| ").unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fixed folders for manifests checked in memory, so rendered paths are
/// the same on every machine.
pub const PROJECT: &str = "/project";
pub const HOME: &str = "/home/user/.beep-python";

/// Checks manifest text in memory and renders every diagnostic as the user
/// would see it (no colour), in order.
pub fn check_text(text: &str) -> (bool, Vec<beep_python::diagnostic::Diagnostic>, String) {
    let source = SourceFile::new("beep-python.toml", text);
    let path = PathBuf::from(PROJECT).join("beep-python.toml");
    let result = manifest::check(source, &path, Path::new(PROJECT), Path::new(HOME));
    let (valid, diagnostics) = match result {
        Ok(checked) => (true, checked.warnings.into_vec()),
        Err(ManifestError::Invalid { diagnostics, .. }) => (false, diagnostics.into_vec()),
        Err(other) => panic!("unexpected error: {other}"),
    };
    let rendered = diagnostics
        .iter()
        .map(|d| report::render(d, false))
        .collect::<Vec<_>>()
        .join("\n");
    (valid, diagnostics, rendered)
}

pub fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The example manifests: `examples/*.toml` and `beep-python.toml.example`.
pub fn example_manifests() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files.push(root.join("beep-python.toml.example"));
    files
}

/// Keeps pip and uv on the wheels a test provides: no index, no user
/// configuration.
pub fn isolate_installers(cmd: &mut Command) -> &mut Command {
    cmd.env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("UV_NO_CONFIG", "1")
}

/// Runs `cmd` with `args` and checks its exit code, showing both streams
/// when it differs.
#[track_caller]
pub fn expect_exit(mut cmd: Command, args: &[&str], code: i32) -> Output {
    let out = cmd.args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Whether process `pid` is gone: no such process, or a zombie that
/// nothing reaped (a container's init may not).
pub fn process_is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits until `check` holds, for up to a minute.
#[track_caller]
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Prerequisites: interpreters and tools chosen at run time
// ---------------------------------------------------------------------------
//
// Tests never name this machine's interpreters. `pythons()` finds the real
// CPython interpreters of whatever machine runs the suite (PATH, pyenv's
// `versions/*/bin`, `/usr/bin`, `/usr/local/bin`), probes each once, and the
// selectors below pick what a test needs. A fresh CI machine has pyenv's
// `python3` (3.11.7) and Debian's `/usr/bin/python3.11` (3.11.2, static,
// its pip wheel in `/usr/share/python-wheels`); every test that `.ci/run`
// can satisfy works with just those. `BEEP_IT_PYTHONS` (a `PATH`-like list
// of interpreters) replaces the search, to try the suite as that machine:
// `BEEP_IT_PYTHONS=$(pyenv prefix 3.11.7)/bin/python3:/usr/bin/python3.11`.
//
// A prerequisite that is missing skips the test with a line on the real
// stderr (`SKIPPED <test>: needs ...`), except under `CI=true`, where it
// fails the test: `.ci/run` installs everything the suite needs, so there a
// missing prerequisite is a broken CI script, not a reason to pass.
// Exception to know about: no registry offers Python 2 or a Python 3 older
// than 3.8, so the four tests that need one (`python2_is_rejected_...`,
// `a_python_older_than_3_8_...`, `default_refuses_python2`,
// `default_refuses_a_version_older_than_3_8`) fail under `CI=true` on a
// machine whose pyenv lacks them.

/// Whether this is CI (`CI=true`), where a missing prerequisite fails.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports that the running test cannot run because `what` is missing:
/// panics under `CI=true`, else writes a `SKIPPED` line straight to the
/// stderr file descriptor (libtest captures `eprintln!`, not that), so that
/// `cargo test` shows it. The caller then returns; use [`require!`].
#[track_caller]
pub fn skip_or_fail(what: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    assert!(
        !in_ci(),
        "{test} needs {what}, which this machine lacks; with CI=true that is a failure (.ci/run must install it)"
    );
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs {what}, which this machine lacks (with CI=true this fails)"
    );
}

/// `require!(what, option)`: the value, or [`skip_or_fail`] and `return`
/// from the test. The one way a test may end early.
macro_rules! require {
    ($what:expr, $value:expr $(,)?) => {
        match $value {
            Some(value) => value,
            None => {
                $crate::common::skip_or_fail(&$what);
                return;
            }
        }
    };
}
pub(crate) use require;

/// The path of `program` on `PATH`, if it is there.
pub fn tool(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A real CPython interpreter of this machine, as probed once.
#[derive(Clone, Debug)]
pub struct Python {
    /// The interpreter's real path (symlinks resolved).
    pub path: PathBuf,
    /// `platform.python_version()`, e.g. `3.11.7`.
    pub version: String,
    pub major: u64,
    pub minor: u64,
    pub micro: u64,
    /// `sys.prefix` (the interpreter's own, as it is never a venv).
    pub prefix: PathBuf,
    pub has_venv: bool,
    pub has_ensurepip: bool,
    /// pip importable from the base's own site-packages.
    pub has_pip: bool,
    /// The version of the pip wheel the library's seeding finds first:
    /// `ensurepip/_bundled`, then `<prefix>/share/python-wheels`.
    pub pip_wheel: Option<String>,
}

impl Python {
    /// Python 3.8 or newer: what environments support.
    pub fn supported(&self) -> bool {
        (self.major, self.minor) >= (3, 8)
    }

    /// `3.11`
    pub fn short(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// `(major, minor, micro)`, for ordering.
    pub fn key(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.micro)
    }

    /// `python -m venv` makes an environment with pip.
    pub fn makes_venvs_with_pip(&self) -> bool {
        self.has_venv && self.has_ensurepip && self.pip_wheel.is_some()
    }

    /// Debian's interpreter: statically linked, so a copy runs anywhere.
    pub fn is_debian(&self) -> bool {
        self.path == Path::new(DEBIAN_PYTHON)
    }
}

/// Debian's python3.11, which `.ci/run` installs.
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3.11";

/// Runs on Python 2.7 and 3.x alike: one line per field.
const PROBE: &str = r#"
import os, platform, sys
def has(module):
    try:
        import importlib.util
        return importlib.util.find_spec(module) is not None
    except Exception:
        return False
stdlib = os.path.dirname(os.__file__)
wheel = ""
for folder in [os.path.join(stdlib, "ensurepip", "_bundled"), os.path.join(sys.prefix, "share", "python-wheels")]:
    try:
        names = sorted(n for n in os.listdir(folder) if n.startswith("pip-") and n.endswith(".whl"))
    except OSError:
        names = []
    if names:
        wheel = names[-1].split("-")[1]
        break
fields = [platform.python_implementation(), platform.python_version(), sys.prefix,
          getattr(sys, "base_prefix", sys.prefix), str(int(has("venv"))),
          str(int(has("ensurepip"))), str(int(has("pip"))), wheel]
sys.stdout.write("\n".join(fields) + "\n")
"#;

/// Every real CPython interpreter on this machine (Python 2 included, venvs
/// not), newest first, each once (by real path), probed once per run.
pub fn pythons() -> &'static [Python] {
    static FOUND: std::sync::OnceLock<Vec<Python>> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| {
        let candidates = python_candidates();
        let mut found: Vec<Python> = std::thread::scope(|s| {
            let probes: Vec<_> = candidates
                .iter()
                .map(|path| s.spawn(move || probe_python(path)))
                .collect();
            probes
                .into_iter()
                .filter_map(|p| p.join().ok().flatten())
                .collect()
        });
        found.sort_by(|a, b| b.key().cmp(&a.key()).then(a.path.cmp(&b.path)));
        found
    })
}

/// Interpreter files to probe, by real path, each once.
fn python_candidates() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(list) = std::env::var_os("BEEP_IT_PYTHONS") {
        files.extend(std::env::split_paths(&list));
    } else {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        // pyenv's shims start pyenv, not Python: its installs are read instead.
        dirs.retain(|d| !d.ends_with("shims"));
        let pyenv_root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
        if let Some(root) = pyenv_root
            && let Ok(versions) = std::fs::read_dir(root.join("versions"))
        {
            let mut versions: Vec<PathBuf> = versions
                .filter_map(|e| Some(e.ok()?.path().join("bin")))
                .collect();
            versions.sort();
            dirs.extend(versions);
        }
        dirs.extend([PathBuf::from("/usr/local/bin"), PathBuf::from("/usr/bin")]);
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(python_name)
                })
                .collect();
            names.sort();
            files.extend(names);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    files
        .into_iter()
        .filter(|p| is_executable(p))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter(|real| seen.insert(real.clone()))
        .collect()
}

/// `python`, `python3`, `python3.11`, `python2.7`: not `python3-config`.
fn python_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("python") else {
        return false;
    };
    rest.is_empty()
        || rest
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn probe_python(path: &Path) -> Option<Python> {
    let out = Command::new(path)
        .args(["-E", "-s", "-c", PROBE])
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let fields: Vec<&str> = text.lines().collect();
    let [
        implementation,
        version,
        prefix,
        base_prefix,
        venv,
        ensurepip,
        pip,
        wheel,
    ] = fields.as_slice()
    else {
        return None;
    };
    if *implementation != "CPython" || prefix != base_prefix {
        return None;
    }
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let (major, minor, micro) = (
        numbers.next()?,
        numbers.next()?,
        numbers.next().unwrap_or(0),
    );
    Some(Python {
        path: path.to_path_buf(),
        version: version.to_string(),
        major,
        minor,
        micro,
        prefix: PathBuf::from(prefix),
        has_venv: *venv == "1",
        has_ensurepip: *ensurepip == "1",
        has_pip: *pip == "1",
        pip_wheel: (!wheel.is_empty()).then(|| wheel.to_string()),
    })
}

/// The supported interpreters (3.8+) that satisfy `pred`, newest first,
/// one per version.
pub fn supported_where(pred: impl Fn(&Python) -> bool) -> Vec<&'static Python> {
    let mut out: Vec<&'static Python> = Vec::new();
    for p in pythons().iter().filter(|p| p.supported() && pred(p)) {
        if !out.iter().any(|o| o.version == p.version) {
            out.push(p);
        }
    }
    out
}

/// The newest supported interpreter that satisfies `pred`.
pub fn python_where(pred: impl Fn(&Python) -> bool) -> Option<&'static Python> {
    supported_where(pred).into_iter().next()
}

/// Any supported CPython (3.8+).
pub fn any_python() -> Option<&'static Python> {
    python_where(|_| true)
}

/// Two supported interpreters of different versions that satisfy `pred`,
/// the newer first. On a fresh machine: pyenv's 3.11.7 and Debian's 3.11.2.
pub fn two_pythons(pred: impl Fn(&Python) -> bool) -> Option<(&'static Python, &'static Python)> {
    let all = supported_where(pred);
    match all.as_slice() {
        [newer, older, ..] => Some((newer, older)),
        _ => None,
    }
}

/// Debian's static python3.11, if this machine has it.
pub fn debian_python() -> Option<&'static Python> {
    pythons().iter().find(|p| p.is_debian())
}

/// A Python 2 interpreter: a real one where the machine has it, else a
/// stand-in (see [`stand_in`]) that gives discovery's probe the answer a
/// real CPython 2.7.18 gives. No package registry offers Python 2, so a
/// fresh machine has none; the stand-in keeps the rejection tested there.
pub fn python2() -> Option<&'static Python> {
    pythons().iter().find(|p| p.major == 2).or_else(|| {
        static STAND_IN: OnceLock<Option<Python>> = OnceLock::new();
        STAND_IN
            .get_or_init(|| {
                stand_in(
                    "python2.7",
                    "2.7.18",
                    &["beep-probe-1", "cpython", "2.7.18", "x86_64"],
                )
            })
            .as_ref()
    })
}

/// A Python 3 older than 3.8 (found, but not supported for environments):
/// a real one, else a stand-in replaying CPython 3.7.16's probe answer.
pub fn python3_older_than_3_8() -> Option<&'static Python> {
    pythons()
        .iter()
        .find(|p| p.major == 3 && !p.supported())
        .or_else(|| {
            static STAND_IN: OnceLock<Option<Python>> = OnceLock::new();
            STAND_IN
                .get_or_init(|| {
                    let dir = stand_in_dir().join("3.7.16");
                    let lib = dir.join("lib/python3.7");
                    let site = lib.join("site-packages");
                    let _ = std::fs::create_dir_all(&site);
                    let (prefix, lib, site) = (
                        dir.display().to_string(),
                        lib.display().to_string(),
                        site.display().to_string(),
                    );
                    stand_in(
                        "3.7.16/bin/python3.7",
                        "3.7.16",
                        &[
                            "beep-probe-1",
                            "cpython",
                            "3.7.16",
                            "x86_64",
                            &prefix,
                            &prefix,
                            "0",
                            "1",
                            "1",
                            "1",
                            "0",
                            &lib,
                            &site,
                        ],
                    )
                })
                .as_ref()
        })
}

fn stand_in_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
        .path()
        .to_path_buf()
}

/// An executable that answers discovery's probe with `fields` (the exact
/// NUL-separated reply `src/discover/probe.py` makes a real interpreter of
/// that version print, captured from one) and fails for anything else.
fn stand_in(rel: &str, version: &str, fields: &[&str]) -> Option<Python> {
    use std::os::unix::fs::PermissionsExt;
    let path = stand_in_dir().join(rel);
    std::fs::create_dir_all(path.parent()?).ok()?;
    let reply: String = fields.join("\\000");
    let script = format!(
        "#!/bin/sh\n# Stands in for CPython {version}: replays its answer to the probe.\ncase \"$*\" in *beep-probe-1*) printf '{reply}';; *) echo \"stand-in for Python {version}\" >&2; exit 1;; esac\n"
    );
    std::fs::write(&path, script).ok()?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).ok()?;
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    Some(Python {
        path: path.clone(),
        version: version.to_string(),
        major: parts.next()?,
        minor: parts.next()?,
        micro: parts.next()?,
        prefix: path.parent()?.parent()?.to_path_buf(),
        has_venv: false,
        has_ensurepip: false,
        has_pip: false,
        pip_wheel: None,
    })
}

/// A copy of Debian's statically linked python3.11 at `prefix/bin/python3.11`,
/// with its standard library linked at `prefix/lib/python3.11`: a real
/// interpreter at a path of the test's, to remove or to stand for one more
/// install when the machine has few.
#[track_caller]
pub fn copy_debian_python(prefix: &Path) -> PathBuf {
    let debian = Path::new(DEBIAN_PYTHON);
    fs_err::create_dir_all(prefix.join("bin")).unwrap();
    fs_err::create_dir_all(prefix.join("lib")).unwrap();
    let exe = prefix.join("bin/python3.11");
    fs_err::copy(debian, &exe).unwrap();
    std::os::unix::fs::symlink("/usr/lib/python3.11", prefix.join("lib/python3.11")).unwrap();
    exe
}

/// `program` on `PATH`, or `None` after [`skip_or_fail`] (under `CI=true`
/// a missing program fails the test: `.ci/run` installs every one).
#[track_caller]
pub fn program(program: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip_or_fail(&format!("`{program}` on PATH"));
    }
    found
}

/// Whether uv is on `PATH` (see [`program`]).
#[track_caller]
pub fn uv_available() -> bool {
    program("uv").is_some()
}
