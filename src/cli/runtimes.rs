//! `beep-python runtimes list|discover|default`.

use serde_json::json;

use super::{CliError, Context, Outcome};
use crate::discover::{self, DiscoverOptions, Discovery, RejectKind};
use crate::registry::model::RuntimeRecord;
use crate::registry::{Registry, store};
use crate::report::{Format, Printer};
use crate::runtimes::{self, SyncReport};

#[derive(Debug, clap::Subcommand)]
pub enum RuntimesCommand {
    /// Show every registered runtime, the default marked with `*`.
    List,
    /// Find every Python on this machine and register it.
    ///
    /// Interpreters that are no longer found are marked `missing`, not
    /// forgotten; `--prune` forgets them.
    Discover {
        /// Forget discovered interpreters that are missing.
        #[arg(long)]
        prune: bool,
    },
    /// Set the default runtime, by name or by interpreter path.
    Default {
        /// A name from `runtimes list`, or the path of an interpreter.
        #[arg(value_name = "NAME|PATH")]
        target: String,
    },
}

pub fn run(ctx: &Context, command: &RuntimesCommand) -> Result<Outcome, CliError> {
    match command {
        RuntimesCommand::List => list(ctx),
        RuntimesCommand::Discover { prune } => discover_cmd(ctx, *prune),
        RuntimesCommand::Default { target } => set_default(ctx, target),
    }
}

fn load(ctx: &Context, home: &crate::registry::Home) -> Result<Registry, CliError> {
    let loaded = store::load(home)?;
    for warning in &loaded.warnings {
        ctx.printer.warn(warning);
    }
    Ok(loaded.registry)
}

fn list(ctx: &Context) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let registry = load(ctx, &home)?;
    print_runtimes(&ctx.printer, &registry)?;
    Ok(Outcome::Success)
}

fn discover_cmd(ctx: &Context, prune: bool) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let (lock, mut registry) = super::open_home_for_change(ctx, &home)?;
    let options = DiscoverOptions::from_process_env(home.root());
    let discovery = discover::discover(&options);
    for warning in &discovery.warnings {
        ctx.printer.warn(warning);
    }
    ctx.printer.debug(&format!(
        "{} interpreter{} started",
        discovery.probes_run,
        if discovery.probes_run == 1 { "" } else { "s" }
    ));
    let before = registry.clone();
    let report =
        runtimes::record_discovery(&mut registry, &discovery, prune, jiff::Timestamp::now());
    // Nothing new: no write, no new serial (a second run is a no-op).
    if registry != before {
        store::save(&home, &mut registry, &lock)?;
    }
    drop(lock);
    if let Some(name) = &report.default_cleared {
        ctx.printer
            .warn(&format!("the default runtime `{name}` was pruned; set another with `beep-python runtimes default`"));
    }
    match ctx.printer.format {
        // `runtimes list`'s document, and what discovery found besides.
        Format::Json => ctx.printer.json(&json!({
            "runtimes": runtimes_json(&registry),
            "default_runtime": registry.default_runtime,
            "rejected": discovery.rejected,
            "environments": discovery.environments,
            "changes": report,
            "probes_run": discovery.probes_run,
        }))?,
        Format::Human => {
            print_runtimes(&ctx.printer, &registry)?;
            print_discovery_summary(&ctx.printer, &discovery, &report);
        }
    }
    Ok(Outcome::Success)
}

fn set_default(ctx: &Context, target: &str) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let (lock, mut registry) = super::open_home_for_change(ctx, &home)?;
    let name = runtimes::set_default(&mut registry, target, jiff::Timestamp::now())?;
    store::save(&home, &mut registry, &lock)?;
    drop(lock);
    let record = registry
        .runtime(&name)
        .expect("set_default returns a registered name");
    match ctx.printer.format {
        Format::Json => ctx.printer.json(&json!({
            "default_runtime": name,
            "runtime": runtime_json(record, &registry),
        }))?,
        Format::Human => ctx.printer.data(&format!(
            "default runtime: {name} ({} {}, `{}`)\n",
            record.implementation.as_deref().unwrap_or("python"),
            record.version,
            record.path.display()
        ))?,
    }
    Ok(Outcome::Success)
}

fn runtime_json(r: &RuntimeRecord, registry: &Registry) -> serde_json::Value {
    json!({
        "name": r.name,
        "id": r.id,
        "version": r.version,
        "implementation": r.implementation,
        "arch": r.arch,
        "path": r.path,
        "real_path": r.real_path,
        "source": r.kind.as_str(),
        "root": r.root,
        "url": r.url,
        "sha256": r.sha256,
        "found_by": r.found_by,
        "managed": r.managed,
        "default": registry.default_runtime.as_deref() == Some(r.name.as_str()),
        "status": r.status.as_str(),
        "warnings": r.warnings,
    })
}

fn runtimes_json(registry: &Registry) -> Vec<serde_json::Value> {
    registry
        .runtimes
        .iter()
        .map(|r| runtime_json(r, registry))
        .collect()
}

/// `runtimes list`: `{"format_version", "runtimes": [...], "default_runtime"}`,
/// the same keys `runtimes discover` starts with.
fn print_runtimes(printer: &Printer, registry: &Registry) -> Result<(), CliError> {
    if printer.format == Format::Json {
        printer.json(&json!({
            "runtimes": runtimes_json(registry),
            "default_runtime": registry.default_runtime,
        }))?;
        return Ok(());
    }
    if registry.runtimes.is_empty() {
        printer.info("no runtimes registered; run `beep-python runtimes discover`");
        return Ok(());
    }
    let header = [
        "", "NAME", "VERSION", "IMPL", "SOURCE", "MANAGED", "STATUS", "PATH",
    ];
    let rows: Vec<[String; 8]> = registry
        .runtimes
        .iter()
        .map(|r| {
            let default = registry.default_runtime.as_deref() == Some(r.name.as_str());
            let source = if r.found_by.is_empty() {
                r.kind.as_str().to_string()
            } else {
                r.found_by.join(",")
            };
            [
                if default { "*".into() } else { " ".into() },
                r.name.clone(),
                r.version.clone(),
                r.implementation.clone().unwrap_or_default(),
                source,
                if r.managed { "yes".into() } else { "no".into() },
                r.status.as_str().to_string(),
                r.path.display().to_string(),
            ]
        })
        .collect();
    printer.data(&table(&header, &rows))?;
    Ok(())
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}", width = widths[i]));
                text.push_str(if i == 0 { " " } else { "  " });
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn print_discovery_summary(printer: &Printer, discovery: &Discovery, report: &SyncReport) {
    let n = discovery.interpreters.len();
    let mut parts = vec![format!(
        "{n} interpreter{} found",
        if n == 1 { "" } else { "s" }
    )];
    for (count, what) in [
        (report.added.len(), "new"),
        (report.returned.len(), "back"),
        (report.updated.len(), "updated"),
        (report.missing.len(), "now missing"),
        (report.pruned.len(), "pruned"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {what}"));
        }
    }
    if !discovery.environments.is_empty() {
        parts.push(format!(
            "{} virtual environment{} seen",
            discovery.environments.len(),
            if discovery.environments.len() == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    printer.info(&parts.join(", "));
    // Shim folders and Store aliases are skipped by design; say so only
    // when asked. Broken interpreters and Python 2 are worth seeing.
    let (by_design, notable): (Vec<_>, Vec<_>) = discovery
        .rejected
        .iter()
        .partition(|r| matches!(r.kind, RejectKind::Shim | RejectKind::StoreAlias));
    if !notable.is_empty() {
        printer.info(&format!("skipped {}:", notable.len()));
        for rejected in notable {
            printer.info(&format!(
                "  {}: {}",
                rejected.path.display(),
                rejected.reason
            ));
        }
    }
    for rejected in by_design {
        printer.debug(&format!(
            "  {}: {}",
            rejected.path.display(),
            rejected.reason
        ));
    }
}
