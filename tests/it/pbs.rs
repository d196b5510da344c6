//! Test support for standalone runtimes, and its own tests: archives in the
//! python-build-standalone `install_only_stripped` layout built from this
//! machine's Debian CPython, hostile variants of them, a download catalog
//! pointing at them, and a server on 127.0.0.1 to fetch them from. No test
//! needs the internet.
//!
//! Debian's `/usr/bin/python3.11` relocates: copied to `X/python/bin` with
//! its standard library in `X/python/lib/python3.11`, it runs from there
//! with `sys.prefix == X/python`. So an archive of those two is a working
//! runtime, as a python-build-standalone one is. One difference remains:
//! Debian's `site.py` puts `<prefix>/lib/python3/dist-packages` (and
//! `local/...`), not `lib/python3.11/site-packages`, on the base
//! interpreter's `sys.path`; virtual environments made from it are as usual.
//!
//! Archives are deterministic (sorted entries, fixed times and owners, no
//! gzip timestamp), so they are written under `CARGO_TARGET_TMPDIR` in a
//! folder named by their digest, by rename: concurrent test processes write
//! the same bytes to the same place, and nothing piles up between runs.
//! The files are shared: tests must not modify them.

pub(crate) use crate::server;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use beep_python::archive::{self, ArchiveError, Format, Limits};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header, HeaderMode};

use server::Server;

/// The interpreter the archives are made of.
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3.11";
/// Its standard library.
pub const DEBIAN_STDLIB: &str = "/usr/lib/python3.11";
/// Where Debian keeps the wheels that other builds bundle in
/// `ensurepip/_bundled`.
pub const DEBIAN_WHEELS: &str = "/usr/share/python-wheels";
/// What the interpreter reports as its version.
pub const DEBIAN_VERSION: &str = "3.11.2";
/// The python-build-standalone release tag used in file names and catalogs.
pub const BUILD: &str = "20990101";

/// A python-build-standalone-like archive built from Debian's python3.11.
#[derive(Debug)]
pub struct PbsArchive {
    /// The `.tar.gz`, shared by every test of the process: read it, never
    /// modify it.
    pub path: PathBuf,
    /// Lowercase hex.
    pub sha256: String,
    /// The version label in the file name, for catalogs. The interpreter
    /// inside always reports [`DEBIAN_VERSION`].
    pub version: String,
    /// The folder every entry is under (`python` for the real layout).
    pub top: String,
    pub bytes: Arc<Vec<u8>>,
    /// How long building (and writing) it took.
    pub build_time: Duration,
}

impl PbsArchive {
    /// A server on 127.0.0.1 serving the archive at its
    /// [`Server::url`]; it stops when dropped.
    pub fn serve(&self) -> Server {
        Server::start(self.bytes.clone())
    }

    /// A `file://` URL of [`PbsArchive::path`], which `fetch` copies
    /// through its cache as it would a download.
    pub fn file_url(&self) -> String {
        url::Url::from_file_path(&self.path)
            .expect("an absolute path")
            .to_string()
    }
}

/// The archive as python-build-standalone lays it out: everything under
/// `python/`, `bin/python3.11` and a `bin/python3` symlink to it (no
/// `bin/python`: configuring the runtime makes that), the standard library
/// with `lib-dynload`, an empty `site-packages`, and the pip and setuptools
/// wheels in `ensurepip/_bundled`. Built once per test process.
pub fn debian_archive() -> &'static PbsArchive {
    static ARCHIVE: OnceLock<&'static PbsArchive> = OnceLock::new();
    ARCHIVE.get_or_init(|| debian_archive_variant("python", DEBIAN_VERSION))
}

/// The same content under another top folder and/or with another version
/// label (in the file name and [`PbsArchive::version`] only: the
/// interpreter is still [`DEBIAN_VERSION`], which lets a catalog lie about
/// it). Built once per process for each pair.
pub fn debian_archive_variant(top: &str, version: &str) -> &'static PbsArchive {
    static BUILT: OnceLock<Mutex<HashMap<(String, String), &'static PbsArchive>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    built
        .entry((top.to_owned(), version.to_owned()))
        .or_insert_with(|| Box::leak(Box::new(build(top, version))))
}

/// The file name python-build-standalone gives this machine's archive.
pub fn file_name(version: &str) -> String {
    format!(
        "cpython-{version}+{BUILD}-{}-unknown-linux-gnu-install_only_stripped.tar.gz",
        std::env::consts::ARCH
    )
}

/// What is left out of the standard library to stay small (as the
/// `_stripped` builds leave out tests and Tk): `rel` is relative to
/// [`DEBIAN_STDLIB`].
fn skipped(rel: &Path) -> bool {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy())
        .unwrap_or_default();
    rel.components().any(|c| c.as_os_str() == "__pycache__")
        || matches!(
            &*first,
            "test" | "idlelib" | "tkinter" | "turtledemo"
            // Debian's: PEP 668 would refuse installs into the runtime,
            // and sitecustomize is a link to `/etc`.
            | "EXTERNALLY-MANAGED" | "sitecustomize.py"
        )
        // Debian's static library and build files, 25 MB.
        || first.starts_with("config-")
}

#[track_caller]
fn build(top: &str, version: &str) -> PbsArchive {
    for needed in [DEBIAN_PYTHON, DEBIAN_STDLIB] {
        assert!(
            Path::new(needed).exists(),
            "standalone-runtime tests build their archive from Debian's python3.11: `{needed}` is missing"
        );
    }
    let started = Instant::now();
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    tar.mode(HeaderMode::Deterministic);
    tar.follow_symlinks(false);

    let top = Path::new(top);
    let lib = top.join("lib/python3.11");
    for dir in [top.to_owned(), top.join("bin")] {
        tar.append_path_with_name(DEBIAN_STDLIB, &dir).unwrap();
    }
    tar.append_path_with_name(DEBIAN_PYTHON, top.join("bin/python3.11"))
        .unwrap();
    append_symlink(&mut tar, &top.join("bin/python3"), "python3.11");
    tar.append_path_with_name(DEBIAN_STDLIB, top.join("lib"))
        .unwrap();
    append_tree(&mut tar, Path::new(DEBIAN_STDLIB), Path::new(""), &lib);
    tar.append_path_with_name(DEBIAN_STDLIB, lib.join("site-packages"))
        .unwrap();
    let bundled = lib.join("ensurepip/_bundled");
    tar.append_path_with_name(DEBIAN_STDLIB, &bundled).unwrap();
    for wheel in sorted_children(Path::new(DEBIAN_WHEELS)) {
        let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".whl") && (name.starts_with("pip-") || name.starts_with("setuptools-")) {
            tar.append_path_with_name(&wheel, bundled.join(&name))
                .unwrap();
        }
    }
    let bytes = tar.into_inner().unwrap().finish().unwrap();

    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("pbs")
        .join(&sha256[..16]);
    fs_err::create_dir_all(&dir).unwrap();
    let path = dir.join(file_name(version));
    let mut temp = tempfile::NamedTempFile::new_in(&dir).unwrap();
    temp.write_all(&bytes).unwrap();
    #[cfg(unix)]
    {
        // Not the temp file's 0600: readable like a downloaded file.
        use std::os::unix::fs::PermissionsExt;
        let readable = std::fs::Permissions::from_mode(0o644);
        temp.as_file().set_permissions(readable).unwrap();
    }
    temp.persist(&path).unwrap();
    PbsArchive {
        path,
        sha256,
        version: version.to_owned(),
        top: top.to_string_lossy().into_owned(),
        bytes: Arc::new(bytes),
        build_time: started.elapsed(),
    }
}

fn sorted_children(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Vec::new();
    };
    let mut children: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    children.sort();
    children
}

/// Appends everything under `root.join(rel)` (not skipped) as `into/...`,
/// folders before what they hold. Relative symlinks stay links; absolute
/// ones are left out (an extractor must refuse them).
fn append_tree<W: Write>(tar: &mut tar::Builder<W>, root: &Path, rel: &Path, into: &Path) {
    for child in sorted_children(&root.join(rel)) {
        let rel = rel.join(child.file_name().unwrap());
        if skipped(&rel) {
            continue;
        }
        let meta = fs_err::symlink_metadata(&child).unwrap();
        if meta.is_symlink() && fs_err::read_link(&child).unwrap().is_absolute() {
            continue;
        }
        tar.append_path_with_name(&child, into.join(&rel)).unwrap();
        if meta.is_dir() {
            append_tree(tar, root, &rel, into);
        }
    }
}

fn append_symlink<W: Write>(tar: &mut tar::Builder<W>, name: &Path, target: &str) {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Symlink);
    header.set_mode(0o777);
    header.set_size(0);
    header.set_mtime(MTIME);
    tar.append_link(&mut header, name, target).unwrap();
}

const MTIME: u64 = 1_700_000_000;

// --- hostile archives ----------------------------------------------------

/// Where the hostile archives try to write with absolute names: unique to
/// this process. A test checks that none of them exists afterwards.
pub fn evil_paths() -> Vec<PathBuf> {
    let pid = std::process::id();
    vec![
        PathBuf::from(format!("/tmp/beep-python-evil-{pid}")),
        PathBuf::from(format!("/tmp/beep-python-evil-{pid}-link")),
    ]
}

/// Small tar.gz archives, each a valid-looking `python/bin/python3` (a
/// symlink to a `python3.11` script) followed by ONE bad entry, by name:
///
/// - `traversal`: `python/../../evil`;
/// - `absolute`: the first of [`evil_paths`];
/// - `symlink-escape`: `python/lib/x -> ../../..`, then a file
///   `python/lib/x/evil` written through it (relative to a staging folder
///   `S`, the link is the folder above `S`'s parent: extract into
///   `<sentinel>/box/stage` and the write would land in `<sentinel>`);
/// - `symlink-absolute`: `python/lib/out ->` the second of [`evil_paths`],
///   then a file written through it;
/// - `hardlink`: `python/bin/h`, a hard link to `/etc/passwd`;
/// - `device`: `python/bin/null`, a character device (1, 3).
///
/// Every one must be refused by `archive::extract`, with or without
/// stripping `python`, leaving nothing outside the staging folder.
pub fn malicious_archives() -> Vec<(&'static str, Vec<u8>)> {
    let [absolute, link_target] = <[PathBuf; 2]>::try_from(evil_paths()).unwrap();
    let absolute = absolute.to_str().unwrap().to_owned();
    let link_target = link_target.to_str().unwrap().to_owned();
    let cases: Vec<(&'static str, Vec<Raw>)> = vec![
        (
            "traversal",
            vec![Raw::File("python/../../evil".into(), 0o644)],
        ),
        ("absolute", vec![Raw::File(absolute, 0o644)]),
        (
            "symlink-escape",
            vec![
                Raw::Link(EntryType::Symlink, "python/lib/x".into(), "../../..".into()),
                Raw::File("python/lib/x/evil".into(), 0o644),
            ],
        ),
        (
            "symlink-absolute",
            vec![
                Raw::Link(EntryType::Symlink, "python/lib/out".into(), link_target),
                Raw::File("python/lib/out".into(), 0o644),
            ],
        ),
        (
            "hardlink",
            vec![Raw::Link(
                EntryType::Link,
                "python/bin/h".into(),
                "/etc/passwd".into(),
            )],
        ),
        (
            "device",
            vec![Raw::Device(EntryType::Char, "python/bin/null".into(), 1, 3)],
        ),
    ];
    cases
        .into_iter()
        .map(|(name, bad)| {
            let mut entries = vec![
                Raw::Dir("python/".into()),
                Raw::Dir("python/bin/".into()),
                Raw::Dir("python/lib/".into()),
                Raw::File("python/bin/python3.11".into(), 0o755),
                Raw::Link(
                    EntryType::Symlink,
                    "python/bin/python3".into(),
                    "python3.11".into(),
                ),
            ];
            entries.extend(bad);
            (name, gz(&raw_tar(&entries)))
        })
        .collect()
}

/// One entry of a hostile tar. Names go into the header bytes as they are,
/// because the tar crate's `set_path` refuses `..` and absolute names.
enum Raw {
    Dir(String),
    /// A file whose content is a harmless shell script.
    File(String, u32),
    Link(EntryType, String, String),
    Device(EntryType, String, u32, u32),
}

const EVIL: &[u8] = b"#!/bin/sh\necho evil\n";

fn raw_tar(entries: &[Raw]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        let (kind, name, link, data, mode) = match entry {
            Raw::Dir(name) => (EntryType::Directory, name, "", &b""[..], 0o755),
            Raw::File(name, mode) => (EntryType::Regular, name, "", EVIL, *mode),
            Raw::Link(kind, name, target) => (*kind, name, target.as_str(), &b""[..], 0o777),
            Raw::Device(kind, name, _, _) => (*kind, name, "", &b""[..], 0o644),
        };
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(MTIME);
        if let Raw::Device(_, _, major, minor) = entry {
            header.set_device_major(*major).unwrap();
            header.set_device_minor(*minor).unwrap();
        }
        let old = header.as_old_mut();
        assert!(name.len() <= old.name.len() && link.len() <= old.linkname.len());
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        tar.append(&header, data).unwrap();
    }
    tar.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

// --- catalog -------------------------------------------------------------

/// A catalog in beep-python's `python-downloads` format listing, for this
/// machine (linux, this architecture, glibc), one download per
/// `(version, url, sha256)`, all of build [`BUILD`].
pub fn catalog_json(entries: &[(&str, &str, &str)]) -> String {
    let downloads: Vec<serde_json::Value> = entries
        .iter()
        .map(|(version, url, sha256)| {
            serde_json::json!({
                "version": version,
                "os": "linux",
                "arch": std::env::consts::ARCH,
                "libc": "gnu",
                "build": BUILD,
                "url": url,
                "sha256": sha256,
            })
        })
        .collect();
    let catalog = serde_json::json!({
        "source": "test",
        "count": downloads.len(),
        "downloads": downloads,
    });
    serde_json::to_string_pretty(&catalog).unwrap() + "\n"
}

// --- tests -----------------------------------------------------------------

/// A staging folder two levels below a sentinel folder, so that an escape
/// of one or two levels lands where [`Stage::assert_nothing_outside`] looks.
struct Stage {
    sentinel: tempfile::TempDir,
    archive: PathBuf,
    dest: PathBuf,
}

impl Stage {
    #[track_caller]
    fn new(bytes: &[u8]) -> Stage {
        let sentinel = tempfile::tempdir().unwrap();
        let dest = sentinel.path().join("box/stage");
        fs_err::create_dir_all(&dest).unwrap();
        let archive = sentinel.path().join("box/archive.tar.gz");
        fs_err::write(&archive, bytes).unwrap();
        Stage {
            sentinel,
            archive,
            dest,
        }
    }

    fn extract(&self, strip: Option<&str>) -> Result<archive::Extracted, ArchiveError> {
        archive::extract(
            &self.archive,
            Format::TarGz,
            &self.dest,
            strip,
            &Limits::default(),
        )
    }

    #[track_caller]
    fn assert_nothing_outside(&self, case: &str) {
        assert_eq!(names(self.sentinel.path()), ["box"], "{case}");
        assert_eq!(
            names(&self.sentinel.path().join("box")),
            ["archive.tar.gz", "stage"],
            "{case}"
        );
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[track_caller]
fn run_python(python: &Path, code: &str) -> String {
    let output = Command::new(python)
        .args(["-c", code])
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .output()
        .unwrap_or_else(|e| panic!("running `{}`: {e}", python.display()));
    assert!(
        output.status.success(),
        "`{}` failed: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[cfg(unix)]
#[test]
fn debian_archive_extracts_to_a_working_relocated_interpreter() {
    let built = debian_archive();
    eprintln!(
        "debian archive: {:.2} MB, built in {:?} (once per test process)",
        built.bytes.len() as f64 / 1e6,
        built.build_time
    );
    assert_eq!(built.version, DEBIAN_VERSION);
    assert_eq!(fs_err::read(&built.path).unwrap(), *built.bytes);
    assert_eq!(built.sha256, format!("{:x}", Sha256::digest(&*built.bytes)));
    assert!(built.path.ends_with(file_name(DEBIAN_VERSION)));

    let stage = Stage::new(&built.bytes);
    let started = Instant::now();
    let extracted = stage.extract(Some("python")).unwrap();
    eprintln!(
        "extracted {} files, {:.1} MB in {:?}",
        extracted.files,
        extracted.bytes as f64 / 1e6,
        started.elapsed()
    );
    stage.assert_nothing_outside("debian");

    let root = &stage.dest;
    assert_eq!(
        fs_err::read_link(root.join("bin/python3")).unwrap(),
        Path::new("python3.11")
    );
    assert!(!root.join("bin/python").exists(), "configuring makes it");
    assert!(root.join("lib/python3.11/lib-dynload").is_dir());
    assert!(names(&root.join("lib/python3.11/site-packages")).is_empty());
    let bundled = names(&root.join("lib/python3.11/ensurepip/_bundled"));
    assert!(
        bundled
            .iter()
            .any(|n| n.starts_with("pip-") && n.ends_with(".whl")),
        "{bundled:?}"
    );
    assert!(!root.join("lib/python3.11/test").exists());
    assert!(!root.join("lib/python3.11/__pycache__").exists());

    let out = run_python(
        &root.join("bin/python3"),
        "import sys, ssl, sqlite3, zlib, ctypes, venv; print(sys.version); print(sys.prefix)",
    );
    let mut lines = out.lines();
    let version = lines.next().unwrap();
    assert!(
        version.starts_with(&format!("{DEBIAN_VERSION} ")),
        "{version}"
    );
    let prefix = Path::new(lines.next().unwrap());
    assert_eq!(
        fs_err::canonicalize(prefix).unwrap(),
        fs_err::canonicalize(root).unwrap()
    );
}

#[cfg(unix)]
#[test]
fn variant_has_the_same_content_under_another_top_folder() {
    let variant = debian_archive_variant("cpython", "3.11.9");
    assert_eq!(variant.version, "3.11.9");
    assert_eq!(variant.top, "cpython");
    assert!(variant.path.ends_with(file_name("3.11.9")));
    assert_ne!(variant.sha256, debian_archive().sha256);

    let stage = Stage::new(&variant.bytes);
    stage.extract(Some("cpython")).unwrap();
    let out = run_python(
        &stage.dest.join("bin/python3.11"),
        "import sys; print(sys.version_info[:3])",
    );
    assert_eq!(out.trim(), "(3, 11, 2)");
}

#[test]
fn every_malicious_archive_is_refused_without_writing_outside() {
    let archives = malicious_archives();
    let names_seen: Vec<&str> = archives.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names_seen,
        [
            "traversal",
            "absolute",
            "symlink-escape",
            "symlink-absolute",
            "hardlink",
            "device"
        ]
    );
    for (name, bytes) in &archives {
        for strip in [Some("python"), None] {
            let stage = Stage::new(bytes);
            let err = stage.extract(strip).unwrap_err();
            let ArchiveError::Unsafe { entry, .. } = &err else {
                panic!("{name} (strip {strip:?}): {err:?}");
            };
            assert!(
                !entry.starts_with("python/bin/python") && !entry.ends_with('/'),
                "{name} (strip {strip:?}) was refused for a good entry: {err}"
            );
            stage.assert_nothing_outside(name);
            for evil in evil_paths() {
                assert!(
                    fs_err::symlink_metadata(&evil).is_err(),
                    "{name}: `{}` was written",
                    evil.display()
                );
            }
        }
    }
}

#[test]
fn malicious_archives_look_valid_up_to_their_bad_entry() {
    // The good part alone extracts: each archive is refused for its one
    // bad entry, not for its shape.
    let good = gz(&raw_tar(&[
        Raw::Dir("python/".into()),
        Raw::Dir("python/bin/".into()),
        Raw::File("python/bin/python3.11".into(), 0o755),
        Raw::Link(
            EntryType::Symlink,
            "python/bin/python3".into(),
            "python3.11".into(),
        ),
    ]));
    let stage = Stage::new(&good);
    stage.extract(Some("python")).unwrap();
    assert_eq!(fs_err::read(stage.dest.join("bin/python3")).unwrap(), EVIL);
}

#[test]
fn catalog_lists_each_download_for_this_machine() {
    let json = catalog_json(&[("3.11.2", "http://127.0.0.1:1/a.tar.gz", &"a".repeat(64))]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["count"], 1);
    let download = &value["downloads"][0];
    assert_eq!(download["version"], "3.11.2");
    assert_eq!(download["os"], "linux");
    assert_eq!(download["arch"], std::env::consts::ARCH);
    assert_eq!(download["libc"], "gnu");
    assert_eq!(download["build"], BUILD);
    assert_eq!(download["url"], "http://127.0.0.1:1/a.tar.gz");
}

#[cfg(unix)]
#[test]
fn archive_downloads_with_its_digest_from_the_server_and_a_file_url() {
    use beep_python::fetch::{self, Cache, NoProgress, Options};
    use std::sync::atomic::AtomicBool;

    let built = debian_archive();
    let server = built.serve();
    let cache = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache.path());
    let cancel = AtomicBool::new(false);
    let started = Instant::now();
    let path = fetch::fetch(
        &server.url(),
        &built.sha256,
        &cache,
        &Options::default(),
        &NoProgress,
        &cancel,
    )
    .unwrap();
    eprintln!(
        "fetched {:.1} MB from 127.0.0.1 in {:?}",
        built.bytes.len() as f64 / 1e6,
        started.elapsed()
    );
    assert_eq!(fs_err::read(path).unwrap(), *built.bytes);

    // The same file through a `file://` URL, into another cache.
    let other = tempfile::tempdir().unwrap();
    let path = fetch::fetch(
        &built.file_url(),
        &built.sha256,
        &Cache::new(other.path()),
        &Options::default(),
        &NoProgress,
        &cancel,
    )
    .unwrap();
    assert_eq!(fs_err::read(path).unwrap(), *built.bytes);
}
