//! Read-only walks over the AST: the names an item mentions, and the roles a
//! loss body calls. Recursion is bounded by the AST's depth limit.

use crate::types::LossUse;
use plumb_syntax::ast::*;
use std::collections::BTreeSet;

/// Calls `f` on `expr` and every expression inside it.
pub fn each_expr(expr: &Expr, f: &mut impl FnMut(&Expr)) {
    f(expr);
    match &expr.kind {
        ExprKind::List(items) => items.iter().for_each(|e| each_expr(e, f)),
        ExprKind::Paren(e) | ExprKind::Unary(_, e) | ExprKind::Field(e, _) | ExprKind::Cast(e, _) => each_expr(e, f),
        ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => {
            each_expr(a, f);
            each_expr(b, f);
        }
        ExprKind::Call { callee, args } => {
            each_expr(callee, f);
            for arg in args {
                each_expr(&arg.value, f);
                if let Some(given) = &arg.given {
                    each_expr(given, f);
                }
            }
        }
        ExprKind::If { cond, then, otherwise } => {
            each_expr(cond, f);
            each_block(then, f);
            each_block(otherwise, f);
        }
        ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Name(_) | ExprKind::Error => {}
    }
}

pub fn each_block(block: &Block, f: &mut impl FnMut(&Expr)) {
    for binding in &block.lets {
        each_expr(&binding.value, f);
    }
    each_expr(&block.value, f);
}

fn each_item_expr(item: &Item, f: &mut impl FnMut(&Expr)) {
    match &item.kind {
        ItemKind::Use(_) | ItemKind::Extern(_) => {}
        ItemKind::Schema(schema) => {
            schema.fields.iter().filter_map(|x| x.default.as_ref()).for_each(|e| each_expr(e, f))
        }
        ItemKind::Let(b) | ItemKind::Model(b) => each_expr(&b.value, f),
        ItemKind::Loss(loss) => {
            loss.params.iter().filter_map(|p| p.default.as_ref()).for_each(|e| each_expr(e, f));
            each_block(&loss.body, f);
        }
        ItemKind::Train(train) => {
            each_expr(&train.data, f);
            each_options(&train.options, f);
        }
        ItemKind::Fit(fit) => {
            each_expr(&fit.value, f);
            if let Some(options) = &fit.options {
                each_options(options, f);
            }
        }
        ItemKind::Eval(eval) => {
            each_expr(&eval.data, f);
            eval.metrics.iter().for_each(|e| each_expr(e, f));
        }
        ItemKind::Report(e) => each_expr(e, f),
        ItemKind::Repeat(repeat) => {
            each_expr(&repeat.count, f);
            repeat.items.iter().for_each(|i| each_item_expr(i, f));
        }
        ItemKind::Sampler(o) | ItemKind::Selector(o) => each_options(&o.options, f),
    }
}

fn each_options(options: &Options, f: &mut impl FnMut(&Expr)) {
    for entry in &options.entries {
        match entry {
            OptionEntry::Set { value, .. } => each_expr(value, f),
            OptionEntry::Constraint { expr, .. } => each_expr(expr, f),
        }
    }
}

/// Adds every name an item refers to (not the names it defines) to `used`.
pub fn names_used(item: &Item, used: &mut BTreeSet<String>) {
    each_item_expr(item, &mut |e| match &e.kind {
        ExprKind::Name(n) => {
            used.insert(n.clone());
        }
        ExprKind::Cast(_, schema) => {
            used.insert(schema.text.clone());
        }
        _ => {}
    });
    fn type_names(ty: &TypeExpr, used: &mut BTreeSet<String>) {
        used.insert(ty.name.text.clone());
    }
    match &item.kind {
        ItemKind::Train(t) => {
            used.insert(t.model.text.clone());
        }
        ItemKind::Eval(e) => {
            used.insert(e.model.text.clone());
        }
        ItemKind::Loss(l) => {
            if let Some(schema) = &l.schema {
                used.insert(schema.text.clone());
            }
            l.params.iter().for_each(|p| type_names(&p.ty, used));
        }
        ItemKind::Schema(s) => s.fields.iter().for_each(|f| type_names(&f.ty, used)),
        ItemKind::Repeat(r) => r.items.iter().for_each(|i| names_used(i, used)),
        _ => {}
    }
}

/// The roles and schema a loss body uses.
pub fn loss_use(loss: &LossItem) -> LossUse {
    let mut usage = LossUse {
        name: loss.name.text.clone(),
        schema: loss.schema.as_ref().map(|s| s.text.clone()),
        uses_reference: false,
        uses_reward: false,
        uses_logp: false,
    };
    each_block(&loss.body, &mut |e| {
        if let ExprKind::Call { callee, .. } = &e.kind
            && let ExprKind::Field(receiver, method) = &callee.kind
            && let ExprKind::Name(role) = &receiver.kind
        {
            match (role.as_str(), method.text.as_str()) {
                ("reference", _) => usage.uses_reference = true,
                ("policy", "reward") => usage.uses_reward = true,
                ("policy", _) => usage.uses_logp = true,
                _ => {}
            }
        }
    });
    usage
}
