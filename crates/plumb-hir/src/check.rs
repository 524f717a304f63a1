//! The checker: types expressions (pipeline values outside losses, scalars with
//! named dims inside them) and checks each item's wiring.

use crate::options::*;
use crate::suggest::closest;
use crate::types::*;
use crate::{DefKind, DefRef, ItemText, own_defs, parse_item_text, resolve_use_source, scope};
use plumb_db::{Db, SourceFile};
use plumb_diag::{Diagnostic, Span};
use plumb_syntax::ast::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const REDUCTIONS: &[&str] = &["sum", "mean", "amax", "amin", "logsumexp", "count"];
const SCANS: &[&str] = &["sort", "cumsum", "discounted_cumsum"];
const ROLES: &[&str] = &["policy", "reference"];
const MODEL_METHODS: &[&str] = &["logp", "logp_tokens", "reward"];
/// The types stdlib functions take besides scalars.
const PIPELINE_TYPES: &[&str] = &[
    "Data",
    "Model",
    "Dim",
    "Column",
    "Split",
    "Selector",
    "Optimizer",
    "Schedule",
    "Metric",
    "Ratings",
    "Report",
    "Interval",
    "Candidates",
    "Scored",
];

pub(crate) fn duplicate(name: &Name, first_offset: u32, offset: u32) -> Diagnostic {
    let _ = first_offset;
    Diagnostic::error("P0102", format!("`{}` is defined more than once", name.text), name.span.shifted(offset))
        .with_label("defined again here")
        .with_help("rename one of them; each top-level name (and import) is defined once per file")
}

pub(crate) fn unused(name: &Name, offset: u32, import: bool) -> Diagnostic {
    if import {
        Diagnostic::warning("P0107", format!("`{}` is imported but never used", name.text), name.span.shifted(offset))
            .with_label("unused import")
            .with_help("remove it from the `use`")
    } else {
        Diagnostic::warning("P0401", format!("`{}` is defined but never used", name.text), name.span.shifted(offset))
            .with_label("unused")
            .with_help("remove it, or use it in a stage")
    }
}

/// Where names come from inside a loss body.
struct MathEnv {
    schema: Option<String>,
    params: BTreeMap<String, Type>,
    columns: BTreeMap<String, Type>,
    lets: Vec<(String, Type)>,
    used: BTreeSet<String>,
}

struct Checker<'a> {
    db: &'a dyn Db,
    file: SourceFile,
    scope: Arc<BTreeMap<String, DefRef>>,
    diagnostics: Vec<Diagnostic>,
    /// `let`s inside a `repeat` body, in order.
    locals: Vec<(String, Type)>,
    math: Option<MathEnv>,
    /// The item being checked, when it is a top-level item.
    current: Option<ItemText>,
    /// Names whose definition or import failed (already reported).
    unresolved: Arc<BTreeSet<String>>,
    /// Set inside a loss whose schema does not resolve: its columns are unknown.
    columns_unknown: bool,
}

pub(crate) fn infer_binding(db: &dyn Db, file: SourceFile, item: ItemText) -> Type {
    let parse = parse_item_text(db, item);
    let Some(item) = &parse.item else {
        return Type::Unknown;
    };
    let mut checker = Checker::new(db, file);
    match &item.kind {
        ItemKind::Let(b) | ItemKind::Model(b) => checker.infer(&b.value),
        ItemKind::Fit(f) => match checker.infer(&f.value) {
            ratings @ Type::Opaque(_) if ratings == Type::Opaque("Ratings".into()) => ratings,
            _ => Type::Unknown,
        },
        _ => Type::Unknown,
    }
}

pub(crate) fn check_item(db: &dyn Db, file: SourceFile, item_text: ItemText) -> Vec<Diagnostic> {
    let parse = parse_item_text(db, item_text);
    let Some(item) = &parse.item else {
        return Vec::new();
    };
    let mut checker = Checker::new(db, file);
    checker.current = Some(item_text);
    checker.item(item, true);
    checker.diagnostics
}

fn is_literal_number(expr: &Expr) -> Option<f64> {
    match &expr.kind {
        ExprKind::Number { value, .. } => Some(value.0),
        ExprKind::Unary(UnOp::Neg, inner) => is_literal_number(inner).map(|v| -v),
        ExprKind::Paren(inner) => is_literal_number(inner),
        _ => None,
    }
}

fn is_integer_literal(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Number { integer, .. } => *integer,
        ExprKind::Unary(UnOp::Neg, inner) | ExprKind::Paren(inner) => is_integer_literal(inner),
        _ => false,
    }
}

impl<'a> Checker<'a> {
    fn new(db: &'a dyn Db, file: SourceFile) -> Self {
        Checker {
            db,
            file,
            scope: scope(db, file),
            diagnostics: Vec::new(),
            locals: Vec::new(),
            math: None,
            current: None,
            unresolved: crate::unresolved_names(db, file),
            columns_unknown: false,
        }
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn def_item(&self, def: &DefRef) -> Option<Arc<plumb_syntax::ItemParse>> {
        Some(parse_item_text(self.db, def.item))
    }

    // ------------------------------------------------------------ items

    fn item(&mut self, item: &Item, top_level: bool) {
        match &item.kind {
            ItemKind::Use(use_item) => self.use_item(use_item),
            ItemKind::Schema(schema) => self.schema_item(schema),
            ItemKind::Let(binding) => {
                let ty = self.infer(&binding.value);
                if matches!(ty, Type::Model(_)) {
                    self.push(
                        Diagnostic::error(
                            "P0121",
                            format!("`{}` is a model; declare it with `model`", binding.name.text),
                            binding.name.span,
                        )
                        .with_label("bound with `let`")
                        .with_help(format!("write `model {} = ...`", binding.name.text)),
                    );
                }
                let cyclic = top_level
                    && self.current.is_some_and(
                        |item| matches!(crate::binding_type(self.db, self.file, item), Type::Opaque(c) if c == "cycle"),
                    );
                if cyclic {
                    self.push(
                        Diagnostic::error(
                            "P0114",
                            format!("`{}` depends on itself", binding.name.text),
                            binding.name.span,
                        )
                        .with_help(
                            "break the cycle: a definition cannot refer back to itself through other definitions",
                        ),
                    );
                }
                if !top_level {
                    self.locals.push((binding.name.text.clone(), ty));
                }
            }
            ItemKind::Model(binding) => {
                self.model_item(binding);
                if !top_level {
                    let ty = self.infer(&binding.value);
                    self.locals.push((binding.name.text.clone(), ty));
                }
            }
            ItemKind::Loss(loss) => self.loss_item(loss),
            ItemKind::Extern(ext) => {
                if !self.file.is_std(self.db) {
                    self.push(
                        Diagnostic::error(
                            "P0116",
                            "extern functions are provided by the standard library",
                            ext.name.span,
                        )
                        .with_label("declared outside the stdlib")
                        .with_help("write the math as a `loss`, or import the function from std"),
                    );
                }
                self.params(&ext.params, true);
            }
            ItemKind::Train(train) => self.train_item(train),
            ItemKind::Fit(fit) => self.fit_item(fit),
            ItemKind::Eval(eval) => self.eval_item(eval),
            ItemKind::Report(expr) => {
                let ty = self.infer(expr);
                if !matches!(ty, Type::Unknown) && ty != Type::Opaque("Report".into()) {
                    self.push(
                        Diagnostic::error("P0319", format!("`report` needs a report, found {ty}"), expr.span)
                            .with_help("build one with a stdlib report, e.g. `report leaderboard(ratings)`"),
                    );
                }
            }
            ItemKind::Repeat(repeat) => {
                let count_ok =
                    is_integer_literal(&repeat.count) && is_literal_number(&repeat.count).is_some_and(|n| n >= 1.0);
                if !count_ok {
                    self.infer(&repeat.count);
                    self.push(
                        Diagnostic::error(
                            "P0320",
                            "`repeat` needs a positive whole number of rounds",
                            repeat.count.span,
                        )
                        .with_label("not a positive integer literal")
                        .with_help("write the number of rounds, e.g. `repeat 3 { ... }`"),
                    );
                }
                let saved = self.locals.len();
                for inner in &repeat.items {
                    self.item(inner, false);
                }
                self.locals.truncate(saved);
            }
            ItemKind::Sampler(o) => {
                self.options(&o.options, SAMPLER_OPTIONS, "sampler");
            }
            ItemKind::Selector(o) => {
                self.options(&o.options, SELECTOR_OPTIONS, "selector");
            }
        }
    }

    fn use_item(&mut self, use_item: &UseItem) {
        if use_item.names.is_empty() {
            return;
        }
        if let UseSource::Module(path) = &use_item.source
            && path.len() == 1
            && let [name] = use_item.names.as_slice()
            && plumb_db::STDLIB.iter().any(|(m, _)| *m == name.text)
        {
            self.push(
                Diagnostic::error(
                    "P0112",
                    format!("this imports the module `std.{}` itself, which names nothing", name.text),
                    name.span,
                )
                .with_label("a module, not a name in it")
                .with_help(format!("name what to import: `use std.{}.{{...}}`", name.text)),
            );
            return;
        }
        let target = resolve_use_source(self.db, self.file, &use_item.source);
        let Some(target) = target else {
            match &use_item.source {
                UseSource::Module(path) => {
                    let span = path.first().map(|f| f.span.to(path.last().unwrap_or(f).span)).unwrap_or_default();
                    let shown: Vec<&str> = path.iter().map(|n| n.text.as_str()).collect();
                    let modules: Vec<&str> = plumb_db::STDLIB.iter().map(|(m, _)| *m).collect();
                    let help = match shown.as_slice() {
                        ["std", module] => match closest(module, modules.iter().copied()) {
                            Some(near) => format!("did you mean `std.{near}`?"),
                            None => format!("the stdlib modules are std.{}", modules.join(", std.")),
                        },
                        _ => "modules are `std.<name>`; import a file of your own with `use \"path.plumb\".{name}`"
                            .into(),
                    };
                    self.push(
                        Diagnostic::error("P0103", format!("there is no module `{}`", shown.join(".")), span)
                            .with_label("unknown module")
                            .with_help(help),
                    );
                }
                UseSource::File { path, span } => self.push(
                    Diagnostic::error("P0105", format!("cannot find the file `{path}`"), *span)
                        .with_label("no such file")
                        .with_help("paths are relative to the importing file's directory"),
                ),
            }
            return;
        };
        if target == self.file {
            if let UseSource::File { span, .. } = &use_item.source {
                self.push(
                    Diagnostic::error("P0106", "a file cannot import itself", *span)
                        .with_help("remove this `use`; the file's own names are already in scope"),
                );
            }
            return;
        }
        let defs = own_defs(self.db, target);
        for name in &use_item.names {
            if !defs.contains_key(&name.text) {
                let help = match closest(&name.text, defs.keys().map(String::as_str)) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("`{}` defines: {}", target.path(self.db), short_list(defs.keys())),
                };
                self.push(
                    Diagnostic::error(
                        "P0104",
                        format!("`{}` is not defined in `{}`", name.text, target.path(self.db)),
                        name.span,
                    )
                    .with_label("not found")
                    .with_help(help),
                );
            }
        }
    }

    fn type_of_annotation(&mut self, ty: &TypeExpr, allow_pipeline: bool) -> Type {
        let mut dims = Dims::NONE;
        for dim in &ty.dims {
            match Dim::parse(&dim.text) {
                Some(Dim::Batch) => self.push(
                    Diagnostic::error("P0211", "`batch` is implicit and cannot be written in a type", dim.span)
                        .with_help("every per-example value already has the batch dim; remove it"),
                ),
                Some(d) => dims = dims.with(d),
                None if allow_pipeline => {}
                None => self.push(
                    Diagnostic::error("P0211", format!("there is no dim `{}`", dim.text), dim.span)
                        .with_label("unknown dim")
                        .with_help("the dims are `tok` (tokens, ragged with a mask) and `k` (candidates)"),
                ),
            }
        }
        if !dims.is_consistent() {
            self.push(
                Diagnostic::error("P0221", "a value cannot have both `tok` and `k` dims", ty.span)
                    .with_help("per-token values of several candidates are not supported; reduce one of them"),
            );
        }
        match Scalar::parse(&ty.name.text) {
            Some(scalar) => Type::value(scalar, dims),
            None if allow_pipeline => Type::Opaque(ty.name.text.clone()),
            None => {
                let known = ["f32", "i64", "bool", "Text"];
                let help = match closest(&ty.name.text, known) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "the value types are f32, i64, bool and Text, with dims such as f32[tok]".into(),
                };
                self.push(
                    Diagnostic::error("P0210", format!("unknown type `{}`", ty.name.text), ty.name.span)
                        .with_label("unknown type")
                        .with_help(help),
                );
                Type::Unknown
            }
        }
    }

    fn schema_item(&mut self, schema: &SchemaItem) {
        let mut seen = BTreeSet::new();
        for field in &schema.fields {
            if !seen.insert(field.name.text.clone()) {
                self.push(
                    Diagnostic::error(
                        "P0223",
                        format!("field `{}` is declared twice", field.name.text),
                        field.name.span,
                    )
                    .with_help("give each field its own name"),
                );
            }
            let ty = self.type_of_annotation(&field.ty, false);
            if let Some(default) = &field.default {
                let actual = self.infer(default);
                self.expect_value_type(&ty, &actual, default.span, "P0222", "default");
            }
        }
    }

    fn expect_value_type(&mut self, expected: &Type, actual: &Type, span: Span, code: &'static str, what: &str) {
        let (Type::Value { scalar: want, .. }, Type::Value { scalar: got, .. }) = (expected, actual) else {
            if !expected.is_unknown() && !actual.is_unknown() && expected != actual {
                self.push(Diagnostic::error(
                    code,
                    format!("this {what} is {actual}, but {expected} is expected"),
                    span,
                ));
            }
            return;
        };
        let fits = want == got || (*want == Scalar::Float && *got == Scalar::Int);
        if !fits {
            self.push(
                Diagnostic::error(
                    code,
                    format!("this {what} is {}, but {} is expected", got.name(), want.name()),
                    span,
                )
                .with_label(format!("a {} value", got.name()))
                .with_help(format!("write a {} value here", want.name())),
            );
        }
    }

    fn params(&mut self, params: &[Param], pipeline_types: bool) -> BTreeMap<String, Type> {
        let mut types = BTreeMap::new();
        for param in params {
            if types.contains_key(&param.name.text) {
                self.push(
                    Diagnostic::error(
                        "P0223",
                        format!("parameter `{}` is declared twice", param.name.text),
                        param.name.span,
                    )
                    .with_help("give each parameter its own name"),
                );
            }
            let ty = self.type_of_annotation(&param.ty, pipeline_types);
            let numeric = matches!(ty, Type::Value { scalar, .. } if scalar.is_numeric());
            if let Some(constraint) = &param.constraint
                && !numeric
                && !ty.is_unknown()
            {
                self.push(
                    Diagnostic::error(
                        "P0209",
                        format!("a constraint needs a number, but `{}` is {ty}", param.name.text),
                        constraint.span,
                    )
                    .with_help("only f32 and i64 parameters take constraints such as `> 0` or `in [0, 1)`"),
                );
            }
            if let Some(default) = &param.default {
                let actual = self.infer(default);
                self.expect_value_type(&ty, &actual, default.span, "P0222", "default");
                if let (Some(constraint), Some(value)) = (&param.constraint, is_literal_number(default))
                    && numeric
                    && !constraint.admits(value)
                {
                    self.push(
                        Diagnostic::error(
                            "P0208",
                            format!(
                                "the default {value} of `{}` breaks its own constraint `{}`",
                                param.name.text,
                                constraint.describe()
                            ),
                            default.span,
                        )
                        .with_label("outside the constraint")
                        .with_secondary(constraint.span, "the constraint")
                        .with_help("change the default or the constraint so that the default is allowed"),
                    );
                }
            }
            types.insert(param.name.text.clone(), ty);
        }
        types
    }

    fn schema_columns(&mut self, schema: &Name) -> Option<BTreeMap<String, Type>> {
        let def = self.scope.get(&schema.text).copied();
        let Some(def) = def.filter(|d| d.kind == DefKind::Schema) else {
            self.unknown_schema(schema);
            return None;
        };
        let parse = self.def_item(&def)?;
        let Some(ItemKind::Schema(s)) = parse.item.as_ref().map(|i| &i.kind) else {
            return None;
        };
        let mut columns = BTreeMap::new();
        for field in &s.fields {
            let mut dims = Dims::BATCH;
            for d in &field.ty.dims {
                if let Some(dim) = Dim::parse(&d.text) {
                    dims = dims.with(dim);
                }
            }
            let ty = Scalar::parse(&field.ty.name.text).map(|s| Type::value(s, dims)).unwrap_or(Type::Unknown);
            columns.insert(field.name.text.clone(), ty);
        }
        Some(columns)
    }

    fn unknown_schema(&mut self, schema: &Name) {
        let help = self.unknown_name_help(&schema.text, Some(DefKind::Schema));
        self.push(
            Diagnostic::error("P0109", format!("there is no schema `{}`", schema.text), schema.span)
                .with_label("unknown schema")
                .with_help(help),
        );
    }

    fn loss_item(&mut self, loss: &LossItem) {
        let params = self.params(&loss.params, false);
        let columns = match &loss.schema {
            Some(schema) => {
                let columns = self.schema_columns(schema);
                self.columns_unknown = columns.is_none();
                columns.unwrap_or_default()
            }
            None => BTreeMap::new(),
        };
        self.math = Some(MathEnv {
            schema: loss.schema.as_ref().map(|s| s.text.clone()),
            params,
            columns,
            lets: Vec::new(),
            used: BTreeSet::new(),
        });
        for binding in &loss.body.lets {
            let ty = self.infer(&binding.value);
            if let Some(math) = &mut self.math {
                math.lets.push((binding.name.text.clone(), ty));
            }
        }
        let value = self.infer(&loss.body.value);
        let math = self.math.take();
        match value {
            Type::Value { scalar, dims } if scalar.is_numeric() => {
                for (dim, reduce) in [(Dim::Tok, "tok"), (Dim::K, "k")] {
                    if dims.has(dim) {
                        self.push(
                            Diagnostic::error("P0202", format!("a loss must be one number per example, but this is per {}", if dim == Dim::Tok { "token" } else { "candidate" }), loss.body.value.span)
                                .with_label(format!("f32[{reduce}]"))
                                .with_help(format!("reduce it over `{reduce}`, e.g. `mean(..., over = {reduce})` or `sum(..., over = {reduce})`")),
                        );
                    }
                }
            }
            Type::Unknown => {}
            other => self.push(
                Diagnostic::error(
                    "P0203",
                    format!("a loss must be a number, but this is {other}"),
                    loss.body.value.span,
                )
                .with_label("not a number")
                .with_help("the last expression of a loss body is its value; make it an f32"),
            ),
        }
        if let Some(math) = math {
            for param in &loss.params {
                if !math.used.contains(&param.name.text) {
                    self.push(
                        Diagnostic::warning(
                            "P0402",
                            format!("parameter `{}` is never used", param.name.text),
                            param.name.span,
                        )
                        .with_help("use it in the body or remove it"),
                    );
                }
            }
        }
    }

    fn model_item(&mut self, binding: &Binding) {
        if let ExprKind::Name(other) = &binding.value.kind {
            let ty = self.infer(&binding.value);
            if matches!(ty, Type::Model(_)) {
                self.push(
                    Diagnostic::error(
                        "P0307",
                        format!("`{}` would be `{other}` itself, trained along with it", binding.name.text),
                        binding.value.span,
                    )
                    .with_label("the same model, not a copy")
                    .with_help(format!(
                        "to compare against a fixed copy, write `model {} = frozen({other})`",
                        binding.name.text
                    )),
                );
            }
            return;
        }
        let ty = self.infer(&binding.value);
        if !matches!(ty, Type::Model(_) | Type::Unknown) {
            self.push(
                Diagnostic::error("P0121", format!("`{}` is declared as a model, but its value is {ty}", binding.name.text), binding.value.span)
                    .with_help("build models with causal_lm(path), reward_model(path), frozen(model), snapshot(model) or judge(name); use `let` for other values"),
            );
        }
    }

    fn model_named(&mut self, name: &Name) -> Option<(ModelKind, DefRef)> {
        let local = self.locals.iter().rev().find(|(n, _)| n == &name.text).map(|(_, t)| t.clone());
        let def = self.scope.get(&name.text).copied();
        let ty = match (local, def) {
            (Some(ty), _) => ty,
            (None, Some(def)) if matches!(def.kind, DefKind::Model | DefKind::Let) => {
                crate::binding_type(self.db, def.file, def.item)
            }
            (None, Some(def)) => Type::Opaque(def.kind.describe().into()),
            (None, None) if self.unresolved.contains(&name.text) => return None,
            (None, None) => {
                let help = self.unknown_name_help(&name.text, Some(DefKind::Model));
                self.push(
                    Diagnostic::error("P0101", format!("cannot find `{}`", name.text), name.span)
                        .with_label("not defined")
                        .with_help(help),
                );
                return None;
            }
        };
        match (ty, def) {
            (Type::Model(kind), Some(def)) => Some((kind, def)),
            (Type::Unknown, _) | (Type::Model(_), None) => None,
            (other, _) => {
                self.push(
                    Diagnostic::error("P0120", format!("`{}` is not a model; it is {other}", name.text), name.span)
                        .with_help("declare models with `model NAME = causal_lm(path)`"),
                );
                None
            }
        }
    }

    fn train_item(&mut self, train: &TrainItem) {
        let model = self.model_named(&train.model);
        if let Some((kind, _)) = &model {
            match kind {
                ModelKind::Frozen { of, .. } => {
                    let help = match of {
                        Some(of) => format!("train `{of}` instead; `{}` is its frozen copy", train.model.text),
                        None => "train a trainable model (causal_lm or reward_model)".into(),
                    };
                    self.push(
                        Diagnostic::error(
                            "P0305",
                            format!("cannot train `{}`: it is frozen", train.model.text),
                            train.model.span,
                        )
                        .with_label(kind.describe())
                        .with_help(help),
                    );
                }
                ModelKind::Judge => self.push(
                    Diagnostic::error(
                        "P0305",
                        format!("cannot train `{}`: it is a judge", train.model.text),
                        train.model.span,
                    )
                    .with_help("judges are fixed programs; train a causal_lm or a reward_model"),
                ),
                _ => {}
            }
        }
        let data = self.infer(&train.data);
        let data_schema = match &data {
            Type::Data(schema) => schema.clone(),
            Type::Unknown => None,
            other => {
                self.push(
                    Diagnostic::error("P0315", format!("`train` needs data, found {other}"), train.data.span)
                        .with_help(
                            "train on a data set, e.g. `jsonl(\"pairs.jsonl\") as Pairwise` or a split's `.train`",
                        ),
                );
                None
            }
        };
        if matches!(data, Type::Data(None)) {
            self.push(
                Diagnostic::error("P0316", "the schema of this data is not declared", train.data.span)
                    .with_label("schema unknown")
                    .with_help("declare it where the data is loaded: `jsonl(\"...\") as Pairwise`, so rows are checked on load"),
            );
        }
        let values = self.options(&train.options, TRAIN_OPTIONS, "train");
        let loss = match values.get("loss") {
            Some((Type::Loss(l), _)) => Some(l.clone()),
            Some(_) => None,
            None => {
                self.push(
                    Diagnostic::error("P0308", "this `train` stage has no `loss`", train.options.span)
                        .with_help("add the objective, e.g. `loss = dpo(beta = 0.1)`"),
                );
                None
            }
        };
        self.combinations(&values);
        let Some(loss) = loss else { return };
        let loss_span = values.get("loss").map(|(_, s)| *s).unwrap_or(train.options.span);
        if let (Some(want), Some(have)) = (&loss.schema, &data_schema)
            && want != have
        {
            self.push(
                Diagnostic::error(
                    "P0301",
                    format!("loss `{}` needs {want} rows, but this data is {have}", loss.name),
                    train.data.span,
                )
                .with_label(format!("{have} data"))
                .with_secondary(loss_span, format!("needs {want}"))
                .with_help(format!("train on {want} data, or choose a loss defined on {have}")),
            );
        }
        let trainable = !matches!(&model, Some((ModelKind::Frozen { .. } | ModelKind::Judge, _)));
        if !trainable {
            return;
        }
        if let Some((kind, _)) = &model {
            let scores = matches!(kind, ModelKind::RewardModel);
            if loss.uses_reward && !scores && !matches!(kind, ModelKind::Frozen { .. } | ModelKind::Judge) {
                self.push(
                    Diagnostic::error(
                        "P0313",
                        format!(
                            "loss `{}` trains a reward model, but `{}` is {}",
                            loss.name,
                            train.model.text,
                            kind.describe()
                        ),
                        loss_span,
                    )
                    .with_secondary(train.model.span, "not a reward model")
                    .with_help("train a `reward_model(...)` with this loss, or pick a policy loss such as dpo()"),
                );
            }
            if loss.uses_logp && scores {
                self.push(
                    Diagnostic::error(
                        "P0313",
                        format!(
                            "loss `{}` needs log-probabilities, but `{}` is a reward model",
                            loss.name, train.model.text
                        ),
                        loss_span,
                    )
                    .with_secondary(train.model.span, "a reward model")
                    .with_help("train a reward model with a reward loss such as reward_bt()"),
                );
            }
        }
        match values.get("reference") {
            Some((Type::Model(kind), span)) => {
                let same = matches!(&self.option_expr(train, "reference").map(|e| &e.kind), Some(ExprKind::Name(n)) if *n == train.model.text);
                if same {
                    self.push(
                        Diagnostic::error(
                            "P0307",
                            format!("the reference is `{}` itself, the model being trained", train.model.text),
                            *span,
                        )
                        .with_label("the policy, not a copy")
                        .with_help(format!(
                            "use a frozen copy: `reference = frozen({})`, or a `snapshot({})`",
                            train.model.text, train.model.text
                        )),
                    );
                } else if !loss.uses_reference {
                    self.push(
                        Diagnostic::warning(
                            "P0403",
                            format!("loss `{}` does not use a reference model", loss.name),
                            *span,
                        )
                        .with_help("remove the `reference` option"),
                    );
                } else if kind.scores() {
                    self.push(
                        Diagnostic::error("P0313", "the reference must be a language model, not a scorer", *span)
                            .with_help("use a frozen copy of the policy: `reference = frozen(policy)`"),
                    );
                }
            }
            Some(_) => {}
            None if loss.uses_reference && model.is_some() => self.default_reference(train, &loss, loss_span),
            None => {}
        }
    }

    fn option_expr<'t>(&self, train: &'t TrainItem, name: &str) -> Option<&'t Expr> {
        train.options.entries.iter().find_map(|e| match e {
            OptionEntry::Set { name: n, value, .. } if n.text == name => Some(value),
            _ => None,
        })
    }

    /// Binds `reference` to the recipe's one frozen copy of the trained model.
    fn default_reference(&mut self, train: &TrainItem, loss: &LossUse, loss_span: Span) {
        let mut copies = Vec::new();
        for (name, def) in self.scope.iter() {
            if def.kind != DefKind::Model || def.file != self.file {
                continue;
            }
            if let Type::Model(ModelKind::Frozen { of: Some(of), .. }) =
                crate::binding_type(self.db, def.file, def.item)
                && of == train.model.text
            {
                copies.push(name.clone());
            }
        }
        for (name, ty) in &self.locals {
            if let Type::Model(ModelKind::Frozen { of: Some(of), .. }) = ty
                && *of == train.model.text
            {
                copies.push(name.clone());
            }
        }
        match copies.len() {
            1 => {}
            0 => self.push(
                Diagnostic::error(
                    "P0306",
                    format!("loss `{}` needs a reference model, but this stage has none", loss.name),
                    loss_span,
                )
                .with_label("uses `reference`")
                .with_help(format!(
                    "declare `model reference = frozen({})`, or set `reference = ...` in this stage",
                    train.model.text
                )),
            ),
            _ => self.push(
                Diagnostic::error(
                    "P0306",
                    format!(
                        "loss `{}` needs a reference, and several frozen copies of `{}` exist: {}",
                        loss.name,
                        train.model.text,
                        copies.join(", ")
                    ),
                    loss_span,
                )
                .with_help("say which one: `reference = NAME`"),
            ),
        }
    }

    fn combinations(&mut self, values: &BTreeMap<String, (Type, Span)>) {
        let literal = |name: &str| {
            values.get(name).and_then(|(t, s)| match t {
                Type::Opaque(v) => v.strip_prefix("literal:").and_then(|v| v.parse::<f64>().ok()).map(|v| (v, *s)),
                _ => None,
            })
        };
        if let (Some((_, epochs)), Some((_, steps))) = (values.get("epochs"), values.get("max_steps")) {
            self.push(
                Diagnostic::error("P0304", "`epochs` and `max_steps` cannot be combined", *steps)
                    .with_secondary(*epochs, "epochs set here")
                    .with_help("say how long to train one way: either `epochs` or `max_steps`"),
            );
        }
        if let (Some((batch, _)), Some((micro, span))) = (literal("batch"), literal("micro_batch"))
            && micro > 0.0
            && batch % micro != 0.0
        {
            self.push(
                Diagnostic::error("P0310", format!("micro_batch {micro} does not divide batch {batch}"), span)
                    .with_label("does not divide the batch")
                    .with_help("choose a micro_batch that divides batch, e.g. a power of two"),
            );
        }
        if let (Some((total, _)), Some((prompt, span))) = (literal("max_len"), literal("max_prompt_len"))
            && prompt >= total
        {
            self.push(
                Diagnostic::error(
                    "P0311",
                    format!("max_prompt_len {prompt} leaves no room for completions within max_len {total}"),
                    span,
                )
                .with_label("truncation keeps no completion tokens")
                .with_help("completions would be empty and the loss NaN; make max_len larger than max_prompt_len"),
            );
        }
    }

    /// Checks an options block; returns each option's type (literals encoded as
    /// `Opaque("literal:N")`) and span.
    fn options(&mut self, options: &Options, table: OptionTable, stage: &str) -> BTreeMap<String, (Type, Span)> {
        let mut values: BTreeMap<String, (Type, Span)> = BTreeMap::new();
        for entry in &options.entries {
            match entry {
                OptionEntry::Constraint { expr, .. } => self.stage_constraint(expr, stage),
                OptionEntry::Set { name, value, span } => {
                    if values.contains_key(&name.text) {
                        self.push(
                            Diagnostic::error("P0303", format!("option `{}` is set twice", name.text), name.span)
                                .with_help("keep one of them"),
                        );
                        continue;
                    }
                    let Some(&(_, kind, _)) = table.iter().find(|(n, _, _)| *n == name.text) else {
                        let foreign = FOREIGN_OPTIONS.iter().find(|(n, _)| *n == name.text).map(|(_, h)| h.to_string());
                        let help =
                            foreign.unwrap_or_else(|| match closest(&name.text, table.iter().map(|(n, _, _)| *n)) {
                                Some(near) => format!("did you mean `{near}`?"),
                                None => format!(
                                    "`{stage}` takes: {}",
                                    table.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
                                ),
                            });
                        self.push(
                            Diagnostic::error("P0302", format!("`{stage}` has no option `{}`", name.text), name.span)
                                .with_label("unknown option")
                                .with_help(help),
                        );
                        self.infer(value);
                        continue;
                    };
                    let ty = self.infer(value);
                    let ok = match (kind, &ty) {
                        (_, Type::Unknown) => true,
                        (OptionKind::Loss, Type::Loss(_)) => true,
                        (OptionKind::Loss, Type::Function(f)) => {
                            self.push(
                                Diagnostic::error("P0309", format!("`{f}` must be called to configure it"), value.span)
                                    .with_help(format!("write `{f}()`, with any parameters inside the parentheses")),
                            );
                            true
                        }
                        (OptionKind::Opaque(want), Type::Opaque(got)) => want == got,
                        (OptionKind::Opaque("Selector"), Type::Options("Selector")) => true,
                        (OptionKind::Opaque("Text"), Type::Value { scalar: Scalar::Text, .. }) => true,
                        (OptionKind::OneOf(choices), Type::Value { scalar: Scalar::Text, .. }) => match &value.kind {
                            ExprKind::Str(text) => choices.contains(&text.as_str()),
                            _ => false,
                        },
                        (OptionKind::Model, Type::Model(_)) => true,
                        (OptionKind::IntAtLeast(min), Type::Value { scalar: Scalar::Int, .. }) => {
                            is_literal_number(value).is_none_or(|v| v >= min as f64)
                        }
                        (OptionKind::PositiveFloat, Type::Value { scalar, .. }) if scalar.is_numeric() => {
                            is_literal_number(value).is_none_or(|v| v > 0.0)
                        }
                        (OptionKind::NonNegativeFloat, Type::Value { scalar, .. }) if scalar.is_numeric() => {
                            is_literal_number(value).is_none_or(|v| v >= 0.0)
                        }
                        (OptionKind::Probability, Type::Value { scalar, .. }) if scalar.is_numeric() => {
                            is_literal_number(value).is_none_or(|v| v > 0.0 && v <= 1.0)
                        }
                        _ => false,
                    };
                    let type_fits = matches!(
                        (kind, &ty),
                        (OptionKind::IntAtLeast(_), Type::Value { scalar: Scalar::Int, .. })
                            | (
                                OptionKind::PositiveFloat | OptionKind::NonNegativeFloat | OptionKind::Probability,
                                Type::Value { scalar: Scalar::Int | Scalar::Float, .. }
                            )
                    );
                    let found = match (type_fits, is_literal_number(value), &value.kind) {
                        (true, Some(v), _) => format!("but is {v}"),
                        (_, _, ExprKind::Str(text)) if matches!(kind, OptionKind::OneOf(_)) => {
                            format!("but is \"{text}\"")
                        }
                        _ => format!("found {ty}"),
                    };
                    if !ok {
                        self.push(
                            Diagnostic::error(
                                "P0309",
                                format!("option `{}` must be {}, {found}", name.text, kind.describe()),
                                value.span,
                            )
                            .with_label(match (is_literal_number(value), &value.kind) {
                                (Some(v), _) => format!("{v}"),
                                (None, ExprKind::Str(text)) => format!("\"{text}\""),
                                (None, _) => ty.to_string(),
                            })
                            .with_help(format!(
                                "`{}`: {}",
                                name.text,
                                table.iter().find(|(n, _, _)| *n == name.text).map(|(_, _, d)| *d).unwrap_or("")
                            )),
                        );
                    }
                    let recorded = match is_literal_number(value) {
                        Some(v) if ok => Type::Opaque(format!("literal:{v}")),
                        _ => ty,
                    };
                    values.insert(name.text.clone(), (recorded, *span));
                }
            }
        }
        values
    }

    fn stage_constraint(&mut self, expr: &Expr, stage: &str) {
        let ok = match &expr.kind {
            ExprKind::Binary(BinOp::Cmp(CmpOp::Le | CmpOp::Lt | CmpOp::Ge | CmpOp::Gt), lhs, rhs) => {
                let left = self.infer(lhs);
                let right_ok = is_literal_number(rhs).is_some();
                (left.is_unknown() || left == Type::Opaque("Metric".into())) && right_ok
            }
            _ => {
                self.infer(expr);
                false
            }
        };
        if stage != "train" {
            self.push(
                Diagnostic::error(
                    "P0326",
                    format!("constraints belong in `train` stages, not in a {stage}"),
                    expr.span,
                )
                .with_help("move it into the `train` stage it limits, e.g. `constraint kl_to(reference) <= 5.0`"),
            );
        } else if !ok {
            self.push(
                Diagnostic::error("P0326", "a constraint compares a metric with a number", expr.span)
                    .with_label("not a metric bound")
                    .with_help("write e.g. `constraint kl_to(reference) <= 5.0` inside a `train` stage"),
            );
        }
    }

    fn fit_item(&mut self, fit: &FitItem) {
        let ty = self.infer(&fit.value);
        if !matches!(&ty, Type::Unknown) && ty != Type::Opaque("Ratings".into()) {
            self.push(
                Diagnostic::error(
                    "P0317",
                    format!("`fit` needs a preference model over items, found {ty}"),
                    fit.value.span,
                )
                .with_help("fit one of bradley_terry, thurstone, davidson or plackett_luce from std.ratings"),
            );
        }
        if let Some(options) = &fit.options {
            self.options(options, FIT_OPTIONS, "fit");
        }
    }

    fn eval_item(&mut self, eval: &EvalItem) {
        self.model_named(&eval.model);
        let data = self.infer(&eval.data);
        if !matches!(data, Type::Data(_) | Type::Unknown) {
            self.push(
                Diagnostic::error("P0315", format!("`eval` needs data, found {data}"), eval.data.span)
                    .with_help("evaluate on a data set, e.g. a split's `.holdout`"),
            );
        }
        if eval.metrics.is_empty() {
            self.push(
                Diagnostic::error("P0318", "this `eval` computes no metric", eval.model.span)
                    .with_help("list metrics in the braces, e.g. `{ reward_accuracy() }`"),
            );
        }
        for metric in &eval.metrics {
            let ty = self.infer(metric);
            if !matches!(ty, Type::Unknown) && ty != Type::Opaque("Metric".into()) {
                self.push(Diagnostic::error("P0318", format!("this is {ty}, not a metric"), metric.span).with_help(
                    "metrics come from std.metrics, e.g. reward_accuracy() or win_rate(vs = reference, judge = j)",
                ));
            }
        }
    }

    // ------------------------------------------------------------ names

    fn unknown_name_help(&self, name: &str, want: Option<DefKind>) -> String {
        for (module, _) in plumb_db::STDLIB {
            let Some(file) = self.db.workspace().files(self.db).get(&plumb_db::std_path(module)).copied() else {
                continue;
            };
            if let Some(def) = own_defs(self.db, file).get(name)
                && want.is_none_or(|w| w == def.kind || w == DefKind::Model)
            {
                return format!("import it: `use std.{module}.{name}`");
            }
        }
        let mut candidates: Vec<&str> = self.scope.keys().map(String::as_str).collect();
        candidates.extend(self.locals.iter().map(|(n, _)| n.as_str()));
        if let Some(math) = &self.math {
            candidates.extend(math.params.keys().map(String::as_str));
            candidates.extend(math.columns.keys().map(String::as_str));
            candidates.extend(math.lets.iter().map(|(n, _)| n.as_str()));
            candidates.extend(ROLES);
        }
        match closest(name, candidates) {
            Some(near) => format!("did you mean `{near}`?"),
            None => "define it with `let`, `model` or `loss`, or import it with `use`".into(),
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Type {
        if let Some(math) = &mut self.math {
            math.used.insert(name.to_string());
            if let Some((_, ty)) = math.lets.iter().rev().find(|(n, _)| n == name) {
                return ty.clone();
            }
            if let Some(ty) = math.params.get(name).or(math.columns.get(name)) {
                return ty.clone();
            }
            if ROLES.contains(&name) {
                self.push(
                    Diagnostic::error("P0229", format!("`{name}` is a model role; call it to get a value"), span)
                        .with_help(format!("e.g. `{name}.logp(chosen | prompt)`")),
                );
                return Type::Unknown;
            }
            if let Some(dim) = Dim::parse(name) {
                return Type::Dim(dim);
            }
            if let Some(def) = self.scope.get(name).copied() {
                return match def.kind {
                    DefKind::Extern | DefKind::Loss => Type::Function(name.into()),
                    _ => {
                        self.push(
                            Diagnostic::error("P0115", format!("`{name}` is a pipeline {}; a loss body sees only its parameters, columns and model roles", def.kind.describe()), span)
                                .with_help("pass the value in as a loss parameter"),
                        );
                        Type::Unknown
                    }
                };
            }
            if self.columns_unknown || self.unresolved.contains(name) {
                return Type::Unknown;
            }
            let schema = math.schema.clone();
            let help = match self.column_elsewhere(name) {
                Some(other) => match schema {
                    Some(s) => format!("`{name}` is a column of {other}, but this loss is on {s}"),
                    None => {
                        format!("`{name}` is a column of {other}; declare the loss `on {other}` to use its columns")
                    }
                },
                None => self.unknown_name_help(name, None),
            };
            self.push(
                Diagnostic::error("P0101", format!("cannot find `{name}` in this loss"), span)
                    .with_label("not defined")
                    .with_help(help),
            );
            return Type::Unknown;
        }
        if let Some((_, ty)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return ty.clone();
        }
        if let Some(dim) = Dim::parse(name) {
            return Type::Dim(dim);
        }
        let Some(def) = self.scope.get(name).copied() else {
            if self.unresolved.contains(name) {
                return Type::Unknown;
            }
            let help = self.unknown_name_help(name, None);
            self.push(
                Diagnostic::error("P0101", format!("cannot find `{name}`"), span)
                    .with_label("not defined")
                    .with_help(help),
            );
            return Type::Unknown;
        };
        match def.kind {
            DefKind::Let | DefKind::Model | DefKind::Fit => {
                let ty = crate::binding_type(self.db, def.file, def.item);
                if matches!(&ty, Type::Opaque(c) if c == "cycle") { Type::Unknown } else { ty }
            }
            DefKind::Schema => Type::Schema(name.into()),
            DefKind::Loss | DefKind::Extern => Type::Function(name.into()),
            DefKind::Sampler => Type::Options("Sampler"),
            DefKind::Selector => Type::Options("Selector"),
        }
    }

    fn column_elsewhere(&self, column: &str) -> Option<String> {
        let file = self.db.workspace().files(self.db).get(&plumb_db::std_path("data")).copied()?;
        for (name, def) in own_defs(self.db, file).iter() {
            if def.kind != DefKind::Schema {
                continue;
            }
            let parse = parse_item_text(self.db, def.item);
            if let Some(ItemKind::Schema(s)) = parse.item.as_ref().map(|i| &i.kind)
                && s.fields.iter().any(|f| f.name.text == column)
            {
                return Some(name.clone());
            }
        }
        None
    }

    // ------------------------------------------------------------ expressions

    fn infer(&mut self, expr: &Expr) -> Type {
        match &expr.kind {
            ExprKind::Error => Type::Unknown,
            ExprKind::Number { integer, .. } => {
                let dims = Dims::NONE;
                if *integer { Type::value(Scalar::Int, dims) } else { Type::value(Scalar::Float, dims) }
            }
            ExprKind::Str(_) => Type::value(Scalar::Text, Dims::NONE),
            ExprKind::Bool(_) => Type::value(Scalar::Bool, Dims::NONE),
            ExprKind::Name(name) => self.name(name, expr.span),
            ExprKind::Paren(inner) => self.infer(inner),
            ExprKind::List(items) => {
                let mut element = Type::Unknown;
                for item in items {
                    let ty = self.infer(item);
                    if element.is_unknown() {
                        element = ty;
                    }
                }
                Type::List(Box::new(element))
            }
            ExprKind::Unary(op, inner) => {
                let ty = self.infer(inner);
                match (op, &ty) {
                    (_, Type::Unknown) => Type::Unknown,
                    (UnOp::Neg, Type::Value { scalar, .. }) if scalar.is_numeric() => ty,
                    (UnOp::Not, Type::Value { scalar: Scalar::Bool, .. }) => ty,
                    _ => {
                        let want = if *op == UnOp::Neg { "a number" } else { "a bool" };
                        self.push(
                            Diagnostic::error(
                                "P0201",
                                format!("`{}` needs {want}, found {ty}", if *op == UnOp::Neg { "-" } else { "not" }),
                                inner.span,
                            )
                            .with_help("check the operand's type"),
                        );
                        Type::Unknown
                    }
                }
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let left = self.infer(lhs);
                let right = self.infer(rhs);
                self.binary(*op, left, right, lhs, rhs)
            }
            ExprKind::If { cond, then, otherwise } => {
                let cond_ty = self.infer(cond);
                let cond_dims = match &cond_ty {
                    Type::Value { scalar: Scalar::Bool, dims } => *dims,
                    Type::Unknown => Dims::NONE,
                    other => {
                        self.push(
                            Diagnostic::error(
                                "P0216",
                                format!("an `if` condition must be a bool, found {other}"),
                                cond.span,
                            )
                            .with_help("compare it, e.g. `x > 0`"),
                        );
                        Dims::NONE
                    }
                };
                let a = self.block(then);
                let b = self.block(otherwise);
                match (&a, &b) {
                    (Type::Unknown, _) => b,
                    (_, Type::Unknown) => a,
                    (Type::Value { scalar: sa, dims: da }, Type::Value { scalar: sb, dims: db }) => {
                        let same_kind = sa == sb || (sa.is_numeric() && sb.is_numeric());
                        if !same_kind {
                            self.push(
                                Diagnostic::error(
                                    "P0217",
                                    format!("the branches of this `if` differ: {a} and {b}"),
                                    expr.span,
                                )
                                .with_help("both branches must give the same kind of value"),
                            );
                            return Type::Unknown;
                        }
                        let scalar = if sa == sb { *sa } else { Scalar::Float };
                        Type::value(scalar, da.union(*db).union(cond_dims))
                    }
                    _ if a == b => a,
                    _ => {
                        self.push(
                            Diagnostic::error(
                                "P0217",
                                format!("the branches of this `if` differ: {a} and {b}"),
                                expr.span,
                            )
                            .with_help("both branches must give the same kind of value"),
                        );
                        Type::Unknown
                    }
                }
            }
            ExprKind::Field(receiver, field) => self.field(receiver, field),
            ExprKind::Index(receiver, index) => {
                self.infer(receiver);
                self.infer(index);
                self.push(
                    Diagnostic::error("P0227", "values cannot be indexed", expr.span)
                        .with_help("reduce over a dim instead, e.g. `amax(x, over = k)`"),
                );
                Type::Unknown
            }
            ExprKind::Cast(inner, schema) => {
                let ty = self.infer(inner);
                let known = self.scope.get(&schema.text).is_some_and(|d| d.kind == DefKind::Schema);
                if !known {
                    self.unknown_schema(schema);
                }
                match ty {
                    Type::Data(_) if known => Type::Data(Some(schema.text.clone())),
                    Type::Data(_) => Type::Unknown,
                    Type::Unknown => Type::Unknown,
                    other => {
                        self.push(
                            Diagnostic::error(
                                "P0224",
                                format!("only data can be read `as` a schema, not {other}"),
                                inner.span,
                            )
                            .with_help(
                                "load data with jsonl(path), csv(path) or parquet(path), then write `as Schema`",
                            ),
                        );
                        Type::Unknown
                    }
                }
            }
            ExprKind::Call { callee, args } => self.call(expr, callee, args),
        }
    }

    fn block(&mut self, block: &Block) -> Type {
        let saved_math = self.math.as_ref().map(|m| m.lets.len());
        let saved_locals = self.locals.len();
        for binding in &block.lets {
            let ty = self.infer(&binding.value);
            match &mut self.math {
                Some(math) => math.lets.push((binding.name.text.clone(), ty)),
                None => self.locals.push((binding.name.text.clone(), ty)),
            }
        }
        let ty = self.infer(&block.value);
        if let (Some(math), Some(len)) = (&mut self.math, saved_math) {
            math.lets.truncate(len);
        }
        self.locals.truncate(saved_locals);
        ty
    }

    fn binary(&mut self, op: BinOp, left: Type, right: Type, lhs: &Expr, rhs: &Expr) -> Type {
        if left.is_unknown() || right.is_unknown() {
            return match op {
                BinOp::Cmp(_) | BinOp::And | BinOp::Or => Type::value(Scalar::Bool, Dims::NONE),
                _ => Type::Unknown,
            };
        }
        let (Type::Value { scalar: a, dims: da }, Type::Value { scalar: b, dims: db }) = (&left, &right) else {
            let (bad, other) = if matches!(left, Type::Value { .. }) { (rhs, &right) } else { (lhs, &left) };
            self.push(
                Diagnostic::error("P0201", format!("`{}` cannot be applied to {other}", op.as_str()), bad.span)
                    .with_label(other.to_string())
                    .with_help("operators work on numbers, bools and texts"),
            );
            return Type::Unknown;
        };
        let dims = da.union(*db);
        if !dims.is_consistent() {
            self.push(
                Diagnostic::error(
                    "P0221",
                    format!("`{}` mixes a per-token value with a per-candidate value", op.as_str()),
                    lhs.span.to(rhs.span),
                )
                .with_label(format!("{left} and {right}"))
                .with_help("reduce one side first, e.g. `mean(x, over = tok)`"),
            );
            return Type::Unknown;
        }
        match op {
            BinOp::And | BinOp::Or => {
                if *a != Scalar::Bool || *b != Scalar::Bool {
                    let bad = if *a != Scalar::Bool { lhs } else { rhs };
                    self.push(
                        Diagnostic::error(
                            "P0201",
                            format!(
                                "`{}` needs bools, found {}",
                                op.as_str(),
                                if *a != Scalar::Bool { &left } else { &right }
                            ),
                            bad.span,
                        )
                        .with_help("compare numbers first, e.g. `x > 0 and y > 0`"),
                    );
                    return Type::Unknown;
                }
                Type::value(Scalar::Bool, dims)
            }
            BinOp::Cmp(_) if matches!(lhs.kind, ExprKind::Binary(BinOp::Cmp(_), _, _)) => {
                // A chained comparison, already reported while parsing.
                Type::value(Scalar::Bool, dims)
            }
            BinOp::Cmp(cmp) => {
                let comparable = (a.is_numeric() && b.is_numeric()) || (a == b && matches!(cmp, CmpOp::Eq | CmpOp::Ne));
                if !comparable {
                    self.push(
                        Diagnostic::error(
                            "P0201",
                            format!("cannot compare {left} with {right} using `{}`", cmp.as_str()),
                            lhs.span.to(rhs.span),
                        )
                        .with_help("order comparisons need numbers; `==` and `!=` need two values of one type"),
                    );
                    return Type::Unknown;
                }
                Type::value(Scalar::Bool, dims)
            }
            _ => {
                if !a.is_numeric() || !b.is_numeric() {
                    let (bad, ty) = if !a.is_numeric() { (lhs, &left) } else { (rhs, &right) };
                    self.push(
                        Diagnostic::error("P0201", format!("`{}` needs numbers, but this is {ty}", op.as_str()), bad.span)
                            .with_label(ty.to_string())
                            .with_help(if matches!(ty, Type::Value { scalar: Scalar::Text, .. }) {
                                "a text has no numeric value; use `len(text)` for its token count, or a model call such as `policy.logp(text | prompt)`"
                            } else {
                                "turn the bool into a number with `if b { 1 } else { 0 }`"
                            }),
                    );
                    return Type::Unknown;
                }
                let scalar = if *a == Scalar::Int && *b == Scalar::Int && op != BinOp::Div {
                    Scalar::Int
                } else {
                    Scalar::Float
                };
                Type::value(scalar, dims)
            }
        }
    }

    fn field(&mut self, receiver: &Expr, field: &Name) -> Type {
        if self.math.is_some() && matches!(&receiver.kind, ExprKind::Name(n) if ROLES.contains(&n.as_str())) {
            self.push(
                Diagnostic::error("P0214", format!("`{}` must be called", field.text), field.span)
                    .with_help(format!("write `{}(completion | prompt)`", field.text)),
            );
            return Type::Unknown;
        }
        let ty = self.infer(receiver);
        match &ty {
            Type::Unknown => Type::Unknown,
            Type::Split(schema) if field.text == "train" || field.text == "holdout" => Type::Data(schema.clone()),
            Type::Split(_) => {
                self.push(
                    Diagnostic::error("P0110", format!("a split has no part `{}`", field.text), field.span).with_help(
                        match closest(&field.text, ["train", "holdout"]) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => "a split has `.train` and `.holdout`".into(),
                        },
                    ),
                );
                Type::Unknown
            }
            Type::Data(Some(schema)) => {
                let schema_name = Name { text: schema.clone(), span: field.span };
                let columns = self.schema_columns(&schema_name).unwrap_or_default();
                match columns.get(&field.text) {
                    Some(Type::Value { scalar, .. }) => Type::Column(*scalar),
                    _ => {
                        let help = match closest(&field.text, columns.keys().map(String::as_str)) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => format!("{schema} has: {}", short_list(columns.keys())),
                        };
                        self.push(
                            Diagnostic::error("P0110", format!("{schema} has no column `{}`", field.text), field.span)
                                .with_label("no such column")
                                .with_help(help),
                        );
                        Type::Unknown
                    }
                }
            }
            Type::Data(None) => {
                self.push(
                    Diagnostic::error(
                        "P0316",
                        "the columns of this data are unknown: its schema is not declared",
                        receiver.span,
                    )
                    .with_help("declare it where the data is loaded: `jsonl(\"...\") as Pairwise`"),
                );
                Type::Unknown
            }
            other => {
                self.push(
                    Diagnostic::error("P0110", format!("{other} has no field `{}`", field.text), field.span)
                        .with_help("fields exist on splits (`.train`, `.holdout`) and on data (its columns)"),
                );
                Type::Unknown
            }
        }
    }

    fn call(&mut self, expr: &Expr, callee: &Expr, args: &[Arg]) -> Type {
        if let ExprKind::Field(receiver, method) = &callee.kind
            && let ExprKind::Name(role) = &receiver.kind
            && ROLES.contains(&role.as_str())
            && self.math.is_some()
        {
            return self.model_call(role, method, args, expr.span);
        }
        let ExprKind::Name(name) = &callee.kind else {
            let ty = self.infer(callee);
            if !ty.is_unknown() {
                self.push(
                    Diagnostic::error("P0220", format!("{ty} cannot be called"), callee.span)
                        .with_help("only losses and stdlib functions can be called"),
                );
            }
            self.args_untyped(args);
            return Type::Unknown;
        };
        let in_math = self.math.is_some();
        let local = self.math.as_ref().is_some_and(|m| {
            m.lets.iter().any(|(n, _)| n == name) || m.params.contains_key(name) || m.columns.contains_key(name)
        }) || self.locals.iter().any(|(n, _)| n == name);
        let def = if local { None } else { self.scope.get(name).copied() };
        let Some(def) = def.filter(|d| matches!(d.kind, DefKind::Loss | DefKind::Extern)) else {
            let ty = self.infer(callee);
            if !ty.is_unknown() {
                self.push(
                    Diagnostic::error("P0220", format!("`{name}` is {ty}, not a function"), callee.span)
                        .with_help("only losses and stdlib functions can be called"),
                );
            }
            self.args_untyped(args);
            return Type::Unknown;
        };
        let Some(parse) = self.def_item(&def) else {
            return Type::Unknown;
        };
        let is_math_fn = def.file.path(self.db) == &plumb_db::std_path("math");
        match parse.item.as_ref().map(|i| &i.kind) {
            Some(ItemKind::Loss(loss)) => {
                if in_math {
                    self.push(
                        Diagnostic::error(
                            "P0228",
                            format!("`{name}` is a loss and cannot be called inside another loss"),
                            callee.span,
                        )
                        .with_help("write the math out, or give the stage this loss with `loss = ...`"),
                    );
                    self.args_untyped(args);
                    return Type::Unknown;
                }
                self.bind_args(name, &loss.params, args, expr.span);
                crate::loss_use(self.db, def.file, def.item).map(Type::Loss).unwrap_or(Type::Unknown)
            }
            Some(ItemKind::Extern(_)) if !def.file.is_std(self.db) => Type::Unknown,
            Some(ItemKind::Extern(ext)) => {
                if in_math && !is_math_fn {
                    self.push(
                        Diagnostic::error(
                            "P0228",
                            format!("`{name}` is a pipeline function and cannot be used inside a loss"),
                            callee.span,
                        )
                        .with_help(
                            "inside a loss, use math functions, the loss's parameters and columns, and model calls",
                        ),
                    );
                    return Type::Unknown;
                }
                let bound = self.bind_args(name, &ext.params, args, expr.span);
                self.extern_result(name, ext, is_math_fn, &bound, expr.span)
            }
            _ => Type::Unknown,
        }
    }

    fn args_untyped(&mut self, args: &[Arg]) {
        for arg in args {
            self.infer(&arg.value);
            if let Some(given) = &arg.given {
                self.infer(given);
            }
        }
    }

    /// Matches arguments to parameters; returns each parameter's argument type
    /// (None when defaulted) and the argument expression.
    fn bind_args<'e>(
        &mut self,
        callee: &str,
        params: &[Param],
        args: &'e [Arg],
        call_span: Span,
    ) -> Vec<Option<(Type, &'e Expr)>> {
        let mut bound: Vec<Option<(Type, &Expr)>> = vec![None; params.len()];
        let mut seen_named = false;
        let mut positional = 0;
        for arg in args {
            if let Some(given) = &arg.given {
                self.push(
                    Diagnostic::error("P0215", "`|` (given) is only for model calls", given.span)
                        .with_help("write `policy.logp(completion | prompt)`; other calls take plain arguments"),
                );
            }
            let index = match &arg.name {
                Some(name) => {
                    seen_named = true;
                    match params.iter().position(|p| p.name.text == name.text) {
                        Some(i) => i,
                        None => {
                            let help = match closest(&name.text, params.iter().map(|p| p.name.text.as_str())) {
                                Some(near) => format!("did you mean `{near}`?"),
                                None if params.is_empty() => {
                                    format!("`{callee}` takes no parameters")
                                }
                                None => format!(
                                    "`{callee}` takes: {}",
                                    params.iter().map(|p| p.name.text.as_str()).collect::<Vec<_>>().join(", ")
                                ),
                            };
                            self.push(
                                Diagnostic::error(
                                    "P0205",
                                    format!("`{callee}` has no parameter `{}`", name.text),
                                    name.span,
                                )
                                .with_label("unknown parameter")
                                .with_help(help),
                            );
                            self.infer(&arg.value);
                            continue;
                        }
                    }
                }
                None => {
                    if seen_named {
                        self.push(
                            Diagnostic::error("P0218", "a positional argument cannot follow a named one", arg.span)
                                .with_help("put positional arguments first, or name this one"),
                        );
                    }
                    positional += 1;
                    if positional > params.len() {
                        self.push(
                            Diagnostic::error(
                                "P0204",
                                format!(
                                    "`{callee}` takes {} argument{}, but more were given",
                                    params.len(),
                                    if params.len() == 1 { "" } else { "s" }
                                ),
                                arg.span,
                            )
                            .with_label("extra argument")
                            .with_help("remove it, or check the function's parameters"),
                        );
                        self.infer(&arg.value);
                        continue;
                    }
                    positional - 1
                }
            };
            if bound[index].is_some() {
                self.push(
                    Diagnostic::error(
                        "P0219",
                        format!("parameter `{}` is given twice", params[index].name.text),
                        arg.span,
                    )
                    .with_help("give each parameter once"),
                );
                continue;
            }
            let param = &params[index];
            let ty = if param.ty.name.text == "Dim" {
                match &arg.value.kind {
                    ExprKind::Name(n) if Dim::parse(n).is_some() => Type::Dim(Dim::parse(n).expect("checked")),
                    _ => {
                        self.push(
                            Diagnostic::error("P0211", "expected a dim: `batch`, `tok` or `k`", arg.value.span)
                                .with_label("not a dim")
                                .with_help("reduce over a named dim, e.g. `over = tok`"),
                        );
                        Type::Unknown
                    }
                }
            } else {
                self.infer(&arg.value)
            };
            self.check_param(callee, param, &ty, &arg.value);
            bound[index] = Some((ty, &arg.value));
        }
        let missing: Vec<&str> = params
            .iter()
            .zip(&bound)
            .filter(|(p, b)| b.is_none() && p.default.is_none())
            .map(|(p, _)| p.name.text.as_str())
            .collect();
        if !missing.is_empty() {
            self.push(
                Diagnostic::error(
                    "P0204",
                    format!(
                        "`{callee}` is missing {}",
                        missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                    ),
                    call_span,
                )
                .with_label("missing arguments")
                .with_help(format!(
                    "pass {}",
                    missing.iter().map(|m| format!("`{m} = ...`")).collect::<Vec<_>>().join(", ")
                )),
            );
        }
        bound
    }

    fn check_param(&mut self, callee: &str, param: &Param, ty: &Type, value: &Expr) {
        if ty.is_unknown() {
            return;
        }
        let want = param.ty.name.text.as_str();
        if Scalar::parse(want).is_none() && !PIPELINE_TYPES.contains(&want) {
            return; // an unknown parameter type, reported where it is declared
        }
        let ok = match (want, ty) {
            ("f32" | "f64", Type::Value { scalar, .. }) => scalar.is_numeric(),
            ("i64" | "i32", Type::Value { scalar, .. }) => *scalar == Scalar::Int,
            ("bool", Type::Value { scalar, .. }) => *scalar == Scalar::Bool,
            ("Text", Type::Value { scalar, .. }) => *scalar == Scalar::Text,
            ("Data", Type::Data(_)) => true,
            ("Model", Type::Model(_)) => true,
            ("Dim", Type::Dim(_)) => true,
            ("Column", Type::Column(_)) => true,
            ("Split", Type::Split(_)) => true,
            ("Selector", Type::Options("Selector")) => true,
            (want, Type::Opaque(got)) => want == got,
            _ => false,
        };
        if !ok {
            self.push(
                Diagnostic::error(
                    "P0206",
                    format!("`{}` of `{callee}` must be {want}, found {ty}", param.name.text),
                    value.span,
                )
                .with_label(ty.to_string())
                .with_help(format!("pass a {want} value")),
            );
            return;
        }
        if let (Some(constraint), Some(v)) = (&param.constraint, is_literal_number(value))
            && !constraint.admits(v)
        {
            self.push(
                Diagnostic::error(
                    "P0207",
                    format!("`{}` of `{callee}` must be {}, but is {v}", param.name.text, constraint.describe()),
                    value.span,
                )
                .with_label("outside the constraint")
                .with_help(format!("choose a value {}", constraint.describe())),
            );
        }
        if param.name.text == "judge"
            && let Type::Model(kind) = ty
            && !kind.scores()
        {
            self.push(
                Diagnostic::error(
                    "P0313",
                    format!("a judge must score completions, but this is {}", kind.describe()),
                    value.span,
                )
                .with_help("pass a judge(\"name\") or a reward_model(path)"),
            );
        }
    }

    fn extern_result(
        &mut self,
        name: &str,
        ext: &ExternItem,
        is_math: bool,
        bound: &[Option<(Type, &Expr)>],
        span: Span,
    ) -> Type {
        let arg_dims = |i: usize| match bound.get(i).and_then(|b| b.as_ref()) {
            Some((Type::Value { dims, .. }, _)) => Some(*dims),
            _ => None,
        };
        if is_math {
            let over = ext.params.iter().position(|p| p.name.text == "over");
            if let Some(over) = over
                && (REDUCTIONS.contains(&name) || SCANS.contains(&name))
            {
                let (Some(dims), Some((Type::Dim(dim), over_expr))) =
                    (arg_dims(0), bound.get(over).and_then(|b| b.as_ref()))
                else {
                    return Type::Unknown;
                };
                if !dims.has(*dim) {
                    self.push(
                        Diagnostic::error(
                            "P0212",
                            format!(
                                "this value has no `{}` dim to {} over",
                                dim.name(),
                                if SCANS.contains(&name) { "scan" } else { "reduce" }
                            ),
                            over_expr.span,
                        )
                        .with_label("not a dim of the value")
                        .with_help(match dims.without(Dim::Batch).iter().next() {
                            Some(d) => format!("the value's dims are batch and {}", d.name()),
                            None if dims.has(Dim::Batch) => "the value is per example; reduce over `batch`".into(),
                            None => "the value is already a single number".into(),
                        }),
                    );
                    return Type::Unknown;
                }
                let dims = if REDUCTIONS.contains(&name) { dims.without(*dim) } else { dims };
                return Type::float(dims);
            }
            if name == "mismatched" {
                return Type::value(Scalar::Text, arg_dims(0).unwrap_or(Dims::BATCH));
            }
            let mut dims = Dims::NONE;
            for i in 0..bound.len() {
                dims = dims.union(arg_dims(i).unwrap_or(Dims::NONE));
            }
            if !dims.is_consistent() {
                self.push(
                    Diagnostic::error(
                        "P0221",
                        format!("`{name}` mixes a per-token value with a per-candidate value"),
                        span,
                    )
                    .with_help("reduce one of them first"),
                );
                return Type::Unknown;
            }
            return Type::float(dims);
        }
        let first_arg = bound.first().and_then(|b| b.as_ref()).map(|(t, e)| (t.clone(), *e));
        match ext.ret.name.text.as_str() {
            "Data" => match name {
                "pair" => Type::Data(Some("Pairwise".into())),
                "select" => Type::Data(Some("Pointwise".into())),
                _ => Type::Data(None),
            },
            "Split" => match first_arg {
                Some((Type::Data(schema), _)) => Type::Split(schema),
                _ => Type::Split(None),
            },
            "Model" => {
                let base = match &first_arg {
                    Some((Type::Model(kind), expr)) => Some((kind.clone(), expr)),
                    _ => None,
                };
                Type::Model(match name {
                    "reward_model" => ModelKind::RewardModel,
                    "judge" => ModelKind::Judge,
                    "frozen" | "snapshot" => ModelKind::Frozen {
                        of: base.as_ref().and_then(|(_, e)| match &e.kind {
                            ExprKind::Name(n) => Some(n.clone()),
                            _ => None,
                        }),
                        reward: base.as_ref().is_some_and(|(k, _)| k.scores()),
                    },
                    _ => ModelKind::Policy,
                })
            }
            other => match Scalar::parse(other) {
                Some(scalar) => Type::value(scalar, Dims::NONE),
                None => Type::Opaque(other.to_string()),
            },
        }
    }

    fn model_call(&mut self, role: &str, method: &Name, args: &[Arg], span: Span) -> Type {
        if let Some(math) = &mut self.math {
            math.used.insert(role.to_string());
        }
        if !MODEL_METHODS.contains(&method.text.as_str()) {
            let help = match closest(&method.text, MODEL_METHODS.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "models offer logp(y | x), logp_tokens(y | x) and reward(y | x)".into(),
            };
            self.push(
                Diagnostic::error("P0214", format!("models have no method `{}`", method.text), method.span)
                    .with_label("unknown method")
                    .with_help(help),
            );
            self.args_untyped(args);
            return Type::Unknown;
        }
        let shape_ok = args.len() == 1 && args[0].name.is_none() && args[0].given.is_some();
        if !shape_ok {
            self.push(
                Diagnostic::error(
                    "P0226",
                    format!("`{role}.{}` takes one argument: `completion | prompt`", method.text),
                    span,
                )
                .with_help(format!("e.g. `{role}.{}(chosen | prompt)`", method.text)),
            );
            self.args_untyped(args);
            return Type::Unknown;
        }
        let mut dims = Dims::BATCH;
        for part in [&args[0].value, args[0].given.as_ref().expect("checked above")] {
            let ty = self.infer(part);
            match ty {
                Type::Value { scalar: Scalar::Text, dims: d } => dims = dims.union(d),
                Type::Unknown => {}
                other => self.push(
                    Diagnostic::error("P0206", format!("model calls take texts, found {other}"), part.span)
                        .with_help("pass text columns, e.g. `chosen | prompt`"),
                ),
            }
        }
        let dims = if method.text == "logp_tokens" { dims.with(Dim::Tok) } else { dims };
        if !dims.is_consistent() {
            self.push(
                Diagnostic::error(
                    "P0221",
                    "per-token log-probs of a list of candidates would have both `tok` and `k` dims",
                    span,
                )
                .with_help(
                    "score one completion column at a time, or use `logp` (summed over tokens) for candidate lists",
                ),
            );
            return Type::Unknown;
        }
        Type::float(dims)
    }
}

fn short_list<'s>(names: impl Iterator<Item = &'s String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.len() > 12 { format!("{}, …", names[..12].join(", ")) } else { names.join(", ") }
}
