//! `bundle create`: every artifact the lock names, found and verified, then
//! one tar stream compressed with zstd into a temporary file beside the
//! destination, renamed into place.
//!
//! Which wheels: for a pin whose lock entry lists its artifacts (`files`),
//! the one [`crate::wheel::best_file`] picks for the environment's Python
//! on each platform the bundle is for (this machine, and each
//! `--platform`), so the native installer there finds exactly the file it
//! looks for; a pin no listed wheel fits on one of those platforms is an
//! error naming it and the platform. A lock written before `files` gives
//! one artifact per pin, any with one of its hashes.
//!
//! Conda packages: every one the lock pins, by its sha256 (see
//! `conda_packages`), each stored once however many environments pin it.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use super::artifacts::{ArtifactSources, Lookup, url_file_name};
use super::{
    BUNDLE_VERSION, BUNDLE_VERSION_WITHOUT_CONDA, BundleError, CONDA_DIR, CondaArtifact,
    IMPLEMENTATION, INDEX_FILE, INPUTS_DIR, Index, InputFile, RESTORE_FILE, RUNTIMES_DIR,
    RuntimeArtifact, SUMS_FILE, WHEELS_DIR, WheelArtifact, restore, sha256_file, unhashed_pins,
};
use crate::fetch;
use crate::lockfile::{LOCK_FILE, Lock, LockedFile, LockedPackage};
use crate::manifest::{MANIFEST_FILE, RuntimeSource};
use crate::provision::RuntimeSpec;
use crate::provision::catalog::Catalog;
use crate::provision::platform::Platform;
use crate::wheel;

/// What to bundle, and where.
pub struct CreateRequest<'a> {
    /// The manifest's text, as on disk.
    pub manifest_text: &'a str,
    /// The lock's text, as on disk, and what it says.
    pub lock_text: &'a str,
    pub lock: &'a Lock,
    /// The managed runtimes as this machine builds them (its platform).
    pub runtimes: &'a [RuntimeSpec],
    /// More platforms whose standalone builds go in, with the catalog to
    /// find them in (and the mirror to fetch them through).
    pub other_platforms: &'a [Platform],
    pub catalog: Option<&'a Catalog>,
    pub mirror: &'a dyn Fn(&str) -> String,
    /// Where wheels are found.
    pub sources: &'a ArtifactSources,
    /// The manifest's input files (`pylock`): as the manifest writes the
    /// path, and the file.
    pub inputs: &'a [(String, PathBuf)],
    /// Conda channels: each channel URL the lock may record, to the channel
    /// as the manifest writes it (see [`CondaArtifact::channel`]).
    pub conda_channels: &'a BTreeMap<String, String>,
    /// The manifest's conda mirrors, applied to a conda package's url
    /// before it is fetched.
    pub conda_mirrors: &'a [crate::conda::Mirror],
    /// The download cache and how to reach the network.
    pub cache: &'a fetch::Cache,
    pub fetch_options: &'a fetch::Options,
    pub out: &'a Path,
    pub force: bool,
    pub cancel: &'a AtomicBool,
    /// Progress lines, for stderr.
    pub log: &'a dyn Fn(&str),
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Created {
    pub path: PathBuf,
    pub size: u64,
    /// Of the bundle file, lowercase hex.
    pub sha256: String,
    pub index: Index,
}

/// One file of the bundle.
enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

struct Entry {
    name: String,
    source: Source,
}

/// Makes the bundle (see the module docs). Nothing is written unless every
/// artifact was found.
pub fn create(req: &CreateRequest<'_>) -> Result<Created, BundleError> {
    if !req.force && fs_err::symlink_metadata(req.out).is_ok() {
        return Err(BundleError::Exists {
            path: req.out.to_path_buf(),
        });
    }
    let unhashed = unhashed_pins(req.lock);
    if !unhashed.is_empty() {
        return Err(BundleError::Unhashed { pins: unhashed });
    }
    let mut missing = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut runtimes: Vec<RuntimeArtifact> = Vec::new();
    let mut platforms: Vec<String> = Vec::new();

    // Runtimes: this machine's builds (what `apply` here would fetch),
    // then each other platform's standalone build of the same version.
    for spec in req.runtimes {
        let platform = match spec.source {
            RuntimeSource::Standalone => spec.platform.clone(),
            RuntimeSource::Url | RuntimeSource::Embeddable | RuntimeSource::System => String::new(),
        };
        if !platform.is_empty() && !platforms.contains(&platform) {
            platforms.push(platform.clone());
        }
        (req.log)(&format!("runtime.{}: {}", spec.name, spec.upstream_url));
        add_runtime(
            req,
            &mut entries,
            &mut runtimes,
            &mut missing,
            RuntimeArtifact {
                name: spec.name.clone(),
                version: spec.python_version.clone(),
                platform,
                file: String::new(),
                sha256: spec.sha256.clone(),
                url: spec.upstream_url.clone(),
            },
            &spec.url,
        );
    }
    for platform in req.other_platforms {
        let text = platform.to_string();
        if !platforms.contains(&text) {
            platforms.push(text.clone());
        }
        for spec in req
            .runtimes
            .iter()
            .filter(|s| s.source == RuntimeSource::Standalone && s.platform != text)
        {
            let Some(catalog) = req.catalog else {
                continue;
            };
            let download = match catalog.find(&spec.python_version, platform) {
                Ok(download) => download,
                Err(e) => {
                    missing.push(format!("runtime `{}` for {text}: {e}", spec.name));
                    continue;
                }
            };
            (req.log)(&format!("runtime.{} ({text}): {}", spec.name, download.url));
            add_runtime(
                req,
                &mut entries,
                &mut runtimes,
                &mut missing,
                RuntimeArtifact {
                    name: spec.name.clone(),
                    version: download.version.clone(),
                    platform: text.clone(),
                    file: String::new(),
                    sha256: download.sha256.to_ascii_lowercase(),
                    url: download.url.clone(),
                },
                &(req.mirror)(&download.url),
            );
        }
    }

    // Wheels: for each pin, the wheel the native installer picks on each
    // platform the bundle is for (see [`wheel_platforms`]), among the
    // artifacts the lock lists; a lock from before `files` gives one
    // artifact with one of the pin's hashes. Each stored once, shared by
    // every environment pinning it.
    let platforms_for_wheels = wheel_platforms(req.other_platforms);
    let mut wheels = Wheels::default();
    for (env, locked) in &req.lock.environments {
        let version = crate::venv::major_minor(&locked.python_version).unwrap_or((3, 0));
        for package in &locked.packages {
            if req.cancel.load(Ordering::SeqCst) {
                return Err(BundleError::Cancelled);
            }
            let pin = format!("`{}=={}` (env.{env})", package.name, package.version);
            if package.files.is_empty() {
                if !wheels.share(env, |w| {
                    w.name == package.name
                        && w.version == package.version
                        && package.hashes.contains(&format!("sha256:{}", w.sha256))
                }) {
                    let found = req.sources.find(package, req.cancel);
                    wheels.add(env, package, &pin, found, &mut entries, &mut missing);
                }
                continue;
            }
            let mut chosen: Vec<&LockedFile> = Vec::new();
            for platform in &platforms_for_wheels {
                match wheel::best_file(&package.files, IMPLEMENTATION, version, platform) {
                    Some(file) if !chosen.contains(&file) => chosen.push(file),
                    Some(_) => {}
                    None => missing.push(format!(
                        "{pin}: no wheel the lock lists fits Python {}.{} on {platform} (it lists {})",
                        version.0,
                        version.1,
                        package
                            .files
                            .iter()
                            .map(|f| format!("`{}`", f.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
            for file in chosen {
                if !wheels.share(env, |w| w.sha256 == file.sha256) {
                    let found = req.sources.find_file(package, file, req.cancel);
                    wheels.add(env, package, &pin, found, &mut entries, &mut missing);
                }
            }
        }
    }
    let conda = conda_packages(req, &mut entries, &mut missing)?;
    // The manifest's input files, as they are now (the lock's inputs hash
    // covers them: `bundle create` has checked that it matches).
    let mut inputs = Vec::new();
    for (n, (path, file)) in req.inputs.iter().enumerate() {
        let sha256 = match sha256_file(file) {
            Ok(sha) => sha,
            Err(e) => {
                missing.push(format!("`{path}` (`{}`): {e}", file.display()));
                continue;
            }
        };
        let base = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let inside = format!("{INPUTS_DIR}/{n}-{base}");
        entries.push(Entry {
            name: inside.clone(),
            source: Source::File(file.clone()),
        });
        inputs.push(InputFile {
            path: path.clone(),
            file: inside,
            sha256,
        });
    }
    if !missing.is_empty() {
        return Err(BundleError::Missing { missing });
    }
    platforms.sort();

    let index = Index {
        format_version: if conda.is_empty() {
            BUNDLE_VERSION_WITHOUT_CONDA
        } else {
            BUNDLE_VERSION
        },
        created_by: format!("beep-python {}", env!("CARGO_PKG_VERSION")),
        created_at: jiff::Timestamp::now(),
        platforms,
        runtimes,
        wheels: wheels.by_file.into_values().collect(),
        inputs,
        conda,
    };
    let index_text = serde_json::to_string_pretty(&index).unwrap_or_default() + "\n";
    let restore_text = restore::text(&index, req.lock);

    // The small files first: a reader (or `tar -t`) sees what the bundle is
    // before the artifacts.
    let mut all = vec![
        Entry {
            name: INDEX_FILE.into(),
            source: Source::Bytes(index_text.into_bytes()),
        },
        Entry {
            name: RESTORE_FILE.into(),
            source: Source::Bytes(restore_text.into_bytes()),
        },
        Entry {
            name: MANIFEST_FILE.into(),
            source: Source::Bytes(req.manifest_text.as_bytes().to_vec()),
        },
        Entry {
            name: LOCK_FILE.into(),
            source: Source::Bytes(req.lock_text.as_bytes().to_vec()),
        },
    ];
    all.extend(entries);
    let mut sums = String::new();
    for entry in &all {
        let sha = match &entry.source {
            Source::Bytes(bytes) => format!("{:x}", Sha256::digest(bytes)),
            // Verified when found; hashed again as it goes in, so that a
            // file changed since is caught here, not on the other machine.
            Source::File(path) => sha256_file(path).map_err(BundleError::io("read", path))?,
        };
        sums.push_str(&format!("{sha}  {}\n", entry.name));
    }
    for (entry, line) in all.iter().zip(sums.lines()) {
        let recorded = line.split_whitespace().next().unwrap_or_default();
        let expected = expected_sha(&index, &entry.name);
        if let Some(expected) = expected
            && expected != recorded
        {
            return Err(BundleError::Tampered {
                bundle: req.out.to_path_buf(),
                file: entry.name.clone(),
                problem: format!(
                    "changed on disk while the bundle was made (sha256 {recorded}, expected {expected})"
                ),
            });
        }
    }
    all.insert(
        1,
        Entry {
            name: SUMS_FILE.into(),
            source: Source::Bytes(sums.into_bytes()),
        },
    );
    let mtime = u64::try_from(index.created_at.as_second()).unwrap_or(0);
    let written = write_archive(req.out, req.force, all, mtime, req.cancel)?;
    Ok(Created {
        path: req.out.to_path_buf(),
        size: written.0,
        sha256: written.1,
        index,
    })
}

/// The platforms a bundle's wheels are for: this machine as the native
/// installer sees it, the platform runtimes are provisioned for
/// (`BEEP_PYTHON_PLATFORM`, when set), and each `--platform`.
fn wheel_platforms(others: &[Platform]) -> Vec<Platform> {
    let mut platforms = vec![wheel::tags::this_machine()];
    platforms.extend(Platform::from_env_or_detect().ok());
    platforms.extend(others.iter().cloned());
    let mut unique: Vec<Platform> = Vec::new();
    for platform in platforms {
        if !unique.contains(&platform) {
            unique.push(platform);
        }
    }
    unique
}

/// The wheels going into a bundle, by their path inside it.
#[derive(Default)]
struct Wheels {
    by_file: BTreeMap<String, WheelArtifact>,
}

impl Wheels {
    /// Adds `env` to the wheel already bundled that `same` picks; whether
    /// there was one.
    fn share(&mut self, env: &str, same: impl Fn(&WheelArtifact) -> bool) -> bool {
        match self.by_file.values_mut().find(|w| same(w)) {
            Some(existing) => {
                if !existing.environments.iter().any(|e| e == env) {
                    existing.environments.push(env.to_string());
                }
                true
            }
            None => false,
        }
    }

    /// Adds what looking for one artifact of `package` found, or says why
    /// it is missing.
    fn add(
        &mut self,
        env: &str,
        package: &LockedPackage,
        pin: &str,
        lookup: Lookup,
        entries: &mut Vec<Entry>,
        missing: &mut Vec<String>,
    ) {
        let found = match lookup {
            Lookup::Found(found) => found,
            Lookup::Missing(reason) => {
                missing.push(format!("{pin}: {reason}"));
                return;
            }
        };
        let file = format!("{WHEELS_DIR}/{}", found.file_name);
        // Two artifacts with one name and different bytes cannot sit in
        // one find-links folder.
        if let Some(other) = self.by_file.get(&file) {
            if other.sha256 != found.sha256 {
                missing.push(format!(
                    "{pin}: its file `{}` has other bytes than the one of the same name already bundled",
                    found.file_name
                ));
            }
            return;
        }
        entries.push(Entry {
            name: file.clone(),
            source: Source::File(found.path),
        });
        self.by_file.insert(
            file.clone(),
            WheelArtifact {
                file,
                sha256: found.sha256,
                name: package.name.clone(),
                version: package.version.clone(),
                environments: vec![env.to_string()],
            },
        );
    }
}

/// Every conda package the lock pins, found by its sha256 in the download
/// cache or fetched from its url (a folder channel's `file://` URL, or
/// `https://` through the manifest's mirrors), each stored once under
/// `conda/<file>`. What cannot be found goes into `missing`, by name.
///
/// The package cache (`<home>/cache/conda-pkgs/`) is not a source: it
/// holds packages extracted, and an archive made again from those files
/// would not have the sha256 the lock pins.
fn conda_packages(
    req: &CreateRequest<'_>,
    entries: &mut Vec<Entry>,
    missing: &mut Vec<String>,
) -> Result<Vec<CondaArtifact>, BundleError> {
    let mut artifacts: BTreeMap<String, CondaArtifact> = BTreeMap::new();
    for (env, locked) in &req.lock.environments {
        let Some(conda) = &locked.conda else {
            continue;
        };
        for package in &conda.packages {
            if req.cancel.load(Ordering::SeqCst) {
                return Err(BundleError::Cancelled);
            }
            let what = format!("conda package `{}` (env.{env})", package.dist_name());
            let file = format!("{CONDA_DIR}/{}", package.file_name);
            if let Some(same) = artifacts.get_mut(&file) {
                if same.sha256.eq_ignore_ascii_case(&package.sha256) {
                    if !same.environments.iter().any(|e| e == env) {
                        same.environments.push(env.clone());
                    }
                } else {
                    missing.push(format!(
                        "{what}: its file `{}` has other bytes than the one of the same name already bundled",
                        package.file_name
                    ));
                }
                continue;
            }
            let url = match url::Url::parse(&package.url) {
                Ok(url) => crate::conda::mirrored_url(req.conda_mirrors, &url).to_string(),
                Err(e) => {
                    missing.push(format!("{what}: its url `{}`: {e}", package.url));
                    continue;
                }
            };
            (req.log)(&format!("env.{env}: {}", package.file_name));
            let sha256 = package.sha256.to_ascii_lowercase();
            let path = match fetch::fetch(
                &url,
                &sha256,
                req.cache,
                req.fetch_options,
                &fetch::NoProgress,
                req.cancel,
            ) {
                Ok(path) => path,
                Err(e) => {
                    missing.push(format!("{what}: {e}"));
                    continue;
                }
            };
            entries.push(Entry {
                name: file.clone(),
                source: Source::File(path),
            });
            let channel = req
                .conda_channels
                .get(&crate::conda::channel_of(package))
                .cloned()
                .unwrap_or_else(|| package.channel.clone());
            artifacts.insert(
                file.clone(),
                CondaArtifact {
                    file,
                    sha256,
                    dist: package.dist_name(),
                    subdir: package.subdir.clone(),
                    channel,
                    environments: vec![env.clone()],
                },
            );
        }
    }
    Ok(artifacts.into_values().collect())
}

fn expected_sha<'a>(index: &'a Index, file: &str) -> Option<&'a str> {
    index
        .runtimes
        .iter()
        .find(|r| r.file == file)
        .map(|r| r.sha256.as_str())
        .or_else(|| {
            index
                .wheels
                .iter()
                .find(|w| w.file == file)
                .map(|w| w.sha256.as_str())
        })
        .or_else(|| {
            index
                .inputs
                .iter()
                .find(|i| i.file == file)
                .map(|i| i.sha256.as_str())
        })
        .or_else(|| {
            index
                .conda
                .iter()
                .find(|c| c.file == file)
                .map(|c| c.sha256.as_str())
        })
}

fn add_runtime(
    req: &CreateRequest<'_>,
    entries: &mut Vec<Entry>,
    runtimes: &mut Vec<RuntimeArtifact>,
    missing: &mut Vec<String>,
    mut artifact: RuntimeArtifact,
    fetch_url: &str,
) {
    // One archive may serve several platforms (or runtimes): stored once.
    if let Some(same) = runtimes.iter().find(|r| r.sha256 == artifact.sha256) {
        artifact.file = same.file.clone();
        if !runtimes
            .iter()
            .any(|r| r.name == artifact.name && r.platform == artifact.platform)
        {
            runtimes.push(artifact);
        }
        return;
    }
    match fetch::fetch(
        fetch_url,
        &artifact.sha256,
        req.cache,
        req.fetch_options,
        &fetch::NoProgress,
        req.cancel,
    ) {
        Ok(path) => {
            let mut name = url_file_name(&artifact.url);
            if name.is_empty()
                || runtimes
                    .iter()
                    .any(|r| r.file.ends_with(&format!("/{name}")))
            {
                let short = artifact.sha256.get(..12).unwrap_or(&artifact.sha256);
                name = format!("{short}-{name}");
            }
            artifact.file = format!("{RUNTIMES_DIR}/{name}");
            entries.push(Entry {
                name: artifact.file.clone(),
                source: Source::File(path),
            });
            runtimes.push(artifact);
        }
        Err(e) => missing.push(format!(
            "runtime `{}` ({}): {e}",
            artifact.name,
            if artifact.platform.is_empty() {
                "any platform"
            } else {
                &artifact.platform
            }
        )),
    }
}

/// Writes `entries` as a zstd-compressed tar at `out` (see the module
/// docs); returns its size and sha256.
fn write_archive(
    out: &Path,
    force: bool,
    entries: Vec<Entry>,
    mtime: u64,
    cancel: &AtomicBool,
) -> Result<(u64, String), BundleError> {
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".beep-python-bundle.")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(BundleError::io("create a temporary file in", &dir))?;
    let file = temp
        .as_file()
        .try_clone()
        .map_err(BundleError::io("write", temp.path()))?;
    let (reader, writer) = io::pipe().map_err(BundleError::io("write", temp.path()))?;
    // A second thread writes the tar stream into the pipe; this one
    // compresses what comes out of it. ruzstd's encoder reads and writes
    // through `unwrap`, so both ends are wrapped to never fail: errors are
    // kept and looked at afterwards.
    let cancelled = cancel.load(Ordering::SeqCst);
    let producer = std::thread::spawn(move || produce(writer, entries, mtime, cancelled));
    let mut source = Sticky::new(reader);
    let mut sink = Hashing {
        inner: Sticky::new(BufWriter::with_capacity(256 * 1024, file)),
        hasher: Sha256::new(),
        written: 0,
    };
    ruzstd::encoding::compress(
        &mut source,
        &mut sink,
        // Stored blocks: see "Compression" in the module docs.
        ruzstd::encoding::CompressionLevel::Uncompressed,
    );
    let produced = producer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the tar writer panicked")));
    let write_error = |e: io::Error| BundleError::Io {
        action: "write",
        path: out.to_path_buf(),
        source: e,
    };
    produced.map_err(|e| match e.kind() {
        io::ErrorKind::Interrupted => BundleError::Cancelled,
        _ => write_error(e),
    })?;
    if let Some(e) = source.error.take() {
        return Err(write_error(e));
    }
    sink.inner.flush().map_err(write_error)?;
    if let Some(e) = sink.inner.error.take() {
        return Err(write_error(e));
    }
    let (size, sha) = (sink.written, format!("{:x}", sink.hasher.finalize()));
    temp.as_file().sync_all().map_err(write_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(write_error)?;
    }
    let persisted = if force {
        temp.persist(out)
    } else {
        temp.persist_noclobber(out)
    };
    persisted.map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            BundleError::Exists {
                path: out.to_path_buf(),
            }
        } else {
            write_error(e.error)
        }
    })?;
    crate::files::sync_dir(&dir).map_err(write_error)?;
    Ok((size, sha))
}

/// The tar stream, written into the pipe. A failure drops the pipe early:
/// the compressor sees the end, and the caller discards its output.
fn produce(
    writer: io::PipeWriter,
    entries: Vec<Entry>,
    mtime: u64,
    cancelled: bool,
) -> io::Result<()> {
    if cancelled {
        return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
    }
    let mut builder = tar::Builder::new(BufWriter::with_capacity(256 * 1024, writer));
    builder.mode(tar::HeaderMode::Deterministic);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        match entry.source {
            Source::Bytes(bytes) => {
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, &entry.name, bytes.as_slice())?;
            }
            Source::File(path) => {
                let file = fs_err::File::open(&path)?;
                header.set_size(file.metadata()?.len());
                builder.append_data(&mut header, &entry.name, file)?;
            }
        }
    }
    builder.into_inner()?.flush()
}

/// A reader or writer that never fails: the first error is kept, and the
/// stream then looks ended (reading) or bottomless (writing).
struct Sticky<T> {
    inner: T,
    error: Option<io::Error>,
}

impl<T> Sticky<T> {
    fn new(inner: T) -> Self {
        Sticky { inner, error: None }
    }
}

impl<R: Read> Read for Sticky<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Ok(0);
        }
        loop {
            match self.inner.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e);
                    return Ok(0);
                }
            }
        }
    }
}

impl<W: Write> Write for Sticky<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.error.is_none()
            && let Err(e) = self.inner.write_all(buf)
        {
            self.error = Some(e);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.inner.flush(),
        }
    }
}

/// Counts and hashes what passes through, so the bundle's digest costs no
/// second read.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
