//! Times loading and fitting a votes file:
//! `cargo run --release -p plumb-ratings --example time_rank -- FILE [--native] [--pl]`
//! (`--native`: Newton's terms by the native loops instead of the fused f64 kernels;
//! `--pl`: fit Plackett–Luce, for JSONL rankings; otherwise Bradley–Terry).

fn main() {
    let path = std::env::args().nth(1).expect("a votes file");
    let kernels = !std::env::args().any(|a| a == "--native");
    let start = std::time::Instant::now();
    let data = plumb_ratings::load(std::path::Path::new(&path)).expect("loads");
    let loaded = start.elapsed();
    let model = if std::env::args().any(|a| a == "--pl") {
        plumb_ratings::Model::PlackettLuce
    } else {
        plumb_ratings::Model::BradleyTerry
    };
    let options = plumb_ratings::Options { kernels, ..plumb_ratings::Options::new(model) };
    let fit = plumb_ratings::fit(&data, &options).expect("fits");
    let total = start.elapsed();
    println!(
        "{} items, {} {}{}: load {:.3} s, fit {:.3} s ({} Newton iterations), total {:.3} s",
        data.items.len(),
        data.units(),
        if matches!(data.observations, plumb_ratings::Observations::Rankings(_)) { "rankings" } else { "comparisons" },
        if kernels { "" } else { " (native loop)" },
        loaded.as_secs_f64(),
        (total - loaded).as_secs_f64(),
        fit.iterations,
        total.as_secs_f64()
    );
}
