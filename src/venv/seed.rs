//! Putting pip into a new environment, natively.
//!
//! Every CPython that supports `ensurepip` carries a pip wheel
//! (`lib/python3.X/ensurepip/_bundled/pip-*.whl`; Debian keeps it in
//! `/usr/share/python-wheels`). Installing a pure-Python wheel is unpacking
//! a zip, so we do it here, as an installer would (the binary distribution
//! format, PEP 427 / PEP 491): files into `site-packages`, `INSTALLER`, a
//! new `RECORD`, and console scripts in `bin/`. Only when the base has no
//! wheel but has `ensurepip` do we start Python (`python -m ensurepip`).
//!
//! Invariants:
//!
//! - Nothing is written outside the environment: a wheel entry with an
//!   absolute path, a drive, a `..` component or a backslash is refused
//!   before anything is extracted.
//! - Every file is checked against the hash the wheel's own `RECORD` gives,
//!   and the `RECORD` we write lists every installed file (console scripts
//!   included) with its hash and size, so `pip uninstall pip` removes
//!   everything.
//! - `RECORD` is written last: a `*.dist-info` without it is an interrupted
//!   install, which the next run redoes over the top.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Cursor, Read};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use pep440_rs::Version;
use sha2::{Digest, Sha256};

use super::layout::{Layout, Platform, base_layout, bundled_wheel_dirs, major_minor};
use super::{BaseInterpreter, VenvError, real_base, write_if_changed};
use crate::process::Prepared as _;

/// What [`seed_pip`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// pip was installed from the wheel the base interpreter bundles (or was
    /// already installed): `pip_version` is the version now installed.
    Wheel { pip_version: String },
    /// The base bundles no wheel; `python -m ensurepip` installed pip.
    Ensurepip,
    /// Neither a wheel nor `ensurepip` (Debian's Python without
    /// `python3-venv`): pip must come from elsewhere.
    Unavailable { reason: String },
}

/// Puts pip into the environment at `layout`, made from `base`. Does
/// nothing if pip is already installed there.
pub fn seed_pip(layout: &Layout, base: &BaseInterpreter) -> Result<Seeded, VenvError> {
    seed_pip_cached(layout, base, None)
}

/// [`seed_pip`], unpacking the wheel once into `cache` (for instance
/// `<home>/cache/wheels`) and hard-linking its files into each environment,
/// as uv does: on disks where creating a file is slow this is several times
/// faster. Falls back to copying across file systems, and to unpacking
/// straight into the environment if the cache cannot be used.
pub fn seed_pip_cached(
    layout: &Layout,
    base: &BaseInterpreter,
    cache: Option<&Path>,
) -> Result<Seeded, VenvError> {
    if let Some(version) = installed_pip(&layout.site_packages) {
        return Ok(Seeded::Wheel {
            pip_version: version,
        });
    }
    let executable = real_base(&base.executable)?;
    let (major, minor) = major_minor(&base.version).ok_or_else(|| VenvError::BadVersion {
        version: base.version.clone(),
    })?;
    let base_dirs = base_layout(layout.platform, &executable, &format!("{major}.{minor}"));
    if let Some((wheel, version)) = best_pip_wheel(&bundled_wheel_dirs(&base_dirs)) {
        match cache {
            Some(cache) => install_wheel_cached(&wheel, layout, (major, minor), cache)?,
            None => install_wheel(&wheel, layout, (major, minor))?,
        }
        return Ok(Seeded::Wheel {
            pip_version: version.to_string(),
        });
    }
    let ensurepip = base_dirs.stdlib.join("ensurepip");
    if ensurepip.join("__init__.py").is_file() || ensurepip.join("__init__.pyc").is_file() {
        run_ensurepip(layout)?;
        return Ok(Seeded::Ensurepip);
    }
    Ok(Seeded::Unavailable {
        reason: format!(
            "`{}` bundles no pip wheel and has no `ensurepip` module",
            executable.display()
        ),
    })
}

/// The version of pip installed in `site_packages`, if a complete install
/// (one with a `RECORD`) is there.
fn installed_pip(site_packages: &Path) -> Option<String> {
    let entries = std::fs::read_dir(site_packages).ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let name = entry.file_name();
        let version = name
            .to_str()?
            .strip_prefix("pip-")?
            .strip_suffix(".dist-info")?;
        entry
            .path()
            .join("RECORD")
            .is_file()
            .then(|| version.to_string())
    })
}

/// The highest-versioned `pip-*.whl` in the first of `dirs` that has one.
fn best_pip_wheel(dirs: &[PathBuf]) -> Option<(PathBuf, Version)> {
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let best = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                let rest = name.to_str()?.strip_prefix("pip-")?.strip_suffix(".whl")?;
                let version: Version = rest.split('-').next()?.parse().ok()?;
                Some((entry.path(), version))
            })
            .max_by(|a, b| a.1.cmp(&b.1));
        if best.is_some() {
            return best;
        }
    }
    None
}

fn run_ensurepip(layout: &Layout) -> Result<(), VenvError> {
    let output = Command::new(&layout.python)
        .args(["-m", "ensurepip", "--default-pip"])
        // The environment's own interpreter must not be redirected elsewhere.
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .prepared()
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to run `{}`: {e}", layout.python.display()),
            )
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(VenvError::Ensurepip {
            python: layout.python.clone(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// One file of a wheel to extract, and where to.
struct Job<'a> {
    index: usize,
    name: &'a str,
    dest: PathBuf,
    executable: bool,
    /// A `.data/scripts` file, whose `#!python` line is rewritten.
    script: bool,
}

/// One line of the `RECORD` we write.
struct Recorded {
    /// Relative to `site-packages`, with `/`.
    path: String,
    hash: Option<String>,
    size: Option<u64>,
}

/// Installs the wheel at `wheel` into the environment.
pub(crate) fn install_wheel(
    wheel: &Path,
    layout: &Layout,
    version: (u64, u64),
) -> Result<(), VenvError> {
    let extracted = extract_wheel(wheel, layout, version)?;
    finish_install(wheel, layout, version, extracted)
}

/// The list of files in a cache entry, as `RECORD` lines.
const CACHE_LIST: &str = "files.csv";

/// [`install_wheel`] through an unpacked copy in `cache`.
///
/// A cache entry is `<cache>/<wheel stem>-<size>-<mtime>/`: `site/` (the
/// files, as they go into `site-packages`) and [`CACHE_LIST`]. It is built
/// in a temporary folder and renamed into place, so an entry that exists is
/// complete. Hard links share the file with every environment: pip never
/// rewrites an installed file in place (an upgrade removes it first), so
/// the cache stays intact.
fn install_wheel_cached(
    wheel: &Path,
    layout: &Layout,
    version: (u64, u64),
    cache: &Path,
) -> Result<(), VenvError> {
    let meta = fs_err::metadata(wheel)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let stem = wheel.file_stem().unwrap_or_default().to_string_lossy();
    let entry = cache.join(format!("{stem}-{:x}-{mtime:x}", meta.len()));
    if !entry.join(CACHE_LIST).is_file() {
        fs_err::create_dir_all(cache)?;
        let temp = tempfile::Builder::new()
            .prefix(".unpack-")
            .tempdir_in(cache)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("failed to create a folder in `{}`: {e}", cache.display()),
                )
            })?;
        let staging = Layout {
            root: temp.path().to_path_buf(),
            bin: temp.path().join("bin"),
            python: layout.python.clone(),
            site_packages: temp.path().join("site"),
            include: temp.path().join("include"),
            platform: layout.platform,
        };
        let extracted = extract_wheel(wheel, &staging, version)?;
        if extracted.has_data {
            // Files outside site-packages: not worth caching.
            return install_wheel(wheel, layout, version);
        }
        fs_err::write(
            temp.path().join(CACHE_LIST),
            record_text(&extracted.recorded),
        )?;
        let temp = temp.keep();
        if let Err(e) = fs_err::rename(&temp, &entry) {
            let _ = fs_err::remove_dir_all(&temp);
            // Another process may have finished the same entry first.
            if !entry.join(CACHE_LIST).is_file() {
                return Err(e.into());
            }
        }
    }
    match link_from_cache(&entry, layout) {
        Ok(extracted) => finish_install(wheel, layout, version, extracted),
        // A damaged cache entry costs speed, not correctness.
        Err(_) => install_wheel(wheel, layout, version),
    }
}

/// Hard-links (or copies) a cache entry's files into `site-packages`.
fn link_from_cache(entry: &Path, layout: &Layout) -> io::Result<Extracted> {
    let list = fs_err::read_to_string(entry.join(CACHE_LIST))?;
    let recorded: Vec<Recorded> = list
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let fields = csv_split(line);
            let field = |i: usize| fields.get(i).filter(|f| !f.is_empty()).cloned();
            Recorded {
                path: fields.first().cloned().unwrap_or_default(),
                hash: field(1),
                size: field(2).and_then(|s| s.parse().ok()),
            }
        })
        .collect();
    let source = entry.join("site");
    let site = &layout.site_packages;
    let mut made_dirs: HashSet<PathBuf> = HashSet::new();
    let mut linking = true;
    for file in &recorded {
        check_entry_name(&file.path).map_err(io::Error::other)?;
        let (from, to) = (source.join(&file.path), site.join(&file.path));
        if let Some(parent) = to.parent()
            && !made_dirs.contains(parent)
        {
            fs_err::create_dir_all(parent)?;
            made_dirs.insert(parent.to_path_buf());
        }
        if linking {
            match fs_err::hard_link(&from, &to) {
                Ok(()) => continue,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs_err::remove_file(&to)?;
                    if fs_err::hard_link(&from, &to).is_ok() {
                        continue;
                    }
                }
                // Another file system, or links not allowed: copy from now on.
                Err(_) => linking = false,
            }
        }
        fs_err::copy(&from, &to)?;
    }
    let dist_info = recorded
        .iter()
        .filter_map(|r| r.path.split_once('/').map(|(top, _)| top))
        .find(|top| top.ends_with(".dist-info"))
        .map(str::to_string)
        .ok_or_else(|| io::Error::other("no dist-info in the cache entry"))?;
    let entry_points = fs_err::read_to_string(site.join(&dist_info).join("entry_points.txt")).ok();
    let dist_name = dist_info
        .split_once('-')
        .map_or(dist_info.as_str(), |(n, _)| n)
        .to_string();
    Ok(Extracted {
        dist_info,
        dist_name,
        recorded,
        entry_points,
        has_data: false,
    })
}

/// `RECORD` text: `path,sha256=...,size` lines.
fn record_text(recorded: &[Recorded]) -> String {
    let mut record = String::with_capacity(recorded.len() * 100);
    for line in recorded {
        record.push_str(&csv_field(&line.path));
        record.push(',');
        if let Some(hash) = &line.hash {
            record.push_str(hash);
        }
        record.push(',');
        if let Some(size) = line.size {
            record.push_str(&size.to_string());
        }
        record.push('\n');
    }
    record
}

/// What [`extract_wheel`] put in place, for [`finish_install`].
struct Extracted {
    /// `pip-24.2.dist-info`.
    dist_info: String,
    /// `pip`.
    dist_name: String,
    /// Every file written, relative to `site-packages`, sorted.
    recorded: Vec<Recorded>,
    /// `entry_points.txt`, if the wheel has one.
    entry_points: Option<String>,
    /// The wheel has a `.data` folder (files outside `site-packages`).
    has_data: bool,
}

/// Unpacks every file of the wheel (but `RECORD` and `INSTALLER`) into the
/// environment, checking each against the wheel's `RECORD`.
fn extract_wheel(
    wheel: &Path,
    layout: &Layout,
    version: (u64, u64),
) -> Result<Extracted, VenvError> {
    let bad = |reason: String| VenvError::BadWheel {
        wheel: wheel.to_path_buf(),
        reason,
    };
    let bytes = fs_err::read(wheel)?;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice()))
        .map_err(|e| bad(format!("not a zip file: {e}")))?;

    // Check every name before writing anything.
    let mut names = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| bad(format!("entry {i}: {e}")))?
            .into_owned();
        check_entry_name(&name).map_err(|why| bad(format!("`{name}`: {why}")))?;
        names.push((name, entry.is_dir(), entry.unix_mode()));
    }
    let dist_info = names
        .iter()
        .filter_map(|(n, _, _)| n.split_once('/').map(|(top, _)| top))
        .find(|top| top.ends_with(".dist-info"))
        .map(str::to_string)
        .ok_or_else(|| bad("it has no `*.dist-info` folder".to_string()))?;
    let data_dir = format!("{}.data", dist_info.trim_end_matches(".dist-info"));
    let dist_name = dist_info
        .split_once('-')
        .map_or(dist_info.as_str(), |(n, _)| n)
        .to_string();

    let expected = match archive.by_name(&format!("{dist_info}/RECORD")) {
        Ok(mut record) => {
            let mut text = String::new();
            record
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("`RECORD`: {e}")))?;
            parse_record(&text)
        }
        Err(_) => return Err(bad(format!("it has no `{dist_info}/RECORD`"))),
    };

    let site = &layout.site_packages;
    let short = format!("{}.{}", version.0, version.1);
    let skip: HashSet<String> = ["RECORD", "RECORD.jws", "RECORD.p7s", "INSTALLER"]
        .iter()
        .map(|f| format!("{dist_info}/{f}"))
        .collect();

    // Where each file goes, decided before anything is written.
    let mut jobs = Vec::with_capacity(names.len());
    for (index, (name, is_dir, mode)) in names.iter().enumerate() {
        if *is_dir || skip.contains(name) {
            continue;
        }
        let (dest, executable, script) = match name.strip_prefix(&format!("{data_dir}/")) {
            None => (site.join(name), mode.is_some_and(|m| m & 0o111 != 0), false),
            Some(rest) => {
                let (scheme, path) = rest
                    .split_once('/')
                    .ok_or_else(|| bad(format!("`{name}`: not inside a scheme folder")))?;
                match scheme {
                    "purelib" | "platlib" => (site.join(path), false, false),
                    "scripts" => (layout.bin.join(path), true, true),
                    "headers" => (
                        layout
                            .include
                            .join("site")
                            .join(format!("python{short}"))
                            .join(&dist_name)
                            .join(path),
                        false,
                        false,
                    ),
                    "data" => (layout.root.join(path), false, false),
                    other => return Err(bad(format!("`{name}`: unknown scheme `{other}`"))),
                }
            }
        };
        jobs.push(Job {
            index,
            name: name.as_str(),
            dest,
            executable,
            script,
        });
    }

    // Creating a file is the cost here (a new inode each: ~0.3 ms on some
    // virtual disks, for ~600 files); the kernel does that in parallel
    // across folders, so the files are spread over a few threads.
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(2, 8)
        .min(jobs.len().max(1));
    let entry_points_name = format!("{dist_info}/entry_points.txt");
    let work = |t: usize| -> Result<(Vec<Recorded>, Option<String>), VenvError> {
        let mut archive = archive.clone();
        let mut recorded = Vec::with_capacity(jobs.len() / threads + 1);
        let mut made_dirs: HashSet<PathBuf> = HashSet::new();
        let mut entry_points = None;
        for job in jobs.iter().skip(t).step_by(threads) {
            let name = job.name;
            let mut file = archive
                .by_index(job.index)
                .map_err(|e| bad(format!("`{name}`: {e}")))?;
            let mut contents = Vec::with_capacity(usize::try_from(file.size()).unwrap_or(0));
            file.read_to_end(&mut contents)
                .map_err(|e| bad(format!("`{name}`: {e}")))?;
            drop(file);
            let mut hash = hash_of(&contents);
            if let Some(Some(want)) = expected.get(name)
                && *want != hash
            {
                return Err(bad(format!("`{name}` does not match its hash in `RECORD`")));
            }
            if name == entry_points_name {
                entry_points = Some(String::from_utf8_lossy(&contents).into_owned());
            }
            if job.script {
                contents = rewrite_script_shebang(contents, &layout.python);
                hash = hash_of(&contents);
            }
            if let Some(parent) = job.dest.parent()
                && !made_dirs.contains(parent)
            {
                fs_err::create_dir_all(parent)?;
                made_dirs.insert(parent.to_path_buf());
            }
            write_new(&job.dest, &contents, job.executable)?;
            recorded.push(Recorded {
                path: relative_to(site, &job.dest),
                hash: Some(hash),
                size: Some(contents.len() as u64),
            });
        }
        Ok((recorded, entry_points))
    };
    let results: Vec<_> = std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = (1..threads).map(|t| scope.spawn(move || work(t))).collect();
        let mut results = vec![work(0)];
        for handle in handles {
            results.push(
                handle
                    .join()
                    .unwrap_or_else(|_| Err(bad("a worker thread panicked".to_string()))),
            );
        }
        results
    });
    let mut recorded = Vec::with_capacity(jobs.len() + 8);
    let mut entry_points = None;
    for result in results {
        let (files, found) = result?;
        recorded.extend(files);
        entry_points = entry_points.or(found);
    }
    recorded.sort_by(|a, b| a.path.cmp(&b.path));
    let has_data = names
        .iter()
        .any(|(name, _, _)| name.starts_with(&format!("{data_dir}/")));
    Ok(Extracted {
        dist_info,
        dist_name,
        recorded,
        entry_points,
        has_data,
    })
}

/// Writes what makes the unpacked files an installed distribution: the
/// console scripts, `INSTALLER`, and (last) `RECORD`.
fn finish_install(
    wheel: &Path,
    layout: &Layout,
    version: (u64, u64),
    extracted: Extracted,
) -> Result<(), VenvError> {
    let Extracted {
        dist_info,
        dist_name,
        mut recorded,
        entry_points,
        has_data: _,
    } = extracted;
    let site = &layout.site_packages;
    if let Some(text) = entry_points {
        for (script, target) in console_scripts(&text, &dist_name, version) {
            let body = launcher(&layout.python, &target).ok_or_else(|| VenvError::BadWheel {
                wheel: wheel.to_path_buf(),
                reason: format!("entry point `{script} = {target}` is malformed"),
            })?;
            if layout.platform == Platform::Windows {
                // TODO: Windows needs `.exe` launchers for console scripts;
                // until then `python -m pip` is the way in.
                continue;
            }
            let dest = layout.bin.join(&script);
            fs_err::create_dir_all(&layout.bin)?;
            write_if_changed(&dest, body.as_bytes(), true)?;
            recorded.push(Recorded {
                path: relative_to(site, &dest),
                hash: Some(hash_of(body.as_bytes())),
                size: Some(body.len() as u64),
            });
        }
    }

    let dist_dir = site.join(&dist_info);
    fs_err::create_dir_all(&dist_dir)?;
    write_if_changed(&dist_dir.join("INSTALLER"), b"beep-python\n", false)?;
    for file in ["INSTALLER", "RECORD"] {
        recorded.push(Recorded {
            path: format!("{dist_info}/{file}"),
            hash: None,
            size: None,
        });
    }
    write_if_changed(
        &dist_dir.join("RECORD"),
        record_text(&recorded).as_bytes(),
        false,
    )?;
    Ok(())
}

/// Creates `path` with `contents`. A fresh install writes straight into the
/// file (no temporary file per entry: a wheel has a thousand of them, and an
/// interrupted install is redone because `RECORD` is written last).
fn write_new(path: &Path, contents: &[u8], executable: bool) -> io::Result<()> {
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = executable;
    let mut file = options.open(path)?;
    io::Write::write_all(&mut file, contents)
}

/// Why a zip entry name is unsafe to extract, if it is.
fn check_entry_name(name: &str) -> Result<(), &'static str> {
    if name.contains('\\') {
        return Err("backslashes are not allowed in wheel paths");
    }
    if name.contains('\0') {
        return Err("NUL is not allowed in wheel paths");
    }
    if name.starts_with('/') || name.get(1..2) == Some(":") {
        return Err("absolute paths are not allowed");
    }
    for component in Path::new(name).components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("`..` is not allowed"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed");
            }
        }
    }
    Ok(())
}

/// `sha256=<urlsafe base64, no padding>`, as `RECORD` wants.
fn hash_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// path -> `sha256=...` (if given) from a wheel's `RECORD`.
fn parse_record(text: &str) -> HashMap<String, Option<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let fields = csv_split(line);
            let path = fields.first()?.clone();
            let hash = fields.get(1).filter(|h| h.starts_with("sha256=")).cloned();
            Some((path, hash))
        })
        .collect()
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

/// `to` relative to `from` (both absolute, inside the environment), with
/// `/`: `../../../bin/pip` for a script seen from `site-packages`.
fn relative_to(from: &Path, to: &Path) -> String {
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

/// The `[console_scripts]` and `[gui_scripts]` of `entry_points.txt`, as
/// (script name, `module:attr`). For pip, the `pipX.Y` script names the
/// Python the wheel was built with; like pip's own installer, we name it
/// after the environment's Python instead.
fn console_scripts(
    text: &str,
    dist_name: &str,
    (major, minor): (u64, u64),
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut in_scripts = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_scripts = matches!(line, "[console_scripts]" | "[gui_scripts]");
            continue;
        }
        if !in_scripts {
            continue;
        }
        if let Some((name, target)) = line.split_once('=') {
            out.insert(name.trim().to_string(), target.trim().to_string());
        }
    }
    if dist_name.eq_ignore_ascii_case("pip") {
        let versioned: Vec<String> = out
            .keys()
            .filter(|k| {
                k.strip_prefix("pip").is_some_and(|rest| {
                    rest.split_once('.').is_some_and(|(a, b)| {
                        !a.is_empty()
                            && !b.is_empty()
                            && a.chars().all(|c| c.is_ascii_digit())
                            && b.chars().all(|c| c.is_ascii_digit())
                    })
                })
            })
            .cloned()
            .collect();
        if let Some(first) = versioned.first() {
            let target = out[first].clone();
            for key in &versioned {
                out.remove(key);
            }
            out.insert(format!("pip{major}.{minor}"), target);
        }
    }
    out
}

/// A console script: a shebang for the environment's interpreter and a body
/// that calls `module:attr`. `None` if the target is malformed.
fn launcher(python: &Path, target: &str) -> Option<String> {
    // `module:attr.sub [extra1, extra2]`: extras do not matter to the script.
    let target = target.split('[').next()?.trim();
    let (module, attr) = target.split_once(':')?;
    let (module, attr) = (module.trim(), attr.trim());
    let valid = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|p| {
                p.chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && p.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
    };
    if !valid(module) || !valid(attr) {
        return None;
    }
    let import_name = attr.split('.').next()?;
    Some(format!(
        "{shebang}# -*- coding: utf-8 -*-\n\
         import re\n\
         import sys\n\
         from {module} import {import_name}\n\
         if __name__ == \"__main__\":\n\
         \x20   sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n\
         \x20   sys.exit({attr}())\n",
        shebang = shebang(python)
    ))
}

/// `#!<python>`; if the path has a space or is too long for the kernel's
/// shebang limit (127 bytes on older Linux), a `/bin/sh` line that execs
/// the interpreter, which Python then reads as a harmless string.
fn shebang(python: &Path) -> String {
    let path = python.to_string_lossy();
    if path.len() <= 125 && !path.contains([' ', '\t', '\n']) {
        return format!("#!{path}\n");
    }
    let escaped: String = path
        .chars()
        .flat_map(|c| match c {
            '"' | '$' | '`' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("#!/bin/sh\n'''exec' \"{escaped}\" \"$0\" \"$@\"\n' '''\n")
}

/// Rewrites a `#!python` (or `#!pythonw`) first line of a wheel script to
/// the environment's interpreter, as installers do; other scripts are left
/// as they are.
fn rewrite_script_shebang(contents: Vec<u8>, python: &Path) -> Vec<u8> {
    let first_end = contents
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(contents.len());
    let first = &contents[..first_end];
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if first != b"#!python" && first != b"#!pythonw" {
        return contents;
    }
    let mut out = shebang(python).into_bytes();
    out.extend_from_slice(contents.get(first_end + 1..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused() {
        assert!(check_entry_name("pip/__init__.py").is_ok());
        assert!(check_entry_name("pip-24.2.dist-info/RECORD").is_ok());
        assert!(check_entry_name("/etc/passwd").is_err());
        assert!(check_entry_name("../x").is_err());
        assert!(check_entry_name("a/../../x").is_err());
        assert!(check_entry_name("C:/x").is_err());
        assert!(check_entry_name(r"a\..\x").is_err());
    }

    #[test]
    fn record_hashes() {
        // From pip's own RECORD: an empty file.
        assert_eq!(
            hash_of(b""),
            "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        let parsed = parse_record("a/b.py,sha256=xyz,12\n\"a,b.py\",,\n");
        assert_eq!(parsed["a/b.py"].as_deref(), Some("sha256=xyz"));
        assert_eq!(parsed["a,b.py"], None);
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(
                Path::new("/e/lib/python3.12/site-packages"),
                Path::new("/e/bin/pip")
            ),
            "../../../bin/pip"
        );
        assert_eq!(
            relative_to(
                Path::new("/e/lib/python3.12/site-packages"),
                Path::new("/e/lib/python3.12/site-packages/pip/__init__.py")
            ),
            "pip/__init__.py"
        );
    }

    #[test]
    fn pip_scripts_are_named_after_the_environment_python() {
        let text = "[console_scripts]\npip = pip._internal.cli.main:main\npip3 = pip._internal.cli.main:main\npip3.10 = pip._internal.cli.main:main\n\n[other]\nx = y:z\n";
        let scripts = console_scripts(text, "pip", (3, 12));
        assert_eq!(
            scripts.keys().map(String::as_str).collect::<Vec<_>>(),
            ["pip", "pip3", "pip3.12"]
        );
    }

    #[test]
    fn launchers() {
        let body = launcher(Path::new("/e/bin/python"), "pip._internal.cli.main:main").unwrap();
        assert!(body.starts_with("#!/e/bin/python\n"));
        assert!(body.contains("from pip._internal.cli.main import main\n"));
        assert!(body.contains("sys.exit(main())"));
        assert!(launcher(Path::new("/e/bin/python"), "os; rm -rf:main").is_none());
        let long = format!("/{}/bin/python", "x".repeat(130));
        assert!(shebang(Path::new(&long)).starts_with("#!/bin/sh\n'''exec' \"/xxx"));
        assert!(shebang(Path::new("/a b/python")).contains("\"/a b/python\" \"$0\" \"$@\""));
        assert_eq!(
            rewrite_script_shebang(b"#!python\nprint(1)\n".to_vec(), Path::new("/e/bin/python")),
            b"#!/e/bin/python\nprint(1)\n"
        );
    }
}
