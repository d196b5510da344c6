//! The step graph: each [`Change`] expands into a chain of typed steps,
//! and every step variant carries exactly what it needs.
//!
//! ```text
//! check-runtime(R) ─┬─> [set-aside] -> create-venv -> seed-pip -> install-packages -> verify   (env A on R)
//!                   └─> create-venv -> ... -> verify -> set-aside(old path)                   (env B on R, moved)
//!                       set-aside                                                            (deleted env C)
//! download(S) -> extract -> configure -> [set-aside] -> verify-interpreter ─┬─> ...          (env D on managed S)
//!                                                                           └─> [set-aside old folder of S]
//! ```
//!
//! A locked environment is installed by the native installer
//! ([`crate::wheel`]) whatever `settings.installer` says (its package set
//! is known exactly); an unlocked one by uv or pip. With uv or the native
//! installer, `seed-pip` comes after `install-packages`: an exact sync
//! removes what the lock does not list, pip included. With pip, pip
//! installs, so it is seeded first. Every build and update ends with
//! `record-inventory`: every installed file, for the next plan to check.
//!
//! An update changes the environment in place, after a restore point:
//!
//! ```text
//! [check-runtime] -> snapshot -> reconfigure -> update-packages -> [seed-pip] -> verify -> record-inventory
//! ```
//!
//! A conda environment has no runtime to check (it brings its own python):
//!
//! ```text
//! create-conda -> [install-pypi-packages] -> verify                          (create; replace after set-aside)
//! snapshot -> update-conda -> [install-pypi-packages] -> verify              (update in place)
//! ```
//!
//! A move builds at the new path first and sets the old folder aside last,
//! so a failed build leaves the old environment untouched. A rename and an
//! adopt change only the registry: they have no steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::installer;
use crate::plan::{Change, EnvAction, EnvSpec, HomeAction, PackageChanges, RuntimeAction};
use crate::provision::RuntimeSpec;

/// A managed runtime being provisioned: its spec, and what its steps hand
/// to each other (each set once, by the step that makes it).
#[derive(Debug)]
pub struct RuntimeJob<'p> {
    pub address: String,
    pub spec: &'p RuntimeSpec,
    /// Decided once, at `download`: the runtime is already in place with
    /// these bytes, so the steps after it only check it.
    pub installed: OnceLock<bool>,
    pub archive: OnceLock<PathBuf>,
    pub staging: OnceLock<PathBuf>,
    /// The unpacked root inside `staging`.
    pub unpacked: OnceLock<PathBuf>,
}

/// What a folder being set aside must prove before it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owned {
    /// An environment: our marker, with this manifest as its owner.
    Environment,
    /// A managed runtime: our runtime marker, inside `<home>/runtimes/`.
    Runtime,
    /// Our own debris, as [`super::sweep::classify`] proves it.
    Debris,
}

/// One node of the graph.
#[derive(Debug)]
pub enum Step<'a, 'p> {
    /// A system interpreter is still there.
    CheckRuntime {
        address: String,
        interpreter: &'p Path,
    },
    Download(&'a RuntimeJob<'p>),
    Extract(&'a RuntimeJob<'p>),
    Configure(&'a RuntimeJob<'p>),
    /// Runs the interpreter in staging, then puts it in place.
    VerifyInterpreter(&'a RuntimeJob<'p>),
    /// Sets a folder aside until the commit removes it (or a rollback puts
    /// it back).
    SetAside {
        address: String,
        path: &'p Path,
        owned: Owned,
    },
    CreateVenv(&'p EnvSpec),
    SeedPip(&'p EnvSpec),
    InstallPackages(&'p EnvSpec),
    Verify(&'p EnvSpec),
    /// Rewrites `pyvenv.cfg` and the `bin/python` link from the base
    /// interpreter `from` to `spec.interpreter`, through the journal.
    Repoint {
        spec: &'p EnvSpec,
        from: &'p Path,
    },
    /// A restore point before an environment is changed in place.
    Snapshot(&'p EnvSpec),
    /// `pyvenv.cfg`, the activation scripts (env vars) and the marker of
    /// an existing environment, brought up to date.
    Reconfigure(&'p EnvSpec),
    /// Only the packages that differ, in place.
    UpdatePackages(&'p EnvSpec, &'p PackageChanges),
    RecordInventory(&'p EnvSpec),
    /// A conda environment built in its claimed folder: its conda packages
    /// linked, its marker written.
    CreateConda(&'p EnvSpec),
    /// A conda environment's conda packages changed in place (after a
    /// restore point), its PyPI packages no longer required removed.
    UpdateConda(&'p EnvSpec, &'p PackageChanges),
    /// A conda environment's `pypi-packages`, with its own python.
    InstallPypi(&'p EnvSpec),
}

/// The name of a step, for progress and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    CheckRuntime,
    MoveAside,
    CreateVenv,
    SeedPip,
    InstallPackages,
    Verify,
    Snapshot,
    Reconfigure,
    UpdatePackages,
    RecordInventory,
    CreateConda,
    UpdateConda,
    InstallPypi,
    Download,
    Extract,
    Configure,
    VerifyInterpreter,
    Repoint,
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
            StepKind::Snapshot => "snapshot",
            StepKind::Reconfigure => "reconfigure",
            StepKind::UpdatePackages => "update-packages",
            StepKind::RecordInventory => "record-inventory",
            StepKind::CreateConda => "create-conda",
            StepKind::UpdateConda => "update-conda",
            StepKind::InstallPypi => "install-pypi-packages",
            StepKind::Download => "download",
            StepKind::Extract => "extract",
            StepKind::Configure => "configure",
            StepKind::VerifyInterpreter => "verify-interpreter",
            StepKind::Repoint => "repoint",
        }
    }
}

impl Step<'_, '_> {
    pub fn kind(&self) -> StepKind {
        match self {
            Step::CheckRuntime { .. } => StepKind::CheckRuntime,
            Step::Download(_) => StepKind::Download,
            Step::Extract(_) => StepKind::Extract,
            Step::Configure(_) => StepKind::Configure,
            Step::VerifyInterpreter(_) => StepKind::VerifyInterpreter,
            Step::SetAside { .. } => StepKind::MoveAside,
            Step::CreateVenv(_) => StepKind::CreateVenv,
            Step::SeedPip(_) => StepKind::SeedPip,
            Step::InstallPackages(_) => StepKind::InstallPackages,
            Step::Verify(_) => StepKind::Verify,
            Step::Repoint { .. } => StepKind::Repoint,
            Step::Snapshot(_) => StepKind::Snapshot,
            Step::Reconfigure(_) => StepKind::Reconfigure,
            Step::UpdatePackages(..) => StepKind::UpdatePackages,
            Step::RecordInventory(_) => StepKind::RecordInventory,
            Step::CreateConda(_) => StepKind::CreateConda,
            Step::UpdateConda(..) => StepKind::UpdateConda,
            Step::InstallPypi(_) => StepKind::InstallPypi,
        }
    }

    /// `env.NAME` or `runtime.NAME`.
    pub fn address(&self) -> String {
        match self {
            Step::CheckRuntime { address, .. } | Step::SetAside { address, .. } => address.clone(),
            Step::Download(job)
            | Step::Extract(job)
            | Step::Configure(job)
            | Step::VerifyInterpreter(job) => job.address.clone(),
            Step::CreateVenv(spec)
            | Step::SeedPip(spec)
            | Step::InstallPackages(spec)
            | Step::Verify(spec)
            | Step::Repoint { spec, .. }
            | Step::Snapshot(spec)
            | Step::Reconfigure(spec)
            | Step::UpdatePackages(spec, _)
            | Step::RecordInventory(spec)
            | Step::CreateConda(spec)
            | Step::UpdateConda(spec, _)
            | Step::InstallPypi(spec) => format!("env.{}", spec.name),
        }
    }
}

/// One runtime job per managed runtime the changes provision.
pub fn runtime_jobs(changes: &[Change]) -> Vec<RuntimeJob<'_>> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Runtime(r) => r.action.spec().map(|spec| RuntimeJob {
                address: c.address(),
                spec,
                installed: reinstalled(&r.action),
                archive: OnceLock::new(),
                staging: OnceLock::new(),
                unpacked: OnceLock::new(),
            }),
            Change::Environment(_) | Change::Home(_) => None,
        })
        .collect()
}

/// An in-place replacement (`--replace runtime.NAME`, or `doctor --fix`
/// reinstalling a damaged runtime) is never "already in place": its folder
/// holds the same archive's bytes by its marker, but it goes aside and a
/// fresh copy is unpacked. Deciding it from the marker made the steps skip
/// the unpacking and then verify the folder they had just set aside.
fn reinstalled(action: &RuntimeAction) -> OnceLock<bool> {
    let installed = OnceLock::new();
    if let RuntimeAction::Replace { in_place: true, .. } = action {
        let _ = installed.set(false);
    }
    installed
}

/// The graph for `changes`; `jobs` are [`runtime_jobs`] of the same
/// changes.
pub fn build<'a, 'p>(
    changes: &'p [Change],
    jobs: &'a [RuntimeJob<'p>],
    installer: installer::Kind,
) -> DiGraph<Step<'a, 'p>, ()> {
    let mut graph = DiGraph::new();
    let chain = |graph: &mut DiGraph<Step<'a, 'p>, ()>,
                 mut previous: Option<NodeIndex>,
                 steps: Vec<Step<'a, 'p>>|
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

    // Managed runtimes first: environments on them wait for them. Two
    // runtime names may resolve to one folder: the second waits for the
    // first, then finds it in place.
    let mut after_interpreter: BTreeMap<&Path, NodeIndex> = BTreeMap::new();
    let mut after_root: BTreeMap<&Path, NodeIndex> = BTreeMap::new();
    for change in changes {
        let Change::Runtime(r) = change else {
            continue;
        };
        let address = change.address();
        let job = r
            .action
            .spec()
            .and_then(|spec| jobs.iter().find(|j| std::ptr::eq(j.spec, spec)));
        match (&r.action, job) {
            (RuntimeAction::Delete { root }, _) => {
                chain(
                    &mut graph,
                    None,
                    vec![Step::SetAside {
                        address,
                        path: root,
                        owned: Owned::Runtime,
                    }],
                );
            }
            (RuntimeAction::Forget { .. }, _) => {}
            (
                RuntimeAction::Create { .. }
                | RuntimeAction::Replace { .. }
                | RuntimeAction::Adopt { .. },
                None,
            ) => {}
            (action @ RuntimeAction::Create { .. }, Some(job))
            | (action @ RuntimeAction::Replace { .. }, Some(job))
            | (action @ RuntimeAction::Adopt { .. }, Some(job)) => {
                let mut steps = vec![
                    Step::Download(job),
                    Step::Extract(job),
                    Step::Configure(job),
                ];
                if let RuntimeAction::Replace { in_place: true, .. } = action {
                    // Same folder, other bytes: the old one goes aside just
                    // before the new one is put in place.
                    steps.push(Step::SetAside {
                        address: address.clone(),
                        path: &job.spec.root,
                        owned: Owned::Runtime,
                    });
                }
                steps.push(Step::VerifyInterpreter(job));
                let after = after_root.get(job.spec.root.as_path()).copied();
                let last = chain(&mut graph, after, steps);
                if let RuntimeAction::Replace {
                    retire: Some(old), ..
                } = action
                {
                    chain(
                        &mut graph,
                        last,
                        vec![Step::SetAside {
                            address,
                            path: old,
                            owned: Owned::Runtime,
                        }],
                    );
                }
                if let Some(last) = last {
                    after_root.insert(&job.spec.root, last);
                    after_interpreter.insert(&job.spec.interpreter, last);
                }
            }
        }
    }

    for change in changes {
        let Change::Environment(e) = change else {
            continue;
        };
        let address = change.address();
        // A conda environment brings its own python: nothing to wait for.
        let mut runtime_node = |spec: &'p EnvSpec, graph: &mut DiGraph<Step<'a, 'p>, ()>| {
            if spec.conda.is_some() {
                return None;
            }
            Some(
                *after_interpreter
                    .entry(spec.interpreter.as_path())
                    .or_insert_with(|| {
                        graph.add_node(Step::CheckRuntime {
                            address: format!("runtime.{}", spec.runtime),
                            interpreter: &spec.interpreter,
                        })
                    }),
            )
        };
        let build = |spec: &'p EnvSpec| -> Vec<Step<'a, 'p>> {
            if spec.conda.is_some() {
                let mut steps = vec![Step::CreateConda(spec)];
                if !spec.packages.is_empty() {
                    steps.push(Step::InstallPypi(spec));
                }
                steps.push(Step::Verify(spec));
                return steps;
            }
            let mut steps = vec![Step::CreateVenv(spec)];
            // pip installs with pip; the native installer and uv do not need
            // it, and their exact syncs would remove it.
            let pip_installs = spec.locked.is_none() && installer == installer::Kind::Pip;
            if pip_installs {
                steps.push(Step::SeedPip(spec));
            }
            steps.push(Step::InstallPackages(spec));
            if spec.pip && !pip_installs {
                steps.push(Step::SeedPip(spec));
            }
            steps.push(Step::Verify(spec));
            steps.push(Step::RecordInventory(spec));
            steps
        };
        match &e.action {
            EnvAction::Create { spec } => {
                let start = runtime_node(spec, &mut graph);
                chain(&mut graph, start, build(spec));
            }
            EnvAction::Update { spec, packages, .. } if spec.conda.is_some() => {
                let mut steps = vec![Step::Snapshot(spec), Step::UpdateConda(spec, packages)];
                if !spec.packages.is_empty() {
                    steps.push(Step::InstallPypi(spec));
                }
                steps.push(Step::Verify(spec));
                chain(&mut graph, None, steps);
            }
            EnvAction::Update { spec, packages, .. } => {
                let start = runtime_node(spec, &mut graph);
                let mut steps = vec![
                    Step::Snapshot(spec),
                    Step::Reconfigure(spec),
                    Step::UpdatePackages(spec, packages),
                ];
                if spec.pip {
                    steps.push(Step::SeedPip(spec));
                }
                steps.push(Step::Verify(spec));
                steps.push(Step::RecordInventory(spec));
                chain(&mut graph, start, steps);
            }
            EnvAction::Replace { spec, .. } => {
                let start = runtime_node(spec, &mut graph);
                let mut steps = vec![Step::SetAside {
                    address,
                    path: &spec.path,
                    owned: Owned::Environment,
                }];
                steps.extend(build(spec));
                chain(&mut graph, start, steps);
            }
            EnvAction::Move { spec, from, .. } => {
                let start = runtime_node(spec, &mut graph);
                let mut steps = build(spec);
                steps.push(Step::SetAside {
                    address,
                    path: from,
                    owned: Owned::Environment,
                });
                chain(&mut graph, start, steps);
            }
            EnvAction::Delete { path } => {
                chain(
                    &mut graph,
                    None,
                    vec![Step::SetAside {
                        address,
                        path,
                        owned: Owned::Environment,
                    }],
                );
            }
            EnvAction::Repoint { spec, from } => {
                let start = runtime_node(spec, &mut graph);
                chain(&mut graph, start, vec![Step::Repoint { spec, from }]);
            }
            EnvAction::Rename { .. } | EnvAction::Adopt { .. } => {}
        }
    }
    home_steps(changes, &mut graph);
    graph
}

/// The home's upkeep: each sweep sets its path aside (removed at commit);
/// the registry edits have no steps, the commit writes them.
fn home_steps<'a, 'p>(changes: &'p [Change], graph: &mut DiGraph<Step<'a, 'p>, ()>) {
    for change in changes {
        let Change::Home(h) = change else {
            continue;
        };
        match &h.action {
            HomeAction::Sweep { path } => {
                graph.add_node(Step::SetAside {
                    address: change.address(),
                    path,
                    owned: Owned::Debris,
                });
            }
            HomeAction::PruneEnvironment { .. }
            | HomeAction::PruneRuntime { .. }
            | HomeAction::ReplaceDefault { .. }
            | HomeAction::RestoreRegistry { .. } => {}
        }
    }
}
