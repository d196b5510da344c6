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
//! - **Flat.** A kept file or link is stored in the snapshot folder itself
//!   under its position in the listing (`<snapshot>/412`), never in a copy
//!   of the environment's folders. Removing a folder is what costs on disks
//!   that discard freed blocks (3-4 ms per `rmdir` on the dev machine's
//!   ext4 mounted `discard`, against 10 us per unlink of a file that has
//!   another link): a mirrored tree of numpy and pandas (530 folders) took
//!   1.9 s to remove after every commit, flat it is one folder. One folder
//!   also makes the snapshot durable with one `fsync`.
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
//! Only the native installer gets a scope. pip and uv can write where no
//! plan names: a package that ships another's files (`psycopg2` over
//! `psycopg2-binary`), a local requirement they reinstall on every run,
//! pip upgrading itself, `PIP_FORCE_REINSTALL`. A constraint does not stop
//! any of these (a hostile review found each case), and a conda package
//! may write anywhere, so their updates take the same restore point with
//! every file kept at once ([`take`] without a `deep` folder): whole, but
//! still flat. When what will change cannot be known after all (a pip
//! without `RECORD` about to be seeded over), [`widen`] makes a scoped one
//! whole.
//!
//! **Restoring** ([`restore`]) moves every file of the snapshot back over
//! its listed path (a listing of version 1 mirrored the folders instead;
//! it is still read), then removes what the listing does not name (what the update
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

/// 2: kept entries stored flat, by their position in the listing; 1 (still
/// restored): kept entries at their relative paths.
const LISTING_VERSION: u32 = 2;

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

/// Builds a snapshot of `env` at `to` (a folder that does not exist yet):
/// the listing, every link recreated, and every file linked, except the
/// files inside `deep` (its `site-packages`), which [`preserve`] links as
/// they are about to change; without `deep` the snapshot is whole. `skip`
/// are paths inside `env` to leave out (the snapshot itself when it lives
/// inside a mount point).
pub fn take(env: &Path, deep: Option<&Path>, to: &Path, skip: &[&Path]) -> io::Result<()> {
    let entries = walk(env, skip, None)?;
    let deep_rel = deep.map(|deep| {
        deep.strip_prefix(env)
            .ok()
            .and_then(Path::to_str)
            .map(|s| s.replace('\\', "/"))
    });
    let is_deep = |rel: &str| match &deep_rel {
        None => false,
        // `deep` outside the environment: nothing of it is listed.
        Some(None) => false,
        Some(Some(d)) => {
            rel == d
                || rel
                    .strip_prefix(d.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        }
    };
    // The listing first: a snapshot killed while it is linked is still
    // known by it (the sweep finds our marker through it).
    fs::create_dir(to)?;
    let listing = Listing {
        version: LISTING_VERSION,
        entries,
    };
    let text = serde_json::to_vec(&listing).map_err(io::Error::other)?;
    files::write_atomic(&to.join(LISTING), &text, files::Durability::Durable, None)?;
    let now: Vec<(PathBuf, PathBuf)> = listing
        .entries
        .iter()
        .enumerate()
        .filter(|(_, (kind, rel))| match kind {
            Kind::Dir => false,
            Kind::Link => true,
            Kind::File => !is_deep(rel),
        })
        .map(|(i, (_, rel))| (env.join(rel), slot(to, i)))
        .collect();
    // Our marker first: a snapshot killed while linking is proven ours by
    // it (the rest is linked by several threads, in no order).
    let (marker, rest): (Vec<_>, Vec<_>) = now
        .into_iter()
        .partition(|(from, _)| from == &env.join(crate::venv::MARKER_FILE));
    link_all(&marker)?;
    link_all(&rest)?;
    files::sync_dir(to)
}

/// Where the snapshot `snapshot` keeps the entry `rel` (relative to the
/// environment, with `/`), if its listing names it.
pub fn kept(snapshot: &Path, rel: &str) -> Option<PathBuf> {
    let listing = read_listing(snapshot).ok()?;
    match listing.version {
        1 => Some(snapshot.join(rel)),
        _ => listing
            .entries
            .iter()
            .position(|(kind, r)| *kind != Kind::Dir && r == rel)
            .map(|i| slot(snapshot, i)),
    }
}

/// Where the snapshot keeps the listing's entry `index`.
fn slot(snapshot: &Path, index: usize) -> PathBuf {
    snapshot.join(index.to_string())
}

/// [`copy_entry`] for each pair, by several threads when there are many
/// (a link is a system call each; a whole snapshot of numpy and pandas is
/// 5,000 of them).
fn link_all(pairs: &[(PathBuf, PathBuf)]) -> io::Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if pairs.len() < 256 || threads == 1 {
        return pairs.iter().try_for_each(|(from, to)| copy_entry(from, to));
    }
    let chunk = pairs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().try_for_each(|(f, t)| copy_entry(f, t))))
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(io::Error::other("a linking thread panicked")))
        })
    })
}

/// Links each of `paths` (inside `env`) into the snapshot `to`, unless it
/// is already there, no longer exists or was not there when the snapshot
/// was taken (the update made it); then makes the snapshot durable.
pub fn preserve(env: &Path, to: &Path, paths: &[PathBuf]) -> io::Result<usize> {
    let listing = read_listing(to)?;
    let index: std::collections::HashMap<&str, usize> = listing
        .entries
        .iter()
        .enumerate()
        .filter(|(_, (kind, _))| *kind != Kind::Dir)
        .map(|(i, (_, rel))| (rel.as_str(), i))
        .collect();
    let mut pairs = Vec::new();
    // A path may be named twice (a `RECORD` lists its `.dist-info` files,
    // which are also found by walking it).
    let mut taken = HashSet::new();
    for path in paths {
        let Some(rel) = path
            .strip_prefix(env)
            .ok()
            .and_then(Path::to_str)
            .map(|s| s.replace('\\', "/"))
        else {
            continue;
        };
        let Some(&i) = index.get(rel.as_str()) else {
            continue;
        };
        if !taken.insert(i) {
            continue;
        }
        let dest = slot(to, i);
        if fs_err::symlink_metadata(&dest).is_ok() {
            continue;
        }
        match fs_err::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {}
            Err(e) if files::is_absent(&e) => continue,
            Err(e) => return Err(e),
        }
        pairs.push((path.clone(), dest));
    }
    link_all(&pairs)?;
    files::sync_dir(to)?;
    crate::failpoint::crash_point("snapshot-extended");
    Ok(pairs.len())
}

/// Links back, from the snapshot `to`, each of `paths` (inside `env`) that
/// it keeps and that is no longer there: what a temporary install (pip,
/// seeded to install and removed again) went over and took away with it.
pub fn put_back(env: &Path, to: &Path, paths: &[PathBuf]) -> io::Result<usize> {
    let mut put = 0;
    for path in paths {
        let Some(rel) = path
            .strip_prefix(env)
            .ok()
            .and_then(Path::to_str)
            .map(|s| s.replace('\\', "/"))
        else {
            continue;
        };
        let Some(kept) = kept(to, &rel) else {
            continue;
        };
        if fs_err::symlink_metadata(&kept).is_err() || fs_err::symlink_metadata(path).is_ok() {
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        copy_entry(&kept, path)?;
        put += 1;
    }
    Ok(put)
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
/// or the same link target for a link.
fn copy_entry(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs_err::symlink_metadata(from)?;
    if meta.is_symlink() {
        #[cfg(unix)]
        return fs::os::unix::fs::symlink(fs::read_link(from)?, to);
        #[cfg(not(unix))]
        return fs::copy(from, to).map(|_| ());
    }
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        // Never copy over what is there: `to` may be a link of `from`
        // itself, and a copy would empty the shared file.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => fs::copy(from, to).map(|_| ()),
    }
}

fn read_listing(snapshot: &Path) -> io::Result<Listing> {
    let bytes = fs::read(snapshot.join(LISTING))?;
    let listing: Listing = serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if !(1..=LISTING_VERSION).contains(&listing.version) {
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
    let saved: Vec<(PathBuf, &str)> = if listing.version == 1 {
        let listed: std::collections::HashMap<&str, &str> = listing
            .entries
            .iter()
            .map(|(_, rel)| (rel.as_str(), rel.as_str()))
            .collect();
        walk(snapshot, &[], None)?
            .into_iter()
            .filter(|(kind, rel)| *kind != Kind::Dir && rel != LISTING)
            .filter_map(|(_, rel)| Some((snapshot.join(&rel), *listed.get(rel.as_str())?)))
            .collect()
    } else {
        listing
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (kind, _))| *kind != Kind::Dir)
            .map(|(i, (_, rel))| (slot(snapshot, i), rel.as_str()))
            .filter(|(at, _)| fs_err::symlink_metadata(at).is_ok())
            .collect()
    };
    for (at, rel) in &saved {
        let dest = env.join(rel);
        if let Some(parent) = dest.parent() {
            // A file where the file's parent folder was (the update
            // replaced a package by a module): it is the update's, it goes.
            if fs_err::symlink_metadata(parent).is_ok_and(|m| !m.is_dir()) {
                fs::remove_file(parent)?;
            }
            fs::create_dir_all(parent)?;
        }
        if fs_err::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
            files::remove_tree(&dest)?;
        }
        fs::rename(at, &dest)?;
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

    /// Where the snapshot keeps `rel`.
    fn kept(snap: &Path, rel: &str) -> PathBuf {
        super::kept(snap, rel).unwrap()
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
        take(&env, Some(&sp), &snap, &[]).unwrap();
        // Only the shell is linked at once, flat.
        assert!(kept(&snap, "pyvenv.cfg").exists());
        assert!(!kept(&snap, "lib/site-packages/a/__init__.py").exists());
        assert!(!snap.join("lib").exists());

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
        take(&env, Some(&sp), &snap, &[]).unwrap();
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
        take(&env, Some(&sp), &snap, &[]).unwrap();
        preserve(&env, &snap, &[sp.join("a.py")]).unwrap();
        fs::remove_file(sp.join("a.py")).unwrap();
        tree(&env, &[("sp/a.py", "a 2"), ("sp/b.py", "b")]);
        // Half a restore: the snapshot's file moved back by hand.
        fs::rename(kept(&snap, "sp/a.py"), sp.join("a.py")).unwrap();
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
        take(&env, Some(&sp), &snap, &[]).unwrap();
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
        take(&env, Some(&sp), &snap, &[]).unwrap();
        assert_eq!(widen(&env, &snap).unwrap(), 2);
        files::remove_tree(&sp).unwrap();
        assert!(restore(&env, &snap, &[]).unwrap().is_empty());
        assert_eq!(read(&env, "sp/d/b.py").as_deref(), Some("b"));
    }

    #[test]
    fn a_whole_snapshot_keeps_every_file_flat_and_gives_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        tree(
            &env,
            &[
                ("cfg", "old"),
                ("sp/a/__init__.py", "a 1"),
                ("sp/a/deep/x.py", "x"),
                ("sp/user-notes.txt", "mine"),
            ],
        );
        let snap = dir.path().join("snap");
        take(&env, None, &snap, &[]).unwrap();
        // Every file kept, and no folder made: one `rmdir` to remove it.
        let folders = fs::read_dir(&snap)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
            .count();
        assert_eq!(folders, 0);
        assert!(kept(&snap, "sp/a/deep/x.py").exists());
        // An installer that removes a package and writes another over a
        // user's file (a new file renamed over it, never in place).
        files::remove_tree(&env.join("sp/a")).unwrap();
        files::write_atomic(
            &env.join("sp/user-notes.txt"),
            b"clobbered",
            files::Durability::Atomic,
            None,
        )
        .unwrap();
        tree(&env, &[("sp/b/__init__.py", "b")]);
        assert!(restore(&env, &snap, &[]).unwrap().is_empty());
        assert_eq!(read(&env, "sp/a/deep/x.py").as_deref(), Some("x"));
        assert_eq!(read(&env, "sp/user-notes.txt").as_deref(), Some("mine"));
        assert!(!env.join("sp/b").exists());
        assert!(!snap.exists());
    }

    #[test]
    fn a_snapshot_of_listing_version_1_is_still_restored() {
        // Version 1 kept files at their relative paths inside the snapshot.
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        tree(&env, &[("sp/a.py", "a 2"), ("sp/new.py", "new")]);
        let snap = dir.path().join("snap");
        tree(&snap, &[("sp/a.py", "a 1")]);
        fs::write(
            snap.join(LISTING),
            r#"{"version":1,"entries":[["dir","sp"],["file","sp/a.py"]]}"#,
        )
        .unwrap();
        assert!(restore(&env, &snap, &[]).unwrap().is_empty());
        assert_eq!(read(&env, "sp/a.py").as_deref(), Some("a 1"));
        assert!(!env.join("sp/new.py").exists());
    }

    #[test]
    fn a_file_named_twice_is_kept_once_and_never_emptied() {
        // A copy over a link of the same file would truncate both.
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let sp = env.join("sp");
        tree(&env, &[("sp/a-1.dist-info/METADATA", "Name: a")]);
        let snap = dir.path().join("snap");
        take(&env, Some(&sp), &snap, &[]).unwrap();
        let metadata = sp.join("a-1.dist-info/METADATA");
        assert_eq!(
            preserve(&env, &snap, &[metadata.clone(), metadata.clone()]).unwrap(),
            1
        );
        assert_eq!(preserve(&env, &snap, &[metadata]).unwrap(), 0);
        assert_eq!(
            read(&env, "sp/a-1.dist-info/METADATA").as_deref(),
            Some("Name: a")
        );
    }
}
