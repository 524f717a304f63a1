//! A loss that becomes NaN stops `plumb run` at that step with an error at the
//! loss expression in the recipe, and nothing is published for the stage.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn a_nan_loss_stops_the_run_at_the_loss_expression() {
    let nn = PathBuf::from(env!("CARGO_BIN_EXE_plumb-nn"));
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let project = std::env::temp_dir().join(format!("plumb-nan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("data")).unwrap();
    std::fs::create_dir_all(project.join("models/tiny")).unwrap();
    std::fs::write(project.join("plumb.toml"), "").unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(examples.join("models/tiny").join(file), project.join("models/tiny").join(file)).unwrap();
    }
    let pairs: Vec<String> = std::fs::read_to_string(examples.join("data/review_pairs.jsonl"))
        .unwrap()
        .lines()
        .take(16)
        .map(String::from)
        .collect();
    std::fs::write(project.join("data/p.jsonl"), pairs.join("\n")).unwrap();
    let recipe = project.join("nan.plumb");
    std::fs::write(
        &recipe,
        "use std.data.{Pairwise, jsonl}\nuse std.models.causal_lm\n\nlet prefs = jsonl(\"data/p.jsonl\") as Pairwise\n\n\
         model policy = causal_lm(\"models/tiny\")\n\n/// The log of a log-probability, which is negative: NaN.\n\
         loss broken() on Pairwise {\n    log(policy.logp(chosen | prompt))\n}\n\n\
         train policy on prefs {\n    loss = broken()\n    batch = 8\n}\n",
    )
    .unwrap();
    let output = Command::new(&nn).args(["run", recipe.to_str().unwrap(), "--quiet"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("P0821") && stderr.contains("step 1") && stderr.contains("is NaN"), "{stderr}");
    assert!(
        stderr.contains("`log` of") && stderr.contains("row 1 of the batch"),
        "the message names the operation that produced the NaN: {stderr}"
    );
    assert!(stderr.contains("nan.plumb:14:12"), "the error points at `loss = broken()`: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Only the stages before training were published.
    let entries = std::fs::read_dir(project.join(".plumb/cache")).unwrap().count();
    assert_eq!(entries, 2, "load and model stages only");
    let _ = std::fs::remove_dir_all(&project);
}
