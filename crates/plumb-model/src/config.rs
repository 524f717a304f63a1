//! Hugging Face `config.json` for the two supported architectures, GPT-2 and
//! Llama, with every option Plumb does not implement refused by name.

use crate::error::{ModelError, Result, codes};
use serde_json::{Map, Value};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Gpt2,
    Llama,
}

/// What sits on top of the transformer, from `architectures`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// `*LMHeadModel` / `*ForCausalLM`: next-token logits.
    CausalLm,
    /// `*ForSequenceClassification` with `num_labels` outputs: a reward model when 1.
    SequenceClassification { num_labels: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// GPT-2's tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    Gelu,
    Relu,
    Silu,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub head: HeadKind,
    pub vocab_size: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub norm_eps: f64,
    pub rope_theta: f64,
    pub activation: Activation,
    pub tie_embeddings: bool,
    /// Llama's optional biases on the attention and MLP projections.
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub eos_token_id: Option<i64>,
    pub pad_token_id: Option<i64>,
    /// The file as read, written back unchanged on save except for fields Plumb sets.
    pub raw: Map<String, Value>,
}

fn field<'a>(raw: &'a Map<String, Value>, path: &Path, names: &[&str]) -> Result<&'a Value> {
    names
        .iter()
        .find_map(|n| raw.get(*n).filter(|v| !v.is_null()))
        .ok_or_else(|| ModelError::new(codes::CONFIG, format!("{}: missing field `{}`", path.display(), names[0])))
}

fn usize_field(raw: &Map<String, Value>, path: &Path, names: &[&str]) -> Result<usize> {
    let value = field(raw, path, names)?;
    value.as_u64().filter(|&n| n > 0).map(|n| n as usize).ok_or_else(|| {
        ModelError::new(
            codes::CONFIG,
            format!("{}: `{}` must be a positive integer, found {value}", path.display(), names[0]),
        )
    })
}

fn optional_usize(raw: &Map<String, Value>, path: &Path, name: &str) -> Result<Option<usize>> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => usize_field(raw, path, &[name]).map(Some),
    }
}

fn f64_field(raw: &Map<String, Value>, path: &Path, name: &str, default: f64) -> Result<f64> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value.as_f64().filter(|x| x.is_finite() && *x > 0.0).ok_or_else(|| {
            ModelError::new(
                codes::CONFIG,
                format!("{}: `{name}` must be a positive number, found {value}", path.display()),
            )
        }),
    }
}

fn bool_field(raw: &Map<String, Value>, path: &Path, name: &str, default: bool) -> Result<bool> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(value) => Err(ModelError::new(
            codes::CONFIG,
            format!("{}: `{name}` must be true or false, found {value}", path.display()),
        )),
    }
}

/// A token id field that may be an integer or a list of integers (the first is used).
fn token_id(raw: &Map<String, Value>, name: &str) -> Option<i64> {
    match raw.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::Array(items) => items.first().and_then(Value::as_i64),
        _ => None,
    }
}

fn refuse<T>(path: &Path, what: &str) -> Result<T> {
    Err(ModelError::new(codes::CONFIG, format!("{}: {what} is not supported", path.display())))
}

impl ModelConfig {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(codes::MISSING, path, &e))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            // serde_json ends its message with the position, which the prefix already gives.
            let position = format!(" at line {} column {}", e.line(), e.column());
            let message = e.to_string();
            let message = message.strip_suffix(&position).unwrap_or(&message);
            ModelError::new(
                codes::CONFIG,
                format!("{}:{}:{}: not valid JSON: {message}", path.display(), e.line(), e.column()),
            )
        })?;
        let Value::Object(raw) = value else {
            return Err(ModelError::new(codes::CONFIG, format!("{}: expected a JSON object", path.display())));
        };
        let model_type = raw.get("model_type").and_then(Value::as_str).unwrap_or("");
        let arch = match model_type {
            "gpt2" => Arch::Gpt2,
            "llama" => Arch::Llama,
            other => {
                let shown =
                    if other.is_empty() { "no `model_type`".to_string() } else { format!("`model_type` \"{other}\"") };
                return Err(ModelError::new(
                    codes::CONFIG,
                    format!("{}: unknown architecture: {shown}", path.display()),
                )
                .help("Plumb runs decoder-only transformers of model_type \"gpt2\" and \"llama\""));
            }
        };
        let architecture = raw
            .get("architectures")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .unwrap_or(match arch {
                Arch::Gpt2 => "GPT2LMHeadModel",
                Arch::Llama => "LlamaForCausalLM",
            });
        let head = if architecture.ends_with("ForSequenceClassification") {
            let num_labels = match raw.get("num_labels").and_then(Value::as_u64) {
                Some(n) => n as usize,
                None => raw.get("id2label").and_then(Value::as_object).map_or(2, |m| m.len()),
            };
            HeadKind::SequenceClassification { num_labels }
        } else if architecture.ends_with("LMHeadModel") || architecture.ends_with("ForCausalLM") {
            HeadKind::CausalLm
        } else {
            return Err(ModelError::new(
                codes::CONFIG,
                format!("{}: unsupported architecture \"{architecture}\"", path.display()),
            )
            .help("supported: GPT2LMHeadModel, GPT2ForSequenceClassification, LlamaForCausalLM, LlamaForSequenceClassification"));
        };
        let config = match arch {
            Arch::Gpt2 => {
                let hidden = usize_field(&raw, path, &["n_embd", "hidden_size"])?;
                let heads = usize_field(&raw, path, &["n_head", "num_attention_heads"])?;
                let activation = match raw.get("activation_function").and_then(Value::as_str).unwrap_or("gelu_new") {
                    "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
                    "gelu" => Activation::Gelu,
                    "relu" => Activation::Relu,
                    "silu" | "swish" => Activation::Silu,
                    other => return refuse(path, &format!("activation_function \"{other}\"")),
                };
                if bool_field(&raw, path, "scale_attn_by_inverse_layer_idx", false)? {
                    refuse(path, "scale_attn_by_inverse_layer_idx = true")?;
                }
                if !bool_field(&raw, path, "scale_attn_weights", true)? {
                    refuse(path, "scale_attn_weights = false")?;
                }
                ModelConfig {
                    arch,
                    head,
                    vocab_size: usize_field(&raw, path, &["vocab_size"])?,
                    hidden,
                    layers: usize_field(&raw, path, &["n_layer", "num_hidden_layers"])?,
                    heads,
                    kv_heads: heads,
                    head_dim: hidden / heads,
                    intermediate: optional_usize(&raw, path, "n_inner")?.unwrap_or(4 * hidden),
                    max_positions: usize_field(&raw, path, &["n_positions", "max_position_embeddings"])?,
                    norm_eps: f64_field(&raw, path, "layer_norm_epsilon", 1e-5)?,
                    rope_theta: 0.0,
                    activation,
                    tie_embeddings: bool_field(&raw, path, "tie_word_embeddings", true)?,
                    attention_bias: true,
                    mlp_bias: true,
                    eos_token_id: token_id(&raw, "eos_token_id"),
                    pad_token_id: token_id(&raw, "pad_token_id"),
                    raw: raw.clone(),
                }
            }
            Arch::Llama => {
                let hidden = usize_field(&raw, path, &["hidden_size"])?;
                let heads = usize_field(&raw, path, &["num_attention_heads"])?;
                let kv_heads = optional_usize(&raw, path, "num_key_value_heads")?.unwrap_or(heads);
                if heads % kv_heads != 0 {
                    return Err(ModelError::new(
                        codes::CONFIG,
                        format!(
                            "{}: num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv_heads})",
                            path.display()
                        ),
                    ));
                }
                if raw.get("rope_scaling").is_some_and(|v| !v.is_null()) {
                    refuse(path, "rope_scaling")?;
                }
                // transformers ≥ 5 writes `rope_parameters: {rope_theta, rope_type}` instead of `rope_theta`.
                let rope = raw.get("rope_parameters").and_then(Value::as_object);
                if let Some(kind) = rope.and_then(|r| r.get("rope_type")).and_then(Value::as_str)
                    && kind != "default"
                {
                    refuse(path, &format!("rope_type \"{kind}\""))?;
                }
                let rope_theta = match rope {
                    Some(rope) => f64_field(rope, path, "rope_theta", 10000.0)?,
                    None => f64_field(&raw, path, "rope_theta", 10000.0)?,
                };
                let activation = match raw.get("hidden_act").and_then(Value::as_str).unwrap_or("silu") {
                    "silu" | "swish" => Activation::Silu,
                    "gelu" => Activation::Gelu,
                    "gelu_pytorch_tanh" | "gelu_new" => Activation::GeluTanh,
                    "relu" => Activation::Relu,
                    other => return refuse(path, &format!("hidden_act \"{other}\"")),
                };
                let head_dim = optional_usize(&raw, path, "head_dim")?.unwrap_or(hidden / heads);
                ModelConfig {
                    arch,
                    head,
                    vocab_size: usize_field(&raw, path, &["vocab_size"])?,
                    hidden,
                    layers: usize_field(&raw, path, &["num_hidden_layers"])?,
                    heads,
                    kv_heads,
                    head_dim,
                    intermediate: usize_field(&raw, path, &["intermediate_size"])?,
                    max_positions: usize_field(&raw, path, &["max_position_embeddings"])?,
                    norm_eps: f64_field(&raw, path, "rms_norm_eps", 1e-6)?,
                    rope_theta,
                    activation,
                    tie_embeddings: bool_field(&raw, path, "tie_word_embeddings", false)?,
                    attention_bias: bool_field(&raw, path, "attention_bias", false)?,
                    mlp_bias: bool_field(&raw, path, "mlp_bias", false)?,
                    eos_token_id: token_id(&raw, "eos_token_id"),
                    pad_token_id: token_id(&raw, "pad_token_id"),
                    raw: raw.clone(),
                }
            }
        };
        if config.arch == Arch::Gpt2 && config.hidden % config.heads != 0 {
            return Err(ModelError::new(
                codes::CONFIG,
                format!(
                    "{}: n_embd ({}) is not a multiple of n_head ({})",
                    path.display(),
                    config.hidden,
                    config.heads
                ),
            ));
        }
        if config.arch == Arch::Llama && config.head_dim % 2 != 0 {
            return Err(ModelError::new(codes::CONFIG, format!("{}: head_dim must be even for RoPE", path.display())));
        }
        Ok(config)
    }

    pub fn is_reward_model(&self) -> bool {
        matches!(self.head, HeadKind::SequenceClassification { .. })
    }

    /// The config as JSON for saving: the fields as read, in their order.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&Value::Object(self.raw.clone())).unwrap_or_default();
        text.push('\n');
        text
    }
}
