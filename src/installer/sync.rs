//! Installing exactly a locked set of packages (`apply` with a lock), and
//! the two pieces of the installer that resolution (`lockfile::resolve`)
//! borrows: the command line with the manifest's index settings, and a run
//! with the bounded output tail and cancellation of every install.
//!
//! ```text
//! <python> -m pip install --no-input --disable-pip-version-check [index flags] --require-hashes --no-deps -r <file>
//! <python> -m pip uninstall --yes <every distribution the lock does not list, but pip>
//! uv pip sync --python <python> [index flags] --require-hashes --allow-empty-requirements <file>
//! uv pip uninstall --python <python> <the seed packages uv kept, if the lock does not list them>
//! ```
//!
//! where `<file>` holds one `name==version --hash=sha256:...` line per
//! locked package.
//!
//! Invariants:
//!
//! - Every artifact is checked against the lock's sha256 by the installer
//!   itself (`--require-hashes`), and nothing outside the lock is installed
//!   (`--no-deps`: the lock already lists every dependency).
//! - The index flags are exactly those [`super::install_command`] passes
//!   (a test compares them), so an install and a sync reach the same
//!   packages.
//! - Exact sync: afterwards the environment holds the locked distributions
//!   and nothing else. The one exception is pip itself when pip is the
//!   installer: it must stay for the environment to be installable at all
//!   (pip vendors its dependencies, so nothing else is kept). uv removes
//!   unlisted distributions itself but keeps pip, setuptools and wheel in
//!   environments it did not create, so those are uninstalled after it.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{
    Config, InstallError, Kind, Outcome, Selected, TAIL_LINES, base_command, refuse_options,
    run_tool, show,
};
use crate::pins::LockedPackage;

/// Install exactly `packages` into the environment whose interpreter is
/// `python`, with hash checking, and remove every distribution the lock
/// does not list (exact sync).
///
/// - pip: `python -m pip install --require-hashes --no-deps -r <file>`
///   (plus the manifest's index, find-links and offline flags), then
///   `pip uninstall --yes` of the installed distributions that the lock
///   does not list, except pip itself, which must stay for pip to keep
///   working in the environment (it vendors its own dependencies, so
///   nothing else is spared).
/// - uv: `uv pip sync --require-hashes --python <python> <file>`, which
///   removes unlisted distributions itself, except the "seed packages"
///   (pip, setuptools, wheel) of an environment uv did not create; those
///   are removed with `uv pip uninstall` after it, unless locked (uv needs
///   no pip in the environment).
///
/// An artifact whose sha256 is not in the lock (a tampered or rebuilt
/// wheel) makes the installer fail before it installs anything; the error
/// carries its last lines, which name the package and both hashes.
pub fn sync(
    sel: &Selected,
    config: &Config,
    python: &Path,
    packages: &[LockedPackage],
    environment: &str,
    cancel: &AtomicBool,
) -> Result<Outcome, InstallError> {
    // The lock is a file in the repository: a name or version that could
    // be read as an option must not reach the command line or the
    // requirements file.
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    refuse_options(sel.kind, environment, &names)?;
    let versions: Vec<String> = packages.iter().map(|p| p.version.clone()).collect();
    refuse_options(sel.kind, environment, &versions)?;

    let started = Instant::now();
    let scratch = tempfile::Builder::new()
        .prefix("beep-python-sync-")
        .tempdir()
        .map_err(|source| spawn_error(sel, python, environment, source))?;
    let file = scratch.path().join("requirements.txt");
    write_requirements(&file, packages)
        .map_err(|source| spawn_error(sel, python, environment, source))?;

    let mut tail = Vec::new();
    let mut shown = Vec::new();
    let install = match sel.kind {
        Kind::Uv => {
            let mut command = tool_command(sel, config, python, "sync")?;
            command
                .args(["--require-hashes", "--allow-empty-requirements"])
                .arg(&file);
            Some(command)
        }
        // pip refuses an empty requirements file; removing is all there
        // is to do then.
        Kind::Pip if packages.is_empty() => None,
        Kind::Pip => {
            let mut command = tool_command(sel, config, python, "install")?;
            command
                .args(["--require-hashes", "--no-deps", "-r"])
                .arg(&file);
            Some(command)
        }
    };
    if let Some(mut command) = install {
        shown.push(show(&command));
        let finished = run_tool(sel, &mut command, python, environment, cancel, None, None)?;
        if !finished.status.success() {
            if sel.kind == Kind::Pip && finished.pip_missing {
                return Err(InstallError::PipMissing {
                    environment: environment.to_string(),
                    python: python.to_path_buf(),
                });
            }
            return Err(InstallError::Failed {
                environment: environment.to_string(),
                installer: sel.kind,
                status: finished.status,
                failing_requirement: finished.finding.map(|f| f.requirement),
                last_lines: finished.tail,
            });
        }
        tail = finished.tail;
    }

    // pip installs only; uv removes what the lock does not list, except
    // the "seed packages" (pip, setuptools, wheel) of an environment it did
    // not create. Whatever is left goes now.
    let extra = unlisted(python, packages, sel.kind == Kind::Pip);
    if !extra.is_empty() {
        if cancel.load(Ordering::SeqCst) {
            return Err(InstallError::Cancelled);
        }
        let mut command = base_command(sel, python, "uninstall")?;
        if sel.kind == Kind::Pip {
            command.arg("--yes");
        }
        command.args(&extra);
        shown.push(show(&command));
        let finished = run_tool(sel, &mut command, python, environment, cancel, None, None)?;
        if !finished.status.success() {
            if sel.kind == Kind::Pip && finished.pip_missing {
                return Err(InstallError::PipMissing {
                    environment: environment.to_string(),
                    python: python.to_path_buf(),
                });
            }
            return Err(InstallError::UninstallFailed {
                environment: environment.to_string(),
                installer: sel.kind,
                status: finished.status,
                names: extra,
                last_lines: finished.tail,
            });
        }
        tail.extend(finished.tail);
    }
    let keep_from = tail.len().saturating_sub(TAIL_LINES);
    tail.drain(..keep_from);
    Ok(Outcome {
        stdout_tail: tail,
        duration: started.elapsed(),
        command: shown.join(" && "),
    })
}

/// One `name==version --hash=sha256:...` line per package: the format both
/// pip and uv read in `--require-hashes` mode.
fn write_requirements(path: &Path, packages: &[LockedPackage]) -> std::io::Result<()> {
    let mut text = String::new();
    for package in packages {
        text.push_str(&package.name);
        text.push_str("==");
        text.push_str(&package.version);
        for hash in &package.hashes {
            text.push_str(" --hash=");
            text.push_str(hash);
        }
        text.push('\n');
    }
    let mut file = fs_err::File::create(path).map_err(|e| with_path(e, path))?;
    file.write_all(text.as_bytes())
        .map_err(|e| with_path(e, path))
}

fn with_path(error: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(
        error.kind(),
        format!("failed to write `{}`: {error}", path.display()),
    )
}

/// The scratch file could not be written: reported as a failure to start
/// the installer, which is what it amounts to.
fn spawn_error(
    sel: &Selected,
    python: &Path,
    environment: &str,
    source: std::io::Error,
) -> InstallError {
    InstallError::Spawn {
        environment: environment.to_string(),
        installer: sel.kind,
        program: super::program_of(sel, python),
        source,
    }
}

/// The installed distributions (read from `site-packages`, no Python
/// started) that the lock does not list; pip excepted when `keep_pip`.
fn unlisted(python: &Path, packages: &[LockedPackage], keep_pip: bool) -> Vec<String> {
    // `<env>/bin/python` (`<env>\Scripts\python.exe`): two levels up.
    let Some(root) = python.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    crate::venv::observe(root)
        .packages
        .into_iter()
        .filter(|d| !(keep_pip && d.name == "pip"))
        .filter(|d| {
            !packages
                .iter()
                .any(|p| crate::venv::normalize_name(&p.name) == d.name)
        })
        .map(|d| d.name)
        .collect()
}

/// `<python> -m pip <verb> ...` or `uv pip <verb> --python <python> ...`
/// with the manifest's index, find-links and offline flags, exactly as
/// [`super::install_command`] passes them. For `lockfile::resolve`
/// (`pip install --dry-run`, `uv pip compile`) and [`sync`].
pub(crate) fn tool_command(
    sel: &Selected,
    config: &Config,
    python: &Path,
    verb: &str,
) -> Result<Command, InstallError> {
    let mut command = base_command(sel, python, verb)?;
    index_flags(sel.kind, config, &mut command);
    Ok(command)
}

/// The flags that choose where packages come from, the same for every
/// command that installs or resolves (install, sync, resolution).
pub(super) fn index_flags(kind: Kind, config: &Config, command: &mut Command) {
    match kind {
        Kind::Pip => {
            if config.offline {
                command.arg("--no-index");
            } else if let Some(url) = &config.index_url {
                command.args(["--index-url", url]);
            }
            for link in &config.find_links {
                command.args(["--find-links", link]);
            }
        }
        Kind::Uv => {
            if let Some(url) = &config.index_url {
                command.args(["--index-url", url]);
            }
            for link in &config.find_links {
                command.args(["--find-links", link]);
            }
            if config.offline {
                command.arg("--offline");
                if config.index_url.is_none() {
                    command.arg("--no-index");
                }
            }
        }
    }
}

/// How a tool run by [`run_captured`] ended.
#[derive(Debug)]
pub(crate) struct ToolRun {
    pub status: ExitStatus,
    /// The last lines of output, at most [`TAIL_LINES`].
    pub tail: Vec<String>,
    /// The requirement the output blames, if it names one.
    pub failing_requirement: Option<String>,
}

/// Runs `command` (built by [`tool_command`]) with the installer's
/// machinery: one bounded output tail, the failing requirement read from it,
/// cancellation within ~50 ms. Failing to start it, and cancellation, are
/// errors; the exit status is the caller's to judge.
pub(crate) fn run_captured(
    sel: &Selected,
    command: &mut Command,
    python: &Path,
    environment: &str,
    cancel: &AtomicBool,
) -> Result<ToolRun, InstallError> {
    let finished = run_tool(sel, command, python, environment, cancel, None, None)?;
    if sel.kind == Kind::Pip && !finished.status.success() && finished.pip_missing {
        return Err(InstallError::PipMissing {
            environment: environment.to_string(),
            python: python.to_path_buf(),
        });
    }
    Ok(ToolRun {
        status: finished.status,
        tail: finished.tail,
        failing_requirement: finished.finding.map(|f| f.requirement),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::installer::{Request, install_command};
    use crate::manifest::Installer;
    use std::path::PathBuf;

    fn args(command: &Command) -> Vec<String> {
        command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn index_flags_match_install_command() {
        let configs = [
            Config::default(),
            Config {
                installer: Installer::Pip,
                index_url: Some("https://mirror.example/simple".into()),
                find_links: vec!["/wheels".into(), "https://links.example/".into()],
                offline: false,
            },
            Config {
                installer: Installer::Pip,
                index_url: None,
                find_links: vec!["/wheels".into()],
                offline: true,
            },
            Config {
                installer: Installer::Uv,
                index_url: Some("https://mirror.example/simple".into()),
                find_links: vec![],
                offline: true,
            },
        ];
        let selections = [
            Selected {
                kind: Kind::Pip,
                uv: None,
            },
            Selected {
                kind: Kind::Uv,
                uv: Some(PathBuf::from("/usr/bin/uv")),
            },
        ];
        let python = Path::new("/env/bin/python");
        for sel in &selections {
            for config in &configs {
                let ours = tool_command(sel, config, python, "install").unwrap();
                let theirs = install_command(
                    sel,
                    config,
                    &Request {
                        python,
                        requirements: &[],
                        environment: "e",
                        constraints: None,
                    },
                )
                .unwrap();
                assert_eq!(args(&ours), args(&theirs), "{sel:?} {config:?}");
                assert_eq!(ours.get_program(), theirs.get_program());
            }
        }
    }

    #[test]
    fn requirements_file_has_one_hashed_pin_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.txt");
        let packages = vec![
            LockedPackage {
                name: "alpha".into(),
                version: "1.0".into(),
                url: None,
                hashes: vec![format!("sha256:{}", "a".repeat(64))],
                files: Vec::new(),
            },
            LockedPackage {
                name: "beta".into(),
                version: "2.0".into(),
                url: Some("https://x/beta.whl".into()),
                hashes: vec![
                    format!("sha256:{}", "b".repeat(64)),
                    format!("sha256:{}", "c".repeat(64)),
                ],
                files: Vec::new(),
            },
        ];
        write_requirements(&file, &packages).unwrap();
        let text = fs_err::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!(
                "alpha==1.0 --hash=sha256:{}\nbeta==2.0 --hash=sha256:{} --hash=sha256:{}\n",
                "a".repeat(64),
                "b".repeat(64),
                "c".repeat(64)
            )
        );
    }

    #[test]
    fn a_lock_entry_that_looks_like_an_option_is_refused() {
        let packages = vec![LockedPackage {
            name: "--index-url=https://evil.example".into(),
            version: "1".into(),
            url: None,
            hashes: vec![],
            files: Vec::new(),
        }];
        let err = sync(
            &Selected {
                kind: Kind::Pip,
                uv: None,
            },
            &Config::default(),
            Path::new("/nonexistent/bin/python"),
            &packages,
            "e",
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert!(matches!(err, InstallError::OptionLike { .. }), "{err:?}");
    }
}
