//! Reading `pyvenv.cfg`, the file that makes a folder a virtual environment.
//!
//! The format is `key = value` lines (PEP 405). Keys are matched
//! case-insensitively, as `site.py` does; unknown keys and malformed lines are
//! ignored, because venv, virtualenv, uv and conda each write a few of their
//! own.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What discovery uses from a `pyvenv.cfg`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PyvenvCfg {
    /// `home`: the folder of the base interpreter.
    pub home: Option<PathBuf>,
    /// `executable` (Python 3.11+ and uv): the base interpreter itself.
    pub executable: Option<PathBuf>,
    /// `version` (venv, virtualenv) or `version_info` (uv).
    pub version: Option<String>,
    /// `include-system-site-packages = true`.
    pub include_system_site_packages: bool,
}

impl PyvenvCfg {
    pub fn parse(text: &str) -> PyvenvCfg {
        let mut cfg = PyvenvCfg::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.trim().to_ascii_lowercase().as_str() {
                "home" => cfg.home = Some(PathBuf::from(value)),
                "executable" => cfg.executable = Some(PathBuf::from(value)),
                "version" => cfg.version = Some(value.to_string()),
                // venv's `version` wins: uv writes both, and they agree.
                "version_info" => {
                    cfg.version.get_or_insert_with(|| value.to_string());
                }
                "include-system-site-packages" => {
                    cfg.include_system_site_packages = value.eq_ignore_ascii_case("true");
                }
                _ => {}
            }
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_venv_and_uv_files() {
        let venv = "home = /root/.pyenv/versions/3.11.7/bin\ninclude-system-site-packages = false\nversion = 3.11.7\nexecutable = /root/.pyenv/versions/3.11.7/bin/python3.11\ncommand = /x -m venv /y\n";
        let cfg = PyvenvCfg::parse(venv);
        assert_eq!(
            cfg.home,
            Some(PathBuf::from("/root/.pyenv/versions/3.11.7/bin"))
        );
        assert_eq!(cfg.version.as_deref(), Some("3.11.7"));
        assert!(!cfg.include_system_site_packages);

        let uv = "home = /u/bin\nimplementation = CPython\nuv = 0.4.0\nversion_info = 3.12.4\ninclude-system-site-packages = True\n";
        let cfg = PyvenvCfg::parse(uv);
        assert_eq!(cfg.version.as_deref(), Some("3.12.4"));
        assert!(cfg.include_system_site_packages);
        assert_eq!(cfg.executable, None);
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(
            PyvenvCfg::parse("\0\u{1}not a cfg\n=\nhome =\n"),
            PyvenvCfg::default()
        );
    }
}
