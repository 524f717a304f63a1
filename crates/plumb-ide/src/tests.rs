//! Unit tests of the editor API: hover, definition, references, completion,
//! symbols, semantic tokens and formatting on small recipes. A `$0` in a source
//! marks the cursor.

use crate::*;

const RECIPE: &str = r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.train.adamw
use "lib.plumb".{shared_margin}

/// Preference pairs about reviews.
let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1, seed = 7)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

/// A margin loss.
loss margin(beta: f32 > 0 = 0.1, gamma: f32 in [0, 1) = 0.5) on Pairwise {
    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    let per_tok = policy.logp_tokens(chosen | prompt)
    let h = beta * rho_c - gamma + mean(per_tok, over = tok)
    -log_sigmoid(h)
}

train policy on parts.train {
    loss = dpo(beta = 0.1)
    optimizer = adamw(lr = 1e-4)
    batch = 16
}

train policy on parts.train {
    loss = shared_margin()
    batch = 8
}

train policy on parts.train { loss = margin(beta = 0.2) }
"#;

const LIB: &str = r#"use std.data.Pairwise

/// A margin shared between recipes.
loss shared_margin(beta: f32 > 0 = 0.1) on Pairwise {
    -log_sigmoid(beta * (policy.logp(chosen | prompt) - policy.logp(rejected | prompt)))
}
"#;

const MAIN: &str = "/w/recipe.plumb";

/// A host with the recipe (cursor markers removed) and the library; the offset of `$0`.
fn host_with(source: &str) -> (AnalysisHost, u32) {
    let offset = source.find("$0").unwrap_or(0) as u32;
    let mut host = AnalysisHost::new();
    host.set_file_text(MAIN, source.replacen("$0", "", 1));
    host.set_file_text("/w/lib.plumb", LIB.to_string());
    (host, offset)
}

/// `RECIPE` with the cursor placed at the `n`th occurrence of `needle`, plus `delta` bytes.
fn at(needle: &str, n: usize, delta: usize) -> (AnalysisHost, u32) {
    let start = RECIPE.match_indices(needle).nth(n).map(|(i, _)| i).expect("needle in recipe");
    let cursor = start + delta;
    host_with(&format!("{}$0{}", &RECIPE[..cursor], &RECIPE[cursor..]))
}

fn hover_text(needle: &str, n: usize, delta: usize) -> String {
    let (host, offset) = at(needle, n, delta);
    host.analysis().hover(MAIN, offset).map(|h| h.markdown).unwrap_or_default()
}

fn labels(items: &[CompletionItem]) -> Vec<&str> {
    items.iter().map(|i| i.label.as_str()).collect()
}

fn text_of(host: &AnalysisHost, range: &FileRange) -> String {
    host.analysis().file_text(&range.path).unwrap_or_default()[range.range.range()].to_string()
}

#[test]
fn the_recipe_checks_clean_apart_from_the_missing_data_file() {
    let (host, _) = host_with(RECIPE);
    let codes: Vec<&str> = host.analysis().diagnostics(MAIN).iter().map(|d| d.code).collect();
    assert_eq!(codes, vec!["P0330"], "{:?}", host.analysis().diagnostics(MAIN));
}

#[test]
fn hover_on_a_stdlib_loss_shows_signature_doc_and_parameters() {
    let text = hover_text("dpo(beta", 0, 1);
    assert!(
        text.contains("loss dpo(beta: f32 > 0 = 0.1, label_smoothing: f32 in [0, 0.5) = 0.0) on Pairwise"),
        "{text}"
    );
    assert!(text.contains("DPO: -(1 - ε)·ls(βΔ)"), "the formula doc: {text}");
    assert!(text.contains("- `beta`: f32, > 0, default `0.1`"), "{text}");
    assert!(text.contains("a `reference` model"), "{text}");
    assert!(text.contains("std.losses"), "{text}");
}

#[test]
fn hover_on_a_named_argument_shows_the_parameter() {
    let text = hover_text("beta = 0.1)", 0, 1);
    assert!(text.contains("beta: f32 > 0 = 0.1"), "{text}");
    assert!(text.contains("parameter of loss `dpo`; must be > 0; default `0.1`"), "{text}");
}

#[test]
fn hover_inside_a_loss_body_gives_types_and_dims() {
    let per_tok = hover_text("per_tok =", 0, 1);
    assert!(per_tok.contains("let per_tok: f32[tok]"), "{per_tok}");
    assert!(per_tok.contains("one per token"), "{per_tok}");
    let h = hover_text("h = beta", 0, 0);
    assert!(h.contains("let h: f32"), "{h}");
    assert!(h.contains("one per example (dims: batch)"), "{h}");
    let column = hover_text("chosen | prompt", 0, 1);
    assert!(column.contains("chosen: Text") && column.contains("column of schema `Pairwise`"), "{column}");
    let gamma = hover_text("gamma + mean", 0, 1);
    assert!(gamma.contains("gamma: f32 in [0, 1) = 0.5"), "{gamma}");
    let role = hover_text("reference.logp", 0, 1);
    assert!(role.contains("model role"), "{role}");
    let method = hover_text("logp_tokens", 0, 2);
    assert!(method.contains("f32[tok]"), "{method}");
    let dim = hover_text("over = tok", 0, 8);
    assert!(dim.contains("dim tok"), "{dim}");
    // Not on a name: the expression's type.
    let minus = hover_text("-log_sigmoid", 0, 0);
    assert!(minus.contains("f32"), "{minus}");
}

#[test]
fn hover_on_bindings_models_schemas_and_options() {
    let parts = hover_text("parts.train", 0, 1);
    assert!(parts.contains("let parts: Split[Pairwise]"), "{parts}");
    let prefs = hover_text("prefs =", 0, 1);
    assert!(prefs.contains("Data[Pairwise]") && prefs.contains("Preference pairs about reviews."), "{prefs}");
    let model = hover_text("reference = frozen", 0, 1);
    assert!(model.contains("model reference: Model (a frozen copy of `policy`)"), "{model}");
    assert!(model.contains("never trained"), "{model}");
    let schema = hover_text("as Pairwise", 0, 4);
    assert!(schema.contains("schema Pairwise {") && schema.contains("margin: f32 = 0.0"), "{schema}");
    let option = hover_text("batch = 16", 0, 1);
    assert!(option.contains("option of `train`: examples per optimizer step"), "{option}");
    let train = hover_text("parts.train {", 0, 7);
    assert!(train.contains("train: Data[Pairwise]"), "{train}");
    let own = hover_text("margin(beta = 0.2)", 0, 1);
    assert!(own.contains("A margin loss.") && own.contains("- `gamma`: f32, in [0, 1), default `0.5`"), "{own}");
}

#[test]
fn definitions_local_cross_file_stdlib_and_in_loss_bodies() {
    let analysis = |needle: &str, n: usize, delta: usize| {
        let (host, offset) = at(needle, n, delta);
        let target = host.analysis().goto_definition(MAIN, offset).expect("a definition");
        (target.path.clone(), text_of(&host, &target), target.range.start)
    };
    // A top-level name of the same file.
    let (path, text, start) = analysis("parts.train", 0, 1);
    assert_eq!((path.as_str(), text.as_str()), (MAIN, "parts"));
    assert_eq!(start as usize, RECIPE.find("parts =").unwrap());
    // An imported name in another file.
    let (path, text, _) = analysis("shared_margin()", 0, 2);
    assert_eq!((path.as_str(), text.as_str()), ("/w/lib.plumb", "shared_margin"));
    // The stdlib.
    let (path, text, _) = analysis("dpo(beta", 0, 0);
    assert_eq!((path.as_str(), text.as_str()), ("std/losses.plumb", "dpo"));
    let (path, text, _) = analysis("log_sigmoid(h)", 0, 3);
    assert_eq!((path.as_str(), text.as_str()), ("std/math.plumb", "log_sigmoid"));
    // A named argument goes to the parameter.
    let (path, text, _) = analysis("beta = 0.1)", 0, 0);
    assert_eq!((path.as_str(), text.as_str()), ("std/losses.plumb", "beta"));
    // Inside a loss body: a `let`, a parameter, a column.
    let (path, text, start) = analysis("rho_c - gamma", 0, 1);
    assert_eq!((path.as_str(), text.as_str()), (MAIN, "rho_c"));
    assert_eq!(start as usize, RECIPE.find("rho_c =").unwrap());
    let (_, text, start) = analysis("beta * rho_c", 0, 0);
    assert_eq!((text.as_str(), start as usize), ("beta", RECIPE.find("beta: f32").unwrap()));
    let (path, text, _) = analysis("chosen | prompt", 0, 0);
    assert_eq!((path.as_str(), text.as_str()), ("std/data.plumb", "chosen"));
    // A module path opens the module.
    let (path, _, start) = analysis("losses.dpo", 0, 1);
    assert_eq!((path.as_str(), start), ("std/losses.plumb", 0));
}

#[test]
fn references_of_a_binding_a_parameter_and_a_stdlib_loss() {
    let (host, offset) = at("parts =", 0, 0);
    let refs = host.analysis().find_references(MAIN, offset, true);
    assert_eq!(refs.len(), 4, "definition and three stages: {refs:?}");
    assert!(refs.iter().all(|r| r.path == MAIN && text_of(&host, r) == "parts"));
    let without = host.analysis().find_references(MAIN, offset, false);
    assert_eq!(without.len(), 3);

    let (host, offset) = at("beta: f32 > 0 = 0.1, gamma", 0, 0);
    let refs = host.analysis().find_references(MAIN, offset, true);
    let texts: Vec<String> = refs.iter().map(|r| text_of(&host, r)).collect();
    assert_eq!(texts, vec!["beta"; 3], "declaration, body use, named argument: {refs:?}");

    let (host, offset) = at("dpo(beta", 0, 0);
    let refs = host.analysis().find_references(MAIN, offset, true);
    assert!(refs.iter().any(|r| r.path == "std/losses.plumb"), "the declaration: {refs:?}");
    assert_eq!(refs.iter().filter(|r| r.path == MAIN).count(), 2, "the import and the call: {refs:?}");
}

#[test]
fn completion_of_stage_options_and_loss_parameters() {
    let (host, offset) = host_with("use std.losses.dpo\ntrain policy on data {\n    loss = dpo()\n    ba$0\n}\n");
    let items = host.analysis().completion(MAIN, offset);
    let names = labels(&items);
    assert!(names.contains(&"batch") && names.contains(&"micro_batch") && names.contains(&"constraint"), "{names:?}");
    assert!(!names.contains(&"loss"), "already set: {names:?}");
    let batch = items.iter().find(|i| i.label == "batch").unwrap();
    assert_eq!(batch.kind, CompletionKind::Option);
    assert_eq!(batch.detail.as_deref(), Some("a positive integer"));

    let (host, offset) = host_with("use std.losses.dpo\ntrain policy on data {\n    loss = dpo($0\n}\n");
    let items = host.analysis().completion(MAIN, offset);
    let beta = items.iter().find(|i| i.label == "beta").expect("beta offered");
    assert_eq!(beta.kind, CompletionKind::Parameter);
    assert_eq!(beta.detail.as_deref(), Some("beta: f32 > 0 = 0.1"));
    assert_eq!(beta.insert_text.as_deref(), Some("beta = "));
    assert!(labels(&items).contains(&"label_smoothing"));
    assert_eq!(items[0].kind, CompletionKind::Parameter, "parameters first");

    let (host, offset) = host_with("use std.losses.dpo\ntrain p on d { loss = dpo(beta = 0.2, $0) }\n");
    let names = labels(&host.analysis().completion(MAIN, offset)).join(" ");
    assert!(names.contains("label_smoothing") && !names.split(' ').any(|n| n == "beta"), "{names}");

    let (host, offset) = host_with("sampler s {\n    temperature = 1.0\n    $0\n}\n");
    let names = labels(&host.analysis().completion(MAIN, offset)).join(" ");
    assert!(names.contains("top_p") && names.contains("max_new") && !names.contains("temperature"), "{names}");

    // Options with a fixed set of values offer those values after `=`.
    let (host, offset) = host_with("fit r = bradley_terry(votes) {\n    backend = $0\n}\n");
    let items = host.analysis().completion(MAIN, offset);
    assert_eq!(labels(&items), ["\"cpu\"", "\"gpu\""], "{items:?}");
    let (host, offset) = host_with("fit r = bradley_terry(votes) {\n    ties = $0\n}\n");
    assert_eq!(labels(&host.analysis().completion(MAIN, offset)), ["\"half\"", "\"ignore\""]);
    let (host, offset) = host_with("fit r = bradley_terry(votes) {\n    b$0\n}\n");
    let names = labels(&host.analysis().completion(MAIN, offset)).join(" ");
    assert!(names.contains("backend") && names.contains("ties") && names.contains("tolerance"), "{names}");
}

#[test]
fn completion_inside_a_loss_body() {
    let source = "use std.data.Pairwise\nloss l(beta: f32 > 0 = 0.1) on Pairwise {\n    let m = policy.logp(chosen | prompt)\n    $0\n}\n";
    let (host, offset) = host_with(source);
    let items = host.analysis().completion(MAIN, offset);
    let names = labels(&items);
    for expected in ["chosen", "rejected", "prompt", "margin", "beta", "m", "policy", "reference", "log_sigmoid", "let"]
    {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    let beta = items.iter().find(|i| i.label == "beta").unwrap();
    assert_eq!(beta.detail.as_deref(), Some("beta: f32 > 0 = 0.1 (parameter)"));
    // While the item does not parse.
    let broken = "use std.data.Pairwise\nloss l(beta: f32) on Pairwise {\n    let m = (policy.\n";
    let (host, _) = host_with(broken);
    let items = host.analysis().completion(MAIN, broken.len() as u32 - 1);
    assert_eq!(labels(&items), vec!["logp", "logp_tokens", "reward"]);
    let over = "use std.data.Pairwise\nloss l() on Pairwise { mean(policy.logp_tokens(chosen | prompt), over = $0) }\n";
    let (host, offset) = host_with(over);
    assert_eq!(labels(&host.analysis().completion(MAIN, offset)), vec!["batch", "k", "tok"]);
}

#[test]
fn completion_of_keywords_modules_members_and_names() {
    let (host, offset) = host_with("use std.losses.dpo\n$0");
    let names = labels(&host.analysis().completion(MAIN, offset)).join(" ");
    assert!(names.contains("train") && names.contains("loss") && names.contains("schema"), "{names}");
    let (host, offset) = host_with("use std.$0");
    let names = labels(&host.analysis().completion(MAIN, offset)).join(" ");
    assert!(names.contains("losses") && names.contains("data"), "{names}");
    let (host, offset) = host_with("use std.losses.{dpo, $0}");
    let names = labels(&host.analysis().completion(MAIN, offset)).join(" ");
    assert!(names.contains("ipo") && names.contains("kto"), "{names}");
    let (host, offset) = at("parts.train {", 0, 6);
    let items = host.analysis().completion(MAIN, offset);
    let names = labels(&items);
    assert!(names.contains(&"train") && names.contains(&"holdout"), "{names:?}");
    let (host, offset) = at("    optimizer", 0, 16);
    let items = host.analysis().completion(MAIN, offset);
    let names = labels(&items);
    assert!(names.contains(&"adamw") && names.contains(&"prefs") && names.contains(&"policy"), "{names:?}");
    // No completion inside comments and strings.
    let (host, offset) = host_with("// a comment $0\n");
    assert!(host.analysis().completion(MAIN, offset).is_empty());
    let (host, offset) = host_with("let x = jsonl(\"da$0");
    assert!(host.analysis().completion(MAIN, offset).is_empty());
}

#[test]
fn symbols_tokens_and_formatting() {
    let (host, _) = host_with(RECIPE);
    let analysis = host.analysis();
    let symbols = analysis.document_symbols(MAIN);
    let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["prefs", "parts", "policy", "reference", "margin", "train policy", "train policy", "train policy"]
    );
    let margin = &symbols[4];
    assert_eq!(margin.kind, SymbolKind::Loss);
    assert_eq!(margin.children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["beta", "gamma"]);
    assert!(margin.range.start <= margin.selection.start && margin.selection.end <= margin.range.end);

    let tokens = analysis.semantic_tokens(MAIN);
    let class_of = |needle: &str| {
        let at = RECIPE.find(needle).unwrap() as u32;
        tokens.iter().find(|t| t.range.start == at).map(|t| (t.class, t.declaration, t.stdlib))
    };
    assert_eq!(class_of("use"), Some((SemanticClass::Keyword, false, false)));
    assert_eq!(class_of("margin(beta"), Some((SemanticClass::Loss, true, false)));
    assert_eq!(class_of("dpo(beta"), Some((SemanticClass::Loss, false, true)));
    assert_eq!(class_of("policy = causal_lm"), Some((SemanticClass::Model, true, false)));
    assert_eq!(class_of("Pairwise {"), Some((SemanticClass::Type, false, true)));
    assert_eq!(class_of("beta * rho_c"), Some((SemanticClass::Parameter, false, false)));
    assert_eq!(class_of("chosen | prompt"), Some((SemanticClass::Property, false, false)));
    assert_eq!(class_of("log_sigmoid(h)"), Some((SemanticClass::Function, false, true)));
    assert_eq!(class_of("0.1, seed"), Some((SemanticClass::Number, false, false)));
    assert_eq!(class_of("\"data/pairs"), Some((SemanticClass::String, false, false)));
    assert_eq!(class_of("/// A margin"), Some((SemanticClass::Comment, false, false)));
    assert_eq!(class_of("f32 > 0"), Some((SemanticClass::Type, false, false)));
    assert_eq!(class_of("batch = 16"), Some((SemanticClass::Option, false, false)));
    assert!(tokens.windows(2).all(|w| w[0].range.end <= w[1].range.start), "in order, not overlapping");

    let mut host = AnalysisHost::new();
    host.set_file_text(MAIN, "let   x=1\n".into());
    assert_eq!(host.analysis().format(MAIN).as_deref(), Some("let x = 1\n"));
    host.set_file_text(MAIN, "let x = (1\n".into());
    assert_eq!(host.analysis().format(MAIN), None, "does not parse");
}

#[test]
fn queries_answer_on_broken_text_at_every_offset() {
    let broken = "use std.losses.{dpo\nloss f(beta: f32 > = ) on Pairwise {\n    let x = policy.logp(chosen |\n}\ntrain p on { loss = dpo(beta = ) é\n\"unterminated\n";
    let (host, _) = host_with(broken);
    let analysis = host.analysis();
    for offset in 0..=broken.len() as u32 + 2 {
        let _ = analysis.hover(MAIN, offset);
        let _ = analysis.goto_definition(MAIN, offset);
        let _ = analysis.find_references(MAIN, offset, true);
        let _ = analysis.completion(MAIN, offset);
    }
    assert!(!analysis.diagnostics(MAIN).is_empty());
    let _ = analysis.semantic_tokens(MAIN);
    let _ = analysis.document_symbols(MAIN);
    assert_eq!(analysis.format(MAIN), None);
}

#[test]
fn stdlib_files_are_read_only() {
    let mut host = AnalysisHost::new();
    let before = host.analysis().file_text("std/losses.plumb").unwrap().to_string();
    host.set_file_text("std/losses.plumb", "garbage".into());
    host.remove_file("std/losses.plumb");
    assert_eq!(host.analysis().file_text("std/losses.plumb"), Some(before.as_str()));
    assert!(host.analysis().is_std("std/losses.plumb"));
}
