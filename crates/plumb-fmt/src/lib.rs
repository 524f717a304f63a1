//! The Plumb formatter. It works on tokens, not on the AST, so it keeps every
//! comment and the author's line breaks, and only rewrites the space between
//! tokens and the indentation: 4 spaces per open bracket, one more for a line
//! that continues an expression, one space around binary operators, none inside
//! brackets, two before a trailing comment, at most one blank line in a row.
//!
//! Invariant: `format(format(s)) == format(s)`, and formatting never changes
//! what a file parses to (callers format only files that parse without errors).

use plumb_syntax::lexer::{Token, TokenKind, tokenize};

const INDENT: &str = "    ";

/// One token with what came before it in the source.
struct Placed<'s> {
    kind: TokenKind,
    text: &'s str,
    space_before: bool,
}

fn is_open(text: &str) -> bool {
    matches!(text, "(" | "[" | "{")
}

fn is_close(text: &str) -> bool {
    matches!(text, ")" | "]" | "}")
}

const BINARY: &[&str] = &["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "=", "->", "|"];
const WORD_OPERATORS: &[&str] = &["and", "or"];

fn ends_operand(token: &Placed) -> bool {
    match token.kind {
        TokenKind::Ident | TokenKind::Number | TokenKind::Str | TokenKind::UnterminatedStr => true,
        TokenKind::Keyword => matches!(token.text, "true" | "false"),
        TokenKind::Punct => matches!(token.text, ")" | "]" | "}" | "?"),
        _ => false,
    }
}

/// Whether the line's last code token asks for the next line to continue it.
fn continues(line: &[Placed]) -> bool {
    let Some(last) = line.iter().rev().find(|t| !is_comment(t.kind)) else {
        return false;
    };
    match last.kind {
        TokenKind::Punct => BINARY.contains(&last.text) || last.text == "^",
        TokenKind::Keyword => WORD_OPERATORS.contains(&last.text),
        _ => false,
    }
}

fn is_comment(kind: TokenKind) -> bool {
    matches!(kind, TokenKind::LineComment | TokenKind::DocComment | TokenKind::ModuleDoc)
}

/// Formats a whole file.
pub fn format(source: &str) -> String {
    let tokens = tokenize(source);
    let lines = lines(source, &tokens);
    let mut out = String::with_capacity(source.len());
    // Each open bracket remembers the indent of the line it opened on.
    let mut stack: Vec<usize> = Vec::new();
    let mut continuation_base: Option<usize> = None;
    let mut blank_pending = false;
    let mut previous_line_opened = true; // no blank line at the start of the file
    for line in &lines {
        if line.is_empty() {
            blank_pending = true;
            continue;
        }
        let first = &line[0];
        let starts_with_close = first.kind == TokenKind::Punct && is_close(first.text);
        let bracket_indent = if starts_with_close {
            stack.last().copied().unwrap_or(0)
        } else {
            stack.last().map(|i| i + 1).unwrap_or(0)
        };
        let indent = match continuation_base {
            Some(base) if !starts_with_close => base + 1,
            _ => bracket_indent,
        };
        if blank_pending && !previous_line_opened && !starts_with_close {
            out.push('\n');
        }
        blank_pending = false;
        for _ in 0..indent {
            out.push_str(INDENT);
        }
        write_line(&mut out, line);
        out.push('\n');
        for token in line {
            if token.kind != TokenKind::Punct {
                continue;
            }
            if is_open(token.text) {
                stack.push(indent);
            } else if is_close(token.text) {
                stack.pop();
            }
        }
        continuation_base = if continues(line) { Some(continuation_base.unwrap_or(indent)) } else { None };
        let last_code = line.iter().rev().find(|t| !is_comment(t.kind));
        previous_line_opened = last_code.is_some_and(|t| t.kind == TokenKind::Punct && t.text == "{");
    }
    out
}

fn lines<'s>(source: &'s str, tokens: &[Token]) -> Vec<Vec<Placed<'s>>> {
    let mut lines = vec![Vec::new()];
    let mut space = false;
    for token in tokens {
        match token.kind {
            TokenKind::Newline => {
                lines.push(Vec::new());
                space = false;
            }
            TokenKind::Whitespace => space = true,
            kind => {
                let text = token.text(source);
                let text = if is_comment(kind) { text.trim_end() } else { text };
                lines.last_mut().expect("starts non-empty").push(Placed { kind, text, space_before: space });
                space = false;
            }
        }
    }
    lines
}

fn write_line(out: &mut String, line: &[Placed]) {
    // Import groups are tight: `use std.losses.{dpo, ipo}`.
    let is_use = line.first().is_some_and(|t| t.kind == TokenKind::Keyword && t.text == "use");
    for (i, token) in line.iter().enumerate() {
        if i > 0 {
            let tight_brace = is_use && (line[i - 1].text == "{" || token.text == "}");
            let gap = if tight_brace { "" } else { gap(&line[..i], token) };
            out.push_str(gap);
        }
        out.push_str(token.text);
    }
}

fn is_unary(before: &[Placed]) -> bool {
    let Some(prev) = before.last() else {
        return true;
    };
    match prev.kind {
        TokenKind::Punct => !matches!(prev.text, ")" | "]" | "}" | "?"),
        TokenKind::Keyword => !matches!(prev.text, "true" | "false"),
        _ => false,
    }
}

/// The space to put between `before`'s last token and `token`.
fn gap(before: &[Placed], token: &Placed) -> &'static str {
    let prev = before.last().expect("gap is asked between two tokens");
    if is_comment(token.kind) {
        return "  ";
    }
    let p = prev.text;
    let t = token.text;
    let prev_punct = prev.kind == TokenKind::Punct;
    let punct = token.kind == TokenKind::Punct;
    // A unary minus touches its operand.
    if prev_punct && p == "-" && is_unary(&before[..before.len() - 1]) {
        return "";
    }
    if punct {
        match t {
            "," | ";" | ":" | "?" | ")" | "]" => return "",
            "." => return "",
            "^" => return "",
            "(" | "[" if ends_operand(prev) => return if token.space_before { " " } else { "" },
            "}" if p == "{" => return "",
            _ => {}
        }
    }
    if prev_punct {
        match p {
            "(" | "[" | "." | "^" => return "",
            _ => {}
        }
    }
    if punct && t == "-" && is_unary(before) {
        // A unary minus right after an opening bracket.
        return if prev_punct && (p == "(" || p == "[") { "" } else { " " };
    }
    " "
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn normalises_spacing_and_indent() {
        let source =
            "loss f( beta : f32>0=0.1 ) on Pairwise{\nlet x=-beta*( a-b )^2   // note   \n\n\n  log_sigmoid( x )\n}\n";
        let expected = "loss f(beta: f32 > 0 = 0.1) on Pairwise {\n    let x = -beta * (a - b)^2  // note\n\n    log_sigmoid(x)\n}\n";
        assert_eq!(format(source), expected);
        assert_eq!(format(expected), expected);
    }

    #[test]
    fn keeps_call_adjacency_and_continuations() {
        let source = "let x = a +\nb +\n  c\nlet y = f(1, -2)[0]\ntrain p on d { loss = dpo() }\n";
        let expected = "let x = a +\n    b +\n    c\nlet y = f(1, -2)[0]\ntrain p on d { loss = dpo() }\n";
        assert_eq!(format(source), expected);
    }

    #[test]
    fn blank_lines_collapse() {
        assert_eq!(format("\n\nuse a.b\n\n\n\nuse c.d\n\n"), "use a.b\n\nuse c.d\n");
        assert_eq!(format("use a.{ b,c }\n"), "use a.{b, c}\n");
        assert_eq!(format("x {\n\n  y\n\n}\n"), "x {\n    y\n}\n");
    }
}
