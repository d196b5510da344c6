//! Interpreter discovery against fake layouts (temp folders of symlinks) that
//! point at real interpreters chosen at run time
//! ([`crate::common::pythons`]): whatever CPython this machine has, and
//! Debian's `/usr/bin/python3.11`, whose statically linked binary is also
//! copied where a layout needs more distinct installs than the machine has.
//! The fake folders are named after the versions they hold; every expected
//! result is derived from the interpreters chosen. No Python is mocked:
//! every probe runs a real interpreter (or a real broken script).
//! Unix only: the layouts are symlinks and shell scripts; the Windows logic
//! is unit-tested in `src/discover/windows.rs`.
#![cfg(unix)]

use std::cmp::Reverse;
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use beep_python::discover::{
    self, DiscoverOptions, Discovery, Interpreter, Locator, RejectKind, Rejected,
};
use pep440_rs::{Version, VersionSpecifiers};

use crate::common::{
    DEBIAN_PYTHON, Python, any_python, copy_debian_python, debian_python, process_is_gone, python2,
    python3_older_than_3_8, pythons, require, supported_where, wait_for,
};

const DEBIAN: &str = "Debian's /usr/bin/python3.11";
const ONE_MORE: &str = "a CPython (3.8+) besides Debian's python3.11, of another version";

/// A real install for a role in a layout: one of this machine's
/// interpreters, or a copy of Debian's python3.11 (a real interpreter at a
/// path of the test's) when the machine has fewer distinct ones.
#[derive(Clone, Debug)]
struct Install {
    /// The executable (a real file, not a link).
    exe: PathBuf,
    version: String,
}

impl Install {
    fn of(python: &Python) -> Install {
        Install {
            exe: python.path.clone(),
            version: python.version.clone(),
        }
    }

    /// `3.11`
    fn short(&self) -> String {
        let mut parts = self.version.split('.');
        format!("{}.{}", parts.next().unwrap(), parts.next().unwrap())
    }

    fn parsed(&self) -> Version {
        Version::from_str(&self.version).unwrap()
    }
}

/// `count` installs with distinct executables: this machine's supported
/// interpreters other than Debian's (newest first, one per version), then
/// copies of Debian's python3.11 under `copies`.
#[track_caller]
fn installs(count: usize, copies: &Path) -> Vec<Install> {
    let debian = debian_python().expect("checked by the caller");
    let mut out: Vec<Install> = supported_where(|p| !p.is_debian() && p.version != debian.version)
        .into_iter()
        .take(count)
        .map(Install::of)
        .collect();
    let mut n = 0;
    while out.len() < count {
        n += 1;
        out.push(Install {
            exe: copy_debian_python(&copies.join(format!("copy-{n}"))),
            version: debian.version.clone(),
        });
    }
    out
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

/// A machine in a temp folder: a pyenv root with two installs, a conda env
/// listed in `environments.txt`, two PATH folders leading to Debian's
/// interpreter, a folder of broken candidates, a pyenv shim folder, and a
/// real venv.
struct Layout {
    root: tempfile::TempDir,
    /// `pyenv/versions/<v>/bin/python3`
    pyenv_a: Install,
    /// `pyenv/versions/<v>/bin/python3.X`; the venv's base.
    pyenv_b: Install,
    /// `conda-env/bin/python3`
    conda: Install,
    debian: &'static Python,
}

impl Layout {
    /// `None` when this machine lacks Debian's python3.11 or another CPython.
    fn new() -> Option<Layout> {
        let debian = debian_python()?;
        // The pyenv install the layout cannot do without: a real one of
        // another version (pyenv's python3 on a fresh machine).
        supported_where(|p| !p.is_debian() && p.version != debian.version).first()?;
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let [pyenv_a, pyenv_b, conda]: [Install; 3] =
            installs(3, &r.join("real")).try_into().unwrap();
        let layout = Layout {
            pyenv_a,
            pyenv_b,
            conda,
            debian,
            root,
        };
        let r = layout.path();
        link(&layout.pyenv_a.exe, &r.join(layout.pyenv_a_rel()));
        link(&layout.pyenv_b.exe, &r.join(layout.pyenv_b_rel()));
        write_file(&r.join("pyenv/shims/python3"), PYENV_SHIM, 0o755);

        // A conda env, plus a stale entry conda never cleaned up.
        link(&layout.conda.exe, &r.join("conda-env/bin/python3"));
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
        let status = Command::new(&layout.pyenv_b.exe)
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

    fn pyenv_a_rel(&self) -> String {
        format!("pyenv/versions/{}/bin/python3", self.pyenv_a.version)
    }

    fn pyenv_b_rel(&self) -> String {
        format!(
            "pyenv/versions/{}/bin/python{}",
            self.pyenv_b.version,
            self.pyenv_b.short()
        )
    }

    /// (version, locators, supported) of each interpreter, in discovery's
    /// order: version descending, then path.
    fn expected_summary(&self) -> Vec<(String, Vec<Locator>, bool)> {
        let debian = Install::of(self.debian);
        let mut found = [
            (&self.pyenv_a, Locator::Pyenv, self.pyenv_a_rel()),
            (&self.pyenv_b, Locator::Pyenv, self.pyenv_b_rel()),
            (
                &self.conda,
                Locator::Conda,
                "conda-env/bin/python3".to_string(),
            ),
            (&debian, Locator::Path, "a/python3".to_string()),
        ];
        found.sort_by_key(|(install, _, path)| (Reverse(install.parsed()), path.clone()));
        found
            .into_iter()
            .map(|(install, locator, _)| (install.version.clone(), vec![locator], true))
            .collect()
    }

    /// Python processes a cold discovery starts: one per interpreter, and
    /// one for each of the three broken files that can be started.
    fn expected_probes(&self) -> usize {
        4 + 3
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
    let layout = require!(format!("{DEBIAN} and {ONE_MORE}"), Layout::new());
    let r = layout.path();
    let found = discover::discover(&layout.options());

    assert_eq!(summary(&found), layout.expected_summary(), "{found:#?}");
    assert_eq!(
        found.probes_run,
        layout.expected_probes(),
        "four interpreters and three broken files"
    );
    assert!(found.warnings.is_empty(), "{:?}", found.warnings);

    // The same interpreter through two PATH folders (one of them listed
    // twice) is one entry with both paths.
    let debian = by_real_path(&found, Path::new(DEBIAN_PYTHON));
    assert_eq!(debian.paths, [r.join("a/python3"), r.join("b/python3")]);
    assert_eq!(debian.path, r.join("a/python3"));
    assert!(debian.externally_managed, "Debian ships EXTERNALLY-MANAGED");
    assert_eq!(debian.prefix, Path::new("/usr"));

    // A real interpreter of this machine, as it probed itself.
    let python = pythons()
        .iter()
        .find(|p| p.path == layout.pyenv_a.exe)
        .unwrap();
    let a = by_real_path(&found, &layout.pyenv_a.exe);
    assert_eq!(a.implementation, "cpython");
    assert_eq!(a.arch, std::env::consts::ARCH);
    assert_eq!(a.prefix, python.prefix);
    assert_eq!(a.base_prefix, a.prefix);
    assert_eq!(
        (a.has_pip, a.has_ensurepip, a.has_venv),
        (python.has_pip, python.has_ensurepip, python.has_venv)
    );
    assert!(!a.is_venv && !a.externally_managed);
    assert_eq!(a.paths, [r.join(layout.pyenv_a_rel())]);

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
        ]
    );

    // The venv on PATH is an environment of its base, not a runtime.
    assert_eq!(found.environments.len(), 1, "{:#?}", found.environments);
    let venv = &found.environments[0];
    assert_eq!(venv.path, r.join("venv"));
    assert_eq!(venv.python, r.join("venv/bin/python"));
    let base = &layout.pyenv_b;
    assert_eq!(venv.base_home.as_deref(), base.exe.parent());
    assert_eq!(venv.version.as_deref(), Some(base.version.as_str()));
    assert!(!venv.include_system_site_packages);
    assert_eq!(venv.base_interpreter.as_ref(), Some(&base.exe));
    assert_eq!(venv.locators, [Locator::Path]);
}

#[test]
fn second_run_answers_from_the_cache_and_starts_no_python() {
    let layout = require!(format!("{DEBIAN} and {ONE_MORE}"), Layout::new());
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
    assert_eq!(first.probes_run, layout.expected_probes() + 1);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let text = fs_err::read_to_string(&cache).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);

    let second = discover::discover(&opts);
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
    let python = require!("a CPython (3.8+)", any_python());
    let py = &python.path;
    let dir = tempfile::tempdir().unwrap();
    link(py, &dir.path().join("bin/python3"));
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
            [(python.version.clone(), vec![Locator::Path], true)]
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
    let pid_file = dir.path().join("pid");
    // It never answers by itself: only the kill at the timeout ends it.
    write_file(
        &hang,
        &format!(
            "#!/bin/sh\necho $$ > '{0}.tmp' && mv '{0}.tmp' '{0}'\nexec sleep 100000\n",
            pid_file.display()
        ),
        0o755,
    );
    let opts = DiscoverOptions {
        env: env(&[("PATH", &dir.path().join("bin"))]),
        cache_path: Some(dir.path().join("cache.json")),
        timeout: Duration::from_millis(300),
        ..DiscoverOptions::default()
    };
    let found = discover::discover(&opts);
    let pid = fs_err::read_to_string(&pid_file).unwrap();
    wait_for("the hanging interpreter to be killed", || {
        process_is_gone(pid.trim())
    });
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
    require!(DEBIAN, debian_python());
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    // Four installs, each reached by the locators of its role below.
    let [one, two, three, four]: [Install; 4] = installs(4, &r.join("real")).try_into().unwrap();
    let (v1, v2, v3, v4) = (&one.version, &two.version, &three.version, &four.version);
    // Our runtimes, in both layouts; a staging folder is not a runtime yet.
    let managed_one = format!("beep/runtimes/cpython-{}/bin/python3", one.short());
    link(&one.exe, &r.join(&managed_one));
    let managed_four = format!(
        "beep/runtimes/cpython-{0}/python/bin/python{0}",
        four.short()
    );
    link(&four.exe, &r.join(&managed_four));
    link(
        &two.exe,
        &r.join("beep/runtimes/.staging-1234/python/bin/python3"),
    );
    // asdf and mise, where mise's `3.X` is a link to its `3.X.Y`.
    let asdf = format!("asdf/installs/python/{v3}/bin/python3");
    link(&three.exe, &r.join(&asdf));
    let mise = format!("mise/installs/python/{v3}/bin/python3");
    link(&three.exe, &r.join(&mise));
    link(
        Path::new(v3),
        &r.join(format!("mise/installs/python/{}", three.short())),
    );
    let mise_alias = format!("mise/installs/python/{}/bin/python3", three.short());
    // uv, with its bookkeeping folders.
    let uv = format!("uv/cpython-{v2}-linux-x86_64-gnu/bin/python3");
    link(&two.exe, &r.join(&uv));
    fs_err::create_dir_all(r.join("uv/.cache/bin")).unwrap();
    link(&two.exe, &r.join("uv/.temp/bin/python3"));
    // Conda: `$CONDA_PREFIX`, a `~/miniforge3` base and one of its envs.
    link(&four.exe, &r.join("home/miniforge3/bin/python3"));
    link(&one.exe, &r.join("home/miniforge3/envs/ml/bin/python3"));
    link(&three.exe, &r.join("active-conda/bin/python"));
    // A fake /usr/bin and Homebrew.
    link(Path::new(DEBIAN_PYTHON), &r.join("usr/bin/python3"));
    let brew = format!("brew/bin/python{}", two.short());
    link(&two.exe, &r.join(&brew));

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
    let debian = Install::of(debian_python().unwrap());
    let mut expected = [
        (
            &one,
            vec![Locator::Managed, Locator::Conda],
            vec![p(&managed_one), p("home/miniforge3/envs/ml/bin/python3")],
        ),
        (
            &two,
            vec![Locator::Uv, Locator::Homebrew],
            vec![p(&uv), p(&brew)],
        ),
        (&debian, vec![Locator::System], vec![p("usr/bin/python3")]),
        (
            &three,
            vec![Locator::Asdf, Locator::Mise, Locator::Conda],
            vec![
                p(&asdf),
                p(&mise_alias),
                p(&mise),
                p("active-conda/bin/python"),
            ],
        ),
        (
            &four,
            vec![Locator::Managed, Locator::Conda],
            vec![p(&managed_four), p("home/miniforge3/bin/python3")],
        ),
    ];
    // Version descending, then path.
    expected.sort_by_key(|(install, _, paths)| (Reverse(install.parsed()), paths[0].clone()));
    let expected: Vec<(&str, Vec<Locator>, Vec<PathBuf>)> = expected
        .into_iter()
        .map(|(install, locators, paths)| (install.version.as_str(), locators, paths))
        .collect();
    assert_eq!(located, expected, "installs: {v1} {v2} {v3} {v4}");
    assert_eq!(found.probes_run, 5);
}

/// The probe finds a venv whatever the version: Python before 3.11 only
/// moves `sys.prefix` into a venv when `site` runs, which the probe skips,
/// so there the probe must find the venv itself. Every version this machine
/// has (with pip to see through `--system-site-packages`) is tried.
#[test]
fn probe_one_reports_venvs() {
    let bases = supported_where(|p| p.has_venv && p.has_pip);
    require!(
        "a CPython (3.8+) with the venv module and pip",
        (!bases.is_empty()).then_some(())
    );
    let dir = tempfile::tempdir().unwrap();
    for base in bases {
        let venv = dir.path().join(format!("venv-{}", base.version));
        let status = Command::new(&base.path)
            .args(["-m", "venv", "--without-pip", "--system-site-packages"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(status.success());
        let inside = discover::probe_one(&venv.join("bin/python")).unwrap();
        assert!(inside.is_venv, "{}", base.version);
        assert_eq!(inside.prefix, venv);
        assert_eq!(inside.base_prefix, base.prefix);
        assert_eq!(inside.version, base.version);
        assert!(
            inside.has_pip,
            "{}: pip comes from the base through --system-site-packages",
            base.version
        );
        assert_eq!(inside.locators, [Locator::Explicit]);
    }

    let missing = discover::probe_one(&dir.path().join("nope")).unwrap_err();
    assert_eq!(missing.kind, RejectKind::Unresolvable);
}

/// Through a link, as `/usr/bin/python3` is one.
#[test]
fn probe_one_reports_debian_python_as_externally_managed() {
    let debian = require!(DEBIAN, debian_python());
    let dir = tempfile::tempdir().unwrap();
    let python3 = dir.path().join("python3");
    link(Path::new(DEBIAN_PYTHON), &python3);
    let found = discover::probe_one(&python3).unwrap();
    assert_eq!(found.version, debian.version);
    assert_eq!(found.real_path, Path::new(DEBIAN_PYTHON));
    assert!(found.externally_managed && !found.is_venv);
}

/// A real Python 2 answers the probe with its version only, and is
/// rejected by it, alone or in a pyenv root.
#[test]
fn python2_is_rejected_naming_its_version() {
    let py2 = require!("a Python 2 interpreter", python2());
    let rejected = discover::probe_one(&py2.path).unwrap_err();
    assert_eq!(rejected.kind, RejectKind::Python2);
    let reason = format!("Python {} is not supported", py2.version);
    assert_eq!(rejected.reason, reason);

    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let rel = format!(
        "pyenv/versions/{}/bin/python{}.{}",
        py2.version, py2.major, py2.minor
    );
    link(&py2.path, &r.join(&rel));
    let found = discover::discover(&DiscoverOptions {
        env: env(&[("PYENV_ROOT", &r.join("pyenv")), ("HOME", r)]),
        ..DiscoverOptions::default()
    });
    assert!(found.interpreters.is_empty(), "{:#?}", found.interpreters);
    assert_eq!(
        rejections(&found, r),
        [(PathBuf::from(rel), RejectKind::Python2, reason)]
    );
    assert_eq!(found.probes_run, 1);
}

/// A Python 3 older than 3.8 is found, marked unsupported with the reason,
/// and never chosen.
#[test]
fn a_python_older_than_3_8_is_found_but_unsupported() {
    let old = require!("a Python 3 older than 3.8", python3_older_than_3_8());
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    link(
        &old.path,
        &r.join(format!("pyenv/versions/{}/bin/python3", old.version)),
    );
    let found = discover::discover(&DiscoverOptions {
        env: env(&[("PYENV_ROOT", &r.join("pyenv")), ("HOME", r)]),
        ..DiscoverOptions::default()
    });
    assert_eq!(
        summary(&found),
        [(old.version.clone(), vec![Locator::Pyenv], false)]
    );
    assert_eq!(
        found.interpreters[0].unsupported_reason,
        Some(format!(
            "Python {} is older than 3.8, the oldest version supported for environments",
            old.version
        ))
    );
    let spec: VersionSpecifiers = format!("=={}", old.version).parse().unwrap();
    assert!(discover::find_best(&found.interpreters, &spec).is_none());
    assert!(discover::find_best(&found.interpreters, &"<3.8".parse().unwrap()).is_none());
}

#[test]
fn find_best_picks_the_highest_supported_match() {
    let layout = require!(format!("{DEBIAN} and {ONE_MORE}"), Layout::new());
    let found = discover::discover(&layout.options());
    let best = |spec: &str| {
        let spec: VersionSpecifiers = spec.parse().unwrap();
        discover::find_best(&found.interpreters, &spec).map(|i| i.version.clone())
    };
    let mut versions: Vec<Install> = vec![
        layout.pyenv_a.clone(),
        layout.pyenv_b.clone(),
        layout.conda.clone(),
        Install::of(layout.debian),
    ];
    versions.sort_by_key(|i| Reverse(i.parsed()));
    let highest = &versions[0];
    // The highest one below the highest (Debian's is always another version
    // than the pyenv install the layout requires).
    let next = versions
        .iter()
        .find(|i| i.version != highest.version)
        .unwrap();
    for install in &versions {
        let v = &install.version;
        assert_eq!(best(&format!("=={v}")).as_ref(), Some(v));
    }
    assert_eq!(best(">=3").as_ref(), Some(&highest.version));
    assert_eq!(
        best(&format!("<{}", highest.version)).as_ref(),
        Some(&next.version)
    );
    assert_eq!(
        best(&format!(">={},<{}", next.version, highest.version)).as_ref(),
        Some(&next.version)
    );
    // A series: its highest member.
    let series = highest.short();
    assert_eq!(
        best(&format!("=={series}.*")).as_ref(),
        Some(&highest.version)
    );
    assert_eq!(best(&format!(">{}", highest.version)), None);
}

/// The real machine, as the CLI sees it: every interpreter the suite found
/// on its own ([`pythons`]) is discovered (or, for Python 2, rejected).
/// `bench/discover.sh` times it.
#[test]
fn real_machine_discovery_is_complete_and_cached() {
    require!(
        "a CPython interpreter",
        (!pythons().is_empty()).then_some(())
    );
    let home = tempfile::tempdir().unwrap();
    let opts = DiscoverOptions::from_process_env(home.path());
    let cold = discover::discover(&opts);
    let warm = discover::discover(&opts);
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    let pyenv_versions = pyenv_root.as_ref().map(|r| r.join("versions"));
    for python in pythons() {
        if python.major == 2 {
            assert!(
                cold.rejected.iter().any(|r| r.kind == RejectKind::Python2
                    && fs_err::canonicalize(&r.path).ok().as_ref() == Some(&python.path)),
                "{} is rejected as Python 2: {:#?}",
                python.path.display(),
                cold.rejected
            );
            continue;
        }
        let i = by_real_path(&cold, &python.path);
        if pyenv_versions
            .as_ref()
            .is_some_and(|v| python.path.starts_with(v))
        {
            assert!(i.locators.contains(&Locator::Pyenv), "{i:#?}");
        }
    }
    if let Some(root) = &pyenv_root {
        assert!(
            cold.rejected
                .iter()
                .all(|r| r.path.parent() != Some(root.join("shims").as_path())),
            "shims are never candidates (their folder may be named as skipped)"
        );
    }
    assert_eq!(warm.probes_run, 0);
    assert_eq!(warm.interpreters, cold.interpreters);
}
