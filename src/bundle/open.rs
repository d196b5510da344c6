//! Reading a bundle: safe extraction into a scratch folder, then every
//! check before anything uses it (`bundle verify` stops there; `apply
//! --bundle` goes on to [`Opened::import_runtimes`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::{
    BUNDLE_VERSION, BundleError, CONDA_DIR, IMPLEMENTATION, INDEX_FILE, INPUTS_DIR, Index,
    RuntimeArtifact, SUMS_FILE, WHEELS_DIR, is_plain_relative, sha256_file,
};
use crate::archive::{self, Format, Limits};
use crate::diagnostic::{Diagnostics, Severity, SourceFile};
use crate::fetch;
use crate::lockfile::{self, LOCK_FILE, Lock};
use crate::manifest::{self, MANIFEST_FILE};

/// A bundle, extracted and checked whole. The scratch folder goes when
/// this is dropped.
#[derive(Debug)]
pub struct Opened {
    dir: tempfile::TempDir,
    /// The bundle file.
    pub bundle: PathBuf,
    pub index: Index,
    pub manifest_text: String,
    pub lock_text: String,
    pub lock: Lock,
    /// Lowercase sha256 to the extracted wheel.
    wheels: HashMap<String, PathBuf>,
    /// The manifest's local `find-links` folders, where it will be.
    pub find_links: Vec<PathBuf>,
    /// Lowercase sha256 to the extracted conda package.
    conda: HashMap<String, PathBuf>,
    /// The manifest's folder channels, where it will be, each with the
    /// channel as the manifest writes it.
    pub conda_channels: Vec<(PathBuf, String)>,
}

/// How much a bundle may unpack to: far more than an interpreter archive
/// (machine-learning wheels are gigabytes), still short of filling a disk
/// by accident.
const LIMITS: Limits = Limits {
    max_total_bytes: 256 * 1024 * 1024 * 1024,
    max_entries: 1_000_000,
};

/// Extracts `bundle` into a new folder under `scratch` and checks it (see
/// the module docs of [`super`]). The manifest is validated as if it were
/// in `project` (where `apply --bundle` puts it), with `home`'s default
/// environment folders; its local `find-links` folders need not exist
/// (`apply --bundle` restores the missing ones from the bundle's wheels).
pub fn open(
    bundle: &Path,
    scratch: &Path,
    home: &Path,
    project: &Path,
) -> Result<Opened, BundleError> {
    let not_a_bundle = |reason: &str| BundleError::NotABundle {
        path: bundle.to_path_buf(),
        reason: reason.to_string(),
    };
    let meta = fs_err::metadata(bundle).map_err(BundleError::io("read", bundle))?;
    if !meta.is_file() {
        return Err(not_a_bundle("it is not a file"));
    }
    let mut magic = [0u8; 4];
    {
        use std::io::Read as _;
        let mut file = fs_err::File::open(bundle).map_err(BundleError::io("read", bundle))?;
        if file.read_exact(&mut magic).is_err() || magic != [0x28, 0xb5, 0x2f, 0xfd] {
            return Err(not_a_bundle("it is not zstd-compressed"));
        }
    }
    fs_err::create_dir_all(scratch).map_err(BundleError::io("create", scratch))?;
    let dir = tempfile::Builder::new()
        .prefix(".bundle-")
        .tempdir_in(scratch)
        .map_err(BundleError::io("create a folder in", scratch))?;
    archive::extract(bundle, Format::TarZst, dir.path(), None, &LIMITS)?;

    let tampered = |file: &str, problem: String| BundleError::Tampered {
        bundle: bundle.to_path_buf(),
        file: file.to_string(),
        problem,
    };
    let root = dir.path();
    let sums_path = root.join(SUMS_FILE);
    let sums_text = match fs_err::read_to_string(&sums_path) {
        Ok(text) => text,
        Err(_) => return Err(not_a_bundle("it has no readable `SHA256SUMS`")),
    };
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for (number, line) in sums_text.lines().enumerate() {
        let entry = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .filter(|(sha, path)| fetch::is_sha256(sha) && is_plain_relative(path));
        let Some((sha, path)) = entry else {
            return Err(tampered(
                SUMS_FILE,
                format!("has a malformed line {}: `{line}`", number + 1),
            ));
        };
        if sums
            .insert(path.to_string(), sha.to_ascii_lowercase())
            .is_some()
        {
            return Err(tampered(SUMS_FILE, format!("lists `{path}` twice")));
        }
    }
    let mut present = BTreeSet::new();
    walk(root, root, &mut present).map_err(BundleError::io("read", root))?;
    for file in &present {
        if file != SUMS_FILE && !sums.contains_key(file) {
            return Err(tampered(file, "is not listed in `SHA256SUMS`".into()));
        }
    }
    for (file, sha) in &sums {
        if !present.contains(file) {
            return Err(tampered(
                file,
                "is listed in `SHA256SUMS` but is not in the bundle".into(),
            ));
        }
        let path = root.join(file);
        let actual = sha256_file(&path).map_err(BundleError::io("read", &path))?;
        if actual != *sha {
            return Err(tampered(
                file,
                format!(
                    "does not match `SHA256SUMS` (its sha256 is {actual}, the list says {sha})"
                ),
            ));
        }
    }

    let read = |name: &str| {
        let path = root.join(name);
        fs_err::read_to_string(&path).map_err(|_| not_a_bundle(&format!("it has no `{name}`")))
    };
    let index_text = read(INDEX_FILE)?;
    let version = serde_json::from_str::<serde_json::Value>(&index_text)
        .ok()
        .and_then(|v| v.get("format_version")?.as_u64())
        .ok_or_else(|| not_a_bundle("its `bundle.json` has no `format_version`"))?;
    if version > u64::from(BUNDLE_VERSION) {
        return Err(BundleError::NewerVersion {
            path: bundle.to_path_buf(),
            version: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    let index: Index = serde_json::from_str(&index_text)
        .map_err(|e| tampered(INDEX_FILE, format!("cannot be read: {e}")))?;
    let manifest_text = read(MANIFEST_FILE)?;
    let lock_text = read(LOCK_FILE)?;
    let lock = lockfile::parse(&lock_text, &root.join(LOCK_FILE))?;

    // Every artifact is what bundle.json says, and one the lock names.
    let mut wheels = HashMap::new();
    for wheel in &index.wheels {
        if !wheel.file.starts_with(&format!("{WHEELS_DIR}/")) {
            return Err(tampered(&wheel.file, "is not under `wheels/`".into()));
        }
        check_listed(&sums, &wheel.file, &wheel.sha256).map_err(|p| tampered(&wheel.file, p))?;
        let hash = format!("sha256:{}", wheel.sha256);
        let named = lock.environments.values().any(|e| {
            e.packages.iter().any(|p| {
                p.name == wheel.name
                    && p.version == wheel.version
                    && (p.hashes.contains(&hash)
                        || p.files.iter().any(|f| f.sha256 == wheel.sha256))
            })
        });
        if !named {
            return Err(tampered(
                &wheel.file,
                format!(
                    "is not an artifact `beep-python.lock` names (sha256 {} for `{}=={}`)",
                    wheel.sha256, wheel.name, wheel.version
                ),
            ));
        }
        wheels.insert(wheel.sha256.clone(), root.join(&wheel.file));
    }
    let mut conda = HashMap::new();
    for artifact in &index.conda {
        if !artifact.file.starts_with(&format!("{CONDA_DIR}/")) {
            return Err(tampered(&artifact.file, "is not under `conda/`".into()));
        }
        check_listed(&sums, &artifact.file, &artifact.sha256)
            .map_err(|p| tampered(&artifact.file, p))?;
        let named = lock
            .environments
            .values()
            .filter_map(|e| e.conda.as_ref())
            .flat_map(|c| c.packages.iter())
            .any(|p| {
                p.sha256.eq_ignore_ascii_case(&artifact.sha256)
                    && format!("{CONDA_DIR}/{}", p.file_name) == artifact.file
            });
        if !named {
            return Err(tampered(
                &artifact.file,
                format!(
                    "is not a conda package `beep-python.lock` pins (sha256 {} for `{}`)",
                    artifact.sha256, artifact.dist
                ),
            ));
        }
        conda.insert(
            artifact.sha256.to_ascii_lowercase(),
            root.join(&artifact.file),
        );
    }
    for runtime in &index.runtimes {
        check_listed(&sums, &runtime.file, &runtime.sha256)
            .map_err(|p| tampered(&runtime.file, p))?;
        let Some(locked) = lock.runtimes.get(&runtime.name) else {
            return Err(tampered(
                &runtime.file,
                format!(
                    "is for runtime `{}`, which the lock does not name",
                    runtime.name
                ),
            ));
        };
        let same_build =
            locked.platform.is_none() || locked.platform.as_deref() == Some(&runtime.platform);
        if same_build && locked.sha256.as_deref() != Some(runtime.sha256.as_str()) {
            return Err(tampered(
                &runtime.file,
                format!(
                    "is not the build `beep-python.lock` pins for runtime `{}` (sha256 {})",
                    runtime.name, runtime.sha256
                ),
            ));
        }
    }

    // Nothing the lock names is missing.
    let mut missing = Vec::new();
    for (env, locked) in &lock.environments {
        for package in &locked.packages {
            if !package
                .hashes
                .iter()
                .filter_map(|h| h.strip_prefix("sha256:"))
                .any(|sha| wheels.contains_key(sha))
            {
                missing.push(format!(
                    "`{}=={}` (env.{env})",
                    package.name, package.version
                ));
            }
        }
    }
    for (env, locked) in &lock.environments {
        for package in locked.conda.iter().flat_map(|c| c.packages.iter()) {
            if !conda.contains_key(&package.sha256.to_ascii_lowercase()) {
                missing.push(format!(
                    "conda package `{}` (env.{env})",
                    package.dist_name()
                ));
            }
        }
    }
    for (name, locked) in &lock.runtimes {
        if locked.source == "system" {
            continue;
        }
        if !index
            .runtimes
            .iter()
            .any(|r| r.name == *name && Some(&r.sha256) == locked.sha256.as_ref())
        {
            missing.push(format!(
                "the archive of runtime `{name}` (Python {}{})",
                locked.version,
                locked
                    .platform
                    .as_deref()
                    .map(|p| format!(", {p}"))
                    .unwrap_or_default()
            ));
        }
    }
    if !missing.is_empty() {
        return Err(BundleError::Incomplete {
            bundle: bundle.to_path_buf(),
            missing,
            platform_hint: None,
        });
    }

    // The manifest is one this beep-python accepts, where it will be (as
    // `manifest::check`, but keeping the manifest when the only errors
    // are find-links folders to restore).
    let manifest_path = project.join(MANIFEST_FILE);
    let source = SourceFile::new(MANIFEST_FILE, manifest_text.clone());
    let mut diagnostics = Diagnostics::default();
    let parsed = manifest::parse::parse(&source, &manifest_path, project, &mut diagnostics);
    if let Some(parsed) = &parsed {
        manifest::validate::validate(parsed, home, &mut diagnostics);
    }
    let diagnostics = diagnostics.finish(&source);
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| {
            d.severity == Severity::Error
                && d.code != RESTORED_FIND_LINKS
                && d.code != RESTORED_CONDA_CHANNEL
        })
        .map(|d| crate::report::render(d, false))
        .collect();
    let Some(parsed) = parsed.filter(|_| errors.is_empty()) else {
        return Err(BundleError::InvalidManifest {
            rendered: errors.join("\n"),
        });
    };
    // The files the manifest names that the bundle carries: each one the
    // manifest names, and none it names missing.
    let named: BTreeSet<String> = parsed
        .environments
        .values()
        .filter_map(|e| e.pylock.as_ref())
        .map(|p| p.value.trim().to_string())
        .collect();
    for input in &index.inputs {
        if !input.file.starts_with(&format!("{INPUTS_DIR}/")) || !named.contains(&input.path) {
            return Err(tampered(
                &input.file,
                format!(
                    "is not a file the bundle's manifest names (it says it is `{}`)",
                    input.path
                ),
            ));
        }
        check_listed(&sums, &input.file, &input.sha256).map_err(|p| tampered(&input.file, p))?;
    }
    let lacking: Vec<String> = named
        .iter()
        .filter(|path| !index.inputs.iter().any(|i| i.path == **path))
        .map(|path| format!("`{path}`, the `pylock` file the manifest names"))
        .collect();
    if !lacking.is_empty() {
        return Err(BundleError::Incomplete {
            bundle: bundle.to_path_buf(),
            missing: lacking,
            platform_hint: None,
        });
    }
    let find_links = crate::desired::installer_config(&parsed)
        .find_links
        .into_iter()
        .filter(|l| !l.contains("://"))
        .map(PathBuf::from)
        .collect();
    let conda_channels = folder_channels(&parsed);

    Ok(Opened {
        dir,
        bundle: bundle.to_path_buf(),
        index,
        manifest_text,
        lock_text,
        lock,
        wheels,
        find_links,
        conda,
        conda_channels,
    })
}

/// The conda channels of the manifest's conda environments that are
/// folders (relative ones where the manifest will be), each with the
/// channel as written; every folder once.
fn folder_channels(manifest: &manifest::Manifest) -> Vec<(PathBuf, String)> {
    let settings = manifest::resolve::conda_channel_settings(manifest);
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for env in manifest.environments.values() {
        if env.kind != manifest::EnvironmentKind::Conda {
            continue;
        }
        let written: Vec<String> = env
            .channels
            .iter()
            .map(|c| c.value.trim().to_string())
            .collect();
        let Ok(channels) = crate::conda::Channels::resolve(&written, &settings) else {
            continue;
        };
        for channel in channels.iter() {
            if channel.url.scheme() == "file"
                && let Ok(folder) = channel.url.to_file_path()
                // Without the URL's trailing slash, for messages.
                && let folder = folder.components().collect::<PathBuf>()
                && !out.iter().any(|(f, _)| *f == folder)
            {
                out.push((folder, channel.written.clone()));
            }
        }
    }
    out
}

/// The diagnostic of a `find-links` folder that does not exist: `apply
/// --bundle` makes it, from the bundle's wheels.
const RESTORED_FIND_LINKS: &str = "manifest::missing-find-links";

/// The diagnostic of a conda channel folder that does not exist: `apply
/// --bundle` makes it, from the bundle's conda packages.
const RESTORED_CONDA_CHANNEL: &str = "manifest::missing-conda-channel";

fn check_listed(sums: &BTreeMap<String, String>, file: &str, sha: &str) -> Result<(), String> {
    match sums.get(file) {
        None => Err("is named in `bundle.json` but not listed in `SHA256SUMS`".into()),
        Some(listed) if !listed.eq_ignore_ascii_case(sha) => Err(format!(
            "does not match `bundle.json` (sha256 {listed}, `bundle.json` says {sha})"
        )),
        Some(_) => Ok(()),
    }
}

/// Every file under `dir`, as a `/`-separated path relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> std::io::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let text = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            // A link points elsewhere: its digest would be its target's.
            out.insert(if kind.is_symlink() {
                format!("{text} (a symlink)")
            } else {
                text
            });
        }
    }
    Ok(())
}

impl Opened {
    /// The folder the bundle was extracted into.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The extracted wheels: the installer's only `find-links`.
    pub fn wheels_dir(&self) -> PathBuf {
        self.root().join(WHEELS_DIR)
    }

    /// The extracted artifact with this sha256 (lowercase hex), for an
    /// installer that looks wheels up by digest.
    pub fn wheel(&self, sha256: &str) -> Option<&Path> {
        self.wheels
            .get(&sha256.to_ascii_lowercase())
            .map(PathBuf::as_path)
    }

    /// The runtimes whose build for `platform` the bundle lacks: standalone
    /// builds are per platform (`bundle create --platform`); `url` and
    /// embeddable archives are the same everywhere.
    pub fn platform_gaps(&self, platform: &str) -> Vec<String> {
        let mut gaps = Vec::new();
        for (name, locked) in &self.lock.runtimes {
            if locked.source != "standalone" {
                continue;
            }
            let has = |r: &&RuntimeArtifact| r.name == *name && r.platform == platform;
            if !self.index.runtimes.iter().any(|r| has(&r)) {
                gaps.push(format!(
                    "the build of runtime `{name}` (Python {}) for {platform}; the bundle has it for {}",
                    locked.version,
                    self.index
                        .runtimes
                        .iter()
                        .filter(|r| r.name == *name)
                        .map(|r| r.platform.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        gaps
    }

    /// The input files the bundle carries (`pylock`): where each goes
    /// for a manifest in `project`, the extracted file, and its path as
    /// the manifest writes it.
    pub fn input_files(&self, project: &Path) -> Vec<(PathBuf, PathBuf, String)> {
        self.index
            .inputs
            .iter()
            .map(|i| {
                (
                    crate::manifest::resolve::normalize(&project.join(&i.path)),
                    self.root().join(&i.file),
                    i.path.clone(),
                )
            })
            .collect()
    }

    /// The pins whose wheel for this machine the bundle lacks: for a pin
    /// whose lock entry lists its artifacts, the native installer here
    /// takes the best-fitting one ([`crate::wheel::best_file`]), and a
    /// bundle made for other platforms may not hold it.
    pub fn wheel_gaps(&self) -> Vec<String> {
        let machine = crate::wheel::tags::this_machine();
        let mut gaps = Vec::new();
        for (env, locked) in &self.lock.environments {
            let version = crate::venv::major_minor(&locked.python_version).unwrap_or((3, 0));
            for package in locked.packages.iter().filter(|p| !p.files.is_empty()) {
                let pin = format!("`{}=={}` (env.{env})", package.name, package.version);
                match crate::wheel::best_file(&package.files, IMPLEMENTATION, version, &machine) {
                    Some(file) if self.wheel(&file.sha256).is_some() => {}
                    Some(file) => {
                        gaps.push(format!("{pin}: its wheel for {machine}, `{}`", file.name))
                    }
                    None => gaps.push(format!(
                        "{pin}: no wheel the lock lists fits Python {}.{} on {machine}",
                        version.0, version.1
                    )),
                }
            }
        }
        gaps
    }

    /// Links every wheel into the download cache by its sha256 (an entry
    /// already there is kept), where the native installer looks first:
    /// the restored machine installs them again with no bundle. Returns
    /// how many went in.
    pub fn import_wheels(&self, cache: &fetch::Cache) -> Result<usize, BundleError> {
        self.link_into_cache(
            cache,
            self.index
                .wheels
                .iter()
                .map(|w| (w.sha256.as_str(), w.file.as_str())),
        )
    }

    /// Links every conda package into the download cache by its sha256,
    /// as [`Opened::import_wheels`] does wheels: the locked conda install
    /// finds each there before it looks at its url, so it never reaches
    /// for a channel (whose `file://` URL in the lock may name a folder of
    /// another machine). Returns how many went in.
    pub fn import_conda(&self, cache: &fetch::Cache) -> Result<usize, BundleError> {
        self.link_into_cache(
            cache,
            self.index
                .conda
                .iter()
                .map(|c| (c.sha256.as_str(), c.file.as_str())),
        )
    }

    /// Links each `(sha256, file inside the bundle)` into the download
    /// cache, keeping an entry already there.
    fn link_into_cache<'a>(
        &self,
        cache: &fetch::Cache,
        artifacts: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<usize, BundleError> {
        let mut imported = 0;
        for (sha256, file) in artifacts {
            if cache.get(sha256).is_some() {
                continue;
            }
            fs_err::create_dir_all(cache.root())
                .map_err(BundleError::io("create", cache.root()))?;
            let from = self.root().join(file);
            let partial = cache.partial_of(sha256);
            let _ = fs_err::remove_file(&partial);
            if fs_err::hard_link(&from, &partial).is_err() {
                fs_err::copy(&from, &partial).map_err(BundleError::io("copy", &from))?;
            }
            let to = cache.path_of(sha256);
            fs_err::rename(&partial, &to).map_err(BundleError::io("write", &to))?;
            imported += 1;
        }
        if imported > 0 {
            crate::files::sync_dir(cache.root()).map_err(BundleError::io("sync", cache.root()))?;
        }
        Ok(imported)
    }

    /// The conda environments whose packages are for another platform
    /// than this machine's (a lock pins one platform's conda packages).
    pub fn conda_gaps(&self) -> Vec<String> {
        let here = crate::conda::Platform::current().map(|p| p.to_string());
        self.lock
            .environments
            .iter()
            .filter_map(|(env, e)| Some((env, e.conda.as_ref()?)))
            .filter(|(_, c)| here.as_deref() != Some(c.platform.as_str()))
            .map(|(env, c)| {
                format!(
                    "the conda packages of env.{env} for {}: the bundle has them for `{}`, locked there",
                    here.as_deref().unwrap_or("this machine"),
                    c.platform
                )
            })
            .collect()
    }

    /// Refuses, before anything is written, a manifest folder channel
    /// whose place holds something that is not a folder: it would be
    /// neither restored nor usable, and is not ours to replace.
    pub fn check_conda_channels(&self) -> Result<(), BundleError> {
        for (folder, _) in &self.conda_channels {
            if let Ok(meta) = fs_err::metadata(folder)
                && !meta.is_dir()
            {
                return Err(BundleError::ChannelInTheWay {
                    path: folder.clone(),
                });
            }
        }
        Ok(())
    }

    /// Makes each of the manifest's folder channels that does not exist,
    /// holding the bundle's conda packages from that channel and their
    /// `repodata.json` ([`crate::conda::write_channel`]): the manifest
    /// then validates here, and `plan`, `lock` and `apply` solve against
    /// it as they did where the bundle was made. Folders that exist are
    /// left alone. Returns the folders made.
    pub fn restore_conda_channels(&self) -> Result<Vec<PathBuf>, BundleError> {
        let mut made = Vec::new();
        let platform = self
            .lock
            .environments
            .values()
            .find_map(|e| e.conda.as_ref())
            .map(|c| c.platform.clone())
            .unwrap_or_default();
        for (folder, written) in &self.conda_channels {
            if fs_err::symlink_metadata(folder).is_ok() {
                continue;
            }
            let mut packages = Vec::new();
            for artifact in self.index.conda.iter().filter(|c| c.channel == *written) {
                let sha = artifact.sha256.to_ascii_lowercase();
                let locked = self
                    .lock
                    .environments
                    .values()
                    .filter_map(|e| e.conda.as_ref())
                    .flat_map(|c| c.packages.iter())
                    .find(|p| p.sha256.eq_ignore_ascii_case(&sha));
                if let (Some(locked), Some(path)) = (locked, self.conda.get(&sha)) {
                    packages.push((locked.clone(), path.clone()));
                }
            }
            // Filled beside, then renamed: a folder that exists is whole.
            let parent = folder.parent().unwrap_or(Path::new("/"));
            fs_err::create_dir_all(parent).map_err(BundleError::io("create", parent))?;
            let temp = tempfile::Builder::new()
                .prefix(".beep-python-conda-channel.")
                .tempdir_in(parent)
                .map_err(BundleError::io("create a folder in", parent))?;
            crate::conda::write_channel(temp.path(), &packages, &platform).map_err(|source| {
                BundleError::CondaChannel {
                    path: folder.clone(),
                    source,
                }
            })?;
            let temp = temp.keep();
            fs_err::rename(&temp, folder).map_err(BundleError::io("create", folder))?;
            crate::files::sync_dir(parent).map_err(BundleError::io("sync", parent))?;
            made.push(folder.clone());
        }
        Ok(made)
    }

    /// Makes each of the manifest's local `find-links` folders that does
    /// not exist, holding the bundle's wheels by their names: the
    /// manifest then validates on this machine, and `lock` and `apply`
    /// find the wheels there as they did where the bundle was made.
    /// Folders that exist are left alone. Returns the folders made.
    pub fn restore_find_links(&self) -> Result<Vec<PathBuf>, BundleError> {
        let mut made = Vec::new();
        for folder in &self.find_links {
            if fs_err::symlink_metadata(folder).is_ok() {
                continue;
            }
            // Filled beside, then renamed: a folder that exists is whole.
            let parent = folder.parent().unwrap_or(Path::new("/"));
            fs_err::create_dir_all(parent).map_err(BundleError::io("create", parent))?;
            let temp = tempfile::Builder::new()
                .prefix(".beep-python-find-links.")
                .tempdir_in(parent)
                .map_err(BundleError::io("create a folder in", parent))?;
            for wheel in &self.index.wheels {
                let from = self.root().join(&wheel.file);
                let name = wheel.file.rsplit('/').next().unwrap_or(&wheel.file);
                let to = temp.path().join(name);
                if fs_err::hard_link(&from, &to).is_err() {
                    fs_err::copy(&from, &to).map_err(BundleError::io("copy", &from))?;
                }
            }
            let temp = temp.keep();
            fs_err::rename(&temp, folder).map_err(BundleError::io("create", folder))?;
            crate::files::sync_dir(parent).map_err(BundleError::io("sync", parent))?;
            made.push(folder.clone());
        }
        Ok(made)
    }

    /// The bundle's standalone builds as a download catalog (the
    /// `python-downloads` format): on a machine of another platform than
    /// the lock's, `apply --bundle` finds this platform's build here, with
    /// no catalog from the network or the manifest's folder.
    pub fn catalog_json(&self) -> String {
        let downloads: Vec<serde_json::Value> = self
            .index
            .runtimes
            .iter()
            .filter_map(|r| {
                let mut parts = r.platform.splitn(3, '-');
                let (os, arch, libc) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({
                    "version": r.version,
                    "os": os,
                    "arch": arch,
                    "libc": libc,
                    "build": "bundle",
                    "url": r.url,
                    "sha256": r.sha256,
                }))
            })
            .collect();
        serde_json::json!({
            "source": format!("bundle {}", self.bundle.display()),
            "count": downloads.len(),
            "downloads": downloads,
        })
        .to_string()
    }

    /// Moves every interpreter archive into the download cache, by its
    /// sha256 (an entry already there is kept); returns how many moved.
    pub fn import_runtimes(&self, cache: &fetch::Cache) -> Result<usize, BundleError> {
        let mut moved = 0;
        for runtime in &self.index.runtimes {
            // Already there, or moved for another platform it serves.
            if cache.get(&runtime.sha256).is_some() {
                continue;
            }
            fs_err::create_dir_all(cache.root())
                .map_err(BundleError::io("create", cache.root()))?;
            let from = self.root().join(&runtime.file);
            let to = cache.path_of(&runtime.sha256);
            // Verified above, and on the same file system (the scratch
            // folder is in the home's cache): a rename is the whole import.
            if fs_err::rename(&from, &to).is_err() {
                let partial = cache.partial_of(&runtime.sha256);
                fs_err::copy(&from, &partial).map_err(BundleError::io("copy", &from))?;
                fs_err::rename(&partial, &to).map_err(BundleError::io("write", &to))?;
            }
            crate::files::sync_dir(cache.root()).map_err(BundleError::io("sync", cache.root()))?;
            moved += 1;
        }
        Ok(moved)
    }
}
