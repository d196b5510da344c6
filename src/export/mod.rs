//! `export`: from what is on the machine to a manifest and a lock, so that
//! the same commands rebuild it elsewhere (or after an OS reinstall).
//!
//! What goes in, per environment (the registry's, and any folder named,
//! ours or not):
//!
//! - **Runtime**: a managed one as its manifest declared it (or, with that
//!   manifest gone, as the registry recorded it: `version`, or `url` and
//!   `sha256`), its build pinned in the lock; a system one as `source =
//!   "system"` with the minor version it had (`version = "3.11"`, which
//!   any 3.11 satisfies after a reinstall), its declared `path` kept, the
//!   exact version in a comment and in the lock.
//! - **Requirements**: for our environments, the requirements they were
//!   built from (the marker's `built.requirements`: exactly what the
//!   manifest asked, templates and profiles folded in); for any other, the
//!   distributions marked `REQUESTED`, or, with none marked, the ones no
//!   other installed distribution requires. Either way a distribution
//!   installed by hand on top (requested, or required by nothing) is added
//!   as `name>=version` and said so. pip, setuptools and wheel count only
//!   when something asked for them (venvs seed them).
//! - **Direct URLs** (`direct_url.json`): an archive from a URL is
//!   exported as what it is, `name @ url`, with the digest it records; a
//!   local archive that still exists likewise; an editable or folder
//!   install, a VCS checkout, or an archive that is gone cannot be locked
//!   by hash and is reported, not exported.
//! - **Pins** (the lock): every installed distribution the requirements
//!   reach through `Requires-Dist`, with its version. Hashes come from
//!   `direct_url.json`, else the environment's own `beep-python.lock`
//!   (same name and version), else the wheel cache (the native
//!   installer's unpacked wheels, `cache/unpacked/<sha256>`), else the artifacts
//!   in `find-links` folders
//!   (the owning manifests' and `export --find-links`); a pin with none is
//!   exported without, listed, and the next `lock` completes it. Each
//!   artifact is recorded as `lock` records it (`files`: file name, an
//!   index's url, sha256), and a local folder an artifact was found in
//!   joins the exported `find-links`: the native installer, which installs
//!   locked environments, finds such a file there by its name.
//! - **Env vars** recorded by us (the marker's `built.env`), and
//!   `system-site-packages` and `pip` as built.
//! - **Settings** (installer, index, find-links, offline, mirrors, conda
//!   mirrors) of the manifests that own the exported environments, where
//!   they agree (and the folders above added to `find-links`).
//!
//! # Conda environments
//!
//! A folder with `conda-meta/` (ours, or made by conda, mamba, micromamba,
//! pixi) is exported as `kind = "conda"` (`export/conda.rs`):
//!
//! - **Channels**: ours as built (the marker's `built.conda.channels`);
//!   another's, each package's channel, from its recorded `url` (conda
//!   writes `channel` with the subdir appended), the one most packages
//!   came from first.
//! - **Packages** (match specs): ours as built (`built.conda.specs`, with
//!   the `python X.Y.*` a runtime added: the export names no runtime, a
//!   conda environment brings its own python); another's, what
//!   `conda-meta/history` leaves in force, else the records'
//!   `requested_spec(s)`, else the packages no other package depends on
//!   ([`crate::conda::requested_specs`]).
//! - **PyPI packages on top**: the distributions in `site-packages` that no
//!   conda package's `paths` hold, as `pypi-packages` (chosen and pinned as
//!   a venv's requirements are, above).
//! - **Pins**: every conda package from its `conda-meta/*.json` record,
//!   exactly as `lock` pins it (name, version, build, subdir, channel,
//!   file name, url, sha256, md5, size), with the lock's `conda-platform`.
//!   A record with no sha256 (older conda records only an md5) gets it
//!   from the archive in conda's `pkgs/` folder or at its `file://` url,
//!   checked against the md5. A package still without one leaves the
//!   environment out of the lock (named with the unhashed pins): `lock`
//!   pins it from the channels.
//!
//! The manifest text is checked by the same checker as `validate` before
//! anything is written, and the lock's inputs hashes are computed from it,
//! so the pair matches (`apply --locked` accepts it).

mod conda;
pub mod dist;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::bundle::ArtifactSources;
use crate::diagnostic::SourceFile;
use crate::discover::PyvenvCfg;
use crate::fetch;
use crate::lockfile::{self, Lock, LockedEnvironment, LockedFile, LockedPackage, LockedRuntime};
use crate::manifest::{self, MANIFEST_FILE, Manifest, RuntimeSource, resolve};
use crate::registry::model::{BuiltFrom, EnvironmentRecord, RuntimeKind};
use crate::registry::{Home, Registry};

use dist::{DirectUrl, Dist};

/// What to export.
pub struct Request<'a> {
    pub home: &'a Home,
    pub registry: &'a Registry,
    /// Environment folders named on the command line; with none, every
    /// environment the registry records.
    pub paths: &'a [PathBuf],
    /// More folders (discovery's environments), exported as well.
    pub discovered: &'a [PathBuf],
    /// More folders of wheels to take hashes from.
    pub find_links: &'a [PathBuf],
    /// Where the files go: environments inside it get relative paths.
    pub out_dir: &'a Path,
}

/// The exported manifest and lock, and what to tell the user.
#[derive(Debug, Clone)]
pub struct Export {
    pub manifest_text: String,
    pub lock: Lock,
    /// Things reported: what could not be exported, names changed,
    /// settings left out.
    pub notes: Vec<String>,
    /// `name==version (env.NAME)` of each pin exported without a hash.
    pub unhashed: Vec<String>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExportError {
    #[error("`{}` is not a virtual environment (no `pyvenv.cfg` naming a `home`)", path.display())]
    #[diagnostic(
        code("export::not-an-environment"),
        help("name the folder that holds `pyvenv.cfg` (the one above `bin/`)")
    )]
    NotAnEnvironment { path: PathBuf },

    #[error("cannot read the conda environment `{}`", path.display())]
    #[diagnostic(
        code("export::conda"),
        help(
            "a `conda-meta/*.json` record is unreadable; `beep-python doctor` checks the environment"
        )
    )]
    Conda {
        path: PathBuf,
        #[source]
        #[diagnostic_source]
        source: crate::conda::CondaError,
    },

    #[error("there is nothing to export: the registry records no environment")]
    #[diagnostic(
        code("export::nothing"),
        help(
            "name environment folders (`beep-python export PATH...`), or add `--discovered` to export the virtual environments found on this machine"
        )
    )]
    Nothing,

    #[error("the exported manifest does not validate; nothing was written:\n{rendered}")]
    #[diagnostic(
        code("export::invalid"),
        help("this is a bug in beep-python's export; please report it with the text above")
    )]
    Invalid { rendered: String },

    #[error("`{}` already exists", path.display())]
    #[diagnostic(
        code("export::exists"),
        help("nothing was written; pass `--force` to replace it, or `--out` another folder")
    )]
    Exists { path: PathBuf },

    #[error("`{}` does not exist; `export --format pylock` writes the lock of the manifest in use", path.display())]
    #[diagnostic(code("export::no-lock"), help("run `beep-python lock` first"))]
    NoLock { path: PathBuf },

    #[error(
        "`export --format pylock` writes the lock of the manifest in use, not environment folders"
    )]
    #[diagnostic(
        code("export::pylock-from-lock"),
        help(
            "export the folders first (`beep-python export PATH... --out DIR`), then run `beep-python lock` and `beep-python export --format pylock` in DIR"
        )
    )]
    PylockFromLock,

    #[error("cannot write `{}`", path.display())]
    #[diagnostic(code("export::write"))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A runtime as it goes into the manifest and the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RuntimeOut {
    name: String,
    decl: Decl,
    locked: LockedRuntime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Decl {
    Managed {
        source: RuntimeSource,
        version: String,
        url: Option<String>,
        sha256: Option<String>,
    },
    System {
        /// `3.11`
        minor: String,
        path: Option<String>,
        /// `3.11.2` at `/usr/bin/python3.11`, for the comment.
        exact: String,
        interpreter: PathBuf,
    },
}

/// An environment as it goes into the manifest and the lock.
#[derive(Debug, Clone)]
struct EnvOut {
    name: String,
    path: Option<String>,
    runtime: String,
    packages: Vec<String>,
    env: BTreeMap<String, String>,
    system_site_packages: bool,
    pip: bool,
    python_version: String,
    /// For a venv, its pins; for a conda environment, its PyPI pins.
    pins: Vec<LockedPackage>,
    /// A conda environment's conda part (`packages` then holds its match
    /// specs, `runtime` is empty).
    conda: Option<conda::CondaOut>,
}

/// Everything the export is built from, gathered once.
struct Gathered<'a> {
    req: &'a Request<'a>,
    runtimes: Vec<RuntimeOut>,
    envs: Vec<EnvOut>,
    notes: Vec<String>,
    /// The owning manifests, by their path (`None`: unreadable).
    owners: BTreeMap<PathBuf, Option<Manifest>>,
    /// The local folders pins' artifacts were found in: they go into the
    /// exported `find-links`, where the native installer looks for them.
    artifact_dirs: BTreeSet<PathBuf>,
    /// The wheels in the unpacked cache, read when first needed.
    unpacked: Option<Vec<(String, String, LockedFile)>>,
}

/// Builds the export (see the module docs). Writes nothing.
pub fn gather(req: &Request<'_>) -> Result<Export, ExportError> {
    let mut g = Gathered {
        req,
        runtimes: Vec::new(),
        envs: Vec::new(),
        notes: Vec::new(),
        owners: BTreeMap::new(),
        artifact_dirs: BTreeSet::new(),
        unpacked: None,
    };
    let mut folders: Vec<PathBuf> = Vec::new();
    if req.paths.is_empty() {
        folders.extend(req.registry.environments.iter().map(|e| e.path.clone()));
    } else {
        for path in req.paths {
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            folders.push(resolve::normalize(&absolute));
        }
    }
    for path in req.discovered {
        if !folders.contains(path) {
            folders.push(path.clone());
        }
    }
    if folders.is_empty() {
        return Err(ExportError::Nothing);
    }
    for folder in folders {
        let record = req
            .registry
            .environments
            .iter()
            .find(|e| e.path == folder)
            .cloned();
        g.environment(&folder, record.as_ref())?;
    }
    g.finish()
}

impl Gathered<'_> {
    /// Where an exported environment's artifacts are looked for, offline:
    /// the download cache, `export --find-links`, and the local
    /// `find-links` folders of the manifest that owns it.
    fn artifact_sources(&self, owner: Option<&Manifest>) -> ArtifactSources {
        let mut dirs: Vec<PathBuf> = self.req.find_links.to_vec();
        if let Some(owner) = owner {
            dirs.extend(
                crate::desired::installer_config(owner)
                    .find_links
                    .into_iter()
                    .filter(|l| !l.contains("://"))
                    .map(PathBuf::from),
            );
        }
        ArtifactSources::new(
            dirs,
            fetch::Cache::new(self.req.home.cache_dir().join("downloads")),
            fetch::Options {
                offline: true,
                ..fetch::Options::default()
            },
        )
    }

    fn owner(&mut self, path: &Path) -> Option<&Manifest> {
        if !self.owners.contains_key(path) {
            let loaded = manifest::load(path, self.req.home.root())
                .ok()
                .map(|c| c.manifest);
            if loaded.is_none() {
                self.notes.push(format!(
                    "the manifest `{}` that built some of these environments cannot be read; their runtimes and settings are taken from the registry",
                    path.display()
                ));
            }
            self.owners.insert(path.to_path_buf(), loaded);
        }
        self.owners.get(path).and_then(Option::as_ref)
    }

    fn environment(
        &mut self,
        folder: &Path,
        record: Option<&EnvironmentRecord>,
    ) -> Result<(), ExportError> {
        if conda::is_conda(folder, record) {
            return self.conda_environment(folder, record);
        }
        let observed = crate::venv::observe(folder);
        let marker = observed.marker.clone();
        let built: Option<BuiltFrom> = marker
            .as_ref()
            .and_then(|m| m.built.clone())
            .or_else(|| record.and_then(|r| r.built.clone()));
        let owner_path = marker
            .as_ref()
            .map(|m| m.owner.clone())
            .or_else(|| record.and_then(|r| r.owner.clone()));
        if !observed.is_venv && record.is_none() {
            return Err(ExportError::NotAnEnvironment {
                path: folder.to_path_buf(),
            });
        }
        let cfg = fs_err::read_to_string(folder.join("pyvenv.cfg"))
            .map(|t| PyvenvCfg::parse(&t))
            .unwrap_or_default();
        let python_version = observed
            .version
            .clone()
            .or_else(|| built.as_ref().map(|b| b.python_version.clone()))
            .or_else(|| record.map(|r| r.version.clone()))
            .unwrap_or_default();
        let wanted_name = marker
            .as_ref()
            .map(|m| m.name.clone())
            .or_else(|| record.map(|r| r.name.clone()))
            .unwrap_or_else(|| name_from_folder(folder));
        let name = self.unique_env_name(&wanted_name);

        // The base interpreter, and the runtime it is.
        let interpreter = cfg
            .executable
            .clone()
            .or_else(|| cfg.home.as_ref().map(|h| h.join("python3")))
            .or_else(|| record.and_then(|r| r.interpreter.clone()))
            .map(|p| fs_err::canonicalize(&p).unwrap_or(p))
            .unwrap_or_default();
        let runtime_name = built
            .as_ref()
            .map(|b| b.runtime.clone())
            .or_else(|| record.map(|r| r.runtime.clone()));
        let owner = owner_path.as_deref().and_then(|p| self.owner(p)).cloned();
        let runtime = self.runtime_of(
            owner.as_ref(),
            runtime_name.as_deref(),
            &interpreter,
            &python_version,
        );
        let runtime = self.add_runtime(runtime);

        // What is installed, and what asked for it.
        let dists: Vec<Dist> = dist::site_packages(folder, observed.version.as_deref())
            .iter()
            .flat_map(|s| dist::read(s))
            .collect();
        let dists: Vec<Dist> = if dists.is_empty() {
            // The folder is gone: the record's packages are all there is.
            record
                .map(|r| {
                    r.packages
                        .iter()
                        .map(|p| Dist {
                            name: crate::venv::normalize_name(&p.name),
                            version: p.version.clone(),
                            requested: false,
                            requires: Vec::new(),
                            direct_url: None,
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            dists
        };
        if !observed.exists {
            self.notes.push(format!(
                "env.{name}: its folder `{}` is gone; exported from the registry's record",
                folder.display()
            ));
        }
        let (packages, roots) = self.requirements(&name, built.as_ref(), &dists);

        // The pins: what the requirements reach.
        let owner_lock = owner_path
            .as_deref()
            .and_then(|p| lockfile::read(&lockfile::path_for(p)).ok().flatten());
        let locked_before: Vec<LockedPackage> = owner_lock
            .as_ref()
            .and_then(|l| {
                let original = marker
                    .as_ref()
                    .map(|m| m.name.as_str())
                    .unwrap_or(&wanted_name);
                l.environments.get(original).map(|e| e.packages.clone())
            })
            .unwrap_or_default();
        let sources = self.artifact_sources(owner.as_ref());
        let pins = self.pins(&roots, &dists, &locked_before, &sources);

        let path = self.exported_path(folder, &name);
        self.envs.push(EnvOut {
            name,
            path,
            runtime,
            packages,
            env: built.as_ref().map(|b| b.env.clone()).unwrap_or_default(),
            system_site_packages: built
                .as_ref()
                .map_or(cfg.include_system_site_packages, |b| b.system_site_packages),
            pip: built.as_ref().is_none_or(|b| b.pip),
            python_version,
            pins,
            conda: None,
        });
        Ok(())
    }

    /// The pins of an environment: every installed distribution the
    /// `roots` reach, each with the hashes found for it (see the module
    /// docs).
    fn pins(
        &mut self,
        roots: &[String],
        dists: &[Dist],
        locked_before: &[LockedPackage],
        sources: &ArtifactSources,
    ) -> Vec<LockedPackage> {
        let reached = closure(roots, dists);
        let mut pins = Vec::new();
        for d in dists.iter().filter(|d| reached.contains(&d.name)) {
            let mut pin = LockedPackage::new(&d.name, &d.version, Vec::new());
            match &d.direct_url {
                Some(DirectUrl::Archive {
                    url,
                    sha256: Some(sha),
                }) => pin.files.push(LockedFile {
                    name: crate::bundle::url_file_name(url),
                    url: is_remote(url).then(|| url.clone()),
                    sha256: sha.to_ascii_lowercase(),
                }),
                // pip records no digest for a local file: the file is
                // hashed, if it is still there.
                Some(DirectUrl::Archive { url, sha256: None }) => {
                    if let Some(path) = url::Url::parse(url)
                        .ok()
                        .filter(|u| u.scheme() == "file")
                        .and_then(|u| u.to_file_path().ok())
                        && let Ok(sha) = crate::bundle::sha256_file(&path)
                    {
                        self.artifact_dirs
                            .extend(path.parent().map(resolve::normalize));
                        pin.files.push(LockedFile {
                            name: crate::bundle::url_file_name(url),
                            url: None,
                            sha256: sha,
                        });
                    }
                }
                _ => {}
            }
            if pin.files.is_empty()
                && let Some(before) = locked_before
                    .iter()
                    .find(|p| p.name == d.name && p.version == d.version)
            {
                pin = before.clone();
            }
            if pin.files.is_empty() && pin.hashes.is_empty() {
                pin.files = self.cached_wheels(&d.name, &d.version);
            }
            if pin.files.is_empty() && pin.hashes.is_empty() {
                for found in sources.files_for(&d.name, &d.version) {
                    self.artifact_dirs
                        .extend(found.path.parent().map(resolve::normalize));
                    pin.files.push(LockedFile {
                        name: found.file_name,
                        url: None,
                        sha256: found.sha256,
                    });
                }
            }
            pin.hashes
                .extend(pin.files.iter().map(|f| format!("sha256:{}", f.sha256)));
            pin.normalize();
            pins.push(pin);
        }
        pins.sort();
        pins
    }

    /// How the exported manifest names the folder of environment `name`:
    /// nothing for the home's default place, relative inside the output
    /// folder, else absolute.
    fn exported_path(&self, folder: &Path, name: &str) -> Option<String> {
        let default_path = self.req.home.environments_dir().join(name);
        if resolve::normalize(folder) == resolve::normalize(&default_path) {
            None
        } else if let Ok(rel) = folder.strip_prefix(self.req.out_dir) {
            Some(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/"),
            )
        } else {
            Some(folder.display().to_string())
        }
    }

    /// The requirements of an environment and the names they start from
    /// (see the module docs).
    fn requirements(
        &mut self,
        env: &str,
        built: Option<&BuiltFrom>,
        dists: &[Dist],
    ) -> (Vec<String>, Vec<String>) {
        let required: BTreeSet<&str> = dists
            .iter()
            .flat_map(|d| d.requires.iter().map(|r| r.name.as_str()))
            .collect();
        let seeded = |name: &str| matches!(name, "pip" | "setuptools" | "wheel");
        let mut packages: Vec<String> = Vec::new();
        let mut roots: Vec<String> = Vec::new();
        if let Some(built) = built {
            for requirement in &built.requirements {
                packages.push(requirement.clone());
                if let Some(name) = dist::requirement_name(requirement) {
                    roots.push(name);
                }
            }
        }
        let any_requested = dists.iter().any(|d| d.requested && !seeded(&d.name));
        for d in dists {
            if roots.contains(&d.name) {
                continue;
            }
            let top = if built.is_some() {
                // Ours: only what was added by hand on top counts (a
                // locked install marks every pin `REQUESTED`).
                !required.contains(d.name.as_str()) && !seeded(&d.name)
            } else if any_requested {
                // `venv` marks the pip (and setuptools) it seeds as
                // requested too; seeding brings them back.
                d.requested && !seeded(&d.name)
            } else {
                !required.contains(d.name.as_str()) && !seeded(&d.name)
            };
            if !top {
                continue;
            }
            match &d.direct_url {
                None => packages.push(format!("{}>={}", d.name, d.version)),
                Some(DirectUrl::Archive { url, .. }) => {
                    let gone = url
                        .strip_prefix("file://")
                        .and_then(|_| url::Url::parse(url).ok()?.to_file_path().ok())
                        .is_some_and(|p| !p.exists());
                    if gone {
                        self.notes.push(format!(
                            "env.{env}: `{}` {} was installed from `{url}`, which is gone; not exported",
                            d.name, d.version
                        ));
                        continue;
                    }
                    packages.push(format!("{} @ {url}", d.name));
                }
                Some(DirectUrl::Directory { url, editable }) => {
                    self.notes.push(format!(
                        "env.{env}: `{}` {} is {} install of `{url}`, which a lock cannot pin by hash; not exported (install it again from its folder)",
                        d.name,
                        d.version,
                        if *editable { "an editable" } else { "a folder" }
                    ));
                    continue;
                }
                Some(DirectUrl::Vcs { url, vcs, commit }) => {
                    self.notes.push(format!(
                        "env.{env}: `{}` {} comes from {vcs} `{url}` at `{commit}`, which a lock cannot pin by hash; not exported (add `{} @ {vcs}+{url}@{commit}` by hand if you need it)",
                        d.name, d.version, d.name
                    ));
                    continue;
                }
            }
            if built.is_some() {
                self.notes.push(format!(
                    "env.{env}: `{}` {} was installed by hand; exported as a requirement",
                    d.name, d.version
                ));
            }
            roots.push(d.name.clone());
        }
        (packages, roots)
    }

    fn runtime_of(
        &mut self,
        owner: Option<&Manifest>,
        name: Option<&str>,
        interpreter: &Path,
        python_version: &str,
    ) -> RuntimeOut {
        let minor = crate::venv::short_version(python_version);
        let declared = owner.zip(name).and_then(|(m, n)| m.runtimes.get(n));
        let owner_lock =
            owner.and_then(|m| lockfile::read(&lockfile::path_for(&m.path)).ok().flatten());
        let from_owner_lock = name.and_then(|n| owner_lock.as_ref()?.runtimes.get(n).cloned());
        let value = |s: Option<&manifest::Spanned<String>>| s.map(|v| v.value.trim().to_string());
        match declared {
            Some(runtime) if runtime.source == RuntimeSource::System => RuntimeOut {
                name: name.unwrap_or("python").to_string(),
                decl: Decl::System {
                    minor,
                    path: value(runtime.path.as_ref()),
                    exact: python_version.to_string(),
                    interpreter: interpreter.to_path_buf(),
                },
                locked: system_lock(python_version, interpreter),
            },
            Some(runtime) => {
                let record = self.managed_record(interpreter);
                let locked = from_owner_lock
                    .filter(|l| l.source == runtime.source.as_str())
                    .or_else(|| record.clone().map(|r| r.1))
                    .unwrap_or(LockedRuntime {
                        source: runtime.source.as_str().to_string(),
                        version: python_version.to_string(),
                        url: value(runtime.url.as_ref()),
                        sha256: value(runtime.sha256.as_ref()),
                        path: None,
                        platform: None,
                    });
                RuntimeOut {
                    name: name.unwrap_or("python").to_string(),
                    decl: Decl::Managed {
                        source: runtime.source,
                        version: value(runtime.version.as_ref())
                            .unwrap_or_else(|| locked.version.clone()),
                        url: value(runtime.url.as_ref()),
                        sha256: value(runtime.sha256.as_ref()),
                    },
                    locked,
                }
            }
            None => match self.managed_record(interpreter) {
                Some((decl, locked)) => RuntimeOut {
                    name: name
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("cpython-{}", locked.version)),
                    decl,
                    locked,
                },
                None => RuntimeOut {
                    name: name
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("python{minor}")),
                    decl: Decl::System {
                        minor,
                        path: None,
                        exact: python_version.to_string(),
                        interpreter: interpreter.to_path_buf(),
                    },
                    locked: system_lock(python_version, interpreter),
                },
            },
        }
    }

    /// The managed runtime (one of ours, under `<home>/runtimes`) whose
    /// interpreter this is, as the registry recorded it.
    fn managed_record(&self, interpreter: &Path) -> Option<(Decl, LockedRuntime)> {
        let record = self.req.registry.runtimes.iter().find(|r| {
            r.managed
                && r.root.as_ref().is_some_and(|root| {
                    let root = fs_err::canonicalize(root).unwrap_or_else(|_| root.clone());
                    interpreter.starts_with(root)
                })
        })?;
        let source = match record.kind {
            RuntimeKind::Standalone => RuntimeSource::Standalone,
            RuntimeKind::Url => RuntimeSource::Url,
            RuntimeKind::Embeddable => RuntimeSource::Embeddable,
            RuntimeKind::System => return None,
        };
        let platform = record
            .root
            .as_ref()
            .and_then(|r| r.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .and_then(|id| {
                id.strip_prefix(&format!("cpython-{}-", record.version))
                    .map(str::to_string)
            })
            .filter(|_| source == RuntimeSource::Standalone);
        Some((
            Decl::Managed {
                source,
                version: record.version.clone(),
                url: (source != RuntimeSource::Standalone)
                    .then(|| record.url.clone())
                    .flatten(),
                sha256: (source != RuntimeSource::Standalone)
                    .then(|| record.sha256.clone())
                    .flatten(),
            },
            LockedRuntime {
                source: source.as_str().to_string(),
                version: record.version.clone(),
                url: record.url.clone(),
                sha256: record.sha256.clone(),
                path: None,
                platform,
            },
        ))
    }

    /// Adds `runtime` (or finds the same one already added) and returns
    /// its name in the export.
    fn add_runtime(&mut self, runtime: RuntimeOut) -> String {
        if let Some(same) = self
            .runtimes
            .iter()
            .find(|r| r.decl == runtime.decl && r.locked == runtime.locked)
        {
            return same.name.clone();
        }
        let mut name = sanitize(&runtime.name);
        let mut n = 2;
        while self.runtimes.iter().any(|r| r.name == name) {
            name = format!("{}-{n}", sanitize(&runtime.name));
            n += 1;
        }
        if name != runtime.name {
            self.notes.push(format!(
                "runtime `{}` is exported as `{name}` (another runtime has its name)",
                runtime.name
            ));
        }
        self.runtimes.push(RuntimeOut {
            name: name.clone(),
            ..runtime
        });
        name
    }

    /// The wheels of `name` `version` in the native installer's unpacked
    /// cache (see [`unpacked_wheels`]), listed once per export.
    fn cached_wheels(&mut self, name: &str, version: &str) -> Vec<LockedFile> {
        let cache = self
            .unpacked
            .get_or_insert_with(|| unpacked_wheels(&self.req.home.cache_dir()));
        let want = pep440_rs::Version::from_str(version).ok();
        cache
            .iter()
            .filter(|(n, v, _)| {
                n == name
                    && match (&want, pep440_rs::Version::from_str(v)) {
                        (Some(a), Ok(b)) => *a == b,
                        _ => v == version,
                    }
            })
            .map(|(_, _, file)| file.clone())
            .collect()
    }

    fn unique_env_name(&mut self, wanted: &str) -> String {
        let base = sanitize(wanted);
        let mut name = base.clone();
        let mut n = 2;
        while self.envs.iter().any(|e| e.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        if name != wanted {
            self.notes
                .push(format!("environment `{wanted}` is exported as `{name}`"));
        }
        name
    }

    fn finish(mut self) -> Result<Export, ExportError> {
        let settings = self.settings();
        let text = render(&settings, &self.runtimes, &self.envs);
        let path = self.req.out_dir.join(MANIFEST_FILE);
        let checked = manifest::check(
            SourceFile::new(MANIFEST_FILE, text.clone()),
            &path,
            self.req.out_dir,
            self.req.home.root(),
        )
        .map_err(|e| ExportError::Invalid {
            rendered: match e {
                manifest::ManifestError::Invalid { diagnostics, .. } => diagnostics
                    .iter()
                    .map(|d| crate::report::render(d, false))
                    .collect::<Vec<_>>()
                    .join("\n"),
                other => other.to_string(),
            },
        })?;
        let resolved = resolve::resolve(&checked.manifest, self.req.home.root());
        let mut lock = Lock::default();
        for runtime in &self.runtimes {
            lock.runtimes
                .insert(runtime.name.clone(), runtime.locked.clone());
        }
        let mut unhashed = Vec::new();
        for env in &self.envs {
            let Some(resolved) = resolved.iter().find(|r| r.name == env.name) else {
                continue;
            };
            let locked_conda = match &env.conda {
                None => None,
                Some(conda) => match &conda.locked {
                    Ok(locked) => Some(locked.clone()),
                    Err(unpinned) => {
                        // No entry: `apply --locked` then asks for `lock`,
                        // which pins them from the channels.
                        unhashed.extend(
                            unpinned
                                .iter()
                                .map(|p| format!("conda package `{p}` (env.{})", env.name)),
                        );
                        continue;
                    }
                },
            };
            for pin in env.pins.iter().filter(|p| p.hashes.is_empty()) {
                unhashed.push(format!(
                    "`{}=={}` (env.{})",
                    pin.name, pin.version, env.name
                ));
            }
            lock.environments.insert(
                env.name.clone(),
                LockedEnvironment {
                    runtime: env.runtime.clone(),
                    python_version: env.python_version.clone(),
                    inputs_hash: crate::desired::env_inputs_hash(
                        resolved,
                        checked.manifest.runtimes.get(&env.runtime),
                    ),
                    packages: env.pins.clone(),
                    conda: locked_conda,
                },
            );
        }
        self.notes.sort();
        self.notes.dedup();
        Ok(Export {
            manifest_text: text,
            lock,
            notes: self.notes,
            unhashed,
        })
    }

    /// The owning manifests' package and download settings, where they
    /// agree; relative folders made absolute.
    fn settings(&mut self) -> Vec<(String, String)> {
        let manifests: Vec<Manifest> = self.owners.values().flatten().cloned().collect();
        let mut out: Vec<(String, String)> = Vec::new();
        let keys: [(&str, SettingOf); 7] = [
            ("installer", |m| {
                let text = match m.settings.installer {
                    manifest::Installer::Auto => return None,
                    manifest::Installer::Pip => "pip",
                    manifest::Installer::Uv => "uv",
                    manifest::Installer::Native => "native",
                };
                Some(quote(text))
            }),
            ("index-url", |m| {
                m.settings.index_url.as_ref().map(|u| quote(&u.value))
            }),
            ("offline", |m| {
                m.settings.offline.then(|| "true".to_string())
            }),
            ("allow-insecure-http", |m| {
                m.settings.allow_insecure_http.then(|| "true".to_string())
            }),
            ("python-mirror", |m| {
                m.settings
                    .python_mirror
                    .as_ref()
                    .map(|v| quote(&absolute_location(m, &v.value)))
            }),
            ("python-downloads", |m| {
                m.settings
                    .python_downloads
                    .as_ref()
                    .map(|v| quote(&absolute_location(m, &v.value)))
            }),
            // Exported conda channels are URLs (never names), so the alias
            // does not matter; mirrors still decide where packages come
            // from.
            ("conda-mirrors", |m| {
                (!m.settings.conda_mirrors.is_empty()).then(|| {
                    let pairs: Vec<String> = m
                        .settings
                        .conda_mirrors
                        .iter()
                        .map(|(original, mirror)| {
                            format!(
                                "{} = {}",
                                quote(original),
                                quote(&absolute_location(m, &mirror.value))
                            )
                        })
                        .collect();
                    format!("{{ {} }}", pairs.join(", "))
                })
            }),
        ];
        let disagree = |key: &str| {
            format!(
                "the manifests of these environments disagree on `settings.{key}`; it is left out"
            )
        };
        for (key, get) in keys {
            let values: BTreeSet<Option<String>> = manifests.iter().map(get).collect();
            match values.len() {
                0 => {}
                1 => {
                    if let Some(Some(value)) = values.into_iter().next() {
                        out.push((key.to_string(), value));
                    }
                }
                _ => self.notes.push(disagree(key)),
            }
        }
        // find-links: the owners' (where they agree), and every folder a
        // pin's artifact was found in, so that the lock installs.
        let owned: BTreeSet<Vec<String>> = manifests
            .iter()
            .map(|m| crate::desired::installer_config(m).find_links)
            .collect();
        let mut links: Vec<String> = Vec::new();
        if owned.len() > 1 {
            self.notes.push(disagree("find-links"));
        } else {
            links.extend(owned.into_iter().flatten());
        }
        for dir in &self.artifact_dirs {
            let text = dir.display().to_string();
            if !links.contains(&text) {
                links.push(text);
            }
        }
        if !links.is_empty() {
            let at = out.iter().position(|(k, _)| k == "index-url").map_or(
                out.iter()
                    .position(|(k, _)| k == "installer")
                    .map_or(0, |i| i + 1),
                |i| i + 1,
            );
            out.insert(
                at,
                (
                    "find-links".to_string(),
                    format!(
                        "[{}]",
                        links
                            .iter()
                            .map(|l| quote(l))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            );
        }
        out
    }
}

/// Every wheel the native installer unpacked into
/// `<cache>/unpacked/<sha256>/` (normalized name, version, the file): the
/// wheel cache a pin's hash comes from when nothing else records it. The
/// entry keeps the wheel's sha256 (its folder's name) but not its file
/// name, which is rebuilt from its `WHEEL` file (`Build`, `Tag`) as
/// `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, tags
/// compressed in the order `WHEEL` lists them: it serves to choose among
/// wheels by their tags, while the installer and bundles find the file by
/// its sha256 (`<cache>/downloads/<sha256>` holds it when it was
/// downloaded).
fn unpacked_wheels(cache_dir: &Path) -> Vec<(String, String, LockedFile)> {
    let root = cache_dir.join("unpacked");
    let Ok(entries) = fs_err::read_dir(&root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let sha256 = entry.file_name().to_string_lossy().into_owned();
        if !fetch::is_sha256(&sha256) {
            continue;
        }
        let Ok(Some(manifest)) = crate::wheel::unpack::load(&entry.path()) else {
            continue;
        };
        let wheel_file = crate::wheel::unpack::tree(&entry.path())
            .join(&manifest.dist_info)
            .join("WHEEL");
        let Ok(text) = fs_err::read_to_string(&wheel_file) else {
            continue;
        };
        let Some(name) = wheel_file_name(&manifest.name, &manifest.dist_version, &text) else {
            continue;
        };
        out.push((
            crate::venv::normalize_name(&manifest.name),
            manifest.dist_version.clone(),
            LockedFile {
                name,
                url: None,
                sha256,
            },
        ));
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

/// A wheel's file name from its distribution name and version as its
/// `.dist-info` spells them and its `WHEEL` file's `Build` and `Tag`s.
fn wheel_file_name(name: &str, version: &str, wheel: &str) -> Option<String> {
    let mut build = None;
    let (mut python, mut abi, mut platform): (Vec<&str>, Vec<&str>, Vec<&str>) =
        (Vec::new(), Vec::new(), Vec::new());
    for line in wheel.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "Build" => build = Some(value.trim()),
            "Tag" => {
                let mut parts = value.trim().splitn(3, '-');
                let (Some(py), Some(a), Some(plat)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                for (list, tag) in [(&mut python, py), (&mut abi, a), (&mut platform, plat)] {
                    if !list.contains(&tag) {
                        list.push(tag);
                    }
                }
            }
            _ => {}
        }
    }
    if python.is_empty() {
        return None;
    }
    let build = build.map(|b| format!("-{b}")).unwrap_or_default();
    Some(format!(
        "{}-{}{build}-{}-{}-{}.whl",
        name.replace('-', "_"),
        version.replace('-', "_"),
        python.join("."),
        abi.join("."),
        platform.join(".")
    ))
}

/// Whether a URL is an index's (`http`, `https`): the lock records those,
/// never a local `file:` URL.
fn is_remote(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// How one `[settings]` key is read from a manifest, as TOML text.
type SettingOf = fn(&Manifest) -> Option<String>;

fn system_lock(version: &str, interpreter: &Path) -> LockedRuntime {
    LockedRuntime {
        source: "system".into(),
        version: version.to_string(),
        url: None,
        sha256: None,
        path: Some(interpreter.to_path_buf()),
        platform: None,
    }
}

/// A folder, file or URL setting of `manifest`, made independent of its
/// folder.
fn absolute_location(manifest: &Manifest, value: &str) -> String {
    if value.contains("://") {
        value.to_string()
    } else {
        resolve::normalize(&manifest.dir.join(value))
            .display()
            .to_string()
    }
}

/// Every name the `roots` reach through `Requires-Dist`, among what is
/// installed.
fn closure(roots: &[String], dists: &[Dist]) -> BTreeSet<String> {
    let installed: BTreeMap<&str, &Dist> = dists.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = roots
        .iter()
        .filter(|r| installed.contains_key(r.as_str()))
        .cloned()
        .collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(d) = installed.get(name.as_str()) {
            for r in &d.requires {
                // An extra's requirement counts when it is installed: the
                // extra was asked for, or the user wanted it anyway.
                if installed.contains_key(r.name.as_str()) && !seen.contains(&r.name) {
                    stack.push(r.name.clone());
                }
            }
        }
    }
    seen
}

/// A name that fits the manifest's name rule.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.starts_with(|c: char| !c.is_ascii_alphanumeric()) {
        out.remove(0);
    }
    out.truncate(60);
    if out.is_empty() { "env".into() } else { out }
}

/// A name for a folder that is not ours: its own, or its parent's for
/// the usual `.venv` / `venv`.
fn name_from_folder(folder: &Path) -> String {
    let own = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trimmed = own.trim_start_matches('.');
    if matches!(trimmed, "venv" | "env" | "virtualenv")
        && let Some(parent) = folder.parent().and_then(Path::file_name)
    {
        return parent.to_string_lossy().into_owned();
    }
    own
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML key: bare when it can be.
fn key(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        text.to_string()
    } else {
        quote(text)
    }
}

fn render(settings: &[(String, String)], runtimes: &[RuntimeOut], envs: &[EnvOut]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Exported by beep-python {} from the environments on this machine.\n# `beep-python lock` completes what beep-python.lock lacks; `beep-python apply --locked` rebuilds them.\nversion = 1",
        env!("CARGO_PKG_VERSION")
    );
    if !settings.is_empty() {
        out.push_str("\n[settings]\n");
        for (k, v) in settings {
            let _ = writeln!(out, "{k} = {v}");
        }
    }
    for runtime in runtimes {
        let _ = writeln!(out, "\n[runtimes.{}]", key(&runtime.name));
        match &runtime.decl {
            Decl::Managed {
                source,
                version,
                url,
                sha256,
            } => {
                if *source != RuntimeSource::Standalone {
                    let _ = writeln!(out, "source = {}", quote(source.as_str()));
                }
                let _ = writeln!(out, "version = {}", quote(version));
                if let Some(url) = url {
                    let _ = writeln!(out, "url = {}", quote(url));
                }
                if let Some(sha256) = sha256 {
                    let _ = writeln!(out, "sha256 = {}", quote(sha256));
                }
            }
            Decl::System {
                minor,
                path,
                exact,
                interpreter,
            } => {
                let _ = writeln!(
                    out,
                    "# was Python {exact} at `{}`",
                    interpreter.display().to_string().replace('\n', " ")
                );
                let _ = writeln!(out, "source = \"system\"");
                let _ = writeln!(out, "version = {}", quote(minor));
                if let Some(path) = path {
                    let _ = writeln!(out, "path = {}", quote(path));
                }
            }
        }
    }
    for env in envs {
        let _ = writeln!(out, "\n[environments.{}]", key(&env.name));
        if env.conda.is_some() {
            out.push_str("kind = \"conda\"\n");
        } else {
            let _ = writeln!(out, "runtime = {}", quote(&env.runtime));
        }
        if let Some(path) = &env.path {
            let _ = writeln!(out, "path = {}", quote(path));
        }
        if let Some(conda) = &env.conda {
            render_list(&mut out, "channels", &conda.channels);
        }
        render_list(&mut out, "packages", &env.packages);
        if let Some(conda) = &env.conda
            && !conda.pypi_packages.is_empty()
        {
            render_list(&mut out, "pypi-packages", &conda.pypi_packages);
        }
        if !env.env.is_empty() {
            let vars: Vec<String> = env
                .env
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), quote(v)))
                .collect();
            let _ = writeln!(out, "env = {{ {} }}", vars.join(", "));
        }
        if env.system_site_packages {
            out.push_str("system-site-packages = true\n");
        }
        if !env.pip {
            out.push_str("pip = false\n");
        }
    }
    out
}

/// `key = [...]`, one item per line (`[]` when empty).
fn render_list(out: &mut String, key: &str, items: &[String]) {
    if items.is_empty() {
        let _ = writeln!(out, "{key} = []");
        return;
    }
    let _ = writeln!(out, "{key} = [");
    for item in items {
        let _ = writeln!(out, "    {},", quote(item));
    }
    out.push_str("]\n");
}

/// The artifacts `export --format pylock` writes for `package`: each file
/// the lock lists (by its url, else by the local file in `sources` with its
/// sha256; one found nowhere is left out), or, for a lock from before
/// `files`, its one `url` or the local files with one of its hashes.
pub fn pylock_artifacts(
    package: &LockedPackage,
    sources: &ArtifactSources,
) -> Vec<lockfile::pylock::ArtifactRef> {
    use lockfile::pylock::{ArtifactRef, Location};
    let local = sources.local(package);
    let by_path = |found: &crate::bundle::Found| ArtifactRef {
        name: found.file_name.clone(),
        location: Location::Path(found.path.clone()),
        sha256: found.sha256.clone(),
    };
    if !package.files.is_empty() {
        return package
            .files
            .iter()
            .filter_map(|file| match &file.url {
                Some(url) => Some(ArtifactRef {
                    name: file.name.clone(),
                    location: Location::Url(url.clone()),
                    sha256: file.sha256.clone(),
                }),
                None => local
                    .iter()
                    .filter(|f| f.sha256 == file.sha256)
                    .min_by_key(|f| f.file_name != file.name)
                    .map(|found| ArtifactRef {
                        name: file.name.clone(),
                        ..by_path(found)
                    }),
            })
            .collect();
    }
    match (&package.url, package.hashes.as_slice()) {
        (Some(url), [hash]) => vec![ArtifactRef {
            name: crate::bundle::url_file_name(url),
            location: Location::Url(url.clone()),
            sha256: hash.trim_start_matches("sha256:").to_string(),
        }],
        _ => local.iter().map(by_path).collect(),
    }
}

/// Writes the export into `dir`: `beep-python.toml` and `beep-python.lock`,
/// neither replaced unless `force` (both checked before either is
/// written).
pub fn write(export: &Export, dir: &Path, force: bool) -> Result<(PathBuf, PathBuf), ExportError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let lock_path = dir.join(lockfile::LOCK_FILE);
    if !force {
        for path in [&manifest_path, &lock_path] {
            if fs_err::symlink_metadata(path).is_ok() {
                return Err(ExportError::Exists { path: path.clone() });
            }
        }
    }
    fs_err::create_dir_all(dir).map_err(|source| ExportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    crate::files::write_atomic(
        &manifest_path,
        export.manifest_text.as_bytes(),
        crate::files::Durability::Durable,
        None,
    )
    .map_err(|source| ExportError::Write {
        path: manifest_path.clone(),
        source,
    })?;
    crate::files::write_atomic(
        &lock_path,
        lockfile::render(&export.lock).as_bytes(),
        crate::files::Durability::Durable,
        None,
    )
    .map_err(|source| ExportError::Write {
        path: lock_path.clone(),
        source,
    })?;
    Ok((manifest_path, lock_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_file_names_come_back_from_the_wheel_s_tags() {
        assert_eq!(
            wheel_file_name("beep_a", "1.0", "Wheel-Version: 1.0\nTag: py3-none-any\n").as_deref(),
            Some("beep_a-1.0-py3-none-any.whl")
        );
        assert_eq!(
            wheel_file_name(
                "numpy",
                "2.0.0",
                "Build: 1\nTag: cp311-cp311-manylinux_2_17_x86_64\nTag: cp311-cp311-manylinux2014_x86_64\n"
            )
            .as_deref(),
            Some("numpy-2.0.0-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
        );
        assert_eq!(
            wheel_file_name("six", "1.16.0", "Tag: py2-none-any\nTag: py3-none-any\n").as_deref(),
            Some("six-1.16.0-py2.py3-none-any.whl")
        );
        assert_eq!(wheel_file_name("x", "1", "Wheel-Version: 1.0\n"), None);
    }

    #[test]
    fn folder_names_become_manifest_names() {
        assert_eq!(name_from_folder(Path::new("/p/web")), "web");
        assert_eq!(name_from_folder(Path::new("/srv/api/.venv")), "api");
        assert_eq!(sanitize(".my env!"), "my-env-");
        assert_eq!(sanitize("..."), "env");
    }

    #[test]
    fn keys_are_quoted_only_when_they_must() {
        assert_eq!(key("web"), "web");
        assert_eq!(key("a.b"), "\"a.b\"");
        for text in ["a\"b", "it's", "line\nbreak", "tab\t\\"] {
            let parsed: toml::Table = toml::from_str(&format!("k = {}", quote(text))).unwrap();
            assert_eq!(parsed["k"].as_str(), Some(text));
        }
    }

    #[test]
    fn the_closure_follows_requires_among_what_is_installed() {
        let dist = |name: &str, requires: &[&str]| Dist {
            name: name.into(),
            version: "1".into(),
            requested: false,
            requires: requires
                .iter()
                .map(|r| dist::Requires {
                    name: (*r).into(),
                    extra_only: false,
                })
                .collect(),
            direct_url: None,
        };
        let dists = vec![
            dist("a", &["b", "missing"]),
            dist("b", &["c"]),
            dist("c", &["a"]),
            dist("d", &[]),
        ];
        let reached = closure(&["a".into()], &dists);
        assert_eq!(reached.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
