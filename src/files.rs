//! The file-system rules every module follows, one helper per rule.
//!
//! - [`write_atomic`]: the one way a file is (re)written: a temporary file
//!   beside it, optionally fsynced, renamed over it, the folder synced. A
//!   reader sees the old bytes or the new ones, never a mix, and a file
//!   that other paths hard-link to (a cache) is never written in place.
//! - [`rename_noreplace`]: a rename that fails rather than replacing what
//!   is at the destination (`renameat2(RENAME_NOREPLACE)` on Linux; a
//!   check-then-rename elsewhere), so that claiming a path is atomic.
//! - [`is_mount_point`]: a folder on another device than its parent; such a
//!   folder is never renamed or removed, only emptied.
//! - [`remove_tree`] and [`is_absent`]: removal where absent is fine, and
//!   the errors that prove nothing is at a path.

use std::io::{self, Write as _};
use std::path::Path;

/// The claim file a transaction puts into every folder it creates, holding
/// its run id: the proof that lets an undo remove the folder (see
/// [`crate::exec::journal`]). Environments and runtimes ignore it.
pub const CLAIM_FILE: &str = ".beep-python-claim";

/// Whether `name` is one this program reserves inside the folders it
/// builds: the claim file and the asides of a mount point's contents.
/// Creating an environment in a folder that holds only these is creating
/// it in an empty folder.
pub fn is_reserved_name(name: &std::ffi::OsStr) -> bool {
    name == CLAIM_FILE || name.to_string_lossy().starts_with(".beep-old-")
}

/// Whether `path` is a folder holding nothing but reserved entries
/// ([`is_reserved_name`]).
pub fn holds_only_reserved(path: &Path) -> io::Result<bool> {
    for entry in fs_err::read_dir(path)? {
        if !is_reserved_name(&entry?.file_name()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether a write must survive a power loss (fsync of the file and of its
/// folder) or only be atomic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Atomic only: caches and files that can be rebuilt.
    Atomic,
    /// Atomic and on disk before returning: state (registry, journal,
    /// markers, locks).
    Durable,
}

/// Writes `contents` to `path` through a temporary file in the same folder,
/// renamed over it. `mode` sets the permissions on Unix (`None`: 0644).
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    durability: Durability,
    mode: Option<u32>,
) -> io::Result<()> {
    write_atomic_then(path, contents, durability, mode, || Ok::<(), io::Error>(()))
}

/// [`write_atomic`], calling `before_rename` once the new bytes are on
/// disk and before they replace the old ones (the registry keeps a backup
/// of the file it is about to replace there). An error from it leaves the
/// old file in place and removes the temporary one.
pub fn write_atomic_then<E: From<io::Error>>(
    path: &Path,
    contents: &[u8],
    durability: Durability,
    mode: Option<u32>,
    before_rename: impl FnOnce() -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| at(e, "create a temporary file in", dir))?;
    let temp_path = temp.path().to_path_buf();
    temp.write_all(contents)
        .map_err(|e| at(e, "write", &temp_path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode.unwrap_or(0o644)))
            .map_err(|e| at(e, "set the permissions of", &temp_path))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    if durability == Durability::Durable {
        temp.as_file()
            .sync_all()
            .map_err(|e| at(e, "sync", &temp_path))?;
    }
    // The temporary file is deleted on drop if this fails.
    before_rename()?;
    temp.persist(path)
        .map_err(|e| at(e.error, "rename a temporary file to", path))?;
    if durability == Durability::Durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes a rename or creation in `dir` durable (a no-op off Unix, where
/// folders cannot be opened for syncing).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs_err::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn at(e: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("failed to {action} `{}`: {e}", path.display()),
    )
}

/// Renames `from` to `to`, failing with [`io::ErrorKind::AlreadyExists`]
/// when something is at `to`, atomically where the OS can.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path holds a NUL byte"))
        };
        let (a, b) = (c(from)?, c(to)?);
        // SAFETY: both are valid NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        // Old kernels and some file systems lack the flag: fall back.
        if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(at(err, &format!("rename `{}` to", from.display()), to));
        }
    }
    if fs_err::symlink_metadata(to).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("`{}` already exists", to.display()),
        ));
    }
    fs_err::rename(from, to)
}

/// Whether `path` is a folder on another device than its parent folder
/// (a mount point, such as a container volume): it can be neither renamed
/// nor removed, only emptied.
pub fn is_mount_point(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = fs_err::symlink_metadata(path) else {
            return false;
        };
        if !meta.is_dir() {
            return false;
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => return true,
        };
        fs_err::metadata(parent).is_ok_and(|p| p.dev() != meta.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Whether `error` (from looking at a path) proves nothing is there: it
/// does not exist, or its name is too long to ever exist.
pub fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::InvalidFilename
    ) || error.raw_os_error() == Some(36) // ENAMETOOLONG on Linux, for older std
}

/// Removes a folder tree, a file or a dangling link; absent is fine.
///
/// A folder's files are unlinked by several threads: removing an
/// environment's restore point (thousands of files) is on the path users
/// wait on, and an unlink costs a system call each. Links are removed,
/// never followed.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs_err::symlink_metadata(path) {
        Err(e) if is_absent(&e) => Ok(()),
        Err(e) => Err(at(e, "look at", path)),
        Ok(meta) if meta.is_dir() => remove_dir_tree(path),
        Ok(_) => fs_err::remove_file(path),
    }
}

fn remove_dir_tree(root: &Path) -> io::Result<()> {
    // The walk reads names and types only (no stat per file).
    let mut dirs = vec![root.to_path_buf()];
    let mut files = Vec::new();
    let mut next = 0;
    while next < dirs.len() {
        let dir = dirs[next].clone();
        next += 1;
        for entry in fs_err::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if files.len() < 256 || threads == 1 {
        files.iter().try_for_each(fs_err::remove_file)?;
    } else {
        let chunk = files.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = files
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().try_for_each(fs_err::remove_file)))
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a remover thread panicked")))
            })
        })?;
    }
    // Deepest first: a folder is removed after everything in it.
    dirs.iter().rev().try_for_each(fs_err::remove_dir)
}

/// Whether `path` is a folder with nothing in it but entries named in
/// `ignoring`.
pub fn is_empty_dir(path: &Path, ignoring: &[&str]) -> io::Result<bool> {
    for entry in fs_err::read_dir(path)? {
        let name = entry?.file_name();
        if !ignoring.iter().any(|i| name == *i) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_noreplace_refuses_an_existing_destination() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs_err::create_dir(&a).unwrap();
        fs_err::create_dir(&b).unwrap();
        // An empty folder would be replaced by a plain rename on Linux.
        let err = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert!(a.is_dir() && b.is_dir());
        fs_err::remove_dir(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert!(!a.exists() && b.is_dir());
    }

    #[test]
    fn write_atomic_replaces_without_touching_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let (file, link) = (dir.path().join("f"), dir.path().join("link"));
        fs_err::write(&file, "old").unwrap();
        fs_err::hard_link(&file, &link).unwrap();
        write_atomic(&file, b"new", Durability::Durable, None).unwrap();
        assert_eq!(fs_err::read_to_string(&file).unwrap(), "new");
        assert_eq!(fs_err::read_to_string(&link).unwrap(), "old");
    }

    #[test]
    fn a_name_too_long_to_exist_counts_as_absent() {
        let long = std::env::temp_dir().join("x".repeat(300));
        let err = fs_err::symlink_metadata(&long).unwrap_err();
        assert!(is_absent(&err), "{err:?}");
        remove_tree(&long).unwrap();
    }

    #[test]
    fn temp_dirs_are_not_mount_points() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("sub")).unwrap();
        assert!(!is_mount_point(&dir.path().join("sub")));
        assert!(is_mount_point(Path::new("/")));
    }
}
