//! Applying a plan: the step graph, the executor and the transaction.
//!
//! Each [`Change`] expands into a chain of steps (a petgraph DAG):
//!
//! ```text
//! check-runtime(R) ─┬─> [move-aside] -> create-venv -> seed-pip -> install-packages -> verify   (env A on R)
//!                   └─> [move-aside] -> create-venv -> ...                                     (env B on R)
//!                       move-aside                                                             (deleted env C)
//! ```
//!
//! Independent branches run in parallel, up to `jobs` at once. Every
//! mutation of the disk is journaled first ([`journal`]); on the first
//! failure or on Ctrl-C no new step starts, the running ones finish (or are
//! cancelled), and the journal is rolled back: replaced and deleted
//! environments come back from their asides, new ones are removed, and the
//! registry is not written (its serial does not move). On success the
//! registry is written, then the asides are removed.
//!
//! Updates are rebuilds: the environment is renamed aside and built fresh at
//! its path from the installer's cache. That makes an update exactly as
//! restorable as a replace, with no second code path; copying a large
//! environment aside costs as much as reinstalling it from a warm cache.

pub mod journal;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use petgraph::graph::{DiGraph, NodeIndex};
use uuid::Uuid;

use crate::installer::{self, Selected};
use crate::plan::{Action, Change, EnvSpec, package_changes};
use crate::registry::model::{EnvironmentRecord, PackageRecord, Status};
use crate::registry::{Home, HomeLock, Registry, RegistryError, store};
use crate::venv::{self, BaseInterpreter, CreateOptions, Marker, Seeded};
use journal::{Entry, Journal, JournalError};

/// One node of the step graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    CheckRuntime,
    MoveAside,
    CreateVenv,
    SeedPip,
    InstallPackages,
    Verify,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::CheckRuntime => "check-runtime",
            StepKind::MoveAside => "move-aside",
            StepKind::CreateVenv => "create-venv",
            StepKind::SeedPip => "seed-pip",
            StepKind::InstallPackages => "install-packages",
            StepKind::Verify => "verify",
        }
    }
}

#[derive(Debug, Clone)]
struct Step {
    kind: StepKind,
    /// `env.NAME` or `runtime.NAME`.
    address: String,
    /// Index into the changes (absent for runtime checks).
    change: Option<usize>,
    /// For runtime checks: the interpreter.
    interpreter: Option<PathBuf>,
}

/// Progress of an apply, for the reporter.
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
    },
    RolledBack {
        entries: usize,
    },
    Applied {
        add: usize,
        change: usize,
        destroy: usize,
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
    pub jobs: usize,
    pub cancel: &'a AtomicBool,
    pub progress: &'a dyn Progress,
    pub command: &'a str,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    #[error("{address}: {step} failed; every change was rolled back and the registry is unchanged")]
    #[diagnostic(code(apply::failed))]
    Step {
        address: String,
        step: &'static str,
        #[source]
        #[diagnostic_source]
        source: StepError,
    },

    #[error("interrupted; every change was rolled back and the registry is unchanged")]
    #[diagnostic(code(apply::interrupted))]
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
    Journal(#[from] JournalError),

    #[error("could not move `{}` aside", path.display())]
    #[diagnostic(code(apply::move_aside))]
    MoveAside {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("refusing to touch `{}`: it does not carry beep-python's marker for this manifest", path.display())]
    #[diagnostic(
        code(apply::not_ours),
        help(
            "beep-python only deletes or replaces what it created; move the folder away by hand if it is yours to remove"
        )
    )]
    NotOurs { path: PathBuf },

    #[error("the base interpreter `{}` is gone", path.display())]
    #[diagnostic(
        code(apply::runtime_missing),
        help("run `beep-python plan` again to pick another interpreter")
    )]
    RuntimeMissing { path: PathBuf },

    #[error("pip could not be seeded: {reason}")]
    #[diagnostic(
        code(apply::no_pip),
        help(
            "this interpreter bundles no pip wheel and has no `ensurepip`; install uv (`settings.installer = \"uv\"` needs no pip in the environment)"
        )
    )]
    NoPip { reason: String },

    #[error("after installing, these requirements are still not satisfied: {}", unsatisfied.join(", "))]
    #[diagnostic(code(apply::verify))]
    Verify { unsatisfied: Vec<String> },

    #[error("interrupted")]
    #[diagnostic(code(apply::interrupted))]
    Interrupted,
}

/// What a successful apply did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub serial: u64,
}

/// The graph for `changes`.
fn build_graph(changes: &[Change]) -> DiGraph<Step, ()> {
    let mut graph = DiGraph::new();
    let mut runtime_nodes: BTreeMap<PathBuf, NodeIndex> = BTreeMap::new();
    for (i, change) in changes.iter().enumerate() {
        let step = |kind| Step {
            kind,
            address: change.address.clone(),
            change: Some(i),
            interpreter: None,
        };
        let mut previous: Option<NodeIndex> = None;
        if let Some(spec) = &change.desired {
            let runtime = *runtime_nodes
                .entry(spec.interpreter.clone())
                .or_insert_with(|| {
                    graph.add_node(Step {
                        kind: StepKind::CheckRuntime,
                        address: format!("runtime.{}", spec.runtime),
                        change: None,
                        interpreter: Some(spec.interpreter.clone()),
                    })
                });
            previous = Some(runtime);
        }
        let kinds: &[StepKind] = match change.action {
            Action::Create => &[
                StepKind::CreateVenv,
                StepKind::SeedPip,
                StepKind::InstallPackages,
                StepKind::Verify,
            ],
            Action::Update | Action::Replace => &[
                StepKind::MoveAside,
                StepKind::CreateVenv,
                StepKind::SeedPip,
                StepKind::InstallPackages,
                StepKind::Verify,
            ],
            Action::Delete => &[StepKind::MoveAside],
        };
        for kind in kinds {
            let node = graph.add_node(step(*kind));
            if let Some(p) = previous {
                graph.add_edge(p, node, ());
            }
            previous = Some(node);
        }
    }
    graph
}

/// Shared state of one apply.
struct Run<'a> {
    changes: &'a [Change],
    settings: &'a Settings<'a>,
    journal: Mutex<Journal>,
}

impl Run<'_> {
    fn record(&self, entry: Entry) -> Result<(), StepError> {
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        Ok(journal.record(entry)?)
    }

    fn aside_name(&self, path: &Path) -> PathBuf {
        let id = self
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .short_id();
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".beep-old-{id}"));
        path.with_file_name(name)
    }

    fn run_step(&self, step: &Step) -> Result<(), StepError> {
        if self.settings.cancel.load(Ordering::SeqCst) {
            return Err(StepError::Interrupted);
        }
        let change = step.change.map(|i| &self.changes[i]);
        match step.kind {
            StepKind::CheckRuntime => {
                let path = step.interpreter.clone().unwrap_or_default();
                if !path.is_file() {
                    return Err(StepError::RuntimeMissing { path });
                }
                Ok(())
            }
            StepKind::MoveAside => {
                let change = change.expect("env steps have a change");
                self.move_aside(&change.path)
            }
            StepKind::CreateVenv => {
                let spec = desired(change);
                self.record(Entry::Creating {
                    path: spec.path.clone(),
                })?;
                let base = base_of(spec);
                venv::create(
                    &spec.path,
                    &base,
                    &CreateOptions {
                        name: &spec.name,
                        system_site_packages: spec.system_site_packages,
                        env_vars: &spec.env,
                    },
                )?;
                venv::write_marker(
                    &spec.path,
                    &Marker {
                        version: 1,
                        name: spec.name.clone(),
                        owner: self.settings.owner.to_path_buf(),
                        spec_hash: spec.spec_hash.clone(),
                        created_at: jiff::Timestamp::now(),
                    },
                )?;
                Ok(())
            }
            StepKind::SeedPip => {
                // uv installs into an environment without pip in it, and
                // `uv venv` makes none: with uv, pip is there only when a
                // profile asks for it (`base` does), like any package.
                if self.settings.selected.kind == installer::Kind::Uv {
                    return Ok(());
                }
                let spec = desired(change);
                let layout = venv::layout(&spec.path, &spec.python_version);
                // Unpacked once into the cache, then hard-linked: creating
                // ~600 files is most of the cost of seeding (uv does the same).
                let cache = self.settings.home.cache_dir().join("wheels");
                match venv::seed_pip_cached(&layout, &base_of(spec), Some(&cache))? {
                    Seeded::Wheel { .. } | Seeded::Ensurepip => Ok(()),
                    Seeded::Unavailable { reason } => Err(StepError::NoPip { reason }),
                }
            }
            StepKind::InstallPackages => {
                let spec = desired(change);
                crate::failpoint::pause("install-packages", self.settings.cancel);
                if self.settings.cancel.load(Ordering::SeqCst) {
                    return Err(StepError::Interrupted);
                }
                if spec.packages.is_empty() {
                    return Ok(());
                }
                let layout = venv::layout(&spec.path, &spec.python_version);
                installer::install_cancellable(
                    self.settings.selected,
                    self.settings.installer,
                    &installer::Request {
                        python: &layout.python,
                        requirements: &spec.packages,
                        environment: &spec.name,
                    },
                    self.settings.cancel,
                )
                .map_err(|e| {
                    if self.settings.cancel.load(Ordering::SeqCst) {
                        StepError::Interrupted
                    } else {
                        StepError::Install(e)
                    }
                })?;
                Ok(())
            }
            StepKind::Verify => {
                let spec = desired(change);
                let observed = venv::observe(&spec.path);
                let missing = package_changes(&spec.packages, &observed.packages);
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(StepError::Verify {
                        unsatisfied: missing
                            .add
                            .into_iter()
                            .chain(missing.change.into_iter().map(|c| c.required))
                            .collect(),
                    })
                }
            }
        }
    }

    fn move_aside(&self, path: &Path) -> Result<(), StepError> {
        if std::fs::symlink_metadata(path).is_err() {
            // Already gone: nothing to keep.
            return Ok(());
        }
        // Only what carries our marker for this manifest is ever moved.
        let ours = venv::read_marker(path).is_some_and(|m| m.owner == self.settings.owner);
        if !ours {
            return Err(StepError::NotOurs {
                path: path.to_path_buf(),
            });
        }
        let aside = self.aside_name(path);
        self.record(Entry::MovedAside {
            from: path.to_path_buf(),
            to: aside.clone(),
        })?;
        crate::failpoint::hit("move-aside-after-journal").map_err(|source| {
            StepError::MoveAside {
                path: path.to_path_buf(),
                source,
            }
        })?;
        fs_err::rename(path, &aside).map_err(|source| StepError::MoveAside {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn desired(change: Option<&Change>) -> &EnvSpec {
    change
        .and_then(|c| c.desired.as_ref())
        .expect("build steps belong to a change with a desired spec")
}

fn base_of(spec: &EnvSpec) -> BaseInterpreter {
    BaseInterpreter {
        executable: spec.interpreter.clone(),
        version: spec.python_version.clone(),
        implementation: spec.implementation.clone(),
    }
}

/// Runs the graph with up to `jobs` steps at once. Returns the first
/// failure (and lets the steps already running finish).
fn execute(run: &Run<'_>, graph: &DiGraph<Step, ()>, jobs: usize) -> Result<(), (Step, StepError)> {
    struct State {
        ready: VecDeque<NodeIndex>,
        waiting_on: Vec<usize>,
        running: usize,
        done: usize,
        failure: Option<(Step, StepError)>,
    }
    let mut waiting_on = vec![0; graph.node_count()];
    for edge in graph.raw_edges() {
        waiting_on[edge.target().index()] += 1;
    }
    let ready: VecDeque<NodeIndex> = graph
        .node_indices()
        .filter(|n| waiting_on[n.index()] == 0)
        .collect();
    let state = Mutex::new(State {
        ready,
        waiting_on,
        running: 0,
        done: 0,
        failure: None,
    });
    let wake = Condvar::new();
    let total = graph.node_count();
    let progress = run.settings.progress;

    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(total.max(1)) {
            scope.spawn(|| {
                loop {
                    let node = {
                        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            // Idle workers leave on a failure or Ctrl-C; the
                            // ones running a step finish it first.
                            let stop =
                                s.failure.is_some() || run.settings.cancel.load(Ordering::SeqCst);
                            if s.done == total || stop {
                                wake.notify_all();
                                return;
                            }
                            if let Some(n) = s.ready.pop_front() {
                                s.running += 1;
                                break n;
                            }
                            if s.running == 0 {
                                // Nothing ready and nothing running: the
                                // rest can never become ready.
                                return;
                            }
                            s = wake
                                .wait_timeout(s, Duration::from_millis(100))
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                        }
                    };
                    let step = &graph[node];
                    progress.event(&Event::StepStarted {
                        address: step.address.clone(),
                        step: step.kind,
                    });
                    let started = Instant::now();
                    let result = run.run_step(step);
                    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                    s.running -= 1;
                    match result {
                        Ok(()) => {
                            progress.event(&Event::StepFinished {
                                address: step.address.clone(),
                                step: step.kind,
                                elapsed_ms: started.elapsed().as_millis(),
                            });
                            s.done += 1;
                            for next in graph.neighbors(node) {
                                s.waiting_on[next.index()] -= 1;
                                if s.waiting_on[next.index()] == 0 {
                                    s.ready.push_back(next);
                                }
                            }
                        }
                        Err(error) => {
                            progress.event(&Event::StepFailed {
                                address: step.address.clone(),
                                step: step.kind,
                                error: error.to_string(),
                            });
                            if s.failure.is_none() {
                                s.failure = Some((step.clone(), error));
                            }
                        }
                    }
                    wake.notify_all();
                }
            });
        }
    });
    let state = state.into_inner().unwrap_or_else(|e| e.into_inner());
    match state.failure {
        Some(failure) => Err(failure),
        None if state.done < total => match graph.node_indices().next() {
            Some(first) => Err((graph[first].clone(), StepError::Interrupted)),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// Applies `changes` as one transaction and records the result.
pub fn apply(
    changes: &[Change],
    registry: &mut Registry,
    settings: &Settings<'_>,
) -> Result<Applied, ApplyError> {
    let journal = Journal::begin(settings.home, registry, settings.command)?;
    let run = Run {
        changes,
        settings,
        journal: Mutex::new(journal),
    };
    let graph = build_graph(changes);
    let outcome = execute(&run, &graph, settings.jobs);
    let journal = run.journal.into_inner().unwrap_or_else(|e| e.into_inner());

    if let Err((step, error)) = outcome {
        let entries = journal.rollback()?;
        settings.progress.event(&Event::RolledBack { entries });
        if matches!(error, StepError::Interrupted) || settings.cancel.load(Ordering::SeqCst) {
            return Err(ApplyError::Interrupted);
        }
        return Err(ApplyError::Step {
            address: step.address,
            step: step.kind.as_str(),
            source: error,
        });
    }

    // Commit: the new registry, then the asides go.
    let mut next = registry.clone();
    let now = jiff::Timestamp::now();
    let mut applied = Applied::default();
    for change in changes {
        match change.action {
            Action::Create => applied.add += 1,
            Action::Update => applied.change += 1,
            Action::Replace => {
                applied.add += 1;
                applied.destroy += 1;
            }
            Action::Delete => applied.destroy += 1,
        }
        let previous = next.environments.iter().position(|e| e.name == change.name);
        match &change.desired {
            None => {
                if let Some(i) = previous {
                    next.environments.remove(i);
                }
            }
            Some(spec) => {
                let observed = venv::observe(&spec.path);
                let old = previous.map(|i| next.environments.remove(i));
                next.environments.push(EnvironmentRecord {
                    id: old
                        .as_ref()
                        .map_or_else(|| Uuid::new_v4().to_string(), |o| o.id.clone()),
                    name: spec.name.clone(),
                    kind: match spec.kind {
                        crate::manifest::EnvironmentKind::Venv => "venv".into(),
                        crate::manifest::EnvironmentKind::Conda => "conda".into(),
                    },
                    path: spec.path.clone(),
                    runtime: spec.runtime.clone(),
                    interpreter: Some(spec.interpreter.clone()),
                    version: spec.python_version.clone(),
                    managed: true,
                    owner: Some(settings.owner.to_path_buf()),
                    spec_hash: Some(spec.spec_hash.clone()),
                    created_at: old.as_ref().map_or(now, |o| o.created_at),
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
                    warnings: Vec::new(),
                    errors: Vec::new(),
                });
            }
        }
    }
    next.environments.sort_by(|a, b| a.name.cmp(&b.name));
    let mut journal = journal;
    journal.prepare_commit(registry.serial + 1)?;
    if let Err(e) = store::save(settings.home, &mut next, settings.lock) {
        let entries = journal.rollback()?;
        settings.progress.event(&Event::RolledBack { entries });
        return Err(e.into());
    }
    crate::failpoint::hit("after-registry-commit")
        .map_err(|e| ApplyError::Registry(RegistryError::Io(e)))?;
    journal.finish_commit()?;
    *registry = next;
    applied.serial = registry.serial;
    settings.progress.event(&Event::Applied {
        add: applied.add,
        change: applied.change,
        destroy: applied.destroy,
        serial: applied.serial,
    });
    Ok(applied)
}
