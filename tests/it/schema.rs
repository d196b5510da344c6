//! `schemas/beep-python.schema.json` and the code agree: the committed file
//! is the one generated from the code's field tables, the examples pass both
//! the schema and the checker, and structural mistakes fail both.

use std::path::Path;

use beep_python::manifest::schema;

use crate::common::{self, check_text};

fn schema_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/beep-python.schema.json")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(schema_path()).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft7::new(&schema).expect("the schema is valid draft-07")
}

fn toml_to_json(text: &str) -> serde_json::Value {
    let value: toml::Value = toml::from_str(text).unwrap();
    serde_json::to_value(value).unwrap()
}

/// Regenerate with `BEEP_PYTHON_UPDATE_SCHEMA=1 cargo test --test it schema`.
#[test]
fn committed_schema_is_generated_from_the_code() {
    let generated = schema::json_schema_text();
    let path = schema_path();
    if std::env::var_os("BEEP_PYTHON_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "`schemas/beep-python.schema.json` is out of date with src/manifest/schema.rs; \
         run `BEEP_PYTHON_UPDATE_SCHEMA=1 cargo test --test it schema` and commit the result"
    );
}

#[test]
fn examples_pass_the_schema_and_the_checker() {
    let validator = validator();
    for path in common::example_manifests() {
        let text = std::fs::read_to_string(&path).unwrap();
        let json = toml_to_json(&text);
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        // Checked as if in `/project` of this machine, where the
        // `find-links` folders the examples name do not exist.
        let (_, diagnostics, rendered) = check_text(&text);
        assert!(
            diagnostics
                .iter()
                .all(|d| d.code == "manifest::missing-find-links"
                    || d.severity != beep_python::diagnostic::Severity::Error),
            "{}:\n{rendered}",
            path.display()
        );
    }
}

/// The annotated example documents every key the code accepts.
#[test]
fn annotated_example_uses_every_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("beep-python.toml.example");
    let json = toml_to_json(&std::fs::read_to_string(path).unwrap());
    let missing_in = |table: &serde_json::Value, fields: &[schema::Field]| -> Vec<&str> {
        fields
            .iter()
            .filter(|f| table.get(f.key).is_none())
            .map(|f| f.key)
            .collect()
    };
    assert_eq!(
        missing_in(&json["settings"], schema::SETTINGS),
        Vec::<&str>::new()
    );
    for (section, fields, _) in schema::NAMED_TABLES {
        let items = json[section].as_object().unwrap();
        let mut missing: Vec<&str> = fields.iter().map(|f| f.key).collect();
        for item in items.values() {
            let absent = missing_in(item, fields);
            missing.retain(|k| absent.contains(k));
        }
        assert!(missing.is_empty(), "[{section}.*] never uses {missing:?}");
    }
    for (source, _) in schema::RUNTIME_SOURCES.iter().zip(0..) {
        assert!(
            json["runtimes"]
                .as_object()
                .unwrap()
                .values()
                .any(|r| r["source"] == *source),
            "no runtime with source {source}"
        );
    }
}

/// Every structural rule is enforced by both; the fixtures of those rules
/// must fail the schema too (the semantic rules, such as references, are
/// beyond what JSON Schema can say and are left out).
#[test]
fn structural_mistakes_fail_both_schema_and_checker() {
    let validator = validator();
    let structural = [
        "unknown-key",
        "wrong-type",
        "invalid-value",
        "missing-version",
        "unsupported-version",
        "invalid-name",
        "missing-sha256",
        "invalid-sha256",
    ];
    for rule in structural {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/fixtures/validate")
            .join(format!("{rule}.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let (valid, _, _) = check_text(&text);
        assert!(!valid, "{rule}: the checker accepted it");
        assert!(
            !validator.is_valid(&toml_to_json(&text)),
            "{rule}: the schema accepted it"
        );
    }
}
