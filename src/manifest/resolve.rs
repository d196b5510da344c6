//! Pass 3: what each environment should be, with templates, profiles and
//! defaults folded in.
//!
//! The rules (issue #2):
//!
//! - an environment takes its template chain (`extends`, nearest first);
//! - its runtime is the first of: its own `runtime`, the nearest template's
//!   `runtime`, `settings.default-runtime`, the runtime marked `default`;
//! - its packages are its profiles' (the template chain's profiles from the
//!   root down, then its own), then the template chain's packages from the
//!   root down, then its own. Two constraints on one package are both kept,
//!   as pip does; only identical strings are dropped;
//! - env vars are merged from the root template down, the environment
//!   winning; `system-site-packages` likewise.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{Environment, EnvironmentKind, Manifest};

/// One environment as it should be.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResolvedEnvironment {
    pub name: String,
    pub path: PathBuf,
    pub kind: EnvironmentKind,
    pub runtime: String,
    /// The template chain, nearest first.
    pub templates: Vec<String>,
    pub profiles: Vec<String>,
    /// PEP 508 requirement strings, in the order described above.
    pub packages: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub system_site_packages: bool,
    /// pip is seeded: the environment's `pip`, else its nearest template's,
    /// else `settings.pip`, else true.
    pub pip: bool,
    /// `pylock`, resolved against the manifest's folder: the packages are
    /// this file's pins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pylock: Option<PathBuf>,
}

/// The runtime an environment resolves to, if any.
pub fn runtime_of<'a>(manifest: &'a Manifest, env: &'a Environment) -> Option<&'a str> {
    if let Some(r) = &env.runtime {
        return Some(&r.value);
    }
    if let Some(template) = &env.template {
        for t in manifest.template_chain(&template.value) {
            if let Some(r) = &t.runtime {
                return Some(&r.value);
            }
        }
    }
    manifest.default_runtime().map(|r| r.value.as_str())
}

/// Where an environment lives: its `path` relative to the manifest's folder
/// (`~/` is the user's home), or `<home>/environments/<name>`. Normalized
/// lexically, without touching the disk, so that it can be compared before
/// anything exists.
pub fn environment_path(manifest: &Manifest, env: &Environment, home: &Path) -> PathBuf {
    match &env.path {
        Some(p) => {
            let raw = p.value.trim();
            let joined = match raw.strip_prefix("~/") {
                Some(rest) => user_home().join(rest),
                None => manifest.dir.join(raw),
            };
            normalize(&joined)
        }
        None => normalize(&home.join("environments").join(&env.name.value)),
    }
}

fn user_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Removes `.` and resolves `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Resolves every environment. The manifest must have passed validation.
pub fn resolve(manifest: &Manifest, home: &Path) -> Vec<ResolvedEnvironment> {
    manifest
        .environments
        .values()
        .map(|env| resolve_one(manifest, env, home))
        .collect()
}

fn resolve_one(manifest: &Manifest, env: &Environment, home: &Path) -> ResolvedEnvironment {
    let chain = env
        .template
        .as_ref()
        .map(|t| manifest.template_chain(&t.value))
        .unwrap_or_default();

    let mut profiles: Vec<String> = Vec::new();
    for name in chain
        .iter()
        .rev()
        .flat_map(|t| t.profiles.iter())
        .chain(env.profiles.iter())
    {
        if !profiles.contains(&name.value) {
            profiles.push(name.value.clone());
        }
    }

    let mut packages: Vec<String> = Vec::new();
    let mut add = |req: &str| {
        let req = req.trim().to_string();
        if !packages.contains(&req) {
            packages.push(req);
        }
    };
    for profile in &profiles {
        if let Some(p) = manifest.profiles.get(profile) {
            p.packages.iter().for_each(|r| add(&r.value));
        }
    }
    for t in chain.iter().rev() {
        t.packages.iter().for_each(|r| add(&r.value));
    }
    env.packages.iter().for_each(|r| add(&r.value));

    let mut vars = BTreeMap::new();
    let mut system_site_packages = false;
    for t in chain.iter().rev() {
        for (k, v) in &t.env {
            vars.insert(k.clone(), v.value.clone());
        }
        if let Some(s) = t.system_site_packages {
            system_site_packages = s;
        }
    }
    for (k, v) in &env.env {
        vars.insert(k.clone(), v.value.clone());
    }
    if let Some(s) = env.system_site_packages {
        system_site_packages = s;
    }

    let pip = env
        .pip
        .or_else(|| chain.iter().find_map(|t| t.pip))
        .or(manifest.settings.pip.as_ref().map(|p| p.value))
        .unwrap_or(true);

    ResolvedEnvironment {
        pip,
        name: env.name.value.clone(),
        path: environment_path(manifest, env, home),
        kind: env.kind,
        runtime: runtime_of(manifest, env).unwrap_or_default().to_string(),
        templates: chain.iter().map(|t| t.name.value.clone()).collect(),
        profiles,
        packages,
        env: vars,
        system_site_packages,
        pylock: env
            .pylock
            .as_ref()
            .map(|p| normalize(&manifest.dir.join(p.value.trim()))),
    }
}
