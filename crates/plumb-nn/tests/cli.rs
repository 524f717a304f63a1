//! `plumb logprobs`, `generate` and `score` end to end: JSON shapes, agreement
//! with the library, seeded determinism, coded errors and exit codes, and the
//! hand-over from the `plumb` binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plumb-model/tests/fixtures").join(name).display().to_string()
}

fn nn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plumb-nn")).args(args).output().unwrap()
}

fn rows_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("plumb-nn-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn json_lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

const ROWS: &str = "{\"prompt\": \"I bought this\", \"completion\": \" kettle and it is great.\"}\n\n{\"prompt\": \"Review:\", \"completion\": \" bad.\"}\n";

#[test]
fn logprobs_json_has_one_object_per_row() {
    let input = rows_file("lp.jsonl", ROWS);
    let lines =
        json_lines(&nn(&["logprobs", "--model", &fixture("llama"), "--input", input.to_str().unwrap(), "--json"]));
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let tokens = line["token_logprobs"].as_array().unwrap();
        assert_eq!(line["tokens"].as_u64().unwrap() as usize, tokens.len());
        let sum: f64 = tokens.iter().map(|t| t.as_f64().unwrap()).sum();
        assert!((sum - line["sum"].as_f64().unwrap()).abs() < 1e-4);
        assert!((line["mean"].as_f64().unwrap() - sum / tokens.len() as f64).abs() < 1e-4);
        assert!(tokens.iter().all(|t| t.as_f64().unwrap() < 0.0));
    }
}

#[test]
fn generate_is_seeded_and_returns_new_tokens_only() {
    let model = fixture("gpt2");
    let run = |seed: &str| {
        let args = [
            "generate",
            "--model",
            &model,
            "--prompt",
            "The kettle",
            "--n",
            "3",
            "--max-new",
            "10",
            "--seed",
            seed,
            "--json",
        ];
        json_lines(&nn(&args)).remove(0)
    };
    let first = run("5");
    assert_eq!(first, run("5"), "same seed, same completions");
    assert_ne!(first, run("6"));
    let completions = first["completions"].as_array().unwrap();
    assert_eq!(completions.len(), 3);
    for c in completions {
        let ids = c["ids"].as_array().unwrap();
        assert!(!ids.is_empty() && ids.len() <= 10);
        assert!(c["text"].is_string());
    }
    // Greedy: every completion is the same.
    let greedy = json_lines(&nn(&[
        "generate",
        "--model",
        &model,
        "--prompt",
        "The kettle",
        "--n",
        "2",
        "--temperature",
        "0",
        "--max-new",
        "10",
        "--json",
    ]));
    let c = greedy[0]["completions"].as_array().unwrap();
    assert_eq!(c[0], c[1]);
}

#[test]
fn score_json_matches_batched_and_single_rows() {
    let input = rows_file("score.jsonl", ROWS);
    let model = fixture("llama-reward");
    let batched = json_lines(&nn(&["score", "--model", &model, "--input", input.to_str().unwrap(), "--json"]));
    let single =
        json_lines(&nn(&["score", "--model", &model, "--input", input.to_str().unwrap(), "--json", "--batch", "1"]));
    assert_eq!(batched.len(), 2);
    for (a, b) in batched.iter().zip(&single) {
        assert!((a["score"].as_f64().unwrap() - b["score"].as_f64().unwrap()).abs() < 1e-5);
    }
}

fn fails(args: &[&str], code: &str, exit: i32, mentions: &str) {
    let output = nn(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(exit), "{args:?}: {stderr}");
    assert!(stderr.contains(&format!("error[{code}]")), "{args:?}: {stderr}");
    assert!(stderr.contains(mentions), "{args:?} should mention {mentions:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_inputs_are_coded_errors() {
    let good = rows_file("good.jsonl", ROWS);
    let good = good.to_str().unwrap();
    let empty_prompt = rows_file("empty.jsonl", "{\"prompt\": \"\", \"completion\": \" x\"}\n");
    let not_json = rows_file("bad.jsonl", "{\"prompt\": \"a\", \"completion\": \" b\"}\n{oops\n");
    let missing = rows_file("missing.jsonl", "{\"prompt\": \"a\"}\n");
    let long =
        rows_file("long.jsonl", &format!("{{\"prompt\": \"a\", \"completion\": \"{}\"}}\n", " word".repeat(200)));
    let llama = fixture("llama");
    fails(&["logprobs", "--model", &llama, "--input", empty_prompt.to_str().unwrap()], "P0705", 1, "empty prompt");
    fails(&["logprobs", "--model", &llama, "--input", not_json.to_str().unwrap()], "P0705", 1, "bad.jsonl:2");
    fails(&["logprobs", "--model", &llama, "--input", missing.to_str().unwrap()], "P0705", 1, "\"completion\"");
    fails(&["logprobs", "--model", &llama, "--input", long.to_str().unwrap()], "P0706", 1, "long.jsonl:1");
    fails(&["logprobs", "--model", "/nonexistent/model", "--input", good], "P0701", 1, "/nonexistent/model");
    fails(
        &["logprobs", "--model", &llama, "--input", "/nonexistent/rows.jsonl"],
        "P0701",
        1,
        "/nonexistent/rows.jsonl",
    );
    fails(&["logprobs", "--model", &fixture("gpt2-reward"), "--input", good], "P0708", 1, "reward model");
    fails(&["score", "--model", &llama, "--input", good], "P0708", 1, "not a reward model");
    fails(&["generate", "--model", &llama, "--prompt", "a", "--top-p", "0"], "P0707", 2, "top-p");
    fails(&["generate", "--model", &llama, "--prompt", "a", "--temperature=-1"], "P0707", 2, "temperature");
    fails(&["generate", "--model", &llama, "--prompt", "a", "--n", "0"], "P0707", 2, "--n");
    fails(&["generate", "--model", &llama, "--prompt", "a", "--max-new", "500"], "P0706", 1, "context");
    fails(&["generate", "--model", &llama, "--prompt", ""], "P0705", 1, "empty");
    let usage = nn(&["generate", "--model", &llama]);
    assert_eq!(usage.status.code(), Some(2), "a missing --prompt is command-line misuse");
}

#[test]
fn plumb_hands_model_commands_to_plumb_nn() {
    let nn_binary = PathBuf::from(env!("CARGO_BIN_EXE_plumb-nn"));
    let plumb = nn_binary.with_file_name("plumb");
    assert!(plumb.exists(), "{} is missing: build the workspace (`cargo test --workspace` does)", plumb.display());
    let input = rows_file("fwd.jsonl", ROWS);
    let args = ["logprobs", "--model", &fixture("gpt2"), "--input", input.to_str().unwrap(), "--json"];
    let through_plumb = Command::new(&plumb).args(args).output().unwrap();
    assert_eq!(json_lines(&through_plumb), json_lines(&nn(&args)));
    let help = Command::new(&plumb).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["logprobs", "generate", "score"] {
        assert!(help.contains(command), "`plumb --help` lists {command}");
    }
    let misuse = Command::new(&plumb).args(["score", "--input", "x"]).output().unwrap();
    assert_eq!(misuse.status.code(), Some(2), "plumb itself rejects a missing --model");
}

#[test]
fn logprobs_accept_conversations() {
    // Without a chat template the plain layout is used: "user: …\nassistant:" then " …\n".
    let conversation = rows_file(
        "chat.jsonl",
        "{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"Hello\"}]}\n",
    );
    let plain = rows_file("plain.jsonl", "{\"prompt\": \"user: Hi\\nassistant:\", \"completion\": \" Hello\\n\"}\n");
    let model = fixture("llama");
    let a = json_lines(&nn(&["logprobs", "--model", &model, "--input", conversation.to_str().unwrap(), "--json"]));
    let b = json_lines(&nn(&["logprobs", "--model", &model, "--input", plain.to_str().unwrap(), "--json"]));
    assert_eq!(a, b);
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let rows: String = (0..23)
        .map(|i| format!("{{\"prompt\": \"Review {i}:\", \"completion\": \" {} fine.\"}}\n", "very ".repeat(i % 4)))
        .collect();
    let input = rows_file("threads.jsonl", &rows);
    let input = input.to_str().unwrap();
    let stdout = |args: &[&str]| {
        let output = nn(args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    for threads in ["1", "3"] {
        let lp = ["logprobs", "--model", &fixture("llama"), "--input", input, "--json", "--batch", "4"];
        let one = stdout(&[&lp[..], &["--threads", "1"]].concat());
        assert_eq!(one, stdout(&[&lp[..], &["--threads", threads]].concat()));
        assert_eq!(String::from_utf8(one).unwrap().lines().count(), 23);
        let sc = ["score", "--model", &fixture("llama-reward"), "--input", input, "--json", "--batch", "4"];
        assert_eq!(
            stdout(&[&sc[..], &["--threads", "1"]].concat()),
            stdout(&[&sc[..], &["--threads", threads]].concat())
        );
        let gen_args = [
            "generate",
            "--model",
            &fixture("llama"),
            "--prompt",
            "Review:",
            "--n",
            "9",
            "--seed",
            "5",
            "--max-new",
            "12",
            "--json",
        ];
        assert_eq!(
            stdout(&[&gen_args[..], &["--threads", "1"]].concat()),
            stdout(&[&gen_args[..], &["--threads", threads]].concat())
        );
    }
}
