//! Reading the failing requirement out of what pip and uv print.
//!
//! The patterns are the tools' real messages (pip 23-25, uv 0.4-0.13), seen
//! by running them against a wheelhouse that lacks a package:
//!
//! ```text
//! ERROR: Could not find a version that satisfies the requirement missing-dep>=1 (from alpha) (from versions: none)
//! ERROR: No matching distribution found for missing-dep>=1
//! ```
//!
//! ```text
//! error: No solution found when resolving dependencies
//!   cause: Because missing-dep was not found in the provided package locations and all versions of alpha depend on missing-dep>=1, [...]
//!   cause: Because only beta==1.0 is available and you require beta>=2, we can conclude that your requirements are unsatisfiable.
//!   cause: Because there is no version of beta==3 and you require beta==3, [...]
//! ```
//!
//! (older uv prints `× No solution found ...:` and `╰─▶ Because ...`; the
//! patterns look inside the line, so both match).
//!
//! Invariant: a finding is only ever a hint for the message. When nothing
//! matches, the error still carries the exit status and the last lines.

use super::Kind;

/// A requirement named by the installer's output, and how sure we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Lower is better evidence.
    pub rank: u8,
    /// As the tool wrote it: a name (`missing-dep`) or a requirement
    /// (`beta>=2`).
    pub requirement: String,
}

fn found(rank: u8, requirement: &str) -> Option<Finding> {
    let requirement = requirement
        .trim()
        .trim_matches('`')
        .trim_end_matches(['.', ',', ':']);
    (!requirement.is_empty()).then(|| Finding {
        rank,
        requirement: requirement.to_string(),
    })
}

/// The text after `marker`, up to the end of the clause: `, ` or ` and ` or
/// ` (` (uv writes several specifiers as `x>=1,<2`, without a space).
fn clause_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let end = [", ", " and ", " (", " was ", " is "]
        .iter()
        .filter_map(|stop| rest.find(stop))
        .min()
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The requirement a line of output blames, if any.
pub fn scan_line(kind: Kind, line: &str) -> Option<Finding> {
    match kind {
        Kind::Pip => scan_pip(line),
        Kind::Uv => scan_uv(line),
    }
}

fn scan_pip(line: &str) -> Option<Finding> {
    if let Some(req) = clause_after(line, "No matching distribution found for ") {
        return found(0, req);
    }
    if let Some(req) = clause_after(
        line,
        "Could not find a version that satisfies the requirement ",
    ) {
        return found(1, req);
    }
    if let Some(req) = clause_after(line, "Failed building wheel for ") {
        return found(3, req);
    }
    None
}

fn scan_uv(line: &str) -> Option<Finding> {
    // `Because X was not found in the package registry` / `in the provided
    // package locations`: the root cause of a resolution failure.
    if let Some(at) = line.find("ecause ")
        && line[at..].contains(" was not found")
    {
        let rest = &line[at + "ecause ".len()..];
        if let Some(end) = rest.find(" was not found") {
            let name = &rest[..end];
            if !name.contains(' ') {
                return found(0, name);
            }
        }
    }
    for marker in ["there is no version of ", "there are no versions of "] {
        if let Some(req) = clause_after(line, marker) {
            return found(1, req);
        }
    }
    // `Because only beta==1.0 is available and you require beta>=2` or
    // `... and all versions of gamma depend on beta>=2`.
    if line.contains("ecause only ") && line.contains(" is available and ") {
        for marker in ["you require ", " depend on ", " depends on "] {
            if let Some(req) = clause_after(line, marker) {
                return found(2, req);
            }
        }
    }
    // `Failed to download `x==1.0``, `Failed to build `x @ file://...``.
    for marker in [
        "Failed to download `",
        "Failed to build `",
        "Failed to fetch `",
    ] {
        if let Some(start) = line.find(marker) {
            let rest = &line[start + marker.len()..];
            if let Some(end) = rest.find('`') {
                return found(3, &rest[..end]);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: Kind, line: &str) -> Option<(u8, String)> {
        scan_line(kind, line).map(|f| (f.rank, f.requirement))
    }

    #[test]
    fn pip_messages() {
        assert_eq!(
            req(
                Kind::Pip,
                "ERROR: No matching distribution found for nonexistent-pkg-xyz"
            ),
            Some((0, "nonexistent-pkg-xyz".into()))
        );
        assert_eq!(
            req(
                Kind::Pip,
                "ERROR: Could not find a version that satisfies the requirement missing-dep>=1 (from alpha) (from versions: none)"
            ),
            Some((1, "missing-dep>=1".into()))
        );
        assert_eq!(
            req(Kind::Pip, "Processing ./wh/alpha-1.0-py3-none-any.whl"),
            None
        );
    }

    #[test]
    fn uv_messages() {
        assert_eq!(
            req(
                Kind::Uv,
                "  cause: Because nonexistent-pkg-xyz was not found in the provided package locations and you require nonexistent-pkg-xyz, we can conclude that your requirements are unsatisfiable."
            ),
            Some((0, "nonexistent-pkg-xyz".into()))
        );
        assert_eq!(
            req(
                Kind::Uv,
                "  ╰─▶ Because missing-dep was not found in the package registry and all versions of alpha depend on missing-dep>=1, we can conclude that all versions of alpha cannot be used."
            ),
            Some((0, "missing-dep".into()))
        );
        assert_eq!(
            req(
                Kind::Uv,
                "  cause: Because only beta==1.0 is available and you require beta>=2,<3, we can conclude that your requirements are unsatisfiable."
            ),
            Some((2, "beta>=2,<3".into()))
        );
        assert_eq!(
            req(
                Kind::Uv,
                "  cause: Because only beta==1.0 is available and all versions of gamma depend on beta>=2, we can conclude that all versions of gamma cannot be used."
            ),
            Some((2, "beta>=2".into()))
        );
        assert_eq!(
            req(
                Kind::Uv,
                "  cause: Because there is no version of beta==3 and you require beta==3, we can conclude that your requirements are unsatisfiable."
            ),
            Some((1, "beta==3".into()))
        );
        assert_eq!(
            req(
                Kind::Uv,
                "         And because you require alpha, we can conclude that your requirements are unsatisfiable."
            ),
            None
        );
        assert_eq!(
            req(Kind::Uv, "error: Failed to download `beta==1.0`"),
            Some((3, "beta==1.0".into()))
        );
    }
}
