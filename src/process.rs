//! Child processes that can be stopped: the interpreter probes of
//! discovery and the installers.
//!
//! Both start children that start children (a pyenv wrapper, pip's build
//! backends, uv's workers) which hold our pipes open, so stopping one means
//! stopping its whole process group. A child is put in a group of its own
//! with [`own_group`] and stopped with [`kill_group`].

use std::process::{Child, Command, ExitStatus, Stdio};

/// Starts the child in a new process group (Unix), so that [`kill_group`]
/// reaches its descendants too.
pub fn own_group(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = command;
}

/// Kills the child's process group, then the child, and reaps it.
pub fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        // std has no killpg; `kill` is in every POSIX userland.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `exit status 1`, `killed by signal 11 (SIGSEGV)`: without std's
/// "(core dumped)", which depends on the machine's ulimit.
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                2 => " (SIGINT)",
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    status.to_string()
}
