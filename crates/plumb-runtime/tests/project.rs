//! Project discovery and path resolution: the root, and paths that may not leave it.

mod common;

use std::fs;

use common::TempDir;
use plumb_runtime::{Project, codes};

/// root/plumb.toml, root/recipes/deep/r.plumb, root/data/x.jsonl, and a folder beside the root.
fn layout(tmp: &TempDir) -> Project {
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("recipes/deep")).unwrap();
    fs::create_dir_all(root.join("data")).unwrap();
    fs::create_dir_all(tmp.path().join("outside")).unwrap();
    fs::write(root.join("plumb.toml"), "").unwrap();
    fs::write(root.join("recipes/deep/r.plumb"), "").unwrap();
    fs::write(root.join("data/x.jsonl"), "").unwrap();
    fs::write(tmp.path().join("outside/secret.jsonl"), "").unwrap();
    Project::discover(&root.join("recipes/./deep/../deep/r.plumb")).unwrap()
}

#[test]
fn the_root_is_the_nearest_folder_with_plumb_toml() {
    let tmp = TempDir::new("project-root");
    let project = layout(&tmp);
    let root = tmp.path().join("root");
    assert_eq!(project.root, root);
    assert_eq!(project.recipe, root.join("recipes/deep/r.plumb"));
    assert_eq!(project.recipe_dir, root.join("recipes/deep"));
    assert_eq!(project.cache_dir(), root.join(".plumb"));
    assert_eq!(project.runs_dir(), root.join("runs"));

    // A nearer plumb.toml wins.
    fs::write(root.join("recipes/plumb.toml"), "").unwrap();
    let nearer = Project::discover(&root.join("recipes/deep/r.plumb")).unwrap();
    assert_eq!(nearer.root, root.join("recipes"));
}

#[test]
fn without_plumb_toml_the_root_is_the_recipe_folder() {
    let tmp = TempDir::new("project-noroot");
    let dir = tmp.path().join("lonely");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("r.plumb"), "").unwrap();
    let project = Project::discover(&dir.join("r.plumb")).unwrap();
    assert_eq!(project.root, dir);
    assert_eq!(project.resolve("out/model").unwrap(), dir.join("out/model"));
    assert_eq!(project.resolve("../lonely/x").unwrap(), dir.join("x"));
    assert_eq!(project.resolve("../x").unwrap_err().code, codes::OUTSIDE_ROOT);
}

#[test]
fn a_missing_recipe_is_an_error_naming_it() {
    let tmp = TempDir::new("project-missing");
    let error = Project::discover(&tmp.path().join("nope.plumb")).unwrap_err();
    assert_eq!(error.code, codes::IO);
    assert!(error.message.contains("nope.plumb"), "{error}");
}

#[test]
fn paths_resolve_against_the_recipe_folder() {
    let tmp = TempDir::new("project-resolve");
    let project = layout(&tmp);
    let root = &project.root;
    assert_eq!(project.resolve("../../data/x.jsonl").unwrap(), root.join("data/x.jsonl"));
    assert_eq!(project.resolve("./out/../out/model").unwrap(), root.join("recipes/deep/out/model"));
    assert_eq!(project.resolve("../..").unwrap(), *root);
    let absolute = root.join("data/x.jsonl");
    assert_eq!(project.resolve(absolute.to_str().unwrap()).unwrap(), absolute);
}

#[test]
fn leaving_the_root_is_p0801_naming_the_path_and_the_root() {
    let tmp = TempDir::new("project-escape");
    let project = layout(&tmp);
    for written in ["../../../outside/secret.jsonl", "../../../outside/new.jsonl", "../../..", "/etc/passwd"] {
        let error = project.resolve(written).unwrap_err();
        assert_eq!(error.code, codes::OUTSIDE_ROOT, "{written}");
        assert!(error.message.contains(written), "{error}");
        assert!(error.message.contains(&project.root.display().to_string()), "{error}");
        let help = error.help.as_deref().unwrap_or_default();
        assert!(help.contains("plumb.toml"), "{error}");
        assert!(error.to_string().starts_with("error[P0801]: "), "{error}");
    }
    let absolute = tmp.path().join("outside/secret.jsonl");
    assert_eq!(project.resolve(absolute.to_str().unwrap()).unwrap_err().code, codes::OUTSIDE_ROOT);
}

#[cfg(unix)]
#[test]
fn symlinks_are_followed_before_the_check() {
    use std::os::unix::fs::symlink;
    let tmp = TempDir::new("project-symlink");
    let project = layout(&tmp);
    let root = project.root.clone();
    symlink(tmp.path().join("outside"), root.join("data/escape")).unwrap();
    symlink(root.join("data/x.jsonl"), root.join("data/alias.jsonl")).unwrap();
    symlink(tmp.path().join("outside/gone"), root.join("data/dangling")).unwrap();

    // An existing file behind a link, and a file still to be written under one.
    assert_eq!(project.resolve("../../data/escape/secret.jsonl").unwrap_err().code, codes::OUTSIDE_ROOT);
    assert_eq!(project.resolve("../../data/escape/new/model").unwrap_err().code, codes::OUTSIDE_ROOT);
    assert_eq!(project.resolve("../../data/dangling").unwrap_err().code, codes::OUTSIDE_ROOT);
    // A link that stays inside is fine and resolves to its target.
    assert_eq!(project.resolve("../../data/alias.jsonl").unwrap(), root.join("data/x.jsonl"));
}
