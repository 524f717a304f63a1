//! Training a model with a compiled objective: the model computes the
//! per-row quantities the loss reads (policy log-probs, reward scores), the
//! fused kernel gives the loss and its gradient with respect to them, and
//! libtorch's backward carries that gradient into the weights. AdamW, clipping,
//! warmup + decay, gradient accumulation, and resumable checkpoints.

use crate::objective::{Objective, ObjectiveValue};
use plumb_model::checkpoint::{self, CheckpointInfo};
use plumb_model::parallel::{SHARD_EXAMPLES, add_to_grads, for_each_shard, gradients, shard_ranges};
use plumb_model::{AdamW, AdamWConfig, Decay, Model, ModelError, Rng, Schedule, Sequence, surrogate};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tch::Tensor;

/// One training example: a prompt, its completions by slot (`chosen`,
/// `rejected`, or `completion`), and fixed per-row values (reference
/// log-probs `ref_chosen`, `margin`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub prompt: Vec<i64>,
    pub completions: BTreeMap<String, Vec<i64>>,
    pub fixed: BTreeMap<String, f32>,
}

/// What a loss column asks of the model being trained.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Need {
    /// `pi_<slot>` (or `pi`): the policy's completion log-prob sum.
    Logprob(String),
    /// `r_<slot>`: the reward model's score.
    Reward(String),
    /// `len_<slot>` (or `len`): the completion's token count.
    Length(String),
    /// Anything else comes from `Example::fixed` or the column default.
    Fixed,
}

fn need(column: &str) -> Need {
    let slot = |rest: &str| if rest.is_empty() { "completion".to_string() } else { rest.to_string() };
    if column == "pi" || column.starts_with("pi_") {
        Need::Logprob(slot(column.trim_start_matches("pi").trim_start_matches('_')))
    } else if let Some(rest) = column.strip_prefix("r_") {
        Need::Reward(slot(rest))
    } else if column == "len" || column.starts_with("len_") {
        Need::Length(slot(column.trim_start_matches("len").trim_start_matches('_')))
    } else {
        Need::Fixed
    }
}

/// The result of one forward + backward on a micro-batch.
#[derive(Clone, Debug, PartialEq)]
pub struct MicroStep {
    pub value: ObjectiveValue,
    /// Every column's values on this micro-batch (model outputs included), for metrics.
    pub columns: BTreeMap<String, Vec<f32>>,
}

/// How a micro-step spreads over the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads {
    /// Threads of the fused objective kernel.
    pub objective: usize,
    /// Threads running model shards (each with one libtorch thread).
    pub model: usize,
}

impl Threads {
    pub const ONE: Threads = Threads { objective: 1, model: 1 };
}

/// The model outputs of one shard: rows of slot `s` at `[s·rows, (s+1)·rows)`.
struct ShardOutputs {
    logprob_sums: Option<Tensor>,
    rewards: Option<Tensor>,
}

/// Computes the loss on `examples` and accumulates `scale` × its gradient into the model's `.grad`s.
///
/// The model runs on fixed shards of [`SHARD_EXAMPLES`] examples (in parallel
/// over `threads.model`); the objective sees the whole micro-batch; shard
/// gradients are summed in shard order, so the result does not depend on the
/// thread count.
pub fn accumulate(
    model: &Model,
    objective: &Objective,
    examples: &[Example],
    scale: f64,
    threads: Threads,
) -> Result<MicroStep, ModelError> {
    let rows = examples.len();
    let needs: Vec<(String, Need)> = objective.columns().iter().map(|c| (c.name.clone(), need(&c.name))).collect();
    // Every slot the loss needs goes through one forward per shard.
    let mut slots: Vec<String> = Vec::new();
    for (_, n) in &needs {
        if let Need::Logprob(s) | Need::Reward(s) = n
            && !slots.contains(s)
        {
            slots.push(s.clone());
        }
    }
    for (i, example) in examples.iter().enumerate() {
        if let Some(slot) = slots.iter().find(|s| !example.completions.contains_key(*s)) {
            return Err(ModelError::new(
                "P0705",
                format!("example {i} has no `{slot}` completion, which `{}` reads", objective.name),
            ));
        }
    }
    let wants_logprobs = needs.iter().any(|(_, n)| matches!(n, Need::Logprob(_)));
    let wants_rewards = needs.iter().any(|(_, n)| matches!(n, Need::Reward(_)));
    let shards = shard_ranges(rows, SHARD_EXAMPLES);
    let forward = |shard: usize| -> Result<ShardOutputs, ModelError> {
        let mut sequences = Vec::with_capacity(shards[shard].len() * slots.len());
        for slot in &slots {
            for example in &examples[shards[shard].clone()] {
                sequences
                    .push(Sequence { prompt: example.prompt.clone(), completion: example.completions[slot].clone() });
            }
        }
        if sequences.is_empty() {
            return Ok(ShardOutputs { logprob_sums: None, rewards: None });
        }
        let batch = model.batch(&sequences);
        let logprob_sums = if wants_logprobs {
            Some(model.token_logprobs(&batch)?.sum_dim_intlist(1, false, tch::Kind::Float))
        } else {
            None
        };
        let rewards = if wants_rewards { Some(model.score_tensor(&batch)?) } else { None };
        Ok(ShardOutputs { logprob_sums, rewards })
    };
    let shard_outputs = for_each_shard(shards.len(), threads.model, forward)?;
    let slot_index = |s: &str| slots.iter().position(|x| x == s).unwrap_or(0) as i64;
    // Per shard, the model output each column reads.
    let mut outputs: Vec<BTreeMap<String, Tensor>> = (0..shards.len()).map(|_| BTreeMap::new()).collect();
    let mut columns: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for (name, n) in &needs {
        let values = match n {
            Need::Logprob(s) | Need::Reward(s) => {
                let mut values = Vec::with_capacity(rows);
                for (shard, (range, out)) in shards.iter().zip(&shard_outputs).enumerate() {
                    let source = if matches!(n, Need::Logprob(_)) { &out.logprob_sums } else { &out.rewards };
                    let len = range.len() as i64;
                    let tensor = source.as_ref().expect("computed above").narrow(0, slot_index(s) * len, len);
                    values.extend(Vec::<f32>::try_from(tensor.detach())?);
                    outputs[shard].insert(name.clone(), tensor);
                }
                values
            }
            Need::Length(s) => examples.iter().map(|e| e.completions.get(s).map_or(0, Vec::len) as f32).collect(),
            Need::Fixed => match examples.iter().map(|e| e.fixed.get(name).copied()).collect::<Option<Vec<f32>>>() {
                Some(values) => values,
                None => continue,
            },
        };
        columns.insert(name.clone(), values);
    }
    let value = objective
        .evaluate(rows, &columns, threads.objective)
        .map_err(|e| ModelError::new(e.code, format!("`{}`: {}", objective.name, e.message)))?;
    if !value.loss.is_finite() {
        let what = if value.loss.is_nan() { "NaN" } else { "inf" };
        let origin = objective.explain_non_finite(rows, &columns).map_or(String::new(), |o| format!(": {o}"));
        return Err(ModelError::new("P0821", format!("the loss `{}` is {what} on this batch{origin}", objective.name)));
    }
    // Each shard's surrogate Σ output · upstream gradient, differentiated on the shard's thread.
    let mut surrogates: Vec<Option<Tensor>> = Vec::with_capacity(shards.len());
    for (range, shard) in shards.iter().zip(&outputs) {
        let pairs: Vec<(&Tensor, Tensor)> = shard
            .iter()
            .filter_map(|(name, output)| {
                let grad = value.grads.get(name)?;
                let grad: Vec<f32> = grad[range.clone()].iter().map(|&g| (g * scale) as f32).collect();
                Some((output, Tensor::from_slice(&grad)))
            })
            .collect();
        surrogates.push(surrogate(pairs.iter().map(|(o, g)| (*o, g)))?);
    }
    drop(outputs);
    drop(shard_outputs);
    let trainable = |model: &Model| -> Vec<Tensor> {
        model.parameters().into_iter().map(|(_, p)| p).filter(|p| p.requires_grad()).collect()
    };
    let surrogates: Vec<std::sync::Mutex<Option<Tensor>>> = surrogates.into_iter().map(std::sync::Mutex::new).collect();
    let backward = |shard: usize| -> Result<Vec<Option<Tensor>>, ModelError> {
        let taken = surrogates[shard].lock().map_or(None, |mut s| s.take());
        match taken {
            Some(objective) => gradients(&objective, &trainable(model)),
            None => Ok(Vec::new()),
        }
    };
    let shard_grads = for_each_shard(shards.len(), threads.model, backward)?;
    add_to_grads(&trainable(model), shard_grads)?;
    Ok(MicroStep { value, columns })
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    pub batch_size: usize,
    pub grad_accum: usize,
    pub epochs: usize,
    /// Stop after this many optimizer steps (None: all epochs).
    pub max_steps: Option<u64>,
    pub lr: f64,
    pub warmup_steps: u64,
    pub decay: Decay,
    pub adamw: AdamWConfig,
    pub seed: u64,
    pub threads: Threads,
    /// Save a checkpoint here every `checkpoint_every` optimizer steps, and resume from it when present.
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_every: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            batch_size: 16,
            grad_accum: 1,
            epochs: 1,
            max_steps: None,
            lr: 1e-4,
            warmup_steps: 0,
            decay: Decay::Constant,
            adamw: AdamWConfig::default(),
            seed: 0,
            threads: Threads::ONE,
            checkpoint: None,
            checkpoint_every: 50,
        }
    }
}

impl TrainOptions {
    pub fn steps_per_epoch(&self, examples: usize) -> u64 {
        examples.div_ceil((self.batch_size * self.grad_accum).max(1)) as u64
    }

    /// Optimizer steps of the whole run.
    pub fn total_steps(&self, examples: usize) -> u64 {
        let all = self.steps_per_epoch(examples) * self.epochs as u64;
        self.max_steps.map_or(all, |m| m.min(all))
    }

    /// Whether the run writes its checkpoint after optimizer step `step` of `total_steps`.
    pub fn checkpoints_at(&self, step: u64, total_steps: u64) -> bool {
        step.is_multiple_of(self.checkpoint_every.max(1)) || step == total_steps
    }

    /// The step a run with these options resumes after (0 without a checkpoint).
    pub fn resume_step(&self) -> u64 {
        self.checkpoint.as_deref().and_then(checkpoint::saved_step).unwrap_or(0)
    }
}

/// Metrics of one optimizer step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepMetrics {
    pub step: u64,
    pub total_steps: u64,
    pub epoch: usize,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    /// Column means over the step's examples (e.g. `pi_chosen`).
    pub means: BTreeMap<String, f64>,
    /// Mean of (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected) when the loss reads them.
    pub margin: Option<f64>,
    /// Share of examples whose margin (or reward difference) is positive.
    pub accuracy: Option<f64>,
}

fn pair_margins(columns: &BTreeMap<String, Vec<f32>>) -> Option<Vec<f64>> {
    let get = |name: &str| columns.get(name);
    if let (Some(pc), Some(pr)) = (get("pi_chosen"), get("pi_rejected")) {
        let zeros = vec![0.0f32; pc.len()];
        let rc = get("ref_chosen").unwrap_or(&zeros);
        let rr = get("ref_rejected").unwrap_or(&zeros);
        return Some((0..pc.len()).map(|i| f64::from(pc[i] - rc[i]) - f64::from(pr[i] - rr[i])).collect());
    }
    if let (Some(c), Some(r)) = (get("r_chosen"), get("r_rejected")) {
        return Some(c.iter().zip(r).map(|(c, r)| f64::from(c - r)).collect());
    }
    None
}

/// The order examples are visited in epoch `epoch`: a seeded shuffle.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::stream(seed, epoch as u64).shuffle(&mut order);
    order
}

/// Trains `model` on `examples`; calls `on_step` after every optimizer step.
/// With a checkpoint path, resumes from it when it exists and writes it every
/// `checkpoint_every` steps and at the end, so a killed run continues to the same weights.
pub fn train(
    model: &mut Model,
    objective: &Objective,
    examples: &[Example],
    options: &TrainOptions,
    mut on_step: impl FnMut(&StepMetrics, &Model),
) -> Result<AdamW, ModelError> {
    if examples.is_empty() || options.batch_size == 0 || options.grad_accum == 0 {
        return Err(ModelError::new("P0707", "training needs examples, a batch size ≥ 1 and grad_accum ≥ 1"));
    }
    model.set_trainable(true);
    let mut optimizer = AdamW::new(model.parameters(), options.adamw.clone());
    let per_step = options.batch_size * options.grad_accum;
    let steps_per_epoch = options.steps_per_epoch(examples.len());
    let total_steps = options.total_steps(examples.len());
    let schedule = Schedule { peak: options.lr, warmup_steps: options.warmup_steps, total_steps, decay: options.decay };
    let mut step = 0u64;
    if let Some(path) = &options.checkpoint
        && path.exists()
    {
        step = checkpoint::load(path, &mut optimizer)?.step;
    }
    let save = |optimizer: &AdamW, step: u64| -> Result<(), ModelError> {
        match &options.checkpoint {
            Some(path) => checkpoint::save(
                path,
                optimizer,
                &CheckpointInfo { step, rng: Rng::new(options.seed), extra: BTreeMap::new() },
            ),
            None => Ok(()),
        }
    };
    while step < total_steps {
        let epoch = (step / steps_per_epoch) as usize;
        let order = epoch_order(options.seed, epoch, examples.len());
        let start = ((step % steps_per_epoch) as usize) * per_step;
        let chunk: Vec<Example> =
            order[start..(start + per_step).min(order.len())].iter().map(|&i| examples[i].clone()).collect();
        let mut loss = 0.0;
        let mut sums: BTreeMap<String, f64> = BTreeMap::new();
        let mut margins: Vec<f64> = Vec::new();
        for micro in chunk.chunks(options.batch_size) {
            let scale = micro.len() as f64 / chunk.len() as f64;
            let result = accumulate(model, objective, micro, scale, options.threads)
                .map_err(|e| ModelError { message: format!("step {}: {}", step + 1, e.message), ..e })?;
            loss += result.value.loss * scale;
            for (name, values) in &result.columns {
                *sums.entry(name.clone()).or_default() += values.iter().map(|&v| f64::from(v)).sum::<f64>();
            }
            margins.extend(pair_margins(&result.columns).unwrap_or_default());
        }
        let report = optimizer.step(schedule.lr(step))?;
        step += 1;
        let n = chunk.len() as f64;
        let metrics = StepMetrics {
            step,
            total_steps,
            epoch,
            loss,
            lr: report.lr,
            grad_norm: report.grad_norm,
            means: sums.into_iter().map(|(k, v)| (k, v / n)).collect(),
            margin: (!margins.is_empty()).then(|| margins.iter().sum::<f64>() / margins.len() as f64),
            accuracy: (!margins.is_empty())
                .then(|| margins.iter().filter(|&&m| m > 0.0).count() as f64 / margins.len() as f64),
        };
        on_step(&metrics, model);
        if options.checkpoints_at(step, total_steps) {
            save(&optimizer, step)?;
        }
    }
    model.set_trainable(false);
    Ok(optimizer)
}
