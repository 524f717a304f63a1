//! Latency from `didChange` to the `publishDiagnostics` of that version, over the
//! protocol (the server binary as a child process, JSON-RPC over pipes), on a
//! 1 000-line recipe, for one-line edits. Run with
//! `cargo bench -p plumb-lsp --bench latency`; prints p50, p99 and max per kind of edit.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Client, position, recipe, temp_dir, uri};
use std::time::{Duration, Instant};

const EDITS: usize = 200;
const WARMUP: usize = 20;

/// A one-line edit and its inverse: (byte offset, old text, new text).
struct Flip {
    name: &'static str,
    offset: usize,
    a: &'static str,
    b: &'static str,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run both ways.
    let text = recipe(1000);
    let lines = text.lines().count();
    let dir = temp_dir("bench");
    let doc = uri(&dir.join("bench.plumb"));
    let mut client = Client::start();
    let opened = Instant::now();
    client.open(&doc, &text);
    let first = client.diagnostics(&doc, Some(1));
    println!(
        "opened a {lines}-line recipe: first diagnostics in {:.2} ms ({} diagnostics)",
        opened.elapsed().as_secs_f64() * 1e3,
        first.len()
    );
    let middle = text.len() / 2;
    let stage = text[middle..].find("beta = 0.").map(|i| middle + i + "beta = 0.".len()).expect("a stage");
    let body = text[middle..].find("0.01 *").map(|i| middle + i + "0.0".len()).expect("a loss body");
    let name = text[middle..].find("-log_sigmoid(h)").map(|i| middle + i + "-log_sigmoid(".len()).expect("a name");
    let digit: &'static str = Box::leak(text[stage..stage + 1].to_string().into_boxed_str());
    let other = if digit == "7" { "8" } else { "7" };
    let flips = [
        Flip { name: "digit in a stage option", offset: stage, a: digit, b: other },
        Flip { name: "digit in a loss body", offset: body, a: "1", b: "2" },
        Flip { name: "name typed wrong (error) and back", offset: name, a: "h", b: "q" },
    ];
    let mut version = 1;
    let mut current = text.clone();
    println!("{:<36} {:>9} {:>9} {:>9} {:>9}", "edit", "p50 ms", "p99 ms", "max ms", "mean ms");
    let mut worst_p99 = Duration::ZERO;
    for flip in &flips {
        let mut samples = Vec::with_capacity(EDITS);
        for i in 0..WARMUP + EDITS {
            let (from, to) = if i % 2 == 0 { (flip.a, flip.b) } else { (flip.b, flip.a) };
            assert_eq!(&current[flip.offset..flip.offset + from.len()], from);
            let (line, character) = position(&current, flip.offset);
            version += 1;
            let start = Instant::now();
            client.change(&doc, version, (line, character, line, character + from.len() as u32), to);
            let diagnostics = client.diagnostics(&doc, Some(version));
            let elapsed = start.elapsed();
            current.replace_range(flip.offset..flip.offset + from.len(), to);
            let expect_error = flip.b == "q" && to == "q";
            assert_eq!(diagnostics.iter().any(|d| d["severity"] == 1), expect_error, "{diagnostics:?}");
            if i >= WARMUP {
                samples.push(elapsed);
            }
        }
        samples.sort();
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let p99 = percentile(&samples, 0.99);
        worst_p99 = worst_p99.max(p99);
        println!(
            "{:<36} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            flip.name,
            ms(percentile(&samples, 0.5)),
            ms(p99),
            ms(*samples.last().unwrap()),
            ms(mean)
        );
    }
    println!(
        "{EDITS} edits per kind after {WARMUP} warm-up edits; target p99 <= 10 ms: {}",
        if worst_p99 <= Duration::from_millis(10) { "met" } else { "NOT met" }
    );
    assert_eq!(client.shutdown(), 0);
}
