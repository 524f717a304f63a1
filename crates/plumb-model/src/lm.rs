//! Prompt/completion batches and what models compute on them: per-token and
//! per-sequence completion log-probs, reward scores, and per-token values.
//!
//! Prompt and completion are tokenised separately, without special tokens, and
//! concatenated; rows are right-padded, so positions are 0.. for every row.

use crate::error::{ModelError, Result, codes};
use crate::model::{Layout, Model};
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
/// positions restarting at 0 for each and a mask so that each attends only to
/// itself. Rows with the same prompt (a pair's chosen and rejected, say) share
/// one copy of it: the prompt is followed by each row's continuation, which
/// attends to the prompt and to itself, at the positions it would have alone.
/// Each row's hidden states are the ones it would get on its own; the prompt's
/// are computed once.
pub struct Packed {
    /// [n] the packed tokens, in packing order.
    pub ids: Tensor,
    /// [n] their position ids.
    pub positions: Tensor,
    /// [n] where each token sits among the rows × len attention slots.
    pub slots: Tensor,
    pub rows: i64,
    pub len: i64,
    /// Per slot of the rows × len layout: its unit (−1: padding) and branch
    /// (0: the unit's shared head, r + 1: row r's tail), for [`Packed::allowed`].
    unit_of: Vec<i64>,
    branch: Vec<usize>,
    /// [n, 4]: token i attends to tokens `ranges[i][0]..ranges[i][1]` (its
    /// shared prompt, when it is in a continuation) and
    /// `ranges[i][2]..ranges[i][3]` (its own run, up to itself).
    pub ranges: Tensor,
    /// Per row: the index (among the n tokens) of its prompt's first token, the
    /// number of tokens read from there, and the index of the rest.
    places: Vec<(i64, usize, i64)>,
}

/// Tokens per packed row at most (or the longest sequence): attention costs
/// len² per row, so short rows (a few sequences each) beat one long one. 64
/// measured fastest for the demo model when whole rows went through the
/// network; now that only attention sees the rows' padding, 16 to 96 time the
/// same (docs/performance.md).
pub const PACK_TOKENS: usize = 64;

/// Which tokens of each row go into the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// Every token (reward scores read the last one).
    All,
    /// All but the last token of rows of two or more: under causal attention
    /// nothing before it depends on it, and as a next-token target it needs no
    /// hidden state of its own.
    AllButLast,
}

/// A run of packed tokens: a shared head (a prompt, or a whole row that shares
/// nothing) and the continuations of the rows that read it.
struct Unit<'a> {
    head: &'a [i64],
    tails: Vec<(usize, &'a [i64])>,
}

impl Unit<'_> {
    fn width(&self) -> usize {
        self.head.len() + self.tails.iter().map(|(_, t)| t.len()).sum::<usize>()
    }
}

impl Packed {
    pub fn new(rows: &[Sequence], inputs: Inputs) -> Self {
        let tokens: Vec<Vec<i64>> = rows
            .iter()
            .map(|row| {
                let n = match inputs {
                    Inputs::AllButLast if row.len() > 1 => row.len() - 1,
                    _ => row.len(),
                };
                row.prompt.iter().chain(&row.completion).take(n).copied().collect()
            })
            .collect();
        let capacity = tokens.iter().map(Vec::len).max().unwrap_or(1).max(PACK_TOKENS);
        // Rows that read past their prompt group by prompt (in order of first
        // appearance), as many per unit as fit; the others are units of their own.
        let mut units: Vec<Unit> = Vec::new();
        let mut open: std::collections::HashMap<&[i64], usize> = std::collections::HashMap::new();
        for (i, (row, input)) in rows.iter().zip(&tokens).enumerate() {
            let prompt = row.prompt.len();
            if input.len() <= prompt || prompt == 0 {
                units.push(Unit { head: input, tails: vec![(i, &[])] });
                continue;
            }
            let tail = &input[prompt..];
            match open.get(&row.prompt[..]) {
                Some(&u) if units[u].width() + tail.len() <= capacity => units[u].tails.push((i, tail)),
                _ => {
                    open.insert(&row.prompt[..], units.len());
                    units.push(Unit { head: &input[..prompt], tails: vec![(i, tail)] });
                }
            }
        }
        // First fit, widest first.
        let mut order: Vec<usize> = (0..units.len()).collect();
        order.sort_by(|&a, &b| units[b].width().cmp(&units[a].width()).then(a.cmp(&b)));
        let mut bins: Vec<(usize, Vec<usize>)> = Vec::new();
        for u in order {
            let n = units[u].width();
            match bins.iter_mut().find(|(used, _)| used + n <= capacity) {
                Some((used, members)) => {
                    *used += n;
                    members.push(u);
                }
                None => bins.push((n, vec![u])),
            }
        }
        let len = bins.iter().map(|(used, _)| *used).max().unwrap_or(1).max(1);
        let count = bins.len().max(1);
        let (mut ids, mut positions, mut slots) = (Vec::new(), Vec::new(), Vec::new());
        let mut ranges: Vec<i64> = Vec::new();
        // Per slot: its unit (-1: padding) and branch (0: the shared head, r + 1: row r's tail).
        let mut unit_of = vec![-1i64; count * len];
        let mut branch = vec![0usize; count * len];
        let mut places = vec![(0i64, 0usize, 0i64); rows.len()];
        for (b, (_, members)) in bins.iter().enumerate() {
            let mut slot = b * len;
            for &u in members {
                let unit = &units[u];
                let head_at = ids.len() as i64;
                let pieces = std::iter::once((0, unit.head, 0))
                    .chain(unit.tails.iter().map(|&(r, tail)| (r + 1, tail, unit.head.len())));
                for (from, tokens, first_position) in pieces {
                    if from > 0 {
                        places[from - 1] = (head_at, unit.head.len(), ids.len() as i64);
                    }
                    let (run_at, head_end) = (ids.len() as i64, head_at + unit.head.len() as i64);
                    let shared = if from > 0 { (head_at, head_end) } else { (0, 0) };
                    for (p, &id) in tokens.iter().enumerate() {
                        ranges.extend([shared.0, shared.1, run_at, run_at + p as i64 + 1]);
                        ids.push(id);
                        positions.push((first_position + p) as i64);
                        slots.push(slot as i64);
                        unit_of[slot] = u as i64;
                        branch[slot] = from;
                        slot += 1;
                    }
                }
            }
        }
        let (count, len) = (count as i64, len as i64);
        Packed {
            ids: Tensor::from_slice(&ids),
            positions: Tensor::from_slice(&positions),
            slots: Tensor::from_slice(&slots),
            rows: count,
            len,
            unit_of,
            branch,
            ranges: Tensor::from_slice(&ranges).view([-1, 4]),
            places,
        }
    }

    /// The index (among the packed tokens) of row `row`'s token at `position`.
    pub fn index(&self, row: usize, position: usize) -> i64 {
        let (head, shared, tail) = self.places[row];
        if position < shared { head + position as i64 } else { tail + (position - shared) as i64 }
    }

    /// Final hidden states of the packed tokens, [n, hidden], with packed
    /// attention ([`Layout::Ranges`]).
    pub fn hidden(&self, model: &Model) -> Result<Tensor> {
        model.hidden_masked(&self.ids, &self.positions, None, Layout::Ranges { ranges: &self.ranges })
    }

    /// The same with libtorch's attention on the padded rows ([`Layout::Packed`]).
    pub fn hidden_padded(&self, model: &Model) -> Result<Tensor> {
        let allowed = self.allowed();
        let layout = Layout::Packed { slots: &self.slots, rows: self.rows, len: self.len, allowed: &allowed };
        model.hidden_masked(&self.ids, &self.positions, None, layout)
    }

    /// The attention mask of the rows × len layout, [rows, 1, len, len]: a
    /// query sees earlier keys of its unit that are in the shared head or in its
    /// own tail; every query sees itself, so no attention row is empty. (Only
    /// the padded layout reads it; [`Packed::ranges`] says the same per token.)
    pub fn allowed(&self) -> Tensor {
        let (count, len) = (self.rows as usize, self.len as usize);
        let (unit_of, branch) = (&self.unit_of, &self.branch);
        let mut allowed = vec![false; count * len * len];
        for b in 0..count {
            for q in 0..len {
                let (qi, row) = (b * len + q, (b * len + q) * len);
                for k in 0..=q {
                    let ki = b * len + k;
                    allowed[row + k] = k == q
                        || (unit_of[qi] >= 0
                            && unit_of[ki] == unit_of[qi]
                            && (branch[ki] == 0 || branch[ki] == branch[qi]));
                }
            }
        }
        Tensor::from_slice(&allowed).view([self.rows, 1, self.len, self.len])
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
        if let Some(r) = batch.sequences.iter().position(|row| row.prompt.is_empty() && !row.completion.is_empty()) {
            return Err(ModelError::new(codes::ROW, format!("row {r}: empty prompt"))
                .help("a completion's first token is predicted from the prompt's last, so log-probs need a prompt"));
        }
        let packed = Packed::new(&batch.sequences, Inputs::AllButLast);
        let hidden = packed.hidden(self)?;
        let (rows, width) = (batch.sequences.len() as i64, batch.targets.size()[1]);
        let (mut source, mut target, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for (r, row) in batch.sequences.iter().enumerate() {
            for (i, &id) in row.completion.iter().enumerate() {
                let predicted_at = (row.prompt.len() + i) as i64 - 1;
                source.push(packed.index(r, predicted_at as usize));
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
        let packed = Packed::new(&batch.sequences, Inputs::All);
        let hidden = packed.hidden(self)?;
        let last: Vec<i64> =
            batch.sequences.iter().enumerate().map(|(r, row)| packed.index(r, row.len().saturating_sub(1))).collect();
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
