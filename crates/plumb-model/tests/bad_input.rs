//! Broken model folders and out-of-range requests: each gives an `Err` with its
//! P07xx code and a message naming the file (and the tensor or row), never a panic.

use plumb_model::error::codes;
use plumb_model::weights::{TensorFile, serialize, write_atomic};
use plumb_model::{Model, ModelError, SampleOptions, Sequence};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use tch::Tensor;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A folder under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("plumb-model-bad-input-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A copy of a fixture folder's three files.
    fn copy_of(name: &str) -> Self {
        let scratch = Scratch::new(name);
        for file in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::copy(fixture(name).join(file), scratch.0.join(file)).unwrap();
        }
        scratch
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Rewrites config.json after `edit`.
    fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
        let path = self.file("config.json");
        let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(value.as_object_mut().unwrap());
        std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    }

    /// Rewrites model.safetensors after `edit`.
    fn edit_weights(&self, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) {
        let path = self.file("model.safetensors");
        let file = TensorFile::read(&path).unwrap();
        let mut tensors: Vec<(String, Tensor)> = file.tensors.into_iter().collect();
        edit(&mut tensors);
        write_atomic(&path, &serialize(&tensors, &file.metadata).unwrap()).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_err(dir: &Path) -> ModelError {
    match Model::load(dir) {
        Ok(_) => panic!("{} loaded, but it is broken", dir.display()),
        Err(e) => e,
    }
}

fn load(name: &str) -> Model {
    Model::load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Asserts the code and that the message mentions every piece of `names`.
fn check(error: &ModelError, code: &str, names: &[&str]) {
    assert_eq!(error.code, code, "{error}");
    for name in names {
        assert!(error.message.contains(name), "`{name}` not in: {error}");
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

// ---- missing and unreadable files (P0701) ----

#[test]
fn missing_folder() {
    let scratch = Scratch::new("missing");
    let dir = scratch.file("no-such-model");
    let error = load_err(&dir);
    check(&error, codes::MISSING, &[&path_text(&dir), "not found"]);
    assert!(error.help.is_some());
}

#[test]
fn folder_that_is_a_file() {
    let scratch = Scratch::copy_of("gpt2");
    let error = load_err(&scratch.file("config.json"));
    check(&error, codes::MISSING, &["config.json", "is not a folder"]);
}

#[test]
fn missing_files() {
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let scratch = Scratch::copy_of("llama");
        std::fs::remove_file(scratch.file(file)).unwrap();
        let error = load_err(&scratch.0);
        check(&error, codes::MISSING, &[&path_text(&scratch.file(file)), "not found"]);
    }
}

// ---- config.json (P0702) ----

#[test]
fn config_not_json() {
    let scratch = Scratch::copy_of("gpt2");
    std::fs::write(scratch.file("config.json"), "{\n  \"model_type\": \"gpt2\",\n  \"n_embd\": 32,,\n}\n").unwrap();
    let error = load_err(&scratch.0);
    // The line and column of the second comma, once.
    check(&error, codes::CONFIG, &[&format!("{}:3:16: not valid JSON", path_text(&scratch.file("config.json")))]);
    assert!(!error.message.contains("line 3"), "{error}");
}

#[test]
fn config_not_an_object() {
    let scratch = Scratch::copy_of("gpt2");
    std::fs::write(scratch.file("config.json"), "[1, 2]").unwrap();
    check(&load_err(&scratch.0), codes::CONFIG, &["config.json", "expected a JSON object"]);
}

#[test]
fn unknown_model_type() {
    let scratch = Scratch::copy_of("llama");
    scratch.edit_config(|c| {
        c.insert("model_type".into(), "mistral".into());
    });
    let error = load_err(&scratch.0);
    check(&error, codes::CONFIG, &["config.json", "unknown architecture", "mistral"]);
    assert!(error.help.as_deref().is_some_and(|h| h.contains("llama")), "{error}");

    scratch.edit_config(|c| {
        c.remove("model_type");
    });
    check(&load_err(&scratch.0), codes::CONFIG, &["config.json", "no `model_type`"]);
}

#[test]
fn unsupported_architecture() {
    let scratch = Scratch::copy_of("gpt2");
    scratch.edit_config(|c| {
        c.insert("architectures".into(), serde_json::json!(["GPT2DoubleHeadsModel"]));
    });
    let error = load_err(&scratch.0);
    check(&error, codes::CONFIG, &["config.json", "unsupported architecture", "GPT2DoubleHeadsModel"]);
    assert!(error.help.as_deref().is_some_and(|h| h.contains("GPT2LMHeadModel")), "{error}");
}

#[test]
fn unsupported_options() {
    let scratch = Scratch::copy_of("llama");
    scratch.edit_config(|c| {
        c.insert("rope_scaling".into(), serde_json::json!({"rope_type": "linear", "factor": 2.0}));
    });
    check(&load_err(&scratch.0), codes::CONFIG, &["config.json", "rope_scaling", "not supported"]);

    let scratch = Scratch::copy_of("llama");
    scratch.edit_config(|c| {
        c.insert("rope_parameters".into(), serde_json::json!({"rope_theta": 10000.0, "rope_type": "yarn"}));
    });
    check(&load_err(&scratch.0), codes::CONFIG, &["config.json", "yarn", "not supported"]);

    let scratch = Scratch::copy_of("gpt2");
    scratch.edit_config(|c| {
        c.insert("scale_attn_by_inverse_layer_idx".into(), true.into());
    });
    check(&load_err(&scratch.0), codes::CONFIG, &["config.json", "scale_attn_by_inverse_layer_idx", "not supported"]);

    let scratch = Scratch::copy_of("gpt2");
    scratch.edit_config(|c| {
        c.insert("activation_function".into(), "gelu_10".into());
    });
    check(&load_err(&scratch.0), codes::CONFIG, &["config.json", "gelu_10", "not supported"]);
}

#[test]
fn bad_config_values() {
    let cases: [(&str, &str, Value, &str); 5] = [
        ("gpt2", "n_head", 0.into(), "`n_head` must be a positive integer"),
        ("gpt2", "n_head", 5.into(), "not a multiple of n_head"),
        ("gpt2", "vocab_size", "many".into(), "`vocab_size` must be a positive integer"),
        ("llama", "num_key_value_heads", 3.into(), "not a multiple of num_key_value_heads"),
        ("llama", "tie_word_embeddings", "yes".into(), "`tie_word_embeddings` must be true or false"),
    ];
    for (name, key, value, message) in cases {
        let scratch = Scratch::copy_of(name);
        scratch.edit_config(|c| {
            c.insert(key.into(), value);
        });
        check(&load_err(&scratch.0), codes::CONFIG, &["config.json", message]);
    }
    let scratch = Scratch::copy_of("llama");
    scratch.edit_config(|c| {
        c.remove("hidden_size");
    });
    check(&load_err(&scratch.0), codes::CONFIG, &["config.json", "missing field `hidden_size`"]);
}

// ---- model.safetensors (P0703) ----

#[test]
fn truncated_weights() {
    let scratch = Scratch::copy_of("gpt2");
    let path = scratch.file("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    for keep in [bytes.len() - 100, bytes.len() / 2, 200, 8, 3, 0] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let error = load_err(&scratch.0);
        check(&error, codes::WEIGHTS, &[&path_text(&path)]);
        assert!(error.message.contains("truncated"), "{keep} bytes: {error}");
    }
    // Bytes appended after the last tensor.
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 16]);
    std::fs::write(&path, &longer).unwrap();
    check(&load_err(&scratch.0), codes::WEIGHTS, &[&path_text(&path), "bytes appended"]);
}

#[test]
fn garbage_weights() {
    let scratch = Scratch::copy_of("llama");
    let path = scratch.file("model.safetensors");
    std::fs::write(&path, b"this is not a safetensors file, just some text that is long enough").unwrap();
    check(&load_err(&scratch.0), codes::WEIGHTS, &[&path_text(&path), "not a safetensors file"]);
    // A plausible header length followed by a header that is not JSON.
    let mut bytes = 16u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{not json at all");
    std::fs::write(&path, &bytes).unwrap();
    check(&load_err(&scratch.0), codes::WEIGHTS, &[&path_text(&path), "not a safetensors file"]);
}

#[test]
fn renamed_tensor() {
    let scratch = Scratch::copy_of("gpt2");
    scratch.edit_weights(|tensors| {
        let slot = tensors.iter_mut().find(|(n, _)| n == "transformer.h.1.mlp.c_fc.weight").unwrap();
        slot.0 = "transformer.h.1.mlp.fc_in.weight".into();
    });
    let error = load_err(&scratch.0);
    check(
        &error,
        codes::WEIGHTS,
        &[
            &path_text(&scratch.file("model.safetensors")),
            "missing tensor `transformer.h.1.mlp.c_fc.weight`",
            // The hint lists what is left of the same module, the renamed tensor among them.
            "transformer.h.1.mlp.fc_in.weight",
        ],
    );
    assert!(!error.message.contains("ln_f"), "{error}");
}

#[test]
fn tensors_under_another_prefix() {
    // Weights saved from the bare model (no `model.` prefix) for a Llama causal LM.
    let scratch = Scratch::copy_of("llama");
    scratch.edit_weights(|tensors| {
        for (name, _) in tensors.iter_mut() {
            if let Some(rest) = name.strip_prefix("model.") {
                *name = rest.to_string();
            }
        }
    });
    let error = load_err(&scratch.0);
    check(
        &error,
        codes::WEIGHTS,
        &["model.safetensors", "missing tensor `model.embed_tokens.weight` (found embed_tokens.weight)"],
    );
}

#[test]
fn wrong_shape_from_config() {
    let scratch = Scratch::copy_of("gpt2");
    scratch.edit_config(|c| {
        c.insert("n_embd".into(), 64.into());
    });
    let error = load_err(&scratch.0);
    check(
        &error,
        codes::WEIGHTS,
        &["model.safetensors", "tensor `transformer.wte.weight` has shape [384, 32]", "the config implies [384, 64]"],
    );
}

#[test]
fn wrong_shape_in_file() {
    let scratch = Scratch::copy_of("llama");
    scratch.edit_weights(|tensors| {
        let slot = tensors.iter_mut().find(|(n, _)| n == "model.layers.1.self_attn.k_proj.weight").unwrap();
        slot.1 = Tensor::zeros([32, 32], (tch::Kind::Float, tch::Device::Cpu));
    });
    let error = load_err(&scratch.0);
    check(
        &error,
        codes::WEIGHTS,
        &["model.safetensors", "tensor `model.layers.1.self_attn.k_proj.weight` has shape [32, 32]", "[16, 32]"],
    );
}

#[test]
fn unexpected_tensor() {
    for name in ["gpt2", "llama-reward"] {
        let scratch = Scratch::copy_of(name);
        scratch.edit_weights(|tensors| {
            tensors.push(("extra.adapter.weight".into(), Tensor::ones([4, 4], (tch::Kind::Float, tch::Device::Cpu))));
        });
        let error = load_err(&scratch.0);
        check(&error, codes::WEIGHTS, &["model.safetensors", "unexpected tensor `extra.adapter.weight`"]);
    }
    // A causal LM's lm_head in a reward model's folder.
    let scratch = Scratch::copy_of("llama-reward");
    let lm_head = TensorFile::read(&fixture("llama").join("model.safetensors")).unwrap().tensors["lm_head.weight"]
        .shallow_clone();
    scratch.edit_weights(|tensors| tensors.push(("lm_head.weight".into(), lm_head)));
    check(&load_err(&scratch.0), codes::WEIGHTS, &["unexpected tensor `lm_head.weight`"]);
}

#[test]
fn tensor_of_an_unsupported_type() {
    let scratch = Scratch::copy_of("gpt2");
    let path = scratch.file("model.safetensors");
    let file = TensorFile::read(&path).unwrap();
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, tensor) in &file.tensors {
        let shape: Vec<usize> = tensor.size().iter().map(|&d| d as usize).collect();
        let values = Vec::<f32>::try_from(tensor.flatten(0, -1)).unwrap();
        data.push((name.clone(), shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()));
    }
    // Position embeddings stored as 32-bit integers.
    let wpe = data.iter_mut().find(|(n, _, _)| n == "transformer.wpe.weight").unwrap();
    let ints: Vec<u8> = (0..wpe.2.len() / 4).flat_map(|i| (i as i32).to_le_bytes()).collect();
    wpe.2 = ints;
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(name, shape, bytes)| {
            let dtype =
                if name == "transformer.wpe.weight" { safetensors::Dtype::I32 } else { safetensors::Dtype::F32 };
            (name.clone(), safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes).unwrap())
        })
        .collect();
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    check(&load_err(&scratch.0), codes::WEIGHTS, &["model.safetensors", "tensor `transformer.wpe.weight`", "I32"]);
}

#[test]
fn broken_value_head() {
    let scratch = Scratch::copy_of("gpt2");
    let path = scratch.file("value_head.safetensors");
    std::fs::write(&path, b"garbage").unwrap();
    check(&load_err(&scratch.0), codes::WEIGHTS, &[&path_text(&path), "not a safetensors file"]);
    // A value head of the wrong width.
    let tensors = vec![
        ("v_head.summary.bias".to_string(), Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu))),
        ("v_head.summary.weight".to_string(), Tensor::zeros([1, 16], (tch::Kind::Float, tch::Device::Cpu))),
    ];
    write_atomic(&path, &serialize(&tensors, &Default::default()).unwrap()).unwrap();
    check(&load_err(&scratch.0), codes::WEIGHTS, &["value_head.safetensors", "tensor `v_head.summary.weight`"]);
}

// ---- tokenizer.json (P0704) ----

#[test]
fn tokenizer_larger_than_vocabulary() {
    let scratch = Scratch::copy_of("llama");
    scratch.edit_config(|c| {
        c.insert("vocab_size".into(), 100.into());
    });
    let error = load_err(&scratch.0);
    check(&error, codes::TOKENIZER, &[&path_text(&scratch.file("tokenizer.json")), "384 tokens", "config.json", "100"]);
    assert!(error.help.is_some());
}

#[test]
fn garbage_tokenizer() {
    let scratch = Scratch::copy_of("gpt2");
    let path = scratch.file("tokenizer.json");
    for text in ["not json", "{\"model\": {\"type\": \"BPE\"}}", ""] {
        std::fs::write(&path, text).unwrap();
        check(&load_err(&scratch.0), codes::TOKENIZER, &[&path_text(&path)]);
    }
}

// ---- requests through the API ----

#[test]
fn empty_prompt_or_completion() {
    let model = load("gpt2");
    for (prompt, completion, which) in [("", "yes", "prompt"), ("Is it?", "", "completion"), ("", "", "prompt")] {
        let error = model.tokenize(prompt, completion, "rows.jsonl:3").unwrap_err();
        check(&error, codes::ROW, &["rows.jsonl:3", &format!("empty {which}")]);
    }
}

#[test]
fn row_longer_than_the_context() {
    let model = load("llama");
    let long = "the cat sat on the mat and ".repeat(40);
    let error = model.tokenize("Once upon a time", &long, "rows.jsonl:7").unwrap_err();
    check(&error, codes::CONTEXT, &["rows.jsonl:7", "exceed the model's context of 64"]);
    let error = model.tokenize(&long, "end", "rows.jsonl:8").unwrap_err();
    check(&error, codes::CONTEXT, &["rows.jsonl:8"]);
    // Exactly the context fits.
    let prompt = model.tokenizer.encode("Once upon a time").unwrap();
    let fill = Sequence { completion: vec![5; 64 - prompt.len()], prompt: prompt.clone() };
    model.check_context(&fill, "full").unwrap();
    let over = Sequence { completion: vec![5; 65 - prompt.len()], prompt };
    check(&model.check_context(&over, "over").unwrap_err(), codes::CONTEXT, &["over", "65 tokens"]);
}

#[test]
fn generation_options_out_of_range() {
    let model = load("gpt2");
    let prompt = vec![model.tokenizer.encode("Once upon a time").unwrap()];
    let base = SampleOptions { max_new: 4, ..SampleOptions::default() };
    let cases = [
        (SampleOptions { temperature: -1.0, ..base.clone() }, "temperature"),
        (SampleOptions { temperature: f64::NAN, ..base.clone() }, "temperature"),
        (SampleOptions { top_p: 0.0, ..base.clone() }, "top-p"),
        (SampleOptions { top_p: 1.5, ..base.clone() }, "top-p"),
        (SampleOptions { top_k: Some(0), ..base.clone() }, "top-k"),
        (SampleOptions { max_new: 0, ..base.clone() }, "max-new"),
    ];
    for (options, name) in cases {
        let error = model.generate(&prompt, &options).unwrap_err();
        check(&error, codes::OPTION, &[name]);
    }
    // The options are checked even with no prompts.
    check(&model.generate(&[], &SampleOptions { top_p: 0.0, ..base.clone() }).unwrap_err(), codes::OPTION, &["top-p"]);
}

#[test]
fn generation_past_the_context() {
    let model = load("llama");
    let prompt = model.tokenizer.encode("Once upon a time").unwrap();
    let n = prompt.len();
    let prompts = vec![prompt];
    let error = model.generate(&prompts, &SampleOptions { max_new: 65 - n, ..SampleOptions::default() }).unwrap_err();
    check(&error, codes::CONTEXT, &[&format!("{n} tokens plus {} new tokens", 65 - n), "context of 64"]);
    assert!(error.help.as_deref().is_some_and(|h| h.contains(&(64 - n).to_string())), "{error}");
    // A budget so large that prompt + budget overflows.
    let error =
        model.generate(&prompts, &SampleOptions { max_new: usize::MAX, ..SampleOptions::default() }).unwrap_err();
    check(&error, codes::CONTEXT, &["context of 64"]);
    // Exactly up to the context is allowed.
    let options = SampleOptions { max_new: 64 - n, temperature: 0.0, ..SampleOptions::default() };
    assert!(model.generate(&prompts, &options).unwrap()[0].len() <= 64 - n);
}

#[test]
fn empty_prompt_to_generate() {
    let model = load("gpt2");
    let prompts = vec![vec![1, 2, 3], Vec::new()];
    let error = model.generate(&prompts, &SampleOptions { max_new: 2, ..SampleOptions::default() }).unwrap_err();
    check(&error, codes::ROW, &["empty prompt"]);
}

#[test]
fn missing_heads() {
    let causal = load("gpt2");
    let rows = vec![causal.tokenize("Once upon a time", " there was", "row 1").unwrap()];
    check(&causal.scores(&rows).unwrap_err(), codes::HEAD, &["fixtures/gpt2 ", "score head", "causal LM"]);
    let batch = causal.batch(&rows);
    check(&causal.score_tensor(&batch).unwrap_err(), codes::HEAD, &["score head"]);
    check(
        &causal.values(&Tensor::zeros([1, 2, 32], (tch::Kind::Float, tch::Device::Cpu))).unwrap_err(),
        codes::HEAD,
        &["value head"],
    );

    let reward = load("llama-reward");
    let rows = vec![reward.tokenize("Once upon a time", " there was", "row 1").unwrap()];
    check(
        &reward.logprobs(&rows).unwrap_err(),
        codes::HEAD,
        &["fixtures/llama-reward ", "language-model head", "reward model"],
    );
    let batch = reward.batch(&rows);
    check(&reward.token_logprobs(&batch).unwrap_err(), codes::HEAD, &["language-model head"]);
    let prompts = vec![rows[0].prompt.clone()];
    check(
        &reward.generate(&prompts, &SampleOptions { max_new: 2, ..SampleOptions::default() }).unwrap_err(),
        codes::HEAD,
        &["language-model head"],
    );
}

#[test]
fn rows_built_without_tokenize() {
    let model = load("gpt2");
    let row = |prompt: Vec<i64>, completion: Vec<i64>| vec![Sequence { prompt, completion }];
    let cases = [
        (row(vec![], vec![1, 2]), codes::ROW, "row 0: empty prompt"),
        (row(vec![1, 2], vec![384]), codes::ROW, "row 0: token id 384 is outside the model's vocabulary (0..384)"),
        (row(vec![-3], vec![1]), codes::ROW, "token id -3"),
        (row(vec![1; 60], vec![1; 10]), codes::CONTEXT, "row 0: 70 tokens"),
    ];
    for (rows, code, message) in &cases {
        check(&model.logprobs(rows).unwrap_err(), code, &[message]);
    }
    let reward = load("gpt2-reward");
    for (rows, code, message) in &cases {
        check(&reward.scores(rows).unwrap_err(), code, &[message]);
    }
    // The second row is the bad one.
    let rows = [row(vec![1], vec![2]), row(vec![1], vec![999])].concat();
    check(&model.logprobs(&rows).unwrap_err(), codes::ROW, &["row 1: token id 999"]);
    // An empty completion has no log-probs, and is not an error.
    let empty = model.logprobs(&row(vec![1, 2], vec![])).unwrap();
    assert!(empty[0].tokens.is_empty() && empty[0].sum == 0.0);
}

#[test]
fn batches_built_without_tokenize() {
    let model = load("llama");
    let bad = [Sequence { prompt: vec![1, 2], completion: vec![7000] }];
    check(&model.token_logprobs(&model.batch(&bad)).unwrap_err(), codes::ROW, &["token id 7000"]);
    let long = [Sequence { prompt: vec![1; 50], completion: vec![2; 50] }];
    check(&model.token_logprobs(&model.batch(&long)).unwrap_err(), codes::CONTEXT, &["100 tokens", "context of 64"]);
    let reward = load("llama-reward");
    check(&reward.score_tensor(&reward.batch(&bad)).unwrap_err(), codes::ROW, &["token id 7000"]);
    // GPT-2 has learned positions: a row past them must not reach the embedding lookup.
    let gpt2 = load("gpt2-reward");
    check(&gpt2.score_tensor(&gpt2.batch(&long)).unwrap_err(), codes::CONTEXT, &["context of 64"]);
}

#[test]
fn generation_from_ids_outside_the_vocabulary() {
    let model = load("gpt2");
    let prompts = vec![vec![1, 2], vec![3, 384]];
    let error = model.generate(&prompts, &SampleOptions { max_new: 2, ..SampleOptions::default() }).unwrap_err();
    check(&error, codes::ROW, &["prompt 1: token id 384"]);
}

#[test]
fn pad_token_outside_the_vocabulary() {
    // A pad id the embedding does not have is never fed to it: padding falls back to EOS.
    let scratch = Scratch::copy_of("gpt2-reward");
    scratch.edit_config(|c| {
        c.insert("pad_token_id".into(), 50256.into());
    });
    let model = Model::load(&scratch.0).unwrap();
    assert_eq!(model.pad_id(), 0);
    let rows =
        vec![model.tokenize("Once", " upon", "a").unwrap(), model.tokenize("Once upon a time", " there", "b").unwrap()];
    let scores = model.scores(&rows).unwrap();
    let original = load("gpt2-reward").scores(&rows).unwrap();
    assert_eq!(scores, original);
}
