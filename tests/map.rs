//! Tests of the engine's string-keyed maps.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::RegionName;
use plexus::{Error, Region, Value, ValueRef, FLAG_EXCLUSIVE, FLAG_FULL, MAX_KEY_LEN};

/// A fresh region of 8 MiB, removed when the returned name drops.
fn region(tag: &str) -> (Region, RegionName) {
    common::region(tag, 8 << 20)
}

const ZERO: Option<Duration> = Some(Duration::ZERO);

#[test]
fn element_operations_by_key() {
    let (r, _n) = region("ops");
    let m = r.map("m", 16, 0).unwrap();
    assert_eq!(m.capacity(), 16);
    assert_eq!(m.len().unwrap(), 0);
    m.write("a", ValueRef::Int(1)).unwrap();
    assert_eq!(m.read("a").unwrap(), Value::Int(1));
    assert!(!m.is_full("a").unwrap(), "write keeps the (EMPTY) tag");
    m.write_xf("a", ValueRef::String("a longer string value"))
        .unwrap();
    assert!(m.is_full("a").unwrap());
    assert_eq!(
        m.read_ff("a", ZERO).unwrap(),
        Value::String("a longer string value".into())
    );
    assert_eq!(
        m.read_fe("a", ZERO).unwrap(),
        Value::String("a longer string value".into())
    );
    assert!(!m.is_full("a").unwrap());
    assert_eq!(m.read_fe("a", ZERO), Err(Error::Timeout));
    m.write_ef("a", ValueRef::Int(2), ZERO).unwrap();
    assert_eq!(m.write_ef("a", ValueRef::Int(3), ZERO), Err(Error::Timeout));
    m.write_xe("b", ValueRef::Bool(true)).unwrap();
    assert!(!m.is_full("b").unwrap());
    m.set_tag("b", true).unwrap();
    assert!(m.is_full("b").unwrap());
    assert_eq!(m.faa("c", ValueRef::Int(5)).unwrap(), Value::Undefined);
    assert_eq!(m.faa("c", ValueRef::Int(5)).unwrap(), Value::Int(5));
    assert_eq!(
        m.cas("c", ValueRef::Int(10), ValueRef::Int(11)).unwrap(),
        Value::Int(10)
    );
    assert_eq!(
        m.cas("c", ValueRef::Int(10), ValueRef::Int(12)).unwrap(),
        Value::Int(11)
    );
    assert_eq!(m.exchange("d", ValueRef::Null).unwrap(), Value::Undefined);
    assert_eq!(m.read("d").unwrap(), Value::Null);
    assert_eq!(m.read_rw("b", ZERO).unwrap(), Value::Bool(true));
    // Writers and remove wait while a read_rw reader holds the key.
    let (mw, mr) = (m.clone(), m.clone());
    let writer = std::thread::spawn(move || mw.write("b", ValueRef::Int(0)));
    let remover = std::thread::spawn(move || mr.remove("b"));
    std::thread::sleep(Duration::from_millis(30));
    assert!(!writer.is_finished() && !remover.is_finished());
    m.release_rw("b").unwrap();
    writer.join().unwrap().unwrap();
    remover.join().unwrap().unwrap();
    assert_eq!(m.read_rw("b", ZERO), Err(Error::Timeout));
    m.write_xf("b", ValueRef::Bool(true)).unwrap();
    m.read_rw("b", ZERO).unwrap();
    m.release_rw("b").unwrap();
    assert!(matches!(m.release_rw("b"), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        m.release_rw("nope"),
        Err(Error::InvalidArgument(_))
    ));
    let v = m.version("c").unwrap();
    assert!(v > 0);
    let mut seen = v;
    assert_eq!(m.wait_change("c", &mut seen, ZERO), Err(Error::Timeout));
    m.faa("c", ValueRef::Int(1)).unwrap();
    m.wait_change("c", &mut seen, ZERO).unwrap();
    assert!(seen > v);
    assert_eq!(m.len().unwrap(), 4);
    let keys: BTreeSet<String> = m.keys().unwrap().into_iter().collect();
    assert_eq!(
        keys,
        ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
    );
    // The empty key is a key like any other.
    m.write("", ValueRef::Int(9)).unwrap();
    assert_eq!(m.read("").unwrap(), Value::Int(9));
    m.remove("").unwrap();
}

#[test]
fn absent_keys_read_as_empty_undefined_and_remove_resets() {
    let (r, _n) = region("absent");
    let m = r.map("m", 4, 0).unwrap();
    assert_eq!(m.read("x").unwrap(), Value::Undefined);
    assert!(!m.is_full("x").unwrap());
    assert_eq!(m.version("x").unwrap(), 0);
    assert_eq!(m.read_fe("x", ZERO), Err(Error::Timeout));
    assert_eq!(
        m.read_ff("x", Some(Duration::from_millis(5))),
        Err(Error::Timeout)
    );
    assert_eq!(m.read_rw("x", ZERO), Err(Error::Timeout));
    let mut seen = 0;
    assert_eq!(m.wait_change("x", &mut seen, ZERO), Err(Error::Timeout));
    assert!(matches!(m.remove("x"), Err(Error::NotFound(_))));
    assert_eq!(m.len().unwrap(), 0, "reads do not insert");
    m.write_xf("x", ValueRef::String("value on the heap"))
        .unwrap();
    let v1 = m.version("x").unwrap();
    m.wait_change("x", &mut seen, ZERO).unwrap();
    assert_eq!(seen, v1);
    m.remove("x").unwrap();
    assert_eq!(m.len().unwrap(), 0);
    assert_eq!(m.read("x").unwrap(), Value::Undefined);
    assert!(!m.is_full("x").unwrap());
    m.wait_change("x", &mut seen, ZERO).unwrap();
    assert_eq!(seen, 0, "a removed key has version 0");
    m.write("x", ValueRef::Int(1)).unwrap();
    assert!(
        !m.is_full("x").unwrap(),
        "a re-inserted key starts EMPTY again"
    );
    assert!(
        m.version("x").unwrap() > v1,
        "versions never repeat across re-insert"
    );
}

#[test]
fn read_fe_on_an_absent_key_blocks_until_another_thread_writes_it() {
    let (r, _n) = region("block");
    let m = r.map("m", 4, 0).unwrap();
    let m2 = m.clone();
    let reader = std::thread::spawn(move || m2.read_fe("late", None));
    let m3 = m.clone();
    let watcher = std::thread::spawn(move || {
        let mut seen = 0;
        m3.wait_change("late", &mut seen, None).map(|_| seen)
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(!reader.is_finished());
    m.write("late", ValueRef::Int(1)).unwrap(); // present but EMPTY: still blocked
    std::thread::sleep(Duration::from_millis(20));
    assert!(!reader.is_finished());
    m.write_xf("late", ValueRef::Int(42)).unwrap();
    assert_eq!(reader.join().unwrap(), Ok(Value::Int(42)));
    assert!(!m.is_full("late").unwrap());
    assert!(watcher.join().unwrap().unwrap() > 0);
    // A waiter on a present key whose key is removed then re-inserted follows the key.
    let m4 = m.clone();
    let reader = std::thread::spawn(move || m4.read_fe("late", Some(Duration::from_secs(10))));
    std::thread::sleep(Duration::from_millis(20));
    m.remove("late").unwrap();
    m.write_xf("other", ValueRef::Int(0)).unwrap();
    m.write_xf("late", ValueRef::Int(7)).unwrap();
    assert_eq!(reader.join().unwrap(), Ok(Value::Int(7)));
}

#[test]
fn full_map_refuses_new_keys_until_one_is_removed() {
    let (r, _n) = region("full");
    let m = r.map("m", 3, 0).unwrap();
    for k in ["a", "b", "c"] {
        m.write(k, ValueRef::String(k)).unwrap();
    }
    assert!(matches!(
        m.write("d", ValueRef::Int(1)),
        Err(Error::NoSpace(_))
    ));
    assert!(matches!(
        m.faa("d", ValueRef::Int(1)),
        Err(Error::NoSpace(_))
    ));
    m.write("a", ValueRef::Int(2)).unwrap(); // existing keys still writable
    m.remove("b").unwrap();
    assert_eq!(m.len().unwrap(), 2);
    m.write("d", ValueRef::Int(1)).unwrap();
    assert_eq!(m.len().unwrap(), 3);
    // Churn: many inserts and removals reuse slots and heap.
    let used = r.info().unwrap().heap_used;
    for i in 0..5000 {
        let k = format!("churn-{i}-{}", "k".repeat(i % 200));
        m.remove("d").unwrap();
        m.write_xf(&k, ValueRef::String(&k)).unwrap();
        assert_eq!(m.read_fe(&k, ZERO).unwrap(), Value::String(k.clone()));
        m.remove(&k).unwrap();
        m.write("d", ValueRef::Int(i as i64)).unwrap();
    }
    assert!(r.info().unwrap().heap_used <= used + 64 * 1024);
    let mut keys = m.keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["a", "c", "d"]);
}

#[test]
fn long_keys_up_to_the_limit() {
    let (r, _n) = region("long");
    let m = r.map("m", 8, 0).unwrap();
    let k1 = "é".repeat(512); // 1 KiB
    let k2 = "x".repeat(MAX_KEY_LEN);
    let k3 = "x".repeat(MAX_KEY_LEN - 1) + "y";
    m.write(&k1, ValueRef::Int(1)).unwrap();
    m.write(&k2, ValueRef::Int(2)).unwrap();
    m.write(&k3, ValueRef::Int(3)).unwrap();
    assert_eq!(m.read(&k1).unwrap(), Value::Int(1));
    assert_eq!(m.read(&k2).unwrap(), Value::Int(2));
    assert_eq!(m.read(&k3).unwrap(), Value::Int(3));
    let too_long = "x".repeat(MAX_KEY_LEN + 1);
    assert!(matches!(
        m.write(&too_long, ValueRef::Int(1)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(m.read(&too_long), Err(Error::InvalidArgument(_))));
    let keys: BTreeSet<String> = m.keys().unwrap().into_iter().collect();
    assert_eq!(keys, [k1, k2, k3].into_iter().collect());
}

#[test]
fn open_rules_kind_capacity_flags() {
    let (r, _n) = region("open");
    r.array("arr", 4, 0).unwrap();
    assert!(matches!(r.map("arr", 4, 0), Err(Error::TypeMismatch(_))));
    let m = r.map("m", 8, FLAG_FULL).unwrap();
    assert!(matches!(r.array("m", 8, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.map("m", 9, 0), Err(Error::Incompatible(_))));
    assert!(matches!(
        r.map("m", 8, FLAG_EXCLUSIVE),
        Err(Error::Exists(_))
    ));
    assert!(matches!(r.map("missing", 0, 0), Err(Error::NotFound(_))));
    assert!(matches!(r.map("m", 8, 64), Err(Error::InvalidArgument(_))));
    // PLEXUS_FULL is the creator's choice: keys inserted through any opener start FULL.
    let again = r.map("m", 0, 0).unwrap();
    assert_eq!(again.capacity(), 8);
    again.faa("n", ValueRef::Int(1)).unwrap();
    assert!(m.is_full("n").unwrap());
    assert_eq!(m.read_fe("n", ZERO).unwrap(), Value::Int(1));
    assert!(matches!(r.map("huge", 1 << 40, 0), Err(Error::NoSpace(_))));
}

#[test]
fn iteration_sees_stable_keys_exactly_once_while_others_churn() {
    let (r, _n) = region("iter");
    let m = r.map("m", 512, 0).unwrap();
    let stable: BTreeSet<String> = (0..200).map(|i| format!("stable-{i}")).collect();
    for k in &stable {
        m.write(k, ValueRef::Int(1)).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churners: Vec<_> = (0..2)
        .map(|t| {
            let (m, stop) = (m.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = format!("churn-{t}-{}", i % 150);
                    if i % 300 < 150 {
                        m.write(&k, ValueRef::Int(i as i64)).unwrap();
                    } else {
                        m.remove(&k).unwrap();
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..200 {
        let mut cursor = 0;
        let mut seen = Vec::new();
        while let Some(k) = m.next_key(&mut cursor).unwrap() {
            if k.starts_with("stable-") {
                seen.push(k);
            }
        }
        let set: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(set.len(), seen.len(), "a key was seen twice");
        assert_eq!(set, stable);
    }
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.join().unwrap();
    }
}

#[test]
fn concurrent_faa_on_shared_and_fresh_keys() {
    let (r, _n) = region("faa");
    let m = r.map("m", 64, 0).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..2048 {
                    m.faa(&format!("k{}", i % 32), ValueRef::Int(1)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(m.len().unwrap(), 32);
    for i in 0..32 {
        assert_eq!(m.read(&format!("k{i}")).unwrap(), Value::Int(4 * 2048 / 32));
    }
}

#[test]
fn racing_inserts_removes_and_waits_on_the_same_keys_stay_consistent() {
    let (r, _n) = region("race");
    let m = r.map("m", 8, 0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..3 {
        let (m, stop) = (m.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let k = format!("k{}", i % 4);
                match (i + t) % 5 {
                    0 => drop(m.faa(&k, ValueRef::Int(1)).unwrap()),
                    1 => match m.remove(&k) {
                        Ok(()) | Err(Error::NotFound(_)) => {}
                        Err(e) => panic!("remove: {e}"),
                    },
                    2 => m
                        .write_xf(&k, ValueRef::String("a heap-held string"))
                        .unwrap(),
                    3 => match m.read_fe(&k, Some(Duration::from_micros(200))) {
                        Ok(_) | Err(Error::Timeout) => {}
                        Err(e) => panic!("read_fe: {e}"),
                    },
                    _ => drop(m.read(&k).unwrap()),
                }
                i += 1;
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let keys = m.keys().unwrap();
    assert_eq!(keys.len() as u64, m.len().unwrap());
    assert!(keys.len() <= 4);
    for k in keys {
        assert!(m.version(&k).unwrap() > 0);
        m.remove(&k).unwrap();
    }
    assert_eq!(m.len().unwrap(), 0);
}

#[test]
fn keys_up_to_32_bytes_live_in_the_slot_longer_ones_in_the_heap() {
    let (r, _n) = region("inline");
    let m = r.map("m", 16, 0).unwrap();
    let used = || r.info().unwrap().heap_used;
    let before = used();
    let k32 = "k".repeat(32);
    let k31 = "k".repeat(31);
    m.write(&k32, ValueRef::Int(32)).unwrap();
    m.write(&k31, ValueRef::Int(31)).unwrap();
    m.write("é", ValueRef::Int(2)).unwrap();
    assert_eq!(used(), before, "short keys and inline values take no heap");
    let k33 = "k".repeat(33);
    m.write(&k33, ValueRef::Int(33)).unwrap();
    assert!(used() > before);
    for (k, v) in [(&k31, 31), (&k32, 32), (&k33, 33)] {
        assert_eq!(m.read(k).unwrap(), Value::Int(v));
    }
    assert_eq!(m.read(&"k".repeat(30)).unwrap(), Value::Undefined);
    m.remove(&k33).unwrap();
    // The slot's key block is freed; the map's removal log keeps a copy of the removed
    // long key (for change listings) until later removals take its entry (16 of them
    // for this capacity), and then frees it.
    for i in 0..16 {
        let k = format!("s{i}");
        m.write(&k, ValueRef::Int(i)).unwrap();
        m.remove(&k).unwrap();
    }
    assert_eq!(used(), before, "removing frees the key's block");
    let mut keys = m.keys().unwrap();
    keys.sort();
    assert_eq!(keys, [k31, k32, "é".to_string()]);
}
