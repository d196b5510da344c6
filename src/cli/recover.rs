//! `beep-python recover`: finish or undo what an interrupted apply left,
//! retry what a rollback could not undo, and, with `--abandon`, set it all
//! aside (deleting nothing) when it cannot be done.

use super::{CliError, Context, Outcome};
use crate::exec::journal;

#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// Forget the interrupted apply's journal and every stuck entry, moving
    /// them to `<home>/abandoned/`; nothing on disk is deleted, and the
    /// paths they name are listed for you to look at.
    #[arg(long)]
    pub abandon: bool,
}

pub fn run(ctx: &Context, args: &RecoverArgs) -> Result<Outcome, CliError> {
    let home = ctx.home()?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let _lock = home.lock(ctx.lock_timeout, &command)?;
    if args.abandon {
        let abandoned = journal::abandon(&home)?;
        if abandoned.moved_to.is_empty() {
            ctx.printer
                .data("nothing to abandon: no interrupted apply and nothing stuck\n")?;
            return Ok(Outcome::Success);
        }
        let mut out = String::new();
        for file in &abandoned.moved_to {
            out.push_str(&format!("set aside `{}`\n", file.display()));
        }
        if !abandoned.paths.is_empty() {
            out.push_str("it named these paths; nothing was deleted, look at them by hand:\n");
            for path in &abandoned.paths {
                let state = if fs_err::symlink_metadata(path).is_ok() {
                    "exists"
                } else {
                    "absent"
                };
                out.push_str(&format!("  {} ({state})\n", path.display()));
            }
        }
        ctx.printer.data(&out)?;
        return Ok(Outcome::Success);
    }
    let recovery = journal::recover(&home, &super::stop_run)?;
    super::report_recovery(ctx, &recovery);
    if recovery.journal.is_none() && recovery.still_stuck.is_empty() && recovery.resolved == 0 {
        ctx.printer
            .data("nothing to recover: no interrupted apply and nothing stuck\n")?;
    }
    Ok(if recovery.still_stuck.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}
