//! Reading comparisons: pairwise CSV (`item_a,item_b,winner` or counts
//! `item_a,item_b,wins_a,wins_b[,ties]`) and JSONL rankings, best first.
//! Items are kept as strings exactly as written (`000` stays `000`).

use crate::RatingsError;
use std::collections::HashMap;

/// One row of pairwise data: item indices and outcome counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairRow {
    pub a: u32,
    pub b: u32,
    pub wins_a: f64,
    pub wins_b: f64,
    pub ties: f64,
}

/// What a file holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Observations {
    /// Pairwise rows (one comparison each, or counts).
    Pairs(Vec<PairRow>),
    /// Rankings, best first, of at least two distinct items each.
    Rankings(Vec<Vec<u32>>),
}

/// Items in order of first appearance and the observations over their indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub items: Vec<String>,
    pub observations: Observations,
}

impl Dataset {
    /// The index of an item by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.items.iter().position(|item| item == name)
    }

    /// The number of individual comparisons (pairwise) or rankings.
    pub fn units(&self) -> f64 {
        match &self.observations {
            Observations::Pairs(rows) => rows.iter().map(|r| r.wins_a + r.wins_b + r.ties).sum(),
            Observations::Rankings(r) => r.len() as f64,
        }
    }
}

#[derive(Default)]
struct Interner {
    items: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn get(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.items.len() as u32;
        self.items.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }
}

fn err<T>(code: &'static str, message: String) -> Result<T, RatingsError> {
    Err(RatingsError { code, message })
}

/// Reads a file: `.jsonl`/`.json` as rankings, anything else as CSV.
pub fn load(path: &std::path::Path) -> Result<Dataset, RatingsError> {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => return err("P0601", format!("cannot read {shown}: {error}")),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return err("P0601", format!("{shown} is not valid UTF-8"));
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext == "jsonl" || ext == "json" || text.trim_start().starts_with('[') {
        parse_rankings(&text, &shown)
    } else {
        parse_csv(&text, &shown)
    }
}

/// Parses pairwise CSV with a header naming the columns.
pub fn parse_csv(text: &str, file: &str) -> Result<Dataset, RatingsError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((header_index, header)) = lines.next() else {
        return err(
            "P0601",
            format!(
                "{file} is empty: expected a header `item_a,item_b,winner` or `item_a,item_b,wins_a,wins_b[,ties]`"
            ),
        );
    };
    let columns: Vec<&str> = header.split(',').map(|c| c.trim().trim_start_matches('\u{feff}')).collect();
    let counts = match columns.as_slice() {
        ["item_a", "item_b", "winner"] => false,
        ["item_a", "item_b", "wins_a", "wins_b"] | ["item_a", "item_b", "wins_a", "wins_b", "ties"] => true,
        _ => {
            return err(
                "P0601",
                format!(
                    "{file}:{}: unknown header `{}`: expected `item_a,item_b,winner` or `item_a,item_b,wins_a,wins_b[,ties]`",
                    header_index + 1,
                    header.trim()
                ),
            );
        }
    };
    let body_start = match lines.next() {
        Some((_, first)) => first.as_ptr() as usize - text.as_ptr() as usize,
        None => text.len(),
    };
    let first_line = text[..body_start].matches('\n').count();
    let (items, rows) = parse_in_pieces(
        &text[body_start..],
        file,
        first_line,
        &|piece| parse_rows(piece, &columns, counts),
        |r: &mut PairRow, global| {
            r.a = global[r.a as usize];
            r.b = global[r.b as usize];
        },
    )?;
    if rows.is_empty() {
        return err("P0601", format!("{file} has a header but no comparisons"));
    }
    Ok(Dataset { items, observations: Observations::Pairs(rows) })
}

/// Parses `text` (whose first line is line `first_line + 1` of `file`) in pieces
/// cut at line ends, on all cores for large texts, each piece with its own item
/// table; the tables are then merged in file order and `remap` puts each row on
/// the merged indices in place (rows stay where their piece allocated them,
/// close together, which the fits' passes over rankings feel), so items keep
/// their order of first appearance and the result does not depend on the cut.
/// An error is the first one in the file.
fn parse_in_pieces<T: Send>(
    text: &str,
    file: &str,
    first_line: usize,
    parse: &(dyn Fn(&str) -> PieceResult<T> + Sync),
    remap: impl Fn(&mut T, &[u32]),
) -> Result<(Vec<String>, Vec<T>), RatingsError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let pieces = split_at_line_ends(text, if text.len() > 1 << 20 { threads } else { 1 });
    let parsed: Vec<PieceResult<T>> = if pieces.len() == 1 {
        vec![parse(pieces[0])]
    } else {
        std::thread::scope(|scope| {
            let later: Vec<_> = pieces[1..].iter().map(|piece| scope.spawn(move || parse(piece))).collect();
            let mut all = vec![parse(pieces[0])];
            all.extend(later.into_iter().map(|h| h.join().unwrap_or_else(|_| Err((0, internal_error())))));
            all
        })
    };
    let mut interner = Interner::default();
    let mut rows = Vec::new();
    let mut line_offset = first_line;
    for result in parsed {
        let piece = match result {
            Ok(piece) => piece,
            Err((line, mut error)) => {
                error.message = format!("{file}:{}: {}", line_offset + line + 1, error.message);
                return Err(error);
            }
        };
        let global: Vec<u32> = piece.items.iter().map(|name| interner.get(name)).collect();
        let mut piece_rows = piece.rows;
        for row in &mut piece_rows {
            remap(row, &global);
        }
        if rows.is_empty() {
            rows = piece_rows;
        } else {
            rows.extend(piece_rows);
        }
        line_offset += piece.lines;
    }
    Ok((interner.items, rows))
}

fn internal_error() -> RatingsError {
    RatingsError { code: "P0601", message: "a parsing thread failed".into() }
}

/// `text` cut into up to `parts` pieces of similar length, each ending at a line end.
fn split_at_line_ends(text: &str, parts: usize) -> Vec<&str> {
    let mut pieces = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 1..parts {
        // Searched in bytes: `target` may fall inside a multi-byte character, and a
        // line end (ASCII) is always a character boundary.
        let target = (text.len() * k / parts).max(start);
        let Some(newline) = text.as_bytes()[target..].iter().position(|&b| b == b'\n') else { break };
        let end = target + newline + 1;
        pieces.push(&text[start..end]);
        start = end;
    }
    pieces.push(&text[start..]);
    pieces
}

/// A piece's rows, or its first error with the error's line index in the piece.
type PieceResult<T> = Result<Piece<T>, (usize, RatingsError)>;

/// The rows of one piece of a file, over the piece's own item indices.
struct Piece<T> {
    items: Vec<String>,
    rows: Vec<T>,
    /// Lines in the piece (so the next piece knows its first line number; every
    /// piece but the last ends with a line end, so this is its count of them).
    lines: usize,
}

/// Parses the rows of one piece; an error comes with its line index in the piece
/// and a message without the location.
fn parse_rows(piece: &str, columns: &[&str], counts: bool) -> PieceResult<PairRow> {
    let width = columns.len();
    let fail = |line: usize, message: String| Err((line, RatingsError { code: "P0602", message }));
    let mut interner = Interner::default();
    let mut rows = Vec::new();
    let mut fields: Vec<&str> = Vec::with_capacity(width + 1);
    let mut lines = 0;
    for (index, line) in piece.lines().enumerate() {
        lines = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        fields.clear();
        fields.extend(line.split(',').map(str::trim));
        if fields.len() != width {
            return fail(index, format!("expected {width} fields, found {}", fields.len()));
        }
        let (a, b) = (fields[0], fields[1]);
        if a.is_empty() || b.is_empty() {
            return fail(index, "an item name is empty".into());
        }
        if a == b {
            return fail(index, format!("`{a}` is compared with itself"));
        }
        let (wins_a, wins_b, ties) = if counts {
            let mut values = [0.0; 3];
            for (k, field) in fields[2..].iter().enumerate() {
                match field.parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => values[k] = x,
                    _ => return fail(index, format!("`{}` must be a count ≥ 0, found `{field}`", columns[k + 2])),
                }
            }
            (values[0], values[1], values[2])
        } else {
            match fields[2] {
                "a" => (1.0, 0.0, 0.0),
                "b" => (0.0, 1.0, 0.0),
                "tie" => (0.0, 0.0, 1.0),
                other => return fail(index, format!("winner must be a, b or tie, found `{other}`")),
            }
        };
        let (a, b) = (interner.get(a), interner.get(b));
        rows.push(PairRow { a, b, wins_a, wins_b, ties });
    }
    Ok(Piece { items: interner.items, rows, lines })
}

/// Parses JSONL rankings: each non-blank line a JSON array of item names, best first.
pub fn parse_rankings(text: &str, file: &str) -> Result<Dataset, RatingsError> {
    let (items, rankings) = parse_in_pieces(text, file, 0, &parse_ranking_lines, |ranking: &mut Vec<u32>, global| {
        ranking.iter_mut().for_each(|i| *i = global[*i as usize]);
    })?;
    if rankings.is_empty() {
        return err("P0601", format!("{file} has no rankings"));
    }
    Ok(Dataset { items, observations: Observations::Rankings(rankings) })
}

/// The rankings of one piece of a JSONL file (see [`parse_rows`] for the error form).
fn parse_ranking_lines(piece: &str) -> PieceResult<Vec<u32>> {
    let fail = |line: usize, message: String| Err((line, RatingsError { code: "P0603", message }));
    let mut interner = Interner::default();
    let mut rankings = Vec::new();
    let mut lines = 0;
    for (index, line) in piece.lines().enumerate() {
        lines = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(error) => return fail(index, format!("not valid JSON ({error})")),
        };
        let Some(list) = value.as_array() else {
            return fail(index, "a ranking must be a JSON array of item names, best first".into());
        };
        let mut ranking = Vec::with_capacity(list.len());
        for entry in list {
            let name = match entry {
                serde_json::Value::String(s) if !s.is_empty() => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => return fail(index, format!("an item must be a non-empty string, found {other}")),
            };
            let i = interner.get(&name);
            if ranking.contains(&i) {
                return fail(index, format!("`{name}` appears twice in one ranking"));
            }
            ranking.push(i);
        }
        if ranking.len() < 2 {
            return fail(index, "a ranking needs at least two items".into());
        }
        rankings.push(ranking);
    }
    Ok(Piece { items: interner.items, rows: rankings, lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_cut_at_line_ends_even_among_multibyte_characters() {
        let line = "ünïcødé—名前,другой,a\n";
        let text = line.repeat(1000);
        for parts in 1..=7 {
            let pieces = split_at_line_ends(&text, parts);
            assert_eq!(pieces.concat(), text, "{parts} parts");
            assert!(pieces.iter().rev().skip(1).all(|p| p.ends_with('\n')), "{parts} parts");
        }
        // Every byte offset of a target inside a character, on a short text too.
        let short = "é\néé\né";
        for parts in 1..=short.len() {
            assert_eq!(split_at_line_ends(short, parts).concat(), short);
        }
    }

    #[test]
    fn any_text_parses_or_fails_with_a_code() {
        // Arbitrary byte soup (valid UTF-8) after a valid header, on several threads.
        let mut state = 1u64;
        let alphabet = ['a', 'b', ',', '\n', '\r', ' ', 'é', '名', '1', '.', '-', 't', 'i', 'e'];
        for _ in 0..200 {
            let mut body = String::new();
            for _ in 0..(state % 4000) {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                body.push(alphabet[(state >> 33) as usize % alphabet.len()]);
            }
            for header in ["item_a,item_b,winner\n", "item_a,item_b,wins_a,wins_b,ties\n"] {
                let text = format!("{header}{body}");
                if let Err(e) = parse_csv(&text, "f.csv") {
                    assert!(e.code == "P0601" || e.code == "P0602", "{e:?}");
                }
                // Forced into pieces, too.
                for parts in [2, 3] {
                    let pieces = split_at_line_ends(&body, parts);
                    assert_eq!(pieces.concat(), body);
                }
            }
        }
    }
}
