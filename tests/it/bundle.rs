//! Bundles end to end, with the real binary: `bundle create` from a locked
//! project whose interpreter comes from a server on 127.0.0.1 and whose
//! wheels come from a wheelhouse; then `apply --bundle` in another folder
//! with another home after the server is stopped and the wheelhouse moved
//! away, so that nothing but the bundle can provide anything; and
//! bundles altered after they were made, refused with the file named.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{beep, expect_exit, isolate_installers, require, stderr, stdout, tool};
use crate::pbs::server::Server;
use crate::pbs::{self, DEBIAN_VERSION};
use crate::wheels::{WheelSpec, sha256_hex, wheelhouse};

/// A locked project: a standalone runtime `py` served from 127.0.0.1, two
/// environments (one with a dependency chain), a wheelhouse, a home.
pub struct Source {
    pub dir: tempfile::TempDir,
    pub server: Option<Server>,
}

impl Source {
    /// The project, applied with `--locked` (the runtime downloaded from
    /// the server, the packages installed from the wheelhouse).
    #[track_caller]
    pub fn applied(installer: &'static str) -> Source {
        let s = Source::locked(installer);
        s.run(&["apply", "--locked", "--auto-approve"]);
        s
    }

    /// One applied pip project per test process, for the tests that only
    /// read it (each writes its bundles under its own name).
    pub fn shared() -> &'static Source {
        static SHARED: std::sync::OnceLock<Source> = std::sync::OnceLock::new();
        static FOLDER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        // A static is never dropped: its folder goes when the process exits.
        extern "C" fn remove_shared() {
            if let Some(folder) = FOLDER.get() {
                let _ = std::fs::remove_dir_all(folder);
            }
        }
        SHARED.get_or_init(|| {
            let source = Source::applied("pip");
            let _ = FOLDER.set(source.dir.path().to_path_buf());
            // SAFETY: registers a plain function that touches only a static.
            unsafe { libc::atexit(remove_shared) };
            source
        })
    }

    /// The project, locked (its runtime provisioned to resolve against),
    /// not applied.
    #[track_caller]
    pub fn locked(installer: &'static str) -> Source {
        let dir = tempfile::tempdir().unwrap();
        let archive = pbs::debian_archive();
        let server = archive.serve();
        let s = Source {
            dir,
            server: Some(server),
        };
        wheelhouse(
            &s.path("wheels"),
            &[
                WheelSpec {
                    name: "alpha",
                    version: "1.0.0",
                    requires: &[],
                },
                WheelSpec {
                    name: "beta",
                    version: "0.5.0",
                    requires: &["alpha>=1"],
                },
                WheelSpec {
                    name: "gamma",
                    version: "3.1.0",
                    requires: &[],
                },
            ],
        );
        std::fs::write(
            s.path("catalog.json"),
            pbs::catalog_json(&[(
                DEBIAN_VERSION,
                &s.server.as_ref().unwrap().url(),
                &archive.sha256,
            )]),
        )
        .unwrap();
        std::fs::write(
            s.path("beep-python.toml"),
            format!(
                "version = 1\n\n[settings]\ninstaller = \"{installer}\"\nfind-links = [\"wheels\"]\npython-downloads = \"catalog.json\"\n\n[runtimes.py]\nversion = \"{DEBIAN_VERSION}\"\ndefault = true\n\n[environments.web]\npath = \".venvs/web\"\npackages = [\"beta\"]\nenv = {{ WEB_MODE = \"offline\" }}\n\n[environments.tools]\npackages = [\"gamma>=3\"]\n"
            ),
        )
        .unwrap();
        s.run(&["lock"]);
        s
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    pub fn cmd(&self) -> Command {
        cmd_in(self.dir.path(), &self.home())
    }

    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        expect_exit(self.cmd(), args, 0)
    }

    /// Makes `<dir>/<name>.tar.zst` and returns its path.
    #[track_caller]
    pub fn bundle_named(&self, name: &str) -> PathBuf {
        let out = self.path(&format!("{name}.tar.zst"));
        self.run(&[
            "bundle",
            "create",
            "--force",
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    }

    /// Makes a bundle named after the running test.
    #[track_caller]
    pub fn bundle(&self) -> PathBuf {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("bundle").replace("::", "-");
        self.bundle_named(&name)
    }

    /// Stops the server and moves the wheelhouse away: from now on only a
    /// bundle can provide the runtime and the packages.
    pub fn close_every_source(&mut self) {
        self.server = None;
        std::fs::rename(self.path("wheels"), self.path("wheels.gone")).unwrap();
    }
}

/// The binary in `dir` with `home`, kept off any index and user config.
pub fn cmd_in(dir: &Path, home: &Path) -> Command {
    let mut cmd = beep(home);
    // Tests sharing one project take turns with its home.
    cmd.args(["--lock-timeout", "600"]);
    isolate_installers(cmd.current_dir(dir))
        .env("UV_OFFLINE", "1")
        .env_remove("BEEP_PYTHON_MIRROR")
        .env_remove("BEEP_PYTHON_PLATFORM");
    cmd
}

/// `name==version` of every distribution in the environment at `env`
/// (pip left out), by asking its interpreter.
pub fn installed(env: &Path) -> Vec<String> {
    let out = Command::new(env.join("bin/python"))
        .args([
            "-c",
            "import importlib.metadata as m; print('\\n'.join(sorted(f\"{d.metadata['Name'].lower()}=={d.version}\" for d in m.distributions())))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("pip==") && !l.starts_with("setuptools=="))
        .map(str::to_string)
        .collect()
}

/// The sha256 of the base interpreter an environment runs on.
pub fn interpreter_sha256(env: &Path) -> String {
    let real = std::fs::canonicalize(env.join("bin/python")).unwrap();
    sha256_hex(&real)
}

/// The files of a bundle, in order, with their bytes.
pub fn unpack(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(bundle).unwrap();
    let decoder = ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(file)).unwrap();
    let mut archive = tar::Archive::new(decoder);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        out.push((name, bytes));
    }
    out
}

/// Writes `files` as a bundle is written: a tar in one zstd frame.
pub fn repack(files: &[(String, Vec<u8>)], to: &Path) {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        // Written raw: the tar crate refuses to set a name with `..`,
        // which is what a hostile bundle would hold.
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        builder.append(&header, bytes.as_slice()).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let compressed = ruzstd::encoding::compress_to_vec(
        tar.as_slice(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    std::fs::write(to, compressed).unwrap();
}

fn sha256_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// Rewrites the `SHA256SUMS` line of `file` to match its new bytes, as a
/// careful forger would.
fn resum(files: &mut [(String, Vec<u8>)], file: &str) {
    let sha = sha256_of(&files.iter().find(|(n, _)| n == file).unwrap().1);
    let sums = files.iter_mut().find(|(n, _)| n == "SHA256SUMS").unwrap();
    let text: String = String::from_utf8(sums.1.clone())
        .unwrap()
        .lines()
        .map(|l| {
            if l.ends_with(&format!("  {file}")) {
                format!("{sha}  {file}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    sums.1 = text.into_bytes();
}

/// Removes `file` from a bundle consistently, as a careful forger would:
/// from the files, `SHA256SUMS` and `bundle.json` (whose line in
/// `SHA256SUMS` is then rewritten).
fn drop_artifact(files: &mut Vec<(String, Vec<u8>)>, file: &str) {
    files.retain(|(n, _)| *n != file);
    for (name, bytes) in files.iter_mut() {
        if name == "SHA256SUMS" {
            let text = String::from_utf8(bytes.clone()).unwrap();
            *bytes = text
                .lines()
                .filter(|l| !l.ends_with(&format!("  {file}")))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .into_bytes();
        }
        if name == "bundle.json" {
            let mut index: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            for kind in ["wheels", "conda"] {
                // `get_mut`: indexing would add the key, as `null`.
                if let Some(list) = index.get_mut(kind).and_then(|l| l.as_array_mut()) {
                    list.retain(|w| w["file"] != file);
                }
            }
            *bytes = serde_json::to_vec_pretty(&index).unwrap();
        }
    }
    resum(files, "bundle.json");
}

fn wheel_name(files: &[(String, Vec<u8>)], prefix: &str) -> String {
    files
        .iter()
        .map(|(n, _)| n.clone())
        .find(|n| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}*` in the bundle"))
}

#[track_caller]
fn require_installer(installer: &str) -> bool {
    installer == "pip" || tool("uv").is_some()
}

/// The round trip the issue asks for: a bundle applied in a new folder,
/// with a new home, after every other source of the runtime and the
/// packages is gone, rebuilds the same package sets on the same
/// interpreter, and a second plan has nothing to do.
fn bundle_applies_with_every_network_path_closed(installer: &'static str) {
    require!(
        format!("Debian's python3.11 and {installer}"),
        (crate::project::python().is_some() && require_installer(installer)).then_some(())
    );
    let mut source = Source::applied(installer);
    let bundle = source.bundle();
    source.run(&["bundle", "verify", bundle.to_str().unwrap()]);
    let web = installed(&source.path(".venvs/web"));
    let tools = installed(&source.home().join("environments/tools"));
    assert_eq!(web, ["alpha==1.0.0", "beta==0.5.0"]);
    assert_eq!(tools, ["gamma==3.1.0"]);
    let python_sha = interpreter_sha256(&source.path(".venvs/web"));
    source.close_every_source();

    let target = tempfile::tempdir().unwrap();
    let home = target.path().join("home");
    let project = target.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let out = expect_exit(
        cmd_in(&project, &home),
        &[
            "apply",
            "--bundle",
            bundle.to_str().unwrap(),
            "--auto-approve",
        ],
        0,
    );
    let err = stderr(&out);
    assert!(err.contains("wrote the bundle's"), "{err}");
    assert_eq!(
        std::fs::read(project.join("beep-python.toml")).unwrap(),
        std::fs::read(source.path("beep-python.toml")).unwrap()
    );
    // The manifest's `find-links` folder was not on this machine: it is
    // made, with the bundle's wheels, so the project validates here.
    assert!(
        err.contains("restored the `find-links` folder") && err.contains("3 wheels"),
        "{err}"
    );
    let mut restored: Vec<String> = std::fs::read_dir(project.join("wheels"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    restored.sort();
    assert_eq!(
        restored,
        [
            "alpha-1.0.0-py3-none-any.whl",
            "beta-0.5.0-py3-none-any.whl",
            "gamma-3.1.0-py3-none-any.whl"
        ]
    );
    assert_eq!(installed(&project.join(".venvs/web")), web);
    assert_eq!(installed(&home.join("environments/tools")), tools);
    assert_eq!(interpreter_sha256(&project.join(".venvs/web")), python_sha);
    // The archive came from the bundle into the cache, by its digest.
    assert!(
        home.join("cache/downloads")
            .join(&pbs::debian_archive().sha256)
            .is_file()
    );
    // Env vars recorded by the manifest come along.
    let activate = std::fs::read_to_string(project.join(".venvs/web/bin/activate")).unwrap();
    assert!(activate.contains("WEB_MODE"), "{activate}");
    // Nothing is left to do, and the scratch folder is gone.
    let plan = expect_exit(
        cmd_in(&project, &home),
        &["plan", "--locked", "--detailed-exitcode"],
        0,
    );
    assert!(stdout(&plan).contains("No changes"), "{}", stdout(&plan));
    let leftovers: Vec<_> = std::fs::read_dir(home.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".bundle-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A second apply of the same bundle in the same folder changes nothing.
    let again = expect_exit(
        cmd_in(&project, &home),
        &[
            "apply",
            "--bundle",
            bundle.to_str().unwrap(),
            "--auto-approve",
        ],
        0,
    );
    assert!(!stderr(&again).contains("wrote the bundle's"));
    // The restored machine needs the bundle no more: an environment lost
    // comes back from what the bundle left (the download cache, by
    // sha256), with no network.
    std::fs::remove_dir_all(project.join(".venvs/web")).unwrap();
    std::fs::remove_dir_all(project.join("wheels")).unwrap();
    std::fs::create_dir(project.join("wheels")).unwrap();
    expect_exit(
        cmd_in(&project, &home),
        &["apply", "--locked", "--auto-approve"],
        0,
    );
    assert_eq!(installed(&project.join(".venvs/web")), web);
}

#[test]
fn bundle_applies_with_every_network_path_closed_pip() {
    bundle_applies_with_every_network_path_closed("pip");
}

#[test]
fn bundle_applies_with_every_network_path_closed_uv() {
    bundle_applies_with_every_network_path_closed("uv");
}

/// What `apply --bundle` says about a refused bundle, and that nothing
/// changed: no manifest written, no environment, no registry.
#[track_caller]
fn refused(bundle: &Path) -> String {
    let target = tempfile::tempdir().unwrap();
    let home = target.path().join("home");
    let out = expect_exit(
        cmd_in(target.path(), &home),
        &[
            "apply",
            "--bundle",
            bundle.to_str().unwrap(),
            "--auto-approve",
        ],
        1,
    );
    assert!(!target.path().join("beep-python.toml").exists());
    assert!(!target.path().join(".venvs").exists());
    assert!(!home.join("registry.json").exists());
    assert!(!home.join("environments").exists());
    stderr(&out)
}

#[test]
fn a_tampered_bundle_is_refused_naming_the_file() {
    require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::python()
    );
    let source = Source::shared();
    let bundle = source.bundle();
    let files = unpack(&bundle);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..5],
        [
            "bundle.json",
            "SHA256SUMS",
            "RESTORE.md",
            "beep-python.toml",
            "beep-python.lock"
        ]
    );
    let gamma = wheel_name(&files, "wheels/gamma-");

    // One byte of a wheel changed.
    let mut changed = files.clone();
    changed.iter_mut().find(|(n, _)| *n == gamma).unwrap().1[40] ^= 1;
    let path = source.path("changed.tar.zst");
    repack(&changed, &path);
    let verify = expect_exit(
        source.cmd(),
        &["bundle", "verify", path.to_str().unwrap()],
        1,
    );
    let err = stderr(&verify);
    assert!(err.contains(&format!("`{gamma}`")), "{err}");
    assert!(err.contains("does not match `SHA256SUMS`"), "{err}");
    let err = refused(&path);
    assert!(err.contains(&format!("`{gamma}`")), "{err}");

    // The wheel swapped and SHA256SUMS rewritten to match: the lock
    // still names the real wheel.
    let mut forged = files.clone();
    let other = crate::wheels::build_wheel_with_payload(
        &source.path("evil"),
        &WheelSpec {
            name: "gamma",
            version: "3.1.0",
            requires: &[],
        },
        "evil",
    );
    forged.iter_mut().find(|(n, _)| *n == gamma).unwrap().1 = std::fs::read(other).unwrap();
    resum(&mut forged, &gamma);
    let path = source.path("forged.tar.zst");
    repack(&forged, &path);
    let err = refused(&path);
    assert!(err.contains(&format!("`{gamma}`")), "{err}");
    assert!(err.contains("bundle.json"), "{err}");

    // A file nobody listed.
    let mut extra = files.clone();
    extra.push((
        "wheels/extra-1.0-py3-none-any.whl".into(),
        b"extra".to_vec(),
    ));
    let path = source.path("extra.tar.zst");
    repack(&extra, &path);
    let err = refused(&path);
    assert!(err.contains("`wheels/extra-1.0-py3-none-any.whl`"), "{err}");
    assert!(err.contains("not listed"), "{err}");

    // An entry that climbs out of the extraction folder.
    let mut escape = files.clone();
    escape.push(("../escape.txt".into(), b"out".to_vec()));
    let path = source.path("escape.tar.zst");
    repack(&escape, &path);
    let err = refused(&path);
    assert!(err.contains("escape.txt"), "{err}");
    assert!(!source.path("escape.txt").exists());

    // Not a bundle at all.
    let path = source.path("plain.tar.zst");
    std::fs::write(&path, b"hello").unwrap();
    let err = refused(&path);
    assert!(err.contains("not a beep-python bundle"), "{err}");
}

#[test]
fn a_bundle_without_an_artifact_is_refused_naming_it_before_anything_changes() {
    require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::python()
    );
    let source = Source::shared();
    let bundle = source.bundle();
    let mut files = unpack(&bundle);
    let alpha = wheel_name(&files, "wheels/alpha-");
    drop_artifact(&mut files, &alpha);
    let path = source.path("incomplete.tar.zst");
    repack(&files, &path);
    let err = refused(&path);
    assert!(err.contains("lacks one artifact"), "{err}");
    assert!(err.contains("`alpha==1.0.0` (env.web)"), "{err}");
}

#[test]
fn bundle_create_names_every_pin_it_cannot_find_and_writes_nothing() {
    require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::python()
    );
    let mut source = Source::locked("pip");
    source.close_every_source();
    // The folder the manifest names is there, and empty.
    std::fs::create_dir(source.path("wheels")).unwrap();
    let out = source.path("bundle.tar.zst");
    let failed = expect_exit(
        source.cmd(),
        &["bundle", "create", "--out", out.to_str().unwrap()],
        1,
    );
    let err = stderr(&failed);
    for pin in [
        "`alpha==1.0.0` (env.web)",
        "`beta==0.5.0` (env.web)",
        "`gamma==3.1.0` (env.tools)",
    ] {
        assert!(err.contains(pin), "{pin} not named: {err}");
    }
    // Each by the file the lock lists for it, and where it was looked for.
    assert!(
        err.contains("`alpha-1.0.0-py3-none-any.whl` is not in the download cache"),
        "{err}"
    );
    assert!(err.contains("no file in"), "{err}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(source.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("bundle"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bundle_create_refuses_to_replace_a_file_without_force() {
    require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::python()
    );
    let source = Source::shared();
    let out = source.path("taken.tar.zst");
    std::fs::write(&out, b"keep me").unwrap();
    let failed = expect_exit(
        source.cmd(),
        &["bundle", "create", "--out", out.to_str().unwrap()],
        1,
    );
    assert!(
        stderr(&failed).contains("already exists"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    source.run(&[
        "bundle",
        "create",
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    source.run(&["bundle", "verify", out.to_str().unwrap()]);
}

#[test]
fn bundle_create_needs_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("beep-python.toml"),
        "version = 1
",
    )
    .unwrap();
    let failed = expect_exit(
        cmd_in(dir.path(), &dir.path().join("home")),
        &["bundle", "create"],
        1,
    );
    let err = stderr(&failed);
    assert!(err.contains("run `beep-python lock` first"), "{err}");
    assert!(!dir.path().join("beep-python-bundle.tar.zst").exists());
}

#[test]
fn apply_bundle_refuses_a_different_manifest_in_place() {
    require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::python()
    );
    let source = Source::shared();
    let bundle = source.bundle();
    let target = tempfile::tempdir().unwrap();
    std::fs::write(
        target.path().join("beep-python.toml"),
        "version = 1\n# another project\n",
    )
    .unwrap();
    let out = expect_exit(
        cmd_in(target.path(), &target.path().join("home")),
        &[
            "apply",
            "--bundle",
            bundle.to_str().unwrap(),
            "--auto-approve",
        ],
        1,
    );
    let err = stderr(&out);
    assert!(
        err.contains("differs from the bundle's `beep-python.toml`"),
        "{err}"
    );
    assert!(!target.path().join("beep-python.lock").exists());
}

#[test]
fn bundle_verify_reports_what_is_inside_as_json() {
    require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::python()
    );
    let source = Source::shared();
    let bundle = source.bundle();
    let out = source.run(&[
        "--format",
        "json",
        "bundle",
        "verify",
        bundle.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["wheels"], 3);
    assert_eq!(report["environments"]["web"], 2);
    assert_eq!(
        report["runtimes"][0]["sha256"],
        pbs::debian_archive().sha256
    );
    let platform = format!("linux-{}-gnu", std::env::consts::ARCH);
    assert_eq!(report["platforms"], serde_json::json!([platform]));
    // RESTORE.md tells a person what to do.
    let files = unpack(&bundle);
    let restore = String::from_utf8(
        files
            .iter()
            .find(|(n, _)| n == "RESTORE.md")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(restore.contains("beep-python apply --bundle"), "{restore}");
    assert!(restore.contains("sha256sum -c SHA256SUMS"), "{restore}");
}

#[test]
fn a_bundle_for_another_platform_carries_its_build_and_applies_there() {
    require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::python()
    );
    let mut source = Source::locked("pip");
    let here = format!("linux-{}-gnu", std::env::consts::ARCH);
    let other_arch = if std::env::consts::ARCH == "x86_64" {
        "aarch64"
    } else {
        "x86_64"
    };
    let other = format!("linux-{other_arch}-gnu");
    // The catalog lists the build for both platforms (the same archive
    // stands in for the other one, so that it runs here too).
    let archive = pbs::debian_archive();
    let url = source.server.as_ref().unwrap().url();
    let entry = |arch: &str| {
        serde_json::json!({"version": DEBIAN_VERSION, "os": "linux", "arch": arch, "libc": "gnu",
            "build": pbs::BUILD, "url": url, "sha256": archive.sha256})
    };
    std::fs::write(
        source.path("catalog.json"),
        serde_json::json!({"source": "test", "count": 2,
            "downloads": [entry(std::env::consts::ARCH), entry(other_arch)]})
        .to_string(),
    )
    .unwrap();
    let bundle = source.path("both.tar.zst");
    source.run(&[
        "bundle",
        "create",
        "--out",
        bundle.to_str().unwrap(),
        "--platform",
        &other,
    ]);
    let out = source.run(&[
        "--format",
        "json",
        "bundle",
        "verify",
        bundle.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut platforms = vec![here.clone(), other.clone()];
    platforms.sort();
    assert_eq!(report["platforms"], serde_json::json!(platforms));
    source.close_every_source();

    // A machine of the other platform: its build comes from the bundle,
    // found through the bundle's own catalog (the manifest's is not there).
    let target = tempfile::tempdir().unwrap();
    let home = target.path().join("home");
    let mut cmd = cmd_in(target.path(), &home);
    cmd.env("BEEP_PYTHON_PLATFORM", &other);
    expect_exit(
        cmd,
        &[
            "apply",
            "--bundle",
            bundle.to_str().unwrap(),
            "--auto-approve",
        ],
        0,
    );
    assert!(
        home.join("runtimes")
            .join(format!("cpython-{DEBIAN_VERSION}-{other}"))
            .is_dir()
    );
    assert_eq!(
        installed(&target.path().join(".venvs/web")),
        ["alpha==1.0.0", "beta==0.5.0"]
    );

    // A platform the bundle has no build for is named, and nothing changes.
    let third = tempfile::tempdir().unwrap();
    let mut cmd = cmd_in(third.path(), &third.path().join("home"));
    cmd.env("BEEP_PYTHON_PLATFORM", "linux-riscv64-gnu");
    let failed = expect_exit(
        cmd,
        &[
            "apply",
            "--bundle",
            bundle.to_str().unwrap(),
            "--auto-approve",
        ],
        1,
    );
    let err = stderr(&failed);
    assert!(err.contains("for linux-riscv64-gnu"), "{err}");
    assert!(err.contains("--platform linux-riscv64-gnu"), "{err}");
    assert!(!third.path().join("beep-python.toml").exists());
}

/// The wheels a lock lists (`files`) decide what a bundle carries: for
/// each pin, the wheel the native installer picks on each platform the
/// bundle is for, and nothing for platforms it is not for. A platform no
/// listed wheel fits is named; a bundle that lacks this machine's wheel is
/// refused before anything changes; and one with it restores the
/// manifest's `find-links` folder and installs this machine's wheel.
///
/// The lock lists every platform's wheels when its pins come from a
/// pylock.toml that does (as a universal resolver writes it): `lock` by
/// pip or uv records the wheels that fit this machine.
#[test]
fn a_bundle_carries_the_locked_wheel_of_each_platform_it_is_for() {
    use crate::wheels::{Custom, sha256_hex};
    let p = require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::Project::new()
    );
    let arch = std::env::consts::ARCH;
    let other_arch = if arch == "x86_64" {
        "aarch64"
    } else {
        "x86_64"
    };
    let variant = |tag: &str| {
        let mut wheel =
            Custom::new("delta", "1.0.0").file("delta/which.py", &format!("WHICH = '{tag}'\n"));
        wheel.tag = tag.to_string();
        wheel.build(&p.path("wheels"));
        wheel.file_name()
    };
    let here = variant(&format!("cp311-cp311-manylinux_2_17_{arch}"));
    let there = variant(&format!("cp311-cp311-manylinux_2_17_{other_arch}"));
    let windows = variant("cp311-cp311-win_amd64");
    let gamma = "gamma-3.1.0-py3-none-any.whl".to_string();
    let artifact = |file: &str| {
        format!(
            "{{ name = \"{file}\", path = \"wheels/{file}\", hashes = {{ sha256 = \"{}\" }} }}",
            sha256_hex(&p.path("wheels").join(file))
        )
    };
    std::fs::write(
        p.path("pylock.toml"),
        format!(
            "lock-version = \"1.0\"\ncreated-by = \"a-universal-resolver\"\nrequires-python = \">=3.11\"\n\n[[packages]]\nname = \"delta\"\nversion = \"1.0.0\"\nwheels = [{}, {}, {}]\n\n[[packages]]\nname = \"gamma\"\nversion = \"3.1.0\"\nwheels = [{}]\n",
            artifact(&here),
            artifact(&there),
            artifact(&windows),
            artifact(&gamma)
        ),
    )
    .unwrap();
    p.manifest(
        "pip",
        "\n[environments.web]\npath = \".venvs/web\"\npylock = \"pylock.toml\"\n",
    );
    p.run(&["lock"]);
    let lock = std::fs::read_to_string(p.path("beep-python.lock")).unwrap();
    for file in [&here, &there, &windows] {
        assert!(lock.contains(&format!("name = \"{file}\"")), "{lock}");
    }
    // And back out as PEP 751: every platform's wheel, by name and path
    // (absolute: the wheels are not under the folder written to).
    p.run(&["export", "--format", "pylock", "--out", "out"]);
    let exported = std::fs::read_to_string(p.path("out/pylock.web.toml")).unwrap();
    for file in [&here, &there, &windows, &gamma] {
        let path = p.path("wheels").join(file);
        assert!(
            exported.contains(&format!("name = \"{file}\"\npath = \"{}\"", path.display())),
            "{file}:\n{exported}"
        );
    }
    let wheels_of = |bundle: &Path| -> Vec<String> {
        let mut names: Vec<String> = unpack(bundle)
            .into_iter()
            .filter_map(|(n, _)| n.strip_prefix("wheels/").map(str::to_string))
            .collect();
        names.sort();
        names
    };

    // This machine only: its wheel, not the others.
    let mine = p.path("mine.tar.zst");
    p.run(&["bundle", "create", "--out", mine.to_str().unwrap()]);
    assert_eq!(wheels_of(&mine), [here.clone(), gamma.clone()]);
    // And another Linux: both Linux wheels; the pure one serves both.
    let other = format!("linux-{other_arch}-gnu");
    let both = p.path("both.tar.zst");
    p.run(&[
        "bundle",
        "create",
        "--out",
        both.to_str().unwrap(),
        "--platform",
        &other,
    ]);
    let mut expected = vec![here.clone(), there.clone(), gamma.clone()];
    expected.sort();
    assert_eq!(wheels_of(&both), expected);
    // A platform no wheel of delta is for: named, and nothing written.
    let mac = p.path("mac.tar.zst");
    let failed = p.fails(
        &[
            "bundle",
            "create",
            "--out",
            mac.to_str().unwrap(),
            "--platform",
            "darwin-aarch64-none",
        ],
        1,
    );
    let err = stderr(&failed);
    assert!(
        err.contains("`delta==1.0.0` (env.web): no wheel the lock lists fits Python 3.11 on darwin-aarch64-none"),
        "{err}"
    );
    assert!(!err.contains("`gamma==3.1.0`"), "{err}");
    assert!(!mac.exists());

    // Every source closed: the wheels folder moved away, a new home.
    std::fs::rename(p.path("wheels"), p.path("wheels.gone")).unwrap();
    let target = tempfile::tempdir().unwrap();
    let home = target.path().join("home");

    // A bundle that holds delta only for the other platform is whole by
    // itself, but not for this machine: refused, naming the wheel.
    let mut files = unpack(&both);
    drop_artifact(&mut files, &format!("wheels/{here}"));
    let theirs = p.path("theirs.tar.zst");
    repack(&files, &theirs);
    p.run(&["bundle", "verify", theirs.to_str().unwrap()]);
    let machine = format!("linux-{arch}-gnu");
    let refused = expect_exit(
        cmd_in(target.path(), &home),
        &[
            "apply",
            "--bundle",
            theirs.to_str().unwrap(),
            "--auto-approve",
        ],
        1,
    );
    let err = stderr(&refused);
    assert!(
        err.contains(&format!(
            "`delta==1.0.0` (env.web): its wheel for {machine}, `{here}`"
        )),
        "{err}"
    );
    assert!(!target.path().join("beep-python.toml").exists());
    assert!(!p.path("wheels").exists());
    assert!(!home.join("registry.json").exists());

    // The bundle for this machine: the manifest's find-links folder (an
    // absolute path, gone) comes back holding the bundle's wheels, and
    // this machine's wheel is the one installed.
    let out = expect_exit(
        cmd_in(target.path(), &home),
        &[
            "apply",
            "--bundle",
            mine.to_str().unwrap(),
            "--auto-approve",
        ],
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "restored the `find-links` folder `{}` with the bundle's 2 wheels",
            p.path("wheels").display()
        )),
        "{err}"
    );
    assert!(p.path("wheels").join(&here).is_file());
    // The pylock the manifest takes the packages from came along.
    assert_eq!(
        std::fs::read(target.path().join("pylock.toml")).unwrap(),
        std::fs::read(p.path("pylock.toml")).unwrap()
    );
    let which = std::process::Command::new(target.path().join(".venvs/web/bin/python"))
        .args(["-c", "import delta.which as w; print(w.WHICH)"])
        .output()
        .unwrap();
    assert!(which.status.success(), "{}", stderr(&which));
    assert_eq!(
        stdout(&which).trim(),
        format!("cp311-cp311-manylinux_2_17_{arch}")
    );
}

/// A locked conda project (tests/it/conda_env.rs: python, alpha, beta and
/// gamma from `./channel`), bundled.
#[cfg(unix)]
fn conda_bundle() -> Option<(crate::conda_env::CondaProject, PathBuf)> {
    let p = crate::conda_env::CondaProject::new()?;
    p.manifest(
        "",
        &crate::conda_env::SCI.replace("\"alpha\"]", "\"alpha\", \"gamma\"]"),
    );
    p.run(&["lock"]);
    let bundle = p.path("sci.tar.zst");
    let out = p.run(&["bundle", "create", "--out", bundle.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("4 conda packages"),
        "{}",
        stderr(&out)
    );
    Some((p, bundle))
}

#[cfg(unix)]
#[test]
fn a_conda_bundle_rebuilds_the_environment_offline_after_its_channel_is_gone() {
    let Some((p, bundle)) = conda_bundle() else {
        return;
    };
    let files = unpack(&bundle);
    for built in &p.channel.built {
        let inside = format!("conda/{}", built.file_name);
        let (_, bytes) = files
            .iter()
            .find(|(n, _)| *n == inside)
            .unwrap_or_else(|| panic!("no `{inside}` in the bundle"));
        assert_eq!(sha256_of(bytes), built.sha256, "{inside}");
    }
    let sums = String::from_utf8(
        files
            .iter()
            .find(|(n, _)| n == "SHA256SUMS")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(sums.contains("  conda/beta-1.0-0.conda\n"), "{sums}");
    let text = |name: &str| {
        String::from_utf8(files.iter().find(|(n, _)| n == name).unwrap().1.clone()).unwrap()
    };
    let index: serde_json::Value = serde_json::from_str(&text("bundle.json")).unwrap();
    assert_eq!(
        index["format_version"], 2,
        "conda packages make it format 2"
    );
    assert_eq!(index["conda"].as_array().unwrap().len(), 4);
    assert!(
        index["conda"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["channel"] == "./channel"),
        "each package's channel as the manifest writes it: {index:#}"
    );
    let restore = text("RESTORE.md");
    assert!(
        restore.contains("environment `sci`: conda (linux-64), Python 3.11.2, 4 conda packages"),
        "{restore}"
    );
    // The channel, the machine's caches, everything but the bundle: gone.
    std::fs::remove_dir_all(p.path("channel")).unwrap();
    std::fs::remove_dir_all(p.home()).unwrap();

    // Another folder (the user's notes in it), another home.
    let target = tempfile::tempdir().unwrap();
    let home = target.path().join("home");
    std::fs::write(target.path().join("notes.txt"), "mine").unwrap();
    let copy = target.path().join("sci.tar.zst");
    std::fs::copy(&bundle, &copy).unwrap();
    let verify = stdout(&expect_exit(
        cmd_in(target.path(), &home),
        &["bundle", "verify", "sci.tar.zst"],
        0,
    ));
    assert!(verify.contains("4 conda packages"), "{verify}");
    let out = expect_exit(
        cmd_in(target.path(), &home),
        &["apply", "--bundle", "sci.tar.zst", "--auto-approve"],
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains("restored the conda channel") && err.contains("channel"),
        "{err}"
    );
    let prefix = target.path().join(".conda/sci");
    assert_eq!(
        crate::conda_env::conda_list_at(&prefix),
        ["alpha=1.0", "beta=1.0", "gamma=1.0", "python=3.11.2"]
    );
    assert_eq!(
        crate::conda_env::python_at(
            &prefix,
            "import sys, alpha, beta; print(sys.version_info[:2], beta.partner())"
        )
        .trim(),
        "(3, 11) alpha"
    );
    assert_eq!(
        std::fs::read_to_string(target.path().join("notes.txt")).unwrap(),
        "mine"
    );
    // The folder channel the manifest names is back, as a channel: the
    // restored project plans, locks and applies with no bundle.
    assert!(
        target
            .path()
            .join("channel/linux-64/repodata.json")
            .is_file()
    );
    assert!(
        target
            .path()
            .join("channel/linux-64/beta-1.0-0.conda")
            .is_file()
    );
    for args in [&["plan", "--locked"][..], &["plan", "--refresh=full"][..]] {
        let plan = stdout(&expect_exit(cmd_in(target.path(), &home), args, 0));
        assert!(plan.contains("No changes."), "{args:?}: {plan}");
    }
    let relock = stderr(&expect_exit(
        cmd_in(target.path(), &home),
        &["lock", "--upgrade"],
        0,
    ));
    assert!(!relock.contains("error"), "{relock}");
    let lock = std::fs::read_to_string(target.path().join("beep-python.lock")).unwrap();
    assert!(lock.contains("beta-1.0-0.conda"), "{lock}");
}

#[cfg(unix)]
#[test]
fn a_conda_bundle_missing_a_package_or_its_channel_s_place_is_refused_before_anything_changes() {
    let Some((p, bundle)) = conda_bundle() else {
        return;
    };
    let mut files = unpack(&bundle);
    drop_artifact(&mut files, "conda/beta-1.0-0.conda");
    let path = p.path("incomplete.tar.zst");
    repack(&files, &path);
    let err = refused(&path);
    assert!(err.contains("lacks one artifact"), "{err}");
    assert!(
        err.contains("conda package `beta-1.0-0` (env.sci)"),
        "{err}"
    );

    // Where the manifest's folder channel goes, the user keeps a file:
    // refused before anything is written, the file as it was.
    let target = tempfile::tempdir().unwrap();
    std::fs::write(target.path().join("channel"), "my notes").unwrap();
    let home = target.path().join("home");
    let out = expect_exit(
        cmd_in(target.path(), &home),
        &[
            "apply",
            "--bundle",
            bundle.to_str().unwrap(),
            "--auto-approve",
        ],
        1,
    );
    let err = stderr(&out);
    assert!(err.contains("bundle::channel-in-the-way"), "{err}");
    assert_eq!(
        std::fs::read_to_string(target.path().join("channel")).unwrap(),
        "my notes"
    );
    assert!(!target.path().join("beep-python.toml").exists());
    assert!(!target.path().join(".conda").exists());

    // `bundle create` with a package nowhere to be found (not in the
    // channel, not in the download cache): refused, naming it, no file.
    std::fs::remove_file(p.path("channel/linux-64/beta-1.0-0.conda")).unwrap();
    std::fs::remove_dir_all(p.home().join("cache")).unwrap();
    let out = p.path("never.tar.zst");
    let err = p.fails(&["bundle", "create", "--out", out.to_str().unwrap()]);
    assert!(
        err.contains("conda package `beta-1.0-0` (env.sci)"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn bundle_verify_catches_a_tampered_conda_package() {
    let Some((p, bundle)) = conda_bundle() else {
        return;
    };
    let files = unpack(&bundle);
    let beta = "conda/beta-1.0-0.conda";
    // One byte changed.
    let mut changed = files.clone();
    let bytes = &mut changed.iter_mut().find(|(n, _)| n == beta).unwrap().1;
    let last = bytes.len() - 10;
    bytes[last] ^= 1;
    let path = p.path("changed.tar.zst");
    repack(&changed, &path);
    let err = p.fails(&["bundle", "verify", path.to_str().unwrap()]);
    assert!(err.contains(&format!("`{beta}`")), "{err}");
    assert!(err.contains("does not match `SHA256SUMS`"), "{err}");
    // And SHA256SUMS rewritten to match: `bundle.json` and the lock
    // still name the real package.
    let mut forged = changed;
    resum(&mut forged, beta);
    let path = p.path("forged.tar.zst");
    repack(&forged, &path);
    let err = p.fails(&["bundle", "verify", path.to_str().unwrap()]);
    assert!(err.contains(&format!("`{beta}`")), "{err}");
    assert!(err.contains("bundle.json"), "{err}");
    let err = refused(&path);
    assert!(err.contains(&format!("`{beta}`")), "{err}");
}
