//! The download cache on disk: where entries live, how a verified partial
//! becomes an entry, and the in-process claim that keeps two threads off
//! the same partial.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};

use fs_err as fs;

use super::{FetchError, is_sha256};

/// The content-addressed download cache, `<home>/cache/downloads`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file with digest `sha256` lives once cached
    /// (`<root>/<sha256>`, lowercase hex), whether it is there or not.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.root.join(sha256.to_ascii_lowercase())
    }

    /// Where an unfinished download of `sha256` accumulates.
    pub fn partial_of(&self, sha256: &str) -> PathBuf {
        self.root
            .join(format!("{}.partial", sha256.to_ascii_lowercase()))
    }

    /// The cached file with digest `sha256`, if present.
    ///
    /// Not re-hashed: an entry only appears by renaming a verified file (see
    /// the module docs), so its name is its digest. An empty file cannot be
    /// a finished entry and is ignored, which covers a file system that lost
    /// the data of a rename on power loss.
    pub fn get(&self, sha256: &str) -> Option<PathBuf> {
        if !is_sha256(sha256) {
            return None;
        }
        let path = self.path_of(sha256);
        let meta = fs::metadata(&path).ok()?;
        (meta.is_file() && meta.len() > 0).then_some(path)
    }
}

/// Turns a finished partial into the cache entry `want`, or deletes it if
/// its digest is not `want`.
pub(super) fn commit(
    cache: &Cache,
    file: fs::File,
    partial: &Path,
    url: &str,
    want: &str,
    actual: &str,
) -> Result<PathBuf, FetchError> {
    if actual != want {
        drop(file);
        // If even this fails, the next attempt truncates or re-verifies the
        // partial, so a bad partial never becomes an entry either way.
        let _ = fs::remove_file(partial);
        return Err(FetchError::ChecksumMismatch {
            url: url.to_owned(),
            expected: want.to_owned(),
            actual: actual.to_owned(),
        });
    }
    // Data first, then the name: after a crash, `<sha256>` is either absent
    // or complete.
    file.sync_all().map_err(FetchError::Cache)?;
    drop(file);
    let path = cache.path_of(want);
    fs::rename(partial, &path).map_err(FetchError::Cache)?;
    sync_dir(cache.root())?;
    Ok(path)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), FetchError> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(FetchError::Cache)?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Partials being written by a thread of this process.
static IN_FLIGHT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
static RELEASED: Condvar = Condvar::new();

/// The right to write one partial, held for the length of a fetch: a second
/// thread fetching the same file waits, then finds it cached.
#[derive(Debug)]
pub(super) struct Claim {
    partial: PathBuf,
}

impl Claim {
    pub(super) fn take(partial: &Path) -> Claim {
        // A poisoned lock only means another fetch panicked; the set is
        // still consistent (insert and remove are single operations).
        let mut set = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
        while set.as_ref().is_some_and(|s| s.contains(partial)) {
            set = RELEASED.wait(set).unwrap_or_else(PoisonError::into_inner);
        }
        set.get_or_insert_with(HashSet::new)
            .insert(partial.to_owned());
        Claim {
            partial: partial.to_owned(),
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut set = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = set.as_mut() {
            set.remove(&self.partial);
        }
        RELEASED.notify_all();
    }
}
