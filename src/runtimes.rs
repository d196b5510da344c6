//! The runtime registry: what discovery found, recorded; the default
//! runtime; and the choice of interpreter for a `source = "system"` runtime.
//!
//! Invariants:
//!
//! - A discovered interpreter is identified by its canonical path. Its
//!   record keeps its name across runs (names are what users type), and its
//!   version is updated in place when the interpreter at that path changes.
//! - An interpreter that is no longer found is marked `missing`, never
//!   forgotten silently: an OS reinstall may bring it back, and it then
//!   returns to `ready` under the same name. Only `--prune` forgets missing
//!   interpreters, and never managed ones (those belong to `apply`/`destroy`).
//! - Recording is deterministic and idempotent: a second run over the same
//!   discovery changes nothing, so the caller can skip the write.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use jiff::Timestamp;
use pep440_rs::{Version, VersionSpecifiers};
use sha2::{Digest, Sha256};

use crate::diagnostic::suggestion;
use crate::discover::{self, Discovery, Interpreter};
use crate::manifest::{Runtime, RuntimeSource};
use crate::registry::Registry;
use crate::registry::model::{RuntimeKind, RuntimeRecord, Status};

/// What recording a discovery changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Names of interpreters seen for the first time.
    pub added: Vec<String>,
    /// Names of interpreters that had been missing and are back.
    pub returned: Vec<String>,
    /// Names of interpreters whose version or details changed.
    pub updated: Vec<String>,
    /// Names of interpreters no longer found (kept, marked missing).
    pub missing: Vec<String>,
    /// Names forgotten by `--prune`.
    pub pruned: Vec<String>,
    /// Set when `--prune` forgot the default runtime.
    pub default_cleared: Option<String>,
}

/// A stable id for a discovered interpreter, from its canonical path.
fn discovered_id(real_path: &Path) -> String {
    let digest = Sha256::digest(real_path.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sys-{hex}")
}

fn status_of(interpreter: &Interpreter) -> Status {
    if interpreter.supported {
        Status::Ready
    } else {
        Status::Unsupported
    }
}

/// `cpython-3.11.7`, made unique among `taken` with the locator, then a number.
fn unique_name(interpreter: &Interpreter, taken: &[String]) -> String {
    let base = format!("{}-{}", interpreter.implementation, interpreter.version);
    let free = |n: &str| !taken.iter().any(|t| t == n);
    if free(&base) {
        return base;
    }
    if let Some(locator) = interpreter.locators.first() {
        let with_locator = format!("{base}-{}", locator.to_string().to_ascii_lowercase());
        if free(&with_locator) {
            return with_locator;
        }
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|n| free(n))
        .expect("an unbounded range has a free name")
}

fn record_matches(record: &RuntimeRecord, interpreter: &Interpreter) -> bool {
    record.real_path.as_deref() == Some(interpreter.real_path.as_path())
        || (record.real_path.is_none() && record.path == interpreter.real_path)
}

/// Records `discovery` in `registry`. See the module docs for the rules.
pub fn record_discovery(
    registry: &mut Registry,
    discovery: &Discovery,
    prune: bool,
    now: Timestamp,
) -> SyncReport {
    let mut report = SyncReport::default();
    let mut seen = vec![false; registry.runtimes.len()];

    for interpreter in discovery.interpreters.iter().filter(|i| !i.is_venv) {
        let status = status_of(interpreter);
        let unsupported: Vec<String> = interpreter.unsupported_reason.iter().cloned().collect();
        let found_by: Vec<String> = interpreter.locators.iter().map(|l| l.to_string()).collect();
        match registry
            .runtimes
            .iter()
            .position(|r| record_matches(r, interpreter))
        {
            Some(i) => {
                seen[i] = true;
                let record = &mut registry.runtimes[i];
                if record.status == Status::Missing {
                    report.returned.push(record.name.clone());
                }
                let before = record.clone();
                record.version.clone_from(&interpreter.version);
                record.implementation = Some(interpreter.implementation.clone());
                record.arch = Some(interpreter.arch.clone());
                record.real_path = Some(interpreter.real_path.clone());
                if !record.managed {
                    record.path.clone_from(&interpreter.path);
                    record.found_by = found_by;
                    record.warnings = unsupported;
                }
                record.status = status;
                if *record != before && before.status != Status::Missing {
                    report.updated.push(record.name.clone());
                }
            }
            None => {
                let taken: Vec<String> = registry.runtimes.iter().map(|r| r.name.clone()).collect();
                let name = unique_name(interpreter, &taken);
                report.added.push(name.clone());
                registry.runtimes.push(RuntimeRecord {
                    id: discovered_id(&interpreter.real_path),
                    name,
                    kind: RuntimeKind::System,
                    path: interpreter.path.clone(),
                    real_path: Some(interpreter.real_path.clone()),
                    version: interpreter.version.clone(),
                    implementation: Some(interpreter.implementation.clone()),
                    arch: Some(interpreter.arch.clone()),
                    root: None,
                    url: None,
                    sha256: None,
                    found_by,
                    managed: false,
                    owner: None,
                    spec_hash: None,
                    created_at: now,
                    last_applied_at: None,
                    status,
                    warnings: unsupported,
                    errors: Vec::new(),
                });
                seen.push(true);
            }
        }
    }

    for (record, seen) in registry.runtimes.iter_mut().zip(&seen) {
        if !seen && record.status != Status::Missing {
            // A managed runtime that vanished is missing too; `apply`
            // rebuilds it.
            record.status = Status::Missing;
            report.missing.push(record.name.clone());
        }
    }

    if prune {
        let default = registry.default_runtime.clone();
        registry.runtimes.retain(|r| {
            let forget = r.status == Status::Missing && !r.managed;
            if forget {
                report.pruned.push(r.name.clone());
            }
            !forget
        });
        if let Some(default) = default
            && report.pruned.contains(&default)
        {
            registry.default_runtime = None;
            report.default_cleared = Some(default);
        }
    }

    sort_runtimes(&mut registry.runtimes);
    report
}

/// Newest version first, then name: the order of `runtimes list`.
pub fn sort_runtimes(runtimes: &mut [RuntimeRecord]) {
    runtimes.sort_by(|a, b| {
        let va = Version::from_str(&a.version).ok();
        let vb = Version::from_str(&b.version).ok();
        vb.cmp(&va).then_with(|| a.name.cmp(&b.name))
    });
}

/// Why `runtimes default` could not set the default.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DefaultError {
    #[error("no runtime named `{name}` is registered")]
    #[diagnostic(code("runtimes::unknown"))]
    Unknown {
        name: String,
        #[help]
        help: Option<String>,
    },

    #[error("`{}` is not a usable interpreter: {reason}", path.display())]
    #[diagnostic(code("runtimes::not-an-interpreter"))]
    NotAnInterpreter { path: PathBuf, reason: String },

    #[error("`{name}` cannot be the default: {reason}")]
    #[diagnostic(
        code("runtimes::unusable"),
        help("pick a ready runtime from `beep-python runtimes list`")
    )]
    Unusable { name: String, reason: String },
}

/// Sets the default runtime to the one named `target`, or to the
/// interpreter at the path `target` (registering it if it is new). Returns
/// the default's name.
pub fn set_default(
    registry: &mut Registry,
    target: &str,
    now: Timestamp,
) -> Result<String, DefaultError> {
    let name = match registry.runtime(target) {
        Some(record) => record.name.clone(),
        None if looks_like_path(target) => {
            let path = Path::new(target);
            let real = fs_err::canonicalize(path).ok();
            let known = registry.runtimes.iter().find(|r| {
                r.path == path
                    || real
                        .as_deref()
                        .is_some_and(|real| r.real_path.as_deref() == Some(real) || r.path == real)
            });
            match known {
                Some(record) => record.name.clone(),
                None => {
                    let interpreter = discover::probe_one(path).map_err(|rejected| {
                        DefaultError::NotAnInterpreter {
                            path: path.to_path_buf(),
                            reason: rejected.reason,
                        }
                    })?;
                    if interpreter.is_venv {
                        return Err(DefaultError::NotAnInterpreter {
                            path: path.to_path_buf(),
                            reason: "it is a virtual environment's interpreter; give its base interpreter".into(),
                        });
                    }
                    let discovery = Discovery {
                        interpreters: vec![interpreter],
                        ..Discovery::default()
                    };
                    // Record just this one; leave the others' status alone.
                    let mut single = Registry {
                        runtimes: Vec::new(),
                        ..registry.clone()
                    };
                    record_discovery(&mut single, &discovery, false, now);
                    let mut record = single.runtimes.remove(0);
                    let taken: Vec<String> =
                        registry.runtimes.iter().map(|r| r.name.clone()).collect();
                    if taken.contains(&record.name) {
                        record.name = unique_name(&discovery.interpreters[0], &taken);
                    }
                    let name = record.name.clone();
                    registry.runtimes.push(record);
                    sort_runtimes(&mut registry.runtimes);
                    name
                }
            }
        }
        None => {
            let names: Vec<&str> = registry.runtimes.iter().map(|r| r.name.as_str()).collect();
            let help = suggestion(target, names.iter().copied()).or_else(|| {
                Some(if names.is_empty() {
                    "no runtimes are registered yet: run `beep-python runtimes discover`, or give the interpreter's path".to_string()
                } else {
                    "see `beep-python runtimes list` for the names, or give the interpreter's path".to_string()
                })
            });
            return Err(DefaultError::Unknown {
                name: target.to_string(),
                help,
            });
        }
    };
    let record = registry.runtime(&name).expect("found or added above");
    match record.status {
        Status::Ready => {}
        Status::Missing | Status::Error | Status::Tainted | Status::Unsupported => {
            let reason = match record.status {
                Status::Unsupported => record
                    .warnings
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "too old".into()),
                other => format!("it is {}", other.as_str()),
            };
            return Err(DefaultError::Unusable { name, reason });
        }
    }
    registry.default_runtime = Some(name.clone());
    Ok(name)
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.contains('\\') || Path::new(s).exists()
}

/// Why no interpreter on the machine fits a `source = "system"` runtime.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SystemRuntimeError {
    #[error("runtime `{name}`: no interpreter on this machine matches `{spec}`")]
    #[diagnostic(code("runtimes::no-match"))]
    NoMatch {
        name: String,
        spec: String,
        #[help]
        help: String,
    },

    #[error("runtime `{name}`: `{}` is not a usable interpreter: {reason}", path.display())]
    #[diagnostic(
        code("runtimes::bad-path"),
        help(
            "point `path` at a working Python 3.8+ interpreter, or use `version = \"...\"` to pick one"
        )
    )]
    BadPath {
        name: String,
        path: PathBuf,
        reason: String,
    },
}

/// The specifier a system runtime's `version` means: a specifier as
/// written, or a plain version as its release series (`3.11` is
/// `==3.11.*`, `3.11.7` is `==3.11.7`).
pub fn system_specifier(version: &str) -> Option<VersionSpecifiers> {
    let version = version.trim();
    if let Ok(v) = Version::from_str(version) {
        let text = if v.release().len() <= 2 {
            format!("=={version}.*")
        } else {
            format!("=={version}")
        };
        return VersionSpecifiers::from_str(&text).ok();
    }
    VersionSpecifiers::from_str(version).ok()
}

/// Chooses the interpreter for a `source = "system"` runtime: the one at
/// `path`, or the highest discovered one that satisfies `version`.
pub fn select_system(
    runtime: &Runtime,
    interpreters: &[Interpreter],
) -> Result<Interpreter, SystemRuntimeError> {
    debug_assert_eq!(runtime.source, RuntimeSource::System);
    let name = runtime.name.value.clone();
    let spec = runtime
        .version
        .as_ref()
        .and_then(|v| system_specifier(&v.value));
    if let Some(path) = &runtime.path {
        let path = PathBuf::from(&path.value);
        // Discovery (and its cache) already knows most interpreters; asking
        // it first keeps a no-op plan free of Python processes.
        let real = fs_err::canonicalize(&path).ok();
        let known = interpreters.iter().find(|i| {
            !i.is_venv && (Some(&i.real_path) == real.as_ref() || i.paths.contains(&path))
        });
        let interpreter = match known {
            Some(i) => i.clone(),
            None => discover::probe_one(&path).map_err(|r| SystemRuntimeError::BadPath {
                name: name.clone(),
                path: path.clone(),
                reason: r.reason,
            })?,
        };
        let problem = if !interpreter.supported {
            interpreter.unsupported_reason.clone()
        } else if let Some(spec) = &spec
            && !interpreter
                .parsed_version()
                .is_some_and(|v| spec.contains(&v))
        {
            Some(format!(
                "its version {} does not match `{spec}`",
                interpreter.version
            ))
        } else {
            None
        };
        return match problem {
            Some(reason) => Err(SystemRuntimeError::BadPath { name, path, reason }),
            None => Ok(interpreter),
        };
    }
    let spec = spec.unwrap_or_else(|| VersionSpecifiers::from_str(">=3.8").expect("valid"));
    if let Some(best) = discover::find_best(interpreters, &spec) {
        return Ok(best.clone());
    }
    let found: Vec<String> = interpreters
        .iter()
        .filter(|i| !i.is_venv)
        .map(|i| {
            format!(
                "{} {} (`{}`)",
                i.implementation,
                i.version,
                i.path.display()
            )
        })
        .collect();
    let help = format!(
        "{}; to download a matching interpreter instead, drop `source = \"system\"` and give a version such as `version = \"3.12\"`",
        if found.is_empty() {
            "no interpreters were found".to_string()
        } else {
            format!("found: {}", found.join(", "))
        }
    );
    Err(SystemRuntimeError::NoMatch {
        name,
        spec: spec.to_string(),
        help,
    })
}
