//! The steps that install packages: with pip or uv, or natively from the
//! lock ([`crate::wheel`]), whole or in place.

use super::*;

impl<'a> Run<'a> {
    /// Only what differs, in place: a locked environment is synced exactly
    /// by the native installer (damaged packages installed again); an
    /// unlocked one loses the distributions no longer required (by their
    /// `RECORD`) and gets the rest from its installer.
    pub(super) fn update_packages(
        &self,
        spec: &EnvSpec,
        packages: &PackageChanges,
    ) -> Result<(), StepError> {
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
            return self.install_native(spec, reinstall, true);
        }
        // The restore point is scoped (`exec::restore`): what this step
        // removes is kept first; pip and uv, which may write anywhere in
        // the environment, start only once it keeps every file.
        let leaving = packages
            .remove
            .iter()
            .chain(&packages.reinstall)
            .map(|l| name_of(l))
            .collect();
        self.preserve_dists(spec, &layout, &leaving)?;
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
            // pip seeded only to install may go over files that are not
            // pip's (a user's own `bin/pip`): note which are there now.
            let before_seed = if spec.pip {
                Vec::new()
            } else {
                files_where_pip_goes(&layout)
            };
            self.seed_for_pip(spec)?;
            // pip imports itself while every file is linked aside.
            let whole = || self.journal.widen(&spec.path).map(|_| ());
            self.install_changed(spec, &layout, packages, &requirements, &whole)?;
            self.drop_pip_if_unwanted(spec, &before_seed)?;
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
    /// What an update asks pip or uv for: only the lines that change
    /// (added, changed, damaged), with every other installed distribution
    /// pinned by a constraints file, so that their resolution is as small
    /// as `pip install <one package>` and cannot move what the update does
    /// not name. When that cannot be satisfied (the new package needs
    /// another version of an installed one), fails for any reason or
    /// leaves an installed package's own requirement unmet that was met
    /// (they resolve only what they are asked for), every
    /// requirement is asked for, unconstrained, as a rebuild would (the
    /// way `lock` keeps existing pins, [`crate::lockfile`]).
    fn install_changed(
        &self,
        spec: &EnvSpec,
        layout: &venv::Layout,
        packages: &PackageChanges,
        all: &[String],
        gate: installer::Gate<'_>,
    ) -> Result<(), StepError> {
        let changed: Vec<String> = packages
            .add
            .iter()
            .filter(|a| *a != "pip")
            .chain(packages.change.iter().map(|c| &c.required))
            .cloned()
            .chain(packages.reinstall.iter().filter_map(|line| {
                let mut parts = line.split_whitespace();
                Some(format!("{}=={}", parts.next()?, parts.next()?))
            }))
            .collect();
        let named: std::collections::BTreeSet<String> = changed
            .iter()
            .map(|line| venv::normalize_name(requirement_name(line)))
            .collect();
        let pins: String = wheel::installed(&layout.site_packages)
            .iter()
            .filter(|d| d.complete && !named.contains(&d.name))
            .map(|d| format!("{}=={}\n", d.name, d.version))
            .collect();
        let constraints = tempfile::Builder::new()
            .prefix("beep-python-keep-")
            .suffix(".txt")
            .tempfile()
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, pins.as_bytes())?;
                Ok(file)
            });
        let (Ok(constraints), false) = (constraints, changed.is_empty()) else {
            return self.install_with(spec, &layout.python, all, None, Some(gate));
        };
        let broken_before = broken_dependencies(spec, layout);
        match self.install_with(
            spec,
            &layout.python,
            &changed,
            Some(constraints.path()),
            Some(gate),
        ) {
            Err(StepError::Install(_)) if !self.cancelled() => {
                (self.activity(spec))(
                    "the installed versions cannot stay; asking for every requirement",
                );
                self.install_with(spec, &layout.python, all, None, Some(gate))
            }
            // pip and uv resolve only what they are asked for: a pinned
            // package that needs another version of what changed is
            // broken, with a warning and success. A full install would
            // have chosen another version of it.
            Ok(()) if !broken_dependencies(spec, layout).is_subset(&broken_before) => {
                (self.activity(spec))(
                    "what changed breaks an installed package; asking for every requirement",
                );
                self.install_with(spec, &layout.python, all, None, Some(gate))
            }
            other => other,
        }
    }

    /// With `gate`, the installer changes nothing before it succeeded.
    pub(super) fn install_with(
        &self,
        spec: &EnvSpec,
        python: &Path,
        requirements: &[String],
        constraints: Option<&Path>,
        gate: Option<installer::Gate<'_>>,
    ) -> Result<(), StepError> {
        let settings = self.settings;
        let activity = self.activity(spec);
        installer::install_gated(
            settings.selected,
            settings.installer,
            &installer::Request {
                python,
                requirements,
                environment: &spec.name,
                constraints,
            },
            settings.cancel,
            Some(&activity),
            gate,
        )
        .map_err(|e| match e {
            installer::InstallError::NotReleased { source, .. } => StepError::RestorePoint {
                path: spec.path.clone(),
                source,
            },
            other => self.interrupted_or(StepError::Install(other)),
        })?;
        Ok(())
    }

    /// Links the files of the installed distributions `names` into the
    /// environment's scoped restore point, before they are removed or
    /// replaced (a no-op with a whole one).
    fn preserve_dists(
        &self,
        spec: &EnvSpec,
        layout: &venv::Layout,
        names: &std::collections::BTreeSet<String>,
    ) -> Result<(), StepError> {
        let paths: Vec<std::path::PathBuf> = wheel::installed(&layout.site_packages)
            .iter()
            .filter(|d| names.contains(&d.name))
            .flat_map(|d| wheel::files_of(layout, d))
            .collect();
        self.journal
            .preserve(&spec.path, &paths)
            .map(|_| ())
            .map_err(|source| StepError::RestorePoint {
                path: spec.path.clone(),
                source,
            })
    }

    /// Reports a line of what is being done to `spec`'s environment.
    pub(super) fn activity(&self, spec: &EnvSpec) -> impl Fn(&str) + Sync + use<'a> {
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
    pub(super) fn seed_for_pip(&self, spec: &EnvSpec) -> Result<(), StepError> {
        if self.settings.selected.kind == installer::Kind::Pip {
            self.seed_pip(spec)?;
        }
        Ok(())
    }

    /// With `pip = false`, pip leaves again once it has installed; those
    /// of its files that were already there before it was seeded
    /// (`before_seed`, not pip's then) come back from the restore point.
    pub(super) fn drop_pip_if_unwanted(
        &self,
        spec: &EnvSpec,
        before_seed: &[std::path::PathBuf],
    ) -> Result<(), StepError> {
        if !spec.pip {
            let layout = venv::layout(&spec.path, &spec.python_version);
            self.preserve_dists(spec, &layout, &["pip".to_string()].into())?;
            let files: Vec<std::path::PathBuf> = wheel::installed(&layout.site_packages)
                .iter()
                .filter(|d| d.name == "pip")
                .flat_map(|d| wheel::files_of(&layout, d))
                .filter(|f| before_seed.contains(f))
                .collect();
            wheel::uninstall(&layout, "pip").map_err(StepError::Wheel)?;
            // pip was seeded only to install: what it went over (a user's
            // own `bin/pip`) comes back from the restore point.
            self.journal
                .put_back(&spec.path, &files)
                .map_err(|source| StepError::RestorePoint {
                    path: spec.path.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// The locked set by the native installer, what is damaged again;
    /// `exact`: what is not locked goes (pip stays where the environment
    /// keeps pip).
    pub(super) fn install_native(
        &self,
        spec: &EnvSpec,
        reinstall: std::collections::BTreeSet<String>,
        exact: bool,
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
        let unpinned: std::collections::BTreeSet<String> =
            wheel::installed(&target.layout.site_packages)
                .into_iter()
                .filter(|d| exact && !pinned.contains(&d.name) && !(d.name == "pip" && spec.pip))
                .map(|d| d.name)
                .collect();
        if !unpinned.is_empty() {
            self.preserve_dists(spec, &target.layout, &unpinned)?;
        }
        let mut removed = Vec::new();
        for dist in wheel::installed(&target.layout.site_packages) {
            if !unpinned.contains(&dist.name) {
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
        // The wheels download in parallel: one figure for the environment.
        let downloaded = self.downloading(&format!("env.{}", spec.name));
        let downloads = crate::fetch::Aggregate::new(&downloaded);
        options.progress = &downloads;
        // The restore point keeps each file the installer will remove or
        // replace, just before it does.
        let keep =
            |paths: &[std::path::PathBuf]| self.journal.preserve(&spec.path, paths).map(|_| ());
        options.before_change = &keep;
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

    pub(super) fn install_packages(&self, spec: &EnvSpec) -> Result<(), StepError> {
        crate::failpoint::pause("install-packages", self.settings.cancel);
        if self.cancelled() {
            return Err(StepError::Interrupted);
        }
        if spec.locked.is_some() {
            // The package set is known exactly: the native installer, from
            // the lock's artifacts, with no pip or uv needed.
            return self.install_native(spec, Default::default(), true);
        }
        let layout = venv::layout(&spec.path, &spec.python_version);
        if !spec.packages.is_empty() {
            self.install_with(spec, &layout.python, &spec.packages, None, None)?;
        }
        self.drop_pip_if_unwanted(spec, &[])?;
        crate::failpoint::crash_point("installed-packages");
        Ok(())
    }
}

/// The installed packages' own requirements that an installed version
/// does not meet (`package requirement`), as `doctor` judges them.
fn broken_dependencies(
    spec: &EnvSpec,
    layout: &venv::Layout,
) -> std::collections::BTreeSet<String> {
    let Some(markers) = crate::doctor::deps::marker_environment(&spec.python_version, "") else {
        return Default::default();
    };
    crate::doctor::deps::unmet(
        &crate::doctor::deps::installed(&layout.site_packages),
        &markers,
    )
    .into_iter()
    .filter(|u| u.installed.is_some())
    .map(|u| format!("{} {} {}", u.package, u.version, u.requirement))
    .collect()
}

/// The project name a requirement line starts with (PEP 508: letters,
/// digits, `-`, `_`, `.`); empty for a path or URL.
fn requirement_name(line: &str) -> &str {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(line.len());
    &line[..end]
}

/// The files a pip seeded into the environment of `layout` could go over
/// while no pip is installed there: its scripts' folder and anything
/// already in `site-packages/pip`. Empty when a complete pip is there
/// (nothing is seeded then).
fn files_where_pip_goes(layout: &venv::Layout) -> Vec<std::path::PathBuf> {
    if wheel::installed(&layout.site_packages)
        .iter()
        .any(|d| d.name == "pip" && d.complete)
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut stack = vec![layout.bin.clone(), layout.site_packages.join("pip")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() && dir != layout.bin => stack.push(entry.path()),
                Ok(kind) if kind.is_dir() => {}
                _ => out.push(entry.path()),
            }
        }
    }
    out
}
