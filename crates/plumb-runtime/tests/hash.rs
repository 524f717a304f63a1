//! Folder and file hashes: what changes them and what does not.

mod common;

use std::fs;

use common::TempDir;
use plumb_runtime::{codes, hash_dir, hash_file, sha256_hex};

fn model_folder(tmp: &TempDir) -> std::path::PathBuf {
    let dir = tmp.path().join("model");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("config.json"), b"{}").unwrap();
    fs::write(dir.join("model.safetensors"), b"weights").unwrap();
    fs::write(dir.join("sub/extra.txt"), b"extra").unwrap();
    dir
}

#[test]
fn file_hash_is_the_hash_of_its_bytes() {
    let tmp = TempDir::new("hash-file");
    let path = tmp.path().join("a.bin");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&path, &bytes).unwrap();
    assert_eq!(hash_file(&path).unwrap(), sha256_hex(&bytes));
    let missing = hash_file(tmp.path().join("nope")).unwrap_err();
    assert_eq!(missing.code, codes::IO);
    assert!(missing.message.contains("nope"), "{missing}");
}

#[test]
fn dir_hash_depends_on_names_and_contents_only() {
    let a = TempDir::new("hash-dir-a");
    let b = TempDir::new("hash-dir-b");
    let (da, db) = (model_folder(&a), model_folder(&b));
    let base = hash_dir(&da).unwrap();
    assert_eq!(base.len(), 64);
    assert_eq!(base, hash_dir(&db).unwrap(), "same names and contents in another place");

    fs::create_dir(db.join("empty")).unwrap();
    assert_eq!(base, hash_dir(&db).unwrap(), "an empty folder holds no file");

    fs::write(db.join("sub/extra.txt"), b"extrA").unwrap();
    assert_ne!(base, hash_dir(&db).unwrap(), "a changed byte");
    fs::write(db.join("sub/extra.txt"), b"extra").unwrap();

    fs::rename(db.join("sub/extra.txt"), db.join("sub/other.txt")).unwrap();
    assert_ne!(base, hash_dir(&db).unwrap(), "a renamed file");
    fs::rename(db.join("sub/other.txt"), db.join("sub/extra.txt")).unwrap();
    assert_eq!(base, hash_dir(&db).unwrap());

    fs::write(db.join(".hidden"), b"").unwrap();
    assert_ne!(base, hash_dir(&db).unwrap(), "nothing is skipped, not even an empty hidden file");
}

#[cfg(unix)]
#[test]
fn a_symlink_in_a_hashed_folder_is_an_error() {
    let tmp = TempDir::new("hash-symlink");
    let dir = model_folder(&tmp);
    std::os::unix::fs::symlink(dir.join("config.json"), dir.join("sub/link.json")).unwrap();
    let error = hash_dir(&dir).unwrap_err();
    assert_eq!(error.code, codes::IO);
    assert!(error.message.contains("link.json") && error.message.contains("symbolic link"), "{error}");
}
