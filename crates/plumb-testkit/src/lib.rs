//! Shared test support for the compute backends: the random-graph generator
//! that the CPU and GPU differential suites run against the interpreter.

use plumb_interp::Batch;
use plumb_ir::{Axis, Binary, Graph, NodeId, Reduce, Shape, Unary};

/// Tokens per row, cycled (a row with none included).
pub const LENGTHS: [usize; 9] = [3, 1, 7, 0, 4, 2, 9, 5, 6];

pub struct Case {
    pub graph: Graph,
    pub batch: Batch,
    pub inputs: Vec<Vec<f64>>,
}

/// A random forward + gradient graph from `choices` (well-conditioned ops, kinks
/// only on raw inputs, whose values are distinct) over `rows` rows of ragged
/// tokens, with deterministic inputs.
pub fn build(choices: &[(u8, u8, u8)], rows: usize) -> Case {
    let mut g = Graph::new("random");
    let x = g.input("x", Shape::Rows, true);
    let y = g.input("y", Shape::Rows, true);
    let t = g.input("t", Shape::Tokens, true);
    let u = g.input("u", Shape::Tokens, false);
    let mask = g.input("mask", Shape::Tokens, false);
    let raw_rows = [x, y];
    let raw_tokens = [t, u];
    let mut row_pool: Vec<NodeId> = vec![x, y];
    let mut token_pool: Vec<NodeId> = vec![t, u];
    for &(kind, a, b) in choices {
        let pick_row = |pool: &Vec<NodeId>, i: u8| pool[i as usize % pool.len()];
        let tokens = a % 2 == 0;
        let v = if tokens { pick_row(&token_pool, b) } else { pick_row(&row_pool, b) };
        let w = if b % 3 == 0 { pick_row(&token_pool, a) } else { pick_row(&row_pool, a) };
        let node = match kind % 12 {
            0 => {
                let th = g.unary(Unary::Tanh, v);
                g.unary(Unary::Exp, th)
            }
            1 => g.unary(Unary::LogSigmoid, v),
            2 => g.unary(Unary::Softplus, v),
            3 => g.unary(Unary::Sigmoid, v),
            4 => {
                let sq = g.mul(v, v);
                g.unary(Unary::Log1p, sq)
            }
            5 => {
                let one = g.constant(1.0);
                let sq = g.mul(w, w);
                let d = g.add(one, sq);
                g.div(v, d)
            }
            6 => g.add(v, w),
            7 => g.mul(v, w),
            8 => {
                // Kinks only on raw inputs, whose values are distinct.
                let r = if tokens { raw_tokens[b as usize % 2] } else { raw_rows[b as usize % 2] };
                match a % 5 {
                    0 => g.unary(Unary::Relu, r),
                    1 => g.unary(Unary::Abs, r),
                    2 => g.binary(Binary::Max, r, raw_rows[0]),
                    3 => {
                        let zero = g.constant(0.0);
                        let c = g.binary(Binary::Gt, r, zero);
                        g.select(c, v, w)
                    }
                    _ => {
                        let lo = g.constant(-0.5);
                        let hi = g.constant(0.5);
                        g.clamp(r, lo, hi)
                    }
                }
            }
            9 => {
                let op = [Reduce::Sum, Reduce::Mean, Reduce::Max, Reduce::Min, Reduce::LogSumExp, Reduce::Count]
                    [a as usize % 6];
                let tv = pick_row(&token_pool, b);
                let masked = if a % 2 == 0 { Some(mask) } else { None };
                let r = g.reduce(op, Axis::Tok, tv, masked);
                // Empty groups give NaN (mean, max) or -inf (lse): keep them finite downstream.
                let zero = g.constant(0.0);
                let finite = g.binary(Binary::Eq, r, r);
                let counted = g.reduce(Reduce::Count, Axis::Tok, tv, masked);
                let some = g.binary(Binary::Gt, counted, zero);
                let ok = g.binary(Binary::And, finite, some);
                g.select(ok, r, zero)
            }
            10 => {
                let e = g.unary(Unary::Tanh, v);
                g.unary(Unary::Expm1, e)
            }
            _ => {
                let one = g.constant(1.0);
                let sq = g.mul(v, v);
                let s = g.add(one, sq);
                g.unary(Unary::Sqrt, s)
            }
        };
        if g.shape(node) == Shape::Tokens {
            token_pool.push(node);
        } else {
            row_pool.push(node);
        }
    }
    let last_row = *row_pool.last().expect("rows");
    let last_token = *token_pool.last().expect("tokens");
    let token_sums = g.reduce(Reduce::Sum, Axis::Tok, last_token, Some(mask));
    let per_row = g.add(last_row, token_sums);
    let loss = g.reduce(Reduce::Mean, Axis::Batch, per_row, None);
    g.set_output("loss", loss);
    g.set_output("rows", per_row);
    g.set_output("tokens", last_token);
    let graph = plumb_autodiff::differentiate(&g, "loss").expect("differentiates");
    let lengths: Vec<usize> = (0..rows).map(|i| LENGTHS[i % LENGTHS.len()]).collect();
    let batch = Batch::with_tokens(&lengths);
    let tokens: usize = lengths.iter().sum();
    let value = |i: usize, k: usize| -> f64 {
        let v = ((i * 37 + k * 101) % 211) as f64 / 211.0 * 4.0 - 2.0 + 0.001 * k as f64;
        f64::from(v as f32)
    };
    let inputs = vec![
        (0..rows).map(|i| value(i, 1)).collect(),
        (0..rows).map(|i| value(i, 2)).collect(),
        (0..tokens).map(|i| value(i, 3)).collect(),
        (0..tokens).map(|i| value(i, 4)).collect(),
        (0..tokens).map(|i| if i % 5 == 3 { 0.0 } else { 1.0 }).collect(),
    ];
    Case { graph, batch, inputs }
}

/// exp, log and log_sigmoid of NaN, ±inf, 0, −1, 50 and −100, with a batch sum
/// as `loss`: outputs `exp`, `log`, `sum`, `loss`.
pub fn special_values_case() -> Case {
    let mut g = Graph::new("special");
    let x = g.input("x", Shape::Rows, true);
    let e = g.unary(Unary::Exp, x);
    let l = g.unary(Unary::Log, x);
    let s = g.unary(Unary::LogSigmoid, x);
    let a = g.add(e, s);
    g.set_output("exp", e);
    g.set_output("log", l);
    g.set_output("sum", a);
    let loss = g.reduce(Reduce::Sum, Axis::Batch, a, None);
    g.set_output("loss", loss);
    Case {
        graph: g,
        batch: Batch::rows(7),
        inputs: vec![vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0, 50.0, -100.0]],
    }
}

/// A masked per-row mean over tokens and its gradient (outputs `loss`, `mean`,
/// `grad.t`), on three rows of which row 1 is fully masked — or, with `empty`,
/// on a batch without rows.
pub fn masked_mean_case(empty: bool) -> Case {
    let mut g = Graph::new("masked");
    let t = g.input("t", Shape::Tokens, true);
    let mask = g.input("mask", Shape::Tokens, false);
    let mean = g.reduce(Reduce::Mean, Axis::Tok, t, Some(mask));
    let loss = g.reduce(Reduce::Sum, Axis::Batch, mean, None);
    g.set_output("loss", loss);
    g.set_output("mean", mean);
    let graph = plumb_autodiff::differentiate(&g, "loss").expect("a masked mean differentiates");
    if empty {
        return Case { graph, batch: Batch::with_tokens(&[]), inputs: vec![vec![], vec![]] };
    }
    Case {
        graph,
        batch: Batch::with_tokens(&[2, 3, 1]),
        inputs: vec![vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![1.0, 1.0, 0.0, 0.0, 0.0, 1.0]],
    }
}
