//! Installing pinned packages into a prefix: fetch (verified), extract into
//! the package cache, link, record in `conda-meta/`.
//!
//! The order, and why each step is safe to repeat:
//!
//! 1. Read what `conda-meta/*.json` says is installed. A package whose
//!    record has the wanted sha256 is left alone.
//! 2. Fetch every other archive through [`crate::fetch`] into
//!    `cache/downloads/<sha256>`: verified against the lock's sha256 before
//!    anything reads it (a mismatch is refused and names the file), resumed
//!    after an interruption, free when it is already there.
//! 3. Extract each archive once into `cache/conda-pkgs/<name-version-build>/`
//!    (rattler's package cache, with its own locks), and check that its
//!    `info/index.json` is the package the lock names. A package linked
//!    again because its files were damaged has its cache entry checked
//!    byte for byte first: prefixes hard-link from the cache, so a file
//!    changed in place in a prefix is changed in the cache too; such an
//!    entry is extracted again from the verified archive.
//! 4. Link: rattler's installer unlinks what is removed or changed (by the
//!    `paths` of its `conda-meta` record), links what is new (hard links
//!    from the package cache where it can, copies where a file embeds the
//!    prefix), and writes each package's `conda-meta/<dist>.json` by atomic
//!    rename *after* its files are in place.
//! 5. Append to `conda-meta/history` (rewritten whole, by atomic rename).
//!
//! So a prefix killed half-way through step 4 holds packages whose record is
//! missing (their files are overwritten on the next run) or present
//! (complete): running [`install`] again converges. Nothing is written
//! outside the prefix except the two caches.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use rattler::install::Installer;
use rattler::package_cache::{CacheKey, PackageCache};
use rattler_conda_types::package::{
    CondaArchiveIdentifier, CondaArchiveType, DistArchiveIdentifier, IndexJson, PackageFile,
};
use rattler_conda_types::{
    MatchSpec, PackageName, PackageRecord, ParseStrictness, PrefixRecord, RepoDataRecord,
};
use rattler_digest::{Md5, Sha256};
use url::Url;

use super::channels::{Mirror, apply};
use super::locked::{LockedCondaPackage, PackageChange, Platform, diff};
use super::{CondaCache, CondaError, runtime, to_hex};
use crate::fetch;

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallOptions<'a> {
    pub platform: Platform,
    /// Applied to each package's URL before it is fetched.
    pub mirrors: &'a [Mirror],
    /// Network policy, retries, offline (shared with every other download).
    pub fetch: fetch::Options,
    /// The specs the user asked for, recorded in `conda-meta` (conda's
    /// `requested_spec`) and in `conda-meta/history`.
    pub requested_specs: &'a [String],
    /// Packages to unlink and link again even though their record matches
    /// (a repair, after [`check`](super::check) found damage).
    pub reinstall: &'a [String],
    /// What `conda-meta/history` says made the change (`beep-python apply`).
    pub command: &'a str,
}

/// What an install changed, package by package (empty: nothing to do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    pub changes: Vec<PackageChange>,
    /// Packages that were unlinked and linked again unchanged.
    pub reinstalled: Vec<String>,
}

impl InstallReport {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.reinstalled.is_empty()
    }
}

/// Makes `prefix` hold exactly `packages`: creates it (its parent must
/// exist; the prefix itself may be an empty folder), adds, removes and
/// changes packages in place. Idempotent: a second call changes nothing and
/// a call after an interrupted one completes it.
///
/// Writes only inside `prefix` and `cache`. `cancel` is honoured between
/// downloads and before linking starts; linking, once started, runs to the
/// end (a prefix is never left half-linked by a cancel).
pub fn install(
    prefix: &Path,
    packages: &[LockedCondaPackage],
    options: &InstallOptions<'_>,
    cache: &CondaCache,
    progress: &dyn fetch::Progress,
    cancel: &AtomicBool,
) -> Result<InstallReport, CondaError> {
    let mut names = HashSet::new();
    for package in packages {
        package.validate()?;
        if !names.insert(package.name.as_str()) {
            return Err(CondaError::DuplicatePackage {
                name: package.name.clone(),
            });
        }
    }
    let reinstall: BTreeSet<&str> = options.reinstall.iter().map(String::as_str).collect();
    for name in &reinstall {
        if !names.contains(name) {
            return Err(CondaError::UnknownReinstall {
                name: (*name).to_owned(),
            });
        }
    }
    let requested_specs = options
        .requested_specs
        .iter()
        .map(|text| {
            MatchSpec::from_str(text, ParseStrictness::Lenient).map_err(|e| {
                CondaError::InvalidSpec {
                    spec: text.clone(),
                    reason: e.to_string(),
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    ensure_prefix_is_ours(prefix)?;
    let installed = read_records(prefix)?;
    let installed_by_name: HashMap<&str, &PrefixRecord> = installed
        .iter()
        .map(|r| (r.repodata_record.package_record.name.as_normalized(), r))
        .collect();
    let before: Vec<LockedCondaPackage> = installed.iter().map(locked_from_prefix_record).collect();
    let changes = diff(&before, packages);
    if changes.is_empty() && reinstall.is_empty() {
        return Ok(InstallReport::default());
    }

    let package_cache = PackageCache::new(&cache.packages);
    // A package linked again because its files were damaged may have been
    // damaged through a hard link: the same bytes are in the package cache.
    // Its cache entry is checked file by file (sha256) and extracted again
    // from the verified archive if anything differs.
    let checked_cache = PackageCache::new_layered(
        std::iter::once(cache.packages.clone()),
        false,
        rattler::validation::ValidationMode::Full,
    );
    let downloads = fetch::Cache::new(&cache.downloads);
    let mut records = Vec::with_capacity(packages.len());
    let mut extracting = Vec::new();
    for package in packages {
        let again = reinstall.contains(package.name.as_str());
        if !again
            && let Some(record) = installed_by_name.get(package.name.as_str())
            && same_content(record, package)
        {
            records.push(record.repodata_record.clone());
            continue;
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(CondaError::Cancelled);
        }
        let url = apply(options.mirrors, &parse_url(package)?);
        let archive = fetch::fetch(
            url.as_str(),
            &package.sha256,
            &downloads,
            &options.fetch,
            progress,
            cancel,
        )
        .map_err(|source| match source {
            fetch::FetchError::Cancelled { .. } => CondaError::Cancelled,
            source => CondaError::Fetch {
                file: package.file_name.clone(),
                source,
            },
        })?;
        let cache = if again {
            &checked_cache
        } else {
            &package_cache
        };
        extracting.push((package, extract(cache, package, archive)?));
    }
    for (package, task) in extracting {
        let directory = runtime::block_on(
            async {
                task.await.map_err(|e| CondaError::Extract {
                    file: package.file_name.clone(),
                    reason: e.to_string(),
                })?
            },
            cancel,
        )?;
        records.push(record_from_cache(package, &directory)?);
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(CondaError::Cancelled);
    }

    let reinstall_names = reinstall
        .iter()
        .map(|n| PackageName::from_str(n))
        .collect::<Result<HashSet<_>, _>>()
        .map_err(|e| CondaError::Solver {
            message: e.to_string(),
        })?;
    let installer = Installer::new()
        .with_package_cache(package_cache)
        .with_target_platform(options.platform.0)
        .with_installed_packages(installed.clone())
        .with_reinstall_packages(reinstall_names)
        .with_requested_specs(requested_specs)
        .with_execute_link_scripts(false)
        .with_reporter(CrashPoints);
    runtime::block_on_uncancelled(async {
        installer
            .install(prefix, records)
            .await
            .map_err(|source| CondaError::Install {
                prefix: prefix.to_owned(),
                source: Box::new(source),
            })
    })?;
    let report = InstallReport {
        changes,
        reinstalled: reinstall.iter().map(|n| (*n).to_owned()).collect(),
    };
    append_history(prefix, &report, options)?;
    Ok(report)
}

/// [`install`] into a prefix that must already be a conda environment (it
/// has `conda-meta/`): the in-place, package-level update.
pub fn update(
    prefix: &Path,
    packages: &[LockedCondaPackage],
    options: &InstallOptions<'_>,
    cache: &CondaCache,
    progress: &dyn fetch::Progress,
    cancel: &AtomicBool,
) -> Result<InstallReport, CondaError> {
    if !prefix.join("conda-meta").is_dir() {
        return Err(CondaError::NotAnEnvironment {
            prefix: prefix.to_owned(),
        });
    }
    install(prefix, packages, options, cache, progress, cancel)
}

/// Refuses a prefix whose parent is missing (the caller creates and claims
/// folders; [`install`] never creates anything above the prefix) and a
/// folder that holds something other than a conda environment or our own
/// marker files (never link over user data).
fn ensure_prefix_is_ours(prefix: &Path) -> Result<(), CondaError> {
    let parent = prefix.parent().filter(|p| !p.as_os_str().is_empty());
    if !parent.is_some_and(Path::is_dir) {
        return Err(CondaError::PrefixParentMissing {
            prefix: prefix.to_owned(),
        });
    }
    let entries = match fs_err::read_dir(prefix) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CondaError::Io(e)),
    };
    if prefix.join("conda-meta").is_dir() {
        return Ok(());
    }
    for entry in entries {
        let entry = entry.map_err(CondaError::Io)?;
        // Our marker and claim, and what an apply set aside inside a mount
        // point, are not user files.
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(".beep-python")
            && !crate::files::is_reserved_name(&name)
        {
            return Err(CondaError::NotEmpty {
                prefix: prefix.to_owned(),
                found: entry.file_name().to_string_lossy().into_owned(),
            });
        }
    }
    Ok(())
}

/// Every `conda-meta/*.json` record of `prefix` (none if it has no
/// `conda-meta/`).
pub(super) fn read_records(prefix: &Path) -> Result<Vec<PrefixRecord>, CondaError> {
    PrefixRecord::collect_from_prefix::<PrefixRecord>(prefix).map_err(|source| {
        CondaError::ReadMeta {
            path: prefix.join("conda-meta"),
            source,
        }
    })
}

/// What a record says, as a lock entry (an empty sha256 if the record has
/// none: it then differs from every lock entry).
pub(super) fn locked_from_prefix_record(record: &PrefixRecord) -> LockedCondaPackage {
    let r = &record.repodata_record;
    let p = &r.package_record;
    LockedCondaPackage {
        name: p.name.as_normalized().to_owned(),
        version: p.version.to_string(),
        build: p.build.to_string(),
        subdir: p.subdir.clone(),
        channel: r.channel.clone().unwrap_or_default(),
        file_name: r.identifier.to_string(),
        url: r.url.to_string(),
        sha256: p.sha256.map(|s| to_hex(&s)).unwrap_or_default(),
        md5: p.md5.map(|m| to_hex(&m)),
        size: p.size,
    }
}

fn same_content(record: &PrefixRecord, package: &LockedCondaPackage) -> bool {
    record
        .repodata_record
        .package_record
        .sha256
        .is_some_and(|s| to_hex(&s).eq_ignore_ascii_case(&package.sha256))
}

fn parse_url(package: &LockedCondaPackage) -> Result<Url, CondaError> {
    Url::parse(&package.url).map_err(|e| CondaError::InvalidLockedPackage {
        package: package.dist_name(),
        field: "url",
        reason: e.to_string(),
    })
}

type Extraction = tokio::task::JoinHandle<Result<PathBuf, CondaError>>;

/// Starts extracting the verified `archive` into the package cache (or
/// finds it there), on the conda runtime; the caller goes on fetching.
fn extract(
    cache: &PackageCache,
    package: &LockedCondaPackage,
    archive: PathBuf,
) -> Result<Extraction, CondaError> {
    let identifier =
        CondaArchiveIdentifier::try_from_filename(&package.file_name).ok_or_else(|| {
            CondaError::InvalidLockedPackage {
                package: package.dist_name(),
                field: "file-name",
                reason: "not a conda archive name".to_owned(),
            }
        })?;
    let archive_type = identifier.archive_type;
    let sha256 = rattler_digest::parse_digest_from_hex::<Sha256>(&package.sha256);
    let md5 = package
        .md5
        .as_deref()
        .and_then(rattler_digest::parse_digest_from_hex::<Md5>);
    let key = CacheKey::from(identifier)
        .with_opt_sha256(sha256)
        .with_opt_md5(md5);
    let cache = cache.clone();
    let file = package.file_name.clone();
    Ok(runtime::runtime()?.spawn(async move {
        let metadata = cache
            .get_or_fetch(
                key,
                move |destination| {
                    let archive = archive.clone();
                    async move {
                        let result = match archive_type {
                            CondaArchiveType::Conda => {
                                rattler_package_streaming::tokio::fs::extract_conda(
                                    &archive,
                                    &destination,
                                )
                                .await
                            }
                            CondaArchiveType::TarBz2 => {
                                rattler_package_streaming::tokio::fs::extract_tar_bz2(
                                    &archive,
                                    &destination,
                                )
                                .await
                            }
                        }?;
                        Ok::<_, rattler_package_streaming::ExtractError>(Some(result.sha256))
                    }
                },
                None,
            )
            .await
            .map_err(|e| CondaError::Extract {
                file: file.clone(),
                reason: error_chain(&e),
            })?;
        Ok(metadata.path().to_owned())
    }))
}

/// The repodata record of `package` from its own `info/index.json`, after
/// checking that the archive is the package the lock names.
fn record_from_cache(
    package: &LockedCondaPackage,
    directory: &Path,
) -> Result<RepoDataRecord, CondaError> {
    let index = IndexJson::from_package_directory(directory).map_err(|e| CondaError::Extract {
        file: package.file_name.clone(),
        reason: format!("its `info/index.json` is unreadable: {e}"),
    })?;
    let found = (
        index.name.as_normalized().to_owned(),
        index.version.to_string(),
        index.build.to_string(),
    );
    if found
        != (
            package.name.clone(),
            package.version.clone(),
            package.build.clone(),
        )
    {
        return Err(CondaError::PackageMismatch {
            file: package.file_name.clone(),
            expected: package.dist_name(),
            found: format!("{}-{}-{}", found.0, found.1, found.2),
        });
    }
    let sha256 = rattler_digest::parse_digest_from_hex::<Sha256>(&package.sha256);
    let md5 = package
        .md5
        .as_deref()
        .and_then(rattler_digest::parse_digest_from_hex::<Md5>);
    let package_record: PackageRecord =
        PackageRecord::from_index_json(index, package.size, sha256, md5).map_err(|e| {
            CondaError::Extract {
                file: package.file_name.clone(),
                reason: e.to_string(),
            }
        })?;
    let identifier = DistArchiveIdentifier::from_str(&package.file_name).map_err(|e| {
        CondaError::InvalidLockedPackage {
            package: package.dist_name(),
            field: "file-name",
            reason: e.to_string(),
        }
    })?;
    Ok(RepoDataRecord {
        package_record,
        identifier,
        url: parse_url(package)?,
        channel: (!package.channel.is_empty()).then(|| package.channel.clone()),
    })
}

/// A crash point after each package rattler links or unlinks (see
/// [`crate::failpoint::crash_point`]): the crash tests kill the process
/// with some packages linked and others not, or half-way through one
/// (packages are linked in parallel).
struct CrashPoints;

impl rattler::install::Reporter for CrashPoints {
    fn on_transaction_start(
        &self,
        _transaction: &rattler::install::Transaction<PrefixRecord, RepoDataRecord>,
    ) {
    }
    fn on_transaction_operation_start(&self, _operation: usize) {}
    fn on_populate_cache_start(&self, _operation: usize, _record: &RepoDataRecord) -> usize {
        0
    }
    fn on_validate_start(&self, _cache_entry: usize) -> usize {
        0
    }
    fn on_validate_complete(&self, _validate_idx: usize) {}
    fn on_download_start(&self, _cache_entry: usize) -> usize {
        0
    }
    fn on_download_progress(&self, _download_idx: usize, _progress: u64, _total: Option<u64>) {}
    fn on_download_completed(&self, _download_idx: usize) {}
    fn on_populate_cache_complete(&self, _cache_entry: usize) {}
    fn on_unlink_start(&self, _operation: usize, _record: &PrefixRecord) -> usize {
        0
    }
    fn on_unlink_complete(&self, _index: usize) {
        crate::failpoint::crash_point("conda-unlinked-package");
    }
    fn on_link_start(&self, _operation: usize, _record: &RepoDataRecord) -> usize {
        0
    }
    fn on_link_complete(&self, _index: usize) {
        crate::failpoint::crash_point("conda-linked-package");
    }
    fn on_transaction_operation_complete(&self, _operation: usize) {}
    fn on_transaction_complete(&self) {}
    fn on_post_link_start(&self, _package_name: &str, _script_path: &str) -> usize {
        0
    }
    fn on_post_link_complete(&self, _index: usize, _success: bool) {}
    fn on_pre_unlink_start(&self, _package_name: &str, _script_path: &str) -> usize {
        0
    }
    fn on_pre_unlink_complete(&self, _index: usize, _success: bool) {}
}

/// Appends one entry in conda's format, so that `conda list --revisions`
/// reads it:
///
/// ```text
/// ==> 2024-05-01 10:00:00 <==
/// # cmd: beep-python apply
/// -<channel>::<name-version-build>
/// +<channel>::<name-version-build>
/// # update specs: ["python 3.11.*"]
/// ```
fn append_history(
    prefix: &Path,
    report: &InstallReport,
    options: &InstallOptions<'_>,
) -> Result<(), CondaError> {
    let path = prefix.join("conda-meta").join("history");
    let mut text = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CondaError::Io(e)),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        // A torn last line (should never happen: the file is only ever
        // renamed into place) stays its own line.
        text.push('\n');
    }
    let now = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S");
    text.push_str(&format!("==> {now} <==\n# cmd: {}\n", options.command));
    let dist = |p: &LockedCondaPackage| {
        format!(
            "{}/{}::{}",
            p.channel.trim_end_matches('/'),
            p.subdir,
            p.dist_name()
        )
    };
    for change in &report.changes {
        match change {
            PackageChange::Add { package } => text.push_str(&format!("+{}\n", dist(package))),
            PackageChange::Remove { package } => text.push_str(&format!("-{}\n", dist(package))),
            PackageChange::Change { from, to } => {
                text.push_str(&format!("-{}\n+{}\n", dist(from), dist(to)));
            }
        }
    }
    for name in &report.reinstalled {
        text.push_str(&format!("# reinstalled: {name}\n"));
    }
    let specs = serde_json::to_string(options.requested_specs).unwrap_or_default();
    text.push_str(&format!("# update specs: {specs}\n"));
    crate::venv::write_atomic(&path, text.as_bytes(), false, true).map_err(CondaError::Io)
}

/// An error and its sources on one line: rattler's errors put the useful
/// part (which file, which digest) in the sources.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
