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

/// Where e^−|x| is tiny (|x| from 8 to 87), log_sigmoid and softplus are
/// ±log(1 + e^−|x|) ≈ ±e^−|x|: relatively accurate there too, not only to the
/// absolute 1e-7 above (their log(1 + e) is e·q(e), with q(0) within 6e-8 of 1).
#[test]
fn log_of_one_plus_a_tiny_exponential_is_relatively_accurate() {
    let xs = grid(8.0, 87.0, 100_001);
    let minus: Vec<f32> = xs.iter().map(|x| -x).collect();
    for (op, inputs, sign) in [(Unary::LogSigmoid, &xs, -1.0), (Unary::Softplus, &minus, 1.0)] {
        let got = run(op, inputs);
        for (&x, &y) in inputs.iter().zip(&got) {
            let want = sign * (-f64::from(x).abs()).exp().ln_1p();
            assert!((y - want).abs() <= 4e-7 * want.abs(), "{}({x}) = {y}, want {want}", op.name());
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

/// Clamps with constant bounds (compare-and-blend, NaN restored) and selects on
/// comparisons (masks taken directly) give the interpreter's values exactly on
/// special inputs: NaN, ±∞, ±0, the bounds themselves and either side of them.
#[test]
fn constant_clamps_and_comparison_selects_are_exact() {
    use plumb_ir::Binary;
    let mut g = Graph::new("clamps");
    let x = g.input("x", Shape::Rows, false);
    let lo = g.constant(-0.5);
    let hi = g.constant(2.0);
    let clamped = g.clamp(x, lo, hi);
    g.set_output("clamped", clamped);
    let zero_lo = g.constant(0.0);
    let at_zero = g.clamp(x, zero_lo, hi);
    g.set_output("at_zero", at_zero);
    let one = g.constant(1.0);
    let minus_one = g.constant(-1.0);
    let below = g.binary(Binary::Lt, x, one);
    let above = g.binary(Binary::Gt, x, minus_one);
    let inside = g.binary(Binary::And, below, above);
    let minus_x = g.neg(x);
    let picked = g.select(inside, x, minus_x);
    g.set_output("picked", picked);
    let differs = g.binary(Binary::Ne, x, one);
    let either = g.binary(Binary::Or, differs, below);
    let picked_too = g.select(either, one, minus_one);
    g.set_output("picked_too", picked_too);
    let xs: Vec<f32> = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        -0.5,
        2.0,
        -0.500_001,
        2.000_001,
        1.0,
        -1.0,
        0.25,
        -7.0,
        9.0,
    ];
    let compiled = plumb_cpu::compile(&g).expect("compiles");
    let got = compiled.run(&Batch::rows(xs.len()), std::slice::from_ref(&xs), 1).expect("runs");
    let inputs = vec![xs.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>()];
    let want = plumb_interp::outputs(&g, &plumb_interp::run(&g, &Batch::rows(xs.len()), &inputs).expect("runs"));
    for (name, values) in &got {
        let expected = &want.iter().find(|(n, _)| n == name).expect("output").1;
        for (k, (a, b)) in values.iter().zip(expected).enumerate() {
            // The sign of a zero result is checked where the fast path makes it
            // (fmax/fmin at a zero bound pick +0 where Rust's max may keep −0).
            let sign_matters = name != "at_zero";
            let same = (a.is_nan() && b.is_nan())
                || (*a == f64::from(*b as f32) && (!sign_matters || a.is_sign_negative() == b.is_sign_negative()));
            assert!(same, "{name}[{k}] of x = {}: cpu {a}, interpreter {b}", xs[k]);
        }
    }
}

/// `min` and `max` of every pair of special values: NaN if either is NaN (as
/// the interpreter), otherwise the smaller or larger, with −0 below +0 in
/// either order.
#[test]
fn min_and_max_propagate_nan_and_order_zeros() {
    use plumb_ir::Binary;
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1.5, -2.0, f32::MIN_POSITIVE];
    let (xs, ys): (Vec<f32>, Vec<f32>) = specials.iter().flat_map(|&x| specials.iter().map(move |&y| (x, y))).unzip();
    let mut g = Graph::new("min_max");
    let x = g.input("x", Shape::Rows, false);
    let y = g.input("y", Shape::Rows, false);
    let min = g.binary(Binary::Min, x, y);
    let max = g.binary(Binary::Max, x, y);
    g.set_output("min", min);
    g.set_output("max", max);
    let compiled = plumb_cpu::compile(&g).expect("compiles");
    let got = compiled.run(&Batch::rows(xs.len()), &[xs.clone(), ys.clone()], 1).expect("runs");
    for (name, values) in &got {
        for (k, &v) in values.iter().enumerate() {
            let (a, b) = (f64::from(xs[k]), f64::from(ys[k]));
            let want = if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if a == 0.0 && b == 0.0 {
                let negative = if name == "min" {
                    a.is_sign_negative() || b.is_sign_negative()
                } else {
                    a.is_sign_negative() && b.is_sign_negative()
                };
                if negative { -0.0 } else { 0.0 }
            } else if name == "min" {
                a.min(b)
            } else {
                a.max(b)
            };
            let same = (v.is_nan() && want.is_nan()) || (v == want && v.is_sign_negative() == want.is_sign_negative());
            assert!(same, "{name}({a}, {b}) = {v}, want {want}");
        }
    }
}

/// exp of an argument the graph clamped to constant bounds inside [−88, 88]
/// skips exp's own range checks: within 2 ulp of f64 like the checked exp (of
/// a clamp to ±100, which keeps them), on special and ordinary inputs, NaN
/// staying NaN.
#[test]
fn exp_of_a_constant_clamp_needs_no_range_checks() {
    let mut g = Graph::new("exp_of_clamp");
    let x = g.input("x", Shape::Rows, false);
    let lo = g.constant(-20.0);
    let hi = g.constant(20.0);
    let clamped = g.clamp(x, lo, hi);
    let e = g.unary(Unary::Exp, clamped);
    g.set_output("e", e);
    let wide_lo = g.constant(-100.0);
    let wide_hi = g.constant(100.0);
    let wide = g.clamp(x, wide_lo, wide_hi);
    let checked = g.unary(Unary::Exp, wide);
    g.set_output("checked", checked);
    let mut xs: Vec<f32> =
        vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 20.0, -20.0, 21.0, -21.0, 95.0, -95.0];
    xs.extend((0..2000).map(|i| -30.0 + i as f32 * 0.03));
    let compiled = plumb_cpu::compile(&g).expect("compiles");
    let got = compiled.run(&Batch::rows(xs.len()), std::slice::from_ref(&xs), 1).expect("runs");
    for (name, values) in &got {
        let bound = if name == "e" { 20.0 } else { 100.0 };
        for (k, &y) in values.iter().enumerate() {
            let x = f64::from(xs[k]);
            let want = if x.is_nan() { f64::NAN } else { x.clamp(-bound, bound).exp() };
            let (y32, want32) = (y as f32, want as f32);
            // Results below f32's normal range flush to 0, as exp does everywhere.
            let flushed = want < f64::from(f32::MIN_POSITIVE) && y == 0.0;
            let ok = (y32.is_nan() && want32.is_nan()) || y32 == want32 || ulps(y32, want32) <= 2 || flushed;
            assert!(ok, "{name}({x}) = {y}, want {want}");
        }
    }
}
