//! Protocol-level tests: the `plumb-lsp` binary as a child process, spoken to in
//! JSON-RPC over pipes, as an editor would.

mod common;

use common::{Client, position, temp_dir, uri};
use serde_json::{Value, json};

const RECIPE: &str = r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.train.adamw
use "lib.plumb".{shared_margin}

let prefs = jsonl("pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1, seed = 7)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

loss margin(beta: f32 > 0 = 0.1) on Pairwise {
    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    -log_sigmoid(beta * rho_c)
}

train policy on parts.train {
    loss = dpo(beta = 0.1)
    optimizer = adamw(lr = 1e-4)
    batch = 16
}

train policy on parts.train { loss = shared_margin() }
train policy on parts.train { loss = margin() }
"#;

const LIB: &str = "use std.data.Pairwise\n\n/// Shared.\nloss shared_margin(beta: f32 > 0 = 0.1) on Pairwise {\n    -log_sigmoid(beta * (policy.logp(chosen | prompt) - policy.logp(rejected | prompt)))\n}\n";

/// A workspace on disk: the recipe (open in the editor), the library it imports
/// (only on disk) and the data file.
fn workspace(name: &str) -> (std::path::PathBuf, String) {
    let dir = temp_dir(name);
    std::fs::write(dir.join("recipe.plumb"), RECIPE).unwrap();
    std::fs::write(dir.join("lib.plumb"), LIB).unwrap();
    std::fs::write(dir.join("pairs.jsonl"), "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n").unwrap();
    let recipe = uri(&dir.join("recipe.plumb"));
    (dir, recipe)
}

fn at(needle: &str, delta: usize) -> Value {
    let offset = RECIPE.find(needle).unwrap_or_else(|| panic!("{needle} in recipe")) + delta;
    let (line, character) = position(RECIPE, offset);
    json!({ "line": line, "character": character })
}

fn codes(diagnostics: &[Value]) -> Vec<String> {
    diagnostics.iter().map(|d| d["code"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn a_session_from_initialize_to_exit() {
    let (_dir, recipe) = workspace("session");
    let mut client = Client::start();
    client.open(&recipe, RECIPE);
    let diagnostics = client.diagnostics(&recipe, Some(1));
    assert!(diagnostics.is_empty(), "the recipe and its import check clean: {diagnostics:?}");

    // An incremental edit that breaks the stage: `batch = 16` → `batch = 0`.
    let offset = RECIPE.find("batch = 16").unwrap() + "batch = ".len();
    let (line, character) = position(RECIPE, offset);
    client.change(&recipe, 2, (line, character, line, character + 2), "0");
    let diagnostics = client.diagnostics(&recipe, Some(2));
    assert_eq!(codes(&diagnostics), vec!["P0309"], "{diagnostics:?}");
    let range = &diagnostics[0]["range"];
    assert_eq!(range["start"], json!({ "line": line, "character": character }));
    assert_eq!(range["end"], json!({ "line": line, "character": character + 1 }));
    assert_eq!(diagnostics[0]["severity"], 1);
    assert_eq!(diagnostics[0]["source"], "plumb");
    // Undo it: the diagnostics are cleared.
    client.change(&recipe, 3, (line, character, line, character + 1), "16");
    assert!(client.diagnostics(&recipe, Some(3)).is_empty());

    let text_document = json!({ "uri": recipe });
    // Hover on a stdlib loss: signature, formula doc, parameters.
    let hover =
        client.request("textDocument/hover", json!({ "textDocument": text_document, "position": at("dpo(beta", 1) }));
    let markdown = hover["contents"]["value"].as_str().unwrap_or("");
    assert_eq!(hover["contents"]["kind"], "markdown");
    assert!(markdown.contains("loss dpo(beta: f32 > 0 = 0.1"), "{markdown}");
    assert!(markdown.contains("Rafailov et al. 2023"), "{markdown}");

    // Definition: local, cross-file (a file only on disk), stdlib.
    let local = client.request(
        "textDocument/definition",
        json!({ "textDocument": text_document, "position": at("parts.train {", 1) }),
    );
    assert_eq!(local["uri"], recipe);
    assert_eq!(local["range"]["start"], at("parts =", 0));
    let cross = client.request(
        "textDocument/definition",
        json!({ "textDocument": text_document, "position": at("shared_margin()", 3) }),
    );
    assert!(cross["uri"].as_str().unwrap().ends_with("/lib.plumb"), "{cross}");
    assert_eq!(cross["range"]["start"], json!({ "line": 3, "character": 5 }));
    let std = client
        .request("textDocument/definition", json!({ "textDocument": text_document, "position": at("dpo(beta", 0) }));
    let std_uri = std["uri"].as_str().unwrap().to_string();
    assert!(std_uri.starts_with("file://") && std_uri.ends_with("/std/losses.plumb"), "{std}");
    let std_path = std_uri.strip_prefix("file://").unwrap();
    let std_text = std::fs::read_to_string(std_path).expect("the stdlib is materialised");
    assert!(std::fs::metadata(std_path).unwrap().permissions().readonly(), "read-only");
    let line = std["range"]["start"]["line"].as_u64().unwrap() as usize;
    assert!(std_text.lines().nth(line).unwrap().starts_with("loss dpo("), "{std}");
    // The custom request returns the same source.
    let source = client.request("plumb/stdlibSource", json!({ "uri": std_uri }));
    assert_eq!(source["text"].as_str(), Some(std_text.as_str()));
    // Opening the stdlib file maps it back: hover works, no diagnostics appear.
    client.open(&std_uri, &std_text);
    assert!(client.diagnostics(&std_uri, Some(1)).is_empty());
    let offset = std_text.find("reference.logp(chosen").unwrap();
    let (l, c) = position(&std_text, offset);
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": std_uri }, "position": { "line": l, "character": c } }),
    );
    assert!(hover["contents"]["value"].as_str().unwrap_or("").contains("model role"), "{hover}");

    // References of a binding.
    let refs = client.request("textDocument/references", json!({ "textDocument": text_document, "position": at("parts =", 0), "context": { "includeDeclaration": true } }));
    assert_eq!(refs.as_array().map(Vec::len), Some(4), "{refs}");

    // Completion: options in a train block, a loss's parameters in its call.
    let edit_at = RECIPE.find("    batch = 16").unwrap() + "    batch = 16\n".len();
    let (line, _) = position(RECIPE, edit_at);
    client.change(&recipe, 4, (line, 0, line, 0), "    ep\n");
    let items = client.request(
        "textDocument/completion",
        json!({ "textDocument": text_document, "position": { "line": line, "character": 6 } }),
    );
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"epochs") && labels.contains(&"max_steps") && !labels.contains(&"batch"), "{labels:?}");
    client.change(&recipe, 5, (line, 0, line + 1, 0), "");
    let (line, character) = position(RECIPE, RECIPE.find("shared_margin()").unwrap() + "shared_margin(".len());
    let items = client.request(
        "textDocument/completion",
        json!({ "textDocument": text_document, "position": { "line": line, "character": character } }),
    );
    let beta = items.as_array().unwrap().iter().find(|i| i["label"] == "beta").expect("beta offered");
    assert_eq!(beta["detail"], "beta: f32 > 0 = 0.1");
    assert_eq!(beta["insertText"], "beta = ");

    // Symbols and semantic tokens.
    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": text_document }));
    let names: Vec<&str> = symbols.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names[..5], ["prefs", "parts", "policy", "reference", "margin"]);
    let tokens = client.request("textDocument/semanticTokens/full", json!({ "textDocument": text_document }));
    let data = tokens["data"].as_array().unwrap();
    assert_eq!(data.len() % 5, 0);
    assert_eq!(&data[..5], &[json!(0), json!(0), json!(3), json!(0), json!(0)], "`use` is a keyword");

    // Formatting: one minimal edit.
    client.change(&recipe, 6, (0, 0, 0, 0), "let   spaced=1\n");
    client.diagnostics(&recipe, Some(6));
    let edits = client.request(
        "textDocument/formatting",
        json!({ "textDocument": text_document, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    assert_eq!(
        edits,
        json!([{ "range": { "start": { "line": 0, "character": 4 }, "end": { "line": 0, "character": 13 } }, "newText": "spaced = " }])
    );
    // A file that does not parse is not formatted.
    client.change(&recipe, 7, (0, 0, 0, 0), "let x = (\n");
    client.diagnostics(&recipe, Some(7));
    let edits = client.request(
        "textDocument/formatting",
        json!({ "textDocument": text_document, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    assert_eq!(edits, Value::Null);

    // Closing clears the diagnostics.
    client.notify("textDocument/didClose", json!({ "textDocument": text_document }));
    assert!(client.diagnostics(&recipe, None).is_empty());
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn diagnostics_follow_imports_and_data_files() {
    let (dir, recipe) = workspace("imports");
    let lib = uri(&dir.join("lib.plumb"));
    let mut client = Client::start();
    client.open(&recipe, RECIPE);
    assert!(client.diagnostics(&recipe, Some(1)).is_empty());
    // Opening the library and renaming its loss breaks the importer, whose
    // diagnostics are published although it did not change.
    client.open(&lib, LIB);
    assert!(client.diagnostics(&lib, Some(1)).is_empty());
    client.change(&lib, 2, (3, 5, 3, 18), "renamed");
    let diagnostics = client.diagnostics(&recipe, Some(1));
    assert!(codes(&diagnostics).contains(&"P0104".to_string()), "{diagnostics:?}");
    client.change(&lib, 3, (3, 5, 3, 12), "shared_margin");
    assert!(client.diagnostics(&recipe, Some(1)).is_empty());
    // A data file that does not match its schema.
    std::fs::write(dir.join("pairs.jsonl"), "{\"prompt\": \"p\"}\n").unwrap();
    client.notify("textDocument/didSave", json!({ "textDocument": { "uri": recipe } }));
    let diagnostics = client.diagnostics(&recipe, Some(1));
    assert_eq!(codes(&diagnostics), vec!["P0331"], "{diagnostics:?}");
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn full_text_sync_utf16_and_odd_input() {
    let dir = temp_dir("odd");
    let recipe = uri(&dir.join("odd.plumb"));
    let mut client = Client::start();
    // Non-ASCII text: a diagnostic after an emoji is reported in UTF-16 columns.
    let text = "// 😀😀\nlet x = \"é\" + nope\n";
    client.open(&recipe, text);
    let diagnostics = client.diagnostics(&recipe, Some(1));
    let unknown = diagnostics.iter().find(|d| d["code"] == "P0101").expect("P0101");
    assert_eq!(unknown["range"]["start"], json!({ "line": 1, "character": 14 }));
    // A full replacement, then an empty file, then garbage.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": recipe, "version": 2 }, "contentChanges": [{ "text": "let y = 1\n" }] }),
    );
    assert_eq!(codes(&client.diagnostics(&recipe, Some(2))), vec!["P0401"]);
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": recipe, "version": 3 }, "contentChanges": [{ "text": "" }] }),
    );
    assert_eq!(codes(&client.diagnostics(&recipe, Some(3))), vec!["P0008"]);
    client.notify("textDocument/didChange", json!({ "textDocument": { "uri": recipe, "version": 4 }, "contentChanges": [{ "text": "}}}((( \u{0} loss loss" }] }));
    assert!(!client.diagnostics(&recipe, Some(4)).is_empty());
    // Positions out of range are clamped, unknown methods and bad params are errors.
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": recipe }, "position": { "line": 99, "character": 99 } }),
    );
    assert!(hover.is_null() || hover.is_object());
    let id = client.send_request("textDocument/unknown", json!({}));
    assert_eq!(client.response(id)["error"]["code"], -32601);
    let id = client.send_request("textDocument/hover", json!({ "nonsense": true }));
    assert_eq!(client.response(id)["error"]["code"], -32602);
    // A document the server never saw.
    let other = uri(&dir.join("never.plumb"));
    let result = client.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": other }, "position": { "line": 0, "character": 0 } }),
    );
    assert!(result.is_null());
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn exit_without_shutdown_is_an_error_exit() {
    let client = Client::start();
    let mut client = client;
    client.notify("exit", Value::Null);
    assert_eq!(client.wait(), 1);
}
