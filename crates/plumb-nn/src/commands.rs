//! `plumb logprobs`, `plumb generate` and `plumb score`: read rows, run the
//! model, print text or JSON.

use plumb_cli::nn_args::{GenerateArgs, LogprobsArgs, ScoreArgs};
use plumb_model::error::codes;
use plumb_model::parallel::for_each_shard;
use plumb_model::{Model, ModelError, SampleOptions, Sequence};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// Writes a line to stdout; a closed pipe ends the process quietly.
pub fn emit(line: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(1);
    }
}

/// Reads `{"prompt", "completion"}` rows and tokenises them for `model`; errors name file and line.
pub fn read_rows(path: &Path, model: &Model) -> Result<Vec<Sequence>, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(codes::MISSING, path, &e))?;
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), index + 1);
        let value: Value = serde_json::from_str(line)
            .map_err(|e| ModelError::new(codes::ROW, format!("{at}: not valid JSON ({e})")))?;
        let field = |name: &str| -> Result<&Value, ModelError> {
            value.get(name).filter(|v| v.is_string() || v.is_array()).ok_or_else(|| {
                ModelError::new(codes::ROW, format!("{at}: missing string field \"{name}\""))
                    .help("each line is a JSON object {\"prompt\": \"...\", \"completion\": \"...\"} (or both as lists of {role, content} messages)")
            })
        };
        // Conversations are rendered with the model's chat template (docs/runtime.md).
        let (prompt, completion) = model.row_texts(field("prompt")?, field("completion")?, &at)?;
        rows.push(model.tokenize(&prompt, &completion, &at)?);
    }
    if rows.is_empty() {
        return Err(ModelError::new(codes::ROW, format!("{}: no rows", path.display())));
    }
    Ok(rows)
}

/// `work` on batches of `batch` rows, `threads` batches at a time in
/// parallel (plumb_model::parallel); `each` sees the results in row order as
/// every wave finishes, so output streams for long files.
fn in_waves<T: Send>(
    rows: &[Sequence],
    batch: usize,
    threads: usize,
    work: impl Fn(&[Sequence]) -> Result<Vec<T>, ModelError> + Sync + Send,
    mut each: impl FnMut(T),
) -> Result<(), ModelError> {
    let batch = batch.max(1);
    let threads = threads.max(1);
    for wave in rows.chunks(batch * threads) {
        let batches: Vec<&[Sequence]> = wave.chunks(batch).collect();
        for_each_shard(batches.len(), threads, |b| work(batches[b]))?.into_iter().flatten().for_each(&mut each);
    }
    Ok(())
}

fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { json!(x.to_string()) }
}

pub fn logprobs(args: &LogprobsArgs) -> Result<(), ModelError> {
    let model = Model::load(&args.model)?;
    if model.config.is_reward_model() {
        return Err(ModelError::new(
            codes::HEAD,
            format!("{} is a reward model; it has no log-probs", args.model.display()),
        )
        .help("use `plumb score` for reward models"));
    }
    let rows = read_rows(&args.input, &model)?;
    if !args.json {
        emit(&format!("{:>5}  {:>6}  {:>12}  {:>9}", "row", "tokens", "sum", "mean"));
    }
    let mut index = 0;
    in_waves(
        &rows,
        args.batch,
        args.threads,
        |chunk| model.logprobs(chunk),
        |row| {
            index += 1;
            if args.json {
                let tokens: Vec<Value> = row.tokens.iter().map(|&t| finite(f64::from(t))).collect();
                emit(
                &json!({"sum": finite(row.sum), "mean": finite(row.mean()), "tokens": row.tokens.len(), "token_logprobs": tokens})
                    .to_string(),
            );
            } else {
                emit(&format!("{index:>5}  {:>6}  {:>12.6}  {:>9.5}", row.tokens.len(), row.sum, row.mean()));
            }
        },
    )
}

pub fn generate(args: &GenerateArgs) -> Result<(), ModelError> {
    if args.n == 0 {
        return Err(ModelError::new(codes::OPTION, "--n must be at least 1"));
    }
    let options = SampleOptions {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        max_new: args.max_new,
        seed: args.seed,
    };
    options.validate()?;
    let model = Model::load(&args.model)?;
    if model.config.is_reward_model() {
        return Err(ModelError::new(
            codes::HEAD,
            format!("{} is a reward model; it cannot generate", args.model.display()),
        ));
    }
    if args.prompt.is_empty() {
        return Err(ModelError::new(codes::ROW, "--prompt is empty").help("generation continues a non-empty prompt"));
    }
    let prompt = model.tokenizer.encode(&args.prompt)?;
    let prompts = vec![prompt; args.n];
    let outputs = plumb_model::parallel::generate(&model, &prompts, &options, args.threads)?;
    let mut completions = Vec::with_capacity(outputs.len());
    for ids in &outputs {
        completions.push((model.tokenizer.decode(ids)?, ids));
    }
    if args.json {
        let list: Vec<Value> = completions.iter().map(|(text, ids)| json!({"text": text, "ids": ids})).collect();
        emit(&json!({"completions": list}).to_string());
    } else {
        for (i, (text, _)) in completions.iter().enumerate() {
            if args.n > 1 {
                emit(&format!("--- {}", i + 1));
            }
            emit(&format!("{}{text}", args.prompt));
        }
    }
    Ok(())
}

pub fn score(args: &ScoreArgs) -> Result<(), ModelError> {
    let model = Model::load(&args.model)?;
    if !model.config.is_reward_model() {
        return Err(ModelError::new(
            codes::HEAD,
            format!(
                "{} is a causal LM, not a reward model (its config.json architecture has no score head)",
                args.model.display()
            ),
        )
        .help("reward models are *ForSequenceClassification folders; use `plumb logprobs` for causal LMs"));
    }
    let rows = read_rows(&args.input, &model)?;
    in_waves(
        &rows,
        args.batch,
        args.threads,
        |chunk| model.scores(chunk),
        |score| {
            if args.json {
                emit(&json!({"score": finite(f64::from(score))}).to_string());
            } else {
                emit(&format!("{score:.6}"));
            }
        },
    )
}
