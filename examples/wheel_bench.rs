//! Installs a list of pinned wheels into an environment with
//! `beep_python::wheel`, for `bench/native.sh` (no CLI command installs a
//! pin list on its own yet).
//!
//! ```text
//! cargo run --release --example wheel_bench -- <python> <version> <env> <pins.json> <cache-dir>
//!     [--create] [--link=auto|clone|hardlink|copy] [--compile] [--find-links=DIR] [--jobs=N]
//! ```
//!
//! `<pins.json>` is a list of `{"name", "version", "url", "sha256"}`
//! objects (what `bench/native.sh` makes from pip's `--report`); every pin
//! is treated as requested. `<cache-dir>` plays `<home>/cache`. With
//! `--create`, the environment is first made with `beep_python::venv`.
//! Prints the link mode and counts to stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use beep_python::venv::{self, BaseInterpreter, CreateOptions};
use beep_python::wheel::{self, LinkPolicy, Options, Pin, Target};

#[derive(serde::Deserialize)]
struct Listed {
    name: String,
    version: String,
    url: Option<String>,
    sha256: String,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (positional, flags): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| !a.starts_with("--"));
    let [python, version, env, pins, cache] = positional.as_slice() else {
        eprintln!(
            "usage: wheel_bench <python> <version> <env> <pins.json> <cache-dir> [--create] [--link=MODE] [--compile] [--find-links=DIR] [--jobs=N]"
        );
        return ExitCode::from(64);
    };
    let flag = |name: &str| flags.iter().any(|f| f.as_str() == name);
    let value = |name: &str| {
        flags
            .iter()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
    };
    let base = BaseInterpreter {
        executable: PathBuf::from(python),
        version: version.to_string(),
        implementation: "cpython".to_string(),
    };
    let listed: Vec<Listed> = match fs_err::read_to_string(pins)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(listed) => listed,
        Err(e) => {
            eprintln!("error: cannot read `{pins}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pins: Vec<Pin> = listed
        .into_iter()
        .map(|l| Pin {
            url: l.url,
            requested: true,
            ..Pin::new(&l.name, &l.version, vec![l.sha256])
        })
        .collect();
    let env = Path::new(env.as_str());
    if flag("--create") {
        let vars = BTreeMap::new();
        let options = CreateOptions {
            name: "bench",
            system_site_packages: false,
            env_vars: &vars,
        };
        if let Err(e) = venv::create(env, &base, &options) {
            eprintln!("error: {:?}", miette::Report::new(e));
            return ExitCode::FAILURE;
        }
    }
    let cancel = AtomicBool::new(false);
    let mut opts = Options::new(Path::new(cache.as_str()), &cancel);
    opts.compile_bytecode = flag("--compile");
    if let Some(jobs) = value("--jobs").and_then(|j| j.parse().ok()) {
        opts.jobs = jobs;
    }
    opts.find_links = flags
        .iter()
        .filter_map(|f| f.strip_prefix("--find-links="))
        .map(PathBuf::from)
        .collect();
    opts.link = match value("--link") {
        None | Some("auto") => LinkPolicy::Auto,
        Some("clone") => LinkPolicy::Clone,
        Some("hardlink") => LinkPolicy::Hardlink,
        Some("copy") => LinkPolicy::Copy,
        Some(other) => {
            eprintln!("error: unknown link mode `{other}`");
            return ExitCode::from(64);
        }
    };
    let start = std::time::Instant::now();
    match wheel::install(&Target::new(env, &base), &pins, &opts) {
        Ok(report) => {
            eprintln!(
                "installed {} ({} unchanged) in {:.0?}, link mode {}",
                report.installed.len(),
                report.unchanged.len(),
                start.elapsed(),
                report
                    .link_mode
                    .map_or("none".to_string(), |m| m.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {:?}", miette::Report::new(e));
            ExitCode::FAILURE
        }
    }
}
