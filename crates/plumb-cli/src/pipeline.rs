//! What `plumb run` and `plumb status` share: checking the recipe, finding the
//! project, building the stage graph with `--set` overrides, and rendering
//! errors at their place in the recipe.

use crate::render::{self, FileDiagnostic};
use crate::{RENDER_WIDTH, workspace};
use plumb_db::RootDatabase;
use plumb_diag::{Diagnostic, Span};
use plumb_plan::{Plan, PlanError};
use plumb_runtime::{Project, RuntimeError};
use std::path::Path;

/// A recipe ready to run.
pub struct Prepared {
    pub plan: Plan,
    pub project: Project,
    pub path: String,
    pub text: String,
}

/// Prints an error located in the recipe (or without a place when `span` is None).
pub fn report(path: &str, text: &str, code: &'static str, message: &str, help: Option<&str>, span: Option<Span>) {
    match span {
        Some(span) => {
            let mut diagnostic = Diagnostic::error(code, message, span);
            if let Some(help) = help {
                diagnostic = diagnostic.with_help(help);
            }
            eprint!("{}", render::render(&FileDiagnostic { path, text, diagnostic: &diagnostic }, RENDER_WIDTH));
        }
        None => {
            eprintln!("error[{code}]: {message}");
            if let Some(help) = help {
                eprintln!("  help: {help}");
            }
        }
    }
}

pub fn report_runtime(prepared: &Prepared, error: &RuntimeError, span: Option<Span>) {
    report(&prepared.path, &prepared.text, error.code, &error.message, error.help.as_deref(), span);
}

/// Checks the recipe and plans it; prints what is wrong and returns the exit code otherwise.
pub fn prepare(recipe: &Path, sets: &[String]) -> Result<Prepared, i32> {
    let path = workspace::display_path(recipe);
    if !recipe.is_file() {
        eprintln!("error: no such recipe: {path}");
        return Err(2);
    }
    let mut db = RootDatabase::default();
    let loaded = workspace::load(&mut db, std::slice::from_ref(&path));
    let text = loaded.first().map(|f| f.text.clone()).unwrap_or_default();
    // Data files are checked below, once their paths are known to stay inside the project.
    let checked = crate::check_paths_with(std::slice::from_ref(&path), false);
    let mut errors = 0;
    for (file, file_text, diagnostics) in &checked.files {
        for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
            errors += 1;
            eprint!("{}", render::render(&FileDiagnostic { path: file, text: file_text, diagnostic }, RENDER_WIDTH));
        }
    }
    if errors > 0 {
        eprintln!("{path}: {errors} error(s); nothing was run");
        return Err(1);
    }
    let Some(file) = db.file(&path) else {
        eprintln!("error: cannot load {path}");
        return Err(1);
    };
    let fail = |e: PlanError| {
        report(&path, &text, e.code, &e.message, e.help.as_deref(), e.span);
        if e.code == "P0813" { 2 } else { 1 }
    };
    let mut plan = plumb_plan::build(&db, file).map_err(fail)?;
    plumb_plan::plan::apply_overrides(&mut plan, sets).map_err(fail)?;
    let project = Project::discover(recipe).map_err(|e| {
        report(&path, &text, e.code, &e.message, e.help.as_deref(), None);
        1
    })?;
    // Every path the recipe names must resolve inside the project.
    for stage in &plan.stages {
        let named = match &stage.kind {
            plumb_plan::StageKind::Load { path, .. } | plumb_plan::StageKind::Model { path, .. } => path,
            _ => continue,
        };
        if let Err(e) = project.resolve(named) {
            report(&path, &text, e.code, &e.message, e.help.as_deref(), Some(stage.span));
            return Err(1);
        }
    }
    let base = Path::new(&path).parent().unwrap_or(Path::new("."));
    let data_errors: Vec<Diagnostic> =
        plumb_hir::check_data_files(&db, file, base).into_iter().filter(|d| d.is_error()).collect();
    for diagnostic in &data_errors {
        eprint!("{}", render::render(&FileDiagnostic { path: &path, text: &text, diagnostic }, RENDER_WIDTH));
    }
    if !data_errors.is_empty() {
        eprintln!("{path}: {} error(s); nothing was run", data_errors.len());
        return Err(1);
    }
    Ok(Prepared { plan, project, path, text })
}

/// `plumb status RECIPE`: lists stale stages; exit 0 when nothing is stale, 1 otherwise.
pub fn status(recipe: &Path, plan: &crate::nn_args::PlanArgs, json: bool) -> i32 {
    let (sets, seed, threads) = (&plan.sets, plan.seed, plan.threads);
    let prepared = match prepare(recipe, sets) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let options = plumb_plan::RunOptions::new(seed, threads, true);
    let environment = plumb_plan::schedule::model_environment();
    let records = match plumb_plan::status(&prepared.plan, &prepared.project, &environment, &options) {
        Ok(r) => r,
        Err(e) => {
            report_runtime(&prepared, &e, None);
            return 1;
        }
    };
    let stale = records.iter().filter(|r| r.status == "stale").count();
    if json {
        let stages: Vec<serde_json::Value> = records
            .iter()
            .map(|r| serde_json::json!({"name": r.name, "status": r.status, "reason": r.reason, "key": r.key}))
            .collect();
        outln!("{}", serde_json::json!({"stages": stages, "stale": stale}));
    } else {
        for r in &records {
            outln!("{:<7} {:<32} {}", r.status, r.name, if r.status == "stale" { r.reason.as_str() } else { "" });
        }
        outln!("{stale} of {} stages stale", records.len());
    }
    i32::from(stale > 0)
}

/// `plumb gc`: removes cache entries that no recipe's newest run uses.
pub fn gc(dir: &Path) -> i32 {
    let root = dir.ancestors().find(|d| d.join("plumb.toml").is_file()).unwrap_or(dir).to_path_buf();
    let cache_dir = root.join(".plumb");
    if !cache_dir.is_dir() {
        outln!("no cache at {}", cache_dir.display());
        return 0;
    }
    let project = Project { root: root.clone(), recipe: root.join("plumb.toml"), recipe_dir: root.clone() };
    let keep = plumb_plan::schedule::live_keys(&project);
    let result = plumb_runtime::Cache::open(&root).and_then(|cache| {
        let _lock = cache.lock()?;
        let mut report = cache.gc(&keep)?;
        // Checkpoints of stages no kept run uses (including those of runs that never finished).
        if let Ok(dirs) = std::fs::read_dir(cache.dir().join("checkpoints")) {
            for dir in dirs.flatten() {
                if !keep.contains(&dir.file_name().to_string_lossy().to_string()) {
                    report.bytes += plumb_runtime::cache::remove_all(&dir.path())?;
                }
            }
        }
        Ok(report)
    });
    match result {
        Ok(report) => {
            outln!("removed {} cache entries ({} bytes); kept {}", report.removed, report.bytes, keep.len());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
