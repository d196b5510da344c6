//! Issue 12 end to end: updates change only what differs, in place, after a
//! restore point; damaged files are seen by `plan` and repaired by
//! reinstalling their package alone; a locked environment needs neither
//! pip nor uv.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::common::{expect_exit, stderr, stdout};
use crate::project::Project;

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

fn site(p: &Project, env: &str) -> PathBuf {
    p.path(&format!(".venvs/{env}/lib/python3.11/site-packages"))
}

use crate::common::uv_available;

/// Every regular file under `dir`, with its sha256.
fn hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let bytes = std::fs::read(entry.path()).unwrap();
                out.insert(
                    entry.path().strip_prefix(dir).unwrap().to_path_buf(),
                    format!("{:x}", Sha256::digest(&bytes)),
                );
            }
        }
    }
    out
}

/// `cp -al`: a hard-linked copy, as the restore point is.
fn link_copy(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .args(["-a", "-l"])
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn adding_a_package_changes_only_that(installer: &str) {
    let Some(p) = Project::new() else { return };
    let env = |packages: &str| {
        format!("\n[environments.app]\npath = \".venvs/app\"\npackages = [{packages}]\n")
    };
    p.manifest(installer, &env("\"gamma\""));
    p.apply();
    let gamma = site(&p, "app").join("gamma/__init__.py");
    let python = p.path(".venvs/app/pyvenv.cfg");
    let (gamma_inode, cfg_inode) = (inode(&gamma), inode(&python));
    p.manifest(installer, &env("\"gamma\", \"beta\""));
    let plan = p.plan();
    assert!(
        plan.contains("~ env.app") && plan.contains("+ beta"),
        "{plan}"
    );
    let out = p.run(&["-v", "apply", "--auto-approve"]);
    assert!(stderr(&out).contains("update-packages"), "{}", stderr(&out));
    assert_eq!(
        p.installed(".venvs/app"),
        ["alpha==2.0.0", "beta==0.5.0", "gamma==3.1.0"]
    );
    assert_eq!(inode(&gamma), gamma_inode, "gamma was not touched");
    assert_eq!(inode(&python), cfg_inode, "the environment was not rebuilt");
    assert!(p.asides().is_empty(), "{:?}", p.asides());
    assert!(p.plan().contains("No changes"));
}

#[test]
fn adding_a_package_with_pip_changes_only_that_in_place() {
    adding_a_package_changes_only_that("pip");
}

#[test]
fn adding_a_package_with_uv_changes_only_that_in_place() {
    if uv_available() {
        adding_a_package_changes_only_that("uv");
    }
}

/// An update asks its installer for what changes only, everything else
/// pinned; when the new package needs another version of an installed one,
/// every requirement is asked for instead, and the dependency moves.
fn an_added_package_that_needs_a_newer_dependency_still_gets_it(installer: &str) {
    let Some(p) = Project::new() else { return };
    crate::wheels::wheelhouse(
        &p.path("wheels"),
        &[crate::wheels::WheelSpec {
            name: "delta",
            version: "1.0.0",
            requires: &["alpha>=2"],
        }],
    );
    let env = |packages: &str| {
        format!("\n[environments.app]\npath = \".venvs/app\"\npackages = [{packages}]\n")
    };
    p.manifest(installer, &env("\"alpha<2\", \"gamma\""));
    p.apply();
    assert_eq!(p.installed(".venvs/app"), ["alpha==1.0.0", "gamma==3.1.0"]);
    let gamma = site(&p, "app").join("gamma/__init__.py");
    let gamma_inode = inode(&gamma);
    p.manifest(installer, &env("\"alpha\", \"gamma\", \"delta\""));
    p.run(&["apply", "--auto-approve"]);
    assert_eq!(
        p.installed(".venvs/app"),
        ["alpha==2.0.0", "delta==1.0.0", "gamma==3.1.0"]
    );
    assert_eq!(inode(&gamma), gamma_inode, "gamma was not touched");
    assert!(p.asides().is_empty(), "{:?}", p.asides());
    assert!(p.plan().contains("No changes"));
}

#[test]
fn an_added_package_that_needs_a_newer_dependency_still_gets_it_with_pip() {
    an_added_package_that_needs_a_newer_dependency_still_gets_it("pip");
}

#[test]
fn an_added_package_that_needs_a_newer_dependency_still_gets_it_with_uv() {
    if uv_available() {
        an_added_package_that_needs_a_newer_dependency_still_gets_it("uv");
    }
}

#[test]
fn an_update_that_fails_is_rolled_back_from_its_restore_point() {
    let Some(p) = Project::new() else { return };
    let env = |packages: &str| {
        format!(
            "\n[environments.app]\npath = \".venvs/app\"\npackages = [{packages}]\n\n[environments.other]\npath = \".venvs/other\"\npackages = [\"click\"]\n"
        )
    };
    p.manifest("pip", &env("\"gamma\", \"click\""));
    p.apply();
    let before = hashes(&p.path(".venvs/app"));
    let gamma = site(&p, "app").join("gamma/__init__.py");
    let gamma_inode = inode(&gamma);
    // click goes, and a package no one offers comes: the install fails
    // after click was already uninstalled.
    p.manifest("pip", &env("\"gamma\", \"no-such-package\""));
    let out = p.fails(&["apply", "--auto-approve"], 1);
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    assert_eq!(hashes(&p.path(".venvs/app")), before, "every file is back");
    assert_eq!(inode(&gamma), gamma_inode, "restored from its hard links");
    assert_eq!(p.installed(".venvs/app"), ["click==8.1.7", "gamma==3.1.0"]);
    assert!(p.asides().is_empty(), "{:?}", p.asides());
}

fn a_damaged_package_is_reinstalled_alone(locked: bool) {
    let Some(p) = Project::new() else { return };
    p.manifest(
        "pip",
        "\n[environments.app]\npath = \".venvs/app\"\npackages = [\"gamma\", \"click\"]\n",
    );
    let (flag, plan_args): (&[&str], &[&str]) = if locked {
        p.run(&["lock"]);
        (&["--locked"], &["plan", "--locked"])
    } else {
        (&[], &["plan"])
    };
    let mut apply = vec!["apply", "--auto-approve"];
    apply.extend_from_slice(flag);
    p.run(&apply);
    let gamma = site(&p, "app").join("gamma/__init__.py");
    let click = site(&p, "app").join("click/__init__.py");
    let click_inode = inode(&click);
    std::fs::remove_file(&gamma).unwrap();

    let out = expect_exit(p.cmd(), &[plan_args, &["--detailed-exitcode"]].concat(), 2);
    let plan = stdout(&out);
    assert!(plan.contains("update: gamma: 1 file missing"), "{plan}");
    assert!(plan.contains("~ gamma 3.1.0 (reinstall)"), "{plan}");
    assert!(!plan.contains("click"), "{plan}");
    p.run(&apply);
    assert!(gamma.is_file(), "gamma's file is back");
    assert_eq!(inode(&click), click_inode, "click was not touched");
    p.run(&[plan_args, &["--detailed-exitcode"]].concat());

    // A changed file, the same size, is seen by `--refresh=full` only.
    let text = std::fs::read(&click).unwrap();
    let mut changed = text.clone();
    changed[0] = if changed[0] == b'#' { b'$' } else { b'#' };
    std::fs::write(&click, &changed).unwrap();
    let meta = std::fs::metadata(&click).unwrap();
    let _ = meta;
    let full = stdout(&expect_exit(
        p.cmd(),
        &[plan_args, &["--refresh=full", "--detailed-exitcode"]].concat(),
        2,
    ));
    assert!(full.contains("click: 1 file changed"), "{full}");
}

#[test]
fn a_deleted_file_is_seen_by_plan_and_only_its_package_is_reinstalled() {
    a_damaged_package_is_reinstalled_alone(false);
}

#[test]
fn a_deleted_file_in_a_locked_environment_is_reinstalled_natively() {
    a_damaged_package_is_reinstalled_alone(true);
}

/// What makes hard-linked restore points safe with pip and uv: neither
/// writes into an installed file in place (they remove, then write anew),
/// so a hard-linked copy taken before an update keeps every byte.
#[test]
fn pip_and_uv_never_write_into_an_installed_file_in_place() {
    let Some(p) = Project::new() else { return };
    let mut installers = vec!["pip"];
    if uv_available() {
        installers.push("uv");
    }
    for installer in installers {
        let env = |packages: &str| {
            format!(
                "\n[environments.{installer}]\npath = \".venvs/{installer}\"\npackages = [{packages}]\n"
            )
        };
        p.manifest(installer, &env("\"alpha==1.0.0\", \"click\", \"gamma\""));
        p.apply();
        let live = p.path(&format!(".venvs/{installer}"));
        let copy = p.path(&format!("copy-{installer}"));
        link_copy(&live, &copy);
        let before = hashes(&copy);
        // An upgrade, a removal and an addition, in place.
        p.manifest(installer, &env("\"alpha==2.0.0\", \"gamma\", \"tabulate\""));
        p.apply();
        assert_eq!(
            p.installed(&format!(".venvs/{installer}")),
            ["alpha==2.0.0", "gamma==3.1.0", "tabulate==0.9.0"]
        );
        assert_eq!(
            hashes(&copy),
            before,
            "{installer} wrote into a linked file"
        );
    }
}

#[test]
fn a_locked_environment_is_built_with_neither_pip_nor_uv_on_path() {
    let Some(p) = Project::new() else { return };
    p.manifest(
        "auto",
        "\n[environments.app]\npath = \".venvs/app\"\npackages = [\"beta\", \"gamma\"]\n",
    );
    p.run(&["lock"]);
    // Nothing on PATH that could install: no uv, no pip.
    let bare = p.path("bare-bin");
    std::fs::create_dir(&bare).unwrap();
    let run = |args: &[&str], code| {
        let mut cmd = p.cmd();
        cmd.env("PATH", &bare);
        expect_exit(cmd, args, code)
    };
    let out = run(&["-v", "apply", "--locked", "--auto-approve"], 0);
    assert!(
        stderr(&out).contains("native installed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        p.installed(".venvs/app"),
        ["alpha==2.0.0", "beta==0.5.0", "gamma==3.1.0"]
    );
    // pip is there too (seeded natively), and knows what was installed.
    let list = Command::new(p.path(".venvs/app/bin/python"))
        .args([
            "-m",
            "pip",
            "list",
            "--format=freeze",
            "--disable-pip-version-check",
        ])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.contains("beta==0.5.0") && list.contains("gamma==3.1.0"),
        "{list}"
    );
    run(&["plan", "--locked", "--detailed-exitcode"], 0);
}

/// A requirement that names its wheel by URL gets PEP 610's
/// `direct_url.json` from the native installer, as pip writes it; one found
/// by name does not.
#[test]
fn a_locked_url_requirement_installed_natively_records_its_direct_url() {
    let Some(p) = Project::new() else { return };
    let wheel = p.path("wheels/gamma-3.1.0-py3-none-any.whl");
    let url = url::Url::from_file_path(&wheel).unwrap().to_string();
    p.manifest(
        "pip",
        &format!(
            "\n[environments.direct]\npath = \".venvs/direct\"\npackages = [\"gamma @ {url}\", \"alpha==1.0.0\"]\n"
        ),
    );
    p.run(&["lock"]);
    p.run(&["apply", "--locked", "--auto-approve"]);
    let site = site(&p, "direct");
    let direct: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(site.join("gamma-3.1.0.dist-info/direct_url.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(direct["url"], url.as_str(), "{direct}");
    assert!(!site.join("alpha-1.0.0.dist-info/direct_url.json").exists());
    assert_eq!(
        std::fs::read_to_string(site.join("gamma-3.1.0.dist-info/INSTALLER"))
            .unwrap()
            .trim(),
        "beep-python"
    );
}

/// site-packages' files and their contents, bytecode left out.
fn site_files(p: &Project, env: &str) -> BTreeMap<PathBuf, String> {
    hashes(&site(p, env))
        .into_iter()
        .filter(|(path, _)| !path.components().any(|c| c.as_os_str() == "__pycache__"))
        .collect()
}

/// A locked environment `app` holding `packages`, built or updated by the
/// native installer.
fn locked_app(p: &Project, packages: &str) {
    p.manifest(
        "pip",
        &format!("\n[environments.app]\npath = \".venvs/app\"\npackages = [{packages}]\n"),
    );
    p.run(&["lock"]);
}

/// `apply --locked`, killed (SIGKILL) at its `point`th crash point.
fn apply_locked_killed_at(p: &Project, point: u64) -> std::process::Output {
    p.cmd()
        .env("BEEP_PYTHON_CRASH_AT", point.to_string())
        .args(["apply", "--auto-approve", "--locked"])
        .output()
        .unwrap()
}

#[test]
fn a_native_update_killed_at_every_point_gives_back_exactly_the_old_files() {
    let Some(p) = Project::new() else { return };
    locked_app(&p, "\"gamma\", \"click\"");
    p.run(&["apply", "--auto-approve", "--locked"]);
    std::fs::write(site(&p, "app").join("user-notes.txt"), "mine").unwrap();
    let before = site_files(&p, "app");
    // click goes, beta and alpha come; gamma stays.
    let mut point = 1u64;
    let mut rolled_back = 0;
    loop {
        locked_app(&p, "\"gamma\", \"beta\"");
        let out = apply_locked_killed_at(&p, point);
        if out.status.success() {
            break;
        }
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "crash point {point}: {}",
            stderr(&out)
        );
        p.run(&["recover"]);
        assert!(p.asides().is_empty(), "point {point}: {:?}", p.asides());
        if p.installed(".venvs/app") == ["click==8.1.7", "gamma==3.1.0"] {
            assert!(
                site_files(&p, "app") == before,
                "crash point {point}: every file of the old environment is back, and only those"
            );
            rolled_back += 1;
        } else {
            assert_eq!(
                p.installed(".venvs/app"),
                ["alpha==2.0.0", "beta==0.5.0", "gamma==3.1.0"],
                "point {point}"
            );
            // Back to the old state for the next point.
            locked_app(&p, "\"gamma\", \"click\"");
            p.run(&["apply", "--auto-approve", "--locked"]);
            assert!(site_files(&p, "app") == before, "point {point}");
        }
        point += 1;
        assert!(point < 100, "the apply never completed");
    }
    assert!(rolled_back >= 3, "only {rolled_back} points rolled back");
    assert_eq!(
        p.installed(".venvs/app"),
        ["alpha==2.0.0", "beta==0.5.0", "gamma==3.1.0"]
    );
    assert_eq!(
        std::fs::read_to_string(site(&p, "app").join("user-notes.txt")).unwrap(),
        "mine"
    );
    assert!(p.asides().is_empty(), "{:?}", p.asides());
}

#[test]
fn a_native_update_keeps_only_what_it_changes_in_its_restore_point() {
    let Some(p) = Project::new() else { return };
    locked_app(&p, "\"gamma\", \"click\"");
    p.run(&["apply", "--auto-approve", "--locked"]);
    // Killed right after the installer said what it changes (click goes,
    // tabulate comes): the restore point lists everything but holds only
    // the shell and click's files.
    locked_app(&p, "\"gamma\", \"tabulate\"");
    let mut point = 1u64;
    let snapshot = loop {
        let out = apply_locked_killed_at(&p, point);
        assert!(!out.status.success(), "no point after the restore point");
        if stderr(&out).contains("(`snapshot-extended`)") {
            break std::fs::read_dir(p.path(".venvs"))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|path| {
                    let name = path.file_name().unwrap().to_string_lossy();
                    name.starts_with("app.beep-old-") && !name.ends_with(".partial")
                })
                .expect("the restore point");
        }
        p.run(&["recover"]);
        point += 1;
        assert!(point < 50, "never reached `snapshot-extended`");
    };
    // The listing names every entry; a kept one is stored flat, under its
    // position in the listing.
    let listing: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(snapshot.join(".beep-listing.json")).unwrap(),
    )
    .unwrap();
    let kept: std::collections::BTreeSet<String> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(i, _)| snapshot.join(i.to_string()).exists())
        .map(|(_, e)| e[1].as_str().unwrap().to_string())
        .collect();
    let sp = "lib/python3.11/site-packages";
    assert!(kept.contains("pyvenv.cfg"), "{kept:?}");
    assert!(
        kept.contains(&format!("{sp}/click/__init__.py")),
        "{kept:?}"
    );
    assert!(kept.contains(&format!("{sp}/click-8.1.7.dist-info/RECORD")));
    assert!(
        !kept.iter().any(|k| k.starts_with(&format!("{sp}/gamma"))),
        "gamma does not change, so it is not kept: {kept:?}"
    );
    // Recovery merges it back: exactly the old environment.
    p.run(&["recover"]);
    assert!(!snapshot.exists());
    assert_eq!(p.installed(".venvs/app"), ["click==8.1.7", "gamma==3.1.0"]);
    p.run(&["apply", "--auto-approve", "--locked"]);
    assert_eq!(
        p.installed(".venvs/app"),
        ["gamma==3.1.0", "tabulate==0.9.0"]
    );
    assert!(p.asides().is_empty(), "{:?}", p.asides());
}
