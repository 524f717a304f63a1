//! `plumb run`, `plumb status` and `plumb gc` driven as a user drives them, each test in a fresh temporary
//! project: the JSON report and manifest, caching, re-running only what an edit changes, determinism, resuming
//! a killed run, corrupt cache entries, bad data and paths, concurrent runs, and garbage collection.

use plumb_model::weights::TensorFile;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const NN: &str = env!("CARGO_BIN_EXE_plumb-nn");

/// The stages of the test recipe, in plan order.
const STAGES: [&str; 8] = [
    "load.prefs",
    "split.parts",
    "model.policy",
    "judge.sentiment",
    "ref_logprobs.parts.train",
    "train.policy",
    "ref_logprobs.parts.holdout",
    "eval.policy",
];

/// Everything a changed preference row feeds: the whole split is one input of both log-prob stages.
const DATA_DOWNSTREAM: [&str; 6] = [
    "load.prefs",
    "split.parts",
    "ref_logprobs.parts.train",
    "train.policy",
    "ref_logprobs.parts.holdout",
    "eval.policy",
];

/// The `plumb` binary, built beside `plumb-nn`.
fn plumb_bin() -> PathBuf {
    let path = PathBuf::from(NN).with_file_name("plumb");
    assert!(path.is_file(), "{} is missing: build the workspace first (cargo build -p plumb-cli)", path.display());
    path
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The first `n` rows of the demo preference data, one per line.
fn pair_lines(n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(examples().join("data/review_pairs.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().take(n).map(String::from).collect();
    assert_eq!(lines.len(), n, "examples/data/review_pairs.jsonl has fewer than {n} rows");
    lines
}

fn recipe_with(data: &str, model: &str, beta: &str, batch: u32) -> String {
    format!(
        r#"//! A small DPO run for the tests.
use std.data.{{Pairwise, jsonl, split}}
use std.models.{{causal_lm, frozen, judge}}
use std.losses.dpo
use std.train.adamw
use std.metrics.{{reward_accuracy, win_rate}}

let prefs = jsonl("{data}") as Pairwise
let parts = split(prefs, holdout = 0.25, seed = 1)

model policy = causal_lm("{model}")
model reference = frozen(policy)
model sentiment = judge("sentiment")

train policy on parts.train {{
    loss = dpo(beta = {beta})
    optimizer = adamw(lr = 1e-4)
    batch = {batch}
    epochs = 1
    checkpoint_every = 1
}}

eval policy on parts.holdout {{ reward_accuracy(), win_rate(vs = reference, judge = sentiment) }}
"#
    )
}

fn recipe(beta: &str, batch: u32) -> String {
    recipe_with("data/pairs.jsonl", "models/tiny", beta, batch)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

static PROJECTS: AtomicUsize = AtomicUsize::new(0);

/// A temporary folder holding a project (`project/`: plumb.toml, models/tiny,
/// data/pairs.jsonl with 48 rows, recipe.plumb) and room beside it; removed when dropped.
struct Project {
    base: PathBuf,
    root: PathBuf,
}

impl Project {
    fn new(name: &str) -> Project {
        Project::with_batch(name, 8)
    }

    fn with_batch(name: &str, batch: u32) -> Project {
        let n = PROJECTS.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("plumb-run-test-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("project");
        std::fs::create_dir_all(&root).unwrap();
        let project = Project { base, root: root.canonicalize().unwrap() };
        project.write("plumb.toml", "# a test project\n");
        copy_dir(&examples().join("models/tiny"), &project.root.join("models/tiny"));
        project.write("data/pairs.jsonl", &(pair_lines(48).join("\n") + "\n"));
        project.write("recipe.plumb", &recipe("0.1", batch));
        project
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn command(&self, binary: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(binary);
        command.args(args).current_dir(&self.root);
        command
    }

    /// `plumb-nn run recipe.plumb --json --threads 1 ARGS`, exactly as `plumb run` hands it over.
    fn run_command(&self, args: &[&str]) -> Command {
        let mut all = vec!["run", "recipe.plumb", "--json", "--threads", "1"];
        all.extend_from_slice(args);
        self.command(Path::new(NN), &all)
    }

    fn run_output(&self, args: &[&str]) -> Output {
        checked(self.run_command(args).output().unwrap())
    }

    /// A run that must succeed; its one JSON object.
    fn run(&self, args: &[&str]) -> Value {
        report(&self.run_output(args))
    }

    fn spawn(&self, stdio: fn() -> Stdio) -> Child {
        self.run_command(&[]).stdout(stdio()).stderr(stdio()).spawn().unwrap()
    }

    /// `plumb status recipe.plumb --json --threads 1 ARGS`: its exit code and JSON.
    fn status(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["status", "recipe.plumb", "--json", "--threads", "1"];
        all.extend_from_slice(args);
        let output = checked(self.command(&plumb_bin(), &all).output().unwrap());
        let code = output.status.code().unwrap();
        assert!(code == 0 || code == 1, "status exited {code}: {}", String::from_utf8_lossy(&output.stderr));
        (code, serde_json::from_slice(&output.stdout).unwrap())
    }

    /// The keys of the cache entries, each checked to be complete (it has its entry.json).
    fn cache_keys(&self) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for entry in std::fs::read_dir(self.path(".plumb/cache")).unwrap() {
            let entry = entry.unwrap();
            assert!(entry.path().join("entry.json").is_file(), "{} is a partial cache entry", entry.path().display());
            keys.insert(entry.file_name().into_string().unwrap());
        }
        keys
    }

    fn tmp_names(&self) -> Vec<String> {
        std::fs::read_dir(self.path(".plumb/tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    /// The step recorded in the training checkpoint, if there is one.
    fn checkpoint_step(&self) -> Option<u64> {
        let dir = std::fs::read_dir(self.path(".plumb/checkpoints")).ok()?;
        let path = dir.flatten().map(|e| e.path().join("checkpoint.safetensors")).find(|p| p.is_file())?;
        TensorFile::read(&path).ok()?.metadata.get("step")?.parse().ok()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// No command may panic, whatever its input.
fn checked(output: Output) -> Output {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
    output
}

/// The single JSON object a successful `run --json` prints.
fn report(output: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "run failed ({}):\n{stderr}", output.status);
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line of JSON on stdout, got:\n{stdout}");
    let value: Value = serde_json::from_str(lines[0]).unwrap();
    assert!(value.is_object(), "{value}");
    value
}

fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name}"))
}

fn key(report: &Value, name: &str) -> String {
    stage(report, name)["key"].as_str().unwrap().to_string()
}

fn output_hash(report: &Value, name: &str) -> String {
    stage(report, name)["output"].as_str().unwrap().to_string()
}

/// Every stage of the recipe in order: those in `ran` ran, the others came from the cache.
fn expect_ran(report: &Value, ran: &[&str]) {
    let got: Vec<(String, String)> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<(String, String)> =
        STAGES.iter().map(|n| (n.to_string(), if ran.contains(n) { "ran" } else { "cached" }.to_string())).collect();
    assert_eq!(got, want);
}

/// Same stages with the same keys and output hashes.
fn assert_same_results(a: &Value, b: &Value) {
    for name in STAGES {
        assert_eq!(key(a, name), key(b, name), "key of {name}");
        assert_eq!(output_hash(a, name), output_hash(b, name), "output of {name}");
    }
}

fn trained_weights(report: &Value) -> Vec<u8> {
    std::fs::read(Path::new(report["outputs"]["policy"].as_str().unwrap()).join("model.safetensors")).unwrap()
}

fn is_hash(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn run_reports_one_json_object_and_a_second_run_is_all_cached() {
    let p = Project::new("json");
    let first = p.run(&[]);
    expect_ran(&first, &STAGES);
    for s in first["stages"].as_array().unwrap() {
        let fields: BTreeSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields, BTreeSet::from(["name", "status", "seconds", "key", "output"]), "{s}");
        assert!(s["seconds"].as_f64().unwrap() >= 0.0, "{s}");
        assert!(is_hash(&s["key"]) && is_hash(&s["output"]), "{s}");
    }

    // The manifest records the same stages, and what the run ran on.
    let manifest_path = PathBuf::from(first["manifest"].as_str().unwrap());
    assert_eq!(manifest_path.parent().unwrap().parent().unwrap(), p.path("runs"));
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let project_stages = |v: &Value| -> Vec<(Value, Value, Value)> {
        v["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].clone(), s["key"].clone(), s["output"].clone()))
            .collect()
    };
    assert_eq!(project_stages(&manifest), project_stages(&first));
    assert_eq!(manifest["threads"], 1);
    assert!(manifest["machine"]["os"].is_string() && manifest["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert!(!manifest["versions"]["plumb"].as_str().unwrap().is_empty());
    assert_eq!(manifest["environment"]["libtorch"], "2.13.0");
    assert_eq!(manifest["overrides"], serde_json::json!([]));
    assert_eq!(manifest["recipe"], p.path("recipe.plumb").display().to_string());

    // The trained policy is a Hugging Face folder in the train stage's cache entry.
    let policy = PathBuf::from(first["outputs"]["policy"].as_str().unwrap());
    assert_eq!(policy, p.path(".plumb/cache").join(key(&first, "train.policy")).join("model"));
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(policy.join(file).is_file(), "{file} in {}", policy.display());
    }
    assert_ne!(
        trained_weights(&first),
        std::fs::read(examples().join("models/tiny/model.safetensors")).unwrap(),
        "training changed nothing"
    );
    p.write("rows.jsonl", "{\"prompt\": \"The kettle\", \"completion\": \" works well.\"}\n");
    let logprobs = checked(
        p.command(Path::new(NN), &["logprobs", "--model", policy.to_str().unwrap(), "--input", "rows.jsonl", "--json"])
            .output()
            .unwrap(),
    );
    assert!(logprobs.status.success(), "{}", stderr_of(&logprobs));
    let row: Value = serde_json::from_slice(&logprobs.stdout).unwrap();
    assert!(row["sum"].as_f64().unwrap() < 0.0, "{row}");

    let metrics = &first["metrics"];
    for metric in ["reward_accuracy", "win_rate"] {
        let value = metrics["eval.policy"][metric].as_f64().unwrap_or_else(|| panic!("{metric} in {metrics}"));
        assert!((0.0..=1.0).contains(&value), "{metric} = {value}");
    }
    assert_eq!(metrics["train.policy"]["steps"], 5, "36 training rows in batches of 8");
    assert_eq!(manifest["metrics"], *metrics);

    // The same run again: every stage from the cache, with the same keys and outputs.
    let second = p.run(&[]);
    expect_ran(&second, &[]);
    assert_same_results(&first, &second);
    assert_eq!(second["outputs"], first["outputs"]);
    assert_ne!(second["manifest"], first["manifest"], "each run has its own manifest");
    assert!(Path::new(second["manifest"].as_str().unwrap()).is_file());

    // `plumb run` hands the command to plumb-nn.
    let handed = report(&checked(
        p.command(&plumb_bin(), &["run", "recipe.plumb", "--json", "--threads", "1"]).output().unwrap(),
    ));
    expect_ran(&handed, &[]);
    assert_same_results(&first, &handed);

    let plain = checked(p.command(&plumb_bin(), &["status", "recipe.plumb", "--threads", "1"]).output().unwrap());
    assert_eq!(plain.status.code(), Some(0), "{}", stderr_of(&plain));
    let (code, status) = p.status(&[]);
    assert_eq!(code, 0);
    assert_eq!(status["stale"], 0, "{status}");
    for name in STAGES {
        let s = stage(&status, name);
        assert_eq!(s["status"], "cached", "{s}");
        assert_eq!(s["key"], key(&first, name));
    }
}

#[test]
fn edits_rerun_only_the_stages_they_change() {
    let p = Project::new("edits");
    let base = p.run(&[]);

    // (a) A loss parameter: status names train and eval as stale, and run re-runs just them.
    p.write("recipe.plumb", &recipe("0.2", 8));
    let plain = checked(p.command(&plumb_bin(), &["status", "recipe.plumb", "--threads", "1"]).output().unwrap());
    assert_eq!(plain.status.code(), Some(1), "{}", stderr_of(&plain));
    let (code, status) = p.status(&[]);
    assert_eq!(code, 1);
    assert_eq!(status["stale"], 2, "{status}");
    for name in STAGES {
        let s = stage(&status, name);
        let stale = name == "train.policy" || name == "eval.policy";
        assert_eq!(s["status"], if stale { "stale" } else { "cached" }, "{s}");
    }
    let reason = |name: &str| stage(&status, name)["reason"].as_str().unwrap().to_string();
    assert!(reason("train.policy").contains("definition"), "{}", reason("train.policy"));
    assert!(reason("eval.policy").contains("train.policy"), "{}", reason("eval.policy"));
    let beta = p.run(&[]);
    expect_ran(&beta, &["train.policy", "eval.policy"]);
    assert_ne!(key(&beta, "train.policy"), key(&base, "train.policy"));
    for name in STAGES.iter().filter(|n| !["train.policy", "eval.policy"].contains(n)) {
        assert_eq!(key(&beta, name), key(&base, name), "{name}");
    }
    assert_eq!(p.status(&[]).0, 0);

    // (b) One preference row: the data stages and everything fed by them run again.
    let mut lines = pair_lines(48);
    let mut row: Value = serde_json::from_str(&lines[2]).unwrap();
    row["chosen"] = Value::from(" It is wonderful and I love it.");
    lines[2] = row.to_string();
    p.write("data/pairs.jsonl", &(lines.join("\n") + "\n"));
    let data = p.run(&[]);
    expect_ran(&data, &DATA_DOWNSTREAM);
    assert_ne!(output_hash(&data, "load.prefs"), output_hash(&beta, "load.prefs"));
    assert_ne!(output_hash(&data, "split.parts"), output_hash(&beta, "split.parts"));

    // (c) An override re-runs train and eval, and the manifest records it.
    let set = p.run(&["--set", "train.policy.epochs=2"]);
    expect_ran(&set, &["train.policy", "eval.policy"]);
    assert_eq!(set["metrics"]["train.policy"]["steps"], 10);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(set["manifest"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(manifest["overrides"], serde_json::json!(["train.policy.epochs=2"]));
    assert_eq!(p.status(&["--set", "train.policy.epochs=2"]).0, 0);
    // Without it, the previous results are still cached.
    let back = p.run(&[]);
    expect_ran(&back, &[]);
    assert_same_results(&back, &data);

    // (d) An override of nothing is a usage error.
    for bad in ["nosuch.x=1", "train.policy.nosuch=1", "train.policy.epochs=many"] {
        let output = p.run_output(&["--set", bad]);
        assert_eq!(output.status.code(), Some(2), "--set {bad}: {}", stderr_of(&output));
        assert!(stderr_of(&output).contains("P0813"), "--set {bad}: {}", stderr_of(&output));
        assert!(output.stdout.is_empty());
        let status = checked(
            p.command(&plumb_bin(), &["status", "recipe.plumb", "--threads", "1", "--set", bad]).output().unwrap(),
        );
        assert_eq!(status.status.code(), Some(2), "status --set {bad}");
    }
}

#[test]
fn identical_inputs_give_identical_keys_and_outputs() {
    let a = Project::new("same-a");
    let b = Project::new("same-b");
    // Two projects at once: neither run depends on the other or on where it is.
    let (ca, cb) = (a.spawn(Stdio::piped), b.spawn(Stdio::piped));
    let ra = report(&checked(ca.wait_with_output().unwrap()));
    let rb = report(&checked(cb.wait_with_output().unwrap()));
    expect_ran(&ra, &STAGES);
    expect_ran(&rb, &STAGES);
    assert_same_results(&ra, &rb);
    assert_eq!(trained_weights(&ra), trained_weights(&rb));
    assert_eq!(ra["metrics"]["eval.policy"], rb["metrics"]["eval.policy"]);
    assert_eq!(ra["metrics"]["train.policy"]["loss_last"], rb["metrics"]["train.policy"]["loss_last"]);

    // The same project again from an empty cache.
    std::fs::remove_dir_all(a.path(".plumb")).unwrap();
    let again = a.run(&[]);
    expect_ran(&again, &STAGES);
    assert_same_results(&ra, &again);
    assert_eq!(trained_weights(&ra), trained_weights(&again));
}

#[test]
fn kl_every_sets_which_steps_estimate_kl() {
    let p = Project::new("kl-every");
    // The steps of the train stage's metrics.jsonl that carry a sampled `kl`.
    let kl_steps = |args: &[&str]| -> Vec<u64> {
        let report = p.run(args);
        let entry = p.path(".plumb/cache").join(key(&report, "train.policy"));
        std::fs::read_to_string(entry.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|row| row.get("kl").is_some_and(Value::is_f64))
            .map(|row| row["step"].as_u64().unwrap())
            .collect()
    };
    // 5 steps: by default a tenth of the run, at least every step.
    assert_eq!(kl_steps(&[]), vec![1, 2, 3, 4, 5]);
    assert_eq!(kl_steps(&["--set", "train.policy.kl_every=2"]), vec![2, 4, 5]);
    assert_eq!(kl_steps(&["--set", "train.policy.kl_every=0"]), Vec::<u64>::new());
    let off = p.run(&["--set", "train.policy.kl_every=0"]);
    assert!(off["metrics"]["train.policy"]["kl_last"].is_null());
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Batches of 18 pairs: three training shards, so three threads really split every step.
    let one = Project::with_batch("threads-1", 18);
    let three = Project::with_batch("threads-3", 18);
    let with_three = |p: &Project| {
        report(&checked(
            p.command(Path::new(NN), &["run", "recipe.plumb", "--json", "--threads", "3"]).output().unwrap(),
        ))
    };
    let r1 = one.run(&[]);
    let r3 = with_three(&three);
    expect_ran(&r1, &STAGES);
    expect_ran(&r3, &STAGES);
    assert_same_results(&r1, &r3);
    assert_eq!(trained_weights(&r1), trained_weights(&r3));
    assert_eq!(r1["metrics"]["eval.policy"], r3["metrics"]["eval.policy"]);
    assert_eq!(r1["metrics"]["train.policy"]["kl_last"], r3["metrics"]["train.policy"]["kl_last"]);
    // So another thread count reuses the cache.
    expect_ran(&with_three(&one), &[]);
}

/// Runs a fresh 9-step project, kills it (SIGKILL) when `wait` returns, and
/// runs it again to completion; the result must equal `full`, the uninterrupted
/// run. Returns the step the killed run had checkpointed.
fn kill_and_resume(name: &str, full: &Value, wait: impl Fn(&Project, &mut Child)) -> Option<u64> {
    let p = Project::with_batch(name, 4);
    let mut child = p.spawn(Stdio::null);
    wait(&p, &mut child);
    assert!(child.try_wait().unwrap().is_none(), "{name}: the run ended before it was killed");
    child.kill().unwrap();
    child.wait().unwrap();
    let step = p.checkpoint_step();
    if let Some(step) = step {
        assert!(step < 9, "{name}: the killed run had finished training (step {step})");
    }
    let resumed = p.run(&[]);
    let train = stage(&resumed, "train.policy");
    assert_eq!(train["status"], "ran", "{name}: {resumed}");
    assert_eq!(stage(&resumed, "eval.policy")["status"], "ran", "{name}");
    assert_eq!(resumed["metrics"]["train.policy"]["resumed_from_step"], step.unwrap_or(0), "{name}");
    assert_same_results(full, &resumed);
    assert_eq!(trained_weights(full), trained_weights(&resumed), "{name}: resumed weights differ");
    assert_eq!(full["metrics"]["eval.policy"], resumed["metrics"]["eval.policy"], "{name}");
    assert!(!p.path(".plumb/checkpoints").join(key(&resumed, "train.policy")).exists(), "{name}: checkpoint kept");
    step
}

/// The train stage's metrics.jsonl, from its cache entry.
fn train_metrics(p: &Project, report: &Value) -> String {
    std::fs::read_to_string(p.path(".plumb/cache").join(key(report, "train.policy")).join("metrics.jsonl")).unwrap()
}

#[test]
fn metrics_written_between_checkpoints_resume_without_gaps_or_repeats() {
    // Checkpoints at steps 4, 8 and 9: steps in between are appended to the live
    // metrics without a sync, and a resume from step 4 must drop the killed run's later lines.
    let sparse = |p: &Project| {
        p.write("recipe.plumb", &recipe("0.1", 4).replace("checkpoint_every = 1", "checkpoint_every = 4"))
    };
    let reference = Project::with_batch("metrics-reference", 4);
    sparse(&reference);
    let full = reference.run(&[]);
    let expected = train_metrics(&reference, &full);
    let steps: Vec<u64> =
        expected.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (1..=9).collect::<Vec<u64>>());

    let p = Project::with_batch("metrics-resume", 4);
    sparse(&p);
    let mut child = p.spawn(Stdio::null);
    // Kill once the live metrics are past the first checkpoint (when the run is that slow; the result must hold anyway).
    let live_steps = |p: &Project| -> usize {
        let Ok(dir) = std::fs::read_dir(p.path(".plumb/checkpoints")) else { return 0 };
        dir.flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("metrics.jsonl")).ok())
            .map(|t| t.lines().count())
            .max()
            .unwrap_or(0)
    };
    let start = Instant::now();
    while live_steps(&p) < 5 && child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let resumed = p.run(&[]);
    assert_eq!(train_metrics(&p, &resumed), expected);
    assert_eq!(trained_weights(&full), trained_weights(&resumed));
}

/// Waits until the run has checkpointed step `step` or later.
fn until_step(step: u64) -> impl Fn(&Project, &mut Child) {
    move |p, child| {
        let start = Instant::now();
        loop {
            if p.checkpoint_step().is_some_and(|s| s >= step) {
                return;
            }
            assert!(child.try_wait().unwrap().is_none(), "the run ended before it checkpointed step {step}");
            assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint of step {step} within 60 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let reference = Project::with_batch("resume-reference", 4);
    let full = reference.run(&[]);
    expect_ran(&full, &STAGES);
    assert_eq!(full["metrics"]["train.policy"]["steps"], 9, "36 training rows in batches of 4");
    assert_eq!(full["metrics"]["train.policy"]["resumed_from_step"], 0);

    let after_first = kill_and_resume("resume-first", &full, until_step(1));
    assert!(after_first.is_some_and(|s| s >= 1), "{after_first:?}");
    let after_third = kill_and_resume("resume-third", &full, until_step(3));
    assert!(after_third.is_some_and(|s| s >= 3), "{after_third:?}");
    // Early: while models load or reference log-probs are computed, before any checkpoint.
    kill_and_resume("resume-early", &full, |_, _| std::thread::sleep(Duration::from_millis(300)));
}

#[test]
fn a_corrupt_cache_entry_is_set_aside_and_rebuilt() {
    let p = Project::new("corrupt");
    let first = p.run(&[]);
    let train_key = key(&first, "train.policy");
    let weights = p.path(".plumb/cache").join(&train_key).join("model/model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x40;
    std::fs::write(&weights, &bad).unwrap();

    let output = p.run_output(&[]);
    let second = report(&output);
    assert!(stderr_of(&output).contains(&format!("cache entry {train_key} is corrupt")), "{}", stderr_of(&output));
    // Only the corrupt stage runs again; it rebuilds the same output, so eval stays cached.
    expect_ran(&second, &["train.policy"]);
    assert_same_results(&first, &second);
    assert_eq!(std::fs::read(&weights).unwrap(), good);
    let aside = p.path(".plumb/tmp").join(format!("corrupt-{train_key}-0"));
    assert_eq!(std::fs::read(aside.join("model/model.safetensors")).unwrap(), bad, "{}", aside.display());
    assert_eq!(p.status(&[]).0, 0);
}

#[test]
fn bad_data_and_paths_are_coded_errors() {
    let p = Project::new("bad-data");
    let failing = |what: &str, code: &str, mentions: &[&str]| {
        let output = p.run_output(&[]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        assert!(output.stdout.is_empty(), "{what}");
        assert!(stderr.contains(code), "{what}: expected {code} in\n{stderr}");
        for text in mentions {
            assert!(stderr.contains(text), "{what}: expected `{text}` in\n{stderr}");
        }
        stderr
    };
    let without_rejected = |line: &str| {
        let mut row: Value = serde_json::from_str(line).unwrap();
        row.as_object_mut().unwrap().remove("rejected");
        row.to_string()
    };

    // In the first 200 rows the recipe check finds them, and nothing runs.
    let mut lines = pair_lines(48);
    lines[4] = without_rejected(&lines[4]);
    p.write("data/pairs.jsonl", &(lines.join("\n") + "\n"));
    failing("an early row without `rejected`", "P0331", &["pairs.jsonl:5", "rejected"]);
    lines[4] = "not json".into();
    p.write("data/pairs.jsonl", &(lines.join("\n") + "\n"));
    failing("an early row that is not JSON", "P0331", &["pairs.jsonl:5"]);
    assert!(!p.path(".plumb").exists(), "nothing should have run");

    // Rows past the first 200 are not checked before the run; loading them is.
    let mut lines = pair_lines(240);
    lines[229] = without_rejected(&lines[229]);
    p.write("data/pairs.jsonl", &(lines.join("\n") + "\n"));
    failing("a row without `rejected`", "P0820", &["pairs.jsonl:230", "rejected"]);
    lines[229] = "{\"prompt\": \"The kettle\", \"chosen\": ".into();
    p.write("data/pairs.jsonl", &(lines.join("\n") + "\n"));
    failing("a row that is not JSON", "P0820", &["pairs.jsonl:230"]);

    // A data file outside the project is refused before it is read (its rows would fail the check).
    std::fs::write(p.base.join("outside.jsonl"), without_rejected(&pair_lines(1)[0]) + "\n").unwrap();
    p.write("recipe.plumb", &recipe_with("../outside.jsonl", "models/tiny", "0.1", 8));
    let stderr = failing("a data path outside the project", "P0801", &["../outside.jsonl"]);
    assert!(!stderr.contains("P0331"), "the file outside the project was read:\n{stderr}");

    p.write("data/pairs.jsonl", &(pair_lines(48).join("\n") + "\n"));
    p.write("recipe.plumb", &recipe_with("data/pairs.jsonl", "models/nope", "0.1", 8));
    failing("a missing model folder", "P0821", &["models/nope"]);
}

#[test]
fn concurrent_runs_on_one_project_agree() {
    let p = Project::new("concurrent");
    let (a, b) = (p.spawn(Stdio::piped), p.spawn(Stdio::piped));
    let ra = report(&checked(a.wait_with_output().unwrap()));
    let rb = report(&checked(b.wait_with_output().unwrap()));
    assert_same_results(&ra, &rb);
    // The project lock runs them one after the other: one runs everything, the other reuses it.
    let all_ran = |r: &Value| stage(r, "load.prefs")["status"] == "ran";
    let (first, second) = if all_ran(&ra) { (&ra, &rb) } else { (&rb, &ra) };
    expect_ran(first, &STAGES);
    expect_ran(second, &[]);
    assert_ne!(ra["manifest"], rb["manifest"]);
    let keys: BTreeSet<String> = STAGES.iter().map(|n| key(&ra, n)).collect();
    assert_eq!(p.cache_keys(), keys);
    assert_eq!(p.tmp_names(), Vec::<String>::new(), "leftovers in .plumb/tmp");
}

#[test]
fn gc_keeps_what_the_newest_run_uses() {
    let p = Project::new("gc");
    let old = p.run(&[]);
    p.write("recipe.plumb", &recipe("0.2", 8));
    let new = p.run(&[]);
    expect_ran(&new, &["train.policy", "eval.policy"]);
    // Back and forth: two quick, fully cached runs, often within one second; the later one is the newest.
    p.write("recipe.plumb", &recipe("0.1", 8));
    expect_ran(&p.run(&[]), &[]);
    p.write("recipe.plumb", &recipe("0.2", 8));
    expect_ran(&p.run(&[]), &[]);
    assert_eq!(p.cache_keys().len(), 10);

    let gc = checked(Command::new(plumb_bin()).arg("gc").arg(&p.root).output().unwrap());
    assert!(gc.status.success(), "{}", stderr_of(&gc));
    assert!(String::from_utf8_lossy(&gc.stdout).contains("removed 2 "), "{}", String::from_utf8_lossy(&gc.stdout));
    let kept: BTreeSet<String> = STAGES.iter().map(|n| key(&new, n)).collect();
    assert_eq!(p.cache_keys(), kept);
    assert!(!p.cache_keys().contains(&key(&old, "train.policy")));
    let (code, status) = p.status(&[]);
    assert_eq!((code, &status["stale"]), (0, &Value::from(0)), "{status}");

    // The older recipe's own stages are gone.
    p.write("recipe.plumb", &recipe("0.1", 8));
    let (code, status) = p.status(&[]);
    assert_eq!((code, &status["stale"]), (1, &Value::from(2)), "{status}");
}
