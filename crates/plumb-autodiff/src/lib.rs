//! Reverse-mode automatic differentiation as a pass over the IR: it appends the
//! gradient graph of one scalar output with respect to every input marked
//! `grad`, one rule per op, and names the results `grad.<input>`.
//!
//! Conventions (those of PyTorch autograd, so numbers match the trainers users
//! compare against): relu passes 0 at 0; clamp passes the gradient at its
//! bounds (inclusive); min/max and amax/amin ties split the gradient equally;
//! stop-gradient, comparisons, counts, sorts' permutations and indices pass none.
//!
//! Invariant: the forward nodes are unchanged; gradient nodes only follow them.

use plumb_ir::{Axis, Binary, Graph, NodeId, Op, Reduce, Scan, Shape, Unary};

/// Why a graph could not be differentiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutodiffError(pub String);

impl std::fmt::Display for AutodiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Returns `graph` with outputs `grad.<name>` = ∂`output`/∂input for every
/// input marked `grad` that the output depends on (not through stop-gradient).
pub fn differentiate(graph: &Graph, output: &str) -> Result<Graph, AutodiffError> {
    let root = graph.output(output).ok_or_else(|| AutodiffError(format!("the graph has no output `{output}`")))?;
    if graph.shape(root) != Shape::Scalar {
        return Err(AutodiffError(format!(
            "`{output}` must be a scalar to differentiate, it is {}",
            graph.shape(root)
        )));
    }
    let mut g = graph.clone();
    let forward_len = graph.nodes.len();
    let needs = needs_gradient(graph);
    let mut adjoint: Vec<Option<NodeId>> = vec![None; forward_len];
    adjoint[root.index()] = Some(g.constant(1.0));
    for index in (0..forward_len).rev() {
        let Some(grad) = adjoint[index] else { continue };
        if !needs[index] {
            continue;
        }
        let id = NodeId(index as u32);
        let op = g.node(id).op.clone();
        let contributions = rule(&mut g, id, &op, grad, &needs)?;
        for (operand, contribution) in contributions {
            if !needs[operand.index()] {
                continue;
            }
            let contribution = unbroadcast(&mut g, contribution, graph.shape(operand));
            adjoint[operand.index()] = Some(match adjoint[operand.index()] {
                Some(existing) => g.add(existing, contribution),
                None => contribution,
            });
        }
    }
    for (number, input) in graph.inputs.iter().enumerate() {
        if !input.grad {
            continue;
        }
        let node = graph.nodes.iter().position(|n| n.op == Op::Input(number as u32));
        if let Some(grad) = node.and_then(|n| adjoint[n]) {
            let grad = g.broadcast(grad, input.shape);
            g.set_output(format!("grad.{}", input.name), grad);
        }
    }
    Ok(g)
}

/// Which nodes depend on a gradient-carrying input (not through stop-gradient).
fn needs_gradient(graph: &Graph) -> Vec<bool> {
    let mut needs = vec![false; graph.nodes.len()];
    for (index, node) in graph.nodes.iter().enumerate() {
        needs[index] = match &node.op {
            Op::Input(i) => graph.inputs[*i as usize].grad,
            Op::StopGradient(_) | Op::Const(_) | Op::Argsort(_) | Op::Rank(_) | Op::TopK(..) => false,
            Op::Binary(b, ..) if b.is_comparison_or_logic() => false,
            Op::Unary(Unary::Not | Unary::Sign, _) => false,
            Op::Reduce { op: Reduce::Count, .. } => false,
            op => op.operands().iter().any(|o| needs[o.index()]),
        };
    }
    needs
}

/// Sums a contribution down to the operand's shape (the adjoint of broadcasting).
fn unbroadcast(g: &mut Graph, value: NodeId, to: Shape) -> NodeId {
    let mut value = value;
    loop {
        let from = g.shape(value);
        if from == to {
            return value;
        }
        value = match from {
            Shape::Tokens => g.reduce(Reduce::Sum, Axis::Tok, value, None),
            Shape::Cands => g.reduce(Reduce::Sum, Axis::K, value, None),
            Shape::Rows => g.reduce(Reduce::Sum, Axis::Batch, value, None),
            Shape::Items => g.reduce(Reduce::Sum, Axis::Items, value, None),
            Shape::Scalar => return g.broadcast(value, to),
        };
    }
}

fn zero(g: &mut Graph) -> NodeId {
    g.constant(0.0)
}

/// The contributions of node `id` (with adjoint `grad`) to its operands.
fn rule(
    g: &mut Graph,
    id: NodeId,
    op: &Op,
    grad: NodeId,
    needs: &[bool],
) -> Result<Vec<(NodeId, NodeId)>, AutodiffError> {
    let y = id;
    Ok(match *op {
        Op::Input(_) | Op::Const(_) | Op::StopGradient(_) => vec![],
        Op::Argsort(_) | Op::Rank(_) | Op::TopK(..) => vec![],
        Op::Broadcast(a) => vec![(a, grad)],
        Op::Unary(u, x) => {
            let local = match u {
                Unary::Neg => g.constant(-1.0),
                Unary::Exp => y,
                Unary::Log => {
                    let one = g.constant(1.0);
                    g.div(one, x)
                }
                Unary::Log1p => {
                    let one = g.constant(1.0);
                    let denominator = g.add(one, x);
                    g.div(one, denominator)
                }
                Unary::Expm1 => {
                    let one = g.constant(1.0);
                    g.add(y, one)
                }
                Unary::Sigmoid => {
                    // σ(x)·σ(−x), not σ(1 − σ): 1 − σ(x) cancels where σ(x) rounds near 1.
                    let minus = g.neg(x);
                    let rest = g.unary(Unary::Sigmoid, minus);
                    g.mul(y, rest)
                }
                Unary::LogSigmoid => {
                    let minus = g.neg(x);
                    g.unary(Unary::Sigmoid, minus)
                }
                Unary::Softplus => g.unary(Unary::Sigmoid, x),
                Unary::Tanh => {
                    // sech²x = 4e/(1 + e)² with e = exp(−2|x|), not 1 − tanh²x, which
                    // cancels where tanh x rounds near ±1 (f32 from |x| ≈ 4).
                    let abs = g.unary(Unary::Abs, x);
                    let minus_two = g.constant(-2.0);
                    let exponent = g.mul(minus_two, abs);
                    let e = g.unary(Unary::Exp, exponent);
                    let one = g.constant(1.0);
                    let one_plus = g.add(one, e);
                    let square = g.mul(one_plus, one_plus);
                    let four = g.constant(4.0);
                    let numerator = g.mul(four, e);
                    g.div(numerator, square)
                }
                Unary::Abs => g.unary(Unary::Sign, x),
                Unary::Sqrt => {
                    let half = g.constant(0.5);
                    g.div(half, y)
                }
                Unary::Relu => {
                    let zero = zero(g);
                    let positive = g.binary(Binary::Gt, x, zero);
                    let one = g.constant(1.0);
                    g.select(positive, one, zero)
                }
                Unary::Log1mexp => {
                    // d/dx log(1 - e^x) = -1 / expm1(-x)
                    let minus = g.neg(x);
                    let e = g.unary(Unary::Expm1, minus);
                    let minus_one = g.constant(-1.0);
                    g.div(minus_one, e)
                }
                Unary::LogNdtr => {
                    // d/dx log Φ(x) = φ(x)/Φ(x) = exp(−x²/2 − ln √(2π) − log Φ(x)), finite in both tails.
                    let square = g.mul(x, x);
                    let minus_half = g.constant(-0.5);
                    let log_pdf = g.mul(minus_half, square);
                    let ln_sqrt_2pi = g.constant(plumb_ir::math::LN_SQRT_2PI);
                    let log_pdf = g.sub(log_pdf, ln_sqrt_2pi);
                    let log_ratio = g.sub(log_pdf, y);
                    g.unary(Unary::Exp, log_ratio)
                }
                Unary::Sign | Unary::Not => return Ok(vec![]),
            };
            vec![(x, g.mul(grad, local))]
        }
        Op::Binary(b, a, c) => match b {
            Binary::Add => vec![(a, grad), (c, grad)],
            Binary::Sub => vec![(a, grad), (c, g.neg(grad))],
            Binary::Mul => vec![(a, g.mul(grad, c)), (c, g.mul(grad, a))],
            Binary::Div => {
                let da = g.div(grad, c);
                let ratio = g.div(y, c);
                let scaled = g.mul(grad, ratio);
                vec![(a, da), (c, g.neg(scaled))]
            }
            Binary::Pow => {
                let one = g.constant(1.0);
                let exponent = g.sub(c, one);
                let power = g.binary(Binary::Pow, a, exponent);
                let local = g.mul(c, power);
                let da = g.mul(grad, local);
                // ∂/∂c a^c = a^c·ln a, taken as 0 where a ≤ 0 (as PyTorch does at a = 0).
                let zero = zero(g);
                let positive = g.binary(Binary::Gt, a, zero);
                let log = g.unary(Unary::Log, a);
                let dc_local = g.mul(y, log);
                let dc_local = g.select(positive, dc_local, zero);
                let dc = g.mul(grad, dc_local);
                vec![(a, da), (c, dc)]
            }
            Binary::Min | Binary::Max => {
                let wins = if b == Binary::Min { Binary::Lt } else { Binary::Gt };
                let a_wins = g.binary(wins, a, c);
                let c_wins = g.binary(wins, c, a);
                let tie = g.binary(Binary::Eq, a, c);
                let (one, half, zero) = (g.constant(1.0), g.constant(0.5), zero(g));
                let tie_weight = g.select(tie, half, zero);
                let wa = g.select(a_wins, one, tie_weight);
                let wc = g.select(c_wins, one, tie_weight);
                vec![(a, g.mul(grad, wa)), (c, g.mul(grad, wc))]
            }
            _ => vec![],
        },
        Op::Select(cond, a, b) => {
            let zero = zero(g);
            vec![(a, g.select(cond, grad, zero)), (b, g.select(cond, zero, grad))]
        }
        Op::Clamp(x, lo, hi) => {
            let zero = zero(g);
            let above = g.binary(Binary::Ge, x, lo);
            let below = g.binary(Binary::Le, x, hi);
            let inside = g.binary(Binary::And, above, below);
            // The forward is min(max(x, lo), hi): with lo > hi the result is hi.
            let ordered = g.binary(Binary::Le, lo, hi);
            let below_lo = g.binary(Binary::Lt, x, lo);
            let under = g.binary(Binary::And, below_lo, ordered);
            let above_hi = g.binary(Binary::Gt, x, hi);
            let crossed = g.binary(Binary::Gt, lo, hi);
            let over = g.binary(Binary::Or, above_hi, crossed);
            vec![(x, g.select(inside, grad, zero)), (lo, g.select(under, grad, zero)), (hi, g.select(over, grad, zero))]
        }
        Op::Reduce { op: reduction, axis, arg, mask } => {
            let (from, _) = axis.reduces();
            let spread = g.broadcast(grad, from);
            let masked = |g: &mut Graph, value: NodeId| match mask {
                Some(m) => {
                    let one = g.constant(1.0);
                    let zero = zero(g);
                    let keep = g.binary(Binary::Ne, m, zero);
                    let weight = g.select(keep, one, zero);
                    g.mul(value, weight)
                }
                None => value,
            };
            let contribution = match reduction {
                Reduce::Sum => masked(g, spread),
                Reduce::Mean => {
                    // An empty (fully masked) group has no elements to pass a gradient to.
                    let count = g.reduce(Reduce::Count, axis, arg, mask);
                    let zero = zero(g);
                    let some = g.binary(Binary::Gt, count, zero);
                    let per = g.div(grad, count);
                    let per = g.select(some, per, zero);
                    let per = g.broadcast(per, from);
                    masked(g, per)
                }
                Reduce::Max | Reduce::Min => {
                    let extreme = g.broadcast(y, from);
                    let hit = g.binary(Binary::Eq, arg, extreme);
                    let hit = masked(g, hit);
                    let ties = g.reduce(Reduce::Sum, axis, hit, None);
                    let per = g.div(grad, ties);
                    let per = g.broadcast(per, from);
                    g.mul(per, hit)
                }
                Reduce::LogSumExp => {
                    let lse = g.broadcast(y, from);
                    let shifted = g.sub(arg, lse);
                    let softmax = g.unary(Unary::Exp, shifted);
                    let weighted = g.mul(spread, softmax);
                    masked(g, weighted)
                }
                Reduce::Count => return Ok(vec![]),
            };
            vec![(arg, contribution)]
        }
        Op::Scan { op: scan, axis, arg } => {
            let inverse = if scan == Scan::Cumsum { Scan::RevCumsum } else { Scan::Cumsum };
            let (from, _) = axis.reduces();
            vec![(arg, g.op(Op::Scan { op: inverse, axis, arg: grad }, from))]
        }
        Op::DiscountedCumsum { axis, arg, gamma, reverse } => {
            if needs[gamma.index()] {
                return Err(AutodiffError("the discount of discounted_cumsum cannot carry a gradient".into()));
            }
            let (from, _) = axis.reduces();
            vec![(arg, g.op(Op::DiscountedCumsum { axis, arg: grad, gamma, reverse: !reverse }, from))]
        }
        Op::Permute(a, perm) => vec![(a, g.op(Op::Unpermute(grad, perm), Shape::Rows))],
        Op::Unpermute(a, perm) => vec![(a, g.op(Op::Permute(grad, perm), Shape::Rows))],
        Op::Gather { table, index } => vec![(table, g.op(Op::ScatterAdd { values: grad, index }, Shape::Items))],
        Op::ScatterAdd { values, index } => vec![(values, g.op(Op::Gather { table: grad, index }, Shape::Rows))],
    })
}
