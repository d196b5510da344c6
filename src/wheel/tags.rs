//! Wheel file names (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`)
//! and whether a wheel fits the environment's interpreter.
//!
//! The compatibility test is deliberately simple: the Python and ABI tags
//! are checked exactly as `packaging.tags` orders them for CPython
//! (`cpXY-cpXY`, `cpXY-abi3` for older `XY`, `py3*-none`), the platform
//! tag only by operating system and architecture (`manylinux_2_28_x86_64`
//! is accepted on any glibc x86-64 Linux without checking the glibc
//! version). It is used to refuse a wheel that cannot work, and to choose
//! among several files of one pinned version in a `find-links` folder; the
//! lock already chose the version for this machine.
//! TODO: check the manylinux glibc and macOS deployment versions.

use std::str::FromStr;

use pep440_rs::Version;

use crate::provision::platform::Platform;
use crate::venv::normalize_name;

/// The parts of a wheel's file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// PEP 503 normalized.
    pub name: String,
    pub version: Version,
    /// `py3`, `cp312` (several when compressed: `py2.py3`).
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

impl WheelName {
    /// Parses `file` (a file name, no folder); `None` if it is not a wheel's.
    pub fn parse(file: &str) -> Option<WheelName> {
        let stem = file.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, python, abi, platform) = match parts.as_slice() {
            [n, v, py, abi, plat] | [n, v, _, py, abi, plat] => (*n, *v, *py, *abi, *plat),
            _ => return None,
        };
        let split = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        Some(WheelName {
            name: normalize_name(name),
            version: Version::from_str(version).ok()?,
            python: split(python),
            abi: split(abi),
            platform: split(platform),
        })
    }

    /// How well the wheel fits CPython `major.minor` on this machine:
    /// `None` if it does not, else a score (higher is more specific, as
    /// installers prefer).
    pub fn fit(&self, implementation: &str, version: (u64, u64)) -> Option<u32> {
        self.fit_on(implementation, version, &this_machine())
    }

    /// [`WheelName::fit`] on `platform` rather than this machine: which
    /// wheel a bundle made here must carry for another machine.
    pub fn fit_on(
        &self,
        implementation: &str,
        (major, minor): (u64, u64),
        platform: &Platform,
    ) -> Option<u32> {
        let platform = self
            .platform
            .iter()
            .filter_map(|p| platform_fit(p, platform))
            .max()?;
        if !implementation.eq_ignore_ascii_case("cpython") && !implementation.is_empty() {
            // Another implementation's tags (`pp310`, `graalpy`) are not
            // modelled: accept what its platform allows, prefer pure wheels.
            return Some(platform);
        }
        let mut best = None;
        for python in &self.python {
            for abi in &self.abi {
                if let Some(score) = interpreter_fit(python, abi, major, minor) {
                    best = best.max(Some(score * 10 + platform));
                }
            }
        }
        best
    }
}

/// How a `python`-`abi` tag pair fits CPython `major.minor`.
fn interpreter_fit(python: &str, abi: &str, major: u64, minor: u64) -> Option<u32> {
    let version_of = |prefix: &str| -> Option<(u64, Option<u64>)> {
        let digits = python.strip_prefix(prefix)?;
        let mut chars = digits.chars();
        let first = chars.next()?.to_digit(10)? as u64;
        let rest: String = chars.collect();
        if rest.is_empty() {
            Some((first, None))
        } else {
            Some((first, Some(rest.parse().ok()?)))
        }
    };
    if let Some((m, n)) = version_of("cp") {
        let n = n?;
        if m != major {
            return None;
        }
        return match abi {
            _ if abi == format!("cp{major}{minor}") && n == minor => Some(4),
            // Before 3.8 the ABI tag carried `m` (pymalloc).
            _ if abi == format!("cp{major}{minor}m") && n == minor && minor < 8 => Some(4),
            "abi3" if n <= minor => Some(3),
            "none" if n == minor => Some(2),
            _ => None,
        };
    }
    if let Some((m, n)) = version_of("py") {
        return (abi == "none" && m == major && n.is_none_or(|n| n <= minor)).then_some(1);
    }
    None
}

/// This machine, as the wheel tags see it: the OS and architecture this
/// program was built for, and musl when its loader is in `/lib`.
pub fn this_machine() -> Platform {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let libc = match os {
        "linux" if is_musl() => "musl",
        "linux" => "gnu",
        _ => "none",
    };
    Platform {
        os: os.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        libc: libc.to_string(),
    }
}

/// How a platform tag fits `platform`: 1 for `any`, 2 for the platform's
/// own tags, `None` otherwise.
fn platform_fit(tag: &str, platform: &Platform) -> Option<u32> {
    if tag == "any" {
        return Some(1);
    }
    let arch = match platform.arch.as_str() {
        "x86" => "i686",
        other => other,
    };
    let musl = platform.libc == "musl";
    let fits = match platform.os.as_str() {
        "linux" => {
            let rest = tag
                .strip_prefix("manylinux")
                .filter(|_| !musl)
                .or_else(|| tag.strip_prefix("musllinux").filter(|_| musl))
                .or_else(|| tag.strip_prefix("linux"));
            rest.is_some_and(|r| r.ends_with(&format!("_{arch}")))
        }
        "darwin" => {
            tag.starts_with("macosx_")
                && (tag.ends_with(&format!("_{arch}"))
                    || tag.ends_with("_universal2")
                    || (arch == "x86_64"
                        && (tag.ends_with("_intel") || tag.ends_with("_universal")))
                    || (arch == "aarch64" && tag.ends_with("_arm64")))
        }
        "windows" => matches!(
            (tag, arch),
            ("win_amd64", "x86_64") | ("win32", "i686") | ("win_arm64", "aarch64")
        ),
        _ => false,
    };
    fits.then_some(2)
}

/// Whether this Linux uses musl (Alpine) rather than glibc: musl's dynamic
/// loader is `/lib/ld-musl-<arch>.so.1`.
fn is_musl() -> bool {
    static MUSL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MUSL.get_or_init(|| {
        fs_err::read_dir("/lib").is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("ld-musl-"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_names() {
        let w = WheelName::parse("Beep_Alpha-1.0.post1-1-py2.py3-none-any.whl").unwrap();
        assert_eq!(w.name, "beep-alpha");
        assert_eq!(w.version, Version::from_str("1.0.post1").unwrap());
        assert_eq!(w.python, ["py2", "py3"]);
        assert!(WheelName::parse("pandas-2.2.2.tar.gz").is_none());
        assert!(WheelName::parse("x-1.0-py3-none.whl").is_none());
    }

    #[test]
    fn pure_wheels_fit_and_exact_cpython_wins() {
        let fit = |f: &str| WheelName::parse(f).unwrap().fit("cpython", (3, 11));
        assert!(fit("a-1-py3-none-any.whl").is_some());
        assert!(fit("a-1-py311-none-any.whl").is_some());
        assert!(fit("a-1-py312-none-any.whl").is_none());
        assert!(fit("a-1-py2-none-any.whl").is_none());
        assert!(fit("a-1-cp312-cp312-any.whl").is_none());
        assert!(fit("a-1-cp38-abi3-any.whl").is_some());
        assert!(fit("a-1-cp311-cp311-any.whl") > fit("a-1-cp38-abi3-any.whl"));
        assert!(fit("a-1-cp38-abi3-any.whl") > fit("a-1-py3-none-any.whl"));
        assert!(fit("a-1-py3-none-win_amd64.whl").is_none() || cfg!(windows));
    }

    #[test]
    fn other_platforms_fit_their_own_wheels() {
        let on = |f: &str, p: &str| {
            WheelName::parse(f)
                .unwrap()
                .fit_on("cpython", (3, 11), &Platform::parse(p).unwrap())
        };
        let many = "n-2.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl";
        assert!(on(many, "linux-aarch64-gnu").is_some());
        assert!(on(many, "linux-aarch64-musl").is_none());
        assert!(on(many, "linux-x86_64-gnu").is_none());
        assert!(
            on(
                "n-2.0-cp311-cp311-musllinux_1_1_x86_64.whl",
                "linux-x86_64-musl"
            )
            .is_some()
        );
        assert!(
            on(
                "n-2.0-cp311-cp311-macosx_11_0_arm64.whl",
                "darwin-aarch64-none"
            )
            .is_some()
        );
        assert!(on("n-2.0-cp311-cp311-win_amd64.whl", "windows-x86_64-none").is_some());
        assert!(on("n-2.0-cp311-cp311-win_amd64.whl", "linux-x86_64-gnu").is_none());
        assert!(on("n-2.0-py3-none-any.whl", "darwin-x86_64-none").is_some());
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn linux_platforms() {
        let fit = |f: &str| WheelName::parse(f).unwrap().fit("cpython", (3, 11));
        let glibc = !is_musl();
        assert_eq!(
            fit("n-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").is_some(),
            glibc
        );
        assert!(fit("n-2.0-cp311-cp311-manylinux_2_17_aarch64.whl").is_none());
        assert!(fit("n-2.0-cp311-cp311-macosx_11_0_arm64.whl").is_none());
        assert!(
            fit("n-2.0-cp311-cp311-linux_x86_64.whl") > fit("n-2.0-py3-none-any.whl"),
            "a platform wheel is preferred"
        );
    }
}
