//! The planner as a pure function: desired specs, a registry and observed
//! folders go in; changes (and their rendering, snapshotted) come out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use beep_python::manifest::EnvironmentKind;
use beep_python::plan::{self, Action, EnvSpec, Inputs, Problem, Reason, render};
use beep_python::registry::Registry;
use beep_python::registry::model::{EnvironmentRecord, Status};
use beep_python::venv::{Distribution, Marker, Observed};

const OWNER: &str = "/project/beep-python.toml";

fn spec(name: &str, packages: &[&str]) -> EnvSpec {
    EnvSpec {
        name: name.into(),
        path: PathBuf::from(format!("/project/.venvs/{name}")),
        kind: EnvironmentKind::Venv,
        runtime: "host".into(),
        interpreter: "/usr/bin/python3.12".into(),
        python_version: "3.12.1".into(),
        implementation: "cpython".into(),
        packages: packages.iter().map(|p| p.to_string()).collect(),
        env: BTreeMap::new(),
        system_site_packages: false,
        locked: None,
        spec_hash: format!("hash-{name}"),
    }
}

fn record(spec: &EnvSpec) -> EnvironmentRecord {
    EnvironmentRecord {
        id: format!("id-{}", spec.name),
        name: spec.name.clone(),
        kind: "venv".into(),
        path: spec.path.clone(),
        runtime: spec.runtime.clone(),
        interpreter: Some(spec.interpreter.clone()),
        version: spec.python_version.clone(),
        managed: true,
        owner: Some(OWNER.into()),
        spec_hash: Some(spec.spec_hash.clone()),
        created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        last_applied_at: None,
        status: Status::Ready,
        packages: vec![],
        warnings: vec![],
        errors: vec![],
    }
}

fn dist(name: &str, version: &str) -> Distribution {
    Distribution {
        name: plan::normalize(name),
        display_name: name.into(),
        version: version.into(),
    }
}

/// A healthy environment of ours matching `spec`, with `installed`.
fn healthy(spec: &EnvSpec, installed: &[(&str, &str)]) -> Observed {
    Observed {
        exists: true,
        is_venv: true,
        home: Some("/usr/bin".into()),
        base_executable: Some(spec.interpreter.clone()),
        version: Some(spec.python_version.clone()),
        base_exists: true,
        python_exists: true,
        marker: Some(Marker {
            version: 1,
            name: spec.name.clone(),
            owner: OWNER.into(),
            spec_hash: spec.spec_hash.clone(),
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        }),
        packages: installed.iter().map(|(n, v)| dist(n, v)).collect(),
    }
}

fn run(
    desired: &[EnvSpec],
    registry: &Registry,
    observed: &[(&EnvSpec, Observed)],
    targets: &[&str],
) -> Result<Vec<plan::Change>, Vec<Problem>> {
    let observed: BTreeMap<PathBuf, Observed> = observed
        .iter()
        .map(|(s, o)| (s.path.clone(), o.clone()))
        .collect();
    let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    plan::diff(&Inputs {
        owner: Path::new(OWNER),
        desired,
        runtimes: &[],
        registry,
        observed: &observed,
        observed_runtimes: &BTreeMap::new(),
        targets: &targets,
    })
}

#[test]
fn a_matching_machine_plans_no_changes() {
    let dev = spec("dev", &["rich>=13", "Requests==2.31.0"]);
    let mut registry = Registry::new();
    registry.environments.push(record(&dev));
    let observed = healthy(
        &dev,
        &[("rich", "13.7.1"), ("requests", "2.31.0"), ("pip", "24.0")],
    );
    let changes = run(
        std::slice::from_ref(&dev),
        &registry,
        &[(&dev, observed)],
        &[],
    )
    .unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(
        render::human(&changes),
        "No changes. The machine matches the manifest.\n"
    );
    assert_eq!(
        render::json(&changes),
        serde_json::json!({"format_version": 1, "changes": [], "summary": {"add": 0, "change": 0, "destroy": 0}})
    );
}

/// Every action in one plan, rendered as a reviewer sees it.
#[test]
fn every_action_renders_in_terraform_style() {
    let new = spec("new", &["rich>=13"]);
    let drifted = spec("drifted", &["rich>=13", "requests>=2.31", "pip>=23"]);
    let based = spec("base-gone", &["rich"]);
    let mut upgraded = spec("upgraded", &[]);
    let mut retargeted = spec("retargeted", &[]);
    let mut settings = spec("settings", &[]);
    let old = spec("old", &[]);

    let mut registry = Registry::new();
    for s in [&drifted, &based, &upgraded, &retargeted, &settings, &old] {
        registry.environments.push(record(s));
    }
    let mut base_gone = healthy(&based, &[("rich", "13.0")]);
    base_gone.base_exists = false;
    let upgraded_seen = healthy(&upgraded, &[]);
    upgraded.python_version = "3.13.0".into();
    let retargeted_seen = healthy(&retargeted, &[]);
    retargeted.runtime = "py313".into();
    let settings_seen = healthy(&settings, &[]);
    settings.spec_hash = "hash-settings-with-new-env-vars".into();

    let observed = vec![
        (&new, Observed::default()),
        (
            &drifted,
            healthy(&drifted, &[("rich", "12.6.0"), ("pip", "24.0")]),
        ),
        (&based, base_gone),
        (&upgraded, upgraded_seen),
        (&retargeted, retargeted_seen),
        (&settings, settings_seen),
    ];
    let desired = vec![
        new.clone(),
        drifted.clone(),
        based.clone(),
        upgraded.clone(),
        retargeted.clone(),
        settings.clone(),
    ];
    let changes = run(&desired, &registry, &observed, &[]).unwrap();
    let actions: Vec<(&str, Action)> = changes
        .iter()
        .map(|c| (c.name.as_str(), c.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("base-gone", Action::Replace),
            ("drifted", Action::Update),
            ("new", Action::Create),
            ("old", Action::Delete),
            ("retargeted", Action::Replace),
            ("settings", Action::Update),
            ("upgraded", Action::Replace),
        ]
    );
    let drifted_change = changes.iter().find(|c| c.name == "drifted").unwrap();
    assert_eq!(
        drifted_change.reasons,
        [Reason::PackagesDrifted { count: 2 }]
    );
    insta::assert_snapshot!("plan_every_action", render::human(&changes));
    insta::assert_json_snapshot!("plan_every_action_json", render::json(&changes));
}

#[test]
fn a_folder_that_is_not_ours_is_an_error_never_a_change() {
    let dev = spec("dev", &[]);
    let mut foreign = healthy(&dev, &[]);
    foreign.marker = None;
    let problems = run(
        std::slice::from_ref(&dev),
        &Registry::new(),
        &[(&dev, foreign)],
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(problems[0], Problem::PathOccupied { .. }),
        "{problems:?}"
    );
    let rendered = beep_python::report::render(&problems[0], false);
    assert!(rendered.contains("help:"), "{rendered}");

    let mut other = healthy(&dev, &[]);
    other.marker.as_mut().unwrap().owner = "/elsewhere/beep-python.toml".into();
    let problems = run(
        std::slice::from_ref(&dev),
        &Registry::new(),
        &[(&dev, other)],
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(problems[0], Problem::ForeignOwner { .. }),
        "{problems:?}"
    );
}

#[test]
fn environments_of_other_manifests_are_never_deleted() {
    let mut registry = Registry::new();
    let mut theirs = record(&spec("theirs", &[]));
    theirs.owner = Some("/elsewhere/beep-python.toml".into());
    registry.environments.push(theirs);
    let mut discovered = record(&spec("found", &[]));
    discovered.managed = false;
    discovered.owner = Some(OWNER.into());
    registry.environments.push(discovered);
    assert!(run(&[], &registry, &[], &[]).unwrap().is_empty());
}

#[test]
fn targets_limit_the_plan_and_unknown_targets_are_errors() {
    let a = spec("a", &[]);
    let b = spec("b", &[]);
    let observed = vec![(&a, Observed::default()), (&b, Observed::default())];
    let desired = vec![a.clone(), b.clone()];
    let changes = run(&desired, &Registry::new(), &observed, &["env.b"]).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].address, "env.b");
    // A runtime target includes the environments that depend on it.
    let changes = run(&desired, &Registry::new(), &observed, &["runtime.host"]).unwrap();
    assert_eq!(changes.len(), 2);
    let problems = run(&desired, &Registry::new(), &observed, &["env.c"]).unwrap_err();
    match &problems[0] {
        Problem::UnknownTarget { address, help } => {
            assert_eq!(address, "env.c");
            assert!(
                help.as_deref().unwrap().contains("did you mean `env."),
                "{help:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn requirement_satisfaction_follows_pep_440_and_pep_503() {
    let installed = vec![dist("Foo_Bar", "1.4.2"), dist("baz", "2.0.0rc1")];
    let reqs: Vec<String> = [
        "foo-bar>=1.4",
        "FOO.BAR<2",
        "baz>=2.0.0rc1",
        "baz>=2",
        "missing",
        "only-on-windows; sys_platform == 'win32'",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let changes = plan::package_changes(&reqs, &installed);
    assert_eq!(changes.add, ["missing"]);
    assert_eq!(changes.change.len(), 1);
    assert_eq!(changes.change[0].required, "baz>=2");
}

// --- managed runtimes ------------------------------------------------------

mod runtimes {
    use super::*;
    use beep_python::manifest::RuntimeSource;
    use beep_python::provision::{ObservedRuntime, RuntimeMarker, RuntimeSpec};
    use beep_python::registry::model::{RuntimeKind, RuntimeRecord};

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn runtime(version: &str, sha: &str) -> RuntimeSpec {
        let root = PathBuf::from(format!("/home/runtimes/cpython-{version}-linux-x86_64-gnu"));
        RuntimeSpec {
            name: "py".into(),
            source: RuntimeSource::Standalone,
            python_version: version.into(),
            url: format!("https://example.invalid/{version}.tar.gz"),
            upstream_url: format!("https://example.invalid/{version}.tar.gz"),
            sha256: sha.into(),
            platform: "linux-x86_64-gnu".into(),
            interpreter: root.join("bin/python3"),
            root,
            allow_insecure_http: false,
        }
    }

    fn installed(spec: &RuntimeSpec) -> ObservedRuntime {
        ObservedRuntime {
            exists: true,
            marker: Some(RuntimeMarker {
                version: 1,
                source: spec.source,
                python_version: spec.python_version.clone(),
                url: spec.url.clone(),
                sha256: spec.sha256.clone(),
                platform: spec.platform.clone(),
                created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            }),
            interpreter_exists: true,
        }
    }

    fn record(spec: &RuntimeSpec, owner: &str) -> RuntimeRecord {
        RuntimeRecord {
            id: spec.id(),
            name: spec.name.clone(),
            kind: RuntimeKind::Standalone,
            path: spec.interpreter.clone(),
            real_path: None,
            version: spec.python_version.clone(),
            implementation: Some("cpython".into()),
            arch: None,
            root: Some(spec.root.clone()),
            url: Some(spec.url.clone()),
            sha256: Some(spec.sha256.clone()),
            found_by: vec![],
            managed: true,
            owner: Some(owner.into()),
            spec_hash: None,
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            last_applied_at: None,
            status: Status::Ready,
            warnings: vec![],
            errors: vec![],
        }
    }

    fn diff(
        runtimes: &[RuntimeSpec],
        registry: &Registry,
        observed: &[(&RuntimeSpec, ObservedRuntime)],
    ) -> Result<Vec<plan::Change>, Vec<Problem>> {
        let observed_runtimes = observed
            .iter()
            .map(|(s, o)| (s.root.clone(), o.clone()))
            .collect();
        plan::diff(&Inputs {
            owner: Path::new(OWNER),
            desired: &[],
            runtimes,
            registry,
            observed: &BTreeMap::new(),
            observed_runtimes: &observed_runtimes,
            targets: &[],
        })
    }

    #[test]
    fn a_missing_runtime_is_created_and_an_installed_one_is_a_no_op() {
        let py = runtime("3.11.9", SHA_A);
        let changes = diff(std::slice::from_ref(&py), &Registry::new(), &[]).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].address, "runtime.py");
        assert_eq!(changes[0].action, Action::Create);
        assert_eq!(changes[0].reasons, [Reason::NotInRegistry]);

        let mut registry = Registry::new();
        registry.runtimes.push(record(&py, OWNER));
        let changes = diff(
            std::slice::from_ref(&py),
            &registry,
            &[(&py, installed(&py))],
        )
        .unwrap();
        assert_eq!(changes, []);
    }

    #[test]
    fn an_installed_but_unrecorded_runtime_is_only_recorded() {
        let py = runtime("3.11.9", SHA_A);
        let changes = diff(
            std::slice::from_ref(&py),
            &Registry::new(),
            &[(&py, installed(&py))],
        )
        .unwrap();
        assert_eq!(changes[0].action, Action::Update);
        assert_eq!(changes[0].reasons, [Reason::NotInRegistry]);
    }

    #[test]
    fn a_new_version_replaces_the_runtime_and_retires_the_old_folder() {
        let old = runtime("3.11.8", SHA_A);
        let new = runtime("3.11.9", SHA_B);
        let mut registry = Registry::new();
        registry.runtimes.push(record(&old, OWNER));
        let changes = diff(std::slice::from_ref(&new), &registry, &[]).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, Action::Replace);
        assert_eq!(
            changes[0].reasons,
            [Reason::RuntimeChanged {
                from: "3.11.8".into(),
                to: "3.11.9".into()
            }]
        );
        assert_eq!(changes[0].retire.as_ref(), Some(&old.root));
        let text = render::human(&changes);
        assert!(text.contains("-/+ runtime.py"), "{text}");
        assert!(text.contains("runtime changed 3.11.8 -> 3.11.9"), "{text}");
        assert!(
            text.contains(&format!("removes: {}", old.root.display())),
            "{text}"
        );
    }

    #[test]
    fn an_old_folder_another_manifest_uses_is_kept() {
        let old = runtime("3.11.8", SHA_A);
        let new = runtime("3.11.9", SHA_B);
        let mut registry = Registry::new();
        registry.runtimes.push(record(&old, OWNER));
        registry
            .runtimes
            .push(record(&old, "/other/beep-python.toml"));
        let changes = diff(std::slice::from_ref(&new), &registry, &[]).unwrap();
        assert_eq!(changes[0].action, Action::Replace);
        assert_eq!(changes[0].retire, None);

        // An environment of another manifest on it keeps it too.
        let mut registry = Registry::new();
        registry.runtimes.push(record(&old, OWNER));
        let mut env = super::record(&spec("theirs", &[]));
        env.owner = Some("/other/beep-python.toml".into());
        env.interpreter = Some(old.interpreter.clone());
        registry.environments.push(env);
        let changes = diff(&[new], &registry, &[]).unwrap();
        assert_eq!(changes[0].retire, None);
    }

    #[test]
    fn other_bytes_in_the_same_folder_are_a_replace() {
        let py = runtime("3.11.9", SHA_B);
        let was = runtime("3.11.9", SHA_A);
        let mut registry = Registry::new();
        registry.runtimes.push(record(&was, OWNER));
        let changes = diff(
            std::slice::from_ref(&py),
            &registry,
            &[(&py, installed(&was))],
        )
        .unwrap();
        assert_eq!(changes[0].action, Action::Replace);
        assert!(
            matches!(&changes[0].reasons[..], [Reason::ArchiveChanged { from, to }] if from == SHA_A && to == SHA_B),
            "{:?}",
            changes[0].reasons
        );
        assert_eq!(changes[0].retire, None);
    }

    #[test]
    fn a_runtime_no_longer_declared_is_deleted_unless_in_use() {
        let py = runtime("3.11.9", SHA_A);
        let mut registry = Registry::new();
        registry.runtimes.push(record(&py, OWNER));
        let changes = diff(&[], &registry, &[]).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, Action::Delete);
        assert_eq!(changes[0].path, py.root);

        let mut env = super::record(&spec("theirs", &[]));
        env.owner = Some("/other/beep-python.toml".into());
        env.interpreter = Some(py.interpreter.clone());
        registry.environments.push(env);
        assert_eq!(diff(&[], &registry, &[]).unwrap(), []);
    }

    #[test]
    fn a_folder_without_our_marker_is_a_problem() {
        let py = runtime("3.11.9", SHA_A);
        let foreign = ObservedRuntime {
            exists: true,
            marker: None,
            interpreter_exists: true,
        };
        let problems = diff(
            std::slice::from_ref(&py),
            &Registry::new(),
            &[(&py, foreign)],
        )
        .unwrap_err();
        assert!(matches!(
            &problems[..],
            [Problem::RuntimePathOccupied { .. }]
        ));
    }

    /// `apply --target env.a` while env.b stays on the old runtime: the old
    /// folder is not retired.
    #[test]
    fn an_old_runtime_an_untargeted_environment_uses_is_kept() {
        let old = runtime("3.11.8", SHA_A);
        let new = runtime("3.11.9", SHA_B);
        let mut registry = Registry::new();
        registry.runtimes.push(record(&old, OWNER));
        let mut a = spec("a", &[]);
        let mut b = spec("b", &[]);
        for s in [&mut a, &mut b] {
            s.runtime = "py".into();
            s.interpreter = new.interpreter.clone();
        }
        for s in [&a, &b] {
            let mut r = super::record(s);
            r.interpreter = Some(old.interpreter.clone());
            registry.environments.push(r);
        }
        let observed: BTreeMap<PathBuf, Observed> = BTreeMap::new();
        let targets = vec!["env.a".to_string()];
        let changes = plan::diff(&Inputs {
            owner: Path::new(OWNER),
            desired: &[a, b],
            runtimes: std::slice::from_ref(&new),
            registry: &registry,
            observed: &observed,
            observed_runtimes: &BTreeMap::new(),
            targets: &targets,
        })
        .unwrap();
        let runtime = changes.iter().find(|c| c.address == "runtime.py").unwrap();
        assert_eq!(runtime.action, Action::Replace);
        assert_eq!(runtime.retire, None, "env.b still uses {:?}", old.root);
    }

    #[test]
    fn a_shared_runtime_leaving_the_manifest_loses_only_its_record() {
        let py = runtime("3.11.9", SHA_A);
        let mut registry = Registry::new();
        registry.runtimes.push(record(&py, OWNER));
        registry
            .runtimes
            .push(record(&py, "/other/beep-python.toml"));
        let changes = diff(&[], &registry, &[]).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, Action::Delete);
        assert!(changes[0].keep_folder);
        assert!(
            changes[0].reason_text().contains("its folder stays"),
            "{}",
            changes[0].reason_text()
        );
    }
}
