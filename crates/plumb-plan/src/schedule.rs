//! The scheduler: computes each stage's key from its definition and its
//! inputs' content hashes, serves unchanged stages from the cache, runs stale
//! ones through an `Executor` into a staging folder published atomically, and
//! writes the run's manifest, metrics and charts. `status` answers the same
//! question without running anything.

use crate::data;
use crate::plan::{Plan, Stage, StageKind};
use plumb_runtime::{Cache, Entry, Hasher, Project, RuntimeError, hash_dir, hash_file, write_atomic};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A fingerprint of the sources that decide what stages compute (see build.rs):
/// part of every key, so a different build never reuses another's entries.
pub const BUILD_FINGERPRINT: &str = env!("PLUMB_SOURCE_FINGERPRINT");

/// Code of a stage that failed.
pub const STAGE_FAILED: &str = "P0821";

/// The field of a stage's summary that describes this execution rather than
/// what it produced (wall-clock seconds, throughput, the step a training
/// resumed from). It is kept out of the cache entry, whose output hash must
/// depend on the stage's inputs alone, and goes into this run's metrics, flattened.
pub const RUN_FACTS: &str = "run";

/// One input of a running stage: the producing stage's published output.
#[derive(Clone, Debug)]
pub struct InputDir {
    pub role: String,
    pub stage: String,
    pub dir: PathBuf,
    pub part: Option<String>,
    pub output: String,
}

/// What a stage needs to run: this is the contract an executor on a cluster
/// must meet too — a self-contained description of the work (`stage`, whose
/// `definition()` is its lowered form), content-addressed inputs (`inputs`,
/// each a published cache entry) and an output folder, a resource request
/// (`threads`, `gpus`), and the rank environment (`env`).
pub struct StageContext<'a> {
    pub stage: &'a Stage,
    pub key: String,
    pub inputs: Vec<InputDir>,
    pub out: PathBuf,
    /// The stage's seed, derived from the run seed and the stage name (or set in the recipe).
    pub seed: u64,
    pub threads: usize,
    pub gpus: usize,
    pub env: BTreeMap<String, String>,
    pub project: &'a Project,
    /// Where the stage may keep checkpoints that survive a killed run (keyed by its key).
    pub checkpoints: PathBuf,
    pub quiet: bool,
}

impl StageContext<'_> {
    pub fn input(&self, role: &str) -> Result<&InputDir, RuntimeError> {
        self.inputs.iter().find(|i| i.role == role).ok_or_else(|| {
            RuntimeError::new(STAGE_FAILED, format!("stage `{}` has no `{role}` input", self.stage.name))
        })
    }

    /// The data rows file of an input (its part's file, or rows.jsonl).
    pub fn rows_path(&self, role: &str) -> Result<PathBuf, RuntimeError> {
        let input = self.input(role)?;
        Ok(input.dir.join(format!("{}.jsonl", input.part.as_deref().unwrap_or("rows"))))
    }
}

/// Runs stages. The local executor runs them in this process; a cluster
/// executor would ship the context to a worker and wait for the published output.
pub trait Executor {
    /// Writes the stage's outputs into `ctx.out`; returns its summary metrics.
    fn execute(&self, ctx: &StageContext) -> Result<Value, RuntimeError>;
    /// What about the executor changes results (library versions, thread counts): part of model stages' keys.
    fn environment(&self) -> BTreeMap<String, String>;
}

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub seed: u64,
    pub threads: usize,
    pub quiet: bool,
    pub tool_version: String,
}

impl RunOptions {
    pub fn new(seed: u64, threads: usize, quiet: bool) -> Self {
        RunOptions { seed, threads, quiet, tool_version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// What about the model backend changes results: the libtorch version. The
/// thread count does not: model stages run on shards fixed by the data, each on
/// one libtorch thread (plumb_model::parallel). The local executor reports it,
/// and `plumb status` (which links no libtorch) computes the same keys from it.
pub fn model_environment() -> BTreeMap<String, String> {
    BTreeMap::from([("libtorch".to_string(), "2.13.0".to_string())])
}

#[derive(Clone, Debug, PartialEq)]
pub struct StageRecord {
    pub name: String,
    /// "ran", "cached", or for `status` "stale".
    pub status: String,
    pub reason: String,
    pub seconds: f64,
    pub key: Option<String>,
    pub output: Option<String>,
    pub dir: Option<PathBuf>,
    pub summary: Value,
}

#[derive(Clone, Debug)]
pub struct RunReport {
    pub stages: Vec<StageRecord>,
    pub manifest: PathBuf,
    pub run_dir: PathBuf,
    /// Trained models by recipe name: their exported Hugging Face folders.
    pub outputs: BTreeMap<String, PathBuf>,
    pub metrics: Value,
}

/// The stage's seed: from the recipe when set, else from the run seed and the stage name.
pub fn stage_seed(stage: &Stage, run_seed: u64) -> u64 {
    match &stage.kind {
        StageKind::Train { seed, .. } | StageKind::Eval { seed, .. } if *seed != 0 => *seed,
        _ => {
            let mut h = Hasher::new();
            h.field("seed", &run_seed.to_string());
            h.field("stage", &stage.name);
            u64::from_str_radix(&h.finish()[..16], 16).unwrap_or(0)
        }
    }
}

/// What a stage's key is made of, besides its inputs' outputs.
fn own_inputs(stage: &Stage, project: &Project) -> Result<Vec<(String, String)>, RuntimeError> {
    Ok(match &stage.kind {
        StageKind::Load { path, .. } => vec![("file".into(), hash_file(project.resolve(path)?)?)],
        StageKind::Model { path, .. } => {
            let dir = project.resolve(path)?;
            if !dir.is_dir() {
                return Err(RuntimeError::new(
                    STAGE_FAILED,
                    format!("model folder {} (from `{path}`) not found", dir.display()),
                )
                .help("a model folder holds config.json, model.safetensors and tokenizer.json"));
            }
            vec![("folder".into(), hash_dir(&dir)?)]
        }
        _ => Vec::new(),
    })
}

fn stage_key(
    stage: &Stage,
    seed: u64,
    own: &[(String, String)],
    inputs: &[InputDir],
    environment: &BTreeMap<String, String>,
    options: &RunOptions,
) -> String {
    let mut h = Hasher::new();
    h.field("plumb", &options.tool_version);
    h.field("build", BUILD_FINGERPRINT);
    h.field("definition", &stage.definition());
    h.field("seed", &seed.to_string());
    for (name, value) in own {
        h.field(name, value);
    }
    for input in inputs {
        h.field(&format!("input:{}", input.role), &input.output);
        h.field("part", input.part.as_deref().unwrap_or(""));
    }
    if stage.needs_models() {
        for (name, value) in environment {
            h.field(&format!("env:{name}"), value);
        }
    }
    h.finish()
}

/// Unix milliseconds.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// When a manifest's run started, in Unix milliseconds (older manifests have whole seconds only).
fn started_ms(manifest: &Value) -> u64 {
    manifest["started_ms"].as_u64().unwrap_or_else(|| manifest["started"].as_u64().unwrap_or(0).saturating_mul(1000))
}

/// The previous manifest of this recipe, for explaining why a stage re-runs.
fn previous_manifest(project: &Project) -> Option<Value> {
    let recipe = project.recipe.display().to_string();
    std::fs::read_dir(project.runs_dir())
        .ok()?
        .filter_map(|e| {
            let value: Value =
                serde_json::from_str(&std::fs::read_to_string(e.ok()?.path().join("manifest.json")).ok()?).ok()?;
            (value["recipe"].as_str() == Some(recipe.as_str())).then_some(value)
        })
        .max_by_key(started_ms)
}

fn reason(stage: &Stage, previous: Option<&Value>, inputs: &[InputDir], own: &[(String, String)]) -> String {
    let Some(old) =
        previous.and_then(|m| m["stages"].as_array()?.iter().find(|s| s["name"] == stage.name.as_str()).cloned())
    else {
        return "not run before".into();
    };
    if old["definition"].as_str() != Some(plumb_runtime::sha256_hex(stage.definition().as_bytes()).as_str()) {
        return "its definition changed".into();
    }
    for (name, value) in own {
        if old["sources"][name].as_str() != Some(value.as_str()) {
            return format!("its {name} changed");
        }
    }
    for input in inputs {
        let before = old["inputs"].as_array().and_then(|list| {
            list.iter().find(|i| i["role"] == input.role.as_str()).and_then(|i| i["output"].as_str().map(String::from))
        });
        if before.as_deref() != Some(input.output.as_str()) {
            return format!("its input `{}` ({}) changed", input.role, input.stage);
        }
    }
    if previous.is_some_and(|m| m["versions"]["build"].as_str() != Some(BUILD_FINGERPRINT)) {
        return "plumb itself changed since the last run (another build)".into();
    }
    "its cache entry is missing or was invalid".into()
}

fn inputs_of(stage: &Stage, plan: &Plan, entries: &[Option<Entry>]) -> Option<Vec<InputDir>> {
    stage
        .inputs
        .iter()
        .map(|input| {
            let entry = entries[input.stage].as_ref()?;
            Some(InputDir {
                role: input.role.clone(),
                stage: plan.stages[input.stage].name.clone(),
                dir: entry.dir.clone(),
                part: input.part.clone(),
                output: entry.output.clone(),
            })
        })
        .collect()
}

/// Runs the data stages that need no model.
pub fn execute_data_stage(ctx: &StageContext) -> Result<Value, RuntimeError> {
    match &ctx.stage.kind {
        StageKind::Load { path, format, fields, .. } => {
            let file = ctx.project.resolve(path)?;
            let rows = data::load_rows(&file, path, format, fields)?;
            data::write_rows(&ctx.out.join("rows.jsonl"), &rows)?;
            Ok(json!({"rows": rows.len()}))
        }
        StageKind::Split { holdout, seed } => {
            let rows = data::read_rows(&ctx.rows_path("data")?)?;
            let (train, held) = data::split_rows(rows, *holdout, *seed)?;
            data::write_rows(&ctx.out.join("train.jsonl"), &train)?;
            data::write_rows(&ctx.out.join("holdout.jsonl"), &held)?;
            Ok(json!({"train": train.len(), "holdout": held.len()}))
        }
        StageKind::Select { top } => {
            let rows = data::read_rows(&ctx.rows_path("data")?)?;
            let mut out = Vec::new();
            for row in &rows {
                let mut ranked = data::scored_candidates(row)?;
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                for (completion, _) in ranked.into_iter().take(*top as usize) {
                    out.push(json!({"prompt": row["prompt"], "completion": completion, "label": true}));
                }
            }
            if out.is_empty() {
                return Err(RuntimeError::new(STAGE_FAILED, "no non-empty candidate to select"));
            }
            data::write_rows(&ctx.out.join("rows.jsonl"), &out)?;
            Ok(json!({"rows": out.len()}))
        }
        StageKind::Pair { by, seed, min_margin } => {
            let rows = data::read_rows(&ctx.rows_path("data")?)?;
            let mut out = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                let mut ranked = data::scored_candidates(row)?;
                if ranked.len() < 2 {
                    continue;
                }
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                let other = if by == "best_vs_random" {
                    1 + data::pick(*seed, i as u64, ranked.len() - 1)
                } else {
                    ranked.len() - 1
                };
                let (best, rejected) = (&ranked[0], &ranked[other]);
                if best.1 - rejected.1 <= *min_margin || best.1 == rejected.1 {
                    continue;
                }
                out.push(json!({"prompt": row["prompt"], "chosen": best.0, "rejected": rejected.0, "margin": best.1 - rejected.1}));
            }
            if out.is_empty() {
                return Err(RuntimeError::new(
                    STAGE_FAILED,
                    "no prompt had two candidates with different scores to pair",
                ));
            }
            data::write_rows(&ctx.out.join("rows.jsonl"), &out)?;
            Ok(json!({"rows": out.len(), "prompts": rows.len()}))
        }
        StageKind::Fit { .. } | StageKind::Leaderboard { .. } => crate::ratings::execute(ctx),
        _ => Err(RuntimeError::new(STAGE_FAILED, format!("`{}` is not a data stage", ctx.stage.name))),
    }
}

fn rank_env() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("RANK".into(), "0".into()),
        ("LOCAL_RANK".into(), "0".into()),
        ("WORLD_SIZE".into(), "1".into()),
        ("LOCAL_WORLD_SIZE".into(), "1".into()),
        ("MASTER_ADDR".into(), "127.0.0.1".into()),
        ("MASTER_PORT".into(), "29500".into()),
    ])
}

/// Runs the plan: stale stages execute, the others come from the cache.
pub fn run(
    plan: &Plan,
    project: &Project,
    executor: &dyn Executor,
    options: &RunOptions,
) -> Result<RunReport, RuntimeError> {
    let cache = Cache::open(&project.root)?;
    let _lock = cache.lock()?;
    let started_ms = now_ms();
    let started = started_ms / 1000;
    let clock = Instant::now();
    let previous = previous_manifest(project);
    let environment = executor.environment();
    let mut entries: Vec<Option<Entry>> = vec![None; plan.stages.len()];
    let mut records = Vec::new();
    let mut manifest_stages = Vec::new();
    for (index, stage) in plan.stages.iter().enumerate() {
        let inputs = inputs_of(stage, plan, &entries).expect("stages come after their inputs");
        let seed = stage_seed(stage, options.seed);
        let own = own_inputs(stage, project)?;
        let key = stage_key(stage, seed, &own, &inputs, &environment, options);
        let start = Instant::now();
        let (entry, status, why, summary) = match cache.get(&key)? {
            Some(entry) => {
                let summary = read_summary(&entry.dir);
                (entry, "cached", "unchanged".to_string(), summary)
            }
            None => {
                let resuming = cache.dir().join("checkpoints").join(&key).join("checkpoint.safetensors").exists();
                let why = if resuming {
                    "resuming from its checkpoint (an earlier run stopped)".to_string()
                } else {
                    reason(stage, previous.as_ref(), &inputs, &own)
                };
                if !options.quiet {
                    eprintln!("▶ {}: running ({why})", stage.name);
                }
                let staging = cache.staging(&stage.name)?;
                let checkpoints = cache.dir().join("checkpoints").join(&key);
                let ctx = StageContext {
                    stage,
                    key: key.clone(),
                    inputs: inputs.clone(),
                    out: staging.path().to_path_buf(),
                    seed,
                    threads: options.threads,
                    gpus: stage.gpus(),
                    env: rank_env(),
                    project,
                    checkpoints: checkpoints.clone(),
                    quiet: options.quiet,
                };
                let mut summary = if stage.needs_models() { executor.execute(&ctx) } else { execute_data_stage(&ctx) }
                    .map_err(|e| RuntimeError { message: format!("stage `{}`: {}", stage.name, e.message), ..e })?;
                let facts = summary.as_object_mut().and_then(|s| s.remove(RUN_FACTS));
                write_atomic(staging.path().join("summary.json"), summary.to_string().as_bytes())?;
                if let (Some(Value::Object(facts)), Value::Object(summary)) = (facts, &mut summary) {
                    summary.extend(facts);
                }
                let entry = cache.publish(staging, &key, &stage.name)?;
                let _ = std::fs::remove_dir_all(&checkpoints);
                (entry, "ran", why, summary)
            }
        };
        let seconds = start.elapsed().as_secs_f64();
        if !options.quiet && status == "cached" {
            eprintln!("✓ {}: cached", stage.name);
        }
        manifest_stages.push(json!({
            "name": stage.name,
            "key": key,
            "output": entry.output,
            "status": status,
            "reason": why,
            "seconds": seconds,
            "definition": plumb_runtime::sha256_hex(stage.definition().as_bytes()),
            "sources": own.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "inputs": inputs.iter().map(|i| json!({"role": i.role, "stage": i.stage, "output": i.output})).collect::<Vec<_>>(),
            "seed": seed,
        }));
        records.push(StageRecord {
            name: stage.name.clone(),
            status: status.into(),
            reason: why,
            seconds,
            key: Some(key),
            output: Some(entry.output.clone()),
            dir: Some(entry.dir.clone()),
            summary,
        });
        entries[index] = Some(entry);
    }
    // Outputs: the last trained version of each model.
    let mut outputs = BTreeMap::new();
    let mut metrics = serde_json::Map::new();
    let mut train_rows = Vec::new();
    for (stage, record) in plan.stages.iter().zip(&records) {
        let dir = record.dir.clone().unwrap_or_default();
        if let (StageKind::Train { .. }, Some(model)) = (&stage.kind, &stage.model) {
            outputs.insert(model.clone(), dir.join("model"));
            if let Ok(text) = std::fs::read_to_string(dir.join("metrics.jsonl")) {
                for line in text.lines() {
                    if let Ok(mut row) = serde_json::from_str::<Value>(line) {
                        row["stage"] = json!(stage.name);
                        train_rows.push(row);
                    }
                }
            }
        }
        if matches!(stage.kind, StageKind::Train { .. } | StageKind::Eval { .. }) {
            metrics.insert(stage.name.clone(), record.summary.clone());
        }
    }
    let id = format!("{started}-{}", std::process::id());
    let run_dir = project.runs_dir().join(&id);
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| RuntimeError::io(plumb_runtime::codes::IO, "create", &run_dir, &e))?;
    let mut lines = String::new();
    for row in &train_rows {
        lines.push_str(&row.to_string());
        lines.push('\n');
    }
    for (name, summary) in &metrics {
        lines.push_str(&json!({"stage": name, "summary": summary}).to_string());
        lines.push('\n');
    }
    write_atomic(run_dir.join("metrics.jsonl"), lines.as_bytes())?;
    let charts = plumb_runtime::write_charts(&run_dir, &train_rows)?;
    let manifest = json!({
        "id": id,
        "recipe": project.recipe.display().to_string(),
        "recipe_sha256": hash_file(&project.recipe)?,
        "project": project.root.display().to_string(),
        "started": started,
        "started_ms": started_ms,
        "seconds": clock.elapsed().as_secs_f64(),
        "seed": options.seed,
        "overrides": plan.overrides,
        "stages": manifest_stages,
        "outputs": outputs.iter().map(|(k, v)| (k.clone(), json!(v.display().to_string()))).collect::<serde_json::Map<_, _>>(),
        "metrics": metrics,
        "charts": charts.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "versions": {"plumb": options.tool_version, "build": BUILD_FINGERPRINT},
        "environment": environment,
        "machine": {
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        "backend": "cpu",
        "threads": options.threads,
    });
    let manifest_path = run_dir.join("manifest.json");
    write_atomic(&manifest_path, serde_json::to_string_pretty(&manifest).unwrap_or_default().as_bytes())?;
    Ok(RunReport { stages: records, manifest: manifest_path, run_dir, outputs, metrics: Value::Object(metrics) })
}

fn read_summary(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// Which stages would run, and why, without running anything.
pub fn status(
    plan: &Plan,
    project: &Project,
    environment: &BTreeMap<String, String>,
    options: &RunOptions,
) -> Result<Vec<StageRecord>, RuntimeError> {
    let cache = Cache::open(&project.root)?;
    let previous = previous_manifest(project);
    let mut entries: Vec<Option<Entry>> = vec![None; plan.stages.len()];
    let mut records = Vec::new();
    for (index, stage) in plan.stages.iter().enumerate() {
        let seed = stage_seed(stage, options.seed);
        let own = own_inputs(stage, project)?;
        let record = match inputs_of(stage, plan, &entries) {
            None => {
                let mut stale: Vec<&str> = Vec::new();
                for input in stage.inputs.iter().filter(|i| entries[i.stage].is_none()) {
                    let name = plan.stages[input.stage].name.as_str();
                    if !stale.contains(&name) {
                        stale.push(name);
                    }
                }
                StageRecord {
                    name: stage.name.clone(),
                    status: "stale".into(),
                    reason: format!("{} {} stale", stale.join(", "), if stale.len() == 1 { "is" } else { "are" }),
                    seconds: 0.0,
                    key: None,
                    output: None,
                    dir: None,
                    summary: Value::Null,
                }
            }
            Some(inputs) => {
                let key = stage_key(stage, seed, &own, &inputs, environment, options);
                match cache.get(&key)? {
                    Some(entry) => {
                        let record = StageRecord {
                            name: stage.name.clone(),
                            status: "cached".into(),
                            reason: "unchanged".into(),
                            seconds: 0.0,
                            key: Some(key),
                            output: Some(entry.output.clone()),
                            dir: Some(entry.dir.clone()),
                            summary: read_summary(&entry.dir),
                        };
                        entries[index] = Some(entry);
                        record
                    }
                    None => StageRecord {
                        name: stage.name.clone(),
                        status: "stale".into(),
                        reason: reason(stage, previous.as_ref(), &inputs, &own),
                        seconds: 0.0,
                        key: Some(key),
                        output: None,
                        dir: None,
                        summary: Value::Null,
                    },
                }
            }
        };
        records.push(record);
    }
    Ok(records)
}

/// Keys referenced by the newest manifest of each recipe (what `plumb gc` keeps).
pub fn live_keys(project: &Project) -> HashSet<String> {
    let mut newest: BTreeMap<String, (u64, Value)> = BTreeMap::new();
    if let Ok(dirs) = std::fs::read_dir(project.runs_dir()) {
        for dir in dirs.flatten() {
            let Ok(text) = std::fs::read_to_string(dir.path().join("manifest.json")) else { continue };
            let Ok(manifest) = serde_json::from_str::<Value>(&text) else { continue };
            let recipe = manifest["recipe"].as_str().unwrap_or("").to_string();
            let started = started_ms(&manifest);
            if newest.get(&recipe).is_none_or(|(t, _)| started >= *t) {
                newest.insert(recipe, (started, manifest));
            }
        }
    }
    newest
        .values()
        .flat_map(|(_, m)| m["stages"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["key"].as_str().map(String::from))
        .collect()
}
