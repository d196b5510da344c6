//! Everything that reaches the terminal goes through here.
//!
//! stdout carries data (tables, JSON, the manifest a command prints); logs,
//! warnings and diagnostics go to stderr. Colour only when the stream is a
//! terminal and `NO_COLOR` is not set. A closed stdout (`| head`) is not an
//! error: writing stops quietly.
//!
//! One JSON convention for every document a command prints (`--format
//! json`): a single JSON object on one line whose first key is
//! `format_version` ([`JSON_FORMAT_VERSION`] unless the document carries its
//! own). [`Printer::json`] enforces it, so no command can forget it; the
//! README lists every document, and `tests/it/json_shapes.rs` snapshots
//! their shapes.

pub mod progress;

use std::io::{IsTerminal, Write};

use miette::{GraphicalReportHandler, GraphicalTheme, ThemeCharacters, ThemeStyles};

use crate::diagnostic::Diagnostic;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Human,
    Json,
}

/// How much to say on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// The `format_version` of JSON documents that do not set their own. A
/// document's version changes when a key is removed or changes meaning;
/// new keys may appear without a change.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// The one writer of terminal output.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: Format,
    pub verbosity: Verbosity,
    color: bool,
    /// Data goes to stderr instead of stdout: for work done on the way to
    /// something else whose stdout must stay its own (`run --sync`).
    data_to_stderr: bool,
}

/// stdout was closed by the reader; the command should stop and exit 0.
#[derive(Debug)]
pub struct BrokenPipe;

impl Printer {
    pub fn new(format: Format, verbosity: Verbosity) -> Self {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self {
            format,
            verbosity,
            color,
            data_to_stderr: false,
        }
    }

    /// The same printer, writing its data to stderr: `run --sync` shows the
    /// plan it applies without mixing it into the command's own stdout.
    pub fn data_on_stderr(&self) -> Self {
        Self {
            data_to_stderr: true,
            ..self.clone()
        }
    }

    /// Writes data to stdout.
    pub fn data(&self, text: &str) -> Result<(), BrokenPipe> {
        if self.data_to_stderr {
            eprint!("{text}");
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(BrokenPipe),
            // Nothing sensible can be done about other stdout failures but
            // to stop writing; the exit code still reflects the command.
            _ => Ok(()),
        }
    }

    /// Writes a JSON document as one line of stdout, with `format_version`
    /// first (see the module doc).
    pub fn json(&self, value: &serde_json::Value) -> Result<(), BrokenPipe> {
        let mut text = serde_json::to_string(&versioned(value)).unwrap_or_default();
        text.push('\n');
        self.data(&text)
    }

    /// A line of information on stderr (suppressed by `-q`).
    pub fn info(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            eprintln!("{message}");
        }
    }

    /// A debugging line on stderr (only with `-v`).
    pub fn debug(&self, message: &str) {
        if self.verbosity >= Verbosity::Verbose {
            eprintln!("{message}");
        }
    }

    /// A warning on stderr (suppressed by `-q`).
    pub fn warn(&self, message: &str) {
        if self.verbosity >= Verbosity::Normal {
            if self.color {
                eprintln!("\x1b[33mwarning\x1b[0m: {message}");
            } else {
                eprintln!("warning: {message}");
            }
        }
    }

    /// A diagnostic on stderr; warnings are suppressed by `-q`, errors never.
    pub fn diagnostic(&self, diagnostic: &Diagnostic) {
        if diagnostic.severity == crate::diagnostic::Severity::Warning
            && self.verbosity < Verbosity::Normal
        {
            return;
        }
        eprint!("{}", render(diagnostic, self.color));
    }

    /// Any error that implements `miette::Diagnostic`, on stderr.
    pub fn error(&self, error: &dyn miette::Diagnostic) {
        eprint!("{}", render(error, self.color));
    }
}

/// `value` with `format_version` as its first key: the document's own if it
/// has one, else [`JSON_FORMAT_VERSION`]. Anything but an object is wrapped
/// as `{"format_version": 1, "items": value}`, so every document is an
/// object that can grow keys.
pub fn versioned(value: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    match value {
        serde_json::Value::Object(map) => {
            let version = map
                .get("format_version")
                .cloned()
                .unwrap_or_else(|| JSON_FORMAT_VERSION.into());
            out.insert("format_version".into(), version);
            for (key, item) in map {
                if key != "format_version" {
                    out.insert(key.clone(), item.clone());
                }
            }
        }
        other => {
            out.insert("format_version".into(), JSON_FORMAT_VERSION.into());
            out.insert("items".into(), other.clone());
        }
    }
    serde_json::Value::Object(out)
}

/// Renders a diagnostic as the user sees it. Without colour it uses ASCII
/// art, which is what the snapshot tests compare.
pub fn render(diagnostic: &dyn miette::Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme {
            characters: ThemeCharacters::ascii(),
            styles: ThemeStyles::none(),
        }
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        // Keys such as `system-site-packages` and paths must stay whole:
        // break lines at spaces only.
        .with_word_separator(textwrap::WordSeparator::AsciiSpace)
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation)
        .with_break_words(false);
    let mut out = String::new();
    if handler.render_report(&mut out, diagnostic).is_err() {
        out = format!("error: {diagnostic}\n");
    }
    out
}

/// A diagnostic as JSON (for `--format json`).
pub fn diagnostic_json(d: &Diagnostic) -> serde_json::Value {
    let (line, column) = d
        .location()
        .map_or((None, None), |(l, c)| (Some(l), Some(c)));
    serde_json::json!({
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
        "file": d.source.as_ref().map(|s| s.name.clone()),
        "line": line,
        "column": column,
        "labels": d.labels.iter().map(|l| l.text.clone()).collect::<Vec<_>>(),
        "help": d.help,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_document_starts_with_its_format_version() {
        let plain = versioned(&json!({"b": 1, "a": 2}));
        assert_eq!(plain.to_string(), r#"{"format_version":1,"b":1,"a":2}"#);
        let own = versioned(&json!({"x": true, "format_version": 3}));
        assert_eq!(own.to_string(), r#"{"format_version":3,"x":true}"#);
        let list = versioned(&json!([1, 2]));
        assert_eq!(list.to_string(), r#"{"format_version":1,"items":[1,2]}"#);
    }
}
