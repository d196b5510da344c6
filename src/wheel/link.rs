//! Putting a file of the unpacked cache into an environment: a reflink
//! (copy-on-write clone) where the file system can, else a hard link, else
//! a copy.
//!
//! Invariant (the reason this module is the only way files get into an
//! environment): **nothing ever writes into an installed file in place.**
//! A hard link shares its inode with the cache and with every other
//! environment that links it, so opening it for writing would change them
//! all. Every file is created new (`link`, `O_EXCL`) and, when something is
//! already at the path, created under a temporary name beside it and
//! renamed over: the old inode is unlinked from this path, never modified.
//! Generated files (scripts, `RECORD`, ...) go through
//! `venv::write_atomic`, which does the same.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// How files get from the cache into environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkPolicy {
    /// The fastest mode that works between the two file systems, probed
    /// once per pair: reflink, else hard link, else copy.
    #[default]
    Auto,
    /// Reflinks only (fails where the file system has none).
    Clone,
    /// Hard links only (fails across file systems).
    Hardlink,
    /// Plain copies: every environment owns its files.
    Copy,
}

/// How the files of an install were placed: reported with `-v` and in the
/// JSON events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkMode {
    /// Copy-on-write clones (`FICLONE` on Linux, `clonefile` on macOS):
    /// separate files that share blocks until written.
    Clone,
    /// Hard links: the cache's own inodes.
    Hardlink,
    /// Copies (the file systems differ, or links are refused).
    Copy,
}

impl std::fmt::Display for LinkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkMode::Clone => "reflink",
            LinkMode::Hardlink => "hard link",
            LinkMode::Copy => "copy",
        })
    }
}

/// The mode found for each (cache file system, environment file system).
static PROBED: Mutex<Option<HashMap<(u64, u64), LinkMode>>> = Mutex::new(None);

/// A device number for `path`'s file system (0 where there is none).
fn device(path: &Path) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs_err::metadata(path).map_or(0, |m| m.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0
    }
}

/// Places files from one cache folder into one environment folder in a
/// fixed [`LinkMode`], decided on the first file.
#[derive(Debug)]
pub struct Linker {
    policy: LinkPolicy,
    key: (u64, u64),
    mode: Mutex<Option<LinkMode>>,
}

impl Linker {
    /// A linker from files under `cache` to files under `env` (both must
    /// exist).
    pub fn new(policy: LinkPolicy, cache: &Path, env: &Path) -> Linker {
        let key = (device(cache), device(env));
        let known = match policy {
            LinkPolicy::Auto => PROBED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .and_then(|m| m.get(&key).copied()),
            LinkPolicy::Clone => Some(LinkMode::Clone),
            LinkPolicy::Hardlink => Some(LinkMode::Hardlink),
            LinkPolicy::Copy => Some(LinkMode::Copy),
        };
        Linker {
            policy,
            key,
            mode: Mutex::new(known),
        }
    }

    /// The mode in use, once the first file is placed.
    pub fn mode(&self) -> Option<LinkMode> {
        *self
            .mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Places `src` at `dest` (whose folder exists). Replaces what is at
    /// `dest` by renaming over it, never by writing into it.
    pub fn place(&self, src: &Path, dest: &Path) -> io::Result<()> {
        let mode = match self.mode() {
            Some(mode) => mode,
            None => return self.probe(src, dest),
        };
        match place_as(mode, src, dest) {
            Ok(()) => Ok(()),
            // One inode can have only so many links (65,000 on ext4).
            Err(e) if mode == LinkMode::Hardlink && e.raw_os_error() == Some(EMLINK) => {
                place_as(LinkMode::Copy, src, dest)
            }
            Err(e) => Err(e),
        }
    }

    /// Tries the modes best first on this file, and remembers the first that
    /// works for the pair of file systems.
    fn probe(&self, src: &Path, dest: &Path) -> io::Result<()> {
        let mut guard = self
            .mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(mode) = *guard {
            drop(guard);
            return place_as(mode, src, dest);
        }
        debug_assert_eq!(self.policy, LinkPolicy::Auto);
        let mut last = None;
        for mode in [LinkMode::Clone, LinkMode::Hardlink, LinkMode::Copy] {
            match place_as(mode, src, dest) {
                Ok(()) => {
                    *guard = Some(mode);
                    PROBED
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get_or_insert_with(HashMap::new)
                        .insert(self.key, mode);
                    return Ok(());
                }
                // Not a property of the file systems: give up now.
                Err(e) if !unsupported(&e) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no way to place a file")))
    }
}

#[cfg(unix)]
const EMLINK: i32 = libc::EMLINK;
#[cfg(not(unix))]
const EMLINK: i32 = 1142; // ERROR_TOO_MANY_LINKS

/// Whether `e` says "this file system (pair) cannot do that", as opposed to
/// a real failure (no space, no permission on the folder, ...).
fn unsupported(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(
                libc::EXDEV
                    | libc::EOPNOTSUPP
                    | libc::EINVAL
                    | libc::ENOTTY
                    | libc::ENOSYS
                    | libc::EPERM
                    | libc::EMLINK
            )
        ) || e.kind() == io::ErrorKind::Unsupported
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        true
    }
}

/// Places `src` at `dest` in `mode`, replacing anything there by a rename.
fn place_as(mode: LinkMode, src: &Path, dest: &Path) -> io::Result<()> {
    match create(mode, src, dest) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let temp = temp_beside(dest);
            create(mode, src, &temp)?;
            fs_err::rename(&temp, dest).map_err(|e| {
                let _ = fs_err::remove_file(&temp);
                with_path(e, "replace", dest)
            })
        }
        other => other,
    }
}

/// A fresh name beside `path` for a file that is then renamed over it.
fn temp_beside(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(
        ".{name}.beep-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("failed to {what} `{}`: {e}", path.display()),
    )
}

/// Creates `dest`, which must not exist, as `mode` of `src`.
fn create(mode: LinkMode, src: &Path, dest: &Path) -> io::Result<()> {
    match mode {
        // std, not fs_err: the fallbacks above read the OS error number,
        // which fs_err's path-naming wrapper does not carry; the errors
        // nothing falls back from name the path here.
        #[allow(clippy::disallowed_methods)]
        LinkMode::Hardlink => std::fs::hard_link(src, dest).map_err(|e| {
            let handled = unsupported(&e)
                || e.raw_os_error() == Some(EMLINK)
                || e.kind() == io::ErrorKind::AlreadyExists;
            if handled {
                e
            } else {
                with_path(e, "link", dest)
            }
        }),
        LinkMode::Clone => clone(src, dest),
        LinkMode::Copy => copy(src, dest),
    }
}

/// A new file at `dest` with `src`'s contents and permissions, and its
/// modification time (so that `.pyc` files compiled against `src` stay
/// valid, and the inventory sees the same file as the cache).
fn copy(src: &Path, dest: &Path) -> io::Result<()> {
    let mut from = fs_err::File::open(src).map_err(|e| with_path(e, "open", src))?;
    let meta = from.metadata()?;
    let mut to = new_file(dest, &meta)?;
    let result = io::copy(&mut from, &mut to)
        .and_then(|_| to.set_modified(meta.modified()?))
        .map_err(|e| with_path(e, "copy to", dest));
    if result.is_err() {
        let _ = fs_err::remove_file(dest);
    }
    result
}

/// Opens `dest` as a new file (never an existing one) with `meta`'s mode.
fn new_file(dest: &Path, meta: &std::fs::Metadata) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(meta.permissions().mode() & 0o777);
    }
    #[cfg(not(unix))]
    let _ = meta;
    options.open(dest)
}

#[cfg(target_os = "linux")]
fn clone(src: &Path, dest: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let from = fs_err::File::open(src).map_err(|e| with_path(e, "open", src))?;
    let meta = from.metadata()?;
    let to = new_file(dest, &meta)?;
    // SAFETY: both descriptors are open for the duration of the call;
    // FICLONE takes the source descriptor as its argument.
    let rc = unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) };
    let result = if rc == 0 {
        to.set_modified(meta.modified()?)
    } else {
        Err(io::Error::last_os_error())
    };
    if result.is_err() {
        drop(to);
        let _ = fs_err::remove_file(dest);
    }
    result
}

#[cfg(target_os = "macos")]
fn clone(src: &Path, dest: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
    };
    let (from, to) = (c(src)?, c(dest)?);
    // SAFETY: both are valid NUL-terminated paths; clonefile copies the
    // modification time and mode itself.
    let rc = unsafe { libc::clonefile(from.as_ptr(), to.as_ptr(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn clone(_src: &Path, _dest: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "reflinks are not implemented on this platform",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_replaces_by_rename_and_keeps_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.py");
        fs_err::write(&src, b"print(1)\n").unwrap();
        for policy in [LinkPolicy::Auto, LinkPolicy::Hardlink, LinkPolicy::Copy] {
            let dest = dir.path().join(format!("dest-{policy:?}"));
            fs_err::write(&dest, b"old contents that are longer").unwrap();
            let linker = Linker::new(policy, dir.path(), dir.path());
            linker.place(&src, &dest).unwrap();
            assert_eq!(fs_err::read(&dest).unwrap(), b"print(1)\n");
            assert_eq!(fs_err::read(&src).unwrap(), b"print(1)\n", "{policy:?}");
            assert!(linker.mode().is_some());
            assert_eq!(
                fs_err::metadata(&dest).unwrap().modified().unwrap(),
                fs_err::metadata(&src).unwrap().modified().unwrap(),
                "{policy:?}: same modification time"
            );
        }
        let leftovers: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
