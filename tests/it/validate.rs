//! Every validation rule, through its fixture in `fixtures/validate/`: the
//! file `RULE.toml` must produce diagnostics with code `manifest::RULE` (and
//! only that code among its errors), and the rendered output is snapshotted.

use std::path::{Path, PathBuf};

use beep_python::diagnostic::SourceFile;
use beep_python::manifest;

use crate::common::{self, beep, check_text, stderr, stdout};

fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(dir)
        .join(name)
}

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

/// The examples are checked as if they were in `/project` of this machine,
/// so the `find-links` folders they name (a mirror's, or one beside the
/// manifest) are missing here: that one rule is left out, and every other
/// must be silent.
#[test]
fn example_manifests_are_valid_without_warnings() {
    for path in common::example_manifests() {
        let text = std::fs::read_to_string(&path).unwrap();
        let (_, diagnostics, rendered) = check_text(&text);
        let others: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.code != "manifest::missing-find-links")
            .collect();
        assert!(others.is_empty(), "{}:\n{rendered}", path.display());
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

/// Issue 10, item 9: a manifest saved in another encoding used to be
/// refused with no place in the file. Each byte that is not UTF-8 is now an
/// error with its line and column, in both output formats.
#[test]
fn a_manifest_that_is_not_utf8_gets_each_bad_byte_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture("encoding", "latin1.toml");
    std::fs::copy(&fixture, dir.path().join("beep-python.toml")).unwrap();
    let home = dir.path().join("home");
    let in_dir = || {
        let mut cmd = beep(&home);
        cmd.current_dir(dir.path());
        cmd
    };
    let out = common::expect_exit(in_dir(), &["validate"], 1);
    let err = stderr(&out);
    assert!(err.contains("manifest::encoding"), "{err}");
    for place in [
        "beep-python.toml:1:26",
        "beep-python.toml:10:24",
        "beep-python.toml:11:24",
    ] {
        assert!(err.contains(place), "missing {place}:\n{err}");
    }
    assert!(err.contains("not UTF-8: 0xE9"), "{err}");
    assert!(err.contains("not UTF-8: 0xFF"), "{err}");
    assert!(err.contains("has 3 errors"), "{err}");

    let out = common::expect_exit(in_dir(), &["validate", "--format", "json"], 1);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let places: Vec<(u64, u64, &str)> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
                d["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            (1, 26, "manifest::encoding"),
            (10, 24, "manifest::encoding"),
            (11, 24, "manifest::encoding"),
        ]
    );
    assert!(!home.exists(), "validate must not create the home");
}

/// Issue 10, item 9: `path = "~"` made a folder literally named `~` in the
/// project. `~` is now the user's home folder, as in a shell: `~/envs/a` and
/// `envs/a` beside a manifest in the home folder are one folder, and `~`
/// alone is refused, all at `validate` and again at `plan`, before anything
/// is made.
#[test]
fn tilde_paths_are_the_users_home_folder_and_never_a_folder_named_tilde() {
    let dir = tempfile::tempdir().unwrap();
    let user_home = dir.path().join("user");
    std::fs::create_dir(&user_home).unwrap();
    std::fs::copy(
        fixture("paths", "tilde.toml"),
        user_home.join("beep-python.toml"),
    )
    .unwrap();
    let home = dir.path().join("beep-home");
    for command in ["validate", "plan"] {
        let mut cmd = beep(&home);
        cmd.current_dir(&user_home).env("HOME", &user_home);
        let out = common::expect_exit(cmd, &[command], 1);
        let err = stderr(&out);
        let same = user_home.join("envs/a");
        assert!(
            err.contains(&format!(
                "environments `beside` and `in-home` have the same path `{}`",
                same.display()
            )),
            "{command}: {err}"
        );
        assert!(
            err.contains("environment `whole-home` would be your home folder"),
            "{command}: {err}"
        );
        assert!(err.contains("has 2 errors"), "{command}: {err}");
    }
    assert!(!user_home.join("~").exists());
    assert!(!user_home.join("envs").exists());
    assert!(!home.join("registry.json").exists());
}

#[test]
fn tilde_paths_without_a_home_or_of_another_user_are_refused() {
    let text = r#"version = 1
[runtimes.py311]
version = "3.11"
default = true
[environments.other]
path = "~alice"
[environments.other-sub]
path = "~alice/envs/x"
"#;
    let (valid, diagnostics, rendered) = check_text(text);
    assert!(!valid, "{rendered}");
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "environment `other` has a path in the home folder of user `alice`",
            "environment `other-sub` has a path in the home folder of user `alice`",
        ],
        "{rendered}"
    );
}

/// Issue 10, item 5: a path over PATH_MAX made create fail and then its undo
/// fail, wedging the home. The whole path counts, after resolution against
/// the manifest's folder.
#[test]
fn a_path_longer_than_the_os_takes_is_refused_at_validate() {
    let component = "d".repeat(200);
    let long = [component.as_str(); 21].join("/");
    let text = format!(
        "version = 1\n[runtimes.py311]\nversion = \"3.11\"\ndefault = true\n[environments.deep]\npath = \"{long}\"\n[environments.fine]\npath = \"{}\"\n",
        [component.as_str(); 10].join("/")
    );
    let (valid, diagnostics, rendered) = check_text(&text);
    assert!(!valid);
    assert_eq!(
        diagnostics.len(),
        1,
        "{}",
        &rendered[..rendered.len().min(2000)]
    );
    let d = &diagnostics[0];
    assert_eq!(d.code, "manifest::path-too-long");
    assert_eq!(d.location(), Some((6, 8)));
    // `/project/` and 21 components of 200 bytes with their separators.
    let bytes = "/project/".len() + long.len();
    assert!(
        d.message.contains(&format!("{bytes} bytes in all")),
        "{}",
        d.message
    );
}

/// A `find-links` folder that exists (relative to the manifest's folder, as
/// the installer is given it) passes; the rule fixture shows the failing
/// side.
#[test]
fn an_existing_find_links_folder_relative_to_the_manifest_passes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("wheels")).unwrap();
    let text = "version = 1\n[settings]\nfind-links = [\"wheels\", \"./wheels/../wheels\"]\n";
    let checked = manifest::check(
        SourceFile::new("beep-python.toml", text),
        &dir.path().join("beep-python.toml"),
        dir.path(),
        Path::new(common::HOME),
    );
    let checked = checked.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(checked.warnings.is_empty());
}

/// Issue 10, item 9: environments that differ only in case are a warning
/// (they still validate), one per pair, whether the names or the folders
/// differ only in case.
#[test]
fn names_differing_only_in_case_warn_once_per_pair() {
    let (valid, diagnostics, rendered) =
        check_text(&std::fs::read_to_string(fixture("validate", "case-collision.toml")).unwrap());
    assert!(valid, "{rendered}");
    assert_eq!(diagnostics.len(), 2, "{rendered}");
    assert!(
        diagnostics
            .iter()
            .all(|d| d.code == "manifest::case-collision"
                && d.severity == beep_python::diagnostic::Severity::Warning)
    );
}

/// Issue 10, item 10: `validate` compared every pair of environments (53 s
/// for 10,000) and walked `extends` chains once per template (minutes for
/// 5,000). The timing is in `bench/scale.sh`; this checks that the linear
/// checks still find what the pairwise ones found, and only that, at that
/// size: paths that share a prefix as text but not as folders (`e1` and
/// `e10`) are not nested, while a real nesting, a duplicate and a 5,000-long
/// cycle are each reported once. Deep chains are walked without recursion,
/// so this runs on a test thread's small stack.
#[test]
fn ten_thousand_environments_and_a_5000_deep_extends_chain_validate_correctly() {
    let mut text = String::from(
        "version = 1\n[runtimes.host]\nsource = \"system\"\nversion = \">=3.8\"\ndefault = true\n",
    );
    // One environment at the end of the chain, the others near its root
    // (resolving all 10,000 through 5,000 templates would only measure
    // copying 50 million package names).
    for i in 0..10_000 {
        let template = if i == 0 { "t4999" } else { "t1" };
        text.push_str(&format!(
            "[environments.e{i}]\npath = \"envs/e{i}\"\ntemplate = \"{template}\"\n"
        ));
    }
    text.push_str("[templates.t0]\npackages = [\"pkg0\"]\n");
    for i in 1..5_000 {
        text.push_str(&format!(
            "[templates.t{i}]\nextends = \"t{}\"\npackages = [\"pkg{i}\"]\n",
            i - 1
        ));
    }
    let (valid, diagnostics, rendered) = check_text(&text);
    assert!(valid, "{}", &rendered[..rendered.len().min(4000)]);
    assert!(
        diagnostics.is_empty(),
        "{}",
        &rendered[..rendered.len().min(4000)]
    );

    let checked = manifest::check(
        SourceFile::new("beep-python.toml", text.as_str()),
        &Path::new(common::PROJECT).join("beep-python.toml"),
        Path::new(common::PROJECT),
        Path::new(common::HOME),
    )
    .unwrap();
    let resolved = manifest::resolve::resolve(&checked.manifest, Path::new(common::HOME));
    assert_eq!(resolved.len(), 10_000);
    let e0 = resolved.iter().find(|e| e.name == "e0").unwrap();
    assert_eq!(e0.templates.len(), 5_000);
    assert_eq!(e0.packages.len(), 5_000);
    assert_eq!(e0.packages[0], "pkg0", "root template's packages first");
    assert_eq!(e0.runtime, "host");
    let e1 = resolved.iter().find(|e| e.name == "e1").unwrap();
    assert_eq!(e1.templates, ["t1", "t0"]);

    // A real nesting and a duplicate among the 10,000, and the chain closed
    // into a cycle through all 5,000 templates.
    let broken = text
        .replace("path = \"envs/e77\"", "path = \"envs/e7/inner\"")
        .replace("path = \"envs/e99\"", "path = \"envs/e98\"")
        .replace("[templates.t0]\n", "[templates.t0]\nextends = \"t4999\"\n");
    let (valid, diagnostics, rendered) = check_text(&broken);
    assert!(!valid);
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    let count = |code: &str| codes.iter().filter(|c| **c == code).count();
    let shown = &rendered[..rendered.len().min(4000)];
    assert_eq!(count("manifest::nested-path"), 1, "{shown}");
    assert_eq!(count("manifest::duplicate-path"), 1, "{shown}");
    assert_eq!(count("manifest::extends-cycle"), 1, "{shown}");
    // Environments on a template in a cycle have no runtime from it, but
    // the default still applies: no other error.
    assert_eq!(codes.len(), 3, "{shown}");
    let nested = diagnostics
        .iter()
        .find(|d| d.code == "manifest::nested-path")
        .unwrap();
    assert_eq!(
        nested.message,
        "environment `e77` is inside environment `e7`"
    );
    let cycle = diagnostics
        .iter()
        .find(|d| d.code == "manifest::extends-cycle")
        .unwrap();
    assert!(
        cycle
            .message
            .starts_with("templates extend each other in a cycle: `t0` -> `t4999` -> `t4998`"),
        "{}",
        &cycle.message[..200]
    );
    assert_eq!(cycle.labels.len(), 5_000);
}
