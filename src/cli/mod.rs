//! The command line: clap structs (their doc comments are the help text) and
//! one thin function per command that calls into the library.

mod bundle;
mod completions;
mod doctor;
mod env;
mod export;
mod init;
mod lock;
mod reconcile;
mod recover;
mod run;
mod runtimes;
mod shell;
mod validate;
mod vscode;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::report::{BrokenPipe, Format, Printer, Verbosity};

/// The heading of the options every command takes, apart from its own.
const GLOBAL: &str = "Global options";

/// Declare Python interpreters and virtual environments in
/// `beep-python.toml`, then plan and apply them like infrastructure.
#[derive(Debug, Parser)]
#[command(
    name = "beep-python",
    version,
    propagate_version = true,
    max_term_width = 100,
    // Our own `help` command: clap's treats `help --help` as a usage error.
    disable_help_subcommand = true,
    after_help = EXAMPLES_MAIN
)]
pub struct Cli {
    /// The manifest to use (default: `beep-python.toml` in this folder or the nearest one above).
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub manifest: Option<PathBuf>,

    /// Where beep-python keeps its state [env: BEEP_PYTHON_HOME] [default: ~/.beep-python].
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub home: Option<PathBuf>,

    /// Output format of stdout.
    #[arg(
        long,
        global = true,
        value_parser = format_parser(&["human", "json"]),
        default_value = "human",
        value_name = "FORMAT",
        help_heading = GLOBAL
    )]
    pub format: FormatArg,

    /// Print only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,

    /// Print more about what is happening.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub verbose: bool,

    /// Seconds to wait for another beep-python using the same home (0: fail at once, exit 3).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 0.0, value_parser = parse_seconds, help_heading = GLOBAL)]
    pub lock_timeout: f64,

    #[command(subcommand)]
    pub command: Command,
}

/// A `--format` parser that accepts only `names` (each a [`FormatArg`]).
pub(crate) fn format_parser(
    names: &'static [&'static str],
) -> impl clap::builder::TypedValueParser<Value = FormatArg> {
    use clap::builder::TypedValueParser as _;
    // Every name given is a `FormatArg`'s (the `env` tests use each one).
    clap::builder::PossibleValuesParser::new(names.iter().copied()).map(|name: String| {
        <FormatArg as clap::ValueEnum>::from_str(&name, false).unwrap_or_default()
    })
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0 * 7.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 604800"
        )),
    }
}

/// `--format`: `human` or `json` for every command; `env` prints shell
/// syntaxes instead. One value type for both, so that `env --format fish`
/// and the global option are the same argument to clap (an argument with
/// the global one's id is not overridden by it), each with its own values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FormatArg {
    #[default]
    Human,
    Json,
    Sh,
    Fish,
    Powershell,
    Dotenv,
    /// `export`: `beep-python.toml` and `beep-python.lock`.
    Manifest,
    /// `export`: one PEP 751 `pylock.<env>.toml` per environment.
    Pylock,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter `beep-python.toml` (never overwrites one).
    #[command(after_help = EXAMPLES_INIT)]
    Init(init::InitArgs),
    /// Check the manifest and report every problem, with its place in the file.
    #[command(after_help = EXAMPLES_VALIDATE)]
    Validate,
    /// Resolve every environment to exact versions with hashes, and pin
    /// the runtimes, in `beep-python.lock` next to the manifest.
    #[command(after_help = EXAMPLES_LOCK)]
    Lock(lock::LockArgs),
    /// Show what `apply` would change.
    #[command(after_help = EXAMPLES_PLAN)]
    Plan(reconcile::PlanArgs),
    /// Make the machine match the manifest, all or nothing.
    #[command(after_help = EXAMPLES_APPLY)]
    Apply(reconcile::ApplyArgs),
    /// Remove every environment and runtime this manifest manages.
    #[command(after_help = EXAMPLES_DESTROY)]
    Destroy(reconcile::DestroyArgs),
    /// Managed environments and runtimes, with the plan's verdict on each.
    #[command(after_help = EXAMPLES_STATUS)]
    Status,
    /// Finish or undo what an interrupted apply left, and retry what a
    /// rollback could not undo; `--abandon` sets it aside, deleting nothing.
    #[command(after_help = EXAMPLES_RECOVER)]
    Recover(recover::RecoverArgs),
    /// Interpreters: list the registered ones, discover them, set the default.
    #[command(subcommand, after_help = EXAMPLES_RUNTIMES)]
    Runtimes(runtimes::RuntimesCommand),
    /// Check the health of runtimes, environments and the home; repair
    /// what can be repaired through the normal plan (`--fix`).
    ///
    /// Each finding has a severity, the resource, what was found and what
    /// to do (with the command, where one exists). Exit 0: nothing at
    /// warning or above; 2: something is; 1: doctor itself failed. Fast by
    /// default (no Python process); `--deep` runs each interpreter once.
    #[command(after_help = EXAMPLES_DOCTOR)]
    Doctor(doctor::DoctorArgs),
    /// Write the machine's environments as a manifest and a lock, to
    /// rebuild them elsewhere (`apply --locked`, or a bundle).
    #[command(after_help = EXAMPLES_EXPORT)]
    Export(export::ExportArgs),
    /// One file that rebuilds everything offline: make it, check it
    /// (`apply --bundle FILE` restores it).
    #[command(subcommand, after_help = EXAMPLES_BUNDLE)]
    Bundle(bundle::BundleCommand),
    /// Run a command inside an environment (it becomes the command: same
    /// stdin, signals and exit status).
    ///
    /// The environment is first checked against the manifest and the lock;
    /// an out-of-date one is an error that says why (`--sync` applies it
    /// first, `--no-check` skips the check). The command sees
    /// `VIRTUAL_ENV`, the environment's scripts first on `PATH`, the
    /// manifest's `env` variables, and no `PYTHONHOME`. A command that
    /// cannot be found exits 127, one that cannot be run 126.
    #[command(after_help = EXAMPLES_RUN)]
    Run(run::RunArgs),
    /// Print the variables that activating an environment sets, for `eval`,
    /// direnv and tools.
    #[command(after_help = EXAMPLES_ENV)]
    Env(env::EnvArgs),
    /// Start your shell (`$SHELL`) with an environment active; leave it with
    /// `exit`.
    #[command(after_help = EXAMPLES_SHELL)]
    Shell(shell::ShellArgs),
    /// Point VS Code at an environment: edit the workspace's
    /// `.vscode/settings.json`, keeping its comments and other settings.
    #[command(after_help = EXAMPLES_VSCODE)]
    Vscode(vscode::VscodeArgs),
    /// Print a completion script for a shell.
    #[command(after_help = EXAMPLES_COMPLETIONS)]
    Completions(completions::CompletionsArgs),
    /// Write the man pages (one per command).
    #[command(after_help = EXAMPLES_MAN)]
    Man(completions::ManArgs),
    /// Print the help of beep-python or of a command (`help runtimes list`).
    #[command(after_help = EXAMPLES_HELP)]
    Help {
        /// The command whose help to print.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
}

// Examples at the end of each `--help`. `tests/it/completions.rs` parses
// every line that starts with `beep-python`, so they stay real.
const EXAMPLES_MAIN: &str = "\
Examples:
  beep-python init && beep-python apply       # a starter manifest, then build it
  beep-python run dev -- python -m pytest     # run the tests in environment `dev`
  beep-python help run                        # the help of one command";
const EXAMPLES_INIT: &str = "\
Examples:
  beep-python init                            # write ./beep-python.toml
  beep-python init --example > reference.toml # every key, explained";
const EXAMPLES_VALIDATE: &str = "\
Examples:
  beep-python validate
  beep-python --manifest ci/beep-python.toml validate --format json";
const EXAMPLES_LOCK: &str = "\
Examples:
  beep-python lock                            # pin what is not pinned yet
  beep-python lock --upgrade-package requests # move one package to its newest version
  beep-python lock --upgrade                  # re-resolve everything";
const EXAMPLES_PLAN: &str = "\
Examples:
  beep-python plan
  beep-python plan --locked --detailed-exitcode   # in CI: exit 2 when changes are pending
  beep-python plan --target env.analysis --out analysis.plan
  beep-python plan --replace env.analysis      # rebuild it on purpose";
const EXAMPLES_APPLY: &str = "\
Examples:
  beep-python apply                           # show the plan, ask, apply
  beep-python apply --locked --auto-approve   # in CI: exactly what the lock pins
  beep-python apply analysis.plan             # exactly a plan saved with `plan --out`
  beep-python apply --bundle project.tar.zst --auto-approve   # offline, from `bundle create`";
const EXAMPLES_DESTROY: &str = "\
Examples:
  beep-python destroy
  beep-python destroy --auto-approve";
const EXAMPLES_STATUS: &str = "\
Examples:
  beep-python status
  beep-python status --format json";
const EXAMPLES_RECOVER: &str = "\
Examples:
  beep-python recover                         # roll back an interrupted apply, retry what is stuck
  beep-python recover --abandon               # forget it (deleting nothing); lists the paths it named";
const EXAMPLES_RUNTIMES: &str = "\
Examples:
  beep-python runtimes discover               # find every Python on this machine
  beep-python runtimes list --format json
  beep-python runtimes default /usr/bin/python3.11";
const EXAMPLES_DOCTOR: &str = "\
Examples:
  beep-python doctor                          # every fast check; exit 2 when something is wrong
  beep-python doctor --fix                    # show the repairs as a plan, ask, apply them all or nothing
  beep-python doctor env-base-interpreter env-libraries --deep
  beep-python doctor --list                   # every check, what it looks at, whether it can fix
  beep-python doctor --watch --interval 15m   # reports in <home>/health-reports/; Ctrl-C stops
  beep-python doctor --report last";
const EXAMPLES_EXPORT: &str = "\
Examples:
  beep-python export --out ~/machine          # every environment the registry records
  beep-python export ./.venv --find-links ~/wheels   # any virtual environment, ours or not
  beep-python export --format pylock --out locks     # the lock as PEP 751 pylock.<env>.toml files";
const EXAMPLES_BUNDLE: &str = "\
Examples:
  beep-python bundle create --out project.tar.zst   # manifest, lock, interpreters, wheels
  beep-python bundle verify project.tar.zst
  beep-python apply --bundle project.tar.zst --auto-approve   # on the new machine, offline";
const EXAMPLES_RUN: &str = "\
Examples:
  beep-python run analysis -- python -m pytest -x
  beep-python run analysis pytest -x          # `--` is optional; `pytest` is the environment's
  beep-python run --sync analysis -- python train.py   # apply the environment first if needed";
const EXAMPLES_ENV: &str = "\
Examples:
  eval \"$(beep-python env analysis)\"          # bash, zsh
  beep-python env analysis --format fish | source
  beep-python env analysis --format dotenv > .env      # direnv's `dotenv`, Docker";
const EXAMPLES_SHELL: &str = "\
Examples:
  beep-python shell analysis
  beep-python shell --sync analysis           # apply the environment first if needed";
const EXAMPLES_VSCODE: &str = "\
Examples:
  beep-python vscode analysis                 # the manifest's folder
  beep-python vscode analysis --folder services/api --dry-run";
const EXAMPLES_COMPLETIONS: &str = "\
Examples:
  beep-python completions bash > ~/.local/share/bash-completion/completions/beep-python
  beep-python completions zsh > ~/.zfunc/_beep-python
  beep-python completions fish > ~/.config/fish/completions/beep-python.fish";
const EXAMPLES_MAN: &str = "\
Examples:
  beep-python man --out-dir ~/.local/share/man/man1   # then `man beep-python-run`
  beep-python man | man -l -                          # read the main page now";
const EXAMPLES_HELP: &str = "\
Examples:
  beep-python help apply
  beep-python help runtimes default";

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

    #[error(transparent)]
    #[diagnostic(transparent)]
    Doctor(#[from] crate::doctor::DoctorError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Bundle(#[from] crate::bundle::BundleError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Export(#[from] crate::export::ExportError),

    /// Several independent problems (plan-time), each rendered.
    #[error("{} problems", .0.len())]
    Many(Vec<Box<dyn miette::Diagnostic + Send + Sync>>),

    /// The manifest is invalid; its diagnostics were printed already.
    #[error("`{}` has {errors} error{}; nothing was changed", path.display(), if *errors == 1 { "" } else { "s" })]
    #[diagnostic(
        code("manifest::invalid"),
        help("fix the problems above; `beep-python validate` checks the manifest alone")
    )]
    InvalidManifest { path: PathBuf, errors: usize },

    #[error("could not write `{}`", .0.display())]
    #[diagnostic(code("cli::write"))]
    Write(PathBuf, #[source] std::io::Error),

    #[error("`apply` needs confirmation, and there is no terminal to ask on")]
    #[diagnostic(
        code("cli::needs-approval"),
        help(
            "review the plan above, then run again with `--auto-approve`, or apply a saved plan (`plan --out FILE`, then `apply FILE`)"
        )
    )]
    NeedsApproval,

    #[error("cancelled; nothing was changed")]
    #[diagnostic(code("cli::declined"))]
    Declined,

    #[error("could not make a scratch folder to solve conda environments in")]
    #[diagnostic(code("cli::scratch"))]
    Scratch(#[source] std::io::Error),

    #[error("could not determine the current folder")]
    #[diagnostic(code("cli::cwd"))]
    CurrentDir(#[source] std::io::Error),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Usage(#[from] crate::usage::UsageError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Vscode(#[from] crate::usage::vscode::VscodeError),

    #[error("could not start the shell `{}`", shell.display())]
    #[diagnostic(code("cli::shell"), help("set `SHELL` to the shell you use"))]
    Shell {
        shell: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no command `{name}`")]
    #[diagnostic(code("cli::unknown-command"))]
    UnknownCommand {
        name: String,
        #[help]
        help: Option<String>,
    },

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
            CliError::Usage(e) => e.exit_code(),
            CliError::UnknownCommand { .. } => 64,
            CliError::Doctor(e) => e.exit_code(),
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
    let format = match cli.format {
        FormatArg::Human => Format::Human,
        FormatArg::Json => Format::Json,
        // Only `env` accepts these (the global option's parser refuses
        // them), and it reads its syntax from its own arguments.
        FormatArg::Sh
        | FormatArg::Fish
        | FormatArg::Powershell
        | FormatArg::Dotenv
        | FormatArg::Manifest
        | FormatArg::Pylock => Format::Human,
    };
    let ctx = Context {
        manifest: cli.manifest,
        home: cli.home,
        printer: Printer::new(format, verbosity),
        lock_timeout: std::time::Duration::from_secs_f64(cli.lock_timeout),
    };
    match cli.command {
        Command::Init(args) => init::run(&ctx, &args),
        Command::Validate => validate::run(&ctx),
        Command::Runtimes(command) => runtimes::run(&ctx, &command),
        Command::Export(args) => export::run(&ctx, &args),
        Command::Bundle(command) => bundle::run(&ctx, &command),
        Command::Lock(args) => lock::run(&ctx, &args),
        Command::Plan(args) => reconcile::plan(&ctx, &args),
        Command::Apply(args) => reconcile::apply(&ctx, &args),
        Command::Destroy(args) => reconcile::destroy(&ctx, &args),
        Command::Status => reconcile::status(&ctx),
        Command::Recover(args) => recover::run(&ctx, &args),
        Command::Doctor(args) => doctor::run(&ctx, &args),
        Command::Run(args) => run::run(&ctx, &args),
        Command::Env(args) => env::run(&ctx, &args),
        Command::Shell(args) => shell::run(&ctx, &args),
        Command::Vscode(args) => vscode::run(&ctx, &args),
        Command::Completions(args) => completions::completions(&ctx, &args),
        Command::Man(args) => completions::man(&ctx, &args),
        Command::Help { command } => help(&command),
    }
}

/// `beep-python help [COMMAND...]`: exactly what `COMMAND --help` prints
/// (clap renders it, so colour and layout are the same).
fn help(path: &[String]) -> Result<Outcome, CliError> {
    let mut command = Cli::command();
    let mut current = &mut command;
    for name in path {
        let names: Vec<String> = current
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        current = match current.find_subcommand_mut(name) {
            Some(sub) => sub,
            None => {
                return Err(CliError::UnknownCommand {
                    name: name.clone(),
                    help: crate::diagnostic::suggestion(name, names.iter().map(String::as_str))
                        .or_else(|| Some(format!("the commands are: {}", names.join(", ")))),
                });
            }
        };
    }
    let args = std::iter::once("beep-python")
        .chain(path.iter().map(String::as_str))
        .chain(std::iter::once("--help"));
    // Every name was found above, so parsing stops at `--help` with the
    // help as its "error".
    if let Err(e) = Cli::try_parse_from(args) {
        let _ = e.print();
    }
    Ok(Outcome::Success)
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

/// Reads and checks the manifest, printing its warnings; an invalid one
/// has each of its diagnostics printed exactly as `validate` prints them.
pub fn load_manifest(
    ctx: &Context,
    path: &std::path::Path,
    home: &crate::registry::Home,
) -> Result<crate::manifest::Checked, CliError> {
    let checked = check_manifest(ctx, path, home)?;
    for warning in checked.warnings.iter() {
        ctx.printer.diagnostic(warning);
    }
    Ok(checked)
}

/// [`load_manifest`] leaving the warnings to the caller: the commands that
/// use an environment (`run`, `env`, `shell`, `vscode`) keep their output
/// their own, but an invalid manifest still says exactly what is wrong.
pub fn check_manifest(
    ctx: &Context,
    path: &std::path::Path,
    home: &crate::registry::Home,
) -> Result<crate::manifest::Checked, CliError> {
    match crate::manifest::load(path, home.root()) {
        Ok(checked) => Ok(checked),
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
