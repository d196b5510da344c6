//! Listing candidate executables and classifying them without running them.
//!
//! Every root comes from [`DiscoverOptions`]. A folder that does not exist is
//! not worth a word (most roots don't exist on a given machine); a folder
//! that exists but cannot be read is a warning. Within a folder, names are
//! sorted so that the first path found for an interpreter is stable.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::probe::Problem;
use super::pyvenv::PyvenvCfg;
use super::windows;
use super::{DiscoverOptions, Locator, Rejected};

/// Scripts larger than this are not shims; binaries are never read.
const SHIM_MAX_SIZE: u64 = 16 * 1024;

/// A path to look at, and who pointed at it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub path: PathBuf,
    pub locators: Vec<Locator>,
}

#[derive(Debug, Default)]
pub(crate) struct Located {
    /// Unique paths, in the order first found.
    pub candidates: Vec<Candidate>,
    /// Shim folders, reported so that nobody wonders why they were ignored.
    pub skipped: Vec<Rejected>,
    pub warnings: Vec<String>,
}

/// An executable file, identified for the cache.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub paths: Vec<PathBuf>,
    pub locators: Vec<Locator>,
    pub real_path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
}

pub(crate) enum Classified {
    Environment { prefix: PathBuf, cfg: PyvenvCfg },
    Rejected(Problem),
    Executable(Resolved),
}

/// The real machine's fixed folders: Homebrew and the system's own.
pub fn default_system_dirs() -> Vec<(Locator, PathBuf)> {
    if cfg!(windows) {
        // Windows has no fixed folders; its installs are found through the
        // registry, `%LOCALAPPDATA%` and the py launcher.
        return Vec::new();
    }
    let mut dirs = vec![(Locator::Homebrew, PathBuf::from("/opt/homebrew/bin"))];
    for dir in glob_dirs(Path::new("/usr/local/opt"), |n| n.starts_with("python@")) {
        dirs.push((Locator::Homebrew, dir.join("bin")));
    }
    dirs.push((
        Locator::Homebrew,
        PathBuf::from("/home/linuxbrew/.linuxbrew/bin"),
    ));
    dirs.push((Locator::System, PathBuf::from("/usr/bin")));
    dirs.push((Locator::System, PathBuf::from("/usr/local/bin")));
    for dir in glob_dirs(Path::new("/opt"), |n| n.starts_with("python")) {
        dirs.push((Locator::System, dir.join("bin")));
    }
    dirs
}

/// Whether `name` is an interpreter's file name: `python`, `python3`,
/// `python3.12`, `python3.13t`, `pypy3.10`, ... (with `.exe` on Windows).
/// `python3-config`, `python3.7m` (a hard link of `python3.7`),
/// `python3.11-gdb.py` and `pythonw.exe` are not.
pub fn is_python_executable_name(name: &str, windows: bool) -> bool {
    let stem = if windows {
        // Interpreter names are ASCII, so byte slicing is safe once the
        // extension is known to be ASCII too.
        match name.len().checked_sub(4) {
            Some(i) if name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case(".exe") => {
                &name[..i]
            }
            _ => return false,
        }
    } else {
        name
    };
    let Some(rest) = stem
        .strip_prefix("python")
        .or_else(|| stem.strip_prefix("pypy"))
    else {
        return false;
    };
    // Free-threaded builds: `python3.13t`.
    let rest = match rest.strip_suffix('t') {
        Some(r) if !r.is_empty() => r,
        _ => rest,
    };
    if rest.is_empty() {
        return true;
    }
    let mut parts = rest.split('.');
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(major), None, None) => all_digits(major),
        (Some(major), Some(minor), None) => all_digits(major) && all_digits(minor),
        _ => false,
    }
}

pub(crate) fn locate(opts: &DiscoverOptions) -> Located {
    let mut scan = Scan::default();
    let home = opts.user_home();
    let windows = cfg!(windows);

    // PATH first: the interpreter a user gets by typing `python3` is the one
    // whose path should be shown first.
    if let Some(path) = opts.var("PATH") {
        for dir in std::env::split_paths(path) {
            // A relative entry (or an empty one, meaning the cwd) would make
            // the answer depend on where we were started from.
            if dir.is_absolute() {
                scan.bin_dir(Locator::Path, &dir);
            }
        }
    }

    if let Some(runtimes) = &opts.managed_runtimes_dir {
        // `.staging-*` folders are runtimes being built: not ours to run yet.
        for runtime in scan.subdirs(runtimes, |n| !n.starts_with('.')) {
            scan.prefix(Locator::Managed, &runtime);
            scan.prefix(Locator::Managed, &runtime.join("python"));
        }
    }

    let pyenv = opts.var("PYENV_ROOT").map(PathBuf::from).or_else(|| {
        // pyenv-win keeps its root one level down.
        let sub = if windows {
            ".pyenv/pyenv-win"
        } else {
            ".pyenv"
        };
        home.as_ref().map(|h| h.join(sub))
    });
    if let Some(root) = pyenv {
        for version in scan.subdirs(&root.join("versions"), |_| true) {
            scan.prefix(Locator::Pyenv, &version);
        }
    }

    let asdf = opts
        .var("ASDF_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".asdf")));
    let mise = opts.var("MISE_DATA_DIR").map(PathBuf::from).or_else(|| {
        if windows {
            opts.var("LOCALAPPDATA").map(|d| Path::new(d).join("mise"))
        } else {
            opts.var("XDG_DATA_HOME")
                .map(|d| Path::new(d).join("mise"))
                .or_else(|| home.as_ref().map(|h| h.join(".local/share/mise")))
        }
    });
    for (locator, root) in [(Locator::Asdf, asdf), (Locator::Mise, mise)] {
        if let Some(root) = root {
            for install in scan.subdirs(&root.join("installs/python"), |_| true) {
                scan.prefix(locator, &install);
            }
        }
    }

    let uv = opts
        .var("UV_PYTHON_INSTALL_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            if windows {
                // uv's data folder on Windows is `%APPDATA%\uv\data`.
                opts.var("APPDATA")
                    .map(|d| Path::new(d).join("uv").join("data").join("python"))
            } else {
                opts.var("XDG_DATA_HOME")
                    .map(|d| Path::new(d).join("uv/python"))
                    .or_else(|| home.as_ref().map(|h| h.join(".local/share/uv/python")))
            }
        });
    if let Some(root) = uv {
        // `.lock`, `.cache`, `.temp`: uv's bookkeeping, not installs.
        for install in scan.subdirs(&root, |n| !n.starts_with('.')) {
            scan.prefix(Locator::Uv, &install);
        }
    }

    for prefix in conda_prefixes(opts, home.as_deref(), &mut scan.out.warnings) {
        scan.prefix(Locator::Conda, &prefix);
        for env in scan.subdirs(&prefix.join("envs"), |n| !n.starts_with('.')) {
            scan.prefix(Locator::Conda, &env);
        }
    }

    for (locator, dir) in &opts.system_dirs {
        scan.bin_dir(*locator, dir);
    }

    if windows {
        windows_locations(opts, &mut scan);
    }
    scan.out
}

/// Conda prefixes in a stable order: the active one, the ones conda
/// recorded, then the usual install folders.
fn conda_prefixes(
    opts: &DiscoverOptions,
    home: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Vec<PathBuf> {
    let mut prefixes: Vec<PathBuf> = Vec::new();
    if let Some(prefix) = opts.var("CONDA_PREFIX") {
        prefixes.push(PathBuf::from(prefix));
    }
    if let Some(home) = home {
        let list = home.join(".conda").join("environments.txt");
        match fs_err::read_to_string(&list) {
            Ok(text) => prefixes.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute()),
            ),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => warnings.push(format!("could not read the conda environment list: {err}")),
        }
        for name in ["miniconda3", "anaconda3", "miniforge3", "mambaforge"] {
            prefixes.push(home.join(name));
        }
    }
    let mut seen = std::collections::HashSet::new();
    prefixes.retain(|p| seen.insert(p.clone()));
    prefixes
}

fn windows_locations(opts: &DiscoverOptions, scan: &mut Scan) {
    if let Some(local) = opts.var("LOCALAPPDATA") {
        let programs = Path::new(local).join("Programs").join("Python");
        for install in scan.subdirs(&programs, windows::is_install_dir_name) {
            scan.bin_dir(Locator::WindowsAppData, &install);
        }
    }
    if opts.query_os {
        for exe in windows::registry_executables() {
            scan.add(Locator::WindowsRegistry, exe);
        }
        for exe in windows::py_launcher_paths() {
            scan.add(Locator::PyLauncher, exe);
        }
    }
}

#[derive(Default)]
struct Scan {
    out: Located,
    index: HashMap<PathBuf, usize>,
    skipped_dirs: std::collections::HashSet<PathBuf>,
}

impl Scan {
    fn add(&mut self, locator: Locator, path: PathBuf) {
        match self.index.get(&path) {
            Some(&i) => {
                let locators = &mut self.out.candidates[i].locators;
                if !locators.contains(&locator) {
                    locators.push(locator);
                }
            }
            None => {
                self.index.insert(path.clone(), self.out.candidates.len());
                self.out.candidates.push(Candidate {
                    path,
                    locators: vec![locator],
                });
            }
        }
    }

    /// An install prefix: its interpreters live in `bin` (POSIX) or at its
    /// top (Windows, where a venv's live in `Scripts`).
    fn prefix(&mut self, locator: Locator, prefix: &Path) {
        if cfg!(windows) {
            self.bin_dir(locator, prefix);
            self.bin_dir(locator, &prefix.join("Scripts"));
        } else {
            self.bin_dir(locator, &prefix.join("bin"));
        }
    }

    fn bin_dir(&mut self, locator: Locator, dir: &Path) {
        if is_shim_dir(dir) {
            if self.skipped_dirs.insert(dir.to_path_buf()) && dir.is_dir() {
                let problem = Problem::ShimDir;
                self.out.skipped.push(Rejected {
                    path: dir.to_path_buf(),
                    kind: problem.kind(),
                    reason: problem.to_string(),
                    locators: vec![locator],
                });
            }
            return;
        }
        let windows = cfg!(windows);
        for name in self.names(dir) {
            if is_python_executable_name(&name, windows) {
                self.add(locator, dir.join(name));
            }
        }
    }

    /// Sorted UTF-8 entry names of `dir`; nothing if it is missing.
    fn names(&mut self, dir: &Path) -> Vec<String> {
        let entries = match fs_err::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                self.folder_error(err);
                return Vec::new();
            }
        };
        // Interpreter names are ASCII: a non-UTF-8 name is not one.
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// Sorted subfolders of `dir` whose names pass `keep`.
    fn subdirs(&mut self, dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
        self.names(dir)
            .into_iter()
            .filter(|n| keep(n))
            .map(|n| dir.join(n))
            .filter(|p| p.is_dir())
            .collect()
    }

    fn folder_error(&mut self, err: io::Error) {
        // Most roots do not exist on a given machine, and a PATH entry may
        // name a file: neither is worth a warning.
        if !matches!(
            err.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
        ) {
            self.out.warnings.push(err.to_string());
        }
    }
}

fn glob_dirs(parent: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = fs_err::read_dir(parent) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            keep(e.file_name().to_str()?).then(|| e.path())
        })
        .collect();
    dirs.sort();
    dirs
}

/// Shim folders of version managers (pyenv, pyenv-virtualenv, asdf, mise,
/// pyenv-win) are all named `shims`.
fn is_shim_dir(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "shims")
}

/// Decides what `path` is without running it.
pub(crate) fn classify(path: &Path) -> Classified {
    let display = path.to_string_lossy();
    if windows::is_store_alias(&display) {
        return Classified::Rejected(Problem::StoreAlias);
    }
    if let Some((prefix, cfg)) = venv_of(path) {
        return Classified::Environment { prefix, cfg };
    }
    match resolve(path) {
        Ok(resolved) => Classified::Executable(resolved),
        Err(problem) => Classified::Rejected(problem),
    }
}

/// A `pyvenv.cfg` beside the executable or one folder up makes it a virtual
/// environment, as `site.py` decides; the prefix is the folder above the
/// executable's. This looks at the path as found, not the resolved one: a
/// venv's `python` is usually a link to its base interpreter.
fn venv_of(path: &Path) -> Option<(PathBuf, PyvenvCfg)> {
    let bin = path.parent()?;
    let prefix = bin.parent()?;
    for dir in [bin, prefix] {
        let cfg_path = dir.join("pyvenv.cfg");
        match fs_err::read_to_string(&cfg_path) {
            Ok(text) => return Some((prefix.to_path_buf(), PyvenvCfg::parse(&text))),
            // An unreadable cfg still marks a venv; we just know less about it.
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                return Some((prefix.to_path_buf(), PyvenvCfg::default()));
            }
            Err(_) => {}
        }
    }
    None
}

/// Follows links to an executable file and identifies it for the cache.
pub(crate) fn resolve(path: &Path) -> Result<Resolved, Problem> {
    if windows::is_store_alias(&path.to_string_lossy()) {
        return Err(Problem::StoreAlias);
    }
    let real_path = match fs_err::canonicalize(path) {
        Ok(real) => real,
        Err(err) => {
            let is_link = fs_err::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            return Err(match (is_link, err.kind()) {
                (true, io::ErrorKind::NotFound) => Problem::Dangling {
                    target: fs_err::read_link(path).unwrap_or_default(),
                },
                _ => Problem::Unresolvable {
                    message: err.to_string(),
                },
            });
        }
    };
    let meta = fs_err::metadata(&real_path).map_err(|err| Problem::Unresolvable {
        message: err.to_string(),
    })?;
    if !meta.is_file() {
        return Err(Problem::NotAFile);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o111 == 0 {
            return Err(Problem::NotExecutable {
                mode: mode & 0o7777,
            });
        }
    }
    if let Some(manager) = shim_manager(&real_path, meta.len()) {
        return Err(Problem::Shim { manager });
    }
    let mtime_ns = meta
        .modified()
        .ok()
        .map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
        })
        .unwrap_or(0);
    Ok(Resolved {
        paths: vec![path.to_path_buf()],
        locators: Vec::new(),
        real_path,
        size: meta.len(),
        mtime_ns,
    })
}

/// The version manager a shim belongs to: mise's shims are links to the
/// `mise` binary; pyenv's and asdf's are small scripts that `exec` the
/// manager.
fn shim_manager(real_path: &Path, size: u64) -> Option<&'static str> {
    let name = real_path.file_name()?.to_str()?;
    if matches!(name, "mise" | "rtx" | "mise.exe") {
        return Some("mise");
    }
    if size > SHIM_MAX_SIZE {
        return None;
    }
    let mut head = Vec::with_capacity(1024);
    fs_err::File::open(real_path)
        .ok()?
        .take(4096)
        .read_to_end(&mut head)
        .ok()?;
    shim_manager_of_script(&head)
}

/// Recognizes the scripts pyenv (`exec "$PYENV_ROOT/libexec/pyenv" exec ...`)
/// and asdf (`exec asdf exec ...`) put in their shim folders.
pub(crate) fn shim_manager_of_script(head: &[u8]) -> Option<&'static str> {
    if !head.starts_with(b"#!") {
        return None;
    }
    let text = String::from_utf8_lossy(head);
    let execs = |manager: &str| {
        text.lines().any(|line| {
            let line = line.trim_start();
            line.starts_with("exec ") && line.contains(manager)
        })
    };
    if execs("pyenv\" exec") || execs("pyenv exec") || execs("pyenv' exec") {
        Some("pyenv")
    } else if execs("asdf\" exec") || execs("asdf exec") || execs("asdf' exec") {
        Some("asdf")
    } else if execs("mise\" x") || execs("mise x") || execs("mise exec") {
        Some("mise")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names() {
        for name in [
            "python",
            "python3",
            "python3.12",
            "python3.13t",
            "pypy3.10",
            "python2.7",
            "pypy",
        ] {
            assert!(is_python_executable_name(name, false), "{name}");
        }
        for name in [
            "python3-config",
            "python3.7m",
            "python3.11-gdb.py",
            "pythonw",
            "python3.",
            "python.3",
            "python3.1.2",
            "ipython",
            "python.exe",
            "pythont",
        ] {
            assert!(!is_python_executable_name(name, false), "{name}");
        }
        for name in ["python.exe", "python3.EXE", "python3.12.exe", "pypy.exe"] {
            assert!(is_python_executable_name(name, true), "{name}");
        }
        for name in ["pythonw.exe", "python", "python3-config.exe", "py.exe"] {
            assert!(!is_python_executable_name(name, true), "{name}");
        }
    }

    #[test]
    fn pyenv_and_asdf_shims_are_recognized() {
        let pyenv = b"#!/usr/bin/env bash\nset -e\n[ -n \"$PYENV_DEBUG\" ] && set -x\n\nprogram=\"${0##*/}\"\n\nexport PYENV_ROOT=\"/root/.pyenv\"\nexec \"/root/.pyenv/libexec/pyenv\" exec \"$program\" \"$@\"\n";
        assert_eq!(shim_manager_of_script(pyenv), Some("pyenv"));
        let asdf = b"#!/usr/bin/env bash\n# asdf-plugin: python 3.11.7\nexec /home/me/.asdf/bin/asdf exec \"python3\" \"$@\" # asdf_allow: ' asdf '\n";
        assert_eq!(shim_manager_of_script(asdf), Some("asdf"));
        assert_eq!(
            shim_manager_of_script(b"#!/bin/sh\nexec /usr/bin/python3.11 \"$@\"\n"),
            None
        );
        assert_eq!(shim_manager_of_script(b"\x7fELF..."), None);
    }

    #[test]
    fn shim_folders() {
        assert!(is_shim_dir(Path::new("/root/.pyenv/shims")));
        assert!(is_shim_dir(Path::new(
            "/root/.pyenv/plugins/pyenv-virtualenv/shims"
        )));
        assert!(is_shim_dir(Path::new("/home/me/.local/share/mise/shims")));
        assert!(!is_shim_dir(Path::new("/usr/bin")));
    }
}
