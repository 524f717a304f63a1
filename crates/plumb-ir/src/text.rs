//! The text form of a graph: printing (`Display`) and parsing, so that
//! `print → parse → print` is the identity.
//!
//! ```text
//! graph dpo
//! input pi_chosen : rows grad
//! %0 = input 0 : rows
//! %1 = const 0.1 : scalar
//! %2 = mul %0 %1 : rows
//! %3 = reduce.mean.batch %2 : scalar
//! output loss = %3
//! ```

use crate::graph::{Graph, Input, NodeId};
use crate::ops::*;
use std::fmt;

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "graph {}", self.name)?;
        for input in &self.inputs {
            writeln!(f, "input {} : {}{}", input.name, input.shape, if input.grad { " grad" } else { "" })?;
        }
        for (index, node) in self.nodes.iter().enumerate() {
            writeln!(f, "%{index} = {} : {}", op_text(&node.op), node.shape)?;
        }
        for (name, id) in &self.outputs {
            writeln!(f, "output {name} = %{}", id.0)?;
        }
        Ok(())
    }
}

fn op_text(op: &Op) -> String {
    let n = |id: &NodeId| format!("%{}", id.0);
    match op {
        Op::Input(i) => format!("input {i}"),
        Op::Const(v) => format!("const {v:?}"),
        Op::Broadcast(a) => format!("broadcast {}", n(a)),
        Op::Unary(u, a) => format!("{} {}", u.name(), n(a)),
        Op::Binary(b, x, y) => format!("{} {} {}", b.name(), n(x), n(y)),
        Op::Select(c, a, b) => format!("select {} {} {}", n(c), n(a), n(b)),
        Op::Clamp(x, lo, hi) => format!("clamp {} {} {}", n(x), n(lo), n(hi)),
        Op::Reduce { op, axis, arg, mask } => {
            let mask = mask.map(|m| format!(" mask {}", n(&m))).unwrap_or_default();
            format!("reduce.{}.{} {}{mask}", op.name(), axis.name(), n(arg))
        }
        Op::Scan { op, axis, arg } => format!("scan.{}.{} {}", op.name(), axis.name(), n(arg)),
        Op::DiscountedCumsum { axis, arg, gamma, reverse } => {
            format!("dcumsum.{}.{} {} {}", axis.name(), if *reverse { "rev" } else { "fwd" }, n(arg), n(gamma))
        }
        Op::Argsort(a) => format!("argsort {}", n(a)),
        Op::Rank(a) => format!("rank {}", n(a)),
        Op::TopK(a, k) => format!("topk {k} {}", n(a)),
        Op::Permute(a, p) => format!("permute {} {}", n(a), n(p)),
        Op::Unpermute(a, p) => format!("unpermute {} {}", n(a), n(p)),
        Op::Gather { table, index } => format!("gather {} {}", n(table), n(index)),
        Op::ScatterAdd { values, index } => format!("scatter_add {} {}", n(values), n(index)),
        Op::StopGradient(a) => format!("stop_gradient {}", n(a)),
    }
}

/// A problem in IR text, with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses the text form. The result is not verified; call [`crate::verify`].
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    let mut graph = Graph::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |message: String| ParseError { line, message };
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let words: Vec<&str> = content.split_whitespace().collect();
        match words[0] {
            "graph" => graph.name = words.get(1).copied().unwrap_or("").to_string(),
            "input" => {
                // input NAME : SHAPE [grad]
                let (Some(name), Some(":"), Some(shape)) = (words.get(1), words.get(2).copied(), words.get(3)) else {
                    return Err(err("expected `input NAME : SHAPE [grad]`".into()));
                };
                let shape = Shape::parse(shape).ok_or_else(|| err(format!("unknown shape `{shape}`")))?;
                let grad = match words.get(4) {
                    None => false,
                    Some(&"grad") => true,
                    Some(other) => return Err(err(format!("expected `grad`, found `{other}`"))),
                };
                graph.inputs.push(Input { name: name.to_string(), shape, grad });
            }
            "output" => {
                let (Some(name), Some("="), Some(id)) = (words.get(1), words.get(2).copied(), words.get(3)) else {
                    return Err(err("expected `output NAME = %N`".into()));
                };
                let id = node_ref(id).ok_or_else(|| err(format!("expected a node `%N`, found `{id}`")))?;
                graph.outputs.push((name.to_string(), id));
            }
            first if first.starts_with('%') => {
                let id = node_ref(first).ok_or_else(|| err(format!("bad node name `{first}`")))?;
                if id.index() != graph.nodes.len() {
                    return Err(err(format!("expected node %{} next, found {first}", graph.nodes.len())));
                }
                let Some(colon) = words.iter().rposition(|w| *w == ":") else {
                    return Err(err("expected `: SHAPE` at the end".into()));
                };
                if words.get(1) != Some(&"=") || colon < 3 || colon + 2 != words.len() {
                    return Err(err("expected `%N = OP ARGS : SHAPE`".into()));
                }
                let shape = Shape::parse(words[colon + 1])
                    .ok_or_else(|| err(format!("unknown shape `{}`", words[colon + 1])))?;
                let op = parse_op(&words[2..colon]).map_err(err)?;
                graph.push_raw(op, shape);
            }
            other => return Err(err(format!("unexpected `{other}`"))),
        }
    }
    Ok(graph)
}

fn node_ref(word: &str) -> Option<NodeId> {
    word.strip_prefix('%')?.parse().ok().map(NodeId)
}

fn parse_op(words: &[&str]) -> Result<Op, String> {
    let name = words[0];
    let args = &words[1..];
    let node = |i: usize| -> Result<NodeId, String> {
        args.get(i)
            .and_then(|w| node_ref(w))
            .ok_or_else(|| format!("`{name}` needs a node operand at position {}", i + 1))
    };
    let arity = |n: usize| -> Result<(), String> {
        if args.len() == n { Ok(()) } else { Err(format!("`{name}` takes {n} operand(s), found {}", args.len())) }
    };
    if let Some(u) = Unary::parse(name) {
        arity(1)?;
        return Ok(Op::Unary(u, node(0)?));
    }
    if let Some(b) = Binary::parse(name) {
        arity(2)?;
        return Ok(Op::Binary(b, node(0)?, node(1)?));
    }
    let parts: Vec<&str> = name.split('.').collect();
    Ok(match parts.as_slice() {
        ["input"] => {
            arity(1)?;
            Op::Input(args[0].parse().map_err(|_| format!("bad input index `{}`", args[0]))?)
        }
        ["const"] => {
            arity(1)?;
            Op::Const(args[0].parse().map_err(|_| format!("bad number `{}`", args[0]))?)
        }
        ["broadcast"] => {
            arity(1)?;
            Op::Broadcast(node(0)?)
        }
        ["select"] => {
            arity(3)?;
            Op::Select(node(0)?, node(1)?, node(2)?)
        }
        ["clamp"] => {
            arity(3)?;
            Op::Clamp(node(0)?, node(1)?, node(2)?)
        }
        ["reduce", op, axis] => {
            let op = Reduce::parse(op).ok_or_else(|| format!("unknown reduction `{op}`"))?;
            let axis = Axis::parse(axis).ok_or_else(|| format!("unknown axis `{axis}`"))?;
            let mask = match args.len() {
                1 => None,
                3 if args[1] == "mask" => Some(node(2)?),
                _ => return Err("expected `reduce.OP.AXIS %a [mask %m]`".into()),
            };
            Op::Reduce { op, axis, arg: node(0)?, mask }
        }
        ["scan", op, axis] => {
            arity(1)?;
            let op = Scan::parse(op).ok_or_else(|| format!("unknown scan `{op}`"))?;
            let axis = Axis::parse(axis).ok_or_else(|| format!("unknown axis `{axis}`"))?;
            Op::Scan { op, axis, arg: node(0)? }
        }
        ["dcumsum", axis, direction] => {
            arity(2)?;
            let axis = Axis::parse(axis).ok_or_else(|| format!("unknown axis `{axis}`"))?;
            let reverse = match *direction {
                "rev" => true,
                "fwd" => false,
                other => return Err(format!("expected `rev` or `fwd`, found `{other}`")),
            };
            Op::DiscountedCumsum { axis, arg: node(0)?, gamma: node(1)?, reverse }
        }
        ["argsort"] => {
            arity(1)?;
            Op::Argsort(node(0)?)
        }
        ["rank"] => {
            arity(1)?;
            Op::Rank(node(0)?)
        }
        ["topk"] => {
            if args.len() != 2 {
                return Err("expected `topk K %a`".into());
            }
            let k = args[0].parse().map_err(|_| format!("bad k `{}`", args[0]))?;
            Op::TopK(args.get(1).and_then(|w| node_ref(w)).ok_or("`topk` needs a node operand")?, k)
        }
        ["permute"] => {
            arity(2)?;
            Op::Permute(node(0)?, node(1)?)
        }
        ["unpermute"] => {
            arity(2)?;
            Op::Unpermute(node(0)?, node(1)?)
        }
        ["gather"] => {
            arity(2)?;
            Op::Gather { table: node(0)?, index: node(1)? }
        }
        ["scatter_add"] => {
            arity(2)?;
            Op::ScatterAdd { values: node(0)?, index: node(1)? }
        }
        ["stop_gradient"] => {
            arity(1)?;
            Op::StopGradient(node(0)?)
        }
        _ => return Err(format!("unknown op `{name}`")),
    })
}
