//! Data parallelism over shards: results come back in shard order whatever the
//! thread count, sharded log-probs, scores and samples equal the unsharded ones,
//! and shard gradients summed into `.grad` equal one backward over the batch.

use plumb_model::parallel::{self, add_to_grads, for_each_shard, gradients, shard_ranges};
use plumb_model::{Model, ModelError, SampleOptions, Sequence};
use std::path::Path;
use tch::{Kind, Tensor};

fn load(name: &str) -> Model {
    Model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

/// 40 rows of different lengths, ids inside every fixture's vocabulary.
fn rows() -> Vec<Sequence> {
    (0..40)
        .map(|i| Sequence {
            prompt: (0..1 + i % 5).map(|t| 5 + ((i * 7 + t * 3) % 50) as i64).collect(),
            completion: (0..2 + i % 7).map(|t| 9 + ((i * 11 + t * 5) % 60) as i64).collect(),
        })
        .collect()
}

#[test]
fn shard_ranges_cover_the_rows_in_order() {
    assert!(shard_ranges(0, 8).is_empty());
    assert_eq!(shard_ranges(17, 8), vec![0..8, 8..16, 16..17]);
    assert_eq!(shard_ranges(3, 0), vec![0..1, 1..2, 2..3]);
}

#[test]
fn shards_come_back_in_order_and_the_first_error_wins() {
    for threads in [1, 2, 3, 8] {
        let out = for_each_shard(7, threads, |s| Ok(s * 10)).unwrap();
        assert_eq!(out, vec![0, 10, 20, 30, 40, 50, 60]);
        let err = for_each_shard(7, threads, |s| {
            if s == 2 || s == 5 { Err(ModelError::new("P0707", format!("shard {s}"))) } else { Ok(s) }
        })
        .unwrap_err();
        assert_eq!(err.message, "shard 2");
    }
}

#[test]
fn sharded_logprobs_scores_and_samples_do_not_depend_on_threads() {
    let model = load("llama");
    let rows = rows();
    let whole = model.logprobs(&rows).unwrap();
    let one = parallel::logprobs(&model, &rows, 1, |_| ()).unwrap();
    for threads in [2, 3] {
        let done = std::sync::atomic::AtomicUsize::new(0);
        let many = parallel::logprobs(&model, &rows, threads, |n| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(one, many, "{threads} threads");
        assert_eq!(done.into_inner(), rows.len());
    }
    for (a, b) in whole.iter().zip(&one) {
        assert!((a.sum - b.sum).abs() < 1e-4 * (1.0 + a.sum.abs()), "{} vs {}", a.sum, b.sum);
    }

    let reward = load("llama-reward");
    assert_eq!(parallel::scores(&reward, &rows, 1).unwrap(), parallel::scores(&reward, &rows, 3).unwrap());

    // Prompts of one length decode without padding, so a shard samples what the whole batch does:
    // row i keeps stream i.
    let prompts: Vec<Vec<i64>> = (0..10).map(|i| vec![5 + i, 7, 9 + i]).collect();
    let options = SampleOptions { max_new: 6, seed: 3, ..SampleOptions::default() };
    let whole = model.generate(&prompts, &options).unwrap();
    assert_eq!(whole, parallel::generate(&model, &prompts, &options, 1).unwrap());
    assert_eq!(whole, parallel::generate(&model, &prompts, &options, 3).unwrap());
}

#[test]
fn shard_gradients_sum_to_the_batch_gradient() {
    let rows = rows();
    let shards = shard_ranges(rows.len(), 16);
    let weights: Vec<f32> = (0..rows.len()).map(|i| ((i % 5) as f32 - 2.0) * 0.25).collect();
    let sharded = |threads: usize| -> Vec<Vec<f32>> {
        let mut model = load("llama");
        model.set_trainable(true);
        let trainable: Vec<Tensor> = model.parameters().into_iter().map(|(_, p)| p).collect();
        let grads = for_each_shard(shards.len(), threads, |s| {
            let range = shards[s].clone();
            let batch = model.batch(&rows[range.clone()]);
            let sums = model.token_logprobs(&batch)?.sum_dim_intlist(1, false, Kind::Float);
            let objective = (sums * Tensor::from_slice(&weights[range])).sum(Kind::Float);
            gradients(&objective, &model.parameters().into_iter().map(|(_, p)| p).collect::<Vec<_>>())
        })
        .unwrap();
        add_to_grads(&trainable, grads).unwrap();
        trainable.iter().map(|p| Vec::<f32>::try_from(p.grad().flatten(0, -1)).unwrap()).collect()
    };
    let one = sharded(1);
    assert_eq!(one, sharded(3), "the thread count changed the gradients");

    let mut model = load("llama");
    model.set_trainable(true);
    let batch = model.batch(&rows);
    let sums = model.token_logprobs(&batch).unwrap().sum_dim_intlist(1, false, Kind::Float);
    (sums * Tensor::from_slice(&weights)).sum(Kind::Float).backward();
    let whole: Vec<Vec<f32>> =
        model.parameters().into_iter().map(|(_, p)| Vec::<f32>::try_from(p.grad().flatten(0, -1)).unwrap()).collect();
    let largest = whole.iter().flatten().fold(0.0f32, |m, g| m.max(g.abs()));
    assert!(largest > 0.0);
    for (a, b) in whole.iter().flatten().zip(one.iter().flatten()) {
        assert!((a - b).abs() <= 1e-5 * largest, "{a} vs {b}");
    }
}
