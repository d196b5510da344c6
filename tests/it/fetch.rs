//! `beep_python::fetch` against a scripted HTTP server on 127.0.0.1: the
//! cache, verification, retries, resume, timeouts, the scheme policy, local
//! sources and cancellation. No test needs the internet.
//!
//! Not tested: peak memory, which cannot be measured reliably in a test;
//! the code streams through one 64 KiB buffer (`fetch::pump`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use beep_python::fetch::{self, Cache, FetchError, NoProgress, Options, Progress};
use sha2::{Digest, Sha256};

use crate::server::{Reply, Server};

const SIZE: usize = 5 * 1024 * 1024;

/// ~5 MB of pseudo-random bytes (xorshift), and their sha256.
fn data() -> &'static (Arc<Vec<u8>>, String) {
    static DATA: OnceLock<(Arc<Vec<u8>>, String)> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut bytes = Vec::with_capacity(SIZE);
        while bytes.len() < SIZE {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.extend_from_slice(&state.to_le_bytes());
        }
        bytes.truncate(SIZE);
        let sha = format!("{:x}", Sha256::digest(&bytes));
        (Arc::new(bytes), sha)
    })
}

fn sha() -> &'static str {
    &data().1
}

fn server() -> Server {
    Server::start(data().0.clone())
}

/// Fast options for tests: short backoff and read timeout.
fn opts() -> Options {
    Options {
        retries: 3,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
        ..Options::default()
    }
}

fn get(url: &str, cache: &Cache, opts: &Options) -> Result<std::path::PathBuf, FetchError> {
    fetch::fetch(
        url,
        sha(),
        cache,
        opts,
        &NoProgress,
        &AtomicBool::new(false),
    )
}

#[track_caller]
fn assert_verified(path: &Path, cache: &Cache) {
    assert_eq!(path, cache.path_of(sha()));
    let bytes = fs_err::read(path).unwrap();
    assert_eq!(format!("{:x}", Sha256::digest(&bytes)), sha());
    assert!(
        !cache.partial_of(sha()).exists(),
        "the partial is left behind"
    );
}

fn new_cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache/downloads"));
    (dir, cache)
}

#[test]
fn good_download_lands_at_its_digest_and_is_reused_without_a_request() {
    let server = server();
    let (_dir, cache) = new_cache();

    let path = get(&server.url(), &cache, &opts()).unwrap();
    assert_verified(&path, &cache);
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].range, None);
    assert_eq!(
        seen[0].user_agent.as_deref(),
        Some(concat!("beep-python/", env!("CARGO_PKG_VERSION")))
    );

    let again = get(&server.url(), &cache, &opts()).unwrap();
    assert_eq!(again, path);
    let offline = Options {
        offline: true,
        ..opts()
    };
    let uppercase = sha().to_ascii_uppercase();
    let cached = fetch::fetch(
        &server.url(),
        &uppercase,
        &cache,
        &offline,
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(cached, path);
    assert_eq!(server.requests().len(), 1, "the cache was not used");
}

#[test]
fn offline_without_the_file_cached_is_an_error() {
    let server = server();
    let (_dir, cache) = new_cache();
    let offline = Options {
        offline: true,
        ..opts()
    };
    let err = get(&server.url(), &cache, &offline).unwrap_err();
    assert!(matches!(err, FetchError::Offline { .. }), "{err:?}");
    assert!(server.requests().is_empty());
}

#[test]
fn wrong_checksum_is_reported_and_nothing_is_kept() {
    let server = server();
    server.script([Reply::Tamper]);
    let (_dir, cache) = new_cache();

    let err = get(&server.url(), &cache, &opts()).unwrap_err();
    let FetchError::ChecksumMismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("expected a checksum mismatch, got {err:?}");
    };
    assert_eq!(expected, sha());
    assert_ne!(actual, sha());
    assert_eq!(actual.len(), 64);
    let message = err.to_string();
    assert!(
        message.contains(sha()) && message.contains(actual.as_str()),
        "{message}"
    );
    assert!(!cache.path_of(sha()).exists());
    assert!(!cache.partial_of(sha()).exists());
    assert_eq!(server.requests().len(), 1, "a mismatch must not be retried");
    let code = miette::Diagnostic::code(&err).unwrap().to_string();
    assert_eq!(code, "fetch::checksum-mismatch");
}

#[test]
fn server_errors_are_retried_until_success() {
    let server = server();
    server.script([Reply::Status(500), Reply::Status(500)]);
    let (_dir, cache) = new_cache();

    let path = get(&server.url(), &cache, &opts()).unwrap();
    assert_verified(&path, &cache);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn server_errors_fail_after_the_retries() {
    let server = server();
    server.script([Reply::Status(503), Reply::Status(503), Reply::Status(429)]);
    let (_dir, cache) = new_cache();
    let opts = Options {
        retries: 2,
        ..opts()
    };

    let err = get(&server.url(), &cache, &opts).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::ServerError {
                status: 429,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn truncated_body_resumes_with_a_range_request() {
    let server = server();
    let cut = 1_000_000;
    server.script([Reply::CloseAfter(cut)]);
    let (_dir, cache) = new_cache();

    let path = get(&server.url(), &cache, &opts()).unwrap();
    assert_verified(&path, &cache);
    let ranges: Vec<_> = server.requests().iter().map(|s| s.range).collect();
    assert_eq!(ranges, [None, Some(cut as u64)]);
}

#[test]
fn server_ignoring_range_restarts_and_still_verifies() {
    let server = server();
    server.script([Reply::CloseAfter(700_000), Reply::IgnoreRange]);
    let (_dir, cache) = new_cache();

    let path = get(&server.url(), &cache, &opts()).unwrap();
    assert_verified(&path, &cache);
    let ranges: Vec<_> = server.requests().iter().map(|s| s.range).collect();
    assert_eq!(ranges, [None, Some(700_000)]);
}

#[test]
fn not_found_is_an_http_error_without_retries() {
    let server = server();
    server.script([Reply::Status(404)]);
    let (_dir, cache) = new_cache();

    let err = get(&server.url(), &cache, &opts()).unwrap_err();
    assert!(
        matches!(err, FetchError::Http { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn hanging_server_times_out_after_the_retries() {
    let server = server();
    let hang = Reply::Hang(Duration::from_secs(3));
    server.script([hang.clone(), hang.clone(), hang]);
    let (_dir, cache) = new_cache();
    let opts = Options {
        retries: 2,
        read_timeout: Duration::from_millis(300),
        ..opts()
    };

    // Each reply hangs for 3 s, ten times the read timeout: a `TimedOut`
    // after three requests is the timeout firing on each of them (a client
    // that waited out the hang would see the connection close instead).
    let err = get(&server.url(), &cache, &opts).unwrap_err();
    assert!(
        matches!(err, FetchError::TimedOut { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn plain_http_to_another_machine_is_refused_without_connecting() {
    let (_dir, cache) = new_cache();
    // `.invalid` never resolves: had it been looked up first, the error
    // would be the failed lookup, not the refusal.
    let err = get("http://example.invalid/python.tar.gz", &cache, &opts()).unwrap_err();
    assert!(matches!(err, FetchError::InsecureHttp { .. }), "{err:?}");
    assert!(
        !cache.root().exists(),
        "nothing is written for a refused URL"
    );

    let err = get("ftp://example.invalid/python.tar.gz", &cache, &opts()).unwrap_err();
    assert!(
        matches!(err, FetchError::UnsupportedScheme { .. }),
        "{err:?}"
    );
    let err = fetch::fetch(
        "https://example.invalid/x",
        "not-a-digest",
        &cache,
        &opts(),
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::InvalidSha256 { .. }), "{err:?}");
}

#[test]
fn redirect_to_plain_http_elsewhere_is_refused() {
    let server = server();
    server.script([Reply::Redirect(
        "http://example.invalid/file.bin".to_owned(),
    )]);
    let (_dir, cache) = new_cache();

    let err = get(&server.url(), &cache, &opts()).unwrap_err();
    let FetchError::InsecureRedirect { target, .. } = &err else {
        panic!("expected a refused redirect, got {err:?}");
    };
    assert_eq!(target, "http://example.invalid/file.bin");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn redirect_within_loopback_is_followed() {
    let server = server();
    server.script([Reply::Redirect(server.url())]);
    let (_dir, cache) = new_cache();

    let path = get(&server.url(), &cache, &opts()).unwrap();
    assert_verified(&path, &cache);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn localhost_by_name_is_allowed_over_plain_http() {
    let server = server();
    let (_dir, cache) = new_cache();
    let url = server.url().replace("127.0.0.1", "localhost");

    let path = get(&url, &cache, &opts()).unwrap();
    assert_verified(&path, &cache);
}

#[test]
fn file_urls_and_plain_paths_are_copied_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("python.tar.gz");
    fs_err::write(&source, data().0.as_slice()).unwrap();
    let offline = Options {
        offline: true,
        ..opts()
    };

    let (_a, cache) = new_cache();
    let url = url::Url::from_file_path(&source).unwrap().to_string();
    let path = get(&url, &cache, &offline).unwrap();
    assert_verified(&path, &cache);

    let (_b, cache) = new_cache();
    let path = get(source.to_str().unwrap(), &cache, &opts()).unwrap();
    assert_verified(&path, &cache);

    let (_c, cache) = new_cache();
    let missing = dir.path().join("missing.tar.gz");
    let err = get(missing.to_str().unwrap(), &cache, &opts()).unwrap_err();
    assert!(matches!(err, FetchError::LocalSource { .. }), "{err:?}");
}

/// Sets the cancel flag once a given number of bytes has arrived.
struct CancelAfter<'a> {
    bytes: u64,
    seen: AtomicU64,
    cancel: &'a AtomicBool,
    finished: AtomicBool,
}

impl Progress for CancelAfter<'_> {
    fn started(&self, _url: &str, total: Option<u64>) {
        assert_eq!(total, Some(SIZE as u64));
    }

    fn advanced(&self, bytes: u64) {
        let seen = self.seen.fetch_add(bytes, Ordering::SeqCst) + bytes;
        if seen >= self.bytes {
            self.cancel.store(true, Ordering::SeqCst);
        }
    }

    fn finished(&self) {
        self.finished.store(true, Ordering::SeqCst);
    }
}

#[test]
fn cancel_stops_quickly_and_the_next_run_resumes() {
    let server = server();
    let (_dir, cache) = new_cache();
    let cancel = AtomicBool::new(false);
    let progress = CancelAfter {
        bytes: 200_000,
        seen: AtomicU64::new(0),
        cancel: &cancel,
        finished: AtomicBool::new(false),
    };

    let err = fetch::fetch(&server.url(), sha(), &cache, &opts(), &progress, &cancel).unwrap_err();
    assert!(matches!(err, FetchError::Cancelled { .. }), "{err:?}");
    assert!(progress.finished.load(Ordering::SeqCst));
    let kept = fs_err::metadata(cache.partial_of(sha())).unwrap().len();
    assert!(kept >= 200_000 && kept < SIZE as u64, "{kept}");
    assert!(!cache.path_of(sha()).exists());

    let path = get(&server.url(), &cache, &opts()).unwrap();
    assert_verified(&path, &cache);
    let ranges: Vec<_> = server.requests().iter().map(|s| s.range).collect();
    assert_eq!(ranges, [None, Some(kept)]);
}

#[test]
fn cancel_before_starting_makes_no_request() {
    let server = server();
    let (_dir, cache) = new_cache();
    let cancel = AtomicBool::new(true);
    let err =
        fetch::fetch(&server.url(), sha(), &cache, &opts(), &NoProgress, &cancel).unwrap_err();
    assert!(matches!(err, FetchError::Cancelled { .. }), "{err:?}");
    assert!(server.requests().is_empty());
}

#[test]
fn stale_partial_from_another_file_is_replaced_after_a_mismatch() {
    // A partial holding bytes that are not a prefix of the file resumes into
    // a mismatch, which deletes it; the next run then succeeds from zero.
    let server = server();
    let (_dir, cache) = new_cache();
    fs_err::create_dir_all(cache.root()).unwrap();
    fs_err::write(cache.partial_of(sha()), b"garbage").unwrap();

    let err = get(&server.url(), &cache, &opts()).unwrap_err();
    assert!(
        matches!(err, FetchError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert!(!cache.partial_of(sha()).exists());
    let path = get(&server.url(), &cache, &opts()).unwrap();
    assert_verified(&path, &cache);
}
