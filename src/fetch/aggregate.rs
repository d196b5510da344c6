//! Many transfers, one total: the bytes of downloads running in parallel
//! (the wheels of one environment) reported as one figure.
//!
//! [`Progress`] hears one transfer at a time: `advanced` does not say
//! which transfer its bytes belong to, and a retry's `started` restarts
//! that transfer's count. So an [`Aggregate`] hands out one [`Transfer`]
//! per download ([`Aggregate::transfer`]); each remembers what it added to
//! the sums, so that a retry takes back exactly its own bytes and size.
//!
//! - `received`: the bytes of every transfer so far (a resumed attempt's
//!   kept bytes included, as [`Progress`] reports them).
//! - `expected`: the sum of the sizes of the transfers started so far;
//!   `None` while one that is running has no known size (no
//!   `Content-Length`). A transfer of unknown size counts as its received
//!   bytes once it finishes. Transfers that never start (files already in
//!   the cache) count for nothing. The sum grows when a transfer starts, so
//!   with more files than parallel downloads it grows in steps: it is what
//!   is known, never a guess.
//!
//! Only counters are shared, as atomics: a transfer adds to them from its
//! own thread and never waits on another. The one lock is around sending
//! a report, so reports leave in the order their figures were read (the
//! received bytes never go back except by a retry). A byte that arrives
//! sends a report only if none was sent for [`Aggregate::EVERY`] and no
//! other thread is sending one (`try_lock`); the start and the end of each
//! transfer always send one, so the last report has every byte.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use super::Progress;

/// What an [`Aggregate`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Bytes received by every transfer.
    pub received: u64,
    /// The sum of the sizes of the transfers started; `None` while one of
    /// unknown size runs.
    pub expected: Option<u64>,
}

/// Sums [`Transfer`]s and reports the sums to a sink, throttled.
pub struct Aggregate<'a> {
    sink: &'a (dyn Fn(Totals) + Sync),
    received: AtomicU64,
    expected: AtomicU64,
    /// Running transfers whose size is unknown.
    unsized_running: AtomicU64,
    /// When the last report was sent; held while one is sent.
    sent: Mutex<Option<Instant>>,
}

/// A [`Transfer`]'s size before its first `started`.
const IDLE: u64 = u64::MAX;
/// A [`Transfer`]'s size when the server did not say it.
const UNKNOWN: u64 = u64::MAX - 1;

impl<'a> Aggregate<'a> {
    /// At most one report for arriving bytes per this long.
    pub const EVERY: Duration = Duration::from_millis(200);

    /// Sums reported to `sink`.
    pub const fn new(sink: &'a (dyn Fn(Totals) + Sync)) -> Aggregate<'a> {
        Aggregate {
            sink,
            received: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            unsized_running: AtomicU64::new(0),
            sent: Mutex::new(None),
        }
    }

    /// A new transfer of this sum: give it to one [`super::fetch`] (or
    /// several, one after the other: each start replaces the last one's
    /// contribution).
    pub fn transfer(&self) -> Transfer<'_> {
        Transfer {
            of: self,
            received: AtomicU64::new(0),
            size: AtomicU64::new(IDLE),
        }
    }

    /// The sums now.
    pub fn totals(&self) -> Totals {
        let received = self.received.load(Ordering::SeqCst);
        let unsized_running = self.unsized_running.load(Ordering::SeqCst);
        let expected = self.expected.load(Ordering::SeqCst);
        Totals {
            received,
            expected: (unsized_running == 0).then_some(expected),
        }
    }

    /// Sends the sums: always if `force`, else only when the last report
    /// is older than [`Self::EVERY`] and nobody else is sending.
    fn report(&self, force: bool) {
        let mut sent = if force {
            self.sent.lock().unwrap_or_else(PoisonError::into_inner)
        } else {
            match self.sent.try_lock() {
                Ok(sent) => sent,
                Err(TryLockError::Poisoned(sent)) => sent.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            }
        };
        let now = Instant::now();
        if !force && sent.is_some_and(|last| now.duration_since(last) < Self::EVERY) {
            return;
        }
        *sent = Some(now);
        (self.sink)(self.totals());
    }
}

/// One download's share of an [`Aggregate`]: a [`Progress`] for
/// [`super::fetch`].
pub struct Transfer<'a> {
    of: &'a Aggregate<'a>,
    /// What this transfer added to the aggregate's `received`.
    received: AtomicU64,
    /// What it added to `expected`: its size, or [`UNKNOWN`] (counted in
    /// `unsized_running`), or [`IDLE`] (nothing yet).
    size: AtomicU64,
}

impl Transfer<'_> {
    /// Takes this transfer's size out of the sums (`was`, as `size` held it).
    fn withdraw(&self, was: u64) {
        match was {
            IDLE => {}
            UNKNOWN => {
                self.of.unsized_running.fetch_sub(1, Ordering::SeqCst);
            }
            size => {
                self.of.expected.fetch_sub(size, Ordering::SeqCst);
            }
        }
    }
}

impl Progress for Transfer<'_> {
    fn started(&self, _url: &str, total: Option<u64>) {
        // An attempt starts the count again: this transfer's bytes go.
        let had = self.received.swap(0, Ordering::SeqCst);
        self.of.received.fetch_sub(had, Ordering::SeqCst);
        // The new size is added before the old one is taken out, so that
        // a report read in between overstates the total, never understates
        // it.
        let size = match total {
            Some(size) => {
                let size = size.min(UNKNOWN - 1);
                self.of.expected.fetch_add(size, Ordering::SeqCst);
                size
            }
            None => {
                self.of.unsized_running.fetch_add(1, Ordering::SeqCst);
                UNKNOWN
            }
        };
        self.withdraw(self.size.swap(size, Ordering::SeqCst));
        self.of.report(true);
    }

    fn advanced(&self, bytes: u64) {
        self.received.fetch_add(bytes, Ordering::SeqCst);
        self.of.received.fetch_add(bytes, Ordering::SeqCst);
        self.of.report(false);
    }

    fn finished(&self) {
        // A size nobody said is the size that arrived.
        if self.size.load(Ordering::SeqCst) == UNKNOWN {
            let received = self.received.load(Ordering::SeqCst);
            self.of.expected.fetch_add(received, Ordering::SeqCst);
            self.withdraw(self.size.swap(received, Ordering::SeqCst));
        }
        self.of.report(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_transfers_add_up_to_one_total() {
        let log = Mutex::new(Vec::new());
        let sink = |t| log.lock().unwrap().push(t);
        let all = Aggregate::new(&sink);
        std::thread::scope(|scope| {
            for size in [1_000u64, 20_000, 300_000] {
                let all = &all;
                scope.spawn(move || {
                    let transfer = all.transfer();
                    transfer.started("u", Some(size));
                    for _ in 0..size / 100 {
                        transfer.advanced(100);
                    }
                    transfer.finished();
                });
            }
        });
        let log = log.into_inner().unwrap();
        let last = *log.last().unwrap();
        assert_eq!(
            last,
            Totals {
                received: 321_000,
                expected: Some(321_000)
            }
        );
        // Sent in order: the bytes never go back, and never pass the total.
        for pair in log.windows(2) {
            assert!(pair[0].received <= pair[1].received, "{log:?}");
        }
        assert!(
            log.iter()
                .all(|t| t.expected.is_none_or(|e| t.received <= e))
        );
    }

    #[test]
    fn a_retry_takes_back_only_its_own_bytes() {
        let log = Mutex::new(Vec::new());
        let sink = |t| log.lock().unwrap().push(t);
        let all = Aggregate::new(&sink);
        let (a, b) = (all.transfer(), all.transfer());
        a.started("a", Some(100));
        a.advanced(60);
        b.started("b", Some(50));
        b.advanced(50);
        b.finished();
        // `a` is cut off and resumed: the new attempt keeps 40 bytes.
        a.started("a", Some(100));
        a.advanced(40);
        assert_eq!(
            all.totals(),
            Totals {
                received: 90,
                expected: Some(150)
            }
        );
        a.advanced(60);
        a.finished();
        assert_eq!(
            *log.lock().unwrap().last().unwrap(),
            Totals {
                received: 150,
                expected: Some(150)
            }
        );
    }

    #[test]
    fn an_unknown_size_hides_the_total_until_that_transfer_ends() {
        let sink = |_| {};
        let all = Aggregate::new(&sink);
        let (a, b) = (all.transfer(), all.transfer());
        a.started("a", Some(10));
        b.started("b", None);
        b.advanced(7);
        assert_eq!(all.totals().expected, None);
        b.finished();
        assert_eq!(
            all.totals(),
            Totals {
                received: 7,
                expected: Some(17)
            }
        );
        // A transfer used again for the next file (one after the other)
        // replaces its own share.
        b.started("c", Some(5));
        assert_eq!(
            all.totals(),
            Totals {
                received: 0,
                expected: Some(15)
            }
        );
    }
}
