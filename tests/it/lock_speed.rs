//! `lock` resolving environments in parallel (`--jobs`), and pip's
//! resolver environments kept in `<home>/cache/resolvers/`: built once per
//! base interpreter, atomically, with pip's bytecode, reused across runs
//! and safe when two `lock`s build one at the same moment. Real pip and uv,
//! a system interpreter chosen at run time, wheels built here, offline.
//! (How fast it is, against `uv pip compile` and `pip install --report`,
//! is measured by `bench/lock.sh`.)
#![cfg(unix)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::AtomicBool;

use beep_python::installer::{Config, Kind, Selected};
use beep_python::lockfile::{self, Lock, ResolveRequest, Upgrade};
use beep_python::manifest::Installer;
use beep_python::venv::BaseInterpreter;

use crate::common::{beep, expect_exit, isolate_installers, stderr};
use crate::wheels::{WheelSpec, sha256_hex, wheel_file_name, wheelhouse};

/// A real interpreter, chosen at run time: the base of `python3` on `PATH`
/// (CI's `python3` is a venv's), else Debian's `/usr/bin/python3.11`.
#[track_caller]
pub fn system_python() -> PathBuf {
    let from_path = Command::new("python3")
        .args([
            "-c",
            "import os, sys; print(os.path.realpath(getattr(sys, '_base_executable', sys.executable)))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    from_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin/python3.11")])
        .find(|p| p.is_file())
        .expect("these tests need a real Python: `python3` on PATH or /usr/bin/python3.11")
}

/// uv on `PATH`; under `CI=true` its absence fails the test.
pub use crate::common::uv_available;

const WHEELS: &[WheelSpec] = &[
    WheelSpec {
        name: "alpha",
        version: "1.0.0",
        requires: &[],
    },
    WheelSpec {
        name: "alpha",
        version: "2.0.0",
        requires: &[],
    },
    WheelSpec {
        name: "beta",
        version: "0.5.0",
        requires: &["alpha>=1"],
    },
    WheelSpec {
        name: "gamma",
        version: "3.1.0",
        requires: &[],
    },
];

/// A project in its own folder: `environments` as `(name, packages)`, on
/// the system interpreter, offline from `wheels`.
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(root: &Path, name: &str, installer: &str, environments: &[(&str, &str)]) -> Project {
        let dir = root.join(name);
        wheelhouse(&dir.join("wheels"), WHEELS);
        let mut text = format!(
            "version = 1\n\n[settings]\ninstaller = \"{installer}\"\nfind-links = [\"wheels\"]\noffline = true\n\n[runtimes.py]\nsource = \"system\"\npath = \"{}\"\ndefault = true\n",
            system_python().display()
        );
        for (env, packages) in environments {
            text.push_str(&format!(
                "\n[environments.{env}]\npath = \".venvs/{env}\"\npackages = {packages}\n"
            ));
        }
        std::fs::write(dir.join("beep-python.toml"), text).unwrap();
        Project { dir }
    }

    fn lock_cmd(&self, home: &Path, args: &[&str]) -> Command {
        let mut cmd = beep(home);
        isolate_installers(cmd.current_dir(&self.dir))
            .env("UV_OFFLINE", "1")
            .args(["--lock-timeout", "300", "lock"])
            .args(args);
        cmd
    }

    #[track_caller]
    fn lock(&self, home: &Path, args: &[&str]) -> Output {
        let mut cmd = self.lock_cmd(home, &[]);
        cmd.args(args);
        expect_exit(cmd, &[], 0)
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("beep-python.lock")
    }

    fn lock_text(&self) -> String {
        fs_err::read_to_string(self.lock_path()).unwrap()
    }

    fn read_lock(&self) -> Lock {
        lockfile::read(&self.lock_path()).unwrap().expect("a lock")
    }

    /// `env -> [name==version]`, and every hash checked against the wheel
    /// it names.
    #[track_caller]
    fn pins(&self) -> Vec<(String, Vec<String>)> {
        self.read_lock()
            .environments
            .into_iter()
            .map(|(env, locked)| {
                let pins = locked
                    .packages
                    .iter()
                    .map(|p| {
                        let spec = WHEELS
                            .iter()
                            .find(|w| w.name == p.name && w.version == p.version)
                            .unwrap_or_else(|| {
                                panic!("{} {} is no wheel of ours", p.name, p.version)
                            });
                        let wheel = self.dir.join("wheels").join(wheel_file_name(spec));
                        assert!(
                            p.hashes.contains(&format!("sha256:{}", sha256_hex(&wheel))),
                            "{} {}: {:?}",
                            p.name,
                            p.version,
                            p.hashes
                        );
                        format!("{}=={}", p.name, p.version)
                    })
                    .collect();
                (env, pins)
            })
            .collect()
    }
}

fn strings(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs
        .iter()
        .map(|(env, pins)| {
            (
                env.to_string(),
                pins.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect()
}

/// The entries of `<home>/cache/resolvers` (staging folders included).
fn resolver_entries(home: &Path) -> Vec<PathBuf> {
    let dir = home.join("cache").join(lockfile::RESOLVERS);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

/// Two `lock` processes at once, on two manifests sharing a home, both
/// with pip on the same interpreter: both build the resolver environment
/// that neither finds, one wins the rename, both locks are right, and one
/// complete entry is left.
#[test]
fn two_concurrent_locks_sharing_a_home_both_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let a = Project::new(
        tmp.path(),
        "a",
        "pip",
        &[("web", r#"["beta"]"#), ("tools", r#"["gamma"]"#)],
    );
    let b = Project::new(tmp.path(), "b", "pip", &[("old", r#"["alpha<2"]"#)]);

    let spawn = |p: &Project| {
        p.lock_cmd(&home, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(&a), spawn(&b));
    for out in [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_eq!(
        a.pins(),
        strings(&[
            ("tools", &["gamma==3.1.0"]),
            ("web", &["alpha==2.0.0", "beta==0.5.0"]),
        ])
    );
    assert_eq!(b.pins(), strings(&[("old", &["alpha==1.0.0"])]));

    let entries = resolver_entries(&home);
    assert_eq!(entries.len(), 1, "one entry, no staging left: {entries:?}");
    assert!(entries[0].join("beep-resolver.json").is_file());
}

/// The resolver environment is built once, with pip's bytecode, and the
/// next `lock` (after the lock file is removed, so that it resolves again)
/// uses it as it is.
#[test]
fn the_resolver_environment_is_built_once_with_bytecode_and_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let p = Project::new(tmp.path(), "p", "pip", &[("web", r#"["beta"]"#)]);
    p.lock(&home, &[]);
    let entries = resolver_entries(&home);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let stamp = entries[0].join("beep-resolver.json");
    let compiled = walk(&entries[0])
        .into_iter()
        .filter(|f| {
            f.extension().is_some_and(|e| e == "pyc")
                && f.components().any(|c| c.as_os_str() == "pip")
        })
        .count();
    assert!(compiled > 100, "only {compiled} .pyc files of pip");
    let before = fs_err::metadata(&stamp).unwrap();

    fs_err::remove_file(p.lock_path()).unwrap();
    p.lock(&home, &[]);
    let after = fs_err::metadata(&stamp).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec()),
        "the entry was built again"
    );
    assert_eq!(resolver_entries(&home), entries);
    assert_eq!(
        p.pins(),
        strings(&[("web", &["alpha==2.0.0", "beta==0.5.0"])])
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// An entry without its stamp (never left by a build: it renames only a
/// stamped one into place) is not used but built anew; a leftover staging
/// folder is ignored.
#[test]
fn a_resolver_environment_without_its_stamp_is_built_again() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let p = Project::new(tmp.path(), "p", "pip", &[("tools", r#"["gamma"]"#)]);
    p.lock(&home, &[]);
    let entry = resolver_entries(&home).remove(0);
    fs_err::remove_file(entry.join("beep-resolver.json")).unwrap();
    // As a half-finished build would have it: pip's files gone too.
    let site = walk(&entry)
        .into_iter()
        .find(|f| f.ends_with("pip/__init__.py"))
        .expect("pip in the entry");
    fs_err::remove_file(&site).unwrap();
    let staging = entry.with_file_name(".staging-left-by-a-killed-run");
    fs_err::create_dir_all(staging.join("env")).unwrap();

    fs_err::remove_file(p.lock_path()).unwrap();
    p.lock(&home, &[]);
    assert!(entry.join("beep-resolver.json").is_file());
    assert!(site.is_file(), "pip was not seeded again");
    assert_eq!(p.pins(), strings(&[("tools", &["gamma==3.1.0"])]));
}

/// Threads resolving at once on an empty cache (as `lock --jobs` does
/// across environments): every one succeeds, one entry is left.
#[test]
fn resolver_environments_built_by_racing_threads_are_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let house = wheelhouse(&tmp.path().join("wheels"), WHEELS);
    let cache = tmp.path().join("cache");
    let python = system_python();
    let version = String::from_utf8(
        Command::new(&python)
            .args(["-c", "import platform; print(platform.python_version())"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let base = BaseInterpreter {
        executable: python,
        version: version.trim().to_string(),
        implementation: "cpython".into(),
    };
    let selected = Selected {
        kind: Kind::Pip,
        uv: None,
    };
    let config = Config {
        installer: Installer::Pip,
        index_url: None,
        find_links: vec![house.display().to_string()],
        offline: true,
    };
    let requirements = vec!["beta".to_string()];
    let cancel = AtomicBool::new(false);
    let barrier = std::sync::Barrier::new(3);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (base, selected, config, requirements, cache, cancel, barrier) = (
                    &base,
                    &selected,
                    &config,
                    &requirements,
                    &cache,
                    &cancel,
                    &barrier,
                );
                s.spawn(move || {
                    let environment = format!("e{i}");
                    barrier.wait();
                    lockfile::resolve(&ResolveRequest {
                        base,
                        requirements,
                        preferences: &[],
                        upgrade: &Upgrade::None,
                        selected,
                        config,
                        cache_dir: cache,
                        environment: &environment,
                        cancel,
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in results {
        let packages = result.expect("resolution succeeds");
        let pins: Vec<String> = packages
            .iter()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect();
        assert_eq!(pins, ["alpha==2.0.0", "beta==0.5.0"]);
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(cache.join(lockfile::RESOLVERS))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}

#[track_caller]
fn parallel_and_one_at_a_time_give_the_same_lock(installer: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let p = Project::new(
        tmp.path(),
        "p",
        installer,
        &[
            ("a", r#"["beta"]"#),
            ("b", r#"["gamma"]"#),
            ("c", r#"["alpha<2"]"#),
            ("d", r#"["beta", "gamma"]"#),
        ],
    );
    let out = p.lock(&home, &["--jobs", "4"]);
    for env in ["a", "b", "c", "d"] {
        assert!(
            stderr(&out).contains(&format!("resolving env.{env}")),
            "{}",
            stderr(&out)
        );
    }
    let parallel = p.lock_text();
    fs_err::remove_file(p.lock_path()).unwrap();
    p.lock(&home, &["--jobs", "1"]);
    assert_eq!(p.lock_text(), parallel);
    assert_eq!(
        p.pins(),
        strings(&[
            ("a", &["alpha==2.0.0", "beta==0.5.0"]),
            ("b", &["gamma==3.1.0"]),
            ("c", &["alpha==1.0.0"]),
            ("d", &["alpha==2.0.0", "beta==0.5.0", "gamma==3.1.0"]),
        ])
    );
}

#[test]
fn parallel_and_one_at_a_time_give_the_same_lock_with_pip() {
    parallel_and_one_at_a_time_give_the_same_lock("pip");
}

#[test]
fn parallel_and_one_at_a_time_give_the_same_lock_with_uv() {
    if uv_available() {
        parallel_and_one_at_a_time_give_the_same_lock("uv");
    }
}

/// Environments that fail while others resolve: every failure is
/// reported, and no lock is written.
#[test]
fn every_environment_that_fails_in_parallel_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let p = Project::new(
        tmp.path(),
        "p",
        "pip",
        &[
            ("fine", r#"["gamma"]"#),
            ("one", r#"["nosuch-one"]"#),
            ("two", r#"["nosuch-two"]"#),
        ],
    );
    let out = expect_exit(p.lock_cmd(&home, &["--jobs", "3"]), &[], 1);
    let err = stderr(&out);
    for expected in ["`one`", "nosuch-one", "`two`", "nosuch-two"] {
        assert!(err.contains(expected), "{expected} not in: {err}");
    }
    assert!(!p.lock_path().exists());
}

#[test]
fn lock_jobs_must_be_at_least_one() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Project::new(tmp.path(), "p", "pip", &[("tools", r#"["gamma"]"#)]);
    let out = expect_exit(
        p.lock_cmd(&tmp.path().join("home"), &["--jobs", "0"]),
        &[],
        64,
    );
    assert!(stderr(&out).contains("--jobs"), "{}", stderr(&out));
    assert!(!p.lock_path().exists());
}
