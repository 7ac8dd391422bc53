//! Tests of the engine's queues (FIFO) and stacks (LIFO), including processes killed in
//! the middle of a push.
//!
//! The kill tests re-run this test binary as a child process (roles `stall` and
//! `stream`), which pushes with the test pause hook on, and SIGKILL it inside the pause.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{play_role, role_command, say_ready, spawn_ready, Kid, READY};
use common::{RegionName, XorShift};
use plexus::{Error, Region, Value, ValueRef, FLAG_EXCLUSIVE, FLAG_LIFO};

fn region(tag: &str) -> (Region, RegionName) {
    common::region(tag, 16 << 20)
}

const ZERO: Option<Duration> = Some(Duration::ZERO);
const LONG: Option<Duration> = Some(Duration::from_secs(30));

fn sample_values() -> Vec<Value> {
    vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Int(-42),
        Value::Float(2.5),
        Value::String(String::new()),
        Value::String("short".into()),
        Value::String("x".repeat(200_000)),
        Value::Bytes(vec![1, 2, 3]),
        Value::Bytes(vec![9; 5000]),
        Value::from_json(r#"{"k":[1,2,{"n":null}],"s":"text"}"#).unwrap(),
    ]
}

#[test]
fn fifo_keeps_order_and_every_type() {
    let (r, _n) = region("fifo");
    let q = r.queue("q", 16, 0).unwrap();
    assert_eq!(
        (q.capacity(), q.len().unwrap(), q.is_lifo()),
        (16, 0, false)
    );
    let values = sample_values();
    // Several laps around the ring.
    for _ in 0..5 {
        for v in &values {
            q.push(v.as_ref(), ZERO).unwrap();
        }
        assert_eq!(q.len().unwrap(), values.len() as u64);
        for v in &values {
            assert_eq!(&q.pop(ZERO).unwrap(), v);
        }
        assert_eq!(q.len().unwrap(), 0);
    }
    assert_eq!(q.pop(ZERO), Err(Error::Timeout));
}

#[test]
fn lifo_pops_newest_first() {
    let (r, _n) = region("lifo");
    let s = r.queue("s", 16, FLAG_LIFO).unwrap();
    assert!(s.is_lifo());
    let values = sample_values();
    for v in &values {
        s.push(v.as_ref(), ZERO).unwrap();
    }
    assert_eq!(s.len().unwrap(), values.len() as u64);
    for v in values.iter().rev() {
        assert_eq!(&s.pop(ZERO).unwrap(), v);
    }
    assert_eq!(s.pop(ZERO), Err(Error::Timeout));
}

#[test]
fn full_and_empty_wait_with_timeouts() {
    let (r, _n) = region("timeouts");
    for flags in [0, FLAG_LIFO] {
        let q = r.queue(&format!("q{flags}"), 3, flags).unwrap();
        assert_eq!(q.pop(ZERO), Err(Error::Timeout));
        let t = Instant::now();
        assert_eq!(q.pop(Some(Duration::from_millis(50))), Err(Error::Timeout));
        assert!(t.elapsed() >= Duration::from_millis(50));
        for i in 0..3 {
            q.push(ValueRef::Int(i), ZERO).unwrap();
        }
        assert_eq!(q.push(ValueRef::Int(3), ZERO), Err(Error::Timeout));
        let t = Instant::now();
        assert_eq!(
            q.push(
                ValueRef::String("a value that goes to the heap"),
                Some(Duration::from_millis(50))
            ),
            Err(Error::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert_eq!(q.len().unwrap(), 3);
        // A blocked push completes as soon as a pop makes room.
        std::thread::scope(|s| {
            let pusher = s.spawn(|| q.push(ValueRef::Int(99), LONG));
            std::thread::sleep(Duration::from_millis(30));
            q.pop(ZERO).unwrap();
            pusher.join().unwrap().unwrap();
        });
        assert_eq!(q.len().unwrap(), 3);
        // A blocked pop completes as soon as a push arrives.
        while q.pop(ZERO).is_ok() {}
        std::thread::scope(|s| {
            let popper = s.spawn(|| q.pop(LONG));
            std::thread::sleep(Duration::from_millis(30));
            q.push(ValueRef::Int(7), ZERO).unwrap();
            assert_eq!(popper.join().unwrap(), Ok(Value::Int(7)));
        });
    }
}

#[test]
fn close_drains_then_reports_closed_and_wakes_everyone() {
    let (r, _n) = region("close");
    for flags in [0, FLAG_LIFO] {
        // Sleeping poppers on an empty queue wake with CLOSED.
        let q = r.queue(&format!("empty{flags}"), 4, flags).unwrap();
        std::thread::scope(|s| {
            let poppers: Vec<_> = (0..3).map(|_| s.spawn(|| q.pop(LONG))).collect();
            std::thread::sleep(Duration::from_millis(200)); // past the spin: asleep
            let t = Instant::now();
            q.shutdown().unwrap();
            for p in poppers {
                assert_eq!(p.join().unwrap(), Err(Error::Closed));
            }
            assert!(t.elapsed() < Duration::from_secs(5));
        });
        // Sleeping pushers on a full queue wake with CLOSED; what was in it drains.
        let q = r.queue(&format!("full{flags}"), 2, flags).unwrap();
        q.push(ValueRef::Int(1), ZERO).unwrap();
        q.push(ValueRef::String("second value, on the heap"), ZERO)
            .unwrap();
        std::thread::scope(|s| {
            let pushers: Vec<_> = (0..3)
                .map(|i| {
                    let q = &q;
                    s.spawn(move || q.push(ValueRef::Int(10 + i), LONG))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(200));
            q.shutdown().unwrap();
            for p in pushers {
                assert_eq!(p.join().unwrap(), Err(Error::Closed));
            }
        });
        assert!(q.is_shutdown().unwrap());
        assert_eq!(q.push(ValueRef::Int(5), ZERO), Err(Error::Closed));
        let mut left = vec![q.pop(ZERO).unwrap(), q.pop(ZERO).unwrap()];
        if flags == FLAG_LIFO {
            left.reverse();
        }
        assert_eq!(
            left,
            vec![
                Value::Int(1),
                Value::String("second value, on the heap".into())
            ]
        );
        assert_eq!(q.pop(ZERO), Err(Error::Closed));
        assert_eq!(q.pop(LONG), Err(Error::Closed));
        q.shutdown().unwrap(); // twice is fine
                               // Another opener sees it closed too.
        let again = r.queue(&format!("full{flags}"), 0, 0).unwrap();
        assert!(again.is_shutdown().unwrap());
    }
}

#[test]
fn open_rules() {
    let (r, _n) = region("open");
    r.queue("q", 8, 0).unwrap();
    r.queue("s", 8, FLAG_LIFO).unwrap();
    r.array("a", 2, 0).unwrap();
    assert!(matches!(r.queue("a", 2, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.array("q", 8, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.map("q", 8, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.queue("q", 9, 0), Err(Error::Incompatible(_))));
    assert!(matches!(
        r.queue("q", 8, FLAG_LIFO),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(
        r.queue("q", 0, FLAG_LIFO),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(r.queue("s", 8, 0), Err(Error::Incompatible(_))));
    assert!(
        r.queue("s", 0, 0).unwrap().is_lifo(),
        "capacity 0 opens either kind"
    );
    assert_eq!(r.queue("q", 0, 0).unwrap().capacity(), 8);
    assert!(matches!(
        r.queue("q", 8, FLAG_EXCLUSIVE),
        Err(Error::Exists(_))
    ));
    assert!(matches!(r.queue("nope", 0, 0), Err(Error::NotFound(_))));
    assert!(matches!(
        r.queue("x", 8, 64),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        r.queue("huge", 1 << 40, 0),
        Err(Error::NoSpace(_))
    ));
    r.queue("new", 4, FLAG_EXCLUSIVE).unwrap();
}

#[test]
fn values_are_checked_before_anything_is_stored() {
    let (r, _n) = region("badvalue");
    let q = r.queue("q", 4, 0).unwrap();
    // Not valid MessagePack: refused, and the queue is unchanged.
    assert!(matches!(
        q.push(ValueRef::Object(&[0xc1]), ZERO),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(q.len().unwrap(), 0);
    q.push(ValueRef::Int(1), ZERO).unwrap();
    assert_eq!(q.pop(ZERO).unwrap(), Value::Int(1));
}

#[test]
fn heap_blocks_are_given_back() {
    let (r, _n) = region("heap");
    for flags in [0, FLAG_LIFO] {
        let q = r.queue(&format!("q{flags}"), 64, flags).unwrap();
        let big = "y".repeat(10_000);
        let before = r.info().unwrap().heap_used;
        for round in 0..200 {
            for i in 0..50 {
                q.push(ValueRef::String(&format!("{round}-{i}-{big}")), ZERO)
                    .unwrap();
            }
            while q.pop(ZERO).is_ok() {}
        }
        let after = r.info().unwrap().heap_used;
        assert!(
            after <= before + 64 * 1024,
            "heap grew from {before} to {after}"
        );
    }
}

/// Producers and consumers on threads: every value comes out exactly once, and each
/// producer's values come out of a FIFO in the order they went in.
#[test]
fn mpmc_threads_deliver_exactly_once() {
    let (r, _n) = region("mpmc");
    for flags in [0, FLAG_LIFO] {
        let q = r.queue(&format!("q{flags}"), 64, flags).unwrap();
        const PRODUCERS: i64 = 4;
        const PER: i64 = 20_000;
        let seen: Vec<Vec<i64>> = std::thread::scope(|s| {
            for p in 0..PRODUCERS {
                let q = q.clone();
                s.spawn(move || {
                    for i in 0..PER {
                        q.push(ValueRef::Int(p * PER + i), LONG).unwrap();
                    }
                });
            }
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let q = q.clone();
                    s.spawn(move || {
                        let mut got = Vec::new();
                        loop {
                            match q.pop(Some(Duration::from_millis(500))) {
                                Ok(Value::Int(v)) => got.push(v),
                                Err(Error::Timeout) => return got,
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    })
                })
                .collect();
            consumers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        let mut all: Vec<i64> = seen.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..PRODUCERS * PER).collect::<Vec<_>>());
        if flags == 0 {
            for got in &seen {
                for p in 0..PRODUCERS {
                    let mine: Vec<_> = got.iter().filter(|&&v| v / PER == p).collect();
                    assert!(
                        mine.windows(2).all(|w| w[0] < w[1]),
                        "FIFO order per producer"
                    );
                }
            }
        }
    }
}

// ---- processes killed in the middle of a push ----

/// Child roles: push `count` values from `start` with a pause after each claim (FIFO) or
/// inside the lock (LIFO), saying ready before the first pause.
fn child_main(role: &str, region: &str) {
    let flags: u32 = std::env::var("PLEXUS_QUEUE_FLAGS")
        .unwrap()
        .parse()
        .unwrap();
    let r = common::open(region);
    let q = r.queue("q", 0, flags).unwrap();
    match role {
        "stall" => {
            // One push that stalls (forever, for the test) after claiming its slot.
            plexus::test_pause_in_push(Duration::from_secs(3600));
            say_ready();
            q.push(ValueRef::String("never delivered: its producer died"), LONG)
                .unwrap();
        }
        "stream" => {
            // Pushes 0, 1, 2, ... and records the last one that completed.
            let done = r.array("done", 1, 0).unwrap();
            plexus::test_pause_in_push(Duration::from_micros(50));
            say_ready();
            let start: i64 = std::env::var("PLEXUS_QUEUE_START")
                .unwrap()
                .parse()
                .unwrap();
            for i in start.. {
                let s = format!("value {i:012} {}", "z".repeat((i % 7) as usize * 5));
                q.push(ValueRef::String(&s), LONG).unwrap();
                done.write(0, ValueRef::Int(i)).unwrap();
            }
        }
        "stall-batch" => {
            // One batch push that stalls (forever) after claiming its slots.
            plexus::test_pause_in_push(Duration::from_secs(3600));
            say_ready();
            let v = ValueRef::String("never delivered: its producer died");
            let (n, got) = q.push_many(&[v, v, v], LONG);
            panic!("push_many returned {n}, {got:?} in a process meant to be killed");
        }
        "stream-batch" => {
            // Pushes batches of 1 to 8 values 0, 1, 2, ... and records the last value of
            // the last batch that completed.
            let done = r.array("done", 1, 0).unwrap();
            plexus::test_pause_in_push(Duration::from_micros(50));
            say_ready();
            let mut i: i64 = std::env::var("PLEXUS_QUEUE_START")
                .unwrap()
                .parse()
                .unwrap();
            let mut rng = XorShift::new(i as u64 + 1);
            loop {
                let len = 1 + rng.below(8) as i64;
                let texts: Vec<String> = (i..i + len)
                    .map(|k| format!("value {k:012} {}", "z".repeat((k % 7) as usize * 5)))
                    .collect();
                let vals: Vec<ValueRef<'_>> = texts.iter().map(|t| ValueRef::String(t)).collect();
                assert_eq!(q.push_many(&vals, LONG), (vals.len(), Ok(())));
                i += len;
                done.write(0, ValueRef::Int(i - 1)).unwrap();
            }
        }
        "drain-batch" => {
            // One pop_many that stalls (forever) after taking its first value (FIFO), or
            // before its commit (stack).
            plexus::test_pause_in_push(Duration::from_secs(3600));
            say_ready();
            let got = q.pop_many(10, LONG);
            panic!("pop_many returned {got:?} in a process meant to be killed");
        }
        "blocked-big-push" => {
            // A push of a value that needs a heap block, into a full queue: blocks.
            let big = "b".repeat(4000);
            say_ready();
            let got = q.push(ValueRef::String(&big), None);
            panic!("push returned {got:?} in a process meant to be killed waiting");
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn_child(role: &str, region: &str, flags: u32, start: i64) -> Kid {
    spawn_ready(
        role_command(role, region)
            .env("PLEXUS_QUEUE_FLAGS", flags.to_string())
            .env("PLEXUS_QUEUE_START", start.to_string()),
        READY,
    )
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    play_role(child_main);
}

#[test]
fn a_producer_killed_after_claiming_does_not_wedge_anyone() {
    for flags in [0, FLAG_LIFO] {
        let (r, n) = region(&format!("stall{flags}"));
        let q = r.queue("q", 2, flags).unwrap();
        while q.pop(ZERO).is_ok() {}
        q.push(ValueRef::Int(1), ZERO).unwrap();
        let child = spawn_child("stall", &n, flags, 0);
        // Wait until the child is inside its push (FIFO: slot claimed; LIFO: lock held).
        std::thread::sleep(Duration::from_millis(300));
        if flags == 0 {
            // The child's claim counts: the queue of 2 is full.
            assert_eq!(q.len().unwrap(), 2);
        }
        let t = Instant::now();
        child.sigkill();
        // The value pushed before is still delivered, the dead push is not, and the queue
        // works on: a push fills the room the dead one took.
        assert_eq!(q.pop(LONG).unwrap(), Value::Int(1));
        assert_eq!(q.pop(Some(Duration::from_millis(300))), Err(Error::Timeout));
        q.push(ValueRef::Int(2), LONG).unwrap();
        q.push(ValueRef::Int(3), LONG).unwrap();
        let mut rest = vec![q.pop(ZERO).unwrap(), q.pop(ZERO).unwrap()];
        rest.sort_by_key(|v| format!("{v:?}"));
        assert_eq!(rest, vec![Value::Int(2), Value::Int(3)]);
        assert!(t.elapsed() < Duration::from_secs(10));
    }
    assert!(plexus::recovered_locks() >= 2);
}

/// Producers killed while blocked on a full queue, with values that need heap blocks,
/// leak nothing: a blocked push holds no block.
#[test]
fn producers_killed_while_blocked_on_a_full_queue_leak_nothing() {
    for flags in [0, FLAG_LIFO] {
        let (r, n) = region(&format!("blocked{flags}"));
        let q = r.queue("q", 1, flags).unwrap();
        while q.pop(ZERO).is_ok() {}
        q.push(ValueRef::Int(1), ZERO).unwrap();
        let before = r.info().unwrap().heap_used;
        for _ in 0..3 {
            let child = spawn_child("blocked-big-push", &n, flags, 0);
            std::thread::sleep(Duration::from_millis(200));
            child.sigkill();
        }
        assert_eq!(r.info().unwrap().heap_used, before, "blocked pushes leaked");
        // The queue works on, with a big value too.
        assert_eq!(q.pop(ZERO).unwrap(), Value::Int(1));
        let big = "c".repeat(4000);
        q.push(ValueRef::String(&big), ZERO).unwrap();
        assert_eq!(q.pop(ZERO).unwrap(), Value::String(big));
    }
}

#[test]
fn a_producer_stalled_after_claiming_blocks_a_full_queue_until_it_dies() {
    // The other side of the ring: a producer a lap later waits behind the dead claim.
    let (r, n) = region("stall-lap");
    let q = r.queue("q", 1, 0).unwrap();
    let child = spawn_child("stall", &n, 0, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        q.push(ValueRef::Int(5), Some(Duration::from_millis(100))),
        Err(Error::Timeout)
    );
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let d = done.clone();
        let q2 = q.clone();
        let pusher = s.spawn(move || {
            let r = q2.push(ValueRef::Int(6), LONG);
            d.store(true, Ordering::SeqCst);
            r
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !done.load(Ordering::SeqCst),
            "must wait while the producer lives"
        );
        child.sigkill();
        pusher.join().unwrap().unwrap();
    });
    assert_eq!(q.pop(ZERO).unwrap(), Value::Int(6));
}

/// A producer is SIGKILLed again and again at random points of its pushes (each push
/// pauses 50 µs after claiming its slot, so many kills land inside one) while this
/// process consumes. Every value whose push completed arrives exactly once and in order;
/// the value being pushed at the kill arrives once or not at all; nothing else arrives.
#[test]
fn producers_killed_at_random_deliver_exactly_once_or_not_at_all() {
    for flags in [0, FLAG_LIFO] {
        let (r, n) = region(&format!("kills{flags}"));
        let q = r.queue("q", 8, flags).unwrap();
        while q.pop(ZERO).is_ok() {}
        let done = r.array("done", 1, 0).unwrap();
        let mut seen = HashSet::new();
        let mut start = 0i64;
        let mut last_popped: Option<i64> = None;
        let mut rng = XorShift::new(0x2545_f491_4f6c_dd1du64 ^ flags as u64);
        let mut abandoned = 0;
        for _round in 0..15 {
            done.write(0, ValueRef::Int(start - 1)).unwrap();
            let child = spawn_child("stream", &n, flags, start);
            // Consume for a random while, then kill.
            let until = Instant::now() + Duration::from_micros(2_000 + rng.below(20_000));
            while Instant::now() < until {
                if let Ok(v) = q.pop(Some(Duration::from_millis(1))) {
                    let i = parse(&v);
                    assert!(seen.insert(i), "value {i} delivered twice");
                    if flags == 0 {
                        assert!(last_popped.is_none_or(|l| i > l), "FIFO order broken");
                    }
                    last_popped = Some(i);
                }
            }
            child.sigkill();
            // Drain what is left.
            while let Ok(v) = q.pop(Some(Duration::from_millis(100))) {
                let i = parse(&v);
                assert!(seen.insert(i), "value {i} delivered twice");
                last_popped = Some(i);
            }
            let Value::Int(completed) = done.read(0).unwrap() else {
                panic!("bad done marker")
            };
            for i in start..=completed {
                assert!(
                    seen.contains(&i),
                    "value {i} was pushed but never delivered"
                );
            }
            // The push in flight at the kill (completed + 1) may or may not have landed.
            let max = seen.iter().copied().max().unwrap_or(-1);
            assert!(
                max <= completed + 1,
                "value {max} delivered but never pushed"
            );
            if !seen.contains(&(completed + 1)) {
                abandoned += 1;
            }
            start = completed + 2;
        }
        assert!(
            seen.len() > 100,
            "the producer made progress ({} values)",
            seen.len()
        );
        // Most kills land inside a push (it pauses 50 µs there); the queue went on
        // working after each, so the dead pushes were recovered.
        assert!(abandoned > 0, "no kill landed inside a push");
    }
}

fn parse(v: &Value) -> i64 {
    let Value::String(s) = v else {
        panic!("torn or foreign value {v:?}")
    };
    let num = s
        .strip_prefix("value ")
        .and_then(|t| t.get(..12))
        .unwrap_or_else(|| panic!("torn value {s:?}"));
    let i: i64 = num.parse().unwrap_or_else(|_| panic!("torn value {s:?}"));
    let expect = format!("value {i:012} {}", "z".repeat((i % 7) as usize * 5));
    assert_eq!(s, &expect, "torn value");
    i
}

// ---- batches ----

#[test]
fn batches_keep_order_and_every_type() {
    let (r, _n) = region("batch");
    for flags in [0, FLAG_LIFO] {
        let q = r.queue(&format!("q{flags}"), 16, flags).unwrap();
        let values = sample_values();
        let refs: Vec<ValueRef<'_>> = values.iter().map(Value::as_ref).collect();
        // Several laps around the ring, batches mixed with single calls.
        for round in 0..5 {
            assert_eq!(q.push_many(&refs, ZERO), (values.len(), Ok(())));
            q.push(ValueRef::Int(round), ZERO).unwrap();
            assert_eq!(q.len().unwrap(), values.len() as u64 + 1);
            let mut got = Vec::new();
            while got.len() < values.len() + 1 {
                let batch = q.pop_many(4, ZERO).unwrap();
                assert!((1..=4).contains(&batch.len()), "{} values", batch.len());
                got.extend(batch);
            }
            let mut want = values.clone();
            want.push(Value::Int(round));
            if flags == FLAG_LIFO {
                want.reverse();
            }
            assert_eq!(got, want);
            assert_eq!(q.pop_many(4, ZERO), Err(Error::Timeout));
        }
    }
}

#[test]
fn batches_stop_where_the_queue_does() {
    let (r, _n) = region("batch-partial");
    for flags in [0, FLAG_LIFO] {
        let q = r.queue(&format!("q{flags}"), 4, flags).unwrap();
        let ints: Vec<ValueRef<'_>> = (0..10).map(ValueRef::Int).collect();
        // Full after four: TIMEOUT with the count of what went in (a prefix).
        assert_eq!(q.push_many(&ints, ZERO), (4, Err(Error::Timeout)));
        let t = Instant::now();
        assert_eq!(
            q.push_many(&ints[4..], Some(Duration::from_millis(50))),
            (0, Err(Error::Timeout))
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        let got = q.pop_many(100, ZERO).unwrap();
        let mut want: Vec<Value> = (0..4).map(Value::Int).collect();
        if flags == FLAG_LIFO {
            want.reverse();
        }
        assert_eq!(got, want);
        assert_eq!(q.pop_many(1, ZERO), Err(Error::Timeout));
        // Nothing to push: OK at once; max 0: refused.
        assert_eq!(q.push_many(&[], ZERO), (0, Ok(())));
        assert!(matches!(
            q.pop_many(0, ZERO),
            Err(Error::InvalidArgument(_))
        ));
        // Every value is checked before any is stored.
        let bad = [
            ValueRef::Int(1),
            ValueRef::Object(&[0xc1]),
            ValueRef::Int(2),
        ];
        assert!(matches!(
            q.push_many(&bad, ZERO),
            (0, Err(Error::InvalidArgument(_)))
        ));
        let huge = vec![0u8; 32 << 20];
        let oversize = [ValueRef::Int(1), ValueRef::Bytes(&huge)];
        assert!(matches!(
            q.push_many(&oversize, ZERO),
            (0, Err(Error::NoSpace(_)))
        ));
        assert_eq!(q.len().unwrap(), 0);
        // A heap that fills up in the middle of a batch: what fit went in, in order.
        let big = vec![7u8; 6 << 20];
        let mut heavy = vec![ValueRef::Int(0)];
        heavy.extend(std::iter::repeat_n(ValueRef::Bytes(&big), 3));
        let (n, result) = q.push_many(&heavy, ZERO);
        assert!(matches!(result, Err(Error::NoSpace(_))), "{result:?}");
        assert!((1..4).contains(&n), "{n} pushed");
        assert_eq!(q.len().unwrap(), n as u64);
        let mut got = q.pop_many(10, ZERO).unwrap();
        if flags == FLAG_LIFO {
            got.reverse();
        }
        assert_eq!(got.len(), n);
        assert_eq!(got[0], Value::Int(0));
        // Shut down: pushes CLOSED with nothing stored, pops drain then CLOSED.
        q.push_many(&ints[..2], ZERO).1.unwrap();
        q.shutdown().unwrap();
        assert_eq!(q.push_many(&ints, ZERO), (0, Err(Error::Closed)));
        assert_eq!(q.pop_many(10, ZERO).unwrap().len(), 2);
        assert_eq!(q.pop_many(10, ZERO), Err(Error::Closed));
        assert_eq!(q.pop_many(10, LONG), Err(Error::Closed));
    }
}

#[test]
fn batches_wait_for_room_and_values() {
    let (r, _n) = region("batch-wait");
    for flags in [0, FLAG_LIFO] {
        let q = r.queue(&format!("q{flags}"), 3, flags).unwrap();
        // A batch larger than the queue goes in as a consumer makes room.
        let ints: Vec<ValueRef<'_>> = (0..50).map(ValueRef::Int).collect();
        let got = std::thread::scope(|s| {
            let pusher = s.spawn(|| q.push_many(&ints, LONG));
            let mut got = Vec::new();
            while got.len() < 50 {
                got.extend(q.pop_many(7, LONG).unwrap());
            }
            assert_eq!(pusher.join().unwrap(), (50, Ok(())));
            got
        });
        let mut sorted: Vec<i64> = got
            .iter()
            .map(|v| match v {
                Value::Int(i) => *i,
                other => panic!("{other:?}"),
            })
            .collect();
        if flags == 0 {
            assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "FIFO order");
        }
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        // A blocked pop_many returns as soon as a value arrives, with what is there.
        std::thread::scope(|s| {
            let popper = s.spawn(|| q.pop_many(10, LONG));
            std::thread::sleep(Duration::from_millis(30));
            q.push_many(&ints[..2], ZERO).1.unwrap();
            let got = popper.join().unwrap().unwrap();
            assert!((1..=2).contains(&got.len()));
        });
        while q.pop(ZERO).is_ok() {}
        // A blocked batch push wakes with CLOSED, having pushed what fit.
        std::thread::scope(|s| {
            let pusher = s.spawn(|| q.push_many(&ints, LONG));
            std::thread::sleep(Duration::from_millis(200));
            q.shutdown().unwrap();
            assert_eq!(pusher.join().unwrap(), (3, Err(Error::Closed)));
        });
        assert_eq!(q.pop_many(10, ZERO).unwrap().len(), 3);
        assert_eq!(q.pop_many(10, ZERO), Err(Error::Closed));
    }
}

/// A value of a batch test: producer, batch number, index in the batch, batch length.
fn batch_value(p: i64, b: i64, i: i64, len: i64) -> i64 {
    p << 40 | b << 16 | i << 8 | len
}

fn batch_parts(v: &Value) -> (i64, i64, i64, i64) {
    let Value::Int(v) = v else {
        panic!("unexpected {v:?}")
    };
    (v >> 40, (v >> 16) & 0xff_ffff, (v >> 8) & 0xff, v & 0xff)
}

/// Checks what FIFO consumers got from producers of batches (a single push counts as a
/// batch of one): per consumer and producer, in order; and in each pop batch, the values
/// of one push batch form one run (no other value between them: a FIFO batch stays
/// together). With one consumer, every push batch is one run of what it got, whole.
fn check_batches(seen: &[Vec<Vec<Value>>]) {
    for consumer in seen {
        let mut last: std::collections::HashMap<i64, (i64, i64)> = Default::default();
        for pop in consumer {
            let mut runs: Vec<(i64, i64)> = Vec::new();
            for v in pop {
                let (p, b, i, _) = batch_parts(v);
                if let Some(&prev) = last.get(&p) {
                    assert!((b, i) > prev, "producer {p}: {b}.{i} after {prev:?}");
                }
                last.insert(p, (b, i));
                if runs.last() != Some(&(p, b)) {
                    assert!(
                        !runs.contains(&(p, b)),
                        "batch {p}.{b} is split by another value in one pop batch: {pop:?}"
                    );
                    runs.push((p, b));
                }
            }
        }
    }
    if let [one] = seen {
        let all: Vec<_> = one.iter().flatten().map(batch_parts).collect();
        let mut k = 0;
        while k < all.len() {
            let (p, b, i, len) = all[k];
            assert_eq!(i, 0, "batch {p}.{b} does not start with its first value");
            for j in 0..len {
                assert_eq!(
                    all.get(k + j as usize).map(|x| (x.0, x.1, x.2)),
                    Some((p, b, j)),
                    "batch {p}.{b} is not one run"
                );
            }
            k += len as usize;
        }
    }
}

/// Three producers push batches of 1 to 40 values (one of them pushes every third batch
/// value by value), one or three consumers pop batches of up to 1 to 16: every value
/// exactly once, in order per producer, and each push batch in one piece.
#[test]
fn mpmc_batches_deliver_exactly_once_and_stay_together() {
    let (r, _n) = region("batch-mpmc");
    // (Capacity 4: pop batches larger than the queue go round it.)
    for (flags, consumers, capacity) in [(0, 1, 32), (0, 3, 32), (0, 3, 4), (FLAG_LIFO, 3, 32)] {
        let q = r
            .queue(&format!("q{flags}-{consumers}-{capacity}"), capacity, flags)
            .unwrap();
        const PRODUCERS: i64 = 3;
        const BATCHES: i64 = 1500;
        let (produced, seen) = std::thread::scope(|s| {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let q = q.clone();
                    s.spawn(move || {
                        let mut rng = XorShift::new(0x9e37_79b9 + p as u64);
                        let mut total = 0;
                        for b in 0..BATCHES {
                            let len = 1 + rng.below(40) as i64;
                            // Batch ids grow by 64 per batch (single pushes, each a batch
                            // of one, take the ids in between).
                            let vals: Vec<i64> =
                                (0..len).map(|i| batch_value(p, b * 64, i, len)).collect();
                            if p == 2 && b % 3 == 0 {
                                for i in 0..len {
                                    let v = batch_value(p, b * 64 + i, 0, 1);
                                    q.push(ValueRef::Int(v), LONG).unwrap();
                                }
                            } else {
                                let refs: Vec<_> = vals.iter().map(|v| ValueRef::Int(*v)).collect();
                                assert_eq!(q.push_many(&refs, LONG), (refs.len(), Ok(())));
                            }
                            total += len as usize;
                        }
                        total
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..consumers)
                .map(|c| {
                    let q = q.clone();
                    s.spawn(move || {
                        let mut rng = XorShift::new(0x1234 + c);
                        let mut got: Vec<Vec<Value>> = Vec::new();
                        loop {
                            let max = 1 + rng.below(16) as usize;
                            match q.pop_many(max, Some(Duration::from_millis(500))) {
                                Ok(batch) => {
                                    assert!(!batch.is_empty() && batch.len() <= max);
                                    got.push(batch);
                                }
                                Err(Error::Timeout) => return got,
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    })
                })
                .collect();
            let produced: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
            let seen: Vec<_> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
            (produced, seen)
        });
        let mut all: Vec<_> = seen.iter().flatten().flatten().map(batch_parts).collect();
        assert_eq!(all.len(), produced, "values delivered");
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), produced, "a value was delivered twice");
        if flags == 0 {
            check_batches(&seen);
        }
    }
}

#[test]
fn a_batch_producer_killed_after_claiming_does_not_wedge_anyone() {
    for flags in [0, FLAG_LIFO] {
        let (r, n) = region(&format!("stall-batch{flags}"));
        let q = r.queue("q", 4, flags).unwrap();
        q.push(ValueRef::Int(1), ZERO).unwrap();
        let child = spawn_child("stall-batch", &n, flags, 0);
        // Wait until the child is inside its batch (FIFO: slots claimed, producer lock
        // held; LIFO: stack lock held).
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        child.sigkill();
        // The value pushed before is delivered, none of the dead batch's, and the queue
        // works on: single pushes and batches fill the room the dead batch took.
        assert_eq!(q.pop(LONG).unwrap(), Value::Int(1));
        assert_eq!(q.pop(Some(Duration::from_millis(300))), Err(Error::Timeout));
        q.push(ValueRef::Int(2), LONG).unwrap();
        let more = [ValueRef::Int(3), ValueRef::Int(4), ValueRef::Int(5)];
        assert_eq!(q.push_many(&more, LONG), (3, Ok(())));
        let mut rest = q.pop_many(10, LONG).unwrap();
        while rest.len() < 4 {
            rest.extend(q.pop_many(10, LONG).unwrap());
        }
        rest.sort_by_key(|v| format!("{v:?}"));
        let want: Vec<Value> = (2..6).map(Value::Int).collect();
        assert_eq!(rest, want);
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}

/// A consumer killed in the middle of a pop_many: the values it had taken are gone with
/// it, every other value is still there, once, in order.
#[test]
fn a_batch_consumer_killed_midway_leaves_the_rest() {
    for flags in [0, FLAG_LIFO] {
        let (r, n) = region(&format!("drain-batch{flags}"));
        let q = r.queue("q", 32, flags).unwrap();
        let ints: Vec<ValueRef<'_>> = (0..30).map(ValueRef::Int).collect();
        assert_eq!(q.push_many(&ints, ZERO), (30, Ok(())));
        let child = spawn_child("drain-batch", &n, flags, 0);
        std::thread::sleep(Duration::from_millis(300));
        child.sigkill();
        let mut rest = Vec::new();
        while let Ok(batch) = q.pop_many(7, Some(Duration::from_millis(300))) {
            rest.extend(batch.into_iter().map(|v| match v {
                Value::Int(i) => i,
                other => panic!("{other:?}"),
            }));
        }
        if flags == 0 {
            // The child took the first value (and paused before the second).
            assert_eq!(rest, (1..30).collect::<Vec<_>>());
        } else {
            // The child died before its commit: nothing was taken.
            assert_eq!(rest, (0..30).rev().collect::<Vec<_>>());
        }
    }
}

/// A producer of batches is SIGKILLed again and again at random points while this
/// process consumes with batches. Every value of a batch that completed arrives exactly
/// once and in order; of the batch in flight at the kill, a first part (maybe nothing,
/// maybe all) arrives, once; nothing else arrives.
#[test]
fn batch_producers_killed_at_random_deliver_exactly_once_or_not_at_all() {
    for flags in [0, FLAG_LIFO] {
        let (r, n) = region(&format!("batch-kills{flags}"));
        let q = r.queue("q", 8, flags).unwrap();
        let done = r.array("done", 1, 0).unwrap();
        let mut seen = HashSet::new();
        let mut start = 0i64;
        let mut last_popped: Option<i64> = None;
        let mut rng = XorShift::new(0x05ee_d0fb_a7c4 ^ flags as u64);
        let mut cut = 0;
        // At least 15 rounds, and on until a kill landed inside a batch (the kill point
        // is random: give it up to 100 rounds).
        for round in 0..100 {
            if round >= 15 && cut > 0 {
                break;
            }
            done.write(0, ValueRef::Int(start - 1)).unwrap();
            let child = spawn_child("stream-batch", &n, flags, start);
            let mut take = |v: Value, seen: &mut HashSet<i64>| {
                let i = parse(&v);
                assert!(seen.insert(i), "value {i} delivered twice");
                if flags == 0 {
                    assert!(last_popped.is_none_or(|l| i > l), "FIFO order broken");
                }
                last_popped = Some(i);
            };
            let until = Instant::now() + Duration::from_micros(2_000 + rng.below(20_000));
            while Instant::now() < until {
                if let Ok(batch) =
                    q.pop_many(1 + rng.below(6) as usize, Some(Duration::from_millis(1)))
                {
                    for v in batch {
                        take(v, &mut seen);
                    }
                }
            }
            child.sigkill();
            while let Ok(batch) = q.pop_many(5, Some(Duration::from_millis(100))) {
                for v in batch {
                    take(v, &mut seen);
                }
            }
            let Value::Int(completed) = done.read(0).unwrap() else {
                panic!("bad done marker")
            };
            for i in start..=completed {
                assert!(
                    seen.contains(&i),
                    "value {i} was pushed but never delivered"
                );
            }
            // The batch in flight (at most 8 values): a first part of it.
            let after: Vec<i64> = (completed + 1..completed + 9)
                .filter(|i| seen.contains(i))
                .collect();
            assert_eq!(
                after,
                (completed + 1..completed + 1 + after.len() as i64).collect::<Vec<_>>(),
                "not a first part of the batch in flight"
            );
            let max = seen.iter().copied().max().unwrap_or(-1);
            assert!(
                max <= completed + 8,
                "value {max} delivered but never pushed"
            );
            if after.len() < 8 && !seen.contains(&(completed + 1)) {
                cut += 1;
            }
            start = completed + 9;
        }
        assert!(
            seen.len() > 100,
            "the producer made progress ({} values)",
            seen.len()
        );
        assert!(cut > 0, "no kill landed inside a batch");
    }
}
