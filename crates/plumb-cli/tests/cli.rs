//! The `plumb` binary end to end: exit codes, JSON output, and bad input that
//! must give a coded error with a location, never a panic, hang or overflow.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn plumb(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plumb")).args(args).current_dir(dir).output().expect("plumb runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plumb-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `plumb check --json` on a file with these bytes; returns (exit code, codes).
fn check_bytes(name: &str, bytes: &[u8]) -> (i32, Vec<String>, String) {
    let dir = scratch(name);
    std::fs::write(dir.join("r.plumb"), bytes).expect("write recipe");
    let output = plumb(&["check", "--json", "r.plumb"], &dir);
    let stdout = text(&output.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", text(&output.stderr)));
    let codes = json.as_array().expect("array").iter().map(|d| d["code"].as_str().unwrap_or("").to_string()).collect();
    (output.status.code().unwrap_or(-1), codes, stdout)
}

#[test]
fn examples_check_clean() {
    let output = plumb(&["check", "examples"], &repo());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("0 errors, 0 warnings"), "{}", text(&output.stderr));
}

#[test]
fn no_argument_checks_the_current_directory() {
    let output = plumb(&["check"], &repo().join("examples"));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("checked 7 files") || text(&output.stderr).contains("files"));
}

#[test]
fn json_has_the_documented_fields() {
    let (code, codes, stdout) = check_bytes("json", b"use std.losses.dpo\nlet x = \"a\" + 1\n");
    assert_eq!(code, 1);
    assert!(codes.contains(&"P0201".to_string()), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let first = &json[0];
    for field in ["file", "line", "column", "end_line", "end_column", "severity", "code", "message", "help"] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }
    let error = json.as_array().expect("array").iter().find(|d| d["code"] == "P0201").expect("P0201");
    assert_eq!(error["line"], 2);
    assert_eq!(error["column"], 9);
    assert_eq!(error["severity"], "error");
}

#[test]
fn warnings_alone_exit_zero() {
    let (code, codes, _) = check_bytes("warn", b"use std.ratings.{bradley_terry, bootstrap, leaderboard}\nuse std.data.{Comparisons, csv, jsonl}\nlet votes = csv(\"v.csv\") as Comparisons\nfit r = bradley_terry(votes)\nreport leaderboard(r, ci = bootstrap())\n");
    assert_eq!(codes, ["P0107", "P0330"], "an unused import and a data file not yet there: warnings only");
    assert_eq!(code, 0);
}

#[test]
fn binary_file_is_a_coded_error() {
    let (code, codes, stdout) = check_bytes("binary", b"use std\0\x01\x02 losses");
    assert_eq!((code, codes), (1, vec!["P0001".to_string()]), "{stdout}");
    assert!(stdout.contains("\"line\": 1"));
}

#[test]
fn invalid_utf8_is_a_coded_error_with_a_location() {
    let (code, codes, stdout) = check_bytes("utf8", b"use std.losses.dpo\nlet x = \"\xff\xfe\"\n");
    assert_eq!((code, codes), (1, vec!["P0001".to_string()]));
    assert!(stdout.contains("\"line\": 2"), "{stdout}");
}

#[test]
fn empty_file_is_a_coded_error() {
    assert_eq!(check_bytes("empty", b"").1, ["P0008"]);
    assert_eq!(check_bytes("blank", b"\n   \n").1, ["P0008"]);
}

#[test]
fn ten_megabyte_file_is_refused_quickly() {
    let mut bytes = Vec::with_capacity(10 << 20);
    while bytes.len() < 10 << 20 {
        bytes.extend_from_slice(b"let x = 1 + 2 * (3 - 4)\n");
    }
    let (code, codes, _) = check_bytes("huge", &bytes);
    assert_eq!((code, codes), (1, vec!["P0009".to_string()]));
}

#[test]
fn deep_nesting_is_a_coded_error() {
    let depth = 100_000;
    let source = format!("let x = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
    let (code, codes, _) = check_bytes("deep", source.as_bytes());
    assert_eq!((code, codes), (1, vec!["P0003".to_string()]));
    let source = format!("let x = {}1\n", "-".repeat(depth));
    let (code, codes, _) = check_bytes("unary", source.as_bytes());
    assert_eq!(code, 1);
    assert!(codes.contains(&"P0004".to_string()), "{codes:?}");
}

#[test]
fn long_flat_chain_is_a_coded_error() {
    let source = format!("let x = 1{}\nlet y = x\n", " + 1".repeat(200_000));
    let (code, codes, _) = check_bytes("chain", source.as_bytes());
    assert_eq!(code, 1);
    assert!(codes.contains(&"P0004".to_string()), "{codes:?}");
}

#[test]
fn unknown_imported_file_is_a_coded_error() {
    let (code, codes, stdout) = check_bytes("import", b"use \"lib/missing.plumb\".{my_loss}\n");
    assert_eq!(code, 1);
    assert!(codes.contains(&"P0105".to_string()), "{stdout}");
}

#[test]
fn imported_files_are_resolved_relative_to_the_importer() {
    let dir = scratch("relative");
    std::fs::create_dir_all(dir.join("lib")).expect("lib dir");
    std::fs::write(
        dir.join("lib/mine.plumb"),
        "use std.data.Pairwise\n\n/// Mine.\nloss mine(beta: f32 > 0 = 0.1) on Pairwise {\n    -log_sigmoid(beta * policy.logp(chosen | prompt))\n}\n",
    )
    .expect("write lib");
    std::fs::write(
        dir.join("r.plumb"),
        "use \"lib/mine.plumb\".mine\nuse std.data.{Pairwise, jsonl}\nuse std.models.causal_lm\n\nmodel policy = causal_lm(\"m\")\ntrain policy on jsonl(\"p.jsonl\") as Pairwise { loss = mine(beta = -1) }\n",
    )
    .expect("write recipe");
    let output = plumb(&["check", "--json", "r.plumb"], &dir);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("P0207"), "{stdout}");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn missing_path_is_misuse() {
    let output = plumb(&["check", "does-not-exist.plumb"], &repo());
    assert_eq!(output.status.code(), Some(2));
    let output = plumb(&["check", "--no-such-flag"], &repo());
    assert_eq!(output.status.code(), Some(2));
    let output = plumb(&["explain", "P9999"], &repo());
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn explain_prints_examples() {
    let output = plumb(&["explain", "P0305"], &repo());
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Wrong:") && stdout.contains("Right:"), "{stdout}");
    let lower = plumb(&["explain", "p0305"], &repo());
    assert_eq!(text(&lower.stdout), stdout);
}

#[test]
fn fmt_check_passes_on_examples_and_stdlib() {
    let output = plumb(&["fmt", "--check", "examples", "stdlib"], &repo());
    assert_eq!(output.status.code(), Some(0), "would reformat:\n{}{}", text(&output.stdout), text(&output.stderr));
}

#[test]
fn fmt_rewrites_and_is_idempotent() {
    let dir = scratch("fmt");
    let messy = "use std.losses.dpo\nlet  x=1+2 // c\n\n\n\nlet y = -x*( x-1 )\n";
    std::fs::write(dir.join("m.plumb"), messy).expect("write");
    let check = plumb(&["fmt", "--check", "m.plumb"], &dir);
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(text(&check.stdout).trim(), "m.plumb");
    assert_eq!(std::fs::read_to_string(dir.join("m.plumb")).expect("read"), messy, "--check writes nothing");
    assert_eq!(plumb(&["fmt", "m.plumb"], &dir).status.code(), Some(0));
    let formatted = std::fs::read_to_string(dir.join("m.plumb")).expect("read");
    assert_eq!(formatted, "use std.losses.dpo\nlet x = 1 + 2  // c\n\nlet y = -x * (x - 1)\n");
    assert_eq!(plumb(&["fmt", "--check", "m.plumb"], &dir).status.code(), Some(0));
}

#[test]
fn fmt_refuses_files_with_syntax_errors() {
    let dir = scratch("fmtbad");
    std::fs::write(dir.join("b.plumb"), "let x = (1 +\n").expect("write");
    let output = plumb(&["fmt", "b.plumb"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("P0002"));
    assert_eq!(std::fs::read_to_string(dir.join("b.plumb")).expect("read"), "let x = (1 +\n");
}

#[test]
fn data_files_are_checked_against_their_schema() {
    let dir = scratch("data");
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    std::fs::write(
        dir.join("data/pairs.jsonl"),
        "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \"b\"}\n",
    )
    .expect("write data");
    std::fs::write(dir.join("data/votes.csv"), "item_a,item_b\nx,y\n").expect("write csv");
    let recipe = "use std.data.{Comparisons, Pairwise, csv, jsonl}\nuse std.ratings.{bradley_terry, bootstrap, leaderboard}\nuse std.models.causal_lm\nuse std.losses.simpo\n\nmodel policy = causal_lm(\"m\")\ntrain policy on jsonl(\"data/pairs.jsonl\") as Pairwise { loss = simpo() }\nlet votes = csv(\"data/votes.csv\") as Comparisons\nfit r = bradley_terry(votes)\nreport leaderboard(r, ci = bootstrap())\neval policy on jsonl(\"data/missing.jsonl\") as Pairwise { reward_accuracy() }\n";
    std::fs::write(
        dir.join("r.plumb"),
        recipe.replace("use std.losses.simpo", "use std.losses.simpo\nuse std.metrics.reward_accuracy"),
    )
    .expect("write recipe");
    let output = plumb(&["check", "--json", "r.plumb"], &dir);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let found: Vec<(String, String)> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|d| (d["code"].as_str().unwrap_or("").to_string(), d["message"].as_str().unwrap_or("").to_string()))
        .collect();
    assert!(
        found.iter().any(|(c, m)| c == "P0331" && m.contains("data/pairs.jsonl:2") && m.contains("rejected")),
        "{found:?}"
    );
    assert!(found.iter().any(|(c, m)| c == "P0331" && m.contains("votes.csv:1") && m.contains("winner")), "{found:?}");
    assert!(found.iter().any(|(c, _)| c == "P0330"), "{found:?}");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn lsp_subcommand_speaks_json_rpc() {
    use std::io::{Read, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_plumb"))
        .arg("lsp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("plumb lsp starts");
    let mut stdin = child.stdin.take().expect("stdin");
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#,
        r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#,
        r#"{"jsonrpc":"2.0","method":"exit"}"#,
    ] {
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
    }
    drop(stdin);
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read");
    let status = child.wait().expect("exits");
    assert!(out.contains("\"capabilities\""), "{out}");
    assert_eq!(status.code(), Some(0), "exit after shutdown is 0");
}

#[test]
fn eval_loss_with_a_recipe_loss_that_shadows_the_stdlib() {
    let dir = scratch("recipe-loss");
    std::fs::write(
        dir.join("mine.plumb"),
        "use std.data.Pairwise\n\n/// A plain margin loss that shadows std's dpo.\nloss dpo(scale: f32 > 0 = 2.0) on Pairwise {\n    scale * (policy.logp(rejected | prompt) - policy.logp(chosen | prompt))\n}\n",
    )
    .expect("write recipe");
    std::fs::write(
        dir.join("rows.jsonl"),
        "{\"pi_chosen\": -1.0, \"pi_rejected\": -3.0}\n{\"pi_chosen\": -2.0, \"pi_rejected\": -1.5}\n",
    )
    .expect("write rows");
    for backend in ["interp", "cpu"] {
        let output = plumb(
            &[
                "eval-loss",
                "dpo",
                "--recipe",
                "mine.plumb",
                "--input",
                "rows.jsonl",
                "--param",
                "scale=0.5",
                "--json",
                "--backend",
                backend,
            ],
            &dir,
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        // rows: 0.5·(−3 − −1) = −1 and 0.5·(−1.5 − −2) = 0.25; L = mean = −0.375.
        assert!((json["loss"].as_f64().expect("loss") + 0.375).abs() < 1e-6, "{json}");
        assert!((json["grad"]["pi_chosen"][0].as_f64().expect("grad") + 0.25).abs() < 1e-6, "{json}");
    }
    let bad =
        plumb(&["eval-loss", "dpo", "--recipe", "mine.plumb", "--input", "rows.jsonl", "--param", "scale=0"], &dir);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("P0501") && text(&bad.stderr).contains("scale"), "{}", text(&bad.stderr));
    let misuse = plumb(&["eval-loss", "dpo", "--input", "rows.jsonl", "--param", "beta"], &dir);
    assert_eq!(misuse.status.code(), Some(2));
}
