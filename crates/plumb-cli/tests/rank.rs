//! `plumb rank` end to end: the JSON shape and order, item names kept as
//! written, bootstrap reproducibility, coded errors with file:line, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn plumb(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plumb")).args(args).current_dir(dir).output().expect("plumb runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plumb-rank-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

const VOTES: &str = "item_a,item_b,winner\n000,b,a\nb,000,a\n000,c,a\nc,b,b\nc,000,a\nb,c,tie\n000,b,a\nb,c,a\nc,b,a\n";

fn json(output: &Output) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn json_has_the_documented_shape_in_ability_order() {
    let dir = scratch("shape");
    std::fs::write(dir.join("votes.csv"), VOTES).unwrap();
    let out = json(&plumb(&["rank", "votes.csv", "--json"], &dir));
    let items = out["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let names: Vec<&str> = items.iter().map(|i| i["item"].as_str().unwrap()).collect();
    assert!(names.contains(&"000"), "{names:?}");
    let abilities: Vec<f64> = items.iter().map(|i| i["ability"].as_f64().unwrap()).collect();
    assert!(abilities.windows(2).all(|w| w[0] >= w[1]), "{abilities:?}");
    assert!(abilities.iter().sum::<f64>().abs() < 1e-9);
    for item in items {
        assert_eq!(item.as_object().unwrap().keys().collect::<Vec<_>>(), ["item", "ability", "se"]);
        assert!(item["se"].as_f64().unwrap() > 0.0);
    }
    assert!(out["loglik"].as_f64().unwrap() < 0.0);
    assert!(out["iterations"].as_u64().unwrap() >= 1);
    assert!(out.get("tie_param").is_none());

    let out = json(&plumb(&["rank", "votes.csv", "--json", "--model", "davidson", "--reference", "000"], &dir));
    assert!(out["tie_param"].as_f64().unwrap() > 0.0);
    let reference = out["items"].as_array().unwrap().iter().find(|i| i["item"] == "000").unwrap().clone();
    assert_eq!((reference["ability"].as_f64(), reference["se"].as_f64()), (Some(0.0), Some(0.0)));

    let args =
        ["rank", "votes.csv", "--json", "--model", "thurstone", "--bootstrap", "50", "--seed", "3", "--l2", "0.1"];
    let first = json(&plumb(&args, &dir));
    let second = json(&plumb(&args, &dir));
    assert_eq!(first, second);
    for item in first["items"].as_array().unwrap() {
        let ci = item["ci"].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() <= ci[1].as_f64().unwrap());
    }

    let table = plumb(&["rank", "votes.csv"], &dir);
    assert_eq!(table.status.code(), Some(0));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("000") && text.contains("log-likelihood"), "{text}");
}

#[test]
fn rankings_default_to_plackett_luce() {
    let dir = scratch("pl");
    std::fs::write(dir.join("r.jsonl"), "[\"x\",\"y\",\"z\"]\n[\"y\",\"x\",\"z\"]\n[\"z\",\"x\",\"y\"]\n").unwrap();
    let out = json(&plumb(&["rank", "r.jsonl", "--json"], &dir));
    assert_eq!(out["items"][0]["item"], "x");
    let bt = plumb(&["rank", "r.jsonl", "--model", "bt"], &dir);
    assert_eq!(bt.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bt.stderr).contains("P0607"));
}

#[test]
fn bad_input_is_a_coded_error_and_misuse_exits_2() {
    let dir = scratch("errors");
    std::fs::write(dir.join("bad.csv"), "item_a,item_b,winner\na,b,a\na,b,left\n").unwrap();
    let out = plumb(&["rank", "bad.csv"], &dir);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[P0602]") && stderr.contains("bad.csv:3:"), "{stderr}");

    std::fs::write(dir.join("split.csv"), "item_a,item_b,winner\na,b,a\nb,a,a\nc,d,a\nd,c,a\n").unwrap();
    let out = plumb(&["rank", "split.csv"], &dir);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("P0604") && stderr.contains("--l2"), "{stderr}");
    assert_eq!(plumb(&["rank", "split.csv", "--l2", "0.1"], &dir).status.code(), Some(0));

    std::fs::write(dir.join("votes.csv"), VOTES).unwrap();
    let out = plumb(&["rank", "votes.csv", "--reference", "0"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("P0606"));
    assert_eq!(plumb(&["rank", "missing.csv"], &dir).status.code(), Some(1));
    assert_eq!(plumb(&["rank", "votes.csv", "--bootstrap", "10"], &dir).status.code(), Some(2));
    assert_eq!(plumb(&["rank", "votes.csv", "--model", "elo"], &dir).status.code(), Some(2));
    assert_eq!(plumb(&["rank", "votes.csv", "--model", "davidson", "--ties", "half"], &dir).status.code(), Some(2));
    assert_eq!(plumb(&["rank", "votes.csv", "--l2", "-1"], &dir).status.code(), Some(2));
}

/// `--backend gpu` where no GPU can be found is a coded error with a help line
/// (an unavailable wgpu backend stands in for a machine without a driver).
#[test]
fn gpu_backend_without_a_device_is_a_coded_error() {
    let dir = scratch("no-gpu");
    std::fs::write(dir.join("votes.csv"), VOTES).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_plumb"))
        .args(["rank", "votes.csv", "--backend", "gpu"])
        .env("WGPU_BACKEND", "metal")
        .current_dir(&dir)
        .output()
        .expect("plumb runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[P0611]") && stderr.contains("no GPU"), "{stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
    assert!(output.stdout.is_empty());
}
