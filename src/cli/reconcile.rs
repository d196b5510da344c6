//! `beep-python plan`, `apply`, `destroy` and `status`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::{CliError, Context, Outcome};
use crate::exec::{self, Event, Progress};
use crate::installer;
use crate::lockfile;
use crate::manifest::{self, Checked};
use crate::plan::saved::{SavedPlan, manifest_sha256};
use crate::plan::{Change, render};
use crate::reconcile;
use crate::registry::{Home, HomeLock, Registry, store};
use crate::report::{Format, Printer};
use crate::venv;

/// How the lock file is used (`plan` and `apply`).
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct LockFlags {
    /// Fail (exit 1, nothing changed) unless beep-python.lock exists and
    /// matches the manifest; install exactly what it pins.
    #[arg(long, conflicts_with = "frozen")]
    pub locked: bool,
    /// Install exactly what beep-python.lock pins, without checking it
    /// against the manifest.
    #[arg(long)]
    pub frozen: bool,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub lock: LockFlags,
    /// Exit 2 when there are changes, 0 when there are none (1 is an error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan for `beep-python apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Limit the plan to this resource (`env.NAME`, `runtime.NAME`); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub lock: LockFlags,
    /// A plan saved with `plan --out`; applied without a prompt, exactly as
    /// saved (it carries its lock pins and targets).
    #[arg(value_name = "PLANFILE", conflicts_with_all = ["locked", "frozen", "target"])]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Limit the apply to this resource (`env.NAME`, `runtime.NAME`); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// How many steps run at once (default: `settings.jobs`, else the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Option<u32>,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
}

/// The manifest, the locked home and the registry, ready for a change.
pub(super) struct Opened {
    pub(super) manifest_path: PathBuf,
    pub(super) checked: Checked,
    manifest_sha256: String,
    pub(super) owner: PathBuf,
    pub(super) home: Home,
    lock: HomeLock,
    pub(super) registry: Registry,
}

pub(super) fn open(ctx: &Context) -> Result<Opened, CliError> {
    let manifest_path = manifest::find(ctx.manifest.as_deref(), &ctx.cwd()?)?;
    let home = ctx.home()?;
    let checked = manifest::load(&manifest_path, home.root())?;
    for warning in checked.warnings.iter() {
        ctx.printer.diagnostic(warning);
    }
    // The text was read once, as UTF-8 exactly as on disk: hash that.
    let manifest_sha256 = manifest_sha256(checked.manifest.source.text.as_bytes());
    let (lock, registry) = super::open_home_for_change(ctx, &home)?;
    Ok(Opened {
        owner: reconcile::owner_of(&manifest_path),
        manifest_sha256,
        manifest_path,
        checked,
        home,
        lock,
        registry,
    })
}

/// How this command uses `beep-python.lock`: as it is (`--frozen`), only
/// if it matches (`--locked`), else where it matches (the default).
pub(super) fn lock_use(
    opened_manifest: &Path,
    flags: LockFlags,
) -> Result<reconcile::LockUse, CliError> {
    let path = lockfile::path_for(opened_manifest);
    let lock = lockfile::read(&path)?;
    Ok(match (lock, flags.locked, flags.frozen) {
        (None, false, false) => reconcile::LockUse::None,
        (None, _, _) => {
            return Err(CliError::Many(vec![Box::new(
                reconcile::DesiredError::NoLock { path },
            )]));
        }
        (Some(lock), true, _) => reconcile::LockUse::Locked(lock),
        (Some(lock), _, true) => reconcile::LockUse::Frozen(lock),
        (Some(lock), false, false) => reconcile::LockUse::Prefer(lock),
    })
}

fn compute(
    ctx: &Context,
    opened: &Opened,
    targets: &[String],
    flags: LockFlags,
) -> Result<Vec<Change>, CliError> {
    let lock = lock_use(&opened.manifest_path, flags)?;
    let desired = reconcile::desired_state(&opened.checked.manifest, &opened.home, &lock)
        .map_err(|errors| CliError::Many(errors.into_iter().map(|e| Box::new(e) as _).collect()))?;
    if !desired.stale.is_empty() {
        ctx.printer.warn(&format!(
            "beep-python.lock does not match the manifest; these are resolved from the manifest instead (run `beep-python lock`):\n{}",
            desired
                .stale
                .iter()
                .map(|l| format!("  - {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    let probes_run = desired.probes_run;
    // Environments are observed by reading files; only interpreter
    // discovery may start Python, and its cache usually answers.
    ctx.printer.debug(&format!(
        "observation started {probes_run} Python process{}",
        if probes_run == 1 { "" } else { "es" }
    ));
    let changes = reconcile::plan_changes(&opened.owner, &desired, &opened.registry, targets)
        .map_err(|problems| {
            CliError::Many(problems.into_iter().map(|e| Box::new(e) as _).collect())
        })?;
    ctx.printer.debug(&format!(
        "planned {} change{} for {} environment{}",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        desired.environments.len(),
        if desired.environments.len() == 1 {
            ""
        } else {
            "s"
        }
    ));
    Ok(changes)
}

fn print_plan(printer: &Printer, changes: &[Change]) -> Result<(), CliError> {
    match printer.format {
        Format::Human => printer.data(&render::human(changes))?,
        Format::Json => printer.json(&render::json(changes))?,
    }
    Ok(())
}

pub fn plan(ctx: &Context, args: &PlanArgs) -> Result<Outcome, CliError> {
    let opened = open(ctx)?;
    let changes = compute(ctx, &opened, &args.target, args.lock)?;
    drop_lock(opened.lock);
    print_plan(&ctx.printer, &changes)?;
    if let Some(out) = &args.out {
        let saved = SavedPlan {
            format_version: crate::plan::saved::SAVED_PLAN_VERSION,
            manifest: opened.manifest_path.clone(),
            manifest_sha256: opened.manifest_sha256.clone(),
            lineage: opened.registry.lineage,
            serial: opened.registry.serial,
            changes: changes.clone(),
        };
        saved
            .write(out)
            .map_err(|e| CliError::Write(out.clone(), e))?;
        ctx.printer.info(&format!(
            "saved the plan to `{}`; apply it with `beep-python apply {}`",
            out.display(),
            out.display()
        ));
    }
    Ok(if args.detailed_exitcode && !changes.is_empty() {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    })
}

fn drop_lock(lock: HomeLock) {
    drop(lock);
}

pub fn apply(ctx: &Context, args: &ApplyArgs) -> Result<Outcome, CliError> {
    let mut opened = open(ctx)?;
    let (changes, from_file) = match &args.plan {
        Some(file) => {
            let saved = SavedPlan::read(file)?;
            saved.check_fresh(
                &opened.manifest_sha256,
                opened.registry.lineage,
                opened.registry.serial,
            )?;
            (saved.changes, true)
        }
        None => (compute(ctx, &opened, &args.target, args.lock)?, false),
    };
    print_plan(&ctx.printer, &changes)?;
    if changes.is_empty() {
        return Ok(Outcome::Success);
    }
    if !from_file && !args.auto_approve {
        confirm("Apply these changes?")?;
    }
    let settings = &opened.checked.manifest.settings;
    let jobs = args
        .jobs
        .or(settings.jobs)
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    run_changes(ctx, &mut opened, &changes, jobs)
}

pub fn destroy(ctx: &Context, args: &DestroyArgs) -> Result<Outcome, CliError> {
    let mut opened = open(ctx)?;
    // Destroying is planning for a manifest that declares nothing: every
    // environment it manages goes, and its runtimes that nothing else uses.
    let changes = reconcile::plan_changes(
        &opened.owner,
        &reconcile::Desired::default(),
        &opened.registry,
        &[],
    )
    .map_err(|problems| CliError::Many(problems.into_iter().map(|e| Box::new(e) as _).collect()))?;
    print_plan(&ctx.printer, &changes)?;
    if changes.is_empty() {
        return Ok(Outcome::Success);
    }
    if !args.auto_approve {
        confirm("Destroy every environment this manifest manages?")?;
    }
    run_changes(ctx, &mut opened, &changes, 1)
}

fn confirm(question: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsApproval);
    }
    eprint!("{question} [yes/no]: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::Write(PathBuf::from("<stdin>"), e))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "yes" | "y") {
        Ok(())
    } else {
        Err(CliError::Declined)
    }
}

/// The Ctrl-C flag. The handler can be installed once per process.
pub(super) static CANCEL: AtomicBool = AtomicBool::new(false);

pub(super) fn run_changes(
    ctx: &Context,
    opened: &mut Opened,
    changes: &[Change],
    jobs: usize,
) -> Result<Outcome, CliError> {
    // A second Ctrl-C while rolling back is ignored: stopping a rollback
    // half-way would leave the machine in neither state.
    let _ = ctrlc::set_handler(|| CANCEL.store(true, Ordering::SeqCst));
    let config = reconcile::installer_config(&opened.checked.manifest);
    let needs_installer = changes.iter().any(|c| c.desired.is_some());
    let selected = if needs_installer {
        installer::select(&config, std::env::var_os("PATH").as_deref())?
    } else {
        installer::Selected {
            kind: installer::Kind::Pip,
            uv: None,
        }
    };
    let progress = Reporter::new(ctx.printer.clone());
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let settings = exec::Settings {
        home: &opened.home,
        lock: &opened.lock,
        owner: &opened.owner,
        installer: &config,
        selected: &selected,
        jobs,
        cancel: &CANCEL,
        progress: &progress,
        command: &command,
    };
    let applied = exec::apply(changes, &mut opened.registry, &settings)?;
    if ctx.printer.format == Format::Human {
        ctx.printer.info(&format!(
            "Apply complete! Resources: {} added, {} changed, {} destroyed.",
            applied.add, applied.change, applied.destroy
        ));
    }
    Ok(Outcome::Success)
}

/// Progress of an apply: on a terminal, one line per resource with its
/// current step and elapsed time, redrawn in place; otherwise plain lines
/// on stderr; with `--format json`, one JSON event per line on stdout.
struct Reporter {
    printer: Printer,
    live: Option<std::sync::Mutex<Live>>,
}

/// The lines of the live display.
#[derive(Default)]
struct Live {
    lines: Vec<(String, String, std::time::Instant)>,
    drawn: usize,
}

impl Reporter {
    fn new(printer: Printer) -> Self {
        let live = (printer.format == Format::Human
            && printer.verbosity == crate::report::Verbosity::Normal
            && std::io::stderr().is_terminal())
        .then(|| std::sync::Mutex::new(Live::default()));
        Reporter { printer, live }
    }

    fn redraw(&self, address: &str, state: String) {
        let Some(live) = &self.live else { return };
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        match live.lines.iter_mut().find(|(a, _, _)| a == address) {
            Some(line) => line.1 = state,
            None => live.lines.push((address.to_string(), state, now)),
        }
        let mut out = String::new();
        if live.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", live.drawn));
        }
        for (address, state, started) in &live.lines {
            out.push_str(&format!(
                "\x1b[2K  {address:<24} {state:<28} {:>6.1}s\n",
                now.duration_since(*started).as_secs_f64()
            ));
        }
        live.drawn = live.lines.len();
        eprint!("{out}");
    }
}

impl Progress for Reporter {
    fn event(&self, event: &Event) {
        if self.printer.format == Format::Json {
            let _ = self
                .printer
                .json(&serde_json::to_value(event).unwrap_or_default());
            return;
        }
        if self.live.is_some() {
            match event {
                Event::StepStarted { address, step } => {
                    self.redraw(address, format!("{}...", step.as_str()));
                }
                Event::StepFinished { address, step, .. } => {
                    self.redraw(address, format!("{} done", step.as_str()));
                }
                Event::StepFailed { address, step, .. } => {
                    self.redraw(address, format!("{} FAILED", step.as_str()));
                }
                Event::Downloading {
                    address,
                    bytes,
                    total,
                } => self.redraw(address, download_state(&self.live, address, *bytes, *total)),
                Event::RolledBack { entries } => self.printer.info(&format!(
                    "rolled back {entries} change{} to the disk",
                    if *entries == 1 { "" } else { "s" }
                )),
                Event::Applied { .. } => {}
            }
            return;
        }
        match event {
            Event::StepStarted { address, step } => {
                self.printer
                    .debug(&format!("{address}: {}...", step.as_str()));
            }
            Event::StepFinished {
                address,
                step,
                elapsed_ms,
            } => self.printer.info(&format!(
                "{address}: {} done ({:.2}s)",
                step.as_str(),
                *elapsed_ms as f64 / 1000.0
            )),
            Event::StepFailed {
                address,
                step,
                error,
            } => self
                .printer
                .info(&format!("{address}: {} failed: {error}", step.as_str())),
            Event::Downloading { .. } => {}
            Event::RolledBack { entries } => self.printer.info(&format!(
                "rolled back {entries} change{} to the disk",
                if *entries == 1 { "" } else { "s" }
            )),
            Event::Applied { .. } => {}
        }
    }
}

/// `download 12.3/30.1 MB, 45.2 MB/s`: the rate since the resource's line
/// appeared (its download is its first step).
fn download_state(
    live: &Option<std::sync::Mutex<Live>>,
    address: &str,
    bytes: u64,
    total: Option<u64>,
) -> String {
    let elapsed = live
        .as_ref()
        .and_then(|l| {
            let l = l.lock().unwrap_or_else(|e| e.into_inner());
            l.lines
                .iter()
                .find(|(a, _, _)| a == address)
                .map(|(_, _, started)| started.elapsed().as_secs_f64())
        })
        .unwrap_or(0.0);
    let mb = |b: u64| b as f64 / 1_000_000.0;
    let rate = if elapsed > 0.0 {
        format!(", {:.1} MB/s", mb(bytes) / elapsed)
    } else {
        String::new()
    };
    match total {
        Some(total) => format!("download {:.1}/{:.1} MB{rate}", mb(bytes), mb(total)),
        None => format!("download {:.1} MB{rate}", mb(bytes)),
    }
}

pub fn status(ctx: &Context) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let loaded = store::load(&home)?;
    for warning in &loaded.warnings {
        ctx.printer.warn(warning);
    }
    let registry = loaded.registry;
    let envs: Vec<(String, String, &Path, String, String)> = registry
        .environments
        .iter()
        .map(|e| {
            let observed = venv::observe(&e.path);
            let state = if !observed.exists {
                "missing".to_string()
            } else if !observed.is_venv {
                "broken: no pyvenv.cfg".to_string()
            } else if !observed.base_exists {
                "broken: base interpreter missing".to_string()
            } else {
                e.status.as_str().to_string()
            };
            (
                e.name.clone(),
                e.version.clone(),
                e.path.as_path(),
                state,
                e.owner
                    .as_ref()
                    .map(|o| o.display().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    match ctx.printer.format {
        Format::Json => ctx.printer.json(&json!({
            "serial": registry.serial,
            "default_runtime": registry.default_runtime,
            "environments": envs.iter().map(|(name, version, path, state, owner)| json!({
                "name": name, "python": version, "path": path, "status": state, "owner": owner,
            })).collect::<Vec<_>>(),
            "runtimes": registry.runtimes.iter().map(|r| json!({
                "name": r.name, "version": r.version, "path": r.path, "managed": r.managed,
                "status": r.status.as_str(),
                "default": registry.default_runtime.as_deref() == Some(r.name.as_str()),
            })).collect::<Vec<_>>(),
        }))?,
        Format::Human => {
            let mut out = String::new();
            if envs.is_empty() {
                out.push_str("no environments are managed here yet; run `beep-python apply`\n");
            } else {
                out.push_str("ENVIRONMENTS\n");
                for (name, version, path, state, _) in &envs {
                    out.push_str(&format!(
                        "  {name:<20} python {version:<9} {state:<10} {}\n",
                        path.display()
                    ));
                }
            }
            let ready = registry
                .runtimes
                .iter()
                .filter(|r| r.status == crate::registry::model::Status::Ready)
                .count();
            out.push_str(&format!(
                "RUNTIMES\n  {} registered ({ready} ready, {} managed), default: {}\n",
                registry.runtimes.len(),
                registry.runtimes.iter().filter(|r| r.managed).count(),
                registry.default_runtime.as_deref().unwrap_or("none")
            ));
            ctx.printer.data(&out)?;
        }
    }
    Ok(Outcome::Success)
}
