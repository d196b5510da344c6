//! `beep-python doctor`: a thin wrapper over [`crate::doctor`]. It finds
//! the manifest (if any) and computes its plan the way `plan` does, runs
//! the checks, prints, and for `--fix` applies the fix plan through the
//! same executor and transaction as `apply`.
//!
//! Without `--fix` (or with `--fix --dry-run`) it is read-only: no lock,
//! the last committed registry, nothing written (`--watch` writes its
//! reports, atomically, and nothing else).

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::reconcile::{self, LockFlags, Request};
use super::{CliError, Context, Outcome};
use crate::desired;
use crate::doctor::{self, ManifestState, Options, Report, fix, render, reports, watch};
use crate::exec;
use crate::observe;
use crate::plan::{self, Change, Mode};
use crate::registry::{Home, HomeLock, Registry};
use crate::report::Format;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Run only these checks (their ids: `--list` shows them).
    #[arg(value_name = "CHECK")]
    pub checks: Vec<String>,
    /// List every check: its id, what it looks at, whether `--fix` repairs
    /// what it finds, whether it starts Python.
    #[arg(long, conflicts_with_all = ["deep", "fix", "watch", "report"])]
    pub list: bool,
    /// Add the expensive checks: run each interpreter once (version,
    /// standard modules), hash each managed runtime against its archive.
    #[arg(long)]
    pub deep: bool,
    /// Repair what can be repaired: the findings become the normal plan,
    /// shown, confirmed and applied all or nothing, as `apply` does.
    #[arg(long, conflicts_with_all = ["watch", "report"])]
    pub fix: bool,
    /// With `--fix`: show the plan only; change nothing.
    #[arg(long, requires = "fix")]
    pub dry_run: bool,
    /// With `--fix`: do not ask for confirmation.
    #[arg(long, requires = "fix")]
    pub auto_approve: bool,
    /// Run the checks now and then every `--interval`, save each report in
    /// `<home>/health-reports/`, and print a line when health changes.
    /// Ctrl-C or SIGTERM stops it (exit 0; a run in progress finishes).
    #[arg(long, conflicts_with = "report")]
    pub watch: bool,
    /// How often `--watch` runs: `15m`, `30s`, `1h30m`.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = watch::parse_interval)]
    pub interval: Duration,
    /// Show a saved report: `last`, or a report file.
    #[arg(long, value_name = "last|FILE")]
    pub report: Option<String>,
}

pub fn run(ctx: &Context, args: &DoctorArgs) -> Result<Outcome, CliError> {
    if args.list {
        match ctx.printer.format {
            Format::Human => ctx.printer.data(&render::list())?,
            Format::Json => ctx.printer.json(&render::list_json())?,
        }
        return Ok(Outcome::Success);
    }
    let options = Options {
        deep: args.deep,
        only: args.checks.clone(),
    };
    // Unknown ids are refused before anything is read.
    doctor::select(&options)?;
    if let Some(which) = &args.report {
        return show_saved(ctx, which);
    }
    if args.watch {
        return watch(ctx, &options, args.interval);
    }
    if args.fix && !args.dry_run {
        return fix(ctx, &options, args.auto_approve);
    }
    let (report, manifest) = check(ctx, &options)?;
    if args.fix {
        let planned = fix::plan(&report.findings, manifest.as_ref());
        print_report(ctx, &report)?;
        print_fix_plan(ctx, &planned, "would")?;
    } else {
        print_report(ctx, &report)?;
    }
    Ok(outcome(&report))
}

/// Exit 0 when nothing is at warning or above, 2 when something is.
fn outcome(report: &Report) -> Outcome {
    if report.summary.healthy {
        Outcome::Success
    } else {
        Outcome::ChangesPending
    }
}

fn print_report(ctx: &Context, report: &Report) -> Result<(), CliError> {
    match ctx.printer.format {
        Format::Human => ctx.printer.data(&render::human(report))?,
        Format::Json => ctx.printer.json(&render::json(report))?,
    }
    Ok(())
}

/// The manifest next to the command and its plan, read-only; `None`
/// without a manifest. A manifest that cannot be planned is a finding
/// (`env-drift`), not a failure of doctor.
fn manifest_state(
    ctx: &Context,
    options: &Options,
) -> Result<Option<(ManifestState, usize)>, CliError> {
    let Ok(path) = crate::manifest::find(ctx.manifest.as_deref(), &ctx.cwd()?) else {
        return Ok(None);
    };
    if !path.is_file() {
        return Ok(None);
    }
    let owner = desired::owner_of(&path);
    let state = match reconcile::load(ctx) {
        Err(e) => ManifestState {
            path,
            owner,
            plan: Err(describe(&e)),
        },
        Ok(loaded) => {
            let plan = planned(ctx, &loaded, options);
            ManifestState {
                path: loaded.manifest_path.clone(),
                owner: loaded.owner.clone(),
                plan,
            }
        }
    };
    let probes = state.desired().map_or(0, |d| d.probes_run);
    Ok(Some((state, probes)))
}

/// The plan `apply` would carry out, observed as `plan` observes (with
/// `--deep`, as `plan --refresh=full`: every installed file hashed).
fn planned(
    ctx: &Context,
    loaded: &reconcile::Loaded,
    options: &Options,
) -> Result<doctor::Planned, String> {
    reconcile::compute_observed(
        ctx,
        loaded,
        &Request {
            targets: &[],
            replace: &[],
            flags: LockFlags::default(),
            mode: Mode::Apply,
            depth: if options.deep {
                observe::Depth::Full
            } else {
                observe::Depth::Cheap
            },
        },
        // The checks read the inventories the plan read, and name the
        // files it found damaged.
        observe::Keep::Inventories,
    )
    .map(|(desired, observation, changes)| doctor::Planned {
        desired,
        observation,
        changes,
    })
    .map_err(|e| describe(&e))
}

/// An error in one line, each problem of several.
fn describe(error: &CliError) -> String {
    match error {
        CliError::Many(problems) => problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// Runs the checks, read-only.
fn check(ctx: &Context, options: &Options) -> Result<(Report, Option<ManifestState>), CliError> {
    let home = ctx.home()?;
    let (manifest, probes) = match manifest_state(ctx, options)? {
        Some((m, probes)) => (Some(m), probes),
        None => (None, 0),
    };
    let registry = doctor::load_registry(&home);
    let report = doctor::run(&home, &registry, manifest.as_ref(), options, probes)?;
    ctx.printer.debug(&format!(
        "doctor started {} process{}",
        report.processes_started,
        if report.processes_started == 1 {
            ""
        } else {
            "es"
        }
    ));
    Ok((report, manifest))
}

fn print_fix_plan(ctx: &Context, planned: &fix::FixPlan, verb: &str) -> Result<(), CliError> {
    if ctx.printer.format == Format::Json {
        let mut doc = plan::render::json(&planned.changes);
        doc["event"] = json!("fix_plan");
        doc["recover"] = json!(planned.recover);
        ctx.printer.json(&doc)?;
        return Ok(());
    }
    let mut out = String::new();
    if planned.recover {
        out.push_str(&format!(
            "doctor --fix {verb} first finish or roll back what an interrupted apply left, and retry what is stuck (as `beep-python recover`).\n"
        ));
    }
    if planned.changes.is_empty() {
        if !planned.recover {
            out.push_str("Nothing for `doctor --fix` to do.\n");
        }
    } else {
        out.push_str(&plan::render::human(&planned.changes));
    }
    ctx.printer.data(&out)?;
    Ok(())
}

/// The home lock (recovering what a crashed apply left, as every mutating
/// command does) with the registry, and the manifest if there is one.
enum Locked {
    Manifest(Box<reconcile::Opened>),
    Home {
        home: Home,
        lock: HomeLock,
        registry: Registry,
    },
}

impl Locked {
    fn home(&self) -> &Home {
        match self {
            Locked::Manifest(opened) => &opened.loaded.home,
            Locked::Home { home, .. } => home,
        }
    }

    fn loaded(&self) -> Option<&reconcile::Loaded> {
        match self {
            Locked::Manifest(opened) => Some(&opened.loaded),
            Locked::Home { .. } => None,
        }
    }
}

fn lock(ctx: &Context) -> Result<Locked, CliError> {
    let has_manifest =
        crate::manifest::find(ctx.manifest.as_deref(), &ctx.cwd()?).is_ok_and(|p| p.is_file());
    if has_manifest {
        return Ok(Locked::Manifest(Box::new(reconcile::open(ctx)?)));
    }
    let home = ctx.home()?;
    let (lock, registry) = super::open_home_for_change(ctx, &home)?;
    Ok(Locked::Home {
        home,
        lock,
        registry,
    })
}

/// Checks with the lock held: the registry as locked, the plan for it.
fn locked_check(
    ctx: &Context,
    locked: &Locked,
    options: &Options,
) -> Result<(Report, Option<ManifestState>), CliError> {
    let manifest = locked.loaded().map(|loaded| ManifestState {
        path: loaded.manifest_path.clone(),
        owner: loaded.owner.clone(),
        plan: planned(ctx, loaded, options),
    });
    let probes = manifest
        .as_ref()
        .and_then(ManifestState::desired)
        .map_or(0, |d| d.probes_run);
    let registry = doctor::load_registry(locked.home());
    let report = doctor::run(locked.home(), &registry, manifest.as_ref(), options, probes)?;
    Ok((report, manifest))
}

fn fix(ctx: &Context, options: &Options, auto_approve: bool) -> Result<Outcome, CliError> {
    let mut locked = lock(ctx)?;
    let (before, manifest) = locked_check(ctx, &locked, options)?;
    let planned = fix::plan(&before.findings, manifest.as_ref());
    if ctx.printer.format == Format::Human {
        print_report(ctx, &before)?;
    }
    print_fix_plan(ctx, &planned, "does")?;
    if !planned.changes.is_empty() {
        if !auto_approve {
            reconcile::confirm("Apply these repairs?")?;
        }
        let applied = apply(ctx, &mut locked, &planned.changes)?;
        if ctx.printer.format == Format::Human {
            ctx.printer.info(&format!(
                "Fix complete! Resources: {} added, {} changed, {} destroyed.",
                applied.add, applied.change, applied.destroy
            ));
        }
    }
    // What is left: a second look, with the registry as committed (the
    // executor updated the one `locked` holds).
    let (after, _) = locked_check(ctx, &locked, options)?;
    match ctx.printer.format {
        Format::Human => {
            ctx.printer.data("\nAfter the repairs:\n")?;
            print_report(ctx, &after)?;
        }
        Format::Json => {
            let mut doc = render::json(&after);
            doc["event"] = json!("report");
            ctx.printer.json(&doc)?;
        }
    }
    Ok(outcome(&after))
}

/// Applies the fix plan as one transaction, through the code `apply` runs.
fn apply(
    ctx: &Context,
    locked: &mut Locked,
    changes: &[Change],
) -> Result<exec::Applied, CliError> {
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    match locked {
        Locked::Manifest(opened) => reconcile::run_changes(ctx, opened, changes, jobs),
        Locked::Home {
            home,
            lock,
            registry,
        } => reconcile::execute(
            ctx,
            reconcile::Target {
                home,
                lock,
                owner: Path::new(""),
                manifest: None,
            },
            registry,
            changes,
            jobs,
        ),
    }
}

fn show_saved(ctx: &Context, which: &str) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let (path, report) = reports::read_named(&home, which).map_err(doctor::DoctorError::from)?;
    ctx.printer.info(&format!(
        "report of {} ({} ago): `{}`",
        report.generated_at,
        age(report.generated_at),
        path.display()
    ));
    print_report(ctx, &report)?;
    Ok(outcome(&report))
}

/// `3m`, `2h`, `5d`: how long ago `at` was.
pub(super) fn age(at: jiff::Timestamp) -> String {
    let secs = jiff::Timestamp::now().duration_since(at).as_secs().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn watch(ctx: &Context, options: &Options, interval: Duration) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Ctrl-C (and SIGTERM, `ctrlc`'s `termination` feature) end the wait
    // between runs; a run in progress finishes and its report is written
    // whole. Stopping is how a watch ends, so it exits 0: the health is in
    // the reports, not the exit status.
    let _ = ctrlc::set_handler(move || {
        let _ = tx.send(());
    });
    ctx.printer.info(&format!(
        "watching every {}; reports in `{}`; Ctrl-C stops",
        jiff::SignedDuration::try_from(interval)
            .map(|d| format!("{d:#}"))
            .unwrap_or_default(),
        reports::dir(&home).display()
    ));
    let mut failed: Option<CliError> = None;
    let runs = watch::watch(
        &home,
        interval,
        &rx,
        || check(ctx, options).map(|(report, _)| report),
        |tick| {
            if !tick.changed {
                return;
            }
            let written = match ctx.printer.format {
                Format::Human => {
                    let problems: Vec<String> = tick
                        .report
                        .findings
                        .iter()
                        .filter(|f| f.severity.is_problem())
                        .map(|f| format!("{} {} ({})", f.resource, f.check, f.severity.as_str()))
                        .collect();
                    let mut line = format!(
                        "{} {}",
                        tick.report.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        tick.report.summary_line()
                    );
                    if !problems.is_empty() {
                        line.push_str(&format!(": {}", problems.join(", ")));
                    }
                    line.push_str(&format!("; {}\n", watch::saved_note(&tick.saved)));
                    ctx.printer.data(&line)
                }
                Format::Json => {
                    let mut doc = render::json(tick.report);
                    doc["saved"] = json!(tick.saved.as_ref().ok());
                    ctx.printer.json(&doc)
                }
            };
            if let Err(e) = written {
                failed.get_or_insert(e.into());
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    ctx.printer.info(&format!(
        "stopped after {runs} run{}",
        if runs == 1 { "" } else { "s" }
    ));
    Ok(Outcome::Success)
}
