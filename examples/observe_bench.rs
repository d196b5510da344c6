//! Times `beep_python::venv::observe` on one environment, for
//! `bench/observe.sh` (the integration tests assert what it reports, never
//! how long it takes).
//!
//! ```text
//! cargo run --release --example observe_bench -- <env> [N]
//! ```
//!
//! Observes `<env>` N times (20 by default) and prints the total in
//! milliseconds and the number of packages seen (to show the environment
//! was really read).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use beep_python::venv;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (env, times) = match args.as_slice() {
        [env] => (PathBuf::from(env), 20),
        [env, n] => match n.parse::<u32>() {
            Ok(n) if n > 0 => (PathBuf::from(env), n),
            _ => {
                eprintln!("observe_bench: N must be a positive number, not `{n}`");
                return ExitCode::from(64);
            }
        },
        _ => {
            eprintln!("usage: observe_bench <env> [N]");
            return ExitCode::from(64);
        }
    };
    let first = venv::observe(&env);
    if !first.is_venv {
        eprintln!(
            "observe_bench: `{}` is not a virtual environment",
            env.display()
        );
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    for _ in 0..times {
        std::hint::black_box(venv::observe(&env));
    }
    let took = started.elapsed();
    println!(
        "{times} observations: {:.1} ms ({} packages each)",
        took.as_secs_f64() * 1000.0,
        first.packages.len()
    );
    ExitCode::SUCCESS
}
