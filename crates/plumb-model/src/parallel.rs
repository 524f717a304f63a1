//! Data parallelism on the CPU: work is cut into shards whose boundaries depend
//! only on the data, and shards run on their own threads, each with a single
//! libtorch thread.
//!
//! Small models spend much of a multithreaded libtorch op waiting at OpenMP
//! barriers; one libtorch thread per shard keeps every core busy instead
//! (docs/performance.md). Whatever combines shard results does so in shard
//! order, so the numbers are the same for any number of threads.

use crate::error::{ModelError, Result};
use crate::generate::SampleOptions;
use crate::lm::{RowLogprobs, Sequence};
use crate::model::Model;
use std::ops::Range;
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

/// Runs `work(shard)` for every shard in `0..count` on up to `threads` threads,
/// each limited to one libtorch intra-op thread, and returns the results in
/// shard order. The calling thread's own libtorch thread count is what the
/// caller set; with one thread the shards run on it.
pub fn for_each_shard<T: Send>(
    count: usize,
    threads: usize,
    work: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        return (0..count).map(&work).collect();
    }
    let work = &work;
    let per_thread: Vec<Vec<(usize, Result<T>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    tch::set_num_threads(1);
                    (t..count).step_by(threads).map(|shard| (shard, work(shard))).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    let mut slots: Vec<Option<Result<T>>> = (0..count).map(|_| None).collect();
    for (shard, result) in per_thread.into_iter().flatten() {
        slots[shard] = Some(result);
    }
    slots
        .into_iter()
        .map(|slot| slot.unwrap_or_else(|| Err(ModelError::new("P0707", "a shard was not computed"))))
        .collect()
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
/// them) into the parameters' `.grad`s, summing shards in order.
pub fn add_to_grads(params: &[Tensor], shards: Vec<Vec<Option<Tensor>>>) -> Result<()> {
    let mut totals: Vec<Option<Tensor>> = (0..params.len()).map(|_| None).collect();
    for shard in shards {
        for (total, grad) in totals.iter_mut().zip(shard) {
            if let Some(grad) = grad {
                *total = Some(match total.take() {
                    Some(sum) => sum + grad,
                    None => grad,
                });
            }
        }
    }
    // `Σ p · g` has gradient exactly `g` with respect to `p` (1 · g), and
    // libtorch's accumulation then creates or adds to `.grad` as a backward would.
    let mut surrogate: Option<Tensor> = None;
    for (param, total) in params.iter().zip(totals) {
        if let Some(total) = total {
            let term = (param * total.detach()).sum(tch::Kind::Float);
            surrogate = Some(match surrogate {
                Some(s) => s + term,
                None => term,
            });
        }
    }
    if let Some(surrogate) = surrogate {
        surrogate.f_backward()?;
    }
    Ok(())
}
