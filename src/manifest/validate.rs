//! Pass 2: the rules that span keys and tables.
//!
//! Runs on the typed [`Manifest`] that [`super::parse`] built and adds every
//! problem it finds: undefined references (with "did you mean"), `extends`
//! cycles, PEP 440 versions and specifiers, PEP 508 requirements, runtime
//! sources and their required keys, checksums, URLs (no plain `http://`
//! except to loopback), `find-links` folders that do not exist, several
//! defaults, environments without a runtime; and for each environment's
//! folder: a `path` that cannot be expanded (`~user`), one too long for any
//! file system, one in beep-python's own files (the home, except its
//! `environments/`), one around the user's home or the manifest, two
//! environments in one folder or one inside another; and warnings for
//! definitions nothing uses and for environments that differ only in case.
//! Conda environments: match specs, channels (URLs by the same network
//! rule, folders that exist), the keys only venvs take, and a `runtime`
//! whose version their `python` spec must admit.
//!
//! `plan` and `apply` load the manifest through the same checks, so
//! whatever is caught here never reaches the disk.
//!
//! Every check is linear in the size of the manifest (hash maps, one walk
//! over each `extends` chain, no recursion), so that 10,000 environments or
//! a chain 5,000 templates deep validate in well under a second
//! (`bench/scale.sh`).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

use super::{Environment, Manifest, RuntimeSource, Spanned, builtin, resolve, schema};
use crate::diagnostic::{Diagnostic, Diagnostics, suggestion};

pub fn validate(manifest: &Manifest, home: &Path, diagnostics: &mut Diagnostics) {
    let runtimes = Known::new(manifest.runtimes.keys());
    let profiles = Known::new(manifest.profiles.keys());
    let templates = Known::new(manifest.templates.keys());

    // Settings.
    let settings = &manifest.settings;
    let insecure_ok = settings.allow_insecure_http;
    if let Some(name) = &settings.default_runtime {
        check_reference(
            "runtime",
            name,
            &runtimes,
            "`settings.default-runtime`",
            diagnostics,
        );
    }
    for (key, value) in [
        ("python-mirror", &settings.python_mirror),
        ("python-downloads", &settings.python_downloads),
    ] {
        if let Some(value) = value {
            check_location(value, key, Allow::FileOrUrl, insecure_ok, diagnostics);
        }
    }
    if let Some(index) = &settings.index_url {
        check_location(index, "index-url", Allow::UrlOnly, insecure_ok, diagnostics);
    }
    for link in &settings.find_links {
        check_location(
            link,
            "find-links",
            Allow::FileOrUrl,
            insecure_ok,
            diagnostics,
        );
        check_find_links_exist(link, &manifest.dir, diagnostics);
    }

    check_conda_settings(manifest, diagnostics);

    // Runtimes.
    let defaults: Vec<&Spanned<bool>> = manifest
        .runtimes
        .values()
        .filter_map(|r| r.default.as_ref().filter(|d| d.value))
        .collect();
    if defaults.len() > 1 {
        let mut d = Diagnostic::error(
            "manifest::multiple-defaults",
            format!("{} runtimes are marked `default = true`", defaults.len()),
        )
        .help("mark at most one runtime as the default, or set `settings.default-runtime`");
        for (i, default) in defaults.iter().enumerate() {
            d = d.label(
                default.span.clone(),
                if i == 0 {
                    "first default"
                } else {
                    "another default"
                },
            );
        }
        diagnostics.push(d);
    }
    for runtime in manifest.runtimes.values() {
        check_runtime(runtime, settings.allow_insecure_http, diagnostics);
    }
    if let (Some(setting), Some(marked)) = (
        &settings.default_runtime,
        manifest
            .runtimes
            .values()
            .find(|r| r.default.as_ref().is_some_and(|d| d.value)),
    ) && setting.value != marked.name.value
    {
        diagnostics.push(
            Diagnostic::warning(
                "manifest::default-ignored",
                format!(
                    "runtime `{}` is marked `default = true`, but `settings.default-runtime` is `{}`",
                    marked.name.value, setting.value
                ),
            )
            .label(
                marked.default.as_ref().and_then(|d| d.span.clone()),
                "ignored",
            )
            .label(setting.span.clone(), "this one wins")
            .help("remove one of the two"),
        );
    }

    // Profiles.
    for profile in manifest.profiles.values() {
        check_requirements(&profile.packages, diagnostics);
    }

    // Templates.
    for template in manifest.templates.values() {
        let context = format!("template `{}`", template.name.value);
        if let Some(extends) = &template.extends {
            check_reference("template", extends, &templates, &context, diagnostics);
        }
        if let Some(runtime) = &template.runtime {
            check_reference("runtime", runtime, &runtimes, &context, diagnostics);
        }
        for profile in &template.profiles {
            check_reference("profile", profile, &profiles, &context, diagnostics);
        }
        check_requirements(&template.packages, diagnostics);
        check_env_vars(&template.env, diagnostics);
    }
    check_cycles(manifest, diagnostics);

    // Environments.
    let template_runtimes = resolve::template_runtimes(manifest);
    for env in manifest.environments.values() {
        let context = format!("environment `{}`", env.name.value);
        if let Some(template) = &env.template {
            check_reference("template", template, &templates, &context, diagnostics);
        }
        if let Some(runtime) = &env.runtime {
            check_reference("runtime", runtime, &runtimes, &context, diagnostics);
        }
        for profile in &env.profiles {
            check_reference("profile", profile, &profiles, &context, diagnostics);
        }
        check_env_vars(&env.env, diagnostics);
        match env.kind {
            super::EnvironmentKind::Venv => {
                check_requirements(&env.packages, diagnostics);
                check_venv_has_no_conda_keys(env, &context, diagnostics);
            }
            super::EnvironmentKind::Conda => {
                check_conda_environment(manifest, env, &context, diagnostics);
            }
        }
        if let Some(path) = &env.path
            && path.value.trim().is_empty()
        {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-path",
                    format!("{context} has an empty `path`"),
                )
                .label(path.span.clone(), "empty path")
                .help("remove `path` to use the default location, or give a folder"),
            );
        }
        if env.kind == super::EnvironmentKind::Venv
            && resolve::runtime_with(manifest, env, &template_runtimes).is_none()
        {
            let help = match runtimes.names.as_slice() {
                [] => "declare a runtime under `[runtimes.NAME]` and name it with `runtime = \"NAME\"`".to_string(),
                [only] => format!("add `runtime = \"{only}\"`, or set `settings.default-runtime = \"{only}\"`"),
                _ => "add `runtime = \"NAME\"` to the environment or its template, or set `settings.default-runtime`".to_string(),
            };
            diagnostics.push(
                Diagnostic::error("manifest::no-runtime", format!("{context} has no runtime"))
                    .label(
                        env.name.span.clone(),
                        "no runtime resolves for this environment",
                    )
                    .help(help),
            );
        }
    }
    check_paths(manifest, home, diagnostics);
    check_moved(manifest, diagnostics);
    check_vscode(manifest, diagnostics);
    check_pylock(manifest, diagnostics);
    check_unused(manifest, diagnostics);
}

/// `pylock = "FILE"`: the file is the environment's whole package set, so
/// no package may come from anywhere else (its own `packages` and
/// `profiles`, or its templates').
fn check_pylock(manifest: &Manifest, diagnostics: &mut Diagnostics) {
    for env in manifest.environments.values() {
        let Some(pylock) = &env.pylock else {
            continue;
        };
        if env.kind == super::EnvironmentKind::Conda {
            continue; // refused as a venv-only key
        }
        if pylock.value.trim().is_empty() {
            diagnostics.push(
                Diagnostic::error("manifest::empty-pylock", "`pylock` is empty")
                    .label(pylock.span.clone(), "expected the path of a pylock.toml")
                    .help("give the file's path, relative to this manifest"),
            );
        }
        let templates = env
            .template
            .as_ref()
            .map(|t| manifest.template_chain(&t.value))
            .unwrap_or_default();
        let mut sources: Vec<String> = Vec::new();
        if !env.packages.is_empty() {
            sources.push("its own `packages`".into());
        }
        if !env.profiles.is_empty() {
            sources.push("its own `profiles`".into());
        }
        for t in templates {
            if !t.packages.is_empty() || !t.profiles.is_empty() {
                sources.push(format!("template `{}`", t.name.value));
            }
        }
        if !sources.is_empty() {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::pylock-with-packages",
                    format!(
                        "environment `{}` takes its packages from `pylock`, and also from {}",
                        env.name.value,
                        sources.join(" and ")
                    ),
                )
                .label(pylock.span.clone(), "its packages are this file's pins")
                .help("add the packages to the pylock.toml (and lock it again with its tool), or drop `pylock` and list them here"),
            );
        }
    }
}

/// `vscode = true` on one environment at most: there is one
/// `.vscode/settings.json` per workspace folder.
fn check_vscode(manifest: &Manifest, diagnostics: &mut Diagnostics) {
    let mut first: Option<&str> = None;
    for env in manifest.environments.values() {
        let Some(flag) = env.vscode.as_ref().filter(|f| f.value) else {
            continue;
        };
        match first {
            None => first = Some(&env.name.value),
            Some(first) => diagnostics.push(
                Diagnostic::error(
                    "manifest::several-vscode",
                    format!(
                        "environments `{first}` and `{}` both have `vscode = true`",
                        env.name.value
                    ),
                )
                .label(flag.span.clone(), "second one")
                .help("VS Code uses one interpreter per workspace folder: keep `vscode = true` on one environment"),
            ),
        }
    }
}

/// `[moved]`: each entry renames an environment that is no longer declared
/// to one that is; an address at most once on each side.
fn check_moved(manifest: &Manifest, diagnostics: &mut Diagnostics) {
    let environments: Vec<&str> = manifest.environments.keys().map(String::as_str).collect();
    let mut seen_from: Vec<&str> = Vec::new();
    let mut seen_to: Vec<&str> = Vec::new();
    for (from, to) in &manifest.moved {
        let mut ok = true;
        for (side, address) in [("from", from), ("to", to)] {
            let valid = address
                .value
                .strip_prefix("env.")
                .is_some_and(schema::is_valid_name);
            if !valid {
                ok = false;
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::invalid-moved",
                        format!("`{}` is not an environment address", address.value),
                    )
                    .label(
                        address.span.clone(),
                        format!("expected `env.NAME` ({side})"),
                    )
                    .help("write renames as `\"env.OLD\" = \"env.NEW\"` under `[moved]`"),
                );
            }
        }
        if !ok {
            continue;
        }
        let (old, new) = (&from.value[4..], &to.value[4..]);
        if environments.contains(&old) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-moved",
                    format!("`{}` is renamed, but is still declared", from.value),
                )
                .label(from.span.clone(), "still an environment of this manifest")
                .help("remove the old `[environments.NAME]` table, or this `[moved]` entry"),
            );
        }
        if !environments.contains(&new) {
            let help = suggestion(new, environments.iter().copied())
                .unwrap_or_else(|| "the new name must be declared under `[environments]`".into());
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-moved",
                    format!("`{}` is not declared", to.value),
                )
                .label(to.span.clone(), "not an environment of this manifest")
                .help(help),
            );
        }
        for (seen, address, side) in [
            (&mut seen_from, from, "renamed from"),
            (&mut seen_to, to, "renamed to"),
        ] {
            if seen.contains(&address.value.as_str()) {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::invalid-moved",
                        format!("`{}` is {side} twice", address.value),
                    )
                    .label(address.span.clone(), "second entry")
                    .help("each environment can be renamed once per apply"),
                );
            }
            seen.push(address.value.as_str());
        }
    }
}

/// The names defined in one table, for references to check against: a set
/// to look them up (a manifest may define thousands) and the sorted list for
/// "did you mean" and help texts.
struct Known<'a> {
    names: Vec<&'a str>,
    set: HashSet<&'a str>,
}

impl<'a> Known<'a> {
    fn new(names: impl Iterator<Item = &'a String>) -> Self {
        let names: Vec<&str> = names.map(String::as_str).collect();
        let set = names.iter().copied().collect();
        Self { names, set }
    }
}

fn check_reference(
    kind: &str,
    name: &Spanned<String>,
    known: &Known<'_>,
    context: &str,
    diagnostics: &mut Diagnostics,
) {
    if known.set.contains(name.value.as_str()) {
        return;
    }
    let known = &known.names;
    let help = suggestion(&name.value, known.iter().copied()).unwrap_or_else(|| {
        if known.is_empty() {
            format!("define it under `[{kind}s.{}]`", name.value)
        } else {
            let quoted: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            format!("defined {kind}s: {}", quoted.join(", "))
        }
    });
    diagnostics.push(
        Diagnostic::error(
            match kind {
                "runtime" => "manifest::unknown-runtime",
                "profile" => "manifest::unknown-profile",
                _ => "manifest::unknown-template",
            },
            format!(
                "{context} uses {kind} `{}`, which is not defined",
                name.value
            ),
        )
        .label(name.span.clone(), format!("not a {kind}"))
        .help(help),
    );
}

fn check_runtime(runtime: &super::Runtime, insecure_ok: bool, diagnostics: &mut Diagnostics) {
    let name = &runtime.name.value;
    let written = |key: &str| runtime.ill_typed.iter().any(|k| k == key);
    let source = runtime.source;
    // Keys that mean nothing for this source are mistakes, not no-ops: a
    // `url` on a standalone runtime would silently not be downloaded.
    let not_for = |key: &str, value: &Option<Spanned<String>>, diagnostics: &mut Diagnostics| {
        if let Some(v) = value {
            let for_source = match key {
                "path" => "system",
                _ => "url",
            };
            // (`embeddable` takes `url` and `sha256` too; `url` is the
            // source they are for in the first place.)
            diagnostics.push(
                Diagnostic::error(
                    "manifest::key-not-for-source",
                    format!(
                        "`{key}` is not used by runtime `{name}` (source `{}`)",
                        source.as_str()
                    ),
                )
                .label(
                    v.span.clone(),
                    format!("only for `source = \"{for_source}\"`"),
                )
                .help(format!(
                    "remove `{key}`, or set `source = \"{for_source}\"`"
                )),
            );
        }
    };
    // With `source` itself invalid (already reported), which keys belong is
    // unknown; checking them against the default would only add noise.
    let source_known = !written("source");
    match source {
        _ if !source_known => {}
        RuntimeSource::Standalone | RuntimeSource::Embeddable => {
            not_for("path", &runtime.path, diagnostics);
            // The embeddable zip has no catalog: its digest (and, for
            // another host than python.org, its URL) come from the manifest.
            if source == RuntimeSource::Standalone {
                not_for("url", &runtime.url, diagnostics);
                not_for("sha256", &runtime.sha256, diagnostics);
            } else if let Some(url) = &runtime.url {
                check_location(url, "url", Allow::UrlOnly, insecure_ok, diagnostics);
            }
            match &runtime.version {
                Some(v) => check_release_version(v, source, diagnostics),
                None if written("version") => {}
                None => diagnostics.push(
                    Diagnostic::error(
                        "manifest::missing-key",
                        format!("runtime `{name}` has no `version`"),
                    )
                    .label(runtime.name.span.clone(), "needs `version`")
                    .help("add `version = \"3.12\"` (the newest 3.12.x) or an exact one such as `version = \"3.12.4\"`"),
                ),
            }
        }
        RuntimeSource::System => {
            not_for("url", &runtime.url, diagnostics);
            not_for("sha256", &runtime.sha256, diagnostics);
            match (&runtime.version, &runtime.path) {
                (None, None) if written("version") || written("path") => {}
                (None, None) => diagnostics.push(
                    Diagnostic::error(
                        "manifest::missing-key",
                        format!("system runtime `{name}` has neither `version` nor `path`"),
                    )
                    .label(runtime.name.span.clone(), "needs `version` or `path`")
                    .help("add `version = \">=3.10\"` to pick the best interpreter found, or `path = \"/usr/bin/python3\"`"),
                ),
                (Some(v), _) => check_specifier(v, diagnostics),
                (None, Some(_)) => {}
            }
            if let Some(path) = &runtime.path
                && path.value.trim().is_empty()
            {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::invalid-path",
                        format!("runtime `{name}` has an empty `path`"),
                    )
                    .label(path.span.clone(), "empty path"),
                );
            }
        }
        RuntimeSource::Url => {
            not_for("path", &runtime.path, diagnostics);
            if runtime.url.is_none() && !written("url") {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::missing-key",
                        format!("runtime `{name}` has `source = \"url\"` but no `url`"),
                    )
                    .label(runtime.source_span.clone(), "needs `url`")
                    .help("add `url = \"https://...\"` and its `sha256`"),
                );
            }
            if let Some(url) = &runtime.url {
                check_location(url, "url", Allow::UrlOnly, insecure_ok, diagnostics);
                if runtime.sha256.is_none() {
                    diagnostics.push(
                        Diagnostic::error(
                            "manifest::missing-sha256",
                            format!("runtime `{name}` downloads a `url` without a `sha256`"),
                        )
                        .label(url.span.clone(), "this download cannot be verified")
                        .help("add `sha256 = \"<64 hex digits>\"`; compute it with `sha256sum` on a copy you trust"),
                    );
                }
            }
            match &runtime.version {
                Some(v) => {
                    check_release_version(v, source, diagnostics);
                    // There is no catalog to pick "the newest 3.12.x" from:
                    // the archive holds one version, and environments are
                    // laid out for it before it is downloaded.
                    let parts = v.value.trim().split('.').count();
                    if parts == 2 && Version::from_str(v.value.trim()).is_ok() {
                        diagnostics.push(
                            Diagnostic::error(
                                "manifest::invalid-version",
                                format!("runtime `{name}` needs the exact version its archive holds"),
                            )
                            .label(v.span.clone(), "a series, not a version")
                            .help(format!("write all three parts, such as `{}.0`; `apply` checks that the interpreter reports it", v.value.trim())),
                        );
                    }
                }
                None if written("version") => {}
                None => diagnostics.push(
                    Diagnostic::error(
                        "manifest::missing-key",
                        format!("runtime `{name}` has `source = \"url\"` but no `version`"),
                    )
                    .label(runtime.name.span.clone(), "needs `version`")
                    .help("add the exact version the archive holds, such as `version = \"3.12.4\"`; `apply` checks it"),
                ),
            }
        }
    }
    if let Some(sha) = &runtime.sha256 {
        let ok = sha.value.len() == 64 && sha.value.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-sha256",
                    format!("runtime `{name}` has a `sha256` that is not 64 hex digits"),
                )
                .label(
                    sha.span.clone(),
                    format!("{} characters", sha.value.chars().count()),
                )
                .help("a SHA-256 digest is 64 characters 0-9 and a-f, as printed by `sha256sum`"),
            );
        }
    }
}

/// `3.12` or `3.12.4` (pre-releases allowed), as standalone and embeddable
/// builds are published.
fn check_release_version(
    v: &Spanned<String>,
    source: RuntimeSource,
    diagnostics: &mut Diagnostics,
) {
    let text = v.value.trim();
    let problem = match Version::from_str(text) {
        Err(e) => Some(e.to_string()),
        Ok(version) => {
            let release = version.release();
            if version.epoch() != 0 || version.is_local() || version.is_dev() || version.is_post() {
                Some("epochs, local, dev and post versions are not published".to_string())
            } else if !(2..=3).contains(&release.len()) || release[0] != 3 {
                Some("expected a Python 3 version such as `3.12` or `3.12.4`".to_string())
            } else if release.len() == 2 && version.is_pre() {
                Some("a pre-release needs all three parts, such as `3.14.0rc1`".to_string())
            } else {
                None
            }
        }
    };
    if let Some(problem) = problem {
        let help = if VersionSpecifiers::from_str(text).is_ok() {
            format!(
                "version ranges are for `source = \"system\"`; a {} runtime names one version such as `3.12` (the newest 3.12.x) or `3.12.4`",
                source.as_str()
            )
        } else {
            "write a version such as `3.12` (the newest 3.12.x) or `3.12.4`".to_string()
        };
        diagnostics.push(
            Diagnostic::error(
                "manifest::invalid-version",
                format!("`{}` is not a valid Python version", v.value),
            )
            .label(v.span.clone(), problem)
            .help(help),
        );
    }
}

/// A PEP 440 specifier (`>=3.10,<3.13`), or a plain version meaning that
/// release series (`3.11` is `==3.11.*`).
fn check_specifier(v: &Spanned<String>, diagnostics: &mut Diagnostics) {
    let text = v.value.trim();
    if Version::from_str(text).is_ok() {
        return;
    }
    if let Err(e) = VersionSpecifiers::from_str(text) {
        diagnostics.push(
            Diagnostic::error(
                "manifest::invalid-specifier",
                format!("`{}` is not a valid version specifier", v.value),
            )
            .label(v.span.clone(), first_line(&e.to_string()))
            .help("write a PEP 440 specifier such as `>=3.10,<3.13`, or a version such as `3.11`"),
        );
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
}

fn check_requirements(requirements: &[Spanned<String>], diagnostics: &mut Diagnostics) {
    for req in requirements {
        if let Some(problem) = bad_name_end(&req.value) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-requirement",
                    format!("`{}` is not a valid requirement", req.value),
                )
                .label(req.span.clone(), problem)
                .help("write a PEP 508 requirement such as `requests>=2.31` or `numpy==1.26.4`"),
            );
            continue;
        }
        if let Err(e) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(&req.value) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-requirement",
                    format!("`{}` is not a valid requirement", req.value),
                )
                .label(req.span.clone(), first_line(&e.message.to_string()))
                .help("write a PEP 508 requirement such as `requests>=2.31` or `numpy==1.26.4`"),
            );
        }
    }
}

/// pep508_rs 0.9.2 panics on a package name that ends in `.`, `-` or `_`
/// followed by anything that is not part of a name (`"a. "`, `"a-["`), so
/// that case is caught here first and reported as the parser would.
fn bad_name_end(requirement: &str) -> Option<String> {
    let trimmed = requirement.trim_start();
    let end = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(trimmed.len());
    let last = trimmed[..end].chars().last()?;
    (end < trimmed.len() && matches!(last, '.' | '-' | '_'))
        .then(|| format!("Package name must end with an alphanumeric character, not '{last}'"))
}

fn check_env_vars(env: &BTreeMap<String, Spanned<String>>, diagnostics: &mut Diagnostics) {
    for (name, value) in env {
        let valid_name = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-env-var",
                    format!("`{name}` is not a valid environment variable name"),
                )
                .label(value.span.clone(), "the value of this variable")
                .help("names use letters, digits and `_`, and do not start with a digit"),
            );
        }
        if value.value.contains('\0') {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-env-var",
                    format!("the value of `{name}` contains a NUL character"),
                )
                .label(value.span.clone(), "NUL is not allowed here"),
            );
        }
    }
}

/// Reports each `extends` cycle once, naming every template in it.
///
/// Linear in the number of templates, however long the chains: each
/// template is walked over once. A walk follows `extends` from a template
/// not yet seen, numbering what it passes; it stops at a template finished
/// by an earlier walk, or at one of its own (a cycle: the templates from
/// that one on). Iterative, so a chain of any depth cannot overflow the
/// stack.
fn check_cycles(manifest: &Manifest, diagnostics: &mut Diagnostics) {
    #[derive(Clone, Copy)]
    enum Mark {
        /// On the current walk, at this position.
        OnWalk(usize),
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::with_capacity(manifest.templates.len());
    for start in manifest.templates.keys() {
        let mut walk: Vec<&str> = Vec::new();
        let mut current = start.as_str();
        loop {
            match marks.get(current) {
                Some(Mark::Done) => break,
                Some(Mark::OnWalk(pos)) => {
                    report_cycle(manifest, &walk[*pos..], diagnostics);
                    break;
                }
                None => {
                    marks.insert(current, Mark::OnWalk(walk.len()));
                    walk.push(current);
                }
            }
            match manifest
                .templates
                .get(current)
                .and_then(|t| t.extends.as_ref())
                .map(|e| e.value.as_str())
                .filter(|next| manifest.templates.contains_key(*next))
            {
                Some(next) => current = next,
                None => break,
            }
        }
        for name in walk {
            marks.insert(name, Mark::Done);
        }
    }
}

/// One `extends` cycle, named from its alphabetically first member so that
/// the message does not depend on where the walk entered it.
fn report_cycle(manifest: &Manifest, cycle: &[&str], diagnostics: &mut Diagnostics) {
    let Some(first) = cycle.iter().min().copied() else {
        return;
    };
    let rotate = cycle.iter().position(|c| *c == first).unwrap_or(0);
    let mut names: Vec<&str> = cycle[rotate..].to_vec();
    names.extend_from_slice(&cycle[..rotate]);
    names.push(first);
    let chain = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(" -> ");
    let mut d = Diagnostic::error(
        "manifest::extends-cycle",
        format!("templates extend each other in a cycle: {chain}"),
    )
    .help("remove one `extends` so the chain ends");
    for name in &names[..names.len() - 1] {
        let span = manifest.templates[*name]
            .extends
            .as_ref()
            .and_then(|e| e.span.clone());
        d = d.label(span, format!("`{name}` extends this"));
    }
    diagnostics.push(d);
}

/// Where each environment would live, checked on its own (a path that can
/// be expanded and that file systems can hold, not in beep-python's own
/// files, not around the user's home or the manifest), then against the
/// others (one folder each, none inside another, no two differing only in
/// case).
///
/// Each environment's folder is computed once, and the comparisons go
/// through hash maps, so a manifest of 10,000 environments is checked in
/// linear time (comparing every pair took a minute).
fn check_paths(manifest: &Manifest, home: &Path, diagnostics: &mut Diagnostics) {
    let state = HomeState::new(home);
    let user_home = resolve::user_home();
    let mut envs: Vec<(&Environment, PathBuf)> = Vec::with_capacity(manifest.environments.len());
    for env in manifest.environments.values() {
        let path = match &env.path {
            // Reported with the environment's other keys.
            Some(p) if p.value.trim().is_empty() => continue,
            Some(p) => match resolve::expand_path(&p.value, &manifest.dir) {
                Ok(path) => path,
                Err(problem) => {
                    report_unexpandable(env, p, &problem, diagnostics);
                    continue;
                }
            },
            // A name that is not a folder name is reported as such; where
            // it would lead (`../x`) means nothing.
            None if !super::schema::is_valid_name(&env.name.value) => continue,
            None => resolve::environment_path(manifest, env, home),
        };
        if let Some(problem) = too_long(&path) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::path-too-long",
                    format!(
                        "the path of environment `{}` is too long: {problem}",
                        env.name.value
                    ),
                )
                .label(path_span(env), problem)
                .help(format!(
                    "file systems hold folder names of at most {MAX_NAME_BYTES} bytes and paths of at most {MAX_PATH_BYTES} bytes; give a shorter `path`"
                )),
            );
            continue;
        }
        // One problem per folder: `/` is around both the home and the
        // manifest, and saying it once is enough.
        if let Some(clash) = state.clash(&path) {
            report_home_clash(env, &path, &clash, diagnostics);
        } else if let Some(problem) = around_user_files(&path, user_home.as_deref(), &manifest.dir)
        {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-path",
                    format!("environment `{}` {problem}", env.name.value),
                )
                .label(path_span(env), format!("`{}`", path.display()))
                .help("a rebuild removes the environment's folder with everything in it: give it a folder of its own, such as `.venv`"),
            );
        } else {
            envs.push((env, path));
        }
    }
    check_overlaps(&envs, diagnostics);
    check_case_collisions(&envs, diagnostics);
}

/// Where to point at an environment's folder: its `path`, else its name.
fn path_span(env: &Environment) -> Option<Range<usize>> {
    env.path
        .as_ref()
        .and_then(|p| p.span.clone())
        .or(env.name.span.clone())
}

fn report_unexpandable(
    env: &Environment,
    path: &Spanned<String>,
    problem: &resolve::PathProblem,
    diagnostics: &mut Diagnostics,
) {
    let name = &env.name.value;
    let d = match problem {
        resolve::PathProblem::OtherUser(user) => Diagnostic::error(
            "manifest::invalid-path",
            format!("environment `{name}` has a path in the home folder of user `{user}`"),
        )
        .label(path.span.clone(), format!("`~{user}` is not expanded"))
        .help("write the folder out in full; `~` alone (or `~/...`) is your own home folder"),
        resolve::PathProblem::NoUserHome => Diagnostic::error(
            "manifest::invalid-path",
            format!("environment `{name}` has a path under `~`, but `HOME` is not set"),
        )
        .label(path.span.clone(), "`~` cannot be expanded")
        .help("set `HOME`, or write the folder out in full"),
    };
    diagnostics.push(d);
}

/// The longest folder name (one path component) file systems take: NAME_MAX
/// of ext4, XFS, btrfs, APFS, and NTFS (in UTF-16 units).
const MAX_NAME_BYTES: usize = 255;

/// The longest path the OS takes: PATH_MAX is 4096 on Linux counting the
/// terminating NUL, so 4095 bytes; 1024 on macOS and the BSDs; Windows takes
/// 32,767 UTF-16 units with long paths.
const MAX_PATH_BYTES: usize = if cfg!(any(target_os = "linux", target_os = "android")) {
    4095
} else if cfg!(windows) {
    32_766
} else {
    1023
};

/// Why no file system can hold `path`, if none can. Creating it would fail,
/// and so would removing what was half made.
fn too_long(path: &Path) -> Option<String> {
    for component in path.components() {
        if let Component::Normal(name) = component {
            let bytes = name.as_encoded_bytes().len();
            if bytes > MAX_NAME_BYTES {
                return Some(format!(
                    "a folder name of {bytes} bytes (at most {MAX_NAME_BYTES})"
                ));
            }
        }
    }
    let bytes = path.as_os_str().as_encoded_bytes().len();
    (bytes > MAX_PATH_BYTES).then(|| format!("{bytes} bytes in all (at most {MAX_PATH_BYTES})"))
}

/// beep-python's home, as environments must stay out of it: everything in it
/// is state (`registry.json`, `backups/`, `cache/`, `runtimes/`, `.lock`,
/// `journal.json`), except `environments/`, where environments live by
/// default.
struct HomeState {
    /// The home as given and, if it differs, as the file system resolves it
    /// (a home reached through a link is the same home).
    roots: Vec<PathBuf>,
}

/// How an environment's folder clashes with the home.
enum HomeClash {
    /// The folder is the home, or one around it.
    Contains(PathBuf),
    /// The folder holding every environment.
    EnvironmentsFolder(PathBuf),
    /// Inside the home's state.
    Inside(PathBuf),
}

impl HomeState {
    fn new(home: &Path) -> Self {
        let lexical = resolve::normalize(home);
        let mut roots = vec![lexical.clone()];
        if let Ok(real) = fs_err::canonicalize(&lexical)
            && real != lexical
        {
            roots.push(real);
        }
        Self { roots }
    }

    fn clash(&self, path: &Path) -> Option<HomeClash> {
        for root in &self.roots {
            if root.starts_with(path) {
                return Some(HomeClash::Contains(root.clone()));
            }
            if path.starts_with(root) {
                let environments = root.join("environments");
                if path == environments {
                    return Some(HomeClash::EnvironmentsFolder(root.clone()));
                }
                if !path.starts_with(&environments) {
                    return Some(HomeClash::Inside(root.clone()));
                }
            }
        }
        None
    }
}

fn report_home_clash(
    env: &Environment,
    path: &Path,
    clash: &HomeClash,
    diagnostics: &mut Diagnostics,
) {
    let name = &env.name.value;
    let (message, help) = match clash {
        HomeClash::Contains(home) => (
            format!(
                "environment `{name}` would {} beep-python's home `{}`",
                if path == home { "be" } else { "contain" },
                home.display()
            ),
            format!(
                "a rebuild of the environment would delete beep-python's state; give it a folder outside `{}`",
                home.display()
            ),
        ),
        HomeClash::EnvironmentsFolder(home) => (
            format!(
                "environment `{name}` would be `{}`, the folder that holds every environment",
                home.join("environments").display()
            ),
            "give it a folder of its own, or remove `path` to use the default location".to_string(),
        ),
        HomeClash::Inside(home) => (
            format!(
                "environment `{name}` would be inside beep-python's own files in `{}`",
                home.display()
            ),
            format!(
                "environments may live in `{}`; give another folder, or remove `path` to use the default location",
                home.join("environments").display()
            ),
        ),
    };
    diagnostics.push(
        Diagnostic::error("manifest::path-in-home", message)
            .label(path_span(env), format!("`{}`", path.display()))
            .help(help),
    );
}

/// What an environment's folder would swallow, if anything: the user's home
/// folder, or the manifest's own folder (and the manifest with it).
fn around_user_files(path: &Path, user_home: Option<&Path>, manifest_dir: &Path) -> Option<String> {
    if let Some(user_home) = user_home.map(resolve::normalize)
        && user_home.starts_with(path)
    {
        return Some(if user_home == path {
            "would be your home folder".to_string()
        } else {
            format!("would contain your home folder `{}`", user_home.display())
        });
    }
    let dir = resolve::normalize(manifest_dir);
    dir.starts_with(path).then(|| {
        if dir == path {
            "would be the manifest's own folder".to_string()
        } else {
            format!("would contain the manifest's folder `{}`", dir.display())
        }
    })
}

/// Two environments in one folder, or one inside another, would overwrite
/// each other's files. Each folder is looked up among the others' (a hash
/// map) along with its parents, so this is linear in the number of
/// environments; an environment inside several others is reported against
/// the nearest one.
fn check_overlaps(envs: &[(&Environment, PathBuf)], diagnostics: &mut Diagnostics) {
    let report =
        |i: usize, j: usize, code: &'static str, message: String, diagnostics: &mut Diagnostics| {
            // Labels in manifest order, as the environments are listed.
            let (a, b) = (i.min(j), i.max(j));
            let ((env_a, path_a), (env_b, path_b)) = (&envs[a], &envs[b]);
            diagnostics.push(
                Diagnostic::error(code, message)
                    .label(path_span(env_a), format!("`{}`", path_a.display()))
                    .label(path_span(env_b), format!("`{}`", path_b.display()))
                    .help("give each environment its own folder, outside the others"),
            );
        };
    let mut first_at: HashMap<&Path, usize> = HashMap::with_capacity(envs.len());
    for (i, (env, path)) in envs.iter().enumerate() {
        match first_at.entry(path.as_path()) {
            Entry::Occupied(first) => {
                let first = *first.get();
                report(
                    first,
                    i,
                    "manifest::duplicate-path",
                    format!(
                        "environments `{}` and `{}` have the same path `{}`",
                        envs[first].0.name.value,
                        env.name.value,
                        path.display()
                    ),
                    diagnostics,
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
    for (i, (inner, path)) in envs.iter().enumerate() {
        if first_at.get(path.as_path()) != Some(&i) {
            continue; // a duplicate, reported above
        }
        if let Some(&outer) = path.ancestors().skip(1).find_map(|a| first_at.get(a)) {
            report(
                outer,
                i,
                "manifest::nested-path",
                format!(
                    "environment `{}` is inside environment `{}`",
                    inner.name.value, envs[outer].0.name.value
                ),
                diagnostics,
            );
        }
    }
}

/// Names or folders that differ only in case are one folder on a
/// case-insensitive file system (macOS, Windows): a warning, since on this
/// machine they may well work.
fn check_case_collisions(envs: &[(&Environment, PathBuf)], diagnostics: &mut Diagnostics) {
    let mut names: HashMap<String, usize> = HashMap::with_capacity(envs.len());
    let mut folders: HashMap<String, usize> = HashMap::with_capacity(envs.len());
    let mut reported: HashSet<(usize, usize)> = HashSet::new();
    for (i, (env, path)) in envs.iter().enumerate() {
        let name = &env.name.value;
        if let Some(&j) = names.get(&name.to_lowercase()) {
            reported.insert((j, i));
            let other = &envs[j].0;
            diagnostics.push(
                Diagnostic::warning(
                    "manifest::case-collision",
                    format!(
                        "environments `{}` and `{name}` differ only in case",
                        other.name.value
                    ),
                )
                .label(other.name.span.clone(), "this name")
                .label(env.name.span.clone(), "and this one")
                .help("they collide on case-insensitive file systems (macOS, Windows) and are easy to mistake for each other; rename one"),
            );
        } else {
            names.insert(name.to_lowercase(), i);
        }
        let folder = path.to_string_lossy().to_lowercase();
        match folders.get(&folder) {
            Some(&j) if envs[j].1 != *path && !reported.contains(&(j, i)) => {
                let other = envs[j].0;
                diagnostics.push(
                    Diagnostic::warning(
                        "manifest::case-collision",
                        format!(
                            "environments `{}` and `{name}` have folders that differ only in case",
                            other.name.value
                        ),
                    )
                    .label(path_span(other), format!("`{}`", envs[j].1.display()))
                    .label(path_span(env), format!("`{}`", path.display()))
                    .help("on a case-insensitive file system (macOS, Windows) they are one folder; give each its own"),
                );
            }
            Some(_) => {}
            None => {
                folders.insert(folder, i);
            }
        }
    }
}

/// A local `find-links` folder (relative to the manifest) must exist: the
/// installer would otherwise fail half-way through `apply`, or quietly find
/// nothing. `file://` URLs are checked the same way; remote ones cannot be.
fn check_find_links_exist(link: &Spanned<String>, dir: &Path, diagnostics: &mut Diagnostics) {
    let text = link.value.trim();
    if text.is_empty() {
        return; // reported as empty
    }
    let path = if text.contains("://") {
        match url::Url::parse(text) {
            Ok(url) if url.scheme() == "file" => match url.to_file_path() {
                Ok(path) => path,
                Err(()) => return,
            },
            _ => return,
        }
    } else {
        resolve::normalize(&dir.join(text))
    };
    if !path.exists() {
        diagnostics.push(
            Diagnostic::error(
                "manifest::missing-find-links",
                format!("the `find-links` folder `{}` does not exist", path.display()),
            )
            .label(link.span.clone(), "not found")
            .help("create it and put the wheels there, or correct the path (a relative one is relative to the manifest's folder)"),
        );
    }
}

fn check_unused(manifest: &Manifest, diagnostics: &mut Diagnostics) {
    let mut used_profiles: BTreeSet<&str> = BTreeSet::new();
    let mut used_templates: BTreeSet<&str> = BTreeSet::new();
    for t in manifest.templates.values() {
        used_profiles.extend(t.profiles.iter().map(|p| p.value.as_str()));
        if let Some(e) = &t.extends {
            used_templates.insert(&e.value);
        }
    }
    for e in manifest.environments.values() {
        used_profiles.extend(e.profiles.iter().map(|p| p.value.as_str()));
        if let Some(t) = &e.template {
            used_templates.insert(&t.value);
        }
    }
    for profile in manifest.profiles.values() {
        // Built-ins are always there; only what the user wrote can be unused.
        if profile.name.span.is_some() && !used_profiles.contains(profile.name.value.as_str()) {
            diagnostics.push(
                Diagnostic::warning(
                    "manifest::unused-profile",
                    format!(
                        "profile `{}` is not used by any template or environment",
                        profile.name.value
                    ),
                )
                .label(profile.name.span.clone(), "unused")
                .help("add it to an environment's `profiles`, or remove it"),
            );
        }
    }
    for template in manifest.templates.values() {
        let name = template.name.value.as_str();
        if template.name.span.is_some() && !used_templates.contains(name) {
            let note = if builtin::is_builtin_template(name) {
                " (it redefines the built-in one)"
            } else {
                ""
            };
            diagnostics.push(
                Diagnostic::warning(
                    "manifest::unused-template",
                    format!("template `{name}` is not used by any environment or template{note}"),
                )
                .label(template.name.span.clone(), "unused")
                .help("name it with `template = \"...\"` in an environment, or remove it"),
            );
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Allow {
    /// A URL (`https://`, `file://`, or `http://` to loopback) or a local path.
    FileOrUrl,
    /// A URL only.
    UrlOnly,
}

/// URLs must be `https://` or `file://`; plain `http://` only to a loopback
/// host, because a tampered download (or index) is how a machine gets
/// compromised. A value without a scheme is a local path where allowed.
fn check_location(
    value: &Spanned<String>,
    key: &str,
    allow: Allow,
    insecure_ok: bool,
    diagnostics: &mut Diagnostics,
) {
    let text = value.value.trim();
    let has_scheme = text.contains("://");
    if !has_scheme {
        if allow == Allow::UrlOnly {
            diagnostics.push(
                Diagnostic::error("manifest::invalid-url", format!("`{key}` must be a URL"))
                    .label(value.span.clone(), "not a URL")
                    .help("write an `https://` URL (or `file://` for a local copy)"),
            );
        } else if text.is_empty() {
            diagnostics.push(
                Diagnostic::error("manifest::invalid-url", format!("`{key}` is empty"))
                    .label(value.span.clone(), "empty")
                    .help("give a folder, or an `https://` or `file://` URL"),
            );
        }
        return;
    }
    let url = match url::Url::parse(text) {
        Ok(url) => url,
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-url",
                    format!("`{key}` is not a valid URL"),
                )
                .label(value.span.clone(), e.to_string()),
            );
            return;
        }
    };
    match url.scheme() {
        "https" | "file" => {}
        "http" => {
            if !insecure_ok && !is_loopback(&url) {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::insecure-url",
                        format!("`{key}` uses plain `http://` to `{}`", url.host_str().unwrap_or("")),
                    )
                    .label(value.span.clone(), "not encrypted, can be tampered with on the way")
                    .help("use `https://`; plain `http://` is allowed only to `localhost` or `127.0.0.1`, unless `settings.allow-insecure-http = true`"),
                );
            }
        }
        other => diagnostics.push(
            Diagnostic::error(
                "manifest::invalid-url",
                format!("`{key}` uses the unsupported scheme `{other}`"),
            )
            .label(value.span.clone(), "unsupported scheme")
            .help("use `https://` or `file://`"),
        ),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `channels` and `pypi-packages` belong to conda environments.
fn check_venv_has_no_conda_keys(env: &Environment, context: &str, diagnostics: &mut Diagnostics) {
    for (key, values, help) in [
        (
            "channels",
            &env.channels,
            "add `kind = \"conda\"` to build a conda environment, or remove `channels`",
        ),
        (
            "pypi-packages",
            &env.pypi_packages,
            "a venv installs PyPI packages from `packages`; move them there, or add `kind = \"conda\"`",
        ),
    ] {
        if let Some(first) = values.first() {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::conda-only-key",
                    format!(
                        "{context} is a venv, but has `{key}`, which only conda environments take"
                    ),
                )
                .label(first.span.clone(), "only for `kind = \"conda\"`")
                .help(help),
            );
        }
    }
}

/// `[settings]`'s conda keys: default channels, the alias, the mirrors.
fn check_conda_settings(manifest: &Manifest, diagnostics: &mut Diagnostics) {
    let settings = &manifest.settings;
    let insecure_ok = settings.allow_insecure_http;
    if let Some(alias) = &settings.conda_channel_alias {
        check_location(
            alias,
            "conda-channel-alias",
            Allow::UrlOnly,
            insecure_ok,
            diagnostics,
        );
    }
    for (original, mirror) in &settings.conda_mirrors {
        check_location(
            mirror,
            "conda-mirrors",
            Allow::UrlOnly,
            insecure_ok,
            diagnostics,
        );
        if url::Url::parse(original).is_err() {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-url",
                    format!("the `conda-mirrors` key `{original}` is not a URL"),
                )
                .label(mirror.span.clone(), "mirrors a prefix that is not a URL")
                .help("write the channel URL prefix a mirror replaces, such as `\"https://conda.anaconda.org/conda-forge\" = \"https://mirror.example/conda-forge\"`"),
            );
        }
    }
    let channels = resolve::conda_channel_settings(manifest);
    for channel in &settings.conda_channels {
        check_channel(
            channel,
            "conda-channels",
            &channels,
            insecure_ok,
            diagnostics,
        );
    }
}

/// A conda environment: its match specs, its channels (or the settings'
/// defaults), its `pypi-packages`, no venv-only keys, and a runtime (if it
/// names one) whose version its `python` spec admits.
fn check_conda_environment(
    manifest: &Manifest,
    env: &Environment,
    context: &str,
    diagnostics: &mut Diagnostics,
) {
    for spec in &env.packages {
        if let Some(problem) = crate::conda::spec_problem(&spec.value) {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-conda-spec",
                    format!("`{}` is not a valid conda match spec", spec.value),
                )
                .label(spec.span.clone(), first_line(&problem))
                .help("write a package name and an optional version, such as `python 3.11.*`, `numpy >=1.26` or `openssl=3.2.1`"),
            );
        }
    }
    check_requirements(&env.pypi_packages, diagnostics);
    let settings = resolve::conda_channel_settings(manifest);
    let insecure_ok = manifest.settings.allow_insecure_http;
    for channel in &env.channels {
        check_channel(channel, "channels", &settings, insecure_ok, diagnostics);
    }
    if env.channels.is_empty() && manifest.settings.conda_channels.is_empty() {
        diagnostics.push(
            Diagnostic::error(
                "manifest::no-conda-channels",
                format!("{context} is a conda environment without channels"),
            )
            .label(env.name.span.clone(), "no channel to find its packages in")
            .help("add `channels = [\"conda-forge\"]` (names, `https://` or `file://` URLs, or folders) to it, or `conda-channels` to `[settings]`"),
        );
    }
    let venv_only = |key: &str, help: &str, span: Option<Range<usize>>| {
        Diagnostic::error(
            "manifest::venv-only-key",
            format!("{context} is a conda environment, which does not take `{key}`"),
        )
        .label(span, "only for venvs")
        .help(help.to_string())
    };
    if let Some(template) = &env.template {
        diagnostics.push(venv_only(
            "template",
            "templates and profiles are PyPI package sets for venvs: list conda packages in `packages` and PyPI ones in `pypi-packages`",
            template.span.clone(),
        ));
    }
    if let Some(profile) = env.profiles.first() {
        diagnostics.push(venv_only(
            "profiles",
            "templates and profiles are PyPI package sets for venvs: list conda packages in `packages` and PyPI ones in `pypi-packages`",
            profile.span.clone(),
        ));
    }
    if env.system_site_packages.is_some() {
        diagnostics.push(venv_only(
            "system-site-packages",
            "a conda environment has no base interpreter to share packages with; remove the key",
            env.name.span.clone(),
        ));
    }
    if let Some(pylock) = &env.pylock {
        diagnostics.push(venv_only(
            "pylock",
            "a conda environment is pinned by `beep-python lock`; list its PyPI packages in `pypi-packages`",
            pylock.span.clone(),
        ));
    }
    if env.pip.is_some() {
        diagnostics.push(venv_only(
            "pip",
            "add `pip` to its `packages` (a conda package) to have pip in a conda environment",
            env.name.span.clone(),
        ));
    }
    if let Some(name) = &env.runtime
        && let Some(runtime) = manifest.runtimes.get(&name.value)
    {
        check_conda_runtime(env, name, runtime, context, diagnostics);
    }
}

/// A conda environment brings its own python; a runtime it names only
/// pins that python's version, so it must be one version its `python` spec
/// admits.
fn check_conda_runtime(
    env: &Environment,
    name: &Spanned<String>,
    runtime: &super::Runtime,
    context: &str,
    diagnostics: &mut Diagnostics,
) {
    let version = runtime
        .version
        .as_ref()
        .map(|v| v.value.trim())
        .filter(|v| Version::from_str(v).is_ok());
    let Some(version) = version else {
        diagnostics.push(
            Diagnostic::error(
                "manifest::conda-runtime",
                format!(
                    "{context} is a conda environment; its runtime `{}` has no single version to pin its python to",
                    name.value
                ),
            )
            .label(name.span.clone(), "a conda environment brings its own python")
            .help("remove `runtime` and pin python in `packages` (`python 3.11.*`), or name a runtime with a version such as `3.11`"),
        );
        return;
    };
    let specs: Vec<String> = env.packages.iter().map(|p| p.value.clone()).collect();
    if crate::conda::python_admits(&specs, version) == Some(false) {
        let python = env
            .packages
            .iter()
            .find(|p| crate::conda::spec_name(&p.value).as_deref() == Some("python"));
        diagnostics.push(
            Diagnostic::error(
                "manifest::conda-runtime",
                format!(
                    "{context} names runtime `{}` (Python {version}), but its packages ask for another python",
                    name.value
                ),
            )
            .label(name.span.clone(), format!("Python {version}"))
            .label(python.and_then(|p| p.span.clone()), "does not admit it")
            .help("a conda environment brings its own python: remove `runtime`, or make the two versions agree"),
        );
    }
}

/// One channel: a name, an `https://` or `file://` URL (plain `http://`
/// only to loopback, as every download), or a folder that exists.
fn check_channel(
    channel: &Spanned<String>,
    key: &str,
    settings: &crate::conda::ChannelSettings,
    insecure_ok: bool,
    diagnostics: &mut Diagnostics,
) {
    let text = channel.value.trim();
    if text.contains("://") {
        let before = diagnostics.error_count();
        check_location(channel, key, Allow::FileOrUrl, insecure_ok, diagnostics);
        if diagnostics.error_count() > before {
            return;
        }
    }
    match crate::conda::Channels::resolve(&[text.to_string()], settings) {
        Err(e) => {
            let reason = match &e {
                crate::conda::CondaError::InvalidChannel { reason, .. } => reason.clone(),
                other => other.to_string(),
            };
            diagnostics.push(
                Diagnostic::error(
                    "manifest::invalid-conda-channel",
                    format!("`{}` is not a usable conda channel", channel.value),
                )
                .label(channel.span.clone(), first_line(&reason))
                .help("use a channel name (`conda-forge`), an `https://` or `file://` URL, or a folder relative to the manifest"),
            );
        }
        Ok(resolved) => {
            let Some(url) = resolved.iter().next().map(|c| c.url.clone()) else {
                return;
            };
            if url.scheme() == "file"
                && let Ok(path) = url.to_file_path()
                && !path.is_dir()
            {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::missing-conda-channel",
                        format!("the conda channel folder `{}` does not exist", path.display()),
                    )
                    .label(channel.span.clone(), "not found")
                    .help("correct the path (a relative one is relative to the manifest's folder), or create the channel there"),
                );
            }
        }
    }
}
