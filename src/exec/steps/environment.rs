//! The steps of an environment's folder: create the venv, take the
//! restore point, rewrite its configuration, seed pip, re-point it at a
//! moved base interpreter.

use super::*;

impl Run<'_> {
    pub(super) fn create_venv(&self, spec: &EnvSpec) -> Result<(), StepError> {
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
        self.write_marker(spec, jiff::Timestamp::now())?;
        crate::failpoint::crash_point("created-venv");
        Ok(())
    }

    /// Our marker for `spec`'s environment (a venv or a conda one): the
    /// owner, the spec it was built from, and when it was first created.
    pub(super) fn write_marker(
        &self,
        spec: &EnvSpec,
        created_at: jiff::Timestamp,
    ) -> Result<(), StepError> {
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
        Ok(())
    }

    /// A restore point, taken before the environment changes in place.
    pub(super) fn snapshot(&self, spec: &EnvSpec) -> Result<(), StepError> {
        // Only our own environment is changed in place.
        if venv::read_marker(&spec.path).is_none_or(|m| m.owner != self.settings.owner) {
            return Err(StepError::NotOurs {
                path: spec.path.clone(),
            });
        }
        // A venv's restore point is scoped: the shell now, the files of
        // `site-packages` just before they change (`exec::restore`). The
        // native installer says which; pip and uv may write where no plan
        // says (a clashing package, a reinstalled local requirement, pip
        // itself), so every file is linked before they start
        // (`update_packages`). A conda package may write anywhere: every
        // file now.
        let layout = venv::layout(&spec.path, &spec.python_version);
        let scope = spec
            .conda
            .is_none()
            .then_some(layout.site_packages.as_path());
        let taken = self.journal.snapshot_scoped(&spec.path, scope);
        taken.map(|_| ()).map_err(|source| StepError::MoveAside {
            path: spec.path.clone(),
            source,
        })
    }

    /// `pyvenv.cfg`, the activation scripts and the marker, as the spec
    /// says (each file replaced by a rename, so the snapshot keeps the old
    /// ones).
    pub(super) fn reconfigure(&self, spec: &EnvSpec) -> Result<(), StepError> {
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
        self.write_marker(spec, created_at)?;
        crate::failpoint::crash_point("reconfigured");
        Ok(())
    }

    pub(super) fn seed_pip(&self, spec: &EnvSpec) -> Result<(), StepError> {
        let layout = venv::layout(&spec.path, &spec.python_version);
        // Unpacked once into the cache, then hard-linked: creating ~600
        // files is most of the cost of seeding (uv does the same).
        // Seeding writes pip's files where no `RECORD` says: over a pip
        // left without `RECORD` (an interrupted upgrade) or without its
        // `.dist-info` at all (removed by hand, an egg), over a user's
        // `bin/pip`. A scoped restore point cannot know those files, so it
        // takes them all first (a whole one has them; a new environment
        // has none).
        if !crate::wheel::installed(&layout.site_packages)
            .iter()
            .any(|d| d.name == "pip" && d.complete)
        {
            self.journal
                .widen(&spec.path)
                .map_err(|source| StepError::RestorePoint {
                    path: spec.path.clone(),
                    source,
                })?;
        }
        let cache = self.settings.home.cache_dir().join("unpacked");
        match venv::seed_pip_cached(&layout, &base_of(spec), Some(&cache))? {
            Seeded::Wheel { .. } | Seeded::Ensurepip => {
                crate::failpoint::crash_point("seeded-pip");
                Ok(())
            }
            Seeded::Unavailable { reason } => Err(StepError::NoPip { reason }),
        }
    }

    /// The `repoint` step: the environment is ours, the new base is there,
    /// and `pyvenv.cfg` and each `bin/` link into the old base are
    /// replaced through the journal (a rollback puts the old ones back).
    pub(super) fn repoint(&self, spec: &EnvSpec, from: &Path) -> Result<(), StepError> {
        let root = &spec.path;
        if venv::read_marker(root).is_none_or(|m| m.owner != self.settings.owner) {
            return Err(StepError::NotOurs { path: root.clone() });
        }
        let rewrites =
            crate::exec::repoint::rewrites(root, from, &spec.interpreter).map_err(|e| {
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
