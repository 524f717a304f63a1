//! The stdlib sources, served read-only for go-to-definition.
//!
//! The choice: the embedded stdlib is written once to a folder under the system
//! temp directory, `plumb-std-<hash of the sources>/std/<module>.plumb`, with
//! read-only permissions, and definitions in the stdlib point at those `file://`
//! URIs. Every editor can open a file URI with no client code (a custom URI scheme
//! needs a content provider in each client). A file the editor opens from that
//! folder is recognised and mapped back to the embedded module, so hover and
//! go-to-definition work inside it, no diagnostics are published for it, and edits
//! to it are ignored. When the folder cannot be written, definitions point at
//! `plumb-std:///std/<module>.plumb` instead, and the custom request
//! `plumb/stdlibSource` (`{"uri": ...}` → `{"text": ...}`) returns the source.

use std::path::{Path, PathBuf};

/// The scheme of the fallback virtual URIs.
pub const VIRTUAL_PREFIX: &str = "plumb-std:///";

fn hash(data: &[(&str, &str)]) -> u64 {
    // FNV-1a: stable across runs and builds, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in data {
        for b in name.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Writes the stdlib under the temp directory (if not already there) and returns
/// the folder that holds `std/`.
pub fn materialise() -> Option<PathBuf> {
    let root = std::env::temp_dir().join(format!("plumb-std-{:016x}", hash(plumb_db::STDLIB)));
    let dir = root.join("std");
    std::fs::create_dir_all(&dir).ok()?;
    for (module, text) in plumb_db::STDLIB {
        let path = dir.join(format!("{module}.plumb"));
        if std::fs::read_to_string(&path).is_ok_and(|t| t == *text) {
            continue;
        }
        let temporary = dir.join(format!(".{module}.plumb.tmp-{}", std::process::id()));
        std::fs::write(&temporary, text).ok()?;
        set_read_only(&temporary);
        if std::fs::rename(&temporary, &path).is_err() {
            let _ = std::fs::remove_file(&temporary);
            return None;
        }
    }
    Some(root)
}

fn set_read_only(path: &Path) {
    if let Ok(metadata) = std::fs::metadata(path) {
        let mut permissions = metadata.permissions();
        permissions.set_readonly(true);
        let _ = std::fs::set_permissions(path, permissions);
    }
}

/// The source of a stdlib path (`std/losses.plumb`).
pub fn source(path: &str) -> Option<&'static str> {
    let module = path.strip_prefix("std/")?.strip_suffix(".plumb")?;
    plumb_db::STDLIB.iter().find(|(m, _)| *m == module).map(|(_, text)| *text)
}
