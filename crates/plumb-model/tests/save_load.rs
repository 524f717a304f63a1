//! Saving and reloading: every fixture folder survives load → save → load bit for
//! bit, a value head travels in value_head.safetensors, and a training checkpoint
//! restores parameters, AdamW moments, step, RNG state and metadata exactly.

use plumb_model::checkpoint::{self, CheckpointInfo};
use plumb_model::error::codes;
use plumb_model::weights::TensorFile;
use plumb_model::{AdamW, AdamWConfig, Model, Rng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use tch::Tensor;

const FIXTURES: [&str; 4] = ["gpt2", "llama", "gpt2-reward", "llama-reward"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn load(dir: &Path) -> Model {
    Model::load(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// A folder under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("plumb-model-save-load-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The values of a tensor as bit patterns, so that -0.0 ≠ 0.0 and NaNs compare.
fn bits(tensor: &Tensor) -> Vec<u32> {
    let values = Vec::<f32>::try_from(tensor.detach().to_kind(tch::Kind::Float).flatten(0, -1)).unwrap();
    values.iter().map(|v| v.to_bits()).collect()
}

fn assert_same_tensor(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.size(), b.size(), "{what}: shapes differ");
    assert!(bits(a) == bits(b), "{what}: values differ");
}

fn assert_same_parameters(a: &Model, b: &Model, what: &str) {
    let (a, b) = (a.parameters(), b.parameters());
    let names = |p: &[(String, Tensor)]| p.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "{what}: parameter names differ");
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert_same_tensor(x, y, &format!("{what}: {name}"));
    }
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn folder_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn fixtures_round_trip_bit_for_bit() {
    for name in FIXTURES {
        let original_dir = fixture(name);
        let original = load(&original_dir);
        let scratch = Scratch::new(name);
        original.save(&scratch.0).unwrap();
        // The original folder's files (generation_config.json kept verbatim) and
        // nothing else: no temporary files left behind.
        assert_eq!(folder_listing(&scratch.0), folder_listing(&original_dir), "{name}");
        if original_dir.join("generation_config.json").exists() {
            assert_eq!(
                std::fs::read(scratch.0.join("generation_config.json")).unwrap(),
                std::fs::read(original_dir.join("generation_config.json")).unwrap()
            );
        }
        let reloaded = load(&scratch.0);

        assert_same_parameters(&original, &reloaded, name);
        let original_file = TensorFile::read(&original_dir.join("model.safetensors")).unwrap();
        let file_names: Vec<&String> = original_file.tensors.keys().collect();
        let param_names: Vec<String> = reloaded.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(param_names.iter().collect::<Vec<_>>(), file_names, "{name}: parameters vs the file's tensors");

        assert_eq!(json(&scratch.0.join("config.json")), json(&original_dir.join("config.json")), "{name}");
        assert_eq!(reloaded.config, original.config, "{name}");
        assert_eq!(
            std::fs::read(scratch.0.join("tokenizer.json")).unwrap(),
            std::fs::read(original_dir.join("tokenizer.json")).unwrap(),
            "{name}: tokenizer.json"
        );

        let saved_file = TensorFile::read(&scratch.0.join("model.safetensors")).unwrap();
        assert_eq!(saved_file.tensors.keys().collect::<Vec<_>>(), file_names, "{name}: saved tensor names");
        for (tensor_name, tensor) in &original_file.tensors {
            assert_same_tensor(&saved_file.tensors[tensor_name], tensor, &format!("{name}: saved {tensor_name}"));
        }
        assert_eq!(saved_file.metadata, original_file.metadata, "{name}: safetensors metadata");

        // Saving again over the saved folder changes nothing.
        reloaded.save(&scratch.0).unwrap();
        assert_same_parameters(&original, &load(&scratch.0), &format!("{name} saved twice"));
        assert_eq!(folder_listing(&scratch.0), folder_listing(&original_dir), "{name} saved twice");
    }
}

#[test]
fn value_head_travels_in_its_own_file() {
    let mut model = load(&fixture("llama"));
    assert!(!model.has_value_head());
    model.ensure_value_head();
    // Non-zero values, so a head read back as zeros would be noticed.
    tch::no_grad(|| {
        for (name, mut tensor) in model.parameters() {
            if name.starts_with("v_head.") {
                let n = tensor.numel() as i64;
                let values = Tensor::arange(n, (tch::Kind::Float, tch::Device::Cpu)).view(tensor.size().as_slice());
                tensor.copy_(&(values * 0.25 - 1.5));
            }
        }
    });
    let scratch = Scratch::new("value-head");
    model.save(&scratch.0).unwrap();
    assert_eq!(
        folder_listing(&scratch.0),
        ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "value_head.safetensors"]
    );
    let heads = TensorFile::read(&scratch.0.join("value_head.safetensors")).unwrap();
    assert_eq!(heads.tensors.keys().collect::<Vec<_>>(), ["v_head.summary.bias", "v_head.summary.weight"]);
    let weights = TensorFile::read(&scratch.0.join("model.safetensors")).unwrap();
    assert!(weights.tensors.keys().all(|n| !n.starts_with("v_head.")));

    let reloaded = load(&scratch.0);
    assert!(reloaded.has_value_head());
    assert_same_parameters(&model, &reloaded, "with a value head");
    let names: Vec<String> = reloaded.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[names.len() - 2..], ["v_head.summary.weight", "v_head.summary.bias"]);
    // And the reloaded head computes the same values.
    let rows = vec![model.tokenize("Once upon a time", " there was", "row").unwrap()];
    let batch = model.batch(&rows);
    let values =
        |m: &Model| tch::no_grad(|| m.values(&m.hidden(&batch.ids, &batch.mask, &batch.positions, None)?)).unwrap();
    assert_same_tensor(&values(&model), &values(&reloaded), "values");
}

/// A llama model whose parameters require gradients, and AdamW over them.
fn trainable() -> (Model, AdamW) {
    let mut model = load(&fixture("llama"));
    model.set_trainable(true);
    let params: Vec<(String, Tensor)> = model.parameters().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    assert_eq!(params.len(), model.parameters().len());
    let optimizer = AdamW::new(params, AdamWConfig { weight_decay: 0.01, ..AdamWConfig::default() });
    (model, optimizer)
}

/// One optimizer step on the gradient of the batch's summed completion log-probs.
fn train_step(model: &Model, optimizer: &mut AdamW) {
    let rows = vec![
        model.tokenize("Once upon a time", " there was a cat", "row 0").unwrap(),
        model.tokenize("The dog", " sat on the mat", "row 1").unwrap(),
    ];
    let batch = model.batch(&rows);
    let objective = model.token_logprobs(&batch).unwrap().sum(tch::Kind::Float);
    objective.backward();
    let report = optimizer.step(1e-2).unwrap();
    assert!(report.grad_norm > 0.0 && report.grad_norm.is_finite());
}

fn assert_same_optimizer(a: &AdamW, b: &AdamW) {
    assert_eq!(a.step, b.step);
    assert_eq!(a.slots.len(), b.slots.len());
    for (x, y) in a.slots.iter().zip(&b.slots) {
        assert_eq!(x.name, y.name);
        assert_same_tensor(&x.param, &y.param, &format!("param {}", x.name));
        assert_same_tensor(&x.m, &y.m, &format!("adam m {}", x.name));
        assert_same_tensor(&x.v, &y.v, &format!("adam v {}", x.name));
    }
}

#[test]
fn checkpoint_restores_training_state_exactly() {
    let (model, mut optimizer) = trainable();
    let before = bits(&model.parameters()[0].1);
    train_step(&model, &mut optimizer);
    train_step(&model, &mut optimizer);
    assert_eq!(optimizer.step, 2);
    assert_ne!(bits(&model.parameters()[0].1), before, "training moved nothing");

    let mut rng = Rng::new(7);
    for _ in 0..5 {
        rng.next_u64();
    }
    let info = CheckpointInfo { step: 2, rng, extra: BTreeMap::from([("position".to_string(), "12".to_string())]) };
    let scratch = Scratch::new("checkpoint");
    let path = scratch.0.join("step-2.safetensors");
    checkpoint::save(&path, &optimizer, &info).unwrap();
    assert_eq!(folder_listing(&scratch.0), ["step-2.safetensors"]);

    let (fresh, mut restored) = trainable();
    let loaded = checkpoint::load(&path, &mut restored).unwrap();
    assert_eq!(loaded, info);
    assert_eq!(loaded.rng.state(), info.rng.state());
    assert_same_optimizer(&optimizer, &restored);
    // The optimizer's tensors are the model's: the fresh model now holds the trained weights.
    assert_same_parameters(&model, &fresh, "restored model");

    train_step(&model, &mut optimizer);
    train_step(&fresh, &mut restored);
    assert_eq!(optimizer.step, 3);
    assert_same_optimizer(&optimizer, &restored);
    assert_same_parameters(&model, &fresh, "after one more step");
}

#[test]
fn corrupted_checkpoints_are_refused() {
    let (model, mut optimizer) = trainable();
    train_step(&model, &mut optimizer);
    let info = CheckpointInfo { step: 1, rng: Rng::new(1), extra: BTreeMap::new() };
    let scratch = Scratch::new("corrupt");
    let path = scratch.0.join("checkpoint.safetensors");
    checkpoint::save(&path, &optimizer, &info).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let (fresh, mut target) = trainable();
    let untouched: Vec<Vec<u32>> = fresh.parameters().iter().map(|(_, t)| bits(t)).collect();
    let mut refuse = |contents: &[u8], expect: &str| {
        std::fs::write(&path, contents).unwrap();
        let error = checkpoint::load(&path, &mut target).unwrap_err();
        assert_eq!(error.code, codes::CHECKPOINT, "{error}");
        assert!(error.message.contains(&path.display().to_string()), "{error}");
        assert!(error.message.contains(expect), "`{expect}` not in: {error}");
        // A refused checkpoint changes nothing.
        assert_eq!(target.step, 0);
        let now: Vec<Vec<u32>> = fresh.parameters().iter().map(|(_, t)| bits(t)).collect();
        assert!(now == untouched, "a refused checkpoint changed the parameters");
    };
    refuse(&bytes[..bytes.len() - 1000], "truncated");
    refuse(&bytes[..bytes.len() / 3], "truncated");
    refuse(&bytes[..5], "");
    refuse(b"", "");
    refuse(b"garbage garbage garbage garbage", "not a safetensors file");
    // A model's weights are not a checkpoint.
    refuse(&std::fs::read(fixture("llama").join("model.safetensors")).unwrap(), "not a Plumb training checkpoint");

    // A checkpoint of another model.
    let mut gpt2 = load(&fixture("gpt2"));
    gpt2.set_trainable(true);
    let other = AdamW::new(gpt2.parameters(), AdamWConfig::default());
    checkpoint::save(&path, &other, &info).unwrap();
    let error = checkpoint::load(&path, &mut target).unwrap_err();
    assert_eq!(error.code, codes::CHECKPOINT, "{error}");
    assert!(error.message.contains("missing tensor `param/lm_head.weight`"), "{error}");
    assert_eq!(error.message.matches(&path.display().to_string()).count(), 1, "{error}");

    // A missing file.
    let error = checkpoint::load(&scratch.0.join("nothing-here.safetensors"), &mut target).unwrap_err();
    assert_eq!(error.code, codes::CHECKPOINT, "{error}");
    assert!(error.message.contains("not found"), "{error}");
}
