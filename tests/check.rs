//! Tests of the region checker (`plexus::check`) and of the stale-entry cleanup that
//! opening a region does: real child processes (this test binary re-executed with a
//! role) are SIGKILLed at known points, then the parent checks, repairs and reopens.

mod common;

use std::os::unix::fs::FileExt;
use std::time::Duration;

use common::process::{play_role, role_command, say_ready, spawn_ready, Kid, READY};
use common::{open, RegionName, XorShift};
use plexus::{check, Acquired, CheckOptions, Region, Start, Value, ValueRef, Verdict};

/// A fresh region of 1 MiB, removed when the returned name drops.
fn create(tag: &str) -> (Region, RegionName) {
    common::region(tag, 1 << 20)
}

const PLAIN: CheckOptions = CheckOptions { repair: false };
const REPAIR: CheckOptions = CheckOptions { repair: true };
const LONG: Option<Duration> = Some(Duration::from_secs(10));

fn long(i: usize) -> String {
    format!("a value long enough for the heap, number {i:>6}")
}

/// Fills a region with every kind of object, heap values included.
fn populate(r: &Region) {
    let a = r.array("cells", 8, 0).unwrap();
    a.write_xf(0, ValueRef::String(&long(0))).unwrap();
    a.write_xf(1, ValueRef::Int(7)).unwrap();
    a.write(2, ValueRef::Bytes(b"short")).unwrap();
    a.write_xf(3, ValueRef::Object(&[0x91, 0x01])).unwrap();
    a.write_xf(3, ValueRef::String(&long(3))).unwrap(); // frees the previous blob
    let m = r.map("jobs", 16, 0).unwrap();
    for i in 0..10 {
        let key = format!("key {i} {}", "k".repeat(i * 5)); // some keys live in the heap
        m.write_xf(&key, ValueRef::String(&long(i))).unwrap();
    }
    m.remove("key 3 kkkkkkkkkkkkkkk").unwrap();
    // A removed key too long to be stored inline: the removal log keeps a copy of it.
    let long_key = format!("a removed key longer than 32 bytes {}", "k".repeat(20));
    m.write_xf(&long_key, ValueRef::Int(1)).unwrap();
    m.remove(&long_key).unwrap();
    m.faa("hits", ValueRef::Int(3)).unwrap();
    let q = r.queue("work", 8, 0).unwrap();
    for i in 0..5 {
        q.push(ValueRef::String(&long(i)), LONG).unwrap();
    }
    q.pop(LONG).unwrap();
    let s = r.queue("stack", 4, plexus::FLAG_LIFO).unwrap();
    s.push(ValueRef::String(&long(9)), LONG).unwrap();
    s.push(ValueRef::Int(1), LONG).unwrap();
    let b = r.bus("events", 4, 0).unwrap();
    for i in 0..7 {
        b.publish(ValueRef::String(&"x".repeat(40 + i * 30)))
            .unwrap();
    }
    r.mutex("m").unwrap();
    r.barrier("meet", 3).unwrap();
    let sem = r.semaphore("slots", 2).unwrap();
    sem.acquire(LONG).unwrap();
}

#[test]
fn a_region_with_every_kind_of_object_is_consistent() {
    let (r, n) = create("every");
    populate(&r);
    let report = check(&n, &PLAIN).unwrap();
    assert_eq!(report.verdict(), Verdict::Consistent, "{report}");
    assert_eq!(report.objects.len(), 8, "{report}");
    let kinds: Vec<_> = report.objects.iter().map(|o| o.kind).collect();
    for k in [
        "array",
        "map",
        "queue",
        "stack",
        "bus",
        "mutex",
        "barrier",
        "semaphore",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert_eq!(report.live_processes, 1); // this test's attachment
    assert!(report.heap_used > 0 && report.heap_used < report.heap_size);
    assert_eq!(r.info().unwrap().heap_used, report.heap_used);
    // A checked region is untouched: still usable, nothing changed.
    assert_eq!(
        r.array("cells", 0, 0).unwrap().read(0).unwrap(),
        Value::String(long(0))
    );
    // Repair of a consistent region changes nothing.
    let again = check(&n, &REPAIR).unwrap();
    assert_eq!(again.verdict(), Verdict::Consistent);
    assert!(again.repaired.is_empty(), "{again}");
}

// ---- child processes ----

fn child_main(role: &str, region: &str) {
    let r = open(region);
    match role {
        "idle" => {
            say_ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        "push" => {
            // Dies between allocating the value's heap block and publishing it.
            let q = r.queue("work", 0, 0).unwrap();
            plexus::test_pause_in_push(Duration::from_secs(3600));
            say_ready();
            q.push(ValueRef::String(&long(99)), LONG).unwrap();
        }
        "hold" => {
            let m = r.mutex("m").unwrap();
            assert_eq!(m.lock(LONG).unwrap(), Acquired::Clean);
            let a = r.array("cells", 0, 0).unwrap();
            a.read_rw(0, LONG).unwrap();
            let sem = r.semaphore("slots", 0).unwrap();
            sem.acquire(LONG).unwrap();
            let s = r.queue("stack", 0, plexus::FLAG_LIFO).unwrap();
            plexus::test_pause_in_push(Duration::from_secs(3600));
            say_ready();
            // Holds the stack lock for an hour.
            s.push(ValueRef::String(&long(98)), LONG).unwrap();
        }
        "wait-ef" => {
            // Blocks in write_ef with heap values on a FULL element and a FULL key, and in
            // a plain write on an element a read_rw reader holds, until it is killed.
            let a = r.array("blocked", 0, 0).unwrap();
            let m = r.map("blockedmap", 0, 0).unwrap();
            let t1 = std::thread::spawn({
                let a = a.clone();
                move || a.write_ef(0, ValueRef::String(&long(97)), LONG)
            });
            let t2 = std::thread::spawn({
                let a = a.clone();
                move || a.write(1, ValueRef::String(&long(96)))
            });
            say_ready();
            let _ = m.write_ef(
                "full",
                ValueRef::String(&long(95)),
                Some(Duration::from_secs(3600)),
            );
            let _ = (t1.join(), t2.join());
        }
        "churn" => churn(&r),
        other => panic!("unknown role {other}"),
    }
}

/// Random operations of every kind, heap values and long keys included, forever (the
/// parent kills it at a random moment).
fn churn(r: &Region) {
    let a = r.array("cells", 0, 0).unwrap();
    let m = r.map("jobs", 0, 0).unwrap();
    let q = r.queue("work", 0, 0).unwrap();
    let s = r.queue("stack", 0, plexus::FLAG_LIFO).unwrap();
    let b = r.bus("events", 0, 0).unwrap();
    let mx = r.mutex("m").unwrap();
    let sem = r.semaphore("slots", 0).unwrap();
    let mut rng = XorShift::new(std::process::id() as u64 * 0x9e37_79b9 + 1);
    let short = Some(Duration::from_millis(1));
    say_ready();
    loop {
        let x = rng.next_u64();
        let i = x % 8;
        let text = "v".repeat((x >> 8) as usize % 300);
        let key = format!("key-{}-{}", x % 12, "k".repeat((x >> 16) as usize % 3 * 20));
        let _ = match (x >> 24) % 12 {
            0 => a.write(i, ValueRef::String(&text)).map(drop),
            1 => a.exchange(i, ValueRef::Bytes(text.as_bytes())).map(drop),
            2 => a.faa(i, ValueRef::String("+")).map(drop),
            3 => m.write(&key, ValueRef::String(&text)).map(drop),
            4 => m.remove(&key).map(drop),
            5 => q.push(ValueRef::String(&text), short).map(drop),
            6 => q.pop(short).map(drop),
            7 => s.push(ValueRef::String(&text), short).map(drop),
            8 => s.pop(short).map(drop),
            9 => b.publish(ValueRef::String(&text)).map(drop),
            10 => mx.lock(short).and_then(|_| mx.unlock()),
            _ => a
                .read_rw(i, short)
                .and_then(|_| sem.acquire(short))
                .and_then(|_| sem.release())
                .and_then(|_| a.release_rw(i)),
        };
    }
}

/// Entry point of the child processes (a no-op in a normal test run).
#[test]
fn child_entry() {
    play_role(child_main);
}

/// Starts a child in `role` and lets it reach the pause inside the operation it was
/// started for.
fn spawn(role: &str, region: &str) -> Kid {
    let kid = spawn_fast(role, region);
    std::thread::sleep(Duration::from_millis(300));
    kid
}

/// `spawn` without the pause: the child is killed in the middle of whatever it does.
fn spawn_fast(role: &str, region: &str) -> Kid {
    spawn_ready(&mut role_command(role, region), READY)
}

#[test]
fn a_block_leaked_by_a_killed_producer_is_found_and_reclaimed_when_nobody_else_is_attached() {
    let (r, n) = create("leak");
    populate(&r);
    let used_before = r.info().unwrap().heap_used;
    drop(r);
    let producer = spawn("push", &n);
    producer.sigkill();

    let report = check(&n, &PLAIN).unwrap();
    assert_eq!(report.verdict(), Verdict::Reclaimable, "{report}");
    assert_eq!(report.live_processes, 0);
    assert_eq!(report.leaks.len(), 1, "{report}");
    assert_eq!(
        report.leaks[0].reason,
        "allocated, but nothing references it"
    );
    assert_eq!(report.dead_processes().count(), 1);
    assert!(
        report.stale.iter().any(
            |s| s.location.starts_with("queue 'work' slot") && s.message.contains("unfinished")
        ),
        "{report}"
    );
    assert!(report.to_string().contains("leaked heap blocks: 1"));

    // Another process attached: repair cleans stale entries but leaves the leak.
    let idle = spawn("idle", &n);
    let partial = check(&n, &REPAIR).unwrap();
    let why = partial
        .repair_skipped
        .clone()
        .expect("repair must not reclaim");
    assert!(why.contains(&idle.id().to_string()), "{why}");
    assert_eq!(partial.leaks.len(), 1, "{partial}");
    assert_eq!(partial.live_processes, 1);
    assert!(partial.stale.is_empty(), "{partial}");
    assert_eq!(partial.verdict(), Verdict::Reclaimable);
    idle.sigkill();

    let fixed = check(&n, &REPAIR).unwrap();
    assert_eq!(fixed.verdict(), Verdict::Consistent, "{fixed}");
    assert!(fixed.repair_skipped.is_none());
    assert!(
        fixed
            .repaired
            .iter()
            .any(|s| s.contains("reclaimed 1 leaked")),
        "{fixed}"
    );
    assert_eq!(fixed.heap_used, used_before);

    // The region works, and the reclaimed block is handed out again.
    let r = open(&n);
    assert_eq!(r.info().unwrap().heap_used, used_before);
    let q = r.queue("work", 0, 0).unwrap();
    q.push(ValueRef::String(&long(100)), LONG).unwrap();
    let top = check(&n, &PLAIN).unwrap();
    assert_eq!(top.verdict(), Verdict::Consistent, "{top}");
    assert_eq!(
        top.heap_untouched, fixed.heap_untouched,
        "reused, not bumped"
    );
    for i in 1..5 {
        assert_eq!(q.pop(LONG).unwrap(), Value::String(long(i)));
    }
    assert_eq!(q.pop(LONG).unwrap(), Value::String(long(100)));
}

#[test]
fn a_writer_killed_while_it_waits_leaks_no_heap_block() {
    let (r, n) = create("waitleak");
    let a = r.array("blocked", 2, 0).unwrap();
    a.write_xf(0, ValueRef::String(&long(1))).unwrap();
    a.write_xf(1, ValueRef::Int(7)).unwrap();
    a.read_rw(1, LONG).unwrap(); // held by this process while the child waits
    let m = r.map("blockedmap", 8, 0).unwrap();
    m.write_xf("full", ValueRef::String(&long(2))).unwrap();
    let child = spawn("wait-ef", &n);
    child.sigkill();
    a.release_rw(1).unwrap();
    drop((a, m, r));

    let report = check(&n, &PLAIN).unwrap();
    assert!(
        report.leaks.is_empty(),
        "a waiting writer leaked:\n{report}"
    );
    assert_ne!(report.verdict(), Verdict::Corrupt, "{report}");
    let r = open(&n);
    let a = r.array("blocked", 0, 0).unwrap();
    assert_eq!(a.read_fe(0, LONG).unwrap(), Value::String(long(1)));
    assert_eq!(a.read(1).unwrap(), Value::Int(7));
    let m = r.map("blockedmap", 0, 0).unwrap();
    assert_eq!(m.read("full").unwrap(), Value::String(long(2)));
}

#[test]
fn opening_clears_what_a_killed_process_held() {
    let (r, n) = create("stale");
    populate(&r);
    let sem = r.semaphore("slots", 0).unwrap();
    assert_eq!(sem.available().unwrap(), 1);
    drop(sem);
    drop(r);
    let holder = spawn("hold", &n);
    let pid = holder.id();
    holder.sigkill();

    let report = check(&n, &PLAIN).unwrap();
    assert_eq!(report.verdict(), Verdict::Reclaimable, "{report}");
    let dead: Vec<_> = report.dead_processes().map(|p| p.pid).collect();
    assert_eq!(dead, [pid]);
    assert_eq!(report.processes[0].read_locks, 1);
    let held: Vec<_> = report.locks.iter().map(|l| l.location.as_str()).collect();
    assert!(held.contains(&"mutex 'm'"), "{report}");
    assert!(held.contains(&"stack 'stack'"), "{report}");
    assert!(report.locks.iter().all(|l| !l.alive && l.pid == Some(pid)));
    let stale = report.to_string();
    assert!(stale.contains("read_rw holders"), "{stale}");
    assert!(
        stale.contains(&format!("permit(s) held by process {pid}, which died")),
        "{stale}"
    );

    // A later open clears the dead process's entry and everything it held.
    let r = open(&n);
    assert_eq!(r.info().unwrap().attached_processes, 1);
    drop(r);
    let after = check(&n, &PLAIN).unwrap();
    assert!(after.locks.is_empty(), "{after}");
    assert!(after.stale.is_empty(), "{after}");
    assert_eq!(after.dead_processes().count(), 0);
    // What remains is the unfinished stack push's value block: a leak for repair.
    assert_eq!(after.verdict(), Verdict::Reclaimable, "{after}");
    assert_eq!(after.leaks.len(), 1, "{after}");

    let r = open(&n);
    // The mutex is free, and its next locker still learns that its holder died.
    let m = r.mutex("m").unwrap();
    assert!(!m.is_locked().unwrap());
    assert_eq!(m.lock(Some(Duration::ZERO)).unwrap(), Acquired::Recovered);
    m.unlock().unwrap();
    assert_eq!(m.lock(Some(Duration::ZERO)).unwrap(), Acquired::Clean);
    m.unlock().unwrap();
    // No reader holds element 0 any more: a write that waits for readers goes through.
    let a = r.array("cells", 0, 0).unwrap();
    a.write_xf(0, ValueRef::Int(5)).unwrap();
    // The permits came back (the dead child's and the closed handle's), and the stack
    // lock is free.
    let sem = r.semaphore("slots", 0).unwrap();
    assert_eq!(sem.available().unwrap(), 2);
    let s = r.queue("stack", 0, plexus::FLAG_LIFO).unwrap();
    s.push(ValueRef::Int(3), Some(Duration::ZERO)).unwrap();
    assert_eq!(s.len().unwrap(), 3);
    drop((m, a, sem, s, r));
    let fixed = check(&n, &REPAIR).unwrap();
    assert_eq!(fixed.verdict(), Verdict::Consistent, "{fixed}");
}

// ---- damage ----

fn overwrite(path: &std::path::Path, at: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

#[test]
fn damaged_bytes_are_reported_with_their_place_and_never_repaired() {
    let (r, n) = create("damage");
    populate(&r);
    let path = r.path().to_owned();
    drop(r);
    let clean = check(&n, &PLAIN).unwrap();
    let cells = clean.objects.iter().find(|o| o.name == "cells").unwrap();
    // Element 1's live value slot (INT 7): give it an impossible type.
    let elem1 = cells.offset + 64 + 64;
    let live1 = live_slot(&path, elem1);
    overwrite(&path, live1, &(0xEEu64 << 56).to_ne_bytes());
    let bad = check(&n, &PLAIN).unwrap();
    assert_eq!(bad.verdict(), Verdict::Corrupt, "{bad}");
    assert!(
        bad.problems
            .iter()
            .any(|p| p.location == "array 'cells' element 1" && p.message.contains("type")),
        "{bad}"
    );
    assert!(bad.to_string().contains("CORRUPT: array 'cells' element 1"));
    // Repair refuses to touch it.
    let bytes = std::fs::read(&path).unwrap();
    let refused = check(&n, &REPAIR).unwrap();
    assert_eq!(refused.verdict(), Verdict::Corrupt);
    assert!(refused.repair_skipped.is_some());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // A heap value's pointer moved into the middle of a block.
    overwrite(&path, live1, &((Type::Int as u64) << 56).to_ne_bytes());
    assert!(check(&n, &PLAIN).unwrap().problems.is_empty());
    let slot = live_slot(&path, cells.offset + 64);
    let payload = bytes_at(&path, slot + 8);
    overwrite(&path, slot + 8, &(payload + 16).to_ne_bytes());
    let bad = check(&n, &PLAIN).unwrap();
    assert!(
        bad.problems
            .iter()
            .any(|p| p.location == "array 'cells' element 0"
                && p.message.contains("not the start of a heap block")),
        "{bad}"
    );
    // The block it really belonged to is now unreferenced: reported as a leak too.
    assert_eq!(bad.leaks.len(), 1, "{bad}");
}

/// The `meta` word of an element's live value slot (bit 1 of its tag says which).
fn live_slot(path: &std::path::Path, elem: u64) -> u64 {
    let tag = bytes_at(path, elem) >> 32; // lock (4 bytes), then tag
    elem + 24 + 16 * ((tag & 2) >> 1)
}

fn bytes_at(path: &std::path::Path, at: u64) -> u64 {
    let f = std::fs::File::open(path).unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, at).unwrap();
    u64::from_ne_bytes(b)
}

use plexus::Type;

#[test]
fn random_damage_never_crashes_the_checker() {
    let (r, _n) = create("fuzz");
    populate(&r);
    let path = r.path().to_owned();
    drop(r);
    let pristine = std::fs::read(&path).unwrap();
    let copy_name = RegionName::new("fuzz-copy");
    let copy = copy_name.path();
    // Damage the interesting part: header page, directory, and the start of the heap.
    let hot = 160 * 1024;
    let mut rng = XorShift::new(0x9e37_79b9_7f4a_7c15);
    let mut verdicts = [0usize; 4];
    for round in 0..300 {
        let mut bytes = pristine.clone();
        for _ in 0..(1 + round % 8) {
            let at = rng.below(hot) as usize;
            bytes[at] = rng.next_u64() as u8;
        }
        std::fs::write(&copy, &bytes).unwrap();
        match check(&copy, &PLAIN) {
            Ok(rep) => {
                verdicts[rep.verdict() as usize] += 1;
                let _ = rep.to_string();
            }
            Err(_) => verdicts[3] += 1,
        }
    }
    // Some damage must have been seen (most single bytes land in unused space).
    assert!(verdicts[Verdict::Corrupt as usize] > 0, "{verdicts:?}");
    // Files that are not regions at all.
    std::fs::write(&copy, b"not a region").unwrap();
    assert_eq!(check(&copy, &PLAIN).unwrap().verdict(), Verdict::Corrupt);
    std::fs::write(&copy, vec![0u8; 8192]).unwrap();
    let rep = check(&copy, &PLAIN).unwrap();
    assert_eq!(rep.verdict(), Verdict::Corrupt);
    assert!(rep.problems[0].message.contains("magic"), "{rep}");
    std::fs::write(&copy, &pristine[..pristine.len() / 2]).unwrap();
    assert_eq!(check(&copy, &PLAIN).unwrap().verdict(), Verdict::Corrupt);
    assert!(matches!(
        check(&format!("{copy}-absent"), &PLAIN),
        Err(plexus::Error::NotFound(_))
    ));
}

#[test]
fn a_subscriber_view_is_unchanged_by_checks() {
    // The bus retains the newest messages; a check reads them without disturbing.
    let (r, n) = create("bus");
    let b = r.bus("b", 2, 0).unwrap();
    b.publish(ValueRef::String(&"y".repeat(300))).unwrap();
    b.publish(ValueRef::Int(2)).unwrap();
    let mut sub = b.subscribe(Start::Oldest).unwrap();
    assert_eq!(check(&n, &PLAIN).unwrap().verdict(), Verdict::Consistent);
    assert_eq!(sub.next(LONG).unwrap().0, Value::String("y".repeat(300)));
}

#[test]
fn after_a_storm_of_kills_the_region_is_consistent_except_reclaimable_and_repair_fixes_it() {
    let (r, n) = create("storm");
    drop(r);
    {
        let r = open(&n);
        populate(&r);
        r.semaphore("slots", 0).unwrap().release().unwrap_or(());
    }
    let mut seed = 12345u64;
    for round in 0..60 {
        let mut kids: Vec<Kid> = (0..2).map(|_| spawn_fast("churn", &n)).collect();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(2 + (seed >> 33) % 40));
        for k in kids.drain(..) {
            k.sigkill();
        }
        if round % 10 == 9 {
            let report = check(&n, &PLAIN).unwrap();
            assert_ne!(
                report.verdict(),
                Verdict::Corrupt,
                "round {round}: {report}"
            );
        }
    }
    let report = check(&n, &PLAIN).unwrap();
    // The last two children died attached: at least their entries are stale.
    assert_eq!(report.verdict(), Verdict::Reclaimable, "{report}");
    assert!(report.dead_processes().count() >= 2, "{report}");
    let fixed = check(&n, &REPAIR).unwrap();
    assert_eq!(fixed.verdict(), Verdict::Consistent, "{report}\n{fixed}");
    // Everything still works.
    let r = open(&n);
    let q = r.queue("work", 0, 0).unwrap();
    while q.pop(Some(Duration::ZERO)).is_ok() {}
    q.push(ValueRef::String(&long(1)), LONG).unwrap();
    assert_eq!(q.pop(LONG).unwrap(), Value::String(long(1)));
    let m = r.mutex("m").unwrap();
    m.lock(LONG).unwrap();
    m.unlock().unwrap();
    r.map("jobs", 0, 0)
        .unwrap()
        .write("hits", ValueRef::Int(1))
        .unwrap();
    drop((q, m, r));
    assert_eq!(check(&n, &PLAIN).unwrap().verdict(), Verdict::Consistent);
}

#[test]
fn checks_while_processes_work_do_not_report_corruption() {
    let (r, n) = create("live");
    drop(r);
    {
        let r = open(&n);
        populate(&r);
        r.semaphore("slots", 0).unwrap().release().unwrap_or(());
    }
    let mut kids: Vec<Kid> = (0..2).map(|_| spawn_fast("churn", &n)).collect();
    let mut seen_live = 0;
    for _ in 0..40 {
        let report = check(&n, &PLAIN).unwrap();
        assert_ne!(report.verdict(), Verdict::Corrupt, "{report}");
        seen_live = seen_live.max(report.live_processes);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen_live, 2);
    for k in kids.drain(..) {
        k.sigkill();
    }
    let fixed = check(&n, &REPAIR).unwrap();
    assert_eq!(fixed.verdict(), Verdict::Consistent, "{fixed}");
}

/// An internal lock word that names a live attachment which does not hold it (a damaged
/// or hostile file): a call that needs the lock ends with CORRUPT after the internal
/// locks' patience (a few seconds), instead of waiting for ever.
#[test]
fn an_internal_lock_named_by_a_live_process_that_does_not_hold_it_gives_corrupt() {
    let (r, _n) = create("stuck-lock");
    let path = r.path().to_owned();
    // Our own attachment's token: its process-table entry (4096 + slot * 256) holds
    // `generation << 32 | pid`; the token is `(generation & GEN_MASK) << 10 | slot + 1`.
    let f = std::fs::File::open(&path).unwrap();
    let token = (0..512u64)
        .find_map(|slot| {
            let mut w = [0u8; 8];
            f.read_exact_at(&mut w, 4096 + slot * 256).unwrap();
            let w = u64::from_ne_bytes(w);
            (w as u32 == std::process::id())
                .then(|| (((w >> 32) as u32 & ((1 << 20) - 1)) << 10) | (slot as u32 + 1))
        })
        .expect("our process-table entry");
    // The directory lock (the live header's second word, at 128 + 4), taken by no one.
    overwrite(&path, 132, &token.to_ne_bytes());
    let t = std::time::Instant::now();
    let got = r.array("needs-the-directory", 1, 0).map(|_| ());
    assert!(
        matches!(got, Err(plexus::Error::Corrupt(_))),
        "{got:?} after {:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() >= Duration::from_secs(4),
        "gave up before the patience"
    );
}

/// A map made before change tracking (its layout word is 0: simulated by clearing it in
/// the file) still opens and works key by key; the map-wide calls say Unsupported, with
/// the way out in the message.
#[test]
fn a_map_without_change_tracking_opens_and_map_wide_calls_are_unsupported() {
    let (r, n) = create("oldmap");
    let m = r.map("old", 8, 0).unwrap();
    m.write("k", ValueRef::Int(1)).unwrap();
    let body = r
        .objects()
        .unwrap()
        .into_iter()
        .find(|o| o.name == "old")
        .unwrap()
        .offset;
    drop(m);
    drop(r);
    // The map header follows the 64-byte object header; its layout word is at +12.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(common::shm_path(&n))
        .unwrap();
    let at = body + 64 + 12;
    let mut word = [0u8; 4];
    file.read_exact_at(&mut word, at).unwrap();
    assert_eq!(u32::from_le_bytes(word), 1, "the layout word of a new map");
    file.write_all_at(&0u32.to_le_bytes(), at).unwrap();
    let r = open(&n);
    let m = r.map("old", 0, 0).unwrap();
    assert_eq!(m.read("k"), Ok(Value::Int(1)));
    m.write("k2", ValueRef::Int(2)).unwrap();
    let mut seen = 0;
    assert_eq!(
        m.watch("k2", &mut seen, Some(Duration::ZERO)),
        Ok(Value::Int(2))
    );
    m.remove("k2").unwrap();
    common::observe::assert_map_wide_unsupported([
        m.change_count().map(drop),
        m.wait_changes(&mut 0, Some(Duration::ZERO)),
        m.changes(0, &mut 0, 10).map(drop),
    ]);
}
