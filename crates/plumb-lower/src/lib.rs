//! Lowering of a checked loss body to the compute IR. Model calls become named
//! graph inputs (`policy.logp(chosen | prompt)` → `pi_chosen`, carrying a
//! gradient; `reference.logp(...)` → `ref_chosen`, frozen); numeric columns
//! become inputs of their own name; parameters become constants, so `if` on a
//! parameter folds away. The graph's outputs are `loss` (the batch loss) and,
//! for per-row losses, `rows`.
//!
//! Invariant: lowering runs only on bodies `plumb-hir` accepted; anything it
//! cannot lower is a [`LowerError`] with a span, never a panic.

use plumb_diag::Span;
use plumb_ir::{Axis, Binary, Graph, NodeId, Op, Reduce, Scan, Shape, Unary};
use plumb_syntax::ast::*;
use std::collections::BTreeMap;

/// How a column's values are read and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// Any number.
    Number,
    /// A token count, at least 1.
    Count,
    /// `true`/`false` or 1/0.
    Bool,
    /// A 0/1 token mask (defaults to all ones).
    Mask,
}

/// A column the loss reads from each row.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub shape: Shape,
    pub kind: ColumnKind,
    /// The value when a row lacks the column (`None`: the column is required).
    pub default: Option<f64>,
    pub grad: bool,
}

/// A lowered loss.
#[derive(Clone, Debug)]
pub struct LoweredLoss {
    /// Outputs `loss` and, when the loss has per-row values, `rows`.
    pub graph: Graph,
    /// The columns, in graph-input order.
    pub columns: Vec<Column>,
    /// Whether the loss reads per-token columns (then rows without an unmasked
    /// token are left out of the batch mean).
    pub uses_tokens: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowerError {
    pub message: String,
    pub span: Span,
}

/// The name of the implicit token mask column.
pub const MASK: &str = "mask";

#[derive(Clone, Debug)]
enum Value {
    Node(NodeId),
    /// A text column (`mismatched`: another row's value, for KL baselines).
    Text {
        column: String,
        mismatched: bool,
    },
    Dim(Axis),
}

struct Lowerer<'a> {
    graph: Graph,
    columns: Vec<Column>,
    schema: BTreeMap<String, &'a Field>,
    params: &'a BTreeMap<String, f64>,
    lets: Vec<(String, Value)>,
    rows: Option<NodeId>,
    uses_tokens: bool,
}

/// Lowers `loss` with parameter values `params` (every parameter, defaults
/// included; booleans as 1/0), reading columns declared by `schema`.
pub fn lower_loss(
    loss: &LossItem,
    schema: Option<&SchemaItem>,
    params: &BTreeMap<String, f64>,
) -> Result<LoweredLoss, LowerError> {
    let mut lowerer = Lowerer {
        graph: Graph::new(loss.name.text.clone()),
        columns: Vec::new(),
        schema: schema.map(|s| s.fields.iter().map(|f| (f.name.text.clone(), f)).collect()).unwrap_or_default(),
        params,
        lets: Vec::new(),
        rows: None,
        uses_tokens: false,
    };
    let value = lowerer.block(&loss.body)?;
    let value = lowerer.node(value, loss.body.value.span)?;
    let graph = &mut lowerer.graph;
    let batch_loss = match graph.shape(value) {
        Shape::Scalar => value,
        Shape::Rows => {
            let valid = lowerer.uses_tokens.then(|| valid_rows(&mut lowerer.graph, &mut lowerer.columns));
            let graph = &mut lowerer.graph;
            if lowerer.rows.is_none() {
                lowerer.rows = Some(value);
            }
            graph.reduce(Reduce::Mean, Axis::Batch, value, valid)
        }
        other => {
            return Err(LowerError {
                message: format!("a loss must be one number per row or per batch, this is per {other}"),
                span: loss.body.value.span,
            });
        }
    };
    lowerer.graph.set_output("loss", batch_loss);
    if let Some(rows) = lowerer.rows {
        let rows = lowerer.graph.broadcast(rows, Shape::Rows);
        lowerer.graph.set_output("rows", rows);
    }
    Ok(LoweredLoss { graph: lowerer.graph, columns: lowerer.columns, uses_tokens: lowerer.uses_tokens })
}

/// 1 for rows with at least one unmasked token.
fn valid_rows(graph: &mut Graph, columns: &mut Vec<Column>) -> NodeId {
    let mask = column_input(graph, columns, MASK, Shape::Tokens, ColumnKind::Mask, Some(1.0), false);
    let count = graph.reduce(Reduce::Count, Axis::Tok, mask, Some(mask));
    let zero = graph.constant(0.0);
    graph.binary(Binary::Gt, count, zero)
}

fn column_input(
    graph: &mut Graph,
    columns: &mut Vec<Column>,
    name: &str,
    shape: Shape,
    kind: ColumnKind,
    default: Option<f64>,
    grad: bool,
) -> NodeId {
    if !columns.iter().any(|c| c.name == name) {
        columns.push(Column { name: name.to_string(), shape, kind, default, grad });
    }
    graph.input(name, shape, grad)
}

fn err<T>(message: impl Into<String>, span: Span) -> Result<T, LowerError> {
    Err(LowerError { message: message.into(), span })
}

/// The positional order of each math function's parameters.
fn parameters(function: &str) -> &'static [&'static str] {
    match function {
        "min" | "max" => &["a", "b"],
        "clamp" => &["x", "lo", "hi"],
        "pow" => &["x", "y"],
        "len" | "mismatched" => &["text"],
        "sum" | "mean" | "amax" | "amin" | "logsumexp" | "count" | "sort" | "cumsum" => &["x", "over"],
        "discounted_cumsum" => &["x", "gamma", "over"],
        _ => &["x"],
    }
}

impl Lowerer<'_> {
    fn mask(&mut self) -> NodeId {
        self.uses_tokens = true;
        column_input(&mut self.graph, &mut self.columns, MASK, Shape::Tokens, ColumnKind::Mask, Some(1.0), false)
    }

    fn input(&mut self, name: &str, shape: Shape, kind: ColumnKind, default: Option<f64>, grad: bool) -> NodeId {
        if shape == Shape::Tokens {
            self.mask();
        }
        column_input(&mut self.graph, &mut self.columns, name, shape, kind, default, grad)
    }

    fn node(&mut self, value: Value, span: Span) -> Result<NodeId, LowerError> {
        match value {
            Value::Node(id) => Ok(id),
            Value::Text { column, .. } => err(format!("the text column `{column}` has no numeric value"), span),
            Value::Dim(axis) => err(format!("the dim `{}` is not a value", axis.name()), span),
        }
    }

    fn block(&mut self, block: &Block) -> Result<Value, LowerError> {
        let saved = self.lets.len();
        for binding in &block.lets {
            let value = self.expr(&binding.value)?;
            self.lets.push((binding.name.text.clone(), value));
        }
        let value = self.expr(&block.value);
        self.lets.truncate(saved);
        value
    }

    fn numeric(&mut self, expr: &Expr) -> Result<NodeId, LowerError> {
        let value = self.expr(expr)?;
        self.node(value, expr.span)
    }

    fn expr(&mut self, expr: &Expr) -> Result<Value, LowerError> {
        Ok(Value::Node(match &expr.kind {
            ExprKind::Number { value, .. } => self.graph.constant(value.0),
            ExprKind::Bool(b) => self.graph.constant(f64::from(u8::from(*b))),
            ExprKind::Str(_) => return err("a string has no numeric value", expr.span),
            ExprKind::Paren(inner) => return self.expr(inner),
            ExprKind::Name(name) => return self.name(name, expr.span),
            ExprKind::Unary(op, inner) => {
                let x = self.numeric(inner)?;
                let op = if *op == UnOp::Neg { Unary::Neg } else { Unary::Not };
                self.graph.unary(op, x)
            }
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.numeric(a)?, self.numeric(b)?);
                let op = match op {
                    BinOp::Or => Binary::Or,
                    BinOp::And => Binary::And,
                    BinOp::Add => Binary::Add,
                    BinOp::Sub => Binary::Sub,
                    BinOp::Mul => Binary::Mul,
                    BinOp::Div => Binary::Div,
                    BinOp::Pow => Binary::Pow,
                    BinOp::Cmp(CmpOp::Eq) => Binary::Eq,
                    BinOp::Cmp(CmpOp::Ne) => Binary::Ne,
                    BinOp::Cmp(CmpOp::Lt) => Binary::Lt,
                    BinOp::Cmp(CmpOp::Le) => Binary::Le,
                    BinOp::Cmp(CmpOp::Gt) => Binary::Gt,
                    BinOp::Cmp(CmpOp::Ge) => Binary::Ge,
                };
                self.binary(op, a, b, expr.span)?
            }
            ExprKind::If { cond, then, otherwise } => {
                let cond = self.numeric(cond)?;
                let a = self.block(then)?;
                let a = self.node(a, then.span)?;
                let b = self.block(otherwise)?;
                let b = self.node(b, otherwise.span)?;
                if self.graph.shape(cond).join(self.graph.shape(a)).and_then(|s| s.join(self.graph.shape(b))).is_none()
                {
                    return err("the branches and the condition have incompatible shapes", expr.span);
                }
                self.graph.select(cond, a, b)
            }
            ExprKind::Call { callee, args } => return self.call(callee, args, expr.span),
            ExprKind::List(_) | ExprKind::Index(..) | ExprKind::Field(..) | ExprKind::Cast(..) | ExprKind::Error => {
                return err("this expression cannot be computed inside a loss", expr.span);
            }
        }))
    }

    fn binary(&mut self, op: Binary, a: NodeId, b: NodeId, span: Span) -> Result<NodeId, LowerError> {
        if self.graph.shape(a).join(self.graph.shape(b)).is_none() {
            return err(
                format!("cannot combine a {} value with a {} value", self.graph.shape(a), self.graph.shape(b)),
                span,
            );
        }
        Ok(self.graph.binary(op, a, b))
    }

    fn name(&mut self, name: &str, span: Span) -> Result<Value, LowerError> {
        if let Some((_, value)) = self.lets.iter().rev().find(|(n, _)| n == name) {
            return Ok(value.clone());
        }
        if let Some(&value) = self.params.get(name) {
            return Ok(Value::Node(self.graph.constant(value)));
        }
        if let Some(axis) = Axis::parse(name).filter(|a| *a != Axis::Items) {
            return Ok(Value::Dim(axis));
        }
        let Some(field) = self.schema.get(name).copied() else {
            return err(format!("`{name}` is not a parameter, column or binding of this loss"), span);
        };
        let shape = if field.ty.dims.iter().any(|d| d.text == "tok") {
            Shape::Tokens
        } else if field.ty.dims.iter().any(|d| d.text == "k") {
            Shape::Cands
        } else {
            Shape::Rows
        };
        match field.ty.name.text.as_str() {
            "Text" => Ok(Value::Text { column: name.to_string(), mismatched: false }),
            scalar => {
                let kind = if scalar == "bool" { ColumnKind::Bool } else { ColumnKind::Number };
                let default = field.default.as_ref().and_then(literal);
                Ok(Value::Node(self.input(name, shape, kind, default, false)))
            }
        }
    }

    fn call(&mut self, callee: &Expr, args: &[Arg], span: Span) -> Result<Value, LowerError> {
        if let ExprKind::Field(receiver, method) = &callee.kind
            && let ExprKind::Name(role) = &receiver.kind
        {
            return self.model_call(role, &method.text, args, span);
        }
        let ExprKind::Name(function) = &callee.kind else { return err("only functions can be called", callee.span) };
        let names = parameters(function);
        let mut bound: Vec<Option<&Expr>> = vec![None; names.len()];
        for (position, arg) in args.iter().enumerate() {
            let slot = match &arg.name {
                Some(name) => names.iter().position(|n| *n == name.text),
                None => Some(position),
            };
            match slot.filter(|&s| s < names.len()) {
                Some(s) => bound[s] = Some(&arg.value),
                None => return err(format!("`{function}` has no such argument"), arg.span),
            }
        }
        let arg =
            |i: usize| bound[i].ok_or(LowerError { message: format!("`{function}` is missing an argument"), span });
        let over = |s: &mut Self, i: usize| -> Result<Axis, LowerError> {
            match s.expr(arg(i)?)? {
                Value::Dim(axis) => Ok(axis),
                _ => err("expected a dim", span),
            }
        };
        let unary = |u: Unary| Some(u);
        let elementwise = match function.as_str() {
            "exp" => unary(Unary::Exp),
            "log" => unary(Unary::Log),
            "log1p" => unary(Unary::Log1p),
            "expm1" => unary(Unary::Expm1),
            "log1mexp" => unary(Unary::Log1mexp),
            "log_ndtr" => unary(Unary::LogNdtr),
            "sigmoid" => unary(Unary::Sigmoid),
            "log_sigmoid" => unary(Unary::LogSigmoid),
            "softplus" => unary(Unary::Softplus),
            "tanh" => unary(Unary::Tanh),
            "abs" => unary(Unary::Abs),
            "sqrt" => unary(Unary::Sqrt),
            "relu" => unary(Unary::Relu),
            _ => None,
        };
        if let Some(op) = elementwise {
            let x = self.numeric(arg(0)?)?;
            return Ok(Value::Node(self.graph.unary(op, x)));
        }
        let node = match function.as_str() {
            "min" | "max" | "pow" => {
                let (a, b) = (self.numeric(arg(0)?)?, self.numeric(arg(1)?)?);
                let op = match function.as_str() {
                    "min" => Binary::Min,
                    "max" => Binary::Max,
                    _ => Binary::Pow,
                };
                self.binary(op, a, b, span)?
            }
            "clamp" => {
                let (x, lo, hi) = (self.numeric(arg(0)?)?, self.numeric(arg(1)?)?, self.numeric(arg(2)?)?);
                self.graph.clamp(x, lo, hi)
            }
            "stop_gradient" => {
                let x = self.numeric(arg(0)?)?;
                let shape = self.graph.shape(x);
                self.graph.op(Op::StopGradient(x), shape)
            }
            "rows" => {
                let x = self.numeric(arg(0)?)?;
                self.rows = Some(x);
                x
            }
            "len" => match self.expr(arg(0)?)? {
                Value::Text { column, mismatched } => {
                    let name = model_input_name("len", &column, mismatched);
                    self.input(&name, Shape::Rows, ColumnKind::Count, None, false)
                }
                _ => return err("`len` takes a text column", span),
            },
            "mismatched" => {
                return match self.expr(arg(0)?)? {
                    Value::Text { column, .. } => Ok(Value::Text { column, mismatched: true }),
                    _ => err("`mismatched` takes a text column", span),
                };
            }
            "sum" | "mean" | "amax" | "amin" | "logsumexp" | "count" => {
                let x = self.numeric(arg(0)?)?;
                let axis = over(self, 1)?;
                let op = match function.as_str() {
                    "sum" => Reduce::Sum,
                    "mean" => Reduce::Mean,
                    "amax" => Reduce::Max,
                    "amin" => Reduce::Min,
                    "logsumexp" => Reduce::LogSumExp,
                    _ => Reduce::Count,
                };
                let (from, _) = axis.reduces();
                if !self.graph.shape(x).broadcasts_to(from) {
                    return err(format!("cannot reduce a {} value over {}", self.graph.shape(x), axis.name()), span);
                }
                let mask = (axis == Axis::Tok).then(|| self.mask());
                self.graph.reduce(op, axis, x, mask)
            }
            "sort" | "cumsum" | "discounted_cumsum" => {
                let x = self.numeric(arg(0)?)?;
                let axis = over(self, if function == "discounted_cumsum" { 2 } else { 1 })?;
                let (from, _) = axis.reduces();
                let x = self.graph.broadcast(x, from);
                if self.graph.shape(x) != from {
                    return err(format!("cannot scan a {} value over {}", self.graph.shape(x), axis.name()), span);
                }
                match function.as_str() {
                    "sort" if axis == Axis::Batch => {
                        let order = self.graph.op(Op::Argsort(x), Shape::Rows);
                        self.graph.op(Op::Permute(x, order), Shape::Rows)
                    }
                    "sort" => return err("sort works over the batch", span),
                    "cumsum" => self.graph.op(Op::Scan { op: Scan::Cumsum, axis, arg: x }, from),
                    _ => {
                        let gamma = self.numeric(arg(1)?)?;
                        self.graph.op(Op::DiscountedCumsum { axis, arg: x, gamma, reverse: true }, from)
                    }
                }
            }
            other => return err(format!("`{other}` cannot be used inside a loss"), callee.span),
        };
        Ok(Value::Node(node))
    }

    fn model_call(&mut self, role: &str, method: &str, args: &[Arg], span: Span) -> Result<Value, LowerError> {
        let [arg] = args else { return err("a model call takes `completion | prompt`", span) };
        let Value::Text { column, mismatched } = self.expr(&arg.value)? else {
            return err("a model call scores a text column", arg.value.span);
        };
        let grad = role == "policy";
        let (prefix, shape) = match (role, method) {
            ("policy", "logp") => ("pi", Shape::Rows),
            ("reference", "logp") => ("ref", Shape::Rows),
            ("policy", "logp_tokens") => ("logp", Shape::Tokens),
            ("reference", "logp_tokens") => ("ref_logp", Shape::Tokens),
            (_, "reward") => ("r", Shape::Rows),
            _ => return err(format!("`{role}.{method}` cannot be lowered"), span),
        };
        let name = model_input_name(prefix, &column, mismatched);
        Ok(Value::Node(self.input(&name, shape, ColumnKind::Number, None, grad)))
    }
}

/// The input name of a model output or length: `pi_chosen`, `ref`, `pi_kl`,
/// `len_rejected`, `logp` (the completion column itself has no suffix).
pub fn model_input_name(prefix: &str, column: &str, mismatched: bool) -> String {
    let mut name =
        if matches!(column, "completion" | "response") { prefix.to_string() } else { format!("{prefix}_{column}") };
    if mismatched {
        name.push_str("_kl");
    }
    name
}

/// The value of a literal default (`0.1`, `-1`, `true`).
pub fn literal(expr: &Expr) -> Option<f64> {
    match &expr.kind {
        ExprKind::Number { value, .. } => Some(value.0),
        ExprKind::Bool(b) => Some(f64::from(u8::from(*b))),
        ExprKind::Unary(UnOp::Neg, inner) => literal(inner).map(|v| -v),
        ExprKind::Paren(inner) => literal(inner),
        _ => None,
    }
}
