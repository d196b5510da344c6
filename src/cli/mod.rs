//! The command line: clap structs (their doc comments are the help text) and
//! one thin function per command that calls into the library.

mod init;
mod lock;
mod reconcile;
mod recover;
mod runtimes;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::report::{BrokenPipe, Format, Printer, Verbosity};

/// Declare Python interpreters and virtual environments in
/// `beep-python.toml`, then plan and apply them like infrastructure.
#[derive(Debug, Parser)]
#[command(
    name = "beep-python",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The manifest to use (default: `beep-python.toml` in this folder or the nearest one above).
    #[arg(long, global = true, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Where beep-python keeps its state [env: BEEP_PYTHON_HOME] [default: ~/.beep-python].
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Output format of stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Print only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more about what is happening.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Seconds to wait for another beep-python using the same home (0: fail at once, exit 3).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 0.0, value_parser = parse_seconds)]
    pub lock_timeout: f64,

    #[command(subcommand)]
    pub command: Command,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0 * 7.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 604800"
        )),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter `beep-python.toml` (never overwrites one).
    Init(init::InitArgs),
    /// Check the manifest and report every problem, with its place in the file.
    Validate,
    /// Resolve every environment to exact versions with hashes, and pin
    /// the runtimes, in `beep-python.lock` next to the manifest.
    Lock(lock::LockArgs),
    /// Show what `apply` would change.
    Plan(reconcile::PlanArgs),
    /// Make the machine match the manifest, all or nothing.
    Apply(reconcile::ApplyArgs),
    /// Remove every environment and runtime this manifest manages.
    Destroy(reconcile::DestroyArgs),
    /// Managed environments and runtimes, with the plan's verdict on each.
    Status,
    /// Finish or undo what an interrupted apply left, and retry what a
    /// rollback could not undo; `--abandon` sets it aside, deleting nothing.
    Recover(recover::RecoverArgs),
    /// Interpreters: list the registered ones, discover them, set the default.
    #[command(subcommand)]
    Runtimes(runtimes::RuntimesCommand),
}

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The command ran and found problems to report (exit 1), which it has
    /// already printed.
    Failure,
    /// `plan --detailed-exitcode` with changes (exit 2).
    ChangesPending,
}

/// A failure to render in `main.rs`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] crate::registry::RegistryError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Init(#[from] init::InitError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Default(#[from] crate::runtimes::DefaultError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Journal(#[from] crate::exec::journal::JournalError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Apply(#[from] crate::exec::ApplyError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    SavedPlan(#[from] crate::plan::saved::SavedPlanError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Install(#[from] crate::installer::InstallError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] crate::lockfile::LockError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Resolve(#[from] crate::lockfile::ResolveError),

    /// Several independent problems (plan-time), each rendered.
    #[error("{} problems", .0.len())]
    Many(Vec<Box<dyn miette::Diagnostic + Send + Sync>>),

    /// The manifest is invalid; its diagnostics were printed already.
    #[error("`{}` has {errors} error{}; nothing was changed", path.display(), if *errors == 1 { "" } else { "s" })]
    #[diagnostic(
        code(manifest::invalid),
        help("fix the problems above; `beep-python validate` checks the manifest alone")
    )]
    InvalidManifest { path: PathBuf, errors: usize },

    #[error("could not write `{}`", .0.display())]
    #[diagnostic(code(cli::write))]
    Write(PathBuf, #[source] std::io::Error),

    #[error("`apply` needs confirmation, and there is no terminal to ask on")]
    #[diagnostic(
        code(cli::needs_approval),
        help(
            "review the plan above, then run again with `--auto-approve`, or apply a saved plan (`plan --out FILE`, then `apply FILE`)"
        )
    )]
    NeedsApproval,

    #[error("cancelled; nothing was changed")]
    #[diagnostic(code(cli::declined))]
    Declined,

    #[error("could not determine the current folder")]
    #[diagnostic(code(cli::cwd))]
    CurrentDir(#[source] std::io::Error),

    /// stdout was closed by its reader: not an error (exit 0).
    #[error("broken pipe")]
    BrokenPipe,
}

impl From<BrokenPipe> for CliError {
    fn from(_: BrokenPipe) -> Self {
        CliError::BrokenPipe
    }
}

impl CliError {
    /// The process exit code (DESIGN "Command line").
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Registry(crate::registry::RegistryError::Locked { .. }) => 3,
            CliError::Apply(crate::exec::ApplyError::Interrupted) => 130,
            CliError::BrokenPipe => 0,
            _ => 1,
        }
    }
}

/// Everything a command needs from the global flags.
pub struct Context {
    pub manifest: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub printer: Printer,
    pub lock_timeout: std::time::Duration,
}

impl Context {
    pub fn cwd(&self) -> Result<PathBuf, CliError> {
        std::env::current_dir().map_err(CliError::CurrentDir)
    }

    pub fn home(&self) -> Result<crate::registry::Home, CliError> {
        Ok(crate::registry::Home::resolve(self.home.as_deref())?)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Outcome, CliError> {
    let verbosity = if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let ctx = Context {
        manifest: cli.manifest,
        home: cli.home,
        printer: Printer::new(cli.format, verbosity),
        lock_timeout: std::time::Duration::from_secs_f64(cli.lock_timeout),
    };
    match cli.command {
        Command::Init(args) => init::run(&ctx, &args),
        Command::Validate => validate::run(&ctx),
        Command::Runtimes(command) => runtimes::run(&ctx, &command),
        Command::Lock(args) => lock::run(&ctx, &args),
        Command::Plan(args) => reconcile::plan(&ctx, &args),
        Command::Apply(args) => reconcile::apply(&ctx, &args),
        Command::Destroy(args) => reconcile::destroy(&ctx, &args),
        Command::Status => reconcile::status(&ctx),
        Command::Recover(args) => recover::run(&ctx, &args),
    }
}

/// Takes the home lock for a change, finishing or undoing first what a
/// crashed apply left (and saying so), then loads the registry.
pub fn open_home_for_change(
    ctx: &Context,
    home: &crate::registry::Home,
) -> Result<(crate::registry::HomeLock, crate::registry::Registry), CliError> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let lock = home.lock(ctx.lock_timeout, &command)?;
    let recovery = crate::exec::journal::recover(home, &stop_run)?;
    report_recovery(ctx, &recovery);
    let registry = read_registry(ctx, home)?;
    Ok((lock, registry))
}

/// Stops what a crashed run started and is still running (an installer
/// writing into an environment), before recovery undoes anything.
pub(crate) fn stop_run(run: &str) {
    // Best effort: a failure to look is no reason not to recover.
    let _ = crate::process::kill_run(run);
}

/// Tells the user what recovery did and what is still left where.
pub(crate) fn report_recovery(ctx: &Context, recovery: &crate::exec::journal::Recovery) {
    use crate::exec::journal::Recovered;
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match &recovery.journal {
        Some(Recovered::RolledBack {
            undone,
            pid,
            command,
        }) => ctx.printer.warn(&format!(
            "an apply was interrupted (pid {pid}, `{command}`); rolled back its {} change{} first",
            undone.entries,
            plural(undone.entries)
        )),
        Some(Recovered::Completed { pid, command, .. }) => ctx.printer.warn(&format!(
            "an apply (pid {pid}, `{command}`) was interrupted after it committed; finished its clean-up first"
        )),
        None => {}
    }
    let leftovers = match &recovery.journal {
        Some(Recovered::RolledBack { undone, .. } | Recovered::Completed { undone, .. }) => {
            undone.leftovers.as_slice()
        }
        None => &[],
    };
    for leftover in leftovers.iter().chain(&recovery.still_stuck) {
        ctx.printer.warn(&leftover.to_string());
    }
    if recovery.resolved > 0 {
        ctx.printer.warn(&format!(
            "finished {} change{} an earlier rollback could not undo",
            recovery.resolved,
            plural(recovery.resolved)
        ));
    }
    if !recovery.still_stuck.is_empty() {
        ctx.printer.warn(
            "other resources and manifests are not blocked by this; `beep-python recover --abandon` forgets it (deleting nothing) once you have looked at the paths above",
        );
    }
}

/// The last committed registry, read without the lock (it is replaced by
/// an atomic rename, so it is always whole); warnings are printed.
pub fn read_registry(
    ctx: &Context,
    home: &crate::registry::Home,
) -> Result<crate::registry::Registry, CliError> {
    let loaded = crate::registry::store::load(home)?;
    for warning in &loaded.warnings {
        ctx.printer.warn(warning);
    }
    Ok(loaded.registry)
}

/// Reads and checks the manifest; an invalid one has each of its
/// diagnostics printed exactly as `validate` prints them.
pub fn load_manifest(
    ctx: &Context,
    path: &std::path::Path,
    home: &crate::registry::Home,
) -> Result<crate::manifest::Checked, CliError> {
    match crate::manifest::load(path, home.root()) {
        Ok(checked) => {
            for warning in checked.warnings.iter() {
                ctx.printer.diagnostic(warning);
            }
            Ok(checked)
        }
        Err(crate::manifest::ManifestError::Invalid { path, diagnostics }) => {
            for d in diagnostics.iter() {
                ctx.printer.diagnostic(d);
            }
            Err(CliError::InvalidManifest {
                path,
                errors: diagnostics.error_count(),
            })
        }
        Err(other) => Err(other.into()),
    }
}

impl CliError {
    /// Several problems, each rendered.
    pub fn many<E: miette::Diagnostic + Send + Sync + 'static>(errors: Vec<E>) -> Self {
        CliError::Many(errors.into_iter().map(|e| Box::new(e) as _).collect())
    }
}
