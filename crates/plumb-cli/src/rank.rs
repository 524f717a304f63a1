//! `plumb rank`: fits a preference model over items (plumb-ratings) to a
//! pairwise CSV or JSONL rankings file and prints the leaderboard.

use crate::eval_loss::json_number;
use plumb_ratings::{Model, Options, Ties};
use std::path::Path;

/// The `--model` choices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankModel {
    /// Bradley–Terry (logit).
    Bt,
    /// Thurstone case V (probit).
    Thurstone,
    /// Davidson's model with ties.
    Davidson,
    /// Plackett–Luce over rankings.
    Pl,
}

/// The `--backend` choices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RankBackend {
    /// The CPU backend's f64 kernels on all cores.
    #[default]
    Cpu,
    /// The GPU backend's f64 kernels (needs 64-bit float and integer shader support).
    Gpu,
}

/// The `--ties` choices.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankTies {
    /// Each tie counts as half a win for each side (bt, thurstone).
    Half,
}

/// What `plumb rank` was asked to do.
#[derive(Debug)]
pub struct RankRequest<'a> {
    pub file: &'a Path,
    /// `None`: bt for pairwise data, pl for rankings.
    pub model: Option<RankModel>,
    pub l2: f64,
    pub reference: Option<&'a str>,
    pub ties: Option<RankTies>,
    pub bootstrap: Option<usize>,
    pub seed: Option<u64>,
    pub backend: RankBackend,
    pub json: bool,
}

/// Runs `plumb rank`; returns the exit code.
pub fn rank_command(request: &RankRequest) -> i32 {
    if !(request.l2 >= 0.0 && request.l2.is_finite()) {
        eprintln!("error: --l2 must be a number ≥ 0");
        return 2;
    }
    if request.ties.is_some() && !matches!(request.model, None | Some(RankModel::Bt | RankModel::Thurstone)) {
        eprintln!("error: --ties half applies to --model bt and thurstone (davidson models ties; pl has none)");
        return 2;
    }
    let (replicates, seed) = match (request.bootstrap, request.seed) {
        (Some(n), Some(seed)) if n >= 2 => (n, seed),
        (Some(_), Some(_)) => {
            eprintln!("error: --bootstrap needs at least 2 resamples");
            return 2;
        }
        (Some(_), None) => {
            eprintln!("error: --bootstrap needs --seed, so that the intervals are reproducible");
            return 2;
        }
        (None, Some(_)) => {
            eprintln!("error: --seed applies only with --bootstrap");
            return 2;
        }
        (None, None) => (0, 0),
    };
    let data = match plumb_ratings::load(request.file) {
        Ok(data) => data,
        Err(error) => return fail(&error),
    };
    let rankings = matches!(data.observations, plumb_ratings::Observations::Rankings(_));
    let chosen = request.model.unwrap_or(if rankings { RankModel::Pl } else { RankModel::Bt });
    let model = match chosen {
        RankModel::Bt => Model::BradleyTerry,
        RankModel::Thurstone => Model::Thurstone,
        RankModel::Davidson => Model::Davidson,
        RankModel::Pl => Model::PlackettLuce,
    };
    let mut options = Options::new(model);
    options.l2 = request.l2;
    options.ties = if request.ties.is_some() { Ties::Half } else { Ties::Ignore };
    options.backend = match request.backend {
        RankBackend::Cpu => plumb_ratings::Backend::Cpu,
        RankBackend::Gpu => plumb_ratings::Backend::Gpu,
    };
    if let Some(name) = request.reference {
        match data.index_of(name) {
            Some(index) => options.reference = Some(index),
            None => {
                return fail(&plumb_ratings::RatingsError {
                    code: "P0606",
                    message: format!("--reference `{name}` is not an item of {}", request.file.display()),
                });
            }
        }
    }
    let fit = match plumb_ratings::fit(&data, &options) {
        Ok(fit) => fit,
        Err(error) => return fail(&error),
    };
    let intervals = if replicates > 0 {
        // On stderr, and only on a terminal: `--json` output stays one object on stdout.
        let bar = plumb_runtime::bar(replicates as u64, "bootstrap", false);
        let result = plumb_ratings::bootstrap_with_progress(&data, &options, &fit, replicates, seed, &|done| {
            bar.set_position(done as u64)
        });
        bar.finish_and_clear();
        match result {
            Ok(intervals) => Some(intervals),
            Err(error) => return fail(&error),
        }
    } else {
        None
    };
    let mut order: Vec<usize> = (0..data.items.len()).collect();
    order.sort_by(|&a, &b| fit.abilities[b].total_cmp(&fit.abilities[a]).then(data.items[a].cmp(&data.items[b])));
    if request.json {
        let items: Vec<serde_json::Value> = order
            .iter()
            .map(|&i| {
                let mut entry = serde_json::Map::new();
                entry.insert("item".into(), data.items[i].clone().into());
                entry.insert("ability".into(), json_number(fit.abilities[i]));
                entry.insert("se".into(), json_number(fit.se[i]));
                if let Some(ci) = &intervals {
                    entry.insert("ci".into(), vec![json_number(ci.lower[i]), json_number(ci.upper[i])].into());
                }
                entry.into()
            })
            .collect();
        let mut out = serde_json::Map::new();
        out.insert("items".into(), items.into());
        out.insert("loglik".into(), json_number(fit.loglik));
        out.insert("iterations".into(), fit.iterations.into());
        if let Some(nu) = fit.tie_param {
            out.insert("tie_param".into(), json_number(nu));
        }
        outln!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(out)).unwrap_or_default());
        return 0;
    }
    let width = order.iter().map(|&i| data.items[i].chars().count()).max().unwrap_or(4).max(4);
    let mut text = String::new();
    text.push_str(&format!("{:>4}  {:<width$}  {:>12}  {:>10}", "rank", "item", "ability", "se"));
    if intervals.is_some() {
        text.push_str(&format!("  {:>25}", "95% bootstrap interval"));
    }
    text.push('\n');
    for (rank, &i) in order.iter().enumerate() {
        text.push_str(&format!(
            "{:>4}  {:<width$}  {:>12.6}  {:>10.6}",
            rank + 1,
            data.items[i],
            fit.abilities[i],
            fit.se[i]
        ));
        if let Some(ci) = &intervals {
            text.push_str(&format!("  [{:>11.6}, {:>11.6}]", ci.lower[i], ci.upper[i]));
        }
        text.push('\n');
    }
    text.push_str(&format!("log-likelihood {:.6}, {} iterations", fit.loglik, fit.iterations));
    if let Some(nu) = fit.tie_param {
        text.push_str(&format!(", tie parameter ν = {nu:.6}"));
    }
    outln!("{text}");
    0
}

fn fail(error: &plumb_ratings::RatingsError) -> i32 {
    eprintln!("error[{}]: {}", error.code, error.message);
    if let Some(info) = plumb_diag::lookup(error.code) {
        let title = info.title.trim_end_matches(" (rank)");
        eprintln!("  help: {title} — `plumb explain {}` shows the cause and a fix", error.code);
    }
    1
}
