//! Decoder-only transformers (GPT-2 and Llama) over tch tensors that keep the
//! Hugging Face tensor names, with causal-LM, sequence-classification (reward)
//! and value heads, an optional KV cache, and loading/saving of HF folders.

use crate::config::{Activation, Arch, HeadKind, ModelConfig};
use crate::error::{ModelError, Result, codes};
use crate::tokenizer::Tokenizer;
use crate::weights::{self, TensorFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

enum Norm {
    Layer { weight: Tensor, bias: Tensor, eps: f64 },
    Rms { weight: Tensor, eps: f64 },
}

impl Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Norm::Layer { weight, bias, eps } => {
                let size = *x.size().last().unwrap_or(&1);
                x.layer_norm([size], Some(weight), Some(bias), *eps, false)
            }
            // One fused op (`fused.rs`) instead of five and their backward nodes.
            Norm::Rms { weight, eps } => crate::fused::rms_norm(x, weight, *eps)?,
        })
    }
}

struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }
}

/// GPT-2's Conv1D: weight stored as [in, out].
struct Conv1D {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1D {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.matmul(&self.weight) + &self.bias
    }
}

enum Attention {
    Gpt2 { c_attn: Conv1D, c_proj: Conv1D },
    Llama { q: Linear, k: Linear, v: Linear, o: Linear },
}

enum Mlp {
    Gpt2 { c_fc: Conv1D, c_proj: Conv1D },
    Llama { gate: Linear, up: Linear, down: Linear },
}

struct Block {
    norm1: Norm,
    attention: Attention,
    norm2: Norm,
    mlp: Mlp,
}

/// Keys and values of the positions seen so far, per layer: [batch, kv_heads, len, head_dim].
#[derive(Default)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
}

impl KvCache {
    pub fn len(&self) -> i64 {
        self.layers.first().map_or(0, |(k, _)| k.size()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An attention block's output projection.
type Projection<'a> = &'a dyn Fn(&Tensor) -> Tensor;

fn activate(x: &Tensor, activation: Activation) -> Tensor {
    match activation {
        Activation::GeluTanh => x.gelu("tanh"),
        Activation::Gelu => x.gelu("none"),
        Activation::Relu => x.relu(),
        Activation::Silu => x.silu(),
    }
}

/// Where the tokens of a forward pass sit.
#[derive(Clone, Copy)]
pub enum Layout<'a> {
    /// `ids` [batch, len]: rows as they are, padding included; `allowed`
    /// [batch or 1, 1, len, past + len] is true where a query may attend to a key.
    Rows { allowed: &'a Tensor },
    /// `ids` [n]: tokens packed into `rows` rows of `len` for attention, token
    /// i at flat position `slots[i]`, under the mask `allowed` [rows, 1, len,
    /// len]; everything else runs on the n tokens alone, without the rows' padding.
    Packed { slots: &'a Tensor, rows: i64, len: i64, allowed: &'a Tensor },
    /// `ids` [n]: packed tokens throughout, attention included: token i
    /// attends to the two runs of tokens `ranges[i]` [n, 4] gives
    /// ([`crate::attention::packed_attention`]).
    Ranges { ranges: &'a Tensor },
}

/// A causal LM or reward model: the network, its heads, and its tokenizer.
pub struct Model {
    pub config: ModelConfig,
    pub tokenizer: Tokenizer,
    /// Every saved tensor, by its HF name, in name order; the blocks below share their storage.
    params: Vec<(String, Tensor)>,
    embed: Tensor,
    positions: Option<Tensor>,
    blocks: Vec<Block>,
    final_norm: Norm,
    /// [vocab, hidden]; the embedding when tied.
    lm_head: Option<Tensor>,
    /// [num_labels, hidden] for sequence classification.
    score: Option<Tensor>,
    /// TRL's value head (`v_head.summary.*`), kept in value_head.safetensors.
    value_head: Option<(Tensor, Tensor)>,
    rope_inv_freq: Option<Tensor>,
    pub source: Option<PathBuf>,
    /// Files of the folder Plumb does not interpret but keeps on save, by name.
    pub extra_files: Vec<(String, Vec<u8>)>,
}

/// Files a Hugging Face folder may hold that a saved copy keeps verbatim.
pub const KEPT_FILES: [&str; 3] = ["generation_config.json", "tokenizer_config.json", "special_tokens_map.json"];

struct Loader {
    file: TensorFile,
    params: Vec<(String, Tensor)>,
    prefix: String,
    /// Create fresh tensors (N(0, std²) weights, unit norms, zero biases) instead of reading them.
    init_std: Option<f64>,
}

impl Loader {
    fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let tensor = match self.init_std {
            Some(std) => {
                let options = (Kind::Float, Device::Cpu);
                if name.ends_with(".bias") {
                    Tensor::zeros(shape, options)
                } else if shape.len() == 1 {
                    Tensor::ones(shape, options)
                } else {
                    Tensor::randn(shape, options) * std
                }
            }
            None => self.file.take(&full, shape)?,
        };
        self.params.push((full, tensor.shallow_clone()));
        Ok(tensor)
    }

    fn linear(&mut self, name: &str, out: usize, input: usize, bias: bool) -> Result<Linear> {
        Ok(Linear {
            weight: self.take(&format!("{name}.weight"), &[out as i64, input as i64])?,
            bias: if bias { Some(self.take(&format!("{name}.bias"), &[out as i64])?) } else { None },
        })
    }

    fn conv1d(&mut self, name: &str, input: usize, out: usize) -> Result<Conv1D> {
        Ok(Conv1D {
            weight: self.take(&format!("{name}.weight"), &[input as i64, out as i64])?,
            bias: self.take(&format!("{name}.bias"), &[out as i64])?,
        })
    }

    fn layer_norm(&mut self, name: &str, size: usize, eps: f64) -> Result<Norm> {
        Ok(Norm::Layer {
            weight: self.take(&format!("{name}.weight"), &[size as i64])?,
            bias: self.take(&format!("{name}.bias"), &[size as i64])?,
            eps,
        })
    }

    fn rms_norm(&mut self, name: &str, size: usize, eps: f64) -> Result<Norm> {
        Ok(Norm::Rms { weight: self.take(&format!("{name}.weight"), &[size as i64])?, eps })
    }
}

/// The folder's three files.
pub fn folder_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("config.json"), dir.join("model.safetensors"), dir.join("tokenizer.json"))
}

// SAFETY: libtorch lets several threads read the same tensors at once,
// including recording autograd graphs on shared leaves and running backward
// passes that return gradients instead of writing `.grad`
// (`parallel::gradients`). Every `&self` method of `Model` only reads its
// tensors and creates new ones; whatever changes a parameter or its flags
// (`set_trainable`, loading, the optimizer through `&mut` tensors) takes `&mut self`
// or runs outside shard work. This is what lets shards of one batch run on
// several threads (`parallel::for_each_shard`).
unsafe impl Sync for Model {}

impl Model {
    /// Loads a Hugging Face folder: config.json, model.safetensors, tokenizer.json
    /// (and value_head.safetensors when present).
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            let what = if dir.exists() { "is not a folder" } else { "not found" };
            return Err(ModelError::new(codes::MISSING, format!("model folder {}: {what}", dir.display()))
                .help("a model folder holds config.json, model.safetensors and tokenizer.json"));
        }
        let (config_path, weights_path, tokenizer_path) = folder_files(dir);
        let config = ModelConfig::read(&config_path)?;
        let tokenizer = Tokenizer::read(&tokenizer_path)?;
        let file = TensorFile::read(&weights_path)?;
        let mut model = Self::build(config, tokenizer, file, None)?;
        let value_path = dir.join("value_head.safetensors");
        if value_path.exists() {
            let mut file = TensorFile::read(&value_path)?;
            let h = model.config.hidden as i64;
            let weight = file.take("v_head.summary.weight", &[1, h])?;
            let bias = file.take("v_head.summary.bias", &[1])?;
            model.value_head = Some((weight, bias));
        }
        for name in KEPT_FILES {
            if let Ok(bytes) = std::fs::read(dir.join(name)) {
                model.extra_files.push((name.to_string(), bytes));
            }
        }
        model.source = Some(dir.to_path_buf());
        Ok(model)
    }

    pub fn from_parts(config: ModelConfig, tokenizer: Tokenizer, file: TensorFile) -> Result<Self> {
        Self::build(config, tokenizer, file, None)
    }

    /// A freshly initialised model (seeded through libtorch's generator): weights
    /// N(0, 0.02²), norm weights 1, biases 0, as Hugging Face initialises them.
    pub fn init(config: ModelConfig, tokenizer: Tokenizer, seed: u64) -> Result<Self> {
        tch::manual_seed(seed as i64);
        let file = TensorFile {
            path: PathBuf::from("model.safetensors"),
            tensors: BTreeMap::new(),
            metadata: BTreeMap::new(),
        };
        tch::no_grad(|| Self::build(config, tokenizer, file, Some(0.02)))
    }

    fn build(config: ModelConfig, tokenizer: Tokenizer, file: TensorFile, init_std: Option<f64>) -> Result<Self> {
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(ModelError::new(
                codes::TOKENIZER,
                format!(
                    "{}: the tokenizer has {} tokens but the model's vocabulary ({}) has {}",
                    tokenizer.path.display(),
                    tokenizer.vocab_size(),
                    file.path
                        .parent()
                        .map_or(Path::new("config.json").to_path_buf(), |p| p.join("config.json"))
                        .display(),
                    config.vocab_size
                ),
            )
            .help("the tokenizer and the weights come from different models"));
        }
        let prefix = match config.arch {
            Arch::Gpt2 if file.tensors.contains_key("wte.weight") => String::new(),
            Arch::Gpt2 => "transformer.".to_string(),
            Arch::Llama => "model.".to_string(),
        };
        let mut loader = Loader { file, params: Vec::new(), prefix, init_std };
        let (v, h, f) = (config.vocab_size, config.hidden, config.intermediate);
        let eps = config.norm_eps;
        let embed_name = match config.arch {
            Arch::Gpt2 => "wte.weight",
            Arch::Llama => "embed_tokens.weight",
        };
        let embed = loader.take(embed_name, &[v as i64, h as i64])?;
        let positions = match config.arch {
            Arch::Gpt2 => Some(loader.take("wpe.weight", &[config.max_positions as i64, h as i64])?),
            Arch::Llama => None,
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let block = match config.arch {
                Arch::Gpt2 => {
                    let p = format!("h.{i}");
                    Block {
                        norm1: loader.layer_norm(&format!("{p}.ln_1"), h, eps)?,
                        attention: Attention::Gpt2 {
                            c_attn: loader.conv1d(&format!("{p}.attn.c_attn"), h, 3 * h)?,
                            c_proj: loader.conv1d(&format!("{p}.attn.c_proj"), h, h)?,
                        },
                        norm2: loader.layer_norm(&format!("{p}.ln_2"), h, eps)?,
                        mlp: Mlp::Gpt2 {
                            c_fc: loader.conv1d(&format!("{p}.mlp.c_fc"), h, f)?,
                            c_proj: loader.conv1d(&format!("{p}.mlp.c_proj"), f, h)?,
                        },
                    }
                }
                Arch::Llama => {
                    let p = format!("layers.{i}");
                    let (q, kv) = (config.heads * config.head_dim, config.kv_heads * config.head_dim);
                    let ab = config.attention_bias;
                    let mb = config.mlp_bias;
                    Block {
                        norm1: loader.rms_norm(&format!("{p}.input_layernorm"), h, eps)?,
                        attention: Attention::Llama {
                            q: loader.linear(&format!("{p}.self_attn.q_proj"), q, h, ab)?,
                            k: loader.linear(&format!("{p}.self_attn.k_proj"), kv, h, ab)?,
                            v: loader.linear(&format!("{p}.self_attn.v_proj"), kv, h, ab)?,
                            o: loader.linear(&format!("{p}.self_attn.o_proj"), h, q, ab)?,
                        },
                        norm2: loader.rms_norm(&format!("{p}.post_attention_layernorm"), h, eps)?,
                        mlp: Mlp::Llama {
                            gate: loader.linear(&format!("{p}.mlp.gate_proj"), f, h, mb)?,
                            up: loader.linear(&format!("{p}.mlp.up_proj"), f, h, mb)?,
                            down: loader.linear(&format!("{p}.mlp.down_proj"), h, f, mb)?,
                        },
                    }
                }
            };
            blocks.push(block);
        }
        let final_norm = match config.arch {
            Arch::Gpt2 => loader.layer_norm("ln_f", h, eps)?,
            Arch::Llama => loader.rms_norm("norm", h, eps)?,
        };
        loader.prefix.clear();
        let (lm_head, score) = match config.head {
            HeadKind::CausalLm if config.tie_embeddings => {
                loader.file.tensors.remove("lm_head.weight");
                (Some(embed.shallow_clone()), None)
            }
            HeadKind::CausalLm => (Some(loader.take("lm_head.weight", &[v as i64, h as i64])?), None),
            HeadKind::SequenceClassification { num_labels } => {
                (None, Some(loader.take("score.weight", &[num_labels as i64, h as i64])?))
            }
        };
        // Buffers that old GPT-2 checkpoints carry and that hold no parameters.
        loader.file.tensors.retain(|name, _| !(name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias")));
        if let Some(name) = loader.file.tensors.keys().next() {
            return Err(ModelError::new(
                codes::WEIGHTS,
                format!(
                    "{}: unexpected tensor `{name}` for a {} {} with {} layers",
                    loader.file.path.display(),
                    match config.arch {
                        Arch::Gpt2 => "GPT-2",
                        Arch::Llama => "Llama",
                    },
                    match config.head {
                        HeadKind::CausalLm => "causal LM",
                        HeadKind::SequenceClassification { .. } => "reward (sequence-classification) model",
                    },
                    config.layers
                ),
            )
            .help("the weights do not belong to this config.json"));
        }
        let rope_inv_freq = (config.arch == Arch::Llama).then(|| {
            let d = config.head_dim;
            let values: Vec<f32> =
                (0..d).step_by(2).map(|i| 1.0 / (config.rope_theta as f32).powf(i as f32 / d as f32)).collect();
            Tensor::from_slice(&values)
        });
        let mut params = loader.params;
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Model {
            config,
            tokenizer,
            params,
            embed,
            positions,
            blocks,
            final_norm,
            lm_head,
            score,
            value_head: None,
            rope_inv_freq,
            source: None,
            extra_files: Vec::new(),
        })
    }

    /// Saves as a Hugging Face folder (config.json, model.safetensors,
    /// tokenizer.json, and value_head.safetensors when the model has one), each file atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let (config_path, weights_path, tokenizer_path) = folder_files(dir);
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        weights::write_atomic(&weights_path, &weights::serialize(&self.params, &metadata)?)?;
        weights::write_atomic(&config_path, self.config.to_json().as_bytes())?;
        weights::write_atomic(&tokenizer_path, &self.tokenizer.json)?;
        for (name, bytes) in &self.extra_files {
            weights::write_atomic(&dir.join(name), bytes)?;
        }
        if let Some((weight, bias)) = &self.value_head {
            let tensors = vec![
                ("v_head.summary.bias".to_string(), bias.shallow_clone()),
                ("v_head.summary.weight".to_string(), weight.shallow_clone()),
            ];
            weights::write_atomic(&dir.join("value_head.safetensors"), &weights::serialize(&tensors, &metadata)?)?;
        }
        Ok(())
    }

    /// The trainable tensors by HF name (sharing storage with the model), value head last when present.
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut all: Vec<(String, Tensor)> = self.params.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
        if let Some((weight, bias)) = &self.value_head {
            all.push(("v_head.summary.weight".into(), weight.shallow_clone()));
            all.push(("v_head.summary.bias".into(), bias.shallow_clone()));
        }
        all
    }

    pub fn set_trainable(&mut self, trainable: bool) {
        for (_, tensor) in self.parameters() {
            let _ = tensor.set_requires_grad(trainable);
        }
    }

    /// A copy with its own storage (e.g. the frozen reference of a policy).
    pub fn deep_copy(&self) -> Result<Self> {
        let file = TensorFile {
            path: self.source.clone().unwrap_or_default().join("model.safetensors"),
            tensors: self.params.iter().map(|(n, t)| (n.clone(), t.detach().copy())).collect(),
            metadata: BTreeMap::new(),
        };
        let tokenizer = Tokenizer::from_bytes(self.tokenizer.json.clone(), &self.tokenizer.path)?;
        let mut copy = Model::build(self.config.clone(), tokenizer, file, None)?;
        copy.value_head = self.value_head.as_ref().map(|(w, b)| (w.detach().copy(), b.detach().copy()));
        copy.source = self.source.clone();
        copy.extra_files = self.extra_files.clone();
        Ok(copy)
    }

    /// Adds a zero-initialised value head if the model has none (its first values are 0).
    pub fn ensure_value_head(&mut self) {
        if self.value_head.is_none() {
            let h = self.config.hidden as i64;
            self.value_head = Some((
                Tensor::zeros([1, h], (Kind::Float, Device::Cpu)),
                Tensor::zeros([1], (Kind::Float, Device::Cpu)),
            ));
        }
    }

    pub fn has_value_head(&self) -> bool {
        self.value_head.is_some()
    }

    /// Final hidden states [batch, len, hidden] of `ids` [batch, len].
    /// `mask` [batch, past + len] is 1 for real tokens and 0 for padding;
    /// `positions` [batch, len] are the tokens' position ids.
    pub fn hidden(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        positions: &Tensor,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let size = ids.size();
        let (batch, len) = (size[0], size[1]);
        let past = cache.as_ref().map_or(0, |c| c.len());
        let total = past + len;
        let query_pos = Tensor::arange_start(past, total, (Kind::Int64, Device::Cpu)).view([len, 1]);
        let key_pos = Tensor::arange(total, (Kind::Int64, Device::Cpu)).view([1, total]);
        let causal = key_pos.le_tensor(&query_pos).view([1, 1, len, total]);
        let padding = mask.to_kind(Kind::Bool).view([batch, 1, 1, total]);
        // Each query may also see its own key, so no attention row is empty
        // (a left-padding query would otherwise give NaN in fused attention).
        let allowed = causal.logical_and(&padding).logical_or(&key_pos.eq_tensor(&query_pos).view([1, 1, len, total]));
        self.hidden_masked(ids, positions, cache, Layout::Rows { allowed: &allowed })
    }

    /// Final hidden states with the attention `layout` says (an explicit mask,
    /// e.g. block-diagonal for several sequences packed into one row, or runs
    /// of packed tokens). With [`Layout::Rows`], `ids` and `positions` are
    /// [batch, len] and the result is [batch, len, hidden]; with
    /// [`Layout::Packed`] and [`Layout::Ranges`] they are [n] and it is [n, hidden].
    pub fn hidden_masked(
        &self,
        ids: &Tensor,
        positions: &Tensor,
        mut cache: Option<&mut KvCache>,
        layout: Layout,
    ) -> Result<Tensor> {
        let (heads, kv_heads, head_dim) =
            (self.config.heads as i64, self.config.kv_heads as i64, self.config.head_dim as i64);
        let (batch, len) = match layout {
            Layout::Rows { .. } => (ids.size()[0], ids.size()[1]),
            Layout::Packed { rows, len, .. } => (rows, len),
            Layout::Ranges { .. } => (ids.size()[0], 1),
        };
        if matches!(layout, Layout::Ranges { .. }) && cache.is_some() {
            return Err(ModelError::new("P0710", "packed attention does not extend a KV cache"));
        }
        // Everything but attention runs on tokens as they come ([batch, len, …] or
        // [n, …]); attention runs on [batch, heads, len, head_dim].
        let to_heads = |t: &Tensor, count: i64| -> Tensor {
            match layout {
                Layout::Rows { .. } => t.view([batch, len, count, head_dim]).transpose(1, 2),
                Layout::Packed { slots, rows, len, .. } => {
                    let width = count * head_dim;
                    Tensor::zeros([rows * len, width], (t.kind(), t.device()))
                        .index_copy(0, slots, &t.reshape([-1, width]))
                        .view([rows, len, count, head_dim])
                        .transpose(1, 2)
                }
                Layout::Ranges { .. } => t.reshape([-1, count, head_dim]),
            }
        };
        let from_heads = |y: &Tensor| -> Tensor {
            let y = y.transpose(1, 2).contiguous();
            match layout {
                Layout::Rows { .. } => y.view([batch, len, heads * head_dim]),
                Layout::Packed { slots, .. } => y.view([-1, heads * head_dim]).index_select(0, slots),
                Layout::Ranges { .. } => unreachable!("packed attention returns token layout"),
            }
        };
        let mut x = Tensor::embedding(&self.embed, ids, -1, false, false);
        if let Some(wpe) = &self.positions {
            x = &x + Tensor::embedding(wpe, positions, -1, false, false);
        }
        // cos and sin [..., 1, head_dim] per token, for q and k viewed as [..., heads, head_dim].
        let rope = self.rope_inv_freq.as_ref().map(|inv_freq| {
            let freqs = positions.to_kind(Kind::Float).unsqueeze(-1) * inv_freq;
            let emb = Tensor::cat(&[&freqs, &freqs], -1).unsqueeze(-2);
            (emb.cos(), emb.sin())
        });
        let token_shape = |count: i64| -> Vec<i64> {
            let mut shape = positions.size();
            shape.extend([count, head_dim]);
            shape
        };
        let scale = 1.0 / (head_dim as f64).sqrt();
        for (index, block) in self.blocks.iter().enumerate() {
            let normed = block.norm1.forward(&x)?;
            let (q, k, v, out): (Tensor, Tensor, Tensor, Projection) = match &block.attention {
                Attention::Gpt2 { c_attn, c_proj } => {
                    let qkv = c_attn.forward(&normed).split(heads * head_dim, -1);
                    (to_heads(&qkv[0], heads), to_heads(&qkv[1], heads), to_heads(&qkv[2], heads), &|y: &Tensor| {
                        c_proj.forward(y)
                    })
                }
                Attention::Llama { q, k, v, o } => {
                    let q = q.forward(&normed).view(token_shape(heads).as_slice());
                    let k = k.forward(&normed).view(token_shape(kv_heads).as_slice());
                    let (cos, sin) = rope.as_ref().expect("Llama has RoPE");
                    let q = crate::fused::rope(&q, cos, sin)?;
                    let k = crate::fused::rope(&k, cos, sin)?;
                    (
                        to_heads(&q, heads),
                        to_heads(&k, kv_heads),
                        to_heads(&v.forward(&normed), kv_heads),
                        &|y: &Tensor| o.forward(y),
                    )
                }
            };
            let (k, v) = match cache.as_deref_mut() {
                Some(cache) => {
                    if cache.layers.len() <= index {
                        cache.layers.push((k.shallow_clone(), v.shallow_clone()));
                        (k, v)
                    } else {
                        let (past_k, past_v) = &cache.layers[index];
                        let k = Tensor::cat(&[past_k, &k], 2);
                        let v = Tensor::cat(&[past_v, &v], 2);
                        cache.layers[index] = (k.shallow_clone(), v.shallow_clone());
                        (k, v)
                    }
                }
                None => (k, v),
            };
            let y = match layout {
                Layout::Ranges { ranges } => {
                    crate::attention::packed_attention(&q, &k, &v, ranges, scale)?.view([-1, heads * head_dim])
                }
                Layout::Rows { allowed } | Layout::Packed { allowed, .. } => {
                    let repeat = heads / kv_heads;
                    let (k, v) = if repeat > 1 {
                        (k.repeat_interleave_self_int(repeat, 1, None), v.repeat_interleave_self_int(repeat, 1, None))
                    } else {
                        (k, v)
                    };
                    from_heads(&Tensor::scaled_dot_product_attention(
                        &q,
                        &k,
                        &v,
                        Some(allowed),
                        0.0,
                        false,
                        scale,
                        false,
                    ))
                }
            };
            // Not `+=`: the norm saved `x` for the backward pass.
            x = &x + out(&y);
            let normed = block.norm2.forward(&x)?;
            let y = match &block.mlp {
                Mlp::Gpt2 { c_fc, c_proj } => c_proj.forward(&activate(&c_fc.forward(&normed), self.config.activation)),
                Mlp::Llama { gate, up, down } => {
                    down.forward(&(activate(&gate.forward(&normed), self.config.activation) * up.forward(&normed)))
                }
            };
            x = &x + y;
        }
        self.final_norm.forward(&x)
    }

    /// Next-token logits [batch, len, vocab] from hidden states.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let head = self.lm_head.as_ref().ok_or_else(|| self.no_head("a language-model head (it is a reward model)"))?;
        Ok(hidden.matmul(&head.tr()))
    }

    /// Sequence-classification outputs [batch, num_labels] at index `last` [batch] of each row.
    /// Sequence-classification outputs [n, num_labels] of hidden states [n, hidden].
    pub fn score_states(&self, states: &Tensor) -> Result<Tensor> {
        let score =
            self.score.as_ref().ok_or_else(|| self.no_head("a score head (it is a causal LM, not a reward model)"))?;
        Ok(states.matmul(&score.tr()))
    }

    pub fn score_at(&self, hidden: &Tensor, last: &Tensor) -> Result<Tensor> {
        let score =
            self.score.as_ref().ok_or_else(|| self.no_head("a score head (it is a causal LM, not a reward model)"))?;
        let h = hidden.size()[2];
        let picked = hidden.gather(1, &last.view([-1, 1, 1]).expand([-1, 1, h], false), false).squeeze_dim(1);
        Ok(picked.matmul(&score.tr()))
    }

    /// Per-token values [batch, len] from hidden states.
    pub fn values(&self, hidden: &Tensor) -> Result<Tensor> {
        let (weight, bias) = self.value_head.as_ref().ok_or_else(|| self.no_head("a value head"))?;
        Ok((hidden.matmul(&weight.tr()) + bias).squeeze_dim(-1))
    }

    fn no_head(&self, what: &str) -> ModelError {
        let name = self.source.as_ref().map_or("the model".to_string(), |p| p.display().to_string());
        ModelError::new(codes::HEAD, format!("{name} does not have {what}"))
    }
}
