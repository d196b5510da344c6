//! Finding every Python interpreter on the machine.
//!
//! Owns `<home>/cache/interpreters.json`, the probe cache.
//!
//! Discovery runs in three stages:
//!
//! 1. `locate` lists candidate executables from install
//!    locations read directly (PATH folders, pyenv, asdf, mise, uv, conda,
//!    Homebrew, system folders, our managed runtimes, and on Windows the
//!    PEP 514 registry, `%LOCALAPPDATA%\Programs\Python` and `py --list-paths`);
//! 2. each candidate is classified without running it: virtual environments
//!    (a `pyvenv.cfg` beside or above the executable) become
//!    [`FoundEnvironment`]s, shims, Store aliases, dangling links and
//!    non-executables become [`Rejected`]s, and the rest are grouped by
//!    canonical path;
//! 3. each distinct interpreter is asked about itself once by a tiny script
//!    (see `probe`), in parallel, with a timeout, unless the
//!    cache holds a fresh answer.
//!
//! Invariants:
//!
//! - Shims are never run: folders named `shims` (pyenv, asdf, mise,
//!   pyenv-virtualenv) are skipped and shim scripts or links are rejected,
//!   because running one would start a version manager, not an interpreter,
//!   and would report whatever version it resolves to today.
//! - One real path is one [`Interpreter`], listing every path that leads to it
//!   and every locator that found it; it is probed at most once per run, and
//!   not at all while its cache entry is fresh (see `cache`).
//! - Discovery never fails. A bad candidate is a [`Rejected`] with a reason; a
//!   cache or folder that cannot be read or written is a warning.
//! - Every root comes from [`DiscoverOptions`], never from the process
//!   environment directly, so tests build fake layouts.
//! - Results are sorted deterministically: interpreters by version descending
//!   then path, rejected candidates and environments by path.

mod cache;
mod locate;
mod probe;
mod pyvenv;
pub mod windows;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use pep440_rs::{Version, VersionSpecifiers};
use serde::{Deserialize, Serialize};

pub use locate::{default_system_dirs, is_python_executable_name};
pub use pyvenv::PyvenvCfg;

use cache::{Cache, Outcome};
use locate::Classified;
use probe::{ProbeInfo, Problem};

/// The oldest Python we build environments with; older ones are reported but
/// marked unsupported.
pub const MIN_SUPPORTED: (u64, u64) = (3, 8);

/// Default time an interpreter gets to answer the probe.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Locator {
    /// A folder on `PATH`.
    Path,
    /// Our own runtimes under `<home>/runtimes`.
    Managed,
    /// `$PYENV_ROOT/versions` (or `~/.pyenv/versions`).
    Pyenv,
    /// `$ASDF_DATA_DIR/installs/python` (or `~/.asdf/installs/python`).
    Asdf,
    /// `$MISE_DATA_DIR/installs/python` (or `~/.local/share/mise/installs/python`).
    Mise,
    /// uv-managed Pythons (`$UV_PYTHON_INSTALL_DIR`, `$XDG_DATA_HOME/uv/python`, ...).
    Uv,
    /// Conda prefixes: `~/.conda/environments.txt`, `$CONDA_PREFIX`,
    /// `~/miniconda3`, `~/anaconda3`, `~/miniforge3` and their `envs/*`.
    Conda,
    /// Homebrew (`/opt/homebrew/bin`, `/usr/local/opt/python@*/bin`, linuxbrew).
    Homebrew,
    /// System folders (`/usr/bin`, `/usr/local/bin`, `/opt/python*/bin`).
    System,
    /// A PEP 514 registry key (Windows).
    WindowsRegistry,
    /// `%LOCALAPPDATA%\Programs\Python\Python3*` (Windows).
    WindowsAppData,
    /// `py --list-paths` (Windows).
    PyLauncher,
    /// A path given explicitly (`probe_one`).
    Explicit,
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Locator::Path => "PATH",
            Locator::Managed => "managed",
            Locator::Pyenv => "pyenv",
            Locator::Asdf => "asdf",
            Locator::Mise => "mise",
            Locator::Uv => "uv",
            Locator::Conda => "conda",
            Locator::Homebrew => "homebrew",
            Locator::System => "system",
            Locator::WindowsRegistry => "registry",
            Locator::WindowsAppData => "appdata",
            Locator::PyLauncher => "py-launcher",
            Locator::Explicit => "explicit",
        })
    }
}

/// What to search and how.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// The environment the roots come from: `PATH`, `HOME` (`USERPROFILE` on
    /// Windows), `PYENV_ROOT`, `ASDF_DATA_DIR`, `MISE_DATA_DIR`,
    /// `UV_PYTHON_INSTALL_DIR`, `XDG_DATA_HOME`, `CONDA_PREFIX`, and on
    /// Windows `LOCALAPPDATA` and `APPDATA`. Empty values count as unset.
    pub env: HashMap<String, OsString>,
    /// Fixed folders scanned for `python*` executables, each with the locator
    /// it reports. [`default_system_dirs`] gives the real ones.
    pub system_dirs: Vec<(Locator, PathBuf)>,
    /// `<home>/runtimes`: each `*/bin` or `*/python/bin` holds a managed runtime.
    pub managed_runtimes_dir: Option<PathBuf>,
    /// The probe cache; `None` probes every interpreter every time.
    pub cache_path: Option<PathBuf>,
    /// How long one interpreter gets to answer before it is killed.
    pub timeout: Duration,
    /// Interpreters probed at once; 0 means twice the number of cores.
    pub jobs: usize,
    /// Ask machine-wide registries that are not folders: the Windows registry
    /// and `py --list-paths`. Has no effect elsewhere.
    pub query_os: bool,
}

impl Default for DiscoverOptions {
    /// Searches nothing: tests fill in what they want.
    fn default() -> Self {
        DiscoverOptions {
            env: HashMap::new(),
            system_dirs: Vec::new(),
            managed_runtimes_dir: None,
            cache_path: None,
            timeout: DEFAULT_TIMEOUT,
            jobs: 0,
            query_os: false,
        }
    }
}

impl DiscoverOptions {
    /// The real machine: this process's environment, the real system folders,
    /// and `home` (our home, e.g. `~/.beep-python`) for managed runtimes and
    /// the cache.
    pub fn from_process_env(home: &Path) -> Self {
        DiscoverOptions {
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
                .collect(),
            system_dirs: default_system_dirs(),
            managed_runtimes_dir: Some(home.join("runtimes")),
            cache_path: Some(home.join("cache").join("interpreters.json")),
            timeout: DEFAULT_TIMEOUT,
            jobs: 0,
            query_os: true,
        }
    }

    /// An environment variable, `None` when unset or empty.
    fn var(&self, name: &str) -> Option<&OsStr> {
        self.env
            .get(name)
            .map(OsString::as_os_str)
            .filter(|v| !v.is_empty())
    }

    /// The user's home folder.
    fn user_home(&self) -> Option<PathBuf> {
        let name = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
        self.var(name)
            .or_else(|| self.var("HOME"))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    }

    fn workers(&self, jobs: usize) -> usize {
        let max = if self.jobs > 0 {
            self.jobs
        } else {
            thread::available_parallelism().map_or(2, |n| n.get()) * 2
        };
        max.min(jobs).max(1)
    }
}

/// A working interpreter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    /// `sys.implementation.name`: `cpython`, `pypy`, ...
    pub implementation: String,
    /// The full version, e.g. `3.11.7` or `3.13.0rc1`.
    pub version: String,
    /// `platform.machine()`, e.g. `x86_64`, `arm64`, `AMD64`.
    pub arch: String,
    /// The first path that led to it (in locator order: PATH first).
    pub path: PathBuf,
    /// Every path that leads to it, in the order found.
    pub paths: Vec<PathBuf>,
    /// The canonical path of the executable.
    pub real_path: PathBuf,
    /// `sys.prefix`.
    pub prefix: PathBuf,
    /// `sys.base_prefix` (or `sys.real_prefix` under old virtualenv).
    pub base_prefix: PathBuf,
    /// Whether it runs inside a virtual environment. Discovery reports
    /// virtual environments as [`FoundEnvironment`]s, so this is only true
    /// for [`probe_one`] on a venv's interpreter.
    pub is_venv: bool,
    /// `pip` is importable from its site-packages folders.
    pub has_pip: bool,
    /// The `ensurepip` module is present (Debian strips it, for one).
    pub has_ensurepip: bool,
    /// The `venv` module is present.
    pub has_venv: bool,
    /// PEP 668: an `EXTERNALLY-MANAGED` file sits in its stdlib folder and
    /// it is not a virtual environment (where the marker does not apply).
    pub externally_managed: bool,
    /// Every locator that found it, in the order they did.
    pub locators: Vec<Locator>,
    /// Whether environments may be built from it.
    pub supported: bool,
    /// Why not, when `supported` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported_reason: Option<String>,
}

impl Interpreter {
    /// The version as PEP 440, `None` when the interpreter reports something
    /// unparsable.
    pub fn parsed_version(&self) -> Option<Version> {
        Version::from_str(&self.version).ok()
    }
}

/// Why a candidate is not an interpreter we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectKind {
    DanglingSymlink,
    Unresolvable,
    NotAFile,
    NotExecutable,
    Shim,
    StoreAlias,
    SpawnFailed,
    TimedOut,
    Failed,
    BadOutput,
    Python2,
}

/// A candidate that is not a usable interpreter, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub path: PathBuf,
    pub kind: RejectKind,
    /// For humans, e.g. "dangling symlink to `/x`", "Python 2.7.18 is not
    /// supported", "timed out after 5s".
    pub reason: String,
    pub locators: Vec<Locator>,
}

/// A virtual environment met on the way: reported, never probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundEnvironment {
    /// The environment's prefix (the folder above its `bin` / `Scripts`).
    pub path: PathBuf,
    /// The first interpreter path found inside it.
    pub python: PathBuf,
    /// `home` from `pyvenv.cfg`: the folder of the base interpreter.
    pub base_home: Option<PathBuf>,
    /// `executable` from `pyvenv.cfg` (Python 3.11+ and uv write it).
    pub base_executable: Option<PathBuf>,
    /// `version` (or uv's `version_info`) from `pyvenv.cfg`.
    pub version: Option<String>,
    pub include_system_site_packages: bool,
    /// The real path of the discovered interpreter it was built from, when
    /// that interpreter was discovered too.
    pub base_interpreter: Option<PathBuf>,
    pub locators: Vec<Locator>,
}

/// Everything one discovery run found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Discovery {
    pub interpreters: Vec<Interpreter>,
    pub rejected: Vec<Rejected>,
    pub environments: Vec<FoundEnvironment>,
    /// Interpreter processes started by this run (0 when the cache answered
    /// for all of them).
    pub probes_run: usize,
    /// Problems that did not stop discovery (unreadable folders, cache I/O).
    pub warnings: Vec<String>,
}

/// Finds every interpreter that `opts` points at. Never fails: see
/// [`Discovery::rejected`] and [`Discovery::warnings`].
pub fn discover(opts: &DiscoverOptions) -> Discovery {
    let mut out = Discovery::default();
    let located = locate::locate(opts);
    out.warnings.extend(located.warnings);
    out.rejected.extend(located.skipped);

    // Group by real path (first-seen order) and collect environments.
    let mut groups: Vec<locate::Resolved> = Vec::new();
    let mut group_of: HashMap<PathBuf, usize> = HashMap::new();
    let mut envs: Vec<FoundEnvironment> = Vec::new();
    for candidate in located.candidates {
        match locate::classify(&candidate.path) {
            Classified::Environment { prefix, cfg } => {
                match envs.iter_mut().find(|e| e.path == prefix) {
                    Some(env) => merge(&mut env.locators, &candidate.locators),
                    None => envs.push(found_environment(prefix, candidate, cfg)),
                }
            }
            Classified::Rejected(problem) => out.rejected.push(Rejected {
                kind: problem.kind(),
                reason: problem.to_string(),
                path: candidate.path,
                locators: candidate.locators,
            }),
            Classified::Executable(resolved) => match group_of.get(&resolved.real_path) {
                Some(&i) => {
                    let group = &mut groups[i];
                    if !group.paths.contains(&candidate.path) {
                        group.paths.push(candidate.path);
                    }
                    merge(&mut group.locators, &candidate.locators);
                }
                None => {
                    group_of.insert(resolved.real_path.clone(), groups.len());
                    groups.push(locate::Resolved {
                        paths: vec![candidate.path],
                        locators: candidate.locators,
                        ..resolved
                    });
                }
            },
        }
    }

    // Answer from the cache what we can, probe the rest in parallel.
    let (mut cache, warning) = match &opts.cache_path {
        Some(path) => Cache::load(path),
        None => (Cache::default(), None),
    };
    out.warnings.extend(warning);
    let mut outcomes: Vec<Option<Outcome>> = groups
        .iter()
        .map(|g| cache.lookup(&g.real_path, g.size, g.mtime_ns).cloned())
        .collect();
    let to_probe: Vec<usize> = (0..groups.len())
        .filter(|&i| outcomes[i].is_none())
        .collect();
    let paths: Vec<&Path> = to_probe
        .iter()
        .map(|&i| groups[i].real_path.as_path())
        .collect();
    let results = probe_all(&paths, opts.timeout, opts.workers(paths.len()));
    out.probes_run = paths.len();
    for (&i, result) in to_probe.iter().zip(results) {
        let group = &groups[i];
        let transient = result.as_ref().is_err_and(Problem::is_transient);
        let outcome = match result {
            Ok(info) => Outcome::Probed(info),
            Err(problem) => Outcome::Rejected {
                kind: problem.kind(),
                reason: problem.to_string(),
            },
        };
        if !transient {
            cache.insert(
                &group.real_path,
                group.size,
                group.mtime_ns,
                outcome.clone(),
            );
        }
        outcomes[i] = Some(outcome);
    }
    if let Some(path) = &opts.cache_path
        && let Err(err) = cache.save(path)
    {
        out.warnings.push(format!(
            "could not write the interpreter cache `{}`: {err}",
            path.display()
        ));
    }

    for (group, outcome) in groups.into_iter().zip(outcomes) {
        match outcome {
            Some(Outcome::Probed(info)) => out.interpreters.push(interpreter(group, info)),
            Some(Outcome::Rejected { kind, reason }) => out.rejected.push(Rejected {
                path: group.paths[0].clone(),
                kind,
                reason,
                locators: group.locators,
            }),
            // Unreachable by construction (every group is answered above);
            // dropping it is the conservative reading.
            None => {}
        }
    }

    sort_interpreters(&mut out.interpreters);
    for env in &mut envs {
        env.base_interpreter = base_interpreter(env, &out.interpreters);
    }
    envs.sort_by(|a, b| a.path.cmp(&b.path));
    out.environments = envs;
    out.rejected.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Probes one explicit path (no cache, default timeout). A virtual
/// environment's interpreter is accepted and reported with `is_venv`.
pub fn probe_one(path: &Path) -> Result<Interpreter, Rejected> {
    probe_one_with(path, DEFAULT_TIMEOUT)
}

/// [`probe_one`] with a timeout.
pub fn probe_one_with(path: &Path, timeout: Duration) -> Result<Interpreter, Rejected> {
    let reject = |problem: Problem| Rejected {
        path: path.to_path_buf(),
        kind: problem.kind(),
        reason: problem.to_string(),
        locators: vec![Locator::Explicit],
    };
    let resolved = locate::resolve(path).map_err(reject)?;
    // The path as given, not the resolved one: a venv's `python` is a link
    // to its base, and only run through the link is it the venv.
    let info = probe::run(path, timeout).map_err(reject)?;
    Ok(interpreter(
        locate::Resolved {
            paths: vec![path.to_path_buf()],
            locators: vec![Locator::Explicit],
            ..resolved
        },
        info,
    ))
}

/// The highest supported, non-venv interpreter whose version satisfies
/// `specifier`; among equal versions, the first in `interpreters` (which
/// [`discover`] sorts by path).
pub fn find_best<'a>(
    interpreters: &'a [Interpreter],
    specifier: &VersionSpecifiers,
) -> Option<&'a Interpreter> {
    let mut best: Option<(Version, &Interpreter)> = None;
    for interpreter in interpreters {
        if !interpreter.supported || interpreter.is_venv {
            continue;
        }
        let Some(version) = interpreter.parsed_version() else {
            continue;
        };
        if !specifier.contains(&version) {
            continue;
        }
        if best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, interpreter));
        }
    }
    best.map(|(_, i)| i)
}

fn interpreter(group: locate::Resolved, info: ProbeInfo) -> Interpreter {
    let unsupported_reason = unsupported_reason(&info.version);
    Interpreter {
        implementation: info.implementation,
        version: info.version,
        arch: info.arch,
        path: group.paths[0].clone(),
        paths: group.paths,
        real_path: group.real_path,
        prefix: info.prefix,
        base_prefix: info.base_prefix,
        is_venv: info.is_venv,
        has_pip: info.has_pip,
        has_ensurepip: info.has_ensurepip,
        has_venv: info.has_venv,
        externally_managed: info.externally_managed_marker && !info.is_venv,
        locators: group.locators,
        supported: unsupported_reason.is_none(),
        unsupported_reason,
    }
}

fn unsupported_reason(version: &str) -> Option<String> {
    let Ok(parsed) = Version::from_str(version) else {
        return Some(format!("version `{version}` is not a PEP 440 version"));
    };
    let release = parsed.release();
    let major_minor = (
        release.first().copied().unwrap_or(0),
        release.get(1).copied().unwrap_or(0),
    );
    (major_minor < MIN_SUPPORTED).then(|| {
        format!(
            "Python {version} is older than {}.{}, the oldest version supported for environments",
            MIN_SUPPORTED.0, MIN_SUPPORTED.1
        )
    })
}

/// Version descending (unparsable versions last), then path.
fn sort_interpreters(interpreters: &mut [Interpreter]) {
    interpreters.sort_by_cached_key(|i| {
        (
            std::cmp::Reverse(i.parsed_version()),
            i.path.clone(),
            i.real_path.clone(),
        )
    });
}

fn found_environment(
    prefix: PathBuf,
    candidate: locate::Candidate,
    cfg: PyvenvCfg,
) -> FoundEnvironment {
    FoundEnvironment {
        path: prefix,
        python: candidate.path,
        base_home: cfg.home,
        base_executable: cfg.executable,
        version: cfg.version,
        include_system_site_packages: cfg.include_system_site_packages,
        base_interpreter: None,
        locators: candidate.locators,
    }
}

/// The discovered interpreter a venv was built from: its `executable` if
/// `pyvenv.cfg` names one, else an interpreter living in `home` whose version
/// agrees with the venv's.
fn base_interpreter(env: &FoundEnvironment, interpreters: &[Interpreter]) -> Option<PathBuf> {
    if let Some(exe) = &env.base_executable
        && let Ok(real) = fs_err::canonicalize(exe)
        && let Some(found) = interpreters.iter().find(|i| i.real_path == real)
    {
        return Some(found.real_path.clone());
    }
    let home = env.base_home.as_ref()?;
    let real_home = fs_err::canonicalize(home).ok();
    let same_version = |i: &Interpreter| match &env.version {
        // `version = 3.11.7` in pyvenv.cfg; the interpreter may have been
        // upgraded in place since (3.11.8), which still is its base.
        Some(v) => major_minor(v) == major_minor(&i.version),
        None => true,
    };
    interpreters
        .iter()
        .filter(|i| !i.is_venv && same_version(i))
        .find(|i| {
            i.paths.iter().any(|p| p.parent() == Some(home.as_path()))
                || real_home.as_deref() == i.real_path.parent()
        })
        .map(|i| i.real_path.clone())
}

fn major_minor(version: &str) -> Option<(&str, &str)> {
    let mut parts = version.split('.');
    let major = parts.next()?;
    let minor = parts.next()?;
    let digits = minor
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(minor.len());
    Some((major, &minor[..digits]))
}

fn merge(into: &mut Vec<Locator>, from: &[Locator]) {
    for l in from {
        if !into.contains(l) {
            into.push(*l);
        }
    }
}

/// Probes `paths` on `workers` threads (the caller's thread is one of them);
/// the answers come back in the order of `paths`.
fn probe_all(
    paths: &[&Path],
    timeout: Duration,
    workers: usize,
) -> Vec<Result<ProbeInfo, Problem>> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let work = |tx: mpsc::Sender<(usize, Result<ProbeInfo, Problem>)>| {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = paths.get(i) else { break };
            // The receiver outlives every worker (it is read after the scope).
            let _ = tx.send((i, probe::run(path, timeout)));
        }
    };
    thread::scope(|scope| {
        for _ in 1..workers {
            let tx = tx.clone();
            // Failing to start a thread only costs parallelism: the calling
            // thread below works through whatever is left.
            let _ = thread::Builder::new()
                .name("beep-probe".into())
                .spawn_scoped(scope, || work(tx));
        }
        work(tx);
    });
    let mut results: Vec<Option<Result<ProbeInfo, Problem>>> = paths.iter().map(|_| None).collect();
    for (i, result) in rx {
        results[i] = Some(result);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(Problem::Lost)))
        .collect()
}
