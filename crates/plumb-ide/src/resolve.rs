//! Name resolution for the editor: a walk over each item that records every name
//! it mentions (definitions and uses) with what the name refers to, and, inside
//! loss bodies, the type of each expression (scalar and dims), computed with the
//! checker's rules where they are cheap. Hover, go-to-definition, references and
//! semantic tokens are all answered from these occurrences.
//!
//! Spans are file-relative. The walk never fails: a name it cannot resolve gets no
//! target (the checker has reported it).

use plumb_db::{Db, SourceFile};
use plumb_diag::Span;
use plumb_hir::types::{Dim, Dims, Scalar, Type};
use plumb_hir::{DefKind, DefRef, ItemText, file_items, own_defs, parse_item_text, resolve_use_source, scope};
use plumb_syntax::ast::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The model roles a loss body can call.
pub(crate) const ROLES: &[&str] = &["policy", "reference"];
/// The methods of a model role inside a loss body, with what they return.
pub(crate) const MODEL_METHODS: &[(&str, &str)] = &[
    ("logp", "summed log-probability of the completion given the prompt: `f32`, one per example"),
    ("logp_tokens", "log-probability of each completion token given the prompt: `f32[tok]` (mask implied)"),
    ("reward", "the reward model's score of the completion given the prompt: `f32`, one per example"),
];
const REDUCTIONS: &[&str] = &["sum", "mean", "amax", "amin", "logsumexp", "count"];
const SCANS: &[&str] = &["sort", "cumsum", "discounted_cumsum"];

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A top-level definition in some file (a recipe, an imported file, the stdlib).
    Global(DefRef),
    /// A whole file: `use std.losses` or `use "lib.plumb"`.
    File(SourceFile),
    /// A `let` inside a loss body or an `if` block, or a `let`/`model` inside `repeat`;
    /// `def` is the file-relative span of its name.
    Local {
        file: SourceFile,
        def: Span,
    },
    /// A parameter of a loss or function: in its body, or as a named argument.
    Param {
        owner: DefRef,
        name: String,
    },
    /// A field of a schema: its declaration, or a column used in a loss body.
    Column {
        schema: DefRef,
        name: String,
    },
    Role(String),
    Dim(Dim),
    Method(String),
    /// An option of a stage or options block (`train`, `sampler`, `selector`, `fit`).
    Option {
        stage: &'static str,
        name: String,
    },
    /// `.train` / `.holdout` of a split, or a column of data (`prompts.prompt`).
    Member(String),
}

/// One mention of a name.
#[derive(Clone, Debug)]
pub struct Occurrence {
    pub span: Span,
    pub target: Option<Target>,
    /// Whether this is the defining mention.
    pub is_def: bool,
    /// The type of the value named, where known.
    pub ty: Option<Type>,
}

/// The occurrences of one item and the types of its loss-body expressions.
#[derive(Default)]
pub struct ItemWalk {
    pub occurrences: Vec<Occurrence>,
    /// (file-relative span, type) of each expression inside a loss body.
    pub expr_types: Vec<(Span, Type)>,
    /// Type names in annotations (`f32`, `Text`), file-relative.
    pub type_names: Vec<Span>,
}

pub(crate) use plumb_hir::def_kind;

/// Walks the item at `index` of `file`.
pub fn walk_item(db: &dyn Db, file: SourceFile, index: usize) -> ItemWalk {
    let items = file_items(db, file);
    let Some(entry) = items.entries.get(index) else {
        return ItemWalk::default();
    };
    let parse = parse_item_text(db, entry.text);
    let Some(item) = &parse.item else {
        return ItemWalk::default();
    };
    let mut walker = Walker {
        db,
        file,
        scope: scope(db, file),
        offset: entry.offset,
        item: entry.text,
        out: ItemWalk::default(),
        locals: Vec::new(),
        math: None,
    };
    walker.item(item, true);
    walker.out
}

/// Walks every item of a file.
pub fn walk_file(db: &dyn Db, file: SourceFile) -> ItemWalk {
    let mut all = ItemWalk::default();
    for index in 0..file_items(db, file).entries.len() {
        let walk = walk_item(db, file, index);
        all.occurrences.extend(walk.occurrences);
        all.expr_types.extend(walk.expr_types);
        all.type_names.extend(walk.type_names);
    }
    all
}

/// The index of the item containing `offset` (the last one starting at or before it).
pub fn item_at(db: &dyn Db, file: SourceFile, offset: u32) -> Option<usize> {
    let items = file_items(db, file);
    let after = items.entries.partition_point(|e| e.offset <= offset);
    after.checked_sub(1)
}

/// The file offset of the item with this text in `file`, and its parse.
pub fn locate_item(db: &dyn Db, file: SourceFile, text: ItemText) -> Option<(u32, Arc<plumb_syntax::ItemParse>)> {
    let entry = file_items(db, file).entries.iter().find(|e| e.text == text).cloned()?;
    Some((entry.offset, parse_item_text(db, entry.text)))
}

struct Math {
    owner: DefRef,
    params: BTreeMap<String, Type>,
    schema: Option<DefRef>,
    columns: BTreeMap<String, Type>,
    /// Lets in scope: name, file-relative span of the name, type.
    lets: Vec<(String, Span, Type)>,
}

struct Walker<'a> {
    db: &'a dyn Db,
    file: SourceFile,
    scope: Arc<BTreeMap<String, DefRef>>,
    offset: u32,
    item: ItemText,
    out: ItemWalk,
    /// `let`/`model` inside `repeat`: name, file-relative span, type.
    locals: Vec<(String, Span, Type)>,
    math: Option<Math>,
}

/// The columns of a schema definition with their types (per example).
pub(crate) fn schema_columns(db: &dyn Db, schema: DefRef) -> BTreeMap<String, Type> {
    let parse = parse_item_text(db, schema.item);
    let mut columns = BTreeMap::new();
    if let Some(ItemKind::Schema(s)) = parse.item.as_ref().map(|i| &i.kind) {
        for field in &s.fields {
            columns.insert(field.name.text.clone(), annotation_type(&field.ty, Dims::BATCH));
        }
    }
    columns
}

/// The type an annotation names, with `base` dims added.
pub(crate) fn annotation_type(ty: &TypeExpr, base: Dims) -> Type {
    let mut dims = base;
    for d in &ty.dims {
        if let Some(dim) = Dim::parse(&d.text) {
            dims = dims.with(dim);
        }
    }
    match Scalar::parse(&ty.name.text) {
        Some(scalar) => Type::value(scalar, dims),
        None => Type::Opaque(ty.name.text.clone()),
    }
}

impl Walker<'_> {
    fn span(&self, span: Span) -> Span {
        span.shifted(self.offset)
    }

    fn record(&mut self, name: &Name, target: Option<Target>, is_def: bool, ty: Option<Type>) {
        let span = self.span(name.span);
        self.out.occurrences.push(Occurrence { span, target, is_def, ty });
    }

    fn record_span(&mut self, span: Span, target: Option<Target>, is_def: bool, ty: Option<Type>) {
        let span = self.span(span);
        self.out.occurrences.push(Occurrence { span, target, is_def, ty });
    }

    fn this_def(&self, kind: DefKind) -> DefRef {
        DefRef { file: self.file, item: self.item, kind }
    }

    fn global_type(&self, def: DefRef, name: &str) -> Option<Type> {
        match def.kind {
            DefKind::Let | DefKind::Model | DefKind::Fit => {
                let ty = plumb_hir::binding_type(self.db, def.file, def.item);
                (!matches!(&ty, Type::Opaque(c) if c == "cycle")).then_some(ty)
            }
            DefKind::Schema => Some(Type::Schema(name.into())),
            DefKind::Loss | DefKind::Extern => Some(Type::Function(name.into())),
            DefKind::Sampler => Some(Type::Options("Sampler")),
            DefKind::Selector => Some(Type::Options("Selector")),
        }
    }

    /// What `name` refers to here, and its type.
    fn resolve(&self, name: &str) -> (Option<Target>, Type) {
        if let Some(math) = &self.math {
            if let Some((_, span, ty)) = math.lets.iter().rev().find(|(n, _, _)| n == name) {
                return (Some(Target::Local { file: self.file, def: *span }), ty.clone());
            }
            if let Some(ty) = math.params.get(name) {
                return (Some(Target::Param { owner: math.owner, name: name.into() }), ty.clone());
            }
            if let (Some(schema), Some(ty)) = (math.schema, math.columns.get(name)) {
                return (Some(Target::Column { schema, name: name.into() }), ty.clone());
            }
            if ROLES.contains(&name) {
                return (Some(Target::Role(name.into())), Type::Unknown);
            }
        } else if let Some((_, span, ty)) = self.locals.iter().rev().find(|(n, _, _)| n == name) {
            return (Some(Target::Local { file: self.file, def: *span }), ty.clone());
        }
        if let Some(dim) = Dim::parse(name) {
            return (Some(Target::Dim(dim)), Type::Dim(dim));
        }
        match self.scope.get(name) {
            Some(def) => (Some(Target::Global(*def)), self.global_type(*def, name).unwrap_or(Type::Unknown)),
            None => (None, Type::Unknown),
        }
    }

    // ------------------------------------------------------------ items

    fn item(&mut self, item: &Item, top_level: bool) {
        let defined = match (item.kind.defined_name(), def_kind(&item.kind)) {
            (Some(name), Some(kind)) if top_level => {
                let def = self.this_def(kind);
                let ty = self.global_type(def, &name.text);
                self.record(name, Some(Target::Global(def)), true, ty);
                Some(def)
            }
            _ => None,
        };
        match &item.kind {
            ItemKind::Use(use_item) => self.use_item(use_item),
            ItemKind::Schema(schema) => {
                let owner = defined.unwrap_or(self.this_def(DefKind::Schema));
                for field in &schema.fields {
                    let ty = annotation_type(&field.ty, Dims::BATCH);
                    self.record(
                        &field.name,
                        Some(Target::Column { schema: owner, name: field.name.text.clone() }),
                        true,
                        Some(ty),
                    );
                    self.type_expr(&field.ty);
                    if let Some(default) = &field.default {
                        self.expr(default);
                    }
                }
            }
            ItemKind::Let(binding) | ItemKind::Model(binding) => {
                let ty = self.expr(&binding.value);
                if !top_level {
                    let span = self.span(binding.name.span);
                    let ty = if ty.is_unknown() { None } else { Some(ty) };
                    self.record(&binding.name, Some(Target::Local { file: self.file, def: span }), true, ty.clone());
                    self.locals.push((binding.name.text.clone(), span, ty.unwrap_or(Type::Unknown)));
                }
            }
            ItemKind::Loss(loss) => self.loss(loss, defined.unwrap_or(self.this_def(DefKind::Loss))),
            ItemKind::Extern(ext) => {
                let owner = defined.unwrap_or(self.this_def(DefKind::Extern));
                self.params(&ext.params, owner, Dims::NONE);
                self.type_expr(&ext.ret);
            }
            ItemKind::Train(train) => {
                self.model_name(&train.model);
                self.expr(&train.data);
                self.options(&train.options, "train");
            }
            ItemKind::Fit(fit) => {
                if !top_level {
                    let span = self.span(fit.name.span);
                    self.record(&fit.name, Some(Target::Local { file: self.file, def: span }), true, None);
                    self.locals.push((fit.name.text.clone(), span, Type::Opaque("Ratings".into())));
                }
                self.expr(&fit.value);
                if let Some(options) = &fit.options {
                    self.options(options, "fit");
                }
            }
            ItemKind::Eval(eval) => {
                self.model_name(&eval.model);
                self.expr(&eval.data);
                for metric in &eval.metrics {
                    self.expr(metric);
                }
            }
            ItemKind::Report(expr) => {
                self.expr(expr);
            }
            ItemKind::Repeat(repeat) => {
                self.expr(&repeat.count);
                let saved = self.locals.len();
                for inner in &repeat.items {
                    self.item(inner, false);
                }
                self.locals.truncate(saved);
            }
            ItemKind::Sampler(o) => self.options(&o.options, "sampler"),
            ItemKind::Selector(o) => self.options(&o.options, "selector"),
        }
    }

    fn use_item(&mut self, use_item: &UseItem) {
        let target = resolve_use_source(self.db, self.file, &use_item.source);
        match &use_item.source {
            UseSource::Module(path) => {
                for (i, segment) in path.iter().enumerate() {
                    let file = if i + 1 == path.len() { target.map(Target::File) } else { None };
                    self.record(segment, file, false, None);
                }
            }
            UseSource::File { span, .. } => self.record_span(*span, target.map(Target::File), false, None),
        }
        let defs = target.map(|t| own_defs(self.db, t));
        for name in &use_item.names {
            let def = defs.as_ref().and_then(|d| d.get(&name.text).copied());
            let ty = def.and_then(|d| self.global_type(d, &name.text));
            self.record(name, def.map(Target::Global), false, ty);
        }
    }

    fn type_expr(&mut self, ty: &TypeExpr) {
        let span = self.span(ty.name.span);
        if Scalar::parse(&ty.name.text).is_some() {
            self.out.type_names.push(span);
        } else {
            // A schema or an opaque stdlib type: resolve schemas, mark the rest as types.
            match self.scope.get(&ty.name.text).copied().filter(|d| d.kind == DefKind::Schema) {
                Some(def) => self.record(&ty.name, Some(Target::Global(def)), false, None),
                None => self.out.type_names.push(span),
            }
        }
        for dim in &ty.dims {
            let target = Dim::parse(&dim.text).map(Target::Dim);
            self.record(dim, target, false, None);
        }
    }

    fn params(&mut self, params: &[Param], owner: DefRef, base: Dims) -> BTreeMap<String, Type> {
        let mut types = BTreeMap::new();
        for param in params {
            let ty = annotation_type(&param.ty, base);
            self.record(
                &param.name,
                Some(Target::Param { owner, name: param.name.text.clone() }),
                true,
                Some(ty.clone()),
            );
            self.type_expr(&param.ty);
            if let Some(default) = &param.default {
                self.expr(default);
            }
            types.entry(param.name.text.clone()).or_insert(ty);
        }
        types
    }

    fn loss(&mut self, loss: &LossItem, owner: DefRef) {
        let params = self.params(&loss.params, owner, Dims::NONE);
        let mut schema = None;
        let mut columns = BTreeMap::new();
        if let Some(name) = &loss.schema {
            let def = self.scope.get(&name.text).copied().filter(|d| d.kind == DefKind::Schema);
            self.record(name, def.map(Target::Global), false, def.map(|_| Type::Schema(name.text.clone())));
            if let Some(def) = def {
                columns = schema_columns(self.db, def);
                schema = Some(def);
            }
        }
        self.math = Some(Math { owner, params, schema, columns, lets: Vec::new() });
        self.block(&loss.body);
        self.math = None;
    }

    fn block(&mut self, block: &Block) -> Type {
        let saved_lets = self.math.as_ref().map(|m| m.lets.len());
        let saved_locals = self.locals.len();
        for binding in &block.lets {
            let ty = self.expr(&binding.value);
            let span = self.span(binding.name.span);
            let shown = (!ty.is_unknown()).then(|| ty.clone());
            self.record(&binding.name, Some(Target::Local { file: self.file, def: span }), true, shown);
            match &mut self.math {
                Some(math) => math.lets.push((binding.name.text.clone(), span, ty)),
                None => self.locals.push((binding.name.text.clone(), span, ty)),
            }
        }
        let ty = self.expr(&block.value);
        if let (Some(math), Some(len)) = (&mut self.math, saved_lets) {
            math.lets.truncate(len);
        }
        self.locals.truncate(saved_locals);
        ty
    }

    fn model_name(&mut self, name: &Name) {
        let (target, ty) = self.resolve(&name.text);
        self.record(name, target, false, (!ty.is_unknown()).then_some(ty));
    }

    fn options(&mut self, options: &Options, stage: &'static str) {
        for entry in &options.entries {
            match entry {
                OptionEntry::Set { name, value, .. } => {
                    self.record(name, Some(Target::Option { stage, name: name.text.clone() }), false, None);
                    self.expr(value);
                }
                OptionEntry::Constraint { expr, .. } => {
                    self.expr(expr);
                }
            }
        }
    }

    // ------------------------------------------------------------ expressions

    fn expr(&mut self, expr: &Expr) -> Type {
        let ty = self.expr_inner(expr);
        if self.math.is_some() && !ty.is_unknown() {
            let span = self.span(expr.span);
            self.out.expr_types.push((span, ty.clone()));
        }
        ty
    }

    fn expr_inner(&mut self, expr: &Expr) -> Type {
        match &expr.kind {
            ExprKind::Error => Type::Unknown,
            ExprKind::Number { integer: true, .. } => Type::value(Scalar::Int, Dims::NONE),
            ExprKind::Number { .. } => Type::value(Scalar::Float, Dims::NONE),
            ExprKind::Str(_) => Type::value(Scalar::Text, Dims::NONE),
            ExprKind::Bool(_) => Type::value(Scalar::Bool, Dims::NONE),
            ExprKind::Name(name) => {
                let (target, ty) = self.resolve(name);
                let shown = (!ty.is_unknown()).then(|| ty.clone());
                self.record_span(expr.span, target, false, shown);
                ty
            }
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::List(items) => {
                let mut element = Type::Unknown;
                for item in items {
                    let ty = self.expr(item);
                    if element.is_unknown() {
                        element = ty;
                    }
                }
                Type::List(Box::new(element))
            }
            ExprKind::Unary(op, inner) => {
                let ty = self.expr(inner);
                match (op, &ty) {
                    (UnOp::Neg, Type::Value { scalar, .. }) if scalar.is_numeric() => ty,
                    (UnOp::Not, Type::Value { scalar: Scalar::Bool, .. }) => ty,
                    _ => Type::Unknown,
                }
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let left = self.expr(lhs);
                let right = self.expr(rhs);
                binary(*op, &left, &right)
            }
            ExprKind::If { cond, then, otherwise } => {
                let cond_dims = match self.expr(cond) {
                    Type::Value { dims, .. } => dims,
                    _ => Dims::NONE,
                };
                let a = self.block(then);
                let b = self.block(otherwise);
                match (&a, &b) {
                    (Type::Value { scalar: sa, dims: da }, Type::Value { scalar: sb, dims: db }) => {
                        let scalar = if sa == sb { *sa } else { Scalar::Float };
                        Type::value(scalar, da.union(*db).union(cond_dims))
                    }
                    _ if a == b => a,
                    _ => Type::Unknown,
                }
            }
            ExprKind::Field(receiver, field) => {
                let ty = self.expr(receiver);
                let member = match &ty {
                    Type::Split(schema) if matches!(field.text.as_str(), "train" | "holdout") => {
                        Type::Data(schema.clone())
                    }
                    Type::Data(Some(schema)) => match self.scope.get(schema).copied() {
                        Some(def) => match schema_columns(self.db, def).get(&field.text) {
                            Some(Type::Value { scalar, .. }) => Type::Column(*scalar),
                            _ => Type::Unknown,
                        },
                        None => Type::Unknown,
                    },
                    _ => Type::Unknown,
                };
                let target = (!ty.is_unknown()).then(|| Target::Member(field.text.clone()));
                self.record(field, target, false, (!member.is_unknown()).then(|| member.clone()));
                member
            }
            ExprKind::Index(receiver, index) => {
                self.expr(receiver);
                self.expr(index);
                Type::Unknown
            }
            ExprKind::Cast(inner, schema) => {
                let ty = self.expr(inner);
                let def = self.scope.get(&schema.text).copied().filter(|d| d.kind == DefKind::Schema);
                self.record(schema, def.map(Target::Global), false, def.map(|_| Type::Schema(schema.text.clone())));
                match ty {
                    Type::Data(_) if def.is_some() => Type::Data(Some(schema.text.clone())),
                    _ => Type::Unknown,
                }
            }
            ExprKind::Call { callee, args } => self.call(callee, args),
        }
    }

    fn call(&mut self, callee: &Expr, args: &[Arg]) -> Type {
        if self.math.is_some()
            && let ExprKind::Field(receiver, method) = &callee.kind
            && let ExprKind::Name(role) = &receiver.kind
            && ROLES.contains(&role.as_str())
        {
            self.record_span(receiver.span, Some(Target::Role(role.clone())), false, None);
            let known = MODEL_METHODS.iter().any(|(m, _)| *m == method.text);
            self.record(method, known.then(|| Target::Method(method.text.clone())), false, None);
            let mut dims = Dims::BATCH;
            for arg in args {
                for part in std::iter::once(&arg.value).chain(arg.given.as_ref()) {
                    if let Type::Value { dims: d, .. } = self.expr(part) {
                        dims = dims.union(d);
                    }
                }
            }
            if !known || args.len() != 1 {
                return Type::Unknown;
            }
            let dims = if method.text == "logp_tokens" { dims.with(Dim::Tok) } else { dims };
            return if dims.is_consistent() { Type::float(dims) } else { Type::Unknown };
        }
        self.expr(callee);
        let def = match &callee.kind {
            ExprKind::Name(name) => match self.resolve(name).0 {
                Some(Target::Global(def)) if matches!(def.kind, DefKind::Loss | DefKind::Extern) => Some((name, def)),
                _ => None,
            },
            _ => None,
        };
        let params: Vec<Param> = def
            .and_then(|(_, def)| {
                let parse = parse_item_text(self.db, def.item);
                match parse.item.as_ref().map(|i| &i.kind) {
                    Some(ItemKind::Loss(l)) => Some(l.params.clone()),
                    Some(ItemKind::Extern(e)) => Some(e.params.clone()),
                    _ => None,
                }
            })
            .unwrap_or_default();
        let mut bound: Vec<Option<(Type, &Expr)>> = vec![None; params.len()];
        let mut positional = 0;
        for arg in args {
            let index = match &arg.name {
                Some(name) => {
                    let index = params.iter().position(|p| p.name.text == name.text);
                    let target = match (def, index) {
                        (Some((_, owner)), Some(_)) => Some(Target::Param { owner, name: name.text.clone() }),
                        _ => None,
                    };
                    self.record(name, target, false, None);
                    index
                }
                None => {
                    positional += 1;
                    Some(positional - 1)
                }
            };
            // `over = tok` names a dim, which resolves like any other name.
            let ty = self.expr(&arg.value);
            if let Some(given) = &arg.given {
                self.expr(given);
            }
            if let Some(slot) = index.and_then(|i| bound.get_mut(i))
                && slot.is_none()
            {
                *slot = Some((ty, &arg.value));
            }
        }
        let Some((name, def)) = def else {
            return Type::Unknown;
        };
        self.call_result(name, def, &params, &bound)
    }

    fn call_result(&self, name: &str, def: DefRef, params: &[Param], bound: &[Option<(Type, &Expr)>]) -> Type {
        if def.kind == DefKind::Loss {
            return plumb_hir::loss_use(self.db, def.file, def.item).map(Type::Loss).unwrap_or(Type::Unknown);
        }
        let dims_of = |i: usize| match bound.get(i).and_then(|b| b.as_ref()) {
            Some((Type::Value { dims, .. }, _)) => Some(*dims),
            _ => None,
        };
        let is_math = def.file.path(self.db) == &plumb_db::std_path("math");
        if is_math {
            if REDUCTIONS.contains(&name) || SCANS.contains(&name) {
                let over = params.iter().position(|p| p.name.text == "over");
                let dim = over.and_then(|o| bound.get(o)).and_then(|b| b.as_ref()).and_then(|(t, _)| match t {
                    Type::Dim(d) => Some(*d),
                    _ => None,
                });
                return match (dims_of(0), dim) {
                    (Some(dims), Some(dim)) if dims.has(dim) => {
                        Type::float(if REDUCTIONS.contains(&name) { dims.without(dim) } else { dims })
                    }
                    _ => Type::Unknown,
                };
            }
            if name == "mismatched" {
                return Type::value(Scalar::Text, dims_of(0).unwrap_or(Dims::BATCH));
            }
            let mut dims = Dims::NONE;
            for i in 0..bound.len() {
                dims = dims.union(dims_of(i).unwrap_or(Dims::NONE));
            }
            return if dims.is_consistent() { Type::float(dims) } else { Type::Unknown };
        }
        let parse = parse_item_text(self.db, def.item);
        let Some(ItemKind::Extern(ext)) = parse.item.as_ref().map(|i| &i.kind) else {
            return Type::Unknown;
        };
        match ext.ret.name.text.as_str() {
            "Data" => match name {
                "pair" => Type::Data(Some("Pairwise".into())),
                "select" => Type::Data(Some("Pointwise".into())),
                _ => Type::Data(None),
            },
            "Split" => match bound.first().and_then(|b| b.as_ref()) {
                Some((Type::Data(schema), _)) => Type::Split(schema.clone()),
                _ => Type::Split(None),
            },
            // Model kinds depend on the checker's rules; hover shows them for bindings.
            "Model" => Type::Unknown,
            other => match Scalar::parse(other) {
                Some(scalar) => Type::value(scalar, Dims::NONE),
                None => Type::Opaque(other.to_string()),
            },
        }
    }
}

fn binary(op: BinOp, left: &Type, right: &Type) -> Type {
    let (Type::Value { scalar: a, dims: da }, Type::Value { scalar: b, dims: db }) = (left, right) else {
        return match op {
            BinOp::Cmp(_) | BinOp::And | BinOp::Or => Type::value(Scalar::Bool, Dims::NONE),
            _ => Type::Unknown,
        };
    };
    let dims = da.union(*db);
    if !dims.is_consistent() {
        return Type::Unknown;
    }
    match op {
        BinOp::And | BinOp::Or | BinOp::Cmp(_) => Type::value(Scalar::Bool, dims),
        _ if !a.is_numeric() || !b.is_numeric() => Type::Unknown,
        _ if *a == Scalar::Int && *b == Scalar::Int && op != BinOp::Div => Type::value(Scalar::Int, dims),
        _ => Type::float(dims),
    }
}

/// The file-relative span of the name a target is defined by, and its file.
pub fn definition_site(db: &dyn Db, target: &Target) -> Option<(SourceFile, Span)> {
    match target {
        Target::Global(def) => {
            let (offset, parse) = locate_item(db, def.file, def.item)?;
            let name = parse.item.as_ref()?.kind.defined_name()?;
            Some((def.file, name.span.shifted(offset)))
        }
        Target::File(file) => Some((*file, Span::new(0, 0))),
        Target::Local { file, def } => Some((*file, *def)),
        Target::Param { owner, name } => {
            let (offset, parse) = locate_item(db, owner.file, owner.item)?;
            let params = match &parse.item.as_ref()?.kind {
                ItemKind::Loss(l) => &l.params,
                ItemKind::Extern(e) => &e.params,
                _ => return None,
            };
            let param = params.iter().find(|p| p.name.text == *name)?;
            Some((owner.file, param.name.span.shifted(offset)))
        }
        Target::Column { schema, name } => {
            let (offset, parse) = locate_item(db, schema.file, schema.item)?;
            let ItemKind::Schema(s) = &parse.item.as_ref()?.kind else {
                return None;
            };
            let field = s.fields.iter().find(|f| f.name.text == *name)?;
            Some((schema.file, field.name.span.shifted(offset)))
        }
        Target::Role(_) | Target::Dim(_) | Target::Method(_) | Target::Option { .. } | Target::Member(_) => None,
    }
}
