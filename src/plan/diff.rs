//! The pure diff: desired, recorded and observed state in, [`Change`]s out.
//!
//! Per environment, in order:
//!
//! 1. *Which record is it?* Its own (this manifest, same name), or the
//!    record it is renamed from: named in `[moved]`, or detected because a
//!    record of this manifest that is no longer declared lives in the very
//!    same folder (Terraform's `moved`, detected where it can be).
//! 2. *Where?* A record at another path makes it a move (built at the new
//!    path, the old folder removed), unless the old folder is no longer
//!    ours, in which case it is simply created.
//! 3. *Is the folder ours and healthy?* Ownership by the marker; health by
//!    the one classifier, [`super::health`].
//! 4. *What differs?* Replace reasons (runtime, Python, health, taint,
//!    `--replace`), then update reasons, each field of what it was built
//!    from ([`crate::registry::model::BuiltFrom`]) against the desired
//!    state, and the package lines.
//!
//! Then the records of this manifest that nothing claims are deleted, and
//! the managed runtimes are provisioned, replaced or retired.
//!
//! Nesting is checked against every environment the registry records,
//! whatever manifest owns it, both ways, in `O(n log n)`: an environment
//! inside another would be deleted with it on the next rebuild.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use super::health::{self, Health};
use super::{
    Change, EnvAction, EnvChange, PackageChange, PackageChanges, Problem, Reason, RuntimeAction,
    RuntimeChange,
};
use crate::desired::{Desired, EnvSpec};
use crate::lockfile::{self, LockedPackage};
use crate::observe::Observation;
use crate::registry::Registry;
use crate::registry::model::{BuiltFrom, EnvironmentRecord, RuntimeRecord, Status};
use crate::venv::{Distribution, Observed, normalize_name};

/// Whether the plan makes the machine match the manifest, or removes what
/// it manages (`destroy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Destroy,
}

/// What [`diff`] compares.
pub struct Inputs<'a> {
    /// The canonical path of the manifest: the owner of what it creates.
    pub owner: &'a Path,
    pub desired: &'a Desired,
    pub registry: &'a Registry,
    pub observed: &'a Observation,
    /// `--target` addresses; empty means everything.
    pub targets: &'a [String],
    /// `--replace` addresses: rebuilt even when nothing differs.
    pub replace: &'a [String],
    pub mode: Mode,
}

/// The pure diff. Returns the changes in address order, or every problem.
pub fn diff(inputs: &Inputs<'_>) -> Result<Vec<Change>, Vec<Problem>> {
    let mut problems = Vec::new();
    check_addresses(inputs, &mut problems);

    let mine: BTreeMap<&str, &EnvironmentRecord> = inputs
        .registry
        .environments
        .iter()
        .filter(|r| r.owner.as_deref() == Some(inputs.owner) && r.managed)
        .map(|r| (r.name.as_str(), r))
        .collect();
    let desired_names: BTreeSet<&str> = inputs
        .desired
        .environments
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    let renames = renames(inputs, &mine, &desired_names);
    let by_path = RecordsByPath::new(inputs.registry);

    let mut changes = Vec::new();
    for spec in &inputs.desired.environments {
        let renamed = renames.get(spec.name.as_str()).copied();
        let wanted = wanted(inputs, &format!("env.{}", spec.name), Some(&spec.runtime))
            || renamed.is_some_and(|r| wanted(inputs, &format!("env.{}", r.name), None));
        if !wanted {
            continue;
        }
        let record = mine.get(spec.name.as_str()).copied().or(renamed);
        if let Err(problem) = by_path.check_nesting(spec, record, inputs.owner) {
            problems.push(problem);
            continue;
        }
        match env_change(inputs, spec, record, renamed.map(|r| r.name.as_str())) {
            Ok(Some(change)) => changes.push(Change::Environment(change)),
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }

    let renamed_away: BTreeSet<&str> = renames.values().map(|r| r.name.as_str()).collect();
    for record in mine.values() {
        if desired_names.contains(record.name.as_str())
            || renamed_away.contains(record.name.as_str())
            || !wanted(inputs, &format!("env.{}", record.name), None)
        {
            continue;
        }
        let observed = inputs.observed.environment(&record.path);
        let ours = observed
            .marker
            .as_ref()
            .is_some_and(|m| m.owner == inputs.owner);
        let mut reasons = vec![match inputs.mode {
            Mode::Apply => Reason::NoLongerDeclared,
            Mode::Destroy => Reason::DestroyRequested,
        }];
        if observed.exists && !ours {
            // Its folder now holds something else: only the record goes.
            reasons.push(Reason::Broken {
                what: "its folder no longer carries this manifest's marker; it is left as it is"
                    .into(),
            });
        }
        changes.push(Change::Environment(EnvChange {
            name: record.name.clone(),
            action: EnvAction::Delete {
                path: record.path.clone(),
            },
            reasons,
        }));
    }

    runtime_changes(inputs, &mut changes, &mut problems);

    if !problems.is_empty() {
        return Err(problems);
    }
    changes.sort_by_key(Change::address);
    Ok(changes)
}

/// Every `--target` and `--replace` address must name a resource.
fn check_addresses(inputs: &Inputs<'_>, problems: &mut Vec<Problem>) {
    let mut addresses: BTreeSet<String> = BTreeSet::new();
    for d in &inputs.desired.environments {
        addresses.insert(format!("env.{}", d.name));
        // A conda environment may name no runtime.
        if !d.runtime.is_empty() {
            addresses.insert(format!("runtime.{}", d.runtime));
        }
    }
    for r in &inputs.desired.runtimes {
        addresses.insert(format!("runtime.{}", r.name));
    }
    for r in &inputs.registry.environments {
        if r.owner.as_deref() == Some(inputs.owner) {
            addresses.insert(format!("env.{}", r.name));
        }
    }
    for r in &inputs.registry.runtimes {
        addresses.insert(format!("runtime.{}", r.name));
    }
    for target in inputs.targets.iter().chain(inputs.replace) {
        if !addresses.contains(target) {
            problems.push(Problem::UnknownTarget {
                address: target.clone(),
                help: crate::diagnostic::suggestion(target, addresses.iter().map(String::as_str))
                    .or_else(|| Some("addresses are `env.NAME` and `runtime.NAME`".into())),
            });
        }
    }
}

/// Whether `--target` selects `address` (or, for an environment, its
/// runtime).
fn wanted(inputs: &Inputs<'_>, address: &str, runtime: Option<&str>) -> bool {
    inputs.targets.is_empty()
        || inputs
            .targets
            .iter()
            .any(|t| t == address || runtime.is_some_and(|r| t.strip_prefix("runtime.") == Some(r)))
}

/// New name -> the record it is renamed from.
fn renames<'r>(
    inputs: &Inputs<'_>,
    mine: &BTreeMap<&str, &'r EnvironmentRecord>,
    desired: &BTreeSet<&str>,
) -> BTreeMap<String, &'r EnvironmentRecord> {
    let mut out: BTreeMap<String, &EnvironmentRecord> = BTreeMap::new();
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    for (old, new) in &inputs.desired.moved {
        let (Some(record), false) = (mine.get(old.as_str()), mine.contains_key(new.as_str()))
        else {
            continue;
        };
        if desired.contains(new.as_str()) {
            out.insert(new.clone(), record);
            taken.insert(record.name.as_str());
        }
    }
    // Detected: a record nothing declares any more, in the very folder of
    // an environment that has no record.
    let orphans: BTreeMap<&Path, &EnvironmentRecord> = mine
        .values()
        .filter(|r| !desired.contains(r.name.as_str()) && !taken.contains(r.name.as_str()))
        .map(|r| (r.path.as_path(), *r))
        .collect();
    for spec in &inputs.desired.environments {
        if mine.contains_key(spec.name.as_str()) || out.contains_key(&spec.name) {
            continue;
        }
        if let Some(record) = orphans.get(spec.path.as_path())
            && !taken.contains(record.name.as_str())
        {
            taken.insert(record.name.as_str());
            out.insert(spec.name.clone(), record);
        }
    }
    out
}

/// Every recorded environment by its path, for nesting checks in
/// `O(log n)` each.
struct RecordsByPath<'a> {
    by_path: BTreeMap<&'a Path, &'a EnvironmentRecord>,
}

impl<'a> RecordsByPath<'a> {
    fn new(registry: &'a Registry) -> Self {
        Self {
            by_path: registry
                .environments
                .iter()
                .map(|r| (r.path.as_path(), r))
                .collect(),
        }
    }

    /// An environment at `spec.path` may not be inside, contain or share
    /// the folder of another recorded environment (`record` is its own).
    fn check_nesting(
        &self,
        spec: &EnvSpec,
        record: Option<&EnvironmentRecord>,
        owner: &Path,
    ) -> Result<(), Problem> {
        let is_self = |other: &EnvironmentRecord| record.is_some_and(|r| std::ptr::eq(r, other));
        let nested = |other: &EnvironmentRecord, relation: &'static str| Problem::Nested {
            name: spec.name.clone(),
            path: spec.path.clone(),
            relation,
            other: other.name.clone(),
            other_path: other.path.clone(),
            owner: other.owner.clone().unwrap_or_default(),
        };
        if let Some(other) = self.by_path.get(spec.path.as_path())
            && !is_self(other)
            && other.owner.as_deref() != Some(owner)
        {
            return Err(Problem::ForeignOwner {
                name: spec.name.clone(),
                path: spec.path.clone(),
                owner: other.owner.clone().unwrap_or_default(),
            });
        }
        for ancestor in spec.path.ancestors().skip(1) {
            if let Some(other) = self.by_path.get(ancestor)
                && !is_self(other)
            {
                return Err(nested(other, "is inside"));
            }
        }
        for (path, other) in self.by_path.range::<Path, _>((
            std::ops::Bound::Excluded(spec.path.as_path()),
            std::ops::Bound::Unbounded,
        )) {
            if !path.starts_with(&spec.path) {
                break;
            }
            if !is_self(other) {
                return Err(nested(other, "contains"));
            }
        }
        Ok(())
    }
}

/// One environment's change, if any.
fn env_change(
    inputs: &Inputs<'_>,
    spec: &EnvSpec,
    record: Option<&EnvironmentRecord>,
    renamed_from: Option<&str>,
) -> Result<Option<EnvChange>, Problem> {
    let owner = inputs.owner;
    let observed = inputs.observed.environment(&spec.path);
    let change = |action, reasons| {
        Ok(Some(EnvChange {
            name: spec.name.clone(),
            action,
            reasons,
        }))
    };
    let mut reasons: Vec<Reason> = renamed_from
        .map(|from| Reason::Renamed {
            from: from.to_string(),
        })
        .into_iter()
        .collect();

    // A new path: built there, and the old folder removed if it is ours.
    if let Some(record) = record
        && record.path != spec.path
    {
        reasons.push(Reason::PathChanged {
            from: record.path.clone(),
            to: spec.path.clone(),
        });
        if observed.exists {
            return Err(match &observed.marker {
                Some(m) if m.owner == owner => Problem::PathOccupied {
                    name: spec.name.clone(),
                    path: spec.path.clone(),
                },
                Some(m) => Problem::ForeignOwner {
                    name: spec.name.clone(),
                    path: spec.path.clone(),
                    owner: m.owner.clone(),
                },
                None => Problem::PathOccupied {
                    name: spec.name.clone(),
                    path: spec.path.clone(),
                },
            });
        }
        let old = inputs.observed.environment(&record.path);
        let old_is_ours = old.marker.as_ref().is_some_and(|m| m.owner == owner);
        if old_is_ours {
            return change(
                EnvAction::Move {
                    spec: spec.clone(),
                    from: record.path.clone(),
                    renamed_from: renamed_from.map(str::to_string),
                },
                reasons,
            );
        }
        return change(EnvAction::Create { spec: spec.clone() }, reasons);
    }

    if !observed.exists {
        reasons.push(if record.is_some() {
            Reason::PathMissing
        } else {
            Reason::NotInRegistry
        });
        return change(EnvAction::Create { spec: spec.clone() }, reasons);
    }
    // It exists: it must be ours before anything else is said about it.
    // (An empty folder is observed as absent: taking it over loses nothing.)
    let marker = match &observed.marker {
        None => {
            return Err(Problem::PathOccupied {
                name: spec.name.clone(),
                path: spec.path.clone(),
            });
        }
        Some(marker) if marker.owner != owner => {
            return Err(Problem::ForeignOwner {
                name: spec.name.clone(),
                path: spec.path.clone(),
                owner: marker.owner.clone(),
            });
        }
        Some(marker) => marker,
    };
    let built = marker
        .built
        .as_ref()
        .or_else(|| record.and_then(|r| r.built.as_ref()));

    let replace = replace_reasons(inputs, spec, record, built, observed);
    if !replace.is_empty() {
        reasons.extend(replace);
        return change(
            EnvAction::Replace {
                spec: spec.clone(),
                renamed_from: renamed_from.map(str::to_string),
            },
            reasons,
        );
    }

    let damage = inputs.observed.damage(&spec.path);
    let (packages, update) = match &spec.conda {
        Some(conda) => conda_update_reasons(spec, conda, built, observed, damage),
        None => update_reasons(spec, built, observed, damage),
    };
    if !update.is_empty() {
        reasons.extend(update);
        return change(
            EnvAction::Update {
                spec: spec.clone(),
                packages,
                renamed_from: renamed_from.map(str::to_string),
            },
            reasons,
        );
    }
    if let Some(from) = renamed_from {
        return change(
            EnvAction::Rename {
                spec: spec.clone(),
                from: from.to_string(),
            },
            reasons,
        );
    }
    if record.is_none() {
        // Ours on disk (marker) but not recorded, e.g. after the registry
        // was reset: record it again without touching it.
        reasons.push(Reason::NotInRegistry);
        return change(EnvAction::Adopt { spec: spec.clone() }, reasons);
    }
    Ok(None)
}

/// Why the environment must be rebuilt, if it must.
fn replace_reasons(
    inputs: &Inputs<'_>,
    spec: &EnvSpec,
    record: Option<&EnvironmentRecord>,
    built: Option<&BuiltFrom>,
    observed: &Observed,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let observed_kind = if observed.conda.is_some() {
        Some("conda")
    } else if observed.is_venv {
        Some("venv")
    } else {
        None
    };
    let wanted_kind = if spec.conda.is_some() {
        "conda"
    } else {
        "venv"
    };
    if let Some(kind) = observed_kind
        && kind != wanted_kind
    {
        // A venv cannot become a conda environment in place, nor back.
        reasons.push(Reason::KindChanged {
            from: kind.to_string(),
            to: wanted_kind.to_string(),
        });
    } else {
        match health::classify(observed) {
            Health::Broken(reason) => reasons.push(reason),
            Health::Absent | Health::Healthy => {}
        }
    }
    if spec.conda.is_none() {
        venv_runtime_reasons(spec, record, built, observed, &mut reasons);
    }
    if record.is_some_and(|r| r.status == Status::Tainted) {
        reasons.push(Reason::Tainted);
    }
    if inputs
        .replace
        .iter()
        .any(|a| *a == format!("env.{}", spec.name))
    {
        reasons.push(Reason::ReplaceRequested);
    }
    reasons
}

/// A venv's base: its runtime, its Python version, system site packages.
fn venv_runtime_reasons(
    spec: &EnvSpec,
    record: Option<&EnvironmentRecord>,
    built: Option<&BuiltFrom>,
    observed: &Observed,
    reasons: &mut Vec<Reason>,
) {
    let (was_runtime, was_version) = match (built, record) {
        (Some(b), _) => (Some(b.runtime.as_str()), Some(b.python_version.as_str())),
        (None, Some(r)) => (Some(r.runtime.as_str()), Some(r.version.as_str())),
        (None, None) => (None, None),
    };
    let version_changed = observed
        .version
        .as_deref()
        .filter(|_| observed.is_venv)
        .is_some_and(|v| !same_version(v, &spec.python_version));
    if let Some(runtime) = was_runtime
        && (runtime != spec.runtime
            || was_version.is_some_and(|v| !same_version(v, &spec.python_version)))
    {
        reasons.push(Reason::RuntimeChanged {
            from: runtime.to_string(),
            to: spec.runtime.clone(),
            from_version: observed
                .version
                .clone()
                .or_else(|| was_version.map(str::to_string))
                .unwrap_or_default(),
            to_version: spec.python_version.clone(),
        });
    } else if version_changed {
        reasons.push(Reason::PythonChanged {
            from: observed.version.clone().unwrap_or_default(),
            to: spec.python_version.clone(),
        });
    }
    if let Some(b) = built
        && b.system_site_packages != spec.system_site_packages
    {
        reasons.push(Reason::SystemSitePackagesChanged {
            to: spec.system_site_packages,
        });
    }
}

/// The package lines and why the environment changes in place, if it does.
fn update_reasons(
    spec: &EnvSpec,
    built: Option<&BuiltFrom>,
    observed: &Observed,
    damage: &[crate::inventory::PackageDamage],
) -> (PackageChanges, Vec<Reason>) {
    let mut reasons = Vec::new();
    let pip_installed = observed.packages.iter().any(|d| d.name == "pip");
    let pip_required = |names: &BTreeSet<String>| names.contains("pip");
    let (mut packages, drift_reason) = match &spec.locked {
        Some(locked) => {
            let changes = locked_changes(&observed.packages, locked, spec.pip);
            let pins: Vec<String> = locked
                .iter()
                .map(|p| format!("{}=={}", p.name, p.version))
                .collect();
            let reason = match built.and_then(|b| b.pins.as_ref()) {
                Some(was) if same_set(was, &pins) => None,
                Some(_) => Some(Reason::LockPinsChanged),
                None => None,
            };
            (changes, reason)
        }
        None => {
            let mut changes = package_changes(&spec.packages, &observed.packages);
            let required = requirement_names(&spec.packages);
            let reason = match built {
                Some(b) => {
                    // Requirements removed from the manifest: their
                    // distributions go (`- click 8.1.7`).
                    let was = requirement_names(&b.requirements);
                    for name in was.difference(&required) {
                        if name == "pip" && spec.pip {
                            continue;
                        }
                        if let Some(dist) = observed.packages.iter().find(|d| d.name == *name) {
                            changes
                                .remove
                                .push(format!("{} {}", dist.display_name, dist.version));
                        }
                    }
                    (!same_set(&b.requirements, &spec.packages))
                        .then_some(Reason::RequirementsChanged)
                }
                None => None,
            };
            (changes, reason)
        }
    };
    let listed = match &spec.locked {
        Some(locked) => locked.iter().map(|p| normalize_name(&p.name)).collect(),
        None => requirement_names(&spec.packages),
    };
    if spec.pip && !pip_installed && !pip_required(&listed) {
        packages.add.push("pip".into());
        reasons.push(Reason::PipMissing);
    } else if !spec.pip && pip_installed && !pip_required(&listed) && built.is_none_or(|b| b.pip) {
        if let Some(pip) = observed.packages.iter().find(|d| d.name == "pip") {
            packages.remove.push(format!("pip {}", pip.version));
        }
        reasons.push(Reason::PipNotWanted);
    }
    let package_lines = packages.count()
        - usize::from(
            reasons.contains(&Reason::PipMissing) || reasons.contains(&Reason::PipNotWanted),
        );
    if package_lines > 0 {
        reasons.insert(
            0,
            drift_reason.unwrap_or(Reason::PackagesDrifted {
                count: package_lines,
            }),
        );
    }
    // Damaged files: the package goes in again at its version, unless it
    // is changing (or going) anyway.
    for d in damage {
        let touched = |line: &String| {
            line.split_whitespace()
                .next()
                .is_some_and(|n| normalize_name(n) == d.package)
        };
        if packages.add.iter().any(touched)
            || packages.remove.iter().any(touched)
            || packages
                .change
                .iter()
                .any(|c| normalize_name(&c.name) == d.package)
        {
            continue;
        }
        if let Some(dist) = observed.packages.iter().find(|p| p.name == d.package) {
            packages
                .reinstall
                .push(format!("{} {}", dist.display_name, dist.version));
            reasons.push(Reason::FilesDamaged {
                package: d.package.clone(),
                missing: d.missing,
                changed: d.changed,
            });
        }
    }
    settings_reasons(spec, built, &mut reasons);
    (packages, reasons)
}

/// Env vars and the template, against what it was built from.
fn settings_reasons(spec: &EnvSpec, built: Option<&BuiltFrom>, reasons: &mut Vec<Reason>) {
    let Some(b) = built else {
        return;
    };
    for (name, value) in &spec.env {
        match b.env.get(name) {
            None => reasons.push(Reason::EnvVarAdded { name: name.clone() }),
            Some(old) if old != value => reasons.push(Reason::EnvVarChanged { name: name.clone() }),
            Some(_) => {}
        }
    }
    for name in b.env.keys() {
        if !spec.env.contains_key(name) {
            reasons.push(Reason::EnvVarRemoved { name: name.clone() });
        }
    }
    if b.template != spec.template {
        reasons.push(Reason::TemplateChanged {
            from: b.template.clone(),
            to: spec.template.clone(),
        });
    }
}

/// A conda environment's package lines and reasons: its conda packages
/// exactly against the settled set (or, unsettled, the specs nothing
/// installed satisfies), damaged conda packages installed again, then its
/// PyPI packages (satisfied, not synced: the distributions of its conda
/// packages are in the same `site-packages`).
fn conda_update_reasons(
    spec: &EnvSpec,
    conda: &crate::desired::CondaSpec,
    built: Option<&BuiltFrom>,
    observed: &Observed,
    damage: &[crate::inventory::PackageDamage],
) -> (PackageChanges, Vec<Reason>) {
    let mut reasons = Vec::new();
    let installed = observed
        .conda
        .as_ref()
        .map_or(&[][..], |c| c.packages.as_slice());
    let mut packages = PackageChanges::default();
    match &conda.packages {
        Some(target) => packages.conda = crate::conda::diff(installed, target),
        None => packages.add = crate::conda::unsatisfied(&conda.specs, installed),
    }
    let built_conda = built.and_then(|b| b.conda.as_ref());
    let specs_changed = built_conda.is_some_and(|b| !same_set(&b.specs, &conda.specs));
    let channels_changed = built_conda.is_some_and(|b| b.channels != conda.channels);
    if specs_changed {
        reasons.push(Reason::RequirementsChanged);
    }
    if channels_changed {
        reasons.push(Reason::ChannelsChanged);
    }
    let conda_lines = packages.conda.len() + packages.add.len();
    if conda_lines > 0 && !specs_changed && !channels_changed {
        reasons.push(if conda.locked {
            Reason::LockPinsChanged
        } else {
            Reason::PackagesDrifted { count: conda_lines }
        });
    }
    for d in damage {
        if packages.conda.iter().any(|c| c.name() == d.package) {
            continue;
        }
        if let Some(p) = installed.iter().find(|p| p.name == d.package) {
            packages.reinstall.push(format!("{} {}", p.name, p.version));
            reasons.push(Reason::FilesDamaged {
                package: d.package.clone(),
                missing: d.missing,
                changed: d.changed,
            });
        }
    }

    // PyPI packages: each requirement (or pin) satisfied; those no longer
    // required go.
    let requirements: Vec<String> = match &spec.locked {
        Some(locked) => locked
            .iter()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect(),
        None => spec.packages.clone(),
    };
    let pypi = package_changes(&requirements, &observed.packages);
    let pypi_drift = pypi.add.len() + pypi.change.len();
    packages.add.extend(pypi.add);
    packages.change.extend(pypi.change);
    let required = requirement_names(&spec.packages);
    let conda_owned: BTreeSet<String> = installed.iter().map(|p| normalize_name(&p.name)).collect();
    if let Some(b) = built {
        for name in requirement_names(&b.requirements).difference(&required) {
            if conda_owned.contains(name) {
                continue; // a conda package's own distribution stays
            }
            if let Some(dist) = observed.packages.iter().find(|d| d.name == *name) {
                packages
                    .remove
                    .push(format!("{} {}", dist.display_name, dist.version));
            }
        }
    }
    let pypi_changed = built.is_some_and(|b| !same_set(&b.requirements, &spec.packages));
    if pypi_changed {
        if !reasons.contains(&Reason::RequirementsChanged) {
            reasons.push(Reason::RequirementsChanged);
        }
    } else if pypi_drift > 0 {
        reasons.push(Reason::PackagesDrifted { count: pypi_drift });
    }
    settings_reasons(spec, built, &mut reasons);
    (packages, reasons)
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let set =
        |v: &[String]| -> BTreeSet<String> { v.iter().map(|s| s.trim().to_string()).collect() };
    set(a) == set(b)
}

/// The normalized names the requirements name.
fn requirement_names(requirements: &[String]) -> BTreeSet<String> {
    requirements
        .iter()
        .filter_map(|text| {
            pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(text)
                .ok()
                .map(|r| r.name.to_string())
        })
        .collect()
}

/// `3.12.1` equals `3.12.1`; pyvenv.cfg may hold `3.12.1` or `3.12.1.final.0`.
fn same_version(observed: &str, desired: &str) -> bool {
    let release = |v: &str| -> String { v.split('.').take(3).collect::<Vec<_>>().join(".") };
    release(observed) == release(desired)
}

/// Which requirements the installed distributions do not satisfy. Markers
/// are not evaluated here (that needs the interpreter); a requirement with a
/// marker counts as satisfied when it is absent.
pub fn package_changes(requirements: &[String], installed: &[Distribution]) -> PackageChanges {
    let mut out = PackageChanges::default();
    for text in requirements {
        let Ok(req) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(text) else {
            continue;
        };
        let name = req.name.to_string();
        let found = installed.iter().find(|d| d.name == name);
        match (found, &req.version_or_url) {
            (None, _) => {
                if req.marker.is_true() {
                    out.add.push(text.clone());
                }
            }
            (Some(dist), Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers))) => {
                let ok = pep440_rs::Version::from_str(&dist.version)
                    .is_ok_and(|v| specifiers.contains(&v));
                if !ok {
                    out.change.push(PackageChange {
                        name: dist.display_name.clone(),
                        installed: dist.version.clone(),
                        required: text.clone(),
                    });
                }
            }
            (Some(_), _) => {}
        }
    }
    out
}

/// How the installed distributions differ from a lock: `+ rich 13.7.1`,
/// `~ pandas 2.1.4 -> 2.2.2`, `- requests 2.31.0`. pip is left out when the
/// lock does not list it and the environment keeps pip (`keep_pip`).
pub fn locked_changes(
    installed: &[Distribution],
    locked: &[LockedPackage],
    keep_pip: bool,
) -> PackageChanges {
    let lists_pip = locked.iter().any(|p| normalize_name(&p.name) == "pip");
    let installed: Vec<(String, String)> = installed
        .iter()
        .filter(|d| !(d.name == "pip" && keep_pip && !lists_pip))
        .map(|d| (d.name.clone(), d.version.clone()))
        .collect();
    let diff = lockfile::package_diff(&installed, locked);
    PackageChanges {
        add: diff
            .add
            .into_iter()
            .map(|(name, version)| format!("{name} {version}"))
            .collect(),
        change: diff
            .change
            .into_iter()
            .map(|(name, installed, required)| PackageChange {
                name,
                installed,
                required,
            })
            .collect(),
        remove: diff
            .remove
            .into_iter()
            .map(|(name, version)| format!("{name} {version}"))
            .collect(),
        reinstall: Vec::new(),
        conda: Vec::new(),
    }
}

/// Whether `--target` selects the runtime `name`: named itself, or needed
/// by a targeted environment (as Terraform includes a target's dependencies).
fn runtime_wanted(inputs: &Inputs<'_>, name: &str) -> bool {
    let address = format!("runtime.{name}");
    inputs.targets.is_empty()
        || inputs.targets.contains(&address)
        || inputs
            .desired
            .environments
            .iter()
            .any(|d| d.runtime == name && inputs.targets.contains(&format!("env.{}", d.name)))
}

/// The managed runtimes' changes: provision what is missing or holds other
/// bytes, record what is in place but unrecorded, and retire the folders of
/// this manifest's runtimes that nothing uses any more.
fn runtime_changes(inputs: &Inputs<'_>, changes: &mut Vec<Change>, problems: &mut Vec<Problem>) {
    let ours = |r: &&RuntimeRecord| {
        r.managed && r.owner.as_deref() == Some(inputs.owner) && r.root.is_some()
    };
    // Which interpreters environments will use after this apply: this
    // manifest's desired ones, and every other recorded environment's
    // (another manifest's, or one of ours that a target leaves alone).
    let env_changes: BTreeMap<&str, &EnvAction> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Environment(e) => Some((e.name.as_str(), &e.action)),
            Change::Runtime(_) | Change::Home(_) => None,
        })
        .collect();
    let declared_names: BTreeSet<&str> = inputs
        .desired
        .environments
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    let mut in_use: Vec<(&Path, Option<&str>)> = inputs
        .desired
        .environments
        .iter()
        .map(|d| (d.interpreter.as_path(), None))
        .collect();
    for record in &inputs.registry.environments {
        let mine = record.owner.as_deref() == Some(inputs.owner);
        let changed = env_changes.contains_key(record.name.as_str());
        let declared = inputs.targets.is_empty() && declared_names.contains(record.name.as_str());
        if mine && (changed || declared) {
            continue;
        }
        match &record.interpreter {
            Some(path) => in_use.push((path.as_path(), None)),
            // Recorded before interpreters were: keep its runtime by name.
            None => in_use.push((Path::new(""), mine.then_some(record.runtime.as_str()))),
        }
    }
    in_use.sort();
    in_use.dedup();
    let used = |record: &RuntimeRecord, root: &Path| {
        in_use.iter().any(|(interpreter, name)| {
            (!interpreter.as_os_str().is_empty() && interpreter.starts_with(root))
                || *name == Some(record.name.as_str())
        })
    };
    let retirable = |record: &RuntimeRecord| -> bool {
        let Some(root) = &record.root else {
            return false;
        };
        let shared = inputs.registry.runtimes.iter().any(|other| {
            other.root.as_ref() == Some(root) && other.owner.as_deref() != Some(inputs.owner)
        });
        let still_wanted = inputs.desired.runtimes.iter().any(|r| &r.root == root);
        !used(record, root) && !shared && !still_wanted
    };

    for spec in &inputs.desired.runtimes {
        if !runtime_wanted(inputs, &spec.name) {
            continue;
        }
        let observed = inputs.observed.runtime(&spec.root);
        let record = inputs
            .registry
            .runtimes
            .iter()
            .filter(ours)
            .find(|r| r.name == spec.name);
        let requested = inputs
            .replace
            .iter()
            .any(|a| *a == format!("runtime.{}", spec.name));
        let in_place = observed.marker.as_ref().is_some_and(|m| {
            !m.sha256.eq_ignore_ascii_case(&spec.sha256) || !observed.interpreter_exists
        }) || (requested && observed.marker.is_some());
        // Another manifest's runtime in this folder is not ours to swap.
        let shared = inputs.registry.runtimes.iter().any(|r| {
            r.root.as_ref() == Some(&spec.root) && r.owner.as_deref() != Some(inputs.owner)
        });
        if in_place && shared {
            problems.push(Problem::RuntimeShared {
                name: spec.name.clone(),
                path: spec.root.clone(),
            });
            continue;
        }
        let moved = record.filter(|r| r.root.as_ref() != Some(&spec.root));
        let retire = moved.filter(|r| retirable(r)).and_then(|r| r.root.clone());
        let mut reasons = Vec::new();
        if let Some(old) = moved {
            reasons.push(Reason::RuntimeChanged {
                from: spec.name.clone(),
                to: spec.name.clone(),
                from_version: old.version.clone(),
                to_version: spec.python_version.clone(),
            });
        }
        let push = |changes: &mut Vec<Change>, action, reasons| {
            changes.push(Change::Runtime(RuntimeChange {
                name: spec.name.clone(),
                action,
                reasons,
            }));
        };
        let replace = |in_place| RuntimeAction::Replace {
            spec: spec.clone(),
            in_place,
            retire: retire.clone(),
        };
        match &observed.marker {
            None if observed.exists => {
                problems.push(Problem::RuntimePathOccupied {
                    name: spec.name.clone(),
                    path: spec.root.clone(),
                });
            }
            None => {
                if moved.is_some() {
                    push(changes, replace(false), reasons);
                } else {
                    reasons.push(if record.is_some() {
                        Reason::PathMissing
                    } else {
                        Reason::NotInRegistry
                    });
                    push(
                        changes,
                        RuntimeAction::Create { spec: spec.clone() },
                        reasons,
                    );
                }
            }
            Some(marker) if !marker.sha256.eq_ignore_ascii_case(&spec.sha256) => {
                reasons.push(Reason::ArchiveChanged {
                    from: marker.sha256.clone(),
                    to: spec.sha256.to_ascii_lowercase(),
                });
                push(changes, replace(true), reasons);
            }
            Some(_) if !observed.interpreter_exists => {
                reasons.push(Reason::Broken {
                    what: format!("`{}` is missing", spec.interpreter.display()),
                });
                push(changes, replace(true), reasons);
            }
            Some(_) if requested => {
                reasons.push(Reason::ReplaceRequested);
                push(changes, replace(true), reasons);
            }
            Some(_) => {
                let recorded = record.is_some_and(|r| {
                    r.root.as_ref() == Some(&spec.root)
                        && r.sha256
                            .as_deref()
                            .is_some_and(|s| s.eq_ignore_ascii_case(&spec.sha256))
                        && r.status == Status::Ready
                });
                if moved.is_some() {
                    push(changes, replace(false), reasons);
                } else if !recorded {
                    reasons.push(Reason::NotInRegistry);
                    push(
                        changes,
                        RuntimeAction::Adopt { spec: spec.clone() },
                        reasons,
                    );
                }
            }
        }
    }

    // This manifest's runtimes that are no longer declared.
    for record in inputs.registry.runtimes.iter().filter(ours) {
        if inputs
            .desired
            .runtimes
            .iter()
            .any(|r| r.name == record.name)
            || !runtime_wanted(inputs, &record.name)
        {
            continue;
        }
        let Some(root) = record.root.clone() else {
            continue;
        };
        let first = match inputs.mode {
            Mode::Apply => Reason::NoLongerDeclared,
            Mode::Destroy => Reason::DestroyRequested,
        };
        let (action, reasons) = if retirable(record) {
            (RuntimeAction::Delete { root }, vec![first])
        } else if !used(record, &root) {
            (
                RuntimeAction::Forget { root },
                vec![first, Reason::FolderShared],
            )
        } else {
            continue;
        };
        changes.push(Change::Runtime(RuntimeChange {
            name: record.name.clone(),
            action,
            reasons,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_release() {
        assert!(same_version("3.12.1.final.0", "3.12.1"));
        assert!(!same_version("3.12.1", "3.12.2"));
    }

    #[test]
    fn requirement_sets_ignore_order_and_blanks() {
        assert!(same_set(
            &["a>=1".into(), " b".into()],
            &["b".into(), "a>=1".into()]
        ));
        assert!(!same_set(&["a".into()], &["a".into(), "b".into()]));
    }
}
