//! The `plumb` command line: argument parsing and the commands. Each command
//! returns its exit code: 0 success, 1 errors in the inputs, 2 command-line misuse.

/// Writes to stdout; a closed pipe (`plumb ... | head`) ends the process quietly.
macro_rules! out {
    ($($arg:tt)*) => { $crate::emit(&format!($($arg)*)) };
}
macro_rules! outln {
    ($($arg:tt)*) => { $crate::emit(&format!("{}\n", format!($($arg)*))) };
}

/// Writes text to stdout; exits with 0 when the reader has gone away.
pub fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(1);
    }
}

pub mod bench;
pub mod eval_loss;
pub mod nn_args;
pub mod pipeline;
pub mod rank;
pub mod render;
pub mod workspace;

use clap::{Parser, Subcommand};
use plumb_db::RootDatabase;
use plumb_diag::{LineIndex, Severity};
use render::FileDiagnostic;
use std::io::Write;
use std::path::PathBuf;

/// Width of rendered diagnostics.
pub const RENDER_WIDTH: usize = 100;

#[derive(Parser, Debug)]
#[command(name = "plumb", version, about = "A language and compiler for preference-alignment pipelines")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Type-check recipes (every *.plumb under the current directory when no path is given).
    Check {
        paths: Vec<PathBuf>,
        /// Print diagnostics as one JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Format recipes in place.
    Fmt {
        paths: Vec<PathBuf>,
        /// List the files that would change and exit 1 if any would; write nothing.
        #[arg(long)]
        check: bool,
    },
    /// Explain a diagnostic code, with a wrong and a right example.
    Explain {
        /// A code such as P0102.
        code: String,
    },
    /// Print compiler intermediate forms.
    Dump {
        #[command(subcommand)]
        what: DumpCommand,
    },
    /// Evaluate a loss and its gradients on rows of model outputs (see docs/stdlib.md for the columns).
    EvalLoss {
        /// A stdlib loss (dpo, ipo, kto, ...) or one defined in --recipe.
        name: String,
        /// A parameter override, e.g. --param beta=0.1 (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// JSONL rows, one object per line.
        #[arg(long)]
        input: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        backend: Backend,
        /// Threads for the CPU backend (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// A recipe whose losses are added (and shadow the stdlib's).
        #[arg(long)]
        recipe: Option<PathBuf>,
        /// Print {"loss", "rows", "grad"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the language server over stdio (for editors; see docs/editors.md).
    Lsp,
    /// Completion log-probs of {"prompt", "completion"} rows under a causal LM (docs/models.md).
    Logprobs(nn_args::LogprobsArgs),
    /// Sample completions of a prompt from a causal LM (docs/models.md).
    Generate(nn_args::GenerateArgs),
    /// Reward-model scores of {"prompt", "completion"} rows (docs/models.md).
    Score(nn_args::ScoreArgs),
    /// Run a recipe: stale stages run, the rest come from the cache (docs/runtime.md).
    Run(nn_args::RunArgs),
    /// List the stages of a recipe that `plumb run` would run, and why; exit 1 when any is stale.
    Status(nn_args::StatusArgs),
    /// Remove cache entries that no recipe's newest run uses.
    Gc(nn_args::GcArgs),
    /// Time the fused forward + backward of a stdlib loss on seeded random inputs.
    Bench {
        name: String,
        /// Rows of the batch.
        #[arg(long)]
        rows: usize,
        /// Tokens per row, for token-level losses (default 64).
        #[arg(long)]
        tokens: Option<usize>,
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        backend: Backend,
        /// Threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Timed runs after the warm-up (at least 5; the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print {"median_ms", "rows", "tokens", "threads", "gbps"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fit a preference model over items (pairwise CSV or JSONL rankings) and print the leaderboard (docs/ratings.md).
    Rank {
        /// CSV `item_a,item_b,winner` (a|b|tie) or `item_a,item_b,wins_a,wins_b[,ties]`, or JSONL rankings, best first.
        file: PathBuf,
        /// The model (default: bt for pairwise CSV, pl for JSONL rankings).
        #[arg(long, value_enum)]
        model: Option<rank::RankModel>,
        /// Adds (λ/2)·Σθ² to the negative log-likelihood.
        #[arg(long, default_value_t = 0.0)]
        l2: f64,
        /// The item whose ability is fixed at 0 (default: abilities sum to zero).
        #[arg(long)]
        reference: Option<String>,
        /// Count each tie as half a win for each side (bt, thurstone).
        #[arg(long, value_enum)]
        ties: Option<rank::RankTies>,
        /// Bootstrap resamples for 95% percentile intervals (needs --seed).
        #[arg(long)]
        bootstrap: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
        /// Where the fit's kernels run (the Newton steps stay on the CPU).
        #[arg(long, value_enum, default_value_t = rank::RankBackend::Cpu)]
        backend: rank::RankBackend,
        /// Print {"items": [{"item", "ability", "se", "ci"?}], "loglik", "iterations", "tie_param"?}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DumpCommand {
    /// The compute IR of a recipe's losses: the forward graph and the gradient graph.
    Ir {
        recipe: PathBuf,
        /// Only this loss (it may also be a stdlib loss).
        #[arg(long)]
        loss: Option<String>,
    },
    /// The WGSL of the GPU kernels of a recipe's losses (forward and backward fused).
    Wgsl {
        recipe: PathBuf,
        /// Only this loss (it may also be a stdlib loss).
        #[arg(long)]
        loss: Option<String>,
    },
}

/// Where kernels run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The f64 reference interpreter.
    Interp,
    /// The cranelift CPU JIT.
    Cpu,
    /// The wgpu GPU backend.
    Gpu,
}

pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check { paths, json } => check(&paths, json),
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Explain { code } => explain(&code),
        Command::Dump { what: DumpCommand::Ir { recipe, loss } } => dump(&recipe, loss.as_deref(), DumpForm::Ir),
        Command::Dump { what: DumpCommand::Wgsl { recipe, loss } } => dump(&recipe, loss.as_deref(), DumpForm::Wgsl),
        Command::Lsp => plumb_lsp::run_stdio(),
        Command::Logprobs(_) | Command::Generate(_) | Command::Score(_) | Command::Run(_) => nn_args::forward_to_nn(),
        Command::Status(args) => pipeline::status(&args.recipe, &args.plan, args.json),
        Command::Gc(args) => pipeline::gc(&args.dir),
        Command::Bench { name, rows, tokens, params, backend, threads, runs, json } => {
            bench_command(&name, rows, tokens, &params, backend, threads, runs, json)
        }
        Command::Rank { file, model, l2, reference, ties, bootstrap, seed, backend, json } => {
            let request = rank::RankRequest {
                file: &file,
                model,
                l2,
                reference: reference.as_deref(),
                ties,
                bootstrap,
                seed,
                backend,
                json,
            };
            rank::rank_command(&request)
        }
        Command::EvalLoss { name, params, input, backend, threads, recipe, json } => {
            let threads = threads.unwrap_or_else(plumb_cpu::default_threads);
            eval_loss_command(&name, &params, &input, backend, threads, recipe.as_deref(), json)
        }
    }
}

fn targets(paths: &[PathBuf]) -> Result<Vec<String>, i32> {
    let paths = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() };
    match workspace::expand(&paths) {
        Ok(files) => Ok(files.iter().map(|f| workspace::display_path(f)).collect()),
        Err(message) => {
            eprintln!("error: {message}");
            Err(2)
        }
    }
}

/// The result of checking: per file, its text and diagnostics.
pub struct Checked {
    pub files: Vec<(String, String, Vec<plumb_diag::Diagnostic>)>,
}

/// Checks files (and what they import) and returns their diagnostics.
pub fn check_paths(roots: &[String]) -> Checked {
    check_paths_with(roots, true)
}

/// [`check_paths`], optionally without opening the data files the recipes name:
/// `plumb run` opens those only once it has confined their paths to the project.
pub fn check_paths_with(roots: &[String], data_files: bool) -> Checked {
    let mut db = RootDatabase::default();
    let loaded = workspace::load(&mut db, roots);
    let mut files = Vec::new();
    for file in loaded {
        let diagnostics = match &file.error {
            Some(error) => vec![error.clone()],
            None => match db.file(&file.path) {
                Some(input) => {
                    let mut diagnostics = plumb_hir::file_diagnostics(&db, input).to_vec();
                    let base = std::path::Path::new(&file.path).parent().unwrap_or(std::path::Path::new("."));
                    if data_files {
                        diagnostics.extend(plumb_hir::check_data_files(&db, input, base));
                    }
                    diagnostics.sort_by_key(|d| (d.span().start, d.code));
                    diagnostics
                }
                None => Vec::new(),
            },
        };
        files.push((file.path, file.text, diagnostics));
    }
    Checked { files }
}

fn check(paths: &[PathBuf], json: bool) -> i32 {
    let roots = match targets(paths) {
        Ok(roots) => roots,
        Err(code) => return code,
    };
    if roots.is_empty() {
        eprintln!("error: no *.plumb files found");
        return 2;
    }
    let checked = check_paths(&roots);
    let (mut errors, mut warnings) = (0, 0);
    let mut json_out = Vec::new();
    let mut stderr = std::io::stderr().lock();
    for (path, text, diagnostics) in &checked.files {
        let index = LineIndex::new(text);
        for diagnostic in diagnostics {
            match diagnostic.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            let item = FileDiagnostic { path, text, diagnostic };
            if json {
                json_out.push(render::to_json(&item, &index));
            } else {
                let _ = write!(stderr, "{}", render::render(&item, RENDER_WIDTH));
            }
        }
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&json_out).unwrap_or_else(|_| "[]".into()));
    } else {
        let _ = writeln!(
            stderr,
            "checked {} file{}: {errors} error{}, {warnings} warning{}",
            checked.files.len(),
            if checked.files.len() == 1 { "" } else { "s" },
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" },
        );
    }
    i32::from(errors > 0)
}

/// Writes a file atomically: a temporary file beside it, then a rename.
pub fn write_atomic(path: &str, contents: &str) -> std::io::Result<()> {
    let target = std::path::Path::new(path);
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let temporary = dir.join(format!(".{name}.plumb-tmp-{}", std::process::id()));
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, target).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

fn fmt(paths: &[PathBuf], check_only: bool) -> i32 {
    let files = match targets(paths) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let mut status = 0;
    let mut stderr = std::io::stderr().lock();
    for path in files {
        let loaded = workspace::read(&path);
        let syntax_errors: Vec<plumb_diag::Diagnostic> = match &loaded.error {
            Some(error) => vec![error.clone()],
            None => plumb_syntax::parse_file(&loaded.text).diagnostics.into_iter().filter(|d| d.is_error()).collect(),
        };
        if !syntax_errors.is_empty() {
            for diagnostic in &syntax_errors {
                let item = FileDiagnostic { path: &path, text: &loaded.text, diagnostic };
                let _ = write!(stderr, "{}", render::render(&item, RENDER_WIDTH));
            }
            let _ = writeln!(stderr, "{path}: not formatted: fix the syntax errors first");
            status = 1;
            continue;
        }
        let formatted = plumb_fmt::format(&loaded.text);
        if formatted == loaded.text {
            continue;
        }
        if check_only {
            outln!("{path}");
            status = 1;
        } else if let Err(error) = write_atomic(&path, &formatted) {
            let _ = writeln!(stderr, "error: cannot write {path}: {error}");
            status = 1;
        }
    }
    status
}

fn explain(code: &str) -> i32 {
    let Some(info) = plumb_diag::lookup(code) else {
        eprintln!("error: unknown code `{code}`; codes look like P0102 (see docs/diagnostics.md)");
        return 2;
    };
    outln!("{}: {}\n\n{}\n", info.code, info.title, info.explanation.trim());
    outln!("Wrong:\n\n{}\n", indent(info.wrong));
    outln!("Right:\n\n{}", indent(info.right));
    0
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| if l.is_empty() { String::new() } else { format!("    {l}") })
        .collect::<Vec<_>>()
        .join("\n")
}

fn eval_loss_command(
    name: &str,
    params: &[String],
    input: &std::path::Path,
    backend: Backend,
    threads: usize,
    recipe: Option<&std::path::Path>,
    json: bool,
) -> i32 {
    if threads == 0 {
        eprintln!("error: --threads must be at least 1");
        return 2;
    }
    let Some(overrides) = parse_overrides(params) else { return 2 };
    let rows = match std::fs::read(input) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                eprintln!("error[P0511]: {} is not valid UTF-8", input.display());
                return 1;
            }
        },
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", input.display());
            return 2;
        }
    };
    let request = eval_loss::EvalRequest { loss: name, params: overrides, rows_jsonl: &rows, recipe };
    match eval_loss::eval_loss_on(&request, backend, threads) {
        Ok(output) => {
            if json {
                outln!("{}", eval_loss::to_json(&output));
            } else {
                outln!("loss  {}", output.loss);
                if let Some(rows) = &output.rows {
                    let shown: Vec<String> = rows.iter().map(|r| r.map_or("-".into(), |v| format!("{v:.6}"))).collect();
                    outln!("rows  [{}]", shown.join(", "));
                }
                for (column, grad) in &output.grad {
                    let shown = match grad {
                        eval_loss::GradColumn::Rows(v) => format!("{v:.6?}"),
                        eval_loss::GradColumn::Tokens(v) => format!("{v:.6?}"),
                    };
                    outln!("grad  {column}: {shown}");
                }
            }
            0
        }
        Err(error) => {
            eprintln!("error[{}]: {}", error.code, error.message);
            if let Some(info) = plumb_diag::lookup(error.code) {
                eprintln!("  help: {} (plumb explain {})", info.title, error.code);
            }
            1
        }
    }
}

/// What `plumb dump` prints.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DumpForm {
    Ir,
    Wgsl,
}

fn dump(recipe: &std::path::Path, only: Option<&str>, form: DumpForm) -> i32 {
    let path = workspace::display_path(recipe);
    if !recipe.is_file() {
        eprintln!("error: no such file: {path}");
        return 2;
    }
    let checked = check_paths(std::slice::from_ref(&path));
    let mut failed = false;
    for (file_path, text, diagnostics) in &checked.files {
        for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
            failed = true;
            eprint!("{}", render::render(&FileDiagnostic { path: file_path, text, diagnostic }, RENDER_WIDTH));
        }
    }
    if failed {
        return 1;
    }
    let mut db = RootDatabase::default();
    let names: Vec<String> = match only {
        Some(name) => vec![name.to_string()],
        None => {
            workspace::load(&mut db, std::slice::from_ref(&path));
            let Some(file) = db.file(&path) else { return 1 };
            plumb_hir::own_defs(&db, file)
                .iter()
                .filter(|(_, d)| d.kind == plumb_hir::DefKind::Loss)
                .map(|(n, _)| n.clone())
                .collect()
        }
    };
    if names.is_empty() {
        eprintln!("{path} defines no loss; name one with --loss");
        return 1;
    }
    for name in names {
        let result = eval_loss::resolve_loss(&mut db, &name, Some(recipe)).and_then(|resolved| {
            let params = eval_loss::parameter_values(&resolved.loss, &[])?;
            eval_loss::compile(&resolved, &params)
        });
        match result {
            Ok((lowered, with_grad)) if form == DumpForm::Ir => {
                outln!("// {name}: forward");
                out!("{}", lowered.graph.pruned());
                let mut gradient = with_grad.clone();
                gradient.outputs.retain(|(n, _)| n.starts_with("grad."));
                outln!("// {name}: gradient");
                out!("{}", gradient.pruned());
            }
            Ok((_, with_grad)) => match plumb_gpu::wgsl(&with_grad) {
                Ok(text) => {
                    outln!("// {name}: fused forward + backward kernels");
                    out!("{text}");
                }
                Err(error) => {
                    eprintln!("error: {name}: {error}");
                    return 1;
                }
            },
            Err(error) => {
                eprintln!("error[{}]: {}", error.code, error.message);
                return 1;
            }
        }
    }
    0
}

#[allow(clippy::too_many_arguments)]
fn bench_command(
    name: &str,
    rows: usize,
    tokens: Option<usize>,
    params: &[String],
    backend: Backend,
    threads: Option<usize>,
    runs: usize,
    json: bool,
) -> i32 {
    let threads = threads.unwrap_or_else(plumb_cpu::default_threads);
    if threads == 0 {
        eprintln!("error: --threads must be at least 1");
        return 2;
    }
    let Some(overrides) = parse_overrides(params) else { return 2 };
    let request = bench::BenchRequest { loss: name, params: overrides, rows, tokens, backend, threads, runs };
    match bench::bench(&request) {
        Ok(result) => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({
                        "median_ms": result.median_ms,
                        "rows": result.rows,
                        "tokens": result.tokens,
                        "threads": result.threads,
                        "gbps": result.gbps,
                    })
                );
            } else {
                outln!(
                    "{name}: {:.3} ms median for {} rows{} on {} ({} thread{}, {} kernel{}), {:.2} GB/s",
                    result.median_ms,
                    result.rows,
                    result.tokens.map(|t| format!(" x {t} tokens")).unwrap_or_default(),
                    result.backend,
                    result.threads,
                    if result.threads == 1 { "" } else { "s" },
                    result.kernels,
                    if result.kernels == 1 { "" } else { "s" },
                    result.gbps
                );
            }
            0
        }
        Err(error) => {
            eprintln!("error[{}]: {}", error.code, error.message);
            1
        }
    }
}

/// `NAME=VALUE` pairs from `--param`; None (after saying why) on misuse.
fn parse_overrides(params: &[String]) -> Option<Vec<(String, String)>> {
    let mut overrides = Vec::new();
    for param in params {
        let Some((key, value)) = param.split_once('=') else {
            eprintln!("error: --param takes NAME=VALUE, found `{param}`");
            return None;
        };
        overrides.push((key.trim().to_string(), value.trim().to_string()));
    }
    Some(overrides)
}
