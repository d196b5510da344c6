//! `beep-python vscode ENV [--folder DIR] [--dry-run]`: point VS Code at an
//! environment.

use std::path::PathBuf;

use super::run::load;
use super::{CliError, Context, Outcome};
use crate::report::Format;
use crate::usage::{self, Activation, vscode};

#[derive(Debug, clap::Args)]
pub struct VscodeArgs {
    /// The environment (a name from the manifest's `[environments]`).
    #[arg(value_name = "ENV")]
    pub env: String,
    /// The workspace folder whose `.vscode/settings.json` to edit (default:
    /// the manifest's folder).
    #[arg(long, value_name = "DIR")]
    pub folder: Option<PathBuf>,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Context, args: &VscodeArgs) -> Result<Outcome, CliError> {
    let (manifest, home) = load(ctx)?;
    let env = usage::environment(&manifest, home.root(), &args.env)?;
    let activation = Activation::of(&env);
    let folder = match &args.folder {
        Some(folder) => std::path::absolute(folder).map_err(CliError::CurrentDir)?,
        None => manifest.dir.clone(),
    };
    let edit = vscode::edit(&folder, &activation)?;
    if !activation.python.exists() {
        ctx.printer.warn(&format!(
            "environment `{}` is not built yet (`{}` does not exist); run `beep-python apply --target env.{}`",
            activation.name,
            activation.python.display(),
            activation.name
        ));
    }
    let shown = edit.path.strip_prefix(&folder).unwrap_or(&edit.path);
    if edit.changes.is_empty() {
        ctx.printer.info(&format!(
            "`{}` already uses environment `{}`; nothing to change",
            shown.display(),
            activation.name
        ));
    } else {
        ctx.printer.info(&format!(
            "{} `{}`:\n{}",
            if args.dry_run {
                "Would change"
            } else {
                "Changing"
            },
            shown.display(),
            edit.preview().trim_end()
        ));
        if !args.dry_run {
            edit.write()?;
        }
    }
    ctx.printer.warn(vscode::REMEMBERED_CHOICE_WINS);
    if ctx.printer.format == Format::Json {
        ctx.printer
            .json(&edit.json(!args.dry_run && !edit.changes.is_empty()))?;
    }
    Ok(Outcome::Success)
}
