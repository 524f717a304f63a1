//! The model backend's error: a diagnostic code, a message naming the file and
//! the tensor or row, and a help line.

use std::fmt;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError {
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

impl ModelError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ModelError { code, message: message.into(), help: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// An I/O failure on `path`, with the code that fits what was being read.
    pub fn io(code: &'static str, path: &Path, error: &std::io::Error) -> Self {
        let what = match error.kind() {
            std::io::ErrorKind::NotFound => "not found".to_string(),
            _ => error.to_string(),
        };
        ModelError::new(code, format!("{}: {what}", path.display()))
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ModelError {}

impl From<tch::TchError> for ModelError {
    fn from(error: tch::TchError) -> Self {
        ModelError::new("P0710", format!("libtorch failed: {error}"))
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Error codes of the model backend (registered in plumb-diag).
pub mod codes {
    /// A model folder or one of its files is missing or unreadable.
    pub const MISSING: &str = "P0701";
    /// config.json is not valid, or names an architecture or option Plumb does not implement.
    pub const CONFIG: &str = "P0702";
    /// model.safetensors lacks a tensor, has one of the wrong shape or type, or is not a safetensors file.
    pub const WEIGHTS: &str = "P0703";
    /// tokenizer.json is unreadable or does not fit the model's vocabulary.
    pub const TOKENIZER: &str = "P0704";
    /// An input row is malformed (not JSON, missing or empty prompt/completion).
    pub const ROW: &str = "P0705";
    /// A sequence is longer than the model's context.
    pub const CONTEXT: &str = "P0706";
    /// A generation or training option is out of range.
    pub const OPTION: &str = "P0707";
    /// The model has no head for what was asked (e.g. `score` on a causal LM).
    pub const HEAD: &str = "P0708";
    /// A checkpoint is unreadable or does not fit the model.
    pub const CHECKPOINT: &str = "P0709";
}
