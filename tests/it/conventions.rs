//! Conventions of the source that a reviewer would otherwise check by eye.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// One diagnostic code style, the one users see in the manifest's rules and
/// doctor's checks: `area::what-went-wrong`, kebab-case, as a string.
#[test]
fn every_diagnostic_code_is_a_kebab_case_string() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut seen = 0;
    let mut wrong = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("code(") {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue; // `exit_code(`, `.code(`: not the attribute
            }
            let rest = &text[at + "code(".len()..];
            let Some(rest) = rest.strip_prefix('"') else {
                if rest.starts_with(|c: char| c.is_ascii_lowercase()) && rest.contains("::") {
                    let line = text[..at].lines().count();
                    wrong.push(format!("{}:{line}: a path, not a string", file.display()));
                }
                continue;
            };
            let code = &rest[..rest.find('"').unwrap()];
            seen += 1;
            let kebab = code.split("::").all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
            if !kebab || !code.contains("::") {
                let line = text[..at].lines().count();
                wrong.push(format!("{}:{line}: `{code}`", file.display()));
            }
        }
    }
    assert!(seen > 100, "only {seen} codes found: is the scan broken?");
    assert!(
        wrong.is_empty(),
        "codes not in `area::kebab-case`:\n{}",
        wrong.join("\n")
    );
}
