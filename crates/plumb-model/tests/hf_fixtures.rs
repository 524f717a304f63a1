//! The GPT-2 and Llama implementations against fixtures computed by Hugging Face
//! transformers (tests/fixtures/make_fixtures.py): tokenisation, logits,
//! completion log-probs (single and batched), greedy continuations and reward scores.

use plumb_model::{Model, SampleOptions, Sequence};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tch::Tensor;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap()).unwrap()
}

fn ids(value: &Value) -> Vec<i64> {
    value.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect()
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

fn load(name: &str) -> Model {
    Model::load(&fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn rows(model: &Model, expected: &Value) -> Vec<Sequence> {
    expected["rows"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            model
                .tokenize(r["prompt"].as_str().unwrap(), r["completion"].as_str().unwrap(), &format!("row {i}"))
                .unwrap()
        })
        .collect()
}

#[test]
fn tokenizer_matches_hf() {
    let expected = expected();
    let model = load("gpt2");
    for case in expected["tokenizer"]["encodings"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(model.tokenizer.encode(text).unwrap(), ids(&case["ids"]), "{text:?}");
    }
    for name in ["gpt2", "llama"] {
        let model = load(name);
        for (row, sequence) in expected[name]["logprobs"].as_array().unwrap().iter().zip(rows(&model, &expected)) {
            assert_eq!(sequence.prompt, ids(&row["prompt_ids"]));
            assert_eq!(sequence.completion, ids(&row["completion_ids"]));
        }
    }
}

fn check_logprobs(name: &str) {
    let expected = expected();
    let model = load(name);
    let rows = rows(&model, &expected);
    let reference = expected[name]["logprobs"].as_array().unwrap();
    // One row at a time, and all rows in one right-padded batch.
    let single: Vec<_> = rows.iter().map(|r| model.logprobs(std::slice::from_ref(r)).unwrap().remove(0)).collect();
    let batched = model.logprobs(&rows).unwrap();
    for (i, want) in reference.iter().enumerate() {
        let want_tokens = floats(&want["token_logprobs"]);
        for got in [&single[i], &batched[i]] {
            assert!(
                (got.sum - want["sum"].as_f64().unwrap()).abs() < 2e-4,
                "{name} row {i}: {} vs {}",
                got.sum,
                want["sum"]
            );
            assert_eq!(got.tokens.len(), want_tokens.len());
            for (g, w) in got.tokens.iter().zip(&want_tokens) {
                assert!((f64::from(*g) - w).abs() < 5e-5, "{name} row {i}: token {g} vs {w}");
            }
        }
    }
}

#[test]
fn gpt2_logprobs_match_hf() {
    check_logprobs("gpt2");
}

#[test]
fn llama_logprobs_match_hf() {
    check_logprobs("llama");
}

fn check_logits(name: &str) {
    let expected = expected();
    let model = load(name);
    let row = &rows(&model, &expected)[0];
    let ids: Vec<i64> = row.prompt.iter().chain(&row.completion).copied().collect();
    let n = ids.len() as i64;
    let input = Tensor::from_slice(&ids).view([1, n]);
    let mask = Tensor::ones([1, n], (tch::Kind::Int64, tch::Device::Cpu));
    let positions = Tensor::arange(n, (tch::Kind::Int64, tch::Device::Cpu)).view([1, n]);
    let logits = tch::no_grad(|| model.logits(&model.hidden(&input, &mask, &positions, None)?)).unwrap();
    for (key, position) in [("row0_first", 0), ("row0_last", n - 1)] {
        let got = Vec::<f32>::try_from(logits.get(0).get(position)).unwrap();
        let want = floats(&expected[name]["logits"][key]);
        let worst = got.iter().zip(&want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "{name} {key}: max difference {worst}");
    }
}

#[test]
fn gpt2_logits_match_hf() {
    check_logits("gpt2");
}

#[test]
fn llama_logits_match_hf() {
    check_logits("llama");
}

fn check_greedy(name: &str) {
    let expected = expected();
    let model = load(name);
    let cases = expected[name]["greedy"].as_array().unwrap();
    let options = |max_new| SampleOptions { temperature: 0.0, max_new, ..SampleOptions::default() };
    for case in cases {
        let prompt = model.tokenizer.encode(case["prompt"].as_str().unwrap()).unwrap();
        assert_eq!(prompt, ids(&case["prompt_ids"]));
        let max_new = case["max_new_tokens"].as_u64().unwrap() as usize;
        let got = model.generate(std::slice::from_ref(&prompt), &options(max_new)).unwrap().remove(0);
        assert_eq!(got, ids(&case["ids"]), "{name}: {}", case["prompt"]);
    }
    // All prompts at once (left-padded, different lengths) give the same continuations.
    let prompts: Vec<Vec<i64>> = cases.iter().map(|c| ids(&c["prompt_ids"])).collect();
    let together = model.generate(&prompts, &options(20)).unwrap();
    for (case, got) in cases.iter().zip(together) {
        assert_eq!(got, ids(&case["ids"]), "{name} batched: {}", case["prompt"]);
    }
}

#[test]
fn gpt2_greedy_matches_hf() {
    check_greedy("gpt2");
}

#[test]
fn llama_greedy_matches_hf() {
    check_greedy("llama");
}

fn check_scores(name: &str) {
    let expected = expected();
    let model = load(name);
    let rows = rows(&model, &expected);
    let want = floats(&expected[name]["scores"]);
    let batched = model.scores(&rows).unwrap();
    for (i, sequence) in rows.iter().enumerate() {
        let single = model.scores(std::slice::from_ref(sequence)).unwrap()[0];
        for got in [single, batched[i]] {
            assert!((f64::from(got) - want[i]).abs() < 2e-5, "{name} row {i}: {got} vs {}", want[i]);
        }
    }
}

#[test]
fn gpt2_reward_scores_match_hf() {
    check_scores("gpt2-reward");
}

#[test]
fn llama_reward_scores_match_hf() {
    check_scores("llama-reward");
}
