//! `max_len` / `max_prompt_len` in a train stage: the prompt keeps its last
//! tokens, the completion its first, and the hoisted reference log-probs are
//! computed on exactly the truncated sequences the policy trains on.

use plumb_model::{Model, Sequence};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[test]
fn truncation_applies_to_training_and_reference_alike() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let project = std::env::temp_dir().join(format!("plumb-truncation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("data")).unwrap();
    std::fs::create_dir_all(project.join("models/tiny")).unwrap();
    std::fs::write(project.join("plumb.toml"), "").unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(examples.join("models/tiny").join(file), project.join("models/tiny").join(file)).unwrap();
    }
    let mut rows: Vec<String> = std::fs::read_to_string(examples.join("data/review_pairs.jsonl"))
        .unwrap()
        .lines()
        .take(16)
        .map(String::from)
        .collect();
    // A row far longer than the model's context of 128 tokens trains once truncated.
    let long = " really".repeat(300);
    rows.push(serde_json::json!({"prompt": format!("The kettle{long}"), "chosen": format!(" is great.{long}"), "rejected": " broke."}).to_string());
    std::fs::write(project.join("data/p.jsonl"), rows.join("\n")).unwrap();
    let recipe = project.join("t.plumb");
    std::fs::write(
        &recipe,
        "use std.data.{Pairwise, jsonl}\nuse std.models.{causal_lm, frozen}\nuse std.losses.dpo\n\n\
         let prefs = jsonl(\"data/p.jsonl\") as Pairwise\n\nmodel policy = causal_lm(\"models/tiny\")\n\
         model reference = frozen(policy)\n\ntrain policy on prefs {\n    loss = dpo(beta = 0.1)\n    batch = 8\n\
         \x20   max_len = 12\n    max_prompt_len = 4\n}\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_plumb-nn"))
        .args(["run", recipe.to_str().unwrap(), "--json", "--quiet", "--threads", "1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let stage =
        report["stages"].as_array().unwrap().iter().find(|s| s["name"] == "ref_logprobs.prefs").unwrap().clone();
    let refs: Vec<Value> =
        std::fs::read_to_string(project.join(".plumb/cache").join(stage["key"].as_str().unwrap()).join("ref.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let model = Model::load(&project.join("models/tiny")).unwrap();
    for (i, line) in rows.iter().enumerate() {
        let row: Value = serde_json::from_str(line).unwrap();
        let mut prompt = model.tokenizer.encode(row["prompt"].as_str().unwrap()).unwrap();
        let mut completion = model.tokenizer.encode(row["chosen"].as_str().unwrap()).unwrap();
        if prompt.len() > 4 {
            prompt.drain(..prompt.len() - 4);
        }
        completion.truncate(12 - prompt.len());
        let expected = model.logprobs(&[Sequence { prompt, completion }]).unwrap()[0].sum;
        let got = refs[i]["ref_chosen"].as_f64().unwrap();
        assert!((got - expected).abs() < 1e-4, "row {i}: {got} vs {expected}");
    }
    let _ = std::fs::remove_dir_all(&project);
}
