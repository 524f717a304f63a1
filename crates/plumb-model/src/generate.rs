//! Seeded sampling generation with a KV cache: temperature (0 = greedy),
//! top-k, top-p, a token budget, and stopping at EOS, batched over prompts.

use crate::error::{ModelError, Result, codes};
use crate::model::{KvCache, Model};
use crate::rng::Rng;
use tch::{Device, Kind, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    /// 0 picks the most likely token (ties: the lowest id).
    pub temperature: f64,
    /// Keep only the k most likely tokens (and any tied with the k-th).
    pub top_k: Option<usize>,
    /// Keep the most likely tokens whose probabilities first reach this mass.
    pub top_p: f64,
    pub max_new: usize,
    /// Row i samples from its own stream `Rng::stream(seed, i)`.
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions { temperature: 1.0, top_k: None, top_p: 1.0, max_new: 64, seed: 0 }
    }
}

impl SampleOptions {
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| Err(ModelError::new(codes::OPTION, message));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!("temperature must be a number ≥ 0 (0 is greedy), found {}", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top-p must be in (0, 1], found {}", self.top_p));
        }
        if self.top_k == Some(0) {
            return bad("top-k must be at least 1 (leave it out to keep every token)".into());
        }
        if self.max_new == 0 {
            return bad("max-new must be at least 1".into());
        }
        Ok(())
    }
}

/// Picks the next token from one row of logits.
pub fn sample(logits: &[f32], options: &SampleOptions, rng: &mut Rng) -> i64 {
    let argmax = || {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if x > logits[best] {
                best = i;
            }
        }
        best as i64
    };
    if options.temperature == 0.0 {
        return argmax();
    }
    let mut order: Vec<usize> = (0..logits.len()).filter(|&i| !logits[i].is_nan()).collect();
    if order.is_empty() {
        return argmax();
    }
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if let Some(k) = options.top_k
        && k < order.len()
    {
        let kth = logits[order[k - 1]];
        order.retain(|&i| logits[i] >= kth);
    }
    let top = f64::from(logits[order[0]]) / options.temperature;
    let weights: Vec<f64> = order.iter().map(|&i| (f64::from(logits[i]) / options.temperature - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut kept = weights.len();
    if options.top_p < 1.0 {
        let mut mass = 0.0;
        for (n, w) in weights.iter().enumerate() {
            mass += w / total;
            if mass >= options.top_p {
                kept = n + 1;
                break;
            }
        }
    }
    let kept_total: f64 = weights[..kept].iter().sum();
    let mut u = rng.next_f64() * kept_total;
    for (n, w) in weights[..kept].iter().enumerate() {
        u -= w;
        if u < 0.0 {
            return order[n] as i64;
        }
    }
    order[kept - 1] as i64
}

impl Model {
    /// Continues each prompt; returns the new ids of each (with the EOS token when one was produced).
    pub fn generate(&self, prompts: &[Vec<i64>], options: &SampleOptions) -> Result<Vec<Vec<i64>>> {
        self.generate_from_stream(prompts, options, 0)
    }

    /// [`Model::generate`] for rows `first_stream..` of a larger batch: row i
    /// samples from stream `first_stream + i`, so a batch cut into parts samples
    /// what it would whole.
    pub fn generate_from_stream(
        &self,
        prompts: &[Vec<i64>],
        options: &SampleOptions,
        first_stream: u64,
    ) -> Result<Vec<Vec<i64>>> {
        options.validate()?;
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        if prompts.iter().any(Vec::is_empty) {
            return Err(ModelError::new(codes::ROW, "cannot generate from an empty prompt"));
        }
        for (r, prompt) in prompts.iter().enumerate() {
            self.check_ids(prompt, &format!("prompt {r}"))?;
        }
        let max = self.config.max_positions;
        if longest.saturating_add(options.max_new) > max {
            return Err(ModelError::new(
                codes::CONTEXT,
                format!(
                    "a prompt of {longest} tokens plus {} new tokens exceeds the model's context of {max}",
                    options.max_new
                ),
            )
            .help(format!("use a max-new of at most {}", max.saturating_sub(longest))));
        }
        let batch = prompts.len() as i64;
        let pad = self.pad_id();
        let mut ids = vec![pad; prompts.len() * longest];
        let mut mask = vec![0i64; prompts.len() * longest];
        for (r, prompt) in prompts.iter().enumerate() {
            let offset = r * longest + longest - prompt.len();
            ids[offset..offset + prompt.len()].copy_from_slice(prompt);
            mask[offset..offset + prompt.len()].fill(1);
        }
        let mut mask = Tensor::from_slice(&mask).view([batch, longest as i64]);
        let ids = Tensor::from_slice(&ids).view([batch, longest as i64]);
        let mut positions = (mask.cumsum(1, Kind::Int64) - 1).clamp_min(0);
        let mut rngs: Vec<Rng> =
            (0..prompts.len()).map(|i| Rng::stream(options.seed, first_stream + i as u64)).collect();
        let mut out: Vec<Vec<i64>> = vec![Vec::new(); prompts.len()];
        let mut done = vec![false; prompts.len()];
        let eos = self.config.eos_token_id;
        tch::no_grad(|| -> Result<()> {
            let mut cache = KvCache::default();
            let mut hidden = self.hidden(&ids, &mask, &positions, Some(&mut cache))?;
            for _ in 0..options.max_new {
                let len = hidden.size()[1];
                let logits = self.logits(&hidden.narrow(1, len - 1, 1))?.squeeze_dim(1).to_kind(Kind::Float);
                let vocab = logits.size()[1] as usize;
                let flat = Vec::<f32>::try_from(logits.flatten(0, -1))?;
                let mut next = Vec::with_capacity(prompts.len());
                for (r, rng) in rngs.iter_mut().enumerate() {
                    let token = if done[r] {
                        pad
                    } else {
                        let token = sample(&flat[r * vocab..(r + 1) * vocab], options, rng);
                        out[r].push(token);
                        done[r] = eos == Some(token);
                        token
                    };
                    next.push(token);
                }
                if done.iter().all(|&d| d) {
                    break;
                }
                let step = Tensor::from_slice(&next).view([batch, 1]);
                positions = positions.narrow(1, positions.size()[1] - 1, 1) + 1;
                mask = Tensor::cat(&[&mask, &Tensor::ones([batch, 1], (Kind::Int64, Device::Cpu))], 1);
                hidden = self.hidden(&step, &mask, &positions, Some(&mut cache))?;
            }
            Ok(())
        })?;
        Ok(out)
    }
}
