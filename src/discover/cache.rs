//! The probe cache, `<home>/cache/interpreters.json`.
//!
//! One entry per canonical executable path, valid while the executable's
//! size and mtime are unchanged *and* the folders the answer depends on
//! (stdlib and site-packages: see `ProbeInfo::watched`) keep their mtimes, so
//! that installing pip into an interpreter is noticed although its binary did
//! not change. Failures are cached too (a broken script, Python 2): with
//! every answer cached, a second run starts no process at all.
//!
//! Invariants:
//!
//! - The cache is an optimization, never a source of errors: a missing,
//!   corrupt or newer-version file is ignored (and rewritten); a failed write
//!   is reported by the caller as a warning.
//! - The file is replaced atomically (temp file in the same folder, fsync,
//!   rename, fsync of the folder), and only when something changed, so a
//!   fully cached run writes nothing.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::RejectKind;
use super::probe::ProbeInfo;

/// The format version; a file with another one is ignored and rewritten.
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub(crate) enum Outcome {
    Probed(ProbeInfo),
    Rejected { kind: RejectKind, reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    path: PathBuf,
    size: u64,
    mtime_ns: i64,
    #[serde(default)]
    watched: Vec<Watched>,
    outcome: Outcome,
}

/// A folder and its mtime when the entry was written (`None`: it did not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Watched {
    path: PathBuf,
    mtime_ns: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: Vec<Entry>,
}

/// Only the version, read first, so that a newer format whose entries we
/// cannot parse is told apart from a corrupt file.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("cannot serialize it: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("cannot write `{}`: {source}", path.display())]
    Persist { path: PathBuf, source: io::Error },
}

#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: HashMap<PathBuf, Entry>,
    used: HashSet<PathBuf>,
    dirty: bool,
}

impl Cache {
    /// Reads the cache; any problem yields an empty cache (marked to be
    /// rewritten) and, for a file that exists but is unusable, a warning.
    pub fn load(path: &Path) -> (Cache, Option<String>) {
        let text = match fs_err::read(path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return (Cache::default(), None),
            Err(err) => {
                return (
                    Cache::stale(),
                    Some(format!("ignored the interpreter cache: {err}")),
                );
            }
        };
        let ignored = |why: String| {
            (
                Cache::stale(),
                Some(format!(
                    "ignored the interpreter cache `{}` ({why}); it will be rewritten",
                    path.display()
                )),
            )
        };
        match serde_json::from_slice::<VersionOnly>(&text) {
            Ok(v) if v.version != VERSION => {
                return ignored(format!(
                    "format version {}, this program writes {VERSION}",
                    v.version
                ));
            }
            Ok(_) => {}
            Err(err) => return ignored(format!("not valid: {err}")),
        }
        match serde_json::from_slice::<CacheFile>(&text) {
            Ok(file) => (
                Cache {
                    entries: file
                        .entries
                        .into_iter()
                        .map(|e| (e.path.clone(), e))
                        .collect(),
                    used: HashSet::new(),
                    dirty: false,
                },
                None,
            ),
            Err(err) => ignored(format!("not valid: {err}")),
        }
    }

    fn stale() -> Cache {
        Cache {
            dirty: true,
            ..Cache::default()
        }
    }

    /// The cached answer for this executable, if it is still fresh.
    pub fn lookup(&mut self, real_path: &Path, size: u64, mtime_ns: i64) -> Option<&Outcome> {
        let entry = self.entries.get(real_path)?;
        let fresh = entry.size == size
            && entry.mtime_ns == mtime_ns
            && entry
                .watched
                .iter()
                .all(|w| mtime_of(&w.path) == w.mtime_ns);
        if !fresh {
            return None;
        }
        self.used.insert(real_path.to_path_buf());
        Some(&entry.outcome)
    }

    pub fn insert(&mut self, real_path: &Path, size: u64, mtime_ns: i64, outcome: Outcome) {
        let watched = match &outcome {
            Outcome::Probed(info) => info
                .watched()
                .map(|p| Watched {
                    path: p.to_path_buf(),
                    mtime_ns: mtime_of(p),
                })
                .collect(),
            Outcome::Rejected { .. } => Vec::new(),
        };
        self.entries.insert(
            real_path.to_path_buf(),
            Entry {
                path: real_path.to_path_buf(),
                size,
                mtime_ns,
                watched,
                outcome,
            },
        );
        self.used.insert(real_path.to_path_buf());
        self.dirty = true;
    }

    /// Writes the cache if anything changed. Entries not used by this run
    /// are kept while their executable exists: another run may search other
    /// roots.
    pub fn save(mut self, path: &Path) -> Result<(), CacheError> {
        if !self.dirty {
            return Ok(());
        }
        let used = std::mem::take(&mut self.used);
        let mut entries: Vec<Entry> = self
            .entries
            .into_values()
            // A path that JSON cannot hold would fail the whole file.
            .filter(|e| e.path.to_str().is_some())
            .filter(|e| used.contains(&e.path) || e.path.exists())
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        let json = serde_json::to_vec_pretty(&CacheFile {
            version: VERSION,
            entries,
        })?;
        write_atomically(path, &json)
    }
}

fn mtime_of(path: &Path) -> Option<i64> {
    let modified = fs_err::metadata(path).ok()?.modified().ok()?;
    Some(match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    crate::files::write_atomic(path, bytes, crate::files::Durability::Durable, None).map_err(
        |source| CacheError::Persist {
            path: path.to_path_buf(),
            source,
        },
    )
}
