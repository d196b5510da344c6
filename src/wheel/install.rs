//! Installing prepared cache entries into an environment: the only part of
//! the installer that changes the environment.
//!
//! Order, so that an interruption converges on the next run: everything that
//! can fail on bad input (entry points, unsafe destinations) is checked
//! first; then old versions are removed; then files are linked, scripts
//! written, and each distribution's `RECORD` is written last.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::bytecode::{self, Stamp};
use super::link::{LinkMode, Linker};
use super::record::{self, RecordLine};
use super::scripts;
use super::uninstall::{self, Uninstalled};
use super::unpack::{self, Manifest};
use super::{INSTALLER, Options, Target, WheelError};
use crate::venv::{Platform, write_if_changed};

/// One distribution ready to be installed: its cache entry, checked.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// PEP 503 normalized.
    pub name: String,
    pub requested: bool,
    /// The `direct_url.json` to write, if PEP 610 wants one.
    pub direct_url: Option<String>,
    pub entry: PathBuf,
    pub manifest: Manifest,
}

/// One distribution installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// PEP 503 normalized.
    pub name: String,
    pub version: String,
    /// Files written or linked (its `RECORD`'s lines).
    pub files: usize,
    /// The version it replaced, if another was installed.
    pub replaced: Option<String>,
}

/// What an install did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// How files were placed; `None` when nothing was linked.
    pub link_mode: Option<LinkMode>,
    pub installed: Vec<Installed>,
    /// Distributions removed because no pin names them ([`super::sync`]).
    pub removed: Vec<Uninstalled>,
    /// Pins already installed at their version, left alone.
    pub unchanged: Vec<String>,
    /// `.pyc` files linked.
    pub bytecode_files: usize,
}

/// How one file gets into the environment.
enum Placement {
    /// Linked from the cache as it is; its `RECORD` hash and size.
    Link {
        src: PathBuf,
        hash: String,
        size: u64,
    },
    /// A `.data/scripts` file written anew: `#!python` rewritten, or made
    /// executable.
    Script { src: PathBuf },
}

/// Everything one distribution will write, decided before anything is.
struct Plan<'a> {
    prepared: &'a Prepared,
    /// Destination and how it gets there.
    files: Vec<(PathBuf, Placement)>,
    /// Launchers: destination and contents.
    launchers: Vec<(PathBuf, String)>,
}

/// Installs `prepared` into `target`, after removing `remove` (names).
pub(super) fn apply(
    target: &Target,
    prepared: Vec<Prepared>,
    remove: &[String],
    opts: &Options<'_>,
) -> Result<Report, WheelError> {
    let cancelled = || opts.cancel.load(Ordering::SeqCst);
    if cancelled() {
        return Err(WheelError::Cancelled);
    }
    let stamps: Option<Vec<Stamp>> = if opts.compile_bytecode && !prepared.is_empty() {
        let entries: Vec<(&Path, &Manifest)> = prepared
            .iter()
            .map(|p| (p.entry.as_path(), &p.manifest))
            .collect();
        (opts.activity)(&format!("compiling bytecode for {}", names(&prepared)));
        bytecode::ensure(&entries, &target.python(), opts.jobs, opts.cancel)?
    } else {
        None
    };
    let plans = prepared
        .iter()
        .enumerate()
        .map(|(i, p)| plan(target, p, stamps.as_ref().and_then(|s| s.get(i))))
        .collect::<Result<Vec<_>, _>>()?;
    if cancelled() {
        return Err(WheelError::Cancelled);
    }

    // From here on the environment changes: first say what of it will
    // be removed or replaced.
    let layout = &target.layout;
    let present = uninstall::installed(&layout.site_packages);
    let mut changing: Vec<PathBuf> = present
        .iter()
        .filter(|d| remove.contains(&d.name) || prepared.iter().any(|p| p.name == d.name))
        .flat_map(|d| uninstall::files_of(layout, d))
        .collect();
    for plan in &plans {
        let destinations = plan
            .files
            .iter()
            .map(|(dest, _)| dest)
            .chain(plan.launchers.iter().map(|(dest, _)| dest));
        changing.extend(
            destinations
                .filter(|dest| fs_err::symlink_metadata(dest).is_ok())
                .cloned(),
        );
    }
    (opts.before_change)(&changing)?;
    let mut report = Report::default();
    for name in remove {
        (opts.activity)(&format!("removing {name}"));
        while let Some(gone) = uninstall::uninstall(layout, name)? {
            report.removed.push(gone);
        }
    }
    let mut replaced: BTreeMap<&str, String> = BTreeMap::new();
    let present = uninstall::installed(&layout.site_packages);
    for p in &prepared {
        for old in present.iter().filter(|d| d.name == p.name) {
            // An interrupted install has no `RECORD`: only its folder goes,
            // and its files are overwritten below.
            uninstall::remove(layout, old, &present)?;
            replaced.insert(&p.name, old.version.clone());
        }
    }

    let linker = Linker::new(
        opts.link,
        prepared
            .first()
            .and_then(|p| p.entry.parent())
            .unwrap_or(&opts.cache_dir),
        &layout.root,
    );
    let links: Vec<(&Path, &Path)> = plans
        .iter()
        .flat_map(|plan| plan.files.iter())
        .filter_map(|(dest, placement)| match placement {
            Placement::Link { src, .. } => Some((src.as_path(), dest.as_path())),
            Placement::Script { .. } => None,
        })
        .collect();
    if !prepared.is_empty() {
        (opts.activity)(&format!("linking {}", names(&prepared)));
    }
    place_all(&linker, &links, opts)?;

    for plan in &plans {
        let version = plan.prepared.manifest.dist_version.clone();
        let lines = finish(target, plan)?;
        report.installed.push(Installed {
            name: plan.prepared.name.clone(),
            version,
            files: lines,
            replaced: replaced.remove(plan.prepared.name.as_str()),
        });
    }
    report.link_mode = linker.mode();
    report.bytecode_files = stamps.iter().flatten().map(|s| s.files.len()).sum();
    Ok(report)
}

/// `alpha 1.0, beta 2.0`: what is being installed, for the activity line.
fn names(prepared: &[Prepared]) -> String {
    prepared
        .iter()
        .map(|p| format!("{} {}", p.name, p.manifest.dist_version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where each file of `p` goes, and its launchers; refuses what must not
/// be installed.
fn plan<'a>(
    target: &Target,
    p: &'a Prepared,
    stamp: Option<&Stamp>,
) -> Result<Plan<'a>, WheelError> {
    let layout = &target.layout;
    let m = &p.manifest;
    let tree = unpack::tree(&p.entry);
    let (major, minor) = target.major_minor();
    let data = format!("{}.data/", m.dist_info.trim_end_matches(".dist-info"));
    let unsafe_entry = |path: &str, reason: &str| WheelError::Unsafe {
        wheel: m.dist_info.clone(),
        entry: path.to_string(),
        reason: reason.to_string(),
    };
    let mut files = Vec::with_capacity(m.files.len());
    let mut dest_of: BTreeMap<&str, PathBuf> = BTreeMap::new();
    for f in &m.files {
        let (dest, script) = match f.path.strip_prefix(&data) {
            None => (layout.site_packages.join(&f.path), false),
            Some(rest) => {
                let (scheme, sub) = rest.split_once('/').unwrap_or((rest, ""));
                match scheme {
                    "scripts" => (layout.bin.join(sub), true),
                    "headers" => (
                        layout
                            .include
                            .join("site")
                            .join(format!("python{major}.{minor}"))
                            .join(&m.display_name)
                            .join(sub),
                        false,
                    ),
                    "data" => (layout.root.join(sub), false),
                    // purelib, platlib (checked when unpacked): both are
                    // site-packages in a virtual environment.
                    _ => (layout.site_packages.join(sub), false),
                }
            }
        };
        if uninstall::environment_owns(layout, &dest) {
            return Err(unsafe_entry(
                &f.path,
                "it would replace one of the environment's own files",
            ));
        }
        let src = tree.join(&f.path);
        let placement = if script && (!f.executable || starts_with_python_shebang(&src)?) {
            Placement::Script { src }
        } else {
            Placement::Link {
                src,
                hash: f.hash.clone(),
                size: f.size,
            }
        };
        dest_of.insert(f.path.as_str(), dest.clone());
        files.push((dest, placement));
    }
    for c in stamp.map(|s| s.files.as_slice()).unwrap_or_default() {
        let Some(source_dest) = dest_of.get(c.source.as_str()) else {
            continue;
        };
        let Some(pyc_name) = Path::new(&c.pyc).file_name() else {
            continue;
        };
        let dest = source_dest
            .parent()
            .unwrap_or(&layout.site_packages)
            .join("__pycache__")
            .join(pyc_name);
        files.push((
            dest,
            Placement::Link {
                src: tree.join(&c.pyc),
                hash: c.hash.clone(),
                size: c.size,
            },
        ));
    }

    let mut launchers = Vec::new();
    if let Some(text) = &m.entry_points {
        for (script, target_ref) in scripts::entry_points(text, &m.name, (major, minor)) {
            let bad = || WheelError::BadEntryPoint {
                package: p.name.clone(),
                script: script.clone(),
                target: target_ref.clone(),
            };
            if !scripts::valid_script_name(&script) {
                return Err(bad());
            }
            let body = scripts::launcher(&layout.python, &target_ref).ok_or_else(bad)?;
            if layout.platform == Platform::Windows {
                // TODO: Windows needs `.exe` launchers for entry points;
                // until then `python -m <module>` is the way in.
                continue;
            }
            let dest = layout.bin.join(&script);
            if uninstall::environment_owns(layout, &dest) {
                return Err(bad());
            }
            launchers.push((dest, body));
        }
    }
    Ok(Plan {
        prepared: p,
        files,
        launchers,
    })
}

fn starts_with_python_shebang(path: &Path) -> io::Result<bool> {
    use std::io::Read as _;
    let mut head = [0u8; 8];
    let mut file = fs_err::File::open(path)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(head[..read] == *b"#!python")
}

/// Places every link, spread over threads.
fn place_all(
    linker: &Linker,
    links: &[(&Path, &Path)],
    opts: &Options<'_>,
) -> Result<(), WheelError> {
    let Some((first_src, first_dest)) = links.first() else {
        return Ok(());
    };
    // Folders are made when a link finds none, by the thread that needs
    // them: creating a folder costs as much as a few links on slow disks,
    // and the kernel makes them in parallel too (`create_dir_all` takes a
    // folder another thread made as success).
    let place = |src: &Path, dest: &Path| {
        let placed = match linker.place(src, dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => match dest.parent() {
                Some(parent) => {
                    fs_err::create_dir_all(parent).and_then(|()| linker.place(src, dest))
                }
                None => Err(e),
            },
            other => other,
        };
        placed.map_err(|e| {
            WheelError::Io(io::Error::new(
                e.kind(),
                format!(
                    "failed to install `{}` from `{}`: {e}",
                    dest.display(),
                    src.display()
                ),
            ))
        })
    };
    // The first file decides the link mode for the rest.
    place(first_src, first_dest)?;
    let rest = &links[1..];
    let threads = (std::thread::available_parallelism().map_or(2, |n| n.get()) * 2)
        .clamp(2, 8)
        .min(rest.len().div_ceil(64).max(1));
    let next = AtomicUsize::new(0);
    let error: Mutex<Option<WheelError>> = Mutex::new(None);
    const CHUNK: usize = 32;
    let work = || {
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= rest.len() || opts.cancel.load(Ordering::Relaxed) {
                return;
            }
            for (src, dest) in &rest[start..(start + CHUNK).min(rest.len())] {
                if let Err(e) = place(src, dest) {
                    let mut slot = error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    slot.get_or_insert(e);
                    next.store(rest.len(), Ordering::Relaxed);
                    return;
                }
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    if let Some(e) = error
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(e);
    }
    if opts.cancel.load(Ordering::SeqCst) {
        return Err(WheelError::Cancelled);
    }
    Ok(())
}

/// Writes what is not linked (scripts, launchers, `INSTALLER`,
/// `REQUESTED`, `direct_url.json`) and, last, `RECORD`. Returns the number
/// of `RECORD` lines.
fn finish(target: &Target, plan: &Plan<'_>) -> Result<usize, WheelError> {
    let layout = &target.layout;
    let site = &layout.site_packages;
    let p = plan.prepared;
    let mut lines: BTreeMap<String, RecordLine> = BTreeMap::new();
    let mut add = |dest: &Path, hash: Option<String>, size: Option<u64>| {
        let path = record::relative_to(site, dest);
        lines.insert(path.clone(), RecordLine { path, hash, size });
    };
    for (dest, placement) in &plan.files {
        match placement {
            Placement::Link { hash, size, .. } => add(dest, Some(hash.clone()), Some(*size)),
            Placement::Script { src } => {
                let contents = fs_err::read(src)?;
                let contents =
                    scripts::rewrite_shebang(&contents, &layout.python).unwrap_or(contents);
                if let Some(parent) = dest.parent() {
                    fs_err::create_dir_all(parent)?;
                }
                write_if_changed(dest, &contents, true)?;
                add(
                    dest,
                    Some(record::hash_of(&contents)),
                    Some(contents.len() as u64),
                );
            }
        }
    }
    for (dest, body) in &plan.launchers {
        if let Some(parent) = dest.parent() {
            fs_err::create_dir_all(parent)?;
        }
        write_if_changed(dest, body.as_bytes(), true)?;
        add(
            dest,
            Some(record::hash_of(body.as_bytes())),
            Some(body.len() as u64),
        );
    }
    let dist_info = site.join(&p.manifest.dist_info);
    fs_err::create_dir_all(&dist_info)?;
    let mut metadata: Vec<(&str, Vec<u8>)> =
        vec![("INSTALLER", format!("{INSTALLER}\n").into_bytes())];
    if p.requested {
        metadata.push(("REQUESTED", Vec::new()));
    }
    if let Some(json) = &p.direct_url {
        metadata.push(("direct_url.json", json.clone().into_bytes()));
    }
    for (file, contents) in &metadata {
        let dest = dist_info.join(file);
        write_if_changed(&dest, contents, false)?;
        add(
            &dest,
            Some(record::hash_of(contents)),
            Some(contents.len() as u64),
        );
    }
    let record_path = dist_info.join("RECORD");
    add(&record_path, None, None);
    let lines: Vec<RecordLine> = lines.into_values().collect();
    crate::venv::write_atomic(
        &record_path,
        record::render(&lines).as_bytes(),
        false,
        false,
    )?;
    Ok(lines.len())
}
