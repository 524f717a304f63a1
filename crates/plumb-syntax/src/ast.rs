//! The abstract syntax tree. Plain values with item-relative byte spans; it knows
//! nothing of salsa, types or editors. Expression depth is bounded when the tree
//! is built (see `parser::MAX_EXPR_DEPTH`), so recursive passes and `Drop` are safe.

use plumb_diag::Span;

/// A number literal; compared by bits so the tree can be `Eq`.
#[derive(Clone, Copy, Debug)]
pub struct Num(pub f64);

impl PartialEq for Num {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for Num {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// One top-level item with its doc comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub kind: ItemKind,
    /// The item keyword through the end of the item, doc comment excluded.
    pub span: Span,
    /// The `///` lines before the item, without the slashes.
    pub doc: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Use(UseItem),
    Schema(SchemaItem),
    Let(Binding),
    Model(Binding),
    Loss(LossItem),
    Extern(ExternItem),
    Train(TrainItem),
    Fit(FitItem),
    Eval(EvalItem),
    Report(Expr),
    Repeat(RepeatItem),
    Sampler(OptionsItem),
    Selector(OptionsItem),
}

impl ItemKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            ItemKind::Use(_) => "use",
            ItemKind::Schema(_) => "schema",
            ItemKind::Let(_) => "let",
            ItemKind::Model(_) => "model",
            ItemKind::Loss(_) => "loss",
            ItemKind::Extern(_) => "extern",
            ItemKind::Train(_) => "train",
            ItemKind::Fit(_) => "fit",
            ItemKind::Eval(_) => "eval",
            ItemKind::Report(_) => "report",
            ItemKind::Repeat(_) => "repeat",
            ItemKind::Sampler(_) => "sampler",
            ItemKind::Selector(_) => "selector",
        }
    }

    /// The name this item defines, if any.
    pub fn defined_name(&self) -> Option<&Name> {
        match self {
            ItemKind::Schema(s) => Some(&s.name),
            ItemKind::Let(b) | ItemKind::Model(b) => Some(&b.name),
            ItemKind::Loss(l) => Some(&l.name),
            ItemKind::Extern(e) => Some(&e.name),
            ItemKind::Fit(f) => Some(&f.name),
            ItemKind::Sampler(o) | ItemKind::Selector(o) => Some(&o.name),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UseSource {
    /// `std.losses` — the module path.
    Module(Vec<Name>),
    /// `"lib/mine.plumb"`
    File { path: String, span: Span },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseItem {
    pub source: UseSource,
    /// The imported names.
    pub names: Vec<Name>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaItem {
    pub name: Name,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: Name,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `f32`, `f32[tok]`, `Text?`, `Data[Pairwise]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeExpr {
    pub name: Name,
    pub dims: Vec<Name>,
    pub optional: bool,
    pub span: Span,
}

/// `let NAME = EXPR` and `model NAME = EXPR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub name: Name,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LossItem {
    pub name: Name,
    pub params: Vec<Param>,
    pub schema: Option<Name>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternItem {
    pub name: Name,
    pub params: Vec<Param>,
    pub ret: TypeExpr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: Name,
    pub ty: TypeExpr,
    pub constraint: Option<Constraint>,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    /// `> 0`, `>= 1e-3`
    Compare(CmpOp, Num),
    /// `in [lo, hi)`; the flags say whether each bound is included.
    Interval { lo: Num, lo_inclusive: bool, hi: Num, hi_inclusive: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    pub kind: ConstraintKind,
    pub span: Span,
}

impl Constraint {
    pub fn admits(&self, x: f64) -> bool {
        match &self.kind {
            ConstraintKind::Compare(op, Num(b)) => match op {
                CmpOp::Eq => x == *b,
                CmpOp::Ne => x != *b,
                CmpOp::Lt => x < *b,
                CmpOp::Le => x <= *b,
                CmpOp::Gt => x > *b,
                CmpOp::Ge => x >= *b,
            },
            ConstraintKind::Interval { lo, lo_inclusive, hi, hi_inclusive } => {
                let above = if *lo_inclusive { x >= lo.0 } else { x > lo.0 };
                let below = if *hi_inclusive { x <= hi.0 } else { x < hi.0 };
                above && below
            }
        }
    }

    /// The constraint as written, e.g. `> 0` or `in [0, 0.5)`.
    pub fn describe(&self) -> String {
        match &self.kind {
            ConstraintKind::Compare(op, b) => format!("{} {}", op.as_str(), b.0),
            ConstraintKind::Interval { lo, lo_inclusive, hi, hi_inclusive } => format!(
                "in {}{}, {}{}",
                if *lo_inclusive { '[' } else { '(' },
                lo.0,
                hi.0,
                if *hi_inclusive { ']' } else { ')' }
            ),
        }
    }
}

/// `{ let a = ...  value }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub lets: Vec<Binding>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainItem {
    pub model: Name,
    pub data: Expr,
    pub options: Options,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitItem {
    pub name: Name,
    pub value: Expr,
    pub options: Option<Options>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalItem {
    pub model: Name,
    pub data: Expr,
    pub metrics: Vec<Expr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepeatItem {
    pub count: Expr,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionsItem {
    pub name: Name,
    pub options: Options,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub entries: Vec<OptionEntry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionEntry {
    Set { name: Name, value: Expr, span: Span },
    Constraint { expr: Expr, span: Span },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Or,
    And,
    Cmp(CmpOp),
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Cmp(op) => op.as_str(),
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: Option<Name>,
    pub value: Expr,
    /// The conditioning part of `policy.logp(y | x)`.
    pub given: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    Number {
        value: Num,
        integer: bool,
    },
    Str(String),
    Bool(bool),
    Name(String),
    List(Vec<Expr>),
    Paren(Box<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    Field(Box<Expr>, Name),
    Index(Box<Expr>, Box<Expr>),
    Cast(Box<Expr>, Name),
    If {
        cond: Box<Expr>,
        then: Box<Block>,
        otherwise: Box<Block>,
    },
    /// Stands in for an expression that could not be built (an error was reported).
    Error,
}
