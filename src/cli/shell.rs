//! `beep-python shell ENV`: the user's shell with the environment active.

use super::run::{CheckArgs, load, ready};
use super::{CliError, Context, Outcome};

use crate::usage::shell::{self, ShellKind};

#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// The environment (a name from the manifest's `[environments]`).
    #[arg(value_name = "ENV")]
    pub env: String,
    #[command(flatten)]
    pub check: CheckArgs,
}

pub fn run(ctx: &Context, args: &ShellArgs) -> Result<Outcome, CliError> {
    let (manifest, home) = load(ctx)?;
    let activation = ready(ctx, &manifest, &home, &args.env, args.check)?;
    let user_shell = shell::user_shell();
    let mut launch = shell::launch(&activation, &user_shell).map_err(|source| CliError::Shell {
        shell: user_shell.clone(),
        source,
    })?;
    let name = shell::display_name(&launch.shell);
    if std::env::var_os("VIRTUAL_ENV").is_some_and(|v| v == activation.root.as_os_str()) {
        ctx.printer.warn(&format!(
            "environment `{}` is already active in this shell; starting another one inside it",
            activation.name
        ));
    }
    ctx.printer.info(&format!(
        "Entering environment `{}` in {name}; {} to leave it.",
        activation.name,
        launch.kind.how_to_leave()
    ));
    if launch.kind == ShellKind::Other {
        ctx.printer.info(&format!(
            "({name} gets the variables, not the activation script: its startup files may change `PATH`)"
        ));
    }
    // The terminal sends Ctrl-C to the shell and to us: the shell handles
    // it; we wait for it to exit.
    let _ = ctrlc::set_handler(|| {});
    let status = launch.command.status().map_err(|source| CliError::Shell {
        shell: launch.shell.clone(),
        source,
    })?;
    drop(launch.startup_dir.take());
    ctx.printer
        .info(&format!("Left environment `{}`.", activation.name));
    // The shell's status is the command's (as `run` passes its command's
    // through); nothing is left to clean up at this point.
    std::process::exit(exit_code(status))
}

/// The shell's exit code; a shell killed by a signal exits 128 + signal, as
/// shells report it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    status.code().unwrap_or(1)
}
