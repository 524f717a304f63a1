//! The content-addressed cache: publish and get, corruption, gc, the lock, staging.

mod common;

use std::collections::HashSet;
use std::fs::{self, OpenOptions, TryLockError};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::TempDir;
use plumb_runtime::{Cache, Entry, codes, hash_dir, sha256_hex, write_atomic};

const KEY: &str = "0123abcd";

/// Stages two outputs (one in a subfolder) and publishes them under `key`.
fn publish(cache: &Cache, key: &str) -> Entry {
    let staging = cache.staging("train policy").unwrap();
    fs::write(staging.path().join("metrics.jsonl"), b"{\"step\":1}\n").unwrap();
    fs::create_dir(staging.path().join("model")).unwrap();
    fs::write(staging.path().join("model/weights.bin"), [1u8, 2, 3, 4]).unwrap();
    cache.publish(staging, key, "train").unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn publish_then_get_round_trips() {
    let tmp = TempDir::new("cache-round-trip");
    let cache = Cache::open(tmp.path()).unwrap();
    assert!(tmp.path().join(".plumb/cache").is_dir() && tmp.path().join(".plumb/tmp").is_dir());
    assert_eq!(cache.get(KEY).unwrap(), None);

    let entry = publish(&cache, KEY);
    assert_eq!(entry.key, KEY);
    assert_eq!(entry.stage, "train");
    assert_eq!(entry.dir, tmp.path().join(".plumb/cache").join(KEY));
    assert_eq!(entry.files.keys().collect::<Vec<_>>(), ["metrics.jsonl", "model/weights.bin"]);
    assert_eq!(entry.files["model/weights.bin"], sha256_hex(&[1, 2, 3, 4]));
    assert_eq!(fs::read(entry.dir.join("model/weights.bin")).unwrap(), [1, 2, 3, 4]);

    let json: serde_json::Value = serde_json::from_slice(&fs::read(entry.dir.join("entry.json")).unwrap()).unwrap();
    assert_eq!(json["key"], KEY);
    assert_eq!(json["stage"], "train");
    assert_eq!(json["output"], entry.output.as_str());
    assert_eq!(json["files"]["metrics.jsonl"], entry.files["metrics.jsonl"].as_str());
    assert!(json["created"].as_u64().unwrap() > 1_600_000_000);

    assert_eq!(cache.get(KEY).unwrap(), Some(entry.clone()));
    assert!(names(&cache.tmp_dir()).is_empty(), "the staging folder was moved, not copied");

    // The output hash is the folder hash of the outputs alone.
    fs::remove_file(entry.dir.join("entry.json")).unwrap();
    assert_eq!(hash_dir(&entry.dir).unwrap(), entry.output);
}

#[test]
fn equal_outputs_have_equal_output_hashes_under_different_keys() {
    let tmp = TempDir::new("cache-output-hash");
    let cache = Cache::open(tmp.path()).unwrap();
    let a = publish(&cache, "a");
    let b = publish(&cache, "b");
    assert_eq!(a.output, b.output);
    assert_ne!(a.dir, b.dir);
}

#[test]
fn every_kind_of_corruption_is_detected_moved_aside_and_republishable() {
    type Corrupt = fn(&Path);
    let corruptions: [(&str, Corrupt); 8] = [
        ("edit a byte", |dir| fs::write(dir.join("model/weights.bin"), [1u8, 2, 3, 5]).unwrap()),
        ("truncate", |dir| OpenOptions::new().write(true).open(dir.join("metrics.jsonl")).unwrap().set_len(3).unwrap()),
        ("delete a file", |dir| fs::remove_file(dir.join("model/weights.bin")).unwrap()),
        ("add a file", |dir| fs::write(dir.join("model/extra.bin"), b"").unwrap()),
        ("delete entry.json", |dir| fs::remove_file(dir.join("entry.json")).unwrap()),
        ("unparsable entry.json", |dir| fs::write(dir.join("entry.json"), b"{\"key\": ").unwrap()),
        ("edit entry.json's output hash", |dir| {
            let text = fs::read_to_string(dir.join("entry.json")).unwrap();
            let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
            json["output"] = sha256_hex(b"other").into();
            fs::write(dir.join("entry.json"), json.to_string()).unwrap();
        }),
        ("a file where the folder was", |dir| {
            fs::remove_dir_all(dir).unwrap();
            fs::write(dir, b"").unwrap();
        }),
    ];
    for (i, (what, corrupt)) in corruptions.iter().enumerate() {
        let tmp = TempDir::new(&format!("cache-corrupt-{i}"));
        let cache = Cache::open(tmp.path()).unwrap();
        let entry = publish(&cache, KEY);
        corrupt(&entry.dir);
        assert_eq!(cache.get(KEY).unwrap(), None, "{what}");
        assert!(!entry.dir.exists(), "{what}: the corrupt entry is out of cache/");
        assert_eq!(names(&cache.tmp_dir()), [format!("corrupt-{KEY}-0")], "{what}");

        let again = publish(&cache, KEY);
        assert_eq!(again.output, entry.output, "{what}");
        assert_eq!(cache.get(KEY).unwrap(), Some(again.clone()), "{what}");

        // A second corruption of the same key is moved aside beside the first.
        corrupt(&again.dir);
        assert_eq!(cache.get(KEY).unwrap(), None, "{what}");
        assert_eq!(names(&cache.tmp_dir()), [format!("corrupt-{KEY}-0"), format!("corrupt-{KEY}-1")], "{what}");
    }
}

#[test]
fn publishing_over_an_existing_key_replaces_it() {
    let tmp = TempDir::new("cache-replace");
    let cache = Cache::open(tmp.path()).unwrap();
    publish(&cache, KEY);
    let staging = cache.staging("eval").unwrap();
    fs::write(staging.path().join("scores.json"), b"[1]").unwrap();
    let entry = cache.publish(staging, KEY, "eval").unwrap();
    assert_eq!(names(&entry.dir), ["entry.json", "scores.json"]);
    assert_eq!(cache.get(KEY).unwrap(), Some(entry));
}

#[test]
fn bad_keys_and_reserved_names_are_errors() {
    let tmp = TempDir::new("cache-bad-key");
    let cache = Cache::open(tmp.path()).unwrap();
    for key in ["", "..", "../x", "a/b", ".hidden", "a b", &"k".repeat(129)] {
        assert_eq!(cache.get(key).unwrap_err().code, codes::IO, "{key:?}");
        let staging = cache.staging("s").unwrap();
        assert_eq!(cache.publish(staging, key, "s").unwrap_err().code, codes::IO, "{key:?}");
    }
    let staging = cache.staging("s").unwrap();
    fs::write(staging.path().join("entry.json"), b"{}").unwrap();
    let error = cache.publish(staging, KEY, "s").unwrap_err();
    assert!(error.message.contains("entry.json"), "{error}");
    assert!(names(&cache.entries_dir()).is_empty());
}

#[test]
fn staging_folders_stay_out_of_the_cache_until_published() {
    let tmp = TempDir::new("cache-staging");
    let cache = Cache::open(tmp.path()).unwrap();
    let a = cache.staging("train").unwrap();
    let b = cache.staging("train").unwrap();
    assert_ne!(a.path(), b.path(), "each staging folder is fresh");
    assert!(a.path().starts_with(cache.tmp_dir()));
    fs::write(a.path().join("out.txt"), b"x").unwrap();
    fs::write(b.path().join("out.txt"), b"y").unwrap();
    assert!(names(&cache.entries_dir()).is_empty());

    let kept = a.path().to_path_buf();
    cache.publish(a, KEY, "train").unwrap();
    assert_eq!(names(&cache.entries_dir()), [KEY]);
    assert!(!kept.exists());

    // A staging folder dropped unpublished (a failed stage) is removed.
    let dropped = b.path().to_path_buf();
    drop(b);
    assert!(!dropped.exists());
    assert_eq!(names(&cache.entries_dir()), [KEY]);
}

#[test]
fn gc_keeps_exactly_the_kept_keys_and_empties_tmp() {
    let tmp = TempDir::new("cache-gc");
    let cache = Cache::open(tmp.path()).unwrap();
    for key in ["k1", "k2", "k3", "k4"] {
        publish(&cache, key);
    }
    let leftover = cache.staging("crashed").unwrap();
    fs::write(leftover.path().join("partial.bin"), [0u8; 100]).unwrap();
    std::mem::forget(leftover); // as if the process had died

    let keep: HashSet<String> = ["k2", "k4", "absent"].iter().map(|k| k.to_string()).collect();
    let report = cache.gc(&keep).unwrap();
    assert_eq!(report.removed, 2);
    let entry_bytes = fs::metadata(cache.entries_dir().join("k2/entry.json")).unwrap().len();
    assert_eq!(report.bytes, 2 * (11 + 4 + entry_bytes) + 100);
    assert_eq!(names(&cache.entries_dir()), ["k2", "k4"]);
    assert!(names(&cache.tmp_dir()).is_empty());
    assert!(cache.get("k2").unwrap().is_some() && cache.get("k4").unwrap().is_some());

    let again = cache.gc(&keep).unwrap();
    assert_eq!((again.removed, again.bytes), (0, 0));
}

#[test]
fn the_lock_excludes_a_second_holder() {
    let tmp = TempDir::new("cache-lock");
    let cache = Cache::open(tmp.path()).unwrap();
    let held = cache.lock().unwrap();

    let other = OpenOptions::new().write(true).open(cache.lock_path()).unwrap();
    let path = cache.lock_path();
    let from_thread = std::thread::spawn(move || {
        let again = OpenOptions::new().write(true).open(path).unwrap();
        matches!(again.try_lock(), Err(TryLockError::WouldBlock))
    });
    assert!(from_thread.join().unwrap(), "a second handle in another thread would block");
    assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));

    // A second `lock()` waits until the first is released.
    let (sender, receiver) = mpsc::channel();
    let waiter = {
        let cache = cache.clone();
        std::thread::spawn(move || {
            let lock = cache.lock().unwrap();
            sender.send(()).unwrap();
            drop(lock);
        })
    };
    assert!(receiver.recv_timeout(Duration::from_millis(300)).is_err(), "taken while held");
    drop(held);
    receiver.recv_timeout(Duration::from_secs(10)).expect("taken once released");
    waiter.join().unwrap();

    other.try_lock().expect("free again once every holder is gone");
}

#[test]
fn write_atomic_replaces_whole_files_and_leaves_no_temporaries() {
    let tmp = TempDir::new("write-atomic");
    let path = tmp.path().join("state.json");
    write_atomic(&path, b"first").unwrap();
    write_atomic(&path, b"second").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second");
    assert_eq!(names(tmp.path()), ["state.json"]);
    let error = write_atomic(tmp.path().join("missing/state.json"), b"x").unwrap_err();
    assert_eq!(error.code, codes::IO);
    assert!(error.message.contains("missing/state.json"), "{error}");
}
