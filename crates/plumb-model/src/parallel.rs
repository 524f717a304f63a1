//! Data parallelism on the CPU: work is cut into shards whose boundaries depend
//! only on the data, and shards run on their own threads, each with a single
//! libtorch thread.
//!
//! Small models spend much of a multithreaded libtorch op waiting at OpenMP
//! barriers; one libtorch thread per shard keeps every core busy instead
//! (docs/performance.md). Whatever combines shard results does so in shard
//! order, so the numbers are the same for any number of threads.

use crate::error::{ModelError, Result, codes};
use crate::generate::SampleOptions;
use crate::lm::{RowLogprobs, Sequence};
use crate::model::Model;
use crate::optim::surrogate;
use crate::slices::with_slices;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};
use tch::Tensor;

/// Examples per training shard: large enough that libtorch's per-op cost is
/// amortised, small enough that a batch of 16 pairs (32 sequences) keeps two
/// cores busy.
pub const SHARD_EXAMPLES: usize = 8;

/// Sequences per shard when scoring without gradients.
pub const SHARD_SEQUENCES: usize = 32;

/// Prompts per shard when sampling: rows of one shard decode together.
pub const SHARD_PROMPTS: usize = 4;

/// `0..rows` cut into consecutive ranges of at most `size` rows (none when `rows` is 0).
pub fn shard_ranges(rows: usize, size: usize) -> Vec<Range<usize>> {
    let size = size.max(1);
    (0..rows.div_ceil(size)).map(|s| s * size..((s + 1) * size).min(rows)).collect()
}

/// Runs `work(shard)` for every shard in `0..count` on a pool of `threads`
/// threads, each limited to one libtorch intra-op thread, and returns the
/// results in shard order (the first error in shard order when any fails).
/// With one thread or one shard, shards run on the calling thread, with its own
/// libtorch thread count.
pub fn for_each_shard<T: Send>(
    count: usize,
    threads: usize,
    work: impl Fn(usize) -> Result<T> + Sync + Send,
) -> Result<Vec<T>> {
    // One pool per requested count (not per shard count), so a process holds
    // at most a pool or two however its batches divide.
    if threads <= 1 || count <= 1 {
        return (0..count).map(&work).collect();
    }
    let results: Vec<Result<T>> = pool(threads).install(|| (0..count).into_par_iter().map(&work).collect());
    results.into_iter().collect()
}

/// The pool of `threads` workers, created once per thread count. Workers live
/// as long as the process, so libtorch's and MKL's per-thread state is set up
/// once, not at every step.
fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    static POOLS: OnceLock<Mutex<BTreeMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    pools
        .entry(threads)
        .or_insert_with(|| {
            let built = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("plumb-shard-{i}"))
                .start_handler(|_| tch::set_num_threads(1))
                .build();
            // Building fails only when the OS refuses threads; one thread then does all the work.
            Arc::new(built.unwrap_or_else(|_| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .use_current_thread()
                    .build()
                    .expect("a pool on this thread")
            }))
        })
        .clone()
}

/// [`Model::logprobs`] of every row, [`SHARD_SEQUENCES`] rows per shard;
/// `done(n)` is called as each shard of `n` rows finishes.
pub fn logprobs(
    model: &Model,
    rows: &[Sequence],
    threads: usize,
    done: impl Fn(usize) + Sync,
) -> Result<Vec<RowLogprobs>> {
    let shards = shard_ranges(rows.len(), SHARD_SEQUENCES);
    let parts = for_each_shard(shards.len(), threads, |s| {
        let out = model.logprobs(&rows[shards[s].clone()])?;
        done(out.len());
        Ok(out)
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// [`Model::scores`] of every row, [`SHARD_SEQUENCES`] rows per shard.
pub fn scores(model: &Model, rows: &[Sequence], threads: usize) -> Result<Vec<f32>> {
    let shards = shard_ranges(rows.len(), SHARD_SEQUENCES);
    let parts = for_each_shard(shards.len(), threads, |s| model.scores(&rows[shards[s].clone()]))?;
    Ok(parts.into_iter().flatten().collect())
}

/// [`Model::generate`] with [`SHARD_PROMPTS`] prompts per shard; row i still
/// samples from stream i.
pub fn generate(model: &Model, prompts: &[Vec<i64>], options: &SampleOptions, threads: usize) -> Result<Vec<Vec<i64>>> {
    let shards = shard_ranges(prompts.len(), SHARD_PROMPTS);
    let parts = for_each_shard(shards.len(), threads, |s| {
        let range = shards[s].clone();
        model.generate_from_stream(&prompts[range.clone()], options, range.start as u64)
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// The gradients of `output` (a scalar) with respect to `params`, returned
/// rather than added to their `.grad`s, so that shards computed at the same
/// time do not race on the accumulation. Parameters the output does not depend
/// on get `None`.
pub fn gradients(output: &Tensor, params: &[Tensor]) -> Result<Vec<Option<Tensor>>> {
    let grads = Tensor::f_run_backward(&[output], params, false, false)?;
    Ok(grads.into_iter().map(|g| g.defined().then_some(g)).collect())
}

/// Adds per-shard gradients (each in `params` order, as [`gradients`] returns
/// them) into the parameters' `.grad`s: per element, the shards' values summed
/// in shard order, then added to the `.grad`.
pub fn add_to_grads(params: &[Tensor], shards: Vec<Vec<Option<Tensor>>>) -> Result<()> {
    // A `.grad` that does not exist yet is created by a backward of `Σ p · g`,
    // whose gradient is exactly `g` (1 · g).
    let mut missing: Vec<(&Tensor, Tensor)> = Vec::new();
    for (index, param) in params.iter().enumerate() {
        let parts: Vec<Tensor> = shards
            .iter()
            .filter_map(|shard| shard.get(index).and_then(Option::as_ref))
            .map(Tensor::contiguous)
            .collect();
        if parts.is_empty() {
            continue;
        }
        if let Some(part) = parts.iter().find(|p| p.size() != param.size()) {
            return Err(ModelError::new(
                codes::OPTION,
                format!("a shard gradient of shape {:?} for a parameter of shape {:?}", part.size(), param.size()),
            ));
        }
        let grad = param.grad();
        if !grad.defined() {
            let total = parts.iter().skip(1).fold(parts[0].shallow_clone(), |sum, part| sum + part);
            missing.push((param, total));
            continue;
        }
        let reads: Vec<&Tensor> = parts.iter().collect();
        with_slices(&reads, &[&grad], |r, w| match r {
            [a] => w[0].iter_mut().zip(*a).for_each(|(out, &a)| *out += a),
            [a, b] => w[0].iter_mut().zip(a.iter().zip(*b)).for_each(|(out, (&a, &b))| *out += a + b),
            _ => {
                for (i, out) in w[0].iter_mut().enumerate() {
                    *out += r[1..].iter().fold(r[0][i], |total, part| total + part[i]);
                }
            }
        })?;
    }
    if let Some(total) = surrogate(missing.iter().map(|(p, g)| (*p, g)))? {
        total.f_backward()?;
    }
    Ok(())
}
