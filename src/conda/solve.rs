//! Solving: match specs + channels + platform + virtual packages -> one
//! exact package per name ([`LockedCondaPackage`]), with resolvo through
//! rattler_solve. Repodata comes through rattler's gateway, cached in
//! [`CondaCache::repodata`](super::CondaCache).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::AtomicBool;

use rattler::package_cache::PackageCache;
use rattler_conda_types::{
    GenericVirtualPackage, MatchSpec, PackageName, RepoDataRecord, Subdir, Version,
};
use rattler_repodata_gateway::fetch::CacheAction;
use rattler_repodata_gateway::{Gateway, SourceConfig};
use rattler_solve::{SolveError, SolverImpl, SolverTask};
use rattler_virtual_packages::{VirtualPackageOverrides, VirtualPackages as Detected};

use super::channels::Channels;
use super::locked::{LockedCondaPackage, Platform};
use super::{CondaCache, CondaError, runtime, to_hex};

/// The system capabilities (`__glibc`, `__unix`, `__cuda`, ...) a solve may
/// rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualPackages {
    /// This machine's, detected (conda's `CONDA_OVERRIDE_*` variables
    /// apply). Only valid when solving for this machine's platform.
    Detect,
    /// Exactly these, as `name`, `name=version` or `name=version=build`
    /// (`__glibc=2.36`): for another platform, or a reproducible solve.
    Exactly(Vec<String>),
}

/// What to solve.
#[derive(Debug, Clone)]
pub struct SolveRequest<'a> {
    pub channels: &'a Channels,
    /// Conda match specs: `python 3.11.*`, `numpy >=1.26`, `pkg=1.2=py_0`.
    pub specs: &'a [String],
    pub platform: Platform,
    pub virtual_packages: &'a VirtualPackages,
    /// A previous solve's result: preferred where it still satisfies the
    /// specs, so a re-lock changes only what must change.
    pub locked: Option<&'a [LockedCondaPackage]>,
    /// Use only repodata already in the cache.
    pub offline: bool,
}

/// Solves `request`: every package the environment needs, one per name,
/// sorted by name. An unsatisfiable request fails with resolvo's
/// explanation of the conflict.
pub fn solve(
    request: &SolveRequest<'_>,
    cache: &CondaCache,
    cancel: &AtomicBool,
) -> Result<Vec<LockedCondaPackage>, CondaError> {
    let specs = parse_specs(request.specs)?;
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let virtual_packages = resolve_virtual_packages(
        request.virtual_packages,
        request.platform,
        cache.root.as_deref(),
    )?;
    let gateway = Gateway::builder()
        .with_cache_dir(&cache.repodata)
        .with_package_cache(PackageCache::new(&cache.packages))
        .with_channel_config(rattler_repodata_gateway::ChannelConfig {
            default: SourceConfig {
                cache_action: if request.offline {
                    CacheAction::ForceCacheOnly
                } else {
                    CacheAction::CacheOrFetch
                },
                ..SourceConfig::default()
            },
            per_channel: HashMap::new(),
        })
        .finish();
    let channels = request.channels.fetch_channels();
    let query = gateway
        .query(
            channels,
            [request.platform.0, Subdir::NoArch],
            specs.iter().cloned(),
        )
        .recursive(true);
    let repodata = runtime::block_on(
        async {
            query
                .execute()
                .await
                .map_err(|source| CondaError::Repodata {
                    channels: request
                        .channels
                        .iter()
                        .map(|c| c.written.as_str())
                        .collect::<Vec<_>>()
                        .join("`, `"),
                    source: Box::new(source),
                })
        },
        cancel,
    )?;

    // Prefer the locked packages that the channels still have.
    let available: HashMap<&str, &RepoDataRecord> = repodata
        .repodata
        .iter()
        .flat_map(|r| r.iter())
        .map(|r| (r.url.as_str(), r))
        .collect();
    let locked_records: Vec<&RepoDataRecord> = request
        .locked
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let fetch_url =
                super::channels::apply(request.channels.mirrors(), &p.url.parse().ok()?);
            available.get(fetch_url.as_str()).copied()
        })
        .collect();

    let task = SolverTask {
        locked_packages: locked_records,
        virtual_packages,
        specs: specs.clone(),
        ..SolverTask::from_iter(repodata.repodata.iter())
    };
    let solved = rattler_solve::resolvo::Solver
        .solve(task)
        .map_err(|e| match e {
            SolveError::Unsolvable(explanation) => CondaError::Unsolvable {
                specs: request.specs.join("`, `"),
                explanation: explanation.join("\n"),
            },
            other => CondaError::Solver {
                message: other.to_string(),
            },
        })?;

    let mut packages = solved
        .records
        .iter()
        .map(|record| locked_from_record(record, request.channels))
        .collect::<Result<Vec<_>, _>>()?;
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(packages)
}

fn parse_specs(specs: &[String]) -> Result<Vec<MatchSpec>, CondaError> {
    specs.iter().map(|text| super::specs::parse(text)).collect()
}

pub(super) fn resolve_virtual_packages(
    choice: &VirtualPackages,
    platform: Platform,
    cache_root: Option<&Path>,
) -> Result<Vec<GenericVirtualPackage>, CondaError> {
    match choice {
        VirtualPackages::Detect => {
            if Platform::current() != Some(platform) {
                return Err(CondaError::VirtualPackages {
                    reason: format!(
                        "they can only be detected for this machine's platform, not for `{platform}`; list them explicitly"
                    ),
                });
            }
            let detected = Detected::detect(&VirtualPackageOverrides::from_env(), cache_root)
                .map_err(|e| CondaError::VirtualPackages {
                    reason: e.to_string(),
                })?;
            Ok(detected.into_generic_virtual_packages().collect())
        }
        VirtualPackages::Exactly(list) => list.iter().map(|text| parse_virtual(text)).collect(),
    }
}

fn parse_virtual(text: &str) -> Result<GenericVirtualPackage, CondaError> {
    let bad = |reason: String| CondaError::InvalidVirtualPackage {
        package: text.to_owned(),
        reason,
    };
    let mut parts = text.splitn(3, '=');
    let name = parts.next().unwrap_or_default();
    if !name.starts_with("__") {
        return Err(bad("a virtual package's name starts with `__`".to_owned()));
    }
    let name = PackageName::from_str(name).map_err(|e| bad(e.to_string()))?;
    let version = Version::from_str(parts.next().unwrap_or("0")).map_err(|e| bad(e.to_string()))?;
    let build_string = parts
        .next()
        .unwrap_or("0")
        .parse()
        .map_err(|e: rattler_conda_types::package::BuildStringError| bad(e.to_string()))?;
    Ok(GenericVirtualPackage {
        name,
        version,
        build_string,
    })
}

fn locked_from_record(
    record: &RepoDataRecord,
    channels: &Channels,
) -> Result<LockedCondaPackage, CondaError> {
    let p = &record.package_record;
    let file_name = record.identifier.to_string();
    let sha256 = p.sha256.ok_or_else(|| CondaError::NoSha256 {
        package: file_name.clone(),
        url: record.url.to_string(),
    })?;
    let url = channels.original_url(&record.url);
    let channel = match &record.channel {
        Some(c) => match c.parse() {
            Ok(fetched) => channels.original_url(&fetched).to_string(),
            Err(_) => c.clone(),
        },
        None => String::new(),
    };
    Ok(LockedCondaPackage {
        name: p.name.as_normalized().to_owned(),
        version: p.version.to_string(),
        build: p.build.to_string(),
        subdir: p.subdir.clone(),
        channel,
        file_name,
        url: url.to_string(),
        sha256: to_hex(&sha256),
        md5: p.md5.map(|m| to_hex(&m)),
        size: p.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_packages_parse_with_optional_version_and_build() {
        let parsed: Vec<String> = ["__unix", "__glibc=2.36", "__cuda=12.2=0"]
            .iter()
            .map(|t| parse_virtual(t).unwrap().to_string())
            .collect();
        assert_eq!(parsed, ["__unix=0=0", "__glibc=2.36=0", "__cuda=12.2=0"]);
        assert!(parse_virtual("glibc=2.36").is_err());
        assert!(parse_virtual("__glibc=not a version").is_err());
    }

    #[test]
    fn a_spec_without_an_exact_name_is_refused() {
        let err = parse_specs(&["py*".to_owned()]).unwrap_err();
        assert!(matches!(err, CondaError::InvalidSpec { .. }), "{err:?}");
        let err = parse_specs(&["python >=>3".to_owned()]).unwrap_err();
        assert!(matches!(err, CondaError::InvalidSpec { .. }), "{err:?}");
        assert_eq!(parse_specs(&["python 3.11.*".to_owned()]).unwrap().len(), 1);
    }
}
