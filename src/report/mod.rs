//! Everything that reaches the terminal goes through here.
//!
//! stdout carries data (tables, JSON, the manifest a command prints); logs,
//! warnings and diagnostics go to stderr. Colour only when the stream is a
//! terminal and `NO_COLOR` is not set. A closed stdout (`| head`) is not an
//! error: writing stops quietly.

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

/// The one writer of terminal output.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: Format,
    pub verbosity: Verbosity,
    color: bool,
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
        }
    }

    /// Writes data to stdout.
    pub fn data(&self, text: &str) -> Result<(), BrokenPipe> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(BrokenPipe),
            // Nothing sensible can be done about other stdout failures but
            // to stop writing; the exit code still reflects the command.
            _ => Ok(()),
        }
    }

    /// Writes a JSON value as one line of stdout.
    pub fn json(&self, value: &serde_json::Value) -> Result<(), BrokenPipe> {
        let mut text = serde_json::to_string(value).unwrap_or_default();
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
