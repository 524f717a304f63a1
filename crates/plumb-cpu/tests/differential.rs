//! The CPU backend against the f64 interpreter on random graphs and random
//! inputs (proptest), plus bitwise determinism across thread counts, NaN and
//! infinity propagation, empty batches and fully masked rows.
//!
//! Tolerance: f32 storage and f32 arithmetic carry ~6e-8 relative rounding per
//! op; the random graphs chain up to ~25 well-conditioned ops, and batch sums
//! accumulate in f64. Each output must agree within 2e-4 relative to its largest
//! magnitude (the contract of the f32 backends), NaN with NaN and ±inf exactly.

use proptest::prelude::*;

use plumb_testkit::{Case, build};

fn compare(case: &Case, threads: usize) -> Result<Vec<(String, Vec<f64>)>, TestCaseError> {
    let expected = plumb_interp::run(&case.graph, &case.batch, &case.inputs).expect("interp runs");
    let compiled = plumb_cpu::compile(&case.graph).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let inputs32: Vec<Vec<f32>> = case.inputs.iter().map(|v| v.iter().map(|&x| x as f32).collect()).collect();
    let got = compiled.run(&case.batch, &inputs32, threads).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for (name, values) in &got {
        let want = &expected[case.graph.output(name).expect("output").index()];
        prop_assert_eq!(values.len(), want.len());
        let scale = want.iter().filter(|x| x.is_finite()).fold(0.0f64, |m, x| m.max(x.abs())).max(1e-6);
        for (i, (x, y)) in values.iter().zip(want).enumerate() {
            let same = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 2e-4 * scale;
            prop_assert!(
                same,
                "{}[{}]: cpu {} vs interp {} (scale {})\n{}\n{}",
                name,
                i,
                x,
                y,
                scale,
                compiled.plan,
                case.graph
            );
        }
    }
    Ok(got)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_match_the_interpreter(
        choices in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..20),
        rows in 1usize..40,
    ) {
        let case = build(&choices, rows);
        let one = compare(&case, 1)?;
        // Bitwise identical for any thread count.
        for threads in [2, 8] {
            let many = compare(&case, threads)?;
            for ((name, a), (_, b)) in one.iter().zip(&many) {
                let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                prop_assert!(same, "{} differs between 1 and {} threads", name, threads);
            }
        }
    }
}

#[test]
fn many_rows_are_bitwise_identical_across_thread_counts() {
    let case = build(&[(6, 1, 1), (1, 1, 2), (9, 0, 0), (7, 1, 5)], 50_000);
    let compiled = plumb_cpu::compile(&case.graph).expect("compiles");
    let inputs32: Vec<Vec<f32>> = case.inputs.iter().map(|v| v.iter().map(|&x| x as f32).collect()).collect();
    let reference = compiled.run(&case.batch, &inputs32, 1).expect("runs");
    for threads in [2, 3, 8] {
        let other = compiled.run(&case.batch, &inputs32, threads).expect("runs");
        for ((name, a), (_, b)) in reference.iter().zip(&other) {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} with {threads} threads");
        }
    }
    compare(&case, 2).expect("agrees with the interpreter");
}

#[test]
fn nan_and_infinity_propagate() {
    let case = plumb_testkit::special_values_case();
    let got = compare(&case, 1).expect("agrees");
    let log = &got.iter().find(|(n, _)| n == "log").expect("log").1;
    assert!(log[0].is_nan() && log[1] == f64::INFINITY && log[3] == f64::NEG_INFINITY && log[4].is_nan());
    let exp = &got.iter().find(|(n, _)| n == "exp").expect("exp").1;
    assert!(exp[0].is_nan() && exp[1] == f64::INFINITY && exp[2] == 0.0 && exp[5] > 5e21);
}

#[test]
fn empty_batches_and_fully_masked_rows() {
    // Row 1 is fully masked: its mean is NaN in both backends, and so is the loss.
    let case = plumb_testkit::masked_mean_case(false);
    let got = compare(&case, 2).expect("agrees");
    let mean = &got.iter().find(|(n, _)| n == "mean").expect("mean").1;
    assert!(mean[1].is_nan());
    let grad = &got.iter().find(|(n, _)| n == "grad.t").expect("grad").1;
    assert_eq!(grad, &vec![0.5, 0.5, 0.0, 0.0, 0.0, 1.0]);
    // An empty batch.
    let empty = plumb_testkit::masked_mean_case(true);
    let got = compare(&empty, 4).expect("agrees");
    assert_eq!(got.iter().find(|(n, _)| n == "loss").expect("loss").1, vec![0.0]);
}
