//! `beep-python completions SHELL`, loaded into the real bash and fish and
//! asked to complete.

use std::process::Command;

use crate::applied::require;
use crate::common::{beep, stderr, stdout};

#[track_caller]
fn script(shell: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = beep(home.path())
        .args(["completions", shell])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("beep-python"), "{shell}: {text}");
    text
}

#[test]
fn bash_completion_loads_and_completes_commands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("beep-python.bash");
    std::fs::write(&file, script("bash")).unwrap();
    // What bash does on <Tab>: the words so far, then the function.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            r#"source '{}'
complete -p beep-python >/dev/null || exit 5
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
func=$(complete -p beep-python | sed -E 's/.*-F ([^ ]+).*/\1/')
"$func" beep-python '{last}' '{prev}'
printf '%s\n' "${{COMPREPLY[@]}}""#,
            file.display(),
            words = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            cword = words.len() - 1,
            last = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {}", stderr(&out));
        stdout(&out)
    };
    let commands = complete("beep-python ru");
    assert!(
        commands.lines().any(|l| l.trim() == "run")
            && commands.lines().any(|l| l.trim() == "runtimes"),
        "{commands}"
    );
    let options = complete("beep-python run --s");
    assert!(options.lines().any(|l| l.trim() == "--sync"), "{options}");
    let formats = complete("beep-python env a --format ");
    assert!(formats.lines().any(|l| l.trim() == "fish"), "{formats}");
}

#[test]
fn fish_completion_loads_and_completes_commands() {
    if require("fish").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("beep-python.fish");
    std::fs::write(&file, script("fish")).unwrap();
    let out = Command::new("fish")
        .args(["--no-config", "-c"])
        .arg(format!(
            "source '{}'; complete -C 'beep-python ru'; complete -C 'beep-python shell --'",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let first_words: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    for expected in ["run", "runtimes", "--sync", "--no-check"] {
        assert!(first_words.contains(&expected), "{expected}:\n{text}");
    }
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_a_usage_error() {
    for shell in ["zsh", "powershell", "elvish"] {
        script(shell);
    }
    let home = tempfile::tempdir().unwrap();
    let out = beep(home.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
