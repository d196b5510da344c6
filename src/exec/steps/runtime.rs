//! The steps of a managed runtime: download, extract, configure, verify
//! the interpreter.

use super::*;

impl Run<'_> {
    pub(super) fn download(&self, job: &RuntimeJob<'_>) -> Result<(), StepError> {
        let spec = job.spec;
        // Check, then act: a runtime already in place with these bytes is
        // only checked. Decided once, before anything moves.
        let installed = *job.installed.get_or_init(|| provision::is_installed(spec));
        if installed {
            return Ok(());
        }
        let report = self.downloading(&job.address);
        let downloads = fetch::Aggregate::new(&report);
        let cache = fetch::Cache::new(self.settings.home.cache_dir().join("downloads"));
        let archive = provision::download(
            spec,
            &cache,
            self.settings.installer.offline,
            &downloads.transfer(),
            self.settings.cancel,
        )
        .map_err(|e| self.interrupted_or(e.into()))?;
        let _ = job.archive.set(archive);
        Ok(())
    }

    pub(super) fn extract(&self, job: &RuntimeJob<'_>) -> Result<(), StepError> {
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

    pub(super) fn configure(&self, job: &RuntimeJob<'_>) -> Result<(), StepError> {
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

    pub(super) fn verify_interpreter(&self, job: &RuntimeJob<'_>) -> Result<(), StepError> {
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

fn missing(job: &RuntimeJob<'_>, what: &'static str) -> StepError {
    let _ = job;
    StepError::Provision(ProvisionError::Sequence {
        step: "runtime",
        what,
    })
}

impl<'a> Run<'a> {
    /// Reports the sums of an [`fetch::Aggregate`] as `address`'s
    /// [`Event::Downloading`] (a runtime's archive, a conda environment's
    /// packages, an environment's wheels).
    pub(super) fn downloading(&self, address: &str) -> impl Fn(fetch::Totals) + Sync + use<'a> {
        let address = address.to_string();
        let progress = self.settings.progress;
        move |totals: fetch::Totals| {
            progress.event(&Event::Downloading {
                address: address.clone(),
                bytes: totals.received,
                total: totals.expected,
            });
        }
    }
}
