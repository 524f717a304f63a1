//! Prints reviews of the demo corpus with the judge's score:
//! `cargo run -p plumb-judge --example samples [-- SEED [N]]`.

use plumb_judge::{corpus, sentiment};

fn main() {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let n = args.next().and_then(|s| s.parse().ok()).unwrap_or(12);
    for review in corpus(seed, n) {
        let text = review.text();
        println!("{:+.3}  {:<8}  {text}", sentiment(&text), format!("{:?}", review.sentiment).to_lowercase());
    }
}
