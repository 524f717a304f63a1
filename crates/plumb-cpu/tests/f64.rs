//! The f64 mode of the CPU backend against the interpreter: per-row values and
//! batch sums are bitwise the interpreter's (the same f64 arithmetic inline,
//! exp/log/log1p by the same portable algorithm, the interpreter's own scalar
//! functions for everything else, rows summed in order within a chunk), on
//! random graphs, the whole range of exp/log/log1p, special values and masked means; results
//! do not depend on the thread count; token-level kernels are refused.

use plumb_interp::Batch;
use plumb_ir::{Axis, Binary, Graph, Op, Reduce, Shape, Unary};
use plumb_testkit::{Case, build, masked_mean_case, special_values_case};
use proptest::prelude::*;

fn same(x: f64, y: f64) -> bool {
    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
}

/// Whether the case's fused passes are all row-level (the only ones compiled in f64).
fn row_level(case: &Case) -> bool {
    match plumb_cpu::compile_f64(&case.graph) {
        Ok(_) => true,
        Err(e) if e.to_string().contains("tokens or candidates") => false,
        Err(e) => panic!("{e}\n{}", case.graph),
    }
}

/// Runs a row-level case in f64 and checks it against the interpreter bit for bit.
fn compare(case: &Case, threads: usize) -> Result<Vec<(String, Vec<f64>)>, TestCaseError> {
    // Domain errors (log of a negative number, …) stop the interpreter; those cases say nothing here.
    let expected = plumb_interp::run(&case.graph, &case.batch, &case.inputs);
    prop_assume!(expected.is_ok());
    let expected = expected.expect("checked");
    let compiled = plumb_cpu::compile_f64(&case.graph).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let got = compiled.run(&case.batch, &case.inputs, threads).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for (name, values) in &got {
        let want = &expected[case.graph.output(name).expect("output").index()];
        prop_assert_eq!(values.len(), want.len());
        for (i, (x, y)) in values.iter().zip(want).enumerate() {
            prop_assert!(
                same(*x, *y),
                "{}[{}]: cpu f64 {} vs interp {}\n{}\n{}",
                name,
                i,
                x,
                y,
                compiled.plan,
                case.graph
            );
        }
    }
    Ok(got)
}

/// A random row-level graph (every unary and binary op, select, clamp,
/// masked and unmasked batch sums and means) with its gradient, over `rows` rows.
fn row_case(choices: &[(u8, u8, u8)], rows: usize) -> Case {
    let mut g = Graph::new("rows");
    let x = g.input("x", Shape::Rows, true);
    let y = g.input("y", Shape::Rows, true);
    let m = g.input("m", Shape::Rows, false);
    let mut pool = vec![x, y];
    for &(kind, a, b) in choices {
        let v = pool[a as usize % pool.len()];
        let w = pool[b as usize % pool.len()];
        let node = match kind % 6 {
            0 | 1 => g.unary(Unary::ALL[(a as usize + b as usize) % Unary::ALL.len()], v),
            2 | 3 => g.binary(Binary::ALL[(a as usize * 3 + b as usize) % Binary::ALL.len()], v, w),
            4 => {
                let cond = g.binary(Binary::Gt, v, w);
                g.select(cond, v, w)
            }
            _ => {
                let lo = g.constant(-0.5);
                let hi = g.constant(1.5);
                g.clamp(v, lo, hi)
            }
        };
        pool.push(node);
    }
    let last = *pool.last().expect("inputs");
    let reduce = |g: &mut Graph, op, mask| g.op(Op::Reduce { op, axis: Axis::Batch, arg: last, mask }, Shape::Scalar);
    let sum = reduce(&mut g, Reduce::Sum, None);
    let mean = reduce(&mut g, Reduce::Mean, Some(m));
    let total = g.add(sum, mean);
    g.set_output("row", last);
    g.set_output("masked_mean", mean);
    g.set_output("loss", total);
    let graph = plumb_autodiff::differentiate(&g, "loss").expect("differentiable");
    let value = |i: usize, k: f64| ((i as f64 * 0.37 + k).sin() * 2.5 * 1e3).round() / 1e3;
    let inputs = vec![
        (0..rows).map(|i| value(i, 0.1)).collect(),
        (0..rows).map(|i| value(i, 1.7)).collect(),
        (0..rows).map(|i| f64::from(u8::from(i % 3 != 0))).collect(),
    ];
    Case { graph, batch: Batch::rows(rows), inputs }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_global_rejects: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn random_row_graphs_match_the_interpreter_bitwise(
        choices in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..16),
        rows in 0usize..40,
    ) {
        let case = row_case(&choices, rows);
        prop_assert!(row_level(&case));
        let one = compare(&case, 1)?;
        for threads in [2, 8] {
            let many = compare(&case, threads)?;
            prop_assert!(one.iter().zip(&many).all(|((_, a), (_, b))| a.iter().zip(b).all(|(x, y)| same(*x, *y))));
        }
    }
}

#[test]
fn special_values_and_masked_means_match_bitwise() {
    let mut cases = vec![masked_mean_case(false), masked_mean_case(true)];
    cases.push(special_values_case());
    for case in cases.iter().filter(|c| row_level(c)) {
        compare(case, 2).unwrap();
    }
}

#[test]
fn inline_exp_log_and_log1p_match_over_their_whole_range() {
    // Every finite f64 bit pattern is fair game: random bits, both signs, subnormals, edges.
    let mut state = 7u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut xs: Vec<f64> = (0..100_000).map(|_| f64::from_bits(next())).collect();
    xs.extend((0..100_000).map(|i| -750.0 + 1462.0 * i as f64 / 100_000.0));
    xs.extend((0..50_000).map(|i| -1.0 + 2.0 * i as f64 / 50_000.0));
    xs.extend([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 5e-324, f64::MIN_POSITIVE, -1.0, f64::MAX]);
    xs.extend([709.782_712_893_384, 709.782_712_893_385, -745.133_219_101_941_1, -708.4]);
    for op in [Unary::Exp, Unary::Log, Unary::Log1p] {
        let mut g = Graph::new("math");
        let x = g.input("x", Shape::Rows, false);
        let y = g.unary(op, x);
        g.set_output("y", y);
        let compiled = plumb_cpu::compile_f64(&g).unwrap();
        let got = compiled.run(&Batch::rows(xs.len()), std::slice::from_ref(&xs), 2).unwrap();
        for (x, y) in xs.iter().zip(&got[0].1) {
            let want = plumb_ir::eval_unary(op, *x);
            assert!(same(*y, want), "{op:?}({x:e}): kernel {y:e}, interpreter {want:e}");
        }
    }
}

#[test]
fn many_rows_do_not_depend_on_the_thread_count() {
    // Several chunks: sums are combined chunk by chunk in a fixed tree.
    let case = row_case(&[(0, 1, 5), (2, 0, 2), (4, 1, 3), (1, 3, 2), (3, 4, 1)], 50_000);
    let compiled = plumb_cpu::compile_f64(&case.graph).unwrap();
    let one = compiled.run(&case.batch, &case.inputs, 1).unwrap();
    for threads in [2, 3, 8] {
        let many = compiled.run(&case.batch, &case.inputs, threads).unwrap();
        assert!(
            one.iter().zip(&many).all(|((_, a), (_, b))| a.iter().zip(b).all(|(x, y)| same(*x, *y))),
            "{threads} threads"
        );
    }
}

#[test]
fn token_level_kernels_are_refused() {
    let case = (0..200u8)
        .map(|i| build(&[(i, i.wrapping_mul(3), 7), (9, i, 1)], 4))
        .find(|c| !row_level(c) && plumb_cpu::compile(&c.graph).is_ok_and(|g| g.kernel_count() > 0))
        .expect("a token-level case");
    let error = plumb_cpu::compile_f64(&case.graph).unwrap_err();
    assert!(error.to_string().contains("tokens"), "{error}");
}
