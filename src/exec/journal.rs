//! The apply journal, `<home>/journal.json`: one transaction's changes to
//! the disk, each written (and fsynced) *before* it is made, so that a
//! crash at any point can be undone. The journal acts, callers ask
//! (rustup's `Transaction`): [`Journal::claim_dir`], [`Journal::place`] and
//! [`Journal::set_aside`] record, then act, and nothing else in the
//! program creates, renames or removes a resource's folder.
//!
//! # Undo proves ownership
//!
//! An undo only ever removes what this very run made, and proves it first:
//!
//! - A folder the run creates is claimed atomically (an exclusive `mkdir`,
//!   or a rename that refuses to replace) and gets a claim file,
//!   [`CLAIM_FILE`], holding the run's id. Undo removes it only if the claim
//!   holds this run's id (or the folder is still empty: a crash between the
//!   `mkdir` and the claim). A folder that appeared between `plan` and
//!   `apply`, or that a hand-written journal names, carries no such claim
//!   and is left alone.
//! - An existing *empty* folder (one `plan` took as absent, or a mount
//!   point such as a container volume) is claimed in place: the claim file
//!   is created exclusively and the folder must hold nothing else. Undo
//!   empties it and keeps it; a mount point is never renamed or removed.
//! - A folder set aside is renamed to `<name>.beep-old-<run>`; undo renames
//!   back only a folder with this run's suffix, and never over something
//!   that is now at the original path. A mount point is set aside by moving
//!   its contents into `<mount>/.beep-old-<run>/`.
//!
//! # Never stuck
//!
//! An undo that cannot be done (a permission, an occupied path) does not
//! stop the others, and does not keep the journal: it is written to
//! `<home>/stuck/<run>.json` with what is left where, the user is told, and
//! every other resource and manifest goes on. Each later mutating command
//! retries stuck entries (their proofs are checked again, so a retry can
//! never remove something else); `beep-python recover --abandon` forgets
//! them, deleting nothing, and prints what the user may want to clean up.
//!
//! # Commit protocol
//!
//! The journal first records the registry serial the commit will write
//! (`commit_serial`), then the registry is written, then the asides and
//! claim files are removed and the journal deleted. Recovery after a crash
//! therefore knows which side of the commit point it is on: if the registry
//! already has `commit_serial` (same lineage), the commit happened and only
//! the clean-up is finished; otherwise everything is rolled back.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use fs_err as fs;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::files::{self, Durability};
use crate::registry::{Home, Registry, store};

pub use crate::files::CLAIM_FILE;

/// Version 1 journals (with unproven `creating` entries) are still
/// recovered, conservatively. Version 3 adds scoped snapshots, which a
/// version-2 reader would restore as if they were whole.
pub const JOURNAL_VERSION: u32 = 3;

/// The format of `<home>/stuck/<run>.json`.
pub const STUCK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    /// A folder this run creates where nothing was; proven by its claim.
    Created { path: PathBuf },
    /// An existing empty folder (or mount point) this run builds inside;
    /// proven by its claim. Undo empties it and keeps it.
    Claimed { path: PathBuf },
    /// `from` renamed to `to` (`<from>.beep-old-<run>`).
    MovedAside { from: PathBuf, to: PathBuf },
    /// The contents of the mount point `dir` moved into `aside`
    /// (`<dir>/.beep-old-<run>`).
    ContentsAside { dir: PathBuf, aside: PathBuf },
    /// A restore point of the environment at `path`, taken before it is
    /// changed in place: `snapshot` (`<path>.beep-old-<run>`, or
    /// `<path>/.beep-old-<run>` inside a mount point) holds hard links to
    /// every file, made complete under a `.partial` name first. Undo puts
    /// the snapshot back in place of whatever `path` became; the commit
    /// removes it.
    Snapshot {
        path: PathBuf,
        snapshot: PathBuf,
        #[serde(default)]
        within: bool,
    },
    /// Version 3: a scoped restore point ([`super::restore`]), named as
    /// [`Entry::Snapshot`]: a listing of the whole environment and only
    /// the files the update may change, linked before they change; undo
    /// merges it back. Its own `op`, so that an older beep-python, which
    /// would restore it as if it were whole, cannot read it at all.
    ScopedSnapshot {
        path: PathBuf,
        snapshot: PathBuf,
        #[serde(default)]
        within: bool,
    },
    /// Version 1's unproven entry: undone only while empty.
    Creating { path: PathBuf },
    /// The file (or link) at `path` replaced by a new one, the old one
    /// kept as `aside` (`<path>.beep-old-<run>`): undo renames it back over
    /// the new one, the commit removes it (a re-point rewrites
    /// `pyvenv.cfg` and `bin/python` this way).
    Replaced { path: PathBuf, aside: PathBuf },
}

impl Entry {
    fn describe(&self) -> String {
        match self {
            Entry::Created { path } | Entry::Creating { path } => {
                format!("create `{}`", path.display())
            }
            Entry::Claimed { path } => format!("build inside `{}`", path.display()),
            Entry::MovedAside { from, to } => {
                format!("move `{}` aside to `{}`", from.display(), to.display())
            }
            Entry::ContentsAside { dir, aside } => format!(
                "move the contents of `{}` aside to `{}`",
                dir.display(),
                aside.display()
            ),
            Entry::Replaced { path, .. } => format!("replace `{}`", path.display()),
            Entry::Snapshot { path, snapshot, .. }
            | Entry::ScopedSnapshot { path, snapshot, .. } => format!(
                "restore `{}` from its snapshot `{}`",
                path.display(),
                snapshot.display()
            ),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Data {
    version: u32,
    id: Uuid,
    pid: u32,
    command: String,
    started_at: jiff::Timestamp,
    lineage: Uuid,
    /// Set just before the registry is written; see the module docs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commit_serial: Option<u64>,
    entries: Vec<Entry>,
}

/// An open transaction's journal. Shared by the executor's workers: every
/// method takes `&self`, and records are written in the order they are made.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    home: PathBuf,
    data: Mutex<Data>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum JournalError {
    #[error("could not write the journal")]
    #[diagnostic(code("journal::io"))]
    Io(#[source] std::io::Error),

    #[error("`{}` is unreadable ({reason}); the interrupted apply it describes cannot be undone automatically", path.display())]
    #[diagnostic(
        code("journal::corrupt"),
        help(
            "`beep-python recover --abandon` sets it aside (deleting nothing) and lists what it can; look for `*.beep-old-*` folders next to your environments"
        )
    )]
    Corrupt { path: PathBuf, reason: String },

    #[error("`{}` was written by a newer beep-python (journal version {version})", path.display())]
    #[diagnostic(
        code("journal::newer"),
        help("finish or undo the apply with that beep-python")
    )]
    Newer { path: PathBuf, version: u32 },
}

/// Why a folder could not be claimed; nothing was changed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ClaimError {
    #[error("`{}` appeared since the plan was made and is not empty; it was left as it is", path.display())]
    #[diagnostic(
        code("apply::path-occupied"),
        help(
            "beep-python never builds into a folder it did not create: move it away or give the environment another `path`, then plan again"
        )
    )]
    Occupied { path: PathBuf },

    #[error("could not create `{}`", path.display())]
    #[diagnostic(code("apply::claim-io"))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Journal(#[from] JournalError),
}

/// Something an undo or a clean-up could not do: what is left where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// What was to be done.
    pub what: String,
    /// Why it was not.
    pub why: String,
    /// The folders involved, for the user to look at.
    pub paths: Vec<PathBuf>,
    /// Whether a later command retries it (it failed) or not (it was not
    /// ours to do, so it was left alone on purpose).
    pub retried: bool,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not {}: {}", self.what, self.why)
    }
}

/// What a rollback or a recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Undone {
    /// Entries undone (or found to need nothing).
    pub entries: usize,
    pub leftovers: Vec<Leftover>,
}

/// One entry a later command retries, with the direction it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    /// `undo` (the transaction rolled back) or `finish` (it committed and
    /// only the clean-up is left).
    direction: Direction,
    entry: Entry,
    why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Direction {
    Undo,
    Finish,
}

/// `<home>/stuck/<run>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stuck {
    version: u32,
    id: Uuid,
    command: String,
    pending: Vec<Pending>,
}

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// The transaction had not committed: its entries were undone.
    RolledBack {
        undone: Undone,
        pid: u32,
        command: String,
    },
    /// It had committed: its clean-up was finished.
    Completed {
        undone: Undone,
        pid: u32,
        command: String,
    },
}

impl Journal {
    pub fn path(home: &Home) -> PathBuf {
        home.root().join("journal.json")
    }

    fn stuck_dir(home: &Path) -> PathBuf {
        home.join("stuck")
    }

    /// Starts a transaction. The caller holds the home lock and has run
    /// [`recover`], so no journal exists.
    pub fn begin(home: &Home, registry: &Registry, command: &str) -> Result<Journal, JournalError> {
        let journal = Journal {
            path: Self::path(home),
            home: home.root().to_path_buf(),
            data: Mutex::new(Data {
                version: JOURNAL_VERSION,
                id: Uuid::new_v4(),
                pid: std::process::id(),
                command: command.to_string(),
                started_at: jiff::Timestamp::now(),
                lineage: registry.lineage,
                commit_serial: None,
                entries: Vec::new(),
            }),
        };
        fs::create_dir_all(home.root()).map_err(JournalError::Io)?;
        journal.write(&journal.lock())?;
        Ok(journal)
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run's id: in claim files, and in the environment of every child
    /// process this run starts.
    pub fn id(&self) -> Uuid {
        self.lock().id
    }

    /// A short form of the id, for the names of asides.
    pub fn short_id(&self) -> String {
        short(&self.id())
    }

    fn write(&self, data: &Data) -> Result<(), JournalError> {
        let mut text = serde_json::to_vec_pretty(data)
            .map_err(|e| JournalError::Io(std::io::Error::other(e)))?;
        text.push(b'\n');
        files::write_atomic(&self.path, &text, Durability::Durable, None).map_err(JournalError::Io)
    }

    /// Records `entry` durably, before it is acted on.
    fn record(&self, entry: Entry) -> Result<(), JournalError> {
        let mut data = self.lock();
        data.entries.push(entry);
        let result = self.write(&data);
        if result.is_err() {
            data.entries.pop();
        }
        result?;
        crate::failpoint::crash_point("journal-record");
        Ok(())
    }

    /// Forgets `entry` again: the act it announced did not happen (its
    /// precondition failed), so there is nothing to undo.
    fn unrecord(&self, entry: &Entry) -> Result<(), JournalError> {
        let mut data = self.lock();
        if let Some(i) = data.entries.iter().rposition(|e| e == entry) {
            data.entries.remove(i);
        }
        self.write(&data)
    }

    /// Makes `path` a folder this run owns: creates it where nothing is
    /// (an exclusive `mkdir`), or claims the empty folder (or mount point)
    /// that is there. Anything else at `path` is [`ClaimError::Occupied`],
    /// and nothing is touched.
    pub fn claim_dir(&self, path: &Path) -> Result<(), ClaimError> {
        let io = |source| ClaimError::Io {
            path: path.to_path_buf(),
            source,
        };
        let occupied = || ClaimError::Occupied {
            path: path.to_path_buf(),
        };
        let id = self.id();
        match fs_err::symlink_metadata(path) {
            Err(e) if files::is_absent(&e) => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io)?;
                }
                let entry = Entry::Created {
                    path: path.to_path_buf(),
                };
                self.record(entry.clone())?;
                match fs_err::create_dir(path) {
                    Ok(()) => {}
                    Err(e) => {
                        self.unrecord(&entry)?;
                        return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                            occupied()
                        } else {
                            io(e)
                        });
                    }
                }
                crate::failpoint::crash_point("claim-created");
                write_claim(path, &id, true).map_err(io)
            }
            Err(e) => Err(io(e)),
            Ok(meta) if !meta.is_dir() => Err(occupied()),
            Ok(_) => {
                // Empty, or holding only what this program reserves there
                // (a mount point's contents set aside by this run).
                if !files::holds_only_reserved(path).map_err(io)? {
                    return Err(occupied());
                }
                let entry = Entry::Claimed {
                    path: path.to_path_buf(),
                };
                self.record(entry.clone())?;
                let claimed = write_claim(path, &id, true).and_then(|()| {
                    // Something may have arrived between the look and the
                    // claim: then it is not ours to build in.
                    files::holds_only_reserved(path)
                });
                match claimed {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        let _ = fs::remove_file(path.join(CLAIM_FILE));
                        self.unrecord(&entry)?;
                        Err(occupied())
                    }
                    Err(e) => {
                        if e.kind() != std::io::ErrorKind::AlreadyExists {
                            let _ = fs::remove_file(path.join(CLAIM_FILE));
                        }
                        self.unrecord(&entry)?;
                        Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                            occupied()
                        } else {
                            io(e)
                        })
                    }
                }
            }
        }
    }

    /// Puts the staged folder `staged` (inside a folder this run claimed) at
    /// `dest`, where nothing may be; the claim goes with it.
    pub fn place(&self, staged: &Path, dest: &Path) -> Result<(), ClaimError> {
        let io = |source| ClaimError::Io {
            path: dest.to_path_buf(),
            source,
        };
        write_claim(staged, &self.id(), false).map_err(io)?;
        let entry = Entry::Created {
            path: dest.to_path_buf(),
        };
        self.record(entry.clone())?;
        match files::rename_noreplace(staged, dest) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.unrecord(&entry)?;
                Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                    ClaimError::Occupied {
                        path: dest.to_path_buf(),
                    }
                } else {
                    io(e)
                })
            }
        }
    }

    /// Sets the folder at `path` aside until the commit (which removes it)
    /// or a rollback (which puts it back). The caller has proven it is ours.
    /// Returns where it went; `None` if nothing was there.
    pub fn set_aside(&self, path: &Path) -> Result<Option<PathBuf>, std::io::Error> {
        match fs_err::symlink_metadata(path) {
            Err(e) if files::is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let short = self.short_id();
        let journal_io = |e: JournalError| match e {
            JournalError::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        };
        if files::is_mount_point(path) {
            let aside = path.join(format!(".beep-old-{short}"));
            self.record(Entry::ContentsAside {
                dir: path.to_path_buf(),
                aside: aside.clone(),
            })
            .map_err(journal_io)?;
            fs::create_dir(&aside)?;
            for entry in fs::read_dir(path)? {
                let entry = entry?;
                if entry.file_name() == aside.file_name().unwrap_or_default() {
                    continue;
                }
                fs::rename(entry.path(), aside.join(entry.file_name()))?;
            }
            return Ok(Some(aside));
        }
        let aside = aside_of(path, &short);
        self.record(Entry::MovedAside {
            from: path.to_path_buf(),
            to: aside.clone(),
        })
        .map_err(journal_io)?;
        crate::failpoint::hit("move-aside-after-journal")?;
        files::rename_noreplace(path, &aside)?;
        crate::failpoint::crash_point("moved-aside");
        Ok(Some(aside))
    }

    /// Replaces the file or link at `path` (which must exist) with
    /// `new`, keeping the old one as `<path>.beep-old-<run>` until the
    /// commit removes it or a rollback renames it back. The caller has
    /// proven that the folder holding it is ours.
    pub fn replace_file(&self, path: &Path, new: NewFile<'_>) -> std::io::Result<()> {
        let aside = aside_of(path, &self.short_id());
        self.record(Entry::Replaced {
            path: path.to_path_buf(),
            aside: aside.clone(),
        })
        .map_err(|e| match e {
            JournalError::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        })?;
        files::rename_noreplace(path, &aside)?;
        crate::failpoint::crash_point("replaced-aside");
        match new {
            NewFile::Bytes(bytes) => {
                files::write_atomic(path, bytes, Durability::Durable, None)?;
            }
            NewFile::Symlink(target) => {
                #[cfg(unix)]
                std::os::unix::fs::symlink(target, path)?;
                #[cfg(not(unix))]
                fs::copy(target, path).map(|_| ())?;
                if let Some(dir) = path.parent() {
                    files::sync_dir(dir)?;
                }
            }
        }
        Ok(())
    }

    /// Takes a restore point of the environment at `path` before it is
    /// changed in place, mirroring its folders (only when a name cannot be
    /// listed for [`Journal::snapshot_scoped`]): every file hard-linked
    /// into a snapshot (per file, not per byte; safe because nothing ever
    /// writes into an installed file in place, see [`crate::wheel`]).
    /// Returns the snapshot.
    pub fn snapshot(&self, path: &Path) -> std::io::Result<PathBuf> {
        let short = self.short_id();
        let within = files::is_mount_point(path);
        let snapshot = snapshot_at(path, within, &short);
        let partial = partial_of(&snapshot);
        self.record(Entry::Snapshot {
            path: path.to_path_buf(),
            snapshot: snapshot.clone(),
            within,
        })
        .map_err(|e| match e {
            JournalError::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        })?;
        files::remove_tree(&partial)?;
        link_tree(path, &partial, &snapshot)?;
        crate::failpoint::crash_point("snapshot-linked");
        fs::rename(&partial, &snapshot)?;
        files::sync_dir(snapshot.parent().unwrap_or(Path::new(".")))?;
        Ok(snapshot)
    }

    /// A restore point of the environment at `path` ([`super::restore`]):
    /// the listing of every entry and the files outside `deep` (its
    /// `site-packages`) linked now, stored flat; files inside `deep` are
    /// linked by [`Journal::preserve`] before they change. Without `deep`,
    /// every file is linked now (pip, uv and conda updates). A name that
    /// cannot be listed (not UTF-8) falls back to [`Journal::snapshot`].
    pub fn snapshot_scoped(&self, path: &Path, deep: Option<&Path>) -> std::io::Result<PathBuf> {
        let short = self.short_id();
        let within = files::is_mount_point(path);
        let snapshot = snapshot_at(path, within, &short);
        let partial = partial_of(&snapshot);
        let entry = Entry::ScopedSnapshot {
            path: path.to_path_buf(),
            snapshot: snapshot.clone(),
            within,
        };
        self.record(entry.clone()).map_err(journal_io_error)?;
        files::remove_tree(&partial)?;
        match super::restore::take(path, deep, &partial, &[&snapshot, &partial]) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                // Nothing was linked under the snapshot's name: forget
                // exactly this entry (other workers record theirs
                // meanwhile), then take a whole one.
                files::remove_tree(&partial)?;
                self.unrecord(&entry).map_err(journal_io_error)?;
                return self.snapshot(path);
            }
            Err(e) => return Err(e),
        }
        crate::failpoint::crash_point("snapshot-linked");
        fs::rename(&partial, &snapshot)?;
        files::sync_dir(snapshot.parent().unwrap_or(Path::new(".")))?;
        Ok(snapshot)
    }

    /// The scoped snapshot of the environment at `path`, if this run took
    /// one.
    fn scoped_snapshot_of(&self, path: &Path) -> Option<PathBuf> {
        self.lock().entries.iter().rev().find_map(|e| match e {
            Entry::ScopedSnapshot {
                path: p, snapshot, ..
            } if p == path => Some(snapshot.clone()),
            _ => None,
        })
    }

    /// Before the files `paths` of the environment at `path` are removed
    /// or replaced: links them into its scoped snapshot (a whole snapshot
    /// has them already). Returns how many were linked.
    pub fn preserve(&self, path: &Path, paths: &[PathBuf]) -> std::io::Result<usize> {
        match self.scoped_snapshot_of(path) {
            Some(snapshot) => super::restore::preserve(path, &snapshot, paths),
            None => Ok(0),
        }
    }

    /// Puts back, from the scoped snapshot of `path`, those of `paths` that
    /// it keeps and that are gone ([`super::restore::put_back`]).
    pub fn put_back(&self, path: &Path, paths: &[PathBuf]) -> std::io::Result<usize> {
        match self.scoped_snapshot_of(path) {
            Some(snapshot) => super::restore::put_back(path, &snapshot, paths),
            None => Ok(0),
        }
    }

    /// Makes the scoped snapshot of `path` whole: every listed file
    /// linked (when what an installer will change cannot be known).
    pub fn widen(&self, path: &Path) -> std::io::Result<usize> {
        match self.scoped_snapshot_of(path) {
            Some(snapshot) => super::restore::widen(path, &snapshot),
            None => Ok(0),
        }
    }

    /// Marks the commit point: the registry is about to be written with
    /// `serial`.
    pub fn prepare_commit(&self, serial: u64) -> Result<(), JournalError> {
        let mut data = self.lock();
        data.commit_serial = Some(serial);
        self.write(&data)
    }

    /// After the registry is written: removes the asides and the claim
    /// files, then the journal. What cannot be removed is left for a later
    /// command to retry, and reported.
    pub fn finish_commit(self) -> Result<Undone, JournalError> {
        let data = self.data.into_inner().unwrap_or_else(|e| e.into_inner());
        settle(&self.home, &self.path, data, Direction::Finish)
    }

    /// Undoes every entry, newest first, then removes the journal.
    pub fn rollback(self) -> Result<Undone, JournalError> {
        let data = self.data.into_inner().unwrap_or_else(|e| e.into_inner());
        settle(&self.home, &self.path, data, Direction::Undo)
    }
}

/// What [`Journal::replace_file`] puts in place.
#[derive(Debug, Clone, Copy)]
pub enum NewFile<'a> {
    /// A regular file with these bytes (mode 0644).
    Bytes(&'a [u8]),
    /// A symbolic link to this target.
    Symlink(&'a Path),
}

fn journal_io_error(e: JournalError) -> std::io::Error {
    match e {
        JournalError::Io(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

fn short(id: &Uuid) -> String {
    id.simple().to_string()[..8].to_string()
}

/// `<path>.beep-old-<short>`.
fn aside_of(path: &Path, short: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".beep-old-{short}"));
    path.with_file_name(name)
}

/// `<snapshot>.partial`: a snapshot being made.
fn partial_of(snapshot: &Path) -> PathBuf {
    let mut name = snapshot.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    snapshot.with_file_name(name)
}

/// Recreates the tree `from` at `to` with hard links to its files (links
/// as links, folders as folders), skipping `skip` (a snapshot made inside
/// the tree itself) and our reserved names.
/// Where this run's restore point of the environment at `path` lives:
/// `<path>.beep-old-<run>` beside it, or inside it when it is a mount
/// point (`within`).
fn snapshot_at(path: &Path, within: bool, short: &str) -> PathBuf {
    if within {
        path.join(format!(".beep-old-{short}"))
    } else {
        aside_of(path, short)
    }
}

fn link_tree(from: &Path, to: &Path, skip: &Path) -> std::io::Result<()> {
    fs::create_dir(to)?;
    // Folders and links first, in one walk; then the files, linked by
    // several threads (a link is a system call each, and an environment
    // has thousands of files).
    let mut files = Vec::new();
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        for entry in fs::read_dir(&src)? {
            let entry = entry?;
            let path = entry.path();
            if path == skip || path == partial_of(skip) || path == to {
                continue;
            }
            let target = dst.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                fs::create_dir(&target)?;
                stack.push((path, target));
            } else if kind.is_symlink() {
                #[cfg(unix)]
                fs::os::unix::fs::symlink(fs::read_link(&path)?, &target)?;
                #[cfg(not(unix))]
                fs::copy(&path, &target).map(|_| ())?;
            } else {
                files.push((path, target));
            }
        }
    }
    let link = |(path, target): &(PathBuf, PathBuf)| -> std::io::Result<()> {
        match fs::hard_link(path, target) {
            Ok(()) => Ok(()),
            // Never copy over what is there (it may share the file).
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
            Err(_) => fs::copy(path, target).map(|_| ()),
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if files.len() < 256 || threads == 1 {
        return files.iter().try_for_each(link);
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().try_for_each(link)))
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("a linking thread panicked")))
        })
    })
}

/// Writes the claim file into `dir`; `exclusive` refuses one that exists.
fn write_claim(dir: &Path, id: &Uuid, exclusive: bool) -> std::io::Result<()> {
    let path = dir.join(CLAIM_FILE);
    if !exclusive {
        return files::write_atomic(&path, id.to_string().as_bytes(), Durability::Durable, None);
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::io::Write::write_all(&mut file, id.to_string().as_bytes())?;
    file.sync_all()?;
    files::sync_dir(dir)
}

/// Whether `dir` carries the claim of run `id`.
fn claimed_by(dir: &Path, id: &Uuid) -> bool {
    fs_err::read_to_string(dir.join(CLAIM_FILE)).is_ok_and(|text| text.trim() == id.to_string())
}

/// How one entry's undo or clean-up ended.
enum Settled {
    Done,
    /// Not ours to do (no proof): left alone on purpose.
    NotOurs(Leftover),
    /// Failed; a later command retries.
    Failed(Leftover),
}

fn undo(entry: &Entry, id: &Uuid) -> Settled {
    let short = short(id);
    let failed = |what: String, why: String, paths: Vec<PathBuf>| {
        Settled::Failed(Leftover {
            what,
            why,
            paths,
            retried: true,
        })
    };
    let not_ours = |path: &Path, why: &str| {
        Settled::NotOurs(Leftover {
            what: entry.describe().replacen("create", "remove", 1),
            why: why.to_string(),
            paths: vec![path.to_path_buf()],
            retried: false,
        })
    };
    match entry {
        Entry::Created { path } | Entry::Creating { path } => {
            match fs_err::symlink_metadata(path) {
                Err(e) if files::is_absent(&e) => return Settled::Done,
                Err(e) => {
                    return failed(
                        format!("remove `{}`", path.display()),
                        e.to_string(),
                        vec![path.clone()],
                    );
                }
                Ok(_) => {}
            }
            let proven = matches!(entry, Entry::Created { .. }) && claimed_by(path, id);
            if !proven {
                // A crash between `mkdir` and the claim leaves it empty:
                // removing an empty folder loses nothing.
                if files::is_empty_dir(path, &[]).unwrap_or(false) && fs::remove_dir(path).is_ok() {
                    return Settled::Done;
                }
                return not_ours(
                    path,
                    "it does not carry this apply's claim, so it is not this apply's to remove",
                );
            }
            let result = if files::is_mount_point(path) {
                empty_dir(path, &[])
            } else {
                files::remove_tree(path)
            };
            match result {
                Ok(()) => Settled::Done,
                Err(e) => failed(
                    format!("remove `{}`", path.display()),
                    e.to_string(),
                    vec![path.clone()],
                ),
            }
        }
        Entry::Claimed { path } => {
            if !claimed_by(path, id) {
                // The claim was never written: nothing was built there.
                return Settled::Done;
            }
            let keep = format!(".beep-old-{short}");
            match empty_dir(path, &[keep.as_str()]) {
                Ok(()) => Settled::Done,
                Err(e) => failed(
                    format!("empty `{}`", path.display()),
                    e.to_string(),
                    vec![path.clone()],
                ),
            }
        }
        Entry::MovedAside { from, to } => {
            if *to != aside_of(from, &short) {
                return not_ours(to, "its name is not this apply's aside name");
            }
            match fs_err::symlink_metadata(to) {
                // The rename never happened: `from` is the original.
                Err(e) if files::is_absent(&e) => return Settled::Done,
                Err(e) => {
                    return failed(
                        format!("rename `{}` back to `{}`", to.display(), from.display()),
                        e.to_string(),
                        vec![to.clone(), from.clone()],
                    );
                }
                Ok(_) => {}
            }
            if fs_err::symlink_metadata(from).is_ok()
                && files::is_empty_dir(from, &[]).unwrap_or(false)
            {
                let _ = fs::remove_dir(from);
            }
            match files::rename_noreplace(to, from) {
                Ok(()) => Settled::Done,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => failed(
                    format!("rename `{}` back to `{}`", to.display(), from.display()),
                    format!(
                        "something else is now at `{}`; the earlier folder is kept at `{}`",
                        from.display(),
                        to.display()
                    ),
                    vec![to.clone(), from.clone()],
                ),
                Err(e) => failed(
                    format!("rename `{}` back to `{}`", to.display(), from.display()),
                    e.to_string(),
                    vec![to.clone(), from.clone()],
                ),
            }
        }
        Entry::Snapshot {
            path,
            snapshot,
            within,
        }
        | Entry::ScopedSnapshot {
            path,
            snapshot,
            within,
        } => {
            let scoped = matches!(entry, Entry::ScopedSnapshot { .. });
            let expected = snapshot_at(path, *within, &short);
            if *snapshot != expected {
                return not_ours(snapshot, "its name is not this apply's snapshot name");
            }
            let failed_restore = |e: std::io::Error| {
                failed(
                    format!("restore `{}` from `{}`", path.display(), snapshot.display()),
                    e.to_string(),
                    vec![snapshot.clone(), path.clone()],
                )
            };
            // A snapshot never completed: the environment was not touched.
            let _ = files::remove_tree(&partial_of(snapshot));
            if scoped {
                if !snapshot.exists() {
                    return Settled::Done;
                }
                let partial = partial_of(snapshot);
                return match super::restore::restore(path, snapshot, &[snapshot, &partial]) {
                    Ok(missing) if missing.is_empty() => Settled::Done,
                    // Restored but for these: nothing is left to retry.
                    Ok(missing) => Settled::NotOurs(Leftover {
                        what: format!("restore `{}`", path.display()),
                        why: format!(
                            "{} file(s) were removed outside the update's scope and are not in its snapshot, e.g. `{}`; `beep-python doctor --fix` reinstalls their packages",
                            missing.len(),
                            missing[0].display()
                        ),
                        paths: vec![path.clone()],
                        retried: false,
                    }),
                    Err(e) => failed_restore(e),
                };
            }
            match restore_snapshot(path, snapshot, *within, &short) {
                Ok(()) => Settled::Done,
                Err(e) => failed_restore(e),
            }
        }
        Entry::ContentsAside { dir, aside } => {
            if *aside != dir.join(format!(".beep-old-{short}")) {
                return not_ours(aside, "its name is not this apply's aside name");
            }
            let Ok(entries) = fs::read_dir(aside) else {
                return Settled::Done;
            };
            let mut conflicts = Vec::new();
            for entry in entries.filter_map(Result::ok) {
                let back = dir.join(entry.file_name());
                if let Err(e) = files::rename_noreplace(&entry.path(), &back) {
                    conflicts.push(format!("`{}`: {e}", back.display()));
                }
            }
            if conflicts.is_empty() && fs::remove_dir(aside).is_ok() {
                return Settled::Done;
            }
            failed(
                format!(
                    "move the contents of `{}` back into `{}`",
                    aside.display(),
                    dir.display()
                ),
                conflicts.join("; "),
                vec![aside.clone(), dir.clone()],
            )
        }
        Entry::Replaced { path, aside } => {
            if *aside != aside_of(path, &short) {
                return not_ours(aside, "its name is not this apply's aside name");
            }
            match fs_err::symlink_metadata(aside) {
                // The old file was never moved: it is still at `path`.
                Err(e) if files::is_absent(&e) => Settled::Done,
                Err(e) => failed(
                    format!("put `{}` back", path.display()),
                    e.to_string(),
                    vec![aside.clone(), path.clone()],
                ),
                // The aside proves the old file is ours to put back, and
                // what is at `path` now is this run's (a rename replaces a
                // file or link atomically; a folder there is refused).
                Ok(_) => match fs::rename(aside, path) {
                    Ok(()) => Settled::Done,
                    Err(e) => failed(
                        format!("put `{}` back", path.display()),
                        e.to_string(),
                        vec![aside.clone(), path.clone()],
                    ),
                },
            }
        }
    }
}

/// The clean-up after the commit point: asides go, claims go.
fn finish(entry: &Entry, id: &Uuid) -> Settled {
    let short = short(id);
    let remove = |path: &Path| match files::remove_tree(path) {
        Ok(()) => Settled::Done,
        Err(e) => Settled::Failed(Leftover {
            what: format!("remove `{}`", path.display()),
            why: e.to_string(),
            paths: vec![path.to_path_buf()],
            retried: true,
        }),
    };
    match entry {
        Entry::MovedAside { from, to } if *to == aside_of(from, &short) => remove(to),
        Entry::ContentsAside { dir, aside } if *aside == dir.join(format!(".beep-old-{short}")) => {
            remove(aside)
        }
        Entry::Snapshot {
            path,
            snapshot,
            within,
        }
        | Entry::ScopedSnapshot {
            path,
            snapshot,
            within,
        } if *snapshot == snapshot_at(path, *within, &short) => {
            let _ = files::remove_tree(&partial_of(snapshot));
            remove(snapshot)
        }
        Entry::Snapshot { snapshot, .. } | Entry::ScopedSnapshot { snapshot, .. } => {
            Settled::NotOurs(Leftover {
                what: format!("remove `{}`", snapshot.display()),
                why: "its name is not this apply's snapshot name".into(),
                paths: vec![snapshot.clone()],
                retried: false,
            })
        }
        Entry::MovedAside { to: path, .. } | Entry::ContentsAside { aside: path, .. } => {
            Settled::NotOurs(Leftover {
                what: format!("remove `{}`", path.display()),
                why: "its name is not this apply's aside name".into(),
                paths: vec![path.clone()],
                retried: false,
            })
        }
        Entry::Created { path } | Entry::Claimed { path } => {
            // The claim has done its work; a stale one would be harmless.
            if claimed_by(path, id) {
                let _ = fs::remove_file(path.join(CLAIM_FILE));
            }
            Settled::Done
        }
        Entry::Creating { .. } => Settled::Done,
        Entry::Replaced { path, aside } if *aside == aside_of(path, &short) => remove(aside),
        Entry::Replaced { aside, .. } => Settled::NotOurs(Leftover {
            what: format!("remove `{}`", aside.display()),
            why: "its name is not this apply's aside name".into(),
            paths: vec![aside.clone()],
            retried: false,
        }),
    }
}

/// Puts the snapshot back in place of what `path` became; each step can
/// be repeated after a crash (the environment moves to `.beep-bad-<run>`
/// first, and is removed last).
fn restore_snapshot(
    path: &Path,
    snapshot: &Path,
    within: bool,
    short: &str,
) -> std::io::Result<()> {
    if within {
        // A mount point stays: empty it but for the snapshot, then move the
        // snapshot's contents back.
        if !snapshot.exists() {
            return Ok(());
        }
        let keep = format!(".beep-old-{short}");
        empty_dir(path, &[keep.as_str()])?;
        for entry in fs::read_dir(snapshot)? {
            let entry = entry?;
            fs::rename(entry.path(), path.join(entry.file_name()))?;
        }
        return fs::remove_dir(snapshot);
    }
    let mut bad = path.file_name().unwrap_or_default().to_os_string();
    bad.push(format!(".beep-bad-{short}"));
    let bad = path.with_file_name(bad);
    if snapshot.exists() {
        if fs_err::symlink_metadata(path).is_ok() {
            files::remove_tree(&bad)?;
            fs::rename(path, &bad)?;
        }
        files::rename_noreplace(snapshot, path)?;
    }
    files::remove_tree(&bad)
}

/// Empties `dir`, keeping the entries named in `keep` and the folder.
fn empty_dir(dir: &Path, keep: &[&str]) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if keep.iter().any(|k| entry.file_name() == *k) {
            continue;
        }
        files::remove_tree(&entry.path())?;
    }
    Ok(())
}

/// Undoes (or finishes) every entry of `data`, newest first for an undo;
/// what fails is written to `<home>/stuck/`, then the journal is removed.
fn settle(
    home: &Path,
    journal: &Path,
    data: Data,
    direction: Direction,
) -> Result<Undone, JournalError> {
    let mut undone = Undone::default();
    let mut pending = Vec::new();
    let entries: Vec<&Entry> = match direction {
        Direction::Undo => data.entries.iter().rev().collect(),
        Direction::Finish => data.entries.iter().collect(),
    };
    for entry in entries {
        let settled = match direction {
            Direction::Undo => undo(entry, &data.id),
            Direction::Finish => finish(entry, &data.id),
        };
        match settled {
            Settled::Done => undone.entries += 1,
            Settled::NotOurs(leftover) => {
                undone.entries += 1;
                undone.leftovers.push(leftover);
            }
            Settled::Failed(leftover) => {
                pending.push(Pending {
                    direction,
                    entry: entry.clone(),
                    why: leftover.why.clone(),
                });
                undone.leftovers.push(leftover);
            }
        }
    }
    if !pending.is_empty() {
        write_stuck(home, &data.id, &data.command, pending)?;
    }
    remove_file(journal).map_err(JournalError::Io)?;
    Ok(undone)
}

fn write_stuck(
    home: &Path,
    id: &Uuid,
    command: &str,
    pending: Vec<Pending>,
) -> Result<(), JournalError> {
    let dir = Journal::stuck_dir(home);
    fs::create_dir_all(&dir).map_err(JournalError::Io)?;
    let stuck = Stuck {
        version: STUCK_VERSION,
        id: *id,
        command: command.to_string(),
        pending,
    };
    let mut text = serde_json::to_vec_pretty(&stuck)
        .map_err(|e| JournalError::Io(std::io::Error::other(e)))?;
    text.push(b'\n');
    files::write_atomic(
        &dir.join(format!("{id}.json")),
        &text,
        Durability::Durable,
        None,
    )
    .map_err(JournalError::Io)
}

fn remove_file(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// What [`recover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// An interrupted transaction, rolled back or completed.
    pub journal: Option<Recovered>,
    /// Stuck entries of earlier runs that were retried and are now done.
    pub resolved: usize,
    /// What is still left, with where.
    pub still_stuck: Vec<Leftover>,
}

/// Finishes or undoes a transaction left by a crashed process, then
/// retries what earlier rollbacks could not do. Call with the home lock
/// held, before loading the registry for a change.
///
/// `stop_run` is called with the crashed run's id before anything is
/// undone, to stop the processes it started that may still be writing.
pub fn recover(home: &Home, stop_run: &dyn Fn(&str)) -> Result<Recovery, JournalError> {
    let mut recovery = Recovery::default();
    let path = Journal::path(home);
    match fs_err::read(&path) {
        Ok(bytes) => {
            let data = parse(&path, &bytes)?;
            stop_run(&data.id.to_string());
            // A first commit gives the registry its lineage, so a nil
            // lineage in the journal matches whatever the registry got.
            let committed = data.commit_serial.is_some_and(|serial| {
                store::load(home)
                    .map(|l| {
                        (data.lineage.is_nil() || l.registry.lineage == data.lineage)
                            && l.registry.serial >= serial
                    })
                    .unwrap_or(false)
            });
            let (pid, command) = (data.pid, data.command.clone());
            recovery.journal = Some(if committed {
                Recovered::Completed {
                    undone: settle(home.root(), &path, data, Direction::Finish)?,
                    pid,
                    command,
                }
            } else {
                Recovered::RolledBack {
                    undone: settle(home.root(), &path, data, Direction::Undo)?,
                    pid,
                    command,
                }
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(JournalError::Io(e)),
    }
    retry_stuck(home.root(), &mut recovery)?;
    Ok(recovery)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Data, JournalError> {
    let corrupt = |reason: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if version > u64::from(JOURNAL_VERSION) {
        return Err(JournalError::Newer {
            path: path.to_path_buf(),
            version: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
}

/// Retries every stuck entry; what still fails stays, what is done goes.
fn retry_stuck(home: &Path, recovery: &mut Recovery) -> Result<(), JournalError> {
    let dir = Journal::stuck_dir(home);
    let Ok(entries) = fs_err::read_dir(&dir) else {
        return Ok(());
    };
    for file in entries.filter_map(Result::ok) {
        let path = file.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Some(stuck) = fs_err::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Stuck>(&b).ok())
        else {
            recovery.still_stuck.push(Leftover {
                what: format!("read `{}`", path.display()),
                why: "it is not a stuck-entries file this beep-python can read".into(),
                paths: vec![path.clone()],
                retried: false,
            });
            continue;
        };
        let mut left = Vec::new();
        for pending in stuck.pending {
            let settled = match pending.direction {
                Direction::Undo => undo(&pending.entry, &stuck.id),
                Direction::Finish => finish(&pending.entry, &stuck.id),
            };
            match settled {
                Settled::Done | Settled::NotOurs(_) => recovery.resolved += 1,
                Settled::Failed(leftover) => {
                    recovery.still_stuck.push(leftover.clone());
                    left.push(Pending {
                        why: leftover.why,
                        ..pending
                    });
                }
            }
        }
        if left.is_empty() {
            remove_file(&path).map_err(JournalError::Io)?;
        } else {
            write_stuck(home, &stuck.id, &stuck.command, left)?;
        }
    }
    Ok(())
}

/// What `recover --abandon` set aside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Abandoned {
    /// Where the journal and stuck files were moved to.
    pub moved_to: Vec<PathBuf>,
    /// The folders they named, for the user to look at.
    pub paths: Vec<PathBuf>,
}

/// Sets aside an unreadable journal and every stuck-entries file, deleting
/// nothing on disk: the safe escape when recovery cannot proceed. Returns
/// the files moved to `<home>/abandoned/` and every path they named.
pub fn abandon(home: &Home) -> Result<Abandoned, JournalError> {
    let root = home.root();
    let target = root.join("abandoned");
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let mut out = Abandoned::default();
    let mut files_to_move = Vec::new();
    let journal = Journal::path(home);
    if journal.exists() {
        files_to_move.push(journal);
    }
    if let Ok(entries) = fs_err::read_dir(Journal::stuck_dir(root)) {
        files_to_move.extend(entries.filter_map(Result::ok).map(|e| e.path()));
    }
    for file in files_to_move {
        let text = fs_err::read_to_string(&file).unwrap_or_default();
        out.paths.extend(paths_named(&text));
        fs::create_dir_all(&target).map_err(JournalError::Io)?;
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let dest = target.join(format!("{stamp}-{name}"));
        fs::rename(&file, &dest).map_err(JournalError::Io)?;
        out.moved_to.push(dest);
    }
    out.paths.sort();
    out.paths.dedup();
    Ok(out)
}

/// Every path a journal or stuck file names, read leniently (it may be
/// corrupt): the values of `path`, `from`, `to`, `dir`, `aside` and
/// `snapshot` keys.
fn paths_named(text: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        collect_paths(&value, &mut out);
        return out;
    }
    for key in [
        "\"path\"",
        "\"from\"",
        "\"to\"",
        "\"dir\"",
        "\"aside\"",
        "\"snapshot\"",
    ] {
        for part in text.split(key).skip(1) {
            if let Some(value) = part
                .trim_start()
                .strip_prefix(':')
                .and_then(|rest| rest.trim_start().strip_prefix('"'))
                .and_then(|rest| rest.split('"').next())
            {
                out.push(PathBuf::from(value));
            }
        }
    }
    out
}

fn collect_paths(value: &serde_json::Value, out: &mut Vec<PathBuf>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    (
                        "path" | "from" | "to" | "dir" | "aside" | "snapshot",
                        serde_json::Value::String(s),
                    ) => {
                        out.push(PathBuf::from(s));
                    }
                    _ => collect_paths(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_paths(v, out)),
        _ => {}
    }
}

/// A journal left in the home, as read without the lock (for `doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftJournal {
    pub id: Uuid,
    pub pid: u32,
    pub command: String,
    pub started_at: jiff::Timestamp,
    /// What it did, oldest first (`move ... aside`, `create ...`).
    pub entries: Vec<String>,
    /// It reached its commit point (the registry may already hold it).
    pub committing: bool,
}

/// What an interrupted apply and earlier rollbacks left, read without
/// the lock and without changing anything: what `doctor` reports and
/// [`recover`] would act on.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// `<home>/journal.json`, if there is one: `Err` with why when it
    /// cannot be read.
    pub journal: Option<Result<LeftJournal, String>>,
    /// Every stuck entry, with its file.
    pub stuck: Vec<(PathBuf, Leftover)>,
    /// Every path the journal and the stuck entries name: not debris,
    /// whatever its name.
    pub named: Vec<PathBuf>,
}

/// Reads the journal and the stuck entries of `home` (see [`Inspection`]).
pub fn inspect(home: &Home) -> Inspection {
    let mut out = Inspection::default();
    let path = Journal::path(home);
    if let Ok(bytes) = fs_err::read(&path) {
        out.named
            .extend(paths_named(&String::from_utf8_lossy(&bytes)));
        out.journal = Some(match parse(&path, &bytes) {
            Ok(data) => Ok(LeftJournal {
                id: data.id,
                pid: data.pid,
                command: data.command,
                started_at: data.started_at,
                entries: data.entries.iter().map(Entry::describe).collect(),
                committing: data.commit_serial.is_some(),
            }),
            Err(e) => Err(e.to_string()),
        });
    }
    if let Ok(entries) = fs_err::read_dir(Journal::stuck_dir(home.root())) {
        let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let text = fs_err::read_to_string(&file).unwrap_or_default();
            out.named.extend(paths_named(&text));
            match serde_json::from_str::<Stuck>(&text) {
                Ok(stuck) => {
                    for pending in stuck.pending {
                        let paths = entry_paths(&pending.entry);
                        out.stuck.push((
                            file.clone(),
                            Leftover {
                                what: pending.entry.describe(),
                                why: pending.why,
                                paths,
                                retried: true,
                            },
                        ));
                    }
                }
                Err(_) => out.stuck.push((
                    file.clone(),
                    Leftover {
                        what: format!("read `{}`", file.display()),
                        why: "it is not a stuck-entries file this beep-python can read".into(),
                        paths: vec![file.clone()],
                        retried: false,
                    },
                )),
            }
        }
    }
    out.named.sort();
    out.named.dedup();
    out
}

fn entry_paths(entry: &Entry) -> Vec<PathBuf> {
    match entry {
        Entry::Created { path } | Entry::Claimed { path } | Entry::Creating { path } => {
            vec![path.clone()]
        }
        Entry::MovedAside { from, to } => vec![to.clone(), from.clone()],
        Entry::ContentsAside { dir, aside } => vec![aside.clone(), dir.clone()],
        Entry::Replaced { path, aside } => vec![aside.clone(), path.clone()],
        Entry::Snapshot { path, snapshot, .. } | Entry::ScopedSnapshot { path, snapshot, .. } => {
            vec![snapshot.clone(), path.clone()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(home: &Home) -> Journal {
        Journal::begin(home, &Registry::new(), "test").unwrap()
    }

    #[test]
    fn a_claimed_folder_is_removed_on_undo_and_a_user_folder_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let j = journal(&home);
        let ours = dir.path().join("ours");
        j.claim_dir(&ours).unwrap();
        fs_err::write(ours.join("built"), "x").unwrap();
        // A user folder appears where the plan saw nothing.
        let theirs = dir.path().join("theirs");
        fs_err::create_dir(&theirs).unwrap();
        fs_err::write(theirs.join("thesis.txt"), "work").unwrap();
        assert!(matches!(
            j.claim_dir(&theirs),
            Err(ClaimError::Occupied { .. })
        ));
        let undone = j.rollback().unwrap();
        assert!(undone.leftovers.is_empty(), "{:?}", undone.leftovers);
        assert!(!ours.exists());
        assert_eq!(
            fs_err::read_to_string(theirs.join("thesis.txt")).unwrap(),
            "work"
        );
        assert!(!Journal::path(&home).exists());
    }

    #[test]
    fn a_hand_written_journal_naming_a_user_folder_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        fs_err::create_dir_all(home.root()).unwrap();
        let user = dir.path().join("project");
        fs_err::create_dir(&user).unwrap();
        fs_err::write(user.join("thesis.txt"), "work").unwrap();
        let other = dir.path().join("other.beep-old-deadbeef");
        fs_err::create_dir(&other).unwrap();
        let text = serde_json::json!({
            "version": 2, "id": Uuid::new_v4(), "pid": 1, "command": "x",
            "started_at": "2024-01-01T00:00:00Z", "lineage": Uuid::nil(),
            "entries": [
                {"op": "created", "path": user},
                {"op": "claimed", "path": user},
                {"op": "moved_aside", "from": dir.path().join("other"), "to": other},
                {"op": "creating", "path": user},
            ],
        });
        fs_err::write(Journal::path(&home), text.to_string()).unwrap();
        let recovery = recover(&home, &|_| {}).unwrap();
        let Some(Recovered::RolledBack { undone, .. }) = recovery.journal else {
            panic!("{recovery:?}");
        };
        assert_eq!(undone.entries, 4);
        assert!(undone.leftovers.iter().all(|l| !l.retried));
        assert_eq!(
            fs_err::read_to_string(user.join("thesis.txt")).unwrap(),
            "work"
        );
        assert!(other.is_dir(), "an aside of another run is not renamed");
    }

    #[test]
    fn an_empty_folder_is_claimed_in_place_and_emptied_on_undo() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let j = journal(&home);
        let env = dir.path().join("env");
        fs_err::create_dir(&env).unwrap();
        j.claim_dir(&env).unwrap();
        fs_err::create_dir(env.join("bin")).unwrap();
        j.rollback().unwrap();
        assert!(env.is_dir());
        assert!(files::is_empty_dir(&env, &[]).unwrap());
    }

    #[test]
    fn an_aside_comes_back_unless_something_took_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let env = dir.path().join("env");
        fs_err::create_dir(&env).unwrap();
        fs_err::write(env.join("old"), "1").unwrap();
        let j = journal(&home);
        let aside = j.set_aside(&env).unwrap().unwrap();
        assert!(!env.exists() && aside.join("old").is_file());
        // A user puts something at the old path meanwhile.
        fs_err::create_dir(&env).unwrap();
        fs_err::write(env.join("mine"), "2").unwrap();
        let undone = j.rollback().unwrap();
        assert_eq!(undone.leftovers.len(), 1, "{undone:?}");
        assert!(undone.leftovers[0].retried);
        assert!(env.join("mine").is_file() && aside.join("old").is_file());
        // Stuck, not wedged: the next recovery retries and reports it...
        let recovery = recover(&home, &|_| {}).unwrap();
        assert_eq!(recovery.still_stuck.len(), 1);
        // ...and succeeds once the path is free.
        fs_err::remove_dir_all(&env).unwrap();
        let recovery = recover(&home, &|_| {}).unwrap();
        assert_eq!(recovery.resolved, 1);
        assert!(recovery.still_stuck.is_empty());
        assert!(env.join("old").is_file());
    }

    #[test]
    fn a_commit_removes_asides_and_claims() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let env = dir.path().join("env");
        fs_err::create_dir(&env).unwrap();
        let j = journal(&home);
        let aside = j.set_aside(&env).unwrap().unwrap();
        j.claim_dir(&env).unwrap();
        j.prepare_commit(1).unwrap();
        let undone = j.finish_commit().unwrap();
        assert!(undone.leftovers.is_empty());
        assert!(!aside.exists());
        assert!(env.is_dir() && !env.join(CLAIM_FILE).exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_and_link_come_back_on_rollback_and_their_asides_go_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let env = dir.path().join("env");
        fs_err::create_dir_all(env.join("bin")).unwrap();
        let cfg = env.join("pyvenv.cfg");
        let link = env.join("bin/python");
        fs_err::write(&cfg, "home = /old/bin\n").unwrap();
        std::os::unix::fs::symlink("/old/bin/python3", &link).unwrap();
        let replace = |j: &Journal| {
            j.replace_file(&cfg, NewFile::Bytes(b"home = /new/bin\n"))
                .unwrap();
            j.replace_file(&link, NewFile::Symlink(Path::new("/new/bin/python3")))
                .unwrap();
            assert_eq!(fs_err::read_to_string(&cfg).unwrap(), "home = /new/bin\n");
            assert_eq!(
                fs_err::read_link(&link).unwrap(),
                Path::new("/new/bin/python3")
            );
        };
        let j = journal(&home);
        replace(&j);
        let undone = j.rollback().unwrap();
        assert!(undone.leftovers.is_empty(), "{undone:?}");
        assert_eq!(fs_err::read_to_string(&cfg).unwrap(), "home = /old/bin\n");
        assert_eq!(
            fs_err::read_link(&link).unwrap(),
            Path::new("/old/bin/python3")
        );
        let j = journal(&home);
        replace(&j);
        j.prepare_commit(1).unwrap();
        assert!(j.finish_commit().unwrap().leftovers.is_empty());
        assert_eq!(fs_err::read_to_string(&cfg).unwrap(), "home = /new/bin\n");
        let names: Vec<String> = fs_err::read_dir(&env)
            .unwrap()
            .chain(fs_err::read_dir(env.join("bin")).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".beep-old-")), "{names:?}");
    }

    #[test]
    fn a_snapshot_restores_an_environment_changed_in_place_and_goes_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let env = dir.path().join("env");
        fs_err::create_dir_all(env.join("lib")).unwrap();
        fs_err::write(env.join("lib/a.py"), "a = 1").unwrap();
        fs_err::write(env.join("lib/b.py"), "b = 1").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("lib", env.join("lib64")).unwrap();
        let j = journal(&home);
        let snapshot = j.snapshot(&env).unwrap();
        // Changed in place the way installers do: new files renamed over,
        // removals, additions. The snapshot's links keep the old bytes.
        files::write_atomic(
            &env.join("lib/a.py"),
            b"a = 2",
            files::Durability::Atomic,
            None,
        )
        .unwrap();
        fs_err::remove_file(env.join("lib/b.py")).unwrap();
        fs_err::write(env.join("lib/c.py"), "c").unwrap();
        assert_eq!(
            fs_err::read_to_string(snapshot.join("lib/a.py")).unwrap(),
            "a = 1"
        );
        j.rollback().unwrap();
        assert_eq!(
            fs_err::read_to_string(env.join("lib/a.py")).unwrap(),
            "a = 1"
        );
        assert!(env.join("lib/b.py").is_file() && !env.join("lib/c.py").exists());
        #[cfg(unix)]
        assert!(
            fs_err::symlink_metadata(env.join("lib64"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!snapshot.exists());

        let j = journal(&home);
        let snapshot = j.snapshot(&env).unwrap();
        j.prepare_commit(1).unwrap();
        j.finish_commit().unwrap();
        assert!(!snapshot.exists() && env.join("lib/a.py").is_file());
    }

    #[test]
    fn abandon_moves_a_corrupt_journal_aside_and_lists_its_paths() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        fs_err::create_dir_all(home.root()).unwrap();
        fs_err::write(
            Journal::path(&home),
            r#"{"version": 2, "entries": [{"op": "moved_aside", "from": "/p/a", "to": "/p/a.beep-old-1"#,
        )
        .unwrap();
        assert!(matches!(
            recover(&home, &|_| {}),
            Err(JournalError::Corrupt { .. })
        ));
        let abandoned = abandon(&home).unwrap();
        assert_eq!(abandoned.moved_to.len(), 1);
        assert!(abandoned.paths.contains(&PathBuf::from("/p/a")));
        assert!(recover(&home, &|_| {}).unwrap().journal.is_none());
    }
}
