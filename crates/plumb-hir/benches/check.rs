//! Parse + check of a 500-line recipe, cold (a fresh database) and after a
//! one-line edit (incremental). Run with `cargo bench -p plumb-hir`.

use criterion::{Criterion, criterion_group, criterion_main};
use plumb_db::RootDatabase;
use std::hint::black_box;

/// A realistic recipe of about 500 lines: losses, models, stages.
pub fn recipe(lines: usize) -> String {
    let mut out = String::from(
        "//! Benchmark recipe.\nuse std.data.{Pairwise, jsonl, split}\nuse std.models.{causal_lm, frozen}\nuse std.losses.{dpo, ipo}\nuse std.train.adamw\n\nlet prefs = jsonl(\"data/pairs.jsonl\") as Pairwise\nlet parts = split(prefs, holdout = 0.1, seed = 7)\nmodel policy = causal_lm(\"models/tiny\")\nmodel reference = frozen(policy)\n\n",
    );
    let mut i = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "/// Variant {i} of a margin loss.\nloss margin_{i}(beta: f32 > 0 = 0.1, gamma: f32 in [0, 1) = 0.5) on Pairwise {{\n    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)\n    let rho_r = policy.logp(rejected | prompt) - reference.logp(rejected | prompt)\n    let h = beta * (rho_c - rho_r) - gamma\n    -log_sigmoid(h) + 0.01 * (rho_c / len(chosen))^2\n}}\n\ntrain policy on parts.train {{\n    loss = margin_{i}(beta = 0.{}, gamma = 0.25)\n    optimizer = adamw(lr = 1e-4)\n    batch = 16\n    micro_batch = 8\n    epochs = 1\n}}\n\n",
            i % 9 + 1
        ));
        i += 1;
    }
    out.push_str(
        "train policy on parts.train { loss = dpo(beta = 0.1) }\ntrain policy on parts.train { loss = ipo() }\n",
    );
    out
}

fn bench(c: &mut Criterion) {
    let text = recipe(500);
    c.bench_function("check 500-line recipe, cold", |b| {
        b.iter(|| {
            let mut db = RootDatabase::default();
            let file = db.set_file("bench.plumb", text.clone());
            black_box(plumb_hir::file_diagnostics(&db, file).len())
        })
    });
    let mut db = RootDatabase::default();
    let file = db.set_file("bench.plumb", text.clone());
    assert!(plumb_hir::file_diagnostics(&db, file).is_empty());
    let edited = text.replacen("beta = 0.1, gamma = 0.25", "beta = 0.3, gamma = 0.25", 1);
    let variants = [text.clone(), edited];
    let mut flip = 0;
    c.bench_function("re-check after a one-line edit", |b| {
        b.iter(|| {
            flip ^= 1;
            db.set_file("bench.plumb", variants[flip].clone());
            black_box(plumb_hir::file_diagnostics(&db, file).len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
