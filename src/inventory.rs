//! The inventory: every file installed in an environment, with its owner,
//! so that damage (a deleted `rich/console.py`, a whole `numpy/` folder
//! gone, an edited file) is seen without starting Python.
//!
//! Owns `<env>/.beep-python-inventory.json` ([`INVENTORY_FILE`]), beside
//! our marker. It is built by [`record()`] after any install (native, pip or
//! uv) from the installed distributions' `RECORD` files: each listed file
//! with its size and modification time (from the file system) and its
//! sha256 (from `RECORD`, which for native installs holds the hashes
//! verified while unpacking, so nothing is hashed twice; a file whose
//! `RECORD` line lacks a hash, or whose size differs from it, is hashed).
//!
//! # Format
//!
//! JSON, compact (an environment with numpy and pandas lists ~5,000
//! files):
//!
//! ```json
//! {"version":1,"distributions":[
//!   {"name":"rich","version":"13.7.1","installer":"beep-python","files":[
//!     ["lib/python3.12/site-packages/rich/console.py",99000,1718000000123456789,"<sha256 hex>"],
//!     ...]}]}
//! ```
//!
//! A file is `[path relative to the environment with /, size in bytes,
//! modification time in nanoseconds since the epoch, sha256 hex]`.
//! Distributions are sorted by normalized name and files by path. A newer
//! `version` than [`INVENTORY_VERSION`] is refused, naming it.
//!
//! # Checks
//!
//! - [`check_cheap`]: existence, size and modification time only; no
//!   hashing, no process. What `plan` runs.
//! - [`check_full`]: existence, size and contents (sha256); a file touched
//!   but unchanged is not damage here. What `plan --refresh=full` and
//!   `doctor` run.
//! - [`untracked`]: files in `site-packages` and `bin/` that no
//!   distribution owns: reported, never deleted.
//!
//! Bytecode is never damage: files in a `__pycache__` folder are Python's
//! to rewrite. [`by_package`] turns damage into what the planner says and
//! repairs: "rich: 1 file missing", then reinstalls that package only.
//!
//! Invariants: checking never writes and never starts a process; the file
//! is replaced atomically (temporary file, fsync, rename).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::discover::PyvenvCfg;
use crate::venv::{self, Platform};
use crate::wheel::{self, record};

/// The inventory's file name, in the environment folder.
pub const INVENTORY_FILE: &str = ".beep-python-inventory.json";

/// The format this program writes.
pub const INVENTORY_VERSION: u32 = 1;

/// Every installed file of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The format, [`INVENTORY_VERSION`].
    pub version: u32,
    /// Sorted by name.
    pub distributions: Vec<Owner>,
}

/// One distribution and its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// PEP 503 normalized.
    pub name: String,
    pub version: String,
    /// What its `INSTALLER` says (`beep-python`, `pip`, `uv`).
    pub installer: Option<String>,
    /// Sorted by path.
    pub files: Vec<FileRecord>,
}

/// One installed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "(String, u64, i64, String)",
    into = "(String, u64, i64, String)"
)]
pub struct FileRecord {
    /// Relative to the environment, with `/`.
    pub path: String,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Lowercase hex.
    pub sha256: String,
}

impl From<(String, u64, i64, String)> for FileRecord {
    fn from((path, size, mtime_ns, sha256): (String, u64, i64, String)) -> Self {
        FileRecord {
            path,
            size,
            mtime_ns,
            sha256,
        }
    }
}

impl From<FileRecord> for (String, u64, i64, String) {
    fn from(f: FileRecord) -> Self {
        (f.path, f.size, f.mtime_ns, f.sha256)
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InventoryError {
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(code("inventory::io"))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("`{}` is not a virtual environment (no `site-packages` found)", path.display())]
    #[diagnostic(code("inventory::not-an-environment"))]
    NotAnEnvironment { path: PathBuf },

    #[error("`{}` was written by a newer beep-python (inventory format version {version}; this one reads version {INVENTORY_VERSION})", path.display())]
    #[diagnostic(
        code("inventory::newer-version"),
        help("upgrade beep-python; nothing was changed")
    )]
    NewerVersion { path: PathBuf, version: u64 },

    #[error("`{}` is not a valid inventory: {reason}", path.display())]
    #[diagnostic(
        code("inventory::corrupt"),
        help("it is rebuilt from the installed packages by the next `beep-python apply`")
    )]
    Corrupt { path: PathBuf, reason: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> InventoryError + '_ {
    move |source| InventoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The environment's `site-packages`: from the version in `pyvenv.cfg`,
/// else the one `lib/python*/site-packages` there is.
fn site_packages(env: &Path) -> Option<PathBuf> {
    let version = fs_err::read_to_string(env.join("pyvenv.cfg"))
        .ok()
        .and_then(|text| PyvenvCfg::parse(&text).version)
        .unwrap_or_default();
    let site = venv::layout(env, &version).site_packages;
    if site.is_dir() {
        return Some(site);
    }
    if Platform::CURRENT == Platform::Unix {
        let found = fs_err::read_dir(env.join("lib")).ok()?.find_map(|e| {
            let e = e.ok()?;
            let site = e.path().join("site-packages");
            (e.file_name().to_string_lossy().starts_with("python") && site.is_dir()).then_some(site)
        });
        return found;
    }
    None
}

/// `path` relative to `env`, with `/`; `None` outside it.
fn relative(env: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(env).ok()?;
    let parts: Vec<String> = rest
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Builds the inventory of the environment at `env` from what is installed.
pub fn record(env: &Path) -> Result<Inventory, InventoryError> {
    record_since(env, None)
}

/// [`record()`], keeping from `previous` the entry of every distribution
/// that is still installed untouched: same name and version, and its
/// `RECORD` (listed in its entry) with the same size and modification
/// time. Every installer writes a new `RECORD` for what it installs, a
/// reinstall of the same version included, so an update costs a `stat`
/// per unchanged distribution instead of one per file; and damage to a
/// distribution the update did not reinstall stays visible.
pub fn record_since(env: &Path, previous: Option<&Inventory>) -> Result<Inventory, InventoryError> {
    let site = site_packages(env).ok_or_else(|| InventoryError::NotAnEnvironment {
        path: env.to_path_buf(),
    })?;
    let root = record::resolve(env, ".").unwrap_or_else(|| env.to_path_buf());
    let installed: Vec<_> = wheel::installed(&site)
        .into_iter()
        .filter(|d| d.complete)
        .collect();
    // `None`: recorded anew.
    let mut kept: Vec<Option<Owner>> = installed
        .iter()
        .map(|dist| unchanged_entry(&root, dist, previous?))
        .collect();
    let mut fresh: Vec<Option<Owner>> = vec![None; installed.len()];
    for (i, dist) in installed.iter().enumerate() {
        if kept[i].is_none() {
            fresh[i] = Some(record_dist(&site, &root, dist)?);
        }
    }
    // A file that a distribution recorded anew shares with one kept (a
    // pkgutil namespace `__init__.py`, a clashing module, a console script
    // of the same name) was written by the update: the kept entry takes
    // its size and time now, or `plan` would call that distribution
    // damaged after every apply (and reinstalling it would damage the
    // other). Its hash stays what its own `RECORD` said, for
    // `--refresh=full`; its other files keep their entries, damage and all.
    let written: std::collections::HashMap<&str, &FileRecord> = fresh
        .iter()
        .flatten()
        .flat_map(|o| o.files.iter().map(|f| (f.path.as_str(), f)))
        .collect();
    for owner in kept.iter_mut().flatten() {
        for file in &mut owner.files {
            if let Some(now) = written.get(file.path.as_str()) {
                file.size = now.size;
                file.mtime_ns = now.mtime_ns;
            }
        }
    }
    let distributions = kept
        .into_iter()
        .zip(fresh)
        .filter_map(|(kept, fresh)| kept.or(fresh))
        .collect();
    Ok(Inventory {
        version: INVENTORY_VERSION,
        distributions,
    })
}

/// `previous`'s entry of `dist` if its `RECORD` (listed in the entry) has
/// the same size and modification time.
fn unchanged_entry(
    root: &Path,
    dist: &wheel::InstalledDist,
    previous: &Inventory,
) -> Option<Owner> {
    let record_path = dist.dist_info.join("RECORD");
    let old = previous
        .distributions
        .iter()
        .find(|o| o.name == dist.name && o.version == dist.version)?;
    let rel = relative(root, &record_path)?;
    let listed = old
        .files
        .binary_search_by(|f| f.path.as_str().cmp(rel.as_str()))
        .ok()
        .map(|i| &old.files[i])?;
    let meta = fs_err::symlink_metadata(&record_path).ok()?;
    (listed.size == meta.len() && listed.mtime_ns == wheel::unpack::mtime_ns(&meta))
        .then(|| old.clone())
}

/// The entry of `dist` from its `RECORD` and a `stat` of each file.
fn record_dist(
    site: &Path,
    root: &Path,
    dist: &wheel::InstalledDist,
) -> Result<Owner, InventoryError> {
    let record_path = dist.dist_info.join("RECORD");
    let text = fs_err::read_to_string(&record_path).map_err(io_error(&record_path))?;
    let installer = fs_err::read_to_string(dist.dist_info.join("INSTALLER"))
        .ok()
        .map(|s| s.trim().to_string());
    let mut files = BTreeMap::new();
    for line in record::parse(&text) {
        let Some(path) = record::resolve(site, &line.path) else {
            continue;
        };
        let Some(rel) = relative(root, &path) else {
            continue; // outside the environment: not ours to watch
        };
        let Ok(meta) = fs_err::symlink_metadata(&path) else {
            continue; // listed but not there (never installed)
        };
        if meta.is_dir() {
            continue;
        }
        let known = line
            .hash
            .as_deref()
            .filter(|_| line.size == Some(meta.len()))
            .and_then(record::record_hash_to_hex);
        let sha256 = match known {
            Some(hex) => hex,
            None => sha256_of(&path).map_err(io_error(&path))?,
        };
        files.insert(
            rel.clone(),
            FileRecord {
                path: rel,
                size: meta.len(),
                mtime_ns: wheel::unpack::mtime_ns(&meta),
                sha256,
            },
        );
    }
    Ok(Owner {
        name: dist.name.clone(),
        version: dist.version.clone(),
        installer,
        files: files.into_values().collect(),
    })
}

/// Writes `inventory` into the environment at `env`, atomically and durably.
pub fn write(env: &Path, inventory: &Inventory) -> Result<(), InventoryError> {
    let path = env.join(INVENTORY_FILE);
    let mut json = serde_json::to_vec(inventory).map_err(|e| InventoryError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    venv::write_atomic(&path, &json, false, true).map_err(io_error(&path))
}

/// The inventory anew ([`record_since`] the stored one, which is kept for
/// what the install did not touch), then [`write()`]: what to call after
/// any install.
pub fn update(env: &Path) -> Result<Inventory, InventoryError> {
    // An unreadable or newer inventory is replaced by a whole new one.
    let previous = read(env).ok().flatten();
    let inventory = record_since(env, previous.as_ref())?;
    write(env, &inventory)?;
    Ok(inventory)
}

/// The inventory stored in the environment at `env`; `None` if there is none.
pub fn read(env: &Path) -> Result<Option<Inventory>, InventoryError> {
    let path = env.join(INVENTORY_FILE);
    let bytes = match fs_err::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(InventoryError::Io { path, source }),
    };
    #[derive(Deserialize)]
    struct Versioned {
        version: u64,
    }
    let corrupt = |e: serde_json::Error| InventoryError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    };
    let versioned: Versioned = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if versioned.version > u64::from(INVENTORY_VERSION) {
        return Err(InventoryError::NewerVersion {
            path,
            version: versioned.version,
        });
    }
    serde_json::from_slice(&bytes).map(Some).map_err(corrupt)
}

/// One damaged file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// The owning distribution (normalized name).
    pub package: String,
    /// Relative to the environment, with `/`.
    pub path: String,
    pub kind: DamageKind,
}

/// How a file differs from its inventory line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DamageKind {
    /// Not there (or not a file any more).
    Missing,
    /// Another size.
    Size,
    /// Same size, another modification time ([`check_cheap`] only).
    Modified,
    /// Same size, other contents ([`check_full`] only).
    Content,
    /// There, but cannot be read.
    Unreadable,
}

impl DamageKind {
    /// Whether the file is gone, as opposed to changed.
    pub fn is_missing(self) -> bool {
        match self {
            DamageKind::Missing => true,
            DamageKind::Size
            | DamageKind::Modified
            | DamageKind::Content
            | DamageKind::Unreadable => false,
        }
    }
}

/// Files that are Python's to rewrite, never damage.
fn is_bytecode(path: &str) -> bool {
    path.split('/').any(|c| c == "__pycache__")
}

/// Existence, size and modification time of every inventoried file (no
/// hashing, no process). Files are looked up folder by folder: each folder
/// is opened once and its files are looked at relative to it, so the
/// kernel walks one name per file instead of the whole path (a third of
/// the cost of a no-op plan over environments of 1,000 files each).
pub fn check_cheap(env: &Path, inventory: &Inventory) -> Vec<Damage> {
    let files: Vec<(&Owner, &FileRecord)> = inventory
        .distributions
        .iter()
        .flat_map(|owner| owner.files.iter().map(move |file| (owner, file)))
        .filter(|(_, file)| !is_bytecode(&file.path))
        .collect();
    // (folder, name, index), grouped by folder.
    let mut order: Vec<(&str, &str, usize)> = files
        .iter()
        .enumerate()
        .map(|(i, (_, file))| {
            let (dir, name) = file.path.rsplit_once('/').unwrap_or(("", &file.path));
            (dir, name, i)
        })
        .collect();
    order.sort_unstable();
    let mut found: Vec<Option<DamageKind>> = vec![None; files.len()];
    for group in order.chunk_by(|a, b| a.0 == b.0) {
        let lookup = Folder::open(env, group[0].0);
        for &(_, name, i) in group {
            let file = files[i].1;
            found[i] = match lookup.stat(name) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    Some(DamageKind::Missing)
                }
                Err(_) => Some(DamageKind::Unreadable),
                Ok(stat) if stat.is_dir => Some(DamageKind::Missing),
                Ok(stat) if stat.size != file.size => Some(DamageKind::Size),
                Ok(stat) if stat.mtime_ns != file.mtime_ns => Some(DamageKind::Modified),
                Ok(_) => None,
            };
        }
    }
    files
        .iter()
        .zip(found)
        .filter_map(|((owner, file), kind)| {
            Some(Damage {
                package: owner.name.clone(),
                path: file.path.clone(),
                kind: kind?,
            })
        })
        .collect()
}

/// What [`check_cheap`] needs of a file.
struct Stat {
    is_dir: bool,
    size: u64,
    mtime_ns: i64,
}

/// A folder of the environment, opened once to look at its files.
struct Folder {
    #[cfg(unix)]
    fd: io::Result<std::os::fd::OwnedFd>,
    #[cfg(not(unix))]
    path: PathBuf,
}

impl Folder {
    /// `rel` (with `/`, empty for the environment itself) inside `env`.
    fn open(env: &Path, rel: &str) -> Folder {
        let path = if rel.is_empty() {
            env.to_path_buf()
        } else {
            env.join(rel)
        };
        #[cfg(unix)]
        {
            use std::os::fd::{FromRawFd, OwnedFd};
            use std::os::unix::ffi::OsStrExt;
            let fd = std::ffi::CString::new(path.as_os_str().as_bytes())
                .map_err(io::Error::other)
                .and_then(|c| {
                    // SAFETY: `c` is a valid NUL-terminated path; the
                    // returned descriptor is checked and then owned.
                    let raw = unsafe {
                        libc::open(
                            c.as_ptr(),
                            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                        )
                    };
                    if raw < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        // SAFETY: `raw` is a fresh descriptor nobody else owns.
                        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
                    }
                });
            Folder { fd }
        }
        #[cfg(not(unix))]
        {
            Folder { path }
        }
    }

    /// The file `name` in this folder, not following a last link.
    fn stat(&self, name: &str) -> io::Result<Stat> {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = match &self.fd {
                Ok(fd) => fd.as_raw_fd(),
                Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
            };
            let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: `fd` is an open folder, `c` a valid NUL-terminated
            // name, and `st` is written by the call before it is read.
            let rc = unsafe {
                libc::fstatat(fd, c.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW)
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: the call succeeded, so `st` is initialised.
            let st = unsafe { st.assume_init() };
            #[allow(clippy::unnecessary_cast)] // the field types vary by platform
            Ok(Stat {
                is_dir: (st.st_mode as libc::mode_t & libc::S_IFMT) == libc::S_IFDIR,
                size: st.st_size as u64,
                mtime_ns: (st.st_mtime as i64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(st.st_mtime_nsec as i64),
            })
        }
        #[cfg(not(unix))]
        {
            let meta = fs_err::symlink_metadata(self.path.join(name))?;
            Ok(Stat {
                is_dir: meta.is_dir(),
                size: meta.len(),
                mtime_ns: wheel::unpack::mtime_ns(&meta),
            })
        }
    }
}

/// Existence, size and contents (sha256) of every inventoried file, hashed
/// on a few threads.
pub fn check_full(env: &Path, inventory: &Inventory) -> Vec<Damage> {
    let files: Vec<(&str, &FileRecord)> = inventory
        .distributions
        .iter()
        .flat_map(|o| o.files.iter().map(move |f| (o.name.as_str(), f)))
        .filter(|(_, f)| !is_bytecode(&f.path))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(files.len().max(1));
    let check = |(package, file): &(&str, &FileRecord)| {
        let path = env.join(&file.path);
        let kind = match fs_err::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(DamageKind::Missing),
            Err(_) => Some(DamageKind::Unreadable),
            Ok(meta) if meta.is_dir() => Some(DamageKind::Missing),
            Ok(meta) if meta.len() != file.size => Some(DamageKind::Size),
            Ok(_) => match sha256_of(&path) {
                Ok(hex) if hex == file.sha256 => None,
                Ok(_) => Some(DamageKind::Content),
                Err(_) => Some(DamageKind::Unreadable),
            },
        };
        kind.map(|kind| Damage {
            package: package.to_string(),
            path: file.path.clone(),
            kind,
        })
    };
    let mut damage: Vec<Damage> = std::thread::scope(|scope| {
        let check = &check;
        let files = &files;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    files
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .filter_map(check)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    damage.sort_by(|a, b| (&a.package, &a.path).cmp(&(&b.package, &b.path)));
    damage
}

/// Files in the environment's `site-packages` and `bin/` that no
/// distribution owns (relative paths, sorted): reported, never deleted.
/// Bytecode and the environment's own files (interpreter links, activation
/// scripts) are not listed.
pub fn untracked(env: &Path, inventory: &Inventory) -> Vec<String> {
    let owned: HashSet<&str> = inventory
        .distributions
        .iter()
        .flat_map(|o| o.files.iter().map(|f| f.path.as_str()))
        .collect();
    let mut out = Vec::new();
    let mut walk = vec![];
    if let Some(site) = site_packages(env) {
        walk.push(site);
    }
    let bin = env.join(Platform::CURRENT.bin_dir());
    while let Some(dir) = walk.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if entry.file_name() != "__pycache__" {
                    walk.push(path);
                }
                continue;
            }
            if let Some(rel) = relative(env, &path)
                && !owned.contains(rel.as_str())
            {
                out.push(rel);
            }
        }
    }
    if let Ok(entries) = fs_err::read_dir(&bin) {
        for entry in entries.filter_map(Result::ok) {
            let ours = wheel::is_environment_script(&entry.file_name().to_string_lossy());
            if ours || entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Some(rel) = relative(env, &entry.path())
                && !owned.contains(rel.as_str())
            {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Damage counted per package: what the planner says, and which packages
/// to reinstall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageDamage {
    pub package: String,
    pub missing: usize,
    pub changed: usize,
}

impl fmt::Display for PackageDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = |n: usize| if n == 1 { "file" } else { "files" };
        write!(f, "{}: ", self.package)?;
        match (self.missing, self.changed) {
            (m, 0) => write!(f, "{m} {} missing", files(m)),
            (0, c) => write!(f, "{c} {} changed", files(c)),
            (m, c) => write!(f, "{m} {} missing, {c} {} changed", files(m), files(c)),
        }
    }
}

/// `damage` summed per package, sorted by package.
pub fn by_package(damage: &[Damage]) -> Vec<PackageDamage> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for d in damage {
        let entry = counts.entry(d.package.as_str()).or_default();
        if d.kind.is_missing() {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    counts
        .into_iter()
        .map(|(package, (missing, changed))| PackageDamage {
            package: package.to_string(),
            missing,
            changed,
        })
        .collect()
}

fn sha256_of(path: &Path) -> io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(record::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_reads_per_package() {
        let d = |package: &str, kind| Damage {
            package: package.into(),
            path: "x".into(),
            kind,
        };
        let summary = by_package(&[
            d("rich", DamageKind::Missing),
            d("numpy", DamageKind::Size),
            d("numpy", DamageKind::Content),
            d("numpy", DamageKind::Modified),
            d("six", DamageKind::Missing),
            d("six", DamageKind::Missing),
            d("six", DamageKind::Modified),
        ]);
        let text: Vec<String> = summary.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "numpy: 3 files changed",
                "rich: 1 file missing",
                "six: 2 files missing, 1 file changed"
            ]
        );
    }

    #[test]
    fn files_are_tuples_and_newer_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inventory = Inventory {
            version: INVENTORY_VERSION,
            distributions: vec![Owner {
                name: "rich".into(),
                version: "13.7.1".into(),
                installer: Some("beep-python".into()),
                files: vec![FileRecord {
                    path: "lib/python3.12/site-packages/rich/__init__.py".into(),
                    size: 10,
                    mtime_ns: 1_700_000_000_000_000_001,
                    sha256: "ab".repeat(32),
                }],
            }],
        };
        write(dir.path(), &inventory).unwrap();
        let text = fs_err::read_to_string(dir.path().join(INVENTORY_FILE)).unwrap();
        assert!(
            text.contains(
                r#"["lib/python3.12/site-packages/rich/__init__.py",10,1700000000000000001,"#
            ),
            "{text}"
        );
        assert_eq!(read(dir.path()).unwrap(), Some(inventory));
        fs_err::write(
            dir.path().join(INVENTORY_FILE),
            r#"{"version": 9, "x": []}"#,
        )
        .unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        assert_eq!(read(tempfile::tempdir().unwrap().path()).unwrap(), None);
    }

    #[test]
    fn bytecode_is_never_damage() {
        assert!(is_bytecode(
            "lib/python3.12/site-packages/rich/__pycache__/a.cpython-312.pyc"
        ));
        assert!(!is_bytecode("lib/python3.12/site-packages/rich/console.py"));
    }
}
