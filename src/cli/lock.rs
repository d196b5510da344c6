//! `beep-python lock`: resolve every environment through its installer and
//! pin the runtimes, in `beep-python.lock` next to the manifest.
//!
//! Resolution needs each environment's interpreter, so managed runtimes
//! that are not installed yet are provisioned first (the same journaled
//! steps as `apply`); environments themselves are not touched. Existing
//! pins that still satisfy the manifest are kept ([`lockfile::resolve`]'s
//! minimal churn), and so is a locked runtime build that still satisfies
//! the manifest's version, unless `--upgrade` asks for the newest.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::reconcile::{CANCEL, open, run_changes};
use super::{CliError, Context, Outcome};
use crate::desired::{self, Desired, Interpreters, LockUse};
use crate::installer;
use crate::lockfile::{self, Lock, LockedEnvironment, LockedRuntime, Upgrade};
use crate::manifest::resolve;
use crate::plan::{self, Change, RuntimeAction};
use crate::report::Format;
use crate::venv::BaseInterpreter;

#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Re-resolve everything to the newest versions the manifest allows
    /// (runtimes included), instead of keeping the current pins.
    #[arg(long)]
    pub upgrade: bool,
    /// Re-resolve this package (in every environment); repeatable.
    #[arg(long, value_name = "NAME", conflicts_with = "upgrade")]
    pub upgrade_package: Vec<String>,
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
    .map_err(CliError::many)?;

    provision_runtimes(ctx, &mut opened, &desired)?;

    let _ = ctrlc::set_handler(|| CANCEL.store(true, Ordering::SeqCst));
    let manifest = &opened.loaded.checked.manifest;
    let config = desired::installer_config(manifest);
    let selected = installer::select(&config, std::env::var_os("PATH").as_deref())?;
    let resolved = resolve::resolve(manifest, opened.loaded.home.root());
    let cache_dir = opened.loaded.home.cache_dir();

    let mut lock = Lock::default();
    for spec in &desired.runtimes {
        lock.runtimes.insert(
            spec.name.clone(),
            LockedRuntime {
                source: spec.source.as_str().to_string(),
                version: spec.python_version.clone(),
                url: Some(spec.upstream_url.clone()),
                sha256: Some(spec.sha256.clone()),
                path: None,
                // A standalone build is one platform's; the others take the
                // same version from their catalog.
                platform: (spec.source == crate::manifest::RuntimeSource::Standalone)
                    .then(|| spec.platform.clone()),
            },
        );
    }
    for spec in &desired.environments {
        let Some(env) = resolved.iter().find(|e| e.name == spec.name) else {
            continue;
        };
        let runtime = manifest.runtimes.get(&spec.runtime);
        if runtime.is_some_and(|r| r.source == crate::manifest::RuntimeSource::System) {
            lock.runtimes
                .entry(spec.runtime.clone())
                .or_insert_with(|| LockedRuntime {
                    source: "system".into(),
                    version: spec.python_version.clone(),
                    url: None,
                    sha256: None,
                    path: Some(spec.interpreter.clone()),
                    platform: None,
                });
        }
        let preferences = existing
            .as_ref()
            .and_then(|l| l.environments.get(&spec.name))
            .filter(|l| l.runtime == spec.runtime)
            .map(|l| l.packages.clone())
            .unwrap_or_default();
        let packages = if let Some(pylock) = &env.pylock {
            ctx.printer.info(&format!(
                "reading env.{} from `{}`",
                spec.name,
                pylock.display()
            ));
            lockfile::pylock::read_pins(pylock, &spec.python_version)
                .map_err(|e| CliError::many(vec![e]))?
        } else {
            resolve_env(
                &ctx.printer,
                spec,
                &preferences,
                &upgrade,
                &selected,
                &config,
                &cache_dir,
            )?
        };
        lock.environments.insert(
            spec.name.clone(),
            LockedEnvironment {
                runtime: spec.runtime.clone(),
                python_version: spec.python_version.clone(),
                inputs_hash: desired::env_inputs_hash(env, runtime),
                packages,
            },
        );
    }
    write_lock(ctx, &path, &lock)
}

/// Resolves one environment's requirements through its installer.
fn resolve_env(
    printer: &crate::report::Printer,
    spec: &crate::desired::EnvSpec,
    preferences: &[lockfile::LockedPackage],
    upgrade: &Upgrade,
    selected: &installer::Selected,
    config: &installer::Config,
    cache_dir: &std::path::Path,
) -> Result<Vec<lockfile::LockedPackage>, CliError> {
    printer.info(&format!(
        "resolving env.{} ({} requirements)",
        spec.name,
        spec.packages.len()
    ));
    Ok(lockfile::resolve(&lockfile::ResolveRequest {
        base: &BaseInterpreter {
            executable: spec.interpreter.clone(),
            version: spec.python_version.clone(),
            implementation: spec.implementation.clone(),
        },
        requirements: &spec.packages,
        preferences,
        upgrade,
        selected,
        config,
        cache_dir,
        environment: &spec.name,
        cancel: &CANCEL,
    })?)
}

/// Writes the lock and says what it did.
fn write_lock(ctx: &Context, path: &std::path::Path, lock: &Lock) -> Result<Outcome, CliError> {
    let changed = lockfile::write(path, lock)?;
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
        Change::Environment(_) => None,
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
