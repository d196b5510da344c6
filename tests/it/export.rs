//! `export` end to end: our environments (built from a manifest and a lock,
//! one with a package added by hand) and a foreign virtual environment
//! (made by `python -m venv` and pip, with a direct-URL install), exported
//! to a manifest and a lock that validate, and re-applied on a wiped home
//! to the same `name==version` sets.

use std::path::Path;
use std::process::Command;

use crate::common::{expect_exit, require, stderr, stdout};
use crate::project::Project;

fn pip(python: &Path, wheels: &Path, args: &[&str]) {
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
        ])
        .arg(wheels)
        .args(args)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip {args:?}: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn export_of_our_environments_reapplied_on_a_wiped_home_reproduces_the_same_sets() {
    let p = require!("Debian's python3.11 with its pip wheel", Project::new());
    p.manifest(
        "pip",
        "\n[templates.svc]\nenv = { SVC_MODE = \"batch\" }\n\n[environments.web]\ntemplate = \"svc\"\npath = \".venvs/web\"\npackages = [\"beta\"]\nenv = { WEB_PORT = \"8080\" }\n\n[environments.tools]\npackages = [\"gamma\", \"click\"]\n",
    );
    p.run(&["lock"]);
    p.run(&["apply", "--locked", "--auto-approve"]);
    // Added by hand, on top of what the manifest asked.
    pip(
        &p.path(".venvs/web/bin/python"),
        &p.path("wheels"),
        &["tabulate"],
    );
    let web = p.installed(".venvs/web");
    let tools_path = p.home().join("environments/tools");
    let tools = crate::bundle::installed(&tools_path);
    assert_eq!(web, ["alpha==2.0.0", "beta==0.5.0", "tabulate==0.9.0"]);

    let out = p.run(&["export", "--out", "machine"]);
    let err = stderr(&out);
    assert!(
        err.contains("`tabulate` 0.9.0 was installed by hand"),
        "{err}"
    );
    assert!(!err.contains("no hash"), "{err}");
    let manifest = std::fs::read_to_string(p.path("machine/beep-python.toml")).unwrap();
    let lock = std::fs::read_to_string(p.path("machine/beep-python.lock")).unwrap();
    for wanted in [
        "[runtimes.host]",
        "source = \"system\"",
        "version = \"3.11\"",
        "# was Python 3.11.2",
        "[environments.web]",
        "\"beta\",",
        "\"tabulate>=0.9.0\",",
        "env = { SVC_MODE = \"batch\", WEB_PORT = \"8080\" }",
        "[environments.tools]",
        "\"gamma\",",
        "\"click\",",
        "find-links = [",
    ] {
        assert!(
            manifest.contains(wanted),
            "`{wanted}` missing from:\n{manifest}"
        );
    }
    // The default location is kept as the default: no `path` for tools.
    let tools_table = manifest
        .split("[environments.tools]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap();
    assert!(!tools_table.contains("path ="), "{manifest}");
    assert!(lock.contains("name = \"tabulate\""), "{lock}");
    assert!(!lock.contains("hashes = []"), "{lock}");
    // The export is a valid manifest whose lock matches it.
    let machine = p.path("machine");
    let mut validate = p.cmd();
    validate.current_dir(&machine);
    expect_exit(validate, &["validate"], 0);

    // An OS reinstall: the home and every environment gone.
    std::fs::remove_dir_all(p.home()).unwrap();
    std::fs::remove_dir_all(p.path(".venvs")).unwrap();
    let mut apply = p.cmd();
    apply.current_dir(&machine);
    expect_exit(apply, &["apply", "--locked", "--auto-approve"], 0);
    assert_eq!(p.installed(".venvs/web"), web);
    assert_eq!(crate::bundle::installed(&tools_path), tools);
    let activate = std::fs::read_to_string(p.path(".venvs/web/bin/activate")).unwrap();
    assert!(
        activate.contains("WEB_PORT") && activate.contains("SVC_MODE"),
        "{activate}"
    );
    let mut plan = p.cmd();
    plan.current_dir(&machine);
    let planned = expect_exit(plan, &["plan", "--locked", "--detailed-exitcode"], 0);
    assert!(
        stdout(&planned).contains("No changes"),
        "{}",
        stdout(&planned)
    );

    // A second export refuses to replace the first without `--force`.
    let again = p.fails(&["export", "--out", "machine"], 1);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    p.run(&["export", "--out", "machine", "--force"]);
}

#[test]
fn export_of_a_foreign_venv_keeps_requested_packages_and_direct_urls() {
    let p = require!("Debian's python3.11 with its pip wheel", Project::new());
    let venv = p.path("elsewhere/.venv");
    let made = Command::new(&p.python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let python = venv.join("bin/python");
    let wheels = p.path("wheels");
    // By name (REQUESTED; alpha comes along as beta's dependency) and by
    // path (a direct URL, with its digest in direct_url.json).
    pip(&python, &wheels, &["beta"]);
    let gamma = wheels.join("gamma-3.1.0-py3-none-any.whl");
    pip(&python, &wheels, &[gamma.to_str().unwrap()]);
    let before = crate::bundle::installed(&venv);
    assert_eq!(before, ["alpha==2.0.0", "beta==0.5.0", "gamma==3.1.0"]);

    // Without a wheel folder, what has no recorded digest is exported
    // without one, and said so.
    let out = p.run(&["export", venv.to_str().unwrap(), "--out", "first"]);
    let err = stderr(&out);
    assert!(err.contains("2 pins have no hash"), "{err}");
    assert!(err.contains("`alpha==2.0.0` (env.elsewhere)"), "{err}");
    assert!(
        err.contains("the next `beep-python lock` completes them"),
        "{err}"
    );

    let out = p.run(&[
        "export",
        venv.to_str().unwrap(),
        "--out",
        "machine",
        "--find-links",
        "wheels",
    ]);
    assert!(!stderr(&out).contains("no hash"), "{}", stderr(&out));
    let manifest = std::fs::read_to_string(p.path("machine/beep-python.toml")).unwrap();
    let gamma_url = url::Url::from_file_path(&gamma).unwrap().to_string();
    for wanted in [
        "[runtimes.\"python3.11\"]",
        "source = \"system\"",
        "version = \"3.11\"",
        "[environments.elsewhere]",
        &format!("path = \"{}\"", venv.display()),
        "\"beta>=0.5.0\",",
        &format!("\"gamma @ {gamma_url}\","),
    ] {
        assert!(
            manifest.contains(wanted),
            "`{wanted}` missing from:\n{manifest}"
        );
    }
    // Seeded by venv, asked for by nobody.
    assert!(!manifest.contains("pip>="), "{manifest}");
    assert!(!manifest.contains("setuptools"), "{manifest}");
    let lock = std::fs::read_to_string(p.path("machine/beep-python.lock")).unwrap();
    let gamma_sha = crate::wheels::sha256_hex(&gamma);
    assert!(lock.contains(&format!("sha256:{gamma_sha}")), "{lock}");
    assert!(
        lock.contains("name = \"alpha\", version = \"2.0.0\""),
        "{lock}"
    );
    assert!(!lock.contains("setuptools"), "{lock}");

    // Each artifact by name and sha256, and the folder they were found in
    // (the foreign venv had no manifest to say so) is the export's
    // `find-links`: the lock installs from it as it is.
    assert!(
        lock.contains(&format!(
            "{{ name = \"gamma-3.1.0-py3-none-any.whl\", sha256 = \"{gamma_sha}\" }}"
        )),
        "{lock}"
    );
    assert!(
        manifest.contains(&format!("find-links = [\"{}\"]", wheels.display())),
        "{manifest}"
    );
    std::fs::remove_dir_all(&venv).unwrap();
    let mut apply = p.cmd();
    apply.current_dir(p.path("machine"));
    expect_exit(apply, &["apply", "--locked", "--auto-approve"], 0);
    assert_eq!(crate::bundle::installed(&venv), before);
}

#[test]
fn export_names_what_it_cannot_reproduce() {
    let p = require!("Debian's python3.11 with its pip wheel", Project::new());
    let venv = p.path("proj/venv");
    let made = Command::new(&p.python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(made.status.success());
    let wheels = p.path("wheels");
    // A direct URL whose file is then deleted.
    let copy = p.path("gone/click-8.1.7-py3-none-any.whl");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(wheels.join("click-8.1.7-py3-none-any.whl"), &copy).unwrap();
    pip(
        &venv.join("bin/python"),
        &wheels,
        &[copy.to_str().unwrap(), "gamma"],
    );
    std::fs::remove_dir_all(p.path("gone")).unwrap();
    let out = p.run(&["export", venv.to_str().unwrap(), "--out", "machine"]);
    let err = stderr(&out);
    assert!(err.contains("`click` 8.1.7 was installed from"), "{err}");
    assert!(err.contains("which is gone; not exported"), "{err}");
    let manifest = std::fs::read_to_string(p.path("machine/beep-python.toml")).unwrap();
    assert!(manifest.contains("[environments.proj]"), "{manifest}");
    assert!(!manifest.contains("click"), "{manifest}");
    assert!(manifest.contains("\"gamma>=3.1.0\""), "{manifest}");

    // A folder that is not an environment is refused, nothing written.
    let failed = p.fails(&["export", "wheels", "--out", "other"], 1);
    assert!(
        stderr(&failed).contains("is not a virtual environment"),
        "{}",
        stderr(&failed)
    );
    assert!(!p.path("other/beep-python.toml").exists());
}

#[test]
fn a_pylock_export_is_installed_by_uv_pip_sync() {
    let p = require!("Debian's python3.11 with its pip wheel", Project::new());
    let uv = require!("uv", crate::common::tool("uv"));
    p.manifest(
        "pip",
        "\n[environments.web]\npath = \".venvs/web\"\npackages = [\"beta\", \"gamma\"]\n\n[environments.\"cli.tools\"]\npackages = [\"click\"]\n",
    );
    p.run(&["lock"]);
    p.run(&["export", "--format", "pylock", "--out", "locks"]);
    let text = std::fs::read_to_string(p.path("locks/pylock.web.toml")).unwrap();
    for wanted in [
        "lock-version = \"1.0\"",
        "created-by = \"beep-python\"",
        "name = \"beta\"",
        "path = \"",
        "hashes = { sha256 = ",
    ] {
        assert!(text.contains(wanted), "`{wanted}` missing from:\n{text}");
    }
    // PEP 751 file names have no dot in the middle part.
    assert!(p.path("locks/pylock.cli-tools.toml").is_file());
    // Written again only with `--force`.
    let again = p.fails(&["export", "--format", "pylock", "--out", "locks"], 1);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // uv installs the file, offline, into a fresh venv.
    let venv = p.path("synced");
    let made = Command::new(&p.python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(made.status.success());
    let synced = Command::new(uv)
        .args(["pip", "sync", "--offline", "--no-index", "--python"])
        .arg(venv.join("bin/python"))
        .arg(p.path("locks/pylock.web.toml"))
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .output()
        .unwrap();
    assert!(
        synced.status.success(),
        "{}{}",
        stdout(&synced),
        String::from_utf8_lossy(&synced.stderr)
    );
    assert_eq!(
        crate::bundle::installed(&venv),
        ["alpha==2.0.0", "beta==0.5.0", "gamma==3.1.0"]
    );
}

#[test]
fn lock_takes_a_pylock_as_an_environment_s_packages() {
    let p = require!("Debian's python3.11 with its pip wheel", Project::new());
    // A pylock.toml as another tool writes it: artifacts by path, next to it.
    let wheels = p.path("wheels");
    let sha = |name: &str| crate::wheels::sha256_hex(&wheels.join(name));
    std::fs::write(
        p.path("pylock.toml"),
        format!(
            "lock-version = \"1.0\"\ncreated-by = \"another-tool\"\nrequires-python = \">=3.8\"\n\n[[packages]]\nname = \"beta\"\nversion = \"0.5.0\"\nwheels = [{{ path = \"wheels/beta-0.5.0-py3-none-any.whl\", hashes = {{ sha256 = \"{}\" }} }}]\n\n[[packages]]\nname = \"alpha\"\nversion = \"1.0.0\"\nwheels = [{{ path = \"wheels/alpha-1.0.0-py3-none-any.whl\", hashes = {{ sha256 = \"{}\" }} }}]\n\n[[packages]]\nname = \"winonly\"\nversion = \"1.0\"\nmarker = \"sys_platform == 'win32'\"\nwheels = [{{ path = \"wheels/winonly-1.0-py3-none-any.whl\", hashes = {{ sha256 = \"{}\" }} }}]\n",
            sha("beta-0.5.0-py3-none-any.whl"),
            sha("alpha-1.0.0-py3-none-any.whl"),
            "0".repeat(64)
        ),
    )
    .unwrap();
    p.manifest(
        "pip",
        "\n[environments.web]\npath = \".venvs/web\"\npylock = \"pylock.toml\"\n",
    );
    p.run(&["lock"]);
    let lock = std::fs::read_to_string(p.path("beep-python.lock")).unwrap();
    assert!(
        lock.contains("name = \"alpha\", version = \"1.0.0\""),
        "{lock}"
    );
    assert!(
        lock.contains("name = \"beta\", version = \"0.5.0\""),
        "{lock}"
    );
    assert!(!lock.contains("winonly"), "{lock}");
    p.run(&["apply", "--locked", "--auto-approve"]);
    // alpha 1.0.0, as pinned, not the newest 2.0.0 a resolver would pick.
    assert_eq!(p.installed(".venvs/web"), ["alpha==1.0.0", "beta==0.5.0"]);

    // Changing the pylock makes the lock stale for this environment.
    let text = std::fs::read_to_string(p.path("pylock.toml")).unwrap();
    std::fs::write(
        p.path("pylock.toml"),
        text.replace("another-tool", "another-tool 2"),
    )
    .unwrap();
    let stale = p.fails(&["plan", "--locked"], 1);
    assert!(
        stderr(&stale).contains("environment `web`"),
        "{}",
        stderr(&stale)
    );

    // A pylock and packages from elsewhere do not mix.
    p.manifest(
        "pip",
        "\n[environments.web]\npath = \".venvs/web\"\npylock = \"pylock.toml\"\npackages = [\"gamma\"]\n",
    );
    let invalid = p.fails(&["validate"], 1);
    let err = stderr(&invalid);
    assert!(
        err.contains("takes its packages from `pylock`, and also from its own `packages`"),
        "{err}"
    );
}

#[test]
fn export_discovered_takes_the_virtual_environments_discovery_finds() {
    let p = require!("Debian's python3.11 with its pip wheel", Project::new());
    let venv = p.path("seen-proj/.venv");
    let made = Command::new(&p.python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(made.status.success());
    pip(&venv.join("bin/python"), &p.path("wheels"), &["gamma"]);
    // Discovery finds the venv through PATH; a private HOME keeps this
    // machine's pyenv and conda out of it.
    let mut cmd = p.cmd();
    cmd.env(
        "PATH",
        format!("{}:/usr/bin:/bin", venv.join("bin").display()),
    )
    .env("HOME", p.path("user"));
    expect_exit(cmd, &["export", "--discovered", "--out", "machine"], 0);
    let manifest = std::fs::read_to_string(p.path("machine/beep-python.toml")).unwrap();
    assert!(manifest.contains("[environments.seen-proj]"), "{manifest}");
    assert!(
        manifest.contains(&format!("path = \"{}\"", venv.display())),
        "{manifest}"
    );
    assert!(manifest.contains("\"gamma>=3.1.0\""), "{manifest}");
}

/// With neither a lock nor a wheel folder to say them, the hashes of an
/// environment installed by the native installer come from its wheel
/// cache: each wheel by its sha256, under the name its tags give.
#[test]
fn export_takes_hashes_from_the_wheel_cache() {
    let p = require!("Debian's python3.11 with its pip wheel", Project::new());
    p.manifest(
        "pip",
        "\n[environments.web]\npath = \".venvs/web\"\npackages = [\"beta\"]\n",
    );
    p.run(&["lock"]);
    p.run(&["apply", "--locked", "--auto-approve"]);
    let wheels = p.path("wheels");
    let sha = |file: &str| crate::wheels::sha256_hex(&wheels.join(file));
    let (alpha, beta) = (
        "alpha-2.0.0-py3-none-any.whl",
        "beta-0.5.0-py3-none-any.whl",
    );
    let (alpha_sha, beta_sha) = (sha(alpha), sha(beta));
    // The lock and the wheels gone: only the home's cache knows them.
    std::fs::remove_file(p.path("beep-python.lock")).unwrap();
    std::fs::rename(&wheels, p.path("wheels.gone")).unwrap();
    std::fs::create_dir(&wheels).unwrap();

    let out = p.run(&["export", "--out", "machine"]);
    assert!(!stderr(&out).contains("no hash"), "{}", stderr(&out));
    let lock = std::fs::read_to_string(p.path("machine/beep-python.lock")).unwrap();
    for (file, digest) in [(alpha, &alpha_sha), (beta, &beta_sha)] {
        assert!(
            lock.contains(&format!("{{ name = \"{file}\", sha256 = \"{digest}\" }}")),
            "{file}:\n{lock}"
        );
    }
}

/// The conda environment most of the conda tests below build: python,
/// alpha (which pulls in beta) and gamma from the project's `./channel`.
fn sci_with_gamma() -> String {
    crate::conda_env::SCI.replace("\"alpha\"]", "\"alpha\", \"gamma\"]")
}

/// `key = [` ... `]` of a manifest, one quoted item per line.
#[track_caller]
fn toml_list(manifest: &str, key: &str) -> Vec<String> {
    let table: toml::Table = toml::from_str(manifest).unwrap();
    let env = table["environments"]
        .as_table()
        .unwrap()
        .values()
        .next()
        .unwrap();
    env.get(key)
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .map(|i| i.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Every package of the channel a conda environment holds is pinned in
/// `lock` with its url and sha256, as `lock` pins it.
#[track_caller]
fn assert_pins_every_package(lock: &str, p: &crate::conda_env::CondaProject, names: &[&str]) {
    assert!(lock.contains("conda-platform = \"linux-64\""), "{lock}");
    for built in p.channel.built.iter().filter(|b| {
        names
            .iter()
            .any(|n| b.file_name.starts_with(&format!("{n}-")))
    }) {
        let url = format!("{}{}/{}", p.channel.url(), built.subdir, built.file_name);
        assert!(
            lock.contains(&format!("url = \"{url}\", sha256 = \"{}\"", built.sha256)),
            "{} with its url and sha256:\n{lock}",
            built.file_name
        );
    }
}

#[cfg(unix)]
#[test]
fn export_of_our_conda_environment_then_apply_locked_rebuilds_the_same_packages() {
    let Some(mut p) = crate::conda_env::CondaProject::new() else {
        return;
    };
    // A mirror for another channel: where packages come from, so it
    // travels with the export.
    let mirrors =
        "conda-mirrors = { \"https://conda.example/forge\" = \"https://mirror.example/forge\" }\n";
    p.manifest(
        mirrors,
        &format!("{}env = {{ SCI_MODE = \"on\" }}\n", sci_with_gamma()),
    );
    p.apply();
    let before = p.conda_list(".conda/sci");
    assert_eq!(
        before,
        ["alpha=1.0", "beta=1.0", "gamma=1.0", "python=3.11.2"]
    );
    // The output folder holds the user's own file: export adds its two
    // files beside it and touches nothing else.
    std::fs::create_dir(p.path("exported")).unwrap();
    std::fs::write(p.path("exported/notes.txt"), "mine").unwrap();

    let out = p.run(&["export", ".conda/sci", "--out", "exported"]);
    let manifest = std::fs::read_to_string(p.path("exported/beep-python.toml")).unwrap();
    let lock = std::fs::read_to_string(p.path("exported/beep-python.lock")).unwrap();
    assert!(manifest.contains("kind = \"conda\""), "{manifest}");
    assert!(!manifest.contains("runtime ="), "no runtime: {manifest}");
    assert!(manifest.contains("SCI_MODE = \"on\""), "{manifest}");
    assert!(manifest.contains(mirrors), "{manifest}");
    assert_eq!(toml_list(&manifest, "channels"), [p.channel.url()]);
    assert_eq!(
        toml_list(&manifest, "packages"),
        ["python 3.11.*", "alpha", "gamma"]
    );
    assert_pins_every_package(&lock, &p, &["python", "alpha", "beta", "gamma"]);
    assert!(lock.contains("python-version = \"3.11.2\""), "{lock}");
    assert!(
        stderr(&out).contains("1 environment, 0 runtimes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(p.path("exported/notes.txt")).unwrap(),
        "mine"
    );

    // The machine loses the environment (its folder kept aside, to
    // compare) and its home; a newer beta appears in the channel. The
    // exported pair, applied `--locked` with a fresh home, builds exactly
    // what was there, with no solve.
    std::fs::rename(p.path(".conda/sci"), p.path(".conda/sci-before")).unwrap();
    p.channel.add(&crate::conda::beta("2.0", "only_in_2"));
    p.channel.write_repodata();
    let home = p.path("fresh-home");
    let fresh = || {
        let mut cmd = crate::common::beep(&home);
        crate::common::isolate_installers(cmd.current_dir(p.path("exported")));
        cmd
    };
    expect_exit(fresh(), &["validate"], 0);
    expect_exit(fresh(), &["apply", "--locked", "--auto-approve"], 0);
    assert_eq!(p.conda_list(".conda/sci"), before);
    assert_eq!(
        p.python(
            ".conda/sci",
            "import alpha, beta; print(beta.partner(), beta.VERSION)"
        )
        .trim(),
        "alpha 1.0"
    );
    let plan = stdout(&expect_exit(fresh(), &["plan", "--locked"], 0));
    assert!(plan.contains("No changes."), "{plan}");
}

#[cfg(unix)]
#[test]
fn export_of_a_foreign_conda_environment_takes_its_history_specs_pypi_packages_and_md5_only_records()
 {
    let Some(p) = crate::conda_env::CondaProject::new() else {
        return;
    };
    // A conda environment someone else made: built here, then stripped of
    // everything that says it is ours (marker, inventory, registry), its
    // history rewritten the way conda writes it.
    p.manifest(
        "",
        &sci_with_gamma().replace("path = \".conda/sci\"", "path = \"miniconda/envs/sci\""),
    );
    p.apply();
    for ours in [".beep-python.json", ".beep-python-inventory.json"] {
        let _ = std::fs::remove_file(p.path("miniconda/envs/sci").join(ours));
    }
    std::fs::write(
        p.path("miniconda/envs/sci/conda-meta/history"),
        "==> 2024-05-01 10:00:00 <==\n# cmd: /opt/conda/bin/conda create -p miniconda/envs/sci python=3.11 alpha\n# conda version: 24.3.0\n# update specs: ['python 3.11.*', 'alpha', 'beta']\n==> 2024-05-02 10:00:00 <==\n# cmd: /opt/conda/bin/conda install 'gamma>=1.0'\n# update specs: [\"gamma >=1.0\"]\n==> 2024-05-03 10:00:00 <==\n# cmd: /opt/conda/bin/conda remove beta --force\n# remove specs: ['beta']\n",
    )
    .unwrap();
    // An older conda recorded no sha256 for beta, only its md5; its
    // archive is where conda keeps archives (`<root>/pkgs/`), and not in
    // the channel while the export runs.
    let meta = p.path("miniconda/envs/sci/conda-meta/beta-1.0-0.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    record.as_object_mut().unwrap().remove("sha256");
    std::fs::write(&meta, serde_json::to_string(&record).unwrap()).unwrap();
    std::fs::create_dir_all(p.path("miniconda/pkgs")).unwrap();
    let in_channel = p.path("channel/linux-64/beta-1.0-0.conda");
    std::fs::rename(&in_channel, p.path("miniconda/pkgs/beta-1.0-0.conda")).unwrap();
    let before = p.conda_list("miniconda/envs/sci");
    // A PyPI package pip put on top: unpacked from its wheel, marked as
    // pip marks what it installs.
    let wheels = p.path("wheels");
    crate::wheels::wheelhouse(
        &wheels,
        &[crate::wheels::WheelSpec {
            name: "tabulate",
            version: "0.9.0",
            requires: &[],
        }],
    );
    let wheel = wheels.join("tabulate-0.9.0-py3-none-any.whl");
    let site = p.path("miniconda/envs/sci/lib/python3.11/site-packages");
    p.python(
        "miniconda/envs/sci",
        &format!(
            "import zipfile; zipfile.ZipFile({:?}).extractall({:?})",
            wheel.display().to_string(),
            site.display().to_string()
        ),
    );
    let dist_info = site.join("tabulate-0.9.0.dist-info");
    std::fs::write(dist_info.join("INSTALLER"), "pip\n").unwrap();
    std::fs::write(dist_info.join("REQUESTED"), "").unwrap();

    // Exported with a home that has never seen it.
    let home = p.path("other-home");
    let cmd = |dir: &Path, home: &Path| {
        let mut cmd = crate::common::beep(home);
        crate::common::isolate_installers(cmd.current_dir(dir));
        cmd
    };
    expect_exit(
        cmd(p.dir.path(), &home),
        &[
            "export",
            "miniconda/envs/sci",
            "--out",
            "exported",
            "--find-links",
            "wheels",
        ],
        0,
    );
    std::fs::copy(p.path("miniconda/pkgs/beta-1.0-0.conda"), &in_channel).unwrap();
    let manifest = std::fs::read_to_string(p.path("exported/beep-python.toml")).unwrap();
    let lock = std::fs::read_to_string(p.path("exported/beep-python.lock")).unwrap();
    assert!(manifest.contains("kind = \"conda\""), "{manifest}");
    assert_eq!(toml_list(&manifest, "channels"), [p.channel.url()]);
    assert_eq!(
        toml_list(&manifest, "packages"),
        ["python 3.11.*", "alpha", "gamma >=1.0"],
        "the specs conda's history leaves in force, not the records' `requested_specs`"
    );
    assert_eq!(toml_list(&manifest, "pypi-packages"), ["tabulate>=0.9.0"]);
    assert_pins_every_package(&lock, &p, &["python", "alpha", "beta", "gamma"]);
    let tabulate_sha = crate::wheels::sha256_hex(&wheel);
    assert!(
        lock.contains("name = \"tabulate\", version = \"0.9.0\"") && lock.contains(&tabulate_sha),
        "{lock}"
    );

    // Rebuilt from the exported pair alone, after the folder is gone.
    std::fs::rename(
        p.path("miniconda/envs/sci"),
        p.path("miniconda/envs/sci-before"),
    )
    .unwrap();
    let fresh = p.path("fresh-home");
    expect_exit(
        cmd(&p.path("exported"), &fresh),
        &["apply", "--locked", "--auto-approve"],
        0,
    );
    assert_eq!(p.conda_list("miniconda/envs/sci"), before);
    assert_eq!(
        p.python(
            "miniconda/envs/sci",
            "import tabulate, alpha, beta; print(tabulate.__name__, beta.partner())"
        )
        .trim(),
        "tabulate alpha"
    );
    let plan = stdout(&expect_exit(
        cmd(&p.path("exported"), &fresh),
        &["plan", "--locked"],
        0,
    ));
    assert!(plan.contains("No changes."), "{plan}");
}
