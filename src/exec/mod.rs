//! Applying a plan: one transaction over a graph of typed steps.
//!
//! - [`graph`]: each change expands into a chain of steps, each step
//!   carrying what it needs;
//! - [`schedule`]: independent branches run in parallel, up to `jobs`;
//! - [`steps`]: what each step does, check-then-act, one file per kind of
//!   step (an environment's folder, packages, a runtime);
//! - [`journal`]: every change to the disk is recorded before it is made,
//!   and undone only with proof that this run made it;
//! - [`commit`]: the registry after success;
//! - [`repoint`] and [`sweep`]: what `doctor --fix`'s re-point rewrites,
//!   and what counts as our debris (proven again when it is swept).
//!
//! On the first failure or on Ctrl-C no new step starts, the running ones
//! finish (or are cancelled), and the journal is rolled back: replaced and
//! deleted environments come back from their asides, new ones are removed,
//! and the registry is not written (its serial does not move). On success
//! the registry is written, then the asides are removed.
//!
//! Updates happen in place, after a restore point (issue 12), in
//! `<path>.beep-old-<run>` ([`journal::Journal::snapshot_scoped`],
//! [`restore`]): a listing of every entry, kept files stored flat in that
//! one folder. For a venv the shell (everything outside `site-packages`)
//! is linked at once, and the files of `site-packages` just before they
//! change: the native installer names them ([`journal::Journal::preserve`]);
//! pip and uv may write where no plan names, so every file is linked
//! before they start ([`journal::Journal::widen`], behind pip's start-up,
//! see [`crate::installer::install_gated`]). A conda environment's files
//! are all linked at once. Rollback and crash recovery merge it back.
//! Why scoped and flat: a whole snapshot costs a link per file and an
//! unlink per file after the commit, and a mirrored one a folder per
//! folder too, whose removal is the dearest part on a disk that discards
//! freed blocks: up to 1.9 s for numpy and pandas, many times the work of
//! adding one package (`bench/update.sh`). A hard-link snapshot is
//! only a restore point if nothing ever writes into an installed file in
//! place, since the snapshot shares its inodes: the native installer never
//! does (every write is a new file renamed over, [`crate::wheel`]), and for
//! pip and uv the test `pip_and_uv_never_write_into_an_installed_file_in_place`
//! (tests/it/update.rs) proves it: it hard-links a copy of an environment,
//! lets each upgrade, remove and add packages, and checks every file of the
//! copy still has its old contents. So no copy or reflink is needed for
//! either. A replace (runtime changed, base gone, broken venv) is still a
//! rebuild beside the old environment, set aside whole.

pub mod commit;
pub mod graph;
pub mod journal;
pub mod repoint;
pub mod restore;
pub mod schedule;
pub mod steps;
pub mod sweep;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::installer::{self, Selected};
use crate::plan::{Change, summarize};
use crate::provision::ProvisionError;
use crate::registry::{Home, HomeLock, Registry, RegistryError, store};
use crate::venv;
pub use graph::StepKind;
use journal::{ClaimError, Journal, JournalError, Leftover};

/// Progress of an apply, for the reporter (and, as JSON, for tools).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    StepStarted {
        address: String,
        step: StepKind,
    },
    StepFinished {
        address: String,
        step: StepKind,
        elapsed_ms: u128,
    },
    StepFailed {
        address: String,
        step: StepKind,
        error: String,
        /// Stopped by Ctrl-C (or SIGTERM), not failed on its own.
        interrupted: bool,
        elapsed_ms: u128,
    },
    /// What an install did to an environment: the packages it put in and
    /// took out, and how files were placed (`hardlink`, `clone`, `copy`;
    /// absent for pip and uv).
    Installed {
        address: String,
        installer: &'static str,
        link_mode: Option<String>,
        installed: Vec<String>,
        removed: Vec<String>,
    },
    /// What a running step's installer is doing now: a line of pip's or
    /// uv's output as it arrives (`Collecting numpy`, `Downloading
    /// pandas-2.2.2-...whl (13.0 MB)`), or the native installer's own
    /// (`downloading`, `unpacking`, `linking` a wheel).
    Activity {
        address: String,
        text: String,
    },
    /// A resource's downloads (a few times a second at most, and at the
    /// start and end of each file): `bytes` received by all of them, of
    /// `total`, the sum of the sizes of those started (`None` while one
    /// of unknown size runs); see [`crate::fetch::Aggregate`].
    Downloading {
        address: String,
        bytes: u64,
        total: Option<u64>,
    },
    RolledBack {
        entries: usize,
        leftovers: Vec<Leftover>,
    },
    Applied {
        add: usize,
        change: usize,
        destroy: usize,
        rename: usize,
        #[serde(rename = "move")]
        moves: usize,
        serial: u64,
    },
}

/// Receives [`Event`]s; implemented by the terminal reporter.
pub trait Progress: Sync {
    fn event(&self, event: &Event);
}

/// Everything an apply needs besides the changes.
pub struct Settings<'a> {
    pub home: &'a Home,
    pub lock: &'a HomeLock,
    /// The canonical path of the manifest (the owner of what is created).
    pub owner: &'a Path,
    pub installer: &'a installer::Config,
    pub selected: &'a Selected,
    /// How the native installer downloads (offline, plain http).
    pub fetch: crate::fetch::Options,
    /// `settings.compile-bytecode`: the native installer compiles `.pyc`
    /// files once per wheel into its cache.
    pub compile_bytecode: bool,
    /// `settings.unverified-record`: packages known to ship a wrong
    /// `RECORD` (normalized names).
    pub unverified_record: std::collections::BTreeSet<String>,
    pub jobs: usize,
    pub cancel: &'a AtomicBool,
    pub progress: &'a dyn Progress,
    pub command: &'a str,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    #[error("{address}: {step} failed; every change was rolled back and the registry is unchanged")]
    #[diagnostic(code("apply::failed"))]
    Step {
        address: String,
        step: &'static str,
        #[source]
        #[diagnostic_source]
        source: StepError,
    },

    #[error("interrupted; every change was rolled back and the registry is unchanged")]
    #[diagnostic(code("apply::interrupted"))]
    Interrupted,

    #[error(transparent)]
    #[diagnostic(transparent)]
    Journal(#[from] JournalError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] RegistryError),
}

/// Why one step failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StepError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Venv(#[from] venv::VenvError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Install(#[from] installer::InstallError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Claim(#[from] ClaimError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Wheel(crate::wheel::WheelError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Provision(#[from] ProvisionError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Conda(crate::conda::CondaError),

    #[error("environment `{name}` is not a conda environment")]
    #[diagnostic(code("apply::not-conda"))]
    NotConda { name: String },

    #[error("could not keep the files of `{}` that the update changes in its restore point; nothing was changed", path.display())]
    #[diagnostic(code("apply::restore-point"))]
    RestorePoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("could not move `{}` aside", path.display())]
    #[diagnostic(code("apply::move-aside"))]
    MoveAside {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("refusing to touch `{}`: it does not carry beep-python's marker", path.display())]
    #[diagnostic(
        code("apply::not-ours"),
        help(
            "beep-python only deletes or replaces what it created; move the folder away by hand if it is yours to remove"
        )
    )]
    NotOurs { path: PathBuf },

    #[error("the base interpreter `{}` is gone", path.display())]
    #[diagnostic(
        code("apply::runtime-missing"),
        help("run `beep-python plan` again to pick another interpreter")
    )]
    RuntimeMissing { path: PathBuf },

    #[error("pip could not be seeded: {reason}")]
    #[diagnostic(
        code("apply::no-pip"),
        help(
            "this interpreter bundles no pip wheel and has no `ensurepip`; set `pip = false` for the environment (or in `[settings]`) and use the `uv` installer"
        )
    )]
    NoPip { reason: String },

    #[error("after installing, these requirements are still not satisfied: {}", unsatisfied.join(", "))]
    #[diagnostic(code("apply::verify"))]
    Verify { unsatisfied: Vec<String> },

    #[error("interrupted")]
    #[diagnostic(code("apply::interrupted"))]
    Interrupted,

    #[error("`{}` cannot be re-pointed: {reason}", path.display())]
    #[diagnostic(
        code("apply::repoint"),
        help("rebuild it instead: `beep-python apply --replace env.NAME`")
    )]
    Repoint { path: PathBuf, reason: String },
}

/// What a successful apply did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub rename: usize,
    pub moves: usize,
    pub serial: u64,
    /// What the clean-up after the commit could not remove (retried by the
    /// next command).
    pub leftovers: Vec<Leftover>,
}

/// Reports each step to the progress sink.
struct StepEvents<'a> {
    progress: &'a dyn Progress,
    cancel: &'a AtomicBool,
}

impl schedule::Observer<graph::Step<'_, '_>, StepError> for StepEvents<'_> {
    fn started(&self, step: &graph::Step<'_, '_>) {
        self.progress.event(&Event::StepStarted {
            address: step.address(),
            step: step.kind(),
        });
    }

    fn finished(&self, step: &graph::Step<'_, '_>, elapsed: Duration) {
        self.progress.event(&Event::StepFinished {
            address: step.address(),
            step: step.kind(),
            elapsed_ms: elapsed.as_millis(),
        });
    }

    fn failed(&self, step: &graph::Step<'_, '_>, error: &StepError, elapsed: Duration) {
        self.progress.event(&Event::StepFailed {
            address: step.address(),
            step: step.kind(),
            error: error.to_string(),
            interrupted: matches!(error, StepError::Interrupted)
                || self.cancel.load(Ordering::SeqCst),
            elapsed_ms: elapsed.as_millis(),
        });
    }
}

/// Applies `changes` as one transaction and records the result.
pub fn apply(
    changes: &[Change],
    registry: &mut Registry,
    settings: &Settings<'_>,
) -> Result<Applied, ApplyError> {
    let journal = Journal::begin(settings.home, registry, settings.command)?;
    // Every child this run starts carries its id, so that a recovery after
    // a crash can stop the ones still running before it undoes anything.
    crate::process::set_run_id(&journal.id().to_string());
    let jobs = graph::runtime_jobs(changes);
    let graph = graph::build(changes, &jobs, settings.selected.kind);
    let run = steps::Run {
        settings,
        journal: &journal,
    };
    let events = StepEvents {
        progress: settings.progress,
        cancel: settings.cancel,
    };
    let outcome = schedule::run(&graph, settings.jobs, settings.cancel, &events, &|step| {
        run.run(step)
    });
    let failure = match outcome {
        schedule::Outcome::Done => None,
        schedule::Outcome::Interrupted => Some(ApplyError::Interrupted),
        schedule::Outcome::Failed(node, error) => Some(
            if matches!(error, StepError::Interrupted) || settings.cancel.load(Ordering::SeqCst) {
                ApplyError::Interrupted
            } else {
                ApplyError::Step {
                    address: graph[node].address(),
                    step: graph[node].kind().as_str(),
                    source: error,
                }
            },
        ),
    };
    drop(graph);
    if let Some(error) = failure {
        let undone = journal.rollback()?;
        settings.progress.event(&Event::RolledBack {
            entries: undone.entries,
            leftovers: undone.leftovers,
        });
        return Err(error);
    }

    // Commit: the new registry, then the asides go.
    let mut next = commit::next_registry(registry, changes, settings.owner);
    let serial = store::next_serial(registry)?;
    journal.prepare_commit(serial)?;
    crate::failpoint::crash_point("before-registry-commit");
    if let Err(e) = store::save(settings.home, &mut next, settings.lock) {
        let undone = journal.rollback()?;
        settings.progress.event(&Event::RolledBack {
            entries: undone.entries,
            leftovers: undone.leftovers,
        });
        return Err(e.into());
    }
    crate::failpoint::crash_point("after-registry-commit");
    crate::failpoint::hit("after-registry-commit")
        .map_err(|e| ApplyError::Registry(RegistryError::Io(e)))?;
    let finished = journal.finish_commit()?;
    commit::relabel_markers(changes);
    *registry = next;
    let s = summarize(changes);
    let applied = Applied {
        add: s.add,
        change: s.change,
        destroy: s.destroy,
        rename: s.rename,
        moves: s.moves,
        serial: registry.serial,
        leftovers: finished.leftovers,
    };
    settings.progress.event(&Event::Applied {
        add: applied.add,
        change: applied.change,
        destroy: applied.destroy,
        rename: applied.rename,
        moves: applied.moves,
        serial: applied.serial,
    });
    Ok(applied)
}
