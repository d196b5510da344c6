//! Match specs without a solve: checking what a manifest writes, and
//! whether installed packages still satisfy what an environment asks for.
//!
//! The planner uses [`unsatisfied`] to decide, from `conda-meta/` alone,
//! whether an environment needs a solve at all: a no-op `plan` over conda
//! environments reads files and fetches no repodata.

use std::str::FromStr;

use rattler_conda_types::{
    MatchSpec, Matches, PackageName, PackageRecord, ParseStrictness, Version,
};

use super::CondaError;
use super::locked::LockedCondaPackage;

/// `text` as a match spec that names exactly one package (as the solver
/// takes it).
pub(super) fn parse(text: &str) -> Result<MatchSpec, CondaError> {
    let invalid = |reason: String| CondaError::InvalidSpec {
        spec: text.to_owned(),
        reason,
    };
    let spec =
        MatchSpec::from_str(text, ParseStrictness::Lenient).map_err(|e| invalid(e.to_string()))?;
    if spec.name.as_exact().is_none() {
        return Err(invalid(
            "it must name one package (no wildcards in the name)".to_owned(),
        ));
    }
    Ok(spec)
}

/// Why `text` is not a usable conda match spec, if it is not.
pub fn spec_problem(text: &str) -> Option<String> {
    match parse(text) {
        Ok(_) => None,
        Err(CondaError::InvalidSpec { reason, .. }) => Some(reason),
        Err(other) => Some(other.to_string()),
    }
}

/// The normalized package name a spec names (`None` if it does not parse).
pub fn spec_name(text: &str) -> Option<String> {
    parse(text)
        .ok()
        .and_then(|s| s.name.as_exact().map(|n| n.as_normalized().to_owned()))
}

/// Whether the `python` spec among `specs` admits the Python version
/// `version` (`3.11` or `3.11.9`): `None` when no spec names python with a
/// version. A two-part version is admitted when any of its releases
/// (`3.11`, `3.11.0` .. `3.11.99`) is, so `3.11` fits `python 3.11.9`.
pub fn python_admits(specs: &[String], version: &str) -> Option<bool> {
    let spec = specs.iter().filter_map(|t| parse(t).ok()).find(|s| {
        s.name
            .as_exact()
            .is_some_and(|n| n.as_normalized() == "python")
    })?;
    let wanted = spec.version.as_ref()?;
    let mut candidates = vec![version.to_owned()];
    if version.split('.').count() == 2 {
        candidates.extend((0..100).map(|micro| format!("{version}.{micro}")));
    }
    Some(
        candidates
            .iter()
            .any(|c| Version::from_str(c).is_ok_and(|v| wanted.matches(&v))),
    )
}

/// The specs that no package of `installed` satisfies (by name, version
/// and build; a spec that does not parse is unsatisfied).
pub fn unsatisfied(specs: &[String], installed: &[LockedCondaPackage]) -> Vec<String> {
    let records: Vec<(PackageRecord, &LockedCondaPackage)> = installed
        .iter()
        .filter_map(|p| Some((record_of(p)?, p)))
        .collect();
    specs
        .iter()
        .filter(|text| {
            let Ok(spec) = parse(text) else {
                return true;
            };
            !records.iter().any(|(record, package)| {
                spec.matches(record)
                    && spec.channel.as_ref().is_none_or(|channel| {
                        package
                            .channel
                            .trim_end_matches('/')
                            .ends_with(channel.name().trim_end_matches('/'))
                    })
            })
        })
        .cloned()
        .collect()
}

/// The part of a repodata record that matching looks at.
fn record_of(package: &LockedCondaPackage) -> Option<PackageRecord> {
    let name = PackageName::from_str(&package.name).ok()?;
    let version = rattler_conda_types::VersionWithSource::from_str(&package.version).ok()?;
    let build = package.build.parse().ok()?;
    let mut record = PackageRecord::new(name, version, build);
    record.subdir = package.subdir.clone();
    record.sha256 =
        rattler_digest::parse_digest_from_hex::<rattler_digest::Sha256>(&package.sha256);
    record.md5 = package
        .md5
        .as_deref()
        .and_then(rattler_digest::parse_digest_from_hex::<rattler_digest::Md5>);
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, version: &str, build: &str) -> LockedCondaPackage {
        LockedCondaPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            build: build.to_owned(),
            subdir: "linux-64".to_owned(),
            channel: "https://conda.example/forge/".to_owned(),
            file_name: format!("{name}-{version}-{build}.conda"),
            url: format!("https://conda.example/forge/linux-64/{name}-{version}-{build}.conda"),
            sha256: "a".repeat(64),
            md5: None,
            size: None,
        }
    }

    #[test]
    fn specs_are_satisfied_by_name_version_and_build() {
        let installed = [
            package("python", "3.11.9", "h1_0"),
            package("numpy", "1.26.4", "py311_0"),
        ];
        let specs = [
            "python 3.11.*",
            "numpy >=1.26",
            "numpy >=2",
            "numpy=1.26.4=py311_0",
            "pandas",
        ]
        .map(str::to_owned);
        assert_eq!(unsatisfied(&specs, &installed), ["numpy >=2", "pandas"]);
    }

    #[test]
    fn the_python_spec_admits_a_runtime_version_or_not() {
        let specs = ["numpy".to_owned(), "python 3.11.*".to_owned()];
        assert_eq!(python_admits(&specs, "3.11"), Some(true));
        assert_eq!(python_admits(&specs, "3.11.9"), Some(true));
        assert_eq!(python_admits(&specs, "3.12"), Some(false));
        assert_eq!(
            python_admits(&["python 3.11.9".to_owned()], "3.11"),
            Some(true)
        );
        assert_eq!(python_admits(&["python".to_owned()], "3.12"), None);
        assert_eq!(python_admits(&["numpy".to_owned()], "3.12"), None);
    }

    #[test]
    fn problems_name_the_reason() {
        assert!(spec_problem("python 3.11.*").is_none());
        assert!(spec_problem("py*").is_some());
        assert!(spec_problem("python >=>3").is_some());
        assert_eq!(spec_name("NumPy >=1").as_deref(), Some("numpy"));
    }
}
