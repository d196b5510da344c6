//! `beep-python bundle create|verify` and `apply --bundle`: thin wrappers
//! over [`crate::bundle`].

use std::path::{Path, PathBuf};

use serde_json::json;

use super::reconcile::{self, ApplyArgs, LockFlags};
use super::{CliError, Context, Outcome};
use crate::bundle::{self, ArtifactSources, BundleError, CreateRequest};
use crate::desired::{self, Interpreters, LockUse};
use crate::fetch;
use crate::lockfile;
use crate::manifest::{MANIFEST_FILE, Spanned};
use crate::provision::catalog::{self, Catalog};
use crate::provision::platform::Platform;
use crate::report::Format;

/// The file `bundle create` writes when `--out` is not given.
pub const DEFAULT_BUNDLE: &str = "beep-python-bundle.tar.zst";

#[derive(Debug, clap::Subcommand)]
pub enum BundleCommand {
    /// Write one file that rebuilds the manifest's runtimes and
    /// environments with no network: the manifest, the lock, every
    /// interpreter archive and wheel the lock names, `SHA256SUMS` and
    /// `RESTORE.md`.
    #[command(after_help = EXAMPLES_CREATE)]
    Create(CreateArgs),
    /// Check a bundle whole: every file against `SHA256SUMS`, every
    /// artifact against the lock, the manifest valid, nothing missing.
    #[command(after_help = EXAMPLES_VERIFY)]
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The bundle to write [default: ./beep-python-bundle.tar.zst].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also include the standalone interpreter builds for this platform
    /// (`os-arch-libc`, such as `linux-aarch64-gnu`); repeatable. This
    /// machine's platform is always included.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    /// Replace the file at `--out` if there is one.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The bundle to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

const EXAMPLES_CREATE: &str = "\
Examples:
  beep-python bundle create                   # ./beep-python-bundle.tar.zst
  beep-python bundle create --out /media/usb/project.tar.zst --platform linux-aarch64-gnu";
const EXAMPLES_VERIFY: &str = "\
Examples:
  beep-python bundle verify project.tar.zst
  beep-python bundle verify project.tar.zst --format json";

pub fn run(ctx: &Context, command: &BundleCommand) -> Result<Outcome, CliError> {
    match command {
        BundleCommand::Create(args) => create(ctx, args),
        BundleCommand::Verify(args) => verify(ctx, args),
    }
}

fn create(ctx: &Context, args: &CreateArgs) -> Result<Outcome, CliError> {
    let out = match &args.out {
        Some(out) => out.clone(),
        None => ctx.cwd()?.join(DEFAULT_BUNDLE),
    };
    if !args.force && fs_err::symlink_metadata(&out).is_ok() {
        return Err(BundleError::Exists { path: out }.into());
    }
    let platforms = args
        .platform
        .iter()
        .map(|p| Platform::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(BundleError::from)?;
    // The download cache is shared with `apply`: hold the home lock.
    let opened = reconcile::open(ctx)?;
    let loaded = &opened.loaded;
    let lock_path = lockfile::path_for(&loaded.manifest_path);
    let lock_text = match fs_err::read_to_string(&lock_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BundleError::NoLock { path: lock_path }.into());
        }
        Err(source) => {
            return Err(lockfile::LockError::Read {
                path: lock_path,
                source,
            }
            .into());
        }
    };
    let lock = lockfile::parse(&lock_text, &lock_path)?;
    let manifest = &loaded.checked.manifest;
    // What `apply --locked` would build here: the lock must match.
    let desired = desired::build(
        manifest,
        &loaded.home,
        &LockUse::Locked(lock.clone()),
        Interpreters::Discover,
    )
    .map_err(CliError::many)?;
    let settings = &manifest.settings;
    let fetch_options = fetch::Options {
        allow_insecure_http: settings.allow_insecure_http,
        offline: settings.offline,
        ..fetch::Options::default()
    };
    let catalog = if platforms.is_empty() {
        None
    } else {
        Some(match &settings.python_downloads {
            Some(location) => Catalog::load(&location.value, &manifest.dir, &fetch_options)
                .map_err(BundleError::from)?,
            None => Catalog::builtin(),
        })
    };
    let mirror = catalog::mirror_in_effect(
        std::env::var(catalog::MIRROR_ENV).ok().as_deref(),
        settings.python_mirror.as_ref().map(|m| m.value.as_str()),
    );
    let mirrored = |url: &str| match &mirror {
        Some(mirror) => catalog::apply_mirror(url, mirror, &manifest.dir),
        None => url.to_string(),
    };
    let config = desired::installer_config(manifest);
    let dirs: Vec<PathBuf> = config
        .find_links
        .iter()
        .filter(|l| !l.contains("://"))
        .map(PathBuf::from)
        .collect();
    let cache = fetch::Cache::new(loaded.home.cache_dir().join("downloads"));
    let sources = ArtifactSources::new(dirs, cache.clone(), fetch_options.clone());
    let inputs: Vec<(String, PathBuf)> = manifest
        .environments
        .values()
        .filter_map(|env| env.pylock.as_ref())
        .map(|p| {
            let path = p.value.trim().to_string();
            let file = crate::manifest::resolve::normalize(&manifest.dir.join(&path));
            (path, file)
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    // Conda channels: the URL the lock records for each, to the channel
    // as the manifest writes it; and the mirrors to fetch packages through.
    let conda_settings = crate::manifest::resolve::conda_channel_settings(manifest);
    let mut conda_channels = std::collections::BTreeMap::new();
    for env in manifest
        .environments
        .values()
        .filter(|e| e.kind == crate::manifest::EnvironmentKind::Conda)
    {
        let written: Vec<String> = env
            .channels
            .iter()
            .map(|c| c.value.trim().to_string())
            .collect();
        if let Ok(channels) = crate::conda::Channels::resolve(&written, &conda_settings) {
            for channel in channels.iter() {
                conda_channels
                    .entry(channel.url.to_string())
                    .or_insert_with(|| channel.written.clone());
            }
        }
    }
    let conda_mirrors = conda_settings.normalized_mirrors();
    let printer = ctx.printer.clone();
    let log = move |line: &str| printer.debug(line);
    let _ =
        ctrlc::set_handler(|| reconcile::CANCEL.store(true, std::sync::atomic::Ordering::SeqCst));
    let created = bundle::create(&CreateRequest {
        manifest_text: &manifest.source.text,
        lock_text: &lock_text,
        lock: &lock,
        runtimes: &desired.runtimes,
        other_platforms: &platforms,
        catalog: catalog.as_ref(),
        mirror: &mirrored,
        sources: &sources,
        inputs: &inputs,
        conda_channels: &conda_channels,
        conda_mirrors: &conda_mirrors,
        cache: &cache,
        fetch_options: &fetch_options,
        out: &out,
        force: args.force,
        cancel: &reconcile::CANCEL,
        log: &log,
    })?;
    drop(opened);
    let index = &created.index;
    match ctx.printer.format {
        Format::Json => ctx.printer.json(&json!({
            "path": created.path,
            "size": created.size,
            "sha256": created.sha256,
            "platforms": index.platforms,
            "runtimes": index.runtimes.iter().map(|r| json!({"name": r.name, "platform": r.platform, "file": r.file, "sha256": r.sha256})).collect::<Vec<_>>(),
            "wheels": index.wheels.len(),
            "conda_packages": index.conda.len(),
            "environments": lock.environments.keys().collect::<Vec<_>>(),
        }))?,
        Format::Human => {
            ctx.printer.info(&format!(
                "wrote `{}` ({}): {} runtime archive{}, {} wheel{}{} for {} environment{}; sha256 {}",
                created.path.display(),
                human_size(created.size),
                index.runtimes.len(),
                plural(index.runtimes.len()),
                index.wheels.len(),
                plural(index.wheels.len()),
                conda_count(index),
                lock.environments.len(),
                plural(lock.environments.len()),
                created.sha256
            ));
            ctx.printer.info(&format!(
                "restore it with `beep-python apply --bundle {}` (RESTORE.md inside says more)",
                created.path.display()
            ));
        }
    }
    Ok(Outcome::Success)
}

fn verify(ctx: &Context, args: &VerifyArgs) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    // Validated where RESTORE.md says to put it: beside the bundle.
    let file = std::path::absolute(&args.file).unwrap_or_else(|_| args.file.clone());
    let project = file.parent().unwrap_or(Path::new("/"));
    let opened = bundle::open(&args.file, &std::env::temp_dir(), home.root(), project)?;
    let index = &opened.index;
    match ctx.printer.format {
        Format::Json => ctx.printer.json(&json!({
            "bundle": opened.bundle,
            "valid": true,
            "created_by": index.created_by,
            "created_at": index.created_at,
            "platforms": index.platforms,
            "runtimes": index.runtimes.iter().map(|r| json!({"name": r.name, "version": r.version, "platform": r.platform, "sha256": r.sha256})).collect::<Vec<_>>(),
            "wheels": index.wheels.len(),
            "conda_packages": index.conda.len(),
            "environments": opened.lock.environments.iter().map(|(name, e)| (name.clone(), json!(e.packages.len()))).collect::<serde_json::Map<_, _>>(),
        }))?,
        Format::Human => ctx.printer.data(&format!(
            "`{}` is whole: every file matches SHA256SUMS, the manifest is valid, and every artifact the lock names is inside\n  made by {} at {}\n  interpreter builds for: {}\n  {} runtime archive{}, {} wheel{}{}, {} environment{}\n",
            opened.bundle.display(),
            index.created_by,
            index.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            if index.platforms.is_empty() {
                "none needed".to_string()
            } else {
                index.platforms.join(", ")
            },
            index.runtimes.len(),
            plural(index.runtimes.len()),
            index.wheels.len(),
            plural(index.wheels.len()),
            conda_count(index),
            opened.lock.environments.len(),
            plural(opened.lock.environments.len()),
        ))?,
    }
    Ok(Outcome::Success)
}

/// `apply --bundle FILE`: the bundle checked whole and this machine's
/// gaps named before anything changes; then its manifest and lock in
/// place (written if absent, else they must be the same), its interpreter
/// archives in the download cache, and `apply --locked` with the bundle's
/// wheels as the only source of packages.
pub fn apply(ctx: &Context, args: &ApplyArgs, file: &Path) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let cwd = ctx.cwd()?;
    let manifest_path = match &ctx.manifest {
        Some(path) => cwd.join(path),
        None => crate::manifest::find(None, &cwd).unwrap_or_else(|_| cwd.join(MANIFEST_FILE)),
    };
    let project = manifest_path.parent().unwrap_or(&cwd);
    let opened = bundle::open(file, &home.cache_dir(), home.root(), project)?;
    let platform = Platform::from_env_or_detect()
        .map_err(BundleError::from)?
        .to_string();
    let mut gaps = opened.platform_gaps(&platform);
    gaps.extend(opened.wheel_gaps());
    gaps.extend(opened.conda_gaps());
    if !gaps.is_empty() {
        return Err(BundleError::Incomplete {
            bundle: file.to_path_buf(),
            missing: gaps,
            platform_hint: Some(format!(
                ", with `bundle create --platform {platform}` for this machine"
            )),
        }
        .into());
    }
    opened.check_conda_channels()?;
    restore_project(ctx, &opened, &manifest_path)?;
    for folder in opened.restore_find_links()? {
        ctx.printer.info(&format!(
            "restored the `find-links` folder `{}` with the bundle's {} wheel{}",
            folder.display(),
            opened.index.wheels.len(),
            plural(opened.index.wheels.len())
        ));
    }

    for folder in opened.restore_conda_channels()? {
        ctx.printer.info(&format!(
            "restored the conda channel `{}` with the bundle's packages from it",
            folder.display()
        ));
    }

    let scoped = Context {
        manifest: Some(manifest_path),
        home: ctx.home.clone(),
        printer: ctx.printer.clone(),
        lock_timeout: ctx.lock_timeout,
    };
    let mut opened_home = reconcile::open(&scoped)?;
    // Packages come from the bundle alone: its wheels are the only
    // find-links, and no index is asked.
    let settings = &mut opened_home.loaded.checked.manifest.settings;
    settings.find_links = vec![Spanned::builtin(opened.wheels_dir().display().to_string())];
    settings.index_url = None;
    settings.offline = true;
    // Builds for another platform than the lock's come from the bundle's
    // own catalog.
    if !opened.index.runtimes.is_empty() {
        let catalog = opened.root().join("catalog.json");
        fs_err::write(&catalog, opened.catalog_json()).map_err(|source| BundleError::Io {
            action: "write",
            path: catalog.clone(),
            source,
        })?;
        settings.python_downloads = Some(Spanned::builtin(catalog.display().to_string()));
    }
    let cache = fetch::Cache::new(opened_home.loaded.home.cache_dir().join("downloads"));
    let imported = opened.import_runtimes(&cache)?;
    let wheels = opened.import_wheels(&cache)?;
    let conda = opened.import_conda(&cache)?;
    ctx.printer.debug(&format!(
        "{imported} interpreter archive{}, {wheels} wheel{} and {conda} conda package{} put into the download cache",
        plural(imported),
        plural(wheels),
        plural(conda)
    ));
    let locked = ApplyArgs {
        lock: LockFlags {
            locked: true,
            frozen: false,
        },
        plan: None,
        auto_approve: args.auto_approve,
        target: args.target.clone(),
        replace: args.replace.clone(),
        jobs: args.jobs,
        bundle: None,
    };
    let outcome = reconcile::apply_opened(&scoped, &locked, opened_home);
    drop(opened);
    outcome
}

/// Puts the bundle's manifest and lock at `manifest_path` (and beside it),
/// and the files it names that the bundle carries (`pylock`), or checks
/// that the ones there are the same. Everything is checked before anything
/// is written.
fn restore_project(
    ctx: &Context,
    opened: &bundle::Opened,
    manifest_path: &Path,
) -> Result<(), CliError> {
    let project = manifest_path.parent().unwrap_or(Path::new("."));
    let mut files: Vec<(PathBuf, Vec<u8>, String)> = vec![
        (
            manifest_path.to_path_buf(),
            opened.manifest_text.clone().into_bytes(),
            MANIFEST_FILE.to_string(),
        ),
        (
            lockfile::path_for(manifest_path),
            opened.lock_text.clone().into_bytes(),
            lockfile::LOCK_FILE.to_string(),
        ),
    ];
    for (path, extracted, named) in opened.input_files(project) {
        let bytes = fs_err::read(&extracted).map_err(|source| BundleError::Io {
            action: "read",
            path: extracted.clone(),
            source,
        })?;
        files.push((path, bytes, named));
    }
    let mut absent = Vec::new();
    for (path, bytes, named) in &files {
        match fs_err::read(path) {
            Ok(existing) if existing == *bytes => {}
            Ok(_) => {
                return Err(BundleError::ProjectDiffers {
                    path: path.clone(),
                    file: named.clone(),
                }
                .into());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => absent.push((path, bytes)),
            Err(source) => {
                return Err(BundleError::Io {
                    action: "read",
                    path: path.clone(),
                    source,
                }
                .into());
            }
        }
    }
    for (path, bytes) in absent {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs_err::create_dir_all(dir).map_err(|source| BundleError::Io {
                action: "create",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        crate::files::write_atomic(path, bytes, crate::files::Durability::Durable, None).map_err(
            |source| BundleError::Io {
                action: "write",
                path: path.clone(),
                source,
            },
        )?;
        ctx.printer
            .info(&format!("wrote the bundle's `{}`", path.display()));
    }
    Ok(())
}

/// `, N conda package(s)` when the bundle carries any.
fn conda_count(index: &bundle::Index) -> String {
    match index.conda.len() {
        0 => String::new(),
        n => format!(", {n} conda package{}", plural(n)),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}
