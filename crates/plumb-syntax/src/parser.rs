//! pest parse of one item and the builder from pest pairs to the AST, with
//! readable, coded syntax errors. Expression chains are folded by precedence
//! iteratively, and every expression is at most [`MAX_EXPR_DEPTH`] deep.

use crate::ast::*;
use crate::lexer::{TokenKind, tokenize};
use crate::split::doc_text;
use pest::Parser as _;
use pest::iterators::Pair;
use plumb_diag::{Diagnostic, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../../../grammar/plumb.pest"]
struct PlumbParser;

/// The deepest expression tree the builder makes; deeper ones are a P0004 error.
pub const MAX_EXPR_DEPTH: u32 = 200;

/// The result of parsing one item: the item when it parsed, and its diagnostics,
/// all with spans relative to the start of the item's text.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ItemParse {
    pub item: Option<Item>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses the text of one item (as cut out by [`crate::split`]).
pub fn parse_item(text: &str) -> ItemParse {
    pest::set_error_detail(true);
    let doc = leading_doc(text);
    match PlumbParser::parse(Rule::item_unit, text) {
        Ok(mut pairs) => {
            let unit = pairs.next().expect("item_unit matched");
            let mut builder = Builder { diagnostics: Vec::new() };
            let item = unit.into_inner().next().map(|pair| {
                let mut item = builder.item(pair);
                item.doc = doc;
                item
            });
            ItemParse { item, diagnostics: builder.diagnostics }
        }
        Err(error) => ItemParse { item: None, diagnostics: vec![syntax_error(text, &error)] },
    }
}

fn leading_doc(text: &str) -> Option<String> {
    let lines: Vec<String> = text
        .lines()
        .map(str::trim_start)
        .take_while(|line| line.starts_with("///") || line.is_empty())
        .filter(|line| !line.is_empty())
        .map(|line| doc_text(line, "///"))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

// ---------------------------------------------------------------- syntax errors

fn readable(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident | Rule::label | Rule::arg_name => "a name",
        Rule::number | Rule::signed_number => "a number",
        Rule::string | Rule::str_inner => "a string",
        Rule::expr | Rule::operand | Rule::postfix | Rule::primary | Rule::given => "an expression",
        Rule::type_expr => "a type",
        Rule::param | Rule::params => "a parameter",
        Rule::param_constraint | Rule::compare_constraint | Rule::interval_constraint => "a constraint",
        Rule::field => "a field",
        Rule::option | Rule::options => "an option",
        Rule::binary_op => "an operator",
        Rule::cmp_op => "a comparison",
        Rule::use_source => "a module or a file path",
        Rule::use_group => "`{`",
        Rule::arg => "an argument",
        Rule::let_stmt => "`let`",
        Rule::body | Rule::block => "`{`",
        Rule::EOI => "the end of the item",
        Rule::kw_on => "`on`",
        Rule::kw_else => "`else`",
        Rule::kw_in => "`in`",
        Rule::kw_let => "`let`",
        Rule::kw_fn => "`fn`",
        Rule::kw_as => "`as`",
        Rule::call_args => "`(`",
        Rule::index => "`[`",
        Rule::field_access => "`.`",
        Rule::open_bound => "`[` or `(`",
        Rule::close_bound => "`]` or `)`",
        Rule::optional_mark => "`?`",
        Rule::type_dims => "`[`",
        Rule::metrics => "`{`",
        Rule::stage_constraint => "`constraint`",
        Rule::prefix_op => "`-` or `not`",
        _ => return None,
    })
}

fn syntax_error(text: &str, error: &pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let (mut expected, negatives): (Vec<String>, Vec<Rule>) = match &error.variant {
        ErrorVariant::ParsingError { positives, negatives } => {
            (positives.iter().filter_map(|r| readable(*r)).map(str::to_string).collect(), negatives.clone())
        }
        ErrorVariant::CustomError { message } => {
            let span = Span::new(pos, pos);
            return Diagnostic::error("P0003", format!("the parser gave up: {message}"), span)
                .with_help("split deeply nested or very long expressions into `let` bindings");
        }
    };
    let _ = negatives;
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            let token = token.to_string();
            let token = token.trim();
            let literal =
                !token.is_empty() && !token.contains("..") && token != "BUILTIN_RULE" && !token.starts_with("//");
            if literal {
                expected.push(format!("`{token}`"));
            }
        }
    }
    if expected.iter().any(|e| e == "an expression") {
        let starts_expression = ["`\"`", "`-`", "`false`", "`true`", "`if`", "`not`", "`(`", "`[`"];
        expected.retain(|e| !starts_expression.contains(&e.as_str()));
    }
    expected.retain(|e| e != "`_`" && e != "`\"`");
    expected.sort();
    expected.dedup();
    // Operators after a complete expression are noise: anything could follow.
    if expected.len() > 1 {
        expected.retain(|e| e != "an operator" && e != "`(`" && e != "`.`" && e != "`[`");
    }
    let (found_span, found) = token_at(text, pos);
    let first_code = tokenize(text).into_iter().find(|t| !t.is_trivia() && !t.is_comment());
    let message = if first_code.is_some_and(|t| t.start == found_span.start as usize) {
        format!("expected an item, found {found}")
    } else if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    let help = if first_code.is_some_and(|t| t.start == found_span.start as usize) {
        "an item starts with `use`, `schema`, `let`, `model`, `loss`, `train`, `fit`, `eval`, `report`, `repeat`, `sampler` or `selector`".to_string()
    } else if found.contains("`\"") {
        "strings end on the line they start; close it with `\"`".to_string()
    } else {
        "a binary operator must end a line, not start one; calls, fields and indexes touch what they follow (`f(x)`, `a.b`, `a[i]`)".to_string()
    };
    Diagnostic::error("P0002", message, found_span).with_label("unexpected here").with_help(help)
}

fn token_at(text: &str, pos: usize) -> (Span, String) {
    let tokens = tokenize(text);
    let token = tokens.iter().find(|t| t.end > pos && !t.is_trivia() && !t.is_comment());
    match token {
        None => {
            // Point just past the item's last token, not at the next item.
            let end = tokens.iter().rev().find(|t| !t.is_trivia() && !t.is_comment()).map_or(0, |t| t.end);
            (Span::new(end, end), "the end of the item".to_string())
        }
        Some(t) => {
            let shown: String = t.text(text).chars().take(24).collect();
            let what = match t.kind {
                TokenKind::UnterminatedStr => format!("an unterminated string `{shown}`"),
                TokenKind::Unknown => format!("the character `{shown}`"),
                _ => format!("`{shown}`"),
            };
            (Span::new(t.start, t.end), what)
        }
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

// ---------------------------------------------------------------- builder

struct Builder {
    diagnostics: Vec<Diagnostic>,
}

fn span_of(pair: &Pair<Rule>) -> Span {
    let span = pair.as_span();
    Span::new(span.start(), span.end())
}

fn name(pair: Pair<Rule>) -> Name {
    Name { span: span_of(&pair), text: pair.as_str().to_string() }
}

fn is_keyword_rule(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_use
            | Rule::kw_let
            | Rule::kw_model
            | Rule::kw_loss
            | Rule::kw_schema
            | Rule::kw_train
            | Rule::kw_fit
            | Rule::kw_eval
            | Rule::kw_report
            | Rule::kw_repeat
            | Rule::kw_sampler
            | Rule::kw_selector
            | Rule::kw_extern
            | Rule::kw_fn
            | Rule::kw_on
            | Rule::kw_as
            | Rule::kw_in
            | Rule::kw_if
            | Rule::kw_else
            | Rule::kw_constraint
    )
}

/// The children of a pair, keywords dropped.
fn children(pair: Pair<Rule>) -> Vec<Pair<Rule>> {
    pair.into_inner().filter(|p| !is_keyword_rule(p.as_rule())).collect()
}

#[derive(Clone, Copy, PartialEq)]
enum StackOp {
    Binary(BinOp, Span),
    Unary(UnOp, Span),
}

impl StackOp {
    fn precedence(self) -> u8 {
        match self {
            StackOp::Binary(op, _) => binary_precedence(op),
            StackOp::Unary(..) => 6,
        }
    }
}

fn binary_precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Cmp(_) => 3,
        BinOp::Add | BinOp::Sub => 4,
        BinOp::Mul | BinOp::Div => 5,
        BinOp::Pow => 7,
    }
}

fn binary_op(text: &str) -> BinOp {
    match text {
        "==" => BinOp::Cmp(CmpOp::Eq),
        "!=" => BinOp::Cmp(CmpOp::Ne),
        "<" => BinOp::Cmp(CmpOp::Lt),
        "<=" => BinOp::Cmp(CmpOp::Le),
        ">" => BinOp::Cmp(CmpOp::Gt),
        ">=" => BinOp::Cmp(CmpOp::Ge),
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "^" => BinOp::Pow,
        "and" => BinOp::And,
        _ => BinOp::Or,
    }
}

/// An expression under construction with its depth.
struct Built {
    expr: Expr,
    depth: u32,
}

impl Builder {
    fn error_expr(&mut self, diagnostic: Diagnostic) -> Built {
        let span = diagnostic.span();
        self.diagnostics.push(diagnostic);
        Built { expr: Expr { kind: ExprKind::Error, span }, depth: 1 }
    }

    /// Wraps `kind` at `span` whose children are `depth` deep, enforcing the bound.
    fn node(&mut self, kind: ExprKind, span: Span, child_depth: u32) -> Built {
        let depth = child_depth + 1;
        if depth > MAX_EXPR_DEPTH {
            // Report once per item; later overflows are consequences.
            if self.diagnostics.iter().any(|d| d.code == "P0004") {
                return Built { expr: Expr { kind: ExprKind::Error, span }, depth: 1 };
            }
            return self.error_expr(
                Diagnostic::error(
                    "P0004",
                    format!("expression is nested more than {MAX_EXPR_DEPTH} levels deep"),
                    span,
                )
                .with_label("too deep")
                .with_help("split it into `let` bindings, or sum long lists with a reduction"),
            );
        }
        Built { expr: Expr { kind, span }, depth }
    }

    fn item(&mut self, pair: Pair<Rule>) -> Item {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut parts = children(pair).into_iter();
        let kind = match rule {
            Rule::use_item => ItemKind::Use(self.use_item(span, parts.collect())),
            Rule::schema_item => {
                let name = name(parts.next().expect("schema name"));
                let fields = parts.map(|f| self.field(f)).collect();
                ItemKind::Schema(SchemaItem { name, fields })
            }
            Rule::let_item | Rule::model_item => {
                let name = name(parts.next().expect("binding name"));
                let value = self.expr(parts.next().expect("binding value")).expr;
                let binding = Binding { name, value };
                if rule == Rule::let_item { ItemKind::Let(binding) } else { ItemKind::Model(binding) }
            }
            Rule::loss_item => {
                let name = name(parts.next().expect("loss name"));
                let mut params = Vec::new();
                let mut schema = None;
                let mut body = None;
                for part in parts {
                    match part.as_rule() {
                        Rule::params => params = self.params(part),
                        Rule::ident => schema = Some(self::name(part)),
                        _ => body = Some(self.block(part)),
                    }
                }
                ItemKind::Loss(LossItem { name, params, schema, body: body.expect("loss body") })
            }
            Rule::extern_item => {
                let name = name(parts.next().expect("extern name"));
                let mut params = Vec::new();
                let mut ret = None;
                for part in parts {
                    match part.as_rule() {
                        Rule::params => params = self.params(part),
                        _ => ret = Some(self.type_expr(part)),
                    }
                }
                ItemKind::Extern(ExternItem { name, params, ret: ret.expect("extern return type") })
            }
            Rule::train_item => {
                let model = name(parts.next().expect("trained model"));
                let data = self.expr(parts.next().expect("training data")).expr;
                let options = self.options(parts.next().expect("train options"));
                ItemKind::Train(TrainItem { model, data, options })
            }
            Rule::fit_item => {
                let name = name(parts.next().expect("fit name"));
                let value = self.expr(parts.next().expect("fit value")).expr;
                let options = parts.next().map(|o| self.options(o));
                ItemKind::Fit(FitItem { name, value, options })
            }
            Rule::eval_item => {
                let model = name(parts.next().expect("evaluated model"));
                let data = self.expr(parts.next().expect("eval data")).expr;
                let metrics =
                    parts.next().map(|m| m.into_inner().map(|e| self.expr(e).expr).collect()).unwrap_or_default();
                ItemKind::Eval(EvalItem { model, data, metrics })
            }
            Rule::report_item => ItemKind::Report(self.expr(parts.next().expect("report")).expr),
            Rule::repeat_item => {
                let count = self.expr(parts.next().expect("repeat count")).expr;
                let items = parts.map(|p| self.item(p)).collect();
                ItemKind::Repeat(RepeatItem { count, items })
            }
            Rule::sampler_item | Rule::selector_item => {
                let name = name(parts.next().expect("options item name"));
                let options = self.options(parts.next().expect("options"));
                let item = OptionsItem { name, options };
                if rule == Rule::sampler_item { ItemKind::Sampler(item) } else { ItemKind::Selector(item) }
            }
            other => unreachable!("not an item rule: {other:?}"),
        };
        Item { kind, span, doc: None }
    }

    fn use_item(&mut self, span: Span, parts: Vec<Pair<Rule>>) -> UseItem {
        let mut parts = parts.into_iter();
        let source = parts.next().expect("use source");
        let source_inner = source.into_inner().next().expect("use source inner");
        let mut segments: Vec<Name> = Vec::new();
        let mut group: Option<Vec<Name>> = None;
        for part in parts {
            match part.as_rule() {
                Rule::use_group => group = Some(part.into_inner().map(name).collect()),
                _ => segments.push(name(part)),
            }
        }
        let (source, names) = if source_inner.as_rule() == Rule::string {
            let path_span = span_of(&source_inner);
            let path = self.string(source_inner);
            let mut names = group.unwrap_or_default();
            names.splice(0..0, segments);
            (UseSource::File { path, span: path_span }, names)
        } else {
            let mut module = vec![name(source_inner)];
            module.extend(segments);
            let names = match group {
                Some(names) => names,
                None if module.len() > 1 => vec![module.pop().expect("len > 1")],
                None => Vec::new(),
            };
            (UseSource::Module(module), names)
        };
        if names.is_empty() {
            self.diagnostics.push(
                Diagnostic::error("P0112", "this import names nothing to import", span)
                    .with_label("nothing imported")
                    .with_help("name what to import: `use std.losses.dpo` or `use \"lib.plumb\".{my_loss}`"),
            );
        }
        UseItem { source, names }
    }

    fn field(&mut self, pair: Pair<Rule>) -> Field {
        let span = span_of(&pair);
        let mut parts = pair.into_inner();
        let name = name(parts.next().expect("field name"));
        let ty = self.type_expr(parts.next().expect("field type"));
        let default = parts.next().map(|e| self.expr(e).expr);
        Field { name, ty, default, span }
    }

    fn type_expr(&mut self, pair: Pair<Rule>) -> TypeExpr {
        let span = span_of(&pair);
        let mut parts = pair.into_inner();
        let name = name(parts.next().expect("type name"));
        let mut dims = Vec::new();
        let mut optional = false;
        for part in parts {
            match part.as_rule() {
                Rule::type_dims => dims = part.into_inner().map(self::name).collect(),
                _ => optional = true,
            }
        }
        TypeExpr { name, dims, optional, span }
    }

    fn params(&mut self, pair: Pair<Rule>) -> Vec<Param> {
        pair.into_inner().map(|p| self.param(p)).collect()
    }

    fn param(&mut self, pair: Pair<Rule>) -> Param {
        let span = span_of(&pair);
        let mut parts = pair.into_inner();
        let name = name(parts.next().expect("param name"));
        let ty = self.type_expr(parts.next().expect("param type"));
        let mut constraint = None;
        let mut default = None;
        for part in parts {
            match part.as_rule() {
                Rule::param_constraint => constraint = self.constraint(part),
                _ => default = Some(self.expr(part).expr),
            }
        }
        Param { name, ty, constraint, default, span }
    }

    /// The constraint, or None when a bound is out of range (reported).
    fn constraint(&mut self, pair: Pair<Rule>) -> Option<Constraint> {
        let span = span_of(&pair);
        let inner = pair.into_inner().next().expect("constraint kind");
        let kind = match inner.as_rule() {
            Rule::compare_constraint => {
                let mut parts = inner.into_inner();
                let op = match binary_op(parts.next().expect("cmp op").as_str()) {
                    BinOp::Cmp(op) => op,
                    _ => CmpOp::Eq,
                };
                ConstraintKind::Compare(op, self.signed(parts.next().expect("bound"))?)
            }
            _ => {
                let mut parts = children(inner).into_iter();
                let lo_inclusive = parts.next().expect("open bound").as_str() == "[";
                let lo = self.signed(parts.next().expect("low bound"));
                let hi = self.signed(parts.next().expect("high bound"));
                let (lo, hi) = (lo?, hi?);
                let hi_inclusive = parts.next().expect("close bound").as_str() == "]";
                ConstraintKind::Interval { lo, lo_inclusive, hi, hi_inclusive }
            }
        };
        Some(Constraint { kind, span })
    }

    fn signed(&mut self, pair: Pair<Rule>) -> Option<Num> {
        let span = span_of(&pair);
        match pair.as_str().parse::<f64>() {
            Ok(x) if x.is_finite() => Some(Num(x)),
            _ => {
                self.diagnostics.push(
                    Diagnostic::error("P0007", "this number is out of range", span)
                        .with_help("numbers must be finite 64-bit floats"),
                );
                None
            }
        }
    }

    fn block(&mut self, pair: Pair<Rule>) -> Block {
        self.block_with_depth(pair).0
    }

    fn block_with_depth(&mut self, pair: Pair<Rule>) -> (Block, u32) {
        let span = span_of(&pair);
        let mut lets = Vec::new();
        let mut value = None;
        let mut depth = 0;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::let_stmt => {
                    let mut parts = children(part).into_iter();
                    let name = name(parts.next().expect("let name"));
                    let built = self.expr(parts.next().expect("let value"));
                    depth = depth.max(built.depth);
                    lets.push(Binding { name, value: built.expr });
                }
                _ => {
                    let built = self.expr(part);
                    depth = depth.max(built.depth);
                    value = Some(built.expr);
                }
            }
        }
        (Block { lets, value: value.expect("block value"), span }, depth)
    }

    fn options(&mut self, pair: Pair<Rule>) -> Options {
        let span = span_of(&pair);
        let mut entries = Vec::new();
        for option in pair.into_inner() {
            let option_span = span_of(&option);
            let mut parts = option.into_inner();
            let first = parts.next().expect("option content");
            if first.as_rule() == Rule::stage_constraint {
                let expr_pair = children(first).into_iter().next().expect("constraint expr");
                let expr = self.expr(expr_pair).expr;
                entries.push(OptionEntry::Constraint { expr, span: option_span });
            } else {
                let name = name(first);
                let value = self.expr(parts.next().expect("option value")).expr;
                entries.push(OptionEntry::Set { name, value, span: option_span });
            }
        }
        Options { entries, span }
    }

    fn string(&mut self, pair: Pair<Rule>) -> String {
        let inner = pair.into_inner().next().expect("string body");
        let base = inner.as_span().start();
        let raw = inner.as_str();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, escaped)) = chars.next() else {
                break;
            };
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'u' => {
                    let rest = &raw[i + 2..];
                    let code = rest
                        .strip_prefix('{')
                        .and_then(|r| r.split_once('}'))
                        .filter(|(hex, _)| (1..=6).contains(&hex.len()))
                        .and_then(|(hex, _)| u32::from_str_radix(hex, 16).ok().map(|v| (hex.len(), v)));
                    match code.and_then(|(len, v)| char::from_u32(v).map(|c| (len, c))) {
                        Some((len, c)) => {
                            out.push(c);
                            for _ in 0..len + 2 {
                                chars.next();
                            }
                        }
                        None => self.diagnostics.push(
                            Diagnostic::error("P0005", "invalid unicode escape", Span::new(base + i, base + i + 2))
                                .with_help(
                                    "write a unicode escape as `\\u{1F600}`: 1 to 6 hex digits of a valid code point",
                                ),
                        ),
                    }
                }
                other => self.diagnostics.push(
                    Diagnostic::error(
                        "P0005",
                        format!("unknown escape `\\{other}` in a string"),
                        Span::new(base + i, base + i + 1 + other.len_utf8()),
                    )
                    .with_help("the escapes are `\\n`, `\\t`, `\\r`, `\\0`, `\\\\`, `\\\"` and `\\u{...}`"),
                ),
            }
        }
        out
    }

    fn expr(&mut self, pair: Pair<Rule>) -> Built {
        debug_assert_eq!(pair.as_rule(), Rule::expr);
        let mut operands: Vec<Built> = Vec::new();
        let mut ops: Vec<StackOp> = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::operand => {
                    let mut inner = part.into_inner().peekable();
                    while let Some(prefix) = inner.next_if(|p| p.as_rule() == Rule::prefix_op) {
                        let op = if prefix.as_str() == "-" { UnOp::Neg } else { UnOp::Not };
                        ops.push(StackOp::Unary(op, span_of(&prefix)));
                    }
                    let postfix = inner.next().expect("operand has a postfix");
                    operands.push(self.postfix(postfix));
                }
                Rule::binary_op => {
                    let op = binary_op(part.as_str());
                    let precedence = binary_precedence(op);
                    let right_assoc = op == BinOp::Pow;
                    while let Some(&top) = ops.last() {
                        let top_precedence = top.precedence();
                        if top_precedence > precedence || (top_precedence == precedence && !right_assoc) {
                            if let (StackOp::Binary(BinOp::Cmp(_), _), BinOp::Cmp(_)) = (top, op) {
                                let span = span_of(&part);
                                let diagnostic = Diagnostic::error("P0225", "comparisons cannot be chained", span)
                                    .with_label("second comparison")
                                    .with_help("compare twice and join with `and`: `a < b and b < c`");
                                self.diagnostics.push(diagnostic);
                            }
                            self.reduce(&mut operands, &mut ops);
                        } else {
                            break;
                        }
                    }
                    ops.push(StackOp::Binary(op, span_of(&part)));
                }
                _ => {}
            }
        }
        while !ops.is_empty() {
            self.reduce(&mut operands, &mut ops);
        }
        operands.pop().unwrap_or(Built { expr: Expr { kind: ExprKind::Error, span: Span::default() }, depth: 1 })
    }

    fn reduce(&mut self, operands: &mut Vec<Built>, ops: &mut Vec<StackOp>) {
        let Some(op) = ops.pop() else { return };
        match op {
            StackOp::Unary(op, op_span) => {
                let Some(operand) = operands.pop() else {
                    return;
                };
                let span = op_span.to(operand.expr.span);
                let built = self.node(ExprKind::Unary(op, Box::new(operand.expr)), span, operand.depth);
                operands.push(built);
            }
            StackOp::Binary(op, _) => {
                let (Some(rhs), Some(lhs)) = (operands.pop(), operands.pop()) else {
                    return;
                };
                let span = lhs.expr.span.to(rhs.expr.span);
                let depth = lhs.depth.max(rhs.depth);
                let built = self.node(ExprKind::Binary(op, Box::new(lhs.expr), Box::new(rhs.expr)), span, depth);
                operands.push(built);
            }
        }
    }

    fn postfix(&mut self, pair: Pair<Rule>) -> Built {
        let mut parts = pair.into_inner();
        let mut current = self.primary(parts.next().expect("postfix primary"));
        for part in parts {
            let span = current.expr.span.to(span_of(&part));
            current = match part.as_rule() {
                Rule::call_args => {
                    let mut depth = current.depth;
                    let args = part
                        .into_inner()
                        .map(|arg| {
                            let (arg, d) = self.arg(arg);
                            depth = depth.max(d);
                            arg
                        })
                        .collect();
                    self.node(ExprKind::Call { callee: Box::new(current.expr), args }, span, depth)
                }
                Rule::field_access => {
                    let field = name(part.into_inner().next().expect("field name"));
                    self.node(ExprKind::Field(Box::new(current.expr), field), span, current.depth)
                }
                Rule::index => {
                    let index = self.expr(part.into_inner().next().expect("index expr"));
                    let depth = current.depth.max(index.depth);
                    self.node(ExprKind::Index(Box::new(current.expr), Box::new(index.expr)), span, depth)
                }
                _ => {
                    let schema = children(part).into_iter().next().map(name).expect("cast target");
                    self.node(ExprKind::Cast(Box::new(current.expr), schema), span, current.depth)
                }
            };
        }
        current
    }

    fn arg(&mut self, pair: Pair<Rule>) -> (Arg, u32) {
        let span = span_of(&pair);
        let mut name = None;
        let mut value = None;
        let mut given = None;
        let mut depth = 0;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::arg_name => name = Some(self::name(part.into_inner().next().expect("arg name"))),
                Rule::given => {
                    let built = self.expr(part.into_inner().next().expect("given expr"));
                    depth = depth.max(built.depth);
                    given = Some(built.expr);
                }
                _ => {
                    let built = self.expr(part);
                    depth = depth.max(built.depth);
                    value = Some(built.expr);
                }
            }
        }
        (Arg { name, value: value.expect("arg value"), given, span }, depth)
    }

    fn primary(&mut self, pair: Pair<Rule>) -> Built {
        let inner = pair.into_inner().next().expect("primary content");
        let span = span_of(&inner);
        match inner.as_rule() {
            Rule::number => {
                let text = inner.as_str();
                let integer = !text.contains(['.', 'e', 'E']);
                let value = if integer {
                    text.parse::<i64>().ok().map(|v| v as f64)
                } else {
                    text.parse::<f64>().ok().filter(|v| v.is_finite())
                };
                match value {
                    Some(v) => self.node(ExprKind::Number { value: Num(v), integer }, span, 0),
                    None => self.error_expr(
                        Diagnostic::error("P0007", "this number is out of range", span)
                            .with_label(if integer {
                                "larger than a 64-bit integer"
                            } else {
                                "not a finite 64-bit float"
                            })
                            .with_help("integers must fit in i64; floats must be finite"),
                    ),
                }
            }
            Rule::string => {
                let text = self.string(inner);
                self.node(ExprKind::Str(text), span, 0)
            }
            Rule::kw_true => self.node(ExprKind::Bool(true), span, 0),
            Rule::kw_false => self.node(ExprKind::Bool(false), span, 0),
            Rule::ident => self.node(ExprKind::Name(inner.as_str().to_string()), span, 0),
            Rule::paren => {
                let built = self.expr(inner.into_inner().next().expect("paren expr"));
                self.node(ExprKind::Paren(Box::new(built.expr)), span, built.depth)
            }
            Rule::list => {
                let mut depth = 0;
                let items = inner
                    .into_inner()
                    .map(|e| {
                        let built = self.expr(e);
                        depth = depth.max(built.depth);
                        built.expr
                    })
                    .collect();
                self.node(ExprKind::List(items), span, depth)
            }
            _ => self.if_expr(inner),
        }
    }

    fn if_expr(&mut self, pair: Pair<Rule>) -> Built {
        let span = span_of(&pair);
        let parts = children(pair);
        // cond, block, (cond, block)*, else-block
        let mut conds = Vec::new();
        let mut blocks = Vec::new();
        for part in parts {
            if part.as_rule() == Rule::expr {
                conds.push(self.expr(part));
            } else {
                blocks.push(self.block_with_depth(part));
            }
        }
        let (mut otherwise, mut depth) = blocks.pop().expect("else block");
        while let (Some(cond), Some((then, then_depth))) = (conds.pop(), blocks.pop()) {
            let chain_span = cond.expr.span.to(otherwise.span);
            depth = depth.max(cond.depth).max(then_depth);
            let kind = ExprKind::If { cond: Box::new(cond.expr), then: Box::new(then), otherwise: Box::new(otherwise) };
            let built = self.node(kind, if conds.is_empty() { span } else { chain_span }, depth);
            depth = built.depth;
            otherwise = Block { lets: Vec::new(), span: built.expr.span, value: built.expr };
        }
        Built { expr: otherwise.value, depth }
    }
}
