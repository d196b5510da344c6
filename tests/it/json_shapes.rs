//! The shape of every JSON document the commands print (`--format json`):
//! its key paths, in order, snapshotted. Values differ between machines;
//! the keys are the interface. Every document starts with
//! `format_version`. The README lists these documents.
//!
//! `apply --format json` is a stream of such documents, one event per
//! line, the first of them the plan: its shape is every kind of event's
//! key paths.

use std::os::unix::fs::symlink;

use crate::applied::{Project, base_python, script_in};
use crate::common::stderr;

/// Every key path of `value`: `a`, `a.b`, `list[].c`; array elements
/// contribute the union of their keys.
fn key_paths(value: &serde_json::Value) -> String {
    fn walk(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    if !out.contains(&path) {
                        out.push(path.clone());
                    }
                    walk(item, &path, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{prefix}[]"), out);
                }
            }
            serde_json::Value::Null
            | serde_json::Value::Bool(_)
            | serde_json::Value::Number(_)
            | serde_json::Value::String(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(value, "", &mut out);
    out.join("\n")
}

/// Runs `args` with `--format json` and returns the one document printed.
#[track_caller]
fn document(p: &Project, args: &[&str], code: i32) -> serde_json::Value {
    let out = p
        .cmd()
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{args:?}: one line:\n{text}");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value
            .as_object()
            .and_then(|o| o.keys().next())
            .map(String::as_str),
        Some("format_version"),
        "{args:?}: {text}"
    );
    value
}

#[test]
fn json_documents_of_the_manifest_commands() {
    let p = Project::applied();
    insta::assert_snapshot!("validate", key_paths(&document(&p, &["validate"], 0)));
    // A registered runtime, so that `status` shows a runtime's keys.
    p.run(&["runtimes", "discover"]);
    insta::assert_snapshot!("status", key_paths(&document(&p, &["status"], 0)));
    insta::assert_snapshot!("env", key_paths(&document(&p, &["env", "a"], 0)));
    insta::assert_snapshot!(
        "vscode",
        key_paths(&document(&p, &["vscode", "a", "--dry-run"], 0))
    );
    insta::assert_snapshot!("lock", key_paths(&document(&p, &["lock"], 0)));
    // A pending change, so that a change's keys show.
    p.manifest(&crate::applied::ENVS.replace(r#"["gamma"]"#, r#"["gamma", "alpha"]"#));
    insta::assert_snapshot!("plan", key_paths(&document(&p, &["plan"], 0)));

    std::fs::write(
        p.path("beep-python.toml"),
        "version = 1\n[environments.x]\nruntime = \"nope\"\n",
    )
    .unwrap();
    insta::assert_snapshot!(
        "validate_invalid",
        key_paths(&document(&p, &["validate"], 1))
    );
}

/// `runtimes list`, `discover` and `default` share their first keys.
#[test]
fn json_documents_of_the_runtimes_commands_agree() {
    let p = Project::new();
    // What discovery sees: the base interpreter on PATH, a broken
    // `python3.9` (rejected), and a virtual environment's interpreter.
    let bin = p.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    symlink(base_python(), bin.join("python3")).unwrap();
    script_in(&bin, "python3.9", "not-python; exit 1");
    p.run(&["apply", "--auto-approve"]);
    let path = format!("{}:{}", bin.display(), p.env_root().join("bin").display());
    let run = |args: &[&str], code: i32| {
        let mut cmd = p.cmd();
        cmd.env("PATH", &path)
            .env("HOME", p.path("user"))
            .env("PYENV_ROOT", p.path("pyenv"))
            .env_remove("CONDA_PREFIX")
            .env_remove("UV_PYTHON_INSTALL_DIR")
            .env_remove("XDG_DATA_HOME")
            .args(args)
            .args(["--format", "json"]);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let discovered = run(&["runtimes", "discover"], 0);
    let listed = run(&["runtimes", "list"], 0);
    let name = listed["runtimes"][0]["name"].as_str().unwrap().to_string();
    let default = run(&["runtimes", "default", &name], 0);
    insta::assert_snapshot!("runtimes_discover", key_paths(&discovered));
    insta::assert_snapshot!("runtimes_list", key_paths(&listed));
    insta::assert_snapshot!("runtimes_default", key_paths(&default));
    // `list` is `discover` without what only discovery knows.
    let list_keys: Vec<&String> = listed.as_object().unwrap().keys().collect();
    let discover_keys: Vec<&String> = discovered.as_object().unwrap().keys().collect();
    assert_eq!(list_keys, discover_keys[..list_keys.len()]);
    assert_eq!(
        key_paths(&listed["runtimes"][0]),
        key_paths(&discovered["runtimes"][0])
    );
}

#[test]
fn json_documents_of_export_and_bundle() {
    let p = Project::applied();
    p.run(&["lock"]);
    insta::assert_snapshot!(
        "export",
        key_paths(&document(&p, &["export", "--out", "exported"], 0))
    );
    let bundle = p.path("b.tar.zst");
    let bundle = bundle.to_str().unwrap();
    insta::assert_snapshot!(
        "bundle_create",
        key_paths(&document(&p, &["bundle", "create", "--out", bundle], 0))
    );
    insta::assert_snapshot!(
        "bundle_verify",
        key_paths(&document(&p, &["bundle", "verify", bundle], 0))
    );
}

/// Every event of an `apply --format json` stream, checked one by one
/// (one JSON object per line, `format_version` first), and the key paths
/// of each kind of event (`event` value first, sorted), for a snapshot.
#[track_caller]
fn event_stream(p: &Project, code: i32) -> (Vec<serde_json::Value>, String) {
    let out = p
        .cmd()
        .args(["apply", "--auto-approve", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                value
                    .as_object()
                    .and_then(|o| o.keys().next())
                    .map(String::as_str),
                Some("format_version"),
                "{line}"
            );
            value
        })
        .collect();
    let mut kinds: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for event in &events {
        let kind = event["event"].as_str().unwrap().to_string();
        let paths = kinds.entry(kind).or_default();
        for path in key_paths(event).lines() {
            if !paths.iter().any(|p| p == path) {
                paths.push(path.to_string());
            }
        }
    }
    let shape = kinds
        .iter()
        .map(|(kind, paths)| format!("{kind}:\n  {}", paths.join("\n  ")))
        .collect::<Vec<_>>()
        .join("\n");
    (events, shape)
}

#[test]
fn json_event_stream_of_apply() {
    let p = Project::new();
    // Locked: the native installer reports what it installed, and what it
    // is doing on the way.
    p.run(&["lock"]);
    let (events, shape) = event_stream(&p, 0);
    assert_eq!(
        events[0]["event"], "plan",
        "the first event carries the plan"
    );
    assert_eq!(events[0]["format_version"], 2, "as `plan` prints it");
    assert_eq!(events.last().unwrap()["event"], "applied");
    insta::assert_snapshot!("apply_events", shape);

    // A step that fails: the stream says which, and that it was undone.
    std::fs::remove_file(p.path("beep-python.lock")).unwrap();
    p.manifest(
        &crate::applied::ENVS.replace(r#"["gamma"]"#, r#"["gamma", "not-in-the-wheelhouse"]"#),
    );
    let (events, shape) = event_stream(&p, 1);
    assert_eq!(events.last().unwrap()["event"], "rolled_back");
    insta::assert_snapshot!("apply_events_failed", shape);
}
