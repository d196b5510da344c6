//! Activation of a conda environment, through rattler_shell: what `run`
//! and `env` need to reproduce `conda activate`.
//!
//! Two levels: [`activation`] only reads the prefix (the `PATH` entries,
//! `CONDA_PREFIX`, the variables of `etc/conda/env_vars.d/*.json` and
//! `conda-meta/state`, and the `etc/conda/activate.d` scripts for a shell);
//! [`activated_environment`] also runs those scripts in the shell (they may
//! set anything) and returns the environment that results.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rattler_conda_types::Subdir;
use rattler_shell::activation::{ActivationVariables, Activator, PathModificationBehavior};
use rattler_shell::shell::{Bash, CmdExe, Fish, PowerShell, Shell, Zsh};

use super::CondaError;
use super::install::error_chain;

/// The shells whose activation scripts (`*.sh`, `*.fish`, `*.ps1`,
/// `*.bat`) conda packages ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationShell {
    /// `*.sh` scripts, sourced by bash.
    Bash,
    /// `*.sh` scripts (zsh sources the same ones).
    Zsh,
    Fish,
    PowerShell,
    /// `*.bat` scripts.
    Cmd,
}

/// What activating a conda environment means, read from the prefix alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub prefix: PathBuf,
    /// Put in front of `PATH`, in this order.
    pub path_entries: Vec<PathBuf>,
    /// `CONDA_PREFIX`, then the environment's own variables, in order.
    pub variables: Vec<(String, String)>,
    /// The `etc/conda/activate.d` scripts for the shell, in the order conda
    /// runs them (sorted by name).
    pub scripts: Vec<PathBuf>,
}

/// Reads how to activate the environment at `prefix` in `shell`. Starts no
/// process.
pub fn activation(prefix: &Path, shell: ActivationShell) -> Result<Activation, CondaError> {
    let platform = platform_of_this_machine();
    let read = |e: rattler_shell::activation::ActivationError| CondaError::Activation {
        prefix: prefix.to_owned(),
        reason: error_chain(&e),
    };
    let (path_entries, env_vars, scripts) = match shell {
        ActivationShell::Bash => {
            parts(Activator::from_path(prefix, Bash::default(), platform).map_err(read)?)
        }
        ActivationShell::Zsh => parts(Activator::from_path(prefix, Zsh, platform).map_err(read)?),
        ActivationShell::Fish => parts(Activator::from_path(prefix, Fish, platform).map_err(read)?),
        ActivationShell::PowerShell => {
            parts(Activator::from_path(prefix, PowerShell::default(), platform).map_err(read)?)
        }
        ActivationShell::Cmd => {
            parts(Activator::from_path(prefix, CmdExe, platform).map_err(read)?)
        }
    };
    let mut variables = vec![(
        "CONDA_PREFIX".to_owned(),
        prefix.to_string_lossy().into_owned(),
    )];
    variables.extend(env_vars);
    Ok(Activation {
        prefix: prefix.to_owned(),
        path_entries,
        variables,
        scripts,
    })
}

type Parts = (Vec<PathBuf>, Vec<(String, String)>, Vec<PathBuf>);

fn parts<T: Shell + 'static>(activator: Activator<T>) -> Parts {
    (
        activator.paths,
        activator.env_vars.into_iter().collect(),
        activator.activation_scripts,
    )
}

/// The environment after activating `prefix` on top of `base` (usually the
/// current process's environment): runs the `activate.d` scripts in bash
/// (`cmd.exe` on Windows) and returns every variable as they left it.
pub fn activated_environment(
    prefix: &Path,
    base: &HashMap<String, String>,
) -> Result<HashMap<String, String>, CondaError> {
    let platform = platform_of_this_machine();
    let failed = |e: rattler_shell::activation::ActivationError| CondaError::Activation {
        prefix: prefix.to_owned(),
        reason: error_chain(&e),
    };
    let variables = ActivationVariables {
        conda_prefix: base.get("CONDA_PREFIX").map(PathBuf::from),
        path: base.get("PATH").map(|p| std::env::split_paths(p).collect()),
        path_modification_behavior: PathModificationBehavior::Prepend,
        current_env: base.clone(),
    };
    let environment: HashMap<&std::ffi::OsStr, &std::ffi::OsStr> = base
        .iter()
        .map(|(k, v)| (std::ffi::OsStr::new(k), std::ffi::OsStr::new(v)))
        .collect();
    if cfg!(windows) {
        Activator::from_path(prefix, CmdExe, platform)
            .map_err(failed)?
            .run_activation(variables, Some(environment))
            .map_err(failed)
    } else {
        Activator::from_path(prefix, Bash::default(), platform)
            .map_err(failed)?
            .run_activation(variables, Some(environment))
            .map_err(failed)
    }
}

/// Activation depends on the platform only through the OS (`bin/` or
/// `Scripts/`): this machine's.
fn platform_of_this_machine() -> Subdir {
    Subdir::current().unwrap_or(if cfg!(windows) {
        Subdir::Win64
    } else {
        Subdir::Linux64
    })
}
