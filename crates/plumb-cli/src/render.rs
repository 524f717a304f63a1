//! Rendering of plain diagnostics with miette (no colour, fixed width), and the
//! `--json` form with 1-based lines and character columns.

use plumb_diag::{Diagnostic, LineIndex, Severity};
use serde::Serialize;
use std::fmt;

/// A diagnostic together with the file it belongs to.
pub struct FileDiagnostic<'a> {
    pub path: &'a str,
    pub text: &'a str,
    pub diagnostic: &'a Diagnostic,
}

struct MietteView<'a> {
    inner: &'a FileDiagnostic<'a>,
    source: miette::NamedSource<String>,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner.diagnostic.message)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `× P0306: message` — the code leads, as `plumb explain P0306` takes it.
        write!(f, "{}: {}", self.inner.diagnostic.code, self.inner.diagnostic.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.inner.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let len = self.inner.text.len();
        let labels = self.inner.diagnostic.labels.iter().map(move |label| {
            let start = (label.span.start as usize).min(len);
            let end = (label.span.end as usize).clamp(start, len);
            let text = (!label.message.is_empty()).then(|| label.message.clone());
            if label.primary {
                miette::LabeledSpan::new_primary_with_span(text, start..end)
            } else {
                miette::LabeledSpan::new_with_span(text, start..end)
            }
        });
        Some(Box::new(labels))
    }
}

/// Renders one diagnostic as text (no colour, `width` columns).
pub fn render(item: &FileDiagnostic, width: usize) -> String {
    let view = MietteView { inner: item, source: miette::NamedSource::new(item.path, item.text.to_string()) };
    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(width)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &view).is_err() {
        out = format!("{}: {}: {}\n", item.path, item.diagnostic.code, item.diagnostic.message);
    }
    // A blank line between diagnostics.
    out.push('\n');
    out
}

#[derive(Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

pub fn to_json(item: &FileDiagnostic, index: &LineIndex) -> JsonDiagnostic {
    let span = item.diagnostic.span();
    let (line, column) = index.line_col(item.text, span.start as usize);
    let (end_line, end_column) = index.line_col(item.text, span.end as usize);
    JsonDiagnostic {
        file: item.path.to_string(),
        line,
        column,
        end_line,
        end_column,
        severity: item.diagnostic.severity.as_str(),
        code: item.diagnostic.code,
        message: item.diagnostic.message.clone(),
        help: item.diagnostic.help.clone(),
    }
}
