//! Windows install locations: PEP 514 registry keys, `py --list-paths`, the
//! `%LOCALAPPDATA%\Programs\Python\Python3*` folders and the Microsoft Store
//! aliases.
//!
//! The parsing is pure and works on text, so it is tested on every platform
//! (Windows paths are kept as strings: `Path` on Unix does not split on `\`).
//! Only `registry_executables` and `py_launcher_paths` touch the OS, by
//! running `reg query` and `py -0p`; discovery calls them only on Windows and
//! only when `DiscoverOptions::query_os` is set.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Registry roots holding PEP 514 keys, per user first.
const REGISTRY_ROOTS: [&str; 3] = [
    r"HKCU\Software\Python",
    r"HKLM\Software\Python",
    r"HKLM\Software\WOW6432Node\Python",
];

/// One `<root>\<Company>\<Tag>` key of PEP 514, with its `InstallPath`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pep514Entry {
    pub company: String,
    pub tag: String,
    pub display_name: Option<String>,
    pub version: Option<String>,
    pub sys_architecture: Option<String>,
    /// `InstallPath\(Default)`: the install folder.
    pub install_path: Option<String>,
    /// `InstallPath\ExecutablePath`.
    pub executable_path: Option<String>,
}

impl Pep514Entry {
    /// The interpreter: `ExecutablePath`, or for `PythonCore` (and only
    /// there, per PEP 514) `python.exe` in the install folder.
    pub fn executable(&self) -> Option<String> {
        if let Some(exe) = &self.executable_path {
            return Some(exe.clone());
        }
        if !self.company.eq_ignore_ascii_case("PythonCore") {
            return None;
        }
        let dir = self.install_path.as_deref()?;
        Some(join(dir, "python.exe"))
    }
}

/// Parses the output of `reg query <root>\Software\Python /s` into one
/// entry per `<Company>\<Tag>`, in the order listed. The `PyLauncher`
/// company is reserved by PEP 514 and skipped.
pub fn parse_reg_query(output: &str) -> Vec<Pep514Entry> {
    let mut entries: Vec<Pep514Entry> = Vec::new();
    // Which entry, and whether we are in its `InstallPath` subkey.
    let mut current: Option<(usize, bool)> = None;
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("HKEY_") && !line.starts_with(char::is_whitespace) {
            current = key_of(trimmed).and_then(|(company, tag, subkey)| {
                if company.eq_ignore_ascii_case("PyLauncher") {
                    return None;
                }
                let i = match entries
                    .iter()
                    .position(|e| e.company == company && e.tag == tag)
                {
                    Some(i) => i,
                    None => {
                        entries.push(Pep514Entry {
                            company: company.to_string(),
                            tag: tag.to_string(),
                            ..Pep514Entry::default()
                        });
                        entries.len() - 1
                    }
                };
                match subkey {
                    None => Some((i, false)),
                    Some(s) if s.eq_ignore_ascii_case("InstallPath") => Some((i, true)),
                    // `Help`, `PythonPath`, ...: nothing we need.
                    Some(_) => None,
                }
            });
            continue;
        }
        let (Some((i, in_install_path)), Some((name, data))) = (current, value_of(trimmed)) else {
            continue;
        };
        let entry = &mut entries[i];
        // `(Default)` is localized (`(Standard)`, `(par défaut)`), but it is
        // the only name in parentheses.
        let is_default = name.starts_with('(') && name.ends_with(')');
        let slot = match (in_install_path, is_default, name) {
            (true, true, _) => &mut entry.install_path,
            (true, false, n) if n.eq_ignore_ascii_case("ExecutablePath") => {
                &mut entry.executable_path
            }
            (false, false, n) if n.eq_ignore_ascii_case("DisplayName") => &mut entry.display_name,
            (false, false, n) if n.eq_ignore_ascii_case("Version") => &mut entry.version,
            (false, false, n) if n.eq_ignore_ascii_case("SysArchitecture") => {
                &mut entry.sys_architecture
            }
            _ => continue,
        };
        *slot = Some(data.to_string());
    }
    // A key without any way to find its interpreter is of no use.
    entries.retain(|e| e.executable().is_some());
    entries
}

/// `HKEY_...\Software[\WOW6432Node]\Python\<Company>\<Tag>[\<Subkey>]`.
fn key_of(key: &str) -> Option<(&str, &str, Option<&str>)> {
    let parts: Vec<&str> = key.split('\\').collect();
    let python = parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("Python"))?;
    let company = *parts.get(python + 1)?;
    let tag = *parts.get(python + 2)?;
    Some((company, tag, parts.get(python + 3).copied()))
}

/// `Name    REG_SZ    data` (reg.exe separates columns by four spaces; data
/// may contain spaces).
fn value_of(line: &str) -> Option<(&str, &str)> {
    let (name, rest) = line.split_once("    REG_")?;
    let data = rest.split_once("    ").map_or("", |(_, data)| data);
    Some((name.trim(), data.trim()))
}

/// One line of `py --list-paths` (`py -0p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyLauncherEntry {
    /// `-V:3.12`, `-3.9-64`, `-V:ContinuumAnalytics/Anaconda39-64`.
    pub tag: String,
    pub path: String,
    /// Marked `*`: what `py` runs without arguments.
    pub default: bool,
}

/// Parses `py --list-paths` of both the old launcher (` -3.9-64   C:\..\python.exe *`)
/// and the new one (` -V:3.12 *   C:\..\python.exe`). Paths may contain spaces.
pub fn parse_py_list_paths(output: &str) -> Vec<PyLauncherEntry> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let tag = line
                .split_whitespace()
                .next()
                .filter(|t| t.starts_with('-'))?;
            let mut rest = line[tag.len()..].trim();
            let mut default = false;
            if let Some(r) = rest.strip_prefix('*') {
                default = true;
                rest = r.trim_start();
            }
            if let Some(r) = rest.strip_suffix('*') {
                default = true;
                rest = r.trim_end();
            }
            looks_like_windows_path(rest).then(|| PyLauncherEntry {
                tag: tag.to_string(),
                path: rest.to_string(),
                default,
            })
        })
        .collect()
}

fn looks_like_windows_path(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() > 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\')
        || s.starts_with(r"\\")
}

/// The Microsoft Store's app execution aliases,
/// `%LOCALAPPDATA%\Microsoft\WindowsApps\python*.exe`: zero-byte reparse
/// points that open the Store when Python is not installed from it. An
/// installed Store Python is found through its package folder
/// (`WindowsApps\PythonSoftwareFoundation.Python.3.X_*\python.exe`), which
/// this does not match.
pub fn is_store_alias(path: &str) -> bool {
    let lower = path.replace('/', "\\").to_ascii_lowercase();
    let Some((dir, name)) = lower.rsplit_once('\\') else {
        return false;
    };
    dir.ends_with(r"\microsoft\windowsapps") && name.starts_with("python") && name.ends_with(".exe")
}

/// `Python311`, `Python313-32`, `Python312-arm64`: the folders the python.org
/// installer creates under `%LOCALAPPDATA%\Programs\Python`.
pub fn is_install_dir_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("Python3") else {
        return false;
    };
    let (digits, suffix) = rest.split_at(
        rest.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len()),
    );
    !digits.is_empty() && matches!(suffix, "" | "-32" | "-64" | "-arm64" | "t")
}

fn join(dir: &str, file: &str) -> String {
    if dir.ends_with('\\') || dir.ends_with('/') {
        format!("{dir}{file}")
    } else {
        format!("{dir}\\{file}")
    }
}

/// Interpreters registered under PEP 514, read with `reg query` (no registry
/// crate needed). A missing key or a failing `reg` yields nothing.
pub(crate) fn registry_executables() -> Vec<PathBuf> {
    REGISTRY_ROOTS
        .iter()
        .filter_map(|root| command_output("reg", &["query", root, "/s"]))
        .flat_map(|out| parse_reg_query(&out))
        .filter_map(|e| e.executable())
        .map(PathBuf::from)
        .collect()
}

/// Interpreters the py launcher knows about; nothing if it is not installed.
pub(crate) fn py_launcher_paths() -> Vec<PathBuf> {
    command_output("py", &["-0p"])
        .map(|out| parse_py_list_paths(&out))
        .unwrap_or_default()
        .into_iter()
        .map(|e| PathBuf::from(e.path))
        .collect()
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = r"
HKEY_CURRENT_USER\Software\Python\PythonCore
    DisplayName    REG_SZ    Python Software Foundation

HKEY_CURRENT_USER\Software\Python\PythonCore\3.11
    DisplayName    REG_SZ    Python 3.11 (64-bit)
    SupportUrl    REG_SZ    https://www.python.org/
    Version    REG_SZ    3.11.4
    SysVersion    REG_SZ    3.11
    SysArchitecture    REG_SZ    64bit

HKEY_CURRENT_USER\Software\Python\PythonCore\3.11\Help

HKEY_CURRENT_USER\Software\Python\PythonCore\3.11\Help\Main Python Documentation
    (Default)    REG_SZ    https://docs.python.org/3.11/

HKEY_CURRENT_USER\Software\Python\PythonCore\3.11\InstallPath
    (Default)    REG_SZ    C:\Users\Me\AppData\Local\Programs\Python\Python311\
    ExecutablePath    REG_SZ    C:\Users\Me\AppData\Local\Programs\Python\Python311\python.exe
    WindowedExecutablePath    REG_SZ    C:\Users\Me\AppData\Local\Programs\Python\Python311\pythonw.exe

HKEY_CURRENT_USER\Software\Python\PythonCore\3.8-32\InstallPath
    (Standard)    REG_SZ    C:\Program Files (x86)\Python38-32

HKEY_CURRENT_USER\Software\Python\ContinuumAnalytics\Anaconda39-64\InstallPath
    (Default)    REG_SZ    C:\Users\Me\anaconda3

HKEY_CURRENT_USER\Software\Python\PyLauncher\InstallPath
    (Default)    REG_SZ    C:\Windows\py.exe
";

    #[test]
    fn pep514_keys() {
        let entries = parse_reg_query(REG);
        let found: Vec<(String, Option<String>)> = entries
            .iter()
            .map(|e| (format!("{}\\{}", e.company, e.tag), e.executable()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    r"PythonCore\3.11".to_string(),
                    Some(
                        r"C:\Users\Me\AppData\Local\Programs\Python\Python311\python.exe"
                            .to_string()
                    )
                ),
                (
                    r"PythonCore\3.8-32".to_string(),
                    Some(r"C:\Program Files (x86)\Python38-32\python.exe".to_string())
                ),
            ]
        );
        assert_eq!(entries[0].version.as_deref(), Some("3.11.4"));
        assert_eq!(entries[0].sys_architecture.as_deref(), Some("64bit"));
        assert_eq!(
            entries[0].display_name.as_deref(),
            Some("Python 3.11 (64-bit)")
        );
        // The Help subkey's (Default) did not leak into InstallPath.
        assert_eq!(
            entries[0].install_path.as_deref(),
            Some(r"C:\Users\Me\AppData\Local\Programs\Python\Python311\")
        );
    }

    #[test]
    fn py_list_paths_old_and_new_launchers() {
        let new = " -V:3.12 *        C:\\Program Files\\Python312\\python.exe\n -V:3.11          C:\\Users\\Me\\AppData\\Local\\Programs\\Python\\Python311\\python.exe\n -V:ContinuumAnalytics/Anaconda39-64 C:\\Users\\Me\\anaconda3\\python.exe\n";
        let entries = parse_py_list_paths(new);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].path, r"C:\Program Files\Python312\python.exe");
        assert!(entries[0].default && !entries[1].default);
        assert_eq!(entries[2].tag, "-V:ContinuumAnalytics/Anaconda39-64");

        let old = "Installed Pythons found by py Launcher for Windows\n -3.9-64        C:\\Python39\\python.exe *\n -3.8-32        C:\\Python38-32\\python.exe\n\n";
        let entries = parse_py_list_paths(old);
        assert_eq!(
            entries,
            [
                PyLauncherEntry {
                    tag: "-3.9-64".into(),
                    path: r"C:\Python39\python.exe".into(),
                    default: true
                },
                PyLauncherEntry {
                    tag: "-3.8-32".into(),
                    path: r"C:\Python38-32\python.exe".into(),
                    default: false
                },
            ]
        );
        assert!(parse_py_list_paths("No installed Pythons found!\n").is_empty());
    }

    #[test]
    fn store_aliases() {
        assert!(is_store_alias(
            r"C:\Users\Me\AppData\Local\Microsoft\WindowsApps\python.exe"
        ));
        assert!(is_store_alias(
            r"C:\Users\Me\AppData\Local\Microsoft\WindowsApps\python3.12.EXE"
        ));
        assert!(!is_store_alias(
            r"C:\Users\Me\AppData\Local\Microsoft\WindowsApps\PythonSoftwareFoundation.Python.3.12_qbz5n2kfra8p0\python.exe"
        ));
        assert!(!is_store_alias(r"C:\Python312\python.exe"));
        assert!(!is_store_alias("/usr/bin/python3"));
    }

    #[test]
    fn install_dir_names() {
        for ok in ["Python311", "Python38-32", "Python312-arm64", "Python313t"] {
            assert!(is_install_dir_name(ok), "{ok}");
        }
        for no in ["Python", "Python27", "Launcher", "Python3x", "python311"] {
            assert!(!is_install_dir_name(no), "{no}");
        }
    }
}
