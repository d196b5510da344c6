//! Checks of each environment: its `pyvenv.cfg`, its base interpreter (and
//! where it went), versions, links, dependencies, extension modules'
//! libraries, and the plan's verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::runtimes::searched;
use super::{EnvView, Finding, Remedy, Scan, Severity, deps, finding};
use crate::plan::health::{self, Health};
use crate::plan::{Change, PackageChange, PackageChanges, Reason};
use crate::registry::model::Status;
use crate::venv::{self, Platform};
use crate::wheel::{self, record};

/// The environments whose folder is a venv (others are `env-pyvenv`'s).
fn venvs<'s, 'a>(scan: &'s Scan<'a>) -> impl Iterator<Item = &'s EnvView<'a>> {
    scan.environments.iter().filter(|e| e.observed.is_venv)
}

/// The base executable `pyvenv.cfg` names (or `home/python3`).
fn base_of(env: &EnvView<'_>) -> Option<PathBuf> {
    env.observed.base_executable.clone().or_else(|| {
        let home = env.observed.home.as_ref()?;
        Some(match Platform::CURRENT {
            Platform::Unix => home.join("python3"),
            Platform::Windows => home.join("python.exe"),
        })
    })
}

/// `implementation` from `pyvenv.cfg` (CPython's venv and we write it),
/// lowercase; `cpython` when absent.
fn implementation_of(env: &EnvView<'_>) -> String {
    fs_err::read_to_string(env.path.join("pyvenv.cfg"))
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("implementation")
                    .then(|| value.trim().to_ascii_lowercase())
            })
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "cpython".into())
}

pub(super) fn site_packages(env: &EnvView<'_>) -> Option<PathBuf> {
    let version = env.observed.version.as_deref().unwrap_or_default();
    let site = venv::layout(&env.path, version).site_packages;
    if site.is_dir() {
        return Some(site);
    }
    let lib = env.path.join("lib");
    fs_err::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
}

/// How `--fix` rebuilds an environment of the manifest at hand, or, for
/// another manifest's, the command that does it there.
pub(super) fn rebuild(scan: &Scan<'_>, env: &EnvView<'_>, f: Finding, remedy: Remedy) -> Finding {
    if env.spec.is_some() {
        return f.fix(remedy);
    }
    match &env.owner {
        Some(owner) => f.command(scan.command_for(Some(owner), "doctor --fix")),
        None => f,
    }
}

/// The plan's change for `env`, if the manifest at hand has one.
fn planned<'a>(scan: &Scan<'a>, env: &EnvView<'_>) -> Option<&'a Change> {
    env.spec?;
    scan.manifest?.change(&env.address())
}

/// The plan's change for `env` as the remedy, else a rebuild for `reason`.
fn plan_or_rebuild(scan: &Scan<'_>, env: &EnvView<'_>, reason: Reason) -> Remedy {
    match planned(scan, env) {
        Some(change) => Remedy::Plan {
            address: change.address(),
        },
        None => Remedy::Rebuild {
            env: env.name.clone(),
            reason,
        },
    }
}

pub(super) fn pyvenv(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in &scan.environments {
        let Health::Broken(reason @ Reason::Broken { .. }) = health::classify(&env.observed) else {
            continue;
        };
        if env.observed.is_venv {
            continue; // a link or the base: other checks
        }
        let f = finding(
            "env-pyvenv",
            Severity::Error,
            env.address(),
            format!("it is not a virtual environment: {reason}"),
        )
        .at(&env.path)
        .action("rebuild it");
        let remedy = plan_or_rebuild(scan, env, reason);
        out.push(rebuild(scan, env, f, remedy));
    }
    out
}

/// Whether two versions have the same release (`3.11.2` = `3.11.2`).
fn same_release(a: &str, b: &str) -> bool {
    let release = |v: &str| -> String {
        v.trim()
            .split('.')
            .take(3)
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(".")
    };
    release(a) == release(b)
}

/// Where the same Python as the environment's vanished base is now: the
/// interpreter the manifest's runtime resolves to, else a registered one.
struct Candidate {
    path: PathBuf,
    /// How it was found, for the finding.
    how: String,
    /// It is what the manifest now chooses (re-pointing to it leaves the
    /// plan with nothing to do).
    desired: bool,
}

fn candidate(scan: &Scan<'_>, env: &EnvView<'_>, old: &Path) -> Option<Candidate> {
    let version = env.observed.version.as_deref()?;
    let implementation = implementation_of(env);
    let registry = scan.registry();
    // The build of the old interpreter, where the registry knew it.
    let old_arch = registry.and_then(|r| {
        r.runtimes
            .iter()
            .find(|rt| rt.path == old || rt.real_path.as_deref() == Some(old))
            .and_then(|rt| rt.arch.clone())
    });
    if let Some(spec) = env.spec
        && spec.interpreter.is_file()
        && spec.implementation.eq_ignore_ascii_case(&implementation)
        && same_release(&spec.python_version, version)
    {
        return Some(Candidate {
            path: spec.interpreter.clone(),
            how: format!("what the manifest's runtime `{}` resolves to", spec.runtime),
            desired: true,
        });
    }
    let found = registry?.runtimes.iter().find(|r| {
        r.status == Status::Ready
            && r.path.is_file()
            && r.implementation
                .as_deref()
                .unwrap_or("cpython")
                .eq_ignore_ascii_case(&implementation)
            && same_release(&r.version, version)
            && (old_arch.is_none() || r.arch == old_arch)
    })?;
    Some(Candidate {
        path: fs_err::canonicalize(&found.path).unwrap_or_else(|_| found.path.clone()),
        how: format!("registered as runtime `{}`", found.name),
        desired: false,
    })
}

pub(super) fn base_interpreter(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in &scan.environments {
        let Health::Broken(Reason::BaseInterpreterMissing { base }) =
            health::classify(&env.observed)
        else {
            continue;
        };
        let version = env.observed.version.clone().unwrap_or_default();
        let implementation = implementation_of(env);
        let found = candidate(scan, env, &base);
        let mut text = format!("its base interpreter `{}` is gone", base.display());
        if let Some(c) = &found {
            text.push_str(&format!(
                "; the same Python ({implementation} {version}) is at `{}` ({})",
                c.path.display(),
                c.how
            ));
        }
        let f = finding("env-base-interpreter", Severity::Error, env.address(), text).at(&env.path);
        let plan = planned(scan, env).map(|c| Remedy::Plan {
            address: c.address(),
        });
        let f = match (&found, env.spec) {
            (Some(c), Some(_)) => match crate::exec::repoint::rewrites(&env.path, &base, &c.path) {
                Ok(_) if c.desired => f
                    .action("re-point it to that interpreter: `pyvenv.cfg` and `bin/python` are rewritten, its packages stay")
                    .fix(Remedy::Repoint {
                        env: env.name.clone(),
                        from: base.clone(),
                        to: c.path.clone(),
                    }),
                Ok(_) => {
                    let f = f.action(
                        "rebuild it: the manifest's runtime resolves to another interpreter now, so a re-point would leave it out of date",
                    );
                    match plan {
                        Some(p) => f.fix(p),
                        None => f,
                    }
                }
                Err(why) => {
                    let f = f.action(format!("rebuild it: it cannot be re-pointed ({why})"));
                    match plan {
                        Some(p) => f.fix(p),
                        None => f,
                    }
                }
            },
            (None, Some(_)) => {
                let f = f.action(
                    "rebuild it on the interpreter the manifest's runtime resolves to now (no interpreter of the same implementation and version is known; `beep-python runtimes discover` looks again)",
                );
                match plan {
                    Some(p) => f.fix(p),
                    None => f,
                }
            }
            (_, None) => match &env.owner {
                Some(owner) => f
                    .action("re-point or rebuild it from the manifest that owns it")
                    .command(scan.command_for(Some(owner), "doctor --fix")),
                None => f.action("rebuild it; no manifest owns it"),
            },
        };
        out.push(f);
    }
    out
}

/// The base interpreter's version: by running it (`--deep`), else as the
/// registry records it; `None` when neither is known.
fn base_version(scan: &Scan<'_>, real: &Path) -> Option<String> {
    if scan.deep {
        return scan.probe(real).ok().map(|p| p.version);
    }
    scan.registry()?
        .runtimes
        .iter()
        .find(|r| r.real_path.as_deref() == Some(real) || r.path == real)
        .map(|r| r.version.clone())
}

pub(super) fn version(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in venvs(scan).filter(|e| e.observed.base_exists) {
        let (Some(version), Some(base)) = (env.observed.version.clone(), base_of(env)) else {
            continue;
        };
        let real = fs_err::canonicalize(&base).unwrap_or(base);
        let base_version = match base_version(scan, &real) {
            Some(v) => v,
            None => {
                // Without its version: its standard library must be the
                // environment's minor version.
                let short = venv::short_version(&version);
                let stdlib = venv::base_layout(Platform::CURRENT, &real, &short).stdlib;
                if Platform::CURRENT == Platform::Windows || stdlib.is_dir() {
                    continue;
                }
                let f = finding(
                    "env-version",
                    Severity::Error,
                    env.address(),
                    format!(
                        "`pyvenv.cfg` says Python {version}, but the base interpreter `{}` has no `{}`: it is another version now",
                        real.display(),
                        stdlib.display()
                    ),
                )
                .at(&env.path)
                .action("rebuild it for the interpreter as it is now");
                let remedy = plan_or_rebuild(
                    scan,
                    env,
                    Reason::Broken {
                        what: "its base interpreter is another version now".into(),
                    },
                );
                out.push(rebuild(scan, env, f, remedy));
                continue;
            }
        };
        if same_release(&base_version, &version) {
            continue;
        }
        let minor_changed = venv::major_minor(&base_version) != venv::major_minor(&version);
        let f = finding(
            "env-version",
            if minor_changed {
                Severity::Error
            } else {
                Severity::Info
            },
            env.address(),
            if minor_changed {
                format!(
                    "`pyvenv.cfg` says Python {version}, but its base interpreter is {base_version}: its packages were installed for {}",
                    venv::short_version(&version)
                )
            } else {
                format!(
                    "its base interpreter was upgraded in place ({version} -> {base_version}); the environment keeps working"
                )
            },
        )
        .at(&env.path);
        let reason = Reason::PythonChanged {
            from: version.clone(),
            to: base_version.clone(),
        };
        out.push(if minor_changed {
            let remedy = plan_or_rebuild(scan, env, reason);
            rebuild(
                scan,
                env,
                f.action("rebuild it for the interpreter as it is now"),
                remedy,
            )
        } else if let Some(change) = planned(scan, env) {
            f.action("the plan rebuilds it for the new version")
                .fix(Remedy::Plan {
                    address: change.address(),
                })
        } else {
            f.action("nothing to do; `apply --replace` rebuilds it for the new version if you want")
        });
    }
    out
}

pub(super) fn links(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in venvs(scan).filter(|e| e.observed.base_exists) {
        let bin = env.path.join(Platform::CURRENT.bin_dir());
        let Ok(entries) = fs_err::read_dir(&bin) else {
            continue;
        };
        let mut dangling: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
            .filter(|e| fs_err::metadata(e.path()).is_err())
            .map(|e| {
                let target = fs_err::read_link(e.path()).unwrap_or_default();
                format!(
                    "`{}` -> `{}`",
                    e.file_name().to_string_lossy(),
                    target.display()
                )
            })
            .collect();
        if !env.observed.python_exists && dangling.is_empty() {
            dangling.push(format!("`{}` is missing", Platform::CURRENT.python_name()));
        }
        if dangling.is_empty() {
            continue;
        }
        dangling.sort();
        let what = format!("dangling interpreter links: {}", dangling.join(", "));
        let f = finding("env-links", Severity::Error, env.address(), what.clone())
            .at(&bin)
            .action("rebuild it");
        let remedy = plan_or_rebuild(scan, env, Reason::Broken { what });
        out.push(rebuild(scan, env, f, remedy));
    }
    out
}

pub(super) fn dependencies(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in venvs(scan) {
        let (Some(site), Some(version)) = (site_packages(env), env.observed.version.as_deref())
        else {
            continue;
        };
        let Some(markers) = deps::marker_environment(version, &implementation_of(env)) else {
            continue;
        };
        let installed = deps::installed(&site);
        let system_site = fs_err::read_to_string(env.path.join("pyvenv.cfg"))
            .map(|t| crate::discover::PyvenvCfg::parse(&t).include_system_site_packages)
            .unwrap_or(false);
        let unmet: Vec<deps::Unmet> = deps::unmet(&installed, &markers)
            .into_iter()
            // The base's packages may meet it: not judged.
            .filter(|u| !(system_site && u.installed.is_none()))
            .collect();
        if unmet.is_empty() {
            continue;
        }
        let mut packages = PackageChanges::default();
        for u in &unmet {
            match &u.installed {
                None => {
                    if !packages.add.contains(&u.requirement) {
                        packages.add.push(u.requirement.clone());
                    }
                }
                Some(found) => packages.change.push(PackageChange {
                    name: u.name.clone(),
                    installed: found.clone(),
                    required: u.requirement.clone(),
                }),
            }
        }
        let reason = Reason::DependenciesBroken {
            unmet: unmet.iter().map(ToString::to_string).collect(),
        };
        for u in &unmet {
            let f = finding(
                "env-dependencies",
                Severity::Error,
                env.address(),
                u.to_string(),
            )
            .at(&site)
            .action(format!(
                "install what `{}` requires (an update of the environment)",
                u.package
            ));
            let remedy = Remedy::Update {
                env: env.name.clone(),
                reason: reason.clone(),
                packages: packages.clone(),
            };
            out.push(rebuild(scan, env, f, remedy));
        }
    }
    out
}

pub(super) fn extraneous(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in venvs(scan) {
        let Some(spec) = env.spec else {
            continue;
        };
        if spec.locked.is_some() {
            continue; // the plan removes what the lock does not list
        }
        let (Some(site), Some(version)) = (site_packages(env), env.observed.version.as_deref())
        else {
            continue;
        };
        let Some(markers) = deps::marker_environment(version, &implementation_of(env)) else {
            continue;
        };
        let keep: &[&str] = if spec.pip { &["pip"] } else { &[] };
        for stray in deps::unreached(&deps::installed(&site), &spec.packages, keep, &markers) {
            out.push(
                finding(
                    "env-extraneous",
                    Severity::Info,
                    env.address(),
                    format!("`{stray}` is installed, but nothing in the manifest requires it"),
                )
                .at(&site)
                .action("add it to the manifest if you use it; to rebuild the environment with exactly what the manifest asks for:")
                .command(format!("beep-python apply --replace {}", env.address())),
            );
        }
    }
    out
}

pub(super) fn drift(scan: &Scan<'_>) -> Vec<Finding> {
    let Some(manifest) = scan.manifest else {
        return Vec::new();
    };
    let changes = match &manifest.plan {
        Err(e) => {
            return vec![
                finding(
                    "env-drift",
                    Severity::Error,
                    "manifest",
                    format!("the manifest could not be planned: {e}"),
                )
                .at(&manifest.path)
                .action("`beep-python plan` shows every problem with where it is")
                .command("beep-python plan"),
            ];
        }
        Ok(planned) => &planned.changes,
    };
    changes
        .iter()
        .filter(|c| !matches!(c, Change::Home(_)))
        .map(|c| {
            finding(
                "env-drift",
                Severity::Warning,
                c.address(),
                format!("`apply` would {}: {}", c.action().as_str(), c.reason_text()),
            )
            .at(c.path())
            .action("apply the plan's change")
            .fix(Remedy::Plan {
                address: c.address(),
            })
        })
        .collect()
}

/// Every extension module below `site` (`*.so`): from the environment's
/// inventory when it has one (no folder walked), else found by walking
/// `site`, not following links.
fn extension_modules(env: &EnvView<'_>, site: &Path) -> Vec<PathBuf> {
    let is_module = |p: &Path| super::is_extension_module(p);
    if let Some(inventory) = env.inventory() {
        let mut out: Vec<PathBuf> = inventory
            .distributions
            .iter()
            .flat_map(|o| o.files.iter())
            .map(|f| env.path.join(&f.path))
            .filter(|p| p.starts_with(site) && is_module(p))
            .filter(|p| !p.components().any(|c| c.as_os_str() == "__pycache__"))
            .collect();
        out.sort();
        return out;
    }
    let mut out = Vec::new();
    let mut stack = vec![site.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if entry.file_name() != "__pycache__" {
                    stack.push(path);
                }
            } else if kind.is_file() && is_module(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Each file's owning distribution, from the `RECORD`s in `site`
/// (absolute, lexically resolved, as [`record::resolve`] gives them).
fn owners(site: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for dist in wheel::installed(site).into_iter().filter(|d| d.complete) {
        let Ok(text) = fs_err::read_to_string(dist.dist_info.join("RECORD")) else {
            continue;
        };
        for line in record::parse(&text) {
            if let Some(path) = record::resolve(site, &line.path) {
                out.insert(path, dist.name.clone());
            }
        }
    }
    out
}

pub(super) fn libraries(scan: &Scan<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for env in venvs(scan).filter(|e| e.observed.base_exists) {
        let (Some(site), Some(base)) = (site_packages(env), base_of(env)) else {
            continue;
        };
        let real = fs_err::canonicalize(&base).unwrap_or(base);
        let Some(libraries) = scan.libraries_of(&real) else {
            return vec![super::runtimes::not_read("env-libraries")];
        };
        let mut owner_map: Option<BTreeMap<PathBuf, String>> = None;
        // Per package that ships a missing library: how many are missing.
        let mut damaged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut found = Vec::new();
        for module in extension_modules(env, &site) {
            for missing in scan.missing_libraries(&module, &libraries, false) {
                let owners = owner_map.get_or_insert_with(|| owners(&site));
                let resolved = |p: &Path| {
                    p.strip_prefix(&site)
                        .ok()
                        .and_then(|r| record::resolve(&site, &r.to_string_lossy()))
                };
                let owner = resolved(&module).and_then(|r| owners.get(&r).cloned());
                // The library is one the package ships (its RECORD lists
                // it where the module's RPATH looks): a reinstall brings
                // it back.
                let shipped_by = missing
                    .searched
                    .iter()
                    .filter_map(|dir| resolved(&dir.join(&missing.library)))
                    .find_map(|r| owners.get(&r).cloned());
                found.push((module.clone(), missing, owner, shipped_by));
            }
        }
        for (_, missing, _, shipped_by) in &found {
            if let Some(pkg) = shipped_by {
                damaged
                    .entry(pkg.clone())
                    .or_default()
                    .insert(missing.library.clone());
            }
        }
        for (module, missing, owner, shipped_by) in found {
            let by = owner
                .as_ref()
                .map_or(String::new(), |o| format!(" of package `{o}`"));
            let through = if missing.needed_by == module {
                String::new()
            } else {
                format!(" through `{}`", missing.needed_by.display())
            };
            let f = finding(
                "env-libraries",
                Severity::Error,
                env.address(),
                format!(
                    "extension module `{}`{by} needs `{}`{through}, which the loader does not find (searched {})",
                    module.strip_prefix(&site).unwrap_or(&module).display(),
                    missing.library,
                    searched(&missing.searched)
                ),
            )
            .at(&module);
            out.push(
                match (
                    &shipped_by,
                    shipped_by.as_deref().and_then(|p| reinstall(env, p)),
                ) {
                    (Some(pkg), Some(packages)) => rebuild(
                        scan,
                        env,
                        f.action(format!("reinstall `{pkg}`: the library is one it ships")),
                        Remedy::Update {
                            env: env.name.clone(),
                            reason: Reason::FilesDamaged {
                                package: pkg.clone(),
                                missing: damaged.get(pkg).map_or(1, BTreeSet::len),
                                changed: 0,
                            },
                            packages,
                        },
                    ),
                    (Some(pkg), None) => {
                        f.action(format!("reinstall `{pkg}`: the library is one it ships"))
                    }
                    (None, _) => f.action(format!(
                        "{}; until then importing it fails",
                        super::install_hint(&missing.library)
                    )),
                },
            );
        }
    }
    out
}

/// The package line that installs `package` again at the version it has,
/// or, when even its metadata is gone, at the version its inventory
/// recorded (`None` when neither knows it).
pub(super) fn reinstall(env: &EnvView<'_>, package: &str) -> Option<PackageChanges> {
    let name = venv::normalize_name(package);
    let line = match env.observed.packages.iter().find(|d| d.name == name) {
        Some(dist) => format!("{} {}", dist.display_name, dist.version),
        None => {
            let owner = env
                .inventory()?
                .distributions
                .iter()
                .find(|o| o.name == name)?;
            format!("{} {}", owner.name, owner.version)
        }
    };
    Some(PackageChanges {
        reinstall: vec![line],
        ..PackageChanges::default()
    })
}
