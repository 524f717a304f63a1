//! Fusion: partitions a (forward + gradient) graph into the steps a backend
//! runs. Every per-row and per-token node lands in a *pass* — one fused loop over
//! the rows that reads each input once and writes each output once — and a new
//! pass starts only where a value needs a whole-batch result first (a batch
//! mean such as KTO's z0, a sort). Scalars between passes are computed on the
//! host, and batch-coupled ops (sorts, permutations, gathers over items) are
//! host steps of their own.
//!
//! Invariants: steps are in dependency order; a pass computes a node from its
//! operands in the same pass (recomputing earlier per-row values rather than
//! storing them), from loaded buffers (inputs and host-step results), or from
//! scalars ready before it; the number of passes is the kernel count tests assert.

use plumb_ir::{Axis, Graph, NodeId, Op, Reduce, Shape};
use std::collections::{BTreeSet, HashMap};

/// Where a node is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Loaded from a buffer: a graph input (per row or per token).
    Input,
    /// A scalar known before any pass (constants, scalar inputs, the row count).
    Uniform,
    /// A per-row, per-token or per-candidate value computed inside pass `n`.
    Row(usize),
    /// A batch reduction accumulated in pass `n` (ready after it).
    BatchReduce(usize),
    /// A scalar computed on the host once its operands are ready (before pass `n`).
    HostScalar(usize),
    /// A batch-coupled op computed on the host before pass `n`.
    HostOp(usize),
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Scalars computed on the host, in order.
    Host(Vec<NodeId>),
    /// A batch-coupled op on the host.
    HostOp(NodeId),
    /// One fused pass over the rows.
    Pass(Kernel),
}

/// A fused pass over the rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    pub index: usize,
    /// The per-row/per-token nodes it computes, in graph order.
    pub nodes: Vec<NodeId>,
    /// The batch reductions it accumulates.
    pub reductions: Vec<NodeId>,
    /// Per-row/per-token buffers it reads: inputs and host-op results.
    pub loads: Vec<NodeId>,
    /// Scalars it reads (ready before it).
    pub scalars: Vec<NodeId>,
    /// Nodes it writes to buffers: row-level outputs and values host ops need.
    pub stores: Vec<NodeId>,
    /// Whether it loops over tokens (or candidates) within rows.
    pub ragged: bool,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub places: Vec<Place>,
    pub steps: Vec<Step>,
}

impl Plan {
    /// The number of fused passes: what fusion tests assert.
    pub fn kernel_count(&self) -> usize {
        self.steps.iter().filter(|s| matches!(s, Step::Pass(_))).count()
    }

    /// The number of batch-coupled host steps.
    pub fn host_op_count(&self) -> usize {
        self.steps.iter().filter(|s| matches!(s, Step::HostOp(_))).count()
    }

    pub fn kernels(&self) -> impl Iterator<Item = &Kernel> {
        self.steps.iter().filter_map(|s| match s {
            Step::Pass(k) => Some(k),
            _ => None,
        })
    }
}

fn is_row_level(shape: Shape) -> bool {
    matches!(shape, Shape::Rows | Shape::Tokens | Shape::Cands)
}

/// Whether an op is batch-coupled (needs the whole batch, on the host).
fn is_host_op(graph: &Graph, op: &Op, shape: Shape) -> bool {
    match op {
        Op::Argsort(_) | Op::Rank(_) | Op::TopK(..) | Op::Permute(..) | Op::Unpermute(..) => true,
        Op::Gather { .. } | Op::ScatterAdd { .. } => true,
        // Scans carry a value along their axis; they run on the host.
        Op::Scan { .. } | Op::DiscountedCumsum { .. } => true,
        Op::Reduce { axis: Axis::Items, .. } => true,
        // Batch maxima and log-sum-exps need the whole batch; only sums are fused.
        Op::Reduce { axis: Axis::Batch, op: Reduce::Max | Reduce::Min | Reduce::LogSumExp, .. } => true,
        _ => shape == Shape::Items || (shape == Shape::Scalar && operands_items(graph, op)),
    }
}

fn operands_items(graph: &Graph, op: &Op) -> bool {
    op.operands().iter().any(|o| graph.shape(*o) == Shape::Items)
}

/// Plans a graph. The graph should be pruned to what its outputs need.
pub fn plan(graph: &Graph) -> Plan {
    let n = graph.nodes.len();
    let first = place_nodes(graph, &HashMap::new());
    // A batch sum that only final results need moves to the last pass, which
    // recomputes its operands anyway (PPO's Σℓ joins the gradient pass).
    let last = first
        .iter()
        .filter_map(|p| match p {
            Place::Row(k) | Place::BatchReduce(k) => Some(*k),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let needed_by_pass = earliest_pass_needing(graph, &first);
    let delays: HashMap<NodeId, usize> = first
        .iter()
        .enumerate()
        .filter(|(i, p)| matches!(p, Place::BatchReduce(k) if *k < last) && needed_by_pass[*i].is_none())
        .map(|(i, _)| (NodeId(i as u32), last))
        .collect();
    let places = if delays.is_empty() { first } else { place_nodes(graph, &delays) };
    let passes = places
        .iter()
        .filter_map(|p| match p {
            Place::Row(k) | Place::BatchReduce(k) => Some(*k),
            _ => None,
        })
        .max()
        .map_or(0, |m| m + 1);
    let outputs: BTreeSet<NodeId> = graph.outputs.iter().map(|(_, id)| *id).collect();
    // Row-level values a host op reads must be stored by the pass computing them.
    let mut host_needs: BTreeSet<NodeId> = BTreeSet::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        if matches!(places[index], Place::HostOp(_)) {
            host_needs.extend(node.op.operands().into_iter().filter(|o| matches!(places[o.index()], Place::Row(_))));
        }
    }
    let mut steps = Vec::new();
    let uniform: Vec<NodeId> = (0..n)
        .filter(|&i| {
            places[i] == Place::Uniform
                && graph.nodes[i].shape == Shape::Scalar
                && !matches!(graph.nodes[i].op, Op::Input(_))
        })
        .map(|i| NodeId(i as u32))
        .collect();
    if !uniform.is_empty() {
        steps.push(Step::Host(uniform));
    }
    for pass in 0..=passes {
        // Host work that becomes ready before this pass: scalars and batch ops, in graph order.
        let batch: Vec<NodeId> = places
            .iter()
            .enumerate()
            .filter(|(_, place)| matches!(place, Place::HostScalar(p) | Place::HostOp(p) if *p == pass))
            .map(|(i, _)| NodeId(i as u32))
            .collect();
        let mut run: Vec<NodeId> = Vec::new();
        for id in batch {
            if matches!(places[id.index()], Place::HostOp(_)) {
                if !run.is_empty() {
                    steps.push(Step::Host(std::mem::take(&mut run)));
                }
                steps.push(Step::HostOp(id));
            } else {
                run.push(id);
            }
        }
        if !run.is_empty() {
            steps.push(Step::Host(run));
        }
        if pass == passes {
            break;
        }
        let kernel = build_kernel(graph, &places, pass, &outputs, &host_needs);
        if !kernel.nodes.is_empty() || !kernel.reductions.is_empty() {
            steps.push(Step::Pass(kernel));
        }
    }
    let mut plan = Plan { places, steps };
    renumber(&mut plan);
    plan
}

/// Where each node is computed; `delays` holds batch reductions to place no
/// earlier than the given pass.
fn place_nodes(graph: &Graph, delays: &HashMap<NodeId, usize>) -> Vec<Place> {
    let mut places: Vec<Place> = Vec::with_capacity(graph.nodes.len());
    // When each node's value can be used by a pass: the pass index.
    let ready_for_pass = |places: &[Place], o: NodeId| -> usize {
        match places[o.index()] {
            Place::Input | Place::Uniform => 0,
            Place::Row(p) => p,
            Place::BatchReduce(p) => p + 1,
            Place::HostScalar(p) | Place::HostOp(p) => p,
        }
    };
    for (index, node) in graph.nodes.iter().enumerate() {
        let operands = node.op.operands();
        let ready = operands.iter().map(|o| ready_for_pass(&places, *o)).max().unwrap_or(0);
        let place = match &node.op {
            Op::Input(_) if is_row_level(node.shape) => Place::Input,
            Op::Input(_) | Op::Const(_) => Place::Uniform,
            // The row count is known before any pass.
            Op::Reduce { op: Reduce::Count, axis: Axis::Batch, mask: None, .. } => Place::Uniform,
            op if is_host_op(graph, op, node.shape) => {
                // A host op needs row-level operands stored by a finished pass.
                let after = operands
                    .iter()
                    .map(|o| match places[o.index()] {
                        Place::Row(p) | Place::BatchReduce(p) => p + 1,
                        Place::HostScalar(p) | Place::HostOp(p) => p,
                        _ => 0,
                    })
                    .max()
                    .unwrap_or(0);
                Place::HostOp(after)
            }
            Op::Reduce { axis: Axis::Batch, .. } => {
                let delay = delays.get(&NodeId(index as u32)).copied().unwrap_or(0);
                Place::BatchReduce(ready.max(delay))
            }
            _ if is_row_level(node.shape) => Place::Row(ready),
            _ if operands.iter().all(|o| places[o.index()] == Place::Uniform) => Place::Uniform,
            _ => Place::HostScalar(ready),
        };
        places.push(place);
    }
    places
}

/// For each node, the earliest pass whose per-row work needs its value
/// (through host scalars and host ops), or None when only final results do.
fn earliest_pass_needing(graph: &Graph, places: &[Place]) -> Vec<Option<usize>> {
    let mut need: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    for index in (0..graph.nodes.len()).rev() {
        let own = match places[index] {
            Place::Row(p) | Place::BatchReduce(p) => Some(p),
            _ => need[index],
        };
        for operand in graph.nodes[index].op.operands() {
            let slot = &mut need[operand.index()];
            *slot = match (*slot, own) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    need
}

/// The token-loop level of each node of a pass: a per-row reduction over tokens
/// (or candidates) is ready one level after its operand, so a backend runs one
/// token loop per level within each row.
pub fn token_levels(graph: &Graph, kernel: &Kernel) -> HashMap<NodeId, usize> {
    let mut levels: HashMap<NodeId, usize> = HashMap::new();
    for id in &kernel.nodes {
        let op = &graph.node(*id).op;
        let operand_level = op.operands().iter().map(|o| levels.get(o).copied().unwrap_or(0)).max().unwrap_or(0);
        let level = match op {
            Op::Reduce { axis: Axis::Tok | Axis::K, .. } => operand_level + 1,
            _ => operand_level,
        };
        levels.insert(*id, level);
    }
    levels
}

fn renumber(plan: &mut Plan) {
    let mut index = 0;
    for step in &mut plan.steps {
        if let Step::Pass(kernel) = step {
            kernel.index = index;
            index += 1;
        }
    }
}

fn build_kernel(
    graph: &Graph,
    places: &[Place],
    pass: usize,
    outputs: &BTreeSet<NodeId>,
    host_needs: &BTreeSet<NodeId>,
) -> Kernel {
    let mut roots: Vec<NodeId> = Vec::new();
    let mut reductions = Vec::new();
    let mut stores = Vec::new();
    for (index, place) in places.iter().enumerate() {
        let id = NodeId(index as u32);
        match place {
            Place::BatchReduce(p) if *p == pass => {
                reductions.push(id);
                roots.push(id);
            }
            Place::Row(p) if *p == pass && (outputs.contains(&id) || host_needs.contains(&id)) => {
                stores.push(id);
                roots.push(id);
            }
            _ => {}
        }
    }
    // The row-level closure of the roots: recompute, do not store, earlier values.
    let mut needed = vec![false; graph.nodes.len()];
    let mut stack = roots.clone();
    let mut loads = BTreeSet::new();
    let mut scalars = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if needed[id.index()] {
            continue;
        }
        match places[id.index()] {
            Place::Input | Place::HostOp(_) => {
                loads.insert(id);
                continue;
            }
            Place::Uniform | Place::HostScalar(_) => {
                if graph.shape(id) == Shape::Scalar || matches!(graph.node(id).op, Op::Const(_)) {
                    scalars.insert(id);
                } else {
                    loads.insert(id);
                }
                continue;
            }
            Place::BatchReduce(p) if p != pass => {
                scalars.insert(id);
                continue;
            }
            _ => {}
        }
        needed[id.index()] = true;
        match graph.node(id).op {
            // A count needs only the mask, not the values it counts.
            Op::Reduce { op: Reduce::Count, mask, .. } => stack.extend(mask),
            ref op => stack.extend(op.operands()),
        }
    }
    let nodes: Vec<NodeId> = (0..graph.nodes.len())
        .filter(|&i| needed[i] && matches!(places[i], Place::Row(_)))
        .map(|i| NodeId(i as u32))
        .collect();
    let ragged = nodes.iter().chain(&loads).any(|id| matches!(graph.shape(*id), Shape::Tokens | Shape::Cands));
    Kernel {
        index: pass,
        nodes,
        reductions,
        loads: loads.into_iter().collect(),
        scalars: scalars.into_iter().collect(),
        stores,
        ragged,
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for step in &self.steps {
            match step {
                Step::Host(ids) => {
                    writeln!(f, "host {}", ids.iter().map(|i| format!("%{}", i.0)).collect::<Vec<_>>().join(" "))?
                }
                Step::HostOp(id) => writeln!(f, "host-op %{}", id.0)?,
                Step::Pass(k) => writeln!(
                    f,
                    "pass {}{}: {} nodes, loads [{}], reduces [{}], stores [{}]",
                    k.index,
                    if k.ragged { " (ragged)" } else { "" },
                    k.nodes.len(),
                    k.loads.iter().map(|i| format!("%{}", i.0)).collect::<Vec<_>>().join(" "),
                    k.reductions.iter().map(|i| format!("%{}", i.0)).collect::<Vec<_>>().join(" "),
                    k.stores.iter().map(|i| format!("%{}", i.0)).collect::<Vec<_>>().join(" "),
                )?,
            }
        }
        Ok(())
    }
}
