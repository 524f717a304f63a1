//! Which salsa queries re-run after an edit: a one-line change inside one item
//! re-parses and re-checks that item only.

use plumb_db::RootDatabase;
use plumb_hir::file_diagnostics;

const RECIPE: &str = r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.train.adamw

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1, seed = 7)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

loss margin(beta: f32 > 0 = 0.1) on Pairwise {
    let rho = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    -log_sigmoid(beta * rho)
}

train policy on parts.train {
    loss = dpo(beta = 0.1)
    optimizer = adamw(lr = 1e-4)
    batch = 16
}

train policy on parts.holdout {
    loss = margin()
}
"#;

fn count(executed: &[String], query: &str) -> usize {
    executed.iter().filter(|e| e.starts_with(&format!("{query}("))).count()
}

#[test]
fn one_line_edit_rechecks_one_item() {
    let mut db = RootDatabase::default();
    let file = db.set_file("recipe.plumb", RECIPE.to_string());
    assert!(file_diagnostics(&db, file).is_empty(), "{:#?}", file_diagnostics(&db, file));

    db.start_recording();
    db.set_file("recipe.plumb", RECIPE.replace("dpo(beta = 0.1)", "dpo(beta = 0.25)"));
    assert!(file_diagnostics(&db, file).is_empty());
    let executed = db.take_executed();

    assert_eq!(count(&executed, "file_items"), 1, "{executed:#?}");
    assert_eq!(count(&executed, "parse_item_text"), 1, "only the edited item is parsed: {executed:#?}");
    assert_eq!(count(&executed, "check_item"), 1, "only the edited item is checked: {executed:#?}");
    assert_eq!(count(&executed, "binding_type"), 0, "no binding is re-typed: {executed:#?}");
    assert_eq!(count(&executed, "loss_use"), 0, "{executed:#?}");
    assert_eq!(count(&executed, "file_diagnostics"), 1, "{executed:#?}");
}

#[test]
fn edit_that_shifts_later_items_reuses_their_checks() {
    let mut db = RootDatabase::default();
    let file = db.set_file("recipe.plumb", RECIPE.to_string());
    file_diagnostics(&db, file);
    db.start_recording();
    // Insert a comment line near the top: every later item moves, none changes.
    db.set_file("recipe.plumb", RECIPE.replacen("\nlet prefs", "\n// the data\nlet prefs", 1));
    let diagnostics = file_diagnostics(&db, file);
    assert!(diagnostics.is_empty());
    let executed = db.take_executed();
    assert!(count(&executed, "check_item") <= 1, "{executed:#?}");
}

#[test]
fn an_edit_that_breaks_an_item_reports_it_and_recovers() {
    let mut db = RootDatabase::default();
    let file = db.set_file("recipe.plumb", RECIPE.to_string());
    file_diagnostics(&db, file);
    db.set_file("recipe.plumb", RECIPE.replace("batch = 16", "batch = 1.5"));
    let codes: Vec<&str> = file_diagnostics(&db, file).iter().map(|d| d.code).collect();
    assert_eq!(codes, ["P0309"]);
    db.set_file("recipe.plumb", RECIPE.to_string());
    assert!(file_diagnostics(&db, file).is_empty());
}
