//! Downloads: one file, from a URL or a local path, verified by its sha256,
//! into the content-addressed download cache.
//!
//! Owns, in the cache root (`<home>/cache/downloads/`):
//!
//! - `<sha256>`: a complete, verified file. It only ever appears by renaming
//!   a partial whose digest matched its name (after fsyncing it), so the
//!   cache trusts names and never re-hashes: a present, non-empty
//!   `<sha256>` is the file with that digest.
//! - `<sha256>.partial`: the bytes of an unfinished download, a prefix of
//!   the body. Kept across failed attempts, timeouts, truncated bodies and
//!   cancellation so that the next attempt (or the next run) resumes it with
//!   a `Range` request; deleted when the finished body fails verification.
//!
//! Invariants:
//!
//! - A checksum mismatch is final: it is never retried into a success, and
//!   nothing is left behind for a caller to extract or register.
//! - Memory is constant: bodies stream through one 64 KiB buffer, hashed as
//!   they are written; nothing buffers a whole body.
//! - Network policy: `https://` anywhere; plain `http://` only to this
//!   machine's loopback unless [`Options::allow_insecure_http`]; redirects
//!   are held to the same rule. `file://` URLs and plain paths (air-gapped
//!   mirrors) go through the same hashing and cache, and work offline.
//! - No host name is built in: every URL comes from the caller.
//! - Within one process, fetches of the same cache entry are serialized;
//!   across processes the home lock, held by every mutating command, does it.
//!
//! Progress: [`fetch`] reports one transfer to a [`Progress`]. Downloads
//! that run in parallel and should read as one figure (an environment's
//! wheels) each get a [`Transfer`] of one [`Aggregate`], which sums them
//! with atomics and reports the sums, throttled (see [`aggregate`]).
//!
//! The HTTP client is reqwest's blocking one: call [`fetch`] from a plain
//! thread, never from inside an async runtime.

pub mod aggregate;
mod http;
mod store;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fs_err as fs;
use sha2::{Digest, Sha256};
use url::Url;

pub use aggregate::{Aggregate, Totals, Transfer};
pub use store::Cache;

/// Sent with every request; servers and mirrors see who is asking.
pub const USER_AGENT: &str = concat!("beep-python/", env!("CARGO_PKG_VERSION"));

/// How [`fetch`] talks to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Allow plain `http://` to hosts other than this machine's loopback.
    pub allow_insecure_http: bool,
    /// Further attempts after the first one fails with a transient error
    /// (connection error, timeout, truncated body, HTTP 5xx, 408 or 429).
    pub retries: u32,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for each wait on the server: the response headers, then every
    /// read of the body. A slow but steady download never times out.
    pub read_timeout: Duration,
    /// The first delay between attempts; it doubles with each retry (capped
    /// at [`MAX_BACKOFF`]), plus a little jitter.
    pub backoff: Duration,
    /// Never touch the network: only the cache and local sources.
    pub offline: bool,
}

/// The longest delay between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_insecure_http: false,
            retries: 3,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            backoff: Duration::from_millis(500),
            offline: false,
        }
    }
}

/// Hears how a transfer goes; the core reports through it and `report/`
/// draws it.
///
/// `started` is called at the beginning of every attempt that got an answer
/// (a retry starts the count again), with the full size when known. Bytes
/// already on disk from an earlier attempt that a resumed attempt keeps are
/// reported through one `advanced` call right after `started`. `finished` is
/// called once when [`fetch`] returns, whatever the outcome, if `started`
/// was called.
pub trait Progress: Sync {
    fn started(&self, url: &str, total: Option<u64>);
    fn advanced(&self, bytes: u64);
    fn finished(&self);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&self, _url: &str, _total: Option<u64>) {}
    fn advanced(&self, _bytes: u64) {}
    fn finished(&self) {}
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FetchError {
    #[error("`{sha256}` is not a sha256 digest (64 hexadecimal characters)")]
    #[diagnostic(
        code("fetch::invalid-sha256"),
        help("copy the digest from the lock file or from the release's checksum list")
    )]
    InvalidSha256 { sha256: String },

    #[error("`{url}` is not a usable download address: {reason}")]
    #[diagnostic(
        code("fetch::invalid-url"),
        help("use an `https://` or `file://` URL, or a local path")
    )]
    InvalidUrl { url: String, reason: String },

    #[error("`{url}` uses `{scheme}:`, which beep-python does not download from")]
    #[diagnostic(
        code("fetch::unsupported-scheme"),
        help("use an `https://` or `file://` URL, or a local path")
    )]
    UnsupportedScheme { url: String, scheme: String },

    #[error("refusing to download `{url}` over plain HTTP")]
    #[diagnostic(
        code("fetch::insecure-http"),
        help(
            "use an `https://` URL; plain `http://` is only allowed to this machine (localhost, 127.0.0.0/8, ::1) unless insecure HTTP is explicitly allowed"
        )
    )]
    InsecureHttp { url: String },

    #[error("`{url}` redirected to `{target}`, which is plain HTTP to another machine")]
    #[diagnostic(
        code("fetch::insecure-redirect"),
        help("use a URL that stays on `https://`, or download the file yourself and use its path")
    )]
    InsecureRedirect { url: String, target: String },

    #[error("`{url}` is not in the download cache, and the network is off (offline)")]
    #[diagnostic(
        code("fetch::offline"),
        help(
            "run once with the network on to fill the cache, or point the URL at a local mirror (`file://` or a path)"
        )
    )]
    Offline { url: String, sha256: String },

    #[error("`{url}` answered HTTP {status}")]
    #[diagnostic(
        code("fetch::http"),
        help("check the URL (or the mirror setting) and access to it; this status is not retried")
    )]
    Http { status: u16, url: String },

    #[error("`{url}` answered HTTP {status} to all {attempts} attempts")]
    #[diagnostic(
        code("fetch::server-error"),
        help(
            "the server is failing or rate-limiting; try again later or use a mirror (what arrived is kept and resumed)"
        )
    )]
    ServerError {
        status: u16,
        url: String,
        attempts: u32,
    },

    #[error("`{url}` timed out (no data for {timeout:?}) in all {attempts} attempts")]
    #[diagnostic(
        code("fetch::timeout"),
        help(
            "check the network and proxy settings, or use a mirror; a rerun resumes what arrived"
        )
    )]
    TimedOut {
        url: String,
        attempts: u32,
        timeout: Duration,
    },

    #[error("could not download `{url}` ({attempts} attempts)")]
    #[diagnostic(
        code("fetch::network"),
        help(
            "check the network and proxy settings, or use a mirror; a rerun resumes what arrived"
        )
    )]
    Network {
        url: String,
        attempts: u32,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("checksum mismatch for `{url}`: expected sha256 {expected}, got {actual}")]
    #[diagnostic(
        code("fetch::checksum-mismatch"),
        help(
            "the download was corrupted or tampered with; nothing was extracted or registered, and the bad file was deleted"
        )
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },

    #[error("the download of `{url}` was cancelled")]
    #[diagnostic(
        code("fetch::cancelled"),
        help("what arrived is kept; the next run resumes it")
    )]
    Cancelled { url: String },

    #[error("could not read the local source `{}`", path.display())]
    #[diagnostic(
        code("fetch::local-source"),
        help("check the path of the local mirror and its permissions")
    )]
    LocalSource {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{url}` is larger than {limit} bytes")]
    #[diagnostic(
        code("fetch::too-large"),
        help("check that the URL names the intended file; this one is too large to be it")
    )]
    TooLarge { url: String, limit: u64 },

    #[error("`{url}` is not UTF-8 text")]
    #[diagnostic(
        code("fetch::not-text"),
        help("check that the URL names the intended file, not an archive or an error page")
    )]
    NotText { url: String },

    #[error("could not write to the download cache")]
    #[diagnostic(
        code("fetch::cache"),
        help("check the free space and the permissions of the cache folder")
    )]
    Cache(#[source] std::io::Error),

    #[error("could not set up the HTTP client")]
    #[diagnostic(
        code("fetch::client"),
        help("the TLS backend or the system's network configuration failed to load")
    )]
    Client(#[source] reqwest::Error),
}

/// Where the bytes come from.
#[derive(Debug)]
enum Source {
    Network(Url),
    Local(PathBuf),
}

/// Makes the file with digest `sha256` available in `cache` and returns its
/// path, downloading it from `url` (or copying it from a `file://` URL or a
/// local path) if it is not cached yet.
///
/// A cached file is returned without touching the network, so this works
/// offline for anything fetched before. `sha256` is hex, in either case.
pub fn fetch(
    url: &str,
    sha256: &str,
    cache: &Cache,
    opts: &Options,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<PathBuf, FetchError> {
    if !is_sha256(sha256) {
        return Err(FetchError::InvalidSha256 {
            sha256: sha256.to_owned(),
        });
    }
    let want = sha256.to_ascii_lowercase();
    if let Some(path) = cache.get(&want) {
        return Ok(path);
    }
    let source = parse_source(url, opts)?;
    if opts.offline && matches!(source, Source::Network(_)) {
        return Err(FetchError::Offline {
            url: url.to_owned(),
            sha256: want,
        });
    }

    let partial = cache.partial_of(&want);
    let _claim = store::Claim::take(&partial);
    // Another thread may have finished this very file while we waited.
    if let Some(path) = cache.get(&want) {
        return Ok(path);
    }
    fs::create_dir_all(cache.root()).map_err(FetchError::Cache)?;

    let progress = Reported::new(progress);
    let result = (|| {
        let (file, actual) = match &source {
            Source::Network(parsed) => {
                http::download(url, parsed, &partial, opts, &progress, cancel)?
            }
            Source::Local(path) => copy_local(url, path, &partial, &progress, cancel)?,
        };
        store::commit(cache, file, &partial, url, &want, &actual)
    })();
    progress.end();
    result
}

/// Reads a small text resource (a catalog, an index) whole: from an
/// `http(s)://` URL under the same network policy and timeouts as [`fetch`],
/// or from a `file://` URL or a local path.
///
/// Unlike [`fetch`] there is no digest to verify, so nothing is cached and
/// nothing resumed: one attempt, and a body over `limit` bytes is refused
/// without being read to the end. Offline, a network URL fails with
/// [`FetchError::Offline`] (whose `sha256` is empty).
pub fn read_text(url: &str, opts: &Options, limit: u64) -> Result<String, FetchError> {
    let bytes = match parse_source(url, opts)? {
        Source::Network(_) if opts.offline => {
            return Err(FetchError::Offline {
                url: url.to_owned(),
                sha256: String::new(),
            });
        }
        Source::Network(parsed) => http::get_small(url, &parsed, opts, limit)?,
        Source::Local(path) => read_local_small(url, &path, limit)?,
    };
    String::from_utf8(bytes).map_err(|_| FetchError::NotText {
        url: url.to_owned(),
    })
}

fn read_local_small(url: &str, path: &Path, limit: u64) -> Result<Vec<u8>, FetchError> {
    use std::io::Read;
    let local = |source| FetchError::LocalSource {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(local)?;
    let mut bytes = Vec::new();
    // A file may grow between a size check and the read: count what is read.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(local)?;
    if bytes.len() as u64 > limit {
        return Err(FetchError::TooLarge {
            url: url.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// Whether `text` is a sha256 digest in hex.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_source(url: &str, opts: &Options) -> Result<Source, FetchError> {
    let parsed = match Url::parse(url) {
        Ok(parsed) => parsed,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Ok(Source::Local(PathBuf::from(url)));
        }
        Err(err) => {
            return Err(FetchError::InvalidUrl {
                url: url.to_owned(),
                reason: err.to_string(),
            });
        }
    };
    match parsed.scheme() {
        "https" => Ok(Source::Network(parsed)),
        "http" => {
            if opts.allow_insecure_http || is_loopback(&parsed) {
                Ok(Source::Network(parsed))
            } else {
                Err(FetchError::InsecureHttp {
                    url: url.to_owned(),
                })
            }
        }
        "file" => match parsed.to_file_path() {
            Ok(path) => Ok(Source::Local(path)),
            Err(()) => Err(FetchError::InvalidUrl {
                url: url.to_owned(),
                reason: "a `file://` URL must name a local absolute path".to_owned(),
            }),
        },
        // `C:\mirror\python.tar.gz` parses as a URL with scheme `c`.
        scheme if cfg!(windows) && scheme.len() == 1 => Ok(Source::Local(PathBuf::from(url))),
        scheme => Err(FetchError::UnsupportedScheme {
            url: url.to_owned(),
            scheme: scheme.to_owned(),
        }),
    }
}

/// Whether `url` points at this machine, where plain HTTP cannot be
/// intercepted on the way (test servers, local mirrors).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// Copies a local file through the same hashing path as a download. There is
/// nothing to resume from a local source: it always starts from zero.
fn copy_local(
    url: &str,
    path: &Path,
    partial: &Path,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(fs::File, String), FetchError> {
    let local = |source| FetchError::LocalSource {
        path: path.to_owned(),
        source,
    };
    let mut src = fs::File::open(path).map_err(local)?;
    let total = src.metadata().map_err(local)?.len();
    let mut file = fs::File::create(partial).map_err(FetchError::Cache)?;
    let mut hasher = Sha256::new();
    progress.started(url, Some(total));
    match pump(&mut src, &mut file, &mut hasher, progress, cancel) {
        Ok(()) => Ok((file, hex(hasher))),
        Err(Pumped::Cancelled) => Err(FetchError::Cancelled {
            url: url.to_owned(),
        }),
        Err(Pumped::Read(err)) => Err(local(err)),
        Err(Pumped::Write(err)) => Err(FetchError::Cache(err)),
    }
}

/// The size of the one buffer a transfer streams through.
const CHUNK: usize = 64 * 1024;

/// Why [`pump`] stopped early.
#[derive(Debug)]
enum Pumped {
    Cancelled,
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Streams `from` to the end of `to`, hashing every byte written, one
/// chunk at a time, and checking `cancel` between chunks.
fn pump(
    from: &mut dyn std::io::Read,
    to: &mut fs::File,
    hasher: &mut Sha256,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(), Pumped> {
    use std::io::Write;
    // On the heap: 64 KiB is a lot to put on a worker thread's stack.
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Pumped::Cancelled);
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Pumped::Read(err)),
        };
        let chunk = &buf[..n];
        to.write_all(chunk).map_err(Pumped::Write)?;
        hasher.update(chunk);
        progress.advanced(n as u64);
    }
}

fn hex(hasher: Sha256) -> String {
    format!("{:x}", hasher.finalize())
}

/// Forwards to the caller's [`Progress`], remembering whether `started` was
/// called so that `finished` is sent exactly once, and only then.
struct Reported<'a> {
    inner: &'a dyn Progress,
    started: AtomicBool,
}

impl<'a> Reported<'a> {
    fn new(inner: &'a dyn Progress) -> Self {
        Reported {
            inner,
            started: AtomicBool::new(false),
        }
    }

    fn end(&self) {
        if self.started.load(Ordering::Relaxed) {
            self.inner.finished();
        }
    }
}

impl Progress for Reported<'_> {
    fn started(&self, url: &str, total: Option<u64>) {
        self.started.store(true, Ordering::Relaxed);
        self.inner.started(url, total);
    }

    fn advanced(&self, bytes: u64) {
        self.inner.advanced(bytes);
    }

    fn finished(&self) {
        // Sent once, by `end`.
    }
}
