//! The embedded stdlib checks without a single diagnostic, and defines every
//! loss of the losses spec with the spec's parameter names and defaults.

use plumb_db::{RootDatabase, STDLIB, std_path};
use plumb_hir::{DefKind, file_diagnostics, own_defs, parse_item_text};
use plumb_syntax::ast::{ExprKind, ItemKind};

#[test]
fn stdlib_is_clean() {
    let db = RootDatabase::default();
    for (module, _) in STDLIB {
        let file = db.file(&std_path(module)).expect("stdlib module is loaded");
        let diagnostics = file_diagnostics(&db, file);
        assert!(diagnostics.is_empty(), "std/{module}.plumb: {diagnostics:#?}");
    }
}

/// (loss, [(parameter, default)]) from the losses spec.
const SPEC: &[(&str, &[(&str, f64)])] = &[
    ("dpo", &[("beta", 0.1), ("label_smoothing", 0.0)]),
    ("dpo_hinge", &[("beta", 0.1)]),
    ("ipo", &[("beta", 0.1), ("normalize_length", 1.0)]),
    ("exo_pair", &[("beta", 0.1), ("label_smoothing", 1e-3)]),
    ("nca_pair", &[("beta", 0.1)]),
    ("robust_dpo", &[("beta", 0.1), ("label_smoothing", 0.1)]),
    ("bco_pair", &[("beta", 0.1)]),
    ("sppo_hard", &[("beta", 0.1)]),
    ("apo_zero", &[("beta", 0.1)]),
    ("apo_down", &[("beta", 0.1)]),
    ("discopop", &[("beta", 0.1), ("tau", 0.05)]),
    ("dpo_norm", &[("beta", 0.1)]),
    ("aot", &[("beta", 0.1), ("label_smoothing", 0.0)]),
    ("aot_unpaired", &[("beta", 0.1), ("label_smoothing", 0.0)]),
    ("kto", &[("beta", 0.1), ("desirable_weight", 1.0), ("undesirable_weight", 1.0)]),
    ("orpo", &[("beta", 0.1)]),
    ("cpo", &[("beta", 0.1), ("label_smoothing", 0.0), ("alpha", 1.0)]),
    ("simpo", &[("beta", 2.0), ("gamma", 0.5), ("alpha", 0.0)]),
    ("reward_bt", &[("center", 0.0)]),
    ("ppo_clip", &[("clip", 0.2), ("token_level", 1.0)]),
];

#[test]
fn every_spec_loss_is_defined_with_its_parameters() {
    let db = RootDatabase::default();
    let file = db.file(&std_path("losses")).expect("losses module");
    let defs = own_defs(&db, file);
    for (name, params) in SPEC {
        let def = defs.get(*name).unwrap_or_else(|| panic!("std.losses lacks `{name}`"));
        assert_eq!(def.kind, DefKind::Loss);
        let parse = parse_item_text(&db, def.item);
        let Some(ItemKind::Loss(loss)) = parse.item.as_ref().map(|i| &i.kind) else { panic!("{name} is a loss") };
        let actual: Vec<(String, f64)> = loss
            .params
            .iter()
            .map(|p| {
                let default = match p.default.as_ref().map(|d| &d.kind) {
                    Some(ExprKind::Number { value, .. }) => value.0,
                    Some(ExprKind::Bool(b)) => f64::from(u8::from(*b)),
                    other => panic!("{name}.{} has default {other:?}", p.name.text),
                };
                (p.name.text.clone(), default)
            })
            .collect();
        let expected: Vec<(String, f64)> = params.iter().map(|(n, d)| (n.to_string(), *d)).collect();
        assert_eq!(actual, expected, "parameters of {name}");
        assert!(!loss.body.span.is_empty());
        let doc = parse.item.as_ref().and_then(|i| i.doc.clone()).unwrap_or_default();
        assert!(doc.contains("20"), "{name} cites its paper (year) in its doc comment: {doc:?}");
    }
}
