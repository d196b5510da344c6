//! `beep-python env ENV [--format sh|fish|powershell|dotenv|json]`: the
//! variables activation sets, for `eval`, direnv and tools.

use super::run::{CheckArgs, load, ready};
use super::{CliError, Context, FormatArg, Outcome};
use crate::usage::EnvFormat;

#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// The environment (a name from the manifest's `[environments]`).
    #[arg(value_name = "ENV")]
    pub env: String,
    /// The syntax to print [default: sh].
    //
    // The same argument as the global `--format` (same id and type), so
    // that clap does not propagate the global one here.
    #[arg(
        long = "format",
        id = "format",
        value_parser = super::format_parser(&["sh", "fish", "powershell", "dotenv", "json"]),
        value_name = "FORMAT"
    )]
    pub format: Option<FormatArg>,
    #[command(flatten)]
    pub check: CheckArgs,
}

pub fn run(ctx: &Context, args: &EnvArgs) -> Result<Outcome, CliError> {
    let (manifest, home) = load(ctx)?;
    let activation = ready(ctx, &manifest, &home, &args.env, args.check)?;
    let format = match args.format.unwrap_or(FormatArg::Human) {
        // `manifest` and `pylock` are `export`'s; this parser refuses them.
        FormatArg::Human | FormatArg::Sh | FormatArg::Manifest | FormatArg::Pylock => EnvFormat::Sh,
        FormatArg::Json => EnvFormat::Json,
        FormatArg::Fish => EnvFormat::Fish,
        FormatArg::Powershell => EnvFormat::Powershell,
        FormatArg::Dotenv => EnvFormat::Dotenv,
    };
    let path = std::env::var_os("PATH");
    match format {
        EnvFormat::Json => ctx.printer.json(&activation.json(path.as_deref()))?,
        EnvFormat::Sh | EnvFormat::Fish | EnvFormat::Powershell | EnvFormat::Dotenv => ctx
            .printer
            .data(&activation.render(format, path.as_deref()))?,
    }
    Ok(Outcome::Success)
}
