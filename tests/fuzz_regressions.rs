//! Replays the fuzz corpus on stable Rust: the seeds of `fuzz/seeds/` and every crasher
//! the fuzzer found (`tests/fuzz-crashers/`), through the very function the fuzz targets
//! call (`tests/fuzz_harness/mod.rs`). See README.md, "Fuzzing".
//!
//! `cargo test --test fuzz_regressions -- --ignored write_seeds` regenerates the seeds.

mod common;
mod fuzz_harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{root, RegionName};
use plexus::{OpenMode, OpenOptions, Region, Start, Value, ValueRef, FLAG_FULL, FLAG_LIFO};

/// Files of `dir`, sorted (an absent directory has none).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file());
    v.sort();
    v
}

/// Runs `f` and aborts the whole test process if it takes longer than `limit`: a hang
/// is a finding too, and must not leave `cargo test` waiting forever.
fn with_watchdog(what: &str, limit: Duration, f: impl FnOnce()) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let label = what.to_owned();
    let dog = std::thread::spawn(move || {
        if rx.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            // Straight to stderr: the test harness's capture would lose it at abort.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "HANG: {label} did not finish within {limit:?}"
            );
            std::process::abort();
        }
    });
    f();
    let _ = tx.send(());
    let _ = dog.join();
}

const SEED_PAGES: u64 = 61; // the smallest region: 180 KiB of metadata + 64 KiB of heap

/// Builds the seed regions in memory: (file name, region file bytes).
fn seed_regions() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for which in ["empty", "every-kind", "churned"] {
        let name = RegionName::new(which);
        let opts = OpenOptions {
            mode: OpenMode::Create,
            size: SEED_PAGES * 4096,
            ..Default::default()
        };
        let region = Region::open(&name, &opts).expect("create a seed region");
        match which {
            "empty" => {}
            "every-kind" => fill_every_kind(&region),
            _ => churn(&region),
        }
        let path = region.path().to_owned();
        drop(region);
        let bytes = std::fs::read(&path).expect("read the seed region");
        Region::remove(&name).expect("remove the seed region");
        out.push((which, bytes));
    }
    out
}

fn every_value() -> Vec<Value> {
    vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Int(i64::MIN),
        Value::Float(-0.125),
        Value::String("short".into()),
        Value::String("a string that is too long for a slot, so it lives in the heap".into()),
        Value::Bytes(vec![0, 1, 2, 3]),
        Value::Bytes((0..=255).collect()),
        Value::from_json(r#"{"list":[1,-2,3.5,"x",null,true],"nested":{"deep":[[]]}}"#)
            .expect("valid JSON"),
    ]
}

fn fill_every_kind(r: &Region) {
    let values = every_value();
    let a = r.array("array", values.len() as u64 + 2, 0).unwrap();
    for (i, v) in values.iter().enumerate() {
        if i % 2 == 0 {
            a.write_xf(i as u64, v.as_ref()).unwrap();
        } else {
            a.write(i as u64, v.as_ref()).unwrap();
        }
    }
    r.array("full-array", 3, FLAG_FULL).unwrap();
    let m = r.map("map", 16, 0).unwrap();
    for (i, v) in values.iter().enumerate() {
        m.write_xf(&format!("key-{i}"), v.as_ref()).unwrap();
    }
    m.remove("key-3").unwrap();
    let q = r.queue("queue", 8, 0).unwrap();
    for v in &values[..6] {
        q.push(v.as_ref(), None).unwrap();
    }
    q.pop(None).unwrap();
    let s = r.queue("stack", 8, FLAG_LIFO).unwrap();
    for v in &values[5..] {
        s.push(v.as_ref(), None).unwrap();
    }
    let closed = r.queue("closed-queue", 2, 0).unwrap();
    closed.push(ValueRef::Int(1), None).unwrap();
    closed.shutdown().unwrap();
    let b = r.bus("bus", 4, 0).unwrap();
    let _sub = b.subscribe(Start::Oldest).unwrap();
    for v in &values {
        b.publish(v.as_ref()).unwrap();
    }
    b.publish(ValueRef::String(&"m".repeat(200))).unwrap();
    r.mutex("mutex").unwrap();
    // Left locked by an attachment that then went away.
    r.mutex("held-mutex").unwrap().lock(None).unwrap();
    r.barrier("barrier", 3).unwrap();
    let sem = r.semaphore("semaphore", 3).unwrap();
    sem.acquire(None).unwrap();
}

/// Many writes and removals: the allocator's free lists are populated.
fn churn(r: &Region) {
    let m = r.map("churn", 32, 0).unwrap();
    let a = r.array("cells", 8, 0).unwrap();
    for i in 0..200u64 {
        let s = "z".repeat((i as usize * 37) % 300);
        m.write(&format!("k{}", i % 40), ValueRef::String(&s))
            .unwrap_or(());
        a.write(i % 8, ValueRef::Bytes(s.as_bytes())).unwrap();
        if i % 3 == 0 {
            let _ = m.remove(&format!("k{}", (i + 7) % 40));
        }
    }
}

/// `input` plus late chunks, written while the objects are open: the first object's
/// header, the allocator's bump pointer and a stretch of values get overwritten.
fn scribbled(mut input: Vec<u8>) -> Vec<u8> {
    let heap = 167_936u32; // the heap offset of every region of format version 1
    let mut chunk = |off: u32, bytes: &[u8]| {
        input.extend_from_slice(&off.to_le_bytes());
        input.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        input.extend_from_slice(bytes);
    };
    chunk(fuzz_harness::LATE_MARK, &[]);
    chunk(heap, &[0xff; 64]);
    chunk(128 + 16, &[0xee; 8]);
    chunk(heap + 4096, &[0x41; 512]);
    input
}

/// MessagePack and JSON inputs of the `values` target.
fn seed_values() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, v) in every_value().iter().enumerate() {
        let json = v
            .as_ref()
            .to_json()
            .expect("every seed value renders as JSON");
        out.push((format!("json-{i}"), json.into_bytes()));
    }
    let obj = Value::from_json(r#"{"a":[1,2,{"b":null}],"c":"d","e":1.5,"f":-3}"#).unwrap();
    if let Value::Object(b) = obj {
        out.push(("msgpack-object".into(), b));
    }
    out
}

#[test]
#[ignore = "writes fuzz/seeds/; run with -- --ignored write_seeds"]
fn write_seeds() {
    let dir = root().join("fuzz/seeds/region");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seed_regions() {
        let input = fuzz_harness::encode(&bytes);
        std::fs::write(dir.join(name), &input).unwrap();
        if name == "every-kind" {
            std::fs::write(dir.join("every-kind-scribbled"), scribbled(input)).unwrap();
        }
    }
    let dir = root().join("fuzz/seeds/values");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seed_values() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// The seed encoding is lossless, and a freshly generated seed opens as a valid region
/// holding every kind of object (so the seeds exercise more than the header checks).
#[test]
fn seeds_encode_losslessly_and_open() {
    for (which, bytes) in seed_regions() {
        let image = fuzz_harness::image(&fuzz_harness::encode(&bytes));
        assert_eq!(image.len(), bytes.len(), "{which}");
        assert!(
            image == bytes,
            "{which}: image differs from the region file"
        );
        let name = RegionName::new("open");
        let path = name.path();
        std::fs::write(&path, &image).unwrap();
        let opts = OpenOptions {
            mode: OpenMode::Open,
            ..Default::default()
        };
        let region = Region::open(&name, &opts).unwrap_or_else(|e| panic!("{which}: {e}"));
        let objects = region.info().unwrap().object_count;
        let want = match which {
            "empty" => 0,
            "every-kind" => 11,
            _ => 2,
        };
        assert_eq!(objects, want, "{which}");
        drop(region);
        Region::remove(&name).unwrap();
    }
}

/// The committed seeds still open as valid regions: a layout change that makes them
/// stale shows up here (regenerate them with write_seeds).
#[test]
fn committed_seeds_are_valid_regions() {
    let seeds = files(&root().join("fuzz/seeds/region"));
    assert!(
        seeds.len() >= 3,
        "fuzz/seeds/region holds {} seeds",
        seeds.len()
    );
    for seed in seeds {
        let name = RegionName::new("committed");
        let path = name.path();
        std::fs::write(&path, fuzz_harness::image(&std::fs::read(&seed).unwrap())).unwrap();
        let opts = OpenOptions {
            mode: OpenMode::Open,
            ..Default::default()
        };
        let r = Region::open(&name, &opts);
        let _ = std::fs::remove_file(&path);
        r.unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
    }
}

/// Every seed and every crasher goes through the fuzz target's body.
#[test]
fn replay_region_corpus() {
    let seeds = files(&root().join("fuzz/seeds/region"));
    let crashers = files(&root().join("tests/fuzz-crashers/region"));
    assert!(!seeds.is_empty());
    let inputs = seeds.into_iter().map(|s| (true, s));
    for (seed, input) in inputs.chain(crashers.into_iter().map(|c| (false, c))) {
        let data = std::fs::read(&input).unwrap();
        let what = input.display().to_string();
        eprintln!("replaying {what}");
        let mut ok = 0;
        with_watchdog(&what, Duration::from_secs(120), || {
            ok = fuzz_harness::run(&data, &RegionName::new("replay"))
        });
        eprintln!("  {ok} operations succeeded");
        if seed {
            // A seed is a valid region: most operations on it succeed.
            assert!(ok > 100, "{what}: only {ok} operations succeeded");
        }
    }
}

#[test]
fn replay_values_corpus() {
    let mut inputs = files(&root().join("fuzz/seeds/values"));
    inputs.extend(files(&root().join("tests/fuzz-crashers/values")));
    assert!(!inputs.is_empty());
    for input in inputs {
        let what = input.display().to_string();
        eprintln!("replaying {what}");
        let data = std::fs::read(&input).unwrap();
        with_watchdog(&what, Duration::from_secs(60), || {
            fuzz_harness::run_values(&data)
        });
    }
}

/// A region whose allocator and directory locks name the token the next attachment
/// would get if tokens followed from the file (slot 0, the entry's generation): with
/// predictable tokens, the opener would find "its own" lock held and wait for itself
/// forever. Tokens are unpredictable, so it sees a dead owner and takes the locks over.
#[test]
fn lock_words_naming_the_next_token_do_not_hang() {
    let (_, mut file) = seed_regions()
        .into_iter()
        .find(|(n, _)| *n == "every-kind")
        .unwrap();
    // Process table entry 0: word = generation << 32 | pid (0: free).
    let word = u64::from_ne_bytes(file[4096..4104].try_into().unwrap());
    assert_eq!(word as u32, 0, "entry 0 is free after the creator closed");
    let token = ((word >> 32) as u32 & ((1 << 20) - 1)) << 10 | 1;
    for at in [128, 132] {
        // alloc_lock, dir_lock
        file[at..at + 4].copy_from_slice(&token.to_ne_bytes());
    }
    let input = fuzz_harness::encode(&file);
    let mut ok = 0;
    with_watchdog("own-token lock words", Duration::from_secs(60), || {
        ok = fuzz_harness::run(&input, &RegionName::new("own-token"))
    });
    assert!(ok > 100, "only {ok} operations succeeded");
}
