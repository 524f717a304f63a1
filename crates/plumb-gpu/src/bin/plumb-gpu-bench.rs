//! `plumb-gpu-bench`: verifies the GPU backend against the f64 interpreter on
//! a DPO-like and a token-level PPO-like graph (with gradients), then times
//! their fused passes at N = 10^6, 10^7, 10^8 rows (DPO) and tokens (PPO), the
//! inputs already on the device, and prints the achieved bandwidth next to a
//! device-to-device buffer copy of the same traffic. Self-contained: the graphs
//! are built with plumb-ir and plumb-autodiff; it needs only a GPU driver.
//!
//! Usage: plumb-gpu-bench [--max N] [--repeats R] | --probe
//! `--probe` only prints the adapter (exit 0) or why there is none (exit 2).
//! `PLUMB_GPU_LOG=warn` (or info, debug) prints wgpu's log to stderr, e.g. why
//! no adapter was found.
//! Exit codes: 0 verified and timed, 1 a result disagreed with the interpreter,
//! 2 no GPU (the reason is printed) or a GPU error.

use plumb_gpu::sample;
use plumb_interp::Batch;
use plumb_ir::Graph;

/// wgpu's `log` records to stderr, at the level `PLUMB_GPU_LOG` names.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        eprintln!("[{} {}] {}", record.level(), record.target(), record.args());
    }
    fn flush(&self) {}
}

fn main() {
    if let Some(level) = std::env::var("PLUMB_GPU_LOG").ok().and_then(|l| l.parse::<log::LevelFilter>().ok()) {
        static LOGGER: StderrLog = StderrLog;
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(level);
        }
    }
    let mut max: usize = 100_000_000;
    let mut repeats: usize = 20;
    let mut args = std::env::args().skip(1).peekable();
    let probe = args.peek().is_some_and(|a| a == "--probe");
    if probe {
        args.next();
    }
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.replace('_', "").parse::<usize>().ok());
        match (arg.as_str(), value) {
            ("--max", Some(v)) => max = v,
            ("--repeats", Some(v)) => repeats = v.max(1),
            _ => {
                eprintln!("usage: plumb-gpu-bench [--max N] [--repeats R] | --probe");
                std::process::exit(2);
            }
        }
    }
    match plumb_gpu::adapter() {
        Ok(name) if probe => {
            println!("adapter: {name}");
            return;
        }
        Ok(name) => println!("adapter: {name}"),
        Err(e) => {
            println!("cannot run: {e}");
            std::process::exit(2);
        }
    }
    let mut ok = true;
    ok &= verify("dpo", &sample::dpo(0.1), sample::dpo_inputs(10_007));
    ok &= verify("ppo_clip", &sample::ppo(0.2), sample::ppo_inputs(200_000, 64));
    if !ok {
        println!("verification FAILED: not timing");
        std::process::exit(1);
    }
    println!();
    println!(
        "{:<9} {:>10} {:>10} {:>6} {:>10} {:>9} {:>10} {:>8} {:>9} {:>9} {:>8}",
        "graph",
        "rows",
        "tokens",
        "passes",
        "dispatches",
        "MB moved",
        "kernel ms",
        "GB/s",
        "copy GB/s",
        "DMA GB/s",
        "of copy"
    );
    let mut n = 1_000_000;
    while n <= max {
        time("dpo", &sample::dpo(0.1), sample::dpo_inputs(n), repeats);
        time("ppo_clip", &sample::ppo(0.2), sample::ppo_inputs(n, 64), repeats);
        n *= 10;
    }
    println!();
    println!(
        "MB moved: bytes the passes read and write per run (inputs, offsets, stores; a value read by two passes counts twice)."
    );
    println!(
        "copy GB/s: a copy kernel (y = −x, one f32 read and one written per row) moving the same bytes, the bandwidth ceiling;"
    );
    println!(
        "DMA GB/s: a device-to-device buffer copy (copy_buffer_to_buffer) of half those bytes (the same traffic);"
    );
    println!("of copy: GB/s as a share of the copy kernel's.");
}

fn fail(e: impl std::fmt::Display) -> ! {
    println!("GPU error: {e}");
    std::process::exit(2);
}

/// Runs a graph on the GPU and the interpreter; prints the worst error relative
/// to each output's largest magnitude, and whether two runs agree bit for bit.
fn verify(name: &str, graph: &Graph, (batch, inputs): (Batch, Vec<Vec<f32>>)) -> bool {
    let compiled = plumb_gpu::compile(graph).unwrap_or_else(|e| fail(e));
    let got = compiled.run(&batch, &inputs).unwrap_or_else(|e| fail(e));
    let again = compiled.run(&batch, &inputs).unwrap_or_else(|e| fail(e));
    let inputs64: Vec<Vec<f64>> = inputs.iter().map(|v| v.iter().map(|&x| f64::from(x)).collect()).collect();
    let expected = plumb_interp::run(&compiled.graph, &batch, &inputs64).unwrap_or_else(|e| fail(e));
    let mut worst = 0.0f64;
    for (output, values) in &got {
        let Some(id) = compiled.graph.output(output) else { continue };
        let want = &expected[id.index()];
        let scale = want.iter().filter(|x| x.is_finite()).fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
        for (x, y) in values.iter().zip(want) {
            let error = if (x.is_nan() && y.is_nan()) || x == y { 0.0 } else { (x - y).abs() / scale };
            worst = worst.max(if error.is_nan() { f64::INFINITY } else { error });
        }
    }
    let bitwise =
        got.iter().zip(&again).all(|((_, a), (_, b))| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
    let ok = worst <= 2e-4 && bitwise;
    println!(
        "verify {name}: {} rows, {} tokens, {} passes: worst error {worst:.2e} of scale (limit 2e-4), repeat runs bitwise identical: {} — {}",
        batch.rows,
        batch.len(plumb_ir::Shape::Tokens),
        compiled.kernel_count(),
        if bitwise { "yes" } else { "NO" },
        if ok { "ok" } else { "FAILED" }
    );
    ok
}

fn time(name: &str, graph: &Graph, (batch, inputs): (Batch, Vec<Vec<f32>>), repeats: usize) {
    let compiled = plumb_gpu::compile(graph).unwrap_or_else(|e| fail(e));
    let timing = compiled.time_passes(&batch, &inputs, repeats).unwrap_or_else(|e| fail(e));
    drop(inputs);
    let dma = plumb_gpu::time_copy(timing.bytes / 2, repeats).unwrap_or_else(|e| fail(e));
    let gbps = timing.bytes as f64 / timing.seconds / 1e9;
    let dma_gbps = (timing.bytes / 2 * 2) as f64 / dma / 1e9;
    // The copy kernel: the same machinery (bindings, bounds checks, dispatch chunks), no math.
    let mut copy = Graph::new("copy");
    let x = copy.input("x", plumb_ir::Shape::Rows, false);
    let y = copy.neg(x);
    copy.set_output("y", y);
    let values = (timing.bytes / 8) as usize;
    let copy_timing = plumb_gpu::compile(&copy)
        .and_then(|c| c.time_passes(&Batch::rows(values), &[vec![1.0; values]], repeats))
        .unwrap_or_else(|e| fail(e));
    let copy_gbps = copy_timing.bytes as f64 / copy_timing.seconds / 1e9;
    let tokens = batch.len(plumb_ir::Shape::Tokens);
    println!(
        "{:<9} {:>10} {:>10} {:>6} {:>10} {:>9.1} {:>10.3} {:>8.0} {:>9.0} {:>9.0} {:>7.0}%",
        name,
        batch.rows,
        if tokens == 0 { "-".to_string() } else { tokens.to_string() },
        compiled.kernel_count(),
        timing.dispatches,
        timing.bytes as f64 / 1e6,
        timing.seconds * 1e3,
        gbps,
        copy_gbps,
        dma_gbps,
        100.0 * gbps / copy_gbps
    );
    plumb_gpu::release_buffers();
}
