//! `runtimes discover|list|default` through the binary, on fake layouts
//! whose interpreters are links to the real ones on this machine, and the
//! home lock contended by two processes.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use beep_python::registry::Home;

use crate::common::{beep, stderr, stdout};

/// The real interpreters the tests link to (pyenv's, present on the dev
/// machines and in CI).
fn real_python(version: &str) -> PathBuf {
    let minor: Vec<&str> = version.split('.').take(2).collect();
    let path = PathBuf::from(format!(
        "/root/.pyenv/versions/{version}/bin/python{}",
        minor.join(".")
    ));
    assert!(path.is_file(), "{} is needed by this test", path.display());
    path
}

struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    /// A user with a pyenv root holding links to real 3.12 and 3.11.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let m = Machine { dir };
        for v in ["3.12.1", "3.11.7"] {
            m.link_pyenv(v);
        }
        std::fs::create_dir_all(m.path("bin")).unwrap();
        m
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn link_pyenv(&self, version: &str) {
        let bin = self.path(&format!("pyenv/versions/{version}/bin"));
        std::fs::create_dir_all(&bin).unwrap();
        let _ = std::fs::remove_file(bin.join("python3"));
        symlink(real_python(version), bin.join("python3")).unwrap();
    }

    fn unlink_pyenv(&self, version: &str) {
        std::fs::remove_dir_all(self.path(&format!("pyenv/versions/{version}"))).unwrap();
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn cmd(&self) -> Command {
        let mut cmd = beep(&self.home());
        cmd.env("HOME", self.path("user"))
            .env("PYENV_ROOT", self.path("pyenv"))
            .env("PATH", self.path("bin"))
            .env_remove("CONDA_PREFIX")
            .env_remove("UV_PYTHON_INSTALL_DIR")
            .env_remove("XDG_DATA_HOME");
        cmd
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}:\n{}", stderr(&out));
        out
    }

    fn list(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["runtimes", "list", "--format", "json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["runtimes"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn registry_serial(&self) -> u64 {
        let text = std::fs::read_to_string(self.home().join("registry.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["serial"]
            .as_u64()
            .unwrap()
    }
}

fn find<'a>(list: &'a [serde_json::Value], real: &Path) -> Option<&'a serde_json::Value> {
    list.iter()
        .find(|r| r["real_path"].as_str() == Some(real.to_str().unwrap()))
}

#[test]
fn discover_registers_then_marks_missing_then_brings_back_then_prunes() {
    let m = Machine::new();
    let py312 = real_python("3.12.1");
    let out = m.run(&["runtimes", "discover"]);
    let table = stdout(&out);
    assert!(
        table.contains("NAME") && table.contains("cpython-3.12.1"),
        "{table}"
    );
    assert!(stderr(&out).contains("new"), "{}", stderr(&out));

    let list = m.list();
    let entry = find(&list, &py312).expect("3.12.1 registered");
    assert_eq!(entry["name"], "cpython-3.12.1");
    assert_eq!(entry["version"], "3.12.1");
    assert_eq!(entry["implementation"], "cpython");
    assert_eq!(entry["source"], "system");
    assert_eq!(entry["managed"], false);
    assert_eq!(entry["default"], false);
    assert_eq!(entry["status"], "ready");
    assert_eq!(entry["found_by"], serde_json::json!(["pyenv"]));
    assert_eq!(
        entry["path"],
        m.path("pyenv/versions/3.12.1/bin/python3")
            .to_str()
            .unwrap()
    );

    // Nothing changed: a second run writes nothing.
    let serial = m.registry_serial();
    m.run(&["runtimes", "discover"]);
    assert_eq!(
        m.registry_serial(),
        serial,
        "a no-op discover must not write"
    );

    // Gone (say, an OS reinstall): kept and marked missing.
    m.unlink_pyenv("3.12.1");
    let out = m.run(&["runtimes", "discover"]);
    assert!(stderr(&out).contains("1 now missing"), "{}", stderr(&out));
    let list = m.list();
    assert_eq!(find(&list, &py312).unwrap()["status"], "missing");

    // Back: ready again under the same name.
    m.link_pyenv("3.12.1");
    m.run(&["runtimes", "discover"]);
    let list = m.list();
    let entry = find(&list, &py312).unwrap();
    assert_eq!(entry["status"], "ready");
    assert_eq!(entry["name"], "cpython-3.12.1");

    // --prune forgets only what is missing.
    m.unlink_pyenv("3.12.1");
    m.run(&["runtimes", "discover", "--prune"]);
    let list = m.list();
    assert!(find(&list, &py312).is_none());
    assert!(find(&list, &real_python("3.11.7")).is_some());
}

#[test]
fn default_by_name_or_path_is_marked_in_the_list() {
    let m = Machine::new();
    m.run(&["runtimes", "discover"]);
    let out = m.run(&["runtimes", "default", "cpython-3.11.7"]);
    assert!(
        stdout(&out).contains("default runtime: cpython-3.11.7"),
        "{}",
        stdout(&out)
    );
    let list = m.list();
    let defaults: Vec<&str> = list
        .iter()
        .filter(|r| r["default"] == true)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, ["cpython-3.11.7"]);
    let table = stdout(&m.run(&["runtimes", "list"]));
    let line = table
        .lines()
        .find(|l| l.contains("cpython-3.11.7"))
        .unwrap();
    assert!(line.starts_with('*'), "{table}");

    // By path, through a link: the same runtime.
    let link = m.path("pyenv/versions/3.12.1/bin/python3");
    m.run(&["runtimes", "default", link.to_str().unwrap()]);
    let list = m.list();
    assert_eq!(
        find(&list, &real_python("3.12.1")).unwrap()["default"],
        true
    );

    // By the path of an interpreter not discovered yet: registered.
    let py310 = real_python("3.10.13");
    m.run(&["runtimes", "default", py310.to_str().unwrap()]);
    let list = m.list();
    let entry = find(&list, &py310).expect("registered by `default`");
    assert_eq!(entry["default"], true);
    assert_eq!(entry["version"], "3.10.13");
}

#[test]
fn default_refuses_unknown_names_python2_and_unsupported_versions() {
    let m = Machine::new();
    m.run(&["runtimes", "discover"]);
    let out = m
        .cmd()
        .args(["runtimes", "default", "cpython-3.12.2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no runtime named `cpython-3.12.2`"), "{err}");
    assert!(err.contains("did you mean `cpython-3.12.1`?"), "{err}");

    let py2 = "/root/.pyenv/versions/2.7.18/bin/python2.7";
    let out = m.cmd().args(["runtimes", "default", py2]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Python 2.7.18 is not supported"),
        "{}",
        stderr(&out)
    );

    let py36 = real_python("3.6.15");
    let out = m
        .cmd()
        .args(["runtimes", "default", py36.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot be the default"),
        "{}",
        stderr(&out)
    );
    assert!(m.list().iter().all(|r| r["default"] == false));
}

/// Two processes contend for the home lock: this test process holds it,
/// the binary fails at once with exit 3 naming the holder; with a timeout
/// it waits and succeeds once the holder lets go.
#[test]
fn two_processes_contend_for_the_home_lock() {
    let m = Machine::new();
    m.run(&["runtimes", "discover"]);
    let home = Home::new(m.home());
    let held = home
        .lock(Duration::ZERO, "beep-python apply (test holder)")
        .unwrap();

    let out = m
        .cmd()
        .args(["runtimes", "default", "cpython-3.11.7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(err.contains("beep-python apply (test holder)"), "{err}");
    assert!(err.contains("started 20"), "{err}");
    assert!(err.contains("--lock-timeout"), "{err}");
    assert!(
        m.list().iter().all(|r| r["default"] == false),
        "nothing changed"
    );

    let waiter = m
        .cmd()
        .args([
            "--lock-timeout",
            "30",
            "runtimes",
            "default",
            "cpython-3.11.7",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(held);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let list = m.list();
    assert!(
        list.iter()
            .any(|r| r["name"] == "cpython-3.11.7" && r["default"] == true)
    );
}

/// A lock held by a process that was killed is free: the OS released it.
#[test]
fn a_killed_holder_does_not_leave_a_stale_lock() {
    let m = Machine::new();
    // A child that takes the lock (waiting for it forever, since this
    // process holds it) and is killed while holding nothing...
    let home = Home::new(m.home());
    let held = home.lock(Duration::ZERO, "holder").unwrap();
    let mut child = m
        .cmd()
        .args(["--lock-timeout", "600", "runtimes", "discover"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(held);
    // ...or while holding it, whichever comes first: either way the kill
    // must leave the lock free.
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    home.lock(Duration::ZERO, "after the kill").unwrap();
}

/// `source = "system"`: the highest discovered interpreter that satisfies
/// the specifier, or the one at `path`; no match is an error that lists what
/// was found and suggests a standalone runtime.
#[test]
fn system_runtimes_choose_the_highest_match_or_say_what_was_found() {
    use beep_python::discover::{self, DiscoverOptions};
    use beep_python::runtimes::{SystemRuntimeError, select_system};

    let m = Machine::new();
    let options = DiscoverOptions {
        env: [("PYENV_ROOT".to_string(), m.path("pyenv").into_os_string())].into(),
        ..DiscoverOptions::default()
    };
    let found = discover::discover(&options);
    assert_eq!(found.interpreters.len(), 2, "{:?}", found);

    let py310 = real_python("3.10.13");
    let text = format!(
        r#"
version = 1
[runtimes.any311plus]
source = "system"
version = ">=3.11"
[runtimes.series]
source = "system"
version = "3.11"
[runtimes.future]
source = "system"
version = ">=3.14"
[runtimes.pinned]
source = "system"
path = "{0}"
[runtimes.pinned-wrong]
source = "system"
path = "{0}"
version = ">=3.12"
"#,
        py310.display()
    );
    let (valid, _, rendered) = crate::common::check_text(&text);
    assert!(valid, "{rendered}");
    let checked = beep_python::manifest::check(
        beep_python::diagnostic::SourceFile::new("beep-python.toml", text.as_str()),
        Path::new("/project/beep-python.toml"),
        Path::new("/project"),
        Path::new("/home"),
    )
    .unwrap();
    let runtime = |name: &str| checked.manifest.runtimes[name].clone();
    let pick = |name: &str| select_system(&runtime(name), &found.interpreters);

    assert_eq!(pick("any311plus").unwrap().version, "3.12.1");
    assert_eq!(pick("series").unwrap().version, "3.11.7");
    assert_eq!(pick("pinned").unwrap().version, "3.10.13");

    let err = pick("future").unwrap_err();
    let help = match &err {
        SystemRuntimeError::NoMatch { help, .. } => help.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        err.to_string()
            .contains("no interpreter on this machine matches `>=3.14`"),
        "{err}"
    );
    assert!(
        help.contains("cpython 3.12.1") && help.contains("cpython 3.11.7"),
        "{help}"
    );
    assert!(help.contains("drop `source = \"system\"`"), "{help}");

    let err = pick("pinned-wrong").unwrap_err();
    assert!(
        err.to_string().contains("3.10.13 does not match `>=3.12`"),
        "{err}"
    );
}
