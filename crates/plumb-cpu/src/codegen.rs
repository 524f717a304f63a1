//! Cranelift code generation for one fused pass (a [`plumb_fuse::Kernel`]).
//!
//! The generated function is
//! `fn(ctx: *const KernelCtx, row_start: i64, row_end: i64, partials: *mut f64)`.
//! A kernel without tokens runs four rows at a time in f32x4 lanes (then a
//! one-row tail); a ragged kernel runs one row at a time and, inside each row,
//! four tokens at a time (then a one-token tail), in as many token loops as
//! per-row token reductions require. Batch sums are accumulated in f64, lane
//! by lane in a fixed order, into this chunk's `partials`. Where a row-level
//! kernel takes sigmoid, log_sigmoid or softplus, its four-row loop is
//! software-pipelined (see [`Pipeline`]), with bitwise the same results.

use crate::math::{self, V};
use cranelift_codegen::ir::{
    AbiParam, BlockArg, InstBuilder, MemFlagsData, Value, condcodes::FloatCC, condcodes::IntCC, types,
};
use cranelift_frontend::{FunctionBuilder, Variable};
use plumb_fuse::Kernel;
use plumb_fuse::token_levels as levels;
use plumb_ir::{Axis, Binary, Graph, NodeId, Op, Reduce, Shape, Unary};
use std::collections::HashMap;

/// Byte offsets of the fields of `KernelCtx`.
pub const CTX_BUFS: i32 = 0;
pub const CTX_SCALARS: i32 = 8;
pub const CTX_TOK_OFFSETS: i32 = 16;
pub const CTX_K_OFFSETS: i32 = 24;

/// Why a graph cannot be compiled for the CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

pub fn signature(call_conv: cranelift_codegen::isa::CallConv) -> cranelift_codegen::ir::Signature {
    let mut sig = cranelift_codegen::ir::Signature::new(call_conv);
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig
}

pub(crate) const NO_ARGS: [BlockArg; 0] = [];

/// The slots of a kernel: loads, then stores.
pub fn slots(kernel: &Kernel) -> Vec<NodeId> {
    kernel.loads.iter().chain(&kernel.stores).copied().collect()
}

/// Per-token accumulators of one reduction over tokens (or candidates).
#[derive(Clone, Copy)]
struct TokenAccumulator {
    sum: Variable,
    count: Variable,
    /// Running max (Max, Min: min) or LSE's running max.
    extreme: Variable,
}

struct Emitter<'g> {
    graph: &'g Graph,
    kernel: &'g Kernel,
    constant_exponents: HashMap<NodeId, f64>,
    /// Buffer base pointers, by node (loaded at entry).
    buffers: HashMap<NodeId, Value>,
    /// The scalars' offsets in the scalar array, which holds each scalar four
    /// times (`exec.rs`), so that a use is one f32x4 load.
    scalars: HashMap<NodeId, i32>,
    scalar_ptr: Value,
    /// f64x2 accumulators for batch reductions: (sum of lanes 0,1; of lanes 2,3;
    /// count of lanes 0,1; of lanes 2,3).
    batch: HashMap<NodeId, [Variable; 4]>,
    levels: HashMap<NodeId, usize>,
    tok_offsets: Value,
    k_offsets: Value,
    /// e^(−|x|) already computed by the pipelined loop's early stage, by the
    /// node x (a negation's operand stands for it: |−x| = |x|).
    shared_exp: HashMap<NodeId, Value>,
}

/// How the four-row loop of a row-level kernel is software-pipelined: the
/// early stage (the nodes below the exponentials of sigmoid, log_sigmoid and
/// softplus, and those exponentials) of rows i + 4.. runs in the same
/// iteration as the late stage (the rest) of rows i.., so that two halves of
/// independent dependency chains are in flight. A row's arithmetic is the
/// same, so the results are bitwise those of the plain loop.
struct Pipeline {
    early: Vec<NodeId>,
    /// Early nodes the late stage reads, carried from one iteration to the next.
    carried: Vec<NodeId>,
    /// The arguments whose e^(−|x|) the early stage computes.
    exp_keys: Vec<NodeId>,
}

pub fn build(
    b: &mut FunctionBuilder,
    graph: &Graph,
    kernel: &Kernel,
    constant_exponents: HashMap<NodeId, f64>,
    pipelined: bool,
) -> Result<bool, Unsupported> {
    for id in &kernel.nodes {
        check_supported(graph, *id)?;
    }
    let Prologue { ctx, row_start, row_end, partials, scalar_ptr, buffers } = prologue(b, kernel);
    let flags = MemFlagsData::trusted();
    let tok_offsets = b.ins().load(types::I64, flags, ctx, CTX_TOK_OFFSETS);
    let k_offsets = b.ins().load(types::I64, flags, ctx, CTX_K_OFFSETS);
    let mut scalars = HashMap::new();
    // Scalars are loaded as whole vectors where they are used, and the backend
    // folds such a load into the instruction that uses it. (A splat at entry
    // is sunk into the loops by the optimizer, where it costs a reload of the
    // spilled scalar and a broadcast per use.)
    for (index, id) in kernel.scalars.iter().enumerate() {
        scalars.insert(*id, (index * 16) as i32);
    }
    math::prime_constants(b);
    let mut batch = HashMap::new();
    for id in &kernel.reductions {
        let zero = b.ins().f64const(0.0);
        let zero = b.ins().splat(types::F64X2, zero);
        let vars = [(); 4].map(|()| {
            let v = b.declare_var(types::F64X2);
            b.def_var(v, zero);
            v
        });
        batch.insert(*id, vars);
    }
    let levels = levels(graph, kernel);
    let mut was_pipelined = false;
    let mut e = Emitter {
        graph,
        kernel,
        constant_exponents,
        buffers,
        scalars,
        scalar_ptr,
        batch,
        levels,
        tok_offsets,
        k_offsets,
        shared_exp: HashMap::new(),
    };
    if kernel.ragged {
        e.row_loop(b, row_start, row_end, 1)?;
    } else {
        // Four rows at a time while four remain, then one at a time.
        let vector_end = b.ins().iadd_imm_s(row_end, -3);
        let after_vector = match e.pipeline() {
            Some(pipeline) if pipelined => {
                was_pipelined = true;
                e.pipelined_loop(b, row_start, vector_end, &pipeline)?
            }
            _ => e.row_loop_until(b, row_start, vector_end, 4)?,
        };
        e.row_loop(b, after_vector, row_end, 1)?;
    }
    for (index, id) in kernel.reductions.iter().enumerate() {
        // (l0 + l1) + (l2 + l3): a fixed order.
        let [low, high, count_low, count_high] = e.batch[id];
        for (offset, (a, c)) in [(0, (low, high)), (8, (count_low, count_high))] {
            let a = b.use_var(a);
            let c = b.use_var(c);
            let a0 = b.ins().extractlane(a, 0);
            let a1 = b.ins().extractlane(a, 1);
            let c0 = b.ins().extractlane(c, 0);
            let c1 = b.ins().extractlane(c, 1);
            let x = b.ins().fadd(a0, a1);
            let y = b.ins().fadd(c0, c1);
            let total = b.ins().fadd(x, y);
            b.ins().store(flags, total, partials, (index * 16 + offset) as i32);
        }
    }
    b.ins().return_(&[]);
    b.seal_all_blocks();
    math::reset_constants();
    Ok(was_pipelined)
}

/// The generated function's parameters, and what its entry block loads from
/// the context: the scalar array and each slot's buffer pointer.
pub(crate) struct Prologue {
    pub ctx: Value,
    pub row_start: Value,
    pub row_end: Value,
    pub partials: Value,
    pub scalar_ptr: Value,
    pub buffers: HashMap<NodeId, Value>,
}

/// Starts the function (f32 and f64 kernels alike): the entry block, its
/// parameters, and the loads of the context's pointers.
pub(crate) fn prologue(b: &mut FunctionBuilder, kernel: &Kernel) -> Prologue {
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let flags = MemFlagsData::trusted();
    let bufs = b.ins().load(types::I64, flags, params[0], CTX_BUFS);
    let scalar_ptr = b.ins().load(types::I64, flags, params[0], CTX_SCALARS);
    let buffers = slots(kernel)
        .into_iter()
        .enumerate()
        .map(|(slot, id)| (id, b.ins().load(types::I64, flags, bufs, (slot * 8) as i32)))
        .collect();
    Prologue { ctx: params[0], row_start: params[1], row_end: params[2], partials: params[3], scalar_ptr, buffers }
}

fn check_supported(graph: &Graph, id: NodeId) -> Result<(), Unsupported> {
    match &graph.node(id).op {
        Op::Broadcast(_) | Op::Unary(..) | Op::Binary(..) | Op::Select(..) | Op::Clamp(..) | Op::StopGradient(_) => {
            Ok(())
        }
        Op::Reduce { axis: Axis::Tok | Axis::K, .. } => Ok(()),
        other => {
            Err(Unsupported(format!("%{}: {:?} is not compiled for the CPU", id.0, std::mem::discriminant(other))))
        }
    }
}

fn is_ragged(shape: Shape) -> bool {
    matches!(shape, Shape::Tokens | Shape::Cands)
}

impl Emitter<'_> {
    /// A loop `for i in (start..end).step_by(step)`; returns the index where it stopped.
    fn row_loop_until(
        &mut self,
        b: &mut FunctionBuilder,
        start: Value,
        end: Value,
        width: u32,
    ) -> Result<Value, Unsupported> {
        let index = b.declare_var(types::I64);
        b.def_var(index, start);
        let header = b.create_block();
        let body = b.create_block();
        let exit = b.create_block();
        b.ins().jump(header, &NO_ARGS);
        b.switch_to_block(header);
        let i = b.use_var(index);
        let more = b.ins().icmp(IntCC::SignedLessThan, i, end);
        b.ins().brif(more, body, &NO_ARGS, exit, &NO_ARGS);
        b.switch_to_block(body);
        let i = b.use_var(index);
        self.row_body(b, i, width)?;
        let next = b.ins().iadd_imm_s(i, i64::from(width));
        b.def_var(index, next);
        b.ins().jump(header, &NO_ARGS);
        b.switch_to_block(exit);
        Ok(b.use_var(index))
    }

    fn row_loop(&mut self, b: &mut FunctionBuilder, start: Value, end: Value, width: u32) -> Result<(), Unsupported> {
        self.row_loop_until(b, start, end, width).map(|_| ())
    }

    fn row_body(&mut self, b: &mut FunctionBuilder, row: Value, width: u32) -> Result<(), Unsupported> {
        self.row_body_after(b, row, width, HashMap::new(), &[])
    }

    /// Node `id`'s operands as `emit` reads them (a select reads its
    /// condition's comparison operands, not the condition's value).
    fn emitted_operands(&self, id: NodeId) -> Vec<NodeId> {
        match self.graph.node(id).op {
            Op::Select(c, a, d) => {
                let mut operands = self.mask_operands(c);
                operands.extend([a, d]);
                operands
            }
            ref op => op.operands(),
        }
    }

    fn mask_operands(&self, cond: NodeId) -> Vec<NodeId> {
        if let Op::Binary(op, x, y) = self.graph.node(cond).op {
            if comparison(op).is_some() {
                return vec![x, y];
            }
            if matches!(op, Binary::And | Binary::Or) {
                let mut operands = self.mask_operands(x);
                operands.extend(self.mask_operands(y));
                return operands;
            }
        }
        vec![cond]
    }

    /// The node whose e^(−|x|) a sigmoid, log_sigmoid or softplus of `arg` needs.
    fn exp_key(&self, arg: NodeId) -> NodeId {
        match self.graph.node(arg).op {
            Op::Unary(Unary::Neg, inner) => self.exp_key(inner),
            _ => arg,
        }
    }

    /// The pipelining plan of a row-level kernel with exponentials to split
    /// at; `None` where there is nothing to overlap.
    fn pipeline(&self) -> Option<Pipeline> {
        if self.kernel.ragged || self.kernel.nodes.iter().any(|id| is_ragged(self.graph.shape(*id))) {
            return None;
        }
        let in_kernel: std::collections::HashSet<NodeId> = self.kernel.nodes.iter().copied().collect();
        let mut exp_keys = Vec::new();
        for id in &self.kernel.nodes {
            if let Op::Unary(Unary::Sigmoid | Unary::LogSigmoid | Unary::Softplus, a) = self.graph.node(*id).op {
                let key = self.exp_key(a);
                if !exp_keys.contains(&key) {
                    exp_keys.push(key);
                }
            }
        }
        if exp_keys.is_empty() {
            return None;
        }
        let mut early_set = std::collections::HashSet::new();
        let mut stack: Vec<NodeId> = exp_keys.clone();
        while let Some(id) = stack.pop() {
            if in_kernel.contains(&id) && early_set.insert(id) {
                stack.extend(self.emitted_operands(id));
            }
        }
        let early: Vec<NodeId> = self.kernel.nodes.iter().copied().filter(|id| early_set.contains(id)).collect();
        let mut read_late: Vec<NodeId> = Vec::new();
        for id in self.kernel.nodes.iter().filter(|id| !early_set.contains(id)) {
            read_late.extend(self.emitted_operands(*id));
        }
        for id in &self.kernel.reductions {
            if let Op::Reduce { arg, mask, .. } = self.graph.node(*id).op {
                read_late.push(arg);
                read_late.extend(mask);
            }
        }
        read_late.extend(self.kernel.stores.iter().copied());
        let carried = early.iter().copied().filter(|id| read_late.contains(id)).collect();
        Some(Pipeline { early, carried, exp_keys })
    }

    /// The early stage for the four rows at `row`: the early nodes, then the
    /// exponentials e^(−|x|) of the keys; returns the carried nodes' values,
    /// then the exponentials.
    fn early_stage(
        &mut self,
        b: &mut FunctionBuilder,
        row: Value,
        pipeline: &Pipeline,
    ) -> Result<Vec<Value>, Unsupported> {
        let mut values = HashMap::new();
        for id in &pipeline.early {
            let v = self.emit(b, *id, &mut values, Some((row, 4)), None)?;
            values.insert(*id, v);
        }
        let mut out: Vec<Value> = pipeline.carried.iter().map(|id| values[id]).collect();
        for key in &pipeline.exp_keys {
            let x = self.value(b, *key, &mut values, Some((row, 4)), None)?;
            out.push(math::exp_neg_abs(b, x));
        }
        Ok(out)
    }

    /// The late stage for the four rows at `row`: every other node, the batch
    /// sums and the stores, given the early stage's values.
    fn late_stage(
        &mut self,
        b: &mut FunctionBuilder,
        row: Value,
        pipeline: &Pipeline,
        early: &[Value],
    ) -> Result<(), Unsupported> {
        let values: HashMap<NodeId, Value> = pipeline.carried.iter().copied().zip(early.iter().copied()).collect();
        self.shared_exp =
            pipeline.exp_keys.iter().copied().zip(early[pipeline.carried.len()..].iter().copied()).collect();
        let result = self.row_body_after(b, row, 4, values, &pipeline.early);
        self.shared_exp.clear();
        result
    }

    /// The four-row loop over `start..end`, software-pipelined: one
    /// iteration finishes rows i.. and computes the early stage (arguments
    /// and exponentials) of rows i + 4..; returns the index where it stopped.
    fn pipelined_loop(
        &mut self,
        b: &mut FunctionBuilder,
        start: Value,
        end: Value,
        pipeline: &Pipeline,
    ) -> Result<Value, Unsupported> {
        let index = b.declare_var(types::I64);
        let carried: Vec<Variable> =
            (0..pipeline.carried.len() + pipeline.exp_keys.len()).map(|_| b.declare_var(V)).collect();
        let first = b.create_block();
        let header = b.create_block();
        let body = b.create_block();
        let last = b.create_block();
        let exit = b.create_block();
        b.def_var(index, start);
        let any = b.ins().icmp(IntCC::SignedLessThan, start, end);
        b.ins().brif(any, first, &NO_ARGS, exit, &NO_ARGS);

        b.switch_to_block(first);
        // This block dominates the loop: constants made here as in the loop
        // would be found equal to the loop's, kept alive across it from here
        // and spilled (a stack reload and a copy at each use instead of one
        // constant-pool load; DPO 2-3% slower).
        math::separate_constants(true);
        let early = self.early_stage(b, start, pipeline);
        math::separate_constants(false);
        let early = early?;
        for (var, v) in carried.iter().zip(early) {
            b.def_var(*var, v);
        }
        b.ins().jump(header, &NO_ARGS);

        b.switch_to_block(header);
        let i = b.use_var(index);
        let next = b.ins().iadd_imm_s(i, 4);
        let more = b.ins().icmp(IntCC::SignedLessThan, next, end);
        b.ins().brif(more, body, &NO_ARGS, last, &NO_ARGS);

        b.switch_to_block(body);
        let i = b.use_var(index);
        let next = b.ins().iadd_imm_s(i, 4);
        let previous: Vec<Value> = carried.iter().map(|v| b.use_var(*v)).collect();
        self.late_stage(b, i, pipeline, &previous)?;
        let early = self.early_stage(b, next, pipeline)?;
        for (var, v) in carried.iter().zip(early) {
            b.def_var(*var, v);
        }
        b.def_var(index, next);
        b.ins().jump(header, &NO_ARGS);

        b.switch_to_block(last);
        let i = b.use_var(index);
        let previous: Vec<Value> = carried.iter().map(|v| b.use_var(*v)).collect();
        self.late_stage(b, i, pipeline, &previous)?;
        let next = b.ins().iadd_imm_s(i, 4);
        b.def_var(index, next);
        b.ins().jump(exit, &NO_ARGS);

        b.switch_to_block(exit);
        Ok(b.use_var(index))
    }

    /// One row (or four) given the values already known (the pipelined
    /// loop's carried early stage); emits every node but `done`.
    fn row_body_after(
        &mut self,
        b: &mut FunctionBuilder,
        row: Value,
        width: u32,
        mut values: HashMap<NodeId, Value>,
        done: &[NodeId],
    ) -> Result<(), Unsupported> {
        let max_level = self.levels.values().copied().max().unwrap_or(0);
        for level in 0..=max_level {
            let row_nodes: Vec<NodeId> = self
                .kernel
                .nodes
                .iter()
                .copied()
                .filter(|id| !is_ragged(self.graph.shape(*id)) && self.levels[id] == level)
                .filter(|id| !matches!(self.graph.node(*id).op, Op::Reduce { axis: Axis::Tok | Axis::K, .. }))
                .filter(|id| !done.contains(id))
                .collect();
            for id in row_nodes {
                let v = self.emit(b, id, &mut values, Some((row, width)), None)?;
                values.insert(id, v);
            }
            for axis in [Axis::Tok, Axis::K] {
                self.token_loops(b, row, axis, level, &mut values)?;
            }
        }
        // Per-row results: batch accumulations and stores.
        for id in self.kernel.reductions.clone() {
            let Op::Reduce { op, arg, mask, .. } = self.graph.node(id).op.clone() else { continue };
            let x = if op == Reduce::Count {
                math::splat(b, 0.0)
            } else {
                self.value(b, arg, &mut values, Some((row, width)), None)?
            };
            let m = match mask {
                Some(m) => Some(self.value(b, m, &mut values, Some((row, width)), None)?),
                None => None,
            };
            self.accumulate_batch(b, id, op, x, m, width);
        }
        for id in self.kernel.stores.clone() {
            if is_ragged(self.graph.shape(id)) {
                continue; // stored inside the token loop
            }
            let x = self.value(b, id, &mut values, Some((row, width)), None)?;
            let base = self.buffers[&id];
            math::store(b, base, row, x, width);
        }
        Ok(())
    }

    fn accumulate_batch(
        &mut self,
        b: &mut FunctionBuilder,
        id: NodeId,
        op: Reduce,
        x: Value,
        mask: Option<Value>,
        width: u32,
    ) {
        let [low, high, count_low, count_high] = self.batch[&id];
        let zero = math::splat(b, 0.0);
        let mut included = mask.map(|m| math::cmp(b, FloatCC::NotEqual, m, zero));
        if width == 1 {
            // A one-row tail holds the row in every lane: count lane 0 only.
            let lane0 = lane0_mask(b);
            included = Some(match included {
                Some(m) => b.ins().band(m, lane0),
                None => lane0,
            });
        }
        // Without a mask every row counts: the host knows the count.
        let needs_count = mask.is_some() || op == Reduce::Count;
        let needs_sum = op != Reduce::Count;
        let add = |b: &mut FunctionBuilder, v: Value, low: Variable, high: Variable| {
            let l = b.ins().fvpromote_low(v);
            let upper = upper_half(b, v);
            let h = b.ins().fvpromote_low(upper);
            let acc = b.use_var(low);
            let acc = b.ins().fadd(acc, l);
            b.def_var(low, acc);
            let acc = b.use_var(high);
            let acc = b.ins().fadd(acc, h);
            b.def_var(high, acc);
        };
        if needs_sum {
            let contribution = pick(b, included, x, zero);
            add(b, contribution, low, high);
        }
        if needs_count {
            let one = math::splat(b, 1.0);
            let ones = pick(b, included, one, zero);
            add(b, ones, count_low, count_high);
        }
    }

    /// The token (or candidate) loops of one level for one row.
    fn token_loops(
        &mut self,
        b: &mut FunctionBuilder,
        row: Value,
        axis: Axis,
        level: usize,
        values: &mut HashMap<NodeId, Value>,
    ) -> Result<(), Unsupported> {
        let shape = if axis == Axis::Tok { Shape::Tokens } else { Shape::Cands };
        let reductions: Vec<NodeId> = self
            .kernel
            .nodes
            .iter()
            .copied()
            .filter(|id| {
                matches!(self.graph.node(*id).op, Op::Reduce { axis: a, .. } if a == axis)
                    && self.levels[id] == level + 1
            })
            .collect();
        let stores: Vec<NodeId> = self
            .kernel
            .stores
            .iter()
            .copied()
            .filter(|id| self.graph.shape(*id) == shape && self.levels.get(id) == Some(&level))
            .collect();
        // The token values this loop needs, recomputed here (token values do not outlive a loop).
        let mut needed: std::collections::HashSet<NodeId> = std::collections::HashSet::new();
        let mut stack: Vec<NodeId> = stores.clone();
        for id in &reductions {
            if let Op::Reduce { op, arg, mask, .. } = self.graph.node(*id).op {
                if op != Reduce::Count {
                    stack.push(arg);
                }
                stack.extend(mask);
            }
        }
        while let Some(id) = stack.pop() {
            if self.graph.shape(id) != shape || !self.levels.contains_key(&id) || !needed.insert(id) {
                continue;
            }
            stack.extend(self.graph.node(id).op.operands());
        }
        let nodes: Vec<NodeId> = self.kernel.nodes.iter().copied().filter(|id| needed.contains(id)).collect();
        // Loads of this axis consumed directly by reductions or stores also need a loop.
        if nodes.is_empty() && reductions.is_empty() && stores.is_empty() {
            return Ok(());
        }
        let offsets = if axis == Axis::Tok { self.tok_offsets } else { self.k_offsets };
        let flags = MemFlagsData::trusted();
        let at = b.ins().imul_imm_s(row, 8);
        let at = b.ins().iadd(offsets, at);
        let start = b.ins().load(types::I64, flags, at, 0);
        let end = b.ins().load(types::I64, flags, at, 8);
        let accumulators: Vec<(NodeId, TokenAccumulator)> = reductions
            .iter()
            .map(|id| {
                let acc =
                    TokenAccumulator { sum: b.declare_var(V), count: b.declare_var(V), extreme: b.declare_var(V) };
                let zero = math::splat(b, 0.0);
                b.def_var(acc.sum, zero);
                b.def_var(acc.count, zero);
                let init = match self.graph.node(*id).op {
                    Op::Reduce { op: Reduce::Min, .. } => f32::INFINITY,
                    _ => f32::NEG_INFINITY,
                };
                let init = math::splat(b, init);
                b.def_var(acc.extreme, init);
                (*id, acc)
            })
            .collect();
        let vector_end = b.ins().iadd_imm_s(end, -3);
        let after = self.token_loop(b, row, start, vector_end, 4, &nodes, &accumulators, &stores, values)?;
        self.token_loop(b, row, after, end, 1, &nodes, &accumulators, &stores, values)?;
        for (id, acc) in accumulators {
            let v = self.finish_token_reduction(b, id, acc);
            values.insert(id, v);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn token_loop(
        &mut self,
        b: &mut FunctionBuilder,
        row: Value,
        start: Value,
        end: Value,
        width: u32,
        nodes: &[NodeId],
        accumulators: &[(NodeId, TokenAccumulator)],
        stores: &[NodeId],
        row_values: &HashMap<NodeId, Value>,
    ) -> Result<Value, Unsupported> {
        let index = b.declare_var(types::I64);
        b.def_var(index, start);
        let header = b.create_block();
        let body = b.create_block();
        let exit = b.create_block();
        b.ins().jump(header, &NO_ARGS);
        b.switch_to_block(header);
        let t = b.use_var(index);
        let more = b.ins().icmp(IntCC::SignedLessThan, t, end);
        b.ins().brif(more, body, &NO_ARGS, exit, &NO_ARGS);
        b.switch_to_block(body);
        let t = b.use_var(index);
        let mut values = row_values.clone();
        for id in nodes {
            let v = self.emit(b, *id, &mut values, Some((row, 1)), Some((t, width)))?;
            values.insert(*id, v);
        }
        // In the one-token tail only lane 0 counts.
        let lane0 = if width == 1 { Some(lane0_mask(b)) } else { None };
        for (id, acc) in accumulators {
            let Op::Reduce { op, arg, mask, .. } = self.graph.node(*id).op.clone() else { continue };
            let zero = math::splat(b, 0.0);
            // A count reads only the mask.
            let x = if op == Reduce::Count {
                zero
            } else {
                self.value(b, arg, &mut values, Some((row, 1)), Some((t, width)))?
            };
            let mut included = match mask {
                Some(m) => {
                    let m = self.value(b, m, &mut values, Some((row, 1)), Some((t, width)))?;
                    Some(math::cmp(b, FloatCC::NotEqual, m, zero))
                }
                None => None,
            };
            if let Some(lane0) = lane0 {
                included = Some(match included {
                    Some(m) => b.ins().band(m, lane0),
                    None => lane0,
                });
            }
            self.accumulate_token(b, op, *acc, x, included);
        }
        for id in stores {
            let x = self.value(b, *id, &mut values, Some((row, 1)), Some((t, width)))?;
            let base = self.buffers[id];
            math::store(b, base, t, x, width);
        }
        let next = b.ins().iadd_imm_s(t, i64::from(width));
        b.def_var(index, next);
        b.ins().jump(header, &NO_ARGS);
        b.switch_to_block(exit);
        Ok(b.use_var(index))
    }

    fn accumulate_token(
        &mut self,
        b: &mut FunctionBuilder,
        op: Reduce,
        acc: TokenAccumulator,
        x: Value,
        included: Option<Value>,
    ) {
        let zero = math::splat(b, 0.0);
        let one = math::splat(b, 1.0);
        let counted = pick(b, included, one, zero);
        let count = b.use_var(acc.count);
        let count = b.ins().fadd(count, counted);
        b.def_var(acc.count, count);
        match op {
            Reduce::Sum | Reduce::Mean => {
                let contribution = pick(b, included, x, zero);
                let sum = b.use_var(acc.sum);
                let sum = b.ins().fadd(sum, contribution);
                b.def_var(acc.sum, sum);
            }
            Reduce::Count => {}
            Reduce::Max | Reduce::Min => {
                let current = b.use_var(acc.extreme);
                let next = if op == Reduce::Max { math::max(b, current, x) } else { math::min(b, current, x) };
                let next = pick(b, included, next, current);
                b.def_var(acc.extreme, next);
            }
            Reduce::LogSumExp => {
                // Online: m' = max(m, x); s' = s·e^(m − m') + e^(x − m').
                let m = b.use_var(acc.extreme);
                let s = b.use_var(acc.sum);
                let m_new = math::max(b, m, x);
                let same = math::cmp(b, FloatCC::Equal, m, m_new);
                let shift = b.ins().fsub(m, m_new);
                let scale = math::exp(b, shift);
                let scale = math::select(b, same, one, scale);
                let neg_inf = math::splat(b, f32::NEG_INFINITY);
                let empty = math::cmp(b, FloatCC::Equal, x, neg_inf);
                let d = b.ins().fsub(x, m_new);
                let term = math::exp(b, d);
                let term = math::select(b, empty, zero, term);
                let scaled = b.ins().fmul(s, scale);
                let s_new = b.ins().fadd(scaled, term);
                let m_next = pick(b, included, m_new, m);
                let s_next = pick(b, included, s_new, s);
                b.def_var(acc.extreme, m_next);
                b.def_var(acc.sum, s_next);
            }
        }
    }

    fn finish_token_reduction(&mut self, b: &mut FunctionBuilder, id: NodeId, acc: TokenAccumulator) -> Value {
        let Op::Reduce { op, .. } = self.graph.node(id).op else { unreachable!("a reduction") };
        let count = b.use_var(acc.count);
        let count = horizontal_sum(b, count);
        match op {
            Reduce::Sum => {
                let sum = b.use_var(acc.sum);
                horizontal_sum(b, sum)
            }
            Reduce::Count => count,
            Reduce::Mean => {
                let sum = b.use_var(acc.sum);
                let sum = horizontal_sum(b, sum);
                b.ins().fdiv(sum, count)
            }
            Reduce::Max | Reduce::Min => {
                let e = b.use_var(acc.extreme);
                let lanes: Vec<Value> = (0..4u8).map(|l| b.ins().extractlane(e, l)).collect();
                let mut r = lanes[0];
                for &l in &lanes[1..] {
                    r = if op == Reduce::Max { b.ins().fmax(r, l) } else { b.ins().fmin(r, l) };
                }
                let r = b.ins().splat(V, r);
                // An empty group is NaN, as in the interpreter.
                let zero = math::splat(b, 0.0);
                let empty = math::cmp(b, FloatCC::Equal, count, zero);
                let nan = math::splat(b, f32::NAN);
                math::select(b, empty, nan, r)
            }
            Reduce::LogSumExp => {
                let m = b.use_var(acc.extreme);
                let s = b.use_var(acc.sum);
                let lanes_m: Vec<Value> = (0..4u8).map(|l| b.ins().extractlane(m, l)).collect();
                let mut top = lanes_m[0];
                for &l in &lanes_m[1..] {
                    top = b.ins().fmax(top, l);
                }
                let top_v = b.ins().splat(V, top);
                let same = math::cmp(b, FloatCC::Equal, m, top_v);
                let shift = b.ins().fsub(m, top_v);
                let scale = math::exp(b, shift);
                let one = math::splat(b, 1.0);
                let scale = math::select(b, same, one, scale);
                let scaled = b.ins().fmul(s, scale);
                let total = horizontal_sum(b, scaled);
                let l = math::log(b, total);
                let result = b.ins().fadd(top_v, l);
                let inf = math::splat(b, f32::INFINITY);
                let at_inf = math::cmp(b, FloatCC::Equal, top_v, inf);
                math::select(b, at_inf, inf, result)
            }
        }
    }

    /// The value of an operand: computed, scalar, or loaded.
    fn value(
        &mut self,
        b: &mut FunctionBuilder,
        id: NodeId,
        values: &mut HashMap<NodeId, Value>,
        row: Option<(Value, u32)>,
        token: Option<(Value, u32)>,
    ) -> Result<Value, Unsupported> {
        if let Some(v) = values.get(&id) {
            return Ok(*v);
        }
        if let Some(&offset) = self.scalars.get(&id) {
            // Read-only and movable: the optimizer hoists loads, and arithmetic
            // on them that is the same for every row (DPO's upstream scale and
            // its zero label-smoothing factor), out of the row loop: 1 thread
            // 38.5 → 35.6 ms for DPO at 10^7 rows.
            let flags = MemFlagsData::trusted().with_readonly().with_can_move();
            return Ok(b.ins().load(V, flags, self.scalar_ptr, offset));
        }
        let Some(&base) = self.buffers.get(&id) else {
            return Err(Unsupported(format!("%{} is not available in this kernel", id.0)));
        };
        let v = match self.graph.shape(id) {
            Shape::Tokens | Shape::Cands => {
                let (t, width) =
                    token.ok_or_else(|| Unsupported(format!("%{} is per token outside a token loop", id.0)))?;
                math::load(b, base, t, width)
            }
            _ => {
                let (r, width) = row.ok_or_else(|| Unsupported("a row value outside the row loop".into()))?;
                math::load(b, base, r, width)
            }
        };
        values.insert(id, v);
        Ok(v)
    }

    /// The lane mask of `cond ≠ 0` for a select. A comparison (or an `and`/`or`
    /// of comparisons) gives its mask directly rather than through its 1.0/0.0
    /// value, which saves a blend and a compare per use.
    fn mask(
        &mut self,
        b: &mut FunctionBuilder,
        cond: NodeId,
        values: &mut HashMap<NodeId, Value>,
        row: Option<(Value, u32)>,
        token: Option<(Value, u32)>,
    ) -> Result<Value, Unsupported> {
        if let Op::Binary(op, x, y) = self.graph.node(cond).op {
            if let Some(cc) = comparison(op) {
                let x = self.value(b, x, values, row, token)?;
                let y = self.value(b, y, values, row, token)?;
                return Ok(math::cmp(b, cc, x, y));
            }
            if matches!(op, Binary::And | Binary::Or) {
                let p = self.mask(b, x, values, row, token)?;
                let q = self.mask(b, y, values, row, token)?;
                return Ok(if op == Binary::And { b.ins().band(p, q) } else { b.ins().bor(p, q) });
            }
        }
        let value = self.value(b, cond, values, row, token)?;
        let zero = math::splat(b, 0.0);
        Ok(math::cmp(b, FloatCC::NotEqual, value, zero))
    }

    /// Whether `id` is a clamp to constant bounds inside [lo, hi] (a NaN
    /// argument stays NaN through it).
    fn clamped_within(&self, id: NodeId, lo: f64, hi: f64) -> bool {
        let Op::Clamp(_, low, high) = self.graph.node(id).op else { return false };
        match (self.constant_exponents.get(&low), self.constant_exponents.get(&high)) {
            (Some(&l), Some(&h)) => l >= lo && h <= hi && l <= h,
            _ => false,
        }
    }

    fn emit(
        &mut self,
        b: &mut FunctionBuilder,
        id: NodeId,
        values: &mut HashMap<NodeId, Value>,
        row: Option<(Value, u32)>,
        token: Option<(Value, u32)>,
    ) -> Result<Value, Unsupported> {
        let op = self.graph.node(id).op.clone();
        let mut get = |s: &mut Self, b: &mut FunctionBuilder, o: NodeId| s.value(b, o, values, row, token);
        Ok(match op {
            Op::Broadcast(a) | Op::StopGradient(a) => get(self, b, a)?,
            Op::Unary(Unary::Exp, a) if self.clamped_within(a, -88.0, 88.0) => {
                // The graph clamped the argument to constant bounds where exp needs
                // no range checks of its own (PPO's exp(clamp(log ratio, −20, 20))).
                let x = get(self, b, a)?;
                math::exp_bounded(b, x)
            }
            Op::Unary(u @ (Unary::Sigmoid | Unary::LogSigmoid | Unary::Softplus), a)
                if self.shared_exp.contains_key(&self.exp_key(a)) =>
            {
                let e = self.shared_exp[&self.exp_key(a)];
                let x = get(self, b, a)?;
                match u {
                    Unary::Sigmoid => math::sigmoid_given(b, x, e),
                    Unary::LogSigmoid => math::log_sigmoid_given(b, x, e),
                    _ => math::softplus_given(b, x, e),
                }
            }
            Op::Unary(u, a) => {
                let x = get(self, b, a)?;
                unary(b, u, x)
            }
            Op::Binary(op, a, c) => {
                let x = get(self, b, a)?;
                let y = get(self, b, c)?;
                let exponent = self.constant_exponents.get(&c).copied();
                binary(b, op, x, y, exponent)
            }
            Op::Select(c, a, d) => {
                let mask = self.mask(b, c, values, row, token)?;
                let mut get = |s: &mut Self, b: &mut FunctionBuilder, o: NodeId| s.value(b, o, values, row, token);
                let x = get(self, b, a)?;
                let y = get(self, b, d)?;
                math::select(b, mask, x, y)
            }
            Op::Clamp(x, lo, hi) => {
                let bounds = (self.constant_exponents.get(&lo).copied(), self.constant_exponents.get(&hi).copied());
                let x = get(self, b, x)?;
                match bounds {
                    // Constant bounds that are neither NaN nor ±0 (where `maxps` and `minps`'
                    // choice of zero would differ from fmax/fmin): one instruction each.
                    (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && lo != 0.0 && hi != 0.0 && lo <= hi => {
                        math::clamp_constant(b, x, lo as f32, hi as f32)
                    }
                    _ => {
                        let lo = get(self, b, lo)?;
                        let hi = get(self, b, hi)?;
                        let t = math::max(b, x, lo);
                        math::min(b, t, hi)
                    }
                }
            }
            other => return Err(Unsupported(format!("%{}: {other:?} is not compiled for the CPU", id.0))),
        })
    }
}

/// `included ? x : y` lane by lane, where `None` includes every lane.
fn pick(b: &mut FunctionBuilder, included: Option<Value>, x: Value, y: Value) -> Value {
    match included {
        Some(mask) => math::select(b, mask, x, y),
        None => x,
    }
}

fn lane0_mask(b: &mut FunctionBuilder) -> Value {
    let zero = math::splat(b, 0.0);
    let all = math::cmp(b, FloatCC::Equal, zero, zero);
    let none = math::cmp(b, FloatCC::NotEqual, zero, zero);
    let lane = b.ins().extractlane(all, 0);
    b.ins().insertlane(none, lane, 0)
}

/// Lanes 2 and 3 of an f32x4 moved to lanes 0 and 1.
fn upper_half(b: &mut FunctionBuilder, v: Value) -> Value {
    use cranelift_codegen::ir::ConstantData;
    let bytes = math::lanes_flags();
    let v8 = b.ins().bitcast(types::I8X16, bytes, v);
    let order: Vec<u8> = (8..16).chain(8..16).collect();
    let mask = b.func.dfg.immediates.push(ConstantData::from(order));
    let moved = b.ins().shuffle(v8, v8, mask);
    b.ins().bitcast(V, bytes, moved)
}

/// ((l0 + l1) + l2) + l3, splatted: a fixed order.
fn horizontal_sum(b: &mut FunctionBuilder, v: Value) -> Value {
    let lanes: Vec<Value> = (0..4u8).map(|l| b.ins().extractlane(v, l)).collect();
    let s = b.ins().fadd(lanes[0], lanes[1]);
    let s = b.ins().fadd(s, lanes[2]);
    let s = b.ins().fadd(s, lanes[3]);
    b.ins().splat(V, s)
}

fn unary(b: &mut FunctionBuilder, op: Unary, x: Value) -> Value {
    match op {
        Unary::Neg => math::neg(b, x),
        Unary::Exp => math::exp(b, x),
        Unary::Log => math::log(b, x),
        Unary::Log1p => math::log1p(b, x),
        Unary::Expm1 => math::expm1(b, x),
        Unary::Sigmoid => math::sigmoid(b, x),
        Unary::LogSigmoid => math::log_sigmoid(b, x),
        Unary::Softplus => math::softplus(b, x),
        Unary::Tanh => math::tanh(b, x),
        Unary::Abs => math::clear_sign(b, x),
        Unary::Sqrt => b.ins().sqrt(x),
        Unary::Relu => {
            let zero = math::splat(b, 0.0);
            let not_positive = math::cmp(b, FloatCC::LessThanOrEqual, x, zero);
            math::select(b, not_positive, zero, x)
        }
        Unary::Log1mexp => math::log1mexp(b, x),
        Unary::LogNdtr => math::log_ndtr(b, x),
        Unary::Sign => {
            let zero = math::splat(b, 0.0);
            let one = math::splat(b, 1.0);
            let minus = math::splat(b, -1.0);
            let positive = math::cmp(b, FloatCC::GreaterThan, x, zero);
            let negative = math::cmp(b, FloatCC::LessThan, x, zero);
            let zeroed = b.ins().fmul(x, zero);
            let r = math::select(b, negative, minus, zeroed);
            math::select(b, positive, one, r)
        }
        Unary::Not => {
            let zero = math::splat(b, 0.0);
            let is_zero = math::cmp(b, FloatCC::Equal, x, zero);
            math::mask_to_number(b, is_zero)
        }
    }
}

/// The float condition of a comparison op (ordered ones are false with a
/// NaN operand and `!=` is true, as in Rust), shared by the f32 and f64 code.
pub(crate) fn comparison(op: Binary) -> Option<FloatCC> {
    Some(match op {
        Binary::Lt => FloatCC::LessThan,
        Binary::Le => FloatCC::LessThanOrEqual,
        Binary::Gt => FloatCC::GreaterThan,
        Binary::Ge => FloatCC::GreaterThanOrEqual,
        Binary::Eq => FloatCC::Equal,
        Binary::Ne => FloatCC::NotEqual,
        _ => return None,
    })
}

fn binary(b: &mut FunctionBuilder, op: Binary, x: Value, y: Value, exponent: Option<f64>) -> Value {
    if let Some(cc) = comparison(op) {
        let m = math::cmp(b, cc, x, y);
        return math::mask_to_number(b, m);
    }
    match op {
        Binary::Add => b.ins().fadd(x, y),
        Binary::Sub => b.ins().fsub(x, y),
        Binary::Mul => b.ins().fmul(x, y),
        Binary::Div => b.ins().fdiv(x, y),
        Binary::Pow => math::pow(b, x, y, exponent),
        Binary::Min => math::min(b, x, y),
        Binary::Max => math::max(b, x, y),
        Binary::Lt | Binary::Le | Binary::Gt | Binary::Ge | Binary::Eq | Binary::Ne => {
            unreachable!("comparisons are handled above")
        }
        Binary::And | Binary::Or => {
            let zero = math::splat(b, 0.0);
            let a = math::cmp(b, FloatCC::NotEqual, x, zero);
            let c = math::cmp(b, FloatCC::NotEqual, y, zero);
            let m = if op == Binary::And { b.ins().band(a, c) } else { b.ins().bor(a, c) };
            math::mask_to_number(b, m)
        }
    }
}
