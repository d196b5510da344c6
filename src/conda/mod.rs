//! Conda environments, natively, through the rattler crates (as pixi does):
//! channels, solving, installing, updating, observing, checking and
//! activating, with no conda, mamba or micromamba on the machine.
//!
//! The API is blocking, like the rest of the program:
//!
//! - [`Channels::resolve`]: names, URLs, `file://` URLs and folders, with the
//!   settings' channel alias, default channels and mirrors;
//! - [`solve`]: match specs -> one [`LockedCondaPackage`] per name (url,
//!   sha256, md5), enough to reinstall exactly without solving;
//! - [`install`] / [`update`]: make a prefix hold exactly a set of locked
//!   packages (create, or package-level changes in place);
//! - [`diff`]: the package-level changes between two sets (for the plan);
//! - [`observe`] / [`check`]: `conda-meta/*.json` read natively, and the
//!   files checked against it;
//! - [`activation`] / [`activated_environment`]: `conda activate`, for `run`
//!   and `env`;
//! - [`requested_specs`] / [`channel_of`] / [`write_channel`]: carrying an
//!   environment elsewhere (`export`, `bundle`).
//!
//! # Decisions
//!
//! **tokio stays in here.** rattler is async (tokio); the rest of the
//! program is synchronous threads. This module owns one multi-threaded
//! runtime (two workers), created on the first conda operation, and enters
//! it only through `runtime::block_on`. A program that never touches a
//! conda environment never starts it. Moving the whole program to async
//! would buy nothing the executor needs (its parallelism is a handful of
//! steps) and would touch every module. reqwest's blocking client already
//! runs its own private runtime the same way.
//!
//! **One downloader.** Package archives are fetched by [`crate::fetch`], not
//! by rattler's client: the same network policy (`http://` only to
//! loopback), retries, resume, offline mode and cancel as every other
//! download, and a sha256 mismatch is refused before anything reads the
//! file. Repodata goes through rattler's gateway (it knows the formats:
//! `repodata.json`, compressed and sharded variants, its own cache).
//!
//! **Cache layout** (all under `<home>/cache/`, see [`CondaCache`]):
//!
//! ```text
//! downloads/<sha256>           verified archives (shared with every other download)
//! conda-pkgs/<name-ver-build>/ extracted packages (rattler's package cache, with its locks);
//!                              prefixes hard-link from here
//! conda-repodata/              repodata as rattler's gateway caches it
//! ```
//!
//! **What [`install`] writes**, all inside the prefix: the packages' files
//! (hard links from `conda-pkgs/` where the file has no prefix to replace,
//! copies otherwise), `conda-meta/<name-version-build>.json` per package
//! (rattler's `PrefixRecord`, the format `conda list -p` reads; written
//! by atomic rename after the package's files), `conda-meta/history`
//! (conda's format, rewritten by atomic rename), and `CACHEDIR.TAG` (rattler
//! marks prefixes as rebuildable, so backup tools skip them). Post-link
//! scripts of packages are not run.
//!
//! **Crash safety under the executor's journal.** The executor claims the
//! final folder, journals it, and calls [`install`] into it; on failure it
//! removes the folder; `install` writes nothing outside it (and the caches).
//! A conda prefix cannot be moved after linking (files embed its path), so
//! it is built at its final path, like a venv. Re-running [`install`] on a
//! half-linked prefix converges (check-then-act): a package whose record is
//! present is complete; one whose record is missing is linked again over
//! whatever it left. For an in-place [`update`], the journal records the
//! package set before the change: undoing is `update(prefix, before)`,
//! from the package cache, which still holds every package of `before`.
//! Cancel is honoured between downloads and before linking, never in the
//! middle of a link.
//!
//! **No cargo feature.** Measured on the dev machine (clean builds, CPU
//! seconds, user+sys, which a loaded machine does not inflate as it does
//! wall time): `cargo build --release` 336 -> 736 s; the lock file 313 ->
//! 544 packages; the release binary 15.4 -> 17.7 MB while nothing calls
//! this module, and a binary that calls all of it (`examples/conda_bench`)
//! is 27.3 MB against 3.5 MB for one that does not. CI (2 cores, ~6 of its
//! ~12 minutes building) grows by roughly the same factor in its build
//! part, to ~20 minutes, well under its 60. Measured again once the product
//! called this module (what CI builds: a clean `cargo build --tests`,
//! dev profile with dependencies at opt-level 2, `nice`, load 8-12 on the
//! 2 cores): main 907 CPU s (wall 1,490 s), with conda 1,576 CPU s (wall
//! 1,654 s, while the load fell): +669 CPU s, +74%; on an idle 2-core CI
//! machine that is roughly +5.5 minutes of wall time (CPU / 2). Peak RSS
//! of the build 1.4 -> 2.3 GB. The conda tests themselves (`cargo test
//! --test it conda`) take ~40 s. A `conda` feature would make
//! every consumer (plan, apply, lock, doctor, run, export) handle "not in
//! this build" and CI test both; since everything conda is behind this one
//! module, a default-on feature can still be added here later if the binary
//! size matters to a distributor.

mod activate;
mod carry;
mod channels;
mod install;
mod locked;
mod observe;
mod runtime;
mod solve;
mod specs;

use std::path::{Path, PathBuf};

pub use activate::{Activation, ActivationShell, activated_environment, activation};
pub use carry::{channel_of, digests_of, requested_specs, write_channel};
pub use channels::{ChannelSettings, Channels, Mirror, ResolvedChannel, apply as mirrored_url};
pub use install::{InstallOptions, InstallReport, install, update};
pub use locked::{LockedCondaPackage, PackageChange, Platform, diff};
pub use observe::{
    CheckDepth, CondaFile, CondaPython, CondaState, Damage, FileKind, ObservedConda,
    ObservedPackage, Problem, check, observe, state,
};
pub use solve::{SolveRequest, VirtualPackages, solve};
pub use specs::{python_admits, spec_name, spec_problem, unsatisfied};

/// Lowercase hex of a digest.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Where conda data is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaCache {
    /// The cache root (`<home>/cache`), for virtual-package detection.
    pub root: Option<PathBuf>,
    /// Verified archives by sha256 (the [`crate::fetch`] cache).
    pub downloads: PathBuf,
    /// Extracted packages; prefixes hard-link from here.
    pub packages: PathBuf,
    /// Repodata.
    pub repodata: PathBuf,
}

impl CondaCache {
    /// The layout under a home's cache folder (`<home>/cache`).
    pub fn in_cache_root(root: &Path) -> CondaCache {
        CondaCache {
            root: Some(root.to_owned()),
            downloads: root.join("downloads"),
            packages: root.join("conda-pkgs"),
            repodata: root.join("conda-repodata"),
        }
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CondaError {
    #[error("no conda channel is given")]
    #[diagnostic(
        code("conda::no-channels"),
        help("list `channels` in the environment, or default channels in the settings")
    )]
    NoChannels,

    #[error("`{channel}` is not a usable conda channel: {reason}")]
    #[diagnostic(
        code("conda::invalid-channel"),
        help("use a channel name (`conda-forge`), an `https://` or `file://` URL, or a folder")
    )]
    InvalidChannel { channel: String, reason: String },

    #[error("`{spec}` is not a conda match spec: {reason}")]
    #[diagnostic(
        code("conda::invalid-spec"),
        help("write a package name and an optional version: `python 3.11.*`, `numpy >=1.26`")
    )]
    InvalidSpec { spec: String, reason: String },

    #[error("`{platform}` is not a conda platform: {reason}")]
    #[diagnostic(
        code("conda::invalid-platform"),
        help("use a conda subdir such as `linux-64`, `osx-arm64` or `win-64`")
    )]
    InvalidPlatform { platform: String, reason: String },

    #[error("`{package}` is not a virtual package: {reason}")]
    #[diagnostic(
        code("conda::invalid-virtual-package"),
        help("write `__name`, `__name=version` or `__name=version=build` (`__glibc=2.36`)")
    )]
    InvalidVirtualPackage { package: String, reason: String },

    #[error("could not detect this machine's virtual packages: {reason}")]
    #[diagnostic(code("conda::virtual-packages"))]
    VirtualPackages { reason: String },

    #[error("could not load the package index of `{channels}`")]
    #[diagnostic(
        code("conda::repodata"),
        help(
            "check the channel names and URLs, and the network; offline, only repodata fetched before is available"
        )
    )]
    Repodata {
        channels: String,
        #[source]
        source: Box<rattler_repodata_gateway::GatewayError>,
    },

    #[error("the conda packages `{specs}` cannot be installed together:\n{explanation}")]
    #[diagnostic(
        code("conda::unsolvable"),
        help(
            "relax the version of a spec named above, or add a channel that has a matching build"
        )
    )]
    Unsolvable { specs: String, explanation: String },

    #[error("the conda solver failed: {message}")]
    #[diagnostic(code("conda::solver"))]
    Solver { message: String },

    #[error("the channel gives no sha256 for `{package}` ({url})")]
    #[diagnostic(
        code("conda::no-sha256"),
        help(
            "beep-python installs only verified packages; index the channel again (`conda index`) so that its repodata carries sha256 digests"
        )
    )]
    NoSha256 { package: String, url: String },

    #[error("the locked conda package `{package}` has a bad `{field}`: {reason}")]
    #[diagnostic(
        code("conda::invalid-locked-package"),
        help("run `beep-python lock` to write the lock file again")
    )]
    InvalidLockedPackage {
        package: String,
        field: &'static str,
        reason: String,
    },

    #[error("the conda package `{name}` is listed twice")]
    #[diagnostic(
        code("conda::duplicate-package"),
        help("an environment holds one build of each package")
    )]
    DuplicatePackage { name: String },

    #[error("`{name}` cannot be reinstalled: it is not one of the environment's packages")]
    #[diagnostic(code("conda::unknown-reinstall"))]
    UnknownReinstall { name: String },

    #[error("could not fetch the conda package `{file}`")]
    #[diagnostic(code("conda::fetch"))]
    Fetch {
        file: String,
        #[source]
        #[diagnostic_source]
        source: crate::fetch::FetchError,
    },

    #[error("could not extract the conda package `{file}`: {reason}")]
    #[diagnostic(
        code("conda::extract"),
        help("the archive is damaged or not a conda package; check the channel")
    )]
    Extract { file: String, reason: String },

    #[error("`{file}` holds `{found}`, not `{expected}`")]
    #[diagnostic(
        code("conda::package-mismatch"),
        help("the channel serves another package under this name; refusing to install it")
    )]
    PackageMismatch {
        file: String,
        expected: String,
        found: String,
    },

    #[error("could not install conda packages into `{}`", prefix.display())]
    #[diagnostic(code("conda::install"))]
    Install {
        prefix: PathBuf,
        #[source]
        source: Box<rattler::install::InstallerError>,
    },

    #[error("the folder above the conda environment `{}` does not exist", prefix.display())]
    #[diagnostic(
        code("conda::prefix-parent-missing"),
        help(
            "create the environment's parent folder first; beep-python creates nothing above an environment"
        )
    )]
    PrefixParentMissing { prefix: PathBuf },

    #[error("`{}` is not empty and is not a conda environment (it holds `{found}`)", prefix.display())]
    #[diagnostic(
        code("conda::not-empty"),
        help(
            "beep-python never installs over a folder it did not create: empty it, or give the environment another path"
        )
    )]
    NotEmpty { prefix: PathBuf, found: String },

    #[error("`{}` is not a conda environment (it has no `conda-meta/`)", prefix.display())]
    #[diagnostic(
        code("conda::not-an-environment"),
        help("create the environment instead of updating it")
    )]
    NotAnEnvironment { prefix: PathBuf },

    #[error("could not read the conda records in `{}`", path.display())]
    #[diagnostic(
        code("conda::read-meta"),
        help(
            "a `conda-meta/*.json` file is unreadable or corrupt; `doctor` can rebuild the environment"
        )
    )]
    ReadMeta {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("could not activate the conda environment `{}`: {reason}", prefix.display())]
    #[diagnostic(code("conda::activation"))]
    Activation { prefix: PathBuf, reason: String },

    #[error("could not start the conda runtime")]
    #[diagnostic(code("conda::runtime"))]
    Runtime(#[source] std::io::Error),

    #[error(transparent)]
    #[diagnostic(code("conda::io"))]
    Io(std::io::Error),

    #[error("the conda operation was cancelled")]
    #[diagnostic(code("conda::cancelled"))]
    Cancelled,
}
