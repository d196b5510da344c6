//! The download catalog: which standalone CPython build (URL and sha256)
//! serves a requested version on a platform, and where a mirror moves it.
//!
//! The built-in catalog is `data/python-build-standalone.json`, compiled
//! into the binary: every download it names carries its sha256, so the
//! binary pins exactly what it installs, works offline and air-gapped, and
//! never trusts a list fetched at run time for its checksums. The price is
//! that new CPython releases arrive with a new beep-python, or through
//! `settings.python-downloads`. `data/README.md` says where the file comes
//! from; `scripts/refresh-catalog.py` regenerates it from uv's list of
//! releases.
//!
//! The format (version 1; a catalog without `version` is version 1, a newer
//! one is refused):
//!
//! ```json
//! {"version": 1, "source": "...", "count": 1, "downloads": [
//!   {"version": "3.11.9", "os": "linux", "arch": "x86_64", "libc": "gnu",
//!    "build": "20240814", "url": "https://...", "sha256": "<64 hex>"}]}
//! ```
//!
//! Every entry is checked when a catalog is read (sha256, PEP 440 version,
//! URL, platform fields), so that a bad entry is reported with its place in
//! the file and never surfaces mid-apply.
//!
//! Where things come from (in each list, the first one that is set wins):
//!
//! - The catalog: `settings.python-downloads` (a file relative to the
//!   manifest folder, a `file://` URL, or an `https://` URL), else the
//!   built-in one.
//! - The mirror: `BEEP_PYTHON_MIRROR` (when set and not empty), else
//!   `settings.python-mirror`, else none. The environment wins so that one
//!   machine (a CI runner, an air-gapped site) can redirect downloads without
//!   editing a manifest that is shared. A mirror only moves where the bytes
//!   come from; the catalog's sha256 still decides what is accepted.
//! - The platform: see [`super::platform`].

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use pep440_rs::Version;
use serde::Deserialize as _;
use url::Url;

use super::platform::Platform;
use crate::fetch::{self, FetchError, Options};

/// The environment variable that overrides `settings.python-mirror`.
pub const MIRROR_ENV: &str = "BEEP_PYTHON_MIRROR";

/// [`Catalog::origin`] of the catalog compiled into the binary.
pub const BUILTIN_ORIGIN: &str = "built-in";

/// The newest catalog format this program reads.
pub const FORMAT_VERSION: u64 = 1;

/// The release-download URLs of python-build-standalone, old and new home,
/// which a mirror replaces. Everything after them (`/<build>/<file>`) is
/// kept.
pub const KNOWN_PREFIXES: [&str; 2] = [
    "https://github.com/astral-sh/python-build-standalone/releases/download",
    "https://github.com/indygreg/python-build-standalone/releases/download",
];

/// A catalog far larger than any real one (the built-in one is about 210 KB) is
/// the wrong file.
const MAX_CATALOG_BYTES: u64 = 16 * 1024 * 1024;

/// How many versions of a minor a [`CatalogError::NoMatch`] lists.
const LISTED: usize = 6;

static BUILTIN_JSON: &str = include_str!("../../data/python-build-standalone.json");

/// One downloadable build.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Download {
    /// PEP 440: `3.11.9`, `3.13.0rc2`.
    pub version: String,
    pub os: String,
    pub arch: String,
    pub libc: String,
    /// The python-build-standalone release, a date such as `20240814`.
    pub build: String,
    pub url: String,
    /// Hex.
    pub sha256: String,
}

impl Download {
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            arch: self.arch.clone(),
            libc: self.libc.clone(),
        }
    }

    fn is_for(&self, platform: &Platform) -> bool {
        self.os == platform.os && self.arch == platform.arch && self.libc == platform.libc
    }
}

/// A checked list of downloads, and where it came from.
///
/// Cloning is cheap: the entries are shared.
#[derive(Debug, Clone)]
pub struct Catalog {
    origin: String,
    downloads: Arc<[Download]>,
    /// `downloads[i].version`, parsed.
    versions: Arc<[Version]>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CatalogError {
    #[error("could not read {}", describe(.origin))]
    #[diagnostic(
        code("catalog::read"),
        help(
            "`settings.python-downloads` names a file (relative to the manifest folder), a `file://` URL or an `https://` URL"
        )
    )]
    Read {
        origin: String,
        #[source]
        #[diagnostic_source]
        source: FetchError,
    },

    #[error("{} is on the network, and the network is off (offline)", describe(.origin))]
    #[diagnostic(
        code("catalog::offline"),
        help("download it once and point `settings.python-downloads` at the file")
    )]
    Offline { origin: String },

    #[error("{} is not a valid catalog: {reason}", describe(.origin))]
    #[diagnostic(
        code("catalog::invalid"),
        help(
            "a catalog is a JSON object with a `downloads` list of `version`, `os`, `arch`, `libc`, `build`, `url` and `sha256`; `data/README.md` in beep-python's source describes it"
        )
    )]
    Invalid { origin: String, reason: String },

    #[error(
        "{} has format version {version}, newer than this beep-python reads ({FORMAT_VERSION})",
        describe(.origin)
    )]
    #[diagnostic(
        code("catalog::unsupported-version"),
        help("upgrade beep-python, or use a catalog written for version {FORMAT_VERSION}")
    )]
    UnsupportedVersion { origin: String, version: u64 },

    #[error("`downloads[{index}]`{} in {} is invalid: {reason}", version_label(.version), describe(.origin))]
    #[diagnostic(
        code("catalog::invalid-entry"),
        help(
            "each download needs a PEP 440 `version`, `os`, `arch`, `libc`, `build`, a `url` and a 64-character hex `sha256`"
        )
    )]
    InvalidEntry {
        origin: String,
        index: usize,
        version: Option<String>,
        reason: String,
    },

    #[error("{} says it lists {count} downloads, but it lists {actual}", describe(.origin))]
    #[diagnostic(
        code("catalog::count-mismatch"),
        help("the file is truncated or was edited by hand; regenerate it, or correct `count`")
    )]
    CountMismatch {
        origin: String,
        count: u64,
        actual: usize,
    },

    #[error("`{request}` is not a version the download catalog can look up: {reason}")]
    #[diagnostic(
        code("catalog::invalid-request"),
        help(
            "write `3.12` (the newest 3.12.x) or an exact version such as `3.12.4` or `3.14.0rc1`"
        )
    )]
    InvalidRequest { request: String, reason: String },

    #[error("no Python `{request}` for {platform} in {}", describe(.origin))]
    #[diagnostic(code("catalog::no-match"), help("{available}"))]
    NoMatch {
        request: String,
        platform: Platform,
        origin: String,
        /// What there is instead, in a sentence or two.
        available: String,
    },

    #[error("{} has no Python builds for {platform}", describe(.origin))]
    #[diagnostic(
        code("catalog::unsupported-platform"),
        help(
            "it has builds for {platforms}; if this machine was detected wrongly set `BEEP_PYTHON_PLATFORM`, otherwise use a `system` runtime or one with a `url`"
        )
    )]
    NoBuildsForPlatform {
        platform: Platform,
        origin: String,
        /// The platforms the catalog has, listed.
        platforms: String,
    },
}

/// "the built-in download catalog", or the catalog at a path or URL.
fn describe(origin: &str) -> String {
    if origin == BUILTIN_ORIGIN {
        "the built-in download catalog".to_owned()
    } else {
        format!("the download catalog `{origin}`")
    }
}

fn version_label(version: &Option<String>) -> String {
    version
        .as_ref()
        .map(|v| format!(" (`{v}`)"))
        .unwrap_or_default()
}

impl Catalog {
    /// The catalog compiled into the binary, parsed once per process.
    pub fn builtin() -> Catalog {
        static BUILTIN: OnceLock<Catalog> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Catalog::from_json(BUILTIN_JSON, BUILTIN_ORIGIN)
                    // A test parses this very file: it cannot fail at run time.
                    .expect("the built-in download catalog is valid")
            })
            .clone()
    }

    /// Parses and checks a catalog; `origin` names it in messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let invalid = |reason: String| CatalogError::Invalid {
            origin: origin.to_owned(),
            reason,
        };
        let root: serde_json::Value =
            serde_json::from_str(text).map_err(|err| invalid(err.to_string()))?;
        let serde_json::Value::Object(root) = root else {
            return Err(invalid("expected a JSON object".to_owned()));
        };
        // Checked before anything else: a newer format may differ anywhere.
        if let Some(version) = root.get("version") {
            let version = version
                .as_u64()
                .ok_or_else(|| invalid("`version` is not a whole number".to_owned()))?;
            if version > FORMAT_VERSION {
                return Err(CatalogError::UnsupportedVersion {
                    origin: origin.to_owned(),
                    version,
                });
            }
        }
        let entries = match root.get("downloads") {
            Some(serde_json::Value::Array(entries)) => entries,
            Some(_) => return Err(invalid("`downloads` is not a list".to_owned())),
            None => return Err(invalid("missing `downloads`".to_owned())),
        };
        if let Some(count) = root.get("count") {
            let count = count
                .as_u64()
                .ok_or_else(|| invalid("`count` is not a whole number".to_owned()))?;
            if count != entries.len() as u64 {
                return Err(CatalogError::CountMismatch {
                    origin: origin.to_owned(),
                    count,
                    actual: entries.len(),
                });
            }
        }

        let mut downloads = Vec::with_capacity(entries.len());
        let mut versions = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let bad = |reason: String| CatalogError::InvalidEntry {
                origin: origin.to_owned(),
                index,
                version: entry
                    .get("version")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
                reason,
            };
            let download = Download::deserialize(entry).map_err(|err| bad(err.to_string()))?;
            let version = check_entry(&download).map_err(bad)?;
            downloads.push(download);
            versions.push(version);
        }
        Ok(Catalog {
            origin: origin.to_owned(),
            downloads: downloads.into(),
            versions: versions.into(),
        })
    }

    /// Reads the catalog that `settings.python-downloads` names: a path
    /// (relative to `base_dir`, the manifest's folder), a `file://` URL, or
    /// an `http(s)://` URL (under [`crate::fetch`]'s network policy).
    pub fn load(location: &str, base_dir: &Path, opts: &Options) -> Result<Catalog, CatalogError> {
        let location = location.trim();
        let (source, origin) = if location.contains("://") {
            (location.to_owned(), location.to_owned())
        } else {
            let path = base_dir.join(location);
            (local_location(&path), path.display().to_string())
        };
        let text = fetch::read_text(&source, opts, MAX_CATALOG_BYTES).map_err(|err| match err {
            FetchError::Offline { .. } => CatalogError::Offline {
                origin: origin.clone(),
            },
            source => CatalogError::Read {
                origin: origin.clone(),
                source,
            },
        })?;
        Catalog::from_json(&text, &origin)
    }

    /// `built-in`, or the path or URL the catalog was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn downloads(&self) -> &[Download] {
        &self.downloads
    }

    /// The build to download for `request` on `platform`.
    ///
    /// `request` is a minor version, `3.11`, meaning its newest final
    /// release (never a pre-release), or an exact version, `3.11.9` or
    /// `3.13.0rc2`. Newest is the highest PEP 440 version; between two
    /// builds of the same version, the newest `build`.
    pub fn find(&self, request: &str, platform: &Platform) -> Result<&Download, CatalogError> {
        let want = Request::parse(request)?;
        let best = self
            .entries()
            .filter(|(download, version)| download.is_for(platform) && want.matches(version))
            .max_by(|(a, a_version), (b, b_version)| {
                a_version
                    .cmp(b_version)
                    .then_with(|| compare_builds(&a.build, &b.build))
            });
        if let Some((download, _)) = best {
            return Ok(download);
        }
        if !self.downloads.iter().any(|d| d.is_for(platform)) {
            let platforms: BTreeSet<String> = self
                .downloads
                .iter()
                .map(|d| d.platform().to_string())
                .collect();
            return Err(CatalogError::NoBuildsForPlatform {
                platform: platform.clone(),
                origin: self.origin.clone(),
                platforms: backticked(platforms.iter()),
            });
        }
        Err(CatalogError::NoMatch {
            request: request.trim().to_owned(),
            platform: platform.clone(),
            origin: self.origin.clone(),
            available: self.alternatives(&want, request.trim(), platform),
        })
    }

    fn entries(&self) -> impl Iterator<Item = (&Download, &Version)> {
        self.downloads.iter().zip(self.versions.iter())
    }

    /// What to write instead of `request`, which has no build on `platform`.
    fn alternatives(&self, want: &Request, request: &str, platform: &Platform) -> String {
        let mut here: Vec<&Version> = self
            .entries()
            .filter(|(download, _)| download.is_for(platform))
            .map(|(_, version)| version)
            .collect();
        here.sort_unstable_by(|a, b| b.cmp(a));
        here.dedup();

        let (major, minor) = want.minor();
        let same_minor: Vec<&Version> = here
            .iter()
            .copied()
            .filter(|v| minor_of(v) == Some((major, minor)))
            .collect();
        let mut help = String::new();
        if same_minor.is_empty() {
            let mut minors: Vec<(u64, u64)> = here.iter().filter_map(|v| minor_of(v)).collect();
            minors.sort_unstable();
            minors.dedup();
            let listed = minors
                .iter()
                .map(|(major, minor)| format!("{major}.{minor}"));
            let _ = write!(help, "{platform} has Python {}", backticked(listed));
            // `here` is newest first; a minor with only pre-releases would
            // not resolve.
            let newest = here.iter().find(|v| !v.any_prerelease());
            if let Some((major, minor)) = newest.and_then(|v| minor_of(v)) {
                let _ = write!(
                    help,
                    "; write `{major}.{minor}` for the newest {major}.{minor}.x"
                );
            }
        } else {
            let finals = same_minor.iter().any(|v| !v.any_prerelease());
            let shown = same_minor.iter().take(LISTED).map(|v| v.to_string());
            let _ = write!(help, "{platform} has {}", backticked(shown));
            if same_minor.len() > LISTED {
                let _ = write!(
                    help,
                    " and {} older {major}.{minor} releases",
                    same_minor.len() - LISTED
                );
            }
            if finals {
                let _ = write!(help, "; write `{major}.{minor}` for the newest");
            } else {
                let _ = write!(help, " (pre-releases, which only an exact version selects)");
            }
        }

        let mut elsewhere: Vec<String> = self
            .entries()
            .filter(|(download, version)| !download.is_for(platform) && want.matches(version))
            .map(|(download, _)| download.platform().to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !elsewhere.is_empty() {
            elsewhere.truncate(LISTED);
            let _ = write!(
                help,
                "\n`{request}` is in this catalog for {}",
                backticked(elsewhere.iter())
            );
        }
        help
    }
}

/// The checks every entry passes; returns its parsed version.
fn check_entry(download: &Download) -> Result<Version, String> {
    let version = Version::from_str(&download.version)
        .map_err(|err| format!("`version` is not a PEP 440 version: {err}"))?;
    if !fetch::is_sha256(&download.sha256) {
        return Err(format!(
            "`sha256` `{}` is not 64 hexadecimal characters",
            download.sha256
        ));
    }
    if download.url.trim().is_empty() {
        return Err("`url` is empty".to_owned());
    }
    for (field, value) in [
        ("os", &download.os),
        ("arch", &download.arch),
        ("libc", &download.libc),
        ("build", &download.build),
    ] {
        if value.trim().is_empty() {
            return Err(format!("`{field}` is empty"));
        }
    }
    Ok(version)
}

/// A parsed [`Catalog::find`] request.
#[derive(Debug)]
enum Request {
    /// `3.11`: the newest final release of that minor.
    Minor(u64, u64),
    /// `3.11.9`, `3.13.0rc2`.
    Exact(Version),
}

impl Request {
    fn parse(text: &str) -> Result<Request, CatalogError> {
        let text = text.trim();
        let invalid = |reason: &str| CatalogError::InvalidRequest {
            request: text.to_owned(),
            reason: reason.to_owned(),
        };
        let version = Version::from_str(text).map_err(|err| invalid(&err.to_string()))?;
        if version.epoch() != 0 || version.is_local() || version.is_dev() || version.is_post() {
            return Err(invalid(
                "epochs, local, dev and post versions are not published",
            ));
        }
        match *version.release() {
            [major, minor] if !version.is_pre() => Ok(Request::Minor(major, minor)),
            [_, _] => Err(invalid(
                "a pre-release needs all three parts, such as `3.14.0rc1`",
            )),
            [_, _, _] => Ok(Request::Exact(version)),
            _ => Err(invalid(
                "expected two or three parts, such as `3.12` or `3.12.4`",
            )),
        }
    }

    fn matches(&self, version: &Version) -> bool {
        match self {
            Request::Minor(major, minor) => {
                minor_of(version) == Some((*major, *minor)) && !version.any_prerelease()
            }
            Request::Exact(want) => version == want,
        }
    }

    fn minor(&self) -> (u64, u64) {
        match self {
            Request::Minor(major, minor) => (*major, *minor),
            Request::Exact(version) => minor_of(version).unwrap_or_default(),
        }
    }
}

fn minor_of(version: &Version) -> Option<(u64, u64)> {
    match *version.release() {
        [major, minor, ..] => Some((major, minor)),
        _ => None,
    }
}

/// Builds are dates (`20240814`): compared as numbers when both are, else
/// as text.
fn compare_builds(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// `` `a`, `b`, `c` ``.
fn backticked<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Moves a python-build-standalone download to `mirror`.
///
/// `url` under one of the [`KNOWN_PREFIXES`] keeps the rest of its path
/// (`/20240814/cpython-3.11.9%2B20240814-...tar.gz`) under the mirror, which
/// is one of:
///
/// - an `https://` (or loopback `http://`) URL, `https://mirror.example/pbs`
///   (a trailing `/` or not): the rest is appended as it is, still
///   percent-encoded;
/// - a `file://` URL, `file:///srv/pbs`: a `file://` URL of the file;
/// - a folder, `/srv/pbs`, or `mirror/` relative to `base_dir` (the
///   manifest's folder): the file's path.
///
/// For the last two the rest is percent-decoded into the file's real name,
/// `cpython-3.11.9+20240814-...tar.gz`, as a mirror made by downloading the
/// release assets has it. Any other URL, or one whose decoded path would
/// leave the mirror folder, is returned unchanged.
pub fn apply_mirror(url: &str, mirror: &str, base_dir: &Path) -> String {
    let Some(rest) = release_path(url) else {
        return url.to_owned();
    };
    let mirror = mirror.trim();
    let (folder, as_url) = if mirror.contains("://") {
        let local = Url::parse(mirror)
            .ok()
            .filter(|parsed| parsed.scheme() == "file")
            .and_then(|parsed| parsed.to_file_path().ok());
        match local {
            Some(folder) => (folder, true),
            // A `file://host/...` URL lands here too; the download reports it.
            None => return format!("{}{rest}", mirror.trim_end_matches('/')),
        }
    } else {
        (base_dir.join(mirror), false)
    };
    let Some(path) = local_file(&folder, &rest) else {
        return url.to_owned();
    };
    if as_url {
        Url::from_file_path(&path).map_or_else(|()| local_location(&path), String::from)
    } else {
        local_location(&path)
    }
}

/// The path after a known prefix, starting with `/`, still percent-encoded;
/// `None` if `url` is not a python-build-standalone release download.
fn release_path(url: &str) -> Option<String> {
    let mut parsed = Url::parse(url).ok()?;
    // Parsing also normalizes: the host's case, `..` segments.
    parsed.set_query(None);
    parsed.set_fragment(None);
    KNOWN_PREFIXES.iter().find_map(|prefix| {
        parsed
            .as_str()
            .strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/') && rest.len() > 1)
            .map(str::to_owned)
    })
}

/// `folder` joined with the percent-decoded segments of `rest`; `None` if a
/// segment does not decode to a plain file or folder name.
fn local_file(folder: &Path, rest: &str) -> Option<PathBuf> {
    let mut path = folder.to_owned();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        let name = percent_decode(segment)?;
        if name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return None;
        }
        path.push(name);
    }
    Some(path)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A local file as [`crate::fetch`] takes it: its absolute path, or a
/// `file://` URL when the path is not UTF-8.
fn local_location(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match absolute.to_str() {
        Some(text) => text.to_owned(),
        None => Url::from_file_path(&absolute)
            .map_or_else(|()| absolute.to_string_lossy().into_owned(), String::from),
    }
}

/// The mirror in effect: `BEEP_PYTHON_MIRROR` (its value passed as `env`)
/// when set and not empty, else `settings.python-mirror`, else none.
pub fn mirror_in_effect(env: Option<&str>, setting: Option<&str>) -> Option<String> {
    [env, setting]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|value| !value.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    fn platform(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn entry(version: &str, platform: &str, build: &str) -> serde_json::Value {
        let p = Platform::parse(platform).unwrap();
        serde_json::json!({
            "version": version, "os": p.os, "arch": p.arch, "libc": p.libc,
            "build": build,
            "url": format!("https://example.com/{build}/cpython-{version}-{platform}.tar.gz"),
            "sha256": SHA,
        })
    }

    fn catalog(entries: Vec<serde_json::Value>) -> Catalog {
        let text = serde_json::json!({ "downloads": entries }).to_string();
        Catalog::from_json(&text, "test.json").unwrap()
    }

    #[track_caller]
    fn invalid(text: &str) -> String {
        match Catalog::from_json(text, "bad.json") {
            Ok(_) => panic!("accepted {text}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn builtin_parses_and_has_linux_x86_64_gnu_311_builds() {
        let builtin = Catalog::builtin();
        assert_eq!(builtin.origin(), BUILTIN_ORIGIN);
        let linux = platform("linux-x86_64-gnu");
        assert!(
            builtin
                .downloads()
                .iter()
                .any(|d| d.is_for(&linux) && d.version.starts_with("3.11."))
        );
        // Every built-in download can be mirrored, and is an archive in the
        // install-only layout that provisioning unpacks.
        for d in builtin.downloads() {
            assert!(release_path(&d.url).is_some(), "{}", d.url);
            assert!(
                d.url.ends_with("-install_only_stripped.tar.gz")
                    || d.url.ends_with("-install_only.tar.gz"),
                "{}",
                d.url
            );
        }
    }

    #[test]
    fn builtin_newest_311_for_linux_x86_64_gnu_is_3_11_16() {
        let builtin = Catalog::builtin();
        let found = builtin.find("3.11", &platform("linux-x86_64-gnu")).unwrap();
        assert_eq!(found.version, "3.11.16");
        assert_eq!((found.os.as_str(), found.libc.as_str()), ("linux", "gnu"));
        assert!(
            found.url.contains("x86_64-unknown-linux-gnu"),
            "{}",
            found.url
        );
        // Nothing newer in the data: the pick is the maximum, not the first.
        let newest = builtin
            .downloads()
            .iter()
            .filter(|d| d.version.starts_with("3.11.") && d.os == "linux")
            .map(|d| Version::from_str(&d.version).unwrap())
            .max()
            .unwrap();
        assert_eq!(newest.to_string(), "3.11.16");
    }

    #[test]
    fn builtin_exact_version() {
        let builtin = Catalog::builtin();
        let found = builtin
            .find("3.11.9", &platform("linux-x86_64-gnu"))
            .unwrap();
        assert_eq!(found.version, "3.11.9");
        assert_eq!(found.build, "20240814");
        assert_eq!(
            found.sha256,
            "daa487c7e73005c4426ac393273117cf0e2dc4ab9b2eeda366e04cd00eea00c9"
        );
    }

    #[test]
    fn builtin_picks_musl_or_gnu_by_platform() {
        let builtin = Catalog::builtin();
        let gnu = builtin.find("3.12", &platform("linux-x86_64-gnu")).unwrap();
        let musl = builtin
            .find("3.12", &platform("linux-x86_64-musl"))
            .unwrap();
        assert_eq!(gnu.libc, "gnu");
        assert!(gnu.url.contains("-linux-gnu-"), "{}", gnu.url);
        assert_eq!(musl.libc, "musl");
        assert!(musl.url.contains("-linux-musl-"), "{}", musl.url);
        assert_ne!(gnu.sha256, musl.sha256);
    }

    #[test]
    fn minor_request_takes_the_newest_final_release_and_newest_build() {
        let linux = "linux-x86_64-gnu";
        let c = catalog(vec![
            entry("3.12.2", linux, "20240107"),
            entry("3.12.10", linux, "20250101"),
            entry("3.12.10", linux, "20250317"),
            entry("3.12.9", linux, "20250401"),
            entry("3.13.0rc2", linux, "20240909"),
            entry("3.13.0", linux, "20241008"),
            entry("3.14.0b1", linux, "20250601"),
            entry("3.12.11", "linux-x86_64-musl", "20250601"),
        ]);
        let p = platform(linux);
        let found = c.find("3.12", &p).unwrap();
        // 3.12.10 beats 3.12.9 (PEP 440, not text), and the newer build wins.
        assert_eq!(
            (found.version.as_str(), found.build.as_str()),
            ("3.12.10", "20250317")
        );
        assert_eq!(c.find("3.13", &p).unwrap().version, "3.13.0");
        assert_eq!(c.find("3.13.0rc2", &p).unwrap().version, "3.13.0rc2");
        assert_eq!(c.find(" 3.12.2 ", &p).unwrap().version, "3.12.2");

        // A minor with only a pre-release: never picked by a minor request.
        let err = c.find("3.14", &p).unwrap_err();
        assert!(matches!(err, CatalogError::NoMatch { .. }), "{err:?}");
        let CatalogError::NoMatch { available, .. } = &err else {
            unreachable!()
        };
        assert!(available.contains("`3.14.0b1`"), "{available}");
        assert!(available.contains("pre-releases"), "{available}");
        assert_eq!(c.find("3.14.0b1", &p).unwrap().version, "3.14.0b1");
        // The newest minor suggested is one that a minor request resolves.
        let err = c.find("3.7", &p).unwrap_err();
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(help.contains("`3.12`, `3.13`, `3.14`"), "{help}");
        assert!(
            help.contains("write `3.13` for the newest 3.13.x"),
            "{help}"
        );
    }

    #[test]
    fn no_match_names_request_platform_origin_and_alternatives() {
        let builtin = Catalog::builtin();
        let err = builtin
            .find("3.11.2", &platform("linux-x86_64-gnu"))
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`3.11.2`"), "{message}");
        assert!(message.contains("linux-x86_64-gnu"), "{message}");
        assert!(message.contains("built-in download catalog"), "{message}");
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(help.contains("`3.11.16`, `3.11.15`"), "{help}");
        assert!(help.contains("older 3.11 releases"), "{help}");
        assert!(help.contains("write `3.11` for the newest"), "{help}");

        // A minor that is not there at all: list the minors that are.
        let err = builtin
            .find("3.7", &platform("linux-x86_64-gnu"))
            .unwrap_err();
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(help.contains("`3.8`, `3.9`, `3.10`, `3.11`"), "{help}");
        assert!(
            help.contains("write `3.14` for the newest 3.14.x"),
            "{help}"
        );
    }

    #[test]
    fn no_match_says_which_other_platforms_have_it() {
        let c = catalog(vec![
            entry("3.12.4", "linux-x86_64-gnu", "20240726"),
            entry("3.11.9", "linux-x86_64-musl", "20240726"),
        ]);
        let err = c
            .find("3.12.4", &platform("linux-x86_64-musl"))
            .unwrap_err();
        assert!(err.to_string().contains("`test.json`"), "{err}");
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(
            help.contains("linux-x86_64-musl has Python `3.11`"),
            "{help}"
        );
        assert!(help.contains("`linux-x86_64-gnu`"), "{help}");
    }

    #[test]
    fn a_platform_without_builds_is_its_own_error() {
        let err = Catalog::builtin()
            .find("3.12", &platform("linux-riscv64-gnu"))
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::NoBuildsForPlatform { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("linux-riscv64-gnu"), "{err}");
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(help.contains("`linux-x86_64-musl`"), "{help}");
        assert!(help.contains("BEEP_PYTHON_PLATFORM"), "{help}");
    }

    #[test]
    fn requests_that_name_no_release_are_refused() {
        let c = Catalog::builtin();
        let p = platform("linux-x86_64-gnu");
        for request in [
            "3",
            "3.11.9.1",
            "3.14rc1",
            "1!3.11",
            "3.11.9+local",
            "3.11.post1",
            ">=3.11",
            "",
        ] {
            let err = c.find(request, &p).unwrap_err();
            assert!(
                matches!(err, CatalogError::InvalidRequest { .. }),
                "{request}: {err:?}"
            );
        }
    }

    #[test]
    fn bad_catalogs_name_their_origin_and_entry() {
        let bad_sha = serde_json::json!({"downloads": [
            entry("3.12.4", "linux-x86_64-gnu", "1"),
            {"version": "3.12.5", "os": "linux", "arch": "x86_64", "libc": "gnu",
             "build": "1", "url": "https://example.com/x", "sha256": "abc"},
        ]});
        let message = invalid(&bad_sha.to_string());
        assert!(message.contains("`bad.json`"), "{message}");
        assert!(message.contains("`downloads[1]` (`3.12.5`)"), "{message}");
        assert!(message.contains("sha256"), "{message}");

        let missing = serde_json::json!({"downloads": [
            {"version": "3.12.5", "os": "linux", "arch": "x86_64", "libc": "gnu",
             "build": "1", "sha256": SHA},
        ]});
        let message = invalid(&missing.to_string());
        assert!(message.contains("`bad.json`"), "{message}");
        assert!(message.contains("`downloads[0]`"), "{message}");
        assert!(message.contains("missing field `url`"), "{message}");

        let mut bad_version = entry("3.x", "linux-x86_64-gnu", "1");
        let message = invalid(&serde_json::json!({"downloads": [bad_version.clone()]}).to_string());
        assert!(message.contains("PEP 440"), "{message}");
        bad_version["version"] = "3.12.1".into();
        bad_version["url"] = " ".into();
        let message = invalid(&serde_json::json!({"downloads": [bad_version]}).to_string());
        assert!(message.contains("`url` is empty"), "{message}");

        for (text, expected) in [
            ("{", "`bad.json` is not a valid catalog"),
            ("[]", "expected a JSON object"),
            ("{}", "missing `downloads`"),
            (r#"{"downloads": {}}"#, "`downloads` is not a list"),
            (
                r#"{"count": 2, "downloads": []}"#,
                "says it lists 2 downloads, but it lists 0",
            ),
            (
                r#"{"version": 2, "downloads": []}"#,
                "format version 2, newer",
            ),
            (
                r#"{"version": "1", "downloads": []}"#,
                "`version` is not a whole number",
            ),
        ] {
            let message = invalid(text);
            assert!(message.contains(expected), "{text}: {message}");
            assert!(message.contains("bad.json"), "{text}: {message}");
        }
        assert!(Catalog::from_json(r#"{"version": 1, "count": 0, "downloads": []}"#, "ok").is_ok());
    }

    #[test]
    fn load_reads_a_path_relative_to_the_manifest_folder_or_a_file_url() {
        let dir = tempfile::tempdir().unwrap();
        let text = serde_json::json!({"downloads": [entry("3.12.4", "linux-x86_64-gnu", "1")]});
        fs_err::create_dir(dir.path().join("sub")).unwrap();
        fs_err::write(dir.path().join("sub/catalog.json"), text.to_string()).unwrap();
        let opts = Options {
            offline: true,
            ..Options::default()
        };

        let loaded = Catalog::load("sub/catalog.json", dir.path(), &opts).unwrap();
        assert_eq!(loaded.downloads().len(), 1);
        assert_eq!(
            loaded.origin(),
            dir.path().join("sub/catalog.json").display().to_string()
        );

        let url = Url::from_file_path(dir.path().join("sub/catalog.json")).unwrap();
        let loaded = Catalog::load(url.as_str(), Path::new("/elsewhere"), &opts).unwrap();
        assert_eq!(loaded.origin(), url.as_str());
        assert_eq!(
            loaded
                .find("3.12", &platform("linux-x86_64-gnu"))
                .unwrap()
                .version,
            "3.12.4"
        );

        let err = Catalog::load("missing.json", dir.path(), &opts).unwrap_err();
        assert!(matches!(err, CatalogError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.json"), "{err}");

        let err = Catalog::load("https://example.com/catalog.json", dir.path(), &opts).unwrap_err();
        assert!(matches!(err, CatalogError::Offline { .. }), "{err:?}");
    }

    /// Answers one HTTP request on 127.0.0.1 with `status` and `body`.
    fn serve_once(status: &str, body: Vec<u8>) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/catalog.json", listener.local_addr().unwrap());
        let status = status.to_owned();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let mut stream = stream;
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            // The client may hang up early on a body it refuses.
            let _ = stream.write_all(&body);
            request_line
        });
        (url, server)
    }

    #[test]
    fn load_over_http_from_loopback() {
        let text = serde_json::json!({"downloads": [entry("3.13.1", "darwin-aarch64-none", "7")]});
        let (url, server) = serve_once("200 OK", text.to_string().into_bytes());
        let loaded = Catalog::load(&url, Path::new("/"), &Options::default()).unwrap();
        assert_eq!(loaded.origin(), url);
        assert_eq!(loaded.downloads()[0].version, "3.13.1");
        assert!(server.join().unwrap().starts_with("GET /catalog.json "));
    }

    #[test]
    fn load_over_http_reports_status_and_refuses_huge_bodies() {
        let (url, server) = serve_once("404 Not Found", b"nope".to_vec());
        let err = Catalog::load(&url, Path::new("/"), &Options::default()).unwrap_err();
        assert!(
            matches!(
                err,
                CatalogError::Read {
                    source: FetchError::Http { status: 404, .. },
                    ..
                }
            ),
            "{err:?}"
        );
        server.join().unwrap();

        let (url, server) = serve_once("200 OK", vec![b' '; 100]);
        let err = fetch::read_text(&url, &Options::default(), 10).unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 10, .. }),
            "{err:?}"
        );
        server.join().unwrap();

        let (url, server) = serve_once("200 OK", vec![0xff, 0xfe]);
        let err = fetch::read_text(&url, &Options::default(), 10).unwrap_err();
        assert!(matches!(err, FetchError::NotText { .. }), "{err:?}");
        server.join().unwrap();
    }

    #[test]
    fn read_text_refuses_a_large_local_file_and_plain_http_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        fs_err::write(&path, vec![b'x'; 11]).unwrap();
        let path = path.to_str().unwrap();
        let err = fetch::read_text(path, &Options::default(), 10).unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
        assert_eq!(
            fetch::read_text(path, &Options::default(), 11).unwrap(),
            "x".repeat(11)
        );

        let err =
            fetch::read_text("http://example.com/c.json", &Options::default(), 10).unwrap_err();
        assert!(matches!(err, FetchError::InsecureHttp { .. }), "{err:?}");
    }

    const ASTRAL: &str = "https://github.com/astral-sh/python-build-standalone/releases/download/20240814/cpython-3.11.9%2B20240814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz";
    const INDYGREG: &str = "https://github.com/indygreg/python-build-standalone/releases/download/20240814/cpython-3.11.9%2B20240814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz";
    const FILE: &str =
        "cpython-3.11.9+20240814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz";

    #[test]
    fn mirror_over_https_keeps_the_encoded_rest() {
        let base = Path::new("/project");
        let expected = "https://mirror.example/pbs/20240814/cpython-3.11.9%2B20240814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz";
        for url in [ASTRAL, INDYGREG] {
            assert_eq!(
                apply_mirror(url, "https://mirror.example/pbs", base),
                expected
            );
            assert_eq!(
                apply_mirror(url, "https://mirror.example/pbs/", base),
                expected
            );
        }
        assert_eq!(
            apply_mirror(ASTRAL, "http://127.0.0.1:8080", base),
            "http://127.0.0.1:8080/20240814/cpython-3.11.9%2B20240814-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz"
        );
    }

    #[test]
    fn mirror_in_a_folder_or_file_url_names_the_decoded_file() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let expected = base.join("pbs").join("20240814").join(FILE);

        for url in [ASTRAL, INDYGREG] {
            // An absolute folder.
            let absolute = base.join("pbs");
            let mirrored = apply_mirror(url, absolute.to_str().unwrap(), Path::new("/elsewhere"));
            assert_eq!(Path::new(&mirrored), expected);

            // A folder relative to the manifest's, with or without a slash.
            for relative in ["pbs", "pbs/", "./pbs"] {
                let mirrored = apply_mirror(url, relative, base);
                assert_eq!(
                    Path::new(&mirrored).components().collect::<Vec<_>>(),
                    expected.components().collect::<Vec<_>>(),
                    "{relative}"
                );
            }

            // A file:// URL: a file:// URL of the decoded name.
            let folder_url = Url::from_directory_path(base.join("pbs")).unwrap();
            let mirrored = apply_mirror(url, folder_url.as_str(), base);
            assert!(mirrored.starts_with("file://"), "{mirrored}");
            assert!(mirrored.ends_with(FILE), "{mirrored}");
            assert_eq!(
                Url::parse(&mirrored).unwrap().to_file_path().unwrap(),
                expected
            );
        }
    }

    #[test]
    fn a_mirrored_file_is_what_fetch_reads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pbs/20240814").join(FILE);
        fs_err::create_dir_all(file.parent().unwrap()).unwrap();
        fs_err::write(&file, "archive").unwrap();
        let folder_url = Url::from_directory_path(dir.path().join("pbs")).unwrap();
        for mirror in ["pbs", folder_url.as_str()] {
            let location = apply_mirror(ASTRAL, mirror, dir.path());
            assert_eq!(
                fetch::read_text(&location, &Options::default(), 100).unwrap(),
                "archive",
                "{location}"
            );
        }
    }

    #[test]
    fn urls_that_are_not_release_downloads_are_not_mirrored() {
        let base = Path::new("/project");
        for url in [
            "https://example.com/python.tar.gz",
            "https://github.com/astral-sh/python-build-standalone/releases/download",
            "https://github.com/astral-sh/python-build-standalone/releases/downloads/x.tar.gz",
            "https://github.com/astral-sh/python-build-standalone-fork/releases/download/1/x.tar.gz",
            "http://github.com/astral-sh/python-build-standalone/releases/download/1/x.tar.gz",
            "not a url",
        ] {
            assert_eq!(apply_mirror(url, "https://mirror.example", base), url);
            assert_eq!(apply_mirror(url, "/srv/pbs", base), url);
        }
        // Decoding must not climb out of the mirror folder.
        let sneaky = "https://github.com/astral-sh/python-build-standalone/releases/download/1/..%2F..%2Fetc%2Fpasswd";
        assert_eq!(apply_mirror(sneaky, "/srv/pbs", base), sneaky);
        // `..` segments are resolved by URL parsing first: no longer a release.
        let dotted =
            "https://github.com/astral-sh/python-build-standalone/releases/download/../../x";
        assert_eq!(apply_mirror(dotted, "/srv/pbs", base), dotted);
    }

    #[test]
    fn mirror_from_the_environment_wins_over_the_manifest() {
        assert_eq!(
            mirror_in_effect(Some("/env"), Some("https://setting")),
            Some("/env".to_owned())
        );
        assert_eq!(
            mirror_in_effect(None, Some(" https://setting ")),
            Some("https://setting".to_owned())
        );
        assert_eq!(
            mirror_in_effect(Some(""), Some("https://setting")),
            Some("https://setting".to_owned())
        );
        assert_eq!(
            mirror_in_effect(Some("/env"), None),
            Some("/env".to_owned())
        );
        assert_eq!(mirror_in_effect(None, None), None);
        assert_eq!(mirror_in_effect(Some(" "), Some("")), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb%20c").as_deref(), Some("a+b c"));
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz%4").as_deref(), Some("%zz%4"));
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn builds_compare_as_numbers() {
        assert_eq!(compare_builds("20240814", "20231002"), Ordering::Greater);
        assert_eq!(compare_builds("9", "10"), Ordering::Less);
        assert_eq!(compare_builds("b", "a"), Ordering::Greater);
    }
}
