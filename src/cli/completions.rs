//! `beep-python completions SHELL` and `beep-python man`: generated from
//! the command-line definition itself, so they always match the binary
//! that prints them.
//!
//! Man pages come from a subcommand rather than a build script, because a
//! binary installed with `cargo install` keeps no build output: the binary
//! is the one thing every user has (as `rustup completions` and `jj util
//! mangen` do).

use std::path::PathBuf;

use clap::CommandFactory;

use super::{Cli, CliError, Context, Outcome};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command (`beep-python.1`, `beep-python-run.1`, ...)
    /// into this folder; without it, the main page goes to stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completions(ctx: &Context, args: &CompletionsArgs) -> Result<Outcome, CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "beep-python", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if args.shell == clap_complete::Shell::Bash {
        // clap_complete's bash script spells a hyphenated binary's state two
        // ways (`beep__python__subcmd__run` where it is set,
        // `beep__subcmd__python__subcmd__run` where it is matched), so no
        // subcommand's options would complete (clap issue #6421). Spell the
        // matches as the state is set; the bash test completes `run --s`.
        script = script.replace("beep__subcmd__python", "beep__python");
    }
    ctx.printer.data(&script)?;
    Ok(Outcome::Success)
}

pub fn man(ctx: &Context, args: &ManArgs) -> Result<Outcome, CliError> {
    let command = Cli::command();
    match &args.out_dir {
        Some(dir) => {
            fs_err::create_dir_all(dir).map_err(|e| CliError::Write(dir.clone(), e))?;
            clap_mangen::generate_to(command, dir).map_err(|e| CliError::Write(dir.clone(), e))?;
            ctx.printer.info(&format!(
                "wrote the man pages to `{}`; `man beep-python` finds them when that folder is under a `MANPATH` entry (for example `~/.local/share/man/man1`)",
                dir.display()
            ));
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| CliError::Write(PathBuf::from("<stdout>"), e))?;
            ctx.printer.data(&String::from_utf8_lossy(&page))?;
        }
    }
    Ok(Outcome::Success)
}
