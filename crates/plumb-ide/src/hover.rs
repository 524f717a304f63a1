//! Hover: markdown for the name or loss-body expression at an offset.

use crate::HoverResult;
use crate::resolve::{MODEL_METHODS, Occurrence, Target, item_at, walk_item};
use plumb_db::{Db, SourceFile};
use plumb_diag::Span;
use plumb_hir::types::{Dim, Dims, Type};
use plumb_hir::{DefRef, ItemText, file_items, parse_item_text};
use plumb_syntax::ast::*;
use std::fmt::Write;

/// The name occurrence at `offset` (a cursor just after a name counts too).
pub(crate) fn occurrence_at(db: &dyn Db, file: SourceFile, offset: u32) -> Option<Occurrence> {
    let index = item_at(db, file, offset)?;
    let walk = walk_item(db, file, index);
    let inside = |o: &&Occurrence| o.span.start <= offset && offset < o.span.end;
    let touching = |o: &&Occurrence| o.span.start <= offset && offset <= o.span.end;
    let smallest = |list: Vec<&Occurrence>| list.into_iter().min_by_key(|o| o.span.len()).cloned();
    smallest(walk.occurrences.iter().filter(inside).collect())
        .or_else(|| smallest(walk.occurrences.iter().filter(touching).collect()))
}

pub(crate) fn hover(db: &dyn Db, file: SourceFile, offset: u32) -> Option<HoverResult> {
    if let Some(occurrence) = occurrence_at(db, file, offset) {
        let markdown = match &occurrence.target {
            Some(target) => describe_target(db, target, occurrence.ty.as_ref()),
            None => occurrence.ty.as_ref().map(|ty| code(&ty.to_string())),
        };
        return markdown.map(|markdown| HoverResult { markdown, range: occurrence.span });
    }
    // Not on a name: the innermost typed loss-body expression around the offset.
    let index = item_at(db, file, offset)?;
    let walk = walk_item(db, file, index);
    let (span, ty) =
        walk.expr_types.iter().filter(|(s, _)| s.start <= offset && offset < s.end).min_by_key(|(s, _)| s.len())?;
    let mut markdown = code(&ty.to_string());
    if let Some(dims) = dims_line(ty) {
        let _ = write!(markdown, "\n{dims}");
    }
    Some(HoverResult { markdown, range: *span })
}

fn code(text: &str) -> String {
    format!("```plumb\n{text}\n```")
}

/// "per example (dims: batch, tok)" for value types.
fn dims_line(ty: &Type) -> Option<String> {
    let Type::Value { dims, .. } = ty else {
        return None;
    };
    Some(describe_dims(*dims))
}

fn describe_dims(dims: Dims) -> String {
    let names: Vec<&str> = dims.iter().map(Dim::name).collect();
    let what = if dims.has(Dim::Tok) {
        "one per token of each example"
    } else if dims.has(Dim::K) {
        "one per candidate of each example"
    } else if dims.has(Dim::Batch) {
        "one per example"
    } else {
        "a single number for the batch"
    };
    if names.is_empty() { format!("{what} (no dims)") } else { format!("{what} (dims: {})", names.join(", ")) }
}

/// The source text of an item-relative span.
fn source(db: &dyn Db, item: ItemText, span: Span) -> String {
    item.text(db).get(span.range()).unwrap_or("").to_string()
}

pub(crate) fn type_text(ty: &TypeExpr) -> String {
    let mut out = ty.name.text.clone();
    if !ty.dims.is_empty() {
        out.push('[');
        out.push_str(&ty.dims.iter().map(|d| d.text.as_str()).collect::<Vec<_>>().join(", "));
        out.push(']');
    }
    if ty.optional {
        out.push('?');
    }
    out
}

/// `beta: f32 > 0 = 0.1`
pub(crate) fn param_text(db: &dyn Db, item: ItemText, param: &Param) -> String {
    let mut out = format!("{}: {}", param.name.text, type_text(&param.ty));
    if let Some(constraint) = &param.constraint {
        let _ = write!(out, " {}", constraint.describe());
    }
    if let Some(default) = &param.default {
        let _ = write!(out, " = {}", source(db, item, default.span));
    }
    out
}

/// The one-line signature of a loss or function definition.
pub(crate) fn signature(db: &dyn Db, def: DefRef) -> Option<String> {
    let parse = parse_item_text(db, def.item);
    let item = parse.item.as_ref()?;
    Some(match &item.kind {
        ItemKind::Loss(loss) => {
            let params: Vec<String> = loss.params.iter().map(|p| param_text(db, def.item, p)).collect();
            let on = loss.schema.as_ref().map(|s| format!(" on {}", s.text)).unwrap_or_default();
            format!("loss {}({}){on}", loss.name.text, params.join(", "))
        }
        ItemKind::Extern(ext) => {
            let params: Vec<String> = ext.params.iter().map(|p| param_text(db, def.item, p)).collect();
            format!("fn {}({}) -> {}", ext.name.text, params.join(", "), type_text(&ext.ret))
        }
        _ => return None,
    })
}

/// The doc comment of a definition.
pub(crate) fn doc_of(db: &dyn Db, def: DefRef) -> Option<String> {
    parse_item_text(db, def.item).item.as_ref().and_then(|i| i.doc.clone())
}

fn where_defined(db: &dyn Db, file: SourceFile) -> String {
    let path = file.path(db);
    match path.strip_prefix("std/").and_then(|p| p.strip_suffix(".plumb")) {
        Some(module) => format!("*from `std.{module}`*"),
        None => format!("*defined in `{}`*", short_path(path)),
    }
}

fn short_path(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn describe_target(db: &dyn Db, target: &Target, ty: Option<&Type>) -> Option<String> {
    let mut out = String::new();
    match target {
        Target::Global(def) => return Some(describe_global(db, *def, ty)),
        Target::File(file) => {
            let _ = write!(out, "`{}`", file.path(db));
            if let Some(doc) = &file_items(db, *file).module_doc {
                let _ = write!(out, "\n\n{doc}");
            }
        }
        Target::Local { .. } => {
            let name_ty = ty.map(|t| format!(": {t}")).unwrap_or_default();
            out = code(&format!("let {}{name_ty}", local_name(db, target).unwrap_or_default()));
            if let Some(dims) = ty.and_then(dims_line) {
                let _ = write!(out, "\n\n{dims}");
            }
        }
        Target::Param { owner, name } => {
            let parse = parse_item_text(db, owner.item);
            let (params, what, owner_name) = match parse.item.as_ref().map(|i| &i.kind) {
                Some(ItemKind::Loss(l)) => (&l.params, "loss", &l.name.text),
                Some(ItemKind::Extern(e)) => (&e.params, "function", &e.name.text),
                _ => return None,
            };
            let param = params.iter().find(|p| p.name.text == *name)?;
            out = code(&param_text(db, owner.item, param));
            let _ = write!(out, "\n\nparameter of {what} `{owner_name}`");
            if let Some(constraint) = &param.constraint {
                let _ = write!(out, "; must be {}", constraint.describe());
            }
            match &param.default {
                Some(default) => {
                    let _ = write!(out, "; default `{}`", source(db, owner.item, default.span));
                }
                None => out.push_str("; required"),
            }
            if let Some(ty) = ty.and_then(dims_line) {
                let _ = write!(out, "\n\n{ty}");
            }
        }
        Target::Column { schema, name } => {
            let parse = parse_item_text(db, schema.item);
            let Some(ItemKind::Schema(s)) = parse.item.as_ref().map(|i| &i.kind) else {
                return None;
            };
            let field = s.fields.iter().find(|f| f.name.text == *name)?;
            let default = field.default.as_ref().map(|d| format!(" = {}", source(db, schema.item, d.span)));
            out = code(&format!("{}: {}{}", name, type_text(&field.ty), default.unwrap_or_default()));
            let _ = write!(out, "\n\ncolumn of schema `{}`", s.name.text);
            if field.ty.optional {
                out.push_str("; may be missing in a row");
            }
            if let Some(ty) = ty.and_then(dims_line) {
                let _ = write!(out, "\n\n{ty}");
            }
        }
        Target::Role(role) => {
            out = code(&format!("{role}: Model"));
            out.push_str(if role == "policy" {
                "\n\nmodel role: the model the stage trains (gradients flow through its calls)"
            } else {
                "\n\nmodel role: the stage's frozen reference (its `reference = ...` option, or the recipe's one `frozen` copy of the policy); a constant for gradients"
            });
        }
        Target::Dim(dim) => {
            out = code(&format!("dim {}", dim.name()));
            out.push_str(match dim {
                Dim::Batch => "\n\nthe examples of the batch; implicit on every per-example value",
                Dim::Tok => "\n\nthe tokens of a completion: ragged, with a mask",
                Dim::K => "\n\nthe candidates of a list (`Text[k]`)",
            });
        }
        Target::Method(method) => {
            let (_, what) = MODEL_METHODS.iter().find(|(m, _)| m == method)?;
            out = code(&format!("{method}(completion | prompt)"));
            let _ = write!(out, "\n\n{what}");
        }
        Target::Option { stage, name } => {
            let table = option_table(stage);
            let (_, kind, what) = table.iter().find(|(n, _, _)| n == name)?;
            out = code(&format!("{name} = …"));
            let _ = write!(out, "\n\noption of `{stage}`: {what}\n\nvalue: {}", kind.describe());
        }
        Target::Member(name) => {
            let ty = ty?;
            out = code(&format!("{name}: {ty}"));
        }
    }
    Some(out)
}

pub(crate) fn option_table(stage: &str) -> plumb_hir::OptionTable {
    match stage {
        "train" => plumb_hir::TRAIN_OPTIONS,
        "sampler" => plumb_hir::SAMPLER_OPTIONS,
        "selector" => plumb_hir::SELECTOR_OPTIONS,
        "fit" => plumb_hir::FIT_OPTIONS,
        _ => &[],
    }
}

fn local_name(db: &dyn Db, target: &Target) -> Option<String> {
    let Target::Local { file, def } = target else {
        return None;
    };
    file.text(db).get(def.range()).map(str::to_string)
}

fn describe_global(db: &dyn Db, def: DefRef, ty: Option<&Type>) -> String {
    let parse = parse_item_text(db, def.item);
    let Some(item) = parse.item.as_ref() else {
        return String::new();
    };
    let name = item.kind.defined_name().map(|n| n.text.clone()).unwrap_or_default();
    let mut out = String::new();
    match &item.kind {
        ItemKind::Loss(loss) => {
            out = code(&signature(db, def).unwrap_or_default());
            if let Some(usage) = plumb_hir::loss_use(db, def.file, def.item) {
                let mut needs = Vec::new();
                if let Some(schema) = &usage.schema {
                    needs.push(format!("{schema} data"));
                }
                if usage.uses_reference {
                    needs.push("a `reference` model".into());
                }
                if usage.uses_reward {
                    needs.push("a reward model to train".into());
                }
                if !needs.is_empty() {
                    let _ = write!(out, "\n\nneeds {}", needs.join(", "));
                }
            }
            if let Some(doc) = &item.doc {
                let _ = write!(out, "\n\n{doc}");
            }
            if !loss.params.is_empty() {
                out.push_str("\n\n**Parameters**\n");
                for param in &loss.params {
                    let _ = write!(out, "\n- `{}`: {}", param.name.text, type_text(&param.ty));
                    if let Some(constraint) = &param.constraint {
                        let _ = write!(out, ", {}", constraint.describe());
                    }
                    match &param.default {
                        Some(default) => {
                            let _ = write!(out, ", default `{}`", source(db, def.item, default.span));
                        }
                        None => out.push_str(", required"),
                    }
                }
            }
        }
        ItemKind::Extern(_) => {
            out = code(&signature(db, def).unwrap_or_default());
            if let Some(doc) = &item.doc {
                let _ = write!(out, "\n\n{doc}");
            }
        }
        ItemKind::Schema(schema) => {
            let fields: Vec<String> = schema
                .fields
                .iter()
                .map(|f| {
                    let default = f.default.as_ref().map(|d| format!(" = {}", source(db, def.item, d.span)));
                    format!("    {}: {}{},", f.name.text, type_text(&f.ty), default.unwrap_or_default())
                })
                .collect();
            out = code(&format!("schema {name} {{\n{}\n}}", fields.join("\n")));
            if let Some(doc) = &item.doc {
                let _ = write!(out, "\n\n{doc}");
            }
        }
        ItemKind::Let(_) | ItemKind::Model(_) | ItemKind::Fit(_) => {
            let keyword = item.kind.keyword();
            let ty = ty.cloned().unwrap_or_else(|| plumb_hir::binding_type(db, def.file, def.item));
            out = code(&format!("{keyword} {name}: {ty}"));
            if let Type::Model(kind) = &ty {
                let role = match kind {
                    plumb_hir::ModelKind::Policy => "trainable: it can be the `policy` of a `train` stage",
                    plumb_hir::ModelKind::RewardModel => "trainable reward model; scores completions",
                    plumb_hir::ModelKind::Frozen { .. } => {
                        "frozen: it can be a stage's `reference`, and is never trained"
                    }
                    plumb_hir::ModelKind::Judge => "a judge: scores completions, never trained",
                };
                let _ = write!(out, "\n\n{}: {role}", kind.describe());
            }
            if let Some(doc) = &item.doc {
                let _ = write!(out, "\n\n{doc}");
            }
        }
        ItemKind::Sampler(options) | ItemKind::Selector(options) => {
            let keyword = item.kind.keyword();
            let set: Vec<String> = options
                .options
                .entries
                .iter()
                .filter_map(|e| match e {
                    OptionEntry::Set { name, value, .. } => {
                        Some(format!("    {} = {}", name.text, source(db, def.item, value.span)))
                    }
                    OptionEntry::Constraint { .. } => None,
                })
                .collect();
            out = code(&format!("{keyword} {name} {{\n{}\n}}", set.join("\n")));
            if let Some(doc) = &item.doc {
                let _ = write!(out, "\n\n{doc}");
            }
        }
        _ => {}
    }
    let _ = write!(out, "\n\n{}", where_defined(db, def.file));
    out
}
