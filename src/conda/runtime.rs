//! The tokio runtime of the conda layer: created on first use, owned here,
//! entered only through [`block_on`]. Nothing outside `src/conda` sees an
//! async function.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::runtime::Runtime;

use super::CondaError;

/// Two workers: repodata parsing and extraction are CPU-bound and the
/// machines this runs on in CI have two cores; downloads are I/O-bound and
/// need no more threads than that.
const WORKERS: usize = 2;

/// How often a pending future is interrupted to look at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime, created the first time a conda operation needs it.
pub(super) fn runtime() -> Result<&'static Runtime, CondaError> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("beep-conda")
        .enable_all()
        .build()
        .map_err(CondaError::Runtime)?;
    // Two threads may race here; the loser's runtime is dropped unused.
    Ok(RUNTIME.get_or_init(|| built))
}

/// Runs `future` to completion on the conda runtime from a plain thread,
/// or stops waiting for it (and drops it) once `cancel` is set.
///
/// Only futures that are safe to drop half-way go through here (repodata
/// queries, cache fills: they write into caches with their own locks and
/// atomic renames). Linking into a prefix is never dropped half-way; see
/// [`block_on_uncancelled`].
pub(super) fn block_on<T>(
    future: impl Future<Output = Result<T, CondaError>>,
    cancel: &AtomicBool,
) -> Result<T, CondaError> {
    runtime()?.block_on(async {
        tokio::pin!(future);
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(CondaError::Cancelled);
            }
            tokio::select! {
                result = &mut future => return result,
                () = tokio::time::sleep(CANCEL_POLL) => {}
            }
        }
    })
}

/// Runs `future` to completion, whatever happens to the cancel flag: for
/// work that must not stop half-way (linking a transaction into a prefix).
pub(super) fn block_on_uncancelled<T>(
    future: impl Future<Output = Result<T, CondaError>>,
) -> Result<T, CondaError> {
    runtime()?.block_on(future)
}
