//! Conda environments through `beep_python::conda`, against a local channel
//! that the tests build (tests/it/conda_channel.rs): a real python (Debian's
//! python3.11, repacked), `noarch` and `linux-64` packages in both archive
//! formats, real linking, a real interpreter importing what was installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use beep_python::conda::{
    self, ActivationShell, ChannelSettings, Channels, CheckDepth, CondaCache, CondaError,
    InstallOptions, LockedCondaPackage, PackageChange, Platform, Problem, SolveRequest,
    VirtualPackages,
};
use beep_python::fetch::{self, NoProgress};

use crate::conda_channel::{self, Channel, Content, Format, PLACEHOLDER, Package};

/// Fixed, so that no test depends on this machine's glibc or kernel.
fn virtual_packages() -> VirtualPackages {
    VirtualPackages::Exactly(vec![
        "__unix".to_owned(),
        "__linux=6.1".to_owned(),
        "__glibc=2.36".to_owned(),
    ])
}

fn linux_64() -> Platform {
    "linux-64".parse().unwrap()
}

/// A channel, a home-like cache and a place for prefixes, all in one
/// temporary folder.
struct World {
    root: tempfile::TempDir,
    channel: Channel,
    cache: CondaCache,
}

impl World {
    /// The channel every test starts from:
    ///
    /// - `python 3.11.2` (linux-64, `.conda`): Debian's python3.11;
    /// - `alpha 1.0` (noarch: python, `.tar.bz2`): depends on `beta >=1.0`;
    ///   a module and an entry point `alpha-hello`;
    /// - `beta 1.0` (linux-64, `.conda`): depends on `python 3.11.*`; a
    ///   module that imports `alpha` back, a script with the build prefix in
    ///   it, and a file only this version has;
    /// - `gamma 1.0` (noarch: generic): an `activate.d` script and an
    ///   `env_vars.d` file.
    fn new() -> World {
        if std::env::var_os("CI").is_some_and(|v| v == "true") {
            assert!(
                Path::new(crate::pbs::DEBIAN_PYTHON).exists(),
                "CI must provide Debian's python3.11 (.ci/run installs it)"
            );
        }
        let root = tempfile::tempdir().unwrap();
        let mut channel = Channel::new(&root.path().join("channel"));
        channel.add(&conda_channel::python_package());
        channel.add(&alpha());
        channel.add(&beta("1.0", "only_in_1"));
        channel.add(&gamma());
        channel.write_repodata();
        let cache = CondaCache::in_cache_root(&root.path().join("home/cache"));
        World {
            root,
            channel,
            cache,
        }
    }

    fn channels(&self) -> Channels {
        let settings = ChannelSettings {
            root_dir: self.root.path().to_owned(),
            ..ChannelSettings::default()
        };
        Channels::resolve(&[self.channel.url()], &settings).unwrap()
    }

    fn prefix(&self, name: &str) -> PathBuf {
        self.root.path().join("envs").join(name)
    }

    #[track_caller]
    fn solve(&self, specs: &[&str]) -> Result<Vec<LockedCondaPackage>, CondaError> {
        self.solve_locked(specs, None)
    }

    fn solve_locked(
        &self,
        specs: &[&str],
        locked: Option<&[LockedCondaPackage]>,
    ) -> Result<Vec<LockedCondaPackage>, CondaError> {
        let specs: Vec<String> = specs.iter().map(|s| (*s).to_owned()).collect();
        let channels = self.channels();
        let virtual_packages = virtual_packages();
        conda::solve(
            &SolveRequest {
                channels: &channels,
                specs: &specs,
                platform: linux_64(),
                virtual_packages: &virtual_packages,
                locked,
                offline: false,
            },
            &self.cache,
            &AtomicBool::new(false),
        )
    }

    fn install(
        &self,
        prefix: &Path,
        packages: &[LockedCondaPackage],
    ) -> Result<conda::InstallReport, CondaError> {
        self.install_with(prefix, packages, &[])
    }

    fn install_with(
        &self,
        prefix: &Path,
        packages: &[LockedCondaPackage],
        reinstall: &[String],
    ) -> Result<conda::InstallReport, CondaError> {
        fs_err::create_dir_all(prefix.parent().unwrap()).unwrap();
        conda::install(
            prefix,
            packages,
            &options(reinstall),
            &self.cache,
            &NoProgress,
            &AtomicBool::new(false),
        )
    }
}

fn options(reinstall: &[String]) -> InstallOptions<'_> {
    InstallOptions {
        platform: linux_64(),
        mirrors: &[],
        fetch: fetch::Options::default(),
        requested_specs: &[],
        reinstall,
        command: "beep-python test",
    }
}

pub(crate) fn alpha() -> Package {
    let mut alpha = Package::new("alpha", "1.0", "noarch")
        .noarch_python()
        .depends("beta >=1.0")
        .depends("python >=3.8")
        .file(
            "site-packages/alpha/__init__.py",
            "NAME = 'alpha'\n\ndef main():\n    import beta\n    print('hello from alpha, beta', beta.VERSION)\n",
        );
    alpha
        .entry_points
        .push("alpha-hello = alpha:main".to_owned());
    alpha
}

/// `beta` at `version`, with one file named after `marker` that no other
/// version has.
pub(crate) fn beta(version: &str, marker: &str) -> Package {
    let mut beta = Package::new("beta", version, "linux-64")
        .depends("python 3.11.*")
        .format(Format::Conda)
        .file(
            "lib/python3.11/site-packages/beta/__init__.py",
            &format!(
                "VERSION = '{version}'\n\ndef partner():\n    import alpha\n    return alpha.NAME\n"
            ),
        )
        .file(&format!("share/beta/{marker}"), marker);
    beta.files.push((
        "bin/beta-prefix".to_owned(),
        Content::WithPrefix(format!("#!/bin/sh\necho {PLACEHOLDER}\n"), true),
    ));
    beta
}

pub(crate) fn gamma() -> Package {
    let mut gamma = Package::new("gamma", "1.0", "noarch")
        .file(
            "etc/conda/env_vars.d/gamma.json",
            r#"{"GAMMA_HOME": "from-env-vars"}"#,
        )
        .file(
            "etc/conda/activate.d/gamma.sh",
            "export GAMMA_ACTIVATED=\"yes:$CONDA_PREFIX\"\n",
        );
    gamma.format = Format::TarBz2;
    gamma
}

#[track_caller]
fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .output()
        .unwrap_or_else(|e| panic!("running `{}`: {e}", program.display()));
    assert!(
        output.status.success(),
        "`{}` {args:?} failed:\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn names(packages: &[LockedCondaPackage]) -> Vec<String> {
    packages
        .iter()
        .map(|p| format!("{}={}", p.name, p.version))
        .collect()
}

fn record(prefix: &Path, dist: &str) -> serde_json::Value {
    let text =
        fs_err::read_to_string(prefix.join("conda-meta").join(format!("{dist}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[cfg(unix)]
#[test]
fn environment_with_python_and_two_dependent_packages_runs_and_imports_them() {
    let world = World::new();
    let packages = world.solve(&["alpha", "gamma"]).unwrap();
    assert_eq!(
        names(&packages),
        ["alpha=1.0", "beta=1.0", "gamma=1.0", "python=3.11.2"]
    );
    for package in &packages {
        let built = world
            .channel
            .built
            .iter()
            .find(|b| b.file_name == package.file_name)
            .unwrap();
        assert_eq!(package.sha256, built.sha256, "{}", package.name);
        assert_eq!(package.md5.as_deref(), Some(built.md5.as_str()));
        assert_eq!(
            package.url,
            format!(
                "{}{}/{}",
                world.channel.url(),
                built.subdir,
                built.file_name
            )
        );
    }

    let prefix = world.prefix("env");
    let report = world.install(&prefix, &packages).unwrap();
    assert_eq!(report.changes.len(), 4, "{report:?}");
    assert!(
        report
            .changes
            .iter()
            .all(|c| matches!(c, PackageChange::Add { .. }))
    );

    // The interpreter runs from the prefix and imports both packages, each
    // of which imports the other.
    let python = prefix.join("bin/python");
    let out = run(
        &python,
        &[
            "-c",
            "import sys, alpha, beta; print(sys.prefix); print(alpha.NAME, beta.VERSION, beta.partner()); print(alpha.__file__)",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        fs_err::canonicalize(lines[0]).unwrap(),
        fs_err::canonicalize(&prefix).unwrap()
    );
    assert_eq!(lines[1], "alpha 1.0 alpha");
    assert!(
        lines[2].ends_with("lib/python3.11/site-packages/alpha/__init__.py"),
        "noarch: python files go to the python's site-packages: {}",
        lines[2]
    );
    // The entry point of the noarch package, and the prefix written into
    // beta's script.
    assert_eq!(
        run(&prefix.join("bin/alpha-hello"), &[]).trim(),
        "hello from alpha, beta 1.0"
    );
    assert_eq!(
        run(&prefix.join("bin/beta-prefix"), &[]).trim(),
        prefix.to_str().unwrap()
    );

    // conda-meta as conda writes it.
    let beta_record = record(&prefix, "beta-1.0-0");
    let beta_locked = packages.iter().find(|p| p.name == "beta").unwrap();
    assert_eq!(beta_record["name"], "beta");
    assert_eq!(beta_record["url"], beta_locked.url.as_str());
    assert_eq!(beta_record["sha256"], beta_locked.sha256.as_str());
    assert_eq!(beta_record["fn"], "beta-1.0-0.conda");
    assert!(
        beta_record["paths_data"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["_path"] == "bin/beta-prefix")
    );
    let history = fs_err::read_to_string(prefix.join("conda-meta/history")).unwrap();
    assert!(history.starts_with("==> "), "{history}");
    assert!(history.contains("# cmd: beep-python test\n"), "{history}");
    assert!(
        history.contains("/linux-64::beta-1.0-0\n") && history.contains("/noarch::alpha-1.0-0\n"),
        "{history}"
    );

    // Observed natively: the packages, the python inside, and no damage.
    let observed = conda::observe(&prefix).unwrap().unwrap();
    assert_eq!(observed.locked(), packages);
    let inside = observed.python.as_ref().unwrap();
    assert_eq!(inside.version, "3.11.2");
    assert_eq!(inside.path, prefix.join("bin/python3.11"));
    assert!(conda::check(&observed, CheckDepth::Deep).is_empty());

    // A second install changes nothing, not even the history.
    let again = world.install(&prefix, &packages).unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        fs_err::read_to_string(prefix.join("conda-meta/history")).unwrap(),
        history
    );
}

#[cfg(unix)]
#[test]
fn update_in_place_changes_one_package_and_leaves_the_others_linked() {
    let mut world = World::new();
    let before = world.solve(&["alpha"]).unwrap();
    let prefix = world.prefix("env");
    world.install(&prefix, &before).unwrap();
    let alpha_file = prefix.join("lib/python3.11/site-packages/alpha/__init__.py");
    let alpha_inode = inode(&alpha_file);

    world.channel.add(&beta("2.0", "only_in_2"));
    world.channel.write_repodata();
    // The lock prefers what it had; the spec forces beta forward.
    let after = world
        .solve_locked(&["alpha", "beta >=2"], Some(&before))
        .unwrap();
    assert_eq!(names(&after), ["alpha=1.0", "beta=2.0", "python=3.11.2"]);
    let changes = conda::diff(&before, &after);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        matches!(&changes[0], PackageChange::Change { from, to } if from.version == "1.0" && to.version == "2.0")
    );

    let report = conda::update(
        &prefix,
        &after,
        &options(&[]),
        &world.cache,
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(report.changes, changes);
    assert!(!prefix.join("share/beta/only_in_1").exists(), "unlinked");
    assert!(prefix.join("share/beta/only_in_2").exists());
    assert!(!prefix.join("conda-meta/beta-1.0-0.json").exists());
    assert!(prefix.join("conda-meta/beta-2.0-0.json").exists());
    assert_eq!(
        run(&prefix.join("bin/alpha-hello"), &[]).trim(),
        "hello from alpha, beta 2.0"
    );
    assert_eq!(inode(&alpha_file), alpha_inode, "alpha was not relinked");
    let observed = conda::observe(&prefix).unwrap().unwrap();
    assert_eq!(observed.locked(), after);
    assert!(conda::check(&observed, CheckDepth::Deep).is_empty());

    // Undo, as the executor's journal would: back to the first set, from
    // the package cache alone (the channel no longer has beta 1.0's file).
    fs_err::remove_file(world.channel.dir.join("linux-64/beta-1.0-0.conda")).unwrap();
    let downloads = world.cache.downloads.clone();
    let beta1 = before.iter().find(|p| p.name == "beta").unwrap();
    assert!(downloads.join(&beta1.sha256).exists());
    conda::update(
        &prefix,
        &before,
        &options(&[]),
        &world.cache,
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(prefix.join("share/beta/only_in_1").exists());
    assert!(!prefix.join("share/beta/only_in_2").exists());
    assert_eq!(conda::observe(&prefix).unwrap().unwrap().locked(), before);
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs_err::metadata(path).unwrap().ino()
}

#[test]
fn update_refuses_a_folder_that_is_not_a_conda_environment() {
    let world = World::new();
    let prefix = world.prefix("plain");
    fs_err::create_dir_all(&prefix).unwrap();
    let err = conda::update(
        &prefix,
        &[],
        &options(&[]),
        &world.cache,
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(
        matches!(err, CondaError::NotAnEnvironment { .. }),
        "{err:?}"
    );
    assert!(fs_err::read_dir(&prefix).unwrap().next().is_none());
}

#[test]
fn unsatisfiable_specs_fail_with_the_solver_naming_the_conflict() {
    let mut world = World::new();
    // An older beta that alpha cannot use.
    world.channel.add(&beta("0.9", "only_in_0_9"));
    world.channel.write_repodata();
    assert_eq!(names(&world.solve(&["beta <1"]).unwrap())[0], "beta=0.9");

    let err = world.solve(&["alpha", "beta <1"]).unwrap_err();
    let CondaError::Unsolvable { explanation, .. } = &err else {
        panic!("{err:?}");
    };
    let message = err.to_string();
    // The message names the specs; resolvo's explanation, the package
    // whose requirement they rule out.
    assert!(message.contains("`alpha`, `beta <1`"), "{message}");
    assert!(
        explanation.contains("alpha 1.0 would require"),
        "{explanation}"
    );
    assert!(explanation.contains("beta >=1.0"), "{explanation}");

    let err = world.solve(&["alpha", "python 3.12.*"]).unwrap_err();
    assert!(
        matches!(&err, CondaError::Unsolvable { explanation, .. } if explanation.contains("python 3.12.*")),
        "{err:?}"
    );
    let err = world.solve(&["numpy"]).unwrap_err();
    assert!(
        matches!(&err, CondaError::Unsolvable { explanation, .. } if explanation.contains("numpy")),
        "{err:?}"
    );
}

#[test]
fn a_package_whose_sha256_differs_from_the_repodata_is_refused_naming_the_file() {
    let mut world = World::new();
    world.channel.edit_record("gamma-1.0-0.tar.bz2", |record| {
        record["sha256"] = serde_json::json!("0".repeat(64));
    });
    world.channel.write_repodata();
    let packages = world.solve(&["gamma"]).unwrap();
    assert_eq!(packages[0].sha256, "0".repeat(64), "the channel's claim");

    let prefix = world.prefix("env");
    let err = world.install(&prefix, &packages).unwrap_err();
    let CondaError::Fetch { file, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(file, "gamma-1.0-0.tar.bz2");
    assert!(
        matches!(source, fetch::FetchError::ChecksumMismatch { .. }),
        "{source:?}"
    );
    let rendered = format!("{err}: {source}");
    assert!(rendered.contains("gamma-1.0-0.tar.bz2"), "{rendered}");
    // Nothing was extracted or linked.
    assert!(!prefix.join("etc/conda/activate.d/gamma.sh").exists());
    assert!(!world.cache.downloads.join("0".repeat(64)).exists());
    assert!(!world.cache.packages.join("gamma-1.0-0").exists());
}

#[cfg(unix)]
#[test]
fn locked_packages_install_exactly_without_solving() {
    let world = World::new();
    let packages = world.solve(&["alpha", "gamma"]).unwrap();
    // Through the lock file's text and back.
    let lock = serde_json::to_string_pretty(&packages).unwrap();
    let pinned: Vec<LockedCondaPackage> = serde_json::from_str(&lock).unwrap();
    assert_eq!(pinned, packages);

    // Without repodata, nothing could be solved any more: the pins alone
    // are enough.
    for subdir in ["noarch", "linux-64"] {
        fs_err::remove_file(world.channel.dir.join(subdir).join("repodata.json")).unwrap();
    }
    let fresh = CondaCache::in_cache_root(&world.root.path().join("other-home/cache"));
    let prefix = world.prefix("from-lock");
    fs_err::create_dir_all(prefix.parent().unwrap()).unwrap();
    conda::install(
        &prefix,
        &pinned,
        &options(&[]),
        &fresh,
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(conda::observe(&prefix).unwrap().unwrap().locked(), pinned);
    let out = run(
        &prefix.join("bin/python"),
        &["-c", "import alpha, beta; print(beta.VERSION)"],
    );
    assert_eq!(out.trim(), "1.0");
}

#[test]
fn a_lock_entry_whose_archive_holds_another_package_is_refused_before_linking() {
    let world = World::new();
    let mut packages = world.solve(&["gamma"]).unwrap();
    // The lock says beta, the URL serves gamma.
    packages[0].name = "beta".to_owned();
    packages[0].file_name = "beta-1.0-0.tar.bz2".to_owned();
    let prefix = world.prefix("env");
    let err = world.install(&prefix, &packages).unwrap_err();
    assert!(
        matches!(&err, CondaError::PackageMismatch { expected, found, .. } if expected == "beta-1.0-0" && found == "gamma-1.0-0"),
        "{err:?}"
    );
    assert!(!prefix.exists(), "nothing was linked");
}

#[cfg(unix)]
#[test]
fn observe_and_check_see_a_deleted_and_a_changed_file() {
    let world = World::new();
    let packages = world.solve(&["alpha"]).unwrap();
    let prefix = world.prefix("env");
    world.install(&prefix, &packages).unwrap();

    fs_err::remove_file(prefix.join("share/beta/only_in_1")).unwrap();
    // Same size, other bytes: only a deep check sees it.
    let module = prefix.join("lib/python3.11/site-packages/alpha/__init__.py");
    let text = fs_err::read_to_string(&module).unwrap();
    // Linked files are hard links into the package cache: replace, never
    // write through them.
    fs_err::remove_file(&module).unwrap();
    fs_err::write(&module, text.replace("alpha", "ALPHA")).unwrap();

    let observed = conda::observe(&prefix).unwrap().unwrap();
    let quick = conda::check(&observed, CheckDepth::Quick);
    assert_eq!(quick.len(), 1, "{quick:?}");
    assert_eq!(quick[0].package, "beta");
    assert_eq!(quick[0].path, Path::new("share/beta/only_in_1"));
    assert_eq!(quick[0].problem, Problem::Missing);

    let deep = conda::check(&observed, CheckDepth::Deep);
    assert_eq!(deep.len(), 2, "{deep:?}");
    let changed = deep.iter().find(|d| d.package == "alpha").unwrap();
    assert_eq!(
        changed.path,
        Path::new("lib/python3.11/site-packages/alpha/__init__.py")
    );
    assert!(
        matches!(changed.problem, Problem::ContentChanged { .. }),
        "{changed:?}"
    );

    // A repair relinks the damaged packages from the cache.
    let report = world
        .install_with(&prefix, &packages, &["alpha".to_owned(), "beta".to_owned()])
        .unwrap();
    assert_eq!(report.reinstalled, ["alpha", "beta"]);
    let observed = conda::observe(&prefix).unwrap().unwrap();
    assert!(conda::check(&observed, CheckDepth::Deep).is_empty());
}

#[test]
fn observe_finds_nothing_where_there_is_no_conda_meta() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(conda::observe(empty.path()).unwrap(), None);
}

#[cfg(unix)]
#[test]
fn install_again_on_a_half_linked_prefix_converges() {
    let world = World::new();
    let packages = world.solve(&["alpha"]).unwrap();
    let prefix = world.prefix("env");
    world.install(&prefix, &packages).unwrap();
    // What a kill in the middle of linking beta leaves: some of its files,
    // no record (records are written after the files).
    fs_err::remove_file(prefix.join("conda-meta/beta-1.0-0.json")).unwrap();
    fs_err::remove_file(prefix.join("lib/python3.11/site-packages/beta/__init__.py")).unwrap();
    assert!(prefix.join("share/beta/only_in_1").exists());

    let report = world.install(&prefix, &packages).unwrap();
    assert_eq!(report.changes.len(), 1, "{report:?}");
    assert!(matches!(&report.changes[0], PackageChange::Add { package } if package.name == "beta"));
    let observed = conda::observe(&prefix).unwrap().unwrap();
    assert_eq!(observed.locked(), packages);
    assert!(conda::check(&observed, CheckDepth::Deep).is_empty());
    let out = run(
        &prefix.join("bin/python"),
        &["-c", "import beta; print(beta.partner())"],
    );
    assert_eq!(out.trim(), "alpha");
}

#[cfg(unix)]
#[test]
fn activation_reads_the_environment_and_runs_its_activate_d_scripts() {
    let world = World::new();
    let packages = world.solve(&["gamma"]).unwrap();
    let prefix = world.prefix("env");
    world.install(&prefix, &packages).unwrap();

    let activation = conda::activation(&prefix, ActivationShell::Bash).unwrap();
    assert_eq!(activation.path_entries, [prefix.join("bin")]);
    assert_eq!(
        activation.scripts,
        [prefix.join("etc/conda/activate.d/gamma.sh")]
    );
    assert!(
        activation
            .variables
            .contains(&("GAMMA_HOME".to_owned(), "from-env-vars".to_owned())),
        "{:?}",
        activation.variables
    );
    assert_eq!(activation.variables[0].0, "CONDA_PREFIX");
    // Fish scripts only: gamma ships none.
    assert!(
        conda::activation(&prefix, ActivationShell::Fish)
            .unwrap()
            .scripts
            .is_empty()
    );

    let base: HashMap<String, String> = [
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), world.root.path().display().to_string()),
    ]
    .into();
    let env = conda::activated_environment(&prefix, &base).unwrap();
    assert_eq!(
        env.get("GAMMA_ACTIVATED").map(String::as_str),
        Some(format!("yes:{}", prefix.display()).as_str())
    );
    assert_eq!(
        env.get("GAMMA_HOME").map(String::as_str),
        Some("from-env-vars")
    );
    let path = env.get("PATH").unwrap();
    assert!(
        path.starts_with(&format!("{}:", prefix.join("bin").display())),
        "{path}"
    );
}

#[test]
fn cancel_before_install_leaves_the_prefix_untouched() {
    let world = World::new();
    let packages = world.solve(&["gamma"]).unwrap();
    let prefix = world.prefix("env");
    fs_err::create_dir_all(&prefix).unwrap();
    let err = conda::install(
        &prefix,
        &packages,
        &options(&[]),
        &world.cache,
        &NoProgress,
        &AtomicBool::new(true),
    )
    .unwrap_err();
    assert!(matches!(err, CondaError::Cancelled), "{err:?}");
    assert!(fs_err::read_dir(&prefix).unwrap().next().is_none());
}

#[test]
fn install_refuses_a_folder_with_user_files_and_a_missing_parent() {
    let world = World::new();
    let packages = world.solve(&["gamma"]).unwrap();

    let prefix = world.prefix("user-data");
    fs_err::create_dir_all(&prefix).unwrap();
    fs_err::write(prefix.join("notes.txt"), "mine").unwrap();
    let err = world.install(&prefix, &packages).unwrap_err();
    assert!(
        matches!(&err, CondaError::NotEmpty { found, .. } if found == "notes.txt"),
        "{err:?}"
    );
    assert_eq!(fs_err::read_dir(&prefix).unwrap().count(), 1);

    // Our marker, written by the executor before it installs, is fine.
    let claimed = world.prefix("claimed");
    fs_err::create_dir_all(&claimed).unwrap();
    fs_err::write(claimed.join(".beep-python.json"), "{}").unwrap();
    world.install(&claimed, &packages).unwrap();

    let orphan = world.root.path().join("no/such/parent/env");
    let err = conda::install(
        &orphan,
        &packages,
        &options(&[]),
        &world.cache,
        &NoProgress,
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(
        matches!(err, CondaError::PrefixParentMissing { .. }),
        "{err:?}"
    );
    assert!(!world.root.path().join("no").exists());
}
