//! Installing packages into an environment with pip or uv.
//!
//! [`select`] picks the program once per command (`settings.installer`:
//! `auto` means uv when an executable `uv` is on `PATH`, else pip);
//! [`install`] and [`uninstall`] run it against one environment's
//! interpreter:
//!
//! ```text
//! <python> -m pip install --no-input --disable-pip-version-check [--index-url U] [--find-links L]... [--no-index] REQ...
//! uv pip install --python <python> [--index-url U] [--find-links L]... [--offline] [--no-index] REQ...
//! ```
//!
//! Invariants:
//!
//! - Only what the manifest sets is overridden: the user's pip and uv
//!   configuration (config files, `PIP_*`/`UV_*` variables) still applies.
//!   Added on top: no prompts (`PIP_NO_INPUT`), no pip self-check, and
//!   `UV_PYTHON_DOWNLOADS=never` so that uv never fetches an interpreter
//!   behind our back.
//! - Offline means no index at all: both tools get `--no-index` (pip has no
//!   cache-only mode, so the index URL is dropped too), uv also `--offline`.
//!   With an `index-url` set, uv keeps it and reads it from its cache only.
//! - A requirement or name that starts with `-` is refused before anything
//!   runs: it would be read as an option. The manifest validator rejects
//!   them too; this is the last line of defence.
//! - The child never reads our stdin and never writes to our terminal; its
//!   output is kept as a bounded tail (see `run`) for the outcome and for
//!   errors, which name the environment and, when the output says so, the
//!   requirement that could not be satisfied (see `failure`). Each line can
//!   also be heard as it arrives ([`install_observed`]): apply's progress
//!   shows it as what the installer is doing now. No `-q` and no `-v`: the
//!   default verbosity of both names each package, and `-v` would push the
//!   error out of the tail.
//! - Cancellation (the flag set by the Ctrl-C handler) kills the installer
//!   and its children within ~50 ms.

mod failure;
mod run;
mod sync;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::manifest::Installer;

pub use run::{Gate, OnLine, TAIL_LINES};
pub use sync::sync;
pub(crate) use sync::{run_captured, tool_command};

/// The program that installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pip,
    Uv,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pip => "pip",
            Kind::Uv => "uv",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The manifest's installer settings (`[settings]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub installer: Installer,
    /// `--index-url`; `None` keeps the user's configuration.
    pub index_url: Option<String>,
    /// `--find-links`, already resolved: absolute paths or URLs.
    pub find_links: Vec<String>,
    /// Never contact an index.
    pub offline: bool,
}

/// The installer chosen for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub kind: Kind,
    /// The `uv` executable, when `kind` is [`Kind::Uv`].
    pub uv: Option<PathBuf>,
}

/// What to install where.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The environment's `bin/python` (`Scripts\python.exe` on Windows).
    pub python: &'a Path,
    /// PEP 508 requirement strings.
    pub requirements: &'a [String],
    /// The environment's name, for messages.
    pub environment: &'a str,
    /// A constraints file (`-c`): pins the resolution may not move.
    pub constraints: Option<&'a Path>,
}

/// A successful install.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The last lines the installer printed (stdout and stderr, interleaved
    /// as they arrived), at most [`TAIL_LINES`].
    pub stdout_tail: Vec<String>,
    pub duration: Duration,
    /// The command line that ran, for `-v` logs.
    pub command: String,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InstallError {
    #[error("`settings.installer` is `uv`, but no executable `uv` is on `PATH`")]
    #[diagnostic(
        code("installer::uv-not-found"),
        help(
            "install uv (for example `pipx install uv`) and make sure it is on `PATH`, or set `settings.installer = \"pip\"` (or `\"auto\"`)"
        )
    )]
    UvNotFound,

    #[error(
        "refusing to pass `{argument}` to {installer} for environment `{environment}`: it starts with `-` and would be read as an option"
    )]
    #[diagnostic(
        code("installer::option-like"),
        help(
            "write the requirement as a PEP 508 string (`name[extras] specifier`), without leading dashes"
        )
    )]
    OptionLike {
        environment: String,
        installer: Kind,
        argument: String,
    },

    #[error("could not start {installer} for environment `{environment}` (`{}`)", program.display())]
    #[diagnostic(
        code("installer::spawn"),
        help(
            "check that the environment's interpreter exists and runs; `beep-python plan` shows environments that need rebuilding"
        )
    )]
    Spawn {
        environment: String,
        installer: Kind,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("pip is not installed in environment `{environment}` (`{}`)", python.display())]
    #[diagnostic(
        code("installer::no-pip"),
        help(
            "install uv and set `settings.installer = \"uv\"` (it needs no pip in the environment), or rebuild the environment so that pip is seeded"
        )
    )]
    PipMissing {
        environment: String,
        python: PathBuf,
    },

    #[error("{}", failed_message(environment, *installer, *status, failing_requirement.as_deref()))]
    #[diagnostic(
        code("installer::failed"),
        help("{}", failed_help(*installer, last_lines, failing_requirement.is_some()))
    )]
    Failed {
        environment: String,
        installer: Kind,
        status: ExitStatus,
        /// The requirement the installer's output blames, as it wrote it
        /// (a name, or a name with a specifier).
        failing_requirement: Option<String>,
        /// The installer's last lines of output (at most [`TAIL_LINES`]).
        last_lines: Vec<String>,
    },

    #[error(
        "{installer} was stopped before it changed environment `{environment}`: what had to be done first failed"
    )]
    #[diagnostic(
        code("installer::not-released"),
        help("the cause is below; nothing was installed")
    )]
    NotReleased {
        environment: String,
        installer: Kind,
        #[source]
        source: std::io::Error,
    },

    #[error("{installer} could not uninstall {} from environment `{environment}` ({})", names.join(", "), crate::process::describe(*status))]
    #[diagnostic(
        code("installer::uninstall-failed"),
        help("{}", output_block(*installer, last_lines))
    )]
    UninstallFailed {
        environment: String,
        installer: Kind,
        status: ExitStatus,
        names: Vec<String>,
        last_lines: Vec<String>,
    },

    #[error("the installer was cancelled")]
    #[diagnostic(code("installer::cancelled"))]
    Cancelled,
}

fn failed_message(
    environment: &str,
    installer: Kind,
    status: ExitStatus,
    failing: Option<&str>,
) -> String {
    let status = crate::process::describe(status);
    match failing {
        Some(requirement) => format!(
            "could not install packages into environment `{environment}`: {installer} could not satisfy `{requirement}` ({status})"
        ),
        None => format!(
            "could not install packages into environment `{environment}`: {installer} failed ({status})"
        ),
    }
}

/// The installer's own words first (they say what really went wrong), then
/// the next step.
fn failed_help(installer: Kind, last_lines: &[String], resolution: bool) -> String {
    let next = if resolution {
        "check the requirement's spelling and version, and that `settings.index-url` or `settings.find-links` offer it (with `settings.offline`, only `find-links` are searched)"
    } else {
        "its output says why; check `settings.index-url` and `settings.find-links` if a package could not be fetched"
    };
    let block = output_block(installer, last_lines);
    if block.is_empty() {
        next.to_string()
    } else {
        format!("{block}\n{next}")
    }
}

fn output_block(installer: Kind, last_lines: &[String]) -> String {
    if last_lines.is_empty() {
        return String::new();
    }
    let mut text = format!("{installer}'s last lines of output:");
    for line in last_lines {
        text.push_str("\n    ");
        text.push_str(line);
    }
    text
}

/// Picks the installer. `path_var` is the `PATH` to search for `uv` (the
/// process's own in production; tests pass a fake one).
pub fn select(config: &Config, path_var: Option<&OsStr>) -> Result<Selected, InstallError> {
    match config.installer {
        Installer::Pip => Ok(Selected {
            kind: Kind::Pip,
            uv: None,
        }),
        Installer::Uv => match find_uv(path_var) {
            Some(uv) => Ok(Selected {
                kind: Kind::Uv,
                uv: Some(uv),
            }),
            None => Err(InstallError::UvNotFound),
        },
        Installer::Auto | Installer::Native => Ok(match find_uv(path_var) {
            Some(uv) => Selected {
                kind: Kind::Uv,
                uv: Some(uv),
            },
            None => Selected {
                kind: Kind::Pip,
                uv: None,
            },
        }),
    }
}

/// The first executable `uv` on `path_var`.
fn find_uv(path_var: Option<&OsStr>) -> Option<PathBuf> {
    let name = if cfg!(windows) { "uv.exe" } else { "uv" };
    std::env::split_paths(path_var?)
        // An empty PATH entry means the current folder to a shell; a
        // relative `uv` would change meaning with the cwd, so only absolute
        // folders count.
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    // `metadata` follows links: a link to a real `uv` counts, a dangling one
    // does not.
    let Ok(meta) = fs_err::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Installs `req.requirements` into the environment of `req.python`.
pub fn install(sel: &Selected, config: &Config, req: &Request) -> Result<Outcome, InstallError> {
    install_cancellable(sel, config, req, &AtomicBool::new(false))
}

/// [`install`], killing the installer and returning
/// [`InstallError::Cancelled`] once `cancel` is set.
pub fn install_cancellable(
    sel: &Selected,
    config: &Config,
    req: &Request,
    cancel: &AtomicBool,
) -> Result<Outcome, InstallError> {
    install_observed(sel, config, req, cancel, None)
}

/// [`install_cancellable`], with each line the installer prints handed to
/// `on_line` as it arrives (cleaned of escape sequences, never blank): what
/// it is doing now, for the live progress. Both tools run at their default
/// verbosity, which names each package as it is collected, downloaded,
/// built or installed (pip: `Collecting`, `Downloading`, `Processing`,
/// `Installing collected packages`; uv: `Downloading` and `Building` for
/// large downloads and builds, then `Resolved`, `Prepared`, `Installed` and
/// ` + name==version`), without flooding the output tail that errors show.
pub fn install_observed(
    sel: &Selected,
    config: &Config,
    req: &Request,
    cancel: &AtomicBool,
    on_line: Option<OnLine<'_>>,
) -> Result<Outcome, InstallError> {
    install_gated(sel, config, req, cancel, on_line, None)
}

/// [`install_observed`], the installer changing nothing before `gate`
/// succeeded. pip imports itself meanwhile and waits (`-c` [`PIP_GATE`]
/// instead of `-m pip`), so the gate's work is hidden behind pip's
/// start-up; uv, which starts in milliseconds, is started after it.
pub fn install_gated(
    sel: &Selected,
    config: &Config,
    req: &Request,
    cancel: &AtomicBool,
    on_line: Option<OnLine<'_>>,
    gate: Option<Gate<'_>>,
) -> Result<Outcome, InstallError> {
    refuse_options(sel.kind, req.environment, req.requirements)?;
    if req.requirements.is_empty() {
        return Ok(Outcome {
            stdout_tail: Vec::new(),
            duration: Duration::ZERO,
            command: String::new(),
        });
    }
    let not_released = |source| InstallError::NotReleased {
        environment: req.environment.to_string(),
        installer: sel.kind,
        source,
    };
    let mut command = install_command(sel, config, req)?;
    let shown = show(&command);
    let gate = match (gate, sel.kind) {
        (Some(gate), Kind::Uv) => {
            gate().map_err(not_released)?;
            None
        }
        (Some(gate), Kind::Pip) => {
            command = gated_pip(command);
            Some(gate)
        }
        (None, _) => None,
    };

    let started = Instant::now();
    let finished = run_tool(
        sel,
        &mut command,
        req.python,
        req.environment,
        cancel,
        on_line,
        gate,
    )?;
    if finished.status.success() {
        return Ok(Outcome {
            stdout_tail: finished.tail,
            duration: started.elapsed(),
            command: shown,
        });
    }
    if sel.kind == Kind::Pip && finished.pip_missing {
        return Err(InstallError::PipMissing {
            environment: req.environment.to_string(),
            python: req.python.to_path_buf(),
        });
    }
    Err(InstallError::Failed {
        environment: req.environment.to_string(),
        installer: sel.kind,
        status: finished.status,
        failing_requirement: finished.finding.map(|f| f.requirement),
        last_lines: finished.tail,
    })
}

/// pip, held at its start until it reads `1` on stdin ([`run::Gate`]):
/// it drops the current folder from `sys.path` as `python -m pip` does,
/// imports its command line and `install` (the slow part of its
/// start-up), then waits. A pip too old for those modules is run as
/// `-m pip` would run it, after the go. Never told to go, it exits 3.
pub const PIP_GATE: &str = "\
import os, sys
if sys.path and sys.path[0] in ('', os.getcwd()):
    sys.path.pop(0)
try:
    from pip._internal.cli.main import main
    import pip._internal.commands.install
except Exception:
    main = None
if sys.stdin.read(1) != '1':
    sys.exit(3)
if main is None:
    import runpy
    sys.argv[0] = 'pip'
    runpy.run_module('pip', run_name='__main__', alter_sys=True)
else:
    sys.exit(main(sys.argv[1:]))
";

/// `<python> -m pip ARGS` as `<python> -c PIP_GATE ARGS`, same
/// environment and folder.
fn gated_pip(command: Command) -> Command {
    let mut gated = Command::new(command.get_program());
    let mut args = command.get_args();
    // `-m`, `pip`: the rest is pip's own arguments.
    let _ = args.next();
    let _ = args.next();
    gated.arg("-c").arg(PIP_GATE).args(args);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => gated.env(key, value),
            None => gated.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        gated.current_dir(dir);
    }
    gated
}

/// Runs the installer to its end (or until `cancel`), turning a failure to
/// start it and a cancellation into errors; the caller judges the exit.
fn run_tool(
    sel: &Selected,
    command: &mut Command,
    python: &Path,
    environment: &str,
    cancel: &AtomicBool,
    on_line: Option<OnLine<'_>>,
    gate: Option<Gate<'_>>,
) -> Result<run::Finished, InstallError> {
    let ended = run::run(command, sel.kind, cancel, on_line, gate).map_err(|source| {
        InstallError::Spawn {
            environment: environment.to_string(),
            installer: sel.kind,
            program: program_of(sel, python),
            source,
        }
    })?;
    match ended {
        run::Ended::Cancelled => Err(InstallError::Cancelled),
        run::Ended::NotReleased(source) => Err(InstallError::NotReleased {
            environment: environment.to_string(),
            installer: sel.kind,
            source,
        }),
        run::Ended::Exited(finished) => Ok(finished),
    }
}

/// Removes the distributions `names` from the environment of `python`.
/// Names that are not installed are skipped (both tools only warn).
pub fn uninstall(
    sel: &Selected,
    config: &Config,
    python: &Path,
    names: &[String],
    environment: &str,
) -> Result<(), InstallError> {
    // Uninstalling consults no index: nothing in `config` applies today.
    let _ = config;
    refuse_options(sel.kind, environment, names)?;
    if names.is_empty() {
        return Ok(());
    }
    let mut command = base_command(sel, python, "uninstall")?;
    if sel.kind == Kind::Pip {
        command.arg("--yes");
    }
    command.args(names);
    let finished = run_tool(
        sel,
        &mut command,
        python,
        environment,
        &AtomicBool::new(false),
        None,
        None,
    )?;
    if finished.status.success() {
        Ok(())
    } else if sel.kind == Kind::Pip && finished.pip_missing {
        Err(InstallError::PipMissing {
            environment: environment.to_string(),
            python: python.to_path_buf(),
        })
    } else {
        Err(InstallError::UninstallFailed {
            environment: environment.to_string(),
            installer: sel.kind,
            status: finished.status,
            names: names.to_vec(),
            last_lines: finished.tail,
        })
    }
}

fn refuse_options(kind: Kind, environment: &str, arguments: &[String]) -> Result<(), InstallError> {
    match arguments.iter().find(|a| a.trim_start().starts_with('-')) {
        Some(argument) => Err(InstallError::OptionLike {
            environment: environment.to_string(),
            installer: kind,
            argument: argument.clone(),
        }),
        None => Ok(()),
    }
}

fn program_of(sel: &Selected, python: &Path) -> PathBuf {
    match (sel.kind, &sel.uv) {
        (Kind::Uv, Some(uv)) => uv.clone(),
        (Kind::Uv, None) => PathBuf::from("uv"),
        (Kind::Pip, _) => python.to_path_buf(),
    }
}

/// `<python> -m pip <verb> ...` or `uv pip <verb> --python <python> ...`,
/// with the environment both tools get.
fn base_command(sel: &Selected, python: &Path, verb: &str) -> Result<Command, InstallError> {
    match sel.kind {
        Kind::Pip => {
            let mut command = Command::new(python);
            command
                .args(["-m", "pip", verb])
                .env("PIP_NO_INPUT", "1")
                .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
            if verb == "install" {
                command.args(["--no-input", "--disable-pip-version-check"]);
            }
            Ok(command)
        }
        Kind::Uv => {
            let uv = sel.uv.as_ref().ok_or(InstallError::UvNotFound)?;
            let mut command = Command::new(uv);
            command
                .args(["pip", verb, "--python"])
                .arg(python)
                .env("UV_PYTHON_DOWNLOADS", "never");
            Ok(command)
        }
    }
}

/// The command line as a user would type it, for logs.
fn show(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+<>[]~".contains(c))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command [`install`] runs, not started: for `-v` logs and tests.
pub fn install_command(
    sel: &Selected,
    config: &Config,
    req: &Request,
) -> Result<Command, InstallError> {
    refuse_options(sel.kind, req.environment, req.requirements)?;
    let mut command = base_command(sel, req.python, "install")?;
    sync::index_flags(sel.kind, config, &mut command);
    if let Some(constraints) = req.constraints {
        command.arg("-c").arg(constraints);
    }
    command.args(req.requirements);
    Ok(command)
}
