//! The local executor of `plumb run`: model stages (copying a model folder,
//! judges), reference log-probs, training with a compiled objective, and
//! evaluation metrics. Data stages are run by plumb-plan itself.

use crate::objective::Objective;
use crate::train::{Example, StepMetrics, Threads, TrainOptions, train};
use plumb_model::parallel::{self, for_each_shard};
use plumb_model::{AdamWConfig, Decay, Model, ModelError, SampleOptions, Sequence};
use plumb_plan::plan::{Metric, StageKind, Truncation};
use plumb_plan::{Executor, StageContext};
use plumb_runtime::{RuntimeError, write_atomic};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Code of a stage that failed while running (a model error keeps its own code).
const FAILED: &str = plumb_plan::schedule::STAGE_FAILED;

fn from_model(error: ModelError) -> RuntimeError {
    RuntimeError { code: error.code, message: error.message, help: error.help }
}

/// The way back, for errors that cross a shard thread (plumb_model::parallel).
fn to_model(error: RuntimeError) -> ModelError {
    ModelError { code: error.code, message: error.message, help: error.help }
}

/// Runs model stages data-parallel: `torch_threads` threads, each with one
/// libtorch thread, over shards whose boundaries depend only on the data
/// (plumb_model::parallel), so results do not depend on the thread count.
pub struct LocalExecutor {
    pub torch_threads: usize,
}

/// The completion of `slot` for row `i` (text or messages): a field of the
/// row, or for `kl` (KTO's mismatched pairs) the next row's completion.
fn completion_value<'a>(rows: &'a [Value], i: usize, slot: &str) -> Result<&'a Value, RuntimeError> {
    let (row, field) = match slot {
        "kl" => (&rows[(i + 1) % rows.len()], "completion"),
        other => (&rows[i], other),
    };
    match &row[field] {
        Value::Null => {
            Err(RuntimeError::new("P0820", format!("row {}: no field `{field}`, which the loss reads", i + 1)))
        }
        value => Ok(value),
    }
}

/// Prompt and completion text of row `i`'s `slot`, conversations rendered with the model's chat template.
fn texts(model: &Model, rows: &[Value], i: usize, slot: &str) -> Result<(String, String), RuntimeError> {
    let at = format!("row {}", i + 1);
    model.row_texts(&rows[i]["prompt"], completion_value(rows, i, slot)?, &at).map_err(from_model)
}

/// Tokenises row `i`'s `slot`, truncated as the train stage asks: the prompt
/// keeps its last `max_prompt_len` tokens, the completion its first tokens up to `max_len` in all.
fn tokenize(
    model: &Model,
    rows: &[Value],
    i: usize,
    slot: &str,
    at: &str,
    truncation: Truncation,
) -> Result<Sequence, RuntimeError> {
    let (p, c) = texts(model, rows, i, slot)?;
    if truncation == Truncation::default() {
        return model.tokenize(&p, &c, at).map_err(from_model);
    }
    if p.is_empty() || c.is_empty() {
        return model.tokenize(&p, &c, at).map_err(from_model);
    }
    let mut prompt = model.tokenizer.encode(&p).map_err(from_model)?;
    let mut completion = model.tokenizer.encode(&c).map_err(from_model)?;
    if let Some(keep) = truncation.max_prompt_len {
        let keep = keep as usize;
        if prompt.len() > keep {
            prompt.drain(..prompt.len() - keep);
        }
    }
    if let Some(max) = truncation.max_len {
        let room = (max as usize).saturating_sub(prompt.len());
        if room == 0 {
            return Err(RuntimeError::new(
                "P0706",
                format!(
                    "{at}: the prompt's {} tokens leave no room for the completion within max_len = {max}",
                    prompt.len()
                ),
            )
            .help("raise max_len, or set max_prompt_len below it"));
        }
        completion.truncate(room);
    }
    let sequence = Sequence { prompt, completion };
    model.check_context(&sequence, at).map_err(from_model)?;
    Ok(sequence)
}

fn ref_column(slot: &str) -> String {
    if slot == "completion" { "ref".into() } else { format!("ref_{slot}") }
}

/// A model input's folder.
fn model_dir(ctx: &StageContext, role: &str) -> Result<PathBuf, RuntimeError> {
    Ok(ctx.input(role)?.dir.join("model"))
}

fn load(dir: &Path) -> Result<Model, RuntimeError> {
    Model::load(dir).map_err(from_model)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), RuntimeError> {
    std::fs::create_dir_all(to).map_err(|e| RuntimeError::io(FAILED, "create", to, &e))?;
    let entries = std::fs::read_dir(from).map_err(|e| RuntimeError::io(FAILED, "read", from, &e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| RuntimeError::io(FAILED, "read", &path, &e))?;
            write_atomic(to.join(entry.file_name()), &bytes)?;
        }
    }
    Ok(())
}

/// A judge that scores text: the programmatic one, or a reward model.
enum Judge {
    Sentiment,
    Reward(Box<Model>),
}

impl Judge {
    fn open(ctx: &StageContext, role: &str) -> Result<Judge, RuntimeError> {
        let dir = &ctx.input(role)?.dir;
        if dir.join("judge.json").exists() {
            return Ok(Judge::Sentiment);
        }
        Ok(Judge::Reward(Box::new(load(&dir.join("model"))?)))
    }

    fn scores(&self, prompt: &str, completions: &[String], threads: usize) -> Result<Vec<f64>, RuntimeError> {
        match self {
            Judge::Sentiment => {
                Ok(completions.iter().map(|c| plumb_judge::sentiment(&format!("{prompt}{c}"))).collect())
            }
            Judge::Reward(model) => {
                let rows: Vec<Sequence> = completions
                    .iter()
                    .map(|c| {
                        let c = if c.is_empty() { " " } else { c.as_str() };
                        model.tokenize(prompt, c, "generated completion")
                    })
                    .collect::<Result<_, _>>()
                    .map_err(from_model)?;
                Ok(parallel::scores(model, &rows, threads).map_err(from_model)?.into_iter().map(f64::from).collect())
            }
        }
    }
}

fn progress(ctx: &StageContext, len: u64) -> indicatif::ProgressBar {
    let bar = plumb_runtime::bar(len, &ctx.stage.name, ctx.quiet);
    bar.set_prefix(ctx.stage.name.clone());
    bar
}

/// JSON lines, each ended by a newline.
fn jsonl(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Appends `line` and a newline to the file at `path` (no sync).
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

fn distinct_prompts(model: &Model, rows: &[Value], limit: usize) -> Result<Vec<String>, RuntimeError> {
    let mut seen = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let p = model.prompt_text(&row["prompt"], &format!("row {}", i + 1)).map_err(from_model)?;
        if !seen.contains(&p) {
            seen.push(p);
        }
        if seen.len() == limit {
            break;
        }
    }
    Ok(seen)
}

/// Samples one continuation of each prompt: (the prompt's ids as used, the new ids).
fn sample_ids(
    model: &Model,
    prompts: &[String],
    seed: u64,
    max_new: usize,
    threads: usize,
) -> Result<Vec<Sequence>, RuntimeError> {
    // A prompt longer than the context allows keeps its last tokens (metrics sample from any prompt).
    let context = model.config.max_positions;
    let max_new = max_new.min(context / 2).max(1);
    let mut ids: Vec<Vec<i64>> =
        prompts.iter().map(|p| model.tokenizer.encode(p)).collect::<Result<_, _>>().map_err(from_model)?;
    for prompt in &mut ids {
        if prompt.len() + max_new > context {
            prompt.drain(..prompt.len() + max_new - context);
        }
    }
    let options = SampleOptions { max_new, seed, ..SampleOptions::default() };
    let out = parallel::generate(model, &ids, &options, threads).map_err(from_model)?;
    Ok(ids.into_iter().zip(out).map(|(prompt, completion)| Sequence { prompt, completion }).collect())
}

fn sample(model: &Model, prompts: &[String], seed: u64, max_new: usize) -> Result<Vec<String>, RuntimeError> {
    sample_ids(model, prompts, seed, max_new, 1)?
        .iter()
        .map(|s| model.tokenizer.decode(&s.completion))
        .collect::<Result<_, _>>()
        .map_err(from_model)
}

/// Mean over samples of log π(y) − log π_ref(y): a Monte-Carlo estimate of KL(π ‖ π_ref).
fn kl_estimate(
    policy: &Model,
    reference: &Model,
    prompts: &[String],
    seed: u64,
    threads: usize,
) -> Result<f64, RuntimeError> {
    let rows: Vec<Sequence> =
        sample_ids(policy, prompts, seed, 32, threads)?.into_iter().filter(|s| !s.completion.is_empty()).collect();
    if rows.is_empty() {
        return Ok(0.0);
    }
    let a = parallel::logprobs(policy, &rows, threads, |_| ()).map_err(from_model)?;
    let b = parallel::logprobs(reference, &rows, threads, |_| ()).map_err(from_model)?;
    Ok(a.iter().zip(&b).map(|(x, y)| x.sum - y.sum).sum::<f64>() / rows.len() as f64)
}

/// The input role an eval metric gave one of its model parameters.
fn metric_input<'a>(metric: &'a Metric, role: &str) -> Result<&'a str, RuntimeError> {
    metric
        .models
        .get(role)
        .map(String::as_str)
        .ok_or_else(|| RuntimeError::new(FAILED, format!("the metric `{}` has no `{role}` model", metric.name)))
}

impl LocalExecutor {
    fn ref_logprobs(
        &self,
        ctx: &StageContext,
        slots: &[String],
        truncation: Truncation,
    ) -> Result<Value, RuntimeError> {
        let reference = load(&model_dir(ctx, "reference")?)?;
        let rows = plumb_plan::data::read_rows(&ctx.rows_path("data")?)?;
        let bar = progress(ctx, rows.len() as u64);
        let mut out = vec![serde_json::Map::new(); rows.len()];
        for slot in slots {
            let sequences: Vec<Sequence> = (0..rows.len())
                .map(|i| tokenize(&reference, &rows, i, slot, &format!("row {}", i + 1), truncation))
                .collect::<Result<_, _>>()?;
            let per_slot = slots.len().max(1);
            let done = |n: usize| bar.inc((n / per_slot) as u64);
            let logprobs = parallel::logprobs(&reference, &sequences, self.torch_threads, done).map_err(from_model)?;
            for (row, lp) in out.iter_mut().zip(logprobs) {
                row.insert(ref_column(slot), json!(lp.sum));
            }
        }
        bar.finish_and_clear();
        let rows_out: Vec<Value> = out.into_iter().map(Value::Object).collect();
        plumb_plan::data::write_rows(&ctx.out.join("ref.jsonl"), &rows_out)?;
        Ok(json!({"rows": rows_out.len(), "slots": slots}))
    }

    fn train(&self, ctx: &StageContext) -> Result<Value, RuntimeError> {
        let StageKind::Train {
            loss,
            params,
            optimizer,
            schedule,
            warmup,
            batch,
            micro_batch,
            epochs,
            max_steps,
            grad_clip,
            checkpoint_every,
            kl_every,
            truncation,
            ..
        } = &ctx.stage.kind
        else {
            unreachable!("called for train stages")
        };
        let overrides: Vec<(String, String)> = params.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        let recipe = ctx.project.recipe.clone();
        let objective = Objective::compile(loss, &overrides, Some(&recipe))
            .map_err(|e| RuntimeError::new(e.code, format!("loss `{loss}`: {}", e.message)))?;
        let mut model = load(&model_dir(ctx, "model")?)?;
        let rows = plumb_plan::data::read_rows(&ctx.rows_path("data")?)?;
        let refs = match ctx.input("ref_logprobs") {
            Ok(input) => plumb_plan::data::read_rows(&input.dir.join("ref.jsonl"))?,
            Err(_) => Vec::new(),
        };
        let columns: Vec<String> = objective.columns().iter().map(|c| c.name.clone()).collect();
        let slots: Vec<String> = columns
            .iter()
            .filter_map(|c| {
                if c == "pi" || c == "r" {
                    Some("completion".to_string())
                } else {
                    c.strip_prefix("pi_").or_else(|| c.strip_prefix("r_")).map(String::from)
                }
            })
            .collect();
        let mut examples = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            let at = format!("row {} of {}", i + 1, ctx.input("data")?.stage);
            let mut prompt_ids = None;
            let mut completions = BTreeMap::new();
            for slot in &slots {
                let sequence = tokenize(&model, &rows, i, slot, &at, *truncation)?;
                prompt_ids.get_or_insert(sequence.prompt);
                completions.insert(slot.clone(), sequence.completion);
            }
            let p = match prompt_ids {
                Some(ids) => ids,
                None => {
                    let text = model.prompt_text(&rows[i]["prompt"], &at).map_err(from_model)?;
                    model.tokenizer.encode(&text).map_err(from_model)?
                }
            };
            let mut fixed = BTreeMap::new();
            for column in &columns {
                let value = if column.starts_with("ref") {
                    refs.get(i).and_then(|r| r[column].as_f64())
                } else {
                    match &rows[i][column] {
                        Value::Bool(b) => Some(f64::from(u8::from(*b))),
                        v => v.as_f64(),
                    }
                };
                if let Some(v) = value {
                    fixed.insert(column.clone(), v as f32);
                }
            }
            examples.push(Example { prompt: p, completions, fixed });
        }
        let accumulation = (*batch / (*micro_batch).max(1)).max(1) as usize;
        let options = TrainOptions {
            batch_size: (*micro_batch).max(1) as usize,
            grad_accum: accumulation,
            epochs: *epochs as usize,
            max_steps: *max_steps,
            lr: optimizer["lr"],
            warmup_steps: *warmup,
            decay: match schedule.as_str() {
                "cosine" => Decay::Cosine,
                "linear" => Decay::Linear,
                _ => Decay::Constant,
            },
            adamw: AdamWConfig {
                beta1: optimizer["beta1"],
                beta2: optimizer["beta2"],
                eps: optimizer["eps"],
                weight_decay: optimizer["weight_decay"],
                max_grad_norm: Some(*grad_clip),
            },
            seed: ctx.seed,
            threads: Threads { objective: 1, model: self.torch_threads },
            checkpoint: Some(ctx.checkpoints.join("checkpoint.safetensors")),
            checkpoint_every: *checkpoint_every,
        };
        std::fs::create_dir_all(&ctx.checkpoints)
            .map_err(|e| RuntimeError::io(FAILED, "create", &ctx.checkpoints, &e))?;
        let reference = match ctx.input("reference") {
            Ok(input) => Some(load(&input.dir.join("model"))?),
            Err(_) => None,
        };
        let kl_prompts = distinct_prompts(&model, &rows, 8)?;
        let per_step = options.batch_size * options.grad_accum;
        let total = options.total_steps(examples.len());
        let kl_every = match kl_every {
            Some(0) => None,
            Some(n) => Some(*n),
            None => Some((total / 10).max(1)),
        };
        let bar = progress(ctx, total);
        let metrics_path = ctx.checkpoints.join("metrics.jsonl");
        let mut lines: Vec<String> =
            std::fs::read_to_string(&metrics_path).map(|t| t.lines().map(String::from).collect()).unwrap_or_default();
        let resumed = options.resume_step();
        lines.retain(|l| {
            serde_json::from_str::<Value>(l).ok().and_then(|v| v["step"].as_u64()).is_some_and(|s| s <= resumed)
        });
        // Lines past the checkpoint (from the killed run) leave the file before new ones are appended.
        if metrics_path.exists() {
            write_atomic(&metrics_path, jsonl(&lines).as_bytes())?;
        }
        let start = Instant::now();
        let mut failure: Option<RuntimeError> = None;
        let threads = self.torch_threads;
        let mut on_step = |m: &StepMetrics, model: &Model| {
            let mut row =
                json!({"step": m.step, "epoch": m.epoch, "loss": m.loss, "lr": m.lr, "grad_norm": m.grad_norm});
            if let Some(margin) = m.margin {
                row["margin"] = json!(margin);
            }
            if let Some(accuracy) = m.accuracy {
                row["accuracy"] = json!(accuracy);
            }
            if let Some(reference) = &reference
                && let Some(every) = kl_every
                && (m.step.is_multiple_of(every) || m.step == m.total_steps)
            {
                match kl_estimate(model, reference, &kl_prompts, ctx.seed ^ m.step, threads) {
                    Ok(kl) => row["kl"] = json!(kl),
                    Err(e) => failure = Some(e),
                }
            }
            lines.push(row.to_string());
            // Metrics survive a killed run next to the checkpoint, trimmed to its step on resume:
            // durably (written whole, synced, renamed) just before each checkpoint, which is
            // all a resume reads; in between, each line is appended without a sync (a line
            // cut short by a kill does not parse and is dropped on resume).
            if options.checkpoints_at(m.step, m.total_steps) {
                let _ = write_atomic(&metrics_path, jsonl(&lines).as_bytes());
            } else {
                let _ = append_line(&metrics_path, &lines[lines.len() - 1]);
            }
            bar.set_position(m.step);
            bar.set_message(format!("loss {:.4}", m.loss));
        };
        let result = train(&mut model, &objective, &examples, &options, &mut on_step);
        bar.finish_and_clear();
        if let Some(error) = failure {
            return Err(error);
        }
        result.map_err(|e| {
            let mut error = from_model(e);
            if error.message.contains(" is NaN")
                || error.message.contains(" is inf")
                || error.message.contains(" is -inf")
            {
                error.help = Some(format!(
                    "the loss `{loss}` of stage `{}` became non-finite: look for a domain error in it (the log of a value ≤ 0, a division by 0) or lower the learning rate",
                    ctx.stage.name
                ));
            }
            error
        })?;
        model.save(&ctx.out.join("model")).map_err(from_model)?;
        write_atomic(ctx.out.join("metrics.jsonl"), jsonl(&lines).as_bytes())?;
        let rows_json: Vec<Value> = lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let last = rows_json.last().cloned().unwrap_or(Value::Null);
        let seconds = start.elapsed().as_secs_f64();
        let steps_run = total.saturating_sub(resumed);
        Ok(json!({
            "steps": total,
            "examples": examples.len(),
            "loss_first": rows_json.first().map_or(Value::Null, |r| r["loss"].clone()),
            "loss_last": last["loss"],
            "accuracy_last": last["accuracy"],
            "margin_last": last["margin"],
            "kl_last": rows_json.iter().rev().find_map(|r| r.get("kl").cloned()).unwrap_or(Value::Null),
            (plumb_plan::schedule::RUN_FACTS): {
                "seconds": seconds,
                "examples_per_second": if seconds > 0.0 { (steps_run as f64 * per_step as f64) / seconds } else { 0.0 },
                "resumed_from_step": resumed,
            },
        }))
    }

    fn eval(&self, ctx: &StageContext, metrics: &[Metric]) -> Result<Value, RuntimeError> {
        let model = load(&model_dir(ctx, "model")?)?;
        let rows = plumb_plan::data::read_rows(&ctx.rows_path("data")?)?;
        let prompts = distinct_prompts(&model, &rows, 64)?;
        let mut out = serde_json::Map::new();
        let bar = progress(ctx, metrics.len() as u64);
        for metric in metrics {
            let value = match metric.name.as_str() {
                "reward_accuracy" | "reward_margin" => {
                    let margins = self.margins(ctx, &model, &rows)?;
                    let n = margins.len().max(1) as f64;
                    if metric.name == "reward_accuracy" {
                        json!(margins.iter().filter(|&&m| m > 0.0).count() as f64 / n)
                    } else {
                        json!(margins.iter().sum::<f64>() / n)
                    }
                }
                "win_rate" => {
                    let vs = load(&ctx.input(metric_input(metric, "vs")?)?.dir.join("model"))?;
                    let judge = Judge::open(ctx, metric_input(metric, "judge")?)?;
                    // One prompt per shard: each samples on its own, so the numbers do not depend on threads.
                    let scored = for_each_shard(prompts.len(), self.torch_threads, |i| {
                        let p = &prompts[i];
                        let seed = ctx.seed.wrapping_add(i as u64);
                        let a = sample(&model, std::slice::from_ref(p), seed, 48).map_err(to_model)?.remove(0);
                        let b = sample(&vs, std::slice::from_ref(p), seed, 48).map_err(to_model)?.remove(0);
                        judge.scores(p, &[a, b], 1).map_err(to_model)
                    })
                    .map_err(from_model)?;
                    let mut wins = 0.0;
                    let (mut mine, mut theirs) = (0.0, 0.0);
                    for s in scored {
                        wins += if s[0] > s[1] {
                            1.0
                        } else if s[0] == s[1] {
                            0.5
                        } else {
                            0.0
                        };
                        mine += s[0];
                        theirs += s[1];
                    }
                    let n = prompts.len().max(1) as f64;
                    // The judge's mean score of each side's samples, so the gain is visible in numbers.
                    out.insert("judge_score".into(), json!(mine / n));
                    out.insert("judge_score_vs".into(), json!(theirs / n));
                    json!(wins / n)
                }
                "mean_reward" => {
                    let judge = Judge::open(ctx, metric_input(metric, "judge")?)?;
                    let scores = for_each_shard(prompts.len(), self.torch_threads, |i| {
                        let p = &prompts[i];
                        let a = sample(&model, std::slice::from_ref(p), ctx.seed.wrapping_add(i as u64), 48)
                            .map_err(to_model)?;
                        Ok(judge.scores(p, &a, 1).map_err(to_model)?[0])
                    })
                    .map_err(from_model)?;
                    json!(scores.iter().sum::<f64>() / prompts.len().max(1) as f64)
                }
                "kl_to" => {
                    let reference = load(&ctx.input(metric_input(metric, "reference")?)?.dir.join("model"))?;
                    json!(kl_estimate(&model, &reference, &prompts, ctx.seed, self.torch_threads)?)
                }
                other => return Err(RuntimeError::new(FAILED, format!("unknown metric `{other}`"))),
            };
            out.insert(metric.name.clone(), value);
            bar.inc(1);
        }
        bar.finish_and_clear();
        let value = Value::Object(out);
        write_atomic(
            ctx.out.join("metrics.json"),
            serde_json::to_string_pretty(&value).unwrap_or_default().as_bytes(),
        )?;
        Ok(value)
    }

    /// Per pair: the reward model's score difference, or the policy's implicit reward margin.
    fn margins(&self, ctx: &StageContext, model: &Model, rows: &[Value]) -> Result<Vec<f64>, RuntimeError> {
        let mut sequences = Vec::new();
        for i in 0..rows.len() {
            for slot in ["chosen", "rejected"] {
                sequences.push(tokenize(model, rows, i, slot, &format!("row {}", i + 1), Truncation::default())?);
            }
        }
        let threads = self.torch_threads;
        let values: Vec<f64> = if model.config.is_reward_model() {
            parallel::scores(model, &sequences, threads).map_err(from_model)?.into_iter().map(f64::from).collect()
        } else {
            parallel::logprobs(model, &sequences, threads, |_| ())
                .map_err(from_model)?
                .into_iter()
                .map(|l| l.sum)
                .collect()
        };
        let refs = if model.config.is_reward_model() {
            Vec::new()
        } else {
            plumb_plan::data::read_rows(&ctx.input("ref_logprobs")?.dir.join("ref.jsonl"))?
        };
        Ok(values
            .chunks(2)
            .enumerate()
            .map(|(i, v)| match refs.get(i) {
                Some(r) => {
                    (v[0] - r["ref_chosen"].as_f64().unwrap_or(0.0))
                        - (v[1] - r["ref_rejected"].as_f64().unwrap_or(0.0))
                }
                None => v[0] - v[1],
            })
            .collect())
    }
}

impl Executor for LocalExecutor {
    fn execute(&self, ctx: &StageContext) -> Result<Value, RuntimeError> {
        // Stages spread over threads themselves, one libtorch thread each.
        tch::set_num_threads(1);
        tch::manual_seed(ctx.seed as i64);
        match &ctx.stage.kind {
            StageKind::Model { path, .. } => {
                let source = ctx.project.resolve(path)?;
                let model = load(&source)?;
                copy_dir(&source, &ctx.out.join("model"))?;
                Ok(
                    json!({"architecture": format!("{:?}", model.config.arch), "parameters": model.parameters().iter().map(|(_, t)| t.numel()).sum::<usize>()}),
                )
            }
            StageKind::Judge { name } => {
                write_atomic(ctx.out.join("judge.json"), json!({"judge": name}).to_string().as_bytes())?;
                Ok(json!({"judge": name}))
            }
            StageKind::RefLogprobs { slots, truncation } => self.ref_logprobs(ctx, slots, *truncation),
            StageKind::Train { .. } => self.train(ctx),
            StageKind::Eval { metrics, .. } => self.eval(ctx, metrics),
            StageKind::Generate { field, n, temperature, top_k, top_p, max_new, .. } => {
                let model = load(&model_dir(ctx, "model")?)?;
                let rows = plumb_plan::data::read_rows(&ctx.rows_path("data")?)?;
                let bar = progress(ctx, rows.len() as u64);
                // One row per shard: a row's samples are the same on any number of threads.
                let out = for_each_shard(rows.len(), self.torch_threads, |i| {
                    // A conversation is rendered with the chat template, ending in the generation prompt.
                    let prompt = match &rows[i][field.as_str()] {
                        Value::Null => {
                            return Err(ModelError::new(
                                "P0820",
                                format!("row {}: no field `{field}` to generate from", i + 1),
                            ));
                        }
                        value => model.prompt_text(value, &format!("row {}", i + 1))?,
                    };
                    let ids = model.tokenizer.encode(&prompt)?;
                    let room = model.config.max_positions.saturating_sub(ids.len());
                    let options = SampleOptions {
                        temperature: *temperature,
                        top_k: (*top_k > 0).then_some(*top_k as usize),
                        top_p: *top_p,
                        max_new: (*max_new as usize).min(room).max(1),
                        seed: ctx.seed.wrapping_add(i as u64),
                    };
                    let samples = model.generate(&vec![ids; *n as usize], &options)?;
                    let texts: Vec<String> =
                        samples.iter().map(|s| model.tokenizer.decode(s)).collect::<Result<_, _>>()?;
                    bar.inc(1);
                    Ok(json!({"prompt": prompt, "completions": texts}))
                })
                .map_err(from_model)?;
                bar.finish_and_clear();
                plumb_plan::data::write_rows(&ctx.out.join("rows.jsonl"), &out)?;
                Ok(json!({"prompts": out.len(), "per_prompt": n}))
            }
            StageKind::Score => {
                let judge = Judge::open(ctx, "scorer")?;
                let rows = plumb_plan::data::read_rows(&ctx.rows_path("data")?)?;
                let bar = progress(ctx, rows.len() as u64);
                let scored = for_each_shard(rows.len(), self.torch_threads, |i| {
                    let row = &rows[i];
                    let prompt = row["prompt"].as_str().unwrap_or("");
                    let completions: Vec<String> = row["completions"]
                        .as_array()
                        .map(|c| c.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                        .unwrap_or_default();
                    let scores = judge.scores(prompt, &completions, 1).map_err(to_model)?;
                    bar.inc(1);
                    Ok((prompt.to_string(), completions, scores))
                })
                .map_err(from_model)?;
                let mut out = Vec::with_capacity(rows.len());
                let mut total = 0.0;
                let mut count = 0;
                for (prompt, completions, scores) in scored {
                    total += scores.iter().sum::<f64>();
                    count += scores.len();
                    out.push(json!({"prompt": prompt, "completions": completions, "scores": scores}));
                }
                bar.finish_and_clear();
                plumb_plan::data::write_rows(&ctx.out.join("rows.jsonl"), &out)?;
                Ok(json!({"prompts": out.len(), "mean_score": total / count.max(1) as f64}))
            }
            StageKind::Load { .. }
            | StageKind::Split { .. }
            | StageKind::Select { .. }
            | StageKind::Pair { .. }
            | StageKind::Fit { .. }
            | StageKind::Leaderboard { .. } => plumb_plan::schedule::execute_data_stage(ctx),
        }
    }

    fn environment(&self) -> BTreeMap<String, String> {
        plumb_plan::schedule::model_environment()
    }
}
