//! The variables activation sets, as data and in each shell's syntax
//! (`beep-python env --format ...`).
//!
//! The set is the one the activation scripts of [`crate::venv::scripts`]
//! establish, so `eval "$(beep-python env NAME)"` and `source
//! NAME/bin/activate` leave the same exported variables (a test compares
//! them in real bash and fish):
//!
//! | variable             | value                                        |
//! |----------------------|----------------------------------------------|
//! | `VIRTUAL_ENV`        | the environment's folder                     |
//! | `VIRTUAL_ENV_PROMPT` | its name (the scripts' prompt)               |
//! | `PATH`               | its scripts folder, then the current `PATH`  |
//! | `PYTHONHOME`         | unset                                        |
//! | the manifest's `env` | as resolved: the environment over templates  |
//!
//! A conda environment sets what `conda activate` sets instead of
//! `VIRTUAL_ENV` (`CONDA_PREFIX`, its `env_vars.d` variables, whatever its
//! `activate.d` scripts export; see [`Activation::activate_conda`]), and
//! puts its own folders first on `PATH`.
//!
//! Shell formats (`sh`, `fish`, `powershell`) prepend to the shell's own
//! `$PATH` when evaluated; `dotenv` and `json` carry the value computed
//! from this process's `PATH`, since a `.env` file cannot refer to another
//! variable portably. A `.env` file cannot unset either, so `dotenv` leaves
//! `PYTHONHOME` out (the `json` document lists it under `unset`). Every
//! value is written with the quoting helpers of the activation scripts, so
//! no value is ever evaluated as code.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::manifest::resolve::ResolvedEnvironment;
use crate::venv::Platform;
use crate::venv::{fish_quote, powershell_quote, sh_quote};

/// `beep-python env --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnvFormat {
    /// POSIX shells (bash, zsh, dash): `eval "$(beep-python env NAME)"`.
    #[default]
    Sh,
    /// fish: `beep-python env NAME --format fish | source`.
    Fish,
    /// PowerShell: `beep-python env NAME --format powershell | Out-String | Invoke-Expression`.
    Powershell,
    /// `NAME='value'` lines, for `.env` files, direnv's `dotenv` and Docker.
    Dotenv,
    /// A JSON document for tools.
    Json,
}

/// One environment, as activation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// The environment's name, also its prompt.
    pub name: String,
    /// `VIRTUAL_ENV`: the environment's folder.
    pub root: PathBuf,
    /// The scripts folder (`bin`, `Scripts` on Windows).
    pub bin: PathBuf,
    /// The environment's interpreter.
    pub python: PathBuf,
    /// The manifest's env vars, resolved.
    pub vars: BTreeMap<String, String>,
    /// A conda environment's own activation (`None` for a venv): see
    /// [`Activation::activate_conda`].
    pub conda: Option<CondaActivation>,
}

/// What `conda activate` does to a process environment, computed once (its
/// `activate.d` scripts run in bash on top of this process's environment)
/// and then set as fixed values in every format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaActivation {
    /// Every variable activation sets or changes, `CONDA_PREFIX` first,
    /// `PATH` left out (see `path_entries`).
    pub set: Vec<(String, String)>,
    /// The folders activation puts first on `PATH`, in order.
    pub path_entries: Vec<PathBuf>,
}

/// What activation does to a process environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variables {
    /// In order: `VIRTUAL_ENV`, `VIRTUAL_ENV_PROMPT`, `PATH`, then the
    /// manifest's variables by name.
    pub set: Vec<(String, OsString)>,
    pub unset: Vec<String>,
}

/// The variables activation removes.
const UNSET: &[&str] = &["PYTHONHOME"];

impl Activation {
    /// The activation of a resolved environment, in this platform's layout.
    /// A conda environment's activation is not read here (that runs its
    /// scripts): [`Activation::activate_conda`] adds it.
    pub fn of(env: &ResolvedEnvironment) -> Self {
        let platform = Platform::CURRENT;
        let bin = env.path.join(platform.bin_dir());
        let python = match env.kind {
            crate::manifest::EnvironmentKind::Venv => bin.join(platform.python_name()),
            crate::manifest::EnvironmentKind::Conda => crate::desired::conda::python_in(&env.path),
        };
        Activation {
            name: env.name.clone(),
            python,
            root: env.path.clone(),
            bin,
            vars: env.env.clone(),
            conda: None,
        }
    }

    /// Runs the conda environment's activation (`etc/conda/env_vars.d`,
    /// `conda-meta/state`, then its `activate.d` scripts in bash, as `conda
    /// activate` does) on top of this process's environment, and keeps
    /// what it set. Changes to `PATH` other than its own folders, and
    /// shell functions or aliases the scripts define, do not survive: the
    /// result is a set of variables.
    pub fn activate_conda(&mut self) -> Result<(), crate::conda::CondaError> {
        let base: std::collections::HashMap<String, String> = std::env::vars().collect();
        let after = crate::conda::activated_environment(&self.root, &base)?;
        let read = crate::conda::activation(&self.root, crate::conda::ActivationShell::Bash)?;
        // What running a shell changes by itself is no part of activation.
        const SHELL_OWN: &[&str] = &["PATH", "_", "SHLVL", "PWD", "OLDPWD"];
        let mut set: Vec<(String, String)> = after
            .into_iter()
            .filter(|(k, v)| !SHELL_OWN.contains(&k.as_str()) && base.get(k) != Some(v))
            .collect();
        set.sort_by(|a, b| (a.0 != "CONDA_PREFIX", &a.0).cmp(&(b.0 != "CONDA_PREFIX", &b.0)));
        self.conda = Some(CondaActivation {
            set,
            path_entries: read.path_entries,
        });
        Ok(())
    }

    /// The folders put first on `PATH`: a venv's scripts folder, or the
    /// conda environment's folders.
    fn path_entries(&self) -> Vec<PathBuf> {
        match &self.conda {
            Some(conda) if !conda.path_entries.is_empty() => conda.path_entries.clone(),
            Some(_) | None => vec![self.bin.clone()],
        }
    }

    /// `PATH` with the scripts folder first, before `current` (this
    /// process's `PATH`, when it has one).
    pub fn path_with_bin(&self, current: Option<&OsStr>) -> OsString {
        let rest: Vec<PathBuf> = current
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        std::env::join_paths(self.path_entries().into_iter().chain(rest)).unwrap_or_else(|_| {
            // A folder with the separator in its name cannot be joined;
            // the scripts folder alone still activates.
            self.bin.clone().into_os_string()
        })
    }

    /// The folders put first on `PATH`, joined for a shell line.
    fn path_prefix(&self) -> String {
        std::env::join_paths(self.path_entries())
            .unwrap_or_else(|_| self.bin.clone().into_os_string())
            .to_string_lossy()
            .into_owned()
    }

    /// The variables to set and unset, with `PATH` computed from
    /// `current_path`.
    pub fn variables(&self, current_path: Option<&OsStr>) -> Variables {
        let mut set: Vec<(String, OsString)> = match &self.conda {
            None => vec![
                (
                    "VIRTUAL_ENV".to_string(),
                    self.root.clone().into_os_string(),
                ),
                ("VIRTUAL_ENV_PROMPT".to_string(), OsString::from(&self.name)),
            ],
            Some(conda) => conda
                .set
                .iter()
                .map(|(k, v)| (k.clone(), OsString::from(v)))
                .collect(),
        };
        set.push(("PATH".to_string(), self.path_with_bin(current_path)));
        set.extend(
            self.vars
                .iter()
                .map(|(k, v)| (k.clone(), OsString::from(v))),
        );
        Variables {
            set,
            unset: UNSET.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The variables in `format`. `current_path` is used only by the
    /// formats that carry computed values (`dotenv`, `json`).
    pub fn render(&self, format: EnvFormat, current_path: Option<&OsStr>) -> String {
        match format {
            EnvFormat::Sh => self.sh(),
            EnvFormat::Fish => self.fish(),
            EnvFormat::Powershell => self.powershell(),
            EnvFormat::Dotenv => self.dotenv(current_path),
            EnvFormat::Json => {
                let mut text = self.json(current_path).to_string();
                text.push('\n');
                text
            }
        }
    }

    /// Values that do not depend on the current `PATH`, in order.
    fn fixed(&self) -> Vec<(&str, String)> {
        let mut out = match &self.conda {
            None => vec![
                ("VIRTUAL_ENV", self.root.to_string_lossy().into_owned()),
                ("VIRTUAL_ENV_PROMPT", self.name.clone()),
            ],
            Some(conda) => conda
                .set
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect(),
        };
        out.extend(self.vars.iter().map(|(k, v)| (k.as_str(), v.clone())));
        out
    }

    /// `export NAME='value'` lines for POSIX shells.
    pub fn sh(&self) -> String {
        let mut s = String::new();
        let bin = sh_quote(&self.path_prefix());
        for (name, value) in self.fixed() {
            let _ = writeln!(s, "export {name}={}", sh_quote(&value));
        }
        let _ = writeln!(s, "export PATH={bin}\"${{PATH:+:$PATH}}\"");
        for name in UNSET {
            let _ = writeln!(s, "unset {name}");
        }
        // The shell remembers where it found commands; some are now elsewhere.
        s.push_str("hash -r 2>/dev/null || true\n");
        s
    }

    /// `set -gx NAME 'value'` lines for fish.
    pub fn fish(&self) -> String {
        let mut s = String::new();
        for (name, value) in self.fixed() {
            let _ = writeln!(s, "set -gx {name} {}", fish_quote(&value));
        }
        let entries: Vec<String> = self
            .path_entries()
            .iter()
            .map(|p| fish_quote(&p.to_string_lossy()))
            .collect();
        let _ = writeln!(s, "set -gx PATH {} $PATH", entries.join(" "));
        for name in UNSET {
            let _ = writeln!(s, "set -e {name}");
        }
        s
    }

    /// `Set-Item` lines for PowerShell.
    pub fn powershell(&self) -> String {
        let mut s = String::new();
        for (name, value) in self.fixed() {
            let _ = writeln!(
                s,
                "Set-Item -LiteralPath 'Env:{name}' -Value {}",
                powershell_quote(&value)
            );
        }
        let _ = writeln!(
            s,
            "Set-Item -LiteralPath 'Env:PATH' -Value ({} + [System.IO.Path]::PathSeparator + $env:PATH)",
            powershell_quote(&self.path_prefix())
        );
        for name in UNSET {
            let _ = writeln!(
                s,
                "Remove-Item -LiteralPath 'Env:{name}' -ErrorAction SilentlyContinue"
            );
        }
        s
    }

    /// `NAME='value'` lines. Single quotes keep a value literal in every
    /// `.env` reader (python-dotenv, direnv, Docker Compose); a value that
    /// holds a `'` or a line break is double-quoted with backslash escapes.
    pub fn dotenv(&self, current_path: Option<&OsStr>) -> String {
        let mut s = String::new();
        for (name, value) in self.variables(current_path).set {
            let _ = writeln!(s, "{name}={}", dotenv_quote(&value.to_string_lossy()));
        }
        s
    }

    /// `{"format_version": 1, "environment", "path", "python", "set", "unset"}`.
    pub fn json(&self, current_path: Option<&OsStr>) -> serde_json::Value {
        let vars = self.variables(current_path);
        let set: serde_json::Map<String, serde_json::Value> = vars
            .set
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string_lossy().into_owned().into()))
            .collect();
        serde_json::json!({
            "format_version": crate::report::JSON_FORMAT_VERSION,
            "environment": self.name,
            "path": self.root,
            "python": self.python,
            "set": set,
            "unset": vars.unset,
        })
    }
}

fn dotenv_quote(value: &str) -> String {
    if !value.contains(['\'', '\n', '\r']) {
        return format!("'{value}'");
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// Paths with `/` and `:` separators.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sample() -> Activation {
        Activation {
            name: "demo".into(),
            root: PathBuf::from("/envs/it's"),
            bin: PathBuf::from("/envs/it's/bin"),
            python: PathBuf::from("/envs/it's/bin/python"),
            vars: BTreeMap::from([
                ("GREETING".to_string(), "say \"hi\" $HOME".to_string()),
                ("QUOTE".to_string(), "it's".to_string()),
            ]),
            conda: None,
        }
    }

    #[test]
    fn every_format_quotes_every_value() {
        let a = sample();
        let sh = a.sh();
        assert!(sh.contains("export VIRTUAL_ENV='/envs/it'\\''s'\n"), "{sh}");
        assert!(sh.contains("export GREETING='say \"hi\" $HOME'\n"), "{sh}");
        assert!(sh.contains("export PATH='/envs/it'\\''s/bin'\"${PATH:+:$PATH}\"\n"));
        assert!(sh.contains("unset PYTHONHOME\n"));
        let fish = a.fish();
        assert!(fish.contains("set -gx QUOTE 'it\\'s'\n"), "{fish}");
        assert!(fish.contains("set -gx PATH '/envs/it\\'s/bin' $PATH\n"));
        let ps = a.powershell();
        assert!(ps.contains("Set-Item -LiteralPath 'Env:QUOTE' -Value 'it''s'\n"));
        let dotenv = a.dotenv(Some(OsStr::new("/usr/bin")));
        assert!(dotenv.contains("GREETING='say \"hi\" $HOME'\n"), "{dotenv}");
        assert!(dotenv.contains("QUOTE=\"it's\"\n"), "{dotenv}");
        assert!(
            dotenv.contains("PATH=\"/envs/it's/bin:/usr/bin\"\n"),
            "{dotenv}"
        );
        let json = a.json(Some(OsStr::new("/usr/bin")));
        assert_eq!(json["set"]["PATH"], "/envs/it's/bin:/usr/bin");
        assert_eq!(json["unset"][0], "PYTHONHOME");
    }

    #[test]
    fn variables_put_the_scripts_folder_first() {
        let vars = sample().variables(Some(OsStr::new("/a:/b")));
        let names: Vec<&str> = vars.set.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "VIRTUAL_ENV",
                "VIRTUAL_ENV_PROMPT",
                "PATH",
                "GREETING",
                "QUOTE"
            ]
        );
        assert_eq!(vars.set[2].1, OsString::from("/envs/it's/bin:/a:/b"));
        let no_path = sample().variables(None);
        assert_eq!(no_path.set[2].1, OsString::from("/envs/it's/bin"));
    }
}
