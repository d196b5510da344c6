//! `beep-python export`: the machine's environments as a manifest and a
//! lock ([`crate::export`]).

use std::path::PathBuf;

use serde_json::json;

use super::{CliError, Context, FormatArg, Outcome};
use crate::export::{self, Request};
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
    /// What to write [default: manifest]: `beep-python.toml` and
    /// `beep-python.lock`.
    //
    // The same argument as the global `--format` (same id and type), so
    // that clap does not propagate the global one here.
    #[arg(
        long = "format",
        id = "format",
        value_parser = super::format_parser(&["manifest"]),
        value_name = "FORMAT"
    )]
    pub format: Option<FormatArg>,
}

pub fn run(ctx: &Context, args: &ExportArgs) -> Result<Outcome, CliError> {
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
    match ctx.printer.format {
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
