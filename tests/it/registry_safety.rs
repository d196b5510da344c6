//! Issue 10, item 8: a registry's numbers cannot wrap or be impossible, and
//! backups are ordered by when they were written. A registry with `serial`
//! = 2^64-1 used to be accepted; the next write wrapped it to 0, pruning
//! then kept the stale backup named after the huge serial and deleted the
//! new ones, and recovery picked the stale file, losing 11 writes.

use std::path::Path;
use std::time::Duration;

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

/// Writes `registry` the way every command does, under the home lock.
#[track_caller]
fn save(home: &Home, registry: &mut Registry) {
    let lock = home.lock(Duration::ZERO, "test").unwrap();
    store::save(home, registry, &lock).unwrap();
}

/// One more runtime, then a write: each write is told apart by how many
/// runtimes it records.
#[track_caller]
fn write_number(home: &Home, registry: &mut Registry, n: usize) {
    registry.runtimes.push(runtime(&format!("python-{n}")));
    save(home, registry);
}

/// Rewrites one field of `registry.json` by hand, as a user (or a bug) might.
fn edit_registry(home: &Home, key: &str, value: serde_json::Value) {
    let path = home.registry_path();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json[key] = value;
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
}

fn backup_names(home: &Home) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.backups_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn truncate(path: &Path) {
    let text = std::fs::read(path).unwrap();
    std::fs::write(path, &text[..text.len() / 2]).unwrap();
}

#[test]
fn a_registry_at_the_largest_serial_is_corrupt_and_writes_after_it_are_never_lost() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    for n in 1..=3 {
        write_number(&home, &mut registry, n); // serials 1..3
    }
    edit_registry(&home, "serial", serde_json::json!(u64::MAX));

    // Impossible, so corrupt: recovered from the newest backup, serial 2.
    let loaded = store::load(&home).unwrap();
    assert_eq!(loaded.registry.serial, 2);
    assert_eq!(loaded.registry.runtimes.len(), 2);
    let warning = &loaded.warnings[0];
    assert!(
        warning.contains("18446744073709551615, which cannot be incremented"),
        "{warning}"
    );

    // Twelve writes after it: the serial moves on from the recovered one,
    // and the impossible file is kept as evidence, never as a backup that
    // recovery could pick.
    let mut registry = loaded.registry;
    for n in 3..=14 {
        write_number(&home, &mut registry, n);
    }
    assert_eq!(registry.serial, 14);
    let names = backup_names(&home);
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("registry.corrupt-"))
            .count(),
        1,
        "{names:?}"
    );
    for name in names.iter().filter(|n| !n.starts_with("registry.corrupt-")) {
        let backup: Registry =
            serde_json::from_str(&std::fs::read_to_string(home.backups_dir().join(name)).unwrap())
                .unwrap();
        assert!(backup.serial < 14, "{name}: serial {}", backup.serial);
    }

    // A corrupt registry.json now falls back to the write just before the
    // last, not to anything stale.
    truncate(&home.registry_path());
    let loaded = store::load(&home).unwrap();
    assert_eq!(loaded.registry.serial, 13);
    assert_eq!(loaded.registry.runtimes.len(), 13);
}

#[test]
fn a_registry_of_version_0_is_corrupt_and_recovered_from_its_backup() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    write_number(&home, &mut registry, 1);
    write_number(&home, &mut registry, 2);
    edit_registry(&home, "version", serde_json::json!(0));
    let loaded = store::load(&home).unwrap();
    assert_eq!(loaded.registry.serial, 1);
    assert!(
        loaded.warnings[0].contains("`version` is 0"),
        "{:?}",
        loaded.warnings
    );

    for bad in [
        serde_json::json!(-1),
        serde_json::json!(1.5),
        serde_json::json!("1"),
    ] {
        edit_registry(&home, "version", bad.clone());
        let loaded = store::load(&home).unwrap();
        assert_eq!(loaded.registry.serial, 1, "version {bad}");
        assert!(
            loaded.warnings[0].contains("not a whole number"),
            "version {bad}: {:?}",
            loaded.warnings
        );
    }
}

#[test]
fn save_refuses_to_wrap_the_serial_and_changes_nothing() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    write_number(&home, &mut registry, 1);
    let before = std::fs::read(home.registry_path()).unwrap();
    let lock = home.lock(Duration::ZERO, "test").unwrap();
    for serial in [u64::MAX - 1, u64::MAX] {
        let mut at_the_end = registry.clone();
        at_the_end.serial = serial;
        let err = store::save(&home, &mut at_the_end, &lock).unwrap_err();
        assert!(
            matches!(err, RegistryError::SerialExhausted { serial: s } if s == serial),
            "{err:?}"
        );
        assert!(err.to_string().contains("cannot be incremented"), "{err}");
        assert_eq!(at_the_end.serial, serial);
        assert_eq!(std::fs::read(home.registry_path()).unwrap(), before);
    }
    assert_eq!(store::next_serial(&registry).unwrap(), 2);
}

/// A registry put back by hand has a lower serial than the backups of the
/// writes it replaced. Its backup is still the newest, and recovery and
/// pruning go by that, not by the serial inside.
#[test]
fn backups_are_ordered_by_when_they_were_written_not_by_their_serial() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    for n in 1..=5 {
        write_number(&home, &mut registry, n); // serials 1..5
    }
    // Put back the registry of serial 1 (one runtime), as a user restoring
    // an old copy would.
    let old = std::fs::read(home.backups_dir().join("registry.000000000001.json")).unwrap();
    std::fs::write(home.registry_path(), &old).unwrap();

    let mut restored = store::load(&home).unwrap().registry;
    assert_eq!(restored.serial, 1);
    restored.runtimes.push(runtime("after-restore"));
    save(&home, &mut restored); // serial 2; the restored file is backed up newest

    truncate(&home.registry_path());
    let loaded = store::load(&home).unwrap();
    // The backup written last holds the restored registry (serial 1), not
    // the older write of serial 4 with its higher number.
    assert_eq!(loaded.registry.serial, 1);
    assert_eq!(loaded.registry.runtimes.len(), 1);

    // Ten more writes: pruning keeps the ten written last, so the backups
    // from before the restore (serials 2 to 4, which alone hold
    // `python-2`) are the ones that go, though their serials are as high.
    let mut registry = loaded.registry;
    for n in 0..10 {
        write_number(&home, &mut registry, 100 + n);
    }
    let names: Vec<String> = backup_names(&home)
        .into_iter()
        .filter(|n| !n.starts_with("registry.corrupt-"))
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    for name in &names {
        let backup: Registry =
            serde_json::from_str(&std::fs::read_to_string(home.backups_dir().join(name)).unwrap())
                .unwrap();
        assert!(
            !backup.runtimes.iter().any(|r| r.name == "python-2"),
            "{name} is from before the restore: {:?}",
            backup.runtimes.iter().map(|r| &r.name).collect::<Vec<_>>()
        );
    }
}

/// Backup numbers are compared and incremented as decimal text, so not even
/// a backup numbered 2^64-1 (a hand-made file, or a home from before) makes
/// them wrap: the next one is 2^64, and it is the newest.
#[test]
fn backup_numbers_grow_past_u64_without_wrapping() {
    let (_dir, home) = home();
    let mut registry = Registry::new();
    write_number(&home, &mut registry, 1);
    write_number(&home, &mut registry, 2); // backup 1 holds serial 1
    let first = home.backups_dir().join("registry.000000000001.json");
    let huge = home
        .backups_dir()
        .join(format!("registry.{}.json", u64::MAX));
    std::fs::rename(&first, &huge).unwrap();

    write_number(&home, &mut registry, 3); // backs up serial 2
    let next = home
        .backups_dir()
        .join("registry.18446744073709551616.json");
    assert!(next.exists(), "{:?}", backup_names(&home));

    truncate(&home.registry_path());
    let loaded = store::load(&home).unwrap();
    assert_eq!(loaded.registry.serial, 2);
    assert_eq!(loaded.recovered_from.as_deref(), Some(next.as_path()));
}
