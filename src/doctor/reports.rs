//! Saved reports, `<home>/health-reports/<timestamp>.json`: written
//! atomically by `doctor --watch` ([`crate::files::write_atomic`]), read by
//! `doctor --report` and `status`.
//!
//! A report's file name is its time, `20240102T030405.123Z.json` (UTC,
//! milliseconds), so names sort as times do. Rotation keeps the newest
//! [`KEEP_NEWEST`] and every report of the last [`KEEP_DAYS`] days, and
//! removes only files named like reports: nothing else in the folder is
//! ever touched.

use std::path::{Path, PathBuf};

use super::{REPORT_VERSION, Report};
use crate::files::{self, Durability};
use crate::registry::Home;

/// How many reports rotation keeps, whatever their age.
pub const KEEP_NEWEST: usize = 100;

/// Reports younger than this many days are kept, however many there are.
pub const KEEP_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReportError {
    #[error("no saved report in `{}`", dir.display())]
    #[diagnostic(
        code("doctor::no-report"),
        help("`beep-python doctor --watch` saves one at each run")
    )]
    None { dir: PathBuf },

    #[error("could not read `{}`", path.display())]
    #[diagnostic(code("doctor::report-io"))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` is not a doctor report: {reason}", path.display())]
    #[diagnostic(code("doctor::report-corrupt"))]
    Corrupt { path: PathBuf, reason: String },

    #[error("`{}` was written by a newer beep-python (report format version {version}; this one reads version {REPORT_VERSION})", path.display())]
    #[diagnostic(code("doctor::report-newer"), help("read it with that beep-python"))]
    Newer { path: PathBuf, version: u64 },
}

/// `<home>/health-reports`.
pub fn dir(home: &Home) -> PathBuf {
    home.root().join("health-reports")
}

/// The file name of a report made at `at`.
fn name_of(at: jiff::Timestamp) -> String {
    format!("{}.json", at.strftime("%Y%m%dT%H%M%S%.3fZ"))
}

/// The time in a report's file name, if it is one.
fn time_of(name: &str) -> Option<jiff::Timestamp> {
    let stem = name.strip_suffix(".json")?;
    let stem = stem.split_once('-').map_or(stem, |(t, _)| t);
    let civil = stem.strip_suffix('Z')?;
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S%.f", civil)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Saves `report` as a new file and returns its path.
pub fn save(home: &Home, report: &Report) -> std::io::Result<PathBuf> {
    let dir = dir(home);
    fs_err::create_dir_all(&dir)?;
    let name = name_of(report.generated_at);
    let mut path = dir.join(&name);
    // Two reports in one millisecond: the second gets a suffix.
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{}-{n}.json", name.trim_end_matches(".json")));
        n += 1;
    }
    let mut text = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    text.push(b'\n');
    files::write_atomic(&path, &text, Durability::Atomic, None)?;
    Ok(path)
}

/// Every saved report, oldest first.
pub fn list(home: &Home) -> Vec<(jiff::Timestamp, PathBuf)> {
    let Ok(entries) = fs_err::read_dir(dir(home)) else {
        return Vec::new();
    };
    let mut out: Vec<(jiff::Timestamp, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            Some((time_of(&name)?, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Removes the reports rotation does not keep (see the module docs);
/// returns how many.
pub fn rotate(home: &Home, now: jiff::Timestamp) -> usize {
    let all = list(home);
    let cutoff = now
        .checked_sub(jiff::SignedDuration::from_hours(24 * KEEP_DAYS))
        .unwrap_or(jiff::Timestamp::MIN);
    let newest_from = all.len().saturating_sub(KEEP_NEWEST);
    let mut removed = 0;
    for (i, (at, path)) in all.iter().enumerate() {
        if i >= newest_from || *at >= cutoff {
            continue;
        }
        // Already gone (another watcher rotated) is fine.
        if fs_err::remove_file(path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The newest saved report's path.
pub fn newest(home: &Home) -> Option<PathBuf> {
    list(home).pop().map(|(_, path)| path)
}

/// Reads a saved report, refusing a newer format.
pub fn read(path: &Path) -> Result<Report, ReportError> {
    let bytes = fs_err::read(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let corrupt = |reason: String| ReportError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("no `format_version`".into()))?;
    if version > u64::from(REPORT_VERSION) {
        return Err(ReportError::Newer {
            path: path.to_path_buf(),
            version,
        });
    }
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
}

/// `--report last` or `--report FILE`.
pub fn read_named(home: &Home, which: &str) -> Result<(PathBuf, Report), ReportError> {
    let path = if which == "last" {
        newest(home).ok_or_else(|| ReportError::None { dir: dir(home) })?
    } else {
        PathBuf::from(which)
    };
    let report = read(&path)?;
    Ok((path, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(at: jiff::Timestamp) -> Report {
        Report {
            format_version: REPORT_VERSION,
            generated_at: at,
            home: PathBuf::from("/h"),
            manifest: None,
            deep: false,
            checks: vec![],
            summary: super::super::Summary::of(&[]),
            findings: vec![],
            environments: 0,
            runtimes: 0,
            processes_started: 0,
            elapsed_ms: 0,
        }
    }

    #[test]
    fn rotation_keeps_the_newest_hundred_and_the_last_thirty_days_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let now: jiff::Timestamp = "2024-06-01T00:00:00Z".parse().unwrap();
        // 120 old reports (a day apart, all older than 30 days) and 5 recent.
        for i in 0..120 {
            let at = now - jiff::SignedDuration::from_hours(24 * (40 + i));
            save(&home, &report(at)).unwrap();
        }
        for i in 0..5 {
            save(&home, &report(now - jiff::SignedDuration::from_hours(i))).unwrap();
        }
        fs_err::write(super::dir(&home).join("notes.txt"), "mine").unwrap();
        assert_eq!(list(&home).len(), 125);
        assert_eq!(rotate(&home, now), 25);
        let kept = list(&home);
        assert_eq!(kept.len(), 100);
        assert!(super::dir(&home).join("notes.txt").is_file());
        // The newest survive.
        assert_eq!(kept.last().unwrap().0, now);
        // Read back, and a newer format is refused.
        let (_, last) = read_named(&home, "last").unwrap();
        assert_eq!(last.generated_at, now);
        let newer = super::dir(&home).join("99991231T000000.000Z.json");
        fs_err::write(&newer, r#"{"format_version": 99}"#).unwrap();
        assert!(matches!(read(&newer), Err(ReportError::Newer { .. })));
    }

    #[test]
    fn two_reports_in_one_millisecond_are_both_kept() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let at: jiff::Timestamp = "2024-06-01T00:00:00.123Z".parse().unwrap();
        let a = save(&home, &report(at)).unwrap();
        let b = save(&home, &report(at)).unwrap();
        assert_ne!(a, b);
        assert_eq!(list(&home).len(), 2);
    }
}
