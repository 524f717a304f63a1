//! The graph arena and a builder that computes shapes, folds constants and
//! shares equal nodes.

use crate::ops::*;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub shape: Shape,
}

/// A graph input: a named column of the batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: String,
    pub shape: Shape,
    /// Whether gradients with respect to this input are wanted.
    pub grad: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub name: String,
    pub inputs: Vec<Input>,
    pub nodes: Vec<Node>,
    /// Named results, e.g. `loss`, `rows`, `grad.pi_chosen`.
    pub outputs: Vec<(String, NodeId)>,
    /// Structural sharing: equal (op, shape) pairs get one node.
    dedup: HashMap<String, NodeId>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Self {
        Graph { name: name.into(), ..Graph::default() }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn shape(&self, id: NodeId) -> Shape {
        self.node(id).shape
    }

    pub fn output(&self, name: &str) -> Option<NodeId> {
        self.outputs.iter().find(|(n, _)| n == name).map(|(_, id)| *id)
    }

    pub fn set_output(&mut self, name: impl Into<String>, id: NodeId) {
        let name = name.into();
        self.outputs.retain(|(n, _)| *n != name);
        self.outputs.push((name, id));
    }

    pub fn input_index(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|i| i.name == name)
    }

    /// Adds a node as is (no folding or sharing); used by the text parser.
    pub fn push_raw(&mut self, op: Op, shape: Shape) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(Node { op, shape });
        id
    }

    /// Adds a node, sharing an equal existing one.
    pub fn push(&mut self, op: Op, shape: Shape) -> NodeId {
        let key = format!("{op:?}/{shape:?}");
        if let Some(&id) = self.dedup.get(&key) {
            return id;
        }
        let id = self.push_raw(op, shape);
        self.dedup.insert(key, id);
        id
    }

    /// Declares an input and returns its node (an input declared twice is one node).
    pub fn input(&mut self, name: &str, shape: Shape, grad: bool) -> NodeId {
        let index = match self.input_index(name) {
            Some(index) => {
                self.inputs[index].grad |= grad;
                index
            }
            None => {
                self.inputs.push(Input { name: name.to_string(), shape, grad });
                self.inputs.len() - 1
            }
        };
        self.push(Op::Input(index as u32), shape)
    }

    pub fn constant(&mut self, value: f64) -> NodeId {
        self.push(Op::Const(value), Shape::Scalar)
    }

    pub fn constant_of(&mut self, value: f64, shape: Shape) -> NodeId {
        self.push(Op::Const(value), shape)
    }

    fn const_value(&self, id: NodeId) -> Option<f64> {
        match self.node(id).op {
            Op::Const(v) => Some(v),
            _ => None,
        }
    }

    pub fn broadcast(&mut self, arg: NodeId, shape: Shape) -> NodeId {
        if self.shape(arg) == shape {
            return arg;
        }
        if let Some(v) = self.const_value(arg) {
            return self.constant_of(v, shape);
        }
        self.push(Op::Broadcast(arg), shape)
    }

    pub fn unary(&mut self, op: Unary, arg: NodeId) -> NodeId {
        let shape = self.shape(arg);
        if let Some(v) = self.const_value(arg) {
            return self.constant_of(eval_unary(op, v), shape);
        }
        if op == Unary::Neg
            && let Op::Unary(Unary::Neg, inner) = self.node(arg).op
        {
            return inner;
        }
        self.push(Op::Unary(op, arg), shape)
    }

    /// An elementwise binary op. Panics only on shapes no verified lowering makes.
    pub fn binary(&mut self, op: Binary, a: NodeId, b: NodeId) -> NodeId {
        let shape = self.shape(a).join(self.shape(b)).unwrap_or_else(|| {
            panic!("binary {} of incompatible shapes {} and {}", op.name(), self.shape(a), self.shape(b))
        });
        let (ca, cb) = (self.const_value(a), self.const_value(b));
        if let (Some(x), Some(y)) = (ca, cb) {
            return self.constant_of(eval_binary(op, x, y), shape);
        }
        // Identities that do not change NaN propagation.
        match (op, ca, cb) {
            (Binary::Add, Some(0.0), _) => return self.broadcast(b, shape),
            (Binary::Add | Binary::Sub, _, Some(0.0)) => return self.broadcast(a, shape),
            (Binary::Mul, Some(1.0), _) => return self.broadcast(b, shape),
            (Binary::Mul | Binary::Div, _, Some(1.0)) => return self.broadcast(a, shape),
            (Binary::Sub, Some(0.0), _) => {
                let b = self.broadcast(b, shape);
                return self.unary(Unary::Neg, b);
            }
            _ => {}
        }
        self.push(Op::Binary(op, a, b), shape)
    }

    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Add, a, b)
    }
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Sub, a, b)
    }
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Mul, a, b)
    }
    pub fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Div, a, b)
    }
    pub fn neg(&mut self, a: NodeId) -> NodeId {
        self.unary(Unary::Neg, a)
    }

    pub fn select(&mut self, cond: NodeId, a: NodeId, b: NodeId) -> NodeId {
        if let Some(c) = self.const_value(cond) {
            // A constant condition picks a branch; the result keeps that branch's shape.
            return if c != 0.0 { a } else { b };
        }
        let shape = self
            .shape(cond)
            .join(self.shape(a))
            .and_then(|s| s.join(self.shape(b)))
            .unwrap_or_else(|| panic!("select of incompatible shapes"));
        self.push(Op::Select(cond, a, b), shape)
    }

    pub fn clamp(&mut self, x: NodeId, lo: NodeId, hi: NodeId) -> NodeId {
        let shape = self.shape(x).join(self.shape(lo)).and_then(|s| s.join(self.shape(hi))).expect("clamp shapes");
        self.push(Op::Clamp(x, lo, hi), shape)
    }

    pub fn reduce(&mut self, op: Reduce, axis: Axis, arg: NodeId, mask: Option<NodeId>) -> NodeId {
        let (from, to) = axis.reduces();
        let arg = if self.shape(arg) != from && self.shape(arg).broadcasts_to(from) {
            self.broadcast(arg, from)
        } else {
            arg
        };
        self.push(Op::Reduce { op, axis, arg, mask }, to)
    }

    pub fn op(&mut self, op: Op, shape: Shape) -> NodeId {
        self.push(op, shape)
    }

    /// The nodes each output depends on, in order (dead nodes dropped), as a new graph.
    pub fn pruned(&self) -> Graph {
        let mut live = vec![false; self.nodes.len()];
        for (_, id) in &self.outputs {
            live[id.index()] = true;
        }
        for index in (0..self.nodes.len()).rev() {
            if live[index] {
                for operand in self.nodes[index].op.operands() {
                    live[operand.index()] = true;
                }
            }
        }
        let mut remap = vec![NodeId(u32::MAX); self.nodes.len()];
        let mut out = Graph::new(self.name.clone());
        out.inputs = self.inputs.clone();
        for (index, node) in self.nodes.iter().enumerate() {
            if !live[index] {
                continue;
            }
            let op = remap_op(&node.op, &remap);
            remap[index] = out.push_raw(op, node.shape);
        }
        out.outputs = self.outputs.iter().map(|(n, id)| (n.clone(), remap[id.index()])).collect();
        out
    }
}

/// `op` with its operands renamed through `remap`.
pub(crate) fn remap_op(op: &Op, remap: &[NodeId]) -> Op {
    let r = |id: &NodeId| remap[id.index()];
    match op {
        Op::Input(i) => Op::Input(*i),
        Op::Const(v) => Op::Const(*v),
        Op::Broadcast(a) => Op::Broadcast(r(a)),
        Op::Unary(u, a) => Op::Unary(*u, r(a)),
        Op::Binary(b, x, y) => Op::Binary(*b, r(x), r(y)),
        Op::Select(c, a, b) => Op::Select(r(c), r(a), r(b)),
        Op::Clamp(x, lo, hi) => Op::Clamp(r(x), r(lo), r(hi)),
        Op::Reduce { op, axis, arg, mask } => {
            Op::Reduce { op: *op, axis: *axis, arg: r(arg), mask: mask.as_ref().map(r) }
        }
        Op::Scan { op, axis, arg } => Op::Scan { op: *op, axis: *axis, arg: r(arg) },
        Op::DiscountedCumsum { axis, arg, gamma, reverse } => {
            Op::DiscountedCumsum { axis: *axis, arg: r(arg), gamma: r(gamma), reverse: *reverse }
        }
        Op::Argsort(a) => Op::Argsort(r(a)),
        Op::Rank(a) => Op::Rank(r(a)),
        Op::TopK(a, k) => Op::TopK(r(a), *k),
        Op::Permute(a, p) => Op::Permute(r(a), r(p)),
        Op::Unpermute(a, p) => Op::Unpermute(r(a), r(p)),
        Op::Gather { table, index } => Op::Gather { table: r(table), index: r(index) },
        Op::ScatterAdd { values, index } => Op::ScatterAdd { values: r(values), index: r(index) },
        Op::StopGradient(a) => Op::StopGradient(r(a)),
    }
}

/// Scalar semantics of the unary ops (f64), shared with the interpreter.
pub fn eval_unary(op: Unary, x: f64) -> f64 {
    match op {
        Unary::Neg => -x,
        Unary::Exp => crate::math::exp(x),
        Unary::Log => crate::math::log(x),
        Unary::Log1p => crate::math::log1p(x),
        Unary::LogNdtr => crate::math::log_ndtr(x),
        Unary::Expm1 => x.exp_m1(),
        Unary::Sigmoid => {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
        Unary::LogSigmoid => {
            if x >= 0.0 {
                -(-x).exp().ln_1p()
            } else {
                x - x.exp().ln_1p()
            }
        }
        Unary::Softplus => {
            if x >= 0.0 {
                x + (-x).exp().ln_1p()
            } else {
                x.exp().ln_1p()
            }
        }
        Unary::Tanh => x.tanh(),
        Unary::Abs => x.abs(),
        Unary::Sqrt => x.sqrt(),
        Unary::Relu => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        Unary::Log1mexp => {
            // log(1 - e^x) for x < 0 (Mächler 2012): two branches for accuracy.
            if x >= 0.0 {
                f64::NAN
            } else if x > -std::f64::consts::LN_2 {
                (-x.exp_m1()).ln()
            } else {
                (-x.exp()).ln_1p()
            }
        }
        Unary::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x * 0.0
            }
        }
        Unary::Not => f64::from(x == 0.0),
    }
}

/// Scalar semantics of the binary ops (f64), shared with the interpreter.
pub fn eval_binary(op: Binary, x: f64, y: f64) -> f64 {
    match op {
        Binary::Add => x + y,
        Binary::Sub => x - y,
        Binary::Mul => x * y,
        Binary::Div => x / y,
        Binary::Pow => x.powf(y),
        Binary::Min => {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                x.min(y)
            }
        }
        Binary::Max => {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                x.max(y)
            }
        }
        Binary::Lt => f64::from(x < y),
        Binary::Le => f64::from(x <= y),
        Binary::Gt => f64::from(x > y),
        Binary::Ge => f64::from(x >= y),
        Binary::Eq => f64::from(x == y),
        Binary::Ne => f64::from(x != y),
        Binary::And => f64::from(x != 0.0 && y != 0.0),
        Binary::Or => f64::from(x != 0.0 || y != 0.0),
    }
}
