//! Resolving an environment's requirements to exact versions with artifact
//! hashes, through the installer (never by us):
//!
//! ```text
//! <venv>/bin/python -m pip install --no-input --disable-pip-version-check [index flags]
//!     --dry-run --ignore-installed --quiet --report <report.json> -r <requirements.in> [-c <constraints.txt>]
//! uv pip compile --python <base> [index flags] --generate-hashes --python-version X.Y
//!     --no-header --no-annotate -o <out.txt> <requirements.in> [-c <constraints.txt>]
//! ```
//!
//! - pip runs from the resolver environment of the base interpreter, one
//!   per base, kept in `<home>/cache/resolvers/` with pip's bytecode
//!   compiled, and shared by every environment and every run (see
//!   [`super::resolvers`]): the base's own pip may be missing, old or
//!   externally managed, and the environment being locked may not exist
//!   yet. pip ≥ 23 is required (its `--report` format is stable from then
//!   on). pip reads the sha256 of the artifact it chose from the index
//!   (`download_info.archive_info`); a local file (`find-links`) is hashed
//!   here when pip gives none.
//! - uv resolves for the base interpreter's platform and `X.Y`; it hashes
//!   every artifact of each pinned version, so a uv lock lists all of them.
//! - The index flags are the installer module's own (`installer::tool_command`):
//!   resolution sees the same index, find-links and offline setting as the
//!   install that follows. The user's pip and uv configuration still applies.
//! - The child runs through the installer's machinery: bounded output tail,
//!   the failing requirement read from it, cancellation within
//!   [`crate::process::POLL`], its whole process group stopped with it. A
//!   failure shows the tool's last lines.
//! - [`resolve`] blocks its thread until the installer is done, so several
//!   environments resolve in parallel on several threads
//!   ([`super::build()`]).
//!
//! # Minimal churn
//!
//! Re-locking must not move pins nobody asked to move. Every existing pin
//! (`preferences`) that is not being upgraded ([`Upgrade`]) and that still
//! satisfies every requirement naming its package directly is passed to the
//! installer as a constraint (`name==version` in a `-c` file; pip and uv
//! both read it). Pins of packages that are no longer needed are harmless:
//! a constraint only applies to what gets installed. If resolution with the
//! constraints fails (a new requirement needs a newer version of a pinned
//! dependency), it is run once more without any: correctness wins over
//! stability. `Upgrade::All` passes no constraints at all;
//! `Upgrade::Packages` drops the named packages' pins only.
//!
//! Constraints are hard: with `Upgrade::Packages(["a"])`, `a` moves only as
//! far as the other pins allow. uv's soft preferences (`-o` on an existing
//! output) would let it move further, but pip has no equivalent, and one
//! rule for both installers is easier to predict.
//!
//! TODO: resolution is for this machine's platform only (markers are
//! evaluated here); a lock made on Linux may not install on Windows.
//! Universal resolution (`uv pip compile --universal`) would need per-
//! package markers in the lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{LockedFile, LockedPackage};
use crate::installer::{self, Config, InstallError, Kind, Selected};
use crate::venv::{self, BaseInterpreter, VenvError, normalize_name};

/// Which pins `lock` may move.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Upgrade {
    /// Keep every pin that still satisfies the manifest (plain `lock`).
    #[default]
    None,
    /// Re-resolve everything (`lock --upgrade`).
    All,
    /// Re-resolve these packages (`lock --upgrade-package NAME`), any
    /// spelling of their names.
    Packages(Vec<String>),
}

/// What to resolve, and with what.
#[derive(Debug, Clone, Copy)]
pub struct ResolveRequest<'a> {
    /// The environment's base interpreter (its runtime).
    pub base: &'a BaseInterpreter,
    /// PEP 508 requirement strings, as the manifest resolves them.
    pub requirements: &'a [String],
    /// The environment's current pins, from the existing lock.
    pub preferences: &'a [LockedPackage],
    pub upgrade: &'a Upgrade,
    pub selected: &'a Selected,
    pub config: &'a Config,
    /// `<home>/cache`: scratch space and the pip wheel cache live there.
    pub cache_dir: &'a Path,
    /// The environment's name, for messages.
    pub environment: &'a str,
    /// Set by the Ctrl-C handler.
    pub cancel: &'a AtomicBool,
}

/// The oldest pip whose `--report` we read.
pub(super) const MIN_PIP: &str = "23";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ResolveError {
    #[error(
        "refusing to resolve `{requirement}` for environment `{environment}`: a requirement cannot start with `-` or span lines"
    )]
    #[diagnostic(
        code("lock::bad-requirement"),
        help("write the requirement as a PEP 508 string (`name[extras] specifier`)")
    )]
    BadRequirement {
        environment: String,
        requirement: String,
    },

    #[error("cannot prepare pip to resolve environment `{environment}`")]
    #[diagnostic(code("lock::resolver-venv"))]
    Venv {
        environment: String,
        #[source]
        #[diagnostic_source]
        source: VenvError,
    },

    #[error("cannot resolve environment `{environment}` with pip: {reason}")]
    #[diagnostic(
        code("lock::no-pip"),
        help(
            "install uv and set `settings.installer = \"uv\"` (it needs no pip), or use a runtime whose Python bundles pip"
        )
    )]
    NoPip { environment: String, reason: String },

    #[error(
        "cannot resolve environment `{environment}` with pip {version}: pip {MIN_PIP} or newer is needed to report a resolution"
    )]
    #[diagnostic(
        code("lock::old-pip"),
        help(
            "install uv and set `settings.installer = \"uv\"`, or use a runtime with a newer Python (its bundled pip is used)"
        )
    )]
    OldPip {
        environment: String,
        version: String,
    },

    #[error("cannot write `{}` to resolve environment `{environment}`", path.display())]
    #[diagnostic(code("lock::io"))]
    Io {
        environment: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Installer(InstallError),

    #[error("{}", failed_message(environment, *installer, *status, failing_requirement.as_deref()))]
    #[diagnostic(
        code("lock::resolution-failed"),
        help("{}", failed_help(*installer, last_lines))
    )]
    Failed {
        environment: String,
        installer: Kind,
        status: ExitStatus,
        failing_requirement: Option<String>,
        last_lines: Vec<String>,
    },

    #[error("cannot read what {installer} resolved for environment `{environment}`: {reason}")]
    #[diagnostic(
        code("lock::unreadable-resolution"),
        help(
            "this {installer} may be too new or too old for this beep-python; try the other installer (`settings.installer`)"
        )
    )]
    Unreadable {
        environment: String,
        installer: Kind,
        reason: String,
    },

    #[error("cannot lock `{package}` {version} in environment `{environment}`: {installer} gave no sha256 for it{}", url.as_deref().map(|u| format!(" (`{u}`)")).unwrap_or_default())]
    #[diagnostic(
        code("lock::no-hash"),
        help(
            "a lock needs every artifact's sha256: use an index that publishes them, or uv (`settings.installer = \"uv\"`), which hashes every artifact itself; a directory or VCS requirement cannot be locked"
        )
    )]
    NoHash {
        environment: String,
        installer: Kind,
        package: String,
        version: String,
        url: Option<String>,
    },

    /// `pylock = "FILE"`: the file cannot give this environment's pins.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pylock(#[from] super::pylock::PylockError),

    #[error("resolving environment `{environment}` was cancelled")]
    #[diagnostic(code("lock::cancelled"))]
    Cancelled { environment: String },
}

fn failed_message(
    environment: &str,
    installer: Kind,
    status: ExitStatus,
    failing: Option<&str>,
) -> String {
    let status = crate::process::describe(status);
    match failing {
        Some(requirement) => format!(
            "could not resolve the packages of environment `{environment}`: {installer} could not satisfy `{requirement}` ({status})"
        ),
        None => format!(
            "could not resolve the packages of environment `{environment}`: {installer} failed ({status})"
        ),
    }
}

fn failed_help(installer: Kind, last_lines: &[String]) -> String {
    let next = "check the requirements' spelling and versions, and that `settings.index-url` or `settings.find-links` offer them (with `settings.offline`, only `find-links` are searched)";
    if last_lines.is_empty() {
        return next.to_string();
    }
    let mut text = format!("{installer}'s last lines of output:");
    for line in last_lines {
        text.push_str("\n    ");
        text.push_str(line);
    }
    text.push('\n');
    text.push_str(next);
    text
}

/// Resolves `req.requirements` to exact versions with sha256 hashes,
/// keeping the existing pins that may stay (see the module docs). The
/// result is sorted by normalized name, hashes sorted and deduplicated.
pub fn resolve(req: &ResolveRequest) -> Result<Vec<LockedPackage>, ResolveError> {
    for requirement in req.requirements {
        if requirement.trim_start().starts_with('-') || requirement.contains(['\n', '\r', '\0']) {
            return Err(ResolveError::BadRequirement {
                environment: req.environment.to_string(),
                requirement: requirement.clone(),
            });
        }
    }
    if req.requirements.is_empty() {
        return Ok(Vec::new());
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ResolveError::Io {
            environment: req.environment.to_string(),
            path,
            source,
        }
    };
    fs_err::create_dir_all(req.cache_dir).map_err(io(req.cache_dir))?;
    let scratch = tempfile::Builder::new()
        .prefix(".resolve-")
        .tempdir_in(req.cache_dir)
        .map_err(io(req.cache_dir))?;
    let requirements = scratch.path().join("requirements.in");
    let mut text = req.requirements.join("\n");
    text.push('\n');
    fs_err::write(&requirements, text).map_err(io(&requirements))?;

    let resolver = match req.selected.kind {
        Kind::Pip => Resolver::Pip {
            python: super::resolvers::python(req)?,
        },
        Kind::Uv => Resolver::Uv,
    };

    let pins = pins_to_keep(req.requirements, req.preferences, req.upgrade);
    if !pins.is_empty() {
        let constraints = scratch.path().join("constraints.txt");
        let text: String = pins.iter().map(|p| format!("{p}\n")).collect();
        fs_err::write(&constraints, text).map_err(io(&constraints))?;
        match resolver.run(req, scratch.path(), &requirements, Some(&constraints)) {
            // Only a resolution failure is worth a second try.
            Err(ResolveError::Failed { .. }) if !req.cancel.load(Ordering::SeqCst) => {}
            other => return other,
        }
    }
    resolver.run(req, scratch.path(), &requirements, None)
}

/// The pins to pass as constraints: `name==version` for each preference
/// that is not being upgraded and that every requirement naming its
/// package directly accepts.
fn pins_to_keep(
    requirements: &[String],
    preferences: &[LockedPackage],
    upgrade: &Upgrade,
) -> Vec<String> {
    let upgraded: Vec<String> = match upgrade {
        Upgrade::All => return Vec::new(),
        Upgrade::None => Vec::new(),
        Upgrade::Packages(names) => names.iter().map(|n| normalize_name(n)).collect(),
    };
    let parsed: Vec<pep508_rs::Requirement<pep508_rs::VerbatimUrl>> = requirements
        .iter()
        .filter(|r| parses_safely(r))
        .filter_map(|r| pep508_rs::Requirement::from_str(r).ok())
        .collect();
    let mut pins = Vec::new();
    for pin in preferences {
        let name = normalize_name(&pin.name);
        if upgraded.contains(&name) {
            continue;
        }
        let Ok(version) = pep440_rs::Version::from_str(&pin.version) else {
            continue;
        };
        let accepted = parsed
            .iter()
            .filter(|r| r.name.to_string() == name)
            .all(|r| match &r.version_or_url {
                None => true,
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => {
                    specifiers.contains(&version)
                }
                // A URL decides the artifact; a pin would fight it.
                Some(pep508_rs::VersionOrUrl::Url(_)) => false,
            });
        if accepted {
            pins.push(format!("{name}=={}", pin.version));
        }
    }
    pins.sort();
    pins.dedup();
    pins
}

/// pep508_rs 0.9.2 panics on a name that ends in `.`, `-` or `_` followed
/// by something that is not part of a name (`"a. "`); such a requirement
/// is left to the installer to reject.
fn parses_safely(requirement: &str) -> bool {
    let trimmed = requirement.trim_start();
    let end = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(trimmed.len());
    let last = trimmed[..end].chars().last();
    !(end < trimmed.len() && matches!(last, Some('.' | '-' | '_')))
}

enum Resolver {
    /// pip, run from the resolver environment's interpreter.
    Pip {
        python: PathBuf,
    },
    Uv,
}

impl Resolver {
    fn run(
        &self,
        req: &ResolveRequest,
        scratch: &Path,
        requirements: &Path,
        constraints: Option<&Path>,
    ) -> Result<Vec<LockedPackage>, ResolveError> {
        let kind = req.selected.kind;
        let (python, output) = match self {
            Resolver::Pip { python } => (python.as_path(), scratch.join("report.json")),
            // uv insists on the standard name for its PEP 751 output.
            Resolver::Uv => (req.base.executable.as_path(), scratch.join("pylock.toml")),
        };
        // A leftover from the try with constraints must not be read as
        // this try's result.
        let _ = fs_err::remove_file(&output);
        let installer_error = |e: InstallError| match e {
            InstallError::Cancelled => ResolveError::Cancelled {
                environment: req.environment.to_string(),
            },
            other => ResolveError::Installer(other),
        };
        let mut command = match self {
            Resolver::Pip { .. } => {
                let mut command =
                    installer::tool_command(req.selected, req.config, python, "install")
                        .map_err(installer_error)?;
                command
                    .args(["--dry-run", "--ignore-installed", "--quiet", "--report"])
                    .arg(&output)
                    .arg("-r")
                    .arg(requirements);
                command
            }
            Resolver::Uv => {
                let mut command =
                    installer::tool_command(req.selected, req.config, python, "compile")
                        .map_err(installer_error)?;
                // PEP 751's format: every artifact with its url and sha256,
                // what the native installer and bundles need.
                command
                    .args(["--format", "pylock.toml", "--python-version"])
                    .arg(venv::short_version(&req.base.version))
                    .args(["--no-header", "-o"])
                    .arg(&output)
                    .arg(requirements);
                command
            }
        };
        if let Some(constraints) = constraints {
            command.arg("-c").arg(constraints);
        }
        let ran = installer::run_captured(
            req.selected,
            &mut command,
            python,
            req.environment,
            req.cancel,
        )
        .map_err(installer_error)?;
        if !ran.status.success() {
            return Err(ResolveError::Failed {
                environment: req.environment.to_string(),
                installer: kind,
                status: ran.status,
                failing_requirement: ran.failing_requirement,
                last_lines: ran.tail,
            });
        }
        let unreadable = |reason: String| ResolveError::Unreadable {
            environment: req.environment.to_string(),
            installer: kind,
            reason,
        };
        let text = fs_err::read_to_string(&output)
            .map_err(|e| unreadable(format!("`{}`: {e}", output.display())))?;
        let mut packages = match self {
            Resolver::Pip { .. } => parse_pip_report(&text).map_err(unreadable)?,
            Resolver::Uv => parse_uv_pylock(&text).map_err(unreadable)?,
        };
        for package in &mut packages {
            if package.hashes.is_empty() {
                return Err(ResolveError::NoHash {
                    environment: req.environment.to_string(),
                    installer: kind,
                    package: package.name.clone(),
                    version: package.version.clone(),
                    url: package.url.clone(),
                });
            }
            package.normalize();
        }
        packages.sort();
        packages.dedup_by(|a, b| a.name == b.name);
        Ok(packages)
    }
}

/// pip's installation report (format version 1, pip ≥ 23): the fields we
/// read.
#[derive(Deserialize)]
struct Report {
    version: String,
    install: Vec<ReportItem>,
}

#[derive(Deserialize)]
struct ReportItem {
    metadata: ReportMetadata,
    download_info: Option<DownloadInfo>,
}

#[derive(Deserialize)]
struct ReportMetadata {
    name: String,
    version: String,
}

#[derive(Deserialize)]
struct DownloadInfo {
    url: String,
    archive_info: Option<ArchiveInfo>,
}

#[derive(Deserialize)]
struct ArchiveInfo {
    /// `sha256=<hex>` (pip 23.0).
    hash: Option<String>,
    /// `{"sha256": "<hex>"}` (pip ≥ 23.1).
    hashes: Option<BTreeMap<String, String>>,
}

/// The packages of a pip report. A package with no sha256 gets no hash
/// (the caller refuses it); a `file:` artifact is hashed here instead, and
/// its URL is not kept (it is specific to this machine).
fn parse_pip_report(text: &str) -> Result<Vec<LockedPackage>, String> {
    let report: Report = serde_json::from_str(text)
        .map_err(|e| format!("its report is not what pip 23 writes: {e}"))?;
    if report.version != "1" {
        return Err(format!(
            "its report has format version {}, and this beep-python reads version 1",
            report.version
        ));
    }
    let mut out = Vec::with_capacity(report.install.len());
    for item in report.install {
        let (url, mut hashes) = match &item.download_info {
            None => (None, Vec::new()),
            Some(info) => {
                let archive = info.archive_info.as_ref();
                let from_map = archive
                    .and_then(|a| a.hashes.as_ref())
                    .and_then(|h| h.get("sha256"))
                    .cloned();
                let from_hash = archive
                    .and_then(|a| a.hash.as_deref())
                    .and_then(|h| h.strip_prefix("sha256="))
                    .map(str::to_string);
                let hashes: Vec<String> = from_map
                    .or(from_hash)
                    .map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()))
                    .into_iter()
                    .collect();
                (Some(info.url.clone()), hashes)
            }
        };
        let local = url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .filter(|u| u.scheme() == "file");
        if let Some(file) = &local {
            // Only an archive is hashed: a directory (`dir_info`) has no
            // archive_info and cannot be locked.
            if hashes.is_empty()
                && item
                    .download_info
                    .as_ref()
                    .is_some_and(|i| i.archive_info.is_some())
                && let Ok(path) = file.to_file_path()
                && let Ok(bytes) = fs_err::read(&path)
            {
                hashes.push(format!("sha256:{}", hex(&Sha256::digest(&bytes))));
            }
        }
        // The artifact by name: found again by its name in a `find-links`
        // folder when it came from one, by its url otherwise.
        let files = match (&url, hashes.first()) {
            (Some(u), Some(hash)) => file_name_of(u)
                .map(|name| LockedFile {
                    name,
                    url: local.is_none().then(|| u.clone()),
                    sha256: hash.trim_start_matches("sha256:").to_string(),
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        out.push(LockedPackage {
            name: normalize_name(&item.metadata.name),
            version: item.metadata.version,
            url: if local.is_some() { None } else { url },
            hashes,
            files,
        });
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The last path segment of `url`, percent-decoded: an artifact's file name.
fn file_name_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let last = parsed.path_segments()?.next_back()?.to_string();
    let decoded = percent_decode(&last);
    (!decoded.is_empty() && !decoded.contains('/')).then_some(decoded)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `uv pip compile --format pylock.toml` (PEP 751): each package with every
/// artifact's url (a `file:` one for a local `find-links` folder, kept by
/// name only) and sha256.
fn parse_uv_pylock(text: &str) -> Result<Vec<LockedPackage>, String> {
    #[derive(Deserialize)]
    struct Pylock {
        #[serde(default)]
        packages: Vec<Package>,
    }
    #[derive(Deserialize)]
    struct Package {
        name: String,
        version: Option<String>,
        #[serde(default)]
        wheels: Vec<Artifact>,
        sdist: Option<Artifact>,
        archive: Option<Artifact>,
    }
    #[derive(Deserialize)]
    struct Artifact {
        name: Option<String>,
        url: Option<String>,
        path: Option<String>,
        #[serde(default)]
        hashes: std::collections::BTreeMap<String, String>,
    }
    let lock: Pylock =
        toml::from_str(text).map_err(|e| format!("its pylock.toml does not read: {e}"))?;
    let mut out = Vec::with_capacity(lock.packages.len());
    for package in lock.packages {
        let Some(version) = package.version else {
            return Err(format!(
                "`{}` has no version (a folder or VCS requirement cannot be locked)",
                package.name
            ));
        };
        let mut locked = LockedPackage::new(&normalize_name(&package.name), &version, Vec::new());
        for artifact in package
            .wheels
            .iter()
            .chain(package.sdist.iter())
            .chain(package.archive.iter())
        {
            let Some(sha) = artifact
                .hashes
                .get("sha256")
                .map(|h| h.to_ascii_lowercase())
            else {
                continue;
            };
            locked.hashes.push(format!("sha256:{sha}"));
            let location = artifact.url.as_deref().or(artifact.path.as_deref());
            let name = artifact
                .name
                .clone()
                .or_else(|| location.and_then(file_name_of))
                .or_else(|| location.and_then(|l| l.rsplit('/').next().map(percent_decode)));
            let remote = artifact
                .url
                .as_deref()
                .filter(|u| !u.starts_with("file:"))
                .map(str::to_string);
            if let Some(name) = name {
                locked.files.push(LockedFile {
                    name,
                    url: remote,
                    sha256: sha,
                });
            }
        }
        out.push(locked);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(name: &str, version: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            url: None,
            hashes: vec![],
            files: Vec::new(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pins_that_still_satisfy_the_manifest_are_kept() {
        let requirements = strings(&["pandas>=2", "Rich<14", "requests @ https://x.test/r.whl"]);
        let preferences = vec![
            pin("pandas", "2.1.4"),
            pin("rich", "14.0.0"),
            pin("numpy", "1.26.4"),
            pin("requests", "2.31.0"),
            pin("six", "not a version"),
        ];
        assert_eq!(
            pins_to_keep(&requirements, &preferences, &Upgrade::None),
            strings(&["numpy==1.26.4", "pandas==2.1.4"])
        );
        assert_eq!(
            pins_to_keep(
                &requirements,
                &preferences,
                &Upgrade::Packages(strings(&["Pandas"]))
            ),
            strings(&["numpy==1.26.4"])
        );
        assert!(pins_to_keep(&requirements, &preferences, &Upgrade::All).is_empty());
    }

    #[test]
    fn a_requirement_that_would_panic_the_parser_is_skipped() {
        let requirements = strings(&["a. ", "b>=1"]);
        assert_eq!(
            pins_to_keep(&requirements, &[pin("b", "1.0")], &Upgrade::None),
            strings(&["b==1.0"])
        );
    }

    #[test]
    fn pip_reports_of_both_formats_are_read() {
        let report = r#"{
          "version": "1",
          "pip_version": "23.2.1",
          "install": [
            {"download_info": {"url": "https://files.example/Beep_A-1.0-py3-none-any.whl",
               "archive_info": {"hash": "sha256=AB", "hashes": {"sha256": "ab"}}},
             "metadata": {"name": "Beep_A", "version": "1.0"}},
            {"download_info": {"url": "https://files.example/b-2.0.tar.gz",
               "archive_info": {"hash": "sha256=cd"}},
             "metadata": {"name": "b", "version": "2.0"}},
            {"download_info": {"url": "https://files.example/c-3.0.tar.gz",
               "archive_info": {"hash": "md5=00"}},
             "metadata": {"name": "c", "version": "3.0"}}
          ]
        }"#;
        let packages = parse_pip_report(report).unwrap();
        assert_eq!(
            packages,
            vec![
                LockedPackage {
                    name: "beep-a".into(),
                    version: "1.0".into(),
                    url: Some("https://files.example/Beep_A-1.0-py3-none-any.whl".into()),
                    hashes: vec!["sha256:ab".into()],
                    files: vec![LockedFile {
                        name: "Beep_A-1.0-py3-none-any.whl".into(),
                        url: Some("https://files.example/Beep_A-1.0-py3-none-any.whl".into()),
                        sha256: "ab".into(),
                    }],
                },
                LockedPackage {
                    name: "b".into(),
                    version: "2.0".into(),
                    url: Some("https://files.example/b-2.0.tar.gz".into()),
                    hashes: vec!["sha256:cd".into()],
                    files: vec![LockedFile {
                        name: "b-2.0.tar.gz".into(),
                        url: Some("https://files.example/b-2.0.tar.gz".into()),
                        sha256: "cd".into(),
                    }],
                },
                LockedPackage {
                    name: "c".into(),
                    version: "3.0".into(),
                    url: Some("https://files.example/c-3.0.tar.gz".into()),
                    hashes: vec![],
                    files: Vec::new(),
                },
            ]
        );
        let newer = r#"{"version": "2", "install": []}"#;
        assert!(
            parse_pip_report(newer)
                .unwrap_err()
                .contains("format version 2")
        );
    }

    #[test]
    fn a_local_artifact_is_hashed_here_and_its_path_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("a-1.0-py3-none-any.whl");
        fs_err::write(&wheel, b"wheel bytes").unwrap();
        let url = url::Url::from_file_path(&wheel).unwrap();
        let report = format!(
            r#"{{"version": "1", "install": [{{"download_info": {{"url": "{url}", "archive_info": {{}}}}, "metadata": {{"name": "a", "version": "1.0"}}}}]}}"#
        );
        let packages = parse_pip_report(&report).unwrap();
        assert_eq!(packages[0].url, None);
        assert_eq!(
            packages[0].hashes,
            vec![format!("sha256:{}", hex(&Sha256::digest(b"wheel bytes")))]
        );
    }

    #[test]
    fn uv_pylock_output_keeps_every_artifact_by_name() {
        let text = r#"
lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "Beep_A"
version = "1.0"
wheels = [
    { url = "https://files.example/beep_a-1.0-py3-none-any.whl", hashes = { sha256 = "AA" } },
    { url = "https://files.example/beep_a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", hashes = { sha256 = "bb" } },
]
sdist = { url = "https://files.example/beep_a-1.0.tar.gz", hashes = { sha256 = "cc" } }

[[packages]]
name = "local"
version = "2"
wheels = [{ url = "file:///wheels/local-2-py3-none-any.whl", hashes = { sha256 = "dd" } }]

[[packages]]
name = "folder"
directory = { path = "./folder" }
"#;
        let err = parse_uv_pylock(text).unwrap_err();
        assert!(err.contains("`folder` has no version"), "{err}");
        let text = text
            .split("[[packages]]\nname = \"folder\"")
            .next()
            .unwrap();
        let packages = parse_uv_pylock(text).unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].name, "beep-a");
        assert_eq!(
            packages[0].hashes,
            strings(&["sha256:aa", "sha256:bb", "sha256:cc"])
        );
        let names: Vec<_> = packages[0].files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "beep_a-1.0-py3-none-any.whl",
                "beep_a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                "beep_a-1.0.tar.gz"
            ]
        );
        assert_eq!(packages[0].files[0].sha256, "aa");
        // A wheel from a local folder is kept by name: the folder is
        // this machine's, the name and hash are the artifact's.
        assert_eq!(packages[1].files[0].name, "local-2-py3-none-any.whl");
        assert_eq!(packages[1].files[0].url, None);
    }

    #[test]
    fn option_like_requirements_are_refused_before_anything_runs() {
        let base = BaseInterpreter {
            executable: "/nonexistent/python3".into(),
            version: "3.12.1".into(),
            implementation: "cpython".into(),
        };
        let cache = tempfile::tempdir().unwrap();
        for bad in ["--index-url=https://evil.example", "a\n--pre"] {
            let requirements = strings(&[bad]);
            let err = resolve(&ResolveRequest {
                base: &base,
                requirements: &requirements,
                preferences: &[],
                upgrade: &Upgrade::None,
                selected: &Selected {
                    kind: Kind::Pip,
                    uv: None,
                },
                config: &Config::default(),
                cache_dir: cache.path(),
                environment: "web",
                cancel: &AtomicBool::new(false),
            })
            .unwrap_err();
            assert!(
                matches!(err, ResolveError::BadRequirement { .. }),
                "{err:?}"
            );
        }
    }
}
