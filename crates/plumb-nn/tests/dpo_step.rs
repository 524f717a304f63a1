//! One DPO step through the compiled objective (fused CPU kernel → upstream
//! gradient → libtorch backward → AdamW) against the same step with the loss
//! written directly in tch autograd; gradient accumulation; resuming from a checkpoint.

use plumb_model::{AdamW, AdamWConfig, Decay, Model, Sequence};
use plumb_nn::objective::Objective;
use plumb_nn::train::{Example, Threads, TrainOptions, accumulate, train};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

const BETA: f64 = 0.1;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plumb-model/tests/fixtures").join(name)
}

fn texts() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("The kettle", " is great and I love it.", " broke after a week."),
        ("The lamp", " works flawlessly.", " is awful and dim."),
        ("Review:", " lovely design, would buy again.", " a waste of money."),
        ("My son uses the", " backpack every day, it is solid.", " backpack and the zip failed."),
    ]
}

/// Examples with reference log-probs from a frozen copy of the model.
fn examples(policy: &Model) -> Vec<Example> {
    let reference = policy.deep_copy().unwrap();
    texts()
        .into_iter()
        .map(|(prompt, chosen, rejected)| {
            let c = policy.tokenize(prompt, chosen, "chosen").unwrap();
            let r = policy.tokenize(prompt, rejected, "rejected").unwrap();
            let refs = reference.logprobs(&[c.clone(), r.clone()]).unwrap();
            Example {
                prompt: c.prompt.clone(),
                completions: BTreeMap::from([("chosen".into(), c.completion), ("rejected".into(), r.completion)]),
                fixed: BTreeMap::from([
                    ("ref_chosen".into(), refs[0].sum as f32),
                    ("ref_rejected".into(), refs[1].sum as f32),
                ]),
            }
        })
        .collect()
}

fn config() -> AdamWConfig {
    AdamWConfig { weight_decay: 0.01, max_grad_norm: Some(1.0), ..AdamWConfig::default() }
}

fn params(model: &Model) -> Vec<(String, Vec<f32>)> {
    model.parameters().into_iter().map(|(n, t)| (n, Vec::<f32>::try_from(t.detach().flatten(0, -1)).unwrap())).collect()
}

/// The implicit reward margin (ρ_c - ρ_r) averaged over the examples.
fn margin(model: &Model, examples: &[Example]) -> f64 {
    let mut total = 0.0;
    for e in examples {
        let rows: Vec<Sequence> = ["chosen", "rejected"]
            .iter()
            .map(|s| Sequence { prompt: e.prompt.clone(), completion: e.completions[*s].clone() })
            .collect();
        let lp = model.logprobs(&rows).unwrap();
        total += (lp[0].sum - f64::from(e.fixed["ref_chosen"])) - (lp[1].sum - f64::from(e.fixed["ref_rejected"]));
    }
    total / examples.len() as f64
}

/// The DPO loss written in tch, backpropagated by autograd.
fn autograd_backward(model: &Model, examples: &[Example]) -> f64 {
    let mut rows = Vec::new();
    for slot in ["chosen", "rejected"] {
        for e in examples {
            rows.push(Sequence { prompt: e.prompt.clone(), completion: e.completions[slot].clone() });
        }
    }
    let n = examples.len() as i64;
    let sums = model.token_logprobs(&model.batch(&rows)).unwrap().sum_dim_intlist(1, false, Kind::Float);
    let refs = |key: &str| Tensor::from_slice(&examples.iter().map(|e| e.fixed[key]).collect::<Vec<f32>>());
    let delta = (sums.narrow(0, 0, n) - refs("ref_chosen")) - (sums.narrow(0, n, n) - refs("ref_rejected"));
    let loss = -(delta * BETA).log_sigmoid().mean(Kind::Float);
    loss.backward();
    loss.double_value(&[])
}

fn grads(model: &Model) -> Vec<(String, Vec<f32>)> {
    model.parameters().into_iter().map(|(n, t)| (n, Vec::<f32>::try_from(t.grad().flatten(0, -1)).unwrap())).collect()
}

fn trainable(name: &str) -> Model {
    let mut model = Model::load(&fixture(name)).unwrap();
    model.set_trainable(true);
    model
}

#[test]
fn compiled_dpo_steps_match_autograd_and_raise_the_margin() {
    let lr = 1e-3;
    let compiled = trainable("llama");
    let examples = examples(&compiled);
    let objective = Objective::compile("dpo", &[("beta".into(), BETA.to_string())], None).unwrap();
    let mut compiled_optimizer = AdamW::new(compiled.parameters(), config());
    let reference = trainable("llama");
    let mut reference_optimizer = AdamW::new(reference.parameters(), config());
    let before = margin(&compiled, &examples);
    assert!(before.abs() < 1e-4, "policy = reference: margin {before} (f32 rounding only)");
    for step in 0..3 {
        let value = accumulate(&compiled, &objective, &examples, 1.0, Threads::ONE).unwrap().value;
        let loss = autograd_backward(&reference, &examples);
        assert!((value.loss - loss).abs() < 1e-6, "step {step}: loss {} vs {loss}", value.loss);
        if step == 0 {
            assert!((loss - std::f64::consts::LN_2).abs() < 1e-6, "policy = reference gives ln 2, got {loss}");
        }
        let largest = grads(&reference).iter().flat_map(|(_, g)| g.iter().map(|x| x.abs())).fold(0.0, f32::max);
        assert!(largest > 1e-3, "step {step}: the gradient is too small to compare ({largest})");
        for ((name, a), (_, b)) in grads(&compiled).iter().zip(grads(&reference)) {
            let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(diff <= 1e-5 * largest.max(1.0), "step {step}, {name}: gradients differ by {diff}");
        }
        compiled_optimizer.step(lr).unwrap();
        reference_optimizer.step(lr).unwrap();
        for ((name, a), (_, b)) in params(&compiled).iter().zip(params(&reference)) {
            let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(diff < 1e-5, "step {step}, {name}: parameters differ by {diff}");
        }
    }
    let after = margin(&compiled, &examples);
    assert!(after > before + 0.1, "DPO steps should raise the implicit reward margin: {before} -> {after}");
}

#[test]
fn gradient_accumulation_equals_one_large_batch() {
    let objective = Objective::compile("dpo", &[], None).unwrap();
    let whole = trainable("gpt2");
    let examples = examples(&whole);
    accumulate(&whole, &objective, &examples, 1.0, Threads::ONE).unwrap();
    let split = trainable("gpt2");
    for half in examples.chunks(2) {
        accumulate(&split, &objective, half, 0.5, Threads::ONE).unwrap();
    }
    for ((name, a), (_, b)) in whole.parameters().iter().zip(split.parameters()) {
        let diff = (a.grad() - b.grad()).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "{name}: gradients differ by {diff}");
    }
}

#[test]
fn a_killed_training_run_resumes_to_bitwise_the_same_weights() {
    let dir = std::env::temp_dir().join(format!("plumb-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let objective = Objective::compile("dpo", &[], None).unwrap();
    let options = |checkpoint: Option<PathBuf>| TrainOptions {
        batch_size: 2,
        epochs: 2,
        lr: 1e-3,
        warmup_steps: 2,
        decay: Decay::Cosine,
        checkpoint,
        checkpoint_every: 1,
        ..TrainOptions::default()
    };
    let mut straight = Model::load(&fixture("llama")).unwrap();
    let examples = examples(&straight);
    train(&mut straight, &objective, &examples, &options(None), |_, _| {}).unwrap();

    let checkpoint = dir.join("checkpoint.safetensors");
    let mut interrupted = Model::load(&fixture("llama")).unwrap();
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train(&mut interrupted, &objective, &examples, &options(Some(checkpoint.clone())), |m, _| {
            assert!(m.step < 3, "killed at step 3");
        })
    }));
    assert!(killed.is_err() && checkpoint.exists());
    let mut resumed = Model::load(&fixture("llama")).unwrap();
    let mut steps = Vec::new();
    train(&mut resumed, &objective, &examples, &options(Some(checkpoint)), |m, _| steps.push(m.step)).unwrap();
    assert_eq!(steps, vec![3, 4], "resumes after the last checkpoint (step 2)");
    assert_eq!(params(&straight), params(&resumed));
    let _ = std::fs::remove_dir_all(&dir);
}
