//! `eval_loss` against independent closed forms, written directly in Rust from
//! `design/losses.md`, of every stdlib loss: batch loss, per-row values,
//! gradients (checked against central finite differences of the closed forms),
//! edge rows, batch-coupled semantics (aot sorting, kto's z0), token-level
//! reductions, input conventions and coded errors.

use plumb_cli::eval_loss::{EvalError, EvalOutput, EvalRequest, GradColumn, eval_loss};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::f64::consts::LN_2;

// ------------------------------------------------------------------ numerics

/// log σ(x), stable.
fn ls(x: f64) -> f64 {
    if x >= 0.0 { -(-x).exp().ln_1p() } else { x - x.exp().ln_1p() }
}

/// σ(x), stable.
fn sig(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// log(1 − e^a) for a < 0, stable.
fn log1mexp(a: f64) -> f64 {
    if a > -LN_2 { (-a.exp_m1()).ln() } else { (-a.exp()).ln_1p() }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    a == b || (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

#[track_caller]
fn assert_close(got: f64, want: f64, rel: f64, abs: f64, what: &str) {
    assert!(close(got, want, rel, abs), "{what}: got {got:e}, want {want:e} (diff {:e})", (got - want).abs());
}

/// xorshift64: deterministic pseudo-random test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn bits(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn unif(&mut self) -> f64 {
        (self.bits() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unif()
    }
    fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.bits() % (hi - lo + 1)
    }
}

// ---------------------------------------------------------------------- rows

/// One input row: scalar columns and token-list columns.
#[derive(Clone, Debug, Default)]
struct Row {
    v: BTreeMap<String, f64>,
    t: BTreeMap<String, Vec<f64>>,
}

impl Row {
    fn of(cols: &[(&str, f64)]) -> Row {
        Row { v: cols.iter().map(|(k, x)| (k.to_string(), *x)).collect(), t: BTreeMap::new() }
    }
    #[track_caller]
    fn g(&self, k: &str) -> f64 {
        match self.v.get(k) {
            Some(x) => *x,
            None => panic!("test row lacks column {k}"),
        }
    }
    #[track_caller]
    fn tok(&self, k: &str) -> &[f64] {
        match self.t.get(k) {
            Some(x) => x,
            None => panic!("test row lacks token column {k}"),
        }
    }
}

fn pair(pc: f64, rc: f64, pr: f64, rr: f64, lc: f64, lr: f64) -> Row {
    Row::of(&[
        ("pi_chosen", pc),
        ("ref_chosen", rc),
        ("pi_rejected", pr),
        ("ref_rejected", rr),
        ("len_chosen", lc),
        ("len_rejected", lr),
    ])
}

fn ppo_row(logp: &[f64], old: &[f64], adv: &[f64], mask: &[f64]) -> Row {
    let mut r = Row::default();
    r.t.insert("logp".into(), logp.to_vec());
    r.t.insert("old_logp".into(), old.to_vec());
    r.t.insert("advantages".into(), adv.to_vec());
    r.t.insert("mask".into(), mask.to_vec());
    r
}

/// JSON object of a row: `label` as a boolean, integral `len_*` and masks as integers.
fn row_json(r: &Row) -> Value {
    let mut m = Map::new();
    for (k, &x) in &r.v {
        let val = if k == "label" {
            json!(x != 0.0)
        } else if k.starts_with("len_") && x.fract() == 0.0 {
            json!(x as i64)
        } else {
            json!(x)
        };
        m.insert(k.clone(), val);
    }
    for (k, xs) in &r.t {
        let val = xs.iter().map(|&x| if k == "mask" && x.fract() == 0.0 { json!(x as i64) } else { json!(x) });
        m.insert(k.clone(), Value::Array(val.collect()));
    }
    Value::Object(m)
}

fn jsonl_of(values: &[Value]) -> String {
    values.iter().map(|v| v.to_string() + "\n").collect()
}

fn rows_to_jsonl(rows: &[Row]) -> String {
    jsonl_of(&rows.iter().map(row_json).collect::<Vec<_>>())
}

fn neg_lp(g: &mut Rng) -> f64 {
    -g.range(1.0, 60.0)
}

/// Pairwise rows with reference; row 0 has len_chosen 1, row 1 len_rejected 1.
fn pair_rows(seed: u64, n: usize) -> Vec<Row> {
    let mut g = Rng::new(seed);
    (0..n)
        .map(|i| {
            let (pc, rc, pr, rr) = (neg_lp(&mut g), neg_lp(&mut g), neg_lp(&mut g), neg_lp(&mut g));
            let lc = if i == 0 { 1.0 } else { g.int(1, 40) as f64 };
            let lr = if i == 1 { 1.0 } else { g.int(1, 40) as f64 };
            pair(pc, rc, pr, rr, lc, lr)
        })
        .collect()
}

/// Reference-free pairwise rows (no ref_* columns).
fn reffree_rows(seed: u64, n: usize) -> Vec<Row> {
    let mut rows = pair_rows(seed, n);
    for r in &mut rows {
        r.v.remove("ref_chosen");
        r.v.remove("ref_rejected");
    }
    rows
}

/// KTO rows; `pi_kl − ref_kl` is `kl_shift` ± 1, labels mixed (row 0 desirable, row 1 not).
fn kto_rows(seed: u64, n: usize, kl_shift: f64) -> Vec<Row> {
    let mut g = Rng::new(seed);
    (0..n)
        .map(|i| {
            let label = match i {
                0 => 1.0,
                1 => 0.0,
                _ => {
                    if g.unif() < 0.5 {
                        1.0
                    } else {
                        0.0
                    }
                }
            };
            let (pi, rf, ref_kl) = (neg_lp(&mut g), neg_lp(&mut g), neg_lp(&mut g));
            let pi_kl = ref_kl + kl_shift + g.range(-1.0, 1.0);
            Row::of(&[("pi", pi), ("ref", rf), ("label", label), ("pi_kl", pi_kl), ("ref_kl", ref_kl)])
        })
        .collect()
}

fn reward_rows(seed: u64, n: usize, margin: bool) -> Vec<Row> {
    let mut g = Rng::new(seed);
    (0..n)
        .map(|_| {
            let mut r = Row::of(&[("r_chosen", g.range(-3.0, 3.0)), ("r_rejected", g.range(-3.0, 3.0))]);
            if margin {
                r.v.insert("margin".into(), g.range(0.0, 1.0));
            }
            r
        })
        .collect()
}

/// PPO rows with 1–7 tokens, log-ratios in [−0.5, 0.5] kept away from the clip
/// kinks ln(1 ± 0.1), ln(1 ± 0.2); row 0 token 0 unmasked; `fully_masked` row all 0.
fn ppo_rows(seed: u64, n: usize, fully_masked: Option<usize>) -> Vec<Row> {
    let mut g = Rng::new(seed);
    let kinks: Vec<f64> = [0.9f64, 1.1, 0.8, 1.2].iter().map(|x| x.ln()).collect();
    (0..n)
        .map(|i| {
            let k = g.int(1, 7) as usize;
            let (mut lp, mut old, mut adv, mut mask) = (vec![], vec![], vec![], vec![]);
            for t in 0..k {
                let l = -g.range(0.1, 5.0);
                let mut q = g.range(-0.5, 0.5);
                while kinks.iter().any(|c| (q - c).abs() < 1e-3) {
                    q = g.range(-0.5, 0.5);
                }
                lp.push(l);
                old.push(l - q);
                adv.push(g.range(-3.0, 3.0));
                let m = if fully_masked == Some(i) {
                    0.0
                } else if i == 0 && t == 0 {
                    1.0
                } else {
                    if g.unif() < 0.75 { 1.0 } else { 0.0 }
                };
                mask.push(m);
            }
            ppo_row(&lp, &old, &adv, &mask)
        })
        .collect()
}

// --------------------------------------------------------------- closed forms

type Params<'a> = [(&'a str, &'a str)];

/// A parameter's value (booleans as 1/0), or its default.
fn par(ps: &Params, name: &str, default: f64) -> f64 {
    match ps.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v) {
        None => default,
        Some("true") => 1.0,
        Some("false") => 0.0,
        Some(s) => s.parse().expect("numeric test parameter"),
    }
}

const PAIRWISE: [&str; 12] = [
    "dpo",
    "dpo_hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust_dpo",
    "bco_pair",
    "sppo_hard",
    "apo_zero",
    "apo_down",
    "discopop",
    "dpo_norm",
];

fn delta(r: &Row) -> f64 {
    (r.g("pi_chosen") - r.g("ref_chosen")) - (r.g("pi_rejected") - r.g("ref_rejected"))
}

/// Row loss of the per-row pairwise losses with reference.
fn pair_row(loss: &str, ps: &Params, r: &Row) -> f64 {
    let b = par(ps, "beta", 0.1);
    let rho_c = r.g("pi_chosen") - r.g("ref_chosen");
    let rho_r = r.g("pi_rejected") - r.g("ref_rejected");
    let z = b * (rho_c - rho_r);
    match loss {
        "dpo" => {
            let e = par(ps, "label_smoothing", 0.0);
            -(1.0 - e) * ls(z) - e * ls(-z)
        }
        "dpo_hinge" => (1.0 - z).max(0.0),
        "ipo" => {
            let m = if par(ps, "normalize_length", 1.0) != 0.0 {
                rho_c / r.g("len_chosen") - rho_r / r.g("len_rejected")
            } else {
                rho_c - rho_r
            };
            (m - 1.0 / (2.0 * b)).powi(2)
        }
        "exo_pair" => {
            let e = par(ps, "label_smoothing", 1e-3);
            sig(z) * (ls(z) - (1.0 - e).ln()) + sig(-z) * (ls(-z) - e.ln())
        }
        "nca_pair" => -ls(b * rho_c) - 0.5 * ls(-b * rho_c) - 0.5 * ls(-b * rho_r),
        "robust_dpo" => {
            let e = par(ps, "label_smoothing", 0.1);
            (-(1.0 - e) * ls(z) + e * ls(-z)) / (1.0 - 2.0 * e)
        }
        "bco_pair" => -ls(b * rho_c) - ls(-b * rho_r),
        "sppo_hard" => {
            let h = 1.0 / (2.0 * b);
            (rho_c - h).powi(2) + (rho_r + h).powi(2)
        }
        "apo_zero" => (1.0 - sig(b * rho_c)) + sig(b * rho_r),
        "apo_down" => sig(b * rho_c) + (1.0 - sig(z)),
        "discopop" => {
            let tau = par(ps, "tau", 0.05);
            let m = sig(z / tau);
            (1.0 - m) * (-ls(z)) + m * (-z).exp()
        }
        "dpo_norm" => -ls(b * (rho_c / r.g("len_chosen") - rho_r / r.g("len_rejected"))),
        _ => unreachable!("{loss}"),
    }
}

/// aot's rank loss and its derivative in d.
fn rank_loss(b: f64, e: f64, d: f64) -> f64 {
    -(1.0 - e) * ls(b * d) - e * ls(-b * d)
}
fn rank_loss_d(b: f64, e: f64, d: f64) -> f64 {
    -(1.0 - e) * b * sig(-b * d) + e * b * sig(b * d)
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Position of each element in a stable ascending sort.
fn stable_ranks(xs: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut rank = vec![0; xs.len()];
    for (k, &i) in idx.iter().enumerate() {
        rank[i] = k;
    }
    rank
}

/// (x, y) sequences that aot / aot_unpaired sort independently.
fn aot_seqs(loss: &str, rows: &[Row]) -> (Vec<f64>, Vec<f64>) {
    rows.iter()
        .map(|r| {
            if loss == "aot" {
                (r.g("pi_chosen") - r.g("pi_rejected"), r.g("ref_chosen") - r.g("ref_rejected"))
            } else {
                (r.g("pi_chosen") - r.g("ref_chosen"), r.g("pi_rejected") - r.g("ref_rejected"))
            }
        })
        .unzip()
}

fn kto_raw_mean(rows: &[Row]) -> f64 {
    mean(&rows.iter().map(|r| r.g("pi_kl") - r.g("ref_kl")).collect::<Vec<_>>())
}

fn nll(rows: &[Row]) -> f64 {
    -rows.iter().map(|r| r.g("pi_chosen")).sum::<f64>() / rows.iter().map(|r| r.g("len_chosen")).sum::<f64>()
}

/// (Σ masked ℓ, Σ mask) of one PPO row.
fn ppo_sums(ps: &Params, r: &Row) -> (f64, f64) {
    let eps = par(ps, "clip", 0.2);
    let (lp, old, adv, mask) = (r.tok("logp"), r.tok("old_logp"), r.tok("advantages"), r.tok("mask"));
    let (mut s, mut m) = (0.0, 0.0);
    for (((&l, &o), &a), &w) in lp.iter().zip(old).zip(adv).zip(mask) {
        if w != 0.0 {
            let q = (l - o).clamp(-20.0, 20.0);
            let ratio = q.exp();
            let tok = -(ratio * a).min(ratio.clamp(1.0 - eps, 1.0 + eps) * a);
            s += w * tok;
            m += w;
        }
    }
    (s, m)
}

type Closed = (f64, Option<Vec<Option<f64>>>);

fn per_row(v: Vec<f64>, extra: f64) -> Closed {
    (mean(&v) + extra, Some(v.into_iter().map(Some).collect()))
}

/// The closed form of `loss`: batch loss and per-row values.
fn closed(loss: &str, ps: &Params, rows: &[Row]) -> Closed {
    let b = |d: f64| par(ps, "beta", d);
    match loss {
        l if PAIRWISE.contains(&l) => per_row(rows.iter().map(|r| pair_row(loss, ps, r)).collect(), 0.0),
        "aot" | "aot_unpaired" => {
            let (beta, e) = (b(0.1), par(ps, "label_smoothing", 0.0));
            let (x, y) = aot_seqs(loss, rows);
            let (xs, ys) = (sorted(&x), sorted(&y));
            let ranks: Vec<f64> = xs.iter().zip(&ys).map(|(a, c)| rank_loss(beta, e, a - c)).collect();
            (mean(&ranks), None)
        }
        "kto" => {
            let beta = b(0.1);
            let (wd, wu) = (par(ps, "desirable_weight", 1.0), par(ps, "undesirable_weight", 1.0));
            let z0 = kto_raw_mean(rows).max(0.0);
            let v = rows
                .iter()
                .map(|r| {
                    let rho = r.g("pi") - r.g("ref");
                    if r.g("label") != 0.0 {
                        wd * (1.0 - sig(beta * (rho - z0)))
                    } else {
                        wu * (1.0 - sig(beta * (z0 - rho)))
                    }
                })
                .collect();
            per_row(v, 0.0)
        }
        "orpo" | "cpo" | "simpo" => {
            let ac = |r: &Row| r.g("pi_chosen") / r.g("len_chosen");
            let ar = |r: &Row| r.g("pi_rejected") / r.g("len_rejected");
            match loss {
                "orpo" => {
                    let beta = b(0.1);
                    let v = rows
                        .iter()
                        .map(|r| {
                            let (c, j) = (ac(r), ar(r));
                            let o = (c - j) - (log1mexp(c) - log1mexp(j));
                            -beta * ls(o)
                        })
                        .collect();
                    per_row(v, nll(rows))
                }
                "cpo" => {
                    let (beta, e, alpha) = (b(0.1), par(ps, "label_smoothing", 0.0), par(ps, "alpha", 1.0));
                    let v = rows
                        .iter()
                        .map(|r| {
                            let u = beta * (r.g("pi_chosen") - r.g("pi_rejected"));
                            -(1.0 - e) * ls(u) - e * ls(-u)
                        })
                        .collect();
                    per_row(v, if alpha != 0.0 { alpha * nll(rows) } else { 0.0 })
                }
                _ => {
                    let (beta, gamma, alpha) = (b(2.0), par(ps, "gamma", 0.5), par(ps, "alpha", 0.0));
                    let v = rows.iter().map(|r| -ls(beta * (ac(r) - ar(r)) - gamma)).collect();
                    per_row(v, if alpha != 0.0 { alpha * nll(rows) } else { 0.0 })
                }
            }
        }
        "reward_bt" => {
            let center = par(ps, "center", 0.0);
            let v = rows
                .iter()
                .map(|r| -ls(r.g("r_chosen") - r.g("r_rejected") - r.v.get("margin").copied().unwrap_or(0.0)))
                .collect();
            let sq = mean(&rows.iter().map(|r| (r.g("r_chosen") + r.g("r_rejected")).powi(2)).collect::<Vec<_>>());
            per_row(v, center * sq)
        }
        "ppo_clip" => {
            let sums: Vec<(f64, f64)> = rows.iter().map(|r| ppo_sums(ps, r)).collect();
            if par(ps, "token_level", 1.0) != 0.0 {
                let s: f64 = sums.iter().map(|p| p.0).sum();
                let m: f64 = sums.iter().map(|p| p.1).sum();
                (s / m, None)
            } else {
                let v: Vec<Option<f64>> = sums.iter().map(|&(s, m)| if m > 0.0 { Some(s / m) } else { None }).collect();
                let kept: Vec<f64> = v.iter().flatten().copied().collect();
                (mean(&kept), Some(v))
            }
        }
        _ => unreachable!("{loss}"),
    }
}

/// The gradient columns that losses.md implies, sorted.
fn grad_columns(loss: &str) -> &'static [&'static str] {
    match loss {
        "kto" => &["pi"],
        "reward_bt" => &["r_chosen", "r_rejected"],
        "ppo_clip" => &["logp"],
        _ => &["pi_chosen", "pi_rejected"],
    }
}

/// Central finite difference of `f` in column `col` of row `i` (token `tok` for token columns).
fn fd_grad(f: &dyn Fn(&[Row]) -> f64, rows: &[Row], col: &str, i: usize, tok: Option<usize>) -> f64 {
    let x = match tok {
        None => rows[i].g(col),
        Some(t) => rows[i].tok(col)[t],
    };
    let h = 1e-6 * x.abs().max(1.0);
    let at = |y: f64| {
        let mut rs = rows.to_vec();
        match tok {
            None => {
                rs[i].v.insert(col.to_string(), y);
            }
            Some(t) => rs[i].t.get_mut(col).expect("token column")[t] = y,
        }
        f(&rs)
    };
    let (xp, xm) = (x + h, x - h);
    (at(xp) - at(xm)) / (xp - xm)
}

// ------------------------------------------------------------------- running

fn request(loss: &str, ps: &Params, jsonl: &str) -> Result<EvalOutput, EvalError> {
    let req = EvalRequest {
        loss,
        params: ps.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        rows_jsonl: jsonl,
        recipe: None,
    };
    eval_loss(&req)
}

#[track_caller]
fn run_ok(loss: &str, ps: &Params, jsonl: &str) -> EvalOutput {
    match request(loss, ps, jsonl) {
        Ok(o) => o,
        Err(e) => panic!("{loss} {ps:?}: unexpected error {}: {}", e.code, e.message),
    }
}

/// Runs a request that must fail with a `P05…` code and a message.
#[track_caller]
fn run_err(loss: &str, ps: &Params, jsonl: &str) -> EvalError {
    match request(loss, ps, jsonl) {
        Ok(o) => panic!("{loss} {ps:?}: expected an error, got loss {}", o.loss),
        Err(e) => {
            assert!(e.code.starts_with("P05"), "{loss} {ps:?}: code {} ({})", e.code, e.message);
            assert!(!e.message.is_empty(), "{loss}: empty message for {}", e.code);
            e
        }
    }
}

fn rows_grad<'a>(out: &'a EvalOutput, col: &str) -> &'a [f64] {
    match out.grad.get(col) {
        Some(GradColumn::Rows(v)) => v.as_slice(),
        Some(GradColumn::Tokens(_)) => panic!("grad {col} is per token, expected per row"),
        None => panic!("no grad for {col}; have {:?}", out.grad.keys().collect::<Vec<_>>()),
    }
}

fn token_grad<'a>(out: &'a EvalOutput, col: &str) -> &'a [Vec<f64>] {
    match out.grad.get(col) {
        Some(GradColumn::Tokens(v)) => v.as_slice(),
        Some(GradColumn::Rows(_)) => panic!("grad {col} is per row, expected per token"),
        None => panic!("no grad for {col}; have {:?}", out.grad.keys().collect::<Vec<_>>()),
    }
}

/// Loss, rows (values and null-ness), gradient keys and every gradient entry
/// against the closed form and its finite differences.
#[track_caller]
fn check(loss: &str, ps: &Params, rows: &[Row]) -> EvalOutput {
    let ctx = format!("{loss} {ps:?}");
    let out = run_ok(loss, ps, &rows_to_jsonl(rows));
    let (want, want_rows) = closed(loss, ps, rows);
    assert!(want.is_finite(), "{ctx}: the closed form is not finite (bad test data)");
    assert_close(out.loss, want, 1e-9, 1e-12, &format!("{ctx}: loss"));
    match (&out.rows, &want_rows) {
        (None, None) => {}
        (Some(got), Some(w)) => {
            assert_eq!(got.len(), w.len(), "{ctx}: number of rows");
            for (i, (g, w)) in got.iter().zip(w).enumerate() {
                match (g, w) {
                    (None, None) => {}
                    (Some(a), Some(b)) => assert_close(*a, *b, 1e-9, 1e-12, &format!("{ctx}: rows[{i}]")),
                    _ => panic!("{ctx}: rows[{i}] is {g:?}, want {w:?}"),
                }
            }
        }
        (g, w) => panic!("{ctx}: rows is {g:?}, want {w:?}"),
    }
    let keys: Vec<&str> = out.grad.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, grad_columns(loss), "{ctx}: gradient columns");
    let f = |rs: &[Row]| closed(loss, ps, rs).0;
    for (col, g) in &out.grad {
        match g {
            GradColumn::Rows(v) => {
                assert!(!rows[0].t.contains_key(col), "{ctx}: grad {col} should be per token");
                assert_eq!(v.len(), rows.len(), "{ctx}: grad {col} length");
                for (i, &gi) in v.iter().enumerate() {
                    let fd = fd_grad(&f, rows, col, i, None);
                    assert_close(gi, fd, 1e-5, 1e-7, &format!("{ctx}: grad {col}[{i}] vs finite difference"));
                }
            }
            GradColumn::Tokens(v) => {
                assert!(rows[0].t.contains_key(col), "{ctx}: grad {col} should be per row");
                assert_eq!(v.len(), rows.len(), "{ctx}: grad {col} rows");
                for (i, gi) in v.iter().enumerate() {
                    let mask = rows[i].tok("mask");
                    assert_eq!(gi.len(), mask.len(), "{ctx}: grad {col}[{i}] tokens");
                    for (t, &gt) in gi.iter().enumerate() {
                        if mask[t] == 0.0 {
                            assert_eq!(gt, 0.0, "{ctx}: masked token grad {col}[{i}][{t}]");
                        }
                        let fd = fd_grad(&f, rows, col, i, Some(t));
                        assert_close(gt, fd, 1e-5, 1e-7, &format!("{ctx}: grad {col}[{i}][{t}] vs finite difference"));
                    }
                }
            }
        }
    }
    out
}

fn all_finite(out: &EvalOutput) -> bool {
    out.loss.is_finite()
        && out.grad.values().all(|g| match g {
            GradColumn::Rows(v) => v.iter().all(|x| x.is_finite()),
            GradColumn::Tokens(v) => v.iter().flatten().all(|x| x.is_finite()),
        })
}

/// Two outputs are identical (loss, rows and gradients bit for bit).
#[track_caller]
fn assert_same(a: &EvalOutput, b: &EvalOutput, what: &str) {
    assert_eq!(a.loss.to_bits(), b.loss.to_bits(), "{what}: loss {} vs {}", a.loss, b.loss);
    assert_eq!(a.rows, b.rows, "{what}: rows");
    assert_eq!(a.grad.keys().collect::<Vec<_>>(), b.grad.keys().collect::<Vec<_>>(), "{what}: grad keys");
    for (k, ga) in &a.grad {
        let same = match (ga, &b.grad[k]) {
            (GradColumn::Rows(x), GradColumn::Rows(y)) => x == y,
            (GradColumn::Tokens(x), GradColumn::Tokens(y)) => x == y,
            _ => false,
        };
        assert!(same, "{what}: grad {k} differs");
    }
}

// ------------------------------------------------- pairwise, with reference

#[test]
fn dpo() {
    let rows = pair_rows(1, 9);
    check("dpo", &[], &rows);
    check("dpo", &[("beta", "0.3"), ("label_smoothing", "0.2")], &rows);
}

#[test]
fn dpo_hinge() {
    let rows = pair_rows(2, 10);
    for b in [0.1, 0.05] {
        assert!(rows.iter().all(|r| (b * delta(r) - 1.0).abs() > 1e-3), "test data too close to the hinge kink");
    }
    assert!(rows.iter().any(|r| 0.1 * delta(r) > 1.0) && rows.iter().any(|r| 0.1 * delta(r) < 1.0));
    check("dpo_hinge", &[], &rows);
    check("dpo_hinge", &[("beta", "0.05")], &rows);
}

#[test]
fn ipo() {
    let rows = pair_rows(3, 8);
    check("ipo", &[], &rows);
    check("ipo", &[("normalize_length", "false")], &rows);
    check("ipo", &[("beta", "0.02"), ("normalize_length", "true")], &rows);
}

#[test]
fn exo_pair() {
    let rows = pair_rows(4, 7);
    check("exo_pair", &[], &rows);
    check("exo_pair", &[("beta", "0.2"), ("label_smoothing", "0.3")], &rows);
}

#[test]
fn nca_pair() {
    let rows = pair_rows(5, 11);
    check("nca_pair", &[], &rows);
    check("nca_pair", &[("beta", "0.05")], &rows);
}

#[test]
fn robust_dpo() {
    let rows = pair_rows(6, 9);
    check("robust_dpo", &[], &rows);
    check("robust_dpo", &[("label_smoothing", "0")], &rows);
    check("robust_dpo", &[("beta", "0.2"), ("label_smoothing", "0.3")], &rows);
}

#[test]
fn bco_pair() {
    let rows = pair_rows(7, 8);
    check("bco_pair", &[], &rows);
    check("bco_pair", &[("beta", "0.2")], &rows);
}

#[test]
fn sppo_hard() {
    let rows = pair_rows(8, 6);
    check("sppo_hard", &[], &rows);
    check("sppo_hard", &[("beta", "1.0")], &rows);
}

#[test]
fn apo_zero() {
    let rows = pair_rows(9, 10);
    check("apo_zero", &[], &rows);
    check("apo_zero", &[("beta", "0.05")], &rows);
}

#[test]
fn apo_down() {
    let rows = pair_rows(10, 10);
    check("apo_down", &[], &rows);
    check("apo_down", &[("beta", "0.05")], &rows);
}

#[test]
fn discopop() {
    let rows = pair_rows(11, 12);
    check("discopop", &[], &rows);
    check("discopop", &[("tau", "0.1")], &rows);
    check("discopop", &[("beta", "0.05"), ("tau", "1.0")], &rows);
}

#[test]
fn dpo_norm() {
    let rows = pair_rows(12, 9);
    check("dpo_norm", &[], &rows);
    check("dpo_norm", &[("beta", "2.0")], &rows);
}

/// |βΔ| = 60 both ways, Δ = 0 with equal log-probs, length-1 rows: finite values
/// and gradients for every pairwise loss, and exact expected dpo numbers.
#[test]
fn pairwise_edge_rows() {
    let rows = [
        pair(-1.0, -61.0, -61.0, -1.0, 1.0, 1.0), // Δ = 120, βΔ = 60
        pair(-61.0, -1.0, -1.0, -61.0, 1.0, 3.0), // Δ = −120, βΔ = −60
        pair(-7.0, -7.0, -7.0, -7.0, 1.0, 1.0),   // equal log-probs, Δ = 0
        pair(-3.0, -4.5, -5.0, -3.5, 1.0, 1.0),   // Δ = 3, βΔ = 1.5
    ];
    let ps: &Params = &[("beta", "0.5")];
    for loss in PAIRWISE {
        let out = check(loss, ps, &rows);
        assert!(all_finite(&out), "{loss}: non-finite loss or gradient on edge rows");
    }
    // dpo by hand: row loss −ls(βΔ), ∂/∂pi_chosen = −β·σ(−βΔ)/n.
    let out = run_ok("dpo", ps, &rows_to_jsonl(&rows));
    let tiny = (-60f64).exp().ln_1p();
    let want_rows = [tiny, 60.0 + tiny, LN_2, -ls(1.5)];
    let got_rows = out.rows.clone().expect("dpo rows");
    for (i, w) in want_rows.iter().enumerate() {
        assert_close(got_rows[i].expect("row value"), *w, 1e-9, 1e-12, &format!("dpo edge rows[{i}]"));
    }
    assert_close(out.loss, mean(&want_rows), 1e-9, 1e-12, "dpo edge loss");
    let want_gc = [-0.5 * sig(-60.0) / 4.0, -0.5 * sig(60.0) / 4.0, -0.0625, -0.5 * sig(-1.5) / 4.0];
    let (gc, gr) = (rows_grad(&out, "pi_chosen"), rows_grad(&out, "pi_rejected"));
    for (i, &w) in want_gc.iter().enumerate() {
        assert_close(gc[i], w, 1e-9, 1e-15, &format!("dpo edge grad pi_chosen[{i}]"));
        assert_close(gr[i], -w, 1e-9, 1e-15, &format!("dpo edge grad pi_rejected[{i}]"));
    }
}

/// βΔ = 1 exactly: the hinge is 0 and relu passes gradient 0 there.
#[test]
fn dpo_hinge_kink_has_zero_gradient() {
    let rows = [
        pair(-3.0, -5.0, -4.0, -4.0, 1.0, 1.0), // Δ = 2, βΔ = 1
        pair(-3.0, -4.0, -4.0, -4.0, 1.0, 1.0), // Δ = 1, βΔ = 0.5
    ];
    let out = run_ok("dpo_hinge", &[("beta", "0.5")], &rows_to_jsonl(&rows));
    assert_eq!(out.rows, Some(vec![Some(0.0), Some(0.5)]));
    assert_eq!(out.loss, 0.25);
    assert_eq!(rows_grad(&out, "pi_chosen"), &[0.0, -0.25]);
    assert_eq!(rows_grad(&out, "pi_rejected"), &[0.0, 0.25]);
}

/// At the IPO optimum (margin = 1/(2β)) loss and gradient vanish, both modes.
#[test]
fn ipo_optimum() {
    // normalized: ρ_c/len_c − ρ_r/len_r = 4/2 − 4/4 = 1 = 1/(2·0.5)
    let rows = [pair(-6.0, -10.0, -9.0, -13.0, 2.0, 4.0)];
    let out = run_ok("ipo", &[("beta", "0.5")], &rows_to_jsonl(&rows));
    assert_close(out.loss, 0.0, 0.0, 1e-24, "ipo optimum loss");
    assert_close(rows_grad(&out, "pi_chosen")[0], 0.0, 0.0, 1e-12, "ipo optimum grad pi_chosen");
    assert_close(rows_grad(&out, "pi_rejected")[0], 0.0, 0.0, 1e-12, "ipo optimum grad pi_rejected");
    // unnormalized: Δ = 4 − 3 = 1
    let rows = [pair(-6.0, -10.0, -9.0, -12.0, 2.0, 4.0)];
    let out = run_ok("ipo", &[("beta", "0.5"), ("normalize_length", "false")], &rows_to_jsonl(&rows));
    assert_close(out.loss, 0.0, 0.0, 1e-24, "ipo (unnormalized) optimum loss");
    assert_close(rows_grad(&out, "pi_chosen")[0], 0.0, 0.0, 1e-12, "grad pi_chosen");
    assert_close(rows_grad(&out, "pi_rejected")[0], 0.0, 0.0, 1e-12, "grad pi_rejected");
    // and the same row with normalize_length on is not at the optimum: (2 − 0.75 − 1)²
    let out = run_ok("ipo", &[("beta", "0.5")], &rows_to_jsonl(&rows));
    assert_close(out.loss, 0.0625, 1e-12, 0.0, "ipo normalized off-optimum");
}

/// With every length 1, normalize_length makes no difference.
#[test]
fn ipo_length_one() {
    let mut rows = pair_rows(13, 7);
    for r in &mut rows {
        r.v.insert("len_chosen".into(), 1.0);
        r.v.insert("len_rejected".into(), 1.0);
    }
    let a = check("ipo", &[("normalize_length", "true")], &rows);
    let b = check("ipo", &[("normalize_length", "false")], &rows);
    assert_close(a.loss, b.loss, 1e-12, 0.0, "ipo with length 1");
}

// ------------------------------------------------------------------------ aot

#[test]
fn aot_random() {
    let rows = pair_rows(14, 10);
    check("aot", &[], &rows);
    check("aot", &[("beta", "0.2"), ("label_smoothing", "0.1")], &rows);
    // sorting matters: the result is not per-row dpo on this batch
    let dpo = closed("dpo", &[], &rows).0;
    assert!(!close(closed("aot", &[], &rows).0, dpo, 1e-6, 0.0), "test batch does not exercise sorting");
}

#[test]
fn aot_unpaired_random() {
    let rows = pair_rows(15, 9);
    check("aot_unpaired", &[], &rows);
    check("aot_unpaired", &[("beta", "0.05"), ("label_smoothing", "0.2")], &rows);
}

/// Ties in the sorted sequence keep input order (stable ascending sort), which
/// decides which rank each tied row's gradient comes from.
#[test]
fn aot_ties_sort_stably() {
    // u = pi_c − pi_r = [2, 1, 2, 0], v = ref_c − ref_r = [0.5, −1, 3, 1.5]
    let pc = [-3.0, -4.0, -5.0, -6.0];
    let u = [2.0, 1.0, 2.0, 0.0];
    let rc = [-2.0, -3.0, -1.0, -4.0];
    let v = [0.5, -1.0, 3.0, 1.5];
    let rows: Vec<Row> = (0..4).map(|i| pair(pc[i], rc[i], pc[i] - u[i], rc[i] - v[i], 1.0, 1.0)).collect();
    let (beta, e) = (0.5, 0.0);
    let out = run_ok("aot", &[("beta", "0.5")], &rows_to_jsonl(&rows));
    assert!(out.rows.is_none(), "aot rows must be null");
    let d: Vec<f64> = sorted(&u).iter().zip(sorted(&v)).map(|(a, c)| a - c).collect();
    assert_eq!(d, [1.0, 0.5, 0.5, -1.0]);
    let want = mean(&d.iter().map(|&dk| rank_loss(beta, e, dk)).collect::<Vec<_>>());
    assert_close(out.loss, want, 1e-9, 1e-12, "aot ties loss");
    let rank = stable_ranks(&u);
    assert_eq!(rank, [2, 1, 3, 0]);
    let (gc, gr) = (rows_grad(&out, "pi_chosen"), rows_grad(&out, "pi_rejected"));
    for (i, &k) in rank.iter().enumerate() {
        let w = rank_loss_d(beta, e, d[k]) / 4.0;
        assert_close(gc[i], w, 1e-9, 1e-15, &format!("aot ties grad pi_chosen[{i}]"));
        assert_close(gr[i], -w, 1e-9, 1e-15, &format!("aot ties grad pi_rejected[{i}]"));
    }
}

#[test]
fn aot_unpaired_ties_sort_stably() {
    // ρ_c = [1, 1, 0, 2], ρ_r = [0, −1, 0.5, −1]: ties in both, sorted independently
    let rho_c = [1.0, 1.0, 0.0, 2.0];
    let rho_r = [0.0, -1.0, 0.5, -1.0];
    let rows: Vec<Row> = (0..4).map(|i| pair(-10.0 + rho_c[i], -10.0, -20.0 + rho_r[i], -20.0, 1.0, 1.0)).collect();
    let (beta, e) = (0.5, 0.2);
    let out = run_ok("aot_unpaired", &[("beta", "0.5"), ("label_smoothing", "0.2")], &rows_to_jsonl(&rows));
    assert!(out.rows.is_none(), "aot_unpaired rows must be null");
    let d: Vec<f64> = sorted(&rho_c).iter().zip(sorted(&rho_r)).map(|(a, c)| a - c).collect();
    assert_eq!(d, [1.0, 2.0, 1.0, 1.5]);
    let want = mean(&d.iter().map(|&dk| rank_loss(beta, e, dk)).collect::<Vec<_>>());
    assert_close(out.loss, want, 1e-9, 1e-12, "aot_unpaired ties loss");
    let (kc, kr) = (stable_ranks(&rho_c), stable_ranks(&rho_r));
    assert_eq!(kc, [1, 2, 0, 3]);
    assert_eq!(kr, [2, 0, 3, 1]);
    let (gc, gr) = (rows_grad(&out, "pi_chosen"), rows_grad(&out, "pi_rejected"));
    for (i, (&c, &j)) in kc.iter().zip(&kr).enumerate() {
        let wc = rank_loss_d(beta, e, d[c]) / 4.0;
        let wr = -rank_loss_d(beta, e, d[j]) / 4.0;
        assert_close(gc[i], wc, 1e-9, 1e-15, &format!("aot_unpaired ties grad pi_chosen[{i}]"));
        assert_close(gr[i], wr, 1e-9, 1e-15, &format!("aot_unpaired ties grad pi_rejected[{i}]"));
    }
}

// ------------------------------------------------------------------------ kto

#[test]
fn kto_negative_kl_mean_gives_zero_baseline() {
    let rows = kto_rows(16, 10, -3.0);
    assert!(kto_raw_mean(&rows) < 0.0);
    let out = check("kto", &[], &rows);
    // with z0 = 0 each desirable row is 1 − σ(βρ)
    let r0 = &rows[0];
    assert_close(
        out.rows.unwrap()[0].unwrap(),
        1.0 - sig(0.1 * (r0.g("pi") - r0.g("ref"))),
        1e-9,
        1e-12,
        "kto row 0 with z0 = 0",
    );
    check("kto", &[("beta", "0.3")], &rows);
}

#[test]
fn kto_positive_kl_mean_shifts_baseline() {
    let rows = kto_rows(17, 9, 8.0);
    assert!(kto_raw_mean(&rows) > 0.0);
    let out = check("kto", &[], &rows);
    // z0 must matter on this batch
    let mut no_kl = rows.clone();
    for r in &mut no_kl {
        let x = r.g("ref_kl");
        r.v.insert("pi_kl".into(), x);
    }
    assert!(!close(out.loss, closed("kto", &[], &no_kl).0, 1e-6, 0.0), "z0 has no effect on the test batch");
    check("kto", &[("desirable_weight", "1.5"), ("undesirable_weight", "0.5")], &rows);
    check("kto", &[("beta", "0.3"), ("desirable_weight", "0"), ("undesirable_weight", "2")], &rows);
}

// ---------------------------------------------------- reference-free pairwise

#[test]
fn orpo() {
    let rows = reffree_rows(18, 9);
    check("orpo", &[], &rows);
    check("orpo", &[("beta", "0.5")], &rows);
}

#[test]
fn cpo() {
    let rows = reffree_rows(19, 8);
    check("cpo", &[], &rows);
    check("cpo", &[("alpha", "0")], &rows);
    check("cpo", &[("beta", "0.2"), ("label_smoothing", "0.1"), ("alpha", "0.5")], &rows);
}

#[test]
fn simpo() {
    let rows = reffree_rows(20, 10);
    check("simpo", &[], &rows);
    check("simpo", &[("beta", "0.1"), ("alpha", "1")], &rows);
    check("simpo", &[("beta", "1.5"), ("gamma", "0")], &rows);
}

// ---------------------------------------------------------------- reward model

#[test]
fn reward_bt() {
    check("reward_bt", &[], &reward_rows(21, 8, false));
    let rows = reward_rows(22, 9, true);
    check("reward_bt", &[], &rows);
    check("reward_bt", &[("center", "0.01")], &rows);
}

// --------------------------------------------------------------- token level

#[test]
fn ppo_clip_token_level() {
    let rows = ppo_rows(23, 8, Some(3));
    let out = check("ppo_clip", &[], &rows);
    assert!(out.rows.is_none());
    check("ppo_clip", &[("clip", "0.1"), ("token_level", "true")], &rows);
}

#[test]
fn ppo_clip_per_row() {
    let rows = ppo_rows(24, 7, Some(2));
    let out = check("ppo_clip", &[("token_level", "false")], &rows);
    let got = out.rows.as_ref().expect("per-row values");
    assert!(got[2].is_none(), "a fully masked row has a null rows entry");
    assert!(token_grad(&out, "logp")[2].iter().all(|&g| g == 0.0));
    check("ppo_clip", &[("token_level", "false"), ("clip", "0.1")], &ppo_rows(25, 6, None));
}

/// Hand-computed tokens: the log-ratio clamp at exactly 20 passes the
/// gradient and beyond 20 passes none; ratio inside the clip range (min tie
/// of equal branches) gives the full unclipped gradient; A = 0 gives 0.
#[test]
fn ppo_clip_edge_tokens() {
    let e20 = 20f64.exp();
    let rows = [
        ppo_row(
            &[-1.0, -1.0, -3.0, -1.0, -1.0, -1.0],
            &[-21.0, -0.5, -3.0, -25.0, -1.125, -1.5],
            &[-1.0, 2.0, 0.0, -1.0, 1.5, 1.0],
            &[1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        ),
        ppo_row(&[-1.0, -2.0], &[-1.25, -2.5], &[1.0, -1.0], &[0.0, 0.0]),
    ];
    // token loss, gradient: q = 20 (bound): e^20, e^20; q = −0.5 clipped-out low ratio
    // with A = 2: −2e^−0.5, −2e^−0.5; A = 0: 0, 0; q = 24 → 20: e^20, 0;
    // q = 0.125 inside the range: −1.5e^0.125, −1.5e^0.125; masked: 0.
    let ls_ = [e20, -2.0 * (-0.5f64).exp(), 0.0, e20, -1.5 * 0.125f64.exp()];
    let gs = [e20, -2.0 * (-0.5f64).exp(), 0.0, 0.0, -1.5 * 0.125f64.exp(), 0.0];
    let sum: f64 = ls_.iter().sum();

    let out = run_ok("ppo_clip", &[], &rows_to_jsonl(&rows));
    assert!(out.rows.is_none());
    assert_close(out.loss, sum / 5.0, 1e-9, 1e-12, "ppo edge loss (token level)");
    let g = token_grad(&out, "logp");
    for (t, w) in gs.iter().enumerate() {
        assert_close(g[0][t], w / 5.0, 1e-9, 1e-7, &format!("ppo edge grad logp[0][{t}]"));
    }
    assert_eq!(g[1], [0.0, 0.0]);

    let out = run_ok("ppo_clip", &[("token_level", "false")], &rows_to_jsonl(&rows));
    let got = out.rows.clone().expect("per-row values");
    assert_eq!(got.len(), 2);
    assert_close(got[0].expect("row 0"), sum / 5.0, 1e-9, 1e-12, "ppo edge rows[0]");
    assert!(got[1].is_none(), "fully masked row must be null");
    assert_close(out.loss, sum / 5.0, 1e-9, 1e-12, "ppo edge loss (per row, masked row excluded)");
    let g = token_grad(&out, "logp");
    for (t, w) in gs.iter().enumerate() {
        assert_close(g[0][t], w / 5.0, 1e-9, 1e-7, &format!("ppo per-row edge grad logp[0][{t}]"));
    }
    assert_eq!(g[1], [0.0, 0.0]);
}

/// A ratio exactly at 1 ± ε: the two min branches tie (each gets half the
/// gradient) and clamp passes its half at the bound, so the total is the full
/// unclipped gradient −A·ratio (it would be half if clamp blocked at the bound).
/// Assumes ratio = f64::exp(q), as the spec states.
#[test]
fn ppo_clip_ratio_at_clip_bound() {
    let r = 0.125f64.exp();
    let eps = r - 1.0;
    assert_eq!(1.0 + eps, r);
    let clip = format!("{eps}");
    assert_eq!(clip.parse::<f64>().unwrap(), eps);
    let rows = [ppo_row(&[-1.875], &[-2.0], &[1.5], &[1.0])];
    let out = run_ok("ppo_clip", &[("clip", clip.as_str())], &rows_to_jsonl(&rows));
    assert_close(out.loss, -1.5 * r, 1e-12, 0.0, "ppo loss at upper bound");
    assert_close(token_grad(&out, "logp")[0][0], -1.5 * r, 1e-9, 0.0, "ppo grad at ratio = 1 + ε");

    let r = (-0.125f64).exp();
    let eps = 1.0 - r;
    assert_eq!(1.0 - eps, r);
    let clip = format!("{eps}");
    assert_eq!(clip.parse::<f64>().unwrap(), eps);
    let rows = [ppo_row(&[-2.125], &[-2.0], &[-1.5], &[1.0])];
    let out = run_ok("ppo_clip", &[("clip", clip.as_str())], &rows_to_jsonl(&rows));
    assert_close(out.loss, 1.5 * r, 1e-12, 0.0, "ppo loss at lower bound");
    assert_close(token_grad(&out, "logp")[0][0], 1.5 * r, 1e-9, 0.0, "ppo grad at ratio = 1 − ε");
}

// --------------------------------------------------------------- conventions

#[test]
fn extra_columns_are_ignored() {
    let rows = pair_rows(26, 5);
    let plain: Vec<Value> = rows.iter().map(row_json).collect();
    let mut extra = plain.clone();
    for (i, v) in extra.iter_mut().enumerate() {
        let o = v.as_object_mut().unwrap();
        o.insert("prompt".into(), json!(format!("prompt {i}")));
        o.insert("id".into(), json!(i));
        o.insert("meta".into(), json!({"source": [1, 2, "x"], "ok": true}));
        o.insert("note".into(), Value::Null);
    }
    for loss in ["dpo", "ipo", "aot"] {
        let a = run_ok(loss, &[], &jsonl_of(&plain));
        let b = run_ok(loss, &[], &jsonl_of(&extra));
        assert_same(&a, &b, &format!("{loss} with extra columns"));
    }
    // dpo needs no len_* columns
    let mut no_len = plain.clone();
    for v in &mut no_len {
        let o = v.as_object_mut().unwrap();
        o.remove("len_chosen");
        o.remove("len_rejected");
    }
    let a = run_ok("dpo", &[], &jsonl_of(&plain));
    let b = run_ok("dpo", &[], &jsonl_of(&no_len));
    assert_same(&a, &b, "dpo without len columns");
    // reward_bt: an absent margin is 0
    let rw = reward_rows(27, 4, false);
    let mut zero = rw.clone();
    for r in &mut zero {
        r.v.insert("margin".into(), 0.0);
    }
    assert_same(
        &run_ok("reward_bt", &[], &rows_to_jsonl(&rw)),
        &run_ok("reward_bt", &[], &rows_to_jsonl(&zero)),
        "reward_bt margin default",
    );
}

#[test]
fn label_may_be_bool_or_number() {
    let rows = kto_rows(28, 6, 2.0);
    let as_bool: Vec<Value> = rows.iter().map(row_json).collect();
    let as_num: Vec<Value> = as_bool
        .iter()
        .map(|v| {
            let mut v = v.clone();
            let b = v["label"].as_bool().unwrap();
            v["label"] = json!(i64::from(b));
            v
        })
        .collect();
    let as_float: Vec<Value> = as_num
        .iter()
        .map(|v| {
            let mut v = v.clone();
            let x = v["label"].as_i64().unwrap() as f64;
            v["label"] = json!(x);
            v
        })
        .collect();
    let a = check("kto", &[], &rows);
    assert_same(&a, &run_ok("kto", &[], &jsonl_of(&as_num)), "kto label 0/1");
    assert_same(&a, &run_ok("kto", &[], &jsonl_of(&as_float)), "kto label 0.0/1.0");
}

#[test]
fn counts_and_masks_may_be_ints_or_floats() {
    let ints = concat!(
        r#"{"pi_chosen":-12.5,"pi_rejected":-20.25,"len_chosen":3,"len_rejected":5}"#,
        "\n",
        r#"{"pi_chosen":-4.0,"pi_rejected":-9.5,"len_chosen":1,"len_rejected":2}"#,
        "\n"
    );
    let floats = concat!(
        r#"{"pi_chosen":-12.5,"pi_rejected":-20.25,"len_chosen":3.0,"len_rejected":5.0}"#,
        "\n",
        r#"{"pi_chosen":-4.0,"pi_rejected":-9.5,"len_chosen":1.0,"len_rejected":2.0}"#,
        "\n"
    );
    let rows = [
        Row::of(&[("pi_chosen", -12.5), ("pi_rejected", -20.25), ("len_chosen", 3.0), ("len_rejected", 5.0)]),
        Row::of(&[("pi_chosen", -4.0), ("pi_rejected", -9.5), ("len_chosen", 1.0), ("len_rejected", 2.0)]),
    ];
    for loss in ["simpo", "orpo", "cpo"] {
        let a = run_ok(loss, &[], ints);
        assert_same(&a, &run_ok(loss, &[], floats), &format!("{loss} int vs float counts"));
        assert_close(a.loss, closed(loss, &[], &rows).0, 1e-9, 1e-12, &format!("{loss} hand rows"));
    }
    let m_int = r#"{"logp":[-1.0,-2.0,-0.5],"old_logp":[-1.1,-1.9,-0.5],"advantages":[1.0,-2.0,0.5],"mask":[1,0,1]}"#;
    let m_flt =
        r#"{"logp":[-1.0,-2.0,-0.5],"old_logp":[-1.1,-1.9,-0.5],"advantages":[1.0,-2.0,0.5],"mask":[1.0,0.0,1.0]}"#;
    let a = run_ok("ppo_clip", &[], &format!("{m_int}\n"));
    assert_same(&a, &run_ok("ppo_clip", &[], &format!("{m_flt}\n")), "ppo int vs float mask");
    let row = ppo_row(&[-1.0, -2.0, -0.5], &[-1.1, -1.9, -0.5], &[1.0, -2.0, 0.5], &[1.0, 0.0, 1.0]);
    assert_close(a.loss, closed("ppo_clip", &[], &[row]).0, 1e-9, 1e-12, "ppo hand row");
}

// -------------------------------------------------------------------- errors

fn names_line(msg: &str, n: usize) -> bool {
    msg.contains(&format!("line {n}"))
}

#[test]
fn error_missing_column() {
    let mut lines: Vec<Value> = pair_rows(29, 3).iter().map(row_json).collect();
    lines[1].as_object_mut().unwrap().remove("ref_rejected");
    let e = run_err("dpo", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 2) || e.message.contains("ref_rejected"), "{}", e.message);

    let mut lines: Vec<Value> = kto_rows(30, 3, 0.0).iter().map(row_json).collect();
    lines[1].as_object_mut().unwrap().remove("pi_kl");
    let e = run_err("kto", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 2) || e.message.contains("pi_kl"), "{}", e.message);

    let mut lines: Vec<Value> = ppo_rows(31, 3, None).iter().map(row_json).collect();
    lines[1].as_object_mut().unwrap().remove("advantages");
    let e = run_err("ppo_clip", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 2) || e.message.contains("advantages"), "{}", e.message);
}

#[test]
fn error_wrong_type() {
    let mut lines: Vec<Value> = pair_rows(32, 3).iter().map(row_json).collect();
    lines[2]["pi_chosen"] = json!("abc");
    let e = run_err("dpo", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 3) || e.message.contains("pi_chosen"), "{}", e.message);

    let mut lines: Vec<Value> = kto_rows(33, 3, 0.0).iter().map(row_json).collect();
    lines[1]["label"] = json!("yes");
    let e = run_err("kto", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 2) || e.message.contains("label"), "{}", e.message);

    let jsonl = format!("{}\nnot json\n", row_json(&pair_rows(34, 1)[0]));
    let e = run_err("dpo", &[], &jsonl);
    assert!(names_line(&e.message, 2), "{}", e.message);
}

#[test]
fn error_length_below_one() {
    let mut lines: Vec<Value> = pair_rows(35, 3).iter().map(row_json).collect();
    lines[1]["len_chosen"] = json!(0);
    let e = run_err("ipo", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 2) || e.message.contains("len_chosen"), "{}", e.message);

    let mut lines: Vec<Value> = reffree_rows(36, 3).iter().map(row_json).collect();
    lines[2]["len_rejected"] = json!(-1);
    let e = run_err("simpo", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 3) || e.message.contains("len_rejected"), "{}", e.message);
}

#[test]
fn error_token_lists_differ_in_length() {
    let jsonl = concat!(
        r#"{"logp":[-1.0,-2.0],"old_logp":[-1.1,-2.1],"advantages":[0.5,-0.5],"mask":[1,1]}"#,
        "\n",
        r#"{"logp":[-1.0,-2.0,-3.0],"old_logp":[-1.1,-2.1,-3.1],"advantages":[0.5,-0.5,1.0],"mask":[1,1]}"#,
        "\n"
    );
    let e = run_err("ppo_clip", &[], jsonl);
    assert!(names_line(&e.message, 2), "{}", e.message);
}

#[test]
fn error_no_unmasked_token() {
    let jsonl = concat!(
        r#"{"logp":[-1.0,-2.0],"old_logp":[-1.1,-2.1],"advantages":[0.5,-0.5],"mask":[0,0]}"#,
        "\n",
        r#"{"logp":[-1.0],"old_logp":[-1.1],"advantages":[0.5],"mask":[0]}"#,
        "\n"
    );
    for tl in ["true", "false"] {
        let e = run_err("ppo_clip", &[("token_level", tl)], jsonl);
        let m = e.message.to_lowercase();
        assert!(m.contains("mask") || m.contains("token"), "{}", e.message);
    }
}

#[test]
fn error_orpo_log_prob_not_negative() {
    let mut lines: Vec<Value> = reffree_rows(37, 3).iter().map(row_json).collect();
    lines[1]["pi_chosen"] = json!(0.0);
    let e = run_err("orpo", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 2) || e.message.contains("pi_chosen"), "{}", e.message);

    let mut lines: Vec<Value> = reffree_rows(38, 3).iter().map(row_json).collect();
    lines[0]["pi_rejected"] = json!(0.5);
    let e = run_err("orpo", &[], &jsonl_of(&lines));
    assert!(names_line(&e.message, 1) || e.message.contains("pi_rejected"), "{}", e.message);
}

#[test]
fn error_parameter_outside_constraint() {
    let pairs = rows_to_jsonl(&pair_rows(39, 3));
    let cases: [(&str, &str, &str); 10] = [
        ("exo_pair", "label_smoothing", "0"),
        ("exo_pair", "label_smoothing", "1"),
        ("dpo", "beta", "0"),
        ("dpo", "beta", "-1"),
        ("dpo", "label_smoothing", "0.5"),
        ("robust_dpo", "label_smoothing", "0.5"),
        ("discopop", "tau", "0"),
        ("ipo", "beta", "-0.1"),
        ("sppo_hard", "beta", "0"),
        ("aot", "label_smoothing", "0.5"),
    ];
    for (loss, p, v) in cases {
        let e = run_err(loss, &[(p, v)], &pairs);
        assert!(e.message.contains(p), "{loss} {p}={v}: {}", e.message);
    }
    let e = run_err("kto", &[("desirable_weight", "-0.5")], &rows_to_jsonl(&kto_rows(40, 3, 0.0)));
    assert!(e.message.contains("desirable_weight"), "{}", e.message);
    let rf = rows_to_jsonl(&reffree_rows(41, 3));
    for (loss, p, v) in [("simpo", "gamma", "-1"), ("cpo", "alpha", "-1"), ("orpo", "beta", "0")] {
        let e = run_err(loss, &[(p, v)], &rf);
        assert!(e.message.contains(p), "{loss} {p}={v}: {}", e.message);
    }
    let e = run_err("reward_bt", &[("center", "-0.1")], &rows_to_jsonl(&reward_rows(42, 3, false)));
    assert!(e.message.contains("center"), "{}", e.message);
    let ppo = rows_to_jsonl(&ppo_rows(43, 3, None));
    for v in ["0", "1", "1.5"] {
        let e = run_err("ppo_clip", &[("clip", v)], &ppo);
        assert!(e.message.contains("clip"), "clip={v}: {}", e.message);
    }
}

#[test]
fn error_bad_parameter_value() {
    let pairs = rows_to_jsonl(&pair_rows(44, 3));
    let e = run_err("dpo", &[("beta", "abc")], &pairs);
    assert!(e.message.contains("beta"), "{}", e.message);
    let e = run_err("ipo", &[("normalize_length", "maybe")], &pairs);
    assert!(e.message.contains("normalize_length"), "{}", e.message);
}

#[test]
fn error_unknown_loss_and_parameter() {
    let pairs = rows_to_jsonl(&pair_rows(45, 3));
    let e = run_err("no_such_loss", &[], &pairs);
    assert!(e.message.contains("no_such_loss"), "{}", e.message);
    let e = run_err("dpo", &[("gamma", "1")], &pairs);
    assert!(e.message.contains("gamma"), "{}", e.message);
    let e = run_err("kto", &[("label_smoothing", "0.1")], &rows_to_jsonl(&kto_rows(46, 3, 0.0)));
    assert!(e.message.contains("label_smoothing"), "{}", e.message);
}
