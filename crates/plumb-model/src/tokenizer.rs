//! `tokenizer.json` through the `tokenizers` crate: text in, ids out, never
//! adding special tokens (prompt and completion are encoded separately).

use crate::error::{ModelError, Result, codes};
use std::path::{Path, PathBuf};

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The file's bytes, written back unchanged when the model is saved.
    pub json: Vec<u8>,
    pub path: PathBuf,
}

impl Tokenizer {
    pub fn read(path: &Path) -> Result<Self> {
        let json = std::fs::read(path).map_err(|e| ModelError::io(codes::MISSING, path, &e))?;
        Self::from_bytes(json, path)
    }

    pub fn from_bytes(json: Vec<u8>, path: &Path) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(&json).map_err(|e| {
            ModelError::new(
                codes::TOKENIZER,
                format!("{}: not a tokenizer.json the `tokenizers` library reads: {e}", path.display()),
            )
        })?;
        Ok(Tokenizer { inner, json, path: path.to_path_buf() })
    }

    /// The number of ids the tokenizer can produce (the largest id + 1, added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab(true).values().map(|&id| id as usize + 1).max().unwrap_or(0)
    }

    pub fn token_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(i64::from)
    }

    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let encoding = self.inner.encode(text, false).map_err(|e| {
            ModelError::new(codes::TOKENIZER, format!("{}: cannot encode text: {e}", self.path.display()))
        })?;
        Ok(encoding.get_ids().iter().map(|&id| i64::from(id)).collect())
    }

    /// Text of ids, special tokens left out.
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        let ids: Vec<u32> = ids.iter().filter_map(|&id| u32::try_from(id).ok()).collect();
        self.inner
            .decode(&ids, true)
            .map_err(|e| ModelError::new(codes::TOKENIZER, format!("{}: cannot decode ids: {e}", self.path.display())))
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}
