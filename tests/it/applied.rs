//! A project whose environment was built by the real binary (`apply
//! --auto-approve`), for the tests of what comes after: `run`, `env`,
//! `shell`, `vscode` and the JSON documents.
//!
//! The runtime is `source = "system"` with the interpreter chosen at run
//! time ([`base_python`]); packages come from wheels the test builds,
//! offline (`find-links`, `PIP_NO_INDEX`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{beep, expect_exit, isolate_installers};
use crate::wheels::{WheelSpec, wheelhouse};

/// The interpreter the project's runtime points at: the real executable
/// behind `python3` on `PATH` (a pyenv shim is resolved by asking it), else
/// Debian's `/usr/bin/python3.11`.
#[track_caller]
pub fn base_python() -> PathBuf {
    let asked = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file());
    asked
        .or_else(|| Some(PathBuf::from("/usr/bin/python3.11")).filter(|p| p.is_file()))
        .expect("these tests need `python3` on PATH or /usr/bin/python3.11")
}

pub use crate::common::program as require;

pub struct Project {
    pub dir: tempfile::TempDir,
}

/// The manifest's environments: `a` from template `t` (env vars from both,
/// `a` winning), with package `gamma`.
pub const ENVS: &str = r#"
[templates.t]
env = { FROM_TEMPLATE = "template", OVERRIDDEN = "template" }

[environments.a]
template = "t"
path = ".venvs/a"
packages = ["gamma"]
env = { OVERRIDDEN = "environment", GREETING = "it's \"quoted\" $HOME ; `x`" }
"#;

impl Project {
    /// The project, its manifest written (`packages` for environment `a`),
    /// nothing applied yet.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = Project { dir };
        wheelhouse(
            &p.path("wheels"),
            &[
                WheelSpec {
                    name: "alpha",
                    version: "1.0.0",
                    requires: &[],
                },
                WheelSpec {
                    name: "gamma",
                    version: "3.1.0",
                    requires: &[],
                },
            ],
        );
        p.manifest(ENVS);
        p
    }

    /// The project with environment `a` applied.
    pub fn applied() -> Self {
        let p = Project::new();
        p.run(&["apply", "--auto-approve"]);
        p
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Writes the manifest: the runtime, then `body`.
    pub fn manifest(&self, body: &str) {
        let text = format!(
            "version = 1\n\n[settings]\nfind-links = [\"wheels\"]\noffline = true\n\n\
             [runtimes.host]\nsource = \"system\"\npath = \"{}\"\ndefault = true\n{body}",
            base_python().display()
        );
        std::fs::write(self.path("beep-python.toml"), text).unwrap();
    }

    /// The binary, in the project folder, installers kept offline.
    pub fn cmd(&self) -> Command {
        let mut cmd = beep(&self.home());
        isolate_installers(cmd.current_dir(self.dir.path()));
        cmd
    }

    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        expect_exit(self.cmd(), args, 0)
    }

    /// The environment's folder.
    pub fn env_root(&self) -> PathBuf {
        self.path(".venvs/a")
    }

    /// `import NAME` works in the environment.
    pub fn imports(&self, name: &str) -> bool {
        Command::new(self.env_root().join("bin/python"))
            .args(["-c", &format!("import {name}")])
            .status()
            .unwrap()
            .success()
    }
}

/// Splits `env -0` output into (name, value) pairs, sorted.
pub fn env_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = bytes
        .split(|b| *b == 0)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (k, v) = text.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    pairs.sort();
    pairs
}

/// A folder holding an executable script `name` that prints `says`.
pub fn script_in(dir: &Path, name: &str, says: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\necho {says}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
