//! The registry of diagnostic codes: a title, a longer explanation, and a wrong
//! and a right example for `plumb explain`.

/// One registered code. `wrong` must produce the code, `right` must not (tested).
#[derive(Debug)]
pub struct CodeInfo {
    pub code: &'static str,
    pub title: &'static str,
    pub explanation: &'static str,
    pub wrong: &'static str,
    pub right: &'static str,
}

/// Finds a code, accepting `P0102`, `p0102` or `0102`.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let code = code.trim();
    let digits = code.strip_prefix(['P', 'p']).unwrap_or(code);
    CODES.iter().find(|info| &info.code[1..] == digits)
}

pub use crate::codes_table::CODES;
