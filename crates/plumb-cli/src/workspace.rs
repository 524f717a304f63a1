//! Finding recipe files on disk and loading them (with the files they import)
//! into the analysis database.

use plumb_db::RootDatabase;
use plumb_diag::Diagnostic;
use std::path::{Path, PathBuf};

/// A file as loaded: its text, or the problem with its bytes.
pub struct Loaded {
    pub path: String,
    pub text: String,
    pub error: Option<Diagnostic>,
}

/// Expands directories into the `*.plumb` files below them (sorted), skipping
/// hidden folders, `target` and `node_modules`.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("no such file or directory: {}", path.display()));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, out);
            }
        } else if name.ends_with(".plumb") {
            out.push(path);
        }
    }
}

/// The display and database path of a file.
pub fn display_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    plumb_db::normalize_path(&text)
}

/// Reads a file's bytes and checks they can be a recipe.
pub fn read(path: &str) -> Loaded {
    match std::fs::read(path) {
        Err(error) => Loaded {
            path: path.to_string(),
            text: String::new(),
            error: Some(
                Diagnostic::error("P0105", format!("cannot read `{path}`: {error}"), plumb_diag::Span::default())
                    .with_help("check the path and its permissions"),
            ),
        },
        Ok(bytes) => match plumb_syntax::decode(&bytes) {
            Ok(text) => Loaded { path: path.to_string(), text: text.to_string(), error: None },
            Err(diagnostic) => {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]).replace('\0', " ");
                Loaded { path: path.to_string(), text, error: Some(diagnostic) }
            }
        },
    }
}

/// Loads the given files into the database, then the files they import,
/// transitively. Returns every loaded file, roots first.
pub fn load(db: &mut RootDatabase, roots: &[String]) -> Vec<Loaded> {
    let mut loaded: Vec<Loaded> = Vec::new();
    let mut queue: Vec<String> = roots.to_vec();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let file = read(&path);
        if file.error.is_none() {
            let input = db.set_file(&path, file.text.clone());
            for imported in plumb_hir::imported_paths(db, input) {
                if !seen.contains(&imported) && Path::new(&imported).is_file() {
                    queue.push(imported);
                }
            }
        }
        loaded.push(file);
    }
    loaded.sort_by_key(|f| roots.iter().position(|r| *r == f.path).unwrap_or(usize::MAX));
    loaded
}
