//! The command line: clap structs (their doc comments are the help text) and
//! one thin function per command that calls into the library.

mod init;
mod lock;
mod reconcile;
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
    /// Remove every environment this manifest created.
    Destroy(reconcile::DestroyArgs),
    /// Managed environments and runtimes, with their state.
    Status,
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
    match crate::exec::journal::recover(home)? {
        Some(crate::exec::journal::Recovered::RolledBack {
            entries,
            pid,
            command,
        }) => {
            ctx.printer.warn(&format!(
                "an apply was interrupted (pid {pid}, `{command}`); rolled back its {entries} change{} first",
                if entries == 1 { "" } else { "s" }
            ));
        }
        Some(crate::exec::journal::Recovered::Completed { pid, command }) => {
            ctx.printer.warn(&format!(
                "an apply (pid {pid}, `{command}`) was interrupted after it committed; finished its clean-up first"
            ));
        }
        None => {}
    }
    let loaded = crate::registry::store::load(home)?;
    for warning in &loaded.warnings {
        ctx.printer.warn(warning);
    }
    Ok((lock, loaded.registry))
}
