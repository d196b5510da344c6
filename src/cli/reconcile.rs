//! `beep-python plan`, `apply`, `destroy` and `status`: thin wrappers that
//! read the manifest and the registry, call the pipeline
//! (`desired -> observe -> plan -> exec`) and print.
//!
//! `plan` and `status` are read-only: they take no lock, read the last
//! committed registry (always whole, thanks to the atomic rename), and work
//! on a read-only home and while another `apply` runs (they say so).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::{CliError, Context, Outcome};
use crate::desired::{self, Desired, Interpreters, LockUse};
use crate::exec::{self, journal::Journal};
use crate::installer;
use crate::lockfile;
use crate::manifest::Checked;
use crate::observe;
use crate::plan::saved::{SavedPlan, manifest_sha256};
use crate::plan::{self, Change, Mode, health, render};
use crate::registry::{Home, HomeLock, Registry};
use crate::report::progress::Reporter;
use crate::report::{Format, Printer};

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
    /// Save the plan for `beep-python apply FILE` (a new file, or one
    /// holding an earlier saved plan).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Limit the plan to this resource (`env.NAME`, `runtime.NAME`); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Rebuild this resource even if nothing changed (`env.NAME`,
    /// `runtime.NAME`); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub replace: Vec<String>,
    /// How installed files are checked against each environment's
    /// inventory: `cheap` (existence, size, time; the default) or `full`
    /// (every file hashed).
    #[arg(long, value_enum, default_value_t = Refresh::Cheap, value_name = "HOW")]
    pub refresh: Refresh,
}

/// `--refresh`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Refresh {
    #[default]
    Cheap,
    Full,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub lock: LockFlags,
    /// A plan saved with `plan --out`; applied without a prompt, exactly as
    /// saved (it carries its lock pins and targets).
    #[arg(value_name = "PLANFILE", conflicts_with_all = ["locked", "frozen", "target", "replace"])]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Limit the apply to this resource (`env.NAME`, `runtime.NAME`); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Rebuild this resource even if nothing changed (`env.NAME`,
    /// `runtime.NAME`); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub replace: Vec<String>,
    /// How many steps run at once (default: `settings.jobs`, else the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Option<u32>,
    /// Install from this bundle (`bundle create`) alone, with no network
    /// and no index; implies `--locked`. Its manifest and lock are written
    /// here if there are none yet.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["plan", "frozen"])]
    pub bundle: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Limit the destroy to this resource (`env.NAME`, `runtime.NAME`); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
}

/// The manifest and the last committed registry.
pub(super) struct Loaded {
    pub(super) manifest_path: PathBuf,
    pub(super) checked: Checked,
    manifest_sha256: String,
    pub(super) owner: PathBuf,
    pub(super) home: Home,
    pub(super) registry: Registry,
}

/// [`Loaded`] with the home lock held, for a change.
pub(super) struct Opened {
    pub(super) loaded: Loaded,
    pub(super) lock: HomeLock,
}

fn load_manifest(ctx: &Context, home: &Home) -> Result<(PathBuf, Checked, String), CliError> {
    let manifest_path = crate::manifest::find(ctx.manifest.as_deref(), &ctx.cwd()?)?;
    let checked = super::load_manifest(ctx, &manifest_path, home)?;
    // The text was read once, as UTF-8 exactly as on disk: hash that.
    let sha = manifest_sha256(checked.manifest.source.text.as_bytes());
    Ok((manifest_path, checked, sha))
}

/// Reads the manifest and the last committed registry, without the lock.
pub(super) fn load(ctx: &Context) -> Result<Loaded, CliError> {
    let home = ctx.home()?;
    let (manifest_path, checked, manifest_sha256) = load_manifest(ctx, &home)?;
    let registry = super::read_registry(ctx, &home)?;
    Ok(Loaded {
        owner: desired::owner_of(&manifest_path),
        manifest_sha256,
        manifest_path,
        checked,
        home,
        registry,
    })
}

/// Takes the home lock (recovering what a crashed apply left), then reads
/// the manifest and the registry.
pub(super) fn open(ctx: &Context) -> Result<Opened, CliError> {
    let home = ctx.home()?;
    let (manifest_path, checked, manifest_sha256) = load_manifest(ctx, &home)?;
    let (lock, registry) = super::open_home_for_change(ctx, &home)?;
    Ok(Opened {
        loaded: Loaded {
            owner: desired::owner_of(&manifest_path),
            manifest_sha256,
            manifest_path,
            checked,
            home,
            registry,
        },
        lock,
    })
}

/// How this command uses `beep-python.lock`: as it is (`--frozen`), only
/// if it matches (`--locked`), else where it matches (the default).
pub(super) fn lock_use(opened_manifest: &Path, flags: LockFlags) -> Result<LockUse, CliError> {
    let path = lockfile::path_for(opened_manifest);
    let lock = lockfile::read(&path)?;
    Ok(match (lock, flags.locked, flags.frozen) {
        (None, false, false) => LockUse::None,
        (None, _, _) => {
            return Err(CliError::Many(vec![Box::new(
                desired::DesiredError::NoLock { path },
            )]));
        }
        (Some(lock), true, _) => LockUse::Locked(lock),
        (Some(lock), _, true) => LockUse::Frozen(lock),
        (Some(lock), false, false) => LockUse::Prefer(lock),
    })
}

/// What the plan is computed from besides the manifest.
pub(super) struct Request<'a> {
    pub(super) targets: &'a [String],
    pub(super) replace: &'a [String],
    pub(super) flags: LockFlags,
    pub(super) mode: Mode,
    pub(super) depth: observe::Depth,
}

/// The desired state and the plan for `loaded`.
pub(super) fn compute(
    ctx: &Context,
    loaded: &Loaded,
    request: &Request<'_>,
) -> Result<(Desired, Vec<Change>), CliError> {
    compute_observed(ctx, loaded, request, observe::Keep::Verdicts)
        .map(|(desired, _, changes)| (desired, changes))
}

/// [`compute`], with the observation the plan was made from (`doctor`
/// judges the same folders from it, never from a second look), keeping
/// what `keep` asks for.
pub(super) fn compute_observed(
    ctx: &Context,
    loaded: &Loaded,
    request: &Request<'_>,
    keep: observe::Keep,
) -> Result<(Desired, observe::Observation, Vec<Change>), CliError> {
    let desired = match request.mode {
        Mode::Destroy => Desired::default(),
        Mode::Apply => {
            let lock = lock_use(&loaded.manifest_path, request.flags)?;
            let desired = desired::build(
                &loaded.checked.manifest,
                &loaded.home,
                &lock,
                Interpreters::Discover,
            )
            .map_err(CliError::many)?;
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
            desired
        }
    };
    let probes_run = desired.probes_run;
    // Environments are observed by reading files; only interpreter
    // discovery may start Python, and its cache usually answers.
    ctx.printer.debug(&format!(
        "observation started {probes_run} Python process{}",
        if probes_run == 1 { "" } else { "es" }
    ));
    let observed = observe::observe_keeping(
        &desired,
        &loaded.registry,
        &loaded.owner,
        request.depth,
        keep,
    );
    let mut desired = desired;
    settle_conda(ctx, loaded, &mut desired, &observed)?;
    let changes = plan::diff(&plan::Inputs {
        owner: &loaded.owner,
        desired: &desired,
        registry: &loaded.registry,
        observed: &observed,
        targets: request.targets,
        replace: request.replace,
        mode: request.mode,
    })
    .map_err(CliError::many)?;
    // An installer this machine lacks is a plan-time error, not a failure
    // half-way through apply.
    if changes.iter().any(needs_installer) {
        let config = desired::installer_config(&loaded.checked.manifest);
        installer::select(&config, std::env::var_os("PATH").as_deref())?;
    }
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
    Ok((desired, observed, changes))
}

/// Decides each unlocked conda environment's exact packages (a solve
/// only where what is installed no longer does), so that the plan shows
/// package-level changes and a saved plan applies exactly them.
fn settle_conda(
    ctx: &Context,
    loaded: &Loaded,
    desired: &mut Desired,
    observed: &observe::Observation,
) -> Result<(), CliError> {
    if !desired
        .environments
        .iter()
        .any(|e| e.conda.as_ref().is_some_and(|c| c.packages.is_none()))
    {
        return Ok(());
    }
    ctx.printer
        .debug("solving the conda environments whose packages no longer satisfy them");
    let cache = desired::conda::SolveCache::for_home(&loaded.home).map_err(CliError::Scratch)?;
    desired::conda::settle(
        desired,
        observed,
        cache.cache(),
        desired::conda::SolveSettings {
            offline: loaded.checked.manifest.settings.offline,
            cancel: &CANCEL,
        },
    )
    .map_err(CliError::many)
}

/// Whether applying `change` runs pip or uv: building or updating an
/// environment without a lock (a locked one is installed natively; a conda
/// environment needs one only for its `pypi-packages`).
fn needs_installer(change: &Change) -> bool {
    match change {
        Change::Environment(e) => {
            e.action.builds()
                && e.action.spec().is_some_and(|s| {
                    s.locked.is_none() && (s.conda.is_none() || !s.packages.is_empty())
                })
        }
        Change::Runtime(_) | Change::Home(_) => false,
    }
}

fn print_plan(printer: &Printer, changes: &[Change]) -> Result<(), CliError> {
    match printer.format {
        Format::Human => printer.data(&render::human(changes))?,
        Format::Json => printer.json(&render::json(changes))?,
    }
    Ok(())
}

/// Says so when an apply holds the home or left a journal: a read-only
/// command shows the last committed state.
fn note_apply_in_progress(ctx: &Context, home: &Home) {
    let Ok(text) = fs_err::read_to_string(Journal::path(home)) else {
        return;
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let pid = value.get("pid").and_then(serde_json::Value::as_u64);
    let command = value
        .get("command")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("?");
    ctx.printer.warn(&format!(
        "an apply is in progress or was interrupted ({}`{command}`); this shows the last committed state, and the next mutating command finishes or rolls it back",
        pid.map(|p| format!("pid {p}, ")).unwrap_or_default()
    ));
}

pub fn plan(ctx: &Context, args: &PlanArgs) -> Result<Outcome, CliError> {
    let loaded = load(ctx)?;
    note_apply_in_progress(ctx, &loaded.home);
    let (_, changes) = compute(
        ctx,
        &loaded,
        &Request {
            targets: &args.target,
            replace: &args.replace,
            flags: args.lock,
            mode: Mode::Apply,
            depth: match args.refresh {
                Refresh::Cheap => observe::Depth::Cheap,
                Refresh::Full => observe::Depth::Full,
            },
        },
    )?;
    print_plan(&ctx.printer, &changes)?;
    if let Some(out) = &args.out {
        let saved = SavedPlan {
            format_version: crate::plan::saved::SAVED_PLAN_VERSION,
            manifest: loaded.manifest_path.clone(),
            manifest_sha256: loaded.manifest_sha256.clone(),
            lineage: loaded.registry.lineage,
            serial: loaded.registry.serial,
            changes: changes.clone(),
        };
        saved.write(out)?;
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

pub fn apply(ctx: &Context, args: &ApplyArgs) -> Result<Outcome, CliError> {
    if let Some(file) = &args.bundle {
        return super::bundle::apply(ctx, args, file);
    }
    apply_opened(ctx, args, open(ctx)?)
}

/// `apply` with the manifest and the registry already open (`apply
/// --bundle` adjusts the manifest's package sources first).
pub(super) fn apply_opened(
    ctx: &Context,
    args: &ApplyArgs,
    mut opened: Opened,
) -> Result<Outcome, CliError> {
    let loaded = &opened.loaded;
    let (changes, from_file) = match &args.plan {
        Some(file) => {
            let saved = SavedPlan::read(file)?;
            saved.check_fresh(
                &loaded.manifest_sha256,
                loaded.registry.lineage,
                loaded.registry.serial,
            )?;
            (saved.changes, true)
        }
        None => {
            let (_, changes) = compute(
                ctx,
                loaded,
                &Request {
                    targets: &args.target,
                    replace: &args.replace,
                    flags: args.lock,
                    mode: Mode::Apply,
                    depth: observe::Depth::Cheap,
                },
            )?;
            (changes, false)
        }
    };
    match ctx.printer.format {
        Format::Human => print_plan(&ctx.printer, &changes)?,
        // The event stream's first event carries the plan.
        Format::Json => {
            let mut first = render::json(&changes);
            first["event"] = json!("plan");
            ctx.printer.json(&first)?;
        }
    }
    if changes.is_empty() {
        point_vscode(ctx, &opened.loaded);
        return Ok(Outcome::Success);
    }
    if !from_file && !args.auto_approve {
        confirm("Apply these changes?")?;
    }
    let settings = &opened.loaded.checked.manifest.settings;
    let jobs = args
        .jobs
        .or(settings.jobs)
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let applied = run_changes(ctx, &mut opened, &changes, jobs)?;
    if ctx.printer.format == Format::Human {
        let mut line = format!(
            "Apply complete! Resources: {} added, {} changed, {} destroyed",
            applied.add, applied.change, applied.destroy
        );
        if applied.rename > 0 {
            line.push_str(&format!(", {} renamed", applied.rename));
        }
        if applied.moves > 0 {
            line.push_str(&format!(", {} moved", applied.moves));
        }
        line.push('.');
        ctx.printer.info(&line);
    }
    point_vscode(ctx, &opened.loaded);
    Ok(Outcome::Success)
}

/// `vscode = true` on an environment: after a successful apply, the
/// manifest folder's `.vscode/settings.json` points at it. A settings file
/// that cannot be edited is worth a warning, not a failed apply.
fn point_vscode(ctx: &Context, loaded: &Loaded) {
    use crate::usage::vscode;
    match vscode::for_manifest(&loaded.checked.manifest, loaded.home.root()) {
        Ok(Some(edit)) if !edit.changes.is_empty() => {
            ctx.printer.info(&format!(
                "pointing VS Code at the environment (`{}`):\n{}",
                edit.path.display(),
                edit.preview()
            ));
            match edit.write() {
                Ok(()) => ctx.printer.warn(vscode::REMEMBERED_CHOICE_WINS),
                Err(e) => ctx
                    .printer
                    .warn(&format!("{e}; VS Code settings left as they were")),
            }
        }
        Ok(_) => {}
        Err(e) => ctx
            .printer
            .warn(&format!("{e}; VS Code settings left as they were")),
    }
}

pub fn destroy(ctx: &Context, args: &DestroyArgs) -> Result<Outcome, CliError> {
    let mut opened = open(ctx)?;
    // Destroying is planning for a manifest that declares nothing: every
    // environment it manages goes, and its runtimes that nothing else uses.
    let (_, changes) = compute(
        ctx,
        &opened.loaded,
        &Request {
            targets: &args.target,
            replace: &[],
            flags: LockFlags::default(),
            mode: Mode::Destroy,
            depth: observe::Depth::Cheap,
        },
    )?;
    print_plan(&ctx.printer, &changes)?;
    if changes.is_empty() {
        return Ok(Outcome::Success);
    }
    if !args.auto_approve {
        confirm(
            "Destroy every environment and runtime listed above? They are deleted from the disk.",
        )?;
    }
    let applied = run_changes(ctx, &mut opened, &changes, 1)?;
    if ctx.printer.format == Format::Human {
        ctx.printer.info(&format!(
            "Destroy complete! Resources: {} destroyed.",
            applied.destroy
        ));
    }
    Ok(Outcome::Success)
}

/// Asks on the terminal; `yes` or `y` proceeds.
pub(super) fn confirm(question: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsApproval);
    }
    eprint!("{question} [yes/no] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::Write(PathBuf::from("<stdin>"), e))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" => Ok(()),
        _ => Err(CliError::Declined),
    }
}

/// The Ctrl-C flag. The handler can be installed once per process.
pub(super) static CANCEL: AtomicBool = AtomicBool::new(false);

pub(super) fn run_changes(
    ctx: &Context,
    opened: &mut Opened,
    changes: &[Change],
    jobs: usize,
) -> Result<exec::Applied, CliError> {
    let loaded = &mut opened.loaded;
    execute(
        ctx,
        Target {
            home: &loaded.home,
            lock: &opened.lock,
            owner: &loaded.owner,
            manifest: Some(&loaded.checked.manifest),
        },
        &mut loaded.registry,
        changes,
        jobs,
    )
}

/// Where [`execute`] applies changes: the locked home, and the manifest
/// they come from (`None`: only the home's upkeep, `doctor --fix` without
/// a manifest).
pub(super) struct Target<'a> {
    pub(super) home: &'a Home,
    pub(super) lock: &'a HomeLock,
    pub(super) owner: &'a Path,
    pub(super) manifest: Option<&'a crate::manifest::Manifest>,
}

/// Applies `changes` as one transaction: what `apply`, `destroy` and
/// `doctor --fix` share.
pub(super) fn execute(
    ctx: &Context,
    target: Target<'_>,
    registry: &mut Registry,
    changes: &[Change],
    jobs: usize,
) -> Result<exec::Applied, CliError> {
    // A second Ctrl-C while rolling back is ignored: stopping a rollback
    // half-way would leave the machine in neither state.
    let _ = ctrlc::set_handler(|| CANCEL.store(true, Ordering::SeqCst));
    let defaults = crate::manifest::Settings::default();
    let (config, manifest_settings) = match target.manifest {
        Some(m) => (desired::installer_config(m), &m.settings),
        None => (installer::Config::default(), &defaults),
    };
    let selected = if changes.iter().any(needs_installer) {
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
        home: target.home,
        lock: target.lock,
        owner: target.owner,
        installer: &config,
        selected: &selected,
        fetch: crate::fetch::Options {
            allow_insecure_http: manifest_settings.allow_insecure_http,
            offline: config.offline,
            ..crate::fetch::Options::default()
        },
        compile_bytecode: manifest_settings.compile_bytecode,
        unverified_record: manifest_settings
            .unverified_record
            .iter()
            .map(|n| crate::venv::normalize_name(&n.value))
            .collect(),
        jobs,
        cancel: &CANCEL,
        progress: &progress,
        command: &command,
    };
    let applied = exec::apply(changes, registry, &settings)?;
    drop(progress);
    for leftover in &applied.leftovers {
        ctx.printer.warn(&format!(
            "{leftover}; it is retried by the next command (`beep-python recover` shows it)"
        ));
    }
    Ok(applied)
}

pub fn status(ctx: &Context) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let registry = super::read_registry(ctx, &home)?;
    note_apply_in_progress(ctx, &home);
    // With a manifest at hand, its environments get the plan's own
    // verdict; every other record gets the same health classifier the
    // plan uses.
    let planned: Option<(PathBuf, Vec<Change>)> = match status_plan(ctx) {
        Ok(found) => found,
        Err(e) => {
            ctx.printer.warn(&format!(
                "the manifest could not be planned ({e}); showing health only"
            ));
            None
        }
    };
    let verdicts = health::verdicts(
        &registry,
        planned
            .as_ref()
            .map(|(owner, changes)| (owner.as_path(), changes.as_slice())),
    );
    let health = newest_health(&home);
    match ctx.printer.format {
        Format::Json => ctx.printer.json(&json!({
            "format_version": 1,
            "serial": registry.serial,
            "default_runtime": registry.default_runtime,
            "health": health.as_ref().map(|(path, report)| json!({
                "report": path,
                "generated_at": report.generated_at,
                "age_seconds": jiff::Timestamp::now().duration_since(report.generated_at).as_secs().max(0),
                "summary": report.summary,
                "line": report.summary_line(),
            })),
            "environments": verdicts.iter().map(|v| json!({
                "name": v.name, "python": v.python, "path": v.path, "status": v.status, "owner": v.owner,
            })).collect::<Vec<_>>(),
            "runtimes": registry.runtimes.iter().map(|r| json!({
                "name": r.name, "version": r.version, "path": r.path, "managed": r.managed,
                "status": r.status.as_str(),
                "default": registry.default_runtime.as_deref() == Some(r.name.as_str()),
            })).collect::<Vec<_>>(),
        }))?,
        Format::Human => {
            let mut out = String::new();
            if verdicts.is_empty() {
                out.push_str("no environments are managed here yet; run `beep-python apply`\n");
            } else {
                out.push_str("ENVIRONMENTS\n");
                for v in &verdicts {
                    out.push_str(&format!(
                        "  {:<20} python {:<9} {:<10} {}\n",
                        v.name,
                        v.python,
                        v.status,
                        v.path.display()
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
            out.push_str("HEALTH\n");
            match &health {
                Some((_, report)) => out.push_str(&format!(
                    "  {} ago: {} (`beep-python doctor --report last`)\n",
                    super::doctor::age(report.generated_at),
                    report.summary_line()
                )),
                None => out.push_str(
                    "  no doctor report yet (`beep-python doctor --watch` saves one at each run)\n",
                ),
            }
            ctx.printer.data(&out)?;
        }
    }
    Ok(Outcome::Success)
}

/// The newest saved doctor report, if one can be read.
fn newest_health(home: &Home) -> Option<(PathBuf, crate::doctor::Report)> {
    let path = crate::doctor::reports::newest(home)?;
    let report = crate::doctor::reports::read(&path).ok()?;
    Some((path, report))
}

/// The plan of the manifest `status` runs next to, if there is one.
fn status_plan(ctx: &Context) -> Result<Option<(PathBuf, Vec<Change>)>, CliError> {
    let Ok(path) = crate::manifest::find(ctx.manifest.as_deref(), &ctx.cwd()?) else {
        return Ok(None);
    };
    if !path.is_file() {
        return Ok(None);
    }
    let loaded = load(ctx)?;
    let (_, changes) = compute(
        ctx,
        &loaded,
        &Request {
            targets: &[],
            replace: &[],
            flags: LockFlags::default(),
            mode: Mode::Apply,
            depth: observe::Depth::Cheap,
        },
    )?;
    Ok(Some((loaded.owner, changes)))
}
