//! The compute IR: objective math as a graph of a closed set of ops over ragged
//! batch shapes, stored in an arena (`NodeId` indexes `Graph::nodes`).
//!
//! Invariants: operands always precede their users (the node order is a
//! topological order); every node's shape follows from its op and operands
//! (checked by [`verify`]); the IR knows nothing of the language that produced it.

mod graph;
pub mod math;
mod ops;
mod text;
mod verify;

pub use graph::{Graph, Input, Node, NodeId, eval_binary, eval_unary};
pub use ops::{Axis, Binary, Op, Reduce, Scan, Shape, Unary};
pub use text::{ParseError, parse};
pub use verify::{VerifyError, verify};
