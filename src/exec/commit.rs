//! The registry after a successful apply: each change's record replaced,
//! moved to its new name, or removed. Records are keyed by (owner, name):
//! another manifest's environment of the same name is never touched.

use std::path::Path;

use uuid::Uuid;

use crate::manifest::{EnvironmentKind, RuntimeSource};
use crate::plan::{Change, EnvAction, HomeAction, HomeChange, RuntimeAction, RuntimeChange};
use crate::registry::Registry;
use crate::registry::model::{
    EnvironmentRecord, HistoryEvent, PackageRecord, RuntimeKind, RuntimeRecord, Status,
};
use crate::venv;

/// `registry` with every change recorded.
pub fn next_registry(registry: &Registry, changes: &[Change], owner: &Path) -> Registry {
    let mut next = registry.clone();
    let now = jiff::Timestamp::now();
    for change in changes {
        match change {
            Change::Runtime(r) => record_runtime(&mut next, r, owner, now),
            Change::Home(h) => record_home(&mut next, h, now),
            Change::Environment(e) => {
                let mine = |r: &EnvironmentRecord, name: &str| {
                    r.name == name && r.owner.as_deref() == Some(owner)
                };
                let previous_name = e.action.renamed_from().unwrap_or(&e.name);
                let old = next
                    .environments
                    .iter()
                    .position(|r| mine(r, previous_name))
                    .map(|i| next.environments.remove(i));
                next.environments.retain(|r| !mine(r, &e.name));
                let Some(spec) = e.action.spec() else {
                    continue;
                };
                let observed = venv::observe(&spec.path);
                let rebuilt = e.action.builds();
                remember_repoint(&mut next, &e.action, owner, now);
                next.environments.push(EnvironmentRecord {
                    id: old
                        .as_ref()
                        .map_or_else(|| Uuid::new_v4().to_string(), |o| o.id.clone()),
                    name: spec.name.clone(),
                    kind: match spec.kind {
                        EnvironmentKind::Venv => "venv".into(),
                        EnvironmentKind::Conda => "conda".into(),
                    },
                    path: spec.path.clone(),
                    runtime: spec.runtime.clone(),
                    interpreter: Some(spec.interpreter.clone()),
                    // A conda environment settled at apply time knows its
                    // python only from what it now holds.
                    version: if spec.python_version.is_empty() {
                        observed.version.clone().unwrap_or_default()
                    } else {
                        spec.python_version.clone()
                    },
                    managed: true,
                    owner: Some(owner.to_path_buf()),
                    spec_hash: Some(spec.spec_hash()),
                    created_at: match (&old, rebuilt) {
                        (Some(o), false) => o.created_at,
                        _ => now,
                    },
                    last_applied_at: Some(now),
                    status: Status::Ready,
                    packages: observed
                        .packages
                        .iter()
                        .map(|d| PackageRecord {
                            name: d.name.clone(),
                            version: d.version.clone(),
                        })
                        .collect(),
                    built: match (&e.action, &old, &observed.marker) {
                        // Adopted or renamed: untouched on disk, so what it
                        // was built from is what its marker says.
                        (
                            EnvAction::Rename { .. }
                            | EnvAction::Adopt { .. }
                            | EnvAction::Repoint { .. },
                            _,
                            Some(m),
                        ) if m.built.is_some() => m.built.clone(),
                        (EnvAction::Rename { .. }, Some(o), _) if o.built.is_some() => {
                            o.built.clone()
                        }
                        _ => Some(spec.built_from()),
                    },
                    warnings: Vec::new(),
                    errors: Vec::new(),
                });
            }
        }
    }
    next.environments
        .sort_by(|a, b| (&a.name, &a.owner).cmp(&(&b.name, &b.owner)));
    crate::runtimes::sort_runtimes(&mut next.runtimes);
    next
}

/// A re-pointed environment's old base interpreter stays in the
/// registry's history.
fn remember_repoint(
    registry: &mut Registry,
    action: &EnvAction,
    owner: &Path,
    now: jiff::Timestamp,
) {
    if let EnvAction::Repoint { spec, from } = action {
        registry.remember(HistoryEvent::Repointed {
            environment: spec.name.clone(),
            owner: Some(owner.to_path_buf()),
            path: spec.path.clone(),
            from: from.clone(),
            to: spec.interpreter.clone(),
            at: now,
        });
    }
}

/// The registry after a home change: records pruned, the default replaced
/// (each remembered in its history); a sweep or a restore changes no
/// record (the restore is the write itself).
fn record_home(registry: &mut Registry, change: &HomeChange, now: jiff::Timestamp) {
    match &change.action {
        HomeAction::Sweep { .. } | HomeAction::RestoreRegistry { .. } => {}
        HomeAction::PruneEnvironment { name, owner, path } => {
            let before = registry.environments.len();
            registry
                .environments
                .retain(|r| !(r.name == *name && r.owner == *owner && r.path == *path));
            if registry.environments.len() < before {
                registry.remember(HistoryEvent::Pruned {
                    address: format!("env.{name}"),
                    path: path.clone(),
                    at: now,
                });
            }
        }
        HomeAction::PruneRuntime { name, path } => {
            let before = registry.runtimes.len();
            registry.runtimes.retain(|r| r.name != *name);
            if registry.runtimes.len() < before {
                if registry.default_runtime.as_deref() == Some(name.as_str()) {
                    registry.default_runtime = None;
                }
                registry.remember(HistoryEvent::Pruned {
                    address: format!("runtime.{name}"),
                    path: path.clone(),
                    at: now,
                });
            }
        }
        HomeAction::ReplaceDefault { from, to } => {
            if registry.runtime(to).is_some() {
                registry.default_runtime = Some(to.clone());
                let why = change
                    .reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                registry.remember(HistoryEvent::DefaultReplaced {
                    from: from.clone(),
                    to: to.clone(),
                    why,
                    at: now,
                });
            }
        }
    }
}

/// After the commit: a renamed environment's marker takes its new name (a
/// best effort: the marker's owner, not its name, decides ownership).
pub fn relabel_markers(changes: &[Change]) {
    for change in changes {
        let Change::Environment(e) = change else {
            continue;
        };
        let EnvAction::Rename { spec, .. } = &e.action else {
            continue;
        };
        if let Some(mut marker) = venv::read_marker(&spec.path) {
            marker.name = spec.name.clone();
            let _ = venv::write_marker(&spec.path, &marker);
        }
    }
}

/// The registry after a runtime change: this manifest's record of the
/// runtime is replaced (or removed, for a delete).
fn record_runtime(
    registry: &mut Registry,
    change: &RuntimeChange,
    owner: &Path,
    now: jiff::Timestamp,
) {
    let ours =
        |r: &RuntimeRecord| r.managed && r.owner.as_deref() == Some(owner) && r.name == change.name;
    let old = registry
        .runtimes
        .iter()
        .position(ours)
        .map(|i| registry.runtimes.remove(i));
    let retire = match &change.action {
        RuntimeAction::Replace { retire, .. } => retire.as_ref(),
        _ => None,
    };
    // An old folder that stays (something still uses it) stays recorded,
    // under its folder's name, so that a later apply retires it once unused.
    if let (Some(old), Some(spec)) = (&old, change.action.spec())
        && old.root.is_some()
        && old.root.as_ref() != Some(&spec.root)
        && retire.is_none()
        && !registry
            .runtimes
            .iter()
            .any(|r| r.root == old.root && r.owner == old.owner)
    {
        let mut kept = old.clone();
        kept.name = kept.id.clone();
        registry.runtimes.push(kept);
    }
    let Some(spec) = change.action.spec() else {
        if registry.default_runtime.as_deref() == Some(change.name.as_str()) {
            registry.default_runtime = None;
        }
        return;
    };
    let arch = spec.platform.split('-').nth(1).map(str::to_string);
    let real_path = fs_err::canonicalize(&spec.interpreter).ok();
    // Discovery may have found this folder before it was recorded as ours:
    // one interpreter is one entry.
    registry
        .runtimes
        .retain(|r| r.managed || real_path.is_none() || r.real_path != real_path);
    registry.runtimes.push(RuntimeRecord {
        id: spec.id(),
        name: spec.name.clone(),
        kind: match spec.source {
            RuntimeSource::Standalone => RuntimeKind::Standalone,
            RuntimeSource::Embeddable => RuntimeKind::Embeddable,
            RuntimeSource::Url => RuntimeKind::Url,
            RuntimeSource::System => RuntimeKind::System,
        },
        path: spec.interpreter.clone(),
        real_path,
        version: spec.python_version.clone(),
        implementation: Some("cpython".into()),
        arch,
        root: Some(spec.root.clone()),
        url: Some(spec.url.clone()),
        sha256: Some(spec.sha256.clone()),
        found_by: Vec::new(),
        managed: true,
        owner: Some(owner.to_path_buf()),
        spec_hash: None,
        created_at: old
            .as_ref()
            .filter(|o| o.root.as_ref() == Some(&spec.root))
            .map_or(now, |o| o.created_at),
        last_applied_at: Some(now),
        status: Status::Ready,
        warnings: Vec::new(),
        errors: Vec::new(),
    });
}
