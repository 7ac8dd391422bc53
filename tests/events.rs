//! Named events on buses (messages with topics) on shared memory: one order for topic
//! and plain messages, prefix filtering, gaps, bad topics, and the wake-up rule — a
//! subscriber filtering by a prefix is never woken by publishers of other topics —
//! proved with real processes. Kill tests: a publisher killed in the middle of an emit,
//! and one killed after its commit but before it woke anyone.

mod common;

use std::time::Duration;

use common::process::{play_role, role_command, say_ready, spawn_ready, READY};
use common::RegionName;
use plexus::{Error, Region, Start, Value, ValueRef};

fn region(tag: &str) -> (Region, RegionName) {
    common::region(tag, 16 << 20)
}

const ZERO: Option<Duration> = Some(Duration::ZERO);
const LONG: Option<Duration> = Some(Duration::from_secs(30));

#[test]
fn topics_share_one_order_and_prefixes_filter() {
    let (r, _n) = region("evorder");
    let b = r.bus("b", 64, 0).unwrap();
    let mut all = b.subscribe(Start::Now).unwrap();
    let mut jobs = b.subscribe_topic(Start::Now, "job.").unwrap();
    let mut done = b.subscribe_topic(Start::Now, "job.done").unwrap();
    let mut none = b.subscribe_topic(Start::Now, "zzz").unwrap();
    assert!(jobs.has_own_wake_word());
    let sent = [
        ("job.start", 1),
        ("", 2),
        ("user.login", 3),
        ("job.done", 4),
        ("job.done.late", 5),
        ("job", 6),
    ];
    for (i, (t, v)) in sent.iter().enumerate() {
        assert_eq!(b.emit(t, ValueRef::Int(*v)).unwrap(), i as u64 + 1);
    }
    assert_eq!(b.publish(ValueRef::Int(7)).unwrap(), 7);
    for (i, (t, v)) in sent.iter().enumerate() {
        assert_eq!(
            all.next_event(ZERO).unwrap(),
            (t.to_string(), Value::Int(*v), i as u64 + 1)
        );
    }
    assert_eq!(all.next_event(ZERO).unwrap(), ("".into(), Value::Int(7), 7));
    let got: Vec<_> = std::iter::from_fn(|| jobs.next_event(ZERO).ok()).collect();
    assert_eq!(
        got,
        vec![
            ("job.start".to_string(), Value::Int(1), 1),
            ("job.done".to_string(), Value::Int(4), 4),
            ("job.done.late".to_string(), Value::Int(5), 5),
        ]
    );
    assert_eq!(done.next(ZERO).unwrap(), (Value::Int(4), 4));
    assert_eq!(done.next(ZERO).unwrap(), (Value::Int(5), 5));
    assert_eq!(done.next(ZERO), Err(Error::Timeout));
    assert_eq!(none.next(ZERO), Err(Error::Timeout));
    // Long values (in the heap) and topics of the longest length.
    let long_topic = "t".repeat(plexus::MAX_TOPIC_LEN);
    let big = "x".repeat(5000);
    let s = b.emit(&long_topic, ValueRef::String(&big)).unwrap();
    let mut late = b.subscribe_topic(Start::Oldest, "ttt").unwrap();
    assert_eq!(
        late.next_event(ZERO).unwrap(),
        (long_topic.clone(), Value::String(big), s)
    );
}

#[test]
fn a_filtered_subscriber_that_falls_behind_sees_the_gap() {
    let (r, _n) = region("evgap");
    let b = r.bus("b", 4, 0).unwrap();
    let mut a = b.subscribe_topic(Start::Now, "a").unwrap();
    for i in 1..=10 {
        b.emit(if i % 2 == 0 { "a" } else { "b" }, ValueRef::Int(i))
            .unwrap();
    }
    // Messages 7..=10 are retained: of those, 8 and 10 are "a".
    assert_eq!(a.next(ZERO).unwrap(), (Value::Int(8), 8));
    assert_eq!(a.next(ZERO).unwrap(), (Value::Int(10), 10));
    assert_eq!(a.next(ZERO), Err(Error::Timeout));
}

#[test]
fn bad_topics_are_refused_with_a_message() {
    let (r, _n) = region("evbad");
    let b = r.bus("b", 4, 0).unwrap();
    let long = "t".repeat(plexus::MAX_TOPIC_LEN + 1);
    for bad in [long.as_str(), "a\0b"] {
        match b.emit(bad, ValueRef::Int(1)) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("topic"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            b.subscribe_topic(Start::Now, bad),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert_eq!(b.next_seq().unwrap(), 1, "nothing was published");
}

#[test]
fn shutdown_wakes_a_filtered_subscriber() {
    let (r, _n) = region("evclose");
    let b = r.bus("b", 4, 0).unwrap();
    let mut a = b.subscribe_topic(Start::Now, "a.").unwrap();
    b.emit("a.1", ValueRef::Int(1)).unwrap();
    std::thread::scope(|s| {
        let t = s.spawn(move || {
            let first = a.next(LONG).unwrap();
            (first, a.next(None))
        });
        std::thread::sleep(Duration::from_millis(100));
        b.emit("b.1", ValueRef::Int(2)).unwrap();
        b.shutdown().unwrap();
        let (first, second) = t.join().unwrap();
        assert_eq!(first, (Value::Int(1), 1));
        assert_eq!(second, Err(Error::Closed));
    });
}

#[test]
fn a_full_table_falls_back_to_the_bus_word_and_rows_come_back() {
    let (r, _n) = region("evtable");
    let b = r.bus("b", 8, 0).unwrap();
    let mut subs: Vec<_> = (0..plexus::TOPIC_WAITERS)
        .map(|i| b.subscribe_topic(Start::Now, &format!("t{i}.")).unwrap())
        .collect();
    assert!(subs.iter().all(|s| s.has_own_wake_word()));
    let mut extra = b.subscribe_topic(Start::Now, "x.").unwrap();
    assert!(!extra.has_own_wake_word(), "the table is full");
    b.emit("y.1", ValueRef::Int(1)).unwrap();
    b.emit("x.1", ValueRef::Int(2)).unwrap();
    assert_eq!(extra.next(ZERO).unwrap(), (Value::Int(2), 2));
    assert_eq!(subs[5].next(ZERO), Err(Error::Timeout));
    subs.pop();
    let again = b.subscribe_topic(Start::Now, "x.").unwrap();
    assert!(
        again.has_own_wake_word(),
        "a closed subscription gives its row back"
    );
}

// ---- real processes ----

fn child_main(role: &str, region: &str) {
    let r = common::open(region);
    let b = r.bus("b", 0, 0).unwrap();
    match role {
        "listen" => {
            // Waits for one "a." message while other topics are published, and reports
            // how often its sleep was ended by a publisher and how many times its thread
            // went to sleep voluntarily meanwhile.
            let mut sub = b.subscribe_topic(Start::Now, "a.").unwrap();
            let me = std::fs::read_link("/proc/thread-self").unwrap();
            let before = voluntary_switches();
            say_ready();
            println!("THREAD {}", me.display());
            std::io::Write::flush(&mut std::io::stdout()).unwrap();
            let (v, seq) = sub.next(LONG).unwrap();
            let after = voluntary_switches();
            println!(
                "GOT {v:?} {seq} WOKEN {} SWITCHES {}",
                sub.woken_by_publishers(),
                after - before
            );
        }
        "emit" => {
            let p: i64 = std::env::var("PUBLISHER").unwrap().parse().unwrap();
            say_ready();
            for i in 0..PER {
                let topic = TOPICS[(i as usize + p as usize) % TOPICS.len()];
                b.emit(topic, ValueRef::Int(p * 1_000_000 + i)).unwrap();
            }
        }
        "hold-rows" => {
            for i in 0..plexus::TOPIC_WAITERS {
                std::mem::forget(b.subscribe_topic(Start::Now, &format!("h{i}")).unwrap());
            }
            say_ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        "stall-emit" => {
            plexus::test_pause_in_push(Duration::from_secs(3600));
            say_ready();
            b.emit("a.dead", ValueRef::String("never committed"))
                .unwrap();
        }
        "stall-wake" => {
            plexus::test_pause_after_emit(Duration::from_secs(3600));
            say_ready();
            b.emit("a.committed", ValueRef::Int(7)).unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

const PER: i64 = 3_000;
const TOPICS: [&str; 5] = ["a.x", "b.y", "", "a.z", "ab"];

fn voluntary_switches() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    play_role(child_main);
}

/// Reads one line from a child's stdout.
fn line_of(kid: &mut common::process::Kid) -> String {
    use std::io::Read;
    let out = kid.stdout.as_mut().unwrap();
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8];
        if out.read(&mut byte).unwrap() == 0 || byte[0] == b'\n' {
            if line.is_empty() {
                continue;
            }
            return String::from_utf8(line).unwrap();
        }
        line.push(byte[0]);
    }
}

#[test]
fn publishers_of_other_topics_never_wake_a_filtered_subscriber() {
    let (r, n) = region("evwake");
    let b = r.bus("b", 1024, 0).unwrap();
    let mut kid = spawn_ready(&mut role_command("listen", &n), READY);
    let thread = line_of(&mut kid);
    let thread = thread.strip_prefix("THREAD ").unwrap().to_owned();
    // Wait until the listener's thread sleeps in a futex (the one of its row).
    let asleep = || {
        std::fs::read_to_string(format!("/proc/{thread}/wchan"))
            .unwrap_or_default()
            .contains("futex")
    };
    let wait_asleep = || {
        for _ in 0..100_000 {
            if asleep() {
                return;
            }
            std::thread::yield_now();
        }
    };
    // Each publish finds the listener asleep (so a wake-up it caused would be counted).
    for i in 0..10_000 {
        wait_asleep();
        b.emit(if i % 2 == 0 { "b.other" } else { "ab" }, ValueRef::Int(i))
            .unwrap();
    }
    let seq = b.emit("a.hit", ValueRef::Int(-1)).unwrap();
    let report = line_of(&mut kid);
    assert!(kid.wait().unwrap().success(), "{report}");
    let words: Vec<&str> = report.split_whitespace().collect();
    assert_eq!(
        words[..3],
        ["GOT", "Int(-1)", &seq.to_string()[..]],
        "{report}"
    );
    let woken: u64 = words[4].parse().unwrap();
    let switches: u64 = words[6].parse().unwrap();
    // Exactly one publisher moved its wake word: the one of "a.hit". (Its sleeps also
    // end once a second by themselves; those are not counted as woken.)
    assert_eq!(woken, 1, "{report}");
    assert!(
        switches < 1_000,
        "the listener slept and woke {switches} times while 10000 other messages went by"
    );
}

#[test]
fn two_publisher_processes_and_prefix_subscribers_agree_on_one_order() {
    let (r, n) = region("evprocs");
    let b = r.bus("b", 1 << 15, 0).unwrap();
    let prefixes = ["", "a.", "a.x", "ab", "b.", "nothing"];
    let mut subs: Vec<_> = prefixes
        .iter()
        .map(|p| b.subscribe_topic(Start::Now, p).unwrap())
        .collect();
    let kids: Vec<_> = (0..2)
        .map(|p| {
            let mut c = role_command("emit", &n);
            c.env("PUBLISHER", p.to_string());
            spawn_ready(&mut c, READY)
        })
        .collect();
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    let total = 2 * PER as usize;
    let got: Vec<Vec<(String, Value, u64)>> = subs
        .iter_mut()
        .map(|s| std::iter::from_fn(|| s.next_event(ZERO).ok()).collect())
        .collect();
    let all = &got[0];
    assert_eq!(all.len(), total);
    assert!(all.iter().enumerate().all(|(i, e)| e.2 == i as u64 + 1));
    // Each publisher's messages in its order, with the topics it gave them.
    for p in 0..2i64 {
        let mine: Vec<i64> = all
            .iter()
            .filter_map(|(t, v, _)| match v {
                Value::Int(x) if x / 1_000_000 == p => {
                    let i = x % 1_000_000;
                    assert_eq!(t, TOPICS[(i as usize + p as usize) % TOPICS.len()]);
                    Some(i)
                }
                _ => None,
            })
            .collect();
        assert_eq!(mine, (0..PER).collect::<Vec<_>>());
    }
    assert!(
        all.windows(2).any(|w| {
            let (Value::Int(x), Value::Int(y)) = (&w[0].1, &w[1].1) else {
                return false;
            };
            x / 1_000_000 != y / 1_000_000
        }),
        "the two publishers' messages interleave"
    );
    for (p, seen) in prefixes.iter().zip(&got).skip(1) {
        let want: Vec<_> = all.iter().filter(|e| e.0.starts_with(p)).cloned().collect();
        assert_eq!(seen, &want, "prefix {p:?}");
    }
    assert!(got[5].is_empty());
}

#[test]
fn rows_of_a_killed_subscriber_process_are_taken_back() {
    let (r, n) = region("evrows");
    let b = r.bus("b", 8, 0).unwrap();
    let kid = spawn_ready(&mut role_command("hold-rows", &n), READY);
    let full = b.subscribe_topic(Start::Now, "x").unwrap();
    assert!(!full.has_own_wake_word(), "the child holds every row");
    b.emit("h1", ValueRef::Int(1)).unwrap(); // wakes nobody alive; blocks nobody
    kid.sigkill();
    let mut sub = b.subscribe_topic(Start::Now, "x").unwrap();
    assert!(
        sub.has_own_wake_word(),
        "a dead process's row is claimed back"
    );
    b.emit("x", ValueRef::Int(2)).unwrap();
    assert_eq!(sub.next(ZERO).unwrap(), (Value::Int(2), 2));
    drop(full);
}

#[test]
fn a_publisher_killed_mid_emit_blocks_nobody() {
    let (r, n) = region("evkill");
    let b = r.bus("b", 4, 0).unwrap();
    let mut sub = b.subscribe_topic(Start::Now, "a.").unwrap();
    let kid = spawn_ready(&mut role_command("stall-emit", &n), READY);
    std::thread::sleep(Duration::from_millis(300)); // inside the emit, slot 1 BUSY
    assert_eq!(
        sub.next(Some(Duration::from_millis(50))),
        Err(Error::Timeout)
    );
    kid.sigkill();
    // The next publisher takes the lock over and publishes in the dead one's place.
    assert_eq!(b.emit("b.other", ValueRef::Int(1)).unwrap(), 1);
    assert_eq!(b.emit("a.live", ValueRef::Int(2)).unwrap(), 2);
    assert_eq!(
        sub.next_event(ZERO).unwrap(),
        ("a.live".into(), Value::Int(2), 2)
    );
}

#[test]
fn a_publisher_killed_between_commit_and_wake_leaves_nobody_asleep() {
    let (r, n) = region("evwakekill");
    let b = r.bus("b", 4, 0).unwrap();
    let mut sub = b.subscribe_topic(Start::Now, "a.").unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(move || sub.next_event(LONG));
        let kid = spawn_ready(&mut role_command("stall-wake", &n), READY);
        while b.next_seq().unwrap() < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
        kid.sigkill(); // committed, never woke anyone
        assert_eq!(
            waiter.join().unwrap(),
            Ok(("a.committed".into(), Value::Int(7), 1))
        );
    });
}

#[test]
fn the_checker_checks_topics_and_reports_and_repairs_rows_of_dead_subscribers() {
    use plexus::{check, CheckOptions, Verdict};
    let (r, n) = region("evcheck");
    let b = r.bus("b", 8, 0).unwrap();
    b.emit("job.done", ValueRef::String(&"v".repeat(200)))
        .unwrap();
    b.publish(ValueRef::Int(1)).unwrap();
    let clean = check(&n, &CheckOptions { repair: false }).unwrap();
    assert_eq!(clean.verdict(), Verdict::Consistent, "{clean}");
    let kid = spawn_ready(&mut role_command("hold-rows", &n), READY);
    kid.sigkill();
    let report = check(&n, &CheckOptions { repair: false }).unwrap();
    assert!(
        report
            .stale
            .iter()
            .any(|f| f.location.contains("topic prefix 'h0'")),
        "{report}"
    );
    let repaired = check(&n, &CheckOptions { repair: true }).unwrap();
    assert!(repaired.problems.is_empty(), "{repaired}");
    let after = check(&n, &CheckOptions { repair: false }).unwrap();
    assert_eq!(after.verdict(), Verdict::Consistent, "{after}");
    let mut sub = b.subscribe_topic(Start::Oldest, "job.").unwrap();
    assert!(sub.has_own_wake_word());
    assert_eq!(sub.next_event(ZERO).unwrap().0, "job.done");
}
