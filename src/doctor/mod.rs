//! `beep-python doctor`: health checks over the home, its runtimes and its
//! environments; repair through the normal plan; saved reports.
//!
//! Owns `<home>/health-reports/` ([`reports`]).
//!
//! # Checks
//!
//! A check is one entry of [`checks()`]: a stable kebab-case id, the group
//! it belongs to (runtimes, environments, home), what it looks at, what
//! `--fix` does about it (if anything), and whether it starts Python. Each
//! returns [`Finding`]s: a severity (`info`, `warning`, `error`,
//! `critical`), the resource (`home`, `runtime.NAME`, `env.NAME`), what was
//! found, and the recommended action in words and, where one exists, as
//! the command that does it.
//!
//! Nothing is re-derived. The manifest's plan is computed as `plan`
//! computes it (`desired::build -> observe -> plan::diff`, by the caller,
//! handed in as [`ManifestState`] with its [`Planned::observation`]), and
//! the environments it covers are judged from that very observation: their
//! [`crate::venv::Observed`], and their damaged packages as
//! [`crate::observe::damage`] compared them with the inventory (hashed
//! with `--deep`, as `plan --refresh=full`). Other manifests' environments
//! go through the same functions. An environment's health is
//! [`crate::plan::health::classify`]; drift against the manifest and the
//! lock is the plan's own changes; installed files are compared by
//! [`crate::inventory`] (by the packages' `RECORD` for an environment built
//! before inventories existed); shared libraries are read by [`elf`]
//! (Linux) and [`imports`] (Mach-O on macOS, PE on Windows),
//! dependencies by [`deps`]; our debris is what [`crate::exec::sweep`]
//! says, an interrupted apply is what [`crate::exec::journal::inspect`]
//! reads.
//!
//! Fast by default: file reads only, no Python process, and no folder
//! walked that the inventory already lists (`env-untracked` reads the top
//! of `site-packages`; `env-libraries` takes the extension modules from
//! the inventory). `--deep` adds the checks that run each interpreter once
//! (version, standard modules), hash every installed file and each managed
//! runtime against its archive, and walk every folder of `site-packages`
//! for untracked files. [`Report::processes_started`] counts every process
//! a run started, discovery's probes included. `bench/doctor.sh` measures
//! a no-problem run over 20 environments.
//!
//! # Repair
//!
//! [`fix::plan`] turns findings into the normal plan ([`crate::plan::Change`]s)
//! that `apply`'s transaction executes, all or nothing: the plan's own
//! change for drift; an in-place update (a restore point first) that
//! reinstalls damaged packages at their version
//! ([`crate::plan::PackageChanges::reinstall`], as the plan does for the
//! damage it sees) or adds what installed packages require; a rebuild for
//! what cannot be mended in place ([`Remedy::Rebuild`]: no `pyvenv.cfg`,
//! dangling links, another minor version); a re-point
//! ([`crate::plan::EnvAction::Repoint`]) for an environment whose base
//! interpreter moved; and home upkeep ([`crate::plan::HomeAction`]):
//! sweeping our debris, pruning records whose folders vanished, replacing a
//! missing default runtime, restoring an unreadable registry. Taking the
//! home lock finishes or rolls back an interrupted apply first (the same
//! code as `recover`). A finding `--fix` cannot repair says what to do.
//!
//! # Recovery strategies
//!
//! - **Interpreter moved** (a pyenv or Homebrew upgrade or a reinstall put
//!   the same Python elsewhere): an interpreter of the same implementation
//!   and the same full version (`3.11.2`, not just `3.11`) is looked up
//!   among the interpreter the manifest's runtime now resolves to and the
//!   recorded runtimes (discovery's, no process started). The environment
//!   is re-pointed (`pyvenv.cfg` and the `bin/python` link rewritten
//!   through the journal) when that is safe: the same version means the
//!   same `site-packages` layout and ABI, and the environment links its
//!   interpreter rather than copying it ([`crate::exec::repoint`]). It is
//!   re-pointed only to the interpreter the manifest itself now chooses, so
//!   that the next plan agrees; otherwise it is rebuilt. The registry keeps
//!   the old path in its history.
//! - **Default runtime missing**: the replacement is the newest ready
//!   runtime of the same minor version (`3.11.2` -> `3.11.9`), else the
//!   newest supported one. Same minor first because what used the default
//!   keeps its ABI (compiled extensions, `lib/python3.X`) and the newest
//!   patch has the fixes; failing that no replacement keeps the ABI, and
//!   the newest is what discovery ranks first and new environments would
//!   get. The finding says which and why; `--fix` records it and keeps the
//!   event in the registry's history.
//! - **Registry references broken**: records whose folders vanished are
//!   reported; `--fix` prunes them (the commit keeps the previous registry
//!   in `backups/`).

mod archive;
pub mod deps;
pub mod elf;
mod environments;
pub mod fix;
mod home;
pub mod imports;
mod installed;
pub mod render;
pub mod reports;
mod runtimes;
pub mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::desired::{Desired, EnvSpec};
use crate::exec::journal::{self, Inspection};
use crate::inventory::{Damage, Inventory, PackageDamage};
use crate::observe::{Depth, Observation};
use crate::plan::{Change, HomeChange, PackageChanges, Reason};
use crate::registry::model::{EnvironmentRecord, Registry};
use crate::registry::{Home, store};
use crate::venv::Observed;

/// The format of a report (`--format json`, `<home>/health-reports/*.json`).
pub const REPORT_VERSION: u32 = 1;

/// How bad a finding is. Anything at [`Severity::Warning`] or above makes
/// `doctor` exit 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    /// Whether it makes the machine unhealthy (exit 2).
    pub fn is_problem(self) -> bool {
        self >= Severity::Warning
    }
}

/// What a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Runtimes,
    Environments,
    Home,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Runtimes => "runtimes",
            Group::Environments => "environments",
            Group::Home => "home",
        }
    }
}

/// One check of [`checks()`].
pub struct Check {
    /// Stable, kebab-case: `doctor ID` runs it alone.
    pub id: &'static str,
    pub group: Group,
    /// What it looks at, for `--list`.
    pub looks_at: &'static str,
    /// What `--fix` does about what it finds; `None`: it says what to do.
    pub fix: Option<&'static str>,
    /// Runs only with `--deep` (or when named).
    pub deep_only: bool,
    /// When it starts Python processes (never otherwise).
    pub python: Option<&'static str>,
    run: fn(&Scan<'_>) -> Vec<Finding>,
}

/// Every check, in the order they run and are listed.
pub fn checks() -> &'static [Check] {
    CHECKS
}

static CHECKS: &[Check] = &[
    Check {
        id: "runtime-exists",
        group: Group::Runtimes,
        looks_at: "each registered runtime's executable exists and is executable; discovered runtimes that went missing",
        fix: Some(
            "re-provisions this manifest's managed runtimes; prunes records of discovered ones that are gone",
        ),
        deep_only: false,
        python: None,
        run: runtimes::exists,
    },
    Check {
        id: "runtime-runs",
        group: Group::Runtimes,
        looks_at: "each runtime runs and reports the version recorded for it",
        fix: None,
        deep_only: true,
        python: Some("runs each runtime once (shared with runtime-modules)"),
        run: runtimes::runs,
    },
    Check {
        id: "runtime-modules",
        group: Group::Runtimes,
        looks_at: "ssl, sqlite3, zlib, ctypes and venv import in each runtime",
        fix: None,
        deep_only: true,
        python: Some("runs each runtime once (shared with runtime-runs)"),
        run: runtimes::modules,
    },
    Check {
        id: "runtime-libraries",
        group: Group::Runtimes,
        looks_at: "the shared libraries each runtime and its lib-dynload (Windows: DLLs) modules need resolve (ELF, Mach-O and PE headers read natively)",
        fix: Some("reinstalls this manifest's managed runtime when a library it ships is gone"),
        deep_only: false,
        python: None,
        run: runtimes::libraries,
    },
    Check {
        id: "runtime-files",
        group: Group::Runtimes,
        looks_at: "each managed runtime's files match the archive it was unpacked from (hashed)",
        fix: Some("reinstalls this manifest's managed runtime"),
        deep_only: true,
        python: None,
        run: runtimes::files,
    },
    Check {
        id: "runtime-default",
        group: Group::Runtimes,
        looks_at: "the default runtime exists; if not, which replaces it (same minor, then newest supported)",
        fix: Some("records the replacement as the default"),
        deep_only: false,
        python: None,
        run: runtimes::default,
    },
    Check {
        id: "env-pyvenv",
        group: Group::Environments,
        looks_at: "each environment's `pyvenv.cfg` is present and names a `home`",
        fix: Some("rebuilds it (this manifest's environments)"),
        deep_only: false,
        python: None,
        run: environments::pyvenv,
    },
    Check {
        id: "env-base-interpreter",
        group: Group::Environments,
        looks_at: "each environment's base interpreter exists; if it moved, where the same Python is now",
        fix: Some("re-points it to the same Python where that is safe, else rebuilds it"),
        deep_only: false,
        python: None,
        run: environments::base_interpreter,
    },
    Check {
        id: "env-version",
        group: Group::Environments,
        looks_at: "the version in `pyvenv.cfg` matches the base interpreter's",
        fix: Some("rebuilds it when the plan does"),
        deep_only: false,
        python: Some("with --deep: runs each base interpreter once"),
        run: environments::version,
    },
    Check {
        id: "env-links",
        group: Group::Environments,
        looks_at: "the `bin/python*` links resolve",
        fix: Some("rebuilds it"),
        deep_only: false,
        python: None,
        run: environments::links,
    },
    Check {
        id: "env-files",
        group: Group::Environments,
        looks_at: "installed files against the inventory, as the plan's observation compares them (hashed with --deep; without an inventory, the packages' RECORD): missing or altered, with the package that owns them; `__pycache__` ignored",
        fix: Some("reinstalls the damaged packages"),
        deep_only: false,
        python: None,
        run: installed::files,
    },
    Check {
        id: "env-untracked",
        group: Group::Environments,
        looks_at: "files at the top of site-packages and in bin/ that no installed package owns (with --deep, every folder of site-packages); reported, never deleted",
        fix: None,
        deep_only: false,
        python: None,
        run: installed::untracked,
    },
    Check {
        id: "env-dependencies",
        group: Group::Environments,
        looks_at: "every installed distribution's `Requires-Dist` is met, markers evaluated for its interpreter (`pip check` without pip)",
        fix: Some("updates it with what is missing"),
        deep_only: false,
        python: None,
        run: environments::dependencies,
    },
    Check {
        id: "env-extraneous",
        group: Group::Environments,
        looks_at: "installed packages that nothing in the manifest requires (unlocked environments; with a lock, the plan removes them)",
        fix: None,
        deep_only: false,
        python: None,
        run: environments::extraneous,
    },
    Check {
        id: "env-libraries",
        group: Group::Environments,
        looks_at: "the shared libraries of every extension module in site-packages resolve (ELF, Mach-O and PE headers read natively), with the package that needs them",
        fix: Some("reinstalls the package when the library is one it ships"),
        deep_only: false,
        python: None,
        run: environments::libraries,
    },
    Check {
        id: "env-drift",
        group: Group::Environments,
        looks_at: "drift against the manifest and the lock: the plan's own verdict",
        fix: Some("applies the plan's change"),
        deep_only: false,
        python: Some("only when discovery's cache is stale (as `plan`)"),
        run: environments::drift,
    },
    Check {
        id: "registry-readable",
        group: Group::Home,
        looks_at: "`registry.json` is readable; if not, whether a valid backup exists",
        fix: Some("restores it from the newest valid backup, keeping the unreadable one"),
        deep_only: false,
        python: None,
        run: home::registry_readable,
    },
    Check {
        id: "registry-backups",
        group: Group::Home,
        looks_at: "the backups of `registry.json` are present and valid",
        fix: None,
        deep_only: false,
        python: None,
        run: home::registry_backups,
    },
    Check {
        id: "registry-references",
        group: Group::Home,
        looks_at: "records whose folders vanished (other manifests' environments, managed runtimes)",
        fix: Some("prunes them (the previous registry is kept in `backups/`)"),
        deep_only: false,
        python: None,
        run: home::registry_references,
    },
    Check {
        id: "journal",
        group: Group::Home,
        looks_at: "a journal left by an apply that crashed or was killed",
        fix: Some("finishes or rolls it back (as `recover`)"),
        deep_only: false,
        python: None,
        run: home::journal,
    },
    Check {
        id: "stuck",
        group: Group::Home,
        looks_at: "undos an earlier rollback could not do (`<home>/stuck/`)",
        fix: Some("retries them (as `recover`)"),
        deep_only: false,
        python: None,
        run: home::stuck,
    },
    Check {
        id: "debris",
        group: Group::Home,
        looks_at: "stray staging folders, asides no journal names, stale claims and temporary files (only ours)",
        fix: Some("sweeps them"),
        deep_only: false,
        python: None,
        run: home::debris,
    },
    Check {
        id: "cache-size",
        group: Group::Home,
        looks_at: "how much `<home>/cache` holds",
        fix: None,
        deep_only: false,
        python: None,
        run: home::cache_size,
    },
    Check {
        id: "lock-holder",
        group: Group::Home,
        looks_at: "the home lock's holder note: a live holder, or a stale note of a dead one",
        fix: None,
        deep_only: false,
        python: None,
        run: home::lock_holder,
    },
];

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The check's id.
    pub check: String,
    pub severity: Severity,
    /// `home`, `runtime.NAME`, `env.NAME` or `manifest`.
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// What was found.
    pub found: String,
    /// What to do, in words.
    pub action: String,
    /// The command that does it, where one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `doctor --fix` repairs it.
    pub fixable: bool,
    /// What `--fix` does (not saved in reports).
    #[serde(skip)]
    pub remedy: Option<Remedy>,
}

/// What `--fix` does about a finding, as [`fix::plan`] turns it into
/// changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Remedy {
    /// The plan's own change for this address.
    Plan { address: String },
    /// The environment of this manifest is updated in place (a restore
    /// point first, see [`crate::exec`]) with these package lines.
    Update {
        env: String,
        reason: Reason,
        packages: PackageChanges,
    },
    /// The environment of this manifest is rebuilt (set aside, built again
    /// on the interpreter the manifest chooses): what cannot be mended in
    /// place.
    Rebuild { env: String, reason: Reason },
    /// The environment is re-pointed from `from` (gone) to `to`.
    Repoint {
        env: String,
        from: PathBuf,
        to: PathBuf,
    },
    /// This manifest's managed runtime is reinstalled in place.
    Reinstall { runtime: String, reason: Reason },
    /// Upkeep of the home.
    Home(HomeChange),
    /// Taking the home lock does it: an interrupted apply is finished or
    /// rolled back, stuck entries are retried.
    Recover,
}

/// Counts by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub critical: usize,
    pub error: usize,
    pub warning: usize,
    pub info: usize,
    /// Nothing at warning or above.
    pub healthy: bool,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Self {
        let mut s = Summary::default();
        for f in findings {
            match f.severity {
                Severity::Critical => s.critical += 1,
                Severity::Error => s.error += 1,
                Severity::Warning => s.warning += 1,
                Severity::Info => s.info += 1,
            }
        }
        s.healthy = s.critical + s.error + s.warning == 0;
        s
    }

    /// `2 errors, 1 warning, 3 notes` (`no findings` when empty).
    pub fn counts(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let parts: Vec<String> = [
            (self.critical, "critical", "critical"),
            (self.error, "error", "errors"),
            (self.warning, "warning", "warnings"),
            (self.info, "note", "notes"),
        ]
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| plural(*n, one, many))
        .collect();
        if parts.is_empty() {
            "no findings".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One run of the checks: the document `--format json` prints and
/// `--watch` saves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_VERSION`]; a newer one is refused when read.
    pub format_version: u32,
    pub generated_at: jiff::Timestamp,
    pub home: PathBuf,
    /// The manifest whose plan `env-drift` used, if there was one.
    #[serde(default)]
    pub manifest: Option<PathBuf>,
    pub deep: bool,
    /// The ids of the checks that ran.
    pub checks: Vec<String>,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    /// Environments and runtimes looked at.
    pub environments: usize,
    pub runtimes: usize,
    /// Every process this run started (interpreter probes included).
    pub processes_started: usize,
    pub elapsed_ms: u64,
}

impl Report {
    /// The one-line summary: `2 errors, 1 warning in 22 checks over 3
    /// environments and 4 runtimes`.
    pub fn summary_line(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let head = if self.summary.healthy {
            match self.summary.info {
                0 => "healthy".to_string(),
                _ => format!("healthy ({})", self.summary.counts()),
            }
        } else {
            self.summary.counts()
        };
        format!(
            "{head}: {} over {} and {}, {} started",
            plural(self.checks.len(), "check"),
            plural(self.environments, "environment"),
            plural(self.runtimes, "runtime"),
            match self.processes_started {
                0 => "no process".to_string(),
                n => plural(n, "process").replace("processs", "processes"),
            }
        )
    }
}

/// The manifest next to the command, with the plan computed for it.
pub struct ManifestState {
    pub path: PathBuf,
    /// Its canonical path: the owner of what it creates.
    pub owner: PathBuf,
    /// The desired state, the observation and the plan, or why they could
    /// not be made.
    pub plan: Result<Planned, String>,
}

/// What `plan` computes, as `plan` computes it.
pub struct Planned {
    pub desired: Desired,
    /// What the plan was made from: doctor judges the folders it covers
    /// from it (with `--deep`, an observation that hashed every file).
    pub observation: Observation,
    pub changes: Vec<Change>,
}

impl ManifestState {
    pub fn desired(&self) -> Option<&Desired> {
        self.plan.as_ref().ok().map(|p| &p.desired)
    }

    pub fn changes(&self) -> &[Change] {
        self.plan.as_ref().map_or(&[], |p| p.changes.as_slice())
    }

    fn observation(&self) -> Option<&Observation> {
        self.plan.as_ref().ok().map(|p| &p.observation)
    }

    fn spec(&self, env: &str) -> Option<&EnvSpec> {
        self.desired()?.environments.iter().find(|e| e.name == env)
    }

    fn change(&self, address: &str) -> Option<&Change> {
        self.changes().iter().find(|c| c.address() == address)
    }
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub deep: bool,
    /// Check ids; empty: every check (deep-only ones with `deep`).
    pub only: Vec<String>,
}

/// Why doctor itself could not run (exit 1; 64 for an unknown check).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DoctorError {
    #[error("no check `{id}`")]
    #[diagnostic(code("doctor::unknown-check"))]
    UnknownCheck {
        id: String,
        #[help]
        help: Option<String>,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Report(#[from] reports::ReportError),
}

impl DoctorError {
    pub fn exit_code(&self) -> i32 {
        match self {
            DoctorError::UnknownCheck { .. } => 64,
            DoctorError::Report(_) => 1,
        }
    }
}

/// The checks `options` selects, in their order; an unknown id is an error
/// naming the closest one.
pub fn select(options: &Options) -> Result<Vec<&'static Check>, DoctorError> {
    for id in &options.only {
        if !CHECKS.iter().any(|c| c.id == id) {
            return Err(DoctorError::UnknownCheck {
                id: id.clone(),
                help: crate::diagnostic::suggestion(id, CHECKS.iter().map(|c| c.id))
                    .or_else(|| Some("`beep-python doctor --list` shows every check".into())),
            });
        }
    }
    Ok(CHECKS
        .iter()
        .filter(|c| {
            if options.only.is_empty() {
                options.deep || !c.deep_only
            } else {
                options.only.iter().any(|id| id == c.id)
            }
        })
        .collect())
}

/// The registry as found on disk.
pub enum RegistryState {
    Loaded {
        registry: Registry,
        /// The backup it was read from, when `registry.json` was unreadable.
        recovered_from: Option<PathBuf>,
        /// Why `registry.json` was not used.
        problem: Option<String>,
    },
    Unreadable {
        error: String,
    },
}

/// One environment doctor looks at.
pub struct EnvView<'a> {
    pub name: String,
    pub owner: Option<PathBuf>,
    pub path: PathBuf,
    pub record: Option<&'a EnvironmentRecord>,
    /// Set when the manifest at hand declares it (and owns it).
    pub spec: Option<&'a EnvSpec>,
    pub observed: Observed,
    /// Its packages whose files differ from its inventory, when the plan's
    /// observation covered it: `Some(None)` it has no inventory to compare
    /// with; `None` the plan did not look (another manifest's).
    pub planned_damage: Option<Option<Vec<PackageDamage>>>,
    /// Its stored inventory, for every check that needs it: the one the
    /// plan's observation read, else read here once.
    inventory: OnceLock<Option<Arc<Inventory>>>,
    /// Its files that differ from that inventory, one by one: as the
    /// plan's observation found them, else compared here once.
    damaged_files: OnceLock<Option<Vec<Damage>>>,
}

impl EnvView<'_> {
    pub fn address(&self) -> String {
        format!("env.{}", self.name)
    }

    /// Its stored inventory, if it has a readable one (read once).
    pub fn inventory(&self) -> Option<&Inventory> {
        self.inventory_arc().map(Arc::as_ref)
    }

    fn inventory_arc(&self) -> Option<&Arc<Inventory>> {
        self.inventory
            .get_or_init(|| {
                crate::inventory::read(&self.path)
                    .ok()
                    .flatten()
                    .map(Arc::new)
            })
            .as_ref()
    }

    /// Its installed files that differ from its inventory, checked to
    /// `depth` ([`crate::observe::compare`]): as the plan's observation
    /// found them, else compared now. `None`: no inventory.
    pub fn damaged_files(&self, depth: Depth) -> Option<&[Damage]> {
        self.damaged_files
            .get_or_init(|| {
                let inventory = self.inventory_arc()?;
                Some(crate::observe::compare(&self.path, inventory, depth))
            })
            .as_deref()
    }

    /// Its damaged packages as [`crate::observe::damage`] sees them: the
    /// plan's observation when it covered this folder, else the same
    /// comparison made now (with the inventory read once). `None`: no
    /// inventory to compare with.
    pub fn damage(&self, depth: Depth) -> Option<Vec<PackageDamage>> {
        match &self.planned_damage {
            Some(damage) => damage.clone(),
            None if crate::observe::compares_inventory(&self.observed) => {
                self.damaged_files(depth).map(crate::inventory::by_package)
            }
            None => crate::observe::damage(&self.path, &self.observed, depth),
        }
    }
}

/// What the checks read, gathered once per run.
pub struct Scan<'a> {
    pub home: &'a Home,
    pub registry: &'a RegistryState,
    pub manifest: Option<&'a ManifestState>,
    pub deep: bool,
    pub environments: Vec<EnvView<'a>>,
    pub inspection: Inspection,
    /// An apply holds the home (another process): who, for the findings.
    pub apply_running: Option<String>,
    pub elf: elf::Resolver,
    processes: AtomicUsize,
    probes: Mutex<HashMap<PathBuf, Result<runtimes::Probe, String>>>,
}

impl<'a> Scan<'a> {
    pub fn registry(&self) -> Option<&'a Registry> {
        match self.registry {
            RegistryState::Loaded { registry, .. } => Some(registry),
            RegistryState::Unreadable { .. } => None,
        }
    }

    /// Whether `owner` is the manifest at hand.
    pub fn is_ours(&self, owner: Option<&Path>) -> bool {
        self.manifest
            .is_some_and(|m| owner == Some(m.owner.as_path()))
    }

    /// `beep-python --manifest OWNER CMD`, for resources of another
    /// manifest (or `beep-python CMD` for ours).
    pub fn command_for(&self, owner: Option<&Path>, command: &str) -> String {
        match owner {
            Some(owner) if !self.is_ours(Some(owner)) => {
                format!("beep-python --manifest {} {command}", owner.display())
            }
            _ => format!("beep-python {command}"),
        }
    }

    /// How installed files are compared: hashed with `--deep`.
    pub fn depth(&self) -> Depth {
        if self.deep { Depth::Full } else { Depth::Cheap }
    }

    fn started(&self, n: usize) {
        self.processes.fetch_add(n, Ordering::Relaxed);
    }
}

/// Loads the registry the way every command does, keeping what happened.
pub fn load_registry(home: &Home) -> RegistryState {
    match store::load(home) {
        Ok(loaded) => RegistryState::Loaded {
            problem: loaded
                .recovered_from
                .as_ref()
                .map(|_| loaded.warnings.join("; ")),
            recovered_from: loaded.recovered_from,
            registry: loaded.registry,
        },
        Err(e) => RegistryState::Unreadable {
            error: e.to_string(),
        },
    }
}

/// Runs the selected checks and returns the report. Reads only (the
/// processes `--deep` starts excepted); `probes_run` is what computing
/// the manifest's plan started, counted in the report.
pub fn run(
    home: &Home,
    registry: &RegistryState,
    manifest: Option<&ManifestState>,
    options: &Options,
    probes_run: usize,
) -> Result<Report, DoctorError> {
    let started = Instant::now();
    let selected = select(options)?;
    let scan = scan(home, registry, manifest, options.deep);
    scan.started(probes_run);
    let mut findings = Vec::new();
    for check in &selected {
        findings.extend((check.run)(&scan));
    }
    // Grouped by resource, worst first within each, in check order.
    findings.sort_by(|a, b| {
        resource_rank(&a.resource)
            .cmp(&resource_rank(&b.resource))
            .then_with(|| a.resource.cmp(&b.resource))
            .then_with(|| b.severity.cmp(&a.severity))
    });
    let runtimes = scan.registry().map_or(0, |r| r.runtimes.len());
    Ok(Report {
        format_version: REPORT_VERSION,
        generated_at: jiff::Timestamp::now(),
        home: home.root().to_path_buf(),
        manifest: manifest.map(|m| m.path.clone()),
        deep: options.deep,
        checks: selected.iter().map(|c| c.id.to_string()).collect(),
        summary: Summary::of(&findings),
        environments: scan.environments.len(),
        runtimes,
        processes_started: scan.processes.load(Ordering::Relaxed),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        findings,
    })
}

/// `home` first, then `manifest`, runtimes, environments.
fn resource_rank(resource: &str) -> u8 {
    if resource == "home" || resource.starts_with("home.") {
        0
    } else if resource == "manifest" {
        1
    } else if resource.starts_with("runtime.") {
        2
    } else {
        3
    }
}

fn scan<'a>(
    home: &'a Home,
    registry: &'a RegistryState,
    manifest: Option<&'a ManifestState>,
    deep: bool,
) -> Scan<'a> {
    let records: &'a [EnvironmentRecord] = match registry {
        RegistryState::Loaded { registry, .. } => &registry.environments,
        RegistryState::Unreadable { .. } => &[],
    };
    let owner = manifest.map(|m| m.owner.as_path());
    let spec_of = |name: &str, record_owner: Option<&Path>| {
        manifest
            .filter(|_| record_owner == owner)
            .and_then(|m| m.spec(name))
    };
    // The plan's observation, where it looked; the same functions
    // elsewhere (another manifest's folders).
    let planned = manifest.and_then(ManifestState::observation);
    let view = |name: &str,
                owner: Option<PathBuf>,
                path: &Path,
                record: Option<&'a EnvironmentRecord>,
                spec: Option<&'a EnvSpec>| {
        let (observed, planned_damage, inventory, damaged_files) =
            match planned.and_then(|o| Some((o, o.environments.get(path)?))) {
                // What the plan's observation read, the inventory included
                // (it was asked to keep it): nothing is read twice.
                Some((o, observed)) => {
                    let (inventory, files) = match o.inspections.get(path) {
                        Some(i) => (
                            OnceLock::from(Some(i.inventory.clone())),
                            OnceLock::from(Some(i.files.clone())),
                        ),
                        // It compared nothing: no inventory, or not a
                        // folder it compares.
                        None if crate::observe::compares_inventory(observed) => {
                            (OnceLock::from(None), OnceLock::from(None))
                        }
                        None => (OnceLock::new(), OnceLock::new()),
                    };
                    (
                        observed.clone(),
                        Some(o.damage.get(path).cloned()),
                        inventory,
                        files,
                    )
                }
                None => (
                    crate::observe::environment(path),
                    None,
                    OnceLock::new(),
                    OnceLock::new(),
                ),
            };
        EnvView {
            name: name.to_string(),
            owner,
            path: path.to_path_buf(),
            record,
            spec,
            observed,
            planned_damage,
            inventory,
            damaged_files,
        }
    };
    let mut environments: Vec<EnvView<'a>> = records
        .iter()
        .map(|r| {
            view(
                &r.name,
                r.owner.clone(),
                &r.path,
                Some(r),
                spec_of(&r.name, r.owner.as_deref()),
            )
        })
        .collect();
    // This manifest's environments that are on disk but not recorded.
    if let Some(desired) = manifest.and_then(ManifestState::desired) {
        for spec in &desired.environments {
            let recorded = records
                .iter()
                .any(|r| r.name == spec.name && r.owner.as_deref() == owner);
            if recorded {
                continue;
            }
            let env = view(
                &spec.name,
                owner.map(Path::to_path_buf),
                &spec.path,
                None,
                Some(spec),
            );
            if env.observed.exists {
                environments.push(env);
            }
        }
    }
    let inspection = journal::inspect(home);
    let apply_running = home::apply_running(home, &inspection);
    Scan {
        home,
        registry,
        manifest,
        deep,
        environments,
        inspection,
        apply_running,
        elf: elf::Resolver::default(),
        processes: AtomicUsize::new(0),
        probes: Mutex::new(HashMap::new()),
    }
}

/// How the shared libraries of a binary are resolved on this OS: the
/// loader an interpreter is for what it loads ([`elf`] on Linux,
/// [`imports`] on macOS and Windows).
pub(crate) enum Libraries {
    Elf(elf::Loader),
    MachO(imports::MachOLoader),
    /// The runtime's folder (`python.exe`'s).
    Pe(PathBuf),
}

impl Scan<'_> {
    /// The loader the interpreter at `executable` (its real path) is for
    /// its extension modules; `None` on an OS whose binaries are not read.
    pub(crate) fn libraries_of(&self, executable: &Path) -> Option<Libraries> {
        if cfg!(target_os = "linux") {
            Some(Libraries::Elf(self.elf.loader_of(executable)))
        } else if cfg!(target_os = "macos") {
            let rpaths = match imports::read(executable) {
                Ok(Some((imports::Kind::MachO, found))) => found.rpaths,
                Ok(Some((imports::Kind::Pe, _)) | None) | Err(_) => Vec::new(),
            };
            Some(Libraries::MachO(imports::MachOLoader {
                executable: Some(executable.to_path_buf()),
                executable_rpaths: rpaths,
            }))
        } else if cfg!(windows) {
            Some(Libraries::Pe(
                executable.parent().unwrap_or(Path::new("")).to_path_buf(),
            ))
        } else {
            None
        }
    }

    /// What the binary at `object`, loaded by `libraries`' interpreter,
    /// needs and the loader would not find. `as_executable`: `object` is
    /// the interpreter itself (on Linux, nothing is loaded before it).
    pub(crate) fn missing_libraries(
        &self,
        object: &Path,
        libraries: &Libraries,
        as_executable: bool,
    ) -> Vec<elf::Missing> {
        match libraries {
            Libraries::Elf(_) if as_executable => self.elf.missing(object, &elf::Loader::default()),
            Libraries::Elf(loader) => self.elf.missing(object, loader),
            Libraries::MachO(loader) => imports::missing_macho(object, loader),
            Libraries::Pe(runtime) => imports::missing_pe(object, runtime),
        }
    }
}

/// Whether `path` is a compiled extension module on this OS (`.so`;
/// `.pyd` on Windows).
pub(crate) fn is_extension_module(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "so" || (cfg!(windows) && e.eq_ignore_ascii_case("pyd")))
}

/// What to do about a system library `library` that is missing, on this
/// OS.
pub(crate) fn install_hint(library: &str) -> String {
    let lower = library.to_ascii_lowercase();
    if cfg!(windows) && (lower.starts_with("vcruntime") || lower.starts_with("msvcp")) {
        format!("install the Microsoft Visual C++ Redistributable (it provides `{library}`)")
    } else if cfg!(windows) {
        format!("install what provides `{library}`, or put it next to the module")
    } else if cfg!(target_os = "macos") {
        format!("install what provides `{library}` (often a Homebrew formula: `brew install`)")
    } else {
        format!(
            "install the system package that provides `{library}` (`apt-file search {library}`, `dnf provides '*/{library}'`)"
        )
    }
}

/// A finding, built field by field by the checks.
pub(crate) fn finding(
    check: &'static str,
    severity: Severity,
    resource: impl Into<String>,
    found: impl Into<String>,
) -> Finding {
    Finding {
        check: check.to_string(),
        severity,
        resource: resource.into(),
        path: None,
        found: found.into(),
        action: String::new(),
        command: None,
        fixable: false,
        remedy: None,
    }
}

impl Finding {
    pub(crate) fn at(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub(crate) fn action(mut self, words: impl Into<String>) -> Self {
        self.action = words.into();
        self
    }

    pub(crate) fn command(mut self, command: impl Into<String>) -> Self {
        self.command = Some(command.into());
        self
    }

    /// `--fix` does it; the command is `beep-python doctor --fix`, unless a
    /// more specific one was given.
    pub(crate) fn fix(mut self, remedy: Remedy) -> Self {
        self.fixable = true;
        self.remedy = Some(remedy);
        if self.command.is_none() {
            self.command = Some("beep-python doctor --fix".into());
        }
        self
    }
}
