//! A local conda channel, built by the tests: real `.tar.bz2` and `.conda`
//! packages (`info/index.json`, `info/paths.json`, the package's files) and
//! a `repodata.json` per subdir, in a folder the tests name with `file://`
//! or serve over 127.0.0.1. No test needs the internet.
//!
//! The `python` package is Debian's statically linked `python3.11` with its
//! standard library, repacked from the standalone-like archive that
//! [`pbs::debian_archive`] builds (so both leave out the same parts of the
//! standard library). It lays out as conda's python does: `bin/python3.11`,
//! `bin/python3` and `bin/python` links, `lib/python3.11/`. One thing is
//! added: Debian's `site.py` looks for packages in
//! `<prefix>/lib/python3/dist-packages`, not `lib/python3.11/site-packages`
//! where conda packages go, so the package carries
//! `lib/python3/dist-packages/conda-site-packages.pth`, which names
//! `../../python3.11/site-packages` (conda's own python needs no such file).
//! And one thing is changed: Debian's `sysconfig.py` installs outside a
//! venv into `<prefix>/local/...`; the package's installs where conda's
//! python does, `lib/python3.11/site-packages`, so that pip and uv put
//! `pypi-packages` where conda's python finds them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use rattler_digest::{Md5, Sha256};
use serde_json::{Value, json};
use tar::{EntryType, Header};

use crate::pbs;

/// Where conda-build writes the build prefix into text files; the installer
/// replaces it with the environment's path.
pub const PLACEHOLDER: &str = "/opt/anaconda1anaconda2anaconda3";

/// The archive formats conda knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    TarBz2,
    Conda,
}

/// One entry of a package, relative to the prefix (for `noarch: python`
/// packages, `site-packages/...` and `python-scripts/...`, which the
/// installer maps into the environment's python).
#[derive(Debug, Clone)]
pub enum Content {
    /// Bytes, and whether the file is executable.
    File(Vec<u8>, bool),
    /// A text file that contains [`PLACEHOLDER`].
    WithPrefix(String, bool),
    Symlink(String),
}

/// What to build.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub build: String,
    pub build_number: u64,
    /// `noarch` or `linux-64`.
    pub subdir: String,
    /// `Some("python")` or `Some("generic")` for noarch packages.
    pub noarch: Option<String>,
    pub depends: Vec<String>,
    pub files: Vec<(String, Content)>,
    /// Console scripts of a `noarch: python` package (`name = module:func`).
    pub entry_points: Vec<String>,
    pub format: Format,
}

impl Package {
    /// A package with no files yet, for this machine's `linux-64`.
    pub fn new(name: &str, version: &str, subdir: &str) -> Package {
        Package {
            name: name.to_owned(),
            version: version.to_owned(),
            build: "0".to_owned(),
            build_number: 0,
            subdir: subdir.to_owned(),
            noarch: (subdir == "noarch").then(|| "generic".to_owned()),
            depends: Vec::new(),
            files: Vec::new(),
            entry_points: Vec::new(),
            format: Format::TarBz2,
        }
    }

    pub fn depends(mut self, spec: &str) -> Package {
        self.depends.push(spec.to_owned());
        self
    }

    pub fn file(mut self, path: &str, text: &str) -> Package {
        self.files.push((
            path.to_owned(),
            Content::File(text.as_bytes().to_vec(), false),
        ));
        self
    }

    pub fn noarch_python(mut self) -> Package {
        self.noarch = Some("python".to_owned());
        self
    }

    pub fn format(mut self, format: Format) -> Package {
        self.format = format;
        self
    }

    pub fn file_name(&self) -> String {
        let ext = match self.format {
            Format::TarBz2 => "tar.bz2",
            Format::Conda => "conda",
        };
        format!("{}-{}-{}.{ext}", self.name, self.version, self.build)
    }

    fn index_json(&self) -> Value {
        let (platform, arch) = match self.subdir.as_str() {
            "noarch" => (Value::Null, Value::Null),
            other => {
                let (os, arch) = other.split_once('-').unwrap();
                let arch = if arch == "64" { "x86_64" } else { arch };
                (json!(os), json!(arch))
            }
        };
        let mut index = json!({
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "build_number": self.build_number,
            "depends": self.depends,
            "subdir": self.subdir,
            "platform": platform,
            "arch": arch,
            "license": "MIT",
            "timestamp": 1_700_000_000_000u64,
        });
        if let Some(noarch) = &self.noarch {
            index["noarch"] = json!(noarch);
        }
        index
    }
}

/// A package as built: its archive and what repodata says of it.
#[derive(Debug, Clone)]
pub struct Built {
    pub file_name: String,
    pub subdir: String,
    pub sha256: String,
    pub md5: String,
    /// The repodata record (index.json + digests and size).
    pub record: Value,
}

/// A channel folder: `<dir>/noarch/`, `<dir>/linux-64/`.
pub struct Channel {
    pub dir: PathBuf,
    pub built: Vec<Built>,
}

impl Channel {
    pub fn new(dir: &Path) -> Channel {
        for subdir in ["noarch", "linux-64"] {
            fs_err::create_dir_all(dir.join(subdir)).unwrap();
        }
        Channel {
            dir: dir.to_owned(),
            built: Vec::new(),
        }
    }

    /// Builds `package` into the channel (repodata is written by
    /// [`Channel::write_repodata`]).
    #[track_caller]
    pub fn add(&mut self, package: &Package) -> &Built {
        let bytes = build_archive(package);
        let path = self.dir.join(&package.subdir).join(package.file_name());
        fs_err::write(&path, &bytes).unwrap();
        let sha256 = hex(&rattler_digest::compute_bytes_digest::<Sha256>(&bytes));
        let md5 = hex(&rattler_digest::compute_bytes_digest::<Md5>(&bytes));
        let mut record = package.index_json();
        record["sha256"] = json!(sha256);
        record["md5"] = json!(md5);
        record["size"] = json!(bytes.len());
        self.built.push(Built {
            file_name: package.file_name(),
            subdir: package.subdir.clone(),
            sha256,
            md5,
            record,
        });
        self.built.last().unwrap()
    }

    /// Changes the repodata record of `file_name` (written by the next
    /// [`Channel::write_repodata`]).
    pub fn edit_record(&mut self, file_name: &str, edit: impl FnOnce(&mut Value)) {
        let built = self
            .built
            .iter_mut()
            .find(|b| b.file_name == file_name)
            .unwrap_or_else(|| panic!("{file_name} is not in the channel"));
        edit(&mut built.record);
    }

    /// `repodata.json` for `noarch` and `linux-64`.
    pub fn write_repodata(&self) {
        for subdir in ["noarch", "linux-64"] {
            let mut tar_bz2 = serde_json::Map::new();
            let mut conda = serde_json::Map::new();
            for built in self.built.iter().filter(|b| b.subdir == subdir) {
                let map = if built.file_name.ends_with(".conda") {
                    &mut conda
                } else {
                    &mut tar_bz2
                };
                map.insert(built.file_name.clone(), built.record.clone());
            }
            let repodata = json!({
                "info": {"subdir": subdir},
                "packages": tar_bz2,
                "packages.conda": conda,
                "removed": [],
                "repodata_version": 1,
            });
            fs_err::write(
                self.dir.join(subdir).join("repodata.json"),
                serde_json::to_string_pretty(&repodata).unwrap(),
            )
            .unwrap();
        }
    }

    /// The channel as a `file://` URL.
    pub fn url(&self) -> String {
        url::Url::from_directory_path(&self.dir)
            .unwrap()
            .to_string()
    }
}

/// The `python` package: Debian's python3.11 and standard library, as
/// conda's python lays them out (see the module documentation).
pub fn python_package() -> Package {
    let archive = pbs::debian_archive();
    let mut files = Vec::new();
    let mut tar = tar::Archive::new(GzDecoder::new(&archive.bytes[..]));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let Ok(rel) = path.strip_prefix(&archive.top) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        if rel.is_empty() {
            continue;
        }
        match entry.header().entry_type() {
            EntryType::Regular => {
                let executable = entry.header().mode().unwrap() & 0o111 != 0;
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                if rel == "lib/python3.11/sysconfig.py" {
                    bytes = conda_scheme(&bytes);
                }
                files.push((rel, Content::File(bytes, executable)));
            }
            EntryType::Symlink => {
                let target = entry.link_name().unwrap().unwrap();
                files.push((rel, Content::Symlink(target.to_string_lossy().into_owned())));
            }
            // Folders come with their files; empty ones are not part of a
            // conda package.
            _ => {}
        }
    }
    files.push((
        "bin/python".to_owned(),
        Content::Symlink("python3.11".to_owned()),
    ));
    files.push((
        "lib/python3/dist-packages/conda-site-packages.pth".to_owned(),
        Content::File(b"../../python3.11/site-packages\n".to_vec(), false),
    ));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Package {
        name: "python".to_owned(),
        version: pbs::DEBIAN_VERSION.to_owned(),
        build: "0_debian".to_owned(),
        build_number: 0,
        subdir: "linux-64".to_owned(),
        noarch: None,
        depends: Vec::new(),
        files,
        entry_points: Vec::new(),
        format: Format::Conda,
    }
}

/// Debian's `sysconfig.py` with the install scheme conda's python has:
/// `posix_prefix` (`<prefix>/lib/python3.11/site-packages`), where Debian's
/// picks `posix_local` (`<prefix>/local/lib/...`) outside a venv. pip and uv
/// install where this says.
fn conda_scheme(debian: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(debian.to_vec()).unwrap();
    let from = "prefix_scheme = 'posix_local'";
    assert!(
        text.contains(from),
        "Debian's sysconfig.py no longer says `{from}`: the test python needs another patch"
    );
    text.replace(from, "prefix_scheme = 'posix_prefix'")
        .into_bytes()
}

/// The archive bytes of `package`.
pub fn build_archive(package: &Package) -> Vec<u8> {
    let (info, pkg) = tars(package);
    match package.format {
        Format::TarBz2 => {
            // One tar: `info/` and the files.
            let mut all = tar::Builder::new(Vec::new());
            append_entries(&mut all, &info_entries(package));
            append_entries(&mut all, &file_entries(package));
            let tar = all.into_inner().unwrap();
            let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            encoder.write_all(&tar).unwrap();
            encoder.finish().unwrap()
        }
        Format::Conda => {
            // A zip (stored) of `metadata.json`, `info-*.tar.zst` and
            // `pkg-*.tar.zst`.
            let stem = format!("{}-{}-{}", package.name, package.version, package.build);
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let stored = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            zip.start_file("metadata.json", stored).unwrap();
            zip.write_all(br#"{"conda_pkg_format_version": 2}"#)
                .unwrap();
            for (name, tar) in [
                (format!("pkg-{stem}.tar.zst"), pkg),
                (format!("info-{stem}.tar.zst"), info),
            ] {
                zip.start_file(name, stored).unwrap();
                zip.write_all(&zstd::bulk::compress(&tar, 3).unwrap())
                    .unwrap();
            }
            zip.finish().unwrap().into_inner()
        }
    }
}

fn tars(package: &Package) -> (Vec<u8>, Vec<u8>) {
    let mut info = tar::Builder::new(Vec::new());
    append_entries(&mut info, &info_entries(package));
    let mut pkg = tar::Builder::new(Vec::new());
    append_entries(&mut pkg, &file_entries(package));
    (info.into_inner().unwrap(), pkg.into_inner().unwrap())
}

fn file_entries(package: &Package) -> Vec<(String, Content)> {
    package.files.clone()
}

fn info_entries(package: &Package) -> Vec<(String, Content)> {
    let paths: Vec<Value> = package
        .files
        .iter()
        .map(|(path, content)| match content {
            Content::File(bytes, _) => json!({
                "_path": path,
                "path_type": "hardlink",
                "sha256": hex(&rattler_digest::compute_bytes_digest::<Sha256>(bytes)),
                "size_in_bytes": bytes.len(),
            }),
            Content::WithPrefix(text, _) => json!({
                "_path": path,
                "path_type": "hardlink",
                "file_mode": "text",
                "prefix_placeholder": PLACEHOLDER,
                "sha256": hex(&rattler_digest::compute_bytes_digest::<Sha256>(text.as_bytes())),
                "size_in_bytes": text.len(),
            }),
            Content::Symlink(_) => json!({
                "_path": path,
                "path_type": "softlink",
            }),
        })
        .collect();
    let json_file = |value: &Value| Content::File(serde_json::to_vec_pretty(value).unwrap(), false);
    let mut entries = vec![
        (
            "info/index.json".to_owned(),
            json_file(&package.index_json()),
        ),
        (
            "info/paths.json".to_owned(),
            json_file(&json!({"paths": paths, "paths_version": 1})),
        ),
    ];
    if package.noarch.as_deref() == Some("python") {
        entries.push((
            "info/link.json".to_owned(),
            json_file(&json!({
                "noarch": {"type": "python", "entry_points": package.entry_points},
                "package_metadata_version": 1,
            })),
        ));
    }
    // conda-build's `info/files`: one path a line.
    let listing: String = package
        .files
        .iter()
        .map(|(p, _)| format!("{p}\n"))
        .collect();
    entries.push((
        "info/files".to_owned(),
        Content::File(listing.into_bytes(), false),
    ));
    entries
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn append_entries<W: Write>(tar: &mut tar::Builder<W>, entries: &[(String, Content)]) {
    for (path, content) in entries {
        let mut header = Header::new_gnu();
        header.set_mtime(1_700_000_000);
        match content {
            Content::File(bytes, executable) => {
                header.set_entry_type(EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, path, &bytes[..]).unwrap();
            }
            Content::WithPrefix(text, executable) => {
                header.set_entry_type(EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(text.len() as u64);
                tar.append_data(&mut header, path, text.as_bytes()).unwrap();
            }
            Content::Symlink(target) => {
                header.set_entry_type(EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, path, target).unwrap();
            }
        }
    }
}
