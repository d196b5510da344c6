//! Checks of the files packages installed: missing or altered (with the
//! package that owns them), and files nobody owns. [`crate::inventory`]
//! does the comparing; `__pycache__` is never damage.
//!
//! An environment's stored inventory is the reference: by default
//! existence, size and modification time ([`inventory::check_cheap`]), with
//! `--deep` every file hashed ([`inventory::check_full`]). An environment
//! without one (built before the inventory was written) is compared with
//! its packages' `RECORD`s instead, which hold each file's size and sha256
//! but no time: by default existence and size, with `--deep` the hashes.

use std::path::Path;

use super::{EnvView, Finding, Remedy, Scan, Severity, finding};
use crate::inventory::{self, Damage, DamageKind, Inventory};
use crate::plan::Reason;
use crate::wheel::{self, record};

/// Damage against the packages' `RECORD`s (see the module docs).
fn record_damage(env: &Path, site: &Path, deep: bool) -> Vec<Damage> {
    let mut out = Vec::new();
    for dist in wheel::installed(site).into_iter().filter(|d| d.complete) {
        let Ok(text) = fs_err::read_to_string(dist.dist_info.join("RECORD")) else {
            continue;
        };
        for line in record::parse(&text) {
            let Some(path) = record::resolve(site, &line.path) else {
                continue;
            };
            let Ok(rel) = path.strip_prefix(env) else {
                continue; // outside the environment: not ours to judge
            };
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if rel.split('/').any(|c| c == "__pycache__") || rel.ends_with(".pyc") {
                continue;
            }
            let kind = match fs_err::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(DamageKind::Missing),
                Err(_) => Some(DamageKind::Unreadable),
                Ok(meta) if meta.is_dir() => None,
                Ok(meta) if line.size.is_some_and(|s| s != meta.len()) => Some(DamageKind::Size),
                Ok(_) if deep => match line.hash.as_deref().and_then(record::record_hash_to_hex) {
                    Some(want) => match sha256_hex(&path) {
                        Ok(found) if found == want => None,
                        Ok(_) => Some(DamageKind::Content),
                        Err(_) => Some(DamageKind::Unreadable),
                    },
                    None => None,
                },
                Ok(_) => None,
            };
            if let Some(kind) = kind {
                out.push(Damage {
                    package: dist.name.clone(),
                    path: rel,
                    kind,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.package, &a.path).cmp(&(&b.package, &b.path)));
    out
}

fn sha256_hex(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(record::hex(&hasher.finalize()))
}

pub(super) fn files(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in scan.environments.iter().filter(|e| e.observed.is_venv) {
        let Some(site) = super::environments::site_packages(env) else {
            continue;
        };
        // Whether anything is damaged, and which files, is the
        // observation's verdict (the plan's, where it looked: it kept the
        // files it found; else the same comparison, made once).
        let (damage, against) = match env.damage(scan.depth()) {
            Some(packages) if packages.is_empty() => continue,
            Some(_) => match env.damaged_files(scan.depth()) {
                Some(files) => (
                    files.to_vec(),
                    if scan.deep {
                        "its inventory, hashed"
                    } else {
                        "its inventory"
                    },
                ),
                None => continue, // the same comparison: unreachable
            },
            None => (
                record_damage(&env.path, &site, scan.deep),
                if scan.deep {
                    "its packages' RECORD, hashed"
                } else {
                    "its packages' RECORD"
                },
            ),
        };
        if damage.is_empty() {
            continue;
        }
        for p in inventory::by_package(&damage) {
            let mine: Vec<&Damage> = damage.iter().filter(|d| d.package == p.package).collect();
            // Only times differ: the contents may be the same.
            let touched_only = mine.iter().all(|d| d.kind == DamageKind::Modified);
            let shown: Vec<String> = mine
                .iter()
                .take(3)
                .map(|d| format!("{} ({})", d.path, describe(d.kind)))
                .collect();
            let more = mine.len().saturating_sub(3);
            let counts = p
                .to_string()
                .split_once(": ")
                .map_or(String::new(), |(_, s)| s.to_string());
            let f = finding(
                "env-files",
                if touched_only {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                env.address(),
                format!(
                    "package `{}`: {counts} against {against}: {}{}",
                    p.package,
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            )
            .at(&site);
            let f = if touched_only {
                f.action(format!(
                    "`beep-python doctor --deep env-files` compares their contents; `--fix` reinstalls `{}` (as `apply` does)",
                    p.package
                ))
            } else {
                f.action(format!("reinstall `{}`", p.package))
            };
            // The same reinstall the plan makes of its own observation
            // (`plan::diff` on `Observation::damage`): the two merge.
            let f = match super::environments::reinstall(env, &p.package) {
                Some(packages) => super::environments::rebuild(
                    scan,
                    env,
                    f,
                    Remedy::Update {
                        env: env.name.clone(),
                        reason: Reason::FilesDamaged {
                            package: p.package.clone(),
                            missing: p.missing,
                            changed: p.changed,
                        },
                        packages,
                    },
                ),
                None => f,
            };
            out.push(f);
        }
    }
    out
}

/// What no distribution owns at the top of `site-packages` (a file, or a
/// folder nothing owned is in) and in `bin/`: the fast form of
/// [`inventory::untracked`], which walks every folder (`--deep`). A
/// package copied in by hand or a stray file at the top is found; a file
/// dropped inside an installed package's folder is found with `--deep`.
fn untracked_at_top(env: &EnvView<'_>, owned: &Inventory) -> Vec<String> {
    let Some(site) = super::environments::site_packages(env) else {
        return Vec::new();
    };
    let Some(site_rel) = site
        .strip_prefix(&env.path)
        .ok()
        .map(|r| format!("{}/", r.to_string_lossy().replace('\\', "/")))
    else {
        return Vec::new();
    };
    // The first component below site-packages of every owned file.
    let tops: std::collections::HashSet<&str> = owned
        .distributions
        .iter()
        .flat_map(|o| o.files.iter())
        .filter_map(|f| f.path.strip_prefix(site_rel.as_str()))
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .collect();
    let mut out: Vec<String> = fs_err::read_dir(&site)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "__pycache__" && !tops.contains(name.as_str()))
        .map(|name| format!("{site_rel}{name}"))
        .collect();
    // bin/ is one level, read whole (the environment's own scripts are
    // not untracked).
    let bin = crate::venv::Platform::CURRENT.bin_dir();
    let in_bin: std::collections::HashSet<&str> = owned
        .distributions
        .iter()
        .flat_map(|o| o.files.iter())
        .filter_map(|f| f.path.strip_prefix(bin)?.strip_prefix('/'))
        .collect();
    out.extend(
        fs_err::read_dir(env.path.join(bin))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| {
                !crate::wheel::is_environment_script(name) && !in_bin.contains(name.as_str())
            })
            .map(|name| format!("{bin}/{name}")),
    );
    out.sort();
    out
}

fn describe(kind: DamageKind) -> &'static str {
    match kind {
        DamageKind::Missing => "missing",
        DamageKind::Size => "altered: another size",
        DamageKind::Modified => "touched: another modification time",
        DamageKind::Content => "altered: other contents",
        DamageKind::Unreadable => "unreadable",
    }
}

pub(super) fn untracked(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in scan.environments.iter().filter(|e| e.observed.is_venv) {
        let recorded;
        let owned = match env.inventory() {
            Some(inventory) => inventory,
            // Without a stored one, what the RECORDs list is what is owned.
            None => match inventory::record(&env.path) {
                Ok(inventory) => {
                    recorded = inventory;
                    &recorded
                }
                Err(_) => continue,
            },
        };
        let files = if scan.deep {
            inventory::untracked(&env.path, owned)
        } else {
            untracked_at_top(env, owned)
        };
        if files.is_empty() {
            continue;
        }
        let shown: Vec<&str> = files.iter().take(5).map(String::as_str).collect();
        let more = files.len().saturating_sub(5);
        out.push(
            finding(
                "env-untracked",
                Severity::Info,
                env.address(),
                format!(
                    "{} file{} no installed package owns: {}{}",
                    files.len(),
                    if files.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            )
            .at(&env.path)
            .action("reported, never deleted: remove them yourself if nothing needs them"),
        );
    }
    out
}
