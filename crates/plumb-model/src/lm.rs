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
    /// The rows, for packing.
    pub sequences: Vec<Sequence>,
}

/// Sequences packed end to end into a few rows (no padding inside a row), with
/// a block-diagonal causal mask so that each attends only to itself, and
/// positions restarting at 0 for each.
pub struct Packed {
    pub ids: Tensor,
    pub positions: Tensor,
    pub allowed: Tensor,
    /// Flat index (into rows × len) of each sequence's first token.
    pub starts: Vec<i64>,
}

/// Tokens per packed row at most: attention costs len² per row, so short rows
/// (a few sequences each) beat one long one; 64 measured fastest for the demo
/// model (docs/performance.md).
pub const PACK_TOKENS: usize = 64;

impl Packed {
    pub fn new(rows: &[Sequence], pad: i64) -> Self {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| rows[b].len().cmp(&rows[a].len()).then(a.cmp(&b)));
        let capacity = rows.iter().map(Sequence::len).max().unwrap_or(1).max(PACK_TOKENS);
        // First fit, longest first.
        let mut bins: Vec<(usize, Vec<usize>)> = Vec::new();
        for i in order {
            let n = rows[i].len();
            match bins.iter_mut().find(|(used, _)| used + n <= capacity) {
                Some((used, members)) => {
                    *used += n;
                    members.push(i);
                }
                None => bins.push((n, vec![i])),
            }
        }
        let len = bins.iter().map(|(used, _)| *used).max().unwrap_or(1).max(1);
        let count = bins.len().max(1);
        let mut ids = vec![pad; count * len];
        let mut positions = vec![0i64; count * len];
        let mut segment = vec![-1i64; count * len];
        let mut starts = vec![0i64; rows.len()];
        for (b, (_, members)) in bins.iter().enumerate() {
            let mut at = b * len;
            for &i in members {
                starts[i] = at as i64;
                for (p, &id) in rows[i].prompt.iter().chain(&rows[i].completion).enumerate() {
                    ids[at + p] = id;
                    positions[at + p] = p as i64;
                    segment[at + p] = i as i64;
                }
                at += rows[i].len();
            }
        }
        let (count, len) = (count as i64, len as i64);
        let segment = Tensor::from_slice(&segment).view([count, len]);
        let same = segment.unsqueeze(2).eq_tensor(&segment.unsqueeze(1));
        let index = Tensor::arange(len, (Kind::Int64, Device::Cpu));
        let causal = index.view([1, len]).le_tensor(&index.view([len, 1])).unsqueeze(0);
        let diagonal = index.view([1, len]).eq_tensor(&index.view([len, 1])).unsqueeze(0);
        let allowed = same.logical_and(&causal).logical_or(&diagonal).unsqueeze(1);
        Packed {
            ids: Tensor::from_slice(&ids).view([count, len]),
            positions: Tensor::from_slice(&positions).view([count, len]),
            allowed,
            starts,
        }
    }

    /// Final hidden states of every packed token, [rows × len, hidden].
    pub fn hidden(&self, model: &Model) -> Tensor {
        let hidden = model.hidden_masked(&self.ids, &self.positions, &self.allowed, None);
        let width = hidden.size()[2];
        hidden.reshape([-1, width])
    }
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
            sequences: rows.to_vec(),
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
        // Sequences are packed without padding, and only completion positions
        // go through the vocabulary projection and its log-softmax.
        let packed = Packed::new(&batch.sequences, self.pad_id());
        let hidden = packed.hidden(self);
        let (rows, width) = (batch.sequences.len() as i64, batch.targets.size()[1]);
        let (mut source, mut target, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for (r, row) in batch.sequences.iter().enumerate() {
            for (i, &id) in row.completion.iter().enumerate() {
                let predicted_at = (row.prompt.len() + i) as i64 - 1;
                source.push(packed.starts[r] + predicted_at);
                target.push(id);
                out.push(r as i64 * width + predicted_at);
            }
        }
        let source = Tensor::from_slice(&source);
        let states = hidden.index_select(0, &source);
        let picked = self
            .logits(&states)?
            .log_softmax(-1, Kind::Float)
            .gather(-1, &Tensor::from_slice(&target).unsqueeze(-1), false)
            .squeeze_dim(-1);
        let flat =
            Tensor::zeros([rows * width], (Kind::Float, Device::Cpu)).index_add(0, &Tensor::from_slice(&out), &picked);
        Ok(flat.view([rows, width]))
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
        let packed = Packed::new(&batch.sequences, self.pad_id());
        let hidden = packed.hidden(self);
        let last: Vec<i64> =
            batch.sequences.iter().zip(&packed.starts).map(|(row, start)| start + row.len() as i64 - 1).collect();
        Ok(self.score_states(&hidden.index_select(0, &Tensor::from_slice(&last)))?.select(1, 0))
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
