//! `beep-python shell` under a real terminal: `script` (util-linux) gives
//! the shell a pty, and the test types into it. The user's startup file
//! runs first and the environment still wins.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::applied::{Project, require, script_in};
use crate::common::stdout;

/// Runs `beep-python shell a` with `SHELL=shell` under a pty, types
/// `input`, and returns (exit code, everything the terminal showed).
#[track_caller]
fn in_terminal(p: &Project, shell: &str, input: &str) -> (Option<i32>, String) {
    let user = p.path("user");
    std::fs::create_dir_all(&user).unwrap();
    let command = format!("{} shell a", env!("CARGO_BIN_EXE_beep-python"));
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(p.dir.path())
        .env("BEEP_PYTHON_HOME", p.home())
        .env("HOME", &user)
        .env("SHELL", shell)
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .env_remove("VIRTUAL_ENV")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), stdout(&out).replace('\r', ""))
}

#[test]
fn shell_starts_bash_in_a_terminal_with_the_environment_after_the_users_bashrc() {
    if require("script").is_none() {
        return;
    }
    let p = Project::applied();
    // The user's startup file puts another `python` first on PATH, as
    // pyenv's does; the environment must still win.
    let shims = p.path("user/shims");
    script_in(&shims, "python", "a-shim");
    std::fs::create_dir_all(p.path("user")).unwrap();
    std::fs::write(
        p.path("user/.bashrc"),
        format!(
            "export PATH=\"{}:$PATH\"\necho bashrc-ran\n",
            shims.display()
        ),
    )
    .unwrap();
    let (code, screen) = in_terminal(
        &p,
        "/bin/bash",
        "echo \"VE=$VIRTUAL_ENV\"; echo \"WHICH=$(command -v python)\"; echo \"G=$GREETING\"; exit 3\n",
    );
    let root = p.env_root();
    assert!(
        screen
            .contains("Entering environment `a` in bash; type `exit` or press Ctrl-D to leave it."),
        "{screen}"
    );
    assert!(screen.contains("bashrc-ran"), "{screen}");
    assert!(
        screen.contains(&format!("VE={}\n", root.display())),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("WHICH={}/bin/python\n", root.display())),
        "{screen}"
    );
    assert!(
        screen.contains("G=it's \"quoted\" $HOME ; `x`\n"),
        "{screen}"
    );
    // The prompt shows the environment.
    assert!(screen.contains("(a) "), "{screen}");
    assert!(screen.contains("Left environment `a`."), "{screen}");
    // The shell's status is the command's.
    assert_eq!(code, Some(3), "{screen}");
}

#[test]
fn shell_starts_fish_with_the_environment_active() {
    let (Some(_), Some(fish)) = (require("script"), require("fish")) else {
        return;
    };
    let p = Project::applied();
    let (code, screen) = in_terminal(
        &p,
        &fish.display().to_string(),
        "echo VE=$VIRTUAL_ENV; echo WHICH=(command -v python); exit 4\n",
    );
    let root = p.env_root();
    assert!(
        screen
            .contains("Entering environment `a` in fish; type `exit` or press Ctrl-D to leave it."),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("VE={}\n", root.display())),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("WHICH={}/bin/python\n", root.display())),
        "{screen}"
    );
    assert_eq!(code, Some(4), "{screen}");
}

/// A shell without an activation script of its own (here `sh`) gets the
/// variables in its environment.
#[test]
fn shell_gives_other_shells_the_variables() {
    if require("script").is_none() {
        return;
    }
    let p = Project::applied();
    let (code, screen) = in_terminal(
        &p,
        "/bin/sh",
        "echo \"VE=$VIRTUAL_ENV\"; echo \"O=$OVERRIDDEN\"; exit 0\n",
    );
    assert!(
        screen.contains(&format!("VE={}\n", p.env_root().display())),
        "{screen}"
    );
    assert!(screen.contains("O=environment\n"), "{screen}");
    assert!(
        screen.contains("startup files may change `PATH`"),
        "{screen}"
    );
    assert_eq!(code, Some(0), "{screen}");
}
