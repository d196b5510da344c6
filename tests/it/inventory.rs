//! `beep_python::inventory` on environments filled by the native installer,
//! pip and uv: damage is seen per package, cheaply or by hashing, and
//! files nobody owns are reported.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use beep_python::inventory::{self, DamageKind, INVENTORY_FILE};
use beep_python::wheel;

use crate::common::{require, tool};
use crate::native::{Fixture, NEEDS, command, ok_stdout};
use crate::wheels::Custom;

/// Replaces `path` with `contents` the way a careful editor does (a new
/// file renamed over), so the cache behind a hard link is not touched.
fn replace(path: &Path, contents: &str) {
    let temp = path.with_extension("tmp-edit");
    std::fs::write(&temp, contents).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

fn sha256(path: &Path) -> String {
    crate::wheels::sha256_hex(path)
}

#[test]
fn check_cheap_names_the_package_of_a_deleted_and_a_changed_file() {
    let fx = require!(NEEDS, Fixture::new());
    let a = Custom::new("beep-a", "1.0")
        .file("beep_a/console.py", "def show():\n    pass\n")
        .file("beep_a/style.py", "S = 1\n");
    let b = Custom::new("beep-b", "2.0")
        .file("beep_b/core.py", "C = 1\n")
        .file("beep_b/more.py", "M = 1\n");
    let target = fx.env("env");
    fx.install(&target, &[fx.pin(&a), fx.pin(&b)]).unwrap();
    let env = &target.layout.root;
    let site = &target.layout.site_packages;

    let inv = inventory::update(env).unwrap();
    assert!(env.join(INVENTORY_FILE).is_file());
    assert_eq!(inventory::read(env).unwrap().as_ref(), Some(&inv));
    let names: Vec<&str> = inv.distributions.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["beep-a", "beep-b"]);
    let a_files: BTreeSet<&str> = inv.distributions[0]
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let short = beep_python::venv::short_version(&target.version);
    let console = format!("lib/python{short}/site-packages/beep_a/console.py");
    assert!(a_files.contains(console.as_str()), "{a_files:?}");
    for f in inv.distributions.iter().flat_map(|d| &d.files) {
        assert_eq!(f.sha256, sha256(&env.join(&f.path)), "{}", f.path);
    }
    assert!(inventory::check_cheap(env, &inv).is_empty());
    assert!(inventory::check_full(env, &inv).is_empty());

    // Bytecode Python writes is never damage.
    std::fs::create_dir_all(site.join("beep_a/__pycache__")).unwrap();
    std::fs::write(site.join("beep_a/__pycache__/console.cpython-3.pyc"), "x").unwrap();
    assert!(inventory::check_cheap(env, &inv).is_empty());

    std::fs::remove_file(site.join("beep_a/console.py")).unwrap();
    replace(&site.join("beep_b/core.py"), "C = 1  # edited\n");
    let damage = inventory::check_cheap(env, &inv);
    let said: Vec<String> = inventory::by_package(&damage)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(said, ["beep-a: 1 file missing", "beep-b: 1 file changed"]);
    assert_eq!(damage[0].path, console);

    // The repair reinstalls the damaged package only.
    let more_inode = std::fs::metadata(site.join("beep_b/more.py"))
        .unwrap()
        .ino();
    let cancel = AtomicBool::new(false);
    let mut opts = fx.options(&cancel);
    opts.reinstall.insert("beep-a".into());
    let report = wheel::install(&target, &[fx.pin(&a), fx.pin(&b)], &opts).unwrap();
    assert_eq!(report.installed.len(), 1);
    assert_eq!(report.installed[0].name, "beep-a");
    // The inventory is recorded again for what was reinstalled only (its
    // `RECORD` is new): b's entry is kept, so its damage stays visible.
    let inv = inventory::record_since(env, Some(&inv)).unwrap();
    let damage = inventory::check_cheap(env, &inv);
    assert_eq!(
        inventory::by_package(&damage)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["beep-b: 1 file changed"]
    );
    assert_eq!(
        std::fs::metadata(site.join("beep_b/more.py"))
            .unwrap()
            .ino(),
        more_inode
    );

    // Same size, same modification time, other contents: only hashing
    // sees it.
    let style = site.join("beep_a/style.py");
    let mtime = std::fs::metadata(&style).unwrap().modified().unwrap();
    replace(&style, "S = 2\n");
    std::fs::File::options()
        .write(true)
        .open(&style)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let cheap = inventory::check_cheap(env, &inv);
    assert!(cheap.iter().all(|d| d.package == "beep-b"), "{cheap:?}");
    let full = inventory::check_full(env, &inv);
    assert!(
        full.iter()
            .any(|d| d.package == "beep-a" && d.kind == DamageKind::Content),
        "{full:?}"
    );

    // Files no distribution owns are reported, and left alone.
    std::fs::write(site.join("stray.py"), "").unwrap();
    std::fs::write(target.layout.bin.join("stray-tool"), "").unwrap();
    let stray = inventory::untracked(env, &inv);
    assert_eq!(
        stray,
        [
            "bin/stray-tool".to_string(),
            format!("lib/python{short}/site-packages/stray.py")
        ]
    );
    assert!(site.join("stray.py").exists());
}

#[test]
fn inventories_of_pip_and_uv_installs_hash_what_record_lacks() {
    let fx = require!(NEEDS, Fixture::new());
    let spec = Custom::new("beep-by-tool", "1.0").file("beep_by_tool/x.py", "X = 1\n");
    spec.build(&fx.house());

    let by_pip = fx.env_with_pip("pip");
    ok_stdout(
        &command(&by_pip.layout.python)
            .args(["-m", "pip", "install", "--find-links"])
            .arg(fx.house())
            .arg("beep-by-tool")
            .output()
            .unwrap(),
    );
    check_tool_inventory(&by_pip.layout.root, "pip");

    let uv = require!("uv on PATH", tool("uv"));
    let by_uv = fx.env("uv");
    ok_stdout(
        &command(&uv)
            .args([
                "pip",
                "install",
                "--no-config",
                "--offline",
                "--no-index",
                "--python",
            ])
            .arg(&by_uv.layout.python)
            .arg("--find-links")
            .arg(fx.house())
            .arg("--cache-dir")
            .arg(fx.tmp.path().join("uv-cache"))
            .arg("beep-by-tool")
            .output()
            .unwrap(),
    );
    check_tool_inventory(&by_uv.layout.root, "uv");
}

#[track_caller]
fn check_tool_inventory(env: &Path, installer: &str) {
    let inv = inventory::record(env).unwrap();
    let dist = inv
        .distributions
        .iter()
        .find(|d| d.name == "beep-by-tool")
        .unwrap_or_else(|| panic!("{installer}: {inv:?}"));
    assert_eq!(dist.installer.as_deref(), Some(installer));
    // `RECORD` lists itself without a hash: hashed here.
    let record = dist
        .files
        .iter()
        .find(|f| f.path.ends_with(".dist-info/RECORD"))
        .unwrap();
    assert_eq!(record.sha256, sha256(&env.join(&record.path)));
    for f in inv.distributions.iter().flat_map(|d| &d.files) {
        assert_eq!(
            f.sha256,
            sha256(&env.join(&f.path)),
            "{installer}: {}",
            f.path
        );
    }
    assert!(inventory::check_cheap(env, &inv).is_empty());
    assert!(inventory::check_full(env, &inv).is_empty());
}
