//! The GPU suite (a `harness = false` target run by libtest-mimic): the CPU
//! backend's differential tests against the f64 interpreter (random graphs,
//! NaN and infinity, empty batches, fully masked rows), bitwise identical
//! results across runs and chunkings, the math functions over wide ranges, and
//! WGSL snapshots of the DPO-like and PPO-like kernels.
//!
//! Where no adapter exists, every test that needs a device reports itself as
//! ignored with the reason (never as passed); the snapshot and validation tests
//! need no device. Run with `WGPU_BACKEND=vulkan` on Mesa's software Vulkan
//! (apt: mesa-vulkan-drivers libvulkan1). `PLUMB_BLESS=1` rewrites the snapshots.
//!
//! Tolerance: as the CPU backend's, each output within 2e-4 relative to its
//! largest finite magnitude, NaN with NaN and ±inf exactly. The f64 kernels
//! (`compile_f64`) compute what the interpreter computes in the same precision,
//! with the interpreter's exp/log algorithms: their outputs must agree within
//! 1e-12 of the largest magnitude. Elementwise results differ by a few ulps
//! (drivers may fuse multiply-adds and round f64 division within Vulkan's
//! bounds; random graphs pass at 1e-15); batch sums add in workgroup trees, not
//! in row order, which over 50 000 rows moves the 14th digit.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use plumb_interp::Batch;
use plumb_ir::{Binary, Graph, Shape, Unary};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use plumb_testkit::{Case, build};

type Outputs = Vec<(String, Vec<f64>)>;

fn to_f32(inputs: &[Vec<f64>]) -> Vec<Vec<f32>> {
    inputs.iter().map(|v| v.iter().map(|&x| x as f32).collect()).collect()
}

/// Runs a case on the GPU and checks every output against the interpreter.
fn compare(case: &Case, options: plumb_gpu::RunOptions) -> Result<Outputs, String> {
    let expected = plumb_interp::run(&case.graph, &case.batch, &case.inputs).map_err(|e| e.to_string())?;
    let compiled = plumb_gpu::compile(&case.graph).map_err(|e| e.to_string())?;
    let got = compiled.run_with(&case.batch, &to_f32(&case.inputs), options).map_err(|e| e.to_string())?;
    check(&got, &expected, &case.graph, &format!("{}", compiled.plan))?;
    Ok(got)
}

fn check(got: &Outputs, expected: &[Vec<f64>], graph: &Graph, plan: &str) -> Result<(), String> {
    check_within(got, expected, graph, plan, 2e-4)
}

/// Runs a case's graph as f64 kernels and checks every output against the interpreter.
fn compare_f64(case: &Case, options: plumb_gpu::RunOptions) -> Result<Outputs, String> {
    let expected = plumb_interp::run(&case.graph, &case.batch, &case.inputs).map_err(|e| e.to_string())?;
    let compiled = plumb_gpu::compile_f64(&case.graph).map_err(|e| e.to_string())?;
    let got = compiled.run_f64_with(&case.batch, &case.inputs, options).map_err(|e| e.to_string())?;
    check_within(&got, &expected, &case.graph, &format!("{}", compiled.plan), F64_TOLERANCE)?;
    Ok(got)
}

const F64_TOLERANCE: f64 = 1e-12;

fn check_within(got: &Outputs, expected: &[Vec<f64>], graph: &Graph, plan: &str, tolerance: f64) -> Result<(), String> {
    for (name, values) in got {
        let want = &expected[graph.output(name).ok_or("an unknown output")?.index()];
        if values.len() != want.len() {
            return Err(format!("{name}: {} values, the interpreter has {}", values.len(), want.len()));
        }
        let scale = want.iter().filter(|x| x.is_finite()).fold(0.0f64, |m, x| m.max(x.abs())).max(1e-6);
        for (i, (x, y)) in values.iter().zip(want).enumerate() {
            let same = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tolerance * scale;
            if !same {
                return Err(format!("{name}[{i}]: gpu {x} vs interp {y} (scale {scale})\n{plan}\n{graph}"));
            }
        }
    }
    Ok(())
}

fn bitwise_equal(a: &Outputs, b: &Outputs) -> Result<(), String> {
    for ((name, x), (_, y)) in a.iter().zip(b) {
        if x.len() != y.len() || x.iter().zip(y).any(|(p, q)| p.to_bits() != q.to_bits()) {
            return Err(format!("{name} differs between runs"));
        }
    }
    Ok(())
}

fn random_graphs_match_the_interpreter() -> Result<(), String> {
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let strategy = (proptest::collection::vec((0u8..=255, 0u8..=255, 0u8..=255), 1..20), 1usize..40);
    runner
        .run(&strategy, |(choices, rows)| {
            let case = build(&choices, rows);
            let first = compare(&case, Default::default()).map_err(TestCaseError::fail)?;
            // A second run, in chunks of one workgroup: bitwise identical.
            let chunked = plumb_gpu::RunOptions { max_workgroups: Some(1), ..Default::default() };
            let second = compare(&case, chunked).map_err(TestCaseError::fail)?;
            bitwise_equal(&first, &second).map_err(TestCaseError::fail)?;
            Ok(())
        })
        .map_err(|e| e.to_string())
}

fn f64_random_graphs_match_the_interpreter() -> Result<(), String> {
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let strategy = (proptest::collection::vec((0u8..=255, 0u8..=255, 0u8..=255), 1..20), 1usize..40);
    runner
        .run(&strategy, |(choices, rows)| {
            let case = build(&choices, rows);
            let first = compare_f64(&case, Default::default()).map_err(TestCaseError::fail)?;
            let chunked = plumb_gpu::RunOptions { max_workgroups: Some(1), ..Default::default() };
            let second = compare_f64(&case, chunked).map_err(TestCaseError::fail)?;
            bitwise_equal(&first, &second).map_err(TestCaseError::fail)?;
            Ok(())
        })
        .map_err(|e| e.to_string())
}

fn f64_many_rows_are_bitwise_identical_across_runs_and_chunkings() -> Result<(), String> {
    let case = build(&[(6, 1, 1), (1, 1, 2), (9, 0, 0), (7, 1, 5)], 50_000);
    let reference = compare_f64(&case, Default::default())?;
    bitwise_equal(&reference, &compare_f64(&case, Default::default())?)?;
    let small = plumb_gpu::RunOptions { max_binding_bytes: Some(64 << 10), max_workgroups: None };
    bitwise_equal(&reference, &compare_f64(&case, small)?)?;
    // The f32 run of the same graph is a different compiled graph, with f32 results.
    let compiled = plumb_gpu::compile_f64(&case.graph).map_err(|e| e.to_string())?;
    if compiled.run(&case.batch, &to_f32(&case.inputs)).is_ok() {
        return Err("an f64 graph accepted f32 inputs".into());
    }
    Ok(())
}

fn many_rows_are_bitwise_identical_across_runs_and_chunkings() -> Result<(), String> {
    let case = build(&[(6, 1, 1), (1, 1, 2), (9, 0, 0), (7, 1, 5)], 50_000);
    let reference = compare(&case, Default::default())?;
    let again = compare(&case, Default::default())?;
    bitwise_equal(&reference, &again)?;
    // Small bindings (64 KiB) and few workgroups per dispatch: many chunks, same bits.
    for options in [
        plumb_gpu::RunOptions { max_binding_bytes: Some(64 << 10), max_workgroups: None },
        plumb_gpu::RunOptions { max_binding_bytes: None, max_workgroups: Some(7) },
    ] {
        let chunked = compare(&case, options)?;
        bitwise_equal(&reference, &chunked)?;
    }
    Ok(())
}

fn nan_and_infinity_propagate() -> Result<(), String> {
    let case = plumb_testkit::special_values_case();
    let got = compare(&case, Default::default())?;
    let find = |n: &str| got.iter().find(|(name, _)| name == n).map(|(_, v)| v.clone()).unwrap_or_default();
    let log = find("log");
    if !(log[0].is_nan() && log[1] == f64::INFINITY && log[3] == f64::NEG_INFINITY && log[4].is_nan()) {
        return Err(format!("log: {log:?}"));
    }
    let exp = find("exp");
    if !(exp[0].is_nan() && exp[1] == f64::INFINITY && exp[2] == 0.0 && exp[5] > 5e21) {
        return Err(format!("exp: {exp:?}"));
    }
    Ok(())
}

fn empty_batches_and_fully_masked_rows() -> Result<(), String> {
    // Row 1 is fully masked: its mean is NaN in both, and so is the loss.
    let case = plumb_testkit::masked_mean_case(false);
    let got = compare(&case, Default::default())?;
    let find = |got: &Outputs, n: &str| got.iter().find(|(name, _)| name == n).map(|(_, v)| v.clone());
    let mean = find(&got, "mean").ok_or("no mean")?;
    if !mean[1].is_nan() {
        return Err(format!("mean of a fully masked row: {}", mean[1]));
    }
    let grad = find(&got, "grad.t").ok_or("no grad")?;
    if grad != vec![0.5, 0.5, 0.0, 0.0, 0.0, 1.0] {
        return Err(format!("grad.t: {grad:?}"));
    }
    // An empty batch, and a batch whose rows have no tokens.
    let empty = plumb_testkit::masked_mean_case(true);
    let got = compare(&empty, Default::default())?;
    if find(&got, "loss") != Some(vec![0.0]) {
        return Err(format!("loss of an empty batch: {:?}", find(&got, "loss")));
    }
    let tokenless = Case { batch: Batch::with_tokens(&[0, 0, 0]), ..plumb_testkit::masked_mean_case(true) };
    compare(&tokenless, Default::default())?;
    Ok(())
}

fn sample_graphs_match_the_interpreter() -> Result<(), String> {
    for (graph, (batch, inputs), kernels) in [
        (plumb_gpu::sample::dpo(0.1), plumb_gpu::sample::dpo_inputs(100_003), 1),
        (plumb_gpu::sample::ppo(0.2), plumb_gpu::sample::ppo_inputs(60_000, 40), 2),
    ] {
        let compiled = plumb_gpu::compile(&graph).map_err(|e| e.to_string())?;
        if compiled.kernel_count() != kernels {
            return Err(format!("{}: {} kernels\n{}", graph.name, compiled.kernel_count(), compiled.plan));
        }
        let inputs64: Vec<Vec<f64>> = inputs.iter().map(|v| v.iter().map(|&x| f64::from(x)).collect()).collect();
        let expected = plumb_interp::run(&compiled.graph, &batch, &inputs64).map_err(|e| e.to_string())?;
        let got = compiled.run(&batch, &inputs).map_err(|e| e.to_string())?;
        check(&got, &expected, &compiled.graph, &format!("{}", compiled.plan))?;
        bitwise_equal(&got, &compiled.run(&batch, &inputs).map_err(|e| e.to_string())?)?;
    }
    Ok(())
}

/// The rating models' likelihood graphs (plumb_ratings::graphs) and their
/// gradients, which gather per-item abilities per row and scatter-add back:
/// one fused pass on the GPU, the gathers and scatters on the host.
fn rating_graphs_match_the_interpreter() -> Result<(), String> {
    use plumb_ratings::graphs::{negative_loglik, rows};
    use plumb_ratings::{Dataset, Model, Observations, PairRow, Ties};
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        state >> 33
    };
    for (model, items, pairs) in
        [(Model::BradleyTerry, 40, 3000), (Model::Thurstone, 60, 5000), (Model::Davidson, 300, 20_000)]
    {
        let data = Dataset {
            items: (0..items).map(|i| format!("m{i}")).collect(),
            observations: Observations::Pairs(
                (0..pairs)
                    .map(|_| {
                        let a = (next() % items as u64) as u32;
                        let b = ((u64::from(a) + 1 + next() % (items as u64 - 1)) % items as u64) as u32;
                        let count = |x: u64| (x % 4) as f64;
                        PairRow { a, b, wins_a: count(next()), wins_b: count(next()), ties: count(next()) }
                    })
                    .collect(),
            ),
        };
        let columns = rows(&data, model, Ties::Half).ok_or("no rows")?;
        let mut inputs: Vec<Vec<f64>> =
            vec![(0..items).map(|_| f64::from(((next() % 6000) as f32 - 3000.0) / 1000.0)).collect()];
        inputs.extend(columns.iter().cloned());
        if model == Model::Davidson {
            inputs.push(vec![-0.75]);
        }
        let graph = negative_loglik(model).ok_or("no graph")?;
        let graph = plumb_autodiff::differentiate(&graph, "nll").map_err(|e| e.to_string())?;
        let batch = Batch { items, ..Batch::rows(columns[0].len()) };
        let compiled = plumb_gpu::compile(&graph).map_err(|e| e.to_string())?;
        if compiled.kernel_count() != 1 {
            return Err(format!("{model:?}: {} kernels\n{}", compiled.kernel_count(), compiled.plan));
        }
        let expected = plumb_interp::run(&compiled.graph, &batch, &inputs).map_err(|e| e.to_string())?;
        let got = compiled.run(&batch, &to_f32(&inputs)).map_err(|e| e.to_string())?;
        check(&got, &expected, &compiled.graph, &format!("{}", compiled.plan))?;
        bitwise_equal(&got, &compiled.run(&batch, &to_f32(&inputs)).map_err(|e| e.to_string())?)?;
    }
    Ok(())
}

/// pow with a non-constant exponent: ordinary values and C's special cases.
const POW_CASES: [(f64, f64); 12] = [
    (2.0, 10.0),
    (0.5, -3.0),
    (-2.0, 3.0),
    (-2.0, 2.0),
    (-2.0, 0.5),
    (0.0, 2.0),
    (0.0, -1.0),
    (7.3, 0.0),
    (1.0, f64::NAN),
    (3.1, 2.7),
    (1e-3, 1.5),
    (f64::NAN, 1.0),
];

/// Every unary op over a wide range, against f64, elementwise: within 4e-6
/// relative or 2e-7 absolute (f32 results of f32 inputs), special values exact.
fn math_functions_match_f64() -> Result<(), String> {
    let mut xs: Vec<f64> = Vec::new();
    let mut x = -120.0f64;
    while x <= 120.0 {
        xs.push(f64::from(x as f32));
        x += 0.0173;
    }
    for e in -30..=2 {
        for s in [1.0, -1.0, 3.7, -3.7] {
            xs.push(f64::from((s * 10f64.powi(e)) as f32));
        }
    }
    xs.extend([0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -std::f64::consts::LN_2, 1.0, -1.0]);
    for op in Unary::ALL.iter().copied() {
        let mut g = Graph::new(op.name());
        let x = g.input("x", Shape::Rows, false);
        let y = g.unary(op, x);
        g.set_output("y", y);
        let compiled = plumb_gpu::compile(&g).map_err(|e| e.to_string())?;
        let inputs = vec![xs.iter().map(|&v| v as f32).collect::<Vec<f32>>()];
        let got = compiled.run(&Batch::rows(xs.len()), &inputs).map_err(|e| e.to_string())?;
        for (i, (&x, &y)) in xs.iter().zip(&got[0].1).enumerate() {
            let want = plumb_ir::eval_unary(op, x);
            let want32 = f64::from(want as f32);
            let ok = (y.is_nan() && want.is_nan())
                || y == want32
                || (y - want).abs() <= 4e-6 * want.abs()
                || (y - want).abs() <= 2e-7
                // log1mexp is undefined (an interpreter error) at x ≥ 0; both give NaN there.
                || (op == Unary::Log1mexp && x >= 0.0 && y.is_nan());
            if !ok {
                return Err(format!("{}({x}) = {y} on the GPU, {want} in f64 (index {i})", op.name()));
            }
        }
    }
    // pow with a non-constant exponent, including C's special cases.
    let mut g = Graph::new("pow");
    let a = g.input("a", Shape::Rows, false);
    let b = g.input("b", Shape::Rows, false);
    let p = g.binary(Binary::Pow, a, b);
    g.set_output("p", p);
    let cases = POW_CASES;
    let compiled = plumb_gpu::compile(&g).map_err(|e| e.to_string())?;
    let inputs = vec![cases.iter().map(|c| c.0 as f32).collect(), cases.iter().map(|c| c.1 as f32).collect()];
    let got = compiled.run(&Batch::rows(cases.len()), &inputs).map_err(|e| e.to_string())?;
    for ((a, b), y) in cases.iter().zip(&got[0].1) {
        let want = a.powf(*b);
        let ok = (y.is_nan() && want.is_nan()) || *y == want || (y - want).abs() <= 1e-5 * want.abs();
        if !ok {
            return Err(format!("pow({a}, {b}) = {y} on the GPU, {want} in f64"));
        }
    }
    Ok(())
}

/// Every unary op over a wide range as an f64 kernel, against the interpreter:
/// within 4e-15 relative (a few ulps) or 1e-300 absolute; log Φ within the
/// bound of its Chebyshev form (plumb-ir's tests/math.rs); special values exact.
fn f64_math_functions_match_the_interpreter() -> Result<(), String> {
    let mut xs: Vec<f64> = Vec::new();
    let mut x = -760.0f64;
    while x <= 760.0 {
        xs.push(x);
        x += 0.0731;
    }
    let mut x = -3.0f64;
    while x <= 3.0 {
        xs.push(x);
        x += 0.000_37;
    }
    for e in -300..=300 {
        for s in [1.0, -1.0, 3.7, -3.7] {
            xs.push(s * 10f64.powi(e));
        }
    }
    xs.extend([0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -std::f64::consts::LN_2, 1.0, -1.0]);
    xs.extend([f64::MIN_POSITIVE, 5e-324, f64::MAX, -f64::MAX, 709.78, 709.79, -745.13, -745.14]);
    for op in Unary::ALL.iter().copied() {
        let mut g = Graph::new(op.name());
        let x = g.input("x", Shape::Rows, false);
        let y = g.unary(op, x);
        g.set_output("y", y);
        let compiled = plumb_gpu::compile_f64(&g).map_err(|e| e.to_string())?;
        let got = compiled.run_f64(&Batch::rows(xs.len()), std::slice::from_ref(&xs)).map_err(|e| e.to_string())?;
        for (i, (&x, &y)) in xs.iter().zip(&got[0].1).enumerate() {
            let want = plumb_ir::eval_unary(op, x);
            let relative = match op {
                Unary::LogNdtr if x > 0.0 => 2e-15 * (8.0 + x * x),
                Unary::LogNdtr => 1e-14,
                // tanh is expm1(2x)/(expm1(2x) + 2) in the kernels: two roundings more.
                Unary::Tanh => 1e-15 * 8.0,
                _ => 4e-15,
            };
            let ok = (y.is_nan() && want.is_nan())
                || y == want
                || (y - want).abs() <= relative * want.abs()
                || (y - want).abs() <= 1e-300
                || (op == Unary::Log1mexp && x >= 0.0 && y.is_nan());
            if !ok {
                return Err(format!(
                    "{}({x:e}) = {y:e} on the GPU in f64, {want:e} in the interpreter (index {i})",
                    op.name()
                ));
            }
        }
    }
    let mut g = Graph::new("pow");
    let a = g.input("a", Shape::Rows, false);
    let b = g.input("b", Shape::Rows, false);
    let p = g.binary(Binary::Pow, a, b);
    g.set_output("p", p);
    let cases = POW_CASES;
    let compiled = plumb_gpu::compile_f64(&g).map_err(|e| e.to_string())?;
    let inputs = vec![cases.iter().map(|c| c.0).collect(), cases.iter().map(|c| c.1).collect()];
    let got = compiled.run_f64(&Batch::rows(cases.len()), &inputs).map_err(|e| e.to_string())?;
    for ((a, b), y) in cases.iter().zip(&got[0].1) {
        let want = a.powf(*b);
        let ok = (y.is_nan() && want.is_nan()) || *y == want || (y - want).abs() <= 1e-14 * want.abs();
        if !ok {
            return Err(format!("pow({a}, {b}) = {y} on the GPU in f64, {want} in the interpreter"));
        }
    }
    Ok(())
}

/// The rating fit's f64 graphs (Newton's per-pair terms of the three pairwise
/// models, Plackett–Luce's two per-position passes) against the interpreter,
/// then whole fits with `Backend::Gpu` against the CPU backend for every model,
/// and GPU bootstrap intervals that repeat bit for bit.
fn f64_rating_fits_match_the_cpu() -> Result<(), String> {
    use plumb_ratings::graphs::{pair_terms, ranking_stages, ranking_weights};
    use plumb_ratings::{Backend, Dataset, Model, Observations, Options, PairRow, Ties};
    let mut state = 0x5851_F42D_4C95_7F2D_u64;
    let mut next = move |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let rows = 5000;
    let d: Vec<f64> = (0..rows).map(|_| (next(200_001) as f64 - 100_000.0) / 4000.0).collect();
    let counts = |next: &mut dyn FnMut(u64) -> u64| (0..rows).map(|_| next(5) as f64).collect::<Vec<f64>>();
    let (wij, wji, t) = (counts(&mut next), counts(&mut next), counts(&mut next));
    for model in [Model::BradleyTerry, Model::Thurstone, Model::Davidson] {
        let graph = pair_terms(model).ok_or("no graph")?;
        let mut inputs = vec![d.clone(), wij.clone(), wji.clone(), t.clone()];
        if model == Model::Davidson {
            inputs.push(vec![-0.4]);
        }
        let expected = plumb_interp::run(&graph, &Batch::rows(rows), &inputs).map_err(|e| e.to_string())?;
        let compiled = plumb_gpu::compile_f64(&graph).map_err(|e| e.to_string())?;
        let got = compiled.run_f64(&Batch::rows(rows), &inputs).map_err(|e| e.to_string())?;
        // log Φ's Chebyshev form is within 2e-15·(8 + d²) of the interpreter's
        // erfc, and the Mills-ratio terms at |d| up to 25 magnify that to ≈ 1e-11.
        let tolerance = if model == Model::Thurstone { 1e-10 } else { F64_TOLERANCE };
        check_within(&got, &expected, &graph, &format!("{}", compiled.plan), tolerance)?;
    }
    let x: Vec<f64> = d.iter().map(|v| -v.abs()).collect();
    let s: Vec<f64> = (0..rows).map(|_| next(1000) as f64 / 100.0).collect();
    let stage: Vec<f64> = (0..rows).map(|_| (next(4) > 0) as u8 as f64).collect();
    for (graph, inputs) in [(ranking_weights(), vec![x.clone()]), (ranking_stages(), vec![s, x, stage])] {
        let expected = plumb_interp::run(&graph, &Batch::rows(rows), &inputs).map_err(|e| e.to_string())?;
        let compiled = plumb_gpu::compile_f64(&graph).map_err(|e| e.to_string())?;
        let got = compiled.run_f64(&Batch::rows(rows), &inputs).map_err(|e| e.to_string())?;
        check_within(&got, &expected, &graph, &format!("{}", compiled.plan), F64_TOLERANCE)?;
    }
    let items = 50;
    let strength = |i: u32| f64::from(i) / 25.0;
    let pairs: Vec<PairRow> = (0..8000)
        .map(|_| {
            let a = next(items) as u32;
            let b = ((u64::from(a) + 1 + next(items - 1)) % items) as u32;
            let p = 1.0 / (1.0 + (strength(b) - strength(a)).exp());
            let (wins_a, wins_b, ties) = match next(1000) {
                u if u < 120 => (0.0, 0.0, 1.0),
                u if (u as f64) < 120.0 + 880.0 * p => (1.0, 0.0, 0.0),
                _ => (0.0, 1.0, 0.0),
            };
            PairRow { a, b, wins_a, wins_b, ties }
        })
        .collect();
    let names = |prefix: &str| (0..items).map(|i| format!("{prefix}{i}")).collect::<Vec<String>>();
    let votes = Dataset { items: names("m"), observations: Observations::Pairs(pairs) };
    let rankings: Vec<Vec<u32>> = (0..3000)
        .map(|_| {
            let mut ranking: Vec<u32> = Vec::new();
            while ranking.len() < 2 + next(5) as usize {
                let item = next(items) as u32;
                if !ranking.contains(&item) {
                    ranking.push(item);
                }
            }
            ranking.sort_by_key(|&i| std::cmp::Reverse(u64::from(i) + next(30)));
            ranking
        })
        .collect();
    let ranked = Dataset { items: names("r"), observations: Observations::Rankings(rankings) };
    for (data, options) in [
        (&votes, Options::new(Model::BradleyTerry)),
        (&votes, Options { ties: Ties::Half, l2: 0.2, reference: Some(3), ..Options::new(Model::Thurstone) }),
        (&votes, Options::new(Model::Davidson)),
        (&ranked, Options { l2: 0.05, ..Options::new(Model::PlackettLuce) }),
    ] {
        let cpu = plumb_ratings::fit(data, &options).map_err(|e| e.message)?;
        let on_gpu = Options { backend: Backend::Gpu, ..options.clone() };
        let gpu = plumb_ratings::fit(data, &on_gpu).map_err(|e| e.message)?;
        let close = |a: &[f64], b: &[f64], tolerance: f64| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance * (1.0 + x.abs()))
        };
        let same = cpu.iterations == gpu.iterations
            && close(&cpu.abilities, &gpu.abilities, 1e-9)
            && close(&cpu.se, &gpu.se, 1e-9)
            && close(&[cpu.loglik], &[gpu.loglik], 1e-10)
            && close(
                &cpu.tie_param.into_iter().collect::<Vec<_>>(),
                &gpu.tie_param.into_iter().collect::<Vec<_>>(),
                1e-9,
            );
        if !same {
            return Err(format!("{:?}: the GPU fit differs\ncpu: {cpu:?}\ngpu: {gpu:?}", options.model));
        }
        if options.model == Model::BradleyTerry {
            let first = plumb_ratings::bootstrap(data, &on_gpu, &gpu, 6, 11).map_err(|e| e.message)?;
            let again = plumb_ratings::bootstrap(data, &on_gpu, &gpu, 6, 11).map_err(|e| e.message)?;
            if first != again {
                return Err("GPU bootstrap intervals differ between runs".into());
            }
        }
    }
    Ok(())
}

fn equal_kernels_share_a_pipeline() -> Result<(), String> {
    let a = plumb_gpu::compile(&plumb_gpu::sample::dpo(0.1)).map_err(|e| e.to_string())?;
    let mut renamed = plumb_gpu::sample::dpo(0.1);
    renamed.name = "dpo_again".into();
    let b = plumb_gpu::compile(&renamed).map_err(|e| e.to_string())?;
    let other = plumb_gpu::compile(&plumb_gpu::sample::dpo(0.2)).map_err(|e| e.to_string())?;
    // Equal graphs share one compiled graph; a renamed graph has new bind
    // groups but the same kernel modules, hence the same cached pipelines.
    let again = plumb_gpu::compile(&plumb_gpu::sample::dpo(0.1)).map_err(|e| e.to_string())?;
    if !std::sync::Arc::ptr_eq(&a, &again) {
        return Err("an equal graph was compiled twice".into());
    }
    if a.kernel_hashes != b.kernel_hashes {
        return Err("a renamed graph got new pipelines".into());
    }
    if a.kernel_hashes == other.kernel_hashes {
        return Err("kernel hashes do not tell a different beta apart".into());
    }
    Ok(())
}

/// Every random graph's kernels build and validate (no device needed).
fn random_graphs_validate() -> Result<(), String> {
    let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
    let strategy = (proptest::collection::vec((0u8..=255, 0u8..=255, 0u8..=255), 1..30), 1usize..4);
    runner
        .run(&strategy, |(choices, rows)| {
            let case = build(&choices, rows);
            plumb_gpu::wgsl(&case.graph).map_err(|e| TestCaseError::fail(e.to_string()))?;
            plumb_gpu::wgsl_f64(&case.graph).map_err(|e| TestCaseError::fail(e.to_string()))?;
            Ok(())
        })
        .map_err(|e| e.to_string())
}

fn snapshot(name: &str, graph: &Graph) -> Result<(), String> {
    let text = plumb_gpu::wgsl(graph).map_err(|e| e.to_string())?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.wgsl"));
    if std::env::var_os("PLUMB_BLESS").is_some() {
        std::fs::write(&path, &text).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (run with PLUMB_BLESS=1 to create it)", path.display()))?;
    if expected != text {
        let line = expected.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(0);
        return Err(format!(
            "{} differs from the generated WGSL at line {} (run with PLUMB_BLESS=1 to accept):\n  expected: {}\n  got:      {}",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or(""),
            text.lines().nth(line).unwrap_or("")
        ));
    }
    Ok(())
}

/// A test that needs a device.
type GpuTest = fn() -> Result<(), String>;

fn main() {
    let args = Arguments::from_args();
    let adapter = plumb_gpu::adapter();
    match &adapter {
        Ok(name) => eprintln!("GPU tests run on {name}"),
        Err(e) => eprintln!("SKIPPED: every GPU test below is ignored: {e}"),
    }
    let skip = adapter.err().map(|e| format!("SKIPPED: {e}"));
    let gpu_tests: Vec<(&str, GpuTest)> = vec![
        ("differential::random_graphs_match_the_interpreter", random_graphs_match_the_interpreter),
        (
            "differential::many_rows_are_bitwise_identical_across_runs_and_chunkings",
            many_rows_are_bitwise_identical_across_runs_and_chunkings,
        ),
        ("differential::nan_and_infinity_propagate", nan_and_infinity_propagate),
        ("differential::empty_batches_and_fully_masked_rows", empty_batches_and_fully_masked_rows),
        ("differential::sample_graphs_match_the_interpreter", sample_graphs_match_the_interpreter),
        ("differential::rating_graphs_match_the_interpreter", rating_graphs_match_the_interpreter),
        ("math::functions_match_f64", math_functions_match_f64),
        ("f64::random_graphs_match_the_interpreter", f64_random_graphs_match_the_interpreter),
        (
            "f64::many_rows_are_bitwise_identical_across_runs_and_chunkings",
            f64_many_rows_are_bitwise_identical_across_runs_and_chunkings,
        ),
        ("f64::math_functions_match_the_interpreter", f64_math_functions_match_the_interpreter),
        ("f64::rating_fits_match_the_cpu", f64_rating_fits_match_the_cpu),
        ("cache::equal_kernels_share_a_pipeline", equal_kernels_share_a_pipeline),
    ];
    let mut trials: Vec<Trial> = gpu_tests
        .into_iter()
        .map(|(name, test)| {
            let skip = skip.clone();
            Trial::ignorable_test(name, move || match skip {
                Some(reason) => Ok(Completion::ignored_with(reason)),
                None => test().map(|()| Completion::Completed).map_err(Failed::from),
            })
        })
        .collect();
    trials.push(Trial::test("snapshot::dpo", || snapshot("dpo", &plumb_gpu::sample::dpo(0.1)).map_err(Failed::from)));
    trials.push(Trial::test("snapshot::ppo_clip", || {
        snapshot("ppo_clip", &plumb_gpu::sample::ppo(0.2)).map_err(Failed::from)
    }));
    trials.push(Trial::test("validate::random_graphs_validate", || random_graphs_validate().map_err(Failed::from)));
    libtest_mimic::run(&args, trials).exit();
}
