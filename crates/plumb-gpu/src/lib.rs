//! The GPU backend: a graph is planned into fused passes (`plumb-fuse`), each
//! pass built as a naga module in code ([`shader`]), validated, and run as a
//! wgpu compute pipeline. Scalars between passes and batch-coupled steps run on
//! the host in f64, exactly as in the CPU backend.
//!
//! Invariants: storage is f32, or f64 for graphs compiled with [`compile_f64`]
//! (on devices with `SHADER_F64` and `SHADER_INT64`); one invocation per row (a ragged row's tokens
//! are looped by its invocation, in order); batch sums are reduced per
//! workgroup of [`WORKGROUP`] rows in a fixed tree and the partials added on the
//! host in f64 in a fixed order, so results are bitwise identical across runs
//! and across chunkings; every generated module passes naga's validator before
//! it reaches the device; a missing adapter is an error ([`GpuError::NoAdapter`]),
//! never a panic; no `unsafe`.

#![forbid(unsafe_code)]

mod builder;
mod device;
mod exec;
mod math64;
pub mod sample;
pub mod shader;

pub use exec::{
    CompiledGraph, PassTiming, RunOptions, adapter, compile, compile_f64, release_buffers, supports_f64, time_copy,
    wgsl, wgsl_f64,
};
pub use shader::{Precision, WORKGROUP};

/// Why the GPU backend could not compile or run a graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuError {
    /// No adapter (no GPU, no driver, no Vulkan loader) or no device.
    NoAdapter(String),
    /// The graph uses something the GPU backend does not compile.
    Unsupported(String),
    /// The driver rejected a pipeline (a bug if it happens).
    Pipeline(String),
    /// The device reported an error or was lost.
    Device(String),
    /// Allocation failed on the device.
    OutOfMemory(String),
    /// A batch or buffer beyond the device's limits.
    TooLarge(String),
    /// Inputs do not fit the graph or the batch.
    Input(String),
    /// A host step failed (an index out of range, a domain error).
    Host(String),
}

impl std::fmt::Display for GpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuError::NoAdapter(m) => write!(f, "no GPU available: {m}"),
            GpuError::Unsupported(m) => write!(f, "not supported by the GPU backend: {m}"),
            GpuError::Pipeline(m) => write!(f, "the GPU driver rejected a kernel: {m}"),
            GpuError::Device(m) => write!(f, "GPU error: {m}"),
            GpuError::OutOfMemory(m) => write!(f, "out of GPU memory: {m}"),
            GpuError::TooLarge(m) | GpuError::Input(m) | GpuError::Host(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for GpuError {}
