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
//!   link, so it costs nothing) as `registry.<N>.json`; the newest
//!   [`KEEP_BACKUPS`] are kept.
//! - Backups are ordered by `N`, a number the store gives each backup as it
//!   makes it (one more than the largest in `backups/`), not by the serial
//!   inside: a serial can go back (a registry restored by hand, a recovery),
//!   and ordering by it once let pruning delete the newest backups and
//!   recovery pick a stale one. `N` is compared and incremented as a decimal
//!   string of any length, so it cannot wrap either. (Homes written before
//!   this named backups by serial; those names read as older numbers of the
//!   same sequence.)
//! - A corrupt or truncated `registry.json` is recovered from the newest
//!   valid backup, with a warning naming both files; when there is none,
//!   loading fails and nothing is written. A registry that existed is never
//!   silently replaced by an empty one, and the corrupt file itself is kept
//!   in `backups/` when the next write replaces it.
//! - A registry whose numbers are impossible is corrupt like one that does
//!   not parse: `version` 0 (or not a whole number), or a `serial` that
//!   cannot be incremented ([`u64::MAX`]). The serial only ever moves by
//!   [`next_serial`], which refuses to wrap.
//! - A registry of a newer format version is refused, not "recovered".
//! - Writing requires holding the home lock ([`HomeLock`]), which the type
//!   system enforces.

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
    match value.get("version") {
        None => return Err(Unusable::Corrupt("no `version` field".into())),
        Some(v) => match v.as_u64() {
            Some(v) if v > u64::from(REGISTRY_VERSION) => {
                return Err(Unusable::Newer(u32::try_from(v).unwrap_or(u32::MAX)));
            }
            Some(0) => {
                return Err(Unusable::Corrupt(
                    "`version` is 0; registry versions start at 1".into(),
                ));
            }
            Some(_) => {}
            None => {
                return Err(Unusable::Corrupt(format!(
                    "`version` is {v}, not a whole number"
                )));
            }
        },
    }
    let registry: Registry =
        serde_json::from_value(value).map_err(|e| Unusable::Corrupt(e.to_string()))?;
    if registry.serial == u64::MAX {
        return Err(Unusable::Corrupt(format!(
            "`serial` is {}, which cannot be incremented",
            registry.serial
        )));
    }
    Ok(registry)
}

/// The serial the next write of `registry` gets: one more, never wrapping.
/// The largest serial, [`u64::MAX`], is never written, because a registry
/// holding it could not be written again (and is read as corrupt).
pub fn next_serial(registry: &Registry) -> Result<u64, RegistryError> {
    registry
        .serial
        .checked_add(1)
        .filter(|next| *next < u64::MAX)
        .ok_or(RegistryError::SerialExhausted {
            serial: registry.serial,
        })
}

/// The number of a backup, `N` in `registry.<N>.json`: decimal digits of
/// any length, compared as the number they write (leading zeros do not
/// count), so that incrementing it never wraps.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BackupNumber(String);

impl BackupNumber {
    fn parse(digits: &str) -> Option<Self> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        Some(Self(
            if trimmed.is_empty() { "0" } else { trimmed }.to_string(),
        ))
    }

    fn first() -> Self {
        Self("1".to_string())
    }

    fn next(&self) -> Self {
        let mut digits = self.0.clone().into_bytes();
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
        Self(String::from_utf8(digits).expect("ASCII digits"))
    }

    /// The file name: at least 12 digits, as backups were always named.
    fn file_name(&self) -> String {
        format!("registry.{:0>12}.json", self.0)
    }
}

impl Ord for BackupNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.len(), &self.0).cmp(&(other.0.len(), &other.0))
    }
}

impl PartialOrd for BackupNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Numbered backups, newest (largest number) first.
fn backups(home: &Home) -> Result<Vec<PathBuf>, RegistryError> {
    Ok(numbered_backups(home)?
        .into_iter()
        .map(|(_, path)| path)
        .collect())
}

fn numbered_backups(home: &Home) -> Result<Vec<(BackupNumber, PathBuf)>, RegistryError> {
    let dir = home.backups_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RegistryError::Io(e)),
    };
    let mut numbered: Vec<(BackupNumber, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(RegistryError::Io)?;
        let name = entry.file_name();
        let Some(number) = name
            .to_str()
            .and_then(|n| n.strip_prefix("registry."))
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(BackupNumber::parse)
        else {
            continue;
        };
        numbered.push((number, entry.path()));
    }
    numbered.sort_by(|(a, _), (b, _)| b.cmp(a));
    Ok(numbered)
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
    next.serial = next_serial(registry)?;
    if next.lineage.is_nil() {
        next.lineage = uuid::Uuid::new_v4();
    }
    let mut text = serde_json::to_vec_pretty(&next)
        .map_err(|e| RegistryError::Io(std::io::Error::other(e)))?;
    text.push(b'\n');

    crate::files::write_atomic_then(
        &path,
        &text,
        crate::files::Durability::Durable,
        None,
        || {
            crate::failpoint::hit("registry-before-rename").map_err(RegistryError::Io)?;
            keep_backup(home, &path)
        },
    )?;

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
        Ok(_) => numbered_backups(home)?
            .first()
            .map_or_else(BackupNumber::first, |(newest, _)| newest.next())
            .file_name(),
        // Evidence of what went wrong is user data too: keep it, apart from
        // the numbered backups so that recovery never picks it.
        Err(_) => format!(
            "registry.corrupt-{}.json",
            jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.fZ")
        ),
    };
    let backup = dir.join(name);
    if backup.exists() {
        // Two corrupt files in the same instant of the clock: the first is
        // kept already.
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
