//! Scripts: console and GUI entry points (`entry_points.txt`) turned into
//! launchers in `bin/`, and `#!python` in a wheel's `.data/scripts`
//! rewritten to the environment's interpreter.

use std::collections::BTreeMap;
use std::path::Path;

/// The `[console_scripts]` and `[gui_scripts]` of `entry_points.txt`, as
/// script name -> `module:attr`. For pip, the `pipX.Y` script names the
/// Python the wheel was built with; like pip's own installer, it is named
/// after the environment's Python instead.
pub fn entry_points(
    text: &str,
    dist_name: &str,
    (major, minor): (u64, u64),
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut in_scripts = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_scripts = matches!(line, "[console_scripts]" | "[gui_scripts]");
            continue;
        }
        if !in_scripts {
            continue;
        }
        if let Some((name, target)) = line.split_once('=') {
            out.insert(name.trim().to_string(), target.trim().to_string());
        }
    }
    // pip's installer writes `pip`, `pipX` and `pipX.Y` for the Python it
    // installs into, whatever versioned names the wheel lists (pip 24.1
    // dropped them from its wheel); so do we.
    if dist_name.eq_ignore_ascii_case("pip")
        && let Some(target) = out.get("pip").cloned()
    {
        out.retain(|name, _| {
            !name.strip_prefix("pip").is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .split('.')
                        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
            })
        });
        out.insert(format!("pip{major}"), target.clone());
        out.insert(format!("pip{major}.{minor}"), target);
    }
    out
}

/// Whether `name` can be a file in `bin/`: one plain component.
pub fn valid_script_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with('-')
}

/// A launcher: a shebang for the environment's interpreter and a body that
/// calls `module:attr`, as pip and uv write them. `None` if the target is
/// malformed.
pub fn launcher(python: &Path, target: &str) -> Option<String> {
    // `module:attr.sub [extra1, extra2]`: extras do not matter to the script.
    let target = target.split('[').next()?.trim();
    let (module, attr) = target.split_once(':')?;
    let (module, attr) = (module.trim(), attr.trim());
    let valid = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|p| {
                p.chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && p.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
    };
    if !valid(module) || !valid(attr) {
        return None;
    }
    let import_name = attr.split('.').next()?;
    Some(format!(
        "{shebang}# -*- coding: utf-8 -*-\n\
         import re\n\
         import sys\n\
         from {module} import {import_name}\n\
         if __name__ == \"__main__\":\n\
         \x20   sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n\
         \x20   sys.exit({attr}())\n",
        shebang = shebang(python)
    ))
}

/// `#!<python>`; if the path has a space or is too long for the kernel's
/// shebang limit (127 bytes on older Linux), a `/bin/sh` line that execs
/// the interpreter, which Python then reads as a harmless string (the form
/// pip and uv write).
pub fn shebang(python: &Path) -> String {
    let path = python.to_string_lossy();
    if path.len() <= 125 && !path.contains([' ', '\t', '\n']) {
        return format!("#!{path}\n");
    }
    let escaped: String = path
        .chars()
        .flat_map(|c| match c {
            '"' | '$' | '`' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("#!/bin/sh\n'''exec' \"{escaped}\" \"$0\" \"$@\"\n' '''\n")
}

/// Rewrites a first line starting with `#!python` (`#!python`,
/// `#!pythonw`, `#!python3`) of a wheel script to the environment's
/// interpreter, as pip does; `None` for a script to be installed as it is.
pub fn rewrite_shebang(contents: &[u8], python: &Path) -> Option<Vec<u8>> {
    if !contents.starts_with(b"#!python") {
        return None;
    }
    let first_end = contents
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(contents.len());
    let mut out = shebang(python).into_bytes();
    out.extend_from_slice(contents.get(first_end + 1..).unwrap_or_default());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_scripts_are_named_after_the_environment_python() {
        let text = "[console_scripts]\npip = pip._internal.cli.main:main\npip3 = pip._internal.cli.main:main\npip3.10 = pip._internal.cli.main:main\n\n[other]\nx = y:z\n";
        let scripts = entry_points(text, "pip", (3, 12));
        assert_eq!(
            scripts.keys().map(String::as_str).collect::<Vec<_>>(),
            ["pip", "pip3", "pip3.12"]
        );
        // pip 24.1 and later list no versioned name: pip's installer still
        // writes one.
        let text = "[console_scripts]\npip = pip._internal.cli.main:main\npip3 = pip._internal.cli.main:main\n";
        let scripts = entry_points(text, "pip", (3, 13));
        assert_eq!(
            scripts.keys().map(String::as_str).collect::<Vec<_>>(),
            ["pip", "pip3", "pip3.13"]
        );
        let gui = entry_points("[gui_scripts]\nviewer = v.app:run\n", "v", (3, 12));
        assert_eq!(gui["viewer"], "v.app:run");
    }

    #[test]
    fn launchers_and_shebangs() {
        let body = launcher(Path::new("/e/bin/python"), "pip._internal.cli.main:main").unwrap();
        assert!(body.starts_with("#!/e/bin/python\n"));
        assert!(body.contains("from pip._internal.cli.main import main\n"));
        assert!(body.contains("sys.exit(main())"));
        assert!(launcher(Path::new("/e/bin/python"), "os; rm -rf:main").is_none());
        let long = format!("/{}/bin/python", "x".repeat(130));
        assert!(shebang(Path::new(&long)).starts_with("#!/bin/sh\n'''exec' \"/xxx"));
        assert!(shebang(Path::new("/a b/python")).contains("\"/a b/python\" \"$0\" \"$@\""));
        assert_eq!(
            rewrite_shebang(b"#!python\r\nprint(1)\n", Path::new("/e/bin/python")).unwrap(),
            b"#!/e/bin/python\nprint(1)\n"
        );
        assert_eq!(rewrite_shebang(b"#!/bin/sh\necho", Path::new("/p")), None);
        assert!(valid_script_name("rich-cli"));
        assert!(!valid_script_name("../evil"));
    }
}
