//! The home lock: one mutating command at a time per home.
//!
//! `<home>/.lock` is locked with an OS file lock (`flock` on Unix,
//! `LockFileEx` on Windows), which the OS releases when the process dies, so
//! a killed process never leaves a stale lock. The holder writes its pid,
//! command line and start time into the file, so that a command that cannot
//! get the lock can say who has it.

use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fs_err as fs;
use serde::{Deserialize, Serialize};

use super::{Home, RegistryError};

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
    pub started_at: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} (`{}`, started {})",
            self.pid, self.command, self.started_at
        )
    }
}

/// Proof that this process holds the home lock; released on drop.
#[derive(Debug)]
pub struct HomeLock {
    file: std::fs::File,
    path: PathBuf,
}

impl HomeLock {
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for HomeLock {
    fn drop(&mut self) {
        // Leave the file (removing it would race with a waiter that already
        // opened it) but clear the holder, then unlock.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// How often a waiting command retries.
const POLL: Duration = Duration::from_millis(50);

/// Takes the home lock, waiting up to `timeout` (zero: try once).
pub fn acquire(home: &Home, timeout: Duration, command: &str) -> Result<HomeLock, RegistryError> {
    fs::create_dir_all(home.root()).map_err(RegistryError::Io)?;
    let path = home.lock_path();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(RegistryError::Io)?;
    let (mut file, _) = file.into_parts();
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Err(RegistryError::Locked {
                        path,
                        holder: read_holder(&mut file),
                        waited: timeout,
                    });
                }
                std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(RegistryError::Io(std::io::Error::new(
                    e.kind(),
                    format!("could not lock `{}`: {e}", path.display()),
                )));
            }
        }
    }
    let holder = Holder {
        pid: std::process::id(),
        command: command.to_string(),
        started_at: jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    };
    let text = serde_json::to_string(&holder).unwrap_or_default();
    // The holder note is informational; failing to write it is not fatal.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.flush());
    Ok(HomeLock { file, path })
}

fn read_holder(file: &mut std::fs::File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}
