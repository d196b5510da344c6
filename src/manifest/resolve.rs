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
//!   winning; `system-site-packages` likewise;
//! - a conda environment (`kind = "conda"`) takes no template or profile
//!   (validation refuses them): its `packages` are conda match specs, its
//!   `channels` and `pypi-packages` its own, and its runtime only the one
//!   it names (a conda environment brings its own python).

use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// PEP 508 requirement strings, in the order described above; for a
    /// conda environment, its conda match specs.
    pub packages: Vec<String>,
    /// A conda environment's channels, as written (empty: the settings'
    /// defaults).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// A conda environment's PEP 508 requirements, installed after its
    /// conda packages.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pypi_packages: Vec<String>,
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

/// The runtime each template gives the environments that use it (its own,
/// else the nearest in its `extends` chain), computed for all templates in
/// one pass: each template is looked at once, however long the chains, so
/// that asking for every environment of a large manifest stays linear.
/// Templates in a cycle or extending an unknown name without a runtime map
/// to `None` (validation reports those).
pub fn template_runtimes(manifest: &Manifest) -> HashMap<&str, Option<&str>> {
    let mut known: HashMap<&str, Option<&str>> = HashMap::with_capacity(manifest.templates.len());
    for start in manifest.templates.keys() {
        // Walk up until a template whose answer is known or that has a
        // runtime; everything walked over gets that answer.
        let mut walked: Vec<&str> = Vec::new();
        let mut on_walk: HashSet<&str> = HashSet::new();
        let mut current = Some(start.as_str());
        let answer = loop {
            let Some(name) = current else { break None };
            if let Some(answer) = known.get(name) {
                break *answer;
            }
            let Some(template) = manifest.templates.get(name) else {
                break None;
            };
            if !on_walk.insert(name) {
                break None; // a cycle
            }
            walked.push(name);
            if let Some(runtime) = &template.runtime {
                break Some(runtime.value.as_str());
            }
            current = template.extends.as_ref().map(|e| e.value.as_str());
        };
        for name in walked {
            known.insert(name, answer);
        }
    }
    known
}

/// [`runtime_of`] with the answers of [`template_runtimes`] at hand.
pub fn runtime_with<'a>(
    manifest: &'a Manifest,
    env: &'a Environment,
    templates: &HashMap<&'a str, Option<&'a str>>,
) -> Option<&'a str> {
    if let Some(r) = &env.runtime {
        return Some(&r.value);
    }
    if let Some(template) = &env.template
        && let Some(Some(runtime)) = templates.get(template.value.as_str())
    {
        return Some(runtime);
    }
    manifest.default_runtime().map(|r| r.value.as_str())
}

/// Where an environment lives: its `path` relative to the manifest's folder
/// (`~` and `~/...` are the user's home folder, as a shell expands them), or
/// `<home>/environments/<name>`. Normalized lexically, without touching the
/// disk, so that it can be compared before anything exists. The manifest
/// must have passed validation, which refuses the paths [`expand_path`]
/// cannot expand.
pub fn environment_path(manifest: &Manifest, env: &Environment, home: &Path) -> PathBuf {
    match &env.path {
        Some(p) => expand_path(&p.value, &manifest.dir)
            .unwrap_or_else(|_| normalize(&manifest.dir.join(p.value.trim()))),
        None => normalize(&home.join("environments").join(&env.name.value)),
    }
}

/// Why a `path` written in the manifest cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// `~user/...`: another user's home folder.
    OtherUser(String),
    /// `~` with neither `HOME` nor `USERPROFILE` set.
    NoUserHome,
}

/// A `path` as written, made absolute: `~` alone or followed by a separator
/// is the user's home folder (from `HOME`, or `USERPROFILE` on Windows), as a
/// shell expands it; anything else is relative to `dir` (the manifest's
/// folder). `~user` forms are refused rather than guessed, and so is `~`
/// without a home: neither ever becomes a folder literally named `~`.
pub fn expand_path(raw: &str, dir: &Path) -> Result<PathBuf, PathProblem> {
    let raw = raw.trim();
    let Some(after) = raw.strip_prefix('~') else {
        return Ok(normalize(&dir.join(raw)));
    };
    let rest = match after.chars().next() {
        None => "",
        Some(c) if std::path::is_separator(c) => &after[c.len_utf8()..],
        Some(_) => {
            let user = after.split(std::path::is_separator).next().unwrap_or(after);
            return Err(PathProblem::OtherUser(user.to_string()));
        }
    };
    let home = user_home().ok_or(PathProblem::NoUserHome)?;
    Ok(normalize(&home.join(rest)))
}

/// The user's home folder, as `~` means it: `HOME`, else (on Windows)
/// `USERPROFILE`; `None` when neither is set.
pub fn user_home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
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

    // Sets beside the lists keep first-seen order without a quadratic
    // `contains` over long template chains.
    let mut profiles: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for name in chain
        .iter()
        .rev()
        .flat_map(|t| t.profiles.iter())
        .chain(env.profiles.iter())
    {
        if seen.insert(&name.value) {
            profiles.push(name.value.clone());
        }
    }

    let mut packages: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut add = |req: &str| {
        let req = req.trim();
        if !seen.contains(req) {
            seen.insert(req.to_string());
            packages.push(req.to_string());
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
        // A conda environment brings its own python: only a runtime it
        // names itself constrains it, never a default.
        runtime: match env.kind {
            EnvironmentKind::Venv => runtime_of(manifest, env).unwrap_or_default().to_string(),
            EnvironmentKind::Conda => env
                .runtime
                .as_ref()
                .map(|r| r.value.clone())
                .unwrap_or_default(),
        },
        channels: env
            .channels
            .iter()
            .map(|c| c.value.trim().to_string())
            .collect(),
        pypi_packages: env
            .pypi_packages
            .iter()
            .map(|r| r.value.trim().to_string())
            .collect(),
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

/// What the settings say about conda channels: the alias, the default
/// channels, the mirrors, and the manifest's folder (folder channels are
/// relative to it). An alias or mirror that is not a URL is left out here;
/// validation reports it.
pub fn conda_channel_settings(manifest: &Manifest) -> crate::conda::ChannelSettings {
    let settings = &manifest.settings;
    let url = |text: &str| url::Url::parse(text.trim()).ok();
    crate::conda::ChannelSettings {
        alias: settings
            .conda_channel_alias
            .as_ref()
            .and_then(|a| url(&a.value)),
        default_channels: settings
            .conda_channels
            .iter()
            .map(|c| c.value.trim().to_string())
            .collect(),
        mirrors: settings
            .conda_mirrors
            .iter()
            .filter_map(|(original, mirror)| {
                Some(crate::conda::Mirror {
                    original: url(original)?,
                    mirror: url(&mirror.value)?,
                })
            })
            .collect(),
        root_dir: manifest.dir.clone(),
    }
}
