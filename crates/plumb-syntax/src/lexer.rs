//! A fault-tolerant lexer over the whole file, used by the item splitter, the
//! nesting pre-scan and the formatter (the parser proper is pest).

/// The kinds of token; the lexer never fails, unknown input becomes [`TokenKind::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Ident,
    Keyword,
    Number,
    Str,
    /// A string without its closing quote on the same line.
    UnterminatedStr,
    Punct,
    /// `// ...`
    LineComment,
    /// `/// ...`
    DocComment,
    /// `//! ...`
    ModuleDoc,
    Newline,
    Whitespace,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        &source[self.start..self.end]
    }

    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, TokenKind::Whitespace | TokenKind::Newline)
    }

    pub fn is_comment(&self) -> bool {
        matches!(self.kind, TokenKind::LineComment | TokenKind::DocComment | TokenKind::ModuleDoc)
    }
}

/// Every keyword of the language.
pub const KEYWORDS: &[&str] = &[
    "use",
    "let",
    "model",
    "loss",
    "schema",
    "train",
    "fit",
    "eval",
    "report",
    "repeat",
    "sampler",
    "selector",
    "extern",
    "fn",
    "on",
    "as",
    "in",
    "if",
    "else",
    "and",
    "or",
    "not",
    "true",
    "false",
    "constraint",
];

/// Keywords that start a top-level item.
pub const ITEM_KEYWORDS: &[&str] = &[
    "use", "let", "model", "loss", "schema", "train", "fit", "eval", "report", "repeat", "sampler", "selector",
    "extern",
];

const PUNCT2: &[&str] = &["==", "!=", "<=", ">=", "->"];
const PUNCT1: &str = "+-*/^<>=()[]{},.:;|?";

pub fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `source` into tokens that cover it exactly, in order.
pub fn tokenize(source: &str) -> Vec<Token> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = source[i..].chars().next().unwrap_or('\0');
        let kind = match c {
            '\n' => {
                i += 1;
                TokenKind::Newline
            }
            ' ' | '\t' | '\r' => {
                while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r') {
                    i += 1;
                }
                TokenKind::Whitespace
            }
            '/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                let text = &source[start..i];
                if text.starts_with("///") && !text.starts_with("////") {
                    TokenKind::DocComment
                } else if text.starts_with("//!") {
                    TokenKind::ModuleDoc
                } else {
                    TokenKind::LineComment
                }
            }
            '"' => {
                i += 1;
                let mut closed = false;
                while i < bytes.len() && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' && i + 1 < bytes.len() && bytes[i + 1] != b'\n' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == b'"' {
                        i += 1;
                        closed = true;
                        break;
                    }
                    i += 1;
                }
                // A backslash may have stepped into the middle of a multi-byte character.
                while !source.is_char_boundary(i) {
                    i += 1;
                }
                if closed { TokenKind::Str } else { TokenKind::UnterminatedStr }
            }
            c if c.is_ascii_digit() => {
                i = scan_number(bytes, i);
                TokenKind::Number
            }
            c if is_ident_start(c) => {
                while i < bytes.len() && is_ident_continue(bytes[i] as char) {
                    i += 1;
                }
                if KEYWORDS.contains(&&source[start..i]) { TokenKind::Keyword } else { TokenKind::Ident }
            }
            _ => {
                if PUNCT2.iter().any(|p| source[i..].starts_with(p)) {
                    i += 2;
                    TokenKind::Punct
                } else if PUNCT1.contains(c) {
                    i += 1;
                    TokenKind::Punct
                } else {
                    i += c.len_utf8().max(1);
                    TokenKind::Unknown
                }
            }
        };
        tokens.push(Token { kind, start, end: i });
    }
    tokens
}

fn scan_number(bytes: &[u8], mut i: usize) -> usize {
    let digits = |bytes: &[u8], mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    i = digits(bytes, i);
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(bytes, i + 1);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            i = digits(bytes, j);
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<(TokenKind, &str)> {
        tokenize(source).into_iter().filter(|t| !t.is_trivia()).map(|t| (t.kind, t.text(source))).collect()
    }

    #[test]
    fn tokens_cover_the_input() {
        let source = "let x = 1e-6 + f(a.b) // c\n/// d\n\"s\\\"t\" @ é";
        let tokens = tokenize(source);
        let mut at = 0;
        for t in &tokens {
            assert_eq!(t.start, at);
            at = t.end;
        }
        assert_eq!(at, source.len());
        assert_eq!(kinds("1e-6")[0], (TokenKind::Number, "1e-6"));
        assert_eq!(kinds("a >= b")[1], (TokenKind::Punct, ">="));
        assert_eq!(kinds("\"abc")[0].0, TokenKind::UnterminatedStr);
        assert_eq!(kinds("é")[0].0, TokenKind::Unknown);
        assert_eq!(kinds("\"\\é\"")[0].0, TokenKind::Str);
    }
}
