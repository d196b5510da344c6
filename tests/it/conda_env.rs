//! Conda environments through the product: a manifest with
//! `kind = "conda"`, `plan`, `apply`, `lock`, `run` and `env`, run as a user
//! would (the real binary), against a local channel the tests build
//! (tests/it/conda_channel.rs, with Debian's python3.11 as its `python`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{beep, expect_exit, isolate_installers, stderr, stdout};
use crate::conda::{alpha, beta, gamma};
use crate::conda_channel::{self, Channel};

/// A project folder: the manifest, a channel in `channel/` (named
/// `./channel` in manifests, a folder relative to the manifest), a home.
pub(crate) struct CondaProject {
    pub dir: tempfile::TempDir,
    pub channel: Channel,
}

impl CondaProject {
    /// The channel holds python 3.11.2, alpha 1.0 (noarch python, needs
    /// beta), beta 1.0 (linux-64, needs python 3.11.*, imports alpha back)
    /// and gamma 1.0 (an `activate.d` script); see tests/it/conda.rs.
    pub fn new() -> Option<CondaProject> {
        if !Path::new(crate::pbs::DEBIAN_PYTHON).exists() {
            crate::common::skip_or_fail(
                "Debian's python3.11, the test channel's python (`.ci/run` installs it)",
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut channel = Channel::new(&dir.path().join("channel"));
        channel.add(&conda_channel::python_package());
        channel.add(&alpha());
        channel.add(&beta("1.0", "only_in_1"));
        channel.add(&gamma());
        channel.write_repodata();
        Some(CondaProject { dir, channel })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// `version = 1`, `[settings]` with `settings`, then `body`.
    pub fn manifest(&self, settings: &str, body: &str) {
        std::fs::write(
            self.path("beep-python.toml"),
            format!("version = 1\n\n[settings]\noffline = true\n{settings}\n{body}"),
        )
        .unwrap();
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = beep(&self.home());
        isolate_installers(cmd.current_dir(self.dir.path()));
        cmd
    }

    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        expect_exit(self.cmd(), args, 0)
    }

    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        stderr(&expect_exit(self.cmd(), args, 1))
    }

    #[track_caller]
    pub fn plan(&self) -> String {
        stdout(&self.run(&["plan"]))
    }

    #[track_caller]
    pub fn apply(&self) -> Output {
        self.run(&["apply", "--auto-approve"])
    }

    /// What the conda environment at `rel` holds (see [`conda_list_at`]).
    pub fn conda_list(&self, rel: &str) -> Vec<String> {
        conda_list_at(&self.path(rel))
    }

    /// Runs the environment's own python.
    #[track_caller]
    pub fn python(&self, rel: &str, code: &str) -> String {
        python_at(&self.path(rel), code)
    }
}

/// What the conda environment at `prefix` holds, `name=version`, from its
/// `conda-meta/*.json` as conda reads them.
pub(crate) fn conda_list_at(prefix: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(prefix.join("conda-meta"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            format!(
                "{}={}",
                record["name"].as_str().unwrap(),
                record["version"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

/// Runs the python of the conda environment at `prefix` with `code`.
#[track_caller]
pub(crate) fn python_at(prefix: &Path, code: &str) -> String {
    let python = prefix.join("bin/python");
    let out = Command::new(&python)
        .args(["-c", code])
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .output()
        .unwrap_or_else(|e| panic!("running `{}`: {e}", python.display()));
    assert!(
        out.status.success(),
        "`{}` failed:\n{}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

pub(crate) const SCI: &str = r#"
[environments.sci]
kind = "conda"
path = ".conda/sci"
channels = ["./channel"]
packages = ["python 3.11.*", "alpha"]
"#;

#[cfg(unix)]
#[test]
fn create_plan_apply_and_delete_a_conda_environment_through_the_cli() {
    let Some(p) = CondaProject::new() else { return };
    p.manifest("", SCI);

    // The plan solves it and shows every package it will hold.
    let plan = p.plan();
    assert!(plan.contains("  + env.sci\n"), "{plan}");
    assert!(plan.contains("python: conda 3.11.2, path: "), "{plan}");
    for line in [
        "+ alpha 1.0 (0)",
        "+ beta 1.0 (0)",
        "+ python 3.11.2 (0_debian)",
    ] {
        assert!(plan.contains(line), "{line}:\n{plan}");
    }
    assert!(!p.path(".conda").exists(), "plan changes nothing");

    p.apply();
    assert_eq!(
        p.conda_list(".conda/sci"),
        ["alpha=1.0", "beta=1.0", "python=3.11.2"]
    );
    // Its own python imports both packages, each of which imports the other.
    let out = p.python(
        ".conda/sci",
        "import sys, alpha, beta; print(sys.version_info[:2], beta.partner(), beta.VERSION)",
    );
    assert_eq!(out.trim(), "(3, 11) alpha 1.0");
    // Ours: the marker, no claim left, recorded as a conda environment.
    let marker: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path(".conda/sci/.beep-python.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["name"], "sci");
    assert_eq!(marker["built"]["conda"]["specs"][1], "alpha");
    assert!(!p.path(".conda/sci/.beep-python-claim").exists());
    let registry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.home().join("registry.json")).unwrap())
            .unwrap();
    let record = &registry["environments"][0];
    assert_eq!(record["kind"], "conda");
    assert_eq!(record["version"], "3.11.2");

    // Nothing to do: the installed packages still satisfy the specs, and
    // no repodata is needed to say so (the channel has none now).
    for subdir in ["noarch", "linux-64"] {
        let repodata = p.path("channel").join(subdir).join("repodata.json");
        std::fs::rename(&repodata, repodata.with_extension("away")).unwrap();
    }
    assert!(p.plan().contains("No changes."), "{}", p.plan());
    for subdir in ["noarch", "linux-64"] {
        let repodata = p.path("channel").join(subdir).join("repodata.json");
        std::fs::rename(repodata.with_extension("away"), &repodata).unwrap();
    }

    // Gone from the manifest: deleted, folder and record.
    p.manifest("", "");
    let plan = p.plan();
    assert!(plan.contains("  - env.sci\n"), "{plan}");
    assert!(plan.contains("no longer in the manifest"), "{plan}");
    p.apply();
    assert!(!p.path(".conda/sci").exists());
    assert!(p.plan().contains("No changes."));
}

/// The folders an apply sets aside or claims, left behind.
fn leftovers(p: &CondaProject) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(p.path(".conda")) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".beep-old-") || n.contains(".partial"))
        .collect();
    if p.path(".conda/sci/.beep-python-claim").exists() {
        found.push("sci/.beep-python-claim".into());
    }
    found
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[cfg(unix)]
#[test]
fn updating_one_conda_package_changes_it_in_place_and_nothing_else() {
    let Some(mut p) = CondaProject::new() else {
        return;
    };
    p.manifest("", SCI);
    p.apply();
    let alpha_file = p.path(".conda/sci/lib/python3.11/site-packages/alpha/__init__.py");
    let alpha_inode = inode(&alpha_file);

    p.channel.add(&beta("2.0", "only_in_2"));
    p.channel.write_repodata();
    p.manifest("", &SCI.replace("\"alpha\"]", "\"alpha\", \"beta >=2\"]"));
    let plan = p.plan();
    assert!(plan.contains("  ~ env.sci\n"), "{plan}");
    assert!(plan.contains("update: requirements changed"), "{plan}");
    assert!(plan.contains("~ beta 1.0 (0) -> 2.0 (0)"), "{plan}");
    assert!(!plan.contains("alpha 1.0"), "only beta changes:\n{plan}");

    p.apply();
    assert_eq!(
        p.conda_list(".conda/sci"),
        ["alpha=1.0", "beta=2.0", "python=3.11.2"]
    );
    assert_eq!(
        p.python(
            ".conda/sci",
            "import beta; print(beta.VERSION, beta.partner())"
        )
        .trim(),
        "2.0 alpha"
    );
    assert!(!p.path(".conda/sci/share/beta/only_in_1").exists());
    assert!(p.path(".conda/sci/share/beta/only_in_2").exists());
    assert_eq!(inode(&alpha_file), alpha_inode, "alpha was left linked");
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
    let history = std::fs::read_to_string(p.path(".conda/sci/conda-meta/history")).unwrap();
    assert!(
        history.contains("-file://") && history.contains("::beta-1.0-0\n"),
        "{history}"
    );
    assert!(history.contains("::beta-2.0-0\n"), "{history}");
    assert!(p.plan().contains("No changes."));
}

#[test]
fn an_unsatisfiable_conda_spec_fails_the_plan_naming_the_conflict() {
    let Some(p) = CondaProject::new() else { return };
    p.manifest("", &SCI.replace("\"alpha\"]", "\"alpha\", \"beta >=3\"]"));
    let err = p.fails(&["plan"]);
    assert!(err.contains("conda environment `sci`"), "{err}");
    assert!(err.contains("cannot be installed together"), "{err}");
    assert!(err.contains("beta >=3"), "{err}");
    let err = p.fails(&["apply", "--auto-approve"]);
    assert!(err.contains("beta >=3"), "{err}");
    assert!(!p.path(".conda").exists());
}

#[test]
fn a_conda_package_whose_sha256_differs_is_refused_and_nothing_is_left() {
    let Some(mut p) = CondaProject::new() else {
        return;
    };
    p.channel.edit_record("beta-1.0-0.conda", |record| {
        record["sha256"] = serde_json::json!("0".repeat(64));
    });
    p.channel.write_repodata();
    p.manifest("", SCI);
    let err = p.fails(&["apply", "--auto-approve"]);
    assert!(err.contains("env.sci: create-conda failed"), "{err}");
    assert!(err.contains("beta-1.0-0.conda"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        !p.path(".conda/sci").exists(),
        "the claimed folder is removed"
    );
    assert!(
        !p.home()
            .join("cache/downloads")
            .join("0".repeat(64))
            .exists()
    );
    assert!(p.plan().contains("+ env.sci"));
}

const TOOLS: &str = r#"
[environments.tools]
kind = "conda"
path = ".conda/tools"
channels = ["./channel"]
packages = ["gamma"]
"#;

/// Which state the two environments are in, checking that it is exactly
/// one of them: before (`sci` with beta 1.0, no `tools`) or after (`sci`
/// with beta 2.0, `tools` with gamma), every file as its record says.
fn crash_state(p: &CondaProject, point: u64) -> bool {
    let sci = p.conda_list(".conda/sci");
    let after = sci.contains(&"beta=2.0".to_string());
    let beta = if after { "beta=2.0" } else { "beta=1.0" };
    assert_eq!(
        sci,
        ["alpha=1.0", beta, "python=3.11.2"],
        "crash point {point}"
    );
    assert_eq!(
        p.path(".conda/tools").exists(),
        after,
        "crash point {point}: tools exists only after"
    );
    if after {
        assert_eq!(
            p.conda_list(".conda/tools"),
            ["gamma=1.0"],
            "crash point {point}"
        );
    }
    for env in ["sci", "tools"] {
        let prefix = p.path(".conda").join(env);
        if let Some(observed) = beep_python::conda::observe(&prefix).unwrap() {
            let damage = beep_python::conda::check(&observed, beep_python::conda::CheckDepth::Deep);
            assert!(damage.is_empty(), "crash point {point}: {env}: {damage:?}");
        }
    }
    assert_eq!(
        p.python(".conda/sci", "import beta; print(beta.VERSION)")
            .trim(),
        &beta[5..],
        "crash point {point}"
    );
    let registry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.home().join("registry.json")).unwrap())
            .unwrap();
    let mut recorded: Vec<&str> = registry["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    recorded.sort();
    let want: &[&str] = if after { &["sci", "tools"] } else { &["sci"] };
    assert_eq!(
        recorded, want,
        "crash point {point}: the registry is one state"
    );
    assert!(
        leftovers(p).is_empty(),
        "crash point {point}: {:?}",
        leftovers(p)
    );
    assert!(
        !p.path(".conda/tools/.beep-python-claim").exists(),
        "crash point {point}"
    );
    assert!(
        !p.home().join("journal.json").exists(),
        "crash point {point}"
    );
    after
}

#[cfg(unix)]
#[test]
fn an_apply_killed_mid_link_at_every_crash_point_leaves_the_old_or_the_new_conda_environments() {
    let Some(mut p) = CondaProject::new() else {
        return;
    };
    p.channel.add(&beta("2.0", "only_in_2"));
    p.channel.write_repodata();
    let before = SCI.replace("\"alpha\"]", "\"alpha\", \"beta <2\"]");
    let after = format!(
        "{}{TOOLS}",
        SCI.replace("\"alpha\"]", "\"alpha\", \"beta >=2\"]")
    );
    let (mut seen_old, mut seen_new, mut mid_link) = (0, 0, 0);
    let mut point = 1u64;
    loop {
        p.manifest("", &before);
        p.apply();
        assert!(!crash_state(&p, 0), "starts from the old state");
        p.manifest("", &after);
        let out = p
            .cmd()
            .env("BEEP_PYTHON_CRASH_AT", point.to_string())
            // One step at a time: the Nth crash point is the same one in
            // every run, so every point is reached.
            .args(["apply", "--auto-approve", "--jobs", "1"])
            .output()
            .unwrap();
        if out.status.success() {
            assert!(crash_state(&p, point), "ran to the end");
            break;
        }
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "crash point {point}: killed, not failed: {}",
            stderr(&out)
        );
        if stderr(&out).contains("`conda-linked-package`")
            || stderr(&out).contains("`conda-unlinked-package`")
        {
            mid_link += 1;
        }
        // The next mutating command recovers: exactly one state...
        p.run(&["recover"]);
        if crash_state(&p, point) {
            seen_new += 1;
        } else {
            seen_old += 1;
        }
        // ...and an apply converges.
        p.apply();
        assert!(crash_state(&p, point));
        assert!(p.plan().contains("No changes."));
        point += 1;
        assert!(point < 100, "the apply never completed");
    }
    // At least: beta 1.0 unlinked, beta 2.0 linked, gamma linked.
    assert!(mid_link >= 3, "killed while linking only {mid_link} times");
    assert!(
        seen_old > 0 && seen_new > 0,
        "old {seen_old}, new {seen_new}"
    );
}

#[cfg(unix)]
#[test]
fn lock_pins_every_conda_package_and_apply_locked_installs_exactly_that() {
    let Some(mut p) = CondaProject::new() else {
        return;
    };
    p.manifest("", SCI);
    p.run(&["lock"]);
    let text = std::fs::read_to_string(p.path("beep-python.lock")).unwrap();
    assert!(text.contains("conda-platform = \"linux-64\""), "{text}");
    for built in &p.channel.built {
        if built.file_name.starts_with("gamma") {
            assert!(!text.contains(&built.file_name), "gamma is not needed");
            continue;
        }
        let url = format!("{}{}/{}", p.channel.url(), built.subdir, built.file_name);
        assert!(
            text.contains(&format!("url = \"{url}\", sha256 = \"{}\"", built.sha256)),
            "{} with its url and sha256:\n{text}",
            built.file_name
        );
    }

    // A newer beta appears; the lock still says 1.0, and `--locked`
    // installs exactly that, without solving.
    p.channel.add(&beta("2.0", "only_in_2"));
    p.channel.write_repodata();
    p.run(&["apply", "--locked", "--auto-approve"]);
    assert_eq!(
        p.conda_list(".conda/sci"),
        ["alpha=1.0", "beta=1.0", "python=3.11.2"]
    );
    assert!(stdout(&p.run(&["plan", "--locked"])).contains("No changes."));
    let again = stderr(&p.run(&["lock"]));
    assert!(again.contains("is up to date"), "{again}");

    // `--upgrade` takes the newest; `apply --locked` updates to it.
    p.run(&["lock", "--upgrade"]);
    let text = std::fs::read_to_string(p.path("beep-python.lock")).unwrap();
    assert!(text.contains("beta-2.0-0.conda"), "{text}");
    let plan = stdout(&p.run(&["plan", "--locked"]));
    assert!(plan.contains("update: lock pins changed"), "{plan}");
    assert!(plan.contains("~ beta 1.0 (0) -> 2.0 (0)"), "{plan}");
    p.run(&["apply", "--locked", "--auto-approve"]);
    assert_eq!(
        p.conda_list(".conda/sci"),
        ["alpha=1.0", "beta=2.0", "python=3.11.2"]
    );

    // The manifest moves on: `--locked` refuses a lock that no longer
    // matches it.
    p.manifest("", &SCI.replace("\"alpha\"]", "\"alpha\", \"gamma\"]"));
    let err = p.fails(&["apply", "--locked", "--auto-approve"]);
    assert!(err.contains("lock::stale"), "{err}");
    assert!(err.contains("environment `sci`"), "{err}");
}

#[test]
fn a_locked_conda_package_whose_sha256_differs_is_refused() {
    let Some(p) = CondaProject::new() else { return };
    p.manifest("", SCI);
    p.run(&["lock"]);
    let beta = p
        .channel
        .built
        .iter()
        .find(|b| b.file_name == "beta-1.0-0.conda")
        .unwrap();
    let text = std::fs::read_to_string(p.path("beep-python.lock")).unwrap();
    std::fs::write(
        p.path("beep-python.lock"),
        text.replace(&beta.sha256, &"1".repeat(64)),
    )
    .unwrap();
    let err = p.fails(&["apply", "--frozen", "--auto-approve"]);
    assert!(err.contains("beta-1.0-0.conda"), "{err}");
    assert!(err.contains("sha256"), "{err}");
    assert!(!p.path(".conda/sci").exists());
}

#[cfg(unix)]
#[test]
fn pypi_packages_go_on_top_with_the_environments_own_python_and_lock_with_it() {
    let Some(p) = CondaProject::new() else { return };
    let Some(_) = crate::project::require(
        "uv on PATH (`.ci/run` installs it)",
        Command::new("uv").arg("--version").output().ok(),
    ) else {
        return;
    };
    let wheel = |name, version| crate::wheels::WheelSpec {
        name,
        version,
        requires: &[],
    };
    crate::wheels::wheelhouse(
        &p.path("wheels"),
        &[wheel("tabulate", "0.9.0"), wheel("click", "8.1.7")],
    );
    let settings = "installer = \"uv\"\nfind-links = [\"wheels\"]\n";
    let with = |pypi: &str| format!("{SCI}pypi-packages = [{pypi}]\n");
    p.manifest(settings, &with("\"tabulate\""));
    let plan = p.plan();
    assert!(
        plan.contains("+ alpha 1.0 (0)") && plan.contains("+ tabulate\n"),
        "{plan}"
    );
    p.apply();
    let site = ".conda/sci/lib/python3.11/site-packages";
    assert!(p.path(site).join("tabulate-0.9.0.dist-info").is_dir());
    assert_eq!(
        p.python(
            ".conda/sci",
            "import tabulate, alpha, beta; print(tabulate.__name__, beta.partner())"
        )
        .trim(),
        "tabulate alpha"
    );
    // PyPI packages are no conda packages: conda-meta does not list them.
    assert_eq!(
        p.conda_list(".conda/sci"),
        ["alpha=1.0", "beta=1.0", "python=3.11.2"]
    );
    assert!(p.plan().contains("No changes."));

    // Another PyPI package: the old one goes, the conda packages stay.
    p.manifest(settings, &with("\"click\""));
    let plan = p.plan();
    assert!(plan.contains("update: requirements changed"), "{plan}");
    assert!(
        plan.contains("+ click\n") && plan.contains("- tabulate 0.9.0\n"),
        "{plan}"
    );
    p.apply();
    assert!(!p.path(site).join("tabulate-0.9.0.dist-info").exists());
    assert_eq!(
        p.python(".conda/sci", "import click, alpha; print(click.__name__)")
            .trim(),
        "click"
    );
    assert!(p.plan().contains("No changes."));

    // Locked, the PyPI pins resolve against the environment's python and
    // install natively (no pip, no uv) on a rebuild.
    p.run(&["lock"]);
    let text = std::fs::read_to_string(p.path("beep-python.lock")).unwrap();
    assert!(
        text.contains("{ name = \"click\", version = \"8.1.7\""),
        "{text}"
    );
    assert!(text.contains("python-version = \"3.11.2\""), "{text}");
    p.run(&[
        "apply",
        "--locked",
        "--auto-approve",
        "--replace",
        "env.sci",
    ]);
    let installer =
        std::fs::read_to_string(p.path(site).join("click-8.1.7.dist-info/INSTALLER")).unwrap();
    assert_eq!(installer.trim(), "beep-python");
    assert_eq!(
        p.python(".conda/sci", "import click, alpha; print(click.__name__)")
            .trim(),
        "click"
    );
    assert!(stdout(&p.run(&["plan", "--locked"])).contains("No changes."));
}

#[cfg(unix)]
#[test]
fn run_and_env_activate_a_conda_environment_with_its_activate_d_scripts() {
    let Some(p) = CondaProject::new() else { return };
    p.manifest(
        "",
        &SCI.replace(
            "\"alpha\"]",
            "\"alpha\", \"gamma\"]\nenv = { FROM_MANIFEST = \"yes\" }",
        ),
    );
    p.apply();
    let prefix = p.path(".conda/sci");
    let prefix = prefix.to_str().unwrap();

    // `run`: gamma's activate.d script and env_vars.d file, the manifest's
    // variables, the environment's python first.
    let out = stdout(&p.run(&[
        "run",
        "sci",
        "--",
        "sh",
        "-c",
        "echo \"$GAMMA_ACTIVATED|$GAMMA_HOME|$CONDA_PREFIX|$FROM_MANIFEST|${VIRTUAL_ENV:-none}\"; command -v python",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("yes:{prefix}|from-env-vars|{prefix}|yes|none")
    );
    assert_eq!(lines[1], format!("{prefix}/bin/python"));
    let out = stdout(&p.run(&[
        "run",
        "sci",
        "python",
        "-c",
        "import sys, alpha; print(sys.prefix)",
    ]));
    assert_eq!(out.trim(), prefix);

    // `env`: the same variables, evaluated by a real bash.
    let script = stdout(&p.run(&["env", "sci"]));
    assert!(
        script.contains(&format!("export GAMMA_ACTIVATED='yes:{prefix}'")),
        "{script}"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{script}\necho \"$GAMMA_ACTIVATED|$GAMMA_HOME|$FROM_MANIFEST\"; command -v python"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = stdout(&out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("yes:{prefix}|from-env-vars|yes"));
    assert_eq!(lines[1], format!("{prefix}/bin/python"));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&p.run(&["env", "sci", "--format", "json"]))).unwrap();
    assert_eq!(json["set"]["CONDA_PREFIX"], prefix);
    assert_eq!(json["python"], format!("{prefix}/bin/python"));
}

/// conda cannot be installed on these machines (see bench/README.md), so
/// `conda list -p` is checked by what it reads: a prefix is a conda
/// environment when it has `conda-meta/history`, and each
/// `conda-meta/<name>-<version>-<build>.json` loads as conda's
/// `PrefixRecord` (name, version, build, build_number required; channel,
/// subdir, fn, url, md5 shown; files and paths_data for `--files` and
/// `conda doctor`; link for unlinking).
#[cfg(unix)]
#[test]
fn conda_meta_has_what_conda_list_reads() {
    let Some(p) = CondaProject::new() else { return };
    p.manifest("", SCI);
    p.apply();
    let meta = p.path(".conda/sci/conda-meta");
    assert!(meta.join("history").is_file());
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&meta).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = record["name"].as_str().unwrap();
        let (version, build) = (
            record["version"].as_str().unwrap(),
            record["build"].as_str().unwrap(),
        );
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            format!("{name}-{version}-{build}.json")
        );
        assert!(record["build_number"].is_u64(), "{name}");
        let built = p
            .channel
            .built
            .iter()
            .find(|b| b.file_name.starts_with(&format!("{name}-{version}-")))
            .unwrap();
        assert_eq!(record["fn"], built.file_name.as_str());
        assert_eq!(record["subdir"], built.subdir.as_str());
        assert_eq!(record["md5"], built.md5.as_str());
        assert_eq!(record["sha256"], built.sha256.as_str());
        assert_eq!(record["channel"], p.channel.url().as_str());
        assert_eq!(
            record["url"],
            format!("{}{}/{}", p.channel.url(), built.subdir, built.file_name)
        );
        assert!(record["depends"].is_array(), "{name}");
        let files: Vec<&str> = record["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let paths = record["paths_data"]["paths"].as_array().unwrap();
        assert_eq!(record["paths_data"]["paths_version"], 1);
        assert_eq!(files.len(), paths.len(), "{name}");
        for (file, entry) in files.iter().zip(paths) {
            assert_eq!(entry["_path"], *file);
            assert!(entry["path_type"].is_string());
            assert!(p.path(".conda/sci").join(file).exists(), "{name}: {file}");
        }
        assert!(record["link"]["source"].is_string(), "{name}");
        seen.push(name.to_string());
    }
    seen.sort();
    assert_eq!(seen, ["alpha", "beta", "python"]);
}

#[cfg(unix)]
#[test]
fn a_damaged_conda_package_is_planned_and_linked_again() {
    let Some(p) = CondaProject::new() else { return };
    p.manifest("", SCI);
    p.apply();
    let file = p.path(".conda/sci/lib/python3.11/site-packages/beta/__init__.py");
    std::fs::remove_file(&file).unwrap();
    let plan = p.plan();
    assert!(plan.contains("  ~ env.sci\n"), "{plan}");
    assert!(plan.contains("beta: 1 file missing"), "{plan}");
    assert!(plan.contains("~ beta 1.0 (reinstall)"), "{plan}");
    p.apply();
    assert!(file.is_file());
    assert_eq!(
        p.python(".conda/sci", "import beta; print(beta.partner())")
            .trim(),
        "alpha"
    );
    assert!(p.plan().contains("No changes."));
}

#[cfg(unix)]
#[test]
fn a_conda_environment_moves_with_its_path_and_a_venv_there_is_replaced_by_one() {
    let Some(p) = CondaProject::new() else { return };
    p.manifest("", SCI);
    p.apply();
    p.manifest("", &SCI.replace(".conda/sci", ".conda/moved"));
    let plan = p.plan();
    assert!(plan.contains("  +/- env.sci\n"), "{plan}");
    p.apply();
    assert!(!p.path(".conda/sci").exists());
    assert_eq!(
        p.conda_list(".conda/moved"),
        ["alpha=1.0", "beta=1.0", "python=3.11.2"]
    );
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));

    // The same environment as a venv: a conda prefix cannot become one in
    // place, so it is replaced.
    let python = crate::pbs::DEBIAN_PYTHON;
    p.manifest(
        "pip = false\ninstaller = \"pip\"",
        &format!(
            "[runtimes.host]\nsource = \"system\"\npath = \"{python}\"\n\n[environments.sci]\nruntime = \"host\"\npath = \".conda/moved\"\n"
        ),
    );
    let plan = p.plan();
    assert!(plan.contains("  -/+ env.sci\n"), "{plan}");
    assert!(plan.contains("kind conda -> venv"), "{plan}");
    p.apply();
    assert!(p.path(".conda/moved/pyvenv.cfg").is_file());
    assert!(!p.path(".conda/moved/conda-meta").exists());
    assert!(p.plan().contains("No changes."));
}

#[cfg(unix)]
#[test]
fn a_saved_plan_installs_the_conda_packages_it_showed() {
    let Some(mut p) = CondaProject::new() else {
        return;
    };
    p.manifest("", SCI);
    let saved = p.path("sci.plan");
    let plan = stdout(&p.run(&["plan", "--out", saved.to_str().unwrap()]));
    assert!(plan.contains("+ beta 1.0 (0)"), "{plan}");
    // A newer beta appears between plan and apply: the saved plan still
    // installs what it showed.
    p.channel.add(&beta("2.0", "only_in_2"));
    p.channel.write_repodata();
    p.run(&["apply", saved.to_str().unwrap()]);
    assert_eq!(
        p.conda_list(".conda/sci"),
        ["alpha=1.0", "beta=1.0", "python=3.11.2"]
    );
}

#[cfg(unix)]
#[test]
fn doctor_fix_restores_a_conda_file_changed_in_place_through_its_hard_link_to_the_cache() {
    let Some(p) = CondaProject::new() else { return };
    p.manifest("", SCI);
    p.apply();
    // Written in place: the package cache's copy (the same inode) changes
    // too, so linking it again from the cache would change nothing.
    let file = p.path(".conda/sci/lib/python3.11/site-packages/alpha/__init__.py");
    std::fs::write(&file, "raise SystemExit('tampered')\n").unwrap();
    let out = expect_exit(p.cmd(), &["doctor"], 2);
    let report = stdout(&out);
    assert!(report.contains("env.sci"), "{report}");
    assert!(report.contains("alpha: 1 file changed"), "{report}");
    p.run(&["doctor", "--fix", "--auto-approve"]);
    assert_eq!(
        p.python(".conda/sci", "import alpha; print(alpha.NAME)")
            .trim(),
        "alpha"
    );
    p.run(&["doctor"]);
}
