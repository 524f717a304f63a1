//! Writes seeded synthetic Bradley–Terry votes as CSV (`item_a,item_b,winner`):
//! `cargo run --release -p plumb-ratings --example synth_votes -- ITEMS COMPARISONS SEED > votes.csv`.
//! Abilities are uniform on [−1.5, 1.5]; pairs are uniform over distinct items.

use std::io::Write;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("ITEMS COMPARISONS SEED")).collect();
    let (n, comparisons, seed) = match args.as_slice() {
        [n, c, s] => (*n as usize, *c as usize, *s),
        _ => (1000, 1_000_000, 1),
    };
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let truth: Vec<f64> = (0..n).map(|_| 3.0 * uniform() - 1.5).collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "item_a,item_b,winner").unwrap();
    for _ in 0..comparisons {
        let a = (uniform() * n as f64) as usize;
        let mut b = (uniform() * (n - 1) as f64) as usize;
        if b >= a {
            b += 1;
        }
        let p = 1.0 / (1.0 + (truth[b] - truth[a]).exp());
        let winner = if uniform() < p { "a" } else { "b" };
        writeln!(out, "m{a:04},m{b:04},{winner}").unwrap();
    }
}
