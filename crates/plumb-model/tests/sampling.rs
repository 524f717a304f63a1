//! The sampler on fixed logits: greedy ties, top-k (ties with the k-th kept),
//! top-p (the smallest prefix reaching the mass), temperature, and draw
//! frequencies that match the renormalised probabilities.

use plumb_model::generate::sample;
use plumb_model::{Rng, SampleOptions};

fn options(temperature: f64, top_k: Option<usize>, top_p: f64) -> SampleOptions {
    SampleOptions { temperature, top_k, top_p, ..SampleOptions::default() }
}

fn frequencies(logits: &[f32], options: &SampleOptions, draws: usize) -> Vec<f64> {
    let mut rng = Rng::new(11);
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..draws {
        counts[sample(logits, options, &mut rng) as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / draws as f64).collect()
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let top = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|x| (x - top).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|x| x / total).collect()
}

#[test]
fn greedy_takes_the_first_maximum() {
    let mut rng = Rng::new(0);
    assert_eq!(sample(&[0.5, 2.0, 2.0, -1.0], &options(0.0, None, 1.0), &mut rng), 1);
    // Top-k 1 is greedy too, whatever the temperature.
    for _ in 0..50 {
        assert_eq!(sample(&[0.5, 2.0, 1.9, -1.0], &options(3.0, Some(1), 1.0), &mut rng), 1);
    }
}

#[test]
fn draws_follow_the_tempered_truncated_distribution() {
    let logits = [1.0f32, 0.0, 2.0, -1.0, 0.5];
    let draws = 200_000;
    // Temperature 2, no truncation.
    let got = frequencies(&logits, &options(2.0, None, 1.0), draws);
    let want = softmax(&logits.iter().map(|&x| f64::from(x) / 2.0).collect::<Vec<_>>());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 0.006, "temperature: {got:?} vs {want:?}");
    }
    // Top-k 2: only the two largest logits (2.0 and 1.0), renormalised.
    let got = frequencies(&logits, &options(1.0, Some(2), 1.0), draws);
    let two = softmax(&[2.0, 1.0]);
    assert!((got[2] - two[0]).abs() < 0.006 && (got[0] - two[1]).abs() < 0.006, "{got:?}");
    assert_eq!(got[1] + got[3] + got[4], 0.0);
    // Top-p: the smallest prefix (by probability) whose mass reaches p.
    let p = softmax(&logits.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
    let first_two = p[2] + p[0];
    let got = frequencies(&logits, &options(1.0, None, first_two - 1e-3), draws);
    assert!((got[2] - p[2] / first_two).abs() < 0.006, "{got:?}");
    assert_eq!(got[1] + got[3] + got[4], 0.0, "only the first two survive: {got:?}");
}

#[test]
fn ties_at_the_k_th_logit_are_kept() {
    let got = frequencies(&[1.0, 1.0, 1.0, 0.0], &options(1.0, Some(1), 1.0), 30_000);
    // All three tied maxima survive top-k 1 and are drawn equally often.
    for &g in &got[..3] {
        assert!((g - 1.0 / 3.0).abs() < 0.02, "{got:?}");
    }
    assert_eq!(got[3], 0.0);
}

#[test]
fn the_same_seed_draws_the_same_tokens() {
    let logits: Vec<f32> = (0..50).map(|i| ((i * 37 % 11) as f32) / 3.0).collect();
    let run = |seed| {
        let mut rng = Rng::stream(seed, 3);
        (0..20).map(|_| sample(&logits, &options(1.0, Some(10), 0.9), &mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}
