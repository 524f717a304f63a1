//! The one check that reads the file system: data files named by literal paths
//! (`jsonl("pairs.jsonl") as Pairwise`) are opened and their first rows (JSONL)
//! or header (CSV) checked against the declared schema, so a missing or
//! mistyped column is reported by `plumb check`, not hours into a run.
//! Not a salsa query: callers run it after the queries, with the recipe's directory.

use crate::{DefKind, file_items, parse_item_text, scope, walk};
use plumb_db::{Db, SourceFile};
use plumb_diag::Diagnostic;
use plumb_syntax::ast::{Expr, ExprKind, ItemKind};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// How many JSONL rows are checked per file.
pub const ROWS_CHECKED: usize = 200;

struct Column {
    name: String,
    scalar: String,
    list: bool,
    required: bool,
}

/// Checks every data file the recipe reads by a literal path; `base` is the
/// directory that relative paths resolve against.
pub fn check_data_files(db: &dyn Db, file: SourceFile, base: &Path) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for entry in &file_items(db, file).entries {
        let parse = parse_item_text(db, entry.text);
        let Some(item) = &parse.item else { continue };
        let mut sources = Vec::new();
        collect_sources(&item.kind, &mut sources);
        for (format, path, path_span, schema) in sources {
            let Some(columns) = schema_columns(db, file, &schema) else {
                continue;
            };
            let span = path_span.shifted(entry.offset);
            let full = base.join(&path);
            if !full.is_file() {
                diagnostics.push(
                    Diagnostic::warning("P0330", format!("the data file `{path}` does not exist (yet)"), span)
                        .with_label("not found")
                        .with_help(format!(
                            "paths are relative to the recipe's directory; looked for {}",
                            full.display()
                        )),
                );
                continue;
            }
            let problem = match format.as_str() {
                "jsonl" => check_jsonl(&full, &columns, &schema),
                "csv" => check_csv(&full, &columns, &schema),
                _ => None,
            };
            if let Some((line, message)) = problem {
                diagnostics.push(
                    Diagnostic::error("P0331", format!("{path}:{line}: {message}"), span)
                        .with_label(format!("read as {schema}"))
                        .with_help(format!(
                            "fix the data, or declare the schema it has; {schema} needs {}",
                            describe(&columns)
                        )),
                );
            }
        }
    }
    diagnostics
}

fn describe(columns: &[Column]) -> String {
    columns
        .iter()
        .filter(|c| c.required)
        .map(|c| format!("`{}` ({}{})", c.name, c.scalar, if c.list { " list" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ")
}

type Source = (String, String, plumb_diag::Span, String);

fn collect_sources(kind: &ItemKind, out: &mut Vec<Source>) {
    let mut visit = |e: &Expr| {
        if let ExprKind::Cast(inner, schema) = &e.kind
            && let ExprKind::Call { callee, args } = &inner.kind
            && let ExprKind::Name(format) = &callee.kind
            && matches!(format.as_str(), "jsonl" | "csv" | "parquet")
            && let Some(arg) = args.first()
            && let ExprKind::Str(path) = &arg.value.kind
        {
            out.push((format.clone(), path.clone(), arg.value.span, schema.text.clone()));
        }
    };
    match kind {
        ItemKind::Let(b) | ItemKind::Model(b) => walk::each_expr(&b.value, &mut visit),
        ItemKind::Train(t) => walk::each_expr(&t.data, &mut visit),
        ItemKind::Eval(e) => walk::each_expr(&e.data, &mut visit),
        ItemKind::Fit(f) => walk::each_expr(&f.value, &mut visit),
        ItemKind::Repeat(r) => {
            for inner in &r.items {
                collect_sources(&inner.kind, out);
            }
        }
        _ => {}
    }
}

fn schema_columns(db: &dyn Db, file: SourceFile, schema: &str) -> Option<Vec<Column>> {
    let def = scope(db, file).get(schema).copied().filter(|d| d.kind == DefKind::Schema)?;
    let parse = parse_item_text(db, def.item);
    let Some(ItemKind::Schema(s)) = parse.item.as_ref().map(|i| &i.kind) else {
        return None;
    };
    Some(
        s.fields
            .iter()
            .map(|f| Column {
                name: f.name.text.clone(),
                scalar: f.ty.name.text.clone(),
                list: !f.ty.dims.is_empty(),
                required: f.default.is_none() && !f.ty.optional,
            })
            .collect(),
    )
}

/// A Hugging Face conversation: a list of `{role, content}` messages, which
/// `plumb run` renders to text with the model's chat template.
pub fn is_conversation(value: &serde_json::Value) -> bool {
    value.as_array().is_some_and(|messages| {
        !messages.is_empty() && messages.iter().all(|m| m["role"].is_string() && m["content"].is_string())
    })
}

fn fits(value: &serde_json::Value, scalar: &str) -> bool {
    match scalar {
        "Text" => value.is_string() || is_conversation(value),
        "f32" | "f64" => value.is_number(),
        "i64" | "i32" => value.is_i64() || value.is_u64(),
        "bool" => value.is_boolean() || value.as_i64().is_some_and(|v| v == 0 || v == 1),
        _ => true,
    }
}

fn check_jsonl(path: &Path, columns: &[Column], schema: &str) -> Option<(usize, String)> {
    let file = std::fs::File::open(path).ok()?;
    for (index, line) in BufReader::new(file).lines().take(ROWS_CHECKED).enumerate() {
        let number = index + 1;
        let Ok(line) = line else {
            return Some((number, "the line is not valid UTF-8".into()));
        };
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value = match serde_json::from_str(&line) {
            Ok(row) => row,
            Err(error) => return Some((number, format!("not a JSON object ({error})"))),
        };
        let Some(object) = row.as_object() else {
            return Some((number, "the row is not a JSON object".into()));
        };
        for column in columns {
            match object.get(&column.name) {
                None | Some(serde_json::Value::Null) if column.required => {
                    return Some((number, format!("the row has no `{}`, which {schema} requires", column.name)));
                }
                None | Some(serde_json::Value::Null) => {}
                Some(value) => {
                    let ok = if column.list {
                        value.as_array().is_some_and(|items| items.iter().all(|v| fits(v, &column.scalar)))
                    } else {
                        fits(value, &column.scalar)
                    };
                    if !ok {
                        let want =
                            if column.list { format!("a list of {}", column.scalar) } else { column.scalar.clone() };
                        return Some((
                            number,
                            format!("`{}` is {value}, but {schema} declares it {want}", column.name),
                        ));
                    }
                }
            }
        }
    }
    None
}

fn check_csv(path: &Path, columns: &[Column], schema: &str) -> Option<(usize, String)> {
    let file = std::fs::File::open(path).ok()?;
    let mut first = String::new();
    BufReader::new(file).read_line(&mut first).ok()?;
    let header: Vec<String> = first.trim_end().split(',').map(|h| h.trim().trim_matches('"').to_string()).collect();
    for column in columns.iter().filter(|c| c.required) {
        if !header.contains(&column.name) {
            return Some((1, format!("the header has no `{}` column, which {schema} requires", column.name)));
        }
    }
    None
}
