//! Issue 10: never touch what isn't ours, never get stuck. Each test puts a
//! user's data (or another manifest's environment) in harm's way and checks
//! that it survives; each is named after what broke.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{beep, expect_exit, stderr, stdout, wait_for};
use crate::project::{Project, recorded_in};

const ONE_ENV: &str = r#"
[environments.app]
path = "app-env"
packages = ["gamma"]
"#;

#[test]
fn a_folder_that_appears_between_plan_and_apply_is_never_deleted() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    p.run(&["plan", "--out", "p.json"]);
    // The user makes the folder (with work in it) after the plan.
    std::fs::create_dir(p.path("app-env")).unwrap();
    std::fs::write(p.path("app-env/thesis.txt"), "work").unwrap();
    let out = p.fails(&["apply", "p.json"], 1);
    let err = stderr(&out);
    assert!(err.contains("appeared since the plan"), "{err}");
    assert_eq!(
        std::fs::read_to_string(p.path("app-env/thesis.txt")).unwrap(),
        "work"
    );
    assert_eq!(std::fs::read_dir(p.path("app-env")).unwrap().count(), 1);
    assert!(p.recorded().is_empty());
}

#[test]
fn an_empty_folder_that_gets_a_file_before_apply_is_never_deleted() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    // An empty folder is taken as absent by the plan...
    std::fs::create_dir(p.path("app-env")).unwrap();
    assert!(p.plan().contains("+ env.app"));
    p.run(&["plan", "--out", "p.json"]);
    // ...and gets a file before the apply.
    std::fs::write(p.path("app-env/notes.md"), "mine").unwrap();
    p.fails(&["apply", "p.json"], 1);
    assert_eq!(
        std::fs::read_to_string(p.path("app-env/notes.md")).unwrap(),
        "mine"
    );
}

#[test]
fn data_that_appears_while_the_prompt_waits_is_never_deleted() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    // A real terminal: `script` gives the command a pty, so it asks.
    let Some(script) = crate::project::require("`script` from util-linux", which("script")) else {
        return;
    };
    let binary = env!("CARGO_BIN_EXE_beep-python");
    let mut child = Command::new(script)
        .args(["-qec", &format!("{binary} apply"), "/dev/null"])
        .current_dir(p.dir.path())
        .env("BEEP_PYTHON_HOME", p.home())
        .env("NO_COLOR", "1")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While it waits for the answer, the user makes the folder.
    let mut stdout = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    wait_for("the prompt", || seen.lock().unwrap().contains("[yes/no]"));
    std::fs::create_dir(p.path("app-env")).unwrap();
    std::fs::write(p.path("app-env/thesis.txt"), "work").unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(1));
    let text = seen.lock().unwrap().clone();
    assert!(text.contains("appeared since the plan"), "{text}");
    assert_eq!(
        std::fs::read_to_string(p.path("app-env/thesis.txt")).unwrap(),
        "work"
    );
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

#[test]
fn a_hand_written_journal_naming_a_user_folder_makes_recovery_delete_nothing() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    std::fs::create_dir_all(p.home()).unwrap();
    std::fs::create_dir(p.path("work")).unwrap();
    std::fs::write(p.path("work/thesis.txt"), "work").unwrap();
    let journal = serde_json::json!({
        "version": 2, "id": "5f0c8a1e-0000-4000-8000-000000000000", "pid": 1,
        "command": "beep-python apply", "started_at": "2026-01-01T00:00:00Z",
        "lineage": "00000000-0000-0000-0000-000000000000",
        "entries": [
            {"op": "created", "path": p.path("work")},
            {"op": "claimed", "path": p.path("work")},
            {"op": "creating", "path": p.path("work")},
        ],
    });
    std::fs::write(p.home().join("journal.json"), journal.to_string()).unwrap();
    let out = p.run(&["recover"]);
    let err = stderr(&out);
    assert!(err.contains("was interrupted"), "{err}");
    assert!(err.contains("not this apply's to remove"), "{err}");
    assert_eq!(
        std::fs::read_to_string(p.path("work/thesis.txt")).unwrap(),
        "work"
    );
}

/// Another manifest's environment around (or inside) ours would be
/// deleted with it on the next rebuild.
#[test]
fn an_environment_nested_in_another_manifests_environment_is_refused_both_ways() {
    let Some(p) = Project::new() else { return };
    p.manifest_at(
        "outer/beep-python.toml",
        "pip",
        &format!(
            "\n[environments.outer]\npath = \"{}\"\n",
            p.path("envs/outer").display()
        ),
    );
    p.manifest_at(
        "inner/beep-python.toml",
        "pip",
        &format!(
            "\n[environments.inner]\npath = \"{}\"\n",
            p.path("envs/outer/inner").display()
        ),
    );
    let run = |manifest: &str, args: &[&str], code| {
        let mut cmd = p.cmd();
        cmd.args(["--manifest", manifest]);
        expect_exit(cmd, args, code)
    };
    run("outer/beep-python.toml", &["apply", "--auto-approve"], 0);
    std::fs::write(p.path("envs/outer/user-data.txt"), "keep").unwrap();
    let out = run("inner/beep-python.toml", &["plan"], 1);
    assert!(
        stderr(&out).contains("is inside the environment `outer`"),
        "{}",
        stderr(&out)
    );
    run("inner/beep-python.toml", &["apply", "--auto-approve"], 1);
    assert!(!p.path("envs/outer/inner").exists());

    // The reverse: the inner one first, then an outer one around it.
    run("outer/beep-python.toml", &["destroy", "--auto-approve"], 0);
    run("inner/beep-python.toml", &["apply", "--auto-approve"], 0);
    let out = run("outer/beep-python.toml", &["plan"], 1);
    assert!(
        stderr(&out).contains("contains the environment `inner`"),
        "{}",
        stderr(&out)
    );
    assert!(p.path("envs/outer/inner/bin/python").exists());
}

/// Two homes, one environment path, applied at the same moment: the claim
/// makes exactly one win, and the loser's rollback never removes the
/// winner's environment.
#[test]
fn two_homes_applying_one_path_at_once_leave_one_whole_environment() {
    let Some(p) = Project::new() else { return };
    let target = p.path("shared-env");
    for name in ["a", "b"] {
        p.manifest_at(
            &format!("{name}/beep-python.toml"),
            "pip",
            &format!(
                "\n[environments.shared]\npath = \"{}\"\npackages = [\"gamma\"]\n",
                target.display()
            ),
        );
    }
    for round in 0..6 {
        let children: Vec<_> = ["a", "b"]
            .iter()
            .map(|name| {
                p.cmd_with_home(&p.path(&format!("home-{name}")))
                    .args([
                        "--manifest",
                        &format!("{name}/beep-python.toml"),
                        "apply",
                        "--auto-approve",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let codes: Vec<i32> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
            .collect();
        let recorded: Vec<bool> = ["a", "b"]
            .iter()
            .map(|n| recorded_in(&p.path(&format!("home-{n}"))).contains(&"shared".to_string()))
            .collect();
        assert_eq!(
            codes.iter().filter(|c| **c == 0).count(),
            1,
            "round {round}: exactly one apply wins: {codes:?}"
        );
        assert_eq!(recorded.iter().filter(|r| **r).count(), 1, "round {round}");
        // The winner's environment is whole.
        let python = target.join("bin/python");
        let ok = Command::new(&python)
            .args(["-c", "import gamma"])
            .status()
            .unwrap();
        assert!(ok.success(), "round {round}: the environment is whole");
        let winner = if recorded[0] { "a" } else { "b" };
        p.cmd_with_home(&p.path(&format!("home-{winner}")))
            .args([
                "--manifest",
                &format!("{winner}/beep-python.toml"),
                "destroy",
                "--auto-approve",
            ])
            .output()
            .unwrap();
        assert!(!target.exists(), "round {round}: destroyed");
    }
}

/// A rollback that cannot be done is recorded with what is left where; it
/// wedges neither this home nor any other manifest, and `recover` retries it.
#[test]
fn a_rollback_that_cannot_be_done_does_not_wedge_the_home() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    std::fs::create_dir_all(p.home()).unwrap();
    // An interrupted apply had set the user's environment aside, and the
    // user has since put something else at its path.
    let id = "5f0c8a1e-1111-4000-8000-000000000000";
    let aside = p.path("old-env.beep-old-5f0c8a1e");
    std::fs::create_dir(&aside).unwrap();
    std::fs::write(aside.join("precious.txt"), "old").unwrap();
    std::fs::create_dir(p.path("old-env")).unwrap();
    std::fs::write(p.path("old-env/new.txt"), "new").unwrap();
    let journal = serde_json::json!({
        "version": 2, "id": id, "pid": 1, "command": "beep-python apply",
        "started_at": "2026-01-01T00:00:00Z",
        "lineage": "00000000-0000-0000-0000-000000000000",
        "entries": [{"op": "moved_aside", "from": p.path("old-env"), "to": aside}],
    });
    std::fs::write(p.home().join("journal.json"), journal.to_string()).unwrap();

    // Another apply in the same home goes on, saying what is left where.
    let out = p.apply();
    let err = stderr(&out);
    assert!(err.contains("something else is now at"), "{err}");
    assert!(err.contains(&aside.display().to_string()), "{err}");
    assert!(p.recorded().contains(&"app".to_string()));
    // `recover` still reports it (exit 1) and keeps both folders.
    let out = p.fails(&["recover"], 1);
    assert!(stderr(&out).contains("old-env"), "{}", stderr(&out));
    assert!(aside.join("precious.txt").is_file() && p.path("old-env/new.txt").is_file());
    // Once the path is free, `recover` finishes the rollback.
    std::fs::rename(p.path("old-env"), p.path("moved-by-user")).unwrap();
    let out = p.run(&["recover"]);
    assert!(
        stderr(&out).contains("finished 1 change"),
        "{}",
        stderr(&out)
    );
    assert!(p.path("old-env/precious.txt").is_file());
    assert!(!aside.exists());
}

/// A corrupt journal is set aside by `recover --abandon`, deleting nothing.
#[test]
fn a_corrupt_journal_can_be_abandoned_safely() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    std::fs::create_dir_all(p.home()).unwrap();
    std::fs::create_dir(p.path("keep")).unwrap();
    std::fs::write(
        p.home().join("journal.json"),
        format!(
            "{{\"version\": 2, \"entries\": [{{\"op\": \"created\", \"path\": \"{}\"",
            p.path("keep").display()
        ),
    )
    .unwrap();
    let out = p.fails(&["apply", "--auto-approve"], 1);
    assert!(
        stderr(&out).contains("recover --abandon"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["recover", "--abandon"]);
    assert!(stdout(&out).contains(&p.path("keep").display().to_string()));
    assert!(p.path("keep").is_dir());
    p.apply();
}

/// A container volume mounted on the environment's path: built inside,
/// emptied (never removed or renamed) on rollback, replaced in place.
#[test]
fn an_empty_mount_point_is_built_in_and_emptied_never_removed() {
    let Some(p) = Project::new() else { return };
    let Some(unshare) = crate::project::require("`unshare` (util-linux)", which("unshare")) else {
        return;
    };
    p.manifest(
        "pip",
        "\n[environments.app]\npath = \"vol\"\npackages = [\"gamma\"]\n",
    );
    std::fs::create_dir(p.path("vol")).unwrap();
    let binary = env!("CARGO_BIN_EXE_beep-python");
    let failing = p.path("failing.toml");
    std::fs::write(
        &failing,
        std::fs::read_to_string(p.path("beep-python.toml"))
            .unwrap()
            .replace("[\"gamma\"]", "[\"gamma\", \"no-such-package\"]"),
    )
    .unwrap();
    // Inside a private mount namespace: a tmpfs on `vol`, then a failing
    // apply (rolled back), a good one, and a replace.
    let script = format!(
        "set -e
mount -t tmpfs none vol
! {b} --manifest {failing} apply --auto-approve
test -d vol && test -z \"$(ls -A vol)\"
{b} apply --auto-approve
vol/bin/python -c 'import gamma'
{b} apply --auto-approve --replace env.app
vol/bin/python -c 'import gamma'
mountpoint -q vol
echo OK",
        b = binary,
        failing = failing.display()
    );
    let out = Command::new(unshare)
        .args(["-m", "sh", "-c", &script])
        .current_dir(p.dir.path())
        .env("BEEP_PYTHON_HOME", p.home())
        .env("NO_COLOR", "1")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    if !out.status.success() && text.contains("Operation not permitted") {
        crate::project::require::<()>("permission to mount in a private namespace", None);
        return;
    }
    assert!(out.status.success() && text.contains("OK"), "{text}");
}

#[test]
fn plan_and_status_read_without_the_lock_while_an_apply_runs() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    let mut child = p
        .cmd()
        .env("BEEP_PYTHON_FAILPOINTS", "install-packages=pause")
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the apply to hold the home", || {
        p.home().join("journal.json").exists()
    });
    for args in [
        &["plan"][..],
        &["status"][..],
        &["validate"][..],
        &["runtimes", "list"][..],
    ] {
        let out = p.run(args);
        if args[0] == "plan" || args[0] == "status" {
            assert!(
                stderr(&out).contains("an apply is in progress"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
    // A mutating command still waits for the lock (exit 3).
    p.fails(&["apply", "--auto-approve"], 3);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `plan`, `status`, `validate` and `runtimes list` write nothing into the
/// home: they work on one that is read-only (here, one that must not be
/// created, and one whose every file keeps its bytes and times).
#[test]
fn read_only_commands_write_nothing_into_the_home() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    p.apply();
    let snapshot = |home: &Path| {
        let mut files = Vec::new();
        let mut stack = vec![home.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let meta = e.metadata().unwrap();
                if meta.is_dir() {
                    stack.push(e.path());
                }
                files.push((e.path(), meta.len(), meta.modified().unwrap()));
            }
        }
        files.sort();
        files
    };
    // Warm the discovery cache once; after that nothing may change.
    p.run(&["plan"]);
    let before = snapshot(&p.home());
    for args in [
        &["plan"][..],
        &["status"][..],
        &["validate"][..],
        &["runtimes", "list"][..],
    ] {
        p.run(args);
    }
    assert_eq!(before, snapshot(&p.home()));
    // A home that does not exist is not created by a plan.
    let none = p.path("no-home");
    let out = expect_exit(p.cmd_with_home(&none), &["plan"], 0);
    // Ours on disk, unknown to that home: it would be recorded again.
    assert!(stdout(&out).contains("~ env.app"), "{}", stdout(&out));
    assert!(!none.exists());
}

/// `plan --out` writes a new file or over an earlier plan, nothing else.
#[test]
fn plan_out_never_replaces_the_manifest_a_link_a_device_or_other_files() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", ONE_ENV);
    let manifest = std::fs::read_to_string(p.path("beep-python.toml")).unwrap();
    let refused = |target: &str| {
        let out = p.fails(&["plan", "--out", target], 1);
        assert!(
            stderr(&out).contains("refusing to write the plan"),
            "{target}: {}",
            stderr(&out)
        );
    };
    refused("beep-python.toml");
    assert_eq!(
        std::fs::read_to_string(p.path("beep-python.toml")).unwrap(),
        manifest
    );
    std::fs::write(p.path("notes.txt"), "notes").unwrap();
    refused("notes.txt");
    assert_eq!(
        std::fs::read_to_string(p.path("notes.txt")).unwrap(),
        "notes"
    );
    std::os::unix::fs::symlink(p.path("notes.txt"), p.path("link.json")).unwrap();
    refused("link.json");
    assert!(
        std::fs::symlink_metadata(p.path("link.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    refused("/dev/null");
    // A new file, then over that earlier plan: fine.
    p.run(&["plan", "--out", "plan.json"]);
    p.run(&["plan", "--out", "plan.json"]);
    p.run(&["apply", "plan.json"]);
}

/// Environments of two manifests with the same name are two records: one
/// manifest's apply never drops the other's.
#[test]
fn two_manifests_with_one_environment_name_keep_both_records() {
    let Some(p) = Project::new() else { return };
    for name in ["one", "two"] {
        p.manifest_at(
            &format!("{name}/beep-python.toml"),
            "pip",
            &format!(
                "\n[environments.app]\npath = \"{}\"\n",
                p.path(&format!("{name}-env")).display()
            ),
        );
        let mut cmd = p.cmd();
        cmd.args(["--manifest", &format!("{name}/beep-python.toml")]);
        expect_exit(cmd, &["apply", "--auto-approve"], 0);
    }
    assert_eq!(p.recorded(), ["app", "app"]);
    let mut cmd = p.cmd();
    cmd.args(["--manifest", "one/beep-python.toml"]);
    expect_exit(cmd, &["destroy", "--auto-approve"], 0);
    assert_eq!(p.recorded(), ["app"]);
    assert!(p.path("two-env/bin/python").exists());
    let _ = beep;
}
