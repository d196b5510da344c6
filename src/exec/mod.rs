//! Applying a plan: the step graph, the executor and the transaction.
//!
//! Each [`Change`] expands into a chain of steps (a petgraph DAG):
//!
//! ```text
//! check-runtime(R) ─┬─> [move-aside] -> create-venv -> seed-pip -> install-packages -> verify   (env A on R)
//!                   └─> [move-aside] -> create-venv -> ...                                     (env B on R)
//!                       move-aside                                                             (deleted env C)
//! download(S) -> extract -> configure -> [move-aside] -> verify-interpreter ─┬─> ...           (env D on managed S)
//!                                                                            └─> [move-aside old folder of S]
//! ```
//!
//! A managed runtime's steps are those of [`crate::provision`]; an
//! environment on it starts after its `verify-interpreter`, one on a system
//! interpreter after a `check-runtime` that the interpreter is still there.
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

use crate::fetch;
use crate::installer::{self, Selected};
use crate::manifest::RuntimeSource;
use crate::plan::{Action, Change, EnvSpec, package_changes};
use crate::provision::{self, ProvisionError, RuntimeSpec};
use crate::registry::model::{
    EnvironmentRecord, PackageRecord, RuntimeKind, RuntimeRecord, Status,
};
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
    Download,
    Extract,
    Configure,
    VerifyInterpreter,
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
            StepKind::Download => "download",
            StepKind::Extract => "extract",
            StepKind::Configure => "configure",
            StepKind::VerifyInterpreter => "verify-interpreter",
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
    /// For moves: what is moved aside, when not the change's path.
    target: Option<PathBuf>,
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
    /// A download's progress (a few times a second at most).
    Downloading {
        address: String,
        bytes: u64,
        total: Option<u64>,
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

    #[error(transparent)]
    #[diagnostic(transparent)]
    Provision(#[from] ProvisionError),

    #[error("could not move `{}` aside", path.display())]
    #[diagnostic(code(apply::move_aside))]
    MoveAside {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("refusing to touch `{}`: it does not carry beep-python's marker", path.display())]
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
    let chain = |graph: &mut DiGraph<Step, ()>,
                 mut previous: Option<NodeIndex>,
                 steps: Vec<Step>|
     -> Option<NodeIndex> {
        for step in steps {
            let node = graph.add_node(step);
            if let Some(p) = previous {
                graph.add_edge(p, node, ());
            }
            previous = Some(node);
        }
        previous
    };
    let step = |i: usize, kind, target: Option<PathBuf>| Step {
        kind,
        address: changes[i].address.clone(),
        change: Some(i),
        interpreter: None,
        target,
    };

    // Managed runtimes first: environments on them wait for them. Two
    // runtime names may resolve to one folder: the second waits for the
    // first, then finds it in place.
    let mut root_nodes: BTreeMap<PathBuf, NodeIndex> = BTreeMap::new();
    for (i, change) in changes.iter().enumerate() {
        if !change.is_runtime() {
            continue;
        }
        let Some(spec) = &change.runtime else {
            if !change.keep_folder {
                chain(&mut graph, None, vec![step(i, StepKind::MoveAside, None)]);
            }
            continue;
        };
        let mut steps = vec![
            step(i, StepKind::Download, None),
            step(i, StepKind::Extract, None),
            step(i, StepKind::Configure, None),
        ];
        if change.in_place {
            // Same folder, other bytes: the old one goes aside just before
            // the new one is renamed into place.
            steps.push(step(i, StepKind::MoveAside, Some(spec.root.clone())));
        }
        steps.push(step(i, StepKind::VerifyInterpreter, None));
        let after = root_nodes.get(&spec.root).copied();
        let last = chain(&mut graph, after, steps);
        if let Some(last) = last {
            root_nodes.insert(spec.root.clone(), last);
        }
        if let Some(old) = &change.retire {
            chain(
                &mut graph,
                last,
                vec![step(i, StepKind::MoveAside, Some(old.clone()))],
            );
        }
        if let Some(last) = last {
            runtime_nodes.insert(spec.interpreter.clone(), last);
        }
    }

    for (i, change) in changes.iter().enumerate() {
        if change.is_runtime() {
            continue;
        }
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
                        target: None,
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
        chain(
            &mut graph,
            previous,
            kinds.iter().map(|k| step(i, *k, None)).collect(),
        );
    }
    graph
}

/// Where a runtime being provisioned is, between its steps.
#[derive(Debug, Default, Clone)]
struct Staged {
    /// Decided once, at `download`: the runtime was already in place with
    /// these bytes, so the steps after it only check it.
    installed: bool,
    archive: Option<PathBuf>,
    staging: Option<PathBuf>,
    root: Option<PathBuf>,
}

/// Turns download progress into throttled [`Event::Downloading`]s.
struct DownloadProgress<'a> {
    address: &'a str,
    progress: &'a dyn Progress,
    state: Mutex<(u64, Option<u64>, Option<Instant>)>,
}

impl fetch::Progress for DownloadProgress<'_> {
    fn started(&self, _url: &str, total: Option<u64>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = (0, total, None);
    }

    fn advanced(&self, bytes: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += bytes;
        let due = state
            .2
            .is_none_or(|last| last.elapsed() >= Duration::from_millis(200));
        if due {
            state.2 = Some(Instant::now());
            self.progress.event(&Event::Downloading {
                address: self.address.to_string(),
                bytes: state.0,
                total: state.1,
            });
        }
    }

    fn finished(&self) {}
}

/// Shared state of one apply.
struct Run<'a> {
    changes: &'a [Change],
    settings: &'a Settings<'a>,
    journal: Mutex<Journal>,
    staged: Mutex<BTreeMap<usize, Staged>>,
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
                let change = change.expect("move steps have a change");
                let path = step.target.as_ref().unwrap_or(&change.path);
                self.move_aside(path, change.is_runtime())
            }
            StepKind::Download
            | StepKind::Extract
            | StepKind::Configure
            | StepKind::VerifyInterpreter => {
                let index = step.change.expect("runtime steps have a change");
                self.runtime_step(step, index)
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
                let layout = venv::layout(&spec.path, &spec.python_version);
                // A tool stopped by Ctrl-C reports the interruption.
                let install_error = |e| {
                    if self.settings.cancel.load(Ordering::SeqCst) {
                        StepError::Interrupted
                    } else {
                        StepError::Install(e)
                    }
                };
                if let Some(locked) = &spec.locked {
                    // Exactly the lock, hash-checked; extras removed.
                    installer::sync(
                        self.settings.selected,
                        self.settings.installer,
                        &layout.python,
                        locked,
                        &spec.name,
                        self.settings.cancel,
                    )
                    .map_err(install_error)?;
                    return Ok(());
                }
                if spec.packages.is_empty() {
                    return Ok(());
                }
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
                .map_err(install_error)?;
                Ok(())
            }
            StepKind::Verify => {
                let spec = desired(change);
                let observed = venv::observe(&spec.path);
                let missing = match &spec.locked {
                    Some(locked) => {
                        let diff = crate::plan::locked_changes(&observed.packages, locked);
                        if diff.is_empty() {
                            return Ok(());
                        }
                        return Err(StepError::Verify {
                            unsatisfied: diff
                                .add
                                .into_iter()
                                .chain(diff.change.into_iter().map(|c| {
                                    format!("{}=={} (found {})", c.name, c.required, c.installed)
                                }))
                                .chain(diff.remove.into_iter().map(|r| format!("not {r}")))
                                .collect(),
                        });
                    }
                    None => package_changes(&spec.packages, &observed.packages),
                };
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

    /// One step of provisioning a managed runtime; see [`provision`].
    fn runtime_step(&self, step: &Step, index: usize) -> Result<(), StepError> {
        let change = &self.changes[index];
        let spec: &RuntimeSpec = change
            .runtime
            .as_ref()
            .expect("runtime steps belong to a change with a runtime spec");
        let staged = || {
            self.staged
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&index)
                .cloned()
                .unwrap_or_default()
        };
        let update = |f: &dyn Fn(&mut Staged)| {
            let mut all = self.staged.lock().unwrap_or_else(|e| e.into_inner());
            f(all.entry(index).or_default());
        };
        let cancel = self.settings.cancel;
        let missing = |what: &'static str| {
            StepError::Provision(ProvisionError::Sequence {
                step: step.kind.as_str(),
                what,
            })
        };
        // Check, then act: a runtime already in place with these bytes is
        // only checked. Decided once, before anything moves.
        if step.kind == StepKind::Download && provision::is_installed(spec) {
            update(&|s| s.installed = true);
            return Ok(());
        }
        let installed = staged().installed;
        match step.kind {
            StepKind::Download => {
                let progress = DownloadProgress {
                    address: &change.address,
                    progress: self.settings.progress,
                    state: Mutex::new((0, None, None)),
                };
                let cache = fetch::Cache::new(self.settings.home.cache_dir().join("downloads"));
                let archive = provision::download(
                    spec,
                    &cache,
                    self.settings.installer.offline,
                    &progress,
                    cancel,
                )
                .map_err(|e| interrupted_or(cancel, e))?;
                update(&|s| s.archive = Some(archive.clone()));
                Ok(())
            }
            StepKind::Extract if !installed => {
                let archive = staged().archive.ok_or_else(|| missing("download"))?;
                let runtimes = self.settings.home.runtimes_dir();
                let staging = runtimes.join(format!(
                    ".staging-{}-{}-{}",
                    spec.id(),
                    spec.name,
                    self.short_id()
                ));
                self.record(Entry::Creating {
                    path: staging.clone(),
                })?;
                let root = provision::extract(spec, &archive, &staging)?;
                update(&|s| {
                    s.staging = Some(staging.clone());
                    s.root = Some(root.clone());
                });
                // Lets a test kill the process with a full staging folder.
                crate::failpoint::pause("extract", cancel);
                if cancel.load(Ordering::SeqCst) {
                    return Err(StepError::Interrupted);
                }
                Ok(())
            }
            StepKind::Configure if !installed => {
                let root = staged().root.ok_or_else(|| missing("unpacked runtime"))?;
                provision::configure(spec, &root)?;
                Ok(())
            }
            StepKind::VerifyInterpreter if installed => {
                provision::verify_interpreter(spec, &spec.interpreter, cancel)
                    .map_err(|e| interrupted_or(cancel, e))
            }
            StepKind::VerifyInterpreter => {
                let staged = staged();
                let root = staged.root.ok_or_else(|| missing("unpacked runtime"))?;
                let interpreter = provision::interpreter_in(&root, spec.source, &spec.platform);
                provision::verify_interpreter(spec, &interpreter, cancel)
                    .map_err(|e| interrupted_or(cancel, e))?;
                provision::write_marker(spec, &root)?;
                // Only a folder this apply creates is journaled for removal:
                // never one that appeared meanwhile.
                if std::fs::symlink_metadata(&spec.root).is_ok() {
                    return Err(StepError::Provision(ProvisionError::Occupied {
                        path: spec.root.clone(),
                    }));
                }
                self.record(Entry::Creating {
                    path: spec.root.clone(),
                })?;
                fs_err::rename(&root, &spec.root).map_err(|source| {
                    StepError::Provision(ProvisionError::Io {
                        action: "move into place",
                        path: spec.root.clone(),
                        source,
                    })
                })?;
                if let Some(staging) = staged.staging
                    && staging != root
                {
                    let _ = fs_err::remove_dir_all(&staging);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn short_id(&self) -> String {
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .short_id()
    }

    fn move_aside(&self, path: &Path, runtime: bool) -> Result<(), StepError> {
        if std::fs::symlink_metadata(path).is_err() {
            // Already gone: nothing to keep.
            return Ok(());
        }
        // Only what carries our marker (for this manifest, for an
        // environment) is ever moved.
        let ours = if runtime {
            provision::read_marker(path).is_some()
        } else {
            venv::read_marker(path).is_some_and(|m| m.owner == self.settings.owner)
        };
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

/// A step cancelled by Ctrl-C reports the interruption, not what the
/// cancellation made fail.
fn interrupted_or(cancel: &AtomicBool, error: ProvisionError) -> StepError {
    if cancel.load(Ordering::SeqCst) {
        StepError::Interrupted
    } else {
        StepError::Provision(error)
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
        staged: Mutex::new(BTreeMap::new()),
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
        if change.is_runtime() {
            record_runtime(&mut next, change, settings.owner, now);
            continue;
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
    crate::runtimes::sort_runtimes(&mut next.runtimes);
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

/// The registry after a runtime change: this manifest's record of the
/// runtime is replaced (or removed, for a delete).
fn record_runtime(registry: &mut Registry, change: &Change, owner: &Path, now: jiff::Timestamp) {
    let ours =
        |r: &RuntimeRecord| r.managed && r.owner.as_deref() == Some(owner) && r.name == change.name;
    let old = registry
        .runtimes
        .iter()
        .position(ours)
        .map(|i| registry.runtimes.remove(i));
    // An old folder that stays (something still uses it) stays recorded,
    // under its folder's name, so that a later apply retires it once unused.
    if let (Some(old), Some(spec)) = (&old, &change.runtime)
        && old.root.is_some()
        && old.root.as_ref() != Some(&spec.root)
        && change.retire.is_none()
        && !registry
            .runtimes
            .iter()
            .any(|r| r.root == old.root && r.owner == old.owner)
    {
        let mut kept = old.clone();
        kept.name = kept.id.clone();
        registry.runtimes.push(kept);
    }
    let Some(spec) = &change.runtime else {
        if registry.default_runtime.as_deref() == Some(change.name.as_str()) {
            registry.default_runtime = None;
        }
        return;
    };
    let arch = spec.platform.split('-').nth(1).map(str::to_string);
    let real_path = std::fs::canonicalize(&spec.interpreter).ok();
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
