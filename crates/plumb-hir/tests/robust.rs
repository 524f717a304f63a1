//! Arbitrary bytes and mutated recipes never make the parser or the checker
//! panic, and the deepest nesting the splitter lets through parses on a small
//! (2 MiB) thread stack.

use plumb_db::RootDatabase;
use proptest::prelude::*;

const EXAMPLES: &[&str] = &[
    include_str!("../../../examples/quickstart.plumb"),
    include_str!("../../../examples/online_dpo.plumb"),
    include_str!("../../../examples/custom_loss.plumb"),
    include_str!("../../../examples/ratings.plumb"),
    include_str!("../../../stdlib/std/losses.plumb"),
];

const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ".",
    "|",
    "=",
    "==",
    "-",
    "^",
    " as ",
    "\n",
    "\"",
    "\\",
    "//",
    "///",
    "let ",
    "loss ",
    "train ",
    "use ",
    "repeat ",
    "if ",
    "else ",
    "on ",
    "over = tok",
    "1e-6",
    "0",
    "policy.logp(",
    "reference",
    "chosen | prompt",
    "mean(",
    "dpo(beta = 0)",
    "é",
    "\u{0}",
];

fn check(text: &str) {
    let mut db = RootDatabase::default();
    let file = db.set_file("fuzz.plumb", text.to_string());
    let _ = plumb_hir::file_diagnostics(&db, file);
    let once = plumb_fmt::format(text);
    if plumb_syntax::parse_file(text).diagnostics.iter().all(|d| !d.is_error()) {
        assert_eq!(plumb_fmt::format(&once), once, "formatting is idempotent");
        let reparsed = plumb_syntax::parse_file(&once);
        assert!(reparsed.diagnostics.iter().all(|d| !d.is_error()), "formatted text parses:\n{once}");
        assert_eq!(reparsed.items.len(), plumb_syntax::parse_file(text).items.len());
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(a, f)| Mutation::Insert(a, f)),
        (any::<usize>(), 0usize..200).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, mutation: &Mutation) -> String {
    match *mutation {
        Mutation::Delete(at, n) => {
            let start = boundary(text, at);
            let end = boundary(text, (start + n).min(text.len()));
            format!("{}{}", &text[..start], &text[end.max(start)..])
        }
        Mutation::Insert(at, fragment) => {
            let at = boundary(text, at);
            format!("{}{}{}", &text[..at], FRAGMENTS[fragment], &text[at..])
        }
        Mutation::Duplicate(at, n) => {
            let start = boundary(text, at);
            let end = boundary(text, (start + n).min(text.len()));
            let piece = &text[start..end.max(start)];
            format!("{}{piece}{}", &text[..end.max(start)], &text[end.max(start)..])
        }
        Mutation::Truncate(at) => text[..boundary(text, at)].to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        match plumb_syntax::decode(&bytes) {
            Ok(text) => check(text),
            Err(diagnostic) => prop_assert!(diagnostic.is_error()),
        }
    }

    #[test]
    fn token_soup_never_panics(pieces in proptest::collection::vec(0..FRAGMENTS.len(), 0..120)) {
        let text: String = pieces.iter().map(|&i| FRAGMENTS[i]).collect();
        check(&text);
    }

    #[test]
    fn mutated_recipes_never_panic(example in 0..EXAMPLES.len(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut text = EXAMPLES[example].to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        check(&text);
    }
}

#[test]
fn deepest_allowed_nesting_parses_on_a_small_stack() {
    let depth = plumb_syntax::MAX_NESTING - 1;
    let source = format!(
        "let x = {}1{}\nlet y = [{}]\n",
        "(".repeat(depth),
        ")".repeat(depth),
        "[".repeat(depth - 1) + &"]".repeat(depth - 1)
    );
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let parsed = plumb_syntax::parse_file(&source);
            let codes: Vec<&str> = parsed.diagnostics.iter().map(|d| d.code).collect();
            assert!(codes.is_empty(), "{codes:?}");
            check(&source);
        })
        .expect("spawn");
    handle.join().expect("no stack overflow");
}
