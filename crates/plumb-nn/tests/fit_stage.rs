//! The recipe form of ratings: `fit` + `report leaderboard(...)` under `plumb run`
//! give the same abilities, standard errors and bootstrap intervals as `plumb rank`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh project (a `plumb.toml`) with the shipped votes in `data/votes.csv`;
/// also the shipped file's path.
fn project_with_votes(name: &str) -> (PathBuf, PathBuf) {
    let project = std::env::temp_dir().join(format!("plumb-fit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("data")).unwrap();
    std::fs::write(project.join("plumb.toml"), "").unwrap();
    let votes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/votes.csv");
    std::fs::copy(&votes, project.join("data/votes.csv")).unwrap();
    (project, votes)
}

#[test]
fn fit_and_leaderboard_stages_agree_with_plumb_rank() {
    let nn = PathBuf::from(env!("CARGO_BIN_EXE_plumb-nn"));
    let plumb = nn.with_file_name("plumb");
    assert!(plumb.exists(), "{} is missing: build the workspace (`cargo test --workspace` does)", plumb.display());
    let (project, votes) = project_with_votes("stage");
    let recipe = project.join("ratings.plumb");
    std::fs::write(
        &recipe,
        "use std.data.{Comparisons, csv}\nuse std.ratings.{bradley_terry, leaderboard, bootstrap}\n\n\
         let votes = csv(\"data/votes.csv\") as Comparisons\n\nfit ratings = bradley_terry(votes, l2 = 0.01)\n\n\
         report leaderboard(ratings, ci = bootstrap(50, seed = 3))\n",
    )
    .unwrap();
    let run = Command::new(&nn).args(["run", recipe.to_str().unwrap(), "--json", "--quiet"]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let names: Vec<&str> = report["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["load.votes", "fit.ratings", "report.ratings"]);
    let board_dir = project.join(".plumb/cache").join(report["stages"][2]["key"].as_str().unwrap());
    let board: Value =
        serde_json::from_str(&std::fs::read_to_string(board_dir.join("leaderboard.json")).unwrap()).unwrap();

    let rank = Command::new(&plumb)
        .args(["rank", votes.to_str().unwrap(), "--l2", "0.01", "--bootstrap", "50", "--seed", "3", "--json"])
        .output()
        .unwrap();
    assert!(rank.status.success());
    let expected: Value = serde_json::from_slice(&rank.stdout).unwrap();
    let got = board["items"].as_array().unwrap();
    let want = expected["items"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["item"], w["item"], "same order");
        for key in ["ability", "se"] {
            assert!((g[key].as_f64().unwrap() - w[key].as_f64().unwrap()).abs() < 1e-9, "{key} of {}", g["item"]);
        }
        for k in 0..2 {
            assert!(
                (g["ci"][k].as_f64().unwrap() - w["ci"][k].as_f64().unwrap()).abs() < 1e-9,
                "interval of {}",
                g["item"]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&project);
}

/// The `fit` options reach the fit: `ties`, `tolerance` and `max_iterations`
/// give `plumb rank`'s numbers, options at their defaults keep the stage's key
/// (nothing re-runs), and `backend = "gpu"` asks the GPU backend for the fit —
/// shown by the coded error where wgpu can find no adapter (the GPU fit itself
/// is compared with the CPU fit in the GPU suites).
#[test]
fn fit_options_reach_the_fit_and_defaults_keep_the_key() {
    let nn = PathBuf::from(env!("CARGO_BIN_EXE_plumb-nn"));
    let plumb = nn.with_file_name("plumb");
    let (project, votes) = project_with_votes("options");
    let recipe = project.join("ratings.plumb");
    let write = |options: &str| {
        std::fs::write(
            &recipe,
            format!(
                "use std.data.{{Comparisons, csv}}\nuse std.ratings.{{thurstone, leaderboard, bootstrap}}\n\n\
                 let votes = csv(\"data/votes.csv\") as Comparisons\n\n\
                 fit ratings = thurstone(votes, l2 = 0.01) {{\n{options}\n}}\n\nreport leaderboard(ratings, ci = bootstrap(5, seed = 1))\n"
            ),
        )
        .unwrap()
    };
    let run = |extra_env: Option<(&str, &str)>| {
        let mut command = Command::new(&nn);
        command.args(["run", recipe.to_str().unwrap(), "--json", "--quiet"]);
        if let Some((k, v)) = extra_env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    write("    ties = \"half\"\n    tolerance = 1e-10\n    max_iterations = 50");
    let first = run(None);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let report: Value = serde_json::from_slice(&first.stdout).unwrap();
    let fit_dir = project.join(".plumb/cache").join(report["stages"][1]["key"].as_str().unwrap());
    let fitted: Value = serde_json::from_str(&std::fs::read_to_string(fit_dir.join("ratings.json")).unwrap()).unwrap();
    let rank = Command::new(&plumb)
        .args(["rank", votes.to_str().unwrap(), "--model", "thurstone", "--ties", "half", "--l2", "0.01", "--json"])
        .output()
        .unwrap();
    assert!(rank.status.success());
    let expected: Value = serde_json::from_slice(&rank.stdout).unwrap();
    for want in expected["items"].as_array().unwrap() {
        let got = fitted["items"].as_array().unwrap().iter().find(|g| g["item"] == want["item"]).unwrap();
        assert!((got["ability"].as_f64().unwrap() - want["ability"].as_f64().unwrap()).abs() < 1e-8);
    }
    // `backend = "cpu"` is the default: the same key, served from the cache.
    write("    ties = \"half\"\n    tolerance = 1e-10\n    max_iterations = 50\n    backend = \"cpu\"");
    let again = run(None);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["stages"][1]["status"], "cached", "{again}");
    assert_eq!(again["stages"][1]["key"], report["stages"][1]["key"]);
    // Too few iterations: the fit's own error, so max_iterations reached it.
    write("    max_iterations = 1");
    let short = run(None);
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("did not converge in 1 Newton iterations"));
    // The GPU backend where wgpu can find none: a new key, and the fit's P0611.
    write("    backend = \"gpu\"");
    let gpu = run(Some(("WGPU_BACKEND", "metal")));
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    assert_eq!(gpu.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("P0611") && stderr.contains("no GPU"), "{stderr}");
    let _ = std::fs::remove_dir_all(&project);
}
