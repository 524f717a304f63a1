//! The `plumb-nn` binary: `plumb logprobs|generate|score` run here (plumb hands them over), plus make-default-models.

use clap::{Parser, Subcommand};
use plumb_cli::nn_args::{GenerateArgs, LogprobsArgs, RunArgs, ScoreArgs};

#[derive(Parser, Debug)]
#[command(name = "plumb", version, about = "Plumb's commands that run networks (libtorch)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Logprobs(LogprobsArgs),
    Generate(GenerateArgs),
    Score(ScoreArgs),
    Run(RunArgs),
    /// Rebuild the embedded default models and demo data (models/, examples/data/) from the review corpus.
    MakeDefaultModels(plumb_nn::default_models::MakeArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Command::Run(args) = &cli.command {
        std::process::exit(plumb_nn::run::run(args));
    }
    // The commands spread batches over their own threads, one libtorch thread each.
    tch::set_num_threads(1);
    let result = match &cli.command {
        Command::Logprobs(args) => plumb_nn::commands::logprobs(args),
        Command::Generate(args) => plumb_nn::commands::generate(args),
        Command::Score(args) => plumb_nn::commands::score(args),
        Command::MakeDefaultModels(args) => plumb_nn::default_models::make(args),
        Command::Run(_) => unreachable!("handled above"),
    };
    std::process::exit(match result {
        Ok(()) => 0,
        Err(error) => plumb_nn::report(&error),
    });
}
