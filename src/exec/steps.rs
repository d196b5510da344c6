//! What each step does. Every step checks before it acts, and every change
//! to a resource's folder goes through the journal ([`Journal::claim_dir`],
//! [`Journal::place`], [`Journal::set_aside`]), which records it first and
//! proves ownership on undo.

use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::graph::{Owned, RuntimeJob, Step};
use super::journal::{ClaimError, Journal, NewFile};
use super::{Event, Settings, StepError};
use crate::fetch;
use crate::installer;
use crate::inventory;
use crate::plan::{EnvSpec, PackageChanges};
use crate::provision::{self, ProvisionError};
use crate::venv::{self, BaseInterpreter, CreateOptions, Marker, Seeded};
use crate::wheel;

/// Shared state of one apply's steps.
pub struct Run<'a> {
    pub settings: &'a Settings<'a>,
    pub journal: &'a Journal,
}

impl<'a> Run<'a> {
    fn cancelled(&self) -> bool {
        self.settings.cancel.load(Ordering::SeqCst)
    }

    /// A step cancelled by Ctrl-C reports the interruption, not what the
    /// cancellation made fail.
    fn interrupted_or(&self, error: StepError) -> StepError {
        if self.cancelled() {
            StepError::Interrupted
        } else {
            error
        }
    }

    pub fn run(&self, step: &Step<'_, '_>) -> Result<(), StepError> {
        if self.cancelled() {
            return Err(StepError::Interrupted);
        }
        match step {
            Step::CheckRuntime { interpreter, .. } => {
                if !interpreter.is_file() {
                    return Err(StepError::RuntimeMissing {
                        path: interpreter.to_path_buf(),
                    });
                }
                Ok(())
            }
            Step::SetAside { path, owned, .. } => self.set_aside(path, *owned),
            Step::Download(job) => self.download(job),
            Step::Extract(job) => self.extract(job),
            Step::Configure(job) => self.configure(job),
            Step::VerifyInterpreter(job) => self.verify_interpreter(job),
            Step::CreateVenv(spec) => self.create_venv(spec),
            Step::SeedPip(spec) => self.seed_pip(spec),
            Step::InstallPackages(spec) => self.install_packages(spec),
            Step::Verify(spec) => verify(spec),
            Step::Repoint { spec, from } => self.repoint(spec, from),
            Step::Snapshot(spec) => self.snapshot(spec),
            Step::Reconfigure(spec) => self.reconfigure(spec),
            Step::UpdatePackages(spec, packages) => self.update_packages(spec, packages),
            Step::RecordInventory(spec) => {
                inventory::update(&spec.path)?;
                crate::failpoint::crash_point("recorded-inventory");
                Ok(())
            }
        }
    }

    /// Only what carries our marker (this manifest's, for an environment;
    /// inside `<home>/runtimes/`, for a runtime) is ever moved.
    fn set_aside(&self, path: &Path, owned: Owned) -> Result<(), StepError> {
        if fs_err::symlink_metadata(path).is_err() {
            // Already gone: nothing to keep.
            return Ok(());
        }
        let ours = match owned {
            Owned::Runtime => {
                provision::read_marker(path).is_some()
                    && path.starts_with(self.settings.home.runtimes_dir())
            }
            Owned::Environment => {
                venv::read_marker(path).is_some_and(|m| m.owner == self.settings.owner)
            }
            Owned::Debris => is_debris(path, self.settings.home),
        };
        if !ours {
            return match owned {
                // A deleted environment whose folder is no longer ours:
                // only its record goes (the plan said so).
                Owned::Environment => Ok(()),
                Owned::Runtime | Owned::Debris => Err(StepError::NotOurs {
                    path: path.to_path_buf(),
                }),
            };
        }
        self.journal
            .set_aside(path)
            .map(|_| ())
            .map_err(|source| StepError::MoveAside {
                path: path.to_path_buf(),
                source,
            })
    }

    fn create_venv(&self, spec: &EnvSpec) -> Result<(), StepError> {
        self.journal.claim_dir(&spec.path).map_err(claim_error)?;
        venv::create(
            &spec.path,
            &base_of(spec),
            &CreateOptions {
                name: &spec.name,
                system_site_packages: spec.system_site_packages,
                env_vars: &spec.env,
            },
        )?;
        venv::write_marker(
            &spec.path,
            &Marker {
                version: venv::MARKER_VERSION,
                name: spec.name.clone(),
                owner: self.settings.owner.to_path_buf(),
                spec_hash: spec.spec_hash(),
                created_at: jiff::Timestamp::now(),
                built: Some(spec.built_from()),
            },
        )?;
        crate::failpoint::crash_point("created-venv");
        Ok(())
    }

    /// A restore point: every file of the environment hard-linked aside.
    fn snapshot(&self, spec: &EnvSpec) -> Result<(), StepError> {
        // Only our own environment is changed in place.
        if venv::read_marker(&spec.path).is_none_or(|m| m.owner != self.settings.owner) {
            return Err(StepError::NotOurs {
                path: spec.path.clone(),
            });
        }
        self.journal
            .snapshot(&spec.path)
            .map(|_| ())
            .map_err(|source| StepError::MoveAside {
                path: spec.path.clone(),
                source,
            })
    }

    /// `pyvenv.cfg`, the activation scripts and the marker, as the spec
    /// says (each file replaced by a rename, so the snapshot keeps the old
    /// ones).
    fn reconfigure(&self, spec: &EnvSpec) -> Result<(), StepError> {
        venv::create(
            &spec.path,
            &base_of(spec),
            &CreateOptions {
                name: &spec.name,
                system_site_packages: spec.system_site_packages,
                env_vars: &spec.env,
            },
        )?;
        let created_at =
            venv::read_marker(&spec.path).map_or_else(jiff::Timestamp::now, |m| m.created_at);
        venv::write_marker(
            &spec.path,
            &Marker {
                version: venv::MARKER_VERSION,
                name: spec.name.clone(),
                owner: self.settings.owner.to_path_buf(),
                spec_hash: spec.spec_hash(),
                created_at,
                built: Some(spec.built_from()),
            },
        )?;
        crate::failpoint::crash_point("reconfigured");
        Ok(())
    }

    /// Only what differs, in place: a locked environment is synced exactly
    /// by the native installer (damaged packages installed again); an
    /// unlocked one loses the distributions no longer required (by their
    /// `RECORD`) and gets the rest from its installer.
    fn update_packages(&self, spec: &EnvSpec, packages: &PackageChanges) -> Result<(), StepError> {
        crate::failpoint::pause("install-packages", self.settings.cancel);
        if self.cancelled() {
            return Err(StepError::Interrupted);
        }
        let layout = venv::layout(&spec.path, &spec.python_version);
        let name_of =
            |line: &str| venv::normalize_name(line.split_whitespace().next().unwrap_or_default());
        let reinstall: std::collections::BTreeSet<String> =
            packages.reinstall.iter().map(|l| name_of(l)).collect();
        if spec.locked.is_some() {
            return self.install_native(spec, reinstall);
        }
        let mut removed = Vec::new();
        for line in packages.remove.iter().chain(&packages.reinstall) {
            let name = name_of(line);
            if let Some(gone) = wheel::uninstall(&layout, &name).map_err(StepError::Wheel)? {
                removed.push(format!("{} {}", gone.name, gone.version));
                crate::failpoint::crash_point("uninstalled");
            }
        }
        // The damaged ones go in again at the version they had. Lines the
        // manifest does not hold are asked for too (`doctor --fix` adds
        // what an installed package requires and is missing).
        let mut requirements: Vec<String> = spec.packages.clone();
        let extra = packages
            .add
            .iter()
            .filter(|a| *a != "pip")
            .chain(packages.change.iter().map(|c| &c.required));
        for line in extra {
            if !requirements.contains(line) {
                requirements.push(line.clone());
            }
        }
        for line in &packages.reinstall {
            let mut parts = line.split_whitespace();
            if let (Some(name), Some(version)) = (parts.next(), parts.next()) {
                requirements.push(format!("{name}=={version}"));
            }
        }
        let needs_install = !packages.add.iter().all(|a| a == "pip")
            || !packages.change.is_empty()
            || !packages.reinstall.is_empty();
        if needs_install && !requirements.is_empty() {
            self.seed_for_pip(spec)?;
            self.install_with(spec, &layout.python, &requirements)?;
            self.drop_pip_if_unwanted(spec)?;
        }
        self.settings.progress.event(&Event::Installed {
            address: format!("env.{}", spec.name),
            installer: self.settings.selected.kind.as_str(),
            link_mode: None,
            installed: packages
                .add
                .iter()
                .chain(&packages.reinstall)
                .cloned()
                .chain(packages.change.iter().map(|c| c.required.clone()))
                .collect(),
            removed,
        });
        crate::failpoint::crash_point("installed-packages");
        Ok(())
    }

    /// `requirements` into the environment by pip or uv, each line of
    /// their output reported as the environment's [`Event::Activity`].
    fn install_with(
        &self,
        spec: &EnvSpec,
        python: &Path,
        requirements: &[String],
    ) -> Result<(), StepError> {
        let settings = self.settings;
        let activity = self.activity(spec);
        installer::install_observed(
            settings.selected,
            settings.installer,
            &installer::Request {
                python,
                requirements,
                environment: &spec.name,
            },
            settings.cancel,
            Some(&activity),
        )
        .map_err(|e| self.interrupted_or(StepError::Install(e)))?;
        Ok(())
    }

    /// Reports a line of what is being done to `spec`'s environment.
    fn activity(&self, spec: &EnvSpec) -> impl Fn(&str) + Sync + use<'a> {
        let address = format!("env.{}", spec.name);
        let progress = self.settings.progress;
        move |text: &str| {
            progress.event(&Event::Activity {
                address: address.clone(),
                text: text.trim().to_string(),
            });
        }
    }

    /// pip installs with pip: it must be there first, whatever `pip` says.
    fn seed_for_pip(&self, spec: &EnvSpec) -> Result<(), StepError> {
        if self.settings.selected.kind == installer::Kind::Pip {
            self.seed_pip(spec)?;
        }
        Ok(())
    }

    /// With `pip = false`, pip leaves again once it has installed.
    fn drop_pip_if_unwanted(&self, spec: &EnvSpec) -> Result<(), StepError> {
        if !spec.pip {
            let layout = venv::layout(&spec.path, &spec.python_version);
            wheel::uninstall(&layout, "pip").map_err(StepError::Wheel)?;
        }
        Ok(())
    }

    /// The locked set, exactly, by the native installer: what is not
    /// locked goes (pip stays where the environment keeps pip), what is
    /// damaged goes in again.
    fn install_native(
        &self,
        spec: &EnvSpec,
        reinstall: std::collections::BTreeSet<String>,
    ) -> Result<(), StepError> {
        let Some(locked) = &spec.locked else {
            return Ok(());
        };
        let layout = venv::layout(&spec.path, &spec.python_version);
        // Top-level requirements (REQUESTED), and those that named their
        // artifact by URL (PEP 610's `direct_url.json`).
        let mut requested = std::collections::BTreeMap::new();
        for text in &spec.packages {
            if let Ok(r) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(text) {
                let url = match &r.version_or_url {
                    Some(pep508_rs::VersionOrUrl::Url(url)) => Some(url.to_string()),
                    _ => None,
                };
                requested.insert(venv::normalize_name(r.name.as_ref()), url);
            }
        }
        let target = wheel::Target::with_layout(layout.clone(), &base_of(spec));
        let pins: Vec<wheel::Pin> = locked
            .iter()
            .map(|p| {
                let wanted = requested.get(&venv::normalize_name(&p.name));
                let mut pin = wheel::Pin::for_target(p, wanted.is_some(), &target);
                if let Some(Some(url)) = wanted {
                    pin.direct = true;
                    pin.url.get_or_insert_with(|| url.clone());
                }
                pin
            })
            .collect();
        // Distributions the lock does not list go, except pip where the
        // environment keeps it (it is seeded, not locked).
        let pinned: std::collections::BTreeSet<String> =
            pins.iter().map(|p| p.name.clone()).collect();
        let mut removed = Vec::new();
        for dist in wheel::installed(&target.layout.site_packages) {
            if pinned.contains(&dist.name) || (dist.name == "pip" && spec.pip) {
                continue;
            }
            if let Some(gone) =
                wheel::uninstall(&target.layout, &dist.name).map_err(StepError::Wheel)?
            {
                removed.push(format!("{} {}", gone.name, gone.version));
            }
        }
        let mut options =
            wheel::Options::new(&self.settings.home.cache_dir(), self.settings.cancel);
        options.find_links = self
            .settings
            .installer
            .find_links
            .iter()
            .filter(|l| !l.contains("://"))
            .map(std::path::PathBuf::from)
            .collect();
        options.fetch = self.settings.fetch.clone();
        options.compile_bytecode = self.settings.compile_bytecode;
        options.unverified_record = self.settings.unverified_record.clone();
        options.reinstall = reinstall;
        let activity = self.activity(spec);
        options.activity = &activity;
        let report = wheel::install(&target, &pins, &options).map_err(|e| match e {
            wheel::WheelError::Cancelled => StepError::Interrupted,
            other => self.interrupted_or(StepError::Wheel(other)),
        })?;
        removed.extend(
            report
                .removed
                .iter()
                .map(|r| format!("{} {}", r.name, r.version)),
        );
        self.settings.progress.event(&Event::Installed {
            address: format!("env.{}", spec.name),
            installer: "native",
            link_mode: report.link_mode.map(|m| m.to_string()),
            installed: report
                .installed
                .iter()
                .map(|i| format!("{} {}", i.name, i.version))
                .collect(),
            removed,
        });
        crate::failpoint::crash_point("installed-packages");
        Ok(())
    }

    fn seed_pip(&self, spec: &EnvSpec) -> Result<(), StepError> {
        let layout = venv::layout(&spec.path, &spec.python_version);
        // Unpacked once into the cache, then hard-linked: creating ~600
        // files is most of the cost of seeding (uv does the same).
        let cache = self.settings.home.cache_dir().join("unpacked");
        match venv::seed_pip_cached(&layout, &base_of(spec), Some(&cache))? {
            Seeded::Wheel { .. } | Seeded::Ensurepip => {
                crate::failpoint::crash_point("seeded-pip");
                Ok(())
            }
            Seeded::Unavailable { reason } => Err(StepError::NoPip { reason }),
        }
    }

    fn install_packages(&self, spec: &EnvSpec) -> Result<(), StepError> {
        crate::failpoint::pause("install-packages", self.settings.cancel);
        if self.cancelled() {
            return Err(StepError::Interrupted);
        }
        if spec.locked.is_some() {
            // The package set is known exactly: the native installer, from
            // the lock's artifacts, with no pip or uv needed.
            return self.install_native(spec, Default::default());
        }
        let layout = venv::layout(&spec.path, &spec.python_version);
        if !spec.packages.is_empty() {
            self.install_with(spec, &layout.python, &spec.packages)?;
        }
        self.drop_pip_if_unwanted(spec)?;
        crate::failpoint::crash_point("installed-packages");
        Ok(())
    }

    fn download(&self, job: &RuntimeJob<'_>) -> Result<(), StepError> {
        let spec = job.spec;
        // Check, then act: a runtime already in place with these bytes is
        // only checked. Decided once, before anything moves.
        let installed = *job.installed.get_or_init(|| provision::is_installed(spec));
        if installed {
            return Ok(());
        }
        let progress = DownloadProgress {
            address: &job.address,
            settings: self.settings,
            state: Mutex::new((0, None, None)),
        };
        let cache = fetch::Cache::new(self.settings.home.cache_dir().join("downloads"));
        let archive = provision::download(
            spec,
            &cache,
            self.settings.installer.offline,
            &progress,
            self.settings.cancel,
        )
        .map_err(|e| self.interrupted_or(e.into()))?;
        let _ = job.archive.set(archive);
        Ok(())
    }

    fn extract(&self, job: &RuntimeJob<'_>) -> Result<(), StepError> {
        if job.installed.get() == Some(&true) {
            return Ok(());
        }
        let archive = job.archive.get().ok_or_else(|| missing(job, "download"))?;
        let staging = self.settings.home.runtimes_dir().join(format!(
            ".staging-{}-{}-{}",
            job.spec.id(),
            job.spec.name,
            self.journal.short_id()
        ));
        self.journal.claim_dir(&staging).map_err(claim_error)?;
        let root = provision::extract(job.spec, archive, &staging)?;
        let _ = job.staging.set(staging);
        let _ = job.unpacked.set(root);
        // Lets a test kill the process with a full staging folder.
        crate::failpoint::pause("extract", self.settings.cancel);
        if self.cancelled() {
            return Err(StepError::Interrupted);
        }
        Ok(())
    }

    fn configure(&self, job: &RuntimeJob<'_>) -> Result<(), StepError> {
        if job.installed.get() == Some(&true) {
            return Ok(());
        }
        let root = job
            .unpacked
            .get()
            .ok_or_else(|| missing(job, "unpacked runtime"))?;
        provision::configure(job.spec, root)?;
        Ok(())
    }

    fn verify_interpreter(&self, job: &RuntimeJob<'_>) -> Result<(), StepError> {
        let spec = job.spec;
        let cancel = self.settings.cancel;
        if job.installed.get() == Some(&true) {
            return provision::verify_interpreter(spec, &spec.interpreter, cancel)
                .map_err(|e| self.interrupted_or(e.into()));
        }
        let root = job
            .unpacked
            .get()
            .ok_or_else(|| missing(job, "unpacked runtime"))?;
        let interpreter = provision::interpreter_in(root, spec.source, &spec.platform);
        provision::verify_interpreter(spec, &interpreter, cancel)
            .map_err(|e| self.interrupted_or(e.into()))?;
        provision::write_marker(spec, root)?;
        // Only into a place where nothing is: never over a folder that
        // appeared meanwhile.
        self.journal.place(root, &spec.root).map_err(|e| match e {
            ClaimError::Occupied { path } => {
                StepError::Provision(ProvisionError::Occupied { path })
            }
            other => claim_error(other),
        })?;
        if let Some(staging) = job.staging.get()
            && staging != root
        {
            let _ = fs_err::remove_dir_all(staging);
        }
        Ok(())
    }
}

impl Run<'_> {
    /// The `repoint` step: the environment is ours, the new base is there,
    /// and `pyvenv.cfg` and each `bin/` link into the old base are
    /// replaced through the journal (a rollback puts the old ones back).
    fn repoint(&self, spec: &EnvSpec, from: &Path) -> Result<(), StepError> {
        let root = &spec.path;
        if venv::read_marker(root).is_none_or(|m| m.owner != self.settings.owner) {
            return Err(StepError::NotOurs { path: root.clone() });
        }
        let rewrites = super::repoint::rewrites(root, from, &spec.interpreter).map_err(|e| {
            StepError::Repoint {
                path: root.clone(),
                reason: e.to_string(),
            }
        })?;
        let failed = |path: &Path, e: std::io::Error| StepError::Repoint {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let (cfg, text) = &rewrites.cfg;
        self.journal
            .replace_file(cfg, NewFile::Bytes(text.as_bytes()))
            .map_err(|e| failed(cfg, e))?;
        for (link, target) in &rewrites.links {
            self.journal
                .replace_file(link, NewFile::Symlink(target))
                .map_err(|e| failed(link, e))?;
        }
        crate::failpoint::crash_point("repointed");
        crate::failpoint::hit("repoint").map_err(|e| failed(root, e))?;
        Ok(())
    }
}

/// Whether `path` is our debris, proven again as it is about to move.
fn is_debris(path: &Path, home: &crate::registry::Home) -> bool {
    let named = super::journal::inspect(home).named;
    super::sweep::classify(path, home, &named).is_some()
}

fn claim_error(error: ClaimError) -> StepError {
    StepError::Claim(error)
}

fn missing(job: &RuntimeJob<'_>, what: &'static str) -> StepError {
    let _ = job;
    StepError::Provision(ProvisionError::Sequence {
        step: "runtime",
        what,
    })
}

fn base_of(spec: &EnvSpec) -> BaseInterpreter {
    BaseInterpreter {
        executable: spec.interpreter.clone(),
        version: spec.python_version.clone(),
        implementation: spec.implementation.clone(),
    }
}

/// After installing, the environment holds what was asked for.
fn verify(spec: &EnvSpec) -> Result<(), StepError> {
    let observed = venv::observe(&spec.path);
    let missing = match &spec.locked {
        Some(locked) => {
            let diff = crate::plan::locked_changes(&observed.packages, locked, spec.pip);
            diff.add
                .into_iter()
                .chain(
                    diff.change
                        .into_iter()
                        .map(|c| format!("{}=={} (found {})", c.name, c.required, c.installed)),
                )
                .chain(diff.remove.into_iter().map(|r| format!("not {r}")))
                .collect::<Vec<_>>()
        }
        None => {
            let diff = crate::plan::package_changes(&spec.packages, &observed.packages);
            diff.add
                .into_iter()
                .chain(diff.change.into_iter().map(|c| c.required))
                .collect()
        }
    };
    let pip_ok = !spec.pip || observed.packages.iter().any(|d| d.name == "pip");
    if missing.is_empty() && pip_ok {
        return Ok(());
    }
    let mut unsatisfied = missing;
    if !pip_ok {
        unsatisfied.push("pip".into());
    }
    Err(StepError::Verify { unsatisfied })
}

/// Turns download progress into throttled [`Event::Downloading`]s.
struct DownloadProgress<'a> {
    address: &'a str,
    settings: &'a Settings<'a>,
    state: Mutex<(u64, Option<u64>, Option<Instant>)>,
}

impl fetch::Progress for DownloadProgress<'_> {
    fn started(&self, _url: &str, total: Option<u64>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = (0, total, None);
    }

    fn advanced(&self, bytes: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += bytes;
        let due = state
            .2
            .is_none_or(|last| last.elapsed() >= Duration::from_millis(200));
        if due {
            state.2 = Some(Instant::now());
            self.settings.progress.event(&Event::Downloading {
                address: self.address.to_string(),
                bytes: state.0,
                total: state.1,
            });
        }
    }

    fn finished(&self) {}
}
