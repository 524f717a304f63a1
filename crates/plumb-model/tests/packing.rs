//! Packed forward passes: rows that share a prompt read one copy of it, and
//! every row still gets the log-probs, scores and gradients it gets alone (and
//! that Hugging Face computes for it), and random rows keep their tokens,
//! positions and attention (as a mask over padded rows and as runs of packed
//! tokens).

use plumb_model::lm::{Inputs, Packed};
use plumb_model::{Model, Sequence};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tch::Tensor;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(name: &str) -> Model {
    Model::load(&fixtures().join(name)).unwrap()
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap()).unwrap()
}

fn fixture_rows(model: &Model) -> Vec<Sequence> {
    expected()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| model.tokenize(r["prompt"].as_str().unwrap(), r["completion"].as_str().unwrap(), "row").unwrap())
        .collect()
}

/// The fixture rows, then every fixture completion after the prompts of rows 0,
/// 1 and 3 (so each of those prompts is shared by nine rows, more than fit in
/// one packed row), then a prompt-only row.
fn shared_rows(model: &Model) -> Vec<Sequence> {
    let fixture = fixture_rows(model);
    let mut rows = fixture.clone();
    for p in [0, 1, 3] {
        for c in &fixture {
            rows.push(Sequence { prompt: fixture[p].prompt.clone(), completion: c.completion.clone() });
        }
    }
    rows.push(Sequence { prompt: fixture[2].prompt.clone(), completion: Vec::new() });
    rows
}

fn ids(values: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(values).unwrap()
}

#[test]
fn a_shared_prompt_is_packed_once_and_tails_keep_their_positions() {
    let rows = vec![
        Sequence { prompt: vec![1, 2, 3], completion: vec![4, 5, 6, 7] },
        Sequence { prompt: vec![1, 2, 3], completion: vec![8, 9, 10, 11, 12] },
        Sequence { prompt: vec![1, 2], completion: vec![13] },
    ];
    let packed = Packed::new(&rows, Inputs::AllButLast);
    // 3 shared prompt tokens, tails of 3 and 4 (last tokens dropped), and the
    // third row alone (its last token dropped, so it never reads past its prompt).
    assert_eq!(ids(&packed.ids), vec![1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 1, 2]);
    assert_eq!(ids(&packed.positions), vec![0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 0, 1]);
    assert_eq!((packed.rows, packed.len), (1, 12));
    assert_eq!(packed.index(0, 2), 2);
    assert_eq!(packed.index(1, 2), 2);
    assert_eq!(packed.index(1, 3), 6);
    assert_eq!(packed.index(2, 1), 11);
    let allowed = |q: i64, k: i64| packed.allowed().int64_value(&[0, 0, q, k]) != 0;
    // The second row's tail sees the prompt and itself, not the first row's tail.
    assert!(allowed(6, 0) && allowed(6, 2) && allowed(6, 6) && allowed(9, 7));
    assert!(!allowed(6, 3) && !allowed(9, 5));
    // No token sees a later one, and the third row sees nothing of the others.
    assert!(!allowed(3, 4) && !allowed(10, 2) && allowed(11, 10));
    let all = Packed::new(&rows, Inputs::All);
    assert_eq!(ids(&all.ids), vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 13]);
}

fn check_logprobs(name: &str) {
    let model = load(name);
    let rows = shared_rows(&model);
    let together = model.logprobs(&rows).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let alone = model.logprobs(std::slice::from_ref(row)).unwrap().remove(0);
        assert_eq!(together[i].tokens.len(), row.completion.len());
        for (a, b) in together[i].tokens.iter().zip(&alone.tokens) {
            assert!((a - b).abs() < 2e-5, "{name} row {i}: {a} together vs {b} alone");
        }
    }
    // The fixture rows, packed among rows sharing their prompts, against transformers.
    let want = &expected()[name]["logprobs"];
    for (i, want) in want.as_array().unwrap().iter().enumerate() {
        let sum = want["sum"].as_f64().unwrap();
        assert!((together[i].sum - sum).abs() < 2e-4, "{name} row {i}: {} vs {sum}", together[i].sum);
    }
}

#[test]
fn gpt2_rows_sharing_prompts_get_their_own_logprobs() {
    check_logprobs("gpt2");
}

#[test]
fn llama_rows_sharing_prompts_get_their_own_logprobs() {
    check_logprobs("llama");
}

#[test]
fn reward_scores_with_shared_prompts_are_each_rows_own() {
    for name in ["gpt2-reward", "llama-reward"] {
        let model = load(name);
        let rows: Vec<Sequence> = shared_rows(&model).into_iter().filter(|r| !r.completion.is_empty()).collect();
        let together = model.scores(&rows).unwrap();
        for (i, row) in rows.iter().enumerate() {
            let alone = model.scores(std::slice::from_ref(row)).unwrap()[0];
            assert!((together[i] - alone).abs() < 2e-5, "{name} row {i}: {} vs {alone}", together[i]);
        }
    }
}

#[test]
fn gradients_through_a_shared_prompt_are_the_sum_of_each_rows() {
    let mut model = load("llama");
    model.set_trainable(true);
    let params: Vec<Tensor> = model.parameters().into_iter().map(|(_, p)| p).collect();
    let rows: Vec<Sequence> = shared_rows(&model).into_iter().skip(8).take(6).collect();
    assert!(rows.iter().all(|r| r.prompt == rows[0].prompt));
    let grads = |rows: &[Sequence]| -> Vec<Tensor> {
        let total = model.token_logprobs(&model.batch(rows)).unwrap().sum(tch::Kind::Float);
        Tensor::run_backward(&[&total], &params, false, false)
    };
    let together = grads(&rows);
    let mut alone: Vec<Tensor> = grads(&rows[..1]);
    for row in &rows[1..] {
        alone = alone.iter().zip(grads(std::slice::from_ref(row))).map(|(a, b)| a + b).collect();
    }
    for (i, (a, b)) in together.iter().zip(&alone).enumerate() {
        let scale = b.abs().max().double_value(&[]).max(1e-3);
        let worst = (a - b).abs().max().double_value(&[]);
        assert!(worst <= 1e-4 * scale, "parameter {i}: differs by {worst} (largest {scale})");
    }
}

/// Rows over a small vocabulary of prompts, so that many share one.
fn random_rows() -> impl proptest::strategy::Strategy<Value = Vec<Sequence>> {
    use proptest::prelude::*;
    let prompts = prop::collection::vec(prop::collection::vec(1i64..50, 0..6), 1..4);
    prompts.prop_flat_map(|prompts| {
        let count = prompts.len();
        prop::collection::vec((0..count, prop::collection::vec(1i64..50, 0..70)), 0..24).prop_map(move |rows| {
            rows.into_iter().map(|(p, completion)| Sequence { prompt: prompts[p].clone(), completion }).collect()
        })
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever the rows: each row's input tokens are found where `index` says,
    /// at their own positions, and each sees exactly its own earlier tokens.
    #[test]
    fn every_row_reads_its_own_tokens_at_its_own_positions(rows in random_rows(), all in proptest::bool::ANY) {
        let inputs = if all { Inputs::All } else { Inputs::AllButLast };
        let packed = Packed::new(&rows, inputs);
        let tokens_packed = ids(&packed.ids);
        let positions = ids(&packed.positions);
        let slots = ids(&packed.slots);
        let len = packed.len as usize;
        let allowed: Vec<bool> = Vec::<bool>::try_from(packed.allowed().flatten(0, -1)).unwrap();
        let ranges = ids(&packed.ranges.view([-1]));
        let mut used = 0;
        for (r, row) in rows.iter().enumerate() {
            let tokens: Vec<i64> = row.prompt.iter().chain(&row.completion).copied().collect();
            let n = if !all && tokens.len() > 1 { tokens.len() - 1 } else { tokens.len() };
            let at: Vec<usize> = (0..n).map(|p| packed.index(r, p) as usize).collect();
            for (p, &i) in at.iter().enumerate() {
                proptest::prop_assert_eq!(tokens_packed[i], tokens[p], "row {} position {}", r, p);
                proptest::prop_assert_eq!(positions[i], p as i64);
            }
            // Attention: a token of the row sees exactly the row's tokens up to itself.
            for (p, &i) in at.iter().enumerate() {
                let (row_of, q) = (slots[i] as usize / len, slots[i] as usize % len);
                let seen: Vec<usize> = (0..len).filter(|&k| allowed[(row_of * len + q) * len + k]).collect();
                let mut want: Vec<usize> = at[..=p].iter().map(|&j| slots[j] as usize % len).collect();
                want.sort_unstable();
                proptest::prop_assert!(at[..=p].iter().all(|&j| slots[j] as usize / len == row_of));
                proptest::prop_assert_eq!(seen, want, "row {} position {}", r, p);
                // The same keys as runs of packed tokens (packed attention's form).
                let run = &ranges[i * 4..i * 4 + 4];
                let mut keys: Vec<usize> = (run[0]..run[1]).chain(run[2]..run[3]).map(|j| j as usize).collect();
                keys.sort_unstable();
                let mut own = at[..=p].to_vec();
                own.sort_unstable();
                proptest::prop_assert_eq!(keys, own, "row {} position {}: key runs {:?}", r, p, run);
            }
            used += n;
        }
        // Shared prompts make the packed tokens no more than the rows' own.
        proptest::prop_assert!(tokens_packed.len() <= used);
    }
}
