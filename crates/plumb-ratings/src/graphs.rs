//! The pairwise rating models' negative log-likelihoods as compute-IR graphs
//! over comparison rows, so that the interpreter (f64) and the compiled
//! backends can evaluate them and their gradients (`plumb-autodiff`).
//!
//! A graph reads the abilities `theta` (one per item, differentiable), each
//! row's item indices `a` and `b`, its outcome counts `wins_a`, `wins_b` and
//! `ties`, and for Davidson the scalar `log_nu` (differentiable); its output
//! `nll` is −Σ log P(observed outcome) over the rows, the prior excluded —
//! the negative of [`crate::Fit::loglik`]. [`rows`] turns a dataset into
//! those inputs with the fit's tie rule. The fit itself runs natively (Newton
//! in f64, `fit.rs`); these graphs are what its iterations would evaluate on
//! a backend, and the tests check that the interpreter, the CPU backend and
//! the native fit agree on them.

use crate::data::{Dataset, Observations};
use crate::{Model, Ties};
use plumb_ir::{Axis, Graph, NodeId, Op, Reduce, Shape, Unary};

/// The inputs of a rating graph, in order (Davidson adds `log_nu` last).
pub const INPUTS: [&str; 6] = ["theta", "a", "b", "wins_a", "wins_b", "ties"];

/// The negative log-likelihood graph of a pairwise model; `None` for models
/// the IR cannot express yet (Thurstone needs the normal CDF, which is not
/// an IR op; Plackett–Luce reads rankings, not pairs).
pub fn negative_loglik(model: Model) -> Option<Graph> {
    let mut g = Graph::new(match model {
        Model::BradleyTerry => "bradley_terry_nll",
        Model::Davidson => "davidson_nll",
        Model::Thurstone | Model::PlackettLuce => return None,
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
