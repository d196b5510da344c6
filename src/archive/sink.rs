//! The staging folder's side of an extraction: where each entry goes, and
//! the checks made against what earlier entries created.
//!
//! Every format reader feeds entries here, so the rules are written once.
//! `seen` maps each path created so far (relative to the root, `/`-joined)
//! to what it is; folders created only because an entry lies inside them are
//! there too. Invariants: a path is created at most once; nothing is created
//! below a symlink or a file; a folder is entered only after `lstat` shows a
//! real folder (which also catches a link whose name differs only by case on
//! a case-insensitive disk); and [`Extracted::bytes`] never passes the limit.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::entry::{check_link_target, normalize};
use super::{ArchiveError, Extracted, Limit, Limits};

/// Bytes copied per read: small enough that a size bomb is stopped within
/// one buffer of the limit.
const BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Symlink,
    /// `explicit`: the archive has an entry for it (not only for things
    /// inside it), so a second entry for it is a duplicate.
    Folder {
        explicit: bool,
    },
}

pub(super) struct Sink<'a> {
    archive: &'a Path,
    dest: &'a Path,
    prefix: Vec<String>,
    limits: Limits,
    seen: HashMap<String, Kind>,
    entries: u64,
    out: Extracted,
    buf: Vec<u8>,
}

impl<'a> Sink<'a> {
    pub(super) fn new(
        archive: &'a Path,
        dest: &'a Path,
        strip_prefix: Option<&str>,
        limits: Limits,
    ) -> Result<Self, ArchiveError> {
        let prefix = match strip_prefix {
            None => Vec::new(),
            Some(prefix) => normalize(prefix.as_bytes())
                .map_err(|why| ArchiveError::Unsupported {
                    archive: archive.to_path_buf(),
                    reason: format!(
                        "the prefix to strip, `{prefix}`, is not a relative folder: {why}"
                    ),
                })?
                .into_iter()
                .map(str::to_string)
                .collect(),
        };
        Ok(Sink {
            archive,
            dest,
            prefix,
            limits,
            seen: HashMap::new(),
            entries: 0,
            out: Extracted::default(),
            buf: vec![0; BUFFER],
        })
    }

    pub(super) fn finish(self) -> Extracted {
        self.out
    }

    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(super) fn corrupt(&self, reason: impl Into<String>) -> ArchiveError {
        ArchiveError::Corrupt {
            archive: self.archive.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(super) fn unsupported(&self, reason: impl Into<String>) -> ArchiveError {
        ArchiveError::Unsupported {
            archive: self.archive.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(super) fn too_large(&self, what: Limit) -> ArchiveError {
        ArchiveError::TooLarge {
            archive: self.archive.to_path_buf(),
            what,
            limit: match what {
                Limit::TotalBytes => self.limits.max_total_bytes,
                Limit::Entries => self.limits.max_entries,
            },
        }
    }

    /// Refuses the entry named `raw`.
    pub(super) fn refuse(&self, raw: &[u8], reason: impl Into<String>) -> ArchiveError {
        ArchiveError::Unsafe {
            archive: self.archive.to_path_buf(),
            entry: String::from_utf8_lossy(raw).into_owned(),
            reason: reason.into(),
        }
    }

    /// Counts one entry of any kind, refusing the one past the limit.
    pub(super) fn count_entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.too_large(Limit::Entries));
        }
        Ok(())
    }

    /// A folder entry.
    pub(super) fn dir(&mut self, raw: &[u8]) -> Result<(), ArchiveError> {
        let components = self.place(raw)?;
        if components.is_empty() {
            // The root (or the stripped prefix) itself: it is `dest`.
            return Ok(());
        }
        self.make_parents(raw, &components)?;
        let key = components.join("/");
        match self.seen.get(&key) {
            None => {
                self.make_dir(raw, &key, &components)?;
                self.seen.insert(key, Kind::Folder { explicit: true });
                Ok(())
            }
            Some(Kind::Folder { explicit: false }) => {
                self.seen.insert(key, Kind::Folder { explicit: true });
                Ok(())
            }
            Some(Kind::Folder { explicit: true } | Kind::File | Kind::Symlink) => {
                Err(self.refuse(raw, "it appears twice in the archive"))
            }
        }
    }

    /// What an error reading the archive means: the decompressed stream
    /// passed its cap ([`StreamCapped`]), else a damaged archive.
    pub(super) fn read_error(&self, e: io::Error) -> ArchiveError {
        if e.get_ref().is_some_and(|inner| inner.is::<StreamCapped>()) {
            self.too_large(Limit::TotalBytes)
        } else {
            self.corrupt(e.to_string())
        }
    }

    /// A regular file, whose contents `reader` yields.
    pub(super) fn file(
        &mut self,
        raw: &[u8],
        executable: bool,
        modified: Option<SystemTime>,
        reader: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        let components = self.place(raw)?;
        if components.is_empty() {
            return Err(self.refuse(raw, "it is a file in place of the root folder"));
        }
        self.make_parents(raw, &components)?;
        self.claim(raw, &components, Kind::File)?;
        let path = self.path_of(&components);

        let mut options = fs_err::OpenOptions::new();
        // `create_new`: never truncate, and never follow a link at the name.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use fs_err::os::unix::fs::OpenOptionsExt;
            // Only the executable bit is taken from the archive: no
            // setuid, setgid, sticky or world-writable file.
            options.mode(if executable { 0o755 } else { 0o644 });
        }
        #[cfg(not(unix))]
        let _ = executable;
        let mut file = options.open(&path)?;

        let mut buf = std::mem::take(&mut self.buf);
        let copied = copy(
            &mut buf,
            reader,
            &mut file,
            &mut self.out.bytes,
            self.limits.max_total_bytes,
        );
        self.buf = buf;
        match copied {
            Ok(()) => {}
            Err(Copy::Read(e)) => return Err(self.read_error(e)),
            Err(Copy::Write(e)) => return Err(e.into()),
            Err(Copy::Limit) => return Err(self.too_large(Limit::TotalBytes)),
        }
        // Python compares a `.pyc` with its source's modification time:
        // keeping the archive's times keeps the shipped bytecode valid.
        if let Some(modified) = modified {
            file.set_modified(modified)?;
        }
        self.out.files += 1;
        Ok(())
    }

    /// A symbolic link to `target`.
    pub(super) fn symlink(&mut self, raw: &[u8], target: &[u8]) -> Result<(), ArchiveError> {
        let components = self.place(raw)?;
        let Some(depth) = components.len().checked_sub(1) else {
            return Err(self.refuse(raw, "it is a symlink in place of the root folder"));
        };
        let target = check_link_target(target, depth).map_err(|why| self.refuse(raw, why))?;
        self.make_parents(raw, &components)?;
        self.claim(raw, &components, Kind::Symlink)?;
        let path = self.path_of(&components);
        let target_path: PathBuf = target.iter().collect();
        #[cfg(unix)]
        fs_err::os::unix::fs::symlink(&target_path, &path)?;
        #[cfg(windows)]
        {
            // Windows has two kinds of links. The kind is known only if the
            // target came earlier in the archive.
            // TODO: create links to folders that come later as folder links
            // (python-build-standalone's Windows builds have no links).
            let mut resolved: Vec<&str> = components[..depth].to_vec();
            for &component in &target {
                if component == ".." {
                    resolved.pop();
                } else {
                    resolved.push(component);
                }
            }
            if let Some(Kind::Folder { .. }) = self.seen.get(&resolved.join("/")) {
                fs_err::os::windows::fs::symlink_dir(&target_path, &path)?;
            } else {
                fs_err::os::windows::fs::symlink_file(&target_path, &path)?;
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = (target_path, path);
            return Err(self.unsupported("symlinks are not supported on this platform"));
        }
        self.out.files += 1;
        Ok(())
    }

    /// The components of entry `raw` below the root, with the prefix
    /// stripped: empty for the root itself.
    fn place<'r>(&self, raw: &'r [u8]) -> Result<Vec<&'r str>, ArchiveError> {
        let components = normalize(raw).map_err(|why| self.refuse(raw, why))?;
        let inside = components.len() >= self.prefix.len()
            && components.iter().zip(&self.prefix).all(|(c, p)| c == p);
        if !inside {
            return Err(self.refuse(
                raw,
                format!(
                    "it is not inside `{}/`, where everything in this archive is expected",
                    self.prefix.join("/")
                ),
            ));
        }
        Ok(components[self.prefix.len()..].to_vec())
    }

    fn path_of(&self, components: &[&str]) -> PathBuf {
        let mut path = self.dest.to_path_buf();
        path.extend(components);
        path
    }

    /// Records that the entry `raw` creates `components`, refusing a second
    /// entry for the same path.
    fn claim(&mut self, raw: &[u8], components: &[&str], kind: Kind) -> Result<(), ArchiveError> {
        let key = components.join("/");
        match self.seen.get(&key) {
            None => {
                self.seen.insert(key, kind);
                Ok(())
            }
            Some(Kind::Folder { explicit: false }) => Err(self.refuse(
                raw,
                "it has the path of a folder that holds earlier entries",
            )),
            Some(_) => Err(self.refuse(raw, "it appears twice in the archive")),
        }
    }

    /// Makes sure every folder above `components` is a real folder made by
    /// this extraction (or already there), creating the missing ones.
    fn make_parents(&mut self, raw: &[u8], components: &[&str]) -> Result<(), ArchiveError> {
        for end in 1..components.len() {
            let folder = &components[..end];
            let key = folder.join("/");
            match self.seen.get(&key) {
                Some(Kind::Folder { .. }) => {}
                Some(Kind::Symlink) => {
                    return Err(self.refuse(
                        raw,
                        format!(
                            "its folder `{key}` is a symlink made by an earlier entry: writing through it could leave the staging folder"
                        ),
                    ));
                }
                Some(Kind::File) => {
                    return Err(self.refuse(raw, format!("its folder `{key}` is a file")));
                }
                None => {
                    self.make_dir(raw, &key, folder)?;
                    self.seen.insert(key, Kind::Folder { explicit: false });
                }
            }
        }
        Ok(())
    }

    /// Creates the folder `components` (named `key` in messages), or checks
    /// that what is there is a real folder, not a link to one.
    fn make_dir(&self, raw: &[u8], key: &str, components: &[&str]) -> Result<(), ArchiveError> {
        let path = self.path_of(components);
        match fs_err::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(self.refuse(
                raw,
                format!("`{key}` is already in the staging folder and is not a folder"),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(fs_err::create_dir(&path)?),
            Err(e) => Err(e.into()),
        }
    }
}

/// The error a reader returns when the decompressed stream grows past what
/// the [`Limits`] allow, whatever the entries' headers say.
#[derive(Debug, thiserror::Error)]
#[error("the decompressed archive is larger than the limits allow")]
pub(super) struct StreamCapped;

/// Why [`copy`] stopped.
enum Copy {
    Read(io::Error),
    Write(io::Error),
    Limit,
}

/// Copies `reader` into `writer`, adding to `total`, and stops before
/// `total` would pass `max`: the sizes in headers are not trusted.
fn copy(
    buf: &mut [u8],
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    total: &mut u64,
    max: u64,
) -> Result<(), Copy> {
    loop {
        let n = match reader.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Read(e)),
        };
        // A reader that claims more than the buffer holds is broken; say so
        // rather than panic on the slice.
        let Some(chunk) = buf.get(..n) else {
            return Err(Copy::Read(io::Error::other(
                "the decoder returned too many bytes",
            )));
        };
        let after = total.saturating_add(n as u64);
        if after > max {
            return Err(Copy::Limit);
        }
        writer.write_all(chunk).map_err(Copy::Write)?;
        *total = after;
    }
}
