//! Reading a conda environment from `conda-meta/*.json`, natively (no
//! process), and checking its files against those records.

use std::io::Read;
use std::path::{Path, PathBuf};

use rattler::install::PythonInfo;
use rattler_conda_types::prefix_record::PathType;
use rattler_conda_types::{PrefixRecord, Subdir};
use sha2::{Digest, Sha256};

use super::install::{locked_from_prefix_record, read_records};
use super::locked::LockedCondaPackage;
use super::{CondaError, to_hex};

/// A conda environment as its `conda-meta/` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedConda {
    pub prefix: PathBuf,
    /// Sorted by name.
    pub packages: Vec<ObservedPackage>,
    /// The `python` package's interpreter, if there is one.
    pub python: Option<CondaPython>,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedPackage {
    /// As a lock entry: what [`diff`](super::diff) compares with the
    /// desired packages. `sha256` is empty if the record has none.
    pub package: LockedCondaPackage,
    /// The files the package put in the prefix, as its record lists them.
    pub files: Vec<CondaFile>,
}

/// One installed file, relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaFile {
    pub path: PathBuf,
    pub kind: FileKind,
    /// What the file holds in the prefix (after prefix replacement), hex.
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Symlink,
    Directory,
}

/// The interpreter inside a conda environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaPython {
    pub version: String,
    /// Absolute: `<prefix>/bin/python3.X` (`python.exe` on Windows).
    pub path: PathBuf,
}

/// What is wrong with one installed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The package that owns the file.
    pub package: String,
    /// Relative to the prefix.
    pub path: PathBuf,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing,
    /// A file where a link or folder should be, or the other way round.
    WrongKind {
        expected: FileKind,
    },
    SizeChanged {
        expected: u64,
        actual: u64,
    },
    ContentChanged {
        expected: String,
        actual: String,
    },
    Unreadable {
        reason: String,
    },
}

/// How hard [`check`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckDepth {
    /// Every file exists, with the right kind and size.
    Quick,
    /// And its sha256 is the recorded one (reads every byte).
    Deep,
}

/// What a plan needs to know of a conda environment, read from
/// `conda-meta/` (kept in [`crate::venv::Observed`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CondaState {
    /// Its packages as lock entries, sorted by name.
    pub packages: Vec<LockedCondaPackage>,
    /// The `python` package's interpreter, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PathBuf>,
    /// The `python` package's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    /// Why `conda-meta/` could not be read (then nothing else is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// [`observe`], summarized for the planner; `None` when `prefix` has no
/// `conda-meta/`. Never fails: an unreadable record is
/// [`CondaState::unreadable`].
pub fn state(prefix: &Path) -> Option<CondaState> {
    match observe(prefix) {
        Ok(None) => None,
        Ok(Some(observed)) => Some(CondaState {
            packages: observed.locked(),
            python_version: observed.python.as_ref().map(|p| p.version.clone()),
            python: observed.python.map(|p| p.path),
            unreadable: None,
        }),
        Err(e) => Some(CondaState {
            unreadable: Some(super::install::error_chain(&e)),
            ..CondaState::default()
        }),
    }
}

/// The environment at `prefix`, or `None` if it has no `conda-meta/`.
/// Starts no process; fails only on an unreadable or corrupt record.
pub fn observe(prefix: &Path) -> Result<Option<ObservedConda>, CondaError> {
    if !prefix.join("conda-meta").is_dir() {
        return Ok(None);
    }
    let records = read_records(prefix)?;
    let python = records
        .iter()
        .find(|r| r.repodata_record.package_record.name.as_normalized() == "python")
        .and_then(|r| python_of(prefix, r));
    let mut packages: Vec<ObservedPackage> = records
        .iter()
        .map(|r| ObservedPackage {
            package: locked_from_prefix_record(r),
            files: files_of(r),
        })
        .collect();
    packages.sort_by(|a, b| a.package.name.cmp(&b.package.name));
    Ok(Some(ObservedConda {
        prefix: prefix.to_owned(),
        packages,
        python,
    }))
}

impl ObservedConda {
    /// The installed packages as lock entries, for [`diff`](super::diff).
    pub fn locked(&self) -> Vec<LockedCondaPackage> {
        self.packages.iter().map(|p| p.package.clone()).collect()
    }
}

fn python_of(prefix: &Path, record: &PrefixRecord) -> Option<CondaPython> {
    let package = &record.repodata_record.package_record;
    let platform = Subdir::current().unwrap_or(Subdir::Linux64);
    let info = PythonInfo::from_python_record(package, platform).ok()?;
    Some(CondaPython {
        version: package.version.to_string(),
        path: prefix.join(info.path()),
    })
}

fn files_of(record: &PrefixRecord) -> Vec<CondaFile> {
    record
        .paths_data
        .paths
        .iter()
        .map(|entry| CondaFile {
            path: entry.relative_path.clone(),
            kind: match entry.path_type {
                PathType::SoftLink => FileKind::Symlink,
                PathType::Directory => FileKind::Directory,
                PathType::HardLink
                | PathType::PycFile
                | PathType::WindowsPythonEntryPointScript
                | PathType::WindowsPythonEntryPointExe
                | PathType::UnixPythonEntryPoint
                | PathType::LinkedPackageRecord => FileKind::File,
            },
            sha256: entry.sha256_in_prefix.or(entry.sha256).map(|s| to_hex(&s)),
            size: entry.size_in_bytes,
        })
        .collect()
}

/// Every file of `observed` that is not as its record says, in package and
/// file order. Reads the disk; never fails (an unreadable file is a
/// [`Problem::Unreadable`]).
pub fn check(observed: &ObservedConda, depth: CheckDepth) -> Vec<Damage> {
    let mut damage = Vec::new();
    for package in &observed.packages {
        for file in &package.files {
            if let Some(problem) = check_file(&observed.prefix.join(&file.path), file, depth) {
                damage.push(Damage {
                    package: package.package.name.clone(),
                    path: file.path.clone(),
                    problem,
                });
            }
        }
    }
    damage
}

fn check_file(path: &Path, file: &CondaFile, depth: CheckDepth) -> Option<Problem> {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Problem::Missing),
        Err(e) => {
            return Some(Problem::Unreadable {
                reason: e.to_string(),
            });
        }
    };
    let kind = if meta.is_symlink() {
        FileKind::Symlink
    } else if meta.is_dir() {
        FileKind::Directory
    } else {
        FileKind::File
    };
    if kind != file.kind {
        return Some(Problem::WrongKind {
            expected: file.kind,
        });
    }
    match file.kind {
        FileKind::Symlink | FileKind::Directory => None,
        FileKind::File => {
            if let Some(expected) = file.size
                && expected != meta.len()
            {
                return Some(Problem::SizeChanged {
                    expected,
                    actual: meta.len(),
                });
            }
            match (depth, &file.sha256) {
                (CheckDepth::Deep, Some(expected)) => match sha256_of(path) {
                    Ok(actual) if actual.eq_ignore_ascii_case(expected) => None,
                    Ok(actual) => Some(Problem::ContentChanged {
                        expected: expected.clone(),
                        actual,
                    }),
                    Err(e) => Some(Problem::Unreadable {
                        reason: e.to_string(),
                    }),
                },
                (CheckDepth::Deep, None) | (CheckDepth::Quick, _) => None,
            }
        }
    }
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}
