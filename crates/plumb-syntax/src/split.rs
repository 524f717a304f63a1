//! Cuts a file into items before pest sees it, so that one broken item cannot
//! hide the diagnostics of the others, and pre-scans bracket nesting so that pest
//! never recurses deeper than [`MAX_NESTING`].
//!
//! An item starts at a line whose first token is an item keyword at bracket depth
//! 0, together with the `///` lines just above it. An item keyword in column 0
//! (other than `let`) starts an item even inside unclosed brackets, so a missing
//! `}` swallows at most the rest of its own item.

use crate::lexer::{ITEM_KEYWORDS, Token, TokenKind, tokenize};
use plumb_diag::{Diagnostic, Span};

/// The deepest bracket nesting a recipe may use.
pub const MAX_NESTING: usize = 64;

/// One item's byte range in the file, and whether it nests too deeply to parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    /// Set when the chunk nests deeper than [`MAX_NESTING`]; it is not parsed.
    pub too_deep: Option<Diagnostic>,
}

/// The module doc (`//!` lines at the top of the file) and the item chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub module_doc: Option<String>,
    pub chunks: Vec<Chunk>,
}

pub fn split(source: &str) -> Split {
    let tokens = tokenize(source);
    split_tokens(source, &tokens)
}

pub fn split_tokens(source: &str, tokens: &[Token]) -> Split {
    let mut module_doc_lines = Vec::new();
    let mut seen_code = false;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut depth = 0usize;
    let mut at_line_start = true;
    let mut pending_doc: Option<usize> = None;
    for token in tokens {
        match token.kind {
            TokenKind::Newline => {
                at_line_start = true;
                continue;
            }
            TokenKind::Whitespace => continue,
            TokenKind::ModuleDoc => {
                if !seen_code {
                    module_doc_lines.push(doc_text(token.text(source), "//!"));
                }
                continue;
            }
            TokenKind::LineComment => continue,
            TokenKind::DocComment => {
                if at_line_start && depth == 0 && pending_doc.is_none() {
                    pending_doc = Some(token.start);
                }
                at_line_start = false;
                continue;
            }
            _ => {}
        }
        seen_code = true;
        let line_start = at_line_start;
        at_line_start = false;
        let text = token.text(source);
        let column0 = token.start == 0 || source.as_bytes()[token.start - 1] == b'\n';
        let starts_item = token.kind == TokenKind::Keyword
            && ITEM_KEYWORDS.contains(&text)
            && line_start
            && (depth == 0 || (column0 && text != "let"));
        if starts_item || chunks.is_empty() {
            let start = pending_doc.unwrap_or(token.start);
            if let Some(last) = chunks.last_mut() {
                last.end = start;
            }
            chunks.push(Chunk { start, end: source.len(), too_deep: None });
            depth = 0;
        }
        pending_doc = None;
        if token.kind == TokenKind::Punct {
            match text {
                "(" | "[" | "{" => {
                    depth += 1;
                    let chunk = chunks.last_mut().expect("a chunk was pushed above");
                    if depth > MAX_NESTING && chunk.too_deep.is_none() {
                        chunk.too_deep = Some(
                            Diagnostic::error(
                                "P0003",
                                format!("brackets nest more than {MAX_NESTING} levels deep"),
                                Span::new(token.start - chunk.start, token.end - chunk.start),
                            )
                            .with_label("this bracket is too deep")
                            .with_help("split the expression into `let` bindings"),
                        );
                    }
                }
                ")" | "]" | "}" => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    let module_doc = (!module_doc_lines.is_empty()).then(|| module_doc_lines.join("\n"));
    Split { module_doc, chunks }
}

/// The text of a doc comment line without its marker and one leading space.
pub fn doc_text(line: &str, marker: &str) -> String {
    let rest = line.strip_prefix(marker).unwrap_or(line);
    rest.strip_prefix(' ').unwrap_or(rest).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(source: &str) -> Vec<&str> {
        split(source).chunks.iter().map(|c| source[c.start..c.end].trim_end()).collect()
    }

    #[test]
    fn splits_at_item_keywords_with_docs() {
        let source = "//! mod\nuse std.a.b\n\n/// doc\nloss f() {\n    let x = 1\n    x\n}\nlet y = 2\n";
        assert_eq!(pieces(source), vec!["use std.a.b", "/// doc\nloss f() {\n    let x = 1\n    x\n}", "let y = 2"]);
        assert_eq!(split(source).module_doc.as_deref(), Some("mod"));
    }

    #[test]
    fn unclosed_brace_swallows_only_its_own_item() {
        let source = "loss f() {\n    let x = (1\nmodel m = g()\n";
        assert_eq!(pieces(source).len(), 2);
    }

    #[test]
    fn deep_nesting_is_flagged() {
        let source = format!("let x = {}1{}", "(".repeat(100), ")".repeat(100));
        let split = split(&source);
        assert_eq!(split.chunks[0].too_deep.as_ref().map(|d| d.code), Some("P0003"));
    }
}
