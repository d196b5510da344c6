//! Shared libraries of Mach-O (macOS) and PE (Windows) binaries, read
//! natively with the `object` crate (already in the tree through
//! `backtrace`; only its Mach-O and PE readers are compiled in): what a
//! binary loads, and whether the loader would find it. [`super::elf`] does
//! the same for ELF, with a reader of its own (see its docs for why).
//!
//! # Mach-O (`dyld`)
//!
//! A binary's needs are its `LC_LOAD_DYLIB`, `LC_REEXPORT_DYLIB`,
//! `LC_LAZY_LOAD_DYLIB` and `LC_LOAD_UPWARD_DYLIB` commands
//! (`LC_LOAD_WEAK_DYLIB` may be absent: `dyld` loads without it). Of a
//! universal binary, the slice of this machine's architecture is read (the
//! first one elsewhere). Each name resolves as `dyld` resolves it:
//!
//! - `@rpath/X`: each `LC_RPATH` of the binary, then of the executable
//!   that loads it, with `@loader_path` (the binary's folder) and
//!   `@executable_path` (the executable's folder) expanded;
//! - `@loader_path/X`, `@executable_path/X`: those folders;
//! - an absolute path under `/usr/lib/` or `/System/`: present. Since macOS
//!   11 system libraries live in the dyld shared cache, not as files, and
//!   no Python build ships one of its own there;
//! - another absolute path: that file;
//! - a bare name: `dyld`'s fallback folders (`~/lib`, `/usr/local/lib`,
//!   `/usr/lib`), of which `/usr/lib` is the system's: present.
//!
//! Libraries found are checked in turn (with the same executable), each
//! once.
//!
//! # PE (Windows)
//!
//! A binary's needs are the DLLs of its import directory (delay-loaded ones
//! are loaded on first call, and a program is built to live without them).
//! Python (3.8+) loads extension modules with
//! `LOAD_LIBRARY_SEARCH_DEFAULT_DIRS | LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR`,
//! so a DLL is looked for in the binary's own folder, the runtime's folder
//! (`python.exe`'s, which holds `python3X.dll` and `vcruntime140.dll`),
//! its `DLLs` folder, and `System32`. API sets (`api-ms-win-*`,
//! `ext-ms-win-*`, resolved by the loader, not files) and the DLLs every
//! Windows has ([`SYSTEM_DLLS`]) are present; `vcruntime140.dll` and
//! `msvcp140.dll` are not on that list: they are the redistributable, the
//! classic "missing DLL". Names compare without case, as Windows does.
//! Libraries found outside `System32` are checked in turn.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use object::read::macho::{FatArch, LoadCommandIterator, MachHeader};
use object::read::pe::{ImageNtHeaders, PeFile};
use object::{Endianness, LittleEndian, macho, pe};

use super::elf::Missing;

/// What a Mach-O or PE binary loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imports {
    /// Mach-O: the load commands' paths; PE: the imported DLLs' names.
    pub needed: Vec<String>,
    /// Mach-O `LC_RPATH`, unexpanded (PE: none).
    pub rpaths: Vec<String>,
}

/// The kinds of binary this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MachO,
    Pe,
}

/// Reads what the binary at `path` loads; `Ok(None)` when it is neither
/// Mach-O nor PE (or a form of them this reader does not understand). Never
/// panics on any input: `object` bounds-checks every read.
pub fn read(path: &Path) -> io::Result<Option<(Kind, Imports)>> {
    use std::io::Read as _;
    // A thin Mach-O's load commands follow its header: the first 64 KiB
    // hold them in every real binary, and an extension module is often
    // megabytes. A PE's import directory, or a universal binary's slice,
    // may be anywhere: those are read whole.
    let mut head = Vec::new();
    fs_err::File::open(path)?
        .take(HEAD)
        .read_to_end(&mut head)?;
    if (head.len() as u64) < HEAD {
        return Ok(parse(&head));
    }
    if matches!(
        object::FileKind::parse(&*head),
        Ok(object::FileKind::MachO32 | object::FileKind::MachO64)
    ) && let Some(found) = parse(&head)
    {
        return Ok(Some(found));
    }
    let data = fs_err::read(path)?;
    Ok(parse(&data))
}

/// How much of a file is read first (see [`read`]).
const HEAD: u64 = 64 * 1024;

/// [`read`], from bytes.
pub fn parse(data: &[u8]) -> Option<(Kind, Imports)> {
    match object::FileKind::parse(data).ok()? {
        object::FileKind::MachO32 => {
            macho_imports::<macho::MachHeader32<Endianness>>(data).map(|i| (Kind::MachO, i))
        }
        object::FileKind::MachO64 => {
            macho_imports::<macho::MachHeader64<Endianness>>(data).map(|i| (Kind::MachO, i))
        }
        object::FileKind::MachOFat32 => fat::<macho::FatArch32>(data),
        object::FileKind::MachOFat64 => fat::<macho::FatArch64>(data),
        object::FileKind::Pe32 => pe_imports::<pe::ImageNtHeaders32>(data).map(|i| (Kind::Pe, i)),
        object::FileKind::Pe64 => pe_imports::<pe::ImageNtHeaders64>(data).map(|i| (Kind::Pe, i)),
        _ => None,
    }
}

/// The slice of a universal binary for this machine's architecture (else
/// the first).
fn fat<A: FatArch>(data: &[u8]) -> Option<(Kind, Imports)> {
    let arches = object::read::macho::MachOFatFile::<A>::parse(data).ok()?;
    let host = match std::env::consts::ARCH {
        "aarch64" => Some(macho::CPU_TYPE_ARM64),
        "x86_64" => Some(macho::CPU_TYPE_X86_64),
        _ => None,
    };
    let arch = arches
        .arches()
        .iter()
        .find(|a| Some(a.cputype()) == host)
        .or_else(|| arches.arches().first())?;
    let slice = arch.data(data).ok()?;
    match object::FileKind::parse(slice).ok()? {
        object::FileKind::MachO32 => macho_imports::<macho::MachHeader32<Endianness>>(slice),
        object::FileKind::MachO64 => macho_imports::<macho::MachHeader64<Endianness>>(slice),
        _ => None,
    }
    .map(|i| (Kind::MachO, i))
}

fn macho_imports<H: MachHeader<Endian = Endianness>>(data: &[u8]) -> Option<Imports> {
    let header = H::parse(data, 0).ok()?;
    let endian = header.endian().ok()?;
    let mut commands: LoadCommandIterator<'_, Endianness> =
        header.load_commands(endian, data, 0).ok()?;
    let mut out = Imports::default();
    while let Some(command) = commands.next().ok()? {
        if let Some(dylib) = command.dylib().ok()? {
            if command.cmd() == macho::LC_LOAD_WEAK_DYLIB {
                continue;
            }
            let name = command.string(endian, dylib.dylib.name).ok()?;
            out.needed.push(String::from_utf8_lossy(name).into_owned());
        } else if command.cmd() == macho::LC_RPATH {
            let rpath: &macho::RpathCommand<Endianness> = command.data().ok()?;
            let path = command.string(endian, rpath.path).ok()?;
            out.rpaths.push(String::from_utf8_lossy(path).into_owned());
        }
    }
    Some(out)
}

fn pe_imports<Pe: ImageNtHeaders>(data: &[u8]) -> Option<Imports> {
    let file = PeFile::<Pe, &[u8]>::parse(data).ok()?;
    let mut out = Imports::default();
    // No import directory: it loads nothing.
    let Some(table) = file.import_table().ok()? else {
        return Some(out);
    };
    let mut descriptors = table.descriptors().ok()?;
    while let Some(descriptor) = descriptors.next().ok()? {
        let name = table.name(descriptor.name.get(LittleEndian)).ok()?;
        out.needed.push(String::from_utf8_lossy(name).into_owned());
    }
    Some(out)
}

/// Windows DLLs present on every supported Windows (10 and later), lower
/// case: the `KnownDLLs` and the system libraries CPython and common
/// extension modules import. Not the Visual C++ redistributable.
pub const SYSTEM_DLLS: &[&str] = &[
    "advapi32.dll",
    "bcrypt.dll",
    "cfgmgr32.dll",
    "comctl32.dll",
    "comdlg32.dll",
    "crypt32.dll",
    "dbghelp.dll",
    "dwmapi.dll",
    "gdi32.dll",
    "gdiplus.dll",
    "imm32.dll",
    "iphlpapi.dll",
    "kernel32.dll",
    "kernelbase.dll",
    "msvcrt.dll",
    "ncrypt.dll",
    "netapi32.dll",
    "normaliz.dll",
    "ntdll.dll",
    "ole32.dll",
    "oleaut32.dll",
    "opengl32.dll",
    "psapi.dll",
    "rpcrt4.dll",
    "secur32.dll",
    "setupapi.dll",
    "shell32.dll",
    "shlwapi.dll",
    "ucrtbase.dll",
    "user32.dll",
    "userenv.dll",
    "uxtheme.dll",
    "version.dll",
    "winhttp.dll",
    "wininet.dll",
    "winmm.dll",
    "wintrust.dll",
    "ws2_32.dll",
    "wsock32.dll",
];

/// Whether Windows provides DLL `name` whatever is installed.
pub fn is_system_dll(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("api-ms-win-")
        || lower.starts_with("ext-ms-win-")
        || SYSTEM_DLLS.contains(&lower.as_str())
}

/// Whether a Mach-O load path is the system's (present without a file).
pub fn is_system_dylib(path: &str) -> bool {
    path.starts_with("/usr/lib/") || path.starts_with("/System/")
}

/// Where a Mach-O binary's needs are resolved from.
#[derive(Debug, Clone, Default)]
pub struct MachOLoader {
    /// The executable (`@executable_path`, and its `LC_RPATH` after the
    /// binary's own).
    pub executable: Option<PathBuf>,
    pub executable_rpaths: Vec<String>,
}

/// A Mach-O load path or a DLL, resolved: the file it names,
/// [`Resolved::System`], or not found after looking at `searched`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    At(PathBuf),
    System,
    Nowhere { searched: Vec<PathBuf> },
}

/// Resolves `name` (a load command of the binary at `binary`, whose
/// `LC_RPATH`s are `rpaths`) as `dyld` does (see the module docs).
pub fn resolve_macho(
    name: &str,
    binary: &Path,
    rpaths: &[String],
    loader: &MachOLoader,
) -> Resolved {
    let loader_dir = binary.parent().unwrap_or(Path::new("/"));
    let executable_dir = loader
        .executable
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(loader_dir);
    let expand = |p: &str| -> Option<PathBuf> {
        if let Some(rest) = p.strip_prefix("@loader_path") {
            Some(join(loader_dir, rest))
        } else if let Some(rest) = p.strip_prefix("@executable_path") {
            Some(join(executable_dir, rest))
        } else if p.starts_with('@') {
            None // an `@rpath` inside an rpath: dyld ignores it
        } else {
            Some(PathBuf::from(p))
        }
    };
    let mut searched = Vec::new();
    let candidates: Vec<PathBuf> = if let Some(rest) = name.strip_prefix("@rpath/") {
        rpaths
            .iter()
            .chain(&loader.executable_rpaths)
            .filter_map(|r| expand(r))
            .map(|dir| dir.join(rest))
            .collect()
    } else if name.starts_with("@loader_path") || name.starts_with("@executable_path") {
        expand(name).into_iter().collect()
    } else if name.starts_with('/') {
        if is_system_dylib(name) {
            return Resolved::System;
        }
        vec![PathBuf::from(name)]
    } else {
        // dyld's fallback folders; `/usr/lib` is the system's.
        return Resolved::System;
    };
    for candidate in candidates {
        if candidate.is_file() {
            // Its real path, as dyld records it (`@loader_path` of what
            // it loads is its real folder).
            return Resolved::At(fs_err::canonicalize(&candidate).unwrap_or(candidate));
        }
        if let Some(dir) = candidate.parent() {
            searched.push(dir.to_path_buf());
        }
    }
    Resolved::Nowhere { searched }
}

/// `dir` joined with `rest` (`/lib/x.dylib`, or empty).
fn join(dir: &Path, rest: &str) -> PathBuf {
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rest)
    }
}

/// Every library the Mach-O binary at `path` needs, directly or through
/// what it loads, that `dyld` would not find. A file that is not Mach-O
/// needs nothing.
pub fn missing_macho(path: &Path, loader: &MachOLoader) -> Vec<Missing> {
    walk(path, Kind::MachO, |name, binary, imports| {
        resolve_macho(name, binary, &imports.rpaths, loader)
    })
}

/// Walks what the binary at `path` (of `kind`) needs, and what those
/// need in turn, each binary once, `resolve` deciding where each need is;
/// returns the needs found nowhere.
fn walk(
    path: &Path,
    kind: Kind,
    mut resolve: impl FnMut(&str, &Path, &Imports) -> Resolved,
) -> Vec<Missing> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = vec![path.to_path_buf()];
    while let Some(binary) = queue.pop() {
        if !seen.insert(binary.clone()) {
            continue;
        }
        let imports = match read(&binary) {
            Ok(Some((found, imports))) if found == kind => imports,
            Ok(_) | Err(_) => continue,
        };
        for name in &imports.needed {
            match resolve(name, &binary, &imports) {
                Resolved::At(found) => queue.push(found),
                Resolved::System => {}
                Resolved::Nowhere { searched } => out.push(Missing {
                    library: name.clone(),
                    needed_by: binary.clone(),
                    searched,
                }),
            }
        }
    }
    out
}

/// The folders a DLL of the binary at `binary` is looked for in, for a
/// runtime whose `python.exe` is in `runtime_dir` (see the module docs).
pub fn pe_search_dirs(binary: &Path, runtime_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(own) = binary.parent() {
        dirs.push(own.to_path_buf());
    }
    dirs.push(runtime_dir.to_path_buf());
    dirs.push(runtime_dir.join("DLLs"));
    dirs.extend(system32());
    let mut seen = BTreeSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// `%SystemRoot%\System32`, where Windows is.
fn system32() -> Option<PathBuf> {
    std::env::var_os("SystemRoot").map(|root| PathBuf::from(root).join("System32"))
}

/// The file named `name` in `dir`, its case ignored (NTFS ignores it).
fn find_ignoring_case(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    if exact.is_file() {
        return Some(exact);
    }
    fs_err::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
        .map(|e| e.path())
        .filter(|p| p.is_file())
}

/// Every DLL the PE binary at `path` needs, directly or through the DLLs
/// it loads (outside the system's), that Windows would not find for a
/// runtime in `runtime_dir`. A file that is not PE needs nothing.
pub fn missing_pe(path: &Path, runtime_dir: &Path) -> Vec<Missing> {
    walk(path, Kind::Pe, |name, binary, _| {
        resolve_pe(name, binary, runtime_dir)
    })
}

/// Resolves DLL `name`, imported by the binary at `binary`, as Windows
/// does for a runtime in `runtime_dir` (see the module docs). What
/// `System32` holds counts as the system's (not walked).
pub fn resolve_pe(name: &str, binary: &Path, runtime_dir: &Path) -> Resolved {
    if is_system_dll(name) {
        return Resolved::System;
    }
    let dirs = pe_search_dirs(binary, runtime_dir);
    match dirs.iter().find_map(|d| find_ignoring_case(d, name)) {
        Some(found) if system32().is_some_and(|s| found.starts_with(s)) => Resolved::System,
        Some(found) => Resolved::At(found),
        None => Resolved::Nowhere { searched: dirs },
    }
}

#[cfg(test)]
mod tests {
    //! Real Mach-O and PE files, written here: a Mach-O dylib's header and
    //! load commands laid out byte by byte as `<mach-o/loader.h>` defines
    //! them, a PE DLL by `object`'s own PE writer with an import
    //! directory. Both are read back by the reader under test.

    use super::*;
    use object::write::pe::{NtHeaders, Writer};

    fn u32le(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// One load command carrying a string (a dylib's name or an rpath),
    /// padded to 8 bytes.
    fn string_command(cmd: u32, fixed: &[u32], text: &str) -> Vec<u8> {
        // cmd, cmdsize, the string's offset, then the other fields.
        let header = 4 * (3 + fixed.len());
        let size = (header + text.len() + 1).div_ceil(8) * 8;
        let mut out = Vec::new();
        u32le(&mut out, cmd);
        u32le(&mut out, size as u32);
        u32le(&mut out, header as u32);
        for v in fixed {
            u32le(&mut out, *v);
        }
        out.extend_from_slice(text.as_bytes());
        out.resize(size, 0);
        out
    }

    /// A 64-bit little-endian `MH_DYLIB` of `cputype` with these load
    /// commands: `(cmd, name)` dylibs and rpaths.
    fn macho(cputype: u32, dylibs: &[(u32, &str)], rpaths: &[&str]) -> Vec<u8> {
        let mut commands: Vec<Vec<u8>> = vec![string_command(
            macho::LC_ID_DYLIB.0,
            &[2, 0x10000, 0x10000],
            "@rpath/libself.dylib",
        )];
        for (cmd, name) in dylibs {
            // timestamp, current and compatibility versions
            commands.push(string_command(*cmd, &[2, 0x10000, 0x10000], name));
        }
        for rpath in rpaths {
            commands.push(string_command(macho::LC_RPATH.0, &[], rpath));
        }
        let mut out = Vec::new();
        u32le(&mut out, macho::MH_MAGIC_64);
        u32le(&mut out, cputype);
        u32le(&mut out, 0); // cpusubtype
        u32le(&mut out, macho::MH_DYLIB.0);
        u32le(&mut out, commands.len() as u32);
        u32le(
            &mut out,
            commands.iter().map(Vec::len).sum::<usize>() as u32,
        );
        u32le(&mut out, 0); // flags
        u32le(&mut out, 0); // reserved
        for c in commands {
            out.extend(c);
        }
        out
    }

    /// A universal binary of `slices` (`(cputype, bytes)`), big-endian
    /// as `<mach-o/fat.h>` has it.
    fn fat_binary(slices: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&macho::FAT_MAGIC.to_be_bytes());
        out.extend_from_slice(&(slices.len() as u32).to_be_bytes());
        let mut offset = 4096u32;
        let mut body = Vec::new();
        for (cputype, bytes) in slices {
            for v in [*cputype, 0, offset, bytes.len() as u32, 12] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            body.push((offset, bytes));
            offset += (bytes.len() as u32).div_ceil(4096) * 4096;
        }
        for (at, bytes) in body {
            out.resize(at as usize, 0);
            out.extend_from_slice(bytes);
        }
        out
    }

    /// A 64-bit PE DLL whose import directory names `dlls` (one import by
    /// ordinal from each).
    fn pe_dll(dlls: &[&str]) -> Vec<u8> {
        let descriptors = (dlls.len() + 1) * 20;
        // Per DLL: a lookup table and an address table (one entry and
        // the null one, 8 bytes each), then its name.
        let tables = dlls.len() * 32;
        let names: usize = dlls.iter().map(|d| d.len() + 1).sum();
        let size = (descriptors + tables + names) as u32;
        let mut out = Vec::new();
        {
            let mut w = Writer::new(true, 0x1000, 0x200, &mut out);
            w.reserve_dos_header_and_stub();
            w.reserve_nt_headers(16);
            w.reserve_section_headers(1);
            let idata = w.reserve_idata_section(size);
            let rva = idata.virtual_address as usize;
            let mut section = vec![0u8; size as usize];
            let mut table_at = descriptors;
            let mut name_at = descriptors + tables;
            for (i, dll) in dlls.iter().enumerate() {
                let d = i * 20;
                let lookup = (rva + table_at) as u32;
                let address = (rva + table_at + 16) as u32;
                section[d..d + 4].copy_from_slice(&lookup.to_le_bytes());
                section[d + 12..d + 16].copy_from_slice(&((rva + name_at) as u32).to_le_bytes());
                section[d + 16..d + 20].copy_from_slice(&address.to_le_bytes());
                let ordinal = (1u64 << 63) | 1;
                section[table_at..table_at + 8].copy_from_slice(&ordinal.to_le_bytes());
                section[table_at + 16..table_at + 24].copy_from_slice(&ordinal.to_le_bytes());
                table_at += 32;
                section[name_at..name_at + dll.len()].copy_from_slice(dll.as_bytes());
                name_at += dll.len() + 1;
            }
            w.write_dos_header_and_stub().unwrap();
            w.write_nt_headers(NtHeaders {
                machine: pe::IMAGE_FILE_MACHINE_AMD64,
                time_date_stamp: 0,
                characteristics: pe::IMAGE_FILE_EXECUTABLE_IMAGE | pe::IMAGE_FILE_DLL,
                major_linker_version: 14,
                minor_linker_version: 0,
                address_of_entry_point: 0,
                image_base: 0x1_8000_0000,
                major_operating_system_version: 6,
                minor_operating_system_version: 0,
                major_image_version: 0,
                minor_image_version: 0,
                major_subsystem_version: 6,
                minor_subsystem_version: 0,
                subsystem: pe::IMAGE_SUBSYSTEM_WINDOWS_CUI,
                dll_characteristics: Default::default(),
                size_of_stack_reserve: 0x10_0000,
                size_of_stack_commit: 0x1000,
                size_of_heap_reserve: 0x10_0000,
                size_of_heap_commit: 0x1000,
            });
            w.write_section_headers();
            w.write_section(idata.file_offset, &section);
        }
        out
    }

    fn write(path: &Path, bytes: &[u8]) {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, bytes).unwrap();
    }

    #[test]
    fn a_dylibs_load_commands_and_rpaths_are_read_and_weak_ones_skipped() {
        let bytes = macho(
            macho::CPU_TYPE_ARM64.0,
            &[
                (macho::LC_LOAD_DYLIB.0, "@rpath/libssl.3.dylib"),
                (macho::LC_LOAD_WEAK_DYLIB.0, "@rpath/libmaybe.dylib"),
                (macho::LC_REEXPORT_DYLIB.0, "/usr/lib/libSystem.B.dylib"),
            ],
            &["@loader_path/../lib"],
        );
        let (kind, imports) = parse(&bytes).unwrap();
        assert_eq!(kind, Kind::MachO);
        assert_eq!(
            imports.needed,
            ["@rpath/libssl.3.dylib", "/usr/lib/libSystem.B.dylib"]
        );
        assert_eq!(imports.rpaths, ["@loader_path/../lib"]);
    }

    #[test]
    fn a_universal_binary_is_read_for_this_machines_architecture() {
        let arm = macho(
            macho::CPU_TYPE_ARM64.0,
            &[(macho::LC_LOAD_DYLIB.0, "@rpath/libarm.dylib")],
            &[],
        );
        let x86 = macho(
            macho::CPU_TYPE_X86_64.0,
            &[(macho::LC_LOAD_DYLIB.0, "@rpath/libx86.dylib")],
            &[],
        );
        let bytes = fat_binary(&[
            (macho::CPU_TYPE_X86_64.0, x86),
            (macho::CPU_TYPE_ARM64.0, arm),
        ]);
        let (kind, imports) = parse(&bytes).unwrap();
        assert_eq!(kind, Kind::MachO);
        let want = match std::env::consts::ARCH {
            "aarch64" => "@rpath/libarm.dylib",
            // x86_64, and elsewhere the first slice (x86_64 here)
            _ => "@rpath/libx86.dylib",
        };
        assert_eq!(imports.needed, [want]);
    }

    #[test]
    fn a_pe_dlls_import_directory_is_read() {
        let bytes = pe_dll(&["python311.dll", "KERNEL32.dll", "libcrypto-3.dll"]);
        let (kind, imports) = parse(&bytes).unwrap();
        assert_eq!(kind, Kind::Pe);
        assert_eq!(
            imports.needed,
            ["python311.dll", "KERNEL32.dll", "libcrypto-3.dll"]
        );
        assert!(imports.rpaths.is_empty());
    }

    #[test]
    fn garbage_truncated_and_other_formats_are_none_never_a_panic() {
        let dylib = macho(
            macho::CPU_TYPE_ARM64.0,
            &[(macho::LC_LOAD_DYLIB.0, "@rpath/libssl.3.dylib")],
            &["@loader_path"],
        );
        let dll = pe_dll(&["libcrypto-3.dll"]);
        for bytes in [&dylib, &dll] {
            for cut in 0..bytes.len().min(1200) {
                // A cut file is refused or read in part; it never panics.
                let _ = parse(&bytes[..cut]);
            }
        }
        assert_eq!(parse(b"\x7fELF\x02\x01\x01"), None);
        assert_eq!(parse(b"#!/bin/sh\n"), None);
        assert_eq!(parse(&[]), None);
        // A load command whose size runs past the file.
        let mut bad = dylib.clone();
        bad[36..40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert_eq!(parse(&bad), None);
    }

    #[test]
    fn rpath_loader_path_and_executable_path_resolve_as_dyld_resolves_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = &fs_err::canonicalize(dir.path()).unwrap();
        let lib = root.join("python/lib");
        let module = lib.join("python3.11/lib-dynload/_ssl.cpython-311-darwin.so");
        let exe = root.join("python/bin/python3.11");
        write(&lib.join("libssl.3.dylib"), b"");
        write(&root.join("python/bin/libnext.dylib"), b"");
        write(&module, b"");
        let loader = MachOLoader {
            executable: Some(exe.clone()),
            executable_rpaths: vec!["@executable_path/../lib".into()],
        };
        // The module's own rpath first, then the executable's.
        assert_eq!(
            resolve_macho(
                "@rpath/libssl.3.dylib",
                &module,
                &["@loader_path/nowhere".into()],
                &loader
            ),
            Resolved::At(lib.join("libssl.3.dylib"))
        );
        assert_eq!(
            resolve_macho("@loader_path/../../libssl.3.dylib", &module, &[], &loader),
            Resolved::At(lib.join("libssl.3.dylib"))
        );
        assert_eq!(
            resolve_macho("@executable_path/libnext.dylib", &module, &[], &loader),
            Resolved::At(root.join("python/bin/libnext.dylib"))
        );
        // System libraries are in the shared cache, not on disk.
        assert_eq!(
            resolve_macho("/usr/lib/libz.1.dylib", &module, &[], &loader),
            Resolved::System
        );
        assert_eq!(
            resolve_macho(
                "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation",
                &module,
                &[],
                &loader
            ),
            Resolved::System
        );
        // Gone: every folder looked at is named.
        assert_eq!(
            resolve_macho(
                "@rpath/libcrypto.3.dylib",
                &module,
                &["@loader_path/nowhere".into()],
                &loader
            ),
            Resolved::Nowhere {
                searched: vec![
                    lib.join("python3.11/lib-dynload/nowhere"),
                    root.join("python/bin/../lib"),
                ]
            }
        );
        assert_eq!(
            resolve_macho("/opt/homebrew/lib/libgone.dylib", &module, &[], &loader),
            Resolved::Nowhere {
                searched: vec![PathBuf::from("/opt/homebrew/lib")]
            }
        );
    }

    #[test]
    fn a_missing_dylib_is_found_through_the_libraries_a_module_loads() {
        let dir = tempfile::tempdir().unwrap();
        let lib = fs_err::canonicalize(dir.path()).unwrap().join("python/lib");
        let module = lib.join("python3.11/lib-dynload/_ssl.cpython-311-darwin.so");
        let exe = dir.path().join("python/bin/python3.11");
        // The module needs libssl (present), which needs libcrypto (gone).
        write(
            &module,
            &macho(
                macho::CPU_TYPE_ARM64.0,
                &[
                    (macho::LC_LOAD_DYLIB.0, "@rpath/libssl.3.dylib"),
                    (macho::LC_LOAD_DYLIB.0, "/usr/lib/libSystem.B.dylib"),
                ],
                &["@loader_path/../.."],
            ),
        );
        write(
            &lib.join("libssl.3.dylib"),
            &macho(
                macho::CPU_TYPE_ARM64.0,
                &[(macho::LC_LOAD_DYLIB.0, "@loader_path/libcrypto.3.dylib")],
                &[],
            ),
        );
        let loader = MachOLoader {
            executable: Some(exe),
            executable_rpaths: Vec::new(),
        };
        let missing = missing_macho(&module, &loader);
        assert_eq!(
            missing,
            [Missing {
                library: "@loader_path/libcrypto.3.dylib".into(),
                needed_by: lib.join("libssl.3.dylib"),
                searched: vec![lib.clone()],
            }]
        );
        // Put back, nothing is missing.
        write(
            &lib.join("libcrypto.3.dylib"),
            &macho(macho::CPU_TYPE_ARM64.0, &[], &[]),
        );
        assert!(missing_macho(&module, &loader).is_empty());
        // Not Mach-O: nothing to check.
        write(&dir.path().join("x.so"), b"\x7fELF");
        assert!(missing_macho(&dir.path().join("x.so"), &loader).is_empty());
    }

    #[test]
    fn a_missing_dll_is_found_and_system_dlls_and_api_sets_are_present() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("Python311");
        let module = dir
            .path()
            .join("venv/Lib/site-packages/pkg/_native.cp311-win_amd64.pyd");
        // The module needs the runtime's DLL (in its folder), a DLL it
        // ships next to itself, which needs the C++ runtime (gone), and
        // system DLLs and API sets.
        write(
            &module,
            &pe_dll(&[
                "python311.dll",
                "pkg_helper.dll",
                "KERNEL32.dll",
                "api-ms-win-crt-runtime-l1-1-0.dll",
            ]),
        );
        write(&runtime.join("PYTHON311.DLL"), &pe_dll(&["KERNEL32.dll"]));
        write(
            &module.with_file_name("pkg_helper.dll"),
            &pe_dll(&["MSVCP140.dll", "vcruntime140.dll"]),
        );
        write(&runtime.join("vcruntime140.dll"), &pe_dll(&[]));
        let missing = missing_pe(&module, &runtime);
        assert_eq!(missing.len(), 1, "{missing:#?}");
        assert_eq!(missing[0].library, "MSVCP140.dll");
        assert_eq!(
            missing[0].needed_by,
            module.with_file_name("pkg_helper.dll")
        );
        assert_eq!(
            missing[0].searched[..3],
            [
                module.parent().unwrap().to_path_buf(),
                runtime.clone(),
                runtime.join("DLLs")
            ]
        );
        // The runtime's `DLLs` folder is searched too.
        write(&runtime.join("DLLs/msvcp140.dll"), &pe_dll(&[]));
        assert!(missing_pe(&module, &runtime).is_empty());
    }

    #[test]
    fn system_dlls_and_dylibs_are_named_by_rule() {
        assert!(is_system_dll("KERNEL32.DLL"));
        assert!(is_system_dll("api-ms-win-crt-heap-l1-1-0.dll"));
        assert!(is_system_dll("ext-ms-win-ntuser-window-l1-1-0.dll"));
        assert!(!is_system_dll("vcruntime140.dll"));
        assert!(!is_system_dll("python311.dll"));
        assert!(is_system_dylib("/usr/lib/libSystem.B.dylib"));
        assert!(is_system_dylib(
            "/System/Library/Frameworks/Security.framework/Security"
        ));
        assert!(!is_system_dylib("/usr/local/lib/libssl.3.dylib"));
        assert!(!is_system_dylib("/opt/homebrew/lib/libssl.3.dylib"));
    }
}
