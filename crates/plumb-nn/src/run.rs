//! `plumb run RECIPE`: plans the recipe, runs stale stages with the local
//! executor, and prints the summary (or one JSON object with `--json`).

use crate::stages::LocalExecutor;
use plumb_cli::nn_args::RunArgs;
use plumb_cli::pipeline;
use serde_json::{Value, json};

fn show(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
            Some(x) => format!("{x:.4}"),
            None => n.to_string(),
        },
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn run(args: &RunArgs) -> i32 {
    let prepared = match pipeline::prepare(&args.recipe, &args.plan.sets) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let options = plumb_plan::RunOptions::new(args.plan.seed, args.plan.threads, args.quiet);
    tch::set_num_threads(args.plan.threads as i32);
    let executor = LocalExecutor { torch_threads: args.plan.threads };
    let report = match plumb_plan::run(&prepared.plan, &prepared.project, &executor, &options) {
        Ok(report) => report,
        Err(error) => {
            // A stage error points at the recipe expression the stage came from.
            let span =
                prepared.plan.stages.iter().find(|s| error.message.starts_with(&format!("stage `{}`", s.name))).map(
                    |s| match s.loss_span {
                        // A non-finite loss is reported at the loss expression that produced it.
                        Some(loss) if error.message.contains(" is NaN") || error.message.contains(" is inf") => loss,
                        _ => s.span,
                    },
                );
            pipeline::report_runtime(&prepared, &error, span);
            return 1;
        }
    };
    if args.json {
        let stages: Vec<Value> = report
            .stages
            .iter()
            .map(
                |s| json!({"name": s.name, "status": s.status, "seconds": s.seconds, "key": s.key, "output": s.output}),
            )
            .collect();
        let outputs: serde_json::Map<String, Value> =
            report.outputs.iter().map(|(k, v)| (k.clone(), json!(v.display().to_string()))).collect();
        crate::commands::emit(
            &json!({"stages": stages, "manifest": report.manifest.display().to_string(), "outputs": outputs, "metrics": report.metrics})
                .to_string(),
        );
        return 0;
    }
    let mut out = String::new();
    out.push_str(&format!("{:<34} {:<7} {:>8}  {}\n", "stage", "status", "seconds", "why"));
    for s in &report.stages {
        let why = if s.status == "ran" { s.reason.as_str() } else { "" };
        out.push_str(&format!("{:<34} {:<7} {:>8.2}  {why}\n", s.name, s.status, s.seconds));
    }
    if let Value::Object(metrics) = &report.metrics {
        for (stage, values) in metrics {
            if let Value::Object(values) = values {
                let shown: Vec<String> = values.iter().map(|(k, v)| format!("{k} {}", show(v))).collect();
                out.push_str(&format!("\n{stage}: {}", shown.join(", ")));
                if let (Some(model), Some(vs), Some(win)) = (
                    values.get("judge_score").and_then(Value::as_f64),
                    values.get("judge_score_vs").and_then(Value::as_f64),
                    values.get("win_rate").and_then(Value::as_f64),
                ) {
                    out.push_str(&format!(
                        "\n  the judge's mean score of samples: {model:.3} for the model, {vs:.3} for the one it is compared with; it prefers the model's {:.0}% of the time",
                        win * 100.0
                    ));
                }
            }
        }
        out.push('\n');
    }
    for s in &report.stages {
        if let Some(board) = s.dir.as_ref().and_then(|d| std::fs::read_to_string(d.join("leaderboard.txt")).ok()) {
            out.push_str(&format!("\n{}:\n{board}", s.name));
        }
    }
    for (model, dir) in &report.outputs {
        out.push_str(&format!("\n{model}: {}", dir.display()));
    }
    out.push_str(&format!("\nmanifest: {}\n", report.manifest.display()));
    crate::commands::emit(out.trim_end());
    0
}
