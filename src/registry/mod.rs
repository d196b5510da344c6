//! The recorded state and the home it lives in.
//!
//! Owns everything under `<home>` that is about state: `registry.json`
//! ([`store`]), `backups/`, and the `.lock` ([`lock`]). The journal of an
//! apply in progress will live here too.

pub mod lock;
pub mod model;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use lock::{Holder, HomeLock};
pub use model::{REGISTRY_VERSION, Registry};

/// The folder where beep-python keeps its state, caches and managed runtimes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `--home`, else `BEEP_PYTHON_HOME`, else `~/.beep-python`.
    pub fn resolve(flag: Option<&Path>) -> Result<Self, RegistryError> {
        if let Some(path) = flag {
            return Ok(Self::new(absolute(path)?));
        }
        if let Some(path) = std::env::var_os("BEEP_PYTHON_HOME").filter(|p| !p.is_empty()) {
            return Ok(Self::new(absolute(Path::new(&path))?));
        }
        let user = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|p| !p.is_empty())
            .ok_or(RegistryError::NoHome)?;
        Ok(Self::new(PathBuf::from(user).join(".beep-python")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn registry_path(&self) -> PathBuf {
        self.root.join("registry.json")
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(".lock")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    pub fn runtimes_dir(&self) -> PathBuf {
        self.root.join("runtimes")
    }

    pub fn environments_dir(&self) -> PathBuf {
        self.root.join("environments")
    }

    /// Takes the home lock; see [`lock::acquire`].
    pub fn lock(&self, timeout: Duration, command: &str) -> Result<HomeLock, RegistryError> {
        lock::acquire(self, timeout, command)
    }
}

fn absolute(path: &Path) -> Result<PathBuf, RegistryError> {
    std::path::absolute(path).map_err(RegistryError::Io)
}

/// Why the recorded state could not be read, written or locked.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RegistryError {
    #[error(transparent)]
    #[diagnostic(code("registry::io"))]
    Io(std::io::Error),

    #[error("no home folder: neither `--home`, `BEEP_PYTHON_HOME` nor `HOME` is set")]
    #[diagnostic(
        code("registry::no-home"),
        help("pass `--home DIR` or set `BEEP_PYTHON_HOME`")
    )]
    NoHome,

    #[error("`{}` is corrupt ({reason}) and there is no valid backup", path.display())]
    #[diagnostic(
        code("registry::corrupt"),
        help("nothing was changed; move the file aside to start with an empty registry (`mv {0} {0}.bad`), then run `beep-python runtimes discover`", path.display())
    )]
    Corrupt { path: PathBuf, reason: String },

    #[error("`{}` was written by a newer beep-python (registry format version {version}; this one reads version {REGISTRY_VERSION})", path.display())]
    #[diagnostic(
        code("registry::newer-version"),
        help("upgrade beep-python to read it; nothing was changed")
    )]
    NewerVersion { path: PathBuf, version: u32 },

    #[error("the registry's serial {serial} cannot be incremented")]
    #[diagnostic(
        code("registry::serial-exhausted"),
        help(
            "nothing was changed; only a hand-edited `registry.json` gets here: set its `serial` to a small number (backups are ordered apart from it)"
        )
    )]
    SerialExhausted { serial: u64 },

    #[error("another beep-python is using this home: {}", holder.as_ref().map_or_else(|| "the holder is unknown".to_string(), |h| h.to_string()))]
    #[diagnostic(
        code("registry::locked"),
        help("wait for it to finish, or pass `--lock-timeout SECONDS` to wait (the lock is `{}`; waited {}s)", path.display(), waited.as_secs_f64())
    )]
    Locked {
        path: PathBuf,
        holder: Option<Holder>,
        waited: Duration,
    },
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        RegistryError::Io(e)
    }
}
