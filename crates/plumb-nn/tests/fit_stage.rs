//! The recipe form of ratings: `fit` + `report leaderboard(...)` under `plumb run`
//! give the same abilities, standard errors and bootstrap intervals as `plumb rank`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn fit_and_leaderboard_stages_agree_with_plumb_rank() {
    let nn = PathBuf::from(env!("CARGO_BIN_EXE_plumb-nn"));
    let plumb = nn.with_file_name("plumb");
    assert!(plumb.exists(), "{} is missing: build the workspace (`cargo test --workspace` does)", plumb.display());
    let project = std::env::temp_dir().join(format!("plumb-fit-stage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("data")).unwrap();
    std::fs::write(project.join("plumb.toml"), "").unwrap();
    let votes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/votes.csv");
    std::fs::copy(&votes, project.join("data/votes.csv")).unwrap();
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
