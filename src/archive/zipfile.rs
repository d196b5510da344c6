//! Zip archives read entry by entry into a [`Sink`].
//!
//! A zip's central directory lists every entry up front, so the entry limit
//! is checked before anything is written. What an entry is comes from its
//! Unix mode when the archive has one (symlinks are entries of type
//! `S_IFLNK` whose contents are the target), else from its name (a folder
//! ends with `/`).

use std::io::{Read, Seek};

use zip::result::ZipError;

use super::sink::Sink;
use super::{ArchiveError, Limit};

const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFSOCK: u32 = 0o140_000;

/// The longest symlink target read (Linux's `PATH_MAX`): the target is read
/// into memory.
const MAX_TARGET: u64 = 4096;

pub(super) fn extract<R: Read + Seek>(reader: R, sink: &mut Sink<'_>) -> Result<(), ArchiveError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| zip_error(sink, None, e))?;
    if archive.len() as u64 > sink.limits().max_entries {
        return Err(sink.too_large(Limit::Entries));
    }
    for index in 0..archive.len() {
        sink.count_entry()?;
        let mut entry = archive
            .by_index(index)
            .map_err(|e| zip_error(sink, Some(&format!("entry {index}")), e))?;
        let name = entry
            .name()
            .map_err(|e| sink.corrupt(format!("entry {index}: {e}")))?
            .into_owned();
        let raw = name.as_bytes();
        let mode = entry.unix_mode();
        match mode.map(|m| m & S_IFMT) {
            Some(S_IFLNK) => {
                let mut target = Vec::new();
                (&mut entry)
                    .take(MAX_TARGET + 1)
                    .read_to_end(&mut target)
                    .map_err(|e| sink.read_error(e))?;
                if target.len() as u64 > MAX_TARGET {
                    return Err(sink.refuse(raw, "it is a symlink with an over-long target"));
                }
                sink.symlink(raw, &target)?;
            }
            Some(S_IFDIR) => sink.dir(raw)?,
            Some(S_IFCHR) => return Err(sink.refuse(raw, "it is a character device")),
            Some(S_IFBLK) => return Err(sink.refuse(raw, "it is a block device")),
            Some(S_IFIFO) => return Err(sink.refuse(raw, "it is a FIFO (named pipe)")),
            Some(S_IFSOCK) => return Err(sink.refuse(raw, "it is a socket")),
            // No type bits (archives made on Windows, or by tools that store
            // only permissions): the name tells a folder from a file.
            Some(0 | S_IFREG) | None if entry.is_dir() => sink.dir(raw)?,
            Some(0 | S_IFREG) | None => {
                let executable = mode.is_some_and(|m| m & 0o111 != 0);
                sink.file(raw, executable, None, &mut entry)?;
            }
            Some(other) => {
                return Err(sink.unsupported(format!(
                    "entry `{name}` has the unknown file type {other:o}"
                )));
            }
        }
    }
    Ok(())
}

fn zip_error(sink: &Sink<'_>, what: Option<&str>, e: ZipError) -> ArchiveError {
    let reason = match what {
        Some(what) => format!("{what}: {e}"),
        None => e.to_string(),
    };
    match e {
        ZipError::UnsupportedArchive(_)
        | ZipError::CompressionMethodNotSupported(_)
        | ZipError::InvalidPassword => sink.unsupported(reason),
        _ => sink.corrupt(reason),
    }
}
