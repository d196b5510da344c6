//! Finding the file a locked package names, by its sha256: in the download
//! cache, in local folders (the manifest's `find-links`), hashed here, or
//! from the lock's `url` through the download cache. `bundle create`,
//! `export` and `export --format pylock` use it.
//!
//! A folder is listed once; only the files whose name says they are the
//! package's (`<name>-<version>-...whl`, `<name>-<version>.tar.gz`, PEP 503
//! normalized, PEP 440 compared) are hashed, each at most once.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::fetch;
use crate::lockfile::{LockedFile, LockedPackage};
use crate::venv::normalize_name;

/// Where artifacts are looked for.
#[derive(Debug)]
pub struct ArtifactSources {
    dirs: Vec<PathBuf>,
    cache: fetch::Cache,
    options: fetch::Options,
    listing: OnceLock<Vec<Candidate>>,
    hashed: Mutex<HashMap<PathBuf, Option<String>>>,
}

/// A file in a local folder that may be a package's artifact.
#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    name: String,
    version: String,
}

/// An artifact found, verified by its sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// The file's name as pip and uv need it (`alpha-1.0-py3-none-any.whl`).
    pub file_name: String,
    /// Lowercase hex.
    pub sha256: String,
    /// The URL it came from, if it was downloaded (never a local path).
    pub url: Option<String>,
}

/// What looking for one package's artifact gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Found),
    /// Why nothing was found, for the error that lists every missing pin.
    Missing(String),
}

impl ArtifactSources {
    /// Looks in `dirs` (folders; anything else is skipped), then downloads
    /// the lock's `url` into `cache` with `options`.
    pub fn new(dirs: Vec<PathBuf>, cache: fetch::Cache, options: fetch::Options) -> Self {
        ArtifactSources {
            dirs: dirs.into_iter().filter(|d| d.is_dir()).collect(),
            cache,
            options,
            listing: OnceLock::new(),
            hashed: Mutex::new(HashMap::new()),
        }
    }

    /// An artifact of `package` whose sha256 is one of its hashes.
    pub fn find(&self, package: &LockedPackage, cancel: &AtomicBool) -> Lookup {
        let wanted: Vec<&str> = package
            .hashes
            .iter()
            .filter_map(|h| h.strip_prefix("sha256:"))
            .collect();
        if wanted.is_empty() {
            return Lookup::Missing("the lock has no sha256 for it".into());
        }
        for candidate in self.candidates(&package.name, &package.version) {
            if let Some(sha) = self.hash_of(&candidate.path)
                && wanted.contains(&sha.as_str())
            {
                return Lookup::Found(Found {
                    file_name: file_name(&candidate.path),
                    path: candidate.path.clone(),
                    sha256: sha,
                    url: None,
                });
            }
        }
        let Some(url) = &package.url else {
            return Lookup::Missing(format!(
                "the lock has no url for it, and {}",
                self.searched()
            ));
        };
        let name = url_file_name(url);
        let mut last_error = String::new();
        for sha in &wanted {
            if let Some(path) = self.cache.get(sha) {
                return Lookup::Found(Found {
                    path,
                    file_name: name,
                    sha256: sha.to_string(),
                    url: Some(url.clone()),
                });
            }
        }
        for sha in &wanted {
            match fetch::fetch(
                url,
                sha,
                &self.cache,
                &self.options,
                &fetch::NoProgress,
                cancel,
            ) {
                Ok(path) => {
                    return Lookup::Found(Found {
                        path,
                        file_name: name,
                        sha256: sha.to_string(),
                        url: Some(url.clone()),
                    });
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        Lookup::Missing(last_error)
    }

    /// The artifact the lock names by `file` (its name, url and sha256):
    /// the download cache by its sha256, else a local file of the package
    /// with that sha256 (the one of the same name first), else its `url`.
    /// What is found goes by the lock's name for it, which is the name the
    /// native installer looks for in a `find-links` folder.
    pub fn find_file(
        &self,
        package: &LockedPackage,
        file: &LockedFile,
        cancel: &AtomicBool,
    ) -> Lookup {
        let sha = file.sha256.to_ascii_lowercase();
        let found = |path: PathBuf, url: Option<String>| {
            Lookup::Found(Found {
                path,
                file_name: file.name.clone(),
                sha256: sha.clone(),
                url,
            })
        };
        if let Some(path) = self.cache.get(&sha) {
            return found(path, file.url.clone());
        }
        let mut local = self.candidates(&package.name, &package.version);
        local.sort_by_key(|c| self::file_name(&c.path) != file.name);
        for candidate in local {
            if self.hash_of(&candidate.path).as_deref() == Some(sha.as_str()) {
                return found(candidate.path.clone(), None);
            }
        }
        let Some(url) = &file.url else {
            return Lookup::Missing(format!(
                "`{}` is not in the download cache, the lock has no url for it, and {}",
                file.name,
                self.searched()
            ));
        };
        match fetch::fetch(
            url,
            &sha,
            &self.cache,
            &self.options,
            &fetch::NoProgress,
            cancel,
        ) {
            Ok(path) => found(path, Some(url.clone())),
            Err(e) => Lookup::Missing(format!("`{}`: {e}", file.name)),
        }
    }

    /// Where local files were looked for, for a message.
    fn searched(&self) -> String {
        if self.dirs.is_empty() {
            "the manifest names no `find-links` folder".into()
        } else {
            format!(
                "no file in {} has its sha256",
                self.dirs
                    .iter()
                    .map(|d| format!("`{}`", d.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }

    /// Every local file of `package` whose sha256 is one of its hashes.
    pub fn local(&self, package: &LockedPackage) -> Vec<Found> {
        let wanted: Vec<&str> = package
            .hashes
            .iter()
            .filter_map(|h| h.strip_prefix("sha256:"))
            .collect();
        self.candidates(&package.name, &package.version)
            .into_iter()
            .filter_map(|c| {
                let sha = self.hash_of(&c.path)?;
                wanted.contains(&sha.as_str()).then(|| Found {
                    file_name: file_name(&c.path),
                    path: c.path.clone(),
                    sha256: sha,
                    url: None,
                })
            })
            .collect()
    }

    /// Every local file that is an artifact of `name` `version`, hashed:
    /// the artifacts `export` records for a pin.
    pub fn files_for(&self, name: &str, version: &str) -> Vec<Found> {
        self.candidates(name, version)
            .into_iter()
            .filter_map(|c| {
                Some(Found {
                    sha256: self.hash_of(&c.path)?,
                    file_name: file_name(&c.path),
                    path: c.path.clone(),
                    url: None,
                })
            })
            .collect()
    }

    fn candidates(&self, name: &str, version: &str) -> Vec<&Candidate> {
        let listing = self.listing.get_or_init(|| list(&self.dirs));
        let want = pep440_rs::Version::from_str(version).ok();
        listing
            .iter()
            .filter(|c| c.name == name)
            .filter(
                |c| match (&want, pep440_rs::Version::from_str(&c.version)) {
                    (Some(a), Ok(b)) => *a == b,
                    _ => c.version == version,
                },
            )
            .collect()
    }

    fn hash_of(&self, path: &Path) -> Option<String> {
        let mut hashed = self
            .hashed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        hashed
            .entry(path.to_path_buf())
            .or_insert_with(|| sha256_file(path).ok())
            .clone()
    }
}

/// Every file in `dirs` whose name is a wheel's or an sdist's.
fn list(dirs: &[PathBuf]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs_err::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            if let Some((name, version)) = dist_of_file(&file_name(&path)) {
                out.push(Candidate {
                    path,
                    name,
                    version,
                });
            }
        }
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The last segment of a URL's path, without its query or fragment.
pub fn url_file_name(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => parsed
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_string))
            .map(|s| percent_decode(&s))
            .unwrap_or_default(),
        Err(_) => url.rsplit('/').next().unwrap_or(url).to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The normalized distribution name and the version a file name says:
/// `{name}-{version}(-{build})?-{py}-{abi}-{platform}.whl`, or an sdist
/// `{name}-{version}.tar.gz` (or `.zip`).
pub(crate) fn dist_of_file(name: &str) -> Option<(String, String)> {
    if let Some(stem) = name.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() < 5 || parts.len() > 6 {
            return None;
        }
        return Some((normalize_name(parts[0]), parts[1].replace('_', "-")));
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))?;
    let (dist, version) = stem.rsplit_once('-')?;
    (!dist.is_empty() && !version.is_empty()).then(|| (normalize_name(dist), version.to_string()))
}

/// The sha256 of a file, lowercase hex, read in 64 KiB chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_say_their_distribution() {
        assert_eq!(
            dist_of_file("Beep_Alpha-1.0.0-py3-none-any.whl"),
            Some(("beep-alpha".into(), "1.0.0".into()))
        );
        assert_eq!(
            dist_of_file("numpy-1.26.4-1-cp311-cp311-manylinux_2_17_x86_64.whl"),
            Some(("numpy".into(), "1.26.4".into()))
        );
        assert_eq!(
            dist_of_file("zope.interface-6.0.tar.gz"),
            Some(("zope-interface".into(), "6.0".into()))
        );
        assert_eq!(dist_of_file("README.md"), None);
        assert_eq!(dist_of_file("a-b.whl"), None);
    }

    #[test]
    fn url_file_names_drop_queries_and_decode() {
        assert_eq!(
            url_file_name("https://files.example/p/a/alpha-1.0-py3-none-any.whl#sha256=ab"),
            "alpha-1.0-py3-none-any.whl"
        );
        assert_eq!(
            url_file_name("https://x.example/cpython-3.11.9%2B20240726-x86_64.tar.gz?x=1"),
            "cpython-3.11.9+20240726-x86_64.tar.gz"
        );
        assert_eq!(url_file_name("/mirror/a.tar.gz"), "a.tar.gz");
    }

    #[test]
    fn a_file_is_found_by_its_hash_among_namesakes() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("alpha-1.0-py3-none-any.whl"), b"one").unwrap();
        let other = dir.path().join("alpha-1.0-py2-none-any.whl");
        fs_err::write(&other, b"two").unwrap();
        let sha = sha256_file(&other).unwrap();
        let sources = ArtifactSources::new(
            vec![dir.path().to_path_buf()],
            fetch::Cache::new(dir.path().join("cache")),
            fetch::Options {
                offline: true,
                ..fetch::Options::default()
            },
        );
        let package = LockedPackage {
            name: "alpha".into(),
            version: "1.0.0".into(),
            url: None,
            hashes: vec![format!("sha256:{sha}")],
            files: Vec::new(),
        };
        let Lookup::Found(found) = sources.find(&package, &AtomicBool::new(false)) else {
            panic!("not found");
        };
        assert_eq!(found.path, other);
        assert_eq!(found.file_name, "alpha-1.0-py2-none-any.whl");

        let absent = LockedPackage {
            hashes: vec![format!("sha256:{}", "0".repeat(64))],
            ..package
        };
        let Lookup::Missing(reason) = sources.find(&absent, &AtomicBool::new(false)) else {
            panic!("found a file with another hash");
        };
        assert!(reason.contains("no url"), "{reason}");
    }

    #[test]
    fn a_locked_file_is_found_by_its_sha256_and_goes_by_the_lock_s_name() {
        let dir = tempfile::tempdir().unwrap();
        let wheels = dir.path().join("wheels");
        fs_err::create_dir(&wheels).unwrap();
        // Renamed on disk: found by its digest among the package's files.
        let local = wheels.join("alpha-1.0-py3-none-any.whl");
        fs_err::write(&local, b"local").unwrap();
        let local_sha = sha256_file(&local).unwrap();
        let cache = fetch::Cache::new(dir.path().join("cache"));
        let sources = ArtifactSources::new(
            vec![wheels.clone()],
            cache.clone(),
            fetch::Options {
                offline: true,
                ..fetch::Options::default()
            },
        );
        let file = |name: &str, sha: &str| LockedFile {
            name: name.into(),
            url: None,
            sha256: sha.into(),
        };
        let package = LockedPackage::new("alpha", "1.0", vec![]);
        let cancel = AtomicBool::new(false);
        let wanted = file("alpha-1.0-cp311-cp311-linux_x86_64.whl", &local_sha);
        let Lookup::Found(found) = sources.find_file(&package, &wanted, &cancel) else {
            panic!("not found");
        };
        assert_eq!(found.path, local);
        assert_eq!(found.file_name, "alpha-1.0-cp311-cp311-linux_x86_64.whl");

        // The download cache comes first, by digest alone.
        fs_err::create_dir_all(cache.root()).unwrap();
        fs_err::write(cache.path_of(&"c".repeat(64)), b"cached").unwrap();
        let cached = file("alpha-1.0-py3-none-any.whl", &"c".repeat(64));
        let Lookup::Found(found) = sources.find_file(&package, &cached, &cancel) else {
            panic!("not found in the cache");
        };
        assert_eq!(found.path, cache.path_of(&"c".repeat(64)));

        let absent = file("alpha-1.0-py3-none-any.whl", &"0".repeat(64));
        let Lookup::Missing(reason) = sources.find_file(&package, &absent, &cancel) else {
            panic!("found a file with another hash");
        };
        assert!(
            reason.contains("`alpha-1.0-py3-none-any.whl` is not in the download cache")
                && reason.contains("no file in"),
            "{reason}"
        );
    }
}
