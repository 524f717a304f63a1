//! From a checked recipe to results: the stage graph (`plan`), each stage's
//! content-addressed key, the scheduler that runs stale stages through an
//! `Executor` and serves the rest from the cache, the data stages (load, split)
//! that need no model, and run manifests.

pub mod data;
pub mod plan;
pub mod ratings;
pub mod schedule;

pub use plan::{Input, Plan, PlanError, Stage, StageKind, build};
pub use schedule::{Executor, InputDir, RunOptions, RunReport, StageContext, StageRecord, run, status};
