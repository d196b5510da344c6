//! `doctor --watch`: run the checks now and then every interval, save each
//! report (rotated), and say something only when health changes. Stops
//! cleanly between runs when `stop` receives (Ctrl-C): a run in progress
//! finishes and its report is written whole, or not at all.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{Report, Severity, reports};
use crate::registry::Home;

/// What makes health "change": the problems (warning and above), by
/// check, resource and severity. Notes coming and going, or a problem's
/// wording, do not.
pub fn health(report: &Report) -> BTreeSet<(String, String, Severity)> {
    report
        .findings
        .iter()
        .filter(|f| f.severity.is_problem())
        .map(|f| (f.check.clone(), f.resource.clone(), f.severity))
        .collect()
}

/// One run's outcome, for the caller to print.
pub struct Tick<'a> {
    pub report: &'a Report,
    /// Where it was saved (`None`: it could not be, and why).
    pub saved: Result<PathBuf, String>,
    /// Health differs from the previous run (always true for the first).
    pub changed: bool,
}

/// Runs `check` at once and then every `interval` until `stop` receives
/// (or its sender is dropped); returns how many runs there were.
pub fn watch<E>(
    home: &Home,
    interval: Duration,
    stop: &Receiver<()>,
    mut check: impl FnMut() -> Result<Report, E>,
    mut tick: impl FnMut(Tick<'_>),
) -> Result<usize, E> {
    let mut previous: Option<BTreeSet<(String, String, Severity)>> = None;
    let mut runs = 0;
    loop {
        let started = Instant::now();
        let report = check()?;
        runs += 1;
        let saved = reports::save(home, &report).map_err(|e| e.to_string());
        reports::rotate(home, report.generated_at);
        let now = health(&report);
        let changed = previous.as_ref() != Some(&now);
        tick(Tick {
            report: &report,
            saved,
            changed,
        });
        previous = Some(now);
        let wait = interval.saturating_sub(started.elapsed());
        match stop.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(runs),
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// `--interval`: `15m`, `30s`, `1h30m`, `2h 5m` (jiff's friendly format),
/// at least one second.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|e| format!("`{text}` is not a duration such as `15m`, `30s` or `1h30m` ({e})"))?;
    let duration = Duration::try_from(parsed)
        .map_err(|_| format!("`{text}` is negative; give a duration such as `15m`"))?;
    if duration < Duration::from_secs(1) {
        return Err(format!("`{text}` is shorter than a second"));
    }
    Ok(duration)
}

/// For the watch line: `report: <path>`.
pub fn saved_note(saved: &Result<PathBuf, String>) -> String {
    match saved {
        Ok(path) => format!("report: {}", display(path)),
        Err(why) => format!("report not saved: {why}"),
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_as_people_write_them() {
        assert_eq!(parse_interval("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_interval("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_interval("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_interval("soon").is_err());
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("-5m").is_err());
    }
}
