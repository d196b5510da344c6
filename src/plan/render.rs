//! Rendering a plan: Terraform-style text, and JSON (`format_version` 2).
//! The text is an interface (people read it in review), so tests snapshot it.

use std::fmt::Write as _;

use serde_json::json;

use super::{
    Change, EnvAction, HomeAction, PackageChanges, Reason, RuntimeAction, Summary, summarize,
};

/// The JSON plan's format version: 2 added renames, moves and typed
/// actions per resource.
pub const PLAN_JSON_VERSION: u32 = 2;

/// The human plan, ending with the `Plan:` line or `No changes.`.
pub fn human(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "No changes. The machine matches the manifest.\n".to_string();
    }
    let mut out = String::from("beep-python will perform the following actions:\n\n");
    for c in changes {
        let _ = write!(out, "  {} {}", c.action().symbol(), c.address());
        if let Change::Environment(e) = c
            && let Some(from) = e.action.renamed_from()
        {
            let _ = write!(out, " (renamed from env.{from})");
        }
        out.push('\n');
        // `destroy` names itself, as Terraform's does: "destroy: requested".
        let verb = if c.reasons().contains(&Reason::DestroyRequested) {
            "destroy"
        } else {
            c.action().as_str()
        };
        let _ = writeln!(out, "      {verb}: {}", c.reason_text());
        match c {
            Change::Runtime(r) => runtime_lines(&mut out, &r.action),
            Change::Environment(e) => env_lines(&mut out, &e.action),
            Change::Home(h) => home_lines(&mut out, &h.action),
        }
        out.push('\n');
    }
    out.push_str(&summary_line(&summarize(changes)));
    out
}

/// `Plan: 1 to add, 2 to change, 0 to destroy.` (renames and moves only
/// when there are some).
pub fn summary_line(s: &Summary) -> String {
    let mut line = format!(
        "Plan: {} to add, {} to change, {} to destroy",
        s.add, s.change, s.destroy
    );
    if s.rename > 0 {
        let _ = write!(line, ", {} to rename", s.rename);
    }
    if s.moves > 0 {
        let _ = write!(line, ", {} to move", s.moves);
    }
    line.push_str(".\n");
    line
}

fn runtime_lines(out: &mut String, action: &RuntimeAction) {
    match action {
        RuntimeAction::Create { spec }
        | RuntimeAction::Replace { spec, .. }
        | RuntimeAction::Adopt { spec } => {
            let _ = writeln!(
                out,
                "      python: cpython {} ({}, {}), path: {}",
                spec.python_version,
                spec.source.as_str(),
                spec.platform,
                spec.root.display()
            );
            let _ = writeln!(out, "      url: {}", spec.url);
            let _ = writeln!(out, "      sha256: {}", spec.sha256);
            if let RuntimeAction::Replace {
                retire: Some(old), ..
            } = action
            {
                let _ = writeln!(out, "      removes: {}", old.display());
            }
        }
        RuntimeAction::Delete { root } => {
            let _ = writeln!(out, "      path: {}", root.display());
        }
        RuntimeAction::Forget { root } => {
            let _ = writeln!(out, "      path: {} (kept)", root.display());
        }
    }
}

fn env_lines(out: &mut String, action: &EnvAction) {
    match action {
        EnvAction::Delete { path } => {
            let _ = writeln!(out, "      path: {}", path.display());
        }
        EnvAction::Create { spec } | EnvAction::Replace { spec, .. } => {
            python_line(out, spec);
            if let Some(conda) = &spec.conda {
                conda_lines(out, conda);
            }
            for add in &spec.packages {
                if spec.locked.is_none() {
                    let _ = writeln!(out, "      + {add}");
                }
            }
            if let Some(locked) = &spec.locked {
                for p in locked {
                    let _ = writeln!(out, "      + {} {}", p.name, p.version);
                }
            }
        }
        EnvAction::Move { spec, from, .. } => {
            python_line(out, spec);
            let _ = writeln!(out, "      removes: {}", from.display());
        }
        EnvAction::Update { packages, .. } => package_lines(out, packages),
        EnvAction::Rename { spec, .. } | EnvAction::Adopt { spec } => {
            let _ = writeln!(out, "      path: {}", spec.path.display());
        }
        EnvAction::Repoint { spec, from } => {
            let _ = writeln!(
                out,
                "      repoint: {} -> {}",
                from.display(),
                spec.interpreter.display()
            );
            python_line(out, spec);
        }
    }
}

fn home_lines(out: &mut String, action: &HomeAction) {
    match action {
        HomeAction::Sweep { path }
        | HomeAction::PruneEnvironment { path, .. }
        | HomeAction::PruneRuntime { path, .. } => {
            let _ = writeln!(out, "      path: {}", path.display());
        }
        HomeAction::ReplaceDefault { from, to } => {
            let _ = writeln!(out, "      default: {from} -> {to}");
        }
        HomeAction::RestoreRegistry { from } => {
            let _ = writeln!(out, "      from: {}", from.display());
        }
    }
}

/// What a new conda environment holds: each package, or (not solved yet)
/// each spec.
fn conda_lines(out: &mut String, conda: &crate::desired::CondaSpec) {
    match &conda.packages {
        Some(packages) => {
            for p in packages {
                let _ = writeln!(out, "      + {}", conda_package(p));
            }
        }
        None => {
            for spec in &conda.specs {
                let _ = writeln!(out, "      + {spec}");
            }
        }
    }
}

/// `numpy 1.26.4 (py311h1_0)`.
fn conda_package(p: &crate::conda::LockedCondaPackage) -> String {
    format!("{} {} ({})", p.name, p.version, p.build)
}

fn python_line(out: &mut String, spec: &super::EnvSpec) {
    if spec.conda.is_some() {
        let version = if spec.python_version.is_empty() {
            "(solved at apply)"
        } else {
            spec.python_version.as_str()
        };
        let _ = writeln!(
            out,
            "      python: conda {}, path: {}",
            version,
            spec.path.display()
        );
        return;
    }
    let _ = writeln!(
        out,
        "      python: {} {} ({}), path: {}",
        spec.implementation,
        spec.python_version,
        spec.runtime,
        spec.path.display()
    );
}

fn package_lines(out: &mut String, packages: &PackageChanges) {
    for change in &packages.conda {
        let _ = match change {
            crate::conda::PackageChange::Add { package } => {
                writeln!(out, "      + {}", conda_package(package))
            }
            crate::conda::PackageChange::Change { from, to } => writeln!(
                out,
                "      ~ {} {} ({}) -> {} ({})",
                to.name, from.version, from.build, to.version, to.build
            ),
            crate::conda::PackageChange::Remove { package } => {
                writeln!(out, "      - {}", conda_package(package))
            }
        };
    }
    for add in &packages.add {
        let _ = writeln!(out, "      + {add}");
    }
    for change in &packages.change {
        let _ = writeln!(
            out,
            "      ~ {} {} -> {}",
            change.name, change.installed, change.required
        );
    }
    for remove in &packages.remove {
        let _ = writeln!(out, "      - {remove}");
    }
    for again in &packages.reinstall {
        let _ = writeln!(out, "      ~ {again} (reinstall)");
    }
}

/// One change as JSON.
pub fn change_json(c: &Change) -> serde_json::Value {
    let mut value = json!({
        "address": c.address(),
        "resource": match c {
            Change::Environment(_) => "env",
            Change::Runtime(_) => "runtime",
            Change::Home(_) => "home",
        },
        "action": c.action().as_str(),
        "reason": c.reason_text(),
        "reasons": c.reasons(),
        "path": c.path(),
    });
    match c {
        Change::Environment(e) => {
            if let Some(from) = e.action.renamed_from() {
                value["previous_address"] = json!(format!("env.{from}"));
            }
            if let EnvAction::Move { from, .. } = &e.action {
                value["previous_path"] = json!(from);
            }
            if let EnvAction::Repoint { from, .. } = &e.action {
                value["previous_interpreter"] = json!(from);
            }
            // A build installs everything it asks for.
            let built;
            let packages = match &e.action {
                EnvAction::Update { packages, .. } => packages,
                EnvAction::Create { spec }
                | EnvAction::Replace { spec, .. }
                | EnvAction::Move { spec, .. } => {
                    built = PackageChanges {
                        conda: spec
                            .conda
                            .as_ref()
                            .and_then(|c| c.packages.as_ref())
                            .map(|packages| {
                                packages
                                    .iter()
                                    .map(|p| crate::conda::PackageChange::Add {
                                        package: p.clone(),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        add: match &spec.locked {
                            Some(locked) => locked
                                .iter()
                                .map(|p| format!("{} {}", p.name, p.version))
                                .collect(),
                            None => spec.packages.clone(),
                        },
                        ..PackageChanges::default()
                    };
                    &built
                }
                EnvAction::Rename { .. }
                | EnvAction::Adopt { .. }
                | EnvAction::Delete { .. }
                | EnvAction::Repoint { .. } => {
                    built = PackageChanges::default();
                    &built
                }
            };
            value["packages"] = json!({
                "add": packages.add,
                "change": packages.change,
                "remove": packages.remove,
                "reinstall": packages.reinstall,
            });
            if !packages.conda.is_empty() {
                value["packages"]["conda"] = json!(packages.conda);
            }
            if let Some(spec) = e.action.spec() {
                value["python"] = json!({
                    "implementation": spec.implementation,
                    "version": spec.python_version,
                    "runtime": spec.runtime,
                    "interpreter": spec.interpreter,
                });
            }
        }
        Change::Runtime(r) => {
            if let Some(spec) = r.action.spec() {
                value["runtime"] = json!({
                    "source": spec.source,
                    "version": spec.python_version,
                    "platform": spec.platform,
                    "url": spec.url,
                    "sha256": spec.sha256,
                    "path": spec.root,
                    "removes": match &r.action {
                        RuntimeAction::Replace { retire, .. } => retire.clone(),
                        _ => None,
                    },
                });
            }
        }
        Change::Home(h) => {
            value["home"] = serde_json::to_value(&h.action).unwrap_or_default();
        }
    }
    value
}

/// The JSON plan (`--format json`); no-ops are omitted.
pub fn json(changes: &[Change]) -> serde_json::Value {
    json!({
        "format_version": PLAN_JSON_VERSION,
        "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
        "summary": summarize(changes),
    })
}
