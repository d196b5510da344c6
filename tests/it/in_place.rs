//! In-place updates by pip and uv (issue 12) under attack: killed at every
//! point, writing over files they do not own, with user files, links and
//! odd names in the environment. Each must give back exactly the old
//! environment, or finish, and never lose what is not ours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use crate::common::{stderr, uv_available};
use crate::project::Project;
use crate::wheels::Custom;

fn site(p: &Project) -> PathBuf {
    p.path(".venvs/app/lib/python3.11/site-packages")
}

/// Every entry of the environment but bytecode: a file by its contents, a
/// link by its target, a folder as such.
pub(crate) fn state(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if entry.file_name() == "__pycache__" {
                continue;
            }
            let kind = entry.file_type().unwrap();
            let value = if kind.is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if kind.is_dir() {
                stack.push(path);
                "dir".to_string()
            } else {
                format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap()))
            };
            out.insert(rel, value);
        }
    }
    out
}

/// The differences between two states, for a readable failure.
fn diff(a: &BTreeMap<PathBuf, String>, b: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("gone: {}", k.display())),
            Some(w) if w != v => out.push(format!("changed: {}", k.display())),
            Some(_) => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(format!("new: {}", k.display()));
    }
    out
}

fn manifest(p: &Project, installer: &str, packages: &str) {
    p.manifest(
        installer,
        &format!("\n[environments.app]\npath = \".venvs/app\"\npackages = [{packages}]\n"),
    );
}

fn cp_a(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// `apply`, killed (SIGKILL) at its `point`th crash point, with `envs`.
fn apply_killed_at(p: &Project, point: u64, envs: &[(&str, &str)]) -> Output {
    let mut cmd = p.cmd();
    cmd.env("BEEP_PYTHON_CRASH_AT", point.to_string());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.args(["apply", "--auto-approve"]).output().unwrap()
}

/// An environment of gamma and click, with a user's files in
/// `site-packages` and `bin/` and a user's link in `site-packages`; then
/// an update (gamma goes; beta, alpha and `shadow`, which ships a file of
/// click's, come) killed at every crash point, recovered, and compared.
fn an_update_killed_at_every_point_gives_back_the_old_environment(
    installer: &str,
    envs: &[(&str, &str)],
    setup: &dyn Fn(&Path),
) {
    let Some(p) = Project::new() else { return };
    Custom::new("shadow", "1.0.0")
        .file("click/__init__.py", "shadowed = True\n")
        .build(&p.path("wheels"));
    manifest(&p, installer, "\"gamma\", \"click\"");
    p.apply();
    let sp = site(&p);
    std::fs::write(sp.join("user-notes.txt"), "mine").unwrap();
    std::fs::write(p.path(".venvs/app/bin/my-tool"), "#!/bin/sh\necho mine\n").unwrap();
    std::os::unix::fs::symlink("click", sp.join("click-link")).unwrap();
    setup(&sp);
    let env = p.path(".venvs/app");
    let before = state(&env);
    let (pristine_env, pristine_home) = (p.path("pristine-env"), p.path("pristine-home"));
    cp_a(&env, &pristine_env);
    cp_a(&p.home(), &pristine_home);

    let mut point = 1u64;
    let mut rolled_back = Vec::new();
    loop {
        manifest(&p, installer, "\"click\", \"beta\", \"shadow\"");
        let out = apply_killed_at(&p, point, envs);
        if out.status.success() {
            break;
        }
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "{installer}, crash point {point}: {}",
            stderr(&out)
        );
        let name = stderr(&out)
            .split('`')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        p.run(&["recover"]);
        assert!(p.asides().is_empty(), "point {point}: {:?}", p.asides());
        let now = state(&env);
        if p.installed(".venvs/app") == ["click==8.1.7", "gamma==3.1.0"] {
            assert!(
                now == before,
                "{installer}, crash point {point} (`{name}`): rolled back, but not to the old environment: {:?}",
                diff(&before, &now)
            );
            rolled_back.push(name);
        } else {
            assert_eq!(
                p.installed(".venvs/app"),
                [
                    "alpha==2.0.0",
                    "beta==0.5.0",
                    "click==8.1.7",
                    "shadow==1.0.0"
                ],
                "{installer}, point {point} (`{name}`)"
            );
            assert_eq!(
                std::fs::read_to_string(sp.join("user-notes.txt")).unwrap(),
                "mine"
            );
        }
        // Back to the old environment for the next point.
        cp_a(&pristine_env, &env);
        cp_a(&pristine_home, &p.home());
        point += 1;
        assert!(point < 100, "the apply never completed");
    }
    // Among them, after the installer wrote (and the restore point was
    // whole).
    assert!(
        rolled_back.iter().any(|n| n == "installed-packages"),
        "{installer}: only {rolled_back:?} rolled back"
    );
    eprintln!("{installer}: rolled back at {rolled_back:?}");
    assert_eq!(
        std::fs::read_to_string(sp.join("user-notes.txt")).unwrap(),
        "mine"
    );
    assert!(p.path(".venvs/app/bin/my-tool").is_file());
    assert!(p.asides().is_empty(), "{:?}", p.asides());
}

#[test]
fn a_pip_update_killed_at_every_point_gives_back_the_old_environment() {
    an_update_killed_at_every_point_gives_back_the_old_environment("pip", &[], &|_| {});
}

#[test]
fn a_uv_update_killed_at_every_point_gives_back_the_old_environment() {
    if uv_available() {
        an_update_killed_at_every_point_gives_back_the_old_environment("uv", &[], &|_| {});
    }
}

/// uv copies files when it cannot hard-link them (its cache on another
/// file system, or `UV_LINK_MODE=copy`): a copy over a file that is there
/// (click's, which `shadow` ships too) must not reach the restore point.
#[test]
fn a_uv_update_copying_over_a_file_it_does_not_own_is_rolled_back_exactly() {
    if uv_available() {
        an_update_killed_at_every_point_gives_back_the_old_environment(
            "uv",
            &[("UV_LINK_MODE", "copy")],
            &|_| {},
        );
    }
}

/// Two distributions of a pkgutil-style namespace package ship the same
/// `ns/__init__.py` (as `backports.*`, `zope.*` or `jaraco.*` do); the
/// second, added by an update, writes it anew. The first one's inventory
/// entry must not keep the old file's size and time, or `plan` calls the
/// first one damaged after every apply, and reinstalling it damages the
/// second: the plan never converges.
fn a_shared_namespace_file_written_by_an_update_is_no_drift(installer: &str, locked: bool) {
    let Some(p) = Project::new() else { return };
    let init = "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n";
    for (name, module) in [("ns-a", "a"), ("ns-b", "b")] {
        let mut wheel = Custom::new(name, "1.0.0");
        wheel.files.clear();
        wheel
            .file("ns/__init__.py", init)
            .file(&format!("ns/{module}.py"), "x = 1\n")
            .build(&p.path("wheels"));
    }
    let apply = |packages: &str| {
        manifest(&p, installer, packages);
        if locked {
            p.run(&["lock"]);
            p.run(&["apply", "--auto-approve", "--locked"]);
        } else {
            p.apply();
        }
    };
    let plan: &[&str] = if locked {
        &["plan", "--locked", "--detailed-exitcode"]
    } else {
        &["plan", "--detailed-exitcode"]
    };
    apply("\"ns-a\"");
    // Not within the same tick of the clock as the first install.
    std::thread::sleep(std::time::Duration::from_millis(20));
    apply("\"ns-a\", \"ns-b\"");
    let out = p.cmd().args(plan).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{installer} (locked: {locked}): drift right after apply:\n{}{}",
        crate::common::stdout(&out),
        stderr(&out)
    );
}

#[test]
fn a_shared_namespace_file_written_by_a_pip_update_is_no_drift() {
    a_shared_namespace_file_written_by_an_update_is_no_drift("pip", false);
}

#[test]
fn a_shared_namespace_file_written_by_a_uv_update_is_no_drift() {
    if uv_available() {
        a_shared_namespace_file_written_by_an_update_is_no_drift("uv", false);
    }
}

#[test]
fn a_shared_namespace_file_written_by_a_native_update_is_no_drift() {
    a_shared_namespace_file_written_by_an_update_is_no_drift("pip", true);
}

/// A name that is not UTF-8 cannot be listed: the restore point is whole
/// and mirrored instead, and must give back the same.
#[test]
fn a_pip_update_with_a_name_that_is_not_utf8_killed_at_every_point_gives_back_the_old_environment()
{
    use std::os::unix::ffi::OsStrExt;
    an_update_killed_at_every_point_gives_back_the_old_environment("pip", &[], &|sp| {
        let odd = sp.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        std::fs::create_dir(&odd).unwrap();
        std::fs::write(odd.join("notes.txt"), "mine").unwrap();
    });
}

/// `PIP_FORCE_REINSTALL` makes pip reinstall click over itself too.
#[test]
fn a_forced_pip_reinstall_killed_at_every_point_gives_back_the_old_environment() {
    an_update_killed_at_every_point_gives_back_the_old_environment(
        "pip",
        &[("PIP_FORCE_REINSTALL", "1")],
        &|_| {},
    );
}

/// `pip = false`: pip is seeded for the update and removed after it. A
/// user's own `bin/pip` (a wrapper) is not pip's to take away.
#[test]
fn a_users_bin_pip_survives_an_update_of_an_environment_without_pip() {
    let Some(p) = Project::new() else { return };
    let body = |packages: &str| {
        format!(
            "\n[environments.app]\npath = \".venvs/app\"\npip = false\npackages = [{packages}]\n"
        )
    };
    p.manifest("pip", &body("\"gamma\""));
    p.apply();
    let wrapper = p.path(".venvs/app/bin/pip");
    assert!(!wrapper.exists(), "pip = false leaves no pip");
    std::fs::write(&wrapper, "#!/bin/sh\nexec uv pip \"$@\"\n").unwrap();
    p.manifest("pip", &body("\"gamma\", \"click\""));
    p.apply();
    assert_eq!(p.installed(".venvs/app"), ["click==8.1.7", "gamma==3.1.0"]);
    assert_eq!(
        std::fs::read_to_string(&wrapper).ok().as_deref(),
        Some("#!/bin/sh\nexec uv pip \"$@\"\n"),
        "the user's bin/pip"
    );
}

/// pip's files without its `.dist-info` (removed by hand, or a pip
/// installed as an egg): seeding pip for an update writes over them.
/// When the update then fails, the rollback must give back those files as
/// they were, not the seeded ones.
#[test]
fn a_failed_update_gives_back_the_files_of_a_pip_without_metadata() {
    let Some(p) = Project::new() else { return };
    manifest(&p, "pip", "\"gamma\"");
    p.apply();
    let sp = site(&p);
    let dist_info = std::fs::read_dir(&sp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("pip-") && name.ends_with(".dist-info")
        })
        .expect("pip's .dist-info");
    std::fs::remove_dir_all(&dist_info).unwrap();
    let init = sp.join("pip/__init__.py");
    let mut text = std::fs::read_to_string(&init).unwrap();
    text.push_str("# the user's pip, as it was\n");
    std::fs::write(&init, &text).unwrap();
    let env = p.path(".venvs/app");
    let before = state(&env);
    manifest(&p, "pip", "\"gamma\", \"no-such-package\"");
    let out = p.fails(&["apply", "--auto-approve"], 1);
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    let now = state(&env);
    assert!(
        now == before,
        "not the old environment: {:?}",
        diff(&before, &now)
    );
}
