//! The `fit` and `report leaderboard(...)` stages: a preference model over
//! items fitted by plumb-ratings to the rows of a data stage, and its
//! leaderboard with bootstrap intervals.

use crate::data;
use crate::plan::StageKind;
use crate::schedule::{STAGE_FAILED, StageContext};
use plumb_ratings::{Dataset, Model, Options, Ties};
use plumb_runtime::{RuntimeError, write_atomic};
use serde_json::{Value, json};

fn fail(error: plumb_ratings::RatingsError) -> RuntimeError {
    RuntimeError::new(error.code, error.message)
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// The rows as a plumb-ratings dataset: pairwise when rows have `item_a`, else rankings (the first list field).
fn dataset(rows: &[Value], shown: &str) -> Result<Dataset, RuntimeError> {
    if rows.first().is_some_and(|r| r.get("item_a").is_some()) {
        let counts = rows[0].get("wins_a").is_some();
        let mut csv =
            String::from(if counts { "item_a,item_b,wins_a,wins_b,ties\n" } else { "item_a,item_b,winner\n" });
        for row in rows {
            let text = |k: &str| match &row[k] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let fields: Vec<String> = if counts {
                ["item_a", "item_b", "wins_a", "wins_b", "ties"].iter().map(|k| text(k)).collect()
            } else {
                ["item_a", "item_b", "winner"].iter().map(|k| text(k)).collect()
            };
            csv.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            csv.push('\n');
        }
        return plumb_ratings::parse_csv(&csv, shown).map_err(fail);
    }
    let mut lines = String::new();
    for row in rows {
        let list = row
            .as_object()
            .and_then(|o| o.values().find(|v| v.is_array()))
            .ok_or_else(|| RuntimeError::new("P0820", format!("{shown}: a ranking row needs a list of items")))?;
        lines.push_str(&list.to_string());
        lines.push('\n');
    }
    plumb_ratings::parse_rankings(&lines, shown).map_err(fail)
}

fn options(kind: &StageKind, data: &Dataset) -> Result<Options, RuntimeError> {
    let StageKind::Fit { model, l2, ties, reference, tolerance, max_iterations, backend } = kind else {
        return Err(RuntimeError::new(STAGE_FAILED, "not a fit stage"));
    };
    let mut options = Options::new(match model.as_str() {
        "thurstone" => Model::Thurstone,
        "davidson" => Model::Davidson,
        "plackett_luce" => Model::PlackettLuce,
        _ => Model::BradleyTerry,
    });
    options.l2 = *l2;
    if let Some(tolerance) = tolerance {
        options.tolerance = *tolerance;
    }
    if let Some(limit) = max_iterations {
        options.max_iterations = usize::try_from(*limit).unwrap_or(usize::MAX);
    }
    if backend.as_deref() == Some("gpu") {
        options.backend = plumb_ratings::Backend::Gpu;
    }
    options.ties = if ties == "half" { Ties::Half } else { Ties::Ignore };
    if let Some(name) = reference {
        options.reference = Some(data.index_of(name).ok_or_else(|| {
            RuntimeError::new("P0606", format!("the reference `{name}` is not an item of the votes"))
        })?);
    }
    Ok(options)
}

pub fn execute(ctx: &StageContext) -> Result<Value, RuntimeError> {
    let data_input = ctx.input("data")?;
    let rows = data::read_rows(&ctx.rows_path("data")?)?;
    let dataset = dataset(&rows, &data_input.stage)?;
    match &ctx.stage.kind {
        StageKind::Fit { .. } => {
            let options = options(&ctx.stage.kind, &dataset)?;
            let fit = plumb_ratings::fit(&dataset, &options).map_err(fail)?;
            let items: Vec<Value> = (0..dataset.items.len())
                .map(|i| json!({"item": dataset.items[i], "ability": fit.abilities[i], "se": fit.se[i]}))
                .collect();
            let out =
                json!({"items": items, "loglik": fit.loglik, "iterations": fit.iterations, "tie_param": fit.tie_param});
            write_atomic(
                ctx.out.join("ratings.json"),
                serde_json::to_string_pretty(&out).unwrap_or_default().as_bytes(),
            )?;
            Ok(json!({"items": dataset.items.len(), "loglik": fit.loglik, "iterations": fit.iterations}))
        }
        StageKind::Leaderboard { bootstrap, seed, fit: fit_kind } => {
            let fit_input = ctx.input("ratings")?;
            let fitted: Value = serde_json::from_str(
                &std::fs::read_to_string(fit_input.dir.join("ratings.json"))
                    .map_err(|e| RuntimeError::io(STAGE_FAILED, "read", &fit_input.dir, &e))?,
            )
            .map_err(|e| RuntimeError::new(STAGE_FAILED, format!("ratings.json: {e}")))?;
            let abilities: Vec<f64> = fitted["items"]
                .as_array()
                .map_or(Vec::new(), |l| l.iter().filter_map(|i| i["ability"].as_f64()).collect());
            let se: Vec<f64> =
                fitted["items"].as_array().map_or(Vec::new(), |l| l.iter().filter_map(|i| i["se"].as_f64()).collect());
            let intervals = if *bootstrap >= 2 {
                let options = options(fit_kind, &dataset)?;
                let fit = plumb_ratings::Fit {
                    abilities: abilities.clone(),
                    se: se.clone(),
                    loglik: fitted["loglik"].as_f64().unwrap_or(0.0),
                    iterations: 0,
                    tie_param: fitted["tie_param"].as_f64(),
                };
                let bar = plumb_runtime::bar(*bootstrap, &ctx.stage.name, ctx.quiet);
                let intervals = plumb_ratings::bootstrap_with_progress(
                    &dataset,
                    &options,
                    &fit,
                    *bootstrap as usize,
                    *seed,
                    &|done| bar.set_position(done as u64),
                );
                bar.finish_and_clear();
                Some(intervals.map_err(fail)?)
            } else {
                None
            };
            let mut order: Vec<usize> = (0..dataset.items.len()).collect();
            order.sort_by(|&a, &b| abilities[b].total_cmp(&abilities[a]).then(dataset.items[a].cmp(&dataset.items[b])));
            let width = order.iter().map(|&i| dataset.items[i].chars().count()).max().unwrap_or(4).max(4);
            let mut text = format!("{:>4}  {:<width$}  {:>9}  {:>7}", "rank", "item", "ability", "se");
            if intervals.is_some() {
                text.push_str("  95% interval");
            }
            text.push('\n');
            let mut entries = Vec::new();
            for (rank, &i) in order.iter().enumerate() {
                text.push_str(&format!(
                    "{:>4}  {:<width$}  {:>9.4}  {:>7.4}",
                    rank + 1,
                    dataset.items[i],
                    abilities[i],
                    se[i]
                ));
                let mut entry = json!({"item": dataset.items[i], "ability": abilities[i], "se": se[i]});
                if let Some(ci) = &intervals {
                    text.push_str(&format!("  [{:.4}, {:.4}]", ci.lower[i], ci.upper[i]));
                    entry["ci"] = json!([ci.lower[i], ci.upper[i]]);
                }
                text.push('\n');
                entries.push(entry);
            }
            write_atomic(ctx.out.join("leaderboard.txt"), text.as_bytes())?;
            let out = json!({"items": entries, "bootstrap": bootstrap});
            write_atomic(
                ctx.out.join("leaderboard.json"),
                serde_json::to_string_pretty(&out).unwrap_or_default().as_bytes(),
            )?;
            Ok(json!({"items": entries.len(), "top": entries.first().map_or(Value::Null, |e| e["item"].clone())}))
        }
        _ => Err(RuntimeError::new(STAGE_FAILED, "not a ratings stage")),
    }
}
