//! Pointing VS Code at an environment: the workspace's
//! `.vscode/settings.json` (`beep-python vscode`, and `apply` for an
//! environment with `vscode = true`).
//!
//! Three settings are written, for the two extensions that choose the
//! interpreter:
//!
//! - `python.defaultInterpreterPath`: the environment's interpreter, as
//!   `${workspaceFolder}/...` when it lives inside the folder (so the file
//!   can be committed), else its absolute path. The Python extension uses
//!   it, and so does the Python Environments extension when no project
//!   entry names a manager.
//! - `python-envs.pythonProjects`: the Python Environments extension's
//!   project entry for the folder itself (`"path": "."`), managed by its
//!   `venv` manager with `pip`. That manager finds environments through
//!   the next setting.
//! - `python-envs.workspaceSearchPaths`: the environment's folder is added
//!   (relative to the workspace, else absolute), after the extension's
//!   defaults (`.venv`, `*/.venv`) when the key was not set, so they keep
//!   working.
//!
//! VS Code remembers an interpreter picked by hand ("Python: Select
//! Interpreter") in its own storage, and that choice wins over all three;
//! callers say so ([`REMEMBERED_CHOICE_WINS`]).
//!
//! The file is JSON with comments. It is edited with `jsonc-parser`'s
//! concrete syntax tree (dprint's parser, the one Deno uses to edit
//! `deno.json`): only the values that differ are replaced, and every
//! comment, trailing comma, blank line and other key stays as the user
//! wrote it. A value that already matches is left alone, so a second run
//! changes nothing ([`Edit::changes`] is empty). A file that is not JSONC,
//! or whose keys have the wrong type, is an error and is not touched.

use std::path::{Path, PathBuf};

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::{Value, json};

use super::{Activation, UsageError};
use crate::manifest::Manifest;
use crate::manifest::resolve::normalize;

/// The settings file, relative to the workspace folder.
pub const SETTINGS_FILE: &str = ".vscode/settings.json";
const INTERPRETER_KEY: &str = "python.defaultInterpreterPath";
const PROJECTS_KEY: &str = "python-envs.pythonProjects";
const SEARCH_PATHS_KEY: &str = "python-envs.workspaceSearchPaths";
const VENV_MANAGER: &str = "ms-python.python:venv";
const PIP_MANAGER: &str = "ms-python.python:pip";
/// The extension's default for `python-envs.workspaceSearchPaths`.
const DEFAULT_SEARCH_PATHS: &[&str] = &[".venv", "*/.venv"];

/// The warning every caller shows.
pub const REMEMBERED_CHOICE_WINS: &str = "an interpreter already selected in VS Code (\"Python: Select Interpreter\") wins over these settings; if VS Code keeps using another one, select this environment there once";

/// Why the settings could not be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VscodeError {
    #[error("`{}` is not valid JSON with comments: {message}", path.display())]
    #[diagnostic(
        code("vscode::parse"),
        help("fix the file (VS Code underlines the problem), then run again; nothing was changed")
    )]
    Parse { path: PathBuf, message: String },

    #[error("`{}`: {what}", path.display())]
    #[diagnostic(
        code("vscode::shape"),
        help("fix or remove that value, then run again; nothing was changed")
    )]
    Shape { path: PathBuf, what: String },

    #[error("the workspace folder `{}` does not exist", path.display())]
    #[diagnostic(
        code("vscode::no-folder"),
        help("pass an existing folder with `--folder DIR`")
    )]
    NoFolder { path: PathBuf },

    #[error("several environments have `vscode = true`: {}", names.join(", "))]
    #[diagnostic(
        code("vscode::several"),
        help("one folder has one interpreter setting: keep `vscode = true` on one environment")
    )]
    Several { names: Vec<String> },

    #[error("could not read or write `{}`", path.display())]
    #[diagnostic(code("vscode::io"))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Usage(#[from] UsageError),
}

/// The values the settings must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// `python.defaultInterpreterPath`.
    pub interpreter: String,
    /// The entry added to `python-envs.workspaceSearchPaths`.
    pub search_path: String,
}

impl Wanted {
    /// The values for an environment (`root`, `python`) used from the
    /// workspace `folder`; paths inside the folder are written relative to
    /// it. Both should be absolute; existing paths are compared through
    /// their real paths.
    pub fn new(folder: &Path, root: &Path, python: &Path) -> Self {
        let real = |p: &Path| fs_err::canonicalize(p).unwrap_or_else(|_| normalize(p));
        let folder = real(folder);
        let real_root = real(root);
        // The interpreter is a link to the base: keep its name, take the
        // real folder of the environment.
        let python = real_root.join(python.strip_prefix(root).unwrap_or(python));
        match real_root.strip_prefix(&folder) {
            Ok(rel) => Wanted {
                interpreter: format!(
                    "${{workspaceFolder}}/{}",
                    slashes(python.strip_prefix(&folder).unwrap_or(&python))
                ),
                search_path: if rel.as_os_str().is_empty() {
                    ".".to_string()
                } else {
                    slashes(rel)
                },
            },
            Err(_) => Wanted {
                interpreter: python.to_string_lossy().into_owned(),
                search_path: real_root.to_string_lossy().into_owned(),
            },
        }
    }
}

fn slashes(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// One change to one key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub key: &'static str,
    /// `add` (the key was absent), `set` (its value is replaced) or
    /// `extend` (an entry was added to or updated in its list).
    pub what: &'static str,
}

/// The settings file as it is and as it will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub path: PathBuf,
    /// The file's text; `None` when it does not exist.
    pub before: Option<String>,
    pub after: String,
    /// Empty when the file already holds every value.
    pub changes: Vec<Change>,
    pub wanted: Wanted,
}

impl Edit {
    /// A line diff of the file, for the preview (`-`/`+` lines with one
    /// line of context, and `@@ line N @@` headers).
    pub fn preview(&self) -> String {
        line_diff(self.before.as_deref().unwrap_or(""), &self.after)
    }

    /// Writes the new text (creating `.vscode/` if needed) by temporary
    /// file and rename; nothing when there is no change. A settings file
    /// that is a link is written through it.
    pub fn write(&self) -> Result<(), VscodeError> {
        if self.changes.is_empty() {
            return Ok(());
        }
        let io = |source| VscodeError::Io {
            path: self.path.clone(),
            source,
        };
        let target = fs_err::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        if let Some(dir) = target.parent() {
            fs_err::create_dir_all(dir).map_err(io)?;
        }
        crate::venv::write_atomic(&target, self.after.as_bytes(), false, true).map_err(io)
    }

    /// `{"settings", "changed", "changes", "python.defaultInterpreterPath"}`
    /// for `--format json`.
    pub fn json(&self, written: bool) -> Value {
        json!({
            "format_version": crate::report::JSON_FORMAT_VERSION,
            "settings": self.path,
            "changed": !self.changes.is_empty(),
            "written": written,
            "changes": self.changes,
            "interpreter": self.wanted.interpreter,
            "search_path": self.wanted.search_path,
        })
    }
}

/// The edit that points the workspace `folder` at `activation`'s
/// environment. Reads the settings file; writes nothing.
pub fn edit(folder: &Path, activation: &Activation) -> Result<Edit, VscodeError> {
    if !folder.is_dir() {
        return Err(VscodeError::NoFolder {
            path: folder.to_path_buf(),
        });
    }
    let path = folder.join(SETTINGS_FILE);
    let before = match fs_err::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(VscodeError::Io { path, source }),
    };
    let wanted = Wanted::new(folder, &activation.root, &activation.python);
    let (after, changes) = edit_text(before.as_deref(), &wanted).map_err(|e| match e {
        TextError::Parse(message) => VscodeError::Parse {
            path: path.clone(),
            message,
        },
        TextError::Shape(what) => VscodeError::Shape {
            path: path.clone(),
            what,
        },
    })?;
    Ok(Edit {
        path,
        before,
        after,
        changes,
        wanted,
    })
}

/// For `apply`: the edit for the environment of `manifest` that has
/// `vscode = true`, in the manifest's folder; `None` when no environment
/// asks for it. The caller shows [`Edit::preview`] and calls
/// [`Edit::write`] after the environments are built.
pub fn for_manifest(manifest: &Manifest, home: &Path) -> Result<Option<Edit>, VscodeError> {
    let names: Vec<String> = manifest
        .environments
        .values()
        .filter(|env| env.vscode.as_ref().is_some_and(|v| v.value))
        .map(|env| env.name.value.clone())
        .collect();
    match names.as_slice() {
        [] => Ok(None),
        [name] => {
            let env = super::environment(manifest, home, name)?;
            edit(&manifest.dir, &Activation::of(&env)).map(Some)
        }
        _ => Err(VscodeError::Several { names }),
    }
}

/// Why a settings text cannot be edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    Parse(String),
    Shape(String),
}

/// The settings text with `wanted` in it, and what changed. `text` is the
/// file's content (`None`: no file yet).
pub fn edit_text(text: Option<&str>, wanted: &Wanted) -> Result<(String, Vec<Change>), TextError> {
    let source = match text {
        Some(t) if !t.trim().is_empty() => t,
        // A new file: an empty object, then the keys one a line.
        _ => "{\n}\n",
    };
    let root = CstRootNode::parse(source, &ParseOptions::default())
        .map_err(|e| TextError::Parse(e.to_string()))?;
    let object = match root.value() {
        Some(value) => value.as_object().ok_or_else(|| {
            TextError::Shape("the settings are not an object (`{ ... }`)".to_string())
        })?,
        None => root.object_value_or_set(),
    };
    let mut changes = Vec::new();

    // The interpreter.
    let interpreter = Value::String(wanted.interpreter.clone());
    match object.get(INTERPRETER_KEY) {
        Some(prop) => {
            if prop.value().and_then(|v| v.to_serde_value()).as_ref() != Some(&interpreter) {
                prop.set_value(input(&interpreter));
                changes.push(Change {
                    key: INTERPRETER_KEY,
                    what: "set",
                });
            }
        }
        None => {
            object.append(INTERPRETER_KEY, input(&interpreter));
            changes.push(Change {
                key: INTERPRETER_KEY,
                what: "add",
            });
        }
    }

    // The project entry for the folder itself.
    let entry = json!({ "path": ".", "envManager": VENV_MANAGER, "packageManager": PIP_MANAGER });
    match list(&object, PROJECTS_KEY)? {
        None => {
            object.append(PROJECTS_KEY, input(&json!([entry])));
            changes.push(Change {
                key: PROJECTS_KEY,
                what: "add",
            });
        }
        Some(array) => {
            let existing = array.elements().into_iter().find_map(|element| {
                let object = element.as_object()?;
                let path = object.get("path")?.value()?.to_serde_value()?;
                matches!(path.as_str()?, "." | "./" | "").then_some(object)
            });
            match existing {
                Some(project) => {
                    let mut updated = false;
                    for (key, value) in [
                        ("envManager", VENV_MANAGER),
                        ("packageManager", PIP_MANAGER),
                    ] {
                        let value = Value::String(value.to_string());
                        match project.get(key) {
                            Some(prop)
                                if prop.value().and_then(|v| v.to_serde_value()).as_ref()
                                    == Some(&value) => {}
                            Some(prop) => {
                                prop.set_value(input(&value));
                                updated = true;
                            }
                            None => {
                                project.append(key, input(&value));
                                updated = true;
                            }
                        }
                    }
                    if updated {
                        changes.push(Change {
                            key: PROJECTS_KEY,
                            what: "extend",
                        });
                    }
                }
                None => {
                    array.append(input(&entry));
                    changes.push(Change {
                        key: PROJECTS_KEY,
                        what: "extend",
                    });
                }
            }
        }
    }

    // Where the Python Environments extension looks for environments.
    match list(&object, SEARCH_PATHS_KEY)? {
        None => {
            let mut paths: Vec<&str> = DEFAULT_SEARCH_PATHS.to_vec();
            if !paths.contains(&wanted.search_path.as_str()) {
                paths.push(&wanted.search_path);
            }
            object.append(SEARCH_PATHS_KEY, input(&json!(paths)));
            changes.push(Change {
                key: SEARCH_PATHS_KEY,
                what: "add",
            });
        }
        Some(array) => {
            let present = array.elements().iter().any(|element| {
                element
                    .to_serde_value()
                    .is_some_and(|v| v.as_str() == Some(wanted.search_path.as_str()))
            });
            if !present {
                array.append(input(&Value::String(wanted.search_path.clone())));
                changes.push(Change {
                    key: SEARCH_PATHS_KEY,
                    what: "extend",
                });
            }
        }
    }

    let after = if changes.is_empty() {
        text.unwrap_or_default().to_string()
    } else {
        let mut after = root.to_string();
        if !after.ends_with('\n') {
            after.push('\n');
        }
        after
    };
    Ok((after, changes))
}

/// The array under `key`, `None` when the key is absent; a key holding
/// anything else is an error (it is the user's, not ours to replace).
fn list(object: &CstObject, key: &str) -> Result<Option<jsonc_parser::cst::CstArray>, TextError> {
    match object.get(key) {
        None => Ok(None),
        Some(prop) => prop
            .array_value()
            .map(Some)
            .ok_or_else(|| TextError::Shape(format!("`{key}` is not a list (`[ ... ]`)"))),
    }
}

/// A serde value as the CST's input.
fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

/// A line diff (longest common subsequence): changed lines as `- `/`+ `,
/// one line of context as `  `, each hunk under `@@ line N @@` (the line
/// in the new text).
pub fn line_diff(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // (tag, text, line in the new text)
    let mut ops: Vec<(char, &str, usize)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i], j + 1));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removed lines before added ones, as `diff -u` shows them.
            ops.push(('-', a[i], j + 1));
            i += 1;
        } else {
            ops.push(('+', b[j], j + 1));
            j += 1;
        }
    }
    let shown: Vec<bool> = (0..ops.len())
        .map(|k| {
            let near = |d: usize| ops.get(d).is_some_and(|op| op.0 != ' ');
            ops[k].0 != ' ' || near(k + 1) || (k > 0 && near(k - 1))
        })
        .collect();
    let mut out = String::new();
    for (k, (tag, text, line)) in ops.iter().enumerate() {
        if !shown[k] {
            continue;
        }
        if k == 0 || !shown[k - 1] {
            out.push_str(&format!("@@ line {line} @@\n"));
        }
        out.push_str(&format!("{tag} {text}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted {
        Wanted {
            interpreter: "${workspaceFolder}/.venvs/a/bin/python".into(),
            search_path: ".venvs/a".into(),
        }
    }

    #[test]
    fn a_new_file_gets_every_setting() {
        let (text, changes) = edit_text(None, &wanted()).unwrap();
        assert_eq!(changes.len(), 3);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value[INTERPRETER_KEY],
            "${workspaceFolder}/.venvs/a/bin/python"
        );
        assert_eq!(value[PROJECTS_KEY][0]["envManager"], VENV_MANAGER);
        assert_eq!(
            value[SEARCH_PATHS_KEY],
            json!([".venv", "*/.venv", ".venvs/a"])
        );
        let (again, none) = edit_text(Some(&text), &wanted()).unwrap();
        assert!(none.is_empty());
        assert_eq!(again, text);
    }

    #[test]
    fn comments_trailing_commas_and_other_keys_stay() {
        let text = r#"{
    // my editor
    "editor.tabSize": 2, /* inline */
    "python.defaultInterpreterPath": "/old/python", // old
    "python-envs.pythonProjects": [
        { "path": "api", "envManager": "ms-python.python:conda" },
    ],
    "python-envs.workspaceSearchPaths": ["envs/*"],
}
"#;
        let (after, changes) = edit_text(Some(text), &wanted()).unwrap();
        assert_eq!(
            changes.iter().map(|c| (c.key, c.what)).collect::<Vec<_>>(),
            [
                (INTERPRETER_KEY, "set"),
                (PROJECTS_KEY, "extend"),
                (SEARCH_PATHS_KEY, "extend")
            ]
        );
        for kept in [
            "// my editor",
            "\"editor.tabSize\": 2, /* inline */",
            "// old",
            "{ \"path\": \"api\", \"envManager\": \"ms-python.python:conda\" },",
        ] {
            assert!(after.contains(kept), "lost {kept:?}:\n{after}");
        }
        assert!(!after.contains("/old/python"), "{after}");
        let value = CstRootNode::parse(&after, &ParseOptions::default())
            .unwrap()
            .value()
            .and_then(|v| v.to_serde_value())
            .unwrap();
        assert_eq!(value[PROJECTS_KEY][1]["path"], ".");
        assert_eq!(value[SEARCH_PATHS_KEY], json!(["envs/*", ".venvs/a"]));
        let (again, none) = edit_text(Some(&after), &wanted()).unwrap();
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(again, after);
    }

    #[test]
    fn values_of_the_wrong_shape_are_refused() {
        assert!(matches!(
            edit_text(Some("[1]"), &wanted()),
            Err(TextError::Shape(_))
        ));
        assert!(matches!(
            edit_text(Some(r#"{"python-envs.pythonProjects": {}}"#), &wanted()),
            Err(TextError::Shape(m)) if m.contains("pythonProjects")
        ));
        assert!(matches!(
            edit_text(Some("{ \"a\": }"), &wanted()),
            Err(TextError::Parse(_))
        ));
    }

    #[test]
    fn the_diff_shows_changed_lines_with_context() {
        let diff = line_diff("a\nb\nc\nd\ne\n", "a\nb\nX\nd\ne\nf\n");
        assert_eq!(diff, "@@ line 2 @@\n  b\n- c\n+ X\n  d\n  e\n+ f\n");
        let apart = line_diff("1\n2\n3\n4\n5\n6\n", "0\n1\n2\n3\n4\n5\n6\n7\n");
        assert_eq!(apart, "@@ line 1 @@\n+ 0\n  1\n@@ line 7 @@\n  6\n+ 7\n");
        assert_eq!(line_diff("same\n", "same\n"), "");
    }
}
