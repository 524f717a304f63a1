//! The project a recipe belongs to: its root (the nearest folder with `plumb.toml`)
//! and the resolution of the recipe's paths, which may not leave that root.

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use crate::error::{Result, RuntimeError, codes};

const OUTSIDE_HELP: &str =
    "recipes may only read and write inside the project root (the nearest folder with plumb.toml)";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Canonical: the nearest ancestor folder of the recipe holding `plumb.toml`, else the recipe's folder.
    pub root: PathBuf,
    /// The recipe file, canonical.
    pub recipe: PathBuf,
    /// The recipe's folder, canonical; relative paths in the recipe resolve against it.
    pub recipe_dir: PathBuf,
}

impl Project {
    pub fn discover(recipe: &Path) -> Result<Project> {
        let recipe =
            fs::canonicalize(recipe).map_err(|e| RuntimeError::io(codes::IO, "open the recipe", recipe, &e))?;
        let Some(recipe_dir) = recipe.parent().map(Path::to_path_buf) else {
            return Err(RuntimeError::new(codes::IO, format!("{} is not a recipe file", recipe.display())));
        };
        let root = recipe_dir
            .ancestors()
            .find(|dir| dir.join("plumb.toml").is_file())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| recipe_dir.clone());
        Ok(Project { root, recipe, recipe_dir })
    }

    /// Resolves a path as written in the recipe: against the recipe's folder,
    /// normalized lexically, then with symbolic links followed as far as the path
    /// exists. The result must lie inside the project root (`P0801`).
    pub fn resolve(&self, relative: &str) -> Result<PathBuf> {
        let joined = self.recipe_dir.join(relative);
        let normal = normalize(&joined);
        let resolved = canonicalize_existing(&normal).map_err(|e| match e {
            Resolve::Dangling(link) => RuntimeError::new(
                codes::OUTSIDE_ROOT,
                format!(
                    "`{relative}` goes through {}, a symbolic link whose target does not exist, so it may leave the project root {}",
                    link.display(),
                    self.root.display()
                ),
            )
            .help(OUTSIDE_HELP),
            Resolve::Io(path, e) => RuntimeError::io(codes::IO, "resolve", &path, &e),
        })?;
        if !resolved.starts_with(&self.root) {
            return Err(RuntimeError::new(
                codes::OUTSIDE_ROOT,
                format!(
                    "`{relative}` resolves to {}, outside the project root {}",
                    resolved.display(),
                    self.root.display()
                ),
            )
            .help(OUTSIDE_HELP));
        }
        Ok(resolved)
    }

    /// `<root>/.plumb`: the cache, its staging area and the lock.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".plumb")
    }

    /// `<root>/runs`: one folder per run.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }
}

/// Removes `.` and resolves `..` against the preceding component, without
/// touching the file system; `..` at the root stays at the root.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

enum Resolve {
    Dangling(PathBuf),
    Io(PathBuf, std::io::Error),
}

/// Canonicalizes the longest existing prefix of an absolute, normalized path
/// and appends the rest, so that a file still to be written under a symbolic
/// link to elsewhere is seen to be elsewhere.
fn canonicalize_existing(path: &Path) -> std::result::Result<PathBuf, Resolve> {
    let mut rest = Vec::new();
    let mut prefix = path;
    loop {
        match fs::canonicalize(prefix) {
            Ok(mut real) => {
                real.extend(rest.iter().rev());
                return Ok(real);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if fs::symlink_metadata(prefix).is_ok() {
                    return Err(Resolve::Dangling(prefix.to_path_buf()));
                }
            }
            Err(e) => return Err(Resolve::Io(prefix.to_path_buf(), e)),
        }
        match (prefix.parent(), prefix.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                prefix = parent;
            }
            _ => return Ok(path.to_path_buf()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/b/./c/../d")), PathBuf::from("/a/b/d"));
        assert_eq!(normalize(Path::new("/a/../../b")), PathBuf::from("/b"));
        assert_eq!(normalize(Path::new("/a/b/..")), PathBuf::from("/a"));
    }
}
