//! `beep-python doctor`, end to end: each test breaks something for real
//! (a dependency removed, an interpreter moved or removed, a library
//! deleted, an apply killed, a registry truncated), sees doctor find it,
//! repairs it with `--fix` through the plan, and sees a second `doctor`
//! come back clean.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::common::{
    DEBIAN_PYTHON, copy_debian_python, expect_exit, python_where, require, stdout, tool, wait_for,
};
use crate::pbs;
use crate::project::{Project, registry_of};

/// `doctor --format json ARGS`, its exit code and its report.
#[track_caller]
fn doctor(p: &Project, args: &[&str], code: i32) -> serde_json::Value {
    let mut all = vec!["--format", "json", "doctor"];
    all.extend_from_slice(args);
    let out = expect_exit(p.cmd(), &all, code);
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The findings of `check` in `report`.
fn findings<'a>(report: &'a serde_json::Value, check: &str) -> Vec<&'a serde_json::Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

/// Findings at warning or above, for a failure message.
fn problems(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| format!("{} {}: {}", f["resource"], f["check"], f["found"]))
        .collect()
}

#[track_caller]
fn assert_clean(p: &Project) -> serde_json::Value {
    let out = p
        .cmd()
        .args(["--format", "json", "doctor"])
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().last().unwrap_or_default()).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "doctor is not clean: {:#?}\n{}",
        problems(&report),
        crate::common::stderr(&out)
    );
    assert_eq!(report["summary"]["healthy"], true);
    report
}

#[track_caller]
fn fix(p: &Project) -> Output {
    p.run(&["doctor", "--fix", "--auto-approve"])
}

const BETA: &str = r#"
[environments.web]
path = ".venvs/web"
packages = ["beta"]
"#;

#[test]
fn a_healthy_project_is_clean_starts_no_process_and_lists_its_checks() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    let report = assert_clean(&p);
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["processes_started"], 0, "{report}");
    assert_eq!(report["environments"], 1);
    // Human output ends with the one-line summary.
    let text = stdout(&p.run(&["doctor"]));
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("Doctor: healthy"), "{text}");
    assert!(last.contains("no process started"), "{text}");

    let list = stdout(&p.run(&["doctor", "--list"]));
    for id in [
        "runtime-exists",
        "runtime-libraries",
        "env-base-interpreter",
        "env-dependencies",
        "env-drift",
        "registry-readable",
        "journal",
        "debris",
    ] {
        assert!(list.contains(id), "{id}: {list}");
    }
    let out = p.fails(&["doctor", "env-dependancies"], 64);
    assert!(
        crate::common::stderr(&out).contains("env-dependencies"),
        "a suggestion: {}",
        crate::common::stderr(&out)
    );
    // Only the named check runs.
    let one = doctor(&p, &["env-dependencies"], 0);
    assert_eq!(one["checks"], serde_json::json!(["env-dependencies"]));
}

#[test]
fn a_broken_dependency_is_found_and_repaired_through_the_plan() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    // Someone removes what beta requires.
    let site = p.path(".venvs/web/lib/python3.11/site-packages");
    for entry in std::fs::read_dir(&site).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("alpha")
        {
            fs_err::remove_dir_all(path).unwrap();
        }
    }
    // The plan has nothing to say: beta, the requirement, is installed.
    assert!(p.plan().contains("No changes"), "{}", p.plan());
    let report = doctor(&p, &[], 2);
    let found = findings(&report, "env-dependencies");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["resource"], "env.web");
    assert_eq!(found[0]["severity"], "error");
    assert!(
        found[0]["found"]
            .as_str()
            .unwrap()
            .contains("beta 0.5.0 requires `alpha>=1`, which is not installed"),
        "{found:?}"
    );
    assert_eq!(found[0]["fixable"], true);
    // Its inventory still lists alpha's files: gone with its metadata.
    let files = findings(&report, "env-files");
    assert!(
        files.len() == 1
            && files[0]["found"]
                .as_str()
                .unwrap()
                .contains("package `alpha`"),
        "{files:?}"
    );

    // A dry run shows the plan and exits as `doctor` does. alpha is added
    // as beta requires it, not also reinstalled at the version it had.
    let dry = stdout(&p.fails(&["doctor", "--fix", "--dry-run"], 2));
    assert!(
        dry.contains("~ env.web") && dry.contains("+ alpha>=1"),
        "{dry}"
    );
    assert!(!dry.contains("(reinstall)"), "{dry}");
    assert!(!site.join("alpha").exists(), "a dry run changes nothing");

    let out = fix(&p);
    assert!(
        stdout(&out).contains("After the repairs:"),
        "{}",
        stdout(&out)
    );
    assert_clean(&p);
    assert!(
        p.installed(".venvs/web")
            .contains(&"alpha==2.0.0".to_string())
    );
}

#[test]
fn a_deleted_and_an_altered_file_are_found_with_their_package_and_reinstalled() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    let env = p.path(".venvs/web");
    let site = env.join("lib/python3.11/site-packages");
    // The inventory apply keeps beside the marker.
    beep_python::inventory::update(&env).unwrap();
    std::fs::remove_file(site.join("beta/__init__.py")).unwrap();
    // Same size, other bytes: only the time tells without hashing.
    let init = site.join("alpha/__init__.py");
    let text = std::fs::read_to_string(&init).unwrap();
    std::fs::write(&init, text.replace("2.0.0", "9.9.9")).unwrap();
    // Bytecode is Python's to rewrite: never damage.
    for entry in std::fs::read_dir(site.join("alpha/__pycache__"))
        .into_iter()
        .flatten()
    {
        std::fs::write(entry.unwrap().path(), "rewritten").unwrap();
    }
    std::fs::write(site.join("notes.txt"), "mine").unwrap();
    // Inside an installed package's folder: only the deep walk looks there.
    std::fs::write(site.join("beta/extra.py"), "x = 1").unwrap();

    let report = doctor(&p, &["env-files", "env-untracked"], 2);
    let found = findings(&report, "env-files");
    let text = |f: &serde_json::Value| f["found"].as_str().unwrap().to_string();
    assert_eq!(found.len(), 2, "{report:#}");
    let beta = found.iter().find(|f| text(f).contains("`beta`")).unwrap();
    assert_eq!(beta["severity"], "error");
    assert!(
        text(beta).contains("beta/__init__.py (missing)"),
        "{}",
        text(beta)
    );
    let alpha = found.iter().find(|f| text(f).contains("`alpha`")).unwrap();
    assert_eq!(alpha["severity"], "warning", "only its time differs");
    assert!(!text(alpha).contains("__pycache__"), "{}", text(alpha));
    let untracked = findings(&report, "env-untracked");
    assert!(
        text(untracked[0]).contains("lib/python3.11/site-packages/notes.txt"),
        "{untracked:?}"
    );
    assert!(
        !text(untracked[0]).contains("beta/extra.py"),
        "the fast check reads the top of site-packages only: {untracked:?}"
    );
    assert!(site.join("notes.txt").is_file(), "reported, never deleted");
    let report = doctor(&p, &["env-untracked", "--deep"], 0);
    let untracked = findings(&report, "env-untracked");
    assert!(
        text(untracked[0]).contains("lib/python3.11/site-packages/beta/extra.py")
            && text(untracked[0]).contains("notes.txt"),
        "{untracked:?}"
    );
    // Hashing tells the contents differ.
    let report = doctor(&p, &["env-files", "--deep"], 2);
    let alpha = findings(&report, "env-files")
        .into_iter()
        .find(|f| text(f).contains("`alpha`"))
        .unwrap();
    assert_eq!(alpha["severity"], "error");
    assert!(
        text(alpha).contains("alpha/__init__.py (altered: other contents)"),
        "{}",
        text(alpha)
    );
    // Without the inventory, the packages' RECORD still tells.
    std::fs::remove_file(env.join(beep_python::inventory::INVENTORY_FILE)).unwrap();
    let report = doctor(&p, &["env-files", "--deep"], 2);
    assert_eq!(findings(&report, "env-files").len(), 2, "{report:#}");

    let out = p.run(&["doctor", "--deep", "--fix", "--auto-approve"]);
    let shown = stdout(&out);
    assert!(
        shown.contains("~ alpha 2.0.0 (reinstall)") && shown.contains("~ beta 0.5.0 (reinstall)"),
        "{shown}"
    );
    assert_clean(&p);
    assert!(site.join("beta/__init__.py").is_file());
    let report = doctor(&p, &["env-files", "--deep"], 0);
    assert!(findings(&report, "env-files").is_empty());
}

#[test]
fn a_dangling_interpreter_link_and_a_missing_pyvenv_cfg_are_rebuilt_through_the_plan() {
    let Some(p) = Project::new() else { return };
    p.manifest(
        "pip",
        &format!("{BETA}\n[environments.api]\npath = \".venvs/api\"\npackages = [\"gamma\"]\n"),
    );
    p.apply();
    // `bin/python` is fine, so the plan sees nothing; `python3` dangles.
    let link = p.path(".venvs/web/bin/python3");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/nonexistent/bin/python3", &link).unwrap();
    std::fs::remove_file(p.path(".venvs/api/pyvenv.cfg")).unwrap();
    assert!(
        !p.plan().contains("env.web"),
        "the plan does not look at python3: {}",
        p.plan()
    );

    let report = doctor(&p, &[], 2);
    let links = findings(&report, "env-links");
    assert!(
        links.len() == 1
            && links[0]["resource"] == "env.web"
            && links[0]["fixable"] == true
            && links[0]["found"]
                .as_str()
                .unwrap()
                .contains("`python3` -> `/nonexistent/bin/python3`"),
        "{report:#}"
    );
    let pyvenv = findings(&report, "env-pyvenv");
    assert!(
        pyvenv.len() == 1 && pyvenv[0]["resource"] == "env.api",
        "{report:#}"
    );

    let out = fix(&p);
    let shown = stdout(&out);
    assert!(
        shown.contains("-/+ env.web") && shown.contains("-/+ env.api"),
        "both rebuilt, not updated in place: {shown}"
    );
    assert_clean(&p);
    assert!(std::fs::metadata(&link).is_ok(), "python3 resolves again");
    assert!(p.path(".venvs/api/pyvenv.cfg").is_file());
    assert!(
        p.installed(".venvs/web")
            .contains(&"beta==0.5.0".to_string())
    );
}

/// A relocatable interpreter (Debian's static python3.11, copied) at
/// `<prefix>/bin/python3.11`, with the pip wheels its seeding looks for.
fn relocatable_python(prefix: &Path) -> PathBuf {
    let exe = copy_debian_python(prefix);
    fs_err::create_dir_all(prefix.join("share")).unwrap();
    std::os::unix::fs::symlink(
        "/usr/share/python-wheels",
        prefix.join("share/python-wheels"),
    )
    .unwrap();
    exe
}

/// The manifest's runtime is a path through a `current` link, as pyenv's
/// and Homebrew's `opt` links are: an upgrade or a reinstall changes where
/// the link points.
fn manifest_on_link(p: &Project, link: &Path, body: &str) {
    let text = format!(
        "version = 1\n\n[settings]\ninstaller = \"pip\"\nfind-links = [\"{}\"]\noffline = true\n\n[runtimes.host]\nsource = \"system\"\npath = \"{}\"\ndefault = true\n{body}",
        p.path("wheels").display(),
        link.join("bin/python3.11").display()
    );
    std::fs::write(p.path("beep-python.toml"), text).unwrap();
}

#[test]
fn an_interpreter_moved_by_an_upgrade_is_repointed_its_packages_stay_and_the_old_path_is_kept() {
    let Some(p) = Project::new() else { return };
    let old = p.path("py/3.11.2-a");
    relocatable_python(&old);
    let current = p.path("py/current");
    std::os::unix::fs::symlink(&old, &current).unwrap();
    manifest_on_link(
        &p,
        &current,
        "\n[environments.web]\npath = \".venvs/web\"\npackages = [\"gamma\"]\n",
    );
    p.apply();
    let env = p.path(".venvs/web");
    let site = env.join("lib/python3.11/site-packages");
    // Proof that it is not rebuilt: a file a rebuild would lose.
    std::fs::write(site.join("kept.txt"), "mine").unwrap();

    // The reinstall puts the same Python elsewhere and moves the link.
    let new = p.path("py/3.11.2-b");
    std::fs::rename(&old, &new).unwrap();
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink(&new, &current).unwrap();
    let new_exe = new.join("bin/python3.11");

    let report = doctor(&p, &[], 2);
    let found = findings(&report, "env-base-interpreter");
    assert_eq!(found.len(), 1, "{report:#}");
    let text = found[0]["found"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "the same Python (cpython 3.11.2) is at `{}`",
            new_exe.display()
        )),
        "{text}"
    );
    assert!(
        found[0]["action"].as_str().unwrap().contains("re-point"),
        "{found:?}"
    );

    let out = fix(&p);
    let shown = stdout(&out);
    assert!(shown.contains("repoint:"), "{shown}");
    assert!(
        !shown.contains("create-venv"),
        "nothing is rebuilt: {shown}"
    );
    assert_clean(&p);
    assert!(p.plan().contains("No changes"), "{}", p.plan());
    assert_eq!(
        std::fs::read_to_string(site.join("kept.txt")).unwrap(),
        "mine"
    );
    assert_eq!(std::fs::read_link(env.join("bin/python")).unwrap(), new_exe);
    let cfg = std::fs::read_to_string(env.join("pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!("home = {}", new.join("bin").display())),
        "{cfg}"
    );
    let out = Command::new(env.join("bin/python"))
        .args(["-c", "import gamma, sys; print(sys.prefix)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    // No aside of the rewritten files is left.
    let leftovers: Vec<_> = std::fs::read_dir(&env)
        .unwrap()
        .chain(std::fs::read_dir(env.join("bin")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".beep-old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The registry keeps the old path.
    let history = registry_of(&p.home())["history"].clone();
    let moved = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "repointed")
        .unwrap_or_else(|| panic!("{history:#}"));
    assert_eq!(moved["environment"], "web");
    assert_eq!(
        moved["from"],
        old.join("bin/python3.11").display().to_string()
    );
    assert_eq!(moved["to"], new_exe.display().to_string());
}

#[test]
fn a_failed_repoint_rolls_back_every_rewritten_file() {
    let Some(p) = Project::new() else { return };
    let old = p.path("py/a");
    relocatable_python(&old);
    let current = p.path("py/current");
    std::os::unix::fs::symlink(&old, &current).unwrap();
    manifest_on_link(
        &p,
        &current,
        "\n[environments.web]\npath = \".venvs/web\"\npackages = [\"gamma\"]\n",
    );
    p.apply();
    let env = p.path(".venvs/web");
    let cfg_before = std::fs::read_to_string(env.join("pyvenv.cfg")).unwrap();
    let new = p.path("py/b");
    std::fs::rename(&old, &new).unwrap();
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink(&new, &current).unwrap();

    let out = expect_exit(
        {
            let mut cmd = p.cmd();
            cmd.env("BEEP_PYTHON_FAILPOINTS", "repoint");
            cmd
        },
        &["doctor", "--fix", "--auto-approve"],
        1,
    );
    assert!(
        crate::common::stderr(&out).contains("rolled back"),
        "{}",
        crate::common::stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(env.join("pyvenv.cfg")).unwrap(),
        cfg_before
    );
    assert_eq!(
        std::fs::read_link(env.join("bin/python")).unwrap(),
        old.join("bin/python3.11")
    );
    assert!(!p.home().join("journal.json").exists());
    // And without the failure it goes through.
    fix(&p);
    assert_clean(&p);
}

#[test]
fn a_removed_base_interpreter_is_found_and_the_environment_rebuilt_on_what_the_manifest_chooses_now()
 {
    let Some(p) = Project::new() else { return };
    // Another Python than 3.11.2, for the manifest to choose once the old
    // one is gone (nothing of the same version is left to re-point to).
    let other = require!(
        "a supported Python other than 3.11.2 that seeds pip",
        python_where(|py| py.version != pbs::DEBIAN_VERSION && py.pip_wheel.is_some())
    );
    let old = p.path("py/old");
    relocatable_python(&old);
    let current = p.path("py/current");
    std::os::unix::fs::symlink(&old, &current).unwrap();
    manifest_on_link(
        &p,
        &current,
        "\n[environments.web]\npath = \".venvs/web\"\npackages = [\"gamma\"]\n",
    );
    p.apply();
    fs_err::remove_dir_all(&old).unwrap();
    // The base is gone: reported, but the manifest's runtime is gone too.
    let report = doctor(&p, &[], 2);
    assert_eq!(
        findings(&report, "env-base-interpreter").len(),
        1,
        "{report:#}"
    );
    let drift = findings(&report, "env-drift");
    assert!(
        drift[0]["found"]
            .as_str()
            .unwrap()
            .contains("could not be planned"),
        "{drift:?}"
    );
    // The user points the runtime at the Python they have now.
    let prefix = p.path("py/other");
    fs_err::create_dir_all(prefix.join("bin")).unwrap();
    std::os::unix::fs::symlink(&other.path, prefix.join("bin/python3.11")).unwrap();
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink(&prefix, &current).unwrap();
    let report = doctor(&p, &[], 2);
    let found = findings(&report, "env-base-interpreter");
    assert!(
        found[0]["action"]
            .as_str()
            .unwrap()
            .starts_with("rebuild it"),
        "{found:?}"
    );
    assert_eq!(found[0]["fixable"], true);
    let out = fix(&p);
    assert!(stdout(&out).contains("-/+ env.web"), "{}", stdout(&out));
    assert_clean(&p);
    let cfg = std::fs::read_to_string(p.path(".venvs/web/pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!("version = {}", other.version)),
        "{cfg}"
    );
}

#[test]
fn a_missing_default_runtime_is_replaced_by_the_policy_and_recorded() {
    let Some(p) = Project::new() else { return };
    // No manifest here: doctor checks the home alone.
    let gone = relocatable_python(&p.path("py/gone"));
    let out = p.run(&["runtimes", "default", DEBIAN_PYTHON]);
    let _ = out;
    p.run(&["runtimes", "default", gone.to_str().unwrap()]);
    let registry = registry_of(&p.home());
    let default = registry["default_runtime"].as_str().unwrap().to_string();
    let debian = registry["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == DEBIAN_PYTHON)
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(default, debian);
    fs_err::remove_dir_all(p.path("py/gone")).unwrap();

    let report = doctor(&p, &[], 2);
    let found = findings(&report, "runtime-default");
    assert_eq!(found.len(), 1, "{report:#}");
    let action = found[0]["action"].as_str().unwrap();
    assert!(
        action.contains(&format!("make `{debian}` the default"))
            && action.contains("same minor version 3.11"),
        "{action}"
    );
    assert_eq!(findings(&report, "runtime-exists").len(), 1, "{report:#}");

    fix(&p);
    assert_clean(&p);
    let registry = registry_of(&p.home());
    assert_eq!(registry["default_runtime"], debian.as_str());
    let events: Vec<&str> = registry["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["default_replaced", "pruned"], "{registry:#}");
    let list = stdout(&p.run(&["runtimes", "list"]));
    assert!(
        !list.contains(&default),
        "the missing record was pruned: {list}"
    );
}

/// Compiles `source` into a shared object at `out` with `args`.
#[track_caller]
fn cc(gcc: &Path, source: &str, out: &Path, args: &[&str]) {
    let dir = out.parent().unwrap();
    fs_err::create_dir_all(dir).unwrap();
    let c = dir.join(format!("{}.c", out.file_name().unwrap().to_string_lossy()));
    std::fs::write(&c, source).unwrap();
    let status = Command::new(gcc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(out)
        .arg(&c)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(c).unwrap();
}

/// A wheel of `name` 1.0 holding `files` (path in the wheel, bytes), with
/// a RECORD that lists them all.
fn native_wheel(dir: &Path, name: &str, files: &[(String, Vec<u8>)]) {
    use zip::write::SimpleFileOptions;
    let dist_info = format!("{name}-1.0.dist-info");
    let mut all: Vec<(String, Vec<u8>)> = files.to_vec();
    all.push((format!("{name}/__init__.py"), b"".to_vec()));
    all.push((
        format!("{dist_info}/METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n").into_bytes(),
    ));
    all.push((
        format!("{dist_info}/WHEEL"),
        b"Wheel-Version: 1.0\nGenerator: doctor-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            .to_vec(),
    ));
    let mut record = String::new();
    for (path, bytes) in &all {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!("{path},sha256={digest},{}\n", bytes.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    all.push((format!("{dist_info}/RECORD"), record.into_bytes()));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, bytes) in all {
        zip.start_file(path, SimpleFileOptions::default().unix_permissions(0o755))
            .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    std::fs::write(dir.join(format!("{name}-1.0-py3-none-any.whl")), bytes).unwrap();
}

#[test]
fn a_missing_shared_library_of_an_extension_module_is_named_with_its_package_and_reinstalled() {
    let Some(p) = Project::new() else { return };
    let gcc = require!("gcc (a C compiler)", tool("gcc"));
    // `native` ships `_ext.so`, which needs `libbogus.so.1` from its own
    // `native.libs` folder (as auditwheel lays wheels out); `sysdep` ships
    // `_ext.so` needing `libmissing.so.1`, a system library nobody has.
    let build = p.path("build");
    cc(
        &gcc,
        "int bogus(void) { return 42; }\n",
        &build.join("libbogus.so.1"),
        &["-Wl,-soname,libbogus.so.1"],
    );
    cc(
        &gcc,
        "int missing(void) { return 1; }\n",
        &build.join("libmissing.so.1"),
        &["-Wl,-soname,libmissing.so.1"],
    );
    let lib_dir = format!("-L{}", build.display());
    cc(
        &gcc,
        "int bogus(void); int ext(void) { return bogus(); }\n",
        &build.join("native_ext.so"),
        &[
            &lib_dir,
            "-l:libbogus.so.1",
            "-Wl,-rpath,$ORIGIN/../native.libs",
        ],
    );
    cc(
        &gcc,
        "int missing(void); int ext(void) { return missing(); }\n",
        &build.join("sysdep_ext.so"),
        &[&lib_dir, "-l:libmissing.so.1"],
    );
    let read = |name: &str| std::fs::read(build.join(name)).unwrap();
    native_wheel(
        &p.path("wheels"),
        "native",
        &[
            ("native/_ext.so".into(), read("native_ext.so")),
            ("native.libs/libbogus.so.1".into(), read("libbogus.so.1")),
        ],
    );
    native_wheel(
        &p.path("wheels"),
        "sysdep",
        &[("sysdep/_ext.so".into(), read("sysdep_ext.so"))],
    );
    fs_err::remove_dir_all(&build).unwrap();
    p.manifest(
        "pip",
        "\n[environments.lab]\npath = \".venvs/lab\"\npackages = [\"native\", \"sysdep\"]\n",
    );
    p.apply();
    let site = p.path(".venvs/lab/lib/python3.11/site-packages");
    // While its library is there, `native` is fine; `sysdep` never was.
    let report = doctor(&p, &["env-libraries"], 2);
    let found = findings(&report, "env-libraries");
    assert_eq!(found.len(), 1, "{report:#}");
    let text = found[0]["found"].as_str().unwrap();
    assert!(
        text.contains("`sysdep/_ext.so` of package `sysdep` needs `libmissing.so.1`"),
        "{text}"
    );
    assert_eq!(found[0]["fixable"], false);
    assert!(
        found[0]["action"]
            .as_str()
            .unwrap()
            .contains("install the system package that provides `libmissing.so.1`"),
        "{found:?}"
    );

    // The library `native` ships is deleted.
    std::fs::remove_file(site.join("native.libs/libbogus.so.1")).unwrap();
    let report = doctor(&p, &["env-libraries"], 2);
    let native = findings(&report, "env-libraries")
        .into_iter()
        .find(|f| f["found"].as_str().unwrap().contains("libbogus.so.1"))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(
        native["found"]
            .as_str()
            .unwrap()
            .contains("`native/_ext.so` of package `native` needs `libbogus.so.1`"),
        "{native}"
    );
    assert_eq!(native["fixable"], true);
    // Exit 2: what is left after the repair still needs the user.
    let out = p.fails(&["doctor", "env-libraries", "--fix", "--auto-approve"], 2);
    assert!(stdout(&out).contains("~ env.lab"), "{}", stdout(&out));
    assert!(site.join("native.libs/libbogus.so.1").is_file());
    // What is left is the system library, which only the user can install.
    let report = doctor(&p, &["env-libraries"], 2);
    let left = findings(&report, "env-libraries");
    assert_eq!(left.len(), 1, "{report:#}");
    assert!(
        left[0]["found"]
            .as_str()
            .unwrap()
            .contains("libmissing.so.1")
    );
    // Once it is on the loader's path, doctor is clean.
    let libs = p.path("syslibs");
    cc(
        &gcc,
        "int missing(void) { return 1; }\n",
        &libs.join("libmissing.so.1"),
        &["-Wl,-soname,libmissing.so.1"],
    );
    let out = expect_exit(
        {
            let mut cmd = p.cmd();
            cmd.env("LD_LIBRARY_PATH", &libs);
            cmd
        },
        &["doctor", "env-libraries"],
        0,
    );
    assert!(stdout(&out).contains("healthy"), "{}", stdout(&out));
}

/// A project whose manifest declares a `url` runtime served from
/// 127.0.0.1, and the server.
fn url_runtime(p: &Project) -> crate::server::Server {
    let archive = pbs::debian_archive_variant("cpython-custom", pbs::DEBIAN_VERSION);
    let server = archive.serve();
    // Not `offline`, which would stop the runtime's download too: pip is
    // kept off any index by the test's environment.
    let text = format!(
        "version = 1\n\n[settings]\ninstaller = \"pip\"\nfind-links = [\"{}\"]\n\n[runtimes.custom]\nsource = \"url\"\nurl = \"{}\"\nsha256 = \"{}\"\nversion = \"{}\"\n",
        p.path("wheels").display(),
        server.url(),
        archive.sha256,
        pbs::DEBIAN_VERSION
    );
    std::fs::write(p.path("beep-python.toml"), text).unwrap();
    server
}

/// Starts `apply` paused in the extract step and kills it there.
fn kill_mid_extract(p: &Project) {
    let mut child = p
        .cmd()
        .env("BEEP_PYTHON_FAILPOINTS", "extract=pause")
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a full staging folder", || {
        // A `url` archive's single top folder becomes the runtime's root.
        staging(p).is_some_and(|s| s.join("cpython-custom/bin/python3.11").exists())
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

fn staging(p: &Project) -> Option<PathBuf> {
    std::fs::read_dir(p.home().join("runtimes"))
        .ok()?
        .map(|e| e.unwrap().path())
        .find(|e| {
            e.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".staging-")
        })
}

#[test]
fn a_journal_left_by_a_killed_apply_is_found_and_rolled_back() {
    let Some(p) = Project::new() else { return };
    let _server = url_runtime(&p);
    kill_mid_extract(&p);
    let report = doctor(&p, &["journal", "debris"], 2);
    let found = findings(&report, "journal");
    assert_eq!(found.len(), 1, "{report:#}");
    assert!(
        found[0]["found"]
            .as_str()
            .unwrap()
            .contains("an apply was interrupted"),
        "{found:?}"
    );
    // The staging folder belongs to the journal: not debris.
    assert!(findings(&report, "debris").is_empty(), "{report:#}");
    // `--fix` rolls the interrupted apply back first (as `recover`), then
    // applies the plan, which provisions the runtime the apply was making.
    let out = fix(&p);
    assert!(
        crate::common::stderr(&out).contains("rolled back its 1 change"),
        "{}",
        crate::common::stderr(&out)
    );
    assert!(!p.home().join("journal.json").exists());
    assert!(staging(&p).is_none());
    assert_clean(&p);
}

#[test]
fn stray_staging_folders_and_asides_are_swept_and_nothing_that_is_not_ours() {
    let Some(p) = Project::new() else { return };
    let _server = url_runtime(&p);
    kill_mid_extract(&p);
    // The user abandons the journal (`recover --abandon` deletes nothing):
    // its staging folder is left with nothing naming it.
    p.run(&["recover", "--abandon"]);
    let stray = staging(&p).expect("the staging folder stays");
    // An aside of ours whose clean-up never ran, a folder of the user's
    // named like one, and a temporary file of a write that never finished.
    p.manifest("pip", BETA);
    p.apply();
    let aside = p.path(".venvs/web.beep-old-0123abcd");
    fs_err::create_dir_all(&aside).unwrap();
    std::fs::copy(
        p.path(".venvs/web/.beep-python.json"),
        aside.join(".beep-python.json"),
    )
    .unwrap();
    let theirs = p.path(".venvs/web.beep-old-4567cdef");
    fs_err::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("thesis.txt"), "work").unwrap();
    let temp = p.home().join(".registry.x1y2z3.tmp");
    std::fs::write(&temp, "{").unwrap();
    // An in-place update killed while its restore point was being linked,
    // and its journal abandoned: the half-made snapshot is left.
    p.manifest("pip", &BETA.replace(r#"["beta"]"#, r#"["beta", "gamma"]"#));
    let out = p
        .cmd()
        .env("BEEP_PYTHON_CRASH_AT", "2")
        .args(["apply", "--auto-approve"])
        .output()
        .unwrap();
    assert!(
        crate::common::stderr(&out).contains("(`snapshot-linked`)"),
        "killed while linking the restore point: {}",
        crate::common::stderr(&out)
    );
    p.run(&["recover", "--abandon"]);
    let partial = std::fs::read_dir(p.path(".venvs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|e| e.to_string_lossy().ends_with(".partial"))
        .expect("the half-made restore point stays");
    p.manifest("pip", BETA);

    let report = doctor(&p, &["debris"], 2);
    let found = findings(&report, "debris");
    let warned: Vec<&str> = found
        .iter()
        .filter(|f| f["severity"] == "warning")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let mut expected = vec![
        stray.to_str().unwrap(),
        aside.to_str().unwrap(),
        temp.to_str().unwrap(),
        partial.to_str().unwrap(),
    ];
    expected.sort();
    let mut warned_sorted = warned.clone();
    warned_sorted.sort();
    assert_eq!(warned_sorted, expected, "{report:#}");
    let noted: Vec<&str> = found
        .iter()
        .filter(|f| f["severity"] == "info")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(noted, [theirs.to_str().unwrap()]);

    let out = fix(&p);
    assert!(stdout(&out).contains("- home.debris"), "{}", stdout(&out));
    assert!(!stray.exists() && !aside.exists() && !temp.exists() && !partial.exists());
    assert_eq!(
        std::fs::read_to_string(theirs.join("thesis.txt")).unwrap(),
        "work"
    );
    let report = doctor(&p, &["debris"], 0);
    assert_eq!(
        findings(&report, "debris").len(),
        1,
        "only the user's folder"
    );
}

#[test]
fn a_managed_runtime_whose_files_were_altered_is_found_by_deep_and_reinstalled() {
    let Some(p) = Project::new() else { return };
    let _server = url_runtime(&p);
    p.apply();
    let root = p.home().join("runtimes").join(format!(
        "cpython-{}-url-{}",
        pbs::DEBIAN_VERSION,
        &pbs::debian_archive_variant("cpython-custom", pbs::DEBIAN_VERSION).sha256[..12]
    ));
    assert!(root.is_dir());
    // Not a fast check.
    let report = doctor(&p, &[], 0);
    assert!(findings(&report, "runtime-files").is_empty());
    let stdlib = root.join("lib/python3.11");
    std::fs::remove_file(stdlib.join("this.py")).unwrap();
    let mut f = fs_err::OpenOptions::new()
        .append(true)
        .open(stdlib.join("colorsys.py"))
        .unwrap();
    writeln!(f, "# edited").unwrap();
    drop(f);
    let report = doctor(&p, &["--deep"], 2);
    let found = findings(&report, "runtime-files");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(
        found[0]["found"],
        "its files differ from its archive: 1 missing (lib/python3.11/this.py), 1 altered (lib/python3.11/colorsys.py)"
    );
    // `--deep` ran the interpreter once for the version and the modules.
    assert_eq!(report["processes_started"], 1, "{report:#}");
    let out = p.run(&["doctor", "--deep", "--fix", "--auto-approve"]);
    assert!(
        stdout(&out).contains("-/+ runtime.custom"),
        "{}",
        stdout(&out)
    );
    let report = doctor(&p, &["--deep"], 0);
    assert!(findings(&report, "runtime-files").is_empty(), "{report:#}");
    assert!(stdlib.join("this.py").is_file());
}

#[test]
fn replacing_a_runtime_in_place_unpacks_it_again_instead_of_verifying_its_own_aside() {
    let Some(p) = Project::new() else { return };
    let _server = url_runtime(&p);
    p.apply();
    let out = p.run(&["apply", "--auto-approve", "--replace", "runtime.custom"]);
    assert!(
        crate::common::stderr(&out).contains("extract done"),
        "{}",
        crate::common::stderr(&out)
    );
    assert!(p.plan().contains("No changes"), "{}", p.plan());
}

#[test]
fn a_corrupt_registry_with_good_backups_is_restored_and_the_corrupt_file_kept() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    p.manifest(
        "pip",
        &format!("{BETA}\n[environments.two]\npath = \".venvs/two\"\npackages = [\"gamma\"]\n"),
    );
    p.apply();
    let registry = p.home().join("registry.json");
    let good = std::fs::read_to_string(&registry).unwrap();
    // A disk hiccup truncates it.
    std::fs::write(&registry, &good[..good.len() / 2]).unwrap();
    let report = doctor(&p, &[], 2);
    let found = findings(&report, "registry-readable");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["severity"], "error");
    assert!(
        found[0]["action"]
            .as_str()
            .unwrap()
            .contains("backups/registry."),
        "{found:?}"
    );
    fix(&p);
    let restored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&registry).unwrap()).unwrap();
    let names: Vec<&str> = restored["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    // The newest valid backup is the first apply's registry; the second
    // environment is recorded again by the plan (adopted from its marker).
    assert!(names.contains(&"web"), "{restored:#}");
    let kept = std::fs::read_dir(p.home().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("registry.corrupt-"))
        .count();
    assert_eq!(kept, 1, "the corrupt file is kept");
    assert_clean(&p);
}

#[test]
fn a_record_of_another_manifest_whose_folder_vanished_is_pruned() {
    let Some(p) = Project::new() else { return };
    p.manifest_at("other/beep-python.toml", "pip", BETA);
    expect_exit(
        {
            let mut cmd = p.cmd();
            cmd.current_dir(p.path("other"));
            cmd
        },
        &["apply", "--auto-approve"],
        0,
    );
    p.manifest(
        "pip",
        "\n[environments.mine]\npath = \".venvs/mine\"\npackages = [\"gamma\"]\n",
    );
    p.apply();
    fs_err::remove_dir_all(p.path("other/.venvs/web")).unwrap();
    let report = doctor(&p, &["registry-references"], 2);
    let found = findings(&report, "registry-references");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["resource"], "env.web");
    fix(&p);
    assert_eq!(p.recorded(), ["mine"]);
    assert_clean(&p);
}

/// 105 reports from two months ago in `<home>/health-reports`: rotation
/// keeps the newest 100 (counting the new ones) and every one of the last
/// 30 days. Returns the folder.
fn seed_old_reports(p: &Project) -> PathBuf {
    let dir = p.home().join("health-reports");
    fs_err::create_dir_all(&dir).unwrap();
    let template = stdout(&p.run(&["--format", "json", "doctor"]));
    for i in 0..105 {
        let name = format!("20000101T{:02}{:02}00.000Z.json", i / 60, i % 60);
        std::fs::write(dir.join(name), &template).unwrap();
    }
    dir
}

/// `doctor --watch --interval 1s`, its output piped.
fn start_watch(p: &Project) -> std::process::Child {
    p.cmd()
        .args(["doctor", "--watch", "--interval", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The reports `--watch` wrote (not the seeded ones).
fn new_reports(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("2000"))
        .count()
}

/// Rotated to 100, each one whole JSON, and no temporary file left
/// (reports are written to a temporary file and renamed).
#[track_caller]
fn assert_rotated_and_whole(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 100, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".json") && !n.starts_with('.')),
        "{names:?}"
    );
    for name in names.iter().filter(|n| !n.starts_with("2000")) {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let _: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
    }
}

#[test]
fn watch_writes_rotated_reports_prints_only_changes_and_stops_on_sigint() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    let dir = seed_old_reports(&p);
    let child = start_watch(&p);
    let count = || new_reports(&dir);
    wait_for("two reports", || count() >= 2);
    // Health changes between runs.
    let site = p.path(".venvs/web/lib/python3.11/site-packages");
    for entry in std::fs::read_dir(&site).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("alpha")
        {
            fs_err::remove_dir_all(path).unwrap();
        }
    }
    let before = count();
    wait_for("two more reports", || count() >= before + 2);
    // SAFETY: a signal to the child we started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::common::stderr(&out)
    );
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "one line per change of health: {lines:#?}");
    assert!(lines[0].contains("healthy"), "{lines:?}");
    assert!(
        lines[1].contains("env.web env-files (error)")
            && lines[1].contains("env.web env-dependencies (error)"),
        "{lines:?}"
    );
    assert_rotated_and_whole(&dir);
    // The newest report is shown again, and by status.
    let shown = expect_exit(p.cmd(), &["doctor", "--report", "last"], 2);
    assert!(
        stdout(&shown).contains("beta 0.5.0 requires `alpha>=1`"),
        "{}",
        stdout(&shown)
    );
    let status = stdout(&p.run(&["status"]));
    assert!(status.contains("HEALTH"), "{status}");
    // Two errors: beta's requirement unmet, and alpha's files (its
    // inventory lists them) gone.
    assert!(status.contains("ago: 2 errors"), "{status}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&p.run(&["--format", "json", "status"]))).unwrap();
    assert_eq!(json["health"]["summary"]["error"], 2, "{json:#}");
}

#[test]
fn the_report_document_has_a_stable_shape() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    std::fs::write(p.home().join(".registry.abc.tmp"), "").unwrap();
    let report = doctor(&p, &[], 2);
    let mut keys: Vec<String> = report.as_object().unwrap().keys().cloned().collect();
    let finding = report["findings"].as_array().unwrap()[0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    keys.push(format!("findings[]: {}", finding.join(", ")));
    insta::assert_snapshot!("doctor_report", keys.join("\n"));
}

#[test]
fn a_base_interpreter_upgraded_in_place_to_another_release_is_found_by_its_version_and_rebuilt() {
    let Some(p) = Project::new() else { return };
    // The release the upgrade installs: another 3.11 than the 3.11.2 the
    // environment is built on (on a fresh machine, pyenv's 3.11.7).
    let other = require!(
        "a Python 3.11 other than 3.11.2 that seeds pip",
        python_where(|py| py.short() == "3.11"
            && py.version != pbs::DEBIAN_VERSION
            && py.pip_wheel.is_some())
    );
    let prefix = p.path("py/base");
    let exe = relocatable_python(&prefix);
    manifest_on_link(
        &p,
        &prefix,
        "\n[environments.web]\npath = \".venvs/web\"\npackages = [\"gamma\"]\n",
    );
    p.apply();
    let cfg = std::fs::read_to_string(p.path(".venvs/web/pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!("version = {}", pbs::DEBIAN_VERSION)),
        "{cfg}"
    );
    let report = doctor(&p, &["--deep", "env-version"], 0);
    assert!(findings(&report, "env-version").is_empty(), "{report:#}");

    // The upgrade replaces the interpreter at the same path with a link to
    // the new build, as Homebrew's `bin/python3.11` links into its Cellar.
    fs_err::remove_file(&exe).unwrap();
    std::os::unix::fs::symlink(&other.path, &exe).unwrap();

    // The version is the interpreter's own answer: `--deep` runs it.
    let report = doctor(&p, &["--deep", "env-version"], 0);
    let found = findings(&report, "env-version");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["resource"], "env.web");
    // Another release of the same minor keeps the ABI and the layout: a
    // note, not a problem.
    assert_eq!(found[0]["severity"], "info", "{found:?}");
    let text = found[0]["found"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "upgraded in place ({} -> {})",
            pbs::DEBIAN_VERSION,
            other.version
        )),
        "{text}"
    );
    // The plan rebuilds it for the new release, and `--fix` is that plan.
    assert_eq!(found[0]["fixable"], true, "{found:?}");
    assert!(
        found[0]["action"]
            .as_str()
            .unwrap()
            .contains("the plan rebuilds it"),
        "{found:?}"
    );
    let out = p.run(&["doctor", "--deep", "--fix", "--auto-approve"]);
    assert!(stdout(&out).contains("-/+ env.web"), "{}", stdout(&out));
    let report = doctor(&p, &["--deep", "env-version"], 0);
    assert!(findings(&report, "env-version").is_empty(), "{report:#}");
    assert_clean(&p);
    let cfg = std::fs::read_to_string(p.path(".venvs/web/pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!("version = {}", other.version)),
        "{cfg}"
    );
}

#[test]
fn a_corrupt_newest_backup_is_reported_skipped_and_the_registry_restored_from_an_older_one() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    p.manifest(
        "pip",
        &format!("{BETA}\n[environments.two]\npath = \".venvs/two\"\npackages = [\"gamma\"]\n"),
    );
    p.apply();
    // Each write keeps the registry it replaces: three writes, two backups.
    p.manifest(
        "pip",
        &format!("{BETA}\n[environments.two]\npath = \".venvs/two\"\npackages = [\"gamma\"]\n\n[environments.three]\npath = \".venvs/three\"\npackages = [\"gamma\"]\n"),
    );
    p.apply();
    let backups = p.home().join("backups");
    let numbered = || {
        let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?.to_string();
                let n = name.strip_prefix("registry.")?.strip_suffix(".json")?;
                Some((n.parse().ok()?, path))
            })
            .collect();
        found.sort();
        found
    };
    let kept = numbered();
    assert!(kept.len() >= 2, "two applies keep backups: {kept:?}");
    let report = doctor(&p, &["registry-backups"], 0);
    assert!(
        findings(&report, "registry-backups").is_empty(),
        "{report:#}"
    );

    // The same disk hiccup truncates the registry and its newest backup.
    let (_, newest) = kept.last().unwrap().clone();
    let (_, older) = kept[kept.len() - 2].clone();
    let registry = p.home().join("registry.json");
    for file in [&registry, &newest] {
        let good = std::fs::read_to_string(file).unwrap();
        std::fs::write(file, &good[..good.len() / 2]).unwrap();
    }
    let report = doctor(&p, &["registry-readable", "registry-backups"], 2);
    let broken = findings(&report, "registry-backups");
    assert_eq!(broken.len(), 1, "{report:#}");
    assert_eq!(broken[0]["severity"], "warning");
    assert_eq!(broken[0]["path"], newest.display().to_string());
    assert!(
        broken[0]["found"]
            .as_str()
            .unwrap()
            .contains("recovery skips it"),
        "{broken:?}"
    );
    let unreadable = findings(&report, "registry-readable");
    assert_eq!(unreadable.len(), 1, "{report:#}");
    assert!(
        unreadable[0]["action"]
            .as_str()
            .unwrap()
            .contains(&format!("`{}`", older.display())),
        "restored from the newest *valid* backup: {unreadable:?}"
    );
    // `--fix` restores the registry; the damaged backup is left (it is
    // not doctor's to delete), so what is left is a warning: exit 2.
    let out = expect_exit(p.cmd(), &["doctor", "--fix", "--auto-approve"], 2);
    let after = stdout(&out);
    let after = after.split("After the repairs").nth(1).unwrap_or_default();
    assert!(
        after.contains("registry-backups") && !after.contains("registry-readable"),
        "{}",
        stdout(&out)
    );
    // Restored, the unreadable registry kept as evidence (a note).
    let restored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&registry).unwrap()).unwrap();
    assert!(restored["environments"].is_array(), "{restored:#}");
    let report = doctor(&p, &["registry-readable", "registry-backups"], 2);
    assert!(
        findings(&report, "registry-readable").is_empty(),
        "{report:#}"
    );
    let notes: Vec<_> = findings(&report, "registry-backups")
        .into_iter()
        .filter(|f| f["severity"] == "info")
        .collect();
    assert_eq!(notes.len(), 1, "the corrupt registry, kept: {report:#}");
    // The finding's command removes the damaged backup, and doctor is
    // clean.
    let still = findings(&report, "registry-backups")
        .into_iter()
        .find(|f| f["severity"] == "warning")
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    let command = still["command"].as_str().unwrap();
    assert_eq!(command, format!("rm {}", newest.display()));
    let status = Command::new("sh").args(["-c", command]).status().unwrap();
    assert!(status.success());
    let report = assert_clean(&p);
    let left: Vec<_> = findings(&report, "registry-backups")
        .into_iter()
        .map(|f| f["found"].as_str().unwrap())
        .collect();
    assert_eq!(
        left,
        ["an unreadable `registry.json`, kept as evidence when it was replaced"]
    );
}

#[test]
fn a_lock_note_left_by_a_killed_apply_names_the_dead_process_and_the_next_command_replaces_it() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    p.manifest(
        "pip",
        &format!("{BETA}\n[environments.two]\npath = \".venvs/two\"\npackages = [\"gamma\"]\n"),
    );
    // `kill -9` at the first step of the transaction, the lock held.
    let child = p
        .cmd()
        .env("BEEP_PYTHON_CRASH_AT", "1")
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(libc::SIGKILL),
        "{}",
        crate::common::stderr(&out)
    );
    let note = std::fs::read_to_string(p.home().join(".lock")).unwrap();
    assert!(note.contains(&format!("\"pid\":{pid}")), "{note}");

    let report = doctor(&p, &["lock-holder"], 0);
    let found = findings(&report, "lock-holder");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["severity"], "info", "the OS lock died with it");
    let text = found[0]["found"].as_str().unwrap();
    assert!(
        text.contains(&format!("pid {pid} (`")) && text.contains("no longer running"),
        "{text}"
    );
    assert_eq!(found[0]["fixable"], false);
    // Nothing is blocked: the next mutating command takes the lock (and
    // recovers the killed apply), and leaves no note behind.
    fix(&p);
    let report = doctor(&p, &["lock-holder"], 0);
    assert!(findings(&report, "lock-holder").is_empty(), "{report:#}");
    assert_clean(&p);
}

#[test]
fn watch_stops_cleanly_on_sigterm_with_its_reports_rotated_and_whole() {
    let Some(p) = Project::new() else { return };
    p.manifest("pip", BETA);
    p.apply();
    let dir = seed_old_reports(&p);
    let child = start_watch(&p);
    wait_for("two reports", || new_reports(&dir) >= 2);
    // As a service manager stops it (`systemctl stop`, `docker stop`).
    // SAFETY: a signal to the child we started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    // Stopping is the way a watch ends: exit 0, not death by the signal.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?}: {}",
        out.status,
        crate::common::stderr(&out)
    );
    let err = crate::common::stderr(&out);
    let runs: usize = err
        .lines()
        .find_map(|l| l.split("stopped after ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `stopped after N runs`: {err}"));
    assert!(runs >= 2, "{err}");
    assert_eq!(runs, new_reports(&dir), "one report per run: {err}");
    assert_rotated_and_whole(&dir);
    // Healthy throughout: one line, for the first run.
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("healthy"), "{lines:?}");
}
