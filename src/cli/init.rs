//! `beep-python init`: a starter manifest that validates and uses an
//! interpreter already on the machine, so that the first `apply` needs no
//! download; `init --example` prints the annotated manifest with every key,
//! which is compiled into the binary (a user who installed only the binary
//! has no `beep-python.toml.example`).

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Context, Outcome};
use crate::manifest::MANIFEST_FILE;

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Print an annotated manifest with every key explained to stdout;
    /// write nothing.
    #[arg(long)]
    pub example: bool,
}

/// The annotated example, as in the repository.
pub const EXAMPLE: &str = include_str!("../../beep-python.toml.example");

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InitError {
    #[error("`{}` already exists", path.display())]
    #[diagnostic(
        code("init::exists"),
        help("nothing was changed; edit the existing manifest, or remove it first to start over")
    )]
    Exists { path: PathBuf },

    #[error("could not write `{}`", path.display())]
    #[diagnostic(code("init::io"))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The starter manifest. `tests/it` checks that it validates.
pub const STARTER: &str = r#"# beep-python manifest: the Python interpreters and environments of this project.
# `beep-python validate` checks it; `beep-python init --example` shows every key.
version = 1

[settings]
default-runtime = "python"

# An interpreter already on this machine: the newest one that matches.
# For a downloaded, checksum-verified build, use `version = "3.12"` without `source`.
[runtimes.python]
source = "system"
version = ">=3.9"

[environments.dev]
template = "minimal"          # pip, setuptools, wheel
path = ".venv"                # relative to this file
packages = []
"#;

pub fn run(ctx: &Context, args: &InitArgs) -> Result<Outcome, CliError> {
    if args.example {
        ctx.printer.data(&example_for_users())?;
        return Ok(Outcome::Success);
    }
    let path = match &ctx.manifest {
        Some(p) => p.clone(),
        None => ctx.cwd()?.join(MANIFEST_FILE),
    };
    // `create_new` makes "refuse to overwrite" atomic: no window in which
    // another process's file could be clobbered.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(InitError::Exists { path }.into());
        }
        Err(source) => return Err(InitError::Write { path, source }.into()),
    };
    if let Err(source) = file
        .write_all(STARTER.as_bytes())
        .and_then(|()| file.sync_all())
    {
        let _ = fs_err::remove_file(&path);
        return Err(InitError::Write { path, source }.into());
    }
    ctx.printer.info(&format!(
        "wrote `{}`; check it with `beep-python validate`",
        path.display()
    ));
    Ok(Outcome::Success)
}

/// [`EXAMPLE`] without its `#:schema` line, which points at the
/// repository's copy of the schema: a manifest saved from this output
/// would name a file its user does not have.
fn example_for_users() -> String {
    EXAMPLE
        .lines()
        .filter(|line| !line.starts_with("#:schema"))
        .map(|line| format!("{line}\n"))
        .collect()
}
