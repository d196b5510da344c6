//! What a lock pins: a package's exact version and its artifacts, as plain
//! data. A leaf module, so that what installs pins (`installer`, `wheel`)
//! does not depend on what writes locks (`lockfile`, which runs the
//! installer's resolvers): the import graph has no cycle.

use serde::{Deserialize, Serialize};

/// One package pinned in an environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LockedPackage {
    /// PEP 503 normalized: lowercase, runs of `-`, `_`, `.` as one `-`.
    pub name: String,
    /// The exact version, as the distribution spells it.
    pub version: String,
    /// The artifact's URL on an index, when known (never a `file:` URL).
    pub url: Option<String>,
    /// `sha256:<hex>`, sorted, deduplicated: every artifact the installer
    /// may use (pip records the one it chose; uv records them all).
    pub hashes: Vec<String>,
    /// Each artifact by name, with where it is: what the native installer
    /// (and a bundle) fetches, by sha256, whichever resolver made the lock.
    /// Empty in locks written before this field.
    pub files: Vec<LockedFile>,
}

/// One artifact of a pinned package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LockedFile {
    /// The file name (`rich-13.7.1-py3-none-any.whl`): it carries the
    /// wheel's tags, and finds the file in a `find-links` folder.
    pub name: String,
    /// Where an index serves it; `None` for a file found in a local
    /// `find-links` folder (never a `file:` URL: the lock is shared).
    pub url: Option<String>,
    /// Lowercase hex.
    pub sha256: String,
}

impl LockedPackage {
    /// A pin with no artifact details yet.
    pub fn new(name: &str, version: &str, hashes: Vec<String>) -> LockedPackage {
        LockedPackage {
            name: name.to_string(),
            version: version.to_string(),
            url: None,
            hashes,
            files: Vec::new(),
        }
    }

    /// Sorts and deduplicates the hashes and files, the order
    /// [`crate::lockfile::render`] writes.
    pub fn normalize(&mut self) {
        self.hashes.sort();
        self.hashes.dedup();
        self.files.sort();
        self.files.dedup();
    }
}
