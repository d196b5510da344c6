//! `beep-python run ENV -- CMD [ARGS...]`, and the check (or sync) that
//! `run`, `shell` and `env` do before using an environment.

use std::ffi::OsString;

use super::{CliError, Context, Outcome};
use crate::manifest::{self, Manifest};
use crate::registry::Home;
use crate::usage::{self, Activation, CheckError, UsageError, Verdict};

/// How the environment is checked before it is used.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct CheckArgs {
    /// Apply this environment first if it is out of date (as `apply
    /// --target env.ENV --auto-approve`); its plan is shown on stderr.
    #[arg(long, conflicts_with = "no_check")]
    pub sync: bool,
    /// Use the environment as it is, without comparing it to the manifest.
    #[arg(long)]
    pub no_check: bool,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The environment (a name from the manifest's `[environments]`).
    #[arg(value_name = "ENV")]
    pub env: String,
    /// The command and its arguments; a script of the environment (`pytest`)
    /// is found first. `--` before it is optional.
    #[arg(
        value_name = "CMD",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
    #[command(flatten)]
    pub check: CheckArgs,
}

impl From<CheckError> for CliError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Lock(e) => CliError::Lock(e),
            CheckError::Registry(e) => CliError::Registry(e),
            CheckError::Planning(problems) => CliError::Many(problems),
        }
    }
}

/// The manifest (validated: an invalid one's diagnostics are printed as
/// `validate` prints them; its warnings are left to `validate`, so that a
/// command's output stays its own) and the home.
pub(super) fn load(ctx: &Context) -> Result<(Manifest, Home), CliError> {
    let path = manifest::find(ctx.manifest.as_deref(), &ctx.cwd()?)?;
    let home = ctx.home()?;
    let checked = super::check_manifest(ctx, &path, &home)?;
    let warnings = checked.warnings.warning_count();
    if warnings > 0 {
        ctx.printer.debug(&format!(
            "the manifest has {warnings} warning(s); `beep-python validate` shows them"
        ));
    }
    Ok((checked.manifest, home))
}

/// The environment `name`, checked against the manifest (or synced, or
/// not checked, as `check` says), and built.
pub(super) fn ready(
    ctx: &Context,
    manifest: &Manifest,
    home: &Home,
    name: &str,
    check: CheckArgs,
) -> Result<Activation, CliError> {
    // An unknown name is the first thing to say, whatever the flags.
    usage::environment(manifest, home.root(), name)?;
    if check.sync {
        sync(ctx, manifest, home, name)?;
    } else if !check.no_check {
        match usage::check(manifest, home, name)? {
            Verdict::Ready => {}
            Verdict::OutOfDate(stale) => {
                return Err(UsageError::OutOfDate {
                    name: name.to_string(),
                    stale,
                }
                .into());
            }
        }
    }
    Ok(usage::built(manifest, home.root(), name)?)
}

/// `--sync`: the same code path as `beep-python apply --target env.NAME
/// --auto-approve` (home lock, journal, rollback), with its output on
/// stderr so that stdout stays the command's.
fn sync(ctx: &Context, manifest: &Manifest, home: &Home, name: &str) -> Result<(), CliError> {
    if usage::check(manifest, home, name)? == Verdict::Ready {
        return Ok(());
    }
    let apply_ctx = Context {
        manifest: Some(manifest.path.clone()),
        home: Some(home.root().to_path_buf()),
        printer: ctx.printer.data_on_stderr(),
        lock_timeout: ctx.lock_timeout,
    };
    let args = super::reconcile::ApplyArgs {
        lock: super::reconcile::LockFlags::default(),
        plan: None,
        auto_approve: true,
        replace: Vec::new(),
        target: vec![format!("env.{name}")],
        jobs: None,
        bundle: None,
    };
    super::reconcile::apply(&apply_ctx, &args)?;
    Ok(())
}

pub fn run(ctx: &Context, args: &RunArgs) -> Result<Outcome, CliError> {
    let (manifest, home) = load(ctx)?;
    let activation = ready(ctx, &manifest, &home, &args.env, args.check)?;
    let (program, rest) = args
        .command
        .split_first()
        .expect("clap requires at least one value");
    let command = usage::run::command(&activation, program, rest)?;
    ctx.printer.debug(&format!(
        "running `{}` in environment `{}`",
        command.get_program().to_string_lossy(),
        activation.name
    ));
    // Returns only if the command could not be started.
    Err(usage::run::exec(command).into())
}
