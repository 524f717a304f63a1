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
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        let inputs: Vec<Vec<f64>> = lowered
            .columns
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
            .collect();
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
