//! Creates one conda environment with `beep_python::conda`, for
//! `bench/conda.sh`: the solve and the install `apply` runs for a conda
//! environment, without the plan, journal and registry around them.
//!
//! ```text
//! cargo run --release --example conda_bench -- <channel> <cache-root> <prefix> <spec>... [--offline] [--lock-only]
//! ```
//!
//! Solves `<spec>...` against `<channel>` (a folder or URL) for this
//! machine, with its detected virtual packages, and installs the result
//! into `<prefix>`, with `<cache-root>` as `<home>/cache`. Prints the time
//! of each phase on stderr.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use beep_python::conda::{
    self, ChannelSettings, Channels, CondaCache, InstallOptions, Platform, SolveRequest,
    VirtualPackages,
};
use beep_python::fetch::{self, NoProgress};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (positional, flags): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| !a.starts_with("--"));
    let [channel, cache_root, prefix, specs @ ..] = positional.as_slice() else {
        eprintln!("usage: conda_bench <channel> <cache-root> <prefix> <spec>... [--offline]");
        return ExitCode::from(64);
    };
    let offline = flags.iter().any(|f| f.as_str() == "--offline");
    let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    match run(
        channel,
        Path::new(cache_root),
        Path::new(prefix),
        &specs,
        offline,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::FAILURE
        }
    }
}

fn run(
    channel: &str,
    cache_root: &Path,
    prefix: &Path,
    specs: &[String],
    offline: bool,
) -> Result<(), conda::CondaError> {
    let cancel = AtomicBool::new(false);
    let settings = ChannelSettings {
        root_dir: std::env::current_dir().map_err(conda::CondaError::Io)?,
        ..ChannelSettings::default()
    };
    let channels = Channels::resolve(&[channel.to_owned()], &settings)?;
    let cache = CondaCache::in_cache_root(cache_root);
    let Some(platform) = Platform::current() else {
        return Err(conda::CondaError::InvalidPlatform {
            platform: std::env::consts::ARCH.to_owned(),
            reason: "conda does not know this machine".to_owned(),
        });
    };
    let started = Instant::now();
    let packages = conda::solve(
        &SolveRequest {
            channels: &channels,
            specs,
            platform,
            virtual_packages: &VirtualPackages::Detect,
            locked: None,
            offline,
        },
        &cache,
        &cancel,
    )?;
    let solved = started.elapsed();
    let options = InstallOptions {
        platform,
        mirrors: channels.mirrors(),
        fetch: fetch::Options {
            offline,
            ..fetch::Options::default()
        },
        requested_specs: specs,
        reinstall: &[],
        command: "conda_bench",
    };
    let report = conda::install(prefix, &packages, &options, &cache, &NoProgress, &cancel)?;
    eprintln!(
        "{} packages: solve {:.0} ms, install {:.0} ms ({} changes)",
        packages.len(),
        solved.as_secs_f64() * 1000.0,
        (started.elapsed() - solved).as_secs_f64() * 1000.0,
        report.changes.len()
    );
    Ok(())
}
