//! `beep-python export`: the machine's environments as a manifest and a
//! lock ([`crate::export`]).

use std::path::PathBuf;

use serde_json::json;

use super::{CliError, Context, FormatArg, Outcome};
use crate::bundle::ArtifactSources;
use crate::export::{self, ExportError, Request};
use crate::fetch;
use crate::lockfile::{self, pylock};
use crate::report::Format;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Environment folders to export (ours or not); without any, every
    /// environment the registry records.
    #[arg(value_name = "ENV-PATH")]
    pub paths: Vec<PathBuf>,
    /// The folder to write into [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also export every virtual environment discovery finds on this
    /// machine.
    #[arg(long)]
    pub discovered: bool,
    /// Folders of wheels to take pins' hashes from (repeatable), besides
    /// the owning manifests' `find-links`.
    #[arg(long, value_name = "DIR")]
    pub find_links: Vec<PathBuf>,
    /// Replace `beep-python.toml` and `beep-python.lock` if they exist.
    #[arg(long)]
    pub force: bool,
    /// What to write [default: manifest]: `manifest` writes
    /// `beep-python.toml` and `beep-python.lock` from the machine;
    /// `pylock` writes the lock of the manifest in use as one PEP 751
    /// `pylock.<env>.toml` per environment; `json` is `manifest`, with
    /// what was written printed as JSON.
    //
    // The same argument as the global `--format` (same id and type), so
    // that clap does not propagate the global one here.
    #[arg(
        long = "format",
        id = "format",
        value_parser = super::format_parser(&["manifest", "pylock", "json"]),
        value_name = "FORMAT"
    )]
    pub format: Option<FormatArg>,
}

pub fn run(ctx: &Context, args: &ExportArgs) -> Result<Outcome, CliError> {
    if args.format == Some(FormatArg::Pylock) {
        return pylock(ctx, args);
    }
    let home = ctx.home()?;
    let registry = super::read_registry(ctx, &home)?;
    let cwd = ctx.cwd()?;
    let out_dir = crate::manifest::resolve::normalize(
        &cwd.join(args.out.as_deref().unwrap_or(cwd.as_path())),
    );
    let discovered: Vec<PathBuf> = if args.discovered {
        let options = crate::discover::DiscoverOptions::from_process_env(home.root());
        crate::discover::discover(&options)
            .environments
            .into_iter()
            .map(|e| e.path)
            .collect()
    } else {
        Vec::new()
    };
    let find_links: Vec<PathBuf> = args.find_links.iter().map(|d| cwd.join(d)).collect();
    let exported = export::gather(&Request {
        home: &home,
        registry: &registry,
        paths: &args.paths,
        discovered: &discovered,
        find_links: &find_links,
        out_dir: &out_dir,
    })?;
    let (manifest_path, lock_path) = export::write(&exported, &out_dir, args.force)?;
    let json = ctx.printer.format == Format::Json || args.format == Some(FormatArg::Json);
    for note in &exported.notes {
        ctx.printer.warn(note);
    }
    if !exported.unhashed.is_empty() {
        ctx.printer.warn(&format!(
            "{} pin{} no hash (no artifact with {} was found): {}; the next `beep-python lock` completes them",
            exported.unhashed.len(),
            if exported.unhashed.len() == 1 { " has" } else { "s have" },
            if exported.unhashed.len() == 1 { "its name and version" } else { "their names and versions" },
            exported.unhashed.join(", ")
        ));
    }
    match if json { Format::Json } else { Format::Human } {
        Format::Json => ctx.printer.json(&json!({
            "manifest": manifest_path,
            "lock": lock_path,
            "environments": exported.lock.environments.iter().map(|(name, e)| (name.clone(), json!(e.packages.len()))).collect::<serde_json::Map<_, _>>(),
            "runtimes": exported.lock.runtimes.keys().collect::<Vec<_>>(),
            "unhashed": exported.unhashed,
            "notes": exported.notes,
        }))?,
        Format::Human => ctx.printer.info(&format!(
            "wrote `{}` and `{}`: {} environment{}, {} runtime{}",
            manifest_path.display(),
            lock_path.display(),
            exported.lock.environments.len(),
            if exported.lock.environments.len() == 1 { "" } else { "s" },
            exported.lock.runtimes.len(),
            if exported.lock.runtimes.len() == 1 { "" } else { "s" },
        )),
    }
    Ok(Outcome::Success)
}

/// `export --format pylock`: the lock of the manifest in use, one
/// `pylock.<env>.toml` per environment, each artifact by its url or its
/// local path (see [`crate::lockfile::pylock`]).
fn pylock(ctx: &Context, args: &ExportArgs) -> Result<Outcome, CliError> {
    if !args.paths.is_empty() || args.discovered {
        return Err(ExportError::PylockFromLock.into());
    }
    let home = ctx.home()?;
    let cwd = ctx.cwd()?;
    let manifest_path = crate::manifest::find(ctx.manifest.as_deref(), &cwd)?;
    let checked = super::load_manifest(ctx, &manifest_path, &home)?;
    let lock_path = lockfile::path_for(&manifest_path);
    let lock = lockfile::read(&lock_path)?.ok_or(ExportError::NoLock {
        path: lock_path.clone(),
    })?;
    let out_dir = crate::manifest::resolve::normalize(
        &cwd.join(args.out.as_deref().unwrap_or(cwd.as_path())),
    );
    let mut dirs: Vec<PathBuf> = args.find_links.iter().map(|d| cwd.join(d)).collect();
    dirs.extend(
        crate::desired::installer_config(&checked.manifest)
            .find_links
            .into_iter()
            .filter(|l| !l.contains("://"))
            .map(PathBuf::from),
    );
    let sources = ArtifactSources::new(
        dirs,
        fetch::Cache::new(home.cache_dir().join("downloads")),
        fetch::Options {
            offline: true,
            ..fetch::Options::default()
        },
    );
    let mut files = Vec::new();
    for (name, env) in &lock.environments {
        let text = pylock::render(env, &out_dir, |package| {
            export::pylock_artifacts(package, &sources)
        })
        .map_err(|e| CliError::many(vec![e]))?;
        let file = out_dir.join(format!("pylock.{}.toml", name.replace('.', "-")));
        files.push((file, text));
    }
    if !args.force {
        for (file, _) in &files {
            if fs_err::symlink_metadata(file).is_ok() {
                return Err(ExportError::Exists { path: file.clone() }.into());
            }
        }
    }
    fs_err::create_dir_all(&out_dir).map_err(|source| ExportError::Write {
        path: out_dir.clone(),
        source,
    })?;
    for (file, text) in &files {
        crate::files::write_atomic(
            file,
            text.as_bytes(),
            crate::files::Durability::Durable,
            None,
        )
        .map_err(|source| ExportError::Write {
            path: file.clone(),
            source,
        })?;
    }
    match ctx.printer.format {
        Format::Json => ctx.printer.json(&json!({
            "pylock": files.iter().map(|(f, _)| f).collect::<Vec<_>>(),
        }))?,
        Format::Human => ctx.printer.info(&format!(
            "wrote {}",
            files
                .iter()
                .map(|(f, _)| format!("`{}`", f.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    Ok(Outcome::Success)
}
