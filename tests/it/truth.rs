//! Issue 11: the plan tells the truth. Everyday edits, end to end with real
//! pip and uv and the wheels the tests build: each plan names exactly what
//! changes, and apply does exactly that plan.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::common::{expect_exit, stderr, stdout};
use crate::project::Project;

fn inode(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

use crate::common::uv_available;

fn rename_keeps_the_folder(installer: &str) {
    let Some(p) = Project::new() else { return };
    p.manifest(
        installer,
        "\n[environments.api]\npath = \".venvs/api\"\npackages = [\"gamma\"]\n",
    );
    p.apply();
    let file = p.path(".venvs/api/lib/python3.11/site-packages/gamma/__init__.py");
    let before = inode(&file);
    p.manifest(
        installer,
        "\n[environments.backend]\npath = \".venvs/api\"\npackages = [\"gamma\"]\n",
    );
    let plan = p.plan();
    assert!(
        plan.contains("~ env.backend (renamed from env.api)"),
        "{plan}"
    );
    assert!(plan.contains("1 to rename"), "{plan}");
    assert!(!plan.contains("- env.api"), "{plan}");
    let out = p.apply();
    assert!(stderr(&out).contains("1 renamed"), "{}", stderr(&out));
    assert_eq!(inode(&file), before, "nothing was rebuilt");
    assert_eq!(p.recorded(), ["backend"]);
    let marker: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path(".venvs/api/.beep-python.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["name"], "backend");
    assert!(p.plan().contains("No changes"));
    p.run(&["destroy", "--auto-approve"]);
    assert!(!p.path(".venvs/api").exists());
}

#[test]
fn renaming_an_environment_that_keeps_its_path_applies_without_a_rebuild_with_pip() {
    rename_keeps_the_folder("pip");
}

#[test]
fn renaming_an_environment_that_keeps_its_path_applies_without_a_rebuild_with_uv() {
    if uv_available() {
        rename_keeps_the_folder("uv");
    }
}

#[test]
fn moving_an_environment_builds_it_at_the_new_path_and_removes_the_old_folder() {
    let Some(p) = Project::new() else { return };
    p.manifest(
        "pip",
        "\n[environments.data]\npath = \".venvs/data\"\npackages = [\"gamma\"]\n",
    );
    p.apply();
    p.manifest(
        "pip",
        "\n[environments.data]\npath = \"envs/data\"\npackages = [\"gamma\"]\n",
    );
    let plan = p.plan();
    assert!(plan.contains("+/- env.data"), "{plan}");
    assert!(
        plan.contains("removes:") && plan.contains(".venvs/data"),
        "{plan}"
    );
    p.apply();
    assert!(!p.path(".venvs/data").exists(), "the old folder is gone");
    assert_eq!(p.installed("envs/data"), ["gamma==3.1.0"]);
    assert!(p.asides().is_empty(), "{:?}", p.asides());
    p.run(&["destroy", "--auto-approve"]);
    assert!(!p.path("envs/data").exists());
}

#[test]
fn removing_packages_names_each_and_a_relock_with_the_same_versions_is_no_change() {
    let Some(p) = Project::new() else { return };
    let env = |packages: &str| {
        format!("\n[environments.web]\npath = \".venvs/web\"\npackages = [{packages}]\n")
    };
    p.manifest("pip", &env("\"gamma\", \"click\", \"tabulate\""));
    p.apply();
    p.manifest("pip", &env("\"gamma\""));
    let plan = p.plan();
    assert!(plan.contains("update: requirements changed"), "{plan}");
    assert!(plan.contains("- click 8.1.7"), "{plan}");
    assert!(plan.contains("- tabulate 0.9.0"), "{plan}");
    assert!(!plan.contains("settings changed"), "{plan}");
    p.apply();
    assert_eq!(p.installed(".venvs/web"), ["gamma==3.1.0"]);

    // A lock of the same versions changes nothing...
    p.run(&["lock"]);
    p.run(&["plan", "--locked", "--detailed-exitcode"]);
    if !uv_available() {
        return;
    }
    // ...and neither does re-locking with another resolver.
    p.manifest("uv", &env("\"gamma\""));
    std::fs::remove_file(p.path("beep-python.lock")).unwrap();
    p.run(&["lock"]);
    let out = p.run(&["plan", "--locked", "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
}

#[test]
fn status_and_plan_agree_on_a_broken_environment() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", "\n[environments.a]\npath = \".venvs/a\"\n");
    p.apply();
    std::fs::remove_file(p.path(".venvs/a/bin/python")).unwrap();
    let plan = p.plan();
    assert!(
        plan.contains("replace: venv broken: `bin/python` is missing"),
        "{plan}"
    );
    let status = stdout(&p.run(&["status"]));
    assert!(
        status.contains("replace: venv broken: `bin/python` is missing"),
        "{status}"
    );
    assert!(!status.contains(" ready "), "{status}");
    // Away from the manifest, the same classifier speaks.
    let mut away = p.cmd();
    away.current_dir("/");
    let out = expect_exit(away, &["status"], 0);
    assert!(
        stdout(&out).contains("broken: venv broken: `bin/python` is missing"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn destroy_says_requested_asks_its_own_question_and_counts_what_it_destroyed() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", "\n[environments.a]\npath = \".venvs/a\"\n");
    p.apply();
    let out = p.fails(&["destroy"], 1);
    assert!(
        stdout(&out).contains("destroy: requested"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("no longer in the manifest"));
    assert!(
        stderr(&out).contains("needs confirmation"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["destroy", "--auto-approve"]);
    let err = stderr(&out);
    assert!(
        err.contains("Destroy complete! Resources: 1 destroyed."),
        "{err}"
    );
    assert!(!err.contains("Apply complete"), "{err}");
}

#[test]
fn every_command_that_reads_an_invalid_manifest_prints_its_diagnostics() {
    let Some(p) = Project::new() else { return };
    p.manifest(
        "pip",
        "\n[environments.a]\nprofiles = [\"nope\"]\npackages = [\"bad requirement !!\"]\n",
    );
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["lock"],
        &["destroy"],
    ] {
        let err = stderr(&p.fails(args, 1));
        assert!(err.contains("manifest::unknown-profile"), "{args:?}: {err}");
        assert!(
            err.contains("manifest::invalid-requirement"),
            "{args:?}: {err}"
        );
        assert!(err.contains("beep-python.toml:"), "{args:?}: {err}");
        assert!(
            err.contains("has 2 errors; nothing was changed"),
            "{args:?}: {err}"
        );
    }
}

/// The commands that use an environment say what is wrong with the
/// manifest exactly as `validate` does: the same diagnostics, byte for
/// byte, before their own error.
#[test]
fn using_an_environment_of_an_invalid_manifest_prints_validates_diagnostics() {
    let Some(p) = Project::new() else { return };
    p.manifest(
        "pip",
        "\n[environments.a]\nprofiles = [\"nope\"]\npackages = [\"bad requirement !!\"]\n",
    );
    let raw = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let validated = raw(&p.fails(&["validate"], 1));
    let diagnostics = &validated[..validated
        .find("error: `")
        .unwrap_or_else(|| panic!("validate's summary line:\n{validated}"))];
    assert!(
        diagnostics.contains("manifest::unknown-profile")
            && diagnostics.contains("manifest::invalid-requirement"),
        "{validated}"
    );
    for args in [
        &["run", "a", "--", "true"][..],
        &["env", "a"],
        &["shell", "a"],
        &["vscode", "a", "--dry-run"],
    ] {
        let out = p.fails(args, 1);
        let err = raw(&out);
        assert!(
            err.starts_with(diagnostics),
            "{args:?} does not start with validate's diagnostics:\n{err}\nvalidate:\n{validated}"
        );
        assert!(
            stderr(&out).contains("has 2 errors; nothing was changed"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_conda_environment_without_channels_is_refused_at_validate_and_a_missing_uv_at_plan() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", "\n[environments.c]\nkind = \"conda\"\n");
    let err = stderr(&p.fails(&["validate"], 1));
    assert!(err.contains("manifest::no-conda-channels"), "{err}");
    assert!(err.contains("channels = [\"conda-forge\"]"), "{err}");

    p.manifest("uv", "\n[environments.a]\npath = \".venvs/a\"\n");
    let no_uv = "/usr/bin:/bin";
    let run = |args: &[&str], code| {
        let mut cmd = p.cmd();
        cmd.env("PATH", no_uv);
        expect_exit(cmd, args, code)
    };
    run(&["validate"], 0);
    let err = stderr(&run(&["plan"], 1));
    assert!(err.contains("installer::uv-not-found"), "{err}");
    run(&["apply", "--auto-approve"], 1);
    assert!(!p.path(".venvs/a").exists());
}

fn pip_works(p: &Project, rel: &str) -> bool {
    Command::new(p.path(rel).join("bin/python"))
        .args(["-m", "pip", "--version"])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn pip_is_in_every_environment_whatever_the_installer_unless_opted_out() {
    let Some(p) = Project::new() else { return };
    if !uv_available() {
        return;
    }
    p.manifest(
        "uv",
        "\n[environments.a]\npath = \".venvs/a\"\npackages = [\"gamma\"]\n\n[environments.b]\npath = \".venvs/b\"\npip = false\npackages = [\"gamma\"]\n",
    );
    p.apply();
    assert!(pip_works(&p, ".venvs/a"), "pip in an environment uv filled");
    assert!(!pip_works(&p, ".venvs/b"), "no pip where `pip = false`");
    // Locked (exact sync with uv removes what the lock lacks): still pip.
    p.run(&["lock"]);
    p.run(&["apply", "--locked", "--auto-approve", "--replace", "env.a"]);
    assert!(pip_works(&p, ".venvs/a"));
    p.run(&["plan", "--locked", "--detailed-exitcode"]);
    // With pip as the installer and `pip = false`, pip installs, then goes.
    p.manifest(
        "pip",
        "\n[environments.b]\npath = \".venvs/b\"\npip = false\npackages = [\"gamma\", \"click\"]\n",
    );
    p.apply();
    assert!(!pip_works(&p, ".venvs/b"));
    assert_eq!(p.installed(".venvs/b"), ["click==8.1.7", "gamma==3.1.0"]);
}

#[test]
fn replace_rebuilds_the_one_environment_asked_for() {
    let Some(p) = Project::new() else { return };
    p.manifest(
        "pip",
        "\n[environments.a]\npath = \".venvs/a\"\npackages = [\"gamma\"]\n\n[environments.b]\npath = \".venvs/b\"\npackages = [\"gamma\"]\n",
    );
    p.apply();
    let file = |env: &str| {
        p.path(&format!(
            ".venvs/{env}/lib/python3.11/site-packages/gamma/__init__.py"
        ))
    };
    let (a, b) = (inode(&file("a")), inode(&file("b")));
    let plan = stdout(&p.run(&["plan", "--replace", "env.a"]));
    assert!(
        plan.contains("-/+ env.a") && plan.contains("replacement requested"),
        "{plan}"
    );
    assert!(!plan.contains("env.b"), "{plan}");
    p.run(&["apply", "--auto-approve", "--replace", "env.a"]);
    assert_ne!(inode(&file("a")), a, "env.a was rebuilt");
    assert_eq!(inode(&file("b")), b, "env.b was not");
    let err = stderr(&p.fails(&["plan", "--replace", "env.zzz"], 1));
    assert!(err.contains("no resource `env.zzz`"), "{err}");
}
