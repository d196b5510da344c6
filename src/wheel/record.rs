//! `RECORD` (PEP 376, as the binary distribution format uses it): one CSV
//! line per installed file, `path,sha256=<urlsafe base64, no padding>,size`.
//!
//! One reader and one writer for every `RECORD` beep-python touches: the
//! wheel's own (checked while unpacking), the one written into an
//! environment, and pip's and uv's (read by uninstall and the inventory).

use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// One line of a `RECORD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLine {
    /// As written: relative to `site-packages` with `/`, or (rarely, from
    /// old installers) absolute.
    pub path: String,
    /// `sha256=<urlsafe base64>`, when given.
    pub hash: Option<String>,
    pub size: Option<u64>,
}

/// The lines of a `RECORD` text. Blank lines are skipped; a line whose hash
/// is not `sha256=` keeps no hash (other algorithms are not checked, as pip
/// does not check them either).
pub fn parse(text: &str) -> Vec<RecordLine> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let fields = csv_split(line);
            let path = fields.first()?.clone();
            if path.is_empty() {
                return None;
            }
            let hash = fields.get(1).filter(|h| h.starts_with("sha256=")).cloned();
            let size = fields.get(2).and_then(|s| s.trim().parse().ok());
            Some(RecordLine { path, hash, size })
        })
        .collect()
}

/// `RECORD` text for `lines`, in their order.
pub fn render(lines: &[RecordLine]) -> String {
    let mut out = String::with_capacity(lines.len() * 100);
    for line in lines {
        out.push_str(&csv_field(&line.path));
        out.push(',');
        if let Some(hash) = &line.hash {
            out.push_str(hash);
        }
        out.push(',');
        if let Some(size) = line.size {
            out.push_str(&size.to_string());
        }
        out.push('\n');
    }
    out
}

/// `sha256=<urlsafe base64, no padding>` of `bytes`, as `RECORD` wants.
pub fn hash_of(bytes: &[u8]) -> String {
    record_hash(&Sha256::digest(bytes))
}

/// A sha256 digest in `RECORD`'s form.
pub fn record_hash(digest: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// `sha256=<base64>` -> lowercase hex; `None` if it is not that form.
pub fn record_hash_to_hex(hash: &str) -> Option<String> {
    let b64 = hash.strip_prefix("sha256=")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .ok()?;
    (bytes.len() == 32).then(|| hex(&bytes))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Where a `RECORD` path is, given the `site-packages` it is relative to:
/// joined and with `.`/`..` resolved lexically (`../../../bin/pip` ->
/// `<env>/bin/pip`). `None` for an empty path.
pub fn resolve(site_packages: &Path, path: &str) -> Option<PathBuf> {
    let joined = site_packages.join(path);
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    (!path.is_empty()).then_some(out)
}

/// `to` relative to `from` (both absolute, lexically clean), with `/`:
/// `../../../bin/pip` for a script seen from `site-packages`.
pub fn relative_to(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// Splits one CSV line (RFC 4180 quoting, as Python's `csv` writes).
fn csv_split(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_in_record_form_and_hex() {
        // From pip's own RECORD: an empty file.
        let empty = hash_of(b"");
        assert_eq!(empty, "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
        assert_eq!(
            record_hash_to_hex(&empty).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(record_hash_to_hex("md5=abc"), None);
    }

    #[test]
    fn parses_and_renders_quoted_fields() {
        let lines = parse("a/b.py,sha256=xyz,12\r\n\"a,b.py\",,\n\nc,md5=q,3\n");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].hash.as_deref(), Some("sha256=xyz"));
        assert_eq!(lines[0].size, Some(12));
        assert_eq!(lines[1].path, "a,b.py");
        assert_eq!(lines[1].hash, None);
        assert_eq!(lines[2].hash, None, "only sha256 is kept");
        assert_eq!(parse(&render(&lines)), lines);
    }

    #[test]
    fn resolves_and_relativizes_paths() {
        let site = Path::new("/e/lib/python3.12/site-packages");
        assert_eq!(
            resolve(site, "../../../bin/pip").unwrap(),
            Path::new("/e/bin/pip")
        );
        assert_eq!(
            relative_to(site, Path::new("/e/bin/pip")),
            "../../../bin/pip"
        );
        assert_eq!(
            relative_to(site, &site.join("pip/__init__.py")),
            "pip/__init__.py"
        );
    }
}
