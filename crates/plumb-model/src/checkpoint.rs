//! Training checkpoints: the parameters, AdamW's moments and step, the
//! sampler's RNG state and caller metadata, in one safetensors file written
//! atomically, and loaded back bit for bit.

use crate::error::{ModelError, Result, codes};
use crate::optim::AdamW;
use crate::rng::Rng;
use crate::weights::{self, TensorFile};
use std::collections::BTreeMap;
use std::path::Path;
use tch::Tensor;

const FORMAT: &str = "plumb-checkpoint-1";

/// What a checkpoint holds besides the tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointInfo {
    pub step: u64,
    pub rng: Rng,
    /// Free-form values the caller needs to resume (data position, epoch, ...).
    pub extra: BTreeMap<String, String>,
}

fn fail(path: &Path, message: impl std::fmt::Display) -> ModelError {
    ModelError::new(codes::CHECKPOINT, format!("{}: {message}", path.display()))
}

/// Writes the optimizer's parameters and moments with `info`, atomically.
pub fn save(path: &Path, optimizer: &AdamW, info: &CheckpointInfo) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(optimizer.slots.len() * 3);
    for slot in &optimizer.slots {
        tensors.push((format!("param/{}", slot.name), slot.param.shallow_clone()));
        tensors.push((format!("adam_m/{}", slot.name), slot.m.shallow_clone()));
        tensors.push((format!("adam_v/{}", slot.name), slot.v.shallow_clone()));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut metadata = BTreeMap::new();
    for (key, value) in &info.extra {
        metadata.insert(format!("extra.{key}"), value.clone());
    }
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("step".into(), info.step.to_string());
    metadata.insert("adam_step".into(), optimizer.step.to_string());
    let rng: Vec<String> = info.rng.state().iter().map(u64::to_string).collect();
    metadata.insert("rng".into(), rng.join(","));
    weights::write_atomic(path, &weights::serialize(&tensors, &metadata)?)
}

/// The step a checkpoint was saved at, read from its header only (None when
/// there is no readable checkpoint at `path`).
pub fn saved_step(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).ok()?;
    let metadata = header.metadata().as_ref()?;
    (metadata.get("format").map(String::as_str) == Some(FORMAT)).then_some(())?;
    metadata.get("step")?.parse().ok()
}

/// Restores parameters and moments into `optimizer` (same names and shapes) and returns the info.
pub fn load(path: &Path, optimizer: &mut AdamW) -> Result<CheckpointInfo> {
    let mut file = TensorFile::read(path).map_err(|e| ModelError { code: codes::CHECKPOINT, ..e })?;
    if file.metadata.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(fail(path, "not a Plumb training checkpoint"));
    }
    let number = |key: &str| -> Result<u64> {
        file.metadata.get(key).and_then(|v| v.parse().ok()).ok_or_else(|| fail(path, format!("missing `{key}`")))
    };
    let step = number("step")?;
    let adam_step = number("adam_step")?;
    let rng_words: Vec<u64> =
        file.metadata.get("rng").map_or(Vec::new(), |v| v.split(',').filter_map(|w| w.parse().ok()).collect());
    let rng: [u64; 4] = rng_words.try_into().map_err(|_| fail(path, "bad `rng` state"))?;
    let extra = file
        .metadata
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("extra.").map(|k| (k.to_string(), v.clone())))
        .collect();
    let mut restored = Vec::with_capacity(optimizer.slots.len());
    for slot in &optimizer.slots {
        let shape = slot.param.size();
        let mut take = |kind: &str| {
            file.take(&format!("{kind}/{}", slot.name), &shape).map_err(|e| ModelError { code: codes::CHECKPOINT, ..e })
        };
        restored.push((take("param")?, take("adam_m")?, take("adam_v")?));
    }
    if let Some(name) = file.tensors.keys().next() {
        return Err(fail(path, format!("unexpected tensor `{name}`: the checkpoint is of another model")));
    }
    tch::no_grad(|| {
        for (slot, (param, m, v)) in optimizer.slots.iter_mut().zip(restored) {
            slot.param.copy_(&param);
            slot.m.copy_(&m);
            slot.v.copy_(&v);
        }
    });
    optimizer.step = adam_step;
    Ok(CheckpointInfo { step, rng: Rng::from_state(rng), extra })
}
