//! Diagnostics about a source file (the manifest): what is wrong, where, and
//! what to do about it.
//!
//! A [`Diagnostic`] is plain data (code, severity, message, labelled spans,
//! help) and implements [`miette::Diagnostic`], so `main.rs` renders it with
//! the file name, line, column and a label under the offending text. Checks
//! collect every diagnostic they find into a [`Diagnostics`] list instead of
//! stopping at the first, because users fix manifests in one pass.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{LabeledSpan, MietteSpanContents, SourceSpan};

/// How bad a diagnostic is. Only errors make a manifest invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A source file shared by all the diagnostics about it.
///
/// It keeps the offset of every line start, so that finding the line of a
/// diagnostic (for its `file:line:column` and for the snippet miette shows)
/// costs a binary search and the length of its few context lines, not a scan
/// from the top of the file: a manifest of 10,000 environments with a
/// warning on each renders in linear time.
#[derive(Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics (the path as the user gave it).
    pub name: String,
    pub text: Arc<str>,
    /// Where each line starts, in bytes; the first is 0. A line ends at
    /// `\n`, `\r\n` or a lone `\r`, as miette counts them.
    line_starts: Arc<[usize]>,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        for (i, b) in bytes.iter().enumerate() {
            let ends_line = match b {
                b'\n' => true,
                b'\r' => bytes.get(i + 1) != Some(&b'\n'),
                _ => false,
            };
            if ends_line {
                line_starts.push(i + 1);
            }
        }
        Self {
            name: name.into(),
            text,
            line_starts: line_starts.into(),
        }
    }

    /// The zero-based line that holds byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|start| *start <= offset) - 1
    }

    /// One-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_of(offset);
        let start = self.line_starts[line].min(offset);
        let column = self.text[start..offset].chars().count() + 1;
        (line + 1, column)
    }
}

impl miette::SourceCode for SourceFile {
    /// miette's own implementation for `str` scans from the top of the file
    /// to the span. This one starts the same scan at the first context line
    /// (found through the line index) and shifts the result back, so the
    /// snippet is exactly the same.
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let first_line = self
            .line_of(span.offset().min(self.text.len()))
            .saturating_sub(context_lines_before);
        let window_start = self.line_starts[first_line];
        let window = &self.text[window_start..];
        let local = SourceSpan::new((span.offset() - window_start).into(), span.len());
        let contents = window.read_span(&local, context_lines_before, context_lines_after)?;
        let inner = contents.span();
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            SourceSpan::new((inner.offset() + window_start).into(), inner.len()),
            contents.line() + first_line,
            contents.column(),
            contents.line_count() + first_line,
        )))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One labelled place in the source.
#[derive(Debug, Clone)]
pub struct Label {
    pub span: Range<usize>,
    pub text: String,
}

/// One problem, with everything needed to render it.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub source: Option<SourceFile>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            source: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// Adds a label under `span`. A diagnostic about a built-in definition
    /// has no span; pass `None` and the label is skipped.
    pub fn label(mut self, span: impl Into<Option<Range<usize>>>, text: impl Into<String>) -> Self {
        if let Some(span) = span.into() {
            self.labels.push(Label {
                span,
                text: text.into(),
            });
        }
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// The line and column of the first label, for JSON output and sorting.
    pub fn location(&self) -> Option<(usize, usize)> {
        let source = self.source.as_ref()?;
        let label = self.labels.first()?;
        Some(source.line_col(label.span.start))
    }

    fn first_offset(&self) -> usize {
        self.labels.first().map_or(usize::MAX, |l| l.span.start)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Warning => miette::Severity::Warning,
            Severity::Error => miette::Severity::Error,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        // miette renders snippets only when there is something to point at.
        if self.labels.is_empty() {
            return None;
        }
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() || self.source.is_none() {
            return None;
        }
        Some(Box::new(self.labels.iter().map(|l| {
            LabeledSpan::new_with_span(Some(l.text.clone()), SourceSpan::from(l.span.clone()))
        })))
    }
}

/// Every diagnostic found about one source file.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Attaches `source` to every diagnostic and orders them as they appear
    /// in the file (errors before warnings at the same place), so output is
    /// stable and reads top to bottom.
    pub fn finish(mut self, source: &SourceFile) -> Self {
        for d in &mut self.items {
            d.source = Some(source.clone());
        }
        self.items
            .sort_by_key(|d| (d.first_offset(), std::cmp::Reverse(d.severity)));
        self
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

/// The closest candidate to `word`, if one is close enough to be a likely
/// typo ("did you mean"). Jaro-Winkler favours shared prefixes, which is
/// how names are usually mistyped.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" or nothing.
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(word, candidates).map(|c| format!("did you mean `{c}`?"))
}
