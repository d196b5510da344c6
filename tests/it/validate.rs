//! Every validation rule, through its fixture in `fixtures/validate/`: the
//! file `RULE.toml` must produce diagnostics with code `manifest::RULE` (and
//! only that code among its errors), and the rendered output is snapshotted.

use crate::common::{self, beep, check_text, stderr, stdout};

#[test]
fn every_rule_fixture_reports_its_rule_and_matches_snapshot() {
    let fixtures = common::fixtures("validate");
    assert!(fixtures.len() >= 20, "fixtures missing: {fixtures:?}");
    for path in fixtures {
        let rule = path.file_stem().unwrap().to_str().unwrap().to_string();
        let code = format!("manifest::{rule}");
        let text = std::fs::read_to_string(&path).unwrap();
        let (valid, diagnostics, rendered) = check_text(&text);

        assert!(
            diagnostics.iter().any(|d| d.code == code),
            "{rule}: expected a `{code}` diagnostic, got:\n{rendered}"
        );
        let errors: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.severity == beep_python::diagnostic::Severity::Error)
            .collect();
        let warning_rule = diagnostics
            .iter()
            .filter(|d| d.code == code)
            .all(|d| d.severity == beep_python::diagnostic::Severity::Warning);
        assert_eq!(valid, warning_rule, "{rule}: validity\n{rendered}");
        for e in &errors {
            assert_eq!(e.code, code, "{rule}: unexpected other error:\n{rendered}");
            assert!(
                !e.labels.is_empty() && e.location().is_some(),
                "{rule}: error without a place in the file:\n{rendered}"
            );
        }
        insta::assert_snapshot!(format!("validate_{rule}"), rendered);
    }
}

#[test]
fn example_manifests_are_valid_without_warnings() {
    for path in common::example_manifests() {
        let text = std::fs::read_to_string(&path).unwrap();
        let (valid, diagnostics, rendered) = check_text(&text);
        assert!(valid, "{}:\n{rendered}", path.display());
        assert!(diagnostics.is_empty(), "{}:\n{rendered}", path.display());
    }
}

/// Issue #2's acceptance case, through the binary: five different mistakes,
/// five diagnostics each with its line, exit 1, nothing written.
#[test]
fn validate_reports_five_mistakes_at_once_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("beep-python.toml");
    std::fs::write(
        &manifest,
        r#"version = 1

[settings]
instaler = "uv"

[runtimes.py311]
version = "3.11.9"
default = true

[runtimes.custom]
source = "url"
url = "https://example.com/python.tar.gz"
version = "3.11.9"

[profiles.lint]
packages = ["ruff>=0.5", "mypy==="]

[environments.analysis]
profiles = ["datascience", "lint"]
system-site-packages = "yes"
"#,
    )
    .unwrap();
    let home = dir.path().join("home");
    let out = beep(&home)
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for (code, line) in [
        ("manifest::unknown-key", "beep-python.toml:4:1"),
        ("manifest::missing-sha256", "beep-python.toml:12:7"),
        ("manifest::invalid-requirement", "beep-python.toml:16:26"),
        ("manifest::unknown-profile", "beep-python.toml:19:13"),
        ("manifest::wrong-type", "beep-python.toml:20:24"),
    ] {
        assert!(err.contains(code), "missing {code}:\n{err}");
        assert!(err.contains(line), "missing {line}:\n{err}");
    }
    let raw = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        raw.lines().filter(|l| l.starts_with("  x ")).count(),
        5,
        "{raw}"
    );
    assert!(err.contains("has 5 errors"), "{err}");
    assert!(stdout(&out).is_empty());
    assert!(!home.exists(), "validate must not create the home");

    let out = beep(&home)
        .current_dir(dir.path())
        .args(["validate", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["errors"], 5);
    let lines: Vec<u64> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 12, 16, 19, 20]);
}

#[test]
fn validate_finds_the_manifest_in_a_parent_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("beep-python.toml"),
        "version = 1\n[runtimes.host]\nsource = \"system\"\nversion = \">=3.9\"\n",
    )
    .unwrap();
    let sub = dir.path().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    let out = beep(&dir.path().join("home"))
        .current_dir(&sub)
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("is valid: 1 runtime, 0 environments"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn validate_without_a_manifest_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = beep(&dir.path().join("home"))
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no `beep-python.toml` found"), "{err}");
    assert!(err.contains("beep-python init"), "{err}");
}

/// No input makes the checker panic: every prefix of every fixture and
/// example (a truncated file), and each of them with bytes replaced by
/// characters that are special in TOML.
#[test]
fn no_input_makes_validation_panic() {
    let mut inputs: Vec<String> = common::fixtures("validate")
        .into_iter()
        .chain(common::example_manifests())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    inputs.push(String::new());
    inputs.push("\u{feff}version = 1".into());
    inputs.push("version = 99999999999999999999999".into());
    inputs.push("[[environments]]\nname = 1".into());
    inputs.push("version = 1\nenvironments = 3\nruntimes = []\nsettings = \"x\"".into());
    inputs.push("version = 1\n[runtimes.a]\nversion = \"3.11\"\ndefault = true\n[environments.\"ü\"]\npackages = [\"é\"]".into());
    let mut checked = 0;
    for text in &inputs {
        let boundaries: Vec<usize> = (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .collect();
        for &end in &boundaries {
            let _ = check_text(&text[..end]);
            checked += 1;
        }
        for (i, &at) in boundaries.iter().enumerate().step_by(7) {
            if at >= text.len() {
                break;
            }
            let next = boundaries[i + 1];
            for replacement in ["\"", "[", "]", "=", "\n", "{", ".", "#"] {
                let mutated = format!("{}{}{}", &text[..at], replacement, &text[next..]);
                let _ = check_text(&mutated);
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000, "only {checked} inputs checked");
}
