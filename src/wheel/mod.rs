//! The native wheel installer: locked pins into an environment without pip
//! or uv (the binary distribution format, PEP 427 / PEP 491; installed
//! distributions, PEP 376 / PEP 627; direct URLs, PEP 610).
//!
//! ```text
//! pins --artifact--> verified wheel --unpack--> <cache>/unpacked/<sha256>/
//!      --(bytecode)--> --link--> environment (+ scripts, INSTALLER, REQUESTED, RECORD)
//! ```
//!
//! # Cache layout
//!
//! ```text
//! <home>/cache/downloads/<sha256>          the wheel, verified (crate::fetch owns it)
//! <home>/cache/unpacked/<sha256>/
//!     wheel.json                           every file: RECORD hash, size, mtime, mode
//!     tree/<paths as in the wheel>         the files, checked against the wheel's RECORD
//!     bytecode-cpython-312.json            the .pyc files compiled for one interpreter
//!     tree/**/__pycache__/*.cpython-312.pyc
//! ```
//!
//! - **Artifacts** ([`artifact`]): a pin names its distribution, version,
//!   sha256 digests and, where the lock knows it, a URL or file name. An
//!   already unpacked entry for one of the digests is used as it is (no
//!   wheel needed); else the download cache, else a `find-links` folder
//!   (the pin's version of the package, the best fitting file whose sha256
//!   is the pin's), else the URL through [`crate::fetch`] into
//!   `cache/downloads/<sha256>`. Pins are prepared in parallel, bounded by
//!   [`Options::jobs`] (and unpacking by the cores: on slow disks creating
//!   files gets slower with more at once).
//! - **Unpacking** ([`unpack`]): once per wheel, into a temporary folder
//!   renamed into place, so concurrent installers of the same wheel are
//!   safe. Every file is hashed while written and compared with the wheel's
//!   `RECORD` (the spec's MUST); a mismatch names the file. Packages known to
//!   ship wrong `RECORD`s are listed in [`Options::unverified_record`]: their
//!   wheels are still verified by the lock's sha256. Entry names follow
//!   [`crate::archive`]'s rule (no absolute paths, `..`, backslashes; no
//!   duplicates; symlink entries become plain files).
//! - **Linking** ([`link`]): reflink where the file system can (`FICLONE`
//!   on Linux, `clonefile` on macOS), else hard link, else copy
//!   ([`LinkPolicy::Auto`]), probed once per pair of file systems; the mode
//!   used is in [`Report::link_mode`]. Before an entry is linked, each of its
//!   files is checked against the size and modification time recorded at
//!   unpacking: a damaged entry is discarded and unpacked again.
//! - **Installing** (`install.rs`): purelib and platlib by
//!   `Root-Is-Purelib` (both are `site-packages` in a virtual environment),
//!   the `.data/` folders (`scripts` into `bin/` with `#!python` rewritten to
//!   the environment's interpreter, `headers` into
//!   `include/site/python3.X/<name>/`, `data` into the environment's root),
//!   console and GUI entry points as launchers (a long or spaced interpreter
//!   path gets the `/bin/sh` exec form pip and uv write), `INSTALLER`
//!   (`beep-python`), `REQUESTED` for top-level requirements,
//!   `direct_url.json` exactly when PEP 610 says (the requirement named the
//!   artifact by URL: [`Pin::direct`]), and `RECORD` listing what was
//!   installed, written last: a `.dist-info` without `RECORD` is an
//!   interrupted install, which the next run redoes.
//! - **Bytecode** ([`bytecode`], [`Options::compile_bytecode`], off by
//!   default like uv): compiled once per wheel and interpreter version into
//!   the cache, then linked like the sources.
//! - **Uninstalling** ([`uninstall()`]): by `RECORD`, removing only the
//!   files it lists that no other distribution lists, and the folders left
//!   empty; so an update replaces one package in place.
//!
//! # Never write into an installed file
//!
//! A hard link shares its inode with the cache and with every environment
//! that links the same wheel. So nothing in this module ever opens an
//! existing file for writing: files are created new (`link`, `O_EXCL`), and
//! a file already at the path is replaced by creating the new one under a
//! temporary name and renaming it over ([`link`] and `venv::write_atomic`
//! are the only writers). pip and uv behave
//! the same way on upgrade (they remove, then write); a tool that edits an
//! installed file in place (an editor keeping hard links) changes the
//! cache too, which the size and modification-time check above then
//! catches.
//!
//! # Preparation changes nothing
//!
//! Every pin is resolved, downloaded, verified, unpacked (and compiled)
//! before the environment is touched, so a missing artifact, a bad
//! checksum or a `RECORD` mismatch leaves the environment as it was.

pub mod artifact;
pub mod bytecode;
mod install;
pub mod link;
pub mod record;
pub mod scripts;
pub mod tags;
mod uninstall;
pub mod unpack;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use pep440_rs::Version;

use crate::fetch;
use crate::pins::{LockedFile, LockedPackage};
use crate::venv::{BaseInterpreter, Layout, major_minor, normalize_name};

pub use install::{Installed, Report};
pub use link::{LinkMode, LinkPolicy};
pub use uninstall::{InstalledDist, Uninstalled, installed, is_environment_script, uninstall};

/// The `INSTALLER` we write.
pub const INSTALLER: &str = "beep-python";

/// One locked distribution to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// PEP 503 normalized.
    pub name: String,
    /// The exact version.
    pub version: String,
    /// Where the wheel can be downloaded (`https://`, `file://`, a path).
    pub url: Option<String>,
    /// The wheel's file name, to find it in a `find-links` folder.
    pub file: Option<String>,
    /// Acceptable sha256 digests, lowercase hex (the lock's `sha256:`
    /// prefix removed).
    pub hashes: Vec<String>,
    /// A top-level requirement of the environment (writes `REQUESTED`).
    pub requested: bool,
    /// The requirement named this artifact by URL (`name @ https://...`):
    /// PEP 610's `direct_url.json` is written. Never for artifacts found
    /// on an index or in `find-links`.
    pub direct: bool,
}

impl Pin {
    /// A pin with no URL or file name, not requested.
    pub fn new(name: &str, version: &str, hashes: Vec<String>) -> Pin {
        Pin {
            name: normalize_name(name),
            version: version.to_string(),
            url: None,
            file: None,
            hashes: hashes.iter().map(|h| plain_hex(h)).collect(),
            requested: false,
            direct: false,
        }
    }

    /// The pin of a lock entry. `requested` says whether the environment's
    /// requirements name it (the lock does not record that).
    pub fn from_locked(package: &LockedPackage, requested: bool) -> Pin {
        Pin {
            url: package.url.clone(),
            requested,
            ..Pin::new(&package.name, &package.version, package.hashes.clone())
        }
    }

    /// The pin of `package` for `target`: when the lock lists its
    /// artifacts, the best-fitting wheel among them, by name, URL and its
    /// one sha256, so a lock written on another machine still picks this
    /// machine's wheel and a download knows which hash it must have.
    pub fn for_target(package: &LockedPackage, requested: bool, target: &Target) -> Pin {
        let mut pin = Pin::from_locked(package, requested);
        let best = best_file(
            &package.files,
            &target.implementation,
            target.major_minor(),
            &tags::this_machine(),
        );
        if let Some(file) = best {
            pin.file = Some(file.name.clone());
            pin.url = file.url.clone();
            pin.hashes = vec![plain_hex(&file.sha256)];
        }
        pin
    }

    fn version_parsed(&self) -> Option<Version> {
        Version::from_str(&self.version).ok()
    }
}

/// The wheel among `files` that fits `implementation` Python `major.minor`
/// on `platform` best (the one [`Pin::for_target`] installs there), `None`
/// when none fits. `bundle create` asks it for each platform it carries.
pub fn best_file<'a>(
    files: &'a [LockedFile],
    implementation: &str,
    version: (u64, u64),
    platform: &crate::provision::platform::Platform,
) -> Option<&'a LockedFile> {
    files
        .iter()
        .filter_map(|file| {
            let fit =
                tags::WheelName::parse(&file.name)?.fit_on(implementation, version, platform)?;
            Some((fit, file))
        })
        .max_by_key(|(fit, _)| *fit)
        .map(|(_, file)| file)
}

/// `sha256:ABC` -> `abc`.
fn plain_hex(hash: &str) -> String {
    hash.strip_prefix("sha256:")
        .unwrap_or(hash)
        .to_ascii_lowercase()
}

/// The environment to install into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub layout: Layout,
    /// The interpreter's full version, `3.12.1`.
    pub version: String,
    /// `cpython`, `pypy`, ...
    pub implementation: String,
}

impl Target {
    /// The environment at `path`, made from `base`.
    pub fn new(path: &Path, base: &BaseInterpreter) -> Target {
        Target::with_layout(crate::venv::layout(path, &base.version), base)
    }

    /// The environment whose layout is `layout`, made from `base`.
    pub fn with_layout(layout: Layout, base: &BaseInterpreter) -> Target {
        Target {
            layout,
            version: base.version.clone(),
            implementation: base.implementation.clone(),
        }
    }

    fn major_minor(&self) -> (u64, u64) {
        major_minor(&self.version).unwrap_or((3, 0))
    }

    fn python(&self) -> bytecode::Python<'_> {
        bytecode::Python {
            executable: &self.layout.python,
            version: &self.version,
            implementation: &self.implementation,
        }
    }
}

/// How to install.
pub struct Options<'a> {
    /// `<home>/cache`: downloads in `downloads/`, wheels unpacked in
    /// `unpacked/`.
    pub cache_dir: PathBuf,
    /// Folders of wheels searched before URLs.
    pub find_links: Vec<PathBuf>,
    pub fetch: fetch::Options,
    /// Hears the downloads: each wheel downloaded is one transfer of it,
    /// so the parallel downloads of one install add up to one total
    /// (wheels found in the cache or a `find-links` folder are not
    /// downloaded and count for nothing).
    pub progress: &'a fetch::Aggregate<'a>,
    /// Pins prepared (downloaded, unpacked) at once: downloads wait on the
    /// network, so more than the cores pay. Linking uses up to twice the
    /// cores, whatever this says.
    pub jobs: usize,
    pub link: LinkPolicy,
    /// Compile bytecode (once per wheel and interpreter, in the cache).
    pub compile_bytecode: bool,
    /// Normalized names of packages known to ship a wrong `RECORD`: their
    /// files are not checked against it (the wheel itself still is, against
    /// the lock's sha256).
    pub unverified_record: BTreeSet<String>,
    /// Normalized names to install again even when the same version is
    /// installed (a damaged package).
    pub reinstall: BTreeSet<String>,
    /// Set by the Ctrl-C handler; checked between steps and by downloads.
    pub cancel: &'a AtomicBool,
    /// Hears what the installer is doing now, one short line at a time
    /// (`downloading alpha-1.0-py3-none-any.whl`, `unpacking ...`,
    /// `linking 3 wheels: ...`), from whichever thread does it.
    pub activity: &'a (dyn Fn(&str) + Sync),
}

/// The default [`Options::activity`]: nobody listens.
fn unheard(_: &str) {}

/// The default [`Options::progress`]: nobody listens.
static UNHEARD_DOWNLOADS: fetch::Aggregate<'static> = fetch::Aggregate::new(&|_| {});

impl<'a> Options<'a> {
    /// Defaults: no find-links, default network options, no progress,
    /// 8 `jobs` (or the cores, if more), automatic link mode, no bytecode.
    pub fn new(cache_dir: &Path, cancel: &'a AtomicBool) -> Options<'a> {
        Options {
            cache_dir: cache_dir.to_path_buf(),
            find_links: Vec::new(),
            fetch: fetch::Options::default(),
            progress: &UNHEARD_DOWNLOADS,
            jobs: std::thread::available_parallelism().map_or(8, |n| n.get().max(8)),
            link: LinkPolicy::Auto,
            compile_bytecode: false,
            unverified_record: BTreeSet::new(),
            reinstall: BTreeSet::new(),
            cancel,
            activity: &unheard,
        }
    }

    fn unpacked(&self) -> PathBuf {
        self.cache_dir.join("unpacked")
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WheelError {
    #[error(transparent)]
    #[diagnostic(code("wheel::io"))]
    Io(#[from] io::Error),

    #[error("cannot download `{package}` {version}")]
    #[diagnostic(code("wheel::fetch"))]
    Fetch {
        package: String,
        version: String,
        #[source]
        #[diagnostic_source]
        source: fetch::FetchError,
    },

    #[error("the lock gives no sha256 for `{package}` {version}")]
    #[diagnostic(
        code("wheel::no-hash"),
        help("run `beep-python lock` again: every locked package needs a sha256")
    )]
    NoHash { package: String, version: String },

    #[error("`{hash}` (for `{package}` {version}) is not a sha256 digest")]
    #[diagnostic(
        code("wheel::invalid-hash"),
        help("a digest is 64 hexadecimal characters, optionally after `sha256:`")
    )]
    InvalidHash {
        package: String,
        version: String,
        hash: String,
    },

    #[error("no wheel for `{package}` {version}: {reason}")]
    #[diagnostic(
        code("wheel::no-artifact"),
        help(
            "add a `find-links` folder that holds the wheel, or run `beep-python lock` again so that the lock records its URL"
        )
    )]
    NoArtifact {
        package: String,
        version: String,
        reason: String,
    },

    #[error("`{package}` {version} is locked to `{file}`, which is not a wheel")]
    #[diagnostic(
        code("wheel::not-a-wheel"),
        help(
            "the native installer installs wheels only; use the `uv` or `pip` installer for packages that must be built"
        )
    )]
    NotAWheel {
        package: String,
        version: String,
        file: String,
    },

    #[error("`{file}` ({package}) is not for this environment's Python {python}")]
    #[diagnostic(
        code("wheel::incompatible"),
        help("the lock was made for another interpreter or platform: run `beep-python lock` here")
    )]
    Incompatible {
        package: String,
        file: String,
        python: String,
    },

    #[error("`{wheel}` is not a valid wheel: {reason}")]
    #[diagnostic(
        code("wheel::bad-wheel"),
        help("the file is damaged or was not built as a wheel; nothing was installed")
    )]
    BadWheel { wheel: String, reason: String },

    #[error("`{wheel}` holds an unsafe entry `{entry}`: {reason}")]
    #[diagnostic(
        code("wheel::unsafe-entry"),
        help("the wheel is malformed or malicious; nothing was installed")
    )]
    Unsafe {
        wheel: String,
        entry: String,
        reason: String,
    },

    #[error("`{file}` in `{wheel}`: {reason}")]
    #[diagnostic(
        code("wheel::record-mismatch"),
        help(
            "the wheel's contents do not match its own `RECORD`: it is corrupt or was altered; nothing was installed. If `{package}` is known to ship a wrong `RECORD`, list it in the `unverified-record` setting"
        )
    )]
    RecordMismatch {
        wheel: String,
        package: String,
        file: String,
        reason: String,
    },

    #[error("`{wheel}` holds `{found}`, not the locked `{package}` {version}")]
    #[diagnostic(
        code("wheel::wrong-distribution"),
        help("the lock or the `find-links` folder is wrong: run `beep-python lock` again")
    )]
    WrongDistribution {
        wheel: String,
        package: String,
        version: String,
        found: String,
    },

    #[error("`{}` was written by a newer beep-python (format version {version})", path.display())]
    #[diagnostic(
        code("wheel::newer-cache"),
        help("upgrade beep-python, or give this one another home; nothing was changed")
    )]
    NewerCache { path: PathBuf, version: u32 },

    #[error("entry point `{script} = {target}` of `{package}` cannot be installed")]
    #[diagnostic(
        code("wheel::bad-entry-point"),
        help("the wheel's `entry_points.txt` is malformed; nothing else was changed for it")
    )]
    BadEntryPoint {
        package: String,
        script: String,
        target: String,
    },

    #[error("cannot compile bytecode with `{}`: {reason}", python.display())]
    #[diagnostic(
        code("wheel::compile"),
        help(
            "check that the environment's interpreter runs, or install without `compile-bytecode`"
        )
    )]
    Compile { python: PathBuf, reason: String },

    #[error("the installation was cancelled")]
    #[diagnostic(code("wheel::cancelled"))]
    Cancelled,
}

/// Installs `pins` into the environment: each pin whose version is not
/// already installed (or that is in [`Options::reinstall`]) replaces any
/// other version of its distribution. Distributions not pinned are left
/// alone (see [`sync`]).
pub fn install(target: &Target, pins: &[Pin], opts: &Options<'_>) -> Result<Report, WheelError> {
    run(target, pins, opts, false)
}

/// [`install`], then removes every installed distribution that no pin
/// names: the environment holds exactly the pins.
pub fn sync(target: &Target, pins: &[Pin], opts: &Options<'_>) -> Result<Report, WheelError> {
    run(target, pins, opts, true)
}

fn run(
    target: &Target,
    pins: &[Pin],
    opts: &Options<'_>,
    exact: bool,
) -> Result<Report, WheelError> {
    // Names and digests are compared and used as cache folder names: made
    // canonical, and checked, before anything else.
    let mut checked = Vec::with_capacity(pins.len());
    for pin in pins {
        let hashes: Vec<String> = pin.hashes.iter().map(|h| plain_hex(h)).collect();
        if let Some(bad) = hashes.iter().find(|h| !fetch::is_sha256(h)) {
            return Err(WheelError::InvalidHash {
                package: pin.name.clone(),
                version: pin.version.clone(),
                hash: bad.clone(),
            });
        }
        checked.push(Pin {
            name: normalize_name(&pin.name),
            hashes,
            ..pin.clone()
        });
    }
    let pins = checked.as_slice();
    let present = installed(&target.layout.site_packages);
    let same_version = |pin: &Pin, dist: &InstalledDist| {
        dist.complete
            && match (pin.version_parsed(), Version::from_str(&dist.version)) {
                (Some(a), Ok(b)) => a == b,
                _ => pin.version == dist.version,
            }
    };
    let mut unchanged = Vec::new();
    let mut todo = Vec::new();
    for pin in pins {
        let current = present.iter().find(|d| d.name == pin.name);
        match current {
            Some(dist) if same_version(pin, dist) && !opts.reinstall.contains(&pin.name) => {
                unchanged.push(pin.name.clone());
            }
            _ => todo.push(pin),
        }
    }
    let prepared = prepare(target, &todo, opts)?;
    let extra: Vec<String> = if exact {
        present
            .iter()
            .filter(|d| !pins.iter().any(|p| p.name == d.name))
            .map(|d| d.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let mut report = install::apply(target, prepared, &extra, opts)?;
    report.unchanged = unchanged;
    Ok(report)
}

/// Resolves, fetches and unpacks every pin, in parallel; nothing in the
/// environment changes.
fn prepare(
    target: &Target,
    pins: &[&Pin],
    opts: &Options<'_>,
) -> Result<Vec<install::Prepared>, WheelError> {
    let find_links = artifact::FindLinks::scan(&opts.find_links);
    let unpack_slots = Slots::new(cores());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let workers = opts.jobs.clamp(1, 16).min(pins.len().max(1));
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= pins.len() || failed.load(Ordering::SeqCst) {
                return done;
            }
            if opts.cancel.load(Ordering::SeqCst) {
                failed.store(true, Ordering::SeqCst);
                done.push((i, Err(WheelError::Cancelled)));
                return done;
            }
            let result = prepare_one(target, pins[i], opts, &find_links, &unpack_slots);
            if result.is_err() {
                failed.store(true, Ordering::SeqCst);
            }
            done.push((i, result));
        }
    };
    let mut results: Vec<(usize, Result<install::Prepared, WheelError>)> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
            let mut all = work();
            for handle in handles {
                match handle.join() {
                    Ok(done) => all.extend(done),
                    Err(_) => all.push((
                        usize::MAX,
                        Err(io::Error::other("a worker thread panicked").into()),
                    )),
                }
            }
            all
        });
    // The first failure in pin order, so the error does not depend on timing.
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// One pin: its cache entry, checked, loaded or built.
fn prepare_one(
    target: &Target,
    pin: &Pin,
    opts: &Options<'_>,
    find_links: &artifact::FindLinks,
    unpack_slots: &Slots,
) -> Result<install::Prepared, WheelError> {
    let root = opts.unpacked();
    let unverified = opts.unverified_record.contains(&pin.name);
    // An entry already unpacked needs no wheel at all.
    let mut cached = None;
    for hash in &pin.hashes {
        let entry = root.join(hash);
        if let Some(manifest) = unpack::load(&entry)? {
            cached = Some((entry, manifest, hash.clone()));
            break;
        }
    }
    let (entry, manifest, label) = match cached {
        Some((entry, manifest, _)) if unpack::damaged(&entry, &manifest).is_none() => {
            let label = artifact::file_name(pin).unwrap_or_else(|| manifest.dist_info.clone());
            (entry, manifest, label)
        }
        damaged => {
            if let Some((entry, _, _)) = damaged {
                unpack::discard(&entry)?;
            }
            let found = artifact::resolve(pin, target, opts, find_links)?;
            // Downloads wait on the network; unpacking is file creation,
            // which on slow disks gets slower, not faster, with more at once:
            // as many unpack at a time as there are cores.
            let _slot = unpack_slots.take();
            (opts.activity)(&format!("unpacking {}", found.label));
            let (entry, manifest) = unpack::ensure(
                &root,
                &found.sha256,
                &unpack::Unpack {
                    wheel: &found.path,
                    label: &found.label,
                    expect_name: Some(&pin.name),
                    unverified_record: unverified,
                    threads: 1,
                },
            )?;
            (entry, manifest, found.label)
        }
    };
    if let Some((file, reason)) = manifest.record_mismatches.first()
        && !unverified
    {
        return Err(WheelError::RecordMismatch {
            wheel: label,
            package: pin.name.clone(),
            file: file.clone(),
            reason: reason.clone(),
        });
    }
    let version_matches = match (
        pin.version_parsed(),
        Version::from_str(&manifest.dist_version),
    ) {
        (Some(a), Ok(b)) => a == b,
        _ => pin.version == manifest.dist_version,
    };
    if normalize_name(&manifest.name) != pin.name || !version_matches {
        return Err(WheelError::WrongDistribution {
            wheel: label,
            package: pin.name.clone(),
            version: pin.version.clone(),
            found: format!("{} {}", manifest.name, manifest.dist_version),
        });
    }
    let direct_url = pin.direct.then(|| {
        let url = pin.url.clone().unwrap_or_default();
        let sha256 = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        direct_url_json(&url, &sha256)
    });
    Ok(install::Prepared {
        name: pin.name.clone(),
        requested: pin.requested,
        direct_url,
        entry,
        manifest,
    })
}

/// A counting semaphore: at most `n` holders at once.
struct Slots {
    free: Mutex<usize>,
    released: Condvar,
}

/// One taken slot, given back on drop.
struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n.max(1)),
            released: Condvar::new(),
        }
    }

    fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .released
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.released.notify_one();
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// PEP 610's `direct_url.json` for an archive at `url` with `sha256`.
fn direct_url_json(url: &str, sha256: &str) -> String {
    let mut url = url.to_string();
    if !url.contains("://") {
        // A local path: PEP 610 wants a `file://` URL of the absolute path.
        if let Ok(path) = std::path::absolute(&url)
            && let Ok(file_url) = url::Url::from_file_path(path)
        {
            url = file_url.to_string();
        }
    }
    let value = serde_json::json!({
        "url": url,
        "archive_info": {
            "hash": format!("sha256={sha256}"),
            "hashes": { "sha256": sha256 },
        },
    });
    value.to_string()
}

/// Installs one local wheel (pip's seed: the wheel the base interpreter
/// bundles) through an unpacked cache entry `<unpacked>/<key>`, with
/// bytecode compiled into the cache when `compile_bytecode`.
pub fn install_local(
    target: &Target,
    wheel: &Path,
    unpacked: &Path,
    key: &str,
    compile_bytecode: bool,
) -> Result<Report, WheelError> {
    let label = wheel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let job = unpack::Unpack {
        wheel,
        label: &label,
        expect_name: None,
        unverified_record: false,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
    };
    let (mut entry, mut manifest) = unpack::ensure(unpacked, key, &job)?;
    if unpack::damaged(&entry, &manifest).is_some() {
        unpack::discard(&entry)?;
        (entry, manifest) = unpack::ensure(unpacked, key, &job)?;
    }
    let cancel = AtomicBool::new(false);
    let mut opts = Options::new(unpacked, &cancel);
    opts.compile_bytecode = compile_bytecode;
    let prepared = install::Prepared {
        name: normalize_name(&manifest.name),
        requested: true,
        direct_url: None,
        entry,
        manifest,
    };
    install::apply(target, vec![prepared], &[], &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_for_a_target_picks_the_best_fitting_locked_wheel() {
        let file = |name: &str, sha: &str| LockedFile {
            name: name.into(),
            url: Some(format!("https://files.example/{name}")),
            sha256: sha.into(),
        };
        let mut locked = LockedPackage::new("numpy", "2.0.0", vec![]);
        locked.files = vec![
            file("numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl", "11"),
            file("numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl", "12"),
            file("numpy-2.0.0-cp312-cp312-win_amd64.whl", "33"),
            file("numpy-2.0.0.tar.gz", "44"),
        ];
        locked.hashes = locked
            .files
            .iter()
            .map(|f| format!("sha256:{}", f.sha256))
            .collect();
        let base = |version: &str| BaseInterpreter {
            executable: "/nonexistent/python3".into(),
            version: version.into(),
            implementation: "cpython".into(),
        };
        let target = Target::new(Path::new("/nonexistent/env"), &base("3.12.4"));
        let pin = Pin::for_target(&locked, true, &target);
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(
                pin.file.as_deref(),
                Some("numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl")
            );
            assert_eq!(pin.hashes, vec!["12".to_string()]);
            assert!(
                pin.url
                    .as_deref()
                    .unwrap()
                    .ends_with("cp312-cp312-manylinux_2_17_x86_64.whl")
            );
        }
        // No wheel fits 3.9: every locked hash stays acceptable, and the
        // installer says which files it looked for.
        let older = Target::new(Path::new("/nonexistent/env"), &base("3.9.1"));
        let pin = Pin::for_target(&locked, true, &older);
        assert_eq!(pin.file, None);
        assert_eq!(pin.hashes.len(), 4);
    }

    #[test]
    fn pins_from_the_lock_drop_the_hash_prefix() {
        let locked = LockedPackage {
            name: "Rich".into(),
            version: "13.7.1".into(),
            url: Some("https://files.example/rich-13.7.1-py3-none-any.whl".into()),
            hashes: vec![format!("sha256:{}", "AB".repeat(32))],
            files: Vec::new(),
        };
        let pin = Pin::from_locked(&locked, true);
        assert_eq!(pin.name, "rich");
        assert_eq!(pin.hashes, vec!["ab".repeat(32)]);
        assert!(pin.requested && !pin.direct);
    }

    #[test]
    fn direct_urls_follow_pep_610() {
        let json: serde_json::Value = serde_json::from_str(&direct_url_json(
            "https://x.example/a-1.0-py3-none-any.whl",
            "00ff",
        ))
        .unwrap();
        assert_eq!(json["url"], "https://x.example/a-1.0-py3-none-any.whl");
        assert_eq!(json["archive_info"]["hashes"]["sha256"], "00ff");
        assert_eq!(json["archive_info"]["hash"], "sha256=00ff");
    }
}
