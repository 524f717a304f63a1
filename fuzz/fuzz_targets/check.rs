//! Coverage-guided fuzzing of the parser, the checker and the formatter: any
//! input must give diagnostics, never a panic, and formatting must be idempotent
//! and keep the file parseable on inputs that parse. One database is reused
//! across inputs (as the language server does), so the stdlib stays cached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumb_db::RootDatabase;
use std::cell::RefCell;

thread_local! {
    static DB: RefCell<RootDatabase> = RefCell::new(RootDatabase::default());
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = plumb_syntax::decode(bytes) else { return };
    DB.with(|db| {
        let mut db = db.borrow_mut();
        let file = db.set_file("fuzz.plumb", text.to_string());
        let _ = plumb_hir::file_diagnostics(&*db, file);
    });
    if plumb_syntax::parse_file(text).diagnostics.iter().all(|d| !d.is_error()) {
        let once = plumb_fmt::format(text);
        let twice = plumb_fmt::format(&once);
        assert_eq!(once, twice, "formatting is idempotent");
        let reparsed = plumb_syntax::parse_file(&once);
        assert!(reparsed.diagnostics.iter().all(|d| !d.is_error()), "formatting keeps the file parseable");
    }
});
