//! Provisioning managed runtimes end to end: the binary, a real HTTP server
//! on 127.0.0.1 serving archives in the python-build-standalone layout
//! built from Debian's python3.11 ([`crate::pbs`]), a catalog pointing at
//! it, and environments built on what was provisioned.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sha2::Digest as _;

use crate::common::{beep, expect_exit, isolate_installers, stderr, stdout, wait_for};
use crate::pbs::server::{Reply, Server};
use crate::pbs::{self, DEBIAN_VERSION};
use crate::wheels::{WheelSpec, wheelhouse};

/// A project folder with a manifest, a catalog, a wheelhouse and a home.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        wheelhouse(
            &p.path("wheels"),
            &[WheelSpec {
                name: "alpha",
                version: "1.0.0",
                requires: &[],
            }],
        );
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// A catalog with one entry: `version` at `url` with `sha256`.
    fn catalog(&self, version: &str, url: &str, sha256: &str) {
        std::fs::write(
            self.path("catalog.json"),
            pbs::catalog_json(&[(version, url, sha256)]),
        )
        .unwrap();
    }

    /// The manifest: the catalog, a standalone runtime `py` (`3.11`) and
    /// `body`.
    fn manifest(&self, body: &str) {
        let text = format!(
            "version = 1\n\n[settings]\ninstaller = \"uv\"\nfind-links = [\"wheels\"]\npython-downloads = \"catalog.json\"\n\n{body}"
        );
        std::fs::write(self.path("beep-python.toml"), text).unwrap();
    }

    fn cmd(&self) -> Command {
        let mut cmd = beep(&self.home());
        isolate_installers(cmd.current_dir(self.dir.path()))
            // Packages come from `find-links` only; `offline` is not set in
            // the manifest because it would stop interpreter downloads too.
            .env("UV_OFFLINE", "1")
            .env_remove("BEEP_PYTHON_MIRROR")
            .env_remove("BEEP_PYTHON_PLATFORM");
        cmd
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> Output {
        expect_exit(self.cmd(), args, 0)
    }

    #[track_caller]
    fn fails(&self, args: &[&str]) -> String {
        stderr(&expect_exit(self.cmd(), args, 1))
    }

    fn runtime_root(&self) -> PathBuf {
        self.home().join("runtimes").join(format!(
            "cpython-{DEBIAN_VERSION}-linux-{}-gnu",
            std::env::consts::ARCH
        ))
    }

    /// Everything in `<home>/runtimes`, staging folders included.
    fn runtimes_entries(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.home().join("runtimes")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => vec![],
        }
    }

    fn registry(&self) -> serde_json::Value {
        match std::fs::read_to_string(self.home().join("registry.json")) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) => serde_json::json!({ "runtimes": [], "environments": [] }),
        }
    }

    fn managed_runtimes(&self) -> Vec<serde_json::Value> {
        self.registry()["runtimes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["managed"] == true)
            .cloned()
            .collect()
    }

    fn cached(&self, sha256: &str) -> bool {
        self.home().join("cache/downloads").join(sha256).is_file()
    }
}

const RUNTIME_AND_ENV: &str = r#"
[runtimes.py]
source = "standalone"
version = "3.11"

[environments.app]
runtime = "py"
packages = ["alpha"]
path = ".venvs/app"
"#;

const RUNTIME_ONLY: &str = r#"
[runtimes.py]
source = "standalone"
version = "3.11"
"#;

/// What an environment's Python says about itself and `alpha`.
fn probe_env(p: &Project) -> String {
    let out = Command::new(p.path(".venvs/app/bin/python"))
        .args([
            "-c",
            "import sys, ssl, alpha; print(sys.version.split()[0], sys.base_prefix)",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn apply_provisions_the_runtime_and_an_environment_on_it_works() {
    let archive = pbs::debian_archive();
    let server = archive.serve();
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &server.url(), &archive.sha256);
    p.manifest(RUNTIME_AND_ENV);

    let plan = stdout(&p.run(&["plan"]));
    assert!(
        plan.contains("+ runtime.py") && plan.contains(&archive.sha256),
        "{plan}"
    );
    assert!(plan.contains("Plan: 2 to add"), "{plan}");

    p.run(&["apply", "--auto-approve"]);
    let root = p.runtime_root();
    for file in ["bin/python", "bin/python3", ".beep-python-runtime.json"] {
        assert!(root.join(file).exists(), "{file} missing in {root:?}");
    }
    // Nothing but the runtime is left in `runtimes/` (no staging).
    assert_eq!(p.runtimes_entries(), std::slice::from_ref(&root));
    let env = probe_env(&p);
    assert_eq!(
        env,
        format!("{DEBIAN_VERSION} {}", root.display()),
        "the environment's base is the provisioned runtime"
    );

    let runtimes = p.managed_runtimes();
    assert_eq!(runtimes.len(), 1, "{runtimes:?}");
    let record = &runtimes[0];
    assert_eq!(record["name"], "py");
    assert_eq!(record["kind"], "standalone");
    assert_eq!(record["version"], DEBIAN_VERSION);
    assert_eq!(record["sha256"], archive.sha256.as_str());
    assert_eq!(record["url"], server.url().as_str());
    assert_eq!(record["root"], root.to_str().unwrap());

    let list = stdout(&p.run(&["runtimes", "list"]));
    assert!(
        list.lines()
            .any(|l| l.contains(" py ") && l.contains("standalone") && l.contains("yes")),
        "{list}"
    );

    // A second plan changes nothing and starts no discovery.
    let out = p.run(&["-v", "plan", "--detailed-exitcode"]);
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("observation started 0 Python processes"),
        "{}",
        stderr(&out)
    );
    let downloads = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(downloads, 1, "{:?}", server.requests());
}

#[test]
fn a_runtime_is_provisioned_again_from_the_cache_with_the_server_gone() {
    let archive = pbs::debian_archive();
    let server = archive.serve();
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &server.url(), &archive.sha256);
    p.manifest(RUNTIME_ONLY);
    p.run(&["apply", "--auto-approve"]);
    assert!(p.cached(&archive.sha256));
    drop(server);

    // Destroy removes the runtime this manifest created...
    let out = p.run(&["destroy", "--auto-approve"]);
    assert!(stdout(&out).contains("- runtime.py"), "{}", stdout(&out));
    assert!(!p.runtime_root().exists());
    assert!(p.managed_runtimes().is_empty());

    // ...and apply brings it back without the network.
    p.run(&["apply", "--auto-approve"]);
    assert!(p.runtime_root().join("bin/python3").exists());
    assert_eq!(p.managed_runtimes().len(), 1);
}

#[test]
fn a_checksum_mismatch_extracts_and_registers_nothing() {
    let archive = pbs::debian_archive();
    let server = archive.serve();
    let p = Project::new();
    let wrong = "ab".repeat(32);
    p.catalog(DEBIAN_VERSION, &server.url(), &wrong);
    p.manifest(RUNTIME_ONLY);

    let err = p.fails(&["apply", "--auto-approve"]);
    assert!(
        err.contains(&format!("expected sha256 {wrong}"))
            && err.contains(&format!("got {}", archive.sha256)),
        "{err}"
    );
    assert_eq!(p.runtimes_entries(), Vec::<PathBuf>::new());
    assert!(p.managed_runtimes().is_empty());
    assert!(!p.cached(&wrong) && !p.cached(&archive.sha256));
}

#[test]
fn a_truncated_download_and_two_server_errors_are_retried() {
    let archive = pbs::debian_archive();
    let server = archive.serve();
    server.script([
        Reply::CloseAfter(100_000),
        Reply::Status(500),
        Reply::Status(503),
    ]);
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &server.url(), &archive.sha256);
    p.manifest(RUNTIME_ONLY);

    p.run(&["apply", "--auto-approve"]);
    assert!(p.runtime_root().join("bin/python3").exists());
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    // The last attempt resumed after the bytes of the truncated one.
    assert_eq!(requests[3].range, Some(100_000), "{requests:?}");
}

#[test]
fn malicious_archives_are_refused_and_write_nothing_outside_staging() {
    for (name, bytes) in pbs::malicious_archives() {
        let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
        let server = Server::start(std::sync::Arc::new(bytes));
        let p = Project::new();
        p.catalog(DEBIAN_VERSION, &server.url(), &sha);
        p.manifest(RUNTIME_ONLY);
        let before = tree(p.dir.path());

        let err = p.fails(&["apply", "--auto-approve"]);
        assert!(
            err.contains("unsafe") || err.contains("refus"),
            "{name}: {err}"
        );
        assert_eq!(p.runtimes_entries(), Vec::<PathBuf>::new(), "{name}");
        assert!(p.managed_runtimes().is_empty(), "{name}");
        // Only the cache (the verified download) and the home's own files
        // are new.
        let after: Vec<PathBuf> = tree(p.dir.path())
            .into_iter()
            .filter(|f| !before.contains(f))
            .filter(|f| {
                let rel = f.strip_prefix(p.dir.path()).unwrap();
                !(rel.starts_with("home/cache")
                    || rel.starts_with("home/backups")
                    || rel == Path::new("home")
                    || rel == Path::new("home/runtimes")
                    || rel == Path::new("home/.lock")
                    || rel == Path::new("home/registry.json"))
            })
            .collect();
        assert!(after.is_empty(), "{name}: {after:?}");
        for evil in pbs::evil_paths() {
            assert!(
                std::fs::symlink_metadata(&evil).is_err(),
                "{name}: {evil:?}"
            );
        }
    }
}

/// Every path under `dir`, recursively, without following links.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn sigkill_mid_download_registers_nothing_and_the_next_apply_completes() {
    let archive = pbs::debian_archive();
    let server = archive.serve();
    server.script([Reply::Hang(Duration::from_secs(20))]);
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &server.url(), &archive.sha256);
    p.manifest(RUNTIME_ONLY);

    let mut child = p
        .cmd()
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the download to start", || !server.requests().is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(p.managed_runtimes().is_empty());
    assert_eq!(p.runtimes_entries(), Vec::<PathBuf>::new());

    p.run(&["apply", "--auto-approve"]);
    assert!(p.runtime_root().join("bin/python3").exists());
    assert_eq!(p.managed_runtimes().len(), 1);
}

#[test]
fn sigkill_mid_extract_is_rolled_back_and_the_next_apply_completes() {
    let archive = pbs::debian_archive();
    let server = archive.serve();
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &server.url(), &archive.sha256);
    p.manifest(RUNTIME_ONLY);

    let mut child = p
        .cmd()
        .env("BEEP_PYTHON_FAILPOINTS", "extract=pause")
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a full staging folder", || {
        p.runtimes_entries().iter().any(|e| {
            e.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".staging-")
                && e.join("bin/python3.11").exists()
        })
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(p.home().join("journal.json").exists());
    assert!(p.managed_runtimes().is_empty());

    let out = p.run(&["apply", "--auto-approve"]);
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    assert_eq!(p.runtimes_entries(), [p.runtime_root()]);
    assert_eq!(p.managed_runtimes().len(), 1);
}

#[test]
fn an_interpreter_that_reports_another_version_is_rejected_and_rolled_back() {
    // The catalog says 3.11.9; the archive holds 3.11.2.
    let archive = pbs::debian_archive();
    let server = archive.serve();
    let p = Project::new();
    p.catalog("3.11.9", &server.url(), &archive.sha256);
    p.manifest(RUNTIME_ONLY);

    let err = p.fails(&["apply", "--auto-approve"]);
    assert!(
        err.contains(&format!("reports Python {DEBIAN_VERSION}, not 3.11.9")),
        "{err}"
    );
    assert_eq!(p.runtimes_entries(), Vec::<PathBuf>::new());
    assert!(p.managed_runtimes().is_empty());
    assert!(!p.home().join("journal.json").exists());
}

#[test]
fn a_url_runtime_takes_any_archive_with_its_sha256() {
    let archive = pbs::debian_archive_variant("cpython-custom", DEBIAN_VERSION);
    let server = archive.serve();
    let p = Project::new();
    p.manifest(&format!(
        "[runtimes.custom]\nsource = \"url\"\nurl = \"{}\"\nsha256 = \"{}\"\nversion = \"{DEBIAN_VERSION}\"\n\n[environments.app]\nruntime = \"custom\"\npackages = [\"alpha\"]\npath = \".venvs/app\"\n",
        server.url(),
        archive.sha256
    ));
    p.run(&["apply", "--auto-approve"]);
    let root = p.home().join("runtimes").join(format!(
        "cpython-{DEBIAN_VERSION}-url-{}",
        &archive.sha256[..12]
    ));
    assert!(root.join("bin/python3").exists());
    assert!(probe_env(&p).ends_with(root.to_str().unwrap()));
    let runtimes = p.managed_runtimes();
    assert_eq!(runtimes[0]["kind"], "url");
}

#[test]
fn a_mirror_folder_replaces_the_download_prefix() {
    let archive = pbs::debian_archive();
    let p = Project::new();
    // The catalog names the real release URL; the mirror is a folder laid
    // out like the release assets, so no network is needed.
    let name = pbs::file_name(DEBIAN_VERSION);
    let upstream = format!(
        "https://github.com/astral-sh/python-build-standalone/releases/download/{}/{}",
        pbs::BUILD,
        name.replace('+', "%2B")
    );
    let mirror = p.path("mirror");
    std::fs::create_dir_all(mirror.join(pbs::BUILD)).unwrap();
    std::fs::copy(&archive.path, mirror.join(pbs::BUILD).join(&name)).unwrap();
    p.catalog(DEBIAN_VERSION, &upstream, &archive.sha256);
    p.manifest(&format!("{RUNTIME_ONLY}\n"));
    let text = std::fs::read_to_string(p.path("beep-python.toml"))
        .unwrap()
        .replace("[settings]\n", "[settings]\npython-mirror = \"mirror\"\n");
    std::fs::write(p.path("beep-python.toml"), text).unwrap();

    let plan = stdout(&p.run(&["plan"]));
    assert!(plan.contains(mirror.to_str().unwrap()), "{plan}");
    p.run(&["apply", "--auto-approve"]);
    assert!(p.runtime_root().join("bin/python3").exists());

    // BEEP_PYTHON_MIRROR wins over the setting.
    let out = p
        .cmd()
        .env("BEEP_PYTHON_MIRROR", "https://mirror.example/pbs")
        .args(["destroy", "--auto-approve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = p
        .cmd()
        .env("BEEP_PYTHON_MIRROR", "https://mirror.example/pbs")
        .arg("plan")
        .output()
        .unwrap();
    assert!(
        stdout(&plan).contains(&format!("https://mirror.example/pbs/{}/", pbs::BUILD)),
        "{}",
        stdout(&plan)
    );
}

#[test]
fn an_unused_runtime_leaving_the_manifest_is_removed() {
    let archive = pbs::debian_archive();
    let server = archive.serve();
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &server.url(), &archive.sha256);
    p.manifest(RUNTIME_AND_ENV);
    p.run(&["apply", "--auto-approve"]);

    p.manifest("[runtimes.sys]\nsource = \"system\"\npath = \"/usr/bin/python3.11\"\n");
    let plan = stdout(&p.run(&["plan"]));
    assert!(
        plan.contains("- runtime.py") && plan.contains("- env.app"),
        "{plan}"
    );
    p.run(&["apply", "--auto-approve"]);
    assert!(!p.runtime_root().exists());
    assert!(p.managed_runtimes().is_empty());
    assert_eq!(p.runtimes_entries(), Vec::<PathBuf>::new());
}

#[test]
fn a_runtime_folder_beep_python_did_not_finish_is_never_overwritten() {
    let archive = pbs::debian_archive();
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &archive.file_url(), &archive.sha256);
    p.manifest(RUNTIME_ONLY);
    std::fs::create_dir_all(p.runtime_root()).unwrap();
    std::fs::write(p.runtime_root().join("mine.txt"), "user data").unwrap();

    let err = p.fails(&["plan"]);
    assert!(
        err.contains("is not a runtime beep-python finished installing"),
        "{err}"
    );
    assert!(p.runtime_root().join("mine.txt").exists());
}

#[test]
fn embeddable_runtimes_are_a_plan_time_error_off_windows() {
    let p = Project::new();
    p.manifest("[runtimes.win]\nsource = \"embeddable\"\nversion = \"3.12.4\"\n");
    let err = p.fails(&["plan"]);
    assert!(err.contains("exists only for Windows"), "{err}");
    assert!(!p.home().join("registry.json").exists());
}

#[test]
fn no_catalog_match_names_what_is_available() {
    let archive = pbs::debian_archive();
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &archive.file_url(), &archive.sha256);
    p.manifest("[runtimes.py]\nsource = \"standalone\"\nversion = \"3.10\"\n");
    let err = p.fails(&["plan"]);
    assert!(
        err.contains("no Python `3.10` for linux-") && err.contains("`3.11`"),
        "{err}"
    );
}

#[test]
fn two_runtime_names_for_one_build_share_one_folder() {
    let archive = pbs::debian_archive();
    let server = archive.serve();
    let p = Project::new();
    p.catalog(DEBIAN_VERSION, &server.url(), &archive.sha256);
    p.manifest(&format!(
        "{RUNTIME_ONLY}\n[runtimes.exact]\nsource = \"standalone\"\nversion = \"{DEBIAN_VERSION}\"\n"
    ));
    p.run(&["apply", "--auto-approve", "--jobs", "4"]);
    assert_eq!(p.runtimes_entries(), [p.runtime_root()]);
    let names: Vec<String> = p
        .managed_runtimes()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let plan = stdout(&p.run(&["plan"]));
    assert!(plan.contains("No changes"), "{plan}");
}
