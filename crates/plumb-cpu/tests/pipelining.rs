//! Software pipelining of the four-row loop: a pipelined kernel gives bitwise
//! the results of the plain loop, on random row-level graphs built around
//! sigmoid, log_sigmoid and softplus (of values and of their negations, which
//! share one exponential), for row counts on both sides of the four-row groups
//! and for any thread count; and it agrees with the interpreter.

use plumb_interp::Batch;
use plumb_ir::{Axis, Binary, Graph, NodeId, Reduce, Shape, Unary};
use proptest::prelude::*;

/// A row-level graph from `choices`, ending in a log_sigmoid (so that its
/// kernel always has an exponential to pipeline at), with a batch mean as
/// `loss`, the last node as `rows`, and the gradients.
fn row_graph(choices: &[(u8, u8, u8)]) -> Graph {
    let mut g = Graph::new("rows");
    let x = g.input("x", Shape::Rows, true);
    let y = g.input("y", Shape::Rows, true);
    let z = g.input("z", Shape::Rows, false);
    let mut pool: Vec<NodeId> = vec![x, y, z];
    for &(kind, a, b) in choices {
        let v = pool[a as usize % pool.len()];
        let w = pool[b as usize % pool.len()];
        let node = match kind % 10 {
            0 => g.unary(Unary::LogSigmoid, v),
            1 => {
                let minus = g.unary(Unary::Neg, v);
                g.unary(Unary::Sigmoid, minus)
            }
            2 => g.unary(Unary::Softplus, v),
            3 => g.unary(Unary::Sigmoid, v),
            4 => g.add(v, w),
            5 => g.sub(v, w),
            6 => {
                let product = g.mul(v, w);
                g.unary(Unary::Tanh, product)
            }
            7 => {
                let less = g.binary(Binary::Lt, v, w);
                g.select(less, v, w)
            }
            8 => {
                let minus = g.unary(Unary::Neg, v);
                g.unary(Unary::LogSigmoid, minus)
            }
            _ => {
                let lo = g.constant(-3.0);
                let hi = g.constant(3.0);
                g.clamp(v, lo, hi)
            }
        };
        pool.push(node);
    }
    let last = *pool.last().expect("a node");
    let rows = g.unary(Unary::LogSigmoid, last);
    let loss = g.reduce(Reduce::Mean, Axis::Batch, rows, None);
    g.set_output("loss", loss);
    g.set_output("rows", rows);
    plumb_autodiff::differentiate(&g, "loss").expect("differentiates")
}

fn inputs(values: &[f32], rows: usize) -> Vec<Vec<f32>> {
    (0..3).map(|column| (0..rows).map(|r| values[(r * 3 + column) % values.len()]).collect()).collect()
}

fn bits(outputs: &[(String, Vec<f64>)]) -> Vec<(String, Vec<u64>)> {
    outputs.iter().map(|(name, values)| (name.clone(), values.iter().map(|x| x.to_bits()).collect())).collect()
}

/// Pipelined against plain (1, 2 and 3 threads), and against the interpreter.
fn check(graph: &Graph, values: &[f32], rows: usize) -> Result<(), TestCaseError> {
    let pipelined = plumb_cpu::compile(graph).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let plain = plumb_cpu::compile_unpipelined(graph).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(pipelined.pipelined_kernel_count() >= 1, "nothing pipelined:\n{}", pipelined.plan);
    prop_assert_eq!(plain.pipelined_kernel_count(), 0);
    let batch = Batch::rows(rows);
    let data = inputs(values, rows);
    let reference = plain.run(&batch, &data, 1).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for threads in [1, 2, 3] {
        let got = pipelined.run(&batch, &data, threads).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(bits(&got), bits(&reference), "{} rows, {} threads\n{}", rows, threads, graph);
    }
    let data64: Vec<Vec<f64>> = data.iter().map(|c| c.iter().map(|&x| f64::from(x)).collect()).collect();
    let expected = plumb_interp::run(&pipelined.graph, &batch, &data64).expect("the interpreter runs");
    for (name, values) in &reference {
        let want = &expected[pipelined.graph.output(name).expect("output").index()];
        let scale = want.iter().filter(|x| x.is_finite()).fold(0.0f64, |m, x| m.max(x.abs())).max(1e-6);
        for (i, (x, y)) in values.iter().zip(want).enumerate() {
            let same = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 2e-4 * scale;
            prop_assert!(same, "{}[{}]: cpu {} vs interp {}\n{}", name, i, x, y, graph);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn pipelined_kernels_give_the_plain_loops_bits(
        choices in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..14),
        values in proptest::collection::vec(-8.0f32..8.0, 3..64),
        rows in 0usize..45,
    ) {
        check(&row_graph(&choices), &values, rows)?;
    }
}

/// Every way the pipelined loop can start and stop: no four-row group, one
/// (no overlap), two, many, each with and without a one-row tail; and rows
/// with ±inf and NaN, which flow through the carried values unchanged.
#[test]
fn every_row_count_around_the_groups_and_special_values() {
    let graph = row_graph(&[(0, 0, 1), (8, 1, 2), (1, 3, 0), (4, 4, 5), (2, 6, 2), (3, 7, 0)]);
    let values = [0.5, -1.5, 2.0, f32::INFINITY, -3.0, 0.25, f32::NAN, 7.0, -0.0, f32::NEG_INFINITY, 1.0, -6.0, 3.5];
    for rows in 0..=17 {
        check(&graph, &values, rows).unwrap_or_else(|e| panic!("{rows} rows: {e}"));
    }
    check(&graph, &values, 50_003).expect("many chunks");
}
