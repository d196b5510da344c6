//! The command-line contract: init, exit codes, output streams.

use crate::common::{beep, check_text, stderr, stdout};

#[test]
fn init_writes_a_valid_starter_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = beep(&home)
        .current_dir(dir.path())
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let manifest = dir.path().join("beep-python.toml");
    let written = std::fs::read_to_string(&manifest).unwrap();
    let (valid, diagnostics, rendered) = check_text(&written);
    assert!(valid && diagnostics.is_empty(), "{rendered}");

    let out = beep(&home)
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    std::fs::write(&manifest, "# mine\n").unwrap();
    let out = beep(&home)
        .current_dir(dir.path())
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), "# mine\n");

    // --manifest names the file to write.
    let other = dir.path().join("other.toml");
    let out = beep(&home)
        .current_dir(dir.path())
        .args(["--manifest", other.to_str().unwrap(), "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(other.is_file());
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    for args in [
        &["frobnicate"][..],
        &["--format", "yaml", "validate"],
        &["--lock-timeout", "-1", "validate"],
        &[],
    ] {
        let out = beep(&home).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
    }
    let out = beep(&home).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("validate"));
    let out = beep(&home).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn quiet_hides_warnings_but_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("beep-python.toml");
    std::fs::write(
        &manifest,
        "version = 1\n[runtimes.py]\nversion = \"3.12\"\ndefault = true\n[profiles.unused]\npackages = []\n",
    )
    .unwrap();
    let home = dir.path().join("home");
    let out = beep(&home)
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("manifest::unused-profile"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("(1 warning)"), "{}", stdout(&out));
    let out = beep(&home)
        .current_dir(dir.path())
        .args(["-q", "validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    std::fs::write(&manifest, "version = 1\nbogus = 1\n").unwrap();
    let out = beep(&home)
        .current_dir(dir.path())
        .args(["-q", "validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("manifest::unknown-key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_manifest_that_is_not_utf8_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("beep-python.toml"),
        b"version = 1\n\xff\xfe",
    )
    .unwrap();
    let out = beep(&dir.path().join("home"))
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not valid UTF-8"), "{}", stderr(&out));
}
