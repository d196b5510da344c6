//! Extracting interpreter archives: a good archive in the
//! python-build-standalone layout, and every kind of hostile entry, which
//! must be refused without writing anything outside the staging folder.
//!
//! Archives are built here. Hostile tar names are written straight into the
//! header bytes, because the tar crate's own `set_path` refuses them.
//!
//! Every case extracts into `<tmp>/box/stage`, next to `<tmp>/box/<archive>`,
//! so that an escape one or two levels up lands in `box` or `tmp`, where
//! [`Case::assert_nothing_outside`] looks.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use beep_python::archive::{self, ArchiveError, Format, Limit, Limits};
use tar::{EntryType, Header};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

const MTIME: u64 = 1_700_000_000;

/// One entry of a tar built by [`tar_bytes`].
enum T<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    Special(&'a str, EntryType),
}

/// A GNU header whose name and link name are copied byte for byte, with no
/// checks (names must fit the 100-byte fields).
#[track_caller]
fn raw_header(kind: EntryType, name: &str, link: &str, size: u64, mode: u32) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(MTIME);
    let old = header.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_cksum();
    header
}

fn tar_bytes(entries: &[T<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let (header, data): (Header, &[u8]) = match *entry {
            T::File(name, data, mode) => (
                raw_header(EntryType::Regular, name, "", data.len() as u64, mode),
                data,
            ),
            T::Dir(name) => (raw_header(EntryType::Directory, name, "", 0, 0o755), b""),
            T::Symlink(name, target) => {
                (raw_header(EntryType::Symlink, name, target, 0, 0o777), b"")
            }
            T::HardLink(name, target) => (raw_header(EntryType::Link, name, target, 0, 0o644), b""),
            T::Special(name, kind) => (raw_header(kind, name, "", 0, 0o644), b""),
        };
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn zst(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

/// The python-build-standalone layout, in miniature.
fn standalone_entries() -> Vec<T<'static>> {
    vec![
        T::Dir("python/"),
        T::Dir("python/bin/"),
        T::File("python/bin/python3.11", b"#!/bin/sh\necho python\n", 0o755),
        T::Symlink("python/bin/python3", "python3.11"),
        T::File("python/lib/python3.11/os.py", b"# os\n", 0o644),
        T::Symlink("python/lib/libpython3.so", "../bin/python3.11"),
    ]
}

/// A staging folder and an archive, inside a folder of their own.
struct Case {
    tmp: tempfile::TempDir,
    archive: PathBuf,
    stage: PathBuf,
}

impl Case {
    #[track_caller]
    fn new(file_name: &str, bytes: &[u8]) -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let boxed = tmp.path().join("box");
        let stage = boxed.join("stage");
        fs_err::create_dir_all(&stage).unwrap();
        let archive = boxed.join(file_name);
        fs_err::write(&archive, bytes).unwrap();
        Case {
            tmp,
            archive,
            stage,
        }
    }

    fn extract(
        &self,
        format: Format,
        strip: Option<&str>,
        limits: &Limits,
    ) -> Result<archive::Extracted, ArchiveError> {
        archive::extract(&self.archive, format, &self.stage, strip, limits)
    }

    /// `tmp` holds only `box`, which holds only the archive and `stage`.
    #[track_caller]
    fn assert_nothing_outside(&self) {
        assert_eq!(names(self.tmp.path()), ["box"]);
        let archive = self.archive.file_name().unwrap().to_str().unwrap();
        let mut want = vec![archive.to_string(), "stage".to_string()];
        want.sort();
        assert_eq!(names(&self.tmp.path().join("box")), want);
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

/// Extracts a hostile tar.gz (strip `python`) and checks that it is refused
/// as unsafe, naming `entry`, with nothing written outside the stage.
#[track_caller]
fn assert_tar_refused(entries: &[T<'_>], entry: &str) -> (Case, ArchiveError) {
    let case = Case::new("bad.tar.gz", &gz(&tar_bytes(entries)));
    let err = case
        .extract(Format::TarGz, Some("python"), &Limits::default())
        .unwrap_err();
    match &err {
        ArchiveError::Unsafe { entry: named, .. } => assert_eq!(named, entry, "{err}"),
        other => panic!("expected an unsafe entry `{entry}`, got {other:?}"),
    }
    case.assert_nothing_outside();
    (case, err)
}

#[cfg(unix)]
#[track_caller]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs_err::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
#[track_caller]
fn assert_standalone_layout(stage: &Path) {
    let python = stage.join("bin/python3.11");
    assert_eq!(fs_err::read(&python).unwrap(), b"#!/bin/sh\necho python\n");
    assert_ne!(mode_of(&python) & 0o111, 0, "the executable bit is kept");
    assert_eq!(mode_of(&stage.join("lib/python3.11/os.py")) & 0o111, 0);
    assert_eq!(
        fs_err::read_link(stage.join("bin/python3")).unwrap(),
        Path::new("python3.11")
    );
    assert_eq!(
        fs_err::read(stage.join("lib/libpython3.so")).unwrap(),
        b"#!/bin/sh\necho python\n"
    );
    let modified = fs_err::metadata(&python).unwrap().modified().unwrap();
    assert_eq!(
        modified,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(MTIME),
        "modification times are kept (for .pyc checks)"
    );
}

#[cfg(unix)]
#[test]
fn standalone_tar_gz_extracts_with_prefix_stripped_modes_and_symlinks_kept() {
    let case = Case::new("cpython.tar.gz", &gz(&tar_bytes(&standalone_entries())));
    let extracted = case
        .extract(Format::TarGz, Some("python"), &Limits::default())
        .unwrap();
    assert_eq!(extracted.files, 4);
    assert_eq!(extracted.bytes, 22 + 5);
    assert_standalone_layout(&case.stage);
    assert!(!case.stage.join("python").exists());
    case.assert_nothing_outside();
}

#[cfg(unix)]
#[test]
fn standalone_tar_zst_extracts() {
    let case = Case::new("cpython.tar.zst", &zst(&tar_bytes(&standalone_entries())));
    case.extract(Format::TarZst, Some("python"), &Limits::default())
        .unwrap();
    assert_standalone_layout(&case.stage);
}

/// The zstd CLI compresses differently from ruzstd's encoder (real entropy
/// coding at high levels): decode its output too.
#[cfg(unix)]
#[test]
fn tar_zst_made_by_the_zstd_cli_extracts() {
    let zstd = crate::common::require!("the `zstd` program", crate::common::tool("zstd"));
    let tar = tempfile::NamedTempFile::new().unwrap();
    fs_err::write(tar.path(), tar_bytes(&standalone_entries())).unwrap();
    let output = std::process::Command::new(zstd)
        .args(["-19", "-q", "-c"])
        .arg(tar.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "zstd failed: {output:?}");
    let bytes = output.stdout;
    let case = Case::new("cpython.tar.zst", &bytes);
    case.extract(Format::TarZst, Some("python"), &Limits::default())
        .unwrap();
    assert_standalone_layout(&case.stage);
}

#[test]
fn tar_gz_of_several_gzip_members_is_read_to_the_end() {
    let tar = tar_bytes(&standalone_entries());
    let (head, tail) = tar.split_at(1024);
    let mut bytes = gz(head);
    bytes.extend(gz(tail));
    let case = Case::new("cpython.tar.gz", &bytes);
    let extracted = case
        .extract(Format::TarGz, Some("python"), &Limits::default())
        .unwrap();
    assert_eq!(extracted.files, 4);
}

#[test]
fn data_after_the_compressed_stream_is_an_error() {
    let tar = tar_bytes(&standalone_entries());
    for (format, mut bytes) in [(Format::TarGz, gz(&tar)), (Format::TarZst, zst(&tar))] {
        bytes.extend_from_slice(b"trailing garbage");
        let case = Case::new("cpython.archive", &bytes);
        let err = case
            .extract(format, Some("python"), &Limits::default())
            .unwrap_err();
        assert!(
            matches!(
                err,
                ArchiveError::Corrupt { .. } | ArchiveError::Unsupported { .. }
            ),
            "{format}: {err:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn setuid_and_world_writable_bits_are_dropped() {
    let case = Case::new(
        "a.tar.gz",
        &gz(&tar_bytes(&[
            T::File("python/suid", b"x", 0o4777),
            T::File("python/plain", b"x", 0o666),
        ])),
    );
    case.extract(Format::TarGz, Some("python"), &Limits::default())
        .unwrap();
    let suid = mode_of(&case.stage.join("suid"));
    assert_eq!(suid & 0o7000, 0);
    assert_eq!(suid & 0o022, 0);
    assert_eq!(mode_of(&case.stage.join("plain")) & 0o133, 0);
}

#[test]
fn parent_dir_entry_is_refused() {
    assert_tar_refused(&[T::File("../evil", b"evil", 0o644)], "../evil");
}

#[test]
fn absolute_entry_is_refused() {
    assert_tar_refused(&[T::File("/abs/evil", b"evil", 0o644)], "/abs/evil");
    assert!(!Path::new("/abs/evil").exists());
}

#[test]
fn windows_absolute_entries_are_refused() {
    assert_tar_refused(&[T::File("C:\\evil", b"evil", 0o644)], "C:\\evil");
    assert_tar_refused(&[T::File("C:/evil", b"evil", 0o644)], "C:/evil");
    assert_tar_refused(
        &[T::File("\\\\server\\share\\evil", b"evil", 0o644)],
        "\\\\server\\share\\evil",
    );
}

#[test]
fn parent_dir_inside_prefix_is_refused() {
    assert_tar_refused(
        &[T::File("python/../../evil", b"evil", 0o644)],
        "python/../../evil",
    );
}

#[test]
fn entry_outside_the_prefix_is_refused() {
    let (_, err) = assert_tar_refused(
        &[
            T::File("python/ok", b"ok", 0o644),
            T::File("other/file", b"x", 0o644),
        ],
        "other/file",
    );
    assert!(err.to_string().contains("not inside `python/`"), "{err}");
}

#[test]
fn symlink_escaping_the_root_is_refused_before_anything_goes_through_it() {
    let (case, _) = assert_tar_refused(
        &[
            T::Symlink("python/lnk", "../../outside"),
            T::File("python/lnk/x", b"evil", 0o644),
        ],
        "python/lnk",
    );
    assert!(fs_err::symlink_metadata(case.stage.join("lnk")).is_err());
}

#[test]
fn symlink_climbing_above_the_stripped_prefix_is_refused() {
    // `..` from the root's top folder would be the staging folder itself,
    // outside the runtime once the prefix is stripped.
    assert_tar_refused(&[T::Symlink("python/lnk", "..")], "python/lnk");
}

#[test]
fn writing_through_a_symlink_made_earlier_is_refused() {
    // The link stays inside the root, but an entry below it would be
    // written wherever the link points.
    let (case, _) = assert_tar_refused(
        &[
            T::Dir("python/lib/"),
            T::Symlink("python/lnk", "lib"),
            T::File("python/lnk/x", b"evil", 0o644),
        ],
        "python/lnk/x",
    );
    assert!(!case.stage.join("lib/x").exists());
}

#[test]
fn symlink_with_dotdot_after_a_name_is_refused() {
    // `d/l1 -> ..` is the root; `l2 -> d/l1/..` would then be the folder
    // above the root, although it looks like `d` when read lexically.
    assert_tar_refused(
        &[
            T::Symlink("python/l2", "d/l1/.."),
            T::Symlink("python/d/l1", ".."),
        ],
        "python/l2",
    );
}

#[test]
fn symlink_to_absolute_path_is_refused() {
    assert_tar_refused(
        &[T::Symlink("python/passwd", "/etc/passwd")],
        "python/passwd",
    );
}

#[test]
fn hard_link_is_refused_even_inside_the_root() {
    assert_tar_refused(
        &[
            T::File("python/a", b"a", 0o644),
            T::HardLink("python/b", "python/a"),
        ],
        "python/b",
    );
    assert_tar_refused(
        &[T::HardLink("python/passwd", "/etc/passwd")],
        "python/passwd",
    );
}

#[test]
fn char_device_is_refused() {
    assert_tar_refused(&[T::Special("python/null", EntryType::Char)], "python/null");
}

#[test]
fn block_device_is_refused() {
    assert_tar_refused(&[T::Special("python/sda", EntryType::Block)], "python/sda");
}

#[test]
fn fifo_is_refused() {
    assert_tar_refused(&[T::Special("python/pipe", EntryType::Fifo)], "python/pipe");
}

#[test]
fn duplicate_entry_is_refused_and_the_first_is_kept() {
    let (case, _) = assert_tar_refused(
        &[
            T::File("python/a", b"first", 0o644),
            T::File("python/./a", b"second", 0o644),
        ],
        "python/./a",
    );
    assert_eq!(fs_err::read(case.stage.join("a")).unwrap(), b"first");
}

#[test]
fn file_over_an_implicit_folder_is_refused() {
    assert_tar_refused(
        &[
            T::File("python/a/b", b"b", 0o644),
            T::File("python/a", b"a", 0o644),
        ],
        "python/a",
    );
}

#[test]
fn size_bomb_is_stopped_at_the_limit() {
    let zeros = vec![0u8; 10 * 1024 * 1024];
    let bytes = gz(&tar_bytes(&[T::File("python/zeros", &zeros, 0o644)]));
    assert!(bytes.len() < 100 * 1024, "a bomb: small packed");
    let case = Case::new("bomb.tar.gz", &bytes);
    let limit = 1024 * 1024;
    let limits = Limits {
        max_total_bytes: limit,
        ..Limits::default()
    };
    let err = case
        .extract(Format::TarGz, Some("python"), &limits)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::TooLarge {
                what: Limit::TotalBytes,
                limit: 1_048_576,
                ..
            }
        ),
        "{err:?}"
    );
    let written = fs_err::metadata(case.stage.join("zeros")).unwrap().len();
    assert!(written <= limit + 64 * 1024, "{written} bytes written");
    case.assert_nothing_outside();
}

#[test]
fn too_many_entries_are_refused() {
    let files: Vec<String> = (0..20).map(|i| format!("python/f{i}")).collect();
    let entries: Vec<T<'_>> = files.iter().map(|n| T::File(n, b"x", 0o644)).collect();
    let case = Case::new("many.tar.gz", &gz(&tar_bytes(&entries)));
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let err = case
        .extract(Format::TarGz, Some("python"), &limits)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::TooLarge {
                what: Limit::Entries,
                limit: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(names(&case.stage).len(), 10);
    case.assert_nothing_outside();
}

#[test]
fn unsafe_error_has_a_code_and_help() {
    use miette::Diagnostic;
    let case = Case::new(
        "bad.tar.gz",
        &gz(&tar_bytes(&[T::File("../evil", b"evil", 0o644)])),
    );
    let err = case
        .extract(Format::TarGz, None, &Limits::default())
        .unwrap_err();
    assert_eq!(err.code().unwrap().to_string(), "archive::unsafe-entry");
    assert!(
        err.help()
            .unwrap()
            .to_string()
            .contains("nothing was written outside the staging folder")
    );
    assert!(err.to_string().contains("`../evil`"), "{err}");
}

// --- zip ---------------------------------------------------------------

fn zip_bytes(build: impl FnOnce(&mut ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    build(&mut writer);
    writer.finish().unwrap().into_inner()
}

fn zip_file(writer: &mut ZipWriter<Cursor<Vec<u8>>>, name: &str, data: &[u8], mode: u32) {
    let options = SimpleFileOptions::default().unix_permissions(mode);
    writer.start_file(name, options).unwrap();
    writer.write_all(data).unwrap();
}

fn good_zip() -> Vec<u8> {
    zip_bytes(|w| {
        w.add_directory("Lib/", SimpleFileOptions::default())
            .unwrap();
        zip_file(w, "python.exe", b"MZ", 0o755);
        zip_file(w, "Lib/os.py", b"# os\n", 0o644);
        w.add_symlink("python3", "python.exe", SimpleFileOptions::default())
            .unwrap();
    })
}

#[cfg(unix)]
#[test]
fn zip_extracts_with_modes_and_symlinks() {
    let case = Case::new("python-embed.zip", &good_zip());
    let extracted = case.extract(Format::Zip, None, &Limits::default()).unwrap();
    assert_eq!(extracted.files, 3);
    assert_eq!(extracted.bytes, 2 + 5);
    assert_eq!(
        fs_err::read(case.stage.join("Lib/os.py")).unwrap(),
        b"# os\n"
    );
    assert_ne!(mode_of(&case.stage.join("python.exe")) & 0o111, 0);
    assert_eq!(mode_of(&case.stage.join("Lib/os.py")) & 0o111, 0);
    assert_eq!(
        fs_err::read_link(case.stage.join("python3")).unwrap(),
        Path::new("python.exe")
    );
    case.assert_nothing_outside();
}

#[track_caller]
fn assert_zip_refused(bytes: &[u8], entry: &str) {
    let case = Case::new("bad.zip", bytes);
    let err = case
        .extract(Format::Zip, None, &Limits::default())
        .unwrap_err();
    match &err {
        ArchiveError::Unsafe { entry: named, .. } => assert_eq!(named, entry, "{err}"),
        other => panic!("expected an unsafe entry `{entry}`, got {other:?}"),
    }
    case.assert_nothing_outside();
}

#[test]
fn zip_parent_dir_entry_is_refused() {
    assert_zip_refused(
        &zip_bytes(|w| zip_file(w, "../evil", b"evil", 0o644)),
        "../evil",
    );
}

#[test]
fn zip_absolute_entry_is_refused() {
    assert_zip_refused(
        &zip_bytes(|w| zip_file(w, "/abs/evil", b"evil", 0o644)),
        "/abs/evil",
    );
    assert!(!Path::new("/abs/evil").exists());
}

#[test]
fn zip_symlink_escaping_the_root_is_refused() {
    assert_zip_refused(
        &zip_bytes(|w| {
            w.add_symlink("lnk", "../../outside", SimpleFileOptions::default())
                .unwrap();
            zip_file(w, "lnk/x", b"evil", 0o644);
        }),
        "lnk",
    );
}

#[test]
fn zip_with_too_many_entries_is_refused_before_writing() {
    let case = Case::new("many.zip", &good_zip());
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let err = case.extract(Format::Zip, None, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::TooLarge {
                what: Limit::Entries,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(names(&case.stage).is_empty());
}

// --- detection -----------------------------------------------------------

#[test]
fn format_is_detected_by_extension_then_by_magic_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let by_name = [
        ("a.tar.gz", Format::TarGz),
        ("A.TGZ", Format::TarGz),
        ("a.tar.zst", Format::TarZst),
        ("a.tzst", Format::TarZst),
        ("a.zip", Format::Zip),
    ];
    for (name, format) in by_name {
        // The extension wins, even over contents (and without any).
        assert_eq!(
            archive::detect(&tmp.path().join(name)),
            Some(format),
            "{name}"
        );
    }
    let tar = tar_bytes(&standalone_entries());
    let by_magic = [
        (gz(&tar), Some(Format::TarGz)),
        (zst(&tar), Some(Format::TarZst)),
        (good_zip(), Some(Format::Zip)),
        (tar.clone(), None),
        (b"PK".to_vec(), None),
    ];
    for (i, (bytes, format)) in by_magic.into_iter().enumerate() {
        // Cached downloads are named by their sha256, without extension.
        let path = tmp.path().join(format!("{i:064x}"));
        fs_err::write(&path, bytes).unwrap();
        assert_eq!(archive::detect(&path), format, "case {i}");
    }
    assert_eq!(archive::detect(&tmp.path().join("missing")), None);
}

// --- damaged archives ----------------------------------------------------

/// Extracts `bytes` into a fresh staging folder; must not panic.
fn try_extract(tmp: &Path, i: usize, bytes: &[u8], format: Format) -> Result<(), ArchiveError> {
    let stage = tmp.join(format!("stage-{i}"));
    fs_err::create_dir(&stage).unwrap();
    let archive = tmp.join(format!("archive-{i}"));
    fs_err::write(&archive, bytes).unwrap();
    let result = archive::extract(&archive, format, &stage, Some("python"), &Limits::default());
    fs_err::remove_dir_all(&stage).unwrap();
    fs_err::remove_file(&archive).unwrap();
    result.map(|_| ())
}

#[test]
fn truncated_archives_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tar_bytes(&standalone_entries());
    let zip = zip_bytes(|w| {
        zip_file(w, "python/bin/python3.11", b"#!/bin/sh\n", 0o755);
        zip_file(w, "python/lib/os.py", b"# os\n", 0o644);
    });
    for (format, good) in [
        (Format::TarGz, gz(&tar)),
        (Format::TarZst, zst(&tar)),
        (Format::Zip, zip),
    ] {
        try_extract(tmp.path(), 0, &good, format).unwrap();
        for cut in 0..good.len() {
            let result = try_extract(tmp.path(), cut, &good[..cut], format);
            assert!(result.is_err(), "{format} cut at {cut} of {}", good.len());
        }
    }
}

#[test]
fn corrupted_archives_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tar_bytes(&standalone_entries());
    let zip = zip_bytes(|w| {
        zip_file(w, "python/bin/python3.11", b"#!/bin/sh\n", 0o755);
        zip_file(w, "python/lib/os.py", b"# os\n", 0o644);
    });
    for (format, good) in [
        (Format::TarGz, gz(&tar)),
        (Format::TarZst, zst(&tar)),
        (Format::Zip, zip),
    ] {
        for at in 0..good.len() {
            // One low bit, one high bit, or the whole byte, by turns: each
            // case costs a few milliseconds of file system work.
            let mut bad = good.clone();
            bad[at] ^= [0x01, 0x80, 0xff][at % 3];
            // Any outcome but a panic: some bytes (a gzip header's
            // timestamp, say) change nothing that is checked.
            let _ = try_extract(tmp.path(), at, &bad, format);
        }
        // The tar inside, damaged before compression: the decompressor
        // is happy and the tar reader must cope on its own.
        if format == Format::TarGz {
            for at in (0..tar.len()).step_by(7) {
                let mut bad = tar.clone();
                bad[at] ^= 0xff;
                let _ = try_extract(tmp.path(), at, &gz(&bad), format);
            }
        }
    }
    assert!(names(tmp.path()).is_empty());
}
