//! `plumb rank --model bt` against R's BradleyTerry2 (`BTm`) on a fixed
//! tournament: abilities within 1e-6, standard errors within 1e-5 relative.
//! A `harness = false` target: without `Rscript` and the BradleyTerry2 package
//! (Debian: r-cran-bradleyterry2) the comparison reports itself as ignored
//! with the reason.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::collections::BTreeMap;
use std::process::Command;

const ITEMS: [&str; 7] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"];

/// Win counts for every ordered pair, from a fixed generator (every pair met).
fn tournament() -> String {
    let strengths: [f64; 7] = [0.0, 0.4, -0.3, 1.1, 0.7, -0.9, 0.2];
    let mut state: u64 = 42;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let mut out = String::from("item_a,item_b,wins_a,wins_b\n");
    for i in 0..ITEMS.len() {
        for j in i + 1..ITEMS.len() {
            let games = 20 + (uniform() * 30.0) as usize;
            let p = 1.0 / (1.0 + (strengths[j] - strengths[i]).exp());
            let wins_a = (0..games).filter(|_| uniform() < p).count();
            out.push_str(&format!("{},{},{},{}\n", ITEMS[i], ITEMS[j], wins_a, games - wins_a));
        }
    }
    out
}

const SCRIPT: &str = r#"
suppressMessages(library(BradleyTerry2))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
lv <- sort(unique(c(d$item_a, d$item_b)))
d$item_a <- factor(d$item_a, levels = lv)
d$item_b <- factor(d$item_b, levels = lv)
fit <- BTm(cbind(wins_a, wins_b), item_a, item_b, data = d, id = "item",
           control = glm.control(epsilon = 1e-14, maxit = 200))
s <- summary(fit)$coefficients
for (name in rownames(s)) cat(sub("^item", "", name), s[name, 1], s[name, 2], "\n")
"#;

fn r_available() -> Result<(), String> {
    let output = Command::new("Rscript")
        .args(["-e", "suppressMessages(library(BradleyTerry2))"])
        .output()
        .map_err(|e| format!("Rscript not found ({e}); install r-cran-bradleyterry2"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err("the R package BradleyTerry2 is not installed (Debian: r-cran-bradleyterry2)".into())
    }
}

fn agree_with_btm() -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("plumb-btm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let csv = dir.join("tournament.csv");
    std::fs::write(&csv, tournament()).map_err(|e| e.to_string())?;
    let script = dir.join("btm.R");
    std::fs::write(&script, SCRIPT).map_err(|e| e.to_string())?;
    let r = Command::new("Rscript").arg(&script).arg(&csv).output().map_err(|e| e.to_string())?;
    if !r.status.success() {
        return Err(format!("R failed: {}", String::from_utf8_lossy(&r.stderr)));
    }
    // BTm fixes the first level (alphabetical) at 0, as --reference does.
    let mut expected: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    expected.insert(ITEMS[0].to_string(), (0.0, 0.0));
    for line in String::from_utf8_lossy(&r.stdout).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [name, ability, se] = parts.as_slice() {
            let parse = |x: &str| x.parse::<f64>().map_err(|e| format!("{x}: {e}"));
            expected.insert(name.to_string(), (parse(ability)?, parse(se)?));
        }
    }
    if expected.len() != ITEMS.len() {
        return Err(format!("R printed {} items: {}", expected.len(), String::from_utf8_lossy(&r.stdout)));
    }
    let ours = Command::new(env!("CARGO_BIN_EXE_plumb"))
        .args(["rank", "--model", "bt", "--reference", ITEMS[0], "--json"])
        .arg(&csv)
        .output()
        .map_err(|e| e.to_string())?;
    if !ours.status.success() {
        return Err(String::from_utf8_lossy(&ours.stderr).into_owned());
    }
    let json: serde_json::Value = serde_json::from_slice(&ours.stdout).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    for item in json["items"].as_array().ok_or("no items")? {
        let name = item["item"].as_str().ok_or("no name")?;
        let ability = item["ability"].as_f64().ok_or("no ability")?;
        let se = item["se"].as_f64().ok_or("no se")?;
        let (want, want_se) = expected.get(name).ok_or_else(|| format!("R has no {name}"))?;
        if (ability - want).abs() > 1e-6 {
            return Err(format!("{name}: ability {ability} vs BTm {want}"));
        }
        if (se - want_se).abs() > 1e-5 * want_se.abs().max(1e-3) {
            return Err(format!("{name}: se {se} vs BTm {want_se}"));
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let skip = r_available().err();
    if let Some(reason) = &skip {
        eprintln!("SKIPPED: {reason}");
    }
    let trial = Trial::ignorable_test("r::bt_abilities_and_standard_errors_match_btm", move || match &skip {
        Some(reason) => Ok(Completion::ignored_with(format!("SKIPPED: {reason}"))),
        None => agree_with_btm().map(|()| Completion::Completed).map_err(Failed::from),
    });
    libtest_mimic::run(&args, vec![trial]).exit();
}
