//! Builds the stage graph of a checked recipe: data loads and splits, model
//! sources, reference log-prob stages hoisted out of training (one per data
//! part, shared by every stage that needs it), training and evaluation.
//! Stage names say what they are and address `--set` overrides.

use plumb_db::{RootDatabase, SourceFile};
use plumb_diag::Span;
use plumb_hir::DefKind;
use plumb_syntax::ast::{Arg, Expr, ExprKind, ItemKind, LossItem, OptionEntry, Options, SchemaItem};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A reason the recipe cannot be planned, at a place in the recipe (file offsets).
#[derive(Clone, Debug, PartialEq)]
pub struct PlanError {
    pub code: &'static str,
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl PlanError {
    fn at(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        PlanError { code, message: message.into(), span: Some(span), help: None }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// One schema field: its name, type as written (`Text`, `f32`, `bool`, `i64`, `f32[tok]`), and default.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldSpec {
    pub name: String,
    pub ty: String,
    pub optional: bool,
    pub default: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StageKind {
    /// Read and validate a data file. Its file's bytes are an input of the key.
    Load {
        path: String,
        format: String,
        schema: Option<String>,
        fields: Vec<FieldSpec>,
    },
    /// A seeded train/holdout split.
    Split {
        holdout: f64,
        seed: u64,
    },
    /// A model folder as the recipe names it (its bytes are an input of the key).
    Model {
        path: String,
        role: String,
    },
    /// A programmatic judge by name.
    Judge {
        name: String,
    },
    /// The reference model's completion log-probs of each row, for the slots the losses read.
    RefLogprobs {
        slots: Vec<String>,
        /// Truncation, as the train stage that reads these applies it.
        truncation: Truncation,
    },
    Train {
        loss: String,
        /// Parameter values, defaults filled in.
        params: BTreeMap<String, f64>,
        /// The loss and schema source, so editing a loss's body changes the key.
        loss_source: String,
        optimizer: BTreeMap<String, f64>,
        schedule: String,
        warmup: u64,
        batch: u64,
        micro_batch: u64,
        epochs: u64,
        max_steps: Option<u64>,
        seed: u64,
        grad_clip: f64,
        checkpoint_every: u64,
        /// Steps between sampled KL(π ‖ π_ref) estimates: None is a tenth of the run, 0 none.
        kl_every: Option<u64>,
        truncation: Truncation,
    },
    Eval {
        metrics: Vec<Metric>,
        seed: u64,
    },
    /// `n` samples per row of the data's `field` from the model.
    Generate {
        field: String,
        n: u64,
        temperature: f64,
        top_k: u64,
        top_p: f64,
        max_new: u64,
        seed: u64,
    },
    /// Every candidate scored by a reward model or judge.
    Score,
    /// The `top` best-scored candidates of each prompt, as Pointwise rows.
    Select {
        top: u64,
    },
    /// One Pairwise row per prompt: best vs worst, or best vs a random other.
    Pair {
        by: String,
        seed: u64,
        min_margin: f64,
    },
    /// A preference model over items fitted to votes or rankings (plumb-ratings).
    Fit {
        model: String,
        l2: f64,
        ties: String,
        reference: Option<String>,
        /// The options below are left out of the definition when unset (their
        /// defaults: 1e-8, 200 iterations, the CPU backend), so that a recipe
        /// that does not set them keeps its stage keys.
        #[serde(skip_serializing_if = "Option::is_none")]
        tolerance: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_iterations: Option<u64>,
        /// `Some("gpu")`; the CPU is `None`.
        #[serde(skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
    },
    /// A leaderboard of fitted ratings, with bootstrap intervals when asked.
    Leaderboard {
        bootstrap: u64,
        seed: u64,
        fit: Box<StageKind>,
    },
}

/// `max_len` / `max_prompt_len` of a train stage: the prompt keeps its last
/// `max_prompt_len` tokens, then the completion its first tokens so that the
/// whole is at most `max_len` (TRL's keep-end for prompts, keep-start for completions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Truncation {
    pub max_len: Option<u64>,
    pub max_prompt_len: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metric {
    pub name: String,
    /// Model arguments as the roles of the eval stage's inputs (`vs`, `judge`, `reference`).
    pub models: BTreeMap<String, String>,
}

/// A stage's dependency: the stage, the role it plays, and the part of its output used (`train`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Input {
    pub role: String,
    pub stage: usize,
    pub part: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub name: String,
    pub kind: StageKind,
    pub inputs: Vec<Input>,
    /// The recipe expression the stage comes from.
    pub span: Span,
    /// For train and eval stages: the recipe name of the model.
    pub model: Option<String>,
    /// For train stages: the loss expression (where a NaN loss is reported).
    pub loss_span: Option<Span>,
}

impl Stage {
    /// The canonical text of what the stage does (an input of its key).
    pub fn definition(&self) -> String {
        serde_json::to_string(&self.kind).unwrap_or_default()
    }

    /// GPUs the stage asks its executor for: a fit (or its leaderboard's
    /// bootstrap refits) on the GPU backend takes one.
    pub fn gpus(&self) -> usize {
        let on_gpu = |kind: &StageKind| matches!(kind, StageKind::Fit { backend: Some(_), .. });
        match &self.kind {
            StageKind::Leaderboard { fit, bootstrap, .. } => usize::from(*bootstrap >= 2 && on_gpu(fit)),
            kind => usize::from(on_gpu(kind)),
        }
    }

    pub fn needs_models(&self) -> bool {
        !matches!(
            self.kind,
            StageKind::Load { .. }
                | StageKind::Split { .. }
                | StageKind::Select { .. }
                | StageKind::Pair { .. }
                | StageKind::Fit { .. }
                | StageKind::Leaderboard { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub stages: Vec<Stage>,
    /// `--set` overrides that were applied, as written.
    pub overrides: Vec<String>,
}

impl Plan {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }
}

#[derive(Clone, Debug)]
enum Value_ {
    Ratings { stage: usize },
    Data { stage: usize, part: Option<String>, schema: Option<String>, desc: String },
    Split { stage: usize, schema: Option<String>, desc: String },
    Model { stage: usize, trainable: bool, role: String, source: Option<String> },
}

struct Builder<'a> {
    db: &'a RootDatabase,
    file: SourceFile,
    stages: Vec<Stage>,
    env: BTreeMap<String, Value_>,
    /// The current version of each model: its source stage, then its latest training stage.
    current: BTreeMap<String, usize>,
    /// The source stage of each model (what `frozen` copies).
    initial: BTreeMap<String, usize>,
    offset: u32,
    /// The pass of the enclosing `repeat` (1-based), which suffixes stage names.
    iteration: Option<u64>,
    /// The binding being evaluated, which names the stages its expression makes.
    naming: String,
}

fn shift(span: Span, offset: u32) -> Span {
    Span { start: span.start + offset, end: span.end + offset }
}

fn literal(expr: &Expr) -> Option<Value> {
    match &expr.kind {
        ExprKind::Number { value, integer } => Some(if *integer { json!(value.0 as i64) } else { json!(value.0) }),
        ExprKind::Str(s) => Some(json!(s)),
        ExprKind::Bool(b) => Some(json!(b)),
        ExprKind::Paren(inner) => literal(inner),
        ExprKind::Unary(plumb_syntax::ast::UnOp::Neg, inner) => {
            literal(inner).and_then(|v| v.as_f64()).map(|x| json!(-x))
        }
        _ => None,
    }
}

fn callee_name(expr: &Expr) -> Option<&str> {
    match &expr.kind {
        ExprKind::Call { callee, .. } => match &callee.kind {
            ExprKind::Name(n) => Some(n.as_str()),
            ExprKind::Field(_, name) => Some(name.text.as_str()),
            _ => None,
        },
        _ => None,
    }
}

fn args(expr: &Expr) -> &[Arg] {
    match &expr.kind {
        ExprKind::Call { args, .. } => args,
        _ => &[],
    }
}

/// The named (or `position`-th positional) argument.
fn arg<'e>(args: &'e [Arg], name: &str, position: usize) -> Option<&'e Expr> {
    args.iter()
        .find(|a| a.name.as_ref().is_some_and(|n| n.text == name))
        .or_else(|| args.iter().filter(|a| a.name.is_none()).nth(position))
        .map(|a| &a.value)
}

impl Builder<'_> {
    /// `base`, suffixed with the repeat pass, made unique among the stages.
    fn unique_name(&self, base: &str) -> String {
        let base = match self.iteration {
            Some(i) => format!("{base}@{i}"),
            None => base.to_string(),
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.stages.iter().any(|s| s.name == name) {
            name = format!("{base}#{n}");
            n += 1;
        }
        name
    }

    fn model_ref(&self, expr: &Expr) -> Result<(usize, String), PlanError> {
        match &expr.kind {
            ExprKind::Name(n) => match self.env.get(n) {
                Some(Value_::Model { stage, .. }) => Ok((self.current.get(n).copied().unwrap_or(*stage), n.clone())),
                _ => Err(PlanError::at("P0811", format!("`{n}` is not a model"), shift(expr.span, self.offset))),
            },
            _ => match (callee_name(expr), arg(args(expr), "base", 0).map(|e| &e.kind)) {
                (Some(which @ ("snapshot" | "frozen")), Some(ExprKind::Name(n))) => {
                    let table = if which == "frozen" { &self.initial } else { &self.current };
                    table.get(n).map(|&s| (s, n.clone())).ok_or_else(|| {
                        PlanError::at("P0811", format!("`{n}` is not a model"), shift(expr.span, self.offset))
                    })
                }
                _ => Err(PlanError::at("P0811", "expected a model name", shift(expr.span, self.offset))),
            },
        }
    }

    fn push(&mut self, stage: Stage) -> usize {
        self.stages.push(stage);
        self.stages.len() - 1
    }

    fn unsupported(&self, what: &str, span: Span) -> PlanError {
        PlanError::at("P0810", format!("`plumb run` does not run {what} yet"), shift(span, self.offset))
            .help("docs/runtime.md lists what plumb run executes today")
    }

    fn number(&self, expr: &Expr, what: &str) -> Result<f64, PlanError> {
        literal(expr).and_then(|v| v.as_f64().or_else(|| v.as_bool().map(|b| f64::from(u8::from(b))))).ok_or_else(
            || PlanError::at("P0811", format!("{what} must be a literal number here"), shift(expr.span, self.offset)),
        )
    }

    fn schema(&self, name: &str) -> Option<SchemaItem> {
        let def = plumb_hir::scope(self.db, self.file).get(name).copied()?;
        match plumb_hir::parse_item_text(self.db, def.item).item.as_ref().map(|i| &i.kind) {
            Some(ItemKind::Schema(schema)) => Some(schema.clone()),
            _ => None,
        }
    }

    fn data(&mut self, expr: &Expr) -> Result<Value_, PlanError> {
        match &expr.kind {
            ExprKind::Name(name) => {
                self.env.get(name).cloned().ok_or_else(|| {
                    PlanError::at("P0811", format!("`{name}` is not data"), shift(expr.span, self.offset))
                })
            }
            ExprKind::Paren(inner) => self.data(inner),
            ExprKind::Cast(inner, schema) => {
                let value = self.data(inner)?;
                let Value_::Data { stage, part: None, desc, .. } = value else {
                    return Err(PlanError::at(
                        "P0811",
                        "`as SCHEMA` applies to a loaded file",
                        shift(expr.span, self.offset),
                    ));
                };
                let fields = self.schema(&schema.text).map(|s| {
                    s.fields
                        .iter()
                        .map(|f| FieldSpec {
                            name: f.name.text.clone(),
                            ty: if f.ty.dims.is_empty() {
                                f.ty.name.text.clone()
                            } else {
                                format!(
                                    "{}[{}]",
                                    f.ty.name.text,
                                    f.ty.dims.iter().map(|d| d.text.as_str()).collect::<Vec<_>>().join(",")
                                )
                            },
                            optional: f.ty.optional,
                            default: f.default.as_ref().and_then(literal),
                        })
                        .collect::<Vec<_>>()
                });
                if let StageKind::Load { schema: s, fields: f, .. } = &mut self.stages[stage].kind {
                    *s = Some(schema.text.clone());
                    *f = fields.unwrap_or_default();
                }
                Ok(Value_::Data { stage, part: None, schema: Some(schema.text.clone()), desc })
            }
            ExprKind::Field(inner, part) => match self.data(inner)? {
                Value_::Split { stage, schema, desc } if part.text == "train" || part.text == "holdout" => {
                    Ok(Value_::Data {
                        stage,
                        part: Some(part.text.clone()),
                        schema,
                        desc: format!("{desc}.{}", part.text),
                    })
                }
                _ => Err(PlanError::at(
                    "P0811",
                    format!("`.{}` is not a part of a split (train, holdout)", part.text),
                    shift(expr.span, self.offset),
                )),
            },
            ExprKind::Call { .. } => match callee_name(expr) {
                Some(format @ ("jsonl" | "csv" | "parquet")) => {
                    let path = arg(args(expr), "path", 0).and_then(literal).and_then(|v| v.as_str().map(String::from));
                    let Some(path) = path else {
                        return Err(PlanError::at(
                            "P0811",
                            "the path must be a string literal",
                            shift(expr.span, self.offset),
                        ));
                    };
                    let stage = self.push(Stage {
                        name: String::new(),
                        kind: StageKind::Load {
                            path: path.clone(),
                            format: format.to_string(),
                            schema: None,
                            fields: Vec::new(),
                        },
                        inputs: Vec::new(),
                        span: shift(expr.span, self.offset),
                        model: None,
                        loss_span: None,
                    });
                    Ok(Value_::Data { stage, part: None, schema: None, desc: path })
                }
                Some("split") => {
                    let a = args(expr);
                    let source = arg(a, "data", 0)
                        .ok_or_else(|| PlanError::at("P0811", "split needs data", shift(expr.span, self.offset)))?;
                    let Value_::Data { stage: source_stage, part, schema, desc } = self.data(source)? else {
                        return Err(PlanError::at("P0811", "split needs data", shift(expr.span, self.offset)));
                    };
                    let holdout = match arg(a, "holdout", 1) {
                        Some(e) => self.number(e, "holdout")?,
                        None => 0.1,
                    };
                    let seed = match arg(a, "seed", 2) {
                        Some(e) => self.number(e, "seed")? as u64,
                        None => 0,
                    };
                    let stage = self.push(Stage {
                        name: String::new(),
                        kind: StageKind::Split { holdout, seed },
                        inputs: vec![Input { role: "data".into(), stage: source_stage, part }],
                        span: shift(expr.span, self.offset),
                        model: None,
                        loss_span: None,
                    });
                    Ok(Value_::Split { stage, schema, desc })
                }
                Some("generate") => {
                    let a = args(expr);
                    let lm = arg(a, "lm", 0).ok_or_else(|| {
                        PlanError::at("P0811", "generate needs a model", shift(expr.span, self.offset))
                    })?;
                    let (model_stage, model_name) = self.model_ref(lm)?;
                    let Some(ExprKind::Field(source, field)) = arg(a, "prompts", 1).map(|e| &e.kind) else {
                        return Err(PlanError::at(
                            "P0811",
                            "generate takes a column of prompts, such as `prompts.prompt`",
                            shift(expr.span, self.offset),
                        ));
                    };
                    let data = self.data(source)?;
                    let num = |s: &Self, key: &str, position: usize, default: f64| -> Result<f64, PlanError> {
                        match arg(a, key, position) {
                            Some(e) => s.number(e, key),
                            None => Ok(default),
                        }
                    };
                    let kind = StageKind::Generate {
                        field: field.text.clone(),
                        n: num(self, "n", 2, 1.0)? as u64,
                        temperature: num(self, "temperature", 3, 1.0)?,
                        top_k: num(self, "top_k", 4, 0.0)? as u64,
                        top_p: num(self, "top_p", 5, 1.0)?,
                        max_new: num(self, "max_new", 6, 64.0)? as u64,
                        seed: num(self, "seed", 7, 0.0)? as u64,
                    };
                    let name = self.unique_name(&format!("generate.{}", self.naming));
                    let stage = self.push(Stage {
                        name,
                        kind,
                        inputs: vec![
                            Input { role: "model".into(), stage: model_stage, part: None },
                            data_input(&data, "data")?,
                        ],
                        span: shift(expr.span, self.offset),
                        model: Some(model_name),
                        loss_span: None,
                    });
                    Ok(Value_::Data { stage, part: None, schema: Some("Candidates".into()), desc: self.naming.clone() })
                }
                Some(kind @ ("score" | "select" | "pair")) => {
                    let a = args(expr);
                    let (source_expr, scorer) = if kind == "score" {
                        let scorer = arg(a, "scorer", 0).ok_or_else(|| {
                            PlanError::at("P0811", "score needs a scorer", shift(expr.span, self.offset))
                        })?;
                        (arg(a, "candidates", 1), Some(self.model_ref(scorer)?))
                    } else {
                        (arg(a, "scored", 0), None)
                    };
                    let source_expr = source_expr.ok_or_else(|| {
                        PlanError::at("P0811", format!("{kind} needs its input"), shift(expr.span, self.offset))
                    })?;
                    let data = self.data(source_expr)?;
                    let mut inputs = vec![data_input(&data, "data")?];
                    let stage_kind = match kind {
                        "score" => {
                            let (scorer_stage, _) = scorer.clone().expect("set for score");
                            inputs.push(Input { role: "scorer".into(), stage: scorer_stage, part: None });
                            StageKind::Score
                        }
                        "select" => StageKind::Select {
                            top: match arg(a, "top", 1) {
                                Some(e) => self.number(e, "top")? as u64,
                                None => 1,
                            },
                        },
                        _ => {
                            let by = arg(a, "by", 1);
                            let (by_name, seed) = match by {
                                None => ("best_vs_worst".to_string(), 0),
                                Some(e) => {
                                    let name = callee_name(e).unwrap_or("best_vs_worst").to_string();
                                    let seed = match arg(args(e), "seed", 0) {
                                        Some(s) => self.number(s, "seed")? as u64,
                                        None => 0,
                                    };
                                    (name, seed)
                                }
                            };
                            let min_margin = match arg(a, "min_margin", 2) {
                                Some(e) => self.number(e, "min_margin")?,
                                None => 0.0,
                            };
                            StageKind::Pair { by: by_name, seed, min_margin }
                        }
                    };
                    let name = self.unique_name(&format!("{kind}.{}", self.naming));
                    let stage = self.push(Stage {
                        name,
                        kind: stage_kind,
                        inputs,
                        span: shift(expr.span, self.offset),
                        model: scorer.map(|(_, n)| n),
                        loss_span: None,
                    });
                    Ok(Value_::Data { stage, part: None, schema: None, desc: self.naming.clone() })
                }
                Some(other) => Err(self.unsupported(&format!("`{other}(...)` as data"), expr.span)),
                None => Err(self.unsupported("this expression", expr.span)),
            },
            _ => Err(self.unsupported("this expression", expr.span)),
        }
    }

    fn model(&mut self, name: &str, expr: &Expr) -> Result<Value_, PlanError> {
        let callee = callee_name(expr).unwrap_or("");
        let a = args(expr);
        let text_arg = |key: &str| arg(a, key, 0).and_then(literal).and_then(|v| v.as_str().map(String::from));
        match callee {
            "causal_lm" | "reward_model" => {
                let Some(path) = text_arg("path") else {
                    return Err(PlanError::at(
                        "P0811",
                        "the model path must be a string literal",
                        shift(expr.span, self.offset),
                    ));
                };
                let role = if callee == "causal_lm" { "policy" } else { "reward" };
                let stage_name = self.unique_name(&format!("model.{name}"));
                let stage = self.push(Stage {
                    name: stage_name,
                    kind: StageKind::Model { path, role: role.into() },
                    inputs: Vec::new(),
                    span: shift(expr.span, self.offset),
                    model: Some(name.to_string()),
                    loss_span: None,
                });
                self.current.insert(name.to_string(), stage);
                self.initial.insert(name.to_string(), stage);
                Ok(Value_::Model { stage, trainable: true, role: role.into(), source: None })
            }
            "frozen" | "snapshot" => {
                let base = arg(a, "base", 0).and_then(|e| match &e.kind {
                    ExprKind::Name(n) => Some(n.clone()),
                    _ => None,
                });
                let Some(base) = base else {
                    return Err(PlanError::at(
                        "P0811",
                        format!("{callee} takes a model name"),
                        shift(expr.span, self.offset),
                    ));
                };
                let table = if callee == "frozen" { &self.initial } else { &self.current };
                let Some(&stage) = table.get(&base) else {
                    return Err(PlanError::at(
                        "P0811",
                        format!("`{base}` is not a model"),
                        shift(expr.span, self.offset),
                    ));
                };
                let role = match &self.env.get(&base) {
                    Some(Value_::Model { role, .. }) => role.clone(),
                    _ => "policy".into(),
                };
                Ok(Value_::Model { stage, trainable: false, role, source: Some(base) })
            }
            "judge" => {
                let Some(judge) = text_arg("name") else {
                    return Err(PlanError::at(
                        "P0811",
                        "the judge name must be a string literal",
                        shift(expr.span, self.offset),
                    ));
                };
                if judge != "sentiment" {
                    return Err(PlanError::at(
                        "P0812",
                        format!("there is no judge `{judge}`"),
                        shift(expr.span, self.offset),
                    )
                    .help("the shipped judge is \"sentiment\" (docs/judge.md); a reward model can judge too"));
                }
                let stage_name = self.unique_name(&format!("judge.{name}"));
                let stage = self.push(Stage {
                    name: stage_name,
                    kind: StageKind::Judge { name: judge },
                    inputs: Vec::new(),
                    span: shift(expr.span, self.offset),
                    model: Some(name.to_string()),
                    loss_span: None,
                });
                Ok(Value_::Model { stage, trainable: false, role: "judge".into(), source: None })
            }
            other => Err(self.unsupported(&format!("models made by `{other}`"), expr.span)),
        }
    }

    fn loss(&self, expr: &Expr) -> Result<(LossItem, Option<SchemaItem>, String), PlanError> {
        let Some(name) = callee_name(expr) else {
            return Err(PlanError::at(
                "P0811",
                "`loss` must be a call such as `dpo(beta = 0.1)`",
                shift(expr.span, self.offset),
            ));
        };
        let def =
            plumb_hir::scope(self.db, self.file).get(name).copied().filter(|d| d.kind == DefKind::Loss).ok_or_else(
                || PlanError::at("P0811", format!("`{name}` is not a loss"), shift(expr.span, self.offset)),
            )?;
        let text = plumb_hir::ItemText::text(def.item, self.db).clone();
        let Some(ItemKind::Loss(loss)) =
            plumb_hir::parse_item_text(self.db, def.item).item.as_ref().map(|i| i.kind.clone())
        else {
            return Err(PlanError::at("P0811", format!("`{name}` is not a loss"), shift(expr.span, self.offset)));
        };
        let schema = loss.schema.as_ref().and_then(|s| {
            let def = plumb_hir::scope(self.db, def.file).get(&s.text).copied()?;
            match plumb_hir::parse_item_text(self.db, def.item).item.as_ref().map(|i| &i.kind) {
                Some(ItemKind::Schema(schema)) => Some(schema.clone()),
                _ => None,
            }
        });
        Ok((loss, schema, text))
    }

    fn ref_logprobs(
        &mut self,
        data: &Value_,
        reference: usize,
        slots: Vec<String>,
        truncation: Truncation,
        span: Span,
    ) -> usize {
        let Value_::Data { stage, part, desc, .. } = data else { unreachable!("checked by the caller") };
        let base = format!("ref_logprobs.{desc}");
        let inputs = vec![
            Input { role: "data".into(), stage: *stage, part: part.clone() },
            Input { role: "reference".into(), stage: reference, part: None },
        ];
        if let Some(existing) = self.stages.iter().position(|s| {
            s.inputs == inputs
                && matches!(&s.kind, StageKind::RefLogprobs { slots: have, truncation: t } if *have == slots && *t == truncation)
        }) {
            return existing;
        }
        let name = self.unique_name(&base);
        self.push(Stage {
            name,
            kind: StageKind::RefLogprobs { slots, truncation },
            inputs,
            span,
            model: None,
            loss_span: None,
        })
    }

    fn options(&self, options: &Options) -> Result<BTreeMap<String, (Expr, Span)>, PlanError> {
        let mut out = BTreeMap::new();
        for entry in &options.entries {
            match entry {
                OptionEntry::Set { name, value, span } => {
                    out.insert(name.text.clone(), (value.clone(), *span));
                }
                OptionEntry::Constraint { span, .. } => return Err(self.unsupported("stage constraints", *span)),
            }
        }
        Ok(out)
    }
}

/// Builds the plan of `file` (a recipe that checks without errors).
pub fn build(db: &RootDatabase, file: SourceFile) -> Result<Plan, PlanError> {
    let mut builder = Builder {
        db,
        file,
        stages: Vec::new(),
        env: BTreeMap::new(),
        current: BTreeMap::new(),
        initial: BTreeMap::new(),
        offset: 0,
        iteration: None,
        naming: String::new(),
    };
    let items = plumb_hir::file_items(db, file);
    for entry in &items.entries {
        builder.offset = entry.offset;
        let parse = plumb_hir::parse_item_text(db, entry.text);
        let Some(item) = parse.item.as_ref() else { continue };
        plan_item(&mut builder, item)?;
    }
    // Unnamed loads (inline `jsonl(...)` in a stage) get a name from their file.
    let mut stages = builder.stages;
    for (i, stage) in stages.iter_mut().enumerate() {
        if stage.name.is_empty() {
            stage.name = format!("stage{i}");
        }
    }
    Ok(Plan { stages, overrides: Vec::new() })
}

fn plan_item(builder: &mut Builder, item: &plumb_syntax::ast::Item) -> Result<(), PlanError> {
    match &item.kind {
        ItemKind::Let(binding) => {
            builder.naming = binding.name.text.clone();
            let created = builder.stages.len();
            let value = builder.data(&binding.value)?;
            if let Value_::Data { stage, part: None, .. } | Value_::Split { stage, .. } = &value
                && *stage >= created
                && matches!(builder.stages[*stage].kind, StageKind::Load { .. } | StageKind::Split { .. })
            {
                let kind = if matches!(value, Value_::Split { .. }) { "split" } else { "load" };
                builder.stages[*stage].name = builder.unique_name(&format!("{kind}.{}", binding.name.text));
            }
            let value = match value {
                Value_::Data { stage, part, schema, .. } => {
                    Value_::Data { stage, part, schema, desc: binding.name.text.clone() }
                }
                Value_::Split { stage, schema, .. } => Value_::Split { stage, schema, desc: binding.name.text.clone() },
                other => other,
            };
            builder.env.insert(binding.name.text.clone(), value);
        }
        ItemKind::Model(binding) => {
            let value = builder.model(&binding.name.text, &binding.value)?;
            builder.env.insert(binding.name.text.clone(), value);
        }
        ItemKind::Train(train) => {
            builder.naming = train.model.text.clone();
            train_stage(builder, train)?;
        }
        ItemKind::Eval(eval) => {
            builder.naming = eval.model.text.clone();
            eval_stage(builder, eval)?;
        }
        ItemKind::Report(expr) => report_stage(builder, expr)?,
        ItemKind::Fit(fit) => fit_stage(builder, fit)?,
        ItemKind::Repeat(repeat) => {
            if builder.iteration.is_some() {
                return Err(builder.unsupported("nested `repeat` loops", item.span));
            }
            let count = builder.number(&repeat.count, "the repeat count")?;
            if !(1.0..=1000.0).contains(&count) || count.fract() != 0.0 {
                return Err(PlanError::at(
                    "P0811",
                    "the repeat count must be an integer from 1 to 1000",
                    shift(repeat.count.span, builder.offset),
                ));
            }
            for pass in 1..=count as u64 {
                builder.iteration = Some(pass);
                for inner in &repeat.items {
                    plan_item(builder, inner)?;
                }
            }
            builder.iteration = None;
        }
        ItemKind::Use(_) | ItemKind::Schema(_) | ItemKind::Loss(_) | ItemKind::Extern(_) => {}
        ItemKind::Sampler(o) | ItemKind::Selector(o) => {
            return Err(builder.unsupported("samplers and selectors", o.name.span));
        }
    }
    Ok(())
}

fn model_stage(builder: &Builder, name: &plumb_syntax::ast::Name) -> Result<(usize, Value_), PlanError> {
    match builder.env.get(&name.text) {
        Some(value @ Value_::Model { .. }) => {
            let stage = builder.current.get(&name.text).copied().unwrap_or(match value {
                Value_::Model { stage, .. } => *stage,
                _ => 0,
            });
            Ok((stage, value.clone()))
        }
        _ => Err(PlanError::at("P0811", format!("`{}` is not a model", name.text), shift(name.span, builder.offset))),
    }
}

fn train_stage(builder: &mut Builder, train: &plumb_syntax::ast::TrainItem) -> Result<(), PlanError> {
    let (model_stage, model_value) = model_stage(builder, &train.model)?;
    let data = builder.data(&train.data)?;
    let options = builder.options(&train.options)?;
    let Some((loss_expr, _)) = options.get("loss") else {
        return Err(PlanError::at(
            "P0811",
            "a train stage needs `loss = ...`",
            shift(train.model.span, builder.offset),
        ));
    };
    let (loss, schema, source) = builder.loss(loss_expr)?;
    let mut params = BTreeMap::new();
    for param in &loss.params {
        if let Some(default) = param.default.as_ref().and_then(plumb_lower::literal) {
            params.insert(param.name.text.clone(), default);
        }
    }
    for a in args(loss_expr) {
        let Some(name) = &a.name else { continue };
        params.insert(name.text.clone(), builder.number(&a.value, &format!("loss parameter `{}`", name.text))?);
    }
    let int = |key: &str, default: u64| -> Result<u64, PlanError> {
        match options.get(key) {
            Some((e, _)) => builder.number(e, key).map(|x| x as u64),
            None => Ok(default),
        }
    };
    let mut optimizer = BTreeMap::from([
        ("lr".to_string(), 1e-4),
        ("weight_decay".to_string(), 0.0),
        ("beta1".to_string(), 0.9),
        ("beta2".to_string(), 0.999),
        ("eps".to_string(), 1e-8),
    ]);
    if let Some((e, _)) = options.get("optimizer") {
        match callee_name(e) {
            Some("adamw") => {
                for a in args(e) {
                    if let Some(name) = &a.name {
                        optimizer.insert(name.text.clone(), builder.number(&a.value, &name.text)?);
                    }
                }
            }
            _ => return Err(builder.unsupported("optimizers other than adamw", e.span)),
        }
    }
    let (schedule, mut warmup) = match options.get("schedule") {
        Some((e, _)) => {
            let kind = callee_name(e).unwrap_or("constant").to_string();
            let warmup = match arg(args(e), "warmup", 0) {
                Some(w) => builder.number(w, "warmup")? as u64,
                None => 0,
            };
            (kind, warmup)
        }
        None => ("constant".to_string(), 0),
    };
    warmup = int("warmup", warmup)?;
    let batch = int("batch", 16)?;
    let micro_batch = int("micro_batch", batch)?;
    let seed = int("seed", 0)?;
    let epochs = int("epochs", 1)?;
    let checkpoint_every = int("checkpoint_every", 20)?;
    let max_steps =
        options.get("max_steps").map(|(e, _)| builder.number(e, "max_steps").map(|x| x as u64)).transpose()?;
    let grad_clip = match options.get("grad_clip") {
        Some((e, _)) => builder.number(e, "grad_clip")?,
        None => 1.0,
    };
    let optional = |key: &str| -> Result<Option<u64>, PlanError> {
        options.get(key).map(|(e, _)| builder.number(e, key).map(|x| x as u64)).transpose()
    };
    let truncation = Truncation { max_len: optional("max_len")?, max_prompt_len: optional("max_prompt_len")? };
    let kl_every = optional("kl_every")?;
    let columns: Vec<String> = {
        let lowered = plumb_lower::lower_loss(&loss, schema.as_ref(), &params).map_err(|e| {
            PlanError::at(
                "P0811",
                format!("`{}` cannot be lowered: {}", loss.name.text, e.message),
                shift(loss_expr.span, builder.offset),
            )
        })?;
        if lowered.uses_tokens {
            return Err(builder.unsupported("token-level losses (PPO-style) in train stages", loss_expr.span));
        }
        lowered.columns.iter().map(|c| c.name.clone()).collect()
    };
    let mut inputs = vec![Input { role: "model".into(), stage: model_stage, part: None }, data_input(&data, "data")?];
    let ref_slots: Vec<String> = columns
        .iter()
        .filter_map(|c| c.strip_prefix("ref_").map(String::from).or_else(|| (c == "ref").then(|| "completion".into())))
        .collect();
    if !ref_slots.is_empty() {
        let reference = match options.get("reference") {
            Some((Expr { kind: ExprKind::Name(n), span }, _)) => match builder.env.get(n) {
                Some(Value_::Model { stage, .. }) => *stage,
                _ => return Err(PlanError::at("P0811", format!("`{n}` is not a model"), shift(*span, builder.offset))),
            },
            Some((e, _)) => builder.model_ref(e)?.0,
            None => {
                // The loss's `reference` role: a frozen model in scope, else the policy's initial weights.
                let frozen = builder.env.values().find_map(|v| match v {
                    Value_::Model { stage, trainable: false, source: Some(source), .. }
                        if *source == train.model.text =>
                    {
                        Some(*stage)
                    }
                    _ => None,
                });
                frozen.unwrap_or_else(|| builder.initial.get(&train.model.text).copied().unwrap_or(model_stage))
            }
        };
        let stage =
            builder.ref_logprobs(&data, reference, ref_slots, truncation, shift(train.data.span, builder.offset));
        inputs.push(Input { role: "ref_logprobs".into(), stage, part: None });
        inputs.push(Input { role: "reference".into(), stage: reference, part: None });
    }
    let _ = model_value;
    let name = builder.unique_name(&format!("train.{}", train.model.text));
    let kind = StageKind::Train {
        loss: loss.name.text.clone(),
        params,
        loss_source: source + &schema.map(|s| format!("{s:?}")).unwrap_or_default(),
        optimizer,
        schedule,
        warmup,
        batch,
        micro_batch,
        epochs,
        max_steps,
        seed,
        grad_clip,
        checkpoint_every,
        kl_every,
        truncation,
    };
    let stage = builder.push(Stage {
        name,
        kind,
        inputs,
        span: shift(train.model.span, builder.offset),
        model: Some(train.model.text.clone()),
        loss_span: Some(shift(loss_expr.span, builder.offset)),
    });
    builder.current.insert(train.model.text.clone(), stage);
    Ok(())
}

fn data_input(data: &Value_, role: &str) -> Result<Input, PlanError> {
    match data {
        Value_::Data { stage, part, .. } => Ok(Input { role: role.into(), stage: *stage, part: part.clone() }),
        _ => Err(PlanError { code: "P0811", message: "expected data".into(), span: None, help: None }),
    }
}

fn eval_stage(builder: &mut Builder, eval: &plumb_syntax::ast::EvalItem) -> Result<(), PlanError> {
    let (model_stage, _) = model_stage(builder, &eval.model)?;
    let data = builder.data(&eval.data)?;
    let mut inputs = vec![Input { role: "model".into(), stage: model_stage, part: None }, data_input(&data, "data")?];
    let mut metrics = Vec::new();
    let reference_of_model = builder.env.values().find_map(|v| match v {
        Value_::Model { stage, trainable: false, source: Some(source), .. } if *source == eval.model.text => {
            Some(*stage)
        }
        _ => None,
    });
    for expr in &eval.metrics {
        let Some(name) = callee_name(expr) else {
            return Err(PlanError::at(
                "P0811",
                "a metric is a call such as `reward_accuracy()`",
                shift(expr.span, builder.offset),
            ));
        };
        let mut models = BTreeMap::new();
        // The metric's model parameters, in their declared order (std.metrics).
        let roles: &[&str] = match name {
            "win_rate" => &["vs", "judge"],
            "mean_reward" => &["judge"],
            "kl_to" => &["reference"],
            _ => &[],
        };
        for (position, &role) in roles.iter().enumerate() {
            let Some(value) = arg(args(expr), role, position) else {
                return Err(PlanError::at(
                    "P0811",
                    format!("`{name}` needs its `{role}` model"),
                    shift(expr.span, builder.offset),
                ));
            };
            let ExprKind::Name(n) = &value.kind else {
                return Err(PlanError::at(
                    "P0811",
                    format!("`{role}` must name a model"),
                    shift(value.span, builder.offset),
                ));
            };
            let span = &value.span;
            let Some(Value_::Model { stage, .. }) = builder.env.get(n) else {
                return Err(PlanError::at("P0811", format!("`{n}` is not a model"), shift(*span, builder.offset)));
            };
            let input_role = format!("{role}:{n}");
            if !inputs.iter().any(|i| i.role == input_role) {
                inputs.push(Input { role: input_role.clone(), stage: *stage, part: None });
            }
            models.insert(role.to_string(), input_role);
        }
        match name {
            "reward_accuracy" | "reward_margin" => {
                let model_role = match &builder.stages[model_stage].kind {
                    StageKind::Model { role, .. } => role.clone(),
                    _ => builder.stages[model_stage]
                        .inputs
                        .iter()
                        .find(|i| i.role == "model")
                        .map(|i| match &builder.stages[i.stage].kind {
                            StageKind::Model { role, .. } => role.clone(),
                            _ => "policy".into(),
                        })
                        .unwrap_or_else(|| "policy".into()),
                };
                if model_role == "policy" {
                    let reference = reference_of_model
                        .or_else(|| builder.initial.get(&eval.model.text).copied())
                        .unwrap_or(model_stage);
                    let stage = builder.ref_logprobs(
                        &data,
                        reference,
                        vec!["chosen".into(), "rejected".into()],
                        Truncation::default(),
                        shift(eval.data.span, builder.offset),
                    );
                    if !inputs.iter().any(|i| i.role == "ref_logprobs") {
                        inputs.push(Input { role: "ref_logprobs".into(), stage, part: None });
                    }
                }
            }
            "win_rate" | "mean_reward" | "kl_to" => {}
            other => return Err(builder.unsupported(&format!("the metric `{other}`"), expr.span)),
        }
        metrics.push(Metric { name: name.to_string(), models });
    }
    let name = builder.unique_name(&format!("eval.{}", eval.model.text));
    let stage = Stage {
        name,
        kind: StageKind::Eval { metrics, seed: 0 },
        inputs,
        span: shift(eval.model.span, builder.offset),
        model: Some(eval.model.text.clone()),
        loss_span: None,
    };
    builder.push(stage);
    Ok(())
}

/// Applies `--set NAME.option=value` overrides (stage names as `plumb status` lists them).
pub fn apply_overrides(plan: &mut Plan, overrides: &[String]) -> Result<(), PlanError> {
    for raw in overrides {
        let bad = |message: String| PlanError { code: "P0813", message, span: None, help: None };
        let (target, value) =
            raw.split_once('=').ok_or_else(|| bad(format!("`--set {raw}`: expected NAME.option=value")))?;
        let (stage_name, option) =
            target.rsplit_once('.').ok_or_else(|| bad(format!("`--set {raw}`: expected NAME.option=value")))?;
        let Some(index) = plan.index(stage_name) else {
            let names: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(bad(format!(
                "`--set {raw}`: there is no stage `{stage_name}`; the stages are {}",
                names.join(", ")
            )));
        };
        let number: f64 = value.trim().parse().map_err(|_| bad(format!("`--set {raw}`: `{value}` is not a number")))?;
        let stage = &mut plan.stages[index];
        let known = match &mut stage.kind {
            StageKind::Train {
                params,
                optimizer,
                warmup,
                batch,
                micro_batch,
                epochs,
                max_steps,
                seed,
                grad_clip,
                checkpoint_every,
                kl_every,
                truncation,
                ..
            } => {
                let as_int = number.max(0.0) as u64;
                match option {
                    "batch" => *batch = as_int,
                    "micro_batch" => *micro_batch = as_int,
                    "epochs" => *epochs = as_int,
                    "max_steps" => *max_steps = Some(as_int),
                    "warmup" => *warmup = as_int,
                    "seed" => *seed = as_int,
                    "grad_clip" => *grad_clip = number,
                    "checkpoint_every" => *checkpoint_every = as_int,
                    "kl_every" => *kl_every = Some(as_int),
                    "max_len" => truncation.max_len = Some(as_int),
                    "max_prompt_len" => truncation.max_prompt_len = Some(as_int),
                    o if optimizer.contains_key(o) => {
                        optimizer.insert(o.to_string(), number);
                    }
                    o if params.contains_key(o) => {
                        params.insert(o.to_string(), number);
                    }
                    _ => return Err(bad(format!("`--set {raw}`: `{stage_name}` has no option `{option}`"))),
                }
                true
            }
            StageKind::Split { holdout, seed } => match option {
                "holdout" => {
                    *holdout = number;
                    true
                }
                "seed" => {
                    *seed = number as u64;
                    true
                }
                _ => false,
            },
            StageKind::Eval { seed, .. } if option == "seed" => {
                *seed = number as u64;
                true
            }
            _ => false,
        };
        if !known {
            return Err(bad(format!("`--set {raw}`: `{stage_name}` has no option `{option}`")));
        }
        plan.overrides.push(raw.clone());
    }
    Ok(())
}

fn fit_stage(builder: &mut Builder, fit: &plumb_syntax::ast::FitItem) -> Result<(), PlanError> {
    let model = match callee_name(&fit.value) {
        Some(m @ ("bradley_terry" | "thurstone" | "davidson" | "plackett_luce")) => m.to_string(),
        _ => return Err(builder.unsupported("this rating model", fit.value.span)),
    };
    let a = args(&fit.value);
    let source = arg(a, "votes", 0)
        .or_else(|| arg(a, "rankings", 0))
        .ok_or_else(|| PlanError::at("P0811", "a fit needs its votes", shift(fit.value.span, builder.offset)))?;
    builder.naming = fit.name.text.clone();
    let data = builder.data(source)?;
    let l2 = match arg(a, "l2", 1) {
        Some(e) => builder.number(e, "l2")?,
        None => 0.0,
    };
    let mut ties = "ignore".to_string();
    let (mut reference, mut tolerance, mut max_iterations, mut backend) = (None, None, None, None);
    if let Some(options) = &fit.options {
        for (name, (value, span)) in builder.options(options)? {
            match (name.as_str(), literal(&value)) {
                ("ties", Some(Value::String(t))) if t == "half" || t == "ignore" => ties = t,
                ("reference", Some(Value::String(r))) => reference = Some(r),
                ("tolerance", Some(Value::Number(t))) if t.as_f64().is_some_and(|t| t > 0.0) => {
                    tolerance = t.as_f64();
                }
                ("max_iterations", Some(Value::Number(n))) if n.as_u64().is_some_and(|n| n >= 1) => {
                    max_iterations = n.as_u64();
                }
                ("backend", Some(Value::String(b))) if b == "cpu" => backend = None,
                ("backend", Some(Value::String(b))) if b == "gpu" => backend = Some(b),
                _ => return Err(builder.unsupported(&format!("the fit option `{name}` here"), span)),
            }
        }
    }
    let name = builder.unique_name(&format!("fit.{}", fit.name.text));
    let stage = builder.push(Stage {
        name,
        kind: StageKind::Fit { model, l2, ties, reference, tolerance, max_iterations, backend },
        inputs: vec![data_input(&data, "data")?],
        span: shift(fit.name.span, builder.offset),
        model: None,
        loss_span: None,
    });
    builder.env.insert(fit.name.text.clone(), Value_::Ratings { stage });
    Ok(())
}

fn report_stage(builder: &mut Builder, expr: &Expr) -> Result<(), PlanError> {
    if callee_name(expr) != Some("leaderboard") {
        return Err(builder.unsupported("this report", expr.span));
    }
    let a = args(expr);
    let Some(Expr { kind: ExprKind::Name(name), span }) = arg(a, "ratings", 0) else {
        return Err(PlanError::at(
            "P0811",
            "leaderboard takes fitted ratings by name",
            shift(expr.span, builder.offset),
        ));
    };
    let Some(Value_::Ratings { stage: fit }) = builder.env.get(name).cloned() else {
        return Err(PlanError::at("P0811", format!("`{name}` is not a `fit` result"), shift(*span, builder.offset)));
    };
    let (bootstrap, seed) = match arg(a, "ci", 1) {
        Some(ci) if callee_name(ci) == Some("bootstrap") => {
            let n = match arg(args(ci), "n", 0) {
                Some(e) => builder.number(e, "n")? as u64,
                None => 200,
            };
            let seed = match arg(args(ci), "seed", 1) {
                Some(e) => builder.number(e, "seed")? as u64,
                None => 0,
            };
            (n, seed)
        }
        Some(other) => return Err(builder.unsupported("this interval", other.span)),
        None => (0, 0),
    };
    let data = builder.stages[fit].inputs[0].clone();
    let stage_name = builder.unique_name(&format!("report.{name}"));
    builder.push(Stage {
        name: stage_name,
        kind: StageKind::Leaderboard { bootstrap, seed, fit: Box::new(builder.stages[fit].kind.clone()) },
        inputs: vec![Input { role: "ratings".into(), stage: fit, part: None }, data],
        span: shift(expr.span, builder.offset),
        model: None,
        loss_span: None,
    });
    Ok(())
}
