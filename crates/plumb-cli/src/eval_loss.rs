//! `plumb eval-loss`: evaluates a stdlib (or recipe) loss and its gradients on
//! rows of model outputs, with the f64 interpreter, exactly as `losses.md`
//! defines the columns, parameters and output.

use crate::workspace;
use plumb_db::{RootDatabase, SourceFile};
use plumb_hir::{DefKind, DefRef};
use plumb_interp::{Batch, InterpError};
use plumb_ir::Shape;
use plumb_lower::{Column, ColumnKind, LoweredLoss};
use plumb_syntax::ast::{ItemKind, LossItem, Param, SchemaItem};
use std::collections::BTreeMap;
use std::path::Path;

/// What to evaluate.
pub struct EvalRequest<'a> {
    pub loss: &'a str,
    /// `name=value` overrides, values as typed on the command line.
    pub params: Vec<(String, String)>,
    pub rows_jsonl: &'a str,
    pub recipe: Option<&'a Path>,
}

/// The gradient of the batch loss with respect to one column.
#[derive(Clone, Debug, PartialEq)]
pub enum GradColumn {
    Rows(Vec<f64>),
    Tokens(Vec<Vec<f64>>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct EvalOutput {
    pub loss: f64,
    /// Per-row values (None for rows left out), or None when the loss is not per row.
    pub rows: Option<Vec<Option<f64>>>,
    pub grad: BTreeMap<String, GradColumn>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    pub code: &'static str,
    pub message: String,
}

fn fail<T>(code: &'static str, message: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError { code, message: message.into() })
}

/// A loss ready to run: its AST, schema and file.
pub struct ResolvedLoss {
    pub loss: LossItem,
    pub schema: Option<SchemaItem>,
}

/// Finds a loss by name in a recipe (which may shadow the stdlib) or the stdlib.
pub fn resolve_loss(db: &mut RootDatabase, name: &str, recipe: Option<&Path>) -> Result<ResolvedLoss, EvalError> {
    let std_losses = db.file(&plumb_db::std_path("losses")).expect("the stdlib is embedded");
    let mut candidates: Vec<(SourceFile, Option<DefRef>)> = Vec::new();
    if let Some(recipe) = recipe {
        let path = workspace::display_path(recipe);
        let loaded = workspace::load(db, std::slice::from_ref(&path));
        if let Some(error) = loaded.iter().find_map(|f| f.error.clone()) {
            return fail(error.code, format!("{}: {}", path, error.message));
        }
        let file = db.file(&path).expect("loaded");
        let errors: Vec<String> = plumb_hir::file_diagnostics(db, file)
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{} [{}]", d.message, d.code))
            .collect();
        if !errors.is_empty() {
            return fail("P0512", format!("{path} has errors; run `plumb check {path}`: {}", errors.join("; ")));
        }
        candidates.push((file, plumb_hir::scope(db, file).get(name).copied()));
    }
    candidates.push((std_losses, plumb_hir::own_defs(db, std_losses).get(name).copied()));
    let Some((file, def)) =
        candidates.into_iter().find_map(|(f, d)| d.filter(|d| d.kind == DefKind::Loss).map(|d| (f, d)))
    else {
        let known: Vec<String> = plumb_hir::own_defs(db, std_losses)
            .iter()
            .filter(|(_, d)| d.kind == DefKind::Loss)
            .map(|(n, _)| n.clone())
            .collect();
        let hint = match plumb_hir::closest(name, known.iter().map(String::as_str)) {
            Some(near) => format!("; did you mean `{near}`?"),
            None => format!("; the stdlib losses are {}", known.join(", ")),
        };
        return fail("P0510", format!("there is no loss `{name}`{hint}"));
    };
    let parse = plumb_hir::parse_item_text(db, def.item);
    let Some(ItemKind::Loss(loss)) = parse.item.as_ref().map(|i| i.kind.clone()) else {
        return fail("P0510", format!("`{name}` is not a loss"));
    };
    let schema = loss.schema.as_ref().and_then(|s| {
        let def = plumb_hir::scope(db, def.file).get(&s.text).copied()?;
        match plumb_hir::parse_item_text(db, def.item).item.as_ref().map(|i| &i.kind) {
            Some(ItemKind::Schema(schema)) => Some(schema.clone()),
            _ => None,
        }
    });
    let _ = file;
    Ok(ResolvedLoss { loss, schema })
}

/// The parameter values: defaults, then overrides, checked against types and constraints.
pub fn parameter_values(loss: &LossItem, overrides: &[(String, String)]) -> Result<BTreeMap<String, f64>, EvalError> {
    let name = &loss.name.text;
    let mut values = BTreeMap::new();
    for param in &loss.params {
        if let Some(default) = param.default.as_ref().and_then(plumb_lower::literal) {
            values.insert(param.name.text.clone(), default);
        }
    }
    for (key, raw) in overrides {
        let Some(param) = loss.params.iter().find(|p| p.name.text == *key) else {
            let names: Vec<&str> = loss.params.iter().map(|p| p.name.text.as_str()).collect();
            let hint = match plumb_hir::closest(key, names.iter().copied()) {
                Some(near) => format!("; did you mean `{near}`?"),
                None if names.is_empty() => "; it takes none".to_string(),
                None => format!("; it takes {}", names.join(", ")),
            };
            return fail("P0508", format!("`{name}` has no parameter `{key}`{hint}"));
        };
        values.insert(key.clone(), parse_value(name, param, raw)?);
    }
    for param in &loss.params {
        let Some(&value) = values.get(&param.name.text) else {
            return fail(
                "P0508",
                format!(
                    "parameter `{}` of `{name}` has no default; pass --param {}=VALUE",
                    param.name.text, param.name.text
                ),
            );
        };
        if let Some(constraint) = &param.constraint
            && !constraint.admits(value)
        {
            return fail(
                "P0501",
                format!(
                    "parameter `{}` of `{name}` must be {}, but is {value}",
                    param.name.text,
                    constraint.describe()
                ),
            );
        }
    }
    Ok(values)
}

fn parse_value(loss: &str, param: &Param, raw: &str) -> Result<f64, EvalError> {
    let key = &param.name.text;
    match param.ty.name.text.as_str() {
        "bool" => match raw {
            "true" => Ok(1.0),
            "false" => Ok(0.0),
            _ => fail("P0509", format!("parameter `{key}` of `{loss}` is a bool: write true or false, not `{raw}`")),
        },
        "i64" | "i32" => raw
            .parse::<i64>()
            .map(|v| v as f64)
            .or_else(|_| fail("P0509", format!("parameter `{key}` of `{loss}` is an integer, not `{raw}`"))),
        _ => match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => fail("P0509", format!("parameter `{key}` of `{loss}` is a number, not `{raw}`")),
        },
    }
}

/// The parsed rows: per column, the values (flattened for token columns).
struct Rows {
    batch: Batch,
    data: Vec<Vec<f64>>,
    /// Whether each row has an unmasked token (all true without tokens).
    valid: Vec<bool>,
}

fn read_rows(text: &str, lowered: &LoweredLoss) -> Result<Rows, EvalError> {
    let columns = &lowered.columns;
    let mut data: Vec<Vec<f64>> = vec![Vec::new(); columns.len()];
    let mut lengths: Vec<usize> = Vec::new();
    let mut valid = Vec::new();
    let mut rows = 0;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value = match serde_json::from_str(raw) {
            Ok(row) => row,
            Err(error) => return fail("P0511", format!("line {line}: not valid JSON ({error})")),
        };
        let Some(object) = row.as_object() else {
            return fail("P0511", format!("line {line}: a row must be a JSON object"));
        };
        let mut row_length: Option<(String, usize)> = None;
        let mut row_values: Vec<Vec<f64>> = Vec::with_capacity(columns.len());
        for column in columns {
            let value = object.get(&column.name).filter(|v| !v.is_null());
            let values = match (column.shape, value) {
                (_, None) if column.kind == ColumnKind::Mask => None,
                (_, None) => match column.default {
                    Some(default) => Some(vec![default]),
                    None => return fail("P0502", format!("line {line}: missing column `{}`", column.name)),
                },
                (Shape::Tokens, Some(value)) => {
                    let Some(items) = value.as_array() else {
                        return fail(
                            "P0503",
                            format!("line {line}: column `{}` must be a list of numbers", column.name),
                        );
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(number(item, column, line)?);
                    }
                    match &row_length {
                        Some((first, n)) if *n != out.len() => {
                            return fail(
                                "P0505",
                                format!(
                                    "line {line}: token lists differ in length (`{first}` has {n}, `{}` has {})",
                                    column.name,
                                    out.len()
                                ),
                            );
                        }
                        None => row_length = Some((column.name.clone(), out.len())),
                        _ => {}
                    }
                    Some(out)
                }
                (_, Some(value)) => Some(vec![number(value, column, line)?]),
            };
            row_values.push(values.unwrap_or_default());
        }
        let tokens = row_length.as_ref().map(|(_, n)| *n).unwrap_or(0);
        let mut has_unmasked = tokens > 0;
        for (column, values) in columns.iter().zip(&mut row_values) {
            if column.kind == ColumnKind::Mask {
                if values.is_empty() && column.shape == Shape::Tokens {
                    *values = vec![1.0; tokens];
                } else if values.len() != tokens {
                    return fail(
                        "P0505",
                        format!("line {line}: `mask` has {} entries for {tokens} tokens", values.len()),
                    );
                }
                has_unmasked = values.iter().any(|&m| m != 0.0);
            } else if column.shape == Shape::Tokens
                && values.len() == 1
                && tokens != 1
                && object.get(&column.name).is_none()
            {
                *values = vec![values[0]; tokens];
            }
        }
        for (store, values) in data.iter_mut().zip(row_values) {
            store.extend(values);
        }
        lengths.push(tokens);
        valid.push(!lowered.uses_tokens || has_unmasked);
        rows += 1;
    }
    if rows == 0 {
        return fail("P0511", "the input has no rows");
    }
    if lowered.uses_tokens && !valid.iter().any(|&v| v) {
        return fail("P0506", "the batch has no unmasked token; a token-level loss needs at least one");
    }
    let batch = if lowered.uses_tokens { Batch::with_tokens(&lengths) } else { Batch::rows(rows) };
    Ok(Rows { batch, data, valid })
}

fn number(value: &serde_json::Value, column: &Column, line: usize) -> Result<f64, EvalError> {
    let parsed = match (column.kind, value) {
        (ColumnKind::Bool, serde_json::Value::Bool(b)) => Some(f64::from(u8::from(*b))),
        (ColumnKind::Bool | ColumnKind::Mask, v) => v.as_f64().filter(|x| *x == 0.0 || *x == 1.0),
        (_, v) => v.as_f64(),
    };
    let Some(x) = parsed else {
        let want = match column.kind {
            ColumnKind::Bool => "true, false, 1 or 0",
            ColumnKind::Mask => "0 or 1",
            _ => "a number",
        };
        return fail("P0503", format!("line {line}: column `{}` must be {want}, found {value}", column.name));
    };
    if column.kind == ColumnKind::Count && x < 1.0 {
        return fail("P0504", format!("line {line}: `{}` must be at least 1, found {x}", column.name));
    }
    Ok(x)
}

/// The line number (1-based, counting blank lines) of row `row`.
fn line_of_row(text: &str, row: usize) -> usize {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).nth(row).map_or(0, |(i, _)| i + 1)
}

/// Lowers a loss with these parameter values and appends its gradient graph.
pub fn compile(
    resolved: &ResolvedLoss,
    params: &BTreeMap<String, f64>,
) -> Result<(LoweredLoss, plumb_ir::Graph), EvalError> {
    let lowered = plumb_lower::lower_loss(&resolved.loss, resolved.schema.as_ref(), params)
        .or_else(|e| fail("P0513", format!("`{}` cannot be evaluated: {}", resolved.loss.name.text, e.message)))?;
    let graph = plumb_autodiff::differentiate(&lowered.graph, "loss")
        .or_else(|e| fail("P0513", format!("`{}` cannot be differentiated: {e}", resolved.loss.name.text)))?;
    if let Err(errors) = plumb_ir::verify(&graph) {
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        return fail(
            "P0513",
            format!("internal error: the graph of `{}` does not verify: {first}", resolved.loss.name.text),
        );
    }
    Ok((lowered, graph))
}

/// Evaluates a loss on rows with the interpreter (the oracle).
pub fn eval_loss(request: &EvalRequest) -> Result<EvalOutput, EvalError> {
    eval_loss_on(request, crate::Backend::Interp, 1)
}

/// Evaluates a loss on rows with the given backend and thread count.
pub fn eval_loss_on(request: &EvalRequest, backend: crate::Backend, threads: usize) -> Result<EvalOutput, EvalError> {
    let mut db = RootDatabase::default();
    let resolved = resolve_loss(&mut db, request.loss, request.recipe)?;
    let params = parameter_values(&resolved.loss, &request.params)?;
    let (lowered, graph) = compile(&resolved, &params)?;
    let rows = read_rows(request.rows_jsonl, &lowered)?;
    let interpret = || -> Result<Vec<(String, Vec<f64>)>, EvalError> {
        let values = plumb_interp::run(&graph, &rows.batch, &rows.data).map_err(|error| match error {
            InterpError::Domain { shape, index, message, .. } => {
                let row = rows.batch.row_of(shape, index);
                let hint = if request.loss == "orpo" { " (orpo needs pi_chosen and pi_rejected < 0)" } else { "" };
                EvalError {
                    code: "P0507",
                    message: format!("line {}: {message}{hint}", line_of_row(request.rows_jsonl, row)),
                }
            }
            other => EvalError { code: "P0513", message: other.to_string() },
        })?;
        Ok(plumb_interp::outputs(&graph, &values))
    };
    let inputs32 = || -> Vec<Vec<f32>> { rows.data.iter().map(|v| v.iter().map(|&x| x as f32).collect()).collect() };
    let outputs = match backend {
        crate::Backend::Interp => interpret()?,
        crate::Backend::Cpu => {
            let compiled = plumb_cpu::compile(&graph)
                .or_else(|e| fail("P0513", format!("the CPU backend cannot run `{}`: {e}", request.loss)))?;
            compiled.run(&rows.batch, &inputs32(), threads).or_else(|e| fail("P0513", e.to_string()))?
        }
        crate::Backend::Gpu => {
            let compiled = plumb_gpu::compile(&graph)
                .or_else(|e| fail("P0514", format!("the GPU backend cannot run `{}`: {e}", request.loss)))?;
            compiled.run(&rows.batch, &inputs32()).or_else(|e| fail("P0514", e.to_string()))?
        }
    };
    // A NaN loss from an f32 backend may be a domain error the interpreter can name precisely.
    let loss_is_nan = outputs.iter().any(|(n, v)| n == "loss" && v.first().is_some_and(|x| x.is_nan()));
    if loss_is_nan && backend != crate::Backend::Interp {
        interpret()?;
    }
    let value = |name: &str| outputs.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let loss = value("loss").map_or(f64::NAN, |v| v[0]);
    let row_values = value("rows").map(|v| v.iter().zip(&rows.valid).map(|(x, ok)| ok.then_some(*x)).collect());
    let mut grad = BTreeMap::new();
    for column in &lowered.columns {
        if !column.grad {
            continue;
        }
        let Some(g) = value(&format!("grad.{}", column.name)) else { continue };
        let entry = match column.shape {
            Shape::Tokens => {
                GradColumn::Tokens(rows.batch.tok_offsets.windows(2).map(|w| g[w[0]..w[1]].to_vec()).collect())
            }
            _ => GradColumn::Rows(g.clone()),
        };
        grad.insert(column.name.clone(), entry);
    }
    Ok(EvalOutput { loss, rows: row_values, grad })
}

/// A number for JSON output: non-finite values as the strings "NaN", "Infinity", "-Infinity".
pub fn json_number(x: f64) -> serde_json::Value {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "Infinity".into()
    } else if x == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// The `--json` form: `{"loss", "rows", "grad"}`.
pub fn to_json(output: &EvalOutput) -> serde_json::Value {
    let rows = match &output.rows {
        None => serde_json::Value::Null,
        Some(rows) => rows.iter().map(|r| r.map_or(serde_json::Value::Null, json_number)).collect(),
    };
    let grad: serde_json::Map<String, serde_json::Value> = output
        .grad
        .iter()
        .map(|(name, g)| {
            let value = match g {
                GradColumn::Rows(v) => v.iter().copied().map(json_number).collect(),
                GradColumn::Tokens(rows) => {
                    rows.iter().map(|r| r.iter().copied().map(json_number).collect::<serde_json::Value>()).collect()
                }
            };
            (name.clone(), value)
        })
        .collect();
    serde_json::json!({ "loss": json_number(output.loss), "rows": rows, "grad": grad })
}
