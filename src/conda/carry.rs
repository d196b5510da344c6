//! Carrying a conda environment elsewhere: what `export` reads from a
//! prefix (the specs that were asked for, each package's channel) and what
//! `apply --bundle` lays out (a folder channel of the bundle's packages).
//!
//! - [`requested_specs`]: `conda-meta/history`'s `# update specs` /
//!   `# install specs` / `# remove specs` lines folded by package name, as
//!   conda's own `History.get_requested_specs_map` does (conda and
//!   beep-python write them); failing that the records' `requested_spec(s)`;
//!   failing that every package no other installed package depends on.
//! - [`channel_of`]: a package's channel from its `url` (`<channel>/<subdir>/
//!   <file>`), which conda and rattler both record, rather than the record's
//!   `channel` field, which older conda writes with the subdir appended.
//! - [`write_channel`]: `<dir>/<subdir>/<file>` for each package and a
//!   `repodata.json` per subdir (`noarch` always), built from the packages'
//!   own `info/index.json` with their sha256, md5 and size: a channel the
//!   solver reads like any other.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use rattler_conda_types::PackageRecord;
use rattler_conda_types::package::{CondaArchiveIdentifier, IndexJson, PackageFile};
use rattler_digest::{Md5, Sha256};

use super::install::read_records;
use super::locked::LockedCondaPackage;
use super::specs::spec_name;
use super::{CondaError, to_hex};

/// The match specs the user asked for in the environment at `prefix` (see
/// the module docs), in the order they were first asked for.
pub fn requested_specs(prefix: &Path) -> Result<Vec<String>, CondaError> {
    let history = match fs_err::read_to_string(prefix.join("conda-meta").join("history")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CondaError::Io(e)),
    };
    let from_history = specs_from_history(&history);
    if !from_history.is_empty() {
        return Ok(from_history);
    }
    let records = read_records(prefix)?;
    let mut asked: Vec<String> = Vec::new();
    for record in &records {
        #[allow(deprecated)]
        let old = record.requested_spec.iter();
        for spec in record.requested_specs.iter().chain(old) {
            let spec = spec.trim();
            if !spec.is_empty() && spec != "None" && !asked.iter().any(|a| a == spec) {
                asked.push(spec.to_owned());
            }
        }
    }
    if !asked.is_empty() {
        return Ok(asked);
    }
    // Nothing says what was asked for: the packages nothing else needs.
    let needed: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.repodata_record.package_record.depends.iter())
        .filter_map(|d| spec_name(d))
        .collect();
    let mut leaves: Vec<String> = records
        .iter()
        .map(|r| {
            r.repodata_record
                .package_record
                .name
                .as_normalized()
                .to_owned()
        })
        .filter(|name| !needed.contains(name))
        .collect();
    leaves.sort();
    Ok(leaves)
}

/// The requested specs `history` leaves in force, by package name.
fn specs_from_history(history: &str) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for line in history.lines() {
        let Some(rest) = line.trim().strip_prefix('#') else {
            continue;
        };
        let Some((action, list)) = rest.trim().split_once(" specs:") else {
            continue;
        };
        let add = match action.trim() {
            "update" | "install" | "create" | "neutered" => true,
            "remove" | "uninstall" => false,
            _ => continue,
        };
        for spec in quoted_items(list) {
            let Some(name) = spec_name(&spec) else {
                continue;
            };
            if add {
                if !by_name.contains_key(&name) {
                    order.push(name.clone());
                }
                by_name.insert(name, spec);
            } else {
                by_name.remove(&name);
                order.retain(|n| *n != name);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|name| by_name.remove(&name))
        .collect()
}

/// The quoted strings of a JSON (`["a", "b"]`) or Python (`['a', 'b']`)
/// list.
fn quoted_items(list: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        if c != '\'' && c != '"' {
            continue;
        }
        let mut item = String::new();
        for d in chars.by_ref() {
            if d == c {
                break;
            }
            item.push(d);
        }
        let item = item.trim();
        if !item.is_empty() {
            items.push(item.to_owned());
        }
    }
    items
}

/// The channel `package` came from, with a trailing slash: its url without
/// `<subdir>/<file>`, else its recorded channel without a trailing subdir.
pub fn channel_of(package: &LockedCondaPackage) -> String {
    let suffix = format!("/{}/{}", package.subdir, package.file_name);
    if let Some(channel) = package.url.strip_suffix(&suffix)
        && !channel.is_empty()
    {
        return format!("{channel}/");
    }
    let channel = package.channel.trim_end_matches('/');
    let channel = channel
        .strip_suffix(&format!("/{}", package.subdir))
        .unwrap_or(channel);
    format!("{channel}/")
}

/// Lays out `dir` as a conda channel holding `packages` (each with the
/// verified archive it is in), `repodata.json` included; `dir` must not
/// exist yet, or be empty. Archives are hard-linked where they can be,
/// copied otherwise.
pub fn write_channel(
    dir: &Path,
    packages: &[(LockedCondaPackage, PathBuf)],
    platform: &str,
) -> Result<(), CondaError> {
    let mut subdirs: BTreeMap<String, (serde_json::Map<_, _>, serde_json::Map<_, _>)> =
        BTreeMap::new();
    for subdir in ["noarch", platform] {
        subdirs.entry(subdir.to_owned()).or_default();
    }
    for (package, archive) in packages {
        let record = record_of(package, archive)?;
        let folder = dir.join(&package.subdir);
        fs_err::create_dir_all(&folder).map_err(CondaError::Io)?;
        let to = folder.join(&package.file_name);
        if fs_err::hard_link(archive, &to).is_err() {
            fs_err::copy(archive, &to).map_err(CondaError::Io)?;
        }
        let (tar_bz2, conda) = subdirs.entry(package.subdir.clone()).or_default();
        let map = if package.file_name.ends_with(".conda") {
            conda
        } else {
            tar_bz2
        };
        map.insert(package.file_name.clone(), record);
    }
    for (subdir, (tar_bz2, conda)) in subdirs {
        let folder = dir.join(&subdir);
        fs_err::create_dir_all(&folder).map_err(CondaError::Io)?;
        let repodata = serde_json::json!({
            "info": {"subdir": subdir},
            "packages": tar_bz2,
            "packages.conda": conda,
            "removed": [],
            "repodata_version": 1,
        });
        let text = serde_json::to_vec_pretty(&repodata).map_err(std::io::Error::other);
        crate::venv::write_atomic(
            &folder.join("repodata.json"),
            &text.map_err(CondaError::Io)?,
            false,
            true,
        )
        .map_err(CondaError::Io)?;
    }
    Ok(())
}

/// The repodata record of `package`, from its archive's `info/index.json`
/// and the lock's digests.
fn record_of(
    package: &LockedCondaPackage,
    archive: &Path,
) -> Result<serde_json::Value, CondaError> {
    let bad = |reason: String| CondaError::Extract {
        file: package.file_name.clone(),
        reason,
    };
    let identifier = CondaArchiveIdentifier::try_from_filename(&package.file_name)
        .ok_or_else(|| bad("not a conda archive name".to_owned()))?;
    let file = fs_err::File::open(archive).map_err(CondaError::Io)?;
    let bytes = rattler_package_streaming::seek::read_package_file_content(
        file,
        identifier.archive_type,
        IndexJson::package_path(),
    )
    .map_err(|e| bad(e.to_string()))?;
    let index = IndexJson::from_str(&String::from_utf8_lossy(&bytes))
        .map_err(|e| bad(format!("its `info/index.json`: {e}")))?;
    let size = fs_err::metadata(archive).map_err(CondaError::Io)?.len();
    let md5 = match &package.md5 {
        Some(md5) => rattler_digest::parse_digest_from_hex::<Md5>(md5),
        None => {
            let mut file = fs_err::File::open(archive).map_err(CondaError::Io)?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(CondaError::Io)?;
            Some(rattler_digest::compute_bytes_digest::<Md5>(&bytes))
        }
    };
    let sha256 = rattler_digest::parse_digest_from_hex::<Sha256>(&package.sha256);
    let record = PackageRecord::from_index_json(index, Some(size), sha256, md5)
        .map_err(|e| bad(e.to_string()))?;
    serde_json::to_value(&record).map_err(|e| bad(e.to_string()))
}

/// Lowercase hex sha256 and md5 of a file, for a record that has none.
pub fn digests_of(path: &Path) -> Result<(String, String), CondaError> {
    let mut file = fs_err::File::open(path).map_err(CondaError::Io)?;
    let mut sha = rattler_digest::Sha256::default();
    let mut md5 = rattler_digest::Md5::default();
    let mut buffer = vec![0u8; 64 * 1024];
    use rattler_digest::digest::Digest as _;
    loop {
        let n = file.read(&mut buffer).map_err(CondaError::Io)?;
        if n == 0 {
            break;
        }
        sha.update(&buffer[..n]);
        md5.update(&buffer[..n]);
    }
    Ok((to_hex(&sha.finalize()), to_hex(&md5.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_specs_fold_by_name_in_the_order_first_asked() {
        let history = "==> 2024-01-01 <==\n# cmd: conda create -n x python=3.11 numpy\n+defaults/linux-64::python-3.11.0-0\n# update specs: ['python=3.11', 'numpy']\n==> 2024-01-02 <==\n# install specs: [\"pandas >=2\", \"numpy >=1.26,<2\"]\n# remove specs: ['pandas']\n# update specs: [\"requests\"]\n";
        assert_eq!(
            specs_from_history(history),
            ["python=3.11", "numpy >=1.26,<2", "requests"]
        );
        assert!(specs_from_history("# cmd: whatever\n").is_empty());
    }

    #[test]
    fn a_package_s_channel_comes_from_its_url() {
        let mut package = super::super::locked::tests::package("a", "1", 'a');
        package.url = "https://conda.example/forge/noarch/a-1-0.tar.bz2".to_owned();
        package.channel = "https://conda.example/forge/noarch".to_owned();
        assert_eq!(channel_of(&package), "https://conda.example/forge/");
        package.url = "https://mirror.example/a-1-0.tar.bz2".to_owned();
        assert_eq!(channel_of(&package), "https://conda.example/forge/");
    }
}
