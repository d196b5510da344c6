//! `beep-python vscode`: `.vscode/settings.json` edited in place, keeping
//! comments, trailing commas and every other key; a second run changes
//! nothing; `--dry-run` writes nothing; a broken file is left alone.

use crate::applied::Project;
use crate::common::{stderr, stdout};

const SETTINGS: &str = r#"{
    // Formatting, as the team likes it.
    "editor.tabSize": 4, /* not 2 */
    "python.defaultInterpreterPath": "/usr/bin/python3", // the old one
    "python-envs.pythonProjects": [
        { "path": "tools", "envManager": "ms-python.python:system" }, // a script folder
    ],
    "files.exclude": { "**/.venvs": true },
}
"#;

fn settings_path(p: &Project) -> std::path::PathBuf {
    p.path(".vscode/settings.json")
}

/// The settings as data (comments dropped), read by the same parser.
fn parsed(text: &str) -> serde_json::Value {
    let root = jsonc_parser::cst::CstRootNode::parse(text, &Default::default()).unwrap();
    root.value().and_then(|v| v.to_serde_value()).unwrap()
}

#[test]
fn vscode_keeps_comments_and_other_keys_and_is_idempotent() {
    let p = Project::applied();
    std::fs::create_dir_all(p.path(".vscode")).unwrap();
    std::fs::write(settings_path(&p), SETTINGS).unwrap();

    let out = p.run(&["vscode", "a"]);
    let err = stderr(&out);
    // The preview: the changed lines, on stderr.
    assert!(err.contains("Changing `.vscode/settings.json`:"), "{err}");
    assert!(
        err.contains(
            "-     \"python.defaultInterpreterPath\": \"/usr/bin/python3\", // the old one"
        ),
        "{err}"
    );
    assert!(err.contains("wins over these settings"), "{err}");
    assert!(stdout(&out).is_empty());

    let text = std::fs::read_to_string(settings_path(&p)).unwrap();
    for kept in [
        "// Formatting, as the team likes it.",
        "\"editor.tabSize\": 4, /* not 2 */",
        "// the old one",
        "{ \"path\": \"tools\", \"envManager\": \"ms-python.python:system\" }, // a script folder",
        "\"files.exclude\": { \"**/.venvs\": true },",
    ] {
        assert!(text.contains(kept), "lost {kept:?}:\n{text}");
    }
    let value = parsed(&text);
    assert_eq!(
        value["python.defaultInterpreterPath"],
        "${workspaceFolder}/.venvs/a/bin/python"
    );
    let projects = value["python-envs.pythonProjects"].as_array().unwrap();
    assert_eq!(projects.len(), 2);
    assert_eq!(projects[1]["path"], ".");
    assert_eq!(projects[1]["envManager"], "ms-python.python:venv");
    assert_eq!(
        value["python-envs.workspaceSearchPaths"],
        serde_json::json!([".venv", "*/.venv", ".venvs/a"])
    );
    assert_eq!(value["editor.tabSize"], 4);

    // Again: nothing to change, the file's bytes untouched.
    let out = p.run(&["vscode", "a"]);
    assert!(
        stderr(&out).contains("already uses environment `a`; nothing to change"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(settings_path(&p)).unwrap(), text);
}

#[test]
fn vscode_dry_run_writes_nothing_and_json_says_what_would_change() {
    let p = Project::applied();
    let out = p.run(&["vscode", "a", "--dry-run", "--format", "json"]);
    assert!(!p.path(".vscode").exists());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changed"], true);
    assert_eq!(json["written"], false);
    assert_eq!(
        json["interpreter"],
        "${workspaceFolder}/.venvs/a/bin/python"
    );
    assert!(stderr(&out).contains("Would change `.vscode/settings.json`"));

    // Another folder: the environment is outside it, so absolute paths.
    let other = p.path("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    p.run(&["vscode", "a", "--folder", "elsewhere"]);
    let value = parsed(&std::fs::read_to_string(other.join(".vscode/settings.json")).unwrap());
    let root = std::fs::canonicalize(p.env_root()).unwrap();
    assert_eq!(
        value["python.defaultInterpreterPath"],
        root.join("bin/python").display().to_string()
    );
}

#[test]
fn vscode_leaves_a_broken_settings_file_alone() {
    let p = Project::applied();
    std::fs::create_dir_all(p.path(".vscode")).unwrap();
    let broken = "{ \"editor.tabSize\": 4 \"oops\" ";
    std::fs::write(settings_path(&p), broken).unwrap();
    let out = p.cmd().args(["vscode", "a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not valid JSON with comments"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(settings_path(&p)).unwrap(), broken);

    let wrong = r#"{ "python-envs.pythonProjects": "everything" }"#;
    std::fs::write(settings_path(&p), wrong).unwrap();
    let out = p.cmd().args(["vscode", "a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`python-envs.pythonProjects` is not a list"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(settings_path(&p)).unwrap(), wrong);
}

/// `vscode = true` in the manifest: the library call `apply` makes.
#[test]
fn the_manifest_key_makes_the_edit_for_its_environment() {
    let p = Project::applied();
    p.manifest(
        &crate::applied::ENVS.replace("path = \".venvs/a\"", "path = \".venvs/a\"\nvscode = true"),
    );
    let checked = beep_python::manifest::load(&p.path("beep-python.toml"), &p.home()).unwrap();
    let edit = beep_python::usage::vscode::for_manifest(&checked.manifest, &p.home())
        .unwrap()
        .expect("environment `a` asks for it");
    assert_eq!(edit.path, p.path(".vscode/settings.json"));
    edit.write().unwrap();
    let value = parsed(&std::fs::read_to_string(settings_path(&p)).unwrap());
    assert_eq!(
        value["python.defaultInterpreterPath"],
        "${workspaceFolder}/.venvs/a/bin/python"
    );
    // Without the key, nothing.
    p.manifest(crate::applied::ENVS);
    let checked = beep_python::manifest::load(&p.path("beep-python.toml"), &p.home()).unwrap();
    assert!(
        beep_python::usage::vscode::for_manifest(&checked.manifest, &p.home())
            .unwrap()
            .is_none()
    );
}
