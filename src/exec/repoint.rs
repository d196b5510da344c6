//! Re-pointing an environment whose base interpreter moved: what to
//! rewrite, computed here once for `doctor` (which decides whether it is
//! safe) and for the `repoint` step (which rewrites through the journal,
//! so that a rollback puts every old file back).
//!
//! A virtual environment names its base interpreter in two places only:
//! `pyvenv.cfg` (`home`, `executable`, and `command` when CPython's `venv`
//! wrote one) and the interpreter links in `bin/` (`python` is a link to
//! the base; `python3` and `python3.X` link to `python`, so they follow).
//! Scripts' shebangs name the environment's own `bin/python`, and
//! `site-packages` is the environment's, so nothing else changes when the
//! same implementation and version is elsewhere.

use std::path::{Path, PathBuf};

/// What a re-point rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrites {
    /// `pyvenv.cfg` with its new text.
    pub cfg: (PathBuf, String),
    /// Each link in `bin/` that points into the old base, with its new
    /// target.
    pub links: Vec<(PathBuf, PathBuf)>,
}

/// Why an environment cannot be re-pointed (it is rebuilt instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRepointable {
    #[error("`{}` is unreadable", .0.display())]
    Unreadable(PathBuf),
    #[error("`pyvenv.cfg` names no `home`")]
    NoHome,
    #[error("`{}` is a copy of the base interpreter, not a link to it", .0.display())]
    Copy(PathBuf),
    #[error("environments on this platform copy their interpreter")]
    Platform,
}

/// The rewrites that point the environment at `root` from the base
/// interpreter `from` (gone) to `to`.
pub fn rewrites(root: &Path, from: &Path, to: &Path) -> Result<Rewrites, NotRepointable> {
    if cfg!(windows) {
        return Err(NotRepointable::Platform);
    }
    let cfg_path = root.join("pyvenv.cfg");
    let text = fs_err::read_to_string(&cfg_path)
        .map_err(|_| NotRepointable::Unreadable(cfg_path.clone()))?;
    let old_home = from.parent().unwrap_or(Path::new("")).to_path_buf();
    let new_home = to.parent().unwrap_or(Path::new("")).to_path_buf();
    let (old_exe, new_exe) = (from.to_string_lossy(), to.to_string_lossy());
    let mut has_home = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let ending = &line[line.trim_end_matches(['\r', '\n']).len()..];
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().to_ascii_lowercase());
        match key.as_deref() {
            Some("home") => {
                has_home = true;
                out.push_str(&format!("home = {}{ending}", new_home.display()));
            }
            Some("executable") => out.push_str(&format!("executable = {new_exe}{ending}")),
            Some("command") => out.push_str(&line.replace(old_exe.as_ref(), &new_exe)),
            _ => out.push_str(line),
        }
    }
    if !has_home {
        return Err(NotRepointable::NoHome);
    }
    let bin = root.join("bin");
    let entries = fs_err::read_dir(&bin).map_err(|_| NotRepointable::Unreadable(bin.clone()))?;
    let mut links = Vec::new();
    let mut names: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let is_python = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("python"));
        let Ok(meta) = fs_err::symlink_metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_symlink() {
            // A `--copies` environment: its interpreter is a copy of the
            // old one, whose standard library it then cannot find.
            if is_python && meta.is_file() && !is_script(&path) {
                return Err(NotRepointable::Copy(path));
            }
            continue;
        }
        let Ok(target) = fs_err::read_link(&path) else {
            continue;
        };
        let absolute = if target.is_absolute() {
            target.clone()
        } else {
            bin.join(&target)
        };
        let new_target = if absolute == from {
            Some(to.to_path_buf())
        } else {
            absolute
                .strip_prefix(&old_home)
                .ok()
                .map(|rest| new_home.join(rest))
        };
        if let Some(new_target) = new_target {
            links.push((path, new_target));
        }
    }
    Ok(Rewrites {
        cfg: (cfg_path, out),
        links,
    })
}

/// A text file starting with `#!` (an entry point named `python-lsp`).
fn is_script(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    fs_err::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"#!")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn cfg_lines_and_links_into_the_old_base_are_rewritten_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        fs_err::create_dir_all(env.join("bin")).unwrap();
        fs_err::write(
            env.join("pyvenv.cfg"),
            "home = /old/bin\ninclude-system-site-packages = false\nversion = 3.11.2\nexecutable = /old/bin/python3.11\ncommand = /old/bin/python3.11 -m venv /e\nprompt = x\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/old/bin/python3.11", env.join("bin/python")).unwrap();
        std::os::unix::fs::symlink("python", env.join("bin/python3")).unwrap();
        fs_err::write(env.join("bin/pip"), "#!/e/bin/python\n").unwrap();
        let r = rewrites(
            &env,
            Path::new("/old/bin/python3.11"),
            Path::new("/new/bin/python3.11"),
        )
        .unwrap();
        assert_eq!(
            r.cfg.1,
            "home = /new/bin\ninclude-system-site-packages = false\nversion = 3.11.2\nexecutable = /new/bin/python3.11\ncommand = /new/bin/python3.11 -m venv /e\nprompt = x\n"
        );
        assert_eq!(
            r.links,
            vec![(env.join("bin/python"), PathBuf::from("/new/bin/python3.11"))]
        );
        // A copied interpreter cannot be re-pointed.
        fs_err::remove_file(env.join("bin/python")).unwrap();
        fs_err::write(env.join("bin/python"), b"\x7fELF").unwrap();
        assert!(matches!(
            rewrites(
                &env,
                Path::new("/old/bin/python3.11"),
                Path::new("/n/python3.11")
            ),
            Err(NotRepointable::Copy(_))
        ));
    }
}
