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

/// Turns download progress into throttled [`Event::Downloading`]s (a
/// runtime's archive, a conda environment's packages).
pub(super) struct DownloadProgress<'a> {
    pub(super) address: &'a str,
    pub(super) settings: &'a Settings<'a>,
    pub(super) state: Mutex<(u64, Option<u64>, Option<Instant>)>,
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
