//! Accuracy of the vectorised f32 math against f64 over wide ranges: the
//! bounds documented in `src/math.rs`. (`exp` and `log` in ulps of the f32
//! result; the derived functions in relative error, or absolute error near 0.)

use plumb_interp::Batch;
use plumb_ir::{Graph, Shape, Unary, eval_unary};

fn run(op: Unary, xs: &[f32]) -> Vec<f64> {
    let mut g = Graph::new("math");
    let x = g.input("x", Shape::Rows, false);
    let y = g.unary(op, x);
    g.set_output("y", y);
    let compiled = plumb_cpu::compile(&g).expect("compiles");
    let out = compiled.run(&Batch::rows(xs.len()), &[xs.to_vec()], 1).expect("runs");
    out.into_iter().next().expect("output").1
}

fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n).map(|i| lo + (hi - lo) * (i as f32 + 0.5) / n as f32).collect()
}

fn ulps(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    let (a, b) = (a.to_bits() as i64, b.to_bits() as i64);
    (a - b).unsigned_abs() as u32
}

#[test]
fn exp_is_within_2_ulp() {
    let xs = grid(-87.0, 88.0, 200_003);
    let got = run(Unary::Exp, &xs);
    let worst = xs.iter().zip(&got).map(|(&x, &y)| ulps(y as f32, (f64::from(x)).exp() as f32)).max().unwrap_or(0);
    assert!(worst <= 2, "exp: {worst} ulp");
}

#[test]
fn log_is_within_2_ulp() {
    let mut xs = grid(1e-30, 1.0, 100_001);
    xs.extend(grid(1.0, 1e30, 100_001));
    xs.extend(grid(0.5, 2.0, 100_001));
    let got = run(Unary::Log, &xs);
    let worst = xs
        .iter()
        .zip(&got)
        .map(|(&x, &y)| (ulps(y as f32, (f64::from(x)).ln() as f32), x))
        .max_by_key(|p| p.0)
        .unwrap_or((0, 0.0));
    assert!(worst.0 <= 2, "log: {worst:?} ulp");
}

#[test]
fn derived_functions_are_within_1e_6() {
    let cases: [(Unary, f32, f32); 10] = [
        (Unary::Log1p, -0.999, 50.0),
        (Unary::Expm1, -30.0, 30.0),
        (Unary::Sigmoid, -80.0, 80.0),
        (Unary::LogSigmoid, -80.0, 80.0),
        (Unary::Softplus, -80.0, 80.0),
        (Unary::Tanh, -20.0, 20.0),
        (Unary::Log1mexp, -80.0, -1e-6),
        (Unary::Expm1, -1e-3, 1e-3),
        (Unary::LogNdtr, -2000.0, 12.0),
        (Unary::LogNdtr, -4.0, 4.0),
    ];
    for (op, lo, hi) in cases {
        let xs = grid(lo, hi, 100_001);
        let got = run(op, &xs);
        for (&x, &y) in xs.iter().zip(&got) {
            let want = eval_unary(op, f64::from(x));
            let error = (y - want).abs();
            assert!(error <= 1e-6 * want.abs() || error <= 1e-7, "{}({x}) = {y}, want {want}", op.name());
        }
    }
}

#[test]
fn special_values() {
    let xs = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 89.0, -104.0];
    let exp = run(Unary::Exp, &xs);
    assert!(exp[0].is_nan());
    assert_eq!(&exp[1..], &[f64::INFINITY, 0.0, 1.0, 1.0, f64::INFINITY, 0.0]);
    let log = run(Unary::Log, &[f32::NAN, f32::INFINITY, 0.0, -1.0, 1.0]);
    assert!(log[0].is_nan() && log[3].is_nan());
    assert_eq!((log[1], log[2], log[4]), (f64::INFINITY, f64::NEG_INFINITY, 0.0));
    let ls = run(Unary::LogSigmoid, &[f32::NEG_INFINITY, f32::INFINITY, -60.0]);
    assert_eq!(ls[0], f64::NEG_INFINITY);
    assert_eq!(ls[1], 0.0);
    assert!((ls[2] + 60.0).abs() < 1e-5);
    let log_ndtr = run(Unary::LogNdtr, &[f32::NAN, f32::NEG_INFINITY, f32::INFINITY]);
    assert!(log_ndtr[0].is_nan());
    assert_eq!((log_ndtr[1], log_ndtr[2]), (f64::NEG_INFINITY, 0.0));
}
