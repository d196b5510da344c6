//! Children die with us (`beep_python::process`): an installer, its build
//! backend and whatever that starts are gone shortly after `beep-python`
//! is killed, stopped by Ctrl-C or SIGTERM, or cancels a run; every child
//! carries the run's tag, and `kill_run` finds and kills a tagged tree.
//!
//! The slow installs are real: pip or uv builds a local sdist whose build
//! backend writes its pid (and the pid of a child it starts) to a file,
//! then sleeps. Processes are found and watched through `/proc`, so these
//! tests are Linux only. A killed process counts as gone once it is a
//! zombie: an orphan's zombie waits for the machine's init to reap it.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use beep_python::installer::{self, Config, InstallError, Kind, Request, Selected};
use beep_python::process::{self, RUN_VAR};

use crate::common::{beep, isolate_installers, stderr};
use crate::lock_speed::{system_python, uv_available};

/// How long anything here may take on a loaded machine before the test
/// gives up. Never a measure of speed: every wait ends as soon as its
/// condition holds.
const PATIENCE: Duration = Duration::from_secs(180);

/// `<dir>/beep_slow-1.0.tar.gz`: an sdist whose in-tree build backend
/// starts a sleeping child, writes `<backend pid> <child pid>` to
/// `marker`, then sleeps itself, whichever hook pip or uv calls first.
fn slow_sdist(dir: &Path, marker: &Path) {
    let backend = format!(
        r#"import os, subprocess, sys, time

MARKER = {marker:?}


def _hold(*args, **kwargs):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
    with open(MARKER + ".tmp", "w") as f:
        f.write(f"{{os.getpid()}} {{child.pid}}")
    os.replace(MARKER + ".tmp", MARKER)
    time.sleep(900)


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


prepare_metadata_for_build_wheel = _hold
build_wheel = _hold
build_sdist = _hold
"#,
        marker = marker.display().to_string()
    );
    let files = [
        (
            "pyproject.toml",
            "[build-system]\nrequires = []\nbuild-backend = \"slow_backend\"\nbackend-path = [\".\"]\n\n[project]\nname = \"beep-slow\"\nversion = \"1.0\"\n".to_string(),
        ),
        ("slow_backend.py", backend),
        (
            "PKG-INFO",
            "Metadata-Version: 2.1\nName: beep-slow\nVersion: 1.0\n".to_string(),
        ),
    ];
    fs_err::create_dir_all(dir).unwrap();
    let file = fs_err::File::create(dir.join("beep_slow-1.0.tar.gz")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    for (name, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("beep_slow-1.0/{name}"),
            text.as_bytes(),
        )
        .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

/// A project whose one environment installs the slow sdist.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(installer: &str) -> Project {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        slow_sdist(&p.path("dist"), &p.marker());
        let python = system_python();
        std::fs::write(
            p.path("beep-python.toml"),
            format!(
                r#"version = 1

[settings]
installer = "{installer}"
find-links = ["dist"]
offline = true

[runtimes.py]
source = "system"
path = "{}"
default = true

[environments.slow]
path = ".venvs/slow"
packages = ["beep-slow"]
"#,
                python.display()
            ),
        )
        .unwrap();
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn marker(&self) -> PathBuf {
        self.path("backend-started")
    }

    fn cmd(&self) -> Command {
        let mut cmd = beep(&self.path("home"));
        isolate_installers(cmd.current_dir(self.dir.path()))
            .env("UV_OFFLINE", "1")
            .env("UV_CACHE_DIR", self.path("uv-cache"));
        cmd
    }

    /// Starts `apply --auto-approve` and waits until the build backend
    /// runs. Returns the process, the backend's pid and its child's.
    fn apply_until_the_backend_runs(&self) -> (Child, i32, i32) {
        let mut child = self
            .cmd()
            .args(["apply", "--auto-approve"])
            .stdout(Stdio::null())
            .stderr(
                fs_err::File::create(self.path("apply.log"))
                    .unwrap()
                    .into_file(),
            )
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        let text = loop {
            if let Ok(text) = std::fs::read_to_string(self.marker()) {
                break text;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "apply ended ({status}) before the build backend ran:\n{}",
                    std::fs::read_to_string(self.path("apply.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the build backend never ran");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut pids = text.split_whitespace().map(|p| p.parse::<i32>().unwrap());
        (child, pids.next().unwrap(), pids.next().unwrap())
    }
}

/// `/proc/<pid>/stat` fields after the command name: state, then ppid.
fn stat(pid: i32) -> Option<(String, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = text.rsplit_once(')')?.1.split_whitespace();
    let state = rest.next()?.to_string();
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Gone, or a zombie (dead, waiting to be reaped).
fn gone(pid: i32) -> bool {
    stat(pid).is_none_or(|(state, _)| state == "Z" || state == "X")
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The value of `var` in the environment of `pid`.
fn environ(pid: i32, var: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{var}=");
    bytes.split(|&b| b == 0).find_map(|entry| {
        String::from_utf8_lossy(entry)
            .strip_prefix(&prefix)
            .map(str::to_string)
    })
}

/// Every live descendant of `root`.
fn descendants(root: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            stat(pid)
                .filter(|(s, _)| s != "Z")
                .map(|(_, ppid)| (pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Waits until every pid in `pids` is gone; fails naming the survivors.
#[track_caller]
fn wait_all_gone(what: &str, pids: &[i32]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let alive: Vec<i32> = pids.iter().copied().filter(|p| !gone(*p)).collect();
        if alive.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            let shown: Vec<String> = alive
                .iter()
                .map(|p| format!("{p}: {}", cmdline(*p)))
                .collect();
            panic!("{what}: still running:\n{}", shown.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The tree under `beep` while the backend runs: the installer (the direct
/// child that is not our guard), the backend and its child all carry the
/// same run tag.
#[track_caller]
fn check_the_tree(beep: i32, backend: i32, sleeper: i32) -> Vec<i32> {
    let tree = descendants(beep);
    for pid in [backend, sleeper] {
        assert!(tree.contains(&pid), "{pid} is not under {beep}: {tree:?}");
    }
    let installer = tree
        .iter()
        .copied()
        .find(|p| stat(*p).is_some_and(|(_, pp)| pp == beep) && environ(*p, RUN_VAR).is_some())
        .unwrap_or_else(|| panic!("no tagged installer under {beep}: {tree:?}"));
    let tag = environ(installer, RUN_VAR);
    assert_eq!(
        environ(backend, RUN_VAR),
        tag,
        "the backend inherits the tag"
    );
    assert_eq!(environ(sleeper, RUN_VAR), tag, "so does its child");
    tree
}

#[track_caller]
fn sigkill_takes_the_installer_and_its_build_backend_down(installer: &str) {
    let p = Project::new(installer);
    let (mut child, backend, sleeper) = p.apply_until_the_backend_runs();
    let tree = check_the_tree(child.id() as i32, backend, sleeper);

    child.kill().unwrap();
    child.wait().unwrap();
    wait_all_gone("after SIGKILL of beep-python", &tree);

    // The next command rolls the interrupted apply back, with nothing left
    // running to write into the environment.
    // (`plan` is read-only; `recover` is the command that only recovers.)
    let out = p.cmd().arg("recover").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    assert!(!p.path(".venvs/slow").exists());
}

/// issue 10, item 4: 27 of 30 `kill -9`s left pip running.
#[test]
fn sigkill_of_apply_takes_pip_and_its_build_backend_down() {
    sigkill_takes_the_installer_and_its_build_backend_down("pip");
}

#[test]
fn sigkill_of_apply_takes_uv_and_its_build_backend_down() {
    if uv_available() {
        sigkill_takes_the_installer_and_its_build_backend_down("uv");
    }
}

#[track_caller]
fn a_signal_during_a_running_install_rolls_back_and_exits_130(signal: &str) {
    let p = Project::new("pip");
    let (child, backend, sleeper) = p.apply_until_the_backend_runs();
    let tree = check_the_tree(child.id() as i32, backend, sleeper);

    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let log = std::fs::read_to_string(p.path("apply.log")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(130), "{log}");
    assert!(log.contains("interrupted"), "{log}");
    wait_all_gone(&format!("after {signal}"), &tree);
    assert!(!p.path(".venvs/slow").exists());
    assert!(!p.path("home/journal.json").exists());
}

#[test]
fn sigterm_during_a_running_install_rolls_back_and_exits_130() {
    a_signal_during_a_running_install_rolls_back_and_exits_130("-TERM");
}

#[test]
fn sigint_during_a_running_install_rolls_back_and_exits_130() {
    a_signal_during_a_running_install_rolls_back_and_exits_130("-INT");
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs_err::write(path, text).unwrap();
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn pip() -> Selected {
    Selected {
        kind: Kind::Pip,
        uv: None,
    }
}

/// Waits for `path` to hold pids, one per whitespace-separated word.
#[track_caller]
fn pids_in(path: &Path, count: usize) -> Vec<i32> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let pids: Vec<i32> = text
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if pids.len() == count {
                return pids;
            }
        }
        assert!(
            Instant::now() < deadline,
            "`{}` never got {count} pids",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A stand-in "python" for the installer: a shell that starts a
/// grandchild, writes both pids to `pids`, runs `then`.
fn fake_python(dir: &Path, then: &str) -> (PathBuf, PathBuf) {
    let pids = dir.join("pids");
    let python = dir.join("python");
    write_script(
        &python,
        &format!(
            "#!/bin/sh\nsleep 900 &\necho \"$$ $!\" > '{pids}.tmp'\nmv '{pids}.tmp' '{pids}'\n{then}\n",
            pids = pids.display()
        ),
    );
    (python, pids)
}

#[test]
fn a_cancel_flag_set_mid_install_kills_the_whole_group() {
    let tmp = tempfile::tempdir().unwrap();
    let (python, pids) = fake_python(tmp.path(), "sleep 900");
    let requirements = vec!["beep-it-alpha".to_string()];
    let cancel = AtomicBool::new(false);
    let (result, seen) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let seen = pids_in(&pids, 2);
            cancel.store(true, Ordering::SeqCst);
            seen
        });
        let result = installer::install_cancellable(
            &pip(),
            &Config::default(),
            &Request {
                python: &python,
                requirements: &requirements,
                environment: "slow",
                constraints: None,
            },
            &cancel,
        );
        (result, watcher.join().unwrap())
    });
    assert!(matches!(result, Err(InstallError::Cancelled)), "{result:?}");
    // Reaped when the install returned: the shell is gone, not a zombie.
    assert!(stat(seen[0]).is_none(), "the installer is still there");
    wait_all_gone("after cancelling", &seen);
}

/// A grandchild that keeps the installer's output pipe open after the
/// installer exits is given the drain grace, then killed with the rest of
/// the group; the run still reports what the installer printed.
#[test]
fn a_grandchild_holding_the_output_pipe_does_not_outlive_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (python, pids) = fake_python(tmp.path(), "echo installed everything\nexit 0");
    let requirements = vec!["beep-it-alpha".to_string()];
    let outcome = installer::install(
        &pip(),
        &Config::default(),
        &Request {
            python: &python,
            requirements: &requirements,
            environment: "drain",
            constraints: None,
        },
    )
    .expect("the installer exited 0");
    assert!(
        outcome
            .stdout_tail
            .contains(&"installed everything".to_string()),
        "{:?}",
        outcome.stdout_tail
    );
    let seen = pids_in(&pids, 2);
    wait_all_gone("after the run", &seen);
}

/// Every child gets `BEEP_PYTHON_RUN=<run id>`, and its own children
/// inherit it.
#[test]
fn children_and_grandchildren_carry_the_run_id() {
    let tmp = tempfile::tempdir().unwrap();
    let python = tmp.path().join("python");
    let child_env = tmp.path().join("child.env");
    let grandchild_env = tmp.path().join("grandchild.env");
    write_script(
        &python,
        &format!(
            "#!/bin/sh\nenv > '{}'\nsh -c \"env > '{}'\"\n",
            child_env.display(),
            grandchild_env.display()
        ),
    );
    let requirements = vec!["beep-it-alpha".to_string()];
    installer::install(
        &pip(),
        &Config::default(),
        &Request {
            python: &python,
            requirements: &requirements,
            environment: "tagged",
            constraints: None,
        },
    )
    .unwrap();
    let tag = format!("{RUN_VAR}={}", process::run_id());
    for file in [&child_env, &grandchild_env] {
        let text = fs_err::read_to_string(file).unwrap();
        assert!(
            text.lines().any(|l| l == tag),
            "no `{tag}` in {}",
            file.display()
        );
    }
}

/// `kill_run` kills every process tagged with the run id, including one
/// that left the process group (`setsid`), waits until they are gone, and
/// counts them; a process of another run is left alone.
#[test]
fn kill_run_kills_every_tagged_process_and_only_those() {
    let run = format!("kill-run-test-{}", uuid::Uuid::new_v4().simple());
    let other = format!("{run}-other");
    let tmp = tempfile::tempdir().unwrap();
    let pids = tmp.path().join("pids");
    let mut tree = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "sleep 900 & a=$!; setsid sleep 900 & b=$!; echo \"$$ $a $b\" > '{p}.tmp'; mv '{p}.tmp' '{p}'; wait",
            p = pids.display()
        ))
        .env(RUN_VAR, &run)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut bystander = Command::new("sleep")
        .arg("900")
        .env(RUN_VAR, &other)
        .spawn()
        .unwrap();
    let seen = pids_in(&pids, 3);
    // `setsid` execs `sleep` once it has its own session: wait for that,
    // so that the count below is of the three sleeping processes.
    let deadline = Instant::now() + PATIENCE;
    while !seen
        .iter()
        .all(|p| environ(*p, RUN_VAR).as_deref() == Some(run.as_str()))
    {
        assert!(Instant::now() < deadline, "the tagged tree never started");
        std::thread::sleep(Duration::from_millis(20));
    }

    let killed = process::kill_run(&run).unwrap();
    assert_eq!(killed, 3);
    for pid in &seen {
        assert!(gone(*pid), "{pid} ({}) survived kill_run", cmdline(*pid));
    }
    let _ = tree.wait();
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "a process of another run was killed"
    );
    assert_eq!(process::kill_run(&run).unwrap(), 0, "nothing is left");
    assert_eq!(process::kill_run(&other).unwrap(), 1);
    let _ = bystander.wait();
}
