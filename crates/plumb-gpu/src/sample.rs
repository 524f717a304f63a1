//! Sample graphs for tests, snapshots and the benchmark, built with `plumb-ir`
//! and `plumb-autodiff` directly: a DPO-like loss over rows and a token-level
//! PPO-clip-like loss over ragged tokens, each with its gradients, and inputs
//! for them.

use plumb_interp::Batch;
use plumb_ir::{Axis, Binary, Graph, Reduce, Shape, Unary};

/// DPO: −log σ(β((π_c − ρ_c) − (π_r − ρ_r))), its batch mean, and the gradients
/// with respect to the policy log-probabilities. One fused pass.
pub fn dpo(beta: f64) -> Graph {
    let mut g = Graph::new("dpo");
    let pc = g.input("pi_chosen", Shape::Rows, true);
    let pr = g.input("pi_rejected", Shape::Rows, true);
    let rc = g.input("ref_chosen", Shape::Rows, false);
    let rr = g.input("ref_rejected", Shape::Rows, false);
    let a = g.sub(pc, rc);
    let c = g.sub(pr, rr);
    let d = g.sub(a, c);
    let beta = g.constant(beta);
    let h = g.mul(beta, d);
    let ls = g.unary(Unary::LogSigmoid, h);
    let row = g.neg(ls);
    let loss = g.reduce(Reduce::Mean, Axis::Batch, row, None);
    g.set_output("loss", loss);
    g.set_output("rows", row);
    plumb_autodiff::differentiate(&g, "loss").expect("dpo differentiates")
}

/// PPO-clip, token level (as `std.losses.ppo_clip`): the ratio of new to old
/// token log-probabilities, clipped, times the advantages; summed over unmasked
/// tokens and divided by their count over the batch; with the gradient with
/// respect to the token log-probabilities.
pub fn ppo(clip: f64) -> Graph {
    let mut g = Graph::new("ppo_clip");
    let logp = g.input("logp", Shape::Tokens, true);
    let old = g.input("old_logp", Shape::Tokens, false);
    let adv = g.input("advantages", Shape::Tokens, false);
    let mask = g.input("mask", Shape::Tokens, false);
    let d = g.sub(logp, old);
    let lo = g.constant(-20.0);
    let hi = g.constant(20.0);
    let q = g.clamp(d, lo, hi);
    let ratio = g.unary(Unary::Exp, q);
    let lo = g.constant(1.0 - clip);
    let hi = g.constant(1.0 + clip);
    let clipped = g.clamp(ratio, lo, hi);
    let a = g.mul(ratio, adv);
    let b = g.mul(clipped, adv);
    let m = g.binary(Binary::Min, a, b);
    let l = g.neg(m);
    let per_row = g.reduce(Reduce::Sum, Axis::Tok, l, Some(mask));
    let counts = g.reduce(Reduce::Count, Axis::Tok, l, Some(mask));
    let total = g.reduce(Reduce::Sum, Axis::Batch, per_row, None);
    let count = g.reduce(Reduce::Sum, Axis::Batch, counts, None);
    let loss = g.div(total, count);
    g.set_output("loss", loss);
    plumb_autodiff::differentiate(&g, "loss").expect("ppo differentiates")
}

/// A deterministic pseudo-random value in [−1, 1) (a 64-bit LCG step, hashed).
fn noise(i: usize, k: usize) -> f32 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

/// Inputs for [`dpo`] over `rows` rows: log-probabilities in [−60, −20].
pub fn dpo_inputs(rows: usize) -> (Batch, Vec<Vec<f32>>) {
    let inputs = (0..4).map(|k| (0..rows).map(|i| -40.0 + 20.0 * noise(i, k)).collect()).collect();
    (Batch::rows(rows), inputs)
}

/// Inputs for [`ppo`]: rows of `1..=2·mean_tokens − 1` tokens (deterministic),
/// about `tokens` tokens in all; every 7th token masked.
pub fn ppo_inputs(tokens: usize, mean_tokens: usize) -> (Batch, Vec<Vec<f32>>) {
    let mean_tokens = mean_tokens.max(1);
    let mut lengths = Vec::new();
    let mut total = 0;
    let mut i = 0;
    while total < tokens {
        let len = (1 + ((noise(i, 9) + 1.0) * (mean_tokens as f32 - 0.5)) as usize).min(tokens - total);
        lengths.push(len);
        total += len;
        i += 1;
    }
    let batch = Batch::with_tokens(&lengths);
    let logp: Vec<f32> = (0..total).map(|t| -2.0 + noise(t, 1)).collect();
    let old: Vec<f32> = logp.iter().enumerate().map(|(t, x)| x + 0.3 * noise(t, 2)).collect();
    let adv: Vec<f32> = (0..total).map(|t| noise(t, 3)).collect();
    let mask: Vec<f32> = (0..total).map(|t| if t % 7 == 3 { 0.0 } else { 1.0 }).collect();
    (batch, vec![logp, old, adv, mask])
}
