//! Queues, stacks and the bus on a remote region (`redis://`), against a private
//! `redis-server` per test: the same behaviour as in shared memory (tests/queue.rs,
//! tests/bus.rs), plus exactly-once delivery when a reply is lost.
//!
//! One test re-runs this binary as a child process (role `pop`) that blocks in a pop
//! until the test shuts the queue down.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::process::{play_role, role_command, say_ready, spawn_ready, READY};
use common::redis::RedisServer;
use plexus::backend::{Queue, Region};
use plexus::{Error, OpenOptions, Start, Value, ValueRef, FLAG_EXCLUSIVE, FLAG_LIFO};

const ZERO: Option<Duration> = Some(Duration::ZERO);
const LONG: Option<Duration> = Some(Duration::from_secs(60));

fn open(url: &str) -> Region {
    Region::open(url, &OpenOptions::default()).unwrap()
}

fn sample_values() -> Vec<Value> {
    vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::Int(i64::MIN),
        Value::Int(0),
        Value::Float(-0.0),
        Value::Float(f64::NAN),
        Value::Float(1.5e300),
        Value::String(String::new()),
        Value::String("ünïcödé ✓".into()),
        Value::String("s".repeat(100_000)),
        Value::Bytes(vec![]),
        Value::Bytes((0..=255).collect()),
        Value::from_json(r#"{"event":"door","open":true,"n":[1,2,3]}"#).unwrap(),
    ]
}

/// Value equality, floats by their bits (NaN included: the bits travel unchanged).
fn assert_same(got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        match (g, w) {
            (Value::Float(x), Value::Float(y)) => assert_eq!(x.to_bits(), y.to_bits()),
            _ => assert_eq!(g, w),
        }
    }
}

#[test]
fn fifo_and_lifo_order_with_every_value_type() {
    let Some(srv) = RedisServer::start("remote queue order") else {
        return;
    };
    let r = open(&srv.url("order"));
    for flags in [0, FLAG_LIFO] {
        let name = format!("q{flags}");
        let q = r.queue(&name, 32, flags).unwrap();
        assert_eq!((q.name(), q.capacity()), (name.as_str(), 32));
        assert!(q.is_empty().unwrap());
        let values = sample_values();
        for v in &values {
            q.push(v.as_ref(), ZERO).unwrap();
        }
        assert_eq!(q.len().unwrap(), values.len() as u64);
        let mut got = Vec::new();
        while let Ok(v) = q.pop(ZERO) {
            got.push(v);
        }
        let mut want = values.clone();
        if flags == FLAG_LIFO {
            want.reverse();
        }
        assert_same(&got, &want);
        assert!(q.is_empty().unwrap());
        assert!(!q.is_shutdown().unwrap());
    }
    // Not valid MessagePack: refused, and nothing is stored.
    let q = r.queue("q0", 0, 0).unwrap();
    assert!(matches!(
        q.push(ValueRef::Object(&[0xc1]), ZERO),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(q.len().unwrap(), 0);
}

#[test]
fn full_and_empty_wait_with_timeouts() {
    let Some(srv) = RedisServer::start("remote queue timeouts") else {
        return;
    };
    let r = open(&srv.url("timeouts"));
    for flags in [0, FLAG_LIFO] {
        let q = r.queue(&format!("q{flags}"), 3, flags).unwrap();
        assert_eq!(q.pop(ZERO), Err(Error::Timeout));
        let t = Instant::now();
        assert_eq!(q.pop(Some(Duration::from_millis(300))), Err(Error::Timeout));
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        // A small margin (generous here: the machine is shared), not a slice or more.
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        for i in 0..3 {
            q.push(ValueRef::Int(i), ZERO).unwrap();
        }
        assert_eq!(q.push(ValueRef::Int(3), ZERO), Err(Error::Timeout));
        let t = Instant::now();
        assert_eq!(
            q.push(ValueRef::Int(4), Some(Duration::from_millis(300))),
            Err(Error::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(300));
        // Nothing was stored by the pushes that timed out.
        assert_eq!(q.len().unwrap(), 3);
        // A blocked push completes as soon as a pop makes room.
        std::thread::scope(|s| {
            let pusher = s.spawn(|| q.push(ValueRef::Int(99), LONG));
            std::thread::sleep(Duration::from_millis(100));
            q.pop(ZERO).unwrap();
            pusher.join().unwrap().unwrap();
        });
        assert_eq!(q.len().unwrap(), 3);
        // A blocked pop completes as soon as a push arrives.
        while q.pop(ZERO).is_ok() {}
        std::thread::scope(|s| {
            let popper = s.spawn(|| q.pop(LONG));
            std::thread::sleep(Duration::from_millis(100));
            q.push(ValueRef::Int(7), ZERO).unwrap();
            assert_eq!(popper.join().unwrap(), Ok(Value::Int(7)));
        });
    }
}

#[test]
fn shutdown_drains_then_closed_and_wakes_every_waiter() {
    let Some(srv) = RedisServer::start("remote queue shutdown") else {
        return;
    };
    let url = srv.url("shutdown");
    let r = open(&url);
    for flags in [0, FLAG_LIFO] {
        // Blocked poppers (each through its own region handle) wake with CLOSED.
        let q = r.queue(&format!("empty{flags}"), 4, flags).unwrap();
        std::thread::scope(|s| {
            let poppers: Vec<_> = (0..3)
                .map(|_| {
                    let url = &url;
                    s.spawn(move || {
                        let q = open(url).queue(&format!("empty{flags}"), 0, 0).unwrap();
                        q.pop(LONG)
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(300));
            q.shutdown().unwrap();
            for p in poppers {
                assert_eq!(p.join().unwrap(), Err(Error::Closed));
            }
        });
        // Blocked pushers on a full queue wake with CLOSED; what was in it drains.
        let q = r.queue(&format!("full{flags}"), 2, flags).unwrap();
        q.push(ValueRef::Int(1), ZERO).unwrap();
        q.push(ValueRef::String("second"), ZERO).unwrap();
        std::thread::scope(|s| {
            let pushers: Vec<_> = (0..3)
                .map(|i| {
                    let q = &q;
                    s.spawn(move || q.push(ValueRef::Int(10 + i), LONG))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(300));
            q.shutdown().unwrap();
            for p in pushers {
                assert_eq!(p.join().unwrap(), Err(Error::Closed));
            }
        });
        assert!(q.is_shutdown().unwrap());
        assert_eq!(q.push(ValueRef::Int(5), ZERO), Err(Error::Closed));
        assert_eq!(q.push(ValueRef::Int(5), LONG), Err(Error::Closed));
        let mut left = vec![q.pop(ZERO).unwrap(), q.pop(ZERO).unwrap()];
        if flags == FLAG_LIFO {
            left.reverse();
        }
        assert_eq!(left, vec![Value::Int(1), Value::String("second".into())]);
        assert_eq!(q.pop(ZERO), Err(Error::Closed));
        assert_eq!(q.pop(LONG), Err(Error::Closed));
        q.shutdown().unwrap(); // twice is fine
        let again = open(&url).queue(&format!("full{flags}"), 0, 0).unwrap();
        assert!(again.is_shutdown().unwrap());
    }
}

/// Child roles. `pop`: pops from the queue `q` of the region at the URL `region`,
/// expecting CLOSED.
fn child_main(role: &str, region: &str) {
    let q = open(region).queue("q", 0, 0).unwrap();
    match role {
        "pop" => {
            say_ready();
            assert_eq!(q.pop(LONG), Err(Error::Closed));
        }
        other => panic!("unknown role {other}"),
    }
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    play_role(child_main);
}

#[test]
fn shutdown_wakes_a_popper_blocked_in_another_process() {
    let Some(srv) = RedisServer::start("remote queue shutdown across processes") else {
        return;
    };
    let url = srv.url("procs");
    let q = open(&url).queue("q", 4, 0).unwrap();
    let mut kid = spawn_ready(&mut role_command("pop", &url), READY);
    std::thread::sleep(Duration::from_millis(300));
    q.shutdown().unwrap();
    let limit = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = kid.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < limit, "the popper did not wake up");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the popper did not get CLOSED: {status}");
}

/// Three producers and three consumers, each through its own region handle: every
/// value comes out exactly once, and (FIFO) each producer's values in their order.
#[test]
fn producers_and_consumers_deliver_exactly_once() {
    let Some(srv) = RedisServer::start("remote queue exactly once") else {
        return;
    };
    let url = srv.url("mpmc");
    const PRODUCERS: i64 = 3;
    const PER: i64 = 2_000;
    for flags in [0, FLAG_LIFO] {
        let name = format!("q{flags}");
        let q = open(&url).queue(&name, 64, flags).unwrap();
        let seen: Vec<Vec<i64>> = std::thread::scope(|s| {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let (url, name) = (&url, &name);
                    s.spawn(move || {
                        let q = open(url).queue(name, 0, flags).unwrap();
                        for i in 0..PER {
                            q.push(ValueRef::Int(p * PER + i), LONG).unwrap();
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let (url, name) = (&url, &name);
                    s.spawn(move || {
                        let q = open(url).queue(name, 0, flags).unwrap();
                        let mut got = Vec::new();
                        loop {
                            match q.pop(LONG) {
                                Ok(Value::Int(v)) => got.push(v),
                                Err(Error::Closed) => return got,
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            // The consumers drain what is left, then get CLOSED.
            q.shutdown().unwrap();
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

fn stop(srv: &RedisServer, signal: i32) {
    // SAFETY: kill has no memory effects; the pid is our own child, the server.
    assert_eq!(unsafe { libc::kill(srv.pid() as i32, signal) }, 0);
}

/// A push and a pop whose replies never came (the server stopped): UNAVAILABLE; once
/// the server is back, the same call again on the same handle is answered from the
/// result of the first (which the server applied when it resumed): the push is not
/// made twice and the pop returns the value the first one took.
#[test]
fn a_call_retried_after_unavailable_is_not_applied_twice() {
    let Some(srv) = RedisServer::start("remote queue retry after unavailable") else {
        return;
    };
    let url = format!("{}?timeout_ms=300", srv.url("retry"));
    let q: Queue = open(&url).queue("q", 8, 0).unwrap();
    let other = open(&url).queue("q", 0, 0).unwrap();
    // The server knows the script from now on (the stopped server gets the call itself,
    // not a request for a script it does not know).
    q.push(ValueRef::Null, ZERO).unwrap();
    q.pop(ZERO).unwrap();

    stop(&srv, libc::SIGSTOP);
    let lost = q.push(ValueRef::String("once"), None);
    stop(&srv, libc::SIGCONT);
    assert!(matches!(lost, Err(Error::Unavailable(_))), "{lost:?}");
    q.push(ValueRef::String("once"), None).unwrap();
    assert_eq!(other.len().unwrap(), 1, "the push was made exactly once");

    stop(&srv, libc::SIGSTOP);
    let lost = q.pop(None);
    stop(&srv, libc::SIGCONT);
    assert!(matches!(lost, Err(Error::Unavailable(_))), "{lost:?}");
    assert_eq!(q.pop(ZERO), Ok(Value::String("once".into())));
    assert_eq!(other.len().unwrap(), 0);
    assert_eq!(other.pop(ZERO), Err(Error::Timeout));

    // The bus likewise: the retried publish keeps its sequence number.
    let b = open(&url).bus("b", 8, 0).unwrap();
    let mut sub = b.subscribe(Start::Now).unwrap(); // (the script is known: see above)
    stop(&srv, libc::SIGSTOP);
    let lost = b.publish(ValueRef::Int(1));
    stop(&srv, libc::SIGCONT);
    assert!(matches!(lost, Err(Error::Unavailable(_))), "{lost:?}");
    assert_eq!(b.publish(ValueRef::Int(1)), Ok(1));
    assert_eq!(b.publish(ValueRef::Int(2)), Ok(2));
    assert_eq!(sub.next(ZERO), Ok((Value::Int(1), 1)));
    assert_eq!(sub.next(ZERO), Ok((Value::Int(2), 2)));
    assert_eq!(sub.next(ZERO), Err(Error::Timeout));
}

#[test]
fn open_rules() {
    let Some(srv) = RedisServer::start("remote queue and bus open rules") else {
        return;
    };
    let r = open(&srv.url("rules"));
    r.queue("q", 8, 0).unwrap();
    r.queue("s", 8, FLAG_LIFO).unwrap();
    r.bus("b", 8, 0).unwrap();
    r.array("a", 2, 0).unwrap();
    assert!(matches!(r.queue("a", 2, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.queue("b", 8, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.bus("q", 8, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.array("q", 8, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.queue("q", 9, 0), Err(Error::Incompatible(_))));
    assert!(matches!(r.bus("b", 9, 0), Err(Error::Incompatible(_))));
    // A FIFO is not a stack, nor the reverse; capacity 0 opens either, unless
    // FLAG_LIFO asks for a stack.
    assert!(matches!(
        r.queue("q", 8, FLAG_LIFO),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(
        r.queue("q", 0, FLAG_LIFO),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(r.queue("s", 8, 0), Err(Error::Incompatible(_))));
    let s = r.queue("s", 0, 0).unwrap();
    s.push(ValueRef::Int(1), ZERO).unwrap();
    s.push(ValueRef::Int(2), ZERO).unwrap();
    assert_eq!(
        s.pop(ZERO),
        Ok(Value::Int(2)),
        "opened with 0, still a stack"
    );
    assert_eq!(r.queue("q", 0, 0).unwrap().capacity(), 8);
    assert_eq!(r.bus("b", 0, 0).unwrap().capacity(), 8);
    assert!(matches!(
        r.queue("q", 8, FLAG_EXCLUSIVE),
        Err(Error::Exists(_))
    ));
    assert!(matches!(
        r.bus("b", 8, FLAG_EXCLUSIVE),
        Err(Error::Exists(_))
    ));
    assert!(matches!(r.queue("nope", 0, 0), Err(Error::NotFound(_))));
    assert!(matches!(r.bus("nope", 0, 0), Err(Error::NotFound(_))));
    assert!(matches!(
        r.queue("x", 8, 64),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        r.bus("x", 8, FLAG_LIFO),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(r.queue("", 8, 0), Err(Error::InvalidArgument(_))));
    r.queue("new", 4, FLAG_EXCLUSIVE | FLAG_LIFO).unwrap();
    r.bus("newbus", 4, FLAG_EXCLUSIVE).unwrap();
}

#[test]
fn bus_carries_every_value_type_in_order() {
    let Some(srv) = RedisServer::start("remote bus values") else {
        return;
    };
    let r = open(&srv.url("values"));
    let b = r.bus("b", 64, 0).unwrap();
    assert_eq!((b.name(), b.capacity()), ("b", 64));
    assert_eq!(b.next_seq().unwrap(), 1);
    let mut early = b.subscribe(Start::Now).unwrap();
    let values = sample_values();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(b.publish(v.as_ref()).unwrap(), i as u64 + 1);
    }
    let mut late = b.subscribe(Start::Oldest).unwrap();
    let mut now = b.subscribe(Start::Now).unwrap();
    for sub in [&mut early, &mut late] {
        let mut got = Vec::new();
        for i in 0..values.len() {
            let (v, seq) = sub.next(ZERO).unwrap();
            assert_eq!(seq, i as u64 + 1);
            got.push(v);
        }
        assert_same(&got, &values);
        assert_eq!(sub.next(ZERO), Err(Error::Timeout));
    }
    assert_eq!(now.next(ZERO), Err(Error::Timeout));
    let n = values.len() as u64;
    b.publish(ValueRef::Int(5)).unwrap();
    assert_eq!(now.next(ZERO).unwrap(), (Value::Int(5), n + 1));
    assert_eq!(b.next_seq().unwrap(), n + 2);
    assert!(matches!(
        b.publish(ValueRef::Object(&[0xc1])),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(b.next_seq().unwrap(), n + 2);
}

#[test]
fn a_subscriber_that_falls_behind_sees_the_gap() {
    let Some(srv) = RedisServer::start("remote bus gap") else {
        return;
    };
    let r = open(&srv.url("gap"));
    let b = r.bus("b", 4, 0).unwrap();
    let mut slow = b.subscribe(Start::Now).unwrap();
    for i in 1..=10 {
        b.publish(ValueRef::Int(i)).unwrap();
    }
    // Messages 7..=10 are retained.
    assert_eq!(slow.next(ZERO).unwrap(), (Value::Int(7), 7));
    for want in 8..=10 {
        assert_eq!(slow.next(ZERO).unwrap(), (Value::Int(want), want as u64));
    }
    assert_eq!(slow.next(ZERO), Err(Error::Timeout));
    // Behind again, after having read: 11 is overwritten before it is read.
    for i in 11..=15 {
        b.publish(ValueRef::Int(i)).unwrap();
    }
    assert_eq!(slow.next(ZERO).unwrap(), (Value::Int(12), 12));
    // FROM_OLDEST starts with the oldest retained; FROM_NOW with the next published.
    let mut oldest = b.subscribe(Start::Oldest).unwrap();
    let mut now = b.subscribe(Start::Now).unwrap();
    assert_eq!(oldest.next(ZERO).unwrap(), (Value::Int(12), 12));
    assert_eq!(now.next(ZERO), Err(Error::Timeout));
    b.publish(ValueRef::Int(16)).unwrap();
    assert_eq!(now.next(ZERO).unwrap(), (Value::Int(16), 16));
    assert_eq!(oldest.next(ZERO).unwrap(), (Value::Int(13), 13));
    // An empty bus: FROM_OLDEST gets the first message.
    let e = r.bus("empty", 4, 0).unwrap();
    let mut first = e.subscribe(Start::Oldest).unwrap();
    e.publish(ValueRef::Null).unwrap();
    assert_eq!(first.next(ZERO).unwrap(), (Value::Null, 1));
}

/// Two publishers, three subscribers on their own region handles: every subscriber
/// receives every message, in the same order, numbered as publish said.
#[test]
fn publishers_and_subscribers_share_one_order() {
    let Some(srv) = RedisServer::start("remote bus order") else {
        return;
    };
    let url = srv.url("order");
    const PER: i64 = 1_000;
    let b = open(&url).bus("b", 4096, 0).unwrap();
    let subs: Vec<_> = (0..3)
        .map(|_| {
            open(&url)
                .bus("b", 0, 0)
                .unwrap()
                .subscribe(Start::Now)
                .unwrap()
        })
        .collect();
    let (published, received) = std::thread::scope(|s| {
        let receivers: Vec<_> = subs
            .into_iter()
            .map(|mut sub| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match sub.next(LONG) {
                            Ok((Value::Int(v), seq)) => got.push((v, seq)),
                            Err(Error::Closed) => return got,
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                })
            })
            .collect();
        let publishers: Vec<_> = (0..2)
            .map(|p| {
                let url = &url;
                s.spawn(move || {
                    let b = open(url).bus("b", 0, 0).unwrap();
                    (0..PER)
                        .map(|i| {
                            let v = p * PER + i;
                            (v, b.publish(ValueRef::Int(v)).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let published: HashMap<i64, u64> = publishers
            .into_iter()
            .flat_map(|p| p.join().unwrap())
            .collect();
        b.shutdown().unwrap();
        let received: Vec<Vec<(i64, u64)>> =
            receivers.into_iter().map(|r| r.join().unwrap()).collect();
        (published, received)
    });
    assert_eq!(published.len(), 2 * PER as usize);
    for got in &received {
        assert_eq!(got, &received[0], "one order for every subscriber");
    }
    let got = &received[0];
    let seqs: Vec<u64> = got.iter().map(|&(_, seq)| seq).collect();
    assert_eq!(seqs, (1..=2 * PER as u64).collect::<Vec<_>>());
    for &(v, seq) in got {
        assert_eq!(published[&v], seq, "the number publish returned");
    }
    for p in 0..2 {
        let mine: Vec<i64> = got
            .iter()
            .map(|&(v, _)| v)
            .filter(|v| v / PER == p)
            .collect();
        assert_eq!(mine, (p * PER..(p + 1) * PER).collect::<Vec<_>>());
    }
}

#[test]
fn bus_shutdown_delivers_what_was_published_then_closed() {
    let Some(srv) = RedisServer::start("remote bus shutdown") else {
        return;
    };
    let url = srv.url("busclose");
    let r = open(&url);
    let b = r.bus("b", 8, 0).unwrap();
    let mut sub = b.subscribe(Start::Now).unwrap();
    b.publish(ValueRef::Int(1)).unwrap();
    b.publish(ValueRef::Int(2)).unwrap();
    assert!(!b.is_shutdown().unwrap());
    std::thread::scope(|s| {
        // A subscriber blocked on an empty bus (another region handle) wakes with CLOSED.
        let waiter = s.spawn(|| {
            let b = open(&url).bus("b", 0, 0).unwrap();
            let mut sub = b.subscribe(Start::Now).unwrap();
            sub.next(LONG)
        });
        std::thread::sleep(Duration::from_millis(300));
        b.shutdown().unwrap();
        assert_eq!(waiter.join().unwrap(), Err(Error::Closed));
    });
    assert!(b.is_shutdown().unwrap());
    assert_eq!(b.publish(ValueRef::Int(3)), Err(Error::Closed));
    b.shutdown().unwrap(); // twice is fine
    assert_eq!(b.next_seq().unwrap(), 3);
    assert_eq!(sub.next(ZERO).unwrap(), (Value::Int(1), 1));
    assert_eq!(sub.next(LONG).unwrap(), (Value::Int(2), 2));
    assert_eq!(sub.next(ZERO), Err(Error::Closed));
    assert_eq!(sub.next(LONG), Err(Error::Closed));
    let mut oldest = b.subscribe(Start::Oldest).unwrap();
    assert_eq!(oldest.next(LONG).unwrap(), (Value::Int(1), 1));
    let mut now = b.subscribe(Start::Now).unwrap();
    assert_eq!(now.next(LONG), Err(Error::Closed));
    let again = open(&url).bus("b", 0, 0).unwrap();
    assert!(again.is_shutdown().unwrap());
}

#[test]
fn timeouts_on_an_empty_bus() {
    let Some(srv) = RedisServer::start("remote bus timeouts") else {
        return;
    };
    let r = open(&srv.url("bustime"));
    let b = r.bus("b", 8, 0).unwrap();
    let mut sub = b.subscribe(Start::Now).unwrap();
    assert_eq!(sub.next(ZERO), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(
        sub.next(Some(Duration::from_millis(300))),
        Err(Error::Timeout)
    );
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // A blocked subscriber gets the message as soon as it is published.
    std::thread::scope(|s| {
        let waiter = s.spawn(|| sub.next(LONG));
        std::thread::sleep(Duration::from_millis(100));
        b.publish(ValueRef::String("hello")).unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            Ok((Value::String("hello".into()), 1))
        );
    });
}

// ---- batches (push_many, pop_many) ----

#[test]
fn batches_keep_order_and_stop_where_the_queue_does() {
    let Some(srv) = RedisServer::start("remote queue batches") else {
        return;
    };
    let r = open(&srv.url("batches"));
    for flags in [0, FLAG_LIFO] {
        let q = r.queue(&format!("q{flags}"), 32, flags).unwrap();
        let values = sample_values();
        let refs: Vec<ValueRef<'_>> = values.iter().map(Value::as_ref).collect();
        assert_eq!(q.push_many(&refs, ZERO), (values.len(), Ok(())));
        let mut got = Vec::new();
        while got.len() < values.len() {
            let some = q.pop_many(4, ZERO).unwrap();
            assert!((1..=4).contains(&some.len()));
            got.extend(some);
        }
        let mut want = values.clone();
        if flags == FLAG_LIFO {
            want.reverse();
        }
        assert_same(&got, &want);
        assert_eq!(q.pop_many(4, ZERO), Err(Error::Timeout));

        // Partial: room for 4 of 10; the count says how many went in (the first).
        let small = r.queue(&format!("small{flags}"), 4, flags).unwrap();
        let ints: Vec<ValueRef<'_>> = (0..10).map(ValueRef::Int).collect();
        assert_eq!(small.push_many(&ints, ZERO), (4, Err(Error::Timeout)));
        let t = Instant::now();
        assert_eq!(
            small.push_many(&ints[4..], Some(Duration::from_millis(100))),
            (0, Err(Error::Timeout))
        );
        assert!(t.elapsed() >= Duration::from_millis(100));
        let four = small.pop_many(100, ZERO).unwrap();
        let mut want: Vec<Value> = (0..4).map(Value::Int).collect();
        if flags == FLAG_LIFO {
            want.reverse();
        }
        assert_eq!(four, want);
        assert_eq!(small.push_many(&[], ZERO), (0, Ok(())));
        assert!(matches!(
            small.pop_many(0, ZERO),
            Err(Error::InvalidArgument(_))
        ));
        let bad = [ValueRef::Int(1), ValueRef::Object(&[0xc1])];
        assert!(matches!(
            small.push_many(&bad, ZERO),
            (0, Err(Error::InvalidArgument(_)))
        ));
        assert_eq!(small.len().unwrap(), 0);

        // A batch larger than the queue, popped in batches by another handle as it goes.
        let other = open(&srv.url("batches"))
            .queue(&format!("small{flags}"), 0, 0)
            .unwrap();
        let many: Vec<ValueRef<'_>> = (0..60).map(ValueRef::Int).collect();
        let got = std::thread::scope(|s| {
            let pusher = s.spawn(|| small.push_many(&many, LONG));
            let mut got = Vec::new();
            while got.len() < 60 {
                got.extend(other.pop_many(7, LONG).unwrap());
            }
            assert_eq!(pusher.join().unwrap(), (60, Ok(())));
            got
        });
        let mut ints: Vec<i64> = got
            .iter()
            .map(|v| match v {
                Value::Int(i) => *i,
                other => panic!("{other:?}"),
            })
            .collect();
        if flags == 0 {
            assert_eq!(ints, (0..60).collect::<Vec<_>>());
        }
        ints.sort_unstable();
        assert_eq!(ints, (0..60).collect::<Vec<_>>());

        // Shut down: nothing goes in, pops drain, then CLOSED.
        small.push_many(&many[..2], ZERO).1.unwrap();
        small.shutdown().unwrap();
        assert_eq!(small.push_many(&many, LONG), (0, Err(Error::Closed)));
        assert_eq!(small.pop_many(10, ZERO).unwrap().len(), 2);
        assert_eq!(small.pop_many(10, LONG), Err(Error::Closed));
    }
}

/// Three producers (each with its own region handle, as separate machines would be)
/// push batches of 1 to 24 values through a queue of 16, so batches often wait for room
/// in the middle; one of them pushes every third batch value by value. One consumer
/// pops batches: every value exactly once, and every batch in one run, whole.
#[test]
fn batches_from_many_producers_stay_together() {
    let Some(srv) = RedisServer::start("remote queue batches together") else {
        return;
    };
    let url = srv.url("together");
    let q = open(&url).queue("q", 16, 0).unwrap();
    const BATCHES: i64 = 60;
    let len = |p: i64, b: i64| 1 + (p * 7 + b * 5) % 24;
    let total: i64 = (0..3)
        .map(|p| (0..BATCHES).map(|b| len(p, b)).sum::<i64>())
        .sum();
    let got: Vec<i64> = std::thread::scope(|s| {
        for p in 0..3 {
            let url = &url;
            s.spawn(move || {
                let q = open(url).queue("q", 0, 0).unwrap();
                for b in 0..BATCHES {
                    let vals: Vec<i64> = (0..len(p, b)).map(|i| p << 32 | b << 16 | i).collect();
                    if p == 2 && b % 3 == 0 {
                        // Single pushes: batches of one (ids from 1000 on).
                        for k in 0..len(p, b) {
                            let single = p << 32 | (1000 + b * 32 + k) << 16;
                            q.push(ValueRef::Int(single), LONG).unwrap();
                        }
                    } else {
                        let refs: Vec<_> = vals.iter().map(|v| ValueRef::Int(*v)).collect();
                        assert_eq!(q.push_many(&refs, LONG), (refs.len(), Ok(())));
                    }
                }
            });
        }
        let mut got = Vec::new();
        while (got.len() as i64) < total {
            for v in q.pop_many(5, LONG).unwrap() {
                let Value::Int(v) = v else { panic!("{v:?}") };
                got.push(v);
            }
        }
        got
    });
    let mut k = 0;
    while k < got.len() {
        let (p, b, i) = (got[k] >> 32, (got[k] >> 16) & 0xffff, got[k] & 0xffff);
        assert_eq!(i, 0, "batch {p}.{b} does not start with its first value");
        let n = if b >= 1000 { 1 } else { len(p, b) };
        for j in 0..n {
            assert_eq!(
                got.get(k + j as usize),
                Some(&(p << 32 | b << 16 | j)),
                "batch {p}.{b}"
            );
        }
        k += n as usize;
    }
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len() as i64, total, "a value delivered twice");
}

/// A batch push and a batch pop whose replies never came: retried with the same values
/// (or the same max) from the same thread, they are answered from the stored result.
#[test]
fn a_batch_retried_after_unavailable_is_not_applied_twice() {
    let Some(srv) = RedisServer::start("remote queue batch retry") else {
        return;
    };
    let url = format!("{}?timeout_ms=300", srv.url("batch-retry"));
    let q: Queue = open(&url).queue("q", 8, 0).unwrap();
    let other = open(&url).queue("q", 0, 0).unwrap();
    q.push_many(&[ValueRef::Null], ZERO).1.unwrap();
    q.pop_many(1, ZERO).unwrap();
    let vals = [ValueRef::Int(1), ValueRef::Int(2), ValueRef::Int(3)];

    stop(&srv, libc::SIGSTOP);
    let (n, lost) = q.push_many(&vals, None);
    stop(&srv, libc::SIGCONT);
    assert!(matches!(lost, Err(Error::Unavailable(_))), "{lost:?}");
    assert_eq!(q.push_many(&vals[n..], None), (3 - n, Ok(())));
    assert_eq!(other.len().unwrap(), 3, "the batch went in exactly once");

    stop(&srv, libc::SIGSTOP);
    let lost = q.pop_many(2, None);
    stop(&srv, libc::SIGCONT);
    assert!(matches!(lost, Err(Error::Unavailable(_))), "{lost:?}");
    assert_eq!(q.pop_many(2, ZERO), Ok(vec![Value::Int(1), Value::Int(2)]));
    assert_eq!(other.pop_many(5, ZERO), Ok(vec![Value::Int(3)]));
}

/// A batch that waits for room holds the queue for its producer (no other push lands
/// between its parts); when it gives up (its timeout), the hold ends with it.
#[test]
fn a_batch_that_gives_up_lets_other_producers_in() {
    let Some(srv) = RedisServer::start("remote queue batch hold") else {
        return;
    };
    let url = srv.url("hold");
    let q = open(&url).queue("q", 4, 0).unwrap();
    let other = open(&url).queue("q", 0, 0).unwrap();
    let ints: Vec<ValueRef<'_>> = (0..10).map(ValueRef::Int).collect();
    std::thread::scope(|s| {
        let batch = s.spawn(|| q.push_many(&ints, Some(Duration::from_millis(400))));
        std::thread::sleep(Duration::from_millis(100));
        // Room for one: it goes to the batch (which holds the queue while it waits);
        // a single push meanwhile waits.
        assert_eq!(other.pop(ZERO), Ok(Value::Int(0)));
        assert_eq!(
            other.push(ValueRef::Int(99), Some(Duration::from_millis(100))),
            Err(Error::Timeout)
        );
        assert_eq!(batch.join().unwrap(), (5, Err(Error::Timeout)));
    });
    // The batch gave up: its hold ended with it (a hold left behind would keep the
    // single push below out for 5 s, its attachment being alive).
    assert_eq!(other.pop(ZERO), Ok(Value::Int(1)));
    other.push(ValueRef::Int(99), ZERO).unwrap();
    let rest = other.pop_many(10, ZERO).unwrap();
    assert_eq!(rest, [2, 3, 4, 99].map(Value::Int).to_vec());
}
