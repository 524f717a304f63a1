//! The `plumb` binary: parses arguments and exits with the command's code.

use clap::Parser;

fn main() {
    let cli = plumb_cli::Cli::parse();
    std::process::exit(plumb_cli::run(cli));
}
