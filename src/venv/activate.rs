//! Activation scripts: `activate` (bash, zsh, sh), `activate.fish`,
//! `activate.csh`, `Activate.ps1`, and on Windows `activate.bat` /
//! `deactivate.bat`.
//!
//! Each script sets `VIRTUAL_ENV`, `VIRTUAL_ENV_PROMPT`, puts the scripts
//! folder first on `PATH`, unsets `PYTHONHOME`, prefixes the prompt (unless
//! `VIRTUAL_ENV_DISABLE_PROMPT` is set), exports the environment's own
//! variables, and defines `deactivate`, which puts every one of those back.
//!
//! Invariants:
//!
//! - Every value that comes from outside (paths, the prompt, variable
//!   values) is written as a quoted literal of the target shell, so no value
//!   is ever evaluated as code; the quoting functions are tested one by one.
//! - Variable names are plain identifiers (checked by [`check_var_name`]),
//!   so they can appear unquoted.
//! - A variable is restored by `deactivate` only if this activation set it:
//!   the script records `_BEEP_SET_<NAME>` (and the previous value in
//!   `_BEEP_OLD_<NAME>` if there was one), because each script starts with
//!   `deactivate nondestructive`, which must not unset a variable that the
//!   user set before any activation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::layout::{Layout, Platform};

/// Names that the activation scripts manage themselves, so an environment
/// may not set them.
const RESERVED: &[&str] = &[
    "PATH",
    "VIRTUAL_ENV",
    "VIRTUAL_ENV_PROMPT",
    "PYTHONHOME",
    "PS1",
    "PROMPT",
];

/// Why `name` cannot be an environment variable of an environment, if it
/// cannot.
pub fn check_var_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("names must be letters, digits and `_`, not starting with a digit");
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err("activation manages this variable itself");
    }
    if name.starts_with("_BEEP_") {
        return Err("names starting with `_BEEP_` are used by the activation scripts");
    }
    Ok(())
}

/// The activation scripts for `platform`, as (file name in the scripts
/// folder, contents). `vars` must have passed [`check_var_name`].
pub fn scripts(
    layout: &Layout,
    prompt: &str,
    vars: &BTreeMap<String, String>,
) -> Vec<(&'static str, String)> {
    let root = layout.root.to_string_lossy();
    let bin = layout.bin.to_string_lossy();
    match layout.platform {
        Platform::Unix => vec![
            ("activate", posix(&root, &bin, prompt, vars)),
            ("activate.fish", fish(&root, &bin, prompt, vars)),
            ("activate.csh", csh(&root, &bin, prompt, vars)),
            ("Activate.ps1", powershell(&root, &bin, prompt, vars)),
        ],
        Platform::Windows => vec![
            ("activate.bat", cmd_activate(&root, &bin, prompt, vars)),
            ("deactivate.bat", cmd_deactivate(vars)),
            ("Activate.ps1", powershell(&root, &bin, prompt, vars)),
        ],
    }
}

/// A POSIX shell single-quoted literal: `'` becomes `'\''`; nothing else is
/// special inside single quotes.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A fish single-quoted literal: only `\` and `'` are special inside.
pub fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// A csh single-quoted literal. Quotes do not stop history substitution, so
/// `!` is escaped, and a line break must be escaped to stay in the word.
pub fn csh_quote(value: &str) -> String {
    let mut out = String::from("'");
    for c in value.chars() {
        match c {
            '\'' => out.push_str(r"'\''"),
            '!' => out.push_str(r"\!"),
            '\n' => out.push_str("\\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A PowerShell single-quoted (verbatim) literal. PowerShell also ends such
/// a string at the typographic single quotes, so those are doubled too.
pub fn powershell_quote(value: &str) -> String {
    let mut out = String::from("'");
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// The value part of a cmd.exe `set "NAME=value"`: `%` is doubled so that
/// it is not expanded in a batch file. `None` when cmd.exe cannot hold the
/// value (line breaks, or a `"` that would end the quoting early).
pub fn cmd_value(value: &str) -> Option<String> {
    if value.contains(['\n', '\r', '"']) {
        return None;
    }
    Some(value.replace('%', "%%"))
}

fn header(out: &mut String, comment: &str, how: &str) {
    let _ = writeln!(out, "{comment} {how}");
    let _ = writeln!(
        out,
        "{comment} `deactivate` puts everything back. Written by beep-python; do not edit."
    );
    out.push('\n');
}

fn posix(root: &str, bin: &str, prompt: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    header(
        &mut s,
        "#",
        &format!("Activates this environment in bash or zsh: `source {bin}/activate`."),
    );
    s.push_str(
        r#"deactivate () {
    if [ -n "${_BEEP_OLD_PATH+set}" ]; then
        PATH="$_BEEP_OLD_PATH"
        export PATH
        unset _BEEP_OLD_PATH
    fi
    if [ -n "${_BEEP_OLD_PYTHONHOME+set}" ]; then
        PYTHONHOME="$_BEEP_OLD_PYTHONHOME"
        export PYTHONHOME
        unset _BEEP_OLD_PYTHONHOME
    fi
    if [ -n "${_BEEP_OLD_PS1+set}" ]; then
        PS1="$_BEEP_OLD_PS1"
        unset _BEEP_OLD_PS1
    fi
"#,
    );
    for name in vars.keys() {
        let _ = write!(
            s,
            r#"    if [ -n "${{_BEEP_SET_{name}+set}}" ]; then
        if [ -n "${{_BEEP_OLD_{name}+set}}" ]; then
            {name}="$_BEEP_OLD_{name}"
            export {name}
        else
            unset {name}
        fi
        unset _BEEP_OLD_{name} _BEEP_SET_{name}
    fi
"#
        );
    }
    s.push_str(
        r#"    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT
    # The shell remembers where it found commands; some were in the environment.
    hash -r 2>/dev/null
    if [ "${1-}" != nondestructive ]; then
        unset -f deactivate
    fi
}

# Leave whatever environment is active first.
deactivate nondestructive

"#,
    );
    let _ = write!(
        s,
        r#"VIRTUAL_ENV={root}
export VIRTUAL_ENV
VIRTUAL_ENV_PROMPT={prompt}
export VIRTUAL_ENV_PROMPT
_BEEP_OLD_PATH="$PATH"
PATH={bin}":$PATH"
export PATH
if [ -n "${{PYTHONHOME+set}}" ]; then
    _BEEP_OLD_PYTHONHOME="$PYTHONHOME"
    unset PYTHONHOME
fi
if [ -z "${{VIRTUAL_ENV_DISABLE_PROMPT-}}" ]; then
    _BEEP_OLD_PS1="${{PS1-}}"
    PS1={prompt_prefix}"${{PS1-}}"
fi
"#,
        root = sh_quote(root),
        bin = sh_quote(bin),
        prompt = sh_quote(prompt),
        prompt_prefix = sh_quote(&format!("({prompt}) ")),
    );
    for (name, value) in vars {
        let _ = write!(
            s,
            r#"if [ -n "${{{name}+set}}" ]; then
    _BEEP_OLD_{name}="${name}"
fi
_BEEP_SET_{name}=1
{name}={value}
export {name}
"#,
            value = sh_quote(value)
        );
    }
    s.push_str("hash -r 2>/dev/null\n");
    s
}

fn fish(root: &str, bin: &str, prompt: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    header(
        &mut s,
        "#",
        &format!("Activates this environment in fish: `source {bin}/activate.fish`."),
    );
    s.push_str(
        r#"function deactivate -d 'Leave the virtual environment'
    if set -q _BEEP_OLD_PATH
        set -gx PATH $_BEEP_OLD_PATH
        set -e _BEEP_OLD_PATH
    end
    if set -q _BEEP_OLD_PYTHONHOME
        set -gx PYTHONHOME $_BEEP_OLD_PYTHONHOME
        set -e _BEEP_OLD_PYTHONHOME
    end
    if functions -q _beep_old_fish_prompt
        functions -e fish_prompt
        functions -c _beep_old_fish_prompt fish_prompt
        functions -e _beep_old_fish_prompt
    end
"#,
    );
    for name in vars.keys() {
        let _ = write!(
            s,
            r#"    if set -q _BEEP_SET_{name}
        if set -q _BEEP_OLD_{name}
            set -gx {name} $_BEEP_OLD_{name}
            set -e _BEEP_OLD_{name}
        else
            set -e {name}
        end
        set -e _BEEP_SET_{name}
    end
"#
        );
    }
    s.push_str(
        r#"    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    if test "$argv[1]" != nondestructive
        functions -e deactivate
    end
end

# Leave whatever environment is active first.
deactivate nondestructive

"#,
    );
    let _ = write!(
        s,
        r#"set -gx VIRTUAL_ENV {root}
set -gx VIRTUAL_ENV_PROMPT {prompt}
set -g _BEEP_OLD_PATH $PATH
set -gx PATH {bin} $PATH
if set -q PYTHONHOME
    set -g _BEEP_OLD_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end
"#,
        root = fish_quote(root),
        bin = fish_quote(bin),
        prompt = fish_quote(prompt),
    );
    for (name, value) in vars {
        let _ = write!(
            s,
            r#"if set -q {name}
    set -g _BEEP_OLD_{name} ${name}
end
set -g _BEEP_SET_{name} 1
set -gx {name} {value}
"#,
            value = fish_quote(value)
        );
    }
    s.push_str(
        r#"if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"; and functions -q fish_prompt
    functions -c fish_prompt _beep_old_fish_prompt
    function fish_prompt
        # The old prompt may show the last command's status: keep it.
        set -l last_status $status
        printf '(%s) ' $VIRTUAL_ENV_PROMPT
        echo "exit $last_status" | source
        _beep_old_fish_prompt
    end
end
"#,
    );
    s
}

fn csh(root: &str, bin: &str, prompt: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    header(
        &mut s,
        "#",
        &format!("Activates this environment in csh or tcsh: `source {bin}/activate.csh`."),
    );
    // csh substitutes variables on a whole line before running any of it,
    // so every restore is a `test ... && ...` chain, whose later commands
    // are substituted only when they run.
    let mut alias = String::from(
        r#"test $?_BEEP_OLD_PATH != 0 && setenv PATH "$_BEEP_OLD_PATH:q" && unset _BEEP_OLD_PATH; test $?_BEEP_OLD_PYTHONHOME != 0 && setenv PYTHONHOME "$_BEEP_OLD_PYTHONHOME:q" && unset _BEEP_OLD_PYTHONHOME; test $?_BEEP_OLD_PROMPT != 0 && set prompt="$_BEEP_OLD_PROMPT:q" && unset _BEEP_OLD_PROMPT; "#,
    );
    for name in vars.keys() {
        let _ = write!(
            alias,
            r#"test $?_BEEP_SET_{name} != 0 && test $?_BEEP_OLD_{name} = 0 && unsetenv {name}; test $?_BEEP_OLD_{name} != 0 && setenv {name} "$_BEEP_OLD_{name}:q" && unset _BEEP_OLD_{name}; test $?_BEEP_SET_{name} != 0 && unset _BEEP_SET_{name}; "#
        );
    }
    alias.push_str(
        r#"unsetenv VIRTUAL_ENV; unsetenv VIRTUAL_ENV_PROMPT; rehash; test "\!:*" != "nondestructive" && unalias deactivate"#,
    );
    let _ = write!(
        s,
        r#"alias deactivate '{alias}'

# Leave whatever environment is active first.
deactivate nondestructive

setenv VIRTUAL_ENV {root}
setenv VIRTUAL_ENV_PROMPT {prompt}
set _BEEP_OLD_PATH="$PATH:q"
setenv PATH {bin}":$PATH:q"
if ($?PYTHONHOME) then
    set _BEEP_OLD_PYTHONHOME="$PYTHONHOME:q"
    unsetenv PYTHONHOME
endif
"#,
        root = csh_quote(root),
        bin = csh_quote(bin),
        prompt = csh_quote(prompt),
    );
    for (name, value) in vars {
        let _ = write!(
            s,
            r#"if ($?{name}) then
    set _BEEP_OLD_{name}="${name}:q"
endif
set _BEEP_SET_{name}=1
setenv {name} {value}
"#,
            value = csh_quote(value)
        );
    }
    let _ = write!(
        s,
        r#"if (! $?VIRTUAL_ENV_DISABLE_PROMPT) then
    if ($?prompt) then
        set _BEEP_OLD_PROMPT="$prompt:q"
        set prompt={prefix}"$prompt:q"
    endif
endif
rehash
"#,
        prefix = csh_quote(&format!("({prompt}) ")),
    );
    s
}

fn powershell(root: &str, bin: &str, prompt: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    header(
        &mut s,
        "#",
        &format!("Activates this environment in PowerShell: `. {bin}/Activate.ps1`."),
    );
    s.push_str(
        r#"function global:deactivate([switch] $NonDestructive) {
    if (Test-Path -LiteralPath 'Variable:_BEEP_OLD_PATH') {
        Set-Item -LiteralPath 'Env:PATH' -Value $global:_BEEP_OLD_PATH
        Remove-Variable -Name '_BEEP_OLD_PATH' -Scope Global
    }
    if (Test-Path -LiteralPath 'Variable:_BEEP_OLD_PYTHONHOME') {
        Set-Item -LiteralPath 'Env:PYTHONHOME' -Value $global:_BEEP_OLD_PYTHONHOME
        Remove-Variable -Name '_BEEP_OLD_PYTHONHOME' -Scope Global
    }
    if (Test-Path -LiteralPath 'Function:_beep_old_prompt') {
        Copy-Item -LiteralPath 'Function:_beep_old_prompt' -Destination 'Function:global:prompt'
        Remove-Item -LiteralPath 'Function:_beep_old_prompt'
    }
"#,
    );
    for name in vars.keys() {
        let _ = write!(
            s,
            r#"    if (Test-Path -LiteralPath 'Variable:_BEEP_SET_{name}') {{
        if (Test-Path -LiteralPath 'Variable:_BEEP_OLD_{name}') {{
            Set-Item -LiteralPath 'Env:{name}' -Value $global:_BEEP_OLD_{name}
            Remove-Variable -Name '_BEEP_OLD_{name}' -Scope Global
        }} else {{
            Remove-Item -LiteralPath 'Env:{name}' -ErrorAction SilentlyContinue
        }}
        Remove-Variable -Name '_BEEP_SET_{name}' -Scope Global
    }}
"#
        );
    }
    s.push_str(
        r#"    Remove-Item -LiteralPath 'Env:VIRTUAL_ENV' -ErrorAction SilentlyContinue
    Remove-Item -LiteralPath 'Env:VIRTUAL_ENV_PROMPT' -ErrorAction SilentlyContinue
    if (-not $NonDestructive) {
        Remove-Item -LiteralPath 'Function:deactivate'
    }
}

# Leave whatever environment is active first.
deactivate -NonDestructive

"#,
    );
    let _ = write!(
        s,
        r#"Set-Item -LiteralPath 'Env:VIRTUAL_ENV' -Value {root}
Set-Item -LiteralPath 'Env:VIRTUAL_ENV_PROMPT' -Value {prompt}
$global:_BEEP_OLD_PATH = $env:PATH
Set-Item -LiteralPath 'Env:PATH' -Value ({bin} + [System.IO.Path]::PathSeparator + $env:PATH)
if (Test-Path -LiteralPath 'Env:PYTHONHOME') {{
    $global:_BEEP_OLD_PYTHONHOME = $env:PYTHONHOME
    Remove-Item -LiteralPath 'Env:PYTHONHOME'
}}
"#,
        root = powershell_quote(root),
        bin = powershell_quote(bin),
        prompt = powershell_quote(prompt),
    );
    for (name, value) in vars {
        let _ = write!(
            s,
            r#"if (Test-Path -LiteralPath 'Env:{name}') {{
    $global:_BEEP_OLD_{name} = $env:{name}
}}
$global:_BEEP_SET_{name} = $true
Set-Item -LiteralPath 'Env:{name}' -Value {value}
"#,
            value = powershell_quote(value)
        );
    }
    s.push_str(
        r#"if (-not $env:VIRTUAL_ENV_DISABLE_PROMPT) {
    Copy-Item -LiteralPath 'Function:prompt' -Destination 'Function:global:_beep_old_prompt'
    function global:prompt {
        Write-Host -NoNewline -ForegroundColor Green "($env:VIRTUAL_ENV_PROMPT) "
        _beep_old_prompt
    }
}
"#,
    );
    s
}

fn cmd_activate(root: &str, bin: &str, prompt: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = String::from("@echo off\r\n");
    let _ = write!(
        s,
        "rem Activates this environment in cmd.exe: `{bin}\\activate.bat`.\r\n\
         rem `deactivate` puts everything back. Written by beep-python; do not edit.\r\n\r\n\
         if defined _BEEP_SET_ACTIVE call \"%~dp0deactivate.bat\"\r\n"
    );
    // Paths and prompts with `"` or line breaks cannot be set in cmd.exe;
    // Windows paths cannot contain them, and a prompt that does is dropped.
    let root_value = cmd_value(root).unwrap_or_default();
    let bin_value = cmd_value(bin).unwrap_or_default();
    let prompt_value = cmd_value(prompt).unwrap_or_default();
    let _ = write!(
        s,
        "set \"_BEEP_SET_ACTIVE=1\"\r\n\
         set \"VIRTUAL_ENV={root_value}\"\r\n\
         set \"VIRTUAL_ENV_PROMPT={prompt_value}\"\r\n\
         set \"_BEEP_OLD_PATH=%PATH%\"\r\n\
         set \"PATH={bin_value};%PATH%\"\r\n\
         if defined PYTHONHOME set \"_BEEP_OLD_PYTHONHOME=%PYTHONHOME%\"\r\n\
         set \"PYTHONHOME=\"\r\n\
         if not defined PROMPT set \"PROMPT=$P$G\"\r\n\
         set \"_BEEP_OLD_PROMPT=%PROMPT%\"\r\n\
         if not defined VIRTUAL_ENV_DISABLE_PROMPT set \"PROMPT=({prompt_value}) %PROMPT%\"\r\n"
    );
    for (name, value) in vars {
        match cmd_value(value) {
            Some(value) => {
                let _ = write!(
                    s,
                    "if defined {name} set \"_BEEP_OLD_{name}=%{name}%\"\r\n\
                     set \"_BEEP_SET_{name}=1\"\r\n\
                     set \"{name}={value}\"\r\n"
                );
            }
            None => {
                let _ = write!(
                    s,
                    "rem {name} is not set here: cmd.exe cannot hold its value (a line break or `\"`)\r\n"
                );
            }
        }
    }
    s
}

fn cmd_deactivate(vars: &BTreeMap<String, String>) -> String {
    let mut s = String::from(
        "@echo off\r\n\
         rem Leaves the environment that activate.bat entered. Written by beep-python; do not edit.\r\n\r\n\
         if not defined _BEEP_SET_ACTIVE goto :eof\r\n\
         if defined _BEEP_OLD_PATH set \"PATH=%_BEEP_OLD_PATH%\"\r\n\
         set \"_BEEP_OLD_PATH=\"\r\n\
         if defined _BEEP_OLD_PYTHONHOME set \"PYTHONHOME=%_BEEP_OLD_PYTHONHOME%\"\r\n\
         set \"_BEEP_OLD_PYTHONHOME=\"\r\n\
         if defined _BEEP_OLD_PROMPT set \"PROMPT=%_BEEP_OLD_PROMPT%\"\r\n\
         set \"_BEEP_OLD_PROMPT=\"\r\n",
    );
    // `goto` rather than `( ... )` blocks: a block is expanded as a whole
    // when it is read, and a `)` in a saved value would end it.
    for name in vars.keys() {
        let _ = write!(
            s,
            "if not defined _BEEP_SET_{name} goto :beep_{name}_done\r\n\
             set \"{name}=\"\r\n\
             if defined _BEEP_OLD_{name} set \"{name}=%_BEEP_OLD_{name}%\"\r\n\
             set \"_BEEP_OLD_{name}=\"\r\n\
             set \"_BEEP_SET_{name}=\"\r\n\
             :beep_{name}_done\r\n"
        );
    }
    s.push_str(
        "set \"VIRTUAL_ENV=\"\r\n\
         set \"VIRTUAL_ENV_PROMPT=\"\r\n\
         set \"_BEEP_SET_ACTIVE=\"\r\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venv::layout::layout_for;
    use std::path::Path;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "GREETING".to_string(),
                "it's a \"test\" $HOME !x".to_string(),
            ),
            ("PLAIN".to_string(), "a b".to_string()),
        ])
    }

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(fish_quote(r"a\b'c"), r"'a\\b\'c'");
        assert_eq!(csh_quote("it's !1"), r"'it'\''s \!1'");
        assert_eq!(csh_quote("a\nb"), "'a\\\nb'");
        assert_eq!(powershell_quote("it's ’x"), "'it''s ’’x'");
        assert_eq!(cmd_value("100%"), Some("100%%".to_string()));
        assert_eq!(cmd_value("a\"b"), None);
    }

    #[test]
    fn var_names() {
        assert!(check_var_name("MY_VAR1").is_ok());
        assert!(check_var_name("_x").is_ok());
        assert!(check_var_name("1X").is_err());
        assert!(check_var_name("A-B").is_err());
        assert!(check_var_name("").is_err());
        assert!(check_var_name("PATH").is_err());
        assert!(check_var_name("virtual_env").is_err());
        assert!(check_var_name("_BEEP_SET_X").is_err());
    }

    #[test]
    fn unix_scripts_quote_every_value() {
        let l = layout_for(Platform::Unix, Path::new("/envs/it's"), "3.12.1");
        let scripts: BTreeMap<_, _> = scripts(&l, "demo", &vars()).into_iter().collect();
        assert_eq!(
            scripts.keys().copied().collect::<Vec<_>>(),
            ["Activate.ps1", "activate", "activate.csh", "activate.fish"]
        );
        let sh = &scripts["activate"];
        assert!(sh.contains(r#"GREETING='it'\''s a "test" $HOME !x'"#));
        assert!(sh.contains("VIRTUAL_ENV='/envs/it'\\''s'\n"));
        assert!(sh.contains("PLAIN='a b'\nexport PLAIN"));
        let fish = &scripts["activate.fish"];
        assert!(fish.contains(r#"set -gx GREETING 'it\'s a "test" $HOME !x'"#));
        assert!(fish.contains(r"set -gx VIRTUAL_ENV '/envs/it\'s'"));
        let csh = &scripts["activate.csh"];
        assert!(csh.contains(r#"setenv GREETING 'it'\''s a "test" $HOME \!x'"#));
        assert!(csh.contains("unsetenv GREETING"));
        let ps = &scripts["Activate.ps1"];
        assert!(
            ps.contains(r#"Set-Item -LiteralPath 'Env:GREETING' -Value 'it''s a "test" $HOME !x'"#)
        );
        assert!(ps.contains("Set-Item -LiteralPath 'Env:VIRTUAL_ENV' -Value '/envs/it''s'"));
        assert!(ps.contains("Remove-Item -LiteralPath 'Env:PLAIN'"));
    }

    #[test]
    fn windows_scripts() {
        let l = layout_for(Platform::Windows, Path::new(r"C:\envs\demo"), "3.12.1");
        let scripts: BTreeMap<_, _> = scripts(&l, "demo", &vars()).into_iter().collect();
        assert_eq!(
            scripts.keys().copied().collect::<Vec<_>>(),
            ["Activate.ps1", "activate.bat", "deactivate.bat"]
        );
        let bat = &scripts["activate.bat"];
        assert!(bat.contains("set \"PLAIN=a b\"\r\n"));
        // A `"` cannot be held by cmd.exe: the variable is left out, loudly.
        assert!(bat.contains("rem GREETING is not set here"));
        assert!(bat.contains(&format!("set \"PATH={};%PATH%\"", l.bin.display())));
        let de = &scripts["deactivate.bat"];
        assert!(de.contains("if defined _BEEP_OLD_PLAIN set \"PLAIN=%_BEEP_OLD_PLAIN%\""));
    }
}
