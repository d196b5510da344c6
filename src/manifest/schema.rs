//! The shape of the manifest: every table, every key, its type and its
//! documentation, in one place.
//!
//! Two consumers read these tables, which is why they exist:
//!
//! - the structural check in [`super::parse`] (unknown keys with "did you
//!   mean", wrong types, values outside an enumeration), which has to report
//!   *every* problem and therefore walks the spanned TOML tree itself rather
//!   than stopping at serde's first error;
//! - [`json_schema`], which generates `schemas/beep-python.schema.json` for
//!   editors. A test compares the committed file with the generated one, so
//!   the schema cannot drift from what the code accepts.
//!
//! Rules that involve several keys (a `url` needs a `sha256`, references to
//! other tables, ...) live in [`super::validate`]; the few of them that JSON
//! Schema can say are added to the schema by hand below.

use serde_json::{Map, Value, json};

/// The manifest format version this program reads and writes.
pub const MANIFEST_VERSION: i64 = 1;

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Bool,
    /// An integer no smaller than `min`.
    Integer {
        min: i64,
    },
    /// An array of strings.
    StringArray,
    /// A table whose values are all strings (environment variables).
    StringTable,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
}

impl Ty {
    /// How the type is named in "expected ..." messages.
    pub fn describe(self) -> String {
        match self {
            Ty::String => "a string".into(),
            Ty::Bool => "a boolean (`true` or `false`)".into(),
            Ty::Integer { min } => format!("an integer (at least {min})"),
            Ty::StringArray => "an array of strings".into(),
            Ty::StringTable => "a table of strings".into(),
            Ty::Enum(values) => {
                let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
        }
    }
}

/// One key of a table.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub ty: Ty,
    pub doc: &'static str,
}

const fn field(key: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field { key, ty, doc }
}

pub const RUNTIME_SOURCES: &[&str] = &["standalone", "system", "embeddable", "url"];
pub const INSTALLERS: &[&str] = &["auto", "pip", "uv", "native"];
pub const ENVIRONMENT_KINDS: &[&str] = &["venv", "conda"];

pub const SETTINGS: &[Field] = &[
    field(
        "default-runtime",
        Ty::String,
        "Runtime used by environments and templates that name none.",
    ),
    field(
        "installer",
        Ty::Enum(INSTALLERS),
        "Package installer of environments without a lock: `uv` when it is on PATH (`auto`, the default), or always `pip` or `uv`; `native` requires every environment to be locked. Locked environments are always installed by beep-python itself.",
    ),
    field(
        "python-mirror",
        Ty::String,
        "Replaces the download prefix of standalone builds (`https://`, `file://` or a folder).",
    ),
    field(
        "python-downloads",
        Ty::String,
        "A catalog of interpreter downloads (file or URL) that replaces the built-in one.",
    ),
    field(
        "allow-insecure-http",
        Ty::Bool,
        "Allow plain `http://` downloads from other machines than this one (default: only `https://`, `file://` and loopback).",
    ),
    field(
        "index-url",
        Ty::String,
        "Package index URL passed to the installer.",
    ),
    field(
        "find-links",
        Ty::StringArray,
        "Extra folders or URLs of wheels passed to the installer.",
    ),
    field(
        "offline",
        Ty::Bool,
        "Never use the network: downloads come from the cache, packages from `find-links`.",
    ),
    field(
        "jobs",
        Ty::Integer { min: 1 },
        "How many independent steps run at once (default: the number of cores).",
    ),
    field(
        "pip",
        Ty::Bool,
        "Seed pip into every environment, whichever installer runs (default `true`).",
    ),
    field(
        "compile-bytecode",
        Ty::Bool,
        "Compile `.pyc` files when installing locked environments (once per wheel, in the cache; default `false`).",
    ),
    field(
        "unverified-record",
        Ty::StringArray,
        "Packages known to ship a wheel whose `RECORD` does not match its files: installed without that check (the lock's sha256 still is).",
    ),
    field(
        "conda-channels",
        Ty::StringArray,
        "Channels of conda environments that list none: names (`conda-forge`), `https://` or `file://` URLs, or folders relative to the manifest.",
    ),
    field(
        "conda-channel-alias",
        Ty::String,
        "Where conda channel names live: `conda-forge` is `<alias>/conda-forge` (default: conda's own, `https://conda.anaconda.org`).",
    ),
    field(
        "conda-mirrors",
        Ty::StringTable,
        "Conda channel mirrors: a channel URL prefix = the prefix to fetch from instead. Locks and `conda-meta` keep the channel's own URLs.",
    ),
];

pub const RUNTIME: &[Field] = &[
    field(
        "source",
        Ty::Enum(RUNTIME_SOURCES),
        "Where the interpreter comes from (default `standalone`).",
    ),
    field(
        "version",
        Ty::String,
        "`3.11.9` or `3.11` for standalone and embeddable; a PEP 440 specifier such as `>=3.10,<3.13` for system.",
    ),
    field(
        "path",
        Ty::String,
        "For `source = \"system\"`: one interpreter, by path.",
    ),
    field(
        "url",
        Ty::String,
        "For `source = \"url\"`: the archive to download.",
    ),
    field(
        "sha256",
        Ty::String,
        "For `source = \"url\"`: the archive's SHA-256 digest (64 hex digits); mandatory.",
    ),
    field(
        "default",
        Ty::Bool,
        "Make this the default runtime (at most one).",
    ),
];

pub const PROFILE: &[Field] = &[
    field("description", Ty::String, "What the profile is for."),
    field(
        "packages",
        Ty::StringArray,
        "PEP 508 requirements, such as `ruff>=0.5`.",
    ),
];

pub const TEMPLATE: &[Field] = &[
    field("description", Ty::String, "What the template is for."),
    field(
        "extends",
        Ty::String,
        "Another template whose settings this one starts from.",
    ),
    field(
        "runtime",
        Ty::String,
        "The runtime of environments using it.",
    ),
    field("profiles", Ty::StringArray, "Package profiles to install."),
    field("packages", Ty::StringArray, "Extra PEP 508 requirements."),
    field(
        "env",
        Ty::StringTable,
        "Environment variables set when the environment is activated or run.",
    ),
    field(
        "system-site-packages",
        Ty::Bool,
        "Give the environment access to the base interpreter's packages.",
    ),
    field(
        "pip",
        Ty::Bool,
        "Seed pip into environments using it (default: `settings.pip`).",
    ),
];

pub const ENVIRONMENT: &[Field] = &[
    field(
        "template",
        Ty::String,
        "A template (built-in or defined here) to start from.",
    ),
    field(
        "runtime",
        Ty::String,
        "The runtime; overrides the template's and the default.",
    ),
    field("profiles", Ty::StringArray, "Package profiles to install."),
    field(
        "packages",
        Ty::StringArray,
        "Extra PEP 508 requirements; for `kind = \"conda\"`, conda match specs (`python 3.11.*`, `numpy >=1.26`).",
    ),
    field(
        "env",
        Ty::StringTable,
        "Environment variables; override the template's.",
    ),
    field(
        "system-site-packages",
        Ty::Bool,
        "Give the environment access to the base interpreter's packages.",
    ),
    field(
        "path",
        Ty::String,
        "Where the environment lives, relative to the manifest's folder (default `<home>/environments/<name>`).",
    ),
    field(
        "kind",
        Ty::Enum(ENVIRONMENT_KINDS),
        "`venv` (default) or `conda`: a conda environment built natively from conda channels, with its own python.",
    ),
    field(
        "channels",
        Ty::StringArray,
        "For `kind = \"conda\"`: its channels in priority order: names, `https://` or `file://` URLs, or folders relative to the manifest (default: `settings.conda-channels`).",
    ),
    field(
        "pypi-packages",
        Ty::StringArray,
        "For `kind = \"conda\"`: PEP 508 requirements installed from PyPI (or `find-links`) after the conda packages, with the environment's own python.",
    ),
    field(
        "pip",
        Ty::Bool,
        "Seed pip into the environment (default: its template's, else `settings.pip`).",
    ),
    field(
        "vscode",
        Ty::Bool,
        "Point VS Code at this environment: `apply` writes `.vscode/settings.json` in the manifest's folder (at most one environment).",
    ),
    field(
        "pylock",
        Ty::String,
        "A PEP 751 `pylock.toml` (relative to the manifest) whose packages the environment installs, instead of `packages` and `profiles`; `lock` copies its pins into beep-python.lock.",
    ),
];

/// The tables of named items at the top level: (key, fields, what an item is).
pub const NAMED_TABLES: &[(&str, &[Field], &str)] = &[
    ("runtimes", RUNTIME, "runtime"),
    ("profiles", PROFILE, "profile"),
    ("templates", TEMPLATE, "template"),
    ("environments", ENVIRONMENT, "environment"),
];

/// Every key allowed at the top level.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "version",
    "settings",
    "runtimes",
    "profiles",
    "templates",
    "environments",
    "moved",
];

fn fields_schema(fields: &[Field]) -> Value {
    let mut properties = Map::new();
    for f in fields {
        let mut schema = match f.ty {
            Ty::String => json!({ "type": "string" }),
            Ty::Bool => json!({ "type": "boolean" }),
            Ty::Integer { min } => json!({ "type": "integer", "minimum": min }),
            Ty::StringArray => json!({ "type": "array", "items": { "type": "string" } }),
            Ty::StringTable => {
                json!({ "type": "object", "additionalProperties": { "type": "string" } })
            }
            Ty::Enum(values) => json!({ "type": "string", "enum": values }),
        };
        schema["description"] = Value::String(f.doc.to_string());
        properties.insert(f.key.to_string(), schema);
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    })
}

/// The JSON Schema (draft-07, which TOML language servers understand) of the
/// manifest, generated from the field tables above.
pub fn json_schema() -> Value {
    let mut runtime = fields_schema(RUNTIME);
    runtime["description"] = json!("An interpreter.");
    // The cross-field rules JSON Schema can express; validate.rs checks them too.
    runtime["allOf"] = json!([
        {
            "if": { "properties": { "source": { "const": "url" } }, "required": ["source"] },
            "then": { "required": ["url", "sha256"] }
        },
        {
            "properties": { "sha256": { "pattern": "^[0-9a-fA-F]{64}$" } }
        }
    ]);
    let mut profile = fields_schema(PROFILE);
    profile["description"] = json!("A named set of packages.");
    let mut template = fields_schema(TEMPLATE);
    template["description"] = json!("A reusable environment recipe.");
    let mut environment = fields_schema(ENVIRONMENT);
    environment["description"] =
        json!("A virtual environment, or a conda environment (`kind = \"conda\"`).");
    let mut settings = fields_schema(SETTINGS);
    settings["description"] = json!("Settings for the whole manifest.");

    let named = |definition: &str, what: &str| {
        json!({
            "type": "object",
            "description": format!("{what}, by name."),
            "propertyNames": { "pattern": NAME_PATTERN },
            "additionalProperties": { "$ref": format!("#/definitions/{definition}") },
        })
    };

    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "beep-python manifest",
        "description": "beep-python.toml: the Python interpreters and virtual environments of a project.",
        "type": "object",
        "additionalProperties": false,
        "required": ["version"],
        "properties": {
            "version": {
                "description": "Manifest format version.",
                "type": "integer",
                "const": MANIFEST_VERSION,
            },
            "settings": { "$ref": "#/definitions/Settings" },
            "runtimes": named("Runtime", "Interpreters"),
            "profiles": named("Profile", "Package profiles"),
            "templates": named("Template", "Environment templates"),
            "environments": named("Environment", "Virtual environments"),
            "moved": {
                "type": "object",
                "description": "Renamed environments: `\"env.OLD\" = \"env.NEW\"`. The record moves to the new name; nothing is rebuilt unless its path or packages changed too.",
                "propertyNames": { "pattern": "^env\\.[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" },
                "additionalProperties": { "type": "string", "pattern": "^env\\.[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" },
            },
        },
        "definitions": {
            "Settings": settings,
            "Runtime": runtime,
            "Profile": profile,
            "Template": template,
            "Environment": environment,
        }
    })
}

/// Names of runtimes, profiles, templates and environments become folder
/// names and addresses (`env.NAME`), so they are kept portable.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// Whether `name` matches [`NAME_PATTERN`].
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name.len() <= 64
}

/// The schema as committed: pretty JSON with a trailing newline.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).expect("a JSON value serializes");
    text.push('\n');
    text
}
