//! The model backend: GPT-2 and Llama causal LMs and reward models in tch,
//! loaded from and saved to Hugging Face folders, with batched log-probs,
//! seeded generation, AdamW training steps driven by external gradients, and
//! checkpoints.

pub mod attention;
pub mod chat;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod fused;
pub mod generate;
pub mod lm;
pub mod model;
pub mod optim;
pub mod parallel;
pub mod rng;
pub mod slices;
pub mod tokenizer;
pub mod weights;

pub use config::{Arch, HeadKind, ModelConfig};
pub use error::{ModelError, Result};
pub use generate::SampleOptions;
pub use lm::{Batch, RowLogprobs, Sequence};
pub use model::{KvCache, Model};
pub use optim::{AdamW, AdamWConfig, Decay, Schedule, StepReport, surrogate};
pub use rng::Rng;
pub use tokenizer::Tokenizer;
