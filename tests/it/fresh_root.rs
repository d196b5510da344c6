//! The OS reinstall, for real: a project applied on this machine (a
//! standalone runtime built from Debian's python3.11 by [`crate::pbs`],
//! served on 127.0.0.1; wheels built by the tests) is exported, the export
//! bundled, and the bundle applied inside a fresh Debian root file system
//! (debootstrap `minbase`) that holds nothing of ours but the binary and the
//! bundle, with no network at all (a new network namespace: not even the
//! host's loopback, where the server still runs). Then every locked
//! package of every environment is imported there, and the `name==version`
//! sets and the interpreter's sha256 are the host's.
//!
//! It needs root (chroot, namespaces, mounts), `debootstrap` and the
//! Debian mirror (a package registry) the first time: the root is cached
//! under `target/tmp/fresh-root/`. `#[ignore]`d in the main run; `.ci/run`
//! runs it as its own step (`cargo test --test it fresh_root -- --ignored`).
//!
//! The root gets, besides `minbase`, the shared libraries Debian's
//! python3.11 links to (OpenSSL, SQLite, libffi, ...): a real
//! python-build-standalone build carries its own, the stand-in built from
//! Debian's interpreter does not.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::bundle::{Source, cmd_in, installed, interpreter_sha256};
use crate::common::{expect_exit, require, stderr, stdout, tool};

/// Libraries the stand-in interpreter's modules link to (see the module
/// docs), on top of `minbase`.
const LIBRARIES: &[&str] = &[
    "libssl3",
    "libsqlite3-0",
    "libffi8",
    "libexpat1",
    "libbz2-1.0",
    "liblzma5",
    "zlib1g",
    "libuuid1",
    "libncursesw6",
    "libreadline8",
    "libtirpc3",
    "libnsl2",
    "libcrypt1",
    "libdb5.3",
];

/// This machine's Debian release and the mirror its apt uses: the root is
/// made of the same release, from the same place.
fn debian_source() -> Option<(String, String)> {
    let release = std::fs::read_to_string("/etc/os-release").ok()?;
    let codename = release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))?
        .trim_matches('"')
        .to_string();
    let mut texts: Vec<String> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        texts.extend(paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()));
    }
    texts.extend(std::fs::read_to_string("/etc/apt/sources.list").ok());
    for text in &texts {
        // deb822: `URIs:` and `Suites:` in one paragraph.
        for paragraph in text.split("\n\n") {
            let field = |name: &str| {
                paragraph
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            };
            if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:"))
                && suites.contains(&codename)
                && let Some(uri) = uris.first()
            {
                return Some((codename, uri.clone()));
            }
        }
        // One-line: `deb URI SUITE COMPONENTS`.
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["deb", uri, suite, ..] = words[..]
                && suite == codename
            {
                return Some((codename, uri.to_string()));
            }
        }
    }
    None
}

/// The pristine root, built once with debootstrap and kept under
/// `target/tmp/fresh-root/`.
#[track_caller]
fn cached_root(debootstrap: &Path) -> Option<PathBuf> {
    let (codename, mirror) = debian_source()?;
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fresh-root");
    let digest = {
        use sha2::Digest as _;
        format!("{:x}", sha2::Sha256::digest(LIBRARIES.join(",")))
    };
    let stamp = format!("{codename}-minbase-{}", &digest[..12]);
    let root = cache.join(&stamp);
    if root.join("etc/debian_version").is_file() {
        return Some(root);
    }
    std::fs::create_dir_all(&cache).unwrap();
    let partial = cache.join(format!(".{stamp}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let out = Command::new(debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--include={}", LIBRARIES.join(",")))
        .arg(&codename)
        .arg(&partial)
        .arg(&mirror)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "debootstrap {codename} from {mirror} failed:\n{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &root).unwrap();
    Some(root)
}

/// Runs `script` with `/bin/sh` inside `root`, in new network and mount
/// namespaces: no network interface but a loopback that is down, `/proc`
/// and `/dev` mounted for the namespace's lifetime only, and a clean
/// environment.
fn inside(root: &Path, script: &str) -> Output {
    let quoted = format!("'{}'", script.replace('\'', r"'\''"));
    let root = root.display();
    Command::new("unshare")
        .args(["--net", "--mount", "--fork", "--", "/bin/sh", "-c"])
        .arg(format!(
            "set -e; mount -t proc proc {root}/proc; mount --rbind /dev {root}/dev; exec chroot {root} /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 /bin/sh -c {quoted}"
        ))
        .output()
        .unwrap()
}

#[track_caller]
fn inside_ok(root: &Path, script: &str) -> String {
    let out = inside(root, script);
    assert!(
        out.status.success(),
        "`{script}` failed in the fresh root:\nstdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
#[ignore = "builds a Debian root file system (minutes); .ci/run runs it in its own step"]
fn os_reinstall_round_trip_export_bundle_fresh_root_apply() {
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    require!(
        "root (chroot, namespaces and mounts)",
        root_user.then_some(())
    );
    require!("unshare (util-linux)", tool("unshare"));
    require!(
        "chroot",
        Path::new("/usr/sbin/chroot").is_file().then_some(())
    );
    let debootstrap = require!(
        "debootstrap (apt-get install debootstrap)",
        tool("debootstrap").or_else(|| {
            let path = PathBuf::from("/usr/sbin/debootstrap");
            path.is_file().then_some(path)
        })
    );
    require!(
        "Debian's python3.11 with its pip wheel",
        crate::project::python()
    );
    require!(
        "this machine's Debian release and mirror in /etc/apt",
        debian_source()
    );

    // The host: a project applied from its manifest and lock, exported
    // from what is on the machine, and bundled from the export.
    let source = Source::applied("pip");
    let host: Vec<(&str, PathBuf)> = vec![
        ("web", source.path(".venvs/web")),
        ("tools", source.home().join("environments/tools")),
    ];
    let exported = source.path("exported");
    source.run(&["export", "--out", exported.to_str().unwrap()]);
    let bundle = source.path("host.tar.zst");
    expect_exit(
        cmd_in(&exported, &source.home()),
        &["bundle", "create", "--out", bundle.to_str().unwrap()],
        0,
    );
    let lock = beep_python::lockfile::read(&exported.join("beep-python.lock"))
        .unwrap()
        .unwrap();
    assert_eq!(
        lock.environments.keys().collect::<Vec<_>>(),
        ["tools", "web"]
    );

    // The new machine: a fresh Debian, the binary and the bundle.
    let pristine = cached_root(&debootstrap).unwrap();
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = scratch.path().join("root");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&pristine)
        .arg(&root)
        .output()
        .unwrap();
    assert!(copied.status.success(), "{}", stderr(&copied));
    assert!(
        !root.join("usr/bin/python3.11").exists(),
        "the root has a Python"
    );
    std::fs::copy(
        env!("CARGO_BIN_EXE_beep-python"),
        root.join("usr/local/bin/beep-python"),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("restore/project")).unwrap();
    std::fs::copy(&bundle, root.join("restore/host.tar.zst")).unwrap();

    // No network: the server the runtime came from still runs on the
    // host's loopback, and the root cannot reach it.
    let port = source.server.as_ref().unwrap().url();
    let port = port
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let probe = inside(
        &root,
        &format!(
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null && echo reached || echo unreachable"
        ),
    );
    assert_eq!(stdout(&probe).trim(), "unreachable", "{}", stderr(&probe));

    let applied = inside_ok(
        &root,
        "cd /restore/project && beep-python apply --bundle ../host.tar.zst --auto-approve 2>&1",
    );
    assert!(applied.contains("Apply complete!"), "{applied}");
    assert!(
        inside_ok(&root, "cd /restore/project && beep-python plan --locked").contains("No changes"),
    );

    // Every locked package of every environment imports there, and the
    // sets and the interpreter are the host's.
    let registry: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("root/.beep-python/registry.json")).unwrap(),
    )
    .unwrap();
    for (name, host_path) in &host {
        let record = registry["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == *name)
            .unwrap_or_else(|| panic!("env.{name} is not in the fresh root's registry"));
        let path = record["path"].as_str().unwrap();
        let imports: Vec<String> = lock.environments[*name]
            .packages
            .iter()
            .map(|p| p.name.replace('-', "_"))
            .collect();
        assert!(!imports.is_empty());
        let report = inside_ok(
            &root,
            &format!(
                "{path}/bin/python -c \"import {imports}; import hashlib, os, sys, importlib.metadata as m; print(hashlib.sha256(open(os.path.realpath(sys.executable), 'rb').read()).hexdigest()); print(chr(10).join(sorted(d.metadata['Name'].lower() + '==' + d.version for d in m.distributions() if d.metadata['Name'] not in ('pip', 'setuptools'))))\"",
                imports = imports.join(", ")
            ),
        );
        let mut lines = report.lines();
        assert_eq!(
            lines.next().unwrap(),
            interpreter_sha256(host_path),
            "env.{name}: another interpreter"
        );
        let sets: Vec<String> = lines.map(str::to_string).collect();
        assert_eq!(sets, installed(host_path), "env.{name}");
    }
}
