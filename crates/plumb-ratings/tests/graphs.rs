//! The rating models as compute graphs: at the native fit's estimate the
//! interpreter's negative log-likelihood is −loglik and its gradient vanishes;
//! gradients match finite differences; and the CPU backend (f32 rows, host
//! gathers and scatters in f64) agrees with the interpreter on random
//! abilities and data.

use plumb_interp::Batch;
use plumb_ratings::graphs::{negative_loglik, pair_terms, rows};
use plumb_ratings::{Dataset, Model, Observations, Options, PairRow, Ties, fit};
use proptest::prelude::*;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn uniform(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 53) as f64
    }
}

/// `items` items on a ring plus random extra pairs, with win, loss and tie counts.
fn dataset(items: usize, seed: u64) -> Dataset {
    let mut rng = Lcg(seed);
    let mut pairs = Vec::new();
    for i in 0..items {
        pairs.push((i, (i + 1) % items));
    }
    for _ in 0..items * 2 {
        let a = (rng.next() % items as u64) as usize;
        let b = (a + 1 + (rng.next() % (items as u64 - 1)) as usize) % items;
        pairs.push((a, b));
    }
    let rows = pairs
        .into_iter()
        .map(|(a, b)| PairRow {
            a: a as u32,
            b: b as u32,
            wins_a: 1.0 + (rng.next() % 5) as f64,
            wins_b: 1.0 + (rng.next() % 5) as f64,
            ties: (rng.next() % 3) as f64,
        })
        .collect();
    Dataset { items: (0..items).map(|i| format!("item{i}")).collect(), observations: Observations::Pairs(rows) }
}

/// Inputs in graph order: theta, the five row columns, and log ν for Davidson.
fn inputs(theta: &[f64], columns: &[Vec<f64>; 5], log_nu: Option<f64>) -> Vec<Vec<f64>> {
    let mut all = vec![theta.to_vec()];
    all.extend(columns.iter().cloned());
    all.extend(log_nu.map(|x| vec![x]));
    all
}

fn batch(columns: &[Vec<f64>; 5], items: usize) -> Batch {
    Batch { items, ..Batch::rows(columns[0].len()) }
}

/// `nll` and the gradients (`grad.theta`, and `grad.log_nu` for Davidson) by the interpreter.
fn interpret(model: Model, batch: &Batch, inputs: &[Vec<f64>]) -> Vec<(String, Vec<f64>)> {
    let graph = negative_loglik(model).unwrap();
    let with_grads = plumb_autodiff::differentiate(&graph, "nll").unwrap();
    let values = plumb_interp::run(&with_grads, batch, inputs).unwrap();
    plumb_interp::outputs(&with_grads, &values)
}

fn output<'a>(outputs: &'a [(String, Vec<f64>)], name: &str) -> &'a [f64] {
    &outputs.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no output {name}")).1
}

#[test]
fn plackett_luce_has_no_pairwise_graph_but_ranking_passes() {
    assert!(negative_loglik(Model::PlackettLuce).is_none());
    assert!(pair_terms(Model::PlackettLuce).is_none());
}

/// The per-pair Newton terms by the f64 kernel are the interpreter's, bit for bit.
#[test]
fn pair_term_kernels_are_the_interpreters_bit_for_bit() {
    let mut rng = Lcg(17);
    let pairs = 20_000; // several chunks
    let d: Vec<f64> = (0..pairs).map(|i| if i % 97 == 0 { 0.0 } else { (rng.uniform() - 0.5) * 80.0 }).collect();
    let counts = |rng: &mut Lcg| -> Vec<f64> { (0..pairs).map(|_| (rng.next() % 7) as f64).collect() };
    let (wij, wji, t) = (counts(&mut rng), counts(&mut rng), counts(&mut rng));
    for (model, alpha) in [
        (Model::BradleyTerry, None),
        (Model::Thurstone, None),
        (Model::Davidson, Some(-0.7)),
        (Model::Davidson, Some(3.0)),
    ] {
        let graph = pair_terms(model).unwrap();
        let mut inputs = vec![d.clone(), wij.clone(), wji.clone(), t.clone()];
        inputs.extend(alpha.map(|a| vec![a]));
        let batch = Batch::rows(pairs);
        let expected = plumb_interp::outputs(&graph, &plumb_interp::run(&graph, &batch, &inputs).unwrap());
        let compiled = plumb_cpu::compile_f64(&graph).unwrap();
        assert_eq!(compiled.kernel_count(), 1, "{model:?}: one fused pass");
        let got = compiled.run(&batch, &inputs, 2).unwrap();
        for (name, want) in &expected {
            let have = output(&got, name);
            let per_row = want.len() > 1;
            for (k, (a, b)) in have.iter().zip(want).enumerate() {
                // Per-pair values are bitwise equal; the sums add chunk partials in a tree.
                let ok = if per_row { a.to_bits() == b.to_bits() } else { (a - b).abs() <= 1e-12 * b.abs().max(1.0) };
                assert!(ok, "{model:?} {name}[{k}]: kernel {a} vs interpreter {b}");
            }
        }
    }
}

/// Plackett–Luce's two passes by the f64 kernel are the interpreter's, bit for bit.
#[test]
fn ranking_kernels_are_the_interpreters_bit_for_bit() {
    let mut rng = Lcg(29);
    let positions = 20_001;
    let x: Vec<f64> = (0..positions).map(|_| -rng.uniform() * 40.0).collect();
    // S underflows to 0 at some last positions (stage 0), never where a stage chooses.
    let s: Vec<f64> = (0..positions).map(|i| if i % 35 == 4 { 0.0 } else { 1.0 + rng.uniform() * 9.0 }).collect();
    let stage: Vec<f64> = (0..positions).map(|i| f64::from(u8::from(i % 5 != 4))).collect();
    let batch = Batch::rows(positions);
    for (graph, inputs) in [
        (plumb_ratings::graphs::ranking_weights(), vec![x.clone()]),
        (plumb_ratings::graphs::ranking_stages(), vec![s, x, stage]),
    ] {
        let expected = plumb_interp::outputs(&graph, &plumb_interp::run(&graph, &batch, &inputs).unwrap());
        let compiled = plumb_cpu::compile_f64(&graph).unwrap();
        assert_eq!(compiled.kernel_count(), 1, "{}: one fused pass", graph.name);
        let got = compiled.run(&batch, &inputs, 2).unwrap();
        for (name, want) in &expected {
            let have = output(&got, name);
            for (k, (a, b)) in have.iter().zip(want).enumerate() {
                let ok = if want.len() > 1 { a.to_bits() == b.to_bits() } else { (a - b).abs() <= 1e-12 * b.abs() };
                assert!(ok, "{} {name}[{k}]: kernel {a} vs interpreter {b}", graph.name);
                assert!(!a.is_nan(), "{} {name}[{k}] is NaN", graph.name);
            }
        }
    }
}

/// Random rankings (lengths 2–7) over `items` items, every item in some.
fn rankings(items: usize, count: usize, seed: u64) -> Dataset {
    let mut rng = Lcg(seed);
    let mut list: Vec<Vec<u32>> = (0..items).map(|i| vec![i as u32, ((i + 1) % items) as u32]).collect();
    for _ in 0..count {
        let len = 2 + (rng.next() % 6) as usize;
        let mut ranking: Vec<u32> = Vec::new();
        while ranking.len() < len.min(items) {
            let item = (rng.next() % items as u64) as u32;
            if !ranking.contains(&item) {
                ranking.push(item);
            }
        }
        list.push(ranking);
    }
    Dataset { items: (0..items).map(|i| format!("item{i}")).collect(), observations: Observations::Rankings(list) }
}

/// Fits whose Newton terms come from the kernel equal those of the native loop.
#[test]
fn kernel_and_native_fits_agree() {
    let data = dataset(30, 23);
    let cases = [
        Options::new(Model::BradleyTerry),
        Options { ties: Ties::Half, ..Options::new(Model::BradleyTerry) },
        Options { l2: 0.3, reference: Some(4), ..Options::new(Model::BradleyTerry) },
        Options::new(Model::Thurstone),
        Options { ties: Ties::Half, l2: 0.2, ..Options::new(Model::Thurstone) },
        Options::new(Model::Davidson),
        Options { l2: 0.1, ..Options::new(Model::Davidson) },
    ];
    for opts in cases {
        let with = fit(&data, &Options { kernels: true, ..opts.clone() }).unwrap();
        let without = fit(&data, &Options { kernels: false, ..opts.clone() }).unwrap();
        assert_eq!(with.iterations, without.iterations, "{opts:?}");
        for (a, b) in with.abilities.iter().zip(&without.abilities).chain(with.se.iter().zip(&without.se)) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{opts:?}: {a} vs {b}");
        }
        assert!((with.loglik - without.loglik).abs() <= 1e-12 * without.loglik.abs(), "{opts:?}");
        if let (Some(a), Some(b)) = (with.tie_param, without.tie_param) {
            assert!((a - b).abs() <= 1e-12 * b, "{opts:?}: ν {a} vs {b}");
        }
    }
    let ranked = rankings(25, 400, 31);
    for opts in [
        Options::new(Model::PlackettLuce),
        Options { l2: 0.05, reference: Some(3), ..Options::new(Model::PlackettLuce) },
    ] {
        let with = fit(&ranked, &Options { kernels: true, ..opts.clone() }).unwrap();
        let without = fit(&ranked, &Options { kernels: false, ..opts.clone() }).unwrap();
        assert_eq!(with.iterations, without.iterations, "{opts:?}");
        for (a, b) in with.abilities.iter().zip(&without.abilities).chain(with.se.iter().zip(&without.se)) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{opts:?}: {a} vs {b}");
        }
        assert!((with.loglik - without.loglik).abs() <= 1e-12 * without.loglik.abs(), "{opts:?}");
    }
}

#[test]
fn at_the_native_fit_the_graph_gives_its_loglik_and_a_zero_gradient() {
    for (model, ties) in [
        (Model::BradleyTerry, Ties::Ignore),
        (Model::BradleyTerry, Ties::Half),
        (Model::Thurstone, Ties::Ignore),
        (Model::Thurstone, Ties::Half),
        (Model::Davidson, Ties::Ignore),
    ] {
        let data = dataset(7, 11);
        let fitted = fit(&data, &Options { ties, ..Options::new(model) }).unwrap();
        let columns = rows(&data, model, ties).unwrap();
        let log_nu = fitted.tie_param.map(f64::ln);
        assert_eq!(log_nu.is_some(), model == Model::Davidson);
        let out = interpret(model, &batch(&columns, 7), &inputs(&fitted.abilities, &columns, log_nu));
        let nll = output(&out, "nll")[0];
        assert!((nll + fitted.loglik).abs() <= 1e-9 * fitted.loglik.abs(), "{model:?}: {nll} vs {}", fitted.loglik);
        let units: f64 = columns[2..].iter().flatten().sum();
        for g in output(&out, "grad.theta") {
            assert!(g.abs() < 1e-6 * units, "{model:?} {ties:?}: ∂nll/∂θ = {g} at the MLE");
        }
        if model == Model::Davidson {
            let g = output(&out, "grad.log_nu")[0];
            assert!(g.abs() < 1e-6 * units, "∂nll/∂log ν = {g} at the MLE");
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    for model in [Model::BradleyTerry, Model::Thurstone, Model::Davidson] {
        let data = dataset(5, 3);
        let columns = rows(&data, model, Ties::Ignore).unwrap();
        let mut rng = Lcg(5);
        let theta: Vec<f64> = (0..5).map(|_| rng.uniform() * 3.0 - 1.5).collect();
        let log_nu = (model == Model::Davidson).then_some(-0.4);
        let b = batch(&columns, 5);
        let out = interpret(model, &b, &inputs(&theta, &columns, log_nu));
        let nll_at = |theta: &[f64], log_nu: Option<f64>| {
            output(&interpret(model, &b, &inputs(theta, &columns, log_nu)), "nll")[0]
        };
        let step = 1e-6;
        for i in 0..5 {
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[i] += step;
            down[i] -= step;
            let numeric = (nll_at(&up, log_nu) - nll_at(&down, log_nu)) / (2.0 * step);
            let analytic = output(&out, "grad.theta")[i];
            assert!(
                (numeric - analytic).abs() < 1e-5 * (1.0 + analytic.abs()),
                "{model:?} θ{i}: {numeric} vs {analytic}"
            );
        }
        if let Some(x) = log_nu {
            let numeric = (nll_at(&theta, Some(x + step)) - nll_at(&theta, Some(x - step))) / (2.0 * step);
            let analytic = output(&out, "grad.log_nu")[0];
            assert!((numeric - analytic).abs() < 1e-5 * (1.0 + analytic.abs()), "log ν: {numeric} vs {analytic}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The CPU backend stores row values in f32 (gathers and scatters run on the
    /// host in f64), so each row's term carries a relative error of a few f32
    /// ulps (≈ 1e-7: the exp/log polynomials are within 2 ulp, log Φ's erfc fit
    /// within 1.2e-7 relative); sums of up to
    /// ~60 such terms stay within 1e-5 relative of the f64 interpreter, and the
    /// gradients within 1e-5 of the largest per-row magnitude.
    #[test]
    fn cpu_backend_agrees_with_the_interpreter(
        seed in 0u64..1_000_000,
        items in 2usize..12,
        which in 0usize..3,
        log_nu in -2.0f64..1.0,
    ) {
        let model = [Model::BradleyTerry, Model::Thurstone, Model::Davidson][which];
        let davidson = model == Model::Davidson;
        let data = dataset(items, seed);
        let columns = rows(&data, model, Ties::Half).unwrap();
        let mut rng = Lcg(seed ^ 0x5eed);
        // Abilities exact in f32, so both backends see the same inputs.
        let theta: Vec<f64> = (0..items).map(|_| f64::from((rng.uniform() * 6.0 - 3.0) as f32)).collect();
        let log_nu = davidson.then_some(f64::from(log_nu as f32));
        let all = inputs(&theta, &columns, log_nu);
        let b = batch(&columns, items);
        let expected = interpret(model, &b, &all);

        let graph = plumb_autodiff::differentiate(&negative_loglik(model).unwrap(), "nll").unwrap();
        let compiled = plumb_cpu::compile(&graph).unwrap();
        // The per-row terms and their derivatives run as one fused pass; only
        // the gathers and the scatter-adds into items run on the host.
        prop_assert_eq!(compiled.kernel_count(), 1);
        let as_f32: Vec<Vec<f32>> = all.iter().map(|v| v.iter().map(|&x| x as f32).collect()).collect();
        let got = compiled.run(&b, &as_f32, 2).unwrap();
        let units: f64 = columns[2..].iter().flatten().sum();
        let (e, g) = (output(&expected, "nll")[0], output(&got, "nll")[0]);
        prop_assert!((e - g).abs() <= 1e-5 * e.abs(), "nll: interpreter {}, cpu {}", e, g);
        for name in ["grad.theta"].into_iter().chain(davidson.then_some("grad.log_nu")) {
            for (e, g) in output(&expected, name).iter().zip(output(&got, name)) {
                prop_assert!((e - g).abs() <= 1e-5 * units, "{}: interpreter {}, cpu {}", name, e, g);
            }
        }
        // Bitwise the same on any thread count.
        prop_assert_eq!(compiled.run(&b, &as_f32, 1).unwrap(), compiled.run(&b, &as_f32, 8).unwrap());
    }
}
