//! Cranelift code generation of one fused pass in f64, for graphs that need
//! more than f32 (the rating models' Newton iterations, docs/ratings.md).
//!
//! Same function shape as the f32 kernels (`fn(ctx, row_start, row_end,
//! partials)`): two rows at a time in f64x2 lanes, then a one-row scalar
//! tail. Arithmetic (+ − × ÷, neg, abs, sqrt), comparisons, selects and exp,
//! log and log1p (`math64.rs`, the interpreter's portable definitions
//! instruction for instruction) are inline; every other function calls the
//! interpreter's own scalar semantics (`plumb_ir::eval_unary`/`eval_binary`)
//! lane by lane through a plain `extern "C"` shim, so each row's values are
//! bitwise the interpreter's. Batch sums add the rows one by one in row order
//! (lane 0, then lane 1) per chunk, combined on the host in a fixed tree.
//! Kernels over tokens or candidates are not compiled in f64.

use crate::codegen::{NO_ARGS, Prologue, Unsupported, comparison, prologue};
use crate::math64::Lanes;
use cranelift_codegen::ir::{
    AbiParam, InstBuilder, MemFlagsData, SigRef, Signature, Value, condcodes::FloatCC, condcodes::IntCC, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, Variable};
use plumb_fuse::Kernel;
use plumb_ir::{Binary, Graph, NodeId, Op, Reduce, Unary, eval_binary, eval_unary};
use std::collections::HashMap;

macro_rules! unary_shim {
    ($($variant:ident),* $(,)?) => {
        /// The address of an `extern "C" fn(f64) -> f64` computing `op` as the interpreter does.
        fn unary_shim(op: Unary) -> usize {
            match op {
                $(Unary::$variant => {
                    extern "C" fn shim(x: f64) -> f64 {
                        eval_unary(Unary::$variant, x)
                    }
                    shim as *const () as usize
                })*
            }
        }
    };
}

unary_shim!(
    Neg, Exp, Log, Log1p, Expm1, Sigmoid, LogSigmoid, Softplus, Tanh, Abs, Sqrt, Relu, Log1mexp, Sign, Not, LogNdtr
);

macro_rules! binary_shim {
    ($($variant:ident),* $(,)?) => {
        /// The address of an `extern "C" fn(f64, f64) -> f64` computing `op` as the interpreter does.
        fn binary_shim(op: Binary) -> usize {
            match op {
                $(Binary::$variant => {
                    extern "C" fn shim(x: f64, y: f64) -> f64 {
                        eval_binary(Binary::$variant, x, y)
                    }
                    shim as *const () as usize
                })*
            }
        }
    };
}

binary_shim!(Add, Sub, Mul, Div, Pow, Min, Max, Lt, Le, Gt, Ge, Eq, Ne, And, Or);

/// `x` limited to `[lo, hi]` as the interpreter does it (a NaN `x` stays NaN).
extern "C" fn clamp_shim(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() { x } else { x.max(lo).min(hi) }
}

struct Emitter<'g> {
    graph: &'g Graph,
    buffers: HashMap<NodeId, Value>,
    /// Scalars as loaded (f64) and splatted (f64x2).
    scalars: HashMap<NodeId, Value>,
    wide_scalars: HashMap<NodeId, Value>,
    /// (sum, count) per batch reduction.
    batch: HashMap<NodeId, (Variable, Variable)>,
    signatures: [SigRef; 3],
    lanes: Lanes,
}

pub fn build(b: &mut FunctionBuilder, graph: &Graph, kernel: &Kernel, call_conv: CallConv) -> Result<(), Unsupported> {
    if kernel.ragged {
        return Err(Unsupported("f64 kernels over tokens or candidates are not compiled".into()));
    }
    for id in &kernel.nodes {
        match &graph.node(*id).op {
            Op::Broadcast(_)
            | Op::Unary(..)
            | Op::Binary(..)
            | Op::Select(..)
            | Op::Clamp(..)
            | Op::StopGradient(_) => {}
            other => {
                return Err(Unsupported(format!(
                    "%{}: {:?} is not compiled for the CPU in f64",
                    id.0,
                    std::mem::discriminant(other)
                )));
            }
        }
    }
    let Prologue { row_start, row_end, partials, scalar_ptr, buffers, .. } = prologue(b, kernel);
    let flags = MemFlagsData::trusted();
    let mut scalars = HashMap::new();
    let mut wide_scalars = HashMap::new();
    for (index, id) in kernel.scalars.iter().enumerate() {
        let x = b.ins().load(types::F64, flags, scalar_ptr, (index * 32) as i32);
        scalars.insert(*id, x);
        wide_scalars.insert(*id, b.ins().splat(types::F64X2, x));
    }
    let mut batch = HashMap::new();
    for id in &kernel.reductions {
        // Sums start at −0 and skip masked rows by adding −0, as Rust's `Sum` (the
        // interpreter's) does: a sum of nothing, or of −0s, is −0.
        let minus_zero = b.ins().f64const(-0.0);
        let zero = b.ins().f64const(0.0);
        let sum = b.declare_var(types::F64);
        let count = b.declare_var(types::F64);
        b.def_var(sum, minus_zero);
        b.def_var(count, zero);
        batch.insert(*id, (sum, count));
    }
    let signature = |arity: usize| {
        let mut sig = Signature::new(call_conv);
        sig.params.extend((0..arity).map(|_| AbiParam::new(types::F64)));
        sig.returns.push(AbiParam::new(types::F64));
        sig
    };
    let signatures = [1, 2, 3].map(|arity| b.import_signature(signature(arity)));
    let mut e = Emitter { graph, buffers, scalars, wide_scalars, batch, signatures, lanes: Lanes { wide: true } };

    // while row + 2 <= row_end { two rows }; while row < row_end { one row }
    let index = b.declare_var(types::I64);
    b.def_var(index, row_start);
    let (wide_header, wide_body) = (b.create_block(), b.create_block());
    let (tail_header, tail_body, exit) = (b.create_block(), b.create_block(), b.create_block());
    b.ins().jump(wide_header, &NO_ARGS);
    b.switch_to_block(wide_header);
    let row = b.use_var(index);
    let pair_end = b.ins().iadd_imm_s(row, 2);
    let more = b.ins().icmp(IntCC::SignedLessThanOrEqual, pair_end, row_end);
    b.ins().brif(more, wide_body, &NO_ARGS, tail_header, &NO_ARGS);
    b.switch_to_block(wide_body);
    let row = b.use_var(index);
    e.row_body(b, kernel, row)?;
    let next = b.ins().iadd_imm_s(row, 2);
    b.def_var(index, next);
    b.ins().jump(wide_header, &NO_ARGS);
    b.switch_to_block(tail_header);
    e.lanes = Lanes { wide: false };
    let row = b.use_var(index);
    let more = b.ins().icmp(IntCC::SignedLessThan, row, row_end);
    b.ins().brif(more, tail_body, &NO_ARGS, exit, &NO_ARGS);
    b.switch_to_block(tail_body);
    let row = b.use_var(index);
    e.row_body(b, kernel, row)?;
    let next = b.ins().iadd_imm_s(row, 1);
    b.def_var(index, next);
    b.ins().jump(tail_header, &NO_ARGS);
    b.switch_to_block(exit);
    for (index, id) in kernel.reductions.iter().enumerate() {
        let (sum, count) = e.batch[id];
        let sum = b.use_var(sum);
        let count = b.use_var(count);
        b.ins().store(flags, sum, partials, (index * 16) as i32);
        b.ins().store(flags, count, partials, (index * 16 + 8) as i32);
    }
    b.ins().return_(&[]);
    b.seal_all_blocks();
    Ok(())
}

impl Emitter<'_> {
    fn row_body(&mut self, b: &mut FunctionBuilder, kernel: &Kernel, row: Value) -> Result<(), Unsupported> {
        let lanes = self.lanes;
        let mut values: HashMap<NodeId, Value> = HashMap::new();
        let mut nodes = kernel.nodes.clone();
        nodes.sort();
        for id in nodes {
            let v = self.emit(b, id, row, &mut values)?;
            values.insert(id, v);
        }
        for id in kernel.reductions.clone() {
            let Op::Reduce { op, arg, mask, .. } = self.graph.node(id).op.clone() else { continue };
            let zero = lanes.constant(b, 0.0);
            let one = lanes.constant(b, 1.0);
            let included = match mask {
                Some(m) => {
                    let m = self.value(b, m, row, &mut values)?;
                    Some(lanes.compare(b, FloatCC::NotEqual, m, zero))
                }
                None => None,
            };
            let (sum, count) = self.batch[&id];
            if op != Reduce::Count {
                let x = self.value(b, arg, row, &mut values)?;
                let x = match included {
                    Some(c) => {
                        let minus_zero = lanes.constant(b, -0.0);
                        lanes.choose(b, c, x, minus_zero)
                    }
                    None => x,
                };
                self.accumulate(b, sum, x);
            }
            // Without a mask every row counts: the host knows the count.
            if mask.is_some() || op == Reduce::Count {
                let x = match included {
                    Some(c) => lanes.choose(b, c, one, zero),
                    None => one,
                };
                self.accumulate(b, count, x);
            }
        }
        for id in kernel.stores.clone() {
            let x = self.value(b, id, row, &mut values)?;
            let address = self.address(b, id, row)?;
            b.ins().store(MemFlagsData::new().with_notrap(), x, address, 0);
        }
        Ok(())
    }

    /// Adds each lane of `x` to the accumulator, lane 0 first (row order).
    fn accumulate(&self, b: &mut FunctionBuilder, accumulator: Variable, x: Value) {
        let mut acc = b.use_var(accumulator);
        for lane in self.lane_values(b, x) {
            acc = b.ins().fadd(acc, lane);
        }
        b.def_var(accumulator, acc);
    }

    fn lane_values(&self, b: &mut FunctionBuilder, x: Value) -> Vec<Value> {
        if self.lanes.wide { (0..2u8).map(|l| b.ins().extractlane(x, l)).collect() } else { vec![x] }
    }

    fn address(&self, b: &mut FunctionBuilder, id: NodeId, row: Value) -> Result<Value, Unsupported> {
        let Some(&base) = self.buffers.get(&id) else {
            return Err(Unsupported(format!("%{} is not available in this kernel", id.0)));
        };
        let offset = b.ins().imul_imm_s(row, 8);
        Ok(b.ins().iadd(base, offset))
    }

    fn value(
        &mut self,
        b: &mut FunctionBuilder,
        id: NodeId,
        row: Value,
        values: &mut HashMap<NodeId, Value>,
    ) -> Result<Value, Unsupported> {
        let scalars = if self.lanes.wide { &self.wide_scalars } else { &self.scalars };
        if let Some(v) = values.get(&id).or_else(|| scalars.get(&id)) {
            return Ok(*v);
        }
        let address = self.address(b, id, row)?;
        let v = b.ins().load(self.lanes.float(), MemFlagsData::new().with_notrap(), address, 0);
        values.insert(id, v);
        Ok(v)
    }

    /// Calls a scalar shim on each lane of the arguments.
    fn call(&self, b: &mut FunctionBuilder, shim: usize, args: &[Value]) -> Value {
        let per_lane: Vec<Vec<Value>> = args.iter().map(|&a| self.lane_values(b, a)).collect();
        let lanes = if self.lanes.wide { 2 } else { 1 };
        let mut results = Vec::with_capacity(lanes);
        for lane in 0..lanes {
            let callee = b.ins().iconst(types::I64, shim as i64);
            let lane_args: Vec<Value> = per_lane.iter().map(|a| a[lane]).collect();
            let call = b.ins().call_indirect(self.signatures[args.len() - 1], callee, &lane_args);
            results.push(b.inst_results(call)[0]);
        }
        if self.lanes.wide {
            let v = b.ins().splat(types::F64X2, results[0]);
            b.ins().insertlane(v, results[1], 1)
        } else {
            results[0]
        }
    }

    fn emit(
        &mut self,
        b: &mut FunctionBuilder,
        id: NodeId,
        row: Value,
        values: &mut HashMap<NodeId, Value>,
    ) -> Result<Value, Unsupported> {
        let lanes = self.lanes;
        let op = self.graph.node(id).op.clone();
        Ok(match op {
            Op::Broadcast(a) | Op::StopGradient(a) => self.value(b, a, row, values)?,
            Op::Unary(u, a) => {
                let x = self.value(b, a, row, values)?;
                match u {
                    Unary::Neg => b.ins().fneg(x),
                    Unary::Abs => b.ins().fabs(x),
                    Unary::Sqrt => b.ins().sqrt(x),
                    Unary::Exp => lanes.exp(b, x),
                    Unary::Log => lanes.log(b, x),
                    Unary::Log1p => lanes.log1p(b, x),
                    other => self.call(b, unary_shim(other), &[x]),
                }
            }
            Op::Binary(op, a, c) => {
                let x = self.value(b, a, row, values)?;
                let y = self.value(b, c, row, values)?;
                if let Some(cc) = comparison(op) {
                    let holds = lanes.compare(b, cc, x, y);
                    let (one, zero) = (lanes.constant(b, 1.0), lanes.constant(b, 0.0));
                    return Ok(lanes.choose(b, holds, one, zero));
                }
                match op {
                    Binary::Add => b.ins().fadd(x, y),
                    Binary::Sub => b.ins().fsub(x, y),
                    Binary::Mul => b.ins().fmul(x, y),
                    Binary::Div => b.ins().fdiv(x, y),
                    other => self.call(b, binary_shim(other), &[x, y]),
                }
            }
            Op::Select(c, a, d) => {
                let cond = self.value(b, c, row, values)?;
                let x = self.value(b, a, row, values)?;
                let y = self.value(b, d, row, values)?;
                let zero = lanes.constant(b, 0.0);
                let taken = lanes.compare(b, FloatCC::NotEqual, cond, zero);
                lanes.choose(b, taken, x, y)
            }
            Op::Clamp(x, lo, hi) => {
                let x = self.value(b, x, row, values)?;
                let lo = self.value(b, lo, row, values)?;
                let hi = self.value(b, hi, row, values)?;
                self.call(b, clamp_shim as *const () as usize, &[x, lo, hi])
            }
            other => return Err(Unsupported(format!("%{}: {other:?} is not compiled for the CPU in f64", id.0))),
        })
    }
}
