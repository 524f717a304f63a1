//! `--backend gpu` end to end (a `harness = false` target run by libtest-mimic):
//! every stdlib loss on the GPU against the interpreter, `plumb bench --backend
//! gpu`, `plumb rank --backend gpu` against the CPU fit, and `plumb dump wgsl`
//! (which needs no device). Where no adapter
//! exists, the device tests report themselves as ignored with the reason.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use plumb_cli::eval_loss::{EvalRequest, GradColumn, compile, eval_loss_on, parameter_values, resolve_loss};
use plumb_db::RootDatabase;
use plumb_ir::Shape;
use plumb_lower::ColumnKind;
use std::path::Path;
use std::process::Command;

fn stdlib_losses() -> Vec<String> {
    let db = RootDatabase::default();
    let file = db.file(&plumb_db::std_path("losses")).expect("losses");
    plumb_hir::own_defs(&db, file)
        .iter()
        .filter(|(_, d)| d.kind == plumb_hir::DefKind::Loss)
        .map(|(n, _)| n.clone())
        .collect()
}

/// Seeded rows with every column a loss reads.
fn rows_for(columns: &[plumb_lower::Column], rows: usize) -> String {
    let mut state = 0x2545_F491_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = String::new();
    for r in 0..rows {
        let tokens = 1 + (next() * 9.0) as usize;
        let mut object = serde_json::Map::new();
        for column in columns {
            let mut value = || -> serde_json::Value {
                match column.kind {
                    ColumnKind::Count => serde_json::json!(1 + (next() * 30.0) as u32),
                    ColumnKind::Bool => serde_json::json!(r % 3 != 0),
                    ColumnKind::Mask => serde_json::json!(u8::from(next() > 0.2)),
                    ColumnKind::Number
                        if column.name.starts_with("pi")
                            || column.name.starts_with("ref")
                            || column.name.contains("logp") =>
                    {
                        serde_json::json!(-0.5 - next() * 40.0)
                    }
                    ColumnKind::Number => serde_json::json!(next() * 4.0 - 2.0),
                }
            };
            let v = if column.shape == Shape::Tokens {
                serde_json::Value::Array((0..tokens).map(|_| value()).collect())
            } else {
                value()
            };
            object.insert(column.name.clone(), v);
        }
        out.push_str(&serde_json::Value::Object(object).to_string());
        out.push('\n');
    }
    out
}

fn every_stdlib_loss_matches_the_interpreter() -> Result<(), String> {
    for name in stdlib_losses() {
        let mut db = RootDatabase::default();
        let resolved = resolve_loss(&mut db, &name, None).map_err(|e| e.message)?;
        let params = parameter_values(&resolved.loss, &[]).map_err(|e| e.message)?;
        let (lowered, _) = compile(&resolved, &params).map_err(|e| e.message)?;
        let jsonl = rows_for(&lowered.columns, 300);
        let request = EvalRequest { loss: &name, params: vec![], rows_jsonl: &jsonl, recipe: None };
        let oracle =
            eval_loss_on(&request, plumb_cli::Backend::Interp, 1).map_err(|e| format!("{name}: {}", e.message))?;
        let gpu = eval_loss_on(&request, plumb_cli::Backend::Gpu, 1).map_err(|e| format!("{name}: {}", e.message))?;
        let close = |what: &str, a: &[f64], b: &[f64]| -> Result<(), String> {
            let scale = b.iter().filter(|x| x.is_finite()).fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if !((x - y).abs() <= 2e-4 * scale || (x.is_nan() && y.is_nan())) {
                    return Err(format!("{name} {what}[{i}]: gpu {x} vs interp {y}"));
                }
            }
            Ok(())
        };
        close("loss", &[gpu.loss], &[oracle.loss])?;
        if gpu.rows.is_some() != oracle.rows.is_some() {
            return Err(format!("{name}: rows differ in presence"));
        }
        if let (Some(a), Some(b)) = (&gpu.rows, &oracle.rows) {
            let a: Vec<f64> = a.iter().map(|x| x.unwrap_or(0.0)).collect();
            let b: Vec<f64> = b.iter().map(|x| x.unwrap_or(0.0)).collect();
            close("rows", &a, &b)?;
        }
        for (column, g) in &gpu.grad {
            let flat = |g: &GradColumn| match g {
                GradColumn::Rows(v) => v.clone(),
                GradColumn::Tokens(v) => v.concat(),
            };
            let other = oracle.grad.get(column).ok_or_else(|| format!("{name}: no oracle grad {column}"))?;
            close(&format!("grad.{column}"), &flat(g), &flat(other))?;
        }
    }
    Ok(())
}

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bench_json() -> Result<(), String> {
    let output = Command::new(env!("CARGO_BIN_EXE_plumb"))
        .args(["bench", "dpo", "--rows", "100000", "--backend", "gpu", "--json"])
        .current_dir(repo())
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.code() != Some(0) {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    for field in ["median_ms", "rows", "tokens", "threads", "gbps"] {
        if json.get(field).is_none() {
            return Err(format!("missing {field}: {json}"));
        }
    }
    Ok(())
}

fn dump_wgsl() -> Result<(), String> {
    let output = Command::new(env!("CARGO_BIN_EXE_plumb"))
        .args(["dump", "wgsl", "examples/quickstart.plumb", "--loss", "dpo"])
        .current_dir(repo())
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.code() != Some(0) || !stdout.contains("@compute") {
        return Err(format!("{}\n{stdout}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(())
}

/// `plumb rank --backend gpu` against the CPU backend on generated votes and
/// rankings, for every model: the same iterations, abilities within the fit's
/// 1e-8 tolerance (they agree far closer), SEs and log-likelihoods to 1e-9.
fn rank_on_the_gpu_matches_the_cpu() -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("plumb-rank-gpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut votes = String::from("item_a,item_b,winner\n");
    for _ in 0..20_000 {
        let a = next(60);
        let b = (a + 1 + next(59)) % 60;
        // Higher-numbered items win more often; one vote in eight is a tie.
        let winner = match next(8) {
            0 => "tie",
            _ if next(60 + a + b) < 30 + a => "a",
            _ => "b",
        };
        votes.push_str(&format!("m{a},m{b},{winner}\n"));
    }
    let mut rankings = String::new();
    for _ in 0..5_000 {
        let mut items: Vec<u64> = Vec::new();
        while items.len() < 2 + next(4) as usize {
            let item = next(40);
            if !items.contains(&item) {
                items.push(item);
            }
        }
        items.sort_by_key(|&i| std::cmp::Reverse(i + next(25)));
        let names: Vec<String> = items.iter().map(|i| format!("\"r{i}\"")).collect();
        rankings.push_str(&format!("[{}]\n", names.join(",")));
    }
    std::fs::write(dir.join("votes.csv"), votes).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("rankings.jsonl"), rankings).map_err(|e| e.to_string())?;
    let rank = |args: &[&str]| -> Result<serde_json::Value, String> {
        let output = Command::new(env!("CARGO_BIN_EXE_plumb"))
            .arg("rank")
            .args(args)
            .arg("--json")
            .current_dir(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.code() != Some(0) {
            return Err(format!("plumb rank {args:?}: {}", String::from_utf8_lossy(&output.stderr)));
        }
        serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
    };
    for args in [
        &["votes.csv", "--model", "bt"][..],
        &["votes.csv", "--model", "bt", "--l2", "0.5", "--reference", "m7"],
        &["votes.csv", "--model", "thurstone", "--ties", "half"],
        &["votes.csv", "--model", "davidson"],
        &["rankings.jsonl"],
        &["rankings.jsonl", "--l2", "0.1"],
    ] {
        let cpu = rank(args)?;
        let gpu = rank(&[args, &["--backend", "gpu"]].concat())?;
        let close = |a: &serde_json::Value, b: &serde_json::Value, tolerance: f64| {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            (a - b).abs() <= tolerance * (1.0 + a.abs())
        };
        let cpu_items = cpu["items"].as_array().ok_or("no items")?;
        let gpu_items = gpu["items"].as_array().ok_or("no items")?;
        let same = cpu["iterations"] == gpu["iterations"]
            && close(&cpu["loglik"], &gpu["loglik"], 1e-9)
            && cpu_items.len() == gpu_items.len()
            && cpu_items.iter().zip(gpu_items).all(|(c, g)| {
                c["item"] == g["item"] && close(&c["ability"], &g["ability"], 1e-8) && close(&c["se"], &g["se"], 1e-9)
            });
        if !same {
            return Err(format!("plumb rank {args:?}: the GPU fit differs\ncpu: {cpu}\ngpu: {gpu}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

type DeviceTest = fn() -> Result<(), String>;

fn main() {
    let args = Arguments::from_args();
    let adapter = plumb_gpu::adapter();
    let skip = adapter.as_ref().err().map(|e| format!("SKIPPED: no GPU adapter: {e}"));
    match &adapter {
        Ok(name) => eprintln!("GPU tests run on {name}"),
        Err(e) => eprintln!("SKIPPED: the GPU tests below are ignored: {e}"),
    }
    let gpu_tests: Vec<(&str, DeviceTest)> = vec![
        ("gpu::every_stdlib_loss_matches_the_interpreter", every_stdlib_loss_matches_the_interpreter),
        ("gpu::bench_prints_json", bench_json),
    ];
    // The rating fits run f64 kernels, which need 64-bit shader support.
    let f64_skip = skip.clone().or_else(|| match plumb_gpu::supports_f64() {
        Ok(true) => None,
        _ => Some("SKIPPED: the GPU has no 64-bit floats or integers in shaders".to_string()),
    });
    let f64_tests: Vec<(&str, DeviceTest)> =
        vec![("gpu::rank_on_the_gpu_matches_the_cpu", rank_on_the_gpu_matches_the_cpu)];
    let mut trials: Vec<Trial> = gpu_tests
        .into_iter()
        .map(|(name, test)| {
            let skip = skip.clone();
            Trial::ignorable_test(name, move || match skip {
                Some(reason) => Ok(Completion::ignored_with(reason)),
                None => test().map(|()| Completion::Completed).map_err(Failed::from),
            })
        })
        .collect();
    for (name, test) in f64_tests {
        let skip = f64_skip.clone();
        trials.push(Trial::ignorable_test(name, move || match skip {
            Some(reason) => Ok(Completion::ignored_with(reason)),
            None => test().map(|()| Completion::Completed).map_err(Failed::from),
        }));
    }
    trials.push(Trial::test("dump_wgsl_needs_no_device", || dump_wgsl().map_err(Failed::from)));
    libtest_mimic::run(&args, trials).exit();
}
