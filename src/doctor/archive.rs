//! `runtime-files`: a managed runtime's files against the verified archive
//! in the download cache it was unpacked from. The archive is streamed
//! once; each regular file is hashed on both sides (`--deep` only: a
//! runtime is tens of megabytes).
//!
//! The archive's layout is the extractor's: python-build-standalone puts
//! everything under `python/`, a `url` archive may hold one top folder;
//! whichever prefix every entry shares and the runtime folder does not
//! hold is stripped. Bytecode (`__pycache__`, `*.pyc`) and what the
//! `configure` step writes (`bin/python`, `bin/python3`, an embeddable
//! `._pth`) are not compared; extra files in the folder (our marker) are
//! not damage.

use std::fmt;
use std::io::{self, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::archive::{self, Format};

/// How a runtime folder differs from its archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Relative paths.
    pub missing: Vec<String>,
    pub altered: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.altered.is_empty()
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[String]| {
            let shown: Vec<&str> = items.iter().take(3).map(String::as_str).collect();
            let more = items.len().saturating_sub(3);
            if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            }
        };
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} missing ({})",
                self.missing.len(),
                list(&self.missing)
            ));
        }
        if !self.altered.is_empty() {
            parts.push(format!(
                "{} altered ({})",
                self.altered.len(),
                list(&self.altered)
            ));
        }
        f.write_str(&parts.join(", "))
    }
}

/// One entry of the archive.
enum Kind {
    File,
    Link,
    Other,
}

/// Compares `root` with `archive`. `Err` says why it could not be read.
pub fn compare(archive_path: &Path, root: &Path) -> Result<Diff, String> {
    let format = archive::detect(archive_path).ok_or("the archive's format is unknown")?;
    // Pass 1: names only, to find the prefix the extractor stripped.
    let mut names = Vec::new();
    walk(archive_path, format, &mut |name, kind, _| {
        if !matches!(kind, Kind::Other) {
            names.push(name.to_string());
        }
        Ok(())
    })?;
    let prefix = common_top(&names).filter(|top| !root.join(top).exists());
    let mut diff = Diff::default();
    walk(archive_path, format, &mut |name, kind, reader| {
        let Some(rel) = relative(name, prefix.as_deref()) else {
            return Ok(());
        };
        if skipped(&rel) {
            return Ok(());
        }
        let path = root.join(&rel);
        match kind {
            Kind::Other => {}
            Kind::Link => {
                if fs_err::symlink_metadata(&path).is_err() {
                    diff.missing.push(rel);
                }
            }
            Kind::File => match fs_err::File::open(&path) {
                Err(_) => diff.missing.push(rel),
                Ok(file) => {
                    let expected = hash(reader)?;
                    let found = hash(&mut BufReader::new(file))?;
                    if expected != found {
                        diff.altered.push(rel);
                    }
                }
            },
        }
        Ok(())
    })?;
    diff.missing.sort();
    diff.altered.sort();
    Ok(diff)
}

fn hash(reader: &mut dyn Read) -> Result<Vec<u8>, String> {
    let mut hasher = Sha256::new();
    io::copy(reader, &mut hasher).map_err(|e| e.to_string())?;
    Ok(hasher.finalize().to_vec())
}

/// The first folder every name shares, if there is one.
fn common_top(names: &[String]) -> Option<String> {
    let mut top: Option<&str> = None;
    for name in names {
        let (first, rest) = name.trim_start_matches("./").split_once('/')?;
        if rest.is_empty() {
            return None;
        }
        match top {
            None => top = Some(first),
            Some(t) if t == first => {}
            Some(_) => return None,
        }
    }
    top.map(str::to_string)
}

fn relative(name: &str, prefix: Option<&str>) -> Option<String> {
    let name = name.trim_start_matches("./").trim_end_matches('/');
    let rel = match prefix {
        Some(p) => name.strip_prefix(p)?.strip_prefix('/')?,
        None => name,
    };
    (!rel.is_empty() && !rel.split('/').any(|c| c == ".." || c.is_empty())).then(|| rel.to_string())
}

/// Bytecode, and what `configure` rewrites.
fn skipped(rel: &str) -> bool {
    rel.split('/').any(|c| c == "__pycache__")
        || rel.ends_with(".pyc")
        || rel == "bin/python"
        || rel == "bin/python3"
        || rel.ends_with("._pth")
}

type Visit<'a> = dyn FnMut(&str, Kind, &mut dyn Read) -> Result<(), String> + 'a;

fn walk(path: &Path, format: Format, visit: &mut Visit<'_>) -> Result<(), String> {
    let file = fs_err::File::open(path).map_err(|e| e.to_string())?;
    match format {
        Format::TarGz => tar_entries(flate2::read::MultiGzDecoder::new(file), visit),
        Format::TarZst => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(BufReader::new(file))
                .map_err(|e| format!("not a zstd stream: {e}"))?;
            tar_entries(decoder, visit)
        }
        Format::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| e.to_string())?;
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).map_err(|e| e.to_string())?;
                let name = entry.name().map_err(|e| e.to_string())?.to_string();
                let kind = if entry.is_dir() {
                    Kind::Other
                } else if entry.is_symlink() {
                    Kind::Link
                } else {
                    Kind::File
                };
                visit(&name, kind, &mut entry)?;
            }
            Ok(())
        }
    }
}

fn tar_entries<R: Read>(reader: R, visit: &mut Visit<'_>) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                Kind::File
            }
            tar::EntryType::Symlink => Kind::Link,
            _ => Kind::Other,
        };
        visit(&name, kind, &mut entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_and_an_altered_file_are_found_and_bytecode_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("rt.tar.gz");
        {
            let file = fs_err::File::create(&archive).unwrap();
            let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            for (name, body) in [
                ("python/bin/python3.11", "exe"),
                ("python/lib/os.py", "os"),
                ("python/lib/re.py", "re"),
                ("python/lib/__pycache__/os.cpython-311.pyc", "pyc"),
            ] {
                let mut header = tar::Header::new_gnu();
                header.set_size(body.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                tar.append_data(&mut header, name, body.as_bytes()).unwrap();
            }
            tar.into_inner().unwrap().finish().unwrap();
        }
        let root = dir.path().join("root");
        fs_err::create_dir_all(root.join("bin")).unwrap();
        fs_err::create_dir_all(root.join("lib")).unwrap();
        fs_err::write(root.join("bin/python3.11"), "exe").unwrap();
        fs_err::write(root.join("lib/os.py"), "changed").unwrap();
        let diff = compare(&archive, &root).unwrap();
        assert_eq!(diff.missing, vec!["lib/re.py".to_string()]);
        assert_eq!(diff.altered, vec!["lib/os.py".to_string()]);
        assert_eq!(
            diff.to_string(),
            "1 missing (lib/re.py), 1 altered (lib/os.py)"
        );
    }
}
