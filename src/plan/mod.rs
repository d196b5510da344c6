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

use crate::manifest::EnvironmentKind;
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
    PackagesDrifted { count: usize },
    SettingsChanged,
    RuntimeChanged { from: String, to: String },
    PythonChanged { from: String, to: String },
    BaseInterpreterMissing { base: PathBuf },
    Broken { what: String },
    Tainted,
    NoLongerDeclared,
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
        }
    }
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
}

impl PackageChanges {
    pub fn count(&self) -> usize {
        self.add.len() + self.change.len()
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
}

impl Change {
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
    pub registry: &'a Registry,
    /// Each desired and each recorded environment's folder, observed.
    pub observed: &'a BTreeMap<PathBuf, Observed>,
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
        });
    }

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
    };
    let all_packages = || PackageChanges {
        add: spec.packages.clone(),
        change: Vec::new(),
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

    let packages = package_changes(&spec.packages, &observed.packages);
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
