//! The platform a runtime must run on, named as the download catalog names
//! it: `os-arch-libc`, such as `linux-x86_64-gnu`, `linux-aarch64-musl`,
//! `darwin-aarch64-none` or `windows-x86_64-none`.
//!
//! The OS and architecture are the ones this program was built for. The C
//! library is not: a glibc build of beep-python runs on a musl system only if
//! it is static, and a static build says nothing about the system's libc. So
//! on Linux the libc is detected at run time, from the program interpreter
//! (`PT_INTERP`) of `/bin/sh`, or of this executable when `/bin/sh` has none:
//! `/lib/ld-musl-x86_64.so.1` means musl, anything else glibc. When neither
//! names one (both static), a musl loader in `/lib` decides.
//!
//! `BEEP_PYTHON_PLATFORM` overrides detection, for tests and for preparing
//! runtimes for another machine.

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::path::Path;

use fs_err as fs;

/// The environment variable that overrides [`Platform::detect`].
pub const PLATFORM_ENV: &str = "BEEP_PYTHON_PLATFORM";

/// The operating systems the catalog knows, by its names for them.
const OSES: [&str; 3] = ["linux", "darwin", "windows"];

/// The machine a runtime must run on, in the catalog's terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Platform {
    /// `linux`, `darwin` or `windows`.
    pub os: String,
    /// `x86_64`, `aarch64`, or another architecture by its Rust name.
    pub arch: String,
    /// `gnu` or `musl` on Linux, `none` elsewhere.
    pub libc: String,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlatformError {
    #[error("`{text}` is not a platform: {reason}")]
    #[diagnostic(
        code("platform::invalid"),
        help(
            "write `os-arch-libc`, such as `linux-x86_64-gnu`, `linux-aarch64-musl`, `darwin-aarch64-none` or `windows-x86_64-none`"
        )
    )]
    Invalid { text: String, reason: String },

    #[error("`{PLATFORM_ENV}` is set to `{text}`, which is not a platform: {reason}")]
    #[diagnostic(
        code("platform::invalid-env"),
        help(
            "write `os-arch-libc`, such as `linux-x86_64-gnu` or `darwin-aarch64-none`, or unset `{PLATFORM_ENV}` to use this machine's"
        )
    )]
    InvalidEnv { text: String, reason: String },
}

impl Platform {
    /// This machine.
    pub fn detect() -> Platform {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        let libc = if cfg!(target_os = "linux") {
            detect_libc()
        } else {
            "none"
        };
        Platform {
            os: os.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            libc: libc.to_owned(),
        }
    }

    /// The platform named by `BEEP_PYTHON_PLATFORM` if it is set (and not
    /// empty), else this machine.
    pub fn from_env_or_detect() -> Result<Platform, PlatformError> {
        from_override(std::env::var_os(PLATFORM_ENV).as_deref())
    }

    /// Parses `os-arch-libc`, such as `linux-x86_64-gnu`.
    pub fn parse(text: &str) -> Result<Platform, PlatformError> {
        let invalid = |reason: String| PlatformError::Invalid {
            text: text.to_owned(),
            reason,
        };
        let parts: Vec<&str> = text.trim().split('-').collect();
        let [os, arch, libc] = parts[..] else {
            return Err(invalid(format!(
                "expected three parts separated by `-`, found {}",
                parts.len()
            )));
        };
        for (what, part) in [("os", os), ("architecture", arch), ("libc", libc)] {
            if part.is_empty()
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(invalid(format!(
                    "the {what} `{part}` is not a lowercase name"
                )));
            }
        }
        if !OSES.contains(&os) {
            let hint = match os {
                "macos" | "osx" | "apple" => " (macOS is `darwin`)",
                "win" | "win32" | "win64" => " (Windows is `windows`)",
                _ => "",
            };
            return Err(invalid(format!(
                "the os `{os}` is not one of `linux`, `darwin`, `windows`{hint}"
            )));
        }
        let usual = match arch {
            "amd64" | "x64" => Some("x86_64"),
            "arm64" => Some("aarch64"),
            _ => None,
        };
        if let Some(usual) = usual {
            return Err(invalid(format!(
                "the architecture `{arch}` is called `{usual}` here"
            )));
        }
        let libcs: &[&str] = if os == "linux" {
            &["gnu", "musl"]
        } else {
            &["none"]
        };
        if !libcs.contains(&libc) {
            return Err(invalid(format!(
                "the libc on {os} is {}, not `{libc}`",
                libcs
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        Ok(Platform {
            os: os.to_owned(),
            arch: arch.to_owned(),
            libc: libc.to_owned(),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.os, self.arch, self.libc)
    }
}

/// [`Platform::from_env_or_detect`] with the variable's value passed in.
fn from_override(value: Option<&OsStr>) -> Result<Platform, PlatformError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(Platform::detect());
    };
    let text = value.to_string_lossy();
    Platform::parse(&text).map_err(|err| match err {
        PlatformError::Invalid { text, reason } | PlatformError::InvalidEnv { text, reason } => {
            PlatformError::InvalidEnv { text, reason }
        }
    })
}

/// `musl` or `gnu`, for the Linux system this runs on.
fn detect_libc() -> &'static str {
    let this = std::env::current_exe().ok();
    let interpreter = [Some(Path::new("/bin/sh")), this.as_deref()]
        .into_iter()
        .flatten()
        .find_map(read_interpreter);
    match interpreter {
        Some(interp) if is_musl_loader(&interp) => "musl",
        Some(_) => "gnu",
        None if has_musl_loader(Path::new("/lib")) => "musl",
        None => "gnu",
    }
}

fn is_musl_loader(interpreter: &[u8]) -> bool {
    interpreter.windows(7).any(|w| w == b"ld-musl")
}

/// Whether `lib` holds musl's dynamic loader (`ld-musl-<arch>.so.1`).
fn has_musl_loader(lib: &Path) -> bool {
    fs::read_dir(lib).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| is_musl_loader(entry.file_name().as_encoded_bytes()))
    })
}

/// How much of an executable is read to find its interpreter: the ELF
/// header, the program headers and the interpreter's path come first, well
/// within this.
const ELF_PREFIX: u64 = 64 * 1024;

/// The program interpreter of the ELF executable at `path`, if it is one and
/// names one.
fn read_interpreter(path: &Path) -> Option<Vec<u8>> {
    let mut prefix = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(ELF_PREFIX)
        .read_to_end(&mut prefix)
        .ok()?;
    elf_interpreter(&prefix).map(<[u8]>::to_vec)
}

/// `p_type` of the program header that names the interpreter.
const PT_INTERP: u32 = 3;

/// The path in the `PT_INTERP` program header of an ELF image (or of the
/// first part of one), without its NUL. `None` for anything else: not ELF,
/// truncated, inconsistent, or statically linked. Never panics.
fn elf_interpreter(bytes: &[u8]) -> Option<&[u8]> {
    let ident = bytes.get(..16)?;
    if ident[..4] != *b"\x7fELF" {
        return None;
    }
    let wide = match ident[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let elf = Fields {
        bytes,
        big_endian: match ident[5] {
            1 => false,
            2 => true,
            _ => return None,
        },
    };
    let (phoff, phentsize, phnum, min_entry) = if wide {
        (elf.u64(0x20)?, elf.u16(0x36)?, elf.u16(0x38)?, 56)
    } else {
        (
            u64::from(elf.u32(0x1c)?),
            elf.u16(0x2a)?,
            elf.u16(0x2c)?,
            32,
        )
    };
    let phentsize = usize::from(phentsize);
    if phentsize < min_entry {
        return None;
    }
    let phoff = usize::try_from(phoff).ok()?;
    for index in 0..usize::from(phnum) {
        let at = phoff.checked_add(index.checked_mul(phentsize)?)?;
        if elf.u32(at)? != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (elf.u64(at.checked_add(8)?)?, elf.u64(at.checked_add(32)?)?)
        } else {
            (
                u64::from(elf.u32(at.checked_add(4)?)?),
                u64::from(elf.u32(at.checked_add(16)?)?),
            )
        };
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let path = bytes.get(start..end)?;
        let path = path.split(|&b| b == 0).next().unwrap_or(path);
        return (!path.is_empty()).then_some(path);
    }
    None
}

/// Reads the fixed-size fields of an ELF image in its byte order.
struct Fields<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.bytes.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let raw = self.array(at)?;
        Some(if self.big_endian {
            u16::from_be_bytes(raw)
        } else {
            u16::from_le_bytes(raw)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let raw = self.array(at)?;
        Some(if self.big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        })
    }

    fn u64(&self, at: usize) -> Option<u64> {
        let raw = self.array(at)?;
        Some(if self.big_endian {
            u64::from_be_bytes(raw)
        } else {
            u64::from_le_bytes(raw)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for text in [
            "linux-x86_64-gnu",
            "linux-aarch64-musl",
            "darwin-aarch64-none",
            "windows-x86_64-none",
        ] {
            assert_eq!(Platform::parse(text).unwrap().to_string(), text);
        }
        let platform = Platform::parse("linux-x86_64-musl").unwrap();
        assert_eq!(
            platform,
            Platform {
                os: "linux".into(),
                arch: "x86_64".into(),
                libc: "musl".into()
            }
        );
    }

    #[track_caller]
    fn parse_error(text: &str) -> String {
        match Platform::parse(text) {
            Ok(platform) => panic!("`{text}` parsed as {platform}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn parse_rejects_malformed_platforms() {
        assert!(
            parse_error("").contains("three parts"),
            "{}",
            parse_error("")
        );
        assert!(parse_error("linux-x86_64").contains("found 2"));
        assert!(parse_error("linux-x86_64-gnu-extra").contains("found 4"));
        assert!(parse_error("linux--gnu").contains("architecture"));
        assert!(parse_error("Linux-x86_64-gnu").contains("lowercase"));
        assert!(parse_error("macos-aarch64-none").contains("macOS is `darwin`"));
        assert!(parse_error("freebsd-x86_64-none").contains("`freebsd`"));
        assert!(parse_error("darwin-arm64-none").contains("called `aarch64`"));
        assert!(parse_error("windows-amd64-none").contains("called `x86_64`"));
        assert!(parse_error("linux-x86_64-none").contains("`gnu` or `musl`"));
        assert!(parse_error("darwin-aarch64-gnu").contains("`none`"));
    }

    #[test]
    fn override_from_the_environment_wins_and_is_checked() {
        let forced = from_override(Some(OsStr::new("linux-aarch64-musl"))).unwrap();
        assert_eq!(forced.to_string(), "linux-aarch64-musl");
        assert_eq!(
            from_override(Some(OsStr::new(""))).unwrap(),
            Platform::detect()
        );
        assert_eq!(from_override(None).unwrap(), Platform::detect());
        let err = from_override(Some(OsStr::new("linux-x86_64"))).unwrap_err();
        assert!(matches!(err, PlatformError::InvalidEnv { .. }), "{err:?}");
        assert!(err.to_string().contains(PLATFORM_ENV), "{err}");
    }

    #[test]
    fn detect_names_this_machine_in_catalog_terms() {
        let platform = Platform::detect();
        // What detection finds must be something `parse` accepts.
        assert_eq!(Platform::parse(&platform.to_string()).unwrap(), platform);
        if cfg!(target_os = "linux") {
            assert!(["gnu", "musl"].contains(&platform.libc.as_str()));
        } else {
            assert_eq!(platform.libc, "none");
        }
        if cfg!(target_os = "macos") {
            assert_eq!(platform.os, "darwin");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_real_bin_sh_names_an_interpreter_that_matches_detection() {
        let Some(interp) = read_interpreter(Path::new("/bin/sh")) else {
            // A static `/bin/sh` (busybox) names none; nothing to compare.
            return;
        };
        let interp = String::from_utf8(interp).unwrap();
        assert!(interp.starts_with('/'), "{interp}");
        assert!(interp.contains("ld-"), "{interp}");
        let libc = if interp.contains("ld-musl") {
            "musl"
        } else {
            "gnu"
        };
        assert_eq!(Platform::detect().libc, libc);
    }

    /// A minimal ELF image: header, one `PT_LOAD` and one `PT_INTERP`
    /// header, then the interpreter's path.
    fn elf(wide: bool, big_endian: bool, interp: &[u8]) -> Vec<u8> {
        let put = |out: &mut Vec<u8>, at: usize, value: u64, size: usize| {
            let bytes = if big_endian {
                value.to_be_bytes()[8 - size..].to_vec()
            } else {
                value.to_le_bytes()[..size].to_vec()
            };
            out[at..at + size].copy_from_slice(&bytes);
        };
        let (header, entry) = if wide { (64, 56) } else { (52, 32) };
        let data = header + 2 * entry;
        let mut out = vec![0u8; data + interp.len() + 1];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = if wide { 2 } else { 1 };
        out[5] = if big_endian { 2 } else { 1 };
        let word = if wide { 8 } else { 4 };
        if wide {
            put(&mut out, 0x20, header as u64, 8);
            put(&mut out, 0x36, entry as u64, 2);
            put(&mut out, 0x38, 2, 2);
        } else {
            put(&mut out, 0x1c, header as u64, 4);
            put(&mut out, 0x2a, entry as u64, 2);
            put(&mut out, 0x2c, 2, 2);
        }
        // First header: PT_LOAD (1); second: PT_INTERP.
        put(&mut out, header, 1, 4);
        let second = header + entry;
        put(&mut out, second, u64::from(PT_INTERP), 4);
        let (offset_at, size_at) = if wide { (8, 32) } else { (4, 16) };
        put(&mut out, second + offset_at, data as u64, word);
        put(&mut out, second + size_at, interp.len() as u64 + 1, word);
        out[data..data + interp.len()].copy_from_slice(interp);
        out
    }

    #[test]
    fn elf_interpreter_reads_every_class_and_byte_order() {
        let musl = b"/lib/ld-musl-aarch64.so.1";
        for wide in [false, true] {
            for big_endian in [false, true] {
                let image = elf(wide, big_endian, musl);
                assert_eq!(
                    elf_interpreter(&image),
                    Some(&musl[..]),
                    "wide {wide}, big endian {big_endian}"
                );
            }
        }
        assert!(is_musl_loader(musl));
        assert!(!is_musl_loader(b"/lib64/ld-linux-x86-64.so.2"));
    }

    #[test]
    fn elf_interpreter_is_none_for_garbage_and_never_panics() {
        assert_eq!(elf_interpreter(b""), None);
        assert_eq!(elf_interpreter(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(elf_interpreter(&[0x7f, b'E', b'L', b'F']), None);
        assert_eq!(elf_interpreter(&[0xff; 4096]), None);

        let image = elf(true, false, b"/lib64/ld-linux-x86-64.so.2");
        // Every truncation, and every single corrupted byte, is handled.
        for len in 0..image.len() {
            let _ = elf_interpreter(&image[..len]);
        }
        for at in 0..image.len() {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut bad = image.clone();
                bad[at] = value;
                let _ = elf_interpreter(&bad);
            }
        }
        // Headers pointing far past the end, or sizes that overflow.
        let mut huge = image.clone();
        huge[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_interpreter(&huge), None);
        let mut overflow = image.clone();
        let second = 64 + 56;
        overflow[second + 32..second + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_interpreter(&overflow), None);
        // A header table whose entries are too small to hold the fields.
        let mut small = image;
        small[0x36..0x38].copy_from_slice(&8u16.to_le_bytes());
        assert_eq!(elf_interpreter(&small), None);
    }

    #[test]
    fn read_interpreter_of_a_missing_or_non_elf_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_interpreter(&dir.path().join("missing")), None);
        let script = dir.path().join("script");
        fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(read_interpreter(&script), None);
        let image = dir.path().join("image");
        fs::write(&image, elf(true, false, b"/lib/ld-musl-x86_64.so.1")).unwrap();
        assert_eq!(
            read_interpreter(&image).as_deref(),
            Some(&b"/lib/ld-musl-x86_64.so.1"[..])
        );
    }

    #[test]
    fn a_musl_loader_in_lib_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_musl_loader(dir.path()));
        fs::write(dir.path().join("ld-linux-x86-64.so.2"), "").unwrap();
        assert!(!has_musl_loader(dir.path()));
        fs::write(dir.path().join("ld-musl-x86_64.so.1"), "").unwrap();
        assert!(has_musl_loader(dir.path()));
        assert!(!has_musl_loader(&dir.path().join("missing")));
    }
}
