//! The types of the language: scalars with named dims inside losses, and the
//! pipeline values (data, models, losses, opaque stdlib values) outside them.

use std::fmt;

/// A named dimension. `batch` is implicit on every per-example value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Batch,
    Tok,
    K,
}

impl Dim {
    pub fn parse(name: &str) -> Option<Dim> {
        match name {
            "batch" => Some(Dim::Batch),
            "tok" => Some(Dim::Tok),
            "k" => Some(Dim::K),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dim::Batch => "batch",
            Dim::Tok => "tok",
            Dim::K => "k",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Dim::Batch => 1,
            Dim::Tok => 2,
            Dim::K => 4,
        }
    }
}

/// A set of dims.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dims(u8);

impl Dims {
    pub const NONE: Dims = Dims(0);
    pub const BATCH: Dims = Dims(1);

    pub fn with(self, dim: Dim) -> Dims {
        Dims(self.0 | dim.bit())
    }
    pub fn without(self, dim: Dim) -> Dims {
        Dims(self.0 & !dim.bit())
    }
    pub fn has(self, dim: Dim) -> bool {
        self.0 & dim.bit() != 0
    }
    pub fn union(self, other: Dims) -> Dims {
        Dims(self.0 | other.0)
    }
    /// `tok` and `k` cannot be mixed in one value.
    pub fn is_consistent(self) -> bool {
        !(self.has(Dim::Tok) && self.has(Dim::K))
    }
    pub fn iter(self) -> impl Iterator<Item = Dim> {
        [Dim::Batch, Dim::Tok, Dim::K].into_iter().filter(move |d| self.has(*d))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scalar {
    Float,
    Int,
    Bool,
    Text,
}

impl Scalar {
    pub fn parse(name: &str) -> Option<Scalar> {
        match name {
            "f32" | "f64" => Some(Scalar::Float),
            "i64" | "i32" => Some(Scalar::Int),
            "bool" => Some(Scalar::Bool),
            "Text" => Some(Scalar::Text),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Scalar::Float => "f32",
            Scalar::Int => "i64",
            Scalar::Bool => "bool",
            Scalar::Text => "Text",
        }
    }
    pub fn is_numeric(self) -> bool {
        matches!(self, Scalar::Float | Scalar::Int)
    }
}

/// What a model declaration makes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// A trainable causal LM.
    Policy,
    /// A trainable reward model (scalar head).
    RewardModel,
    /// A frozen copy of another model (`frozen(policy)`, `snapshot(policy)`).
    Frozen { of: Option<String>, reward: bool },
    /// A programmatic judge.
    Judge,
}

impl ModelKind {
    pub fn describe(&self) -> String {
        match self {
            ModelKind::Policy => "a trainable causal LM".into(),
            ModelKind::RewardModel => "a reward model".into(),
            ModelKind::Frozen { of: Some(of), .. } => format!("a frozen copy of `{of}`"),
            ModelKind::Frozen { of: None, .. } => "a frozen model".into(),
            ModelKind::Judge => "a judge".into(),
        }
    }
    pub fn scores(&self) -> bool {
        matches!(self, ModelKind::RewardModel | ModelKind::Frozen { reward: true, .. } | ModelKind::Judge)
    }
}

/// What a loss needs from the stage that uses it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LossUse {
    pub name: String,
    pub schema: Option<String>,
    pub uses_reference: bool,
    /// Calls `policy.reward` (trains a reward model).
    pub uses_reward: bool,
    /// Calls `policy.logp` or `policy.logp_tokens` (trains a causal LM).
    pub uses_logp: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// After an error: compatible with everything, so errors do not cascade.
    Unknown,
    Value {
        scalar: Scalar,
        dims: Dims,
    },
    /// A data set, with its schema when known (after `as Schema`).
    Data(Option<String>),
    Split(Option<String>),
    /// A column of a data set.
    Column(Scalar),
    Model(ModelKind),
    /// A configured loss (`dpo(beta = 0.1)`).
    Loss(LossUse),
    /// A dim name given to `over = ...`.
    Dim(Dim),
    List(Box<Type>),
    /// A schema name used as a value.
    Schema(String),
    /// A function (loss or extern) named but not called.
    Function(String),
    /// A sampler or selector options block.
    Options(&'static str),
    /// Stdlib values the checker does not look into: Optimizer, Metric, Ratings, …
    Opaque(String),
}

impl Type {
    pub fn value(scalar: Scalar, dims: Dims) -> Type {
        Type::Value { scalar, dims }
    }
    pub fn float(dims: Dims) -> Type {
        Type::Value { scalar: Scalar::Float, dims }
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Type::Unknown)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Unknown => write!(f, "unknown"),
            Type::Value { scalar, dims } => {
                write!(f, "{}", scalar.name())?;
                let named: Vec<&str> = dims.without(Dim::Batch).iter().map(Dim::name).collect();
                if !named.is_empty() {
                    write!(f, "[{}]", named.join(", "))?;
                }
                Ok(())
            }
            Type::Data(Some(s)) => write!(f, "Data[{s}]"),
            Type::Data(None) => write!(f, "Data (schema not given)"),
            Type::Split(Some(s)) => write!(f, "Split[{s}]"),
            Type::Split(None) => write!(f, "Split"),
            Type::Column(s) => write!(f, "Column[{}]", s.name()),
            Type::Model(kind) => write!(f, "Model ({})", kind.describe()),
            Type::Loss(l) => write!(f, "Loss `{}`", l.name),
            Type::Dim(d) => write!(f, "dim `{}`", d.name()),
            Type::List(t) => write!(f, "List[{t}]"),
            Type::Schema(s) => write!(f, "schema `{s}`"),
            Type::Function(n) => write!(f, "function `{n}`"),
            Type::Options(kind) => write!(f, "{kind}"),
            Type::Opaque(n) => write!(f, "{n}"),
        }
    }
}
