//! The unpacked cache: each wheel unpacked once, checked against its own
//! `RECORD`, into `<cache>/<key>/`, from where installs link its files.
//!
//! An entry is a folder holding `tree/` (the wheel's files under their
//! names in the wheel, `pip/__init__.py`, `pip-24.2.data/scripts/x`) and
//! [`MANIFEST`], which lists every file with its `RECORD` hash, size,
//! modification time and executable bit. It is built in a temporary folder
//! beside it and renamed into place, so an entry that exists is complete; two
//! processes building the same entry both succeed, one rename wins and the
//! other's folder is removed. Bytecode compiled into an entry later (see
//! [`super::bytecode`]) is added by atomic renames, never by changing a
//! file.
//!
//! A wheel is hostile until checked: entry names go through the same rule as
//! [`crate::archive`] (no absolute paths, drives, `..`, backslashes or NUL);
//! two entries naming one path are refused; a symlink entry becomes a plain
//! file holding its target, as pip's `zipfile` makes it, so no link can lead
//! out; the declared sizes bound what is written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::WheelError;
use super::record::{self, record_hash};

/// The list of an entry's files, in the entry's folder.
pub const MANIFEST: &str = "wheel.json";

/// The manifest format this program writes.
pub const MANIFEST_VERSION: u32 = 1;

/// The most bytes a wheel may unpack to, all files together (the largest
/// wheels on package indexes unpack to a few GB).
const MAX_BYTES: u64 = 16 * 1024 * 1024 * 1024;

/// The most entries a wheel may hold.
const MAX_ENTRIES: usize = 1_000_000;

/// What is in one cache entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The format, [`MANIFEST_VERSION`].
    pub version: u32,
    /// `pip-24.2.dist-info`.
    pub dist_info: String,
    /// The distribution's name as the folder spells it (`typing_extensions`).
    pub name: String,
    /// The distribution's version as the folder spells it.
    pub dist_version: String,
    /// `Name` from `METADATA`, as the project spells it (`Beep.Data`):
    /// pip names the headers folder after it.
    pub display_name: String,
    /// `Root-Is-Purelib` from `WHEEL`.
    pub root_is_purelib: bool,
    /// `entry_points.txt`, when the wheel has one.
    pub entry_points: Option<String>,
    /// Files whose contents did not match `RECORD` (or that `RECORD` did
    /// not list), each with why. Empty unless the entry was unpacked for a
    /// package whose `RECORD` is known to be wrong; installing such an
    /// entry for any other package is refused.
    pub record_mismatches: Vec<(String, String)>,
    /// Every file, sorted by path.
    pub files: Vec<CachedFile>,
}

/// One file of an entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedFile {
    /// The name in the wheel, `/`-separated.
    pub path: String,
    /// `sha256=<base64>`, computed while unpacking.
    pub hash: String,
    pub size: u64,
    /// Modification time of the cached file, in nanoseconds since the epoch:
    /// with `size`, how a damaged cache file is noticed before it is linked.
    pub mtime_ns: i64,
    pub executable: bool,
}

/// The folder of the tree in an entry.
pub fn tree(entry: &Path) -> PathBuf {
    entry.join("tree")
}

/// Reads the manifest of the entry at `entry`; `Ok(None)` if the entry is
/// missing or incomplete.
pub fn load(entry: &Path) -> Result<Option<Manifest>, WheelError> {
    let path = entry.join(MANIFEST);
    let bytes = match fs_err::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    match serde_json::from_slice::<Versioned>(&bytes) {
        Ok(v) if v.version > MANIFEST_VERSION => {
            return Err(WheelError::NewerCache {
                path,
                version: v.version,
            });
        }
        Ok(_) => {}
        // Unreadable: treated as absent, and rebuilt.
        Err(_) => return Ok(None),
    }
    Ok(serde_json::from_slice(&bytes).ok())
}

/// The modification time of `meta` in nanoseconds since the epoch.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec())
    }
    #[cfg(not(unix))]
    {
        meta.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// The first file of the entry whose size or modification time is not
/// what the manifest says (a cache file changed or truncated since it was
/// unpacked), if any.
pub fn damaged(entry: &Path, manifest: &Manifest) -> Option<String> {
    let tree = tree(entry);
    manifest
        .files
        .iter()
        .find(|f| {
            fs_err::symlink_metadata(tree.join(&f.path))
                .map_or(true, |m| m.len() != f.size || mtime_ns(&m) != f.mtime_ns)
        })
        .map(|f| f.path.clone())
}

/// Removes the entry at `entry` (renamed aside first, so that no other
/// process sees half of it).
pub fn discard(entry: &Path) -> io::Result<()> {
    let Some(parent) = entry.parent() else {
        return Ok(());
    };
    let aside = parent.join(format!(
        ".discard-{}-{}",
        entry.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    match fs_err::rename(entry, &aside) {
        Ok(()) => fs_err::remove_dir_all(&aside),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// How to unpack one wheel.
pub struct Unpack<'a> {
    /// The wheel file.
    pub wheel: &'a Path,
    /// Its name for messages (the file name from the lock or URL).
    pub label: &'a str,
    /// The distribution expected, PEP 503 normalized, when known.
    pub expect_name: Option<&'a str>,
    /// Accept contents that do not match `RECORD` (recorded in
    /// [`Manifest::record_mismatches`]).
    pub unverified_record: bool,
    /// Threads to spread the files over.
    pub threads: usize,
}

/// The entry `<root>/<key>` for `job.wheel`: loaded if complete, else built.
pub fn ensure(root: &Path, key: &str, job: &Unpack<'_>) -> Result<(PathBuf, Manifest), WheelError> {
    let entry = root.join(key);
    if let Some(manifest) = load(&entry)? {
        return Ok((entry, manifest));
    }
    if entry.exists() {
        // A folder without a readable manifest is not ours to trust.
        discard(&entry)?;
    }
    fs_err::create_dir_all(root)?;
    let temp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(root)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to create a folder in `{}`: {e}", root.display()),
            )
        })?;
    let manifest = unpack_into(job, &tree(temp.path()))?;
    let mut json = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    json.push(b'\n');
    fs_err::write(temp.path().join(MANIFEST), json)?;
    let temp = temp.keep();
    match fs_err::rename(&temp, &entry) {
        Ok(()) => Ok((entry, manifest)),
        Err(e) => {
            let _ = fs_err::remove_dir_all(&temp);
            // Another process finished the same entry first.
            match load(&entry)? {
                Some(theirs) => Ok((entry, theirs)),
                None => Err(e.into()),
            }
        }
    }
}

/// A file read with positioned reads, so that every thread can hold its own
/// cursor over one open file (the zip archive is cloned per thread).
#[derive(Clone)]
struct SharedFile {
    file: Arc<std::fs::File>,
    pos: u64,
    len: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let next = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = next
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// Where a file of the wheel goes in the tree, decided before writing.
struct Job {
    index: usize,
    path: String,
    size: u64,
    executable: bool,
}

/// Unpacks `job.wheel` into `tree` (a new folder), checking everything.
fn unpack_into(job: &Unpack<'_>, tree: &Path) -> Result<Manifest, WheelError> {
    let label = job.label;
    let bad = |reason: String| WheelError::BadWheel {
        wheel: label.to_string(),
        reason,
    };
    let unsafe_entry = |entry: &str, reason: String| WheelError::Unsafe {
        wheel: label.to_string(),
        entry: entry.to_string(),
        reason,
    };
    let file = fs_err::File::open(job.wheel)?;
    let len = file.metadata()?.len();
    let reader = SharedFile {
        file: Arc::new(file.into_parts().0),
        pos: 0,
        len,
    };
    let mut archive =
        zip::ZipArchive::new(reader).map_err(|e| bad(format!("not a zip file: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(bad(format!("it has more than {MAX_ENTRIES} entries")));
    }

    // Every name is checked before anything is written.
    let mut files: Vec<Job> = Vec::with_capacity(archive.len());
    let mut seen: HashSet<String> = HashSet::with_capacity(archive.len());
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| bad(format!("entry {index}: {e}")))?;
        let raw = entry.name_raw().to_vec();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let components =
            crate::archive::safe_entry_name(&raw).map_err(|why| unsafe_entry(&shown, why))?;
        if components.is_empty() {
            continue;
        }
        let path = components.join("/");
        if !seen.insert(path.clone()) {
            return Err(unsafe_entry(
                &shown,
                "it names the same path as an earlier entry".into(),
            ));
        }
        if entry.is_dir() {
            continue;
        }
        total = total.saturating_add(entry.size());
        if total > MAX_BYTES {
            return Err(bad(format!("it unpacks to more than {MAX_BYTES} bytes")));
        }
        files.push(Job {
            index,
            path,
            size: entry.size(),
            executable: entry.unix_mode().is_some_and(|m| m & 0o111 != 0),
        });
    }
    // A file may not also be a folder of another entry (`a` and `a/b`).
    for f in &files {
        let mut prefix = f.path.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if files_contain(&files, parent) {
                return Err(unsafe_entry(
                    parent,
                    "it is both a file and a folder".into(),
                ));
            }
            prefix = parent;
        }
    }

    let dist_info = find_dist_info(&files, job.expect_name).map_err(bad)?;
    let (name, dist_version) = dist_info
        .trim_end_matches(".dist-info")
        .split_once('-')
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .ok_or_else(|| bad(format!("`{dist_info}` is not `<name>-<version>.dist-info`")))?;
    let read_small = |archive: &mut zip::ZipArchive<SharedFile>, path: &str| {
        let mut text = String::new();
        archive
            .by_name(path)
            .map_err(|e| bad(format!("`{path}`: {e}")))?
            .take(16 * 1024 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("`{path}`: {e}")))?;
        Ok::<_, WheelError>(text)
    };
    let wheel_meta = read_small(&mut archive, &format!("{dist_info}/WHEEL"))?;
    let metadata = read_small(&mut archive, &format!("{dist_info}/METADATA"))?;
    let display_name = metadata
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("name")
                .then(|| v.trim().to_string())
        })
        .filter(|n| crate::venv::normalize_name(n) == crate::venv::normalize_name(&name))
        // It names a folder (the headers'): one plain component.
        .filter(|n| !n.contains(['/', '\\', '\0']) && n != "." && n != "..")
        .ok_or_else(|| bad(format!("`{dist_info}/METADATA` does not name `{name}`")))?;
    let root_is_purelib = check_wheel_file(&wheel_meta).map_err(bad)?;
    let recorded: HashMap<String, Option<String>> =
        record::parse(&read_small(&mut archive, &format!("{dist_info}/RECORD"))?)
            .into_iter()
            .map(|line| (line.path, line.hash))
            .collect();
    let data_prefix = format!("{}.data/", dist_info.trim_end_matches(".dist-info"));
    let not_unpacked: HashSet<String> = ["RECORD", "RECORD.jws", "RECORD.p7s", "INSTALLER"]
        .iter()
        .map(|f| format!("{dist_info}/{f}"))
        .collect();
    files.retain(|f| !not_unpacked.contains(&f.path));
    for f in &files {
        if let Some(rest) = f.path.strip_prefix(&data_prefix) {
            let scheme = rest.split('/').next().unwrap_or_default();
            if !matches!(
                scheme,
                "purelib" | "platlib" | "scripts" | "headers" | "data"
            ) || !rest.contains('/')
            {
                return Err(bad(format!(
                    "`{}` is not in one of the `.data` folders a wheel may have (purelib, platlib, scripts, headers, data)",
                    f.path
                )));
            }
        }
    }

    // Creating files is most of the cost; the kernel does it in parallel
    // across folders, so the files are spread over a few threads.
    let threads = job.threads.clamp(1, 8).min(files.len().max(1));
    let work = |t: usize| -> Result<Vec<(CachedFile, Option<String>)>, WheelError> {
        let mut archive = archive.clone();
        let mut made: HashSet<PathBuf> = HashSet::new();
        let mut out = Vec::with_capacity(files.len() / threads + 1);
        let mut buf = vec![0u8; 64 * 1024];
        for f in files.iter().skip(t).step_by(threads) {
            let dest = tree.join(&f.path);
            if let Some(parent) = dest.parent()
                && !made.contains(parent)
            {
                fs_err::create_dir_all(parent)?;
                made.insert(parent.to_path_buf());
            }
            let mut entry = archive
                .by_index(f.index)
                .map_err(|e| bad(format!("`{}`: {e}", f.path)))?;
            let mut out_file = new_file(&dest, f.executable)?;
            let mut hasher = Sha256::new();
            let mut written: u64 = 0;
            loop {
                let n = match entry.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(bad(format!("`{}`: {e}", f.path))),
                };
                written += n as u64;
                if written > f.size {
                    return Err(bad(format!("`{}` is larger than its header says", f.path)));
                }
                hasher.update(&buf[..n]);
                out_file.write_all(&buf[..n])?;
            }
            drop(entry);
            let meta = out_file.metadata()?;
            let hash = record_hash(&hasher.finalize());
            let mismatch = match recorded.get(&f.path) {
                Some(Some(want)) if *want == hash => None,
                Some(Some(_)) => Some("its contents do not match its hash in `RECORD`".to_string()),
                Some(None) => Some("`RECORD` lists it without a hash".to_string()),
                None => Some("`RECORD` does not list it".to_string()),
            };
            out.push((
                CachedFile {
                    path: f.path.clone(),
                    hash,
                    size: written,
                    mtime_ns: mtime_ns(&meta),
                    executable: f.executable,
                },
                mismatch,
            ));
        }
        Ok(out)
    };
    let results: Vec<_> = std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = (1..threads).map(|t| scope.spawn(move || work(t))).collect();
        let mut results = vec![work(0)];
        for handle in handles {
            results.push(
                handle
                    .join()
                    .unwrap_or_else(|_| Err(bad("a worker thread panicked".into()))),
            );
        }
        results
    });
    let mut cached = Vec::with_capacity(files.len());
    let mut record_mismatches = Vec::new();
    for result in results {
        for (file, mismatch) in result? {
            if let Some(why) = mismatch {
                if !job.unverified_record {
                    return Err(WheelError::RecordMismatch {
                        wheel: label.to_string(),
                        package: name.clone(),
                        file: file.path,
                        reason: why,
                    });
                }
                record_mismatches.push((file.path.clone(), why));
            }
            cached.push(file);
        }
    }
    cached.sort_by(|a, b| a.path.cmp(&b.path));
    record_mismatches.sort();
    let entry_points = match cached
        .iter()
        .find(|f| f.path == format!("{dist_info}/entry_points.txt"))
    {
        Some(f) => Some(fs_err::read_to_string(tree.join(&f.path))?),
        None => None,
    };
    Ok(Manifest {
        version: MANIFEST_VERSION,
        dist_info,
        name,
        dist_version,
        display_name,
        root_is_purelib,
        entry_points,
        record_mismatches,
        files: cached,
    })
}

fn files_contain(files: &[Job], path: &str) -> bool {
    // `files` is in archive order; a linear scan is fine for the rare call
    // (only paths with a parent that is itself listed get here).
    files.iter().any(|f| f.path == path)
}

/// The wheel's `.dist-info` folder: the only top-level one, or the one of
/// the expected distribution.
fn find_dist_info(files: &[Job], expect: Option<&str>) -> Result<String, String> {
    let mut found: BTreeMap<String, ()> = BTreeMap::new();
    for f in files {
        if let Some((top, _)) = f.path.split_once('/')
            && top.ends_with(".dist-info")
        {
            found.insert(top.to_string(), ());
        }
    }
    let tops: Vec<String> = found.into_keys().collect();
    let matching: Vec<&String> = match expect {
        Some(name) => tops
            .iter()
            .filter(|t| {
                t.split_once('-')
                    .is_some_and(|(n, _)| crate::venv::normalize_name(n) == name)
            })
            .collect(),
        None => tops.iter().collect(),
    };
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] if tops.is_empty() => Err("it has no `*.dist-info` folder".into()),
        [] => Err(format!(
            "its `.dist-info` folder ({}) is not the distribution's `{}`",
            tops.join(", "),
            expect.unwrap_or_default()
        )),
        several => Err(format!(
            "it has several `.dist-info` folders: {}",
            several
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Checks `WHEEL` (`Wheel-Version: 1.x`) and returns `Root-Is-Purelib`.
fn check_wheel_file(text: &str) -> Result<bool, String> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| v.trim().to_string())
        })
    };
    let version = field("Wheel-Version").ok_or("its `WHEEL` has no `Wheel-Version`")?;
    let major = version.split('.').next().unwrap_or_default();
    if major != "1" {
        return Err(format!(
            "it is of wheel format {version}; this installer reads format 1.x"
        ));
    }
    Ok(field("Root-Is-Purelib").is_some_and(|v| v.eq_ignore_ascii_case("true")))
}

/// Opens `path` as a new file (never an existing one).
fn new_file(path: &Path, executable: bool) -> io::Result<fs_err::File> {
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = executable;
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_file_versions() {
        assert_eq!(
            check_wheel_file("Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"),
            Ok(true)
        );
        assert_eq!(
            check_wheel_file("Wheel-Version: 1.9\nRoot-Is-Purelib: false\n"),
            Ok(false)
        );
        assert!(check_wheel_file("Wheel-Version: 2.0\n").is_err());
        assert!(check_wheel_file("Root-Is-Purelib: true\n").is_err());
    }
}
