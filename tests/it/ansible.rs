//! The Ansible module (`contrib/ansible/library/beep_python.py`) with real
//! `ansible-playbook` (ansible-core from the package index, installed by
//! `.ci/run` into its private tools venv) against an inventory of several
//! local hosts, each with its own home and project folder: check mode
//! (the plan as the diff, nothing changed), a real run, idempotence (a
//! second run is `changed=0`), a host restored from a bundle, and a host
//! whose manifest is broken failing with beep-python's diagnostics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{beep, expect_exit, isolate_installers, require, tool};
use crate::project::Project;

const PLAYBOOK: &str = r#"- hosts: fleet
  gather_facts: false
  tasks:
    - name: Python environments as the project declares them
      beep_python:
        manifest: "{{ project }}/beep-python.toml"
        home: "{{ beep_home }}"
        binary: "{{ beep_binary }}"
        bundle: "{{ bundle | default(omit) }}"
"#;

/// `host: (ok, changed, failed)` from the play recap.
fn recap(output: &str) -> BTreeMap<String, (u32, u32, u32)> {
    let mut out = BTreeMap::new();
    let after = output.split("PLAY RECAP").nth(1).unwrap_or("");
    for line in after.lines() {
        let Some((host, counts)) = line.split_once(':') else {
            continue;
        };
        let count = |key: &str| {
            counts
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        out.insert(
            host.trim().to_string(),
            (count("ok"), count("changed"), count("failed")),
        );
    }
    out
}

struct Fleet {
    p: Project,
    playbook: PathBuf,
    ansible: PathBuf,
}

impl Fleet {
    fn host_dir(&self, host: &str) -> PathBuf {
        self.p.path(host)
    }

    fn run(&self, inventory: &Path, extra: &[&str]) -> (Output, String) {
        let work = self.p.path("ansible-work");
        std::fs::create_dir_all(&work).unwrap();
        // An empty configuration: none of this machine's applies.
        std::fs::write(work.join("ansible.cfg"), "[defaults]\n").unwrap();
        let mut cmd = Command::new(&self.ansible);
        isolate_installers(&mut cmd)
            .arg("-i")
            .arg(inventory)
            .arg(&self.playbook)
            .args(extra)
            .env(
                "ANSIBLE_LIBRARY",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ansible/library"),
            )
            .env("ANSIBLE_HOME", work.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", work.join("local"))
            .env("ANSIBLE_REMOTE_TEMP", work.join("remote"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_STDOUT_CALLBACK", "default")
            .env("ANSIBLE_CONFIG", work.join("ansible.cfg"))
            .env("LC_ALL", "C.UTF-8")
            .env("LANG", "C.UTF-8")
            .env_remove("BEEP_PYTHON_HOME");
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, text)
    }

    fn inventory(&self, name: &str, hosts: &[(&str, Option<&Path>)]) -> PathBuf {
        let mut text = String::from("[fleet]\n");
        for (host, bundle) in hosts {
            let dir = self.host_dir(host);
            text.push_str(&format!(
                "{host} ansible_connection=local project={} beep_home={}{}\n",
                dir.display(),
                dir.join("home").display(),
                bundle
                    .map(|b| format!(" bundle={}", b.display()))
                    .unwrap_or_default()
            ));
        }
        text.push_str(&format!(
            "\n[fleet:vars]\nansible_python_interpreter={{{{ ansible_playbook_python }}}}\nbeep_binary={}\n",
            env!("CARGO_BIN_EXE_beep-python")
        ));
        let path = self.p.path(&format!("{name}.ini"));
        std::fs::write(&path, text).unwrap();
        path
    }
}

#[test]
fn ansible_module_check_mode_apply_and_idempotent_rerun_on_several_hosts() {
    let ansible = require!(
        "ansible-playbook (ansible-core from the package index; .ci/run installs it)",
        tool("ansible-playbook")
    );
    let p = require!("Debian's python3.11 with its pip wheel", Project::new());
    let fleet = Fleet {
        playbook: p.path("site.yml"),
        ansible,
        p,
    };
    std::fs::write(&fleet.playbook, PLAYBOOK).unwrap();
    let body = "\n[environments.web]\npath = \".venvs/web\"\npackages = [\"beta\"]\n";
    // One definition, locked once, on every host (each its own folder).
    for host in ["host1", "host2"] {
        fleet
            .p
            .manifest_at(&format!("{host}/beep-python.toml"), "pip", body);
    }
    let mut lock = beep(&fleet.host_dir("host1").join("home"));
    isolate_installers(lock.current_dir(fleet.host_dir("host1")));
    expect_exit(lock, &["lock"], 0);
    std::fs::copy(
        fleet.host_dir("host1").join("beep-python.lock"),
        fleet.host_dir("host2").join("beep-python.lock"),
    )
    .unwrap();
    // host3 starts empty and gets everything from a bundle.
    let bundle = fleet.p.path("fleet.tar.zst");
    let mut create = beep(&fleet.host_dir("host1").join("home"));
    isolate_installers(create.current_dir(fleet.host_dir("host1")));
    expect_exit(
        create,
        &["bundle", "create", "--out", bundle.to_str().unwrap()],
        0,
    );
    std::fs::create_dir_all(fleet.host_dir("host3")).unwrap();
    let inventory = fleet.inventory(
        "fleet",
        &[("host1", None), ("host2", None), ("host3", Some(&bundle))],
    );
    let hosts = ["host1", "host2", "host3"];

    // Check mode: the plan is the diff, and nothing changes.
    let (out, text) = fleet.run(&inventory, &["--check", "--diff"]);
    assert!(out.status.success(), "{text}");
    let counts = recap(&text);
    for host in hosts {
        assert_eq!(counts[host], (1, 1, 0), "{host}: {text}");
        assert!(!fleet.host_dir(host).join(".venvs").exists(), "{text}");
        assert!(!fleet.host_dir(host).join("home/registry.json").exists());
    }
    assert!(text.contains("+ env.web: create"), "{text}");
    assert!(text.contains("+ beta 0.5.0"), "{text}");
    assert!(!fleet.host_dir("host3").join("beep-python.toml").exists());

    // For real.
    let (out, text) = fleet.run(&inventory, &[]);
    assert!(out.status.success(), "{text}");
    let counts = recap(&text);
    for host in hosts {
        assert_eq!(counts[host], (1, 1, 0), "{host}: {text}");
        let installed = crate::bundle::installed(&fleet.host_dir(host).join(".venvs/web"));
        assert_eq!(installed, ["alpha==2.0.0", "beta==0.5.0"], "{host}");
    }

    // Again: nothing to do anywhere.
    let (out, text) = fleet.run(&inventory, &["--diff"]);
    assert!(out.status.success(), "{text}");
    let counts = recap(&text);
    for host in hosts {
        assert_eq!(counts[host], (1, 0, 0), "{host}: {text}");
    }

    // A host whose manifest is broken fails with beep-python's words; the
    // others are unaffected.
    std::fs::create_dir_all(fleet.host_dir("broken")).unwrap();
    std::fs::write(
        fleet.host_dir("broken").join("beep-python.toml"),
        "version = 1\n\n[environments.web]\nprofiles = [\"nope\"]\n",
    )
    .unwrap();
    let inventory = fleet.inventory("broken", &[("host1", None), ("broken", None)]);
    let (out, text) = fleet.run(&inventory, &[]);
    assert!(!out.status.success(), "{text}");
    let counts = recap(&text);
    assert_eq!(counts["host1"], (1, 0, 0), "{text}");
    assert_eq!(counts["broken"].2, 1, "{text}");
    assert!(text.contains("beep-python plan failed (exit 1)"), "{text}");
    assert!(text.contains("`nope`"), "{text}");
}

#[test]
fn ansible_module_documentation_parses() {
    let doc = require!(
        "ansible-doc (ansible-core from the package index; .ci/run installs it)",
        tool("ansible-doc")
    );
    let out = Command::new(doc)
        .arg("-M")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ansible/library"))
        .arg("beep_python")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for option in ["manifest", "bundle", "locked", "targets", "home"] {
        assert!(text.contains(option), "{option} is not documented:\n{text}");
    }
}
