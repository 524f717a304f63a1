//! A Plumb loss compiled to a fused CPU kernel, evaluated on the per-row
//! quantities the models produced: the loss, its per-row values and its
//! gradient with respect to every model output.

use plumb_cli::eval_loss::{self, EvalError};
use plumb_interp::Batch;
use plumb_ir::Shape;
use plumb_lower::{Column, LoweredLoss};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub struct Objective {
    pub name: String,
    pub params: BTreeMap<String, f64>,
    lowered: LoweredLoss,
    kernel: Arc<plumb_cpu::CompiledGraph>,
}

/// What one evaluation gives.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectiveValue {
    pub loss: f64,
    /// Per-row values, when the loss has them.
    pub rows: Option<Vec<f64>>,
    /// d loss / d column, for the columns that take gradients.
    pub grads: BTreeMap<String, Vec<f64>>,
}

impl Objective {
    /// Compiles a loss (from `recipe`, or the stdlib) with `name=value` parameter overrides.
    pub fn compile(name: &str, overrides: &[(String, String)], recipe: Option<&Path>) -> Result<Self, EvalError> {
        let mut db = plumb_db::RootDatabase::default();
        let resolved = eval_loss::resolve_loss(&mut db, name, recipe)?;
        let params = eval_loss::parameter_values(&resolved.loss, overrides)?;
        let (lowered, graph) = eval_loss::compile(&resolved, &params)?;
        if lowered.uses_tokens {
            return Err(EvalError {
                code: "P0513",
                message: format!(
                    "`{name}` is token-level; training from model outputs takes sequence-level losses for now"
                ),
            });
        }
        let kernel = plumb_cpu::compile(&graph)
            .map_err(|e| EvalError { code: "P0513", message: format!("the CPU backend cannot run `{name}`: {e}") })?;
        Ok(Objective { name: name.to_string(), params, lowered, kernel })
    }

    /// The inputs the loss reads, in order.
    pub fn columns(&self) -> &[Column] {
        &self.lowered.columns
    }

    /// The kernel's inputs in column order; a column `inputs` lacks takes its default.
    fn assemble(&self, rows: usize, inputs: &BTreeMap<String, Vec<f32>>) -> Result<Vec<Vec<f32>>, EvalError> {
        let mut data: Vec<Vec<f32>> = Vec::with_capacity(self.lowered.columns.len());
        for column in &self.lowered.columns {
            debug_assert_eq!(column.shape, Shape::Rows);
            let values = match (inputs.get(&column.name), column.default) {
                (Some(values), _) if values.len() == rows => values.clone(),
                (Some(values), _) => {
                    return Err(EvalError {
                        code: "P0513",
                        message: format!("column `{}` has {} values for {rows} rows", column.name, values.len()),
                    });
                }
                (None, Some(default)) => vec![default as f32; rows],
                (None, None) => {
                    return Err(EvalError {
                        code: "P0502",
                        message: format!("`{}` needs column `{}`, which nothing provides", self.name, column.name),
                    });
                }
            };
            data.push(values);
        }
        Ok(data)
    }

    /// Where a non-finite loss comes from: the first operation of the loss
    /// (evaluated by the f64 interpreter) that turns finite operands into a
    /// non-finite value, with its operands and the row of the batch.
    pub fn explain_non_finite(&self, rows: usize, inputs: &BTreeMap<String, Vec<f32>>) -> Option<String> {
        let data: Vec<Vec<f64>> =
            self.assemble(rows, inputs).ok()?.into_iter().map(|c| c.into_iter().map(f64::from).collect()).collect();
        let graph = &self.lowered.graph;
        let values = plumb_interp::run(graph, &Batch::rows(rows), &data).ok()?;
        let at = |id: plumb_ir::NodeId, k: usize| {
            let v = &values[id.index()];
            v.get(if v.len() == 1 { 0 } else { k }).copied().unwrap_or(f64::NAN)
        };
        for (i, node) in graph.nodes.iter().enumerate() {
            for (k, v) in values[i].iter().enumerate() {
                let operands = node.op.operands();
                if v.is_finite() || operands.is_empty() || !operands.iter().all(|&o| at(o, k).is_finite()) {
                    continue;
                }
                let name = match &node.op {
                    plumb_ir::Op::Unary(op, _) => op.name().to_string(),
                    plumb_ir::Op::Binary(op, ..) => op.name().to_string(),
                    other => format!("{other:?}").split(['(', ' ', '{']).next().unwrap_or("op").to_lowercase(),
                };
                let args: Vec<String> = operands.iter().map(|&o| format!("{}", at(o, k))).collect();
                let row = if values[i].len() == 1 { String::new() } else { format!(" in row {} of the batch", k + 1) };
                return Some(format!(
                    "`{name}` of {} gives {v}{row} (node %{i} of `plumb dump ir RECIPE --loss {}`)",
                    args.join(", "),
                    self.name
                ));
            }
        }
        None
    }

    /// Evaluates on `rows` rows; `inputs` maps column names to one value per row.
    /// A column the loss reads but `inputs` lacks takes its default.
    pub fn evaluate(
        &self,
        rows: usize,
        inputs: &BTreeMap<String, Vec<f32>>,
        threads: usize,
    ) -> Result<ObjectiveValue, EvalError> {
        let data = self.assemble(rows, inputs)?;
        let outputs = self
            .kernel
            .run(&Batch::rows(rows), &data, threads.max(1))
            .map_err(|e| EvalError { code: "P0513", message: e.to_string() })?;
        let mut value = ObjectiveValue { loss: f64::NAN, rows: None, grads: BTreeMap::new() };
        for (name, values) in outputs {
            match name.as_str() {
                "loss" => value.loss = values.first().copied().unwrap_or(f64::NAN),
                "rows" => value.rows = Some(values),
                other => {
                    if let Some(column) = other.strip_prefix("grad.") {
                        value.grads.insert(column.to_string(), values);
                    }
                }
            }
        }
        Ok(value)
    }
}
