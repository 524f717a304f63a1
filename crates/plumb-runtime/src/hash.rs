//! SHA-256 content hashes: of bytes, of a file, of a folder (names and contents), and of named fields.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Result, RuntimeError, codes};

/// The SHA-256 of `bytes` as 64 lowercase hex characters.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut hasher = Hasher::new();
    hasher.update(bytes);
    hasher.finish()
}

/// An incremental SHA-256. [`Hasher::field`] length-prefixes its name and value,
/// so `field("ab", "c")` and `field("a", "bc")` hash differently.
#[derive(Clone, Debug, Default)]
pub struct Hasher {
    inner: Sha256,
}

impl Hasher {
    pub fn new() -> Self {
        Hasher::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }

    pub fn field(&mut self, name: &str, value: &str) {
        for part in [name, value] {
            self.inner.update((part.len() as u64).to_le_bytes());
            self.inner.update(part.as_bytes());
        }
    }

    /// 64 lowercase hex characters.
    pub fn finish(self) -> String {
        hex(&self.inner.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

/// The SHA-256 of a file's contents, read in chunks.
pub fn hash_file(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let mut file = fs::File::open(path).map_err(|e| RuntimeError::io(codes::IO, "read", path, &e))?;
    let mut hasher = Hasher::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(RuntimeError::io(codes::IO, "read", path, &e)),
        };
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finish())
}

/// The hash of a folder: of its files' relative names (`/`-separated, sorted)
/// and contents. Empty subfolders do not count; a symbolic link or any other
/// entry that is neither a file nor a folder is an error. Equal to the `output`
/// hash of a cache entry holding the same files.
pub fn hash_dir(path: impl AsRef<Path>) -> Result<String> {
    let mut files = BTreeMap::new();
    for (name, file) in list_files(path.as_ref())? {
        let hash = hash_file(&file)?;
        files.insert(name, hash);
    }
    Ok(hash_listing(&files))
}

/// The hash of sorted (relative name, file hash) pairs.
pub(crate) fn hash_listing(files: &BTreeMap<String, String>) -> String {
    let mut hasher = Hasher::new();
    for (name, hash) in files {
        hasher.field(name, hash);
    }
    hasher.finish()
}

/// Every file under `dir`, recursively, as (relative `/`-separated name, full path), sorted by name.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut pending = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = pending.pop() {
        let entries = fs::read_dir(&folder).map_err(|e| RuntimeError::io(codes::IO, "list", &folder, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| RuntimeError::io(codes::IO, "list", &folder, &e))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(RuntimeError::new(
                    codes::IO,
                    format!("{}: the file name is not UTF-8, so it cannot be hashed by name", path.display()),
                ));
            };
            let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let kind = entry.file_type().map_err(|e| RuntimeError::io(codes::IO, "inspect", &path, &e))?;
            if kind.is_symlink() {
                return Err(RuntimeError::new(
                    codes::IO,
                    format!("{} is a symbolic link; hashed folders may hold only files and folders", path.display()),
                ));
            } else if kind.is_dir() {
                pending.push((relative, path));
            } else if kind.is_file() {
                out.push((relative, path));
            } else {
                return Err(RuntimeError::new(
                    codes::IO,
                    format!("{} is not a regular file; hashed folders may hold only files and folders", path.display()),
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn incremental_equals_one_shot() {
        let mut hasher = Hasher::new();
        hasher.update(b"a");
        hasher.update(b"bc");
        assert_eq!(hasher.finish(), sha256_hex(b"abc"));
    }

    #[test]
    fn fields_do_not_run_together() {
        let hash = |pairs: &[(&str, &str)]| {
            let mut hasher = Hasher::new();
            for (name, value) in pairs {
                hasher.field(name, value);
            }
            hasher.finish()
        };
        assert_ne!(hash(&[("ab", "c")]), hash(&[("a", "bc")]));
        assert_ne!(hash(&[("a", "b"), ("c", "")]), hash(&[("a", "bc"), ("", "")]));
        assert_eq!(hash(&[("a", "b")]).len(), 64);
    }
}
