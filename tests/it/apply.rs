//! plan/apply end to end: the binary, real interpreters, real pip and uv,
//! and wheels the tests build, offline.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::common::{
    Python, beep, debian_python, expect_exit, isolate_installers, require, stderr, stdout, tool,
    two_pythons, wait_for,
};
use crate::wheels::{WheelSpec, wheelhouse};

/// A project folder with a manifest, a wheelhouse and a private home.
struct Project {
    dir: tempfile::TempDir,
    /// The newer and the older interpreter of [`three_envs`].
    runtimes: (&'static Python, &'static Python),
}

/// The two interpreters of [`three_envs`]: supported, different versions,
/// able to seed pip (pip installs into the environments).
fn two_runtimes() -> Option<(&'static Python, &'static Python)> {
    two_pythons(|p| p.pip_wheel.is_some() || p.has_ensurepip)
}

const UV: &str = "`uv` on PATH";

const TWO_RUNTIMES: &str =
    "two CPython interpreters (3.8+) of different versions that can seed pip";

impl Project {
    /// `None` when this machine lacks [`TWO_RUNTIMES`].
    fn new() -> Option<Self> {
        let runtimes = two_runtimes()?;
        let dir = tempfile::tempdir().unwrap();
        let p = Project { dir, runtimes };
        wheelhouse(
            &p.path("wheels"),
            &[
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
            ],
        );
        Some(p)
    }

    /// [`three_envs`] on this project's interpreters.
    fn three_envs(&self, extra_for_c: &str) -> String {
        three_envs(self.runtimes, extra_for_c)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Writes the manifest: `settings` lines plus the rest.
    fn manifest(&self, installer: &str, body: &str) {
        let text = format!(
            "version = 1\n\n[settings]\ninstaller = \"{installer}\"\nfind-links = [\"wheels\"]\noffline = true\n\n{body}"
        );
        std::fs::write(self.path("beep-python.toml"), text).unwrap();
    }

    fn cmd(&self) -> Command {
        let mut cmd = beep(&self.home());
        // pip and uv must not reach an index or pick up the machine's config.
        isolate_installers(cmd.current_dir(self.dir.path()));
        cmd
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> Output {
        expect_exit(self.cmd(), args, 0)
    }

    fn apply(&self) -> Output {
        self.run(&["apply", "--auto-approve"])
    }

    fn venv_python(&self, env: &str) -> PathBuf {
        self.path(&format!(".venvs/{env}/bin/python"))
    }

    /// `name==version` of what the environment's Python can import.
    fn installed(&self, env: &str) -> Vec<String> {
        let out = Command::new(self.venv_python(env))
            .args([
                "-c",
                "import importlib.metadata as m; print('\\n'.join(sorted(f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions())))",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("pip==") && !l.starts_with("setuptools=="))
            .map(str::to_string)
            .collect()
    }

    fn serial(&self) -> u64 {
        let text = std::fs::read_to_string(self.home().join("registry.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["serial"]
            .as_u64()
            .unwrap()
    }

    fn asides(&self) -> Vec<PathBuf> {
        let venvs = self.path(".venvs");
        let Ok(entries) = std::fs::read_dir(&venvs) else {
            return vec![];
        };
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".beep-old-"))
            .collect()
    }
}

/// Environment `a` on the newer interpreter, `b` and `c` on the older one
/// (the default).
fn three_envs((newer, older): (&Python, &Python), extra_for_c: &str) -> String {
    format!(
        r#"
[runtimes.newer]
source = "system"
path = "{}"

[runtimes.older]
source = "system"
path = "{}"
default = true

[environments.a]
runtime = "newer"
path = ".venvs/a"
packages = ["beta"]

[environments.b]
path = ".venvs/b"
packages = ["gamma==3.1.0"]

[environments.c]
path = ".venvs/c"
packages = ["alpha<2"{extra_for_c}]
"#,
        newer.path.display(),
        older.path.display(),
    )
}

#[track_caller]
fn create_then_no_op(installer: &str) {
    if installer == "uv" {
        require!(UV, tool("uv"));
    }
    let p = require!(TWO_RUNTIMES, Project::new());
    p.manifest(installer, &p.three_envs(""));

    let out = p
        .cmd()
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains("+ env.a") && plan.contains("+ env.b") && plan.contains("+ env.c"),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 3 to add, 0 to change, 0 to destroy."),
        "{plan}"
    );

    let out = p.apply();
    assert!(
        stderr(&out).contains("Apply complete! Resources: 3 added"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.installed("a"), ["alpha==2.0.0", "beta==0.5.0"]);
    assert_eq!(p.installed("b"), ["gamma==3.1.0"]);
    assert_eq!(p.installed("c"), ["alpha==1.0.0"]);
    // The venv is the interpreter it says it is.
    let out = Command::new(p.venv_python("a"))
        .args([
            "-c",
            "import sys; print(sys.version.split()[0], sys.prefix != sys.base_prefix)",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{} True", p.runtimes.0.version)
    );
    let serial = p.serial();

    // A second apply: no changes, no Python started to observe.
    let out = p.run(&["-v", "apply", "--auto-approve"]);
    assert!(stdout(&out).contains("No changes."), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("observation started 0 Python processes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.serial(), serial, "a no-op apply writes nothing");
    let out = p
        .cmd()
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn create_then_no_op_with_pip() {
    create_then_no_op("pip");
}

#[test]
fn create_then_no_op_with_uv() {
    create_then_no_op("uv");
}

#[test]
fn a_deleted_package_is_planned_as_an_update_and_reinstalled() {
    require!(UV, tool("uv"));
    let p = require!(TWO_RUNTIMES, Project::new());
    p.manifest("uv", &p.three_envs(""));
    p.apply();
    let site = p.path(&format!(
        ".venvs/b/lib/python{}/site-packages",
        p.runtimes.1.short()
    ));
    for entry in std::fs::read_dir(&site).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("gamma")
        {
            std::fs::remove_dir_all(&path).unwrap();
        }
    }
    let out = p
        .cmd()
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let plan = stdout(&out);
    assert!(plan.contains("~ env.b"), "{plan}");
    assert!(
        plan.contains("update: 1 installed package drifted"),
        "{plan}"
    );
    assert!(plan.contains("+ gamma==3.1.0"), "{plan}");
    assert!(
        plan.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{plan}"
    );
    p.apply();
    assert_eq!(p.installed("b"), ["gamma==3.1.0"]);
    assert!(p.asides().is_empty(), "{:?}", p.asides());
}

/// The base interpreter is a copy of Debian's static python3.11 found on a
/// PATH folder of the test's; removing it makes the environment's base
/// disappear, and discovery then picks `/usr/bin/python3.11` instead.
#[test]
fn a_removed_base_interpreter_is_planned_as_a_replace() {
    require!(UV, tool("uv"));
    let debian = require!("Debian's /usr/bin/python3.11", debian_python());
    let p = require!(TWO_RUNTIMES, Project::new());
    let bin = p.path("base/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(&debian.path, bin.join("python3.11")).unwrap();
    p.manifest(
        "uv",
        &format!(
            r#"
[runtimes.debian]
source = "system"
version = "=={}"
default = true

[environments.d]
path = ".venvs/d"
# The copied interpreter bundles no pip wheel to seed.
pip = false
packages = ["gamma"]
"#,
            debian.version
        ),
    );
    let path_var = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| p.cmd().env("PATH", &path_var).args(args).output().unwrap();
    let out = run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cfg = std::fs::read_to_string(p.path(".venvs/d/pyvenv.cfg")).unwrap();
    assert!(cfg.contains(&bin.display().to_string()), "{cfg}");

    std::fs::remove_file(bin.join("python3.11")).unwrap();
    let out = run(&["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(plan.contains("-/+ env.d"), "{plan}");
    assert!(plan.contains("base interpreter missing"), "{plan}");
    let out = run(&["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.installed("d"), ["gamma==3.1.0"]);
    let cfg = std::fs::read_to_string(p.path(".venvs/d/pyvenv.cfg")).unwrap();
    assert!(cfg.contains("home = /usr/bin"), "{cfg}");
}

#[test]
fn an_environment_that_leaves_the_manifest_is_deleted_and_destroy_removes_the_rest() {
    require!(UV, tool("uv"));
    let p = require!(TWO_RUNTIMES, Project::new());
    p.manifest("uv", &p.three_envs(""));
    p.apply();
    let without_c = p
        .three_envs("")
        .split("[environments.c]")
        .next()
        .unwrap()
        .to_string();
    p.manifest("uv", &without_c);
    let out = p.run(&["plan"]);
    let plan = stdout(&out);
    assert!(
        plan.contains("- env.c") && plan.contains("no longer in the manifest"),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to add, 0 to change, 1 to destroy."),
        "{plan}"
    );
    p.apply();
    assert!(!p.path(".venvs/c").exists());
    assert!(p.path(".venvs/a").exists() && p.path(".venvs/b").exists());

    // A folder the user put there without our marker survives destroy.
    std::fs::create_dir_all(p.path(".venvs/mine")).unwrap();
    std::fs::write(p.path(".venvs/mine/notes.txt"), "keep").unwrap();
    let out = p
        .cmd()
        .args(["destroy"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "no terminal, no --auto-approve");
    assert!(stderr(&out).contains("--auto-approve"), "{}", stderr(&out));
    p.run(&["destroy", "--auto-approve"]);
    assert!(!p.path(".venvs/a").exists() && !p.path(".venvs/b").exists());
    assert_eq!(
        std::fs::read_to_string(p.path(".venvs/mine/notes.txt")).unwrap(),
        "keep"
    );
    let status = stdout(&p.run(&["status"]));
    assert!(status.contains("no environments are managed"), "{status}");
}

/// One requirement that does not exist, among three environments: the
/// pre-existing ones are intact and working, the new ones are gone, the
/// registry's serial did not move, exit 1 naming the environment and the
/// requirement.
#[test]
fn a_failing_apply_rolls_everything_back() {
    require!(UV, tool("uv"));
    for installer in ["pip", "uv"] {
        let p = require!(TWO_RUNTIMES, Project::new());
        p.manifest(installer, &p.three_envs(""));
        p.apply();
        let serial = p.serial();
        let registry_before = std::fs::read(p.home().join("registry.json")).unwrap();

        // a: changed (gamma added) -> update; c: replaced by a new runtime and
        // a requirement that does not exist; d: new.
        let mut body = p.three_envs(", \"no-such-package>=1\"");
        body = body.replace("packages = [\"beta\"]", "packages = [\"beta\", \"gamma\"]");
        body.push_str("\n[environments.d]\npath = \".venvs/d\"\npackages = [\"gamma\"]\n");
        p.manifest(installer, &body);
        let out = p
            .cmd()
            .args(["apply", "--auto-approve", "--jobs", "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{installer}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("env.c"), "{installer}: {err}");
        assert!(err.contains("no-such-package"), "{installer}: {err}");
        assert!(err.contains("rolled back"), "{installer}: {err}");

        assert_eq!(p.serial(), serial);
        assert_eq!(
            std::fs::read(p.home().join("registry.json")).unwrap(),
            registry_before
        );
        assert!(
            !p.path(".venvs/d").exists(),
            "{installer}: the new environment is removed"
        );
        assert_eq!(
            p.installed("a"),
            ["alpha==2.0.0", "beta==0.5.0"],
            "{installer}"
        );
        assert_eq!(p.installed("b"), ["gamma==3.1.0"], "{installer}");
        assert_eq!(p.installed("c"), ["alpha==1.0.0"], "{installer}");
        assert!(p.asides().is_empty(), "{installer}: {:?}", p.asides());
        assert!(!p.home().join("journal.json").exists());
    }
}

/// SIGKILL in the middle of an install, then `plan`: the journal is rolled
/// back first (and says so), no aside is left, and the plan is right.
#[test]
fn sigkill_during_install_is_rolled_back_by_the_next_command() {
    require!(UV, tool("uv"));
    let p = require!(TWO_RUNTIMES, Project::new());
    p.manifest("uv", &p.three_envs(""));
    p.apply();
    let updated = p
        .three_envs("")
        .replace("packages = [\"beta\"]", "packages = [\"beta\", \"gamma\"]");
    p.manifest("uv", &updated);

    let mut child = p
        .cmd()
        .env("BEEP_PYTHON_FAILPOINTS", "install-packages=pause")
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // env.a was moved aside and is being rebuilt when the kill comes.
    wait_for("the rebuild of env.a", || {
        !p.asides().is_empty() && p.venv_python("a").exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(p.home().join("journal.json").exists());

    // `plan` is read-only: it says an apply was interrupted, and the next
    // mutating command (here `recover`) rolls it back.
    let err = stderr(&p.cmd().arg("plan").output().unwrap());
    assert!(
        err.contains("an apply is in progress or was interrupted"),
        "{err}"
    );
    let err = stderr(&p.run(&["recover"]));
    assert!(
        err.contains("was interrupted") && err.contains("rolled back"),
        "{err}"
    );
    let out = p.run(&["plan"]);
    assert!(p.asides().is_empty(), "{:?}", p.asides());
    assert!(!p.home().join("journal.json").exists());
    assert_eq!(p.installed("a"), ["alpha==2.0.0", "beta==0.5.0"]);
    let plan = stdout(&out);
    assert!(
        plan.contains("~ env.a") && plan.contains("+ gamma"),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{plan}"
    );
}

/// Ctrl-C (SIGINT) during an apply rolls back and exits 130.
#[test]
fn ctrl_c_rolls_back_and_exits_130() {
    require!(UV, tool("uv"));
    let p = require!(TWO_RUNTIMES, Project::new());
    p.manifest("uv", &p.three_envs(""));
    let child = p
        .cmd()
        .env("BEEP_PYTHON_FAILPOINTS", "install-packages=pause")
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("env.a to be created", || p.venv_python("a").exists());
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert!(!p.path(".venvs/a").exists() && !p.path(".venvs/b").exists());
    assert!(!p.home().join("journal.json").exists());
}

#[test]
fn a_stale_saved_plan_is_refused_and_a_second_concurrent_apply_exits_3() {
    require!(UV, tool("uv"));
    let p = require!(TWO_RUNTIMES, Project::new());
    p.manifest("uv", &p.three_envs(""));
    let plan_file = p.path("plan.json");
    p.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    // The manifest changes after the plan was made.
    p.manifest("uv", &p.three_envs(", \"gamma\""));
    let out = p
        .cmd()
        .args(["apply", plan_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("stale") && err.contains("the manifest"),
        "{err}"
    );
    assert!(!p.path(".venvs/a").exists());

    // A plan saved in another format is refused, naming which side is
    // older: a reader that dropped a field it does not know (a conda spec)
    // would build something else than the plan showed.
    p.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let ours = doc["format_version"].as_u64().unwrap();
    for (version, says) in [(ours - 1, "older"), (ours + 1, "newer")] {
        doc["format_version"] = version.into();
        std::fs::write(&plan_file, doc.to_string()).unwrap();
        let out = p
            .cmd()
            .args(["apply", plan_file.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(!p.path(".venvs/a").exists());
    }

    // A fresh saved plan applies without a prompt.
    p.run(&["plan", "--out", plan_file.to_str().unwrap()]);
    p.run(&["apply", plan_file.to_str().unwrap()]);
    assert_eq!(p.installed("c"), ["alpha==1.0.0", "gamma==3.1.0"]);
    // ...and once applied, the registry moved: the same file is stale.
    let out = p
        .cmd()
        .args(["apply", plan_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the registry (serial"),
        "{}",
        stderr(&out)
    );

    // Two applies at once: the second exits 3 naming the first.
    p.manifest("uv", &p.three_envs(""));
    let mut first = p
        .cmd()
        .env("BEEP_PYTHON_FAILPOINTS", "install-packages=pause")
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first apply to hold the lock", || {
        p.home().join("journal.json").exists()
    });
    let out = p.cmd().args(["apply", "--auto-approve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("pid {}", first.id())),
        "{}",
        stderr(&out)
    );
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn plan_json_lists_changes_and_a_summary() {
    require!(UV, tool("uv"));
    let p = require!(TWO_RUNTIMES, Project::new());
    p.manifest("uv", &p.three_envs(""));
    let out = p.run(&["plan", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format_version"], 2);
    assert_eq!(
        json["summary"],
        serde_json::json!({"add": 3, "change": 0, "destroy": 0, "rename": 0, "move": 0})
    );
    let first = &json["changes"][0];
    assert_eq!(first["address"], "env.a");
    assert_eq!(first["action"], "create");
    assert_eq!(first["reason"], "not in the registry");
    assert_eq!(first["packages"]["add"], serde_json::json!(["beta"]));

    // apply --format json: one event per line on stdout.
    let out = p.run(&["--format", "json", "apply", "--auto-approve"]);
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The first event carries the plan.
    assert_eq!(events[0]["event"], "plan");
    assert_eq!(events[0]["summary"]["add"], 3);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_finished" && e["step"] == "install-packages")
    );
    assert_eq!(events.last().unwrap()["event"], "applied");
}

/// A path occupied by something that is not ours is an error with a help
/// line, and it is left untouched.
#[test]
fn a_foreign_folder_at_an_environment_path_is_never_overwritten() {
    require!(UV, tool("uv"));
    let p = require!(TWO_RUNTIMES, Project::new());
    p.manifest("uv", &p.three_envs(""));
    std::fs::create_dir_all(p.path(".venvs/b")).unwrap();
    std::fs::write(p.path(".venvs/b/thesis.tex"), "precious").unwrap();
    let out = p.cmd().args(["apply", "--auto-approve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("was not created by beep-python") && err.contains("help:"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(p.path(".venvs/b/thesis.tex")).unwrap(),
        "precious"
    );
    assert!(
        !p.path(".venvs/a").exists(),
        "nothing changes when the plan has errors"
    );
}
