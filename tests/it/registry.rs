//! The registry store: atomic writes, backups, recovery, refusal of newer
//! formats, and the home lock.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use beep_python::failpoint;
use beep_python::registry::model::{RuntimeKind, RuntimeRecord, Status};
use beep_python::registry::{Home, Registry, RegistryError, store};

fn runtime(name: &str) -> RuntimeRecord {
    RuntimeRecord {
        id: format!("system-{name}"),
        name: name.to_string(),
        kind: RuntimeKind::System,
        path: format!("/usr/bin/{name}").into(),
        real_path: None,
        version: "3.11.2".into(),
        implementation: Some("cpython".into()),
        arch: None,
        root: None,
        url: None,
        sha256: None,
        found_by: vec![],
        managed: false,
        owner: None,
        spec_hash: None,
        created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        last_applied_at: None,
        status: Status::Ready,
        warnings: vec![],
        errors: vec![],
    }
}

fn home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    (dir, home)
}

#[track_caller]
fn save(home: &Home, registry: &mut Registry) {
    let lock = home.lock(Duration::ZERO, "test").unwrap();
    store::save(home, registry, &lock).unwrap();
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_new_home_loads_an_empty_registry_and_writes_nothing() {
    let (_dir, home) = home();
    let loaded = store::load(&home).unwrap();
    assert_eq!(loaded.registry.serial, 0);
    assert!(loaded.registry.runtimes.is_empty());
    assert!(loaded.warnings.is_empty());
    assert!(!home.root().exists());
}

#[test]
fn save_then_load_round_trips_and_moves_the_serial() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    registry.runtimes.push(runtime("python3.11"));
    registry.default_runtime = Some("python3.11".into());
    save(&home, &mut registry);
    assert_eq!(registry.serial, 1);
    save(&home, &mut registry);
    assert_eq!(registry.serial, 2);

    let loaded = store::load(&home).unwrap();
    assert_eq!(loaded.registry, registry);
    let text = std::fs::read_to_string(home.registry_path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["serial"], 2);
    assert_eq!(json["lineage"], registry.lineage.to_string());
}

#[test]
fn keeps_the_last_ten_versions_in_backups() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    for _ in 0..15 {
        save(&home, &mut registry);
    }
    let mut names: Vec<String> = std::fs::read_dir(home.backups_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // registry.json is serial 15; backups are the ten before it.
    let expected: Vec<String> = (5..15).map(|s| format!("registry.{s:012}.json")).collect();
    assert_eq!(names, expected);
    for name in &names {
        let serial: u64 = name[9..21].parse().unwrap();
        let text = std::fs::read_to_string(home.backups_dir().join(name)).unwrap();
        let backup: Registry = serde_json::from_str(&text).unwrap();
        assert_eq!(backup.serial, serial);
    }
}

/// A failure between writing the temporary file and renaming it leaves the
/// old registry.json byte-for-byte intact, no temporary file behind, and the
/// in-memory registry unchanged.
#[test]
fn failure_before_rename_leaves_the_old_registry_intact() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    registry.runtimes.push(runtime("python3.11"));
    save(&home, &mut registry);
    let before = std::fs::read(home.registry_path()).unwrap();

    let mut changed = registry.clone();
    changed.runtimes.push(runtime("python3.12"));
    let lock = home.lock(Duration::ZERO, "test").unwrap();
    let result = {
        let _armed = failpoint::arm("registry-before-rename");
        store::save(&home, &mut changed, &lock)
    };
    assert!(matches!(result, Err(RegistryError::Io(_))), "{result:?}");
    assert_eq!(std::fs::read(home.registry_path()).unwrap(), before);
    assert_eq!(changed.serial, 1, "the serial moves only on commit");
    assert!(
        temp_files(home.root()).is_empty(),
        "{:?}",
        temp_files(home.root())
    );

    // The same save goes through once the failure is gone.
    store::save(&home, &mut changed, &lock).unwrap();
    assert_eq!(store::load(&home).unwrap().registry.runtimes.len(), 2);
}

#[test]
fn a_corrupt_registry_is_recovered_from_the_newest_valid_backup() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    registry.runtimes.push(runtime("a"));
    save(&home, &mut registry); // serial 1
    registry.runtimes.push(runtime("b"));
    save(&home, &mut registry); // serial 2, backup of 1
    registry.runtimes.push(runtime("c"));
    save(&home, &mut registry); // serial 3, backup of 2

    // Truncated mid-write by something outside our control.
    let text = std::fs::read(home.registry_path()).unwrap();
    std::fs::write(home.registry_path(), &text[..text.len() / 2]).unwrap();
    // And the newest backup is damaged too: the one before it is used.
    let newest = home.backups_dir().join("registry.000000000002.json");
    std::fs::write(&newest, b"{ not json").unwrap();

    let loaded = store::load(&home).unwrap();
    assert_eq!(loaded.registry.serial, 1);
    assert_eq!(loaded.registry.runtimes.len(), 1);
    let warning = &loaded.warnings[0];
    assert!(warning.contains("registry.json` is corrupt"), "{warning}");
    assert!(warning.contains("registry.000000000001.json"), "{warning}");
    assert!(
        loaded
            .recovered_from
            .unwrap()
            .ends_with("registry.000000000001.json")
    );

    // The next write keeps the corrupt file as evidence, apart from the
    // numbered backups.
    let mut recovered = loaded.registry;
    save(&home, &mut recovered);
    let corrupt: Vec<_> = std::fs::read_dir(home.backups_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("registry.corrupt-"))
        .collect();
    assert_eq!(corrupt.len(), 1, "{corrupt:?}");
    assert_eq!(
        std::fs::read(home.backups_dir().join(&corrupt[0])).unwrap(),
        &text[..text.len() / 2]
    );
}

#[test]
fn a_corrupt_registry_without_backups_is_refused_and_left_alone() {
    let (_dir, home) = home();
    std::fs::create_dir_all(home.root()).unwrap();
    std::fs::write(home.registry_path(), b"{\"version\": 1, \"serial\": ").unwrap();
    let err = store::load(&home).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("no valid backup"), "{err}");
    assert_eq!(
        std::fs::read(home.registry_path()).unwrap(),
        b"{\"version\": 1, \"serial\": "
    );
}

#[test]
fn a_missing_registry_with_backups_is_recovered_not_replaced_by_an_empty_one() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    registry.runtimes.push(runtime("a"));
    save(&home, &mut registry);
    save(&home, &mut registry);
    std::fs::remove_file(home.registry_path()).unwrap();
    let loaded = store::load(&home).unwrap();
    assert_eq!(loaded.registry.serial, 1);
    assert_eq!(loaded.registry.runtimes.len(), 1);
    assert!(
        loaded.warnings[0].contains("is missing"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn a_registry_from_a_newer_format_is_refused_naming_its_version() {
    let (_dir, home) = home();
    std::fs::create_dir_all(home.root()).unwrap();
    let newer = br#"{"version": 7, "serial": 3, "lineage": "x", "shape": "unknown"}"#;
    std::fs::write(home.registry_path(), newer).unwrap();
    let err = store::load(&home).unwrap_err();
    assert!(
        matches!(err, RegistryError::NewerVersion { version: 7, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("version 7"), "{message}");
    assert!(message.contains("reads version 1"), "{message}");
    assert_eq!(std::fs::read(home.registry_path()).unwrap(), newer);
}

#[test]
fn the_lock_is_exclusive_and_names_its_holder() {
    let (_dir, home) = home();
    let held = home.lock(Duration::ZERO, "beep-python apply").unwrap();
    // flock locks belong to the open file, so a second open in the same
    // process contends just as another process would.
    let err = home
        .lock(Duration::ZERO, "beep-python destroy")
        .unwrap_err();
    match &err {
        RegistryError::Locked {
            holder: Some(holder),
            ..
        } => {
            assert_eq!(holder.pid, std::process::id());
            assert_eq!(holder.command, "beep-python apply");
        }
        other => panic!("{other:?}"),
    }
    drop(held);
    home.lock(Duration::ZERO, "beep-python destroy").unwrap();
}

#[test]
fn a_waiting_lock_succeeds_when_the_holder_lets_go_in_time() {
    let (_dir, home) = home();
    let held = home.lock(Duration::ZERO, "first").unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let releaser = std::thread::spawn({
        let released = released.clone();
        move || {
            std::thread::sleep(Duration::from_millis(300));
            released.store(true, Ordering::SeqCst);
            drop(held);
        }
    });
    let second = home.lock(Duration::from_secs(30), "second");
    assert!(second.is_ok(), "{second:?}");
    assert!(
        released.load(Ordering::SeqCst),
        "the second lock was taken while the first was still held"
    );
    releaser.join().unwrap();
}
