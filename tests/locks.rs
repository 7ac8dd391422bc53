//! Tests of the engine's locks: mutexes, barriers and semaphores, within one process
//! (threads, and several region handles standing in for several processes: a closed
//! region handle is a dead owner). Processes killed with SIGKILL are tested in
//! tests/ffi.rs with the C programs.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::open as reopen; // another attachment: what another process would have
use common::RegionName;
use plexus::{Acquired, Error, OpenMode, OpenOptions, Region};

/// A fresh region of 1 MiB, removed when the returned name drops.
fn region(tag: &str) -> (Region, RegionName) {
    common::region(tag, 1 << 20)
}

const ZERO: Option<Duration> = Some(Duration::ZERO);
const SHORT: Option<Duration> = Some(Duration::from_millis(30));
const LONG: Option<Duration> = Some(Duration::from_secs(10));

fn invalid(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

// ---- open rules ----

#[test]
fn open_rules_for_every_lock_kind() {
    let (r, _n) = region("open");
    r.array("arr", 1, 0).unwrap();
    assert!(matches!(r.mutex("arr"), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.barrier("arr", 2), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.barrier("arr", 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.semaphore("arr", 2), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.semaphore("arr", 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.mutex(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        r.mutex(&"x".repeat(97)),
        Err(Error::InvalidArgument(_))
    ));

    let m = r.mutex("m").unwrap();
    assert_eq!(m.name(), "m");
    assert!(matches!(r.array("m", 1, 0), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.semaphore("m", 1), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.queue("m", 1, 0), Err(Error::TypeMismatch(_))));

    assert!(matches!(r.barrier("b", 0), Err(Error::NotFound(_))));
    let b = r.barrier("b", 3).unwrap();
    assert_eq!(b.parties(), 3);
    assert_eq!(r.barrier("b", 0).unwrap().parties(), 3);
    assert!(matches!(r.barrier("b", 4), Err(Error::Incompatible(_))));
    assert!(matches!(r.mutex("b"), Err(Error::TypeMismatch(_))));

    assert!(matches!(r.semaphore("s", 0), Err(Error::NotFound(_))));
    let s = r.semaphore("s", 5).unwrap();
    assert_eq!((s.permits(), s.available().unwrap()), (5, 5));
    assert_eq!(r.semaphore("s", 0).unwrap().permits(), 5);
    assert!(matches!(r.semaphore("s", 6), Err(Error::Incompatible(_))));
    assert!(matches!(r.barrier("s", 5), Err(Error::TypeMismatch(_))));

    // Large counts are fine (the holder table is capped at the number of attachments).
    let big = r.semaphore("big", u32::MAX).unwrap();
    assert_eq!(big.available().unwrap(), u32::MAX);
    big.acquire(ZERO).unwrap();
    assert_eq!(big.available().unwrap(), u32::MAX - 1);
    big.release().unwrap();
    assert_eq!(r.barrier("many", u32::MAX).unwrap().parties(), u32::MAX);

    // Another attachment sees the same objects.
    let r2 = reopen(r.name());
    assert_eq!(r2.semaphore("s", 0).unwrap().permits(), 5);
    assert_eq!(r2.barrier("b", 3).unwrap().parties(), 3);
    r2.mutex("m").unwrap();
}

// ---- mutex ----

#[test]
fn mutex_lock_unlock_and_ownership_rules() {
    let (r, n) = region("mutex");
    let m = r.mutex("m").unwrap();
    assert!(!m.is_locked().unwrap());
    assert_eq!(m.lock(ZERO).unwrap(), Acquired::Clean);
    assert!(m.is_locked().unwrap());
    // The holder locking again: an error, not a deadlock (with any timeout).
    let msg = invalid(m.lock(None));
    assert!(msg.contains("already holds"), "{msg}");
    invalid(m.lock(ZERO));
    // A second handle of the same attachment and thread is the same owner.
    let m_again = r.mutex("m").unwrap();
    invalid(m_again.lock(SHORT));
    // Another thread can neither lock nor unlock it.
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(m.lock(ZERO), Err(Error::Timeout));
            assert_eq!(m.lock(SHORT), Err(Error::Timeout));
            let msg = invalid(m.unlock());
            assert!(msg.contains("another thread"), "{msg}");
        });
    });
    // Another attachment (process) neither.
    let r2 = reopen(&n);
    let m2 = r2.mutex("m").unwrap();
    assert_eq!(m2.lock(SHORT), Err(Error::Timeout));
    let msg = invalid(m2.unlock());
    assert!(msg.contains("another process"), "{msg}");
    // Still ours.
    m.unlock().unwrap();
    assert!(!m.is_locked().unwrap());
    let msg = invalid(m.unlock());
    assert!(msg.contains("not locked"), "{msg}");
    // Now the other attachment gets it, and we wait for it.
    assert_eq!(m2.lock(ZERO).unwrap(), Acquired::Clean);
    assert_eq!(m.lock(ZERO), Err(Error::Timeout));
    invalid(m.unlock());
    m2.unlock().unwrap();
    assert_eq!(m.lock(ZERO).unwrap(), Acquired::Clean);
    m.unlock().unwrap();
    assert!(matches!(
        m.lock(Some(Duration::from_nanos(1))),
        Ok(Acquired::Clean)
    ));
    m.unlock().unwrap();
}

#[test]
fn mutex_excludes_threads_of_several_attachments_and_wakes_sleepers() {
    let (r, n) = region("mutex-threads");
    let counter = Arc::new(AtomicU64::new(0));
    let inside = Arc::new(AtomicU32::new(0));
    const PER_THREAD: u64 = 20_000;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            // Two threads per attachment.
            let region = if t % 2 == 0 { r.clone() } else { reopen(&n) };
            let (counter, inside) = (counter.clone(), inside.clone());
            std::thread::spawn(move || {
                let m = region.mutex("m").unwrap();
                for i in 0..PER_THREAD {
                    assert_eq!(m.lock(None).unwrap(), Acquired::Clean);
                    assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0);
                    // Non-atomic read-modify-write: only correct under mutual exclusion.
                    let v = counter.load(Ordering::Relaxed);
                    if i % 1000 == 0 {
                        std::thread::sleep(Duration::from_micros(200)); // make others sleep
                    }
                    counter.store(v + 1, Ordering::Relaxed);
                    inside.fetch_sub(1, Ordering::Relaxed);
                    m.unlock().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::Relaxed), 4 * PER_THREAD);
    assert!(!r.mutex("m").unwrap().is_locked().unwrap());
}

#[test]
fn mutex_of_a_closed_attachment_is_taken_over_with_owner_dead() {
    let (r, n) = region("mutex-dead");
    let m = r.mutex("m").unwrap();
    let before = plexus::recovered_locks();
    {
        let r2 = reopen(&n);
        let m2 = r2.mutex("m").unwrap();
        m2.lock(ZERO).unwrap();
        assert_eq!(m.lock(ZERO), Err(Error::Timeout));
    } // the holder's attachment goes away while it holds the mutex
    assert_eq!(m.lock(LONG).unwrap(), Acquired::Recovered);
    assert!(plexus::recovered_locks() > before);
    m.unlock().unwrap();
    assert_eq!(m.lock(ZERO).unwrap(), Acquired::Clean);
    m.unlock().unwrap();

    // A locker blocked on it is woken by the takeover check while it sleeps.
    let r3 = reopen(&n);
    let m3 = r3.mutex("m").unwrap();
    m3.lock(ZERO).unwrap();
    let waiter = {
        let m = m.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            (m.lock(LONG), t.elapsed(), m.unlock())
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    drop(m3);
    drop(r3);
    let (got, took, unlocked) = waiter.join().unwrap();
    assert_eq!(got.unwrap(), Acquired::Recovered);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    unlocked.unwrap();
}

// ---- barrier ----

#[test]
fn barrier_of_one_party_never_waits() {
    let (r, _n) = region("barrier1");
    let b = r.barrier("b", 1).unwrap();
    for _ in 0..10 {
        assert!(b.wait(ZERO).unwrap());
        assert!(b.wait(None).unwrap());
    }
    assert_eq!(b.arrived().unwrap(), 0);
}

#[test]
fn barrier_threads_meet_round_after_round() {
    let (r, n) = region("barrier-threads");
    const PARTIES: usize = 4;
    const ROUNDS: u64 = 2000;
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..PARTIES).map(|_| AtomicU64::new(0)).collect());
    let lasts = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..PARTIES)
        .map(|p| {
            let region = if p % 2 == 0 { r.clone() } else { reopen(&n) };
            let (progress, lasts) = (progress.clone(), lasts.clone());
            std::thread::spawn(move || {
                let b = region.barrier("b", PARTIES as u32).unwrap();
                for round in 1..=ROUNDS {
                    progress[p].store(round, Ordering::Relaxed);
                    if b.wait(LONG).unwrap() {
                        lasts.fetch_add(1, Ordering::Relaxed);
                    }
                    for (q, other) in progress.iter().enumerate() {
                        let seen = other.load(Ordering::Relaxed);
                        assert!(
                            seen == round || seen == round + 1,
                            "party {p} passed round {round} while party {q} was at {seen}"
                        );
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        lasts.load(Ordering::Relaxed),
        ROUNDS,
        "one last party per round"
    );
    assert_eq!(r.barrier("b", 0).unwrap().arrived().unwrap(), 0);
}

#[test]
fn barrier_timeout_withdraws_the_arrival_and_leaves_it_usable() {
    let (r, _n) = region("barrier-timeout");
    let b = r.barrier("b", 2).unwrap();
    // Alone: times out, and the arrival is taken back.
    let t = Instant::now();
    assert_eq!(b.wait(SHORT), Err(Error::Timeout));
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!(b.arrived().unwrap(), 0);
    assert_eq!(b.wait(ZERO), Err(Error::Timeout));
    assert_eq!(b.arrived().unwrap(), 0);
    // So the next round still needs two parties: a waiter and a try-once arrival meet.
    let waiter = {
        let b = b.clone();
        std::thread::spawn(move || b.wait(LONG))
    };
    while b.arrived().unwrap() == 0 {
        std::thread::yield_now();
    }
    assert!(
        b.wait(ZERO).unwrap(),
        "the second arrival completes the round"
    );
    assert!(!waiter.join().unwrap().unwrap());
    assert_eq!(b.arrived().unwrap(), 0);

    // Three parties, one times out: the other two still need a third.
    let b3 = r.barrier("b3", 3).unwrap();
    let first = {
        let b = b3.clone();
        std::thread::spawn(move || b.wait(LONG))
    };
    while b3.arrived().unwrap() == 0 {
        std::thread::yield_now();
    }
    assert_eq!(b3.wait(SHORT), Err(Error::Timeout));
    assert_eq!(b3.arrived().unwrap(), 1);
    let second = {
        let b = b3.clone();
        std::thread::spawn(move || b.wait(LONG))
    };
    while b3.arrived().unwrap() < 2 {
        std::thread::yield_now();
    }
    assert!(!first.is_finished() && !second.is_finished());
    b3.wait(LONG).unwrap();
    first.join().unwrap().unwrap();
    second.join().unwrap().unwrap();
}

#[test]
fn barrier_timeouts_racing_with_completion_never_lose_or_double_an_arrival() {
    // Parties with tiny timeouts: each wait either completes its round for everyone or
    // is withdrawn; the count of arrivals never drifts, so the barrier never completes a
    // round with fewer than all parties present in it.
    let (r, _n) = region("barrier-race");
    const PARTIES: u32 = 3;
    let b = r.barrier("b", PARTIES).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let passes = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..PARTIES)
        .map(|p| {
            let (b, stop, passes) = (b.clone(), stop.clone(), passes.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let t = Duration::from_micros((i * 7 + p as u64 * 13) % 200);
                    match b.wait(Some(t)) {
                        Ok(_) => {
                            passes.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::Timeout) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(b.arrived().unwrap(), 0, "an arrival leaked");
    assert_eq!(passes.load(Ordering::Relaxed) % PARTIES as u64, 0);
    // Still works normally.
    let helpers: Vec<_> = (1..PARTIES)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.wait(LONG))
        })
        .collect();
    b.wait(LONG).unwrap();
    for h in helpers {
        h.join().unwrap().unwrap();
    }
}

// ---- semaphore ----

#[test]
fn semaphore_counts_permits_and_refuses_foreign_releases() {
    let (r, n) = region("sem");
    let s = r.semaphore("s", 3).unwrap();
    let msg = invalid(s.release());
    assert!(msg.contains("holds none"), "{msg}");
    for left in (0..3).rev() {
        s.acquire(ZERO).unwrap();
        assert_eq!(s.available().unwrap(), left);
    }
    assert_eq!(s.held().unwrap(), 3);
    assert_eq!(s.acquire(ZERO), Err(Error::Timeout));
    let t = Instant::now();
    assert_eq!(s.acquire(SHORT), Err(Error::Timeout));
    assert!(t.elapsed() >= Duration::from_millis(30));
    // Another attachment holds none of them.
    let r2 = reopen(&n);
    let s2 = r2.semaphore("s", 0).unwrap();
    invalid(s2.release());
    assert_eq!(s2.held().unwrap(), 0);
    assert_eq!(s2.acquire(ZERO), Err(Error::Timeout));
    // Any thread of the holding attachment may release.
    std::thread::scope(|sc| {
        sc.spawn(|| s.release().unwrap());
    });
    assert_eq!(s.available().unwrap(), 1);
    s2.acquire(ZERO).unwrap();
    assert_eq!((s.held().unwrap(), s2.held().unwrap()), (2, 1));
    s.release().unwrap();
    s.release().unwrap();
    invalid(s.release());
    s2.release().unwrap();
    assert_eq!(s.available().unwrap(), 3);
}

#[test]
fn semaphore_never_lets_more_than_permits_in_and_wakes_waiters() {
    let (r, n) = region("sem-threads");
    const PERMITS: u32 = 2;
    r.semaphore("s", PERMITS).unwrap();
    let inside = Arc::new(AtomicU32::new(0));
    let max_inside = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let region = if t % 2 == 0 { r.clone() } else { reopen(&n) };
            let (inside, max_inside) = (inside.clone(), max_inside.clone());
            std::thread::spawn(move || {
                let s = region.semaphore("s", 0).unwrap();
                for i in 0..2000 {
                    s.acquire(LONG).unwrap();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(now, Ordering::SeqCst);
                    if i % 200 == 0 {
                        std::thread::sleep(Duration::from_micros(300));
                    }
                    inside.fetch_sub(1, Ordering::SeqCst);
                    s.release().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(max_inside.load(Ordering::SeqCst) <= PERMITS);
    assert_eq!(r.semaphore("s", 0).unwrap().available().unwrap(), PERMITS);
}

#[test]
fn semaphore_permits_of_a_closed_attachment_come_back() {
    let (r, n) = region("sem-dead");
    let s = r.semaphore("writers", 1).unwrap();
    {
        let r2 = reopen(&n);
        let s2 = r2.semaphore("writers", 0).unwrap();
        s2.acquire(ZERO).unwrap();
        assert_eq!(s.acquire(ZERO), Err(Error::Timeout));
    } // the holder goes away without releasing
    s.acquire(ZERO).unwrap();
    assert_eq!(s.held().unwrap(), 1);
    s.release().unwrap();

    // A blocked acquirer gets the permit of a holder that goes away while it waits.
    let r3 = reopen(&n);
    let s3 = r3.semaphore("writers", 0).unwrap();
    s3.acquire(ZERO).unwrap();
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            (s.acquire(LONG), t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    drop(s3);
    drop(r3);
    let (got, took) = waiter.join().unwrap();
    got.unwrap();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!((s.held().unwrap(), s.available().unwrap()), (1, 0));
    s.release().unwrap();
    assert_eq!(s.available().unwrap(), 1);
}

#[test]
fn semaphore_permits_of_many_dead_holders_come_back_at_a_shortage() {
    // Many attachments each hold some permits, then all go away without releasing.
    let (r, n) = region("sem-many");
    let s = r.semaphore("s", 1000).unwrap();
    let regions: Vec<Region> = (0..20).map(|_| reopen(&n)).collect();
    let sems: Vec<_> = regions
        .iter()
        .map(|r| r.semaphore("s", 0).unwrap())
        .collect();
    for (i, x) in sems.iter().enumerate() {
        for _ in 0..=i {
            x.acquire(ZERO).unwrap();
        }
    }
    assert_eq!(s.available().unwrap(), 1000 - 210);
    drop(sems);
    drop(regions);
    // Nobody released; the dead holders' permits return at the next recount, which a
    // shortage triggers.
    for _ in 0..1000 {
        s.acquire(ZERO).unwrap();
    }
    assert_eq!((s.held().unwrap(), s.available().unwrap()), (1000, 0));
    assert_eq!(s.acquire(ZERO), Err(Error::Timeout));
}

#[test]
fn semaphore_with_a_full_holder_table_drops_dead_holders_records() {
    // 1000 permits, 512 holder records: fill every record with a live holder (the
    // region's whole process table), let one holder go away, and a new attachment still
    // finds a record (the dead holder's) although 488 permits were available all along.
    let (r, n) = region("sem-table");
    let s = r.semaphore("s", 1000).unwrap();
    s.acquire(ZERO).unwrap();
    let mut regions: Vec<Region> = Vec::new();
    loop {
        match Region::open(
            &n,
            &OpenOptions {
                mode: OpenMode::Open,
                ..Default::default()
            },
        ) {
            Ok(x) => regions.push(x),
            Err(Error::NoSpace(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        regions.len(),
        511,
        "the process table holds 512 attachments"
    );
    let sems: Vec<_> = regions
        .iter()
        .map(|x| x.semaphore("s", 0).unwrap())
        .collect();
    for x in &sems {
        x.acquire(ZERO).unwrap();
    }
    assert_eq!(s.available().unwrap(), 1000 - 512);
    drop(sems);
    regions.truncate(510); // one holder goes away holding its permit
    let newcomer = reopen(&n);
    let s_new = newcomer.semaphore("s", 0).unwrap();
    s_new.acquire(ZERO).unwrap();
    assert_eq!(s_new.held().unwrap(), 1);
    // The dead holder's permit came back with the recount.
    assert_eq!(s.available().unwrap(), 1000 - 512);
}

// ---- blocked callers sleep ----

/// CPU time used by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`, which lives on this frame.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `wait` (which must block for about `BLOCKED`) in a thread and returns the CPU
/// time that thread used.
fn cpu_while_blocked(wait: impl FnOnce() + Send) -> Duration {
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = thread_cpu_time();
            wait();
            thread_cpu_time() - start
        })
        .join()
        .unwrap()
    })
}

const BLOCKED: Duration = Duration::from_millis(500);

#[test]
fn blocked_lockers_waiters_and_acquirers_sleep() {
    let (r, n) = region("sleep");
    let r2 = reopen(&n);
    let m = r.mutex("m").unwrap();
    let m2 = r2.mutex("m").unwrap();
    m2.lock(ZERO).unwrap();
    let b = r.barrier("b", 2).unwrap();
    let s = r.semaphore("s", 1).unwrap();
    let s2 = r2.semaphore("s", 0).unwrap();
    s2.acquire(ZERO).unwrap();
    let budget = Duration::from_millis(50);
    let cpu = cpu_while_blocked(|| assert_eq!(m.lock(Some(BLOCKED)), Err(Error::Timeout)));
    assert!(cpu < budget, "a blocked mutex locker used {cpu:?} of CPU");
    let cpu = cpu_while_blocked(|| assert_eq!(b.wait(Some(BLOCKED)), Err(Error::Timeout)));
    assert!(cpu < budget, "a blocked barrier waiter used {cpu:?} of CPU");
    let cpu = cpu_while_blocked(|| assert_eq!(s.acquire(Some(BLOCKED)), Err(Error::Timeout)));
    assert!(
        cpu < budget,
        "a blocked semaphore acquirer used {cpu:?} of CPU"
    );
}
