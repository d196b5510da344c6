//! PEP 751 `pylock.toml`, the ecosystem's standard lock, read and written.
//!
//! - [`render`] writes one environment of `beep-python.lock` as a
//!   `pylock.toml` (`export --format pylock`): each package with its
//!   version and its artifacts, wheels under `[[packages.wheels]]`, an sdist
//!   as `[packages.sdist]`, each with its `name`, its `url` (an index's) or
//!   its `path` (a local file, relative to the pylock's folder when under
//!   it) and its sha256. The artifacts are the lock's `files` (every wheel
//!   of every platform it lists, not only this machine's); installers need
//!   a place to fetch each from (uv refuses an artifact with neither), so
//!   the caller finds a local file for those with no url
//!   ([`crate::export::pylock_artifacts`]); a package with none is an error
//!   naming it.
//! - [`read_pins`] reads a `pylock.toml` as the pins of an environment
//!   (the manifest's `pylock = "FILE"`): `lock-version` 1.x; the file's
//!   `environments` and `requires-python` must admit the environment's
//!   Python on this machine; each package's `marker` is evaluated the same
//!   way (packages for other platforms drop out); every artifact's sha256
//!   becomes one of the pin's hashes, and each artifact one of its `files`
//!   (its `name`, or the last segment of its `url` or `path`; an index URL
//!   as its `url`), so the native installer picks this machine's wheel
//!   among them and a bundle each platform's. An artifact given by `path`
//!   is found by its file name in the manifest's `find-links` (the lock
//!   records no local paths). A package from a folder or a VCS has no hash
//!   to check and is refused, as are a package without a version and one
//!   named twice.
//!
//! The marker environment is this machine (os, architecture) with the
//! environment's Python version; `platform_release` and `platform_version`
//! are empty (nothing in a lock should depend on a kernel build).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use super::{LockedEnvironment, LockedFile, LockedPackage};
use crate::venv::normalize_name;

/// What `created-by` says in the files we write.
pub const CREATED_BY: &str = "beep-python";

/// One artifact of a package, as [`render`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRef {
    /// The file name (`alpha-1.0-py3-none-any.whl`).
    pub name: String,
    pub location: Location,
    /// Lowercase hex.
    pub sha256: String,
}

/// Where an installer fetches an artifact from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(String),
    Path(PathBuf),
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PylockError {
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(
        code("pylock::read"),
        help("check the environment's `pylock` path (relative to the manifest)")
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` is not a pylock.toml beep-python can use: {reason}", path.display())]
    #[diagnostic(
        code("pylock::invalid"),
        help("write it again with the tool that made it (PEP 751, `lock-version = \"1.0\"`)")
    )]
    Invalid { path: PathBuf, reason: String },

    #[error("`{}` is not for Python {python} on this machine: {reason}", path.display())]
    #[diagnostic(
        code("pylock::environment"),
        help(
            "lock it for this Python and platform, or give the environment a runtime it was made for"
        )
    )]
    Environment {
        path: PathBuf,
        python: String,
        reason: String,
    },

    #[error("no artifact to write for {}: a pylock.toml needs each package's url or path", packages.join(", "))]
    #[diagnostic(
        code("pylock::no-artifact"),
        help(
            "add the folder holding these files to `settings.find-links`, or lock with pip, which records each artifact's url"
        )
    )]
    NoArtifact { packages: Vec<String> },
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawLock {
    lock_version: String,
    #[serde(default)]
    environments: Option<Vec<String>>,
    #[serde(default)]
    requires_python: Option<String>,
    #[serde(default)]
    packages: Vec<RawPackage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawPackage {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    requires_python: Option<String>,
    #[serde(default)]
    wheels: Vec<RawArtifact>,
    sdist: Option<RawArtifact>,
    archive: Option<RawArtifact>,
    vcs: Option<toml::Value>,
    directory: Option<toml::Value>,
}

#[derive(Deserialize)]
struct RawArtifact {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

impl RawArtifact {
    /// Its file name: `name`, else the last segment of its `url` or
    /// `path` (PEP 751 lets either stand for it).
    fn file_name(&self) -> Option<String> {
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            return Some(name.to_string());
        }
        let from_url = self.url.as_deref().map(crate::bundle::url_file_name);
        let from_path = self
            .path
            .as_deref()
            .and_then(|p| p.rsplit(['/', '\\']).next())
            .map(str::to_string);
        from_url.or(from_path).filter(|n| !n.is_empty())
    }

    /// Its `url` when it is an index's (never a local `file:` URL).
    fn remote_url(&self) -> Option<String> {
        self.url
            .as_deref()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(str::to_string)
    }
}

/// The pins `path` gives an environment of Python `python_version` on
/// this machine (see the module docs).
pub fn read_pins(path: &Path, python_version: &str) -> Result<Vec<LockedPackage>, PylockError> {
    let text = fs_err::read_to_string(path).map_err(|source| PylockError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    pins_of(&text, path, python_version)
}

/// The sha256 of a pylock file's bytes (`sha256:<hex>`), or `missing`:
/// what an environment's lock inputs record of it.
pub fn digest(path: &Path) -> String {
    use sha2::Digest as _;
    match fs_err::read(path) {
        Ok(bytes) => format!("sha256:{:x}", sha2::Sha256::digest(&bytes)),
        Err(_) => "missing".into(),
    }
}

fn pins_of(
    text: &str,
    path: &Path,
    python_version: &str,
) -> Result<Vec<LockedPackage>, PylockError> {
    let invalid = |reason: String| PylockError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let not_for = |reason: String| PylockError::Environment {
        path: path.to_path_buf(),
        python: python_version.to_string(),
        reason,
    };
    let raw: RawLock = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
    if raw.lock_version.split('.').next() != Some("1") {
        return Err(invalid(format!(
            "its `lock-version` is {}, and this beep-python reads 1.x",
            raw.lock_version
        )));
    }
    let env = marker_environment(python_version)
        .ok_or_else(|| not_for(format!("`{python_version}` is not a Python version")))?;
    let version = pep440_rs::Version::from_str(python_version)
        .map_err(|_| not_for(format!("`{python_version}` is not a Python version")))?;
    let admits = |spec: &str| {
        pep440_rs::VersionSpecifiers::from_str(spec)
            .map(|s| s.contains(&version))
            .map_err(|e| invalid(format!("`{spec}` is not a version specifier: {e}")))
    };
    let applies = |marker: &str| {
        pep508_rs::MarkerTree::from_str(marker)
            .map(|m| m.evaluate(&env, &[]))
            .map_err(|e| invalid(format!("`{marker}` is not a marker: {e}")))
    };
    if let Some(spec) = &raw.requires_python
        && !admits(spec)?
    {
        return Err(not_for(format!("it requires Python `{spec}`")));
    }
    if let Some(environments) = &raw.environments {
        let mut any = false;
        for marker in environments {
            any |= applies(marker)?;
        }
        if !any {
            return Err(not_for(format!(
                "it is for the environments {}",
                environments
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut pins: Vec<LockedPackage> = Vec::new();
    for package in raw.packages {
        if let Some(marker) = &package.marker
            && !applies(marker)?
        {
            continue;
        }
        if let Some(spec) = &package.requires_python
            && !admits(spec)?
        {
            continue;
        }
        let name = normalize_name(&package.name);
        if name.is_empty() || name.starts_with('-') {
            return Err(invalid(format!("`{}` is not a package name", package.name)));
        }
        if package.vcs.is_some() || package.directory.is_some() {
            return Err(invalid(format!(
                "`{name}` comes from a {}, which has no hash to check; beep-python installs only hashed artifacts",
                if package.vcs.is_some() {
                    "VCS"
                } else {
                    "folder"
                }
            )));
        }
        let Some(version) = package
            .version
            .filter(|v| pep440_rs::Version::from_str(v).is_ok())
        else {
            return Err(invalid(format!("`{name}` has no version")));
        };
        if pins.iter().any(|p| p.name == name) {
            return Err(invalid(format!(
                "`{name}` is listed twice for this environment"
            )));
        }
        let artifacts: Vec<&RawArtifact> = package
            .wheels
            .iter()
            .chain(package.sdist.as_ref())
            .chain(package.archive.as_ref())
            .collect();
        let mut hashes = Vec::new();
        let mut files = Vec::new();
        for artifact in &artifacts {
            match artifact.hashes.get("sha256") {
                Some(hex) if crate::fetch::is_sha256(hex) => {
                    let sha256 = hex.to_ascii_lowercase();
                    hashes.push(format!("sha256:{sha256}"));
                    if let Some(name) = artifact.file_name() {
                        files.push(LockedFile {
                            name,
                            url: artifact.remote_url(),
                            sha256,
                        });
                    }
                }
                Some(hex) => {
                    return Err(invalid(format!("`{name}`: `{hex}` is not a sha256 digest")));
                }
                None => {}
            }
        }
        if hashes.is_empty() {
            return Err(invalid(format!(
                "`{name}` {version} has no sha256 for any artifact"
            )));
        }
        let url = artifacts
            .iter()
            .find_map(|a| a.remote_url())
            .filter(|_| artifacts.len() == 1);
        let mut pin = LockedPackage {
            name,
            version,
            url,
            hashes,
            files,
        };
        pin.normalize();
        pins.push(pin);
    }
    pins.sort();
    Ok(pins)
}

/// This machine, with the environment's Python.
fn marker_environment(python_version: &str) -> Option<pep508_rs::MarkerEnvironment> {
    let short = crate::venv::short_version(python_version);
    let (os_name, system, sys_platform) = match std::env::consts::OS {
        "linux" => ("posix", "Linux", "linux"),
        "macos" => ("posix", "Darwin", "darwin"),
        "windows" => ("nt", "Windows", "win32"),
        other => ("posix", other, other),
    };
    let machine = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("windows", "x86_64") => "AMD64",
        ("macos", "aarch64") => "arm64",
        (_, arch) => arch,
    };
    pep508_rs::MarkerEnvironment::try_from(pep508_rs::MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: python_version,
        os_name,
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: system,
        platform_version: "",
        python_full_version: python_version,
        python_version: &short,
        sys_platform,
    })
    .ok()
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// The `pylock.toml` of one locked environment; `artifacts` gives each
/// package's files (see the module docs), `dir` is the folder the file
/// goes to (local paths are written relative to it when under it).
pub fn render(
    env: &LockedEnvironment,
    dir: &Path,
    artifacts: impl Fn(&LockedPackage) -> Vec<ArtifactRef>,
) -> Result<String, PylockError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `beep-python export --format pylock` (PEP 751)."
    );
    out.push_str("lock-version = \"1.0\"\n");
    let _ = writeln!(
        out,
        "requires-python = {}",
        quote(&format!(
            "=={}.*",
            crate::venv::short_version(&env.python_version)
        ))
    );
    let _ = writeln!(out, "created-by = {}", quote(CREATED_BY));
    let mut missing = Vec::new();
    for package in &env.packages {
        let files = artifacts(package);
        if files.is_empty() {
            missing.push(format!("`{}=={}`", package.name, package.version));
            continue;
        }
        let _ = writeln!(
            out,
            "\n[[packages]]\nname = {}\nversion = {}",
            quote(&package.name),
            quote(&package.version)
        );
        let (wheels, sdists): (Vec<&ArtifactRef>, Vec<&ArtifactRef>) =
            files.iter().partition(|a| a.name.ends_with(".whl"));
        let entry = |out: &mut String, artifact: &ArtifactRef| {
            let _ = writeln!(out, "name = {}", quote(&artifact.name));
            match &artifact.location {
                Location::Url(url) => {
                    let _ = writeln!(out, "url = {}", quote(url));
                }
                Location::Path(path) => {
                    let shown = match path.strip_prefix(dir) {
                        Ok(rel) => rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                            .join("/"),
                        Err(_) => path.display().to_string(),
                    };
                    let _ = writeln!(out, "path = {}", quote(&shown));
                }
            }
            let _ = writeln!(out, "hashes = {{ sha256 = {} }}", quote(&artifact.sha256));
        };
        if let Some(sdist) = sdists.first() {
            out.push_str("\n[packages.sdist]\n");
            entry(&mut out, sdist);
        }
        for wheel in wheels {
            out.push_str("\n[[packages.wheels]]\n");
            entry(&mut out, wheel);
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(PylockError::NoArtifact { packages: missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/p/pylock.toml";

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn pins_follow_markers_and_keep_every_hash() {
        let text = format!(
            r#"
lock-version = "1.0"
requires-python = ">=3.9"
created-by = "uv"

[[packages]]
name = "Alpha_Pkg"
version = "1.0"
wheels = [
  {{ url = "https://files.example/alpha_pkg-1.0-py3-none-any.whl", hashes = {{ sha256 = "{a}" }} }},
]

[[packages]]
name = "winonly"
version = "2.0"
marker = "sys_platform == 'win32'"
wheels = [{{ path = "w.whl", hashes = {{ sha256 = "{b}" }} }}]

[[packages]]
name = "beta"
version = "3.0"
sdist = {{ path = "beta-3.0.tar.gz", hashes = {{ sha256 = "{c}" }} }}
wheels = [
  {{ name = "beta-3.0-py3-none-any.whl", path = "beta-3.0-py3-none-any.whl", hashes = {{ sha256 = "{d}" }} }},
]

[tool.someone]
x = 1
"#,
            a = sha('a'),
            b = sha('b'),
            c = sha('c'),
            d = sha('d').to_uppercase(),
        );
        let pins = pins_of(&text, Path::new(PATH), "3.11.2").unwrap();
        assert_eq!(
            pins,
            vec![
                LockedPackage {
                    name: "alpha-pkg".into(),
                    version: "1.0".into(),
                    url: Some("https://files.example/alpha_pkg-1.0-py3-none-any.whl".into()),
                    hashes: vec![format!("sha256:{}", sha('a'))],
                    files: vec![LockedFile {
                        name: "alpha_pkg-1.0-py3-none-any.whl".into(),
                        url: Some("https://files.example/alpha_pkg-1.0-py3-none-any.whl".into()),
                        sha256: sha('a'),
                    }],
                },
                // Each artifact by its name, or its path's last segment.
                LockedPackage {
                    name: "beta".into(),
                    version: "3.0".into(),
                    url: None,
                    hashes: vec![
                        format!("sha256:{}", sha('c')),
                        format!("sha256:{}", sha('d'))
                    ],
                    files: vec![
                        LockedFile {
                            name: "beta-3.0-py3-none-any.whl".into(),
                            url: None,
                            sha256: sha('d'),
                        },
                        LockedFile {
                            name: "beta-3.0.tar.gz".into(),
                            url: None,
                            sha256: sha('c'),
                        },
                    ],
                },
            ]
        );
    }

    #[test]
    fn files_for_other_pythons_and_unhashed_sources_are_refused() {
        let other = "lock-version = \"1.0\"\nrequires-python = \">=3.12\"\ncreated-by = \"x\"\n";
        let err = pins_of(other, Path::new(PATH), "3.11.2").unwrap_err();
        assert!(
            err.to_string().contains("requires Python `>=3.12`"),
            "{err}"
        );

        let env = "lock-version = \"1.0\"\nenvironments = [\"sys_platform == 'nope'\"]\ncreated-by = \"x\"\n";
        let err = pins_of(env, Path::new(PATH), "3.11.2").unwrap_err();
        assert!(err.to_string().contains("is for the environments"), "{err}");

        let newer = "lock-version = \"2.0\"\ncreated-by = \"x\"\n";
        let err = pins_of(newer, Path::new(PATH), "3.11.2").unwrap_err();
        assert!(err.to_string().contains("lock-version"), "{err}");

        let vcs = "lock-version = \"1.0\"\ncreated-by = \"x\"\n[[packages]]\nname = \"a\"\nvcs = { type = \"git\", url = \"https://x/a.git\", commit-id = \"abc\" }\n";
        let err = pins_of(vcs, Path::new(PATH), "3.11.2").unwrap_err();
        assert!(err.to_string().contains("VCS"), "{err}");

        let unhashed = "lock-version = \"1.0\"\ncreated-by = \"x\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\nwheels = [{ url = \"https://x/a-1-py3-none-any.whl\", hashes = {} }]\n";
        let err = pins_of(unhashed, Path::new(PATH), "3.11.2").unwrap_err();
        assert!(err.to_string().contains("no sha256"), "{err}");

        let twice = "lock-version = \"1.0\"\ncreated-by = \"x\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\nsdist = { path = \"a.tar.gz\", hashes = { sha256 = \"".to_string() + &sha('a') + "\" } }\n[[packages]]\nname = \"A\"\nversion = \"2\"\nsdist = { path = \"a.tar.gz\", hashes = { sha256 = \"" + &sha('a') + "\" } }\n";
        let err = pins_of(&twice, Path::new(PATH), "3.11.2").unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");

        let err = pins_of("not toml [", Path::new(PATH), "3.11.2").unwrap_err();
        assert!(matches!(err, PylockError::Invalid { .. }), "{err}");
    }

    #[test]
    fn render_writes_what_read_pins_reads_back() {
        let file = |name: &str, url: Option<&str>, c: char| LockedFile {
            name: name.into(),
            url: url.map(str::to_string),
            sha256: sha(c),
        };
        let alpha_url = "https://files.example/alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl";
        let env = LockedEnvironment {
            runtime: "py".into(),
            python_version: "3.11.2".into(),
            inputs_hash: "sha256:00".into(),
            packages: vec![
                // Every platform's wheel goes in, with its url.
                LockedPackage {
                    name: "alpha".into(),
                    version: "1.0".into(),
                    url: None,
                    hashes: vec![
                        format!("sha256:{}", sha('a')),
                        format!("sha256:{}", sha('e')),
                    ],
                    files: vec![
                        file(
                            "alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                            Some(alpha_url),
                            'a',
                        ),
                        file(
                            "alpha-1.0-cp311-cp311-win_amd64.whl",
                            Some("https://files.example/alpha-1.0-cp311-cp311-win_amd64.whl"),
                            'e',
                        ),
                    ],
                },
                LockedPackage {
                    name: "beta".into(),
                    version: "2.0".into(),
                    url: None,
                    hashes: vec![format!("sha256:{}", sha('b'))],
                    files: vec![file("beta-2.0-py3-none-any.whl", None, 'b')],
                },
            ],
            conda: None,
        };
        let text = render(&env, Path::new("/out"), |p| {
            p.files
                .iter()
                .map(|f| ArtifactRef {
                    name: f.name.clone(),
                    location: match &f.url {
                        Some(url) => Location::Url(url.clone()),
                        None => Location::Path(PathBuf::from("/out/wheels").join(&f.name)),
                    },
                    sha256: f.sha256.clone(),
                })
                .collect()
        })
        .unwrap();
        assert!(
            text.contains("path = \"wheels/beta-2.0-py3-none-any.whl\""),
            "{text}"
        );
        assert!(text.contains(&format!("url = \"{alpha_url}\"")), "{text}");
        assert!(
            text.contains("name = \"alpha-1.0-cp311-cp311-win_amd64.whl\""),
            "{text}"
        );
        assert!(text.contains("requires-python = \"==3.11.*\""), "{text}");
        assert_eq!(
            pins_of(&text, Path::new("/out/pylock.toml"), "3.11.2").unwrap(),
            env.packages
        );

        let err = render(&env, Path::new("/out"), |_| Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("`alpha==1.0`, `beta==2.0`"),
            "{err}"
        );
    }
}
