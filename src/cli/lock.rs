//! `beep-python lock`: resolve every environment through its installer and
//! pin the runtimes, in `beep-python.lock` next to the manifest.
//!
//! Resolution needs each environment's interpreter, so managed runtimes
//! that are not installed yet are provisioned first (the same journaled
//! steps as `apply`, under the home lock); environments themselves are not
//! touched. The home lock is released before resolution, which writes only
//! into the caches (atomically, see `lockfile::resolvers`) and next to the
//! manifest, so that a long pip resolution does not hold up every other
//! command on the home, and two `lock`s run side by side. The lock
//! itself is built by [`lockfile::build()`]: environments in parallel (up
//! to `--jobs`), existing pins kept where they still satisfy the manifest
//! ([`lockfile::resolve`]'s minimal churn), and so is a locked runtime
//! build that still satisfies the manifest's version, unless `--upgrade`
//! asks for the newest.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::reconcile::{CANCEL, open, run_changes};
use super::{CliError, Context, Outcome};
use crate::desired::{self, Desired, Interpreters, LockUse};
use crate::installer;
use crate::lockfile::{self, Upgrade};
use crate::plan::{self, Change, RuntimeAction};
use crate::report::{Format, Printer};

#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Re-resolve everything to the newest versions the manifest allows
    /// (runtimes included), instead of keeping the current pins.
    #[arg(long)]
    pub upgrade: bool,
    /// Re-resolve this package (in every environment); repeatable.
    #[arg(long, value_name = "NAME", conflicts_with = "upgrade")]
    pub upgrade_package: Vec<String>,
    /// How many environments resolve at once (default: `settings.jobs`, else the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Option<u32>,
}

pub fn run(ctx: &Context, args: &LockArgs) -> Result<Outcome, CliError> {
    let mut opened = open(ctx)?;
    let path = lockfile::path_for(&opened.loaded.manifest_path);
    let existing = lockfile::read(&path)?;
    let upgrade = if args.upgrade {
        Upgrade::All
    } else if !args.upgrade_package.is_empty() {
        Upgrade::Packages(args.upgrade_package.clone())
    } else {
        Upgrade::None
    };
    // The current lock keeps runtime builds where the manifest still allows
    // them; `--upgrade` takes the catalog's newest.
    let lock_use = match (&existing, &upgrade) {
        (Some(lock), Upgrade::None | Upgrade::Packages(_)) => LockUse::Prefer(lock.clone()),
        _ => LockUse::None,
    };
    let manifest = &opened.loaded.checked.manifest;
    let desired = desired::build(
        manifest,
        &opened.loaded.home,
        &lock_use,
        Interpreters::Discover,
    )
    .map_err(|errors| CliError::Many(errors.into_iter().map(|e| Box::new(e) as _).collect()))?;

    provision_runtimes(ctx, &mut opened, &desired)?;

    let _ = ctrlc::set_handler(|| CANCEL.store(true, Ordering::SeqCst));
    let manifest = &opened.loaded.checked.manifest;
    let config = desired::installer_config(manifest);
    let selected = installer::select(&config, std::env::var_os("PATH").as_deref())?;
    let jobs = args
        .jobs
        .or(manifest.settings.jobs)
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut inputs = lockfile::Inputs::from_desired(manifest, &desired, opened.loaded.home.root());
    let cache_dir = opened.loaded.home.cache_dir();
    // Conda environments are solved, and the bases their PyPI packages
    // resolve against built in the cache, under the home lock.
    if desired.environments.iter().any(|e| e.conda.is_some()) {
        lockfile::prepare_conda(
            &mut inputs,
            &desired,
            &lockfile::CondaLockOptions {
                existing: existing.as_ref(),
                upgrade: &upgrade,
                cache_dir: &cache_dir,
                fetch: crate::fetch::Options {
                    allow_insecure_http: manifest.settings.allow_insecure_http,
                    offline: config.offline,
                    ..crate::fetch::Options::default()
                },
                cancel: &CANCEL,
            },
        )
        .map_err(CliError::many)?;
    }
    // Resolution changes nothing in the home but its caches, whose entries
    // are built aside and renamed into place: the home lock is not held
    // while pip or uv work, which can take minutes.
    drop(opened);
    let lock = lockfile::build(
        &inputs,
        &lockfile::Options {
            existing: existing.as_ref(),
            upgrade: &upgrade,
            selected: &selected,
            config: &config,
            cache_dir: &cache_dir,
            jobs,
            cancel: &CANCEL,
            progress: &Progress(&ctx.printer),
        },
    )
    .map_err(|mut errors| match errors.len() {
        1 => CliError::Resolve(errors.remove(0)),
        _ => CliError::Many(errors.into_iter().map(|e| Box::new(e) as _).collect()),
    })?;

    let changed = lockfile::write(&path, &lock)?;
    match ctx.printer.format {
        Format::Json => ctx.printer.json(&json!({
            "path": path,
            "changed": changed,
            "runtimes": lock.runtimes.len(),
            "environments": lock.environments.iter().map(|(name, e)| (name.clone(), json!(e.packages.len()))).collect::<serde_json::Map<_, _>>(),
        }))?,
        Format::Human => ctx.printer.info(&if changed {
            format!(
                "wrote `{}`: {} runtime{}, {} environment{}",
                path.display(),
                lock.runtimes.len(),
                if lock.runtimes.len() == 1 { "" } else { "s" },
                lock.environments.len(),
                if lock.environments.len() == 1 { "" } else { "s" }
            )
        } else {
            format!("`{}` is up to date", path.display())
        }),
    }
    Ok(Outcome::Success)
}

/// Progress lines on stderr.
struct Progress<'a>(&'a Printer);

impl lockfile::Progress for Progress<'_> {
    fn resolving(&self, environment: &str, requirements: usize) {
        self.0.info(&format!(
            "resolving env.{environment} ({requirements} requirements)"
        ));
    }
}

/// Installs the managed runtimes that resolution needs and that are not in
/// place yet (journaled like `apply`; nothing else is changed).
fn provision_runtimes(
    ctx: &Context,
    opened: &mut super::reconcile::Opened,
    desired: &Desired,
) -> Result<(), CliError> {
    let only_runtimes = Desired {
        runtimes: desired.runtimes.clone(),
        ..Desired::default()
    };
    let loaded = &opened.loaded;
    let observed = crate::observe::observe(&only_runtimes, &loaded.registry, &loaded.owner);
    let changes: Vec<Change> = plan::diff(&plan::Inputs {
        owner: &loaded.owner,
        desired: &only_runtimes,
        registry: &loaded.registry,
        observed: &observed,
        targets: &[],
        replace: &[],
        mode: plan::Mode::Apply,
    })
    .map_err(CliError::many)?
    .into_iter()
    .filter_map(|c| match c {
        // Old folders are retired by `apply`, which knows what uses them.
        Change::Runtime(mut r) => {
            match &mut r.action {
                RuntimeAction::Create { .. } | RuntimeAction::Adopt { .. } => {}
                RuntimeAction::Replace { retire, .. } => *retire = None,
                RuntimeAction::Delete { .. } | RuntimeAction::Forget { .. } => return None,
            }
            Some(Change::Runtime(r))
        }
        Change::Environment(_) | Change::Home(_) => None,
    })
    .collect();
    if changes.is_empty() {
        return Ok(());
    }
    ctx.printer.info(&format!(
        "provisioning {} to resolve against",
        changes
            .iter()
            .map(Change::address)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    run_changes(ctx, opened, &changes, 2).map(|_| ())
}
