//! Reading what an environment holds, natively (no Python started): each
//! `*.dist-info` folder's name and version, `REQUESTED` (the installer's
//! mark on what was asked for by name), `direct_url.json` (PEP 610: what
//! was installed from a URL, a folder or a VCS) and the `Requires-Dist`
//! lines of `METADATA`'s header.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::venv::normalize_name;

/// One installed distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dist {
    /// PEP 503 normalized.
    pub name: String,
    pub version: String,
    /// `REQUESTED` is there: it was asked for, not pulled in.
    pub requested: bool,
    /// The names it requires (normalized), each with whether only an
    /// extra asks for it.
    pub requires: Vec<Requires>,
    pub direct_url: Option<DirectUrl>,
}

/// One `Requires-Dist` line, reduced to what the export needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requires {
    pub name: String,
    /// Its marker names an `extra`: only that extra pulls it in.
    pub extra_only: bool,
}

/// `direct_url.json` (PEP 610).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectUrl {
    /// A wheel or sdist from a URL (or a `file:` URL), with its digest.
    Archive { url: String, sha256: Option<String> },
    /// A local folder (`pip install ./project`, `-e`).
    Directory { url: String, editable: bool },
    /// A version-control checkout.
    Vcs {
        url: String,
        vcs: String,
        commit: String,
    },
}

#[derive(Deserialize)]
struct RawDirectUrl {
    url: String,
    archive_info: Option<RawArchive>,
    dir_info: Option<RawDir>,
    vcs_info: Option<RawVcs>,
}

#[derive(Deserialize)]
struct RawArchive {
    hash: Option<String>,
    hashes: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct RawDir {
    #[serde(default)]
    editable: bool,
}

#[derive(Deserialize)]
struct RawVcs {
    vcs: String,
    commit_id: String,
}

/// The `site-packages` folders of the environment at `root` (one, except
/// in odd layouts).
pub fn site_packages(root: &Path, version: Option<&str>) -> Vec<PathBuf> {
    if let Some(version) = version {
        let layout = crate::venv::layout(root, version);
        if layout.site_packages.is_dir() {
            return vec![layout.site_packages];
        }
    }
    let mut found = Vec::new();
    for lib in [root.join("lib"), root.join("Lib")] {
        if lib.join("site-packages").is_dir() {
            found.push(lib.join("site-packages"));
        }
        let Ok(entries) = fs_err::read_dir(&lib) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path().join("site-packages");
            if entry.file_name().to_string_lossy().starts_with("python") && path.is_dir() {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every distribution in `site_packages`, sorted by name.
pub fn read(site_packages: &Path) -> Vec<Dist> {
    let Ok(entries) = fs_err::read_dir(site_packages) else {
        return Vec::new();
    };
    let mut out: Vec<Dist> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let stem = file_name.to_str()?.strip_suffix(".dist-info")?.to_string();
            read_one(&entry.path(), &stem)
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

fn read_one(dist_info: &Path, stem: &str) -> Option<Dist> {
    let (mut name, mut version) = match stem.split_once('-') {
        Some((n, v)) => (Some(n.to_string()), Some(v.to_string())),
        None => (Some(stem.to_string()), None),
    };
    let mut requires = Vec::new();
    if let Ok(file) = fs_err::File::open(dist_info.join("METADATA")) {
        let mut reader = BufReader::with_capacity(8192, file);
        let (mut header_name, mut header_version) = (None, None);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.trim_end_matches(['\r', '\n']);
            if text.is_empty() {
                break;
            }
            let Some((key, value)) = text.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "name" if header_name.is_none() => header_name = Some(value.to_string()),
                "version" if header_version.is_none() => header_version = Some(value.to_string()),
                "requires-dist" => {
                    if let Some(requirement) = requires_of(value) {
                        requires.push(requirement);
                    }
                }
                _ => {}
            }
        }
        name = header_name.or(name);
        version = header_version.or(version);
    }
    let direct_url = fs_err::read_to_string(dist_info.join("direct_url.json"))
        .ok()
        .and_then(|text| parse_direct_url(&text));
    Some(Dist {
        name: normalize_name(&name?),
        version: version.unwrap_or_default(),
        requested: dist_info.join("REQUESTED").is_file(),
        requires,
        direct_url,
    })
}

/// The name a PEP 508 requirement starts with, normalized.
pub fn requirement_name(requirement: &str) -> Option<String> {
    let trimmed = requirement.trim_start();
    let end = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(trimmed.len());
    let name = trimmed[..end].trim_end_matches(['.', '-', '_']);
    (!name.is_empty()).then(|| normalize_name(name))
}

fn requires_of(value: &str) -> Option<Requires> {
    let name = requirement_name(value)?;
    let marker = value.split_once(';').map(|(_, m)| m).unwrap_or("");
    Some(Requires {
        name,
        extra_only: marker.contains("extra"),
    })
}

fn parse_direct_url(text: &str) -> Option<DirectUrl> {
    let raw: RawDirectUrl = serde_json::from_str(text).ok()?;
    if let Some(vcs) = raw.vcs_info {
        return Some(DirectUrl::Vcs {
            url: raw.url,
            vcs: vcs.vcs,
            commit: vcs.commit_id,
        });
    }
    if let Some(dir) = raw.dir_info {
        return Some(DirectUrl::Directory {
            url: raw.url,
            editable: dir.editable,
        });
    }
    let archive = raw.archive_info?;
    let sha256 = archive
        .hashes
        .as_ref()
        .and_then(|h| h.get("sha256").cloned())
        .or_else(|| {
            archive
                .hash
                .as_deref()
                .and_then(|h| h.strip_prefix("sha256="))
                .map(str::to_string)
        })
        .filter(|h| crate::fetch::is_sha256(h))
        .map(|h| h.to_ascii_lowercase());
    Some(DirectUrl::Archive {
        url: raw.url,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requested_direct_urls_and_requirements() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path();
        let a = site.join("Alpha_Pkg-1.0.dist-info");
        fs_err::create_dir(&a).unwrap();
        fs_err::write(
            a.join("METADATA"),
            "Metadata-Version: 2.1\nName: Alpha.Pkg\nVersion: 1.0\nRequires-Dist: beta (>=2)\nRequires-Dist: gamma[x]>=1; extra == \"test\"\n\nRequires-Dist: not-in-header\n",
        )
        .unwrap();
        fs_err::write(a.join("REQUESTED"), "").unwrap();
        fs_err::write(
            a.join("direct_url.json"),
            r#"{"url": "file:///w/alpha.whl", "archive_info": {"hash": "sha256=AB", "hashes": {"sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF"}}}"#,
        )
        .unwrap();
        let b = site.join("beta-2.0.dist-info");
        fs_err::create_dir(&b).unwrap();
        fs_err::write(
            b.join("direct_url.json"),
            r#"{"url": "file:///src/beta", "dir_info": {"editable": true}}"#,
        )
        .unwrap();
        let dists = read(site);
        assert_eq!(dists.len(), 2);
        assert_eq!(dists[0].name, "alpha-pkg");
        assert!(dists[0].requested);
        assert_eq!(
            dists[0].requires,
            vec![
                Requires {
                    name: "beta".into(),
                    extra_only: false
                },
                Requires {
                    name: "gamma".into(),
                    extra_only: true
                },
            ]
        );
        assert_eq!(
            dists[0].direct_url,
            Some(DirectUrl::Archive {
                url: "file:///w/alpha.whl".into(),
                sha256: Some(
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into()
                ),
            })
        );
        assert_eq!(dists[1].version, "2.0");
        assert!(!dists[1].requested);
        assert_eq!(
            dists[1].direct_url,
            Some(DirectUrl::Directory {
                url: "file:///src/beta".into(),
                editable: true
            })
        );
    }

    #[test]
    fn requirement_names_are_read_from_pep508_strings() {
        assert_eq!(requirement_name("Rich>=13").as_deref(), Some("rich"));
        assert_eq!(
            requirement_name("  zope.interface [x]").as_deref(),
            Some("zope-interface")
        );
        assert_eq!(
            requirement_name("a @ https://x/a.whl").as_deref(),
            Some("a")
        );
        assert_eq!(requirement_name(">=1"), None);
    }
}
