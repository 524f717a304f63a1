//! One fused pass (a [`plumb_fuse::Kernel`]) as a naga compute module, built
//! in code and validated.
//!
//! Mapping: a workgroup of [`WORKGROUP`] invocations covers [`WORKGROUP`]
//! consecutive rows, one invocation per row. A ragged kernel's invocation loops
//! over its row's tokens (candidates) itself, in as many loops as the per-row
//! token reductions need (the CPU backend's levels), accumulating in token order.
//! Every batch sum is reduced in the workgroup in a fixed tree (shared memory,
//! strides 128, 64, …, 1) and written as one partial per workgroup; the host adds
//! the partials in f64 in a fixed order. Out-of-range invocations contribute 0,
//! so barriers stay in uniform control flow.
//!
//! Bindings (group 0, in [`Layout::bindings`] order): `info` (u32: rows in this
//! dispatch, its first workgroup, the first token and candidate the ragged
//! bindings start at), then the scalars, the partials, the token and candidate
//! offsets, the loads and the stores — each only where the kernel uses it.

use crate::builder::{FnBuilder, H, Types};
use naga::{
    AddressSpace, ArraySize, Barrier, Binding as NagaBinding, BuiltIn, EntryPoint, Expression, FunctionArgument,
    GlobalVariable, Module, ResourceBinding, Scalar, ShaderStage, Span, Statement, StorageAccess, Type, TypeInner,
    VectorSize,
};
use plumb_fuse::Kernel;
use plumb_fuse::token_levels as levels;
use plumb_ir::{Axis, Binary, Graph, NodeId, Op, Reduce, Shape, Unary};
use std::collections::{HashMap, HashSet};

/// Invocations (rows) per workgroup; also the granularity of batch partial sums.
pub const WORKGROUP: u32 = 256;

/// What a binding holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    Info,
    Scalars,
    Partials,
    TokOffsets,
    KOffsets,
    Load(NodeId),
    Store(NodeId),
}

/// What one partial-sum slot accumulates for a batch reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotKind {
    Sum,
    Count,
}

/// How a kernel's module talks to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Binding `i` of group 0 holds `bindings[i]`.
    pub bindings: Vec<Binding>,
    /// The scalars read from the scalars buffer, in order (constants are literals).
    pub scalars: Vec<NodeId>,
    /// Partial-sum slots per workgroup, in order.
    pub slots: Vec<(NodeId, SlotKind)>,
}

/// Why a kernel cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

fn is_ragged(shape: Shape) -> bool {
    matches!(shape, Shape::Tokens | Shape::Cands)
}

/// The slots of a kernel's batch reductions: a sum unless it counts, a count where masked or counting.
pub fn slots(graph: &Graph, kernel: &Kernel) -> Vec<(NodeId, SlotKind)> {
    let mut slots = Vec::new();
    for id in &kernel.reductions {
        if let Op::Reduce { op, mask, .. } = graph.node(*id).op {
            if op != Reduce::Count {
                slots.push((*id, SlotKind::Sum));
            }
            if mask.is_some() || op == Reduce::Count {
                slots.push((*id, SlotKind::Count));
            }
        }
    }
    slots
}

/// The float type a kernel stores and computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    F32,
    /// Needs the device features `SHADER_F64` and `SHADER_INT64`.
    F64,
}

impl Precision {
    /// Bytes per value.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }

    /// The naga capabilities its modules need.
    pub fn capabilities(self) -> naga::valid::Capabilities {
        match self {
            Precision::F32 => naga::valid::Capabilities::empty(),
            Precision::F64 => naga::valid::Capabilities::FLOAT64 | naga::valid::Capabilities::SHADER_INT64,
        }
    }
}

/// Builds and validates the module of one kernel.
pub fn build(
    graph: &Graph,
    kernel: &Kernel,
    precision: Precision,
) -> Result<(Module, naga::valid::ModuleInfo, Layout), Unsupported> {
    for id in &kernel.nodes {
        match &graph.node(*id).op {
            Op::Broadcast(_)
            | Op::Unary(..)
            | Op::Binary(..)
            | Op::Select(..)
            | Op::Clamp(..)
            | Op::StopGradient(_) => {}
            Op::Reduce { axis: Axis::Tok | Axis::K, .. } => {}
            other => return Err(Unsupported(format!("%{}: {other:?} is not compiled for the GPU", id.0))),
        }
    }
    for id in &kernel.reductions {
        match graph.node(*id).op {
            Op::Reduce { axis: Axis::Batch, op: Reduce::Sum | Reduce::Mean | Reduce::Count, .. } => {}
            ref other => return Err(Unsupported(format!("%{}: batch reduction {other:?} on the GPU", id.0))),
        }
    }
    let mut module = Module::default();
    let wide = precision == Precision::F64;
    let float = if wide { Scalar::F64 } else { Scalar::F32 };
    let stride = precision.bytes() as u32;
    let float_ty = module.types.insert(Type { name: None, inner: TypeInner::Scalar(float) }, Span::UNDEFINED);
    let u32_ty = module.types.insert(Type { name: None, inner: TypeInner::Scalar(Scalar::U32) }, Span::UNDEFINED);
    let uvec3 = module.types.insert(
        Type { name: None, inner: TypeInner::Vector { size: VectorSize::Tri, scalar: Scalar::U32 } },
        Span::UNDEFINED,
    );
    let float_array = module.types.insert(
        Type { name: None, inner: TypeInner::Array { base: float_ty, size: ArraySize::Dynamic, stride } },
        Span::UNDEFINED,
    );
    let u32_array = module.types.insert(
        Type { name: None, inner: TypeInner::Array { base: u32_ty, size: ArraySize::Dynamic, stride: 4 } },
        Span::UNDEFINED,
    );
    let workgroup_array = module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Array {
                base: float_ty,
                size: ArraySize::Constant(std::num::NonZeroU32::new(WORKGROUP).expect("non-zero")),
                stride,
            },
        },
        Span::UNDEFINED,
    );
    let levels = levels(graph, kernel);
    let uses = |axis_shape: Shape| {
        kernel.nodes.iter().chain(&kernel.loads).any(|id| graph.shape(*id) == axis_shape)
            || kernel
                .nodes
                .iter()
                .any(|id| matches!(graph.node(*id).op, Op::Reduce { axis, .. } if axis.reduces().0 == axis_shape))
    };
    let scalars: Vec<NodeId> =
        kernel.scalars.iter().copied().filter(|id| !matches!(graph.node(*id).op, Op::Const(_))).collect();
    let slots = slots(graph, kernel);
    let mut bindings = vec![Binding::Info];
    if !scalars.is_empty() {
        bindings.push(Binding::Scalars);
    }
    if !slots.is_empty() {
        bindings.push(Binding::Partials);
    }
    if uses(Shape::Tokens) {
        bindings.push(Binding::TokOffsets);
    }
    if uses(Shape::Cands) {
        bindings.push(Binding::KOffsets);
    }
    bindings.extend(kernel.loads.iter().map(|id| Binding::Load(*id)));
    bindings.extend(kernel.stores.iter().map(|id| Binding::Store(*id)));
    let mut globals = HashMap::new();
    for (index, binding) in bindings.iter().enumerate() {
        let (name, ty, access) = match binding {
            Binding::Info => ("info".to_string(), u32_array, StorageAccess::LOAD),
            Binding::Scalars => ("scalars".to_string(), float_array, StorageAccess::LOAD),
            Binding::Partials => ("partials".to_string(), float_array, StorageAccess::LOAD | StorageAccess::STORE),
            Binding::TokOffsets => ("tok_offsets".to_string(), u32_array, StorageAccess::LOAD),
            Binding::KOffsets => ("k_offsets".to_string(), u32_array, StorageAccess::LOAD),
            Binding::Load(id) => (format!("in_{}", id.0), float_array, StorageAccess::LOAD),
            Binding::Store(id) => (format!("out_{}", id.0), float_array, StorageAccess::LOAD | StorageAccess::STORE),
        };
        let g = module.global_variables.append(
            GlobalVariable {
                name: Some(name),
                space: AddressSpace::Storage { access },
                binding: Some(ResourceBinding { group: 0, binding: index as u32 }),
                ty,
                init: None,
                memory_decorations: Default::default(),
            },
            Span::UNDEFINED,
        );
        globals.insert(*binding, g);
    }
    let red = (!slots.is_empty()).then(|| {
        module.global_variables.append(
            GlobalVariable {
                name: Some("partial".to_string()),
                space: AddressSpace::WorkGroup,
                binding: None,
                ty: workgroup_array,
                init: None,
                memory_decorations: Default::default(),
            },
            Span::UNDEFINED,
        )
    });
    // The function is named by its entry point only, so equal kernels of
    // differently named graphs are equal modules (one cached pipeline).
    let mut fb = FnBuilder::new(Types { float: float_ty, u32: u32_ty, wide });
    for (name, builtin) in [("local_id", BuiltIn::LocalInvocationId), ("group_id", BuiltIn::WorkGroupId)] {
        fb.function.arguments.push(FunctionArgument {
            name: Some(name.to_string()),
            ty: uvec3,
            binding: Some(NagaBinding::BuiltIn(builtin)),
        });
    }
    // In binding order: the module must not depend on a hash map's order.
    let global_exprs: HashMap<Binding, H> = bindings.iter().map(|b| (*b, fb.global(globals[b]))).collect();
    let consts: HashMap<NodeId, f64> = kernel
        .scalars
        .iter()
        .filter_map(|id| match graph.node(*id).op {
            Op::Const(v) => Some((*id, v)),
            _ => None,
        })
        .collect();
    let mut e = Emitter {
        graph,
        kernel,
        fb,
        globals: global_exprs,
        consts,
        scalars: HashMap::new(),
        levels,
        row: None,
        tok_base: None,
        k_base: None,
    };
    e.body(&scalars, &slots, red)?;
    let function = e.fb.finish();
    module.entry_points.push(EntryPoint {
        name: "main".to_string(),
        stage: ShaderStage::Compute,
        early_depth_test: None,
        workgroup_size: [WORKGROUP, 1, 1],
        workgroup_size_overrides: None,
        function,
        mesh_info: None,
        task_payload: None,
        incoming_ray_payload: None,
    });
    let info = validate(&module, precision)?;
    Ok((module, info, Layout { bindings, scalars, slots }))
}

/// Validates a module with every check naga has.
pub fn validate(module: &Module, precision: Precision) -> Result<naga::valid::ModuleInfo, Unsupported> {
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), precision.capabilities())
        .validate(module)
        .map_err(|e| Unsupported(format!("the generated module does not validate: {}", e.emit_to_string(""))))
}

/// The module as WGSL.
pub fn to_wgsl(module: &Module, info: &naga::valid::ModuleInfo) -> Result<String, Unsupported> {
    naga::back::wgsl::write_string(module, info, naga::back::wgsl::WriterFlags::empty())
        .map_err(|e| Unsupported(format!("WGSL output failed: {e}")))
}

/// Per-row accumulators of one reduction over tokens (or candidates).
#[derive(Clone, Copy)]
struct TokenAccumulator {
    sum: H,
    count: H,
    extreme: H,
}

struct Emitter<'g> {
    graph: &'g Graph,
    kernel: &'g Kernel,
    fb: FnBuilder,
    globals: HashMap<Binding, H>,
    consts: HashMap<NodeId, f64>,
    scalars: HashMap<NodeId, H>,
    levels: HashMap<NodeId, usize>,
    /// The row index within this dispatch.
    row: Option<H>,
    tok_base: Option<H>,
    k_base: Option<H>,
}

impl Emitter<'_> {
    fn info(&mut self, index: u32) -> H {
        let info = self.globals[&Binding::Info];
        let i = self.fb.u(index);
        let p = self.fb.at(info, i);
        self.fb.load(p)
    }

    fn body(
        &mut self,
        scalars: &[NodeId],
        slots: &[(NodeId, SlotKind)],
        red: Option<naga::Handle<GlobalVariable>>,
    ) -> Result<(), Unsupported> {
        let local = self.fb.push(Expression::FunctionArgument(0));
        let local = self.fb.push(Expression::AccessIndex { base: local, index: 0 });
        self.fb.name(local, "lid".into());
        let group = self.fb.push(Expression::FunctionArgument(1));
        let group = self.fb.push(Expression::AccessIndex { base: group, index: 0 });
        self.fb.name(group, "gid".into());
        let width = self.fb.u(WORKGROUP);
        let first = self.fb.mul(group, width);
        let row = self.fb.add(first, local);
        self.fb.name(row, "row".into());
        let rows = self.info(0);
        self.fb.name(rows, "rows".into());
        if self.globals.contains_key(&Binding::TokOffsets) {
            let base = self.info(2);
            self.fb.name(base, "tok_base".into());
            self.tok_base = Some(base);
        }
        if self.globals.contains_key(&Binding::KOffsets) {
            let base = self.info(3);
            self.fb.name(base, "k_base".into());
            self.k_base = Some(base);
        }
        for (index, id) in scalars.iter().enumerate() {
            let buffer = self.globals[&Binding::Scalars];
            let i = self.fb.u(index as u32);
            let p = self.fb.at(buffer, i);
            let v = self.fb.load(p);
            self.fb.name(v, format!("s{}", id.0));
            self.scalars.insert(*id, v);
        }
        let float_ty = self.fb.types.float;
        let zero = self.fb.f(0.0);
        let accumulators: Vec<H> = (0..slots.len()).map(|i| self.fb.var(&format!("acc{i}"), float_ty, zero)).collect();
        self.row = Some(row);
        let in_range = self.fb.lt(row, rows);
        self.fb.begin();
        self.row_body(slots, &accumulators)?;
        self.fb.end_if(in_range);
        // The workgroup's tree reduction of each slot, then one partial per workgroup.
        if let Some(red) = red {
            let shared = self.fb.global(red);
            let partials = self.globals[&Binding::Partials];
            let group_base = self.info(1);
            let n_slots = self.fb.u(slots.len() as u32);
            let global_group = self.fb.add(group_base, group);
            let partial_base = self.fb.mul(global_group, n_slots);
            for (slot, acc) in accumulators.iter().enumerate() {
                let value = self.fb.load(*acc);
                let mine = self.fb.at(shared, local);
                self.fb.store(mine, value);
                self.barrier();
                let mut stride = WORKGROUP / 2;
                while stride > 0 {
                    let s = self.fb.u(stride);
                    let active = self.fb.lt(local, s);
                    self.fb.begin();
                    let other_index = self.fb.add(local, s);
                    let other = self.fb.at(shared, other_index);
                    let other = self.fb.load(other);
                    let mine = self.fb.at(shared, local);
                    let current = self.fb.load(mine);
                    let sum = self.fb.add(current, other);
                    self.fb.store(mine, sum);
                    self.fb.end_if(active);
                    self.barrier();
                    stride /= 2;
                }
                let zero_u = self.fb.u(0);
                let leader = self.fb.eq(local, zero_u);
                self.fb.begin();
                let total = self.fb.at(shared, zero_u);
                let total = self.fb.load(total);
                let slot_index = self.fb.u(slot as u32);
                let at = self.fb.add(partial_base, slot_index);
                let target = self.fb.at(partials, at);
                self.fb.store(target, total);
                self.fb.end_if(leader);
                self.barrier();
            }
        }
        Ok(())
    }

    fn barrier(&mut self) {
        self.fb.stmt(Statement::ControlBarrier(Barrier::WORK_GROUP));
    }

    fn row_body(&mut self, slots: &[(NodeId, SlotKind)], accumulators: &[H]) -> Result<(), Unsupported> {
        let row = self.row.expect("row index");
        let mut values: HashMap<NodeId, H> = HashMap::new();
        // Per-row loads once, up front (token loops use them too).
        for id in self.kernel.loads.clone() {
            if self.graph.shape(id) == Shape::Rows {
                let buffer = self.globals[&Binding::Load(id)];
                let p = self.fb.at(buffer, row);
                let v = self.fb.load(p);
                self.fb.name(v, format!("v{}", id.0));
                values.insert(id, v);
            }
        }
        let max_level = self.levels.values().copied().max().unwrap_or(0);
        for level in 0..=max_level {
            let row_nodes: Vec<NodeId> = self
                .kernel
                .nodes
                .iter()
                .copied()
                .filter(|id| !is_ragged(self.graph.shape(*id)) && self.levels[id] == level)
                .filter(|id| !matches!(self.graph.node(*id).op, Op::Reduce { axis: Axis::Tok | Axis::K, .. }))
                .collect();
            for id in row_nodes {
                let v = self.emit(id, &mut values, None)?;
                values.insert(id, v);
            }
            for axis in [Axis::Tok, Axis::K] {
                self.token_loop(axis, level, &mut values)?;
            }
        }
        for (slot, (id, kind)) in slots.iter().enumerate() {
            let Op::Reduce { arg, mask, .. } = self.graph.node(*id).op else { continue };
            let included = match mask {
                Some(m) => {
                    let m = self.value(m, &mut values, None)?;
                    Some(self.fb.nonzero(m))
                }
                None => None,
            };
            let contribution = match kind {
                SlotKind::Sum => {
                    let x = self.value(arg, &mut values, None)?;
                    match included {
                        Some(c) => {
                            let zero = self.fb.f(0.0);
                            self.fb.select(c, x, zero)
                        }
                        None => x,
                    }
                }
                SlotKind::Count => match included {
                    Some(c) => self.fb.number(c),
                    None => self.fb.f(1.0),
                },
            };
            let acc = accumulators[slot];
            let current = self.fb.load(acc);
            let next = self.fb.add(current, contribution);
            self.fb.store(acc, next);
        }
        for id in self.kernel.stores.clone() {
            if is_ragged(self.graph.shape(id)) {
                continue; // stored inside its token loop
            }
            let x = self.value(id, &mut values, None)?;
            let buffer = self.globals[&Binding::Store(id)];
            let p = self.fb.at(buffer, row);
            self.fb.store(p, x);
        }
        Ok(())
    }

    /// The loop over one row's tokens (or candidates) for one level.
    fn token_loop(&mut self, axis: Axis, level: usize, values: &mut HashMap<NodeId, H>) -> Result<(), Unsupported> {
        let shape = if axis == Axis::Tok { Shape::Tokens } else { Shape::Cands };
        let graph = self.graph;
        let reductions: Vec<NodeId> = self
            .kernel
            .nodes
            .iter()
            .copied()
            .filter(|id| {
                matches!(graph.node(*id).op, Op::Reduce { axis: a, .. } if a == axis) && self.levels[id] == level + 1
            })
            .collect();
        let stores: Vec<NodeId> = self
            .kernel
            .stores
            .iter()
            .copied()
            .filter(|id| graph.shape(*id) == shape && self.levels.get(id) == Some(&level))
            .collect();
        let mut needed: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<NodeId> = stores.clone();
        for id in &reductions {
            if let Op::Reduce { op, arg, mask, .. } = graph.node(*id).op {
                // A count reads only its mask (the planner leaves its operand out).
                if op != Reduce::Count {
                    stack.push(arg);
                }
                stack.extend(mask);
            }
        }
        while let Some(id) = stack.pop() {
            if graph.shape(id) != shape || !self.levels.contains_key(&id) || !needed.insert(id) {
                continue;
            }
            stack.extend(graph.node(id).op.operands());
        }
        let nodes: Vec<NodeId> = self.kernel.nodes.iter().copied().filter(|id| needed.contains(id)).collect();
        if nodes.is_empty() && reductions.is_empty() && stores.is_empty() {
            return Ok(());
        }
        let row = self.row.expect("row index");
        let (offsets, base) = if axis == Axis::Tok {
            (self.globals[&Binding::TokOffsets], self.tok_base.expect("token base"))
        } else {
            (self.globals[&Binding::KOffsets], self.k_base.expect("candidate base"))
        };
        let p = self.fb.at(offsets, row);
        let start = self.fb.load(p);
        let one_u = self.fb.u(1);
        let next_row = self.fb.add(row, one_u);
        let p = self.fb.at(offsets, next_row);
        let end = self.fb.load(p);
        let (float_ty, u32_ty) = (self.fb.types.float, self.fb.types.u32);
        let tag = format!("{}{level}", if axis == Axis::Tok { "t" } else { "k" });
        let zero = self.fb.f(0.0);
        let accumulators: Vec<(NodeId, TokenAccumulator)> = reductions
            .iter()
            .map(|id| {
                let init = match graph.node(*id).op {
                    Op::Reduce { op: Reduce::Min, .. } => f64::INFINITY,
                    _ => f64::NEG_INFINITY,
                };
                let init = self.fb.f(init);
                let acc = TokenAccumulator {
                    sum: self.fb.var(&format!("sum{}", id.0), float_ty, zero),
                    count: self.fb.var(&format!("count{}", id.0), float_ty, zero),
                    extreme: self.fb.var(&format!("extreme{}", id.0), float_ty, init),
                };
                (*id, acc)
            })
            .collect();
        let counter = self.fb.var(&tag, u32_ty, start);
        // loop { let t = counter; if t >= end { break; } …; continuing { counter = counter + 1; } }
        self.fb.begin();
        let t = self.fb.load(counter);
        let done = self.fb.ge(t, end);
        self.fb.begin();
        self.fb.stmt(Statement::Break);
        self.fb.end_if(done);
        let index = self.fb.sub(t, base);
        let mut inner = values.clone();
        for id in &nodes {
            let v = self.emit(*id, &mut inner, Some(index))?;
            inner.insert(*id, v);
        }
        for (id, acc) in &accumulators {
            let Op::Reduce { op, arg, mask, .. } = graph.node(*id).op else { continue };
            let x = if op == Reduce::Count { self.fb.f(0.0) } else { self.value(arg, &mut inner, Some(index))? };
            let included = match mask {
                Some(m) => {
                    let m = self.value(m, &mut inner, Some(index))?;
                    self.fb.nonzero(m)
                }
                None => self.fb.b(true),
            };
            self.accumulate_token(op, *acc, x, included);
        }
        for id in &stores {
            let x = self.value(*id, &mut inner, Some(index))?;
            let buffer = self.globals[&Binding::Store(*id)];
            let p = self.fb.at(buffer, index);
            self.fb.store(p, x);
        }
        let body = self.fb.end();
        self.fb.begin();
        let t = self.fb.load(counter);
        let one_u = self.fb.u(1);
        let next = self.fb.add(t, one_u);
        self.fb.store(counter, next);
        let continuing = self.fb.end();
        self.fb.stmt(Statement::Loop { body, continuing, break_if: None });
        for (id, acc) in accumulators {
            let v = self.finish_token_reduction(id, acc);
            self.fb.name(v, format!("n{}", id.0));
            values.insert(id, v);
        }
        Ok(())
    }

    fn accumulate_token(&mut self, op: Reduce, acc: TokenAccumulator, x: H, included: H) {
        let fb = &mut self.fb;
        let count = fb.load(acc.count);
        let one = fb.f(1.0);
        let plus = fb.add(count, one);
        let count = fb.select(included, plus, count);
        fb.store(acc.count, count);
        match op {
            Reduce::Sum | Reduce::Mean => {
                let sum = fb.load(acc.sum);
                let plus = fb.add(sum, x);
                let sum = fb.select(included, plus, sum);
                fb.store(acc.sum, sum);
            }
            Reduce::Count => {}
            Reduce::Max | Reduce::Min => {
                let current = fb.load(acc.extreme);
                let next = fb.min_max(op == Reduce::Max, current, x);
                let next = fb.select(included, next, current);
                fb.store(acc.extreme, next);
            }
            Reduce::LogSumExp => {
                // Online: m' = max(m, x); s' = s·e^(m − m') + e^(x − m').
                let m = fb.load(acc.extreme);
                let s = fb.load(acc.sum);
                let m_new = fb.min_max(true, m, x);
                let same = fb.eq(m, m_new);
                let shift = fb.sub(m, m_new);
                let scale = fb.exp(shift);
                let scale = fb.select(same, one, scale);
                let neg_inf = fb.f(f64::NEG_INFINITY);
                let empty = fb.eq(x, neg_inf);
                let d = fb.sub(x, m_new);
                let term = fb.exp(d);
                let zero = fb.f(0.0);
                let term = fb.select(empty, zero, term);
                let scaled = fb.mul(s, scale);
                let s_new = fb.add(scaled, term);
                let m_next = fb.select(included, m_new, m);
                let s_next = fb.select(included, s_new, s);
                fb.store(acc.extreme, m_next);
                fb.store(acc.sum, s_next);
            }
        }
    }

    fn finish_token_reduction(&mut self, id: NodeId, acc: TokenAccumulator) -> H {
        let Op::Reduce { op, .. } = self.graph.node(id).op else { unreachable!("a reduction") };
        let fb = &mut self.fb;
        let count = fb.load(acc.count);
        let zero = fb.f(0.0);
        let empty = fb.eq(count, zero);
        let nan = fb.f(f64::NAN);
        match op {
            Reduce::Sum => fb.load(acc.sum),
            Reduce::Count => count,
            Reduce::Mean => {
                let sum = fb.load(acc.sum);
                let mean = fb.div(sum, count);
                fb.select(empty, nan, mean)
            }
            Reduce::Max | Reduce::Min => {
                let e = fb.load(acc.extreme);
                fb.select(empty, nan, e)
            }
            Reduce::LogSumExp => {
                let m = fb.load(acc.extreme);
                let s = fb.load(acc.sum);
                let l = fb.log(s);
                let r = fb.add(m, l);
                let inf = fb.f(f64::INFINITY);
                let neg_inf = fb.f(f64::NEG_INFINITY);
                let at_inf = fb.eq(m, inf);
                let r = fb.select(at_inf, inf, r);
                let at_neg_inf = fb.eq(m, neg_inf);
                fb.select(at_neg_inf, neg_inf, r)
            }
        }
    }

    /// The value of an operand: computed, constant, scalar, or loaded.
    fn value(&mut self, id: NodeId, values: &mut HashMap<NodeId, H>, token: Option<H>) -> Result<H, Unsupported> {
        if let Some(v) = values.get(&id) {
            return Ok(*v);
        }
        if let Some(c) = self.consts.get(&id) {
            return Ok(self.fb.f(*c));
        }
        if let Some(v) = self.scalars.get(&id) {
            return Ok(*v);
        }
        let Some(&buffer) = self.globals.get(&Binding::Load(id)) else {
            return Err(Unsupported(format!("%{} is not available in this kernel", id.0)));
        };
        let index = if is_ragged(self.graph.shape(id)) {
            token.ok_or_else(|| Unsupported(format!("%{} is per token outside a token loop", id.0)))?
        } else {
            self.row.expect("row index")
        };
        let p = self.fb.at(buffer, index);
        let v = self.fb.load(p);
        self.fb.name(v, format!("v{}", id.0));
        values.insert(id, v);
        Ok(v)
    }

    fn emit(&mut self, id: NodeId, values: &mut HashMap<NodeId, H>, token: Option<H>) -> Result<H, Unsupported> {
        let op = self.graph.node(id).op.clone();
        let v = match op {
            Op::Broadcast(a) | Op::StopGradient(a) => self.value(a, values, token)?,
            Op::Unary(u, a) => {
                let x = self.value(a, values, token)?;
                self.unary(u, x)
            }
            Op::Binary(op, a, b) => {
                let x = self.value(a, values, token)?;
                let y = self.value(b, values, token)?;
                let exponent = self.consts.get(&b).copied();
                self.binary(op, x, y, exponent)
            }
            Op::Select(c, a, b) => {
                let cond = self.value(c, values, token)?;
                let x = self.value(a, values, token)?;
                let y = self.value(b, values, token)?;
                let nz = self.fb.nonzero(cond);
                self.fb.select(nz, x, y)
            }
            Op::Clamp(x, lo, hi) => {
                let x = self.value(x, values, token)?;
                let lo = self.value(lo, values, token)?;
                let hi = self.value(hi, values, token)?;
                let t = self.fb.math2(naga::MathFunction::Max, x, lo);
                let t = self.fb.math2(naga::MathFunction::Min, t, hi);
                let nan = self.fb.is_nan(x);
                self.fb.select(nan, x, t)
            }
            other => return Err(Unsupported(format!("%{}: {other:?} is not compiled for the GPU", id.0))),
        };
        self.fb.name(v, format!("n{}", id.0));
        Ok(v)
    }

    fn unary(&mut self, op: Unary, x: H) -> H {
        let fb = &mut self.fb;
        match op {
            Unary::Neg => fb.neg(x),
            Unary::Exp => fb.exp(x),
            Unary::Log => fb.log(x),
            Unary::Log1p => fb.log1p(x),
            Unary::Expm1 => fb.expm1(x),
            Unary::Sigmoid => fb.sigmoid(x),
            Unary::LogSigmoid => fb.log_sigmoid(x),
            Unary::Softplus => fb.softplus(x),
            Unary::Tanh => fb.tanh(x),
            Unary::Abs => fb.abs(x),
            Unary::Sqrt => fb.sqrt(x),
            Unary::Relu => {
                let zero = fb.f(0.0);
                let not_positive = fb.le(x, zero);
                fb.select(not_positive, zero, x)
            }
            Unary::Log1mexp => fb.log1mexp(x),
            Unary::LogNdtr => fb.log_ndtr(x),
            Unary::Sign => {
                let zero = fb.f(0.0);
                let one = fb.f(1.0);
                let minus = fb.f(-1.0);
                let positive = fb.gt(x, zero);
                let negative = fb.lt(x, zero);
                // ±0 and NaN are their own sign (the interpreter's x·0; drivers may fold x·0 to 0).
                let r = fb.select(negative, minus, x);
                fb.select(positive, one, r)
            }
            Unary::Not => {
                let zero = fb.f(0.0);
                let is_zero = fb.eq(x, zero);
                fb.number(is_zero)
            }
        }
    }

    fn binary(&mut self, op: Binary, x: H, y: H, exponent: Option<f64>) -> H {
        let fb = &mut self.fb;
        match op {
            Binary::Add => fb.add(x, y),
            Binary::Sub => fb.sub(x, y),
            Binary::Mul => fb.mul(x, y),
            Binary::Div => fb.div(x, y),
            Binary::Pow => fb.pow(x, y, exponent),
            Binary::Min => fb.min_max(false, x, y),
            Binary::Max => fb.min_max(true, x, y),
            Binary::Lt => {
                let c = fb.lt(x, y);
                fb.number(c)
            }
            Binary::Le => {
                let c = fb.le(x, y);
                fb.number(c)
            }
            Binary::Gt => {
                let c = fb.gt(x, y);
                fb.number(c)
            }
            Binary::Ge => {
                let c = fb.ge(x, y);
                fb.number(c)
            }
            Binary::Eq => {
                let c = fb.eq(x, y);
                fb.number(c)
            }
            Binary::Ne => {
                // NaN is unequal to everything, as in the interpreter.
                let c = fb.eq(x, y);
                let c = fb.not(c);
                fb.number(c)
            }
            Binary::And | Binary::Or => {
                let a = fb.nonzero(x);
                let b = fb.nonzero(y);
                let c = if op == Binary::And { fb.and(a, b) } else { fb.or(a, b) };
                fb.number(c)
            }
        }
    }
}
