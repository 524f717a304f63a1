//! Random edit sequences (inserts and deletes of Plumb token fragments, including
//! non-ASCII text) sent as incremental `didChange`s, with requests in between: the
//! server never crashes, and the final diagnostics equal those computed fresh on
//! the final text with `plumb_hir::file_diagnostics` (plus the data-file check).

mod common;

use common::{Client, position, temp_dir, uri};
use proptest::prelude::*;
use serde_json::{Value, json};

const FRAGMENTS: &[&str] = &[
    "let ",
    "model ",
    "loss ",
    "train ",
    "use ",
    "schema ",
    "sampler ",
    "repeat ",
    "on ",
    "as ",
    "if ",
    "else ",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    "+",
    "-",
    "*",
    "/",
    "^",
    "|",
    ",",
    ".",
    ":",
    "\n",
    " ",
    "x",
    "beta",
    "policy",
    "reference",
    "dpo",
    "std.losses.dpo",
    "Pairwise",
    "chosen",
    "prompt",
    "0.1",
    "16",
    "1e-4",
    "\"s\"",
    "\"",
    "//",
    "/// doc\n",
    "é",
    "😀",
    "logp",
    "over = tok",
    "mean(",
    "f32",
    "> 0",
    "batch = ",
    "loss = dpo(beta = 0.1)",
];

const START: &str = "use std.data.{Pairwise, jsonl, split}\nuse std.models.{causal_lm, frozen}\nuse std.losses.dpo\n\nlet parts = split(jsonl(\"p.jsonl\") as Pairwise, holdout = 0.1)\nmodel policy = causal_lm(\"m\")\nmodel reference = frozen(policy)\n\nloss l(beta: f32 > 0 = 0.1) on Pairwise {\n    let m = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)\n    -log_sigmoid(beta * m)\n}\n\ntrain policy on parts.train {\n    loss = dpo(beta = 0.1)\n    batch = 16\n}\n";

#[derive(Clone, Debug)]
enum Edit {
    /// Insert fragment `f` at the `at`-th character boundary (modulo their count).
    Insert { at: usize, f: usize },
    /// Delete `len` characters from the `at`-th boundary.
    Delete { at: usize, len: usize },
    /// Ask for a hover at a boundary (the answer is not checked, only that it comes).
    Hover { at: usize },
    /// Ask for completions at a boundary.
    Complete { at: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(at, f)| Edit::Insert { at, f }),
        3 => (any::<usize>(), 1usize..12).prop_map(|(at, len)| Edit::Delete { at, len }),
        1 => any::<usize>().prop_map(|at| Edit::Hover { at }),
        1 => any::<usize>().prop_map(|at| Edit::Complete { at }),
    ]
}

fn boundaries(text: &str) -> Vec<usize> {
    text.char_indices().map(|(i, _)| i).chain([text.len()]).collect()
}

/// The diagnostics `plumb check` computes on `text`, in the LSP's form.
fn expected(path: &str, text: &str) -> Vec<Value> {
    let mut db = plumb_db::RootDatabase::default();
    let file = db.set_file(path, text.to_string());
    let mut diagnostics = plumb_hir::file_diagnostics(&db, file).to_vec();
    let base = std::path::Path::new(path).parent().unwrap();
    diagnostics.extend(plumb_hir::check_data_files(&db, file, base));
    diagnostics.sort_by_key(|d| (d.span().start, d.code));
    diagnostics
        .iter()
        .map(|d| {
            let span = d.span();
            let (sl, sc) = position(text, (span.start as usize).min(text.len()));
            let (el, ec) = position(text, (span.end as usize).min(text.len()));
            json!({
                "range": { "start": { "line": sl, "character": sc }, "end": { "line": el, "character": ec } },
                "code": d.code,
                "severity": if d.is_error() { 1 } else { 2 },
                "message": d.message,
            })
        })
        .collect()
}

fn comparable(diagnostics: &[Value]) -> Vec<Value> {
    diagnostics
        .iter()
        .map(|d| {
            let message = d["message"].as_str().unwrap_or("");
            let message = message.split("\nhelp: ").next().unwrap_or("");
            json!({ "range": d["range"], "code": d["code"], "severity": d["severity"], "message": message })
        })
        .collect()
}

fn run(edits: &[Edit], dir: &std::path::Path, case: usize) -> Result<(), TestCaseError> {
    let path = dir.join(format!("case{case}.plumb"));
    let path_text = path.to_string_lossy().to_string();
    let doc = uri(&path);
    let mut client = Client::start();
    let mut text = START.to_string();
    client.open(&doc, &text);
    let mut version = 1;
    for edit in edits {
        let points = boundaries(&text);
        match edit {
            Edit::Insert { at, f } => {
                let offset = points[at % points.len()];
                let (line, character) = position(&text, offset);
                version += 1;
                client.change(&doc, version, (line, character, line, character), FRAGMENTS[*f]);
                text.insert_str(offset, FRAGMENTS[*f]);
            }
            Edit::Delete { at, len } => {
                let i = at % points.len();
                let (start, end) = (points[i], points[(i + len).min(points.len() - 1)]);
                let (sl, sc) = position(&text, start);
                let (el, ec) = position(&text, end);
                version += 1;
                client.change(&doc, version, (sl, sc, el, ec), "");
                text.replace_range(start..end, "");
            }
            Edit::Hover { at } | Edit::Complete { at } => {
                let offset = points[at % points.len()];
                let (line, character) = position(&text, offset);
                let method =
                    if matches!(edit, Edit::Hover { .. }) { "textDocument/hover" } else { "textDocument/completion" };
                let id = client.send_request(
                    method,
                    json!({ "textDocument": { "uri": doc }, "position": { "line": line, "character": character } }),
                );
                let response = client.response(id);
                let code = response["error"]["code"].as_i64();
                prop_assert!(code.is_none() || code == Some(-32801), "{method}: {response}");
            }
        }
    }
    let published = client.diagnostics(&doc, Some(version));
    prop_assert_eq!(comparable(&published), comparable(&expected(&path_text, &text)), "text: {:?}", text);
    prop_assert_eq!(client.shutdown(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_never_crash_and_end_with_fresh_diagnostics(edits in prop::collection::vec(edit(), 1..60)) {
        let dir = temp_dir("random");
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        run(&edits, &dir, case)?;
    }
}

static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
