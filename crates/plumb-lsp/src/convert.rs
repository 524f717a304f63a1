//! Conversions at the LSP edge: byte offsets ↔ LSP positions (0-based lines,
//! UTF-16 columns), file paths ↔ `file://` URIs, and Plumb's plain-data results
//! to LSP types.

use lsp_types::{Position, Range};
use plumb_diag::Span;

/// Line starts of one text, for converting between byte offsets and positions.
pub struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The byte offset of an LSP position, clamped into the text: a line past the
    /// end is the end of the text, a column past the end of its line is the line's
    /// end, and a column inside a character (a surrogate pair) rounds down.
    pub fn offset(&self, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return self.text.len();
        };
        let mut end = self.starts.get(position.line as usize + 1).map(|s| s - 1).unwrap_or(self.text.len());
        if end > start && self.text.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
        let mut units = 0u32;
        for (i, c) in self.text[start..end].char_indices() {
            let next = units + c.len_utf16() as u32;
            if next > position.character {
                return start + i;
            }
            units = next;
        }
        end
    }

    /// The LSP position of a byte offset (clamped, rounded down to a character).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let character = self.text[self.starts[line]..offset].encode_utf16().count();
        Position { line: line as u32, character: character as u32 }
    }

    pub fn range(&self, span: Span) -> Range {
        Range { start: self.position(span.start as usize), end: self.position(span.end as usize) }
    }
}

/// Applies one LSP change to a text: a range replaced, or the whole text.
pub fn apply_change(text: &mut String, range: Option<Range>, new_text: &str) {
    match range {
        None => *text = new_text.to_string(),
        Some(range) => {
            let index = LineIndex::new(text);
            let start = index.offset(range.start);
            let end = index.offset(range.end).max(start);
            text.replace_range(start..end, new_text);
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/')
}

/// `file:///` URI of an absolute path (percent-encoded).
pub fn file_uri(path: &str) -> String {
    let mut out = String::from("file://");
    if !path.starts_with('/') {
        out.push('/');
    }
    for &b in path.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path of a `file:` URI (percent-decoded), or `None` for other schemes.
pub fn uri_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    // Skip an authority (`file://host/path`); `localhost` and empty are the usual.
    let path = match rest.find('/') {
        Some(i) => &rest[i..],
        None => return None,
    };
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            decoded.push(byte);
            i += 3;
            continue;
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    let mut path = String::from_utf8_lossy(&decoded).into_owned();
    // Windows drive letters: `/c:/x` → `c:/x`.
    if path.len() >= 3 && path.as_bytes()[0] == b'/' && path.as_bytes()[2] == b':' {
        path.remove(0);
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn utf16_columns_round_trip() {
        let text = "ab\nx😀y é\r\nz";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(pos(1, 0)), 3);
        assert_eq!(index.offset(pos(1, 1)), 4);
        assert_eq!(index.offset(pos(1, 2)), 4, "inside the surrogate pair rounds down");
        assert_eq!(index.offset(pos(1, 3)), 8);
        assert_eq!(index.offset(pos(1, 99)), text.find('\r').unwrap(), "clamped before \\r\\n");
        assert_eq!(index.offset(pos(9, 0)), text.len());
        for (offset, _) in text.char_indices() {
            if text.as_bytes()[offset] != b'\n' && text.as_bytes()[offset] != b'\r' {
                assert_eq!(index.offset(index.position(offset)), offset);
            }
        }
        assert_eq!(index.position(text.find('y').unwrap()), pos(1, 3));
    }

    #[test]
    fn changes_apply_by_range() {
        let mut text = String::from("let x = 1\nlet y = 2\n");
        apply_change(&mut text, Some(Range { start: pos(1, 4), end: pos(1, 5) }), "why");
        assert_eq!(text, "let x = 1\nlet why = 2\n");
        apply_change(&mut text, Some(Range { start: pos(0, 9), end: pos(1, 0) }), "");
        assert_eq!(text, "let x = 1let why = 2\n");
        apply_change(&mut text, None, "new");
        assert_eq!(text, "new");
    }

    #[test]
    fn uris_round_trip() {
        let path = "/tmp/a dir/ré#cipe.plumb";
        let uri = file_uri(path);
        assert_eq!(uri, "file:///tmp/a%20dir/r%C3%A9%23cipe.plumb");
        assert_eq!(uri_path(&uri).as_deref(), Some(path));
        assert_eq!(uri_path("untitled:Untitled-1"), None);
        assert_eq!(uri_path("file://localhost/x.plumb").as_deref(), Some("/x.plumb"));
    }
}
