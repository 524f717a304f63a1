//! The CPU backend: a graph is planned into fused passes (`plumb-fuse`), each
//! pass compiled by cranelift to f32x4 machine code, and run over fixed chunks
//! of rows on any number of threads. Batch sums are combined chunk by chunk in
//! a fixed tree, so results are bitwise identical for every thread count.
//! Scalars between passes and batch-coupled steps run on the host in f64.
//!
//! [`compile_f64`] compiles row-level graphs to f64 (f64x2 lanes) instead, whose
//! per-row values are bitwise the interpreter's (for the rating fits).
//!
//! Invariants: storage is f32 (f64 with `compile_f64`), batch accumulation f64; the chunking depends on
//! the batch, never on the thread count; compiled graphs are cached by the
//! hash of their text; [`exec::call_kernel`] is the one place that runs
//! generated code, after checking every buffer it hands over.

mod codegen;
mod codegen64;
mod exec;
pub mod math;
mod math64;

pub use exec::{
    CHUNK_ROWS, CHUNK_ROWS_RAGGED, CompiledGraph, CpuError, Element, OutputData, Outputs, compile, compile_f64,
    compile_unpipelined, default_threads,
};
