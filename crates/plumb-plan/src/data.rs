//! The data stages, which need no model: loading a JSONL, CSV or Parquet file
//! with schema validation (errors at `file:line`, or `file: row N` for
//! Parquet), and the seeded train/holdout split.
//! Rows travel between stages as JSONL with every schema field present.

use crate::plan::FieldSpec;
use plumb_runtime::{RuntimeError, write_atomic};
use serde_json::{Map, Value};
use std::path::Path;

/// Code of a malformed data file or row.
pub const BAD_DATA: &str = "P0820";

fn bad(at: String, message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::new(BAD_DATA, format!("{at}: {message}"))
}

/// Checks one value against a schema type; returns it normalised.
fn check_field(field: &FieldSpec, value: Option<&Value>, at: &str) -> Result<Value, RuntimeError> {
    let value = match value {
        None | Some(Value::Null) => match (&field.default, field.optional) {
            (Some(default), _) => return Ok(default.clone()),
            (None, true) => return Ok(Value::Null),
            (None, false) => return Err(bad(at.to_string(), format!("missing field `{}`", field.name))),
        },
        Some(v) => v,
    };
    let wrong = |want: &str| bad(at.to_string(), format!("field `{}` must be {want}, found {value}", field.name));
    let base = field.ty.split('[').next().unwrap_or("");
    if field.ty.contains('[') {
        let Some(items) = value.as_array() else { return Err(wrong("a list")) };
        if base == "Text" {
            if !items.iter().all(Value::is_string) {
                return Err(wrong("a list of strings"));
            }
        } else if !items.iter().all(Value::is_number) {
            return Err(wrong("a list of numbers"));
        }
        return Ok(value.clone());
    }
    match base {
        "Text" => match value.as_str() {
            Some("") => Err(bad(at.to_string(), format!("field `{}` is empty", field.name))),
            Some(_) => Ok(value.clone()),
            // A conversation: rendered with the model's chat template where a model reads it.
            None if plumb_hir::is_conversation(value) => Ok(value.clone()),
            None => Err(wrong("text or a list of {role, content} messages")),
        },
        "bool" => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::Number(n) if n.as_f64() == Some(0.0) || n.as_f64() == Some(1.0) => {
                Ok(Value::Bool(n.as_f64() == Some(1.0)))
            }
            _ => Err(wrong("true or false")),
        },
        "i64" | "i32" => value.as_i64().map(Value::from).ok_or_else(|| wrong("an integer")),
        _ => value.as_f64().filter(|x| x.is_finite()).map(|_| value.clone()).ok_or_else(|| wrong("a finite number")),
    }
}

fn normalise(row: &Map<String, Value>, fields: &[FieldSpec], at: &str) -> Result<Value, RuntimeError> {
    if fields.is_empty() {
        return Ok(Value::Object(row.clone()));
    }
    let mut out = row.clone();
    for field in fields {
        out.insert(field.name.clone(), check_field(field, row.get(&field.name), at)?);
    }
    Ok(Value::Object(out))
}

fn csv_value(raw: &str, field: Option<&FieldSpec>) -> Value {
    let base = field.map_or("Text", |f| f.ty.split('[').next().unwrap_or("Text"));
    match base {
        "Text" => Value::String(raw.to_string()),
        _ if raw.is_empty() => Value::Null,
        "bool" => match raw.trim() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            other => Value::String(other.to_string()),
        },
        _ => raw.trim().parse::<f64>().map_or_else(|_| Value::String(raw.to_string()), Value::from),
    }
}

/// Splits a CSV line with double-quoted fields ("" escapes a quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if current.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut current)),
            (c, _) => current.push(c),
        }
    }
    if quoted {
        return Err("an unterminated quoted field (quoted fields cannot span lines)".into());
    }
    fields.push(current);
    Ok(fields)
}

/// Reads and validates `path` into normalised rows.
pub fn load_rows(path: &Path, shown: &str, format: &str, fields: &[FieldSpec]) -> Result<Vec<Value>, RuntimeError> {
    if format == "parquet" {
        return load_parquet(path, shown, fields);
    }
    let bytes = std::fs::read(path).map_err(|e| RuntimeError::io(BAD_DATA, "read", path, &e))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| bad(shown.to_string(), format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to())))?;
    let mut rows = Vec::new();
    match format {
        "csv" => {
            let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
            let Some((_, header)) = lines.next() else {
                return Err(bad(shown.to_string(), "empty file: expected a header row"));
            };
            let names = csv_fields(header).map_err(|e| bad(format!("{shown}:1"), e))?;
            for (index, line) in lines {
                let at = format!("{shown}:{}", index + 1);
                let values = csv_fields(line).map_err(|e| bad(at.clone(), e))?;
                if values.len() != names.len() {
                    return Err(bad(at, format!("{} fields, the header has {}", values.len(), names.len())));
                }
                let row: Map<String, Value> = names
                    .iter()
                    .zip(&values)
                    .map(|(n, v)| (n.clone(), csv_value(v, fields.iter().find(|f| f.name == *n))))
                    .collect();
                rows.push(normalise(&row, fields, &at)?);
            }
        }
        _ => {
            for (index, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let at = format!("{shown}:{}", index + 1);
                let value: Value = serde_json::from_str(line)
                    .map_err(|e| bad(format!("{at}:{}", e.column()), format!("not valid JSON ({e})")))?;
                let Value::Object(row) = value else { return Err(bad(at, "a row must be a JSON object")) };
                rows.push(normalise(&row, fields, &at)?);
            }
        }
    }
    if rows.is_empty() {
        return Err(bad(shown.to_string(), "no rows"));
    }
    Ok(rows)
}

fn load_parquet(path: &Path, shown: &str, fields: &[FieldSpec]) -> Result<Vec<Value>, RuntimeError> {
    use parquet::file::reader::SerializedFileReader;
    let file = std::fs::File::open(path).map_err(|e| RuntimeError::io(BAD_DATA, "read", path, &e))?;
    let reader =
        SerializedFileReader::new(file).map_err(|e| bad(shown.to_string(), format!("not a Parquet file ({e})")))?;
    let mut rows = Vec::new();
    for (index, row) in reader.into_iter().enumerate() {
        let at = format!("{shown}: row {}", index + 1);
        let row = row.map_err(|e| bad(at.clone(), e))?;
        let Value::Object(object) = row.to_json_value() else {
            return Err(bad(at, "a row must be a record"));
        };
        rows.push(normalise(&object, fields, &at)?);
    }
    if rows.is_empty() {
        return Err(bad(shown.to_string(), "no rows"));
    }
    Ok(rows)
}

pub fn write_rows(path: &Path, rows: &[Value]) -> Result<(), RuntimeError> {
    let mut text = String::new();
    for row in rows {
        text.push_str(&row.to_string());
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

pub fn read_rows(path: &Path) -> Result<Vec<Value>, RuntimeError> {
    let text = std::fs::read_to_string(path).map_err(|e| RuntimeError::io(BAD_DATA, "read", path, &e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| bad(path.display().to_string(), e)))
        .collect()
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which rows go to the holdout part: `round(n·holdout)` rows (at least 1 and at
/// most n − 1) chosen by a seeded shuffle; each part keeps the file's order.
pub fn split_rows(rows: Vec<Value>, holdout: f64, seed: u64) -> Result<(Vec<Value>, Vec<Value>), RuntimeError> {
    let n = rows.len();
    if n < 2 {
        return Err(RuntimeError::new(BAD_DATA, format!("cannot split {n} row(s) into train and holdout")));
    }
    let take = ((n as f64 * holdout).round() as usize).clamp(1, n - 1);
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed;
    for i in (1..n).rev() {
        let j = ((u128::from(splitmix(&mut state)) * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
    let mut in_holdout = vec![false; n];
    for &i in &order[..take] {
        in_holdout[i] = true;
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (row, h) in rows.into_iter().zip(in_holdout) {
        if h { held.push(row) } else { train.push(row) }
    }
    Ok((train, held))
}

/// A scored row's non-empty candidates with their scores.
pub fn scored_candidates(row: &Value) -> Result<Vec<(String, f64)>, RuntimeError> {
    let (Some(completions), Some(scores)) = (row["completions"].as_array(), row["scores"].as_array()) else {
        return Err(RuntimeError::new(BAD_DATA, "expected scored candidates (`completions` and `scores`)"));
    };
    Ok(completions
        .iter()
        .zip(scores)
        .filter_map(|(c, s)| Some((c.as_str()?.to_string(), s.as_f64()?)))
        .filter(|(c, _)| !c.trim().is_empty())
        .collect())
}

/// A seeded index below `n` for item `index`.
pub fn pick(seed: u64, index: u64, n: usize) -> usize {
    let mut state = seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03);
    ((u128::from(splitmix(&mut state)) * n as u128) >> 64) as usize
}
