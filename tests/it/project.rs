//! A project folder for end-to-end tests: a manifest, a wheelhouse built by
//! the test, a private home, and the real binary run as a user would.
//!
//! Interpreters are chosen at run time: [`python`] is Debian's statically
//! linked `python3.11` (installed by `.ci/run`; it bundles pip's wheel in
//! `/usr/share/python-wheels`), never a path of this machine's pyenv.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{beep, expect_exit, isolate_installers, stdout};
use crate::wheels::{WheelSpec, wheelhouse};

/// A prerequisite the test cannot run without: the value, or
/// [`crate::common::skip_or_fail`] (a failure under `CI=true`, a visible
/// skip elsewhere) and `None`.
#[track_caller]
pub fn require<T>(what: &str, found: Option<T>) -> Option<T> {
    if found.is_none() {
        crate::common::skip_or_fail(what);
    }
    found
}

/// Debian's `python3.11` (`.ci/run` installs it, with the pip wheel in
/// `/usr/share/python-wheels` that seeding uses), or `None` with a note.
#[track_caller]
pub fn python() -> Option<PathBuf> {
    require(
        "Debian's python3.11 with its pip wheel (apt-get install python3.11 python3-pip-whl)",
        crate::common::debian_python()
            .filter(|p| p.pip_wheel.is_some())
            .map(|p| p.path.clone()),
    )
}

pub struct Project {
    pub dir: tempfile::TempDir,
    pub python: PathBuf,
}

impl Project {
    /// A project with wheels `alpha` 1.0.0 and 2.0.0, `beta` 0.5.0 (needs
    /// alpha), `gamma` 3.1.0, `click` 8.1.7 and `tabulate` 0.9.0.
    pub fn new() -> Option<Self> {
        let python = python()?;
        let dir = tempfile::tempdir().unwrap();
        let p = Project { dir, python };
        let wheel = |name, version, requires| WheelSpec {
            name,
            version,
            requires,
        };
        wheelhouse(
            &p.path("wheels"),
            &[
                wheel("alpha", "1.0.0", &[]),
                wheel("alpha", "2.0.0", &[]),
                wheel("beta", "0.5.0", &["alpha>=1"]),
                wheel("gamma", "3.1.0", &[]),
                wheel("click", "8.1.7", &[]),
                wheel("tabulate", "0.9.0", &[]),
            ],
        );
        Some(p)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Writes the manifest: settings (installer, the wheelhouse, offline),
    /// a `host` runtime on [`python`], then `body`.
    pub fn manifest(&self, installer: &str, body: &str) {
        self.manifest_at("beep-python.toml", installer, body);
    }

    pub fn manifest_at(&self, rel: &str, installer: &str, body: &str) {
        let wheels = self.path("wheels");
        let text = format!(
            "version = 1\n\n[settings]\ninstaller = \"{installer}\"\nfind-links = [\"{}\"]\noffline = true\n\n[runtimes.host]\nsource = \"system\"\npath = \"{}\"\ndefault = true\n{body}",
            wheels.display(),
            self.python.display()
        );
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn cmd(&self) -> Command {
        self.cmd_with_home(&self.home())
    }

    pub fn cmd_with_home(&self, home: &Path) -> Command {
        let mut cmd = beep(home);
        // pip and uv must not reach an index or pick up the machine's config.
        isolate_installers(cmd.current_dir(self.dir.path()));
        cmd
    }

    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        expect_exit(self.cmd(), args, 0)
    }

    #[track_caller]
    pub fn fails(&self, args: &[&str], code: i32) -> Output {
        expect_exit(self.cmd(), args, code)
    }

    #[track_caller]
    pub fn apply(&self) -> Output {
        self.run(&["apply", "--auto-approve"])
    }

    #[track_caller]
    pub fn plan(&self) -> String {
        stdout(&self.run(&["plan"]))
    }

    /// `name==version` of what the environment at `rel` can import (pip
    /// and setuptools left out).
    pub fn installed(&self, rel: &str) -> Vec<String> {
        let out = Command::new(self.path(rel).join("bin/python"))
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

    /// The names of the environments the registry records.
    pub fn recorded(&self) -> Vec<String> {
        recorded_in(&self.home())
    }

    /// Folders named `*.beep-old-*` anywhere under the project.
    pub fn asides(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.to_string_lossy().contains(".beep-old-") {
                    out.push(path);
                } else if entry.file_type().is_ok_and(|t| t.is_dir())
                    && !path.ends_with("home")
                    && !path.ends_with("wheels")
                {
                    stack.push(path);
                }
            }
        }
        out
    }
}

pub fn registry_of(home: &Path) -> serde_json::Value {
    match std::fs::read_to_string(home.join("registry.json")) {
        Ok(text) => serde_json::from_str(&text).unwrap(),
        Err(_) => serde_json::json!({"environments": []}),
    }
}

pub fn recorded_in(home: &Path) -> Vec<String> {
    registry_of(home)["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}
