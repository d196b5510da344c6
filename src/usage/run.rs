//! Running a command inside an environment (`beep-python run`).
//!
//! The command gets the activation variables ([`Activation::variables`]),
//! and is looked up in the environment's scripts folder first, then on
//! `PATH`, so `beep-python run analysis pytest` runs the environment's
//! `pytest`. On Unix the caller replaces itself with the command
//! ([`exec`]): its output is never buffered, stdin stays the terminal, and
//! signals and the exit status are the command's own, because there is no
//! process in between. On Windows, which has no `exec`, [`exec`] spawns the
//! command, waits, and exits with its code.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Activation, UsageError};

/// The command `program args...` inside `activation`, with the environment
/// of this process changed as activation changes it.
pub fn command(
    activation: &Activation,
    program: &OsStr,
    args: &[OsString],
) -> Result<Command, UsageError> {
    let current_path = std::env::var_os("PATH");
    let vars = activation.variables(current_path.as_deref());
    let path_var = vars
        .set
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let resolved = find_program(program, &path_var).ok_or_else(|| UsageError::CommandNotFound {
        program: program.to_string_lossy().into_owned(),
        name: activation.name.clone(),
        bin: activation.bin.clone(),
    })?;
    let mut cmd = Command::new(&resolved);
    cmd.args(args);
    for (name, value) in &vars.set {
        cmd.env(name, value);
    }
    for name in &vars.unset {
        cmd.env_remove(name);
    }
    Ok(cmd)
}

/// Where `program` is: itself if it names a path (has a separator), else
/// the first match in the folders of `path_var` (the environment's scripts
/// folder comes first there). On Windows, `PATHEXT`'s extensions are tried
/// too, as `cmd.exe` does.
pub fn find_program(program: &OsStr, path_var: &OsStr) -> Option<PathBuf> {
    let as_path = Path::new(program);
    if as_path.components().count() > 1 || program.is_empty() {
        return Some(as_path.to_path_buf());
    }
    let extensions = program_extensions(as_path);
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| {
            extensions
                .iter()
                .map(move |ext| {
                    let mut name = program.to_os_string();
                    name.push(ext);
                    dir.join(name)
                })
                .collect::<Vec<_>>()
        })
        .find(|candidate| is_runnable(candidate))
}

#[cfg(unix)]
fn program_extensions(_program: &Path) -> Vec<OsString> {
    vec![OsString::new()]
}

#[cfg(windows)]
fn program_extensions(program: &Path) -> Vec<OsString> {
    if program.extension().is_some() {
        return vec![OsString::new()];
    }
    let pathext = std::env::var_os("PATHEXT").unwrap_or_else(|| ".COM;.EXE;.BAT;.CMD".into());
    pathext
        .to_string_lossy()
        .split(';')
        .filter(|e| !e.is_empty())
        .map(OsString::from)
        .collect()
}

#[cfg(unix)]
fn is_runnable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs_err::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(windows)]
fn is_runnable(path: &Path) -> bool {
    path.is_file()
}

/// Becomes `cmd` (Unix: `execvp`); returns only if that failed.
#[cfg(unix)]
pub fn exec(mut cmd: Command) -> UsageError {
    use std::os::unix::process::CommandExt;
    let program = PathBuf::from(cmd.get_program());
    let source = cmd.exec();
    UsageError::Exec { program, source }
}

/// Runs `cmd` and exits with its exit code (Windows has no `exec`).
/// Ctrl-C reaches the command through the console; this process ignores
/// it and waits, so the command's own code is what the caller sees.
#[cfg(windows)]
pub fn exec(mut cmd: Command) -> UsageError {
    let program = PathBuf::from(cmd.get_program());
    let _ = ctrlc::set_handler(|| {});
    match cmd.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(source) => UsageError::Exec { program, source },
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn programs_are_found_in_the_first_folder_that_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            fs_err::create_dir(d).unwrap();
            let tool = d.join("tool");
            fs_err::write(&tool, "#!/bin/sh\n").unwrap();
            fs_err::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // Not executable: passed over.
        fs_err::write(a.join("data"), "").unwrap();
        fs_err::write(b.join("data"), "").unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(
            find_program(OsStr::new("tool"), &path),
            Some(a.join("tool"))
        );
        assert_eq!(find_program(OsStr::new("data"), &path), None);
        assert_eq!(find_program(OsStr::new("missing"), &path), None);
        assert_eq!(
            find_program(OsStr::new("./x/tool"), &path),
            Some(PathBuf::from("./x/tool"))
        );
    }
}
