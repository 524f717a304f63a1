//! The content-addressed store under `<root>/.plumb/`: `cache/<key>/` holds a
//! stage's output files and `entry.json`; `tmp/` holds staging folders; `lock`
//! keeps two runs on one project apart.
//!
//! Every entry is re-hashed when it is read, and one that does not match its
//! `entry.json` is moved aside, never returned.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError, codes};
use crate::hash::{hash_file, hash_listing, list_files};

/// The name of the file in each entry's folder that describes it; no output may use it.
pub const ENTRY_FILE: &str = "entry.json";

/// Makes temporary names unique among the threads of one process; the process id does it across processes.
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |e| RuntimeError::io(codes::IO, what, path, &e)
}

/// Makes a folder's entries (creations, renames, removals) durable. Only Unix can open a folder to sync it.
fn sync_dir(dir: &Path) -> Result<()> {
    if cfg!(unix) {
        File::open(dir).and_then(|f| f.sync_all()).map_err(io("sync", dir))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one,
/// never a part: a temporary file in the same folder, synced, renamed over `path`, then the folder synced.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(RuntimeError::new(codes::IO, format!("cannot write {}: not a file path", path.display())));
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let temp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), unique_suffix()));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(RuntimeError::io(codes::IO, "write", path, &e));
    }
    sync_dir(dir)
}

/// A published, verified cache entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub stage: String,
    /// The hash of the outputs: [`crate::Hasher::field`] over the sorted (name, file hash) pairs,
    /// equal to [`crate::hash_dir`] of the outputs alone.
    pub output: String,
    /// Each output file's `/`-separated name relative to `dir`, and its SHA-256.
    pub files: BTreeMap<String, String>,
    /// Unix seconds when the entry was published.
    pub created: u64,
    /// `<root>/.plumb/cache/<key>`.
    pub dir: PathBuf,
}

/// `entry.json` as written.
#[derive(Serialize, Deserialize)]
struct EntryFile {
    key: String,
    stage: String,
    output: String,
    files: BTreeMap<String, String>,
    created: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Cache entries removed.
    pub removed: usize,
    /// Bytes freed, in removed entries and in `.plumb/tmp`.
    pub bytes: u64,
}

/// The project's exclusive lock on `.plumb/lock`, released when dropped.
#[derive(Debug)]
pub struct CacheLock {
    file: File,
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first just makes it prompt.
        let _ = self.file.unlock();
    }
}

/// A fresh folder under `.plumb/tmp/` where a stage writes its outputs. It is
/// removed when dropped unless it was published.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    published: bool,
}

impl Staging {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The store under `<root>/.plumb/`. Writers (`staging`, `publish`, `gc`, and
/// `get`, which may move a corrupt entry aside) should hold [`Cache::lock`].
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Opens the cache of the project at `root`, creating `.plumb/cache` and `.plumb/tmp`.
    pub fn open(root: impl AsRef<Path>) -> Result<Cache> {
        let dir = root.as_ref().join(".plumb");
        let cache = Cache { dir };
        for sub in [cache.entries_dir(), cache.tmp_dir()] {
            fs::create_dir_all(&sub).map_err(io("create", &sub))?;
        }
        Ok(cache)
    }

    /// `<root>/.plumb`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<root>/.plumb/cache`.
    pub fn entries_dir(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// `<root>/.plumb/tmp`.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// `<root>/.plumb/lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// Takes the project's exclusive lock, waiting (and saying so on stderr) while another run holds it.
    pub fn lock(&self) -> Result<CacheLock> {
        let path = self.lock_path();
        let lock_error = |e: std::io::Error| {
            RuntimeError::io(codes::LOCK, "lock", &path, &e)
                .help("another process may hold it; plumb takes this lock so that two runs on one project cannot mix their cache writes")
        };
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                eprintln!("waiting for another plumb run on this project (.plumb/lock)");
                file.lock().map_err(lock_error)?;
            }
            Err(TryLockError::Error(e)) => return Err(lock_error(e)),
        }
        Ok(CacheLock { file })
    }

    /// A fresh, empty folder under `.plumb/tmp/` for a stage's outputs.
    pub fn staging(&self, stage_name: &str) -> Result<Staging> {
        let safe: String = stage_name
            .chars()
            .take(40)
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        loop {
            let dir = self.tmp_dir().join(format!("stage-{safe}-{}", unique_suffix()));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(Staging { dir, published: false }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(RuntimeError::io(codes::IO, "create", &dir, &e)),
            }
        }
    }

    /// Hashes and syncs every file of `staging`, writes its `entry.json`, and
    /// renames the folder to `.plumb/cache/<key>`, replacing what was there.
    pub fn publish(&self, mut staging: Staging, key: &str, stage_name: &str) -> Result<Entry> {
        check_key(key)?;
        let mut files = BTreeMap::new();
        for (name, path) in list_files(&staging.dir)? {
            if name == ENTRY_FILE {
                return Err(RuntimeError::new(
                    codes::IO,
                    format!("stage `{stage_name}` wrote {}, a name the cache keeps for itself", path.display()),
                ));
            }
            File::open(&path).and_then(|f| f.sync_all()).map_err(io("sync", &path))?;
            files.insert(name, hash_file(&path)?);
        }
        let entry = EntryFile {
            key: key.to_string(),
            stage: stage_name.to_string(),
            output: hash_listing(&files),
            files,
            created: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        };
        let json = serde_json::to_vec_pretty(&entry)
            .map_err(|e| RuntimeError::new(codes::IO, format!("cannot encode the cache entry {key}: {e}")))?;
        write_atomic(staging.dir.join(ENTRY_FILE), &json)?;
        sync_tree(&staging.dir)?;

        let target = self.entries_dir().join(key);
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&target).map_err(io("remove", &target))?,
            Ok(_) => fs::remove_file(&target).map_err(io("remove", &target))?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(RuntimeError::io(codes::IO, "inspect", &target, &e)),
        }
        fs::rename(&staging.dir, &target).map_err(io("publish into", &target))?;
        staging.published = true;
        sync_dir(&self.entries_dir())?;
        sync_dir(&self.tmp_dir())?;
        Ok(Entry {
            key: entry.key,
            stage: entry.stage,
            output: entry.output,
            files: entry.files,
            created: entry.created,
            dir: target,
        })
    }

    /// The entry under `key`, verified against its `entry.json` by re-hashing
    /// every file. `None` when absent, or when corrupt: then the folder is moved
    /// to `.plumb/tmp/corrupt-<key>-<n>` with a warning on stderr.
    pub fn get(&self, key: &str) -> Result<Option<Entry>> {
        check_key(key)?;
        let dir = self.entries_dir().join(key);
        match fs::symlink_metadata(&dir) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RuntimeError::io(codes::IO, "inspect", &dir, &e)),
        }
        match verify(&dir, key) {
            Ok(entry) => Ok(Some(entry)),
            Err(why) => {
                let aside = self.move_aside(&dir, key)?;
                let shown = aside.strip_prefix(self.dir.parent().unwrap_or(&self.dir)).unwrap_or(&aside);
                eprintln!(
                    "warning: cache entry {key} is corrupt ({why}); moved to {}, the stage will run again",
                    shown.display()
                );
                Ok(None)
            }
        }
    }

    fn move_aside(&self, dir: &Path, key: &str) -> Result<PathBuf> {
        let mut n = 0u64;
        loop {
            let aside = self.tmp_dir().join(format!("corrupt-{key}-{n}"));
            if fs::symlink_metadata(&aside).is_err() {
                fs::rename(dir, &aside).map_err(io("move aside", dir))?;
                return Ok(aside);
            }
            n += 1;
        }
    }

    /// Removes every cache entry whose key is not in `keep`, and everything in `.plumb/tmp`.
    pub fn gc(&self, keep: &HashSet<String>) -> Result<GcReport> {
        let mut report = GcReport::default();
        let entries = self.entries_dir();
        for item in fs::read_dir(&entries).map_err(io("list", &entries))? {
            let item = item.map_err(io("list", &entries))?;
            if keep.contains(item.file_name().to_string_lossy().as_ref()) {
                continue;
            }
            report.bytes += remove_all(&item.path())?;
            report.removed += 1;
        }
        let tmp = self.tmp_dir();
        for item in fs::read_dir(&tmp).map_err(io("list", &tmp))? {
            let item = item.map_err(io("list", &tmp))?;
            report.bytes += remove_all(&item.path())?;
        }
        Ok(report)
    }
}

/// Keys name folders, so they may not hold separators, dots or anything else a path could interpret.
fn check_key(key: &str) -> Result<()> {
    let ok =
        !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::new(
            codes::IO,
            format!("`{key}` is not a cache key: keys are 1 to 128 ASCII letters, digits, `-` or `_`"),
        ))
    }
}

/// Syncs every folder under `dir` and `dir` itself, so that the file names are as durable as the contents.
fn sync_tree(dir: &Path) -> Result<()> {
    for item in fs::read_dir(dir).map_err(io("list", dir))? {
        let item = item.map_err(io("list", dir))?;
        if item.file_type().map_err(io("inspect", &item.path()))?.is_dir() {
            sync_tree(&item.path())?;
        }
    }
    sync_dir(dir)
}

/// Removes a file or folder (without following links) and returns the bytes its files held.
pub fn remove_all(path: &Path) -> Result<u64> {
    let meta = fs::symlink_metadata(path).map_err(io("inspect", path))?;
    if !meta.is_dir() {
        fs::remove_file(path).map_err(io("remove", path))?;
        return Ok(meta.len());
    }
    let mut bytes = 0;
    for item in fs::read_dir(path).map_err(io("list", path))? {
        let item = item.map_err(io("list", path))?;
        bytes += remove_all(&item.path())?;
    }
    fs::remove_dir(path).map_err(io("remove", path))?;
    Ok(bytes)
}

/// Checks an entry's folder against its `entry.json`; the error says what is wrong.
fn verify(dir: &Path, key: &str) -> std::result::Result<Entry, String> {
    if !fs::symlink_metadata(dir).map(|m| m.is_dir()).unwrap_or(false) {
        return Err("not a folder".into());
    }
    let text = match fs::read(dir.join(ENTRY_FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(format!("no {ENTRY_FILE}")),
        Err(e) => return Err(format!("cannot read {ENTRY_FILE}: {e}")),
    };
    let entry: EntryFile = serde_json::from_slice(&text).map_err(|e| format!("{ENTRY_FILE} does not parse: {e}"))?;
    if entry.key != key {
        return Err(format!("{ENTRY_FILE} names key {}", entry.key));
    }
    let listed = list_files(dir).map_err(|e| e.message)?;
    let mut found = BTreeMap::new();
    for (name, path) in listed {
        if name == ENTRY_FILE {
            continue;
        }
        let Some(expected) = entry.files.get(&name) else {
            return Err(format!("{name} is not listed in {ENTRY_FILE}"));
        };
        let actual = hash_file(&path).map_err(|e| e.message)?;
        if &actual != expected {
            return Err(format!("{name} does not match its hash"));
        }
        found.insert(name, actual);
    }
    if let Some(missing) = entry.files.keys().find(|name| !found.contains_key(*name)) {
        return Err(format!("{missing} is missing"));
    }
    if hash_listing(&found) != entry.output {
        return Err("the output hash does not match the files".into());
    }
    Ok(Entry {
        key: entry.key,
        stage: entry.stage,
        output: entry.output,
        files: found,
        created: entry.created,
        dir: dir.to_path_buf(),
    })
}
