//! Checks of the home itself: the registry and its backups, what an
//! interrupted apply left, our debris, the cache, the lock's note.

use std::path::{Path, PathBuf};

use super::{Finding, RegistryState, Remedy, Scan, Severity, finding};
use crate::exec::journal::Inspection;
use crate::exec::sweep::{self, Debris};
use crate::plan::{HomeAction, HomeChange, Reason};
use crate::registry::model::Registry;
use crate::registry::{Holder, Home};

/// Whether another process is applying in this home: the lock's holder
/// note or the journal names a live process that is not this one. `None`
/// when nothing runs.
pub(super) fn apply_running(home: &Home, inspection: &Inspection) -> Option<String> {
    let me = std::process::id();
    if let Some(holder) = holder(home)
        && holder.pid != me
        && alive(holder.pid)
    {
        return Some(holder.to_string());
    }
    if let Some(Ok(journal)) = &inspection.journal
        && journal.pid != me
        && alive(journal.pid)
    {
        return Some(format!("pid {} (`{}`)", journal.pid, journal.command));
    }
    None
}

/// The holder note in `<home>/.lock`, if any.
fn holder(home: &Home) -> Option<Holder> {
    let text = fs_err::read_to_string(home.lock_path()).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether process `pid` exists (a zombie counts as gone).
pub(super) fn alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        match fs_err::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => false,
            Ok(stat) => !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

pub(super) fn registry_readable(scan: &Scan<'_>) -> Vec<Finding> {
    let path = scan.home.registry_path();
    match scan.registry {
        RegistryState::Unreadable { error } => vec![
            finding("registry-readable", Severity::Critical, "home", error.clone())
                .at(&path)
                .action(
                    "no backup of it is valid, so it cannot be restored; move it aside to start with an empty registry, then run `beep-python runtimes discover` and `beep-python apply` in each project (environments on disk are adopted again)",
                )
                .command(format!("mv {0} {0}.bad", path.display())),
        ],
        RegistryState::Loaded {
            recovered_from: Some(backup),
            problem,
            ..
        } => {
            let reason = problem.clone().unwrap_or_default();
            vec![
                finding(
                    "registry-readable",
                    Severity::Error,
                    "home",
                    format!(
                        "{reason}; every command reads the backup until the registry is written again"
                    ),
                )
                .at(&path)
                .action(format!(
                    "restore it from `{}`, the newest valid backup (the unreadable file is kept in `backups/`)",
                    backup.display()
                ))
                .fix(Remedy::Home(HomeChange {
                    action: HomeAction::RestoreRegistry {
                        from: backup.clone(),
                    },
                    reasons: vec![Reason::RegistryUnreadable { reason }],
                })),
            ]
        }
        RegistryState::Loaded { .. } => Vec::new(),
    }
}

pub(super) fn registry_backups(scan: &Scan<'_>) -> Vec<Finding> {
    let dir = scan.home.backups_dir();
    let Ok(entries) = fs_err::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut valid = 0;
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    for file in files {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with("registry.corrupt-") {
            out.push(
                finding(
                    "registry-backups",
                    Severity::Info,
                    "home",
                    "an unreadable `registry.json`, kept as evidence when it was replaced",
                )
                .at(&file)
                .action(
                    "nothing to do; remove it once you no longer need it (recovery never uses it)",
                ),
            );
            continue;
        }
        let numbered = name
            .strip_prefix("registry.")
            .and_then(|n| n.strip_suffix(".json"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !numbered {
            continue;
        }
        match read_registry(&file) {
            Ok(_) => valid += 1,
            Err(reason) => out.push(
                finding(
                    "registry-backups",
                    Severity::Warning,
                    "home",
                    format!("the backup is unreadable ({reason}); recovery skips it"),
                )
                .at(&file)
                .action("remove it; the other backups are used instead")
                .command(format!("rm {}", file.display())),
            ),
        }
    }
    let serial = match scan.registry {
        RegistryState::Loaded { registry, .. } => registry.serial,
        RegistryState::Unreadable { .. } => 0,
    };
    if valid == 0 && serial > 1 {
        out.push(
            finding(
                "registry-backups",
                Severity::Warning,
                "home",
                "`registry.json` has no valid backup: if it were damaged, nothing could restore it",
            )
            .at(&dir)
            .action("the next command that changes the registry keeps a backup of it; make sure `backups/` is writable"),
        );
    }
    out
}

/// A registry file, read as `store` does: JSON with a known version.
fn read_registry(path: &Path) -> Result<Registry, String> {
    let bytes = fs_err::read(path).map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if (1..=u64::from(crate::registry::REGISTRY_VERSION)).contains(&v) => {}
        Some(v) => return Err(format!("format version {v}")),
        None => return Err("no `version` field".into()),
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

pub(super) fn registry_references(scan: &Scan<'_>) -> Vec<Finding> {
    let Some(registry) = scan.registry() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for record in &registry.environments {
        // This manifest's own records are the plan's: it rebuilds what is
        // declared and deletes what is not.
        if scan.is_ours(record.owner.as_deref()) || present(&record.path) {
            continue;
        }
        let owner = record
            .owner
            .as_ref()
            .map_or("no manifest".to_string(), |o| format!("`{}`", o.display()));
        out.push(
            finding(
                "registry-references",
                Severity::Warning,
                format!("env.{}", record.name),
                format!(
                    "its folder is gone; the record (of {owner}) still names it"
                ),
            )
            .at(&record.path)
            .action("prune the record (its manifest's next `apply` builds it again if it still declares it)")
            .fix(Remedy::Home(HomeChange {
                action: HomeAction::PruneEnvironment {
                    name: record.name.clone(),
                    owner: record.owner.clone(),
                    path: record.path.clone(),
                },
                reasons: vec![Reason::FolderVanished],
            })),
        );
    }
    for record in registry.runtimes.iter().filter(|r| r.managed) {
        let Some(root) = &record.root else {
            continue;
        };
        if scan.is_ours(record.owner.as_deref()) || present(root) {
            continue;
        }
        out.push(
            finding(
                "registry-references",
                Severity::Warning,
                format!("runtime.{}", record.name),
                "the folder of this managed runtime is gone; the record still names it",
            )
            .at(root)
            .action("prune the record (its manifest's next `apply` provisions it again if it still declares it)")
            .fix(Remedy::Home(HomeChange {
                action: HomeAction::PruneRuntime {
                    name: record.name.clone(),
                    path: root.clone(),
                },
                reasons: vec![Reason::FolderVanished],
            })),
        );
    }
    out
}

fn present(path: &Path) -> bool {
    fs_err::symlink_metadata(path).is_ok()
}

pub(super) fn journal(scan: &Scan<'_>) -> Vec<Finding> {
    let path = scan.home.root().join("journal.json");
    match &scan.inspection.journal {
        None => Vec::new(),
        Some(Err(reason)) => vec![
            finding(
                "journal",
                Severity::Error,
                "home",
                format!("an interrupted apply left a journal that cannot be read: {reason}"),
            )
            .at(&path)
            .action("it cannot be undone automatically: set it aside (nothing is deleted; the paths it names are listed) and look for `*.beep-old-*` folders next to your environments")
            .command("beep-python recover --abandon"),
        ],
        Some(Ok(j)) if scan.apply_running.is_some() && super::home::alive(j.pid) => vec![
            finding(
                "journal",
                Severity::Info,
                "home",
                format!(
                    "an apply is in progress (pid {}, `{}`, started {})",
                    j.pid, j.command, j.started_at
                ),
            )
            .at(&path)
            .action("nothing to do; this report shows the last committed state"),
        ],
        Some(Ok(j)) => {
            let side = if j.committing {
                "it had committed; its clean-up is finished"
            } else {
                "its changes are rolled back"
            };
            vec![
                finding(
                    "journal",
                    Severity::Error,
                    "home",
                    format!(
                        "an apply was interrupted (pid {}, `{}`, started {}) with {} change{} journaled: {}",
                        j.pid,
                        j.command,
                        j.started_at,
                        j.entries.len(),
                        if j.entries.len() == 1 { "" } else { "s" },
                        j.entries.join("; ")
                    ),
                )
                .at(&path)
                .action(format!(
                    "recover it: {side} (any mutating command does this first; `beep-python recover` does only this)"
                ))
                .fix(Remedy::Recover),
            ]
        }
    }
}

pub(super) fn stuck(scan: &Scan<'_>) -> Vec<Finding> {
    scan.inspection
        .stuck
        .iter()
        .map(|(file, leftover)| {
            let paths: Vec<String> = leftover
                .paths
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect();
            let f = finding(
                "stuck",
                Severity::Warning,
                "home",
                format!(
                    "an earlier rollback could not {}: {} (paths: {})",
                    leftover.what,
                    leftover.why,
                    paths.join(", ")
                ),
            )
            .at(file);
            if leftover.retried {
                f.action("retry it once the path is free (each mutating command retries; if it cannot succeed, `beep-python recover --abandon` forgets it, deleting nothing)")
                    .fix(Remedy::Recover)
            } else {
                f.action("look at the file, then forget it").command("beep-python recover --abandon")
            }
        })
        .collect()
}

pub(super) fn debris(scan: &Scan<'_>) -> Vec<Finding> {
    if let Some(who) = &scan.apply_running {
        return vec![
            finding(
                "debris",
                Severity::Info,
                "home",
                format!("not judged: an apply is running ({who}), and its staging folders and asides are in use"),
            )
            .action("run `beep-python doctor debris` again once it has finished"),
        ];
    }
    let mut out = Vec::new();
    for (path, kind) in find_debris(scan) {
        let what = kind.describe();
        out.push(
            finding("debris", Severity::Warning, "home", what)
                .at(&path)
                .action("remove it: it is ours, and nothing refers to it")
                .fix(Remedy::Home(HomeChange {
                    action: HomeAction::Sweep { path: path.clone() },
                    reasons: vec![Reason::Debris {
                        what: what.to_string(),
                    }],
                })),
        );
    }
    for path in unproven_asides(scan) {
        out.push(
            finding(
                "debris",
                Severity::Info,
                "home",
                "looks like an aside, but carries no beep-python marker, so it is not proven ours",
            )
            .at(&path)
            .action("left alone: look at it and remove it yourself if you no longer need it"),
        );
    }
    out
}

/// Every folder that can hold debris: the runtimes folder, the home, the
/// reports, and each recorded environment's folder, its `bin/` and the
/// folder it is in (where its asides go).
fn places(scan: &Scan<'_>) -> Vec<PathBuf> {
    let home = scan.home;
    let mut dirs = vec![
        home.root().to_path_buf(),
        home.runtimes_dir(),
        home.root().join("health-reports"),
    ];
    let mut roots: Vec<PathBuf> = scan.environments.iter().map(|e| e.path.clone()).collect();
    if let Some(registry) = scan.registry() {
        roots.extend(registry.runtimes.iter().filter_map(|r| r.root.clone()));
    }
    for root in roots {
        if let Some(parent) = root.parent() {
            dirs.push(parent.to_path_buf());
        }
        dirs.push(root.join("bin"));
        dirs.push(root);
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

fn find_debris(scan: &Scan<'_>) -> Vec<(PathBuf, Debris)> {
    let named = &scan.inspection.named;
    let mut out = Vec::new();
    for dir in places(scan) {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if let Some(kind) = sweep::classify(&path, scan.home, named) {
                out.push((path, kind));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Folders named like asides next to our environments that nothing proves
/// ours (no marker) and no journal names.
fn unproven_asides(scan: &Scan<'_>) -> Vec<PathBuf> {
    let named = &scan.inspection.named;
    let mut out = Vec::new();
    for env in &scan.environments {
        let (Some(parent), Some(base)) = (env.path.parent(), env.path.file_name()) else {
            continue;
        };
        let prefix = format!("{}.beep-old-", base.to_string_lossy());
        let Ok(entries) = fs_err::read_dir(parent) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix)
                && sweep::is_aside_name(&name)
                && !named.contains(&path)
                && sweep::classify(&path, scan.home, named).is_none()
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

pub(super) fn cache_size(scan: &Scan<'_>) -> Vec<Finding> {
    let cache = scan.home.cache_dir();
    if !cache.is_dir() {
        return Vec::new();
    }
    let mut parts: Vec<(String, u64)> = Vec::new();
    let mut total = 0;
    if let Ok(entries) = fs_err::read_dir(&cache) {
        for entry in entries.filter_map(Result::ok) {
            let size = tree_size(&entry.path());
            total += size;
            parts.push((entry.file_name().to_string_lossy().into_owned(), size));
        }
    }
    parts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let detail: Vec<String> = parts
        .iter()
        .map(|(name, size)| format!("{name} {}", human_size(*size)))
        .collect();
    vec![
        finding(
            "cache-size",
            Severity::Info,
            "home",
            format!("the cache holds {} ({})", human_size(total), detail.join(", ")),
        )
        .at(&cache)
        .action(format!(
            "nothing to do; to reclaim space remove `{}` and `{}` (downloaded and unpacked again when needed, but offline applies need the downloads; files that environments link to are freed only with them)",
            cache.join("downloads").display(),
            cache.join("unpacked").display()
        )),
    ]
}

/// Bytes in a tree (links not followed; hard links counted each time).
fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs_err::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(_) => total += entry.metadata().map_or(0, |m| m.len()),
                Err(_) => {}
            }
        }
    }
    total
}

/// `1.4 GiB`, `320 KiB`, `12 B`.
pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub(super) fn lock_holder(scan: &Scan<'_>) -> Vec<Finding> {
    let Some(holder) = holder(scan.home) else {
        return Vec::new();
    };
    if holder.pid == std::process::id() {
        return Vec::new();
    }
    let path = scan.home.lock_path();
    if alive(holder.pid) {
        return vec![
            finding(
                "lock-holder",
                Severity::Info,
                "home",
                format!("the home lock is held by {holder}"),
            )
            .at(&path)
            .action("nothing to do; mutating commands wait for it (`--lock-timeout`) or say who holds it"),
        ];
    }
    vec![
        finding(
            "lock-holder",
            Severity::Info,
            "home",
            format!(
                "the lock file names {holder}, which is no longer running: a stale note"
            ),
        )
        .at(&path)
        .action("nothing to do: the lock is an OS file lock, which died with that process, so nothing is blocked; the next command's note replaces it"),
    ]
}
