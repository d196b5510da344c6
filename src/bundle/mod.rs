//! Bundles: one file that rebuilds a manifest's runtimes and environments
//! with no network and no index (`bundle create`, `bundle verify`,
//! `apply --bundle`).
//!
//! A bundle is a tar stream in one zstd frame (see "Compression" below),
//! holding:
//!
//! ```text
//! bundle.json           what is inside: format version, platforms, each artifact with its sha256
//! SHA256SUMS            `sha256sum -c` format, every other file
//! RESTORE.md            the steps to rebuild, for a person
//! beep-python.toml      the manifest
//! beep-python.lock      its lock (it must match the manifest)
//! inputs/<n>-<file>     each environment's `pylock` file (part of the lock's inputs)
//! runtimes/<file>       every interpreter archive the lock names, per platform asked for
//! wheels/<file>         per locked package, its wheel for each platform (by the lock's file name)
//! conda/<file>          every conda package the lock pins (by the lock's file name)
//! ```
//!
//! Invariants:
//!
//! - Which artifacts: for each pin, the wheel the native installer picks
//!   ([`crate::wheel::best_file`]) among the artifacts the lock lists
//!   (`files`), for the environment's Python on every platform the bundle
//!   is for (this machine and each `--platform`); stored under the lock's
//!   file name. A lock from before `files` gives one artifact per pin.
//! - Every artifact is found by its sha256 and verified before it goes in
//!   ([`ArtifactSources`]): the download cache, the manifest's `find-links`
//!   folders (hashed here), or the lock's `url` (through the download
//!   cache, [`crate::fetch`]). A pin with no artifact anywhere, or with no
//!   listed wheel for one of the platforms, is an error naming it; nothing
//!   is written then.
//! - Reading a bundle ([`open`]) goes through [`crate::archive`]'s safe
//!   extraction, then checks it whole before anything uses it: every file
//!   listed in `SHA256SUMS` with that digest and nothing unlisted, a known
//!   `bundle.json`, a lock that parses, a manifest that validates where it
//!   will be (its `find-links` folders may be missing: see below), every
//!   artifact's sha256 one the lock names, and every locked package and
//!   runtime present. A failure names the file. `apply --bundle` also
//!   checks, before anything changes, that this machine's interpreter
//!   build and each pin's wheel for this machine are inside
//!   ([`Opened::platform_gaps`], [`Opened::wheel_gaps`]).
//! - `apply --bundle` matches artifacts by sha256 only. Interpreter
//!   archives and wheels go into the content-addressed download cache
//!   (`<home>/cache/downloads/<sha256>`), which provisioning and the
//!   native installer consult before anything else; the extracted
//!   `wheels/` folder is the only `find-links` and the index is off; the
//!   manifest's local `find-links` folders that do not exist on this
//!   machine are made, holding the bundle's wheels
//!   ([`Opened::restore_find_links`]), so the restored project validates
//!   and later runs of `apply --locked` need neither the bundle nor a
//!   network.
//! - The manifest's `pylock` files are part of the lock's inputs, so they
//!   travel too (`inputs/`) and are put back where the manifest names them.
//!   `apply --bundle` writes the manifest, the lock and these files only
//!   where no file is; one that exists with other bytes is refused before
//!   anything is written.
//! - Conda packages: each one the lock pins (one platform's: a lock pins
//!   its conda environments for the platform it was made on), found by
//!   its sha256 in the download cache or fetched from its url (a folder
//!   channel's `file://` URL, or `https://` through the manifest's conda
//!   mirrors), into `conda/<file>` and [`Index::conda`], with the channel
//!   as the manifest writes it. Opening checks each like a wheel (listed,
//!   its digest, one the lock pins under that file name) and that none the
//!   lock pins is missing; `apply --bundle` refuses a conda platform other
//!   than this machine's ([`Opened::conda_gaps`]), links the packages into
//!   the download cache by sha256 ([`Opened::import_conda`]), where the
//!   locked conda install finds them before it looks at a url (the lock's
//!   `file://` URLs name folders of the machine the bundle was made on),
//!   and remakes each folder channel the manifest names that is missing
//!   here, holding the bundle's packages from it and a `repodata.json`
//!   ([`Opened::restore_conda_channels`]): the restored manifest validates
//!   and solves as where it was made. A bundle holding conda packages is
//!   format 2 ([`BUNDLE_VERSION`]); one without stays format 1.
//! - The bundle file is written to a temporary file beside `--out` and
//!   renamed into place; an existing file is replaced only with `--force`.
//!
//! # Compression
//!
//! A zstd frame of stored blocks, written by ruzstd (pure Rust, already
//! the decoder; no new dependency), readable by `zstd -d` and `tar
//! --zstd`. What a bundle holds is already compressed (wheels are zips,
//! interpreter archives tar.gz), so compressing it again gains about 1 %
//! and costs time. Measured by `bench/bundle.sh` (a 32 MB interpreter
//! archive and 100 MB of wheels, 2 cores): stored blocks 0.6 s and 137 MB;
//! ruzstd's `Fastest` level 6.1 s and 136 MB; the C zstd (`tar | zstd -1`
//! and `-3`, one thread) 0.4-0.7 s and 136 MB. The C library would save
//! that 1 % at the same speed, for a C build dependency; ruzstd's
//! compressing level would save it at ten times the time.

mod artifacts;
mod create;
mod open;
mod restore;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use artifacts::{ArtifactSources, Found, Lookup, sha256_file, url_file_name};
pub use create::{CreateRequest, Created, create};
pub use open::{Opened, open};

/// The newest format of `bundle.json` this program reads. A bundle is
/// written as format 1 unless it carries conda packages (format 2), so that
/// a beep-python that does not know to restore them refuses it up front
/// instead of failing half-way for want of a channel.
pub const BUNDLE_VERSION: u32 = 2;

/// The format of a bundle that carries no conda package.
const BUNDLE_VERSION_WITHOUT_CONDA: u32 = 1;

/// What is inside, with the sha256 of every artifact.
pub const INDEX_FILE: &str = "bundle.json";
/// Every file's sha256, in `sha256sum -c` format.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// The steps to rebuild, for a person.
pub const RESTORE_FILE: &str = "RESTORE.md";
/// The folder of interpreter archives inside a bundle.
pub const RUNTIMES_DIR: &str = "runtimes";
/// The folder of wheels (and other package artifacts) inside a bundle.
pub const WHEELS_DIR: &str = "wheels";
/// The folder of conda packages inside a bundle.
pub const CONDA_DIR: &str = "conda";
/// The folder of the manifest's other input files (`pylock`) inside a
/// bundle.
pub const INPUTS_DIR: &str = "inputs";

/// The implementation wheels are chosen for: the lock does not record an
/// environment's, and the runtimes beep-python provisions are CPython.
const IMPLEMENTATION: &str = "cpython";

/// `bundle.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub format_version: u32,
    /// `beep-python <version>`.
    pub created_by: String,
    pub created_at: jiff::Timestamp,
    /// The `os-arch-libc` platforms whose interpreter builds are inside.
    pub platforms: Vec<String>,
    pub runtimes: Vec<RuntimeArtifact>,
    pub wheels: Vec<WheelArtifact>,
    /// Files the manifest names that the lock's inputs hash covers
    /// (`pylock`); absent from bundles made before they were carried.
    #[serde(default)]
    pub inputs: Vec<InputFile>,
    /// The conda packages the lock pins (format 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conda: Vec<CondaArtifact>,
}

/// One conda package archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CondaArtifact {
    /// Its path inside the bundle (`conda/<file>`, the lock's file name).
    pub file: String,
    pub sha256: String,
    /// `name-version-build`.
    pub dist: String,
    /// `noarch`, `linux-64`, ...
    pub subdir: String,
    /// Its channel as the manifest writes it (`./channel`, `conda-forge`),
    /// else the channel URL the lock records: a folder channel missing
    /// where the bundle is restored is made again from these packages.
    pub channel: String,
    /// The environments that pin it.
    pub environments: Vec<String>,
}

/// A file the manifest names, put back where it names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// As the manifest writes it (relative to the manifest's folder, or
    /// absolute).
    pub path: String,
    /// Its path inside the bundle (`inputs/<n>-<file>`).
    pub file: String,
    pub sha256: String,
}

/// One interpreter archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeArtifact {
    /// The runtime's name in the manifest.
    pub name: String,
    pub version: String,
    /// The platform it is built for; empty for a `url` runtime, whose one
    /// archive serves every platform it runs on.
    pub platform: String,
    /// Its path inside the bundle (`runtimes/<file>`).
    pub file: String,
    pub sha256: String,
    /// Where it was downloaded from (before any mirror).
    pub url: String,
}

/// One package artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WheelArtifact {
    /// Its path inside the bundle (`wheels/<file>`).
    pub file: String,
    pub sha256: String,
    /// The normalized package name and version it is for.
    pub name: String,
    pub version: String,
    /// The environments that pin it.
    pub environments: Vec<String>,
}

/// Why a bundle cannot be made, read or applied.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BundleError {
    #[error("cannot {action} `{}`", path.display())]
    #[diagnostic(code("bundle::io"))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` already exists", path.display())]
    #[diagnostic(
        code("bundle::exists"),
        help("nothing was written; pass `--force` to replace it, or `--out` another file")
    )]
    Exists { path: PathBuf },

    #[error("`{}` does not exist; a bundle is made from the locked manifest", path.display())]
    #[diagnostic(
        code("bundle::no-lock"),
        help("run `beep-python lock` first, then `beep-python bundle create`")
    )]
    NoLock { path: PathBuf },

    #[error("beep-python.lock pins {} without a hash: {}", pins.len(), pins.join(", "))]
    #[diagnostic(
        code("bundle::unhashed"),
        help(
            "a bundle matches every artifact by its sha256: run `beep-python lock` to complete the hashes"
        )
    )]
    Unhashed { pins: Vec<String> },

    #[error("no artifact found for {}:\n{}", if missing.len() == 1 { "one pin".to_string() } else { format!("{} pins", missing.len()) }, missing.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(
        code("bundle::missing-artifact"),
        help(
            "nothing was written; an artifact is found by its sha256 in the download cache or in the manifest's `find-links` folders, or by the lock's `url` (a conda package: its channel, folder or `https://`): add the folder that holds it to `settings.find-links`, make its channel reachable, or run `beep-python lock` again, which records every artifact with its url (uv lists the wheels of every platform)"
        )
    )]
    Missing { missing: Vec<String> },

    #[error("`{}` is not a beep-python bundle: {reason}", path.display())]
    #[diagnostic(
        code("bundle::not-a-bundle"),
        help("a bundle is the `.tar.zst` file `beep-python bundle create` writes")
    )]
    NotABundle { path: PathBuf, reason: String },

    #[error("`{}` was written by a newer beep-python (bundle format {version}; this one reads {BUNDLE_VERSION})", path.display())]
    #[diagnostic(
        code("bundle::newer-version"),
        help("use a beep-python at least as new as the one that made it; nothing was changed")
    )]
    NewerVersion { path: PathBuf, version: u32 },

    #[error("`{file}` in `{}` {problem}", bundle.display())]
    #[diagnostic(
        code("bundle::tampered"),
        help(
            "the bundle was damaged or altered after it was made; nothing was changed. Make it again, or copy it again from where it was made (`sha256sum` of the file should be the one `bundle create` printed)"
        )
    )]
    Tampered {
        bundle: PathBuf,
        file: String,
        problem: String,
    },

    #[error("the bundle `{}` lacks {}:\n{}", bundle.display(), if missing.len() == 1 { "one artifact".to_string() } else { format!("{} artifacts", missing.len()) }, missing.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(
        code("bundle::incomplete"),
        help(
            "nothing was changed; make the bundle again on a machine where `beep-python apply --locked` works{}", platform_hint.as_deref().unwrap_or("")
        )
    )]
    Incomplete {
        bundle: PathBuf,
        missing: Vec<String>,
        platform_hint: Option<String>,
    },

    #[error("`{}` differs from the bundle's `{file}`", path.display())]
    #[diagnostic(
        code("bundle::project-differs"),
        help(
            "nothing was changed; run `apply --bundle` in an empty folder (it writes the bundle's manifest and lock there), or pass `--manifest` with a path where no manifest is yet"
        )
    )]
    ProjectDiffers { path: PathBuf, file: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Archive(#[from] crate::archive::ArchiveError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] crate::fetch::FetchError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Catalog(#[from] crate::provision::catalog::CatalogError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Platform(#[from] crate::provision::platform::PlatformError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] crate::lockfile::LockError),

    #[error("the bundle's manifest is invalid:\n{}", rendered)]
    #[diagnostic(
        code("bundle::invalid-manifest"),
        help("the bundle was made by another beep-python, or altered; nothing was changed")
    )]
    InvalidManifest { rendered: String },

    #[error("`{}` is where the manifest's conda channel goes, and it is not a folder", path.display())]
    #[diagnostic(
        code("bundle::channel-in-the-way"),
        help(
            "nothing was changed; move that file away (`apply --bundle` makes the channel there from the bundle's packages), or apply the bundle in another folder"
        )
    )]
    ChannelInTheWay { path: PathBuf },

    #[error("cannot make the conda channel `{}` from the bundle's packages", path.display())]
    #[diagnostic(code("bundle::conda-channel"))]
    CondaChannel {
        path: PathBuf,
        #[source]
        #[diagnostic_source]
        source: crate::conda::CondaError,
    },

    #[error("making the bundle was cancelled; nothing was written")]
    #[diagnostic(code("bundle::cancelled"))]
    Cancelled,
}

impl BundleError {
    fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| BundleError::Io {
            action,
            path,
            source,
        }
    }
}

/// `name==version` of the pins of `lock` that carry no hash, sorted.
pub fn unhashed_pins(lock: &crate::lockfile::Lock) -> Vec<String> {
    let mut pins: Vec<String> = lock
        .environments
        .iter()
        .flat_map(|(env, e)| {
            e.packages
                .iter()
                .filter(|p| p.hashes.is_empty())
                .map(move |p| format!("`{}=={}` (env.{env})", p.name, p.version))
        })
        .collect();
    pins.sort();
    pins
}

/// Whether a `SHA256SUMS` path is one a bundle may hold: relative, plain
/// components, forward slashes.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['\\', '\0']))
}
