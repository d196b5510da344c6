//! The interface that teaches: `help`, the examples at the end of every
//! `--help` (each one parses), global options apart, man pages, `init
//! --example`, and the confirmation prompt.

use std::io::Write;
use std::process::{Command, Stdio};

use beep_python::cli::Cli;
use clap::{CommandFactory, Parser};

use crate::applied::{Project, require};
use crate::common::{beep, stderr, stdout};

/// Every command, as its path of names (`["runtimes", "list"]`).
fn all_commands() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            out.push(p.clone());
            walk(sub, p, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), Vec::new(), &mut out);
    out
}

/// The command lines of an `Examples:` block: each `beep-python ...` (also
/// inside `$(...)`), cut at a comment, a pipe, a redirection or `&&`.
fn example_lines(after_help: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in after_help
        .lines()
        .skip_while(|l| !l.starts_with("Examples:"))
    {
        let line = line.split(" #").next().unwrap();
        for part in line.split("&&") {
            let part = part.split(['|', '>']).next().unwrap();
            let Some(start) = part.find("beep-python") else {
                continue;
            };
            let words: Vec<String> = part[start..]
                .trim_end_matches([')', '"', ' '])
                .split_whitespace()
                .map(str::to_string)
                .collect();
            out.push(words);
        }
    }
    out
}

#[test]
fn every_command_ends_its_help_with_examples_that_parse() {
    let mut root = Cli::command();
    root.build();
    let mut commands = vec![Vec::new()];
    commands.extend(all_commands());
    for path in commands {
        let mut cmd = &root;
        for name in &path {
            cmd = cmd.find_subcommand(name).unwrap();
        }
        // A group's examples are on the group (`runtimes`), not on each leaf.
        let Some(after) = cmd.get_after_help().map(|s| s.to_string()) else {
            assert!(path.len() > 1, "`{}` has no examples", path.join(" "));
            continue;
        };
        let examples = example_lines(&after);
        assert!(
            examples.len() >= 2,
            "`{}` needs two or three examples:\n{after}",
            path.join(" ")
        );
        for words in examples {
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("example `{}` does not parse:\n{e}", words.join(" "));
            }
        }
    }
}

#[test]
fn help_help_is_help_and_help_command_is_that_commands_help() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| beep(home.path()).args(args).output().unwrap();
    let out = run(&["help", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Usage: beep-python help"));

    let via_help = run(&["help", "runtimes", "list"]);
    let via_flag = run(&["runtimes", "list", "--help"]);
    assert_eq!(via_help.status.code(), Some(0));
    assert_eq!(stdout(&via_help), stdout(&via_flag));

    let out = run(&["help", "vscod"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("did you mean `vscode`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn global_options_are_listed_apart_from_the_commands_own() {
    let home = tempfile::tempdir().unwrap();
    let out = beep(home.path()).args(["run", "--help"]).output().unwrap();
    let help = stdout(&out);
    let own = help.find("--sync").unwrap();
    let heading = help.find("Global options:").expect(&help);
    let global = help.find("--lock-timeout").unwrap();
    assert!(own < heading && heading < global, "{help}");
}

#[test]
fn man_pages_are_written_for_every_command() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("man1");
    let out = beep(home.path())
        .args(["man", "--out-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for path in all_commands() {
        let page = dir.join(format!("beep-python-{}.1", path.join("-")));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|_| {
            panic!("{} is missing", page.display());
        });
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{text}");
    }
    let main = std::fs::read_to_string(dir.join("beep-python.1")).unwrap();
    assert!(main.contains("beep\\-python"), "{main}");
    // Without a folder: the main page on stdout.
    let out = beep(home.path()).arg("man").output().unwrap();
    assert_eq!(stdout(&out), main);
}

#[test]
fn init_example_is_the_annotated_manifest_and_it_validates() {
    let dir = tempfile::tempdir().unwrap();
    let out = beep(&dir.path().join("home"))
        .current_dir(dir.path())
        .args(["init", "--example"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let repo = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("beep-python.toml.example"),
    )
    .unwrap();
    assert_eq!(
        text,
        repo.replace("#:schema ./schemas/beep-python.schema.json\n", "")
    );
    assert!(
        !dir.path().join("beep-python.toml").exists(),
        "it writes nothing"
    );

    // The starter manifest names no file that only the repository has.
    let out = beep(&dir.path().join("home"))
        .current_dir(dir.path())
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let starter = std::fs::read_to_string(dir.path().join("beep-python.toml")).unwrap();
    assert!(!starter.contains(".example"), "{starter}");
    assert!(starter.contains("beep-python init --example"), "{starter}");
}

/// `y` is accepted at the prompt (on a terminal, given by `script`).
#[test]
fn the_confirmation_accepts_y() {
    if require("script").is_none() {
        return;
    }
    let p = Project::new();
    let command = format!("{} apply", env!("CARGO_BIN_EXE_beep-python"));
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(p.dir.path())
        .env("BEEP_PYTHON_HOME", p.home())
        .env("PIP_NO_INDEX", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let screen = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(screen.contains("Apply these changes? [yes/no]"), "{screen}");
    assert!(p.imports("gamma"), "{screen}");
}

#[test]
fn usage_errors_exit_64() {
    let home = tempfile::tempdir().unwrap();
    let out = beep(home.path()).args(["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("<ENV>"), "{}", stderr(&out));
}
