//! Creates one virtual environment with `beep_python::venv`, for
//! `bench/venv.sh` (there is no CLI command that only creates a venv).
//!
//! ```text
//! cargo run --release --example venv_bench -- <python> <version> <dest> [--seed] [--cache=DIR]
//! ```
//!
//! `<python>` is the base executable and `<version>` its full version
//! (`3.12.1`): the caller knows it from discovery, so no Python is started
//! to ask. With `--seed`, pip is installed from the base's bundled wheel;
//! with `--cache=DIR` too, through an unpacked copy in `DIR` that is
//! hard-linked into the environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use beep_python::venv::{self, BaseInterpreter, CreateOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (positional, flags): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| !a.starts_with("--"));
    let [python, version, dest] = positional.as_slice() else {
        eprintln!("usage: venv_bench <python> <version> <dest> [--seed] [--cache=DIR]");
        return ExitCode::from(64);
    };
    let seed = flags.iter().any(|f| f.as_str() == "--seed");
    let cache = flags
        .iter()
        .find_map(|f| f.strip_prefix("--cache="))
        .map(PathBuf::from);
    let base = BaseInterpreter {
        executable: PathBuf::from(python),
        version: version.to_string(),
        implementation: "cpython".to_string(),
    };
    let env_vars = BTreeMap::new();
    let options = CreateOptions {
        name: "bench",
        system_site_packages: false,
        env_vars: &env_vars,
    };
    let result = venv::create(dest.as_ref(), &base, &options).and_then(|layout| {
        if seed {
            venv::seed_pip_cached(&layout, &base, cache.as_deref()).map(|s| format!("{s:?}"))
        } else {
            Ok(String::new())
        }
    });
    match result {
        Ok(seeded) => {
            if !seeded.is_empty() {
                eprintln!("{seeded}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {:?}", miette::Report::new(e));
            ExitCode::FAILURE
        }
    }
}
