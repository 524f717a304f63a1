//! The pairwise rating models' negative log-likelihoods as compute-IR graphs
//! over comparison rows, so that the interpreter (f64) and the compiled
//! backends can evaluate them and their gradients (`plumb-autodiff`).
//!
//! A graph reads the abilities `theta` (one per item, differentiable), each
//! row's item indices `a` and `b`, its outcome counts `wins_a`, `wins_b` and
//! `ties`, and for Davidson the scalar `log_nu` (differentiable); its output
//! `nll` is −Σ log P(observed outcome) over the rows, the prior excluded —
//! the negative of [`crate::Fit::loglik`]. Thurstone uses the IR's `log_ndtr`
//! (log Φ). [`rows`] turns a dataset into
//! those inputs with the fit's tie rule. [`pair_terms`] is what each Newton
//! iteration of the fit evaluates over aggregated pairs, compiled in f64 by
//! the CPU backend (`fit.rs`), and [`ranking_weights`]/[`ranking_stages`] are
//! Plackett–Luce's per-position terms; the tests check that the interpreter,
//! the CPU and GPU backends and the native loops agree on these graphs.

use crate::data::{Dataset, Observations};
use crate::{Model, Ties};
use plumb_ir::{Axis, Binary, Graph, NodeId, Op, Reduce, Shape, Unary};

/// The inputs of a rating graph, in order (Davidson adds `log_nu` last).
pub const INPUTS: [&str; 6] = ["theta", "a", "b", "wins_a", "wins_b", "ties"];

/// The negative log-likelihood graph of a pairwise model; `None` for
/// Plackett–Luce, which reads rankings, not pairs.
pub fn negative_loglik(model: Model) -> Option<Graph> {
    let mut g = Graph::new(match model {
        Model::BradleyTerry => "bradley_terry_nll",
        Model::Thurstone => "thurstone_nll",
        Model::Davidson => "davidson_nll",
        Model::PlackettLuce => return None,
    });
    let theta = g.input("theta", Shape::Items, true);
    let a = g.input("a", Shape::Rows, false);
    let b = g.input("b", Shape::Rows, false);
    let wins_a = g.input("wins_a", Shape::Rows, false);
    let wins_b = g.input("wins_b", Shape::Rows, false);
    let ties = g.input("ties", Shape::Rows, false);
    let theta_a = g.op(Op::Gather { table: theta, index: a }, Shape::Rows);
    let theta_b = g.op(Op::Gather { table: theta, index: b }, Shape::Rows);
    let d = g.sub(theta_a, theta_b);
    let per_row = match model {
        Model::Thurstone => {
            // w_a · log Φ(d) + w_b · log Φ(−d); ties are not in the model.
            let win = g.unary(Unary::LogNdtr, d);
            let minus_d = g.neg(d);
            let loss = g.unary(Unary::LogNdtr, minus_d);
            let x = g.mul(wins_a, win);
            let y = g.mul(wins_b, loss);
            g.add(x, y)
        }
        Model::BradleyTerry => {
            // w_a · log σ(d) + w_b · log σ(−d); ties are not in the model.
            let _ = ties;
            let win = g.unary(Unary::LogSigmoid, d);
            let minus_d = g.neg(d);
            let loss = g.unary(Unary::LogSigmoid, minus_d);
            let x = g.mul(wins_a, win);
            let y = g.mul(wins_b, loss);
            g.add(x, y)
        }
        _ => {
            // With h = d/2 and ν = exp(log_nu): log P(a) = h − L, log P(b) = −h − L,
            // log P(tie) = log ν − L, where L = log(e^h + e^−h + ν)
            // = |h| + log1p(e^−2|h| + ν·e^−|h|).
            let log_nu = g.input("log_nu", Shape::Scalar, true);
            let half = g.constant(0.5);
            let h = g.mul(d, half);
            let abs_h = g.unary(Unary::Abs, h);
            let minus_abs = g.neg(abs_h);
            let e1 = g.unary(Unary::Exp, minus_abs);
            let e2 = g.mul(e1, e1);
            let nu = g.unary(Unary::Exp, log_nu);
            let nu_e1 = g.mul(nu, e1);
            let inner = g.add(e2, nu_e1);
            let log_inner = g.unary(Unary::Log1p, inner);
            let big_l = g.add(abs_h, log_inner);
            let diff = g.sub(wins_a, wins_b);
            let decided = g.mul(diff, h);
            let tied = g.mul(ties, log_nu);
            let all = g.add(wins_a, wins_b);
            let all = g.add(all, ties);
            let normaliser = g.mul(all, big_l);
            let x = g.add(decided, tied);
            g.sub(x, normaliser)
        }
    };
    let total = sum_rows(&mut g, per_row);
    let nll = g.neg(total);
    g.set_output("nll", nll);
    Some(g)
}

fn sum_rows(g: &mut Graph, x: NodeId) -> NodeId {
    g.op(Op::Reduce { op: Reduce::Sum, axis: Axis::Batch, arg: x, mask: None }, Shape::Scalar)
}

/// The row inputs (`a`, `b`, `wins_a`, `wins_b`, `ties`) of a pairwise
/// dataset as the fit counts them: Bradley–Terry drops ties, or with
/// [`Ties::Half`] counts each as half a win for each side; Davidson keeps
/// them. `None` for rankings.
pub fn rows(data: &Dataset, model: Model, ties: Ties) -> Option<[Vec<f64>; 5]> {
    let Observations::Pairs(pairs) = &data.observations else { return None };
    let mut out: [Vec<f64>; 5] = Default::default();
    for row in pairs {
        let (wins_a, wins_b, tied) = match (model, ties) {
            (Model::Davidson, _) => (row.wins_a, row.wins_b, row.ties),
            (_, Ties::Half) => (row.wins_a + row.ties / 2.0, row.wins_b + row.ties / 2.0, 0.0),
            (_, Ties::Ignore) => (row.wins_a, row.wins_b, 0.0),
        };
        for (column, value) in out.iter_mut().zip([f64::from(row.a), f64::from(row.b), wins_a, wins_b, tied]) {
            column.push(value);
        }
    }
    Some(out)
}

/// The inputs of a [`pair_terms`] graph, in order (Davidson adds the scalar `alpha` = log ν).
pub const PAIR_INPUTS: [&str; 4] = ["d", "wij", "wji", "t"];

/// What one Newton iteration evaluates per aggregated pair (i, j), as a graph
/// the CPU backend fuses into one f64 pass: with d = θi − θj, the pair's
/// negative log-likelihood summed over pairs (`f`), its first and second
/// derivatives in d per pair (`gd`, `hd`), and for Davidson (α = log ν) the
/// mixed derivative per pair (`hda`) and the α derivatives summed (`ga`,
/// `haa`). The host scatters them into the gradient and the dense Hessian.
/// The formulas are the fit's native ones (one exponential and one log1p per
/// Bradley–Terry pair; Thurstone through log Φ and the inverse Mills ratio
/// φ/Φ = exp(log φ − log Φ), finite in both tails; Davidson scaled by
/// max(|d|/2, α) against overflow). `None` for Plackett–Luce.
pub fn pair_terms(model: Model) -> Option<Graph> {
    let mut g = Graph::new(match model {
        Model::BradleyTerry => "bradley_terry_pairs",
        Model::Thurstone => "thurstone_pairs",
        Model::Davidson => "davidson_pairs",
        Model::PlackettLuce => return None,
    });
    let d = g.input("d", Shape::Rows, false);
    let wij = g.input("wij", Shape::Rows, false);
    let wji = g.input("wji", Shape::Rows, false);
    let t = g.input("t", Shape::Rows, false);
    let zero = g.constant(0.0);
    let one = g.constant(1.0);
    let (f, gd, hd) = if model == Model::Thurstone {
        let _ = t;
        // With lp = log Φ(d), lm = log Φ(−d) and the Mills ratios rp = φ(d)/Φ(d),
        // rm = φ(d)/Φ(−d): f = −(wij·lp + wji·lm), ∂d = −wij·rp + wji·rm,
        // ∂²d = wij·rp·(d + rp) + wji·rm·(rm − d).
        let lp = g.unary(Unary::LogNdtr, d);
        let minus_d = g.neg(d);
        let lm = g.unary(Unary::LogNdtr, minus_d);
        let square = g.mul(d, d);
        let minus_half = g.constant(-0.5);
        let log_pdf = g.mul(minus_half, square);
        let ln_sqrt_2pi = g.constant(plumb_ir::math::LN_SQRT_2PI);
        let log_pdf = g.sub(log_pdf, ln_sqrt_2pi);
        let log_rp = g.sub(log_pdf, lp);
        let rp = g.unary(Unary::Exp, log_rp);
        let log_rm = g.sub(log_pdf, lm);
        let rm = g.unary(Unary::Exp, log_rm);
        let win = g.mul(wij, lp);
        let loss = g.mul(wji, lm);
        let both = g.add(win, loss);
        let f = g.neg(both);
        let pull = g.mul(wij, rp);
        let push = g.mul(wji, rm);
        let gd = g.sub(push, pull);
        let d_rp = g.add(d, rp);
        let up = g.mul(pull, d_rp);
        let rm_d = g.sub(rm, d);
        let down = g.mul(push, rm_d);
        let hd = g.add(up, down);
        (f, gd, hd)
    } else if model == Model::BradleyTerry {
        let _ = t;
        // e = exp(−|d|); log σ(d) = min(d, 0) − log1p(e); log σ(−d) = log σ(d) − d.
        let abs_d = g.unary(Unary::Abs, d);
        let minus = g.neg(abs_d);
        let e = g.unary(Unary::Exp, minus);
        // min(d, 0) as a select on the sign test below: a comparison, not a call.
        let positive = g.binary(Binary::Ge, d, zero);
        let low = g.select(positive, zero, d);
        let log1p_e = g.unary(Unary::Log1p, e);
        let log_p = g.sub(low, log1p_e);
        let one_plus_e = g.add(one, e);
        let when_positive = g.div(one, one_plus_e);
        let when_negative = g.div(e, one_plus_e);
        let p = g.select(positive, when_positive, when_negative);
        let win = g.mul(wij, log_p);
        let log_q = g.sub(log_p, d);
        let loss = g.mul(wji, log_q);
        let both = g.add(win, loss);
        let f = g.neg(both);
        let total = g.add(wij, wji);
        let expected = g.mul(total, p);
        let gd = g.sub(expected, wij);
        let q = g.sub(one, p);
        let hd = g.mul(expected, q);
        (f, gd, hd)
    } else {
        let alpha = g.input("alpha", Shape::Scalar, false);
        let half = g.constant(0.5);
        let quarter = g.constant(0.25);
        let a = g.mul(half, d);
        let abs_a = g.unary(Unary::Abs, a);
        let big = g.binary(Binary::Max, abs_a, alpha);
        let a_shift = g.sub(a, big);
        let ep = g.unary(Unary::Exp, a_shift);
        let minus_a = g.neg(a);
        let minus_shift = g.sub(minus_a, big);
        let em = g.unary(Unary::Exp, minus_shift);
        let alpha_shift = g.sub(alpha, big);
        let nu = g.unary(Unary::Exp, alpha_shift);
        let ep_em = g.add(ep, em);
        let dd = g.add(ep_em, nu);
        let ln_dd = g.unary(Unary::Log, dd);
        let log_d = g.add(big, ln_dd);
        let decided = g.add(wij, wji);
        let total = g.add(decided, t);
        let margin = g.sub(wij, wji);
        let margin_a = g.mul(margin, a);
        let tie_alpha = g.mul(t, alpha);
        let numerator = g.add(margin_a, tie_alpha);
        let normaliser = g.mul(total, log_d);
        let inner = g.sub(numerator, normaliser);
        let f = g.neg(inner);
        let ep_minus_em = g.sub(ep, em);
        let s = g.div(ep_minus_em, dd);
        let c = g.div(ep_em, dd);
        let v = g.div(nu, dd);
        let minus_margin = g.neg(margin);
        let total_s = g.mul(total, s);
        let ga_d = g.add(minus_margin, total_s);
        let minus_t = g.neg(t);
        let total_v = g.mul(total, v);
        let gal = g.add(minus_t, total_v);
        let ss = g.mul(s, s);
        let c_ss = g.sub(c, ss);
        let haa_d = g.mul(total, c_ss);
        let minus_s = g.neg(s);
        let sv = g.mul(minus_s, v);
        let hdal = g.mul(total, sv);
        let vv = g.mul(v, v);
        let v_vv = g.sub(v, vv);
        let hal = g.mul(total, v_vv);
        let gd = g.mul(half, ga_d);
        let hd = g.mul(quarter, haa_d);
        let hda = g.mul(half, hdal);
        g.set_output("hda", hda);
        let ga = sum_rows(&mut g, gal);
        let haa = sum_rows(&mut g, hal);
        g.set_output("ga", ga);
        g.set_output("haa", haa);
        (f, gd, hd)
    };
    let f = sum_rows(&mut g, f);
    g.set_output("f", f);
    g.set_output("gd", gd);
    g.set_output("hd", hd);
    Some(g)
}

/// Plackett–Luce's Newton terms run in two passes over the positions of all
/// rankings laid end to end, with the per-ranking scans between them on the
/// host. First pass ([`ranking_weights`]): w = exp(x) at each position, where
/// x = θ(item) − the ranking's largest θ. The host then forms each ranking's
/// suffix sums S (S_k = w_k + … + w_L). Second pass ([`ranking_stages`]): at
/// the positions that choose (`stage` = 1: all but each ranking's last), the
/// stage's negative log-likelihood log S − x (summed as `f`), and 1/S and 1/S²
/// (`d`, `c`; 0 at the last positions), whose running sums give the gradient
/// and Hessian terms (`fit.rs`). The inputs of the passes, in order:
pub const RANKING_WEIGHT_INPUTS: [&str; 1] = ["x"];
/// … and of the second pass.
pub const RANKING_STAGE_INPUTS: [&str; 3] = ["s", "x", "stage"];

/// The first Plackett–Luce pass: `w` = exp(`x`) per position.
pub fn ranking_weights() -> Graph {
    let mut g = Graph::new("plackett_luce_weights");
    let x = g.input("x", Shape::Rows, false);
    let w = g.unary(Unary::Exp, x);
    g.set_output("w", w);
    g
}

/// The second Plackett–Luce pass (see [`RANKING_WEIGHT_INPUTS`]).
pub fn ranking_stages() -> Graph {
    let mut g = Graph::new("plackett_luce_stages");
    let s = g.input("s", Shape::Rows, false);
    let x = g.input("x", Shape::Rows, false);
    let stage = g.input("stage", Shape::Rows, false);
    let zero = g.constant(0.0);
    let one = g.constant(1.0);
    // Selects, not products: the last position's S may underflow to 0, and 0·log 0 is NaN.
    let log_s = g.unary(Unary::Log, s);
    let term = g.sub(log_s, x);
    let term = g.select(stage, term, zero);
    let inverse = g.div(one, s);
    let d = g.select(stage, inverse, zero);
    let square = g.mul(d, d);
    let f = sum_rows(&mut g, term);
    g.set_output("f", f);
    g.set_output("d", d);
    g.set_output("c", square);
    g
}
