//! Failure-injection points for crash and rollback tests (rustup's
//! "checkpoints"). Compiled to nothing unless the `failpoints` feature is on,
//! which only the test suite enables.
//!
//! A point fails when it is armed, either for the current thread (library
//! tests: `arm`) or for the whole process through the environment variable
//! `BEEP_PYTHON_FAILPOINTS` (a comma-separated list; tests that run the
//! binary).

/// Returns an error if the point `name` is armed.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) -> std::io::Result<()> {
    let armed_here = ARMED.with(|armed| armed.borrow().iter().any(|a| a == name));
    let armed_env = std::env::var("BEEP_PYTHON_FAILPOINTS")
        .map(|v| v.split(',').any(|a| a.trim() == name))
        .unwrap_or(false);
    if armed_here || armed_env {
        return Err(std::io::Error::other(format!("failpoint `{name}` hit")));
    }
    Ok(())
}

/// Returns an error if the point `name` is armed.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) -> std::io::Result<()> {
    Ok(())
}

/// Sleeps while the point `name` is armed as `name=pause` in
/// `BEEP_PYTHON_FAILPOINTS` (up to a minute), returning early when `cancel`
/// is set: lets a test kill or interrupt a process at a known step.
#[cfg(feature = "failpoints")]
pub fn pause(name: &str, cancel: &std::sync::atomic::AtomicBool) {
    let armed = std::env::var("BEEP_PYTHON_FAILPOINTS")
        .map(|v| v.split(',').any(|a| a.trim() == format!("{name}=pause")))
        .unwrap_or(false);
    if !armed {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline && !cancel.load(std::sync::atomic::Ordering::SeqCst)
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sleeps while the point `name` is armed as a pause (tests only).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn pause(_name: &str, _cancel: &std::sync::atomic::AtomicBool) {}

#[cfg(feature = "failpoints")]
thread_local! {
    static ARMED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Arms `name` on this thread until the guard is dropped.
#[cfg(feature = "failpoints")]
pub fn arm(name: &str) -> Armed {
    ARMED.with(|armed| armed.borrow_mut().push(name.to_string()));
    Armed(name.to_string())
}

/// Disarms its point when dropped.
#[cfg(feature = "failpoints")]
pub struct Armed(String);

#[cfg(feature = "failpoints")]
impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.with(|armed| armed.borrow_mut().retain(|a| *a != self.0));
    }
}

/// A point where a crash test may kill the process: with
/// `BEEP_PYTHON_CRASH_AT=N`, the Nth crash point this process reaches (of
/// any name) kills it with SIGKILL, as a power cut or `kill -9` would.
/// Enumerating N walks a transaction through every recorded step.
#[cfg(feature = "failpoints")]
pub fn crash_point(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Some(at) = std::env::var("BEEP_PYTHON_CRASH_AT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return;
    };
    let hit = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if hit == at {
        eprintln!("crash point {hit} (`{name}`): killing this process");
        #[cfg(unix)]
        // SAFETY: sending a signal to ourselves has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}

/// A point where a crash test may kill the process (tests only).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn crash_point(_name: &str) {}
