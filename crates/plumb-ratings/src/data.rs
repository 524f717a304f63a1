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

/// `file:line`, formatted only when an error needs it.
struct Location<'a> {
    file: &'a str,
    line: usize,
}

impl std::fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
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
    let width = columns.len();
    let mut interner = Interner::default();
    let mut rows = Vec::new();
    let mut fields: Vec<&str> = Vec::with_capacity(width + 1);
    for (index, line) in lines {
        let at = Location { file, line: index + 1 };
        fields.clear();
        fields.extend(line.split(',').map(str::trim));
        if fields.len() != width {
            return err("P0602", format!("{at}: expected {width} fields, found {}", fields.len()));
        }
        let (a, b) = (fields[0], fields[1]);
        if a.is_empty() || b.is_empty() {
            return err("P0602", format!("{at}: an item name is empty"));
        }
        if a == b {
            return err("P0602", format!("{at}: `{a}` is compared with itself"));
        }
        let (wins_a, wins_b, ties) = if counts {
            let mut values = [0.0; 3];
            for (k, field) in fields[2..].iter().enumerate() {
                match field.parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => values[k] = x,
                    _ => {
                        return err(
                            "P0602",
                            format!("{at}: `{}` must be a count ≥ 0, found `{field}`", columns[k + 2]),
                        );
                    }
                }
            }
            (values[0], values[1], values[2])
        } else {
            match fields[2] {
                "a" => (1.0, 0.0, 0.0),
                "b" => (0.0, 1.0, 0.0),
                "tie" => (0.0, 0.0, 1.0),
                other => return err("P0602", format!("{at}: winner must be a, b or tie, found `{other}`")),
            }
        };
        let (a, b) = (interner.get(a), interner.get(b));
        rows.push(PairRow { a, b, wins_a, wins_b, ties });
    }
    if rows.is_empty() {
        return err("P0601", format!("{file} has a header but no comparisons"));
    }
    Ok(Dataset { items: interner.items, observations: Observations::Pairs(rows) })
}

/// Parses JSONL rankings: each non-blank line a JSON array of item names, best first.
pub fn parse_rankings(text: &str, file: &str) -> Result<Dataset, RatingsError> {
    let mut interner = Interner::default();
    let mut rankings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{file}:{}", index + 1);
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(error) => return err("P0603", format!("{at}: not valid JSON ({error})")),
        };
        let Some(list) = value.as_array() else {
            return err("P0603", format!("{at}: a ranking must be a JSON array of item names, best first"));
        };
        let mut ranking = Vec::with_capacity(list.len());
        for entry in list {
            let name = match entry {
                serde_json::Value::String(s) if !s.is_empty() => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => return err("P0603", format!("{at}: an item must be a non-empty string, found {other}")),
            };
            let i = interner.get(&name);
            if ranking.contains(&i) {
                return err("P0603", format!("{at}: `{name}` appears twice in one ranking"));
            }
            ranking.push(i);
        }
        if ranking.len() < 2 {
            return err("P0603", format!("{at}: a ranking needs at least two items"));
        }
        rankings.push(ranking);
    }
    if rankings.is_empty() {
        return err("P0601", format!("{file} has no rankings"));
    }
    Ok(Dataset { items: interner.items, observations: Observations::Rankings(rankings) })
}
