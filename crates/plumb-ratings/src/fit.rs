//! Maximum likelihood: pairwise data aggregated to unordered pair counts,
//! then Newton steps on the (m−1)×(m−1) reduced Hessian (one abilities
//! coordinate is eliminated by the constraint), factored by a dense Cholesky,
//! with a backtracking line search. Standard errors come from the same reduced
//! Hessian at the optimum; bootstrap refits start from the full-data optimum.

use crate::data::{Dataset, Observations, PairRow};
use crate::linalg;
use crate::{Backend, Fit, Intervals, Model, Options, RatingsError, Ties};

/// Aggregated counts over unordered pairs i < j.
#[derive(Debug, PartialEq)]
struct Pairs {
    i: Vec<u32>,
    j: Vec<u32>,
    /// i beat j, j beat i, ties.
    wij: Vec<f64>,
    wji: Vec<f64>,
    t: Vec<f64>,
}

fn aggregate(rows: &[PairRow], n: usize) -> Pairs {
    if n <= MAX_DENSE { aggregate_sorted(rows, n) } else { aggregate_hashed(rows) }
}

fn empty_pairs() -> Pairs {
    Pairs { i: Vec::new(), j: Vec::new(), wij: Vec::new(), wji: Vec::new(), t: Vec::new() }
}

/// Counts per pair by sorting: each row's nonzero outcomes become entries keyed
/// by (pair index i·n + j, outcome), a stable LSD radix sort (11-bit digits)
/// orders them, and runs of equal keys are summed — in row order, since the
/// sort is stable. Pairs come out in (i, j) order (so the Hessian is filled
/// row by row), without random accesses into an n² table. Pairs whose rows
/// have only zero counts are left out; they add nothing to the likelihood.
fn aggregate_sorted(rows: &[PairRow], n: usize) -> Pairs {
    let mut keys: Vec<u32> = Vec::with_capacity(rows.len());
    let mut counts: Vec<f64> = Vec::with_capacity(rows.len());
    for row in rows {
        let (i, j) = (row.a.min(row.b), row.a.max(row.b));
        let pair = (i * n as u32 + j) << 2;
        // Outcome 0: i won; 1: j won; 2: a tie.
        let (i_won, j_won) = if row.a < row.b { (row.wins_a, row.wins_b) } else { (row.wins_b, row.wins_a) };
        for (outcome, count) in [(0, i_won), (1, j_won), (2, row.ties)] {
            if count != 0.0 {
                keys.push(pair | outcome);
                counts.push(count);
            }
        }
    }
    let bits = 32 - ((n * n * 4).max(2) as u32 - 1).leading_zeros();
    let (mut sorted_keys, mut sorted_counts) = (vec![0u32; keys.len()], vec![0.0f64; keys.len()]);
    for shift in (0..bits).step_by(11) {
        let mut offsets = vec![0usize; 2049];
        for &key in &keys {
            offsets[((key >> shift) & 0x7ff) as usize + 1] += 1;
        }
        for d in 1..offsets.len() {
            offsets[d] += offsets[d - 1];
        }
        for (&key, &count) in keys.iter().zip(&counts) {
            let digit = ((key >> shift) & 0x7ff) as usize;
            sorted_keys[offsets[digit]] = key;
            sorted_counts[offsets[digit]] = count;
            offsets[digit] += 1;
        }
        std::mem::swap(&mut keys, &mut sorted_keys);
        std::mem::swap(&mut counts, &mut sorted_counts);
    }
    let mut pairs = empty_pairs();
    let mut current = u32::MAX;
    for (key, count) in keys.into_iter().zip(counts) {
        let pair = key >> 2;
        if pair != current {
            current = pair;
            pairs.i.push(pair / n as u32);
            pairs.j.push(pair % n as u32);
            pairs.wij.push(0.0);
            pairs.wji.push(0.0);
            pairs.t.push(0.0);
        }
        let last = pairs.i.len() - 1;
        match key & 3 {
            0 => pairs.wij[last] += count,
            1 => pairs.wji[last] += count,
            _ => pairs.t[last] += count,
        }
    }
    pairs
}

/// Counts per pair in a hash map, pairs in order of first appearance (more
/// items than the dense solver takes, which then reports them).
fn aggregate_hashed(rows: &[PairRow]) -> Pairs {
    let mut pairs = empty_pairs();
    let mut table = std::collections::HashMap::new();
    for row in rows {
        let (i, j) = (row.a.min(row.b), row.a.max(row.b));
        let key = (u64::from(i) << 32) | u64::from(j);
        let slot = *table.entry(key).or_insert_with(|| {
            pairs.i.push(i);
            pairs.j.push(j);
            pairs.wij.push(0.0);
            pairs.wji.push(0.0);
            pairs.t.push(0.0);
            pairs.i.len() - 1
        });
        if row.a < row.b {
            pairs.wij[slot] += row.wins_a;
            pairs.wji[slot] += row.wins_b;
        } else {
            pairs.wij[slot] += row.wins_b;
            pairs.wji[slot] += row.wins_a;
        }
        pairs.t[slot] += row.ties;
    }
    pairs
}

/// Which coordinate the constraint eliminates, and how.
#[derive(Clone, Copy)]
struct Constraint {
    k: usize,
    /// θ_k = 0 (reference) or θ_k = −Σ_{i≠k} θ_i (mean zero).
    mean_zero: bool,
}

struct Problem<'a> {
    model: Model,
    n: usize,
    /// Number of parameters: n abilities, plus log ν for Davidson.
    m: usize,
    l2: f64,
    pairs: Option<Pairs>,
    rankings: Option<&'a [Vec<u32>]>,
    /// The per-pair terms as a fused f64 kernel (Bradley–Terry, Thurstone, Davidson).
    kernel: Option<PairKernel>,
    /// Plackett–Luce's per-position terms as two fused f64 passes.
    ranking_kernel: Option<RankingKernel>,
    /// Threads the kernels run on (results do not depend on it).
    threads: usize,
    /// The first error of a kernel that compiled but failed to run (a lost
    /// device, say): the point it was evaluated at counts as NaN, and the fit
    /// reports this error rather than a failure to converge.
    kernel_error: std::cell::RefCell<Option<RatingsError>>,
}

/// One of the fit's graphs compiled to f64 kernels on the chosen backend.
enum FitGraph {
    Cpu(std::sync::Arc<plumb_cpu::CompiledGraph<f64>>),
    #[cfg(feature = "gpu")]
    Gpu(std::sync::Arc<plumb_gpu::CompiledGraph>),
}

impl FitGraph {
    fn compile(graph: &plumb_ir::Graph, backend: Backend) -> Result<FitGraph, RatingsError> {
        match backend {
            Backend::Cpu => plumb_cpu::compile_f64(graph)
                .map(FitGraph::Cpu)
                .map_err(|e| RatingsError { code: "P0611", message: format!("the fit's kernel did not compile: {e}") }),
            #[cfg(feature = "gpu")]
            Backend::Gpu => plumb_gpu::compile_f64(graph).map(FitGraph::Gpu).map_err(|e| RatingsError {
                code: "P0611",
                message: format!("the GPU backend cannot run the fit: {e}"),
            }),
            #[cfg(not(feature = "gpu"))]
            Backend::Gpu => Err(RatingsError {
                code: "P0611",
                message: "the GPU backend cannot run the fit: this build has no GPU backend \
                          (plumb-ratings' `gpu` feature)"
                    .into(),
            }),
        }
    }

    /// Runs the graph; per-row outputs land in `Buffer`s, summed ones in `Host`.
    fn run_into(
        &self,
        batch: &plumb_interp::Batch,
        inputs: &[Vec<f64>],
        threads: usize,
        outputs: &mut plumb_cpu::Outputs<f64>,
    ) -> Result<(), String> {
        match self {
            FitGraph::Cpu(compiled) => compiled.run_into(batch, inputs, threads, outputs).map_err(|e| e.to_string()),
            #[cfg(feature = "gpu")]
            FitGraph::Gpu(compiled) => {
                let _ = threads;
                let values = compiled.run_f64(batch, inputs).map_err(|e| e.to_string())?;
                let graph = &compiled.graph;
                outputs.values = values
                    .into_iter()
                    .map(|(name, v)| {
                        let summed = graph.output(&name).is_some_and(|id| graph.shape(id) == plumb_ir::Shape::Scalar);
                        let data =
                            if summed { plumb_cpu::OutputData::Host(v) } else { plumb_cpu::OutputData::Buffer(v) };
                        (name, data)
                    })
                    .collect();
                Ok(())
            }
        }
    }
}

/// `graphs::pair_terms` compiled to f64 kernels, with its input and output
/// buffers kept from one evaluation to the next.
struct PairKernel {
    compiled: FitGraph,
    batch: plumb_interp::Batch,
    /// d (rewritten at every evaluation), wij, wji, t, and α for Davidson.
    inputs: std::cell::RefCell<Vec<Vec<f64>>>,
    outputs: std::cell::RefCell<plumb_cpu::Outputs<f64>>,
}

impl PairKernel {
    fn new(model: Model, pairs: &Pairs, backend: Backend) -> Result<Option<PairKernel>, RatingsError> {
        let Some(graph) = crate::graphs::pair_terms(model) else { return Ok(None) };
        let compiled = FitGraph::compile(&graph, backend)?;
        let mut inputs = vec![vec![0.0; pairs.i.len()], pairs.wij.clone(), pairs.wji.clone(), pairs.t.clone()];
        if model == Model::Davidson {
            inputs.push(vec![0.0]);
        }
        Ok(Some(PairKernel {
            compiled,
            batch: plumb_interp::Batch::rows(pairs.i.len()),
            inputs: std::cell::RefCell::new(inputs),
            outputs: std::cell::RefCell::new(plumb_cpu::Outputs::default()),
        }))
    }

    /// Runs the kernel at parameters `p`; its outputs are then in `self.outputs`.
    fn run(&self, pairs: &Pairs, p: &[f64], n: usize, threads: usize) -> Result<(), RatingsError> {
        let mut inputs = self.inputs.borrow_mut();
        for (d, (&i, &j)) in inputs[0].iter_mut().zip(pairs.i.iter().zip(&pairs.j)) {
            *d = p[i as usize] - p[j as usize];
        }
        if let Some(alpha) = inputs.get_mut(4) {
            alpha[0] = p[n];
        }
        let mut outputs = self.outputs.borrow_mut();
        self.compiled
            .run_into(&self.batch, &inputs, threads, &mut outputs)
            .map_err(|e| RatingsError { code: "P0611", message: format!("the fit's kernel failed: {e}") })
    }
}

/// Plackett–Luce's two passes (`graphs::ranking_weights`, `graphs::ranking_stages`)
/// over the positions of all rankings laid end to end, with their buffers.
struct RankingKernel {
    weights: FitGraph,
    stages: FitGraph,
    batch: plumb_interp::Batch,
    /// Where each ranking starts.
    starts: Vec<usize>,
    /// [x] for the first pass; [s, x, stage] for the second.
    weight_inputs: std::cell::RefCell<Vec<Vec<f64>>>,
    stage_inputs: std::cell::RefCell<Vec<Vec<f64>>>,
    weight_outputs: std::cell::RefCell<plumb_cpu::Outputs<f64>>,
    stage_outputs: std::cell::RefCell<plumb_cpu::Outputs<f64>>,
}

impl RankingKernel {
    fn new(rankings: &[Vec<u32>], backend: Backend) -> Result<RankingKernel, RatingsError> {
        let compile = |graph: plumb_ir::Graph| FitGraph::compile(&graph, backend);
        let mut starts = Vec::with_capacity(rankings.len());
        let mut stage = Vec::new();
        for ranking in rankings {
            starts.push(stage.len());
            stage.extend((0..ranking.len()).map(|k| if k + 1 < ranking.len() { 1.0 } else { 0.0 }));
        }
        let positions = stage.len();
        Ok(RankingKernel {
            weights: compile(crate::graphs::ranking_weights())?,
            stages: compile(crate::graphs::ranking_stages())?,
            batch: plumb_interp::Batch::rows(positions),
            starts,
            weight_inputs: std::cell::RefCell::new(vec![vec![0.0; positions]]),
            stage_inputs: std::cell::RefCell::new(vec![vec![0.0; positions], vec![0.0; positions], stage]),
            weight_outputs: std::cell::RefCell::new(plumb_cpu::Outputs::default()),
            stage_outputs: std::cell::RefCell::new(plumb_cpu::Outputs::default()),
        })
    }

    /// Runs both passes at parameters `p`; their outputs are then in `weight_outputs` and `stage_outputs`.
    fn run(&self, rankings: &[Vec<u32>], p: &[f64], threads: usize) -> Result<(), RatingsError> {
        let failed = |e: String| RatingsError { code: "P0611", message: format!("the fit's kernel failed: {e}") };
        let mut weight_inputs = self.weight_inputs.borrow_mut();
        for (r, ranking) in rankings.iter().enumerate() {
            let top = ranking.iter().map(|&i| p[i as usize]).fold(f64::NEG_INFINITY, f64::max);
            let at = self.starts[r];
            for (slot, &i) in weight_inputs[0][at..at + ranking.len()].iter_mut().zip(ranking) {
                *slot = p[i as usize] - top;
            }
        }
        let mut weight_outputs = self.weight_outputs.borrow_mut();
        self.weights.run_into(&self.batch, &weight_inputs, threads, &mut weight_outputs).map_err(failed)?;
        let w = per_pair(&weight_outputs, "w");
        let mut stage_inputs = self.stage_inputs.borrow_mut();
        let (suffix, rest) = stage_inputs.split_at_mut(1);
        for (r, ranking) in rankings.iter().enumerate() {
            let at = self.starts[r];
            let mut acc = 0.0;
            for k in (at..at + ranking.len()).rev() {
                acc += w[k];
                suffix[0][k] = acc;
            }
        }
        rest[0].copy_from_slice(&weight_inputs[0]);
        let mut stage_outputs = self.stage_outputs.borrow_mut();
        self.stages.run_into(&self.batch, &stage_inputs, threads, &mut stage_outputs).map_err(failed)
    }
}

/// A per-pair output of the kernel (empty when absent).
fn per_pair<'o>(outputs: &'o plumb_cpu::Outputs<f64>, name: &str) -> &'o [f64] {
    match outputs.get(name) {
        Some(plumb_cpu::OutputData::Buffer(v)) => v,
        _ => &[],
    }
}

/// A summed output of the kernel (0 when absent).
fn summed(outputs: &plumb_cpu::Outputs<f64>, name: &str) -> f64 {
    match outputs.get(name) {
        Some(plumb_cpu::OutputData::Host(v)) => v.first().copied().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// log Φ(x) and the inverse Mills ratio φ(x)/Φ(x).
#[inline]
fn log_cdf_and_mills(x: f64) -> (f64, f64) {
    use plumb_ir::math::LN_SQRT_2PI;
    if x > -30.0 {
        let cdf = 0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2);
        let log_pdf = -0.5 * x * x - LN_SQRT_2PI;
        (cdf.ln(), (log_pdf - cdf.ln()).exp())
    } else {
        // Asymptotic series: Φ(x) ≈ φ(x)/(−x)·(1 − 1/x² + 3/x⁴ − 15/x⁶).
        let z = 1.0 / (x * x);
        let series = 1.0 - z + 3.0 * z * z - 15.0 * z * z * z;
        let log_pdf = -0.5 * x * x - LN_SQRT_2PI;
        (log_pdf - (-x).ln() + series.ln(), -x / series)
    }
}

/// Per-pair negative log-likelihood in d = θi − θj and its first two derivatives.
#[inline]
fn pair_terms(model: Model, d: f64, wij: f64, wji: f64) -> (f64, f64, f64) {
    match model {
        Model::Thurstone => {
            let (lp, rp) = log_cdf_and_mills(d);
            let (lm, rm) = log_cdf_and_mills(-d);
            let f = -(wij * lp + wji * lm);
            let g = -wij * rp + wji * rm;
            let h = wij * rp * (d + rp) + wji * rm * (-d + rm);
            (f, g, h)
        }
        _ => {
            // One exp and one log1p: with e = exp(−|d|), log σ(d) = min(d, 0) − log1p(e), log σ(−d) = log σ(d) − d.
            let e = (-d.abs()).exp();
            let log_p = d.min(0.0) - e.ln_1p();
            let p = if d >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
            let f = -(wij * log_p + wji * (log_p - d));
            let total = wij + wji;
            (f, total * p - wij, total * p * (1.0 - p))
        }
    }
}

impl Problem<'_> {
    /// Negative penalised log-likelihood; with `grad` and `hess` their derivatives (hess: m×m row-major).
    fn eval(&self, p: &[f64], mut grad: Option<&mut [f64]>, mut hess: Option<&mut [f64]>) -> f64 {
        let (n, m) = (self.n, self.m);
        if let Some(g) = grad.as_deref_mut() {
            g.iter_mut().for_each(|v| *v = 0.0);
        }
        if let Some(h) = hess.as_deref_mut() {
            h.iter_mut().for_each(|v| *v = 0.0);
        }
        let mut f = 0.0;
        if let (Some(pairs), Some(kernel)) = (&self.pairs, &self.kernel) {
            if let Err(e) = kernel.run(pairs, p, n, self.threads) {
                self.kernel_error.borrow_mut().get_or_insert(e);
                return f64::NAN;
            }
            let outputs = kernel.outputs.borrow();
            f += summed(&outputs, "f");
            if let Some(g) = grad.as_deref_mut() {
                for (s, &gd) in per_pair(&outputs, "gd").iter().enumerate() {
                    g[pairs.i[s] as usize] += gd;
                    g[pairs.j[s] as usize] -= gd;
                }
                if m > n {
                    g[n] += summed(&outputs, "ga");
                }
            }
            if let Some(h) = hess.as_deref_mut() {
                for (s, &hd) in per_pair(&outputs, "hd").iter().enumerate() {
                    let (i, j) = (pairs.i[s] as usize, pairs.j[s] as usize);
                    h[i * m + i] += hd;
                    h[j * m + j] += hd;
                    h[i * m + j] -= hd;
                    h[j * m + i] -= hd;
                }
                if m > n {
                    for (s, &hda) in per_pair(&outputs, "hda").iter().enumerate() {
                        let (i, j) = (pairs.i[s] as usize, pairs.j[s] as usize);
                        h[i * m + n] += hda;
                        h[n * m + i] += hda;
                        h[j * m + n] -= hda;
                        h[n * m + j] -= hda;
                    }
                    h[n * m + n] += summed(&outputs, "haa");
                }
            }
        } else if let Some(pairs) = &self.pairs {
            for s in 0..pairs.i.len() {
                let (i, j) = (pairs.i[s] as usize, pairs.j[s] as usize);
                let d = p[i] - p[j];
                let (fs, gd, hd, ga, hda, haa) = if self.model == Model::Davidson {
                    davidson_terms(d, p[n], pairs.wij[s], pairs.wji[s], pairs.t[s])
                } else {
                    let (fs, gd, hd) = pair_terms(self.model, d, pairs.wij[s], pairs.wji[s]);
                    (fs, gd, hd, 0.0, 0.0, 0.0)
                };
                f += fs;
                if let Some(g) = grad.as_deref_mut() {
                    g[i] += gd;
                    g[j] -= gd;
                    if m > n {
                        g[n] += ga;
                    }
                }
                if let Some(h) = hess.as_deref_mut() {
                    h[i * m + i] += hd;
                    h[j * m + j] += hd;
                    h[i * m + j] -= hd;
                    h[j * m + i] -= hd;
                    if m > n {
                        h[i * m + n] += hda;
                        h[n * m + i] += hda;
                        h[j * m + n] -= hda;
                        h[n * m + j] -= hda;
                        h[n * m + n] += haa;
                    }
                }
            }
        }
        if let (Some(rankings), Some(kernel)) = (self.rankings, &self.ranking_kernel) {
            if let Err(e) = kernel.run(rankings, p, self.threads) {
                self.kernel_error.borrow_mut().get_or_insert(e);
                return f64::NAN;
            }
            let weight_outputs = kernel.weight_outputs.borrow();
            let stage_outputs = kernel.stage_outputs.borrow();
            let w = per_pair(&weight_outputs, "w");
            let (d, c) = (per_pair(&stage_outputs, "d"), per_pair(&stage_outputs, "c"));
            f += summed(&stage_outputs, "f");
            if grad.is_some() || hess.is_some() {
                // As below, with running sums of d and c: both are 0 at a ranking's last
                // position, so its running sum there is the sum up to the stage before.
                let (mut inv, mut inv2) = (Vec::new(), Vec::new());
                for (r, ranking) in rankings.iter().enumerate() {
                    let (at, l) = (kernel.starts[r], ranking.len());
                    let w = &w[at..at + l];
                    inv.clear();
                    inv2.clear();
                    let (mut a, mut b) = (0.0, 0.0);
                    for k in at..at + l {
                        a += d[k];
                        b += c[k];
                        inv.push(a);
                        inv2.push(b);
                    }
                    if let Some(g) = grad.as_deref_mut() {
                        for (u, &item) in ranking.iter().enumerate() {
                            g[item as usize] += w[u] * inv[u];
                            if u < l - 1 {
                                g[item as usize] -= 1.0;
                            }
                        }
                    }
                    if let Some(h) = hess.as_deref_mut() {
                        for (u, &a) in ranking.iter().enumerate() {
                            let row = a as usize * m;
                            h[row + a as usize] += w[u] * inv[u];
                            for (v, &b) in ranking.iter().enumerate() {
                                h[row + b as usize] -= w[u] * w[v] * inv2[u.min(v)];
                            }
                        }
                    }
                }
            }
        } else if let Some(rankings) = self.rankings {
            // Stage k of a ranking r₁ ≻ … ≻ r_L chooses r_k from {r_k, …, r_L} with
            // probability w_k / S_k (w = exp θ, S_k the suffix sum). Item u is in stages
            // 0..=min(u, L−2), so its gradient term is w_u·Σ_{k≤min(u,L−2)} 1/S_k and the
            // Hessian entry of u, v is −w_u w_v·Σ_{k≤min(u,v,L−2)} 1/S_k²: O(L²) per ranking.
            let (mut w, mut suffix, mut inv, mut inv2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ranking in rankings {
                let l = ranking.len();
                let top = ranking.iter().map(|&r| p[r as usize]).fold(f64::NEG_INFINITY, f64::max);
                w.clear();
                w.extend(ranking.iter().map(|&r| (p[r as usize] - top).exp()));
                suffix.clear();
                suffix.resize(l, 0.0);
                let mut acc = 0.0;
                for k in (0..l).rev() {
                    acc += w[k];
                    suffix[k] = acc;
                }
                inv.clear();
                inv2.clear();
                let (mut d, mut c2) = (0.0, 0.0);
                for k in 0..l - 1 {
                    f += top + suffix[k].ln() - p[ranking[k] as usize];
                    d += 1.0 / suffix[k];
                    c2 += 1.0 / (suffix[k] * suffix[k]);
                    inv.push(d);
                    inv2.push(c2);
                }
                if let Some(g) = grad.as_deref_mut() {
                    for (u, &r) in ranking.iter().enumerate() {
                        g[r as usize] += w[u] * inv[u.min(l - 2)];
                        if u < l - 1 {
                            g[r as usize] -= 1.0;
                        }
                    }
                }
                if let Some(h) = hess.as_deref_mut() {
                    for (u, &a) in ranking.iter().enumerate() {
                        let row = a as usize * m;
                        h[row + a as usize] += w[u] * inv[u.min(l - 2)];
                        for (v, &b) in ranking.iter().enumerate() {
                            h[row + b as usize] -= w[u] * w[v] * inv2[u.min(v).min(l - 2)];
                        }
                    }
                }
            }
        }
        if self.l2 > 0.0 {
            for i in 0..n {
                f += 0.5 * self.l2 * p[i] * p[i];
                if let Some(g) = grad.as_deref_mut() {
                    g[i] += self.l2 * p[i];
                }
                if let Some(h) = hess.as_deref_mut() {
                    h[i * m + i] += self.l2;
                }
            }
        }
        f
    }

    /// The (m−1)-vector and (m−1)×(m−1) matrix after eliminating θ_k.
    fn reduce(&self, c: Constraint, g: &[f64], h: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, m) = (self.n, self.m);
        let r = m - 1;
        let full = |a: usize| if a < c.k { a } else { a + 1 };
        let is_theta = |a: usize| c.mean_zero && full(a) < n;
        let mut gr = vec![0.0; r];
        let mut hr = vec![0.0; r * r];
        let k = c.k;
        for a in 0..r {
            let fa = full(a);
            gr[a] = g[fa] - if is_theta(a) { g[k] } else { 0.0 };
            let row = &h[fa * m..fa * m + m];
            let out = &mut hr[a * r..a * r + r];
            let hak = row[k];
            for (b, slot) in out.iter_mut().enumerate() {
                let fb = full(b);
                let mut v = row[fb];
                if is_theta(b) {
                    v -= hak;
                }
                if is_theta(a) {
                    v -= h[k * m + fb];
                    if is_theta(b) {
                        v += h[k * m + k];
                    }
                }
                *slot = v;
            }
        }
        (gr, hr)
    }

    fn expand(&self, c: Constraint, step: &[f64]) -> Vec<f64> {
        let mut full = vec![0.0; self.m];
        let mut sum = 0.0;
        for (a, &s) in step.iter().enumerate() {
            let fa = if a < c.k { a } else { a + 1 };
            full[fa] = s;
            if fa < self.n {
                sum += s;
            }
        }
        if c.mean_zero {
            full[c.k] = -sum;
        }
        full
    }
}

/// Davidson terms in d = θi − θj and α = log ν: (f, ∂d, ∂²d, ∂α, ∂d∂α, ∂²α).
#[inline]
fn davidson_terms(d: f64, alpha: f64, wij: f64, wji: f64, t: f64) -> (f64, f64, f64, f64, f64, f64) {
    // P(i) = e^{a}/D, P(j) = e^{−a}/D, P(tie) = ν/D with a = d/2, D = e^{a} + e^{−a} + ν.
    let a = 0.5 * d;
    let big = a.abs().max(alpha);
    let (ep, em, nu) = ((a - big).exp(), (-a - big).exp(), (alpha - big).exp());
    let dd = ep + em + nu;
    let log_d = big + dd.ln();
    let total = wij + wji + t;
    let f = -((wij - wji) * a + t * alpha - total * log_d);
    let (s, c, v) = ((ep - em) / dd, (ep + em) / dd, nu / dd);
    // ∂log D/∂a = s, ∂log D/∂α = v; ∂²/∂a² = c − s², ∂²/∂a∂α = −s v, ∂²/∂α² = v − v².
    let ga = -(wij - wji) + total * s;
    let gal = -t + total * v;
    let haa = total * (c - s * s);
    let hdal = total * (-s * v);
    let hal = total * (v - v * v);
    (f, 0.5 * ga, 0.25 * haa, gal, 0.5 * hdal, hal)
}

/// The most parameters the dense Hessian handles (three 200 MB matrices at the limit).
pub const MAX_DENSE: usize = 5000;

fn problem<'a>(data: &'a Dataset, opts: &Options, threads: usize) -> Result<Problem<'a>, RatingsError> {
    let n = data.items.len();
    let m = if opts.model == Model::Davidson { n + 1 } else { n };
    let mut prob = Problem {
        model: opts.model,
        n,
        m,
        l2: opts.l2,
        pairs: None,
        rankings: None,
        kernel: None,
        ranking_kernel: None,
        threads,
        kernel_error: std::cell::RefCell::new(None),
    };
    match (&data.observations, opts.model) {
        (Observations::Rankings(r), Model::PlackettLuce) => {
            prob.rankings = Some(r);
            if opts.kernels {
                prob.ranking_kernel = Some(RankingKernel::new(r, opts.backend)?);
            }
        }
        (Observations::Rankings(_), _) => {
            return Err(RatingsError {
                code: "P0607",
                message: "rankings (JSONL) need the Plackett–Luce model: use --model pl".into(),
            });
        }
        (Observations::Pairs(rows), model) => {
            let mut pairs = aggregate(rows, n);
            if model != Model::Davidson {
                for s in 0..pairs.t.len() {
                    if opts.ties == Ties::Half && model != Model::PlackettLuce {
                        pairs.wij[s] += 0.5 * pairs.t[s];
                        pairs.wji[s] += 0.5 * pairs.t[s];
                    }
                    pairs.t[s] = 0.0;
                }
                if model == Model::PlackettLuce {
                    prob.model = Model::BradleyTerry; // two-item rankings: PL is BT
                }
            }
            if opts.kernels {
                prob.kernel = PairKernel::new(prob.model, &pairs, opts.backend)?;
            }
            prob.pairs = Some(pairs);
        }
    }
    if m > MAX_DENSE {
        return Err(RatingsError {
            code: "P0610",
            message: format!(
                "{n} items exceed the dense Newton solver's limit of {MAX_DENSE} (it holds n×n matrices of 8·n² bytes each)"
            ),
        });
    }
    if n < 2 {
        return Err(RatingsError {
            code: "P0604",
            message: "there is only one item; ranking needs at least two".into(),
        });
    }
    Ok(prob)
}

/// Checks that the maximum-likelihood estimate exists without a prior: the
/// comparison graph is connected, and every group of items both wins and loses
/// against the rest (the "beats" graph is strongly connected).
fn check_existence(prob: &Problem, data: &Dataset, opts: &Options) -> Result<(), RatingsError> {
    let n = prob.n;
    let mut forward: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut undirected: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut edge = |a: usize, b: usize, a_beats_b: bool, b_beats_a: bool| {
        undirected[a].push(b as u32);
        undirected[b].push(a as u32);
        if a_beats_b {
            forward[a].push(b as u32);
        }
        if b_beats_a {
            forward[b].push(a as u32);
        }
    };
    let (mut ties, mut decisive) = (0.0, 0.0);
    if let Some(pairs) = &prob.pairs {
        for s in 0..pairs.i.len() {
            let (i, j) = (pairs.i[s] as usize, pairs.j[s] as usize);
            let tie = pairs.t[s] > 0.0;
            ties += pairs.t[s];
            decisive += pairs.wij[s] + pairs.wji[s];
            if pairs.wij[s] > 0.0 || pairs.wji[s] > 0.0 || tie {
                edge(i, j, pairs.wij[s] > 0.0 || tie, pairs.wji[s] > 0.0 || tie);
            }
        }
    }
    if let Some(rankings) = prob.rankings {
        for ranking in rankings {
            for (k, &a) in ranking.iter().enumerate() {
                for &b in &ranking[k + 1..] {
                    edge(a as usize, b as usize, true, false);
                }
            }
        }
    }
    if prob.model == Model::Davidson && (ties == 0.0 || decisive == 0.0) {
        let what = if ties == 0.0 { "no ties" } else { "only ties" };
        return Err(RatingsError {
            code: "P0608",
            message: format!(
                "the data have {what}, so Davidson's tie parameter has no finite estimate; use --model bt for data without ties"
            ),
        });
    }
    if opts.l2 > 0.0 {
        return Ok(());
    }
    let reach = |adj: &[Vec<u32>], start: usize| {
        let mut seen = vec![false; n];
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(v) = stack.pop() {
            for &w in &adj[v] {
                if !seen[w as usize] {
                    seen[w as usize] = true;
                    stack.push(w as usize);
                }
            }
        }
        seen
    };
    let connected = reach(&undirected, 0);
    if let Some(out) = connected.iter().position(|&s| !s) {
        let size = connected.iter().filter(|&&s| s).count();
        return Err(RatingsError {
            code: "P0604",
            message: format!(
                "the comparison graph is disconnected: `{}` and `{}` are never linked by a chain of comparisons ({size} of {n} items reachable from `{}`); abilities across the parts are not identified — add --l2 (e.g. --l2 0.01) or more comparisons",
                data.items[0], data.items[out], data.items[0]
            ),
        });
    }
    let mut backward: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (a, outs) in forward.iter().enumerate() {
        for &b in outs {
            backward[b as usize].push(a as u32);
        }
    }
    let fail = |message: String| {
        Err(RatingsError {
            code: "P0605",
            message: format!(
                "{message}, so its maximum-likelihood ability is infinite; add --l2 (e.g. --l2 0.01) for a finite estimate"
            ),
        })
    };
    if let Some(i) = (0..n).find(|&i| forward[i].is_empty()) {
        return fail(format!("`{}` never wins", data.items[i]));
    }
    if let Some(i) = (0..n).find(|&i| backward[i].is_empty()) {
        return fail(format!("`{}` never loses", data.items[i]));
    }
    // Items that item 0 does not beat through a chain never lose to the others; likewise backwards.
    for (seen, verb) in [
        (reach(&forward, 0), "never loses to the other items"),
        (reach(&backward, 0), "never wins against the other items"),
    ] {
        let group: Vec<String> =
            seen.iter().enumerate().filter(|(_, s)| !**s).map(|(i, _)| format!("`{}`", data.items[i])).collect();
        if !group.is_empty() {
            let more = if group.len() > 5 { ", …" } else { "" };
            let shown = group.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            return fail(format!("the group {{{shown}{more}}} {verb}"));
        }
    }
    Ok(())
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |a, &x| a.max(x.abs()))
}

/// A Newton step by Cholesky, with Levenberg damping while the matrix is not positive definite.
fn cholesky_step(hr: &mut [f64], r: usize, rhs: Vec<f64>) -> Result<Vec<f64>, RatingsError> {
    let mut damping = 0.0;
    let backup = hr.to_vec();
    while !linalg::cholesky(hr, r) {
        damping = if damping == 0.0 { 1e-8 * (1.0 + max_abs(&backup)) } else { damping * 10.0 };
        if !damping.is_finite() || damping > 1e12 {
            return Err(RatingsError {
                code: "P0609",
                message: "the Hessian is singular: the abilities are not identified; add --l2".into(),
            });
        }
        hr.copy_from_slice(&backup);
        for a in 0..r {
            hr[a * r + a] += damping;
        }
    }
    let mut step = rhs;
    linalg::forward(hr, r, &mut step);
    linalg::backward(hr, r, &mut step);
    Ok(step)
}

fn newton(
    prob: &Problem,
    c: Constraint,
    opts: &Options,
    start: Option<&[f64]>,
    want_se: bool,
) -> Result<(Vec<f64>, usize, Vec<f64>), RatingsError> {
    let m = prob.m;
    let mut p = match start {
        Some(s) => s.to_vec(),
        None => vec![0.0; m],
    };
    let mut g = vec![0.0; m];
    let mut h = vec![0.0; m * m];
    // The full step is tried with the gradient and Hessian evaluated at once, so
    // an accepted step (the usual case) costs one pass over the pairs, not two.
    let (mut g_trial, mut h_trial) = (vec![0.0; m], vec![0.0; m * m]);
    let mut f = prob.eval(&p, Some(&mut g), Some(&mut h));
    let mut iterations = 0;
    // CG is given at most the work of one factorisation (m/3 iterations of O(m²));
    // once it fails (a sparse, badly conditioned graph) Cholesky is used from then on.
    let cg_limit = ((m - 1) / 3).clamp(10, 300);
    let mut use_cg = true;
    loop {
        if iterations >= opts.max_iterations {
            return Err(RatingsError {
                code: "P0609",
                message: format!("the fit did not converge in {} Newton iterations; try --l2", opts.max_iterations),
            });
        }
        let (gr, mut hr) = prob.reduce(c, &g, &h);
        let r = m - 1;
        let rhs: Vec<f64> = gr.iter().map(|x| -x).collect();
        // Conjugate gradients on the dense reduced Hessian cost O(m²) per iteration
        // and converge in tens of iterations on well-linked comparison graphs; the
        // O(m³/3) Cholesky is the fallback (and is needed once, for the SEs).
        let solved = if use_cg { linalg::pcg(&hr, r, &rhs, 1e-11, cg_limit) } else { None };
        let step = match solved {
            Some(step) => step,
            None => {
                use_cg = false;
                cholesky_step(&mut hr, r, rhs)?
            }
        };
        let delta = prob.expand(c, &step);
        let slope: f64 = g.iter().zip(&delta).map(|(a, b)| a * b).sum();
        let mut t = 1.0;
        let mut trial = vec![0.0; m];
        let mut derivatives_at_trial;
        let mut f_trial;
        loop {
            for a in 0..m {
                trial[a] = p[a] + t * delta[a];
            }
            derivatives_at_trial = t == 1.0;
            f_trial = if derivatives_at_trial {
                prob.eval(&trial, Some(&mut g_trial), Some(&mut h_trial))
            } else {
                prob.eval(&trial, None, None)
            };
            if f_trial.is_finite() && f_trial <= f + 1e-4 * t * slope + 1e-12 * f.abs().max(1.0) {
                break;
            }
            t *= 0.5;
            if t < 1e-12 {
                // No decrease along a Newton direction that is not already tiny: stop
                // rather than report a point that only looks converged.
                if max_abs(&delta) > 1e-6 {
                    return Err(RatingsError {
                        code: "P0609",
                        message: "the line search found no decrease; the problem is badly conditioned — add --l2"
                            .into(),
                    });
                }
                break;
            }
        }
        p.copy_from_slice(&trial);
        if derivatives_at_trial {
            std::mem::swap(&mut g, &mut g_trial);
            std::mem::swap(&mut h, &mut h_trial);
            f = f_trial;
        } else {
            f = prob.eval(&p, Some(&mut g), Some(&mut h));
        }
        iterations += 1;
        if !p.iter().all(|x| x.is_finite()) {
            return Err(RatingsError { code: "P0609", message: "the fit diverged; add --l2".into() });
        }
        if t * max_abs(&delta) < opts.tolerance {
            break;
        }
    }
    if !want_se {
        return Ok((p, iterations, Vec::new()));
    }
    // g and h are already those at p.
    let (_, mut hr) = prob.reduce(c, &g, &h);
    let r = m - 1;
    let mut se = vec![0.0; prob.n];
    if linalg::cholesky(&mut hr, r) {
        let diag = linalg::inverse_diagonal(&hr, r);
        for (a, &v) in diag.iter().enumerate() {
            let fa = if a < c.k { a } else { a + 1 };
            if fa < prob.n {
                se[fa] = v.sqrt();
            }
        }
        if c.mean_zero {
            let mut ones: Vec<f64> =
                (0..r).map(|a| if (if a < c.k { a } else { a + 1 }) < prob.n { 1.0 } else { 0.0 }).collect();
            linalg::forward(&hr, r, &mut ones);
            se[c.k] = ones.iter().map(|x| x * x).sum::<f64>().sqrt();
        }
    } else {
        se.iter_mut().for_each(|s| *s = f64::NAN);
    }
    Ok((p, iterations, se))
}

/// A fit from `start` (θ = 0 when `None`), with standard errors when `want_se`;
/// the kernels run on `threads` threads.
fn fit_from(
    data: &Dataset,
    opts: &Options,
    start: Option<&[f64]>,
    want_se: bool,
    threads: usize,
) -> Result<Fit, RatingsError> {
    if opts.l2.is_nan() || opts.l2 < 0.0 || !opts.l2.is_finite() {
        return Err(RatingsError { code: "P0606", message: format!("--l2 must be a number ≥ 0, found {}", opts.l2) });
    }
    let prob = problem(data, opts, threads)?;
    check_existence(&prob, data, opts)?;
    let c = match opts.reference {
        Some(k) if k < prob.n => Constraint { k, mean_zero: false },
        Some(k) => return Err(RatingsError { code: "P0606", message: format!("reference index {k} is out of range") }),
        None => Constraint { k: prob.n - 1, mean_zero: true },
    };
    let solved = newton(&prob, c, opts, start, want_se);
    if let Some(e) = prob.kernel_error.borrow_mut().take() {
        return Err(e);
    }
    let (p, iterations, se) = solved?;
    let mut abilities = p[..prob.n].to_vec();
    // Remove rounding drift from the constraint.
    if c.mean_zero {
        let mean = abilities.iter().sum::<f64>() / prob.n as f64;
        abilities.iter_mut().for_each(|x| *x -= mean);
    } else {
        let shift = abilities[c.k];
        abilities.iter_mut().for_each(|x| *x -= shift);
    }
    let mut at = abilities.clone();
    if prob.m > prob.n {
        at.push(p[prob.n]);
    }
    let penalty = 0.5 * opts.l2 * abilities.iter().map(|x| x * x).sum::<f64>();
    let loglik = -(prob.eval(&at, None, None) - penalty);
    if let Some(e) = prob.kernel_error.borrow_mut().take() {
        return Err(e);
    }
    let tie_param = (prob.model == Model::Davidson).then(|| p[prob.n].exp());
    Ok(Fit { abilities, se, loglik, iterations, tie_param })
}

/// Fits the model by maximum likelihood (maximum a posteriori with `l2` > 0).
pub fn fit(data: &Dataset, opts: &Options) -> Result<Fit, RatingsError> {
    fit_from(data, opts, None, true, plumb_cpu::default_threads())
}

/// SplitMix64: a small, seeded, portable generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// 95 % percentile intervals from `replicates` refits on comparisons (or
/// rankings) resampled with replacement; deterministic for a seed.
pub fn bootstrap(
    data: &Dataset,
    opts: &Options,
    estimate: &Fit,
    replicates: usize,
    seed: u64,
) -> Result<Intervals, RatingsError> {
    bootstrap_with_progress(data, opts, estimate, replicates, seed, &|_| {})
}

/// [`bootstrap`], calling `progress(done)` as resamples finish. Resamples run
/// on all cores, each drawn from its own generator (seeded by `seed` and its
/// index) and refitted on one thread, so the intervals do not depend on the
/// number of cores; a failure is reported for the first failing resample.
pub fn bootstrap_with_progress(
    data: &Dataset,
    opts: &Options,
    estimate: &Fit,
    replicates: usize,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Intervals, RatingsError> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    // Each refit holds three dense m×m matrices: keep all workers' together under ~2 GB.
    let m = data.items.len() + 1;
    let per_worker = 3 * 8 * m * m;
    let workers = cores.min((BOOTSTRAP_MEMORY / per_worker).max(1));
    bootstrap_on(data, opts, estimate, replicates, seed, progress, workers)
}

/// The memory the concurrent bootstrap refits' dense matrices may take together.
const BOOTSTRAP_MEMORY: usize = 2 << 30;

fn bootstrap_on(
    data: &Dataset,
    opts: &Options,
    estimate: &Fit,
    replicates: usize,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
    workers: usize,
) -> Result<Intervals, RatingsError> {
    let n = data.items.len();
    let mut start = estimate.abilities.clone();
    if let Some(nu) = estimate.tie_param {
        start.push(nu.ln());
    }
    // Individual comparisons as cells (row, outcome) with their counts.
    let cells: Vec<(usize, usize, f64)> = match &data.observations {
        Observations::Pairs(rows) => rows
            .iter()
            .enumerate()
            .flat_map(|(r, row)| [(r, 0, row.wins_a), (r, 1, row.wins_b), (r, 2, row.ties)])
            .filter(|c| c.2 > 0.0)
            .collect(),
        Observations::Rankings(r) => (0..r.len()).map(|i| (i, 0, 1.0)).collect(),
    };
    let mut cumulative = Vec::with_capacity(cells.len());
    let mut total = 0.0;
    for cell in &cells {
        total += cell.2;
        cumulative.push(total);
    }
    let draws_per = total.round() as usize;
    // One comparison per cell (the usual one-vote-per-row CSV): draw cells directly.
    let unit = cells.iter().all(|c| c.2 == 1.0);
    let resample = |replicate: usize| -> Result<Vec<f64>, RatingsError> {
        let mut rng = Rng(Rng(seed ^ (replicate as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next());
        let mut counts = vec![0.0f64; cells.len()];
        for _ in 0..draws_per {
            let at = if unit {
                ((u128::from(rng.next()) * cells.len() as u128) >> 64) as usize
            } else {
                let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
                cumulative.partition_point(|&c| c <= u).min(cells.len() - 1)
            };
            counts[at] += 1.0;
        }
        let observations = match &data.observations {
            Observations::Pairs(rows) => {
                let mut out = Vec::new();
                for (cell, &count) in cells.iter().zip(&counts) {
                    if count > 0.0 {
                        let mut row = rows[cell.0];
                        row.wins_a = if cell.1 == 0 { count } else { 0.0 };
                        row.wins_b = if cell.1 == 1 { count } else { 0.0 };
                        row.ties = if cell.1 == 2 { count } else { 0.0 };
                        out.push(row);
                    }
                }
                Observations::Pairs(out)
            }
            Observations::Rankings(r) => {
                let mut out = Vec::new();
                for (cell, &count) in cells.iter().zip(&counts) {
                    for _ in 0..count as usize {
                        out.push(r[cell.0].clone());
                    }
                }
                Observations::Rankings(out)
            }
        };
        let sample = Dataset { items: data.items.clone(), observations };
        let refit = fit_from(&sample, opts, Some(&start), false, 1).map_err(|e| RatingsError {
            code: e.code,
            message: format!("bootstrap resample {}: {}", replicate + 1, e.message),
        })?;
        Ok(refit.abilities)
    };
    // Resamples are handed out in order; after a failure no new one starts, and
    // every earlier one has already started, so the first failure is found.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let workers = workers.min(replicates).max(1);
    let work = || {
        let mut results = Vec::new();
        while !failed.load(std::sync::atomic::Ordering::SeqCst) {
            let replicate = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if replicate >= replicates {
                break;
            }
            let result = resample(replicate);
            if result.is_err() {
                failed.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            results.push((replicate, result));
            progress(done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1);
        }
        results
    };
    let mut results: Vec<(usize, Result<Vec<f64>, RatingsError>)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for handle in others {
            all.extend(handle.join().unwrap_or_default());
        }
        all
    });
    results.sort_by_key(|(replicate, _)| *replicate);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(replicates); n];
    for (_, result) in results {
        for (i, a) in result?.into_iter().enumerate() {
            draws[i].push(a);
        }
    }
    if draws.first().is_some_and(|d| d.len() != replicates) {
        return Err(RatingsError { code: "P0609", message: "a bootstrap worker failed".into() });
    }
    let mut lower = Vec::with_capacity(n);
    let mut upper = Vec::with_capacity(n);
    for mut d in draws {
        d.sort_by(f64::total_cmp);
        lower.push(percentile(&d, 0.025));
        upper.push(percentile(&d, 0.975));
    }
    Ok(Intervals { lower, upper })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn bootstrap_intervals_do_not_depend_on_the_workers() {
        let mut state = 11;
        let rows: Vec<PairRow> = (0..3000)
            .map(|k| {
                let a = (k % 12) as u32;
                let b = ((k + 1 + next(&mut state) as usize % 11) % 12) as u32;
                let won = !next(&mut state).is_multiple_of(3);
                PairRow { a, b, wins_a: f64::from(u8::from(won)), wins_b: f64::from(u8::from(!won)), ties: 0.0 }
            })
            .collect();
        let data =
            Dataset { items: (0..12).map(|i| format!("i{i}")).collect(), observations: Observations::Pairs(rows) };
        let opts = Options::new(Model::BradleyTerry);
        let estimate = fit(&data, &opts).unwrap();
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let count = |done: usize| {
            seen.fetch_max(done, std::sync::atomic::Ordering::SeqCst);
        };
        let one = bootstrap_on(&data, &opts, &estimate, 30, 5, &count, 1).unwrap();
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 30);
        for workers in [2, 3, 8] {
            assert_eq!(
                bootstrap_on(&data, &opts, &estimate, 30, 5, &|_| {}, workers).unwrap(),
                one,
                "{workers} workers"
            );
        }
    }

    /// An independent reference: counts summed per (i, j) in row order in a map.
    fn reference(rows: &[PairRow]) -> Pairs {
        let mut map: std::collections::BTreeMap<(u32, u32), [f64; 3]> = Default::default();
        for row in rows {
            let (i, j) = (row.a.min(row.b), row.a.max(row.b));
            let (i_won, j_won) = if row.a < row.b { (row.wins_a, row.wins_b) } else { (row.wins_b, row.wins_a) };
            if i_won == 0.0 && j_won == 0.0 && row.ties == 0.0 {
                continue;
            }
            let cell = map.entry((i, j)).or_default();
            cell[0] += i_won;
            cell[1] += j_won;
            cell[2] += row.ties;
        }
        let mut pairs = empty_pairs();
        for ((i, j), [wij, wji, t]) in map {
            pairs.i.push(i);
            pairs.j.push(j);
            pairs.wij.push(wij);
            pairs.wji.push(wji);
            pairs.t.push(t);
        }
        pairs
    }

    #[test]
    fn sorting_aggregates_exactly_as_a_map_in_row_order() {
        let mut state = 3;
        for (n, rows) in [(2usize, 50), (7, 3000), (300, 20_000), (2048, 20_000), (5000, 20_000)] {
            for kind in 0..3 {
                let rows: Vec<PairRow> = (0..rows)
                    .map(|_| {
                        let a = (next(&mut state) % n as u64) as u32;
                        let b = ((u64::from(a) + 1 + next(&mut state) % (n as u64 - 1)) % n as u64) as u32;
                        let mut count = || match kind {
                            // One vote per row; integer counts (zeros included); fractional counts.
                            0 => 0.0,
                            1 => (next(&mut state) % 3) as f64,
                            _ => (next(&mut state) % 1000) as f64 / 7.0,
                        };
                        if kind == 0 {
                            let one = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)];
                            let (wins_a, wins_b, ties) = one[(next(&mut state) % 3) as usize];
                            PairRow { a, b, wins_a, wins_b, ties }
                        } else {
                            PairRow { a, b, wins_a: count(), wins_b: count(), ties: count() }
                        }
                    })
                    .collect();
                assert_eq!(aggregate_sorted(&rows, n), reference(&rows), "{n} items, kind {kind}");
            }
        }
    }
}
