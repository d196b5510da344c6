//! Starting the user's shell with an environment active (`beep-python
//! shell`).
//!
//! The shell's own startup files run first (they may put pyenv's shims or
//! Homebrew first on `PATH`), and the environment's activation script runs
//! after them, so the environment wins, the prompt shows its name and
//! `deactivate` works as usual:
//!
//! | shell       | how                                                             |
//! |-------------|-----------------------------------------------------------------|
//! | bash        | `bash --rcfile F -i`, `F` sources `~/.bashrc`, then `bin/activate` |
//! | zsh         | `ZDOTDIR` set to a folder whose startup files source the user's, then `bin/activate` |
//! | fish        | `fish -i -C "source bin/activate.fish"` (runs after `config.fish`) |
//! | PowerShell  | `pwsh -NoExit -Command ". bin/Activate.ps1"`                    |
//! | cmd.exe     | `cmd /K Scripts\activate.bat`                                   |
//! | any other   | the activation variables set in its environment (its startup files may change `PATH`) |
//!
//! A conda environment is started as "any other" shell, whatever the
//! shell: its activation (with its `activate.d` scripts) has run already.
//!
//! The caller waits for the shell (its startup files live in a temporary
//! folder removed afterwards) and exits with its status.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Activation;
use crate::venv::{fish_quote, powershell_quote, sh_quote};

/// The kinds of shell that get the activation script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellKind {
    Bash,
    Zsh,
    Fish,
    PowerShell,
    Cmd,
    /// Any other shell: the variables are set in its environment.
    Other,
}

impl ShellKind {
    /// The kind of the shell at `path`, by its file name.
    pub fn of(path: &Path) -> Self {
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match name.as_str() {
            "bash" => ShellKind::Bash,
            "zsh" => ShellKind::Zsh,
            "fish" => ShellKind::Fish,
            "pwsh" | "powershell" => ShellKind::PowerShell,
            "cmd" => ShellKind::Cmd,
            _ => ShellKind::Other,
        }
    }

    /// What to type to leave the shell.
    pub fn how_to_leave(self) -> &'static str {
        match self {
            ShellKind::Bash | ShellKind::Zsh | ShellKind::Fish | ShellKind::Other => {
                "type `exit` or press Ctrl-D"
            }
            ShellKind::PowerShell | ShellKind::Cmd => "type `exit`",
        }
    }
}

/// A shell ready to start.
#[derive(Debug)]
pub struct Launch {
    pub command: Command,
    pub shell: PathBuf,
    pub kind: ShellKind,
    /// Startup files made for this shell; removed when dropped, after the
    /// shell has exited.
    pub startup_dir: Option<tempfile::TempDir>,
}

/// The user's shell: `$SHELL`, else `/bin/sh` (on Windows `%COMSPEC%`,
/// else `cmd.exe`).
pub fn user_shell() -> PathBuf {
    let var = if cfg!(windows) { "COMSPEC" } else { "SHELL" };
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(shell) => PathBuf::from(shell),
        None if cfg!(windows) => PathBuf::from("cmd.exe"),
        None => PathBuf::from("/bin/sh"),
    }
}

/// How to start `shell` with `activation` active.
pub fn launch(activation: &Activation, shell: &Path) -> std::io::Result<Launch> {
    let kind = ShellKind::of(shell);
    // A conda environment has no venv activation scripts: its activation
    // (already run) is set in the shell's environment.
    let kind = if activation.conda.is_some() {
        ShellKind::Other
    } else {
        kind
    };
    let mut command = Command::new(shell);
    let mut startup_dir = None;
    let script = |name: &str| activation.bin.join(name).to_string_lossy().into_owned();
    match kind {
        ShellKind::Bash => {
            let dir = tempfile::Builder::new()
                .prefix("beep-python-shell.")
                .tempdir()?;
            let rcfile = dir.path().join("bashrc");
            let mut rc = String::from(
                "# Written by `beep-python shell`: the usual startup file, then the environment.\n\
                 if [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\n",
            );
            let _ = writeln!(rc, ". {}", sh_quote(&script("activate")));
            fs_err::write(&rcfile, rc)?;
            command.arg("--rcfile").arg(&rcfile).arg("-i");
            startup_dir = Some(dir);
        }
        ShellKind::Zsh => {
            let dir = tempfile::Builder::new()
                .prefix("beep-python-shell.")
                .tempdir()?;
            // zsh reads `.zshenv` and `.zshrc` from `$ZDOTDIR`: ours source
            // the user's (from their `ZDOTDIR`, else `$HOME`), put it back,
            // and activate last.
            let user_dir = std::env::var_os("ZDOTDIR")
                .or_else(|| std::env::var_os("HOME"))
                .map(PathBuf::from)
                .unwrap_or_default();
            let user = sh_quote(&user_dir.to_string_lossy());
            fs_err::write(
                dir.path().join(".zshenv"),
                format!(
                    "# Written by `beep-python shell`: the user's file, then back to ours for `.zshrc`.\n\
                     _beep_zdotdir=\"$ZDOTDIR\"\n\
                     ZDOTDIR={user}\n\
                     if [ -f {user}/.zshenv ]; then . {user}/.zshenv; fi\n\
                     ZDOTDIR=\"$_beep_zdotdir\"\n\
                     unset _beep_zdotdir\n"
                ),
            )?;
            fs_err::write(
                dir.path().join(".zshrc"),
                format!(
                    "# Written by `beep-python shell`: the usual startup file, then the environment.\n\
                     ZDOTDIR={user}\n\
                     if [ -f {user}/.zshrc ]; then . {user}/.zshrc; fi\n\
                     . {}\n",
                    sh_quote(&script("activate"))
                ),
            )?;
            command.env("ZDOTDIR", dir.path()).arg("-i");
            startup_dir = Some(dir);
        }
        ShellKind::Fish => {
            command
                .arg("-i")
                .arg("-C")
                .arg(format!("source {}", fish_quote(&script("activate.fish"))));
        }
        ShellKind::PowerShell => {
            command
                .arg("-NoExit")
                .arg("-Command")
                .arg(format!(". {}", powershell_quote(&script("Activate.ps1"))));
        }
        ShellKind::Cmd => {
            command.arg("/K").arg(script("activate.bat"));
        }
        ShellKind::Other => {
            let vars = activation.variables(std::env::var_os("PATH").as_deref());
            for (name, value) in &vars.set {
                command.env(name, value);
            }
            for name in &vars.unset {
                command.env_remove(name);
            }
        }
    }
    Ok(Launch {
        command,
        shell: shell.to_path_buf(),
        kind,
        startup_dir,
    })
}

/// The name of the shell for messages (`bash`).
pub fn display_name(shell: &Path) -> String {
    shell
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| OsString::from(shell).to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_are_known_by_name() {
        assert_eq!(ShellKind::of(Path::new("/usr/bin/bash")), ShellKind::Bash);
        assert_eq!(ShellKind::of(Path::new("/bin/zsh")), ShellKind::Zsh);
        assert_eq!(ShellKind::of(Path::new("fish")), ShellKind::Fish);
        assert_eq!(ShellKind::of(Path::new("pwsh")), ShellKind::PowerShell);
        assert_eq!(ShellKind::of(Path::new("cmd.exe")), ShellKind::Cmd);
        assert_eq!(ShellKind::of(Path::new("/bin/tcsh")), ShellKind::Other);
    }
}
