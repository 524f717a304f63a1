//! Every stdlib loss lowers to a graph that verifies and round-trips through
//! the IR text form, and its gradient graph agrees with central finite
//! differences of its forward graph on random rows.

use plumb_cli::eval_loss::{compile, parameter_values, resolve_loss};
use plumb_db::RootDatabase;
use plumb_hir::DefKind;
use plumb_interp::{Batch, run};
use plumb_ir::Shape;
use plumb_lower::ColumnKind;

fn stdlib_losses() -> Vec<String> {
    let db = RootDatabase::default();
    let file = db.file(&plumb_db::std_path("losses")).expect("losses");
    plumb_hir::own_defs(&db, file).iter().filter(|(_, d)| d.kind == DefKind::Loss).map(|(n, _)| n.clone()).collect()
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Random values for each column of a loss over `batch`: log-probs for the
/// policy and reference columns, counts, flags and masks as their kinds say.
fn random_columns(columns: &[plumb_lower::Column], batch: &Batch, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng(seed);
    columns
        .iter()
        .map(|column| {
            let n = batch.len(column.shape);
            (0..n)
                .map(|i| match column.kind {
                    ColumnKind::Count => 1.0 + (rng.next() * 20.0).floor(),
                    ColumnKind::Bool => f64::from(u8::from(i % 2 == 0)),
                    ColumnKind::Mask => f64::from(u8::from(i % 4 != 3)),
                    ColumnKind::Number if column.name.starts_with("pi") || column.name.starts_with("ref") => {
                        -1.0 - rng.next() * 30.0
                    }
                    ColumnKind::Number => rng.next() * 4.0 - 2.0,
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_stdlib_loss_compiles_round_trips_and_differentiates() {
    let names = stdlib_losses();
    assert!(names.len() >= 21, "{names:?}");
    for name in names {
        let mut db = RootDatabase::default();
        let resolved = resolve_loss(&mut db, &name, None).expect("resolves");
        let params = parameter_values(&resolved.loss, &[]).expect("defaults");
        let (lowered, graph) = compile(&resolved, &params).unwrap_or_else(|e| panic!("{name}: {}", e.message));
        let text = graph.to_string();
        let parsed = plumb_ir::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.to_string(), text, "{name}: text round trip");
        plumb_ir::verify(&parsed).unwrap_or_else(|e| panic!("{name}: {e:?}"));

        let lengths = [3usize, 1, 4, 2, 5, 2];
        let rows = lengths.len();
        let batch = if lowered.uses_tokens { Batch::with_tokens(&lengths) } else { Batch::rows(rows) };
        let inputs = random_columns(&lowered.columns, &batch, 0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        let loss_of = |inputs: &[Vec<f64>]| -> f64 {
            let values = run(&lowered.graph, &batch, inputs).expect("forward runs");
            values[lowered.graph.output("loss").expect("loss").index()][0]
        };
        let values = run(&graph, &batch, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let loss = values[graph.output("loss").expect("loss").index()][0];
        assert!(loss.is_finite(), "{name}: loss {loss}");
        for (number, column) in lowered.columns.iter().enumerate() {
            if !column.grad {
                continue;
            }
            assert!(matches!(column.shape, Shape::Rows | Shape::Tokens));
            let zeros = vec![0.0; inputs[number].len()];
            let grad = match graph.output(&format!("grad.{}", column.name)) {
                Some(id) => &values[id.index()],
                None => &zeros, // the loss does not depend on it (kto's pi_kl)
            };
            for i in 0..inputs[number].len() {
                let x = inputs[number][i];
                let h = 1e-6 * x.abs().max(1.0);
                let mut plus = inputs.clone();
                plus[number][i] = x + h;
                let mut minus = inputs.clone();
                minus[number][i] = x - h;
                let numeric = (loss_of(&plus) - loss_of(&minus)) / (2.0 * h);
                assert!(
                    (grad[i] - numeric).abs() <= 1e-5 * numeric.abs().max(1.0),
                    "{name}: ∂L/∂{}[{i}] = {} but finite differences give {numeric}",
                    column.name,
                    grad[i]
                );
            }
        }
    }
}

#[test]
fn dump_ir_prints_forward_and_gradient_graphs() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_plumb"))
        .args(["dump", "ir", "examples/custom_loss.plumb"])
        .current_dir(&repo)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(": forward") && stdout.contains(": gradient"), "{stdout}");
    assert!(stdout.contains("input pi_chosen : rows grad"), "{stdout}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_plumb"))
        .args(["dump", "ir", "examples/quickstart.plumb", "--loss", "dpo"])
        .current_dir(&repo)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("output grad.pi_rejected"));
}

/// Fusion: per-row losses run forward and backward in one pass over the rows;
/// a second pass only where the gradient needs a whole-batch result first.
#[test]
fn kernel_counts_per_stdlib_loss() {
    let expected: &[(&str, usize, usize)] = &[
        // (loss, passes, batch-coupled host steps)
        ("dpo", 1, 0),
        ("dpo_hinge", 1, 0),
        ("ipo", 1, 0),
        ("exo_pair", 1, 0),
        ("nca_pair", 1, 0),
        ("robust_dpo", 1, 0),
        ("bco_pair", 1, 0),
        ("sppo_hard", 1, 0),
        ("apo_zero", 1, 0),
        ("apo_down", 1, 0),
        ("discopop", 1, 0),
        ("dpo_norm", 1, 0),
        ("simpo", 1, 0),
        ("reward_bt", 1, 0),
        // The gradient needs a batch result first: KTO's z0, the token-weighted
        // nll's Σ len (orpo, cpo with alpha > 0, nll), PPO's Σ mask.
        ("kto", 2, 0),
        ("orpo", 2, 0),
        ("cpo", 2, 0),
        ("nll", 2, 0),
        ("ppo_clip", 2, 0),
        // Sorting over the batch: differences (pass), sorts and permutations
        // (host), per-rank losses and gradients (pass), unsorting (host), and the
        // rejected side's negated gradient (pass).
        ("aot", 3, 5),
        ("aot_unpaired", 2, 6),
    ];
    let names = stdlib_losses();
    assert_eq!(names.len(), expected.len(), "every stdlib loss has an expected count");
    for (name, passes, host) in expected {
        let mut db = RootDatabase::default();
        let resolved = resolve_loss(&mut db, name, None).expect("resolves");
        let params = parameter_values(&resolved.loss, &[]).expect("defaults");
        let (_, graph) = compile(&resolved, &params).expect("compiles");
        let plan = plumb_fuse::plan(&graph.pruned());
        assert_eq!((plan.kernel_count(), plan.host_op_count()), (*passes, *host), "{name}:\n{plan}");
    }
}

/// The CPU backend's software-pipelined four-row loops give bitwise the
/// plain loops' results for every stdlib loss, and the losses built on
/// log_sigmoid (or sigmoid, softplus) of per-row values are pipelined.
#[test]
fn pipelined_kernels_give_the_plain_loops_bits_for_every_stdlib_loss() {
    let mut pipelined_losses = Vec::new();
    for name in stdlib_losses() {
        let mut db = RootDatabase::default();
        let resolved = resolve_loss(&mut db, &name, None).expect("resolves");
        let params = parameter_values(&resolved.loss, &[]).expect("defaults");
        let (lowered, graph) = compile(&resolved, &params).expect("compiles");
        let pipelined = plumb_cpu::compile(&graph).unwrap_or_else(|e| panic!("{name}: {e}"));
        let plain = plumb_cpu::compile_unpipelined(&graph).unwrap_or_else(|e| panic!("{name}: {e}"));
        if pipelined.pipelined_kernel_count() > 0 {
            pipelined_losses.push(name.clone());
        }
        for rows in [1usize, 5, 8, 39, 20_011] {
            let lengths: Vec<usize> = (0..rows).map(|i| 1 + i % 7).collect();
            let batch = if lowered.uses_tokens { Batch::with_tokens(&lengths) } else { Batch::rows(rows) };
            let inputs: Vec<Vec<f32>> = random_columns(&lowered.columns, &batch, 0x5EED ^ rows as u64)
                .into_iter()
                .map(|c| c.into_iter().map(|x| x as f32).collect())
                .collect();
            let reference = plain.run(&batch, &inputs, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
            for threads in [1, 2] {
                let got = pipelined.run(&batch, &inputs, threads).unwrap_or_else(|e| panic!("{name}: {e}"));
                for ((output, a), (_, b)) in got.iter().zip(&reference) {
                    let same = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{name}.{output}: {rows} rows, {threads} threads");
                }
            }
        }
    }
    for name in ["dpo", "simpo", "robust_dpo", "kto", "reward_bt"] {
        assert!(pipelined_losses.iter().any(|p| p == name), "{name} is not pipelined: {pipelined_losses:?}");
    }
}

/// Random rows (JSONL) with every column a loss reads.
fn random_rows(columns: &[plumb_lower::Column], rows: usize, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::new();
    for r in 0..rows {
        let tokens = 1 + (rng.next() * 9.0) as usize;
        let mut object = serde_json::Map::new();
        for column in columns {
            let value = |rng: &mut Rng| -> serde_json::Value {
                match column.kind {
                    ColumnKind::Count => serde_json::json!(1 + (rng.next() * 30.0) as u32),
                    ColumnKind::Bool => serde_json::json!(r % 3 != 0),
                    ColumnKind::Mask => serde_json::json!(u8::from(rng.next() > 0.2)),
                    ColumnKind::Number
                        if column.name.starts_with("pi")
                            || column.name.starts_with("ref")
                            || column.name.contains("logp") =>
                    {
                        serde_json::json!(-0.5 - rng.next() * 40.0)
                    }
                    ColumnKind::Number => serde_json::json!(rng.next() * 4.0 - 2.0),
                }
            };
            let v = if column.shape == Shape::Tokens {
                serde_json::Value::Array((0..tokens).map(|_| value(&mut rng)).collect())
            } else {
                value(&mut rng)
            };
            object.insert(column.name.clone(), v);
        }
        out.push_str(&serde_json::Value::Object(object).to_string());
        out.push('\n');
    }
    out
}

/// The CPU backend agrees with the interpreter on every stdlib loss, within the
/// f32 tolerance: 2e-4 relative to the largest magnitude of the quantity.
#[test]
fn cpu_backend_matches_the_interpreter_on_every_stdlib_loss() {
    use plumb_cli::eval_loss::{EvalRequest, GradColumn, eval_loss_on};
    for name in stdlib_losses() {
        let mut db = RootDatabase::default();
        let resolved = resolve_loss(&mut db, &name, None).expect("resolves");
        let params = parameter_values(&resolved.loss, &[]).expect("defaults");
        let (lowered, _) = compile(&resolved, &params).expect("compiles");
        for (rows, seed) in [(7usize, 3u64), (300, 11)] {
            let jsonl = random_rows(&lowered.columns, rows, seed);
            let request = EvalRequest { loss: &name, params: vec![], rows_jsonl: &jsonl, recipe: None };
            let oracle = eval_loss_on(&request, plumb_cli::Backend::Interp, 1)
                .unwrap_or_else(|e| panic!("{name}: {}", e.message));
            let cpu =
                eval_loss_on(&request, plumb_cli::Backend::Cpu, 2).unwrap_or_else(|e| panic!("{name}: {}", e.message));
            let close = |what: &str, a: &[f64], b: &[f64]| {
                let scale = b.iter().filter(|x| x.is_finite()).fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() <= 2e-4 * scale || (x.is_nan() && y.is_nan()),
                        "{name} {what}[{i}]: cpu {x} vs interp {y}"
                    );
                }
            };
            close("loss", &[cpu.loss], &[oracle.loss]);
            if let (Some(a), Some(b)) = (&cpu.rows, &oracle.rows) {
                let a: Vec<f64> = a.iter().map(|x| x.unwrap_or(0.0)).collect();
                let b: Vec<f64> = b.iter().map(|x| x.unwrap_or(0.0)).collect();
                close("rows", &a, &b);
            }
            assert_eq!(cpu.rows.is_some(), oracle.rows.is_some(), "{name}");
            assert_eq!(cpu.grad.keys().collect::<Vec<_>>(), oracle.grad.keys().collect::<Vec<_>>(), "{name}");
            for (column, g) in &cpu.grad {
                let flat = |g: &GradColumn| match g {
                    GradColumn::Rows(v) => v.clone(),
                    GradColumn::Tokens(v) => v.concat(),
                };
                close(&format!("grad.{column}"), &flat(g), &flat(&oracle.grad[column]));
            }
        }
    }
}
