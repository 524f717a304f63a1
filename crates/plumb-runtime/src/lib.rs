//! The foundation of `plumb run`: the project root and path resolution, content
//! hashes, the content-addressed cache under `.plumb/`, SVG charts of training
//! metrics, and progress bars.

pub mod cache;
mod error;
pub mod hash;
pub mod plot;
pub mod progress;
pub mod project;

pub use cache::{Cache, CacheLock, Entry, GcReport, Staging, write_atomic};
pub use error::{Result, RuntimeError, codes};
pub use hash::{Hasher, hash_dir, hash_file, sha256_hex};
pub use plot::{Series, line_chart, write_charts};
pub use progress::bar;
pub use project::Project;
