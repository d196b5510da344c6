//! Managed runtimes in the desired state: which build (catalog, lock,
//! `url`), from where (mirrors), into which folder.

use crate::fetch;
use crate::lockfile::LockedRuntime;
use crate::manifest::{Manifest, Runtime, RuntimeSource};
use crate::provision::catalog::{self, Catalog};
use crate::provision::platform::Platform;
use crate::provision::{self, RuntimeSpec, embeddable};
use crate::registry::Home;

use super::DesiredError;

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

/// Where a managed runtime comes from and where it goes. The catalog is
/// loaded once, on first need.
pub(super) fn managed_spec(
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
    // The lock names the build: no catalog needed (and none consulted, so
    // a refreshed catalog does not move a locked runtime).
    let pinned = locked.and_then(|l| Some((l.version.clone(), l.url.clone()?, l.sha256.clone()?)));
    let (python_version, upstream_url, sha256) = match (pinned, runtime.source) {
        (Some(pinned), _) => pinned,
        (None, RuntimeSource::Standalone) => {
            let catalog = match catalog {
                Some(catalog) => catalog,
                None => catalog.insert(match &settings.python_downloads {
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
                }),
            };
            let download = catalog.find(&version, &platform)?;
            (
                download.version.clone(),
                download.url.clone(),
                download.sha256.clone(),
            )
        }
        (None, RuntimeSource::Url) => {
            let url = runtime.url.as_ref().map(|u| u.value.clone());
            let sha = runtime.sha256.as_ref().map(|s| s.value.clone());
            match (url, sha) {
                (Some(url), Some(sha)) => (version, url, sha),
                _ => return Err(incomplete("a `url` and its `sha256`", None)),
            }
        }
        (None, RuntimeSource::Embeddable) => {
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
        (None, RuntimeSource::System) => {
            return Err(incomplete(
                "an interpreter on this machine, not a download",
                Some("system runtimes are chosen by discovery"),
            ));
        }
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
