//! `runtimes discover|list|default` through the binary, on fake layouts
//! whose interpreters are links to real ones chosen at run time
//! ([`crate::common::pythons`]), and the home lock contended by two
//! processes.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use beep_python::registry::Home;

use crate::common::{
    Python, beep, copy_debian_python, debian_python, python_where, python2, python3_older_than_3_8,
    require, stderr, stdout, two_pythons, wait_for,
};

const TWO: &str = "two CPython interpreters (3.8+) of different versions";
const DEBIAN: &str = "Debian's /usr/bin/python3.11";

/// The name `runtimes discover` gives an interpreter.
fn name(python: &Python) -> String {
    format!("cpython-{}", python.version)
}

struct Machine {
    dir: tempfile::TempDir,
    /// In the fake pyenv root, as `versions/<version>/bin/python3`.
    newer: &'static Python,
    older: &'static Python,
}

impl Machine {
    /// A user with a pyenv root holding links to two real interpreters of
    /// different versions; `None` when this machine has fewer.
    fn new() -> Option<Self> {
        let (newer, older) = two_pythons(|_| true)?;
        let dir = tempfile::tempdir().unwrap();
        let m = Machine { dir, newer, older };
        for python in [newer, older] {
            m.link_pyenv(python);
        }
        std::fs::create_dir_all(m.path("bin")).unwrap();
        Some(m)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `pyenv/versions/<version>/bin/python3`
    fn pyenv_link(&self, python: &Python) -> PathBuf {
        self.path(&format!("pyenv/versions/{}/bin/python3", python.version))
    }

    fn link_pyenv(&self, python: &Python) {
        let link = self.pyenv_link(python);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&link);
        symlink(&python.path, link).unwrap();
    }

    fn unlink_pyenv(&self, python: &Python) {
        std::fs::remove_dir_all(self.path(&format!("pyenv/versions/{}", python.version))).unwrap();
    }

    /// A real interpreter no locator looks at: a copy of Debian's static
    /// python3.11 in a folder of the test's.
    fn undiscovered(&self) -> Option<PathBuf> {
        debian_python()?;
        Some(copy_debian_python(&self.path("elsewhere")))
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
    let m = require!(TWO, Machine::new());
    let newer = m.newer;
    let out = m.run(&["runtimes", "discover"]);
    let table = stdout(&out);
    assert!(
        table.contains("NAME") && table.contains(&name(newer)),
        "{table}"
    );
    assert!(stderr(&out).contains("new"), "{}", stderr(&out));

    let list = m.list();
    let entry = find(&list, &newer.path).expect("the newer interpreter is registered");
    assert_eq!(entry["name"], name(newer));
    assert_eq!(entry["version"], newer.version);
    assert_eq!(entry["implementation"], "cpython");
    assert_eq!(entry["source"], "system");
    assert_eq!(entry["managed"], false);
    assert_eq!(entry["default"], false);
    assert_eq!(entry["status"], "ready");
    assert_eq!(entry["found_by"], serde_json::json!(["pyenv"]));
    assert_eq!(entry["path"], m.pyenv_link(newer).to_str().unwrap());

    // Nothing changed: a second run writes nothing.
    let serial = m.registry_serial();
    m.run(&["runtimes", "discover"]);
    assert_eq!(
        m.registry_serial(),
        serial,
        "a no-op discover must not write"
    );

    // Gone (say, an OS reinstall): kept and marked missing.
    m.unlink_pyenv(newer);
    let out = m.run(&["runtimes", "discover"]);
    assert!(stderr(&out).contains("1 now missing"), "{}", stderr(&out));
    let list = m.list();
    assert_eq!(find(&list, &newer.path).unwrap()["status"], "missing");

    // Back: ready again under the same name.
    m.link_pyenv(newer);
    m.run(&["runtimes", "discover"]);
    let list = m.list();
    let entry = find(&list, &newer.path).unwrap();
    assert_eq!(entry["status"], "ready");
    assert_eq!(entry["name"], name(newer));

    // --prune forgets only what is missing.
    m.unlink_pyenv(newer);
    m.run(&["runtimes", "discover", "--prune"]);
    let list = m.list();
    assert!(find(&list, &newer.path).is_none());
    assert!(find(&list, &m.older.path).is_some());
}

#[test]
fn default_by_name_or_path_is_marked_in_the_list() {
    let m = require!(TWO, Machine::new());
    let undiscovered = require!(DEBIAN, m.undiscovered());
    m.run(&["runtimes", "discover"]);
    let older = name(m.older);
    let out = m.run(&["runtimes", "default", &older]);
    assert!(
        stdout(&out).contains(&format!("default runtime: {older}")),
        "{}",
        stdout(&out)
    );
    let list = m.list();
    let defaults: Vec<&str> = list
        .iter()
        .filter(|r| r["default"] == true)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, [older.as_str()]);
    let table = stdout(&m.run(&["runtimes", "list"]));
    let line = table.lines().find(|l| l.contains(&older)).unwrap();
    assert!(line.starts_with('*'), "{table}");

    // By path, through a link: the same runtime.
    let link = m.pyenv_link(m.newer);
    m.run(&["runtimes", "default", link.to_str().unwrap()]);
    let list = m.list();
    assert_eq!(find(&list, &m.newer.path).unwrap()["default"], true);

    // By the path of an interpreter not discovered yet: registered.
    assert!(find(&list, &undiscovered).is_none());
    m.run(&["runtimes", "default", undiscovered.to_str().unwrap()]);
    let list = m.list();
    let entry = find(&list, &undiscovered).expect("registered by `default`");
    assert_eq!(entry["default"], true);
    assert_eq!(entry["version"], debian_python().unwrap().version);
}

#[test]
fn default_refuses_unknown_names() {
    let m = require!(TWO, Machine::new());
    m.run(&["runtimes", "discover"]);
    // One letter off the newer one's name (`cpyton-3.12.1`), further off
    // every other.
    let typo = name(m.newer).replacen("python", "pyton", 1);
    let out = m
        .cmd()
        .args(["runtimes", "default", &typo])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("no runtime named `{typo}`")), "{err}");
    assert!(
        err.contains(&format!("did you mean `{}`?", name(m.newer))),
        "{err}"
    );
    assert!(m.list().iter().all(|r| r["default"] == false));
}

#[test]
fn default_refuses_python2() {
    let m = require!(TWO, Machine::new());
    let py2 = require!("a Python 2 interpreter", python2());
    let out = m
        .cmd()
        .args(["runtimes", "default", py2.path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("Python {} is not supported", py2.version)),
        "{}",
        stderr(&out)
    );
    assert!(m.list().iter().all(|r| r["default"] == false));
}

#[test]
fn default_refuses_a_version_older_than_3_8() {
    let m = require!(TWO, Machine::new());
    let old = require!("a Python 3 older than 3.8", python3_older_than_3_8());
    let out = m
        .cmd()
        .args(["runtimes", "default", old.path.to_str().unwrap()])
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
    let m = require!(TWO, Machine::new());
    let older = name(m.older);
    m.run(&["runtimes", "discover"]);
    let home = Home::new(m.home());
    let held = home
        .lock(Duration::ZERO, "beep-python apply (test holder)")
        .unwrap();

    let out = m
        .cmd()
        .args(["runtimes", "default", &older])
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

    let mut waiter = m
        .cmd()
        .args(["--lock-timeout", "30", "runtimes", "default", &older])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "the waiter must still be waiting while the lock is held"
    );
    drop(held);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = m.list();
    assert!(
        list.iter()
            .any(|r| r["name"] == older.as_str() && r["default"] == true)
    );
}

/// A lock held by a process that was killed is free: the OS released it.
/// The holder is an `apply` paused mid-install (a failpoint): while it
/// lives, another command is refused with exit 3 naming it; right after
/// its SIGKILL at the pause the lock is free.
#[test]
fn a_killed_holder_does_not_leave_a_stale_lock() {
    let python = require!(
        "a CPython (3.8+) that can seed pip",
        python_where(|p| p.pip_wheel.is_some() || p.has_ensurepip)
    );
    let m = require!(TWO, Machine::new());
    let project = m.path("project");
    std::fs::create_dir_all(project.join("wheels")).unwrap();
    std::fs::write(
        project.join("beep-python.toml"),
        format!(
            r#"version = 1

[settings]
installer = "pip"
find-links = ["wheels"]
offline = true

[runtimes.py]
source = "system"
path = "{}"
default = true

[environments.e]
path = ".venvs/e"
packages = ["anything"]
"#,
            python.path.display()
        ),
    )
    .unwrap();
    let mut holder = m
        .cmd()
        .current_dir(&project)
        .env("BEEP_PYTHON_FAILPOINTS", "install-packages=pause")
        // It waits for the lock should a probe below hold it for a moment.
        .args(["--lock-timeout", "60", "apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // While the holder lives, a mutating command is refused, naming it.
    let mut refused = None;
    wait_for("the paused apply to hold the home lock", || {
        if let Some(status) = holder.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut holder.stderr.take().unwrap(), &mut err).unwrap();
            panic!("the apply ended before it was killed ({status}):\n{err}");
        }
        // Exit 3 naming the holder (which writes its name just after it
        // takes the lock).
        let out = m.cmd().args(["runtimes", "discover"]).output().unwrap();
        let held =
            out.status.code() == Some(3) && stderr(&out).contains(&format!("pid {}", holder.id()));
        refused = Some(out);
        held
    });
    let refused = refused.unwrap();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));

    // Kill it at the pause, not while it starts a child (a child between
    // fork and exec shares the lock for that moment): pip's `RECORD`, the
    // last file seeding writes, is there once the step before the pause is
    // done.
    let site = project.join(format!(
        ".venvs/e/lib/python{}/site-packages",
        python.short()
    ));
    wait_for("pip to be seeded, just before the pause", || {
        std::fs::read_dir(&site)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("pip-")
                    && name.ends_with(".dist-info")
                    && e.path().join("RECORD").exists()
            })
    });
    holder.kill().unwrap();
    holder.wait().unwrap();
    if let Err(e) = Home::new(m.home()).lock(Duration::ZERO, "after the kill") {
        panic!(
            "the lock of a killed holder is not free: {e:?}\nprocesses with it open: {:?}",
            openers(&m.home().join(".lock"))
        );
    }
}

/// `pid: command line` of every process that has `path` open.
fn openers(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for proc_dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let fds = std::fs::read_dir(proc_dir.path().join("fd"));
        let has_it = fds
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == path));
        if has_it {
            let cmdline = std::fs::read(proc_dir.path().join("cmdline")).unwrap_or_default();
            out.push(format!(
                "{}: {}",
                proc_dir.file_name().to_string_lossy(),
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    out
}

/// `source = "system"`: the highest discovered interpreter that satisfies
/// the specifier, or the one at `path`; no match is an error that lists what
/// was found and suggests a standalone runtime.
#[test]
fn system_runtimes_choose_the_highest_match_or_say_what_was_found() {
    use beep_python::discover::{self, DiscoverOptions};
    use beep_python::runtimes::{SystemRuntimeError, select_system};

    let m = require!(TWO, Machine::new());
    let pinned = require!(DEBIAN, m.undiscovered());
    let pinned_version = &debian_python().unwrap().version;
    let (newer, older) = (m.newer, m.older);
    let options = DiscoverOptions {
        env: [("PYENV_ROOT".to_string(), m.path("pyenv").into_os_string())].into(),
        ..DiscoverOptions::default()
    };
    let found = discover::discover(&options);
    assert_eq!(found.interpreters.len(), 2, "{:?}", found);

    // The older one's series: the newer one when it is of the same series.
    let series = older.short();
    let in_series = if newer.short() == series {
        newer
    } else {
        older
    };
    let future = format!(">={}.{}", newer.major, newer.minor + 1);
    let text = format!(
        r#"
version = 1
[runtimes.both-match]
source = "system"
version = ">={older}"
[runtimes.series]
source = "system"
version = "{series}"
[runtimes.future]
source = "system"
version = "{future}"
[runtimes.pinned]
source = "system"
path = "{pinned}"
[runtimes.pinned-wrong]
source = "system"
path = "{pinned}"
version = ">{pinned_version}"
"#,
        older = older.version,
        pinned = pinned.display()
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

    assert_eq!(pick("both-match").unwrap().version, newer.version);
    assert_eq!(pick("series").unwrap().version, in_series.version);
    assert_eq!(pick("pinned").unwrap().version, *pinned_version);

    let err = pick("future").unwrap_err();
    let help = match &err {
        SystemRuntimeError::NoMatch { help, .. } => help.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        err.to_string().contains(&format!(
            "no interpreter on this machine matches `{future}`"
        )),
        "{err}"
    );
    assert!(
        help.contains(&format!("cpython {}", newer.version))
            && help.contains(&format!("cpython {}", older.version)),
        "{help}"
    );
    assert!(help.contains("drop `source = \"system\"`"), "{help}");

    let err = pick("pinned-wrong").unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "{pinned_version} does not match `>{pinned_version}`"
        )),
        "{err}"
    );
}
