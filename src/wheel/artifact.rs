//! From a pin to a wheel file on this machine: the download cache, a
//! `find-links` folder, or a download through [`crate::fetch`], always
//! verified against the pin's sha256 before use.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::tags::WheelName;
use super::{Options, Pin, Target, WheelError};
use crate::fetch;

/// A verified wheel file.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub path: PathBuf,
    /// Its sha256, lowercase hex: the key of its unpacked cache entry.
    pub sha256: String,
    /// Its file name, for messages.
    pub label: String,
}

/// The wheels of the `find-links` folders, listed once per install.
#[derive(Debug, Default)]
pub struct FindLinks {
    wheels: Vec<(PathBuf, String, WheelName)>,
}

impl FindLinks {
    /// Lists the `*.whl` files directly in each folder (unreadable folders
    /// are skipped: a pin that needed them says what was searched).
    pub fn scan(folders: &[PathBuf]) -> FindLinks {
        let mut wheels = Vec::new();
        for folder in folders {
            let Ok(entries) = fs_err::read_dir(folder) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let file = entry.file_name().to_string_lossy().into_owned();
                if let Some(parsed) = WheelName::parse(&file) {
                    wheels.push((entry.path(), file, parsed));
                }
            }
        }
        wheels.sort_by(|a, b| a.0.cmp(&b.0));
        FindLinks { wheels }
    }
}

/// The file name a pin names, from its `file` or the last segment of its URL.
pub fn file_name(pin: &Pin) -> Option<String> {
    if let Some(file) = &pin.file {
        return Some(file.clone());
    }
    let url = pin.url.as_deref()?;
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit(['/', '\\']).next()?;
    let decoded = percent_decode(last);
    (!decoded.is_empty()).then_some(decoded)
}

/// `%2B` -> `+`; a `+` stays a `+` (this is a path, not a form).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Finds, fetches and verifies the wheel for `pin`.
pub fn resolve(
    pin: &Pin,
    target: &Target,
    opts: &Options<'_>,
    find_links: &FindLinks,
) -> Result<Artifact, WheelError> {
    if pin.hashes.is_empty() {
        return Err(WheelError::NoHash {
            package: pin.name.clone(),
            version: pin.version.clone(),
        });
    }
    let named = file_name(pin);
    if let Some(file) = &named {
        check_file_name(pin, file, target)?;
    }
    let label = named
        .clone()
        .unwrap_or_else(|| format!("{} {}", pin.name, pin.version));

    let cache = fetch::Cache::new(opts.cache_dir.join("downloads"));
    for hash in &pin.hashes {
        if let Some(path) = cache.get(hash) {
            return Ok(Artifact {
                path,
                sha256: hash.clone(),
                label,
            });
        }
    }

    // find-links: the pin's version of the package, best fitting file first.
    let version = pin.version_parsed();
    let mut candidates: Vec<(u32, &PathBuf, &String)> = find_links
        .wheels
        .iter()
        .filter(|(_, file, parsed)| {
            parsed.name == pin.name
                && version.as_ref().is_some_and(|v| *v == parsed.version)
                && named.as_ref().is_none_or(|n| n == file)
        })
        .filter_map(|(path, file, parsed)| {
            parsed
                .fit(&target.implementation, target.major_minor())
                .map(|fit| (fit, path, file))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (_, path, file) in &candidates {
        let digest = sha256_of(path)?;
        if pin.hashes.contains(&digest) {
            return Ok(Artifact {
                path: (*path).clone(),
                sha256: digest,
                label: (*file).clone(),
            });
        }
    }

    let Some(url) = &pin.url else {
        let searched = if opts.find_links.is_empty() {
            "no `find-links` folder is configured".to_string()
        } else if candidates.is_empty() {
            format!(
                "no wheel of it for this interpreter is in {}",
                folders(&opts.find_links)
            )
        } else {
            format!(
                "the wheels of it in {} do not have the locked sha256",
                folders(&opts.find_links)
            )
        };
        return Err(WheelError::NoArtifact {
            package: pin.name.clone(),
            version: pin.version.clone(),
            reason: format!("the lock records no URL for it, and {searched}"),
        });
    };
    let [sha256] = pin.hashes.as_slice() else {
        return Err(WheelError::NoArtifact {
            package: pin.name.clone(),
            version: pin.version.clone(),
            reason: format!(
                "the lock gives {} hashes for `{url}` and the file is not cached, so which one it must have is unknown",
                pin.hashes.len()
            ),
        });
    };
    (opts.activity)(&format!("downloading {label}"));
    let transfer = opts.progress.transfer();
    let path = fetch::fetch(url, sha256, &cache, &opts.fetch, &transfer, opts.cancel).map_err(
        |source| match source {
            fetch::FetchError::Cancelled { .. } => WheelError::Cancelled,
            source => WheelError::Fetch {
                package: pin.name.clone(),
                version: pin.version.clone(),
                source,
            },
        },
    )?;
    Ok(Artifact {
        path,
        sha256: sha256.clone(),
        label,
    })
}

/// Refuses a file that is not a wheel, not of the pinned distribution and
/// version, or not for the environment's interpreter.
fn check_file_name(pin: &Pin, file: &str, target: &Target) -> Result<(), WheelError> {
    let Some(parsed) = WheelName::parse(file) else {
        return Err(WheelError::NotAWheel {
            package: pin.name.clone(),
            version: pin.version.clone(),
            file: file.to_string(),
        });
    };
    if parsed.name != pin.name || pin.version_parsed().is_none_or(|v| v != parsed.version) {
        return Err(WheelError::NoArtifact {
            package: pin.name.clone(),
            version: pin.version.clone(),
            reason: format!("the lock names `{file}`, which is another distribution or version"),
        });
    }
    if parsed
        .fit(&target.implementation, target.major_minor())
        .is_none()
    {
        return Err(WheelError::Incompatible {
            package: pin.name.clone(),
            file: file.to_string(),
            python: target.version.clone(),
        });
    }
    Ok(())
}

fn folders(list: &[PathBuf]) -> String {
    list.iter()
        .map(|p| format!("`{}`", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sha256 of a file, lowercase hex, streamed.
pub fn sha256_of(path: &Path) -> Result<String, WheelError> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(super::record::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_urls() {
        let pin = Pin {
            url: Some(
                "https://files.example/packages/ab/cd/rich-13.7.1-py3-none-any.whl#sha256=00"
                    .into(),
            ),
            ..Pin::new("rich", "13.7.1", vec![])
        };
        assert_eq!(
            file_name(&pin).as_deref(),
            Some("rich-13.7.1-py3-none-any.whl")
        );
        let pin = Pin {
            url: Some("https://x.example/a%2Bb-1.0-py3-none-any.whl".into()),
            ..Pin::new("a-b", "1.0", vec![])
        };
        assert_eq!(file_name(&pin).as_deref(), Some("a+b-1.0-py3-none-any.whl"));
        assert_eq!(percent_decode("torch-2.0+cpu.whl"), "torch-2.0+cpu.whl");
    }
}
