//! `beep-python init`: a starter manifest that validates and uses an
//! interpreter already on the machine, so that the first `apply` needs no
//! download.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, Context, Outcome};
use crate::manifest::MANIFEST_FILE;

#[derive(Debug, clap::Args)]
pub struct InitArgs {}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InitError {
    #[error("`{}` already exists", path.display())]
    #[diagnostic(
        code(init::exists),
        help("nothing was changed; edit the existing manifest, or remove it first to start over")
    )]
    Exists { path: PathBuf },

    #[error("could not write `{}`", path.display())]
    #[diagnostic(code(init::io))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The starter manifest. `tests/it` checks that it validates.
pub const STARTER: &str = r#"# beep-python manifest: the Python interpreters and environments of this project.
# `beep-python validate` checks it; see beep-python.toml.example for every key.
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

pub fn run(ctx: &Context, _args: &InitArgs) -> Result<Outcome, CliError> {
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
        let _ = std::fs::remove_file(&path);
        return Err(InitError::Write { path, source }.into());
    }
    ctx.printer.info(&format!(
        "wrote `{}`; check it with `beep-python validate`",
        path.display()
    ));
    Ok(Outcome::Success)
}
