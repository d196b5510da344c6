//! Checks of the registered runtimes: there, runnable (deep), complete
//! (deep), their shared libraries, the default.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use super::{Finding, Remedy, Scan, Severity, elf, finding};
use crate::plan::{HomeAction, HomeChange, Reason};
use crate::provision::REQUIRED_MODULES;
use crate::registry::model::{RuntimeRecord, Status};

/// What running an interpreter once told.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(super) struct Probe {
    pub version: String,
    pub implementation: String,
    /// `module: why` for each of [`REQUIRED_MODULES`] that did not import.
    pub failed: Vec<String>,
}

const PROBE_SCRIPT: &str = r#"
import importlib, json, sys
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append("%s: %s" % (name, e))
print(json.dumps({"version": "%d.%d.%d" % sys.version_info[:3],
                  "implementation": sys.implementation.name, "failed": failed}))
"#;

const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

impl Scan<'_> {
    /// Runs `interpreter` once (isolated, no bytecode written), remembered
    /// for the run: `runtime-runs`, `runtime-modules` and `env-version`
    /// share it.
    pub(super) fn probe(&self, interpreter: &Path) -> Result<Probe, String> {
        let key = fs_err::canonicalize(interpreter).unwrap_or_else(|_| interpreter.to_path_buf());
        if let Some(known) = self
            .probes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return known.clone();
        }
        self.started(1);
        let result = run_probe(interpreter);
        self.probes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, result.clone());
        result
    }
}

fn run_probe(interpreter: &Path) -> Result<Probe, String> {
    let mut command = Command::new(interpreter);
    command
        .args(["-I", "-B", "-c", PROBE_SCRIPT])
        .args(REQUIRED_MODULES)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH");
    crate::process::prepare(&mut command);
    let ran = crate::process::output(&mut command, None, Some(Instant::now() + PROBE_TIMEOUT))
        .map_err(|e| format!("it could not be started ({e})"))?;
    let out = match ran {
        crate::process::Ran::Exited(out) => out,
        crate::process::Ran::TimedOut => {
            return Err(format!(
                "it did not answer within {}s",
                PROBE_TIMEOUT.as_secs()
            ));
        }
        crate::process::Ran::Cancelled => return Err("interrupted".into()),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        return Err(format!(
            "{}{}{last}",
            crate::process::describe(out.status),
            if last.is_empty() { "" } else { ": " }
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .map_err(|_| format!("it printed something unexpected: {}", text.trim()))
}

fn address(record: &RuntimeRecord) -> String {
    format!("runtime.{}", record.name)
}

/// Whether `path` is a file with an execute bit (any file elsewhere).
fn executable(path: &Path) -> Result<(), String> {
    let meta = fs_err::metadata(path).map_err(|_| "it is gone".to_string())?;
    if !meta.is_file() {
        return Err("it is not a file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o111 == 0 {
            return Err(format!("it is not executable (mode {:o})", mode & 0o7777));
        }
    }
    Ok(())
}

/// The runtimes to look at: each record once per real interpreter.
fn records<'a>(scan: &Scan<'a>) -> Vec<&'a RuntimeRecord> {
    scan.registry()
        .map(|r| r.runtimes.iter().collect())
        .unwrap_or_default()
}

pub(super) fn exists(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let all = records(scan);
    for record in &all {
        let Err(problem) = executable(&record.path) else {
            continue;
        };
        let gone = problem == "it is gone";
        if !gone {
            out.push(
                finding(
                    "runtime-exists",
                    Severity::Error,
                    address(record),
                    format!("the interpreter {problem}"),
                )
                .at(&record.path)
                .action("make it executable again (`chmod +x`), or reinstall it with the tool that installed it")
                .command(format!("chmod +x {}", record.path.display())),
            );
            continue;
        }
        if record.managed {
            let f = finding(
                "runtime-exists",
                Severity::Error,
                address(record),
                "the interpreter of this managed runtime is gone",
            )
            .at(&record.path);
            let declared = scan
                .manifest
                .and_then(|m| m.change(&address(record)))
                .is_some();
            out.push(if scan.is_ours(record.owner.as_deref()) && declared {
                f.action("provision it again (the plan does)")
                    .fix(Remedy::Plan {
                        address: address(record),
                    })
            } else {
                f.action("provision it again with the manifest that declares it")
                    .command(scan.command_for(record.owner.as_deref(), "apply"))
            });
            continue;
        }
        // A discovered interpreter that went away: maybe it moved.
        let elsewhere = all.iter().find(|other| {
            !std::ptr::eq(**other, *record)
                && other.version == record.version
                && other.implementation == record.implementation
                && executable(&other.path).is_ok()
        });
        let moved = elsewhere.map_or(String::new(), |o| {
            format!(
                "; the same Python ({} {}) is registered at `{}`: it may have moved",
                o.implementation.as_deref().unwrap_or("cpython"),
                o.version,
                o.path.display()
            )
        });
        let users = users(scan, record);
        let used = if users.is_empty() {
            String::new()
        } else {
            format!("; used by {}", users.join(", "))
        };
        out.push(
            finding(
                "runtime-exists",
                Severity::Warning,
                address(record),
                format!(
                    "this discovered interpreter is gone{moved}{used}"
                ),
            )
            .at(&record.path)
            .action("prune its record (`runtimes discover` would find it again if it comes back; environments on it are checked by env-base-interpreter)")
            .fix(Remedy::Home(HomeChange {
                action: HomeAction::PruneRuntime {
                    name: record.name.clone(),
                    path: record.path.clone(),
                },
                reasons: vec![Reason::FolderVanished],
            })),
        );
    }
    out
}

/// The environments recorded on `record`'s interpreter.
fn users(scan: &Scan<'_>, record: &RuntimeRecord) -> Vec<String> {
    let real = record.real_path.as_deref().unwrap_or(&record.path);
    scan.environments
        .iter()
        .filter(|e| {
            e.record
                .and_then(|r| r.interpreter.as_deref())
                .is_some_and(|i| i == real || i == record.path)
        })
        .map(|e| format!("`{}`", e.address()))
        .collect()
}

/// Runtimes that exist, once per real interpreter.
fn present<'a>(scan: &Scan<'a>) -> Vec<(&'a RuntimeRecord, PathBuf)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for record in records(scan) {
        if executable(&record.path).is_err() || record.status == Status::Unsupported {
            continue;
        }
        let real = fs_err::canonicalize(&record.path).unwrap_or_else(|_| record.path.clone());
        if seen.insert(real.clone()) {
            out.push((record, real));
        }
    }
    out
}

pub(super) fn runs(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (record, real) in present(scan) {
        match scan.probe(&real) {
            Err(reason) => out.push(
                finding(
                    "runtime-runs",
                    Severity::Error,
                    address(record),
                    format!("the interpreter does not run: {reason}"),
                )
                .at(&record.path)
                .action("reinstall it with the tool that installed it (for a managed runtime, `apply --replace runtime.NAME` in its manifest)"),
            ),
            Ok(probe) if !same_release(&probe.version, &record.version) => out.push(
                finding(
                    "runtime-runs",
                    Severity::Warning,
                    address(record),
                    format!(
                        "it reports Python {}, but {} is recorded: it was upgraded or replaced in place",
                        probe.version, record.version
                    ),
                )
                .at(&record.path)
                .action("record what it is now; environments built on it are rebuilt by their manifest's next `apply`")
                .command("beep-python runtimes discover"),
            ),
            Ok(_) => {}
        }
    }
    out
}

pub(super) fn modules(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (record, real) in present(scan) {
        let Ok(probe) = scan.probe(&real) else {
            continue; // runtime-runs says why
        };
        if probe.failed.is_empty() {
            continue;
        }
        out.push(
            finding(
                "runtime-modules",
                Severity::Error,
                address(record),
                format!("standard modules do not import: {}", probe.failed.join("; ")),
            )
            .at(&record.path)
            .action("install the system libraries they need (`doctor runtime-libraries` names them), or reinstall the runtime"),
        );
    }
    out
}

/// `3.11.2` equals `3.11.2rc1`'s release and `3.11.2`.
fn same_release(a: &str, b: &str) -> bool {
    let release = |v: &str| -> Vec<String> {
        v.split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()
            .unwrap_or("")
            .split('.')
            .take(3)
            .map(str::to_string)
            .collect()
    };
    release(a) == release(b)
}

/// The `lib-dynload` folder of an interpreter whose real path is `real`
/// (on Windows, the `DLLs` folder next to `python.exe`).
fn lib_dynload(real: &Path, version: &str) -> Option<PathBuf> {
    if cfg!(windows) {
        let dir = real.parent()?.join("DLLs");
        return dir.is_dir().then_some(dir);
    }
    let base = crate::venv::base_layout(
        crate::venv::Platform::CURRENT,
        real,
        &crate::venv::short_version(version),
    );
    let dir = base.stdlib.join("lib-dynload");
    dir.is_dir().then_some(dir)
}

/// The extension modules in `dir` (not below it), sorted.
fn shared_objects(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| super::is_extension_module(p))
        .collect();
    out.sort();
    out
}

pub(super) fn libraries(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (record, real) in present(scan) {
        let Some(libraries) = scan.libraries_of(&real) else {
            return vec![not_read("runtime-libraries")];
        };
        let mut objects = vec![real.clone()];
        if let Some(dir) = lib_dynload(&real, &record.version) {
            objects.extend(shared_objects(&dir));
        }
        for object in objects {
            let as_executable = object == real;
            for m in scan.missing_libraries(&object, &libraries, as_executable) {
                out.push(library_finding(scan, record, &object, &m));
            }
        }
    }
    out
}

fn library_finding(
    scan: &Scan<'_>,
    record: &RuntimeRecord,
    object: &Path,
    missing: &elf::Missing,
) -> Finding {
    let module = object
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.split('.').next().unwrap_or(n).to_string())
        .unwrap_or_default();
    let through = if missing.needed_by == object {
        String::new()
    } else {
        format!(" (through `{}`)", missing.needed_by.display())
    };
    let f = finding(
        "runtime-libraries",
        Severity::Error,
        address(record),
        format!(
            "`{}` needs `{}`{through}, which the loader does not find (searched {})",
            object.display(),
            missing.library,
            searched(&missing.searched)
        ),
    )
    .at(object);
    // A library the runtime ships itself (found through its RPATH inside
    // its own folder) comes back with a reinstall.
    let shipped = record.managed
        && record.root.as_ref().is_some_and(|root| {
            missing
                .searched
                .first()
                .is_some_and(|d| d.starts_with(root))
        });
    if shipped && scan.is_ours(record.owner.as_deref()) {
        return f
            .action("reinstall the runtime: the library is one it ships")
            .fix(Remedy::Reinstall {
                runtime: record.name.clone(),
                reason: Reason::Broken {
                    what: format!("`{}` is missing", missing.library),
                },
            });
    }
    let import = if module.is_empty() || module.starts_with("python") {
        "the interpreter does not start".to_string()
    } else {
        format!("`import {module}` fails")
    };
    f.action(format!(
        "{}; until then {import}",
        super::install_hint(&missing.library)
    ))
}

/// `/a, /b and 3 more`.
pub(super) fn searched(dirs: &[PathBuf]) -> String {
    let shown: Vec<String> = dirs
        .iter()
        .take(4)
        .map(|d| format!("`{}`", d.display()))
        .collect();
    match dirs.len() {
        0 => "nowhere it could be".into(),
        n if n > 4 => format!("{} and {} more", shown.join(", "), n - 4),
        _ => shown.join(", "),
    }
}

/// The note of a libraries check on an OS whose binaries are not read.
pub(super) fn not_read(check: &'static str) -> Finding {
    finding(
        check,
        Severity::Info,
        "home",
        format!(
            "not checked on {}: shared libraries are read from ELF (Linux), Mach-O (macOS) and PE (Windows) headers only",
            std::env::consts::OS
        ),
    )
    .action("nothing to do")
}

pub(super) fn files(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let cache = crate::fetch::Cache::new(scan.home.cache_dir().join("downloads"));
    for record in records(scan).into_iter().filter(|r| r.managed) {
        let (Some(root), Some(sha256)) = (&record.root, &record.sha256) else {
            continue;
        };
        if !root.is_dir() {
            continue; // registry-references or runtime-exists says so
        }
        let Some(archive) = cache.get(sha256) else {
            out.push(
                finding(
                    "runtime-files",
                    Severity::Info,
                    address(record),
                    "not compared: the archive it was unpacked from is no longer in the download cache",
                )
                .at(root)
                .action("nothing to do (the next provisioning of it downloads it again)"),
            );
            continue;
        };
        match super::archive::compare(&archive, root) {
            Err(reason) => out.push(
                finding(
                    "runtime-files",
                    Severity::Info,
                    address(record),
                    format!("not compared: {reason}"),
                )
                .at(root)
                .action("nothing to do"),
            ),
            Ok(diff) if diff.is_empty() => {}
            Ok(diff) => {
                let f = finding(
                    "runtime-files",
                    Severity::Error,
                    address(record),
                    format!("its files differ from its archive: {diff}"),
                )
                .at(root);
                out.push(if scan.is_ours(record.owner.as_deref()) {
                    f.action("reinstall it from the verified archive")
                        .fix(Remedy::Reinstall {
                            runtime: record.name.clone(),
                            reason: Reason::Broken {
                                what: format!("its files differ from its archive ({diff})"),
                            },
                        })
                } else {
                    f.action("reinstall it from its manifest")
                        .command(scan.command_for(
                            record.owner.as_deref(),
                            &format!("apply --replace runtime.{}", record.name),
                        ))
                });
            }
        }
    }
    out
}

/// The replacement policy for a missing default runtime: the newest ready
/// runtime of the same minor version, else the newest supported one.
/// Returns it with why.
pub(super) fn replacement<'a>(
    missing: &RuntimeRecord,
    candidates: &'a [RuntimeRecord],
) -> Option<(&'a RuntimeRecord, String)> {
    let usable: Vec<&RuntimeRecord> = candidates
        .iter()
        .filter(|r| r.name != missing.name && r.status == Status::Ready)
        .filter(|r| executable(&r.path).is_ok())
        .collect();
    let version = |r: &RuntimeRecord| pep440_rs::Version::from_str(&r.version).ok();
    let minor = crate::venv::major_minor(&missing.version);
    let newest = |rs: Vec<&'a RuntimeRecord>| rs.into_iter().max_by_key(|r| version(r));
    let same_minor: Vec<&RuntimeRecord> = usable
        .iter()
        .copied()
        .filter(|r| minor.is_some() && crate::venv::major_minor(&r.version) == minor)
        .collect();
    if let Some(r) = newest(same_minor) {
        return Some((
            r,
            format!(
                "`{}` ({}) is the newest ready runtime of the same minor version {}, so what used the default keeps its ABI",
                r.name,
                r.version,
                crate::venv::short_version(&missing.version)
            ),
        ));
    }
    newest(usable).map(|r| {
        (
            r,
            format!(
                "no ready runtime has the same minor version {}; `{}` ({}) is the newest supported one",
                crate::venv::short_version(&missing.version),
                r.name,
                r.version
            ),
        )
    })
}

pub(super) fn default(scan: &Scan<'_>) -> Vec<Finding> {
    let Some(registry) = scan.registry() else {
        return Vec::new();
    };
    let Some(name) = &registry.default_runtime else {
        return Vec::new();
    };
    let path = scan.home.registry_path();
    let record = registry.runtime(name);
    let problem = match record {
        None => "it is not registered".to_string(),
        Some(r) => match executable(&r.path) {
            Err(p) => format!("its interpreter `{}`: {p}", r.path.display()),
            Ok(()) if r.status != Status::Ready => format!("it is {}", r.status.as_str()),
            Ok(()) => return Vec::new(),
        },
    };
    let f = finding(
        "runtime-default",
        Severity::Warning,
        format!("runtime.{name}"),
        format!("the default runtime `{name}` is missing: {problem}"),
    )
    .at(&path);
    // A record that is gone altogether leaves no version to match.
    let unknown;
    let missing = match record {
        Some(r) => r,
        None => {
            unknown = blank(name);
            &unknown
        }
    };
    match replacement(missing, &registry.runtimes) {
        Some((to, why)) => vec![
            f.action(format!("make `{}` the default: {why}", to.name))
                .fix(Remedy::Home(HomeChange {
                    action: HomeAction::ReplaceDefault {
                        from: name.clone(),
                        to: to.name.clone(),
                    },
                    reasons: vec![Reason::DefaultRuntimeMissing {
                        name: name.clone(),
                        why,
                    }],
                })),
        ],
        None => vec![
            f.action("no other ready runtime is registered: find the interpreters on this machine, then pick one")
                .command("beep-python runtimes discover && beep-python runtimes list"),
        ],
    }
}

fn blank(name: &str) -> RuntimeRecord {
    RuntimeRecord {
        id: String::new(),
        name: name.to_string(),
        kind: crate::registry::model::RuntimeKind::System,
        path: PathBuf::new(),
        real_path: None,
        version: String::new(),
        implementation: None,
        arch: None,
        root: None,
        url: None,
        sha256: None,
        found_by: Vec::new(),
        managed: false,
        owner: None,
        spec_hash: None,
        created_at: jiff::Timestamp::UNIX_EPOCH,
        last_applied_at: None,
        status: Status::Missing,
        warnings: Vec::new(),
        errors: Vec::new(),
    }
}
