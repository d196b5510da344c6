//! `beep_python::wheel`, the native installer, against real interpreters,
//! real pip and uv: wheels the tests build are installed into environments
//! made by `beep_python::venv`, then the environment's own Python, pip and
//! `importlib.metadata` judge the result.
//!
//! The interpreter is `python3` on `PATH` (its real executable, asked at run
//! time). Unix only: layouts, shebangs and modes are Unix ones.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use beep_python::lockfile::{self, Lock, LockedEnvironment};
use beep_python::venv::{self, BaseInterpreter, CreateOptions, Layout};
use beep_python::wheel::{self, LinkMode, LinkPolicy, Options, Pin, Target, WheelError};

use crate::common::require;
use crate::server::Server;
use crate::wheels::{Custom, sha256_hex};

/// What the tests need of the machine: a CPython 3.8+ that bundles a pip
/// wheel (pip seeds the environments that pip itself judges).
pub const NEEDS: &str = "a CPython 3.8+ that bundles a pip wheel";

/// The interpreter the tests build environments from, chosen at run time
/// ([`crate::common::python_where`]).
pub fn base() -> Option<BaseInterpreter> {
    let python = crate::common::python_where(|p| p.pip_wheel.is_some())?;
    Some(BaseInterpreter {
        executable: python.path.clone(),
        version: python.version.clone(),
        implementation: "cpython".to_string(),
    })
}

/// A home cache, a wheelhouse and environments, in one temporary folder.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub base: BaseInterpreter,
}

impl Fixture {
    /// `None` when the machine lacks [`NEEDS`]: `require!` it.
    pub fn new() -> Option<Fixture> {
        Some(Fixture {
            tmp: tempfile::tempdir().unwrap(),
            base: base()?,
        })
    }

    pub fn cache(&self) -> PathBuf {
        self.tmp.path().join("home/cache")
    }

    pub fn house(&self) -> PathBuf {
        self.tmp.path().join("wheels")
    }

    /// Builds `wheel` into the wheelhouse and returns a pin for it (found
    /// through `find-links`), requested.
    pub fn pin(&self, wheel: &Custom) -> Pin {
        let path = wheel.build(&self.house());
        let mut pin = Pin::new(&wheel.name, &wheel.version, vec![sha256_hex(&path)]);
        pin.requested = true;
        pin
    }

    /// A new environment `name` (no pip).
    pub fn env(&self, name: &str) -> Target {
        self.env_at(&self.tmp.path().join(name))
    }

    pub fn env_at(&self, path: &Path) -> Target {
        let vars = BTreeMap::new();
        let layout = venv::create(
            path,
            &self.base,
            &CreateOptions {
                name: "native-test",
                system_site_packages: false,
                env_vars: &vars,
            },
        )
        .expect("creating an environment");
        Target::with_layout(layout, &self.base)
    }

    /// An environment with pip seeded (from the wheel the base bundles).
    pub fn env_with_pip(&self, name: &str) -> Target {
        let target = self.env(name);
        let seeded = venv::seed_pip_cached(
            &target.layout,
            &self.base,
            Some(&self.cache().join("unpacked")),
        )
        .expect("seeding pip");
        assert!(
            matches!(seeded, venv::Seeded::Wheel { .. }),
            "the base interpreter bundles no pip wheel: {seeded:?}"
        );
        target
    }

    pub fn options<'a>(&self, cancel: &'a AtomicBool) -> Options<'a> {
        let mut opts = Options::new(&self.cache(), cancel);
        opts.find_links = vec![self.house()];
        opts
    }

    pub fn install(&self, target: &Target, pins: &[Pin]) -> Result<wheel::Report, WheelError> {
        let cancel = AtomicBool::new(false);
        wheel::install(target, pins, &self.options(&cancel))
    }
}

/// Runs the environment's Python on `code`; returns its output.
#[track_caller]
pub fn python(layout: &Layout, code: &str) -> Output {
    command(&layout.python).args(["-c", code]).output().unwrap()
}

/// A command with the environment cleaned of what would redirect Python or
/// pip.
pub fn command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .env_remove("VIRTUAL_ENV")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null");
    cmd
}

#[track_caller]
pub fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn short(target: &Target) -> String {
    venv::short_version(&target.version)
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut walk = vec![dir.to_path_buf()];
    while let Some(d) = walk.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.map(Result::unwrap) {
            if e.file_type().unwrap().is_dir() {
                walk.push(e.path());
            } else {
                out.insert(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out
}

#[test]
fn purelib_and_platlib_wheels_install_and_import() {
    let fx = require!(NEEDS, Fixture::new());
    let pure = Custom::new("beep-pure", "1.0").file("beep_pure/util.py", "X = 'pure'\n");
    let mut plat = Custom::new("beep-plat", "2.0").file("beep_plat/util.py", "X = 'plat'\n");
    plat.purelib = false;
    let target = fx.env("env");
    let report = fx
        .install(&target, &[fx.pin(&pure), fx.pin(&plat)])
        .unwrap();
    assert_eq!(report.installed.len(), 2);
    assert!(report.link_mode.is_some());
    let out = python(
        &target.layout,
        "import beep_pure.util as a, beep_plat.util as b, beep_pure, beep_plat; print(a.X, b.X, beep_pure.__version__, beep_plat.__version__)",
    );
    assert_eq!(ok_stdout(&out), "pure plat 1.0 2.0");

    // Idempotent: the same pins again change nothing.
    let again = fx
        .install(&target, &[fx.pin(&pure), fx.pin(&plat)])
        .unwrap();
    assert!(again.installed.is_empty(), "{again:?}");
    assert_eq!(again.unchanged, ["beep-pure", "beep-plat"]);
}

#[test]
fn data_scripts_headers_and_data_go_where_pip_puts_them() {
    let fx = require!(NEEDS, Fixture::new());
    let mut spec = Custom::new("beep-data", "1.0");
    let data = spec.data();
    spec = spec
        .file_mode(
            &format!("{data}/scripts/beep-tool"),
            "#!python\nimport beep_data\nprint('tool', beep_data.__version__)\n",
            0o755,
        )
        .file_mode(
            &format!("{data}/scripts/beep-sh"),
            "#!/bin/sh\necho shell script\n",
            0o755,
        )
        .file(&format!("{data}/headers/beep.h"), "#define BEEP 1\n")
        .file(&format!("{data}/data/share/beep/notes.txt"), "notes\n")
        .file(&format!("{data}/purelib/beep_extra.py"), "E = 1\n");
    let pin = fx.pin(&spec);
    let native = fx.env("native");
    fx.install(&native, std::slice::from_ref(&pin)).unwrap();
    let root = &native.layout.root;

    let tool = native.layout.bin.join("beep-tool");
    let text = std::fs::read_to_string(&tool).unwrap();
    assert!(
        text.starts_with(&format!("#!{}\n", native.layout.python.display())),
        "{text}"
    );
    assert_eq!(ok_stdout(&command(&tool).output().unwrap()), "tool 1.0");
    assert_eq!(
        ok_stdout(
            &command(&native.layout.bin.join("beep-sh"))
                .output()
                .unwrap()
        ),
        "shell script"
    );
    assert_eq!(
        std::fs::read_to_string(root.join(format!(
            "include/site/python{}/beep-data/beep.h",
            short(&native)
        )))
        .unwrap(),
        "#define BEEP 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("share/beep/notes.txt")).unwrap(),
        "notes\n"
    );
    ok_stdout(&python(&native.layout, "import beep_extra"));

    // pip, installing the same wheel, puts every file in the same place.
    let by_pip = fx.env_with_pip("pip");
    ok_stdout(
        &command(&by_pip.layout.python)
            .args(["-m", "pip", "install", "--no-deps", "--find-links"])
            .arg(fx.house())
            .arg("beep-data==1.0")
            .output()
            .unwrap(),
    );
    let installed = |t: &Target| -> BTreeSet<String> {
        let dist_info = t.layout.site_packages.join(spec.dist_info());
        let record = std::fs::read_to_string(dist_info.join("RECORD")).unwrap();
        record
            .lines()
            .map(|l| l.split(',').next().unwrap().to_string())
            .filter(|p| !p.contains("__pycache__"))
            .filter(|p| {
                !["INSTALLER", "REQUESTED", "direct_url.json"]
                    .iter()
                    .any(|f| p.ends_with(&format!(".dist-info/{f}")))
            })
            .collect()
    };
    assert_eq!(installed(&native), installed(&by_pip));
}

#[test]
fn console_and_gui_entry_points_run() {
    let fx = require!(NEEDS, Fixture::new());
    let mut spec = Custom::new("beep-cli", "1.0")
        .file(
            "beep_cli/main.py",
            "import sys\ndef main():\n    print('console', sys.argv[1:])\n    return 3\n",
        )
        .file("beep_cli/gui.py", "def run():\n    print('gui')\n");
    spec.entry_points = Some(
        "[console_scripts]\nbeep-cli = beep_cli.main:main\n\n[gui_scripts]\nbeep-gui = beep_cli.gui:run\n"
            .to_string(),
    );
    // A folder with a space: the launchers need the `/bin/sh` exec form.
    let fx_env = fx.tmp.path().join("with space/env");
    let target = fx.env_at(&fx_env);
    fx.install(&target, &[fx.pin(&spec)]).unwrap();

    let cli = target.layout.bin.join("beep-cli");
    let text = std::fs::read_to_string(&cli).unwrap();
    assert!(text.starts_with("#!/bin/sh\n'''exec' "), "{text}");
    let out = command(&cli).args(["a", "b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "console ['a', 'b']"
    );
    let out = command(&target.layout.bin.join("beep-gui"))
        .output()
        .unwrap();
    assert_eq!(ok_stdout(&out), "gui");
    assert_eq!(
        std::fs::metadata(&cli).unwrap().mode() & 0o777,
        0o755,
        "launchers are executable"
    );

    // A plain path gets a plain shebang.
    let plain = fx.env("plain");
    fx.install(&plain, &[fx.pin(&spec)]).unwrap();
    let text = std::fs::read_to_string(plain.layout.bin.join("beep-cli")).unwrap();
    assert!(
        text.starts_with(&format!("#!{}\n", plain.layout.python.display())),
        "{text}"
    );
    let out = command(&plain.layout.bin.join("beep-cli"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn namespace_packages_from_two_wheels_share_a_folder() {
    let fx = require!(NEEDS, Fixture::new());
    let mut a = Custom::new("beep-ns-a", "1.0");
    a.files = vec![("beepns/a/__init__.py".into(), b"A = 1\n".to_vec(), 0o644)];
    let mut b = Custom::new("beep-ns-b", "1.0");
    b.files = vec![("beepns/b/__init__.py".into(), b"B = 2\n".to_vec(), 0o644)];
    let target = fx.env("env");
    fx.install(&target, &[fx.pin(&a), fx.pin(&b)]).unwrap();
    let out = python(
        &target.layout,
        "import beepns.a, beepns.b; print(beepns.a.A + beepns.b.B)",
    );
    assert_eq!(ok_stdout(&out), "3");

    let site = &target.layout.site_packages;
    wheel::uninstall(&target.layout, "beep-ns-a")
        .unwrap()
        .unwrap();
    assert!(!site.join("beepns/a").exists(), "a's folder went with it");
    assert!(site.join("beepns/b/__init__.py").is_file());
    wheel::uninstall(&target.layout, "beep_ns_b")
        .unwrap()
        .unwrap();
    assert!(
        !site.join("beepns").exists(),
        "the namespace folder was left empty"
    );
    assert!(site.is_dir(), "site-packages itself stays");
}

#[test]
fn a_record_mismatch_is_refused_naming_the_file() {
    let fx = require!(NEEDS, Fixture::new());
    let mut spec = Custom::new("beep-bad", "1.0").file("beep_bad/core.py", "X = 1\n");
    spec.wrong_hash_for = Some("beep_bad/core.py".into());
    let pin = fx.pin(&spec);
    let target = fx.env("env");
    let err = fx.install(&target, std::slice::from_ref(&pin)).unwrap_err();
    assert!(matches!(err, WheelError::RecordMismatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`beep_bad/core.py`"), "{text}");
    assert!(
        !target.layout.site_packages.join("beep_bad").exists(),
        "nothing was installed"
    );
    assert!(
        !fx.cache().join("unpacked").join(&pin.hashes[0]).exists(),
        "nothing was cached"
    );

    // A file RECORD does not list is refused the same way.
    let mut unlisted = Custom::new("beep-unlisted", "1.0").file("beep_unlisted/x.py", "");
    unlisted.unlisted = Some("beep_unlisted/x.py".into());
    let err = fx.install(&target, &[fx.pin(&unlisted)]).unwrap_err();
    assert!(err.to_string().contains("`beep_unlisted/x.py`"), "{err}");

    // The documented escape: a package known to ship a wrong RECORD.
    let cancel = AtomicBool::new(false);
    let mut opts = fx.options(&cancel);
    opts.unverified_record.insert("beep-bad".into());
    wheel::install(&target, &[pin], &opts).unwrap();
    ok_stdout(&python(&target.layout, "import beep_bad.core"));
}

#[test]
fn a_wheel_with_parent_entries_is_refused() {
    let fx = require!(NEEDS, Fixture::new());
    let spec = Custom::new("beep-evil", "1.0").file("../../evil.py", "print('escaped')\n");
    let target = fx.env("env");
    let err = fx.install(&target, &[fx.pin(&spec)]).unwrap_err();
    assert!(matches!(err, WheelError::Unsafe { .. }), "{err:?}");
    assert!(err.to_string().contains("../../evil.py"), "{err}");
    assert!(!fx.tmp.path().join("evil.py").exists());
    assert!(!fx.tmp.path().join("home/evil.py").exists());
    assert!(!target.layout.site_packages.join("beep_evil").exists());

    // Two entries for one path are refused too.
    let dup = Custom::new("beep-dup", "1.0").file("./beep_dup/__init__.py", "X = 2\n");
    let err = fx.install(&target, &[fx.pin(&dup)]).unwrap_err();
    assert!(err.to_string().contains("same path"), "{err}");
}

/// The child half of [`locked_pins_install_without_pip_or_uv_on_path`]:
/// installs the pins described in `BEEP_NATIVE_CHILD` (a JSON file).
fn child_install(spec: &str) {
    #[derive(serde::Deserialize)]
    struct Job {
        env: PathBuf,
        lock: PathBuf,
        cache: PathBuf,
        house: PathBuf,
        url_pin: (String, String, String, String, String),
        base: (PathBuf, String, String),
    }
    let job: Job = serde_json::from_str(&std::fs::read_to_string(spec).unwrap()).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for tool in ["pip", "pip3", "uv"] {
            assert!(
                !dir.join(tool).exists(),
                "{tool} is on PATH in {}",
                dir.display()
            );
        }
    }
    let lock = lockfile::read(&job.lock).unwrap().unwrap();
    let mut pins: Vec<Pin> = lock.environments["app"]
        .packages
        .iter()
        .map(|p| Pin::from_locked(p, p.name == "beep-app"))
        .collect();
    let (name, version, url, file, sha256) = job.url_pin;
    let mut pin = Pin::new(&name, &version, vec![sha256]);
    pin.url = Some(url);
    pin.file = Some(file);
    pins.push(pin);
    let base = BaseInterpreter {
        executable: job.base.0,
        version: job.base.1,
        implementation: job.base.2,
    };
    let target = Target::new(&job.env, &base);
    let cancel = AtomicBool::new(false);
    let mut opts = Options::new(&job.cache, &cancel);
    opts.find_links = vec![job.house];
    opts.compile_bytecode = true;
    let report = wheel::install(&target, &pins, &opts).unwrap();
    assert_eq!(report.installed.len(), 3, "{report:?}");
}

#[test]
fn locked_pins_install_without_pip_or_uv_on_path() {
    if let Ok(spec) = std::env::var("BEEP_NATIVE_CHILD") {
        child_install(&spec);
        return;
    }
    let fx = require!(NEEDS, Fixture::new());
    let mut app = Custom::new("beep-app", "1.0").file(
        "beep_app/main.py",
        "import beep_lib, beep_remote\ndef main():\n    print('app', beep_lib.__version__, beep_remote.__version__)\n",
    );
    app.entry_points = Some("[console_scripts]\nbeep-app = beep_app.main:main\n".into());
    let lib = Custom::new("beep-lib", "2.1");
    let remote = Custom::new("beep-remote", "0.3");
    let app_pin = fx.pin(&app);
    let lib_pin = fx.pin(&lib);
    // One wheel only on an HTTP server on 127.0.0.1, named by its URL.
    let remote_path = remote.build(&fx.tmp.path().join("served"));
    let server = Server::start(Arc::new(std::fs::read(&remote_path).unwrap()));

    let mut lock = Lock::default();
    lock.environments.insert(
        "app".into(),
        LockedEnvironment {
            runtime: "py".into(),
            python_version: fx.base.version.clone(),
            inputs_hash: "sha256:00".into(),
            packages: [&app_pin, &lib_pin]
                .iter()
                .map(|p| beep_python::lockfile::LockedPackage {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    url: None,
                    hashes: vec![format!("sha256:{}", p.hashes[0])],
                    files: Vec::new(),
                })
                .collect(),
            conda: None,
        },
    );
    let lock_path = fx.tmp.path().join(lockfile::LOCK_FILE);
    lockfile::write(&lock_path, &lock).unwrap();
    let env = fx.tmp.path().join("env");
    fx.env_at(&env);
    // The lock's pins come from the wheelhouse (`find-links`); the served
    // wheel is not in it, so it can only come from its URL.
    let job = serde_json::json!({
        "env": env,
        "lock": lock_path,
        "cache": fx.cache(),
        "house": fx.house(),
        "url_pin": ["beep-remote", "0.3", server.url(), remote.file_name(), sha256_hex(&remote_path)],
        "base": [fx.base.executable, fx.base.version, fx.base.implementation],
    });
    let job_path = fx.tmp.path().join("job.json");
    std::fs::write(&job_path, job.to_string()).unwrap();

    let empty_path = fx.tmp.path().join("empty-path");
    std::fs::create_dir(&empty_path).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "native::locked_pins_install_without_pip_or_uv_on_path",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BEEP_NATIVE_CHILD", &job_path)
        .env("PATH", &empty_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.requests().len(), 1, "the URL pin was downloaded");

    let layout = venv::layout(&env, &fx.base.version);
    let out = command(&layout.bin.join("beep-app")).output().unwrap();
    assert_eq!(ok_stdout(&out), "app 2.1 0.3");
    // Bytecode was compiled (`compile_bytecode`) and linked with the sources.
    let pyc = layout.site_packages.join(format!(
        "beep_app/__pycache__/main.{}.pyc",
        cache_tag(&fx.base)
    ));
    assert!(pyc.is_file(), "{} missing", pyc.display());
}

/// `cpython-312` for CPython 3.12.
pub fn cache_tag(base: &BaseInterpreter) -> String {
    let (major, minor) = venv::major_minor(&base.version).unwrap();
    format!("cpython-{major}{minor}")
}

#[test]
fn uninstall_removes_only_its_own_files_and_keeps_the_others_inodes() {
    let fx = require!(NEEDS, Fixture::new());
    let mut a = Custom::new("beep-a", "1.0").file("beep_a/sub/deep.py", "D = 1\n");
    a.entry_points = Some("[console_scripts]\nbeep-a = beep_a:main\n".into());
    let b = Custom::new("beep-b", "1.0").file("beep_b/other.py", "O = 1\n");
    let target = fx.env("env");
    fx.install(&target, &[fx.pin(&a), fx.pin(&b)]).unwrap();
    let site = &target.layout.site_packages;
    let inodes = |dir: &Path| -> BTreeMap<String, u64> {
        files_under(dir)
            .into_iter()
            .map(|f| {
                let ino = std::fs::metadata(dir.join(&f)).unwrap().ino();
                (f, ino)
            })
            .collect()
    };
    let b_before = inodes(&site.join("beep_b"));
    // Bytecode Python wrote for a's module, and a file the user put there.
    std::fs::create_dir_all(site.join("beep_a/sub/__pycache__")).unwrap();
    std::fs::write(
        site.join("beep_a/sub/__pycache__/deep.cpython-399.pyc"),
        "x",
    )
    .unwrap();
    std::fs::write(site.join("beep_a/notes.txt"), "mine").unwrap();

    let gone = wheel::uninstall(&target.layout, "Beep.A").unwrap().unwrap();
    assert_eq!(gone.version, "1.0");
    assert!(gone.kept.is_empty(), "{:?}", gone.kept);
    assert!(!site.join(a.dist_info()).exists());
    assert!(
        !site.join("beep_a/sub").exists(),
        "emptied folders are removed"
    );
    assert!(
        !target.layout.bin.join("beep-a").exists(),
        "its launcher too"
    );
    assert_eq!(
        files_under(&site.join("beep_a")),
        BTreeSet::from(["notes.txt".to_string()]),
        "a file the RECORD does not list stays, with its folder"
    );
    assert_eq!(inodes(&site.join("beep_b")), b_before, "b is untouched");
    assert!(target.layout.python.exists() && target.layout.root.join("pyvenv.cfg").is_file());
    ok_stdout(&python(&target.layout, "import beep_b.other"));
    assert!(
        wheel::uninstall(&target.layout, "beep-a")
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_uninstall_never_leaves_the_environment() {
    let fx = require!(NEEDS, Fixture::new());
    let target = fx.env("env");
    let spec = Custom::new("beep-rogue", "1.0");
    fx.install(&target, &[fx.pin(&spec)]).unwrap();
    // A RECORD edited to list files outside the environment and the
    // environment's own files.
    let outside = fx.tmp.path().join("precious.txt");
    std::fs::write(&outside, "keep me").unwrap();
    let record = target
        .layout
        .site_packages
        .join(spec.dist_info())
        .join("RECORD");
    let mut text = std::fs::read_to_string(&record).unwrap();
    text.push_str("../../../../precious.txt,,\n../../../bin/python,,\n../../../pyvenv.cfg,,\n");
    std::fs::write(&record, text).unwrap();
    let gone = wheel::uninstall(&target.layout, "beep-rogue")
        .unwrap()
        .unwrap();
    assert_eq!(gone.kept.len(), 3, "{:?}", gone.kept);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
    assert!(target.layout.python.exists());
    assert!(target.layout.root.join("pyvenv.cfg").is_file());
}

#[test]
fn sync_replaces_changed_versions_and_removes_unpinned_packages() {
    let fx = require!(NEEDS, Fixture::new());
    let a1 = Custom::new("beep-a", "1.0").file("beep_a/only_in_1.py", "");
    let a2 = Custom::new("beep-a", "2.0");
    let b = Custom::new("beep-b", "1.0");
    let c = Custom::new("beep-c", "1.0");
    let target = fx.env("env");
    fx.install(&target, &[fx.pin(&a1), fx.pin(&b), fx.pin(&c)])
        .unwrap();
    let c_inode = std::fs::metadata(target.layout.site_packages.join("beep_c/__init__.py"))
        .unwrap()
        .ino();
    let cancel = AtomicBool::new(false);
    let report = wheel::sync(&target, &[fx.pin(&a2), fx.pin(&c)], &fx.options(&cancel)).unwrap();
    assert_eq!(report.installed.len(), 1);
    assert_eq!(report.installed[0].replaced.as_deref(), Some("1.0"));
    assert_eq!(report.unchanged, ["beep-c"]);
    assert_eq!(
        report
            .removed
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["beep-b"]
    );
    let site = &target.layout.site_packages;
    assert!(
        !site.join("beep_a/only_in_1.py").exists(),
        "1.0's files are gone"
    );
    assert!(!site.join("beep_b").exists());
    assert_eq!(
        std::fs::metadata(site.join("beep_c/__init__.py"))
            .unwrap()
            .ino(),
        c_inode,
        "an unchanged package is not touched"
    );
    assert_eq!(
        ok_stdout(&python(
            &target.layout,
            "import beep_a; print(beep_a.__version__)"
        )),
        "2.0"
    );
    let names: Vec<String> = wheel::installed(site).into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["beep-a", "beep-c"]);
}

#[test]
fn a_failed_download_changes_nothing() {
    let fx = require!(NEEDS, Fixture::new());
    let good = Custom::new("beep-good", "1.0");
    let remote = Custom::new("beep-remote", "1.0");
    let remote_path = remote.build(&fx.tmp.path().join("served"));
    let server = Server::start(Arc::new(std::fs::read(&remote_path).unwrap()));
    server.script([crate::server::Reply::Status(404)]);
    let mut remote_pin = Pin::new("beep-remote", "1.0", vec![sha256_hex(&remote_path)]);
    remote_pin.url = Some(server.url());
    remote_pin.file = Some(remote.file_name());
    let target = fx.env("env");
    let err = fx
        .install(&target, &[fx.pin(&good), remote_pin])
        .unwrap_err();
    assert!(matches!(err, WheelError::Fetch { .. }), "{err:?}");
    assert!(err.to_string().contains("beep-remote"), "{err}");
    assert!(wheel::installed(&target.layout.site_packages).is_empty());

    // An sdist cannot be installed natively: said before anything happens.
    let mut sdist = Pin::new("beep-sdist", "1.0", vec!["00".repeat(32)]);
    sdist.url = Some("https://files.example/beep-sdist-1.0.tar.gz".into());
    let err = fx.install(&target, &[sdist]).unwrap_err();
    assert!(matches!(err, WheelError::NotAWheel { .. }), "{err:?}");
}

#[test]
fn pip_and_importlib_metadata_see_native_installs() {
    let fx = require!(NEEDS, Fixture::new());
    let target = fx.env_with_pip("env");
    let top = Custom::new("Beep.Top", "1.2.3").file("beep_top/mod.py", "");
    let dep = Custom::new("beep-dep", "0.1");
    let direct = Custom::new("beep-direct", "4.0");
    let top_pin = fx.pin(&top);
    let mut dep_pin = fx.pin(&dep);
    dep_pin.requested = false;
    let direct_path = direct.build(&fx.tmp.path().join("direct"));
    let mut direct_pin = Pin::new("beep-direct", "4.0", vec![sha256_hex(&direct_path)]);
    direct_pin.url = Some(url::Url::from_file_path(&direct_path).unwrap().to_string());
    direct_pin.requested = true;
    direct_pin.direct = true;
    fx.install(&target, &[top_pin, dep_pin, direct_pin])
        .unwrap();

    let list = ok_stdout(
        &command(&target.layout.python)
            .args(["-m", "pip", "list", "--format", "json"])
            .output()
            .unwrap(),
    );
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    for (name, version) in [
        ("Beep.Top", "1.2.3"),
        ("beep-dep", "0.1"),
        ("beep-direct", "4.0"),
    ] {
        assert!(
            list.iter()
                .any(|p| p["name"] == name && p["version"] == version),
            "{name} {version} not in {list:?}"
        );
    }
    let freeze = ok_stdout(
        &command(&target.layout.python)
            .args(["-m", "pip", "freeze"])
            .output()
            .unwrap(),
    );
    assert!(freeze.contains("beep-direct @ file://"), "{freeze}");
    assert!(freeze.contains("Beep.Top==1.2.3"), "{freeze}");

    let code = r#"
import importlib.metadata as md, json, os
out = {}
for name in ["beep-top", "beep-dep", "beep-direct"]:
    d = md.distribution(name)
    files = d.files
    out[name] = {
        "version": d.version,
        "installer": d.read_text("INSTALLER"),
        "requested": d.read_text("REQUESTED") is not None,
        "direct": d.read_text("direct_url.json"),
        "missing": [str(f) for f in files if not os.path.exists(f.locate())],
        "bad_hash": [str(f) for f in files if f.hash and __import__("hashlib").sha256(open(f.locate(), "rb").read()).digest() != __import__("base64").urlsafe_b64decode(f.hash.value + "==")],
        "count": len(files),
    }
print(json.dumps(out))
"#;
    let seen: serde_json::Value =
        serde_json::from_str(&ok_stdout(&python(&target.layout, code))).unwrap();
    for name in ["beep-top", "beep-dep", "beep-direct"] {
        let d = &seen[name];
        assert_eq!(d["installer"], "beep-python\n", "{name}: {d}");
        assert_eq!(d["missing"], serde_json::json!([]), "{name}: {d}");
        assert_eq!(d["bad_hash"], serde_json::json!([]), "{name}: {d}");
    }
    assert_eq!(seen["beep-top"]["version"], "1.2.3");
    assert_eq!(seen["beep-top"]["requested"], true);
    assert_eq!(seen["beep-dep"]["requested"], false);
    assert_eq!(
        seen["beep-top"]["direct"],
        serde_json::Value::Null,
        "not a direct URL"
    );
    let direct_json: serde_json::Value =
        serde_json::from_str(seen["beep-direct"]["direct"].as_str().unwrap()).unwrap();
    assert_eq!(
        direct_json["archive_info"]["hashes"]["sha256"],
        sha256_hex(&direct_path)
    );

    // pip uninstalls what we installed, completely.
    ok_stdout(
        &command(&target.layout.python)
            .args([
                "-m",
                "pip",
                "uninstall",
                "-y",
                "beep.top",
                "beep-dep",
                "beep-direct",
            ])
            .output()
            .unwrap(),
    );
    let left: Vec<String> = files_under(&target.layout.site_packages)
        .into_iter()
        .filter(|f| f.contains("beep"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn environments_from_one_cache_share_files_and_copies_keep_their_own() {
    let fx = require!(NEEDS, Fixture::new());
    let spec = Custom::new("beep-shared", "1.0").file("beep_shared/big.py", &"# x\n".repeat(1000));
    let pin = fx.pin(&spec);
    let a = fx.env("a");
    let b = fx.env("b");
    let ra = fx.install(&a, std::slice::from_ref(&pin)).unwrap();
    fx.install(&b, std::slice::from_ref(&pin)).unwrap();
    let file = |t: &Target| t.layout.site_packages.join("beep_shared/big.py");
    let mode = ra.link_mode.unwrap();
    assert!(
        matches!(mode, LinkMode::Hardlink | LinkMode::Clone),
        "one file system: {mode:?}"
    );
    if mode == LinkMode::Hardlink {
        assert_eq!(
            std::fs::metadata(file(&a)).unwrap().ino(),
            std::fs::metadata(file(&b)).unwrap().ino()
        );
    }

    // Another file system (/dev/shm is a tmpfs): copies, with the cache
    // file's modification time.
    let tmp_dev = std::fs::metadata(fx.tmp.path()).unwrap().dev();
    let shm = require!(
        "/dev/shm on another file system than the temporary folder",
        Some(Path::new("/dev/shm"))
            .filter(|shm| std::fs::metadata(shm).is_ok_and(|m| m.is_dir() && m.dev() != tmp_dev))
    );
    let other = tempfile::tempdir_in(shm).unwrap();
    let c = fx.env_at(&other.path().join("c"));
    let rc = fx.install(&c, std::slice::from_ref(&pin)).unwrap();
    assert_eq!(rc.link_mode, Some(LinkMode::Copy));
    assert_ne!(
        std::fs::metadata(file(&c)).unwrap().ino(),
        std::fs::metadata(file(&a)).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(file(&c)).unwrap().modified().unwrap(),
        std::fs::metadata(file(&a)).unwrap().modified().unwrap()
    );

    // Forced copies on one file system.
    let cancel = AtomicBool::new(false);
    let mut opts = fx.options(&cancel);
    opts.link = LinkPolicy::Copy;
    let d = fx.env("d");
    let rd = wheel::install(&d, std::slice::from_ref(&pin), &opts).unwrap();
    assert_eq!(rd.link_mode, Some(LinkMode::Copy));
    assert_ne!(
        std::fs::metadata(file(&d)).unwrap().ino(),
        std::fs::metadata(file(&a)).unwrap().ino()
    );
}

#[test]
fn a_cache_file_changed_in_place_is_unpacked_again() {
    let fx = require!(NEEDS, Fixture::new());
    let spec = Custom::new("beep-edit", "1.0").file("beep_edit/core.py", "VALUE = 1\n");
    let pin = fx.pin(&spec);
    let a = fx.env("a");
    fx.install(&a, std::slice::from_ref(&pin)).unwrap();
    // An editor that keeps hard links writes into the shared inode.
    let installed = a.layout.site_packages.join("beep_edit/core.py");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&installed)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"VALUE = 2\n"))
        .unwrap();
    let b = fx.env("b");
    fx.install(&b, std::slice::from_ref(&pin)).unwrap();
    assert_eq!(
        std::fs::read_to_string(b.layout.site_packages.join("beep_edit/core.py")).unwrap(),
        "VALUE = 1\n",
        "the damaged cache entry was not linked"
    );
}

/// The `.py` files under `dir` (in `site-packages`) whose `.pyc` for the
/// environment's Python is missing or stale (another magic number, or not
/// for this source's modification time and size), as the environment's
/// Python judges them; and how many `.py` files there are.
#[track_caller]
fn stale_bytecode(layout: &Layout, dir: &str) -> (usize, Vec<String>) {
    let code = r#"
import importlib.util, os, struct, sys
bad, n = [], 0
for d, _, files in os.walk(sys.argv[1]):
    if "__pycache__" in d:
        continue
    for f in files:
        if not f.endswith(".py"):
            continue
        n += 1
        src = os.path.join(d, f)
        try:
            head = open(importlib.util.cache_from_source(src), "rb").read(16)
        except OSError:
            bad.append(src + ": none")
            continue
        flags, mtime, size = struct.unpack("<III", head[4:16])
        st = os.stat(src)
        if (head[:4] != importlib.util.MAGIC_NUMBER or flags != 0
                or mtime != int(st.st_mtime) & 0xFFFFFFFF or size != st.st_size & 0xFFFFFFFF):
            bad.append(src)
print(n)
print("\n".join(bad))
"#;
    let out = command(&layout.python)
        .args(["-c", code])
        .arg(layout.site_packages.join(dir))
        .output()
        .unwrap();
    let text = ok_stdout(&out);
    let mut lines = text.lines();
    let n = lines.next().unwrap().parse().unwrap();
    (n, lines.map(str::to_string).collect())
}

#[test]
fn seeded_pip_carries_valid_bytecode_rebuilt_for_a_new_interpreter_version() {
    let fx = require!(NEEDS, Fixture::new());
    let a = fx.env_with_pip("a");
    let (sources, stale) = stale_bytecode(&a.layout, "pip");
    assert!(sources > 100, "pip has {sources} sources?");
    assert!(stale.is_empty(), "{} stale: {stale:?}", stale.len());

    // The bytecode lives in the cache, recorded for this interpreter version.
    let unpacked = fx.cache().join("unpacked");
    let entry = std::fs::read_dir(&unpacked)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("local-pip-")
        })
        .expect("pip's cache entry");
    let stamp_path = entry.join(format!("bytecode-{}.json", cache_tag(&fx.base)));
    let stamp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stamp_path).unwrap()).unwrap();
    assert_eq!(stamp["python"], fx.base.version.as_str());

    // As if another release of this Python had compiled the cache: its
    // version in the stamp, another magic number in every `.pyc`.
    let mut old = stamp.clone();
    old["python"] = "3.0.0".into();
    std::fs::write(&stamp_path, old.to_string()).unwrap();
    for file in stamp["files"].as_array().unwrap() {
        let pyc = entry.join("tree").join(file["pyc"].as_str().unwrap());
        let mut bytes = std::fs::read(&pyc).unwrap();
        bytes[0] ^= 0xff;
        let temp = pyc.with_extension("old");
        std::fs::write(&temp, bytes).unwrap();
        std::fs::rename(&temp, &pyc).unwrap();
    }
    let b = fx.env_with_pip("b");
    let (_, stale) = stale_bytecode(&b.layout, "pip");
    assert!(
        stale.is_empty(),
        "{} stale after the version changed: {stale:?}",
        stale.len()
    );
    let stamp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stamp_path).unwrap()).unwrap();
    assert_eq!(stamp["python"], fx.base.version.as_str(), "compiled again");
    let pip = ok_stdout(
        &command(&b.layout.bin.join("pip"))
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert!(pip.starts_with("pip "), "{pip}");
}

#[test]
fn compiled_bytecode_is_recorded_and_uninstalled_with_its_package() {
    let fx = require!(NEEDS, Fixture::new());
    let spec = Custom::new("beep-compiled", "1.0")
        .file("beep_compiled/a.py", "A = 1\n")
        .file("beep_compiled/sub/b.py", "B = 2\n")
        .file("beep_compiled/broken.py", "def (:\n");
    let pin = fx.pin(&spec);
    let cancel = AtomicBool::new(false);
    let mut opts = fx.options(&cancel);
    opts.compile_bytecode = true;
    let target = fx.env("env");
    let report = wheel::install(&target, std::slice::from_ref(&pin), &opts).unwrap();
    assert_eq!(
        report.bytecode_files, 3,
        "a source that does not compile has none"
    );
    let (_, stale) = stale_bytecode(&target.layout, "beep_compiled");
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(stale[0].ends_with("broken.py: none"), "{stale:?}");
    let record = std::fs::read_to_string(
        target
            .layout
            .site_packages
            .join(spec.dist_info())
            .join("RECORD"),
    )
    .unwrap();
    let tag = cache_tag(&fx.base);
    assert!(
        record.contains(&format!(
            "beep_compiled/sub/__pycache__/b.{tag}.pyc,sha256="
        )),
        "{record}"
    );
    wheel::uninstall(&target.layout, "beep-compiled")
        .unwrap()
        .unwrap();
    assert!(!target.layout.site_packages.join("beep_compiled").exists());
}

#[test]
fn a_pin_with_a_digest_that_is_not_sha256_is_refused_before_anything() {
    let fx = require!(NEEDS, Fixture::new());
    let target = fx.env("env");
    // A digest is also a cache folder name: `..` must never reach a path.
    let pin = Pin::new("beep-x", "1.0", vec!["../../outside".into()]);
    let err = fx.install(&target, &[pin]).unwrap_err();
    assert!(matches!(err, WheelError::InvalidHash { .. }), "{err:?}");
    assert!(!fx.cache().exists(), "nothing was created");
}

#[test]
fn an_install_interrupted_before_its_record_is_redone() {
    let fx = require!(NEEDS, Fixture::new());
    let spec = Custom::new("beep-half", "1.0").file("beep_half/core.py", "C = 1\n");
    let pin = fx.pin(&spec);
    let target = fx.env("env");
    fx.install(&target, std::slice::from_ref(&pin)).unwrap();
    // RECORD is written last: without it the install did not finish.
    let dist_info = target.layout.site_packages.join(spec.dist_info());
    std::fs::remove_file(dist_info.join("RECORD")).unwrap();
    std::fs::remove_file(target.layout.site_packages.join("beep_half/core.py")).unwrap();
    let report = fx.install(&target, std::slice::from_ref(&pin)).unwrap();
    assert_eq!(report.installed.len(), 1, "{report:?}");
    assert!(dist_info.join("RECORD").is_file());
    ok_stdout(&python(&target.layout, "import beep_half.core"));
    assert_eq!(wheel::installed(&target.layout.site_packages).len(), 1);
}
