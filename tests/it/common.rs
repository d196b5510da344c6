//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use beep_python::diagnostic::SourceFile;
use beep_python::manifest::{self, ManifestError};
use beep_python::report;

/// The `beep-python` binary under test, with a clean environment: its home
/// in `home`, no colour, no user configuration leaking in.
#[track_caller]
pub fn beep(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_beep-python"));
    cmd.env("BEEP_PYTHON_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("BEEP_PYTHON_FAILPOINTS");
    cmd
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr with wrapped lines joined, so that assertions do not depend on
/// where the renderer broke a long message.
pub fn stderr(output: &Output) -> String {
    flat(&String::from_utf8_lossy(&output.stderr))
}

/// Joins lines, dropping the indentation and the `|` gutter that wrapped
/// diagnostic lines start with.
pub fn flat(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.trim();
            l.strip_prefix("| ").unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fixed folders for manifests checked in memory, so rendered paths are
/// the same on every machine.
pub const PROJECT: &str = "/project";
pub const HOME: &str = "/home/user/.beep-python";

/// Checks manifest text in memory and renders every diagnostic as the user
/// would see it (no colour), in order.
pub fn check_text(text: &str) -> (bool, Vec<beep_python::diagnostic::Diagnostic>, String) {
    let source = SourceFile::new("beep-python.toml", text);
    let path = PathBuf::from(PROJECT).join("beep-python.toml");
    let result = manifest::check(source, &path, Path::new(PROJECT), Path::new(HOME));
    let (valid, diagnostics) = match result {
        Ok(checked) => (true, checked.warnings.into_vec()),
        Err(ManifestError::Invalid { diagnostics, .. }) => (false, diagnostics.into_vec()),
        Err(other) => panic!("unexpected error: {other}"),
    };
    let rendered = diagnostics
        .iter()
        .map(|d| report::render(d, false))
        .collect::<Vec<_>>()
        .join("\n");
    (valid, diagnostics, rendered)
}

pub fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The example manifests: `examples/*.toml` and `beep-python.toml.example`.
pub fn example_manifests() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files.push(root.join("beep-python.toml.example"));
    files
}

/// Keeps pip and uv on the wheels a test provides: no index, no user
/// configuration.
pub fn isolate_installers(cmd: &mut Command) -> &mut Command {
    cmd.env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("UV_NO_CONFIG", "1")
}

/// Runs `cmd` with `args` and checks its exit code, showing both streams
/// when it differs.
#[track_caller]
pub fn expect_exit(mut cmd: Command, args: &[&str], code: i32) -> Output {
    let out = cmd.args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Waits until `check` holds, for up to a minute.
#[track_caller]
pub fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
