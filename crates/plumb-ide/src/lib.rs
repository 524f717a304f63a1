//! The editor API of Plumb, as plain data over the salsa database: diagnostics,
//! hover, go to definition, find references, completion, document symbols,
//! semantic tokens and formatting. It knows nothing of LSP or JSON-RPC; the
//! language server (`plumb-lsp`) converts at its edge.
//!
//! An [`AnalysisHost`] owns the database and applies file changes; an [`Analysis`]
//! borrows it and answers queries, so no query can run while a change is being
//! applied. Files are named by their database path (an absolute path for files on
//! disk, `std/NAME.plumb` for the stdlib).
//!
//! Invariants: positions are byte offsets into the file's text (file-relative; item
//! spans are shifted by their item's offset here); every query answers on any text,
//! however broken, without panicking, and never mutates the database.

mod completion;
mod hover;
mod resolve;
mod symbols;

pub use completion::{CompletionItem, CompletionKind};
pub use plumb_diag::{Diagnostic, Severity, Span};
pub use resolve::Target;
pub use symbols::{SemanticClass, SemanticToken, Symbol, SymbolKind};

use plumb_db::{Db, RootDatabase, SourceFile};
use std::path::Path;

/// Owns the analysis database; applies changes to file texts.
#[derive(Default)]
pub struct AnalysisHost {
    db: RootDatabase,
}

impl AnalysisHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file or replaces its text. Stdlib files (`std/...`) cannot be changed.
    pub fn set_file_text(&mut self, path: &str, text: String) {
        if self.db.file(path).is_some_and(|f| *f.is_std(&self.db)) {
            return;
        }
        self.db.set_file(path, text);
    }

    /// Removes a file (imports of it then fail to resolve). Stdlib files stay.
    pub fn remove_file(&mut self, path: &str) {
        if self.db.file(path).is_some_and(|f| !*f.is_std(&self.db)) {
            self.db.remove_file(path);
        }
    }

    /// A read-only view for answering queries.
    pub fn analysis(&self) -> Analysis<'_> {
        Analysis { db: &self.db }
    }
}

/// A location in a file: its database path and a byte range.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileRange {
    pub path: String,
    pub range: Span,
}

/// Hover text (markdown) and the range it describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoverResult {
    pub markdown: String,
    pub range: Span,
}

/// Answers queries over one state of the files.
#[derive(Clone, Copy)]
pub struct Analysis<'db> {
    db: &'db RootDatabase,
}

impl<'db> Analysis<'db> {
    fn file(&self, path: &str) -> Option<SourceFile> {
        self.db.file(path)
    }

    /// The text of a file, if the database has it.
    pub fn file_text(&self, path: &str) -> Option<&'db str> {
        self.file(path).map(|f| f.text(self.db).as_str())
    }

    /// Whether the file is part of the stdlib (read-only).
    pub fn is_std(&self, path: &str) -> bool {
        self.file(path).is_some_and(|f| *f.is_std(self.db))
    }

    /// The paths of the files a file imports with `use "..."`.
    pub fn imported_paths(&self, path: &str) -> Vec<String> {
        self.file(path).map(|f| plumb_hir::imported_paths(self.db, f)).unwrap_or_default()
    }

    /// Every diagnostic of a file, as `plumb check` reports it: the analysis, then
    /// the data files it reads by literal path (relative to the file's directory).
    pub fn diagnostics(&self, path: &str) -> Vec<Diagnostic> {
        let Some(file) = self.file(path) else {
            return Vec::new();
        };
        let mut diagnostics = plumb_hir::file_diagnostics(self.db, file).to_vec();
        if !file.is_std(self.db) {
            let base = Path::new(path).parent().unwrap_or(Path::new("."));
            diagnostics.extend(plumb_hir::check_data_files(self.db, file, base));
            diagnostics.sort_by_key(|d| (d.span().start, d.code));
        }
        diagnostics
    }

    /// What is at `offset`: the name's definition, type, doc and parameters, or
    /// the type of the loss-body expression around it.
    pub fn hover(&self, path: &str, offset: u32) -> Option<HoverResult> {
        hover::hover(self.db, self.file(path)?, offset)
    }

    /// What the name at `offset` refers to.
    pub fn target_at(&self, path: &str, offset: u32) -> Option<(Span, Target)> {
        let file = self.file(path)?;
        let occurrence = hover::occurrence_at(self.db, file, offset)?;
        Some((occurrence.span, occurrence.target?))
    }

    /// Where the name at `offset` is defined: a top-level name here or in another
    /// file (the stdlib included), a parameter, a schema column, a local `let`.
    pub fn goto_definition(&self, path: &str, offset: u32) -> Option<FileRange> {
        let (_, target) = self.target_at(path, offset)?;
        let (file, range) = resolve::definition_site(self.db, &target)?;
        Some(FileRange { path: file.path(self.db).clone(), range })
    }

    /// Every mention of what the name at `offset` refers to, in every file the
    /// database has; with the definition itself when `include_declaration`.
    pub fn find_references(&self, path: &str, offset: u32, include_declaration: bool) -> Vec<FileRange> {
        let Some((_, target)) = self.target_at(path, offset) else {
            return Vec::new();
        };
        let files: Vec<SourceFile> = match &target {
            Target::Global(_) | Target::Param { .. } | Target::Column { .. } | Target::File(_) => {
                self.db.workspace().files(self.db).values().copied().collect()
            }
            _ => self.file(path).into_iter().collect(),
        };
        let mut out = Vec::new();
        for file in files {
            let walk = resolve::walk_file(self.db, file);
            for occurrence in walk.occurrences {
                if occurrence.target.as_ref() == Some(&target) && (include_declaration || !occurrence.is_def) {
                    out.push(FileRange { path: file.path(self.db).clone(), range: occurrence.span });
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Completions at `offset`: keywords, names in scope, stage options, a call's
    /// named parameters, a loss body's columns, parameters and roles.
    pub fn completion(&self, path: &str, offset: u32) -> Vec<CompletionItem> {
        match self.file(path) {
            Some(file) => completion::complete(self.db, file, offset),
            None => Vec::new(),
        }
    }

    /// The outline of a file.
    pub fn document_symbols(&self, path: &str) -> Vec<Symbol> {
        match self.file(path) {
            Some(file) => symbols::document_symbols(self.db, file),
            None => Vec::new(),
        }
    }

    /// A class for every keyword, name, number, string, comment and operator, in order.
    pub fn semantic_tokens(&self, path: &str) -> Vec<SemanticToken> {
        match self.file(path) {
            Some(file) => symbols::semantic_tokens(self.db, file),
            None => Vec::new(),
        }
    }

    /// The formatted text, or `None` when the file does not parse without errors
    /// (the formatter only formats text that parses).
    pub fn format(&self, path: &str) -> Option<String> {
        let file = self.file(path)?;
        let text = file.text(self.db);
        if plumb_syntax::decode(text.as_bytes()).is_err() {
            return None;
        }
        let parsed = plumb_syntax::parse_file(text);
        if parsed.diagnostics.iter().any(|d| d.is_error()) {
            return None;
        }
        Some(plumb_fmt::format(text))
    }
}

#[cfg(test)]
mod tests;
