//! Checking entry names and symlink targets, before anything touches the
//! disk. Pure functions: they see only the bytes the archive gives.
//!
//! A name is accepted only as a list of plain components separated by `/`
//! (empty and `.` components dropped), so that joining it to the staging
//! folder can only go down, whatever the platform's path rules.

/// The components of the entry name `raw`, or why it is unsafe.
pub(crate) fn normalize(raw: &[u8]) -> Result<Vec<&str>, String> {
    let name = std::str::from_utf8(raw).map_err(|_| "its name is not UTF-8".to_string())?;
    if name.contains('\0') {
        return Err("its name contains NUL".into());
    }
    // On Windows a backslash separates folders (and `\\server\share` is
    // absolute); refusing it everywhere keeps one rule on every platform.
    if name.contains('\\') {
        return Err("its name contains a backslash".into());
    }
    if name.starts_with('/') {
        return Err("it is an absolute path".into());
    }
    let mut components = Vec::new();
    for (i, component) in name.split('/').enumerate() {
        match component {
            "" | "." => {}
            ".." => return Err("it has a `..` component".into()),
            _ if i == 0 && is_drive(component) => {
                return Err("it is an absolute path (a drive)".into());
            }
            _ => {
                check_component(component)?;
                components.push(component);
            }
        }
    }
    Ok(components)
}

/// `C:`, which makes the rest of a Windows path absolute (or relative to
/// that drive's current folder: outside the root either way).
fn is_drive(component: &str) -> bool {
    let bytes = component.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// Names that Windows would not store as a plain file: a `:` opens an
/// alternate data stream, and `CON`, `NUL`, ... are devices in every folder.
#[cfg(windows)]
fn check_component(component: &str) -> Result<(), String> {
    if component.contains(':') {
        return Err("its name contains `:`".into());
    }
    if component.ends_with('.') || component.ends_with(' ') {
        return Err("a component ends with `.` or a space".into());
    }
    let stem = component
        .split('.')
        .next()
        .unwrap_or(component)
        .trim_end()
        .to_ascii_uppercase();
    let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes().get(3).is_some_and(u8::is_ascii_digit));
    if device {
        return Err(format!("`{component}` is a device name on Windows"));
    }
    Ok(())
}

#[cfg(not(windows))]
fn check_component(_component: &str) -> Result<(), String> {
    Ok(())
}

/// The components of the symlink target `raw` for a link whose folder is
/// `depth` components below the root, or why it is refused.
///
/// Accepted targets are relative and go up (`..`) only at their start, no
/// higher than the root: `python3.11`, `../lib/libpython3.so`. A `..` after
/// a name (`a/../..`) is refused even when it looks harmless, because `a`
/// may itself be a symlink (made earlier or later by the same archive), and
/// then the kernel's `..` is not the lexical one. With that rule, every link
/// resolves inside the root by induction: it starts from its own folder (a
/// real folder, checked when the link was made), climbs no higher than the
/// root, then only goes down, through folders or links that stay inside.
pub(super) fn check_link_target(raw: &[u8], depth: usize) -> Result<Vec<&str>, String> {
    let target = std::str::from_utf8(raw).map_err(|_| "its target is not UTF-8".to_string())?;
    if target.is_empty() {
        return Err("it is a symlink with an empty target".into());
    }
    if target.contains('\0') {
        return Err("its target contains NUL".into());
    }
    if target.contains('\\') {
        return Err(format!("its target `{target}` contains a backslash"));
    }
    if target.starts_with('/') {
        return Err(format!("it is a symlink to the absolute path `{target}`"));
    }
    let mut ups = 0;
    let mut components = Vec::new();
    for (i, component) in target.split('/').enumerate() {
        match component {
            "" | "." => {}
            // Still climbing: only `..`s so far.
            ".." if components.iter().all(|c| *c == "..") => {
                ups += 1;
                if ups > depth {
                    return Err(format!(
                        "it is a symlink to `{target}`, which points outside the archive's root"
                    ));
                }
                components.push(component);
            }
            ".." => {
                return Err(format!(
                    "it is a symlink to `{target}`, which has `..` after a folder name"
                ));
            }
            _ if i == 0 && is_drive(component) => {
                return Err(format!("it is a symlink to the absolute path `{target}`"));
            }
            _ => {
                check_component(component)?;
                components.push(component);
            }
        }
    }
    Ok(components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_may_climb_several_levels_at_their_start() {
        assert_eq!(
            check_link_target(b"../../x86_64-linux-gnu/libpython3.11.so.1", 3).unwrap(),
            ["..", "..", "x86_64-linux-gnu", "libpython3.11.so.1"]
        );
        assert!(check_link_target(b"../../../x", 2).is_err());
        assert!(check_link_target(b"../a/../x", 3).is_err());
    }

    #[test]
    fn plain_names_are_split_into_components() {
        assert_eq!(
            normalize(b"python/bin/python3").unwrap(),
            ["python", "bin", "python3"]
        );
        assert_eq!(normalize(b"./python//lib/").unwrap(), ["python", "lib"]);
        assert!(normalize(b"./").unwrap().is_empty());
    }

    #[test]
    fn escaping_names_are_refused() {
        for bad in [
            &b"../evil"[..],
            b"/abs/evil",
            b"python/../../evil",
            b"a/..",
            b"C:\\evil",
            b"C:/evil",
            b"c:evil",
            b"\\\\server\\share\\evil",
            b"a\\..\\..\\evil",
            b"a\0b",
            b"\xff\xfe",
        ] {
            assert!(normalize(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn link_targets_may_climb_only_to_the_root() {
        assert_eq!(check_link_target(b"python3.11", 0).unwrap(), ["python3.11"]);
        assert!(check_link_target(b"../lib/x", 1).is_ok());
        assert!(check_link_target(b"./x", 0).is_ok());
        assert!(check_link_target(b"../x", 0).is_err());
        assert!(check_link_target(b"../../x", 1).is_err());
        assert!(check_link_target(b"/etc/passwd", 3).is_err());
        assert!(check_link_target(b"a/../x", 3).is_err());
        assert!(check_link_target(b"C:/x", 3).is_err());
        assert!(check_link_target(b"..\\x", 3).is_err());
        assert!(check_link_target(b"", 3).is_err());
    }
}
