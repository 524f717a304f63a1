//! The fixture suite: every `tests/ui/*.plumb` carries its expected diagnostics
//! inline (`//~ P0207` on the line where the primary span starts, `//~^ P0207`
//! for the line above), and its rendered diagnostics are snapshotted next to it
//! in `NAME.stderr` (fixed width, no colour). `PLUMB_BLESS=1 cargo test` rewrites
//! the snapshots.

use plumb_cli::render::{FileDiagnostic, render};
use plumb_db::RootDatabase;
use plumb_diag::LineIndex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/ui exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "plumb"))
        .collect();
    files.sort();
    files
}

/// (line, code) → count, from the annotations.
fn expected(text: &str) -> BTreeMap<(usize, String), usize> {
    let mut out = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let Some(at) = line.find("//~") else { continue };
        let rest = &line[at + 3..];
        let carets = rest.chars().take_while(|c| *c == '^').count();
        let target = index + 1 - carets;
        for code in rest[carets..].split_whitespace() {
            *out.entry((target, code.to_string())).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn ui_fixtures() {
    let bless = std::env::var_os("PLUMB_BLESS").is_some();
    let files = fixtures();
    assert!(files.len() >= 40, "the suite has {} fixtures", files.len());
    let mut failures = Vec::new();
    let mut codes_seen = std::collections::BTreeSet::new();
    for path in &files {
        let name = path.file_name().expect("file name").to_string_lossy().to_string();
        let display = format!("tests/ui/{name}");
        let text = std::fs::read_to_string(path).expect("fixture is UTF-8");
        let mut db = RootDatabase::default();
        let file = db.set_file(&display, text.clone());
        let diagnostics = plumb_hir::file_diagnostics(&db, file);
        let index = LineIndex::new(&text);
        let mut actual = BTreeMap::new();
        let mut rendered = String::new();
        for diagnostic in diagnostics.iter() {
            let (line, _) = index.line_col(&text, diagnostic.span().start as usize);
            *actual.entry((line, diagnostic.code.to_string())).or_insert(0) += 1;
            codes_seen.insert(diagnostic.code);
            rendered.push_str(&render(&FileDiagnostic { path: &display, text: &text, diagnostic }, 100));
        }
        let want = expected(&text);
        if actual != want {
            failures.push(format!("{name}:\n  expected {want:?}\n  actual   {actual:?}\n{rendered}"));
            continue;
        }
        let snapshot = path.with_extension("stderr");
        if rendered.is_empty() {
            if snapshot.exists() {
                let _ = std::fs::remove_file(&snapshot);
            }
            continue;
        }
        if bless {
            std::fs::write(&snapshot, &rendered).expect("write snapshot");
        } else {
            match std::fs::read_to_string(&snapshot) {
                Ok(old) if old == rendered => {}
                Ok(old) => failures.push(format!(
                    "{name}: rendered output differs from {}:\n--- old\n{old}\n--- new\n{rendered}",
                    snapshot.display()
                )),
                Err(_) => failures.push(format!("{name}: no snapshot {}; run with PLUMB_BLESS=1", snapshot.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n\n{}", failures.len(), files.len(), failures.join("\n"));
    let distinct = codes_seen.len();
    assert!(distinct >= 40, "the suite covers {distinct} distinct codes: {codes_seen:?}");
}
