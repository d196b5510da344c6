//! The plan: what `apply` would change, as plain data.
//!
//! [`diff`] is a pure function (no I/O): it takes the desired environments
//! (resolved from the manifest, with their interpreters chosen), the
//! recorded state (the registry) and the observed state (each environment's
//! folder as [`crate::venv::observe`] saw it), and returns one [`Change`]
//! per environment that differs. Everything it needs is observed first, so
//! that it is trivially testable and a no-op plan starts no process.
//!
//! Actions and when they are chosen:
//!
//! | action      | when                                                           |
//! |-------------|----------------------------------------------------------------|
//! | create `+`  | the environment's folder does not exist                        |
//! | update `~`  | packages missing or not satisfying their specifiers, settings (env vars) changed |
//! | replace `-/+` | runtime or Python version changed, base interpreter gone, venv broken, tainted |
//! | delete `-`  | recorded as created by this manifest, no longer declared, and carrying our marker |
//!
//! A folder that exists but is not ours (no marker, or another manifest's)
//! is a [`Problem`], never overwritten.

pub mod render;
pub mod saved;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::lockfile::{self, LockedPackage};
use crate::manifest::EnvironmentKind;
use crate::provision::{ObservedRuntime, RuntimeSpec};
use crate::registry::Registry;
use crate::registry::model::Status;
use crate::venv::Observed;

/// What happens to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    /// Terraform's symbols.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// Why a resource changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    NotInRegistry,
    PathMissing,
    PackagesDrifted {
        count: usize,
    },
    SettingsChanged,
    RuntimeChanged {
        from: String,
        to: String,
    },
    PythonChanged {
        from: String,
        to: String,
    },
    BaseInterpreterMissing {
        base: PathBuf,
    },
    Broken {
        what: String,
    },
    Tainted,
    NoLongerDeclared,
    /// A runtime folder holds other bytes than the catalog or lock names.
    ArchiveChanged {
        from: String,
        to: String,
    },
    /// A runtime's folder that stays because others use it.
    FolderShared,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotInRegistry => f.write_str("not in the registry"),
            Reason::PathMissing => f.write_str("its folder is missing"),
            Reason::PackagesDrifted { count } => write!(
                f,
                "{count} package{} drifted",
                if *count == 1 { "" } else { "s" }
            ),
            Reason::SettingsChanged => f.write_str("settings changed (env vars, template)"),
            Reason::RuntimeChanged { from, to } => write!(f, "runtime changed {from} -> {to}"),
            Reason::PythonChanged { from, to } => {
                write!(f, "Python version changed {from} -> {to}")
            }
            Reason::BaseInterpreterMissing { base } => {
                write!(f, "base interpreter missing (`{}`)", base.display())
            }
            Reason::Broken { what } => write!(f, "venv broken: {what}"),
            Reason::Tainted => f.write_str("a previous apply failed part-way"),
            Reason::NoLongerDeclared => f.write_str("no longer in the manifest"),
            Reason::ArchiveChanged { from, to } => write!(
                f,
                "archive changed (sha256 {} -> {})",
                short_digest(from),
                short_digest(to)
            ),
            Reason::FolderShared => {
                f.write_str("its folder stays: another manifest or runtime uses it")
            }
        }
    }
}

fn short_digest(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// One environment as it should be: everything `apply` needs to build it.
/// Saved plans carry these, so a saved plan applies exactly what it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSpec {
    pub name: String,
    pub path: PathBuf,
    pub kind: EnvironmentKind,
    /// The manifest runtime's name.
    pub runtime: String,
    /// The base interpreter (its real path).
    pub interpreter: PathBuf,
    pub python_version: String,
    pub implementation: String,
    pub packages: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub system_site_packages: bool,
    /// The exact set from `beep-python.lock`, when the environment is
    /// locked: installed with hash checking, and nothing else (exact sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<Vec<LockedPackage>>,
    /// Hash of everything above but the path; written into the marker.
    pub spec_hash: String,
}

/// The package part of a change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChanges {
    /// Requirements with no installed distribution.
    pub add: Vec<String>,
    /// Installed distributions that do not satisfy their requirement.
    pub change: Vec<PackageChange>,
    /// Installed distributions the lock does not list (`name version`);
    /// only for locked environments, which are synced exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl PackageChanges {
    pub fn count(&self) -> usize {
        self.add.len() + self.change.len() + self.remove.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChange {
    pub name: String,
    pub installed: String,
    pub required: String,
}

/// One resource that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `env.NAME`.
    pub address: String,
    pub name: String,
    pub action: Action,
    pub reasons: Vec<Reason>,
    pub path: PathBuf,
    pub packages: PackageChanges,
    /// What to build (absent for a delete).
    pub desired: Option<EnvSpec>,
    /// For `runtime.NAME`: the managed runtime to provision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeSpec>,
    /// For `runtime.NAME` whose version changed: the old folder, removed
    /// with the apply (nothing else uses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire: Option<PathBuf>,
    /// For `runtime.NAME`: its folder holds another build (or a broken
    /// one), which goes aside before the new one is renamed into place.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_place: bool,
    /// For a deleted `runtime.NAME`: only its record goes; its folder is
    /// another manifest's (or another runtime name's) too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_folder: bool,
}

impl Change {
    /// Whether this is a `runtime.NAME` change (else `env.NAME`).
    pub fn is_runtime(&self) -> bool {
        self.address.starts_with("runtime.")
    }

    pub fn reason_text(&self) -> String {
        self.reasons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Counts in Terraform's terms: a replace is one add and one destroy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

pub fn summarize(changes: &[Change]) -> Summary {
    let mut s = Summary::default();
    for c in changes {
        match c.action {
            Action::Create => s.add += 1,
            Action::Update => s.change += 1,
            Action::Replace => {
                s.add += 1;
                s.destroy += 1;
            }
            Action::Delete => s.destroy += 1,
        }
    }
    s
}

/// A reason the plan cannot be made; reported, nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum Problem {
    #[error("environment `{name}`: `{}` exists and was not created by beep-python", path.display())]
    #[diagnostic(
        code(plan::path_occupied),
        help(
            "beep-python never overwrites what it did not create: move the folder away, or give the environment another `path`"
        )
    )]
    PathOccupied { name: String, path: PathBuf },

    #[error("runtime `{name}`: `{}` exists and is not a runtime beep-python finished installing", path.display())]
    #[diagnostic(
        code(plan::runtime_path_occupied),
        help(
            "beep-python never overwrites what it did not create: move the folder away (it has no `.beep-python-runtime.json` marker)"
        )
    )]
    RuntimePathOccupied { name: String, path: PathBuf },

    #[error("runtime `{name}`: `{}` holds another build, which another manifest uses", path.display())]
    #[diagnostic(
        code(plan::runtime_shared),
        help(
            "two manifests ask for different builds of the same version; pin the same one (`beep-python lock` in both), or remove the other manifest's runtime first"
        )
    )]
    RuntimeShared { name: String, path: PathBuf },

    #[error("environment `{name}`: `{}` belongs to another manifest (`{}`)", path.display(), owner.display())]
    #[diagnostic(
        code(plan::foreign_environment),
        help(
            "give the environment another `path`, or remove it with `beep-python destroy` from that manifest"
        )
    )]
    ForeignOwner {
        name: String,
        path: PathBuf,
        owner: PathBuf,
    },

    #[error("no resource `{address}` in this manifest")]
    #[diagnostic(code(plan::unknown_target))]
    UnknownTarget {
        address: String,
        #[help]
        help: Option<String>,
    },
}

/// What [`diff`] compares.
pub struct Inputs<'a> {
    /// The canonical path of the manifest: the owner of what it creates.
    pub owner: &'a Path,
    pub desired: &'a [EnvSpec],
    /// The managed runtimes the manifest declares.
    pub runtimes: &'a [RuntimeSpec],
    pub registry: &'a Registry,
    /// Each desired and each recorded environment's folder, observed.
    pub observed: &'a BTreeMap<PathBuf, Observed>,
    /// Each desired runtime's folder, observed.
    pub observed_runtimes: &'a BTreeMap<PathBuf, ObservedRuntime>,
    /// `--target` addresses; empty means everything.
    pub targets: &'a [String],
}

/// The pure diff. Returns the changes in address order, or every problem.
pub fn diff(inputs: &Inputs<'_>) -> Result<Vec<Change>, Vec<Problem>> {
    let mut changes = Vec::new();
    let mut problems = Vec::new();

    let addresses: Vec<String> = inputs
        .desired
        .iter()
        .map(|d| format!("env.{}", d.name))
        .chain(
            inputs
                .registry
                .environments
                .iter()
                .filter(|r| r.owner.as_deref() == Some(inputs.owner))
                .map(|r| format!("env.{}", r.name)),
        )
        .chain(
            inputs
                .registry
                .runtimes
                .iter()
                .map(|r| format!("runtime.{}", r.name)),
        )
        .chain(
            inputs
                .desired
                .iter()
                .map(|d| format!("runtime.{}", d.runtime)),
        )
        .chain(
            inputs
                .runtimes
                .iter()
                .map(|r| format!("runtime.{}", r.name)),
        )
        .collect();
    for target in inputs.targets {
        if !addresses.contains(target) {
            problems.push(Problem::UnknownTarget {
                address: target.clone(),
                help: crate::diagnostic::suggestion(target, addresses.iter().map(String::as_str))
                    .or_else(|| Some("addresses are `env.NAME` and `runtime.NAME`".into())),
            });
        }
    }
    let wanted = |address: &str, runtime: Option<&str>| {
        inputs.targets.is_empty()
            || inputs
                .targets
                .iter()
                .any(|t| t == address || runtime.is_some_and(|r| *t == format!("runtime.{r}")))
    };

    let empty = Observed::default();
    for spec in inputs.desired {
        let address = format!("env.{}", spec.name);
        if !wanted(&address, Some(&spec.runtime)) {
            continue;
        }
        let observed = inputs.observed.get(&spec.path).unwrap_or(&empty);
        let record = inputs
            .registry
            .environment(&spec.name)
            .filter(|r| r.owner.as_deref() == Some(inputs.owner));
        match env_change(inputs.owner, spec, record, observed) {
            Ok(Some(change)) => changes.push(change),
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }

    for record in &inputs.registry.environments {
        let address = format!("env.{}", record.name);
        if record.owner.as_deref() != Some(inputs.owner)
            || !record.managed
            || inputs.desired.iter().any(|d| d.name == record.name)
            || !wanted(&address, None)
        {
            continue;
        }
        changes.push(Change {
            address,
            name: record.name.clone(),
            action: Action::Delete,
            reasons: vec![Reason::NoLongerDeclared],
            path: record.path.clone(),
            packages: PackageChanges::default(),
            desired: None,
            runtime: None,
            retire: None,
            in_place: false,
            keep_folder: false,
        });
    }

    runtime_changes(inputs, &mut changes, &mut problems);

    if !problems.is_empty() {
        return Err(problems);
    }
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(changes)
}

fn env_change(
    owner: &Path,
    spec: &EnvSpec,
    record: Option<&crate::registry::model::EnvironmentRecord>,
    observed: &Observed,
) -> Result<Option<Change>, Problem> {
    let change = |action, reasons, packages| Change {
        address: format!("env.{}", spec.name),
        name: spec.name.clone(),
        action,
        reasons,
        path: spec.path.clone(),
        packages,
        desired: Some(spec.clone()),
        runtime: None,
        retire: None,
        in_place: false,
        keep_folder: false,
    };
    let all_packages = || match &spec.locked {
        Some(locked) => locked_changes(&[], locked),
        None => PackageChanges {
            add: spec.packages.clone(),
            change: Vec::new(),
            remove: Vec::new(),
        },
    };

    if !observed.exists {
        let reason = if record.is_some() {
            Reason::PathMissing
        } else {
            Reason::NotInRegistry
        };
        return Ok(Some(change(Action::Create, vec![reason], all_packages())));
    }
    // It exists: it must be ours before anything else is said about it.
    // (An empty folder is observed as absent: taking it over loses nothing.)
    match &observed.marker {
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
        Some(_) => {}
    }

    let mut replace = Vec::new();
    if !observed.is_venv {
        replace.push(Reason::Broken {
            what: "`pyvenv.cfg` is missing or unreadable".into(),
        });
    } else if !observed.base_exists {
        replace.push(Reason::BaseInterpreterMissing {
            base: observed
                .base_executable
                .clone()
                .or_else(|| observed.home.clone())
                .unwrap_or_default(),
        });
    } else if !observed.python_exists {
        replace.push(Reason::Broken {
            what: "`bin/python` is missing".into(),
        });
    }
    if let Some(record) = record {
        if record.runtime != spec.runtime {
            replace.push(Reason::RuntimeChanged {
                from: record.runtime.clone(),
                to: spec.runtime.clone(),
            });
        }
        if record.status == Status::Tainted {
            replace.push(Reason::Tainted);
        }
    }
    if let Some(version) = &observed.version
        && observed.is_venv
        && !same_version(version, &spec.python_version)
    {
        replace.push(Reason::PythonChanged {
            from: version.clone(),
            to: spec.python_version.clone(),
        });
    }
    if !replace.is_empty() {
        return Ok(Some(change(Action::Replace, replace, all_packages())));
    }

    let packages = match &spec.locked {
        Some(locked) => locked_changes(&observed.packages, locked),
        None => package_changes(&spec.packages, &observed.packages),
    };
    let mut update = Vec::new();
    if !packages.is_empty() {
        update.push(Reason::PackagesDrifted {
            count: packages.count(),
        });
    }
    let marker_hash = observed.marker.as_ref().map(|m| m.spec_hash.as_str());
    if marker_hash != Some(spec.spec_hash.as_str()) && packages.is_empty() {
        update.push(Reason::SettingsChanged);
    }
    if record.is_none() && update.is_empty() {
        // Ours on disk (marker) but not recorded, e.g. after the registry
        // was reset: record it again without touching it.
        update.push(Reason::NotInRegistry);
    }
    if update.is_empty() {
        return Ok(None);
    }
    Ok(Some(change(Action::Update, update, packages)))
}

/// Whether `--target` selects the runtime `name`: named itself, or needed
/// by a targeted environment (as Terraform includes a target's dependencies).
fn runtime_wanted(inputs: &Inputs<'_>, name: &str) -> bool {
    let address = format!("runtime.{name}");
    inputs.targets.is_empty()
        || inputs.targets.contains(&address)
        || inputs
            .desired
            .iter()
            .any(|d| d.runtime == name && inputs.targets.contains(&format!("env.{}", d.name)))
}

/// The managed runtimes' changes: provision what is missing or holds other
/// bytes, record what is in place but unrecorded, and retire the folders of
/// this manifest's runtimes that nothing uses any more.
fn runtime_changes(inputs: &Inputs<'_>, changes: &mut Vec<Change>, problems: &mut Vec<Problem>) {
    let ours = |r: &&crate::registry::model::RuntimeRecord| {
        r.managed && r.owner.as_deref() == Some(inputs.owner) && r.root.is_some()
    };
    // Which interpreters environments will use after this apply: this
    // manifest's desired ones, and every other recorded environment's
    // (another manifest's, or one of ours that a target leaves alone).
    let deleted: Vec<&str> = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.name.as_str())
        .collect();
    let mut in_use: Vec<(&Path, Option<&str>)> = inputs
        .desired
        .iter()
        .map(|d| (d.interpreter.as_path(), None))
        .collect();
    // Environments of this manifest that this plan rebuilds: their new
    // interpreter is counted above; any other keeps its recorded one (a
    // `--target` may leave an environment on the old runtime).
    let rebuilt: Vec<&str> = changes
        .iter()
        .filter(|c| !c.is_runtime() && c.desired.is_some())
        .map(|c| c.name.as_str())
        .collect();
    for record in &inputs.registry.environments {
        let mine = record.owner.as_deref() == Some(inputs.owner);
        if mine
            && (rebuilt.contains(&record.name.as_str())
                || deleted.contains(&record.name.as_str())
                || (inputs.targets.is_empty()
                    && inputs.desired.iter().any(|d| d.name == record.name)))
        {
            continue;
        }
        match &record.interpreter {
            Some(path) => in_use.push((path.as_path(), None)),
            // Recorded before interpreters were: keep its runtime by name.
            None => in_use.push((Path::new(""), mine.then_some(record.runtime.as_str()))),
        }
    }
    let retirable = |record: &crate::registry::model::RuntimeRecord| -> bool {
        let Some(root) = &record.root else {
            return false;
        };
        let used = in_use.iter().any(|(interpreter, name)| {
            (!interpreter.as_os_str().is_empty() && interpreter.starts_with(root))
                || *name == Some(record.name.as_str())
        });
        let shared = inputs.registry.runtimes.iter().any(|other| {
            other.root.as_ref() == Some(root) && other.owner.as_deref() != Some(inputs.owner)
        });
        let still_wanted = inputs.runtimes.iter().any(|r| &r.root == root);
        !used && !shared && !still_wanted
    };
    // Not retirable, but nothing of this manifest needs the record: the
    // folder is another manifest's (or another name's) too.
    let forgettable = |record: &crate::registry::model::RuntimeRecord| -> bool {
        let Some(root) = &record.root else {
            return true;
        };
        !in_use.iter().any(|(interpreter, name)| {
            (!interpreter.as_os_str().is_empty() && interpreter.starts_with(root))
                || *name == Some(record.name.as_str())
        })
    };

    for spec in inputs.runtimes {
        if !runtime_wanted(inputs, &spec.name) {
            continue;
        }
        let observed = inputs
            .observed_runtimes
            .get(&spec.root)
            .cloned()
            .unwrap_or_default();
        let record = inputs
            .registry
            .runtimes
            .iter()
            .filter(ours)
            .find(|r| r.name == spec.name);
        let in_place = observed.marker.as_ref().is_some_and(|m| {
            !m.sha256.eq_ignore_ascii_case(&spec.sha256) || !observed.interpreter_exists
        });
        let change = |action, reasons: Vec<Reason>| Change {
            address: format!("runtime.{}", spec.name),
            name: spec.name.clone(),
            action,
            reasons,
            path: spec.root.clone(),
            packages: PackageChanges::default(),
            desired: None,
            runtime: Some(spec.clone()),
            retire: record
                .filter(|r| r.root.as_ref() != Some(&spec.root) && retirable(r))
                .and_then(|r| r.root.clone()),
            in_place,
            keep_folder: false,
        };
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
        let mut reasons = Vec::new();
        if let Some(old) = moved {
            reasons.push(Reason::RuntimeChanged {
                from: old.version.clone(),
                to: spec.python_version.clone(),
            });
        }
        match &observed.marker {
            None if observed.exists => {
                problems.push(Problem::RuntimePathOccupied {
                    name: spec.name.clone(),
                    path: spec.root.clone(),
                });
            }
            None => {
                let action = if moved.is_some() {
                    Action::Replace
                } else {
                    Action::Create
                };
                if moved.is_none() {
                    reasons.push(if record.is_some() {
                        Reason::PathMissing
                    } else {
                        Reason::NotInRegistry
                    });
                }
                changes.push(change(action, reasons));
            }
            Some(marker) if !marker.sha256.eq_ignore_ascii_case(&spec.sha256) => {
                reasons.push(Reason::ArchiveChanged {
                    from: marker.sha256.clone(),
                    to: spec.sha256.to_ascii_lowercase(),
                });
                changes.push(change(Action::Replace, reasons));
            }
            Some(_) if !observed.interpreter_exists => {
                reasons.push(Reason::Broken {
                    what: format!("`{}` is missing", spec.interpreter.display()),
                });
                changes.push(change(Action::Replace, reasons));
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
                    changes.push(change(Action::Replace, reasons));
                } else if !recorded {
                    reasons.push(Reason::NotInRegistry);
                    changes.push(change(Action::Update, reasons));
                }
            }
        }
    }

    // This manifest's runtimes that are no longer declared.
    for record in inputs.registry.runtimes.iter().filter(ours) {
        if inputs.runtimes.iter().any(|r| r.name == record.name)
            || !runtime_wanted(inputs, &record.name)
        {
            continue;
        }
        let keep_folder = if retirable(record) {
            false
        } else if forgettable(record) {
            true
        } else {
            continue;
        };
        let mut reasons = vec![Reason::NoLongerDeclared];
        if keep_folder {
            reasons.push(Reason::FolderShared);
        }
        changes.push(Change {
            address: format!("runtime.{}", record.name),
            name: record.name.clone(),
            action: Action::Delete,
            reasons,
            path: record.root.clone().unwrap_or_default(),
            packages: PackageChanges::default(),
            desired: None,
            runtime: None,
            retire: None,
            in_place: false,
            keep_folder,
        });
    }
}

/// `3.12.1` equals `3.12.1`; pyvenv.cfg may hold `3.12.1` or `3.12.1.final.0`.
fn same_version(observed: &str, desired: &str) -> bool {
    let release = |v: &str| -> String { v.split('.').take(3).collect::<Vec<_>>().join(".") };
    release(observed) == release(desired)
}

/// Which requirements the installed distributions do not satisfy. Markers
/// are not evaluated here (that needs the interpreter); a requirement with a
/// marker counts as satisfied when it is absent.
pub fn package_changes(
    requirements: &[String],
    installed: &[crate::venv::Distribution],
) -> PackageChanges {
    let mut out = PackageChanges::default();
    for text in requirements {
        let Ok(req) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(text) else {
            continue;
        };
        let name = req.name.to_string();
        let found = installed.iter().find(|d| normalize(&d.name) == name);
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
/// lock does not list it: the pip installer keeps it to keep working.
pub fn locked_changes(
    installed: &[crate::venv::Distribution],
    locked: &[LockedPackage],
) -> PackageChanges {
    let installed: Vec<(String, String)> = installed
        .iter()
        .filter(|d| normalize(&d.name) != "pip" || locked.iter().any(|p| p.name == "pip"))
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
    }
}

/// PEP 503 normalization.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('-');
            }
            last_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_sep = false;
        }
    }
    out
}
