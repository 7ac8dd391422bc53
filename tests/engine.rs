//! Single-process tests of the Rust engine API.

mod common;

use std::time::Duration;

use common::RegionName;
use plexus::{Error, OpenMode, OpenOptions, Region, Value, ValueRef};

/// A fresh region of 4 MiB, removed when the returned name drops.
fn small(tag: &str) -> (Region, RegionName) {
    common::region(tag, 4 << 20)
}

#[test]
fn every_type_round_trips_through_every_write() {
    let (r, _n) = small("types");
    let a = r.array("a", 4, 0).unwrap();
    let big = "x".repeat(100_000);
    let values = vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Int(i64::MIN),
        Value::Float(-2.5),
        Value::String(String::new()),
        Value::String("short".into()),
        Value::String("héllo wörld, longer than eight".into()),
        Value::String(big),
        Value::Bytes(vec![0, 1, 2, 255]),
        Value::Bytes(vec![7; 1000]),
        Value::from_json(r#"{"a":[1,2,{"b":null}]}"#).unwrap(),
    ];
    for v in &values {
        a.write(0, v.as_ref()).unwrap();
        assert_eq!(&a.read(0).unwrap(), v);
        a.write_ef(1, v.as_ref(), Some(Duration::ZERO)).unwrap();
        assert_eq!(&a.read_fe(1, Some(Duration::ZERO)).unwrap(), v);
        a.write_xf(2, v.as_ref()).unwrap();
        assert_eq!(&a.read_ff(2, None).unwrap(), v);
    }
    // The heap is reused: writing big strings over and over does not exhaust it.
    let used_before = r.info().unwrap().heap_used;
    for i in 0..2000 {
        a.write(0, ValueRef::String(&format!("{i:0>5000}")))
            .unwrap();
    }
    let used_after = r.info().unwrap().heap_used;
    assert!(
        used_after <= used_before + 16384,
        "heap grew from {used_before} to {used_after}"
    );
}

#[test]
fn full_empty_semantics() {
    let (r, _n) = small("fe");
    let a = r.array("a", 2, 0).unwrap();
    let zero = Some(Duration::ZERO);
    assert!(!a.is_full(0).unwrap());
    assert_eq!(a.read_fe(0, zero), Err(Error::Timeout));
    assert_eq!(
        a.read_ff(0, Some(Duration::from_millis(5))),
        Err(Error::Timeout)
    );
    a.write_ef(0, ValueRef::Int(1), zero).unwrap();
    assert!(a.is_full(0).unwrap());
    assert_eq!(a.write_ef(0, ValueRef::Int(2), zero), Err(Error::Timeout));
    assert_eq!(a.read_ff(0, zero).unwrap(), Value::Int(1));
    assert_eq!(a.read_fe(0, zero).unwrap(), Value::Int(1));
    assert!(!a.is_full(0).unwrap());
    a.write_xe(0, ValueRef::Int(3)).unwrap();
    assert!(!a.is_full(0).unwrap());
    a.set_tag(0, true).unwrap();
    assert_eq!(a.read_ff(0, zero).unwrap(), Value::Int(3));
    // read_rw blocks tag-changing writers until released.
    assert_eq!(a.read_rw(0, zero).unwrap(), Value::Int(3));
    assert_eq!(
        a.read_fe(0, Some(Duration::from_millis(10))),
        Err(Error::Timeout)
    );
    assert_eq!(a.read_ff(0, zero).unwrap(), Value::Int(3));
    a.release_rw(0).unwrap();
    assert!(matches!(a.release_rw(0), Err(Error::InvalidArgument(_))));
    assert_eq!(a.read_fe(0, zero).unwrap(), Value::Int(3));
    // Versions move on every change, and wait_change sees it.
    let mut v = a.version(1).unwrap();
    assert_eq!(a.wait_change(1, &mut v, zero), Err(Error::Timeout));
    a.write(1, ValueRef::Int(9)).unwrap();
    a.wait_change(1, &mut v, zero).unwrap();
    assert_eq!(v, a.version(1).unwrap());
    assert_eq!(
        a.read(9),
        Err(Error::OutOfRange {
            index: 9,
            length: 2
        })
    );
}

#[test]
fn faa_cas_exchange() {
    let (r, _n) = small("rmw");
    let a = r.array("a", 3, 0).unwrap();
    assert_eq!(a.faa(0, ValueRef::Int(5)).unwrap(), Value::Undefined);
    assert_eq!(a.faa(0, ValueRef::Int(5)).unwrap(), Value::Int(5));
    assert_eq!(a.faa(0, ValueRef::Float(0.5)).unwrap(), Value::Int(10));
    assert_eq!(a.read(0).unwrap(), Value::Float(10.5));
    a.write(1, ValueRef::String("stop")).unwrap();
    a.faa(1, ValueRef::Int(1)).unwrap();
    assert_eq!(a.read(1).unwrap(), Value::String("stop1".into()));
    assert_eq!(
        a.cas(2, ValueRef::Int(1), ValueRef::Int(2)).unwrap(),
        Value::Undefined
    );
    assert_eq!(a.read(2).unwrap(), Value::Undefined);
    assert_eq!(
        a.cas(
            2,
            ValueRef::Undefined,
            ValueRef::String("a long string value")
        )
        .unwrap(),
        Value::Undefined
    );
    assert_eq!(
        a.cas(2, ValueRef::String("a long string value"), ValueRef::Int(7))
            .unwrap(),
        Value::String("a long string value".into())
    );
    assert_eq!(a.exchange(2, ValueRef::Null).unwrap(), Value::Int(7));
    assert!(matches!(
        a.faa(2, ValueRef::Object(&[0x90])),
        Err(Error::TypeMismatch(_))
    ));
    assert_eq!(
        a.read(2).unwrap(),
        Value::Null,
        "a failed faa leaves the value alone"
    );
}

#[test]
fn objects_open_rules() {
    let (r, n) = small("open");
    assert!(matches!(r.array("a", 0, 0), Err(Error::NotFound(_))));
    let a = r.array("a", 3, plexus::FLAG_FULL).unwrap();
    assert!(a.is_full(2).unwrap());
    assert!(matches!(r.array("a", 4, 0), Err(Error::Incompatible(_))));
    assert!(matches!(
        r.array("a", 3, plexus::FLAG_EXCLUSIVE),
        Err(Error::Exists(_))
    ));
    assert_eq!(r.array("a", 0, 0).unwrap().len(), 3);
    assert!(matches!(r.array("", 1, 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        r.array("b", 1, 0x100),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        r.array("huge", 1 << 40, 0),
        Err(Error::NoSpace(_))
    ));
    r.wait_object("a", Some(Duration::ZERO)).unwrap();
    assert_eq!(
        r.wait_object("zz", Some(Duration::from_millis(5))),
        Err(Error::Timeout)
    );
    let info = r.info().unwrap();
    assert_eq!(info.object_count, 1);
    assert_eq!(info.attached_processes, 1);
    let r2 = common::open(&n);
    assert_eq!(r2.info().unwrap().attached_processes, 2);
    assert_eq!(r2.info().unwrap().region_id, info.region_id);
    drop(r2);
    assert_eq!(r.info().unwrap().attached_processes, 1);
    assert!(matches!(
        Region::open(
            &n,
            &OpenOptions {
                mode: OpenMode::Create,
                size: 4 << 20,
                ..Default::default()
            }
        ),
        Err(Error::Exists(_))
    ));
}

#[test]
fn lock_free_reads_never_see_torn_inline_values() {
    let (r, _n) = small("optimistic");
    let a = r.array("a", 1, plexus::FLAG_FULL).unwrap();
    a.write(0, ValueRef::Int(0)).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (a, stop) = (&a, &stop);
                s.spawn(move || {
                    let mut k = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let text = format!("s{}", k % 1_000_000);
                        match (k + w) % 3 {
                            0 => a.write_xf(0, ValueRef::Int(2 * k as i64)).unwrap(),
                            1 => a.write(0, ValueRef::String(&text)).unwrap(),
                            _ => a.write_xf(0, ValueRef::Float(k as f64 + 0.5)).unwrap(),
                        }
                        k += 1;
                    }
                })
            })
            .collect();
        // Stop the writers even if an assertion below fails (else the scope never ends).
        struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        for _ in 0..300_000 {
            let v = a.read_ff(0, Some(Duration::ZERO)).unwrap();
            match &v {
                Value::Int(i) => assert!(i % 2 == 0, "torn int {v:?}"),
                Value::String(t) => assert!(
                    t.starts_with('s') && t[1..].parse::<u64>().is_ok(),
                    "torn {v:?}"
                ),
                Value::Float(f) => assert_eq!(f.fract(), 0.5, "torn float"),
                other => panic!("unexpected {other:?}"),
            }
            assert!(matches!(
                a.read(0).unwrap(),
                Value::Int(_) | Value::String(_) | Value::Float(_)
            ));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
    });
}

/// Waiters that went to sleep (past the spin phase) are woken by every kind of change;
/// a lost wake-up would show as a 10 s timeout.
#[test]
fn sleeping_waiters_are_always_woken() {
    let (r, _n) = small("wake");
    let a = r.array("a", 2, 0).unwrap();
    let long = Some(Duration::from_secs(10));
    for round in 0..60u64 {
        // Delays around the spin budget (20-100 us) and well past it.
        let delay = Duration::from_micros([0, 15, 40, 90, 150, 400, 2000][round as usize % 7]);
        let a = &a;
        std::thread::scope(|s| {
            let readers: Vec<_> = (0..3)
                .map(|_| s.spawn(move || a.read_ff(0, long)))
                .collect();
            let mut seen = a.version(1).unwrap();
            let watcher = s.spawn(move || {
                let mut v = seen;
                a.wait_change(1, &mut v, long).map(|_| v)
            });
            std::thread::sleep(delay);
            a.write_ef(0, ValueRef::Int(round as i64), long).unwrap();
            a.write(1, ValueRef::Int(round as i64)).unwrap();
            for rd in readers {
                assert_eq!(
                    rd.join().unwrap().unwrap(),
                    Value::Int(round as i64),
                    "round {round}"
                );
            }
            seen = watcher
                .join()
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: wait_change {e}"));
            assert_eq!(seen, a.version(1).unwrap());
            // A consumer asleep on EMPTY is woken by read_fe emptying it.
            let producer = s.spawn(move || a.write_ef(0, ValueRef::Int(-1), long));
            std::thread::sleep(delay);
            assert_eq!(a.read_fe(0, long).unwrap(), Value::Int(round as i64));
            producer.join().unwrap().unwrap();
            assert_eq!(a.read_fe(0, long).unwrap(), Value::Int(-1));
        });
    }
}

/// A region larger than /dev/shm fails at creation with NoSpace (never SIGBUS later) and
/// leaves no file behind.
#[test]
fn region_larger_than_dev_shm_is_refused_at_creation() {
    let n = RegionName::new("huge");
    let opts = OpenOptions {
        size: 1 << 43,
        ..Default::default()
    }; // 8 TiB
    match Region::open(&n, &opts) {
        Err(Error::NoSpace(msg)) => assert!(msg.contains("no space"), "{msg}"),
        Err(e) => panic!("expected NoSpace, got {e}"),
        Ok(_) => panic!("an 8 TiB region was created in /dev/shm"),
    }
    let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains(n.as_str()))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Ten thousand objects in one region of the default size: every one is created, found
/// again by name (also from another attachment), counted and listed; the directory of a
/// small region still has room for 256.
#[test]
fn ten_thousand_objects_in_one_region() {
    let name = RegionName::new("many-objects");
    let r = Region::open(
        name.as_str(),
        &OpenOptions {
            mode: OpenMode::Recreate,
            ..Default::default()
        },
    )
    .unwrap();
    const N: u64 = 10_000;
    for i in 0..N {
        let a = r.array(&format!("cell-{i}"), 1, 0).unwrap();
        a.write(0, ValueRef::Int(i as i64)).unwrap();
    }
    assert_eq!(r.info().unwrap().object_count, N as u32);
    let other = Region::open(name.as_str(), &OpenOptions::default()).unwrap();
    for i in (0..N).step_by(7) {
        let a = other.array(&format!("cell-{i}"), 0, 0).unwrap();
        assert_eq!(a.read(0).unwrap(), Value::Int(i as i64));
    }
    assert!(matches!(
        other.array("cell-absent", 0, 0),
        Err(Error::NotFound(_))
    ));
    let mut cursor = 0;
    let mut listed = 0;
    while other.next_object(&mut cursor).unwrap().is_some() {
        listed += 1;
    }
    assert_eq!(listed, N);
    drop((r, other));
    Region::remove(name.as_str()).unwrap();

    // One directory entry per 4 KiB, at least 256: a 1 MiB region has 256.
    let (small, _n) = common::region("small-directory", 1 << 20);
    for i in 0..256 {
        small.mutex(&format!("m{i}")).unwrap();
    }
    assert!(matches!(small.mutex("one-more"), Err(Error::NoSpace(_))));
}
