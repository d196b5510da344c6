//! Rendering doctor's output: the report grouped by resource with a
//! one-line summary, `--list`, and the JSON documents.

use std::fmt::Write as _;

use serde_json::json;

use super::{Finding, Report, checks};

/// The human report: findings grouped by resource, worst first, each with
/// what to do; then the one-line summary.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for f in &report.findings {
        if current != Some(f.resource.as_str()) {
            if current.is_some() {
                out.push('\n');
            }
            let _ = writeln!(out, "{}", f.resource);
            current = Some(f.resource.as_str());
        }
        finding(&mut out, f);
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary(report));
    out
}

fn finding(out: &mut String, f: &Finding) {
    let _ = writeln!(out, "  {:<8} {}: {}", f.severity.as_str(), f.check, f.found);
    if let Some(path) = &f.path {
        let _ = writeln!(out, "           at {}", path.display());
    }
    if !f.action.is_empty() {
        let _ = write!(out, "           -> {}", f.action);
        match &f.command {
            Some(command) => {
                let _ = writeln!(out, ": `{command}`");
            }
            None => out.push('\n'),
        }
    } else if let Some(command) = &f.command {
        let _ = writeln!(out, "           -> `{command}`");
    }
}

/// `Doctor: 2 errors, 1 warning: 21 checks over ...; 2 fixable with
/// `beep-python doctor --fix``.
pub fn summary(report: &Report) -> String {
    let fixable = report
        .findings
        .iter()
        .filter(|f| f.fixable && f.severity.is_problem())
        .count();
    let mut line = format!("Doctor: {}", report.summary_line());
    if fixable > 0 {
        let _ = write!(line, "; {fixable} fixable with `beep-python doctor --fix`");
    }
    line.push('.');
    line
}

/// `--list`: each check, what it looks at, whether it can fix.
pub fn list() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<13} {:<4} {:<5} LOOKS AT",
        "CHECK", "GROUP", "FIX", "DEEP"
    );
    for c in checks() {
        let _ = writeln!(
            out,
            "{:<22} {:<13} {:<4} {:<5} {}",
            c.id,
            c.group.as_str(),
            if c.fix.is_some() { "yes" } else { "-" },
            if c.deep_only { "only" } else { "-" },
            c.looks_at
        );
        if let Some(fix) = c.fix {
            let _ = writeln!(out, "{:<48}fix: {fix}", "");
        }
        if let Some(python) = c.python {
            let _ = writeln!(out, "{:<48}python: {python}", "");
        }
    }
    out
}

/// `--list --format json`.
pub fn list_json() -> serde_json::Value {
    json!({
        "format_version": super::REPORT_VERSION,
        "checks": checks().iter().map(|c| json!({
            "id": c.id,
            "group": c.group,
            "looks_at": c.looks_at,
            "fix": c.fix,
            "can_fix": c.fix.is_some(),
            "deep_only": c.deep_only,
            "python": c.python,
        })).collect::<Vec<_>>(),
    })
}

/// The report as JSON (its own `format_version`).
pub fn json(report: &Report) -> serde_json::Value {
    serde_json::to_value(report).unwrap_or_default()
}
