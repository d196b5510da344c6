//! The plan: what `apply` would change, as typed data.
//!
//! [`diff`] is a pure function (no I/O): it compares the desired state
//! ([`crate::desired`]), the recorded state (the registry) and the observed
//! state ([`crate::observe`]), and returns one [`Change`] per resource that
//! differs. Rendering ([`render`]) and execution ([`crate::exec`]) consume
//! it; saved plans ([`saved`]) carry it.
//!
//! A change is either an environment's ([`EnvChange`]) or a runtime's
//! ([`RuntimeChange`]), and each action variant carries exactly what
//! applying it needs, so an impossible plan cannot be built (a delete has
//! no spec to build from, a rename has the name it comes from).
//!
//! | action        | symbol | environment: when                                                  |
//! |---------------|--------|--------------------------------------------------------------------|
//! | create        | `+`    | nothing (or an empty folder) is at its path                        |
//! | update        | `~`    | packages, env vars, template or pip differ from what it was built from |
//! | replace       | `-/+`  | runtime or Python changed, base interpreter gone, venv broken, tainted, `--replace` |
//! | rename        | `~`    | same folder, new address (detected, or `[moved]`): only the record moves |
//! | move          | `+/-`  | same address, new `path`: built there, the old folder removed      |
//! | delete        | `-`    | recorded as created by this manifest, no longer declared (or `destroy`) |
//! | repoint       | `~`    | only from `doctor --fix`: its base interpreter moved, the same Python is where the manifest now points |
//!
//! `doctor --fix` also plans the home's upkeep ([`HomeChange`]: sweeping
//! our debris, pruning records whose folders vanished, replacing a missing
//! default runtime, restoring an unreadable registry), executed by the
//! same transaction; `plan::diff` never produces it.
//!
//! Health is judged by one classifier, [`health`], which `status`,
//! `doctor` and `run` use too: they can never disagree with `plan`.
//!
//! A folder that exists but is not ours (no marker, or another manifest's),
//! or an environment nested in another recorded one, is a [`Problem`],
//! never a change.

mod diff;
pub mod health;
pub mod render;
pub mod saved;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::desired::EnvSpec;
pub use diff::{Inputs, Mode, diff, locked_changes, package_changes};
pub use health::Health;

use crate::provision::RuntimeSpec;

/// What kind of change a resource undergoes: its symbol and how it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Rename,
    Move,
    Delete,
}

impl Action {
    /// Terraform's symbols; a move builds first and removes after (`+/-`,
    /// Terraform's create-before-destroy).
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update | Action::Rename => "~",
            Action::Replace => "-/+",
            Action::Move => "+/-",
            Action::Delete => "-",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Rename => "rename",
            Action::Move => "move",
            Action::Delete => "delete",
        }
    }
}

/// Why a resource changes. Each names exactly what differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    NotInRegistry,
    PathMissing,
    /// The installed packages differ from what it was built with (someone
    /// installed or removed something).
    PackagesDrifted {
        count: usize,
    },
    /// Installed files of a package are missing or changed (its inventory
    /// says so): the package is installed again.
    FilesDamaged {
        package: String,
        missing: usize,
        changed: usize,
    },
    /// The manifest's requirements changed since it was built.
    RequirementsChanged,
    /// The lock's pins (name and version) changed since it was built.
    LockPinsChanged,
    EnvVarAdded {
        name: String,
    },
    EnvVarChanged {
        name: String,
    },
    EnvVarRemoved {
        name: String,
    },
    TemplateChanged {
        from: Option<String>,
        to: Option<String>,
    },
    SystemSitePackagesChanged {
        to: bool,
    },
    PipMissing,
    PipNotWanted,
    RuntimeChanged {
        from: String,
        to: String,
        from_version: String,
        to_version: String,
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
    /// A conda environment that cannot work as it is.
    CondaBroken {
        what: String,
    },
    /// `kind` changed (a venv becomes a conda environment, or back).
    KindChanged {
        from: String,
        to: String,
    },
    /// A conda environment's channels changed since it was built.
    ChannelsChanged,
    Tainted,
    ReplaceRequested,
    Renamed {
        from: String,
    },
    PathChanged {
        from: PathBuf,
        to: PathBuf,
    },
    NoLongerDeclared,
    DestroyRequested,
    /// A runtime folder holds other bytes than the catalog or lock names.
    ArchiveChanged {
        from: String,
        to: String,
    },
    /// A runtime's folder that stays because others use it.
    FolderShared,
    /// The base interpreter moved: the same implementation and version is
    /// at `to` (found by `doctor`).
    InterpreterMoved {
        from: PathBuf,
        to: PathBuf,
    },
    /// Installed packages require what is not installed (`doctor`).
    DependenciesBroken {
        unmet: Vec<String>,
    },
    /// Something of ours that nothing uses any more (`doctor`).
    Debris {
        what: String,
    },
    /// A record whose folder is gone (`doctor`).
    FolderVanished,
    /// The default runtime is missing; the policy chose another (`doctor`).
    DefaultRuntimeMissing {
        name: String,
        why: String,
    },
    /// `registry.json` is unreadable; a valid backup was found (`doctor`).
    RegistryUnreadable {
        reason: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotInRegistry => f.write_str("not in the registry"),
            Reason::PathMissing => f.write_str("its folder is missing"),
            Reason::PackagesDrifted { count } => write!(
                f,
                "{count} installed package{} drifted",
                if *count == 1 { "" } else { "s" }
            ),
            Reason::FilesDamaged {
                package,
                missing,
                changed,
            } => {
                let files = |n: usize| if n == 1 { "file" } else { "files" };
                match (missing, changed) {
                    (m, 0) => write!(f, "{package}: {m} {} missing", files(*m)),
                    (0, c) => write!(f, "{package}: {c} {} changed", files(*c)),
                    (m, c) => write!(f, "{package}: {m} {} missing, {c} changed", files(*m)),
                }
            }
            Reason::RequirementsChanged => f.write_str("requirements changed"),
            Reason::LockPinsChanged => f.write_str("lock pins changed"),
            Reason::EnvVarAdded { name } => write!(f, "env var {name} added"),
            Reason::EnvVarChanged { name } => write!(f, "env var {name} changed"),
            Reason::EnvVarRemoved { name } => write!(f, "env var {name} removed"),
            Reason::TemplateChanged { from, to } => write!(
                f,
                "template {} -> {}",
                from.as_deref().unwrap_or("(none)"),
                to.as_deref().unwrap_or("(none)")
            ),
            Reason::SystemSitePackagesChanged { to } => {
                write!(f, "system-site-packages -> {to}")
            }
            Reason::PipMissing => f.write_str("pip is missing"),
            Reason::PipNotWanted => f.write_str("pip is installed but `pip = false`"),
            Reason::RuntimeChanged {
                from,
                to,
                from_version,
                to_version,
            } => {
                if from == to {
                    write!(f, "runtime {from_version} -> {to_version}")
                } else if from_version == to_version {
                    write!(f, "runtime {from} -> {to}")
                } else {
                    write!(f, "runtime {from} ({from_version}) -> {to} ({to_version})")
                }
            }
            Reason::PythonChanged { from, to } => {
                write!(f, "Python version changed {from} -> {to}")
            }
            Reason::BaseInterpreterMissing { base } => {
                write!(f, "base interpreter missing (`{}`)", base.display())
            }
            Reason::Broken { what } => write!(f, "venv broken: {what}"),
            Reason::CondaBroken { what } => write!(f, "conda environment broken: {what}"),
            Reason::KindChanged { from, to } => write!(f, "kind {from} -> {to}"),
            Reason::ChannelsChanged => f.write_str("conda channels changed"),
            Reason::Tainted => f.write_str("a previous apply failed part-way"),
            Reason::ReplaceRequested => f.write_str("replacement requested"),
            Reason::Renamed { from } => write!(f, "renamed from env.{from}"),
            Reason::PathChanged { from, to } => {
                write!(f, "path {} -> {}", from.display(), to.display())
            }
            Reason::NoLongerDeclared => f.write_str("no longer in the manifest"),
            Reason::DestroyRequested => f.write_str("requested"),
            Reason::ArchiveChanged { from, to } => write!(
                f,
                "archive changed (sha256 {} -> {})",
                short_digest(from),
                short_digest(to)
            ),
            Reason::FolderShared => {
                f.write_str("its folder stays: another manifest or runtime uses it")
            }
            Reason::InterpreterMoved { from, to } => write!(
                f,
                "base interpreter moved: `{}` -> `{}`",
                from.display(),
                to.display()
            ),
            Reason::DependenciesBroken { unmet } => write!(
                f,
                "{} requirement{} of installed packages not met: {}",
                unmet.len(),
                if unmet.len() == 1 { "" } else { "s" },
                unmet.join("; ")
            ),
            Reason::Debris { what } => f.write_str(what),
            Reason::FolderVanished => f.write_str("its folder is gone"),
            Reason::DefaultRuntimeMissing { name, why } => {
                write!(f, "the default runtime `{name}` is missing; {why}")
            }
            Reason::RegistryUnreadable { reason } => {
                write!(f, "`registry.json` is unreadable ({reason})")
            }
        }
    }
}

fn short_digest(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// The package part of an environment's change: `+ rich>=13`,
/// `~ pandas 2.1.4 -> 2.2.2`, `- click 8.1.7`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChanges {
    /// Requirements (or pins) with no installed distribution.
    pub add: Vec<String>,
    /// Installed distributions that do not satisfy their requirement (pin).
    pub change: Vec<PackageChange>,
    /// Installed distributions to remove (`name version`): not in the lock,
    /// or no longer required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Installed distributions to install again, same version (`name
    /// version`): their files are damaged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reinstall: Vec<String>,
    /// A conda environment's conda packages that change, exactly (the
    /// other fields are then its PyPI packages, except `reinstall`, which
    /// names conda packages whose files are damaged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conda: Vec<crate::conda::PackageChange>,
}

impl PackageChanges {
    pub fn count(&self) -> usize {
        self.add.len()
            + self.change.len()
            + self.remove.len()
            + self.reinstall.len()
            + self.conda.len()
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

/// One environment that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvChange {
    pub name: String,
    pub action: EnvAction,
    pub reasons: Vec<Reason>,
}

/// What happens to an environment, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum EnvAction {
    /// Built at `spec.path`, where nothing (or an empty folder) is.
    Create { spec: EnvSpec },
    /// Packages or settings change; `renamed_from` when its address
    /// changes too. Changed in place, only what differs, after a restore
    /// point (see [`crate::exec`]).
    Update {
        spec: EnvSpec,
        packages: PackageChanges,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        renamed_from: Option<String>,
    },
    /// Rebuilt at the same path.
    Replace {
        spec: EnvSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        renamed_from: Option<String>,
    },
    /// Same folder, new address: the record and the marker move, nothing
    /// is rebuilt.
    Rename { spec: EnvSpec, from: String },
    /// Built at the new `spec.path`; the folder at `from` goes in the same
    /// transaction (a venv cannot be moved: its scripts hold its path).
    Move {
        spec: EnvSpec,
        from: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        renamed_from: Option<String>,
    },
    /// Ours on disk but not in the registry: recorded again, untouched.
    Adopt { spec: EnvSpec },
    /// Removed (set aside, then deleted at commit).
    Delete { path: PathBuf },
    /// Its base interpreter moved (`from` is gone) and the same
    /// implementation and version is at `spec.interpreter`: `pyvenv.cfg`
    /// and the `bin/python` link are rewritten to it, nothing is rebuilt.
    /// Only `doctor --fix` plans it, when that is safe (see
    /// [`crate::doctor`]).
    Repoint { spec: EnvSpec, from: PathBuf },
}

impl EnvAction {
    pub fn action(&self) -> Action {
        match self {
            EnvAction::Create { .. } => Action::Create,
            EnvAction::Update { .. } | EnvAction::Adopt { .. } | EnvAction::Repoint { .. } => {
                Action::Update
            }
            EnvAction::Replace { .. } => Action::Replace,
            EnvAction::Rename { .. } => Action::Rename,
            EnvAction::Move { .. } => Action::Move,
            EnvAction::Delete { .. } => Action::Delete,
        }
    }

    /// What the environment becomes (absent for a delete).
    pub fn spec(&self) -> Option<&EnvSpec> {
        match self {
            EnvAction::Create { spec }
            | EnvAction::Update { spec, .. }
            | EnvAction::Replace { spec, .. }
            | EnvAction::Rename { spec, .. }
            | EnvAction::Move { spec, .. }
            | EnvAction::Adopt { spec }
            | EnvAction::Repoint { spec, .. } => Some(spec),
            EnvAction::Delete { .. } => None,
        }
    }

    /// The address it had before, when it is renamed.
    pub fn renamed_from(&self) -> Option<&str> {
        match self {
            EnvAction::Update { renamed_from, .. }
            | EnvAction::Replace { renamed_from, .. }
            | EnvAction::Move { renamed_from, .. } => renamed_from.as_deref(),
            EnvAction::Rename { from, .. } => Some(from),
            EnvAction::Create { .. }
            | EnvAction::Adopt { .. }
            | EnvAction::Delete { .. }
            | EnvAction::Repoint { .. } => None,
        }
    }

    /// The folder it ends up in (or, for a delete, the one that goes).
    pub fn path(&self) -> &std::path::Path {
        match self {
            EnvAction::Delete { path } => path,
            other => other.spec().map_or(std::path::Path::new(""), |s| &s.path),
        }
    }

    /// Whether applying it builds (or rebuilds) the environment.
    pub fn builds(&self) -> bool {
        match self {
            EnvAction::Create { .. }
            | EnvAction::Update { .. }
            | EnvAction::Replace { .. }
            | EnvAction::Move { .. } => true,
            EnvAction::Rename { .. }
            | EnvAction::Adopt { .. }
            | EnvAction::Delete { .. }
            | EnvAction::Repoint { .. } => false,
        }
    }
}

/// One managed runtime that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeChange {
    pub name: String,
    pub action: RuntimeAction,
    pub reasons: Vec<Reason>,
}

/// What happens to a managed runtime, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RuntimeAction {
    /// Downloaded, verified and unpacked into `spec.root`.
    Create { spec: RuntimeSpec },
    /// Another build: `in_place` when the folder at `spec.root` holds other
    /// bytes (it goes aside first); `retire` is the old folder removed with
    /// the apply when nothing else uses it.
    Replace {
        spec: RuntimeSpec,
        in_place: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retire: Option<PathBuf>,
    },
    /// In place with these bytes but unrecorded: checked, then recorded.
    Adopt { spec: RuntimeSpec },
    /// Its folder goes.
    Delete { root: PathBuf },
    /// Only the record goes: the folder is another manifest's (or another
    /// runtime name's) too.
    Forget { root: PathBuf },
}

impl RuntimeAction {
    pub fn action(&self) -> Action {
        match self {
            RuntimeAction::Create { .. } => Action::Create,
            RuntimeAction::Replace { .. } => Action::Replace,
            RuntimeAction::Adopt { .. } => Action::Update,
            RuntimeAction::Delete { .. } | RuntimeAction::Forget { .. } => Action::Delete,
        }
    }

    pub fn spec(&self) -> Option<&RuntimeSpec> {
        match self {
            RuntimeAction::Create { spec }
            | RuntimeAction::Replace { spec, .. }
            | RuntimeAction::Adopt { spec } => Some(spec),
            RuntimeAction::Delete { .. } | RuntimeAction::Forget { .. } => None,
        }
    }

    pub fn root(&self) -> &std::path::Path {
        match self {
            RuntimeAction::Delete { root } | RuntimeAction::Forget { root } => root,
            RuntimeAction::Create { spec }
            | RuntimeAction::Replace { spec, .. }
            | RuntimeAction::Adopt { spec } => &spec.root,
        }
    }
}

/// Upkeep of the home itself, which only `doctor --fix` plans: what a
/// finding needs that is neither an environment's nor a runtime's change.
/// Kept apart from [`EnvAction`] and [`RuntimeAction`] because none of it
/// is a manifest's resource (a stray staging folder belongs to no
/// manifest; a record of another manifest's vanished environment is
/// pruned without that manifest), yet it goes through the same
/// transaction: a sweep is set aside by the journal and removed at commit,
/// the registry edits are written by the commit, and a failure anywhere
/// undoes all of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeChange {
    pub action: HomeAction,
    pub reasons: Vec<Reason>,
}

/// What happens to the home, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum HomeAction {
    /// A folder or file of ours that nothing uses (a staging folder, an
    /// aside no journal names, a stale claim or temporary file): set aside,
    /// then removed at commit. [`crate::exec::sweep`] proves it is ours
    /// again when it is moved.
    Sweep { path: PathBuf },
    /// A record whose folder is gone: only the record goes (the registry's
    /// previous version is kept in `backups/` by the commit).
    PruneEnvironment {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<PathBuf>,
        path: PathBuf,
    },
    /// A runtime record whose interpreter or folder is gone.
    PruneRuntime { name: String, path: PathBuf },
    /// The default runtime `from` is missing: `to` becomes the default.
    ReplaceDefault { from: String, to: String },
    /// `registry.json` was unreadable and the registry was read from the
    /// backup `from`: the commit writes it back (the unreadable file is
    /// kept in `backups/`).
    RestoreRegistry { from: PathBuf },
}

impl HomeAction {
    pub fn action(&self) -> Action {
        match self {
            HomeAction::Sweep { .. }
            | HomeAction::PruneEnvironment { .. }
            | HomeAction::PruneRuntime { .. } => Action::Delete,
            HomeAction::ReplaceDefault { .. } | HomeAction::RestoreRegistry { .. } => {
                Action::Update
            }
        }
    }

    /// `home.debris`, `home.record.env.NAME`, `home.default-runtime`, ...
    pub fn address(&self) -> String {
        match self {
            HomeAction::Sweep { .. } => "home.debris".into(),
            HomeAction::PruneEnvironment { name, .. } => format!("home.record.env.{name}"),
            HomeAction::PruneRuntime { name, .. } => format!("home.record.runtime.{name}"),
            HomeAction::ReplaceDefault { .. } => "home.default-runtime".into(),
            HomeAction::RestoreRegistry { .. } => "home.registry".into(),
        }
    }

    /// The name part of the address.
    pub fn name(&self) -> &str {
        match self {
            HomeAction::Sweep { .. } => "debris",
            HomeAction::PruneEnvironment { name, .. } | HomeAction::PruneRuntime { name, .. } => {
                name
            }
            HomeAction::ReplaceDefault { .. } => "default-runtime",
            HomeAction::RestoreRegistry { .. } => "registry",
        }
    }

    pub fn path(&self) -> &std::path::Path {
        match self {
            HomeAction::Sweep { path }
            | HomeAction::PruneEnvironment { path, .. }
            | HomeAction::PruneRuntime { path, .. }
            | HomeAction::RestoreRegistry { from: path } => path,
            HomeAction::ReplaceDefault { .. } => std::path::Path::new(""),
        }
    }
}

/// One resource that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resource", rename_all = "snake_case")]
pub enum Change {
    Environment(EnvChange),
    Runtime(RuntimeChange),
    Home(HomeChange),
}

impl Change {
    /// `env.NAME` or `runtime.NAME`.
    pub fn address(&self) -> String {
        match self {
            Change::Environment(c) => format!("env.{}", c.name),
            Change::Runtime(c) => format!("runtime.{}", c.name),
            Change::Home(c) => c.action.address(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Change::Environment(c) => &c.name,
            Change::Runtime(c) => &c.name,
            Change::Home(c) => c.action.name(),
        }
    }

    pub fn action(&self) -> Action {
        match self {
            Change::Environment(c) => c.action.action(),
            Change::Runtime(c) => c.action.action(),
            Change::Home(c) => c.action.action(),
        }
    }

    pub fn reasons(&self) -> &[Reason] {
        match self {
            Change::Environment(c) => &c.reasons,
            Change::Runtime(c) => &c.reasons,
            Change::Home(c) => &c.reasons,
        }
    }

    /// The folder the change is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Change::Environment(c) => c.action.path(),
            Change::Runtime(c) => c.action.root(),
            Change::Home(c) => c.action.path(),
        }
    }

    pub fn reason_text(&self) -> String {
        self.reasons()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Counts in Terraform's terms: a replace is one add and one destroy;
/// renames and moves are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    #[serde(default)]
    pub rename: usize,
    #[serde(default, rename = "move")]
    pub moves: usize,
}

pub fn summarize(changes: &[Change]) -> Summary {
    let mut s = Summary::default();
    for c in changes {
        match c.action() {
            Action::Create => s.add += 1,
            Action::Update => s.change += 1,
            Action::Replace => {
                s.add += 1;
                s.destroy += 1;
            }
            Action::Rename => s.rename += 1,
            Action::Move => s.moves += 1,
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
        code("plan::path-occupied"),
        help(
            "beep-python never overwrites what it did not create: move the folder away, or give the environment another `path`"
        )
    )]
    PathOccupied { name: String, path: PathBuf },

    #[error("runtime `{name}`: `{}` exists and is not a runtime beep-python finished installing", path.display())]
    #[diagnostic(
        code("plan::runtime-path-occupied"),
        help(
            "beep-python never overwrites what it did not create: move the folder away (it has no `.beep-python-runtime.json` marker)"
        )
    )]
    RuntimePathOccupied { name: String, path: PathBuf },

    #[error("runtime `{name}`: `{}` holds another build, which another manifest uses", path.display())]
    #[diagnostic(
        code("plan::runtime-shared"),
        help(
            "two manifests ask for different builds of the same version; pin the same one (`beep-python lock` in both), or remove the other manifest's runtime first"
        )
    )]
    RuntimeShared { name: String, path: PathBuf },

    #[error("environment `{name}`: `{}` belongs to another manifest (`{}`)", path.display(), owner.display())]
    #[diagnostic(
        code("plan::foreign-environment"),
        help(
            "give the environment another `path`, or remove it with `beep-python destroy` from that manifest"
        )
    )]
    ForeignOwner {
        name: String,
        path: PathBuf,
        owner: PathBuf,
    },

    #[error("environment `{name}`: `{}` {relation} the environment `{other}` at `{}` (recorded for `{}`)", path.display(), other_path.display(), owner.display())]
    #[diagnostic(
        code("plan::nested-environment"),
        help(
            "an environment inside another would be deleted with it on the next rebuild: give one of them a `path` outside the other"
        )
    )]
    Nested {
        name: String,
        path: PathBuf,
        /// `is inside` or `contains`.
        relation: &'static str,
        other: String,
        other_path: PathBuf,
        owner: PathBuf,
    },

    #[error("no resource `{address}` in this manifest")]
    #[diagnostic(code("plan::unknown-target"))]
    UnknownTarget {
        address: String,
        #[help]
        help: Option<String>,
    },
}
