//! Downloading over HTTP(S): attempts, retries with backoff, and resuming a
//! partial with a `Range` request.

use std::hash::{BuildHasher, RandomState};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fs_err as fs;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    CHUNK, FetchError, MAX_BACKOFF, Options, Progress, Pumped, USER_AGENT, hex, is_loopback, pump,
};

/// Downloads `parsed` into `partial` until the body is complete, and
/// returns the open partial with the digest of all its bytes.
pub(super) fn download(
    url: &str,
    parsed: &Url,
    partial: &Path,
    opts: &Options,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(fs::File, String), FetchError> {
    let client = client(parsed, opts)?;
    let mut attempt = 0;
    // A 416 answer to a resume restarts once from zero without counting as
    // an attempt: the partial was stale, the server is fine.
    let mut restarted = false;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(FetchError::Cancelled {
                url: url.to_owned(),
            });
        }
        attempt += 1;
        match attempt_once(&client, url, parsed, partial, progress, cancel) {
            Ok(done) => return Ok(done),
            Err(Failure::Fatal(err)) => return Err(err),
            Err(Failure::Stale) if !restarted => {
                restarted = true;
                attempt -= 1;
            }
            Err(Failure::Stale) => return Err(Transient::BadRange.into_error(url, attempt, opts)),
            Err(Failure::Transient(why)) => {
                if attempt > opts.retries {
                    return Err(why.into_error(url, attempt, opts));
                }
                wait(backoff(opts.backoff, attempt), cancel).map_err(|()| {
                    FetchError::Cancelled {
                        url: url.to_owned(),
                    }
                })?;
            }
        }
    }
}

/// Reads the whole body of `parsed` into memory, in one attempt, refusing
/// more than `limit` bytes: for small text resources, which have no digest
/// to resume or verify against.
pub(super) fn get_small(
    url: &str,
    parsed: &Url,
    opts: &Options,
    limit: u64,
) -> Result<Vec<u8>, FetchError> {
    let failed = |err| match classify_send(url, err) {
        Failure::Fatal(err) => err,
        Failure::Transient(why) => why.into_error(url, 1, opts),
        Failure::Stale => Transient::BadRange.into_error(url, 1, opts),
    };
    let client = client(parsed, opts)?;
    let response = client.get(parsed.clone()).send().map_err(failed)?;
    let status = response.status();
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return Err(Transient::Status(status).into_error(url, 1, opts));
    }
    if !status.is_success() {
        return Err(FetchError::Http {
            status: status.as_u16(),
            url: url.to_owned(),
        });
    }
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    // One byte past the limit tells a body of exactly `limit` bytes from a
    // longer one, without reading the rest.
    response
        .take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|err| Transient::Read(err).into_error(url, 1, opts))?;
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(body)
}

fn client(parsed: &Url, opts: &Options) -> Result<Client, FetchError> {
    let allow_insecure = opts.allow_insecure_http;
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(opts.connect_timeout)
        // The blocking client applies this to each wait: the response
        // headers, then every read of the body.
        .timeout(opts.read_timeout)
        .redirect(reqwest::redirect::Policy::custom(move |next| {
            if next.previous().len() >= MAX_REDIRECTS {
                next.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if next.url().scheme() == "https"
                || (next.url().scheme() == "http" && (allow_insecure || is_loopback(next.url())))
            {
                next.follow()
            } else {
                let target = next.url().to_string();
                next.error(RefusedRedirect(target))
            }
        }));
    if is_loopback(parsed) {
        // A proxy cannot reach this machine's loopback on our behalf.
        builder = builder.no_proxy();
    }
    builder.build().map_err(FetchError::Client)
}

const MAX_REDIRECTS: usize = 10;

/// Why the redirect policy stopped following.
#[derive(Debug)]
struct RefusedRedirect(String);

impl std::fmt::Display for RefusedRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused to follow a redirect to `{}`", self.0)
    }
}

impl std::error::Error for RefusedRedirect {}

/// How one attempt failed.
#[derive(Debug)]
enum Failure {
    /// Retrying cannot help.
    Fatal(FetchError),
    /// The network or the server failed; another attempt may succeed, and
    /// resumes what arrived.
    Transient(Transient),
    /// The server refused the range of a resume (416): the partial is gone,
    /// start again from zero.
    Stale,
}

#[derive(Debug)]
enum Transient {
    Status(StatusCode),
    Send(reqwest::Error),
    Read(std::io::Error),
    /// A 206 for another range than the one asked for (the partial was
    /// deleted), or a partial that changed under us.
    BadRange,
}

impl Transient {
    fn into_error(self, url: &str, attempts: u32, opts: &Options) -> FetchError {
        let timed_out = FetchError::TimedOut {
            url: url.to_owned(),
            attempts,
            timeout: opts.read_timeout,
        };
        let network = |source: Box<dyn std::error::Error + Send + Sync>| FetchError::Network {
            url: url.to_owned(),
            attempts,
            source,
        };
        match self {
            Transient::Status(status) => FetchError::ServerError {
                status: status.as_u16(),
                url: url.to_owned(),
                attempts,
            },
            Transient::Send(err) if err.is_timeout() => timed_out,
            Transient::Send(err) => network(Box::new(err)),
            Transient::Read(err) if is_timeout(&err) => timed_out,
            Transient::Read(err) => network(Box::new(err)),
            Transient::BadRange => {
                network("the server answered a different range than asked for".into())
            }
        }
    }
}

/// Whether a read error of the blocking body is a timeout: reqwest wraps its
/// own error in an `io::Error` of kind `Other`.
fn is_timeout(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::TimedOut
        || err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
}

fn attempt_once(
    client: &Client,
    url: &str,
    parsed: &Url,
    partial: &Path,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(fs::File, String), Failure> {
    let cache_err = |err| Failure::Fatal(FetchError::Cache(err));
    let have = match fs::metadata(partial) {
        Ok(meta) => meta.len(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => 0,
        Err(err) => return Err(cache_err(err)),
    };

    let mut request = client.get(parsed.clone());
    if have > 0 {
        request = request.header(RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().map_err(|err| classify_send(url, err))?;
    let status = response.status();

    let (mut file, mut hasher, start) = if status == StatusCode::PARTIAL_CONTENT {
        if have == 0 || range_start(&response) != Some(have) {
            // Bytes for some other offset cannot be spliced onto ours.
            let _ = fs::remove_file(partial);
            return Err(Failure::Transient(Transient::BadRange));
        }
        let (file, hasher) = reopen(partial, have)?;
        (file, hasher, have)
    } else if status.is_success() {
        // A server that ignores `Range` sends everything again.
        let file = fs::File::create(partial).map_err(cache_err)?;
        (file, Sha256::new(), 0)
    } else if status == StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
        fs::remove_file(partial).map_err(cache_err)?;
        return Err(Failure::Stale);
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return Err(Failure::Transient(Transient::Status(status)));
    } else {
        return Err(Failure::Fatal(FetchError::Http {
            status: status.as_u16(),
            url: url.to_owned(),
        }));
    };

    progress.started(url, response.content_length().map(|len| len + start));
    if start > 0 {
        progress.advanced(start);
    }
    match pump(&mut response, &mut file, &mut hasher, progress, cancel) {
        Ok(()) => Ok((file, hex(hasher))),
        Err(Pumped::Cancelled) => Err(Failure::Fatal(FetchError::Cancelled {
            url: url.to_owned(),
        })),
        // A body cut short (hyper checks it against Content-Length) or a
        // stalled read: what arrived stays in the partial for the next
        // attempt to resume.
        Err(Pumped::Read(err)) => Err(Failure::Transient(Transient::Read(err))),
        Err(Pumped::Write(err)) => Err(cache_err(err)),
    }
}

fn classify_send(url: &str, err: reqwest::Error) -> Failure {
    if err.is_redirect() {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(cause) = source {
            if let Some(RefusedRedirect(target)) = cause.downcast_ref::<RefusedRedirect>() {
                return Failure::Fatal(FetchError::InsecureRedirect {
                    url: url.to_owned(),
                    target: target.clone(),
                });
            }
            source = cause.source();
        }
        return Failure::Fatal(FetchError::Network {
            url: url.to_owned(),
            attempts: 1,
            source: Box::new(err),
        });
    }
    if err.is_builder() {
        return Failure::Fatal(FetchError::Network {
            url: url.to_owned(),
            attempts: 1,
            source: Box::new(err),
        });
    }
    Failure::Transient(Transient::Send(err))
}

/// The first byte offset of a 206 answer (`Content-Range: bytes 100-199/200`).
fn range_start(response: &Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    let (start, _) = range.split_once('-')?;
    start.trim().parse().ok()
}

/// Opens the partial for appending, with the digest of the `have` bytes it
/// already holds.
fn reopen(partial: &Path, have: u64) -> Result<(fs::File, Sha256), Failure> {
    let cache_err = |err| Failure::Fatal(FetchError::Cache(err));
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(partial)
        .map_err(cache_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut read = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(cache_err(err)),
        };
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    // Reading to the end leaves the cursor there, so writes append.
    if read != have {
        // The partial changed between asking and answering; start over.
        drop(file);
        let _ = fs::remove_file(partial);
        return Err(Failure::Transient(Transient::BadRange));
    }
    Ok((file, hasher))
}

/// The delay before retry number `attempt` (1 for the first retry): the
/// base doubled for each earlier retry, capped, plus up to a quarter of
/// jitter so that many clients do not retry in step.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let doubled = base
        .checked_mul(1u32 << attempt.saturating_sub(1).min(16))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF);
    let quarter = doubled.as_nanos() / 4;
    let jitter = if quarter == 0 {
        0
    } else {
        // Each `RandomState` is seeded randomly by std: good enough for
        // jitter, and no dependency.
        u128::from(RandomState::new().hash_one(attempt)) % quarter
    };
    doubled + Duration::from_nanos(u64::try_from(jitter).unwrap_or(0))
}

/// Sleeps for `delay`, waking early (with `Err`) if `cancel` is set.
fn wait(delay: Duration, cancel: &AtomicBool) -> Result<(), ()> {
    let until = Instant::now() + delay;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(());
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(100);
        let first = backoff(base, 1);
        assert!(first >= base && first <= base + base / 4);
        let third = backoff(base, 3);
        assert!(third >= base * 4 && third <= base * 5);
        assert!(backoff(base, 40) <= MAX_BACKOFF + MAX_BACKOFF / 4);
    }
}
