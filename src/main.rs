//! The `beep-python` binary: parse the command line, run, and map the outcome
//! to an exit code (DESIGN "Command line"). The only place errors are
//! rendered.

use std::process::ExitCode;

use clap::Parser;

use beep_python::cli::{self, Cli, CliError, Outcome};
use beep_python::report;

/// Usage errors exit 64 (EX_USAGE), not clap's default 2, which is
/// `plan --detailed-exitcode`'s "changes pending".
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                // `--help` and `--version` asked for output; a missing
                // subcommand shows the help too, but is a usage error.
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cli::run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::FAILURE,
        Ok(Outcome::ChangesPending) => ExitCode::from(2),
        Err(CliError::Many(problems)) => {
            for problem in &problems {
                eprint!("{}", report::render(problem.as_ref(), color));
            }
            ExitCode::FAILURE
        }
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", report::render(&e, color));
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
