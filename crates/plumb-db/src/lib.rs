//! The salsa database: inputs (source files and the workspace that maps paths to
//! them) and the embedded standard library. Analysis queries live in plumb-hir;
//! this crate knows nothing of syntax or types.
//!
//! Invariant: the only way text enters analysis is through [`SourceFile`]
//! inputs, so every query result is a function of the file texts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One source file: a recipe, an imported file, or a stdlib module.
#[salsa::input(debug)]
pub struct SourceFile {
    /// A display path: as given on the command line, or `std/losses.plumb`.
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
    /// Stdlib files are read-only and shown as `std/...`.
    pub is_std: bool,
}

/// The set of files the analysis can see, by path.
#[salsa::input(debug)]
pub struct Workspace {
    #[returns(ref)]
    pub files: BTreeMap<String, SourceFile>,
}

/// The database interface the analysis queries run on.
#[salsa::db]
pub trait Db: salsa::Database {
    fn workspace(&self) -> Workspace;
}

/// The stdlib modules, embedded at build time: (module name, source text).
pub const STDLIB: &[(&str, &str)] = &[
    ("math", include_str!("../../../stdlib/std/math.plumb")),
    ("data", include_str!("../../../stdlib/std/data.plumb")),
    ("models", include_str!("../../../stdlib/std/models.plumb")),
    ("train", include_str!("../../../stdlib/std/train.plumb")),
    ("pipeline", include_str!("../../../stdlib/std/pipeline.plumb")),
    ("metrics", include_str!("../../../stdlib/std/metrics.plumb")),
    ("ratings", include_str!("../../../stdlib/std/ratings.plumb")),
    ("losses", include_str!("../../../stdlib/std/losses.plumb")),
];

/// The workspace path of a stdlib module.
pub fn std_path(module: &str) -> String {
    format!("std/{module}.plumb")
}

/// The concrete database used by the CLI, the language server and tests.
#[salsa::db]
#[derive(Clone)]
pub struct RootDatabase {
    storage: salsa::Storage<Self>,
    workspace: Option<Workspace>,
    /// When set, the names of the queries that executed are recorded (for tests).
    executed: Arc<Mutex<Option<Vec<String>>>>,
}

impl Default for RootDatabase {
    fn default() -> Self {
        let executed: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
        let log = executed.clone();
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind
                && let Ok(mut guard) = log.lock()
                && let Some(entries) = guard.as_mut()
            {
                entries.push(format!("{database_key:?}"));
            }
        })));
        let mut db = RootDatabase { storage, workspace: None, executed };
        let files = STDLIB
            .iter()
            .map(|(module, text)| {
                let path = std_path(module);
                (path.clone(), SourceFile::new(&db, path, text.to_string(), true))
            })
            .collect();
        db.workspace = Some(Workspace::new(&db, files));
        db
    }
}

#[salsa::db]
impl salsa::Database for RootDatabase {}

#[salsa::db]
impl Db for RootDatabase {
    fn workspace(&self) -> Workspace {
        self.workspace.expect("the workspace is created with the database")
    }
}

impl RootDatabase {
    /// Adds a file or replaces its text; returns its input.
    pub fn set_file(&mut self, path: &str, text: String) -> SourceFile {
        use salsa::Setter;
        let workspace = self.workspace();
        if let Some(&file) = workspace.files(self).get(path) {
            if file.text(self) != &text {
                file.set_text(self).to(text);
            }
            return file;
        }
        let file = SourceFile::new(self, path.to_string(), text, false);
        let mut files = workspace.files(self).clone();
        files.insert(path.to_string(), file);
        workspace.set_files(self).to(files);
        file
    }

    /// Removes a file from the workspace (imports of it then fail to resolve).
    pub fn remove_file(&mut self, path: &str) {
        use salsa::Setter;
        let workspace = self.workspace();
        let mut files = workspace.files(self).clone();
        if files.remove(path).is_some() {
            workspace.set_files(self).to(files);
        }
    }

    pub fn file(&self, path: &str) -> Option<SourceFile> {
        self.workspace().files(self).get(path).copied()
    }

    /// Starts recording which queries execute.
    pub fn start_recording(&self) {
        if let Ok(mut guard) = self.executed.lock() {
            *guard = Some(Vec::new());
        }
    }

    /// The queries that executed since [`Self::start_recording`], as
    /// `query_name(id)` strings, and clears the record.
    pub fn take_executed(&self) -> Vec<String> {
        self.executed.lock().ok().and_then(|mut g| g.as_mut().map(std::mem::take)).unwrap_or_default()
    }
}

/// Lexically normalises a path: drops `.` segments, folds `a/..`, uses `/`.
pub fn normalize_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize_path("a/./b/../c.plumb"), "a/c.plumb");
        assert_eq!(normalize_path("../x"), "../x");
        assert_eq!(normalize_path("/a/../../b"), "/b");
        assert_eq!(normalize_path("./r.plumb"), "r.plumb");
    }
}
