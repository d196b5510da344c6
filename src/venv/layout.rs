//! Where things are in a virtual environment, per platform.
//!
//! Everything here is pure (no I/O), so the Windows layout and the Windows
//! creation plan are unit-tested on Linux. The paths are the ones CPython's
//! `venv` uses: `bin/`, `lib/python3.X/site-packages`, `include/` on POSIX;
//! `Scripts\`, `Lib\site-packages`, `Include\` on Windows.

use std::path::{Path, PathBuf};

/// The operating-system family whose layout to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux, macOS, the BSDs: `bin/`, `lib/python3.X/site-packages`.
    Unix,
    /// Windows: `Scripts\`, `Lib\site-packages`.
    Windows,
}

impl Platform {
    /// The platform this program was built for.
    pub const CURRENT: Platform = if cfg!(windows) {
        Platform::Windows
    } else {
        Platform::Unix
    };

    /// The name of the scripts folder: `bin` or `Scripts`.
    pub fn bin_dir(self) -> &'static str {
        match self {
            Platform::Unix => "bin",
            Platform::Windows => "Scripts",
        }
    }

    /// The interpreter's file name in the scripts folder.
    pub fn python_name(self) -> &'static str {
        match self {
            Platform::Unix => "python",
            Platform::Windows => "python.exe",
        }
    }
}

/// Where the parts of one environment are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The environment folder (holds `pyvenv.cfg`).
    pub root: PathBuf,
    /// `<root>/bin` (`<root>\Scripts` on Windows): the interpreter and scripts.
    pub bin: PathBuf,
    /// `<root>/bin/python` (`<root>\Scripts\python.exe` on Windows).
    pub python: PathBuf,
    /// `<root>/lib/python3.X/site-packages` (`<root>\Lib\site-packages`).
    pub site_packages: PathBuf,
    /// `<root>/include` (`<root>\Include`): headers that packages install.
    pub include: PathBuf,
    /// Which platform's layout this is.
    pub platform: Platform,
}

/// The layout of the environment at `path` for the Python `version`
/// (`"3.12.1"` or `"3.12"`), on the platform this program runs on.
pub fn layout(path: &Path, version: &str) -> Layout {
    layout_for(Platform::CURRENT, path, version)
}

/// The layout of the environment at `path` for the Python `version`, on
/// `platform`.
pub fn layout_for(platform: Platform, path: &Path, version: &str) -> Layout {
    let root = path.to_path_buf();
    let bin = root.join(platform.bin_dir());
    let python = bin.join(platform.python_name());
    let (site_packages, include) = match platform {
        Platform::Unix => (
            root.join("lib")
                .join(format!("python{}", short_version(version)))
                .join("site-packages"),
            root.join("include"),
        ),
        Platform::Windows => (root.join("Lib").join("site-packages"), root.join("Include")),
    };
    Layout {
        root,
        bin,
        python,
        site_packages,
        include,
        platform,
    }
}

/// `"3.12.1"` -> `(3, 12)`; `None` when the string does not start with two
/// numbers.
pub fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    // "3.13.0rc1" and "3.14t" carry suffixes on later parts only.
    let minor_part = parts.next()?;
    let digits: String = minor_part
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, digits.parse().ok()?))
}

/// `"3.12.1"` -> `"3.12"`; a version that does not parse is used as given,
/// so the layout of a strange environment is still somewhere predictable.
pub fn short_version(version: &str) -> String {
    match major_minor(version) {
        Some((major, minor)) => format!("{major}.{minor}"),
        None => version.trim().to_string(),
    }
}

/// Where the base interpreter's installation keeps things, given the real
/// path of its executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseLayout {
    /// `sys.base_prefix`: the parent of `bin/` on POSIX, the folder of
    /// `python.exe` on Windows.
    pub prefix: PathBuf,
    /// The standard library: `<prefix>/lib/python3.X` or `<prefix>\Lib`.
    pub stdlib: PathBuf,
}

/// The base installation's layout, given the real path of its executable.
pub fn base_layout(platform: Platform, executable: &Path, short_version: &str) -> BaseLayout {
    let dir = executable.parent().unwrap_or(Path::new(""));
    match platform {
        Platform::Unix => {
            // `<prefix>/bin/python3.X`; an executable outside a `bin` folder
            // has its folder as the prefix, as CPython's getpath falls back to.
            let prefix = if dir.file_name().is_some_and(|n| n == "bin") {
                dir.parent().unwrap_or(dir).to_path_buf()
            } else {
                dir.to_path_buf()
            };
            let stdlib = prefix.join("lib").join(format!("python{short_version}"));
            BaseLayout { prefix, stdlib }
        }
        Platform::Windows => BaseLayout {
            prefix: dir.to_path_buf(),
            stdlib: dir.join("Lib"),
        },
    }
}

/// Folders that may hold the pip wheel a base installation bundles, best
/// first: `ensurepip/_bundled` in the standard library (python.org builds,
/// pyenv, python-build-standalone), then `<prefix>/share/python-wheels`,
/// where Debian and Ubuntu keep the wheels their patched `ensurepip` uses.
pub fn bundled_wheel_dirs(base: &BaseLayout) -> Vec<PathBuf> {
    vec![
        base.stdlib.join("ensurepip").join("_bundled"),
        base.prefix.join("share").join("python-wheels"),
    ]
}

/// One thing `create` makes. A plan is a list of these, in order; each is
/// made idempotently (left alone when it already matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A folder.
    Dir(PathBuf),
    /// A symbolic link at `path` whose content is `target` (relative targets
    /// are relative to the link's folder).
    Symlink { path: PathBuf, target: PathBuf },
    /// A copy of `from` (Windows, where links need privileges).
    Copy { path: PathBuf, from: PathBuf },
    /// A file with these contents; `executable` sets mode 0755 on Unix.
    File {
        path: PathBuf,
        contents: String,
        executable: bool,
    },
}

/// What `create` needs to know about the base interpreter, already
/// resolved.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The real path of the base executable.
    pub executable: &'a Path,
    /// The major and minor version.
    pub major_minor: (u64, u64),
    /// Whether to make `lib64 -> lib` (CPython does on 64-bit POSIX other
    /// than macOS).
    pub lib64: bool,
}

/// The folders and interpreter links of a new environment (not
/// `pyvenv.cfg` or the activation scripts, which have their own writers).
///
/// On Windows the interpreter is a copy of a launcher; `exists` tells which
/// of the base's candidate files exist, so that this stays pure.
pub fn plan(layout: &Layout, input: &PlanInput<'_>, exists: impl Fn(&Path) -> bool) -> Vec<Entry> {
    let (major, minor) = input.major_minor;
    let root = &layout.root;
    let mut entries = vec![Entry::Dir(layout.bin.clone())];
    match layout.platform {
        Platform::Unix => {
            entries.push(Entry::Dir(layout.site_packages.clone()));
            if input.lib64 {
                entries.push(Entry::Symlink {
                    path: root.join("lib64"),
                    target: PathBuf::from("lib"),
                });
            }
            entries.push(Entry::Dir(layout.include.clone()));
            // 3.11 made venv create `include/python3.X` (its `venv` sysconfig
            // scheme), where pip puts the headers that packages install.
            if (major, minor) >= (3, 11) {
                entries.push(Entry::Dir(
                    layout.include.join(format!("python{major}.{minor}")),
                ));
            }
            entries.push(Entry::Symlink {
                path: layout.python.clone(),
                target: input.executable.to_path_buf(),
            });
            // Relative, so they follow `python` if it is ever re-pointed.
            for name in [format!("python{major}"), format!("python{major}.{minor}")] {
                entries.push(Entry::Symlink {
                    path: layout.bin.join(name),
                    target: PathBuf::from("python"),
                });
            }
        }
        Platform::Windows => {
            entries.push(Entry::Dir(layout.site_packages.clone()));
            entries.push(Entry::Dir(layout.include.clone()));
            for (from, name) in windows_executables(input.executable, input.major_minor, exists) {
                entries.push(Entry::Copy {
                    path: layout.bin.join(name),
                    from,
                });
            }
        }
    }
    entries
}

/// Which files of a Windows base installation become `Scripts\python.exe`
/// and `Scripts\pythonw.exe`, in the order CPython's `venv` prefers them:
///
/// 1. 3.13+: `venvlauncher.exe` / `venvwlauncher.exe` beside `python.exe`;
/// 2. 3.7.2-3.12: `Lib\venv\scripts\nt\python.exe` / `pythonw.exe`, the
///    same launchers under their old names;
/// 3. older builds: copies of `python.exe`, `pythonw.exe` and the DLLs they
///    load (`python3*.dll`, `vcruntime140*.dll`) found beside them.
///
/// A launcher reads `home` from `pyvenv.cfg` and starts the base
/// interpreter, so nothing else needs copying in cases 1 and 2.
pub fn windows_executables(
    base_executable: &Path,
    (major, minor): (u64, u64),
    exists: impl Fn(&Path) -> bool,
) -> Vec<(PathBuf, String)> {
    let dir = base_executable.parent().unwrap_or(Path::new(""));
    let launcher = dir.join("venvlauncher.exe");
    if exists(&launcher) {
        let mut out = vec![(launcher, "python.exe".to_string())];
        let windowed = dir.join("venvwlauncher.exe");
        if exists(&windowed) {
            out.push((windowed, "pythonw.exe".to_string()));
        }
        return out;
    }
    let nt = dir.join("Lib").join("venv").join("scripts").join("nt");
    if exists(&nt.join("python.exe")) {
        let mut out = vec![(nt.join("python.exe"), "python.exe".to_string())];
        if exists(&nt.join("pythonw.exe")) {
            out.push((nt.join("pythonw.exe"), "pythonw.exe".to_string()));
        }
        return out;
    }
    let mut out = vec![(base_executable.to_path_buf(), "python.exe".to_string())];
    for name in [
        "pythonw.exe".to_string(),
        format!("python{major}{minor}.dll"),
        "python3.dll".to_string(),
        "vcruntime140.dll".to_string(),
        "vcruntime140_1.dll".to_string(),
    ] {
        if exists(&dir.join(&name)) {
            out.push((dir.join(&name), name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_layout() {
        let l = layout_for(Platform::Unix, Path::new("/envs/a"), "3.12.1");
        assert_eq!(l.bin, Path::new("/envs/a/bin"));
        assert_eq!(l.python, Path::new("/envs/a/bin/python"));
        assert_eq!(
            l.site_packages,
            Path::new("/envs/a/lib/python3.12/site-packages")
        );
        assert_eq!(l.include, Path::new("/envs/a/include"));
    }

    #[test]
    fn windows_layout() {
        let l = layout_for(Platform::Windows, Path::new(r"C:\envs\a"), "3.11.9");
        let bin = Path::new(r"C:\envs\a").join("Scripts");
        assert_eq!(l.bin, bin);
        assert_eq!(l.python, bin.join("python.exe"));
        assert_eq!(
            l.site_packages,
            Path::new(r"C:\envs\a").join("Lib").join("site-packages")
        );
        assert_eq!(l.include, Path::new(r"C:\envs\a").join("Include"));
    }

    #[test]
    fn versions() {
        assert_eq!(major_minor("3.12.1"), Some((3, 12)));
        assert_eq!(major_minor("3.13"), Some((3, 13)));
        assert_eq!(major_minor("3.14t"), Some((3, 14)));
        assert_eq!(major_minor("3"), None);
        assert_eq!(major_minor("x.y"), None);
        assert_eq!(short_version("3.8.18"), "3.8");
        assert_eq!(short_version("weird"), "weird");
    }

    #[test]
    fn base_layouts() {
        let b = base_layout(
            Platform::Unix,
            Path::new("/root/.pyenv/versions/3.12.1/bin/python3.12"),
            "3.12",
        );
        assert_eq!(b.prefix, Path::new("/root/.pyenv/versions/3.12.1"));
        assert_eq!(
            b.stdlib,
            Path::new("/root/.pyenv/versions/3.12.1/lib/python3.12")
        );
        assert_eq!(
            bundled_wheel_dirs(&b)[0],
            Path::new("/root/.pyenv/versions/3.12.1/lib/python3.12/ensurepip/_bundled")
        );
        let deb = base_layout(Platform::Unix, Path::new("/usr/bin/python3.11"), "3.11");
        assert_eq!(
            bundled_wheel_dirs(&deb)[1],
            Path::new("/usr/share/python-wheels")
        );

        let exe = Path::new(r"C:\Python312").join("python.exe");
        let w = base_layout(Platform::Windows, &exe, "3.12");
        assert_eq!(w.prefix, Path::new(r"C:\Python312"));
        assert_eq!(w.stdlib, Path::new(r"C:\Python312").join("Lib"));
    }

    #[test]
    fn unix_plan_matches_cpython_venv() {
        let l = layout_for(Platform::Unix, Path::new("/e"), "3.12.1");
        let exe = Path::new("/py/bin/python3.12");
        let entries = plan(
            &l,
            &PlanInput {
                executable: exe,
                major_minor: (3, 12),
                lib64: true,
            },
            |_| false,
        );
        assert!(entries.contains(&Entry::Symlink {
            path: "/e/bin/python".into(),
            target: exe.into()
        }));
        assert!(entries.contains(&Entry::Symlink {
            path: "/e/bin/python3.12".into(),
            target: "python".into()
        }));
        assert!(entries.contains(&Entry::Symlink {
            path: "/e/lib64".into(),
            target: "lib".into()
        }));
        assert!(entries.contains(&Entry::Dir("/e/include/python3.12".into())));

        let old = plan(
            &layout_for(Platform::Unix, Path::new("/e"), "3.8.18"),
            &PlanInput {
                executable: exe,
                major_minor: (3, 8),
                lib64: false,
            },
            |_| false,
        );
        assert!(
            !old.iter()
                .any(|e| matches!(e, Entry::Symlink { path, .. } if path.ends_with("lib64")))
        );
        assert!(!old.contains(&Entry::Dir("/e/include/python3.8".into())));
    }

    #[test]
    fn windows_plan_prefers_launchers() {
        let base = Path::new(r"C:\Py313").join("python.exe");
        let dir = Path::new(r"C:\Py313");
        let l = layout_for(Platform::Windows, Path::new(r"C:\e"), "3.13.0");
        let input = PlanInput {
            executable: &base,
            major_minor: (3, 13),
            lib64: false,
        };

        // 3.13: venvlauncher.exe beside python.exe.
        let entries = plan(&l, &input, |p| {
            p == dir.join("venvlauncher.exe") || p == dir.join("venvwlauncher.exe")
        });
        assert!(entries.contains(&Entry::Copy {
            path: l.bin.join("python.exe"),
            from: dir.join("venvlauncher.exe")
        }));
        assert!(entries.contains(&Entry::Copy {
            path: l.bin.join("pythonw.exe"),
            from: dir.join("venvwlauncher.exe")
        }));
        assert!(!entries.iter().any(|e| matches!(e, Entry::Symlink { .. })));
        assert!(entries.contains(&Entry::Dir(l.site_packages.clone())));

        // 3.7.2-3.12: Lib\venv\scripts\nt.
        let nt = dir.join("Lib").join("venv").join("scripts").join("nt");
        let exes = windows_executables(&base, (3, 12), |p| p.starts_with(&nt));
        assert_eq!(
            exes,
            vec![
                (nt.join("python.exe"), "python.exe".to_string()),
                (nt.join("pythonw.exe"), "pythonw.exe".to_string())
            ]
        );

        // Old builds: the interpreter itself and its DLLs.
        let exes = windows_executables(&base, (3, 6), |p| {
            p == dir.join("pythonw.exe") || p == dir.join("python36.dll")
        });
        assert_eq!(
            exes,
            vec![
                (base.clone(), "python.exe".to_string()),
                (dir.join("pythonw.exe"), "pythonw.exe".to_string()),
                (dir.join("python36.dll"), "python36.dll".to_string()),
            ]
        );
    }
}
