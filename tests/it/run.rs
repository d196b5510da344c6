//! `beep-python run`: the command becomes the process (exit status, stdin,
//! signals are its own), sees the environment's variables, and runs only in
//! an environment that matches the manifest unless told otherwise.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use crate::applied::{Project, script_in};
use crate::common::{stderr, stdout};

#[test]
fn run_passes_the_exit_status_through() {
    let p = Project::applied();
    for (args, code) in [
        (&["run", "a", "--", "sh", "-c", "exit 7"][..], 7),
        (
            &["run", "a", "python", "-c", "import sys; sys.exit(9)"][..],
            9,
        ),
        (&["run", "a", "--", "true"][..], 0),
    ] {
        let out = p.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn run_gives_the_command_stdin_and_unbuffered_stdout() {
    let p = Project::applied();
    let mut child = p
        .cmd()
        .args([
            "run",
            "a",
            "--",
            "python",
            "-c",
            "import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // One line in, one line out, while the command is still running.
    for word in ["hello", "again"] {
        writeln!(stdin, "{word}").unwrap();
        stdin.flush().unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), word.to_uppercase());
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// The command is the process beep-python started as (exec): the signal
/// sent to that pid reaches the command's handler, and its status is the
/// command's.
#[test]
fn run_execs_so_sigint_reaches_the_command_and_its_status_passes_through() {
    let p = Project::applied();
    let script = "import os, signal, sys, time\n\
                  def stop(signum, frame):\n    print('got SIGINT', flush=True)\n    sys.exit(42)\n\
                  signal.signal(signal.SIGINT, stop)\n\
                  print('ready', os.getpid(), flush=True)\n\
                  time.sleep(60)\n\
                  sys.exit(1)";
    let mut child = p
        .cmd()
        .args(["run", "a", "--", "python", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert_eq!(
        ready,
        format!("ready {}", child.id()),
        "not the same process"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(lines.next().unwrap().unwrap(), "got SIGINT");
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn run_sets_the_activation_variables_and_the_manifests_env() {
    let p = Project::applied();
    let out = p
        .cmd()
        // Would break the environment's Python if it reached it.
        .env("PYTHONHOME", "/nonexistent")
        .args([
            "run",
            "a",
            "--",
            "python",
            "-c",
            "import os, sys\n\
             for k in ['VIRTUAL_ENV', 'VIRTUAL_ENV_PROMPT', 'FROM_TEMPLATE', 'OVERRIDDEN', 'GREETING']:\n    print(k, os.environ[k])\n\
             print('PYTHONHOME', os.environ.get('PYTHONHOME'))\n\
             print('PATH0', os.environ['PATH'].split(os.pathsep)[0])\n\
             print('prefix', sys.prefix)",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let root = p.env_root();
    let expected = format!(
        "VIRTUAL_ENV {root}\nVIRTUAL_ENV_PROMPT a\nFROM_TEMPLATE template\nOVERRIDDEN environment\n\
         GREETING it's \"quoted\" $HOME ; `x`\nPYTHONHOME None\nPATH0 {root}/bin\nprefix {root}\n",
        root = root.display()
    );
    assert_eq!(stdout(&out), expected);
}

/// A name is looked up in the environment's scripts first, then on PATH;
/// `--` is optional.
#[test]
fn a_command_name_that_is_an_environment_script_wins_over_path() {
    let p = Project::applied();
    script_in(
        &p.env_root().join("bin"),
        "beep-hello",
        "from-the-environment",
    );
    let elsewhere = p.path("elsewhere");
    script_in(&elsewhere, "beep-hello", "from-path");
    script_in(&elsewhere, "beep-only-on-path", "on-path");
    let path = format!("{}:{}", elsewhere.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| p.cmd().env("PATH", &path).args(args).output().unwrap();
    let out = run(&["run", "a", "beep-hello"]);
    assert_eq!(stdout(&out), "from-the-environment\n", "{}", stderr(&out));
    let out = run(&["run", "a", "beep-only-on-path"]);
    assert_eq!(stdout(&out), "on-path\n");
    let out = run(&["run", "a", "no-such-command-anywhere"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("`no-such-command-anywhere` was not found in environment `a`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_refuses_an_environment_that_was_never_applied_and_sync_builds_it() {
    let p = Project::new();
    let out = p
        .cmd()
        .args(["run", "a", "--", "python", "-c", "print('ran')"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("environment `a` has not been built yet (not in the registry)")
            && err.contains("beep-python apply --target env.a")
            && err.contains("--sync"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
    assert!(!p.env_root().exists(), "the check changes nothing");

    let out = p
        .cmd()
        .args(["run", "--sync", "a", "--", "python", "-c", "print('ran')"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // stdout is the command's alone; the plan went to stderr.
    assert_eq!(stdout(&out), "ran\n");
    assert!(stderr(&out).contains("+ env.a"), "{}", stderr(&out));
    assert!(p.imports("gamma"));
}

#[test]
fn run_refuses_a_drifted_environment_with_the_reason_and_sync_fixes_it() {
    let p = Project::applied();
    // The manifest now also wants `alpha`, which is not installed.
    p.manifest(&crate::applied::ENVS.replace(r#"["gamma"]"#, r#"["gamma", "alpha"]"#));
    let out = p
        .cmd()
        .args(["run", "a", "--", "python", "-c", "import alpha"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("environment `a` is out of date (requirements changed)"),
        "{err}"
    );
    assert!(err.contains("help: run `beep-python apply --target env.a` first"));

    // `--no-check` runs it as it is.
    let out = p
        .cmd()
        .args([
            "run",
            "--no-check",
            "a",
            "--",
            "python",
            "-c",
            "import gamma",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = p
        .cmd()
        .args([
            "run",
            "--sync",
            "a",
            "--",
            "python",
            "-c",
            "import alpha; print('ok')",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ok\n");
    // Now it matches: no check complaint, nothing to sync.
    let out = p
        .cmd()
        .args(["run", "a", "--", "python", "-c", "import alpha"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn run_names_an_unknown_environment_and_suggests_one() {
    let p = Project::applied();
    let out = p.cmd().args(["run", "b", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no environment `b`") && stderr(&out).contains("a"),
        "{}",
        stderr(&out)
    );
    // `--sync` and `--no-check` do not go together.
    let out = p
        .cmd()
        .args(["run", "--sync", "--no-check", "a", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
