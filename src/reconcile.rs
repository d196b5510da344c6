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
use crate::installer;
use crate::manifest::resolve::{self, ResolvedEnvironment};
use crate::manifest::{EnvironmentKind, Manifest, RuntimeSource};
use crate::plan::{self, Change, EnvSpec, Problem};
use crate::registry::{Home, Registry};
use crate::runtimes::{self, SystemRuntimeError};
use crate::venv::{self, Observed};

/// Why the desired state cannot be built.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DesiredError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    System(#[from] SystemRuntimeError),

    #[error(
        "runtime `{name}` uses `source = \"{source_kind}\"`, which this beep-python cannot provision yet"
    )]
    #[diagnostic(
        code(plan::unsupported_source),
        help(
            "downloading interpreters is being built; for now use `source = \"system\"` with a `version` specifier or a `path`"
        )
    )]
    UnsupportedSource { name: String, source_kind: String },

    #[error("environment `{name}` has `kind = \"conda\"`, which this beep-python cannot build yet")]
    #[diagnostic(
        code(plan::unsupported_kind),
        help("use `kind = \"venv\"` (the default)")
    )]
    Conda { name: String },
}

/// Every environment of the manifest, as it should be, and how many
/// interpreters discovery had to run to know it (0 when its cache answered).
pub fn desired_state(
    manifest: &Manifest,
    home: &Home,
) -> Result<(Vec<EnvSpec>, usize), Vec<DesiredError>> {
    let resolved = resolve::resolve(manifest, home.root());
    let mut errors = Vec::new();
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
        if !chosen.contains_key(&env.runtime) {
            if reported.contains(&env.runtime) {
                continue;
            }
            let result = match runtime.source {
                RuntimeSource::System => {
                    runtimes::select_system(runtime, &interpreters).map_err(DesiredError::from)
                }
                other => Err(DesiredError::UnsupportedSource {
                    name: env.runtime.clone(),
                    source_kind: other.as_str().to_string(),
                }),
            };
            match result {
                Ok(interpreter) => {
                    chosen.insert(env.runtime.clone(), interpreter);
                }
                Err(e) => {
                    reported.push(env.runtime.clone());
                    errors.push(e);
                    continue;
                }
            }
        }
        let interpreter = &chosen[&env.runtime];
        specs.push(env_spec(env, interpreter));
    }
    if errors.is_empty() {
        Ok((specs, probes_run))
    } else {
        Err(errors)
    }
}

fn env_spec(env: &ResolvedEnvironment, interpreter: &discover::Interpreter) -> EnvSpec {
    let mut spec = EnvSpec {
        name: env.name.clone(),
        path: env.path.clone(),
        kind: env.kind,
        runtime: env.runtime.clone(),
        interpreter: interpreter.real_path.clone(),
        python_version: interpreter.version.clone(),
        implementation: interpreter.implementation.clone(),
        packages: env.packages.clone(),
        env: env.env.clone(),
        system_site_packages: env.system_site_packages,
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
    desired: &[EnvSpec],
    registry: &Registry,
    targets: &[String],
) -> Result<Vec<Change>, Vec<Problem>> {
    let observed = observe_all(desired, registry);
    plan::diff(&plan::Inputs {
        owner,
        desired,
        registry,
        observed: &observed,
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
