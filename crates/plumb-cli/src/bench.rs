//! `plumb bench`: times the fused forward + backward of a stdlib loss on seeded
//! random inputs, the median of several runs after a warm-up, input generation
//! excluded.

use crate::Backend;
use crate::eval_loss::{EvalError, compile, parameter_values, resolve_loss};
use plumb_db::RootDatabase;
use plumb_interp::Batch;
use plumb_ir::Shape;
use plumb_lower::ColumnKind;
use std::time::Instant;

pub struct BenchRequest<'a> {
    pub loss: &'a str,
    pub params: Vec<(String, String)>,
    pub rows: usize,
    pub tokens: Option<usize>,
    pub backend: Backend,
    pub threads: usize,
    pub runs: usize,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchResult {
    pub median_ms: f64,
    pub rows: usize,
    pub tokens: Option<usize>,
    pub threads: usize,
    /// Bytes of inputs read plus gradients written, per second, in GB/s.
    pub gbps: f64,
    pub kernels: usize,
    pub backend: String,
}

/// A small seeded generator (xorshift64*), so inputs are the same every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 40) as f32 / (1u64 << 24) as f32
    }
}

pub fn bench(request: &BenchRequest) -> Result<BenchResult, EvalError> {
    let mut db = RootDatabase::default();
    let resolved = resolve_loss(&mut db, request.loss, None)?;
    let params = parameter_values(&resolved.loss, &request.params)?;
    let (lowered, graph) = compile(&resolved, &params)?;
    let tokens_per_row = if lowered.uses_tokens { Some(request.tokens.unwrap_or(64)) } else { None };
    let batch = match tokens_per_row {
        Some(t) => Batch::with_tokens(&vec![t; request.rows]),
        None => Batch::rows(request.rows),
    };
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let inputs: Vec<Vec<f32>> = graph
        .inputs
        .iter()
        .map(|input| {
            let column = lowered.columns.iter().find(|c| c.name == input.name);
            let kind = column.map_or(ColumnKind::Number, |c| c.kind);
            (0..batch.len(input.shape))
                .map(|_| match kind {
                    ColumnKind::Count => 1.0 + (rng.next() * 200.0).floor(),
                    ColumnKind::Bool => f32::from(u8::from(rng.next() < 0.5)),
                    ColumnKind::Mask => f32::from(u8::from(rng.next() < 0.9)),
                    ColumnKind::Number
                        if input.name.starts_with("pi")
                            || input.name.starts_with("ref")
                            || input.name.contains("logp") =>
                    {
                        -1.0 - rng.next() * 200.0
                    }
                    ColumnKind::Number => rng.next() * 4.0 - 2.0,
                })
                .collect()
        })
        .collect();
    let read: usize = inputs.iter().map(|v| v.len() * 4).sum();
    let written: usize = graph
        .outputs
        .iter()
        .filter(|(n, _)| n.starts_with("grad."))
        .map(|(_, id)| batch.len(graph.shape(*id)) * 4)
        .sum();
    let runs = request.runs.max(5);
    let mut times = Vec::with_capacity(runs);
    let kernels;
    match request.backend {
        Backend::Cpu => {
            let compiled =
                plumb_cpu::compile(&graph).map_err(|e| EvalError { code: "P0513", message: e.to_string() })?;
            kernels = compiled.kernel_count();
            // As in training, gradient buffers are reused from step to step.
            let mut outputs = plumb_cpu::Outputs::default();
            let run = |outputs: &mut plumb_cpu::Outputs| {
                compiled
                    .run_into(&batch, &inputs, request.threads, outputs)
                    .map_err(|e| EvalError { code: "P0513", message: e.to_string() })
            };
            run(&mut outputs)?;
            for _ in 0..runs {
                let start = Instant::now();
                run(&mut outputs)?;
                times.push(start.elapsed().as_secs_f64());
                std::hint::black_box(&outputs);
            }
        }
        Backend::Interp => {
            kernels = graph.nodes.len();
            let inputs64: Vec<Vec<f64>> = inputs.iter().map(|v| v.iter().map(|&x| f64::from(x)).collect()).collect();
            let run = || {
                plumb_interp::run(&graph, &batch, &inputs64)
                    .map_err(|e| EvalError { code: "P0513", message: e.to_string() })
            };
            run()?;
            for _ in 0..runs {
                let start = Instant::now();
                std::hint::black_box(run()?);
                times.push(start.elapsed().as_secs_f64());
            }
        }
        Backend::Gpu => {
            let gpu_error = |e: plumb_gpu::GpuError| EvalError { code: "P0514", message: e.to_string() };
            let compiled = plumb_gpu::compile(&graph).map_err(gpu_error)?;
            kernels = compiled.kernel_count();
            // Passes only, inputs already on the device (host steps between passes excluded).
            compiled.time_passes(&batch, &inputs, 1).map_err(gpu_error)?;
            for _ in 0..runs {
                times.push(compiled.time_passes(&batch, &inputs, 1).map_err(gpu_error)?.seconds);
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let _ = Shape::Rows;
    Ok(BenchResult {
        median_ms: median * 1e3,
        rows: request.rows,
        tokens: tokens_per_row,
        threads: request.threads,
        gbps: (read + written) as f64 / median / 1e9,
        kernels,
        backend: format!("{:?}", request.backend).to_lowercase(),
    })
}
