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
    if let Some(round) = role.strip_prefix("batcher-") {
        return publish_batches_forever(&b, round.parse().unwrap());
    }
    assert_eq!(role, "stall");
    plexus::test_pause_in_push(Duration::from_secs(3600));
    say_ready();
    b.publish(ValueRef::String(
        "never committed: the publisher died writing it",
    ))
    .unwrap();
}

/// The text of message `k` of batch `batch` (of `len`) in round `round`: its header,
/// then a filler whose length and bytes follow from the header (some fit a slot, some
/// go to the heap), so a torn message cannot pass for a whole one.
fn batch_message(round: u64, batch: u64, k: u64, len: u64) -> String {
    let head = format!("r{round} b{batch} m{k}/{len} ");
    let fill = ((batch * 31 + k * 57) % 260) as usize;
    let c = char::from(b'a' + ((batch + k) % 26) as u8);
    head + &c.to_string().repeat(fill)
}

/// Publishes batches of 1 to 12 messages until killed, pausing inside the writing of
/// every message (the test pause hook), so that a kill lands inside a batch.
fn publish_batches_forever(b: &plexus::Bus, round: u64) {
    plexus::test_pause_in_push(Duration::from_micros(200));
    say_ready();
    for batch in 0.. {
        let len = 1 + (batch * 7 + round) % 12;
        let texts: Vec<String> = (0..len)
            .map(|k| batch_message(round, batch, k, len))
            .collect();
        let values: Vec<ValueRef<'_>> = texts.iter().map(|t| ValueRef::String(t)).collect();
        b.publish_many(&values).unwrap();
    }
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

/// A publisher SIGKILLed at a random instant while it publishes batches, eight times
/// over, while a subscriber reads: the subscriber receives only whole messages, without
/// a gap in the sequence numbers; every batch it sees is complete, except the one the
/// kill cut, of which it sees the first messages (maybe none), in order, directly
/// followed by the next publisher's message (here the test's own marker).
#[test]
fn publishers_killed_mid_batch_leave_whole_messages_and_batch_prefixes() {
    const ROUNDS: u64 = 8;
    let (r, n) = region("kill-batch");
    let b = r.bus("b", 16384, 0).unwrap();
    let mut sub = b.subscribe(Start::Now).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            let (v, seq) = sub.next(LONG).unwrap();
            let end = v == Value::Int(-1);
            got.push((v, seq));
            if end {
                return got;
            }
        }
    });
    // A pseudo-random kill delay per round (1-25 ms), from the clock.
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    for round in 0..ROUNDS {
        let child = spawn_ready(&mut role_command(&format!("batcher-{round}"), &n), READY);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_micros(1000 + x % 24_000));
        child.sigkill();
        // The next publisher (this one) takes the lock over and follows the dead one.
        b.publish(ValueRef::Int(round as i64)).unwrap();
    }
    b.publish(ValueRef::Int(-1)).unwrap();
    let got = reader.join().unwrap();

    let mut cut = 0;
    let mut i = 0;
    for round in 0..ROUNDS {
        let mut batch = 0;
        loop {
            let (v, seq) = &got[i];
            if *v == Value::Int(round as i64) {
                i += 1;
                break; // the marker after the kill
            }
            // Message 0 of batch `batch` (a cut batch whose prefix is empty was never seen:
            // then the marker comes instead).
            let len = 1 + (batch * 7 + round) % 12;
            let mut k = 0;
            while k < len {
                let (v, s) = &got[i];
                if *v == Value::Int(round as i64) {
                    break;
                }
                assert_eq!(
                    *v,
                    Value::String(batch_message(round, batch, k, len)),
                    "message {s}"
                );
                assert_eq!(*s, seq + k, "a batch's messages are consecutive");
                i += 1;
                k += 1;
            }
            if k < len {
                // Cut by the kill: a prefix, then the marker right after it.
                assert_eq!(got[i].0, Value::Int(round as i64));
                cut += 1;
            }
            batch += 1;
        }
    }
    assert_eq!(got[i].0, Value::Int(-1));
    assert_eq!(i + 1, got.len());
    for w in got.windows(2) {
        assert_eq!(w[1].1, w[0].1 + 1, "no gap: the bus retains everything");
    }
    // The kills land inside the writing of a message nearly always (the pause is there):
    // at least one of the eight cut a batch.
    eprintln!(
        "{} messages, {cut} of {ROUNDS} kills cut a batch",
        got.len()
    );
    assert!(cut >= 1, "no kill cut a batch");
    assert!(plexus::recovered_locks() >= 1);
}
