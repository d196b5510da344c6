//! Tar streams (decompressed from gzip or zstd) read entry by entry into a
//! [`Sink`].
//!
//! The tar crate applies GNU long names and PAX `path` / `linkpath` records,
//! so the names checked are the ones any other extractor would use. It reads
//! those records into memory, and skips the data of entries nobody reads: so
//! that neither can run away, the decompressed stream as a whole is capped
//! ([`Capped`]) a little above [`Limits::max_total_bytes`](super::Limits).

use std::io::{self, Read};
use std::time::{Duration, SystemTime};

use tar::EntryType;

use super::ArchiveError;
use super::sink::{Sink, StreamCapped};

/// Room for the tar framing of each entry, beyond its contents: its header,
/// padding to 512 bytes, and a PAX or GNU long-name record with its header.
const FRAMING_PER_ENTRY: u64 = 4 * 1024;

/// Room for the end-of-archive blocks and the padding to a 10 KiB record.
const FRAMING_SLACK: u64 = 1024 * 1024;

/// Extracts the tar that `decoder` yields, reading it to its end; returns
/// the decoder, for the caller to check what follows the compressed stream.
pub(super) fn extract<R: Read>(decoder: R, sink: &mut Sink<'_>) -> Result<R, ArchiveError> {
    let limits = *sink.limits();
    let cap = limits
        .max_total_bytes
        .saturating_add(limits.max_entries.saturating_mul(FRAMING_PER_ENTRY))
        .saturating_add(FRAMING_SLACK);
    let mut archive = tar::Archive::new(Capped {
        inner: decoder,
        left: cap,
    });
    let entries = archive.entries().map_err(|e| sink.read_error(e))?;
    for entry in entries {
        sink.count_entry()?;
        let mut entry = entry.map_err(|e| sink.read_error(e))?;
        let name = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        match kind {
            // GNU sparse files are read back with their holes filled in, so
            // they are plain files to us (and count their full size).
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let header = entry.header();
                let mode = header
                    .mode()
                    .map_err(|e| sink.corrupt(format!("entry `{}`: {e}", lossy(&name))))?;
                // A malformed time is not worth refusing the archive for.
                let modified = header
                    .mtime()
                    .ok()
                    .and_then(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)));
                sink.file(&name, mode & 0o111 != 0, modified, &mut entry)?;
            }
            EntryType::Directory => sink.dir(&name)?,
            EntryType::Symlink => {
                let Some(target) = entry.link_name_bytes() else {
                    return Err(sink.refuse(&name, "it is a symlink without a target"));
                };
                sink.symlink(&name, &target)?;
            }
            // A hard link shares the inode of its target: a later write to
            // either changes both, and a link to a file outside the root
            // would expose it. Interpreter archives do not need them.
            EntryType::Link => {
                return Err(sink.refuse(&name, "it is a hard link, which is never extracted"));
            }
            EntryType::Char => return Err(sink.refuse(&name, "it is a character device")),
            EntryType::Block => return Err(sink.refuse(&name, "it is a block device")),
            EntryType::Fifo => return Err(sink.refuse(&name, "it is a FIFO (named pipe)")),
            // A PAX global header carries defaults (times, charset) that
            // change nothing we extract.
            EntryType::XGlobalHeader => {}
            // The crate consumes these before yielding the entry they
            // describe; one showing up here describes nothing.
            EntryType::GNULongName | EntryType::GNULongLink | EntryType::XHeader => {
                return Err(sink.corrupt(format!(
                    "entry `{}`: an extended header with no entry after it",
                    lossy(&name)
                )));
            }
            other => {
                return Err(sink.unsupported(format!(
                    "entry `{}` has the unknown tar type `{}`",
                    lossy(&name),
                    other.as_byte().escape_ascii()
                )));
            }
        }
    }
    // Read the rest of the stream so that the decompressor checks its
    // trailer (gzip's CRC and length): a truncated download fails here
    // rather than passing as an archive with fewer files.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| sink.read_error(e))?;
    Ok(rest.inner)
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// A reader that fails with [`StreamCapped`] once more than `left` bytes
/// have come out of `inner`.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Ask for one byte more than allowed, to tell "exactly at the cap"
        // from "past it".
        let want = usize::try_from(self.left.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(window) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = self.inner.read(window)?;
        if n as u64 > self.left {
            return Err(io::Error::other(StreamCapped));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
