//! Scoped restore points: what an in-place update of an environment can
//! undo, taken for only the files the update may replace or remove.
//!
//! A full restore point hard-links every file of the environment aside
//! (`journal::Journal::snapshot`). It costs one link per file, and its
//! removal after the commit one unlink per file: for an environment of
//! 5,000 files that was 0.3 to 1.5 s, twenty times the work of adding one
//! package (bench/update.sh). A scoped restore point keeps the same
//! guarantee for a fraction of that:
//!
//! - **The listing.** Every entry of the environment (folder, file, link),
//!   by relative path, written to [`LISTING`] inside the snapshot before the
//!   snapshot is complete. A walk reads names and types only.
//! - **The shell, linked at once.** Everything outside `site-packages`
//!   (`bin/`, `pyvenv.cfg`, the activation scripts, our marker and
//!   inventory, `include/`, `share/`): the update's own rewrites
//!   (`Reconfigure`, launchers, scripts) land there. Links in
//!   `site-packages` are recreated too (they are few and cost no inode).
//! - **The rest, linked just before it changes.** The native installer
//!   says, once everything is prepared and before it touches the
//!   environment, which existing files it will remove or replace (the
//!   `RECORD`s and `.dist-info` folders of the distributions it removes or
//!   replaces, and every destination that already holds a file), and
//!   [`preserve`] links them into the snapshot first. Preserving is
//!   idempotent: a file already in the snapshot is kept (it is the older
//!   one).
//!
//! Only the native installer gets a scoped restore point. pip and uv can
//! write where no plan names: a package that ships another's files
//! (`psycopg2` over `psycopg2-binary`), a local requirement they reinstall
//! on every run, pip upgrading itself, `PIP_FORCE_REINSTALL`. A constraint
//! does not stop any of these, so their updates keep a whole restore point
//! (a hostile review found each case). When what will change cannot be
//! known after all (a pip without `RECORD` about to be seeded over),
//! [`widen`] makes the scoped one whole.
//!
//! **Restoring** ([`restore`]) moves every file of the snapshot back over
//! its path, then removes what the listing does not name (what the update
//! added), then recreates listed folders the update removed. Each step can
//! be repeated after a crash: a file moved back is no longer in the
//! snapshot, an entry removed is gone, and the listing is removed only
//! after both, then the snapshot folder. A listed file that is neither in
//! the environment nor in the snapshot (something outside the update's
//! scope removed it) is reported, never guessed at.
//!
//! Rename over a path that is a hard link of the same inode does nothing
//! (POSIX): a preserved file the update did not change stays in the
//! snapshot and goes with it.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use fs_err as fs;
use serde::{Deserialize, Serialize};

use crate::files;

/// The listing's file name inside a scoped snapshot.
pub const LISTING: &str = ".beep-listing.json";

const LISTING_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Dir,
    File,
    Link,
}

#[derive(Debug, Serialize, Deserialize)]
struct Listing {
    version: u32,
    /// Relative paths, `/`-separated, folders before their contents.
    entries: Vec<(Kind, String)>,
}

/// Walks `env`, skipping `skip` (a snapshot made inside it), and returns
/// every entry by relative path. A name that is not UTF-8 cannot be
/// listed: without `unlisted` that is an error (the caller takes a whole
/// restore point instead); with it, such entries (never in a listing, so
/// made since) are collected there, not descended into.
fn walk(
    env: &Path,
    skip: &[&Path],
    mut unlisted: Option<&mut Vec<PathBuf>>,
) -> io::Result<Vec<(Kind, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![(env.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if skip.contains(&path.as_path()) {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                if let Some(unlisted) = unlisted.as_deref_mut() {
                    unlisted.push(path);
                    continue;
                }
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("`{}` is not a UTF-8 name", path.display()),
                ));
            };
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                out.push((Kind::Dir, child.clone()));
                stack.push((path, child));
            } else if kind.is_symlink() {
                out.push((Kind::Link, child));
            } else {
                out.push((Kind::File, child));
            }
        }
    }
    Ok(out)
}

/// Builds a scoped snapshot of `env` at `to` (a folder that does not
/// exist yet): the listing, every file outside `deep` linked, every link
/// recreated. `skip` are paths inside `env` to leave out (the snapshot
/// itself when it lives inside a mount point).
pub fn take(env: &Path, deep: &Path, to: &Path, skip: &[&Path]) -> io::Result<()> {
    let entries = walk(env, skip, None)?;
    let deep_rel = deep
        .strip_prefix(env)
        .ok()
        .and_then(Path::to_str)
        .map(|s| s.replace('\\', "/"));
    let is_deep = |rel: &str| {
        deep_rel
            .as_deref()
            .is_some_and(|d| rel == d || rel.strip_prefix(d).is_some_and(|r| r.starts_with('/')))
    };
    fs::create_dir(to)?;
    for (kind, rel) in &entries {
        match kind {
            Kind::Dir => {}
            Kind::Link => copy_entry(&env.join(rel), &to.join(rel))?,
            Kind::File if !is_deep(rel) => copy_entry(&env.join(rel), &to.join(rel))?,
            Kind::File => {}
        }
    }
    let listing = Listing {
        version: LISTING_VERSION,
        entries,
    };
    let text = serde_json::to_vec(&listing).map_err(io::Error::other)?;
    files::write_atomic(&to.join(LISTING), &text, files::Durability::Durable, None)
}

/// Links each of `paths` (inside `env`) into the snapshot `to`, unless it
/// is already there or no longer exists; then makes the snapshot durable.
pub fn preserve(env: &Path, to: &Path, paths: &[PathBuf]) -> io::Result<usize> {
    let mut linked = 0;
    for path in paths {
        let Ok(rel) = path.strip_prefix(env) else {
            continue;
        };
        let dest = to.join(rel);
        if fs_err::symlink_metadata(&dest).is_ok() {
            continue;
        }
        match fs_err::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {}
            Err(e) if files::is_absent(&e) => continue,
            Err(e) => return Err(e),
        }
        copy_entry(path, &dest)?;
        linked += 1;
    }
    files::sync_dir(to)?;
    crate::failpoint::crash_point("snapshot-extended");
    Ok(linked)
}

/// Every file of the listing, preserved: the snapshot becomes complete
/// (used when the update's scope cannot be known after all).
pub fn widen(env: &Path, to: &Path) -> io::Result<usize> {
    let listing = read_listing(to)?;
    let paths: Vec<PathBuf> = listing
        .entries
        .iter()
        .filter(|(kind, _)| *kind == Kind::File)
        .map(|(_, rel)| env.join(rel))
        .collect();
    preserve(env, to, &paths)
}

/// A hard link of the file at `from` at `to` (a copy where links fail),
/// or the same link target for a link; parent folders created.
fn copy_entry(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let meta = fs_err::symlink_metadata(from)?;
    if meta.is_symlink() {
        #[cfg(unix)]
        return fs::os::unix::fs::symlink(fs::read_link(from)?, to);
        #[cfg(not(unix))]
        return fs::copy(from, to).map(|_| ());
    }
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to)?;
    }
    Ok(())
}

fn read_listing(snapshot: &Path) -> io::Result<Listing> {
    let bytes = fs::read(snapshot.join(LISTING))?;
    let listing: Listing = serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if listing.version != LISTING_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "`{}` has listing version {}",
                snapshot.join(LISTING).display(),
                listing.version
            ),
        ));
    }
    Ok(listing)
}

/// Puts the scoped snapshot `snapshot` back into `env`; `skip` as for
/// [`take`]. Returns the listed files that could be found nowhere.
pub fn restore(env: &Path, snapshot: &Path, skip: &[&Path]) -> io::Result<Vec<PathBuf>> {
    let listing = match read_listing(snapshot) {
        Ok(listing) => listing,
        // Removed last but for the folder: the restore had finished.
        Err(e) if files::is_absent(&e) => {
            files::remove_tree(snapshot)?;
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    // 1. What the snapshot keeps goes back over whatever is there now.
    let mut saved = walk(snapshot, &[], None)?;
    saved.retain(|(kind, rel)| *kind != Kind::Dir && rel != LISTING);
    for (_, rel) in &saved {
        let dest = env.join(rel);
        if let Some(parent) = dest.parent() {
            // A folder where the file's parent was (the update replaced a
            // module by a package): it is the update's, it goes.
            if fs_err::symlink_metadata(parent).is_ok_and(|m| !m.is_dir()) {
                fs::remove_file(parent)?;
            }
            fs::create_dir_all(parent)?;
        }
        if fs_err::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
            files::remove_tree(&dest)?;
        }
        fs::rename(snapshot.join(rel), &dest)?;
    }
    crate::failpoint::crash_point("snapshot-files-restored");
    // 2. What the update added goes; folders deepest first.
    let listed: HashSet<&str> = listing.entries.iter().map(|(_, r)| r.as_str()).collect();
    let mut foreign = Vec::new();
    let mut now = walk(env, skip, Some(&mut foreign))?;
    for path in &foreign {
        files::remove_tree(path)?;
    }
    now.sort_by_key(|(_, rel)| std::cmp::Reverse(rel.len()));
    for (kind, rel) in &now {
        if listed.contains(rel.as_str()) {
            continue;
        }
        let path = env.join(rel);
        match kind {
            Kind::Dir => files::remove_tree(&path)?,
            Kind::File | Kind::Link => match fs::remove_file(&path) {
                Err(e) if files::is_absent(&e) => {}
                other => other?,
            },
        }
    }
    // 3. Listed folders the update removed come back; listed files that
    // are nowhere are reported.
    let mut missing = Vec::new();
    for (kind, rel) in &listing.entries {
        let path = env.join(rel);
        match kind {
            Kind::Dir => fs::create_dir_all(&path)?,
            Kind::File | Kind::Link => {
                if fs_err::symlink_metadata(&path).is_err() {
                    missing.push(path);
                }
            }
        }
    }
    fs::remove_file(snapshot.join(LISTING))?;
    files::remove_tree(snapshot)?;
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (rel, text) in files {
            let path = root.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }

    fn read(root: &Path, rel: &str) -> Option<String> {
        fs::read_to_string(root.join(rel)).ok()
    }

    #[test]
    fn an_update_within_its_scope_is_undone_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let sp = env.join("lib/site-packages");
        tree(
            &env,
            &[
                ("pyvenv.cfg", "old cfg"),
                ("bin/tool", "old tool"),
                ("lib/site-packages/a/__init__.py", "a 1"),
                ("lib/site-packages/a/sub/x.py", "a x"),
                ("lib/site-packages/b/__init__.py", "b 1"),
                ("lib/site-packages/user-notes.txt", "mine"),
            ],
        );
        let snap = dir.path().join("env.beep-old-1");
        take(&env, &sp, &snap, &[]).unwrap();
        // Only the shell is linked at once.
        assert!(snap.join("pyvenv.cfg").exists());
        assert!(!snap.join("lib/site-packages/a/__init__.py").exists());

        // The update: preserve `a`, then replace it by a new version with
        // other files; rewrite the shell; add a package `c`.
        preserve(
            &env,
            &snap,
            &[
                sp.join("a/__init__.py"),
                sp.join("a/sub/x.py"),
                sp.join("not-there.py"),
            ],
        )
        .unwrap();
        files::remove_tree(&sp.join("a")).unwrap();
        tree(
            &env,
            &[
                ("lib/site-packages/a/__init__.py", "a 2"),
                ("lib/site-packages/a/new.py", "a new"),
                ("lib/site-packages/c/__init__.py", "c"),
                ("bin/c-tool", "c tool"),
            ],
        );
        files::write_atomic(
            &env.join("pyvenv.cfg"),
            b"new cfg",
            files::Durability::Atomic,
            None,
        )
        .unwrap();

        let missing = restore(&env, &snap, &[]).unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(read(&env, "pyvenv.cfg").as_deref(), Some("old cfg"));
        assert_eq!(
            read(&env, "lib/site-packages/a/__init__.py").as_deref(),
            Some("a 1")
        );
        assert_eq!(
            read(&env, "lib/site-packages/a/sub/x.py").as_deref(),
            Some("a x")
        );
        assert!(!env.join("lib/site-packages/a/new.py").exists());
        assert!(!env.join("lib/site-packages/c").exists());
        assert!(!env.join("bin/c-tool").exists());
        assert_eq!(
            read(&env, "lib/site-packages/user-notes.txt").as_deref(),
            Some("mine")
        );
        assert_eq!(read(&env, "bin/tool").as_deref(), Some("old tool"));
        assert!(!snap.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_name_that_is_not_utf8_made_by_the_update_goes_at_restore() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let sp = env.join("sp");
        tree(&env, &[("sp/a.py", "a")]);
        let snap = dir.path().join("snap");
        take(&env, &sp, &snap, &[]).unwrap();
        let odd = sp.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        fs::create_dir_all(odd.join("inner")).unwrap();
        assert!(restore(&env, &snap, &[]).unwrap().is_empty());
        assert!(!odd.exists());
        assert_eq!(read(&env, "sp/a.py").as_deref(), Some("a"));
    }

    #[test]
    fn a_restore_interrupted_anywhere_converges_when_repeated() {
        // Restore step by step, as a crash would leave it: the files moved
        // back, then run again from the start.
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let sp = env.join("sp");
        tree(&env, &[("cfg", "old"), ("sp/a.py", "a 1")]);
        let snap = dir.path().join("snap");
        take(&env, &sp, &snap, &[]).unwrap();
        preserve(&env, &snap, &[sp.join("a.py")]).unwrap();
        fs::remove_file(sp.join("a.py")).unwrap();
        tree(&env, &[("sp/a.py", "a 2"), ("sp/b.py", "b")]);
        // Half a restore: the snapshot's file moved back by hand.
        fs::rename(snap.join("sp/a.py"), sp.join("a.py")).unwrap();
        restore(&env, &snap, &[]).unwrap();
        assert_eq!(read(&env, "sp/a.py").as_deref(), Some("a 1"));
        assert!(!sp.join("b.py").exists());
        // And once more after it finished: nothing left to do.
        assert!(restore(&env, &snap, &[]).unwrap().is_empty());
        assert_eq!(read(&env, "cfg").as_deref(), Some("old"));
    }

    #[test]
    fn a_listed_file_outside_the_scope_that_vanished_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let sp = env.join("sp");
        tree(&env, &[("sp/a.py", "a"), ("sp/b.py", "b")]);
        let snap = dir.path().join("snap");
        take(&env, &sp, &snap, &[]).unwrap();
        fs::remove_file(sp.join("b.py")).unwrap();
        let missing = restore(&env, &snap, &[]).unwrap();
        assert_eq!(missing, vec![sp.join("b.py")]);
        assert_eq!(read(&env, "sp/a.py").as_deref(), Some("a"));
    }

    #[test]
    fn widening_preserves_every_listed_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let sp = env.join("sp");
        tree(&env, &[("sp/a.py", "a"), ("sp/d/b.py", "b")]);
        let snap = dir.path().join("snap");
        take(&env, &sp, &snap, &[]).unwrap();
        assert_eq!(widen(&env, &snap).unwrap(), 2);
        files::remove_tree(&sp).unwrap();
        assert!(restore(&env, &snap, &[]).unwrap().is_empty());
        assert_eq!(read(&env, "sp/d/b.py").as_deref(), Some("b"));
    }
}
