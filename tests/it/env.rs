//! `beep-python env --format ...`, evaluated by the real shells: the
//! exported variables are exactly those that sourcing the environment's own
//! activation script exports.

use std::process::Command;

use crate::applied::{Project, env_pairs, require};
use crate::common::{stderr, stdout};

/// Runs `script` in `shell` (started without startup files) from the
/// project folder, with `BEEP` naming the binary, and returns what `env -0`
/// printed at its end, without the shell's own `_`.
#[track_caller]
fn exported(p: &Project, shell: &[&str], script: &str) -> Vec<(String, String)> {
    let mut cmd = Command::new(shell[0]);
    cmd.args(&shell[1..])
        .arg(script)
        .current_dir(p.dir.path())
        .env("BEEP_PYTHON_HOME", p.home())
        .env("BEEP", env!("CARGO_BIN_EXE_beep-python"))
        .env("PYTHONHOME", "/somewhere/else")
        .env("PIP_NO_INDEX", "1");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{shell:?} {script}:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    env_pairs(&out.stdout)
        .into_iter()
        .filter(|(k, _)| k != "_")
        .collect()
}

#[test]
fn env_for_sh_sets_what_bash_activate_sets() {
    let p = Project::applied();
    let bash = ["bash", "--norc", "--noprofile", "-c"];
    let ours = exported(&p, &bash, r#"eval "$("$BEEP" env a)" && env -0"#);
    let theirs = exported(&p, &bash, ". .venvs/a/bin/activate && env -0");
    assert_eq!(ours, theirs);
    let get = |k: &str| ours.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("GREETING"), Some("it's \"quoted\" $HOME ; `x`"));
    assert_eq!(get("OVERRIDDEN"), Some("environment"));
    assert_eq!(get("PYTHONHOME"), None);
    assert!(
        get("PATH")
            .unwrap()
            .starts_with(&format!("{}/bin:", p.env_root().display()))
    );
}

#[test]
fn env_for_fish_sets_what_fish_activate_sets() {
    if require("fish").is_none() {
        return;
    }
    let p = Project::applied();
    let fish = ["fish", "--no-config", "-c"];
    let ours = exported(&p, &fish, "$BEEP env a --format fish | source; and env -0");
    let theirs = exported(&p, &fish, "source .venvs/a/bin/activate.fish; and env -0");
    assert_eq!(ours, theirs);
    assert!(
        ours.iter()
            .any(|(k, v)| k == "GREETING" && v == "it's \"quoted\" $HOME ; `x`")
    );
}

/// PowerShell's half, run for real where PowerShell is installed
/// (`cargo test -- --ignored`): no package registry CI can reach ships it,
/// so it is ignored rather than passing without running. The text itself
/// is checked by `usage::activation`'s unit tests.
#[test]
#[ignore = "needs PowerShell (pwsh), which CI cannot install"]
fn env_for_powershell_sets_what_activate_ps1_sets() {
    let Some(pwsh) = ["pwsh", "powershell"].into_iter().find(|name| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    }) else {
        panic!("PowerShell (pwsh) is not on PATH");
    };
    let p = Project::applied();
    let ps = [pwsh, "-NoProfile", "-NonInteractive", "-Command"];
    let dump = "Get-ChildItem Env: | Sort-Object Name | ForEach-Object { \"$($_.Name)=$($_.Value)`0\" } | Write-Host -NoNewline";
    let ours = exported(
        &p,
        &ps,
        &format!("& $env:BEEP env a --format powershell | Out-String | Invoke-Expression; {dump}"),
    );
    let theirs = exported(&p, &ps, &format!(". .venvs/a/bin/Activate.ps1; {dump}"));
    assert_eq!(ours, theirs);
}

#[test]
fn env_dotenv_and_json_carry_the_computed_values() {
    let p = Project::applied();
    let json: serde_json::Value =
        serde_json::from_slice(&p.run(&["env", "a", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["environment"], "a");
    assert_eq!(json["unset"], serde_json::json!(["PYTHONHOME"]));
    // The global `--format json` means the same.
    let global: serde_json::Value =
        serde_json::from_slice(&p.run(&["--format", "json", "env", "a"]).stdout).unwrap();
    assert_eq!(global, json);

    // A `.env` file holds the same values, read by the rules of
    // python-dotenv and direnv: single quotes are literal, double quotes
    // take backslash escapes (the ones written are JSON's too).
    let dotenv = stdout(&p.run(&["env", "a", "--format", "dotenv"]));
    let set = json["set"].as_object().unwrap();
    assert_eq!(dotenv.lines().count(), set.len(), "{dotenv}");
    assert!(
        dotenv.contains(r#"GREETING="it's \"quoted\" $HOME ; `x`""#),
        "{dotenv}"
    );
    let reader = r#"
import json, sys
for line in open(sys.argv[1]):
    k, v = line.rstrip("\n").split("=", 1)
    print(k + "=" + (v[1:-1] if v.startswith("'") else json.loads(v)))
"#;
    std::fs::write(p.path("a.env"), &dotenv).unwrap();
    let out = Command::new(crate::applied::base_python())
        .args(["-c", reader])
        .arg(p.path("a.env"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for line in stdout(&out).lines() {
        let (k, v) = line.split_once('=').unwrap();
        assert_eq!(set[k], v, "{k} in {dotenv}");
    }
}

#[test]
fn env_refuses_a_shell_format_for_other_commands() {
    let p = Project::applied();
    let out = p.cmd().args(["plan", "--format", "fish"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("invalid value 'fish' for '--format <FORMAT>'")
            && stderr(&out).contains("[possible values: human, json]"),
        "{}",
        stderr(&out)
    );
}
