//! The ops, the shapes they work on, and the shape rules.

use std::fmt;

/// The shape of a value within one batch. `Tokens` and `Cands` are ragged: each
/// row has its own number of tokens (candidates), given by the batch's offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// One value for the whole batch.
    Scalar,
    /// One value per row.
    Rows,
    /// One value per token of each row.
    Tokens,
    /// One value per candidate of each row.
    Cands,
    /// One value per item (for preference models over items).
    Items,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Scalar => "scalar",
            Shape::Rows => "rows",
            Shape::Tokens => "tokens",
            Shape::Cands => "cands",
            Shape::Items => "items",
        }
    }

    pub fn parse(text: &str) -> Option<Shape> {
        Some(match text {
            "scalar" => Shape::Scalar,
            "rows" => Shape::Rows,
            "tokens" => Shape::Tokens,
            "cands" => Shape::Cands,
            "items" => Shape::Items,
            _ => return None,
        })
    }

    /// Whether a value of this shape can be broadcast to `target`.
    pub fn broadcasts_to(self, target: Shape) -> bool {
        match (self, target) {
            (a, b) if a == b => true,
            (Shape::Scalar, _) => true,
            (Shape::Rows, Shape::Tokens | Shape::Cands) => true,
            _ => false,
        }
    }

    /// The shape of an elementwise op over both, if they are compatible.
    pub fn join(self, other: Shape) -> Option<Shape> {
        if self.broadcasts_to(other) {
            Some(other)
        } else if other.broadcasts_to(self) {
            Some(self)
        } else {
            None
        }
    }
}

/// An axis to reduce or scan along.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Axis {
    Batch,
    Tok,
    K,
    Items,
}

impl Axis {
    pub fn name(self) -> &'static str {
        match self {
            Axis::Batch => "batch",
            Axis::Tok => "tok",
            Axis::K => "k",
            Axis::Items => "items",
        }
    }

    pub fn parse(text: &str) -> Option<Axis> {
        Some(match text {
            "batch" => Axis::Batch,
            "tok" => Axis::Tok,
            "k" => Axis::K,
            "items" => Axis::Items,
            _ => return None,
        })
    }

    /// The shape an axis runs along, and the shape left after reducing it.
    pub fn reduces(self) -> (Shape, Shape) {
        match self {
            Axis::Batch => (Shape::Rows, Shape::Scalar),
            Axis::Tok => (Shape::Tokens, Shape::Rows),
            Axis::K => (Shape::Cands, Shape::Rows),
            Axis::Items => (Shape::Items, Shape::Scalar),
        }
    }
}

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }
    };
}

named_enum!(
    /// Elementwise functions of one value.
    Unary {
        Neg = "neg", Exp = "exp", Log = "log", Log1p = "log1p", Expm1 = "expm1", Sigmoid = "sigmoid",
        LogSigmoid = "log_sigmoid", Softplus = "softplus", Tanh = "tanh", Abs = "abs", Sqrt = "sqrt",
        Relu = "relu", Log1mexp = "log1mexp", Sign = "sign", Not = "not", LogNdtr = "log_ndtr",
    }
);

named_enum!(
    /// Elementwise functions of two values (comparisons and logic give 1 or 0).
    Binary {
        Add = "add", Sub = "sub", Mul = "mul", Div = "div", Pow = "pow", Min = "min", Max = "max",
        Lt = "lt", Le = "le", Gt = "gt", Ge = "ge", Eq = "eq", Ne = "ne", And = "and", Or = "or",
    }
);

named_enum!(
    /// Reductions along an axis, over the unmasked elements.
    Reduce { Sum = "sum", Mean = "mean", Max = "max", Min = "min", LogSumExp = "logsumexp", Count = "count" }
);

named_enum!(
    /// Scans along an axis, within each row.
    Scan { Cumsum = "cumsum", RevCumsum = "revcumsum" }
);

impl Binary {
    pub fn is_comparison_or_logic(self) -> bool {
        matches!(
            self,
            Binary::Lt | Binary::Le | Binary::Gt | Binary::Ge | Binary::Eq | Binary::Ne | Binary::And | Binary::Or
        )
    }
}

/// A node id: an index into [`crate::Graph::nodes`].
pub type Id = crate::NodeId;

/// The closed set of operations.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// The graph's input number `n`.
    Input(u32),
    /// A constant, broadcast to the node's shape.
    Const(f64),
    /// A value broadcast to the node's (larger) shape.
    Broadcast(Id),
    Unary(Unary, Id),
    Binary(Binary, Id, Id),
    /// `cond ? a : b`, elementwise.
    Select(Id, Id, Id),
    /// `x` limited to `[lo, hi]`.
    Clamp(Id, Id, Id),
    /// A reduction along `axis`; elements whose mask is 0 are left out.
    Reduce {
        op: Reduce,
        axis: Axis,
        arg: Id,
        mask: Option<Id>,
    },
    Scan {
        op: Scan,
        axis: Axis,
        arg: Id,
    },
    /// `y_t = x_t + gamma * y_{t+1}` (reverse, as for GAE) or `y_{t-1}` (forward), within each row.
    DiscountedCumsum {
        axis: Axis,
        arg: Id,
        gamma: Id,
        reverse: bool,
    },
    /// The stable ascending order of a per-row value over the batch (indices as numbers).
    Argsort(Id),
    /// The 0-based rank of each row's value over the batch (stable).
    Rank(Id),
    /// 1 for the `k` largest rows of the batch (ties keep input order), else 0.
    TopK(Id, u32),
    /// `out[i] = arg[perm[i]]` over the batch.
    Permute(Id, Id),
    /// `out[perm[i]] = arg[i]` over the batch (the inverse of `Permute`).
    Unpermute(Id, Id),
    /// `out[i] = table[index[i]]`: a per-item table read per row.
    Gather {
        table: Id,
        index: Id,
    },
    /// `out[j] = Σ_{i: index[i] = j} values[i]`: per-row values summed per item.
    ScatterAdd {
        values: Id,
        index: Id,
    },
    /// The value, through which no gradient flows.
    StopGradient(Id),
}

impl Op {
    /// The operands, in order.
    pub fn operands(&self) -> Vec<Id> {
        match *self {
            Op::Input(_) | Op::Const(_) => vec![],
            Op::Broadcast(a) | Op::Unary(_, a) | Op::Scan { arg: a, .. } | Op::Argsort(a) | Op::Rank(a) => vec![a],
            Op::TopK(a, _) | Op::StopGradient(a) => vec![a],
            Op::Binary(_, a, b) | Op::Permute(a, b) | Op::Unpermute(a, b) => vec![a, b],
            Op::Gather { table, index } => vec![table, index],
            Op::ScatterAdd { values, index } => vec![values, index],
            Op::Select(a, b, c) | Op::Clamp(a, b, c) => vec![a, b, c],
            Op::Reduce { arg, mask, .. } => std::iter::once(arg).chain(mask).collect(),
            Op::DiscountedCumsum { arg, gamma, .. } => vec![arg, gamma],
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
