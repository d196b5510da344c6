//! Unpacking interpreter archives (`.tar.gz`, `.tar.zst`, `.zip`) into a
//! staging folder: the `extract` step of a standalone runtime.
//!
//! The archives come from the network. A checksum proves that a file is the
//! one the lock file names, not that its author meant well, so every entry is
//! checked as if the archive were hostile.
//!
//! Invariants:
//!
//! - Nothing is written outside `dest`. An entry is refused (with an error
//!   naming it) if its name is absolute (`/x`, `C:\x`, `\\server\x`), has a
//!   `..` component, a backslash or NUL; if one of its folders is a symlink
//!   or a file (no writing through a link the archive made earlier); if it is
//!   a hard link, a device or a FIFO; or if it names the same path as an
//!   earlier entry. A symlink is created only if its target is relative and
//!   stays inside the root: it may climb (`..`) only at its start and no
//!   higher than the root, so no chain of links can lead out.
//! - Nothing that exists is overwritten: files are created with
//!   `create_new`, symlinks never replace anything, and folders are entered
//!   only after checking, without following links, that they are folders.
//! - The archive is streamed: memory stays a few buffers whatever its size.
//!   The bytes written are counted as they are written (headers are not
//!   trusted), and extraction stops with [`ArchiveError::TooLarge`] before
//!   the total passes [`Limits::max_total_bytes`] or the number of entries
//!   passes [`Limits::max_entries`].
//! - Files keep their executable bit (as `0o755`, else `0o644`); no setuid,
//!   setgid or sticky bit and no owner is ever applied. Folder modes in the
//!   archive are ignored, so that a read-only folder can neither stop the
//!   rest of the extraction nor the caller's cleanup.
//! - On error, `dest` may hold part of the archive: the caller removes the
//!   staging folder.

mod entry;
// The entry-name rule is shared with the wheel installer, which unpacks
// zips of its own.
pub(crate) use entry::normalize as safe_entry_name;
mod sink;
mod tarball;
mod zipfile;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use sink::Sink;

/// How an archive is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A gzip-compressed tar (`.tar.gz`, `.tgz`).
    TarGz,
    /// A zstd-compressed tar (`.tar.zst`, `.tzst`).
    TarZst,
    /// A zip (`.zip`): the Windows embeddable distribution.
    Zip,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::TarGz => "tar.gz",
            Format::TarZst => "tar.zst",
            Format::Zip => "zip",
        })
    }
}

/// The format of the archive at `path`: from its extension, else (cached
/// downloads are named by their hash) from its first bytes. `None` if
/// neither tells, or if the file cannot be read.
pub fn detect(path: &Path) -> Option<Format> {
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        let name = name.to_ascii_lowercase();
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            return Some(Format::TarGz);
        }
        if name.ends_with(".tar.zst") || name.ends_with(".tzst") || name.ends_with(".tar.zstd") {
            return Some(Format::TarZst);
        }
        if name.ends_with(".zip") {
            return Some(Format::Zip);
        }
    }
    let mut magic = [0u8; 4];
    fs_err::File::open(path).ok()?.read_exact(&mut magic).ok()?;
    match magic {
        [0x1f, 0x8b, _, _] => Some(Format::TarGz),
        [0x28, 0xb5, 0x2f, 0xfd] => Some(Format::TarZst),
        // A local file header, or the end record of an empty zip.
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => Some(Format::Zip),
        _ => None,
    }
}

/// How much an archive may unpack to. Interpreter archives are tens of
/// megabytes holding a few thousand files; the defaults are far above that
/// and far below what would fill a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of file contents written, all files together.
    pub max_total_bytes: u64,
    /// The most entries (files, folders, symlinks, headers) read.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 2 * 1024 * 1024 * 1024,
            max_entries: 200_000,
        }
    }
}

/// What [`extract`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Regular files and symlinks created (folders are not counted).
    pub files: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
}

/// Which of the [`Limits`] an archive passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::max_total_bytes`].
    TotalBytes,
    /// [`Limits::max_entries`].
    Entries,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::TotalBytes => "bytes",
            Limit::Entries => "entries",
        })
    }
}

/// Why an archive could not be extracted.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ArchiveError {
    /// Reading the archive file or writing into the staging folder failed.
    #[error(transparent)]
    #[diagnostic(code("archive::io"))]
    Io(#[from] io::Error),

    /// An entry would write outside the staging folder, or is of a kind that
    /// is never extracted.
    #[error("`{}` holds an unsafe entry `{entry}`: {reason}", archive.display())]
    #[diagnostic(
        code("archive::unsafe-entry"),
        help(
            "the archive is malformed or malicious; nothing was written outside the staging folder"
        )
    )]
    Unsafe {
        archive: PathBuf,
        entry: String,
        reason: String,
    },

    /// The archive unpacks to more than the [`Limits`] allow.
    #[error("`{}` unpacks to more than {limit} {what}", archive.display())]
    #[diagnostic(
        code("archive::too-large"),
        help(
            "an interpreter archive is far smaller: check the runtime's URL, or the mirror it comes from"
        )
    )]
    TooLarge {
        archive: PathBuf,
        what: Limit,
        limit: u64,
    },

    /// The archive uses a feature this reader does not implement.
    #[error("`{}` cannot be unpacked: {reason}", archive.display())]
    #[diagnostic(
        code("archive::unsupported"),
        help("unpack it by hand and declare the runtime with `source = \"system\"`")
    )]
    Unsupported { archive: PathBuf, reason: String },

    /// The archive is truncated or damaged.
    #[error("`{}` is corrupt: {reason}", archive.display())]
    #[diagnostic(
        code("archive::corrupt"),
        help("the file may be truncated or damaged: delete it and download it again")
    )]
    Corrupt { archive: PathBuf, reason: String },
}

/// Unpacks `archive` (packed as `format`) into `dest`, an existing, empty
/// staging folder.
///
/// With `strip_prefix` (`Some("python")` for python-build-standalone, which
/// puts everything under `python/`), entries are written relative to that
/// folder, and an entry outside it is refused.
///
/// On error, `dest` may hold part of the archive, but nothing was written
/// outside it.
pub fn extract(
    archive: &Path,
    format: Format,
    dest: &Path,
    strip_prefix: Option<&str>,
    limits: &Limits,
) -> Result<Extracted, ArchiveError> {
    if !fs_err::metadata(dest)?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("`{}` is not a folder", dest.display()),
        )
        .into());
    }
    let mut sink = Sink::new(archive, dest, strip_prefix, *limits)?;
    let file = fs_err::File::open(archive)?;
    match format {
        // The gzip decoder buffers its input itself. `Multi`: a file of
        // several gzip members (concatenated, as `cat a.gz b.gz` makes) is
        // read to its end, and anything after the last member is an error.
        Format::TarGz => {
            tarball::extract(flate2::read::MultiGzDecoder::new(file), &mut sink)?;
        }
        Format::TarZst => {
            // ruzstd refuses windows above 128 MiB, which bounds the memory a
            // hostile frame header can ask for.
            let decoder = ruzstd::decoding::StreamingDecoder::new(BufReader::new(file))
                .map_err(|e| sink.corrupt(format!("not a zstd stream: {e}")))?;
            let mut source = tarball::extract(decoder, &mut sink)?.into_inner();
            // The decoder reads one frame. Bytes after it are a second frame
            // (`pzstd` writes several) or garbage: either way the tar read
            // so far may be cut short at a header boundary, where tar sees a
            // clean end, so refuse rather than install part of a runtime.
            // TODO: read multi-frame archives, if a provider ships them.
            if !source.fill_buf()?.is_empty() {
                return Err(sink.unsupported(
                    "it has data after its first zstd frame (archives of several frames are not supported)",
                ));
            }
        }
        Format::Zip => zipfile::extract(BufReader::new(file), &mut sink)?,
    }
    Ok(sink.finish())
}
