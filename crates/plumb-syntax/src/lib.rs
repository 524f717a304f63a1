//! Plumb source text to an AST with spans. Parsing returns `(tree, diagnostics)`
//! and never fails: the file is cut into items ([`split()`]), each item is parsed on
//! its own ([`parse_item`]), and broken items are reported and skipped.
//!
//! Invariant: nothing here panics on any input, and no AST is deeper than
//! [`parser::MAX_EXPR_DEPTH`] expressions, so recursive passes over it are safe.

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod split;

pub use parser::{ItemParse, MAX_EXPR_DEPTH, parse_item};
pub use split::{Chunk, MAX_NESTING, Split, split};

use plumb_diag::{Diagnostic, Span};

/// The largest source file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// A whole file parsed without any caching: items with their offsets.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ParsedFile {
    pub module_doc: Option<String>,
    /// Each item with the byte offset of its chunk in the file.
    pub items: Vec<(u32, ast::Item)>,
    /// File-relative diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks that the bytes can be a recipe at all: size, UTF-8, no NUL bytes, not empty.
pub fn decode(bytes: &[u8]) -> Result<&str, Diagnostic> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            "P0009",
            format!("file is {} bytes; recipes may be at most {MAX_FILE_BYTES} bytes", bytes.len()),
            Span::new(0, 0),
        )
        .with_help("keep data in data files (jsonl, csv, parquet) and load it with a data source"));
    }
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        return Err(Diagnostic::error("P0001", "this is a binary file, not a recipe", Span::new(nul, nul + 1))
            .with_label("NUL byte")
            .with_help("recipes are UTF-8 text files ending in .plumb"));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if text.trim().is_empty() => Err(Diagnostic::error("P0008", "the file is empty", Span::new(0, 0))
            .with_help("a recipe needs at least one item, e.g. `use std.losses.dpo`")),
        Ok(text) => Ok(text),
        Err(error) => {
            let at = error.valid_up_to();
            Err(Diagnostic::error("P0001", "the file is not valid UTF-8", Span::new(at, at + 1))
                .with_label("invalid byte")
                .with_help("save the recipe as UTF-8"))
        }
    }
}

/// Parses every item of `text` (no caching; the database caches per item).
pub fn parse_file(text: &str) -> ParsedFile {
    let split = split(text);
    let mut parsed = ParsedFile { module_doc: split.module_doc.clone(), ..ParsedFile::default() };
    for chunk in &split.chunks {
        let offset = chunk.start as u32;
        if let Some(diagnostic) = &chunk.too_deep {
            parsed.diagnostics.push(diagnostic.clone().shifted(offset));
            continue;
        }
        let result = parse_item(&text[chunk.start..chunk.end]);
        parsed.diagnostics.extend(result.diagnostics.into_iter().map(|d| d.shifted(offset)));
        if let Some(item) = result.item {
            parsed.items.push((offset, item));
        }
    }
    parsed
}
