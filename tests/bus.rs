//! Tests of the engine's broadcast buses, including a publisher killed mid-publish.
//!
//! The kill test re-runs this test binary as a child process (role `stall`), which
//! publishes with the test pause hook on, and SIGKILLs it inside the pause.

mod common;

use std::time::{Duration, Instant};

use common::process::{play_role, role_command, say_ready, spawn_ready, READY};
use common::RegionName;
use plexus::{Error, Region, Start, Value, ValueRef, FLAG_EXCLUSIVE};

fn region(tag: &str) -> (Region, RegionName) {
    common::region(tag, 16 << 20)
}

const ZERO: Option<Duration> = Some(Duration::ZERO);
const LONG: Option<Duration> = Some(Duration::from_secs(30));

#[test]
fn every_subscriber_gets_every_message_in_order() {
    let (r, _n) = region("basic");
    let b = r.bus("b", 64, 0).unwrap();
    let mut early = b.subscribe(Start::Now).unwrap();
    let values = vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(false),
        Value::Int(i64::MAX),
        Value::Float(-0.5),
        Value::String("tiny".into()),
        Value::String("nine byte".into()),
        Value::String("s".repeat(104)),
        Value::String("h".repeat(105)),
        Value::Bytes(vec![3; 50]),
        Value::Bytes(vec![4; 70_000]),
        Value::from_json(r#"{"event":"door","open":true}"#).unwrap(),
    ];
    for (i, v) in values.iter().enumerate() {
        assert_eq!(b.publish(v.as_ref()).unwrap(), i as u64 + 1);
    }
    let mut late = b.subscribe(Start::Oldest).unwrap();
    let mut now = b.subscribe(Start::Now).unwrap();
    for sub in [&mut early, &mut late] {
        for (i, v) in values.iter().enumerate() {
            assert_eq!(sub.next(ZERO).unwrap(), (v.clone(), i as u64 + 1));
        }
        assert_eq!(sub.next(ZERO), Err(Error::Timeout));
    }
    assert_eq!(now.next(ZERO), Err(Error::Timeout));
    b.publish(ValueRef::Int(5)).unwrap();
    assert_eq!(now.next(ZERO).unwrap(), (Value::Int(5), 13));
    assert_eq!(b.next_seq().unwrap(), 14);
}

#[test]
fn a_subscriber_that_falls_behind_sees_the_gap_and_goes_on() {
    let (r, _n) = region("behind");
    let b = r.bus("b", 4, 0).unwrap();
    let mut slow = b.subscribe(Start::Now).unwrap();
    for i in 1..=10 {
        // Long enough for the heap: overwriting frees the old blocks.
        b.publish(ValueRef::String(&format!("{i:>40}"))).unwrap();
    }
    // Messages 7..=10 are retained.
    let (v, seq) = slow.next(ZERO).unwrap();
    assert_eq!((v, seq), (Value::String(format!("{:>40}", 7)), 7));
    for want in 8..=10 {
        assert_eq!(slow.next(ZERO).unwrap().1, want);
    }
    assert_eq!(slow.next(ZERO), Err(Error::Timeout));
    let oldest = b.subscribe(Start::Oldest).unwrap();
    assert_eq!(oldest.position(), 7);
}

#[test]
fn timeouts_and_close() {
    let (r, _n) = region("close");
    let b = r.bus("b", 8, 0).unwrap();
    let mut s = b.subscribe(Start::Now).unwrap();
    let t = Instant::now();
    assert_eq!(s.next(Some(Duration::from_millis(50))), Err(Error::Timeout));
    assert!(t.elapsed() >= Duration::from_millis(50));
    b.publish(ValueRef::Int(1)).unwrap();
    // Sleeping subscribers wake up for a message, and for close.
    std::thread::scope(|sc| {
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let mut w = b.subscribe(Start::Now).unwrap();
                sc.spawn(move || (w.next(LONG), w.next(LONG)))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        b.publish(ValueRef::Int(2)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        b.shutdown().unwrap();
        for w in waiters {
            let (first, second) = w.join().unwrap();
            assert_eq!(first, Ok((Value::Int(2), 2)));
            assert_eq!(second, Err(Error::Closed));
        }
    });
    assert!(b.is_shutdown().unwrap());
    assert_eq!(b.publish(ValueRef::Int(3)), Err(Error::Closed));
    // What was published before the close is still delivered, then CLOSED.
    assert_eq!(s.next(ZERO).unwrap().0, Value::Int(1));
    assert_eq!(s.next(ZERO).unwrap().0, Value::Int(2));
    assert_eq!(s.next(LONG), Err(Error::Closed));
    b.shutdown().unwrap();
}

#[test]
fn open_rules() {
    let (r, _n) = region("open");
    r.bus("b", 8, 0).unwrap();
    r.queue("q", 8, 0).unwrap();
    assert!(matches!(r.bus("q", 8, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.queue("b", 8, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.bus("b", 9, 0), Err(Error::Incompatible(_))));
    assert!(matches!(
        r.bus("b", 8, FLAG_EXCLUSIVE),
        Err(Error::Exists(_))
    ));
    assert!(matches!(r.bus("none", 0, 0), Err(Error::NotFound(_))));
    assert!(matches!(r.bus("x", 8, 1), Err(Error::InvalidArgument(_))));
    assert!(matches!(r.bus("huge", 1 << 40, 0), Err(Error::NoSpace(_))));
    assert_eq!(r.bus("b", 0, 0).unwrap().capacity(), 8);
    // A value that is not valid MessagePack is refused before anything is published.
    let b = r.bus("b", 0, 0).unwrap();
    assert!(matches!(
        b.publish(ValueRef::Object(&[0xc1])),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(b.next_seq().unwrap(), 1);
}

#[test]
fn heap_blocks_of_overwritten_messages_are_freed() {
    let (r, _n) = region("heap");
    let b = r.bus("b", 16, 0).unwrap();
    let big = "m".repeat(5000);
    for i in 0..100 {
        b.publish(ValueRef::String(&format!("{i}{big}"))).unwrap();
    }
    let before = r.info().unwrap().heap_used;
    for i in 0..5000 {
        b.publish(ValueRef::String(&format!("{i}{big}"))).unwrap();
    }
    let after = r.info().unwrap().heap_used;
    assert!(
        after <= before + 32 * 1024,
        "heap grew from {before} to {after}"
    );
}

/// Several publishers and subscribers on threads: every subscriber sees every message,
/// all in one identical order, and each publisher's messages in its order.
#[test]
fn one_total_order_for_all_subscribers() {
    let (r, _n) = region("order");
    let b = r.bus("b", 1 << 16, 0).unwrap();
    const PUBLISHERS: i64 = 4;
    const PER: i64 = 5_000;
    let total = (PUBLISHERS * PER) as usize;
    let seen: Vec<Vec<(i64, u64)>> = std::thread::scope(|s| {
        let subs: Vec<_> = (0..3)
            .map(|_| {
                let mut sub = b.subscribe(Start::Now).unwrap();
                s.spawn(move || {
                    let mut got = Vec::new();
                    while got.len() < total {
                        let (v, seq) = sub.next(LONG).unwrap();
                        let Value::Int(i) = v else {
                            panic!("bad value")
                        };
                        got.push((i, seq));
                    }
                    got
                })
            })
            .collect();
        for p in 0..PUBLISHERS {
            let b = b.clone();
            s.spawn(move || {
                for i in 0..PER {
                    b.publish(ValueRef::Int(p * PER + i)).unwrap();
                }
            });
        }
        subs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for got in &seen {
        assert_eq!(got, &seen[0], "subscribers disagree on the order");
        assert!(got.windows(2).all(|w| w[1].1 == w[0].1 + 1), "no gaps");
        for p in 0..PUBLISHERS {
            let mine: Vec<_> = got.iter().filter(|(v, _)| v / PER == p).collect();
            assert_eq!(mine.len(), PER as usize);
            assert!(mine.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}

// ---- a publisher killed in the middle of a publish ----

fn child_main(role: &str, region: &str) {
    let r = common::open(region);
    let b = r.bus("b", 0, 0).unwrap();
    assert_eq!(role, "stall");
    plexus::test_pause_in_push(Duration::from_secs(3600));
    say_ready();
    b.publish(ValueRef::String(
        "never committed: the publisher died writing it",
    ))
    .unwrap();
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    play_role(child_main);
}

#[test]
fn a_publisher_killed_mid_publish_blocks_nobody() {
    let (r, n) = region("kill");
    let b = r.bus("b", 4, 0).unwrap();
    for i in 1..=4 {
        b.publish(ValueRef::String(&format!("message number {i:>30}")))
            .unwrap();
    }
    let mut sub = b.subscribe(Start::Oldest).unwrap();
    let child = spawn_ready(&mut role_command("stall", &n), READY);
    std::thread::sleep(Duration::from_millis(300)); // inside the publish, slot 1 BUSY
                                                    // The subscriber never sees the half-written message: message 1's slot is being
                                                    // rewritten, so it skips to 2, and then waits for message 5.
    let (v, seq) = sub.next(LONG).unwrap();
    assert_eq!(seq, 2);
    assert_eq!(v, Value::String(format!("message number {:>30}", 2)));
    sub.next(ZERO).unwrap();
    sub.next(ZERO).unwrap();
    assert_eq!(
        sub.next(Some(Duration::from_millis(50))),
        Err(Error::Timeout)
    );
    child.sigkill();
    // The next publisher takes the lock over and publishes message 5 in the dead one's
    // place; the subscriber receives it.
    let t = Instant::now();
    assert_eq!(b.publish(ValueRef::Int(55)).unwrap(), 5);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(sub.next(ZERO).unwrap(), (Value::Int(55), 5));
    assert!(plexus::recovered_locks() >= 1);
}
