//! `beep_python::venv` against real interpreters: environments we create
//! must be accepted by CPython and pip exactly like `python -m venv` ones.
//!
//! The interpreters are chosen at run time ([`crate::common::pythons`]):
//! any CPython 3.8+ of this machine (pyenv's bundle pip wheels), and Debian's
//! `/usr/bin/python3.11`, which keeps its wheels in
//! `/usr/share/python-wheels`. A test whose interpreter is missing fails
//! under `CI=true` and is skipped, visibly, elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use beep_python::venv::{
    self, BaseInterpreter, CreateOptions, Distribution, Layout, Seeded, VenvError,
};

use crate::common::{
    DEBIAN_PYTHON, Python, any_python, debian_python, python_where, require, supported_where, tool,
    two_pythons,
};

const ANY: &str = "a CPython (3.8+)";
const TWO: &str = "two CPython interpreters (3.8+) of different versions";
const WITH_WHEEL: &str = "a CPython (3.8+) with a bundled pip wheel";
const DEBIAN: &str = "Debian's /usr/bin/python3.11";

/// The base interpreter of a probed Python.
fn base(python: &Python) -> BaseInterpreter {
    BaseInterpreter {
        executable: python.path.clone(),
        version: python.version.clone(),
        implementation: "cpython".to_string(),
    }
}

/// Runs a command and returns its stdout; panics with stderr if it fails.
#[track_caller]
fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    let program = program.as_ref();
    let output = Command::new(program)
        .args(args)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .env_remove("VIRTUAL_ENV")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INDEX", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {program:?}: {e}"));
    assert!(
        output.status.success(),
        "{program:?} {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn options<'a>(name: &'a str, ssp: bool, vars: &'a BTreeMap<String, String>) -> CreateOptions<'a> {
    CreateOptions {
        name,
        system_site_packages: ssp,
        env_vars: vars,
    }
}

#[track_caller]
fn create(path: &Path, base: &BaseInterpreter) -> Layout {
    let vars = BTreeMap::new();
    venv::create(path, base, &options("demo", false, &vars)).unwrap()
}

fn real(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap()
}

#[test]
fn created_environments_are_accepted_by_cpython() {
    let (newer, older) = require!(TWO, two_pythons(|_| true));
    for python in [newer, older] {
        let base = base(python);
        let exe = python.path.display();
        let tmp = tempfile::tempdir().unwrap();
        let env = tmp.path().join("env");
        let layout = create(&env, &base);
        assert_eq!(layout.python, env.join("bin/python"));

        let out = run(
            &layout.python,
            &[
                "-c",
                "import json, site, sys; print(json.dumps([sys.prefix, sys.base_prefix, site.getsitepackages()]))",
            ],
        );
        let (prefix, base_prefix, sites): (PathBuf, PathBuf, Vec<PathBuf>) =
            serde_json::from_str(&out).unwrap();
        assert_eq!(prefix, env, "{exe}");
        assert_eq!(
            base_prefix,
            real(&python.path).parent().unwrap().parent().unwrap()
        );
        assert_ne!(prefix, base_prefix);
        assert!(sites.contains(&layout.site_packages), "{sites:?}");
        // Every spelling of the interpreter is the environment's.
        let short = venv::short_version(&base.version);
        for name in ["python3".to_string(), format!("python{short}")] {
            let out = run(
                layout.bin.join(&name),
                &["-c", "import sys; print(sys.prefix)"],
            );
            assert_eq!(out.trim(), env.to_str().unwrap(), "{name}");
        }
    }
}

#[test]
fn system_site_packages_makes_base_packages_visible() {
    let python = require!(
        "a CPython (3.8+) with pip in its own site-packages",
        python_where(|p| p.has_pip)
    );
    let base = base(python);
    let tmp = tempfile::tempdir().unwrap();
    let vars = BTreeMap::new();
    let check = "import importlib.util; print(importlib.util.find_spec('pip') is not None)";

    let isolated = venv::create(
        &tmp.path().join("iso"),
        &base,
        &options("iso", false, &vars),
    )
    .unwrap();
    assert_eq!(run(&isolated.python, &["-c", check]).trim(), "False");

    let shared =
        venv::create(&tmp.path().join("ssp"), &base, &options("ssp", true, &vars)).unwrap();
    assert_eq!(run(&shared.python, &["-c", check]).trim(), "True");
    // Toggling the option on an existing environment updates pyvenv.cfg.
    venv::create(
        &tmp.path().join("ssp"),
        &base,
        &options("ssp", false, &vars),
    )
    .unwrap();
    assert_eq!(run(&shared.python, &["-c", check]).trim(), "False");
}

/// Relative paths of everything under `root` that `python -m venv` makes
/// (not the activation scripts, whose names we share but whose text is ours).
fn venv_paths(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(rel);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn cfg_keys(root: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(root.join("pyvenv.cfg"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "home" | "include-system-site-packages" | "version"
            )
        })
        .collect()
}

#[test]
fn layout_matches_python_m_venv() {
    // Every version this machine has: each writes its own layout.
    let pythons = supported_where(|p| p.has_venv);
    require!(
        "a CPython (3.8+) with the venv module",
        (!pythons.is_empty()).then_some(())
    );
    for python in pythons {
        let base = base(python);
        let exe = python.path.display();
        let tmp = tempfile::tempdir().unwrap();
        let ours = tmp.path().join("ours");
        let theirs = tmp.path().join("theirs");
        create(&ours, &base);
        run(
            &python.path,
            &["-m", "venv", "--without-pip", theirs.to_str().unwrap()],
        );

        // 3.13's venv writes `.gitignore` too; we always do.
        let ignore = |p: &String| p == ".gitignore";
        let a: BTreeSet<_> = venv_paths(&ours)
            .into_iter()
            .filter(|p| !ignore(p))
            .collect();
        let b: BTreeSet<_> = venv_paths(&theirs)
            .into_iter()
            .filter(|p| !ignore(p))
            .collect();
        assert_eq!(a, b, "{exe}");
        assert_eq!(cfg_keys(&ours), cfg_keys(&theirs), "{exe}");
        // Both interpreters resolve to the same base.
        assert_eq!(
            real(&ours.join("bin/python")),
            real(&theirs.join("bin/python"))
        );
        if cfg!(all(target_os = "linux", target_pointer_width = "64")) {
            assert_eq!(
                std::fs::read_link(ours.join("lib64")).unwrap(),
                Path::new("lib")
            );
        }
    }
}

/// (path, modification time, link target) of everything in a folder.
fn snapshot(root: &Path) -> BTreeMap<String, (SystemTime, Option<PathBuf>)> {
    venv_paths(root)
        .into_iter()
        .map(|rel| {
            let path = root.join(&rel);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            (
                rel,
                (meta.modified().unwrap(), std::fs::read_link(&path).ok()),
            )
        })
        .collect()
}

#[test]
fn create_is_idempotent_and_never_clobbers() {
    let (python, other) = require!(TWO, two_pythons(|p| p.has_venv));
    let base = base(python);
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("env");
    create(&env, &base);
    let before = snapshot(&env);
    std::thread::sleep(std::time::Duration::from_millis(20));
    create(&env, &base);
    assert_eq!(snapshot(&env), before, "a second create changed something");

    // A venv made by CPython is accepted as it is.
    let cpython = tmp.path().join("cpython");
    run(
        &python.path,
        &["-m", "venv", "--without-pip", cpython.to_str().unwrap()],
    );
    let cfg = std::fs::read_to_string(cpython.join("pyvenv.cfg")).unwrap();
    create(&cpython, &base);
    assert_eq!(
        std::fs::read_to_string(cpython.join("pyvenv.cfg")).unwrap(),
        cfg
    );

    // User data is refused, and left alone.
    let user = tmp.path().join("user");
    std::fs::create_dir(&user).unwrap();
    std::fs::write(user.join("notes.txt"), "mine").unwrap();
    let vars = BTreeMap::new();
    let err = venv::create(&user, &base, &options("x", false, &vars)).unwrap_err();
    assert!(matches!(err, VenvError::NotEmpty { .. }), "{err:?}");
    assert_eq!(venv_paths(&user), BTreeSet::from(["notes.txt".to_string()]));

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = venv::create(&file, &base, &options("x", false, &vars)).unwrap_err();
    assert!(matches!(err, VenvError::NotADirectory { .. }), "{err:?}");

    // An environment of another Python is not reused.
    let err = venv::create(&env, &self::base(other), &options("x", false, &vars)).unwrap_err();
    assert!(matches!(err, VenvError::OtherInterpreter { .. }), "{err:?}");

    // A bad variable name is refused before anything is written.
    let bad = BTreeMap::from([("PATH".to_string(), "x".to_string())]);
    let fresh = tmp.path().join("fresh");
    let err = venv::create(&fresh, &base, &options("x", false, &bad)).unwrap_err();
    assert!(matches!(err, VenvError::BadEnvVar { .. }), "{err:?}");
    assert!(!fresh.exists());

    let missing = BaseInterpreter {
        executable: tmp.path().join("no-python"),
        ..base.clone()
    };
    let err = venv::create(&fresh, &missing, &options("x", false, &vars)).unwrap_err();
    assert!(matches!(err, VenvError::BaseMissing { .. }), "{err:?}");
}

#[track_caller]
fn assert_pip_works(layout: &Layout, version: &str) {
    let site = layout.site_packages.to_str().unwrap();
    let out = run(&layout.python, &["-m", "pip", "--version"]);
    assert!(
        out.starts_with(&format!("pip {version} from {site}/pip ")),
        "{out}"
    );
    // The console script.
    let out = run(layout.bin.join("pip"), &["--version"]);
    assert!(
        out.starts_with(&format!("pip {version} from {site}/pip ")),
        "{out}"
    );
    let out = run(&layout.python, &["-m", "pip", "list", "--format", "json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(
        list.iter()
            .any(|p| p["name"] == "pip" && p["version"] == version),
        "{out}"
    );
}

#[test]
fn seed_pip_installs_the_bundled_wheel_natively() {
    // The newest and the oldest version with a wheel to seed from.
    let pythons = supported_where(|p| p.pip_wheel.is_some());
    let (newest, oldest) = require!(
        WITH_WHEEL,
        Some((pythons.first(), pythons.last())).and_then(|(a, b)| Some((*a?, *b?)))
    );
    let mut pythons = vec![newest];
    if oldest.version != newest.version {
        pythons.push(oldest);
    }
    for python in pythons {
        let base = base(python);
        let exe = python.path.display();
        let tmp = tempfile::tempdir().unwrap();
        let layout = create(&tmp.path().join("env"), &base);
        let seeded = venv::seed_pip(&layout, &base).unwrap();
        let Seeded::Wheel { pip_version } = &seeded else {
            panic!("{exe}: {seeded:?}")
        };
        assert_pip_works(&layout, pip_version);

        let short = venv::short_version(&base.version);
        for script in ["pip".to_string(), "pip3".to_string(), format!("pip{short}")] {
            let path = layout.bin.join(&script);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with(&format!("#!{}\n", layout.python.display())),
                "{text}"
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o755, "{script}");
            }
        }
        let dist_info = layout
            .site_packages
            .join(format!("pip-{pip_version}.dist-info"));
        assert_eq!(
            std::fs::read_to_string(dist_info.join("INSTALLER")).unwrap(),
            "beep-python\n"
        );

        // Idempotent: a second seed writes nothing.
        let record = std::fs::metadata(dist_info.join("RECORD"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(venv::seed_pip(&layout, &base).unwrap(), seeded);
        assert_eq!(
            std::fs::metadata(dist_info.join("RECORD"))
                .unwrap()
                .modified()
                .unwrap(),
            record
        );

        // pip removes every file it finds in our RECORD, scripts included.
        run(&layout.python, &["-m", "pip", "uninstall", "-y", "pip"]);
        let left: Vec<_> = venv_paths(&layout.site_packages).into_iter().collect();
        assert!(left.is_empty(), "{exe}: left behind: {left:?}");
        assert!(!layout.bin.join("pip").exists());
        assert!(!layout.bin.join(format!("pip{short}")).exists());
    }
}

#[test]
fn seed_pip_through_a_cache_hard_links_and_stays_intact() {
    let base = base(require!(
        WITH_WHEEL,
        python_where(|p| p.pip_wheel.is_some())
    ));
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let a = create(&tmp.path().join("a"), &base);
    let b = create(&tmp.path().join("b"), &base);
    let seeded = venv::seed_pip_cached(&a, &base, Some(&cache)).unwrap();
    assert_eq!(
        venv::seed_pip_cached(&b, &base, Some(&cache)).unwrap(),
        seeded
    );
    let Seeded::Wheel { pip_version } = seeded else {
        panic!("{seeded:?}")
    };
    assert_pip_works(&a, &pip_version);

    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let file = "pip/__init__.py";
        let ino = |l: &Layout| std::fs::metadata(l.site_packages.join(file)).unwrap().ino();
        assert_eq!(ino(&a), ino(&b), "the same file, linked");
    }
    // Uninstalling from one environment leaves the other (and the cache) whole.
    run(&a.python, &["-m", "pip", "uninstall", "-y", "pip"]);
    assert_pip_works(&b, &pip_version);
}

#[test]
fn seed_pip_on_debian_python_uses_its_wheel_folder() {
    let base = base(require!(
        "Debian's /usr/bin/python3.11 and its pip wheel in /usr/share/python-wheels",
        debian_python().filter(|d| d.pip_wheel.is_some())
    ));
    let tmp = tempfile::tempdir().unwrap();
    let layout = create(&tmp.path().join("env"), &base);
    let seeded = venv::seed_pip(&layout, &base).unwrap();
    let Seeded::Wheel { pip_version } = &seeded else {
        panic!("{seeded:?}")
    };
    assert_pip_works(&layout, pip_version);
}

/// A base installation at `<tmp>/fake` made of a copy of Debian's
/// statically linked python3.11 (which relocates), with or without a
/// standard library beside it.
fn fake_debian_base(tmp: &Path, with_stdlib: bool) -> Option<BaseInterpreter> {
    let debian = base(debian_python()?);
    let prefix = tmp.join("fake");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(prefix.join("lib")).unwrap();
    let exe = prefix.join("bin/python3.11");
    std::fs::copy(DEBIAN_PYTHON, &exe).unwrap();
    if with_stdlib {
        std::os::unix::fs::symlink("/usr/lib/python3.11", prefix.join("lib/python3.11")).unwrap();
    }
    Some(BaseInterpreter {
        executable: exe,
        ..debian
    })
}

#[test]
fn seed_pip_is_unavailable_without_a_wheel_or_ensurepip() {
    let tmp = tempfile::tempdir().unwrap();
    let base = require!(DEBIAN, fake_debian_base(tmp.path(), false));
    let layout = create(&tmp.path().join("env"), &base);
    let seeded = venv::seed_pip(&layout, &base).unwrap();
    let Seeded::Unavailable { reason } = &seeded else {
        panic!("{seeded:?}")
    };
    assert!(reason.contains("no pip wheel"), "{reason}");
}

#[test]
fn seed_pip_falls_back_to_ensurepip() {
    let tmp = tempfile::tempdir().unwrap();
    // Debian's ensurepip reads /usr/share/python-wheels, which the fake
    // prefix does not have: our native lookup finds nothing, ensurepip does.
    require!(
        "Debian's /usr/bin/python3.11 with ensurepip (python3.11-venv)",
        debian_python().filter(|d| d.has_ensurepip)
    );
    let base = require!(DEBIAN, fake_debian_base(tmp.path(), true));
    let layout = create(&tmp.path().join("env"), &base);
    assert_eq!(venv::seed_pip(&layout, &base).unwrap(), Seeded::Ensurepip);
    let out = run(&layout.python, &["-m", "pip", "--version"]);
    assert!(
        out.contains(layout.site_packages.to_str().unwrap()),
        "{out}"
    );
}

#[test]
fn bash_activation_sets_and_restores_variables() {
    let base = base(require!(ANY, any_python()));
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("it's env");
    let vars = BTreeMap::from([
        (
            "MYVAR".to_string(),
            "two words 'quoted' $HOME `x` \"d\"".to_string(),
        ),
        ("PRESET".to_string(), "from env".to_string()),
    ]);
    let layout = venv::create(&env, &base, &options("demo", false, &vars)).unwrap();
    let activate = layout.bin.join("activate");
    let script = r#"
        PS1='$ '
        source "$ACTIVATE" || exit 1
        printf '%s\n' "$VIRTUAL_ENV" "$MYVAR" "$PRESET" "$(command -v python)" "$PS1"
        source "$ACTIVATE" || exit 1   # again: must not stack
        deactivate
        printf '%s\n' "${MYVAR-unset}" "${PRESET-unset}" "${VIRTUAL_ENV-unset}" "$PS1" "$PATH"
        type deactivate >/dev/null 2>&1 && echo still-defined || echo gone
    "#;
    let output = Command::new("bash")
        .args(["--norc", "-c", script])
        .env("ACTIVATE", &activate)
        .env("PATH", "/usr/bin:/bin")
        .env("PRESET", "before")
        .env_remove("MYVAR")
        .env_remove("VIRTUAL_ENV")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            env.to_str().unwrap(),
            "two words 'quoted' $HOME `x` \"d\"",
            "from env",
            layout.python.to_str().unwrap(),
            "(demo) $ ",
            "unset",
            "before",
            "unset",
            "$ ",
            "/usr/bin:/bin",
            "gone",
        ]
    );
}

#[test]
fn fish_and_csh_activation() {
    let base = base(require!(ANY, any_python()));
    let fish = require!("`fish`", tool("fish"));
    let tcsh = require!("`tcsh`", tool("tcsh"));
    let tmp = tempfile::tempdir().unwrap();
    let vars = BTreeMap::from([
        ("MYVAR".to_string(), "it's 'x' $y !z".to_string()),
        ("PRESET".to_string(), "during".to_string()),
    ]);
    let layout = venv::create(
        &tmp.path().join("env"),
        &base,
        &options("demo", false, &vars),
    )
    .unwrap();
    // One command per line: csh expands aliases when it reads a line, so
    // `deactivate` must be on a line read after the `source`.
    for (shell, program, file, script) in [
        (
            "fish",
            fish,
            "activate.fish",
            "source $ACT\necho $MYVAR\necho $PRESET\ndeactivate\nset -q MYVAR; or echo unset\necho $PRESET\necho $PATH\n",
        ),
        (
            "tcsh",
            tcsh,
            "activate.csh",
            "source $ACT\necho \"$MYVAR\"\necho $PRESET\ndeactivate\nif (! $?MYVAR) echo unset\necho $PRESET\necho $PATH\n",
        ),
    ] {
        let act = layout.bin.join(file);
        let script_path = tmp.path().join(format!("test.{shell}"));
        std::fs::write(&script_path, script).unwrap();
        let output = Command::new(program)
            .arg(&script_path)
            .env("ACT", &act)
            .env("PRESET", "before")
            .env("PATH", "/usr/bin:/bin")
            .env_remove("MYVAR")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&output.stdout);
        // fish prints PATH as a list.
        let path = if shell == "fish" {
            "/usr/bin /bin"
        } else {
            "/usr/bin:/bin"
        };
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            ["it's 'x' $y !z", "during", "unset", "before", path],
            "{shell}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn observe_reports_what_is_on_disk() {
    let python = require!(WITH_WHEEL, python_where(|p| p.pip_wheel.is_some()));
    let base = base(python);
    let tmp = tempfile::tempdir().unwrap();

    let missing = venv::observe(&tmp.path().join("missing"));
    assert!(!missing.exists && !missing.is_venv);

    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let observed = venv::observe(&plain);
    assert!(observed.exists && !observed.is_venv && observed.packages.is_empty());

    let env = tmp.path().join("env");
    let layout = create(&env, &base);
    let Seeded::Wheel { pip_version } = venv::seed_pip(&layout, &base).unwrap() else {
        panic!("no wheel")
    };
    let observed = venv::observe(&env);
    assert!(observed.exists && observed.is_venv && observed.base_exists && observed.python_exists);
    assert_eq!(observed.version.as_deref(), Some(base.version.as_str()));
    assert_eq!(observed.home.as_deref(), python.path.parent());
    assert_eq!(
        observed.base_executable.as_deref(),
        Some(python.path.as_path())
    );
    assert_eq!(
        observed.packages,
        vec![Distribution {
            name: "pip".into(),
            display_name: "pip".into(),
            version: pip_version,
        }]
    );
    assert_eq!(observed.marker, None);
    let marker = venv::Marker {
        version: 1,
        name: "env".into(),
        owner: tmp.path().join("beep-python.toml"),
        spec_hash: "h".into(),
        created_at: jiff::Timestamp::now(),
        built: None,
    };
    venv::write_marker(&env, &marker).unwrap();
    assert_eq!(venv::observe(&env).marker, Some(marker));
}

#[test]
fn observe_notices_a_missing_base_interpreter() {
    let tmp = tempfile::tempdir().unwrap();
    let base = require!(DEBIAN, fake_debian_base(tmp.path(), false));
    let env = tmp.path().join("env");
    create(&env, &base);
    assert!(venv::observe(&env).base_exists);
    std::fs::remove_file(&base.executable).unwrap();
    let observed = venv::observe(&env);
    assert!(observed.is_venv);
    assert!(!observed.base_exists);
    assert!(!observed.python_exists, "bin/python is a dangling link");

    // pyvenv.cfg without `executable` (Python < 3.11): `home/python3` decides.
    let cfg = env.join("pyvenv.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("executable"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cfg, without).unwrap();
    assert!(!venv::observe(&env).base_exists);
    std::fs::write(tmp.path().join("fake/bin/python3"), "").unwrap();
    assert!(venv::observe(&env).base_exists);
}
