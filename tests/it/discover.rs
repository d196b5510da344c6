//! Interpreter discovery against fake layouts (temp folders of symlinks) that
//! point at the real interpreters of the dev machine and CI: pyenv's
//! `/root/.pyenv/versions/*` and Debian's `/usr/bin/python3.11`. No Python is
//! mocked: every probe runs a real interpreter (or a real broken script).
//! Unix only: the layouts are symlinks and shell scripts; the Windows logic
//! is unit-tested in `src/discover/windows.rs`.
#![cfg(unix)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use beep_python::discover::{
    self, DiscoverOptions, Discovery, Interpreter, Locator, RejectKind, Rejected,
};
use pep440_rs::VersionSpecifiers;

const PYENV: &str = "/root/.pyenv/versions";
const DEBIAN_PYTHON: &str = "/usr/bin/python3.11";

/// The real interpreter of a pyenv version, or `None` (with a note) when
/// this machine has no pyenv at all.
#[track_caller]
fn pyenv(version: &str) -> Option<PathBuf> {
    if !Path::new("/root/.pyenv").exists() {
        eprintln!(
            "note: /root/.pyenv does not exist; skipping a discovery test that needs real interpreters"
        );
        return None;
    }
    let mut parts = version.split('.');
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    let exe = Path::new(PYENV)
        .join(version)
        .join(format!("bin/python{major}.{minor}"));
    assert!(
        exe.exists(),
        "{} is missing: the dev machine should have it",
        exe.display()
    );
    Some(exe)
}

#[track_caller]
fn link(target: &Path, at: &Path) {
    fs_err::create_dir_all(at.parent().unwrap()).unwrap();
    symlink(target, at).unwrap();
}

#[track_caller]
fn write_file(path: &Path, text: &str, mode: u32) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn env(vars: &[(&str, &Path)]) -> HashMap<String, OsString> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
        .collect()
}

fn path_var(dirs: &[&Path]) -> PathBuf {
    PathBuf::from(std::env::join_paths(dirs).unwrap())
}

#[track_caller]
fn by_real_path<'a>(found: &'a Discovery, real: &Path) -> &'a Interpreter {
    let real = fs_err::canonicalize(real).unwrap();
    found
        .interpreters
        .iter()
        .find(|i| i.real_path == real)
        .unwrap_or_else(|| panic!("{} not found in {:#?}", real.display(), found.interpreters))
}

fn summary(found: &Discovery) -> Vec<(String, Vec<Locator>, bool)> {
    found
        .interpreters
        .iter()
        .map(|i| (i.version.clone(), i.locators.clone(), i.supported))
        .collect()
}

fn rejections(found: &Discovery, root: &Path) -> Vec<(PathBuf, RejectKind, String)> {
    found
        .rejected
        .iter()
        .map(|r| {
            (
                r.path.strip_prefix(root).unwrap_or(&r.path).to_path_buf(),
                r.kind,
                r.reason.clone(),
            )
        })
        .collect()
}

const PYENV_SHIM: &str = "#!/usr/bin/env bash\nset -e\n[ -n \"$PYENV_DEBUG\" ] && set -x\n\nprogram=\"${0##*/}\"\n\nexport PYENV_ROOT=\"/root/.pyenv\"\nexec \"/root/.pyenv/libexec/pyenv\" exec \"$program\" \"$@\"\n";

/// A machine in a temp folder: a pyenv root, a conda env listed in
/// `environments.txt`, two PATH folders leading to the same interpreter, a
/// folder of broken candidates, a pyenv shim folder, and a real venv.
struct Layout {
    root: tempfile::TempDir,
}

impl Layout {
    fn new() -> Option<Layout> {
        let py312 = pyenv("3.12.1")?;
        let layout = Layout {
            root: tempfile::tempdir().unwrap(),
        };
        let r = layout.path();
        link(&py312, &r.join("pyenv/versions/3.12.1/bin/python3"));
        link(
            &pyenv("3.11.7")?,
            &r.join("pyenv/versions/3.11.7/bin/python3.11"),
        );
        link(
            &pyenv("3.8.18")?,
            &r.join("pyenv/versions/3.8.18/bin/python3"),
        );
        link(
            &pyenv("3.7.16")?,
            &r.join("pyenv/versions/3.7.16/bin/python3"),
        );
        link(
            &pyenv("2.7.18")?,
            &r.join("pyenv/versions/2.7.18/bin/python2.7"),
        );
        write_file(&r.join("pyenv/shims/python3"), PYENV_SHIM, 0o755);

        // A conda env, plus a stale entry conda never cleaned up.
        link(&pyenv("3.10.13")?, &r.join("conda-env/bin/python3"));
        write_file(
            &r.join("home/.conda/environments.txt"),
            &format!(
                "{}\n{}\n",
                r.join("conda-env").display(),
                r.join("deleted-env").display()
            ),
            0o644,
        );

        link(Path::new(DEBIAN_PYTHON), &r.join("a/python3"));
        link(Path::new(DEBIAN_PYTHON), &r.join("b/python3"));

        link(Path::new("/nonexistent/python3"), &r.join("broken/python3"));
        write_file(
            &r.join("broken/python3.99"),
            "#!/bin/sh\necho 'boom' >&2\nexit 1\n",
            0o755,
        );
        write_file(&r.join("broken/python3.98"), "not a program\n", 0o644);
        write_file(
            &r.join("broken/python3.97"),
            "#!/bin/sh\nkill -SEGV $$\n",
            0o755,
        );
        write_file(&r.join("broken/python"), PYENV_SHIM, 0o755);
        write_file(&r.join("broken/python3.96"), "garbage, no shebang\n", 0o755);

        let venv = r.join("venv");
        let status = Command::new(pyenv("3.11.7")?)
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(status.success(), "creating a venv failed");
        Some(layout)
    }

    fn path(&self) -> &Path {
        self.root.path()
    }

    fn options(&self) -> DiscoverOptions {
        let r = self.path();
        let path = path_var(&[
            &r.join("pyenv/shims"),
            &r.join("a"),
            &r.join("b"),
            &r.join("broken"),
            &r.join("venv/bin"),
            &r.join("a"),
            Path::new("relative/dir"),
        ]);
        DiscoverOptions {
            env: env(&[
                ("PATH", &path),
                ("HOME", &r.join("home")),
                ("PYENV_ROOT", &r.join("pyenv")),
            ]),
            ..DiscoverOptions::default()
        }
    }
}

#[test]
fn fake_layout_finds_every_interpreter_and_explains_every_rejection() {
    let Some(layout) = Layout::new() else { return };
    let r = layout.path();
    let found = discover::discover(&layout.options());

    assert_eq!(
        summary(&found),
        [
            ("3.12.1".to_string(), vec![Locator::Pyenv], true),
            ("3.11.7".to_string(), vec![Locator::Pyenv], true),
            ("3.11.2".to_string(), vec![Locator::Path], true),
            ("3.10.13".to_string(), vec![Locator::Conda], true),
            ("3.8.18".to_string(), vec![Locator::Pyenv], true),
            ("3.7.16".to_string(), vec![Locator::Pyenv], false),
        ],
        "{found:#?}"
    );
    assert_eq!(
        found.probes_run, 10,
        "six interpreters, three broken files and Python 2"
    );
    assert!(found.warnings.is_empty(), "{:?}", found.warnings);

    // The same interpreter through two PATH folders (one of them listed
    // twice) is one entry with both paths.
    let debian = by_real_path(&found, Path::new(DEBIAN_PYTHON));
    assert_eq!(debian.paths, [r.join("a/python3"), r.join("b/python3")]);
    assert_eq!(debian.path, r.join("a/python3"));
    assert!(debian.externally_managed, "Debian ships EXTERNALLY-MANAGED");
    assert_eq!(debian.prefix, Path::new("/usr"));

    let py312 = by_real_path(&found, &pyenv("3.12.1").unwrap());
    assert_eq!(py312.implementation, "cpython");
    assert_eq!(py312.arch, std::env::consts::ARCH);
    assert_eq!(py312.prefix, Path::new(PYENV).join("3.12.1"));
    assert_eq!(py312.base_prefix, py312.prefix);
    assert!(py312.has_pip && py312.has_ensurepip && py312.has_venv);
    assert!(!py312.is_venv && !py312.externally_managed);

    let py37 = by_real_path(&found, &pyenv("3.7.16").unwrap());
    assert_eq!(
        py37.unsupported_reason.as_deref(),
        Some("Python 3.7.16 is older than 3.8, the oldest version supported for environments")
    );

    assert_eq!(
        rejections(&found, r),
        [
            (
                PathBuf::from("broken/python"),
                RejectKind::Shim,
                "pyenv shim, not an interpreter (the pyenv locator reads its installs directly)"
                    .to_string()
            ),
            (
                PathBuf::from("broken/python3"),
                RejectKind::DanglingSymlink,
                "dangling symlink to `/nonexistent/python3`".to_string()
            ),
            (
                PathBuf::from("broken/python3.96"),
                RejectKind::SpawnFailed,
                "could not be started: Exec format error (os error 8)".to_string()
            ),
            (
                PathBuf::from("broken/python3.97"),
                RejectKind::Failed,
                "the probe failed (killed by signal 11 (SIGSEGV))".to_string()
            ),
            (
                PathBuf::from("broken/python3.98"),
                RejectKind::NotExecutable,
                "not executable (mode 644)".to_string()
            ),
            (
                PathBuf::from("broken/python3.99"),
                RejectKind::Failed,
                "the probe failed (exit status 1): boom".to_string()
            ),
            (
                PathBuf::from("pyenv/shims"),
                RejectKind::Shim,
                "shim folder of a version manager, skipped (install folders are read directly)"
                    .to_string()
            ),
            (
                PathBuf::from("pyenv/versions/2.7.18/bin/python2.7"),
                RejectKind::Python2,
                "Python 2.7.18 is not supported".to_string()
            ),
        ]
    );

    // The venv on PATH is an environment of its base, not a runtime.
    assert_eq!(found.environments.len(), 1, "{:#?}", found.environments);
    let venv = &found.environments[0];
    assert_eq!(venv.path, r.join("venv"));
    assert_eq!(venv.python, r.join("venv/bin/python"));
    assert_eq!(
        venv.base_home.as_deref(),
        Some(Path::new(PYENV).join("3.11.7/bin").as_path())
    );
    assert_eq!(venv.version.as_deref(), Some("3.11.7"));
    assert!(!venv.include_system_site_packages);
    assert_eq!(venv.base_interpreter, Some(pyenv("3.11.7").unwrap()));
    assert_eq!(venv.locators, [Locator::Path]);
}

#[test]
fn second_run_answers_from_the_cache_and_starts_no_python() {
    let Some(layout) = Layout::new() else { return };
    let r = layout.path();
    // A wrapper we own, so that its mtime can change: it runs a real Python.
    let wrapper = r.join("wrapper/python3");
    write_file(
        &wrapper,
        &format!("#!/bin/sh\nexec {DEBIAN_PYTHON} \"$@\"\n"),
        0o755,
    );
    let mut opts = layout.options();
    let mut path = vec![r.join("wrapper")];
    path.extend(std::env::split_paths(&opts.env["PATH"]));
    opts.env
        .insert("PATH".into(), std::env::join_paths(path).unwrap());
    let cache = r.join("home/.beep-python/cache/interpreters.json");
    opts.cache_path = Some(cache.clone());

    let first = discover::discover(&opts);
    assert_eq!(first.probes_run, 11);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let text = fs_err::read_to_string(&cache).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);

    let started = Instant::now();
    let second = discover::discover(&opts);
    let cached = started.elapsed();
    assert_eq!(
        second.probes_run, 0,
        "everything, failures included, came from the cache"
    );
    assert_eq!(second.interpreters, first.interpreters);
    assert_eq!(second.rejected, first.rejected);
    assert_eq!(second.environments, first.environments);
    assert_eq!(
        fs_err::read_to_string(&cache).unwrap(),
        text,
        "a cached run writes nothing"
    );
    eprintln!("cached discovery of the fake layout: {cached:?}");

    // Touching one executable re-probes that one only.
    let later = SystemTime::now() + Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&wrapper)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let third = discover::discover(&opts);
    assert_eq!(third.probes_run, 1);
    let wrapped = by_real_path(&third, &wrapper);
    assert_eq!(
        wrapped.version,
        by_real_path(&third, Path::new(DEBIAN_PYTHON)).version
    );
    assert_eq!(discover::discover(&opts).probes_run, 0);
}

#[test]
fn corrupt_or_newer_cache_is_ignored_and_rewritten() {
    let Some(py) = pyenv("3.9.18") else { return };
    let dir = tempfile::tempdir().unwrap();
    link(&py, &dir.path().join("bin/python3"));
    let cache = dir.path().join("cache/interpreters.json");
    let opts = DiscoverOptions {
        env: env(&[("PATH", &dir.path().join("bin"))]),
        cache_path: Some(cache.clone()),
        ..DiscoverOptions::default()
    };
    for garbage in [
        "{not json",
        r#"{"version": 99, "entries": "from the future"}"#,
    ] {
        write_file(&cache, garbage, 0o644);
        let found = discover::discover(&opts);
        assert_eq!(
            summary(&found),
            [("3.9.18".to_string(), vec![Locator::Path], true)]
        );
        assert_eq!(found.probes_run, 1);
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
        assert!(
            found.warnings[0].contains("ignored the interpreter cache"),
            "{:?}",
            found.warnings
        );
        let json: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(&cache).unwrap()).unwrap();
        assert_eq!(json["version"], 1, "rewritten in the current format");
        assert_eq!(discover::discover(&opts).probes_run, 0);
    }
}

#[test]
fn a_hanging_interpreter_is_killed_at_the_timeout_and_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let hang = dir.path().join("bin/python3");
    write_file(&hang, "#!/bin/sh\nsleep 30\n", 0o755);
    let opts = DiscoverOptions {
        env: env(&[("PATH", &dir.path().join("bin"))]),
        cache_path: Some(dir.path().join("cache.json")),
        timeout: Duration::from_millis(300),
        ..DiscoverOptions::default()
    };
    let started = Instant::now();
    let found = discover::discover(&opts);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        found.rejected,
        [Rejected {
            path: hang.clone(),
            kind: RejectKind::TimedOut,
            reason: "timed out after 300ms".to_string(),
            locators: vec![Locator::Path],
        }]
    );
    // A timeout may be a loaded machine: it is asked again next time.
    assert_eq!(discover::discover(&opts).probes_run, 1);
}

#[test]
fn every_locator_reads_its_own_layout() {
    let (Some(py313), Some(py310), Some(py39), Some(py312)) = (
        pyenv("3.13.0"),
        pyenv("3.10.13"),
        pyenv("3.9.18"),
        pyenv("3.12.1"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    // Our runtimes, in both layouts; a staging folder is not a runtime yet.
    link(&py313, &r.join("beep/runtimes/cpython-3.13/bin/python3"));
    link(
        &py39,
        &r.join("beep/runtimes/cpython-3.9/python/bin/python3.9"),
    );
    link(
        &py312,
        &r.join("beep/runtimes/.staging-1234/python/bin/python3"),
    );
    // asdf and mise, where mise's `3.10` is a link to its `3.10.13`.
    link(&py310, &r.join("asdf/installs/python/3.10.13/bin/python3"));
    link(&py310, &r.join("mise/installs/python/3.10.13/bin/python3"));
    link(Path::new("3.10.13"), &r.join("mise/installs/python/3.10"));
    // uv, with its bookkeeping folders.
    link(
        &py312,
        &r.join("uv/cpython-3.12.1-linux-x86_64-gnu/bin/python3"),
    );
    fs_err::create_dir_all(r.join("uv/.cache/bin")).unwrap();
    link(&py312, &r.join("uv/.temp/bin/python3"));
    // Conda: `$CONDA_PREFIX`, a `~/miniforge3` base and one of its envs.
    link(&py39, &r.join("home/miniforge3/bin/python3"));
    link(&py313, &r.join("home/miniforge3/envs/ml/bin/python3"));
    link(&py310, &r.join("active-conda/bin/python"));
    // A fake /usr/bin and Homebrew.
    link(Path::new(DEBIAN_PYTHON), &r.join("usr/bin/python3"));
    link(&py312, &r.join("brew/bin/python3.12"));

    let opts = DiscoverOptions {
        env: env(&[
            ("HOME", &r.join("home")),
            ("ASDF_DATA_DIR", &r.join("asdf")),
            ("MISE_DATA_DIR", &r.join("mise")),
            ("UV_PYTHON_INSTALL_DIR", &r.join("uv")),
            ("CONDA_PREFIX", &r.join("active-conda")),
        ]),
        system_dirs: vec![
            (Locator::Homebrew, r.join("brew/bin")),
            (Locator::System, r.join("usr/bin")),
        ],
        managed_runtimes_dir: Some(r.join("beep/runtimes")),
        ..DiscoverOptions::default()
    };
    let found = discover::discover(&opts);
    assert!(found.rejected.is_empty(), "{:#?}", found.rejected);
    let located: Vec<(&str, Vec<Locator>, Vec<PathBuf>)> = found
        .interpreters
        .iter()
        .map(|i| {
            let paths = i
                .paths
                .iter()
                .map(|p| p.strip_prefix(r).unwrap().to_path_buf())
                .collect();
            (i.version.as_str(), i.locators.clone(), paths)
        })
        .collect();
    let p = |s: &str| PathBuf::from(s);
    assert_eq!(
        located,
        [
            (
                "3.13.0",
                vec![Locator::Managed, Locator::Conda],
                vec![
                    p("beep/runtimes/cpython-3.13/bin/python3"),
                    p("home/miniforge3/envs/ml/bin/python3")
                ]
            ),
            (
                "3.12.1",
                vec![Locator::Uv, Locator::Homebrew],
                vec![
                    p("uv/cpython-3.12.1-linux-x86_64-gnu/bin/python3"),
                    p("brew/bin/python3.12")
                ]
            ),
            ("3.11.2", vec![Locator::System], vec![p("usr/bin/python3")]),
            (
                "3.10.13",
                vec![Locator::Asdf, Locator::Mise, Locator::Conda],
                vec![
                    p("asdf/installs/python/3.10.13/bin/python3"),
                    p("mise/installs/python/3.10/bin/python3"),
                    p("mise/installs/python/3.10.13/bin/python3"),
                    p("active-conda/bin/python"),
                ]
            ),
            (
                "3.9.18",
                vec![Locator::Managed, Locator::Conda],
                vec![
                    p("beep/runtimes/cpython-3.9/python/bin/python3.9"),
                    p("home/miniforge3/bin/python3")
                ]
            ),
        ]
    );
    assert_eq!(found.probes_run, 5);
}

#[test]
fn probe_one_reports_venvs_and_rejects_python2() {
    let (Some(py39), Some(py27)) = (pyenv("3.9.18"), pyenv("2.7.18")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Python 3.9 only moves sys.prefix into a venv when `site` runs, which
    // the probe skips: the probe must find the venv itself.
    let venv = dir.path().join("venv39");
    let status = Command::new(&py39)
        .args(["-m", "venv", "--without-pip", "--system-site-packages"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success());
    let inside = discover::probe_one(&venv.join("bin/python")).unwrap();
    assert!(inside.is_venv);
    assert_eq!(inside.prefix, venv);
    assert_eq!(inside.base_prefix, Path::new(PYENV).join("3.9.18"));
    assert_eq!(inside.version, "3.9.18");
    assert!(
        inside.has_pip,
        "pip comes from the base through --system-site-packages"
    );
    assert_eq!(inside.locators, [Locator::Explicit]);

    let debian = discover::probe_one(Path::new("/usr/bin/python3")).unwrap();
    assert!(debian.version.starts_with("3.11."), "{}", debian.version);
    assert_eq!(debian.real_path, Path::new(DEBIAN_PYTHON));
    assert!(debian.externally_managed && !debian.is_venv);

    let rejected = discover::probe_one(&py27).unwrap_err();
    assert_eq!(rejected.kind, RejectKind::Python2);
    assert_eq!(rejected.reason, "Python 2.7.18 is not supported");

    let missing = discover::probe_one(&dir.path().join("nope")).unwrap_err();
    assert_eq!(missing.kind, RejectKind::Unresolvable);
}

#[test]
fn find_best_picks_the_highest_supported_match() {
    let Some(layout) = Layout::new() else { return };
    let found = discover::discover(&layout.options());
    let best = |spec: &str| {
        let spec: VersionSpecifiers = spec.parse().unwrap();
        discover::find_best(&found.interpreters, &spec).map(|i| i.version.clone())
    };
    assert_eq!(best(">=3.10,<3.12").as_deref(), Some("3.11.7"));
    assert_eq!(best("==3.11.*").as_deref(), Some("3.11.7"));
    assert_eq!(best("~=3.11.0,<3.11.5").as_deref(), Some("3.11.2"));
    assert_eq!(best(">=3").as_deref(), Some("3.12.1"));
    assert_eq!(best("<3.8"), None, "3.7 is found but unsupported");
    assert_eq!(best(">=3.14"), None);
}

/// The real machine, as the CLI sees it; prints timings for the report.
#[test]
fn real_machine_discovery_is_complete_and_cached() {
    if pyenv("3.12.1").is_none() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let opts = DiscoverOptions::from_process_env(home.path());
    let started = Instant::now();
    let cold = discover::discover(&opts);
    let cold_time = started.elapsed();
    let started = Instant::now();
    let warm = discover::discover(&opts);
    let warm_time = started.elapsed();
    eprintln!(
        "real machine: {} interpreters, {} rejected, cold {cold_time:?} ({} probes), cached {warm_time:?}",
        cold.interpreters.len(),
        cold.rejected.len(),
        cold.probes_run
    );
    for version in [
        "3.13.0", "3.12.1", "3.11.7", "3.10.13", "3.9.18", "3.8.18", "3.7.16", "3.6.15",
    ] {
        let i = by_real_path(&cold, &pyenv(version).unwrap());
        assert!(i.locators.contains(&Locator::Pyenv), "{i:#?}");
    }
    by_real_path(&cold, Path::new(DEBIAN_PYTHON));
    assert!(cold.rejected.iter().any(|r| r.kind == RejectKind::Python2));
    assert!(
        cold.rejected
            .iter()
            .all(|r| r.path != Path::new("/root/.pyenv/shims/python3")),
        "shims are never candidates"
    );
    assert_eq!(warm.probes_run, 0);
    assert_eq!(warm.interpreters, cold.interpreters);
}
