//! The commands that run networks, behind the `plumb-nn` binary: log-probs,
//! generation, reward scores, training with compiled objectives, and building
//! the embedded default models.

pub mod commands;
pub mod default_models;
pub mod objective;
pub mod run;
pub mod stages;
pub mod train;

/// Prints a model error to stderr and returns the exit code: 2 for a bad option, else 1.
pub fn report(error: &plumb_model::ModelError) -> i32 {
    eprintln!("{error}");
    if error.code == plumb_model::error::codes::OPTION { 2 } else { 1 }
}
