//! `lock`, `apply --locked` and `--frozen` end to end: a standalone runtime
//! served from 127.0.0.1 ([`crate::pbs`]), wheels the tests build, real pip
//! and uv, offline.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::{beep, expect_exit, isolate_installers, stderr, stdout};
use crate::pbs::{self, DEBIAN_VERSION};
use crate::wheels::{WheelSpec, build_wheel, build_wheel_with_payload, wheelhouse};

struct Project {
    dir: tempfile::TempDir,
    server: crate::pbs::server::Server,
}

const ALPHA_1: WheelSpec = WheelSpec {
    name: "alpha",
    version: "1.0.0",
    requires: &[],
};
const ALPHA_2: WheelSpec = WheelSpec {
    name: "alpha",
    version: "2.0.0",
    requires: &[],
};
const BETA: WheelSpec = WheelSpec {
    name: "beta",
    version: "0.5.0",
    requires: &["alpha>=1"],
};
const GAMMA: WheelSpec = WheelSpec {
    name: "gamma",
    version: "3.1.0",
    requires: &[],
};

impl Project {
    /// A standalone runtime `py` from the local server, and two
    /// environments on it, installed with `installer`.
    fn new(installer: &str) -> Self {
        let archive = pbs::debian_archive();
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
            server: archive.serve(),
        };
        wheelhouse(&p.path("wheels"), &[ALPHA_1, BETA, GAMMA]);
        std::fs::write(
            p.path("catalog.json"),
            pbs::catalog_json(&[(DEBIAN_VERSION, &p.server.url(), &archive.sha256)]),
        )
        .unwrap();
        p.manifest(installer, r#"["beta"]"#);
        p
    }

    fn manifest(&self, installer: &str, web_packages: &str) {
        let text = format!(
            r#"version = 1

[settings]
installer = "{installer}"
find-links = ["wheels"]
python-downloads = "catalog.json"

[runtimes.py]
version = "3.11"

[environments.web]
runtime = "py"
packages = {web_packages}
path = ".venvs/web"

[environments.tools]
runtime = "py"
packages = ["gamma"]
path = ".venvs/tools"
"#
        );
        std::fs::write(self.path("beep-python.toml"), text).unwrap();
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn cmd(&self) -> Command {
        let mut cmd = beep(&self.home());
        isolate_installers(cmd.current_dir(self.dir.path()))
            .env("UV_OFFLINE", "1")
            .env_remove("BEEP_PYTHON_MIRROR");
        cmd
    }

    fn output(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> Output {
        expect_exit(self.cmd(), args, 0)
    }

    fn lock_text(&self) -> String {
        std::fs::read_to_string(self.path("beep-python.lock")).unwrap()
    }

    /// `name==version` of what the environment's Python can import, pip
    /// left out.
    fn installed(&self, env: &str) -> Vec<String> {
        let out = Command::new(self.path(&format!(".venvs/{env}/bin/python")))
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
            .filter(|l| !l.starts_with("pip=="))
            .map(str::to_string)
            .collect()
    }

    fn runtime_sha256(&self) -> String {
        let text = std::fs::read_to_string(self.home().join("registry.json")).unwrap();
        let registry: serde_json::Value = serde_json::from_str(&text).unwrap();
        registry["runtimes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "py")
            .unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// What an OS reinstall leaves: the project, without the home and the
    /// environments.
    fn wipe_machine(&self) {
        std::fs::remove_dir_all(self.home()).unwrap();
        std::fs::remove_dir_all(self.path(".venvs")).unwrap();
    }
}

fn os_reinstall_story(installer: &str) {
    let p = Project::new(installer);
    p.run(&["lock"]);
    let lock = p.lock_text();
    let archive = pbs::debian_archive();
    assert!(lock.contains(&archive.sha256), "{lock}");
    assert!(
        lock.contains("alpha") && lock.contains("beta") && lock.contains("gamma"),
        "{lock}"
    );
    assert!(lock.contains("sha256:"), "{lock}");

    p.run(&["apply", "--locked", "--auto-approve"]);
    let web = p.installed("web");
    let tools = p.installed("tools");
    assert_eq!(web, ["alpha==1.0.0", "beta==0.5.0"]);
    assert_eq!(tools, ["gamma==3.1.0"]);
    let sha = p.runtime_sha256();
    assert_eq!(sha, archive.sha256);

    // A newer alpha appears on the index: the lock still rebuilds the same
    // machine.
    build_wheel(&p.path("wheels"), &ALPHA_2);
    p.wipe_machine();
    p.run(&["apply", "--locked", "--auto-approve"]);
    assert_eq!(p.installed("web"), web);
    assert_eq!(p.installed("tools"), tools);
    assert_eq!(p.runtime_sha256(), sha);
    let plan = stdout(&p.run(&["plan", "--locked", "--detailed-exitcode"]));
    assert!(plan.contains("No changes"), "{plan}");
}

#[test]
fn lock_then_apply_locked_rebuilds_the_same_machine_after_a_wipe_with_uv() {
    os_reinstall_story("uv");
}

#[test]
fn lock_then_apply_locked_rebuilds_the_same_machine_after_a_wipe_with_pip() {
    os_reinstall_story("pip");
}

#[test]
fn a_second_lock_with_nothing_changed_rewrites_nothing_and_keeps_pins() {
    let p = Project::new("uv");
    p.run(&["lock"]);
    let first = p.lock_text();
    let modified = std::fs::metadata(p.path("beep-python.lock"))
        .unwrap()
        .modified()
        .unwrap();

    // A newer alpha does not move the pin (minimal churn)...
    build_wheel(&p.path("wheels"), &ALPHA_2);
    let out = p.run(&["lock"]);
    assert!(stderr(&out).contains("is up to date"), "{}", stderr(&out));
    assert_eq!(p.lock_text(), first);
    assert_eq!(
        std::fs::metadata(p.path("beep-python.lock"))
            .unwrap()
            .modified()
            .unwrap(),
        modified
    );

    // ...until it is asked to.
    p.run(&["lock", "--upgrade-package", "alpha"]);
    let upgraded = p.lock_text();
    assert!(upgraded.contains("\"2.0.0\""), "{upgraded}");
    assert!(!upgraded.contains("\"1.0.0\""), "{upgraded}");
}

#[test]
fn a_manifest_edit_makes_locked_fail_naming_the_environment() {
    let p = Project::new("uv");
    p.run(&["lock"]);
    p.run(&["apply", "--locked", "--auto-approve"]);
    let registry = std::fs::read(p.home().join("registry.json")).unwrap();

    p.manifest("uv", r#"["beta", "gamma"]"#);
    let out = p.output(&["apply", "--locked", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("out of date") && err.contains("environment `web`"),
        "{err}"
    );
    assert!(!err.contains("environment `tools`"), "{err}");
    assert_eq!(
        std::fs::read(p.home().join("registry.json")).unwrap(),
        registry
    );
    assert_eq!(p.installed("web"), ["alpha==1.0.0", "beta==0.5.0"]);

    // Without `--locked` the stale entry is resolved from the manifest,
    // with a warning; `--frozen` applies the lock as it is.
    let out = p.run(&["plan"]);
    assert!(
        stderr(&out).contains("does not match the manifest"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["plan", "--frozen"]);
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
}

#[test]
fn a_missing_lock_fails_locked_and_frozen() {
    let p = Project::new("uv");
    for flag in ["--locked", "--frozen"] {
        let out = p.output(&["apply", flag, "--auto-approve"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("beep-python.lock` does not exist"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!p.home().join("registry.json").exists());
}

#[test]
fn a_tampered_wheel_is_refused_by_its_hash() {
    for installer in ["uv", "pip"] {
        let p = Project::new(installer);
        p.run(&["lock"]);
        // Same name and version, other bytes, from another wheelhouse (uv
        // trusts its cache of a folder it has read, and would install the
        // genuine bytes: safe, but no test of the check).
        let evil = p.path("evil");
        wheelhouse(&evil, &[ALPHA_1, BETA]);
        build_wheel_with_payload(&evil, &GAMMA, "print('not the locked gamma')");
        let text = std::fs::read_to_string(p.path("beep-python.toml"))
            .unwrap()
            .replace(r#"find-links = ["wheels"]"#, r#"find-links = ["evil"]"#);
        std::fs::write(p.path("beep-python.toml"), text).unwrap();

        let out = p.output(&["apply", "--locked", "--auto-approve"]);
        assert_eq!(out.status.code(), Some(1), "{installer}: {}", stdout(&out));
        let err = stderr(&out).to_lowercase();
        // The native installer (the lock is in use) says `sha256`.
        assert!(
            (err.contains("hash") || err.contains("sha256")) && err.contains("gamma"),
            "{installer}: {err}"
        );
        assert!(!p.path(".venvs/tools").exists(), "{installer}");
    }
}

#[test]
fn plan_shows_package_changes_against_the_lock_and_apply_syncs_exactly() {
    let p = Project::new("uv");
    p.run(&["lock"]);
    p.run(&["apply", "--auto-approve"]);

    // Something installed by hand is not in the lock: exact sync removes
    // it; a newer pin shows as a change.
    let status = Command::new("uv")
        .args(["pip", "install", "--offline", "--no-index", "--find-links"])
        .arg(p.path("wheels"))
        .arg("--python")
        .arg(p.path(".venvs/tools/bin/python"))
        .arg("alpha")
        .env("UV_NO_CONFIG", "1")
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    build_wheel(&p.path("wheels"), &ALPHA_2);
    p.run(&["lock", "--upgrade-package", "alpha"]);

    let plan = stdout(&p.run(&["plan"]));
    assert!(plan.contains("~ alpha 1.0.0 -> 2.0.0"), "{plan}");
    assert!(plan.contains("- alpha 1.0.0"), "{plan}");
    p.run(&["apply", "--locked", "--auto-approve"]);
    assert_eq!(p.installed("web"), ["alpha==2.0.0", "beta==0.5.0"]);
    assert_eq!(p.installed("tools"), ["gamma==3.1.0"]);
}

/// The lock names every artifact of a package by file name and sha256, so
/// that a lock written for several interpreters installs, on this one, the
/// wheel built for it; and a machine that has only the wheels folder
/// rebuilds the same environment after the cache is gone.
#[test]
fn the_lock_records_each_artifact_and_apply_picks_this_interpreters_wheel() {
    use crate::wheels::Custom;
    let p = Project::new("uv");
    let variant = |tag: &str, payload: &str| {
        let mut wheel = Custom::new("delta", "1.0.0").file("delta/which.py", payload);
        wheel.tag = tag.to_string();
        wheel.build(&p.path("wheels"));
    };
    variant("py3-none-any", "WHICH = 'generic'\n");
    variant("cp311-none-any", "WHICH = 'cp311'\n");
    variant("cp39-none-any", "WHICH = 'cp39'\n");
    p.manifest("uv", r#"["delta"]"#);
    p.run(&["lock"]);
    let lock = p.lock_text();
    for file in [
        "delta-1.0.0-py3-none-any.whl",
        "delta-1.0.0-cp311-none-any.whl",
    ] {
        assert!(
            lock.contains(&format!("name = \"{file}\"")),
            "{file} missing:\n{lock}"
        );
    }
    // Found by name in `find-links`: no path of this machine is recorded.
    assert!(
        !lock.contains(&p.dir.path().display().to_string()),
        "{lock}"
    );

    p.run(&["apply", "--locked", "--auto-approve"]);
    let which = |env: &str| {
        let out = Command::new(p.path(&format!(".venvs/{env}/bin/python")))
            .args(["-c", "import delta.which as w; print(w.WHICH)"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    assert_eq!(which("web"), "cp311");

    // An OS reinstall: the cache and environments go, the wheels folder
    // and the lock stay; the same wheel is installed again.
    p.wipe_machine();
    p.run(&["apply", "--locked", "--auto-approve"]);
    assert_eq!(which("web"), "cp311");
}
