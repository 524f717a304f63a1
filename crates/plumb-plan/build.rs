//! Fingerprints the sources that decide what a stage computes (the crates from
//! recipe to kernels and models, and the stdlib), so that a cache entry made by
//! another build of plumb is never reused for this one, even at the same version.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "plumb" || e == "pest") {
            out.push(path);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs: Vec<PathBuf> = [
        "plumb-syntax",
        "plumb-hir",
        "plumb-db",
        "plumb-ir",
        "plumb-lower",
        "plumb-autodiff",
        "plumb-fuse",
        "plumb-interp",
        "plumb-cpu",
        "plumb-model",
        "plumb-nn",
        "plumb-plan",
        "plumb-runtime",
        "plumb-ratings",
        "plumb-judge",
    ]
    .iter()
    .map(|c| root.join("crates").join(c).join("src"))
    .collect();
    dirs.push(root.join("stdlib"));
    dirs.push(root.join("grammar"));
    let mut all = Vec::new();
    for dir in &dirs {
        println!("cargo:rerun-if-changed={}", dir.display());
        files(dir, &mut all);
    }
    all.sort();
    // FNV-1a over names and contents: a fingerprint, not a security boundary.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in &all {
        let name = path.strip_prefix(&root).unwrap_or(path).to_string_lossy().into_owned();
        for byte in name.bytes().chain(std::fs::read(path).unwrap_or_default()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=PLUMB_SOURCE_FINGERPRINT={hash:016x}");
}
