//! Compiling plans to pipelines, and running a compiled graph: host steps in
//! f64 (the interpreter's `eval_node`, as the CPU backend), passes as compute
//! dispatches chunked over rows, batch sums from per-workgroup partials added
//! on the host in a fixed pairwise tree.
//!
//! Transfers are batched: inputs are written once per run; stores stay on the
//! device until a host step or an output needs them; every readback of a step
//! (partials and buffers) is one submission and one wait.

use crate::GpuError;
use crate::device::{self, Context, Pipeline, PooledBuffer};
use crate::shader::{self, Binding, Layout, Precision, SlotKind, WORKGROUP};
use plumb_fuse::{Kernel, Plan, Step};
use plumb_interp::Batch;
use plumb_ir::{Axis, Graph, NodeId, Op, Reduce, Shape};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

/// Bytes between the per-dispatch records of the info buffer (the offset alignment).
const INFO_STRIDE: u64 = 256;

struct GpuKernel {
    kernel: Kernel,
    layout: Layout,
    pipeline: Arc<Pipeline>,
}

/// A graph compiled for the GPU.
pub struct CompiledGraph {
    pub graph: Graph,
    pub plan: Plan,
    /// f32 graphs run with [`CompiledGraph::run`], f64 graphs with [`CompiledGraph::run_f64`].
    pub precision: Precision,
    kernels: Vec<GpuKernel>,
    /// The pipeline-cache key (module hash) of each kernel.
    pub kernel_hashes: Vec<u64>,
    ctx: Arc<Context>,
}

impl std::fmt::Debug for CompiledGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompiledGraph({}, {} kernels)", self.graph.name, self.kernels.len())
    }
}

/// Overrides for how passes are split into dispatches (tests force small chunks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// The largest storage binding to use, in bytes (default: the device's limit).
    pub max_binding_bytes: Option<u64>,
    /// The most workgroups per dispatch (default: the device's limit).
    pub max_workgroups: Option<u32>,
}

/// Times of the fused passes of one graph, the inputs already on the device.
#[derive(Clone, Debug, PartialEq)]
pub struct PassTiming {
    /// Seconds per run of all passes (host steps between passes excluded).
    pub seconds: f64,
    /// Bytes the passes read and write per run (loads, stores, offsets).
    pub bytes: u64,
    /// Dispatches per run.
    pub dispatches: usize,
}

fn cache() -> &'static Mutex<HashMap<u64, Arc<CompiledGraph>>> {
    static CACHE: OnceLock<Mutex<HashMap<u64, Arc<CompiledGraph>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

fn text_hash(graph: &Graph, precision: Precision) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    graph.to_string().hash(&mut hasher);
    precision.hash(&mut hasher);
    hasher.finish()
}

/// Compiles a graph to f32 kernels (cached by the hash of its text form;
/// pipelines are cached by the hash of each kernel's module). Fails with
/// [`GpuError::NoAdapter`] where no GPU (or software Vulkan) is available.
pub fn compile(graph: &Graph) -> Result<Arc<CompiledGraph>, GpuError> {
    compile_with(graph, Precision::F32)
}

/// Compiles a graph to f64 kernels, for work that needs more than f32's
/// precision (the rating fits' Newton iterations). Fails with
/// [`GpuError::Unsupported`] on a device without `SHADER_F64` and `SHADER_INT64`.
pub fn compile_f64(graph: &Graph) -> Result<Arc<CompiledGraph>, GpuError> {
    compile_with(graph, Precision::F64)
}

fn compile_with(graph: &Graph, precision: Precision) -> Result<Arc<CompiledGraph>, GpuError> {
    let graph = graph.pruned();
    let key = text_hash(&graph, precision);
    if let Some(hit) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(hit);
    }
    let plan = plumb_fuse::plan(&graph);
    // Build and validate every module before touching the device.
    let mut modules = Vec::new();
    for kernel in plan.kernels() {
        let (module, _, layout) = shader::build(&graph, kernel, precision).map_err(|e| GpuError::Unsupported(e.0))?;
        modules.push((kernel.clone(), module, layout));
    }
    let ctx = device::context()?;
    let needed = wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64;
    if precision == Precision::F64 && !ctx.features.contains(needed) {
        return Err(GpuError::Unsupported(format!(
            "f64 kernels need 64-bit floats and integers in shaders (SHADER_F64, SHADER_INT64); {} has {:?}",
            ctx.describe(),
            ctx.features & needed
        )));
    }
    let mut kernels = Vec::new();
    let mut kernel_hashes = Vec::new();
    for (kernel, module, layout) in modules {
        let storage = layout.bindings.len() as u32;
        if storage > ctx.limits.max_storage_buffers_per_shader_stage {
            return Err(GpuError::Unsupported(format!(
                "pass {} needs {storage} storage buffers; the device allows {}",
                kernel.index, ctx.limits.max_storage_buffers_per_shader_stage
            )));
        }
        let label = format!("{}_pass{}", graph.name, kernel.index);
        let (hash, pipeline) = ctx.pipeline(&module, &label)?;
        kernel_hashes.push(hash);
        kernels.push(GpuKernel { kernel, layout, pipeline });
    }
    let compiled = Arc::new(CompiledGraph { graph, plan, precision, kernels, kernel_hashes, ctx });
    if let Ok(mut c) = cache().lock() {
        c.insert(key, compiled.clone());
    }
    Ok(compiled)
}

/// The generated WGSL of every fused pass of a graph (naga's WGSL backend), one
/// module per pass with a comment naming it. Needs no device.
pub fn wgsl(graph: &Graph) -> Result<String, GpuError> {
    wgsl_with(graph, Precision::F32)
}

/// [`wgsl`] of the f64 kernels (naga's WGSL with its `f64` and `u64` extensions).
pub fn wgsl_f64(graph: &Graph) -> Result<String, GpuError> {
    wgsl_with(graph, Precision::F64)
}

fn wgsl_with(graph: &Graph, precision: Precision) -> Result<String, GpuError> {
    let graph = graph.pruned();
    let plan = plumb_fuse::plan(&graph);
    let mut out = String::new();
    for kernel in plan.kernels() {
        let (module, info, layout) =
            shader::build(&graph, kernel, precision).map_err(|e| GpuError::Unsupported(e.0))?;
        let text = shader::to_wgsl(&module, &info).map_err(|e| GpuError::Unsupported(e.0))?;
        let names: Vec<String> = layout
            .bindings
            .iter()
            .enumerate()
            .map(|(i, b)| match b {
                Binding::Load(id) => format!("{i}: load %{}", id.0),
                Binding::Store(id) => format!("{i}: store %{}", id.0),
                other => format!("{i}: {}", format!("{other:?}").to_lowercase()),
            })
            .collect();
        out.push_str(&format!(
            "// graph {}, pass {}{}: {} nodes; bindings {}\n",
            graph.name,
            kernel.index,
            if kernel.ragged { " (ragged)" } else { "" },
            kernel.nodes.len(),
            names.join(", ")
        ));
        out.push_str(&text);
        out.push('\n');
    }
    Ok(out)
}

/// Where a value is during a run.
enum Held {
    Host(Vec<f64>),
    /// On the device: a run buffer and its length in values.
    Device(usize, usize),
    /// A batch reduction whose partials are on the device.
    Pending(PendingReduce),
}

#[derive(Clone, Copy)]
struct PendingReduce {
    /// The partials buffer (a run buffer).
    buffer: usize,
    groups: usize,
    slots: usize,
    sum_slot: Option<usize>,
    count_slot: Option<usize>,
    op: Reduce,
    masked: bool,
}

/// One dispatch of a pass over a range of rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Chunk {
    row_start: usize,
    rows: usize,
    /// First token (candidate) bound, aligned; and how many are bound.
    tok: (usize, usize),
    k: (usize, usize),
}

/// A recorded pass, for timing.
struct Recorded {
    pipeline: Arc<Pipeline>,
    dispatches: Vec<(wgpu::BindGroup, u32)>,
    bytes: u64,
}

/// A run's inputs, in the graph's precision.
#[derive(Clone, Copy)]
enum Inputs<'a> {
    F32(&'a [Vec<f32>]),
    F64(&'a [Vec<f64>]),
}

impl Inputs<'_> {
    fn lengths(&self) -> Vec<usize> {
        match self {
            Inputs::F32(v) => v.iter().map(Vec::len).collect(),
            Inputs::F64(v) => v.iter().map(Vec::len).collect(),
        }
    }

    fn precision(&self) -> Precision {
        match self {
            Inputs::F32(_) => Precision::F32,
            Inputs::F64(_) => Precision::F64,
        }
    }

    fn values(&self, i: usize) -> Vec<f64> {
        match self {
            Inputs::F32(v) => v[i].iter().map(|&x| f64::from(x)).collect(),
            Inputs::F64(v) => v[i].clone(),
        }
    }

    fn bytes(&self, i: usize) -> &[u8] {
        match self {
            Inputs::F32(v) => bytemuck::cast_slice(&v[i]),
            Inputs::F64(v) => bytemuck::cast_slice(&v[i]),
        }
    }

    fn count(&self) -> usize {
        match self {
            Inputs::F32(v) => v.len(),
            Inputs::F64(v) => v.len(),
        }
    }
}

/// Host values as device bytes of a precision.
fn encode(values: &[f64], precision: Precision) -> Vec<u8> {
    match precision {
        Precision::F32 => {
            let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            bytemuck::cast_slice(&v).to_vec()
        }
        Precision::F64 => bytemuck::cast_slice(values).to_vec(),
    }
}

/// Device bytes of a precision as host values.
fn decode(bytes: &[u8], precision: Precision) -> Vec<f64> {
    match precision {
        Precision::F32 => bytemuck::pod_collect_to_vec::<u8, f32>(bytes).into_iter().map(f64::from).collect(),
        Precision::F64 => bytemuck::pod_collect_to_vec::<u8, f64>(bytes),
    }
}

struct Runner<'a> {
    compiled: &'a CompiledGraph,
    ctx: &'a Context,
    batch: &'a Batch,
    inputs: Inputs<'a>,
    /// Bytes per float value.
    width: u64,
    options: RunOptions,
    held: HashMap<NodeId, Held>,
    buffers: Vec<PooledBuffer>,
    uploaded_inputs: HashMap<usize, usize>,
    encoder: Option<wgpu::CommandEncoder>,
    record: Option<Vec<Recorded>>,
}

impl CompiledGraph {
    /// The number of fused passes.
    pub fn kernel_count(&self) -> usize {
        self.plan.kernel_count()
    }

    /// The adapter this graph runs on.
    pub fn adapter(&self) -> String {
        self.ctx.describe()
    }

    /// Runs an f32 graph. `inputs[i]` holds `graph.inputs[i]` in f32; outputs
    /// are returned by name, in f64.
    pub fn run(&self, batch: &Batch, inputs: &[Vec<f32>]) -> Result<Vec<(String, Vec<f64>)>, GpuError> {
        self.run_with(batch, inputs, RunOptions::default())
    }

    /// [`CompiledGraph::run`] with chunking overrides.
    pub fn run_with(
        &self,
        batch: &Batch,
        inputs: &[Vec<f32>],
        options: RunOptions,
    ) -> Result<Vec<(String, Vec<f64>)>, GpuError> {
        self.run_inputs(batch, Inputs::F32(inputs), options)
    }

    /// Runs an f64 graph ([`compile_f64`]).
    pub fn run_f64(&self, batch: &Batch, inputs: &[Vec<f64>]) -> Result<Vec<(String, Vec<f64>)>, GpuError> {
        self.run_f64_with(batch, inputs, RunOptions::default())
    }

    /// [`CompiledGraph::run_f64`] with chunking overrides.
    pub fn run_f64_with(
        &self,
        batch: &Batch,
        inputs: &[Vec<f64>],
        options: RunOptions,
    ) -> Result<Vec<(String, Vec<f64>)>, GpuError> {
        self.run_inputs(batch, Inputs::F64(inputs), options)
    }

    fn run_inputs(
        &self,
        batch: &Batch,
        inputs: Inputs,
        options: RunOptions,
    ) -> Result<Vec<(String, Vec<f64>)>, GpuError> {
        let mut runner = Runner::new(self, batch, inputs, options, false)?;
        let result = runner.run();
        runner.release();
        result
    }

    /// Runs an f32 graph once, then times `repeats` runs of its passes alone
    /// (one submission, inputs and host scalars as in the first run).
    pub fn time_passes(&self, batch: &Batch, inputs: &[Vec<f32>], repeats: usize) -> Result<PassTiming, GpuError> {
        let mut runner = Runner::new(self, batch, Inputs::F32(inputs), RunOptions::default(), true)?;
        let result = runner.run().and_then(|_| runner.time(repeats.max(1)));
        runner.release();
        result
    }
}

/// Seconds per device-to-device copy of `bytes` bytes (the bandwidth floor the
/// passes are compared with), over `repeats` copies in one submission.
pub fn time_copy(bytes: u64, repeats: usize) -> Result<f64, GpuError> {
    let ctx = device::context()?;
    let bytes = bytes.max(4).next_multiple_of(4);
    let a = ctx.acquire(bytes, device::STORAGE)?;
    let b = ctx.acquire(bytes, device::STORAGE)?;
    let copy = |n: usize| -> Result<f64, GpuError> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for _ in 0..n {
            encoder.copy_buffer_to_buffer(&a.buffer, 0, &b.buffer, 0, bytes);
        }
        let start = std::time::Instant::now();
        ctx.queue.submit([encoder.finish()]);
        ctx.wait()?;
        Ok(start.elapsed().as_secs_f64())
    };
    copy(1)?;
    let seconds = copy(repeats.max(1))? / repeats.max(1) as f64;
    ctx.release(a);
    ctx.release(b);
    Ok(seconds)
}

/// Drops the buffers the pool keeps between runs (they are reused by later
/// runs of similar batches otherwise).
pub fn release_buffers() {
    if let Ok(ctx) = device::context() {
        ctx.clear_pool();
    }
}

/// The adapter description, or why there is none.
pub fn adapter() -> Result<String, GpuError> {
    device::context().map(|c| c.describe())
}

/// Whether the device runs f64 kernels ([`compile_f64`]): it has 64-bit floats
/// and integers in shaders.
pub fn supports_f64() -> Result<bool, GpuError> {
    let needed = wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64;
    device::context().map(|c| c.features.contains(needed))
}

/// Offsets beyond what the GPU's u32 indices address (the layout itself is checked by the batch).
fn check_offsets(batch: &Batch) -> Result<(), GpuError> {
    for (name, offsets) in [("token", &batch.tok_offsets), ("candidate", &batch.k_offsets)] {
        if offsets.last().copied().unwrap_or(0) > u32::MAX as usize {
            return Err(GpuError::TooLarge(format!("more than 2^32 {name}s in one batch")));
        }
    }
    Ok(())
}

/// Sums in a fixed pairwise tree: the same order for every run and chunking.
fn tree_sum(values: &[f64]) -> f64 {
    match values.len() {
        0 => 0.0,
        1 => values[0],
        n => tree_sum(&values[..n / 2]) + tree_sum(&values[n / 2..]),
    }
}

/// Splits `rows` into dispatches: whole workgroups, at most `max_groups` of them,
/// every binding (rows, offsets, the span of tokens) within `max_elems` values.
fn plan_chunks(
    batch: &Batch,
    tokens: bool,
    cands: bool,
    max_elems: usize,
    max_groups: usize,
    align: usize,
) -> Result<Vec<Chunk>, GpuError> {
    let group = WORKGROUP as usize;
    let max_rows = (max_groups * group).min((max_elems.saturating_sub(1) / group) * group);
    if max_rows == 0 {
        return Err(GpuError::TooLarge("the storage binding limit is below one workgroup of rows".into()));
    }
    let span = |offsets: &[usize], s: usize, e: usize| -> (usize, usize) {
        let base = offsets[s] / align * align;
        (base, offsets[e] - base)
    };
    let fits = |s: usize, e: usize| -> bool {
        (!tokens || span(&batch.tok_offsets, s, e).1 <= max_elems)
            && (!cands || span(&batch.k_offsets, s, e).1 <= max_elems)
    };
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < batch.rows {
        let mut end = (start + max_rows).min(batch.rows);
        if !fits(start, end) {
            // The most whole workgroups that fit (binary search; at least one must).
            let (mut lo, mut hi) = (0usize, (end - start).div_ceil(group));
            while lo + 1 < hi {
                let mid = (lo + hi) / 2;
                if fits(start, (start + mid * group).min(batch.rows)) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            if lo == 0 {
                return Err(GpuError::TooLarge(format!(
                    "rows {start}..{} hold more tokens than one storage binding allows ({max_elems} values)",
                    (start + group).min(batch.rows)
                )));
            }
            end = (start + lo * group).min(batch.rows);
        }
        let tok = if tokens { span(&batch.tok_offsets, start, end) } else { (0, 0) };
        let k = if cands { span(&batch.k_offsets, start, end) } else { (0, 0) };
        chunks.push(Chunk { row_start: start, rows: end - start, tok, k });
        start = end;
    }
    Ok(chunks)
}

impl<'a> Runner<'a> {
    fn new(
        compiled: &'a CompiledGraph,
        batch: &'a Batch,
        inputs: Inputs<'a>,
        options: RunOptions,
        record: bool,
    ) -> Result<Self, GpuError> {
        let graph = &compiled.graph;
        if inputs.precision() != compiled.precision {
            return Err(GpuError::Input(format!(
                "`{}` was compiled for {:?} inputs, not {:?}",
                graph.name,
                compiled.precision,
                inputs.precision()
            )));
        }
        batch.check_inputs(graph, &inputs.lengths()).map_err(GpuError::Input)?;
        check_offsets(batch)?;
        Ok(Runner {
            compiled,
            ctx: &compiled.ctx,
            batch,
            inputs,
            width: compiled.precision.bytes(),
            options,
            held: HashMap::new(),
            buffers: Vec::new(),
            uploaded_inputs: HashMap::new(),
            encoder: None,
            record: record.then(Vec::new),
        })
    }

    fn release(&mut self) {
        self.encoder = None;
        self.record = None;
        for b in self.buffers.drain(..) {
            self.ctx.release(b);
        }
    }

    fn run(&mut self) -> Result<Vec<(String, Vec<f64>)>, GpuError> {
        let compiled = self.compiled;
        let mut kernel_index = 0;
        for step in &compiled.plan.steps {
            match step {
                Step::Host(ids) => {
                    for id in ids {
                        let value = self.host_node(*id)?;
                        self.held.insert(*id, Held::Host(value));
                    }
                }
                Step::HostOp(id) => {
                    let value = self.host_node(*id)?;
                    self.held.insert(*id, Held::Host(value));
                }
                Step::Pass(_) => {
                    let kernel = &compiled.kernels[kernel_index];
                    kernel_index += 1;
                    self.run_pass(kernel)?;
                }
            }
        }
        let graph = &compiled.graph;
        let ids: Vec<NodeId> = graph.outputs.iter().map(|(_, id)| *id).collect();
        self.materialize(&ids)?;
        let mut outputs = Vec::new();
        for (name, id) in &graph.outputs {
            let value = match self.held.get(id) {
                Some(Held::Host(v)) => v.clone(),
                _ => match graph.node(*id).op {
                    Op::Input(i) => self.inputs.values(i as usize),
                    _ => {
                        let v = self.host_node(*id)?;
                        self.held.insert(*id, Held::Host(v.clone()));
                        v
                    }
                },
            };
            outputs.push((name.clone(), value));
        }
        self.ctx.take_errors()?;
        Ok(outputs)
    }

    fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        let device = &self.ctx.device;
        self.encoder.get_or_insert_with(|| device.create_command_encoder(&Default::default()))
    }

    fn new_buffer(&mut self, bytes: u64) -> Result<usize, GpuError> {
        let b = self.ctx.acquire(bytes, device::STORAGE)?;
        self.buffers.push(b);
        Ok(self.buffers.len() - 1)
    }

    /// A run buffer holding `data` (at least `min_bytes` long).
    fn upload(&mut self, data: &[u8], min_bytes: u64) -> Result<usize, GpuError> {
        let bytes = (data.len() as u64).max(min_bytes).max(4);
        let index = self.new_buffer(bytes)?;
        if !data.is_empty() {
            self.ctx.queue.write_buffer(&self.buffers[index].buffer, 0, data);
        }
        Ok(index)
    }

    /// Brings every value among `ids` that is on the device to the host, in one
    /// submission and one wait.
    fn materialize(&mut self, ids: &[NodeId]) -> Result<(), GpuError> {
        let mut wanted: Vec<(usize, u64)> = Vec::new();
        for id in ids {
            match self.held.get(id) {
                Some(Held::Device(b, len)) => wanted.push((*b, *len as u64 * self.width)),
                Some(Held::Pending(p)) => wanted.push((p.buffer, (p.groups * p.slots) as u64 * self.width)),
                _ => {}
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let precision = self.compiled.precision;
        let data: Vec<Vec<f64>> = self.readback(&wanted)?.iter().map(|bytes| decode(bytes, precision)).collect();
        let by_buffer: HashMap<usize, &Vec<f64>> = wanted.iter().map(|(b, _)| *b).zip(&data).collect();
        for id in ids {
            let value = match self.held.get(id) {
                Some(Held::Device(b, len)) => by_buffer[b][..*len].to_vec(),
                Some(Held::Pending(p)) => vec![finish_reduce(p, by_buffer[&p.buffer], self.batch.rows)],
                _ => continue,
            };
            self.held.insert(*id, Held::Host(value));
        }
        Ok(())
    }

    /// Copies buffers to staging buffers, submits pending work, waits, reads.
    fn readback(&mut self, wanted: &[(usize, u64)]) -> Result<Vec<Vec<u8>>, GpuError> {
        let mut staging = Vec::new();
        let mut encoder =
            self.encoder.take().unwrap_or_else(|| self.ctx.device.create_command_encoder(&Default::default()));
        for (b, bytes) in wanted {
            let s = self.ctx.acquire(*bytes, device::READBACK)?;
            if *bytes > 0 {
                encoder.copy_buffer_to_buffer(&self.buffers[*b].buffer, 0, &s.buffer, 0, *bytes);
            }
            staging.push(s);
        }
        self.ctx.queue.submit([encoder.finish()]);
        let (sender, receiver) = std::sync::mpsc::channel();
        for (i, (s, (_, bytes))) in staging.iter().zip(wanted).enumerate() {
            if *bytes == 0 {
                let _ = sender.send((i, Ok(())));
                continue;
            }
            let sender = sender.clone();
            s.buffer.slice(..*bytes).map_async(wgpu::MapMode::Read, move |r| {
                let _ = sender.send((i, r));
            });
        }
        drop(sender);
        let waited = self.ctx.wait();
        // Another thread's poll may be the one that runs our callbacks: wait for them all.
        let mut results: Vec<Option<Result<(), wgpu::BufferAsyncError>>> = vec![None; staging.len()];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        while results.iter().any(Option::is_none) {
            match receiver.recv_timeout(std::time::Duration::from_millis(5)) {
                Ok((i, r)) => results[i] = Some(r),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if std::time::Instant::now() < deadline => {
                    let _ = self.ctx.device.poll(wgpu::PollType::Poll);
                }
                Err(_) => break,
            }
        }
        let mut out = Vec::new();
        for (i, (s, (_, bytes))) in staging.iter().zip(wanted).enumerate() {
            match results.get(i).cloned().flatten() {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(GpuError::Device(format!("reading back a buffer: {e}"))),
                None => return Err(GpuError::Device("a readback did not complete".into())),
            }
            if *bytes == 0 {
                out.push(Vec::new());
                continue;
            }
            let view = s
                .buffer
                .slice(..*bytes)
                .get_mapped_range()
                .map_err(|e| GpuError::Device(format!("reading back a buffer: {e}")))?;
            out.push(view.to_vec());
            drop(view);
            s.buffer.unmap();
        }
        for s in staging {
            self.ctx.release(s);
        }
        waited?;
        Ok(out)
    }

    /// Evaluates one node on the host with the interpreter's semantics.
    fn host_node(&mut self, id: NodeId) -> Result<Vec<f64>, GpuError> {
        let graph = &self.compiled.graph;
        let node = graph.node(id);
        if let Op::Reduce { op: Reduce::Count, axis: Axis::Batch, mask: None, .. } = node.op {
            return Ok(vec![self.batch.rows as f64]);
        }
        let operands = node.op.operands();
        self.materialize(&operands)?;
        let mut owned: HashMap<NodeId, Vec<f64>> = HashMap::new();
        for operand in operands {
            let value = match self.held.get(&operand) {
                Some(Held::Host(v)) => v.clone(),
                _ => match graph.node(operand).op {
                    Op::Input(i) => self.inputs.values(i as usize),
                    _ => {
                        let v = self.host_node(operand)?;
                        self.held.insert(operand, Held::Host(v.clone()));
                        v
                    }
                },
            };
            owned.insert(operand, value);
        }
        let empty: Vec<f64> = Vec::new();
        let inputs64: Vec<Vec<f64>> = match node.op {
            Op::Input(_) => (0..self.inputs.count()).map(|i| self.inputs.values(i)).collect(),
            _ => Vec::new(),
        };
        plumb_interp::eval_node(
            graph,
            self.batch,
            id,
            &|o: NodeId| owned.get(&o).map_or(empty.as_slice(), Vec::as_slice),
            &inputs64,
        )
        .map_err(|e| GpuError::Host(e.to_string()))
    }

    /// The run buffer holding a loaded node (uploading it if needed).
    fn load_buffer(&mut self, id: NodeId) -> Result<usize, GpuError> {
        let graph = &self.compiled.graph;
        let ragged_pad = usize::from(matches!(graph.shape(id), Shape::Tokens | Shape::Cands));
        if let Op::Input(i) = graph.node(id).op {
            let i = i as usize;
            if let Some(b) = self.uploaded_inputs.get(&i) {
                return Ok(*b);
            }
            let inputs = self.inputs;
            let data = inputs.bytes(i);
            let b = self.upload(data, data.len() as u64 + ragged_pad as u64 * self.width)?;
            self.uploaded_inputs.insert(i, b);
            return Ok(b);
        }
        match self.held.get(&id) {
            Some(Held::Device(b, _)) => return Ok(*b),
            Some(Held::Host(_)) => {}
            _ => {
                let v = self.host_node(id)?;
                self.held.insert(id, Held::Host(v));
            }
        }
        let Some(Held::Host(v)) = self.held.get(&id) else { unreachable!("made host above") };
        let len = v.len();
        let data = encode(v, self.compiled.precision);
        let b = self.upload(&data, data.len() as u64 + ragged_pad as u64 * self.width)?;
        self.held.insert(id, Held::Device(b, len));
        Ok(b)
    }

    fn run_pass(&mut self, gk: &'a GpuKernel) -> Result<(), GpuError> {
        let graph = &self.compiled.graph;
        let kernel = &gk.kernel;
        let layout = &gk.layout;
        let rows = self.batch.rows;
        // Scalars first: they may need a readback of an earlier pass.
        self.materialize(&layout.scalars)?;
        let mut scalars: Vec<f64> = Vec::with_capacity(layout.scalars.len());
        for id in &layout.scalars {
            let value = match self.held.get(id) {
                Some(Held::Host(v)) => v.first().copied().unwrap_or(f64::NAN),
                _ => {
                    let v = self.host_node(*id)?;
                    let first = v.first().copied().unwrap_or(f64::NAN);
                    self.held.insert(*id, Held::Host(v));
                    first
                }
            };
            scalars.push(value);
        }
        if rows == 0 {
            // Nothing to dispatch: empty stores, sums of nothing.
            for id in &kernel.stores {
                self.held.insert(*id, Held::Host(Vec::new()));
            }
            for id in &kernel.reductions {
                let Op::Reduce { op, .. } = graph.node(*id).op else { continue };
                let value = if op == Reduce::Mean { f64::NAN } else { 0.0 };
                self.held.insert(*id, Held::Host(vec![value]));
            }
            return Ok(());
        }
        let mut slots_of: HashMap<Binding, usize> = HashMap::new();
        let mut bytes_moved = 0u64;
        for binding in &layout.bindings {
            let b = match binding {
                Binding::Load(id) => {
                    bytes_moved += self.batch.len(graph.shape(*id)) as u64 * self.width;
                    self.load_buffer(*id)?
                }
                Binding::Store(id) => {
                    let len = self.batch.len(graph.shape(*id));
                    bytes_moved += len as u64 * self.width;
                    let pad = usize::from(matches!(graph.shape(*id), Shape::Tokens | Shape::Cands));
                    let b = self.new_buffer((len + pad).max(1) as u64 * self.width)?;
                    self.held.insert(*id, Held::Device(b, len));
                    b
                }
                Binding::TokOffsets | Binding::KOffsets => {
                    let offsets =
                        if *binding == Binding::TokOffsets { &self.batch.tok_offsets } else { &self.batch.k_offsets };
                    if offsets.len() != rows + 1 {
                        return Err(GpuError::Input(
                            "the graph has per-token values but the batch has no tokens".into(),
                        ));
                    }
                    bytes_moved += offsets.len() as u64 * 4;
                    let data: Vec<u32> = offsets.iter().map(|&o| o as u32).collect();
                    let b = self.new_buffer(data.len() as u64 * 4)?;
                    self.ctx.queue.write_buffer(&self.buffers[b].buffer, 0, bytemuck::cast_slice(&data));
                    b
                }
                Binding::Scalars => {
                    let data = encode(&scalars, self.compiled.precision);
                    self.upload(&data, self.width)?
                }
                Binding::Partials | Binding::Info => continue,
            };
            slots_of.insert(*binding, b);
        }
        let limits = &self.ctx.limits;
        let max_binding = self.options.max_binding_bytes.unwrap_or(limits.max_storage_buffer_binding_size);
        let max_groups = self.options.max_workgroups.unwrap_or(limits.max_compute_workgroups_per_dimension);
        let align = (limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
        let chunks = plan_chunks(
            self.batch,
            layout.bindings.contains(&Binding::TokOffsets),
            layout.bindings.contains(&Binding::KOffsets),
            (max_binding / self.width) as usize,
            max_groups.max(1) as usize,
            align,
        )?;
        let groups = rows.div_ceil(WORKGROUP as usize);
        if !layout.slots.is_empty() {
            let b = self.new_buffer((groups * layout.slots.len()) as u64 * self.width)?;
            slots_of.insert(Binding::Partials, b);
        }
        let mut info: Vec<u32> = vec![0; chunks.len() * (INFO_STRIDE as usize / 4)];
        for (c, chunk) in chunks.iter().enumerate() {
            let at = c * INFO_STRIDE as usize / 4;
            info[at] = chunk.rows as u32;
            info[at + 1] = (chunk.row_start / WORKGROUP as usize) as u32;
            info[at + 2] = chunk.tok.0 as u32;
            info[at + 3] = chunk.k.0 as u32;
        }
        let info_buffer = self.upload(bytemuck::cast_slice(&info), 4)?;
        slots_of.insert(Binding::Info, info_buffer);
        let mut dispatches = Vec::new();
        for (c, chunk) in chunks.iter().enumerate() {
            let mut entries = Vec::new();
            for (index, binding) in layout.bindings.iter().enumerate() {
                let buffer = &self.buffers[slots_of[binding]].buffer;
                // Info and offsets are u32; everything else is in the graph's precision.
                let width = match binding {
                    Binding::Info | Binding::TokOffsets | Binding::KOffsets => 4,
                    _ => self.width,
                };
                let (offset, values) = match binding {
                    Binding::Info => ((c as u64 * INFO_STRIDE) / 4, 4),
                    Binding::Scalars => (0, scalars.len().max(1) as u64),
                    Binding::Partials => (0, (groups * layout.slots.len()) as u64),
                    Binding::TokOffsets | Binding::KOffsets => (chunk.row_start as u64, chunk.rows as u64 + 1),
                    Binding::Load(id) | Binding::Store(id) => match graph.shape(*id) {
                        Shape::Tokens => (chunk.tok.0 as u64, chunk.tok.1.max(1) as u64),
                        Shape::Cands => (chunk.k.0 as u64, chunk.k.1.max(1) as u64),
                        _ => (chunk.row_start as u64, chunk.rows as u64),
                    },
                };
                entries.push(wgpu::BindGroupEntry {
                    binding: index as u32,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: offset * width,
                        size: std::num::NonZeroU64::new(values * width),
                    }),
                });
            }
            let group = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &gk.pipeline.layout,
                entries: &entries,
            });
            dispatches.push((group, chunk.rows.div_ceil(WORKGROUP as usize) as u32));
        }
        {
            let encoder = self.encoder();
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            pass.set_pipeline(&gk.pipeline.pipeline);
            for (group, workgroups) in &dispatches {
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(*workgroups, 1, 1);
            }
        }
        if let Some(partials) = slots_of.get(&Binding::Partials).copied() {
            for id in &kernel.reductions {
                let Op::Reduce { op, mask, .. } = graph.node(*id).op else { continue };
                let find = |kind| layout.slots.iter().position(|s| *s == (*id, kind));
                self.held.insert(
                    *id,
                    Held::Pending(PendingReduce {
                        buffer: partials,
                        groups,
                        slots: layout.slots.len(),
                        sum_slot: find(SlotKind::Sum),
                        count_slot: find(SlotKind::Count),
                        op,
                        masked: mask.is_some(),
                    }),
                );
            }
        }
        if let Some(record) = &mut self.record {
            record.push(Recorded { pipeline: gk.pipeline.clone(), dispatches, bytes: bytes_moved });
        }
        Ok(())
    }

    fn time(&mut self, repeats: usize) -> Result<PassTiming, GpuError> {
        if let Some(encoder) = self.encoder.take() {
            self.ctx.queue.submit([encoder.finish()]);
        }
        self.ctx.wait()?;
        let record = self.record.take().unwrap_or_default();
        let run = |n: usize| -> Result<f64, GpuError> {
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass =
                    encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
                for _ in 0..n {
                    for recorded in &record {
                        pass.set_pipeline(&recorded.pipeline.pipeline);
                        for (group, workgroups) in &recorded.dispatches {
                            pass.set_bind_group(0, group, &[]);
                            pass.dispatch_workgroups(*workgroups, 1, 1);
                        }
                    }
                }
            }
            let start = std::time::Instant::now();
            self.ctx.queue.submit([encoder.finish()]);
            self.ctx.wait()?;
            Ok(start.elapsed().as_secs_f64())
        };
        run(1)?;
        let seconds = run(repeats)? / repeats as f64;
        Ok(PassTiming {
            seconds,
            bytes: record.iter().map(|r| r.bytes).sum(),
            dispatches: record.iter().map(|r| r.dispatches.len()).sum(),
        })
    }
}

/// A batch reduction's value from its per-workgroup partials.
fn finish_reduce(p: &PendingReduce, partials: &[f64], rows: usize) -> f64 {
    let column = |slot: Option<usize>| -> f64 {
        let Some(slot) = slot else { return 0.0 };
        let values: Vec<f64> = (0..p.groups).map(|g| partials[g * p.slots + slot]).collect();
        tree_sum(&values)
    };
    // Without a mask every row counts: the host knows the count.
    let count = if !p.masked && p.op != Reduce::Count { rows as f64 } else { column(p.count_slot) };
    let sum = column(p.sum_slot);
    match p.op {
        Reduce::Count => count,
        Reduce::Mean => sum / count,
        _ => sum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_rows_in_whole_workgroups() {
        let lengths: Vec<usize> = (0..2000).map(|i| i % 7).collect();
        let batch = Batch::with_tokens(&lengths);
        let chunks = plan_chunks(&batch, true, false, 1000, 3, 64).expect("fits");
        let mut next = 0;
        for c in &chunks {
            assert_eq!(c.row_start, next);
            assert!(c.row_start % WORKGROUP as usize == 0);
            assert!(c.rows <= 3 * WORKGROUP as usize);
            assert!(c.tok.0 % 64 == 0 && c.tok.0 <= batch.tok_offsets[c.row_start]);
            assert!(c.tok.0 + c.tok.1 == batch.tok_offsets[c.row_start + c.rows] && c.tok.1 <= 1000);
            next += c.rows;
        }
        assert_eq!(next, 2000);
        assert!(plan_chunks(&batch, true, false, 300, 3, 64).is_err(), "256 rows hold ~768 tokens");
    }
}
