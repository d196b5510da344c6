//! Using an environment once it is built: the variables activation sets
//! ([`activation`]), the check that it matches the manifest before anything
//! runs in it ([`check()`]), running a command in it ([`run`]), starting a
//! shell in it ([`shell`]), and pointing VS Code at it ([`vscode`]).
//!
//! Everything here starts from the manifest's resolution of one environment
//! ([`environment`]), so `run`, `env`, `shell` and `vscode` agree with each
//! other and with the activation scripts that `apply` writes
//! ([`crate::venv::scripts`]): `VIRTUAL_ENV`, `VIRTUAL_ENV_PROMPT`, the
//! scripts folder first on `PATH`, `PYTHONHOME` unset, and the manifest's
//! env vars (the environment's over its templates').

pub mod activation;
pub mod check;
pub mod run;
pub mod shell;
pub mod vscode;

use std::path::{Path, PathBuf};

use crate::manifest::Manifest;
use crate::manifest::resolve::{self, ResolvedEnvironment};

pub use activation::{Activation, EnvFormat};
pub use check::{CheckError, Stale, Verdict, check};

/// Why an environment cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum UsageError {
    #[error("no environment `{name}` in `{}`", manifest.display())]
    #[diagnostic(code("usage::unknown-environment"))]
    UnknownEnvironment {
        name: String,
        manifest: PathBuf,
        #[help]
        help: Option<String>,
    },

    /// The check found the environment out of date with the manifest.
    #[error("{}", stale.sentence(name))]
    #[diagnostic(
        code("usage::out-of-date"),
        help(
            "run `beep-python apply --target env.{name}` first, or add `--sync` to apply it and go on; `--no-check` uses it as it is"
        )
    )]
    OutOfDate { name: String, stale: Stale },

    #[error("environment `{name}` has not been built: `{}` does not exist", python.display())]
    #[diagnostic(
        code("usage::not-built"),
        help("run `beep-python apply --target env.{name}`, or add `--sync`")
    )]
    NotBuilt { name: String, python: PathBuf },

    #[error("`{program}` was not found in environment `{name}` (`{}`) or on `PATH`", bin.display())]
    #[diagnostic(
        code("usage::command-not-found"),
        help(
            "check the spelling, or add the package that provides it to the environment's `packages`"
        )
    )]
    CommandNotFound {
        program: String,
        name: String,
        bin: PathBuf,
    },

    #[error("could not activate the conda environment `{name}`")]
    #[diagnostic(code("usage::conda-activation"))]
    CondaActivation {
        name: String,
        #[source]
        #[diagnostic_source]
        source: crate::conda::CondaError,
    },

    #[error("could not run `{}`", program.display())]
    #[diagnostic(code("usage::exec"))]
    Exec {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl UsageError {
    /// The exit code, following `env(1)` and POSIX shells for a command
    /// that cannot be run: 127 not found, 126 found but not runnable.
    pub fn exit_code(&self) -> i32 {
        match self {
            UsageError::CommandNotFound { .. } => 127,
            UsageError::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            UsageError::Exec { .. } => 126,
            UsageError::UnknownEnvironment { .. }
            | UsageError::OutOfDate { .. }
            | UsageError::NotBuilt { .. }
            | UsageError::CondaActivation { .. } => 1,
        }
    }
}

/// The manifest's resolution of environment `name` (`home` locates
/// environments without a `path`).
pub fn environment(
    manifest: &Manifest,
    home: &Path,
    name: &str,
) -> Result<ResolvedEnvironment, UsageError> {
    let mut resolved = resolve::resolve(manifest, home);
    match resolved.iter().position(|env| env.name == name) {
        Some(index) => Ok(resolved.swap_remove(index)),
        None => Err(UsageError::UnknownEnvironment {
            name: name.to_string(),
            manifest: manifest.path.clone(),
            help: crate::diagnostic::suggestion(name, resolved.iter().map(|e| e.name.as_str()))
                .or_else(|| {
                    let names: Vec<&str> = resolved.iter().map(|e| e.name.as_str()).collect();
                    Some(if names.is_empty() {
                        "the manifest declares no environments yet; add an `[environments.NAME]` table".to_string()
                    } else {
                        format!("its environments are: {}", names.join(", "))
                    })
                }),
        }),
    }
}

/// [`environment`] and its [`Activation`], checked to be built (its
/// interpreter exists). Whether it matches the manifest is [`check()`]'s
/// question, asked separately because `--no-check` skips it.
pub fn built(manifest: &Manifest, home: &Path, name: &str) -> Result<Activation, UsageError> {
    let env = environment(manifest, home, name)?;
    let mut activation = Activation::of(&env);
    if !activation.python.exists() {
        return Err(UsageError::NotBuilt {
            name: name.to_string(),
            python: activation.python,
        });
    }
    if env.kind == crate::manifest::EnvironmentKind::Conda {
        activation
            .activate_conda()
            .map_err(|source| UsageError::CondaActivation {
                name: name.to_string(),
                source,
            })?;
    }
    Ok(activation)
}
