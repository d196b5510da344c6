//! Hostile review of constrained updates (pip and uv asked only for the
//! changed lines, every other installed distribution pinned) and of pip
//! seeded only to install into a `pip = false` environment: the result of
//! `apply` must be what a full install of the manifest gives, and nothing
//! of the user's may be lost.

use std::path::PathBuf;

use crate::common::{stdout, uv_available};
use crate::in_place::state;
use crate::project::Project;
use crate::wheels::{WheelSpec, wheelhouse};

fn site(p: &Project) -> PathBuf {
    p.path(".venvs/app/lib/python3.11/site-packages")
}

fn env(pip: bool, packages: &str) -> String {
    format!("\n[environments.app]\npath = \".venvs/app\"\npip = {pip}\npackages = [{packages}]\n")
}

/// The activity lines of one `apply` of `env.app`, from its JSON event
/// stream (what pip or uv say, and when an update asks for every
/// requirement).
fn activity_of_apply(p: &Project) -> Vec<String> {
    let out = p.run(&["apply", "--auto-approve", "--format", "json"]);
    stdout(&out)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "activity" && event["address"] == "env.app")
        .filter_map(|event| event["text"].as_str().map(str::to_string))
        .collect()
}

/// What `doctor` finds unmet among the installed packages' own
/// requirements (`env-dependencies`).
fn unmet_dependencies(p: &Project) -> Vec<String> {
    let out = p
        .cmd()
        .args(["--format", "json", "doctor", "env-dependencies"])
        .output()
        .unwrap();
    let text = stdout(&out);
    let report: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "env-dependencies" && f["severity"] != "info")
        .map(|f| f["found"].to_string())
        .collect()
}

/// `zeta` 2.0 needs `alpha>=2`, `zeta` 1.0 needs nothing. The manifest
/// goes from `zeta, alpha` to `zeta, alpha<2`: a full install gives zeta
/// 1.0 and alpha 1.0. Asking for `alpha<2` alone with zeta pinned at 2.0
/// downgrades alpha under zeta (pip and uv only warn), and nothing tells
/// `plan` that zeta's own requirement is broken.
fn a_changed_line_that_downgrades_a_dependency_of_a_pinned_package(installer: &str) {
    let Some(p) = Project::new() else { return };
    zeta_wheels(&p);
    p.manifest(installer, &env(true, "\"zeta\", \"alpha\""));
    p.apply();
    assert_eq!(p.installed(".venvs/app"), ["alpha==2.0.0", "zeta==2.0.0"]);
    p.manifest(installer, &env(true, "\"zeta\", \"alpha<2\""));
    let said = activity_of_apply(&p);
    assert!(
        said.iter()
            .any(|l| l.contains("asking for every requirement")),
        "{said:?}"
    );
    assert!(p.plan().contains("No changes"), "{}", p.plan());
    assert_eq!(
        unmet_dependencies(&p),
        Vec::<String>::new(),
        "installed: {:?}",
        p.installed(".venvs/app")
    );
    assert_eq!(p.installed(".venvs/app"), ["alpha==1.0.0", "zeta==1.0.0"]);
}

#[test]
fn a_changed_line_that_downgrades_a_dependency_of_a_pinned_package_with_pip() {
    a_changed_line_that_downgrades_a_dependency_of_a_pinned_package("pip");
}

#[test]
fn a_changed_line_that_downgrades_a_dependency_of_a_pinned_package_with_uv() {
    if uv_available() {
        a_changed_line_that_downgrades_a_dependency_of_a_pinned_package("uv");
    }
}

/// The same with an added line: `alpha<2` joins `zeta` (2.0, which needs
/// `alpha>=2`, installed alpha 2.0 as its dependency).
fn an_added_line_that_downgrades_a_dependency_of_a_pinned_package(installer: &str) {
    let Some(p) = Project::new() else { return };
    zeta_wheels(&p);
    p.manifest(installer, &env(true, "\"zeta\""));
    p.apply();
    assert_eq!(p.installed(".venvs/app"), ["alpha==2.0.0", "zeta==2.0.0"]);
    p.manifest(installer, &env(true, "\"zeta\", \"alpha<2\""));
    p.apply();
    assert!(p.plan().contains("No changes"), "{}", p.plan());
    assert_eq!(
        unmet_dependencies(&p),
        Vec::<String>::new(),
        "installed: {:?}",
        p.installed(".venvs/app")
    );
    assert_eq!(p.installed(".venvs/app"), ["alpha==1.0.0", "zeta==1.0.0"]);
}

#[test]
fn an_added_line_that_downgrades_a_dependency_of_a_pinned_package_with_pip() {
    an_added_line_that_downgrades_a_dependency_of_a_pinned_package("pip");
}

#[test]
fn an_added_line_that_downgrades_a_dependency_of_a_pinned_package_with_uv() {
    if uv_available() {
        an_added_line_that_downgrades_a_dependency_of_a_pinned_package("uv");
    }
}

/// `pip = true` became `pip = false`: the plan removes pip, the update
/// seeds it to install and must not leave it (nor its scripts) behind.
#[test]
fn pip_removed_by_the_plan_does_not_come_back_after_an_update_with_pip() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", &env(true, "\"gamma\""));
    p.apply();
    assert!(p.path(".venvs/app/bin/pip").exists());
    p.manifest("pip", &env(false, "\"gamma\", \"click\""));
    p.apply();
    assert_eq!(p.installed(".venvs/app"), ["click==8.1.7", "gamma==3.1.0"]);
    let left: Vec<String> = std::fs::read_dir(p.path(".venvs/app/bin"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pip"))
        .collect();
    assert!(left.is_empty(), "pip's scripts stayed: {left:?}");
    assert!(!site(&p).join("pip").exists(), "pip's package stayed");
    assert!(p.plan().contains("No changes"), "{}", p.plan());
}

/// `pip = false`: a user's own `bin/pip3`, `bin/pip3.11` (links or
/// wrappers) and a file of theirs in `site-packages/pip/` are not pip's to
/// take away when pip is seeded for an update and removed after it.
#[test]
fn a_users_pip3_scripts_and_files_survive_an_update_of_an_environment_without_pip() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", &env(false, "\"gamma\""));
    p.apply();
    let bin = p.path(".venvs/app/bin");
    let wrapper = "#!/bin/sh\nexec uv pip \"$@\"\n";
    std::fs::write(bin.join("pip3"), wrapper).unwrap();
    std::os::unix::fs::symlink("pip3", bin.join("pip3.11")).unwrap();
    std::fs::create_dir_all(site(&p).join("pip")).unwrap();
    std::fs::write(site(&p).join("pip/NOTES.txt"), "mine\n").unwrap();
    p.manifest("pip", &env(false, "\"gamma\", \"click\""));
    p.apply();
    assert_eq!(p.installed(".venvs/app"), ["click==8.1.7", "gamma==3.1.0"]);
    assert_eq!(
        std::fs::read_to_string(bin.join("pip3")).ok().as_deref(),
        Some(wrapper),
        "the user's bin/pip3"
    );
    assert_eq!(
        std::fs::read_link(bin.join("pip3.11")).ok(),
        Some(PathBuf::from("pip3")),
        "the user's bin/pip3.11 link"
    );
    assert_eq!(
        std::fs::read_to_string(site(&p).join("pip/NOTES.txt"))
            .ok()
            .as_deref(),
        Some("mine\n"),
        "the user's file in site-packages/pip"
    );
    assert!(!bin.join("pip").exists(), "pip = false leaves no bin/pip");
}

/// `omega` installs its dependency `theta` first, then fails (a file
/// outside the environment, which pip refuses while installing; uv
/// installs it):
/// the constrained run fails half-way, the unconstrained retry fails the
/// same way, and the rollback must leave the environment as it was, with
/// no `theta`.
#[test]
fn an_update_failing_half_way_twice_is_rolled_back_whole_with_pip() {
    let installer = "pip";
    let Some(p) = Project::new() else { return };
    wheelhouse(
        &p.path("wheels"),
        &[WheelSpec {
            name: "theta",
            version: "1.0.0",
            requires: &[],
        }],
    );
    crate::wheels::Custom::new("omega", "1.0.0")
        .requires("theta")
        .file("../../../../escaped.txt", "outside\n")
        .build(&p.path("wheels"));
    p.manifest(installer, &env(true, "\"gamma\""));
    p.apply();
    let root = p.path(".venvs/app");
    let before = state(&root);
    p.manifest(installer, &env(true, "\"gamma\", \"omega\""));
    let out = p.fails(&["apply", "--auto-approve"], 1);
    let err = crate::common::stderr(&out);
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        err.contains("outside"),
        "omega failed while installing: {err}"
    );
    assert_eq!(p.installed(".venvs/app"), ["gamma==3.1.0"]);
    let after = state(&root);
    let changed: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(after.keys().filter(|k| !before.contains_key(*k)).cloned())
        .collect();
    assert!(
        changed.is_empty(),
        "changed by a failed update: {changed:?}"
    );
}

/// `pip = false`, a user's `bin/pip3` wrapper: an update that fails (after
/// pip was seeded over it, and both runs failed) must give the environment
/// back as it was, wrapper included, and no pip.
#[test]
fn a_failed_update_of_an_environment_without_pip_gives_back_the_users_pip3() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", &env(false, "\"gamma\""));
    p.apply();
    let root = p.path(".venvs/app");
    std::fs::write(root.join("bin/pip3"), "#!/bin/sh\nexec uv pip \"$@\"\n").unwrap();
    std::os::unix::fs::symlink("pip3", root.join("bin/pip")).unwrap();
    let before = state(&root);
    p.manifest("pip", &env(false, "\"gamma\", \"no-such-package\""));
    let out = p.fails(&["apply", "--auto-approve"], 1);
    let err = crate::common::stderr(&out);
    assert!(err.contains("rolled back"), "{err}");
    let after = state(&root);
    let changed: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(after.keys().filter(|k| !before.contains_key(*k)).cloned())
        .collect();
    assert!(
        changed.is_empty(),
        "changed by a failed update: {changed:?}"
    );
}

/// Pins of what is installed under names and versions as their
/// `.dist-info` spells them: a local version (`+cpu`), a post release,
/// an underscore and capitals in the name; and an added line written in
/// capitals. The constrained update must keep them all untouched.
fn local_versions_and_spelled_names_stay_pinned(installer: &str) {
    let Some(p) = Project::new() else { return };
    wheelhouse(
        &p.path("wheels"),
        &[
            WheelSpec {
                name: "iota",
                version: "1.0.0+cpu",
                requires: &[],
            },
            WheelSpec {
                name: "Kappa_Lib",
                version: "2.0.post1",
                requires: &[],
            },
        ],
    );
    p.manifest(installer, &env(true, "\"iota\", \"kappa-lib\""));
    p.apply();
    let iota = site(&p).join("iota/__init__.py");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&iota).unwrap());
    p.manifest(installer, &env(true, "\"iota\", \"kappa-lib\", \"Click\""));
    let said = activity_of_apply(&p);
    assert!(!said.is_empty(), "the installer said nothing");
    assert!(
        !said
            .iter()
            .any(|l| l.contains("asking for every requirement")),
        "the pins were refused: {said:?}"
    );
    assert_eq!(
        p.installed(".venvs/app"),
        ["Kappa_Lib==2.0.post1", "click==8.1.7", "iota==1.0.0+cpu"]
    );
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&iota).unwrap()),
        ino,
        "iota was not touched"
    );
    assert!(p.plan().contains("No changes"), "{}", p.plan());
}

#[test]
fn local_versions_and_spelled_names_stay_pinned_with_pip() {
    local_versions_and_spelled_names_stay_pinned("pip");
}

#[test]
fn local_versions_and_spelled_names_stay_pinned_with_uv() {
    if uv_available() {
        local_versions_and_spelled_names_stay_pinned("uv");
    }
}

/// `zeta` 1.0 (no requirements) and 2.0 (needs `alpha>=2`), beside the
/// project's wheels.
fn zeta_wheels(p: &Project) {
    wheelhouse(
        &p.path("wheels"),
        &[
            WheelSpec {
                name: "zeta",
                version: "1.0.0",
                requires: &[],
            },
            WheelSpec {
                name: "zeta",
                version: "2.0.0",
                requires: &["alpha>=2"],
            },
        ],
    );
}
