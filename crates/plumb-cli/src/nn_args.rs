//! Arguments of the commands that run networks (logprobs, generate, score).
//! `plumb` parses them for its help and errors, then hands the command to the
//! `plumb-nn` binary beside it, so only those commands load libtorch.

use clap::Args;
use std::path::PathBuf;

/// The default thread count: every core (results do not depend on it).
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Args, Debug, Clone)]
pub struct LogprobsArgs {
    /// A Hugging Face model folder (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// JSONL rows {"prompt", "completion"}.
    #[arg(long)]
    pub input: PathBuf,
    /// One JSON object per row: {"sum", "mean", "tokens", "token_logprobs"}.
    #[arg(long)]
    pub json: bool,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Threads, each running whole batches with one libtorch thread (results do not depend on it).
    #[arg(long, default_value_t = all_cores())]
    pub threads: usize,
}

#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub prompt: String,
    /// Completions to sample.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Keep only the k most likely tokens (default: all).
    #[arg(long = "top-k")]
    pub top_k: Option<usize>,
    #[arg(long = "top-p", default_value_t = 1.0)]
    pub top_p: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// New tokens at most (generation also stops at the model's EOS token).
    #[arg(long = "max-new", default_value_t = 64)]
    pub max_new: usize,
    /// Print {"completions": [{"text", "ids"}]}.
    #[arg(long)]
    pub json: bool,
    /// Threads, each sampling 4 of the completions with one libtorch thread (results do not depend on it).
    #[arg(long, default_value_t = all_cores())]
    pub threads: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ScoreArgs {
    /// A reward model folder (*ForSequenceClassification).
    #[arg(long)]
    pub model: PathBuf,
    /// JSONL rows {"prompt", "completion"}.
    #[arg(long)]
    pub input: PathBuf,
    /// One {"score"} per row.
    #[arg(long)]
    pub json: bool,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Threads, each running whole batches with one libtorch thread (results do not depend on it).
    #[arg(long, default_value_t = all_cores())]
    pub threads: usize,
}

/// Replaces this process with `plumb-nn` (found beside the running binary) and the same arguments.
pub fn forward_to_nn() -> i32 {
    let name = "plumb-nn";
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    let Some(binary) = beside.filter(|p| p.is_file()) else {
        eprintln!(
            "error: the commands that run networks live in the `{name}` binary, which is not installed beside `plumb`\n  help: build it with `cargo build --release -p plumb-nn` (scripts/demo.sh does)"
        );
        return 1;
    };
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(&binary).args(&args).exec();
        eprintln!("error: cannot start {}: {error}", binary.display());
        1
    }
    #[cfg(not(unix))]
    match std::process::Command::new(&binary).args(&args).status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(error) => {
            eprintln!("error: cannot start {}: {error}", binary.display());
            1
        }
    }
}

/// What decides a recipe's stages and keys, shared by `run` and `status`.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// Override a stage option, e.g. --set train.policy.epochs=1 (repeatable; recorded in the manifest).
    #[arg(long = "set", value_name = "STAGE.OPTION=VALUE")]
    pub sets: Vec<String>,
    /// The run seed; each stage's seed derives from it and the stage's name.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for model stages, each with one libtorch thread (results do not depend on it).
    #[arg(long, default_value_t = all_cores())]
    pub threads: usize,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The recipe to run.
    pub recipe: PathBuf,
    /// Print one JSON object on stdout at the end: {"stages", "manifest", "outputs", "metrics"}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// No progress bars or stage lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    pub recipe: PathBuf,
    /// Print {"stages": [{"name", "status", "reason", "key"}], "stale"}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub plan: PlanArgs,
}

#[derive(Args, Debug, Clone)]
pub struct GcArgs {
    /// A folder inside the project (default: the current folder).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}
