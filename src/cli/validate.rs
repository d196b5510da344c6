//! `beep-python validate`.

use serde_json::json;

use super::{CliError, Context, Outcome};
use crate::manifest::{self, ManifestError};
use crate::report::{Format, diagnostic_json};

pub fn run(ctx: &Context) -> Result<Outcome, CliError> {
    let path = manifest::find(ctx.manifest.as_deref(), &ctx.cwd()?)?;
    let home = ctx.home()?;
    let printer = &ctx.printer;
    let (checked, diagnostics) = match manifest::load(&path, home.root()) {
        Ok(checked) => {
            let warnings = checked.warnings.clone();
            (Some(checked), warnings)
        }
        Err(ManifestError::Invalid { diagnostics, .. }) => (None, diagnostics),
        Err(other) => return Err(other.into()),
    };
    let errors = diagnostics.error_count();
    let warnings = diagnostics.warning_count();

    match printer.format {
        Format::Json => {
            printer.json(&json!({
                "valid": checked.is_some(),
                "manifest": path.display().to_string(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
            }))?;
        }
        Format::Human => {
            for d in diagnostics.iter() {
                printer.diagnostic(d);
            }
            match &checked {
                Some(c) => {
                    let m = &c.manifest;
                    let user_defined = |spans: Vec<bool>| spans.into_iter().filter(|s| *s).count();
                    printer.data(&format!(
                        "`{}` is valid: {} runtime{}, {} environment{}, {} profile{} and {} template{} defined{}\n",
                        path.display(),
                        m.runtimes.len(),
                        plural(m.runtimes.len()),
                        m.environments.len(),
                        plural(m.environments.len()),
                        user_defined(m.profiles.values().map(|p| p.name.span.is_some()).collect()),
                        plural(user_defined(m.profiles.values().map(|p| p.name.span.is_some()).collect())),
                        user_defined(m.templates.values().map(|t| t.name.span.is_some()).collect()),
                        plural(user_defined(m.templates.values().map(|t| t.name.span.is_some()).collect())),
                        if warnings > 0 {
                            format!(" ({warnings} warning{})", plural(warnings))
                        } else {
                            String::new()
                        }
                    ))?;
                }
                None => {
                    eprintln!(
                        "error: `{}` has {errors} error{}{}; nothing was changed",
                        path.display(),
                        plural(errors),
                        if warnings > 0 {
                            format!(" and {warnings} warning{}", plural(warnings))
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
    }
    Ok(if checked.is_some() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
