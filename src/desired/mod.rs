//! The reconcile pipeline up to the plan: desired state from the manifest,
//! observed state from the disk, and the diff between them with the
//! registry.
//!
//! Observation starts no Python process: environments are read natively
//! ([`venv::observe`]) and system runtimes are chosen from discovery, whose
//! cache answers without running any interpreter. So a no-op `plan` is
//! file reads only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::discover::{self, DiscoverOptions};
use crate::fetch;
use crate::installer;
use crate::lockfile::{self, Lock, LockedPackage, LockedRuntime};
use crate::manifest::resolve::{self, ResolvedEnvironment};
use crate::manifest::{EnvironmentKind, Manifest, Runtime, RuntimeSource};
use crate::plan::{self, Change, EnvSpec, Problem};
use crate::provision::catalog::{self, Catalog, CatalogError};
use crate::provision::platform::{Platform, PlatformError};
use crate::provision::{self, ObservedRuntime, RuntimeSpec, embeddable};
use crate::registry::{Home, Registry};
use crate::runtimes::{self, SystemRuntimeError};
use crate::venv::{self, Observed};

/// Why the desired state cannot be built.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DesiredError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    System(#[from] SystemRuntimeError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Catalog(#[from] CatalogError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Platform(#[from] PlatformError),

    #[error("runtime `{name}` uses `source = \"embeddable\"`, which exists only for Windows")]
    #[diagnostic(
        code(plan::embeddable_not_windows),
        help(
            "the python.org embeddable zip runs only on Windows; use `source = \"standalone\"` with the same `version` here"
        )
    )]
    EmbeddableNotWindows { name: String },

    #[error("runtime `{name}` ({source_kind}) needs {what}")]
    #[diagnostic(code(plan::runtime_incomplete))]
    Incomplete {
        name: String,
        source_kind: String,
        what: String,
        #[help]
        help: Option<String>,
    },

    #[error("beep-python.lock is out of date with the manifest:\n{}", lines.iter().map(|l| format!("  - {l}")).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(
        code(lock::stale),
        help("run `beep-python lock` and commit the result; `--frozen` applies the lock as it is")
    )]
    LockStale { lines: Vec<String> },

    #[error("`{}` does not exist", path.display())]
    #[diagnostic(
        code(lock::missing),
        help("run `beep-python lock` and commit `beep-python.lock` next to the manifest")
    )]
    NoLock { path: PathBuf },

    #[error("environment `{name}` is not in beep-python.lock")]
    #[diagnostic(
        code(lock::not_locked),
        help("run `beep-python lock`; `--frozen` installs only what the lock names")
    )]
    NotInLock { name: String },

    #[error("environment `{name}` has `kind = \"conda\"`, which this beep-python cannot build yet")]
    #[diagnostic(
        code(plan::unsupported_kind),
        help("use `kind = \"venv\"` (the default)")
    )]
    Conda { name: String },
}

/// What the manifest asks for, resolved against this machine.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub environments: Vec<EnvSpec>,
    /// The managed runtimes (standalone, url, embeddable) it declares.
    pub runtimes: Vec<RuntimeSpec>,
    /// How many interpreters discovery had to run (0 when its cache answered).
    pub probes_run: usize,
    /// With [`LockUse::Prefer`]: the lock's entries that no longer match the
    /// manifest (resolved from the manifest instead); worth a warning.
    pub stale: Vec<String>,
}

/// How `beep-python.lock` is used when making the desired state.
///
/// An entry *matches* the manifest when the environment's inputs hash
/// ([`env_inputs_hash`]) and runtime are the ones locked, and when a
/// runtime's locked version still satisfies the manifest's request (the
/// locked 3.11.9 satisfies `version = "3.11"`, whatever the catalog now
/// offers) with the same `url` and `sha256` where the manifest gives them.
#[derive(Debug, Clone, Default)]
pub enum LockUse {
    /// No lock: everything is resolved from the manifest.
    #[default]
    None,
    /// The entries that match pin what they name; the others are resolved
    /// from the manifest and listed in [`Desired::stale`].
    Prefer(Lock),
    /// `--locked`: every entry must match, else nothing is planned.
    Locked(Lock),
    /// `--frozen`: the lock as it is, without comparing it to the manifest.
    Frozen(Lock),
}

impl LockUse {
    fn lock(&self) -> Option<&Lock> {
        match self {
            LockUse::None => None,
            LockUse::Prefer(lock) | LockUse::Locked(lock) | LockUse::Frozen(lock) => Some(lock),
        }
    }

    fn frozen(&self) -> bool {
        matches!(self, LockUse::Frozen(_))
    }
}

/// The hash of what an environment's lock entry was resolved from: its
/// requirements and its runtime as the manifest writes them (not the
/// machine's interpreter path, so that a committed lock matches on every
/// machine). Env vars and the folder do not change what resolves.
pub fn env_inputs_hash(env: &ResolvedEnvironment, runtime: Option<&Runtime>) -> String {
    let value = |v: Option<&crate::manifest::Spanned<String>>| {
        v.map(|s| s.value.trim().to_string()).unwrap_or_default()
    };
    let source = runtime.map_or("", |r| r.source.as_str());
    let version = value(runtime.and_then(|r| r.version.as_ref()));
    let path = value(runtime.and_then(|r| r.path.as_ref()));
    let url = value(runtime.and_then(|r| r.url.as_ref()));
    let kind = match env.kind {
        EnvironmentKind::Venv => "venv",
        EnvironmentKind::Conda => "conda",
    };
    lockfile::inputs_hash(
        &env.packages,
        &[
            ("runtime", env.runtime.as_str()),
            ("runtime-source", source),
            ("runtime-version", &version),
            ("runtime-path", &path),
            ("runtime-url", &url),
            ("kind", kind),
        ],
    )
}

/// Whether a locked runtime still satisfies the manifest's runtime.
pub fn locked_runtime_matches(runtime: &Runtime, locked: &LockedRuntime) -> bool {
    if locked.source != runtime.source.as_str() {
        return false;
    }
    let request = runtime
        .version
        .as_ref()
        .map(|v| v.value.trim())
        .unwrap_or_default();
    let same = |a: Option<&String>, b: Option<&crate::manifest::Spanned<String>>| {
        a.map(|s| s.to_ascii_lowercase()) == b.map(|s| s.value.trim().to_ascii_lowercase())
    };
    match runtime.source {
        RuntimeSource::System => true,
        RuntimeSource::Standalone => {
            locked.version == request
                || (request.split('.').count() == 2
                    && locked.version.strip_prefix(request).is_some_and(|rest| {
                        rest.strip_prefix('.')
                            .is_some_and(|patch| patch.chars().all(|c| c.is_ascii_digit()))
                    }))
        }
        RuntimeSource::Url | RuntimeSource::Embeddable => {
            locked.version == request
                && same(locked.sha256.as_ref(), runtime.sha256.as_ref())
                && (runtime.url.is_none() || same(locked.url.as_ref(), runtime.url.as_ref()))
        }
    }
}

/// Every environment and managed runtime of the manifest, as it should be.
pub fn desired_state(
    manifest: &Manifest,
    home: &Home,
    lock: &LockUse,
) -> Result<Desired, Vec<DesiredError>> {
    let resolved = resolve::resolve(manifest, home.root());
    let mut errors = Vec::new();
    let mut stale = Vec::new();
    let needs_discovery = resolved.iter().any(|env| {
        manifest
            .runtimes
            .get(&env.runtime)
            .is_some_and(|r| r.source == RuntimeSource::System)
    });
    let (interpreters, probes_run) = if needs_discovery {
        let mut options = DiscoverOptions::from_process_env(home.root());
        // Runtimes given by path: scan their folders too, so that the
        // discovery cache answers for them as well.
        for runtime in manifest.runtimes.values() {
            if let Some(dir) = runtime
                .path
                .as_ref()
                .and_then(|p| Path::new(&p.value).parent().map(Path::to_path_buf))
                && !options.system_dirs.iter().any(|(_, d)| *d == dir)
            {
                options.system_dirs.push((discover::Locator::System, dir));
            }
        }
        let found = discover::discover(&options);
        (found.interpreters, found.probes_run)
    } else {
        (Vec::new(), 0)
    };

    // Every managed runtime is a resource, used by an environment or not.
    let mut managed: BTreeMap<String, RuntimeSpec> = BTreeMap::new();
    let mut catalog: Option<Catalog> = None;
    for (name, runtime) in &manifest.runtimes {
        if runtime.source == RuntimeSource::System {
            continue;
        }
        let locked = lock.lock().and_then(|l| l.runtimes.get(name));
        let locked = match locked {
            Some(l) if lock.frozen() || locked_runtime_matches(runtime, l) => Some(l),
            Some(_) => {
                stale.push(format!(
                    "runtime `{name}`: the manifest asks for another build than the lock names"
                ));
                None
            }
            None if lock.lock().is_some() => {
                stale.push(format!("runtime `{name}`: not in the lock"));
                None
            }
            None => None,
        };
        match managed_spec(manifest, home, name, runtime, locked, &mut catalog) {
            Ok(spec) => {
                managed.insert(name.clone(), spec);
            }
            Err(e) => errors.push(e),
        }
    }

    let mut chosen: BTreeMap<String, discover::Interpreter> = BTreeMap::new();
    let mut reported: Vec<String> = Vec::new();
    let mut specs = Vec::new();
    for env in &resolved {
        if env.kind == EnvironmentKind::Conda {
            errors.push(DesiredError::Conda {
                name: env.name.clone(),
            });
            continue;
        }
        let Some(runtime) = manifest.runtimes.get(&env.runtime) else {
            continue; // validation guarantees it exists
        };
        // The lock's pins for this environment, if they still apply.
        let locked: Option<Vec<LockedPackage>> = match lock.lock() {
            None => None,
            Some(l) => match l.environments.get(&env.name) {
                Some(entry) if lock.frozen() => Some(entry.packages.clone()),
                Some(entry)
                    if entry.runtime == env.runtime
                        && entry.inputs_hash == env_inputs_hash(env, Some(runtime)) =>
                {
                    Some(entry.packages.clone())
                }
                Some(entry) if entry.runtime != env.runtime => {
                    stale.push(format!(
                        "environment `{}`: its runtime changed from `{}` to `{}` since the lock was written",
                        env.name, entry.runtime, env.runtime
                    ));
                    None
                }
                Some(_) => {
                    stale.push(format!(
                        "environment `{}`: its packages or runtime changed since the lock was written",
                        env.name
                    ));
                    None
                }
                None if lock.frozen() => {
                    errors.push(DesiredError::NotInLock {
                        name: env.name.clone(),
                    });
                    continue;
                }
                None => {
                    stale.push(format!("environment `{}`: not in the lock", env.name));
                    None
                }
            },
        };
        if runtime.source != RuntimeSource::System {
            if let Some(spec) = managed.get(&env.runtime) {
                specs.push(env_spec(
                    env,
                    &spec.interpreter,
                    &spec.python_version,
                    "cpython",
                    locked,
                ));
            }
            continue;
        }
        if !chosen.contains_key(&env.runtime) {
            if reported.contains(&env.runtime) {
                continue;
            }
            match runtimes::select_system(runtime, &interpreters) {
                Ok(interpreter) => {
                    chosen.insert(env.runtime.clone(), interpreter);
                }
                Err(e) => {
                    reported.push(env.runtime.clone());
                    errors.push(e.into());
                    continue;
                }
            }
        }
        let interpreter = &chosen[&env.runtime];
        specs.push(env_spec(
            env,
            &interpreter.real_path,
            &interpreter.version,
            &interpreter.implementation,
            locked,
        ));
    }
    // Pins resolved for another Python series may not install on this one
    // (a teammate's system interpreter is 3.12, the lock was made on 3.11).
    if let (Some(l), false) = (lock.lock(), lock.frozen()) {
        let series = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
        for spec in &mut specs {
            let Some(entry) = l.environments.get(&spec.name) else {
                continue;
            };
            if spec.locked.is_some()
                && series(&entry.python_version) != series(&spec.python_version)
            {
                stale.push(format!(
                    "environment `{}`: locked for Python {}, but its runtime here is {}",
                    spec.name, entry.python_version, spec.python_version
                ));
                spec.locked = None;
                spec.spec_hash = spec_hash(spec);
            }
        }
        for (name, locked) in &l.runtimes {
            if !manifest.runtimes.contains_key(name) {
                stale.push(format!(
                    "runtime `{name}` ({}): in the lock, but no longer in the manifest",
                    locked.source
                ));
            }
        }
    }
    if let Some(l) = lock.lock() {
        for name in l.environments.keys() {
            if !resolved.iter().any(|e| &e.name == name) {
                stale.push(format!(
                    "environment `{name}`: in the lock, but no longer in the manifest"
                ));
            }
        }
    }
    if matches!(lock, LockUse::Locked(_)) && !stale.is_empty() {
        errors.push(DesiredError::LockStale {
            lines: std::mem::take(&mut stale),
        });
    }
    if errors.is_empty() {
        Ok(Desired {
            environments: specs,
            runtimes: managed.into_values().collect(),
            probes_run,
            stale,
        })
    } else {
        Err(errors)
    }
}

/// Where a managed runtime comes from and where it goes. The catalog is
/// loaded once, on first need.
fn managed_spec(
    manifest: &Manifest,
    home: &Home,
    name: &str,
    runtime: &Runtime,
    locked: Option<&LockedRuntime>,
    catalog: &mut Option<Catalog>,
) -> Result<RuntimeSpec, DesiredError> {
    let settings = &manifest.settings;
    let version = runtime
        .version
        .as_ref()
        .map(|v| v.value.trim().to_string())
        .unwrap_or_default();
    let incomplete = |what: &str, help: Option<&str>| DesiredError::Incomplete {
        name: name.to_string(),
        source_kind: runtime.source.as_str().to_string(),
        what: what.to_string(),
        help: help.map(str::to_string),
    };
    let platform = Platform::from_env_or_detect()?;
    if runtime.source == RuntimeSource::Embeddable && platform.os != "windows" {
        return Err(DesiredError::EmbeddableNotWindows {
            name: name.to_string(),
        });
    }
    // A lock made on another platform pins the version, not the build.
    let platform_text = platform.to_string();
    let (locked, version) = match locked {
        Some(l) if l.platform.as_ref().is_some_and(|p| *p != platform_text) => {
            (None, l.version.clone())
        }
        _ => (locked, version),
    };
    let mirror = catalog::mirror_in_effect(
        std::env::var(catalog::MIRROR_ENV).ok().as_deref(),
        settings.python_mirror.as_ref().map(|m| m.value.as_str()),
    );
    let mirrored = |url: &str| match &mirror {
        Some(mirror) => catalog::apply_mirror(url, mirror, &manifest.dir),
        None => url.to_string(),
    };
    let (python_version, upstream_url, sha256) = match runtime.source {
        // The lock names the build: no catalog needed (and none consulted,
        // so a refreshed catalog does not move a locked runtime).
        _ if locked.is_some_and(|l| l.url.is_some() && l.sha256.is_some()) => {
            let l = locked.expect("checked");
            (
                l.version.clone(),
                l.url.clone().unwrap_or_default(),
                l.sha256.clone().unwrap_or_default(),
            )
        }
        RuntimeSource::Standalone => {
            if catalog.is_none() {
                *catalog = Some(match &settings.python_downloads {
                    Some(location) => Catalog::load(
                        &location.value,
                        &manifest.dir,
                        &fetch::Options {
                            allow_insecure_http: settings.allow_insecure_http,
                            offline: settings.offline,
                            ..fetch::Options::default()
                        },
                    )?,
                    None => Catalog::builtin(),
                });
            }
            let download = catalog
                .as_ref()
                .expect("loaded above")
                .find(&version, &platform)?;
            (
                download.version.clone(),
                download.url.clone(),
                download.sha256.clone(),
            )
        }
        RuntimeSource::Url => {
            let url = runtime.url.as_ref().map(|u| u.value.clone());
            let sha = runtime.sha256.as_ref().map(|s| s.value.clone());
            match (url, sha) {
                (Some(url), Some(sha)) => (version, url, sha),
                _ => return Err(incomplete("a `url` and its `sha256`", None)),
            }
        }
        RuntimeSource::Embeddable => {
            let url = runtime
                .url
                .as_ref()
                .map(|u| u.value.clone())
                .or_else(|| embeddable::default_url(&version, &platform.arch));
            let Some(url) = url else {
                return Err(incomplete(
                    "an exact `version` (such as `3.12.4`) or a `url`",
                    None,
                ));
            };
            let Some(sha) = runtime.sha256.as_ref().map(|s| s.value.clone()) else {
                return Err(incomplete(
                    "a `sha256` for its zip",
                    Some(
                        "copy the SHA-256 of the embeddable zip from its python.org release page, or compute it with `certutil -hashfile FILE SHA256` on a copy you trust",
                    ),
                ));
            };
            (version, url, sha)
        }
        RuntimeSource::System => unreachable!("system runtimes are chosen by discovery"),
    };
    let root = home.runtimes_dir().join(provision::runtime_id(
        runtime.source,
        &python_version,
        &platform_text,
        &sha256.to_ascii_lowercase(),
    ));
    Ok(RuntimeSpec {
        name: name.to_string(),
        source: runtime.source,
        interpreter: provision::interpreter_in(&root, runtime.source, &platform_text),
        python_version,
        url: mirrored(&upstream_url),
        upstream_url,
        sha256: sha256.to_ascii_lowercase(),
        platform: platform_text,
        root,
        allow_insecure_http: settings.allow_insecure_http,
    })
}

fn env_spec(
    env: &ResolvedEnvironment,
    interpreter: &Path,
    python_version: &str,
    implementation: &str,
    locked: Option<Vec<LockedPackage>>,
) -> EnvSpec {
    let mut spec = EnvSpec {
        name: env.name.clone(),
        path: env.path.clone(),
        kind: env.kind,
        runtime: env.runtime.clone(),
        interpreter: interpreter.to_path_buf(),
        python_version: python_version.to_string(),
        implementation: implementation.to_string(),
        packages: env.packages.clone(),
        env: env.env.clone(),
        system_site_packages: env.system_site_packages,
        locked,
        spec_hash: String::new(),
    };
    spec.spec_hash = spec_hash(&spec);
    spec
}

/// Hash of what an environment is built from (not where it is).
pub fn spec_hash(spec: &EnvSpec) -> String {
    let canonical = serde_json::json!({
        "kind": spec.kind,
        "runtime": spec.runtime,
        "interpreter": spec.interpreter,
        "python_version": spec.python_version,
        "packages": spec.packages,
        "env": spec.env,
        "system_site_packages": spec.system_site_packages,
    });
    // A locked environment is built from its pins, not its requirements:
    // hash those instead (so `--frozen` with an edited manifest is a
    // no-op). Unlocked ones keep the hash they had before locks existed.
    let mut canonical = canonical;
    if let Some(locked) = &spec.locked {
        canonical["packages"] = serde_json::json!(locked);
    }
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Observes every folder the plan will look at: each desired environment's
/// and each recorded one's. An empty folder counts as absent.
pub fn observe_all(desired: &[EnvSpec], registry: &Registry) -> BTreeMap<PathBuf, Observed> {
    let mut out = BTreeMap::new();
    let paths = desired
        .iter()
        .map(|d| d.path.clone())
        .chain(registry.environments.iter().map(|e| e.path.clone()));
    for path in paths {
        if out.contains_key(&path) {
            continue;
        }
        let observed = if is_empty_dir(&path) {
            Observed::default()
        } else {
            venv::observe(&path)
        };
        out.insert(path, observed);
    }
    out
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

/// The diff for this manifest.
pub fn plan_changes(
    owner: &Path,
    desired: &Desired,
    registry: &Registry,
    targets: &[String],
) -> Result<Vec<Change>, Vec<Problem>> {
    let observed = observe_all(&desired.environments, registry);
    let observed_runtimes: BTreeMap<PathBuf, ObservedRuntime> = desired
        .runtimes
        .iter()
        .map(|r| (r.root.clone(), provision::observe(&r.root, &r.interpreter)))
        .collect();
    plan::diff(&plan::Inputs {
        owner,
        desired: &desired.environments,
        runtimes: &desired.runtimes,
        registry,
        observed: &observed,
        observed_runtimes: &observed_runtimes,
        targets,
    })
}

/// The canonical path of the manifest: what the registry and markers record
/// as the owner.
pub fn owner_of(manifest_path: &Path) -> PathBuf {
    std::fs::canonicalize(manifest_path).unwrap_or_else(|_| manifest_path.to_path_buf())
}

/// The installer settings of a manifest. Relative `find-links` folders are
/// relative to the manifest.
pub fn installer_config(manifest: &Manifest) -> installer::Config {
    let settings = &manifest.settings;
    installer::Config {
        installer: settings.installer,
        index_url: settings.index_url.as_ref().map(|u| u.value.clone()),
        find_links: settings
            .find_links
            .iter()
            .map(|l| {
                if l.value.contains("://") {
                    l.value.clone()
                } else {
                    resolve::normalize(&manifest.dir.join(&l.value))
                        .display()
                        .to_string()
                }
            })
            .collect(),
        offline: settings.offline,
    }
}
