//! Conversational rows (lists of `{role, content}` messages) are rendered with
//! the model folder's chat template — or a plain `role: content` layout without
//! one — and `plumb run` trains on them.

use plumb_model::Model;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const TEMPLATE: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/tiny")
}

fn copy_model(to: &Path, template: bool) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(tiny().join(file), to.join(file)).unwrap();
    }
    if template {
        let config = json!({"chat_template": TEMPLATE, "eos_token": "<|endoftext|>"});
        std::fs::write(to.join("tokenizer_config.json"), config.to_string()).unwrap();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plumb-chat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn conversations_render_with_the_chat_template_or_a_plain_layout() {
    let dir = scratch("render");
    copy_model(&dir.join("with"), true);
    copy_model(&dir.join("without"), false);
    let prompt = json!([{"role": "user", "content": "Review the kettle."}]);
    let completion = json!([{"role": "assistant", "content": "It is great."}]);
    let with = Model::load(&dir.join("with")).unwrap();
    let (p, c) = with.row_texts(&prompt, &completion, "row 1").unwrap();
    assert_eq!(p, "<|im_start|>user\nReview the kettle.<|im_end|>\n<|im_start|>assistant\n");
    assert_eq!(c, "It is great.<|im_end|>\n");
    let without = Model::load(&dir.join("without")).unwrap();
    let (p, c) = without.row_texts(&prompt, &completion, "row 1").unwrap();
    assert_eq!((p.as_str(), c.as_str()), ("user: Review the kettle.\nassistant:", " It is great.\n"));
    // Plain text passes through; mixing text and messages is a coded error.
    let (p, c) = with.row_texts(&json!("The kettle"), &json!(" is great."), "row 1").unwrap();
    assert_eq!((p.as_str(), c.as_str()), ("The kettle", " is great."));
    let error = with.row_texts(&json!("The kettle"), &completion, "row 7").unwrap_err();
    assert_eq!(error.code, "P0705");
    assert!(error.message.contains("row 7"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plumb_run_trains_on_conversational_pairs() {
    let project = scratch("run");
    std::fs::write(project.join("plumb.toml"), "").unwrap();
    copy_model(&project.join("models/chat"), true);
    std::fs::create_dir_all(project.join("data")).unwrap();
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/review_pairs.jsonl"))
            .unwrap();
    let mut rows = Vec::new();
    for line in source.lines().take(24) {
        let v: Value = serde_json::from_str(line).unwrap();
        let message = |role: &str, text: &Value| json!([{"role": role, "content": text.as_str().unwrap().trim()}]);
        rows.push(
            json!({
                "prompt": message("user", &json!(format!("Write a review of {}.", v["prompt"].as_str().unwrap()))),
                "chosen": message("assistant", &v["chosen"]),
                "rejected": message("assistant", &v["rejected"]),
            })
            .to_string(),
        );
    }
    std::fs::write(project.join("data/chat.jsonl"), rows.join("\n")).unwrap();
    let recipe = project.join("chat.plumb");
    std::fs::write(
        &recipe,
        "use std.data.{Pairwise, jsonl}\nuse std.models.{causal_lm, frozen}\nuse std.losses.dpo\n\n\
         let prefs = jsonl(\"data/chat.jsonl\") as Pairwise\n\nmodel policy = causal_lm(\"models/chat\")\n\
         model reference = frozen(policy)\n\ntrain policy on prefs {\n    loss = dpo(beta = 0.1)\n    batch = 8\n}\n",
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
    let refs =
        std::fs::read_to_string(project.join(".plumb/cache").join(stage["key"].as_str().unwrap()).join("ref.jsonl"))
            .unwrap();
    let first: Value = serde_json::from_str(refs.lines().next().unwrap()).unwrap();
    // The reference log-prob is that of the rendered conversation.
    let model = Model::load(&project.join("models/chat")).unwrap();
    let row: Value = serde_json::from_str(&rows[0]).unwrap();
    let (p, c) = model.row_texts(&row["prompt"], &row["chosen"], "row 1").unwrap();
    assert!(p.starts_with("<|im_start|>user\n") && c.ends_with("<|im_end|>\n"));
    let expected = model.logprobs(&[model.tokenize(&p, &c, "row 1").unwrap()]).unwrap()[0].sum;
    assert!((first["ref_chosen"].as_f64().unwrap() - expected).abs() < 1e-4, "{} vs {expected}", first["ref_chosen"]);
    let _ = std::fs::remove_dir_all(&project);
}
