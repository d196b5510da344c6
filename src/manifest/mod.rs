//! The manifest, `beep-python.toml`: its types, how it is read, checked and
//! resolved into what each environment should be.
//!
//! Reading goes in three passes, each collecting every problem it finds:
//!
//! 1. [`parse`]: TOML syntax, then the structure against the field tables of
//!    [`schema`] (unknown keys, wrong types, bad enumeration values). It
//!    builds the typed [`Manifest`] from whatever was well-formed, so that the
//!    next pass still runs and the user sees all problems at once.
//! 2. [`validate`]: rules across keys and tables (references, cycles, PEP 440
//!    and PEP 508 syntax, paths, URLs, defaults).
//! 3. [`resolve`]: templates, profiles and defaults folded into one
//!    [`resolve::ResolvedEnvironment`] per environment. Only a manifest
//!    without errors is resolved, so resolution itself cannot fail.
//!
//! Every name that refers to something else keeps its span, so a diagnostic
//! can point at it. Built-in profiles and templates ([`builtin`]) have no
//! span; a manifest may redefine them.

pub mod builtin;
pub mod parse;
pub mod resolve;
pub mod schema;
pub mod validate;

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile};

/// The file name looked for when no `--manifest` is given.
pub const MANIFEST_FILE: &str = "beep-python.toml";

/// A value and where it was written, if it was written anywhere (built-in
/// definitions have no span).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Option<Range<usize>>,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Range<usize>) -> Self {
        Self {
            value,
            span: Some(span),
        }
    }

    pub fn builtin(value: T) -> Self {
        Self { value, span: None }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// Where a runtime's interpreter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeSource {
    Standalone,
    System,
    Embeddable,
    Url,
}

impl RuntimeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeSource::Standalone => "standalone",
            RuntimeSource::System => "system",
            RuntimeSource::Embeddable => "embeddable",
            RuntimeSource::Url => "url",
        }
    }

    fn from_str(s: &str) -> Option<Self> {
        Some(match s {
            "standalone" => RuntimeSource::Standalone,
            "system" => RuntimeSource::System,
            "embeddable" => RuntimeSource::Embeddable,
            "url" => RuntimeSource::Url,
            _ => return None,
        })
    }
}

/// Which program installs packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    /// uv when it is on `PATH`, else pip.
    #[default]
    Auto,
    Pip,
    Uv,
    /// Only the native installer: every environment must be locked (uv or
    /// pip still resolve the lock, when there).
    Native,
}

/// What kind of environment to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentKind {
    #[default]
    Venv,
    Conda,
}

/// `[settings]`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub default_runtime: Option<Spanned<String>>,
    pub installer: Installer,
    pub python_mirror: Option<Spanned<String>>,
    pub python_downloads: Option<Spanned<String>>,
    /// Plain `http://` to hosts other than loopback is refused unless set.
    pub allow_insecure_http: bool,
    pub index_url: Option<Spanned<String>>,
    pub find_links: Vec<Spanned<String>>,
    pub offline: bool,
    pub jobs: Option<u32>,
    /// Seed pip into environments (`pip`, default true).
    pub pip: Option<Spanned<bool>>,
    /// `compile-bytecode`: the native installer compiles `.pyc` files.
    pub compile_bytecode: bool,
    /// `unverified-record`: packages known to ship a wrong `RECORD`.
    pub unverified_record: Vec<Spanned<String>>,
    /// `conda-channels`: the channels of conda environments that name none.
    pub conda_channels: Vec<Spanned<String>>,
    /// `conda-channel-alias`: where channel names live (`conda-forge` is
    /// `<alias>/conda-forge`).
    pub conda_channel_alias: Option<Spanned<String>>,
    /// `conda-mirrors`: channel URL prefix -> the prefix to fetch from.
    pub conda_mirrors: BTreeMap<String, Spanned<String>>,
}

/// `[runtimes.NAME]`.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub name: Spanned<String>,
    pub source: RuntimeSource,
    /// Where `source` was written, if it was.
    pub source_span: Option<Range<usize>>,
    /// The version as written; [`validate`] checks that it parses as what
    /// `source` needs.
    pub version: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub sha256: Option<Spanned<String>>,
    pub default: Option<Spanned<bool>>,
    /// The span of the `[runtimes.NAME]` table as a whole.
    pub span: Option<Range<usize>>,
    /// Keys that were written but had the wrong type (already reported).
    pub ill_typed: Vec<String>,
}

/// `[profiles.NAME]`.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub packages: Vec<Spanned<String>>,
}

/// `[templates.NAME]`.
#[derive(Debug, Clone, Default)]
pub struct Template {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub extends: Option<Spanned<String>>,
    pub runtime: Option<Spanned<String>>,
    pub profiles: Vec<Spanned<String>>,
    pub packages: Vec<Spanned<String>>,
    pub env: BTreeMap<String, Spanned<String>>,
    pub system_site_packages: Option<bool>,
    pub pip: Option<bool>,
}

impl Default for Spanned<String> {
    fn default() -> Self {
        Spanned::builtin(String::new())
    }
}

/// `[environments.NAME]`.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: Spanned<String>,
    pub template: Option<Spanned<String>>,
    pub runtime: Option<Spanned<String>>,
    pub profiles: Vec<Spanned<String>>,
    pub packages: Vec<Spanned<String>>,
    pub env: BTreeMap<String, Spanned<String>>,
    pub system_site_packages: Option<bool>,
    pub path: Option<Spanned<String>>,
    pub kind: EnvironmentKind,
    /// `channels` of a conda environment, in priority order.
    pub channels: Vec<Spanned<String>>,
    /// `pypi-packages`: PEP 508 requirements installed into a conda
    /// environment after its conda packages.
    pub pypi_packages: Vec<Spanned<String>>,
    pub pip: Option<bool>,
    /// `vscode = true`: `apply` points the manifest folder's
    /// `.vscode/settings.json` at this environment
    /// ([`crate::usage::vscode::for_manifest`]).
    pub vscode: Option<Spanned<bool>>,
    /// `pylock = "FILE"`: the environment's packages are the pins of this
    /// PEP 751 file ([`crate::lockfile::pylock`]), relative to the manifest.
    pub pylock: Option<Spanned<String>>,
}

/// A manifest as written, with the built-in profiles and templates added
/// where the file does not redefine them.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its folder: relative paths in the manifest are relative to it.
    pub dir: PathBuf,
    pub source: SourceFile,
    pub version: i64,
    pub settings: Settings,
    pub runtimes: BTreeMap<String, Runtime>,
    pub profiles: BTreeMap<String, Profile>,
    pub templates: BTreeMap<String, Template>,
    pub environments: BTreeMap<String, Environment>,
    /// `[moved]`: renamed environments, `env.OLD -> env.NEW`, with the span
    /// of each entry's key.
    pub moved: Vec<(Spanned<String>, Spanned<String>)>,
}

/// A manifest that passed every check, and the warnings found on the way.
#[derive(Debug)]
pub struct Checked {
    pub manifest: Manifest,
    pub warnings: Diagnostics,
}

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ManifestError {
    #[error("no `{MANIFEST_FILE}` found in `{}` or any folder above it", start.display())]
    #[diagnostic(
        code("manifest::not-found"),
        help("run `beep-python init` to write a starter manifest, or pass `--manifest FILE`")
    )]
    NotFound { start: PathBuf },

    #[error("could not read the manifest")]
    #[diagnostic(code("manifest::io"))]
    Read(#[source] std::io::Error),

    /// Every problem found, errors and warnings, in file order. They are
    /// related diagnostics, so that every command that loads the manifest
    /// (`plan`, `apply`, ...) shows each with its place, as `validate` does.
    #[error("`{}` has {count} error{s}", path.display(), count = diagnostics.error_count(), s = if diagnostics.error_count() == 1 { "" } else { "s" })]
    #[diagnostic(code("manifest::invalid"))]
    Invalid {
        path: PathBuf,
        #[related]
        diagnostics: Diagnostics,
    },
}

/// Finds the manifest: `explicit` if given, else `beep-python.toml` in
/// `start` or the nearest folder above it (as cargo finds `Cargo.toml`).
pub fn find(explicit: Option<&Path>, start: &Path) -> Result<PathBuf, ManifestError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    start
        .ancestors()
        .map(|dir| dir.join(MANIFEST_FILE))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ManifestError::NotFound {
            start: start.to_path_buf(),
        })
}

/// Reads, parses and validates the manifest at `path`. `home` is needed to
/// check the default locations of environments against explicit paths.
pub fn load(path: &Path, home: &Path) -> Result<Checked, ManifestError> {
    let bytes = fs_err::read(path).map_err(ManifestError::Read)?;
    let (text, encoding) = decode(&bytes);
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).map_err(ManifestError::Read)?;
    // Show the path as the user would type it: relative to the current
    // folder when the manifest is below it.
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let source = SourceFile::new(shown.display().to_string(), text);
    check_with(source, path, &dir, home, encoding)
}

/// How many bytes that are not UTF-8 are pointed at, at most: the fix (save
/// the file as UTF-8) is the same for all of them.
const MAX_ENCODING_DIAGNOSTICS: usize = 10;

/// The manifest's text, with each byte sequence that is not UTF-8 replaced
/// by U+FFFD, and an error pointing at each (so it has a line and a column).
/// The rest of the file is still checked, so that every other problem shows
/// too.
fn decode(bytes: &[u8]) -> (String, Diagnostics) {
    let mut diagnostics = Diagnostics::default();
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (text.to_string(), diagnostics);
    }
    let mut text = String::with_capacity(bytes.len());
    let mut places: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            let start = text.len();
            text.push(char::REPLACEMENT_CHARACTER);
            let hex: Vec<String> = chunk
                .invalid()
                .iter()
                .map(|b| format!("0x{b:02X}"))
                .collect();
            places.push((start..text.len(), hex.join(" ")));
        }
    }
    let total = places.len();
    for (i, (span, bytes)) in places
        .into_iter()
        .take(MAX_ENCODING_DIAGNOSTICS)
        .enumerate()
    {
        let more = total - MAX_ENCODING_DIAGNOSTICS.min(total);
        let message = if i + 1 == MAX_ENCODING_DIAGNOSTICS && more > 0 {
            format!("the manifest is not valid UTF-8 (and {more} more places after this one)")
        } else {
            "the manifest is not valid UTF-8".to_string()
        };
        diagnostics.push(
            Diagnostic::error("manifest::encoding", message)
                .label(span, format!("not UTF-8: {bytes}"))
                .help("save the manifest as UTF-8 (for example `iconv -f latin1 -t utf-8`)"),
        );
    }
    (text, diagnostics)
}

/// Parses and validates manifest text. The library entry point for tests and
/// for manifests that do not come from a file.
pub fn check(
    source: SourceFile,
    path: &Path,
    dir: &Path,
    home: &Path,
) -> Result<Checked, ManifestError> {
    check_with(source, path, dir, home, Diagnostics::default())
}

/// [`check`], adding to problems already found (in reading the file).
fn check_with(
    source: SourceFile,
    path: &Path,
    dir: &Path,
    home: &Path,
    mut diagnostics: Diagnostics,
) -> Result<Checked, ManifestError> {
    let manifest = parse::parse(&source, path, dir, &mut diagnostics);
    if let Some(manifest) = &manifest {
        validate::validate(manifest, home, &mut diagnostics);
    }
    let diagnostics = diagnostics.finish(&source);
    match manifest {
        Some(manifest) if !diagnostics.has_errors() => Ok(Checked {
            manifest,
            warnings: diagnostics,
        }),
        _ => Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            diagnostics,
        }),
    }
}

impl Manifest {
    /// The runtime environments use when they name none:
    /// `settings.default-runtime`, else the runtime marked `default = true`.
    pub fn default_runtime(&self) -> Option<&Spanned<String>> {
        self.settings.default_runtime.as_ref().or_else(|| {
            self.runtimes
                .values()
                .find(|r| r.default.as_ref().is_some_and(|d| d.value))
                .map(|r| &r.name)
        })
    }

    /// The template chain of `template`, nearest first, stopping at a cycle
    /// or an unknown name (which [`validate`] reports).
    /// Linear in the chain's length, however deep.
    pub fn template_chain<'a>(&'a self, template: &str) -> Vec<&'a Template> {
        let mut chain: Vec<&Template> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut next = Some(template);
        while let Some(name) = next {
            let Some(t) = self.templates.get(name) else {
                break;
            };
            if !seen.insert(t.name.value.as_str()) {
                break;
            }
            chain.push(t);
            next = t.extends.as_ref().map(|e| e.value.as_str());
        }
        chain
    }
}
