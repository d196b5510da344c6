//! Reading and writing `registry.json` so that no crash, kill or disk hiccup
//! corrupts it.
//!
//! Invariants:
//!
//! - `registry.json` is only ever replaced by rename: the new version is
//!   written to a temporary file in the same folder, fsynced, renamed over
//!   the old one, and the folder is fsynced. A crash at any point leaves
//!   either the old or the new file, whole.
//! - Before it is replaced, the old version is kept in `backups/` (a hard
//!   link, so it costs nothing); the newest [`KEEP_BACKUPS`] are kept.
//! - A corrupt or truncated `registry.json` is recovered from the newest
//!   valid backup, with a warning naming both files; when there is none,
//!   loading fails and nothing is written. A registry that existed is never
//!   silently replaced by an empty one, and the corrupt file itself is kept
//!   in `backups/` when the next write replaces it.
//! - A registry of a newer format version is refused, not "recovered".
//! - Writing requires holding the home lock ([`HomeLock`]), which the type
//!   system enforces.

use std::io::Write;
use std::path::{Path, PathBuf};

use fs_err as fs;

use super::lock::HomeLock;
use super::model::{REGISTRY_VERSION, Registry};
use super::{Home, RegistryError};

/// How many previous versions of `registry.json` are kept.
pub const KEEP_BACKUPS: usize = 10;

/// A loaded registry, and what had to be done to load it.
#[derive(Debug)]
pub struct Loaded {
    pub registry: Registry,
    /// Set when `registry.json` was unreadable and a backup was used.
    pub recovered_from: Option<PathBuf>,
    /// Human-readable warnings (recovery) for the caller to report.
    pub warnings: Vec<String>,
}

/// Why one file could not be used as a registry.
enum Unusable {
    Corrupt(String),
    Newer(u32),
}

fn read_registry(path: &Path) -> Result<Option<Result<Registry, Unusable>>, RegistryError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RegistryError::Io(e)),
    };
    Ok(Some(parse_registry(&bytes)))
}

fn parse_registry(bytes: &[u8]) -> Result<Registry, Unusable> {
    // Look at the version before the shape: a newer format may have any shape.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Unusable::Corrupt(e.to_string()))?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v > u64::from(REGISTRY_VERSION) => {
            return Err(Unusable::Newer(u32::try_from(v).unwrap_or(u32::MAX)));
        }
        Some(_) => {}
        None => return Err(Unusable::Corrupt("no `version` field".into())),
    }
    serde_json::from_value(value).map_err(|e| Unusable::Corrupt(e.to_string()))
}

/// Numbered backups, newest first.
fn backups(home: &Home) -> Result<Vec<PathBuf>, RegistryError> {
    let dir = home.backups_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RegistryError::Io(e)),
    };
    let mut numbered: Vec<(u64, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(RegistryError::Io)?;
        let name = entry.file_name();
        let Some(serial) = name
            .to_str()
            .and_then(|n| n.strip_prefix("registry."))
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        numbered.push((serial, entry.path()));
    }
    numbered.sort_by_key(|(serial, _)| std::cmp::Reverse(*serial));
    Ok(numbered.into_iter().map(|(_, p)| p).collect())
}

/// Loads the registry of `home`; an empty one if there has never been one.
pub fn load(home: &Home) -> Result<Loaded, RegistryError> {
    let path = home.registry_path();
    let problem = match read_registry(&path)? {
        Some(Ok(registry)) => {
            return Ok(Loaded {
                registry,
                recovered_from: None,
                warnings: Vec::new(),
            });
        }
        Some(Err(Unusable::Newer(version))) => {
            return Err(RegistryError::NewerVersion { path, version });
        }
        Some(Err(Unusable::Corrupt(reason))) => Some(reason),
        None => None,
    };

    // registry.json is missing or corrupt: fall back to the newest backup
    // that reads. A missing file with no backups is a new home.
    for backup in backups(home)? {
        if let Some(Ok(registry)) = read_registry(&backup)? {
            let warning = match &problem {
                Some(reason) => format!(
                    "`{}` is corrupt ({reason}); using the backup `{}` (serial {})",
                    path.display(),
                    backup.display(),
                    registry.serial
                ),
                None => format!(
                    "`{}` is missing; using the backup `{}` (serial {})",
                    path.display(),
                    backup.display(),
                    registry.serial
                ),
            };
            return Ok(Loaded {
                registry,
                recovered_from: Some(backup),
                warnings: vec![warning],
            });
        }
    }
    match problem {
        Some(reason) => Err(RegistryError::Corrupt { path, reason }),
        None => Ok(Loaded {
            registry: Registry::new(),
            recovered_from: None,
            warnings: Vec::new(),
        }),
    }
}

/// Writes `registry` as the new `registry.json`, incrementing its serial.
/// On error, `registry.json` and `registry` are as they were.
pub fn save(home: &Home, registry: &mut Registry, _lock: &HomeLock) -> Result<(), RegistryError> {
    let root = home.root();
    fs::create_dir_all(root).map_err(RegistryError::Io)?;
    let path = home.registry_path();

    let mut next = registry.clone();
    next.version = REGISTRY_VERSION;
    next.serial = registry.serial + 1;
    if next.lineage.is_nil() {
        next.lineage = uuid::Uuid::new_v4();
    }
    let mut text = serde_json::to_vec_pretty(&next)
        .map_err(|e| RegistryError::Io(std::io::Error::other(e)))?;
    text.push(b'\n');

    let mut temp = tempfile::Builder::new()
        .prefix(".registry.")
        .suffix(".tmp")
        .tempfile_in(root)
        .map_err(|e| RegistryError::Io(io_at(e, root)))?;
    temp.write_all(&text)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| RegistryError::Io(io_at(e, temp.path())))?;

    crate::failpoint::hit("registry-before-rename").map_err(RegistryError::Io)?;

    keep_backup(home, &path)?;

    // The temporary file is deleted on drop if this fails.
    temp.persist(&path)
        .map_err(|e| RegistryError::Io(io_at(e.error, &path)))?;
    sync_dir(root)?;

    crate::failpoint::hit("registry-after-rename").map_err(RegistryError::Io)?;
    prune_backups(home)?;
    *registry = next;
    Ok(())
}

/// Keeps the current `registry.json` (about to be replaced) in `backups/`.
fn keep_backup(home: &Home, path: &Path) -> Result<(), RegistryError> {
    let current = match read_registry(path)? {
        None => return Ok(()),
        Some(current) => current,
    };
    let dir = home.backups_dir();
    fs::create_dir_all(&dir).map_err(RegistryError::Io)?;
    let name = match current {
        Ok(r) => format!("registry.{:012}.json", r.serial),
        // Evidence of what went wrong is user data too: keep it, apart from
        // the numbered backups so that recovery never picks it.
        Err(_) => format!(
            "registry.corrupt-{}.json",
            jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.fZ")
        ),
    };
    let backup = dir.join(name);
    if backup.exists() {
        return Ok(());
    }
    // A hard link is atomic and free; the rename that follows leaves the old
    // inode to the backup alone. Copy where links are not supported.
    if fs::hard_link(path, &backup).is_err() {
        let temp = dir.join(".backup.tmp");
        fs::copy(path, &temp).map_err(RegistryError::Io)?;
        fs::File::open(&temp)
            .and_then(|f| f.sync_all().map_err(|e| io_at(e, &temp)))
            .map_err(RegistryError::Io)?;
        fs::rename(&temp, &backup).map_err(RegistryError::Io)?;
    }
    sync_dir(&dir)
}

fn prune_backups(home: &Home) -> Result<(), RegistryError> {
    for old in backups(home)?.into_iter().skip(KEEP_BACKUPS) {
        // A backup that cannot be removed is not worth failing a write for.
        let _ = fs::remove_file(old);
    }
    Ok(())
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), RegistryError> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all().map_err(|e| io_at(e, dir)))
            .map_err(RegistryError::Io)?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn io_at(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{e} (at `{}`)", path.display()))
}
