//! The configure step of a Windows embeddable runtime (`source =
//! "embeddable"`).
//!
//! python.org publishes, for every Windows release, an "embeddable package"
//! (`python-3.11.9-embed-amd64.zip`): a minimal interpreter meant to be
//! shipped inside an application. It unpacks flat, with no installer and no
//! registry keys: `python.exe`, `pythonw.exe`, `python311.dll`, the standard
//! library as `python311.zip`, the extension modules (`*.pyd`, `*.dll`) and
//! `python311._pth`.
//!
//! The `._pth` file replaces the usual `sys.path` computation: each line is a
//! path relative to the file, `#` starts a comment, and the line `import
//! site` enables the `site` module. As shipped, that line is commented out,
//! so the interpreter has no site-packages, ignores `.pth` files and cannot
//! run pip or host a venv. [`configure`] makes it usable:
//!
//! - `#import site` (or `# import site`) is uncommented; if there is no such
//!   line, `import site` is added at the end;
//! - `Lib\site-packages` is added as a path line before `import site`, unless
//!   a line already names it (compared ignoring case, with `/` and `\` alike).
//!   `site` would find that folder through `sys.prefix` anyway; listing it
//!   also keeps it on `sys.path` under `python -S`, and says in the file
//!   itself where packages go;
//! - the folder `Lib\site-packages` ([`Layout::site_packages`]) is created:
//!   pip is unpacked there from its wheel by a later step.
//!
//! Invariants:
//!
//! - [`patch_pth`] is pure and idempotent: patching patched text returns it
//!   byte for byte, so a second `apply` rewrites nothing.
//! - No line of the file is ever deleted or reordered: comments and paths the
//!   user added stay, lines are only uncommented or inserted. Each line keeps
//!   its own line ending (the shipped file uses CRLF), inserted lines use the
//!   file's, and the file ends with a line ending.
//! - The `._pth` is written only if its contents change, through a temporary
//!   file in the same folder renamed over it, never truncated in place.
//! - An unpacked folder without `python.exe` or the version's `._pth` is
//!   refused: it is not an embeddable package (a NuGet package or a
//!   standalone build has neither), and guessing would make an interpreter
//!   that silently ignores its packages.
//!
//! Everything here is pure or plain file I/O, so it is tested on every host.
//! beep-python itself refuses `source = "embeddable"` at plan time on a
//! non-Windows host, since the interpreter could not run there.

use std::io;
use std::path::{Path, PathBuf};

/// The `import site` line that enables the `site` module.
const IMPORT_SITE: &str = "import site";

/// The path line added to the `._pth`, relative to the runtime root. Written
/// with a backslash, as the shipped file's Windows paths would be.
const SITE_PACKAGES_LINE: &str = "Lib\\site-packages";

/// The `._pth` file name for a version: `"3.11.9"` -> `"python311._pth"`.
///
/// Takes `X.Y` or `X.Y.Z`, with an optional pre-release tag on the last part
/// (`3.14.0rc1`: python.org ships embeddable packages of pre-releases too).
/// `None` for anything else.
pub fn pth_name(version: &str) -> Option<String> {
    let version = Version::parse(version)?;
    Some(format!("python{}{}._pth", version.major, version.minor))
}

/// The contents of a `._pth` file patched to enable `site` and list
/// `Lib\site-packages` (see the module documentation). Pure and idempotent;
/// no line is removed.
pub fn patch_pth(text: &str) -> String {
    // A BOM is not part of the first line: keep it, and look past it.
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let mut lines: Vec<Line<'_>> = body.split_inclusive('\n').map(Line::split).collect();
    let eol = lines
        .iter()
        .map(|line| line.ending)
        .find(|ending| !ending.is_empty())
        // A file without any line ending: use the shipped file's.
        .unwrap_or("\r\n");
    if let Some(last) = lines.last_mut()
        && last.ending.is_empty()
    {
        last.ending = eol;
    }

    let import_at = match lines.iter().position(|l| l.kind() == Kind::ImportSite) {
        Some(i) => i,
        None => match lines
            .iter()
            .position(|l| l.kind() == Kind::CommentedImportSite)
        {
            Some(i) => {
                lines[i].content = IMPORT_SITE.into();
                i
            }
            None => {
                lines.push(Line::new(IMPORT_SITE, eol));
                lines.len() - 1
            }
        },
    };

    if !lines.iter().any(|l| l.kind() == Kind::SitePackages) {
        // After the last path before `import site`, so that the new path
        // joins the others instead of splitting `import site` from the
        // comment above it in the shipped file.
        let at = lines[..import_at]
            .iter()
            .rposition(|l| matches!(l.kind(), Kind::Path | Kind::SitePackages))
            .map_or(import_at, |i| i + 1);
        lines.insert(at, Line::new(SITE_PACKAGES_LINE, eol));
    }

    let mut out = String::with_capacity(text.len() + 32);
    out.push_str(bom);
    for line in &lines {
        out.push_str(&line.content);
        out.push_str(line.ending);
    }
    out
}

/// Where the parts of an unpacked embeddable runtime are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The folder the archive was unpacked into.
    pub root: PathBuf,
    /// `root\python.exe`: the interpreter venvs are made from.
    pub python: PathBuf,
    /// `root\pythonXY._pth`: the file that fixes `sys.path`.
    pub pth: PathBuf,
    /// `root\Lib\site-packages`: where pip's wheel, and any package installed
    /// into the runtime itself, is unpacked.
    pub site_packages: PathBuf,
}

/// The layout of an embeddable runtime of `version` unpacked at `root`;
/// `None` if `version` is not one [`pth_name`] takes.
pub fn layout(root: &Path, version: &str) -> Option<Layout> {
    let pth = pth_name(version)?;
    Some(Layout {
        root: root.to_path_buf(),
        python: root.join("python.exe"),
        pth: root.join(pth),
        site_packages: root.join("Lib").join("site-packages"),
    })
}

/// Configures the embeddable runtime of `version` unpacked at `root`:
/// checks that it is one, creates `Lib\site-packages`, and patches the
/// `._pth` (see the module documentation). Idempotent: on a configured root
/// it writes nothing.
pub fn configure(root: &Path, version: &str) -> Result<Layout, EmbeddableError> {
    let layout = layout(root, version).ok_or_else(|| EmbeddableError::BadVersion {
        version: version.to_owned(),
    })?;
    // A missing root is an I/O error naming it, not "python.exe is missing".
    if !fs_err::metadata(root)?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("`{}` is not a folder", root.display()),
        )
        .into());
    }

    let mut missing = Vec::new();
    for path in [&layout.python, &layout.pth] {
        if !is_file(path)? {
            missing.push(file_name(path));
        }
    }
    if !missing.is_empty() {
        let pth = file_name(&layout.pth);
        if missing.contains(&pth)
            && let Some(found) = other_pth(root, &pth)?
        {
            return Err(EmbeddableError::OtherVersion {
                root: root.to_path_buf(),
                version: version.to_owned(),
                expected: pth,
                found,
            });
        }
        return Err(EmbeddableError::NotEmbeddable {
            root: root.to_path_buf(),
            missing,
        });
    }

    // The folder first: once the `._pth` names it, it exists.
    fs_err::create_dir_all(&layout.site_packages)?;
    let text = fs_err::read_to_string(&layout.pth)?;
    let patched = patch_pth(&text);
    if patched != text {
        // Durable, and `0o644` like the shipped file.
        crate::venv::write_atomic(&layout.pth, patched.as_bytes(), false, true)?;
    }
    Ok(layout)
}

/// The python.org download URL of the embeddable package of `version` for
/// `arch` (`x86_64`, `aarch64` or `x86`, as Rust names them):
/// `https://www.python.org/ftp/python/3.11.9/python-3.11.9-embed-amd64.zip`.
///
/// Only an exact final release `X.Y.Z` has such a URL (pre-releases live in
/// their final release's folder under another name); `None` otherwise, and
/// for any other architecture.
pub fn default_url(version: &str, arch: &str) -> Option<String> {
    let parsed = Version::parse(version)?;
    if parsed.patch.is_none() || parsed.pre {
        return None;
    }
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "win32",
        _ => return None,
    };
    Some(format!(
        "https://www.python.org/ftp/python/{version}/python-{version}-embed-{arch}.zip"
    ))
}

/// Why an unpacked embeddable runtime could not be configured.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EmbeddableError {
    /// Reading or writing the runtime's files failed; the message names the
    /// path.
    #[error(transparent)]
    #[diagnostic(code("embeddable::io"))]
    Io(#[from] io::Error),

    /// The runtime's version has no `pythonXY._pth` name.
    #[error("`{version}` is not a Python version (expected `3.X.Y`)")]
    #[diagnostic(
        code("embeddable::bad-version"),
        help("give the runtime an exact version, such as `3.11.9`")
    )]
    BadVersion { version: String },

    /// The unpacked archive lacks `python.exe` or the `._pth` file.
    #[error(
        "`{}` is not a Windows embeddable package: {} missing",
        root.display(),
        missing_phrase(missing)
    )]
    #[diagnostic(
        code("embeddable::not-embeddable"),
        help(
            "`source = \"embeddable\"` takes python.org's `python-X.Y.Z-embed-<arch>.zip`; check the runtime's `url`"
        )
    )]
    NotEmbeddable {
        root: PathBuf,
        /// The file names that are missing.
        missing: Vec<String>,
    },

    /// The archive is an embeddable package, but of another Python version.
    #[error(
        "`{}` holds the embeddable package of another version: it has `{found}`, not `{expected}` for {version}",
        root.display()
    )]
    #[diagnostic(
        code("embeddable::other-version"),
        help("make the runtime's `version` match the archive its `url` names")
    )]
    OtherVersion {
        root: PathBuf,
        version: String,
        expected: String,
        found: String,
    },
}

/// `` `a` is `` or `` `a` and `b` are ``.
fn missing_phrase(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    let verb = if quoted.len() == 1 { "is" } else { "are" };
    format!("{} {verb}", quoted.join(" and "))
}

/// A parsed `X.Y[.Z][pre]` version; only what this module needs.
struct Version {
    major: u32,
    minor: u32,
    patch: Option<u32>,
    /// A pre-release tag (`a1`, `b2`, `rc1`) follows the last number.
    pre: bool,
}

impl Version {
    fn parse(version: &str) -> Option<Version> {
        let mut parts = version.split('.');
        let major = number(parts.next()?)?;
        let second = parts.next()?;
        let third = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let (minor, patch, tag) = match third {
            None => {
                let (minor, tag) = split_pre(second);
                (number(minor)?, None, tag)
            }
            Some(third) => {
                let (patch, tag) = split_pre(third);
                (number(second)?, Some(number(patch)?), tag)
            }
        };
        let pre = match tag {
            "" => false,
            tag => {
                let digits = ["rc", "a", "b"]
                    .iter()
                    .find_map(|kind| tag.strip_prefix(kind))?;
                number(digits)?;
                true
            }
        };
        Some(Version {
            major,
            minor,
            patch,
            pre,
        })
    }
}

/// A decimal number without sign or leading zero.
fn number(s: &str) -> Option<u32> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// `"0rc1"` -> `("0", "rc1")`.
fn split_pre(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// One line of a `._pth` file: its text and its own line ending (`"\r\n"`,
/// `"\n"`, or `""` for a last line without one).
struct Line<'a> {
    content: std::borrow::Cow<'a, str>,
    ending: &'a str,
}

/// What a `._pth` line means to the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Blank, or only a comment.
    Blank,
    /// `import site`: `site` is enabled.
    ImportSite,
    /// `#import site`, `# import site`: the line to uncomment.
    CommentedImportSite,
    /// A path naming `Lib\site-packages`.
    SitePackages,
    /// Any other path.
    Path,
    /// Another `import` line, which the interpreter warns about and ignores.
    OtherImport,
}

impl<'a> Line<'a> {
    fn new(content: &'static str, ending: &'a str) -> Line<'a> {
        Line {
            content: content.into(),
            ending,
        }
    }

    fn split(piece: &'a str) -> Line<'a> {
        let content = piece.strip_suffix('\n').unwrap_or(piece);
        let content = content.strip_suffix('\r').unwrap_or(content);
        Line {
            content: content.into(),
            ending: &piece[content.len()..],
        }
    }

    fn kind(&self) -> Kind {
        let effective = meaning(&self.content);
        if effective.is_empty() {
            let commented = self
                .content
                .trim_start()
                .strip_prefix('#')
                .is_some_and(|rest| meaning(rest) == IMPORT_SITE);
            return if commented {
                Kind::CommentedImportSite
            } else {
                Kind::Blank
            };
        }
        if effective == IMPORT_SITE {
            Kind::ImportSite
        } else if effective.starts_with("import ") {
            Kind::OtherImport
        } else if names_site_packages(effective) {
            Kind::SitePackages
        } else {
            Kind::Path
        }
    }
}

/// What CPython's `getpath` reads from a `._pth` line: the text before any
/// `#`, trimmed (3.11 and later; earlier versions read lines less leniently,
/// but the lines this module writes mean the same to all of them).
fn meaning(line: &str) -> &str {
    line.split('#').next().unwrap_or_default().trim()
}

/// Whether a path line names `Lib\site-packages` (relative to the `._pth`),
/// as Windows would resolve it: any case, `/` or `\`, with or without a
/// leading `.\` or a trailing separator.
fn names_site_packages(path: &str) -> bool {
    let path = path.replace('/', "\\").to_ascii_lowercase();
    let mut path = path.as_str();
    while let Some(rest) = path.strip_prefix(".\\") {
        path = rest.trim_start_matches('\\');
    }
    path.trim_end_matches('\\') == "lib\\site-packages"
}

/// Whether `path` is a file; `false` if it does not exist.
fn is_file(path: &Path) -> io::Result<bool> {
    match fs_err::metadata(path) {
        Ok(meta) => Ok(meta.is_file()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Another `pythonXY._pth` in `root` than `expected`, if there is one: the
/// sign of an archive of another version.
fn other_pth(root: &Path, expected: &str) -> io::Result<Option<String>> {
    let mut found = Vec::new();
    for entry in fs_err::read_dir(root)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let lower = name.to_ascii_lowercase();
        if lower != expected && lower.starts_with("python") && lower.ends_with("._pth") {
            found.push(name);
        }
    }
    // `read_dir` order varies; report the same name every time.
    found.sort();
    Ok(found.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// `python311._pth` as python.org ships it in `python-3.11.9-embed-amd64.zip`.
    const SHIPPED: &str = "python311.zip\r\n.\r\n\r\n# Uncomment to run site.main() automatically\r\n#import site\r\n";

    const SHIPPED_PATCHED: &str = "python311.zip\r\n.\r\nLib\\site-packages\r\n\r\n# Uncomment to run site.main() automatically\r\nimport site\r\n";

    #[track_caller]
    fn assert_idempotent(patched: &str) {
        assert_eq!(
            patch_pth(patched),
            patched,
            "patching twice changed the text"
        );
    }

    #[test]
    fn patch_pth_shipped_crlf_text_enables_site_and_keeps_crlf() {
        let patched = patch_pth(SHIPPED);
        assert_eq!(patched, SHIPPED_PATCHED);
        assert_idempotent(&patched);
    }

    #[test]
    fn patch_pth_lf_text_keeps_lf() {
        let lf = SHIPPED.replace("\r\n", "\n");
        let patched = patch_pth(&lf);
        assert_eq!(patched, SHIPPED_PATCHED.replace("\r\n", "\n"));
        assert!(!patched.contains('\r'));
        assert_idempotent(&patched);
    }

    #[test]
    fn patch_pth_already_patched_text_is_byte_identical() {
        assert_eq!(patch_pth(SHIPPED_PATCHED), SHIPPED_PATCHED);
        // Patched by hand, in another order: still nothing to do.
        let by_hand = "python311.zip\r\n.\r\nimport site\r\nlib/site-packages\r\n";
        assert_eq!(patch_pth(by_hand), by_hand);
    }

    #[test]
    fn patch_pth_uncomments_import_site_with_spaces() {
        let text = "python311.zip\n.\n#  import site  \n";
        assert_eq!(
            patch_pth(text),
            "python311.zip\n.\nLib\\site-packages\nimport site\n"
        );
        let text = "python311.zip\n.\n  # import site\n";
        assert_eq!(
            patch_pth(text),
            "python311.zip\n.\nLib\\site-packages\nimport site\n"
        );
    }

    #[test]
    fn patch_pth_uncomments_only_the_first_commented_import() {
        let text = "python311.zip\n#import site\n#import site\n";
        let patched = patch_pth(text);
        assert_eq!(
            patched,
            "python311.zip\nLib\\site-packages\nimport site\n#import site\n"
        );
        assert_idempotent(&patched);
    }

    #[test]
    fn patch_pth_without_import_line_appends_one() {
        let text = "python311.zip\r\n.\r\n";
        let patched = patch_pth(text);
        assert_eq!(
            patched,
            "python311.zip\r\n.\r\nLib\\site-packages\r\nimport site\r\n"
        );
        assert_idempotent(&patched);
    }

    #[test]
    fn patch_pth_adds_missing_trailing_newline() {
        let text = "python311.zip\r\n.\r\n#import site";
        let patched = patch_pth(text);
        assert_eq!(
            patched,
            "python311.zip\r\n.\r\nLib\\site-packages\r\nimport site\r\n"
        );
        assert_idempotent(&patched);
    }

    #[test]
    fn patch_pth_empty_text_gets_crlf_lines() {
        let patched = patch_pth("");
        assert_eq!(patched, "Lib\\site-packages\r\nimport site\r\n");
        assert_idempotent(&patched);
    }

    #[test]
    fn patch_pth_keeps_user_paths_and_comments() {
        let text = "python311.zip\r\n.\r\n# our app\r\n..\\app\r\n\r\n# Uncomment to run site.main() automatically\r\n#import site\r\n# trailing note\r\n";
        let patched = patch_pth(text);
        assert_eq!(
            patched,
            "python311.zip\r\n.\r\n# our app\r\n..\\app\r\nLib\\site-packages\r\n\r\n# Uncomment to run site.main() automatically\r\nimport site\r\n# trailing note\r\n"
        );
        assert_idempotent(&patched);
    }

    #[test]
    fn patch_pth_keeps_mixed_line_endings_per_line() {
        let text = "python311.zip\n.\r\n#import site\r\n";
        let patched = patch_pth(text);
        // The first ending found (`\n`) is the one inserted lines get.
        assert_eq!(
            patched,
            "python311.zip\n.\r\nLib\\site-packages\nimport site\r\n"
        );
        assert_idempotent(&patched);
    }

    #[test]
    fn patch_pth_site_packages_in_another_case_or_slash_is_not_added_again() {
        for spelling in [
            "lib/site-packages",
            "LIB\\SITE-PACKAGES",
            "Lib/Site-Packages/",
            ".\\Lib\\site-packages",
            "./lib/site-packages  # ours",
        ] {
            let text = format!("python311.zip\r\n.\r\n{spelling}\r\n#import site\r\n");
            let patched = patch_pth(&text);
            assert_eq!(
                patched,
                format!("python311.zip\r\n.\r\n{spelling}\r\nimport site\r\n"),
                "spelling {spelling:?}"
            );
            assert_idempotent(&patched);
        }
    }

    #[test]
    fn patch_pth_commented_site_packages_does_not_count() {
        let text = "python311.zip\n#Lib\\site-packages\nimport site\n";
        assert_eq!(
            patch_pth(text),
            "python311.zip\nLib\\site-packages\n#Lib\\site-packages\nimport site\n"
        );
    }

    #[test]
    fn patch_pth_import_site_with_inline_comment_is_active() {
        let text = "python311.zip\nLib\\site-packages\nimport site # enabled by hand\n";
        assert_eq!(patch_pth(text), text);
    }

    #[test]
    fn patch_pth_keeps_bom() {
        let text = "\u{feff}#import site\n";
        let patched = patch_pth(text);
        assert_eq!(patched, "\u{feff}Lib\\site-packages\nimport site\n");
        assert_idempotent(&patched);
    }

    #[test]
    fn pth_name_uses_major_and_minor() {
        assert_eq!(pth_name("3.8.10").as_deref(), Some("python38._pth"));
        assert_eq!(pth_name("3.11.9").as_deref(), Some("python311._pth"));
        assert_eq!(pth_name("3.13.0").as_deref(), Some("python313._pth"));
        assert_eq!(pth_name("3.12").as_deref(), Some("python312._pth"));
        assert_eq!(pth_name("3.14.0rc1").as_deref(), Some("python314._pth"));
        assert_eq!(pth_name("3.14.0a7").as_deref(), Some("python314._pth"));
    }

    #[test]
    fn pth_name_rejects_bad_versions() {
        for bad in [
            "",
            "3",
            "3.",
            ".11",
            "3.11.",
            "3..9",
            "3.11.9.1",
            "v3.11.9",
            " 3.11.9",
            "3.11.x",
            "3.11.9-1",
            "3.011.9",
            "3.11.9rc",
            "3.11.9dev1",
            "3.11.*",
            "+3.11.9",
            "３.11.9",
        ] {
            assert_eq!(pth_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn default_url_maps_rust_arch_to_python_org_names() {
        assert_eq!(
            default_url("3.11.9", "x86_64").as_deref(),
            Some("https://www.python.org/ftp/python/3.11.9/python-3.11.9-embed-amd64.zip")
        );
        assert_eq!(
            default_url("3.13.0", "aarch64").as_deref(),
            Some("https://www.python.org/ftp/python/3.13.0/python-3.13.0-embed-arm64.zip")
        );
        assert_eq!(
            default_url("3.8.10", "x86").as_deref(),
            Some("https://www.python.org/ftp/python/3.8.10/python-3.8.10-embed-win32.zip")
        );
    }

    #[test]
    fn default_url_needs_exact_version_and_known_arch() {
        assert_eq!(default_url("3.11", "x86_64"), None);
        assert_eq!(default_url("3.14.0rc1", "x86_64"), None);
        assert_eq!(default_url("3.11.9.1", "x86_64"), None);
        assert_eq!(default_url("latest", "x86_64"), None);
        assert_eq!(default_url("3.11.9", "riscv64"), None);
        assert_eq!(default_url("3.11.9", "amd64"), None);
        assert_eq!(default_url("3.11.9", ""), None);
    }

    #[test]
    fn layout_names_the_parts() {
        let root = Path::new("runtimes").join("py");
        let layout = layout(&root, "3.11.9").unwrap();
        assert_eq!(layout.root, root);
        assert_eq!(layout.python, root.join("python.exe"));
        assert_eq!(layout.pth, root.join("python311._pth"));
        assert_eq!(layout.site_packages, root.join("Lib").join("site-packages"));
        assert_eq!(super::layout(&root, "3.11.x"), None);
    }

    /// A zip shaped like python.org's embeddable package of 3.11.9.
    fn embeddable_zip(path: &Path) {
        use zip::ZipWriter;
        use zip::write::SimpleFileOptions;

        let mut writer = ZipWriter::new(fs_err::File::create(path).unwrap());
        for (name, data) in [
            ("python.exe", b"MZ\x90\x00 not really python".as_slice()),
            ("pythonw.exe", b"MZ\x90\x00 not really pythonw"),
            ("python311.dll", b"MZ\x90\x00 not really a dll"),
            (
                "python311.zip",
                b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            ),
            ("python311._pth", SHIPPED.as_bytes()),
        ] {
            writer
                .start_file(name, SimpleFileOptions::default())
                .unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap();
    }

    #[test]
    fn configure_unpacked_embeddable_zip_then_again_changes_nothing() {
        let temp = tempfile::tempdir().unwrap();
        let zip_path = temp.path().join("python-3.11.9-embed-amd64.zip");
        embeddable_zip(&zip_path);
        let dest = temp.path().join("runtime");
        fs_err::create_dir(&dest).unwrap();
        crate::archive::extract(
            &zip_path,
            crate::archive::Format::Zip,
            &dest,
            None,
            &crate::archive::Limits::default(),
        )
        .unwrap();

        let layout = configure(&dest, "3.11.9").unwrap();
        assert_eq!(layout, super::layout(&dest, "3.11.9").unwrap());
        assert_eq!(
            fs_err::read_to_string(&layout.pth).unwrap(),
            SHIPPED_PATCHED
        );
        assert!(layout.site_packages.is_dir());
        assert!(dest.join("Lib").join("site-packages").is_dir());
        assert_eq!(
            fs_err::read(&layout.python).unwrap(),
            b"MZ\x90\x00 not really python"
        );

        let listing = |dir: &Path| {
            let mut names: Vec<_> = fs_err::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            names
        };
        let before = fs_err::metadata(&layout.pth).unwrap();
        let files_before = listing(&dest);

        assert_eq!(configure(&dest, "3.11.9").unwrap(), layout);

        let after = fs_err::metadata(&layout.pth).unwrap();
        assert_eq!(
            fs_err::read_to_string(&layout.pth).unwrap(),
            SHIPPED_PATCHED
        );
        assert_eq!(after.modified().unwrap(), before.modified().unwrap());
        #[cfg(unix)]
        {
            // A rewrite, even of the same bytes, would be a new inode.
            use std::os::unix::fs::MetadataExt as _;
            assert_eq!(after.ino(), before.ino());
        }
        // No temporary file left behind, nothing added.
        assert_eq!(listing(&dest), files_before);
    }

    #[cfg(unix)]
    #[test]
    fn configure_keeps_the_pth_mode() {
        use std::os::unix::fs::PermissionsExt as _;

        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        fs_err::write(root.join("python.exe"), b"MZ").unwrap();
        let pth = root.join("python311._pth");
        fs_err::write(&pth, SHIPPED).unwrap();
        fs_err::set_permissions(&pth, std::fs::Permissions::from_mode(0o644)).unwrap();
        configure(root, "3.11.9").unwrap();
        let mode = fs_err::metadata(&pth).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn configure_without_pth_is_not_embeddable() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        fs_err::write(root.join("python.exe"), b"MZ").unwrap();
        fs_err::write(root.join("python311.dll"), b"MZ").unwrap();

        let err = configure(root, "3.11.9").unwrap_err();
        assert!(
            matches!(&err, EmbeddableError::NotEmbeddable { missing, .. } if missing == &["python311._pth"]),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("not a Windows embeddable package"),
            "{message}"
        );
        assert!(message.contains("`python311._pth` is missing"), "{message}");
        // Nothing was created in a folder that is not ours to configure.
        assert!(!root.join("Lib").exists());
    }

    #[test]
    fn configure_without_anything_names_both_files() {
        let temp = tempfile::tempdir().unwrap();
        let err = configure(temp.path(), "3.11.9").unwrap_err();
        assert!(
            err.to_string()
                .contains("`python.exe` and `python311._pth` are missing"),
            "{err}"
        );
    }

    #[test]
    fn configure_with_pth_of_another_version_says_so() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        fs_err::write(root.join("python.exe"), b"MZ").unwrap();
        fs_err::write(root.join("python312._pth"), SHIPPED.replace("311", "312")).unwrap();

        let err = configure(root, "3.11.9").unwrap_err();
        match &err {
            EmbeddableError::OtherVersion {
                expected, found, ..
            } => {
                assert_eq!(expected, "python311._pth");
                assert_eq!(found, "python312._pth");
            }
            other => panic!("expected OtherVersion, got {other:?}"),
        }
    }

    #[test]
    fn configure_bad_version_is_an_error() {
        let temp = tempfile::tempdir().unwrap();
        let err = configure(temp.path(), "3.11.x").unwrap_err();
        assert!(matches!(err, EmbeddableError::BadVersion { .. }), "{err:?}");
    }

    #[test]
    fn configure_missing_root_names_it() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("absent");
        let err = configure(&root, "3.11.9").unwrap_err();
        assert!(matches!(err, EmbeddableError::Io(_)), "{err:?}");
        assert!(err.to_string().contains("absent"), "{err}");
    }
}
