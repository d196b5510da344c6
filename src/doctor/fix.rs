//! From findings to the normal plan: `doctor --fix` hands the result to
//! the same executor and transaction as `apply`.
//!
//! Each fixable finding carries a [`Remedy`]; they merge per resource:
//!
//! - the plan's own change is the base (its reasons name what `plan`
//!   says), and what doctor found is added to its reasons;
//! - damaged or inconsistent packages make an in-place update (a restore
//!   point first, see [`crate::exec`]) that installs those packages again
//!   or adds what is missing, unless the plan already rebuilds; the plan's
//!   own reinstalls (of the damage its observation sees) and doctor's merge
//!   by package name;
//! - what cannot be mended in place (no `pyvenv.cfg`, dangling links, a
//!   base interpreter of another minor version) is rebuilt;
//! - a re-point replaces the plan's rebuild only when that rebuild is for
//!   the vanished base interpreter alone and onto the very interpreter the
//!   re-point targets; anything more (another runtime, damage) rebuilds;
//! - home upkeep comes first, in the order the commit needs (restore the
//!   registry, replace the default, then prune, then sweep), and the
//!   managed runtimes an environment change needs come with it.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Finding, ManifestState, Remedy};
use crate::desired::EnvSpec;
use crate::plan::{
    Change, EnvAction, EnvChange, HomeAction, HomeChange, PackageChanges, Reason, RuntimeAction,
    RuntimeChange,
};

/// What `--fix` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixPlan {
    /// The changes, for the executor.
    pub changes: Vec<Change>,
    /// An interrupted apply or stuck entries: taking the home lock deals
    /// with them (as `recover`), before the plan.
    pub recover: bool,
}

impl FixPlan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && !self.recover
    }
}

/// The plan that repairs every fixable finding of `findings`.
pub fn plan(findings: &[Finding], manifest: Option<&ManifestState>) -> FixPlan {
    let mut out = FixPlan::default();
    let mut resources: BTreeMap<String, Change> = BTreeMap::new();
    let mut home: Vec<HomeChange> = Vec::new();
    for remedy in findings
        .iter()
        .filter(|f| f.fixable)
        .filter_map(|f| f.remedy.as_ref())
    {
        match remedy {
            Remedy::Recover => out.recover = true,
            Remedy::Home(change) => {
                if !home.contains(change) {
                    home.push(change.clone());
                }
            }
            Remedy::Plan { address } => {
                if let Some(change) = manifest.and_then(|m| m.change(address)) {
                    merge_plan(&mut resources, change.clone());
                }
            }
            Remedy::Update {
                env,
                reason,
                packages,
            } => {
                if let Some(m) = manifest {
                    update(&mut resources, m, env, reason, packages);
                }
            }
            Remedy::Rebuild { env, reason } => {
                if let Some(m) = manifest {
                    rebuild(&mut resources, m, env, reason);
                }
            }
            Remedy::Repoint { env, from, to } => {
                if let Some(m) = manifest {
                    repoint(&mut resources, m, env, from, to);
                }
            }
            Remedy::Reinstall { runtime, reason } => {
                if let Some(m) = manifest {
                    reinstall(&mut resources, m, runtime, reason);
                }
            }
        }
    }
    if let Some(m) = manifest {
        with_runtimes(&mut resources, m);
    }
    home.sort_by_key(|h| match h.action {
        HomeAction::RestoreRegistry { .. } => 0,
        HomeAction::ReplaceDefault { .. } => 1,
        HomeAction::PruneRuntime { .. } => 2,
        HomeAction::PruneEnvironment { .. } => 3,
        HomeAction::Sweep { .. } => 4,
    });
    out.changes = home.into_iter().map(Change::Home).collect();
    out.changes.extend(resources.into_values());
    out
}

fn push_reason(reasons: &mut Vec<Reason>, reason: &Reason) {
    if !reasons.contains(reason) {
        reasons.push(reason.clone());
    }
}

/// The plan's rebuild is for the vanished base alone, onto `to`.
fn repointable(change: &Change, to: &Path) -> bool {
    match change {
        Change::Environment(EnvChange {
            action:
                EnvAction::Replace {
                    spec,
                    renamed_from: None,
                },
            reasons,
            ..
        }) => {
            spec.interpreter == to
                && !reasons.is_empty()
                && reasons
                    .iter()
                    .all(|r| matches!(r, Reason::BaseInterpreterMissing { .. }))
        }
        _ => false,
    }
}

fn merge_plan(resources: &mut BTreeMap<String, Change>, change: Change) {
    let address = change.address();
    match resources.remove(&address) {
        None => {
            resources.insert(address, change);
        }
        // A re-point stays when the plan only rebuilds for the same reason.
        Some(Change::Environment(EnvChange {
            action: EnvAction::Repoint { spec, from },
            reasons,
            name,
        })) if repointable(&change, &spec.interpreter) => {
            resources.insert(
                address,
                Change::Environment(EnvChange {
                    name,
                    action: EnvAction::Repoint { spec, from },
                    reasons,
                }),
            );
        }
        // Doctor's own update: the plan's change is the base, with
        // doctor's reasons and package lines added.
        Some(Change::Environment(ours)) => {
            let mut merged = change;
            if let Change::Environment(plan) = &mut merged {
                for reason in &ours.reasons {
                    push_reason(&mut plan.reasons, reason);
                }
                if let (
                    EnvAction::Update { packages, .. },
                    EnvAction::Update {
                        packages: extra, ..
                    },
                ) = (&mut plan.action, &ours.action)
                {
                    merge_packages(packages, extra);
                }
            }
            resources.insert(address, merged);
        }
        Some(Change::Runtime(_) | Change::Home(_)) => {
            resources.insert(address, change);
        }
    }
}

fn merge_packages(into: &mut PackageChanges, from: &PackageChanges) {
    for add in &from.add {
        if !into.add.contains(add) {
            into.add.push(add.clone());
        }
    }
    for change in &from.change {
        if !into.change.iter().any(|c| c.name == change.name) {
            into.change.push(change.clone());
        }
    }
    for remove in &from.remove {
        if !into.remove.contains(remove) {
            into.remove.push(remove.clone());
        }
    }
    // Installed again once, and only if it is not added, changed or
    // removed anyway (as `plan::diff` decides for the damage it sees).
    let mut taken: Vec<String> = into
        .add
        .iter()
        .chain(&into.remove)
        .map(|l| requirement_name(l))
        .chain(into.change.iter().map(|c| requirement_name(&c.name)))
        .collect();
    let reinstall = std::mem::take(&mut into.reinstall);
    for line in reinstall.into_iter().chain(from.reinstall.iter().cloned()) {
        let name = requirement_name(&line);
        if !taken.contains(&name) {
            taken.push(name);
            into.reinstall.push(line);
        }
    }
}

/// The normalized name a package line or requirement starts with
/// (`Foo_Bar>=1; python_version < "4"` -> `foo-bar`).
fn requirement_name(line: &str) -> String {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    crate::venv::normalize_name(&line[..end])
}

/// The change doctor builds on for environment `env` of the manifest at
/// hand, taken out of `resources`: the one doctor already made, else the
/// plan's own, else a fresh one doing `fresh`. `None` when the manifest
/// does not declare it (another manifest's environment is not ours to
/// change). Returns its address too.
fn env_change(
    resources: &mut BTreeMap<String, Change>,
    manifest: &ManifestState,
    env: &str,
    fresh: impl FnOnce(&EnvSpec) -> EnvAction,
) -> Option<(String, EnvChange)> {
    let spec = manifest.spec(env)?;
    let address = format!("env.{env}");
    let base = resources
        .remove(&address)
        .or_else(|| manifest.change(&address).cloned());
    let change = match base {
        Some(Change::Environment(c)) => c,
        // `env.NAME` is never another kind's address.
        None | Some(Change::Runtime(_) | Change::Home(_)) => EnvChange {
            name: env.to_string(),
            action: fresh(spec),
            reasons: Vec::new(),
        },
    };
    Some((address, change))
}

fn update(
    resources: &mut BTreeMap<String, Change>,
    manifest: &ManifestState,
    env: &str,
    reason: &Reason,
    packages: &PackageChanges,
) {
    let Some((address, mut change)) =
        env_change(resources, manifest, env, |spec| EnvAction::Update {
            spec: spec.clone(),
            packages: PackageChanges::default(),
            renamed_from: None,
        })
    else {
        return;
    };
    change.action = match change.action {
        EnvAction::Update {
            spec,
            packages: mut lines,
            renamed_from,
        } => {
            merge_packages(&mut lines, packages);
            EnvAction::Update {
                spec,
                packages: lines,
                renamed_from,
            }
        }
        // A rebuild installs everything anyway.
        keep @ (EnvAction::Create { .. }
        | EnvAction::Replace { .. }
        | EnvAction::Move { .. }
        | EnvAction::Delete { .. }) => keep,
        // Damage beats a re-point: rebuild on the new interpreter.
        EnvAction::Repoint { spec, .. } => EnvAction::Replace {
            spec,
            renamed_from: None,
        },
        EnvAction::Rename { spec, from } => EnvAction::Update {
            spec,
            packages: packages.clone(),
            renamed_from: Some(from),
        },
        EnvAction::Adopt { spec } => EnvAction::Update {
            spec,
            packages: packages.clone(),
            renamed_from: None,
        },
    };
    push_reason(&mut change.reasons, reason);
    resources.insert(address, Change::Environment(change));
}

/// A rebuild: the plan's (or doctor's) change for it is kept when it
/// builds anyway; anything else becomes a rebuild with its reasons.
fn rebuild(
    resources: &mut BTreeMap<String, Change>,
    manifest: &ManifestState,
    env: &str,
    reason: &Reason,
) {
    let Some((address, mut change)) =
        env_change(resources, manifest, env, |spec| EnvAction::Replace {
            spec: spec.clone(),
            renamed_from: None,
        })
    else {
        return;
    };
    change.action = match change.action {
        keep @ (EnvAction::Create { .. }
        | EnvAction::Replace { .. }
        | EnvAction::Move { .. }
        | EnvAction::Delete { .. }) => keep,
        EnvAction::Update {
            spec, renamed_from, ..
        } => EnvAction::Replace { spec, renamed_from },
        EnvAction::Rename { spec, from } => EnvAction::Replace {
            spec,
            renamed_from: Some(from),
        },
        EnvAction::Repoint { spec, .. } | EnvAction::Adopt { spec } => EnvAction::Replace {
            spec,
            renamed_from: None,
        },
    };
    push_reason(&mut change.reasons, reason);
    resources.insert(address, Change::Environment(change));
}

fn repoint(
    resources: &mut BTreeMap<String, Change>,
    manifest: &ManifestState,
    env: &str,
    from: &Path,
    to: &Path,
) {
    let Some(spec) = manifest.spec(env) else {
        return;
    };
    if spec.interpreter != to {
        return;
    }
    let address = format!("env.{env}");
    let repointed = Change::Environment(EnvChange {
        name: env.to_string(),
        action: EnvAction::Repoint {
            spec: spec.clone(),
            from: from.to_path_buf(),
        },
        reasons: vec![Reason::InterpreterMoved {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        }],
    });
    match resources.get(&address) {
        None => match manifest.change(&address) {
            Some(plan) if !repointable(plan, to) => {
                resources.insert(address, plan.clone());
            }
            _ => {
                resources.insert(address, repointed);
            }
        },
        Some(existing) if repointable(existing, to) => {
            resources.insert(address, repointed);
        }
        Some(_) => {}
    }
}

fn reinstall(
    resources: &mut BTreeMap<String, Change>,
    manifest: &ManifestState,
    runtime: &str,
    reason: &Reason,
) {
    let address = format!("runtime.{runtime}");
    if resources.contains_key(&address) {
        return;
    }
    if let Some(plan) = manifest.change(&address) {
        resources.insert(address, plan.clone());
        return;
    }
    let Some(spec) = manifest
        .desired()
        .and_then(|d| d.runtimes.iter().find(|r| r.name == runtime))
    else {
        return;
    };
    resources.insert(
        address,
        Change::Runtime(RuntimeChange {
            name: runtime.to_string(),
            action: RuntimeAction::Replace {
                spec: spec.clone(),
                in_place: true,
                retire: None,
            },
            reasons: vec![reason.clone()],
        }),
    );
}

/// The plan's runtime changes that the environment changes build on.
fn with_runtimes(resources: &mut BTreeMap<String, Change>, manifest: &ManifestState) {
    let interpreters: Vec<std::path::PathBuf> = resources
        .values()
        .filter_map(|c| match c {
            Change::Environment(e)
                if e.action.builds() || matches!(e.action, EnvAction::Repoint { .. }) =>
            {
                e.action.spec().map(|s| s.interpreter.clone())
            }
            _ => None,
        })
        .collect();
    for change in manifest.changes() {
        if let Change::Runtime(r) = change
            && let Some(spec) = r.action.spec()
            && interpreters.contains(&spec.interpreter)
        {
            resources
                .entry(change.address())
                .or_insert_with(|| change.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_added_changed_or_removed_anyway_is_not_also_reinstalled() {
        let mut into = PackageChanges {
            add: vec!["Pkg_00>=1; python_version >= '3'".into()],
            reinstall: vec!["gamma 3.1.0".into()],
            ..PackageChanges::default()
        };
        let from = PackageChanges {
            reinstall: vec![
                "pkg-00 1.0.0".into(),
                "gamma 3.1.0".into(),
                "alpha 2.0.0".into(),
            ],
            remove: vec!["click 8.1.7".into()],
            ..PackageChanges::default()
        };
        merge_packages(&mut into, &from);
        assert_eq!(into.reinstall, ["gamma 3.1.0", "alpha 2.0.0"]);
        assert_eq!(into.remove, ["click 8.1.7"]);
        let mut again = into.clone();
        merge_packages(
            &mut again,
            &PackageChanges {
                reinstall: vec!["click 8.1.7".into()],
                ..PackageChanges::default()
            },
        );
        assert_eq!(
            again.reinstall,
            ["gamma 3.1.0", "alpha 2.0.0"],
            "removed anyway"
        );
        assert_eq!(requirement_name("Foo_Bar>=1; x"), "foo-bar");
    }
}
