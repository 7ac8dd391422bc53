//! Removing objects from a shared-memory region: every handle learns it, blocked waiters
//! wake, the name is free at once, and the memory comes back once no process can still
//! be reading it (also when holders are killed).

mod common;

use std::io::Read;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::process::{play_role, role_command, say_ready, spawn_ready, READY};
use common::RegionName;
use plexus::{Error, Region, Start, ValueRef};

fn small(tag: &str) -> (Region, RegionName) {
    common::region(tag, 8 << 20)
}

fn removed<T>(r: plexus::Result<T>) -> bool {
    matches!(r, Err(Error::Removed(_)))
}

#[test]
fn child_entry() {
    play_role(|role, region| {
        let r = common::open(region);
        match role {
            // Holds a map with big values open, then waits to be killed.
            "holder" => {
                let m = r.map("big", 64, 0).unwrap();
                m.read("k0").unwrap();
                say_ready();
                thread::sleep(Duration::from_secs(600));
            }
            // Blocks in pop on queue 'q' and reports how it ended.
            "popper" => {
                let q = r.queue("q", 4, 0).unwrap();
                say_ready();
                match q.pop(Some(Duration::from_secs(30))) {
                    Err(Error::Removed(_)) => println!("POP-REMOVED"),
                    other => println!("POP-OTHER {other:?}"),
                }
                // The old handle stays removed; the name opens the new object.
                assert!(removed(q.len()));
                let a = r.array("q", 0, 0).unwrap();
                println!("REOPENED {}", a.len());
            }
            other => panic!("unknown role {other}"),
        }
    });
}

#[test]
fn every_kind_learns_it_was_removed_and_the_name_is_free_at_once() {
    let (r, _n) = small("rm-kinds");
    let a = r.array("a", 4, 0).unwrap();
    let m = r.map("m", 4, 0).unwrap();
    let q = r.queue("q", 4, 0).unwrap();
    let b = r.bus("b", 4, 0).unwrap();
    let mx = r.mutex("mx").unwrap();
    let ba = r.barrier("ba", 2).unwrap();
    let s = r.semaphore("s", 2).unwrap();
    a.write(0, ValueRef::String(&"x".repeat(100))).unwrap();
    m.write("k", ValueRef::Int(1)).unwrap();
    q.push(ValueRef::String(&"y".repeat(100)), None).unwrap();
    b.publish(ValueRef::Int(3)).unwrap();
    for name in ["a", "m", "q", "b", "mx", "ba", "s"] {
        r.remove_object(name).unwrap();
    }
    assert!(removed(a.read(0)));
    assert!(removed(a.write(1, ValueRef::Int(1))));
    assert!(removed(m.read("k")));
    assert!(removed(m.len()));
    assert!(removed(q.push(ValueRef::Int(1), None)));
    assert!(removed(q.pop(Some(Duration::ZERO))));
    assert!(removed(b.publish(ValueRef::Int(1))));
    assert!(matches!(b.subscribe(Start::Oldest), Err(Error::Removed(_))));
    assert!(removed(mx.lock(None)));
    assert!(removed(ba.wait(Some(Duration::ZERO))));
    assert!(removed(s.acquire(Some(Duration::ZERO))));
    assert!(r.objects().unwrap().is_empty());
    assert!(matches!(r.remove_object("a"), Err(Error::NotFound(_))));
    // Names come back as new objects of any kind.
    let q2 = r.array("q", 3, 0).unwrap();
    assert_eq!(q2.len(), 3);
    assert_eq!(q2.read(0).unwrap(), plexus::Value::Undefined);
    let a2 = r.queue("a", 2, 0).unwrap();
    a2.push(ValueRef::Int(7), None).unwrap();
    assert_eq!(a2.pop(None).unwrap(), plexus::Value::Int(7));
    // The old handles stay removed even though the names exist again.
    assert!(removed(q.len()));
    assert!(removed(a.read(0)));
    // Other objects were not disturbed by any of it.
    let names: Vec<String> = r.objects().unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(names, ["a", "q"]);
}

#[test]
fn memory_comes_back_when_the_last_handle_goes() {
    let (r, _n) = small("rm-heap");
    let base = r.info().unwrap().heap_used;
    let big = "z".repeat(20_000);
    for round in 0..20 {
        let m = r.map("m", 64, 0).unwrap();
        for k in 0..40 {
            m.write(
                &format!("key number {k} long enough for the heap"),
                ValueRef::String(&big),
            )
            .unwrap();
        }
        let q = r.queue("q", 16, 0).unwrap();
        for _ in 0..10 {
            q.push(ValueRef::String(&big), None).unwrap();
        }
        let during = r.info().unwrap().heap_used;
        assert!(during > base + 40 * 20_000, "round {round}: {during}");
        r.remove_object("m").unwrap();
        r.remove_object("q").unwrap();
        // Still held by `m` and `q`: not reclaimed yet, and they only say Removed.
        assert!(r.info().unwrap().heap_used >= during - 4096);
        assert!(removed(m.read("key number 0 long enough for the heap")));
        drop(m);
        drop(q);
        let after = r.info().unwrap().heap_used;
        assert!(
            after <= base + 4096,
            "round {round}: {after} bytes in use, {base} before"
        );
    }
}

#[test]
fn blocked_waiters_wake_with_removed() {
    let (r, _n) = small("rm-wake");
    let a = r.array("a", 1, 0).unwrap();
    let m = r.map("m", 4, 0).unwrap();
    let q = r.queue("q", 1, 0).unwrap();
    let full = r.queue("full", 1, 0).unwrap();
    full.push(ValueRef::Int(1), None).unwrap();
    let b = r.bus("b", 4, 0).unwrap();
    let mx = r.mutex("mx").unwrap();
    let ba = r.barrier("ba", 2).unwrap();
    let s = r.semaphore("s", 1).unwrap();
    s.acquire(None).unwrap();
    let (tx, rx) = mpsc::channel::<(&str, bool)>();
    let long = Some(Duration::from_secs(30));
    let mut sub = b.subscribe(Start::Now).unwrap();
    let locker = r.mutex("mx").unwrap();
    let (locked_tx, locked_rx) = mpsc::channel();
    let holder = thread::spawn(move || {
        locker.lock(None).unwrap();
        locked_tx.send(()).unwrap();
        thread::sleep(Duration::from_secs(2));
        let _ = locker.unlock();
    });
    locked_rx.recv().unwrap();
    let mut waiters = Vec::new();
    macro_rules! waiter {
        ($name:expr, $obj:ident, $call:expr) => {{
            let tx = tx.clone();
            let $obj = $obj.clone();
            waiters.push(thread::spawn(move || {
                let got = $call;
                tx.send(($name, removed(got))).unwrap();
            }));
        }};
    }
    waiter!("read_fe", a, a.read_fe(0, long));
    waiter!("wait_change", m, m.wait_change("k", &mut 0, long));
    waiter!("pop", q, q.pop(long));
    waiter!("push", full, full.push(ValueRef::Int(2), long));
    waiter!("lock", mx, mx.lock(long));
    waiter!("barrier", ba, ba.wait(long));
    waiter!("acquire", s, s.acquire(long));
    {
        let tx = tx.clone();
        waiters.push(thread::spawn(move || {
            let got = sub.next(long);
            tx.send(("bus next", removed(got))).unwrap();
        }));
    }
    thread::sleep(Duration::from_millis(200));
    for name in ["a", "m", "q", "full", "b", "mx", "ba", "s"] {
        r.remove_object(name).unwrap();
    }
    for _ in 0..waiters.len() {
        let (name, was_removed) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(was_removed, "{name} did not end with Removed");
    }
    for w in waiters {
        w.join().unwrap();
    }
    holder.join().unwrap();
}

#[test]
fn another_process_blocked_in_pop_learns_it_and_reopens_the_name() {
    let n = RegionName::new("rm-proc");
    let r = common::create(n.as_str(), 8 << 20);
    r.queue("q", 4, 0).unwrap();
    let mut kid = spawn_ready(&mut role_command("popper", n.as_str()), READY);
    thread::sleep(Duration::from_millis(100));
    r.remove_object("q").unwrap();
    r.array("q", 5, 0).unwrap();
    // The child's pop has a 30 s limit of its own: this read ends either way.
    let mut out = String::new();
    kid.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(kid.wait().unwrap().success(), "{out}");
    assert!(out.contains("POP-REMOVED"), "{out}");
    assert!(out.contains("REOPENED 5"), "{out}");
}

#[test]
fn a_killed_holder_does_not_keep_the_memory() {
    let n = RegionName::new("rm-kill");
    let r = common::create(n.as_str(), 8 << 20);
    let base = r.info().unwrap().heap_used;
    {
        let m = r.map("big", 64, 0).unwrap();
        for k in 0..20 {
            m.write(&format!("k{k}"), ValueRef::String(&"v".repeat(50_000)))
                .unwrap();
        }
    }
    let kid = spawn_ready(&mut role_command("holder", n.as_str()), READY);
    r.remove_object("big").unwrap();
    // The child still holds it: nothing is freed under it.
    assert!(r.info().unwrap().heap_used > base + 20 * 50_000);
    kid.sigkill();
    // The next attachment sweeps what the dead process held.
    let again = common::open(n.as_str());
    let after = again.info().unwrap().heap_used;
    assert!(after <= base + 4096, "{after} bytes in use, {base} before");
    let m = again.map("big", 8, 0).unwrap();
    assert!(m.is_empty().unwrap());
}
