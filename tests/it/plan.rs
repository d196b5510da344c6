//! The planner's contract, as files: each folder under
//! `tests/it/fixtures/plan/<case>/` holds a manifest (`beep-python.toml`,
//! at `/project`), the state of the machine (`state.toml`: interpreters,
//! registry records, what is in each folder, and the command's arguments),
//! optionally a `beep-python.lock`, and the expected rendered plan
//! (`plan.txt`, or the rendered problems). The diff is pure, so nothing
//! here touches the disk but the fixture files.
//!
//! `BEEP_PYTHON_BLESS=1 cargo test --test it plan::` rewrites `plan.txt`
//! from what the planner says; review the diff before committing it.
//!
//! `state.toml`:
//!
//! ```toml
//! [args]                      # all optional
//! targets = ["env.a"]
//! replace = ["env.b"]
//! mode = "destroy"            # default "apply"
//! lock = "frozen"             # use ./beep-python.lock as it is
//!
//! [[interpreters]]            # what discovery would find
//! path = "/usr/bin/python3.12"
//! version = "3.12.1"
//!
//! [[registry]]                # recorded environments
//! name = "a"
//! path = "/project/.venvs/a"
//! runtime = "host"
//! version = "3.12.1"
//! owner = "other"             # default: this manifest
//! status = "tainted"          # default "ready"
//! built = "current"           # what the manifest asks now; or a table
//!
//! [observed."/project/.venvs/a"]   # default: nothing there
//! state = "healthy"           # or no-pyvenv, base-missing, python-missing, not-a-venv-folder
//! version = "3.12.1"
//! marker = "ours"             # or "other", "none"
//! name = "a"                  # the marker's name (default: the key's last component)
//! built = "current"           # or a table, or absent (an old marker)
//! packages = { rich = "13.7.1" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use beep_python::desired::{self, Desired, Interpreters, LockUse};
use beep_python::diagnostic::SourceFile;
use beep_python::discover::{Interpreter, Locator};
use beep_python::manifest::{self, ManifestError};
use beep_python::observe::Observation;
use beep_python::plan::{self, Change, Mode, render};
use beep_python::registry::model::{BuiltFrom, EnvironmentRecord, Status};
use beep_python::registry::{Home, Registry};
use beep_python::venv::{Distribution, Marker, Observed, normalize_name};
use beep_python::{lockfile, report};

use crate::common::{HOME, PROJECT};

const OWNER: &str = "/project/beep-python.toml";
const OTHER_OWNER: &str = "/elsewhere/beep-python.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    #[serde(default)]
    args: Args,
    #[serde(default)]
    interpreters: Vec<FakeInterpreter>,
    #[serde(default)]
    registry: Vec<FakeRecord>,
    #[serde(default)]
    observed: BTreeMap<PathBuf, FakeObserved>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    replace: Vec<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    lock: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeInterpreter {
    path: PathBuf,
    version: String,
}

/// `"current"` (what the manifest asks now) or the fields themselves.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum FakeBuilt {
    Current(String),
    Fields(BuiltFrom),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeRecord {
    name: String,
    path: PathBuf,
    runtime: String,
    version: String,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    built: Option<FakeBuilt>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeObserved {
    state: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    built: Option<FakeBuilt>,
    #[serde(default)]
    packages: BTreeMap<String, String>,
}

fn interpreter(fake: &FakeInterpreter) -> Interpreter {
    Interpreter {
        implementation: "cpython".into(),
        version: fake.version.clone(),
        arch: "x86_64".into(),
        path: fake.path.clone(),
        paths: vec![fake.path.clone()],
        real_path: fake.path.clone(),
        prefix: fake.path.parent().unwrap().parent().unwrap().into(),
        base_prefix: fake.path.parent().unwrap().parent().unwrap().into(),
        is_venv: false,
        has_pip: true,
        has_ensurepip: true,
        has_venv: true,
        externally_managed: false,
        locators: vec![Locator::System],
        supported: true,
        unsupported_reason: None,
    }
}

/// What the environment `name` was built from: the desired state's, or
/// the fixture's own.
fn built(fake: &FakeBuilt, name: &str, desired: &Desired) -> BuiltFrom {
    match fake {
        FakeBuilt::Fields(fields) => fields.clone(),
        FakeBuilt::Current(word) => {
            assert_eq!(word, "current", "`built` is \"current\" or a table");
            desired
                .environments
                .iter()
                .find(|d| d.name == name)
                .unwrap_or_else(|| {
                    panic!("`built = \"current\"` for `{name}`, which is not declared")
                })
                .built_from()
        }
    }
}

fn owner_of(word: Option<&str>) -> PathBuf {
    match word {
        None | Some("this") => OWNER.into(),
        Some("other") => OTHER_OWNER.into(),
        Some(other) => panic!("owner is \"this\" or \"other\", not {other:?}"),
    }
}

fn registry(state: &State, desired: &Desired) -> Registry {
    let mut registry = Registry::new();
    for r in &state.registry {
        registry.environments.push(EnvironmentRecord {
            id: format!("id-{}", r.name),
            name: r.name.clone(),
            kind: "venv".into(),
            path: r.path.clone(),
            runtime: r.runtime.clone(),
            interpreter: None,
            version: r.version.clone(),
            managed: true,
            owner: Some(owner_of(r.owner.as_deref())),
            spec_hash: None,
            created_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            last_applied_at: None,
            status: match r.status.as_deref() {
                None | Some("ready") => Status::Ready,
                Some("tainted") => Status::Tainted,
                Some(other) => panic!("unknown status {other:?}"),
            },
            packages: Vec::new(),
            built: r.built.as_ref().map(|b| built(b, &r.name, desired)),
            warnings: Vec::new(),
            errors: Vec::new(),
        });
    }
    registry
}

fn observation(state: &State, desired: &Desired) -> Observation {
    let mut out = Observation::default();
    for (path, fake) in &state.observed {
        let name = fake
            .name
            .clone()
            .unwrap_or_else(|| path.file_name().unwrap().to_string_lossy().into_owned());
        let version = fake.version.clone().unwrap_or_else(|| "3.12.1".into());
        let marker = match fake.marker.as_deref() {
            None | Some("ours") => Some(OWNER),
            Some("other") => Some(OTHER_OWNER),
            Some("none") => None,
            Some(other) => panic!("marker is ours, other or none, not {other:?}"),
        }
        .map(|owner| Marker {
            version: 1,
            name: name.clone(),
            owner: owner.into(),
            spec_hash: String::new(),
            created_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            built: fake.built.as_ref().map(|b| built(b, &name, desired)),
        });
        let mut observed = Observed {
            exists: true,
            is_venv: true,
            home: Some("/usr/bin".into()),
            base_executable: Some("/usr/bin/python3".into()),
            version: Some(version),
            base_exists: true,
            python_exists: true,
            marker,
            packages: fake
                .packages
                .iter()
                .map(|(name, version)| Distribution {
                    name: normalize_name(name),
                    display_name: name.clone(),
                    version: version.clone(),
                })
                .collect(),
            conda: None,
        };
        match fake.state.as_str() {
            "healthy" => {}
            "no-pyvenv" => observed.is_venv = false,
            "base-missing" => observed.base_exists = false,
            "python-missing" => observed.python_exists = false,
            "not-a-venv-folder" => {
                observed.is_venv = false;
                observed.packages.clear();
            }
            other => panic!("unknown state {other:?}"),
        }
        observed.packages.sort();
        out.environments.insert(path.clone(), observed);
    }
    out
}

/// The rendered plan (or problems) for one case folder.
fn run_case(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("beep-python.toml")).unwrap();
    let source = SourceFile::new("beep-python.toml", text);
    let checked = match manifest::check(
        source,
        Path::new(OWNER),
        Path::new(PROJECT),
        Path::new(HOME),
    ) {
        Ok(checked) => checked,
        Err(ManifestError::Invalid { diagnostics, .. }) => {
            panic!(
                "{}: invalid manifest:\n{}",
                dir.display(),
                diagnostics
                    .iter()
                    .map(|d| report::render(d, false))
                    .collect::<String>()
            )
        }
        Err(e) => panic!("{e}"),
    };
    let state: State = match std::fs::read_to_string(dir.join("state.toml")) {
        Ok(text) => {
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: state.toml: {e}", dir.display()))
        }
        Err(_) => State::default(),
    };
    let lock = match state.args.lock.as_deref() {
        None => LockUse::None,
        Some("frozen") => {
            let path = dir.join("beep-python.lock");
            let text = std::fs::read_to_string(&path).unwrap();
            LockUse::Frozen(lockfile::parse(&text, &path).unwrap())
        }
        Some(other) => panic!("lock is \"frozen\", not {other:?}"),
    };
    let interpreters: Vec<Interpreter> = state.interpreters.iter().map(interpreter).collect();
    let mode = match state.args.mode.as_deref() {
        None | Some("apply") => Mode::Apply,
        Some("destroy") => Mode::Destroy,
        Some(other) => panic!("mode is apply or destroy, not {other:?}"),
    };
    let built = desired::build(
        &checked.manifest,
        &Home::new(HOME),
        &lock,
        Interpreters::Given(&interpreters),
    );
    let desired = match built {
        Ok(desired) => desired,
        Err(errors) => {
            return errors
                .iter()
                .map(|e| report::render(e, false))
                .collect::<String>();
        }
    };
    let registry = registry(&state, &desired);
    let observed = observation(&state, &desired);
    let planned = if mode == Mode::Destroy {
        Desired::default()
    } else {
        desired
    };
    match plan::diff(&plan::Inputs {
        owner: Path::new(OWNER),
        desired: &planned,
        registry: &registry,
        observed: &observed,
        targets: &state.args.targets,
        replace: &state.args.replace,
        mode,
    }) {
        Ok(changes) => render_checked(&changes),
        Err(problems) => problems
            .iter()
            .map(|p| report::render(p, false))
            .collect::<String>(),
    }
}

/// The human plan; the JSON plan and a saved plan must round-trip too.
fn render_checked(changes: &[Change]) -> String {
    let json = render::json(changes);
    assert_eq!(json["format_version"], 2);
    assert_eq!(json["changes"].as_array().unwrap().len(), changes.len());
    let saved = serde_json::to_string(changes).unwrap();
    let back: Vec<Change> = serde_json::from_str(&saved).unwrap();
    assert_eq!(back, changes, "a saved plan reads back the same");
    render::human(changes)
}

#[test]
fn every_planner_fixture_renders_its_expected_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/plan");
    let bless = std::env::var_os("BEEP_PYTHON_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "the fixtures are missing: {}",
        root.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let got = run_case(case);
        let expected_path = case.join("plan.txt");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "--- {}\n--- expected:\n{expected}\n--- got:\n{got}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} planner fixtures differ (BEEP_PYTHON_BLESS=1 rewrites them):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn requirement_satisfaction_follows_pep_440_and_pep_503() {
    let installed = vec![
        Distribution {
            name: "typing-extensions".into(),
            display_name: "typing_extensions".into(),
            version: "4.12.2".into(),
        },
        Distribution {
            name: "rich".into(),
            display_name: "rich".into(),
            version: "13.7.1".into(),
        },
    ];
    let reqs: Vec<String> = [
        "Typing.Extensions>=4",
        "rich~=13.7",
        "rich<13",
        "absent; python_version < '3'",
        "new-thing",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let changes = plan::package_changes(&reqs, &installed);
    assert_eq!(changes.add, vec!["new-thing".to_string()]);
    assert_eq!(changes.change.len(), 1);
    assert_eq!(changes.change[0].required, "rich<13");
}
