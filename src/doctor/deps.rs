//! Dependency consistency, read natively: `pip check` without pip.
//!
//! Every installed distribution's `Requires-Dist` (from its `METADATA`
//! header; the description after it is never read) is parsed as PEP 508,
//! its markers are evaluated for the environment's interpreter (the version
//! from `pyvenv.cfg`, the platform from this machine), and the requirement
//! must be met by an installed distribution. As `pip check` does, extras
//! nobody asked for are not evaluated (`extra == "socks"` is false), and a
//! requirement with a URL is met by any version.
//!
//! The same graph answers which installed packages nothing asks for: from
//! the manifest's requirements (their extras included), follow
//! `Requires-Dist`; what is not reached is "not in the manifest".

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::str::FromStr;

use pep508_rs::{
    ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl,
};

use crate::venv::normalize_name;

/// One installed distribution and what it requires.
#[derive(Debug, Clone)]
pub struct Installed {
    /// PEP 503 normalized.
    pub name: String,
    pub display_name: String,
    pub version: String,
    pub requires: Vec<Requirement>,
}

/// A requirement no installed distribution meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// The distribution that requires it (`beta`), as it spells itself.
    pub package: String,
    pub version: String,
    /// The requirement as written (`alpha>=1`).
    pub requirement: String,
    /// The name it names, normalized.
    pub name: String,
    /// The version installed, when one is but does not satisfy it.
    pub installed: Option<String>,
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.installed {
            None => write!(
                f,
                "{} {} requires `{}`, which is not installed",
                self.package, self.version, self.requirement
            ),
            Some(found) => write!(
                f,
                "{} {} requires `{}`, but {} {found} is installed",
                self.package, self.version, self.requirement, self.name
            ),
        }
    }
}

/// Every distribution in `site_packages`, with its requirements. A
/// `Requires-Dist` that does not parse is left out (pip would refuse to
/// install it; it says nothing about this environment).
pub fn installed(site_packages: &Path) -> Vec<Installed> {
    let Ok(entries) = fs_err::read_dir(site_packages) else {
        return Vec::new();
    };
    let mut out: Vec<Installed> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dist-info"))
        .filter_map(|e| read_metadata(&e.path().join("METADATA")))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn read_metadata(path: &Path) -> Option<Installed> {
    let file = fs_err::File::open(path).ok()?;
    let reader = BufReader::with_capacity(8192, file);
    let (mut name, mut version, mut requires) = (None, None, Vec::new());
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            break;
        }
        // Continuation lines belong to the field before (a long License).
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "name" if name.is_none() => name = Some(value.to_string()),
            "version" if version.is_none() => version = Some(value.to_string()),
            "requires-dist" => {
                if let Ok(req) = Requirement::from_str(value) {
                    requires.push(req);
                }
            }
            _ => {}
        }
    }
    let display_name: String = name?;
    Some(Installed {
        name: normalize_name(&display_name),
        display_name,
        version: version.unwrap_or_default(),
        requires,
    })
}

/// The marker environment of an environment whose `pyvenv.cfg` says
/// `version` (`3.11.2`) and `implementation` (`cpython`), on this machine.
pub fn marker_environment(version: &str, implementation: &str) -> Option<MarkerEnvironment> {
    let short = crate::venv::short_version(version);
    let (sys_platform, platform_system, os_name) = match std::env::consts::OS {
        "linux" => ("linux", "Linux", "posix"),
        "macos" => ("darwin", "Darwin", "posix"),
        "windows" => ("win32", "Windows", "nt"),
        "freebsd" => ("freebsd", "FreeBSD", "posix"),
        other => (other, other, "posix"),
    };
    let machine = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("macos", "aarch64") => "arm64",
        ("windows", "x86_64") => "AMD64",
        (_, arch) => arch,
    };
    let (release, kernel_version) = uname();
    let implementation = implementation.to_ascii_lowercase();
    let python_implementation = match implementation.as_str() {
        "cpython" | "" => "CPython",
        "pypy" => "PyPy",
        other => other,
    };
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: if implementation.is_empty() {
            "cpython"
        } else {
            &implementation
        },
        implementation_version: version,
        os_name,
        platform_machine: machine,
        platform_python_implementation: python_implementation,
        platform_release: &release,
        platform_system,
        platform_version: &kernel_version,
        python_full_version: version,
        python_version: &short,
        sys_platform,
    })
    .ok()
}

#[cfg(unix)]
fn uname() -> (String, String) {
    // SAFETY: `uname` fills the zeroed struct; its fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return (String::new(), String::new());
        }
        let text = |field: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(field.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        (text(&u.release), text(&u.version))
    }
}

#[cfg(not(unix))]
fn uname() -> (String, String) {
    (String::new(), String::new())
}

/// Every requirement of `installed` that applies to `env` and is not met.
pub fn unmet(installed: &[Installed], env: &MarkerEnvironment) -> Vec<Unmet> {
    let by_name: BTreeMap<&str, &Installed> =
        installed.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut out = Vec::new();
    for dist in installed {
        for req in &dist.requires {
            if !req.marker.evaluate(env, &[]) {
                continue;
            }
            let name = req.name.to_string();
            let found = by_name.get(name.as_str());
            let satisfied = match (found, &req.version_or_url) {
                (None, _) => false,
                (Some(_), None | Some(VersionOrUrl::Url(_))) => true,
                (Some(d), Some(VersionOrUrl::VersionSpecifier(specifiers))) => {
                    pep440_rs::Version::from_str(&d.version).is_ok_and(|v| specifiers.contains(&v))
                        || pep440_rs::Version::from_str(&d.version).is_err()
                }
            };
            if !satisfied {
                out.push(Unmet {
                    package: dist.display_name.clone(),
                    version: dist.version.clone(),
                    requirement: requirement_text(req),
                    name,
                    installed: found.map(|d| d.version.clone()),
                });
            }
        }
    }
    out
}

/// The requirement without its marker (which held, or it would not be
/// reported).
fn requirement_text(req: &Requirement) -> String {
    let mut text = req.name.to_string();
    if !req.extras.is_empty() {
        let extras: Vec<String> = req.extras.iter().map(ToString::to_string).collect();
        text.push_str(&format!("[{}]", extras.join(",")));
    }
    match &req.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(s)) => text.push_str(&s.to_string()),
        Some(VersionOrUrl::Url(url)) => text.push_str(&format!(" @ {url}")),
        None => {}
    }
    text
}

/// The installed packages that nothing reaches from `roots` (the
/// manifest's requirements) through `Requires-Dist`, extras followed.
/// `keep` names packages that are expected anyway (pip, when seeded).
pub fn unreached(
    installed: &[Installed],
    roots: &[String],
    keep: &[&str],
    env: &MarkerEnvironment,
) -> Vec<String> {
    let by_name: BTreeMap<&str, &Installed> =
        installed.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut reached: BTreeSet<String> = keep.iter().map(|k| (*k).to_string()).collect();
    let mut seen: BTreeSet<(String, Vec<String>)> = BTreeSet::new();
    let mut queue: Vec<(String, Vec<ExtraName>)> = roots
        .iter()
        .filter_map(|text| Requirement::<pep508_rs::VerbatimUrl>::from_str(text).ok())
        .filter(|r| r.marker.evaluate(env, &[]))
        .map(|r| (r.name.to_string(), r.extras.clone()))
        .collect();
    while let Some((name, extras)) = queue.pop() {
        let key = (
            name.clone(),
            extras.iter().map(ToString::to_string).collect::<Vec<_>>(),
        );
        if !seen.insert(key) {
            continue;
        }
        reached.insert(name.clone());
        let Some(dist) = by_name.get(name.as_str()) else {
            continue;
        };
        for req in &dist.requires {
            if req.marker.evaluate(env, &extras) {
                queue.push((req.name.to_string(), req.extras.clone()));
            }
        }
    }
    installed
        .iter()
        .filter(|d| !reached.contains(&d.name))
        .map(|d| format!("{} {}", d.display_name, d.version))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(site: &Path, name: &str, version: &str, requires: &[&str]) {
        let info = site.join(format!("{name}-{version}.dist-info"));
        fs_err::create_dir_all(&info).unwrap();
        let mut text = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        for r in requires {
            text.push_str(&format!("Requires-Dist: {r}\n"));
        }
        text.push_str("\nRequires-Dist: not-a-header\n");
        fs_err::write(info.join("METADATA"), text).unwrap();
    }

    #[test]
    fn unmet_requirements_are_found_with_markers_and_extras_as_pip_check_does() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path();
        dist(
            site,
            "beta",
            "0.5.0",
            &[
                "alpha>=1",
                "gamma<3",
                "delta; python_version < \"3.0\"",
                "socks; extra == \"socks\"",
                "eps @ https://example.invalid/eps.whl",
            ],
        );
        dist(site, "gamma", "3.1.0", &[]);
        dist(site, "eps", "1", &[]);
        let env = marker_environment("3.11.2", "cpython").unwrap();
        let found = unmet(&installed(site), &env);
        let texts: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            vec![
                "beta 0.5.0 requires `alpha>=1`, which is not installed".to_string(),
                "beta 0.5.0 requires `gamma<3`, but gamma 3.1.0 is installed".to_string(),
            ]
        );
    }

    #[test]
    fn what_nothing_requires_is_unreached_and_extras_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path();
        dist(site, "web", "1", &["core", "socks; extra == \"proxy\""]);
        dist(site, "core", "1", &[]);
        dist(site, "socks", "1", &[]);
        dist(site, "stray", "2", &[]);
        dist(site, "pip", "24.0", &[]);
        let env = marker_environment("3.12.1", "cpython").unwrap();
        let all = installed(site);
        assert_eq!(
            unreached(&all, &["web[proxy]>=1".into()], &["pip"], &env),
            vec!["stray 2".to_string()]
        );
        assert_eq!(
            unreached(&all, &["web".into()], &["pip"], &env),
            vec!["socks 1".to_string(), "stray 2".to_string()]
        );
    }
}
