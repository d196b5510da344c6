//! `beep_python::lockfile::resolve` and `beep_python::installer::sync`
//! against real pip and uv, offline: wheels the tests build, served through
//! `--no-index --find-links`, into real virtual environments.
//!
//! Every test runs both installers, pip and uv from `PATH` (`.ci/run`
//! installs it; elsewhere a test without uv is skipped, visibly), on an
//! interpreter chosen at run time. Unix only: the environments' layout (`bin/python`).
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use beep_python::installer::{self, Config, InstallError, Kind, Request, Selected};
use beep_python::lockfile::{
    self, Lock, LockedEnvironment, LockedPackage, ResolveError, ResolveRequest, Upgrade,
};
use beep_python::manifest::Installer;
use beep_python::report;
use beep_python::venv::{BaseInterpreter, CreateOptions, Seeded};

use crate::common::{Python, python_where, require};
use crate::installer::{UV, uv};
use crate::wheels::{WheelSpec, build_wheel, build_wheel_with_payload, sha256_hex, wheelhouse};

const ALPHA: WheelSpec = WheelSpec {
    name: "beep-lk-alpha",
    version: "1.0",
    requires: &["beep-lk-beta>=2"],
};
const BETA_OLD: WheelSpec = WheelSpec {
    name: "beep-lk-beta",
    version: "1.0",
    requires: &[],
};
const BETA: WheelSpec = WheelSpec {
    name: "beep-lk-beta",
    version: "2.1",
    requires: &[],
};
const BETA_NEW: WheelSpec = WheelSpec {
    name: "beep-lk-beta",
    version: "2.5",
    requires: &[],
};
const GAMMA: WheelSpec = WheelSpec {
    name: "beep-lk-gamma",
    version: "0.3",
    requires: &[],
};
/// Needs a newer beta than the first lock pinned.
const DELTA: WheelSpec = WheelSpec {
    name: "beep-lk-delta",
    version: "1.0",
    requires: &["beep-lk-beta>=2.5"],
};

/// The interpreter the tests resolve with and make environments of: one
/// that can seed pip (a wheel to unpack, or ensurepip).
fn lock_python() -> Option<&'static Python> {
    python_where(|p| p.pip_wheel.is_some() || p.has_ensurepip)
}

/// What [`lock_python`] needs, for [`require!`].
const LOCK_PYTHON: &str = "a CPython (3.8+) that can seed pip";

/// [`lock_python`] as a base; each test starts with `require!` for it.
#[track_caller]
fn base() -> BaseInterpreter {
    python_base(lock_python().expect("the test requires it first"))
}

fn python_base(python: &Python) -> BaseInterpreter {
    BaseInterpreter {
        executable: python.path.clone(),
        version: python.version.clone(),
        implementation: "cpython".to_string(),
    }
}

fn offline(installer: Installer, house: &Path) -> Config {
    Config {
        installer,
        index_url: None,
        find_links: vec![house.display().to_string()],
        offline: true,
    }
}

/// pip and uv.
fn kinds(uv: Selected) -> [(Selected, Installer); 2] {
    [
        (
            Selected {
                kind: Kind::Pip,
                uv: None,
            },
            Installer::Pip,
        ),
        (uv, Installer::Uv),
    ]
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Resolves `requirements` offline from `house`.
fn resolve(
    selected: &Selected,
    config: &Config,
    cache: &Path,
    requirements: &[&str],
    preferences: &[LockedPackage],
    upgrade: &Upgrade,
) -> Result<Vec<LockedPackage>, ResolveError> {
    let base = base();
    let requirements = strings(requirements);
    lockfile::resolve(&ResolveRequest {
        base: &base,
        requirements: &requirements,
        preferences,
        upgrade,
        selected,
        config,
        cache_dir: cache,
        environment: "analysis",
        cancel: &AtomicBool::new(false),
    })
}

#[track_caller]
fn resolved(
    selected: &Selected,
    config: &Config,
    cache: &Path,
    requirements: &[&str],
    preferences: &[LockedPackage],
    upgrade: &Upgrade,
) -> Vec<LockedPackage> {
    resolve(selected, config, cache, requirements, preferences, upgrade).unwrap_or_else(|e| {
        panic!(
            "{} resolution failed: {}",
            selected.kind,
            report::render(&e, false)
        )
    })
}

fn pins(packages: &[LockedPackage]) -> Vec<(String, String)> {
    packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

fn pair(name: &str, version: &str) -> (String, String) {
    (name.to_string(), version.to_string())
}

/// A virtual environment with pip, made natively (`python -m venv` spends
/// seconds in `ensurepip`); returns its interpreter.
#[track_caller]
fn make_venv(dir: &Path) -> PathBuf {
    let base = base();
    let vars = BTreeMap::new();
    let layout = beep_python::venv::create(
        dir,
        &base,
        &CreateOptions {
            name: "analysis",
            system_site_packages: false,
            env_vars: &vars,
        },
    )
    .expect("creating a venv");
    let seeded = beep_python::venv::seed_pip(&layout, &base).expect("seeding pip");
    assert!(
        matches!(seeded, Seeded::Wheel { .. } | Seeded::Ensurepip),
        "{seeded:?}"
    );
    layout.python
}

/// `(name, version)` of every distribution in the environment, read from
/// disk (works whether or not pip is there).
fn installed(venv: &Path) -> Vec<(String, String)> {
    beep_python::venv::observe(venv)
        .packages
        .into_iter()
        .map(|d| (d.name, d.version))
        .collect()
}

fn without_seed(packages: Vec<(String, String)>) -> Vec<(String, String)> {
    packages
        .into_iter()
        .filter(|(name, _)| name != "pip" && name != "setuptools")
        .collect()
}

#[test]
fn resolution_gives_exact_versions_and_the_sha256_of_the_wheels() {
    require!(LOCK_PYTHON, lock_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = wheelhouse(&tmp.path().join("wheels"), &[ALPHA, BETA_OLD, BETA, GAMMA]);
        let config = offline(which, &house);
        let packages = resolved(
            &selected,
            &config,
            &tmp.path().join("cache"),
            &["beep-lk-alpha"],
            &[],
            &Upgrade::None,
        );
        let hash = |spec: &WheelSpec| {
            format!(
                "sha256:{}",
                sha256_hex(&house.join(crate::wheels::wheel_file_name(spec)))
            )
        };
        // A wheel from a local `find-links` folder is recorded by its
        // name and hash, never by this machine's path.
        let file = |spec: &WheelSpec| beep_python::lockfile::LockedFile {
            name: crate::wheels::wheel_file_name(spec),
            url: None,
            sha256: hash(spec).trim_start_matches("sha256:").to_string(),
        };
        assert_eq!(
            packages,
            vec![
                LockedPackage {
                    name: "beep-lk-alpha".into(),
                    version: "1.0".into(),
                    url: None,
                    hashes: vec![hash(&ALPHA)],
                    files: vec![file(&ALPHA)],
                },
                LockedPackage {
                    name: "beep-lk-beta".into(),
                    version: "2.1".into(),
                    url: None,
                    hashes: vec![hash(&BETA)],
                    files: vec![file(&BETA)],
                },
            ],
            "{}",
            selected.kind
        );
        // The scratch space is gone: nothing but the pip wheel cache and
        // the resolver environments (pip's) stays.
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "wheels" && n != beep_python::lockfile::RESOLVERS)
            .collect();
        assert!(left.is_empty(), "{}: left behind {left:?}", selected.kind);
    }
}

#[test]
fn a_requirement_nobody_offers_fails_naming_it_with_the_last_lines() {
    require!(LOCK_PYTHON, lock_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = wheelhouse(&tmp.path().join("wheels"), &[GAMMA]);
        let config = offline(which, &house);
        let err = resolve(
            &selected,
            &config,
            &tmp.path().join("cache"),
            &["beep-lk-gamma", "beep-lk-nonexistent"],
            &[],
            &Upgrade::None,
        )
        .expect_err("nothing offers beep-lk-nonexistent");
        let rendered = report::render(&err, false);
        let ResolveError::Failed {
            environment,
            failing_requirement,
            last_lines,
            ..
        } = err
        else {
            panic!("{}: expected Failed, got {rendered}", selected.kind);
        };
        assert_eq!(environment, "analysis");
        assert_eq!(
            failing_requirement.as_deref(),
            Some("beep-lk-nonexistent"),
            "{rendered}"
        );
        assert!(!last_lines.is_empty());
        assert!(
            rendered.contains("could not resolve the packages of environment `analysis`"),
            "{rendered}"
        );
    }
}

#[test]
fn existing_pins_stay_unless_upgraded() {
    require!(LOCK_PYTHON, lock_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let house = wheelhouse(&tmp.path().join("wheels"), &[ALPHA, BETA_OLD, BETA, GAMMA]);
        let config = offline(which, &house);
        let first = resolved(
            &selected,
            &config,
            &cache,
            &["beep-lk-alpha"],
            &[],
            &Upgrade::None,
        );
        assert_eq!(
            pins(&first),
            vec![pair("beep-lk-alpha", "1.0"), pair("beep-lk-beta", "2.1")]
        );

        // A newer beta appears on the index.
        build_wheel(&house, &BETA_NEW);
        let kind = selected.kind;
        let again = resolved(
            &selected,
            &config,
            &cache,
            &["beep-lk-alpha"],
            &first,
            &Upgrade::None,
        );
        assert_eq!(again, first, "{kind}: a plain re-lock moved a pin");

        // A new requirement is added; the old pins stay.
        let added = resolved(
            &selected,
            &config,
            &cache,
            &["beep-lk-alpha", "beep-lk-gamma"],
            &first,
            &Upgrade::None,
        );
        assert_eq!(
            pins(&added),
            vec![
                pair("beep-lk-alpha", "1.0"),
                pair("beep-lk-beta", "2.1"),
                pair("beep-lk-gamma", "0.3"),
            ],
            "{kind}"
        );

        for upgrade in [Upgrade::All, Upgrade::Packages(strings(&["Beep_LK.Beta"]))] {
            let upgraded = resolved(
                &selected,
                &config,
                &cache,
                &["beep-lk-alpha"],
                &first,
                &upgrade,
            );
            assert_eq!(
                pins(&upgraded),
                vec![pair("beep-lk-alpha", "1.0"), pair("beep-lk-beta", "2.5")],
                "{kind}: {upgrade:?}"
            );
        }
        // Upgrading another package leaves beta where it was.
        let other = resolved(
            &selected,
            &config,
            &cache,
            &["beep-lk-alpha"],
            &first,
            &Upgrade::Packages(strings(&["beep-lk-alpha"])),
        );
        assert_eq!(other, first, "{kind}");

        // The manifest now excludes the pinned version: the pin goes.
        let excluded = resolved(
            &selected,
            &config,
            &cache,
            &["beep-lk-alpha", "beep-lk-beta>2.1"],
            &first,
            &Upgrade::None,
        );
        assert_eq!(
            pins(&excluded),
            vec![pair("beep-lk-alpha", "1.0"), pair("beep-lk-beta", "2.5")],
            "{kind}"
        );
    }
}

#[test]
fn a_pin_that_blocks_a_new_requirement_is_dropped_on_the_second_try() {
    require!(LOCK_PYTHON, lock_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let house = wheelhouse(&tmp.path().join("wheels"), &[ALPHA, BETA, GAMMA]);
        let config = offline(which, &house);
        let first = resolved(
            &selected,
            &config,
            &cache,
            &["beep-lk-alpha"],
            &[],
            &Upgrade::None,
        );

        // delta needs beta>=2.5, which the pin beta==2.1 forbids.
        build_wheel(&house, &BETA_NEW);
        build_wheel(&house, &DELTA);
        let packages = resolved(
            &selected,
            &config,
            &cache,
            &["beep-lk-alpha", "beep-lk-delta"],
            &first,
            &Upgrade::None,
        );
        assert_eq!(
            pins(&packages),
            vec![
                pair("beep-lk-alpha", "1.0"),
                pair("beep-lk-beta", "2.5"),
                pair("beep-lk-delta", "1.0"),
            ],
            "{}",
            selected.kind
        );
    }
}

#[test]
fn sync_installs_exactly_the_locked_set() {
    require!(LOCK_PYTHON, lock_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = wheelhouse(&tmp.path().join("wheels"), &[ALPHA, BETA_OLD, BETA, GAMMA]);
        let config = offline(which, &house);
        let packages = resolved(
            &selected,
            &config,
            &tmp.path().join("cache"),
            &["beep-lk-alpha"],
            &[],
            &Upgrade::None,
        );
        // Through the file, as `apply` will read it.
        let lock_path = tmp.path().join(lockfile::LOCK_FILE);
        let mut lock = Lock::default();
        lock.environments.insert(
            "analysis".into(),
            LockedEnvironment {
                runtime: "py".into(),
                python_version: base().version,
                inputs_hash: lockfile::inputs_hash(&strings(&["beep-lk-alpha"]), &[]),
                packages,
                conda: None,
            },
        );
        assert!(lockfile::write(&lock_path, &lock).unwrap());
        assert!(!lockfile::write(&lock_path, &lock).unwrap(), "unchanged");
        let lock = lockfile::read(&lock_path).unwrap().unwrap();
        let locked = &lock.environments["analysis"].packages;

        // An environment with an extra package and an old beta.
        let venv = tmp.path().join("venv");
        let python = make_venv(&venv);
        let extra = strings(&["beep-lk-gamma", "beep-lk-beta==1.0"]);
        installer::install(
            &selected,
            &config,
            &Request {
                python: &python,
                requirements: &extra,
                environment: "analysis",
                constraints: None,
            },
        )
        .unwrap_or_else(|e| panic!("{}", report::render(&e, false)));
        assert_eq!(
            lockfile::package_diff(&without_seed(installed(&venv)), locked).lines(),
            vec![
                "+ beep-lk-alpha 1.0",
                "~ beep-lk-beta 1.0 -> 2.1",
                "- beep-lk-gamma 0.3",
            ]
        );

        let outcome = installer::sync(
            &selected,
            &config,
            &python,
            locked,
            "analysis",
            &AtomicBool::new(false),
        )
        .unwrap_or_else(|e| {
            panic!(
                "{} sync failed: {}",
                selected.kind,
                report::render(&e, false)
            )
        });
        assert!(
            outcome.command.contains("--require-hashes"),
            "{}",
            outcome.command
        );

        let after = installed(&venv);
        let expected_extra: Vec<(String, String)> = match selected.kind {
            // pip stays with pip; uv removes it like anything unlisted.
            Kind::Pip => after.iter().filter(|(n, _)| n == "pip").cloned().collect(),
            Kind::Uv => vec![],
        };
        let mut expected = pins(locked);
        expected.extend(expected_extra);
        expected.sort();
        assert_eq!(after, expected, "{}", selected.kind);
        if selected.kind == Kind::Pip {
            assert!(after.iter().any(|(n, _)| n == "pip"), "pip was removed");
        }
        let out = Command::new(&python)
            .args([
                "-c",
                "import beep_lk_alpha, beep_lk_beta; print(beep_lk_beta.__version__)",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2.1");

        // A second sync changes nothing, and an empty lock empties it.
        installer::sync(
            &selected,
            &config,
            &python,
            locked,
            "analysis",
            &AtomicBool::new(false),
        )
        .unwrap_or_else(|e| panic!("{}", report::render(&e, false)));
        assert_eq!(installed(&venv), after);
        installer::sync(
            &selected,
            &config,
            &python,
            &[],
            "analysis",
            &AtomicBool::new(false),
        )
        .unwrap_or_else(|e| panic!("{}", report::render(&e, false)));
        assert_eq!(without_seed(installed(&venv)), vec![], "{}", selected.kind);
    }
}

#[test]
fn a_tampered_wheel_is_refused_by_hash() {
    require!(LOCK_PYTHON, lock_python());
    let uv = require!(UV, uv());
    for (selected, which) in kinds(uv) {
        let tmp = tempfile::tempdir().unwrap();
        let house = wheelhouse(&tmp.path().join("wheels"), &[ALPHA, BETA]);
        let locked = resolved(
            &selected,
            &offline(which, &house),
            &tmp.path().join("cache"),
            &["beep-lk-alpha"],
            &[],
            &Upgrade::None,
        );

        // The same names and versions, served from elsewhere, beta rebuilt
        // with other bytes. (Elsewhere, because uv trusts its cache of a
        // find-links folder it has already read; it then installs the
        // genuine bytes, which is safe but would not test the check.)
        let evil = tmp.path().join("evil");
        build_wheel(&evil, &ALPHA);
        build_wheel_with_payload(&evil, &BETA, "not what was locked");
        let venv = tmp.path().join("venv");
        let python = make_venv(&venv);
        let err = installer::sync(
            &selected,
            &offline(which, &evil),
            &python,
            &locked,
            "analysis",
            &AtomicBool::new(false),
        )
        .expect_err("a wheel whose hash is not in the lock must be refused");
        let rendered = report::render(&err, false);
        let InstallError::Failed {
            environment,
            last_lines,
            ..
        } = &err
        else {
            panic!("{}: expected Failed, got {rendered}", selected.kind);
        };
        assert_eq!(environment, "analysis");
        assert!(
            last_lines.iter().any(|l| l.to_lowercase().contains("hash")),
            "{}: {rendered}",
            selected.kind
        );
        assert!(
            !installed(&venv).iter().any(|(n, _)| n == "beep-lk-beta"),
            "{}: the tampered wheel was installed",
            selected.kind
        );
    }
}

/// pip 23.0 writes `archive_info.hash` (`sha256=...`) only; 23.1 added
/// `hashes`. Debian's Python seeds pip 23.0.1 from `/usr/share/python-wheels`.
#[test]
fn pip_23_0_reports_are_read() {
    let python = require!(
        "a CPython (3.8+) that seeds pip 23.0 (Debian's python3.11 with python3-pip-whl)",
        python_where(|p| p
            .pip_wheel
            .as_deref()
            .is_some_and(|v| v.starts_with("23.0")))
    );
    let base = python_base(python);
    let tmp = tempfile::tempdir().unwrap();
    let house = wheelhouse(&tmp.path().join("wheels"), &[ALPHA, BETA]);
    let requirements = strings(&["beep-lk-alpha"]);
    let packages = lockfile::resolve(&ResolveRequest {
        base: &base,
        requirements: &requirements,
        preferences: &[],
        upgrade: &Upgrade::None,
        selected: &Selected {
            kind: Kind::Pip,
            uv: None,
        },
        config: &offline(Installer::Pip, &house),
        cache_dir: &tmp.path().join("cache"),
        environment: "analysis",
        cancel: &AtomicBool::new(false),
    })
    .unwrap_or_else(|e| panic!("{}", report::render(&e, false)));
    let hash = |spec: &WheelSpec| {
        vec![format!(
            "sha256:{}",
            sha256_hex(&house.join(crate::wheels::wheel_file_name(spec)))
        )]
    };
    assert_eq!(
        pins(&packages),
        vec![pair("beep-lk-alpha", "1.0"), pair("beep-lk-beta", "2.1")]
    );
    assert_eq!(packages[0].hashes, hash(&ALPHA));
    assert_eq!(packages[1].hashes, hash(&BETA));
}
