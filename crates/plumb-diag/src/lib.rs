//! Plain diagnostics shared by every analysis crate: no rendering, no I/O.
//!
//! A [`Diagnostic`] carries byte spans relative to some base (an item, or a whole
//! file); [`Diagnostic::shifted`] moves it to another base. Rendering (miette) and
//! file/line lookup happen at the edges, in the CLI and the language server.

mod codes;
mod codes_table;
mod span;

pub use codes::{CODES, CodeInfo, lookup};
pub use span::{LineIndex, Span};

/// How bad a diagnostic is. Only errors make `plumb check` fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A labelled span; the primary label is where the problem is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// A stable code such as `P0102`; see [`CODES`].
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Self::new(Severity::Error, code, message, span)
    }

    pub fn warning(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Self::new(Severity::Warning, code, message, span)
    }

    fn new(severity: Severity, code: &'static str, message: impl Into<String>, span: Span) -> Self {
        debug_assert!(lookup(code).is_some(), "diagnostic code {code} is not registered");
        Diagnostic {
            code,
            severity,
            message: message.into(),
            labels: vec![Label { span, message: String::new(), primary: true }],
            help: None,
        }
    }

    /// Sets the text shown under the primary span.
    pub fn with_label(mut self, text: impl Into<String>) -> Self {
        if let Some(primary) = self.labels.iter_mut().find(|l| l.primary) {
            primary.message = text.into();
        }
        self
    }

    /// Adds a secondary label.
    pub fn with_secondary(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: text.into(), primary: false });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The primary span (the first label's when none is marked primary).
    pub fn span(&self) -> Span {
        self.labels.iter().find(|l| l.primary).or(self.labels.first()).map(|l| l.span).unwrap_or_default()
    }

    /// Moves every span by `offset` bytes (item-relative to file-relative).
    pub fn shifted(mut self, offset: u32) -> Self {
        for label in &mut self.labels {
            label.span = label.span.shifted(offset);
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
