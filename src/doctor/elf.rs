//! Shared libraries, read natively: what an ELF object needs (`DT_NEEDED`),
//! where it asks to look (`DT_RPATH`, `DT_RUNPATH`), and whether the dynamic
//! loader would find each one, as `ld.so` searches. The seed's "missing
//! DLL" check, done without starting anything.
//!
//! # Why a parser of our own
//!
//! Four things are needed from an object: its class and machine, its
//! `PT_INTERP`, and a few strings of its dynamic segment. They are read
//! with a handful of positioned reads (the header, the program headers,
//! the dynamic entries, each string), never the whole file: an extension
//! module such as numpy's is megabytes, and a default `doctor` reads every
//! one of an environment's. `goblin` and `object` parse from a byte slice
//! of the whole file (or an mmap, one more dependency and `unsafe`), and
//! bring Mach-O, PE and DWARF that this check does not use yet. Every read
//! is bounds-checked; a truncated or hostile file is "not ELF" or an error,
//! never a panic (the unit tests feed it garbage).
//!
//! # Resolution (glibc's order, `man ld.so`)
//!
//! For each `DT_NEEDED` name of object `O` (a name with a `/` is a path):
//!
//! 1. already loaded: a library of that soname that the interpreter itself
//!    loads (`libpython3.X.so` for an extension module);
//! 2. `DT_RPATH` of `O`, then of the executable, when `O` has no
//!    `DT_RUNPATH`;
//! 3. `LD_LIBRARY_PATH`;
//! 4. `DT_RUNPATH` of `O`;
//! 5. `/etc/ld.so.cache`;
//! 6. the default folders (`/lib`, `/usr/lib`, their 64-bit and multiarch
//!    forms).
//!
//! `$ORIGIN` is the folder of the object, `$LIB` and `$PLATFORM` are
//! expanded to each form they take. A candidate counts only when it is an
//! ELF object of the same class and machine, as `ld.so` skips the others.
//! Libraries found are checked in turn (a `libssl.so.3` whose
//! `libcrypto.so.3` is gone does not load either), each once per run.
//! Under musl (`PT_INTERP` names `ld-musl`), `/etc/ld-musl-<arch>.path` or
//! musl's defaults replace the cache and the default folders.
//!
//! Mach-O (macOS) and PE (Windows) binaries are read by
//! [`super::imports`], whose [`Missing`] is this one.

use fs_err::File;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// Bounds that no real object reaches; beyond them the file is refused.
const MAX_PROGRAM_HEADERS: u64 = 4096;
const MAX_DYNAMIC_ENTRIES: u64 = 65_536;
const MAX_STRING: usize = 64 * 1024;

/// What one ELF object says about its dynamic linking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object {
    pub is_64: bool,
    pub little_endian: bool,
    /// `e_machine`.
    pub machine: u16,
    /// `PT_INTERP`: the dynamic loader an executable asks for.
    pub interpreter: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
}

impl Object {
    /// Whether `other` can be loaded into the same process.
    fn compatible(&self, other: &Object) -> bool {
        self.is_64 == other.is_64
            && self.little_endian == other.little_endian
            && self.machine == other.machine
    }

    fn uses_musl(&self) -> bool {
        self.interpreter
            .as_deref()
            .is_some_and(|i| i.contains("ld-musl"))
    }
}

/// Reads the dynamic-linking facts of the file at `path`; `Ok(None)` when it
/// is not an ELF object (or one this reader does not understand, such as a
/// `PN_XNUM` program-header count, which no shared library uses).
pub fn read(path: &Path) -> io::Result<Option<Object>> {
    let mut file = File::open(path)?;
    let mut ident = [0u8; 64];
    let n = read_up_to(&mut file, 0, &mut ident)?;
    if n < 52 || &ident[..4] != b"\x7fELF" {
        return Ok(None);
    }
    let is_64 = match ident[4] {
        1 => false,
        2 => true,
        _ => return Ok(None),
    };
    let little_endian = match ident[5] {
        1 => true,
        2 => false,
        _ => return Ok(None),
    };
    if is_64 && n < 64 {
        return Ok(None);
    }
    let r = Reader {
        little_endian,
        is_64,
    };
    let machine = r.u16(&ident, 18);
    let (phoff, phentsize, phnum) = if is_64 {
        (r.u64(&ident, 32), r.u16(&ident, 54), r.u16(&ident, 56))
    } else {
        (
            u64::from(r.u32(&ident, 28)),
            r.u16(&ident, 42),
            r.u16(&ident, 44),
        )
    };
    let min_entsize = if is_64 { 56 } else { 32 };
    if phnum == 0xffff || u64::from(phnum) > MAX_PROGRAM_HEADERS || phentsize < min_entsize {
        return Ok(None);
    }
    let mut headers = vec![0u8; usize::from(phentsize) * usize::from(phnum)];
    if read_up_to(&mut file, phoff, &mut headers)? < headers.len() {
        return Ok(None);
    }
    let mut loads = Vec::new();
    let mut dynamic = None;
    let mut interp = None;
    for h in headers.chunks_exact(usize::from(phentsize)) {
        let kind = r.u32(h, 0);
        let (offset, vaddr, filesz) = if is_64 {
            (r.u64(h, 8), r.u64(h, 16), r.u64(h, 32))
        } else {
            (
                u64::from(r.u32(h, 4)),
                u64::from(r.u32(h, 8)),
                u64::from(r.u32(h, 16)),
            )
        };
        match kind {
            PT_LOAD => loads.push((offset, vaddr, filesz)),
            PT_DYNAMIC => dynamic = Some((offset, filesz)),
            PT_INTERP => interp = Some((offset, filesz)),
            _ => {}
        }
    }
    let mut object = Object {
        is_64,
        little_endian,
        machine,
        ..Object::default()
    };
    if let Some((offset, size)) = interp {
        object.interpreter = read_string(&mut file, offset, size.min(4096) as usize)?;
    }
    let Some((dyn_offset, dyn_size)) = dynamic else {
        // A static executable: it needs nothing.
        return Ok(Some(object));
    };
    let entsize: u64 = if is_64 { 16 } else { 8 };
    let count = (dyn_size / entsize).min(MAX_DYNAMIC_ENTRIES);
    let mut entries = vec![0u8; (count * entsize) as usize];
    let got = read_up_to(&mut file, dyn_offset, &mut entries)?;
    entries.truncate(got - got % entsize as usize);
    let mut strtab = None;
    let mut strings: Vec<(u64, u64)> = Vec::new();
    for e in entries.chunks_exact(entsize as usize) {
        let (tag, value) = if is_64 {
            (r.u64(e, 0), r.u64(e, 8))
        } else {
            (u64::from(r.u32(e, 0)), u64::from(r.u32(e, 4)))
        };
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(value),
            DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH => strings.push((tag, value)),
            _ => {}
        }
    }
    let Some(strtab) = strtab else {
        return Ok(Some(object));
    };
    // DT_STRTAB is an address; the loadable segment holding it says where
    // that is in the file.
    let Some(base) = loads
        .iter()
        .find(|(_, vaddr, filesz)| strtab >= *vaddr && strtab - vaddr < *filesz)
        .map(|(offset, vaddr, _)| offset + (strtab - vaddr))
    else {
        return Ok(Some(object));
    };
    for (tag, value) in strings {
        let Some(text) = read_string(&mut file, base.saturating_add(value), MAX_STRING)? else {
            continue;
        };
        match tag {
            DT_NEEDED => object.needed.push(text),
            DT_SONAME => object.soname = Some(text),
            DT_RPATH => object.rpath.extend(split_path_list(&text)),
            DT_RUNPATH => object.runpath.extend(split_path_list(&text)),
            _ => {}
        }
    }
    Ok(Some(object))
}

fn split_path_list(text: &str) -> Vec<String> {
    text.split(':')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

struct Reader {
    little_endian: bool,
    is_64: bool,
}

impl Reader {
    fn u16(&self, b: &[u8], at: usize) -> u16 {
        let bytes = [b[at], b[at + 1]];
        if self.little_endian {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        }
    }

    fn u32(&self, b: &[u8], at: usize) -> u32 {
        let bytes = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.little_endian {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        }
    }

    fn u64(&self, b: &[u8], at: usize) -> u64 {
        debug_assert!(self.is_64);
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&b[at..at + 8]);
        if self.little_endian {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        }
    }
}

/// Reads into `buf` from `offset`; returns how many bytes there were.
fn read_up_to(file: &mut File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return Ok(0);
    }
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The NUL-terminated string at `offset` (at most `max` bytes); `None`
/// when it runs off the file or is not UTF-8.
fn read_string(file: &mut File, offset: u64, max: usize) -> io::Result<Option<String>> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 256];
    while out.len() < max {
        let n = read_up_to(file, offset + out.len() as u64, &mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(end) = chunk[..n].iter().position(|b| *b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(String::from_utf8(out).ok());
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(None)
}

/// A library an object needs that the loader would not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The `DT_NEEDED` name (`libssl.so.3`).
    pub library: String,
    /// The object that needs it (an extension module, or a library it
    /// loads).
    pub needed_by: PathBuf,
    /// The folders searched, in order, with `$ORIGIN` expanded.
    pub searched: Vec<PathBuf>,
}

/// Resolves libraries the way the dynamic loader would, remembering every
/// object it read, so that `libc.so.6` is read once per run, not once per
/// extension module. Shared by the checks' threads.
pub struct Resolver {
    ld_library_path: Vec<PathBuf>,
    cache: OnceLock<HashMap<String, Vec<PathBuf>>>,
    musl_dirs: OnceLock<Vec<PathBuf>>,
    objects: Mutex<HashMap<PathBuf, Option<Arc<Object>>>>,
    /// Per found library: what is missing below it.
    checked: Mutex<HashMap<PathBuf, Arc<Vec<Missing>>>>,
}

impl Default for Resolver {
    fn default() -> Self {
        Self::new(
            std::env::var_os("LD_LIBRARY_PATH")
                .map(|v| std::env::split_paths(&v).collect())
                .unwrap_or_default(),
        )
    }
}

/// The executable that loads an object (its `DT_RPATH` applies to what it
/// loads) and the libraries it has loaded already, by soname.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    pub executable: Option<Arc<Object>>,
    pub loaded: BTreeSet<String>,
}

impl Resolver {
    pub fn new(ld_library_path: Vec<PathBuf>) -> Self {
        Self {
            ld_library_path: ld_library_path
                .into_iter()
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            cache: OnceLock::new(),
            musl_dirs: OnceLock::new(),
            objects: Mutex::new(HashMap::new()),
            checked: Mutex::new(HashMap::new()),
        }
    }

    /// The object at `path`, read once.
    pub fn object(&self, path: &Path) -> Option<Arc<Object>> {
        if let Some(known) = self
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return known.clone();
        }
        let object = read(path).ok().flatten().map(Arc::new);
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_path_buf(), object.clone());
        object
    }

    /// The loader an interpreter is: itself (for its `DT_RPATH`) and every
    /// library it loads, by soname.
    pub fn loader_of(&self, executable: &Path) -> Loader {
        let Some(exe) = self.object(executable) else {
            return Loader::default();
        };
        let mut loaded = BTreeSet::new();
        let mut queue: Vec<(PathBuf, Arc<Object>)> = vec![(executable.to_path_buf(), exe.clone())];
        let mut seen = BTreeSet::new();
        while let Some((path, object)) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            for name in &object.needed {
                loaded.insert(name.clone());
                if let Found::At(found) =
                    self.find(name, &path, &object, Some(&exe), &mut Vec::new())
                    && let Some(next) = self.object(&found)
                {
                    if let Some(soname) = &next.soname {
                        loaded.insert(soname.clone());
                    }
                    queue.push((found, next));
                }
            }
        }
        Loader {
            executable: Some(exe),
            loaded,
        }
    }

    /// Every library that the object at `path` (loaded by `loader`) needs,
    /// directly or through the libraries it loads, and that the loader
    /// would not find. A file that is not ELF needs nothing.
    pub fn missing(&self, path: &Path, loader: &Loader) -> Vec<Missing> {
        let Some(object) = self.object(path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        self.walk(path, &object, loader, &mut out, &mut seen);
        out
    }

    fn walk(
        &self,
        path: &Path,
        object: &Object,
        loader: &Loader,
        out: &mut Vec<Missing>,
        seen: &mut BTreeSet<PathBuf>,
    ) {
        if !seen.insert(path.to_path_buf()) {
            return;
        }
        for name in &object.needed {
            if loader.loaded.contains(name) {
                continue;
            }
            let mut searched = Vec::new();
            match self.find(
                name,
                path,
                object,
                loader.executable.as_deref(),
                &mut searched,
            ) {
                Found::At(found) => {
                    let below = self.below(&found, loader);
                    out.extend(below.iter().cloned());
                }
                Found::Nowhere => out.push(Missing {
                    library: name.clone(),
                    needed_by: path.to_path_buf(),
                    searched,
                }),
            }
        }
    }

    /// What is missing below a library that was found (remembered).
    fn below(&self, found: &Path, loader: &Loader) -> Arc<Vec<Missing>> {
        if let Some(known) = self
            .checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(found)
        {
            return known.clone();
        }
        let mut out = Vec::new();
        if let Some(object) = self.object(found) {
            self.walk(found, &object, loader, &mut out, &mut BTreeSet::new());
        }
        let out = Arc::new(out);
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(found.to_path_buf(), out.clone());
        out
    }

    fn find(
        &self,
        name: &str,
        needer: &Path,
        object: &Object,
        executable: Option<&Object>,
        searched: &mut Vec<PathBuf>,
    ) -> Found {
        if name.contains('/') {
            let path = PathBuf::from(name);
            return if self.fits(&path, object) {
                Found::At(path)
            } else {
                Found::Nowhere
            };
        }
        let origin = needer.parent().unwrap_or(Path::new("/"));
        let mut dirs: Vec<PathBuf> = Vec::new();
        let musl = executable.unwrap_or(object).uses_musl();
        if musl {
            // musl: LD_LIBRARY_PATH, then RPATH and RUNPATH alike.
            dirs.extend(self.ld_library_path.iter().cloned());
            for entry in object.rpath.iter().chain(&object.runpath) {
                dirs.extend(expand(entry, origin, object));
            }
        } else {
            if object.runpath.is_empty() {
                for entry in &object.rpath {
                    dirs.extend(expand(entry, origin, object));
                }
                if let Some(exe) = executable.filter(|e| e.runpath.is_empty()) {
                    // The executable's `$ORIGIN` is its own folder, which
                    // the caller cannot give here; an interpreter's RPATH
                    // rarely uses it for what extension modules need.
                    for entry in exe.rpath.iter().filter(|e| !e.contains("ORIGIN")) {
                        dirs.extend(expand(entry, origin, exe));
                    }
                }
            }
            dirs.extend(self.ld_library_path.iter().cloned());
            for entry in &object.runpath {
                dirs.extend(expand(entry, origin, object));
            }
        }
        for dir in &dirs {
            let candidate = dir.join(name);
            searched.push(dir.clone());
            if self.fits(&candidate, object) {
                return Found::At(candidate);
            }
        }
        if musl {
            for dir in self.musl_dirs(object) {
                let candidate = dir.join(name);
                searched.push(dir.clone());
                if self.fits(&candidate, object) {
                    return Found::At(candidate);
                }
            }
            return Found::Nowhere;
        }
        if let Some(paths) = self.cache().get(name) {
            searched.push(PathBuf::from("/etc/ld.so.cache"));
            for candidate in paths {
                if self.fits(candidate, object) {
                    return Found::At(candidate.clone());
                }
            }
        }
        for dir in default_dirs(object) {
            let candidate = dir.join(name);
            searched.push(dir.clone());
            if self.fits(&candidate, object) {
                return Found::At(candidate);
            }
        }
        Found::Nowhere
    }

    /// Whether `candidate` is an object the loader would take for `needer`.
    fn fits(&self, candidate: &Path, needer: &Object) -> bool {
        candidate.is_file()
            && self
                .object(candidate)
                .is_some_and(|found| found.compatible(needer))
    }

    fn cache(&self) -> &HashMap<String, Vec<PathBuf>> {
        self.cache.get_or_init(|| {
            fs_err::read("/etc/ld.so.cache")
                .map(|bytes| parse_ld_cache(&bytes))
                .unwrap_or_default()
        })
    }

    fn musl_dirs(&self, object: &Object) -> &[PathBuf] {
        self.musl_dirs.get_or_init(|| {
            let arch = match object.machine {
                62 => "x86_64",
                183 => "aarch64",
                3 => "i386",
                40 => "armhf",
                _ => "",
            };
            match fs_err::read_to_string(format!("/etc/ld-musl-{arch}.path")) {
                Ok(text) => text
                    .split(|c: char| c == ':' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect(),
                Err(_) => ["/lib", "/usr/local/lib", "/usr/lib"]
                    .iter()
                    .map(PathBuf::from)
                    .collect(),
            }
        })
    }
}

enum Found {
    At(PathBuf),
    Nowhere,
}

/// The GNU triplet of Debian's multiarch folders for `object`'s machine.
fn triplet(object: &Object) -> Option<&'static str> {
    Some(match (object.machine, object.is_64) {
        (62, true) => "x86_64-linux-gnu",
        (183, true) => "aarch64-linux-gnu",
        (3, false) => "i386-linux-gnu",
        (40, false) => "arm-linux-gnueabihf",
        (21, true) => "powerpc64le-linux-gnu",
        (22, true) => "s390x-linux-gnu",
        (243, true) => "riscv64-linux-gnu",
        _ => return None,
    })
}

/// One `DT_RPATH`/`DT_RUNPATH` entry as folders: `$ORIGIN` is the
/// needer's folder, `$LIB` each of its forms, `$PLATFORM` the machine.
fn expand(entry: &str, origin: &Path, object: &Object) -> Vec<PathBuf> {
    let origin = origin.to_string_lossy();
    let with_origin = entry
        .replace("${ORIGIN}", &origin)
        .replace("$ORIGIN", &origin);
    let platform = match object.machine {
        62 => "x86_64",
        183 => "aarch64",
        3 => "i686",
        _ => "",
    };
    let with_platform = with_origin
        .replace("${PLATFORM}", platform)
        .replace("$PLATFORM", platform);
    if !with_platform.contains("LIB") {
        return vec![PathBuf::from(with_platform)];
    }
    let mut libs = vec![if object.is_64 { "lib64" } else { "lib" }.to_string()];
    libs.push("lib".into());
    if let Some(t) = triplet(object) {
        libs.push(format!("lib/{t}"));
    }
    libs.dedup();
    libs.iter()
        .map(|lib| PathBuf::from(with_platform.replace("${LIB}", lib).replace("$LIB", lib)))
        .collect()
}

/// glibc's trusted folders, searched after the cache.
fn default_dirs(object: &Object) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(t) = triplet(object) {
        dirs.push(PathBuf::from(format!("/lib/{t}")));
        dirs.push(PathBuf::from(format!("/usr/lib/{t}")));
    }
    if object.is_64 {
        dirs.push(PathBuf::from("/lib64"));
        dirs.push(PathBuf::from("/usr/lib64"));
    }
    dirs.push(PathBuf::from("/lib"));
    dirs.push(PathBuf::from("/usr/lib"));
    dirs
}

/// `/etc/ld.so.cache` (glibc's `glibc-ld.so.cache1.1` format, alone or
/// after the old `ld.so-1.7.0` table): soname to paths, in the cache's
/// order. Anything unreadable gives an empty map (the default folders are
/// still searched).
pub fn parse_ld_cache(bytes: &[u8]) -> HashMap<String, Vec<PathBuf>> {
    const NEW: &[u8] = b"glibc-ld.so.cache1.1";
    const OLD: &[u8] = b"ld.so-1.7.0";
    let mut out: HashMap<String, Vec<PathBuf>> = HashMap::new();
    let start = if bytes.starts_with(NEW) {
        0
    } else if bytes.starts_with(OLD) {
        let Some(n) = bytes
            .get(12..16)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return out;
        };
        let after = 16usize.saturating_add((n as usize).saturating_mul(12));
        // The new table follows, aligned; look for its magic near there.
        let window = bytes.get(after..after.saturating_add(16 + NEW.len()));
        match window.and_then(|w| w.windows(NEW.len()).position(|x| x == NEW)) {
            Some(at) => after + at,
            None => return out,
        }
    } else {
        return out;
    };
    let header = &bytes[start..];
    let Some(n) = header
        .get(20..24)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return out;
    };
    let string = |offset: u32| -> Option<&str> {
        let from = start.checked_add(offset as usize)?;
        let rest = bytes.get(from..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    };
    for i in 0..n as usize {
        let Some(entry) = header.get(48 + i * 24..48 + i * 24 + 24) else {
            break;
        };
        let key = u32::from_ne_bytes([entry[4], entry[5], entry[6], entry[7]]);
        let value = u32::from_ne_bytes([entry[8], entry[9], entry[10], entry[11]]);
        if let (Some(key), Some(value)) = (string(key), string(value)) {
            out.entry(key.to_string())
                .or_default()
                .push(PathBuf::from(value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncated_files_are_not_elf_and_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.so");
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0);
        // Program headers far past the end, a huge count, odd sizes.
        for (at, bytes) in [
            (32usize, u64::MAX.to_le_bytes().to_vec()),
            (54, 56u16.to_le_bytes().to_vec()),
            (56, 4000u16.to_le_bytes().to_vec()),
        ] {
            elf[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\x7fELF".to_vec(),
            b"#!/bin/sh\necho hi\n".to_vec(),
            elf.clone(),
            elf[..40].to_vec(),
            (0..=255u8).cycle().take(10_000).collect(),
        ];
        for bytes in cases {
            fs_err::write(&path, &bytes).unwrap();
            let read = read(&path).unwrap();
            assert!(
                read.as_ref().is_none_or(|o| o.needed.is_empty()),
                "{read:?}"
            );
        }
    }

    #[test]
    fn a_missing_cache_or_a_garbage_one_is_empty() {
        assert!(parse_ld_cache(b"").is_empty());
        assert!(parse_ld_cache(b"glibc-ld.so.cache1.1\xff\xff\xff\xff").is_empty());
        assert!(parse_ld_cache(b"ld.so-1.7.0\0\xff\xff\xff\x7f").is_empty());
    }

    #[test]
    fn origin_lib_and_platform_expand() {
        let object = Object {
            is_64: true,
            little_endian: true,
            machine: 62,
            ..Object::default()
        };
        assert_eq!(
            expand("$ORIGIN/../x.libs", Path::new("/site/x"), &object),
            vec![PathBuf::from("/site/x/../x.libs")]
        );
        assert_eq!(
            expand("${ORIGIN}/$LIB", Path::new("/o"), &object),
            vec![
                PathBuf::from("/o/lib64"),
                PathBuf::from("/o/lib"),
                PathBuf::from("/o/lib/x86_64-linux-gnu")
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_test_binary_needs_libc_and_the_loader_finds_it() {
        let me = std::env::current_exe().unwrap();
        let object = read(&me).unwrap().expect("the test binary is ELF");
        assert!(
            object.needed.iter().any(|n| n.starts_with("libc.so")),
            "{object:?}"
        );
        let resolver = Resolver::new(Vec::new());
        assert_eq!(resolver.missing(&me, &Loader::default()), Vec::new());
    }
}
