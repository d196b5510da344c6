//! Crash consistency: an apply that mixes create, update, replace, rename
//! and delete is killed (SIGKILL, through the crash points compiled in for
//! tests) at every point it reaches, one run per point. After each kill,
//! the next command recovers, and the machine is exactly the old state or
//! exactly the new one (all or nothing), with no aside, claim or journal
//! left and every user file intact; then `apply` converges.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use crate::common::stderr;
use crate::project::{Project, require};

const BEFORE: &str = r#"
[environments.a]
path = ".venvs/a"
packages = ["gamma"]

[environments.b]
path = ".venvs/b"
packages = ["beta"]

[environments.c]
path = ".venvs/c"
packages = ["click"]

[environments.d]
path = ".venvs/d"
packages = ["tabulate"]
"#;

/// a updated, b replaced (`--replace`), c deleted, d renamed (same
/// folder), e created.
const AFTER: &str = r#"
[environments.a]
path = ".venvs/a"
packages = ["gamma", "click"]

[environments.b]
path = ".venvs/b"
packages = ["beta"]

[environments.dd]
path = ".venvs/d"
packages = ["tabulate"]

[environments.e]
path = ".venvs/e"
packages = ["alpha"]
"#;

fn expected(after: bool) -> BTreeMap<&'static str, (&'static str, Vec<&'static str>)> {
    let mut m = BTreeMap::new();
    if after {
        m.insert("a", (".venvs/a", vec!["click==8.1.7", "gamma==3.1.0"]));
        m.insert("b", (".venvs/b", vec!["alpha==2.0.0", "beta==0.5.0"]));
        m.insert("dd", (".venvs/d", vec!["tabulate==0.9.0"]));
        m.insert("e", (".venvs/e", vec!["alpha==2.0.0"]));
    } else {
        m.insert("a", (".venvs/a", vec!["gamma==3.1.0"]));
        m.insert("b", (".venvs/b", vec!["alpha==2.0.0", "beta==0.5.0"]));
        m.insert("c", (".venvs/c", vec!["click==8.1.7"]));
        m.insert("d", (".venvs/d", vec!["tabulate==0.9.0"]));
    }
    m
}

/// env.a's site-packages, file by file (bytecode left out): an in-place
/// update rolled back must give back exactly these files.
fn a_files(p: &Project) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    let root = p.path(".venvs/a/lib/python3.11/site-packages");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "__pycache__" {
                    stack.push(path);
                }
            } else {
                let rel = path.strip_prefix(&root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

/// Which state the machine is in, checking it is exactly that one (and,
/// for the old state, that env.a holds exactly the files of `a_before`).
fn check_state(p: &Project, point: u64, a_before: &BTreeMap<std::path::PathBuf, Vec<u8>>) -> bool {
    let mut recorded = p.recorded();
    recorded.sort();
    let after = recorded.contains(&"dd".to_string());
    let want = expected(after);
    assert_eq!(
        recorded,
        want.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
        "crash point {point}: the registry is exactly one state"
    );
    for (name, (path, packages)) in &want {
        assert_eq!(
            p.installed(path),
            *packages,
            "crash point {point}: env.{name} at {path}"
        );
    }
    if !after && !a_before.is_empty() {
        assert!(
            a_files(p) == *a_before,
            "crash point {point}: env.a's files are exactly the old ones"
        );
    }
    let gone = if after { ".venvs/c" } else { ".venvs/e" };
    assert!(
        !p.path(gone).exists(),
        "crash point {point}: `{gone}` must not exist in this state"
    );
    assert!(
        p.asides().is_empty(),
        "crash point {point}: {:?}",
        p.asides()
    );
    assert!(!p.home().join("journal.json").exists());
    let claims: Vec<_> = want
        .values()
        .map(|(path, _)| p.path(path).join(".beep-python-claim"))
        .filter(|c| c.exists())
        .collect();
    assert!(claims.is_empty(), "crash point {point}: {claims:?}");
    assert_eq!(
        std::fs::read_to_string(p.path(".venvs/user/notes.txt")).unwrap(),
        "mine",
        "crash point {point}: user data survives"
    );
    after
}

#[test]
fn an_apply_killed_at_every_crash_point_converges_with_no_user_file_lost() {
    let Some(p) = Project::new() else { return };
    let Some(_) = require(
        "uv on PATH (`.ci/run` installs it)",
        Command::new("uv").arg("--version").output().ok(),
    ) else {
        return;
    };
    std::fs::create_dir_all(p.path(".venvs/user")).unwrap();
    std::fs::write(p.path(".venvs/user/notes.txt"), "mine").unwrap();
    let mut seen_old = 0;
    let mut seen_new = 0;
    let mut a_before = BTreeMap::new();
    let mut point = 1u64;
    loop {
        p.manifest("uv", BEFORE);
        p.run(&["apply", "--auto-approve"]);
        assert!(!check_state(&p, 0, &a_before), "starts from the old state");
        if a_before.is_empty() {
            a_before = a_files(&p);
        }
        p.manifest("uv", AFTER);
        let out = p
            .cmd()
            .env("BEEP_PYTHON_CRASH_AT", point.to_string())
            .args([
                "apply",
                "--auto-approve",
                "--jobs",
                "2",
                "--replace",
                "env.b",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        if out.status.success() {
            // Past the last crash point: the apply ran to the end.
            assert!(check_state(&p, point, &a_before));
            break;
        }
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "crash point {point}: killed, not failed: {}",
            stderr(&out)
        );
        // The next mutating command recovers...
        p.run(&["recover"]);
        if check_state(&p, point, &a_before) {
            seen_new += 1;
        } else {
            seen_old += 1;
        }
        // ...and an apply converges.
        p.run(&["apply", "--auto-approve"]);
        assert!(check_state(&p, point, &a_before));
        assert!(p.plan().contains("No changes"));
        point += 1;
        assert!(point < 200, "the apply never completed");
    }
    assert!(
        point > 20,
        "the transaction should pass at least 20 crash points, it passed {}",
        point - 1
    );
    assert!(
        seen_old > 0 && seen_new > 0,
        "old {seen_old}, new {seen_new}"
    );
}
