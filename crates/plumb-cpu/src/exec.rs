//! Compiling plans to machine code, the kernel cache, and running a compiled
//! graph: host steps, passes on threads, and the fixed-order reduction.

use crate::codegen::{self, Unsupported};
use crate::codegen64;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use plumb_fuse::{Kernel, Place, Plan, Step};
use plumb_interp::Batch;
use plumb_ir::{Axis, Graph, NodeId, Op, Reduce};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

/// Rows per chunk for kernels without tokens.
pub const CHUNK_ROWS: usize = 8192;
/// Rows per chunk for kernels with tokens.
pub const CHUNK_ROWS_RAGGED: usize = 16;

#[derive(Clone, Debug, PartialEq)]
pub enum CpuError {
    /// The graph uses something the CPU backend does not compile.
    Unsupported(String),
    /// Cranelift failed (a bug).
    Codegen(String),
    /// Inputs do not fit the graph or the batch.
    Input(String),
    /// A host step failed (an index out of range, a domain error).
    Host(String),
}

impl std::fmt::Display for CpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CpuError::Unsupported(m) => write!(f, "not supported by the CPU backend: {m}"),
            CpuError::Codegen(m) => write!(f, "code generation failed: {m}"),
            CpuError::Input(m) | CpuError::Host(m) => f.write_str(m),
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The number type kernels store per row and per token: `f32` (the default,
/// f32x4 code) or `f64` (f64x2 code, for graphs that need the precision).
/// Implemented for these two only.
pub trait Element: sealed::Sealed + Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// Compiled graphs of this element type, by the hash of their text.
    fn cache() -> &'static Mutex<HashMap<u64, Arc<CompiledGraph<Self>>>>;
    /// Emits one fused pass.
    fn build(
        b: &mut FunctionBuilder,
        graph: &Graph,
        kernel: &Kernel,
        constant_exponents: HashMap<NodeId, f64>,
        call_conv: cranelift_codegen::isa::CallConv,
        pipelined: bool,
    ) -> Result<bool, Unsupported>;
}

impl Element for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn cache() -> &'static Mutex<HashMap<u64, Arc<CompiledGraph<f32>>>> {
        static CACHE: OnceLock<Mutex<HashMap<u64, Arc<CompiledGraph<f32>>>>> = OnceLock::new();
        CACHE.get_or_init(Mutex::default)
    }
    fn build(
        b: &mut FunctionBuilder,
        graph: &Graph,
        kernel: &Kernel,
        constant_exponents: HashMap<NodeId, f64>,
        _: cranelift_codegen::isa::CallConv,
        pipelined: bool,
    ) -> Result<bool, Unsupported> {
        codegen::build(b, graph, kernel, constant_exponents, pipelined)
    }
}

impl Element for f64 {
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn cache() -> &'static Mutex<HashMap<u64, Arc<CompiledGraph<f64>>>> {
        static CACHE: OnceLock<Mutex<HashMap<u64, Arc<CompiledGraph<f64>>>>> = OnceLock::new();
        CACHE.get_or_init(Mutex::default)
    }
    fn build(
        b: &mut FunctionBuilder,
        graph: &Graph,
        kernel: &Kernel,
        _: HashMap<NodeId, f64>,
        call_conv: cranelift_codegen::isa::CallConv,
        _: bool,
    ) -> Result<bool, Unsupported> {
        codegen64::build(b, graph, kernel, call_conv).map(|()| false)
    }
}

/// The context a kernel reads (layout known to the generated code).
#[repr(C)]
struct KernelCtx<E> {
    bufs: *const *mut E,
    scalars: *const E,
    tok_offsets: *const u64,
    k_offsets: *const u64,
}

type KernelFn<E> = unsafe extern "C" fn(*const KernelCtx<E>, i64, i64, *mut f64);

struct CompiledKernel<E> {
    kernel: Kernel,
    function: KernelFn<E>,
    /// Whether its four-row loop is software-pipelined.
    pipelined: bool,
}

/// A graph compiled for the CPU, storing rows and tokens as `E`.
pub struct CompiledGraph<E: Element = f32> {
    pub graph: Graph,
    pub plan: Plan,
    kernels: Vec<CompiledKernel<E>>,
}

impl<E: Element> std::fmt::Debug for CompiledGraph<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompiledGraph({}, {} kernels)", self.graph.name, self.kernels.len())
    }
}

/// The number of threads to use by default: all cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Compiles a graph (cached by the hash of its text form).
pub fn compile(graph: &Graph) -> Result<Arc<CompiledGraph>, CpuError> {
    compile_as::<f32>(graph)
}

/// Compiles a graph whose kernels compute and store in f64 (f64x2 lanes; no
/// token-level kernels). Per-row values are bitwise the interpreter's.
pub fn compile_f64(graph: &Graph) -> Result<Arc<CompiledGraph<f64>>, CpuError> {
    compile_as::<f64>(graph)
}

fn compile_as<E: Element>(graph: &Graph) -> Result<Arc<CompiledGraph<E>>, CpuError> {
    let graph = graph.pruned();
    let text = graph.to_string();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let key = hasher.finish();
    if let Some(hit) = E::cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(hit);
    }
    let plan = plumb_fuse::plan(&graph);
    let kernels = compile_kernels::<E>(&graph, &plan, true)?;
    let compiled = Arc::new(CompiledGraph { graph, plan, kernels });
    if let Ok(mut c) = E::cache().lock() {
        c.insert(key, compiled.clone());
    }
    Ok(compiled)
}

/// Compiles a graph like [`compile`] but without software pipelining of the
/// four-row loops, and without the cache: the reference that tests compare
/// the pipelined kernels with bit for bit.
pub fn compile_unpipelined(graph: &Graph) -> Result<CompiledGraph, CpuError> {
    let graph = graph.pruned();
    let plan = plumb_fuse::plan(&graph);
    let kernels = compile_kernels::<f32>(&graph, &plan, false)?;
    Ok(CompiledGraph { graph, plan, kernels })
}

fn compile_kernels<E: Element>(
    graph: &Graph,
    plan: &Plan,
    pipelined: bool,
) -> Result<Vec<CompiledKernel<E>>, CpuError> {
    let kernels: Vec<&Kernel> = plan.kernels().collect();
    if kernels.is_empty() {
        return Ok(Vec::new());
    }
    let mut flags = settings::builder();
    let codegen_error = |e: &dyn std::fmt::Display| CpuError::Codegen(e.to_string());
    flags.set("opt_level", "speed").map_err(|e| codegen_error(&e))?;
    flags.set("use_colocated_libcalls", "false").map_err(|e| codegen_error(&e))?;
    flags.set("is_pic", "false").map_err(|e| codegen_error(&e))?;
    let isa = cranelift_native::builder()
        .map_err(|e| CpuError::Codegen(e.to_string()))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| codegen_error(&e))?;
    let call_conv = isa.default_call_conv();
    let mut module = JITModule::new(JITBuilder::with_isa(isa, cranelift_module::default_libcall_names()));
    let constant_exponents: HashMap<NodeId, f64> = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match n.op {
            Op::Const(v) => Some((NodeId(i as u32), v)),
            _ => None,
        })
        .collect();
    let mut ids = Vec::new();
    let mut context = module.make_context();
    let mut builder_context = FunctionBuilderContext::new();
    for kernel in &kernels {
        context.func.signature = codegen::signature(call_conv);
        let id = module
            .declare_function(&format!("{}_pass{}", graph.name, kernel.index), Linkage::Local, &context.func.signature)
            .map_err(|e| codegen_error(&e))?;
        let was_pipelined = {
            let mut b = FunctionBuilder::new(&mut context.func, &mut builder_context);
            let was_pipelined = E::build(&mut b, graph, kernel, constant_exponents.clone(), call_conv, pipelined)
                .map_err(|Unsupported(m)| CpuError::Unsupported(m))?;
            b.finalize(module.target_config());
            was_pipelined
        };
        module.define_function(id, &mut context).map_err(|e| CpuError::Codegen(format!("{e:?}")))?;
        module.clear_context(&mut context);
        ids.push((id, was_pipelined));
    }
    module.finalize_definitions().map_err(|e| codegen_error(&e))?;
    let mut compiled = Vec::new();
    for (kernel, (id, pipelined)) in kernels.into_iter().zip(ids) {
        let pointer = module.get_finalized_function(id);
        // SAFETY: `pointer` is the finalized code of a function declared with
        // `codegen::signature` (four i64 parameters, no results), which is the
        // ABI of `KernelFn` on this host (pointers are i64). The module's memory
        // is never freed (cranelift-jit leaks it on drop), so the pointer stays valid.
        let function = unsafe { std::mem::transmute::<*const u8, KernelFn<E>>(pointer) };
        compiled.push(CompiledKernel { kernel: kernel.clone(), function, pipelined });
    }
    Ok(compiled)
}

/// The results of a run, by output name: scalars in f64, per-row and per-token
/// values in the buffers the kernels wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs<E = f32> {
    pub values: Vec<(String, OutputData<E>)>,
}

impl<E> Default for Outputs<E> {
    fn default() -> Self {
        Outputs { values: Vec::new() }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum OutputData<E = f32> {
    Host(Vec<f64>),
    Buffer(Vec<E>),
}

impl<E: Element> OutputData<E> {
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            OutputData::Host(v) => v.clone(),
            OutputData::Buffer(v) => v.iter().map(|&x| x.to_f64()).collect(),
        }
    }
}

impl<E: Element> Outputs<E> {
    pub fn get(&self, name: &str) -> Option<&OutputData<E>> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Every output converted to f64.
    pub fn to_f64(&self) -> Vec<(String, Vec<f64>)> {
        self.values.iter().map(|(n, v)| (n.clone(), v.to_f64())).collect()
    }
}

/// Host-side values: f64 for scalars and host steps, `E` buffers for passes.
enum Held<E> {
    Host(Vec<f64>),
    Buffer(Vec<E>),
}

impl<E: Element> CompiledGraph<E> {
    /// The number of fused passes.
    pub fn kernel_count(&self) -> usize {
        self.plan.kernel_count()
    }

    /// How many of its kernels run a software-pipelined four-row loop.
    pub fn pipelined_kernel_count(&self) -> usize {
        self.kernels.iter().filter(|k| k.pipelined).count()
    }

    /// Runs the graph. `inputs[i]` holds `graph.inputs[i]`; outputs are
    /// returned by name, in f64.
    pub fn run(&self, batch: &Batch, inputs: &[Vec<E>], threads: usize) -> Result<Vec<(String, Vec<f64>)>, CpuError> {
        let mut outputs = Outputs::default();
        self.run_into(batch, inputs, threads, &mut outputs)?;
        Ok(outputs.to_f64())
    }

    /// Runs the graph, reusing the buffers of `outputs` (from an earlier run of
    /// a batch of the same shape) instead of allocating new ones.
    pub fn run_into(
        &self,
        batch: &Batch,
        inputs: &[Vec<E>],
        threads: usize,
        outputs: &mut Outputs<E>,
    ) -> Result<(), CpuError> {
        let graph = &self.graph;
        let lengths: Vec<usize> = inputs.iter().map(Vec::len).collect();
        batch.check_inputs(graph, &lengths).map_err(CpuError::Input)?;
        let mut pool: HashMap<String, Vec<E>> = std::mem::take(&mut outputs.values)
            .into_iter()
            .filter_map(|(n, v)| match v {
                OutputData::Buffer(b) => Some((n, b)),
                OutputData::Host(_) => None,
            })
            .collect();
        let mut buffer_for = |id: NodeId, len: usize| -> Vec<E> {
            let name = graph.outputs.iter().find(|(_, o)| *o == id).map(|(n, _)| n.clone());
            match name.and_then(|n| pool.remove(&n)) {
                Some(buffer) if buffer.len() == len => buffer,
                _ => vec![E::default(); len],
            }
        };
        let mut held: HashMap<NodeId, Held<E>> = HashMap::new();
        let mut kernel_index = 0;
        for step in &self.plan.steps {
            match step {
                Step::Host(ids) => {
                    for id in ids {
                        let value = self.host_node(batch, *id, &held, inputs)?;
                        held.insert(*id, Held::Host(value));
                    }
                }
                Step::HostOp(id) => {
                    let value = self.host_node(batch, *id, &held, inputs)?;
                    held.insert(*id, Held::Host(value));
                }
                Step::Pass(_) => {
                    let compiled = &self.kernels[kernel_index];
                    kernel_index += 1;
                    self.run_pass(batch, compiled, &mut held, inputs, &mut buffer_for, threads)?;
                }
            }
        }
        for (position, (name, id)) in graph.outputs.iter().enumerate() {
            // Two outputs may name one node; the last one takes the buffer.
            let shared_later = graph.outputs[position + 1..].iter().any(|(_, other)| other == id);
            let value = match held.get(id) {
                Some(Held::Host(v)) => OutputData::Host(v.clone()),
                Some(Held::Buffer(b)) if shared_later => OutputData::Buffer(b.clone()),
                Some(Held::Buffer(_)) => match held.remove(id) {
                    Some(Held::Buffer(b)) => OutputData::Buffer(b),
                    _ => unreachable!("checked above"),
                },
                None => match graph.node(*id).op {
                    Op::Input(i) => OutputData::Buffer(inputs[i as usize].clone()),
                    _ => OutputData::Host(self.host_node(batch, *id, &held, inputs)?),
                },
            };
            outputs.values.push((name.clone(), value));
        }
        Ok(())
    }

    /// Evaluates one node on the host with the interpreter's semantics.
    fn host_node(
        &self,
        batch: &Batch,
        id: NodeId,
        held: &HashMap<NodeId, Held<E>>,
        inputs: &[Vec<E>],
    ) -> Result<Vec<f64>, CpuError> {
        let graph = &self.graph;
        let node = graph.node(id);
        if let Op::Reduce { op: Reduce::Count, axis: Axis::Batch, mask: None, .. } = node.op {
            return Ok(vec![batch.rows as f64]);
        }
        let mut owned: HashMap<NodeId, Vec<f64>> = HashMap::new();
        for operand in node.op.operands() {
            let value = match held.get(&operand) {
                Some(Held::Host(v)) => v.clone(),
                Some(Held::Buffer(v)) => v.iter().map(|&x| x.to_f64()).collect(),
                None => match graph.node(operand).op {
                    Op::Input(i) => inputs[i as usize].iter().map(|&x| x.to_f64()).collect(),
                    _ => return Err(CpuError::Host(format!("%{} is needed on the host but was not kept", operand.0))),
                },
            };
            owned.insert(operand, value);
        }
        let empty: Vec<f64> = Vec::new();
        let inputs64: Vec<Vec<f64>> = match node.op {
            Op::Input(_) => inputs.iter().map(|v| v.iter().map(|&x| x.to_f64()).collect()).collect(),
            _ => Vec::new(),
        };
        plumb_interp::eval_node(
            graph,
            batch,
            id,
            &|o: NodeId| owned.get(&o).map_or(empty.as_slice(), Vec::as_slice),
            &inputs64,
        )
        .map_err(|e| CpuError::Host(e.to_string()))
    }

    fn run_pass(
        &self,
        batch: &Batch,
        compiled: &CompiledKernel<E>,
        held: &mut HashMap<NodeId, Held<E>>,
        inputs: &[Vec<E>],
        buffer_for: &mut dyn FnMut(NodeId, usize) -> Vec<E>,
        threads: usize,
    ) -> Result<(), CpuError> {
        let graph = &self.graph;
        let kernel = &compiled.kernel;
        // Buffers: loads (inputs, host results as E), then stores (zeroed).
        let mut converted: Vec<Vec<E>> = Vec::new();
        let mut load_sources: Vec<(usize, bool)> = Vec::new(); // (index, is_input)
        for id in &kernel.loads {
            match graph.node(*id).op {
                Op::Input(i) => load_sources.push((i as usize, true)),
                _ => {
                    let data: Vec<E> = match held.get(id) {
                        Some(Held::Host(v)) => v.iter().map(|&x| E::from_f64(x)).collect(),
                        Some(Held::Buffer(v)) => v.clone(),
                        None => return Err(CpuError::Host(format!("%{} is loaded before it is computed", id.0))),
                    };
                    converted.push(data);
                    load_sources.push((converted.len() - 1, false));
                }
            }
        }
        // Every element of a store is written by the pass, so reused buffers need no clearing.
        let mut stores: Vec<Vec<E>> =
            kernel.stores.iter().map(|id| buffer_for(*id, batch.len(graph.shape(*id)))).collect();
        // Four copies of each scalar: the f32 kernels load them as f32x4 vectors.
        let mut scalars: Vec<E> = Vec::with_capacity(4 * kernel.scalars.len());
        for id in &kernel.scalars {
            let value = match (held.get(id), &graph.node(*id).op) {
                (Some(Held::Host(v)), _) => v.first().copied().unwrap_or(f64::NAN),
                (_, Op::Const(c)) => *c,
                _ => self.host_node(batch, *id, held, inputs)?.first().copied().unwrap_or(f64::NAN),
            };
            scalars.extend([E::from_f64(value); 4]);
        }
        let chunk = if kernel.ragged { CHUNK_ROWS_RAGGED } else { CHUNK_ROWS };
        let chunks = batch.rows.div_ceil(chunk).max(1);
        let reductions = kernel.reductions.len();
        let mut partials = vec![0.0f64; chunks * reductions * 2];
        let tok: Vec<u64> = batch.tok_offsets.iter().map(|&o| o as u64).collect();
        let cand: Vec<u64> = batch.k_offsets.iter().map(|&o| o as u64).collect();
        {
            let mut pointers: Vec<*mut E> = Vec::new();
            for (index, is_input) in &load_sources {
                let data = if *is_input { inputs[*index].as_ptr() } else { converted[*index].as_ptr() };
                pointers.push(data.cast_mut());
            }
            for store in &mut stores {
                pointers.push(store.as_mut_ptr());
            }
            let context = SharedContext {
                ctx: KernelCtx {
                    bufs: pointers.as_ptr(),
                    scalars: scalars.as_ptr(),
                    tok_offsets: tok.as_ptr(),
                    k_offsets: cand.as_ptr(),
                },
            };
            let rows = batch.rows;
            let function = compiled.function;
            let partials_ptr = SharedPartials(partials.as_mut_ptr());
            // Each worker takes one contiguous run of chunks: interleaved chunks
            // (worker w taking w, w + workers, ...) ran DPO at 10^7 rows on two
            // threads 25% slower, as each thread's stream of addresses kept
            // breaking off. Which thread runs a chunk never changes its result.
            let work = |worker: usize, workers: usize| {
                let mut c = chunks * worker / workers;
                let stop = chunks * (worker + 1) / workers;
                while c < stop {
                    let start = c * chunk;
                    let end = ((c + 1) * chunk).min(rows);
                    // SAFETY: see `call_kernel`: the buffers were sized above for this batch,
                    // chunks are disjoint row ranges, and each chunk writes only its partials.
                    unsafe { call_kernel(function, &context, start, end, partials_ptr.at(c * reductions * 2)) };
                    c += 1;
                }
            };
            let workers = threads.clamp(1, chunks);
            if workers == 1 || rows == 0 {
                work(0, 1);
            } else {
                run_workers(workers, &work);
            }
        }
        for (index, id) in kernel.reductions.iter().enumerate() {
            let sums: Vec<f64> = (0..chunks).map(|c| partials[(c * reductions + index) * 2]).collect();
            let counts: Vec<f64> = (0..chunks).map(|c| partials[(c * reductions + index) * 2 + 1]).collect();
            let Op::Reduce { op, mask, .. } = graph.node(*id).op else { continue };
            // Kernels count rows only under a mask (or for Count); otherwise every row counts.
            let count = if mask.is_none() && op != Reduce::Count { batch.rows as f64 } else { tree_sum(&counts) };
            let sum = tree_sum(&sums);
            let value = match op {
                Reduce::Sum => sum,
                Reduce::Count => count,
                Reduce::Mean => sum / count,
                _ => return Err(CpuError::Unsupported(format!("%{}: batch reduction {op:?}", id.0))),
            };
            held.insert(*id, Held::Host(vec![value]));
        }
        for (id, data) in kernel.stores.iter().zip(stores) {
            held.insert(*id, Held::Buffer(data));
        }
        let _ = Place::Input;
        Ok(())
    }
}

/// Runs `work(worker, workers)` for every worker, the calling thread being
/// worker 0 and the others on a pool kept for this worker count. Starting
/// threads for every pass cost ≈ 70 µs a pass (4–7% of a 2 ms loss step);
/// waking parked ones costs a fraction of that. Which thread runs a worker
/// never changes a result.
fn run_workers(workers: usize, work: &(dyn Fn(usize, usize) + Sync)) {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pool = {
        let mut pools = POOLS.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
        match pools.get(&workers) {
            Some(pool) => Some(pool.clone()),
            None => rayon::ThreadPoolBuilder::new()
                .num_threads(workers - 1)
                .thread_name(|i| format!("plumb-cpu-{}", i + 1))
                .build()
                .ok()
                .map(|pool| pools.entry(workers).or_insert(Arc::new(pool)).clone()),
        }
    };
    match pool {
        Some(pool) => pool.in_place_scope(|scope| {
            for worker in 1..workers {
                scope.spawn(move |_| work(worker, workers));
            }
            work(0, workers);
        }),
        // No pool (threads could not be started): a scoped thread per worker.
        None => std::thread::scope(|scope| {
            for worker in 1..workers {
                scope.spawn(move || work(worker, workers));
            }
            work(0, workers);
        }),
    }
}

/// Sums in a fixed pairwise tree over the chunk index: independent of threads.
fn tree_sum(values: &[f64]) -> f64 {
    match values.len() {
        0 => 0.0,
        1 => values[0],
        n => tree_sum(&values[..n / 2]) + tree_sum(&values[n / 2..]),
    }
}

struct SharedContext<E> {
    ctx: KernelCtx<E>,
}
// SAFETY: the context holds read-only pointers (inputs, scalars, offsets) and
// store buffers that kernels write only at the rows of their own chunk.
unsafe impl<E: Element> Sync for SharedContext<E> {}

#[derive(Clone, Copy)]
struct SharedPartials(*mut f64);
// SAFETY: each chunk writes a disjoint slice of the partials.
unsafe impl Sync for SharedPartials {}
unsafe impl Send for SharedPartials {}
impl SharedPartials {
    fn at(self, offset: usize) -> *mut f64 {
        self.0.wrapping_add(offset)
    }
}

/// Runs generated code on rows `start..end`.
///
/// # Safety
/// `context` must point at buffers sized for the whole batch (checked by
/// `CompiledGraph::run` before any call): every load slot holds `batch.len(shape)`
/// values, every store slot likewise, the offsets describe the batch, and
/// `partials` has two f64 per reduction of the kernel. Concurrent calls must
/// use disjoint row ranges and partials.
unsafe fn call_kernel<E: Element>(
    function: KernelFn<E>,
    context: &SharedContext<E>,
    start: usize,
    end: usize,
    partials: *mut f64,
) {
    // SAFETY: the caller upholds the contract above.
    unsafe { function(&context.ctx, start as i64, end as i64, partials) }
}
