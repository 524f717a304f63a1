//! Every op's gradient rule against central finite differences of the f64
//! interpreter, on random inputs, with ragged tokens and masks.

use plumb_autodiff::differentiate;
use plumb_interp::{Batch, run};
use plumb_ir::{Axis, Binary, Graph, NodeId, Op, Reduce, Scan, Shape, Unary, verify};
use proptest::prelude::*;

const LENGTHS: [usize; 4] = [3, 1, 4, 2];

struct Case {
    graph: Graph,
    batch: Batch,
    inputs: Vec<Vec<f64>>,
}

/// Builds `loss = Σ weights · f(...)` over a batch with inputs x, y (rows),
/// t, u (tokens), mask (tokens), w (fixed random weights per token).
fn case(values: &[f64], body: impl Fn(&mut Graph, &Ins) -> NodeId) -> Case {
    let mut g = Graph::new("case");
    let ins = Ins {
        x: g.input("x", Shape::Rows, true),
        y: g.input("y", Shape::Rows, true),
        t: g.input("t", Shape::Tokens, true),
        u: g.input("u", Shape::Tokens, true),
        mask: g.input("mask", Shape::Tokens, false),
        w: g.input("w", Shape::Tokens, false),
    };
    let value = body(&mut g, &ins);
    let spread = g.broadcast(value, Shape::Tokens);
    let weighted = g.mul(spread, ins.w);
    let rows = g.reduce(Reduce::Sum, Axis::Tok, weighted, None);
    let loss = g.reduce(Reduce::Sum, Axis::Batch, rows, None);
    g.set_output("loss", loss);
    verify(&g).expect("verified");
    let batch = Batch::with_tokens(&LENGTHS);
    let tokens: usize = LENGTHS.iter().sum();
    let take = |offset: usize, n: usize| (0..n).map(|i| values[(offset + i) % values.len()]).collect::<Vec<_>>();
    let mask = (0..tokens).map(|i| if i % 3 == 2 { 0.0 } else { 1.0 }).collect();
    let w = (0..tokens).map(|i| 0.3 + 0.17 * i as f64).collect();
    let inputs = vec![take(0, 4), take(5, 4), take(11, tokens), take(23, tokens), mask, w];
    Case { graph: g, batch, inputs }
}

struct Ins {
    x: NodeId,
    y: NodeId,
    t: NodeId,
    u: NodeId,
    mask: NodeId,
    w: NodeId,
}

fn loss(case: &Case, inputs: &[Vec<f64>]) -> f64 {
    let values = run(&case.graph, &case.batch, inputs).expect("runs");
    values[case.graph.output("loss").expect("loss").index()][0]
}

fn check_gradients(case: &Case) -> Result<(), TestCaseError> {
    let with_grad = differentiate(&case.graph, "loss").expect("differentiates");
    verify(&with_grad).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    let values = run(&with_grad, &case.batch, &case.inputs).expect("runs");
    for (number, input) in case.graph.inputs.iter().enumerate() {
        if !input.grad {
            continue;
        }
        // No output means the loss does not depend on the input: its gradient is 0.
        let zeros = vec![0.0; case.inputs[number].len()];
        let grad = match with_grad.output(&format!("grad.{}", input.name)) {
            Some(id) => &values[id.index()],
            None => &zeros,
        };
        for i in 0..case.inputs[number].len() {
            let x = case.inputs[number][i];
            let h = 1e-6 * x.abs().max(1.0);
            let mut plus = case.inputs.clone();
            plus[number][i] = x + h;
            let mut minus = case.inputs.clone();
            minus[number][i] = x - h;
            let numeric = (loss(case, &plus) - loss(case, &minus)) / (2.0 * h);
            let tolerance = 1e-5 * numeric.abs().max(1.0);
            prop_assert!(
                (grad[i] - numeric).abs() <= tolerance,
                "∂loss/∂{}[{i}] = {} but finite differences give {numeric}\n{}",
                input.name,
                grad[i],
                with_grad
            );
        }
    }
    Ok(())
}

/// Random values, made distinct so that no two meet at a kink (ties are tested apart).
fn values() -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(-2.0f64..2.0, 40)
        .prop_map(|v| v.into_iter().enumerate().map(|(i, x)| x + 0.0137 * i as f64 + 0.003).collect())
}

/// Values bounded away from 0 (for division, logs and kinks).
fn positive(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| 0.2 + x.abs()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn unary_ops(v in values()) {
        for op in Unary::ALL.iter().copied().filter(|u| !matches!(u, Unary::Sign | Unary::Not)) {
            let domain = match op {
                Unary::Log | Unary::Sqrt | Unary::Log1p => positive(&v),
                Unary::Log1mexp => positive(&v).iter().map(|x| -x).collect(),
                Unary::Abs | Unary::Relu => positive(&v).iter().zip(&v).map(|(p, s)| p * s.signum()).collect(),
                _ => v.clone(),
            };
            let c = case(&domain, |g, i| {
                let a = g.unary(op, i.t);
                let b = g.unary(op, i.x);
                g.add(a, b)
            });
            check_gradients(&c)?;
        }
    }

    #[test]
    fn binary_ops(v in values()) {
        for op in [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div, Binary::Pow, Binary::Min, Binary::Max] {
            let domain = if matches!(op, Binary::Div | Binary::Pow) { positive(&v) } else { v.clone() };
            let c = case(&domain, |g, i| {
                let token_level = g.binary(op, i.t, i.u);
                let broadcast = g.binary(op, i.x, i.t);
                let rows = g.binary(op, i.x, i.y);
                let a = g.add(token_level, broadcast);
                g.add(a, rows)
            });
            check_gradients(&c)?;
        }
    }

    #[test]
    fn select_and_clamp(v in values()) {
        let c = case(&v, |g, i| {
            let zero = g.constant(0.0);
            let cond = g.binary(Binary::Gt, i.u, zero);
            let chosen = g.select(cond, i.t, i.x);
            let lo = g.constant(-0.5);
            let clamped = g.clamp(i.t, lo, i.y);
            g.add(chosen, clamped)
        });
        check_gradients(&c)?;
    }

    #[test]
    fn reductions(v in values()) {
        for op in [Reduce::Sum, Reduce::Mean, Reduce::Max, Reduce::Min, Reduce::LogSumExp] {
            let c = case(&v, |g, i| {
                let over_tokens = g.reduce(op, Axis::Tok, i.t, Some(i.mask));
                let shifted = g.add(over_tokens, i.x);
                let over_batch = g.reduce(op, Axis::Batch, shifted, None);
                let product = g.mul(i.u, i.t);
                let unmasked = g.reduce(op, Axis::Tok, product, None);
                let a = g.add(over_batch, unmasked);
                let masked_lengths = g.reduce(Reduce::Count, Axis::Tok, i.t, Some(i.mask));
                g.add(a, masked_lengths)
            });
            // Rows whose tokens are all masked give NaN means; this layout has none.
            check_gradients(&c)?;
        }
    }

    #[test]
    fn scans(v in values()) {
        let c = case(&v, |g, i| {
            let forward = g.op(Op::Scan { op: Scan::Cumsum, axis: Axis::Tok, arg: i.t }, Shape::Tokens);
            let backward = g.op(Op::Scan { op: Scan::RevCumsum, axis: Axis::Tok, arg: i.u }, Shape::Tokens);
            let gamma = g.constant(0.9);
            let gae = g.op(Op::DiscountedCumsum { axis: Axis::Tok, arg: i.t, gamma, reverse: true }, Shape::Tokens);
            let squared = g.mul(forward, backward);
            g.add(squared, gae)
        });
        check_gradients(&c)?;
    }

    #[test]
    fn sort_permutations(v in values()) {
        let c = case(&v, |g, i| {
            let order = g.op(Op::Argsort(i.x), Shape::Rows);
            let sorted = g.op(Op::Permute(i.x, order), Shape::Rows);
            let other = g.op(Op::Argsort(i.y), Shape::Rows);
            let sorted_y = g.op(Op::Permute(i.y, other), Shape::Rows);
            let d = g.sub(sorted, sorted_y);
            let unsorted = g.op(Op::Unpermute(d, order), Shape::Rows);
            g.mul(unsorted, d)
        });
        check_gradients(&c)?;
    }

    #[test]
    fn gather_and_scatter(v in values()) {
        let mut c = case(&v, |g, i| {
            let table = g.op(Op::ScatterAdd { values: i.x, index: i.y }, Shape::Items);
            let squared = g.mul(table, table);
            g.op(Op::Gather { table: squared, index: i.y }, Shape::Rows)
        });
        c.batch.items = 3;
        // y is an index here: integers, no gradient.
        c.inputs[1] = vec![0.0, 2.0, 0.0, 1.0];
        c.graph.inputs[1].grad = false;
        check_gradients(&c)?;
    }
}

#[test]
fn conventions_at_kinks() {
    let mut g = Graph::new("kinks");
    let x = g.input("x", Shape::Rows, true);
    let y = g.input("y", Shape::Rows, true);
    let relu = g.unary(Unary::Relu, x);
    let min = g.binary(Binary::Min, x, y);
    let lo = g.constant(0.0);
    let hi = g.constant(1.0);
    let clamp = g.clamp(y, lo, hi);
    let total = g.add(relu, min);
    let total = g.add(total, clamp);
    let loss = g.reduce(Reduce::Sum, Axis::Batch, total, None);
    g.set_output("loss", loss);
    let d = differentiate(&g, "loss").expect("differentiates");
    let values = run(&d, &Batch::rows(3), &[vec![0.0, 0.0, 1.0], vec![0.0, 1.0, 1.0]]).expect("runs");
    let gx = &values[d.output("grad.x").expect("grad.x").index()];
    let gy = &values[d.output("grad.y").expect("grad.y").index()];
    // relu'(0) = 0; min ties split 0.5 / 0.5; clamp passes at both bounds.
    assert_eq!(gx, &vec![0.5, 1.0, 1.5]);
    assert_eq!(gy, &vec![1.5, 1.0, 1.5]);
}
