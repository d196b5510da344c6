//! The recorded state: what beep-python manages or has found, as written to
//! `<home>/registry.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The registry format this program reads and writes.
pub const REGISTRY_VERSION: u32 = 1;

/// `registry.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Registry {
    /// Format version; a newer one than [`REGISTRY_VERSION`] is refused.
    pub version: u32,
    /// Incremented on every committed write (Terraform's state serial).
    pub serial: u64,
    /// Identifies this registry's history; a saved plan made against another
    /// lineage is stale.
    pub lineage: Uuid,
    /// The name of the default runtime, if one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_runtime: Option<String>,
    #[serde(default)]
    pub runtimes: Vec<RuntimeRecord>,
    #[serde(default)]
    pub environments: Vec<EnvironmentRecord>,
    /// What repairs changed that a record alone would forget: an
    /// environment re-pointed from an interpreter that moved (the old
    /// path), a default runtime replaced by policy, a record pruned. The
    /// newest [`KEEP_HISTORY`] events, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEvent>,
}

/// How many [`HistoryEvent`]s the registry keeps.
pub const KEEP_HISTORY: usize = 200;

/// One repair, as the registry remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HistoryEvent {
    /// Environment `environment` (of `owner`) was re-pointed: its base
    /// interpreter was at `from`, the same Python is now at `to`.
    Repointed {
        environment: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<PathBuf>,
        path: PathBuf,
        from: PathBuf,
        to: PathBuf,
        at: Timestamp,
    },
    /// The default runtime `from` was missing; `to` replaced it, `why`.
    DefaultReplaced {
        from: String,
        to: String,
        why: String,
        at: Timestamp,
    },
    /// A record whose folder was gone was pruned.
    Pruned {
        address: String,
        path: PathBuf,
        at: Timestamp,
    },
}

impl Registry {
    /// Remembers `event`, keeping the newest [`KEEP_HISTORY`].
    pub fn remember(&mut self, event: HistoryEvent) {
        self.history.push(event);
        if self.history.len() > KEEP_HISTORY {
            let excess = self.history.len() - KEEP_HISTORY;
            self.history.drain(..excess);
        }
    }

    /// An empty registry, never written: serial 0 and the nil lineage. Its
    /// lineage is chosen at the first write, so that every load of a home
    /// without a registry agrees (a plan saved there is not stale).
    pub fn new() -> Self {
        Self {
            version: REGISTRY_VERSION,
            serial: 0,
            lineage: Uuid::nil(),
            default_runtime: None,
            runtimes: Vec::new(),
            environments: Vec::new(),
            history: Vec::new(),
        }
    }

    pub fn runtime(&self, name: &str) -> Option<&RuntimeRecord> {
        self.runtimes.iter().find(|r| r.name == name)
    }

    pub fn environment(&self, name: &str) -> Option<&EnvironmentRecord> {
        self.environments.iter().find(|e| e.name == name)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The health of a recorded resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ready,
    /// A change to it failed part-way; the next apply replaces it.
    Tainted,
    Error,
    /// Recorded but no longer on disk (kept: an OS reinstall may bring it back).
    Missing,
    /// Works, but too old to build environments with (Python < 3.8).
    Unsupported,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Tainted => "tainted",
            Status::Error => "error",
            Status::Missing => "missing",
            Status::Unsupported => "unsupported",
        }
    }
}

/// Where a runtime came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeKind {
    Standalone,
    Embeddable,
    Url,
    /// An interpreter already on the machine.
    System,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Standalone => "standalone",
            RuntimeKind::Embeddable => "embeddable",
            RuntimeKind::Url => "url",
            RuntimeKind::System => "system",
        }
    }
}

/// One interpreter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeRecord {
    pub id: String,
    pub name: String,
    pub kind: RuntimeKind,
    /// The interpreter executable.
    pub path: PathBuf,
    /// Its canonical path: what identifies a discovered interpreter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_path: Option<PathBuf>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// For managed runtimes: the folder beep-python unpacked it into
    /// (`<home>/runtimes/<id>`), the archive's URL and its sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// For discovered interpreters: which locators found it (`pyenv`, `PATH`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found_by: Vec<String>,
    /// Created by beep-python (true) or found on the machine (false).
    pub managed: bool,
    /// Canonical path of the manifest that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_at: Option<Timestamp>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// A package as observed in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
}

/// What an environment was built from. Kept in its marker and its record,
/// and compared field by field with the desired state, so that a plan's
/// reasons name exactly what changed (`env var MPLBACKEND changed`,
/// `template data-science -> web`), and so that only what an environment
/// *is* decides whether it changes: a lock rewritten with the same versions
/// (other hashes, another resolver) is no change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltFrom {
    /// The manifest runtime's name.
    pub runtime: String,
    pub python_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The requirements it was installed from.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// `name==version` of each pin, when it was installed from the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pins: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub system_site_packages: bool,
    #[serde(default = "yes")]
    pub pip: bool,
    /// A conda environment's match specs and channels (`requirements`
    /// then holds its `pypi-packages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conda: Option<CondaBuilt>,
}

/// What a conda environment was built from, besides its PyPI packages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CondaBuilt {
    /// The match specs it was solved from.
    pub specs: Vec<String>,
    /// Its channels' URLs, in priority order.
    pub channels: Vec<String>,
}

fn yes() -> bool {
    true
}

/// One virtual environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    pub id: String,
    pub name: String,
    /// `venv` or `conda`.
    pub kind: String,
    pub path: PathBuf,
    /// The name of its runtime in the manifest.
    pub runtime: String,
    /// Its base interpreter: what keeps a managed runtime from being pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<PathBuf>,
    pub version: String,
    pub managed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_at: Option<Timestamp>,
    pub status: Status,
    #[serde(default)]
    pub packages: Vec<PackageRecord>,
    /// What it was built from (absent in records older than this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<BuiltFrom>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}
