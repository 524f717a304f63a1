//! A first end-to-end check: a DPO-like graph with its gradient on the CPU
//! backend against the interpreter.

use plumb_interp::Batch;
use plumb_ir::{Axis, Graph, Reduce, Shape, Unary};

#[test]
fn dpo_like_graph_matches_the_interpreter() {
    let mut g = Graph::new("dpo");
    let pc = g.input("pi_chosen", Shape::Rows, true);
    let pr = g.input("pi_rejected", Shape::Rows, true);
    let rc = g.input("ref_chosen", Shape::Rows, false);
    let rr = g.input("ref_rejected", Shape::Rows, false);
    let a = g.sub(pc, rc);
    let c = g.sub(pr, rr);
    let d = g.sub(a, c);
    let beta = g.constant(0.1);
    let h = g.mul(beta, d);
    let ls = g.unary(Unary::LogSigmoid, h);
    let row = g.neg(ls);
    let loss = g.reduce(Reduce::Mean, Axis::Batch, row, None);
    g.set_output("loss", loss);
    g.set_output("rows", row);
    let g = plumb_autodiff::differentiate(&g, "loss").expect("differentiates");
    let compiled = plumb_cpu::compile(&g).expect("compiles");
    assert_eq!(compiled.kernel_count(), 1, "{}", compiled.plan);
    let n = 1003;
    let inputs: Vec<Vec<f64>> =
        (0..4).map(|k| (0..n).map(|i| -(((i * 7 + k * 13) % 97) as f64) * 0.37 - 1.0).collect()).collect();
    let batch = Batch::rows(n);
    let expected = plumb_interp::run(&g, &batch, &inputs).expect("interp");
    let inputs32: Vec<Vec<f32>> = inputs.iter().map(|v| v.iter().map(|&x| x as f32).collect()).collect();
    for threads in [1, 2, 8] {
        let got = compiled.run(&batch, &inputs32, threads).expect("runs");
        for (name, values) in &got {
            let want = &expected[g.output(name).expect("output").index()];
            let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
            for (i, (x, y)) in values.iter().zip(want).enumerate() {
                assert!((x - y).abs() <= 2e-4 * scale, "{name}[{i}]: cpu {x} vs interp {y} (threads {threads})");
            }
        }
    }
}
