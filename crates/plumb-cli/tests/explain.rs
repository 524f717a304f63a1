//! Every registered code has an explanation whose `wrong` example produces the
//! code and whose `right` example checks clean, so `plumb explain` never lies.

use plumb_db::RootDatabase;

fn codes_of(text: &str) -> Vec<&'static str> {
    let mut db = RootDatabase::default();
    let file = db.set_file("recipe.plumb", text.to_string());
    plumb_hir::file_diagnostics(&db, file).iter().map(|d| d.code).collect()
}

#[test]
fn examples_demonstrate_their_codes() {
    let mut failures = Vec::new();
    for info in plumb_diag::CODES {
        assert!(!info.title.is_empty() && !info.explanation.is_empty(), "{} is not explained", info.code);
        if info.wrong.trim_start().starts_with('#') {
            continue;
        }
        let wrong = codes_of(info.wrong);
        if !wrong.contains(&info.code) {
            failures.push(format!("{}: the wrong example gives {wrong:?}", info.code));
        }
        let right = codes_of(info.right);
        if !right.is_empty() {
            failures.push(format!("{}: the right example gives {right:?}", info.code));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_raised_code_is_registered() {
    let sources = [
        include_str!("../../plumb-hir/src/check.rs"),
        include_str!("../../plumb-hir/src/data_files.rs"),
        include_str!("../../plumb-syntax/src/parser.rs"),
        include_str!("../../plumb-syntax/src/split.rs"),
        include_str!("../../plumb-syntax/src/lib.rs"),
        include_str!("../src/workspace.rs"),
        include_str!("../src/eval_loss.rs"),
        include_str!("../src/bench.rs"),
        include_str!("../src/rank.rs"),
        include_str!("../../plumb-ratings/src/data.rs"),
        include_str!("../../plumb-ratings/src/fit.rs"),
    ];
    for source in sources {
        for (at, _) in source.match_indices("\"P0") {
            let code = &source[at + 1..at + 6];
            assert!(plumb_diag::lookup(code).is_some(), "{code} is raised but not registered");
        }
    }
}
