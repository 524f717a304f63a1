//! The runtime's error: a diagnostic code, a message naming the path, and an optional help line.

use std::fmt;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeError {
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

impl RuntimeError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        RuntimeError { code, message: message.into(), help: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// An I/O failure while doing `what` on `path`.
    pub fn io(code: &'static str, what: &str, path: &Path, error: &std::io::Error) -> Self {
        let why = match error.kind() {
            std::io::ErrorKind::NotFound => "not found".to_string(),
            _ => error.to_string(),
        };
        RuntimeError::new(code, format!("cannot {what} {}: {why}", path.display()))
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuntimeError {}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Error codes of the runtime (`P0801`–`P0809`; the scheduler adds the rest).
pub mod codes {
    /// A recipe path resolves outside the project root.
    pub const OUTSIDE_ROOT: &str = "P0801";
    /// An I/O failure in the project's files or the cache (reading, hashing, writing, renaming).
    pub const IO: &str = "P0802";
    /// The project's lock (`.plumb/lock`) could not be taken.
    pub const LOCK: &str = "P0803";
}
