//! `beep_python::installer` against real pip and uv, offline: packages come
//! from wheelhouses the tests build (`--no-index --find-links`), into real
//! virtual environments.
//!
//! Every test runs both installers: pip, and uv from `PATH` (`.ci/run`
//! installs it; elsewhere a test without uv is skipped, visibly). Unix only: the environments' layout
//! (`bin/python`) and the fake programs are Unix ones.
#![cfg(unix)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use beep_python::installer::{self, Config, InstallError, Kind, Request, Selected};
use beep_python::manifest::Installer;
use beep_python::report;

use crate::common::{Python, python_where, require};
use crate::wheels::{WheelSpec, wheelhouse};

/// The interpreter the tests make environments with: `python -m venv`
/// must give them pip (so that `pip list` works for both installers).
pub fn base_python() -> Option<&'static Python> {
    python_where(Python::makes_venvs_with_pip)
}

/// What [`base_python`] needs, for [`require!`].
pub const BASE_PYTHON: &str = "a CPython (3.8+) whose `python -m venv` installs pip (ensurepip)";

/// What [`uv`] needs, for [`require!`].
pub const UV: &str = "`uv` on PATH";

/// A virtual environment with pip (so that `pip list` works for both
/// installers); returns its interpreter.
#[track_caller]
fn make_venv(base: &Python, dir: &Path) -> PathBuf {
    let out = Command::new(&base.path)
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .expect("running python -m venv");
    assert!(out.status.success(), "python -m venv failed: {out:?}");
    dir.join("bin/python")
}

/// A virtual environment without pip; returns its interpreter.
#[track_caller]
fn venv_without_pip(base: &Python, dir: &Path) -> PathBuf {
    let out = Command::new(&base.path)
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .output()
        .expect("running python -m venv");
    assert!(out.status.success(), "python -m venv failed: {out:?}");
    dir.join("bin/python")
}

/// The wheelhouse every test installs from: `beep-it-alpha` needs
/// `beep-it-beta>=2`, and an older beta is there to be passed over.
#[track_caller]
fn house(dir: &Path) -> PathBuf {
    wheelhouse(
        &dir.join("wheels"),
        &[
            WheelSpec {
                name: "beep-it-alpha",
                version: "1.0",
                requires: &["beep-it-beta>=2"],
            },
            WheelSpec {
                name: "beep-it-beta",
                version: "1.0",
                requires: &[],
            },
            WheelSpec {
                name: "beep-it-beta",
                version: "2.1",
                requires: &[],
            },
            WheelSpec {
                name: "beep-it-gamma",
                version: "0.3",
                requires: &[],
            },
        ],
    )
}

fn offline(installer: Installer, house: &Path) -> Config {
    Config {
        installer,
        index_url: None,
        find_links: vec![house.display().to_string()],
        offline: true,
    }
}

fn pip() -> Selected {
    Selected {
        kind: Kind::Pip,
        uv: None,
    }
}

/// uv as `select` finds it on the real `PATH`.
pub fn uv() -> Option<Selected> {
    let config = Config {
        installer: Installer::Uv,
        ..Config::default()
    };
    installer::select(&config, std::env::var_os("PATH").as_deref()).ok()
}

/// Every installer to test: pip and uv.
fn kinds(uv: Selected) -> [(Selected, Installer); 2] {
    [(pip(), Installer::Pip), (uv, Installer::Uv)]
}

/// `name -> version` of what is installed, from `pip list --format json`.
#[track_caller]
fn installed(python: &Path) -> Vec<(String, String)> {
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "list",
            "--format",
            "json",
            "--disable-pip-version-check",
        ])
        .output()
        .expect("running pip list");
    assert!(out.status.success(), "pip list failed: {out:?}");
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("pip list prints JSON");
    let mut packages: Vec<(String, String)> = list
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_lowercase(),
                p["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .filter(|(name, _)| name.starts_with("beep-it-") || name.starts_with("beep_it_"))
        .collect();
    packages.sort();
    packages
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn installs_a_package_and_its_dependency_from_a_local_wheelhouse() {
    let base = require!(BASE_PYTHON, base_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = house(tmp.path());
        let python = make_venv(base, &tmp.path().join("venv"));
        let config = offline(which, &house);
        let requirements = strings(&["beep-it-alpha"]);
        let outcome = installer::install(
            &selected,
            &config,
            &Request {
                python: &python,
                requirements: &requirements,
                environment: "analysis",
            },
        )
        .unwrap_or_else(|e| {
            panic!(
                "{} install failed: {}",
                selected.kind,
                report::render(&e, false)
            )
        });
        assert!(
            !outcome.stdout_tail.is_empty(),
            "{}: no output kept",
            selected.kind
        );
        assert!(
            outcome.command.contains("--no-index"),
            "{}",
            outcome.command
        );
        assert_eq!(
            installed(&python),
            vec![
                ("beep-it-alpha".to_string(), "1.0".to_string()),
                ("beep-it-beta".to_string(), "2.1".to_string()),
            ],
            "{}",
            selected.kind
        );
        let out = Command::new(&python)
            .args([
                "-c",
                "import beep_it_alpha; print(beep_it_alpha.__version__)",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.0");
    }
}

#[test]
fn a_missing_requirement_fails_naming_it_with_the_last_lines() {
    let base = require!(BASE_PYTHON, base_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = house(tmp.path());
        let python = make_venv(base, &tmp.path().join("venv"));
        let config = offline(which, &house);
        let requirements = strings(&["beep-it-gamma", "beep-it-nonexistent"]);
        let err = installer::install(
            &selected,
            &config,
            &Request {
                python: &python,
                requirements: &requirements,
                environment: "analysis",
            },
        )
        .expect_err("a requirement nobody offers cannot be installed");
        let rendered = report::render(&err, false);
        let InstallError::Failed {
            environment,
            installer,
            status,
            failing_requirement,
            last_lines,
        } = err
        else {
            panic!("{}: expected Failed, got {rendered}", selected.kind);
        };
        assert_eq!(environment, "analysis");
        assert_eq!(installer, selected.kind);
        assert!(!status.success());
        assert_eq!(
            failing_requirement.as_deref(),
            Some("beep-it-nonexistent"),
            "{rendered}"
        );
        assert!(!last_lines.is_empty());
        assert!(last_lines.len() <= installer::TAIL_LINES);
        // The rendered error names the environment and the requirement and
        // shows the installer's own words.
        let flat = crate::common::flat(&rendered);
        assert!(flat.contains("environment `analysis`"), "{rendered}");
        assert!(flat.contains("`beep-it-nonexistent`"), "{rendered}");
        let last = last_lines.last().unwrap().trim();
        assert!(
            flat.contains(&crate::common::flat(last)),
            "{rendered}\nlacks {last}"
        );
        assert!(flat.contains("find-links"), "{rendered}");
        // Nothing was installed: both tools resolve before they install.
        assert_eq!(installed(&python), vec![], "{}", selected.kind);
    }
}

#[test]
fn a_missing_dependency_is_named_too() {
    let base = require!(BASE_PYTHON, base_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = wheelhouse(
            &tmp.path().join("wheels"),
            &[WheelSpec {
                name: "beep-it-delta",
                version: "1.0",
                requires: &["beep-it-missing-dep>=1"],
            }],
        );
        let python = make_venv(base, &tmp.path().join("venv"));
        let requirements = strings(&["beep-it-delta"]);
        let err = installer::install(
            &selected,
            &offline(which, &house),
            &Request {
                python: &python,
                requirements: &requirements,
                environment: "deps",
            },
        )
        .expect_err("a missing dependency fails the install");
        let InstallError::Failed {
            failing_requirement,
            ..
        } = &err
        else {
            panic!("expected Failed, got {err:?}");
        };
        // pip names the requirement with its specifier, uv the project.
        let expected = match selected.kind {
            Kind::Pip => "beep-it-missing-dep>=1",
            Kind::Uv => "beep-it-missing-dep",
        };
        assert_eq!(failing_requirement.as_deref(), Some(expected));
    }
}

#[test]
fn uninstall_removes_a_package() {
    let base = require!(BASE_PYTHON, base_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = house(tmp.path());
        let python = make_venv(base, &tmp.path().join("venv"));
        let config = offline(which, &house);
        let requirements = strings(&["beep-it-alpha", "beep-it-gamma"]);
        installer::install(
            &selected,
            &config,
            &Request {
                python: &python,
                requirements: &requirements,
                environment: "e",
            },
        )
        .unwrap_or_else(|e| panic!("{}", report::render(&e, false)));
        installer::uninstall(
            &selected,
            &config,
            &python,
            &strings(&["beep-it-gamma", "beep-it-never-installed"]),
            "e",
        )
        .unwrap_or_else(|e| panic!("{}", report::render(&e, false)));
        assert_eq!(
            installed(&python),
            vec![
                ("beep-it-alpha".to_string(), "1.0".to_string()),
                ("beep-it-beta".to_string(), "2.1".to_string()),
            ],
            "{}",
            selected.kind
        );
    }
}

#[test]
fn pip_missing_from_the_environment_is_its_own_error() {
    let base = require!(BASE_PYTHON, base_python());
    let uv = require!(UV, uv());
    let tmp = tempfile::tempdir().unwrap();
    let house = house(tmp.path());
    let python = venv_without_pip(base, &tmp.path().join("venv"));
    let requirements = strings(&["beep-it-gamma"]);
    let err = installer::install(
        &pip(),
        &offline(Installer::Pip, &house),
        &Request {
            python: &python,
            requirements: &requirements,
            environment: "bare",
        },
    )
    .expect_err("no pip, no install");
    assert!(
        matches!(&err, InstallError::PipMissing { environment, .. } if environment == "bare"),
        "{err:?}"
    );
    // uv needs no pip in the environment.
    installer::install(
        &uv,
        &offline(Installer::Uv, &house),
        &Request {
            python: &python,
            requirements: &requirements,
            environment: "bare",
        },
    )
    .unwrap_or_else(|e| panic!("{}", report::render(&e, false)));
}

#[test]
fn requirements_that_look_like_options_are_refused_before_running() {
    let requirements = strings(&["ok", "--index-url=http://127.0.0.1:9/evil"]);
    let config = Config::default();
    for selected in [
        pip(),
        Selected {
            kind: Kind::Uv,
            uv: Some(PathBuf::from("/nonexistent/uv")),
        },
    ] {
        let err = installer::install(
            &selected,
            &config,
            &Request {
                // Nothing runs, so nothing needs to exist.
                python: Path::new("/nonexistent/python"),
                requirements: &requirements,
                environment: "e",
            },
        )
        .expect_err("refused");
        assert!(
            matches!(&err, InstallError::OptionLike { argument, .. } if argument.starts_with("--index-url")),
            "{err:?}"
        );
        let err = installer::uninstall(
            &selected,
            &config,
            Path::new("/nonexistent/python"),
            &strings(&["-r"]),
            "e",
        )
        .expect_err("refused");
        assert!(matches!(err, InstallError::OptionLike { .. }), "{err:?}");
    }
}

#[test]
fn a_python_that_cannot_start_is_a_spawn_error() {
    let requirements = strings(&["beep-it-gamma"]);
    let err = installer::install(
        &pip(),
        &Config::default(),
        &Request {
            python: Path::new("/nonexistent/bin/python"),
            requirements: &requirements,
            environment: "gone",
        },
    )
    .expect_err("nothing to run");
    assert!(
        matches!(&err, InstallError::Spawn { environment, program, .. } if environment == "gone" && program == Path::new("/nonexistent/bin/python")),
        "{err:?}"
    );
}

fn args_of(selected: &Selected, config: &Config) -> Vec<String> {
    let requirements = strings(&["beep-it-alpha>=1"]);
    let command = installer::install_command(
        selected,
        config,
        &Request {
            python: Path::new("/envs/a/bin/python"),
            requirements: &requirements,
            environment: "a",
        },
    )
    .unwrap();
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn command_lines_pass_only_what_the_manifest_sets() {
    let uv = Selected {
        kind: Kind::Uv,
        uv: Some(PathBuf::from("/bin/uv")),
    };
    let online = Config {
        installer: Installer::Auto,
        index_url: Some("http://127.0.0.1:8080/simple".into()),
        find_links: vec!["/wheels".into(), "http://127.0.0.1:8080/links".into()],
        offline: false,
    };
    assert_eq!(
        args_of(&pip(), &online),
        [
            "/envs/a/bin/python",
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--index-url",
            "http://127.0.0.1:8080/simple",
            "--find-links",
            "/wheels",
            "--find-links",
            "http://127.0.0.1:8080/links",
            "beep-it-alpha>=1",
        ]
    );
    assert_eq!(
        args_of(&uv, &online),
        [
            "/bin/uv",
            "pip",
            "install",
            "--python",
            "/envs/a/bin/python",
            "--index-url",
            "http://127.0.0.1:8080/simple",
            "--find-links",
            "/wheels",
            "--find-links",
            "http://127.0.0.1:8080/links",
            "beep-it-alpha>=1",
        ]
    );
    // Nothing set: the user's own configuration decides.
    let plain = Config::default();
    assert_eq!(
        args_of(&pip(), &plain)[1..],
        [
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "beep-it-alpha>=1"
        ]
    );
    assert_eq!(
        args_of(&uv, &plain)[1..],
        [
            "pip",
            "install",
            "--python",
            "/envs/a/bin/python",
            "beep-it-alpha>=1"
        ]
    );
    // Offline with only find-links: neither tool may consult an index.
    let local = Config {
        installer: Installer::Auto,
        index_url: None,
        find_links: vec!["/wheels".into()],
        offline: true,
    };
    assert!(args_of(&pip(), &local).contains(&"--no-index".to_string()));
    let uv_args = args_of(&uv, &local);
    assert!(uv_args.contains(&"--no-index".to_string()));
    assert!(uv_args.contains(&"--offline".to_string()));
    // Offline with an index: pip cannot read an index from its cache, so it
    // gets none; uv keeps it, cache only.
    let cached = Config {
        offline: true,
        ..online
    };
    let pip_args = args_of(&pip(), &cached);
    assert!(pip_args.contains(&"--no-index".to_string()));
    assert!(!pip_args.contains(&"--index-url".to_string()));
    let uv_args = args_of(&uv, &cached);
    assert!(uv_args.contains(&"--offline".to_string()));
    assert!(uv_args.contains(&"--index-url".to_string()));
    assert!(!uv_args.contains(&"--no-index".to_string()));

    let command = installer::install_command(
        &uv,
        &plain,
        &Request {
            python: Path::new("/p"),
            requirements: &[],
            environment: "a",
        },
    )
    .unwrap();
    assert!(
        command
            .get_envs()
            .any(|(k, v)| k == "UV_PYTHON_DOWNLOADS" && v == Some("never".as_ref())),
        "uv must never download an interpreter"
    );
}

/// A folder for a fake `PATH`, holding `uv` when `with_uv`.
fn fake_path(dir: &Path, with_uv: bool) -> OsString {
    fs_err::create_dir_all(dir).unwrap();
    if with_uv {
        let link = dir.join("uv");
        match uv().and_then(|s| s.uv) {
            // The real binary, through a link, as a user's `~/.local/bin` has it.
            Some(real) => std::os::unix::fs::symlink(real, &link).unwrap(),
            None => write_script(&link, "#!/bin/sh\nexit 0\n"),
        }
    }
    std::env::join_paths([dir]).unwrap()
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs_err::write(path, text).unwrap();
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn auto_picks_uv_when_it_is_on_path_and_pip_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let with_uv = fake_path(&tmp.path().join("with"), true);
    let without = fake_path(&tmp.path().join("without"), false);
    let config = |installer| Config {
        installer,
        ..Config::default()
    };

    let auto = installer::select(&config(Installer::Auto), Some(&with_uv)).unwrap();
    assert_eq!(auto.kind, Kind::Uv);
    assert_eq!(
        auto.uv.as_deref(),
        Some(tmp.path().join("with/uv").as_path())
    );

    let auto = installer::select(&config(Installer::Auto), Some(&without)).unwrap();
    assert_eq!(auto, pip());
    let auto = installer::select(&config(Installer::Auto), None).unwrap();
    assert_eq!(auto, pip());

    // Asked for by name: pip even when uv is there; uv or an error.
    let forced = installer::select(&config(Installer::Pip), Some(&with_uv)).unwrap();
    assert_eq!(forced, pip());
    let forced = installer::select(&config(Installer::Uv), Some(&with_uv)).unwrap();
    assert_eq!(forced.kind, Kind::Uv);
    let err = installer::select(&config(Installer::Uv), Some(&without)).unwrap_err();
    assert!(matches!(err, InstallError::UvNotFound), "{err:?}");
    let rendered = crate::common::flat(&report::render(&err, false));
    assert!(rendered.contains("help:"), "{rendered}");
    assert!(rendered.contains("installer = \"pip\""), "{rendered}");
}

#[test]
fn a_uv_that_is_not_executable_or_dangling_is_not_picked() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    fs_err::create_dir_all(&plain).unwrap();
    fs_err::write(plain.join("uv"), "not a program").unwrap();
    let dangling = tmp.path().join("dangling");
    fs_err::create_dir_all(&dangling).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("gone"), dangling.join("uv")).unwrap();
    let folder = tmp.path().join("folder");
    fs_err::create_dir_all(folder.join("uv")).unwrap();
    let path = std::env::join_paths([&plain, &dangling, &folder]).unwrap();
    let config = Config::default();
    assert_eq!(installer::select(&config, Some(&path)).unwrap(), pip());
}

#[test]
fn cancelling_kills_a_long_install_and_its_whole_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    // A "python" that never finishes, started through a shell so that the
    // sleep is a grandchild holding the pipes: the whole group must die.
    // Each writes its pid once it runs, so the cancel comes while both do.
    let python = tmp.path().join("python");
    let shell_pid = tmp.path().join("shell.pid");
    let sleep_pid = tmp.path().join("sleep.pid");
    write_script(
        &python,
        &format!(
            "#!/bin/sh\necho $$ > '{}.tmp' && mv '{0}.tmp' '{0}'\nsleep 100000 &\necho $! > '{1}.tmp' && mv '{1}.tmp' '{1}'\nwait\necho done\n",
            shell_pid.display(),
            sleep_pid.display()
        ),
    );
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let (done, result) = std::sync::mpsc::channel();
    // A thread of its own, not a scoped one: should the install hang, the
    // test fails instead of waiting for it.
    std::thread::spawn({
        let cancel = cancel.clone();
        let python = python.clone();
        move || {
            let requirements = strings(&["beep-it-alpha"]);
            let outcome = installer::install_cancellable(
                &pip(),
                &Config::default(),
                &Request {
                    python: &python,
                    requirements: &requirements,
                    environment: "slow",
                },
                &cancel,
            );
            let _ = done.send(outcome);
        }
    });
    crate::common::wait_for("the fake installer and its sleep to start", || {
        shell_pid.exists() && sleep_pid.exists()
    });
    cancel.store(true, Ordering::SeqCst);
    // The sleep never ends by itself: only a kill of the whole group lets
    // the install return (a minute is a hang, not slowness).
    let result = result
        .recv_timeout(Duration::from_secs(60))
        .expect("install_cancellable did not return after the cancel");
    assert!(matches!(result, Err(InstallError::Cancelled)), "{result:?}");
    for pid_file in [&shell_pid, &sleep_pid] {
        let pid = fs_err::read_to_string(pid_file).unwrap();
        let pid = pid.trim();
        crate::common::wait_for(&format!("process {pid} to be killed"), || {
            crate::common::process_is_gone(pid)
        });
    }
}

#[test]
fn a_cancel_flag_set_before_starting_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let python = tmp.path().join("python");
    write_script(
        &python,
        &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    );
    let requirements = strings(&["beep-it-alpha"]);
    let cancel = AtomicBool::new(true);
    let result = installer::install_cancellable(
        &pip(),
        &Config::default(),
        &Request {
            python: &python,
            requirements: &requirements,
            environment: "e",
        },
        &cancel,
    );
    assert!(matches!(result, Err(InstallError::Cancelled)), "{result:?}");
    assert!(!marker.exists());
}

#[test]
fn output_is_bounded_and_a_failure_without_a_known_message_still_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let python = tmp.path().join("python");
    // 10 000 lines, then a failure no pattern knows.
    write_script(
        &python,
        "#!/bin/sh\ni=0\nwhile [ $i -lt 10000 ]; do echo \"line $i\"; i=$((i+1)); done\necho 'something broke' >&2\nexit 3\n",
    );
    let requirements = strings(&["beep-it-alpha"]);
    let err = installer::install(
        &pip(),
        &Config::default(),
        &Request {
            python: &python,
            requirements: &requirements,
            environment: "noisy",
        },
    )
    .expect_err("exit 3");
    let rendered = report::render(&err, false);
    let InstallError::Failed {
        status,
        failing_requirement,
        last_lines,
        ..
    } = err
    else {
        panic!("expected Failed: {rendered}");
    };
    assert_eq!(status.code(), Some(3));
    assert_eq!(failing_requirement, None);
    assert_eq!(last_lines.len(), installer::TAIL_LINES);
    assert!(last_lines.contains(&"something broke".to_string()));
    assert!(rendered.contains("exit status 3"), "{rendered}");
    assert!(rendered.contains("something broke"), "{rendered}");
}

/// Whether `beep_it_gamma` is in the environment of `python` (its folder in
/// `site-packages`, looked at without starting Python).
fn has_gamma(python: &Path) -> bool {
    let venv = python.parent().unwrap().parent().unwrap();
    std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .flatten()
        .any(|d| d.path().join("site-packages/beep_it_gamma").exists())
}

#[test]
fn a_gated_installer_changes_nothing_until_the_gate_succeeded() {
    let base = require!(BASE_PYTHON, base_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = house(tmp.path());
        let python = make_venv(base, &tmp.path().join("venv"));
        let config = offline(which, &house);
        let requirements = strings(&["beep-it-gamma"]);
        let request = Request {
            python: &python,
            requirements: &requirements,
            environment: "gated",
        };
        let never = AtomicBool::new(false);

        // A gate that fails: the installer is stopped, nothing installed.
        // It waits first, long enough for a pip that was not held to have
        // installed the wheel meanwhile.
        let refuse = || {
            std::thread::sleep(Duration::from_secs(3));
            Err(std::io::Error::other(
                "the restore point could not be taken",
            ))
        };
        let err =
            installer::install_gated(&selected, &config, &request, &never, None, Some(&refuse))
                .expect_err("a failed gate stops the install");
        assert!(
            matches!(&err, InstallError::NotReleased { environment, .. } if environment == "gated"),
            "{}: {err:?}",
            selected.kind
        );
        assert!(!has_gamma(&python), "{}: installed anyway", selected.kind);

        // A gate that succeeds: it saw nothing installed while it ran
        // (pip was started and held), and the install then happens.
        let seen_during = AtomicBool::new(true);
        let watch = || {
            for _ in 0..30 {
                if has_gamma(&python) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            seen_during.store(false, Ordering::SeqCst);
            Ok(())
        };
        installer::install_gated(&selected, &config, &request, &never, None, Some(&watch))
            .unwrap_or_else(|e| panic!("{}: {}", selected.kind, report::render(&e, false)));
        assert!(
            !seen_during.load(Ordering::SeqCst),
            "{}: the installer wrote before the gate let it",
            selected.kind
        );
        assert_eq!(
            installed(&python),
            vec![("beep-it-gamma".to_string(), "0.3".to_string())],
            "{}",
            selected.kind
        );
    }
}

#[test]
fn a_gated_pip_that_is_missing_is_still_its_own_error() {
    let base = require!(BASE_PYTHON, base_python());
    let tmp = tempfile::tempdir().unwrap();
    let house = house(tmp.path());
    let python = venv_without_pip(base, &tmp.path().join("venv"));
    let requirements = strings(&["beep-it-gamma"]);
    let opened = || Ok(());
    let err = installer::install_gated(
        &pip(),
        &offline(Installer::Pip, &house),
        &Request {
            python: &python,
            requirements: &requirements,
            environment: "bare",
        },
        &AtomicBool::new(false),
        None,
        Some(&opened),
    )
    .expect_err("no pip, no install");
    assert!(
        matches!(&err, InstallError::PipMissing { environment, .. } if environment == "bare"),
        "{err:?}"
    );
}
