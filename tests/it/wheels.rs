//! Real wheels built by the tests, so that package installs run offline
//! through `--no-index --find-links <wheelhouse>`.
//!
//! A wheel here is what pip and uv accept: a zip holding the package
//! (`<pkg>/__init__.py` with `__version__`) and its `<dist>-<version>.dist-info`
//! folder (`METADATA`, `WHEEL`, `RECORD`).
//!
//! Invariants:
//!
//! - The same [`WheelSpec`] (and payload) always gives the same bytes: entries
//!   are written in a fixed order with a fixed timestamp (1980-01-01), fixed
//!   permissions and a fixed host system, so a wheel's sha256 is stable
//!   across runs and machines (lock-file tests compare hashes).
//! - [`build_wheel_with_payload`] gives a wheel with the same name and
//!   version but different bytes, for tampering tests.
//! - File names follow the wheel spec: the name is normalized (PEP 503) and
//!   `-` is escaped to `_`.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

/// What goes into one wheel.
#[derive(Debug, Clone, Copy)]
pub struct WheelSpec<'a> {
    /// The distribution name as a user writes it (`My.Package`, `beep-alpha`).
    pub name: &'a str,
    pub version: &'a str,
    /// `Requires-Dist` lines (PEP 508).
    pub requires: &'a [&'a str],
}

/// PEP 503 normalization: runs of `-`, `_`, `.` become one `-`, lowercase.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_separator = false;
        }
    }
    out
}

/// The name as it appears in wheel file names and the `.dist-info` folder:
/// normalized, with `-` escaped to `_`. Also the import name of the package.
pub fn escaped_name(name: &str) -> String {
    normalize_name(name).replace('-', "_")
}

/// The file name of the wheel `spec` builds.
pub fn wheel_file_name(spec: &WheelSpec) -> String {
    format!(
        "{}-{}-py3-none-any.whl",
        escaped_name(spec.name),
        spec.version.replace('-', "_")
    )
}

/// Writes `<dir>/<name>-<version>-py3-none-any.whl` and returns its path.
#[track_caller]
pub fn build_wheel(dir: &Path, spec: &WheelSpec) -> PathBuf {
    write_wheel(dir, spec, None)
}

/// Like [`build_wheel`], with `payload` added as `<pkg>/payload.txt`: the
/// same name and version, different bytes (and a different sha256).
#[track_caller]
pub fn build_wheel_with_payload(dir: &Path, spec: &WheelSpec, payload: &str) -> PathBuf {
    write_wheel(dir, spec, Some(payload))
}

/// Builds every wheel in `dir` and returns `dir`, ready for `--find-links`.
#[track_caller]
pub fn wheelhouse(dir: &Path, specs: &[WheelSpec]) -> PathBuf {
    fs_err::create_dir_all(dir).expect("creating the wheelhouse");
    for spec in specs {
        build_wheel(dir, spec);
    }
    dir.to_path_buf()
}

/// The sha256 of a file, lowercase hex (what lock files record).
#[track_caller]
pub fn sha256_hex(path: &Path) -> String {
    let bytes = fs_err::read(path).expect("reading a file to hash");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The entries of a wheel, in the order they are written.
fn entries(spec: &WheelSpec, payload: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let pkg = escaped_name(spec.name);
    let dist_info = format!("{pkg}-{}.dist-info", spec.version.replace('-', "_"));

    let mut files = vec![(
        format!("{pkg}/__init__.py"),
        format!("__version__ = \"{}\"\n", spec.version).into_bytes(),
    )];
    if let Some(payload) = payload {
        files.push((format!("{pkg}/payload.txt"), payload.as_bytes().to_vec()));
    }

    let mut metadata = format!(
        "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
        spec.name, spec.version
    );
    for requirement in spec.requires {
        metadata.push_str(&format!("Requires-Dist: {requirement}\n"));
    }
    files.push((format!("{dist_info}/METADATA"), metadata.into_bytes()));
    files.push((
        format!("{dist_info}/WHEEL"),
        b"Wheel-Version: 1.0\nGenerator: beep-python-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            .to_vec(),
    ));

    let mut record = String::new();
    for (name, bytes) in &files {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!("{name},sha256={digest},{}\n", bytes.len()));
    }
    let record_name = format!("{dist_info}/RECORD");
    record.push_str(&format!("{record_name},,\n"));
    files.push((record_name, record.into_bytes()));
    files
}

#[track_caller]
fn write_wheel(dir: &Path, spec: &WheelSpec, payload: Option<&str>) -> PathBuf {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .system(System::Unix)
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries(spec, payload) {
        zip.start_file(name, options).expect("adding a wheel entry");
        zip.write_all(&bytes).expect("writing a wheel entry");
    }
    let bytes = zip.finish().expect("finishing the wheel").into_inner();

    fs_err::create_dir_all(dir).expect("creating the wheel folder");
    let path = dir.join(wheel_file_name(spec));
    fs_err::write(&path, bytes).expect("writing the wheel");
    path
}

/// A wheel with chosen contents, for the native installer's tests: any
/// files (with modes), `.data/` folders, entry points, purelib or platlib,
/// and deliberate faults.
#[derive(Debug, Clone)]
pub struct Custom {
    pub name: String,
    pub version: String,
    /// Path in the wheel (outside the `.dist-info`), contents, Unix mode.
    pub files: Vec<(String, Vec<u8>, u32)>,
    /// `entry_points.txt`.
    pub entry_points: Option<String>,
    /// `Root-Is-Purelib`.
    pub purelib: bool,
    /// `py3-none-any` unless set.
    pub tag: String,
    /// Record a wrong hash for this path (its contents are as given).
    pub wrong_hash_for: Option<String>,
    /// Leave this path out of `RECORD`.
    pub unlisted: Option<String>,
    /// `Requires-Dist` lines of `METADATA`.
    pub requires: Vec<String>,
}

impl Custom {
    /// A purelib wheel with `<pkg>/__init__.py` holding `__version__`.
    pub fn new(name: &str, version: &str) -> Custom {
        let pkg = escaped_name(name);
        Custom {
            name: name.to_string(),
            version: version.to_string(),
            files: vec![(
                format!("{pkg}/__init__.py"),
                format!("__version__ = \"{version}\"\n").into_bytes(),
                0o644,
            )],
            entry_points: None,
            purelib: true,
            tag: "py3-none-any".to_string(),
            wrong_hash_for: None,
            unlisted: None,
            requires: Vec::new(),
        }
    }

    /// Adds a `Requires-Dist` line.
    pub fn requires(mut self, requirement: &str) -> Custom {
        self.requires.push(requirement.to_string());
        self
    }

    /// Adds a file (mode 0644).
    pub fn file(mut self, path: &str, contents: &str) -> Custom {
        self.files
            .push((path.to_string(), contents.as_bytes().to_vec(), 0o644));
        self
    }

    /// Adds a file with a mode.
    pub fn file_mode(mut self, path: &str, contents: &str, mode: u32) -> Custom {
        self.files
            .push((path.to_string(), contents.as_bytes().to_vec(), mode));
        self
    }

    /// `<name>-<version>.dist-info`.
    pub fn dist_info(&self) -> String {
        format!(
            "{}-{}.dist-info",
            escaped_name(&self.name),
            self.version.replace('-', "_")
        )
    }

    /// `<name>-<version>.data`.
    pub fn data(&self) -> String {
        self.dist_info().replace(".dist-info", ".data")
    }

    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.whl",
            escaped_name(&self.name),
            self.version.replace('-', "_"),
            self.tag
        )
    }

    /// Writes the wheel into `dir` and returns its path.
    #[track_caller]
    pub fn build(&self, dir: &Path) -> PathBuf {
        let dist_info = self.dist_info();
        let mut files = self.files.clone();
        files.push((
            format!("{dist_info}/METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}",
                self.name,
                self.version,
                self.requires
                    .iter()
                    .map(|r| format!("Requires-Dist: {r}\n"))
                    .collect::<String>()
            )
            .into_bytes(),
            0o644,
        ));
        files.push((
            format!("{dist_info}/WHEEL"),
            format!(
                "Wheel-Version: 1.0\nGenerator: beep-python-tests\nRoot-Is-Purelib: {}\nTag: {}\n",
                self.purelib, self.tag
            )
            .into_bytes(),
            0o644,
        ));
        if let Some(text) = &self.entry_points {
            files.push((
                format!("{dist_info}/entry_points.txt"),
                text.clone().into_bytes(),
                0o644,
            ));
        }
        let mut record = String::new();
        for (name, bytes, _) in &files {
            if self.unlisted.as_deref() == Some(name) {
                continue;
            }
            let digest = if self.wrong_hash_for.as_deref() == Some(name) {
                Sha256::digest(b"something else")
            } else {
                Sha256::digest(bytes)
            };
            let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            record.push_str(&format!("{name},sha256={digest},{}\n", bytes.len()));
        }
        let record_name = format!("{dist_info}/RECORD");
        record.push_str(&format!("{record_name},,\n"));
        files.push((record_name, record.into_bytes(), 0o644));

        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes, mode) in files {
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .last_modified_time(DateTime::default())
                .system(System::Unix)
                .unix_permissions(mode);
            zip.start_file(name, options).expect("adding a wheel entry");
            zip.write_all(&bytes).expect("writing a wheel entry");
        }
        let bytes = zip.finish().expect("finishing the wheel").into_inner();
        fs_err::create_dir_all(dir).expect("creating the wheel folder");
        let path = dir.join(self.file_name());
        fs_err::write(&path, bytes).expect("writing the wheel");
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::process::Command;

    #[test]
    fn names_are_normalized_and_escaped() {
        assert_eq!(normalize_name("My.Package__x"), "my-package-x");
        assert_eq!(escaped_name("Beep-Alpha"), "beep_alpha");
        let spec = WheelSpec {
            name: "Beep.Alpha",
            version: "1.0",
            requires: &[],
        };
        assert_eq!(wheel_file_name(&spec), "beep_alpha-1.0-py3-none-any.whl");
    }

    #[test]
    fn same_spec_gives_same_bytes_and_payload_changes_them() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        let spec = WheelSpec {
            name: "beep-alpha",
            version: "1.0",
            requires: &["beep-beta>=2"],
        };
        let first = build_wheel(a.path(), &spec);
        let second = build_wheel(b.path(), &spec);
        let tampered = build_wheel_with_payload(c.path(), &spec, "evil");
        assert_eq!(first.file_name(), tampered.file_name());
        assert_eq!(sha256_hex(&first), sha256_hex(&second));
        assert_ne!(sha256_hex(&first), sha256_hex(&tampered));
    }

    #[test]
    fn record_lists_every_file_with_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let spec = WheelSpec {
            name: "beep-alpha",
            version: "1.0",
            requires: &[],
        };
        let wheel = build_wheel_with_payload(dir.path(), &spec, "data");
        let mut zip = zip::ZipArchive::new(fs_err::File::open(&wheel).unwrap()).unwrap();
        let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        let mut record = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("beep_alpha-1.0.dist-info/RECORD").unwrap(),
            &mut record,
        )
        .unwrap();
        for name in &names {
            assert!(
                record.lines().any(|l| l.starts_with(&format!("{name},"))),
                "{name} missing from RECORD:\n{record}"
            );
        }
        assert!(record.contains("beep_alpha-1.0.dist-info/RECORD,,\n"));
        assert!(record.contains("beep_alpha/payload.txt,sha256="));
    }

    #[cfg(unix)]
    #[test]
    fn pip_installs_wheels_offline_with_their_dependencies() {
        let base = crate::common::require!(
            crate::installer::BASE_PYTHON,
            crate::installer::base_python()
        );
        let tmp = tempfile::tempdir().unwrap();
        let house = wheelhouse(
            &tmp.path().join("wheels"),
            &[
                WheelSpec {
                    name: "Beep.Alpha",
                    version: "1.2.3",
                    requires: &["beep-beta>=2"],
                },
                WheelSpec {
                    name: "beep-beta",
                    version: "2.0",
                    requires: &[],
                },
                WheelSpec {
                    name: "beep-beta",
                    version: "1.0",
                    requires: &[],
                },
            ],
        );
        let venv = tmp.path().join("venv");
        let out = Command::new(&base.path)
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let python = venv.join("bin/python");
        let out = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--no-input",
                "--disable-pip-version-check",
                "--no-index",
                "--find-links",
            ])
            .arg(&house)
            .arg("beep-alpha")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pip failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(&python)
            .args([
                "-c",
                "import beep_alpha, beep_beta; print(beep_alpha.__version__, beep_beta.__version__)",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.2.3 2.0");
    }
}
