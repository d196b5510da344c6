//! Pass 1: TOML syntax and structure.
//!
//! The TOML is parsed with recovery into a spanned tree
//! ([`toml::de::DeTable`]), so a syntax error does not hide the problems
//! after it. The tree is then walked against the field tables of
//! [`super::schema`]: each key is either known (and its value's type checked)
//! or reported with a "did you mean". Well-typed values are copied into the
//! typed [`Manifest`]; ill-typed ones are reported and left out, so the
//! semantic pass still runs on the rest.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned as TomlSpanned;
use toml::de::{DeTable, DeValue};

use super::schema::{self, Field, Ty};
use super::{
    EnvironmentKind, Installer, Manifest, Profile, Runtime, RuntimeSource, Settings, Spanned,
    Template,
};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceFile, suggestion};
use crate::manifest::builtin;

/// A value that passed its type check.
#[derive(Debug, Clone)]
enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    StrArray(Vec<Spanned<String>>),
    StrTable(BTreeMap<String, Spanned<String>>),
}

/// The well-typed keys of one table.
#[derive(Debug, Default)]
struct Fields {
    values: BTreeMap<&'static str, (Value, Range<usize>)>,
    /// Known keys whose value was reported as ill-typed: present, so not to
    /// be reported again as missing.
    ill_typed: std::collections::BTreeSet<&'static str>,
}

impl Fields {
    fn string(&self, key: &str) -> Option<Spanned<String>> {
        match self.values.get(key) {
            Some((Value::Str(s), span)) => Some(Spanned::new(s.clone(), span.clone())),
            _ => None,
        }
    }

    fn bool(&self, key: &str) -> Option<Spanned<bool>> {
        match self.values.get(key) {
            Some((Value::Bool(b), span)) => Some(Spanned::new(*b, span.clone())),
            _ => None,
        }
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.values.get(key) {
            Some((Value::Int(i), _)) => Some(*i),
            _ => None,
        }
    }

    fn strings(&self, key: &str) -> Vec<Spanned<String>> {
        match self.values.get(key) {
            Some((Value::StrArray(items), _)) => items.clone(),
            _ => Vec::new(),
        }
    }

    fn table(&self, key: &str) -> BTreeMap<String, Spanned<String>> {
        match self.values.get(key) {
            Some((Value::StrTable(t), _)) => t.clone(),
            _ => BTreeMap::new(),
        }
    }

    fn span(&self, key: &str) -> Option<Range<usize>> {
        self.values.get(key).map(|(_, span)| span.clone())
    }
}

/// Parses `source` into a [`Manifest`], adding every syntax and structure
/// problem to `diagnostics`. Returns `None` only when there is nothing to
/// check further (the document could not be parsed at all).
pub fn parse(
    source: &SourceFile,
    path: &Path,
    dir: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<Manifest> {
    let (root, errors) = DeTable::parse_recoverable(&source.text);
    let syntax_errors = !errors.is_empty();
    for error in errors {
        let span = error.span().unwrap_or(0..0);
        diagnostics.push(
            Diagnostic::error("manifest::syntax", "invalid TOML")
                .label(span, first_line(error.message()))
                .help("see https://toml.io for the syntax"),
        );
    }
    // A document with syntax errors still yields a tree of what parsed, so
    // its structure is checked too; but a key may be missing only because it
    // did not parse, so absence is not reported and the semantic pass (which
    // would report references to the unparsed parts) is skipped.
    let root = root.into_inner();

    let mut manifest = Manifest {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        source: source.clone(),
        version: 0,
        settings: Settings::default(),
        runtimes: BTreeMap::new(),
        profiles: builtin::profiles(),
        templates: builtin::templates(),
        environments: BTreeMap::new(),
        moved: Vec::new(),
    };

    let mut version_seen = false;
    for (key, value) in root.iter() {
        let name = key.get_ref().as_ref();
        let key_span = key.span();
        match name {
            "version" => {
                version_seen = true;
                check_version(value, &mut manifest, diagnostics);
            }
            "settings" => {
                if let Some(table) = expect_table(value, "`settings`", diagnostics) {
                    let fields = check_fields(table, schema::SETTINGS, "[settings]", diagnostics);
                    manifest.settings = settings(&fields);
                }
            }
            "runtimes" | "profiles" | "templates" | "environments" => {
                let (_, fields_of, what) = schema::NAMED_TABLES
                    .iter()
                    .find(|(k, _, _)| *k == name)
                    .expect("the match lists exactly the named tables");
                let Some(items) = expect_table(value, &format!("`{name}`"), diagnostics) else {
                    continue;
                };
                for (item_key, item_value) in items.iter() {
                    let item_name = item_key.get_ref().to_string();
                    let item_span = item_key.span();
                    if !schema::is_valid_name(&item_name) {
                        diagnostics.push(
                            Diagnostic::error(
                                "manifest::invalid-name",
                                format!("{what} name `{item_name}` is not allowed"),
                            )
                            .label(item_span.clone(), "not a valid name")
                            .help("names start with a letter or digit and contain only letters, digits, `.`, `_` and `-` (at most 64)"),
                        );
                    }
                    let Some(table) =
                        expect_table(item_value, &format!("{what} `{item_name}`"), diagnostics)
                    else {
                        continue;
                    };
                    let context = format!("[{name}.{item_name}]");
                    let fields = check_fields(table, fields_of, &context, diagnostics);
                    let spanned_name = Spanned::new(item_name.clone(), item_span);
                    match name {
                        "runtimes" => {
                            let runtime = runtime(spanned_name, &fields, item_value.span());
                            manifest.runtimes.insert(item_name, runtime);
                        }
                        "profiles" => {
                            manifest.profiles.insert(
                                item_name,
                                Profile {
                                    name: spanned_name,
                                    description: fields.string("description").map(|s| s.value),
                                    packages: fields.strings("packages"),
                                },
                            );
                        }
                        "templates" => {
                            manifest.templates.insert(
                                item_name,
                                Template {
                                    name: spanned_name,
                                    description: fields.string("description").map(|s| s.value),
                                    extends: fields.string("extends"),
                                    runtime: fields.string("runtime"),
                                    profiles: fields.strings("profiles"),
                                    packages: fields.strings("packages"),
                                    env: fields.table("env"),
                                    system_site_packages: fields
                                        .bool("system-site-packages")
                                        .map(|b| b.value),
                                    pip: fields.bool("pip").map(|b| b.value),
                                },
                            );
                        }
                        _ => {
                            manifest
                                .environments
                                .insert(item_name, environment(spanned_name, &fields));
                        }
                    }
                }
            }
            "moved" => {
                let Some(table) = expect_table(value, "`moved`", diagnostics) else {
                    continue;
                };
                for (from, to) in table.iter() {
                    let from = Spanned::new(from.get_ref().to_string(), from.span());
                    match to.get_ref() {
                        DeValue::String(text) => manifest
                            .moved
                            .push((from, Spanned::new(text.to_string(), to.span()))),
                        other => diagnostics.push(
                            Diagnostic::error(
                                "manifest::wrong-type",
                                format!(
                                    "`moved.\"{}\"` must be a string, not {}",
                                    from.value,
                                    type_name(other)
                                ),
                            )
                            .label(to.span(), "expected an address such as \"env.backend\""),
                        ),
                    }
                }
            }
            other => {
                let mut help = suggestion(other, schema::TOP_LEVEL_KEYS.iter().copied());
                if help.is_none() {
                    // `[runtime.py311]` instead of `[runtimes.py311]` and the like.
                    help = schema::NAMED_TABLES
                        .iter()
                        .find(|(_, _, what)| *what == other)
                        .map(|(k, _, _)| format!("did you mean `{k}`?"));
                }
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::unknown-key",
                        format!("unknown key `{other}` at the top level"),
                    )
                    .label(key_span, "unknown key")
                    .help(help.unwrap_or_else(|| {
                        format!("the top level takes {}", quote_list(schema::TOP_LEVEL_KEYS))
                    })),
                );
            }
        }
    }

    if !version_seen && !syntax_errors {
        diagnostics.push(
            Diagnostic::error("manifest::missing-version", "the manifest has no `version`")
                .label(0..0, "expected `version = 1` here")
                .help(format!(
                    "add `version = {}` as the first line",
                    schema::MANIFEST_VERSION
                )),
        );
    }
    (!syntax_errors).then_some(manifest)
}

fn check_version(
    value: &TomlSpanned<DeValue<'_>>,
    manifest: &mut Manifest,
    diagnostics: &mut Diagnostics,
) {
    let span = value.span();
    let supported = schema::MANIFEST_VERSION;
    match value.get_ref() {
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(v) if v == supported => manifest.version = v,
            Ok(v) => diagnostics.push(
                Diagnostic::error(
                    "manifest::unsupported-version",
                    format!("manifest version {v} is not supported"),
                )
                .label(span, format!("this beep-python reads version {supported}"))
                .help(if v > supported {
                    format!("this manifest was written for a newer beep-python; upgrade it, or write `version = {supported}`")
                } else {
                    format!("write `version = {supported}`")
                }),
            ),
            Err(_) => diagnostics.push(
                Diagnostic::error("manifest::unsupported-version", "manifest version is out of range")
                    .label(span, format!("expected {supported}")),
            ),
        },
        other => diagnostics.push(wrong_type("`version`", &Ty::Integer { min: 1 }, other, span)),
    }
}

fn expect_table<'a, 'i>(
    value: &'a TomlSpanned<DeValue<'i>>,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<&'a DeTable<'i>> {
    match value.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            diagnostics.push(
                Diagnostic::error(
                    "manifest::wrong-type",
                    format!("{what} must be a table, not {}", type_name(other)),
                )
                .label(value.span(), "expected a table"),
            );
            None
        }
    }
}

/// Checks every key of `table` against `fields`; returns the well-typed ones.
fn check_fields(
    table: &DeTable<'_>,
    fields: &[Field],
    context: &str,
    diagnostics: &mut Diagnostics,
) -> Fields {
    let mut out = Fields::default();
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let Some(field) = fields.iter().find(|f| f.key == name) else {
            let keys: Vec<&str> = fields.iter().map(|f| f.key).collect();
            // Also catch `system_site_packages` for `system-site-packages`.
            let dashed = name.replace('_', "-");
            let help = if keys.contains(&dashed.as_str()) && dashed != name {
                Some(format!("did you mean `{dashed}`?"))
            } else {
                suggestion(name, keys.iter().copied())
            };
            diagnostics.push(
                Diagnostic::error(
                    "manifest::unknown-key",
                    format!("unknown key `{name}` in `{context}`"),
                )
                .label(key.span(), "unknown key")
                .help(help.unwrap_or_else(|| format!("`{context}` takes {}", quote_list(&keys)))),
            );
            continue;
        };
        let what = format!("`{name}` in `{context}`");
        match check_value(field, value, &what, diagnostics) {
            Some(v) => {
                out.values.insert(field.key, (v, value.span()));
            }
            None => {
                out.ill_typed.insert(field.key);
            }
        }
    }
    out
}

fn check_value(
    field: &Field,
    value: &TomlSpanned<DeValue<'_>>,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<Value> {
    let span = value.span();
    let inner = value.get_ref();
    match (field.ty, inner) {
        (Ty::String, DeValue::String(s)) => Some(Value::Str(s.to_string())),
        (Ty::Bool, DeValue::Boolean(b)) => Some(Value::Bool(*b)),
        (Ty::Integer { min }, DeValue::Integer(i)) => {
            match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(v) if v >= min => Some(Value::Int(v)),
                _ => {
                    diagnostics.push(
                        Diagnostic::error(
                            "manifest::invalid-value",
                            format!("{what} is out of range"),
                        )
                        .label(span, format!("expected {}", field.ty.describe())),
                    );
                    None
                }
            }
        }
        (Ty::Enum(allowed), DeValue::String(s)) => {
            if allowed.contains(&s.as_ref()) {
                Some(Value::Str(s.to_string()))
            } else {
                diagnostics.push(
                    Diagnostic::error(
                        "manifest::invalid-value",
                        format!("{what} cannot be \"{s}\""),
                    )
                    .label(span, format!("expected {}", field.ty.describe()))
                    .maybe_help(suggestion(s, allowed.iter().copied())),
                );
                None
            }
        }
        (Ty::StringArray, DeValue::Array(items)) => {
            let mut out = Vec::new();
            let mut ok = true;
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::String(s) => out.push(Spanned::new(s.to_string(), item.span())),
                    other => {
                        ok = false;
                        diagnostics.push(
                            Diagnostic::error(
                                "manifest::wrong-type",
                                format!(
                                    "{what} must contain only strings, not {}",
                                    type_name(other)
                                ),
                            )
                            .label(item.span(), "expected a string")
                            .help(string_help(other)),
                        );
                    }
                }
            }
            ok.then_some(Value::StrArray(out))
        }
        (Ty::StringTable, DeValue::Table(table)) => {
            let mut out = BTreeMap::new();
            let mut ok = true;
            for (k, v) in table.iter() {
                match v.get_ref() {
                    DeValue::String(s) => {
                        out.insert(
                            k.get_ref().to_string(),
                            Spanned::new(s.to_string(), v.span()),
                        );
                    }
                    other => {
                        ok = false;
                        diagnostics.push(
                            Diagnostic::error(
                                "manifest::wrong-type",
                                format!(
                                    "`{}` in {what} must be a string, not {}",
                                    k.get_ref(),
                                    type_name(other)
                                ),
                            )
                            .label(v.span(), "expected a string")
                            .help(string_help(other)),
                        );
                    }
                }
            }
            ok.then_some(Value::StrTable(out))
        }
        (ty, other) => {
            diagnostics.push(wrong_type(what, &ty, other, span));
            None
        }
    }
}

fn wrong_type(what: &str, ty: &Ty, found: &DeValue<'_>, span: Range<usize>) -> Diagnostic {
    let help = match (ty, found) {
        (Ty::String | Ty::Enum(_), _) => Some(string_help(found)),
        (Ty::StringArray, DeValue::String(s)) => Some(format!("write it as an array: `[\"{s}\"]`")),
        (Ty::Bool, DeValue::String(s)) if s == "true" || s == "false" => {
            Some(format!("remove the quotes: `{s}`"))
        }
        (Ty::Integer { .. }, DeValue::String(s)) if s.parse::<i64>().is_ok() => {
            Some(format!("remove the quotes: `{s}`"))
        }
        _ => None,
    };
    Diagnostic::error(
        "manifest::wrong-type",
        format!("{what} must be {}, not {}", ty.describe(), type_name(found)),
    )
    .label(span, format!("expected {}", ty.describe()))
    .maybe_help(help)
}

fn string_help(found: &DeValue<'_>) -> String {
    match found {
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {
            "put the value in quotes".to_string()
        }
        _ => "write a quoted string".to_string(),
    }
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn quote_list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    quoted.join(", ")
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

fn settings(fields: &Fields) -> Settings {
    Settings {
        default_runtime: fields.string("default-runtime"),
        installer: match fields.string("installer").as_deref().map(String::as_str) {
            Some("pip") => Installer::Pip,
            Some("uv") => Installer::Uv,
            Some("native") => Installer::Native,
            _ => Installer::Auto,
        },
        python_mirror: fields.string("python-mirror"),
        python_downloads: fields.string("python-downloads"),
        allow_insecure_http: fields.bool("allow-insecure-http").is_some_and(|b| b.value),
        index_url: fields.string("index-url"),
        find_links: fields.strings("find-links"),
        offline: fields.bool("offline").is_some_and(|b| b.value),
        jobs: fields.int("jobs").and_then(|j| u32::try_from(j).ok()),
        pip: fields.bool("pip"),
        compile_bytecode: fields.bool("compile-bytecode").is_some_and(|b| b.value),
        unverified_record: fields.strings("unverified-record"),
        conda_channels: fields.strings("conda-channels"),
        conda_channel_alias: fields.string("conda-channel-alias"),
        conda_mirrors: fields.table("conda-mirrors"),
    }
}

fn runtime(name: Spanned<String>, fields: &Fields, span: Range<usize>) -> Runtime {
    let source = fields
        .string("source")
        .and_then(|s| RuntimeSource::from_str(&s))
        .unwrap_or(RuntimeSource::Standalone);
    Runtime {
        name,
        source,
        source_span: fields.span("source"),
        version: fields.string("version"),
        path: fields.string("path"),
        url: fields.string("url"),
        sha256: fields.string("sha256"),
        default: fields.bool("default"),
        span: Some(span),
        ill_typed: fields.ill_typed.iter().map(|k| k.to_string()).collect(),
    }
}

fn environment(name: Spanned<String>, fields: &Fields) -> super::Environment {
    super::Environment {
        name,
        template: fields.string("template"),
        runtime: fields.string("runtime"),
        profiles: fields.strings("profiles"),
        packages: fields.strings("packages"),
        env: fields.table("env"),
        system_site_packages: fields.bool("system-site-packages").map(|b| b.value),
        path: fields.string("path"),
        vscode: fields.bool("vscode"),
        pylock: fields.string("pylock"),
        kind: match fields.string("kind").as_deref().map(String::as_str) {
            Some("conda") => EnvironmentKind::Conda,
            _ => EnvironmentKind::Venv,
        },
        channels: fields.strings("channels"),
        pypi_packages: fields.strings("pypi-packages"),
        pip: fields.bool("pip").map(|b| b.value),
    }
}
