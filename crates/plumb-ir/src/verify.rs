//! The verifier: operand order, input references and the shape rule of every op.

use crate::graph::{Graph, NodeId};
use crate::ops::*;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The node at fault, if the problem is one node's.
    pub node: Option<NodeId>,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(id) => write!(f, "%{}: {}", id.0, self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Checks a graph; returns every problem found.
pub fn verify(graph: &Graph) -> Result<(), Vec<VerifyError>> {
    let mut errors = Vec::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        let id = NodeId(index as u32);
        let mut fail = |message: String| errors.push(VerifyError { node: Some(id), message });
        let operands = node.op.operands();
        if let Some(bad) = operands.iter().find(|o| o.index() >= index) {
            fail(format!("uses %{}, which does not come before it", bad.0));
            continue;
        }
        let shape = |o: NodeId| graph.nodes[o.index()].shape;
        let want = |got: Shape, expected: Shape, what: &str| -> Option<String> {
            (got != expected).then(|| format!("{what} must be {expected}, found {got}"))
        };
        let problem: Option<String> = match &node.op {
            Op::Input(i) => match graph.inputs.get(*i as usize) {
                None => Some(format!("input {i} does not exist ({} inputs)", graph.inputs.len())),
                Some(input) => want(node.shape, input.shape, &format!("the shape of input `{}`", input.name)),
            },
            Op::Const(_) => None,
            Op::Broadcast(a) => (!shape(*a).broadcasts_to(node.shape) || shape(*a) == node.shape)
                .then(|| format!("cannot broadcast {} to {}", shape(*a), node.shape)),
            Op::Unary(_, a) | Op::StopGradient(a) => want(node.shape, shape(*a), "the result"),
            Op::Binary(b, x, y) => match shape(*x).join(shape(*y)) {
                None => Some(format!("{} of incompatible shapes {} and {}", b.name(), shape(*x), shape(*y))),
                Some(joined) => want(node.shape, joined, "the result"),
            },
            Op::Select(a, b, c) | Op::Clamp(a, b, c) => {
                match shape(*a).join(shape(*b)).and_then(|s| s.join(shape(*c))) {
                    None => {
                        Some(format!("operands of incompatible shapes {}, {}, {}", shape(*a), shape(*b), shape(*c)))
                    }
                    Some(joined) => want(node.shape, joined, "the result"),
                }
            }
            Op::Reduce { axis, arg, mask, .. } => {
                let (from, to) = axis.reduces();
                want(shape(*arg), from, &format!("the operand of a reduction over {}", axis.name()))
                    .or_else(|| want(node.shape, to, "the result"))
                    .or_else(|| mask.and_then(|m| want(shape(m), from, "the mask")))
            }
            Op::Scan { axis, arg, .. } => {
                let (from, _) = axis.reduces();
                want(shape(*arg), from, &format!("the operand of a scan over {}", axis.name()))
                    .or_else(|| want(node.shape, from, "the result"))
            }
            Op::DiscountedCumsum { axis, arg, gamma, .. } => {
                let (from, _) = axis.reduces();
                want(shape(*arg), from, "the operand")
                    .or_else(|| want(node.shape, from, "the result"))
                    .or_else(|| want(shape(*gamma), Shape::Scalar, "gamma"))
            }
            Op::Argsort(a) | Op::Rank(a) | Op::TopK(a, _) => {
                want(shape(*a), Shape::Rows, "the operand").or_else(|| want(node.shape, Shape::Rows, "the result"))
            }
            Op::Permute(a, p) | Op::Unpermute(a, p) => want(shape(*a), Shape::Rows, "the operand")
                .or_else(|| want(shape(*p), Shape::Rows, "the permutation"))
                .or_else(|| want(node.shape, Shape::Rows, "the result")),
            Op::Gather { table, index } => want(shape(*table), Shape::Items, "the table")
                .or_else(|| want(shape(*index), Shape::Rows, "the index"))
                .or_else(|| want(node.shape, Shape::Rows, "the result")),
            Op::ScatterAdd { values, index } => want(shape(*values), Shape::Rows, "the values")
                .or_else(|| want(shape(*index), Shape::Rows, "the index"))
                .or_else(|| want(node.shape, Shape::Items, "the result")),
        };
        if let Some(message) = problem {
            fail(message);
        }
    }
    for (name, id) in &graph.outputs {
        if id.index() >= graph.nodes.len() {
            errors.push(VerifyError {
                node: None,
                message: format!("output `{name}` names %{}, which does not exist", id.0),
            });
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}
