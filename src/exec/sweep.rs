//! What counts as our own debris: the one rule that `doctor` uses to find
//! it and the executor uses again, at the moment it moves it, to prove it
//! (a [`crate::plan::HomeAction::Sweep`] sets it aside through the journal;
//! the commit removes it).
//!
//! Debris is only ever what this program makes and then leaves when a
//! process dies at the wrong moment:
//!
//! | kind      | where                                    | proof                                           |
//! |-----------|------------------------------------------|-------------------------------------------------|
//! | staging   | `<home>/runtimes/.staging-*`             | the folder and its name                         |
//! | aside     | `<name>.beep-old-<8 hex>` (or `.beep-old-<8 hex>` inside a mount point) | a folder carrying our environment or runtime marker; a file aside of a re-point (`pyvenv.cfg`, `bin/python*`) inside a folder carrying our marker |
//! | snapshot  | `<name>.beep-old-<8 hex>.partial` (a restore point being made), `<name>.beep-bad-<8 hex>` (an environment being replaced by its restore point) | a folder carrying our environment marker, and no journal naming `<name>` |
//! | claim     | `.beep-python-claim` in a folder carrying our marker | its content is a run id                 |
//! | temporary | `<home>/.registry.*.tmp`, `<home>/.journal.json.*.tmp`, `<home>/health-reports/.*.tmp` | the name, in our home |
//!
//! Whatever the journal or a stuck entry names is never debris, whatever
//! its name: it is an undo waiting for its path (the user's old
//! environment, set aside). An aside without our marker is not proven
//! ours and is left alone (reported, never moved).

use std::path::{Path, PathBuf};

use crate::files::CLAIM_FILE;
use crate::provision::RUNTIME_MARKER;
use crate::registry::Home;
use crate::venv::MARKER_FILE;

/// What a piece of debris is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Debris {
    /// A runtime unpacked by an apply that never finished.
    Staging,
    /// A folder or file set aside by an apply whose clean-up never ran.
    Aside,
    /// A restore point half made, or an environment half replaced by its
    /// restore point, by an apply or a rollback that died.
    Snapshot,
    /// A claim file left after its run.
    Claim,
    /// A temporary file of an atomic write that never finished.
    Temporary,
}

impl Debris {
    /// For findings and plans: `a staging folder left by an interrupted apply`.
    pub fn describe(self) -> &'static str {
        match self {
            Debris::Staging => "a runtime staging folder left by an interrupted apply",
            Debris::Aside => "an aside left by an apply whose clean-up never ran",
            Debris::Snapshot => {
                "a half-made restore point or half-restored environment left by an interrupted apply or rollback"
            }
            Debris::Claim => "a claim file left by an earlier apply",
            Debris::Temporary => "a temporary file of a write that never finished",
        }
    }
}

/// Whether `name` ends with `.beep-old-` and eight hex digits (or is
/// `.beep-old-` and eight hex digits).
pub fn is_aside_name(name: &str) -> bool {
    name.rsplit_once(".beep-old-")
        .is_some_and(|(_, id)| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// For `<name>.beep-old-<8 hex>.partial` and `<name>.beep-bad-<8 hex>`:
/// `<name>`, the environment whose restore point it belongs to.
fn snapshot_of(name: &str) -> Option<&str> {
    let hex8 = |id: &str| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(snapshot) = name.strip_suffix(".partial")
        && is_aside_name(snapshot)
    {
        return snapshot
            .rsplit_once(".beep-old-")
            .map(|(original, _)| original);
    }
    name.rsplit_once(".beep-bad-")
        .filter(|(_, id)| hex8(id))
        .map(|(original, _)| original)
}

/// Whether `dir` holds our marker: at its root, or kept by a restore
/// point stored flat (`exec::restore`, found through its listing).
fn carries_marker(dir: &Path) -> bool {
    [MARKER_FILE, RUNTIME_MARKER].iter().any(|marker| {
        dir.join(marker).is_file() || super::restore::kept(dir, marker).is_some_and(|p| p.is_file())
    })
}

/// What the thing at `path` is, if it is our debris (see the module docs).
/// `named` is every path the journal and the stuck entries name.
pub fn classify(path: &Path, home: &Home, named: &[PathBuf]) -> Option<Debris> {
    if named.iter().any(|n| n == path) {
        return None;
    }
    let meta = fs_err::symlink_metadata(path).ok()?;
    let name = path.file_name()?.to_str()?;
    let parent = path.parent()?;
    if meta.is_dir() {
        if parent == home.runtimes_dir() && name.starts_with(".staging-") {
            return Some(Debris::Staging);
        }
        if is_aside_name(name) && carries_marker(path) {
            return Some(Debris::Aside);
        }
        if let Some(original) = snapshot_of(name)
            && !original.is_empty()
            && !named.iter().any(|n| n == &parent.join(original))
            && carries_marker(path)
        {
            return Some(Debris::Snapshot);
        }
        return None;
    }
    if name == CLAIM_FILE {
        let text = fs_err::read_to_string(path).ok()?;
        let is_run_id = uuid::Uuid::parse_str(text.trim()).is_ok();
        let ours = carries_marker(parent) || parent.parent() == Some(&home.runtimes_dir());
        return (is_run_id && ours).then_some(Debris::Claim);
    }
    if is_aside_name(name) {
        let original = name.rsplit_once(".beep-old-").map_or("", |(o, _)| o);
        let in_env_root = original == "pyvenv.cfg" && carries_marker(parent);
        let in_env_bin = original.starts_with("python")
            && parent
                .file_name()
                .is_some_and(|n| n == "bin" || n == "Scripts")
            && parent.parent().is_some_and(carries_marker);
        return (in_env_root || in_env_bin).then_some(Debris::Aside);
    }
    let temporary = name.starts_with('.') && name.ends_with(".tmp");
    let in_home = parent == home.root()
        && (name.starts_with(".registry.") || name.starts_with(".journal.json."));
    let in_reports = parent == home.root().join("health-reports");
    (temporary && (in_home || in_reports)).then_some(Debris::Temporary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_carries_our_marks_is_debris() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let runtimes = home.runtimes_dir();
        fs_err::create_dir_all(runtimes.join(".staging-x-y-1234abcd")).unwrap();
        fs_err::create_dir_all(runtimes.join("user-folder")).unwrap();
        let project = dir.path().join("p");
        let ours = project.join("env.beep-old-1234abcd");
        fs_err::create_dir_all(&ours).unwrap();
        fs_err::write(ours.join(MARKER_FILE), "{}").unwrap();
        let theirs = project.join("thesis.beep-old-1234abcd");
        fs_err::create_dir_all(&theirs).unwrap();
        let odd = project.join("env.beep-old-zz");
        fs_err::create_dir_all(&odd).unwrap();
        fs_err::write(odd.join(MARKER_FILE), "{}").unwrap();
        fs_err::write(home.root().join(".registry.abc.tmp"), "").unwrap();
        fs_err::write(home.root().join(".bashrc.tmp"), "").unwrap();

        let c = |p: &Path| classify(p, &home, &[]);
        assert_eq!(
            c(&runtimes.join(".staging-x-y-1234abcd")),
            Some(Debris::Staging)
        );
        assert_eq!(c(&runtimes.join("user-folder")), None);
        assert_eq!(c(&ours), Some(Debris::Aside));
        assert_eq!(c(&theirs), None, "no marker: not proven ours");
        assert_eq!(c(&odd), None, "not an aside name");
        assert_eq!(
            c(&home.root().join(".registry.abc.tmp")),
            Some(Debris::Temporary)
        );
        assert_eq!(c(&home.root().join(".bashrc.tmp")), None);
        // An undo waiting for its path is never debris.
        assert_eq!(classify(&ours, &home, std::slice::from_ref(&ours)), None);

        // Restore points half made or half put back: ours by their marker,
        // unless a journal still names their environment.
        for name in ["env.beep-old-1234abcd.partial", "env.beep-bad-1234abcd"] {
            let path = project.join(name);
            fs_err::create_dir_all(&path).unwrap();
            assert_eq!(c(&path), None, "{name}: no marker yet");
            fs_err::write(path.join(MARKER_FILE), "{}").unwrap();
            assert_eq!(c(&path), Some(Debris::Snapshot), "{name}");
            let named = [project.join("env")];
            assert_eq!(classify(&path, &home, &named), None, "{name}: named");
        }
        let odd = project.join("env.beep-bad-xyz");
        fs_err::create_dir_all(&odd).unwrap();
        fs_err::write(odd.join(MARKER_FILE), "{}").unwrap();
        assert_eq!(c(&odd), None, "not a run id");
    }
}
