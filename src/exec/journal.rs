//! The apply journal, `<home>/journal.json`: what one transaction has done
//! to the disk, written (and fsynced) *before* each mutation, so that a
//! crash at any point can be undone.
//!
//! Entries, and how each is undone (in reverse order):
//!
//! - `creating { path }`: a folder about to be built where nothing was;
//!   undone by removing it.
//! - `moved_aside { from, to }`: an existing environment renamed aside
//!   (`<path>.beep-old-<id>`) before being replaced, updated or deleted;
//!   undone by removing whatever is now at `from` and renaming `to` back.
//!
//! Commit protocol: the journal first records the registry serial the
//! commit will write (`commit_serial`), then the registry is written, then
//! the asides are removed and the journal deleted. Recovery after a crash
//! therefore knows which side of the commit point it is on: if the registry
//! already has `commit_serial` (same lineage), the commit happened and only
//! the clean-up is finished; otherwise everything is rolled back.

use std::path::{Path, PathBuf};

use fs_err as fs;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::registry::{Home, Registry, store};

pub const JOURNAL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    Creating { path: PathBuf },
    MovedAside { from: PathBuf, to: PathBuf },
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

/// An open transaction's journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    data: Data,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum JournalError {
    #[error("could not write the journal")]
    #[diagnostic(code(journal::io))]
    Io(#[source] std::io::Error),

    #[error("`{}` is unreadable ({reason}); an interrupted apply cannot be undone automatically", path.display())]
    #[diagnostic(
        code(journal::corrupt),
        help(
            "look for `*.beep-old-*` folders next to your environments and rename them back by hand, then remove the journal"
        )
    )]
    Corrupt { path: PathBuf, reason: String },

    #[error("`{}` was written by a newer beep-python (journal version {version})", path.display())]
    #[diagnostic(
        code(journal::newer),
        help("finish or undo the apply with that beep-python")
    )]
    Newer { path: PathBuf, version: u32 },

    #[error("could not undo `{entry}`")]
    #[diagnostic(
        code(journal::rollback_failed),
        help(
            "the journal is kept; fix the cause (permissions, disk space) and run any beep-python command to retry"
        )
    )]
    Rollback {
        entry: String,
        #[source]
        source: std::io::Error,
    },
}

/// What recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// The transaction had not committed: this many entries were undone.
    RolledBack {
        entries: usize,
        pid: u32,
        command: String,
    },
    /// It had committed: its clean-up was finished.
    Completed { pid: u32, command: String },
}

impl Journal {
    pub fn path(home: &Home) -> PathBuf {
        home.root().join("journal.json")
    }

    /// Starts a transaction. The caller holds the home lock and has run
    /// [`recover`], so no journal exists.
    pub fn begin(home: &Home, registry: &Registry, command: &str) -> Result<Journal, JournalError> {
        let journal = Journal {
            path: Self::path(home),
            data: Data {
                version: JOURNAL_VERSION,
                id: Uuid::new_v4(),
                pid: std::process::id(),
                command: command.to_string(),
                started_at: jiff::Timestamp::now(),
                lineage: registry.lineage,
                commit_serial: None,
                entries: Vec::new(),
            },
        };
        journal.write()?;
        Ok(journal)
    }

    /// A short id for names of asides.
    pub fn short_id(&self) -> String {
        self.data.id.simple().to_string()[..8].to_string()
    }

    /// Records `entry` durably; call before performing it.
    pub fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        self.data.entries.push(entry);
        self.write()
    }

    fn write(&self) -> Result<(), JournalError> {
        let mut text = serde_json::to_vec_pretty(&self.data)
            .map_err(|e| JournalError::Io(std::io::Error::other(e)))?;
        text.push(b'\n');
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut temp = tempfile::Builder::new()
            .prefix(".journal.")
            .tempfile_in(dir)
            .map_err(JournalError::Io)?;
        std::io::Write::write_all(&mut temp, &text).map_err(JournalError::Io)?;
        temp.as_file().sync_all().map_err(JournalError::Io)?;
        temp.persist(&self.path)
            .map_err(|e| JournalError::Io(e.error))?;
        store::sync_dir(dir).map_err(|e| JournalError::Io(std::io::Error::other(e)))?;
        Ok(())
    }

    /// Marks the commit point: the registry is about to be written with
    /// `serial`.
    pub fn prepare_commit(&mut self, serial: u64) -> Result<(), JournalError> {
        self.data.commit_serial = Some(serial);
        self.write()
    }

    /// After the registry is written: removes the asides and the journal.
    pub fn finish_commit(self) -> Result<(), JournalError> {
        for entry in &self.data.entries {
            if let Entry::MovedAside { to, .. } = entry {
                remove_tree(to).map_err(|source| JournalError::Rollback {
                    entry: format!("remove `{}`", to.display()),
                    source,
                })?;
            }
        }
        remove_file(&self.path).map_err(JournalError::Io)
    }

    /// Undoes every entry, newest first, then removes the journal.
    pub fn rollback(self) -> Result<usize, JournalError> {
        let count = self.data.entries.len();
        for entry in self.data.entries.iter().rev() {
            undo(entry)?;
        }
        remove_file(&self.path).map_err(JournalError::Io)?;
        Ok(count)
    }
}

fn undo(entry: &Entry) -> Result<(), JournalError> {
    match entry {
        Entry::Creating { path } => remove_tree(path).map_err(|source| JournalError::Rollback {
            entry: format!("remove `{}`", path.display()),
            source,
        }),
        Entry::MovedAside { from, to } => {
            if to.exists() {
                remove_tree(from).map_err(|source| JournalError::Rollback {
                    entry: format!("remove `{}`", from.display()),
                    source,
                })?;
                fs::rename(to, from).map_err(|source| JournalError::Rollback {
                    entry: format!("rename `{}` back to `{}`", to.display(), from.display()),
                    source,
                })?;
            }
            // `to` missing: the rename never happened (crash between the
            // journal write and the rename), so `from` is the original.
            Ok(())
        }
    }
}

/// Removes a folder tree (or a file, or a dangling link); absent is fine.
fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
}

fn remove_file(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Finishes or undoes a transaction left by a crashed process. Call with
/// the home lock held, before loading the registry for a change.
pub fn recover(home: &Home) -> Result<Option<Recovered>, JournalError> {
    let path = Journal::path(home);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(JournalError::Io(e)),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| JournalError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if version > u64::from(JOURNAL_VERSION) {
        return Err(JournalError::Newer {
            path,
            version: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    let data: Data = serde_json::from_value(value).map_err(|e| JournalError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    // A first commit gives the registry its lineage, so a nil lineage in
    // the journal matches whatever the registry got.
    let committed = data.commit_serial.is_some_and(|serial| {
        store::load(home)
            .map(|l| {
                (data.lineage.is_nil() || l.registry.lineage == data.lineage)
                    && l.registry.serial >= serial
            })
            .unwrap_or(false)
    });
    let (pid, command) = (data.pid, data.command.clone());
    let journal = Journal { path, data };
    if committed {
        journal.finish_commit()?;
        Ok(Some(Recovered::Completed { pid, command }))
    } else {
        let entries = journal.rollback()?;
        Ok(Some(Recovered::RolledBack {
            entries,
            pid,
            command,
        }))
    }
}
