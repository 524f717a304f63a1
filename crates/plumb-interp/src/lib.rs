//! The f64 reference interpreter of verified compute graphs: slow, simple and
//! exact enough to be the oracle every compiled backend is tested against.
//!
//! Invariant: results depend only on the graph, the batch layout and the input
//! values (reductions run in index order), and nothing here panics on a
//! verified graph with well-formed inputs; bad inputs are errors.

use plumb_ir::{Axis, Graph, NodeId, Op, Reduce, Scan, Shape, Unary, eval_binary, eval_unary};
use std::fmt;

/// The layout of one batch: how many rows, and where each row's tokens and
/// candidates start in the flattened ragged arrays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub rows: usize,
    /// `rows + 1` offsets into token arrays (empty when there are no tokens).
    pub tok_offsets: Vec<usize>,
    /// `rows + 1` offsets into candidate arrays (empty when there are none).
    pub k_offsets: Vec<usize>,
    pub items: usize,
}

impl Batch {
    pub fn rows(rows: usize) -> Self {
        Batch { rows, ..Batch::default() }
    }

    /// A batch whose rows have these token counts.
    pub fn with_tokens(lengths: &[usize]) -> Self {
        let mut offsets = vec![0];
        for l in lengths {
            offsets.push(offsets.last().copied().unwrap_or(0) + l);
        }
        Batch { rows: lengths.len(), tok_offsets: offsets, ..Batch::default() }
    }

    fn offsets(&self, shape: Shape) -> &[usize] {
        match shape {
            Shape::Tokens => &self.tok_offsets,
            _ => &self.k_offsets,
        }
    }

    /// The number of values of a shape.
    pub fn len(&self, shape: Shape) -> usize {
        match shape {
            Shape::Scalar => 1,
            Shape::Rows => self.rows,
            Shape::Tokens | Shape::Cands => self.offsets(shape).last().copied().unwrap_or(0),
            Shape::Items => self.items,
        }
    }

    /// Checks that the offsets describe `rows` rows (start at 0, never decrease).
    pub fn validate(&self) -> Result<(), String> {
        for (name, offsets) in [("token", &self.tok_offsets), ("candidate", &self.k_offsets)] {
            if offsets.is_empty() {
                continue;
            }
            if offsets.len() != self.rows + 1 || offsets[0] != 0 || offsets.windows(2).any(|w| w[0] > w[1]) {
                return Err(format!("the {name} offsets do not describe {} rows", self.rows));
            }
        }
        Ok(())
    }

    /// Checks that inputs of these lengths fit `graph` on this batch, and the offsets.
    pub fn check_inputs(&self, graph: &Graph, lengths: &[usize]) -> Result<(), String> {
        if lengths.len() != graph.inputs.len() {
            return Err(format!("{} inputs given, the graph has {}", lengths.len(), graph.inputs.len()));
        }
        for (input, &len) in graph.inputs.iter().zip(lengths) {
            if len != self.len(input.shape) {
                return Err(format!(
                    "input `{}` has {len} values, the batch needs {}",
                    input.name,
                    self.len(input.shape)
                ));
            }
        }
        self.validate()
    }

    /// The row that element `index` of a ragged shape belongs to.
    pub fn row_of(&self, shape: Shape, index: usize) -> usize {
        match shape {
            Shape::Tokens | Shape::Cands => {
                let offsets = self.offsets(shape);
                offsets.partition_point(|&o| o <= index).saturating_sub(1)
            }
            Shape::Rows => index,
            _ => 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum InterpError {
    /// The graph has an input the caller did not give.
    MissingInput(String),
    WrongLength {
        input: String,
        expected: usize,
        got: usize,
    },
    /// A value outside an op's domain (e.g. `log1mexp` of a non-negative number).
    Domain {
        node: NodeId,
        shape: Shape,
        index: usize,
        message: String,
    },
    /// An index (gather, scatter, permutation) out of range.
    Index {
        node: NodeId,
        index: usize,
        value: f64,
    },
    /// The graph needs a layout the batch lacks (tokens without offsets).
    Layout(String),
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpError::MissingInput(name) => write!(f, "missing input `{name}`"),
            InterpError::WrongLength { input, expected, got } => {
                write!(f, "input `{input}` has {got} values, the batch needs {expected}")
            }
            InterpError::Domain { message, .. } => f.write_str(message),
            InterpError::Index { node, index, value } => {
                write!(f, "%{}: index {value} at {index} is out of range", node.0)
            }
            InterpError::Layout(message) => f.write_str(message),
        }
    }
}

/// Evaluates every node; `inputs[i]` holds the values of `graph.inputs[i]`.
pub fn run(graph: &Graph, batch: &Batch, inputs: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, InterpError> {
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(graph.nodes.len());
    for index in 0..graph.nodes.len() {
        let out = eval_node(graph, batch, NodeId(index as u32), &|o: NodeId| values[o.index()].as_slice(), inputs)?;
        values.push(out);
    }
    Ok(values)
}

/// Evaluates one node from its operands' values (`value(o)` for each operand).
/// Backends use it for the steps they leave to the host.
pub fn eval_node<'v>(
    graph: &Graph,
    batch: &Batch,
    id: NodeId,
    value: &dyn Fn(NodeId) -> &'v [f64],
    inputs: &[Vec<f64>],
) -> Result<Vec<f64>, InterpError> {
    let node = graph.node(id);
    let len = batch.len(node.shape);
    if matches!(node.shape, Shape::Tokens) && batch.tok_offsets.len() != batch.rows + 1 {
        return Err(InterpError::Layout("the graph has per-token values but the batch has no tokens".into()));
    }
    if matches!(node.shape, Shape::Cands) && batch.k_offsets.len() != batch.rows + 1 {
        return Err(InterpError::Layout("the graph has per-candidate values but the batch has none".into()));
    }
    let at = |operand: NodeId, i: usize| -> f64 { broadcast_at(graph, batch, value(operand), operand, node.shape, i) };
    Ok(match &node.op {
        Op::Input(i) => {
            let input = &graph.inputs[*i as usize];
            let data = inputs.get(*i as usize).ok_or_else(|| InterpError::MissingInput(input.name.clone()))?;
            if data.len() != len {
                return Err(InterpError::WrongLength { input: input.name.clone(), expected: len, got: data.len() });
            }
            data.clone()
        }
        Op::Const(v) => vec![*v; len],
        Op::Broadcast(a) | Op::StopGradient(a) => (0..len).map(|i| at(*a, i)).collect(),
        Op::Unary(op, a) => {
            let mut out = Vec::with_capacity(len);
            for i in 0..len {
                let x = at(*a, i);
                if *op == Unary::Log1mexp && x >= 0.0 {
                    return Err(InterpError::Domain {
                        node: id,
                        shape: node.shape,
                        index: i,
                        message: format!("log1mexp needs a negative argument, found {x}"),
                    });
                }
                out.push(eval_unary(*op, x));
            }
            out
        }
        Op::Binary(op, a, b) => (0..len).map(|i| eval_binary(*op, at(*a, i), at(*b, i))).collect(),
        Op::Select(c, a, b) => (0..len).map(|i| if at(*c, i) != 0.0 { at(*a, i) } else { at(*b, i) }).collect(),
        Op::Clamp(x, lo, hi) => (0..len)
            .map(|i| {
                let (x, lo, hi) = (at(*x, i), at(*lo, i), at(*hi, i));
                if x.is_nan() { x } else { x.max(lo).min(hi) }
            })
            .collect(),
        Op::Reduce { op, axis, arg, mask } => {
            let data = value(*arg);
            let mask = mask.map(value);
            segments(batch, *axis)
                .into_iter()
                .map(|range| reduce(*op, range.filter(|&i| mask.is_none_or(|m| m[i] != 0.0)).map(|i| data[i])))
                .collect()
        }
        Op::Scan { op, axis, arg } => {
            let data = value(*arg);
            let mut out = vec![0.0; data.len()];
            for range in segments(batch, *axis) {
                let indices: Vec<usize> = range.collect();
                let mut acc = 0.0;
                let order: Box<dyn Iterator<Item = &usize>> =
                    if *op == Scan::Cumsum { Box::new(indices.iter()) } else { Box::new(indices.iter().rev()) };
                for &i in order {
                    acc += data[i];
                    out[i] = acc;
                }
            }
            out
        }
        Op::DiscountedCumsum { axis, arg, gamma, reverse } => {
            let data = value(*arg);
            let gamma = value(*gamma)[0];
            let mut out = vec![0.0; data.len()];
            for range in segments(batch, *axis) {
                let indices: Vec<usize> = range.collect();
                let mut acc = 0.0;
                let order: Box<dyn Iterator<Item = &usize>> =
                    if *reverse { Box::new(indices.iter().rev()) } else { Box::new(indices.iter()) };
                for &i in order {
                    acc = data[i] + gamma * acc;
                    out[i] = acc;
                }
            }
            out
        }
        Op::Argsort(a) => argsort(value(*a)).into_iter().map(|i| i as f64).collect(),
        Op::Rank(a) => {
            let order = argsort(value(*a));
            let mut rank = vec![0.0; order.len()];
            for (r, &i) in order.iter().enumerate() {
                rank[i] = r as f64;
            }
            rank
        }
        Op::TopK(a, k) => {
            let data = value(*a);
            let mut order: Vec<usize> = (0..data.len()).collect();
            order.sort_by(|&i, &j| data[j].total_cmp(&data[i]).then(i.cmp(&j)));
            let mut out = vec![0.0; data.len()];
            for &i in order.iter().take(*k as usize) {
                out[i] = 1.0;
            }
            out
        }
        Op::Permute(a, p) | Op::Unpermute(a, p) => {
            let (data, perm) = (value(*a), value(*p));
            let mut out = vec![0.0; data.len()];
            for (i, &target) in perm.iter().enumerate() {
                let t = checked_index(id, i, target, data.len())?;
                if matches!(node.op, Op::Permute(..)) {
                    out[i] = data[t];
                } else {
                    out[t] = data[i];
                }
            }
            out
        }
        Op::Gather { table, index } => {
            let (table, idx) = (value(*table), value(*index));
            let mut out = Vec::with_capacity(idx.len());
            for (i, &v) in idx.iter().enumerate() {
                out.push(table[checked_index(id, i, v, table.len())?]);
            }
            out
        }
        Op::ScatterAdd { values: v, index } => {
            let (data, idx) = (value(*v), value(*index));
            let mut out = vec![0.0; len];
            for (i, &target) in idx.iter().enumerate() {
                out[checked_index(id, i, target, len)?] += data[i];
            }
            out
        }
    })
}

fn checked_index(node: NodeId, index: usize, value: f64, len: usize) -> Result<usize, InterpError> {
    if value >= 0.0 && value.fract() == 0.0 && (value as usize) < len {
        Ok(value as usize)
    } else {
        Err(InterpError::Index { node, index, value })
    }
}

/// The value of `operand` (whose values are `data`) at element `i` of a node of shape `target`.
fn broadcast_at(graph: &Graph, batch: &Batch, data: &[f64], operand: NodeId, target: Shape, i: usize) -> f64 {
    match (graph.shape(operand), target) {
        (Shape::Scalar, _) => data[0],
        (a, b) if a == b => data[i],
        (Shape::Rows, ragged) => data[batch.row_of(ragged, i)],
        _ => f64::NAN,
    }
}

/// The index ranges an axis groups elements into.
fn segments(batch: &Batch, axis: Axis) -> Vec<std::ops::Range<usize>> {
    match axis {
        Axis::Batch => std::iter::once(0..batch.rows).collect(),
        Axis::Items => std::iter::once(0..batch.items).collect(),
        Axis::Tok | Axis::K => {
            let offsets = batch.offsets(if axis == Axis::Tok { Shape::Tokens } else { Shape::Cands });
            offsets.windows(2).map(|w| w[0]..w[1]).collect()
        }
    }
}

fn reduce(op: Reduce, items: impl Iterator<Item = f64>) -> f64 {
    let items: Vec<f64> = items.collect();
    match op {
        Reduce::Sum => items.iter().sum(),
        Reduce::Count => items.len() as f64,
        Reduce::Mean if items.is_empty() => f64::NAN,
        Reduce::Mean => items.iter().sum::<f64>() / items.len() as f64,
        Reduce::Max | Reduce::Min if items.is_empty() => f64::NAN,
        Reduce::Max => items
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }),
        Reduce::Min => {
            items.iter().copied().fold(f64::INFINITY, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) })
        }
        Reduce::LogSumExp => {
            let max = items.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if items.is_empty() || max == f64::NEG_INFINITY {
                return f64::NEG_INFINITY;
            }
            if !max.is_finite() {
                return max;
            }
            max + items.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
        }
    }
}

/// Stable ascending order (NaN last).
fn argsort(data: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|&i, &j| data[i].total_cmp(&data[j]));
    order
}

/// The values of a graph's named outputs.
pub fn outputs(graph: &Graph, values: &[Vec<f64>]) -> Vec<(String, Vec<f64>)> {
    graph.outputs.iter().map(|(name, id)| (name.clone(), values[id.index()].clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ragged_reductions_and_broadcast() {
        let mut g = Graph::new("t");
        let x = g.input("x", Shape::Tokens, true);
        let m = g.input("mask", Shape::Tokens, false);
        let r = g.input("r", Shape::Rows, false);
        let y = g.mul(x, r);
        let s = g.reduce(Reduce::Sum, Axis::Tok, y, Some(m));
        let mean = g.reduce(Reduce::Mean, Axis::Tok, x, Some(m));
        g.set_output("s", s);
        g.set_output("mean", mean);
        plumb_ir::verify(&g).expect("verified");
        let batch = Batch::with_tokens(&[2, 1, 3]);
        let values =
            run(&g, &batch, &[vec![1., 2., 3., 4., 5., 6.], vec![1., 1., 0., 1., 0., 1.], vec![10., 20., 30.]])
                .expect("runs");
        assert_eq!(values[s.index()], vec![30.0, 0.0, 300.0]);
        assert!(values[mean.index()][1].is_nan());
        assert_eq!(values[mean.index()][2], 5.0);
    }
}
