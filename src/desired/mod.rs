//! The desired state: what the manifest (and its lock) asks for, resolved
//! against this machine. The first stage of the pipeline
//! (`manifest -> desired -> observe -> plan -> exec`).
//!
//! [`build`] turns a checked manifest into one [`EnvSpec`] per environment
//! (with its base interpreter chosen) and one [`RuntimeSpec`] per managed
//! runtime (with its build chosen from the catalog or the lock). It starts
//! no Python process when discovery's cache answers, so a no-op `plan` is
//! file reads only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::discover::{self, DiscoverOptions};
use crate::installer;
use crate::lockfile::{self, Lock, LockedPackage};
use crate::manifest::resolve::{self, ResolvedEnvironment};
use crate::manifest::{EnvironmentKind, Manifest, Runtime, RuntimeSource};
use crate::provision::RuntimeSpec;
use crate::provision::catalog::{Catalog, CatalogError};
use crate::provision::platform::PlatformError;
use crate::registry::Home;
use crate::registry::model::BuiltFrom;
use crate::runtimes::{self, SystemRuntimeError};

pub mod conda;
mod runtime;

pub use conda::CondaSpec;
pub use runtime::locked_runtime_matches;

/// One environment as it should be: everything `apply` needs to build it.
/// Saved plans carry these, so a saved plan applies exactly what it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSpec {
    pub name: String,
    pub path: PathBuf,
    pub kind: EnvironmentKind,
    /// The manifest runtime's name.
    pub runtime: String,
    /// The base interpreter (its real path).
    pub interpreter: PathBuf,
    pub python_version: String,
    pub implementation: String,
    /// The nearest template, if any (reasons name it when it changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// PEP 508 requirements, resolved from profiles, templates and the
    /// environment.
    pub packages: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub system_site_packages: bool,
    /// pip is seeded into the environment (the default), whichever
    /// installer installs the packages.
    #[serde(default = "yes")]
    pub pip: bool,
    /// The exact set from `beep-python.lock`, when the environment is
    /// locked: installed with hash checking, and nothing else (exact sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<Vec<LockedPackage>>,
    /// A conda environment's conda part (`kind = "conda"`); `packages`
    /// and `locked` are then its `pypi-packages`, and `interpreter` its
    /// own python (see [`conda`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conda: Option<Box<CondaSpec>>,
}

fn yes() -> bool {
    true
}

impl EnvSpec {
    /// What the environment is built from, as its marker and its record
    /// keep it.
    pub fn built_from(&self) -> BuiltFrom {
        BuiltFrom {
            runtime: self.runtime.clone(),
            python_version: self.python_version.clone(),
            template: self.template.clone(),
            requirements: self.packages.clone(),
            pins: self.locked.as_ref().map(|locked| {
                locked
                    .iter()
                    .map(|p| format!("{}=={}", p.name, p.version))
                    .collect()
            }),
            env: self.env.clone(),
            system_site_packages: self.system_site_packages,
            pip: self.pip,
            conda: self.conda.as_deref().map(CondaSpec::built),
        }
    }

    /// A short hash of [`Self::built_from`], kept in the marker for tools
    /// that compare environments at a glance. The planner compares the
    /// fields themselves, so that reasons can name what changed.
    pub fn spec_hash(&self) -> String {
        let text = serde_json::to_string(&self.built_from()).unwrap_or_default();
        let digest = Sha256::digest(text.as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

/// Where the interpreters of `source = "system"` runtimes come from.
#[derive(Debug, Clone, Copy)]
pub enum Interpreters<'a> {
    /// Discovery on this machine (its cache usually answers).
    Discover,
    /// A fixed list (the planner fixtures describe one).
    Given(&'a [discover::Interpreter]),
}

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
        code("plan::embeddable-not-windows"),
        help(
            "the python.org embeddable zip runs only on Windows; use `source = \"standalone\"` with the same `version` here"
        )
    )]
    EmbeddableNotWindows { name: String },

    #[error("runtime `{name}` ({source_kind}) needs {what}")]
    #[diagnostic(code("plan::runtime-incomplete"))]
    Incomplete {
        name: String,
        source_kind: String,
        what: String,
        #[help]
        help: Option<String>,
    },

    #[error("beep-python.lock is out of date with the manifest:\n{}", lines.iter().map(|l| format!("  - {l}")).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(
        code("lock::stale"),
        help("run `beep-python lock` and commit the result; `--frozen` applies the lock as it is")
    )]
    LockStale { lines: Vec<String> },

    #[error("`{}` does not exist", path.display())]
    #[diagnostic(
        code("lock::missing"),
        help("run `beep-python lock` and commit `beep-python.lock` next to the manifest")
    )]
    NoLock { path: PathBuf },

    #[error("environment `{name}` is not in beep-python.lock")]
    #[diagnostic(
        code("lock::not-locked"),
        help("run `beep-python lock`; `--frozen` installs only what the lock names")
    )]
    NotInLock { name: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Pylock(#[from] lockfile::PylockError),

    #[error(
        "environment `{name}` has no entry in beep-python.lock, and `settings.installer` is `native`"
    )]
    #[diagnostic(
        code("plan::native-needs-lock"),
        help(
            "the native installer installs exactly what the lock pins: run `beep-python lock` (uv or pip resolve it), or set `installer = \"auto\"`"
        )
    )]
    NativeNeedsLock { name: String },

    #[error("conda environment `{name}`")]
    #[diagnostic(code("plan::conda"))]
    Conda {
        name: String,
        #[source]
        #[diagnostic_source]
        source: crate::conda::CondaError,
    },
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
    /// `[moved]`: environments renamed, `(old name, new name)`.
    pub moved: Vec<(String, String)>,
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
    let mut inputs = vec![
        ("runtime", env.runtime.clone()),
        ("runtime-source", source.to_string()),
        ("runtime-version", version),
        ("runtime-path", path),
        ("runtime-url", url),
        ("kind", kind.to_string()),
    ];
    // Only conda environments have these, and only environments with
    // `pylock` that: every other environment's hash stays what older locks
    // recorded.
    if env.kind == EnvironmentKind::Conda {
        inputs.push(("channels", env.channels.join("\n")));
        inputs.push(("pypi-packages", env.pypi_packages.join("\n")));
    }
    if let Some(pylock) = env.pylock.as_deref() {
        inputs.push(("pylock", lockfile::pylock::digest(pylock)));
    }
    let inputs: Vec<(&str, &str)> = inputs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    lockfile::inputs_hash(&env.packages, &inputs)
}

/// Every environment and managed runtime of the manifest, as it should be.
pub fn build(
    manifest: &Manifest,
    home: &Home,
    lock: &LockUse,
    interpreters: Interpreters<'_>,
) -> Result<Desired, Vec<DesiredError>> {
    build_scoped(manifest, home, lock, interpreters, None)
}

/// [`build`] for one environment and its runtime only (`run`'s check):
/// another environment's missing runtime is not this one's problem.
pub fn build_one(
    manifest: &Manifest,
    home: &Home,
    lock: &LockUse,
    interpreters: Interpreters<'_>,
    environment: &str,
) -> Result<Desired, Vec<DesiredError>> {
    build_scoped(manifest, home, lock, interpreters, Some(environment))
}

fn build_scoped(
    manifest: &Manifest,
    home: &Home,
    lock: &LockUse,
    interpreters: Interpreters<'_>,
    only: Option<&str>,
) -> Result<Desired, Vec<DesiredError>> {
    let mut resolved = resolve::resolve(manifest, home.root());
    if let Some(name) = only {
        resolved.retain(|env| env.name == name);
    }
    let mut errors = Vec::new();
    let mut stale = Vec::new();
    // Only what the manifest needs is probed: runtimes named by `path`
    // need their own folders only (the discovery cache answers for them
    // after the first run); a version request needs the whole machine.
    let system_runtimes: Vec<&Runtime> = resolved
        .iter()
        .filter_map(|env| manifest.runtimes.get(&env.runtime))
        .filter(|r| r.source == RuntimeSource::System)
        .collect();
    let needs_everything = system_runtimes.iter().any(|r| r.path.is_none());
    let path_dirs: Vec<PathBuf> = system_runtimes
        .iter()
        .filter_map(|r| r.path.as_ref())
        .filter_map(|p| Path::new(&p.value).parent().map(Path::to_path_buf))
        .collect();
    let (interpreters, probes_run) = if let Interpreters::Given(given) = interpreters {
        (given.to_vec(), 0)
    } else if needs_everything || !path_dirs.is_empty() {
        let mut options = if needs_everything {
            DiscoverOptions::from_process_env(home.root())
        } else {
            DiscoverOptions {
                cache_path: Some(home.cache_dir().join("interpreters.json")),
                ..DiscoverOptions::default()
            }
        };
        // Planning never creates the home: without one, no cache is kept.
        if !home.root().is_dir() {
            options.cache_path = None;
        }
        // Runtimes given by path: scan their folders too, so that the
        // discovery cache answers for them as well.
        for dir in path_dirs {
            if !options.system_dirs.iter().any(|(_, d)| *d == dir) {
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
        if runtime.source == RuntimeSource::System
            || only.is_some() && !resolved.iter().any(|env| env.runtime == *name)
        {
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
        match runtime::managed_spec(manifest, home, name, runtime, locked, &mut catalog) {
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
            let runtime = manifest.runtimes.get(&env.runtime);
            let locked = locked_conda(lock, env, runtime, &mut stale, &mut errors);
            match conda::env_spec(manifest, env, runtime, locked) {
                Ok(spec) => specs.push(spec),
                Err(e) => errors.push(e),
            }
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
    // `pylock = "FILE"`: the file's pins are the environment's packages,
    // and, when beep-python.lock has no entry that applies, its lock.
    for spec in &mut specs {
        let Some(path) = resolved
            .iter()
            .find(|e| e.name == spec.name)
            .and_then(|e| e.pylock.as_ref())
        else {
            continue;
        };
        match lockfile::pylock::read_pins(path, &spec.python_version) {
            Ok(pins) => {
                spec.packages = pins
                    .iter()
                    .map(|p| format!("{}=={}", p.name, p.version))
                    .collect();
                if spec.locked.is_none() {
                    spec.locked = Some(pins);
                }
            }
            Err(e) => errors.push(e.into()),
        }
    }
    // Pins resolved for another Python series may not install on this one
    // (a teammate's system interpreter is 3.12, the lock was made on 3.11).
    if let (Some(l), false) = (lock.lock(), lock.frozen()) {
        let series = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
        for spec in &mut specs {
            let Some(entry) = l.environments.get(&spec.name) else {
                continue;
            };
            if spec.conda.is_some() {
                continue; // its lock pins its own python
            }
            if spec.locked.is_some()
                && series(&entry.python_version) != series(&spec.python_version)
            {
                stale.push(format!(
                    "environment `{}`: locked for Python {}, but its runtime here is {}",
                    spec.name, entry.python_version, spec.python_version
                ));
                spec.locked = None;
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
    if let (Some(l), None) = (lock.lock(), only) {
        for name in l.environments.keys() {
            if !resolved.iter().any(|e| &e.name == name) {
                stale.push(format!(
                    "environment `{name}`: in the lock, but no longer in the manifest"
                ));
            }
        }
    }
    if manifest.settings.installer == crate::manifest::Installer::Native {
        for spec in specs
            .iter()
            .filter(|s| s.locked.is_none() && (s.conda.is_none() || !s.packages.is_empty()))
        {
            errors.push(DesiredError::NativeNeedsLock {
                name: spec.name.clone(),
            });
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
            moved: manifest
                .moved
                .iter()
                .filter_map(|(from, to)| {
                    Some((
                        from.value.strip_prefix("env.")?.to_string(),
                        to.value.strip_prefix("env.")?.to_string(),
                    ))
                })
                .collect(),
        })
    } else {
        Err(errors)
    }
}

fn env_spec(
    env: &ResolvedEnvironment,
    interpreter: &Path,
    python_version: &str,
    implementation: &str,
    locked: Option<Vec<LockedPackage>>,
) -> EnvSpec {
    EnvSpec {
        name: env.name.clone(),
        path: env.path.clone(),
        kind: env.kind,
        runtime: env.runtime.clone(),
        interpreter: interpreter.to_path_buf(),
        python_version: python_version.to_string(),
        implementation: implementation.to_string(),
        template: env.templates.first().cloned(),
        packages: env.packages.clone(),
        env: env.env.clone(),
        system_site_packages: env.system_site_packages,
        pip: env.pip,
        locked,
        conda: None,
    }
}

/// The lock's entry for the conda environment `env`, when it still applies
/// (same inputs, this machine's platform); a stale one is listed in `stale`.
fn locked_conda(
    lock: &LockUse,
    env: &ResolvedEnvironment,
    runtime: Option<&Runtime>,
    stale: &mut Vec<String>,
    errors: &mut Vec<DesiredError>,
) -> Option<conda::LockedConda> {
    let l = lock.lock()?;
    let Some(entry) = l.environments.get(&env.name) else {
        if lock.frozen() {
            errors.push(DesiredError::NotInLock {
                name: env.name.clone(),
            });
        } else {
            stale.push(format!("environment `{}`: not in the lock", env.name));
        }
        return None;
    };
    let Some(locked) = &entry.conda else {
        stale.push(format!(
            "environment `{}`: locked as a venv, but it is a conda environment",
            env.name
        ));
        return None;
    };
    if !lock.frozen() && entry.inputs_hash != env_inputs_hash(env, runtime) {
        stale.push(format!(
            "environment `{}`: its packages, channels or runtime changed since the lock was written",
            env.name
        ));
        return None;
    }
    let here = crate::conda::Platform::current().map(|p| p.to_string());
    if here.as_deref() != Some(locked.platform.as_str()) {
        stale.push(format!(
            "environment `{}`: locked for `{}`, but this machine is `{}`",
            env.name,
            locked.platform,
            here.as_deref().unwrap_or("not a conda platform")
        ));
        return None;
    }
    Some(conda::LockedConda {
        packages: locked.packages.clone(),
        pypi: entry.packages.clone(),
    })
}

/// The canonical path of the manifest: what the registry and markers record
/// as the owner.
pub fn owner_of(manifest_path: &Path) -> PathBuf {
    fs_err::canonicalize(manifest_path).unwrap_or_else(|_| manifest_path.to_path_buf())
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
