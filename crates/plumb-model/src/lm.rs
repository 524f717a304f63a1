//! Prompt/completion batches and what models compute on them: per-token and
//! per-sequence completion log-probs, reward scores, and per-token values.
//!
//! Prompt and completion are tokenised separately, without special tokens, and
//! concatenated; rows are right-padded, so positions are 0.. for every row.

use crate::error::{ModelError, Result, codes};
use crate::model::Model;
use tch::{Device, Kind, Tensor};

/// One tokenised row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    pub prompt: Vec<i64>,
    pub completion: Vec<i64>,
}

impl Sequence {
    pub fn len(&self) -> usize {
        self.prompt.len() + self.completion.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Right-padded tensors for a batch of sequences.
pub struct Batch {
    /// [batch, len] token ids, padding with `pad`.
    pub ids: Tensor,
    /// [batch, len] 1 for real tokens.
    pub mask: Tensor,
    /// [batch, len] position ids.
    pub positions: Tensor,
    /// [batch, len - 1] the next token at each position.
    pub targets: Tensor,
    /// [batch, len - 1] 1 where the target is a completion token.
    pub completion_mask: Tensor,
    /// [batch] index of each row's last real token.
    pub last: Tensor,
    pub lengths: Vec<usize>,
    pub completion_lengths: Vec<usize>,
}

impl Batch {
    pub fn new(rows: &[Sequence], pad: i64) -> Self {
        let len = rows.iter().map(Sequence::len).max().unwrap_or(1).max(2);
        let batch = rows.len();
        let mut ids = vec![pad; batch * len];
        let mut mask = vec![0i64; batch * len];
        let mut completion_mask = vec![0f32; batch * (len - 1)];
        let mut last = Vec::with_capacity(batch);
        for (r, row) in rows.iter().enumerate() {
            for (i, &id) in row.prompt.iter().chain(&row.completion).enumerate() {
                ids[r * len + i] = id;
                mask[r * len + i] = 1;
            }
            for i in 0..row.completion.len() {
                // The completion's i-th token is predicted at position prompt_len + i - 1.
                if let Some(p) = (row.prompt.len() + i).checked_sub(1) {
                    completion_mask[r * (len - 1) + p] = 1.0;
                }
            }
            last.push(row.len().saturating_sub(1) as i64);
        }
        let ids = Tensor::from_slice(&ids).view([batch as i64, len as i64]);
        let positions =
            Tensor::arange(len as i64, (Kind::Int64, Device::Cpu)).view([1, len as i64]).repeat([batch as i64, 1]);
        Batch {
            targets: ids.narrow(1, 1, len as i64 - 1),
            ids,
            mask: Tensor::from_slice(&mask).view([batch as i64, len as i64]),
            positions,
            completion_mask: Tensor::from_slice(&completion_mask).view([batch as i64, len as i64 - 1]),
            last: Tensor::from_slice(&last),
            lengths: rows.iter().map(Sequence::len).collect(),
            completion_lengths: rows.iter().map(|r| r.completion.len()).collect(),
        }
    }
}

/// Completion log-probs of one row.
#[derive(Clone, Debug, PartialEq)]
pub struct RowLogprobs {
    pub sum: f64,
    pub tokens: Vec<f32>,
}

impl RowLogprobs {
    pub fn mean(&self) -> f64 {
        if self.tokens.is_empty() { 0.0 } else { self.sum / self.tokens.len() as f64 }
    }
}

impl Model {
    /// Tokenises a prompt/completion pair; `row` names it in errors.
    pub fn tokenize(&self, prompt: &str, completion: &str, row: &str) -> Result<Sequence> {
        if prompt.is_empty() || completion.is_empty() {
            let which = if prompt.is_empty() { "prompt" } else { "completion" };
            return Err(ModelError::new(codes::ROW, format!("{row}: empty {which}"))
                .help("log-probs and scores are of a non-empty completion given a non-empty prompt"));
        }
        let sequence =
            Sequence { prompt: self.tokenizer.encode(prompt)?, completion: self.tokenizer.encode(completion)? };
        self.check_context(&sequence, row)?;
        Ok(sequence)
    }

    pub fn check_context(&self, sequence: &Sequence, row: &str) -> Result<()> {
        let max = self.config.max_positions;
        if sequence.len() > max {
            return Err(ModelError::new(
                codes::CONTEXT,
                format!(
                    "{row}: {} tokens ({} prompt + {} completion) exceed the model's context of {max}",
                    sequence.len(),
                    sequence.prompt.len(),
                    sequence.completion.len()
                ),
            )
            .help("shorten the row, or use a model with a longer context"));
        }
        Ok(())
    }

    /// Checks that every id is one the model has an embedding for.
    pub fn check_ids(&self, ids: &[i64], row: &str) -> Result<()> {
        let vocab = self.config.vocab_size as i64;
        match ids.iter().find(|&&id| !(0..vocab).contains(&id)) {
            Some(id) => Err(ModelError::new(
                codes::ROW,
                format!("{row}: token id {id} is outside the model's vocabulary (0..{vocab})"),
            )),
            None => Ok(()),
        }
    }

    /// Checks rows that did not come from [`Model::tokenize`]: a non-empty prompt,
    /// ids in the vocabulary, and the context.
    pub fn check_rows(&self, rows: &[Sequence]) -> Result<()> {
        for (i, row) in rows.iter().enumerate() {
            let name = format!("row {i}");
            if row.prompt.is_empty() {
                return Err(ModelError::new(codes::ROW, format!("{name}: empty prompt")));
            }
            self.check_ids(&row.prompt, &name)?;
            self.check_ids(&row.completion, &name)?;
            self.check_context(row, &name)?;
        }
        Ok(())
    }

    /// Checks a batch before it reaches libtorch, whose index errors would abort.
    fn check_batch(&self, batch: &Batch) -> Result<()> {
        let longest = batch.lengths.iter().copied().max().unwrap_or(0);
        if longest > self.config.max_positions {
            return Err(ModelError::new(
                codes::CONTEXT,
                format!("a batch row of {longest} tokens exceeds the model's context of {}", self.config.max_positions),
            ));
        }
        if batch.ids.numel() > 0 {
            let (low, high) = (batch.ids.min().int64_value(&[]), batch.ids.max().int64_value(&[]));
            let vocab = self.config.vocab_size as i64;
            if low < 0 || high >= vocab {
                let id = if low < 0 { low } else { high };
                return Err(ModelError::new(
                    codes::ROW,
                    format!("token id {id} in the batch is outside the model's vocabulary (0..{vocab})"),
                ));
            }
        }
        Ok(())
    }

    /// The id that fills padding (masked out): the config's pad or EOS token when the model has it, else 0.
    pub fn pad_id(&self) -> i64 {
        let vocab = self.config.vocab_size as i64;
        [self.config.pad_token_id, self.config.eos_token_id]
            .into_iter()
            .flatten()
            .find(|id| (0..vocab).contains(id))
            .unwrap_or(0)
    }

    pub fn batch(&self, rows: &[Sequence]) -> Batch {
        Batch::new(rows, self.pad_id())
    }

    /// Per-token completion log-probs [batch, len - 1] (0 outside completions),
    /// differentiable when the parameters require gradients.
    pub fn token_logprobs(&self, batch: &Batch) -> Result<Tensor> {
        self.check_batch(batch)?;
        let hidden = self.hidden(&batch.ids, &batch.mask, &batch.positions, None);
        let len = hidden.size()[1];
        let logits = self.logits(&hidden.narrow(1, 0, len - 1))?;
        let picked =
            logits.log_softmax(-1, Kind::Float).gather(-1, &batch.targets.unsqueeze(-1), false).squeeze_dim(-1);
        Ok(picked * &batch.completion_mask)
    }

    /// Completion log-probs of each row, without gradients.
    pub fn logprobs(&self, rows: &[Sequence]) -> Result<Vec<RowLogprobs>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.check_rows(rows)?;
        let batch = self.batch(rows);
        let tokens = tch::no_grad(|| self.token_logprobs(&batch))?;
        let width = tokens.size()[1] as usize;
        let flat = Vec::<f32>::try_from(tokens.flatten(0, -1))?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                let start = row.prompt.len() - 1;
                let values = flat[r * width + start..r * width + start + row.completion.len()].to_vec();
                let sum = values.iter().map(|&x| f64::from(x)).sum();
                RowLogprobs { sum, tokens: values }
            })
            .collect())
    }

    /// Reward-model scores [batch] (first label) at each row's last token, differentiable.
    pub fn score_tensor(&self, batch: &Batch) -> Result<Tensor> {
        self.check_batch(batch)?;
        let hidden = self.hidden(&batch.ids, &batch.mask, &batch.positions, None);
        Ok(self.score_at(&hidden, &batch.last)?.select(1, 0))
    }

    /// Reward-model scores of each row, without gradients.
    pub fn scores(&self, rows: &[Sequence]) -> Result<Vec<f32>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.check_rows(rows)?;
        let batch = self.batch(rows);
        let scores = tch::no_grad(|| self.score_tensor(&batch))?;
        Ok(Vec::<f32>::try_from(scores)?)
    }
}
